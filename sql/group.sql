--
-- GROUP BY answered by MongoDB, as a $group stage, only where MongoDB
-- groups and aggregates as PostgreSQL does.  Every query is compared with
-- the same query under mongo_etl.pushdown = off.
--
-- On DocumentDB, expected/group_1.out: it evaluates what exact aggregates
-- need, so count(col), sum, avg, min and max, several keys and HAVING are
-- sent there; FerretDB 1.x groups with $sum only, and gets count(*) by one
-- key or none, the rest computed here.  Its $group also meets another value
-- of the wrong type first.
\i sql/include/mongo_uri.sql
CREATE SERVER group_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER group_src :mongo_login;
CREATE SCHEMA g;
SET search_path = g, public;
-- grouping: nulls and missing fields, ints and longs of one value
CREATE FOREIGN TABLE grouping (
  _id int,
  status text OPTIONS (bson_type 'string'),
  n int OPTIONS (bson_type 'int, long'),
  flag bool OPTIONS (bson_type 'bool'),
  flag_any bool OPTIONS (field 'flag'),
  v int OPTIONS (bson_type 'int'),
  w bigint OPTIONS (bson_type 'int, long'),
  w_any bigint OPTIONS (field 'w'))
  SERVER group_src OPTIONS (database 'mongo_etl_regress', collection 'grouping');
-- mixed: a field holding several types
CREATE FOREIGN TABLE mixed (
  _id text,
  name text OPTIONS (bson_type 'string'),
  qty int OPTIONS (bson_type 'int, long'),
  qty32 int OPTIONS (field 'qty', bson_type 'int'),
  active bool OPTIONS (bson_type 'bool'))
  SERVER group_src OPTIONS (database 'mongo_etl_regress', collection 'mixed');
CREATE FOREIGN TABLE big (_id int, n int OPTIONS (bson_type 'int'),
                          even bool OPTIONS (bson_type 'bool'))
  SERVER group_src OPTIONS (database 'mongo_etl_regress');

-- the fixture is tiny: the costs of grouping here or there are within the
-- planner's fuzz, so grouping here is made dear to show what is sent
SET enable_hashagg = off;
SET enable_sort = off;


-- text: case and trailing spaces apart, null and missing in one group
EXPLAIN (VERBOSE, COSTS OFF) SELECT status, count(*) FROM grouping GROUP BY status;
SELECT *, pushed = local AS same FROM both_ways('SELECT status, count(*) FROM grouping GROUP BY status');
-- integers: 5 and 5 as a long in one group
SELECT *, pushed = local AS same FROM both_ways('SELECT n, count(*) FROM grouping GROUP BY n');
-- a boolean; the key outside the select list, count(*) twice
SELECT *, pushed = local AS same FROM both_ways('SELECT flag, count(*) FROM grouping GROUP BY flag');
SELECT *, pushed = local AS same FROM both_ways('SELECT count(*), count(*) + 1 FROM grouping GROUP BY flag');
-- pushed WHERE clauses
EXPLAIN (VERBOSE, COSTS OFF) SELECT status, count(*) FROM grouping WHERE n >= 5 GROUP BY status;
SELECT *, pushed = local AS same FROM both_ways('SELECT status, count(*) FROM grouping WHERE n >= 5 GROUP BY status');
SELECT *, pushed = local AS same FROM both_ways('SELECT n, count(*) FROM grouping WHERE flag GROUP BY n');
-- 20,000 documents in two groups: two documents travel
SELECT public.explain_analyze(
  $$SELECT even, count(*) FROM big GROUP BY even$$);
SELECT *, pushed = local AS same FROM both_ways('SELECT even, count(*) FROM big GROUP BY even');

-- EXPLAIN VERBOSE without PostgreSQL 18's "Disabled: true" of the sort
-- this test disables (FerretDB computes these here)
CREATE FUNCTION plan_of(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query LOOP
    CONTINUE WHEN line ~ '^\s*Disabled: true$';
    RETURN NEXT line;
  END LOOP;
END $$;
-- aggregates of columns: NULL for a group without a value (null or
-- missing) but 0 for its count, int64 sums beyond int64 exact (numeric),
-- avg as numeric_div divides, min and max ignoring nulls
SELECT plan_of($$SELECT status, count(v), sum(v), avg(v), min(v), max(v) FROM grouping GROUP BY status$$);
SELECT *, pushed = local AS same FROM both_ways('SELECT status, count(v), sum(v), avg(v), min(v), max(v) FROM grouping GROUP BY status');
SELECT *, pushed = local AS same FROM both_ways('SELECT status, count(w), sum(w), avg(w), min(w), max(w) FROM grouping GROUP BY status');
-- no GROUP BY: one group, and one row also when no document matches
SELECT plan_of($$SELECT count(*), sum(w), max(v) FROM grouping$$);
SELECT *, pushed = local AS same FROM both_ways('SELECT count(*), count(w), sum(w), avg(w), min(v), max(v) FROM grouping');
SELECT *, pushed = local AS same FROM both_ways('SELECT count(*), count(w), sum(w), avg(w), min(v), max(v) FROM grouping WHERE n > 100');
-- several keys: null and missing in one group of each
SELECT plan_of($$SELECT status, flag, sum(v) FROM grouping GROUP BY status, flag$$);
SELECT *, pushed = local AS same FROM both_ways('SELECT status, flag, n, count(*), sum(v) FROM grouping GROUP BY status, flag, n');
-- HAVING on the groups MongoDB returns
SELECT plan_of($$SELECT status, sum(w) FROM grouping GROUP BY status HAVING count(w) > 1$$);
SELECT *, pushed = local AS same FROM both_ways('SELECT status, sum(w) FROM grouping GROUP BY status HAVING count(w) > 1 OR max(v) > 5');
-- numeric columns declaring int and long are aggregated as bigint's are
CREATE FOREIGN TABLE grouping_numeric (
  status text OPTIONS (bson_type 'string'),
  w numeric OPTIONS (bson_type 'int, long'),
  w_scaled numeric(30, 2) OPTIONS (field 'w', bson_type 'int, long'),
  w_any numeric OPTIONS (field 'w'))
  SERVER group_src OPTIONS (database 'mongo_etl_regress', collection 'grouping');
SELECT plan_of($$SELECT status, sum(w), avg(w), min(w), max(w) FROM grouping_numeric GROUP BY status$$);
SELECT *, pushed = local AS same FROM both_ways('SELECT status, count(w), sum(w), avg(w), min(w), max(w) FROM grouping_numeric GROUP BY status');
SELECT *, pushed = local AS same FROM both_ways('SELECT count(w), sum(w), avg(w), min(w), max(w) FROM grouping_numeric');
-- not sent: a column without bson_type, DISTINCT, FILTER (the plans
-- that compute them here differ by PostgreSQL version: whether a $group
-- is sent is shown)
CREATE FUNCTION group_sent(query text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE plan text;
BEGIN
  EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) ' || query INTO plan;
  RETURN plan LIKE '%$group%';
END $$;
SELECT group_sent('SELECT sum(w_any) FROM grouping') AS column_without_bson_type,
       group_sent('SELECT count(DISTINCT v) FROM grouping') AS distinct_,
       group_sent('SELECT sum(v) FILTER (WHERE v > 0) FROM grouping') AS filter_,
       group_sent('SELECT sum(v) FROM grouping') AS sum_of_declared;
-- nor a numeric(p, s) column, which rounds its values to scale s (and
-- fails on values beyond its precision)
SELECT group_sent('SELECT sum(w_scaled) FROM grouping_numeric') AS numeric_with_typmod,
       group_sent('SELECT sum(w_any) FROM grouping_numeric') AS numeric_without_bson_type;

-- a value of another type than declared fails the query either way (the
-- first such value met differs)
\set VERBOSITY terse
SELECT qty, count(*) FROM mixed GROUP BY qty;
SET mongo_etl.pushdown = off;
SELECT qty, count(*) FROM mixed GROUP BY qty;
RESET mongo_etl.pushdown;
SELECT active, count(*) FROM mixed GROUP BY active;
SET mongo_etl.pushdown = off;
SELECT active, count(*) FROM mixed GROUP BY active;
RESET mongo_etl.pushdown;
-- (aggregated by MongoDB on DocumentDB, which counts the values of other
-- types alongside)
SELECT sum(qty32) FROM mixed;
SET mongo_etl.pushdown = off;
SELECT sum(qty32) FROM mixed;
RESET mongo_etl.pushdown;
-- ints, longs, doubles (NaN, the infinities) and Decimal128 values (NaN,
-- 5.00) in one group: the documents of the dump file numbers_special,
-- which test/run.sh copies into DocumentDB (FerretDB cannot store them,
-- and has no such collection: no row, no error there).  Declared int and
-- long, the others fail the query either way; declared all four, the
-- aggregates stay here, with the same results as pushdown off
CREATE FOREIGN TABLE numbers_mixed (
  _id int,
  v numeric OPTIONS (bson_type 'int, long'),
  v_all numeric OPTIONS (field 'v', bson_type 'int, long, double, decimal'))
  SERVER group_src OPTIONS (database 'mongo_etl_dumped', collection 'numbers_special');
SELECT sum(v), max(v) FROM numbers_mixed;
SET mongo_etl.pushdown = off;
SELECT sum(v), max(v) FROM numbers_mixed;
RESET mongo_etl.pushdown;
SELECT group_sent('SELECT sum(v_all) FROM numbers_mixed') AS sent;
SELECT *, pushed = local AS same FROM both_ways('SELECT count(v_all), sum(v_all), min(v_all), max(v_all) FROM numbers_mixed');
\set VERBOSITY default

-- not sent: a key without bson_type (MongoDB would group 1 and '1'
-- apart); on FerretDB several keys, another aggregate, HAVING; a WHERE
-- clause sent only in part, an expression as the key (the planner's own choice of a
-- local plan: with grouping made dear, PostgreSQL 18, which counts the
-- disabled nodes, would choose another than 15 does)
RESET enable_hashagg;
RESET enable_sort;
EXPLAIN (COSTS OFF) SELECT flag_any, count(*) FROM grouping GROUP BY flag_any;
EXPLAIN (COSTS OFF) SELECT flag, status, count(*) FROM grouping GROUP BY flag, status;
EXPLAIN (COSTS OFF) SELECT even, sum(n) FROM big GROUP BY even;
EXPLAIN (COSTS OFF) SELECT even, count(*) FROM big GROUP BY even HAVING count(*) > 1;
EXPLAIN (COSTS OFF) SELECT even, count(*) FROM big WHERE n % 2 = 0 GROUP BY even;
EXPLAIN (COSTS OFF) SELECT n % 2, count(*) FROM big GROUP BY n % 2;

-- the planner's own choice, with the default settings: 20,000 documents
-- in two groups are sent (even with a group per document, as by the
-- unique n, sending costs no more: a document per group travels either
-- way, and MongoDB does the hashing)
EXPLAIN (COSTS OFF) SELECT even, count(*) FROM big GROUP BY even;

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA g CASCADE;
DROP SERVER group_src CASCADE;
