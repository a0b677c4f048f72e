--
-- Citus (issue 28): loads into distributed and reference tables on a
-- coordinator with two workers (MONGO_ETL_CITUS=1; make test-citus runs
-- this file alone, in database postgres, where test/citus.sh created the
-- citus extension on every node).  For each target the rows are counted
-- three ways: through Citus (count(*) on the coordinator, which reads the
-- shards), in the shards themselves (run_command_on_shards, or on every
-- placement of a reference table), and in the coordinator's shell table,
-- the local relation Citus never reads (empty if it has no pages; else
-- pgstattuple counts the tuples of its heap, where contrib is installed:
-- test/build_postgres.sh builds PostgreSQL without it).
--
-- INSERT ... SELECT and sync's upserts reach the shards: Citus plans them
-- (the SELECT runs on the coordinator, its rows are copied to the shards).
-- mongo_etl.load wrote with table_multi_insert into the relation it opened,
-- which on the coordinator is the shell table: every row landed there,
-- where no query sees it, reported as loaded.  It now loads a table in
-- Citus's metadata by INSERT ... SELECT, which Citus routes.
--
\i sql/include/mongo_uri.sql
\set VERBOSITY terse
SET client_min_messages = warning;
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pgstattuple') THEN
    CREATE EXTENSION IF NOT EXISTS pgstattuple;
  END IF;
END $$;
RESET client_min_messages;

-- the cluster: a coordinator (group 0, which holds no shards of a
-- distributed table) and two workers, mongo_etl of one version on all three
SELECT groupid = 0 AS coordinator, noderole, shouldhaveshards, isactive
  FROM pg_dist_node ORDER BY groupid;
SELECT count(*) AS nodes, min(result) AS mongo_etl, bool_and(success) AS ok
  FROM run_command_on_all_nodes(
    $$SELECT extversion FROM pg_extension WHERE extname = 'mongo_etl'$$);

CREATE SERVER citus_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER citus_src :mongo_login;
CREATE SCHEMA citus_load;
SET search_path = citus_load;
-- 20,000 documents with _id 0 to 19,999 (test/fixtures.py big)
CREATE FOREIGN TABLE big (_id int, n int, name text)
  SERVER citus_src OPTIONS (database 'mongo_etl_citus', collection 'big');
SELECT count(*), sum(n) FROM big;

-- where a table's rows are: read through Citus, in its shards (each
-- placement of a reference table), and in the coordinator's shell table
CREATE FUNCTION public.rows_of(t regclass, OUT through_citus bigint,
                               OUT in_shards bigint, OUT placements text,
                               OUT in_shell bigint)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SELECT count(*) FROM %s', t) INTO through_citus;
  SELECT sum(result::bigint) INTO in_shards
    FROM run_command_on_shards(t, 'SELECT count(*) FROM %s');
  SELECT string_agg(result, ' ' ORDER BY nodeport) INTO placements
    FROM run_command_on_placements(t, 'SELECT count(*) FROM %s');
  IF pg_relation_size(t) = 0 THEN
    in_shell := 0;
  ELSIF to_regprocedure('public.pgstattuple(regclass)') IS NOT NULL THEN
    EXECUTE 'SELECT tuple_count FROM public.pgstattuple($1)' INTO in_shell USING t;
  END IF;  -- else NULL: pages, but no way to count their tuples
END $$;

--
-- A distributed table (hash on _id, 32 shards on the two workers)
--
CREATE TABLE dist (_id int PRIMARY KEY, n int, name text);
SELECT create_distributed_table('dist', '_id');
SELECT count(*) AS shards, count(DISTINCT nodeport) AS nodes
  FROM citus_shards WHERE table_name = 'dist'::regclass;

-- INSERT ... SELECT from the foreign table: Citus runs the SELECT on the
-- coordinator and sends the rows to the shards
INSERT INTO dist SELECT _id, n, name FROM big;
SELECT through_citus, in_shards, in_shell FROM public.rows_of('dist');
TRUNCATE dist;
SELECT through_citus, in_shards, in_shell FROM public.rows_of('dist');

-- mongo_etl.load, one worker
CALL mongo_etl.load('big', 'dist');
SELECT through_citus, in_shards, in_shell FROM public.rows_of('dist');
-- again: the shards' primary key refuses the rows.  The error names a
-- shard's index, whose number depends on the run, and comes with Citus's
-- SQLSTATE XX000, not 23505
DO $$
BEGIN
  CALL mongo_etl.load('big', 'dist');
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE '%: %', SQLSTATE, regexp_replace(SQLERRM, '_\d+"', '_N"');
END $$;
SELECT through_citus, in_shards, in_shell FROM public.rows_of('dist');
-- truncate => true (TRUNCATE through SPI, which Citus sees)
CALL mongo_etl.load('big', 'dist', truncate => true);
SELECT through_citus, in_shards, in_shell FROM public.rows_of('dist');
-- in batches, each committed: the batch's INSERT ... SELECT is a
-- data-modifying WITH query
CALL mongo_etl.load('big', 'dist', truncate => true, batch_rows => 7000);
SELECT through_citus, in_shards, in_shell FROM public.rows_of('dist');

-- mongo_etl.load with two workers, into a table of its own: each
-- background worker's INSERT ... SELECT goes through Citus too
CREATE TABLE dist2 (_id int PRIMARY KEY, n int, name text);
SELECT create_distributed_table('dist2', '_id');
CALL mongo_etl.load('big', 'dist2', workers => 2);
SELECT through_citus, in_shards, in_shell FROM public.rows_of('dist2');
-- resume (of a load that finished): the resume point is read through
-- Citus, from the shards
CALL mongo_etl.load('big', 'dist2', resume => true);
SELECT through_citus, in_shards, in_shell FROM public.rows_of('dist2');

--
-- A reference table: one shard, a placement on every node (the
-- coordinator's too, as it is in the metadata)
--
CREATE TABLE ref (_id int PRIMARY KEY, n int, name text);
SELECT create_reference_table('ref');
INSERT INTO ref SELECT _id, n, name FROM big;
SELECT * FROM public.rows_of('ref');
TRUNCATE ref;
CALL mongo_etl.load('big', 'ref');
SELECT * FROM public.rows_of('ref');

--
-- A Citus-managed local table: its one shard is on the coordinator, the
-- table itself a shell there too
--
CREATE TABLE managed (_id int PRIMARY KEY, n int, name text);
SELECT citus_add_local_table_to_metadata('managed');
CALL mongo_etl.load('big', 'managed');
SELECT through_citus, in_shards, in_shell FROM public.rows_of('managed');
SELECT count(*), sum(n) FROM managed;

--
-- A colocated join: a table loaded by mongo_etl.load joined, shard by
-- shard, with a distributed table of the database's own, distributed on
-- the same key and colocated with it; the same join over the foreign table
-- gives the same answer
--
CREATE TABLE orders (order_id int, big_id int, qty int);
SELECT create_distributed_table('orders', 'big_id', colocate_with => 'dist2');
INSERT INTO orders SELECT g, g % 20000, g % 3 FROM generate_series(1, 30000) g;
SELECT (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'orders'::regclass) =
       (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'dist2'::regclass)
       AS colocated;
SELECT count(*), sum(d.n * o.qty) FROM dist2 d JOIN orders o ON o.big_id = d._id;
SELECT count(*), sum(b.n * o.qty)
  FROM (SELECT _id, n FROM big) b
  JOIN (SELECT big_id, qty FROM orders) o ON o.big_id = b._id;

--
-- A role that is not a superuser: Citus connects to the workers as that
-- role, so it needs LOGIN (else "role ... is not permitted to log in");
-- the serial and the parallel load write every row as that role (a
-- column's default says who), into the shards
--
CREATE ROLE citus_loader LOGIN;
GRANT USAGE ON SCHEMA citus_load, mongo_etl TO citus_loader;
GRANT USAGE ON FOREIGN SERVER citus_src TO citus_loader;
CREATE USER MAPPING FOR citus_loader SERVER citus_src
  OPTIONS (password_required 'false');
GRANT SELECT ON big TO citus_loader;
CREATE TABLE byrole (_id int PRIMARY KEY, n int, name text,
                     loaded_by name DEFAULT current_user);
SELECT create_distributed_table('byrole', '_id');
SET ROLE citus_loader;
CALL mongo_etl.load('big', 'byrole');
RESET ROLE;
GRANT INSERT, SELECT ON byrole TO citus_loader;
SET ROLE citus_loader;
CALL mongo_etl.load('big', 'byrole');
RESET ROLE;
SELECT through_citus, in_shards, in_shell FROM public.rows_of('byrole');
SELECT sum(result::bigint) AS by_citus_loader
  FROM run_command_on_shards('byrole',
    $$SELECT count(*) FROM %s WHERE loaded_by = 'citus_loader'$$);
TRUNCATE byrole;
SET ROLE citus_loader;
CALL mongo_etl.load('big', 'byrole', workers => 2);
RESET ROLE;
SELECT through_citus, in_shards, in_shell FROM public.rows_of('byrole');
SELECT sum(result::bigint) AS by_citus_loader
  FROM run_command_on_shards('byrole',
    $$SELECT count(*) FROM %s WHERE loaded_by = 'citus_loader'$$);
-- sync with delete_missing by the role (its temporary table too): the row
-- MongoDB lacks leaves the shards (mongo_etl.sync_state has no row
-- security: a role that syncs is granted the table)
INSERT INTO byrole VALUES (-1, 0, 'not in MongoDB');
GRANT UPDATE, DELETE ON byrole TO citus_loader;
GRANT SELECT, INSERT, UPDATE ON mongo_etl.sync_state TO citus_loader;
SET ROLE citus_loader;
CALL mongo_etl.sync('big', 'byrole', delete_missing => true);
RESET ROLE;
SELECT through_citus, in_shards, in_shell FROM public.rows_of('byrole');
SELECT min(_id) FROM byrole;
DELETE FROM mongo_etl.sync_state WHERE target = 'byrole'::regclass;
DROP TABLE byrole;
DROP USER MAPPING FOR citus_loader SERVER citus_src;
REVOKE ALL ON big FROM citus_loader;
REVOKE ALL ON mongo_etl.sync_state FROM citus_loader;
REVOKE ALL ON FOREIGN SERVER citus_src FROM citus_loader;
REVOKE ALL ON SCHEMA citus_load, mongo_etl FROM citus_loader;
DROP ROLE citus_loader;

--
-- IMPORT FOREIGN SCHEMA on the coordinator (the foreign tables are the
-- coordinator's own), then a load from the imported table into a
-- distributed table
--
CREATE SCHEMA citus_imported;
SET client_min_messages = warning;  -- the sampling NOTICE
IMPORT FOREIGN SCHEMA mongo_etl_citus LIMIT TO (big)
  FROM SERVER citus_src INTO citus_imported;
RESET client_min_messages;
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute WHERE attrelid = 'citus_imported.big'::regclass AND attnum > 0
  ORDER BY attnum;
CREATE TABLE from_import (_id int PRIMARY KEY, n int, name text, even boolean);
SELECT create_distributed_table('from_import', '_id');
CALL mongo_etl.load('citus_imported.big', 'from_import');
SELECT through_citus, in_shards, in_shell FROM public.rows_of('from_import');
SELECT count(*) FILTER (WHERE even) AS even, sum(n) FROM from_import;
DROP SCHEMA citus_imported CASCADE;

--
-- mongo_etl.sync into a distributed table: upserts, then (after changes
-- made in MongoDB through the foreign table) updates and deletes
--
CREATE TABLE synced (_id int PRIMARY KEY, n int, name text);
SELECT create_distributed_table('synced', '_id');
CALL mongo_etl.sync('big', 'synced');
SELECT through_citus, in_shards, in_shell FROM public.rows_of('synced');
UPDATE big SET name = 'changed' WHERE _id < 5;
DELETE FROM big WHERE _id >= 19990;
CALL mongo_etl.sync('big', 'synced');
SELECT through_citus, in_shards, in_shell FROM public.rows_of('synced');
SELECT count(*) FILTER (WHERE name = 'changed') AS changed, max(_id) FROM synced;
-- delete_missing: the 10 rows deleted in MongoDB leave the shards (Citus
-- refuses the anti-join with the foreign table that other tables use:
-- the keys to delete go through a temporary table)
CALL mongo_etl.sync('big', 'synced', delete_missing => true);
SELECT through_citus, in_shards, in_shell FROM public.rows_of('synced');
SELECT max(_id), count(*) FILTER (WHERE name = 'changed') AS changed FROM synced;
SELECT last_rows, last_deleted FROM mongo_etl.sync_state
 WHERE target = 'synced'::regclass;
-- the same into a reference table, a copy on every node
-- (a unique key, not a primary key: a row without a key, which no
-- document has, is deleted too)
CREATE TABLE synced_ref (_id int UNIQUE, n int, name text);
SELECT create_reference_table('synced_ref');
INSERT INTO synced_ref VALUES (-1, 0, 'not in MongoDB'), (0, 0, 'old'),
                              (NULL, 0, 'no key');
CALL mongo_etl.sync('big', 'synced_ref', delete_missing => true);
SELECT through_citus, in_shards, placements FROM public.rows_of('synced_ref');
SELECT min(_id), max(_id), count(_id), count(*),
       (SELECT name FROM synced_ref WHERE _id = 0)
  FROM synced_ref;

DROP SCHEMA citus_load CASCADE;
DROP FUNCTION public.rows_of;
DROP SERVER citus_src CASCADE;
