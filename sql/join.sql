--
-- Joins: the inner side of a nested loop can be a parameterized scan,
-- which sends the join clause with the outer row's value, one find per
-- outer row, instead of the whole collection travelling for a hash join.
-- (FerretDB's SQLite backend scans the collection for each find, even
-- with an index: this checks plans and results, bench/ the speed.)
--
\getenv mongo_uri MONGO_URI
CREATE SERVER join_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER join_src;
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
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT k.n, b._id FROM keys k JOIN big b ON b.n = k.n;

-- IN (subquery) is a join too
EXPLAIN (COSTS OFF) SELECT _id FROM big WHERE n IN (SELECT n FROM keys);
SELECT _id FROM big WHERE n IN (SELECT n FROM keys) ORDER BY 1;

-- many outer rows: one scan of the collection and a hash join
CREATE TABLE many AS SELECT g AS n FROM generate_series(1, 5000) g;
ANALYZE many;
EXPLAIN (COSTS OFF) SELECT count(*) FROM many m JOIN big b ON b.n = m.n;

-- a clause a filter cannot send (an expression of the column) is not
-- parameterized
EXPLAIN (COSTS OFF) SELECT k.n, b._id FROM keys k JOIN big b ON b.n + 0 = k.n;

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA j CASCADE;
DROP SERVER join_src CASCADE;
