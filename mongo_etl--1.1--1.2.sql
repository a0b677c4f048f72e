/* mongo_etl--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION mongo_etl UPDATE TO '1.2'" to load this file. \quit

-- mongo_etl.load gains workers: with more than one, the source is split
-- into ranges that background workers load at the same time (see README,
-- "Parallel load").  A procedure's parameters cannot change in place.
DROP PROCEDURE mongo_etl.load(regclass, regclass, boolean, bigint, boolean,
                              bigint);
CREATE PROCEDURE mongo_etl.load(
  source regclass,
  target regclass,
  truncate boolean DEFAULT false,
  batch_rows bigint DEFAULT 0,
  resume boolean DEFAULT false,
  progress_rows bigint DEFAULT 1000000,
  workers integer DEFAULT 1)
AS 'MODULE_PATHNAME', 'mongo_etl_load'
LANGUAGE C;

-- The ranges of a parallel load, recorded before its workers start: byte
-- ranges of a mongodump file, or _id filters of a collection.  A worker
-- marks a range done in the transaction that loads it; a resumed load
-- loads the ranges not done, and a complete one drops its rows.
CREATE TABLE mongo_etl.load_ranges (
  source regclass NOT NULL,
  target regclass NOT NULL,
  range_no integer NOT NULL,
  file text,                  -- a file's range: the file, its size and
  file_size bigint,           -- modification time when planned (a changed
  file_modified timestamptz,  -- file is refused), the byte offset of the
  start_offset bigint,        -- range's first document, and how many
  documents bigint,           -- documents it holds
  filter text,                -- a collection's range: its _id filter
  done boolean NOT NULL DEFAULT false,
  rows_loaded bigint,
  updated timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, target, range_no)
);
SELECT pg_catalog.pg_extension_config_dump('mongo_etl.load_ranges', '');

-- As for load_state: a role sees and changes the ranges of targets it can
-- insert into, and only those.
ALTER TABLE mongo_etl.load_ranges ENABLE ROW LEVEL SECURITY;
CREATE POLICY load_ranges_of_own_targets ON mongo_etl.load_ranges
  USING (pg_catalog.has_table_privilege(target, 'INSERT'))
  WITH CHECK (pg_catalog.has_table_privilege(target, 'INSERT'));
GRANT SELECT, INSERT, UPDATE, DELETE ON mongo_etl.load_ranges TO PUBLIC;
