/* mongo_etl--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION mongo_etl UPDATE TO '1.1'" to load this file. \quit

-- Where an interrupted mongo_etl.load from a mongodump file stopped: the
-- byte offset after the last document of its last committed batch, which
-- commits with the batch's rows.  A resumed load starts there if the file
-- is unchanged; a load that reaches the end of the file, or starts over,
-- drops its row.  See README, "Bulk load".
CREATE TABLE mongo_etl.load_state (
  source regclass NOT NULL,
  target regclass NOT NULL,
  file text NOT NULL,                  -- the mongodump file read
  file_size bigint NOT NULL,           -- its size and modification time
  file_modified timestamptz NOT NULL,  -- then: a changed file is refused
  next_offset bigint NOT NULL,         -- where the next document starts
  documents bigint NOT NULL,           -- documents read before it
  rows_loaded bigint NOT NULL,         -- rows they gave the target
  updated timestamptz NOT NULL,
  PRIMARY KEY (source, target)
);
SELECT pg_catalog.pg_extension_config_dump('mongo_etl.load_state', '');

-- Every role that may load into a target keeps its loads' rows here, and
-- sees and changes only the rows of targets it can insert into.
ALTER TABLE mongo_etl.load_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY load_state_of_own_targets ON mongo_etl.load_state
  USING (pg_catalog.has_table_privilege(target, 'INSERT'))
  WITH CHECK (pg_catalog.has_table_privilege(target, 'INSERT'));
GRANT SELECT, INSERT, UPDATE, DELETE ON mongo_etl.load_state TO PUBLIC;
