--
-- Databases whose encoding is not UTF8: text is converted to UTF-8 on its
-- way to MongoDB (INSERT, UPDATE, the _id of a row-by-row UPDATE or
-- DELETE, $$ROOT and json values) and back on reads (LATIN1); in a
-- SQL_ASCII database, whose bytes have no declared encoding, bytes that
-- are not UTF-8 are refused, naming the column.
--
\i sql/include/mongo_uri.sql
\set regress_db :DBNAME
CREATE DATABASE mongo_etl_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'
  TEMPLATE template0;
CREATE DATABASE mongo_etl_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'
  TEMPLATE template0;

\c mongo_etl_latin1
SET client_encoding = 'UTF8';
SHOW server_encoding;
CREATE EXTENSION mongo_etl;
CREATE SERVER enc FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER enc :mongo_login;
CREATE FOREIGN TABLE words (_id text, word text, extra json)
  SERVER enc OPTIONS (database 'mongo_etl_regress', collection 'encoding');
CREATE FOREIGN TABLE words_root (_id text, doc jsonb OPTIONS (field '$$ROOT'))
  SERVER enc OPTIONS (database 'mongo_etl_regress', collection 'encoding');
DELETE FROM words;
INSERT INTO words VALUES ('é1', 'café', '{"ville": "Besançon"}'),
                         ('plain', 'ascii', NULL);
INSERT INTO words_root VALUES ('r1', '{"_id": "r1", "word": "naïve"}');
SELECT _id, word, extra FROM words ORDER BY _id;
-- the _id's lookup and the new value go converted; the WHERE clause on
-- text is checked here (not sent to MongoDB in a LATIN1 database)
UPDATE words SET word = 'crème brûlée' WHERE _id = 'é1';
SELECT _id, word FROM words ORDER BY _id;

-- names go to MongoDB in UTF-8 too: a field with an accent is written and
-- read as the UTF8 database's tables name it, and EXPLAIN shows the
-- command in this database's encoding
CREATE FOREIGN TABLE towns (_id text, name text OPTIONS (field 'nom_accentué'))
  SERVER enc OPTIONS (database 'mongo_etl_regress', collection 'encoding_names');
DELETE FROM towns;
INSERT INTO towns VALUES ('t1', 'Besançon');
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM towns;
EXPLAIN (VERBOSE, COSTS OFF) INSERT INTO towns VALUES ('t2', 'Sète');
SELECT _id, name FROM towns;
-- IMPORT FOREIGN SCHEMA names the column in this database's encoding
CREATE SCHEMA imported;
SET client_min_messages = warning;	-- (how it sampled depends on the server)
IMPORT FOREIGN SCHEMA mongo_etl_regress LIMIT TO (encoding_names)
  FROM SERVER enc INTO imported;
RESET client_min_messages;
SELECT attname, attfdwoptions FROM pg_attribute
 WHERE attrelid = 'imported.encoding_names'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT * FROM imported.encoding_names;

-- read from the UTF8 database: the same text, so MongoDB holds UTF-8
\c :regress_db
CREATE SERVER enc FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER enc :mongo_login;
CREATE FOREIGN TABLE words (_id text, word text, extra json)
  SERVER enc OPTIONS (database 'mongo_etl_regress', collection 'encoding');
SELECT _id, word, extra, octet_length(word) AS bytes FROM words ORDER BY _id;
CREATE FOREIGN TABLE towns (_id text, name text OPTIONS (field 'nom_accentué'))
  SERVER enc OPTIONS (database 'mongo_etl_regress', collection 'encoding_names');
SELECT _id, name, octet_length(name) AS bytes FROM towns;
DELETE FROM towns;

\c mongo_etl_latin1
SET client_encoding = 'UTF8';
DELETE FROM words WHERE _id = 'é1';
SELECT _id, word FROM words ORDER BY _id;

-- SQL_ASCII: UTF-8 bytes are written as they are; other bytes are refused
\c mongo_etl_ascii
SHOW server_encoding;
CREATE EXTENSION mongo_etl;
CREATE SERVER enc FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER enc :mongo_login;
CREATE FOREIGN TABLE words (_id text, word text)
  SERVER enc OPTIONS (database 'mongo_etl_regress', collection 'encoding');
INSERT INTO words VALUES ('a1', 'déjà vu');
INSERT INTO words VALUES ('a2', 'caf' || chr(233));
SELECT _id, word FROM words ORDER BY _id;
DELETE FROM words;
-- and a field name that is not UTF-8 is refused, naming its column
DO $$
BEGIN
  EXECUTE format('CREATE FOREIGN TABLE bad_field (_id text, name text OPTIONS (field %L)) SERVER enc OPTIONS (database %L, collection %L)',
                 'nom_' || chr(233), 'mongo_etl_regress', 'encoding');
END $$;
SELECT name FROM bad_field;

\c :regress_db
DROP SERVER enc CASCADE;
DROP DATABASE mongo_etl_latin1;
DROP DATABASE mongo_etl_ascii;
