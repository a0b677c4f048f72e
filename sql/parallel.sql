--
-- mongo_etl.load(..., workers => N): the source split into ranges that
-- background workers load at the same time.  NOTICEs whose numbers depend
-- on timing (how many ranges a failed load left) are kept out of the
-- output; what is checked is the target's rows and the recorded ranges.
--
\i sql/include/mongo_uri.sql
\getenv test_dir MONGO_ETL_TEST_DIR
\set VERBOSITY terse
CREATE SERVER par_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER par_src :mongo_login;
SELECT :'test_dir' || '/dump' AS dump_dir \gset
CREATE SERVER par_dump FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir :'dump_dir');
CREATE USER MAPPING FOR CURRENT_USER SERVER par_dump;
CREATE SCHEMA par;
SET search_path = par;
-- 20,000 documents with _id 0 to 19,999, on the server and (shuffled) in a file
CREATE FOREIGN TABLE big (_id int, n int, name text)
  SERVER par_src OPTIONS (database 'mongo_etl_regress');
CREATE FOREIGN TABLE big_file (_id int, n int, name text)
  SERVER par_dump OPTIONS (file 'regress/big.bson');
CREATE FOREIGN TABLE big_file_gz (_id int, n int, name text)
  SERVER par_dump OPTIONS (file 'regress/big.bson.gz');
CREATE FOREIGN TABLE big_no_id (n int, name text)
  SERVER par_src OPTIONS (database 'mongo_etl_regress', collection 'big');
CREATE FOREIGN TABLE big_grouped (_id int, n int)
  SERVER par_src OPTIONS (database 'mongo_etl_regress', collection 'big',
                          pipeline '[{"$match": {"n": {"$lt": 10}}}]');
-- what a serial load gives, to compare with
CREATE TABLE serial (_id int PRIMARY KEY, n int, name text);
CALL mongo_etl.load('big', 'serial');
CREATE FUNCTION digest(regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
  EXECUTE format('SELECT count(*) || '' '' || count(DISTINCT _id) || '' '' || sum(n) || '' '' || '
                 'md5(string_agg(_id || '':'' || n || name, '','' ORDER BY _id)) FROM %s', $1)
    INTO result;
  RETURN result;
END $$;

-- from the server: _id ranges, each a filter MongoDB answers from its _id
-- index; the last worker's commit leaves no range recorded
CREATE TABLE par_net (_id int PRIMARY KEY, n int, name text,
                      loaded_by text DEFAULT current_user);
CALL mongo_etl.load('big', 'par_net', workers => 2);
SELECT digest('par_net') = digest('serial') AS same_as_serial;
SELECT count(*) AS ranges_left FROM mongo_etl.load_ranges;
-- from the file: byte ranges at document boundaries
CREATE TABLE par_file (LIKE par_net INCLUDING ALL);
CALL mongo_etl.load('big_file', 'par_file', workers => 2);
SELECT digest('par_file') = digest('serial') AS same_as_serial;
-- batch_rows bounds each range's transaction
CALL mongo_etl.load('big_file', 'par_file', truncate => true, workers => 2,
                    batch_rows => 1500, progress_rows => 0);
SELECT digest('par_file') = digest('serial') AS same_as_serial;

-- a worker's error stops the load and is raised here, with its message;
-- the ranges committed before stay, each marked done with its rows, and
-- the failing ones (7 and 8, whose _ids are 15,000 and up) are not;
-- resuming loads exactly the ranges left
CREATE TABLE par_fail (_id int PRIMARY KEY, n int CHECK (n < 15000), name text);
CALL mongo_etl.load('big', 'par_fail', workers => 2);
SELECT count(*) AS ranges,
       bool_and(NOT done) FILTER (WHERE range_no >= 7) AS failing_not_done,
       (SELECT count(*) FROM par_fail) = coalesce(sum(rows_loaded) FILTER (WHERE done), 0) AS rows_match
  FROM mongo_etl.load_ranges WHERE target = 'par_fail'::regclass;
SELECT range_no, filter FROM mongo_etl.load_ranges
 WHERE target = 'par_fail'::regclass ORDER BY range_no;
ALTER TABLE par_fail DROP CONSTRAINT par_fail_n_check;
SET client_min_messages = warning;
CALL mongo_etl.load('big', 'par_fail', resume => true, workers => 2);
RESET client_min_messages;
SELECT digest('par_fail') = digest('serial') AS same_as_serial;
SELECT count(*) AS ranges_left FROM mongo_etl.load_ranges;
-- the same from the file, rows failing in ranges spread over the file
CREATE TABLE par_fail_file (_id int PRIMARY KEY, n int CHECK (n < 19990), name text);
CALL mongo_etl.load('big_file', 'par_fail_file', workers => 2);
SELECT (SELECT count(*) FROM par_fail_file) =
       coalesce(sum(rows_loaded) FILTER (WHERE done), 0) AS rows_match,
       count(*) FILTER (WHERE NOT done) > 0 AS some_left
  FROM mongo_etl.load_ranges WHERE target = 'par_fail_file'::regclass;
ALTER TABLE par_fail_file DROP CONSTRAINT par_fail_file_n_check;
SET client_min_messages = warning;
CALL mongo_etl.load('big_file', 'par_fail_file', resume => true, workers => 2);
RESET client_min_messages;
SELECT digest('par_fail_file') = digest('serial') AS same_as_serial;

-- a statement timeout stops the coordinator and every worker; resuming
-- finishes the load (a trigger that sleeps at every thousandth row makes
-- the load outlast the timeout however fast the server is)
CREATE TABLE par_cancel (LIKE serial);
CREATE FUNCTION slow_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW._id % 1000 = 0 THEN
    PERFORM pg_sleep(0.5);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER slow BEFORE INSERT ON par_cancel
  FOR EACH ROW EXECUTE FUNCTION slow_rows();
SET statement_timeout = '1s';
SET client_min_messages = warning;
CALL mongo_etl.load('big', 'par_cancel', workers => 2);
RESET client_min_messages;
RESET statement_timeout;
DROP TRIGGER slow ON par_cancel;
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
                           WHERE backend_type = 'mongo_etl load worker');
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT count(*) AS workers_left FROM pg_stat_activity
 WHERE backend_type = 'mongo_etl load worker';
SET client_min_messages = warning;
CALL mongo_etl.load('big', 'par_cancel', resume => true, workers => 2);
RESET client_min_messages;
SELECT digest('par_cancel') = digest('serial') AS same_as_serial;

-- workers run as the role that called the procedure: without INSERT on
-- the target it fails as a serial load does; with it, every row is
-- written by that role (a column's default says who)
CREATE ROLE par_loader;
GRANT USAGE ON SCHEMA par, mongo_etl TO par_loader;
GRANT SELECT ON big, big_file TO par_loader;
CREATE USER MAPPING FOR par_loader SERVER par_src;
CREATE USER MAPPING FOR par_loader SERVER par_dump;
CREATE TABLE par_role (LIKE par_net INCLUDING ALL);
SET ROLE par_loader;
CALL mongo_etl.load('big', 'par_role');
CALL mongo_etl.load('big', 'par_role', workers => 2);
RESET ROLE;
GRANT INSERT ON par_role TO par_loader;
SET ROLE par_loader;
CALL mongo_etl.load('big_file', 'par_role', workers => 2);
RESET ROLE;
SELECT loaded_by, count(*) FROM par_role GROUP BY 1;
-- (and with one worker: the default, of type name, is cast to text)
TRUNCATE par_role;
SET ROLE par_loader;
CALL mongo_etl.load('big_file', 'par_role');
RESET ROLE;
SELECT loaded_by, count(*) FROM par_role GROUP BY 1;
-- row-level security on the target refuses rows the role may not add, in
-- the workers as in a serial load
CREATE TABLE par_rls (_id int, n int, name text);
ALTER TABLE par_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY below_100 ON par_rls FOR INSERT WITH CHECK (n < 100);
GRANT INSERT, SELECT ON par_rls TO par_loader;
SET ROLE par_loader;
CALL mongo_etl.load('big_file', 'par_rls');
CALL mongo_etl.load('big_file', 'par_rls', workers => 2);
RESET ROLE;
SELECT count(*) FROM par_rls;

-- a partitioned target: each range goes in by INSERT ... SELECT, rows
-- routed to their partitions
CREATE TABLE par_parts (_id int, n int, name text) PARTITION BY RANGE (_id);
CREATE TABLE par_parts_low PARTITION OF par_parts FOR VALUES FROM (0) TO (10000);
CREATE TABLE par_parts_high PARTITION OF par_parts FOR VALUES FROM (10000) TO (20000);
CALL mongo_etl.load('big_file', 'par_parts', workers => 2);
SELECT digest('par_parts') = digest('serial') AS same_as_serial,
       (SELECT count(*) FROM par_parts_low) AS low,
       (SELECT count(*) FROM par_parts_high) AS high;

-- sources that do not split load with one worker, and say why
CREATE TABLE par_one (_id int, n int, name text);
CALL mongo_etl.load('big_file_gz', 'par_one', workers => 2);
CREATE TABLE par_grouped (_id int, n int);
CALL mongo_etl.load('big_grouped', 'par_grouped', workers => 2);
CREATE TABLE par_one_no_id (n int, name text);
CALL mongo_etl.load('big_no_id', 'par_one_no_id', workers => 2);
SELECT (SELECT count(*) FROM par_one_no_id), (SELECT count(*) FROM par_grouped);
CREATE FUNCTION par_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RETURN NULL; END $$;
CREATE TRIGGER once AFTER INSERT ON par_one
  FOR EACH STATEMENT EXECUTE FUNCTION par_note();
CALL mongo_etl.load('big_file', 'par_one', truncate => true, workers => 2);
SELECT count(*) FROM par_one;

-- a file damaged far from its start (the length prefix of the document at
-- its middle claims 2 GiB; the last document cut short) fails as the serial
-- load fails, with the same error, when it is split for the workers
CREATE FOREIGN TABLE big_file_badlength (_id int, n int, name text)
  SERVER par_dump OPTIONS (file 'regress/big.badlength.bson');
CREATE FOREIGN TABLE big_file_truncated (_id int, n int, name text)
  SERVER par_dump OPTIONS (file 'regress/big.truncated.bson');
CREATE TABLE par_damaged (LIKE serial);
\set VERBOSITY sqlstate
CALL mongo_etl.load('big_file_badlength', 'par_damaged', workers => 2);
SELECT replace(:'LAST_ERROR_MESSAGE', :'dump_dir', '<dump>') AS error;
CALL mongo_etl.load('big_file_badlength', 'par_damaged');
SELECT replace(:'LAST_ERROR_MESSAGE', :'dump_dir', '<dump>') AS error;
CALL mongo_etl.load('big_file_truncated', 'par_damaged', workers => 2);
SELECT replace(:'LAST_ERROR_MESSAGE', :'dump_dir', '<dump>') AS error;
CALL mongo_etl.load('big_file_truncated', 'par_damaged');
SELECT replace(:'LAST_ERROR_MESSAGE', :'dump_dir', '<dump>') AS error;
-- and leaves no file open behind it in the calling backend: the same again
-- opens no more files than the first time left open
SELECT count(*) AS open_files FROM pg_ls_dir('/proc/self/fd') \gset
CALL mongo_etl.load('big_file_badlength', 'par_damaged', workers => 2);
CALL mongo_etl.load('big_file_truncated', 'par_damaged', workers => 2);
CALL mongo_etl.load('big_file_badlength', 'par_damaged', workers => 2);
\set VERBOSITY terse
SELECT count(*) - :open_files AS files_left_open
  FROM pg_ls_dir('/proc/self/fd');

-- refused: in a transaction block, and a number of workers out of range
BEGIN;
CALL mongo_etl.load('big_file', 'par_one', workers => 2);
ROLLBACK;
CALL mongo_etl.load('big_file', 'par_one', workers => 0);
CALL mongo_etl.load('big_file', 'par_one', workers => 65);

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA par CASCADE;
DROP SERVER par_src CASCADE;
DROP SERVER par_dump CASCADE;
DROP OWNED BY par_loader;
DROP ROLE par_loader;
