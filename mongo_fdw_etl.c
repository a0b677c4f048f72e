/*-------------------------------------------------------------------------
 *
 * mongo_fdw_etl.c
 *		  The mongo_etl foreign-data wrapper: handler and the planner and
 *		  executor callbacks of a foreign scan over a MongoDB collection.
 *
 * A scan runs one find command with a projection of the fields the query
 * uses, and converts each returned document straight into the scan tuple
 * (bson_convert.c).  The cursor is opened at the first row, not at Begin, so
 * EXPLAIN without ANALYZE never contacts the server.
 *
 * IDENTIFICATION
 *		  mongo_fdw_etl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "nodes/nodeFuncs.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "mongo_etl.h"

PG_MODULE_MAGIC;

/* GUC mongo_etl.pushdown */
bool		mongo_pushdown = true;

/*
 * Row count assumed for a collection: the FDW has no statistics yet, and
 * asking the server for a count at plan time would cost a round trip on
 * every plan.
 */
#define MONGO_DEFAULT_ROWS 1000

/* Cost of starting a scan: connecting, and the find command's round trip */
#define MONGO_STARTUP_COST 100.0

/*
 * Cost per document relative to cpu_tuple_cost: a document is read off the
 * network, walked and converted, several times the work of a heap tuple.
 */
#define MONGO_PER_DOCUMENT_COST_FACTOR 10.0

/* Planner state of a foreign table, kept in RelOptInfo.fdw_private */
typedef struct MongoRelationInfo
{
	Bitmapset  *attrs_used;		/* columns the query reads, including in
								 * local WHERE clauses */
} MongoRelationInfo;

/* Items in ForeignScan.fdw_private */
enum MongoScanPrivateIndex
{
	/* Integer list of the attribute numbers the scan fills */
	MongoScanPrivateRetrievedAttrs,
	/* the find filter, as a bytea Const of its BSON, or a NULL Const */
	MongoScanPrivateFilter
};

/* Executor state of a foreign scan, kept in ForeignScanState.fdw_state */
typedef struct MongoScanState
{
	const char *servername;		/* for error messages */
	MongoTableOptions options;	/* database, collection, batch size */
	MongoConverter *converter;	/* document-to-tuple conversion */
	bson_t	   *filter;			/* find filter, with {"$param": n} where a
								 * run-time value goes */
	bson_t	   *sent_filter;	/* the filter with the values of the last
								 * cursor opened, or NULL */
	List	   *param_exprs;	/* ExprStates of those values */
	Oid		   *param_types;
	ExprContext *econtext;		/* to evaluate them in */
	bson_t	   *find_opts;		/* projection and batch size */

	MongoConnection *conn;		/* cached client; NULL for EXPLAIN only and
								 * for dump files */
	mongoc_collection_t *collection;	/* open while the cursor is */
	mongoc_cursor_t *cursor;	/* NULL until the first row is fetched */
	MongoDumpReader *dump;		/* the same for a dump file */

	uint64		documents;		/* documents read, for EXPLAIN ANALYZE */
	uint64		bytes;			/* their total BSON size */
	uint64		round_trips;	/* commands sent: find, getMore, ... */
	bool		timing;			/* measure the times below (under EXPLAIN
								 * ANALYZE, or auto_explain) */
	instr_time	wait_time;		/* in libmongoc or the dump reader */
	instr_time	convert_time;	/* converting documents to tuples */

	MemoryContext query_cxt;	/* lives as long as the scan */
	MemoryContext row_cxt;		/* per-row data, reset for every document */
	MemoryContextCallback cleanup;	/* frees libmongoc objects on error */
} MongoScanState;

static void mongoGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
								   Oid foreigntableid);
static void mongoGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
								 Oid foreigntableid);
static ForeignScan *mongoGetForeignPlan(PlannerInfo *root,
										RelOptInfo *baserel,
										Oid foreigntableid,
										ForeignPath *best_path,
										List *tlist,
										List *scan_clauses,
										Plan *outer_plan);
static void mongoBeginForeignScan(ForeignScanState *node, int eflags);
static TupleTableSlot *mongoIterateForeignScan(ForeignScanState *node);
static void mongoReScanForeignScan(ForeignScanState *node);
static void mongoEndForeignScan(ForeignScanState *node);
static void mongoExplainForeignScan(ForeignScanState *node,
									ExplainState *es);

static List *retrieved_attrs_list(PlannerInfo *root, RelOptInfo *baserel);
static Oid	scan_user_id(ForeignScanState *node);
static bool next_document(MongoScanState *state, const bson_t **document);
static void open_cursor(MongoScanState *state);
static void close_cursor(MongoScanState *state);
static void release_scan_resources(void *arg);
static void add_time_since(instr_time *total, instr_time start);
static void report_mismatches(MongoConverter *conv);

PG_FUNCTION_INFO_V1(mongo_etl_handler);

void		_PG_init(void);

/*
 * _PG_init
 *		Define the settings of mongo_etl.
 */
void
_PG_init(void)
{
	DefineCustomBoolVariable("mongo_etl.pushdown",
							 "Sends WHERE clauses, sorts, limits and counts to MongoDB where it gives the same result.",
							 "When off, every scan reads whole collections and PostgreSQL does all the work.",
							 &mongo_pushdown,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("mongo_etl");
#else
	EmitWarningsOnPlaceholders("mongo_etl");
#endif
}

/*
 * mongo_etl_handler
 *		The FdwRoutine of mongo_etl: read-only foreign scans.
 */
Datum
mongo_etl_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = mongoGetForeignRelSize;
	routine->GetForeignPaths = mongoGetForeignPaths;
	routine->GetForeignPlan = mongoGetForeignPlan;
	routine->BeginForeignScan = mongoBeginForeignScan;
	routine->IterateForeignScan = mongoIterateForeignScan;
	routine->ReScanForeignScan = mongoReScanForeignScan;
	routine->EndForeignScan = mongoEndForeignScan;
	routine->ExplainForeignScan = mongoExplainForeignScan;

	PG_RETURN_POINTER(routine);
}

/*
 * mongoGetForeignRelSize
 *		Estimate the rows a scan returns, and note which columns the query
 *		reads so the scan fetches only those fields.
 */
static void
mongoGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
					   Oid foreigntableid)
{
	MongoRelationInfo *fpinfo = palloc0(sizeof(MongoRelationInfo));
	ListCell   *lc;

	baserel->fdw_private = fpinfo;

	/* every WHERE clause is evaluated locally, so its columns are needed */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid,
				   &fpinfo->attrs_used);
	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		pull_varattnos((Node *) rinfo->clause, baserel->relid,
					   &fpinfo->attrs_used);
	}

	if (baserel->tuples <= 0)
		baserel->tuples = MONGO_DEFAULT_ROWS;
	baserel->rows = clamp_row_est(baserel->tuples *
								  clauselist_selectivity(root,
														 baserel->baserestrictinfo,
														 0, JOIN_INNER, NULL));
}

/*
 * mongoGetForeignPaths
 *		One path: a scan of the whole collection.
 */
static void
mongoGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
					 Oid foreigntableid)
{
	Cost		startup_cost = MONGO_STARTUP_COST;
	Cost		total_cost;
	QualCost	qual_cost;

	cost_qual_eval(&qual_cost, baserel->baserestrictinfo, root);
	total_cost = startup_cost + qual_cost.startup +
		baserel->tuples * (cpu_tuple_cost * MONGO_PER_DOCUMENT_COST_FACTOR +
						   qual_cost.per_tuple);

	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel,
									 NULL,	/* default pathtarget */
									 baserel->rows,
									 startup_cost,
									 total_cost,
									 NIL,	/* no pathkeys */
									 baserel->lateral_relids,
									 NULL,	/* no extra plan */
#if PG_VERSION_NUM >= 170000
									 NIL,	/* no fdw_restrictinfo */
#endif
									 NIL)); /* no fdw_private */
}

/*
 * mongoGetForeignPlan
 *		A ForeignScan that evaluates every WHERE clause locally and fills
 *		only the columns the query reads.
 */
static ForeignScan *
mongoGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
					Oid foreigntableid, ForeignPath *best_path,
					List *tlist, List *scan_clauses, Plan *outer_plan)
{
	List	   *fdw_private;
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
	bson_t	   *filter;
	List	   *params = NIL;
	bool		exact;

	scan_clauses = extract_actual_clauses(scan_clauses, false);

	/* a filter for MongoDB; every clause is still checked locally */
	filter = mongo_pushdown
		? mongo_build_filter(scan_clauses, baserel->relid, rte->relid,
							 &params, &exact)
		: NULL;
	fdw_private = list_make2(retrieved_attrs_list(root, baserel),
							 mongo_bson_node(filter));
	if (filter != NULL)
		bson_destroy(filter);

	return make_foreignscan(tlist, scan_clauses, baserel->relid,
							params, /* the filter's run-time values */
							fdw_private,
							NIL,	/* no custom tlist */
							NIL,	/* no remote quals */
							outer_plan);
}

/*
 * retrieved_attrs_list
 *		The attribute numbers of the columns a scan must fill: those the
 *		query reads, or all of them for a whole-row reference.  System
 *		columns are not fetched from MongoDB.
 */
static List *
retrieved_attrs_list(PlannerInfo *root, RelOptInfo *baserel)
{
	MongoRelationInfo *fpinfo = (MongoRelationInfo *) baserel->fdw_private;
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
	Relation	rel = table_open(rte->relid, NoLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	bool		whole_row = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber,
										  fpinfo->attrs_used);
	List	   *retrieved = NIL;
	int			i;

	for (i = 1; i <= tupdesc->natts; i++)
	{
		if (TupleDescAttr(tupdesc, i - 1)->attisdropped)
			continue;
		if (whole_row ||
			bms_is_member(i - FirstLowInvalidHeapAttributeNumber,
						  fpinfo->attrs_used))
			retrieved = lappend_int(retrieved, i);
	}
	table_close(rel, NoLock);
	return retrieved;
}

/*
 * mongoBeginForeignScan
 *		Prepare the conversion and the find command.  Under EXPLAIN without
 *		ANALYZE nothing connects; otherwise the cached client is taken, but
 *		the server is first contacted by the first Iterate.
 */
static void
mongoBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	Relation	rel = node->ss.ss_currentRelation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	List	   *retrieved = list_nth(fsplan->fdw_private,
									 MongoScanPrivateRetrievedAttrs);
	MongoScanState *state = palloc0(sizeof(MongoScanState));
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	ForeignServer *server = GetForeignServer(table->serverid);
	MongoColumn *columns;
	bson_t	   *projection;
	ListCell   *lc;
	int			ncolumns = 0;

	node->fdw_state = state;
	state->servername = server->servername;
	mongo_get_table_options(table, server, &state->options);

	columns = palloc(sizeof(MongoColumn) * Max(list_length(retrieved), 1));
	foreach(lc, retrieved)
	{
		AttrNumber	attnum = lfirst_int(lc);
		Form_pg_attribute attr = TupleDescAttr(tupdesc, attnum - 1);
		char	   *attname = NameStr(attr->attname);

		mongo_init_column(&columns[ncolumns], attnum, attname,
						  mongo_get_column_field(RelationGetRelid(rel),
												 attnum, attname),
						  attr->atttypid, attr->atttypmod);
		mongo_set_column_policy(&columns[ncolumns],
								mongo_column_mismatch_policy(table, attnum),
								mongo_column_flag(table->relid, attnum,
												  "objectid_timestamp"),
								mongo_column_flag(table->relid, attnum,
												  "bool_values"));
		columns[ncolumns++].bson_types =
			mongo_column_bson_types(table->relid, attnum);
	}
	state->converter = mongo_create_converter(RelationGetRelationName(rel),
											  columns, ncolumns);

	state->query_cxt = estate->es_query_cxt;
	state->row_cxt = AllocSetContextCreate(estate->es_query_cxt,
										   "mongo_etl row data",
										   ALLOCSET_DEFAULT_SIZES);

	/* from here on libmongoc memory exists; free it however the scan ends */
	state->cleanup.func = release_scan_resources;
	state->cleanup.arg = state;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, &state->cleanup);

	/* a dump file is read whole; only a server gets a command */
	if (state->options.dump_file != NULL)
		return;

	state->filter = mongo_node_bson(list_nth(fsplan->fdw_private,
											 MongoScanPrivateFilter));
	if (state->filter == NULL)
		state->filter = bson_new();
	state->param_exprs = ExecInitExprList(fsplan->fdw_exprs,
										  (PlanState *) node);
	state->param_types = palloc(sizeof(Oid) *
								Max(list_length(fsplan->fdw_exprs), 1));
	foreach(lc, fsplan->fdw_exprs)
		state->param_types[foreach_current_index(lc)] =
			exprType((Node *) lfirst(lc));
	state->econtext = node->ss.ps.ps_ExprContext;
	state->find_opts = bson_new();
	projection = mongo_build_projection(columns, ncolumns);
	BSON_APPEND_DOCUMENT(state->find_opts, "projection", projection);
	bson_destroy(projection);
	BSON_APPEND_INT32(state->find_opts, "batchSize",
					  state->options.batch_size);

	if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY))
		state->conn = mongo_get_connection(server,
										   GetUserMapping(scan_user_id(node),
														  server->serverid));
}

/*
 * scan_user_id
 *		The user whose user mapping the scan connects with: the view owner
 *		when read through a view, else the current user.
 */
static Oid
scan_user_id(ForeignScanState *node)
{
#if PG_VERSION_NUM >= 160000
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;

	return OidIsValid(fsplan->checkAsUser) ? fsplan->checkAsUser : GetUserId();
#else
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	RangeTblEntry *rte = exec_rt_fetch(fsplan->scan.scanrelid,
									   node->ss.ps.state);

	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
#endif
}

/*
 * mongoIterateForeignScan
 *		The next document as a tuple, or an empty slot at the end.  A cursor
 *		that stops because of an error raises it: a failed getMore must not
 *		look like the end of the collection.
 */
static TupleTableSlot *
mongoIterateForeignScan(ForeignScanState *node)
{
	MongoScanState *state = (MongoScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	const bson_t *document;
	MemoryContext oldcxt;
	instr_time	start;

	/* instrumentation is set up after BeginForeignScan */
	state->timing = node->ss.ps.instrument != NULL &&
		node->ss.ps.instrument->need_timer;
	ExecClearTuple(slot);

	/* a row whose value did not fit a column with policy skip is left out */
	for (;;)
	{
		bool		keep;

		MemoryContextReset(state->row_cxt);
		CHECK_FOR_INTERRUPTS();

		if (state->timing)
			INSTR_TIME_SET_CURRENT(start);
		if (!next_document(state, &document))
		{
			if (state->timing)
				add_time_since(&state->wait_time, start);
			return slot;
		}
		state->documents++;
		state->bytes += document->len;
		if (state->timing)
		{
			add_time_since(&state->wait_time, start);
			INSTR_TIME_SET_CURRENT(start);
		}

		oldcxt = MemoryContextSwitchTo(state->row_cxt);
		memset(slot->tts_isnull, true,
			   sizeof(bool) * slot->tts_tupleDescriptor->natts);
		keep = mongo_document_to_slot(state->converter, document,
									  slot->tts_values, slot->tts_isnull);
		MemoryContextSwitchTo(oldcxt);
		if (state->timing)
			add_time_since(&state->convert_time, start);
		if (keep)
			return ExecStoreVirtualTuple(slot);
	}
}

/*
 * add_time_since
 *		Add the time from start until now to *total.
 */
static void
add_time_since(instr_time *total, instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_ACCUM_DIFF(*total, now, start);
}

/*
 * next_document
 *		The next document from the server's cursor or the dump file, opened
 *		at the first call, or false at the end.
 */
static bool
next_document(MongoScanState *state, const bson_t **document)
{
	bson_error_t error;
	bool		found;

	if (state->options.dump_file != NULL)
	{
		if (state->dump == NULL)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(state->query_cxt);

			state->dump = mongo_dump_open(state->options.dump_file);
			state->converter->dump = state->dump;
			MemoryContextSwitchTo(oldcxt);
		}
		return mongo_dump_next(state->dump, document);
	}

	if (state->cursor == NULL)
		open_cursor(state);
	mongo_count_round_trips(&state->round_trips);
	found = mongoc_cursor_next(state->cursor, document);
	mongo_count_round_trips(NULL);
	if (found)
		return true;
	if (mongoc_cursor_error(state->cursor, &error))
		mongo_report_error(&error, state->servername,
						   state->options.database,
						   state->options.collection);
	return false;
}

/*
 * mongoReScanForeignScan
 *		Start over: the next Iterate runs the find command again.
 */
static void
mongoReScanForeignScan(ForeignScanState *node)
{
	close_cursor((MongoScanState *) node->fdw_state);
}

/*
 * mongoEndForeignScan
 *		Free the cursor and give the connection back.
 */
static void
mongoEndForeignScan(ForeignScanState *node)
{
	MongoScanState *state = (MongoScanState *) node->fdw_state;

	if (state == NULL)
		return;
	release_scan_resources(state);

	report_mismatches(state->converter);
}

/*
 * report_mismatches
 *		Values that did not fit their columns and were read as NULL or had
 *		their rows left out, by the on_type_mismatch policy, are not lost
 *		silently: one warning at the end of the scan counts them per column
 *		and shows the first of each.
 */
static void
report_mismatches(MongoConverter *conv)
{
	StringInfoData detail;
	uint64		total = 0;
	int			i;

	initStringInfo(&detail);
	for (i = 0; i < conv->ncolumns; i++)
	{
		const MongoColumn *col = &conv->columns[i];

		if (col->mismatches == 0)
			continue;
		total += col->mismatches;
		appendStringInfo(&detail, "%sColumn \"%s\": " UINT64_FORMAT " %s; the first: %s",
						 detail.len > 0 ? "\n" : "", col->name,
						 col->mismatches,
						 col->on_mismatch == MONGO_MISMATCH_SKIP
						 ? "rows left out" : "values read as NULL",
						 col->first_mismatch);
	}
	if (total == 0)
		return;
	ereport(WARNING,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg(UINT64_FORMAT " values of foreign table \"%s\" did not fit their columns; " UINT64_FORMAT " rows were left out",
					total, conv->relname, conv->skipped_rows),
			 errdetail_internal("%s", detail.data),
			 errhint("The option on_type_mismatch of the table or its columns chose this.")));
}

/*
 * mongoExplainForeignScan
 *		Show the collection, and with VERBOSE the exact find command.
 */
static void
mongoExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	MongoScanState *state = (MongoScanState *) node->fdw_state;

	if (state->options.dump_file != NULL)
		ExplainPropertyText("MongoDB Dump File", state->options.dump_file, es);
	else
	{
		ExplainPropertyText("MongoDB Collection",
							psprintf("%s.%s", state->options.database,
									 state->options.collection),
							es);
		if (es->verbose)
		{
			/* the values sent, once known; else where they go */
			bson_t	   *shown = state->sent_filter != NULL
				? state->sent_filter
				: mongo_bind_filter(state->filter, NULL, NULL, NULL);

			ExplainPropertyText("MongoDB Command",
								mongo_find_command_string(&state->options,
														  shown,
														  state->find_opts),
								es);
			if (shown != state->sent_filter)
				bson_destroy(shown);
		}
	}

	if (es->analyze)
	{
		uint64		as_null = 0;
		int			i;

		ExplainPropertyUInteger("Documents Read", NULL, state->documents, es);
		ExplainPropertyUInteger("BSON Bytes Read", NULL, state->bytes, es);
		if (state->options.dump_file == NULL)
			ExplainPropertyUInteger("Server Round Trips", NULL,
									state->round_trips, es);
		if (es->timing && state->timing)
		{
			ExplainPropertyFloat(state->options.dump_file == NULL
								 ? "Server Wait Time" : "File Read Time",
								 "ms",
								 INSTR_TIME_GET_MILLISEC(state->wait_time),
								 3, es);
			ExplainPropertyFloat("Conversion Time", "ms",
								 INSTR_TIME_GET_MILLISEC(state->convert_time),
								 3, es);
		}

		for (i = 0; i < state->converter->ncolumns; i++)
		{
			const MongoColumn *col = &state->converter->columns[i];

			if (col->on_mismatch == MONGO_MISMATCH_NULL)
				as_null += col->mismatches;
		}
		if (as_null > 0)
			ExplainPropertyUInteger("Values Read as NULL", NULL, as_null, es);
		if (state->converter->skipped_rows > 0)
			ExplainPropertyUInteger("Rows Left Out", NULL,
									state->converter->skipped_rows, es);
	}
}

/*
 * open_cursor
 *		Run the find command, with the run-time values of the filter put
 *		in.  libmongoc sends it at the first mongoc_cursor_next, which also
 *		reports any failure.
 */
static void
open_cursor(MongoScanState *state)
{
	mongoc_client_t *client = mongo_connection_client(state->conn);
	bson_t	   *filter = state->filter;

	/* the values of parameters, as they are now (a rescan may change them) */
	if (state->param_exprs != NIL)
	{
		int			n = list_length(state->param_exprs);
		MemoryContext oldcxt;
		Datum	   *values;
		bool	   *nulls;
		ListCell   *lc;

		oldcxt = MemoryContextSwitchTo(state->econtext->ecxt_per_tuple_memory);
		values = palloc(sizeof(Datum) * n);
		nulls = palloc(sizeof(bool) * n);
		foreach(lc, state->param_exprs)
		{
			int			i = foreach_current_index(lc);

			values[i] = ExecEvalExpr((ExprState *) lfirst(lc),
									 state->econtext, &nulls[i]);
		}
		MemoryContextSwitchTo(oldcxt);
		filter = mongo_bind_filter(state->filter, values, nulls,
								   state->param_types);
	}

	state->collection = mongoc_client_get_collection(client,
													 state->options.database,
													 state->options.collection);
	state->cursor = mongoc_collection_find_with_opts(state->collection,
													 filter,
													 state->find_opts,
													 NULL);
	if (state->sent_filter != NULL && state->sent_filter != state->filter)
		bson_destroy(state->sent_filter);
	state->sent_filter = filter;
}

/*
 * close_cursor
 *		Destroy the cursor, which also ends it on the server when it was not
 *		exhausted, or close the dump file.
 */
static void
close_cursor(MongoScanState *state)
{
	if (state->cursor != NULL)
		mongoc_cursor_destroy(state->cursor);
	state->cursor = NULL;
	if (state->collection != NULL)
		mongoc_collection_destroy(state->collection);
	state->collection = NULL;
	if (state->dump != NULL)
		mongo_dump_close(state->dump);
	state->dump = NULL;
	state->converter->dump = NULL;
}

/*
 * release_scan_resources
 *		Free everything libmongoc allocated for a scan and give the
 *		connection back.  Called by EndForeignScan, and as a reset callback
 *		of the query's memory context, so an error does not leak a cursor.
 *		Safe to call twice.
 */
static void
release_scan_resources(void *arg)
{
	MongoScanState *state = (MongoScanState *) arg;

	close_cursor(state);
	if (state->sent_filter != NULL && state->sent_filter != state->filter)
		bson_destroy(state->sent_filter);
	state->sent_filter = NULL;
	if (state->filter != NULL)
		bson_destroy(state->filter);
	state->filter = NULL;
	if (state->find_opts != NULL)
		bson_destroy(state->find_opts);
	state->find_opts = NULL;
	if (state->conn != NULL)
		mongo_release_connection(state->conn);
	state->conn = NULL;
}
