/*-------------------------------------------------------------------------
 *
 * estimate.c
 *		  What planning knows of a foreign table's documents before reading
 *		  them: how many, how large, whether strings compare by their
 *		  bytes, and whether a parallel scan can cut the source.
 *
 * A collection's count comes from its server's metadata (no collection
 * scan), asked with a deadline of a second, and the backend keeps the
 * answer for a while (mongo_etl.estimate_cache_seconds); a mongodump file's
 * from its size and the documents at its start.
 *
 * IDENTIFICATION
 *		  estimate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "mongo_etl.h"

/* GUC mongo_etl.estimate_cache_seconds */
int			mongo_estimate_cache_seconds = 60;

/*
 * What planning learned from a server about a collection, remembered by a
 * backend for the rest of the transaction that asked and then for
 * mongo_etl.estimate_cache_seconds, so that short queries do not each pay
 * for a round trip.  A failure to answer is kept too: a server that stopped
 * answering would otherwise cost every plan the whole timeout.  ALTER of
 * the foreign table, its server or a user mapping forgets every entry:
 * they rarely happen, and what they change is not worth tracking finer.
 */
typedef struct MongoEstimate
{
	Oid			relid;			/* the foreign table; InvalidOid: free */
	Oid			umid;			/* the user mapping asked with, or InvalidOid:
								 * none, the server not asked */
	LocalTransactionId lxid;	/* the transaction that asked */
	TimestampTz asked_at;		/* when */
	double		rows;
	bool		bytewise_strings;
	bool		pipelines_asked;	/* server_pipelines is known */
	bool		server_pipelines;
} MongoEstimate;

#define MONGO_ESTIMATE_CACHE_SIZE 64

static MongoEstimate estimate_cache[MONGO_ESTIMATE_CACHE_SIZE];
static int	next_estimate_slot = 0;

/*
 * The most that asking the server about a collection may add to planning,
 * in milliseconds, connecting included: a server that has not answered by
 * then is taken to hold the default rows.
 */
#define MONGO_ESTIMATE_TIMEOUT_MS 1000

/*
 * Bytes of a document assumed for a collection when choosing how many
 * workers scan it: about the size of a typical document of a few fields.
 */
#define MONGO_ASSUMED_DOCUMENT_BYTES 256

/* Bytes read from a dump file's start to estimate its documents */
#define MONGO_SAMPLED_BYTES (64 * 1024)

static void ask_server(Oid foreigntableid, Oid userid, bool pipelines,
					   MongoSizeEstimate *estimate);
static bool ask_within_deadline(MongoConnection *conn, bool pipelines,
								const MongoTableOptions *options,
								MongoSizeEstimate *estimate, bool *timed_out);
static bool server_pipelines(MongoConnection *conn,
							  const MongoTableOptions *options,
							  MongoSizeEstimate *estimate);
static bool collection_metadata(MongoConnection *conn,
								const MongoTableOptions *options,
								MongoSizeEstimate *estimate);
static MongoEstimate *remembered_estimate(Oid foreigntableid, Oid umid);
static void forget_estimates(Datum arg, int cacheid, uint32 hashvalue);
static void forget_table_estimates(Datum arg, Oid relid);
static void estimate_file(const char *path, MongoSizeEstimate *estimate);

/*
 * mongo_estimate_size
 *		What planning knows of a foreign table's documents, for the user
 *		userid (InvalidOid: the current user): a collection's from its
 *		server (ask_server), a plain dump file's from the file; else the
 *		default rows.
 */
void
mongo_estimate_size(Oid foreigntableid, Oid userid,
					MongoSizeEstimate *estimate)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	ForeignServer *server = GetForeignServer(table->serverid);
	MongoTableOptions options;

	memset(estimate, 0, sizeof(MongoSizeEstimate));
	estimate->rows = MONGO_DEFAULT_ROWS;
	mongo_get_table_options(table, server, &options);
	if (mongo_get_option(server->options, "uri") != NULL)
	{
		ask_server(foreigntableid, userid, false, estimate);
		estimate->bytes = estimate->rows * MONGO_ASSUMED_DOCUMENT_BYTES;
		estimate->splittable = options.pipeline == NULL &&
			get_attnum(foreigntableid, "_id") != InvalidAttrNumber;
	}
	else if (options.dump_file != NULL &&
			 !(strlen(options.dump_file) > 3 &&
			   strcmp(options.dump_file + strlen(options.dump_file) - 3,
					  ".gz") == 0))
		estimate_file(options.dump_file, estimate);
}

/*
 * ask_server
 *		What planning learns from the server, unless the option
 *		use_remote_estimate of the table or else its server is 'false':
 *		- the rows a scan reads, as MongoDB estimates the collection's
 *		  documents from its metadata (no collection scan);
 *		- whether the collection (or view) has a default collation, under
 *		  which MongoDB would compare strings otherwise than by bytes: then
 *		  no text test or sort is sent;
 *		- with pipelines, and only then (once per entry), whether the
 *		  server evaluates what exact aggregates and joins need
 *		  (mongo_server_pipelines): else only count(*) is sent, and no
 *		  join.
 *		Remembered (see MongoEstimate), failures too.  A server that cannot
 *		answer, or has not within MONGO_ESTIMATE_TIMEOUT_MS, gives the
 *		default rows and no text pushdown: planning goes on, and the scan
 *		reports the error.
 */
static void
ask_server(Oid foreigntableid, Oid userid, bool pipelines,
		   MongoSizeEstimate *estimate)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	ForeignServer *server = GetForeignServer(table->serverid);
	const char *option = mongo_get_option(table->options,
										  "use_remote_estimate");
	UserMapping *user = NULL;
	MongoEstimate *entry;
	bool		use;

	estimate->rows = MONGO_DEFAULT_ROWS;
	estimate->bytewise_strings = true;
	if (option == NULL)
		option = mongo_get_option(server->options, "use_remote_estimate");
	if (option != NULL && parse_bool(option, &use) && !use)
		return;

	/* without a user mapping, the scan reports that; EXPLAIN can go on */
	if (!OidIsValid(userid))
		userid = GetUserId();
	if (SearchSysCacheExists2(USERMAPPINGUSERSERVER,
							  ObjectIdGetDatum(userid),
							  ObjectIdGetDatum(server->serverid)) ||
		SearchSysCacheExists2(USERMAPPINGUSERSERVER,
							  ObjectIdGetDatum(InvalidOid),
							  ObjectIdGetDatum(server->serverid)))
		user = GetUserMapping(userid, server->serverid);

	entry = remembered_estimate(foreigntableid,
								user != NULL ? user->umid : InvalidOid);
	if (entry->relid == foreigntableid)
	{
		estimate->rows = entry->rows;
		estimate->bytewise_strings = entry->bytewise_strings;
		estimate->server_pipelines = entry->server_pipelines;
		if (!pipelines || entry->pipelines_asked)
			return;
	}

	if (user != NULL)
	{
		MongoTableOptions options;
		bool		timed_out = false;

		mongo_get_table_options(table, server, &options);
		if (entry->relid != foreigntableid)
		{
			elog(DEBUG1, "mongo_etl: asking server \"%s\" about \"%s.%s\"",
				 server->servername, options.database, options.collection);
			if (!ask_within_deadline(mongo_get_connection(server, user), false,
									 &options, estimate, &timed_out))
			{
				if (timed_out)
					elog(DEBUG1, "mongo_etl: no answer from server \"%s\" about \"%s.%s\" within %d ms; assuming %d rows",
						 server->servername, options.database,
						 options.collection, MONGO_ESTIMATE_TIMEOUT_MS,
						 MONGO_DEFAULT_ROWS);
				estimate->rows = MONGO_DEFAULT_ROWS;
				estimate->bytewise_strings = false;
			}
		}
		if (pipelines &&
			!ask_within_deadline(mongo_get_connection(server, user), true,
								 &options, estimate, &timed_out))
			estimate->server_pipelines = false;
	}

	entry->relid = foreigntableid;
	entry->umid = user != NULL ? user->umid : InvalidOid;
	entry->lxid = MONGO_CURRENT_LXID;
	entry->asked_at = GetCurrentTimestamp();
	entry->rows = estimate->rows;
	entry->bytewise_strings = estimate->bytewise_strings;
	entry->pipelines_asked = pipelines;
	entry->server_pipelines = estimate->server_pipelines;
}

/*
 * mongo_estimate_pipelines
 *		Whether the server of a foreign table evaluates what exact
 *		aggregates and joins need (aggregate.c, lookup.c), for the user
 *		userid, asked once per
 *		estimate (see ask_server).  False for a dump file, and where
 *		planning does not ask the server or it does not answer in time.
 */
bool
mongo_estimate_pipelines(Oid foreigntableid, Oid userid)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	MongoSizeEstimate estimate;

	memset(&estimate, 0, sizeof(estimate));
	if (mongo_get_option(GetForeignServer(table->serverid)->options,
						 "uri") == NULL)
		return false;
	ask_server(foreigntableid, userid, true, &estimate);
	return estimate.server_pipelines;
}

/*
 * ask_within_deadline
 *		collection_metadata, or with pipelines server_pipelines, bounded
 *		to MONGO_ESTIMATE_TIMEOUT_MS; then let
 *		go of the connection, also on an error.  *timed_out tells whether
 *		the deadline cut it short.  A pending cancel is raised here, once
 *		the client is free.
 */
static bool
ask_within_deadline(MongoConnection *conn, bool pipelines,
					const MongoTableOptions *options,
					MongoSizeEstimate *estimate, bool *timed_out)
{
	volatile bool ok = false;

	mongo_set_deadline(MONGO_ESTIMATE_TIMEOUT_MS);
	PG_TRY();
	{
		if (pipelines)
			ok = server_pipelines(conn, options, estimate);
		else
			ok = collection_metadata(conn, options, estimate);
		*timed_out = mongo_deadline_passed();
	}
	PG_FINALLY();
	{
		mongo_set_deadline(0);
		/* a client cut short may hold its server as failed: rebuild it */
		if (!ok)
			mongo_forget_connection(conn);
		mongo_release_connection(conn);
	}
	PG_END_TRY();
	CHECK_FOR_INTERRUPTS();
	return ok;
}

/*
 * remembered_estimate
 *		The cache entry for a table asked about with a user mapping: one
 *		still valid, whose relid is foreigntableid; or else the slot to
 *		fill, with another relid (the stale entry of the same table, or the
 *		next slot in turn).  An entry is valid in the transaction that made
 *		it and for mongo_etl.estimate_cache_seconds after.
 */
static MongoEstimate *
remembered_estimate(Oid foreigntableid, Oid umid)
{
	static bool callbacks_registered = false;
	MongoEstimate *entry;
	int			i;

	if (!callbacks_registered)
	{
		CacheRegisterSyscacheCallback(FOREIGNTABLEREL, forget_estimates,
									  (Datum) 0);
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, forget_estimates,
									  (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, forget_estimates,
									  (Datum) 0);
		CacheRegisterRelcacheCallback(forget_table_estimates, (Datum) 0);
		callbacks_registered = true;
	}

	for (i = 0; i < MONGO_ESTIMATE_CACHE_SIZE; i++)
	{
		int64		age;

		entry = &estimate_cache[i];
		if (entry->relid != foreigntableid || entry->umid != umid)
			continue;
		if (entry->lxid == MONGO_CURRENT_LXID)
			return entry;
		age = GetCurrentTimestamp() - entry->asked_at;
		if (age >= 0 &&
			age < (int64) mongo_estimate_cache_seconds * USECS_PER_SEC)
			return entry;
		/* stale: asked again, into the same slot */
		entry->relid = InvalidOid;
		return entry;
	}

	entry = &estimate_cache[next_estimate_slot];
	next_estimate_slot = (next_estimate_slot + 1) % MONGO_ESTIMATE_CACHE_SIZE;
	entry->relid = InvalidOid;
	return entry;
}

/*
 * forget_estimates
 *		Syscache callback: a foreign table, server or user mapping changed,
 *		was made or dropped; every estimate is asked again.
 */
static void
forget_estimates(Datum arg, int cacheid, uint32 hashvalue)
{
	int			i;

	for (i = 0; i < MONGO_ESTIMATE_CACHE_SIZE; i++)
		estimate_cache[i].relid = InvalidOid;
}

/*
 * forget_table_estimates
 *		Relcache callback: a relation changed (InvalidOid: all of them); if
 *		it is a foreign table, its estimates are asked again.
 */
static void
forget_table_estimates(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < MONGO_ESTIMATE_CACHE_SIZE; i++)
		if (!OidIsValid(relid) || estimate_cache[i].relid == relid)
			estimate_cache[i].relid = InvalidOid;
}

/*
 * collection_metadata
 *		Ask for a collection's estimated document count and its default
 *		collation (listCollections); false when the server cannot count.  A
 *		server that counts but does not list collections keeps the count,
 *		and strings are taken as not compared by their bytes.
 */
static bool
collection_metadata(MongoConnection *conn, const MongoTableOptions *options,
					MongoSizeEstimate *estimate)
{
	mongoc_client_t *client = mongo_connection_client(conn);
	mongoc_collection_t *collection;
	mongoc_database_t *database;
	mongoc_cursor_t *cursor;
	const bson_t *info;
	bson_t		opts = BSON_INITIALIZER;
	bson_t		filter;
	bson_error_t error;
	bson_iter_t iter;
	int64		count;

	collection = mongoc_client_get_collection(client, options->database,
											  options->collection);
	count = mongo_estimated_count(collection, &error);
	mongoc_collection_destroy(collection);
	if (count < 0)
	{
		/* the caller raises a pending cancel, once it let go the client */
		HOLD_INTERRUPTS();
		ereport(DEBUG1,
				(errmsg_internal("no document count for \"%s.%s\": %s",
								 options->database, options->collection,
								 error.message)));
		RESUME_INTERRUPTS();
		bson_destroy(&opts);
		return false;
	}
	estimate->rows = Max(count, 1);

	/* a collection, or a view, with a collation other than "simple" */
	database = mongoc_client_get_database(client, options->database);
	bson_append_document_begin(&opts, "filter", -1, &filter);
	BSON_APPEND_UTF8(&filter, "name", options->collection);
	bson_append_document_end(&opts, &filter);
	cursor = mongoc_database_find_collections_with_opts(database, &opts);
	estimate->bytewise_strings = true;
	while (mongoc_cursor_next(cursor, &info))
	{
		if (bson_iter_init(&iter, info) &&
			bson_iter_find_descendant(&iter, "options.collation.locale",
									  &iter) &&
			(!BSON_ITER_HOLDS_UTF8(&iter) ||
			 strcmp(bson_iter_utf8(&iter, NULL), "simple") != 0))
			estimate->bytewise_strings = false;
	}
	if (mongoc_cursor_error(cursor, &error))
	{
		estimate->bytewise_strings = false;
		HOLD_INTERRUPTS();
		ereport(DEBUG1,
				(errmsg_internal("no collection information for \"%s.%s\": %s",
								 options->database, options->collection,
								 error.message)));
		RESUME_INTERRUPTS();
	}
	mongoc_cursor_destroy(cursor);
	mongoc_database_destroy(database);
	bson_destroy(&opts);
	return true;
}

/*
 * server_pipelines
 *		Whether the server evaluates what exact aggregates and joins need,
 *		asked on
 *		the table's collection (mongo_server_pipelines).  False only when
 *		the server cannot be asked: a refusal is an answer.
 */
static bool
server_pipelines(MongoConnection *conn, const MongoTableOptions *options,
				  MongoSizeEstimate *estimate)
{
	mongoc_collection_t *collection;

	collection = mongoc_client_get_collection(mongo_connection_client(conn),
											  options->database,
											  options->collection);
	estimate->server_pipelines = mongo_server_pipelines(collection);
	mongoc_collection_destroy(collection);
	return !mongo_deadline_passed();
}

/*
 * estimate_file
 *		A plain dump file's documents, from its size and the average length
 *		of the documents in its first MONGO_SAMPLED_BYTES, and whether a
 *		parallel scan can cut it.  Only length prefixes are read, and a
 *		file that cannot be read, or looks damaged, keeps the default
 *		estimate: the scan reports what is wrong with it, not planning.
 */
static void
estimate_file(const char *path, MongoSizeEstimate *estimate)
{
	struct stat st;
	char	   *buffer;
	ssize_t		nread;
	int			fd;
	size_t		at = 0;
	int			documents = 0;

	if (stat(path, &st) != 0 || (fd = open(path, O_RDONLY | PG_BINARY, 0)) < 0)
		return;
	buffer = palloc(MONGO_SAMPLED_BYTES);
	nread = read(fd, buffer, MONGO_SAMPLED_BYTES);
	close(fd);
	while (nread > 0 && at + 4 <= (size_t) nread)
	{
		uint32		length;

		memcpy(&length, buffer + at, 4);
		length = BSON_UINT32_FROM_LE(length);
		if (length < 5 || at + length > (size_t) nread)
			break;
		at += length;
		documents++;
	}
	pfree(buffer);
	estimate->bytes = (double) st.st_size;
	estimate->splittable = true;
	if (documents > 0)
		estimate->rows = clamp_row_est((double) st.st_size / at * documents);
}
