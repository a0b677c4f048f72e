--
-- UPDATE and DELETE on a foreign table: one command when MongoDB can pick
-- the documents itself (direct), else row by row by _id, in bulk writes.
-- Every statement is checked by reading the collection back.
--
-- On DocumentDB, expected/modify_1.out: it words the refused update
-- otherwise, and a cursor over a collection updated while it is read
-- returns an updated document a second time (its next batch resumes after
-- the tuple id of the last document sent, and an update writes a new
-- tuple), so the UPDATE that a trigger races counts 3 rows, not 2.
\i sql/include/mongo_uri.sql
CREATE SERVER modify_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER modify_src :mongo_login;
CREATE SCHEMA m;
SET search_path = m;
CREATE FOREIGN TABLE items (_id text, n int, s text,
                            city text OPTIONS (field 'addr.city'))
  SERVER modify_src OPTIONS (database 'mongo_etl_regress',
                             collection 'modified', batch_size '3');
-- the whole document, to see fields set, unset and left alone
CREATE FOREIGN TABLE items_doc (_id text, doc jsonb OPTIONS (field '$$ROOT'))
  SERVER modify_src OPTIONS (database 'mongo_etl_regress',
                             collection 'modified');
-- modified holds one document (test/fixtures)
DELETE FROM items;
INSERT INTO items
  SELECT 'k' || i, i, 's' || i, 'c' || i % 3 FROM generate_series(1, 10) i;

-- direct: the WHERE clause is sent exactly and the new value is a constant
EXPLAIN (VERBOSE, COSTS OFF) UPDATE items SET s = 'big' WHERE n > 6;
SELECT public.explain_analyze(
  $$UPDATE items SET s = 'big', city = NULL WHERE n > 6$$, verbose => true);
UPDATE items SET s = 'big' WHERE n > 6;
SELECT _id, doc - '_id' AS fields FROM items_doc ORDER BY (doc->>'n')::int;
-- NULL unsets the field under write_nulls 'false'
ALTER FOREIGN TABLE items OPTIONS (ADD write_nulls 'false');
UPDATE items SET city = NULL, s = 'unset' WHERE n = 10;
SELECT doc - '_id' AS fields FROM items_doc WHERE _id = 'k10';
ALTER FOREIGN TABLE items OPTIONS (DROP write_nulls);
-- values known when the statement runs: parameters
PREPARE set_s(text, int) AS UPDATE items SET s = $1 WHERE n = $2;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE set_s('p', 1);
EXECUTE set_s('prepared', 1);
SELECT _id, s FROM items WHERE n = 1;
DEALLOCATE set_s;

-- row by row: a new value computed from the row, 5 rows in bulk writes of 3
EXPLAIN (VERBOSE, COSTS OFF) UPDATE items SET n = n + 100 WHERE n <= 5;
SELECT public.explain_analyze(
  $$UPDATE items SET n = n + 100 WHERE n <= 5$$, verbose => true);
SELECT _id, n, s, city FROM items ORDER BY _id;
-- a WHERE clause MongoDB cannot evaluate; RETURNING shows the new rows
UPDATE items SET s = s || '!' WHERE s LIKE 'bi%' AND n < 9 RETURNING _id, n, s;
-- a join: the rows to update come from another table
UPDATE items i SET s = l.s FROM (VALUES ('k9', 'joined')) l(id, s)
 WHERE i._id = l.id;
SELECT _id, s FROM items WHERE _id = 'k9';
-- a document the server cannot update (a field inside a string), row by
-- row and direct: errors naming what was refused
INSERT INTO items_doc (doc) VALUES ('{"_id": "scalar", "n": 77, "addr": "street"}');
UPDATE items SET city = 'Oslo' WHERE _id = 'scalar';
UPDATE items SET city = 'Oslo' WHERE n = 77;
DELETE FROM items WHERE n = 77;
-- with pushdown off, every statement reads its rows
SET mongo_etl.pushdown = off;
EXPLAIN (VERBOSE, COSTS OFF) DELETE FROM items WHERE n = 9;
RESET mongo_etl.pushdown;

-- DELETE: direct, then row by row with RETURNING
SELECT public.explain_analyze(
  $$DELETE FROM items WHERE n >= 104$$, verbose => true);
DELETE FROM items WHERE s LIKE '%!' RETURNING *;
SELECT _id, n, s, city FROM items ORDER BY _id;

-- a row whose document is gone when its update is sent: not counted,
-- and reported (a BEFORE ROW trigger deletes it through another table)
CREATE FUNCTION delete_first() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW._id = 'k1' THEN
    DELETE FROM items_doc WHERE _id = 'k1';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER vanish BEFORE UPDATE ON items
  FOR EACH ROW EXECUTE FUNCTION delete_first();
UPDATE items SET s = 'late' WHERE _id IN ('k1', 'k2');
DROP TRIGGER vanish ON items;
SELECT _id, n, s FROM items ORDER BY _id;

-- the table's filter option holds for direct commands too: only the
-- documents the table shows change
CREATE FOREIGN TABLE items_a (_id text, n int, s text)
  SERVER modify_src OPTIONS (database 'mongo_etl_regress', collection 'modified',
                             filter '{"s": "a"}');
DELETE FROM items;
INSERT INTO items (_id, n, s) VALUES ('fa1', 1, 'a'), ('fa2', 2, 'a'),
                                     ('fb1', 1, 'b');
EXPLAIN (VERBOSE, COSTS OFF) UPDATE items_a SET n = 10 WHERE n = 1;
UPDATE items_a SET n = 10 WHERE n = 1;
DELETE FROM items_a WHERE n = 2;
SELECT _id, n, s FROM items ORDER BY _id;
DELETE FROM items_a;
SELECT _id, n, s FROM items ORDER BY _id;
-- a WITH query's changes are not the statement's row count
CREATE TEMP TABLE counted (x int);
DO $$
DECLARE processed bigint;
BEGIN
  WITH d AS (UPDATE items SET n = 5 WHERE n = 1) INSERT INTO counted VALUES (1);
  GET DIAGNOSTICS processed = ROW_COUNT;
  RAISE NOTICE 'rows: % (the INSERT''s)', processed;
END $$;
SELECT _id, n FROM items WHERE _id = 'fb1';
-- foreign partitions: rows routed in, UPDATE and DELETE through the parent
CREATE TABLE regions (_id text, n int, s text) PARTITION BY LIST (s);
CREATE FOREIGN TABLE region_a PARTITION OF regions FOR VALUES IN ('a')
  SERVER modify_src OPTIONS (database 'mongo_etl_regress', collection 'modified',
                             filter '{"s": "a"}');
CREATE FOREIGN TABLE region_b PARTITION OF regions FOR VALUES IN ('b')
  SERVER modify_src OPTIONS (database 'mongo_etl_regress', collection 'modified',
                             filter '{"s": "b"}');
INSERT INTO regions VALUES ('ra', 1, 'a'), ('rb', 2, 'b');
UPDATE regions SET n = n * 100 WHERE n < 100;
SELECT * FROM regions ORDER BY _id;
DELETE FROM regions WHERE n >= 100 RETURNING *;
-- COPY FROM into a foreign table
COPY items (_id, n, s) FROM STDIN;
c1	1	copied
c2	2	copied
\.
SELECT _id, n, s FROM items ORDER BY _id;

-- ObjectId _ids, declared or not, and a numeric _id
CREATE FOREIGN TABLE oids (_id text OPTIONS (bson_type 'objectId'), v int)
  SERVER modify_src OPTIONS (database 'mongo_etl_regress', collection 'modified');
CREATE FOREIGN TABLE oids_plain (_id text, v int)
  SERVER modify_src OPTIONS (database 'mongo_etl_regress', collection 'modified');
DELETE FROM items;
INSERT INTO oids VALUES ('0123456789abcdef01234567', 1),
                        ('0123456789abcdef01234568', 2);
UPDATE oids SET v = v * 10 WHERE v % 2 = 0;
-- undeclared, a text _id finds a string or an ObjectId of its digits
INSERT INTO items (_id, n) VALUES ('0123456789abcdef01234569', 3);
UPDATE oids_plain SET v = v + 1 WHERE v % 2 = 1 OR v IS NULL RETURNING *;
SELECT _id, doc - '_id' AS fields FROM items_doc ORDER BY _id;
CREATE FOREIGN TABLE numbered (_id int, v text)
  SERVER modify_src OPTIONS (database 'mongo_etl_regress', collection 'modified');
DELETE FROM items;
INSERT INTO numbered VALUES (1, 'a'), (2, 'b');
UPDATE numbered SET v = v || v WHERE v LIKE 'b%';
DELETE FROM numbered WHERE v LIKE 'a%' RETURNING *;
SELECT * FROM numbered;

-- refused: no _id column, changing _id, a $$ROOT column, a NULL _id,
-- unacknowledged writes, a mongodump file
CREATE FOREIGN TABLE no_id (v text)
  SERVER modify_src OPTIONS (database 'mongo_etl_regress', collection 'modified');
DELETE FROM no_id;
UPDATE numbered SET _id = 3;
UPDATE items_doc SET doc = '{}';
INSERT INTO items VALUES ('text id', 1);
CREATE FOREIGN TABLE numbered_lax (_id int, v text)
  SERVER modify_src OPTIONS (database 'mongo_etl_regress', collection 'modified',
                             on_type_mismatch 'null');
UPDATE numbered_lax SET v = 'x' WHERE v IS NULL;
SELECT :'mongo_uri' || :'mongo_sep' || 'w=0' AS unacknowledged \gset
CREATE SERVER modify_w0 FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'unacknowledged');
CREATE USER MAPPING FOR CURRENT_USER SERVER modify_w0 :mongo_login;
CREATE FOREIGN TABLE items_w0 (_id text, n int) SERVER modify_w0
  OPTIONS (database 'mongo_etl_regress', collection 'modified');
INSERT INTO items_w0 VALUES ('w0', 1);
DELETE FROM items_w0;
-- an acknowledged write concern from the uri is honoured
SELECT :'mongo_uri' || :'mongo_sep' || 'w=1&journal=true&wtimeoutMS=5000' AS journaled \gset
CREATE SERVER modify_j FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'journaled');
CREATE USER MAPPING FOR CURRENT_USER SERVER modify_j :mongo_login;
CREATE FOREIGN TABLE items_j (_id text, n int) SERVER modify_j
  OPTIONS (database 'mongo_etl_regress', collection 'modified');
INSERT INTO items_j VALUES ('j', 1);
UPDATE items_j SET n = 2;
DELETE FROM items_j RETURNING *;
\getenv test_dir MONGO_ETL_TEST_DIR
SELECT :'test_dir' || '/dump' AS dump_dir \gset
CREATE SERVER modify_dump FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir :'dump_dir');
CREATE USER MAPPING FOR CURRENT_USER SERVER modify_dump;
CREATE FOREIGN TABLE dumped (_id text) SERVER modify_dump
  OPTIONS (file 'regress/users.bson');
DELETE FROM dumped;

-- privileges: UPDATE and DELETE need their own grants
CREATE ROLE modify_reader;
GRANT USAGE ON SCHEMA m TO modify_reader;
GRANT SELECT ON items TO modify_reader;
CREATE USER MAPPING FOR modify_reader SERVER modify_src
  OPTIONS (password_required 'false');
SET ROLE modify_reader;
UPDATE items SET n = 1;
DELETE FROM items;
RESET ROLE;

-- the reverse of a load: 100,000 rows into a collection and back, equal
CREATE FOREIGN TABLE round_trip (
  _id text, seq int, name text, score float8, created timestamptz, tags jsonb)
  SERVER modify_src OPTIONS (database 'mongo_etl_regress',
                             collection 'round_trip');
-- round_trip holds one document (test/fixtures)
DELETE FROM round_trip;
ALTER FOREIGN TABLE round_trip ALTER COLUMN _id OPTIONS (bson_type 'objectId');
CREATE TABLE round_source AS
  SELECT lpad(to_hex(i), 24, '0') AS _id, i AS seq, 'name ' || i AS name,
         i / 7.0::float8 AS score,
         timestamptz '2020-01-01' + i * interval '1.001 second' AS created,
         jsonb_build_array(i, 'x', jsonb_build_object('k', i % 5)) AS tags
  FROM generate_series(1, 100000) i;
INSERT INTO round_trip SELECT * FROM round_source;
SELECT count(*) AS differing FROM (
  (SELECT * FROM round_source EXCEPT ALL SELECT * FROM round_trip)
  UNION ALL
  (SELECT * FROM round_trip EXCEPT ALL SELECT * FROM round_source)) d;
-- FerretDB's SQLite backend deletes at most 32,766 documents at once
DELETE FROM round_trip WHERE seq <= 30000;
DELETE FROM round_trip WHERE seq <= 60000;
DELETE FROM round_trip WHERE seq <= 90000;
DELETE FROM round_trip;
SELECT count(*) FROM round_trip;

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA m CASCADE;
DROP SERVER modify_src, modify_w0, modify_j, modify_dump CASCADE;
DROP ROLE modify_reader;
