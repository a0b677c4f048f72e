/* mongo_etl--1.3--1.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION mongo_etl UPDATE TO '1.4'" to load this file. \quit

-- mongo_etl.sync's delete_missing on a Citus table (distributed,
-- reference or Citus-managed local): Citus refuses the DELETE ... WHERE
-- NOT EXISTS over the foreign table that other tables use (see README,
-- "Citus").  The rest of the procedure is 1.0's.
CREATE OR REPLACE PROCEDURE mongo_etl.sync(
  source regclass,
  target regclass,
  key text DEFAULT '_id',
  watermark text DEFAULT NULL,
  delete_missing boolean DEFAULT false)
LANGUAGE plpgsql AS $sync$
DECLARE
  mapping record;
  state mongo_etl.sync_state;
  started timestamptz := clock_timestamp();
  from_value text;
  collate_c text := '';
  aliases text := '';
  set_list text := '';
  query text;
  new_value text;
  upserted bigint;
  deleted bigint := 0;
  citus_table boolean := false;
  missing text := format('mongo_etl_sync_missing_%s', target::oid);
  null_keys bigint;
  i int;
BEGIN
  IF source IS NULL OR target IS NULL OR key IS NULL THEN
    RAISE EXCEPTION 'source, target and key must not be NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- another run on this target waits for nothing: it is refused
  IF NOT pg_try_advisory_xact_lock(1836019557, target::oid::int) THEN
    RAISE EXCEPTION 'mongo_etl.sync into "%" is already running', target
      USING ERRCODE = 'lock_not_available',
            HINT = 'Runs on one target are serialized; this one did nothing and the next will catch up.';
  END IF;

  -- upserts need a unique index on exactly the key
  IF NOT EXISTS (
      SELECT 1 FROM pg_index x
        JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
       WHERE x.indrelid = target AND x.indisunique AND x.indnkeyatts = 1
         AND x.indpred IS NULL AND x.indexprs IS NULL AND a.attname = key) THEN
    RAISE EXCEPTION '"%" has no unique index on column "%"', target, key
      USING ERRCODE = 'invalid_object_definition',
            HINT = format('mongo_etl.sync inserts or updates rows by their key: CREATE UNIQUE INDEX ON %s (%I).', target, key);
  END IF;

  mapping := mongo_etl.load_columns(source, target);
  IF NOT quote_ident(key) = ANY (mapping.columns) THEN
    RAISE EXCEPTION '"%" has no column "%" to fill "%"''s key', source, key, target
      USING ERRCODE = 'undefined_column';
  END IF;
  FOR i IN 1 .. cardinality(mapping.columns) LOOP
    aliases := aliases || format('%s%s AS c%s', CASE WHEN i > 1 THEN ', ' END,
                                 mapping.expressions[i], i);
    IF mapping.columns[i] <> quote_ident(key) THEN
      set_list := set_list || format('%s%s = EXCLUDED.%s',
                                     CASE WHEN set_list <> '' THEN ', ' END,
                                     mapping.columns[i], mapping.columns[i]);
    END IF;
  END LOOP;

  SELECT * INTO state FROM mongo_etl.sync_state s
   WHERE s.source = sync.source AND s.target = sync.target;
  IF watermark IS NOT NULL THEN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                    WHERE attrelid = source AND attname = watermark
                      AND attnum > 0 AND NOT attisdropped) THEN
      RAISE EXCEPTION '"%" has no column "%"', source, watermark
        USING ERRCODE = 'undefined_column';
    END IF;
    IF (SELECT t.typcategory FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = source AND a.attname = watermark) = 'S' THEN
      collate_c := ' COLLATE "C"';
    END IF;
    -- the window starts at the last value seen, which it includes: a
    -- document written in the same instant as the last one synced is
    -- not missed, and one synced twice is updated to itself
    IF state.watermark = watermark THEN
      from_value := state.last_value;
    END IF;
  END IF;

  query := format(
    'WITH batch AS MATERIALIZED (SELECT %s, %s AS wm FROM %s s%s), '
    'upserted AS (INSERT INTO %s (%s) SELECT %s FROM batch '
    'ON CONFLICT (%I) DO %s RETURNING 1) '
    'SELECT (SELECT max(wm%s)::text FROM batch), (SELECT count(*) FROM upserted)',
    aliases,
    CASE WHEN watermark IS NULL THEN 'NULL::text' ELSE format('s.%I', watermark) END,
    source,
    CASE WHEN from_value IS NOT NULL
         THEN format(' WHERE s.%I%s >= CAST($1 AS %s)', watermark, collate_c,
                     (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                       WHERE attrelid = source AND attname = watermark))
         ELSE '' END,
    target, array_to_string(mapping.columns, ', '),
    (SELECT string_agg('c' || n, ', ') FROM generate_series(1, cardinality(mapping.columns)) n),
    key,
    CASE WHEN set_list = '' THEN 'NOTHING' ELSE 'UPDATE SET ' || set_list END,
    collate_c);
  EXECUTE query INTO new_value, upserted USING from_value;

  IF delete_missing THEN
    -- (a dynamic query: pg_dist_partition exists only with Citus)
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
      EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition '
              'WHERE logicalrelid = $1)' INTO citus_table USING target;
    END IF;
    IF NOT citus_table THEN
      EXECUTE format('DELETE FROM %s t WHERE NOT EXISTS (SELECT 1 FROM %s s WHERE s.%I = t.%I)',
                     target, source, key, key);
      GET DIAGNOSTICS deleted = ROW_COUNT;
    ELSE
      -- Citus plans no DELETE of a distributed or reference table whose
      -- subquery reads a foreign table, but it reads a temporary table:
      -- the keys of the target that the source lacks go there first
      -- (compared as EXCEPT compares, by the key type's equality).  Rows
      -- with a NULL key, which no source key equals, go as above.
      EXECUTE format('CREATE TEMPORARY TABLE %1$I ON COMMIT DROP AS '
                     'SELECT %2$I AS key FROM %3$s EXCEPT SELECT %2$I FROM %4$s',
                     missing, key, target, source);
      EXECUTE format('DELETE FROM %s WHERE %I IN (SELECT key FROM pg_temp.%I)',
                     target, key, missing);
      GET DIAGNOSTICS deleted = ROW_COUNT;
      EXECUTE format('DROP TABLE pg_temp.%I', missing);
      EXECUTE format('DELETE FROM %s WHERE %I IS NULL', target, key);
      GET DIAGNOSTICS null_keys = ROW_COUNT;
      deleted := deleted + null_keys;
    END IF;
  END IF;

  INSERT INTO mongo_etl.sync_state AS s
    VALUES (source, target, watermark, coalesce(new_value, from_value),
            now(), upserted, deleted)
  ON CONFLICT ON CONSTRAINT sync_state_pkey DO UPDATE
    SET watermark = EXCLUDED.watermark, last_value = EXCLUDED.last_value,
        last_run = EXCLUDED.last_run, last_rows = EXCLUDED.last_rows,
        last_deleted = EXCLUDED.last_deleted;
  RAISE NOTICE 'synced "%" from "%": % inserted or updated, % deleted',
    target, source, upserted, deleted
    USING DETAIL = CASE WHEN watermark IS NULL
      THEN format('%s s; every row, as no watermark was given.',
                  round(extract(epoch FROM clock_timestamp() - started), 3))
      ELSE format('%s s; %s is now at %s.',
                  round(extract(epoch FROM clock_timestamp() - started), 3),
                  quote_ident(watermark),
                  coalesce(new_value, from_value, 'no value yet')) END;
END
$sync$;
