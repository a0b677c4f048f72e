--
-- mongo_etl.sync scheduled with pg_cron: the job runs every minute (the
-- finest schedule of pg_cron 1.4, Debian 12's) in the database
-- mongo_etl_cron, which test/servers.sh creates and pg_cron serves; this
-- session sets it up through dblink, changes documents in MongoDB, and
-- waits for the target table to follow.  About two minutes.
--
\i sql/include/mongo_uri.sql
\getenv pgport PGPORT
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink SCHEMA public;
RESET client_min_messages;
SELECT public.dblink_connect('cron',
  format('dbname=mongo_etl_cron host=127.0.0.1 port=%s', :'pgport'));

\i sql/include/mongo_exec.sql
-- waits up to the given seconds for a query in the cron database to
-- return true
CREATE FUNCTION pg_temp.cron_wait(condition text, seconds int) RETURNS bool
LANGUAGE plpgsql AS $$
DECLARE
  done bool;
BEGIN
  FOR i IN 1 .. seconds LOOP
    SELECT v INTO done FROM public.dblink('cron', condition) AS t(v bool);
    IF done THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(1);
  END LOOP;
  RETURN false;
END $$;

SELECT pg_temp.mongo_exec('db.cron_orders.drop(); db.cron_orders.insert_many([{''_id'': i, ''status'': ''new'', ''updated'': datetime.datetime(2024, 1, i)} for i in range(1, 4)])');

-- the cron database: the extensions, the foreign table, the target
SELECT public.dblink_exec('cron', 'CREATE EXTENSION IF NOT EXISTS pg_cron');
SELECT public.dblink_exec('cron', 'CREATE EXTENSION IF NOT EXISTS mongo_etl');
SELECT public.dblink_exec('cron', 'DROP SERVER IF EXISTS cron_src CASCADE');
SELECT public.dblink_exec('cron', 'DROP TABLE IF EXISTS cron_orders_copy');
SELECT public.dblink_exec('cron', 'DELETE FROM mongo_etl.sync_state') LIKE 'DELETE %' AS cleared;
SELECT public.dblink_exec('cron',
  format('CREATE SERVER cron_src FOREIGN DATA WRAPPER mongo_etl OPTIONS (uri %L)', :'mongo_uri'));
SELECT public.dblink_exec('cron',
  format('CREATE USER MAPPING FOR CURRENT_USER SERVER cron_src %s', :'mongo_login'));
SELECT public.dblink_exec('cron', $$
  CREATE FOREIGN TABLE cron_orders (_id int, status text,
    updated timestamptz OPTIONS (bson_type 'date'))
  SERVER cron_src OPTIONS (database 'mongo_etl_regress')$$);
SELECT public.dblink_exec('cron',
  'CREATE TABLE cron_orders_copy (_id int PRIMARY KEY, status text, updated timestamptz)');

-- every minute, as HACKING.md describes
SELECT jobid > 0 AS scheduled FROM public.dblink('cron', $$
  SELECT cron.schedule('mongo_etl_sync_test', '* * * * *',
    $job$CALL mongo_etl.sync('cron_orders', 'cron_orders_copy', watermark => 'updated')$job$)$$)
  AS t(jobid bigint);

-- the first run copies the three documents
SELECT pg_temp.cron_wait('SELECT count(*) = 3 FROM cron_orders_copy', 90) AS first_run;
-- an update and a new document in MongoDB; the next run brings both
SELECT pg_temp.mongo_exec('db.cron_orders.update_one({''_id'': 1}, {''\$set'': {''status'': ''paid'', ''updated'': datetime.datetime(2024, 2, 1)}}); db.cron_orders.insert_one({''_id'': 4, ''status'': ''new'', ''updated'': datetime.datetime(2024, 2, 2)})');
SELECT pg_temp.cron_wait($$SELECT count(*) = 4 AND bool_or(_id = 1 AND status = 'paid')
                            FROM cron_orders_copy$$, 90) AS converged;
SELECT * FROM public.dblink('cron', 'SELECT _id, status FROM cron_orders_copy ORDER BY _id')
  AS t(_id int, status text);
SELECT * FROM public.dblink('cron', $$
  SELECT watermark, last_value FROM mongo_etl.sync_state$$)
  AS t(watermark text, last_value text);
SELECT ok FROM public.dblink('cron', $$
  SELECT count(*) >= 2 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
   WHERE j.jobname = 'mongo_etl_sync_test' AND d.status = 'succeeded'$$)
  AS t(ok bool);

-- unscheduled, it is gone
SELECT * FROM public.dblink('cron', $$SELECT cron.unschedule('mongo_etl_sync_test')$$)
  AS t(unscheduled bool);
SELECT * FROM public.dblink('cron', $$SELECT count(*) FROM cron.job$$) AS t(jobs bigint);
SELECT public.dblink_disconnect('cron');
