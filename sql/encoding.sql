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

-- read from the UTF8 database: the same text, so MongoDB holds UTF-8
\c :regress_db
CREATE SERVER enc FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER enc :mongo_login;
CREATE FOREIGN TABLE words (_id text, word text, extra json)
  SERVER enc OPTIONS (database 'mongo_etl_regress', collection 'encoding');
SELECT _id, word, extra, octet_length(word) AS bytes FROM words ORDER BY _id;

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

\c :regress_db
DROP SERVER enc CASCADE;
DROP DATABASE mongo_etl_latin1;
DROP DATABASE mongo_etl_ascii;
