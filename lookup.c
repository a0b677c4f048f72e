/*-------------------------------------------------------------------------
 *
 * lookup.c
 *		  Joins of two foreign tables answered by MongoDB: which joins can
 *		  be, the $lookup that computes them as PostgreSQL would, and the
 *		  rows made of the joined documents MongoDB returns.
 *
 * A join scan sends one aggregation on the outer table's collection: the
 * outer table's pushed WHERE clauses as $match, then
 *
 *	{$lookup: {from: <inner collection>, let: {key: "$<outer key>"},
 *			   pipeline: [{$match: {$and: [<inner filter>,
 *							{$expr: {$and: [{$eq: ["$<inner key>", "$$key"]},
 *											{$ne: [{$ifNull: ["$$key", null]},
 *												   null]}]}}]}},
 *						  {$project: <inner fields>}],
 *			   as: MONGO_JOIN_FIELD}},
 *	(an inner join: {$addFields: {MONGO_JOIN_FIELD: {$cond: [<the outer
 *			   key's type declared, null or missing>, "$" MONGO_JOIN_FIELD,
 *			   [{}]]}}})
 *	{$unwind: {path: "$" MONGO_JOIN_FIELD,
 *			   preserveNullAndEmptyArrays: <left join>}},
 *	{$project: {<outer fields>, MONGO_JOIN_FIELD: 1}}
 *
 * and each document that comes back is one joined row: its fields fill the
 * outer table's columns, its MONGO_JOIN_FIELD subdocument the inner's (or
 * nothing, for an outer row a left join keeps alone).
 *
 * Exactly as PostgreSQL: the pipeline's $eq compares without looking into
 * arrays and compares numbers by value and strings by their bytes, and the
 * key must not be null or missing, as NULL equals nothing.  So both keys
 * are columns MongoDB compares as PostgreSQL's equality does (the rule of
 * GROUP BY keys, aggregate.c, or both text declaring bson_type 'objectId'
 * alone), of one kind, and an outer key of another type fails the query
 * (the keys are always fetched and converted; an inner join keeps that
 * outer document with an empty inner one).  As in a parameterized scan,
 * an inner document that joins none is not read.  An inner join's other
 * clauses and both tables' WHERE clauses are evaluated here on the joined
 * rows (those MongoDB can decide are also sent, as for a scan); a left join
 * sends its join only when its ON clause is the key alone and the inner
 * table's WHERE clauses are all sent exactly (they decide which inner
 * rows join, and are not checked again on rows that are null-extended).
 *
 * The $lookup's sub-pipeline form is used rather than localField and
 * foreignField, which match array elements and null with missing, and
 * which DocumentDB (b2e220c) does not combine with a pipeline correctly.
 *
 * IDENTIFICATION
 *		  lookup.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foreign/foreign.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/tlist.h"
#include "parser/parsetree.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

#include "mongo_etl.h"

/* The field of a joined document that holds the inner document */
#define MONGO_JOIN_FIELD "__mongo_etl_joined"

/* The kinds of join keys MongoDB compares as PostgreSQL does */
typedef enum MongoKeyKind
{
	MONGO_KEY_NONE,				/* not sendable as a key */
	MONGO_KEY_INTEGER,			/* int2, int4, int8 from int and long */
	MONGO_KEY_STRING,			/* text from strings, bytewise */
	MONGO_KEY_OBJECTID,			/* text from ObjectIds, as hex digits */
	MONGO_KEY_BOOL
} MongoKeyKind;

static MongoKeyKind key_kind(PlannerInfo *root, Var *var, Oid collation,
							 bool bytewise_strings);
static bool key_clause(PlannerInfo *root, RestrictInfo *rinfo,
					   Relids outer_relids, Relids inner_relids,
					   bool bytewise_strings, Var **outer_key,
					   Var **inner_key);
static bool equality_function(Oid funcid);
static bool columns_sendable(PlannerInfo *root, List *exprs);
static const char *var_field(PlannerInfo *root, Var *var);
static bson_t *key_types(PlannerInfo *root, Var *key);
static bson_t *table_projection(PlannerInfo *root, List *scan_tlist,
								int varno);

/*
 * mongo_join_sendable
 *		Whether MongoDB can compute this inner or left join of two foreign
 *		tables (of one server, user and database, read from the server as
 *		their collections are: the caller checked) exactly as PostgreSQL
 *		would, with one of its clauses as the key.  Returns the join's
 *		description (MongoJoinPathIndex), or NIL.
 */
List *
mongo_join_sendable(PlannerInfo *root, RelOptInfo *joinrel,
					RelOptInfo *outerrel, RelOptInfo *innerrel,
					JoinType jointype, List *restrictlist,
					bool bytewise_strings)
{
	Oid			inner_relid = planner_rt_fetch(innerrel->relid, root)->relid;
	Var		   *outer_key = NULL;
	Var		   *inner_key = NULL;
	List	   *local = NIL;
	List	   *inner_clauses;
	List	   *params = NIL;
	bson_t	   *inner_filter = NULL;
	Node	   *inner_filter_node;
	bool		exact = true;
	ListCell   *lc;

	if (!columns_sendable(root, joinrel->reltarget->exprs))
		return NIL;
	foreach(lc, restrictlist)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		/* (an inner join's clauses, ON or WHERE, are all pushed down) */
		bool		pushed_down = jointype == JOIN_LEFT &&
			RINFO_IS_PUSHED_DOWN(rinfo, joinrel->relids);

		if (outer_key == NULL && !pushed_down &&
			key_clause(root, rinfo, outerrel->relids, innerrel->relids,
					   bytewise_strings, &outer_key, &inner_key))
			continue;
		/* a left join's ON decides which inner rows join: the key alone */
		if (jointype == JOIN_LEFT && !pushed_down)
			return NIL;
		local = lappend(local, rinfo->clause);
	}
	if (outer_key == NULL)
		return NIL;

	inner_clauses = extract_actual_clauses(innerrel->baserestrictinfo, false);
	if (inner_clauses != NIL)
		inner_filter = mongo_build_filter(inner_clauses, innerrel->relid,
										  inner_relid, bytewise_strings,
										  &params, &exact);
	inner_filter_node = mongo_bson_node(inner_filter);
	if (inner_filter != NULL)
		bson_destroy(inner_filter);
	/* run-time values are bound in the outer $match only */
	if (params != NIL || (jointype == JOIN_LEFT && !exact))
		return NIL;

	local = list_concat(local,
						extract_actual_clauses(outerrel->baserestrictinfo,
											   false));
	/* a left join's inner rows are those of its filter, which is exact */
	if (jointype == JOIN_INNER)
		local = list_concat(local, inner_clauses);
	if (!columns_sendable(root, pull_var_clause((Node *) local,
												PVC_INCLUDE_PLACEHOLDERS)))
		return NIL;

	return list_make5(makeInteger(jointype == JOIN_LEFT), outer_key,
					  inner_key, local, inner_filter_node);
}

/*
 * mongo_join_scan_tlist
 *		The target list of a join scan: the columns of both tables that the
 *		join's output and its local clauses read, and the two keys, which
 *		are always converted so that a value of another type fails the
 *		query as it would without the join sent.
 */
List *
mongo_join_scan_tlist(RelOptInfo *joinrel, List *join)
{
	List	   *tlist = add_to_flat_tlist(NIL, joinrel->reltarget->exprs);

	tlist = add_to_flat_tlist(tlist,
							  pull_var_clause(list_nth(join,
													   MongoJoinPathLocal),
											  PVC_INCLUDE_PLACEHOLDERS));
	return add_to_flat_tlist(tlist,
							 list_make2(list_nth(join, MongoJoinPathOuterKey),
										list_nth(join, MongoJoinPathInnerKey)));
}

/*
 * mongo_join_stages
 *		The stages after the outer table's $match that join the inner
 *		table's documents to each outer document (see the file's banner),
 *		as an array document.
 */
bson_t *
mongo_join_stages(PlannerInfo *root, List *join, List *scan_tlist,
				  RelOptInfo *innerrel)
{
	bool		left = intVal(list_nth(join, MongoJoinPathLeft)) != 0;
	Var		   *outer_key = list_nth(join, MongoJoinPathOuterKey);
	Var		   *inner_key = list_nth(join, MongoJoinPathInnerKey);
	bson_t	   *inner_filter = mongo_node_bson(list_nth(join,
														MongoJoinPathInnerFilter));
	ForeignTable *inner_table =
		GetForeignTable(planner_rt_fetch(innerrel->relid, root)->relid);
	char	   *outer_field = psprintf("$%s", var_field(root, outer_key));
	MongoTableOptions inner_options;
	bson_t	   *key_match;
	bson_t	   *match;
	bson_t	   *pipeline;
	bson_t	   *projection;
	bson_t	   *outer_types;
	bson_t	   *stages = bson_new();
	int			n = 0;
	char		key[16];

#define NEXT_STAGE() (snprintf(key, sizeof(key), "%d", n++), key)
	mongo_get_table_options(inner_table,
							GetForeignServer(inner_table->serverid),
							&inner_options);

	/* the inner key equals the outer one, which is neither null nor missing */
	key_match = BCON_NEW("$expr", "{", "$and", "[",
						 "{", "$eq", "[",
						 BCON_UTF8(psprintf("$%s", var_field(root, inner_key))),
						 BCON_UTF8("$$key"), "]", "}",
						 "{", "$ne", "[",
						 "{", "$ifNull", "[", BCON_UTF8("$$key"), BCON_NULL,
						 "]", "}",
						 BCON_NULL, "]", "}",
						 "]", "}");
	match = inner_filter == NULL ? key_match
		: BCON_NEW("$and", "[", BCON_DOCUMENT(inner_filter),
				   BCON_DOCUMENT(key_match), "]");
	projection = table_projection(root, scan_tlist, inner_key->varno);
	pipeline = BCON_NEW("0", "{", "$match", BCON_DOCUMENT(match), "}",
						"1", "{", "$project", BCON_DOCUMENT(projection), "}");
	bson_destroy(projection);
	BCON_APPEND(stages, NEXT_STAGE(), "{", "$lookup", "{",
				"from", BCON_UTF8(inner_options.collection),
				"let", "{", "key", BCON_UTF8(outer_field), "}",
				"pipeline", BCON_ARRAY(pipeline),
				"as", BCON_UTF8(MONGO_JOIN_FIELD),
				"}", "}");

	/*
	 * an inner join's outer document whose key is of a type the column does
	 * not declare joins an empty document, so that the key's conversion fails
	 * the query, as it would without the join sent (a left join keeps every
	 * outer document anyway)
	 */
	outer_types = key_types(root, outer_key);
	if (!left)
		BCON_APPEND(stages, NEXT_STAGE(), "{", "$addFields", "{",
					MONGO_JOIN_FIELD, "{", "$cond", "[",
					"{", "$in", "[", "{", "$type", BCON_UTF8(outer_field), "}",
					BCON_ARRAY(outer_types), "]", "}",
					BCON_UTF8("$" MONGO_JOIN_FIELD),
					"[", "{", "}", "]",
					"]", "}", "}", "}");
	BCON_APPEND(stages, NEXT_STAGE(), "{", "$unwind", "{",
				"path", BCON_UTF8("$" MONGO_JOIN_FIELD),
				"preserveNullAndEmptyArrays", BCON_BOOL(left),
				"}", "}");
	projection = table_projection(root, scan_tlist, outer_key->varno);
	BSON_APPEND_INT32(projection, MONGO_JOIN_FIELD, 1);
	BCON_APPEND(stages, NEXT_STAGE(), "{", "$project", BCON_DOCUMENT(projection),
				"}");
#undef NEXT_STAGE

	if (match != key_match)
		bson_destroy(match);
	bson_destroy(key_match);
	if (inner_filter != NULL)
		bson_destroy(inner_filter);
	bson_destroy(pipeline);
	bson_destroy(projection);
	bson_destroy(outer_types);
	return stages;
}

/*
 * key_types
 *		The $type names of the BSON types a key column declares, and of
 *		null and missing: the outer documents a join's key lets through.
 */
static bson_t *
key_types(PlannerInfo *root, Var *key)
{
	static const struct
	{
		bson_type_t type;
		const char *name;
	}			names[] = {
		{BSON_TYPE_INT32, "int"},
		{BSON_TYPE_INT64, "long"},
		{BSON_TYPE_UTF8, "string"},
		{BSON_TYPE_OID, "objectId"},
		{BSON_TYPE_BOOL, "bool"},
	};
	uint32		types =
		mongo_column_bson_types(planner_rt_fetch(key->varno, root)->relid,
								key->varattno);
	bson_t	   *array = bson_new();
	int			n = 0;
	char		index[16];

	for (size_t i = 0; i < lengthof(names); i++)
	{
		if (types & MONGO_BSON_TYPE_BIT(names[i].type))
		{
			snprintf(index, sizeof(index), "%d", n++);
			BSON_APPEND_UTF8(array, index, names[i].name);
		}
	}
	snprintf(index, sizeof(index), "%d", n++);
	BSON_APPEND_UTF8(array, index, "null");
	snprintf(index, sizeof(index), "%d", n++);
	BSON_APPEND_UTF8(array, index, "missing");
	return array;
}

/*
 * mongo_join_to_slot
 *		Fill the inner table's columns from a joined document's inner
 *		document, which a left join's outer row kept alone lacks (its
 *		columns stay NULL).  Returns false to leave the row out, as
 *		mongo_document_to_slot does.
 */
bool
mongo_join_to_slot(MongoConverter *inner, const bson_t *document,
				   Datum *values, bool *isnull)
{
	bson_iter_t iter;
	const uint8_t *data;
	uint32_t	length;
	bson_t		joined;

	if (!bson_iter_init_find(&iter, document, MONGO_JOIN_FIELD))
		return true;
	if (!BSON_ITER_HOLDS_DOCUMENT(&iter))
		mongo_report_corrupt_document(NULL);
	bson_iter_document(&iter, &length, &data);
	if (!bson_init_static(&joined, data, length))
		mongo_report_corrupt_document(NULL);
	return mongo_document_to_slot(inner, &joined, values, isnull);
}

/*
 * columns_sendable
 *		Whether these expressions are columns that can be read from joined
 *		documents: user columns (no whole row, no system column), none
 *		reading the whole document (where the inner document would show in
 *		the outer one's), and none that leaves out the rows whose value
 *		does not fit (on_type_mismatch 'skip': an outer row would go
 *		without its inner one).
 */
static bool
columns_sendable(PlannerInfo *root, List *exprs)
{
	ListCell   *lc;

	foreach(lc, exprs)
	{
		Var		   *var = lfirst(lc);
		Oid			relid;

		if (!IsA(var, Var) || var->varattno <= 0 || var->varlevelsup != 0)
			return false;
		relid = planner_rt_fetch(var->varno, root)->relid;
		if (strcmp(var_field(root, var), MONGO_WHOLE_DOCUMENT) == 0 ||
			mongo_column_mismatch_policy(GetForeignTable(relid),
										 var->varattno) ==
			MONGO_MISMATCH_SKIP)
			return false;
	}
	return true;
}

/*
 * key_clause
 *		Whether the clause is "outer column = inner column" (either way
 *		round) with an equality that MongoDB's $eq decides alike for the
 *		two columns' values; if so, sets the keys.
 */
static bool
key_clause(PlannerInfo *root, RestrictInfo *rinfo, Relids outer_relids,
		   Relids inner_relids, bool bytewise_strings, Var **outer_key,
		   Var **inner_key)
{
	OpExpr	   *op = (OpExpr *) rinfo->clause;
	Expr	   *left;
	Expr	   *right;
	Var		   *outer;
	Var		   *inner;
	MongoKeyKind kind;

	if (!IsA(op, OpExpr) || list_length(op->args) != 2 ||
		!equality_function(op->opfuncid))
		return false;
	left = linitial(op->args);
	right = lsecond(op->args);
	/* varchar compares as text */
	if (IsA(left, RelabelType))
		left = ((RelabelType *) left)->arg;
	if (IsA(right, RelabelType))
		right = ((RelabelType *) right)->arg;
	if (!IsA(left, Var) || !IsA(right, Var))
		return false;

	outer = (Var *) left;
	inner = (Var *) right;
	if (!bms_is_member(outer->varno, outer_relids))
	{
		outer = (Var *) right;
		inner = (Var *) left;
	}
	if (!bms_is_member(outer->varno, outer_relids) ||
		!bms_is_member(inner->varno, inner_relids))
		return false;

	kind = key_kind(root, outer, op->inputcollid, bytewise_strings);
	if (kind == MONGO_KEY_NONE ||
		kind != key_kind(root, inner, op->inputcollid, bytewise_strings))
		return false;
	*outer_key = outer;
	*inner_key = inner;
	return true;
}

/*
 * key_kind
 *		What a join key column is, if MongoDB's $eq compares its values as
 *		PostgreSQL's equality compares the converted ones: a column that
 *		groups exactly (mongo_comparable_key), or text declaring bson_type
 *		'objectId' alone (an ObjectId's text is its 24 lowercase hex
 *		digits, one for one), read from a top-level field ($eq on a path
 *		through an array would compare the array of its values).
 */
static MongoKeyKind
key_kind(PlannerInfo *root, Var *var, Oid collation, bool bytewise_strings)
{
	Oid			relid = planner_rt_fetch(var->varno, root)->relid;

	if (var->varattno <= 0 || strchr(var_field(root, var), '.') != NULL)
		return MONGO_KEY_NONE;
	if (OidIsValid(collation) && !get_collation_isdeterministic(collation))
		return MONGO_KEY_NONE;

	switch (var->vartype)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return mongo_comparable_key(relid, var, bytewise_strings)
				? MONGO_KEY_INTEGER : MONGO_KEY_NONE;
		case BOOLOID:
			return mongo_comparable_key(relid, var, bytewise_strings)
				? MONGO_KEY_BOOL : MONGO_KEY_NONE;
		case TEXTOID:
		case VARCHAROID:
			if (mongo_comparable_key(relid, var, bytewise_strings))
				return MONGO_KEY_STRING;
			if (mongo_column_bson_types(relid, var->varattno) ==
				MONGO_BSON_TYPE_BIT(BSON_TYPE_OID) &&
				mongo_column_mismatch_policy(GetForeignTable(relid),
											 var->varattno) ==
				MONGO_MISMATCH_ERROR &&
				!mongo_column_flag(relid, var->varattno,
								   "objectid_timestamp"))
				return MONGO_KEY_OBJECTID;
			return MONGO_KEY_NONE;
		default:
			return MONGO_KEY_NONE;
	}
}

/*
 * equality_function
 *		Whether the function is the equality of two integers, texts or
 *		booleans: those PostgreSQL and MongoDB's $eq decide alike on the
 *		values key columns hold.
 */
static bool
equality_function(Oid funcid)
{
	switch (funcid)
	{
		case F_INT2EQ:
		case F_INT4EQ:
		case F_INT8EQ:
		case F_INT24EQ:
		case F_INT42EQ:
		case F_INT28EQ:
		case F_INT82EQ:
		case F_INT48EQ:
		case F_INT84EQ:
		case F_TEXTEQ:
		case F_BOOLEQ:
			return true;
		default:
			return false;
	}
}

/*
 * var_field
 *		The field path the column a Var reads.
 */
static const char *
var_field(PlannerInfo *root, Var *var)
{
	Oid			relid = planner_rt_fetch(var->varno, root)->relid;

	return mongo_get_column_field(relid, var->varattno,
								  get_attname(relid, var->varattno, false));
}

/*
 * table_projection
 *		The projection of the fields that the scan's columns of one table
 *		read (with _id, which names a document in errors).
 */
static bson_t *
table_projection(PlannerInfo *root, List *scan_tlist, int varno)
{
	MongoColumn *columns = palloc0(sizeof(MongoColumn) *
								   Max(list_length(scan_tlist), 1));
	int			ncolumns = 0;
	ListCell   *lc;

	foreach(lc, scan_tlist)
	{
		Var		   *var = (Var *) lfirst_node(TargetEntry, lc)->expr;

		if (var->varno == varno)
			columns[ncolumns++].field = var_field(root, var);
	}
	return mongo_build_projection(columns, ncolumns);
}
