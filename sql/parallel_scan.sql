--
-- Parallel foreign scans: under Gather, each participant reads the ranges
-- it claims from a queue (byte ranges of a dump file, _id ranges of a
-- collection); together they read every document once.  Parallel plans
-- are forced here, the test data being small.
--
\i sql/include/mongo_uri.sql
\getenv test_dir MONGO_ETL_TEST_DIR
CREATE SERVER ps_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER ps_src :mongo_login;
SELECT :'test_dir' || '/dump' AS dump_dir \gset
CREATE SERVER ps_dump FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir :'dump_dir');
CREATE USER MAPPING FOR CURRENT_USER SERVER ps_dump;
CREATE SCHEMA ps;
SET search_path = ps;
CREATE FOREIGN TABLE big (_id int, n int, name text)
  SERVER ps_src OPTIONS (database 'mongo_etl_regress');
CREATE FOREIGN TABLE big_file (_id int, n int, name text)
  SERVER ps_dump OPTIONS (file 'regress/big.bson');
CREATE FOREIGN TABLE big_file_gz (_id int, n int, name text)
  SERVER ps_dump OPTIONS (file 'regress/big.bson.gz');
CREATE FOREIGN TABLE big_file_large (_id int, n int, name text)
  SERVER ps_dump OPTIONS (file 'regress/big_large.bson');

-- plans, with the test's dump directory written <dump>
CREATE FUNCTION plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
    RETURN NEXT replace(line, current_setting('ps.dump_dir'), '<dump>');
  END LOOP;
END $$;
SELECT set_config('ps.dump_dir', :'dump_dir', false) IS NOT NULL AS set;

-- what the serial plans give
SET max_parallel_workers_per_gather = 0;
CREATE TABLE serial_file AS SELECT * FROM big_file;
CREATE TABLE serial_groups AS
  SELECT n % 7 AS g, count(*), sum(n) FROM big_file GROUP BY 1;
CREATE FUNCTION digest(regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
  EXECUTE format('SELECT count(*) || '' '' || count(DISTINCT _id) || '' '' || sum(n) || '' '' || '
                 'md5(string_agg(_id || '':'' || n || name, '','' ORDER BY _id)) FROM %s', $1)
    INTO result;
  RETURN result;
END $$;

SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;  -- the workers read it all

-- CREATE TABLE AS, from the file and from the server
SELECT plan($$CREATE TABLE par_file AS SELECT * FROM big_file$$);
CREATE TABLE par_file AS SELECT * FROM big_file;
SELECT digest('par_file') = digest('serial_file') AS same_as_serial;
SELECT plan($$CREATE TABLE par_net AS SELECT * FROM big$$);
CREATE TABLE par_net AS SELECT * FROM big;
SELECT digest('par_net') = digest('serial_file') AS same_as_serial;

-- an aggregate, with partial aggregates in the workers
SELECT plan($$SELECT n % 7 AS g, count(*), sum(n) FROM big_file GROUP BY 1$$);
SELECT count(*) AS differing FROM (
  (SELECT n % 7 AS g, count(*), sum(n) FROM big_file GROUP BY 1
   EXCEPT SELECT * FROM serial_groups)
  UNION ALL
  (SELECT n % 7 AS g, count(*), sum(n) FROM big GROUP BY 1
   EXCEPT SELECT * FROM serial_groups)) d;

-- pushed filters apply in each range
SELECT plan($$SELECT count(*), sum(n) FROM big WHERE n < 15000$$);
SELECT (SELECT row(count(*), sum(n)) FROM big WHERE n < 15000) =
       (SELECT row(count(*), sum(n)) FROM serial_file WHERE n < 15000)
       AS same_as_serial;

-- EXPLAIN ANALYZE counts the documents each participant read: the leader
-- (none here) and each worker, together every document; the other counts
-- are all participants'
CREATE FUNCTION scan_counts(query text)
  RETURNS TABLE (counter text, value bigint) LANGUAGE plpgsql AS $$
DECLARE result jsonb;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || query INTO result;
  RETURN QUERY
    SELECT e.key, e.value::bigint
      FROM jsonb_path_query(result, 'strict $.** ? (@."Node Type" == "Foreign Scan")') n,
           jsonb_each_text(n) e
     WHERE e.key LIKE 'Documents Read%' OR e.key LIKE 'BSON Bytes%'
        OR e.key IN ('Server Round Trips', 'Values Read as NULL', 'Rows Left Out');
END $$;
SELECT count(*) AS participants, sum(value),
       sum(value) FILTER (WHERE counter = 'Documents Read by Leader') AS leader
  FROM scan_counts('SELECT sum(n) FROM big_file')
 WHERE counter LIKE 'Documents Read by %';
SELECT * FROM scan_counts('SELECT sum(n) FROM big_file')
 WHERE counter NOT LIKE 'Documents Read by %' ORDER BY 1;

-- EXPLAIN VERBOSE: each range, ANDed with the pushed filter, is one
-- request; they are found when the scan starts.  A file is read in blocks
-- of whole documents, cut as the participants claim them
EXPLAIN (VERBOSE, COSTS OFF) SELECT sum(n) FROM big WHERE n < 15000;
CREATE FUNCTION scan_node(query text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE result jsonb;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) ' || query INTO result;
  RETURN jsonb_path_query(result, 'strict $.** ? (@."Node Type" == "Foreign Scan")');
END $$;
CREATE TEMP TABLE scanned AS
  SELECT scan_node('SELECT sum(n) FROM big WHERE n < 15000') AS net,
         scan_node('SELECT sum(n) FROM big_file') AS file;
SELECT jsonb_array_elements_text(net->'MongoDB Range Filters') FROM scanned;
SELECT file->'Dump File Blocks' AS blocks, file->'Dump File Blocks Read' AS read,
       file->'Documents Read' AS documents
  FROM scanned;
-- only the filter's documents travel, in more round trips than ranges
SELECT net->'Documents Read' AS documents,
       (net->>'Server Round Trips')::int >= 12 AS round_trips
  FROM scanned;

-- values that do not fit their columns, in whichever participant, are
-- counted in one warning and in EXPLAIN ANALYZE (the first one's _id
-- depends on which participant met it: terse)
CREATE FOREIGN TABLE big_file_null (_id int, n int,
                                    score int OPTIONS (on_type_mismatch 'null'))
  SERVER ps_dump OPTIONS (file 'regress/big.bson');
CREATE FOREIGN TABLE big_file_skip (_id int, n int, score int)
  SERVER ps_dump OPTIONS (file 'regress/big.bson', on_type_mismatch 'skip');
\set VERBOSITY terse
SELECT count(*), count(score) FROM big_file_null;
SELECT count(*), count(score) FROM big_file_skip;
SELECT * FROM scan_counts('SELECT count(score) FROM big_file_null')
 WHERE counter IN ('Documents Read', 'Values Read as NULL') ORDER BY 1;
SELECT * FROM scan_counts('SELECT count(score) FROM big_file_skip')
 WHERE counter IN ('Documents Read', 'Rows Left Out') ORDER BY 1;
\set VERBOSITY default

-- a materialized view, refreshed: the same rows again
CREATE MATERIALIZED VIEW par_view AS SELECT * FROM big_file;
REFRESH MATERIALIZED VIEW par_view;
SELECT digest('par_view') = digest('serial_file') AS same_as_serial;

-- the leader reading ranges too, and a rescan (the inner side of a
-- nested loop, read again for each outer row): every range each time
RESET parallel_leader_participation;
SELECT count(*), sum(n) FROM big_file;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
SELECT k, (SELECT count(*) FROM big_file WHERE n % 1000 = k) AS matching
  FROM generate_series(1, 3) k;
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_material;

-- a gzip file is read by one participant, and so is a table whose option
-- parallel_workers is 0; a sort MongoDB does is a serial scan's
SELECT plan($$SELECT sum(n) FROM big_file_gz$$);
ALTER FOREIGN TABLE big OPTIONS (ADD parallel_workers '0');
SELECT plan($$SELECT sum(n) FROM big$$);
ALTER FOREIGN TABLE big OPTIONS (SET parallel_workers '2');
SELECT plan($$SELECT sum(n) FROM big$$);
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM big ORDER BY _id LIMIT 5;
ALTER FOREIGN TABLE big OPTIONS (SET parallel_workers '-1');
ALTER FOREIGN TABLE big OPTIONS (DROP parallel_workers);

-- with the default settings, a file of 1.5 MB is too small for workers
-- (min_parallel_table_scan_size is 8 MB), and one of 9.3 MB gets one
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SELECT plan($$SELECT sum(n) FROM big_file$$);
SELECT plan($$SELECT sum(n) FROM big_file_large$$);
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;

-- an error in a worker reaches the query, with its context: the column,
-- the document (which one depends on the worker that met it first) and
-- the worker
CREATE FOREIGN TABLE big_file_bad (_id int, n int, name int)
  SERVER ps_dump OPTIONS (file 'regress/big.bson');
SET parallel_leader_participation = off;
DO $$
DECLARE
  message text;
  context text;
BEGIN
  PERFORM count(*), sum(name) FROM big_file_bad;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, context = PG_EXCEPTION_CONTEXT;
  RAISE NOTICE '%', message;
  RAISE NOTICE 'names the column and document: %, in a worker: %',
    context ~ '^column "name" of foreign table "big_file_bad", document _id \d+\ndocument at byte offset \d+ of file ',
    context LIKE '%parallel worker%';
END $$;

-- a file damaged far from its start fails in whichever participant reads
-- that part, as a serial scan does, never returning fewer rows
CREATE FOREIGN TABLE big_file_truncated (_id int, n int)
  SERVER ps_dump OPTIONS (file 'regress/big.truncated.bson');
CREATE FOREIGN TABLE big_file_badlength (_id int, n int)
  SERVER ps_dump OPTIONS (file 'regress/big.badlength.bson');
CREATE FUNCTION error_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  message text;
  context text;
BEGIN
  EXECUTE query;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, context = PG_EXCEPTION_CONTEXT;
  RETURN replace(message, current_setting('ps.dump_dir'), '<dump>') ||
         CASE WHEN context LIKE '%parallel worker%' THEN ' (in a worker)' ELSE '' END;
END $$;
SELECT plan($$SELECT count(*) FROM big_file_truncated$$);
SELECT error_of('SELECT count(*) FROM big_file_truncated');
SELECT error_of('SELECT count(*) FROM big_file_badlength');
RESET parallel_leader_participation;

-- a statement timeout stops the leader and every worker (a filter that
-- sleeps at every thousandth document makes the scan outlast the timeout
-- however fast the server is)
CREATE FUNCTION slowly(n int) RETURNS bool LANGUAGE plpgsql PARALLEL SAFE AS $$
BEGIN
  IF n % 1000 = 0 THEN
    PERFORM pg_sleep(0.5);
  END IF;
  RETURN true;
END $$;
SET statement_timeout = '1s';
\set VERBOSITY terse
SELECT sum(n) FROM big WHERE slowly(n);
\set VERBOSITY default
RESET statement_timeout;
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
                           WHERE backend_type = 'parallel worker');
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT count(*) AS workers_left FROM pg_stat_activity
 WHERE backend_type = 'parallel worker';
SELECT sum(n) FROM big;

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA ps CASCADE;
DROP SERVER ps_src CASCADE;
DROP SERVER ps_dump CASCADE;
