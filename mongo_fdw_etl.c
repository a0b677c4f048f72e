/*-------------------------------------------------------------------------
 *
 * mongo_fdw_etl.c
 *		  The mongo_etl foreign-data wrapper: handler, settings, and the
 *		  planner and executor callbacks of a foreign scan over a MongoDB
 *		  collection.
 *
 * A scan runs one find command (or an aggregation, for a table with a
 * pipeline or a count MongoDB answers) with the filter, projection, sort
 * and limit deparse.c builds, and converts each returned document straight
 * into the scan tuple (bson_convert.c).  Planning asks the server for its
 * estimated document count (estimate.c); the scan's command is sent at its
 * first row, so EXPLAIN without ANALYZE runs no query.
 *
 * IDENTIFICATION
 *		  mongo_fdw_etl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/pg_aggregate.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/tlist.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/typcache.h"

#include "mongo_etl.h"

PG_MODULE_MAGIC;

/* GUC mongo_etl.pushdown */
bool		mongo_pushdown = true;
bool		mongo_read_ahead = true;

/* Counted over the backend's life, for mongo_etl.load's summary */
static uint64 mismatch_values = 0;
static uint64 mismatch_rows = 0;

/* Cost of starting a scan: connecting, and the find command's round trip */
#define MONGO_STARTUP_COST 100.0

/*
 * Cost of each lookup of a parameterized scan: a find's round trip on a
 * connection already open, about what converting 250 documents costs
 * (measured on localhost: 0.15 ms a lookup, 0.44 µs a flat document)
 */
#define MONGO_LOOKUP_COST 25.0

/*
 * Cost per document relative to cpu_tuple_cost: a document is read off the
 * network, walked and converted, several times the work of a heap tuple.
 */
#define MONGO_PER_DOCUMENT_COST_FACTOR 10.0

/*
 * Extra cost per document of a scan the server sorts, relative to
 * cpu_operator_cost: an index may serve it, or the server sorts; either
 * way less than a Sort here, which compares each row log2(N) times.
 */
#define MONGO_SORT_COST_PER_DOCUMENT 1.0

/*
 * Cost for the server of comparing one outer document's key with one inner
 * document's in a join it computes ($lookup), relative to cpu_operator_cost:
 * planning assumes that the server reads the inner collection for every
 * outer document, as DocumentDB does without an index on the inner key
 * (200 outer documents against 20,000 inner ones: 2 s); MongoDB, with an
 * index on it, does far less.
 */
#define MONGO_JOIN_COMPARISON_COST 1.0

/*
 * Where add_parameterized_paths is in the table's expressions that
 * equivalence classes join: the one it asks about, and those done
 */
typedef struct ImpliedColumn
{
	Expr	   *current;
	List	   *done;
} ImpliedColumn;

/* Planner state of a foreign table, kept in RelOptInfo.fdw_private */
typedef struct MongoRelationInfo
{
	Bitmapset  *attrs_used;		/* columns the query reads, including in
								 * local WHERE clauses */
	bool		from_server;	/* read from a MongoDB server, not a
								 * mongodump file: can sort and count */
	double		rows;			/* documents, as the server estimates */
	bool		bytewise_strings;	/* the server compares strings by their
									 * bytes (no default collation) */
	bool		splittable;		/* a parallel scan can cut it into ranges */
	double		bytes;			/* its BSON, as far as known (for workers) */
} MongoRelationInfo;

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

static void mongoGetForeignJoinPaths(PlannerInfo *root,
									 RelOptInfo *joinrel,
									 RelOptInfo *outerrel,
									 RelOptInfo *innerrel,
									 JoinType jointype,
									 JoinPathExtraData *extra);
static bool same_collections(PlannerInfo *root, RelOptInfo *outerrel,
							 RelOptInfo *innerrel);
static List *scan_private(List *retrieved, const bson_t *filter,
						  const bson_t *sort, int64 limit, bool count,
						  AttrNumber null_guard, const bson_t *stages,
						  List *group_columns, bool exact, List *join);
static ForeignScan *join_plan(PlannerInfo *root, RelOptInfo *joinrel,
							  ForeignPath *best_path, List *tlist,
							  Plan *outer_plan);
static void init_table_column(MongoColumn *column, Oid relid,
							  ForeignTable *table, AttrNumber attnum,
							  AttrNumber position, Oid typid, int32 typmod);
static void begin_join_scan(ForeignScanState *node, MongoScanState *state,
							ForeignTable *outer_table, MongoColumn *columns,
							int *ncolumns);
static void mongoGetForeignUpperPaths(PlannerInfo *root,
									  UpperRelationKind stage,
									  RelOptInfo *input_rel,
									  RelOptInfo *output_rel,
									  void *extra);
static bool skip_columns(PlannerInfo *root, RelOptInfo *baserel,
						 List *retrieved);
static List *retrieved_attrs_list(PlannerInfo *root, RelOptInfo *baserel);
static Oid	scan_user_id(ForeignScanState *node, Index rtindex);
static bool next_document(MongoScanState *state, const bson_t **document);
static void add_parallel_path(PlannerInfo *root, RelOptInfo *baserel,
							  Oid foreigntableid, Cost startup_cost,
							  Cost total_cost);
static void release_scan_resources(void *arg);
static void add_time_since(instr_time *total, instr_time start);
static TupleTableSlot *count_row(MongoScanState *state, TupleTableSlot *slot);
pg_noreturn static void report_null_sort_key(MongoScanState *state);
static void report_mismatches(MongoConverter *conv);
static void add_parameterized_paths(PlannerInfo *root, RelOptInfo *baserel,
									Oid foreigntableid);
static bool next_implied_column(PlannerInfo *root, RelOptInfo *rel,
								EquivalenceClass *ec, EquivalenceMember *em,
								void *arg);
static bool sendable_join_clause(RelOptInfo *baserel, Oid foreigntableid,
								 Expr *clause);
static bool count_star(Expr *expr);
static bool count_only(PlannerInfo *root, PathTarget *target);
static void add_grouped_path(PlannerInfo *root, RelOptInfo *input_rel,
							 RelOptInfo *output_rel, PathTarget *target);

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
	DefineCustomBoolVariable("mongo_etl.read_ahead",
							 "Asks a server for a cursor's next batch while the backend converts the current one.",
							 "When off, a scan asks for each batch only once it has converted the one before.",
							 &mongo_read_ahead,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("mongo_etl.estimate_cache_seconds",
							"How long a backend keeps a collection's row estimate from its server.",
							"Within a transaction the estimate is always kept; 0 asks again in each transaction.",
							&mongo_estimate_cache_seconds,
							60,
							0,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("mongo_etl");
}

/*
 * mongo_etl_handler
 *		The FdwRoutine of mongo_etl: foreign scans, and writes.
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
	routine->GetForeignJoinPaths = mongoGetForeignJoinPaths;
	routine->GetForeignUpperPaths = mongoGetForeignUpperPaths;
	routine->ImportForeignSchema = mongoImportForeignSchema;
	routine->IsForeignRelUpdatable = mongoIsForeignRelUpdatable;
	routine->PlanForeignModify = mongoPlanForeignModify;
	routine->BeginForeignModify = mongoBeginForeignModify;
	routine->ExecForeignInsert = mongoExecForeignInsert;
	routine->AddForeignUpdateTargets = mongoAddForeignUpdateTargets;
	routine->ExecForeignUpdate = mongoExecForeignUpdate;
	routine->ExecForeignDelete = mongoExecForeignDelete;
	routine->ExecForeignBatchInsert = mongoExecForeignBatchInsert;
	routine->GetForeignModifyBatchSize = mongoGetForeignModifyBatchSize;
	routine->PlanDirectModify = mongoPlanDirectModify;
	routine->BeginDirectModify = mongoBeginDirectModify;
	routine->IterateDirectModify = mongoIterateDirectModify;
	routine->EndDirectModify = mongoEndDirectModify;
	routine->ExplainDirectModify = mongoExplainDirectModify;
	routine->EndForeignModify = mongoEndForeignModify;
	routine->BeginForeignInsert = mongoBeginForeignInsert;
	routine->EndForeignInsert = mongoEndForeignInsert;
	routine->ExplainForeignModify = mongoExplainForeignModify;
	routine->AnalyzeForeignTable = mongo_analyze_foreign_table;
	routine->IsForeignScanParallelSafe = mongoIsForeignScanParallelSafe;
	routine->EstimateDSMForeignScan = mongoEstimateDSMForeignScan;
	routine->InitializeDSMForeignScan = mongoInitializeDSMForeignScan;
	routine->ReInitializeDSMForeignScan = mongoReInitializeDSMForeignScan;
	routine->InitializeWorkerForeignScan = mongoInitializeWorkerForeignScan;
	routine->ShutdownForeignScan = mongoShutdownForeignScan;

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
	MongoSizeEstimate estimate;
	ListCell   *lc;

	baserel->fdw_private = fpinfo;
	fpinfo->from_server =
		mongo_get_option(GetForeignServer(GetForeignTable(foreigntableid)->serverid)->options,
						 "uri") != NULL;

	/* every WHERE clause is evaluated locally, so its columns are needed */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid,
				   &fpinfo->attrs_used);
	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		pull_varattnos((Node *) rinfo->clause, baserel->relid,
					   &fpinfo->attrs_used);
	}

	mongo_estimate_size(foreigntableid, baserel->userid, &estimate);
	fpinfo->rows = estimate.rows;
	fpinfo->bytewise_strings = estimate.bytewise_strings;
	fpinfo->splittable = estimate.splittable;
	fpinfo->bytes = estimate.bytes;

	/*
	 * the server's or the file's current count; ANALYZE's where neither
	 * gave one (tuples is -1 before the first ANALYZE)
	 */
	if (baserel->tuples < 0 || fpinfo->rows != MONGO_DEFAULT_ROWS)
		baserel->tuples = fpinfo->rows;
	baserel->rows = clamp_row_est(baserel->tuples *
								  clauselist_selectivity(root,
														 baserel->baserestrictinfo,
														 0, JOIN_INNER, NULL));
}

/*
 * mongoGetForeignPaths
 *		A scan of the whole collection and, when MongoDB can sort as the
 *		query's ORDER BY asks (mongo_build_sort), the same scan sorted by
 *		the server, so that no Sort is needed above it; and with a LIMIT,
 *		the scan may then ask for no more documents than the limit needs.
 */
static void
mongoGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
					 Oid foreigntableid)
{
	Cost		startup_cost = MONGO_STARTUP_COST;
	Cost		total_cost;
	QualCost	qual_cost;
	bson_t	   *sort;
	AttrNumber	null_guard;

	cost_qual_eval(&qual_cost, baserel->baserestrictinfo, root);
	total_cost = startup_cost + qual_cost.startup +
		baserel->tuples * (cpu_tuple_cost * MONGO_PER_DOCUMENT_COST_FACTOR +
						   qual_cost.per_tuple);

	add_path(baserel, (Path *)
			 mongo_create_foreignscan_path(root, baserel,
										   NULL,	/* default pathtarget */
										   baserel->rows,
										   startup_cost,
										   total_cost,
										   NIL,	/* no pathkeys */
										   baserel->lateral_relids,
										   NULL,	/* no extra plan */
										   NIL)); /* no fdw_private */
	add_parallel_path(root, baserel, foreigntableid, startup_cost,
					  total_cost);
	if (mongo_pushdown &&
		((MongoRelationInfo *) baserel->fdw_private)->from_server)
		add_parameterized_paths(root, baserel, foreigntableid);

	if (!mongo_pushdown || root->query_pathkeys == NIL ||
		!((MongoRelationInfo *) baserel->fdw_private)->from_server)
		return;
	/* (NULL unless every pathkey sorts by a column of this table) */
	sort = mongo_build_sort(root->query_pathkeys, baserel->relid,
							foreigntableid,
							((MongoRelationInfo *) baserel->fdw_private)->bytewise_strings,
							&null_guard);
	if (sort == NULL)
		return;
	bson_destroy(sort);

	/* a server sort costs the server, not us: a little more than a scan */
	add_path(baserel, (Path *)
			 mongo_create_foreignscan_path(root, baserel,
										   NULL,
										   baserel->rows,
										   startup_cost,
										   total_cost + baserel->tuples *
										   cpu_operator_cost *
										   MONGO_SORT_COST_PER_DOCUMENT,
										   root->query_pathkeys,
										   baserel->lateral_relids,
										   NULL,
										   NIL));
}

/*
 * add_parameterized_paths
 *		Scans for the inner side of a nested loop: for each join clause
 *		"col = <outer value>" (or another comparison) that a filter can
 *		send, a scan that sends it with the outer row's value, once per
 *		outer row, so that MongoDB finds the few matching documents (by an
 *		index on the field, where the collection has one) instead of the
 *		whole collection travelling for a hash join.  The clauses are the
 *		table's join clauses and those its equivalence classes imply, as
 *		the planner offers index scans.  Each lookup costs a round trip
 *		(MONGO_LOOKUP_COST) and the documents it is estimated to find.
 */
static void
add_parameterized_paths(PlannerInfo *root, RelOptInfo *baserel,
						Oid foreigntableid)
{
	List	   *candidates = list_copy(baserel->joininfo);
	List	   *param_infos = NIL;
	ListCell   *lc;

	if (baserel->has_eclass_joins)
	{
		ImpliedColumn column = {NULL, NIL};

		/* one column of the table at a time, until none is left */
		for (;;)
		{
			List	   *clauses;

			column.current = NULL;
			clauses = generate_implied_equalities_for_column(root, baserel,
															 next_implied_column,
															 &column,
															 baserel->lateral_referencers);
			if (column.current == NULL)
				break;
			candidates = list_concat(candidates, clauses);
			column.done = lappend(column.done, column.current);
		}
	}

	foreach(lc, candidates)
	{
		RestrictInfo *rinfo = (RestrictInfo *) lfirst(lc);
		Relids		outer;

		if (!join_clause_is_movable_to(rinfo, baserel) ||
			!sendable_join_clause(baserel, foreigntableid, rinfo->clause))
			continue;
		outer = bms_union(rinfo->clause_relids, baserel->lateral_relids);
		outer = bms_del_member(outer, baserel->relid);
		if (bms_is_empty(outer))
			continue;
		param_infos = list_append_unique_ptr(param_infos,
											 get_baserel_parampathinfo(root,
																	   baserel,
																	   outer));
	}

	foreach(lc, param_infos)
	{
		ParamPathInfo *param_info = (ParamPathInfo *) lfirst(lc);
		double		rows = param_info->ppi_rows;
		QualCost	qual_cost;

		cost_qual_eval(&qual_cost, param_info->ppi_clauses, root);
		add_path(baserel, (Path *)
				 mongo_create_foreignscan_path(root, baserel,
											   NULL,	/* default pathtarget */
											   rows,
											   MONGO_LOOKUP_COST,
											   MONGO_LOOKUP_COST + qual_cost.startup +
											   rows * (cpu_tuple_cost *
													   MONGO_PER_DOCUMENT_COST_FACTOR +
													   qual_cost.per_tuple),
											   NIL,	/* no pathkeys */
											   param_info->ppi_req_outer,
											   NULL,	/* no extra plan */
											   NIL)); /* no fdw_private */
	}
}

/*
 * next_implied_column
 *		For generate_implied_equalities_for_column: the equivalence members
 *		of one expression of the table, the first not done yet.
 */
static bool
next_implied_column(PlannerInfo *root, RelOptInfo *rel,
					EquivalenceClass *ec, EquivalenceMember *em, void *arg)
{
	ImpliedColumn *column = (ImpliedColumn *) arg;

	if (column->current != NULL)
		return equal(em->em_expr, column->current);
	if (list_member(column->done, em->em_expr))
		return false;
	column->current = em->em_expr;
	return true;
}

/*
 * sendable_join_clause
 *		Whether a filter can send a join clause, with the outer row's values
 *		as parameters.
 */
static bool
sendable_join_clause(RelOptInfo *baserel, Oid foreigntableid, Expr *clause)
{
	MongoRelationInfo *fpinfo = (MongoRelationInfo *) baserel->fdw_private;
	List	   *params = NIL;
	bool		exact;
	bson_t	   *filter = mongo_build_filter(list_make1(clause), baserel->relid,
											foreigntableid,
											fpinfo->bytewise_strings,
											&params, &exact);

	if (filter == NULL)
		return false;
	bson_destroy(filter);
	return true;
}

/*
 * mongoGetForeignJoinPaths
 *		An inner or left join of two foreign tables answered by MongoDB as
 *		one aggregation with $lookup (lookup.c): tables of one server, user
 *		and database, read from the server as their collections are (no
 *		option filter or pipeline), and a join MongoDB computes exactly.
 *		Its cost is the server's comparisons (MONGO_JOIN_COMPARISON_COST)
 *		and the joined documents, against a join here of both tables' or
 *		lookups into the inner one (parameterized scans).
 */
static void
mongoGetForeignJoinPaths(PlannerInfo *root, RelOptInfo *joinrel,
						 RelOptInfo *outerrel, RelOptInfo *innerrel,
						 JoinType jointype, JoinPathExtraData *extra)
{
	MongoRelationInfo *outer_info;
	MongoRelationInfo *inner_info;
	List	   *join;
	ForeignPath *path;
	QualCost	local_cost;
	Cost		total_cost;

	/* b RIGHT JOIN a is a LEFT JOIN b */
	if (jointype == JOIN_RIGHT)
	{
		RelOptInfo *swap = outerrel;

		outerrel = innerrel;
		innerrel = swap;
		jointype = JOIN_LEFT;
	}
	if (!mongo_pushdown || (jointype != JOIN_INNER && jointype != JOIN_LEFT) ||
		outerrel->reloptkind != RELOPT_BASEREL ||
		innerrel->reloptkind != RELOPT_BASEREL ||
		root->parse->commandType != CMD_SELECT || root->rowMarks != NIL ||
		root->hasPseudoConstantQuals ||
		!bms_is_empty(joinrel->lateral_relids) ||
		outerrel->userid != innerrel->userid)
		return;
	outer_info = (MongoRelationInfo *) outerrel->fdw_private;
	inner_info = (MongoRelationInfo *) innerrel->fdw_private;
	if (outer_info == NULL || inner_info == NULL ||
		!outer_info->from_server || !inner_info->from_server ||
		!same_collections(root, outerrel, innerrel))
		return;

	join = mongo_join_sendable(root, joinrel, outerrel, innerrel, jointype,
							   extra->restrictlist,
							   outer_info->bytewise_strings &&
							   inner_info->bytewise_strings);
	/* the server is asked only when the query could use it */
	if (join == NIL ||
		!mongo_estimate_pipelines(planner_rt_fetch(outerrel->relid,
												   root)->relid,
								  outerrel->userid))
		return;

	cost_qual_eval(&local_cost, list_nth(join, MongoJoinPathLocal), root);
	total_cost = MONGO_STARTUP_COST + local_cost.startup +
		outerrel->tuples * cpu_operator_cost +
		outerrel->rows * innerrel->tuples * cpu_operator_cost *
		MONGO_JOIN_COMPARISON_COST +
		joinrel->rows * (cpu_tuple_cost * MONGO_PER_DOCUMENT_COST_FACTOR +
						 local_cost.per_tuple);
	path = mongo_create_foreign_join_path(root, joinrel,
										  NULL, /* the join's own target */
										  joinrel->rows,
										  MONGO_STARTUP_COST,
										  total_cost,
										  NIL,	/* no pathkeys */
										  NULL, /* no required outer rels */
										  NULL, /* no plan for EvalPlanQual */
										  join);
	/* one process reads it: it has no partial form */
	path->path.parallel_safe = false;
	add_path(joinrel, (Path *) path);
}

/*
 * same_collections
 *		Whether two foreign tables read collections of one database, as
 *		they are: $lookup's "from" names a collection of the aggregation's
 *		database, and neither table may have the option filter or pipeline,
 *		which a join would have to apply on each side.
 */
static bool
same_collections(PlannerInfo *root, RelOptInfo *outerrel,
				 RelOptInfo *innerrel)
{
	MongoTableOptions options[2];
	RelOptInfo *rels[2] = {outerrel, innerrel};
	int			i;

	for (i = 0; i < 2; i++)
	{
		ForeignTable *table =
			GetForeignTable(planner_rt_fetch(rels[i]->relid, root)->relid);

		if (table->serverid != rels[0]->serverid)
			return false;
		mongo_get_table_options(table, GetForeignServer(table->serverid),
								&options[i]);
		if (options[i].dump_file != NULL || options[i].filter != NULL ||
			options[i].pipeline != NULL)
			return false;
	}
	return strcmp(options[0].database, options[1].database) == 0;
}

/*
 * mongoGetForeignUpperPaths
 *		Aggregates answered by MongoDB, when every WHERE clause is sent
 *		exactly (mongo_build_filter's exact), so that no document travels:
 *		"SELECT count(*) FROM t" as a $count; GROUP BY and the aggregates
 *		aggregate.c computes exactly as a $group, one document per group,
 *		with HAVING evaluated on the groups here.
 */
static void
mongoGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
						  RelOptInfo *input_rel, RelOptInfo *output_rel,
						  void *extra)
{
	Query	   *parse = root->parse;
	MongoRelationInfo *fpinfo = (MongoRelationInfo *) input_rel->fdw_private;
	PathTarget *target;
	RangeTblEntry *rte;
	bson_t	   *filter;
	List	   *params = NIL;
	bool		exact;
	Cost		total_cost;

	/* (an inheritance parent's relation has no fdw_private) */
	if (!mongo_pushdown || stage != UPPERREL_GROUP_AGG ||
		input_rel->reloptkind != RELOPT_BASEREL ||
		fpinfo == NULL || output_rel->fdw_private != NULL ||
		root->hasPseudoConstantQuals || parse->groupingSets != NIL)
		return;

	/* a mongodump file has no server to count; WHERE must all be sent */
	if (!fpinfo->from_server)
		return;
	rte = planner_rt_fetch(input_rel->relid, root);
	filter = mongo_build_filter(extract_actual_clauses(input_rel->baserestrictinfo,
													   false),
								input_rel->relid, rte->relid,
								fpinfo->bytewise_strings, &params, &exact);
	if (filter != NULL)
		bson_destroy(filter);
	if (!exact)
		return;

	target = root->upper_targets[UPPERREL_GROUP_AGG];
	if (!count_only(root, target))
	{
		/* the server is asked only when the query needs it to be */
		if (mongo_group_sendable(root, input_rel, target, rte->relid,
								 fpinfo->bytewise_strings, false) ||
			mongo_group_sendable(root, input_rel, target, rte->relid,
								 fpinfo->bytewise_strings,
								 mongo_estimate_pipelines(rte->relid,
														  input_rel->userid)))
			add_grouped_path(root, input_rel, output_rel, target);
		return;
	}

	/* the count's relation points to the foreign table's */
	output_rel->fdw_private = input_rel;

	/* the server counts; one row comes back */
	total_cost = MONGO_STARTUP_COST + input_rel->tuples * cpu_operator_cost;
	add_path(output_rel, (Path *)
			 mongo_create_foreign_upper_path(root, output_rel, target,
											 1,
											 MONGO_STARTUP_COST,
											 total_cost,
											 NIL,	/* no pathkeys */
											 NULL,	/* no extra plan */
											 NIL));	/* no fdw_private */
}

/*
 * count_only
 *		Whether the grouped relation is a plain "SELECT count(*)": no GROUP
 *		BY, no HAVING, and count(*) the only item.
 */
static bool
count_only(PlannerInfo *root, PathTarget *target)
{
	return root->parse->groupClause == NIL &&
		root->parse->havingQual == NULL && !root->hasHavingQual &&
		list_length(target->exprs) == 1 &&
		count_star(linitial(target->exprs));
}

/*
 * count_star
 *		Whether an expression is a plain count(*).
 */
static bool
count_star(Expr *expr)
{
	Aggref	   *aggref = (Aggref *) expr;

	return IsA(expr, Aggref) &&
		aggref->aggfnoid == F_COUNT_ && aggref->aggstar &&
		aggref->aggfilter == NULL && aggref->aggdistinct == NIL &&
		aggref->aggorder == NIL && aggref->aggkind == AGGKIND_NORMAL;
}

/*
 * add_grouped_path
 *		The grouped relation computed by MongoDB's $group (aggregate.c),
 *		which the caller found sendable.  Costs: the server reads every
 *		document (cpu_operator_cost each), and each group costs what a
 *		document does.
 */
static void
add_grouped_path(PlannerInfo *root, RelOptInfo *input_rel,
				 RelOptInfo *output_rel, PathTarget *target)
{
	double		groups = 1;
	Cost		startup_cost;

	if (root->parse->groupClause != NIL)
		groups = estimate_num_groups(root,
									 get_sortgrouplist_exprs(root->parse->groupClause,
															 root->parse->targetList),
									 input_rel->rows, NULL, NULL);
	startup_cost = MONGO_STARTUP_COST + input_rel->tuples * cpu_operator_cost;
	output_rel->fdw_private = input_rel;
	add_path(output_rel, (Path *)
			 mongo_create_foreign_upper_path(root, output_rel, target,
											 groups,
											 startup_cost,
											 startup_cost + groups * cpu_tuple_cost *
											 MONGO_PER_DOCUMENT_COST_FACTOR,
											 NIL, /* no pathkeys */
											 NULL,	/* no extra plan */
											 NIL));	/* no fdw_private */
}

/*
 * mongoGetForeignPlan
 *		A ForeignScan that fills only the columns the query reads, with the
 *		WHERE clauses MongoDB can decide sent as a filter, and the path's
 *		sort.  Every clause is also evaluated locally, unless MongoDB
 *		counts the rows: then it decides them all, exactly.  With a LIMIT
 *		and nothing between the scan and it that could drop rows, the
 *		scan asks for the rows the limit needs (with OFFSET, the offset's
 *		too, which PostgreSQL skips).
 */
static ForeignScan *
mongoGetForeignPlan(PlannerInfo *root, RelOptInfo *foreignrel,
					Oid foreigntableid, ForeignPath *best_path,
					List *tlist, List *scan_clauses, Plan *outer_plan)
{
	bool		upper;
	bool		count;
	bool		grouped;
	RelOptInfo *baserel;
	RangeTblEntry *rte;
	MongoRelationInfo *fpinfo;
	List	   *retrieved;
	List	   *fdw_private;
	List	   *fdw_scan_tlist = NIL;
	bson_t	   *filter;
	bson_t	   *sort = NULL;
	AttrNumber	null_guard = 0;
	int64		limit = 0;
	List	   *params = NIL;
	List	   *local_clauses;
	bool		exact = false;
	bson_t	   *group = NULL;
	List	   *group_columns = NIL;

	if (IS_JOIN_REL(foreignrel))
		return join_plan(root, foreignrel, best_path, tlist, outer_plan);

	upper = IS_UPPER_REL(foreignrel);
	count = upper &&
		count_only(root, root->upper_targets[UPPERREL_GROUP_AGG]);
	grouped = upper && !count;
	baserel = upper ? (RelOptInfo *) foreignrel->fdw_private : foreignrel;
	rte = planner_rt_fetch(baserel->relid, root);
	fpinfo = (MongoRelationInfo *) baserel->fdw_private;
	retrieved = upper ? NIL : retrieved_attrs_list(root, baserel);

	if (upper)
	{
		scan_clauses = baserel->baserestrictinfo;
		fdw_scan_tlist = mongo_group_scan_tlist(root,
												root->upper_targets[UPPERREL_GROUP_AGG]);
	}
	scan_clauses = extract_actual_clauses(scan_clauses, false);

	filter = mongo_pushdown
		? mongo_build_filter(scan_clauses, baserel->relid, rte->relid,
							 fpinfo->bytewise_strings, &params, &exact)
		: NULL;
	/* a grouped scan's rows are groups: HAVING is checked on them here */
	local_clauses = upper ? (List *) root->parse->havingQual : scan_clauses;
	if (grouped)
		group = mongo_group_stages(root, fdw_scan_tlist, rte->relid,
								   &group_columns);

	if (!upper && best_path->path.pathkeys != NIL)
		sort = mongo_build_sort(best_path->path.pathkeys, baserel->relid,
								rte->relid, fpinfo->bytewise_strings,
								&null_guard);
	if (!upper && mongo_pushdown && exact && root->limit_tuples > 0 &&
		root->parse->limitOption != LIMIT_OPTION_WITH_TIES &&
		bms_membership(root->all_baserels) == BMS_SINGLETON &&
		(root->sort_pathkeys == NIL ||
		 pathkeys_contained_in(root->sort_pathkeys,
							   best_path->path.pathkeys)) &&
		!skip_columns(root, baserel, retrieved))
		limit = (int64) root->limit_tuples;

	fdw_private = scan_private(retrieved, filter, sort, limit, count,
							   null_guard, group, group_columns, exact,
							   NIL /* not a join */ );
	if (filter != NULL)
		bson_destroy(filter);
	if (group != NULL)
		bson_destroy(group);
	if (sort != NULL)
		bson_destroy(sort);

	return make_foreignscan(tlist, local_clauses,
							upper ? 0 : baserel->relid,
							params, /* the filter's run-time values */
							fdw_private,
							fdw_scan_tlist,
							NIL,	/* no remote quals */
							outer_plan);
}

/*
 * scan_private
 *		ForeignScan.fdw_private of a scan, its items in the order of enum
 *		MongoScanPrivateIndex, the BSON documents copied into Consts.
 */
static List *
scan_private(List *retrieved, const bson_t *filter, const bson_t *sort,
			 int64 limit, bool count, AttrNumber null_guard,
			 const bson_t *stages, List *group_columns, bool exact,
			 List *join)
{
	List	   *items = NIL;

	items = lappend(items, retrieved);
	items = lappend(items, mongo_bson_node(filter));
	items = lappend(items, mongo_bson_node(sort));
	items = lappend(items, makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
									 Int64GetDatum(limit), false,
									 FLOAT8PASSBYVAL));
	items = lappend(items, makeInteger(count));
	items = lappend(items, makeInteger(null_guard));
	items = lappend(items, mongo_bson_node(stages));
	items = lappend(items, group_columns);
	items = lappend(items, makeInteger(exact));
	items = lappend(items, join);
	Assert(list_length(items) == MongoScanPrivateJoin + 1);
	return items;
}

/*
 * join_plan
 *		The ForeignScan of a join MongoDB computes (mongoGetForeignJoinPaths):
 *		an aggregation on the outer table's collection, with its WHERE
 *		clauses as the $match, then lookup.c's stages.  Its rows are
 *		fdw_scan_tlist's columns of both tables; the clauses the path kept
 *		local are evaluated on them.
 */
static ForeignScan *
join_plan(PlannerInfo *root, RelOptInfo *joinrel, ForeignPath *best_path,
		  List *tlist, Plan *outer_plan)
{
	List	   *join = best_path->fdw_private;
	Var		   *outer_key = list_nth(join, MongoJoinPathOuterKey);
	Var		   *inner_key = list_nth(join, MongoJoinPathInnerKey);
	RelOptInfo *outerrel = find_base_rel(root, outer_key->varno);
	MongoRelationInfo *fpinfo = (MongoRelationInfo *) outerrel->fdw_private;
	List	   *scan_tlist = mongo_join_scan_tlist(joinrel, join);
	List	   *params = NIL;
	List	   *fdw_private;
	bool		exact;
	bson_t	   *filter;
	bson_t	   *stages;

	filter = mongo_build_filter(extract_actual_clauses(outerrel->baserestrictinfo,
													   false),
								outerrel->relid,
								planner_rt_fetch(outerrel->relid, root)->relid,
								fpinfo->bytewise_strings, &params, &exact);
	stages = mongo_join_stages(root, join, scan_tlist,
							   find_base_rel(root, inner_key->varno));

	/* the columns come from fdw_scan_tlist; no sort, limit or count */
	fdw_private = scan_private(NIL, filter, NULL, 0, false, 0, stages, NIL,
							   exact,
							   list_make3_int(tlist_member((Expr *) outer_key,
														   scan_tlist)->resno,
											  tlist_member((Expr *) inner_key,
														   scan_tlist)->resno,
											  intVal(list_nth(join,
															  MongoJoinPathLeft))));
	if (filter != NULL)
		bson_destroy(filter);
	bson_destroy(stages);

	return make_foreignscan(tlist,
							list_nth(join, MongoJoinPathLocal),
							0,	/* a join scans no one relation */
							params, /* the filter's run-time values */
							fdw_private,
							scan_tlist,
							NIL,	/* no remote quals */
							outer_plan);
}

/*
 * skip_columns
 *		Whether a column the scan fills leaves out rows whose values do not
 *		fit (on_type_mismatch 'skip'): then MongoDB's documents and the
 *		scan's rows are not one to one, and a limit cannot be sent.
 */
static bool
skip_columns(PlannerInfo *root, RelOptInfo *baserel, List *retrieved)
{
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
	ForeignTable *table = GetForeignTable(rte->relid);
	ListCell   *lc;

	foreach(lc, retrieved)
	{
		if (mongo_column_mismatch_policy(table, lfirst_int(lc)) ==
			MONGO_MISMATCH_SKIP)
			return true;
	}
	return false;
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
	List	   *join = list_nth(fsplan->fdw_private, MongoScanPrivateJoin);
	Index		rtindex = fsplan->scan.scanrelid > 0 ? fsplan->scan.scanrelid
		: join != NIL
		? (Index) castNode(Var,
						   list_nth_node(TargetEntry, fsplan->fdw_scan_tlist,
										 linitial_int(join) - 1)->expr)->varno
		: (Index) bms_next_member(fsplan->fs_relids, -1);
	Oid			relid = exec_rt_fetch(rtindex, estate)->relid;
	List	   *retrieved = list_nth(fsplan->fdw_private,
									 MongoScanPrivateRetrievedAttrs);
	MongoScanState *state = palloc0(sizeof(MongoScanState));
	MongoScanSource *source = &state->source;
	ForeignTable *table = GetForeignTable(relid);
	ForeignServer *server = GetForeignServer(table->serverid);
	MongoColumn *columns;
	ListCell   *lc;
	int			ncolumns = 0;

	node->fdw_state = state;
	state->relid = relid;
	state->servername = server->servername;
	mongo_get_table_options(table, server, &state->options);
	source->servername = state->servername;
	source->options = &state->options;
	source->cxt = estate->es_query_cxt;
	/* a range offered for the table is for its own scan, not a join */
	if (join == NIL)
		source->range = mongo_source_take_range(relid,
												state->options.dump_file != NULL);
	state->count = intVal(list_nth(fsplan->fdw_private,
								   MongoScanPrivateCount)) != 0;
	state->null_guard = intVal(list_nth(fsplan->fdw_private,
										MongoScanPrivateNullGuard));
	source->stages = mongo_node_bson(list_nth(fsplan->fdw_private,
											  MongoScanPrivateStages));

	/* a count fills no column: its one output column is the count */
	columns = palloc(sizeof(MongoColumn) *
					 Max(list_length(retrieved) +
						 list_length(fsplan->fdw_scan_tlist), 1));
	if (list_nth(fsplan->fdw_private, MongoScanPrivateGroupColumns) != NIL)
	{
		state->group_items = list_nth(fsplan->fdw_private,
									  MongoScanPrivateGroupColumns);
		state->group_tlist = fsplan->fdw_scan_tlist;
		ncolumns = mongo_group_columns(state->group_tlist, state->group_items,
									   relid, table, columns);
	}
	foreach(lc, retrieved)
	{
		AttrNumber	attnum = lfirst_int(lc);
		Form_pg_attribute attr =
			TupleDescAttr(RelationGetDescr(node->ss.ss_currentRelation),
						  attnum - 1);

		init_table_column(&columns[ncolumns++], relid, table, attnum, attnum,
						  attr->atttypid, attr->atttypmod);
	}
	if (join != NIL)
		begin_join_scan(node, state, table, columns, &ncolumns);
	state->converter = mongo_create_converter(get_rel_name(relid),
											  columns, ncolumns);

	state->query_cxt = estate->es_query_cxt;
	state->row_cxt = AllocSetContextCreate(estate->es_query_cxt,
										   "mongo_etl row data",
										   ALLOCSET_DEFAULT_SIZES);

	/*
	 * Rows are returned in a virtual slot of the scan tuple's descriptor,
	 * not in the node's heap tuple slot.  A consumer that keeps the row (an
	 * INSERT, a sort, a hash, a Gather) then forms it once from the values;
	 * from a heap tuple slot holding values it forms a tuple in the slot
	 * and copies it.  The executor does not count on the kind of slot a
	 * foreign scan returns (ExecInitForeignScan marks its scan slot's kind
	 * as not fixed), and a virtual slot never needs deforming.
	 */
	state->row_slot =
		ExecInitExtraTupleSlot(estate,
							   node->ss.ss_ScanTupleSlot->tts_tupleDescriptor,
							   &TTSOpsVirtual);

	/* from here on libmongoc memory exists; free it however the scan ends */
	state->cleanup.func = release_scan_resources;
	state->cleanup.arg = state;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, &state->cleanup);

	/* a dump file is read whole; only a server gets a command */
	if (state->options.dump_file != NULL)
		return;

	source->filter = mongo_node_bson(list_nth(fsplan->fdw_private,
											  MongoScanPrivateFilter));
	source->sort = mongo_node_bson(list_nth(fsplan->fdw_private,
											MongoScanPrivateSort));
	source->limit =
		DatumGetInt64(castNode(Const,
							   list_nth(fsplan->fdw_private,
										MongoScanPrivateLimit))->constvalue);
	source->count = state->count;
	source->param_exprs = ExecInitExprList(fsplan->fdw_exprs,
										   (PlanState *) node);
	source->param_types = palloc(sizeof(Oid) *
								 Max(list_length(fsplan->fdw_exprs), 1));
	foreach(lc, fsplan->fdw_exprs)
		source->param_types[foreach_current_index(lc)] =
			exprType((Node *) lfirst(lc));
	source->econtext = node->ss.ps.ps_ExprContext;
	if (!state->count && source->stages == NULL)
		source->projection = mongo_build_projection(columns, ncolumns);

	if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY))
		source->conn = mongo_get_connection(server,
											GetUserMapping(scan_user_id(node,
																		rtindex),
														   server->serverid));
}

/*
 * init_table_column
 *		Prepare the conversion of a column of a foreign table, into the
 *		scan tuple's attribute position, with the column's options.
 */
static void
init_table_column(MongoColumn *column, Oid relid, ForeignTable *table,
				  AttrNumber attnum, AttrNumber position, Oid typid,
				  int32 typmod)
{
	char	   *attname = get_attname(relid, attnum, false);

	mongo_init_column(column, position, attname,
					  mongo_get_column_field(relid, attnum, attname),
					  typid, typmod);
	mongo_set_column_policy(column,
							mongo_column_mismatch_policy(table, attnum),
							mongo_column_flag(relid, attnum,
											  "objectid_timestamp"),
							mongo_column_flag(relid, attnum, "bool_values"));
	column->bson_types = mongo_column_bson_types(relid, attnum);
}

/*
 * begin_join_scan
 *		The columns of a join MongoDB computes: those of outer_table, the
 *		scanned table, added to columns (the scan's converter), and the
 *		inner table's, for a converter of their own, which reads the joined
 *		document's inner document and names the inner table in errors.
 */
static void
begin_join_scan(ForeignScanState *node, MongoScanState *state,
				ForeignTable *outer_table, MongoColumn *columns,
				int *ncolumns)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	List	   *join = list_nth(fsplan->fdw_private, MongoScanPrivateJoin);
	Var		   *inner_key = castNode(Var,
									 list_nth_node(TargetEntry,
												   fsplan->fdw_scan_tlist,
												   lsecond_int(join) - 1)->expr);
	ForeignTable *inner_table;
	MongoColumn *inner_columns;
	int			ninner = 0;
	ListCell   *lc;

	state->inner_relid = exec_rt_fetch(inner_key->varno, estate)->relid;
	state->left_join = lthird_int(join) != 0;
	inner_table = GetForeignTable(state->inner_relid);
	inner_columns = palloc(sizeof(MongoColumn) *
						   list_length(fsplan->fdw_scan_tlist));
	foreach(lc, fsplan->fdw_scan_tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Var		   *var = castNode(Var, tle->expr);

		if (var->varno == inner_key->varno)
			init_table_column(&inner_columns[ninner++], state->inner_relid,
							  inner_table, var->varattno, tle->resno,
							  var->vartype, var->vartypmod);
		else
			init_table_column(&columns[(*ncolumns)++], state->relid,
							  outer_table, var->varattno, tle->resno,
							  var->vartype, var->vartypmod);
	}
	state->inner_converter =
		mongo_create_converter(get_rel_name(state->inner_relid),
							   inner_columns, ninner);
}

/*
 * scan_user_id
 *		The user whose user mapping the scan connects with: the view owner
 *		when read through a view, else the current user.
 */
static Oid
scan_user_id(ForeignScanState *node, Index rtindex)
{
	return mongo_plan_user((ForeignScan *) node->ss.ps.plan,
						   node->ss.ps.state, rtindex);
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
	TupleTableSlot *slot = state->row_slot;
	const bson_t *document;
	MemoryContext oldcxt;
	instr_time	start;

	/* instrumentation is set up after BeginForeignScan */
	state->timing = node->ss.ps.instrument != NULL &&
		node->ss.ps.instrument->need_timer;
	ExecClearTuple(slot);

	if (state->count)
		return count_row(state, slot);

	/* after the row made for aggregates of no document, nothing */
	if (state->source_ended)
		return slot;

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
			/* aggregates of no document: one row, which MongoDB omits */
			if (state->group_items != NIL && !state->counted)
			{
				state->counted = true;
				state->source_ended = true;
				memset(slot->tts_isnull, true,
					   sizeof(bool) * slot->tts_tupleDescriptor->natts);
				if (mongo_group_empty_row(state->group_tlist,
										  state->group_items,
										  slot->tts_values,
										  slot->tts_isnull))
					return ExecStoreVirtualTuple(slot);
			}
			return slot;
		}
		if (state->group_items != NIL)
			state->counted = true;
		if (state->timing)
		{
			add_time_since(&state->wait_time, start);
			INSTR_TIME_SET_CURRENT(start);
		}

		oldcxt = MemoryContextSwitchTo(state->row_cxt);
		memset(slot->tts_isnull, true,
			   sizeof(bool) * slot->tts_tupleDescriptor->natts);
		if (state->group_items != NIL)
			mongo_group_check_document(document, state->group_tlist,
									   state->group_items, state->relid,
									   state->converter->relname);
		keep = mongo_document_to_slot(state->converter, document,
									  slot->tts_values, slot->tts_isnull);
		if (state->inner_converter != NULL)
			keep = mongo_join_to_slot(state->inner_converter, document,
									  slot->tts_values, slot->tts_isnull) &&
				keep;
		if (state->group_items != NIL)
			mongo_group_finish_row(document, state->group_tlist,
								   state->group_items,
								   state->converter->relname,
								   slot->tts_values, slot->tts_isnull);
		MemoryContextSwitchTo(oldcxt);
		/* counted where the leader sees them before it sees the row */
		if (state->parallel.shared != NULL &&
			state->converter->mismatches != state->parallel.mismatches_seen)
			mongo_share_mismatches(state);
		if (state->timing)
			add_time_since(&state->convert_time, start);
		if (!keep)
			continue;
		if (state->null_guard > 0 && slot->tts_isnull[state->null_guard - 1])
			report_null_sort_key(state);
		return ExecStoreVirtualTuple(slot);
	}
}

/*
 * count_row
 *		The one row of a count MongoDB made: $count returns a document
 *		{count: n}, or no document at all when there is nothing to count.
 */
static TupleTableSlot *
count_row(MongoScanState *state, TupleTableSlot *slot)
{
	const bson_t *document;
	bson_iter_t iter;
	int64		count = 0;

	if (state->counted)
		return slot;
	state->counted = true;
	if (next_document(state, &document))
	{
		if (!bson_iter_init_find(&iter, document, "count") ||
			!BSON_ITER_HOLDS_NUMBER(&iter))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("MongoDB answered a count of collection \"%s\" with no number",
							state->options.collection)));
		count = bson_iter_as_int64(&iter);
	}
	slot->tts_values[0] = Int64GetDatum(count);
	slot->tts_isnull[0] = false;
	return ExecStoreVirtualTuple(slot);
}

/*
 * report_null_sort_key
 *		A NULL in a sort key MongoDB puts where PostgreSQL does not: stop
 *		rather than return rows out of order (see mongo_build_sort).
 */
static void
report_null_sort_key(MongoScanState *state)
{
	char	   *id = mongo_document_id_string(state->converter->document);

	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("a document of foreign table \"%s\" has a null _id, which MongoDB sorts before all others",
					state->converter->relname),
			 errdetail("The query's ORDER BY puts NULLs at the other end; the document is %s.",
					   id),
			 errhint("Add NULLS FIRST (or NULLS LAST after DESC) to the ORDER BY, or SET mongo_etl.pushdown = off.")));
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
 *		The next document from the scan's source, or false at the end; a
 *		document of a dump file is named by its file in conversion errors.
 */
static bool
next_document(MongoScanState *state, const bson_t **document)
{
	bool		found = mongo_source_next(&state->source, document);

	state->converter->dump = state->source.dump;
	return found;
}

/*
 * mongoReScanForeignScan
 *		Start over: the next Iterate runs the find command again.
 */
static void
mongoReScanForeignScan(ForeignScanState *node)
{
	MongoScanState *state = (MongoScanState *) node->fdw_state;

	mongo_source_rescan(&state->source);
	ExecClearTuple(state->row_slot);
	state->converter->dump = NULL;
	state->counted = false;
	state->source_ended = false;
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
	mismatch_values += total;
	mismatch_rows += conv->skipped_rows;
	ereport(WARNING,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg(UINT64_FORMAT " values of foreign table \"%s\" did not fit their columns; " UINT64_FORMAT " rows were left out",
					total, conv->relname, conv->skipped_rows),
			 errdetail_internal("%s", detail.data),
			 errhint("The option on_type_mismatch of the table or its columns chose this.")));
}

/*
 * mongo_mismatch_counts
 *		The values that did not fit their columns, and the rows left out,
 *		in every scan of the backend so far: mongo_etl.load reports those
 *		of its queries.
 */
void
mongo_mismatch_counts(uint64 *values, uint64 *rows)
{
	*values = mismatch_values;
	*rows = mismatch_rows;
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
							mongo_server_text(psprintf("%s.%s",
													   state->options.database,
													   state->options.collection)),
							es);
		if (state->inner_converter != NULL)
			ExplainPropertyText("MongoDB Join",
								psprintf("%s %s JOIN %s",
										 quote_identifier(get_rel_name(state->relid)),
										 state->left_join ? "LEFT" : "INNER",
										 quote_identifier(get_rel_name(state->inner_relid))),
								es);
		if (es->verbose)
		{
			/*
			 * the values sent, once known; else where they go (a parallel
			 * scan's: without the _id range of each request, listed apart)
			 */
			MongoScanSource *source = &state->source;
			bson_t	   *shown = node->ss.ps.plan->parallel_aware
				? NULL : source->sent_filter;

			if (shown == NULL && source->filter != NULL)
				shown = mongo_bind_filter(source->filter, NULL, NULL, NULL);
			ExplainPropertyText("MongoDB Command",
								mongo_source_command_string(source, shown),
								es);
			if (shown != source->sent_filter)
				bson_destroy(shown);
		}
	}
	if (es->verbose && node->ss.ps.plan->parallel_aware)
		mongo_explain_ranges(state, es);

	if (es->analyze)
	{
		uint64		as_null = 0;
		uint64		documents = state->source.documents;
		uint64		counts[MONGO_SCAN_COUNTERS];
		int			i;

		/* a parallel scan's: all participants' */
		if (state->parallel.nparticipants > 0)
		{
			memcpy(counts, state->parallel.totals, sizeof(counts));
			documents = 0;
			for (i = 0; i < state->parallel.nparticipants; i++)
				documents += state->parallel.participant_documents[i];
		}
		else
			mongo_scan_counts(state, counts);

		ExplainPropertyUInteger("Documents Read", NULL, documents, es);
		for (i = 0; i < state->parallel.nparticipants; i++)
		{
			char	   *label = i == 0 ? pstrdup("Documents Read by Leader")
				: psprintf("Documents Read by Worker %d", i - 1);

			ExplainPropertyUInteger(label, NULL,
									state->parallel.participant_documents[i], es);
		}
		ExplainPropertyUInteger("BSON Bytes Read", NULL,
								counts[MONGO_COUNT_BYTES], es);
		if (state->parallel.nparticipants > 0 && state->options.dump_file != NULL)
			ExplainPropertyUInteger("Dump File Blocks Read", NULL,
									counts[MONGO_COUNT_FILE_BLOCKS], es);
		if (state->options.dump_file == NULL)
		{
			ExplainPropertyUInteger("Server Round Trips", NULL,
									counts[MONGO_COUNT_ROUND_TRIPS], es);
			ExplainPropertyUInteger("Batches Read Ahead", NULL,
									counts[MONGO_COUNT_BATCHES_READ_AHEAD], es);
		}
		if (es->timing && state->timing)
		{
			ExplainPropertyFloat(state->options.dump_file == NULL
								 ? "Server Wait Time" : "File Read Time",
								 "ms", counts[MONGO_COUNT_WAIT_US] / 1000.0,
								 3, es);
			ExplainPropertyFloat("Conversion Time", "ms",
								 counts[MONGO_COUNT_CONVERT_US] / 1000.0,
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

	mongo_source_end(&state->source);
	state->converter->dump = NULL;
}

/*
 * add_parallel_path
 *		A scan for a Gather: each participant reads the ranges it claims,
 *		with as many workers as a heap table of the source's size would get
 *		(or the table's parallel_workers option).  Not for sources that do
 *		not cut into ranges.
 */
static void
add_parallel_path(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				  Cost startup_cost, Cost total_cost)
{
	MongoRelationInfo *fpinfo = (MongoRelationInfo *) baserel->fdw_private;
	const char *option = mongo_get_option(GetForeignTable(foreigntableid)->options,
										  "parallel_workers");
	int			workers;
	double		divisor;
	ForeignPath *path;

	if (!baserel->consider_parallel || !fpinfo->splittable ||
		baserel->lateral_relids != NULL)
		return;
	baserel->rel_parallel_workers = option != NULL ? atoi(option) : -1;
	workers = compute_parallel_worker(baserel, fpinfo->bytes / BLCKSZ, -1,
									  max_parallel_workers_per_gather);
	if (workers <= 0)
		return;
	/* the leader reads ranges too, as for a heap's parallel scan */
	divisor = workers + (parallel_leader_participation ? 1 : 0);
	path = mongo_create_foreignscan_path(root, baserel, NULL,
										 clamp_row_est(baserel->rows / divisor),
										 startup_cost,
										 startup_cost +
										 (total_cost - startup_cost) / divisor,
										 NIL, NULL, NULL,
										 NIL);
	path->path.parallel_aware = true;
	path->path.parallel_safe = true;
	path->path.parallel_workers = workers;
	add_partial_path(baserel, (Path *) path);
}
