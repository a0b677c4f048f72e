/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  The backend's cache of libmongoc clients, and the translation of
 *		  libmongoc errors into PostgreSQL errors.
 *
 * A backend keeps one single-threaded mongoc_client_t per user mapping and
 * reuses it for every scan, so a query does not pay for a new connection
 * and authentication.  A single-threaded client starts no threads of its
 * own, which a PostgreSQL backend must not have.  ALTER SERVER and ALTER
 * USER MAPPING invalidate the cached clients built from them, through
 * syscache callbacks as postgres_fdw does; the next scan builds a new one.
 *
 * IDENTIFICATION
 *		  connection.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "mongo_etl.h"

/* A cached client; the hash key is the user mapping's OID */
struct MongoConnection
{
	Oid			umid;			/* hash key, must be first */
	mongoc_client_t *client;	/* NULL until first use */
	int			active_scans;	/* scans between Begin and End */
	bool		invalidated;	/* server or user mapping changed */
	uint32		server_hashvalue;	/* syscache hash of the server */
	uint32		mapping_hashvalue;	/* syscache hash of the user mapping */
};

static HTAB *connection_cache = NULL;
static bool library_initialized = false;

/* Where commands sent now are counted: the scan reading, or NULL */
static uint64 *round_trip_counter = NULL;

static mongoc_client_t *make_client(ForeignServer *server, UserMapping *user);
static void count_round_trip(const mongoc_apm_command_started_t *event);
static void check_password_given(ForeignServer *server, UserMapping *user);
static void invalidate_connections(Datum arg, int cacheid, uint32 hashvalue);
static void destroy_all_clients(int code, Datum arg);
static void log_libmongoc_message(mongoc_log_level_t level,
								  const char *log_domain,
								  const char *message, void *user_data);

/*
 * mongo_library_init
 *		Initialize libmongoc once per backend, route its log messages to
 *		PostgreSQL's log, and destroy all clients at backend exit.
 */
void
mongo_library_init(void)
{
	if (library_initialized)
		return;

	mongoc_init();
	mongoc_log_set_handler(log_libmongoc_message, NULL);
	mongoc_log_trace_disable();
	on_proc_exit(destroy_all_clients, (Datum) 0);
	library_initialized = true;
}

/*
 * mongo_get_connection
 *		The cached client for this user mapping, built on first use or after
 *		an invalidation.  Building a client does not contact the server:
 *		libmongoc connects at the first operation.
 *
 *		The caller must pair this with mongo_release_connection.  A client
 *		whose server or user mapping changed while scans still use it is
 *		kept for them and rebuilt by the first request after they end.
 */
MongoConnection *
mongo_get_connection(ForeignServer *server, UserMapping *user)
{
	MongoConnection *conn;
	bool		found;

	if (connection_cache == NULL)
	{
		HASHCTL		ctl;

		mongo_library_init();

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(MongoConnection);
		connection_cache = hash_create("mongo_etl connections", 8, &ctl,
									   HASH_ELEM | HASH_BLOBS);
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID,
									  invalidate_connections, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID,
									  invalidate_connections, (Datum) 0);
	}

	check_password_given(server, user);
	conn = hash_search(connection_cache, &user->umid, HASH_ENTER, &found);
	if (!found)
	{
		conn->client = NULL;
		conn->active_scans = 0;
		conn->invalidated = false;
	}

	if (conn->client != NULL && conn->invalidated && conn->active_scans == 0)
	{
		elog(DEBUG2, "mongo_etl: rebuilding client for user mapping %u",
			 user->umid);
		mongoc_client_destroy(conn->client);
		conn->client = NULL;
	}

	if (conn->client == NULL)
	{
		conn->client = make_client(server, user);
		conn->invalidated = false;
		conn->server_hashvalue =
			GetSysCacheHashValue1(FOREIGNSERVEROID,
								  ObjectIdGetDatum(server->serverid));
		conn->mapping_hashvalue =
			GetSysCacheHashValue1(USERMAPPINGOID,
								  ObjectIdGetDatum(user->umid));
	}

	conn->active_scans++;
	return conn;
}

/*
 * mongo_connection_client
 *		The libmongoc client of a connection obtained above.
 */
mongoc_client_t *
mongo_connection_client(MongoConnection *conn)
{
	return conn->client;
}

/*
 * mongo_release_connection
 *		A scan is done with its connection.  The client stays cached.
 */
void
mongo_release_connection(MongoConnection *conn)
{
	Assert(conn->active_scans > 0);
	conn->active_scans--;
}

/*
 * make_client
 *		Build a client from the server's uri and the user mapping's
 *		credentials and authentication mechanism.  The credentials are set through libmongoc's URI API,
 *		not pasted into the string, so no character in them needs escaping.
 */
static mongoc_client_t *
make_client(ForeignServer *server, UserMapping *user)
{
	const char *uristr = mongo_get_option(server->options, "uri");
	const char *username = mongo_get_option(user->options, "username");
	const char *password = mongo_get_option(user->options, "password");
	const char *mechanism = mongo_get_option(user->options, "auth_mechanism");
	mongoc_uri_t *uri;
	mongoc_client_t *client;
	bson_error_t error;

	uri = mongoc_uri_new_with_error(uristr, &error);
	if (uri == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid MongoDB connection string for server \"%s\"",
						server->servername),
				 errdetail_internal("%s", error.message)));

	if ((username != NULL && !mongoc_uri_set_username(uri, username)) ||
		(password != NULL && !mongoc_uri_set_password(uri, password)))
	{
		mongoc_uri_destroy(uri);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid username or password in the user mapping for server \"%s\"",
						server->servername),
				 errdetail("MongoDB user names and passwords must be valid UTF-8.")));
	}
	if (mechanism != NULL)
		mongoc_uri_set_auth_mechanism(uri, mechanism);
	if (mongoc_uri_get_appname(uri) == NULL)
		mongoc_uri_set_appname(uri, MONGO_DEFAULT_APPNAME);

	client = mongoc_client_new_from_uri_with_error(uri, &error);
	mongoc_uri_destroy(uri);
	if (client == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not create a MongoDB client for server \"%s\"",
						server->servername),
				 errdetail_internal("%s", error.message)));

	/* Version 2 reports server errors in the MONGOC_ERROR_SERVER domain */
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);

	{
		mongoc_apm_callbacks_t *callbacks = mongoc_apm_callbacks_new();

		mongoc_apm_set_command_started_cb(callbacks, count_round_trip);
		mongoc_client_set_apm_callbacks(client, callbacks, NULL);
		mongoc_apm_callbacks_destroy(callbacks);
	}
	return client;
}

/*
 * check_password_given
 *		As postgres_fdw does: a non-superuser's user mapping must carry a
 *		password, or connecting would rest on what the database server's
 *		host may do without one (a MongoDB without authentication, or one
 *		trusting the host), unless a superuser set password_required 'false'
 *		on the mapping.
 */
static void
check_password_given(ForeignServer *server, UserMapping *user)
{
	const char *required = mongo_get_option(user->options, "password_required");
	bool		is_required = true;

	if (superuser_arg(user->userid) ||
		mongo_get_option(user->options, "password") != NULL)
		return;
	if (required != NULL && parse_bool(required, &is_required) && !is_required)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
			 errmsg("password is required to connect to MongoDB server \"%s\"",
					server->servername),
			 errdetail("Non-superusers must give a password in the user mapping."),
			 errhint("A superuser may set the user mapping option password_required to false.")));
}

/*
 * mongo_forget_connection
 *		Have the client rebuilt when it is next asked for and no scan uses
 *		it: after a failed server selection libmongoc waits before trying
 *		again and reports only that, where a new client reports the cause.
 */
void
mongo_forget_connection(MongoConnection *conn)
{
	conn->invalidated = true;
}

/*
 * mongo_count_round_trips
 *		Count the commands sent from now on into *counter, until called with
 *		NULL.  A scan sets it around its calls into libmongoc, so EXPLAIN
 *		ANALYZE can show how many round trips it took, also when several
 *		scans share a client.
 */
void
mongo_count_round_trips(uint64 *counter)
{
	round_trip_counter = counter;
}

/*
 * count_round_trip
 *		libmongoc's command monitoring: a command is being sent.
 */
static void
count_round_trip(const mongoc_apm_command_started_t *event)
{
	if (round_trip_counter != NULL)
		(*round_trip_counter)++;
}

/*
 * invalidate_connections
 *		Syscache callback: the server or user mapping of some cached clients
 *		changed or was dropped.  Only mark them here; they are rebuilt on the
 *		next request, since a running scan may still be using one.
 */
static void
invalidate_connections(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS scan;
	MongoConnection *conn;

	hash_seq_init(&scan, connection_cache);
	while ((conn = hash_seq_search(&scan)) != NULL)
	{
		uint32		entry_hash = cacheid == FOREIGNSERVEROID
			? conn->server_hashvalue : conn->mapping_hashvalue;

		if (hashvalue == 0 || hashvalue == entry_hash)
			conn->invalidated = true;
	}
}

/*
 * destroy_all_clients
 *		At backend exit, close every connection so MongoDB frees its
 *		sessions now rather than at its own timeout.
 */
static void
destroy_all_clients(int code, Datum arg)
{
	if (connection_cache != NULL)
	{
		HASH_SEQ_STATUS scan;
		MongoConnection *conn;

		hash_seq_init(&scan, connection_cache);
		while ((conn = hash_seq_search(&scan)) != NULL)
		{
			if (conn->client != NULL)
				mongoc_client_destroy(conn->client);
			conn->client = NULL;
		}
	}
	mongoc_cleanup();
}

/*
 * log_libmongoc_message
 *		libmongoc's own log messages go to the server log at a debug level,
 *		never to the client: errors that matter reach the user through
 *		mongo_report_error.
 */
static void
log_libmongoc_message(mongoc_log_level_t level, const char *log_domain,
					  const char *message, void *user_data)
{
	int			elevel = level <= MONGOC_LOG_LEVEL_WARNING ? DEBUG1 : DEBUG3;

	elog(elevel, "libmongoc %s: %s", log_domain, message);
}

/*
 * mongo_report_error
 *		Raise a libmongoc error as a PostgreSQL ERROR.  A failure to reach
 *		or authenticate to the server gets the FDW connection error code;
 *		anything else, including an error the server returned for a
 *		command, is a generic FDW error.  The server's message goes into the
 *		detail.  libmongoc's messages never contain the password.
 */
void
mongo_report_error(const bson_error_t *error, const char *servername,
				   const char *database, const char *collection)
{
	bool		connection_failure = false;
	bool		auth_failure = false;

	switch (error->domain)
	{
		case MONGOC_ERROR_STREAM:
		case MONGOC_ERROR_SERVER_SELECTION:
			connection_failure = true;
			break;
		case MONGOC_ERROR_CLIENT:
			auth_failure = error->code == MONGOC_ERROR_CLIENT_AUTHENTICATE;
			break;
		default:
			break;
	}

	if (auth_failure)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not authenticate to MongoDB server \"%s\"",
						servername),
				 errdetail_internal("%s", error->message),
				 errhint("Check the username and password of the user mapping, "
						 "and the authSource in the server's uri: the database "
						 "the MongoDB user was created in (admin if not given).")));
	if (connection_failure)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not connect to MongoDB server \"%s\"",
						servername),
				 errdetail_internal("%s", error->message)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("could not read collection \"%s.%s\" from MongoDB server \"%s\"",
					database, collection, servername),
			 errdetail_internal("%s (error code %u)", error->message,
								error->code)));
}
