--
-- Joins: the inner side of a nested loop can be a parameterized scan,
-- which sends the join clause with the outer row's value, one find per
-- outer row, instead of the whole collection travelling for a hash join.
-- (FerretDB's SQLite backend scans the collection for each find, even
-- with an index: this checks plans and results, bench/ the speed.)
-- expected/join_1.out is this output as PostgreSQL 17 and 18 print it:
-- they show a parameterized scan's join clause the way round the query
-- wrote it (b.n = k.n), where 15 prints it commuted (k.n = b.n).
--
\i sql/include/mongo_uri.sql
CREATE SERVER join_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER join_src :mongo_login;
CREATE SCHEMA j;
SET search_path = j;
-- big has an index on n (test/fixtures.py)
CREATE FOREIGN TABLE big (_id int, n int, name text)
  SERVER join_src OPTIONS (database 'mongo_etl_regress');
CREATE TABLE keys (n int);
INSERT INTO keys VALUES (5), (1234), (19999), (20001);
ANALYZE keys;
SET max_parallel_workers_per_gather = 0;  -- serial plans, to compare shapes

-- a few outer rows: a nested loop, one lookup per key, the key sent as
-- {"$param": 1}
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT k.n, b._id, b.name FROM keys k JOIN big b ON b.n = k.n;
SELECT k.n, b._id, b.name FROM keys k JOIN big b ON b.n = k.n ORDER BY 1;
-- the same rows with pushdown off, from one scan of the collection
SET mongo_etl.pushdown = off;
EXPLAIN (COSTS OFF)
  SELECT k.n, b._id, b.name FROM keys k JOIN big b ON b.n = k.n;
SELECT k.n, b._id, b.name FROM keys k JOIN big b ON b.n = k.n ORDER BY 1;
RESET mongo_etl.pushdown;

-- EXPLAIN ANALYZE: a loop per key, a round trip each, and only the
-- documents found travel
SELECT public.explain_analyze(
  $$SELECT k.n, b._id FROM keys k JOIN big b ON b.n = k.n$$, verbose => true);

-- IN (subquery) is a join too
EXPLAIN (COSTS OFF) SELECT _id FROM big WHERE n IN (SELECT n FROM keys);
SELECT _id FROM big WHERE n IN (SELECT n FROM keys) ORDER BY 1;

-- many outer rows: one scan of the collection and a hash join
CREATE TABLE many AS SELECT g AS n FROM generate_series(1, 5000) g;
ANALYZE many;
EXPLAIN (COSTS OFF) SELECT count(*) FROM many m JOIN big b ON b.n = m.n;

-- EXISTS is a join too
EXPLAIN (COSTS OFF)
  SELECT n FROM keys k WHERE EXISTS (SELECT FROM big b WHERE b.n = k.n);

-- a clause a filter cannot send (an expression of the column) is not
-- parameterized
EXPLAIN (COSTS OFF) SELECT k.n, b._id FROM keys k JOIN big b ON b.n + 0 = k.n;

-- ANALYZE: a sample of the rows, converted as a scan converts them, gives
-- the planner the columns' distributions (the estimates below are the
-- planner's rows for the foreign scan)
CREATE FUNCTION scan_rows(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE plan jsonb;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
  RETURN jsonb_path_query_first(plan,
    'strict $.** ? (@."Node Type" == "Foreign Scan")."Plan Rows"');
END $$;
SELECT scan_rows('SELECT * FROM big WHERE n < 100') AS before_analyze;
SELECT reltuples FROM pg_class WHERE oid = 'big'::regclass;
ANALYZE big;
SELECT reltuples FROM pg_class WHERE oid = 'big'::regclass;
SELECT attname, null_frac, n_distinct FROM pg_stats
 WHERE schemaname = 'j' AND tablename = 'big' ORDER BY 1;
-- a selective filter: 100 rows hold
SELECT scan_rows('SELECT * FROM big WHERE n < 100') BETWEEN 50 AND 200
       AS within_a_factor_of_two;
-- each lookup of the join now expects one document, not 100
SELECT scan_rows('SELECT k.n, b._id FROM keys k JOIN big b ON b.n = k.n')
       AS per_lookup;
-- not asking the server, the planner counts ANALYZE's rows, not 1,000
ALTER FOREIGN TABLE big OPTIONS (ADD use_remote_estimate 'false');
SELECT scan_rows('SELECT * FROM big') AS all_rows;
ALTER FOREIGN TABLE big OPTIONS (DROP use_remote_estimate);

-- a mongodump file is sampled whole, and values that do not fit are
-- converted by the column's policy, as in a scan
\getenv test_dir MONGO_ETL_TEST_DIR
SELECT :'test_dir' || '/dump' AS dump_dir \gset
CREATE SERVER join_dump FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir :'dump_dir');
CREATE USER MAPPING FOR CURRENT_USER SERVER join_dump;
CREATE FOREIGN TABLE big_file (_id int, n int,
                               score int OPTIONS (on_type_mismatch 'null'))
  SERVER join_dump OPTIONS (file 'regress/big.bson');
\set VERBOSITY terse
ANALYZE big_file;
\set VERBOSITY default
SELECT reltuples, relpages FROM pg_class WHERE oid = 'big_file'::regclass;
SELECT attname, null_frac > 0.4 AND null_frac < 0.6 AS half_null
  FROM pg_stats WHERE schemaname = 'j' AND tablename = 'big_file'
 ORDER BY 1;
CREATE FOREIGN TABLE big_file_bad (_id int, name int)
  SERVER join_dump OPTIONS (file 'regress/big.bson');
\set VERBOSITY terse
ANALYZE big_file_bad;
\set VERBOSITY default

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA j CASCADE;
DROP SERVER join_src, join_dump CASCADE;
