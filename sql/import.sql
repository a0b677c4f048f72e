--
-- IMPORT FOREIGN SCHEMA: one foreign table per collection, columns from a
-- sample of documents (test/fixtures/import, in database mongo_etl_import;
-- and mongodump files for what FerretDB cannot store).
--
\i sql/include/mongo_uri.sql
\getenv test_dir MONGO_ETL_TEST_DIR
SELECT :'test_dir' || '/dump' AS dump_dir \gset
CREATE SERVER import_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER import_src :mongo_login;
CREATE SCHEMA imported;
SET timezone = 'UTC';

-- every collection of the database; a collection of at most 10 times
-- sample_size documents is read whole, on any server, as the NOTICE says
IMPORT FOREIGN SCHEMA mongo_etl_import FROM SERVER import_src INTO imported;
SELECT c.relname, ft.ftoptions
  FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'imported'::regnamespace ORDER BY 1;
-- the columns: _id first, then in order of first appearance; what the
-- sample showed is in import_types
SELECT attname, format_type(atttypid, atttypmod) AS type, attfdwoptions
  FROM pg_attribute WHERE attrelid = 'imported.hetero'::regclass AND attnum > 0
 ORDER BY attnum;
-- every sampled document reads without an error
SELECT * FROM imported.hetero ORDER BY _id;
SELECT * FROM imported.plain ORDER BY _id;
-- ObjectId columns are declared, so a lookup by _id goes to MongoDB
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT name FROM imported.plain WHERE _id = '64b7f0c2e4b0a1a2b3c4d5f2';
SELECT name FROM imported.plain WHERE _id = '64b7f0c2e4b0a1a2b3c4d5f2';

-- flattening embedded documents into columns, two levels deep, and a
-- column with the whole document; LIMIT TO.  4 documents are no more than
-- 10 times sample_size: read whole.  addr is a string in _id 4, so it is
-- no document to flatten: a jsonb column
CREATE SCHEMA flat;
IMPORT FOREIGN SCHEMA mongo_etl_import LIMIT TO (hetero) FROM SERVER import_src
  INTO flat OPTIONS (flatten_depth '2', document_column 'doc', sample_size '3');
SELECT attname, format_type(atttypid, atttypmod) AS type, attfdwoptions
  FROM pg_attribute WHERE attrelid = 'flat.hetero'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT _id, addr, deep_l1_l2, doc->'s' AS s FROM flat.hetero ORDER BY _id;
-- EXCEPT
CREATE SCHEMA except_hetero;
IMPORT FOREIGN SCHEMA mongo_etl_import EXCEPT (hetero) FROM SERVER import_src
  INTO except_hetero;
SELECT relname FROM pg_class WHERE relnamespace = 'except_hetero'::regnamespace;

-- options
IMPORT FOREIGN SCHEMA mongo_etl_import FROM SERVER import_src INTO flat
  OPTIONS (sample_size '0');
IMPORT FOREIGN SCHEMA mongo_etl_import FROM SERVER import_src INTO flat
  OPTIONS (depth '1');
IMPORT FOREIGN SCHEMA mongo_etl_import FROM SERVER import_src INTO flat
  OPTIONS (flatten_depth 'deep');

-- from mongodump files: Decimal128 beside other numbers is numeric, a key
-- with a dot is left to the whole document
CREATE SERVER import_dump FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir :'dump_dir');
CREATE USER MAPPING FOR CURRENT_USER SERVER import_dump;
CREATE SCHEMA dumped;
IMPORT FOREIGN SCHEMA regress LIMIT TO (hetero_dump, users) FROM SERVER import_dump
  INTO dumped OPTIONS (document_column 'document');
SELECT attname, format_type(atttypid, atttypmod) AS type, attfdwoptions
  FROM pg_attribute WHERE attrelid = 'dumped.hetero_dump'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT _id, price, qty, document->>'a.b' AS a_b FROM dumped.hetero_dump ORDER BY _id;
SELECT count(*) FROM dumped.users;

-- A migration as README walks through it, with the default options, of a
-- collection whose types change after its first thousand documents
-- (test/fixtures/import/drift.py): londec a double, then an int32; depth an
-- int32, then an int64; watlev only in later documents.  The collection on
-- the server, and the same documents in mongodump files, which IMPORT
-- reads whole.
\getenv abs_srcdir PG_ABS_SRCDIR
CREATE TEMP TABLE drift_output (line text);
\set drift_py '/usr/bin/python3 ' :abs_srcdir '/test/fixtures/import/drift.py ' :'mongo_full_uri' ' ' :dump_dir
COPY drift_output FROM PROGRAM :'drift_py';
SELECT * FROM drift_output;

-- the server: 2,400 documents, no more than 10 times the default
-- sample_size, so read whole, and every type is seen
CREATE SCHEMA drift;
IMPORT FOREIGN SCHEMA mongo_etl_import_drift FROM SERVER import_src INTO drift;
SELECT c.relname, ft.ftoptions
  FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'drift'::regnamespace ORDER BY 1;
SELECT attname, format_type(atttypid, atttypmod) AS type, attfdwoptions
  FROM pg_attribute WHERE attrelid = 'drift.wrecks'::regclass AND attnum > 0
 ORDER BY attnum;
CREATE TABLE drift_wrecks (LIKE drift.wrecks);
INSERT INTO drift_wrecks SELECT * FROM drift.wrecks;
SELECT count(*), count(londec), sum(londec), count(watlev), sum(depth),
       count(*) FILTER (WHERE londec = round(londec)) AS integral_londec
  FROM drift_wrecks;
-- declaring int beside double keeps a float8 filter exact: no $type test
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT count(*) FROM drift.wrecks WHERE londec <= -1000;
SELECT count(*) FROM drift.wrecks WHERE londec <= -1000;

-- A sample smaller than the collection (200 of 2,400 documents): drawn
-- with $sample where the server has it (DocumentDB), otherwise (FerretDB)
-- 40 documents from each of 5 places of the _id order, which see every
-- type.  What a random draw shows depends on the draw (DocumentDB's
-- $sample takes whole pages of its table: one draw saw no int64 depth and
-- no watlev at all), so there the test checks only what does not: the
-- sample's size, and that each column accounts for every document of it
-- (import_1.out: DocumentDB)
CREATE SCHEMA drift_200;
SET client_min_messages = warning;
IMPORT FOREIGN SCHEMA mongo_etl_import_drift FROM SERVER import_src
  INTO drift_200 OPTIONS (sample_size '200');
RESET client_min_messages;
SELECT ftoptions FROM pg_foreign_table
 WHERE ftrelid = 'drift_200.wrecks'::regclass;
SELECT 'import_sample=200 documents, $sample' = ANY (ftoptions) AS has_sample
  FROM pg_foreign_table WHERE ftrelid = 'drift_200.wrecks'::regclass \gset
CREATE FUNCTION pg_temp.values_seen(options text[]) RETURNS int
LANGUAGE sql AS $$
  SELECT sum(n[1]::int)::int
    FROM pg_options_to_table(options) AS o,
         regexp_matches(o.option_value, '(\d+)', 'g') AS n
   WHERE o.option_name = 'import_types' $$;
\if :has_sample
SELECT attnum = 1 AS first, attname,
       pg_temp.values_seen(attfdwoptions) AS values_seen
  FROM pg_attribute WHERE attrelid = 'drift_200.wrecks'::regclass AND attnum > 0
   AND attname IN ('_id', 'feature', 'londec', 'depth')
 ORDER BY attnum;
\else
SELECT attname, format_type(atttypid, atttypmod) AS type, attfdwoptions
  FROM pg_attribute WHERE attrelid = 'drift_200.wrecks'::regclass AND attnum > 0
 ORDER BY attnum;
\endif

-- one document: without $sample the first in _id order.  A value beyond
-- the sample, of a BSON type it did not show, is a mismatch named as
-- such; a double column declares int though the sample showed only
-- doubles.  A random draw of one document shows what the document drawn
-- has, so there the test checks that each column saw one value.
CREATE SCHEMA drift_one;
SET client_min_messages = warning;
IMPORT FOREIGN SCHEMA mongo_etl_import_drift FROM SERVER import_src
  INTO drift_one OPTIONS (sample_size '1');
RESET client_min_messages;
SELECT ftoptions FROM pg_foreign_table
 WHERE ftrelid = 'drift_one.wrecks'::regclass;
\if :has_sample
SELECT attnum = 1 AS first, attname,
       pg_temp.values_seen(attfdwoptions) AS values_seen
  FROM pg_attribute WHERE attrelid = 'drift_one.wrecks'::regclass AND attnum > 0
   AND attname IN ('_id', 'feature', 'londec', 'depth')
 ORDER BY attnum;
\else
SELECT attname, format_type(atttypid, atttypmod) AS type, attfdwoptions
  FROM pg_attribute WHERE attrelid = 'drift_one.wrecks'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT count(londec), sum(londec) FROM drift_one.wrecks;
SELECT sum(depth) FROM drift_one.wrecks;
\endif

-- the mongodump files: the types of every document
CREATE SCHEMA drift_dump;
IMPORT FOREIGN SCHEMA drift FROM SERVER import_dump INTO drift_dump;
SELECT c.relname, ft.ftoptions
  FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'drift_dump'::regnamespace ORDER BY 1;
SELECT attname, format_type(atttypid, atttypmod) AS type, attfdwoptions
  FROM pg_attribute WHERE attrelid = 'drift_dump.wrecks_gz'::regclass AND attnum > 0
 ORDER BY attnum;
CREATE TABLE drift_dump_wrecks (LIKE drift_dump.wrecks);
INSERT INTO drift_dump_wrecks SELECT * FROM drift_dump.wrecks;
SELECT count(*), count(londec), sum(londec), count(watlev), sum(depth)
  FROM drift_dump_wrecks;
-- the same rows as from the server, from either file
SELECT (SELECT count(*) FROM (TABLE drift_dump_wrecks EXCEPT ALL
                              TABLE drift_wrecks) AS d) AS not_on_server,
       (SELECT count(*) FROM (TABLE drift_wrecks EXCEPT ALL
                              TABLE drift_dump_wrecks) AS d) AS not_in_file,
       (SELECT count(*) FROM (TABLE drift_dump.wrecks_gz EXCEPT ALL
                              TABLE drift_wrecks) AS d) AS not_in_gz_file;
