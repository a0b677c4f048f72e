--
-- mongo_etl.load: bulk loading a foreign table into a table.  Timings are
-- in the NOTICEs' DETAIL lines, which VERBOSITY terse leaves out.
--
\i sql/include/mongo_uri.sql
\set VERBOSITY terse
CREATE SERVER load_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER load_src :mongo_login;
CREATE SCHEMA load;
SET search_path = load;
CREATE FOREIGN TABLE big (_id int, n int, name text, score float8, even bool)
  SERVER load_src OPTIONS (database 'mongo_etl_regress');

-- columns by name: defaults, serials, generated columns, constraints and
-- indexes are filled and checked as an INSERT would; a source column the
-- target lacks is named
CREATE TABLE big_copy (
  _id int PRIMARY KEY, n bigint NOT NULL CHECK (n >= 0), name text,
  score float8, loaded_at timestamptz DEFAULT now(), id serial,
  half float8 GENERATED ALWAYS AS (score / 2) STORED);
CREATE INDEX ON big_copy (name);
CALL mongo_etl.load('big', 'big_copy');
SELECT count(*), sum(n), count(DISTINCT id), sum(half) = sum(score) / 2 AS halves,
       count(loaded_at) FROM big_copy;
-- the rows are the source's rows
SELECT count(*) AS differing FROM (
  SELECT _id, n, name, score FROM big EXCEPT SELECT _id, n, name, score FROM big_copy) d;
SELECT name FROM big_copy WHERE name = 'user-00042';

-- again: the primary key refuses the duplicates, and nothing is kept
CALL mongo_etl.load('big', 'big_copy');
SELECT count(*) FROM big_copy;
-- truncate first
CALL mongo_etl.load('big', 'big_copy', truncate => true, progress_rows => 7500);
SELECT count(*), max(id) FROM big_copy;

-- a CHECK constraint violated by a loaded row stops the load
CREATE TABLE small_n (_id int, n int CHECK (n < 100));
CALL mongo_etl.load('big', 'small_n');
SELECT count(*) FROM small_n;

-- foreign keys and AFTER ROW triggers
CREATE TABLE parity (even bool PRIMARY KEY);
INSERT INTO parity VALUES (true);
CREATE TABLE big_even (_id int, even bool REFERENCES parity);
CALL mongo_etl.load('big', 'big_even');
INSERT INTO parity VALUES (false);
CREATE TABLE counted (n bigint);
INSERT INTO counted VALUES (0);
CREATE FUNCTION count_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE counted SET n = n + 1; RETURN NULL; END $$;
CREATE TRIGGER counting AFTER INSERT ON big_even FOR EACH ROW EXECUTE FUNCTION count_row();
CALL mongo_etl.load('big', 'big_even');
SELECT (SELECT count(*) FROM big_even) AS rows, (SELECT n FROM counted) AS triggered;

-- targets multi-insert does not serve go through INSERT ... SELECT: a
-- BEFORE trigger that changes rows, a partitioned table
CREATE TABLE big_upper (_id int, name text);
CREATE FUNCTION upper_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$;
CREATE TRIGGER uppering BEFORE INSERT ON big_upper FOR EACH ROW EXECUTE FUNCTION upper_name();
CALL mongo_etl.load('big', 'big_upper');
SELECT name FROM big_upper WHERE _id = 42;
CREATE TABLE big_parts (_id int, n int, even bool) PARTITION BY LIST (even);
CREATE TABLE big_parts_even PARTITION OF big_parts FOR VALUES IN (true);
CREATE TABLE big_parts_odd PARTITION OF big_parts FOR VALUES IN (false);
CALL mongo_etl.load('big', 'big_parts');
SELECT tableoid::regclass, count(*), sum(n) FROM big_parts GROUP BY 1 ORDER BY 1;
-- in batches, and resumed, that way too
TRUNCATE big_parts;
CALL mongo_etl.load('big', 'big_parts', batch_rows => 7000);
DELETE FROM big_parts WHERE _id >= 9000;
CALL mongo_etl.load('big', 'big_parts', batch_rows => 7000, resume => true);
SELECT count(*), sum(n), count(DISTINCT _id) FROM big_parts;

-- types: assignment casts are applied, others are an error; a target
-- column without a source column needs a default
CREATE TABLE big_numeric (_id bigint, n numeric, score text);
CALL mongo_etl.load('big', 'big_numeric');
SELECT * FROM big_numeric WHERE _id = 7;
CREATE TABLE big_wrong (_id int, even int);
CALL mongo_etl.load('big', 'big_wrong');
CREATE TABLE big_extra (_id int, region text NOT NULL);
CALL mongo_etl.load('big', 'big_extra');
CALL mongo_etl.load('big', 'nosuchtable');
CALL mongo_etl.load('big_copy', 'big_extra');
CALL mongo_etl.load(NULL, 'big_extra');

-- commit every batch_rows rows, in _id order; only as a CALL of its own
CREATE TABLE big_batches (_id int PRIMARY KEY, n int);
BEGIN;
CALL mongo_etl.load('big', 'big_batches', batch_rows => 5000);
ROLLBACK;
CALL mongo_etl.load('big', 'big_batches', batch_rows => 5000);
SELECT count(*), sum(n), min(_id), max(_id) FROM big_batches;

-- an interrupted load keeps its committed batches and resumes after the
-- largest _id loaded: no row lost, none twice.  First stopped by an error
-- in the third batch; an AFTER trigger in the second reads the load's
-- progress in pg_stat_progress_copy
TRUNCATE big_batches;
CREATE TABLE progress_seen (relname name, tuples bigint);
CREATE FUNCTION fail_at_5500() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW._id = 2500 THEN
    INSERT INTO progress_seen
      SELECT relid::regclass::name, tuples_processed
        FROM pg_stat_progress_copy WHERE pid = pg_backend_pid();
  END IF;
  IF NEW._id = 5500 THEN
    RAISE EXCEPTION 'stopped at _id %', NEW._id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER failing AFTER INSERT ON big_batches
  FOR EACH ROW EXECUTE FUNCTION fail_at_5500();
CALL mongo_etl.load('big', 'big_batches', batch_rows => 2500);
SELECT count(*), max(_id) FROM big_batches;
DROP TRIGGER failing ON big_batches;
CALL mongo_etl.load('big', 'big_batches', batch_rows => 7500, resume => true, progress_rows => 0);
SELECT count(*), sum(n), count(DISTINCT _id) FROM big_batches;
SELECT * FROM progress_seen;
-- then cancelled by statement_timeout wherever it is (how far it got
-- varies, so the resumed load's notices are not shown); a trigger that
-- sleeps at every thousandth row makes the load outlast the timeout
-- however fast the server is
TRUNCATE big_batches;
CREATE FUNCTION slow_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW._id % 1000 = 0 THEN
    PERFORM pg_sleep(0.5);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER slow BEFORE INSERT ON big_batches
  FOR EACH ROW EXECUTE FUNCTION slow_rows();
SET statement_timeout = '2500ms';
CALL mongo_etl.load('big', 'big_batches', batch_rows => 2500);
RESET statement_timeout;
DROP TRIGGER slow ON big_batches;
SET client_min_messages = warning;
CALL mongo_etl.load('big', 'big_batches', batch_rows => 7500, resume => true, progress_rows => 0);
RESET client_min_messages;
SELECT count(*), sum(n), count(DISTINCT _id) FROM big_batches;
SELECT (SELECT md5(string_agg(_id || ':' || n, ',' ORDER BY _id)) FROM big_batches) =
       (SELECT md5(string_agg(_id || ':' || n, ',' ORDER BY _id)) FROM big) AS same_rows;
CALL mongo_etl.load('big', 'big_batches', resume => true);
CALL mongo_etl.load('big', 'big_batches', resume => true, truncate => true);
CALL mongo_etl.load('big', 'big_extra', resume => true);

-- text _ids, in ObjectId order
CREATE FOREIGN TABLE users (_id text OPTIONS (bson_type 'objectId'), name text)
  SERVER load_src OPTIONS (database 'mongo_etl_regress');
CREATE TABLE users_copy (_id text PRIMARY KEY, name text);
CALL mongo_etl.load('users', 'users_copy', batch_rows => 2);
DELETE FROM users_copy WHERE _id > '64b7f0c2e4b0a1a2b3c4d5e2';
CALL mongo_etl.load('users', 'users_copy', batch_rows => 2, resume => true);
SELECT * FROM users_copy ORDER BY _id;

-- values on_type_mismatch reads as NULL are counted in the summary
CREATE FOREIGN TABLE mixed_qty (_id text, qty int OPTIONS (on_type_mismatch 'null'))
  SERVER load_src OPTIONS (database 'mongo_etl_regress', collection 'mixed');
CREATE TABLE qty_copy (_id text, qty int);
CALL mongo_etl.load('mixed_qty', 'qty_copy');
SELECT count(*), count(qty) FROM qty_copy;

-- from a mongodump file, batches are byte ranges of the file, read in the
-- file's order (not _id order: the file is shuffled), each starting where
-- the last ended; the position commits with each batch in
-- mongo_etl.load_state, and goes when the file is read to its end
\getenv test_dir MONGO_ETL_TEST_DIR
SELECT :'test_dir' || '/dump' AS dump_dir \gset
CREATE SERVER load_dump FOREIGN DATA WRAPPER mongo_etl OPTIONS (dump_dir :'dump_dir');
CREATE USER MAPPING FOR CURRENT_USER SERVER load_dump;
CREATE FOREIGN TABLE big_file (_id int, n int, name text)
  SERVER load_dump OPTIONS (database 'regress', collection 'big');
CREATE FOREIGN TABLE big_file_gz (_id int, n int, name text)
  SERVER load_dump OPTIONS (file 'regress/big.bson.gz');
CREATE TABLE file_batches (_id int PRIMARY KEY, n int, name text);
CALL mongo_etl.load('big_file', 'file_batches', batch_rows => 6000);
SELECT count(*), sum(n), count(DISTINCT _id) FROM file_batches;
SELECT count(*) AS positions FROM mongo_etl.load_state;
-- stopped by an error in the third batch: two batches stay, with their
-- position; the resumed load reads on from there, in batches or not
-- (rows_seen counts the rows inserted, rolled back or not, at a constant
-- cost per row: the 12,001st row fails the batch it is in)
TRUNCATE file_batches;
CREATE SEQUENCE rows_seen;
CREATE FUNCTION fail_at_third_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('rows_seen') > 12000 THEN
    RAISE EXCEPTION 'stopped after 12000 rows';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER failing AFTER INSERT ON file_batches
  FOR EACH ROW EXECUTE FUNCTION fail_at_third_batch();
CALL mongo_etl.load('big_file', 'file_batches', batch_rows => 6000, progress_rows => 0);
SELECT count(*) FROM file_batches;
SELECT source, target, file LIKE '%/regress/big.bson' AS file, next_offset,
       documents, rows_loaded FROM mongo_etl.load_state;
DROP TRIGGER failing ON file_batches;
CALL mongo_etl.load('big_file', 'file_batches', batch_rows => 5000, resume => true, progress_rows => 0);
SELECT count(*), sum(n), count(DISTINCT _id) FROM file_batches;
SELECT (SELECT md5(string_agg(_id || ':' || n || name, ',' ORDER BY _id)) FROM file_batches) =
       (SELECT md5(string_agg(_id || ':' || n || name, ',' ORDER BY _id)) FROM big) AS same_rows;
SELECT count(*) AS positions FROM mongo_etl.load_state;
-- a compressed file the same way, resumed in one transaction
TRUNCATE file_batches;
ALTER SEQUENCE rows_seen RESTART;
CREATE TRIGGER failing AFTER INSERT ON file_batches
  FOR EACH ROW EXECUTE FUNCTION fail_at_third_batch();
CALL mongo_etl.load('big_file_gz', 'file_batches', batch_rows => 5000, progress_rows => 0);
DROP TRIGGER failing ON file_batches;
SELECT count(*) FROM file_batches;
SELECT next_offset, documents, rows_loaded FROM mongo_etl.load_state;
CALL mongo_etl.load('big_file_gz', 'file_batches', resume => true, progress_rows => 0);
SELECT count(*), sum(n), count(DISTINCT _id) FROM file_batches;
SELECT count(*) AS positions FROM mongo_etl.load_state;
-- a load without batches that failed left nothing to resume from: the
-- resumed load reads the file from its start
TRUNCATE file_batches;
INSERT INTO file_batches VALUES (19999, 0, 'taken');
CALL mongo_etl.load('big_file', 'file_batches');
DELETE FROM file_batches;
CALL mongo_etl.load('big_file', 'file_batches', resume => true, progress_rows => 0);
SELECT count(*), sum(n) FROM file_batches;
-- a target holding rows with no position recorded resumes after its
-- largest _id, as from a server
DELETE FROM file_batches WHERE _id >= 15000;
CALL mongo_etl.load('big_file', 'file_batches', resume => true, progress_rows => 0);
SELECT count(*), sum(n) FROM file_batches;
-- a file that changed since the interruption is not resumed
TRUNCATE file_batches;
ALTER SEQUENCE rows_seen RESTART;
CREATE TRIGGER failing AFTER INSERT ON file_batches
  FOR EACH ROW EXECUTE FUNCTION fail_at_third_batch();
CALL mongo_etl.load('big_file', 'file_batches', batch_rows => 7000, progress_rows => 0);
DROP TRIGGER failing ON file_batches;
UPDATE mongo_etl.load_state SET file_size = file_size - 1;
CALL mongo_etl.load('big_file', 'file_batches', resume => true);
-- truncate starts over, and drops the position
CALL mongo_etl.load('big_file', 'file_batches', truncate => true, progress_rows => 0);
SELECT count(*), sum(n) FROM file_batches;
SELECT count(*) AS positions FROM mongo_etl.load_state;
-- another scan of the source while a batch loads (a trigger reading it)
-- reads the whole file, and leaves the load's position alone
CREATE TABLE nested_counts (n bigint);
CREATE SEQUENCE nested_seen;
CREATE FUNCTION count_source() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('nested_seen') % 5000 = 1 THEN
    INSERT INTO nested_counts SELECT count(*) FROM big_file;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER counting AFTER INSERT ON file_batches
  FOR EACH ROW EXECUTE FUNCTION count_source();
CALL mongo_etl.load('big_file', 'file_batches', truncate => true, batch_rows => 5000, progress_rows => 0);
DROP TRIGGER counting ON file_batches;
SELECT count(*), sum(n), count(DISTINCT _id) FROM file_batches;
SELECT n, count(*) AS times FROM nested_counts GROUP BY n;

-- the load forms a heap table's tuples itself: values of every width and
-- alignment, 1-byte and 4-byte varlena headers, a value compressed as it
-- is stored, nulls over a bitmap of three bytes and an expanded array (a
-- default made by PL/pgSQL, which heap_form_tuple flattens) read back as
-- INSERT ... SELECT stores them, at the same stored sizes; but for the
-- column of plain storage, which the load stores with a 4-byte header as
-- COPY does, and INSERT ... SELECT from a foreign table with a 1-byte one
-- (its tuple is formed with the query's row type, whose text is packable)
CREATE FOREIGN TABLE kinds_file (
  _id int, flag bool, big bigint, word text, n int, score float8, uid uuid,
  label name, span interval, code char(3), plain text, amount numeric,
  doc jsonb, raw bytea, long text, huge text, small smallint, at timestamptz)
  SERVER load_dump OPTIONS (file 'regress/load_kinds.bson');
CREATE FUNCTION grown_array() RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE
  a int[] := '{1,2,3}';
BEGIN
  a[4] := 4;
  RETURN a;
END $$;
CREATE TABLE kinds_load (_id int, flag bool, big bigint, word text, n int,
  score float8, uid uuid, label name, span interval, code char(3),
  plain text, amount numeric, doc jsonb, raw bytea, long text, huge text,
  small smallint, at timestamptz, grown int[] DEFAULT grown_array());
ALTER TABLE kinds_load ALTER COLUMN plain SET STORAGE PLAIN;
CREATE TABLE kinds_insert (LIKE kinds_load INCLUDING DEFAULTS INCLUDING STORAGE);
-- with a dropped column, the query's columns are mapped to the attributes
CREATE TABLE kinds_dropped (_id int, flag bool, big bigint, gone int,
  word text, n int, score float8, uid uuid, label name, span interval,
  code char(3), plain text, amount numeric, doc jsonb, raw bytea, long text,
  huge text, small smallint, at timestamptz,
  grown int[] DEFAULT grown_array());
ALTER TABLE kinds_dropped DROP COLUMN gone,
  ALTER COLUMN plain SET STORAGE PLAIN;
CALL mongo_etl.load('kinds_file', 'kinds_load');
CALL mongo_etl.load('kinds_file', 'kinds_dropped');
INSERT INTO kinds_insert SELECT * FROM kinds_file;
SELECT _id, flag, big, length(word) AS word, n, score, uid, label, span, code,
       plain, amount, doc, raw, length(long) AS long, length(huge) AS huge,
       small, at, grown
  FROM kinds_load ORDER BY _id;
CREATE FUNCTION stored_sizes(t anyelement) RETURNS int[] LANGUAGE sql AS $$
  SELECT ARRAY[pg_column_size(t.flag), pg_column_size(t.big),
    pg_column_size(t.word), pg_column_size(t.n), pg_column_size(t.score),
    pg_column_size(t.uid), pg_column_size(t.label), pg_column_size(t.span),
    pg_column_size(t.code), pg_column_size(t.amount), pg_column_size(t.doc),
    pg_column_size(t.raw), pg_column_size(t.long), pg_column_size(t.huge),
    pg_column_size(t.small), pg_column_size(t.at), pg_column_size(t.grown)]
$$;
SELECT _id, stored_sizes(k), pg_column_size(plain) AS plain
  FROM kinds_load k ORDER BY _id;
SELECT count(*) AS differing FROM (
  (SELECT *, stored_sizes(k) FROM kinds_load k
   EXCEPT SELECT *, stored_sizes(k) FROM kinds_insert k)
  UNION ALL
  (SELECT *, stored_sizes(k) FROM kinds_insert k
   EXCEPT SELECT *, stored_sizes(k) FROM kinds_load k)) d;
SELECT count(*) AS differing FROM (
  (SELECT *, stored_sizes(k), pg_column_size(plain) FROM kinds_load k
   EXCEPT
   SELECT *, stored_sizes(k), pg_column_size(plain) FROM kinds_dropped k)
  UNION ALL
  (SELECT *, stored_sizes(k), pg_column_size(plain) FROM kinds_dropped k
   EXCEPT
   SELECT *, stored_sizes(k), pg_column_size(plain) FROM kinds_load k)) d;
SELECT _id, pg_column_size(plain) AS plain FROM kinds_insert ORDER BY _id;
-- tableoid, which a CHECK constraint or a stored generated column may
-- read, is the target's, as INSERT sets it: in a tuple the load forms, and
-- in the slot a generated column is computed in
CREATE TABLE kinds_checked (_id int, n int,
  CHECK (tableoid = 'kinds_checked'::regclass));
CREATE TABLE kinds_generated (_id int, n int,
  loaded_into regclass GENERATED ALWAYS AS (tableoid::regclass) STORED);
CALL mongo_etl.load('kinds_file', 'kinds_checked');
CALL mongo_etl.load('kinds_file', 'kinds_generated');
SELECT count(*) FROM kinds_checked;
SELECT loaded_into, count(*) FROM kinds_generated GROUP BY loaded_into;

RESET search_path;
