--
-- mongodump files: the same scan and conversion as from a server, reading
-- .bson and .bson.gz files that test/fixtures.py dump wrote from the JSON
-- fixtures.  Damaged and hostile files give errors naming the file and the
-- byte offset.
--
\getenv test_dir MONGO_ETL_TEST_DIR
\i sql/include/mongo_uri.sql
SELECT :'test_dir' || '/dump' AS dump_dir \gset
SET mongo_etl_test.dump_dir = :'dump_dir';

-- Runs a query returning text and returns its rows, or its error with
-- detail and context, with the dump directory (which depends on where the
-- tests run) replaced by <dump>.
CREATE FUNCTION in_dump(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  dir text := current_setting('mongo_etl_test.dump_dir');
  line text;
  message text;
  detail text;
  context text;
BEGIN
  FOR line IN EXECUTE query LOOP
    RETURN NEXT replace(line, dir, '<dump>');
  END LOOP;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                          context = PG_EXCEPTION_CONTEXT;
  RETURN NEXT 'ERROR:  ' || replace(message, dir, '<dump>');
  IF detail <> '' THEN
    RETURN NEXT 'DETAIL:  ' || replace(detail, dir, '<dump>');
  END IF;
  FOR line IN SELECT l FROM regexp_split_to_table(context, E'\n') l
               WHERE l <> '' AND l NOT LIKE 'PL/pgSQL function%' LOOP
    RETURN NEXT 'CONTEXT:  ' || replace(line, dir, '<dump>');
  END LOOP;
END $$;

CREATE SERVER dump FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir :'dump_dir');
CREATE USER MAPPING FOR CURRENT_USER SERVER dump;
CREATE SERVER regress FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress :mongo_login;

-- <dump_dir>/<database>/<collection>.bson, and the same with gzip
CREATE FOREIGN TABLE users_dump (
  _id text, name text, age int, email text, created timestamptz,
  score float8, active bool, city text OPTIONS (field 'address.city'),
  tags jsonb
) SERVER dump OPTIONS (database 'regress', collection 'users');
CREATE FOREIGN TABLE users_gz (
  _id text, name text, age int, email text, created timestamptz,
  score float8, active bool, city text OPTIONS (field 'address.city'),
  tags jsonb
) SERVER dump OPTIONS (file 'regress/users.bson.gz');
CREATE FOREIGN TABLE users_mongo (
  _id text, name text, age int, email text, created timestamptz,
  score float8, active bool, city text OPTIONS (field 'address.city'),
  tags jsonb
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'users');
SET timezone = 'UTC';
SELECT * FROM users_dump ORDER BY _id;
-- the file, its compressed copy and the server hold the same rows
SELECT (SELECT count(*) FROM users_dump) AS dump_rows,
       (SELECT count(*) FROM (SELECT * FROM users_dump EXCEPT SELECT * FROM users_gz) d) AS not_in_gz,
       (SELECT count(*) FROM (SELECT * FROM users_gz EXCEPT SELECT * FROM users_dump) d) AS only_in_gz,
       (SELECT count(*) FROM (SELECT * FROM users_dump EXCEPT SELECT * FROM users_mongo) d) AS not_on_server,
       (SELECT count(*) FROM (SELECT * FROM users_mongo EXCEPT SELECT * FROM users_dump) d) AS only_on_server;

-- a file is read in its order: ORDER BY, LIMIT and count(*) are done here
SELECT in_dump('EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM users_dump ORDER BY _id LIMIT 2');
SELECT _id FROM users_dump ORDER BY _id DESC LIMIT 2;
SELECT in_dump('EXPLAIN (COSTS OFF) SELECT count(*) FROM users_dump');
-- filters and pipelines need a server
CREATE FOREIGN TABLE users_dump_filtered (name text)
  SERVER dump OPTIONS (database 'regress', collection 'users', filter '{"age": 31}');
SELECT * FROM users_dump_filtered;

-- EXPLAIN names the file; ANALYZE counts the documents and bytes read
SELECT in_dump('EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM users_dump WHERE age > 30');
SELECT in_dump('SELECT public.explain_analyze(''SELECT name FROM users_gz'')');

-- only the columns a query reads are converted: a column that could not
-- be converted does not matter until it is read
CREATE FOREIGN TABLE types_dump (
  s text OPTIONS (field 'string'),
  doc jsonb OPTIONS (field 'doc'),
  bad int OPTIONS (field 'string')
) SERVER dump OPTIONS (database 'regress', collection 'types');
SELECT s, doc FROM types_dump;
SELECT in_dump('SELECT bad::text FROM types_dump');

-- values the test server cannot store: Decimal128 (exact into numeric,
-- text and jsonb, from the largest to the smallest exponent), NaN and
-- infinite doubles
CREATE FOREIGN TABLE special (
  _id int,
  dec numeric,
  dec_text text OPTIONS (field 'dec'),
  dec_json jsonb OPTIONS (field 'dec'),
  dbl float8,
  dbl_numeric numeric OPTIONS (field 'dbl'),
  dbl_text text OPTIONS (field 'dbl'),
  dbl_json jsonb OPTIONS (field 'dbl'),
  dec_int int OPTIONS (field 'dec')
) SERVER dump OPTIONS (database 'regress');
SELECT _id, left(dec_text, 20) AS dec_text, left(dec_json::text, 20) AS dec_json,
       dbl, dbl_numeric, dbl_text, dbl_json
  FROM special ORDER BY _id;
SELECT _id, dec = dec_text::numeric AS same_as_text,
       dec_json = to_jsonb(dec) OR jsonb_typeof(dec_json) = 'string' AS same_in_jsonb,
       length(dec::text) AS digits,
       dec = '9.999999999999999999999999999999999E+6144'::numeric AS is_max,
       dec = '1E-6176'::numeric AS is_min
  FROM special ORDER BY _id;
SELECT in_dump('SELECT dec_int::text FROM special');
-- an integral Decimal128 fits an integer column; a fractional one or one
-- out of range does not; into float8 it is the nearest double
CREATE FOREIGN TABLE special_ints (
  _id int,
  int_like int4,
  int_like_float float8 OPTIONS (field 'int_like'),
  dec_int int8 OPTIONS (field 'dec'),
  dec_float float8 OPTIONS (field 'dec'),
  too_big int8,
  long_name name
) SERVER dump OPTIONS (database 'regress', collection 'special');
SELECT _id, int_like, int_like_float FROM special_ints WHERE _id = 8;
SELECT in_dump('SELECT dec_int::text FROM special_ints');
SELECT in_dump('SELECT dec_float::text FROM special_ints');
SELECT in_dump('SELECT too_big::text FROM special_ints');
SELECT in_dump('SELECT long_name::text FROM special_ints');

-- jsonb built straight from BSON equals jsonb parsed from its text, also
-- for a repeated key (the last wins, as in jsonb's input), nested arrays
-- (which the test server cannot store), more than 32 children and odd keys
CREATE FOREIGN TABLE shapes (_id int, doc jsonb)
  SERVER dump OPTIONS (file 'regress/jsonbshapes.bson');
SELECT _id, doc FROM shapes WHERE _id = 1;
SELECT _id, doc = doc::text::jsonb AS same_as_parsed,
       pg_column_size(doc) = pg_column_size(doc::text::jsonb) AS same_size,
       jsonb_typeof(doc) AS type,
       CASE jsonb_typeof(doc) WHEN 'array' THEN jsonb_array_length(doc)
            ELSE (SELECT count(*) FROM jsonb_object_keys(doc)) END AS children
  FROM shapes ORDER BY _id;
SELECT doc -> 'b' AS b, doc #> '{ccc,1,1,0}' AS deep FROM shapes WHERE _id = 1;
-- json keeps the document's key order and repeated keys, as json does
CREATE FOREIGN TABLE shapes_json (_id int, doc json, whole json OPTIONS (field '$$ROOT'))
  SERVER dump OPTIONS (file 'regress/jsonbshapes.bson');
SELECT doc, doc::jsonb = (SELECT doc FROM shapes WHERE _id = 1) AS same_as_jsonb
  FROM shapes_json WHERE _id = 1;
SELECT whole FROM shapes_json WHERE _id = 2;
SELECT doc -> 33 AS element_33, doc -> 39 AS element_39 FROM shapes WHERE _id = 2;
SELECT doc ->> 'k0' AS k0, length(doc ->> 'k33') AS k33, length(doc ->> 'k39') AS k39
  FROM shapes WHERE _id = 3;
-- arrays of strings (one walk up to 16 elements), as jsonb parses them
SELECT _id, doc FROM shapes WHERE _id >= 4 ORDER BY _id;
SELECT doc ->> 15 AS last_of_16, doc ->> 16 AS last_of_17,
       doc #>> '{more,list,0}' AS nested
  FROM shapes WHERE _id IN (4, 5, 8) ORDER BY _id;

-- BSON types JSON has no value for: jsonb holds them as MongoDB's canonical
-- extended JSON objects, also when nested; binData and ObjectIds go into
-- bytea, UUIDs (subtypes 4 and 3) into uuid, timestamps into timestamptz
-- (their seconds) and bigint (their 64 bits), code and symbols into text;
-- undefined is NULL
CREATE FOREIGN TABLE exotic (
  _id int,
  binary_json jsonb OPTIONS (field 'binary'),
  uuid_json jsonb OPTIONS (field 'uuid4'),
  regex_json jsonb OPTIONS (field 'regex'),
  timestamp_json jsonb OPTIONS (field 'timestamp'),
  code_json jsonb OPTIONS (field 'code'),
  scope_json jsonb OPTIONS (field 'codewscope'),
  symbol_json jsonb OPTIONS (field 'symbol'),
  minkey_json jsonb OPTIONS (field 'minkey'),
  maxkey_json jsonb OPTIONS (field 'maxkey'),
  undefined_json jsonb OPTIONS (field 'undefined'),
  dbpointer_json jsonb OPTIONS (field 'dbpointer'),
  nested jsonb,
  nested_json json OPTIONS (field 'nested'),
  binary_bytea bytea OPTIONS (field 'binary'),
  user_bytea bytea OPTIONS (field 'user'),
  oid_bytea bytea OPTIONS (field 'oid'),
  uuid4 uuid,
  uuid3 uuid,
  uuid4_bytea bytea OPTIONS (field 'uuid4'),
  ts timestamptz OPTIONS (field 'timestamp'),
  ts_bits int8 OPTIONS (field 'timestamp'),
  code text,
  symbol text,
  binary_uuid uuid OPTIONS (field 'binary'),
  regex_text text OPTIONS (field 'regex')
) SERVER dump OPTIONS (database 'regress');
SELECT binary_json, uuid_json, regex_json, timestamp_json FROM exotic;
SELECT code_json, scope_json, symbol_json, minkey_json, maxkey_json,
       undefined_json IS NULL AS undefined_is_null FROM exotic;
SELECT dbpointer_json, nested FROM exotic;
SELECT nested_json, nested_json::jsonb = nested AS same_as_jsonb FROM exotic;
SELECT binary_bytea, user_bytea, oid_bytea, uuid4, uuid3, uuid4_bytea FROM exotic;
SELECT ts AT TIME ZONE 'UTC' AS ts_utc, ts_bits, ts_bits >> 32 AS seconds,
       ts_bits & 4294967295 AS increment, code, symbol FROM exotic;
SELECT in_dump('SELECT binary_uuid::text FROM exotic');
SELECT in_dump('SELECT regex_text FROM exotic');

-- an empty string is an empty string; a zero byte inside one is an error
CREATE FOREIGN TABLE strings (empty_string text, with_nul text, with_nul_json jsonb OPTIONS (field 'with_nul'))
  SERVER dump OPTIONS (database 'regress', collection 'exotic');
SELECT empty_string, empty_string IS NULL AS is_null FROM strings;
SELECT in_dump('SELECT with_nul FROM strings');
SELECT in_dump('SELECT with_nul_json::text FROM strings');

-- BSON dates beyond PostgreSQL's range are errors, never wrapped around
CREATE FOREIGN TABLE far_dates (
  year10000 timestamptz,
  year10000_date date OPTIONS (field 'year10000'),
  year10000_json jsonb OPTIONS (field 'year10000'),
  date_max timestamptz,
  date_min timestamp
) SERVER dump OPTIONS (database 'regress', collection 'exotic');
SET timezone = 'UTC';
SELECT year10000, year10000_date FROM far_dates;
SELECT in_dump('SELECT year10000_json::text FROM far_dates');
SELECT in_dump('SELECT date_max::text FROM far_dates');
SELECT in_dump('SELECT date_min::text FROM far_dates');

-- documents of one shape are converted as the one before had its values
-- at each position; what differs there is still seen: another type, a
-- reordered document, a repeated key (the first wins), null, non-ASCII
CREATE FOREIGN TABLE steps (_id int, n bigint, b bool, d timestamptz, s text,
                            o text OPTIONS (bson_type 'objectId'))
  SERVER dump OPTIONS (file 'regress/steps.bson');
SELECT _id, n, b, d AT TIME ZONE 'UTC' AS d_utc, s, o FROM steps;
-- and a damaged boolean, a date out of range, a zero byte, not UTF-8 in
-- the second document, where the first had good values
ALTER FOREIGN TABLE steps OPTIONS (SET file 'regress/steps_bool.bson');
SELECT in_dump('SELECT b::text FROM steps');
ALTER FOREIGN TABLE steps OPTIONS (SET file 'regress/steps_date.bson');
SELECT in_dump('SELECT d::text FROM steps');
ALTER FOREIGN TABLE steps OPTIONS (SET file 'regress/steps_nul.bson');
SELECT in_dump('SELECT s FROM steps');
ALTER FOREIGN TABLE steps OPTIONS (SET file 'regress/steps_utf8.bson');
SELECT in_dump('SELECT s FROM steps');

-- every BSON type, and dates at both ends of int64, convert to json and to
-- $$ROOT json and text without an error; to jsonb too, but for strings
-- holding a zero byte, which jsonb cannot hold (json writes \u0000)
CREATE FOREIGN TABLE every_type (
  _id int, what text,
  v_json json OPTIONS (field 'v'),
  v_jsonb jsonb OPTIONS (field 'v'),
  doc_json json OPTIONS (field '$$ROOT'),
  doc_text text OPTIONS (field '$$ROOT'),
  doc_jsonb jsonb OPTIONS (field '$$ROOT')
) SERVER dump OPTIONS (database 'regress', collection 'everytype');
SELECT _id, what, v_json FROM every_type ORDER BY _id;
SELECT _id, doc_json FROM every_type ORDER BY _id;
SELECT _id, doc_text FROM every_type ORDER BY _id;
-- a zero byte in a jsonb value is a mismatch: an error by default, with the
-- column and _id (hint: on_type_mismatch) ...
\set SHOW_CONTEXT never
SELECT v_jsonb FROM every_type WHERE _id = 5;
\set SHOW_CONTEXT errors
SELECT in_dump('SELECT doc_jsonb::text FROM every_type');
-- ... and under on_type_mismatch NULL or a row left out, counted
ALTER FOREIGN TABLE every_type ALTER COLUMN v_jsonb OPTIONS (ADD on_type_mismatch 'null');
ALTER FOREIGN TABLE every_type ALTER COLUMN doc_jsonb OPTIONS (ADD on_type_mismatch 'null');
SET client_min_messages = error;  -- the WARNING names the file
SELECT _id, what, v_jsonb FROM every_type ORDER BY _id;
-- jsonb holds the same values as json, where jsonb can hold them
SELECT count(*) AS same, count(*) FILTER (WHERE v_jsonb IS NULL) AS v_null,
       count(*) FILTER (WHERE doc_jsonb IS NULL) AS doc_null
  FROM every_type
  WHERE v_jsonb IS NOT DISTINCT FROM
          CASE WHEN v_jsonb IS NOT NULL THEN v_json::jsonb END
    AND doc_jsonb IS NOT DISTINCT FROM
          CASE WHEN doc_jsonb IS NOT NULL THEN doc_json::jsonb END;
SELECT in_dump('SELECT public.explain_analyze(''SELECT v_jsonb, doc_jsonb FROM every_type'')');
ALTER FOREIGN TABLE every_type ALTER COLUMN doc_jsonb OPTIONS (DROP on_type_mismatch);
ALTER FOREIGN TABLE every_type OPTIONS (ADD on_type_mismatch 'skip');
SELECT count(*) AS rows_kept, count(doc_jsonb) AS documents FROM every_type;
SELECT in_dump('SELECT public.explain_analyze(''SELECT doc_jsonb FROM every_type'')');
RESET client_min_messages;

-- arrays of arrays into multidimensional arrays, when rectangular
CREATE FOREIGN TABLE arrays (
  matrix int[],
  withnull int[],
  empty text[],
  ragged int[],
  mixed int[],
  matrix_text text[] OPTIONS (field 'matrix')
) SERVER dump OPTIONS (database 'regress', collection 'exotic');
SELECT matrix, array_dims(matrix) AS dims, withnull, empty, matrix_text
  FROM arrays;
SELECT in_dump('SELECT ragged::text FROM arrays');
SELECT in_dump('SELECT mixed::text FROM arrays');

-- a rescan reads the file again from its start
SET enable_material = off;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SELECT g, count(u.name) FROM generate_series(1, 3) g
  LEFT JOIN users_dump u ON u.age > g * 30 GROUP BY g ORDER BY g;
RESET enable_material;
RESET enable_hashjoin;
RESET enable_mergejoin;

-- damaged and hostile files
CREATE FOREIGN TABLE damaged (_id int, name text, doc jsonb)
  SERVER dump OPTIONS (file 'regress/users.truncated.bson');
SELECT in_dump('SELECT count(*)::text FROM damaged');
ALTER FOREIGN TABLE damaged OPTIONS (SET file 'regress/users.badlength.bson');
SELECT in_dump('SELECT count(*)::text FROM damaged');
ALTER FOREIGN TABLE damaged OPTIONS (SET file 'regress/users.cut.bson.gz');
SELECT in_dump('SELECT count(*)::text FROM damaged');
ALTER FOREIGN TABLE damaged OPTIONS (SET file 'regress/noterminator.bson');
SELECT in_dump('SELECT count(*)::text FROM damaged');
ALTER FOREIGN TABLE damaged OPTIONS (SET file 'regress/badelement.bson');
SELECT in_dump('SELECT name FROM damaged');
ALTER FOREIGN TABLE damaged OPTIONS (SET file 'regress/badutf8.bson');
SELECT in_dump('SELECT _id::text FROM damaged');
SELECT in_dump('SELECT name FROM damaged');
-- a damaged array is an error, also where its bad string alone would be
-- read as NULL
ALTER FOREIGN TABLE damaged OPTIONS (SET file 'regress/badarray.bson');
ALTER FOREIGN TABLE damaged ALTER COLUMN doc OPTIONS (ADD on_type_mismatch 'null');
SELECT in_dump('SELECT doc::text FROM damaged');
ALTER FOREIGN TABLE damaged ALTER COLUMN doc OPTIONS (DROP on_type_mismatch);
SELECT in_dump('SELECT doc::text FROM damaged');
ALTER FOREIGN TABLE damaged OPTIONS (SET file 'regress/deep.bson');
SELECT in_dump('SELECT _id::text FROM damaged');
SELECT in_dump('SELECT doc::text FROM damaged');
ALTER FOREIGN TABLE damaged OPTIONS (SET file 'regress/no_such_file.bson');
SELECT in_dump('SELECT count(*)::text FROM damaged');

-- without a file option the collection's file is looked for
CREATE FOREIGN TABLE orders (_id text) SERVER dump OPTIONS (database 'regress');
SELECT in_dump('SELECT count(*)::text FROM orders');
-- names cannot lead out of the dump directory
CREATE FOREIGN TABLE escape (_id text)
  SERVER dump OPTIONS (database '..', collection 'etc/passwd');
SELECT * FROM escape;
ALTER FOREIGN TABLE escape OPTIONS (SET database 'regress', SET collection '../regress/users');
SELECT * FROM escape;
-- a file option belongs on a dump_dir server
CREATE FOREIGN TABLE misplaced (_id text) SERVER regress OPTIONS (file 'users.bson');
SELECT * FROM misplaced;
CREATE SERVER uri_and_dump FOREIGN DATA WRAPPER mongo_etl
  OPTIONS (uri 'mongodb://127.0.0.1/', dump_dir '/tmp');

-- reading files is for superusers and members of pg_read_server_files
CREATE ROLE regress_dump_user;
GRANT USAGE ON FOREIGN DATA WRAPPER mongo_etl TO regress_dump_user;
GRANT USAGE ON FOREIGN SERVER dump TO regress_dump_user;
GRANT CREATE ON SCHEMA public TO regress_dump_user;
SET ROLE regress_dump_user;
CREATE SERVER mine FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir '/etc');
CREATE FOREIGN TABLE mine (a text) SERVER dump OPTIONS (file '/etc/passwd');
RESET ROLE;
GRANT pg_read_server_files TO regress_dump_user;
SET ROLE regress_dump_user;
CREATE SERVER mine FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir '/tmp');
CREATE FOREIGN TABLE mine (a text) SERVER dump OPTIONS (file 'regress/users.bson');
SELECT count(*) FROM mine;
RESET ROLE;

-- The same values through a server.  FerretDB stores none of the values
-- above; DocumentDB stores them all, and test/run.sh copies the documents
-- of these files byte for byte into its database mongo_etl_dumped (checking
-- that they come back so).  There, each table above has a twin on the
-- server, with the same columns and options, and every column reads the
-- same values and the same errors through it (expected/dump_1.out).
\getenv mongo_server MONGO_ETL_SERVER
SELECT :'mongo_server' = 'documentdb' AS stores_all \gset
\if :stores_all
CREATE SERVER served FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER served :mongo_login;
CREATE SCHEMA served;
-- served.<table>: the table's columns and options, on the server
CREATE FUNCTION served_twin(tab regclass) RETURNS regclass
LANGUAGE plpgsql AS $$
DECLARE
  columns text;
  options text[] := (SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = tab);
  name text := (SELECT relname FROM pg_class WHERE oid = tab);
  collection text;
  others text;
BEGIN
  SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod))
           || coalesce((SELECT ' OPTIONS (' || string_agg(format('%I %L',
                          option_name, option_value), ', ') || ')'
                          FROM pg_options_to_table(attfdwoptions)), ''),
           ', ' ORDER BY attnum)
    INTO columns
    FROM pg_attribute WHERE attrelid = tab AND attnum > 0 AND NOT attisdropped;
  SELECT coalesce(max(substring(option_value FROM '([^/]*)\.bson$'))
                    FILTER (WHERE option_name = 'file'),
                  max(option_value) FILTER (WHERE option_name = 'collection'),
                  name),
         string_agg(format(', %I %L', option_name, option_value), '')
           FILTER (WHERE option_name NOT IN ('file', 'database', 'collection'))
    INTO collection, others
    FROM pg_options_to_table(options);
  EXECUTE format('CREATE FOREIGN TABLE served.%I (%s) SERVER served '
                 'OPTIONS (database %L, collection %L%s)', name,
                 columns, 'mongo_etl_dumped', collection,
                 coalesce(others, ''));
  RETURN format('served.%I', name)::regclass;
END $$;
-- what in_dump returns, without the lines saying where in a file or in
-- this test's functions an error happened
CREATE FUNCTION read_lines(query text) RETURNS text[]
LANGUAGE sql AS $$
  SELECT array_agg(line ORDER BY n)
    FROM in_dump(query) WITH ORDINALITY AS l(line, n)
   WHERE line NOT LIKE 'CONTEXT:  document at byte offset %'
     AND line NOT LIKE 'CONTEXT:  SQL %' $$;
-- every column of a table, read from the file and through the server
CREATE FUNCTION same_through_server(tab regclass)
RETURNS TABLE (rows bigint, columns int, differing text)
LANGUAGE plpgsql AS $$
DECLARE
  twin regclass := served_twin(tab);
  col name;
  query text;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s', twin) INTO rows;
  columns := 0;
  FOR col IN SELECT attname FROM pg_attribute
              WHERE attrelid = tab AND attnum > 0 AND NOT attisdropped
              ORDER BY attnum LOOP
    query := 'SELECT %I::text FROM %s ORDER BY 1';
    IF read_lines(format(query, col, tab)) IS DISTINCT FROM
       read_lines(format(query, col, twin)) THEN
      differing := concat_ws(', ', differing, col);
    END IF;
    columns := columns + 1;
  END LOOP;
  RETURN NEXT;
END $$;
SET client_min_messages = error;  -- skipped rows: a WARNING naming the file
SELECT t AS "table", s.*
  FROM unnest(ARRAY['special', 'special_ints', 'shapes', 'shapes_json',
                    'exotic', 'strings', 'far_dates', 'every_type',
                    'arrays']::regclass[]) AS t,
       same_through_server(t) AS s;
RESET client_min_messages;
-- v_json and v_jsonb differ in one document: DocumentDB (b2e220c) cuts a
-- JavaScript value at a zero byte when a find projects fields; the whole
-- document ($$ROOT, no projection) keeps it, as fixtures.py checked
SELECT t._id, t.what, t.v_json AS from_the_file,
       s.v_json AS through_the_server
  FROM every_type t JOIN served.every_type s USING (_id)
 WHERE t.v_json::text IS DISTINCT FROM s.v_json::text;
SELECT doc_json FROM served.every_type WHERE what = 'javascript with a zero byte';
\else
SELECT 'FerretDB stores none of these values' AS through_the_server;
\endif

SET client_min_messages = warning;
DROP SERVER mine, dump, regress CASCADE;
DROP SERVER IF EXISTS served CASCADE;
DROP SCHEMA IF EXISTS served;
DROP FUNCTION IF EXISTS served_twin, read_lines, same_through_server;
DROP FUNCTION in_dump;
DROP OWNED BY regress_dump_user;
REVOKE CREATE ON SCHEMA public FROM regress_dump_user;
DROP ROLE regress_dump_user;
