--
-- IMPORT FOREIGN SCHEMA: one foreign table per collection, columns from a
-- sample of documents (test/fixtures/import, in database mongo_etl_import;
-- and mongodump files for what FerretDB cannot store).
--
\getenv mongo_uri MONGO_URI
\getenv test_dir MONGO_ETL_TEST_DIR
SELECT :'test_dir' || '/dump' AS dump_dir \gset
CREATE SERVER import_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER import_src;
CREATE SCHEMA imported;
SET timezone = 'UTC';

-- every collection of the database; FerretDB has no $sample, so the first
-- documents are read, as the NOTICE says
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
-- column with the whole document; LIMIT TO
CREATE SCHEMA flat;
IMPORT FOREIGN SCHEMA mongo_etl_import LIMIT TO (hetero) FROM SERVER import_src
  INTO flat OPTIONS (flatten_depth '2', document_column 'doc', sample_size '3');
SELECT attname, format_type(atttypid, atttypmod) AS type, attfdwoptions
  FROM pg_attribute WHERE attrelid = 'flat.hetero'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT _id, addr_city, addr_geo_lat, doc->'s' AS s FROM flat.hetero ORDER BY _id;
-- a value beyond the sample, of a BSON type the sample did not show, is a
-- mismatch named as such: here the sample is the first document alone
CREATE SCHEMA one;
IMPORT FOREIGN SCHEMA mongo_etl_import LIMIT TO (hetero) FROM SERVER import_src
  INTO one OPTIONS (sample_size '1');
SELECT n FROM one.hetero ORDER BY _id;

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
