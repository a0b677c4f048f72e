--
-- Options: every option is validated when it is set, with a clear error.
--
\i sql/include/mongo_uri.sql
CREATE EXTENSION mongo_etl;
SELECT extname, extversion, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'mongo_etl';
\dew mongo_etl

-- the wrapper itself takes no options
ALTER FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri 'mongodb://127.0.0.1/');

-- server: uri is required, parsed by libmongoc, and carries no password
CREATE SERVER bad FOREIGN DATA WRAPPER mongo_etl;
CREATE SERVER bad FOREIGN DATA WRAPPER mongo_etl OPTIONS (database 'shop');
CREATE SERVER bad FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri 'http://127.0.0.1/');
CREATE SERVER bad FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri 'mongodb://');
CREATE SERVER bad FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri 'mongodb://127.0.0.1/?readPreference=sometimes');
CREATE SERVER bad FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri 'mongodb://etl:secret@127.0.0.1/');
CREATE SERVER bad FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri 'mongodb://127.0.0.1/', uri 'mongodb://127.0.0.1/');
-- libmongoc wants a user with a mechanism: the hint points to the mapping
CREATE SERVER bad FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri 'mongodb://127.0.0.1/?authMechanism=SCRAM-SHA-256');

-- what libmongoc accepts is accepted, without contacting any server
CREATE SERVER srv FOREIGN DATA WRAPPER mongo_etl
  OPTIONS (uri 'mongodb+srv://cluster0.example.net/shop?tls=true&authSource=admin&appname=nightly');
CREATE SERVER rs FOREIGN DATA WRAPPER mongo_etl
  OPTIONS (uri 'mongodb://127.0.0.1:27017,127.0.0.1:27018/?replicaSet=rs0&readPreference=secondaryPreferred&connectTimeoutMS=2000');
CREATE SERVER userinuri FOREIGN DATA WRAPPER mongo_etl
  OPTIONS (uri 'mongodb://etl@127.0.0.1/?authMechanism=SCRAM-SHA-256');
SELECT srvname, srvoptions FROM pg_foreign_server ORDER BY srvname;

-- ALTER is validated too, and a rejected ALTER leaves the server as it was
ALTER SERVER rs OPTIONS (SET uri 'mongodb://etl:secret@127.0.0.1/');
ALTER SERVER rs OPTIONS (DROP uri);
ALTER SERVER rs OPTIONS (ADD batch_size '10');
SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'rs';

-- user mapping: username, password and the authentication mechanism
CREATE USER MAPPING FOR CURRENT_USER SERVER rs OPTIONS (user 'etl');
CREATE USER MAPPING FOR CURRENT_USER SERVER rs OPTIONS (username '');
CREATE USER MAPPING FOR CURRENT_USER SERVER rs
  OPTIONS (username 'etl', auth_mechanism 'scram-sha-256');
CREATE USER MAPPING FOR CURRENT_USER SERVER rs
  OPTIONS (username 'etl', password 'p@ss:/w?rd#%&=''"',
           auth_mechanism 'SCRAM-SHA-256');

-- foreign table: database, collection, batch_size
CREATE FOREIGN TABLE ft (a int) SERVER rs OPTIONS (db 'shop');
CREATE FOREIGN TABLE ft (a int) SERVER rs OPTIONS (database '');
CREATE FOREIGN TABLE ft (a int) SERVER rs OPTIONS (collection '');
CREATE FOREIGN TABLE ft (a int) SERVER rs OPTIONS (batch_size '0');
CREATE FOREIGN TABLE ft (a int) SERVER rs OPTIONS (batch_size '-5');
CREATE FOREIGN TABLE ft (a int) SERVER rs OPTIONS (batch_size 'many');
CREATE FOREIGN TABLE ft (a int) SERVER rs OPTIONS (batch_size '99999999999');
CREATE FOREIGN TABLE ft (a int) SERVER rs
  OPTIONS (database 'shop', collection 'orders', batch_size '500');
ALTER FOREIGN TABLE ft OPTIONS (SET batch_size '0');

-- column: field, a dotted path
ALTER FOREIGN TABLE ft ALTER COLUMN a OPTIONS (path 'a.b');
ALTER FOREIGN TABLE ft ALTER COLUMN a OPTIONS (field '');
ALTER FOREIGN TABLE ft ALTER COLUMN a OPTIONS (field 'a..b');
ALTER FOREIGN TABLE ft ALTER COLUMN a OPTIONS (field '.a');
ALTER FOREIGN TABLE ft ALTER COLUMN a OPTIONS (field 'a.');
ALTER FOREIGN TABLE ft ALTER COLUMN a OPTIONS (field '$where');
ALTER FOREIGN TABLE ft ALTER COLUMN a OPTIONS (field 'a.$b');
ALTER FOREIGN TABLE ft ALTER COLUMN a OPTIONS (field '$$root');
ALTER FOREIGN TABLE ft ALTER COLUMN a OPTIONS (field '$$ROOT.name');
ALTER FOREIGN TABLE ft ALTER COLUMN a OPTIONS (field 'address.geo.lat');
SELECT attname, attfdwoptions FROM pg_attribute
 WHERE attrelid = 'ft'::regclass AND attnum > 0;

-- a table needs a database: from its option or from the server's uri
CREATE FOREIGN TABLE nodb (a int) SERVER rs;
SELECT * FROM nodb;
CREATE FOREIGN TABLE dbinuri (a int) SERVER srv;
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM dbinuri;

-- EXPLAIN without ANALYZE shows the command and contacts no server
EXPLAIN (VERBOSE, COSTS OFF) SELECT a FROM ft;

-- no user mapping: a clear error at the first scan
CREATE SERVER unmapped FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE FOREIGN TABLE unmapped_t (a int) SERVER unmapped OPTIONS (database 'x');
-- (PostgreSQL's own error, whose wording changed in 18: its code)
DO $$
BEGIN
  PERFORM * FROM unmapped_t;
EXCEPTION WHEN undefined_object THEN
  RAISE NOTICE 'no user mapping: % (%)', SQLSTATE,
    SQLERRM LIKE 'user mapping not found for %';
END $$;

SET client_min_messages = warning;
DROP SERVER srv, rs, userinuri, unmapped CASCADE;
