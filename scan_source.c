/*-------------------------------------------------------------------------
 *
 * scan_source.c
 *		  Where a foreign scan's documents come from: a collection's cursor,
 *		  a mongodump file, a part of either, or the parts a parallel scan's
 *		  participants claim from a queue in shared memory.
 *
 * A scan asks its source for the next document, starts it over on a
 * rescan, and ends it; the source counts what it read for EXPLAIN ANALYZE.
 * What to read is handed to the source, never left in a global for it to
 * find: a range (an _id filter, or a byte offset and a number of documents
 * of a file) set by the scan, or a queue of them set by the parallel scan
 * (scan_parallel.c).  mongo_etl.load's query is planned and run by SPI,
 * out of its reach, so load.c offers the range its query is to read for
 * one foreign table, and that table's scan takes it when it begins.
 *
 * IDENTIFICATION
 *		  scan_source.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "storage/lwlock.h"
#include "utils/memutils.h"

#include "mongo_etl.h"

/* The lock of a parallel scan of a file, as pg_stat_activity names it */
#define MONGO_SCAN_TRANCHE_NAME "mongo_etl_parallel_scan"

/* This backend's tranche of those locks, once it has one */
static int	mongo_scan_tranche = 0;

/* The range mongo_etl.load's running query is to read, and of what */
static MongoSourceRange *offered_range = NULL;
static Oid	offered_relid = InvalidOid;

static bool read_document(MongoScanSource *source, const bson_t **document);
static bool claim_range(MongoScanSource *source);
static bool claim_file_block(MongoScanSource *source);
static void open_cursor(MongoScanSource *source);
static void open_dump(MongoScanSource *source);
static void close_cursor(MongoScanSource *source);
static void describe_request(MongoScanSource *source, const bson_t *filter,
							 MongoRequest *request);

/*
 * mongo_source_next
 *		The next document, or false at the end: of the range set, or of the
 *		ranges claimed from the queue one after the other, or else of the
 *		whole source.  The cursor or the file is opened at the first call.
 *		A cursor that stops because of an error raises it: a failed
 *		getMore must not look like the end of the collection.
 */
bool
mongo_source_next(MongoScanSource *source, const bson_t **document)
{
	for (;;)
	{
		if (source->queue != NULL && !source->in_claimed &&
			!claim_range(source))
			return false;
		if (read_document(source, document))
			return true;
		if (source->queue == NULL)
			return false;
		/* that range is read: the next from the queue */
		source->in_claimed = false;
	}
}

/*
 * read_document
 *		The next document of the source, or of the range it reads.
 */
static bool
read_document(MongoScanSource *source, const bson_t **document)
{
	MongoSourceRange *range = source->range;
	bson_error_t error;
	bool		found;

	if (source->options->dump_file != NULL)
	{
		if (source->dump == NULL)
		{
			open_dump(source);
			if (range != NULL)
			{
				mongo_dump_seek(source->dump, range->start_offset);
				range->documents = 0;
				range->end_offset = range->start_offset;
				range->reached_end = false;
			}
		}
		if (range == NULL)
			found = mongo_dump_next(source->dump, document);
		else if (range->max_documents > 0 &&
				 range->documents >= range->max_documents)
			found = false;
		else if ((found = mongo_dump_next(source->dump, document)))
		{
			range->documents++;
			range->end_offset =
				mongo_dump_document_offset(source->dump) + (*document)->len;
		}
		else
			range->reached_end = true;
	}
	else
	{
		uint64		commands_before = mongo_commands_sent();
		uint64		read_ahead_before = mongo_batches_read_ahead();

		if (source->cursor == NULL)
			open_cursor(source);
		found = mongoc_cursor_next(source->cursor, document);
		source->round_trips += mongo_commands_sent() - commands_before;
		source->batches_read_ahead +=
			mongo_batches_read_ahead() - read_ahead_before;
		/* once the first batch is in, the cursor is known: read ahead */
		if (found && !source->read_ahead_checked && mongo_read_ahead)
		{
			source->read_ahead_cursor = mongoc_cursor_get_id(source->cursor);
			if (source->read_ahead_cursor != 0)
				mongo_prefetch_cursor(source->read_ahead_cursor);
			source->read_ahead_checked = true;
		}
	}
	if (found)
	{
		source->documents++;
		source->bytes += (*document)->len;
		return true;
	}
	if (source->cursor != NULL &&
		mongoc_cursor_error(source->cursor, &error))
		mongo_report_error(&error, source->servername,
						   source->options->database,
						   source->options->collection);
	return false;
}

/*
 * claim_range
 *		Take the next range from the queue and read it; false when the queue
 *		is empty.
 */
static bool
claim_range(MongoScanSource *source)
{
	MongoSourceQueue *queue = source->queue;
	uint32	   *offsets = (uint32 *) queue->data;
	bson_error_t error;
	uint32		next;

	if (queue->file)
		return claim_file_block(source);
	next = pg_atomic_fetch_add_u32(&queue->next_range, 1);
	if (next >= (uint32) queue->nranges)
	{
		/* (stays past the end: later calls find it empty too) */
		return false;
	}
	close_cursor(source);
	if (source->claimed_filter != NULL)
		bson_destroy(source->claimed_filter);
	source->claimed_filter =
		bson_new_from_json((const uint8_t *) queue->data + offsets[next], -1,
						   &error);
	if (source->claimed_filter == NULL)
		elog(ERROR, "invalid range filter of a parallel scan: %s",
			 error.message);
	memset(&source->claimed, 0, sizeof(MongoSourceRange));
	source->claimed.id_filter = source->claimed_filter;
	source->range = &source->claimed;
	source->in_claimed = true;
	return true;
}

/*
 * claim_file_block
 *		Read the next block of whole documents of a dump file, where the
 *		last participant's block ended, and return them; false at the end of
 *		the file.  Only the read is done under the lock: the documents are
 *		converted after it, while other participants read theirs.  So the
 *		file is cut as it is read, and no participant has to walk it all
 *		before the others can start.
 */
static bool
claim_file_block(MongoScanSource *source)
{
	MongoSourceQueue *queue = source->queue;
	uint64		start;
	uint64		documents = 0;

	if (source->dump == NULL)
		open_dump(source);
	LWLockAcquire(&queue->file_lock, LW_EXCLUSIVE);
	start = queue->file_offset;
	if (start != PG_UINT64_MAX)
	{
		uint64		end = mongo_dump_read_block(source->dump, start,
												queue->block_bytes,
												&documents);

		queue->file_offset = documents > 0 ? end : PG_UINT64_MAX;
	}
	LWLockRelease(&queue->file_lock);
	if (documents == 0)
		return false;

	memset(&source->claimed, 0, sizeof(MongoSourceRange));
	source->claimed.start_offset = start;
	source->claimed.max_documents = documents;
	source->claimed.end_offset = start;
	source->range = &source->claimed;
	source->in_claimed = true;
	source->file_blocks++;
	return true;
}

/*
 * open_cursor
 *		Run the find command (or the aggregation), with the run-time values
 *		of the filter put in, and the range's _id filter.  libmongoc sends
 *		it at the first mongoc_cursor_next, which also reports any failure.
 */
static void
open_cursor(MongoScanSource *source)
{
	mongoc_client_t *client = mongo_connection_client(source->conn);
	bson_t	   *filter = source->filter;
	MongoRequest request;
	bson_t		query = BSON_INITIALIZER;
	bson_t		opts = BSON_INITIALIZER;
	bool		aggregate;

	/* the values of parameters, as they are now (a rescan may change them) */
	if (source->param_exprs != NIL)
	{
		int			n = list_length(source->param_exprs);
		MemoryContext oldcxt;
		Datum	   *values;
		bool	   *nulls;
		ListCell   *lc;

		oldcxt = MemoryContextSwitchTo(source->econtext->ecxt_per_tuple_memory);
		values = palloc(sizeof(Datum) * n);
		nulls = palloc(sizeof(bool) * n);
		foreach(lc, source->param_exprs)
		{
			int			i = foreach_current_index(lc);

			values[i] = ExecEvalExpr((ExprState *) lfirst(lc),
									 source->econtext, &nulls[i]);
		}
		MemoryContextSwitchTo(oldcxt);
		filter = mongo_bind_filter(source->filter, values, nulls,
								   source->param_types);
	}
	/* a range of a parallel load or scan reads its _id range only */
	if (source->range != NULL && source->range->id_filter != NULL)
	{
		bson_t	   *both = bson_new();

		if (filter == NULL || bson_empty(filter))
			bson_concat(both, source->range->id_filter);
		else
		{
			bson_t		parts;

			BSON_APPEND_ARRAY_BEGIN(both, "$and", &parts);
			BSON_APPEND_DOCUMENT(&parts, "0", filter);
			BSON_APPEND_DOCUMENT(&parts, "1", source->range->id_filter);
			bson_append_array_end(both, &parts);
		}
		if (filter != NULL && filter != source->filter)
			bson_destroy(filter);
		filter = both;
	}
	if (source->sent_filter != NULL && source->sent_filter != source->filter)
		bson_destroy(source->sent_filter);
	source->sent_filter = filter;

	describe_request(source, filter, &request);
	aggregate = mongo_build_command(source->options, &request, &query, &opts);
	source->collection =
		mongoc_client_get_collection(client, source->options->database,
									 source->options->collection);
	if (aggregate)
		source->cursor = mongoc_collection_aggregate(source->collection,
													 MONGOC_QUERY_NONE,
													 &query, &opts, NULL);
	else
		source->cursor = mongoc_collection_find_with_opts(source->collection,
														  &query, &opts,
														  NULL);
	bson_destroy(&query);
	bson_destroy(&opts);
}

/*
 * open_dump
 *		Open the source's dump file, read from its start.
 */
static void
open_dump(MongoScanSource *source)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(source->cxt);

	source->dump = mongo_dump_open(source->options->dump_file);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * describe_request
 *		What the source asks MongoDB for, with this filter.
 */
static void
describe_request(MongoScanSource *source, const bson_t *filter,
				 MongoRequest *request)
{
	request->filter = filter;
	request->projection = source->projection;
	request->sort = source->sort;
	request->limit = source->limit;
	request->count = source->count;
	request->stages = source->stages;
	request->sample = source->range != NULL ? source->range->sample_size : 0;
}

/*
 * mongo_source_command_string
 *		The command the source sends, with this filter, for EXPLAIN.
 */
char *
mongo_source_command_string(MongoScanSource *source, const bson_t *filter)
{
	MongoRequest request;
	bson_t		query = BSON_INITIALIZER;
	bson_t		opts = BSON_INITIALIZER;
	bool		aggregate;
	char	   *result;

	describe_request(source, filter, &request);
	aggregate = mongo_build_command(source->options, &request, &query, &opts);
	result = mongo_command_string(source->options, aggregate, &query, &opts);
	bson_destroy(&query);
	bson_destroy(&opts);
	return result;
}

/*
 * mongo_source_rescan
 *		Start over: the next document comes from a new cursor (with the
 *		parameters' values of then) or from the file's start, and a queue
 *		is claimed from anew.
 */
void
mongo_source_rescan(MongoScanSource *source)
{
	close_cursor(source);
	source->in_claimed = false;
}

/*
 * close_cursor
 *		Destroy the cursor, which also ends it on the server when it was not
 *		exhausted, or close the dump file.
 */
static void
close_cursor(MongoScanSource *source)
{
	if (source->cursor != NULL)
	{
		if (source->read_ahead_cursor != 0)
			mongo_prefetch_forget(source->read_ahead_cursor);
		mongoc_cursor_destroy(source->cursor);
	}
	source->cursor = NULL;
	source->read_ahead_checked = false;
	source->read_ahead_cursor = 0;
	if (source->collection != NULL)
		mongoc_collection_destroy(source->collection);
	source->collection = NULL;
	if (source->dump != NULL)
		mongo_dump_close(source->dump);
	source->dump = NULL;
}

/*
 * mongo_source_end
 *		Free everything libmongoc allocated for the source and give the
 *		connection back.  Called at the end of the scan, and when its memory
 *		goes after an error, so that no cursor leaks.  Safe to call twice.
 */
void
mongo_source_end(MongoScanSource *source)
{
	close_cursor(source);
	if (source->sent_filter != NULL && source->sent_filter != source->filter)
		bson_destroy(source->sent_filter);
	source->sent_filter = NULL;
	if (source->filter != NULL)
		bson_destroy(source->filter);
	source->filter = NULL;
	if (source->projection != NULL)
		bson_destroy(source->projection);
	source->projection = NULL;
	if (source->claimed_filter != NULL)
		bson_destroy(source->claimed_filter);
	source->claimed_filter = NULL;
	source->range = NULL;
	if (source->sort != NULL)
		bson_destroy(source->sort);
	source->sort = NULL;
	if (source->stages != NULL)
		bson_destroy(source->stages);
	source->stages = NULL;
	if (source->conn != NULL)
		mongo_release_connection(source->conn);
	source->conn = NULL;
}

/*
 * mongo_source_queue_size
 *		Bytes of shared memory a queue of these _id ranges (extended JSON
 *		filters; NIL for a file's blocks) takes.
 */
Size
mongo_source_queue_size(List *ranges)
{
	Size		size = offsetof(MongoSourceQueue, data);
	ListCell   *lc;

	size += sizeof(uint32) * list_length(ranges);
	foreach(lc, ranges)
		size += strlen((char *) lfirst(lc)) + 1;
	return size;
}

/*
 * mongo_source_queue_init
 *		Fill a queue, in shared memory, with a collection's _id ranges, or
 *		make it cut a file in blocks of block_bytes as they are claimed.
 */
void
mongo_source_queue_init(MongoSourceQueue *queue, List *ranges, bool file,
						Size block_bytes)
{
	uint32	   *offsets = (uint32 *) queue->data;
	uint32		at = sizeof(uint32) * list_length(ranges);
	ListCell   *lc;

	pg_atomic_init_u32(&queue->next_range, 0);
	queue->nranges = list_length(ranges);
	queue->file = file;
	if (mongo_scan_tranche == 0)
		mongo_scan_tranche = LWLockNewTrancheId();
	LWLockRegisterTranche(mongo_scan_tranche, MONGO_SCAN_TRANCHE_NAME);
	queue->file_tranche = mongo_scan_tranche;
	LWLockInitialize(&queue->file_lock, mongo_scan_tranche);
	queue->file_offset = 0;
	queue->block_bytes = block_bytes;
	foreach(lc, ranges)
	{
		size_t		length = strlen((char *) lfirst(lc)) + 1;

		offsets[foreach_current_index(lc)] = at;
		memcpy(queue->data + at, lfirst(lc), length);
		at += length;
	}
}

/*
 * mongo_source_queue_reset
 *		A rescan of a parallel scan: every range is to be read again.
 */
void
mongo_source_queue_reset(MongoSourceQueue *queue)
{
	pg_atomic_write_u32(&queue->next_range, 0);
	queue->file_offset = 0;
}

/*
 * mongo_source_queue_attach
 *		A parallel worker is to claim from the leader's queue: its lock's
 *		tranche gets its name in this process too.
 */
void
mongo_source_queue_attach(MongoSourceQueue *queue)
{
	LWLockRegisterTranche(queue->file_tranche, MONGO_SCAN_TRANCHE_NAME);
}

/*
 * mongo_source_offer_range
 *		Have the next scan of foreign table relid that begins read range
 *		instead of the whole source (mongo_etl.load, around its query);
 *		InvalidOid and NULL take the offer back.
 */
void
mongo_source_offer_range(Oid relid, MongoSourceRange *range)
{
	offered_relid = relid;
	offered_range = range;
	if (range != NULL)
		range->claimed = false;
}

/*
 * mongo_source_take_range
 *		The range offered for a scan of foreign table relid beginning now,
 *		if it is not taken yet and fits the source (a file's offsets, or a
 *		collection's _id filter or sample size); else NULL, and the scan
 *		reads all.  Any
 *		other scan of the table (say, in a trigger) reads the whole source.
 */
MongoSourceRange *
mongo_source_take_range(Oid relid, bool file)
{
	MongoSourceRange *range = offered_range;

	if (range == NULL || offered_relid != relid || range->claimed ||
		file != (range->id_filter == NULL && range->sample_size == 0))
		return NULL;
	range->claimed = true;
	return range;
}
