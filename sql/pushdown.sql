--
-- Filters sent to MongoDB: each pushed construct shown by EXPLAIN, and every
-- query's result compared with the result PostgreSQL computes alone
-- (mongo_etl.pushdown off), over test/fixtures/mixed.json: one field
-- holding several BSON types, missing fields, nulls, nested documents.
--
-- On DocumentDB, expected/pushdown_1.out: it keeps a stored -0.0 (FerretDB
-- reads it back as 0), and words an unknown stage otherwise.
\i sql/include/mongo_uri.sql
\getenv test_dir MONGO_ETL_TEST_DIR
CREATE SERVER pushdown FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER pushdown :mongo_login;
SET timezone = 'UTC';
CREATE SCHEMA pushdown;
SET search_path = pushdown;

-- bson_type declares the BSON types a field holds; any other is a mismatch
CREATE FOREIGN TABLE mixed (
  _id text OPTIONS (bson_type 'objectId, string'),
  any_id text OPTIONS (field '_id'),
  name text OPTIONS (bson_type 'string'),
  any_name text OPTIONS (field 'name'),
  name_c text OPTIONS (field 'name', bson_type 'string') COLLATE "C",
  qty int8,
  qty_num numeric OPTIONS (field 'qty'),
  qty4 int4 OPTIONS (field 'qty'),
  price float8 OPTIONS (bson_type 'double, int'),
  any_price float8 OPTIONS (field 'price'),
  created timestamptz,
  created_date timestamptz OPTIONS (field 'created', bson_type 'date'),
  created_ts timestamp OPTIONS (field 'created', bson_type 'date'),
  day date OPTIONS (field 'created'),
  active bool,
  city text OPTIONS (field 'addr.city', bson_type 'string', on_type_mismatch 'skip')
) SERVER pushdown
  OPTIONS (database 'mongo_etl_regress', collection 'mixed', on_type_mismatch 'null');

ALTER FOREIGN TABLE mixed ALTER COLUMN name OPTIONS (SET bson_type 'strng');
ALTER FOREIGN TABLE mixed ALTER COLUMN name OPTIONS (SET bson_type 'null');
ALTER FOREIGN TABLE mixed ALTER COLUMN name OPTIONS (SET bson_type ' , ');
CREATE FOREIGN TABLE strict_names (name text OPTIONS (bson_type 'string'))
  SERVER pushdown OPTIONS (database 'mongo_etl_regress', collection 'mixed');
SELECT name FROM strict_names WHERE name IS NOT NULL;

-- The filter each query sends (from EXPLAIN), and its rows, which must be
-- the rows PostgreSQL finds when it evaluates every clause itself.
CREATE FUNCTION pushed(query text, command OUT text, result OUT text)
LANGUAGE plpgsql AS $$
DECLARE
  plan jsonb;
  local text;
BEGIN
  PERFORM set_config('client_min_messages', 'error', true);
  EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) ' || query INTO plan;
  -- the command without what every scan sends
  command := coalesce(((jsonb_path_query_first(plan,
                         'strict $.**."MongoDB Command"') #>> '{}')::jsonb
                      - '{find,aggregate,projection,batchSize,cursor,$db}'::text[])::text,
                     '-');
  EXECUTE format('SELECT string_agg(r::text, '' '' ORDER BY r::text) FROM (%s) r',
                 query) INTO result;
  PERFORM set_config('mongo_etl.pushdown', 'off', true);
  EXECUTE format('SELECT string_agg(r::text, '' '' ORDER BY r::text) FROM (%s) r',
                 query) INTO local;
  PERFORM set_config('mongo_etl.pushdown', 'on', true);
  IF result IS DISTINCT FROM local THEN
    RAISE EXCEPTION 'pushdown changes the result of %', query
      USING DETAIL = format('With pushdown: %s; without: %s.', result, local);
  END IF;
  result := coalesce(result, '(no rows)');
END $$;

-- numbers: int8 also takes BSON timestamps, let through by $type
SELECT * FROM pushed($$SELECT any_id, qty FROM mixed WHERE qty = 5$$);
SELECT * FROM pushed($$SELECT any_id, qty FROM mixed WHERE qty <> 5$$);
SELECT * FROM pushed($$SELECT qty FROM mixed WHERE qty > 0$$);
SELECT * FROM pushed($$SELECT qty FROM mixed WHERE qty >= 7$$);
SELECT * FROM pushed($$SELECT qty FROM mixed WHERE qty < 0$$);
SELECT * FROM pushed($$SELECT qty FROM mixed WHERE 0 >= qty$$);
SELECT * FROM pushed($$SELECT qty FROM mixed WHERE qty IN (5, 7, NULL)$$);
SELECT * FROM pushed($$SELECT qty FROM mixed WHERE qty NOT IN (5, 0)$$);
SELECT * FROM pushed($$SELECT qty FROM mixed WHERE qty < 2.6$$);
SELECT * FROM pushed($$SELECT qty_num FROM mixed WHERE qty_num <= 2$$);
SELECT * FROM pushed($$SELECT qty_num FROM mixed WHERE qty_num = 2.5$$);
SELECT * FROM pushed($$SELECT qty4 FROM mixed WHERE qty4 > 1$$);
-- NOT IN with a NULL is never true, <> ALL of nothing always: both local
SELECT * FROM pushed($$SELECT qty4 FROM mixed WHERE qty4 NOT IN (1, NULL)$$);
SELECT * FROM pushed($$SELECT count(*) FROM mixed WHERE qty4 <> ALL ('{}')$$);
SELECT * FROM pushed($$SELECT count(*) FROM mixed WHERE qty4 = ANY ('{}')$$);
-- float8: =, <= and >= only for fields declared to hold doubles and
-- int32s (an int64 or a Decimal128 is rounded into float8, which MongoDB
-- would not do); > goes as {$not: {$lte: v}}, which also keeps NaN
SELECT * FROM pushed($$SELECT price FROM mixed WHERE price < 1$$);
SELECT * FROM pushed($$SELECT price FROM mixed WHERE price = 9007199254740992$$);
SELECT * FROM pushed($$SELECT any_price FROM mixed WHERE any_price = 9007199254740992$$);
SELECT * FROM pushed($$SELECT price FROM mixed WHERE price > 1$$);
SELECT * FROM pushed($$SELECT price FROM mixed WHERE price < 'NaN'$$);

-- numeric and float8 against int32, int64 and double values
-- (test/fixtures/numbers.json).  A numeric value goes as the double that
-- holds it exactly, when the scan reads that double back as the value;
-- any other as bounds ($gte/$lte) a double below and above it.  A double
-- or Decimal128 NaN reads as NaN, which PostgreSQL puts above every number
-- and MongoDB compares with none: "> v" and ">= v" go as {$not: {$lte: v}}
-- and {$not: {$lt: v}}, which MongoDB matches for NaN.  FerretDB stores no
-- NaN (and closes the connection on NaN in a filter), so the NaN cases run
-- only on mongodump files below, which send no filter.
CREATE FOREIGN TABLE numbers (
  _id int,
  n numeric OPTIONS (field 'v'),
  n2 numeric(30, 2) OPTIONS (field 'v'),
  ni numeric OPTIONS (field 'v', bson_type 'int, long'),
  f float8 OPTIONS (field 'v'),
  fd float8 OPTIONS (field 'v', bson_type 'int, long, double')
) SERVER pushdown
  OPTIONS (database 'mongo_etl_regress', collection 'numbers', on_type_mismatch 'null');
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n > 5$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n >= 5$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n < 5$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n <= 5$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n = 5$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n <> 5$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n > -2.5$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n = 9007199254740992$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n > 9007199254740992$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n < 'Infinity'$$);
-- bounds: 0.1, 9.99 and 0.1 + 0.2 are no double's exact value, 2^53 + 1
-- is none's at all
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n = 0.1$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n > 0.1$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n <= 9.99$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n = 0.30000000000000004$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n = 0.1000000000000000055511151231257827021181583404541015625$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n < 0.1000000000000000055511151231257827021181583404541015625$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n = 9007199254740993$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n <= 1e400$$);
-- stay local: <> a bound, NaN, IN with a bound
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n <> 0.1$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n < 'NaN'$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n IN (5, 0.1)$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n IN (5, 2.5, 10, NULL)$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers WHERE n NOT IN (5, 10)$$);
-- numeric(30, 2) reads 5.004 as 5.00: bounds half a cent wider
SELECT * FROM pushed($$SELECT _id, n2 FROM numbers WHERE n2 = 5$$);
SELECT * FROM pushed($$SELECT _id, n2 FROM numbers WHERE n2 > 5$$);
SELECT * FROM pushed($$SELECT _id, n2 FROM numbers WHERE n2 <= 5.00$$);
SELECT * FROM pushed($$SELECT _id, n2 FROM numbers WHERE n2 <> 5$$);
-- no double or Decimal128, no NaN: plain $gt
SELECT * FROM pushed($$SELECT _id, ni FROM numbers WHERE ni > 5$$);
-- float8: > and < also hold for int64 values, which it rounds; =, >=, <=
-- need them let through
SELECT * FROM pushed($$SELECT _id, f FROM numbers WHERE f > 5$$);
SELECT * FROM pushed($$SELECT _id, f FROM numbers WHERE f < 5$$);
SELECT * FROM pushed($$SELECT _id, f FROM numbers WHERE f <> 5$$);
SELECT * FROM pushed($$SELECT _id, f FROM numbers WHERE f >= 5$$);
SELECT * FROM pushed($$SELECT _id, f FROM numbers WHERE f > 4611686018427387904$$);
SELECT * FROM pushed($$SELECT _id, fd FROM numbers WHERE fd > 5$$);
SELECT * FROM pushed($$SELECT _id, fd FROM numbers WHERE fd >= 5$$);
SELECT * FROM pushed($$SELECT _id, fd FROM numbers WHERE fd <= 0.1$$);
SELECT * FROM pushed($$SELECT _id, fd FROM numbers WHERE fd = 'NaN'$$);
SELECT * FROM pushed($$SELECT _id, fd FROM numbers WHERE fd >= 'NaN'$$);

-- Run-time values: always bounds for numeric; a NaN makes the field's
-- test keep every document.  Each row with a generic plan (the values in
-- the command are the ones sent) and the result PostgreSQL finds alone.
CREATE FUNCTION pushed_param(query text, type text, val text,
                             command OUT text, result OUT text)
LANGUAGE plpgsql AS $$
DECLARE
  plan jsonb;
  local text;
BEGIN
  PERFORM set_config('client_min_messages', 'error', true);
  PERFORM set_config('plan_cache_mode', 'force_generic_plan', true);
  EXECUTE format('PREPARE param_query(%s) AS SELECT string_agg(r::text, '' '' ORDER BY r::text) FROM (%s) r',
                 type, query);
  EXECUTE format('EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) EXECUTE param_query(%L)', val)
    INTO plan;
  command := coalesce(((jsonb_path_query_first(plan,
                         'strict $.**."MongoDB Command"') #>> '{}')::jsonb
                      - '{find,aggregate,projection,batchSize,cursor,$db}'::text[])::text,
                     '-');
  EXECUTE format('EXECUTE param_query(%L)', val) INTO result;
  DEALLOCATE param_query;
  PERFORM set_config('mongo_etl.pushdown', 'off', true);
  EXECUTE format('SELECT string_agg(r::text, '' '' ORDER BY r::text) FROM (%s) r',
                 replace(query, '$1', quote_nullable(val) || '::' || type)) INTO local;
  PERFORM set_config('mongo_etl.pushdown', 'on', true);
  IF result IS DISTINCT FROM local THEN
    RAISE EXCEPTION 'pushdown changes the result of % with %', query, val
      USING DETAIL = format('With pushdown: %s; without: %s.', result, local);
  END IF;
  result := coalesce(result, '(no rows)');
END $$;
SELECT * FROM pushed_param($$SELECT _id, n FROM numbers WHERE n > $1$$, 'numeric', '5');
SELECT * FROM pushed_param($$SELECT _id, n FROM numbers WHERE n = $1$$, 'numeric', '0.1');
SELECT * FROM pushed_param($$SELECT _id, n FROM numbers WHERE n <= $1$$, 'numeric', '-2.5');
SELECT * FROM pushed_param($$SELECT _id, n FROM numbers WHERE n = $1$$, 'numeric', 'NaN');
SELECT * FROM pushed_param($$SELECT _id, n FROM numbers WHERE n <= $1$$, 'numeric', 'NaN');
SELECT * FROM pushed_param($$SELECT _id, n FROM numbers WHERE n > $1$$, 'numeric', NULL);
SELECT * FROM pushed_param($$SELECT _id, n2 FROM numbers WHERE n2 >= $1$$, 'numeric', '5.01');
SELECT * FROM pushed_param($$SELECT _id, n2 FROM numbers WHERE n2 = $1$$, 'int', '5');
SELECT * FROM pushed_param($$SELECT _id, f FROM numbers WHERE f > $1$$, 'float8', '5');
SELECT * FROM pushed_param($$SELECT _id, fd FROM numbers WHERE fd <= $1$$, 'float8', '0.1');
SELECT * FROM pushed_param($$SELECT _id, fd FROM numbers WHERE fd < $1$$, 'float8', 'NaN');
SELECT * FROM pushed_param($$SELECT _id, fd FROM numbers WHERE fd = $1$$, 'float8', 'NaN');
SELECT * FROM pushed_param($$SELECT _id, f FROM numbers WHERE f <> $1$$, 'float8', '5');

-- The same columns over a mongodump file holding NaN, the infinities and
-- Decimal128 values: what PostgreSQL keeps, which the filters above keep
-- on MongoDB (NaN for > and >=, a Decimal128 0.1 for the bounds of 0.1).
SELECT :'test_dir' || '/dump' AS dump_dir \gset
CREATE SERVER pushdown_dump FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir :'dump_dir');
CREATE FOREIGN TABLE numbers_special (
  _id int,
  n numeric OPTIONS (field 'v'),
  f float8 OPTIONS (field 'v')
) SERVER pushdown_dump
  OPTIONS (database 'regress', collection 'numbers_special', on_type_mismatch 'null');
SELECT _id, n FROM numbers_special WHERE n > 5 ORDER BY _id;
SELECT _id, n FROM numbers_special WHERE n >= 'Infinity' ORDER BY _id;
SELECT _id, n FROM numbers_special WHERE n = 0.1 ORDER BY _id;
SELECT _id, n FROM numbers_special WHERE n > 0.1 ORDER BY _id;
SELECT _id, n FROM numbers_special WHERE n = 5 ORDER BY _id;
SELECT _id, f FROM numbers_special WHERE f > 5 ORDER BY _id;
SELECT _id, f FROM numbers_special WHERE f < 5 ORDER BY _id;
-- On DocumentDB, which stores them, the same documents through the
-- server (test/run.sh copies the file into mongo_etl_dumped): NaN and
-- Decimal128 meet the pushed filters there (expected/pushdown_1.out)
\getenv mongo_server MONGO_ETL_SERVER
SELECT :'mongo_server' = 'documentdb' AS stores_all \gset
\if :stores_all
CREATE FOREIGN TABLE numbers_served (
  _id int,
  n numeric OPTIONS (field 'v', bson_type 'int, long, double, decimal'),
  f float8 OPTIONS (field 'v', bson_type 'int, long, double, decimal')
) SERVER pushdown
  OPTIONS (database 'mongo_etl_dumped', collection 'numbers_special');
SELECT * FROM pushed($$SELECT _id, n FROM numbers_served WHERE n > 5$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers_served WHERE n >= 'Infinity'$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers_served WHERE n = 0.1$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers_served WHERE n > 0.1$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers_served WHERE n = 5$$);
SELECT * FROM pushed($$SELECT _id, n FROM numbers_served WHERE n <= 5$$);
SELECT * FROM pushed($$SELECT _id, f FROM numbers_served WHERE f > 5$$);
SELECT * FROM pushed($$SELECT _id, f FROM numbers_served WHERE f >= 5$$);
SELECT * FROM pushed($$SELECT _id, f FROM numbers_served WHERE f < 5$$);
SELECT * FROM pushed($$SELECT _id, f FROM numbers_served WHERE f <> 5$$);
SELECT * FROM pushed_param($$SELECT _id, f FROM numbers_served WHERE f > $1$$, 'float8', '5');
SELECT * FROM pushed_param($$SELECT _id, f FROM numbers_served WHERE f < $1$$, 'float8', 'NaN');
SELECT * FROM pushed_param($$SELECT _id, n FROM numbers_served WHERE n >= $1$$, 'numeric', '0.1');
\endif

-- "> v" on a column that may hold NaN: MongoDB returns numbers only, not
-- the documents whose price is a string, null or missing; the one row the
-- local check removes is an int64 no double holds exactly, read as NULL
SELECT public.explain_analyze('SELECT price FROM mixed WHERE price > 1.0', true);

-- _id and text: = sends the string and the ObjectId it spells
SELECT * FROM pushed($$SELECT _id, name FROM mixed WHERE _id = '64b7f0c2e4b0a1a2b3c4d5e6'$$);
SELECT * FROM pushed($$SELECT _id, name FROM mixed WHERE _id = '64b7f0c2e4b0a1a2b3c4d5ff'$$);
SELECT * FROM pushed($$SELECT _id FROM mixed WHERE _id = 'order-2'$$);
SELECT * FROM pushed($$SELECT _id FROM mixed WHERE _id = '64B7F0C2E4B0A1A2B3C4D5E6'$$);
SELECT * FROM pushed($$SELECT any_id FROM mixed WHERE any_id = '64b7f0c2e4b0a1a2b3c4d5e6'$$);
SELECT * FROM pushed($$SELECT any_id, name FROM mixed WHERE name = '64b7f0c2e4b0a1a2b3c4d5e6'$$);
SELECT * FROM pushed($$SELECT any_id, any_name FROM mixed WHERE any_name = '64b7f0c2e4b0a1a2b3c4d5e6'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name <> 'alpha'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name IN ('alpha', 'beta', 'x', NULL)$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name NOT IN ('alpha', 'beta')$$);
SELECT * FROM pushed($$SELECT _id FROM mixed WHERE _id = ANY (ARRAY['order-2', '64b7f0c2e4b0a1a2b3c4d5e7'])$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name = 'abc'$$);
-- ordering needs the C collation (MongoDB compares UTF-8 bytes)
SELECT * FROM pushed($$SELECT name_c FROM mixed WHERE name_c < 'b'$$);
SELECT * FROM pushed($$SELECT name_c FROM mixed WHERE name_c >= 'al_'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name < 'b' COLLATE "en-x-icu"$$);
CREATE COLLATION case_blind (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name = 'ALPHA' COLLATE case_blind$$);

-- LIKE: an anchored regular expression; ILIKE stays local
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name LIKE 'al%'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name LIKE 'al\_pha\%'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name LIKE 'alpha_beta'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name LIKE '%a'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name LIKE 'abc'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name LIKE ''$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name LIKE 'Äö_ %'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name LIKE 'a.(*)+?[{|^$'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name NOT LIKE 'al%'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name NOT LIKE 'al\_pha'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name NOT LIKE 'al\_pha\%'$$);
SELECT * FROM pushed($$SELECT name FROM mixed WHERE name ILIKE 'alpha'$$);
SELECT * FROM pushed($$SELECT any_name FROM mixed WHERE any_name LIKE 'al%'$$);

-- nested fields, and IS NULL where no other value can be read as NULL
SELECT * FROM pushed($$SELECT any_id, city FROM mixed WHERE city = 'Paris'$$);
SELECT * FROM pushed($$SELECT any_id, city FROM mixed WHERE city IS NULL$$);
SELECT * FROM pushed($$SELECT any_id, city FROM mixed WHERE city IS NOT NULL$$);
SELECT * FROM pushed($$SELECT any_id, name FROM mixed WHERE name IS NULL$$);
SELECT * FROM pushed($$SELECT any_id, active FROM mixed WHERE active IS NULL$$);

-- dates: exact to the millisecond; BSON timestamps let through by $type
SELECT * FROM pushed($$SELECT any_id, created FROM mixed WHERE created >= '2024-01-01'$$);
SELECT * FROM pushed($$SELECT any_id, created_date FROM mixed WHERE created_date >= '2024-01-01'$$);
SELECT * FROM pushed($$SELECT created_date FROM mixed WHERE created_date = '2024-01-01 00:00:00.001+00'$$);
SELECT * FROM pushed($$SELECT created_date FROM mixed WHERE created_date = '2024-01-01 00:00:00.0005+00'$$);
SELECT * FROM pushed($$SELECT created_date FROM mixed WHERE created_date > '2024-01-01 00:00:00.0005+00'$$);
SELECT * FROM pushed($$SELECT created_date FROM mixed WHERE created_date < '2024-01-01 00:00:00.0015+00'$$);
SELECT * FROM pushed($$SELECT created_date FROM mixed WHERE created_date <= '1969-12-31 23:59:59.9995+00'$$);
SELECT * FROM pushed($$SELECT created_ts FROM mixed WHERE created_ts > '2024-01-01 23:59:59.999'$$);
SELECT * FROM pushed($$SELECT created_date FROM mixed WHERE created_date < '-infinity'$$);
SELECT * FROM pushed($$SELECT count(*) FROM mixed WHERE created_date < 'infinity'$$);
SELECT * FROM pushed($$SELECT created_date FROM mixed WHERE created_date <> '2024-01-01'$$);
SELECT * FROM pushed($$SELECT day FROM mixed WHERE day = '2024-01-01'$$);
SELECT * FROM pushed($$SELECT day FROM mixed WHERE day < '2024-01-01'$$);
SELECT * FROM pushed($$SELECT day FROM mixed WHERE day <= '2023-12-31'$$);
SELECT * FROM pushed($$SELECT day FROM mixed WHERE day > '2024-01-01'$$);
SELECT * FROM pushed($$SELECT day FROM mixed WHERE day >= '2024-01-02'$$);
SELECT * FROM pushed($$SELECT count(*) FROM mixed WHERE created_date < now() - interval '1 day'$$);

-- booleans
SELECT * FROM pushed($$SELECT any_id FROM mixed WHERE active$$);
SELECT * FROM pushed($$SELECT any_id FROM mixed WHERE NOT active$$);
SELECT * FROM pushed($$SELECT any_id FROM mixed WHERE active IS NOT NULL$$);

-- AND, OR, NOT: an OR is sent when all of its branches are
SELECT * FROM pushed($$SELECT any_id FROM mixed WHERE qty = 5 OR name = 'Gamma'$$);
SELECT * FROM pushed($$SELECT any_id FROM mixed WHERE qty = 5 OR any_name = 'Gamma'$$);
SELECT * FROM pushed($$SELECT any_id FROM mixed WHERE (qty > 0 AND price < 2) OR active$$);
SELECT * FROM pushed($$SELECT any_id FROM mixed WHERE NOT (qty = 5 OR name = 'Gamma')$$);
SELECT * FROM pushed($$SELECT any_id FROM mixed WHERE NOT (qty > 0 AND city = 'Paris')$$);

-- the filter as EXPLAIN shows it
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT _id, name FROM mixed
   WHERE _id = '64b7f0c2e4b0a1a2b3c4d5e6' AND name LIKE 'al%' AND qty IN (1, 5)
     AND (created_date >= '2024-01-01' OR city IS NULL);

-- run-time values: parameters, bound when the scan starts
PREPARE by_id(text) AS SELECT _id, name FROM mixed WHERE _id = $1;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE by_id('order-2');
EXECUTE by_id('order-2');
EXECUTE by_id('64b7f0c2e4b0a1a2b3c4d5e6');
EXECUTE by_id(NULL);
PREPARE since(timestamptz, text) AS
  SELECT any_id FROM mixed WHERE created_date >= $1 AND name <> $2;
EXECUTE since('2024-01-01 00:00:00.0005+00', 'beta');
EXECUTE since('2024-01-01', NULL);
DO $$
DECLARE
  wanted text := '64b7f0c2e4b0a1a2b3c4d5ff';
  found text;
BEGIN
  SELECT name INTO found FROM mixed WHERE _id = wanted;
  RAISE NOTICE 'found %', found;
END $$;

-- ORDER BY: sent when MongoDB orders the rows as PostgreSQL would; the
-- rows in order, compared with PostgreSQL's own sort
CREATE FUNCTION ordered(query text, command OUT text, result OUT text)
LANGUAGE plpgsql AS $$
DECLARE
  plan jsonb;
  local text;
BEGIN
  EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) ' || query INTO plan;
  command := coalesce(((jsonb_path_query_first(plan,
                          'strict $.**."MongoDB Command"') #>> '{}')::jsonb
                       - '{find,aggregate,projection,batchSize,cursor,$db}'::text[])::text,
                      '-')
             || CASE WHEN plan::text LIKE '%"Sort Key"%' THEN ' + local sort'
                     ELSE '' END;
  EXECUTE format('SELECT string_agg(r::text, '' '') FROM (%s) r', query)
    INTO result;
  PERFORM set_config('mongo_etl.pushdown', 'off', true);
  EXECUTE format('SELECT string_agg(r::text, '' '') FROM (%s) r', query)
    INTO local;
  PERFORM set_config('mongo_etl.pushdown', 'on', true);
  IF result IS DISTINCT FROM local THEN
    RAISE EXCEPTION 'pushdown changes the result of %', query
      USING DETAIL = format('With pushdown: %s; without: %s.', result, local);
  END IF;
END $$;
CREATE FOREIGN TABLE users (
  _id text OPTIONS (bson_type 'objectId'), name text OPTIONS (bson_type 'string'),
  age int, created timestamptz OPTIONS (bson_type 'date'),
  day date OPTIONS (field 'created', bson_type 'date'), score float8,
  active bool, city text OPTIONS (field 'address.city', bson_type 'string')
) SERVER pushdown OPTIONS (database 'mongo_etl_regress', collection 'users');
SELECT * FROM ordered($$SELECT name, age FROM users ORDER BY age NULLS FIRST$$);
SELECT * FROM ordered($$SELECT name, age FROM users ORDER BY age DESC NULLS LAST$$);
SELECT * FROM ordered($$SELECT name, age FROM users ORDER BY age$$);
SELECT * FROM ordered($$SELECT name FROM users ORDER BY name NULLS FIRST$$);
SELECT * FROM ordered($$SELECT name FROM users ORDER BY name COLLATE "en-x-icu" NULLS FIRST$$);
SELECT * FROM ordered($$SELECT name, created FROM users ORDER BY created NULLS FIRST$$);
SELECT * FROM ordered($$SELECT name, active FROM users ORDER BY active NULLS FIRST, name$$);
SELECT * FROM ordered($$SELECT name, day FROM users ORDER BY day NULLS FIRST, name$$);
SELECT * FROM ordered($$SELECT name, score FROM users ORDER BY score NULLS FIRST$$);
SELECT * FROM ordered($$SELECT city, name FROM users ORDER BY city DESC, name DESC$$);
-- _id: NULLs never come (a null _id raises an error), so the usual order
SELECT * FROM ordered($$SELECT _id, name FROM users ORDER BY _id$$);
SELECT * FROM ordered($$SELECT _id, name FROM users ORDER BY _id DESC$$);

-- LIMIT: sent with the sort, when every WHERE clause is sent exactly and
-- nothing else needs the rows; OFFSET rows are fetched and skipped here
CREATE FOREIGN TABLE big (_id int, n int, score float8)
  SERVER pushdown OPTIONS (database 'mongo_etl_regress', collection 'big');
SELECT * FROM ordered($$SELECT _id FROM big ORDER BY _id LIMIT 3$$);
SELECT * FROM ordered($$SELECT _id FROM big ORDER BY _id DESC LIMIT 3 OFFSET 2$$);
SELECT * FROM ordered($$SELECT _id FROM big WHERE n >= 500 ORDER BY _id LIMIT 2$$);
SELECT * FROM ordered($$SELECT _id FROM big WHERE n < 1000 AND score >= 250 ORDER BY _id LIMIT 2$$);
SELECT * FROM ordered($$SELECT _id FROM big WHERE n < 2000 AND n % 1000 = 7 ORDER BY _id LIMIT 2$$);
SELECT * FROM ordered($$SELECT count(*) FROM (SELECT n FROM big LIMIT 5) s$$);
SELECT * FROM ordered($$SELECT DISTINCT n % 3 FROM big ORDER BY 1 LIMIT 2$$);
-- WITH TIES needs the rows after the limit that tie with the last
SELECT * FROM pushed($$SELECT name FROM users ORDER BY active NULLS FIRST FETCH FIRST 2 ROWS WITH TIES$$);
SELECT public.explain_analyze(
  $$SELECT _id FROM big ORDER BY _id LIMIT 5$$);

-- a null _id breaks an ORDER BY _id that puts NULLs last: an error, not
-- rows out of order
CREATE FOREIGN TABLE null_id (_id int, n int)
  SERVER pushdown OPTIONS (database 'mongo_etl_regress', collection 'null_id');
SELECT * FROM null_id ORDER BY _id;
SELECT * FROM null_id ORDER BY _id NULLS FIRST;
SET mongo_etl.pushdown = off;
SELECT * FROM null_id ORDER BY _id;
RESET mongo_etl.pushdown;

-- count(*): MongoDB counts when it decides every WHERE clause exactly
SELECT * FROM pushed($$SELECT count(*) FROM users$$);
SELECT * FROM pushed($$SELECT count(*) FROM users WHERE age > 30$$);
SELECT * FROM pushed($$SELECT count(*) FROM users WHERE age > 30 OR name LIKE 'E%'$$);
SELECT * FROM pushed($$SELECT count(*) FROM users WHERE score < 4$$);
SELECT * FROM pushed($$SELECT count(*) FROM users WHERE city IS NULL$$);
SELECT * FROM pushed($$SELECT count(*) FROM big WHERE n BETWEEN 100 AND 199$$);
SELECT * FROM pushed($$SELECT count(*) FROM big WHERE n < 0$$);
SELECT * FROM pushed($$SELECT count(*), max(n) FROM big$$);
SELECT * FROM pushed($$SELECT count(*) FROM big GROUP BY n % 2 > 0$$);
SELECT * FROM pushed($$SELECT count(n) FROM big$$);
SELECT * FROM pushed($$SELECT count(*) FROM big WHERE now() < '2000-01-01'$$);
-- a NULL parameter matches nothing, also when MongoDB counts
SET plan_cache_mode = force_generic_plan;
PREPARE count_n(int) AS SELECT count(*) FROM big WHERE n = $1;
PREPARE count_not_n(int) AS SELECT count(*) FROM big WHERE n <> $1;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE count_n(NULL);
EXECUTE count_n(NULL);
EXECUTE count_not_n(NULL);
EXECUTE count_not_n(7);
RESET plan_cache_mode;
-- a foreign table with inheritance children is counted here
CREATE TABLE big_child (LIKE big) INHERITS (big);
INSERT INTO big_child VALUES (-1, -1, 0);
SELECT * FROM pushed($$SELECT count(*) FROM big$$);
DROP TABLE big_child;
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM users WHERE age > 30;

-- table options filter (always ANDed in) and pipeline (what the table
-- reads); pushed clauses follow the pipeline
CREATE FOREIGN TABLE paris (any_id text OPTIONS (field '_id'), name text)
  SERVER pushdown
  OPTIONS (database 'mongo_etl_regress', collection 'mixed',
           filter '{"addr.city": "Paris"}');
SELECT * FROM paris ORDER BY any_id;
SELECT * FROM pushed($$SELECT count(*) FROM paris$$);
CREATE FOREIGN TABLE parity (even bool OPTIONS (field '_id'), total int8)
  SERVER pushdown
  OPTIONS (database 'mongo_etl_regress', collection 'big',
           pipeline '[{"$group": {"_id": "$even", "total": {"$sum": "$n"}}}]');
SELECT * FROM pushed($$SELECT even, total FROM parity$$);
SELECT * FROM pushed($$SELECT total FROM parity WHERE even$$);
SELECT * FROM pushed($$SELECT count(*) FROM parity WHERE NOT even$$);
-- the same sums computed here from the documents
SELECT even, total = (SELECT sum(n) FROM big WHERE (n % 2 = 0) = even) AS same
  FROM parity ORDER BY even;
-- the filter applies to the collection, before the pipeline
ALTER FOREIGN TABLE parity OPTIONS (ADD filter '{"n": {"$lt": 100}}');
EXPLAIN (VERBOSE, COSTS OFF) SELECT total FROM parity WHERE even;
SELECT even, total FROM parity ORDER BY even;
ALTER FOREIGN TABLE paris OPTIONS (SET filter '{"addr.city": ');
ALTER FOREIGN TABLE paris OPTIONS (SET filter '[1]');
ALTER FOREIGN TABLE paris OPTIONS (ADD pipeline '{"$match": {}}');
ALTER FOREIGN TABLE paris OPTIONS (ADD pipeline '[1]');
ALTER FOREIGN TABLE paris OPTIONS (ADD pipeline '[{"$match": {}, "$limit": 1}]');
ALTER FOREIGN TABLE paris OPTIONS (ADD pipeline '[{"match": {}}]');
ALTER FOREIGN TABLE paris OPTIONS (ADD pipeline '[], "x": 1');
-- a stage the server rejects is an error, never an empty result
ALTER FOREIGN TABLE paris OPTIONS (ADD pipeline '[{"$nosuchstage": {}}]');
SELECT * FROM paris;
ALTER FOREIGN TABLE paris OPTIONS (DROP pipeline);

-- row estimates: MongoDB's estimated document count, unless the table or
-- its server sets use_remote_estimate 'false'
CREATE FUNCTION plan_rows(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
  plan jsonb;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
  RETURN plan #> '{0,Plan,Plan Rows}';
END $$;
SELECT plan_rows('SELECT * FROM big') AS big, plan_rows('SELECT * FROM users') AS users,
       plan_rows('SELECT * FROM big WHERE n = 5') AS big_one_n;
ALTER FOREIGN TABLE big OPTIONS (ADD use_remote_estimate 'false');
SELECT plan_rows('SELECT * FROM big') AS big;
ALTER FOREIGN TABLE big OPTIONS (DROP use_remote_estimate);
ALTER SERVER pushdown OPTIONS (ADD use_remote_estimate 'false');
SELECT plan_rows('SELECT * FROM big') AS big;
ALTER FOREIGN TABLE big OPTIONS (ADD use_remote_estimate 'true');
SELECT plan_rows('SELECT * FROM big') AS big;
ALTER SERVER pushdown OPTIONS (DROP use_remote_estimate);
ALTER FOREIGN TABLE big OPTIONS (SET use_remote_estimate 'maybe');

-- EXPLAIN ANALYZE: what came back, in how many round trips, and where the
-- time went (20,000 documents in batches of 7,000: find and two getMores)
CREATE FOREIGN TABLE big_batches (n int) SERVER pushdown
  OPTIONS (database 'mongo_etl_regress', collection 'big', batch_size '7000');
SELECT public.explain_analyze(
  $$SELECT count(n) FROM big_batches$$);
DO $$
DECLARE
  line text;
BEGIN
  FOR line IN EXPLAIN (ANALYZE, COSTS OFF) SELECT count(n) FROM big_batches LOOP
    IF line ~ '(Wait|Conversion) Time' THEN
      RAISE NOTICE '%', regexp_replace(line, '\d+\.\d+ ms', 'N ms');
    END IF;
  END LOOP;
END $$;

RESET search_path;
