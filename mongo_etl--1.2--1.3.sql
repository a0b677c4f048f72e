/* mongo_etl--1.2--1.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION mongo_etl UPDATE TO '1.3'" to load this file. \quit

-- The backend's cached MongoDB connections, and closing them (see README,
-- "Connections").  Each backend has its own: the functions run in the
-- backend that calls them, never in a parallel worker.
CREATE FUNCTION mongo_etl.get_connections(
  OUT server_name text,
  OUT user_name text,
  OUT valid boolean,
  OUT in_use boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mongo_etl_get_connections'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION mongo_etl.disconnect(server text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mongo_etl_disconnect'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION mongo_etl.disconnect_all()
RETURNS boolean
AS 'MODULE_PATHNAME', 'mongo_etl_disconnect_all'
LANGUAGE C STRICT PARALLEL RESTRICTED;
