--
-- ALTER EXTENSION UPDATE from every earlier version, in a database of its
-- own: the objects each version adds appear, with their privileges.
--
SELECT current_database() AS regress_db \gset
SET client_min_messages = warning;  -- leftovers of an interrupted run
DROP DATABASE IF EXISTS mongo_etl_upgrade;
DROP ROLE IF EXISTS upgrade_loader;
RESET client_min_messages;
CREATE DATABASE mongo_etl_upgrade;
\c mongo_etl_upgrade
CREATE EXTENSION mongo_etl VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'mongo_etl';
SELECT to_regclass('mongo_etl.load_state') AS load_state;
ALTER EXTENSION mongo_etl UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'mongo_etl';
SELECT to_regclass('mongo_etl.load_state') AS load_state,
       relrowsecurity AS row_security
  FROM pg_class WHERE oid = 'mongo_etl.load_state'::regclass;
SELECT to_regclass('mongo_etl.load_ranges') AS load_ranges;
-- 1.2: mongo_etl.load gains workers, and its ranges a table
ALTER EXTENSION mongo_etl UPDATE TO '1.2';
SELECT to_regprocedure('mongo_etl.disconnect_all()') AS disconnect_all;
SELECT extversion FROM pg_extension WHERE extname = 'mongo_etl';
SELECT to_regclass('mongo_etl.load_ranges') AS load_ranges,
       relrowsecurity AS row_security
  FROM pg_class WHERE oid = 'mongo_etl.load_ranges'::regclass;
SELECT pg_get_function_arguments('mongo_etl.load'::regproc) AS load_arguments;
-- 1.3: the backend's connections, listed and closed
ALTER EXTENSION mongo_etl UPDATE TO '1.3';
SELECT extversion FROM pg_extension WHERE extname = 'mongo_etl';
SELECT * FROM mongo_etl.get_connections();
SELECT mongo_etl.disconnect_all();
-- 1.4: sync's delete_missing on a Citus table, the procedure replaced
ALTER EXTENSION mongo_etl UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'mongo_etl';
SELECT prosrc LIKE '%pg_dist_partition%' AS citus_aware_sync
  FROM pg_proc WHERE oid = 'mongo_etl.sync'::regproc;
-- (the row types of its tables, and their array types, are members too
-- from PostgreSQL 18 on: left out, as they come with the tables)
SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'mongo_etl')
   AND NOT EXISTS (SELECT FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
                    WHERE classid = 'pg_type'::regclass AND t.oid = objid
                      AND (t.typrelid <> 0 OR e.typrelid <> 0))
 ORDER BY 1;
-- a role that may insert into a table sees and keeps the load positions
-- of that table only
CREATE ROLE upgrade_loader;
CREATE TABLE mine (_id int);
CREATE TABLE theirs (_id int);
GRANT INSERT ON mine TO upgrade_loader;
GRANT USAGE ON SCHEMA mongo_etl TO upgrade_loader;
INSERT INTO mongo_etl.load_state
  VALUES ('mine', 'mine', 'f', 1, now(), 10, 1, 1, now()),
         ('theirs', 'theirs', 'f', 1, now(), 10, 1, 1, now());
SET ROLE upgrade_loader;
SELECT target FROM mongo_etl.load_state;
UPDATE mongo_etl.load_state SET next_offset = 20;
INSERT INTO mongo_etl.load_state
  VALUES ('theirs', 'mine', 'f', 1, now(), 10, 1, 1, now());
INSERT INTO mongo_etl.load_state
  VALUES ('mine', 'theirs', 'f', 1, now(), 10, 1, 1, now());
INSERT INTO mongo_etl.load_ranges (source, target, range_no)
  VALUES ('mine', 'mine', 1);
INSERT INTO mongo_etl.load_ranges (source, target, range_no)
  VALUES ('theirs', 'theirs', 1);
RESET ROLE;
SELECT source, target, next_offset FROM mongo_etl.load_state ORDER BY 1, 2;
SELECT source, target, range_no FROM mongo_etl.load_ranges ORDER BY 1, 2;
\c :regress_db
DROP DATABASE mongo_etl_upgrade;
DROP ROLE upgrade_loader;
