/* mongo_etl--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION mongo_etl" to load this file. \quit

CREATE FUNCTION mongo_etl_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION mongo_etl_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER mongo_etl
  HANDLER mongo_etl_handler
  VALIDATOR mongo_etl_validator;

-- Copies every row of a mongo_etl foreign table into a table, matching
-- columns by name, in buffered multi-inserts (see README, "Bulk load").
CREATE PROCEDURE mongo_etl.load(
  source regclass,
  target regclass,
  truncate boolean DEFAULT false,
  batch_rows bigint DEFAULT 0,
  resume boolean DEFAULT false,
  progress_rows bigint DEFAULT 1000000)
AS 'MODULE_PATHNAME', 'mongo_etl_load'
LANGUAGE C;

-- How mongo_etl.load fills target from source: the expressions over the
-- source (aliased s) and the target columns they fill, in order.
CREATE FUNCTION mongo_etl.load_columns(
  source regclass, target regclass,
  OUT expressions text[], OUT columns text[])
AS 'MODULE_PATHNAME', 'mongo_etl_load_columns'
LANGUAGE C STRICT;

-- What each mongo_etl.sync of a source into a target did last.  Only a
-- successful run changes its row.
CREATE TABLE mongo_etl.sync_state (
  source regclass NOT NULL,
  target regclass NOT NULL,
  watermark text,           -- the source column compared, or NULL
  last_value text,          -- its largest value synced, as text
  last_run timestamptz NOT NULL,
  last_rows bigint NOT NULL,    -- rows inserted or updated by that run
  last_deleted bigint NOT NULL, -- rows it deleted (delete_missing)
  PRIMARY KEY (source, target)
);
SELECT pg_catalog.pg_extension_config_dump('mongo_etl.sync_state', '');

-- Incremental refresh of target from source: the rows whose watermark is
-- at or above the last run's largest (all rows without a watermark),
-- inserted or updated by key; with delete_missing, target rows whose key
-- the source no longer has are deleted (a scan of every key).  One
-- transaction: a failure changes nothing, so the next run repeats the
-- window.  Runs on one target are serialized.  See README, "Sync".
CREATE PROCEDURE mongo_etl.sync(
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
    EXECUTE format('DELETE FROM %s t WHERE NOT EXISTS (SELECT 1 FROM %s s WHERE s.%I = t.%I)',
                   target, source, key, key);
    GET DIAGNOSTICS deleted = ROW_COUNT;
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
