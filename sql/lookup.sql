--
-- Joins of two foreign tables answered by MongoDB, as one aggregation with
-- $lookup, only where MongoDB joins as PostgreSQL does.  Every query is
-- compared with the same query under mongo_etl.pushdown = off.
--
-- On DocumentDB, expected/lookup_1.out: it evaluates $lookup, and the
-- joins below are sent there; FerretDB 1.x has no $lookup, and joins here
-- (expected/lookup.out), with the same results.
\i sql/include/mongo_uri.sql
CREATE SERVER lookup_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER lookup_src :mongo_login;
CREATE SCHEMA l;
SET search_path = l, public;
CREATE FOREIGN TABLE customers (
  _id bigint OPTIONS (bson_type 'int, long'),
  name text OPTIONS (bson_type 'string'),
  tier int OPTIONS (bson_type 'int'))
  SERVER lookup_src OPTIONS (database 'mongo_etl_regress', collection 'join_customers');
CREATE FOREIGN TABLE orders (
  _id int OPTIONS (bson_type 'int'),
  customer int OPTIONS (bson_type 'int, long'),
  amount int OPTIONS (bson_type 'int'),
  code text OPTIONS (bson_type 'string'))
  SERVER lookup_src OPTIONS (database 'mongo_etl_regress', collection 'join_orders');
-- the same fields without bson_type: MongoDB's $eq would not compare them
-- as PostgreSQL does, and such a join stays here
CREATE FOREIGN TABLE orders_any (_id int, customer int, amount int, code text)
  SERVER lookup_src OPTIONS (database 'mongo_etl_regress', collection 'join_orders');
CREATE FOREIGN TABLE big (_id int, n int OPTIONS (bson_type 'int'))
  SERVER lookup_src OPTIONS (database 'mongo_etl_regress');


-- whether the join is sent: the plan's top node
CREATE FUNCTION join_sent(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query LOOP
    IF line ~ 'MongoDB Join' THEN
      RETURN trim(line);
    END IF;
  END LOOP;
  RETURN 'not sent';
END $$;

-- an inner join on integers: an int and a long of one value join
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT o._id, c.name FROM orders o JOIN customers c ON o.customer = c._id;
SELECT *, pushed = local AS same FROM both_ways(
  'SELECT o._id, c.name FROM orders o JOIN customers c ON o.customer = c._id');
-- a left join: orders whose customer is null, missing or unknown kept alone
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT o._id, c._id FROM orders o LEFT JOIN customers c ON o.customer = c._id;
SELECT *, pushed = local AS same FROM both_ways(
  'SELECT o._id, c._id FROM orders o LEFT JOIN customers c ON o.customer = c._id');
-- customers without an order, kept alone (b RIGHT JOIN a is a LEFT JOIN b)
SELECT join_sent('SELECT c._id, o._id FROM orders o RIGHT JOIN customers c ON o.customer = c._id');
SELECT *, pushed = local AS same FROM both_ways(
  'SELECT c._id, o._id FROM orders o RIGHT JOIN customers c ON o.customer = c._id');
-- text keys: bytes compared; null and missing names join with nothing
SELECT join_sent('SELECT o._id, c._id FROM orders o LEFT JOIN customers c ON o.code = c.name');
SELECT *, pushed = local AS same FROM both_ways(
  'SELECT o._id, c._id FROM orders o LEFT JOIN customers c ON o.code = c.name');
SELECT *, pushed = local AS same FROM both_ways(
  'SELECT c._id, o._id FROM customers c LEFT JOIN orders o ON o.code = c.name');
-- WHERE clauses of both tables, sent to each side's $match, and a join
-- clause that is not the key, evaluated here on the joined rows
SELECT join_sent('SELECT o._id, c._id FROM orders o JOIN customers c ON o.customer = c._id
   WHERE o.amount >= 5 AND c.tier < 3 AND o.amount > c.tier * 4');
SELECT *, pushed = local AS same FROM both_ways(
  'SELECT o._id, c._id FROM orders o JOIN customers c ON o.customer = c._id
    WHERE o.amount >= 5 AND c.tier < 3 AND o.amount > c.tier * 4');
-- a left join's ON clause on the inner table goes into $lookup's pipeline
SELECT join_sent('SELECT o._id, c._id FROM orders o LEFT JOIN customers c ON o.customer = c._id AND c.tier >= 2');
SELECT *, pushed = local AS same FROM both_ways(
  'SELECT o._id, c._id FROM orders o LEFT JOIN customers c ON o.customer = c._id AND c.tier >= 2');
-- ... but another clause in its ON would decide which rows join: not sent
SELECT join_sent('SELECT o._id, c._id FROM orders o LEFT JOIN customers c ON o.customer = c._id AND o.amount > c.tier');
SELECT *, pushed = local AS same FROM both_ways(
  'SELECT o._id, c._id FROM orders o LEFT JOIN customers c ON o.customer = c._id AND o.amount > c.tier');
-- a WHERE clause over the joined row is evaluated after a left join
SELECT *, pushed = local AS same FROM both_ways(
  'SELECT o._id, c._id FROM orders o LEFT JOIN customers c ON o.customer = c._id WHERE c._id IS NULL');
-- run-time values in the outer table's $match
PREPARE big_orders(int) AS
  SELECT o._id, c.name FROM orders o JOIN customers c ON o.customer = c._id
   WHERE o.amount > $1;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE big_orders(6);
EXECUTE big_orders(6);
RESET plan_cache_mode;
-- keys MongoDB would compare otherwise are not sent: a column without
-- bson_type, and a key computed from a column
SELECT join_sent('SELECT o._id, c._id FROM orders_any o JOIN customers c ON o.customer = c._id');
SELECT join_sent('SELECT o._id, c._id FROM orders o JOIN customers c ON o.customer + 0 = c._id');
-- a value of a type the key does not declare fails the query either way:
-- a left join's outer key, and an inner join's (MongoDB joins the document
-- an empty one, so that the key is converted here)
CREATE FOREIGN TABLE orders_code (_id int, code int OPTIONS (bson_type 'int'))
  SERVER lookup_src OPTIONS (database 'mongo_etl_regress', collection 'join_orders');
CREATE FOREIGN TABLE customers_name (_id bigint, name int OPTIONS (bson_type 'int'))
  SERVER lookup_src OPTIONS (database 'mongo_etl_regress', collection 'join_customers');
SELECT join_sent('SELECT o._id, c._id FROM orders_code o LEFT JOIN customers c ON o.code = c.tier');
SELECT o._id, c._id FROM orders_code o LEFT JOIN customers c ON o.code = c.tier;
SELECT join_sent('SELECT o._id, c._id FROM orders o JOIN customers_name c ON o.amount = c.name');
SELECT o._id, c._id FROM orders o JOIN customers_name c ON o.amount = c.name;
SET mongo_etl.pushdown = off;
SELECT o._id, c._id FROM orders_code o LEFT JOIN customers c ON o.code = c.tier;
SELECT o._id, c._id FROM orders o JOIN customers_name c ON o.amount = c.name;
RESET mongo_etl.pushdown;
-- 20,000 documents joined with themselves: MongoDB would compare every
-- pair; a hash join here costs less
SELECT join_sent('SELECT count(*) FROM big a JOIN big b ON a.n = b.n');
