/*-------------------------------------------------------------------------
 *
 * load.c
 *		  The procedure mongo_etl.load: copy every row of a mongo_etl
 *		  foreign table into a table, in bulk.
 *
 * The rows come from a query over the foreign table, run by SPI with a
 * DestReceiver of our own, which buffers them and writes each batch with
 * the table access method's multi-insert, as COPY FROM does: indexes, CHECK
 * and NOT NULL constraints, generated columns and AFTER ROW triggers
 * (foreign keys among them) are handled as COPY handles them.  Targets
 * COPY's fast path does not cover (partitioned tables and partitions,
 * BEFORE or INSTEAD OF triggers, transition tables, row-level security)
 * are loaded with INSERT ... SELECT instead, which handles everything.
 * Into a heap table the receiver forms the rows' heap tuples itself, with
 * each attribute's layout looked up once rather than for every value.
 *
 * Called outside a transaction block, the procedure can commit every N
 * rows: it then reads the collection in _id order, a chunk at a time, and
 * can resume after the largest _id the target holds.  A mongodump file is
 * read in its own order instead, each chunk starting at the byte offset
 * where the last one ended; the offset commits with the chunk's rows in
 * mongo_etl.load_state, which is where a resumed load starts.
 *
 * IDENTIFICATION
 *		  load.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_coerce.h"
#include "pgstat.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/dest.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "mongo_etl.h"

/*
 * Rows written per multi-insert, and the most bytes buffered for one: the
 * values COPY FROM uses, which keep a batch within a few pages' worth of
 * tuples and the per-batch overhead negligible.
 */
#define LOAD_BATCH_ROWS 1000
#define LOAD_BATCH_BYTES 65535

/* How the rows go into the target */
typedef enum LoadMethod
{
	LOAD_MULTI_INSERT,			/* buffered table_multi_insert */
	LOAD_INSERT_SELECT,			/* INSERT ... SELECT, for other targets */
	LOAD_CITUS					/* INSERT ... SELECT, which Citus routes */
} LoadMethod;

/* How the summary's DETAIL names each LoadMethod */
static const char *const load_method_names[] = {
	[LOAD_MULTI_INSERT] = "multi-insert",
	[LOAD_INSERT_SELECT] = "INSERT ... SELECT",
	[LOAD_CITUS] = "INSERT ... SELECT (read on the coordinator, routed by Citus)",
};

typedef struct LoadState LoadState;

/* A target attribute, as form_row stores it */
typedef struct LoadAttribute
{
	int16		attlen;			/* > 0 fixed, -1 varlena */
	bool		byval;
	bool		packable;		/* a varlena that may take a 1-byte header */
	uint8		alignby;		/* its alignment, in bytes */
} LoadAttribute;

/* The DestReceiver that writes the query's rows into the target */
typedef struct LoadReceiver
{
	DestReceiver pub;			/* must be first */
	Relation	rel;			/* the target, open */
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;
	CommandId	cid;
	int			natts;			/* target attributes, dropped ones too */
	int		   *source_column;	/* per target attribute: the query's
								 * output column, or -1 (dropped or
								 * generated) */
	int			id_column;		/* the query's _id output column, or -1 */
	MemoryContext cxt;			/* holds the receiver, its slots and rows */
	LoadAttribute *attributes;	/* per target attribute, how form_row
								 * lays it out; NULL: heap_form_tuple
								 * does */
	TupleDesc	slot_desc;		/* form_row's slots' descriptor */
	bool		same_order;		/* the query's columns are the target's
								 * attributes, in order */
	Datum	   *values;			/* form_row's row in target order, when the
								 * query's is another */
	bool	   *isnull;
	TupleTableSlot *slots[LOAD_BATCH_ROWS];
	int			nbuffered;
	Size		buffered_bytes;
	MemoryContext id_cxt;		/* holds last_id */
	Datum		last_id;		/* _id of the last row written */
	bool		have_last_id;
	Oid			id_type;
	int16		id_typlen;
	bool		id_typbyval;
	uint64		rows;			/* rows written by this receiver */
	LoadState  *load;			/* for progress reports */
} LoadReceiver;

/* What one call of the procedure does, kept across its commits */
struct LoadState
{
	Oid			source;
	Oid			target;
	LoadMethod	method;
	List	   *expressions;	/* the select list's items, as strings */
	List	   *columns;		/* the target's columns they fill, quoted */
	AttrNumber	source_id;		/* the source's _id column, or 0 */
	Oid			id_type;
	int64		batch_rows;		/* rows per transaction, 0 for one */
	int64		progress_rows;	/* a NOTICE every so many rows, 0 none */
	uint64		rows;			/* rows loaded so far */
	int			workers_used;	/* background workers that loaded */
	bool		rows_planned;	/* a parallel plan was loaded */
	bool		statement_triggers; /* the target has INSERT statement
									 * triggers */
	uint64		next_progress;	/* rows at the next NOTICE */
	char	   *last_id;		/* the last _id loaded, as text, or NULL */
	TimestampTz started;

	/* a source reading a mongodump file, in chunks of byte ranges */
	char	   *file;			/* the file, or NULL: chunks in _id order */
	int64		file_size;		/* its size and modification time, which */
	TimestampTz file_modified;	/* a resumed load checks */
	MongoSourceRange window;	/* the part of the source a chunk reads */
	uint64		documents;		/* documents of the file read so far */
};

/* A parallel load worker's count of rows written, for its coordinator */
static pg_atomic_uint64 *load_rows_counter = NULL;

static void prepare_load(LoadState *load);
static uint64 load_ranges_here(LoadState *load, List *range_nos);
static uint64 load_range(Oid source, Oid target, int range_no,
						 pg_atomic_uint64 *rows_counter);
static List *plan_ranges(LoadState *load, int workers);
static List *split_collection(LoadState *load, int workers);
static List *recorded_ranges(LoadState *load);
static void forget_ranges(LoadState *load);
static bool have_load_ranges(bool required);
static bool splittable(LoadState *load, int workers);
static void check_relations(Relation source, Relation target);
static void map_columns(LoadState *load, Relation source, Relation target);
static LoadMethod choose_method(Relation target);
static bool is_citus_table(Relation rel);
static char *resume_point(LoadState *load);
static void find_source_file(LoadState *load, Relation source);
static bool file_resume_point(LoadState *load);
static void record_file_position(LoadState *load);
static void forget_file_position(LoadState *load);
static bool have_state_table(const char *name, const char *why,
							 bool required);
static bool have_load_state(bool required);
static uint64 load_chunk(LoadState *load);
static uint64 execute_chunk(LoadState *load, SPIPlanPtr plan,
							 SPIExecuteOptions *options);
static bool remembers_last_id(const LoadState *load);
static char *chunk_query(LoadState *load, bool with_insert);
static DestReceiver *create_load_receiver(LoadState *load, Relation rel,
										  bool with_id);
static bool load_receive(TupleTableSlot *slot, DestReceiver *self);
static void load_startup(DestReceiver *self, int operation,
						 TupleDesc typeinfo);
static void load_shutdown(DestReceiver *self);
static void load_destroy(DestReceiver *self);
static void flush_batch(LoadReceiver *receiver);
static void target_order(LoadReceiver *receiver, TupleTableSlot *slot,
						 Datum *values, bool *isnull);
static LoadAttribute *plan_row_form(Relation rel);
static HeapTuple form_row(LoadReceiver *receiver, TupleTableSlot *slot,
						  MemoryContext cxt);
static void report_progress(LoadState *load, bool final);
static char *qualified_name(Oid relid);
static char *joined(List *strings);
static Oid	get_type_output_function(Oid type);

PG_FUNCTION_INFO_V1(mongo_etl_load);
PG_FUNCTION_INFO_V1(mongo_etl_load_columns);

/*
 * mongo_etl_load
 *		CALL mongo_etl.load(source, target, truncate, batch_rows, resume,
 *		progress_rows, workers): see mongo_etl--1.1--1.2.sql and the
 *		README.
 */
Datum
mongo_etl_load(PG_FUNCTION_ARGS)
{
	bool		atomic = fcinfo->context == NULL ||
		!IsA(fcinfo->context, CallContext) ||
		((CallContext *) fcinfo->context)->atomic;
	MemoryContext load_cxt = AllocSetContextCreate(CurrentMemoryContext,
												   "mongo_etl load",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(load_cxt);
	LoadState  *load = palloc0(sizeof(LoadState));
	bool		truncate;
	bool		resume;
	int			workers;
	List	   *ranges;
	uint64		mismatch_values;
	uint64		mismatch_rows;
	uint64		mismatch_values_after;
	uint64		mismatch_rows_after;

	mongo_mismatch_counts(&mismatch_values, &mismatch_rows);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source and target must not be NULL")));
	load->source = PG_GETARG_OID(0);
	load->target = PG_GETARG_OID(1);
	truncate = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	load->batch_rows = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3);
	resume = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
	load->progress_rows = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT64(5);
	/* (version 1.1 of the SQL objects has no workers parameter) */
	workers = PG_NARGS() > 6 && !PG_ARGISNULL(6) ? PG_GETARG_INT32(6) : 1;
	if (load->batch_rows < 0 || load->progress_rows < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_rows and progress_rows must not be negative")));
	if (workers < 1 || workers > MONGO_MAX_LOAD_WORKERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("workers must be between 1 and %d",
						MONGO_MAX_LOAD_WORKERS)));
	if (load->batch_rows > 0 && atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("mongo_etl.load can commit every %lld rows only when called outside a transaction block",
						(long long) load->batch_rows),
				 errhint("Run CALL mongo_etl.load(...) on its own, not in BEGIN ... COMMIT or a function, or leave batch_rows at 0 to load in one transaction.")));
	if (workers > 1 && atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("mongo_etl.load can load with workers only when called outside a transaction block"),
				 errdetail("Each worker commits the ranges it loads."),
				 errhint("Run CALL mongo_etl.load(...) on its own, not in BEGIN ... COMMIT or a function, or leave workers at 1.")));
	if (truncate && resume)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("truncate and resume cannot both be true"),
				 errdetail("Resuming continues after the rows the target holds; truncating removes them.")));

	prepare_load(load);
	if ((load->batch_rows > 0 || resume) && load->source_id == 0 &&
		load->file == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" has no column \"_id\"",
						get_rel_name(load->source)),
				 errdetail("Loading in batches and resuming read the collection in _id order.")));

	if (SPI_connect_ext(atomic ? 0 : SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (truncate)
		SPI_execute(psprintf("TRUNCATE %s",
							 qualified_name(load->target)),
					false, 0);
	load->started = GetCurrentTimestamp();
	load->next_progress = load->progress_rows;

	/* a parallel load: resuming the ranges left, or splitting anew */
	ranges = resume ? recorded_ranges(load) : NIL;
	if (ranges != NIL && atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("resuming a parallel load commits each range, so it must be called outside a transaction block")));
	if (ranges == NIL && !resume && workers > 1 && splittable(load, workers))
		ranges = plan_ranges(load, workers);
	else if (!resume && have_load_ranges(false))
		forget_ranges(load);
	if (ranges != NIL)
	{
		if (load->file != NULL)
			forget_file_position(load);
		/* the truncation and the plan are durable before a worker starts */
		SPI_commit();
		load->rows = mongo_parallel_load(load->source, load->target, ranges,
										 workers, load->progress_rows,
										 &load->workers_used);
		if (load->workers_used == 0)
			load->rows = load_ranges_here(load, ranges);
		load->rows_planned = true;
		forget_ranges(load);
	}
	else
	{
		if (load->file != NULL && !resume)
			forget_file_position(load);
		if (resume && !file_resume_point(load))
			load->last_id = resume_point(load);

		pgstat_progress_start_command(PROGRESS_COMMAND_COPY, load->target);
		pgstat_progress_update_param(PROGRESS_COPY_COMMAND,
									 PROGRESS_COPY_COMMAND_FROM);
		pgstat_progress_update_param(PROGRESS_COPY_TYPE,
									 PROGRESS_COPY_TYPE_CALLBACK);

		for (;;)
		{
			uint64		chunk = load_chunk(load);

			if (load->file != NULL)
			{
				record_file_position(load);
				if (load->window.reached_end)
					break;
			}
			else if (load->batch_rows == 0 || chunk < (uint64) load->batch_rows)
				break;
			/* the chunk is durable; the next transaction reads on from it */
			MemoryContextSwitchTo(load_cxt);
			SPI_commit();
			pgstat_progress_start_command(PROGRESS_COMMAND_COPY, load->target);
			pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED,
										 load->rows);
		}
		pgstat_progress_end_command();
	}

	MemoryContextSwitchTo(load_cxt);
	report_progress(load, true);
	mongo_mismatch_counts(&mismatch_values_after, &mismatch_rows_after);
	if (mismatch_values_after > mismatch_values)
		ereport(NOTICE,
				(errmsg(UINT64_FORMAT " values did not fit their columns and were handled by on_type_mismatch; " UINT64_FORMAT " rows were left out",
						mismatch_values_after - mismatch_values,
						mismatch_rows_after - mismatch_rows)));
	SPI_finish();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(load_cxt);
	PG_RETURN_VOID();
}

/*
 * prepare_load
 *		Check the source and target, and work out how the one fills the
 *		other: the same in the calling backend and in each worker, which
 *		checks its privileges as the caller's role.
 */
static void
prepare_load(LoadState *load)
{
	Relation	source = table_open(load->source, AccessShareLock);
	Relation	target = table_open(load->target, RowExclusiveLock);

	check_relations(source, target);
	map_columns(load, source, target);
	load->method = choose_method(target);
	find_source_file(load, source);
	load->statement_triggers = target->trigdesc != NULL &&
		(target->trigdesc->trig_insert_before_statement ||
		 target->trigdesc->trig_insert_after_statement ||
		 target->trigdesc->trig_insert_new_table);
	table_close(source, NoLock);
	table_close(target, NoLock);
}

/*
 * splittable
 *		Whether the source can be loaded in ranges by workers; if not, a
 *		NOTICE says why and the load goes on with one.
 */
static bool
splittable(LoadState *load, int workers)
{
	ForeignTable *table = GetForeignTable(load->source);
	MongoTableOptions options;
	const char *why = NULL;

	mongo_get_table_options(table, GetForeignServer(table->serverid),
							&options);
	if (load->file != NULL && strlen(load->file) > 3 &&
		strcmp(load->file + strlen(load->file) - 3, ".gz") == 0)
		why = "a gzip-compressed file can only be read from its start";
	else if (load->file == NULL && options.pipeline != NULL)
		why = "the foreign table reads an aggregation pipeline's output, which has no _id ranges to split";
	else if (load->file == NULL && load->source_id == 0)
		why = "the foreign table has no _id column to split the collection by";
	else if (load->statement_triggers)
		why = "the target has statement-level INSERT triggers, which would fire once for each range";
	if (why != NULL)
	{
		ereport(NOTICE,
				(errmsg("loading \"%s\" with one worker instead of %d: %s",
						get_rel_name(load->source), workers, why)));
		return false;
	}
	return have_load_ranges(true);
}

/*
 * plan_ranges
 *		Split the source into ranges for workers and record them in
 *		mongo_etl.load_ranges, replacing an earlier plan: byte ranges of a
 *		file (each at most batch_rows documents, when given), or _id ranges
 *		of a collection.  The ranges' numbers; NIL when the source did not
 *		split (then the load goes on with one worker).
 */
static List *
plan_ranges(LoadState *load, int workers)
{
	Oid			argtypes[9] = {REGCLASSOID, REGCLASSOID, INT4OID, TEXTOID,
		INT8OID, TIMESTAMPTZOID, INT8OID, INT8OID, TEXTOID};
	char		nulls[9];
	Datum		values[9];
	List	   *file_ranges = NIL;
	List	   *filters = NIL;
	List	   *numbers = NIL;
	StringInfoData shown;
	int			nranges;

	if (load->file != NULL)
	{
		uint64		bytes = (uint64) load->file_size /
			(workers * MONGO_RANGES_PER_WORKER) + 1;

		file_ranges = mongo_split_file(load->file, bytes,
									   (uint64) load->batch_rows);
		nranges = list_length(file_ranges);
	}
	else
	{
		filters = split_collection(load, workers);
		nranges = list_length(filters);
	}
	if (nranges < 2)
	{
		if (nranges == 1)
			ereport(NOTICE,
					(errmsg("loading \"%s\" with one worker instead of %d: %s",
							get_rel_name(load->source), workers,
							"the source is too small to split")));
		forget_ranges(load);
		return NIL;
	}

	forget_ranges(load);
	initStringInfo(&shown);
	memset(nulls, ' ', sizeof(nulls));
	values[0] = ObjectIdGetDatum(load->source);
	values[1] = ObjectIdGetDatum(load->target);
	for (int i = 0; i < nranges; i++)
	{
		values[2] = Int32GetDatum(i + 1);
		if (load->file != NULL)
		{
			MongoFileRange *range = list_nth(file_ranges, i);

			values[3] = CStringGetTextDatum(load->file);
			values[4] = Int64GetDatum(load->file_size);
			values[5] = TimestampTzGetDatum(load->file_modified);
			values[6] = Int64GetDatum((int64) range->start_offset);
			values[7] = Int64GetDatum((int64) range->documents);
			nulls[8] = 'n';
			if (i < 3 || i == nranges - 1)
				appendStringInfo(&shown, "\n%d: " UINT64_FORMAT " documents from byte offset " UINT64_FORMAT,
								 i + 1, range->documents, range->start_offset);
		}
		else
		{
			nulls[3] = nulls[4] = nulls[5] = nulls[6] = nulls[7] = 'n';
			values[8] = CStringGetTextDatum((char *) list_nth(filters, i));
			if (i < 3 || i == nranges - 1)
				appendStringInfo(&shown, "\n%d: %s", i + 1,
								 (char *) list_nth(filters, i));
		}
		if (i == 3 && nranges > 4)
			appendStringInfoString(&shown, "\n...");
		if (SPI_execute_with_args("INSERT INTO mongo_etl.load_ranges "
								  "(source, target, range_no, file, file_size, "
								  "file_modified, start_offset, documents, "
								  "filter) "
								  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
								  9, argtypes, values, nulls, false, 0) !=
			SPI_OK_INSERT)
			elog(ERROR, "could not record a range in mongo_etl.load_ranges");
		numbers = lappend_int(numbers, i + 1);
	}
	ereport(NOTICE,
			(errmsg("loading \"%s\" in %d ranges with up to %d workers",
					get_rel_name(load->source), nranges, workers),
			 errdetail_internal("Ranges:%s", shown.data)));
	return numbers;
}

/*
 * split_collection
 *		_id ranges of the source's collection for workers, as filters.
 */
static List *
split_collection(LoadState *load, int workers)
{
	ForeignTable *table = GetForeignTable(load->source);
	ForeignServer *server = GetForeignServer(table->serverid);
	MongoTableOptions options;
	MongoConnection *conn;
	mongoc_collection_t *collection;
	List	   *volatile filters = NIL;

	mongo_get_table_options(table, server, &options);
	conn = mongo_get_connection(server,
								GetUserMapping(GetUserId(), server->serverid));
	collection = mongoc_client_get_collection(mongo_connection_client(conn),
											  options.database,
											  options.collection);
	PG_TRY();
	{
		filters = mongo_split_collection(collection, server->servername,
										 options.database,
										 workers * MONGO_RANGES_PER_WORKER,
										 load->batch_rows);
	}
	PG_FINALLY();
	{
		mongoc_collection_destroy(collection);
		mongo_release_connection(conn);
	}
	PG_END_TRY();
	return filters;
}

/*
 * recorded_ranges
 *		The ranges of an interrupted parallel load of the source into the
 *		target not loaded yet; NIL when none is recorded.
 */
static List *
recorded_ranges(LoadState *load)
{
	Oid			argtypes[2] = {REGCLASSOID, REGCLASSOID};
	Datum		values[2];
	List	   *numbers = NIL;
	uint64		total;

	if (!have_load_ranges(false))
		return NIL;
	values[0] = ObjectIdGetDatum(load->source);
	values[1] = ObjectIdGetDatum(load->target);
	if (SPI_execute_with_args("SELECT range_no, done FROM mongo_etl.load_ranges "
							  "WHERE source = $1 AND target = $2 "
							  "ORDER BY range_no",
							  2, argtypes, values, NULL, true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read mongo_etl.load_ranges");
	total = SPI_processed;
	for (uint64 i = 0; i < total; i++)
	{
		bool		isnull;

		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 2, &isnull)))
			numbers = lappend_int(numbers,
								  DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc,
															  1, &isnull)));
	}
	if (total > 0)
		ereport(NOTICE,
				(errmsg("resuming the parallel load of \"%s\" into \"%s\": %d of " UINT64_FORMAT " ranges are left",
						get_rel_name(load->source), get_rel_name(load->target),
						list_length(numbers), total)));
	if (total > 0 && numbers == NIL)
		forget_ranges(load);
	return numbers;
}

/*
 * forget_ranges
 *		Drop the recorded ranges of a parallel load of the source into the
 *		target: it is complete, or a new load starts over.  A load that
 *		left ranges unloaded keeps them, and says so.
 */
static void
forget_ranges(LoadState *load)
{
	Oid			argtypes[2] = {REGCLASSOID, REGCLASSOID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(load->source);
	values[1] = ObjectIdGetDatum(load->target);
	if (SPI_execute_with_args("DELETE FROM mongo_etl.load_ranges "
							  "WHERE source = $1 AND target = $2 AND done",
							  2, argtypes, values, NULL, false, 0) !=
		SPI_OK_DELETE)
		elog(ERROR, "could not update mongo_etl.load_ranges");
	if (SPI_execute_with_args("SELECT count(*) FROM mongo_etl.load_ranges "
							  "WHERE source = $1 AND target = $2",
							  2, argtypes, values, NULL, false, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read mongo_etl.load_ranges");
	{
		bool		isnull;
		int64		left = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc,
													   1, &isnull));

		if (left > 0 && load->rows_planned)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the parallel load of \"%s\" into \"%s\" left " INT64_FORMAT " ranges unloaded",
							get_rel_name(load->source),
							get_rel_name(load->target), left),
					 errdetail("A worker ended before it committed them; the other ranges are loaded and committed."),
					 errhint("CALL mongo_etl.load(..., resume => true) loads the ranges left.")));
		if (left > 0)
			SPI_execute_with_args("DELETE FROM mongo_etl.load_ranges "
								  "WHERE source = $1 AND target = $2",
								  2, argtypes, values, NULL, false, 0);
	}
}

/*
 * load_ranges_here
 *		The ranges of a parallel load that no background worker could
 *		take, loaded by this backend, a range per transaction; the rows
 *		loaded.
 */
static uint64
load_ranges_here(LoadState *load, List *range_nos)
{
	uint64		rows = 0;
	ListCell   *lc;

	foreach(lc, range_nos)
	{
		uint64		range_rows = load_range(load->source, load->target,
											lfirst_int(lc), NULL);

		SPI_commit();
		if (load->progress_rows > 0 &&
			(rows + range_rows) / load->progress_rows >
			rows / load->progress_rows)
			ereport(NOTICE,
					(errmsg("loaded " UINT64_FORMAT " rows so far",
							rows + range_rows)));
		rows += range_rows;
	}
	return rows;
}

/*
 * mongo_etl_load_worker
 *		The main function of a parallel load's background worker: load
 *		ranges from the shared queue, each in a transaction of its own,
 *		until none is left or a worker failed.
 */
void
mongo_etl_load_worker(Datum main_arg)
{
	int			worker;
	ParallelLoadShared *shared = mongo_load_worker_attach(main_arg, &worker);
	MongoLoadTask task;

	while (mongo_load_worker_next_range(shared, worker, &task))
	{
		PG_TRY();
		{
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			pgstat_report_activity(STATE_RUNNING,
								   psprintf("mongo_etl.load range %d",
											task.range_no));
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			(void) load_range(task.source, task.target, task.range_no,
							  task.rows_counter);
			SPI_finish();
			PopActiveSnapshot();
			CommitTransactionCommand();
			pgstat_report_activity(STATE_IDLE, NULL);
		}
		PG_CATCH();
		{
			mongo_load_worker_failed(shared, worker);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
}

/*
 * load_range
 *		Load one recorded range of a parallel load, and mark it loaded in
 *		the same transaction; the rows loaded.  Run by a worker (or by the
 *		calling backend when no worker could start), in a transaction and
 *		connected to SPI.  rows_counter, when given, counts the rows as
 *		they are written, for the coordinator's progress reports.
 */
static uint64
load_range(Oid source, Oid target, int range_no,
		   pg_atomic_uint64 *rows_counter)
{
	Oid			argtypes[4] = {REGCLASSOID, REGCLASSOID, INT4OID, INT8OID};
	Datum		values[4];
	LoadState  *load = palloc0(sizeof(LoadState));
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	bool		isnull;
	bson_t	   *filter = NULL;
	int64		documents = 0;
	uint64		rows;

	load->source = source;
	load->target = target;
	prepare_load(load);

	values[0] = ObjectIdGetDatum(source);
	values[1] = ObjectIdGetDatum(target);
	values[2] = Int32GetDatum(range_no);
	if (SPI_execute_with_args("SELECT file, file_size, file_modified, "
							  "start_offset, documents, filter, done "
							  "FROM mongo_etl.load_ranges "
							  "WHERE source = $1 AND target = $2 "
							  "AND range_no = $3 FOR UPDATE",
							  3, argtypes, values, NULL, false, 1) !=
		SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("range %d of the parallel load of \"%s\" into \"%s\" is not recorded",
						range_no, get_rel_name(source), get_rel_name(target))));
	tuple = SPI_copytuple(SPI_tuptable->vals[0]);
	tupdesc = SPI_tuptable->tupdesc;
	if (DatumGetBool(SPI_getbinval(tuple, tupdesc, 7, &isnull)))
		return 0;				/* loaded meanwhile */

	if (!heap_attisnull(tuple, 1, tupdesc))
	{
		char	   *file = SPI_getvalue(tuple, tupdesc, 1);

		if (load->file == NULL || strcmp(file, load->file) != 0 ||
			DatumGetInt64(SPI_getbinval(tuple, tupdesc, 2, &isnull)) !=
			load->file_size ||
			DatumGetTimestampTz(SPI_getbinval(tuple, tupdesc, 3, &isnull)) !=
			load->file_modified)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot load range %d of \"%s\" into \"%s\": the file changed since the load was planned",
							range_no, get_rel_name(source),
							get_rel_name(target)),
					 errdetail("The plan is for file \"%s\" of %s bytes, modified at %s.",
							   file, SPI_getvalue(tuple, tupdesc, 2),
							   SPI_getvalue(tuple, tupdesc, 3)),
					 errhint("Load again with truncate => true.")));
		load->window.start_offset =
			DatumGetInt64(SPI_getbinval(tuple, tupdesc, 4, &isnull));
		documents = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 5, &isnull));
		load->batch_rows = documents;
	}
	else
	{
		char	   *json = SPI_getvalue(tuple, tupdesc, 6);
		bson_error_t error;

		filter = bson_new_from_json((const uint8_t *) json, -1, &error);
		if (filter == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("range %d of the parallel load of \"%s\" into \"%s\" has an invalid filter",
							range_no, get_rel_name(source),
							get_rel_name(target)),
					 errdetail_internal("%s", error.message)));
		load->window.id_filter = filter;
	}

	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, target);
	pgstat_progress_update_param(PROGRESS_COPY_COMMAND,
								 PROGRESS_COPY_COMMAND_FROM);
	pgstat_progress_update_param(PROGRESS_COPY_TYPE,
								 PROGRESS_COPY_TYPE_CALLBACK);
	load_rows_counter = rows_counter;
	PG_TRY();
	{
		rows = load_chunk(load);
	}
	PG_FINALLY();
	{
		load_rows_counter = NULL;
		if (filter != NULL)
			bson_destroy(filter);
		load->window.id_filter = NULL;
	}
	PG_END_TRY();
	pgstat_progress_end_command();
	if (load->file != NULL && load->window.documents != (uint64) documents)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot load range %d of \"%s\" into \"%s\": the file changed since the load was planned",
						range_no, get_rel_name(source), get_rel_name(target)),
				 errdetail("The range read " UINT64_FORMAT " documents, where the plan has " INT64_FORMAT ".",
						   load->window.documents, documents)));

	values[3] = Int64GetDatum((int64) rows);
	if (SPI_execute_with_args("UPDATE mongo_etl.load_ranges "
							  "SET done = true, rows_loaded = $4, "
							  "updated = now() "
							  "WHERE source = $1 AND target = $2 "
							  "AND range_no = $3",
							  4, argtypes, values, NULL, false, 0) !=
		SPI_OK_UPDATE)
		elog(ERROR, "could not update mongo_etl.load_ranges");
	return rows;
}

/*
 * check_relations
 *		The source must be a mongo_etl foreign table, the target a table;
 *		the user needs SELECT on one and INSERT on the other (checked again
 *		by the queries that read and write them).
 */
static void
check_relations(Relation source, Relation target)
{
	ForeignServer *server;
	ForeignDataWrapper *fdw;
	AclResult	acl;

	if (source->rd_rel->relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a foreign table",
						RelationGetRelationName(source))));
	server = GetForeignServer(GetForeignTable(RelationGetRelid(source))->serverid);
	fdw = GetForeignDataWrapper(server->fdwid);
	if (strcmp(fdw->fdwname, "mongo_etl") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("foreign table \"%s\" does not belong to mongo_etl",
						RelationGetRelationName(source)),
				 errdetail("Its server \"%s\" uses the foreign-data wrapper \"%s\".",
						   server->servername, fdw->fdwname)));
	if (target->rd_rel->relkind != RELKIND_RELATION &&
		target->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table",
						RelationGetRelationName(target))));

	acl = pg_class_aclcheck(RelationGetRelid(source), GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_FOREIGN_TABLE,
					   RelationGetRelationName(source));
	acl = pg_class_aclcheck(RelationGetRelid(target), GetUserId(), ACL_INSERT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(target));
}

/*
 * map_columns
 *		Match the target's columns with the source's by name, and build the
 *		select list giving the target's columns in order: a source column
 *		of the same type, or cast where PostgreSQL would cast it on
 *		assignment; for a column without a source, its default.  A target
 *		column with neither, or a type only an explicit cast reaches, is an
 *		error.  Generated columns are computed on insert.
 */
static void
map_columns(LoadState *load, Relation source, Relation target)
{
	TupleDesc	sdesc = RelationGetDescr(source);
	TupleDesc	tdesc = RelationGetDescr(target);
	StringInfoData unused;
	bool	   *used = palloc0(sizeof(bool) * sdesc->natts);
	int			t;
	int			s;

	load->source_id = get_attnum(RelationGetRelid(source), "_id");
	if (load->source_id != InvalidAttrNumber)
		load->id_type = TupleDescAttr(sdesc, load->source_id - 1)->atttypid;

	for (t = 0; t < tdesc->natts; t++)
	{
		Form_pg_attribute tattr = TupleDescAttr(tdesc, t);
		const char *name = NameStr(tattr->attname);
		Form_pg_attribute sattr = NULL;
		char	   *expr;

		if (tattr->attisdropped || tattr->attgenerated)
			continue;
		for (s = 0; s < sdesc->natts; s++)
		{
			if (!TupleDescAttr(sdesc, s)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(sdesc, s)->attname), name) == 0)
			{
				sattr = TupleDescAttr(sdesc, s);
				used[s] = true;
				break;
			}
		}

		if (sattr != NULL && sattr->atttypid == tattr->atttypid &&
			sattr->atttypmod == tattr->atttypmod)
			expr = psprintf("s.%s", quote_identifier(name));
		else if (sattr != NULL)
		{
			Oid			from = sattr->atttypid;

			if (!can_coerce_type(1, &from, &tattr->atttypid,
								 COERCION_ASSIGNMENT))
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("column \"%s\" is of type %s in \"%s\" but of type %s in \"%s\"",
								name,
								format_type_with_typemod(sattr->atttypid,
														 sattr->atttypmod),
								RelationGetRelationName(source),
								format_type_with_typemod(tattr->atttypid,
														 tattr->atttypmod),
								RelationGetRelationName(target)),
						 errdetail("PostgreSQL has no assignment cast between these types."),
						 errhint("Load through INSERT ... SELECT with the conversion you want, or change the foreign table's column type.")));
			expr = psprintf("CAST(s.%s AS %s)", quote_identifier(name),
							format_type_with_typemod(tattr->atttypid,
													 tattr->atttypmod));
		}
		else
		{
			Node	   *def = build_column_default(target, tattr->attnum);

			if (def == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
						 errmsg("column \"%s\" of \"%s\" has no column of that name in \"%s\" and no default",
								name, RelationGetRelationName(target),
								RelationGetRelationName(source)),
						 errhint("Add the column to the foreign table (its option field names the MongoDB field), or give it a default.")));
			/*
			 * identity and serial columns draw from their sequences; the
			 * cast is spelled out, as deparsing leaves implicit ones out
			 * (current_user is of type name, not of a text column's type)
			 */
			expr = psprintf("CAST(%s AS %s)",
							deparse_expression(def, NIL, false, false),
							format_type_with_typemod(tattr->atttypid,
													 tattr->atttypmod));
		}
		load->expressions = lappend(load->expressions, expr);
		load->columns = lappend(load->columns,
								pstrdup(quote_identifier(name)));
	}
	if (load->expressions == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
				 errmsg("\"%s\" has no column to load",
						RelationGetRelationName(target))));

	/* fields the target has no column for are not loaded: say so */
	initStringInfo(&unused);
	for (s = 0; s < sdesc->natts; s++)
	{
		if (!TupleDescAttr(sdesc, s)->attisdropped && !used[s])
			appendStringInfo(&unused, "%s%s", unused.len > 0 ? ", " : "",
							 quote_identifier(NameStr(TupleDescAttr(sdesc, s)->attname)));
	}
	if (unused.len > 0)
		ereport(NOTICE,
				(errmsg("columns of \"%s\" not loaded, as \"%s\" has no column of their names: %s",
						RelationGetRelationName(source),
						RelationGetRelationName(target), unused.data)));

}

/*
 * is_citus_table
 *		Whether rel is in Citus's metadata (pg_dist_partition): a
 *		distributed or reference table, or a local table Citus manages.
 *		On a Citus node such a relation is a shell: its rows are in shards,
 *		which Citus's planner routes statements to, and whatever is written
 *		into the shell itself no query reads (issue 28).  Read as a catalog
 *		by its first column, logicalrelid, without Citus's functions, so
 *		that a node without Citus costs one name lookup.
 */
static bool
is_citus_table(Relation rel)
{
	Oid			catalog = get_relname_relid("pg_dist_partition",
											PG_CATALOG_NAMESPACE);
	Relation	dist;
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	if (!OidIsValid(catalog))
		return false;
	dist = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	scan = systable_beginscan(dist, InvalidOid, false, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(dist, AccessShareLock);
	return found;
}

/*
 * choose_method
 *		Multi-insert for a plain table whose rows need nothing before they
 *		are stored; INSERT ... SELECT for the rest: partitioned tables and
 *		partitions (routing, partition constraints), BEFORE and INSTEAD OF
 *		row triggers (they may change or drop a row), AFTER triggers with
 *		transition tables, row-level security; and Citus's tables, whose
 *		rows the INSERT's plan sends to their shards.  (Their ranges could
 *		instead be read by the worker nodes, each writing its own shards:
 *		not done, see README, "Citus".)
 */
static LoadMethod
choose_method(Relation target)
{
	TriggerDesc *trigdesc = target->trigdesc;

	if (is_citus_table(target))
		return LOAD_CITUS;
	if (target->rd_rel->relkind != RELKIND_RELATION ||
		target->rd_rel->relispartition ||
		(trigdesc != NULL &&
		 (trigdesc->trig_insert_before_row ||
		  trigdesc->trig_insert_instead_row ||
		  trigdesc->trig_insert_new_table)) ||
		check_enable_rls(RelationGetRelid(target), InvalidOid, true) ==
		RLS_ENABLED)
		return LOAD_INSERT_SELECT;
	return LOAD_MULTI_INSERT;
}

/*
 * resume_point
 *		The largest _id in the target, as text, or NULL for an empty one:
 *		loading resumes after it.  Text _ids compare by their bytes, as
 *		MongoDB orders strings and as ObjectIds' hex digits sort.
 */
static char *
resume_point(LoadState *load)
{
	char	   *query;
	char	   *result = NULL;

	if (get_attnum(load->target, "_id") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
				 errmsg("\"%s\" has no column \"_id\" to resume from",
						get_rel_name(load->target))));

	query = psprintf("SELECT max(_id%s)::text FROM %s",
					 TypeCategory(load->id_type) == TYPCATEGORY_STRING
					 ? " COLLATE \"C\"" : "",
					 qualified_name(load->target));
	if (SPI_execute(query, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the largest _id of the target");
	if (SPI_processed == 1)
		result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (result != NULL)
		ereport(NOTICE,
				(errmsg("resuming after _id %s", result)));
	return result;
}

/*
 * find_source_file
 *		Whether the source reads a mongodump file, and which: its chunks
 *		then are byte ranges of the file, read in the file's order, with
 *		no sort and no rereading of what earlier chunks loaded.
 */
static void
find_source_file(LoadState *load, Relation source)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(source));
	MongoTableOptions options;
	struct stat st;

	mongo_get_table_options(table, GetForeignServer(table->serverid),
							&options);
	if (options.dump_file == NULL)
		return;
	if (stat(options.dump_file, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", options.dump_file)));
	load->file = options.dump_file;
	load->file_size = (int64) st.st_size;
	load->file_modified = time_t_to_timestamptz(st.st_mtime);
}

/*
 * file_resume_point
 *		Where a resumed load from a file starts: the byte offset recorded
 *		by the last committed chunk of an interrupted load, if the file is
 *		unchanged since; the start of the file if nothing is recorded and
 *		the target is empty (a load that failed in its only transaction).
 *		A target that holds rows with nothing recorded is resumed after its
 *		largest _id, as from a server: returns false for that.
 */
static bool
file_resume_point(LoadState *load)
{
	Oid			argtypes[2] = {REGCLASSOID, REGCLASSOID};
	Datum		values[2];
	bool		isnull;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	char	   *file;

	if (load->file == NULL)
		return false;
	have_load_state(true);
	values[0] = ObjectIdGetDatum(load->source);
	values[1] = ObjectIdGetDatum(load->target);
	if (SPI_execute_with_args("SELECT file, file_size, file_modified, "
							  "next_offset, documents, rows_loaded "
							  "FROM mongo_etl.load_state "
							  "WHERE source = $1 AND target = $2",
							  2, argtypes, values, NULL, true, 1) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read mongo_etl.load_state");

	if (SPI_processed == 0)
	{
		if (SPI_execute(psprintf("SELECT 1 FROM %s LIMIT 1",
								 qualified_name(load->target)),
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read \"%s\"", get_rel_name(load->target));
		if (SPI_processed == 0)
		{
			ereport(NOTICE,
					(errmsg("no interrupted load of \"%s\" into \"%s\" is recorded, and the target is empty: loading from the start of the file",
							get_rel_name(load->source),
							get_rel_name(load->target)),
					 errdetail("The file is \"%s\".", load->file)));
			return true;
		}
		if (load->source_id == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
					 errmsg("no interrupted load of \"%s\" into \"%s\" is recorded, and the target is not empty",
							get_rel_name(load->source),
							get_rel_name(load->target)),
					 errdetail("Resuming after the rows a target holds needs an _id column in both tables."),
					 errhint("Load again with truncate => true.")));
		ereport(NOTICE,
				(errmsg("no interrupted load of \"%s\" into \"%s\" is recorded: resuming after the largest _id of the target, reading the file in _id order",
						get_rel_name(load->source),
						get_rel_name(load->target)),
				 errdetail("The file is \"%s\".", load->file)));
		load->file = NULL;
		return false;
	}

	tupdesc = SPI_tuptable->tupdesc;
	tuple = SPI_tuptable->vals[0];
	file = SPI_getvalue(tuple, tupdesc, 1);
	if (strcmp(file, load->file) != 0 ||
		DatumGetInt64(SPI_getbinval(tuple, tupdesc, 2, &isnull)) !=
		load->file_size ||
		DatumGetTimestampTz(SPI_getbinval(tuple, tupdesc, 3, &isnull)) !=
		load->file_modified)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot resume the load of \"%s\" into \"%s\": the file changed since it was interrupted",
						get_rel_name(load->source),
						get_rel_name(load->target)),
				 errdetail("The load read file \"%s\" of %s bytes, modified at %s; the table now reads file \"%s\" of " INT64_FORMAT " bytes, modified at %s.",
						   file, SPI_getvalue(tuple, tupdesc, 2),
						   SPI_getvalue(tuple, tupdesc, 3), load->file,
						   load->file_size,
						   timestamptz_to_str(load->file_modified)),
				 errhint("Load again with truncate => true.")));
	load->window.start_offset =
		DatumGetInt64(SPI_getbinval(tuple, tupdesc, 4, &isnull));
	load->documents = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 5, &isnull));
	ereport(NOTICE,
			(errmsg("resuming at byte offset " UINT64_FORMAT " of the file, after " UINT64_FORMAT " documents and %s rows loaded",
					load->window.start_offset, load->documents,
					SPI_getvalue(tuple, tupdesc, 6)),
			 errdetail("The file is \"%s\".", load->file)));
	return true;
}

/*
 * record_file_position
 *		After a chunk of a file: where the next one starts, recorded in the
 *		chunk's own transaction, so that it commits with the chunk's rows;
 *		at the end of the file the record goes, as nothing is left to load.
 */
static void
record_file_position(LoadState *load)
{
	Oid			argtypes[8] = {REGCLASSOID, REGCLASSOID, TEXTOID, INT8OID,
	TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID};
	Datum		values[8];

	load->documents += load->window.documents;
	load->window.start_offset = load->window.end_offset;
	if (load->window.reached_end)
	{
		forget_file_position(load);
		return;
	}

	have_load_state(true);
	values[0] = ObjectIdGetDatum(load->source);
	values[1] = ObjectIdGetDatum(load->target);
	values[2] = CStringGetTextDatum(load->file);
	values[3] = Int64GetDatum(load->file_size);
	values[4] = TimestampTzGetDatum(load->file_modified);
	values[5] = Int64GetDatum((int64) load->window.end_offset);
	values[6] = Int64GetDatum((int64) load->documents);
	values[7] = Int64GetDatum((int64) load->rows);
	if (SPI_execute_with_args("INSERT INTO mongo_etl.load_state AS s "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) "
							  "ON CONFLICT (source, target) DO UPDATE SET "
							  "file = $3, file_size = $4, file_modified = $5, "
							  "next_offset = $6, documents = $7, "
							  "rows_loaded = $8, updated = now()",
							  8, argtypes, values, NULL, false, 0) !=
		SPI_OK_INSERT)
		elog(ERROR, "could not record the load's position in mongo_etl.load_state");
}

/*
 * forget_file_position
 *		Drop what an interrupted load from a file recorded, when a load
 *		starts over or has read the whole file.
 */
static void
forget_file_position(LoadState *load)
{
	Oid			argtypes[2] = {REGCLASSOID, REGCLASSOID};
	Datum		values[2];

	if (!have_load_state(false))
		return;
	values[0] = ObjectIdGetDatum(load->source);
	values[1] = ObjectIdGetDatum(load->target);
	if (SPI_execute_with_args("DELETE FROM mongo_etl.load_state "
							  "WHERE source = $1 AND target = $2",
							  2, argtypes, values, NULL, false, 0) !=
		SPI_OK_DELETE)
		elog(ERROR, "could not update mongo_etl.load_state");
}

/*
 * have_state_table
 *		Whether mongo_etl.<name> exists: a database whose extension was not
 *		updated after the library was lacks the tables of later versions.
 *		Loads that need it are refused with a hint (why: what it records);
 *		the others go on without it.
 */
static bool
have_state_table(const char *name, const char *why, bool required)
{
	if (OidIsValid(RangeVarGetRelid(makeRangeVar("mongo_etl", (char *) name, -1),
									NoLock, true)))
		return true;
	if (required)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table mongo_etl.%s does not exist", name),
				 errdetail("%s", why),
				 errhint("Run ALTER EXTENSION mongo_etl UPDATE.")));
	return false;
}

/* mongo_etl.load_state (version 1.1), of loads from files in batches */
static bool
have_load_state(bool required)
{
	return have_state_table("load_state",
							"Loading a mongodump file in batches, or resuming such a load, records its position there.",
							required);
}

/* mongo_etl.load_ranges (version 1.2), of parallel loads */
static bool
have_load_ranges(bool required)
{
	return have_state_table("load_ranges",
							"A parallel load records its ranges there.",
							required);
}

/*
 * remembers_last_id
 *		Whether a chunk's last _id is needed: only batches read on from it.
 */
static bool
remembers_last_id(const LoadState *load)
{
	return load->source_id != 0 && load->batch_rows > 0 && load->file == NULL;
}

/*
 * chunk_query
 *		The query of one chunk: every row, or with batch_rows the next
 *		batch_rows rows in _id order after the last loaded.  With batches,
 *		the _id goes last in the select list, for the receiver to remember.  Ordering
 *		and comparing text _ids under the C collation lets both go to
 *		MongoDB.
 */
static char *
chunk_query(LoadState *load, bool with_insert)
{
	StringInfoData query;
	StringInfoData source;
	const char *collate = OidIsValid(load->id_type) &&
		TypeCategory(load->id_type) == TYPCATEGORY_STRING
		? " COLLATE \"C\"" : "";
	bool		ordered = load->file == NULL &&
		(load->batch_rows > 0 || load->last_id != NULL);

	/* the rows of the chunk, read from the source */
	initStringInfo(&source);
	if (with_insert && ordered)
	{
		ListCell   *lc;

		appendStringInfoString(&source, "SELECT ");
		foreach(lc, load->expressions)
			appendStringInfo(&source, "%s AS c%d, ", (char *) lfirst(lc),
							 foreach_current_index(lc) + 1);
		appendStringInfoString(&source, "s._id AS last_id");
	}
	else
	{
		appendStringInfo(&source, "SELECT %s", joined(load->expressions));
		if (!with_insert && remembers_last_id(load))
			appendStringInfoString(&source, ", s._id");
	}
	appendStringInfo(&source, " FROM %s s", qualified_name(load->source));
	if (load->last_id != NULL)
		appendStringInfo(&source, " WHERE s._id%s > CAST($1 AS %s)", collate,
						 format_type_be(load->id_type));
	if (ordered)
		appendStringInfo(&source, " ORDER BY s._id%s", collate);
	if (ordered && load->batch_rows > 0)
		appendStringInfo(&source, " LIMIT %lld", (long long) load->batch_rows);
	if (!with_insert)
		return source.data;

	initStringInfo(&query);
	if (!ordered)
	{
		appendStringInfo(&query, "INSERT INTO %s (%s) %s",
						 qualified_name(load->target), joined(load->columns),
						 source.data);
		return query.data;
	}

	/* in chunks: the largest _id of the chunk is where the next starts */
	appendStringInfo(&query,
					 "WITH batch AS MATERIALIZED (%s), "
					 "inserted AS (INSERT INTO %s (%s) SELECT ",
					 source.data, qualified_name(load->target),
					 joined(load->columns));
	for (int i = 1; i <= list_length(load->expressions); i++)
		appendStringInfo(&query, "%sc%d", i > 1 ? ", " : "", i);
	appendStringInfo(&query,
					 " FROM batch RETURNING 1) "
					 "SELECT (SELECT max(last_id%s)::text FROM batch), "
					 "(SELECT count(*) FROM inserted)", collate);
	return query.data;
}

/*
 * load_chunk
 *		Run one chunk's query, writing its rows; returns their number.
 */
static uint64
load_chunk(LoadState *load)
{
	char	   *query = chunk_query(load, load->method != LOAD_MULTI_INSERT);
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	SPIPlanPtr	plan;
	SPIExecuteOptions options;
	volatile uint64 rows;

	values[0] = load->last_id != NULL ? CStringGetTextDatum(load->last_id)
		: (Datum) 0;
	plan = SPI_prepare(query, load->last_id != NULL ? 1 : 0, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", query,
			 SPI_result_code_string(SPI_result));

	memset(&options, 0, sizeof(options));
	if (load->last_id != NULL)
		options.params = makeParamList(1);
	if (options.params != NULL)
	{
		options.params->params[0].value = values[0];
		options.params->params[0].isnull = false;
		options.params->params[0].pflags = PARAM_FLAG_CONST;
		options.params->params[0].ptype = TEXTOID;
	}

	/* a chunk of a file reads on from where the last one ended */
	if (load->file != NULL || load->window.id_filter != NULL)
	{
		load->window.max_documents = (uint64) load->batch_rows;
		load->window.documents = 0;
		load->window.end_offset = load->window.start_offset;
		load->window.reached_end = false;
		mongo_source_offer_range(load->source, &load->window);
	}
	PG_TRY();
	{
		rows = execute_chunk(load, plan, &options);
	}
	PG_FINALLY();
	{
		mongo_source_offer_range(InvalidOid, NULL);
	}
	PG_END_TRY();
	if (load->file != NULL && !load->window.claimed)
		elog(ERROR, "the load's query did not read file \"%s\"", load->file);
	if (load->window.id_filter != NULL && !load->window.claimed)
		elog(ERROR, "the load's query did not read its _id range");
	if (load_rows_counter != NULL && load->method != LOAD_MULTI_INSERT)
		pg_atomic_fetch_add_u64(load_rows_counter, rows);
	SPI_freeplan(plan);

	load->rows += rows;
	pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED, load->rows);
	report_progress(load, false);
	return rows;
}

/*
 * execute_chunk
 *		Run a chunk's prepared query, its rows written by INSERT ... SELECT
 *		or by a load receiver; returns their number.
 */
static uint64
execute_chunk(LoadState *load, SPIPlanPtr plan, SPIExecuteOptions *options)
{
	uint64		rows;

	if (load->method != LOAD_MULTI_INSERT)
	{
		int			ret = SPI_execute_plan_extended(plan, options);

		if (ret == SPI_OK_INSERT)
			rows = SPI_processed;
		else if (ret == SPI_OK_SELECT && SPI_processed == 1)
		{
			/* a chunk: the largest _id read, and the rows inserted */
			char	   *largest = SPI_getvalue(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1);
			bool		isnull;

			rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 2,
											   &isnull));
			if (largest != NULL)
				load->last_id = MemoryContextStrdup(GetMemoryChunkContext(load),
													largest);
		}
		else
			elog(ERROR, "could not load: %s", SPI_result_code_string(ret));
	}
	else
	{
		Relation	rel = table_open(load->target, RowExclusiveLock);
		LoadReceiver *receiver;

		receiver = (LoadReceiver *)
			create_load_receiver(load, rel, remembers_last_id(load));
		options->dest = (DestReceiver *) receiver;
		/* (a SELECT into a DestNone receiver reports SPI_OK_UTILITY) */
		if (SPI_execute_plan_extended(plan, options) < 0)
			elog(ERROR, "could not read \"%s\"", get_rel_name(load->source));
		rows = receiver->rows;
		if (receiver->have_last_id)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(GetMemoryChunkContext(load));

			load->last_id = OidOutputFunctionCall(get_type_output_function(receiver->id_type),
												  receiver->last_id);
			MemoryContextSwitchTo(oldcxt);
		}
		load_destroy((DestReceiver *) receiver);
		table_close(rel, NoLock);
	}
	return rows;
}

/*
 * get_type_output_function
 *		The output function of a type.
 */
static Oid
get_type_output_function(Oid type)
{
	Oid			output;
	bool		varlena;

	getTypeOutputInfo(type, &output, &varlena);
	return output;
}

/*
 * create_load_receiver
 *		A DestReceiver writing rows, whose columns are the target's
 *		(without dropped and generated ones) in order, into rel; with_id:
 *		the column after those is the _id, and the last row's is remembered
 *		as the last _id loaded.
 */
static DestReceiver *
create_load_receiver(LoadState *load, Relation rel, bool with_id)
{
	/* a context of its own, which load_destroy frees: one per chunk */
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "mongo_etl load receiver",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	LoadReceiver *receiver = palloc0(sizeof(LoadReceiver));
	TupleDesc	tupdesc = RelationGetDescr(rel);
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	int			column = 0;
	int			i;

	receiver->cxt = cxt;

	receiver->pub.receiveSlot = load_receive;
	receiver->pub.rStartup = load_startup;
	receiver->pub.rShutdown = load_shutdown;
	receiver->pub.rDestroy = load_destroy;
	receiver->pub.mydest = DestNone;
	receiver->rel = rel;
	receiver->natts = tupdesc->natts;
	receiver->source_column = palloc(sizeof(int) * tupdesc->natts);
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

		receiver->source_column[i] =
			attr->attisdropped || attr->attgenerated ? -1 : column++;
	}
	receiver->same_order = column == tupdesc->natts;
	receiver->id_column = with_id ? column : -1;
	receiver->load = load;
	receiver->id_type = load->id_type;
	if (with_id)
		get_typlenbyval(load->id_type, &receiver->id_typlen,
						&receiver->id_typbyval);
	receiver->id_cxt = AllocSetContextCreate(CurrentMemoryContext,
											 "mongo_etl load _id",
											 ALLOCSET_SMALL_SIZES);

	/* an executor state for the target, as COPY FROM sets one up */
	receiver->estate = CreateExecutorState();
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	mongo_init_range_table(receiver->estate, rte);
	receiver->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(receiver->rri, rel, 1, NULL, 0);
	ExecOpenIndices(receiver->rri, false);
	receiver->estate->es_result_relations = palloc0(sizeof(ResultRelInfo *));
	receiver->estate->es_result_relations[0] = receiver->rri;
	receiver->estate->es_output_cid = GetCurrentCommandId(true);
	receiver->cid = receiver->estate->es_output_cid;
	receiver->bistate = GetBulkInsertState();
	receiver->attributes = plan_row_form(rel);
	if (receiver->attributes != NULL)
	{
		if (!receiver->same_order)
		{
			receiver->values = palloc(sizeof(Datum) * tupdesc->natts);
			receiver->isnull = palloc(sizeof(bool) * tupdesc->natts);
		}

		/*
		 * form_row's slots hold heap tuples: a descriptor of their own, not
		 * reference-counted, since a thousand slots pinning the relation's
		 * would make the resource owner search a long list for each one
		 * dropped
		 */
		receiver->slot_desc = CreateTupleDescCopy(tupdesc);
	}

	/* AFTER ROW triggers (foreign key checks) fire at the chunk's end */
	AfterTriggerBeginQuery();
	MemoryContextSwitchTo(oldcxt);
	return (DestReceiver *) receiver;
}

/*
 * load_startup
 *		Nothing to prepare: create_load_receiver did it.
 */
static void
load_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

/*
 * load_receive
 *		Buffer one row as a tuple of the target's own (the scan reuses its
 *		memory for the next row): formed by form_row, or materialized from
 *		a slot of the target's type after its generated columns are
 *		computed; its constraints checked, as COPY FROM does before
 *		buffering.
 */
static bool
load_receive(TupleTableSlot *slot, DestReceiver *self)
{
	LoadReceiver *receiver = (LoadReceiver *) self;
	TupleTableSlot *target = receiver->slots[receiver->nbuffered];
	ResultRelInfo *rri = receiver->rri;
	HeapTuple	tuple;
	Size		tuple_len;

	/*
	 * The slots are made as they are first needed, as COPY FROM does, in
	 * the receiver's memory: the query's ends before load_destroy
	 */
	if (target == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(receiver->cxt);

		target = receiver->slots[receiver->nbuffered] =
			receiver->attributes != NULL
			? MakeSingleTupleTableSlot(receiver->slot_desc, &TTSOpsHeapTuple)
			: table_slot_create(receiver->rel, NULL);
		MemoryContextSwitchTo(oldcxt);
	}

	slot_getallattrs(slot);
	ExecClearTuple(target);
	if (receiver->attributes != NULL)
	{
		tuple = form_row(receiver, slot, target->tts_mcxt);
		ExecStoreHeapTuple(tuple, target, true);
		/* CHECK constraints may read tableoid, as INSERT sets it */
		target->tts_tableOid = RelationGetRelid(receiver->rel);
		tuple_len = tuple->t_len;
	}
	else
	{
		bool		copied;

		target_order(receiver, slot, target->tts_values, target->tts_isnull);
		ExecStoreVirtualTuple(target);
		/* generated columns and CHECK constraints may read tableoid */
		target->tts_tableOid = RelationGetRelid(receiver->rel);
		if (rri->ri_RelationDesc->rd_att->constr != NULL &&
			rri->ri_RelationDesc->rd_att->constr->has_generated_stored)
			ExecComputeStoredGenerated(rri, receiver->estate, target,
									   CMD_INSERT);
		/* (a slot that holds no heap tuple gives a copy, measured once) */
		tuple = ExecFetchSlotHeapTuple(target, true, &copied);
		tuple_len = tuple->t_len;
		if (copied)
			heap_freetuple(tuple);
	}
	if (rri->ri_RelationDesc->rd_att->constr != NULL)
		ExecConstraints(rri, target, receiver->estate);
	receiver->buffered_bytes += tuple_len;
	if (receiver->id_column >= 0 && !slot->tts_isnull[receiver->id_column])
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(receiver->id_cxt);

		MemoryContextReset(receiver->id_cxt);
		receiver->last_id = datumCopy(slot->tts_values[receiver->id_column],
									  receiver->id_typbyval,
									  receiver->id_typlen);
		receiver->have_last_id = true;
		MemoryContextSwitchTo(oldcxt);
	}

	receiver->rows++;
	if (++receiver->nbuffered == LOAD_BATCH_ROWS ||
		receiver->buffered_bytes >= LOAD_BATCH_BYTES)
		flush_batch(receiver);
	if (receiver->load->progress_rows > 0 &&
		receiver->load->rows + receiver->rows >= receiver->load->next_progress)
	{
		receiver->load->rows += receiver->rows;
		report_progress(receiver->load, false);
		receiver->load->rows -= receiver->rows;
	}
	return true;
}

/*
 * target_order
 *		The values of the query's row in slot as the target's attributes
 *		hold them, into values and isnull: NULL for a dropped or generated
 *		attribute, which the query has no column for.
 */
static void
target_order(LoadReceiver *receiver, TupleTableSlot *slot, Datum *values,
			 bool *isnull)
{
	for (int i = 0; i < receiver->natts; i++)
	{
		int			column = receiver->source_column[i];

		isnull[i] = column < 0 || slot->tts_isnull[column];
		values[i] = isnull[i] ? (Datum) 0 : slot->tts_values[column];
	}
}

/*
 * plan_row_form
 *		How form_row lays out each attribute of rel, or NULL when rel is
 *		not a heap (another access method may want slots of its own) or
 *		has stored generated columns (computed in a virtual slot): then
 *		the rows are materialized by heap_form_tuple, as COPY FROM does.
 */
static LoadAttribute *
plan_row_form(Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	LoadAttribute *attributes;

	if (rel->rd_tableam != GetHeapamTableAmRoutine() ||
		(tupdesc->constr != NULL && tupdesc->constr->has_generated_stored))
		return NULL;
	attributes = palloc0(sizeof(LoadAttribute) * tupdesc->natts);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);
		LoadAttribute *a = &attributes[i];

		if (attr->attisdropped)
			continue;
		/* (a table's column is never a cstring, of length -2) */
		Assert(attr->attlen > 0 || attr->attlen == -1);
		a->attlen = attr->attlen;
		a->byval = attr->attbyval;
		a->packable = attr->attlen == -1 &&
			attr->attstorage != TYPSTORAGE_PLAIN;
		switch (attr->attalign)
		{
			case TYPALIGN_DOUBLE:
				a->alignby = ALIGNOF_DOUBLE;
				break;
			case TYPALIGN_INT:
				a->alignby = ALIGNOF_INT;
				break;
			case TYPALIGN_SHORT:
				a->alignby = ALIGNOF_SHORT;
				break;
			default:
				a->alignby = 1;
				break;
		}
	}
	return attributes;
}

/*
 * form_row
 *		The heap tuple of the target row whose values are in slot, mapped
 *		by source_column, allocated in cxt: what heap_form_tuple makes,
 *		made by a loop that knows each attribute's layout beforehand.  A
 *		row with a TOAST pointer or an expanded object (which a default
 *		expression of the load's query can give) is left to
 *		heap_form_tuple, which flattens them.
 */
static HeapTuple
form_row(LoadReceiver *receiver, TupleTableSlot *slot, MemoryContext cxt)
{
	TupleDesc	tupdesc = RelationGetDescr(receiver->rel);
	const LoadAttribute *attributes = receiver->attributes;
	Datum	   *values = slot->tts_values;
	bool	   *isnull = slot->tts_isnull;
	int			natts = receiver->natts;
	Size		data_len = 0;
	bool		hasnull = false;
	bool		external = false;
	HeapTuple	tuple;
	HeapTupleHeader td;
	int			hoff;
	char	   *data;
	bits8	   *bits;
	uint16		infomask;

	/* the values in target order, unless the query gives them so */
	if (!receiver->same_order)
	{
		values = receiver->values;
		isnull = receiver->isnull;
		target_order(receiver, slot, values, isnull);
	}

	for (int i = 0; i < natts; i++)
	{
		const LoadAttribute *a = &attributes[i];
		Pointer		p;

		if (isnull[i])
		{
			hasnull = true;
			continue;
		}
		if (a->attlen > 0)
		{
			data_len = TYPEALIGN(a->alignby, data_len) + a->attlen;
			continue;
		}
		p = DatumGetPointer(values[i]);
		if (VARATT_IS_EXTERNAL(p))
			external = true;
		else if (VARATT_IS_SHORT(p))
			data_len += VARSIZE_SHORT(p);
		else if (a->packable && VARATT_CAN_MAKE_SHORT(p))
			data_len += VARATT_CONVERTED_SHORT_SIZE(p);
		else
			data_len = TYPEALIGN(a->alignby, data_len) + VARSIZE(p);
	}
	if (external)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

		tuple = heap_form_tuple(tupdesc, values, isnull);
		MemoryContextSwitchTo(oldcxt);
		return tuple;
	}

	hoff = MAXALIGN(offsetof(HeapTupleHeaderData, t_bits) +
					(hasnull ? BITMAPLEN(natts) : 0));
	tuple = MemoryContextAllocZero(cxt, HEAPTUPLESIZE + hoff + data_len);
	tuple->t_data = td = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	tuple->t_len = hoff + data_len;
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = InvalidOid;
	HeapTupleHeaderSetDatumLength(td, hoff + data_len);
	HeapTupleHeaderSetTypeId(td, tupdesc->tdtypeid);
	HeapTupleHeaderSetTypMod(td, tupdesc->tdtypmod);
	HeapTupleHeaderSetNatts(td, natts);
	ItemPointerSetInvalid(&td->t_ctid);
	td->t_hoff = hoff;

	data = (char *) td + hoff;
	bits = hasnull ? td->t_bits : NULL;
	infomask = hasnull ? HEAP_HASNULL : 0;
	for (int i = 0; i < natts; i++)
	{
		const LoadAttribute *a = &attributes[i];
		Pointer		p;
		Size		size;

		if (isnull[i])
			continue;
		if (bits != NULL)
			bits[i >> 3] |= 1 << (i & 7);
		if (a->byval)
		{
			data = (char *) TYPEALIGN(a->alignby, data);
			store_att_byval(data, values[i], a->attlen);
			data += a->attlen;
			continue;
		}
		p = DatumGetPointer(values[i]);
		if (a->attlen > 0)
		{
			data = (char *) TYPEALIGN(a->alignby, data);
			memcpy(data, p, a->attlen);
			data += a->attlen;
			continue;
		}
		infomask |= HEAP_HASVARWIDTH;
		if (VARATT_IS_SHORT(p))
		{
			size = VARSIZE_SHORT(p);
			memcpy(data, p, size);
		}
		else if (a->packable && VARATT_CAN_MAKE_SHORT(p))
		{
			size = VARATT_CONVERTED_SHORT_SIZE(p);
			SET_VARSIZE_SHORT(data, size);
			memcpy(data + 1, VARDATA(p), size - 1);
		}
		else
		{
			data = (char *) TYPEALIGN(a->alignby, data);
			size = VARSIZE(p);
			memcpy(data, p, size);
		}
		data += size;
	}
	td->t_infomask = infomask;
	Assert(data == (char *) td + hoff + data_len);
	return tuple;
}

/*
 * flush_batch
 *		Write the buffered rows with one multi-insert, then their index
 *		entries and AFTER ROW trigger events, as COPY FROM does.
 */
static void
flush_batch(LoadReceiver *receiver)
{
	ResultRelInfo *rri = receiver->rri;
	TriggerDesc *trigdesc = rri->ri_TrigDesc;
	MemoryContext oldcxt;
	int			i;

	if (receiver->nbuffered == 0)
		return;
	/* what the multi-insert allocates goes with the batch, as in COPY FROM */
	oldcxt = MemoryContextSwitchTo(GetPerTupleMemoryContext(receiver->estate));
	table_multi_insert(receiver->rel, receiver->slots, receiver->nbuffered,
					   receiver->cid, 0, receiver->bistate);
	MemoryContextSwitchTo(oldcxt);
	for (i = 0; i < receiver->nbuffered; i++)
	{
		List	   *recheck = NIL;

		if (rri->ri_NumIndices > 0)
			recheck = mongo_insert_index_tuples(rri, receiver->slots[i],
												receiver->estate);
		if (trigdesc != NULL && trigdesc->trig_insert_after_row)
			ExecARInsertTriggers(receiver->estate, rri, receiver->slots[i],
								 recheck, NULL);
		list_free(recheck);
		ExecClearTuple(receiver->slots[i]);
	}
	ResetPerTupleExprContext(receiver->estate);
	if (load_rows_counter != NULL)
		pg_atomic_fetch_add_u64(load_rows_counter, receiver->nbuffered);
	pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED,
								 receiver->load->rows + receiver->rows);
	receiver->nbuffered = 0;
	receiver->buffered_bytes = 0;
}

/*
 * load_shutdown
 *		The query ended: write what is buffered.
 */
static void
load_shutdown(DestReceiver *self)
{
	flush_batch((LoadReceiver *) self);
}

/*
 * load_destroy
 *		Fire the chunk's AFTER triggers and release the executor state and
 *		the receiver's memory: a load in many chunks keeps none of it.
 */
static void
load_destroy(DestReceiver *self)
{
	LoadReceiver *receiver = (LoadReceiver *) self;
	int			i;

	AfterTriggerEndQuery(receiver->estate);
	/* the triggers' slots */
	ExecResetTupleTable(receiver->estate->es_tupleTable, false);
	for (i = 0; i < LOAD_BATCH_ROWS && receiver->slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(receiver->slots[i]);
	FreeBulkInsertState(receiver->bistate);
	table_finish_bulk_insert(receiver->rel, 0);
	ExecCloseIndices(receiver->rri);
	ExecCloseResultRelations(receiver->estate);
	FreeExecutorState(receiver->estate);
	/* the receiver itself, its slots and last _id */
	MemoryContextDelete(receiver->cxt);
}

/*
 * report_progress
 *		A NOTICE every progress_rows rows, and the summary at the end: rows,
 *		seconds, rows per second.
 */
static void
report_progress(LoadState *load, bool final)
{
	long		secs;
	int			usecs;
	double		seconds;

	if (!final && (load->progress_rows == 0 || load->rows < load->next_progress))
		return;
	TimestampDifference(load->started, GetCurrentTimestamp(), &secs, &usecs);
	seconds = secs + usecs / 1000000.0;
	if (final)
		ereport(NOTICE,
				(errmsg("loaded " UINT64_FORMAT " rows into \"%s\"",
						load->rows, get_rel_name(load->target)),
				 load->workers_used > 0 ?
				 errdetail("%.3f s, %.0f rows/s, by %s in %d workers.", seconds,
						   seconds > 0 ? load->rows / seconds : 0.0,
						   load_method_names[load->method],
						   load->workers_used) :
				 errdetail("%.3f s, %.0f rows/s, by %s.", seconds,
						   seconds > 0 ? load->rows / seconds : 0.0,
						   load_method_names[load->method])));
	else
	{
		ereport(NOTICE,
				(errmsg("loaded " UINT64_FORMAT " rows so far", load->rows),
				 errdetail("%.3f s, %.0f rows/s.", seconds,
						   seconds > 0 ? load->rows / seconds : 0.0)));
		while (load->next_progress <= load->rows)
			load->next_progress += load->progress_rows;
	}
}

/*
 * qualified_name
 *		A relation's schema-qualified, quoted name, for the queries built.
 */
static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * mongo_etl_load_columns
 *		mongo_etl.load_columns(source, target): how mongo_etl.load fills the
 *		target from the source, for mongo_etl.sync: the expressions over the
 *		source (aliased s) and the target columns they fill, in the same
 *		order; errors as mongo_etl.load raises them.
 */
Datum
mongo_etl_load_columns(PG_FUNCTION_ARGS)
{
	LoadState	load;
	Relation	source = table_open(PG_GETARG_OID(0), AccessShareLock);
	Relation	target = table_open(PG_GETARG_OID(1), AccessShareLock);
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	Datum	   *items;
	ListCell   *lc;
	int			i;

	memset(&load, 0, sizeof(load));
	check_relations(source, target);
	map_columns(&load, source, target);
	table_close(source, AccessShareLock);
	table_close(target, AccessShareLock);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "mongo_etl.load_columns must return a composite type");
	items = palloc(sizeof(Datum) * list_length(load.columns));
	i = 0;
	foreach(lc, load.expressions)
		items[i++] = CStringGetTextDatum((char *) lfirst(lc));
	values[0] = PointerGetDatum(construct_array(items, i, TEXTOID, -1, false,
												TYPALIGN_INT));
	i = 0;
	foreach(lc, load.columns)
		items[i++] = CStringGetTextDatum((char *) lfirst(lc));
	values[1] = PointerGetDatum(construct_array(items, i, TEXTOID, -1, false,
												TYPALIGN_INT));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/*
 * joined
 *		A list of strings joined with commas, for a select or column list.
 */
static char *
joined(List *strings)
{
	StringInfoData result;
	ListCell   *lc;

	initStringInfo(&result);
	foreach(lc, strings)
		appendStringInfo(&result, "%s%s", result.len > 0 ? ", " : "",
						 (char *) lfirst(lc));
	return result.data;
}
