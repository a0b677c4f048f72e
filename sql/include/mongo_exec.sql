-- Included by the tests that change documents in MongoDB as an application
-- would, also under a running scan: pg_temp.mongo_exec(statement) runs a
-- Python statement with pymongo, the test database as db and datetime
-- imported.  Needs the psql variable mongo_full_uri (sql/include/mongo_uri.sql).
SET mongo_etl_test.uri = :'mongo_full_uri';
CREATE TEMP TABLE mongo_exec_output (line text);
CREATE FUNCTION pg_temp.mongo_exec(statement text) RETURNS bool
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('COPY mongo_exec_output FROM PROGRAM %L',
    format('/usr/bin/python3 -c "import pymongo, sys, datetime; db = pymongo.MongoClient(sys.argv[1]).mongo_etl_regress; %s" ''%s''',
           statement, current_setting('mongo_etl_test.uri')));
  RETURN true;
END $$;
