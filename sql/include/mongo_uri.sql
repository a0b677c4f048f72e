\set ECHO none
-- Included by the tests that read the MongoDB server.  MONGO_URI is the
-- uri PyMongo and libmongoc take as is, with the test user's name and
-- password when the server requires them (DocumentDB).  A foreign server's
-- uri must not carry a password, so this sets the psql variables
--   mongo_full_uri  MONGO_URI itself, for PyMongo;
--   mongo_uri       MONGO_URI without the credentials, for CREATE SERVER;
--   mongo_login     the user mapping's OPTIONS clause with them, or nothing;
--   mongo_auth      whether there are credentials (true or false), and
--   mongo_user, mongo_password  the credentials themselves;
--   mongo_sep       what appends an option to mongo_uri's query string.
\getenv mongo_full_uri MONGO_URI
SELECT regexp_replace(:'mongo_full_uri', '^mongodb://[^@/]*@', 'mongodb://') AS mongo_uri,
       CASE WHEN m IS NULL THEN '' ELSE format('OPTIONS (username %L, password %L)', m[1], m[2]) END AS mongo_login,
       m IS NOT NULL AS mongo_auth,
       coalesce(m[1], '') AS mongo_user,
       coalesce(m[2], '') AS mongo_password,
       CASE WHEN strpos(:'mongo_full_uri', '?') > 0 THEN '&' ELSE '?' END AS mongo_sep
  FROM regexp_match(:'mongo_full_uri', '^mongodb://([^:@/]+):([^@/]*)@') AS m \gset
\set ECHO all
