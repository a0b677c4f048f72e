/*-------------------------------------------------------------------------
 *
 * aggregate.c
 *		  GROUP BY and aggregates answered by MongoDB: which a query's can
 *		  be, the $group stage that computes them as PostgreSQL would, and
 *		  the rows made of the groups MongoDB returns.
 *
 * A grouped scan sends one aggregation: the pushed WHERE clauses, then
 * {$group: {_id: <keys>, a<n>: ..., n<n>: ..., x<n>: ...}} and a $project
 * that turns the accumulators of groups without a value into nulls.  For
 * the item at position n of the scan's target list:
 *
 * - a key: its field, as _id (one key) or _id.k<i> (several, each through
 *   $ifNull, so that a missing field and a null are one group, as NULLs
 *   are one group in PostgreSQL);
 * - count(*): a<n> = {$sum: 1};
 * - count(col), sum, avg, min, max of a column: n<n>, the values that are
 *   not null, missing or undefined (which the scan reads as NULL); x<n>,
 *   the values of a BSON type the column does not declare, which the scan
 *   would refuse (the row's query fails then, as without pushdown); and
 *   a<n>: the count, or $sum of the values (of $toDecimal of them for an
 *   int8 column, whose sum is numeric: exact, where MongoDB's own $sum of
 *   int64 values overflows into a double), or $min/$max of the values with
 *   null and missing replaced by MaxKey/MinKey (DocumentDB up to 0.113
 *   answers $min of a number and a null with null), and null when n<n> is
 *   0, as sum, min and max of no value are NULL.  avg is the exact sum
 *   divided by n<n> here, as numeric_div divides in PostgreSQL's avg.
 *
 * Only columns of integers are aggregated, declaring their BSON types
 * with bson_type (int for integer; int and long for bigint, and for
 * numeric without a typmod, summed as bigint is: every value then
 * converts exactly and compares as in PostgreSQL) and reading a value of
 * another type as an error (on_type_mismatch 'error'); keys as
 * mongo_comparable_key says.  A server that does not evaluate these operators
 * (FerretDB 1.x: $group knows $sum and $count only) gets count(*) alone,
 * by one key or none (mongo_server_pipelines decides, when planning asks
 * the server about the collection).
 *
 * IDENTIFICATION
 *		  aggregate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_aggregate.h"
#include "foreign/foreign.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/tlist.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/typcache.h"

#include "mongo_etl.h"

/* BSON types the scan reads as NULL */
static const char *const null_type_names[] = {"null", "missing", "undefined"};

static bool aggregable_column(Oid relid, Expr *expr);
static MongoGroupItemKind aggregate_kind(Aggref *aggref);
static bool item_sendable(Expr *expr, Oid relid, Index varno, List *keys,
						  bool server_pipelines);
static List *group_keys(PlannerInfo *root);
static const char *column_field(Oid relid, AttrNumber attnum);
static void append_counted(bson_t *group, const char *name,
						   const char *field, uint32 types, bool values);
static void append_type_names(bson_t *array, uint32 types, bool nulls);

/*
 * mongo_group_sendable
 *		Whether MongoDB can compute the grouped relation: every GROUP BY
 *		key a groupable column of the scanned table, every item of the
 *		grouped target and every aggregate of HAVING (which stays local) a
 *		key or an aggregate MongoDB computes exactly.  Without
 *		server_pipelines, count(*) alone, by one key or none.  The caller
 *		checked that there is no grouping set and that MongoDB decides
 *		every WHERE clause.
 */
bool
mongo_group_sendable(PlannerInfo *root, RelOptInfo *input_rel,
					 PathTarget *target, Oid relid, bool bytewise_strings,
					 bool server_pipelines)
{
	List	   *keys = group_keys(root);
	List	   *having;
	ListCell   *lc;

	if (list_length(root->parse->groupClause) != list_length(keys) ||
		(!server_pipelines && list_length(keys) > 1))
		return false;
	foreach(lc, keys)
	{
		Var		   *key = lfirst(lc);

		if (!IsA(key, Var) || (Index) key->varno != input_rel->relid ||
			!mongo_comparable_key(relid, key, bytewise_strings))
			return false;
	}
	foreach(lc, target->exprs)
	{
		if (!item_sendable(lfirst(lc), relid, input_rel->relid, keys,
						   server_pipelines))
			return false;
	}
	having = pull_var_clause(root->parse->havingQual,
							 PVC_INCLUDE_AGGREGATES);
	foreach(lc, having)
	{
		if (!item_sendable(lfirst(lc), relid, input_rel->relid, keys,
						   server_pipelines))
			return false;
	}
	/* a HAVING needs what only PostgreSQL evaluates: not without them */
	return having == NIL || server_pipelines;
}

/*
 * mongo_group_scan_tlist
 *		The target list of a grouped scan: the grouped relation's items,
 *		and the aggregates HAVING (evaluated on the scan's rows) reads.
 */
List *
mongo_group_scan_tlist(PlannerInfo *root, PathTarget *target)
{
	List	   *tlist = add_to_flat_tlist(NIL, target->exprs);

	return add_to_flat_tlist(tlist,
							 pull_var_clause(root->parse->havingQual,
											 PVC_INCLUDE_AGGREGATES));
}

/*
 * mongo_group_stages
 *		The stages of a grouped scan after its $match, as an array
 *		document ({"0": {$group: ...}}, and "1": {$project: ...} where a
 *		column is aggregated), and in
 *		*items, for each item of scan_tlist, what it is: an Integer list
 *		of its MongoGroupItemKind, its column (0 for count(*)) and, for a
 *		key, its position among the keys.
 */
bson_t *
mongo_group_stages(PlannerInfo *root, List *scan_tlist, Oid relid,
				   List **items)
{
	List	   *keys = group_keys(root);
	bson_t	   *stages = bson_new();
	bson_t		stage;
	bson_t		group;
	bson_t		project;
	bson_t		id;
	bson_t		accumulator;
	bool		projected = false;
	ListCell   *lc;

	*items = NIL;
	bson_append_document_begin(stages, "0", -1, &stage);
	bson_append_document_begin(&stage, "$group", -1, &group);
	if (keys == NIL)
		BSON_APPEND_NULL(&group, "_id");
	else if (list_length(keys) == 1)
		BSON_APPEND_UTF8(&group, "_id",
						 psprintf("$%s", column_field(relid,
													  linitial_node(Var, keys)->varattno)));
	else
	{
		bson_append_document_begin(&group, "_id", -1, &id);
		foreach(lc, keys)
		{
			bson_t		key;
			bson_t		args;

			bson_append_document_begin(&id,
									   psprintf("k%d", foreach_current_index(lc)),
									   -1, &key);
			bson_append_array_begin(&key, "$ifNull", -1, &args);
			BSON_APPEND_UTF8(&args, "0",
							 psprintf("$%s", column_field(relid,
														  lfirst_node(Var, lc)->varattno)));
			BSON_APPEND_NULL(&args, "1");
			bson_append_array_end(&key, &args);
			bson_append_document_end(&id, &key);
		}
		bson_append_document_end(&group, &id);
	}

	bson_init(&project);
	BSON_APPEND_INT32(&project, "_id", 1);
	foreach(lc, scan_tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Expr	   *expr = tle->expr;
		char	   *a = psprintf("a%d", tle->resno);
		char	   *n = psprintf("n%d", tle->resno);
		MongoGroupItemKind kind;
		Var		   *arg;
		const char *field;
		uint32		types;

		if (IsA(expr, Var))
		{
			ListCell   *k;
			int			position = 0;

			foreach(k, keys)
			{
				if (equal(lfirst(k), expr))
					position = foreach_current_index(k);
			}
			*items = lappend(*items,
							 list_make3_int(MONGO_GROUP_KEY,
											((Var *) expr)->varattno,
											position));
			continue;
		}
		kind = aggregate_kind((Aggref *) expr);
		if (kind == MONGO_GROUP_COUNT_STAR)
		{
			bson_append_document_begin(&group, a, -1, &accumulator);
			BSON_APPEND_INT32(&accumulator, "$sum", 1);
			bson_append_document_end(&group, &accumulator);
			BSON_APPEND_INT32(&project, a, 1);
			*items = lappend(*items, list_make3_int(kind, 0, 0));
			continue;
		}

		projected = true;
		arg = (Var *) linitial_node(TargetEntry,
									((Aggref *) expr)->args)->expr;
		field = column_field(relid, arg->varattno);
		types = mongo_column_bson_types(relid, arg->varattno);
		*items = lappend(*items, list_make3_int(kind, arg->varattno, 0));

		/* the values that are there, and those of an undeclared type */
		append_counted(&group, n, field, types, true);
		append_counted(&group, psprintf("x%d", tle->resno), field, types,
					   false);
		BSON_APPEND_INT32(&project, n, 1);
		BSON_APPEND_INT32(&project, psprintf("x%d", tle->resno), 1);

		/* count(col) is n<n> */
		if (kind == MONGO_GROUP_COUNT)
		{
			BSON_APPEND_UTF8(&project, a, psprintf("$%s", n));
			continue;
		}

		bson_append_document_begin(&group, a, -1, &accumulator);
		switch (kind)
		{
			case MONGO_GROUP_SUM:
			case MONGO_GROUP_AVG:
				/* sum(int) is bigint: no int32 sum overflows an int64 */
				if (kind == MONGO_GROUP_SUM &&
					exprType((Node *) arg) == INT4OID)
					BSON_APPEND_UTF8(&accumulator, "$sum",
									 psprintf("$%s", field));
				else
				{
					bson_t		decimal;

					bson_append_document_begin(&accumulator, "$sum", -1,
											   &decimal);
					BSON_APPEND_UTF8(&decimal, "$toDecimal",
									 psprintf("$%s", field));
					bson_append_document_end(&accumulator, &decimal);
				}
				break;
			case MONGO_GROUP_MIN:
			case MONGO_GROUP_MAX:
				{
					bson_t		if_null;
					bson_t		args;
					bson_t		literal;

					bson_append_document_begin(&accumulator,
											   kind == MONGO_GROUP_MIN ? "$min" : "$max",
											   -1, &if_null);
					bson_append_array_begin(&if_null, "$ifNull", -1, &args);
					BSON_APPEND_UTF8(&args, "0", psprintf("$%s", field));
					bson_append_document_begin(&args, "1", -1, &literal);
					if (kind == MONGO_GROUP_MIN)
						BSON_APPEND_MAXKEY(&literal, "$literal");
					else
						BSON_APPEND_MINKEY(&literal, "$literal");
					bson_append_document_end(&args, &literal);
					bson_append_array_end(&if_null, &args);
					bson_append_document_end(&accumulator, &if_null);
				}
				break;
			default:
				elog(ERROR, "unexpected aggregate kind %d", kind);
		}
		bson_append_document_end(&group, &accumulator);

		/* {$cond: [{$eq: ["$n<n>", 0]}, null, "$a<n>"]} */
		{
			bson_t		cond;
			bson_t		args;
			bson_t		test;
			bson_t		operands;

			bson_append_document_begin(&project, a, -1, &cond);
			bson_append_array_begin(&cond, "$cond", -1, &args);
			bson_append_document_begin(&args, "0", -1, &test);
			bson_append_array_begin(&test, "$eq", -1, &operands);
			BSON_APPEND_UTF8(&operands, "0", psprintf("$%s", n));
			BSON_APPEND_INT32(&operands, "1", 0);
			bson_append_array_end(&test, &operands);
			bson_append_document_end(&args, &test);
			BSON_APPEND_NULL(&args, "1");
			BSON_APPEND_UTF8(&args, "2", psprintf("$%s", a));
			bson_append_array_end(&cond, &args);
			bson_append_document_end(&project, &cond);
		}
	}
	bson_append_document_end(&stage, &group);
	bson_append_document_end(stages, &stage);

	/* only aggregates of columns need their nulls made */
	if (projected)
	{
		bson_append_document_begin(stages, "1", -1, &stage);
		BSON_APPEND_DOCUMENT(&stage, "$project", &project);
		bson_append_document_end(stages, &stage);
	}
	bson_destroy(&project);
	return stages;
}

/*
 * mongo_group_columns
 *		The columns a grouped scan fills from each group's document, one
 *		per item of scan_tlist (see mongo_group_stages): a key as its
 *		column converts it, count(*) and count(col) as bigint, sum as the
 *		aggregate's type (bigint from int32 and int64, numeric from
 *		Decimal128), avg as the numeric sum mongo_group_finish_row
 *		divides, min and max as the column converts them.  Their number.
 */
int
mongo_group_columns(List *scan_tlist, List *items, Oid relid,
					ForeignTable *table, MongoColumn *columns)
{
	bool		several_keys = false;
	int			ncolumns = 0;
	ListCell   *lc;

	foreach(lc, items)
	{
		if (linitial_int(lfirst(lc)) == MONGO_GROUP_KEY &&
			lthird_int(lfirst(lc)) > 0)
			several_keys = true;
	}
	foreach(lc, scan_tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		List	   *item = list_nth(items, foreach_current_index(lc));
		MongoGroupItemKind kind = linitial_int(item);
		AttrNumber	attnum = lsecond_int(item);
		MongoColumn *col = &columns[ncolumns++];
		char	   *field;
		Oid			type = exprType((Node *) tle->expr);

		if (kind == MONGO_GROUP_KEY)
			field = several_keys ? psprintf("_id.k%d", lthird_int(item)) :
				"_id";
		else
			field = psprintf("a%d", tle->resno);
		if (kind == MONGO_GROUP_AVG)
			type = NUMERICOID;
		mongo_init_column(col, tle->resno,
						  attnum == 0 ? "count(*)" :
						  get_attname(relid, attnum, false),
						  field, type, exprTypmod((Node *) tle->expr));
		if (kind == MONGO_GROUP_KEY || kind == MONGO_GROUP_MIN ||
			kind == MONGO_GROUP_MAX)
		{
			mongo_set_column_policy(col,
									mongo_column_mismatch_policy(table, attnum),
									false, false);
			col->bson_types = mongo_column_bson_types(relid, attnum);
		}
	}
	return ncolumns;
}

/*
 * mongo_group_check_document
 *		Fail where a group's document says that the group held a value the
 *		scan would refuse (x<n>), before its accumulators, which MongoDB
 *		computed over that value too, are converted.
 */
void
mongo_group_check_document(const bson_t *document, List *scan_tlist,
						   List *items, Oid relid, const char *relname)
{
	ListCell   *lc;

	foreach(lc, scan_tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		List	   *item = list_nth(items, foreach_current_index(lc));
		MongoGroupItemKind kind = linitial_int(item);
		bson_iter_t iter;

		if (kind == MONGO_GROUP_KEY || kind == MONGO_GROUP_COUNT_STAR)
			continue;
		if (bson_iter_init_find(&iter, document,
								psprintf("x%d", tle->resno)) &&
			BSON_ITER_HOLDS_NUMBER(&iter) && bson_iter_as_int64(&iter) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" of foreign table \"%s\" holds a value of a BSON type its option bson_type does not name",
							get_attname(relid, lsecond_int(item), false),
							relname),
					 errdetail("MongoDB computed an aggregate of the column over " INT64_FORMAT " such values, which the scan would not convert.",
							   bson_iter_as_int64(&iter)),
					 errhint("SET mongo_etl.pushdown = off to have the scan name the document.")));
	}
}

/*
 * mongo_group_finish_row
 *		Complete a row converted from a group's document: divide each avg's
 *		sum by its count, as PostgreSQL's avg of integers does.
 */
void
mongo_group_finish_row(const bson_t *document, List *scan_tlist,
					   List *items, const char *relname, Datum *values,
					   bool *isnull)
{
	ListCell   *lc;

	foreach(lc, scan_tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		MongoGroupItemKind kind = linitial_int(list_nth(items,
														foreach_current_index(lc)));
		bson_iter_t iter;

		if (kind == MONGO_GROUP_AVG && !isnull[tle->resno - 1])
		{
			int64		count = 0;

			if (bson_iter_init_find(&iter, document,
									psprintf("n%d", tle->resno)) &&
				BSON_ITER_HOLDS_NUMBER(&iter))
				count = bson_iter_as_int64(&iter);
			if (count <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_ERROR),
						 errmsg("MongoDB answered an average of foreign table \"%s\" without its count",
								relname)));
			values[tle->resno - 1] =
				DirectFunctionCall2(numeric_div, values[tle->resno - 1],
									NumericGetDatum(int64_to_numeric(count)));
		}
	}
}

/*
 * mongo_group_empty_row
 *		The one row of aggregates without GROUP BY over no document, which
 *		MongoDB does not send ($group makes no group of nothing): counts
 *		are 0, other aggregates NULL.  False when there are keys: no group,
 *		no row.
 */
bool
mongo_group_empty_row(List *scan_tlist, List *items, Datum *values,
					  bool *isnull)
{
	ListCell   *lc;

	foreach(lc, items)
	{
		if (linitial_int(lfirst(lc)) == MONGO_GROUP_KEY)
			return false;
	}
	foreach(lc, scan_tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		MongoGroupItemKind kind = linitial_int(list_nth(items,
														foreach_current_index(lc)));

		isnull[tle->resno - 1] = !(kind == MONGO_GROUP_COUNT_STAR ||
								   kind == MONGO_GROUP_COUNT);
		values[tle->resno - 1] = Int64GetDatum(0);
	}
	return true;
}

/*
 * group_keys
 *		The GROUP BY expressions, in the clause's order.
 */
static List *
group_keys(PlannerInfo *root)
{
	List	   *keys = NIL;
	ListCell   *lc;

	foreach(lc, root->parse->groupClause)
	{
		SortGroupClause *clause = lfirst_node(SortGroupClause, lc);
		Expr	   *key = (Expr *) get_sortgroupclause_expr(clause,
															root->parse->targetList);

		/* grouped by the type's own equality, as MongoDB compares */
		if (!IsA(key, Var) ||
			clause->eqop != lookup_type_cache(exprType((Node *) key),
											  TYPECACHE_EQ_OPR)->eq_opr)
			return NIL;
		keys = lappend(keys, key);
	}
	return keys;
}

/*
 * item_sendable
 *		Whether an item of the grouped target (or an aggregate of HAVING)
 *		is a key, or an aggregate MongoDB computes: count(*), and with
 *		server_pipelines count, sum, avg, min and max of an aggregable
 *		column.  Plain aggregates only: no FILTER, DISTINCT or ORDER BY.
 */
static bool
item_sendable(Expr *expr, Oid relid, Index varno, List *keys,
			  bool server_pipelines)
{
	Aggref	   *aggref = (Aggref *) expr;
	MongoGroupItemKind kind;
	Var		   *arg;

	if (IsA(expr, Var))
		return list_member(keys, expr);
	if (!IsA(expr, Aggref) || aggref->aggfilter != NULL ||
		aggref->aggdistinct != NIL || aggref->aggorder != NIL ||
		aggref->aggkind != AGGKIND_NORMAL || aggref->agglevelsup != 0 ||
		aggref->aggsplit != AGGSPLIT_SIMPLE)
		return false;
	kind = aggregate_kind(aggref);
	if (kind == MONGO_GROUP_COUNT_STAR)
		return true;
	if (kind == MONGO_GROUP_KEY || !server_pipelines ||
		list_length(aggref->args) != 1)
		return false;
	arg = (Var *) linitial_node(TargetEntry, aggref->args)->expr;
	return IsA(arg, Var) && (Index) arg->varno == varno &&
		arg->varlevelsup == 0 && arg->varattno > 0 &&
		aggregable_column(relid, (Expr *) arg);
}

/*
 * aggregate_kind
 *		Which aggregate an Aggref is, of those MongoDB can compute, or
 *		MONGO_GROUP_KEY for any other.
 */
static MongoGroupItemKind
aggregate_kind(Aggref *aggref)
{
	switch (aggref->aggfnoid)
	{
		case F_COUNT_:
			return aggref->aggstar ? MONGO_GROUP_COUNT_STAR : MONGO_GROUP_KEY;
		case F_COUNT_ANY:
			return MONGO_GROUP_COUNT;
		case F_SUM_INT4:
		case F_SUM_INT8:
		case F_SUM_NUMERIC:
			return MONGO_GROUP_SUM;
		case F_AVG_INT4:
		case F_AVG_INT8:
		case F_AVG_NUMERIC:
			return MONGO_GROUP_AVG;
		case F_MIN_INT4:
		case F_MIN_INT8:
		case F_MIN_NUMERIC:
			return MONGO_GROUP_MIN;
		case F_MAX_INT4:
		case F_MAX_INT8:
		case F_MAX_NUMERIC:
			return MONGO_GROUP_MAX;
		default:
			return MONGO_GROUP_KEY;
	}
}

/*
 * aggregable_column
 *		Whether MongoDB aggregates a column's values as PostgreSQL would
 *		aggregate what the scan converts: an integer or bigint column
 *		declaring int (integer) or int and long (bigint, or numeric without
 *		a typmod) as its BSON types, every one of which converts exactly
 *		(a double or a Decimal128 would not sum exactly: MongoDB rounds a
 *		Decimal128 sum to 34 digits, and a double's conversion to numeric
 *		is not MongoDB's $toDecimal of it), and refusing other types with
 *		an error (on_type_mismatch 'error'), which x<n> keeps.
 */
static bool
aggregable_column(Oid relid, Expr *expr)
{
	Var		   *var = (Var *) expr;
	ForeignTable *table = GetForeignTable(relid);
	uint32		types = mongo_column_bson_types(relid, var->varattno);
	uint32		integers = MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32);

	/* a numeric(p, s) column rounds, or fails on, what numeric sums */
	if (var->vartype == INT8OID ||
		(var->vartype == NUMERICOID && var->vartypmod < 0))
		integers |= MONGO_BSON_TYPE_BIT(BSON_TYPE_INT64);
	else if (var->vartype != INT4OID)
		return false;
	return types != 0 && (types & ~integers) == 0 &&
		mongo_column_mismatch_policy(table, var->varattno) ==
		MONGO_MISMATCH_ERROR &&
		!mongo_column_flag(relid, var->varattno, "bool_values") &&
		!mongo_column_flag(relid, var->varattno, "objectid_timestamp") &&
		strcmp(column_field(relid, var->varattno), "$$ROOT") != 0;
}

/*
 * mongo_comparable_key
 *		Whether MongoDB's groups of a column's field are PostgreSQL's groups
 *		of the column, and a join on it ($eq, lookup.c) PostgreSQL's
 *		equality: two of the BSON values the column takes compare equal in
 *		MongoDB exactly when their converted values are equal.  So
 *		the column must declare bson_type: int and long for an integer
 *		column (MongoDB compares numbers by value), string alone for text
 *		or varchar (compared by their bytes, as a deterministic collation
 *		does, where the collection has no other default collation), bool
 *		for boolean.  Its on_type_mismatch must be error: a value of
 *		another type then fails the query, grouped here or there, where
 *		under null it would be one more NULL group here.
 */
bool
mongo_comparable_key(Oid relid, Var *key, bool bytewise_strings)
{
	ForeignTable *table = GetForeignTable(relid);
	uint32		types = mongo_column_bson_types(relid, key->varattno);

	if (key->varattno <= 0 || key->varlevelsup != 0 || types == 0 ||
		mongo_column_mismatch_policy(table, key->varattno) !=
		MONGO_MISMATCH_ERROR ||
		mongo_column_flag(relid, key->varattno, "bool_values") ||
		mongo_column_flag(relid, key->varattno, "objectid_timestamp") ||
		strcmp(column_field(relid, key->varattno), "$$ROOT") == 0)
		return false;
	switch (key->vartype)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return (types & ~(MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32) |
							  MONGO_BSON_TYPE_BIT(BSON_TYPE_INT64))) == 0;
		case TEXTOID:
		case VARCHAROID:
			return types == MONGO_BSON_TYPE_BIT(BSON_TYPE_UTF8) &&
				bytewise_strings && OidIsValid(key->varcollid) &&
				get_collation_isdeterministic(key->varcollid);
		case BOOLOID:
			return types == MONGO_BSON_TYPE_BIT(BSON_TYPE_BOOL);
		default:
			return false;
	}
}

/*
 * column_field
 *		The field path a column reads.
 */
static const char *
column_field(Oid relid, AttrNumber attnum)
{
	return mongo_get_column_field(relid, attnum,
								  get_attname(relid, attnum, false));
}

/*
 * append_counted
 *		name: {$sum: {$cond: [{$in: [{$type: "$field"}, [...]]}, a, b]}}:
 *		with values, the documents whose field holds a value (not null,
 *		missing or undefined); else those whose value is of none of the
 *		column's BSON types.
 */
static void
append_counted(bson_t *group, const char *name, const char *field,
			   uint32 types, bool values)
{
	bson_t		sum;
	bson_t		cond;
	bson_t		args;
	bson_t		in;
	bson_t		operands;
	bson_t		type;
	bson_t		names;

	bson_append_document_begin(group, name, -1, &sum);
	bson_append_document_begin(&sum, "$sum", -1, &cond);
	bson_append_array_begin(&cond, "$cond", -1, &args);
	bson_append_document_begin(&args, "0", -1, &in);
	bson_append_array_begin(&in, "$in", -1, &operands);
	bson_append_document_begin(&operands, "0", -1, &type);
	BSON_APPEND_UTF8(&type, "$type", psprintf("$%s", field));
	bson_append_document_end(&operands, &type);
	bson_append_array_begin(&operands, "1", -1, &names);
	append_type_names(&names, values ? 0 : types, true);
	bson_append_array_end(&operands, &names);
	bson_append_array_end(&in, &operands);
	bson_append_document_end(&args, &in);
	BSON_APPEND_INT32(&args, "1", 0);
	BSON_APPEND_INT32(&args, "2", 1);
	bson_append_array_end(&cond, &args);
	bson_append_document_end(&sum, &cond);
	bson_append_document_end(group, &sum);
}

/*
 * append_type_names
 *		The $type names of the integer types among types, and with nulls
 *		those of the types the scan reads as NULL.
 */
static void
append_type_names(bson_t *array, uint32 types, bool nulls)
{
	int			n = 0;
	char		key[16];

	if (types & MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32))
	{
		snprintf(key, sizeof(key), "%d", n++);
		BSON_APPEND_UTF8(array, key, "int");
	}
	if (types & MONGO_BSON_TYPE_BIT(BSON_TYPE_INT64))
	{
		snprintf(key, sizeof(key), "%d", n++);
		BSON_APPEND_UTF8(array, key, "long");
	}
	if (nulls)
	{
		for (size_t i = 0; i < lengthof(null_type_names); i++)
		{
			snprintf(key, sizeof(key), "%d", n++);
			BSON_APPEND_UTF8(array, key, null_type_names[i]);
		}
	}
}
