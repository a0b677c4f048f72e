/*-------------------------------------------------------------------------
 *
 * modify.c
 *		  The executor's callbacks of INSERT, UPDATE and DELETE on a
 *		  mongo_etl foreign table.  An INSERT's documents are write.c's.
 *		  UPDATE and DELETE: one update or delete command with the
 *		  statement's filter when MongoDB can pick the documents itself,
 *		  else the rows read and written back by _id, in batches.
 *
 * Each row is known by its _id, a junk column of the scan.  When every
 * WHERE clause is sent exactly and every new value is known before a row
 * is read, the statement becomes one command and no row travels, as with
 * postgres_fdw's direct modification.  Otherwise each row the scan reads
 * becomes an update ($set of the columns the statement sets; $unset of
 * those set to NULL under write_nulls 'false') or a delete, found by _id,
 * and batch_size of them go in one ordered bulk write.  A row whose
 * document is gone by then is counted and reported in a WARNING: MongoDB
 * does not undo the rest, and PostgreSQL has counted the row already.
 *
 * IDENTIFICATION
 *		  modify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/appendinfo.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "mongo_etl.h"

/* The junk column of an UPDATE or DELETE that carries each row's _id */
#define MONGO_ID_JUNK "mongo_id"

/* The junk column of a DELETE ... RETURNING that carries the old row */
#define MONGO_OLD_ROW_JUNK "mongo_old_row"

/*
 * Rows PostgreSQL hands an INSERT at a time; the documents are kept until
 * batch_size of them make one insert command.  The executor's batches cost
 * a slot per row, made on the first batch (10,000 of them took 10% of an
 * INSERT's time and 66 MB), so they stay small.
 */
#define MONGO_EXECUTOR_BATCH_ROWS 100

/* Items in the fdw_private of an INSERT */
enum MongoInsertPrivateIndex
{
	/* Integer list: the columns it writes */
	MongoInsertPrivateColumns
};

/* Items in the fdw_private of a row-by-row UPDATE or DELETE */
enum MongoModifyPrivateIndex
{
	/* Integer list: the columns an UPDATE sets */
	MongoModifyPrivateColumns
};

/* Items in ForeignScan.fdw_private of a direct UPDATE or DELETE */
enum MongoDirectPrivateIndex
{
	/* the filter, a bytea Const of its BSON, or a NULL Const for none */
	MongoDirectPrivateFilter,

	/*
	 * Integer list: the columns an UPDATE sets; their new values follow the
	 * filter's run-time values in fdw_exprs
	 */
	MongoDirectPrivateColumns,
	/* Integer: how many of fdw_exprs are the filter's values */
	MongoDirectPrivateFilterValues,
	/* Integer: 1 when the statement's row count is this command's */
	MongoDirectPrivateSetsCount
};

/*
 * Executor state of an INSERT, or of a row-by-row UPDATE or DELETE, in
 * ri_FdwState
 */
typedef struct MongoModifyState
{
	CmdType		operation;
	Relation	rel;
	MongoInsertBatch *insert;	/* INSERT: write.c's; the rest is UPDATE's and
								 * DELETE's */
	const char *servername;
	MongoTableOptions options;
	MongoWriteTarget target;
	MongoWriteColumn *columns;	/* UPDATE: the columns it sets */
	int			ncolumns;
	bool		write_nulls;	/* NULL as null, else the field unset */
	MongoWriteColumn id;		/* the _id column */
	uint32		id_types;		/* its bson_type, or 0 */
	AttrNumber	id_junk;		/* the _id in the plan's rows */
	AttrNumber	old_row_junk;	/* DELETE RETURNING: the old row, or 0 */
	int			batch_size;		/* rows per bulk write */
	mongoc_bulk_operation_t *bulk;	/* the batch being built, or NULL */
	bson_t	  **filters;		/* its rows' filters, to name a refused one */
	int			pending;		/* rows in it */
	bson_t	   *row_filter;		/* the filter of the row being queued, and */
	bson_t	   *row_update;		/* its update: libbson's memory, freed by
								 * release_modify_resources after an error */
	uint64		rows;			/* rows sent */
	uint64		matched;		/* documents their filters found */
	uint64		modified;		/* of those, changed (UPDATE) */
	uint64		commands;		/* bulk writes sent */
	MemoryContext row_cxt;		/* reset at every row */
	MemoryContextCallback cleanup;	/* gives the connection back, also after
									 * an error */
} MongoModifyState;

/* Executor state of a direct UPDATE or DELETE, in ForeignScanState */
typedef struct MongoDirectState
{
	CmdType		operation;
	const char *servername;
	MongoTableOptions options;
	MongoWriteTarget target;	/* not opened for EXPLAIN only */
	bson_t	   *filter;			/* NULL: every document; palloc'd */
	List	   *value_exprs;	/* ExprStates: the filter's values, then the
								 * new values of the columns */
	Oid		   *value_types;
	int			filter_values;	/* of those, the filter's */
	MongoWriteColumn *columns;	/* UPDATE: the columns it sets */
	int			ncolumns;
	bool		write_nulls;
	bool		done;			/* the command was sent */
	bool		sets_count;		/* its documents are the row count (not in a
								 * WITH query) */
	uint64		matched;		/* documents the filter found */
	uint64		modified;		/* of those, changed (UPDATE) */
} MongoDirectState;

static List *every_column(Relation rel);
static void begin_insert(ResultRelInfo *rinfo, List *attrs);
static void begin_row_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
							 List *fdw_private);
static void explain_row_modify(ModifyTableState *mtstate,
							   ResultRelInfo *rinfo, List *fdw_private,
							   ExplainState *es);
static void end_row_modify(MongoModifyState *state);
static AttrNumber id_column(Relation rel);
static char *junk_name(const char *what, Oid relid);
static List *set_columns(PlannerInfo *root, Index rtindex, Relation rel);
static void check_settable(Relation rel, AttrNumber attnum);
static void init_columns(Relation rel, List *attnums,
						 MongoWriteColumn **columns, int *ncolumns);
static int	rows_per_write(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						   const MongoTableOptions *options);
static bson_t *row_filter(MongoModifyState *state, TupleTableSlot *planSlot);
static uint64 queue_write(MongoModifyState *state, bson_t *filter,
						  const bson_t *update);
static uint64 flush_writes(MongoModifyState *state);
static void update_document(bson_t *update, MongoWriteColumn *columns,
							int ncolumns, Datum *values, bool *isnull,
							bool write_nulls, int first_placeholder);
static char *write_command_string(CmdType operation,
								  const MongoTableOptions *options,
								  const bson_t *filter, const bson_t *update,
								  bool bulk);
static int64 reply_count(const bson_t *reply, const char *key);
static void release_modify_resources(void *arg);
static bson_t *with_table_filter(const MongoTableOptions *options,
								 bson_t *filter);
static bson_t *plan_filter(Node *node);

/*
 * mongoAddForeignUpdateTargets
 *		UPDATE and DELETE find a row's document by its _id: the scan reads
 *		the _id column as a junk column.  A DELETE with RETURNING also
 *		reads the old row, which RETURNING shows.
 */
void
mongoAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
							 RangeTblEntry *target_rte,
							 Relation target_relation)
{
	AttrNumber	id = id_column(target_relation);
	Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(target_relation),
										   id - 1);
	Oid			relid = RelationGetRelid(target_relation);

	/*
	 * named after the table: the foreign partitions of one parent may have
	 * their _id at other places and of other types
	 */
	add_row_identity_var(root,
						 makeVar(rtindex, id, attr->atttypid, attr->atttypmod,
								 attr->attcollation, 0),
						 rtindex, junk_name(MONGO_ID_JUNK, relid));
	if (root->parse->commandType == CMD_DELETE &&
		root->parse->returningList != NIL)
		add_row_identity_var(root,
							 makeWholeRowVar(target_rte, rtindex, 0, false),
							 rtindex, junk_name(MONGO_OLD_ROW_JUNK, relid));
}

/*
 * junk_name
 *		The name of a table's junk column.
 */
static char *
junk_name(const char *what, Oid relid)
{
	return psprintf("%s_%u", what, relid);
}

/*
 * id_column
 *		The column of the _id field; an error when the table has none.
 */
static AttrNumber
id_column(Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

		if (!attr->attisdropped &&
			strcmp(mongo_get_column_field(RelationGetRelid(rel), i + 1,
										  NameStr(attr->attname)),
				   "_id") == 0)
			return i + 1;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
			 errmsg("foreign table \"%s\" has no column for field _id",
					RelationGetRelationName(rel)),
			 errdetail("UPDATE and DELETE find each row's document by its _id."),
			 errhint("Add a column for _id to the foreign table.")));
	return InvalidAttrNumber;	/* not reached */
}

/*
 * mongoIsForeignRelUpdatable
 *		A collection takes INSERT, UPDATE and DELETE; a mongodump file and a
 *		pipeline's output take nothing.
 */
int
mongoIsForeignRelUpdatable(Relation rel)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	MongoTableOptions options;

	mongo_get_table_options(table, GetForeignServer(table->serverid),
							&options);
	if (options.dump_file != NULL || options.pipeline != NULL)
		return 0;
	return (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE);
}

/*
 * mongoPlanForeignModify
 *		INSERT: the columns it writes, all of them, those it does not name
 *		with their defaults, as for a heap table.  UPDATE and DELETE done
 *		row by row: the columns an UPDATE sets.
 */
List *
mongoPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
					   Index resultRelation, int subplan_index)
{
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	Relation	rel = table_open(rte->relid, NoLock);
	List	   *columns = NIL;

	if (plan->operation == CMD_INSERT)
	{
		if (plan->onConflictAction != ONCONFLICT_NONE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("INSERT ... ON CONFLICT is not supported on mongo_etl foreign tables")));
		columns = every_column(rel);
	}
	else if (plan->operation == CMD_UPDATE)
		columns = set_columns(root, resultRelation, rel);
	table_close(rel, NoLock);

	/* MongoInsertPrivateColumns and MongoModifyPrivateColumns alike */
	return list_make1(columns);
}

/*
 * every_column
 *		The attribute numbers of a table's columns, for an INSERT.
 */
static List *
every_column(Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	List	   *attrs = NIL;

	for (int i = 0; i < tupdesc->natts; i++)
		if (!TupleDescAttr(tupdesc, i)->attisdropped)
			attrs = lappend_int(attrs, i + 1);
	return attrs;
}

/*
 * mongoBeginForeignModify
 *		INSERT: write.c's batch; UPDATE and DELETE: the connection, and the
 *		_id (and the old row) in the rows the plan gives.
 */
void
mongoBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						List *fdw_private, int subplan_index, int eflags)
{
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	if (mtstate->operation == CMD_INSERT)
		begin_insert(rinfo, list_nth(fdw_private, MongoInsertPrivateColumns));
	else
		begin_row_modify(mtstate, rinfo, fdw_private);
}

/*
 * mongoBeginForeignInsert
 *		Rows routed to a foreign partition, or copied in by COPY FROM: an
 *		INSERT of every column.
 */
void
mongoBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	if (mtstate != NULL && mtstate->operation != CMD_INSERT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot move a row into foreign table \"%s\" by UPDATE",
						RelationGetRelationName(rinfo->ri_RelationDesc))));
	begin_insert(rinfo, every_column(rinfo->ri_RelationDesc));
}

/*
 * begin_insert
 *		An INSERT's state: the batch write.c fills, for a table that takes
 *		inserts.
 */
static void
begin_insert(ResultRelInfo *rinfo, List *attrs)
{
	Relation	rel = rinfo->ri_RelationDesc;
	MongoModifyState *state;

	if (mongoIsForeignRelUpdatable(rel) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("foreign table \"%s\" does not allow inserts",
						RelationGetRelationName(rel)),
				 errdetail("A mongodump file or a pipeline's output is read-only.")));
	state = palloc0(sizeof(MongoModifyState));
	state->operation = CMD_INSERT;
	state->rel = rel;
	state->insert = mongo_insert_begin(rinfo, attrs);
	rinfo->ri_FdwState = state;
}

/*
 * mongoGetForeignModifyBatchSize
 *		Rows the executor hands an INSERT at a time: one where RETURNING or
 *		a row trigger needs each row back at once; batch_size where an
 *		AFTER statement trigger needs every row sent when the executor's
 *		last batch is; else a few, the documents kept until batch_size of
 *		them make a command.
 */
int
mongoGetForeignModifyBatchSize(ResultRelInfo *rinfo)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(rinfo->ri_RelationDesc));
	MongoTableOptions options;

	if (rinfo->ri_projectReturning != NULL ||
		(rinfo->ri_TrigDesc != NULL &&
		 (rinfo->ri_TrigDesc->trig_insert_after_row ||
		  rinfo->ri_TrigDesc->trig_insert_before_row)))
		return 1;
	mongo_get_table_options(table, GetForeignServer(table->serverid),
							&options);
	if (rinfo->ri_TrigDesc != NULL &&
		rinfo->ri_TrigDesc->trig_insert_after_statement)
		return options.batch_size;
	return Min(options.batch_size, MONGO_EXECUTOR_BATCH_ROWS);
}

/*
 * mongoExecForeignInsert
 *		One row: one document (mongo_insert_row).
 */
TupleTableSlot *
mongoExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
					   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	MongoModifyState *state = (MongoModifyState *) rinfo->ri_FdwState;

	return mongo_insert_row(state->insert, estate, rinfo, slot);
}

/*
 * mongoExecForeignBatchInsert
 *		A batch of rows: their documents (mongo_insert_rows).
 */
TupleTableSlot **
mongoExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo,
							TupleTableSlot **slots, TupleTableSlot **planSlots,
							int *numSlots)
{
	MongoModifyState *state = (MongoModifyState *) rinfo->ri_FdwState;

	mongo_insert_rows(state->insert, slots, *numSlots);
	return slots;
}

/*
 * mongoExplainForeignModify
 *		INSERT: with VERBOSE the insert command's collection and batch, with
 *		ANALYZE the documents written and the commands that wrote them.
 *		UPDATE and DELETE: explain_row_modify.
 */
void
mongoExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						  List *fdw_private, int subplan_index,
						  ExplainState *es)
{
	MongoModifyState *state = (MongoModifyState *) rinfo->ri_FdwState;
	ForeignTable *table;
	MongoTableOptions options;

	if (mtstate->operation != CMD_INSERT)
	{
		explain_row_modify(mtstate, rinfo, fdw_private, es);
		return;
	}
	table = GetForeignTable(RelationGetRelid(rinfo->ri_RelationDesc));
	mongo_get_table_options(table, GetForeignServer(table->serverid),
							&options);
	if (es->verbose)
		ExplainPropertyText("MongoDB Insert",
							psprintf("{ \"insert\" : \"%s\", \"ordered\" : true, \"$db\" : \"%s\" }, up to %d documents each",
									 mongo_server_text(options.collection),
									 mongo_server_text(options.database),
									 rinfo->ri_BatchSize > 0
									 ? rinfo->ri_BatchSize : 1
									 ),
							es);
	if (es->analyze && state != NULL)
	{
		uint64		documents;
		uint64		commands;

		/* EXPLAIN ANALYZE prints before EndForeignModify sends the rest */
		mongo_insert_flush(state->insert, &documents, &commands);
		ExplainPropertyUInteger("Documents Inserted", NULL, documents, es);
		ExplainPropertyUInteger("Insert Commands", NULL, commands, es);
	}
}

/*
 * mongoEndForeignModify
 *		Send the last batch, and give the connection back.
 */
void
mongoEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	MongoModifyState *state = (MongoModifyState *) rinfo->ri_FdwState;

	if (state == NULL)
		return;
	if (state->operation == CMD_INSERT)
		mongo_insert_end(state->insert);
	else
		end_row_modify(state);
}

/*
 * mongoEndForeignInsert
 *		The end of rows routed to a foreign partition or copied in.
 */
void
mongoEndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	mongoEndForeignModify(estate, rinfo);
}

/*
 * set_columns
 *		The columns an UPDATE sets, checked to be ones it can set.
 */
static List *
set_columns(PlannerInfo *root, Index rtindex, Relation rel)
{
	Bitmapset  *updated = mongo_updated_columns(root, rtindex,
												planner_rt_fetch(rtindex, root));
	List	   *columns = NIL;
	int			col = -1;

	while ((col = bms_next_member(updated, col)) >= 0)
	{
		AttrNumber	attnum = col + FirstLowInvalidHeapAttributeNumber;

		if (attnum <= InvalidAttrNumber)
			elog(ERROR, "system-column update is not supported");
		check_settable(rel, attnum);
		columns = lappend_int(columns, attnum);
	}
	return columns;
}

/*
 * check_settable
 *		An UPDATE cannot change a document's _id: MongoDB refuses it.
 */
static void
check_settable(Relation rel, AttrNumber attnum)
{
	if (attnum == id_column(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot update column \"%s\" of foreign table \"%s\"",
						NameStr(TupleDescAttr(RelationGetDescr(rel),
											  attnum - 1)->attname),
						RelationGetRelationName(rel)),
				 errdetail("It is the document's _id, which MongoDB does not change."),
				 errhint("Delete the row and insert it with the new _id.")));
}

/*
 * begin_row_modify
 *		Take the connection, and find the _id (and the old row) in the rows
 *		the plan gives.
 */
static void
begin_row_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
				 List *fdw_private)
{
	Relation	rel = rinfo->ri_RelationDesc;
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	ForeignServer *server = GetForeignServer(table->serverid);
	MongoModifyState *state;
	Plan	   *subplan;

	state = palloc0(sizeof(MongoModifyState));
	state->operation = mtstate->operation;
	state->rel = rel;
	state->servername = server->servername;
	mongo_get_table_options(table, server, &state->options);
	init_columns(rel, list_nth(fdw_private, MongoModifyPrivateColumns),
				 &state->columns, &state->ncolumns);
	state->write_nulls = mongo_write_nulls(rel);
	mongo_init_write_column(&state->id, rel, id_column(rel), "update");
	state->id_types = mongo_column_bson_types(RelationGetRelid(rel),
											  state->id.attnum);
	subplan = outerPlanState(mtstate)->plan;
	state->id_junk =
		ExecFindJunkAttributeInTlist(subplan->targetlist,
									 junk_name(MONGO_ID_JUNK,
											   RelationGetRelid(rel)));
	if (!AttributeNumberIsValid(state->id_junk))
		elog(ERROR, "could not find the junk column of _id");
	state->old_row_junk =
		ExecFindJunkAttributeInTlist(subplan->targetlist,
									 junk_name(MONGO_OLD_ROW_JUNK,
											   RelationGetRelid(rel)));

	state->batch_size = rows_per_write(mtstate, rinfo, &state->options);
	state->filters = palloc(sizeof(bson_t *) * state->batch_size);
	state->row_cxt = AllocSetContextCreate(CurrentMemoryContext,
										   "mongo_etl modify row",
										   ALLOCSET_DEFAULT_SIZES);

	state->cleanup.func = release_modify_resources;
	state->cleanup.arg = state;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &state->cleanup);
	mongo_open_write_target(&state->target, server, GetUserId(),
							&state->options);
	rinfo->ri_FdwState = state;
}

/*
 * rows_per_write
 *		RETURNING, row triggers and AFTER statement triggers need each row
 *		written at once (the last batch would be sent after the triggers
 *		ran); else batch_size rows go in one bulk write.
 */
static int
rows_per_write(ModifyTableState *mtstate, ResultRelInfo *rinfo,
			   const MongoTableOptions *options)
{
	TriggerDesc *triggers = rinfo->ri_TrigDesc;

	if (((ModifyTable *) mtstate->ps.plan)->returningLists != NIL ||
		(triggers != NULL &&
		 (triggers->trig_update_after_row || triggers->trig_update_before_row ||
		  triggers->trig_delete_after_row || triggers->trig_delete_before_row ||
		  triggers->trig_update_after_statement ||
		  triggers->trig_delete_after_statement)))
		return 1;
	return options->batch_size;
}

/*
 * init_columns
 *		The columns a write sets, described.
 */
static void
init_columns(Relation rel, List *attnums, MongoWriteColumn **columns,
			 int *ncolumns)
{
	ListCell   *lc;

	*columns = palloc0(sizeof(MongoWriteColumn) * Max(list_length(attnums), 1));
	*ncolumns = 0;
	foreach(lc, attnums)
		mongo_init_write_column(&(*columns)[(*ncolumns)++], rel,
								lfirst_int(lc), "update");
}

/*
 * mongoExecForeignUpdate
 *		One row: an update of its document, $set of the new values.  A row
 *		written at once whose document is gone is not updated (NULL).
 */
TupleTableSlot *
mongoExecForeignUpdate(EState *estate, ResultRelInfo *rinfo,
					   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	MongoModifyState *state = (MongoModifyState *) rinfo->ri_FdwState;
	MemoryContext oldcxt;
	bson_t	   *filter;
	Datum	   *values;
	bool	   *isnull;
	uint64		found;

	MemoryContextReset(state->row_cxt);
	oldcxt = MemoryContextSwitchTo(state->row_cxt);
	filter = row_filter(state, planSlot);
	slot_getallattrs(slot);
	values = palloc(sizeof(Datum) * Max(state->ncolumns, 1));
	isnull = palloc(sizeof(bool) * Max(state->ncolumns, 1));
	for (int i = 0; i < state->ncolumns; i++)
	{
		values[i] = slot->tts_values[state->columns[i].attnum - 1];
		isnull[i] = slot->tts_isnull[state->columns[i].attnum - 1];
	}
	state->row_update = bson_new();
	update_document(state->row_update, state->columns, state->ncolumns,
					values, isnull, state->write_nulls, 0);
	found = queue_write(state, filter, state->row_update);
	bson_destroy(state->row_update);
	state->row_update = NULL;
	MemoryContextSwitchTo(oldcxt);
	if (state->batch_size == 1 && found == 0)
		return NULL;
	return slot;
}

/*
 * mongoExecForeignDelete
 *		One row: a delete of its document.  With RETURNING, the row read is
 *		the row deleted.
 */
TupleTableSlot *
mongoExecForeignDelete(EState *estate, ResultRelInfo *rinfo,
					   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	MongoModifyState *state = (MongoModifyState *) rinfo->ri_FdwState;
	MemoryContext oldcxt;
	uint64		found;

	MemoryContextReset(state->row_cxt);
	oldcxt = MemoryContextSwitchTo(state->row_cxt);
	found = queue_write(state, row_filter(state, planSlot), NULL);
	MemoryContextSwitchTo(oldcxt);
	if (state->batch_size == 1 && found == 0)
		return NULL;
	if (AttributeNumberIsValid(state->old_row_junk))
	{
		bool		isnull;
		Datum		old_row = ExecGetJunkAttribute(planSlot,
												   state->old_row_junk,
												   &isnull);
		HeapTupleData tuple;

		if (isnull)
			elog(ERROR, "the old row of a DELETE is NULL");
		tuple.t_data = DatumGetHeapTupleHeader(old_row);
		tuple.t_len = HeapTupleHeaderGetDatumLength(tuple.t_data);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = RelationGetRelid(state->rel);
		/* a heap tuple slot keeps the tuple: give it its own copy */
		ExecForceStoreHeapTuple(heap_copytuple(&tuple), slot, true);
	}
	return slot;
}

/*
 * row_filter
 *		The filter that finds a row's document: {_id: value}, the _id the
 *		scan read written as INSERT writes it; a text _id in the forms that
 *		read as its text (mongo_append_text_forms), {$in: [...]} when there
 *		are two: the string, and the ObjectId of its 24 hexadecimal digits,
 *		as far as the column's bson_type takes them (both, undeclared).
 *		It is state->row_filter until queue_write adds it to the batch:
 *		libbson mallocs it, and release_modify_resources must free it when
 *		an error is raised before (an _id or a new value that cannot be
 *		written).
 */
static bson_t *
row_filter(MongoModifyState *state, TupleTableSlot *planSlot)
{
	bool		isnull;
	Datum		id = ExecGetJunkAttribute(planSlot, state->id_junk, &isnull);
	bson_t	   *filter;
	Oid			type = state->id.typid;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("cannot %s a row of foreign table \"%s\" whose _id is NULL",
						state->operation == CMD_UPDATE ? "update" : "delete",
						RelationGetRelationName(state->rel)),
				 errdetail("Its document's _id did not fit the _id column's type %s, so on_type_mismatch read it as NULL, and the document cannot be found.",
						   format_type_be(type))));
	filter = bson_new();
	state->row_filter = filter;
	if (type == TEXTOID || type == VARCHAROID || type == BPCHAROID)
	{
		uint32		forms = state->id_types != 0 ? state->id_types :
			MONGO_BSON_TYPE_BIT(BSON_TYPE_UTF8) |
			MONGO_BSON_TYPE_BIT(BSON_TYPE_OID);
		bson_t		list = BSON_INITIALIZER;
		bson_iter_t only;
		int			n = 0;
		text	   *id_text = DatumGetTextPP(id);
		int			length = VARSIZE_ANY_EXHDR(id_text);
		const char *utf8 = mongo_utf8_text(VARDATA_ANY(id_text), &length,
										   state->id.name);

		mongo_append_text_forms(&list, &n, pnstrdup(utf8, length), forms);
		if (n == 1 && bson_iter_init_find(&only, &list, "0"))
			bson_append_iter(filter, "_id", 3, &only);
		else
		{
			bson_t		test;

			BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &test);
			BSON_APPEND_ARRAY(&test, "$in", &list);
			bson_append_document_end(filter, &test);
		}
		bson_destroy(&list);
	}
	else
		mongo_append_column_value(filter, "_id", id, &state->id);
	return filter;
}

/*
 * queue_write
 *		Add a row's update (or, update NULL, delete) to the bulk write, and
 *		send it when it holds batch_size rows.  The documents found by the
 *		write this sent, or 0.
 */
static uint64
queue_write(MongoModifyState *state, bson_t *filter, const bson_t *update)
{
	mongoc_collection_t *collection = state->target.collection;
	bson_error_t error;
	bool		ok;

	if (state->bulk == NULL)
	{
		bson_t	   *opts = BCON_NEW("ordered", BCON_BOOL(true));

		state->bulk =
			mongoc_collection_create_bulk_operation_with_opts(collection, opts);
		bson_destroy(opts);
	}
	/* the batch's now: sent and freed with it, or freed after an error */
	state->filters[state->pending++] = filter;
	state->row_filter = NULL;
	if (update != NULL)
		ok = mongoc_bulk_operation_update_many_with_opts(state->bulk, filter,
														 update, NULL, &error);
	else
		ok = mongoc_bulk_operation_remove_many_with_opts(state->bulk, filter,
														 NULL, &error);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("cannot %s a document of \"%s.%s\"",
						update != NULL ? "update" : "delete",
						state->options.database, state->options.collection),
				 errdetail_internal("%s", error.message)));
	if (state->pending < state->batch_size)
		return 0;
	return flush_writes(state);
}

/*
 * flush_writes
 *		Send the rows queued in one ordered bulk write.  The documents it
 *		found (matched or deleted).
 */
static uint64
flush_writes(MongoModifyState *state)
{
	bool		update = state->operation == CMD_UPDATE;
	int			n = state->pending;
	bson_t		reply;
	bson_error_t error;
	int64		found;

	if (n == 0)
		return 0;
	if (message_level_is_interesting(DEBUG1))
	{
		char	   *json = bson_as_canonical_extended_json(state->filters[0],
														   NULL);
		char	   *first = pstrdup(json);

		/* freed before the message, which raises a pending cancel */
		bson_free(json);
		ereport(DEBUG1,
				(errmsg_internal("mongo_etl: %s %d documents of \"%s.%s\", the first %s",
								 update ? "updating" : "deleting", n,
								 state->options.database,
								 state->options.collection, first)));
		pfree(first);
	}
	state->commands++;
	if (!mongoc_bulk_operation_execute(state->bulk, &reply, &error))
	{
		mongo_report_write_error(state->servername, &state->options,
								 update ? "an update of" : "a delete from",
								 update ? "updated" : "deleted", &reply,
								 &error, state->filters, n,
								 reply_count(&reply,
											 update ? "nMatched" : "nRemoved"));
	}
	found = reply_count(&reply, update ? "nMatched" : "nRemoved");
	state->modified += Max(reply_count(&reply, "nModified"), 0);
	bson_destroy(&reply);
	mongoc_bulk_operation_destroy(state->bulk);
	state->bulk = NULL;
	for (int i = 0; i < n; i++)
		bson_destroy(state->filters[i]);
	state->pending = 0;
	state->rows += n;
	state->matched += Max(found, 0);
	return Max(found, 0);
}

/*
 * reply_count
 *		A count in a write's reply, or 0.
 */
static int64
reply_count(const bson_t *reply, const char *key)
{
	bson_iter_t iter;

	if (bson_iter_init_find(&iter, reply, key) &&
		BSON_ITER_HOLDS_NUMBER(&iter))
		return bson_iter_as_int64(&iter);
	return 0;
}

/*
 * update_document
 *		An update's operators: $set of the new values, $unset of the NULLs
 *		when write_nulls is false.  With first_placeholder above 0, values
 *		are not known (EXPLAIN): each is {"$param": n}, numbered from it.
 */
static void
update_document(bson_t *update, MongoWriteColumn *columns, int ncolumns,
				Datum *values, bool *isnull, bool write_nulls,
				int first_placeholder)
{
	bson_t		set;
	bson_t		unset;
	bool		any_unset = false;

	BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
	for (int i = 0; i < ncolumns; i++)
	{
		MongoWriteColumn *col = &columns[i];

		if (first_placeholder > 0)
		{
			bson_t		placeholder;

			BSON_APPEND_DOCUMENT_BEGIN(&set, col->field, &placeholder);
			BSON_APPEND_INT32(&placeholder, "$param", first_placeholder + i);
			bson_append_document_end(&set, &placeholder);
		}
		else if (!isnull[i])
			mongo_append_column_value(&set, col->field, values[i], col);
		else if (write_nulls)
			BSON_APPEND_NULL(&set, col->field);
		else
			any_unset = true;
	}
	bson_append_document_end(update, &set);
	if (!any_unset)
		return;
	BSON_APPEND_DOCUMENT_BEGIN(update, "$unset", &unset);
	for (int i = 0; i < ncolumns; i++)
		if (isnull[i])
			BSON_APPEND_UTF8(&unset, columns[i].field, "");
	bson_append_document_end(update, &unset);
}

/*
 * write_command_string
 *		An update or delete command as EXPLAIN VERBOSE shows it; a bulk
 *		write's is ordered.
 */
static char *
write_command_string(CmdType operation, const MongoTableOptions *options,
					 const bson_t *filter, const bson_t *update, bool bulk)
{
	bson_t		command = BSON_INITIALIZER;
	bson_t		list;
	bson_t		item;
	bson_t		empty = BSON_INITIALIZER;
	char	   *json;

	BSON_APPEND_UTF8(&command, operation == CMD_UPDATE ? "update" : "delete",
					 options->collection);
	BSON_APPEND_ARRAY_BEGIN(&command,
							operation == CMD_UPDATE ? "updates" : "deletes",
							&list);
	BSON_APPEND_DOCUMENT_BEGIN(&list, "0", &item);
	BSON_APPEND_DOCUMENT(&item, "q", filter != NULL ? filter : &empty);
	if (operation == CMD_UPDATE)
	{
		BSON_APPEND_DOCUMENT(&item, "u", update);
		BSON_APPEND_BOOL(&item, "multi", true);
	}
	else
		BSON_APPEND_INT32(&item, "limit", 0);
	bson_append_document_end(&list, &item);
	bson_append_array_end(&command, &list);
	if (bulk)
		BSON_APPEND_BOOL(&command, "ordered", true);
	BSON_APPEND_UTF8(&command, "$db", options->database);
	json = bson_as_relaxed_extended_json(&command, NULL);
	bson_destroy(&command);
	return mongo_server_json(json);
}

/*
 * explain_row_modify
 *		VERBOSE: a row's update or delete, and how many go in a bulk write;
 *		ANALYZE: the documents found and changed, the rows whose document
 *		was gone, and the bulk writes.
 */
static void
explain_row_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
				   List *fdw_private, ExplainState *es)
{
	MongoModifyState *state = (MongoModifyState *) rinfo->ri_FdwState;
	CmdType		operation = mtstate->operation;

	if (es->verbose)
	{
		Relation	rel = rinfo->ri_RelationDesc;
		ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
		MongoTableOptions options;
		MongoWriteColumn *columns;
		int			ncolumns;
		bson_t	   *shown;
		bson_t		update = BSON_INITIALIZER;
		char	   *command;

		mongo_get_table_options(table, GetForeignServer(table->serverid),
								&options);
		/* raises an error for a column it cannot set, before libbson mallocs */
		init_columns(rel, list_nth(fdw_private, MongoModifyPrivateColumns),
					 &columns, &ncolumns);
		shown = BCON_NEW("_id", "{", "$param", BCON_INT32(1), "}");
		update_document(&update, columns, ncolumns, NULL, NULL, true, 2);
		command = write_command_string(operation, &options, shown, &update,
									   true);
		bson_destroy(&update);
		bson_destroy(shown);
		ExplainPropertyText(operation == CMD_UPDATE ? "MongoDB Update"
							: "MongoDB Delete",
							psprintf("%s, a row each, up to %d in a bulk write",
									 command,
									 rows_per_write(mtstate, rinfo, &options)),
							es);
	}
	if (es->analyze && state != NULL)
	{
		/* EXPLAIN ANALYZE prints before EndForeignModify sends the rest */
		flush_writes(state);
		ExplainPropertyUInteger(operation == CMD_UPDATE ? "Documents Matched"
								: "Documents Deleted", NULL, state->matched,
								es);
		if (operation == CMD_UPDATE)
			ExplainPropertyUInteger("Documents Modified", NULL,
									state->modified, es);
		ExplainPropertyUInteger("Rows Without Document", NULL,
								state->rows > state->matched
								? state->rows - state->matched : 0, es);
		ExplainPropertyUInteger("Bulk Writes", NULL, state->commands, es);
	}
}

/*
 * end_row_modify
 *		Send the last batch, report rows whose document was gone, and give
 *		the connection back.
 */
static void
end_row_modify(MongoModifyState *state)
{
	flush_writes(state);
	if (state->rows > state->matched)
		ereport(WARNING,
				(errmsg("no document of \"%s.%s\" was found for " UINT64_FORMAT " of the " UINT64_FORMAT " rows to %s in foreign table \"%s\"",
						state->options.database, state->options.collection,
						state->rows - state->matched, state->rows,
						state->operation == CMD_UPDATE ? "update" : "delete",
						RelationGetRelationName(state->rel)),
				 state->batch_size == 1
				 ? errdetail("Their documents were deleted, or their _id changed, after the scan read them; the statement's row count leaves them out.")
				 : errdetail("Their documents were deleted, or their _id changed, after the scan read them; the statement's row count includes them.")));
	else if (state->matched > state->rows)
		ereport(WARNING,
				(errmsg("the filters of " UINT64_FORMAT " rows found " UINT64_FORMAT " documents of \"%s.%s\"",
						state->rows, state->matched,
						state->options.database, state->options.collection),
				 errdetail("A text _id finds a string and an ObjectId of the same hexadecimal digits."),
				 errhint("Declare the _id column's bson_type.")));
	release_modify_resources(state);
}

/*
 * release_modify_resources
 *		Free the bulk write, its filters, a row's filter and update not
 *		queued yet, and the collection handle, and give the connection
 *		back: at the end of the statement, or when its memory goes after an
 *		error (the transaction's abort frees no memory libbson malloc'd).
 */
static void
release_modify_resources(void *arg)
{
	MongoModifyState *state = (MongoModifyState *) arg;

	if (state->bulk != NULL)
		mongoc_bulk_operation_destroy(state->bulk);
	state->bulk = NULL;
	for (int i = 0; i < state->pending; i++)
		bson_destroy(state->filters[i]);
	state->pending = 0;
	if (state->row_filter != NULL)
		bson_destroy(state->row_filter);
	state->row_filter = NULL;
	if (state->row_update != NULL)
		bson_destroy(state->row_update);
	state->row_update = NULL;
	mongo_close_write_target(&state->target);
}

/*
 * mongoPlanDirectModify
 *		Send an UPDATE or DELETE as one command when MongoDB picks exactly
 *		the documents of the rows PostgreSQL would: the plan is a scan of
 *		the table alone whose filter holds every WHERE clause exactly, no
 *		column leaves rows out (on_type_mismatch 'skip'), there is no
 *		RETURNING, and each new value is known before any row is read (no
 *		column of the table, nothing volatile, no subquery).
 */
bool
mongoPlanDirectModify(PlannerInfo *root, ModifyTable *plan,
					  Index resultRelation, int subplan_index)
{
	CmdType		operation = plan->operation;
	Plan	   *subplan = outerPlan(plan);
	ForeignScan *fscan;
	RangeTblEntry *rte;
	Relation	rel;
	Node	   *filter;
	List	   *columns = NIL;
	List	   *values = NIL;
	bool		direct = true;

	if ((operation != CMD_UPDATE && operation != CMD_DELETE) ||
		plan->returningLists != NIL ||
		list_length(plan->resultRelations) != 1 ||
		subplan == NULL || !IsA(subplan, ForeignScan))
		return false;
	fscan = (ForeignScan *) subplan;
	/* the scan's filter must send every WHERE clause exactly */
	if (fscan->scan.scanrelid != resultRelation ||
		intVal(list_nth(fscan->fdw_private, MongoScanPrivateExact)) == 0)
		return false;
	filter = list_nth(fscan->fdw_private, MongoScanPrivateFilter);

	rte = planner_rt_fetch(resultRelation, root);
	rel = table_open(rte->relid, NoLock);
	for (int i = 0; i < RelationGetDescr(rel)->natts && direct; i++)
		if (!TupleDescAttr(RelationGetDescr(rel), i)->attisdropped &&
			mongo_column_mismatch_policy(GetForeignTable(rte->relid),
										 i + 1) == MONGO_MISMATCH_SKIP)
			direct = false;
	if (direct && operation == CMD_UPDATE)
	{
		List	   *tlist;
		List	   *attnums;
		ListCell   *lc;
		ListCell   *lc2;

		get_translated_update_targetlist(root, resultRelation, &tlist,
										 &attnums);
		forboth(lc, tlist, lc2, attnums)
		{
			Expr	   *expr = lfirst_node(TargetEntry, lc)->expr;

			check_settable(rel, lfirst_int(lc2));
			if (contain_var_clause((Node *) expr) ||
				contain_volatile_functions((Node *) expr) ||
				contain_subplans((Node *) expr) ||
				contain_exec_param((Node *) expr, NIL))
				direct = false;
			values = lappend(values, expr);
			columns = lappend_int(columns, lfirst_int(lc2));
		}
	}
	table_close(rel, NoLock);
	if (!direct)
		return false;

	fscan->operation = operation;
	fscan->resultRelation = resultRelation;
	fscan->fdw_private = list_make4(filter, columns,
									makeInteger(list_length(fscan->fdw_exprs)),
									makeInteger(plan->canSetTag));
	fscan->fdw_exprs = list_concat(fscan->fdw_exprs, values);
	/* MongoDB applies the WHERE clauses; no row comes back to test */
	fscan->scan.plan.qual = NIL;
	return true;
}

/*
 * mongoBeginDirectModify
 *		Prepare the command's filter and new values; the command is sent at
 *		the first IterateDirectModify.
 */
void
mongoBeginDirectModify(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	Relation	rel = node->resultRelInfo->ri_RelationDesc;
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	ForeignServer *server = GetForeignServer(table->serverid);
	MongoDirectState *state = palloc0(sizeof(MongoDirectState));
	ListCell   *lc;
	Oid			user;

	node->fdw_state = state;
	state->operation = fsplan->operation;
	state->servername = server->servername;
	mongo_get_table_options(table, server, &state->options);
	state->filter = plan_filter(list_nth(fsplan->fdw_private,
										 MongoDirectPrivateFilter));
	init_columns(rel, list_nth(fsplan->fdw_private, MongoDirectPrivateColumns),
				 &state->columns, &state->ncolumns);
	state->filter_values = intVal(list_nth(fsplan->fdw_private,
										   MongoDirectPrivateFilterValues));
	state->sets_count = intVal(list_nth(fsplan->fdw_private,
										MongoDirectPrivateSetsCount)) != 0;
	state->value_exprs = ExecInitExprList(fsplan->fdw_exprs,
										  (PlanState *) node);
	state->value_types = palloc(sizeof(Oid) *
								Max(list_length(fsplan->fdw_exprs), 1));
	foreach(lc, fsplan->fdw_exprs)
		state->value_types[foreach_current_index(lc)] =
		exprType((Node *) lfirst(lc));
	state->write_nulls = mongo_write_nulls(rel);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	user = mongo_plan_user(fsplan, node->ss.ps.state, fsplan->resultRelation);
	mongo_open_write_target(&state->target, server, user, &state->options);
}

/*
 * mongoIterateDirectModify
 *		Send the command, once; the documents it found are the statement's
 *		row count.  No row comes back.
 */
TupleTableSlot *
mongoIterateDirectModify(ForeignScanState *node)
{
	MongoDirectState *state = (MongoDirectState *) node->fdw_state;
	mongoc_collection_t *collection = state->target.collection;
	EState	   *estate = node->ss.ps.state;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	int			nvalues = list_length(state->value_exprs);
	Datum	   *values;
	bool	   *isnull;
	bson_t	   *volatile filter = NULL;
	bson_t	   *update;
	bson_t		reply;
	bson_error_t error;
	bool		ok;
	ListCell   *lc;
	MemoryContext oldcxt;

	if (state->done)
		return ExecClearTuple(node->ss.ss_ScanTupleSlot);
	state->done = true;

	oldcxt = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
	values = palloc(sizeof(Datum) * Max(nvalues, 1));
	isnull = palloc(sizeof(bool) * Max(nvalues, 1));
	foreach(lc, state->value_exprs)
		values[foreach_current_index(lc)] =
		ExecEvalExpr((ExprState *) lfirst(lc), econtext,
					 &isnull[foreach_current_index(lc)]);
	MemoryContextSwitchTo(oldcxt);

	/*
	 * libbson mallocs the filter and the update, which the transaction's
	 * abort does not free: an error raised while they are made (a value
	 * that cannot be written, a cancel at the DEBUG1 message) frees them
	 * here.  libmongoc raises none; its errors are raised after they go.
	 */
	update = bson_new();
	PG_TRY();
	{
		filter = with_table_filter(&state->options,
								   state->filter == NULL ? NULL
								   : mongo_bind_filter(state->filter, values,
													   isnull,
													   state->value_types));
		if (state->operation == CMD_UPDATE)
			update_document(update, state->columns, state->ncolumns,
							values + state->filter_values,
							isnull + state->filter_values,
							state->write_nulls, 0);

		if (message_level_is_interesting(DEBUG1))
		{
			char	   *json = write_command_string(state->operation,
													&state->options, filter,
													update, false);

			ereport(DEBUG1, (errmsg_internal("mongo_etl: %s", json)));
		}
	}
	PG_CATCH();
	{
		if (filter != NULL)
			bson_destroy(filter);
		bson_destroy(update);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (state->operation == CMD_UPDATE)
		ok = mongoc_collection_update_many(collection, filter, update, NULL,
										   &reply, &error);
	else
		ok = mongoc_collection_delete_many(collection, filter, NULL, &reply,
										   &error);
	bson_destroy(filter);
	bson_destroy(update);
	if (!ok)
	{
		int64		done = reply_count(&reply,
									   state->operation == CMD_UPDATE
									   ? "modifiedCount" : "deletedCount");

		mongo_report_write_error(state->servername, &state->options,
								 state->operation == CMD_UPDATE
								 ? "an update of" : "a delete from",
								 state->operation == CMD_UPDATE
								 ? "updated" : "deleted",
								 &reply, &error, NULL, 0, done);
	}
	if (state->operation == CMD_UPDATE)
	{
		state->matched = reply_count(&reply, "matchedCount");
		state->modified = reply_count(&reply, "modifiedCount");
	}
	else
		state->matched = reply_count(&reply, "deletedCount");
	bson_destroy(&reply);
	if (state->sets_count)
		estate->es_processed += state->matched;
	return ExecClearTuple(node->ss.ss_ScanTupleSlot);
}

/*
 * with_table_filter
 *		The filter of a direct command: the statement's (NULL for none,
 *		freed) ANDed with the table's option filter, which every scan of the
 *		table applies too.  Never NULL.
 */
static bson_t *
with_table_filter(const MongoTableOptions *options, bson_t *filter)
{
	bson_t	   *both;
	bson_t		parts;

	if (options->filter == NULL)
		return filter != NULL ? filter : bson_new();
	both = bson_new();
	BSON_APPEND_ARRAY_BEGIN(both, "$and", &parts);
	BSON_APPEND_DOCUMENT(&parts, "0", options->filter);
	if (filter != NULL)
		BSON_APPEND_DOCUMENT(&parts, "1", filter);
	bson_append_array_end(both, &parts);
	if (filter != NULL)
		bson_destroy(filter);
	return both;
}

/*
 * plan_filter
 *		The filter of a direct command as mongo_bson_node stored it in the
 *		plan, or NULL; read in place, in palloc'd memory.  mongo_node_bson's
 *		copy would be libbson's malloc'd memory, which an error raised
 *		before mongoEndDirectModify would leave behind: the transaction's
 *		abort frees palloc'd memory only.  The plan lasts as long as the
 *		executor.
 */
static bson_t *
plan_filter(Node *node)
{
	Const	   *bytes = castNode(Const, node);
	bytea	   *data;
	bson_t	   *filter;
	void	   *allocation;

	if (bytes->constisnull)
		return NULL;
	data = DatumGetByteaPP(bytes->constvalue);
	filter = mongo_palloc0_bson_aligned(allocation, sizeof(bson_t));
	if (!bson_init_static(filter, (const uint8_t *) VARDATA_ANY(data),
						  VARSIZE_ANY_EXHDR(data)))
		elog(ERROR, "invalid filter in the plan of a direct modification");
	return filter;
}

/*
 * mongoEndDirectModify
 *		Give the connection back.
 */
void
mongoEndDirectModify(ForeignScanState *node)
{
	MongoDirectState *state = (MongoDirectState *) node->fdw_state;

	if (state == NULL)
		return;
	mongo_close_write_target(&state->target);
}

/*
 * mongoExplainDirectModify
 *		VERBOSE: the command, with {"$param": n} for values known when it
 *		runs; ANALYZE: the documents it found and changed.
 */
void
mongoExplainDirectModify(ForeignScanState *node, ExplainState *es)
{
	MongoDirectState *state = (MongoDirectState *) node->fdw_state;

	if (es->verbose)
	{
		ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
		int			nvalues = list_length(fsplan->fdw_exprs);
		bson_t	   *volatile filter = NULL;
		bson_t	   *update;
		Datum	   *values = palloc0(sizeof(Datum) * Max(nvalues, 1));
		bool	   *isnull = palloc0(sizeof(bool) * Max(nvalues, 1));
		ListCell   *lc;
		bool		constants = true;

		/* new values shown when they are constants, else as placeholders */
		for_each_from(lc, fsplan->fdw_exprs, state->filter_values)
		{
			Node	   *expr = lfirst(lc);
			int			i = foreach_current_index(lc);

			if (!IsA(expr, Const))
				constants = false;
			else
			{
				values[i] = ((Const *) expr)->constvalue;
				isnull[i] = ((Const *) expr)->constisnull;
			}
		}

		/*
		 * libbson's memory, freed also when a constant cannot be written
		 * (update_document raises an error)
		 */
		update = bson_new();
		PG_TRY();
		{
			filter = with_table_filter(&state->options,
									   state->filter == NULL ? NULL
									   : mongo_bind_filter(state->filter,
														   NULL, NULL, NULL));
			if (state->operation == CMD_UPDATE)
				update_document(update, state->columns, state->ncolumns,
								values + state->filter_values,
								isnull + state->filter_values,
								state->write_nulls,
								constants ? 0 : state->filter_values + 1);
			ExplainPropertyText(state->operation == CMD_UPDATE
								? "MongoDB Update" : "MongoDB Delete",
								write_command_string(state->operation,
													 &state->options, filter,
													 update, false),
								es);
		}
		PG_FINALLY();
		{
			if (filter != NULL)
				bson_destroy(filter);
			bson_destroy(update);
		}
		PG_END_TRY();
	}
	if (es->analyze)
	{
		ExplainPropertyUInteger(state->operation == CMD_UPDATE
								? "Documents Matched" : "Documents Deleted",
								NULL, state->matched, es);
		if (state->operation == CMD_UPDATE)
			ExplainPropertyUInteger("Documents Modified", NULL,
									state->modified, es);
	}
}
