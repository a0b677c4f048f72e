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
 * While a backend waits for a server's reply it must still obey a cancel,
 * statement_timeout or termination, which libmongoc knows nothing of: its
 * socket reads retry through signals until socketTimeoutMS.  So the reads
 * of every client's sockets wait in short slices, and give up as soon as
 * an interrupt is pending; mongo_report_error then raises the interrupt
 * instead of the read error.
 *
 * The same slices let a caller bound a whole operation (mongo_set_deadline):
 * planning's questions to the server must not hold up a query for longer
 * than a moment, whatever the uri's timeouts say.
 *
 * IDENTIFICATION
 *		  connection.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <poll.h>

#include "access/htup_details.h"
#include "catalog/pg_user_mapping.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "mongo_etl.h"

/*
 * How long a backend waiting for a server's reply sleeps between looks at
 * its interrupt flags: the most a cancel waits, and cheap (a wakeup per
 * slice only while nothing arrives).
 */
#define MONGO_INTERRUPT_CHECK_MS 100

/*
 * libmongoc's default way to connect (TCP or Unix socket, TLS, a buffer):
 * exported by the library since 1.0 for initiators that wrap it, but not
 * declared in its headers
 */
extern mongoc_stream_t *mongoc_client_default_stream_initiator(const mongoc_uri_t *uri,
															   const mongoc_host_list_t *host,
															   void *user_data,
															   bson_error_t *error);

/* libmongoc's functions of socket streams that wait: read and poll */
typedef ssize_t (*stream_readv_function) (mongoc_stream_t *stream,
										  mongoc_iovec_t *iov, size_t iovcnt,
										  size_t min_bytes,
										  int32_t timeout_msec);
typedef ssize_t (*stream_poll_function) (mongoc_stream_poll_t *streams,
										 size_t nstreams, int32_t timeout);
static stream_readv_function socket_readv = NULL;
static stream_poll_function socket_poll = NULL;

/*
 * The type libmongoc gives its buffer stream (MONGOC_STREAM_BUFFERED, in a
 * private header; the same value in every version)
 */
#define MONGO_STREAM_TYPE_BUFFERED 3

/* Pieces of a read interruptible_readv handles; libmongoc passes one */
#define MONGO_MAX_READ_PIECES 8

/*
 * A wait for a server was given up for an interrupt.  The client may then
 * hold the server as failed for a while (libmongoc waits before it scans a
 * failed server again), though the server may be fine: every cached client
 * is rebuilt once no scan uses it.
 */
static bool client_interrupted = false;

/*
 * The monotonic time (in microseconds, as bson_get_monotonic_time) by which
 * the current operation must be over, or 0 for none; and whether a wait
 * was given up for it.
 */
static int64 operation_deadline = 0;
static bool deadline_passed = false;

static int	scans_using_connections = 0;

/* A cached client; the hash key is the user mapping's OID */
struct MongoConnection
{
	Oid			umid;			/* hash key, must be first */
	Oid			serverid;		/* the user mapping's server */
	mongoc_client_t *client;	/* NULL until first use */
	int			active_scans;	/* scans between Begin and End */
	bool		invalidated;	/* server or user mapping changed */
	uint32		server_hashvalue;	/* syscache hash of the server */
	uint32		mapping_hashvalue;	/* syscache hash of the user mapping */
};

static HTAB *connection_cache = NULL;

/* Commands the backend's clients sent, ever */
static uint64 commands_sent = 0;

static mongoc_client_t *make_client(ForeignServer *server, UserMapping *user);
static void count_round_trip(const mongoc_apm_command_started_t *event);
static void check_password_given(ForeignServer *server, UserMapping *user);
static mongoc_stream_t *open_stream(const mongoc_uri_t *uri,
									const mongoc_host_list_t *host,
									void *user_data, bson_error_t *error);
static ssize_t interruptible_readv(mongoc_stream_t *stream,
								   mongoc_iovec_t *iov, size_t iovcnt,
								   size_t min_bytes, int32_t timeout_msec);
static ssize_t interruptible_poll(mongoc_stream_poll_t *streams,
								  size_t nstreams, int32_t timeout);
static ssize_t unbuffered_readv(mongoc_stream_t *stream,
								mongoc_iovec_t *iov, size_t iovcnt,
								size_t min_bytes, int32_t timeout_msec);
static bool interrupt_pending(void);
static int32_t deadline_left_ms(void);
static void invalidate_connections(Datum arg, int cacheid, uint32 hashvalue);
static void destroy_all_clients(int code, Datum arg);
static bool disconnect_clients(Oid serverid);
static void forget_unreachable_server(const char *servername);

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
		on_proc_exit(destroy_all_clients, (Datum) 0);

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
	if (client_interrupted)
	{
		HASH_SEQ_STATUS scan;
		MongoConnection *entry;

		hash_seq_init(&scan, connection_cache);
		while ((entry = hash_seq_search(&scan)) != NULL)
			entry->invalidated = true;
		client_interrupted = false;
	}
	conn = hash_search(connection_cache, &user->umid, HASH_ENTER, &found);
	if (!found)
	{
		conn->serverid = server->serverid;
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
	scans_using_connections++;
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
	if (--scans_using_connections == 0)
		mongo_free_kept_blocks();
}


/*
 * make_client
 *		Build a client from the server's uri and the user mapping's
 *		credentials and authentication mechanism.  The credentials are set
 *		through libmongoc's URI API, not pasted into the string, so no
 *		character in them needs escaping.
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
	mongoc_client_set_stream_initiator(client, open_stream, client);
	return client;
}

/*
 * open_stream
 *		Connect as libmongoc does by default (TCP or Unix socket, TLS and
 *		its handshake, a buffer on top), then make the socket stream at the
 *		bottom read and poll through interruptible_readv and
 *		interruptible_poll.  The socket is where a read waits: the layers
 *		above call it only when they need bytes from the network, so
 *		waiting there for the socket to become readable is right even when
 *		TLS or the buffer hold bytes already.  The connect and the TLS
 *		handshake themselves wait inside libmongoc, up to connectTimeoutMS
 *		(or the operation's deadline, if sooner), so no connection is begun
 *		while an interrupt is pending or after the deadline.  On top goes
 *		prefetch.c's layer, which asks for a cursor's next batch early.
 *
 *		mongoc_stream_t is libmongoc's public structure for streams of
 *		one's own; the socket's read and poll functions are replaced.
 */
static mongoc_stream_t *
open_stream(const mongoc_uri_t *uri, const mongoc_host_list_t *host,
			void *user_data, bson_error_t *error)
{
	mongoc_stream_t *stream;
	mongoc_stream_t *bottom;
	int32_t		left = deadline_left_ms();

	/* connecting, and TLS's handshake, would not notice a cancel */
	if (interrupt_pending())
	{
		client_interrupted = true;
		bson_set_error(error, MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT,
					   "not connecting: an interrupt is pending");
		return NULL;
	}
	if (left == 0)
	{
		deadline_passed = true;
		bson_set_error(error, MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT,
					   "not connecting: the operation's time is up");
		return NULL;
	}

	/*
	 * The connect and TLS's handshake wait up to connectTimeoutMS, which
	 * libmongoc's initiator reads from the uri it is given: under a
	 * deadline, give it a copy whose timeout ends there
	 */
	if (left > 0 &&
		left < mongoc_uri_get_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS,
											  MONGOC_DEFAULT_CONNECTTIMEOUTMS))
	{
		mongoc_uri_t *bounded = mongoc_uri_copy(uri);

		mongoc_uri_set_option_as_int32(bounded, MONGOC_URI_CONNECTTIMEOUTMS,
									   left);
		stream = mongoc_client_default_stream_initiator(bounded, host,
														user_data, error);
		mongoc_uri_destroy(bounded);
	}
	else
		stream = mongoc_client_default_stream_initiator(uri, host, user_data,
														error);
	if (stream == NULL)
		return NULL;

	/*
	 * The initiator's top layer is a buffer, which reads as much as the
	 * layer beneath has.  The hello that opens a connection is awaited by
	 * polling the socket, so a reply the buffer holds already, when a read
	 * before ended short of what it asked, was waited for until
	 * connectTimeoutMS: one connection in about seven to DocumentDB's
	 * gateway over TLS.  Reads pass the buffer by.
	 */
	if (stream->type == MONGO_STREAM_TYPE_BUFFERED &&
		mongoc_stream_get_base_stream(stream) != stream)
		stream->readv = unbuffered_readv;

	/* a stream with nothing beneath is its own base */
	bottom = stream;
	while (mongoc_stream_get_base_stream(bottom) != bottom)
		bottom = mongoc_stream_get_base_stream(bottom);
	if (bottom->readv != interruptible_readv)
	{
		socket_readv = bottom->readv;
		bottom->readv = interruptible_readv;
	}
	if (bottom->poll != interruptible_poll)
	{
		socket_poll = bottom->poll;
		bottom->poll = interruptible_poll;
	}
	return mongo_prefetch_stream_new(stream);
}

/*
 * interrupt_pending
 *		Whether a cancel, statement_timeout or termination waits for the
 *		backend: then no wait for the server may go on.
 */
static bool
interrupt_pending(void)
{
	return QueryCancelPending || ProcDiePending;
}

/*
 * mongo_set_deadline
 *		Bound the waits of every client from now on to timeout_ms in all,
 *		or lift the bound (0).  A wait that reaches the deadline fails as a
 *		socket timeout would, no new connection is begun after it, and a
 *		connection begun before it is given only the time left; the
 *		operation then fails, and the caller, seeing mongo_deadline_passed,
 *		knows why.  The caller must lift the bound also when it fails.
 */
void
mongo_set_deadline(int timeout_ms)
{
	operation_deadline = timeout_ms > 0
		? bson_get_monotonic_time() + (int64) timeout_ms * 1000 : 0;
	deadline_passed = false;
}

/*
 * mongo_deadline_passed
 *		Whether a wait was given up since mongo_set_deadline because the
 *		deadline came.
 */
bool
mongo_deadline_passed(void)
{
	return deadline_passed;
}

/*
 * deadline_left_ms
 *		The milliseconds left until the operation's deadline, 0 once it has
 *		come, or -1 without one.
 */
static int32_t
deadline_left_ms(void)
{
	int64		left;

	if (operation_deadline == 0)
		return -1;
	left = operation_deadline - bson_get_monotonic_time();
	if (left <= 0)
		return 0;
	/* rounded up: a deadline still to come is never 0 */
	return (int32_t) Min((left + 999) / 1000, PG_INT32_MAX);
}

/*
 * interruptible_readv
 *		libmongoc's socket read, done in slices that wait at most
 *		MONGO_INTERRUPT_CHECK_MS each, so that it fails at once, as if the
 *		connection broke, when a cancel, statement_timeout or termination
 *		is pending, also when a reply stops half way.  It must not raise
 *		the interrupt itself: a longjmp out of libmongoc would leave the
 *		client half way through a command.  The failed read closes the
 *		connection; mongo_report_error raises the interrupt.  The slices
 *		together wait no longer than timeout_msec, and a read that runs out
 *		of time fails as libmongoc's own does (ETIMEDOUT, with the socket's
 *		error set by the last slice), so socketTimeoutMS keeps its meaning.
 */
static ssize_t
interruptible_readv(mongoc_stream_t *stream, mongoc_iovec_t *iov,
					size_t iovcnt, size_t min_bytes, int32_t timeout_msec)
{
	mongoc_iovec_t rest[MONGO_MAX_READ_PIECES];
	size_t		first = 0;		/* first piece of rest not yet full */
	size_t		total = 0;
	int64		deadline = -1;

	/* zero: no waiting at all; and more pieces than libmongoc ever asks */
	if (timeout_msec == 0 || iovcnt > lengthof(rest))
		return socket_readv(stream, iov, iovcnt, min_bytes, timeout_msec);
	/* negative: libmongoc's default, no deadline */
	if (timeout_msec > 0)
		deadline = bson_get_monotonic_time() + (int64) timeout_msec * 1000;
	memcpy(rest, iov, sizeof(mongoc_iovec_t) * iovcnt);

	for (;;)
	{
		int32_t		slice = MONGO_INTERRUPT_CHECK_MS;
		ssize_t		nread;

		int32_t		operation_left = deadline_left_ms();

		if (interrupt_pending())
		{
			client_interrupted = true;
			/* not EINTR: the TLS layer would retry that until the timeout */
			errno = ECANCELED;
			return -1;
		}
		if (operation_left == 0)
		{
			deadline_passed = true;
			errno = ETIMEDOUT;
			return min_bytes == 0 ? 0 : -1;
		}
		if (operation_left > 0)
			slice = Min(operation_left, slice);
		if (deadline >= 0)
		{
			int64		left = (deadline - bson_get_monotonic_time()) / 1000;

			if (left <= 0)
			{
				errno = ETIMEDOUT;
				return min_bytes == 0 ? 0 : -1;
			}
			slice = (int32_t) Min(left, slice);
		}

		/* at least one byte, or the end of the slice */
		nread = socket_readv(stream, &rest[first], iovcnt - first, 1, slice);
		if (nread < 0)
		{
			if (errno == ETIMEDOUT || errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		total += nread;
		if (total >= min_bytes)
			return total;

		/* libmongoc's read leaves the pieces as they were: move on */
		while (nread > 0)
		{
			size_t		used = Min((size_t) nread, rest[first].iov_len);

			rest[first].iov_base = (char *) rest[first].iov_base + used;
			rest[first].iov_len -= used;
			nread -= used;
			if (rest[first].iov_len == 0)
				first++;
		}
		if (first == iovcnt)
			return total;
	}
}

/*
 * unbuffered_readv
 *		The read of libmongoc's buffer stream, made to read from the stream
 *		beneath it (TLS or the socket) directly: open_stream says why.
 */
static ssize_t
unbuffered_readv(mongoc_stream_t *stream, mongoc_iovec_t *iov, size_t iovcnt,
				 size_t min_bytes, int32_t timeout_msec)
{
	return mongoc_stream_readv(mongoc_stream_get_base_stream(stream), iov,
							   iovcnt, min_bytes, timeout_msec);
}

/*
 * interruptible_poll
 *		libmongoc's wait for several sockets at once (the hello that opens
 *		each connection, server monitoring), in slices like
 *		interruptible_readv.  A pending interrupt, or the operation's
 *		deadline, is reported as an error on every socket, so that
 *		libmongoc gives the connections up at once instead of waiting for
 *		connectTimeoutMS.
 */
static ssize_t
interruptible_poll(mongoc_stream_poll_t *streams, size_t nstreams,
				   int32_t timeout)
{
	int64		deadline = -1;
	size_t		i;

	if (timeout > 0)
		deadline = bson_get_monotonic_time() + (int64) timeout * 1000;

	for (;;)
	{
		int32_t		wait = MONGO_INTERRUPT_CHECK_MS;
		int32_t		operation_left = deadline_left_ms();
		ssize_t		ready;

		if (interrupt_pending() || operation_left == 0)
		{
			if (interrupt_pending())
				client_interrupted = true;
			else
				deadline_passed = true;
			for (i = 0; i < nstreams; i++)
				streams[i].revents = POLLERR;
			return (ssize_t) nstreams;
		}
		if (timeout == 0)
			wait = 0;
		else if (deadline >= 0)
			wait = (int32_t) Min((deadline - bson_get_monotonic_time()) / 1000,
								 MONGO_INTERRUPT_CHECK_MS);
		if (operation_left > 0)
			wait = Min(wait, operation_left);
		ready = socket_poll(streams, nstreams, Max(wait, 0));
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready != 0 || wait <= 0 ||
			(deadline >= 0 && bson_get_monotonic_time() >= deadline))
			return ready;
	}
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
 * mongo_commands_sent
 *		The commands the backend's clients sent so far.  A scan counts those
 *		sent during its calls into libmongoc, so EXPLAIN ANALYZE can show
 *		how many round trips it took, also when several scans share a
 *		client.
 */
uint64
mongo_commands_sent(void)
{
	return commands_sent;
}

/*
 * count_round_trip
 *		libmongoc's command monitoring: a command is being sent.
 */
static void
count_round_trip(const mongoc_apm_command_started_t *event)
{
	commands_sent++;
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
 * mongo_etl_get_connections
 *		SQL function mongo_etl.get_connections(): the backend's cached
 *		clients, each with its server, the user of its user mapping
 *		("public" for a mapping for PUBLIC), whether it is still valid (its
 *		server and user mapping unchanged since it was built) and whether a
 *		scan uses it now.  A server or mapping dropped since shows as NULL.
 */
PG_FUNCTION_INFO_V1(mongo_etl_get_connections);

Datum
mongo_etl_get_connections(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;
	MemoryContext oldcxt;
	HASH_SEQ_STATUS scan;
	MongoConnection *conn;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(tupdesc);
	tupstore = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcxt);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tupstore;
	rsinfo->setDesc = tupdesc;

	if (connection_cache == NULL)
		PG_RETURN_VOID();
	hash_seq_init(&scan, connection_cache);
	while ((conn = hash_seq_search(&scan)) != NULL)
	{
		ForeignServer *server;
		HeapTuple	mapping;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (conn->client == NULL)
			continue;
		server = GetForeignServerExtended(conn->serverid, FSV_MISSING_OK);
		if (server != NULL)
			values[0] = CStringGetTextDatum(server->servername);
		else
			nulls[0] = true;
		mapping = SearchSysCache1(USERMAPPINGOID,
								  ObjectIdGetDatum(conn->umid));
		if (HeapTupleIsValid(mapping))
		{
			Oid			user = ((Form_pg_user_mapping) GETSTRUCT(mapping))->umuser;
			char	   *name = OidIsValid(user)
				? GetUserNameFromId(user, true) : "public";

			if (name != NULL)
				values[1] = CStringGetTextDatum(name);
			else
				nulls[1] = true;
			ReleaseSysCache(mapping);
		}
		else
			nulls[1] = true;
		values[2] = BoolGetDatum(!conn->invalidated);
		values[3] = BoolGetDatum(conn->active_scans > 0);
		tuplestore_putvalues(tupstore, tupdesc, values, nulls);
	}
	PG_RETURN_VOID();
}

/*
 * mongo_etl_disconnect
 *		SQL function mongo_etl.disconnect(server): close this backend's
 *		cached clients of a server, for every user mapping; true if it
 *		closed any.  A client a scan still uses (an open cursor's) stays,
 *		with a warning.
 */
PG_FUNCTION_INFO_V1(mongo_etl_disconnect);

Datum
mongo_etl_disconnect(PG_FUNCTION_ARGS)
{
	ForeignServer *server =
		GetForeignServerByName(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);

	PG_RETURN_BOOL(disconnect_clients(server->serverid));
}

/*
 * mongo_etl_disconnect_all
 *		SQL function mongo_etl.disconnect_all(): the same for every server.
 */
PG_FUNCTION_INFO_V1(mongo_etl_disconnect_all);

Datum
mongo_etl_disconnect_all(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(disconnect_clients(InvalidOid));
}

/*
 * disconnect_clients
 *		Close the cached clients of a server, or of all servers for
 *		InvalidOid, except those a scan uses; true if any was closed.
 */
static bool
disconnect_clients(Oid serverid)
{
	HASH_SEQ_STATUS scan;
	MongoConnection *conn;
	bool		closed = false;

	if (connection_cache == NULL)
		return false;
	hash_seq_init(&scan, connection_cache);
	while ((conn = hash_seq_search(&scan)) != NULL)
	{
		if (OidIsValid(serverid) && conn->serverid != serverid)
			continue;
		if (conn->active_scans > 0)
		{
			ForeignServer *server =
				GetForeignServerExtended(conn->serverid, FSV_MISSING_OK);

			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot close the connection to server \"%s\" while a scan uses it",
							server != NULL ? server->servername : "?"),
					 errhint("Close the cursors that read its foreign tables first.")));
			continue;
		}
		if (conn->client != NULL)
		{
			mongoc_client_destroy(conn->client);
			closed = true;
		}
		hash_search(connection_cache, &conn->umid, HASH_REMOVE, NULL);
	}
	return closed;
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

	/* a read given up for a pending interrupt: that is the real reason */
	CHECK_FOR_INTERRUPTS();

	switch (error->domain)
	{
		case MONGOC_ERROR_STREAM:
		case MONGOC_ERROR_SERVER_SELECTION:
			connection_failure = true;
			break;
		case MONGOC_ERROR_CLIENT:
			auth_failure = error->code == MONGOC_ERROR_CLIENT_AUTHENTICATE;
			break;
		case MONGOC_ERROR_SCRAM:
			auth_failure = true;
			break;
		default:
			break;
	}

	/*
	 * libmongoc refuses SCRAM salts shorter than 28 bytes, the length
	 * MongoDB uses; PostgreSQL makes 16-byte ones, which servers built on it
	 * (DocumentDB) hand out for passwords set in SQL
	 */
	if (auth_failure && strstr(error->message, "invalid salt length") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not authenticate to MongoDB server \"%s\"",
						servername),
				 errdetail("libmongoc refuses the SCRAM salt the server keeps for this user (%s): it accepts salts of 28 bytes, as MongoDB makes them, and PostgreSQL-based servers such as DocumentDB keep 16-byte salts for passwords set in SQL (CREATE ROLE or ALTER ROLE ... PASSWORD).",
						   error->message),
				 errhint("Create the user through the server's MongoDB interface (createUser), which DocumentDB salts with 28 bytes, or store a SCRAM-SHA-256 verifier with a 28-byte salt as the role's password.")));
	if (auth_failure)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not authenticate to MongoDB server \"%s\"",
						servername),
				 errdetail_internal("%s", error->message),
				 errhint("Check the username and password of the user mapping, and the authSource in the server's uri: the database the MongoDB user was created in (admin if not given).")));
	if (connection_failure)
		forget_unreachable_server(servername);
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

/*
 * forget_unreachable_server
 *		Have the next request of each cached client of a server that could
 *		not be reached build a new one.  libmongoc's single-threaded client
 *		does not select a server that failed within the last 5 seconds
 *		(its cooldown), and would fail every query of the session at once
 *		with "No servers yet eligible for rescan" when the server was only
 *		busy; a new client waits for it up to connectTimeoutMS, and a
 *		cancel ends that wait.
 */
static void
forget_unreachable_server(const char *servername)
{
	ForeignServer *server = GetForeignServerByName(servername, true);
	HASH_SEQ_STATUS scan;
	MongoConnection *conn;

	if (server == NULL || connection_cache == NULL)
		return;
	hash_seq_init(&scan, connection_cache);
	while ((conn = hash_seq_search(&scan)) != NULL)
	{
		if (conn->serverid == server->serverid)
			conn->invalidated = true;
	}
}

/*
 * mongo_estimated_count
 *		A collection's document count as its metadata holds it: the count
 *		of $collStats, summed over the shards; or, from a server without
 *		that stage or for a view, the count command without a filter
 *		(libmongoc's estimatedDocumentCount), which MongoDB too answers
 *		from metadata, but FerretDB by counting every document.  -1, with
 *		the error set, when the server cannot answer: after a failure to
 *		reach it, without trying the second.
 */
int64
mongo_estimated_count(mongoc_collection_t *collection, bson_error_t *error)
{
	bson_t	   *pipeline = BCON_NEW("pipeline", "[",
									"{", "$collStats", "{", "count", "{", "}",
									"}", "}",
									"]");
	mongoc_cursor_t *cursor;
	const bson_t *reply;
	bson_iter_t iter;
	int64		count = 0;
	bool		counted = false;
	bool		failed;

	cursor = mongoc_collection_aggregate(collection, MONGOC_QUERY_NONE,
										 pipeline, NULL, NULL);
	while (mongoc_cursor_next(cursor, &reply))
	{
		if (bson_iter_init_find(&iter, reply, "count") &&
			BSON_ITER_HOLDS_NUMBER(&iter))
		{
			count += bson_iter_as_int64(&iter);
			counted = true;
		}
	}
	failed = mongoc_cursor_error(cursor, error);
	mongoc_cursor_destroy(cursor);
	bson_destroy(pipeline);
	if (!failed && counted)
		return count;
	if (failed && error->domain != MONGOC_ERROR_SERVER)
		return -1;
	return mongoc_collection_estimated_document_count(collection, NULL, NULL,
													  NULL, error);
}

/*
 * mongo_server_has_sample
 *		Whether the server draws random samples ($sample): an aggregation
 *		of one drawn document must not fail.  FerretDB 1.x refuses the
 *		stage; a server that cannot be reached answers false too, and the
 *		caller's own command then reports why.
 */
bool
mongo_server_has_sample(mongoc_collection_t *collection)
{
	bson_t	   *pipeline = BCON_NEW("pipeline", "[",
									"{", "$sample", "{", "size", BCON_INT32(1),
									"}", "}",
									"]");
	mongoc_cursor_t *cursor;
	const bson_t *document;
	bson_error_t error;
	bool		failed;

	cursor = mongoc_collection_aggregate(collection, MONGOC_QUERY_NONE,
										 pipeline, NULL, NULL);
	while (mongoc_cursor_next(cursor, &document))
		;
	failed = mongoc_cursor_error(cursor, &error);
	mongoc_cursor_destroy(cursor);
	bson_destroy(pipeline);
	return !failed;
}

/*
 * mongo_server_pipelines
 *		Whether the server evaluates what aggregate.c sends for exact
 *		aggregates and lookup.c for joins: $group by a document of $ifNull
 *		keys, $sum of $cond, $in and $type, of $toDecimal, $min of a
 *		$literal MaxKey, a $project with $cond and $eq, and $lookup with a
 *		sub-pipeline of $expr, and $unwind.  The stages are parsed before any
 *		document is read, so a server that lacks one (FerretDB 1.x) fails
 *		the command whatever the collection holds.
 */
bool
mongo_server_pipelines(mongoc_collection_t *collection)
{
	/* constants alone, so that no document can make it fail */
	bson_t	   *pipeline = BCON_NEW("pipeline", "[",
									"{", "$limit", BCON_INT32(1), "}",
									"{", "$lookup", "{",
									"from",
									BCON_UTF8(mongoc_collection_get_name(collection)),
									"let", "{", "key", BCON_INT32(1), "}",
									"pipeline", "[",
									"{", "$limit", BCON_INT32(1), "}",
									"{", "$match", "{",
									"$expr", "{", "$eq", "[",
									BCON_UTF8("$_id"), BCON_UTF8("$$key"),
									"]", "}", "}", "}", "]",
									"as", BCON_UTF8("j"), "}", "}",
									"{", "$unwind", "{",
									"path", BCON_UTF8("$j"),
									"preserveNullAndEmptyArrays", BCON_BOOL(true),
									"}", "}",
									"{", "$group", "{",
									"_id", "{", "k", "{", "$ifNull", "[",
									BCON_NULL, BCON_INT32(0), "]", "}", "}",
									"n", "{", "$sum", "{", "$cond", "[",
									"{", "$in", "[", "{", "$type",
									BCON_INT32(1), "}",
									"[", BCON_UTF8("null"), "]", "]", "}",
									BCON_INT32(0), BCON_INT32(1), "]", "}", "}",
									"s", "{", "$sum", "{", "$toDecimal",
									BCON_INT32(1), "}", "}",
									"m", "{", "$min", "{", "$ifNull", "[",
									BCON_NULL, "{", "$literal",
									BCON_MAXKEY, "}", "]", "}", "}",
									"}", "}",
									"{", "$project", "{", "m", "{", "$cond", "[",
									"{", "$eq", "[", BCON_UTF8("$n"),
									BCON_INT32(0), "]", "}",
									BCON_NULL, BCON_UTF8("$m"), "]", "}", "}", "}",
									"]");
	mongoc_cursor_t *cursor;
	const bson_t *document;
	bson_error_t error;
	bool		failed;

	cursor = mongoc_collection_aggregate(collection, MONGOC_QUERY_NONE,
										 pipeline, NULL, NULL);
	while (mongoc_cursor_next(cursor, &document))
		;
	failed = mongoc_cursor_error(cursor, &error);
	mongoc_cursor_destroy(cursor);
	bson_destroy(pipeline);
	return !failed;
}
