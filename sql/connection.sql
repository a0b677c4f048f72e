--
-- Connections: the cached client, its rebuilding after ALTER, and errors,
-- which must never look like an empty result.
--
-- On DocumentDB, expected/connection_1.out: it requires authentication, so
-- a mapping without credentials (password_required 'false') is refused.
\i sql/include/mongo_uri.sql
\getenv pgport PGPORT
CREATE SERVER regress FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress :mongo_login;
CREATE FOREIGN TABLE users (name text)
  SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'users');

-- Runs a query and reports how it failed: SQLSTATE, message, whether the
-- server's own message is in the detail, and whether it failed within
-- the given number of seconds.  Server messages vary between MongoDB
-- implementations, so they are not printed.
CREATE FUNCTION query_error(query text, seconds int,
  OUT state text, OUT message text, OUT has_detail bool, OUT in_time bool)
LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz := clock_timestamp();
  detail text;
BEGIN
  EXECUTE query;
  state := 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE,
                          message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL;
  has_detail := coalesce(detail, '') <> '';
  in_time := clock_timestamp() - started < make_interval(secs => seconds);
END $$;

\i sql/include/mongo_exec.sql

SELECT count(*) FROM users;

-- nothing listening: an error at once, with libmongoc's reason
CREATE SERVER refused FOREIGN DATA WRAPPER mongo_etl
  OPTIONS (uri 'mongodb://127.0.0.1:1/');
CREATE USER MAPPING FOR CURRENT_USER SERVER refused;
CREATE FOREIGN TABLE refused_t (a int)
  SERVER refused OPTIONS (database 'x', collection 'y');
SELECT * FROM refused_t;
SELECT * FROM query_error('SELECT * FROM refused_t', 5);

-- a server that is not MongoDB (this PostgreSQL): an error, not a hang
CREATE SERVER not_mongo FOREIGN DATA WRAPPER mongo_etl
  OPTIONS (uri 'mongodb://127.0.0.1/?connectTimeoutMS=2000');
ALTER SERVER not_mongo OPTIONS (SET uri :'mongo_uri');
SELECT format('mongodb://127.0.0.1:%s/?connectTimeoutMS=2000&socketTimeoutMS=2000', :'pgport') AS pg_uri \gset
ALTER SERVER not_mongo OPTIONS (SET uri :'pg_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER not_mongo;
CREATE FOREIGN TABLE not_mongo_t (a int)
  SERVER not_mongo OPTIONS (database 'x', collection 'y');
SELECT * FROM query_error('SELECT * FROM not_mongo_t', 10);

-- ALTER SERVER drops the cached client: the next query uses the new uri
ALTER SERVER regress OPTIONS (SET uri 'mongodb://127.0.0.1:1/');
SELECT * FROM query_error('SELECT count(*) FROM users', 5);
ALTER SERVER regress OPTIONS (SET uri :'mongo_uri');
SELECT count(*) FROM users;

-- ALTER USER MAPPING too: with credentials the server does not know the
-- client authenticates and is refused; with the test's own (none for a
-- server without authentication) it reads again.  Special characters in
-- the password reach libmongoc intact.
\if :mongo_auth
ALTER USER MAPPING FOR CURRENT_USER SERVER regress
  OPTIONS (SET username 'etl', SET password 'p@ss:/w?rd#%&=');
\else
ALTER USER MAPPING FOR CURRENT_USER SERVER regress
  OPTIONS (ADD username 'etl', ADD password 'p@ss:/w?rd#%&=');
\endif
SELECT * FROM query_error('SELECT count(*) FROM users', 10);
\if :mongo_auth
ALTER USER MAPPING FOR CURRENT_USER SERVER regress
  OPTIONS (SET username :'mongo_user', SET password :'mongo_password');
\else
ALTER USER MAPPING FOR CURRENT_USER SERVER regress
  OPTIONS (DROP username, DROP password);
\endif
SELECT count(*) FROM users;

-- row estimates: a backend keeps what the server said about a collection
-- across transactions, for mongo_etl.estimate_cache_seconds; ALTER of the
-- table or its server forgets it; 0 asks again in every transaction
CREATE FUNCTION estimated_rows(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
  plan jsonb;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
  RETURN plan #> '{0,Plan,Plan Rows}';
END $$;
SELECT pg_temp.mongo_exec('db.estimates.drop(); db.estimates.insert_many([{''_id'': i} for i in range(10)])');
CREATE FOREIGN TABLE estimates (_id int)
  SERVER regress OPTIONS (database 'mongo_etl_regress');
SHOW mongo_etl.estimate_cache_seconds;
SELECT estimated_rows('SELECT * FROM estimates');
SELECT pg_temp.mongo_exec('db.estimates.insert_many([{''_id'': i} for i in range(10, 30)])');
SELECT estimated_rows('SELECT * FROM estimates') AS remembered;
ALTER FOREIGN TABLE estimates OPTIONS (ADD batch_size '100');
SELECT estimated_rows('SELECT * FROM estimates') AS after_alter_table;
SELECT pg_temp.mongo_exec('db.estimates.insert_many([{''_id'': i} for i in range(30, 50)])');
SELECT estimated_rows('SELECT * FROM estimates') AS remembered;
ALTER SERVER regress OPTIONS (ADD use_remote_estimate 'true');
SELECT estimated_rows('SELECT * FROM estimates') AS after_alter_server;
SET mongo_etl.estimate_cache_seconds = 0;
SELECT pg_temp.mongo_exec('db.estimates.insert_many([{''_id'': i} for i in range(50, 60)])');
SELECT estimated_rows('SELECT * FROM estimates') AS asked_again;
-- within a transaction the estimate stays, whatever the setting
BEGIN;
SELECT estimated_rows('SELECT * FROM estimates') AS asked_again;
SELECT pg_temp.mongo_exec('db.estimates.insert_many([{''_id'': i} for i in range(60, 70)])');
SELECT estimated_rows('SELECT * FROM estimates') AS same_transaction;
COMMIT;
SELECT estimated_rows('SELECT * FROM estimates') AS asked_again;
-- and it expires
SET mongo_etl.estimate_cache_seconds = 1;
SELECT pg_temp.mongo_exec('db.estimates.insert_many([{''_id'': i} for i in range(70, 80)])');
SELECT pg_sleep(1.5);
SELECT estimated_rows('SELECT * FROM estimates') AS expired;
RESET mongo_etl.estimate_cache_seconds;
ALTER SERVER regress OPTIONS (DROP use_remote_estimate);
DROP FUNCTION estimated_rows;

-- a server error in the middle of a scan is an ERROR, not the end of the
-- data: the collection is dropped while the first batch of 50 is read,
-- so the next getMore fails
SELECT pg_temp.mongo_exec('db.midscan.drop(); db.midscan.insert_many([{''_id'': i, ''n'': i} for i in range(300)])');
CREATE FOREIGN TABLE midscan (_id int, n int)
  SERVER regress OPTIONS (database 'mongo_etl_regress', batch_size '50');
SELECT count(*), sum(n) FROM midscan;
SELECT * FROM query_error($$
  SELECT count(*) FROM midscan WHERE n <> 10 OR pg_temp.mongo_exec('db.midscan.drop()')
$$, 10);
-- the client still works afterwards
SELECT count(*) FROM midscan;
SELECT count(*) FROM users;

-- statement_timeout stops a long scan (20,000 documents rescanned for
-- every outer row), and the next query runs normally
CREATE FOREIGN TABLE big (n int)
  SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'big');
SET enable_material = off;
SET statement_timeout = '1s';
SELECT count(*) FROM big a, big b;
RESET statement_timeout;
RESET enable_material;
SELECT count(*) FROM big;

-- a non-superuser's user mapping must carry a password, unless a
-- superuser says otherwise; connection strings naming files on the
-- database server are for those who may read them
CREATE ROLE regress_mongo_user;
GRANT USAGE ON FOREIGN DATA WRAPPER mongo_etl TO regress_mongo_user;
GRANT USAGE ON FOREIGN SERVER regress TO regress_mongo_user;
GRANT SELECT ON users TO regress_mongo_user;
CREATE USER MAPPING FOR regress_mongo_user SERVER regress;
SET ROLE regress_mongo_user;
SELECT count(*) FROM users;
SELECT name FROM users LIMIT 1;
ALTER USER MAPPING FOR regress_mongo_user SERVER regress
  OPTIONS (ADD password_required 'false');
CREATE SERVER with_ca FOREIGN DATA WRAPPER mongo_etl
  OPTIONS (uri 'mongodb://127.0.0.1:1/?tls=true&tlsCAFile=/etc/ssl/certs/ca-certificates.crt');
CREATE SERVER with_key FOREIGN DATA WRAPPER mongo_etl
  OPTIONS (uri 'mongodb://127.0.0.1:1/?tls=true&tlsCertificateKeyFile=/etc/ssl/private/key.pem');
RESET ROLE;
ALTER USER MAPPING FOR regress_mongo_user SERVER regress
  OPTIONS (ADD password_required 'false');
SET ROLE regress_mongo_user;
SELECT count(*) FROM users;
RESET ROLE;
-- a superuser may name the files
CREATE SERVER with_ca FOREIGN DATA WRAPPER mongo_etl
  OPTIONS (uri 'mongodb://127.0.0.1:1/?tls=true&tlsCAFile=/etc/ssl/certs/ca-certificates.crt');
DROP SERVER with_ca;
DROP USER MAPPING FOR regress_mongo_user SERVER regress;
REVOKE ALL ON users FROM regress_mongo_user;
REVOKE ALL ON FOREIGN SERVER regress FROM regress_mongo_user;
REVOKE ALL ON FOREIGN DATA WRAPPER mongo_etl FROM regress_mongo_user;
DROP ROLE regress_mongo_user;

-- the backend's connections, listed and closed
SELECT mongo_etl.disconnect_all() IS NOT NULL AS started_clean;
SELECT count(*) FROM mongo_etl.get_connections();
SELECT count(*) FROM users;
SELECT server_name, user_name = current_user AS my_mapping, valid, in_use
  FROM mongo_etl.get_connections();
-- a changed server makes the client invalid until the next query
ALTER SERVER regress VERSION '2';
SELECT server_name, valid FROM mongo_etl.get_connections();
SELECT count(*) FROM users;
SELECT server_name, valid FROM mongo_etl.get_connections();
-- a connection a cursor reads through stays open
BEGIN;
DECLARE reading CURSOR FOR SELECT name FROM users;
FETCH 1 FROM reading;
SELECT server_name, in_use FROM mongo_etl.get_connections();
SELECT mongo_etl.disconnect('regress');
SELECT mongo_etl.disconnect_all();
CLOSE reading;
COMMIT;
SELECT mongo_etl.disconnect('regress');
SELECT count(*) FROM mongo_etl.get_connections();
SELECT mongo_etl.disconnect('regress');
SELECT mongo_etl.disconnect('no_such_server');
-- the next query connects again
SELECT count(*) FROM users;
SELECT server_name FROM mongo_etl.get_connections();
SELECT mongo_etl.disconnect_all();

DROP FUNCTION query_error;
SET client_min_messages = warning;
DROP SERVER regress, refused, not_mongo CASCADE;
