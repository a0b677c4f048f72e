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
