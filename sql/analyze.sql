--
-- ANALYZE of a collection: read whole up to 10 times the rows ANALYZE
-- wants, and beyond that drawn by the server's $sample where it has one.
-- FerretDB has no $sample and reads the collection whole; DocumentDB draws
-- the sample (expected/analyze_1.out).  The NOTICE says which way; the
-- table's row count is the collection's either way.
--
\i sql/include/mongo_uri.sql
CREATE SERVER analyze_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER analyze_src :mongo_login;
CREATE SCHEMA a;
SET search_path = a;
CREATE FOREIGN TABLE big (_id int, n int, name text)
  SERVER analyze_src OPTIONS (database 'mongo_etl_regress');

-- 20,000 documents, no more than 10 times the 30,000 rows of the default
-- statistics target: read whole on any server
ANALYZE big;
SELECT reltuples FROM pg_class WHERE oid = 'big'::regclass;

-- 300 rows at statistics target 1: 20,000 documents are more than ten
-- times that
SET default_statistics_target = 1;
ANALYZE big;
SELECT reltuples FROM pg_class WHERE oid = 'big'::regclass;
-- every n and _id is distinct, in any sample
SELECT attname, n_distinct FROM pg_stats
 WHERE schemaname = 'a' AND tablename = 'big' ORDER BY 1;
RESET default_statistics_target;

-- a table with the option filter reads what the filter keeps, which the
-- collection's count does not count: read whole
ALTER FOREIGN TABLE big OPTIONS (ADD filter '{"n": {"$lt": 5000}}');
SET default_statistics_target = 1;
ANALYZE big;
RESET default_statistics_target;
SELECT reltuples FROM pg_class WHERE oid = 'big'::regclass;

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA a CASCADE;
DROP SERVER analyze_src CASCADE;
