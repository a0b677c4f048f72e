-- test/demo.sql: the SQL of `make demo`, run by test/demo.sh.

\echo '-- MongoDB as foreign tables'
CREATE EXTENSION mongo_etl;
-- credentials in the uri (DocumentDB's) go into the user mapping
SELECT regexp_replace(:'mongo_uri', '^mongodb://[^@/]*@', 'mongodb://') AS server_uri,
       CASE WHEN m IS NULL THEN '' ELSE format('OPTIONS (username %L, password %L)', m[1], m[2]) END AS login
  FROM regexp_match(:'mongo_uri', '^mongodb://([^:@/]+):([^@/]*)@') AS m \gset
CREATE SERVER src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'server_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER src :login;
CREATE SCHEMA staging;
CREATE FOREIGN TABLE staging.users (
  _id text, name text, email text, age int, created timestamptz,
  score float8, active bool,
  city text OPTIONS (field 'address.city'),
  zip text OPTIONS (field 'address.zip'),
  tags jsonb
) SERVER src OPTIONS (database 'shop', collection 'users');
CREATE FOREIGN TABLE staging.orders (
  _id text, user_id text, placed timestamptz, status text,
  total numeric(12,2), items jsonb
) SERVER src OPTIONS (database 'shop', collection 'orders');

\echo '-- the target tables'
CREATE TABLE public.users (
  _id text PRIMARY KEY, name text, email text, age int, created timestamptz,
  score float8, active bool, city text, zip text, tags jsonb
);
CREATE TABLE public.orders (
  _id text PRIMARY KEY, user_id text REFERENCES public.users, placed timestamptz,
  status text, total numeric(12,2), items jsonb
);

\echo '-- the migration: INSERT ... SELECT, profiled'
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF)
  INSERT INTO public.users SELECT * FROM staging.users;
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF)
  INSERT INTO public.orders SELECT * FROM staging.orders;

\echo '-- rows in MongoDB and in PostgreSQL'
SELECT 'users' AS collection,
       (SELECT count(*) FROM staging.users) AS in_mongodb,
       (SELECT count(*) FROM public.users) AS in_postgresql
UNION ALL
SELECT 'orders',
       (SELECT count(*) FROM staging.orders),
       (SELECT count(*) FROM public.orders);

\echo '-- the copy is ordinary PostgreSQL: paid revenue per city'
SELECT u.city, count(*) AS paid_orders, sum(o.total) AS revenue
  FROM public.orders o JOIN public.users u ON u._id = o.user_id
 WHERE o.status = 'paid'
 GROUP BY u.city ORDER BY revenue DESC;

\echo '-- and jsonb from nested arrays: best-selling SKUs'
SELECT item ->> 'sku' AS sku, sum((item ->> 'qty')::int) AS units
  FROM public.orders, jsonb_array_elements(items) AS item
 GROUP BY 1 ORDER BY units DESC, sku LIMIT 5;

\echo '-- the bulk path: mongo_etl.load writes in batches, as COPY does'
TRUNCATE public.orders;
CALL mongo_etl.load('staging.orders', 'public.orders');
SELECT count(*) AS orders_loaded FROM public.orders;

\echo '-- keeping up: mongo_etl.sync upserts what changed (here, everything once)'
CALL mongo_etl.sync('staging.orders', 'public.orders');
SELECT source, target, last_rows FROM mongo_etl.sync_state;

\echo '-- IMPORT FOREIGN SCHEMA: the same collections, columns inferred'
CREATE SCHEMA inferred;
IMPORT FOREIGN SCHEMA shop FROM SERVER src INTO inferred;
SELECT c.relname AS table, a.attname AS column,
       format_type(a.atttypid, a.atttypmod) AS type,
       (SELECT option_value FROM pg_options_to_table(a.attfdwoptions)
         WHERE option_name = 'import_types') AS seen
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'inferred'::regnamespace AND a.attnum > 0
 ORDER BY c.relname, a.attnum;
