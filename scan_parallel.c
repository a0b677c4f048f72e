/*-------------------------------------------------------------------------
 *
 * scan_parallel.c
 *		  A parallel foreign scan: the dynamic shared memory its participants
 *		  share, the queue of ranges they claim their documents from, and
 *		  what they count there for EXPLAIN ANALYZE and the mismatch
 *		  warning.
 *
 * The leader cuts a collection into _id ranges when the scan starts
 * (split.c), more ranges than participants so that uneven ranges still
 * finish together; a file is cut as it is read, a block at a time.  Each
 * participant's source claims the next range when it is done with one
 * (scan_source.c).  Each participant counts the documents it read and the
 * values that did not fit, so that the leader's EXPLAIN ANALYZE and its one
 * warning cover them all.
 *
 * IDENTIFICATION
 *		  scan_parallel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/parallel.h"
#include "commands/explain.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "mongo_etl.h"

/*
 * Blocks a parallel scan cuts a file into per participant, so that those
 * that finish first take over the rest; each at least MONGO_MIN_FILE_BLOCK
 * bytes, not to take the lock for a few documents, and at most as much as
 * the dump reader reads at once
 */
#define MONGO_FILE_BLOCKS_PER_PARTICIPANT 16
#define MONGO_MIN_FILE_BLOCK (64 * 1024)
#define MONGO_MAX_FILE_BLOCK MONGO_DUMP_READ_SIZE

/* Bytes kept of the first value of a column that did not fit */
#define MONGO_SHARED_MISMATCH_TEXT 512

/*
 * What the participants of a parallel scan share: the queue of ranges,
 * and what they count
 */
struct MongoParallelScan
{
	pg_atomic_uint64 totals[MONGO_SCAN_COUNTERS];	/* of all participants */
	int			nparticipants;	/* the leader (0) and the workers */
	Size		queue_at;		/* where the queue is, from the start */
	Size		documents_at;	/* where the documents read by each
								 * participant are counted */
	Size		mismatches_at;	/* where the values that did not fit each
								 * column are counted */
	slock_t		mismatch_lock;	/* guards those counts and skipped_rows */
	uint64		skipped_rows;	/* rows all participants left out */
	/* then the queue; a pg_atomic_uint64 per participant; a count per column */
};

/* The values of one column that did not fit, over all participants */
typedef struct MongoSharedMismatches
{
	uint64		count;
	char		first[MONGO_SHARED_MISMATCH_TEXT];	/* the first one's error,
													 * cut short */
} MongoSharedMismatches;

/* The queue of ranges, in the shared state */
#define shared_queue(shared) \
	((MongoSourceQueue *) ((char *) (shared) + (shared)->queue_at))

/* A participant's count of the documents it read, in the shared state */
#define participant_documents(shared, i) \
	((pg_atomic_uint64 *) ((char *) (shared) + (shared)->documents_at) + (i))

/* The shared count of a column's values that did not fit */
#define shared_mismatches(shared, i) \
	((MongoSharedMismatches *) ((char *) (shared) + (shared)->mismatches_at) + (i))

static Size lay_out_shared(MongoScanState *state, Size queue_size,
						   int participants);
static void count_shared_documents(MongoScanState *state);
static void take_shared_mismatches(MongoScanState *state);

/*
 * mongoIsForeignScanParallelSafe
 *		Any scan can run in a parallel worker: each process has its own
 *		connections, and a scan that is not parallel-aware reads all of
 *		its source wherever it runs.
 */
bool
mongoIsForeignScanParallelSafe(PlannerInfo *root, RelOptInfo *rel,
							   RangeTblEntry *rte)
{
	return true;
}

/*
 * mongoEstimateDSMForeignScan
 *		The leader cuts a collection into _id ranges, about four per
 *		participant, and says how much shared memory their queue takes.  A
 *		file is cut as it is read, in blocks of about a sixteenth of a
 *		participant's share.
 */
Size
mongoEstimateDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt)
{
	MongoScanState *state = (MongoScanState *) node->fdw_state;
	MongoScanParticipant *parallel = &state->parallel;
	int			participants = pcxt->nworkers + 1;
	mongoc_collection_t *collection;

	if (state->options.dump_file != NULL)
	{
		struct stat st;

		if (stat(state->options.dump_file, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m",
							state->options.dump_file)));
		parallel->block_bytes = st.st_size /
			(participants * MONGO_FILE_BLOCKS_PER_PARTICIPANT);
		parallel->block_bytes = Max(parallel->block_bytes,
									MONGO_MIN_FILE_BLOCK);
		parallel->block_bytes = Min(parallel->block_bytes,
									MONGO_MAX_FILE_BLOCK);
		return lay_out_shared(state, mongo_source_queue_size(NIL),
							  participants);
	}

	collection =
		mongoc_client_get_collection(mongo_connection_client(state->source.conn),
									 state->options.database,
									 state->options.collection);
	PG_TRY();
	{
		parallel->planned_ranges =
			mongo_split_collection(collection, state->servername,
								   state->options.database,
								   participants * MONGO_RANGES_PER_WORKER, 0);
	}
	PG_FINALLY();
	{
		mongoc_collection_destroy(collection);
	}
	PG_END_TRY();
	return lay_out_shared(state,
						  mongo_source_queue_size(parallel->planned_ranges),
						  participants);
}

/*
 * lay_out_shared
 *		Place the parts of a parallel scan's shared state: the queue (of
 *		queue_size bytes), the documents each participant read, and the
 *		values of each column that did not fit.  The whole size.
 */
static Size
lay_out_shared(MongoScanState *state, Size queue_size, int participants)
{
	MongoScanParticipant *parallel = &state->parallel;
	Size		size = MAXALIGN(sizeof(MongoParallelScan));

	parallel->queue_at = size;
	size = MAXALIGN(size + queue_size);
	parallel->documents_at = size;
	size = MAXALIGN(size + sizeof(pg_atomic_uint64) * participants);
	parallel->mismatches_at = size;
	return size + sizeof(MongoSharedMismatches) * state->converter->ncolumns;
}

/*
 * mongoInitializeDSMForeignScan
 *		Fill the queue with the leader's ranges, and read from it.
 */
void
mongoInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
							  void *coordinate)
{
	MongoScanState *state = (MongoScanState *) node->fdw_state;
	MongoParallelScan *shared = (MongoParallelScan *) coordinate;

	shared->nparticipants = pcxt->nworkers + 1;
	shared->queue_at = state->parallel.queue_at;
	shared->documents_at = state->parallel.documents_at;
	shared->mismatches_at = state->parallel.mismatches_at;
	for (int i = 0; i < shared->nparticipants; i++)
		pg_atomic_init_u64(participant_documents(shared, i), 0);
	for (int i = 0; i < MONGO_SCAN_COUNTERS; i++)
		pg_atomic_init_u64(&shared->totals[i], 0);
	SpinLockInit(&shared->mismatch_lock);
	shared->skipped_rows = 0;
	memset(shared_mismatches(shared, 0), 0,
		   sizeof(MongoSharedMismatches) * state->converter->ncolumns);
	mongo_source_queue_init(shared_queue(shared),
							state->parallel.planned_ranges,
							state->options.dump_file != NULL,
							state->parallel.block_bytes);
	state->parallel.shared = shared;
	state->source.queue = shared_queue(shared);
}

/*
 * mongoReInitializeDSMForeignScan
 *		A rescan: every range is to be read again.
 */
void
mongoReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
								void *coordinate)
{
	MongoScanState *state = (MongoScanState *) node->fdw_state;
	MongoParallelScan *shared = (MongoParallelScan *) coordinate;

	mongo_source_queue_reset(shared_queue(shared));
	state->parallel.shared = shared;
	state->source.queue = shared_queue(shared);
}

/*
 * mongoInitializeWorkerForeignScan
 *		A worker reads ranges from the leader's queue.
 */
void
mongoInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *toc,
								 void *coordinate)
{
	MongoScanState *state = (MongoScanState *) node->fdw_state;
	MongoParallelScan *shared = (MongoParallelScan *) coordinate;

	mongo_source_queue_attach(shared_queue(shared));
	state->parallel.shared = shared;
	state->source.queue = shared_queue(shared);
}

/*
 * mongo_scan_counts
 *		What a scan counted for EXPLAIN ANALYZE, besides its documents.
 */
void
mongo_scan_counts(MongoScanState *state, uint64 counts[MONGO_SCAN_COUNTERS])
{
	counts[MONGO_COUNT_BYTES] = state->source.bytes;
	counts[MONGO_COUNT_ROUND_TRIPS] = state->source.round_trips;
	counts[MONGO_COUNT_BATCHES_READ_AHEAD] = state->source.batches_read_ahead;
	counts[MONGO_COUNT_WAIT_US] = INSTR_TIME_GET_MICROSEC(state->wait_time);
	counts[MONGO_COUNT_CONVERT_US] =
		INSTR_TIME_GET_MICROSEC(state->convert_time);
	counts[MONGO_COUNT_FILE_BLOCKS] = state->source.file_blocks;
}

/*
 * count_shared_documents
 *		Add the documents this participant read since it last did to its
 *		count in the shared state, and its other counts to the totals there.
 */
static void
count_shared_documents(MongoScanState *state)
{
	MongoScanParticipant *parallel = &state->parallel;
	MongoParallelScan *shared = parallel->shared;
	int			participant = ParallelWorkerNumber + 1; /* the leader: 0 */
	uint64		counts[MONGO_SCAN_COUNTERS];

	if (participant >= shared->nparticipants)
		return;
	pg_atomic_fetch_add_u64(participant_documents(shared, participant),
							state->source.documents -
							parallel->documents_shared);
	parallel->documents_shared = state->source.documents;
	mongo_scan_counts(state, counts);
	for (int i = 0; i < MONGO_SCAN_COUNTERS; i++)
	{
		pg_atomic_fetch_add_u64(&shared->totals[i],
								counts[i] - parallel->counts_shared[i]);
		parallel->counts_shared[i] = counts[i];
	}
}

/*
 * mongoShutdownForeignScan
 *		Before the shared state goes: each participant counts its documents
 *		there, and the leader keeps every participant's count for EXPLAIN
 *		ANALYZE.  (A worker shuts its plan down once it has sent its last
 *		row, before it lets go of its tuple queue; the leader's scan shuts
 *		down once its Gather has read every worker's rows, or earlier when a
 *		LIMIT stops it, and then counts what the workers counted so far.)
 */
void
mongoShutdownForeignScan(ForeignScanState *node)
{
	MongoScanState *state = (MongoScanState *) node->fdw_state;
	MongoScanParticipant *parallel;

	/* a direct UPDATE or DELETE (modify.c) has no scan state */
	if (((ForeignScan *) node->ss.ps.plan)->operation != CMD_SELECT ||
		state == NULL || state->parallel.shared == NULL)
		return;
	parallel = &state->parallel;
	count_shared_documents(state);
	if (IsParallelWorker())
	{
		/* the leader warns of them all: each row's are shared already */
		for (int i = 0; i < state->converter->ncolumns; i++)
			state->converter->columns[i].mismatches = 0;
		state->converter->skipped_rows = 0;
	}
	else
	{
		parallel->nparticipants = parallel->shared->nparticipants;
		parallel->participant_documents =
			palloc(sizeof(uint64) * parallel->nparticipants);
		for (int i = 0; i < parallel->nparticipants; i++)
			parallel->participant_documents[i] =
				pg_atomic_read_u64(participant_documents(parallel->shared, i));
		for (int i = 0; i < MONGO_SCAN_COUNTERS; i++)
			parallel->totals[i] =
				pg_atomic_read_u64(&parallel->shared->totals[i]);
		take_shared_mismatches(state);
	}
	parallel->shared = NULL;
	state->source.queue = NULL;
}

/*
 * mongo_share_mismatches
 *		Add the values that did not fit, counted by this participant since
 *		it last did, to the parallel scan's shared counts, with the first
 *		of each column if no participant gave one yet.
 */
void
mongo_share_mismatches(MongoScanState *state)
{
	MongoScanParticipant *parallel = &state->parallel;
	MongoParallelScan *shared = parallel->shared;
	MongoConverter *conv = state->converter;

	if (parallel->mismatches_shared == NULL)
		parallel->mismatches_shared =
			MemoryContextAllocZero(state->query_cxt,
								   sizeof(uint64) * conv->ncolumns);
	/* (nothing in here can fail while the lock is held) */
	SpinLockAcquire(&shared->mismatch_lock);
	for (int i = 0; i < conv->ncolumns; i++)
	{
		MongoColumn *col = &conv->columns[i];
		MongoSharedMismatches *counts = shared_mismatches(shared, i);

		if (col->mismatches == parallel->mismatches_shared[i])
			continue;
		if (counts->count == 0)
			strlcpy(counts->first, col->first_mismatch, sizeof(counts->first));
		counts->count += col->mismatches - parallel->mismatches_shared[i];
		parallel->mismatches_shared[i] = col->mismatches;
	}
	shared->skipped_rows += conv->skipped_rows - parallel->skipped_rows_shared;
	SpinLockRelease(&shared->mismatch_lock);
	parallel->skipped_rows_shared = conv->skipped_rows;
	parallel->mismatches_seen = conv->mismatches;
}

/*
 * take_shared_mismatches
 *		In the leader, at the end of a parallel scan: the values of every
 *		participant that did not fit become the leader's, so that one
 *		warning and EXPLAIN ANALYZE count them all.  (A worker counts a
 *		row's values before it sends the row.)
 */
static void
take_shared_mismatches(MongoScanState *state)
{
	MongoScanParticipant *parallel = &state->parallel;
	MongoParallelScan *shared = parallel->shared;
	MongoConverter *conv = state->converter;
	Size		size = sizeof(MongoSharedMismatches) * conv->ncolumns;
	MongoSharedMismatches *all = palloc(size);

	if (parallel->mismatches_shared == NULL)
		parallel->mismatches_shared =
			MemoryContextAllocZero(state->query_cxt,
								   sizeof(uint64) * conv->ncolumns);
	SpinLockAcquire(&shared->mismatch_lock);
	memcpy(all, shared_mismatches(shared, 0), size);
	conv->skipped_rows = shared->skipped_rows;
	SpinLockRelease(&shared->mismatch_lock);

	for (int i = 0; i < conv->ncolumns; i++)
	{
		MongoColumn *col = &conv->columns[i];

		if (all[i].count > col->mismatches)
		{
			if (col->mismatches == 0)
				col->first_mismatch = MemoryContextStrdup(state->query_cxt,
														  all[i].first);
			col->mismatches = all[i].count;
		}
		parallel->mismatches_shared[i] = col->mismatches;
	}
	pfree(all);
	parallel->skipped_rows_shared = conv->skipped_rows;
	parallel->mismatches_seen = conv->mismatches;
}

/*
 * mongo_explain_ranges
 *		EXPLAIN VERBOSE of a parallel scan: the _id ranges it cut the
 *		collection into, each a filter that goes with the scan's filter in
 *		one request, or how a file is cut into blocks.  Both are cut when
 *		the scan starts, so EXPLAIN without ANALYZE can only say how.
 */
void
mongo_explain_ranges(MongoScanState *state, ExplainState *es)
{
	MongoScanParticipant *parallel = &state->parallel;
	List	   *shown = NIL;
	ListCell   *lc;

	if (state->options.dump_file != NULL)
	{
		ExplainPropertyText("Dump File Blocks",
							parallel->block_bytes == 0
							? "whole documents, cut as they are read"
							: psprintf("whole documents, up to %zu kB a block",
									   parallel->block_bytes / 1024),
							es);
		return;
	}
	if (parallel->planned_ranges == NIL)
	{
		ExplainPropertyText("MongoDB Range Filters",
							"_id ranges, found when the scan starts", es);
		return;
	}
	foreach(lc, parallel->planned_ranges)
	{
		bson_t	   *filter;
		char	   *json;

		/* written as the command is (the queue keeps canonical JSON) */
		filter = bson_new_from_json((const uint8_t *) lfirst(lc), -1, NULL);
		if (filter == NULL)
			elog(ERROR, "invalid range filter of a parallel scan");
		json = bson_as_relaxed_extended_json(filter, NULL);
		bson_destroy(filter);
		shown = lappend(shown, mongo_server_json(json));
	}
	ExplainPropertyList("MongoDB Range Filters", shown, es);
}
