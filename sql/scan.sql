--
-- Scans: documents into tuples, projection, nested fields, loading.
--
-- On DocumentDB, expected/scan_1.out: its cursor ends with the last full
-- batch, where FerretDB answers one more getMore with an empty one, so a
-- scan of 20,000 documents takes one round trip fewer.
\i sql/include/mongo_uri.sql
CREATE SERVER regress FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress :mongo_login;

-- the README's example table over test/fixtures/users.json
CREATE FOREIGN TABLE users (
  _id text, name text, age int, email text, created timestamptz,
  score float8, active bool, city text OPTIONS (field 'address.city'),
  tags jsonb
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'users');

SET timezone = 'UTC';
SELECT * FROM users ORDER BY _id;

-- missing fields and BSON nulls are SQL NULL; an int64 and an integral
-- double that fit go into int
SELECT name, age, email IS NULL AS no_email, city IS NULL AS no_city
  FROM users ORDER BY _id;

-- only the referenced fields are asked for; a nested path and its parent
-- are fetched as the parent alone
EXPLAIN (VERBOSE, COSTS OFF) SELECT name, city FROM users WHERE age > 30;
CREATE FOREIGN TABLE users_nested (
  name text,
  address jsonb,
  city text OPTIONS (field 'address.city'),
  lat float8 OPTIONS (field 'address.geo.lat'),
  first_tag text OPTIONS (field 'tags.0'),
  name_again varchar(20) OPTIONS (field 'name')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'users');
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM users_nested;
SELECT * FROM users_nested ORDER BY name;
-- a column not in the query is neither fetched nor converted
EXPLAIN (VERBOSE, COSTS OFF) SELECT lat FROM users_nested;
SELECT lat FROM users_nested WHERE lat IS NOT NULL;

-- a scan returns its converted values, not a stored tuple: a sort, a hash
-- join and a nested loop's rescanned inner side each keep their own copy
-- of a row (done here: nothing sent to MongoDB but the scans); tableoid
-- names the foreign table, and a system column a document does not have
-- is an error, as for any tuple not read from a table
SET mongo_etl.pushdown = off;
SET enable_mergejoin = off;
SET enable_material = off;
EXPLAIN (COSTS OFF)
SELECT tableoid::regclass, name, age FROM users ORDER BY name LIMIT 3;
SELECT tableoid::regclass, name, age FROM users ORDER BY name LIMIT 3;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF)
SELECT u.name, n.city FROM users u JOIN users_nested n USING (name)
  ORDER BY u.name;
SELECT u.name, n.city FROM users u JOIN users_nested n USING (name)
  ORDER BY u.name;
RESET enable_nestloop;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF)
SELECT u.name, n.lat FROM users u JOIN users_nested n ON n.lat > u.age
  ORDER BY u.name, n.lat;
SELECT u.name, n.lat FROM users u JOIN users_nested n ON n.lat > u.age
  ORDER BY u.name, n.lat;
RESET enable_hashjoin;
RESET enable_material;
RESET enable_mergejoin;
RESET mongo_etl.pushdown;
SELECT xmin FROM users LIMIT 1;

-- a path into the elements of an array must name an element; otherwise
-- the values cannot be read into one scalar, and that is an error
CREATE FOREIGN TABLE users_tag_note (name text, note text OPTIONS (field 'tags.note'))
  SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'users');
SELECT name, note FROM users_tag_note;
ALTER FOREIGN TABLE users_tag_note ALTER COLUMN note OPTIONS (SET field 'tags.1.note');
SELECT name, note FROM users_tag_note ORDER BY name;

-- $$ROOT: the whole document beside typed columns, as jsonb (built
-- directly), text (canonical extended JSON) or bytea (the raw BSON)
CREATE FOREIGN TABLE users_whole (
  _id text,
  doc jsonb OPTIONS (field '$$ROOT'),
  doc_text text OPTIONS (field '$$ROOT'),
  doc_bson bytea OPTIONS (field '$$ROOT')
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'users');
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id, doc FROM users_whole;
SELECT _id, doc FROM users_whole ORDER BY _id LIMIT 2;
SELECT _id, doc_text FROM users_whole ORDER BY _id LIMIT 1;
SELECT _id, length(doc_bson) AS bson_bytes,
       get_byte(doc_bson, 0) + 256 * get_byte(doc_bson, 1) = length(doc_bson) AS length_prefix_matches,
       doc = doc::text::jsonb AS same_as_parsed,
       doc ->> 'name' = (SELECT name FROM users u WHERE u._id = users_whole._id) AS same_name
  FROM users_whole ORDER BY _id;
-- only jsonb, text and bytea can hold a whole document
ALTER FOREIGN TABLE users_whole ADD COLUMN doc_int int OPTIONS (field '$$ROOT');
SELECT doc_int FROM users_whole;
ALTER FOREIGN TABLE users_whole DROP COLUMN doc_int;

-- comparisons of number columns with number constants go to MongoDB as a
-- filter (and are still checked locally): an integral double (Dev's 38.0)
-- and an int64 (Chloé's 27) compare as numbers there too
SELECT name, age FROM users WHERE age > 30 ORDER BY name;
SELECT name, age FROM users WHERE 30 >= age ORDER BY name;
CREATE FOREIGN TABLE big_filtered (n int, score float8, even bool)
  SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'big');
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT count(*) FROM big_filtered WHERE n >= 19990 AND n <> 19995 AND score < 9999.5;
SELECT count(*) FROM big_filtered WHERE n >= 19990 AND n <> 19995 AND score < 9999.5;
-- MongoDB returned only the matching documents
SELECT public.explain_analyze(
  $$SELECT n FROM big_filtered WHERE n >= 19990 AND n <> 19995 AND score < 9999.5$$);
-- IN and NOT IN on number columns, IS NOT NULL, and boolean columns too
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT n FROM big_filtered
   WHERE n IN (3, 5, 19998, NULL) AND n NOT IN (5) AND even AND score IS NOT NULL;
SELECT n FROM big_filtered
 WHERE n IN (3, 5, 19998, NULL) AND n NOT IN (5) AND even AND score IS NOT NULL;
SELECT count(*) FROM big_filtered WHERE NOT even AND n = ANY ('{1,2,3,4}'::int8[]);
SELECT name, email FROM users WHERE email IS NOT NULL AND NOT active ORDER BY name;
SELECT public.explain_analyze(
  $$SELECT name FROM users WHERE email IS NOT NULL AND NOT active$$);

-- values known only when the query runs: parameters of a prepared
-- statement (a generic plan shows the placeholder) and PL/pgSQL variables
SET plan_cache_mode = force_generic_plan;
PREPARE big_from(int) AS
  SELECT count(*) FROM big_filtered WHERE n >= $1 AND n < $1 + 5;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE big_from(19990);
EXECUTE big_from(19990);
EXECUTE big_from(NULL);
SELECT public.explain_analyze($$EXECUTE big_from(100)$$);
DEALLOCATE big_from;
RESET plan_cache_mode;
CREATE FUNCTION count_from(lo int) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT count(*) FROM big_filtered WHERE n >= lo);
END $$;
SELECT count_from(19995), count_from(0), count_from(20000);
DROP FUNCTION count_from;

-- not sent: > on a float column (NaN sorts differently), numeric constants,
-- OR, and columns that take booleans as numbers; PostgreSQL alone decides
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT n FROM big_filtered WHERE score > 9990 OR n = 1.5 OR n::numeric > 3;
ALTER FOREIGN TABLE big_filtered ALTER COLUMN n OPTIONS (bool_values 'true');
EXPLAIN (VERBOSE, COSTS OFF) SELECT n FROM big_filtered WHERE n = 5;

-- other WHERE clauses are evaluated locally, on the fields they need
SELECT name FROM users WHERE city = 'Oslo' OR score < 0 ORDER BY name;
-- count(*) is counted by MongoDB; without pushdown, the scan fetches
-- only _id
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM users;
SELECT count(*) FROM users;
SET mongo_etl.pushdown = off;
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM users;
SELECT count(*) FROM users;
RESET mongo_etl.pushdown;
-- a whole-row reference fetches every column
EXPLAIN (VERBOSE, COSTS OFF) SELECT u FROM users u WHERE name = 'Eve';
SELECT u FROM users u WHERE name = 'Eve';

-- INSERT ... SELECT: the migration path
CREATE TABLE local_users (
  _id text PRIMARY KEY, name text, age int, email text, created timestamptz,
  score float8, active bool, city text, tags jsonb
);
INSERT INTO local_users SELECT * FROM users;
SELECT count(*), sum(age), string_agg(city, ',' ORDER BY city) FROM local_users;
SELECT (SELECT count(*) FROM (SELECT * FROM users EXCEPT SELECT * FROM local_users) d) AS missing;

-- rescans: the inner foreign scan restarts for every outer row
SET enable_material = off;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF)
SELECT g, count(u.name) FROM generate_series(1, 3) g
  LEFT JOIN users u ON u.age > g * 30 GROUP BY g ORDER BY g;
SELECT g, count(u.name) FROM generate_series(1, 3) g
  LEFT JOIN users u ON u.age > g * 30 GROUP BY g ORDER BY g;
RESET enable_material;
RESET enable_hashjoin;
RESET enable_mergejoin;

-- a collection that does not exist reads as empty, as in MongoDB
CREATE FOREIGN TABLE nothing (a int)
  SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'no_such_collection');
SELECT count(*) FROM nothing;

-- 20,000 documents in batches of 1,000, read completely: every generated
-- document is there, exactly once, with its values
CREATE FOREIGN TABLE big (
  _id int, n int, name text, score float8, big int8, even bool
) SERVER regress OPTIONS (database 'mongo_etl_regress', collection 'big', batch_size '1000');
SELECT count(*), count(DISTINCT _id), min(n), max(n) FROM big;
SELECT count(*) AS differing FROM (
  SELECT * FROM big
  EXCEPT
  SELECT n, n, format('user-%s', lpad(n::text, 5, '0')), n * 0.5,
         n * 1000000007::int8, n % 2 = 0
    FROM generate_series(0, 19999) n
) d;
SELECT md5(string_agg(concat_ws('|', _id, big.n, name, score, big, even), ',' ORDER BY _id))
     = md5(string_agg(concat_ws('|', g.n, g.n, format('user-%s', lpad(g.n::text, 5, '0')), g.n * 0.5::float8, g.n * 1000000007::int8, g.n % 2 = 0), ',' ORDER BY g.n))
       AS checksum_matches
  FROM big FULL JOIN generate_series(0, 19999) g(n) ON g.n = big._id;

-- read ahead (mongo_etl.read_ahead): once a getMore's reply is in, the next
-- getMore is sent at once, and answers libmongoc's own when it asks.  20
-- batches of 1,000: the find, then getMores; all but the first are read
-- ahead.  Off, the same round trips, none read ahead.  (The checksum above
-- was read with it on.)
SELECT public.explain_analyze($$SELECT * FROM big$$);
SET mongo_etl.read_ahead = off;
SELECT public.explain_analyze($$SELECT * FROM big$$);
RESET mongo_etl.read_ahead;

-- two cursors on one connection read in turns, with other queries between:
-- a batch asked for early is held while other messages go first, and each
-- cursor still gets its own documents in order (the fixture inserted n =
-- 0, 1, ... 19999); closing a cursor with a batch on its way leaves the
-- connection usable
BEGIN;
DECLARE c1 CURSOR FOR SELECT n FROM big;
DECLARE c2 CURSOR FOR SELECT n FROM big;
MOVE 1500 IN c1;
MOVE 2500 IN c2;
FETCH 1 FROM c1;
FETCH 1 FROM c2;
SELECT count(*) FROM big_filtered WHERE n < 10;
MOVE 5000 IN c1;
FETCH 1 FROM c1;
MOVE 5000 IN c2;
FETCH 1 FROM c2;
CLOSE c2;
SELECT count(*), sum(n) FROM big;
MOVE FORWARD ALL IN c1;
CLOSE c1;
COMMIT;
SELECT count(*), sum(n) FROM big;

DROP TABLE local_users;
SET client_min_messages = warning;
DROP SERVER regress CASCADE;
