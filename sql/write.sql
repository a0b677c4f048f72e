--
-- INSERT into a foreign table: rows become documents, sent in batches;
-- read back through the same table, every type comes back as it went.
--
\i sql/include/mongo_uri.sql
CREATE SERVER write_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER write_src :mongo_login;
CREATE SCHEMA w;
SET search_path = w;
-- written holds one document, {_id: "seed", n: 0} (test/fixtures)
CREATE FOREIGN TABLE written (
  _id text, n int, big bigint, f float8, ok bool, t text,
  ts timestamptz, d date, b bytea, u uuid, j jsonb, a int[], ta text[])
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written',
                            batch_size '100');
CREATE TABLE source (LIKE written);
INSERT INTO source VALUES
  ('one', 1, 10000000000, 1.5, true, 'héllo', '2024-01-02 03:04:05.678+00',
   '2024-02-29', '\x0102', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '{"x": [1, 2.5, "s"], "y": null, "z": {"w": true}}', '{1,NULL,3}',
   '{a,b}'),
  ('two', -2, -1, -0.25, false, '', '1969-12-31 23:59:59.999+00',
   '1900-01-01', '\x', '00000000-0000-0000-0000-000000000000', '[]', '{}',
   NULL),
  ('three', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL);
INSERT INTO written SELECT * FROM source;
-- every value reads back as it was written
SELECT count(*) AS differing FROM (
  (SELECT * FROM source EXCEPT SELECT * FROM written)
  UNION ALL
  (SELECT * FROM written WHERE _id <> 'seed' EXCEPT SELECT * FROM source)) d;
SELECT _id, n, ts, j FROM written ORDER BY n NULLS LAST, _id;

-- microseconds: a BSON date holds milliseconds, cut toward the past
INSERT INTO written (_id, ts) VALUES ('micro', '2024-01-01 00:00:00.123999+00'),
                                     ('before', '1969-12-31 23:59:59.9995+00');
SELECT _id, ts FROM written WHERE _id IN ('micro', 'before') ORDER BY _id;

-- a row without _id gets an ObjectId, which RETURNING shows
INSERT INTO written (n) VALUES (100) RETURNING length(_id), _id ~ '^[0-9a-f]{24}$' AS hex, n;

-- a batch boundary: 250 rows in batches of 100 (three insert commands)
INSERT INTO written (_id, n) SELECT 'g' || g, g FROM generate_series(1001, 1250) g;
SELECT count(*), sum(n) FROM written WHERE n > 1000;

-- EXPLAIN VERBOSE: the insert command and its batch; ANALYZE: the
-- documents written and the commands (a ModifyTable of a foreign table
-- may batch only without RETURNING and row triggers)
EXPLAIN (VERBOSE, COSTS OFF)
  INSERT INTO written (_id, n) SELECT 'e' || g, g FROM generate_series(3001, 3250) g;
SELECT public.explain_analyze(
  $$INSERT INTO written (_id, n) SELECT 'e' || g, g FROM generate_series(3001, 3250) g$$);

-- write_nulls 'false': a NULL's field is left out instead of written null
CREATE FOREIGN TABLE written_doc (_id text, doc jsonb OPTIONS (field '$$ROOT'))
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written');
ALTER FOREIGN TABLE written OPTIONS (ADD write_nulls 'false');
INSERT INTO written (_id, n, t) VALUES ('no_nulls', NULL, 'x');
ALTER FOREIGN TABLE written OPTIONS (DROP write_nulls);
INSERT INTO written (_id, n, t) VALUES ('nulls', NULL, 'x');
SELECT _id, doc - '_id' AS fields FROM written_doc
 WHERE _id IN ('nulls', 'no_nulls') ORDER BY _id;
ALTER FOREIGN TABLE written OPTIONS (ADD write_nulls 'maybe');

-- a duplicate _id fails with 23505, naming it; in a batch, the rows before
-- it are written (MongoDB does not undo them), and the error says so (the
-- server's own message varies between implementations: not printed)
CREATE FUNCTION insert_error(query text,
  OUT state text, OUT message text, OUT written_before text)
LANGUAGE plpgsql AS $$
DECLARE detail text;
BEGIN
  EXECUTE query;
  state := 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL;
  written_before := substring(detail from '\d+ of the \d+ documents of this batch were written');
END $$;
SELECT * FROM insert_error($$INSERT INTO written (_id, n) VALUES ('one', 5)$$);
SELECT * FROM insert_error($$INSERT INTO written (_id, n)
  VALUES ('h1', 2001), ('h2', 2002), ('one', 2003), ('h4', 2004)$$);
SELECT _id FROM written WHERE n BETWEEN 2001 AND 2004 ORDER BY _id;
INSERT INTO written (_id, n) VALUES ('h4', 2004) ON CONFLICT DO NOTHING;

-- dotted fields build nested documents, the fields of one subdocument
-- together whatever the columns' order
CREATE FOREIGN TABLE written_nested (
  _id text,
  lat float8 OPTIONS (field 'addr.geo.lat'),
  name text,
  city text OPTIONS (field 'addr.city'),
  lon float8 OPTIONS (field 'addr.geo.lon'),
  zip text OPTIONS (field 'addr.zip'))
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written');
INSERT INTO written_nested VALUES ('nested', 59.9, 'Ann', 'Oslo', 10.7, '0155'),
                                  ('nested_nulls', NULL, 'Bo', NULL, NULL, NULL);
SELECT * FROM written_nested WHERE _id LIKE 'nested%' ORDER BY _id;
SELECT _id, doc - '_id' AS fields FROM written_doc
 WHERE _id LIKE 'nested%' ORDER BY _id;
-- a field and another inside it cannot both be written
CREATE FOREIGN TABLE written_overlap (_id text, addr jsonb,
                                      city text OPTIONS (field 'addr.city'))
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written');
INSERT INTO written_overlap VALUES ('overlap', '{}', 'Oslo');

-- numeric as Decimal128, exactly.  FerretDB stores no Decimal128 and
-- drops the connection when sent one: the documents are checked as sent
-- (the DEBUG1 line), and the server's refusal must be an error.
-- DocumentDB stores them, and they read back digit for digit
-- (expected/write_1.out).
CREATE FOREIGN TABLE written_numeric (_id text, x numeric, xs numeric[])
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written');
SET client_min_messages = debug1;
INSERT INTO written_numeric
  VALUES ('num1', 1234567890123456789012345678901.234, '{1.50,-0.000,NaN,1e-6176}');
INSERT INTO written_numeric VALUES ('num2', 'Infinity', '{1e6144}');
-- more than Decimal128 holds: refused before anything is sent
INSERT INTO written_numeric VALUES ('num', 12345678901234567890123456789012.345);
INSERT INTO written_numeric VALUES ('num', 0, '{1e-6177}');
-- 37 significant digits, which libbson alone would round
INSERT INTO written_numeric VALUES ('num', 0.1000000000000000000000000000000000001);
RESET client_min_messages;
-- the connection the refusal dropped is made again
SELECT count(*) FROM written WHERE _id = 'seed';
-- what the server kept: the digits and the scale as sent
SELECT _id, x::text AS x,
       xs = CASE _id WHEN 'num1' THEN '{1.50,-0.000,NaN,1e-6176}'::numeric[]
                     ELSE '{1e6144}'::numeric[] END AS xs_equal,
       CASE _id WHEN 'num1' THEN concat_ws(' ', xs[1], xs[2], xs[3]) END AS scales
  FROM written_numeric WHERE _id IN ('num1', 'num2') ORDER BY _id;
DELETE FROM written_numeric WHERE _id IN ('num1', 'num2');

-- refused: a type not written as BSON, a dump file
CREATE FOREIGN TABLE written_point (_id text, p point)
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written');
INSERT INTO written_point VALUES ('point', '(1,2)');

-- $$ROOT: the whole document from jsonb, json or bytea (BSON), extended
-- JSON read into its types; columns given (not NULL) write over it
INSERT INTO written_doc VALUES
  ('root1', '{"a": 1, "when": {"$date": "2024-01-02T03:04:05.678Z"},
              "ref": {"$oid": "0123456789abcdef01234567"},
              "big": {"$numberLong": "5"}}'),
  (NULL, '{"_id": "root2", "nested": {"x": [1, 2.5]}}'),
  ('root3', '{"b": true}');
SELECT _id, doc - '_id' AS fields FROM written_doc
 WHERE _id LIKE 'root%' ORDER BY _id;
CREATE FOREIGN TABLE written_types (_id text, when_ timestamptz OPTIONS (field 'when'),
                                    ref text OPTIONS (bson_type 'objectId'),
                                    big bigint OPTIONS (bson_type 'long'))
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written');
SELECT * FROM written_types WHERE _id = 'root1';
-- a collection copied through $$ROOT, as BSON and as jsonb: the same
CREATE FOREIGN TABLE written_bson (_id text, doc bytea OPTIONS (field '$$ROOT'))
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written');
CREATE FOREIGN TABLE copied_bson (_id text, doc bytea OPTIONS (field '$$ROOT'))
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written_copy');
CREATE FOREIGN TABLE copied_doc (_id text, doc jsonb OPTIONS (field '$$ROOT'))
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written_copy');
DELETE FROM copied_bson;
INSERT INTO copied_bson SELECT * FROM written_bson;
SELECT count(*) AS documents, count(*) FILTER (WHERE c.doc = w.doc) AS same_bson
  FROM written_bson w FULL JOIN copied_bson c USING (_id);
DELETE FROM copied_doc;
INSERT INTO copied_doc (doc) SELECT doc FROM written_doc;
SELECT count(*) AS documents, count(*) FILTER (WHERE c.doc = w.doc) AS same_json
  FROM written_doc w FULL JOIN copied_doc c USING (_id);
DELETE FROM copied_doc;
-- a document the server refuses (an array _id), second of three: the
-- first is written, the third not
SELECT * FROM insert_error($$INSERT INTO written_doc (doc) VALUES
  ('{"_id": "before_refused"}'), ('{"_id": [1, 2]}'),
  ('{"_id": "after_refused"}')$$);
SELECT _id FROM written WHERE _id LIKE '%_refused' ORDER BY _id;
-- refused: two _ids, not an object, not BSON, a field of a column inside
-- a $$ROOT one
INSERT INTO written_doc VALUES ('root4', '{"_id": "other"}');
INSERT INTO written_doc VALUES ('array', '[1, 2]');
INSERT INTO written_bson VALUES ('bad', '\x0500000001');
CREATE FOREIGN TABLE written_mixed (_id text, city text OPTIONS (field 'addr.city'),
                                    doc jsonb OPTIONS (field '$$ROOT'))
  SERVER write_src OPTIONS (database 'mongo_etl_regress', collection 'written');
INSERT INTO written_mixed VALUES ('mixed', 'Oslo', '{"addr": {"zip": "0150"}}');
\getenv test_dir MONGO_ETL_TEST_DIR
SELECT :'test_dir' || '/dump' AS dump_dir \gset
CREATE SERVER write_dump FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir :'dump_dir');
CREATE USER MAPPING FOR CURRENT_USER SERVER write_dump;
CREATE FOREIGN TABLE written_file (_id text) SERVER write_dump
  OPTIONS (file 'regress/users.bson');
INSERT INTO written_file VALUES ('x');

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA w CASCADE;
DROP SERVER write_src, write_dump CASCADE;
