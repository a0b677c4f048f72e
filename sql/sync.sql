--
-- mongo_etl.sync: incremental refresh by a watermark, upserts by key,
-- deletes of keys gone from MongoDB, its state, and its failures.
--
\i sql/include/mongo_uri.sql
\set VERBOSITY terse
CREATE SERVER sync_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri :'mongo_uri');
CREATE USER MAPPING FOR CURRENT_USER SERVER sync_src :mongo_login;
CREATE SCHEMA sync;
SET search_path = sync;
SET timezone = 'UTC';

\i sql/include/mongo_exec.sql
SELECT pg_temp.mongo_exec('db.orders.drop(); db.orders.insert_many([{''_id'': i, ''status'': ''new'', ''total'': i * 10, ''updated'': datetime.datetime(2024, 1, 1, 0, 0, i)} for i in range(1, 6)])');

CREATE FOREIGN TABLE orders (
  _id int, status text OPTIONS (bson_type 'string'), total int,
  updated timestamptz OPTIONS (bson_type 'date')
) SERVER sync_src OPTIONS (database 'mongo_etl_regress');
CREATE TABLE orders_copy (_id int PRIMARY KEY, status text, total int,
                          updated timestamptz);

-- the first run copies everything and records the watermark
CALL mongo_etl.sync('orders', 'orders_copy', watermark => 'updated');
SELECT * FROM orders_copy ORDER BY _id;
SELECT source, target, watermark, last_value, last_rows, last_deleted
  FROM mongo_etl.sync_state;

-- changes in MongoDB: an update, a new document, a deletion
SELECT pg_temp.mongo_exec('db.orders.update_one({''_id'': 2}, {''\$set'': {''status'': ''paid'', ''updated'': datetime.datetime(2024, 1, 2)}}); db.orders.insert_one({''_id'': 6, ''status'': ''new'', ''total'': 60, ''updated'': datetime.datetime(2024, 1, 3)}); db.orders.delete_one({''_id'': 4})');
-- the next run reads the window from the last watermark on: the filter
-- goes to MongoDB
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT * FROM orders s WHERE s.updated >= '2024-01-01 00:00:05+00';
CALL mongo_etl.sync('orders', 'orders_copy', watermark => 'updated');
SELECT * FROM orders_copy ORDER BY _id;
-- deleting what MongoDB no longer has takes a scan of every key
CALL mongo_etl.sync('orders', 'orders_copy', watermark => 'updated', delete_missing => true);
SELECT _id FROM orders_copy ORDER BY _id;
SELECT watermark, last_value, last_rows, last_deleted FROM mongo_etl.sync_state;
-- nothing new: the window holds only the last document again
CALL mongo_etl.sync('orders', 'orders_copy', watermark => 'updated');

-- without a watermark every document is upserted
CREATE TABLE orders_full (_id int PRIMARY KEY, total int);
INSERT INTO orders_full VALUES (1, 0), (2, 0);
CALL mongo_etl.sync('orders', 'orders_full');
SELECT * FROM orders_full ORDER BY _id;
CALL mongo_etl.sync('orders', 'orders_full');
SELECT target, watermark, last_value, last_rows FROM mongo_etl.sync_state ORDER BY target;

-- a run that fails changes nothing, and the next one repeats its window:
-- first the server is unreachable, then the target refuses a row mid-way
SELECT pg_temp.mongo_exec('db.orders.update_many({}, {''\$set'': {''status'': ''shipped'', ''updated'': datetime.datetime(2024, 2, 1)}}); db.orders.insert_one({''_id'': 7, ''status'': ''shipped'', ''total'': 70, ''updated'': datetime.datetime(2024, 2, 1)})');
ALTER SERVER sync_src OPTIONS (SET uri 'mongodb://127.0.0.1:1/');
CALL mongo_etl.sync('orders', 'orders_copy', watermark => 'updated');
ALTER SERVER sync_src OPTIONS (SET uri :'mongo_uri');
SELECT watermark, last_value, last_rows FROM mongo_etl.sync_state
 WHERE target = 'orders_copy'::regclass;
CREATE FUNCTION refuse_7() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW._id = 7 THEN RAISE EXCEPTION 'refusing order 7'; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refusing BEFORE INSERT ON orders_copy
  FOR EACH ROW EXECUTE FUNCTION refuse_7();
CALL mongo_etl.sync('orders', 'orders_copy', watermark => 'updated');
SELECT count(*) FILTER (WHERE status = 'shipped') AS shipped, count(*) FROM orders_copy;
SELECT watermark, last_value, last_rows FROM mongo_etl.sync_state
 WHERE target = 'orders_copy'::regclass;
DROP TRIGGER refusing ON orders_copy;
CALL mongo_etl.sync('orders', 'orders_copy', watermark => 'updated');
SELECT count(*) FILTER (WHERE status = 'shipped') AS shipped, count(*),
       count(DISTINCT _id) FROM orders_copy;
SELECT watermark, last_value, last_rows FROM mongo_etl.sync_state
 WHERE target = 'orders_copy'::regclass;

-- runs on one target are serialized: a second one is refused
CREATE EXTENSION dblink SCHEMA public;
SELECT public.dblink_connect('other', format('dbname=%s host=127.0.0.1 port=%s', current_database(), current_setting('port')));
SELECT public.dblink_exec('other', 'BEGIN');
SELECT * FROM public.dblink('other',
  format('SELECT pg_try_advisory_xact_lock(1836019557, %s)', 'orders_copy'::regclass::oid))
  AS t(locked bool);
CALL mongo_etl.sync('orders', 'orders_copy', watermark => 'updated');
SELECT public.dblink_exec('other', 'ROLLBACK');
SELECT public.dblink_disconnect('other');

-- what sync needs
CREATE TABLE orders_nokey (_id int, status text);
CALL mongo_etl.sync('orders', 'orders_nokey');
CALL mongo_etl.sync('orders', 'orders_copy', key => 'total');
CALL mongo_etl.sync('orders', 'orders_copy', watermark => 'changed');
CALL mongo_etl.sync('orders', NULL);
RESET search_path;
