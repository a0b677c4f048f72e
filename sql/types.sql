--
-- Types: each BSON type into each PostgreSQL type the scan converts, and
-- the errors for values that do not fit.  test/fixtures/types.json holds
-- one document with a field per case.
--
\i sql/include/mongo_uri.sql
CREATE SERVER regress FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress :mongo_login;
SET timezone = 'America/New_York';

-- integers: int32, int64 and integral doubles, range-checked
CREATE FOREIGN TABLE t_int (
  i32_2 int2 OPTIONS (field 'int32'),
  i32_4 int4 OPTIONS (field 'int32_neg'),
  i32_8 int8 OPTIONS (field 'int32_max'),
  i64_2 int2 OPTIONS (field 'int64_small'),
  i64_4 int4 OPTIONS (field 'int64_small'),
  i64_8 int8 OPTIONS (field 'int64_max'),
  dbl_8 int8 OPTIONS (field 'double_int'),
  big_to_int2 int2 OPTIONS (field 'int32_big'),
  big_to_int4 int4 OPTIONS (field 'int64'),
  frac_to_int int4 OPTIONS (field 'double'),
  huge_to_int8 int8 OPTIONS (field 'double_huge'),
  str_to_int int4 OPTIONS (field 'string'),
  bool_to_int int4 OPTIONS (field 'bool_t')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'types');
SELECT i32_2, i32_4, i32_8, i64_2, i64_4, i64_8, dbl_8 FROM t_int;
SELECT big_to_int2 FROM t_int;
SELECT big_to_int4 FROM t_int;
SELECT frac_to_int FROM t_int;
SELECT huge_to_int8 FROM t_int;
SELECT str_to_int FROM t_int;
SELECT bool_to_int FROM t_int;

-- floating point and numeric
CREATE FOREIGN TABLE t_num (
  d8 float8 OPTIONS (field 'double'),
  exact8 float8 OPTIONS (field 'double_exact'),
  i64_8 float8 OPTIONS (field 'int64'),
  d4 float4 OPTIONS (field 'double'),
  i32_4 float4 OPTIONS (field 'int32'),
  n_int numeric OPTIONS (field 'int64_max'),
  n_dbl numeric OPTIONS (field 'double_exact'),
  n_shortest numeric OPTIONS (field 'double_sum'),
  t_shortest text OPTIONS (field 'double_sum'),
  j_shortest jsonb OPTIONS (field 'double_sum'),
  f_shortest float8 OPTIONS (field 'double_sum'),
  n_scaled numeric(6,2) OPTIONS (field 'double'),
  huge_to_float4 float4 OPTIONS (field 'double_huge'),
  tiny_to_float4 float4 OPTIONS (field 'double_tiny'),
  huge_to_numeric_6_2 numeric(6,2) OPTIONS (field 'int64'),
  str_to_float8 float8 OPTIONS (field 'string')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'types');
SELECT d8, exact8, i64_8, d4, i32_4, n_int, n_dbl, n_scaled FROM t_num;
-- a double keeps every digit it has (0.1 + 0.2), in numeric, text and jsonb
SET extra_float_digits = 0;
SELECT n_shortest, t_shortest, j_shortest, n_shortest::float8 = f_shortest AS round_trips
  FROM t_num;
RESET extra_float_digits;
SELECT huge_to_float4 FROM t_num;
SELECT tiny_to_float4 FROM t_num;
SELECT huge_to_numeric_6_2 FROM t_num;
SELECT str_to_float8 FROM t_num;

-- text: strings, ObjectIds as 24 hex digits, numbers in decimal form;
-- varchar(n) and char(n) follow the rules of an assignment
CREATE FOREIGN TABLE t_text (
  s text OPTIONS (field 'string'),
  u text OPTIONS (field 'unicode'),
  oid text OPTIONS (field 'oid'),
  i32 text OPTIONS (field 'int32'),
  i64 text OPTIONS (field 'int64'),
  dbl text OPTIONS (field 'double_exact'),
  vc varchar(5) OPTIONS (field 'string'),
  vc_spaces varchar(2) OPTIONS (field 'padded'),
  ch char(8) OPTIONS (field 'string'),
  too_long varchar(3) OPTIONS (field 'string'),
  bool_to_text text OPTIONS (field 'bool_t'),
  doc_to_text text OPTIONS (field 'doc'),
  date_to_text text OPTIONS (field 'date')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'types');
SELECT s, u, oid, i32, i64, dbl, vc, vc_spaces, ch || '|' AS ch FROM t_text;
SELECT too_long FROM t_text;
SELECT bool_to_text FROM t_text;
SELECT doc_to_text FROM t_text;
SELECT date_to_text FROM t_text;

-- other types are built from strings by their input function
CREATE TYPE mood AS ENUM ('hello', 'bye');
CREATE FOREIGN TABLE t_input (
  u uuid OPTIONS (field 'uuid_str'),
  ip inet OPTIONS (field 'inet_str'),
  m mood OPTIONS (field 'string'),
  bad_uuid uuid OPTIONS (field 'string'),
  int_to_uuid uuid OPTIONS (field 'int32')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'types');
SELECT u, ip, m FROM t_input;
SELECT bad_uuid FROM t_input;
SELECT int_to_uuid FROM t_input;

-- bool only from BSON bool
CREATE FOREIGN TABLE t_bool (
  t bool OPTIONS (field 'bool_t'),
  f bool OPTIONS (field 'bool_f'),
  int_to_bool bool OPTIONS (field 'int32')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'types');
SELECT t, f FROM t_bool;
SELECT int_to_bool FROM t_bool;

-- dates: UTC milliseconds into timestamptz; timestamp and date take the
-- UTC time and day whatever the session's time zone
CREATE FOREIGN TABLE t_date (
  tstz timestamptz OPTIONS (field 'date'),
  ts timestamp OPTIONS (field 'date'),
  d date OPTIONS (field 'date'),
  old_tstz timestamptz OPTIONS (field 'date_old'),
  old_d date OPTIONS (field 'date_old'),
  str_to_tstz timestamptz OPTIONS (field 'string'),
  int_to_date date OPTIONS (field 'int64')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'types');
SELECT tstz, ts, d, old_tstz, old_d FROM t_date;
SELECT tstz AT TIME ZONE 'UTC' AS utc, old_tstz AT TIME ZONE 'UTC' AS old_utc FROM t_date;
SELECT str_to_tstz FROM t_date;
SELECT int_to_date FROM t_date;

-- jsonb: documents and arrays as objects and arrays, at any depth; dates
-- as ISO 8601 UTC strings, ObjectIds as hex strings, int64 exact
CREATE FOREIGN TABLE t_jsonb (
  doc jsonb OPTIONS (field 'doc'),
  arr jsonb OPTIONS (field 'arr'),
  empty_doc jsonb OPTIONS (field 'empty_doc'),
  s jsonb OPTIONS (field 'unicode'),
  i jsonb OPTIONS (field 'int64_max'),
  dbl jsonb OPTIONS (field 'double_exact'),
  b jsonb OPTIONS (field 'bool_f'),
  d jsonb OPTIONS (field 'date'),
  oid jsonb OPTIONS (field 'oid'),
  n jsonb OPTIONS (field 'null'),
  binary_to_jsonb jsonb OPTIONS (field 'binary'),
  regex_to_jsonb jsonb OPTIONS (field 'regex')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'types');
SELECT doc, arr, empty_doc FROM t_jsonb;
SELECT s, i, dbl, b, d, oid, n IS NULL AS null_is_sql_null FROM t_jsonb;
SELECT doc -> 'big' AS exact_int64, jsonb_typeof(doc -> 'b' -> 'c') AS c_type,
       doc #>> '{b,when}' AS nested_date, doc #>> '{b,id}' AS nested_oid
  FROM t_jsonb;
SELECT binary_to_jsonb FROM t_jsonb;
SELECT regex_to_jsonb FROM t_jsonb;

-- errors name the column, its field and the document; a nested field too
CREATE FOREIGN TABLE t_err (
  _id int,
  deep int2 OPTIONS (field 'doc.big')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'types');
SELECT deep FROM t_err;
-- arrays element by element, by the element type's rules
CREATE FOREIGN TABLE t_arr (
  ints int[] OPTIONS (field 'arr'),
  numerics numeric[] OPTIONS (field 'arr'),
  texts varchar(1)[] OPTIONS (field 'arr'),
  jsons jsonb[] OPTIONS (field 'doc.b.c'),
  small int2[] OPTIONS (field 'doc.b.c'),
  not_array int[] OPTIONS (field 'int32')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'types');
SELECT ints, numerics, texts, jsons FROM t_arr;
SELECT small FROM t_arr;
SELECT not_array FROM t_arr;
CREATE FOREIGN TABLE t_tags (name text, tags text[])
  SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'users');
-- one document's tags hold an object, which no text[] element can be
SELECT name, tags FROM t_tags;

-- on request only: an ObjectId's creation time, booleans as 1/0 or words
CREATE FOREIGN TABLE t_request (
  created timestamptz OPTIONS (field 'oid', objectid_timestamp 'true'),
  created_day date OPTIONS (field 'oid', objectid_timestamp 'true'),
  flag int OPTIONS (field 'bool_t', bool_values 'true'),
  flag_off numeric OPTIONS (field 'bool_f', bool_values 'true'),
  flag_text text OPTIONS (field 'bool_t', bool_values 'yes'),
  not_asked timestamptz OPTIONS (field 'oid')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'types');
SELECT created, created_day, flag, flag_off, flag_text FROM t_request;
SELECT not_asked FROM t_request;
ALTER FOREIGN TABLE t_request ALTER COLUMN flag OPTIONS (SET bool_values 'maybe');

-- on_type_mismatch: 'null' reads values that do not fit as NULL, 'skip'
-- leaves their rows out; both are counted per column and reported in one
-- warning at the end of the scan and in EXPLAIN ANALYZE; a column's
-- setting overrides the table's
CREATE FOREIGN TABLE t_lenient (
  i int4 OPTIONS (field 'int32'),
  big int4 OPTIONS (field 'int64'),
  s int4 OPTIONS (field 'string'),
  u uuid OPTIONS (field 'string'),
  strict_big int2 OPTIONS (field 'int32_big', on_type_mismatch 'error')
) SERVER regress
  OPTIONS (database 'mongo_etl_regress', collection 'types', on_type_mismatch 'null');
SELECT i, big, s, u FROM t_lenient;
SELECT public.explain_analyze(
  $$SELECT i, big, s, u FROM t_lenient$$);
SELECT strict_big FROM t_lenient;
ALTER FOREIGN TABLE t_lenient ALTER COLUMN big OPTIONS (on_type_mismatch 'skip');
SELECT i, big, s, u FROM t_lenient;
SELECT public.explain_analyze(
  $$SELECT i, big FROM t_lenient$$);
SELECT count(*) FROM t_lenient;
ALTER FOREIGN TABLE t_lenient OPTIONS (SET on_type_mismatch 'sometimes');
ALTER FOREIGN TABLE t_lenient ALTER COLUMN i OPTIONS (on_type_mismatch '');
-- users: one document's tags hold an object; skip leaves that row out
CREATE FOREIGN TABLE t_tags_skip (name text, tags text[] OPTIONS (on_type_mismatch 'skip'))
  SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'users');
SELECT name, tags FROM t_tags_skip ORDER BY name;

SET client_min_messages = warning;
DROP SERVER regress CASCADE;
DROP TYPE mood;
