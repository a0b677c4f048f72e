/*
 * check_mongoc: reads a replay server with libmongoc as mongo_etl does and
 * compares with the .bson file (sorted by _id, as the bench files are):
 * every document in order, an _id range, $collStats and count, a refused
 * filter.  Run by check.sh.
 *
 *   check_mongoc URI FILE
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "check_mongoc: " __VA_ARGS__); fputc('\n', stderr); failures++; } } while (0)

/* the file's documents (they are sorted by _id in the bench files) */
static bson_t **docs;
static size_t ndocs;

static void
read_file(const char *path)
{
	bson_reader_t *reader = bson_reader_new_from_file(path, NULL);
	const bson_t *doc;
	bool		eof = false;
	size_t		cap = 1024;

	if (!reader)
	{
		fprintf(stderr, "check_mongoc: cannot read %s\n", path);
		exit(1);
	}
	docs = malloc(cap * sizeof(bson_t *));
	while ((doc = bson_reader_read(reader, &eof)))
	{
		if (ndocs == cap)
			docs = realloc(docs, (cap *= 2) * sizeof(bson_t *));
		docs[ndocs++] = bson_copy(doc);
	}
	bson_reader_destroy(reader);
}

/* reads a cursor, comparing with docs[first...]; returns the count */
static size_t
compare(mongoc_cursor_t *cursor, size_t first, const char *what)
{
	const bson_t *doc;
	bson_error_t error;
	size_t		n = 0;

	while (mongoc_cursor_next(cursor, &doc))
	{
		if (first + n >= ndocs || !bson_equal(doc, docs[first + n]))
		{
			CHECK(false, "%s: document %zu differs", what, n);
			break;
		}
		n++;
	}
	CHECK(!mongoc_cursor_error(cursor, &error), "%s: %s", what, error.message);
	mongoc_cursor_destroy(cursor);
	return n;
}

int
main(int argc, char **argv)
{
	mongoc_client_t *client;
	mongoc_collection_t *coll;
	bson_t	   *filter, *opts, *pipeline;
	bson_error_t error;
	bson_t		reply;
	const bson_t *doc;
	mongoc_cursor_t *cursor;
	bson_iter_t iter;
	size_t		n;
	int64_t		count;

	if (argc != 3)
	{
		fprintf(stderr, "usage: check_mongoc URI FILE\n");
		return 2;
	}
	mongoc_init();
	read_file(argv[2]);
	client = mongoc_client_new(argv[1]);
	coll = mongoc_client_get_collection(client, "anydb", "anycoll");

	filter = BCON_NEW("ping", BCON_INT32(1));
	CHECK(mongoc_client_command_simple(client, "admin", filter, NULL, &reply, &error), "ping: %s", error.message);
	bson_destroy(&reply);
	bson_destroy(filter);

	/* a whole scan as mongo_etl sends it */
	filter = bson_new();
	opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "batchSize", BCON_INT32(10000));
	n = compare(mongoc_collection_find_with_opts(coll, filter, opts, NULL), 0, "find");
	CHECK(n == ndocs, "find: %zu documents of %zu", n, ndocs);
	printf("libmongoc find: %zu documents\n", n);
	bson_destroy(opts);

	/* libmongoc 1.23 warns that it has no exhaust over OP_MSG and reads the
	 * cursor as a normal one: still a check that the option is harmless */
	opts = BCON_NEW("exhaust", BCON_BOOL(true), "batchSize", BCON_INT32(1000));
	n = compare(mongoc_collection_find_with_opts(coll, filter, opts, NULL), 0, "exhaust find");
	CHECK(n == ndocs, "exhaust find: %zu documents of %zu", n, ndocs);
	printf("libmongoc exhaust find: %zu documents\n", n);
	bson_destroy(opts);
	bson_destroy(filter);

	/* an _id range: [docs[ndocs/4]._id, docs[ndocs/2]._id) */
	if (ndocs >= 4)
	{
		bson_iter_t lo, hi;
		bson_t		range;

		bson_iter_init_find(&lo, docs[ndocs / 4], "_id");
		bson_iter_init_find(&hi, docs[ndocs / 2], "_id");
		filter = bson_new();
		bson_append_document_begin(filter, "_id", -1, &range);
		bson_append_iter(&range, "$gte", -1, &lo);
		bson_append_iter(&range, "$lt", -1, &hi);
		bson_append_document_end(filter, &range);
		opts = BCON_NEW("batchSize", BCON_INT32(777));
		n = compare(mongoc_collection_find_with_opts(coll, filter, opts, NULL), ndocs / 4, "range find");
		CHECK(n == ndocs / 2 - ndocs / 4, "range find: %zu documents", n);
		printf("libmongoc _id range: %zu documents\n", n);
		count = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &error);
		CHECK(count == -1, "count_documents ($group) should be refused, got %lld", (long long) count);
		bson_destroy(opts);
		bson_destroy(filter);
	}

	/* estimates, as mongo_etl's planner asks */
	pipeline = BCON_NEW("pipeline", "[", "{", "$collStats", "{", "count", "{", "}", "}", "}", "]");
	cursor = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
	count = -1;
	while (mongoc_cursor_next(cursor, &doc))
		if (bson_iter_init_find(&iter, doc, "count"))
			count = bson_iter_as_int64(&iter);
	CHECK(!mongoc_cursor_error(cursor, &error), "$collStats: %s", error.message);
	CHECK(count == (int64_t) ndocs, "$collStats count %lld", (long long) count);
	mongoc_cursor_destroy(cursor);
	bson_destroy(pipeline);
	count = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, &error);
	CHECK(count == (int64_t) ndocs, "estimated count %lld: %s", (long long) count, error.message);
	printf("libmongoc $collStats and estimated count: %lld\n", (long long) count);

	/* a refused command is an error, not an empty result */
	filter = BCON_NEW("name", "x");
	cursor = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
	CHECK(!mongoc_cursor_next(cursor, &doc) && mongoc_cursor_error(cursor, &error) && error.code == 2,
		  "a filter on name should be refused with code 2");
	mongoc_cursor_destroy(cursor);
	bson_destroy(filter);

	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	for (n = 0; n < ndocs; n++)
		bson_destroy(docs[n]);
	free(docs);
	mongoc_cleanup();
	if (failures)
		return 1;
	printf("libmongoc checks passed on %zu documents\n", ndocs);
	return 0;
}
