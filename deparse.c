/*-------------------------------------------------------------------------
 *
 * deparse.c
 *		  Building what a scan sends MongoDB: the projection of the fields a
 *		  query needs, a filter from its WHERE clauses, a sort from its
 *		  ORDER BY, and the find or aggregate command they make.
 *
 * A filter keeps every document a row PostgreSQL keeps could come from;
 * PostgreSQL still checks every clause on the rows returned (except when
 * MongoDB counts them), so a clause is sent only where MongoDB decides it
 * at least as broadly, and the filter tells whether it is exact.  A sort is
 * sent only where MongoDB orders the rows exactly as PostgreSQL would.
 * Each case left to PostgreSQL says why where it is decided.
 *
 * IDENTIFICATION
 *		  deparse.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <locale.h>

#include "access/nbtree.h"
#include "access/transam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "nodes/pathnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/pg_locale.h"
#include "utils/timestamp.h"

#include "mongo_etl.h"

static char *projected_path(const char *path);
static bool path_covers(const char *prefix, const char *path);

/*
 * mongo_build_projection
 *		The projection document for a scan's columns: each needed field path
 *		once.  MongoDB rejects a projection naming both a path and a path
 *		below it ("address" and "address.city"), so a path below another
 *		wanted path is left out: the parent brings it along.  _id is always
 *		returned (MongoDB's default), because error messages name it.  A
 *		$$ROOT column needs every field: then the projection is empty.
 */
bson_t *
mongo_build_projection(MongoColumn *columns, int ncolumns)
{
	bson_t	   *projection = bson_new();
	char	  **paths = palloc(sizeof(char *) * Max(ncolumns, 1));
	int			i;

	/* the whole document is wanted: an empty projection returns it */
	for (i = 0; i < ncolumns; i++)
	{
		if (columns[i].whole_document)
			return projection;
	}

	for (i = 0; i < ncolumns; i++)
		paths[i] = projected_path(columns[i].field);

	for (i = 0; i < ncolumns; i++)
	{
		bool		redundant = false;
		int			j;

		for (j = 0; j < ncolumns && !redundant; j++)
		{
			/* covered by a shorter path, or the same path seen earlier */
			if (j != i && path_covers(paths[j], paths[i]) &&
				(strlen(paths[j]) < strlen(paths[i]) || j < i))
				redundant = true;
		}
		if (!redundant)
			BSON_APPEND_INT32(projection, paths[i], 1);
	}

	if (ncolumns == 0)
		BSON_APPEND_INT32(projection, "_id", 1);
	return projection;
}

/*
 * projected_path
 *		The part of a field path a projection can name.  In a projection
 *		MongoDB reads "tags.0" as a field called "0" inside each element of
 *		the array, not as its first element, so the projection stops before
 *		the first all-digit segment and the conversion picks the element.
 */
static char *
projected_path(const char *path)
{
	const char *segment = path;

	for (;;)
	{
		const char *dot = strchr(segment, '.');
		size_t		len = dot ? (size_t) (dot - segment) : strlen(segment);

		if (segment != path && strspn(segment, "0123456789") == len)
			return pnstrdup(path, segment - path - 1);
		if (dot == NULL)
			return pstrdup(path);
		segment = dot + 1;
	}
}

/*
 * path_covers
 *		Whether the field path prefix is path itself or one of its parents.
 */
static bool
path_covers(const char *prefix, const char *path)
{
	size_t		len = strlen(prefix);

	return strncmp(prefix, path, len) == 0 &&
		(path[len] == '\0' || path[len] == '.');
}

/*
 * mongo_bson_node
 *		A BSON document as a node a plan can hold (plans are copied, and
 *		may be serialized): a bytea Const of its bytes, NULL for none.
 *		Extended JSON would not do: libbson's parser reads some query
 *		operators, such as {"$type": [...]}, as type wrappers.
 */
Node *
mongo_bson_node(const bson_t *doc)
{
	bytea	   *bytes;

	if (doc == NULL)
		return (Node *) makeNullConst(BYTEAOID, -1, InvalidOid);
	bytes = palloc(VARHDRSZ + doc->len);
	SET_VARSIZE(bytes, VARHDRSZ + doc->len);
	memcpy(VARDATA(bytes), bson_get_data(doc), doc->len);
	return (Node *) makeConst(BYTEAOID, -1, InvalidOid, -1,
							  PointerGetDatum(bytes), false, false);
}

/*
 * mongo_node_bson
 *		The BSON document mongo_bson_node stored, as a new bson_t, or NULL.
 */
bson_t *
mongo_node_bson(Node *node)
{
	Const	   *bytes = castNode(Const, node);
	bytea	   *data;

	if (bytes->constisnull)
		return NULL;
	data = DatumGetByteaPP(bytes->constvalue);
	return bson_new_from_data((const uint8_t *) VARDATA_ANY(data),
							  VARSIZE_ANY_EXHDR(data));
}

/*
 * mongo_build_command
 *		The command a scan runs, in the two parts libmongoc takes: a find
 *		filter and its options (projection, sort, limit, batchSize),
 *		or, for a table with the option pipeline, a pushed count or group,
 *		or a random sample, an aggregation pipeline and its options.
 *		Returns true for aggregate.
 *
 *		The table's option filter applies to the collection's documents,
 *		so it comes first (before the table's pipeline); the pushed WHERE
 *		clauses (request->filter) apply to what the table reads, so they
 *		follow the pipeline, then the sample, sort, limit, and the
 *		projection, the count or the group.
 */
bool
mongo_build_command(const MongoTableOptions *options,
					const MongoRequest *request, bson_t *query, bson_t *opts)
{
	bool		aggregate = options->pipeline != NULL || request->count ||
		request->stages != NULL || request->sample > 0;

	if (!aggregate)
	{
		if (options->filter != NULL && request->filter != NULL)
		{
			bson_t		both;

			bson_append_array_begin(query, "$and", -1, &both);
			BSON_APPEND_DOCUMENT(&both, "0", options->filter);
			BSON_APPEND_DOCUMENT(&both, "1", request->filter);
			bson_append_array_end(query, &both);
		}
		else if (options->filter != NULL)
			bson_concat(query, options->filter);
		else if (request->filter != NULL)
			bson_concat(query, request->filter);

		if (request->projection != NULL)
			BSON_APPEND_DOCUMENT(opts, "projection", request->projection);
		if (request->sort != NULL)
			BSON_APPEND_DOCUMENT(opts, "sort", request->sort);
		if (request->limit > 0)
			BSON_APPEND_INT64(opts, "limit", request->limit);
	}
	else
	{
		int			n = 0;
		char		key[16];
		bson_t		stage;
		bson_iter_t iter;

#define NEXT_STAGE() (snprintf(key, sizeof(key), "%d", n++), key)
		if (options->filter != NULL)
		{
			bson_append_document_begin(query, NEXT_STAGE(), -1, &stage);
			BSON_APPEND_DOCUMENT(&stage, "$match", options->filter);
			bson_append_document_end(query, &stage);
		}
		if (options->pipeline != NULL && bson_iter_init(&iter, options->pipeline))
		{
			while (bson_iter_next(&iter))
				bson_append_iter(query, NEXT_STAGE(), -1, &iter);
		}
		if (request->filter != NULL)
		{
			bson_append_document_begin(query, NEXT_STAGE(), -1, &stage);
			BSON_APPEND_DOCUMENT(&stage, "$match", request->filter);
			bson_append_document_end(query, &stage);
		}
		if (request->sample > 0)
		{
			bson_t		size;

			bson_append_document_begin(query, NEXT_STAGE(), -1, &stage);
			BSON_APPEND_DOCUMENT_BEGIN(&stage, "$sample", &size);
			BSON_APPEND_INT64(&size, "size", request->sample);
			bson_append_document_end(&stage, &size);
			bson_append_document_end(query, &stage);
		}
		if (request->sort != NULL)
		{
			bson_append_document_begin(query, NEXT_STAGE(), -1, &stage);
			BSON_APPEND_DOCUMENT(&stage, "$sort", request->sort);
			bson_append_document_end(query, &stage);
		}
		if (request->limit > 0)
		{
			bson_append_document_begin(query, NEXT_STAGE(), -1, &stage);
			BSON_APPEND_INT64(&stage, "$limit", request->limit);
			bson_append_document_end(query, &stage);
		}
		if (request->count)
		{
			bson_append_document_begin(query, NEXT_STAGE(), -1, &stage);
			BSON_APPEND_UTF8(&stage, "$count", "count");
			bson_append_document_end(query, &stage);
		}
		else if (request->stages != NULL &&
				 bson_iter_init(&iter, request->stages))
		{
			while (bson_iter_next(&iter))
				bson_append_iter(query, NEXT_STAGE(), -1, &iter);
		}
		else if (request->projection != NULL &&
				 !bson_empty(request->projection))
		{
			bson_append_document_begin(query, NEXT_STAGE(), -1, &stage);
			BSON_APPEND_DOCUMENT(&stage, "$project", request->projection);
			bson_append_document_end(query, &stage);
		}
#undef NEXT_STAGE
	}
	/*
	 * before MongoDB 6.0, a sort or a $group beyond 100 MB of memory fails
	 * without it
	 */
	if (request->sort != NULL || request->stages != NULL)
		BSON_APPEND_BOOL(opts, "allowDiskUse", true);
	BSON_APPEND_INT32(opts, "batchSize", options->batch_size);
	return aggregate;
}

/*
 * mongo_command_string
 *		The command mongo_build_command made, as the server receives it, in
 *		relaxed extended JSON on one line, for EXPLAIN (in the database
 *		encoding).
 */
char *
mongo_command_string(const MongoTableOptions *options, bool aggregate,
					 const bson_t *query, const bson_t *opts)
{
	bson_t		command = BSON_INITIALIZER;
	bson_iter_t iter;
	char	   *json;

	if (aggregate)
	{
		bson_t		cursor;

		BSON_APPEND_UTF8(&command, "aggregate", options->collection);
		BSON_APPEND_ARRAY(&command, "pipeline", query);
		bson_append_document_begin(&command, "cursor", -1, &cursor);
		if (bson_iter_init_find(&iter, opts, "batchSize"))
			bson_append_iter(&cursor, "batchSize", -1, &iter);
		bson_append_document_end(&command, &cursor);
	}
	else
	{
		BSON_APPEND_UTF8(&command, "find", options->collection);
		BSON_APPEND_DOCUMENT(&command, "filter", query);
		if (bson_iter_init(&iter, opts))
		{
			while (bson_iter_next(&iter))
				bson_append_iter(&command, bson_iter_key(&iter), -1, &iter);
		}
	}
	BSON_APPEND_UTF8(&command, "$db", options->database);

	json = bson_as_relaxed_extended_json(&command, NULL);
	bson_destroy(&command);
	return mongo_server_json(json);
}

/*
 * How a PostgreSQL value is written into a filter.  The column's type
 * decides: the BSON value must compare with the values MongoDB holds as the
 * PostgreSQL value compares with their conversions.
 */
typedef enum MongoEncoding
{
	MONGO_ENCODE_NUMBER,		/* an integer as int64, a float as double */
	MONGO_ENCODE_STRING,		/* text as a UTF-8 string */
	MONGO_ENCODE_TEXT_FORMS,	/* text as an array of the BSON values that
								 * convert to it: the string, and the
								 * ObjectId it spells, if it spells one */
	MONGO_ENCODE_TEXT_FORMS_NULL,	/* the same, and null */
	MONGO_ENCODE_MS_FLOOR,		/* a timestamp as a BSON date, rounded down
								 * to milliseconds */
	MONGO_ENCODE_MS_CEIL,		/* the same, rounded up */
	MONGO_ENCODE_DAY_START,		/* a date as the BSON date of its midnight,
								 * UTC */
	MONGO_ENCODE_DAY_END,		/* a date as the next day's midnight */
	MONGO_ENCODE_BELOW,			/* a number as a double no greater than it
								 * (see number_bound) */
	MONGO_ENCODE_ABOVE			/* a number as a double no less than it */
} MongoEncoding;

/* How the scan converts a column that a filter tests */
typedef enum FilterKind
{
	FILTER_INTEGER,				/* int2, int4, int8 */
	FILTER_NUMERIC,
	FILTER_FLOAT,				/* float8 */
	FILTER_TEXT,				/* text, varchar */
	FILTER_TIMESTAMP,			/* timestamptz, timestamp */
	FILTER_DATE,
	FILTER_BOOL
} FilterKind;

/* A column of the scanned table, as a filter sees it */
typedef struct FilterColumn
{
	const char *field;			/* its field path */
	AttrNumber	attnum;
	FilterKind	kind;
	Oid			type;
	int32		typmod;			/* numeric(p, s) rounds values to scale s */
	uint32		accepted;		/* BSON types the scan converts into it */
	bool		declared;		/* accepted comes from option bson_type */
	MongoMismatchPolicy on_mismatch;
} FilterColumn;

/* State of building one filter */
typedef struct FilterContext
{
	Index		relid;			/* the scanned relation in the query */
	Oid			relation;		/* its OID */
	List	   *params;			/* expressions of run-time values */
	bool		exact;			/* so far, the filter keeps exactly the
								 * documents whose rows PostgreSQL keeps */
	uint32		text_forms;		/* for MONGO_ENCODE_TEXT_FORMS: the BSON
								 * types (string, ObjectId) of the column */
	bool		text_pushdown;	/* the collection compares strings by bytes
								 * (it has no default collation) */
	int32		typmod;			/* for MONGO_ENCODE_BELOW and _ABOVE: the
								 * numeric column's typmod */
} FilterContext;

#define NUMBER_TYPES \
	(MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32) | \
	 MONGO_BSON_TYPE_BIT(BSON_TYPE_INT64) | \
	 MONGO_BSON_TYPE_BIT(BSON_TYPE_DOUBLE) | \
	 MONGO_BSON_TYPE_BIT(BSON_TYPE_DECIMAL128))

/*
 * BSON types a filter can let through by {$type: ...} whatever it tests,
 * by the names MongoDB and FerretDB both know.
 */
static const struct
{
	bson_type_t type;
	const char *name;
}			passable_types[] =
{
	{BSON_TYPE_TIMESTAMP, "timestamp"},
	{BSON_TYPE_OID, "objectId"},
	{BSON_TYPE_INT64, "long"},
	{BSON_TYPE_INT32, "int"},
	{BSON_TYPE_DOUBLE, "double"},
	{BSON_TYPE_UTF8, "string"},
	{BSON_TYPE_DATE_TIME, "date"},
	{BSON_TYPE_BOOL, "bool"}
};

static bool append_condition(bson_t *condition, Expr *clause,
							 FilterContext *ctx);
static bool append_bool_expr(bson_t *condition, BoolExpr *expr,
							 FilterContext *ctx);
static bool append_comparison(bson_t *condition, OpExpr *op,
							  FilterContext *ctx);
static bool comparison_test(bson_t *test, const FilterColumn *col,
							const char *opname, Oid collation,
							Expr *value, FilterContext *ctx,
							uint32 *compared);
static bool number_test(bson_t *test, const FilterColumn *col,
						const char *opname, Expr *value, FilterContext *ctx,
						uint32 *compared);
static bool append_like(bson_t *test, const FilterColumn *col,
						const char *opname, Expr *value, uint32 *compared,
						FilterContext *ctx);
static bool negation_sendable(const FilterColumn *col, FilterContext *ctx);
static char *like_regex(const char *pattern);

/* Any one character, newlines included, in PCRE and in RE2 */
#define MONGO_REGEX_ANY "[\\s\\S]"
static bool append_in_list(bson_t *condition, ScalarArrayOpExpr *clause,
						   FilterContext *ctx);
static bool append_null_test(bson_t *condition, NullTest *test,
							 FilterContext *ctx);
static bool append_test(bson_t *condition, const FilterColumn *col,
						uint32 compared, const bson_t *test,
						FilterContext *ctx);
static bool filter_column(Expr *expr, FilterContext *ctx,
						  FilterColumn *col);
static bool run_time_value(Expr *expr, FilterContext *ctx);
static bool reads_scanned_row(Node *node, void *relid);
static bool bytewise_collation(Oid collation);
static bool sortable_column(const FilterColumn *col, Oid collation,
							bool last);
static bool has_key(const bson_t *doc, const char *key);
static void append_value(bson_t *doc, const char *key, Expr *value,
						 MongoEncoding encoding, FilterContext *ctx);
static void append_encoded(bson_t *doc, const char *key, Datum value,
						   Oid type, MongoEncoding encoding, uint32 forms,
						   int32 typmod);
static void bind_document(bson_t *out, const bson_t *in, bool is_array,
						  Datum *values, bool *nulls, Oid *types);
static bool holds_placeholder(const bson_t *doc, bool nan_bound,
							  Datum *values, bool *nulls, Oid *types);
static bool number_type(Oid type, bool *integer);
static bool number_is_nan(Datum value, Oid type);
static bool numeric_double(Numeric num, double *result);
static bool exact_double_decimal(const char *decimal);
static double number_bound(Datum value, Oid type, int32 typmod,
						   bool above);

/*
 * mongo_build_filter
 *		The find filter for a scan: the WHERE clauses MongoDB can evaluate
 *		keeping every document a row PostgreSQL keeps could come from,
 *		ANDed.  Returns NULL when there are none.  *exact tells whether
 *		every clause was sent and the filter keeps no other documents, so
 *		that MongoDB could count the rows.  text_pushdown is false when the
 *		collection has a default collation, under which MongoDB compares
 *		strings otherwise: then no text test is sent.
 *
 *		Values known only when the scan runs (parameters of a prepared
 *		statement, PL/pgSQL variables, stable expressions such as now())
 *		appear as {"$param": n, "$encode": e}, n being their position in
 *		*params, the expressions the executor evaluates; mongo_bind_filter
 *		puts their values in.
 */
bson_t *
mongo_build_filter(List *clauses, Index relid, Oid relation,
				   bool text_pushdown, List **params, bool *exact)
{
	bson_t	   *filter = bson_new();
	bson_t		conditions;
	FilterContext ctx;
	ListCell   *lc;
	int			n = 0;

	ctx.relid = relid;
	ctx.relation = relation;
	ctx.params = *params;
	ctx.exact = true;
	ctx.text_forms = 0;
	ctx.text_pushdown = text_pushdown;
	ctx.typmod = -1;

	bson_append_array_begin(filter, "$and", -1, &conditions);
	foreach(lc, clauses)
	{
		bson_t		condition;
		char		key[16];
		int			nparams = list_length(ctx.params);

		snprintf(key, sizeof(key), "%d", n);
		bson_init(&condition);
		if (append_condition(&condition, (Expr *) lfirst(lc), &ctx))
		{
			bson_append_document(&conditions, key, -1, &condition);
			n++;
		}
		else
		{
			/* PostgreSQL alone decides this clause */
			ctx.params = list_truncate(ctx.params, nparams);
			ctx.exact = false;
		}
		bson_destroy(&condition);
	}
	bson_append_array_end(filter, &conditions);

	*params = ctx.params;
	*exact = ctx.exact;
	if (n == 0)
	{
		bson_destroy(filter);
		return NULL;
	}
	return filter;
}

/*
 * append_condition
 *		Append to condition the MongoDB test for one WHERE clause, if it has
 *		one that keeps every document PostgreSQL would keep a row of.
 *		Besides comparisons, IN lists and NULL tests, that is a boolean
 *		column, "col" or "NOT col": {field: true} or false.  A NOT of
 *		anything else is left to PostgreSQL, which has already turned the
 *		NOTs it could into negated operators ("a <> 1" for "NOT a = 1").
 */
static bool
append_condition(bson_t *condition, Expr *clause, FilterContext *ctx)
{
	FilterColumn col;
	bool		negated = false;
	bson_t		test;
	bool		ok;

	if (IsA(clause, OpExpr))
		return append_comparison(condition, (OpExpr *) clause, ctx);
	if (IsA(clause, ScalarArrayOpExpr))
		return append_in_list(condition, (ScalarArrayOpExpr *) clause, ctx);
	if (IsA(clause, NullTest))
		return append_null_test(condition, (NullTest *) clause, ctx);
	if (is_notclause(clause))
	{
		clause = get_notclausearg(clause);
		negated = true;
	}
	else if (IsA(clause, BoolExpr))
		return append_bool_expr(condition, (BoolExpr *) clause, ctx);

	if (!filter_column(clause, ctx, &col) || col.kind != FILTER_BOOL)
		return false;
	bson_init(&test);
	BSON_APPEND_BOOL(&test, "$eq", !negated);
	ok = append_test(condition, &col, MONGO_BSON_TYPE_BIT(BSON_TYPE_BOOL),
					 &test, ctx);
	bson_destroy(&test);
	return ok;
}

/*
 * append_bool_expr
 *		AND and OR of clauses that can all be sent: $and and $or.
 */
static bool
append_bool_expr(bson_t *condition, BoolExpr *expr, FilterContext *ctx)
{
	bson_t		list = BSON_INITIALIZER;
	ListCell   *lc;
	bool		ok = true;

	Assert(expr->boolop == AND_EXPR || expr->boolop == OR_EXPR);
	foreach(lc, expr->args)
	{
		bson_t		child = BSON_INITIALIZER;
		char		key[16];

		snprintf(key, sizeof(key), "%d", foreach_current_index(lc));
		ok = append_condition(&child, (Expr *) lfirst(lc), ctx);
		if (ok)
			BSON_APPEND_DOCUMENT(&list, key, &child);
		bson_destroy(&child);
		if (!ok)
			break;
	}
	if (ok)
		BSON_APPEND_ARRAY(condition,
						  expr->boolop == OR_EXPR ? "$or" : "$and", &list);
	bson_destroy(&list);
	return ok;
}

/*
 * append_comparison
 *		A comparison of a column with a value known when the scan starts:
 *		{field: {$op: value}}, when MongoDB decides it as PostgreSQL does
 *		for the BSON types it compares (see comparison_test); documents
 *		holding another type the column converts are let through.
 */
static bool
append_comparison(bson_t *condition, OpExpr *op, FilterContext *ctx)
{
	FilterColumn col;
	Expr	   *value;
	Oid			opno = op->opno;
	char	   *opname;
	bson_t		test = BSON_INITIALIZER;
	uint32		compared = 0;
	bool		ok;

	if (list_length(op->args) != 2)
		return false;
	if (run_time_value(lsecond(op->args), ctx) &&
		filter_column(linitial(op->args), ctx, &col))
		value = lsecond(op->args);
	else if (run_time_value(linitial(op->args), ctx) &&
			 filter_column(lsecond(op->args), ctx, &col))
	{
		value = linitial(op->args);
		opno = get_commutator(opno);
	}
	else
		return false;

	/* built-in operators only: a user's operator could mean anything */
	if (!OidIsValid(opno) || opno >= FirstGenbkiObjectId ||
		(IsA(value, Const) && ((Const *) value)->constisnull))
		return false;
	opname = get_opname(opno);
	if (opname == NULL)
		return false;

	ok = comparison_test(&test, &col, opname, op->inputcollid, value, ctx,
						 &compared) &&
		append_test(condition, &col, compared, &test, ctx);
	bson_destroy(&test);
	return ok;
}

/*
 * comparison_test
 *		The operators that test one column for "col <opname> value", and in
 *		*compared the BSON types among those the column takes that they
 *		decide as PostgreSQL decides for the converted values.
 *
 *		- Numbers: see number_test.
 *		- Text: = and <> compare strings, and ObjectIds through the forms
 *		  of the value (an ObjectId converts to its hex digits), under a
 *		  deterministic collation, where text equality is byte equality;
 *		  ordering and LIKE compare strings only, ordering only under a
 *		  collation ordering as MongoDB does, by UTF-8 bytes (C, POSIX and
 *		  C.UTF-8).  Only
 *		  in a UTF-8 database, whose strings are what MongoDB holds.
 *		- Dates: BSON dates, rounded to their milliseconds exactly; <> is
 *		  not sent.  A date column holds the UTC day of a BSON date.
 *		"<>" and NOT IN also exclude null, as PostgreSQL does.
 */
static bool
comparison_test(bson_t *test, const FilterColumn *col, const char *opname,
				Oid collation, Expr *value, FilterContext *ctx,
				uint32 *compared)
{
	Oid			value_type = exprType((Node *) value);
	bool		eq = strcmp(opname, "=") == 0;
	bool		ne = strcmp(opname, "<>") == 0;
	bool		lt = strcmp(opname, "<") == 0;
	bool		le = strcmp(opname, "<=") == 0;
	bool		gt = strcmp(opname, ">") == 0;
	bool		ge = strcmp(opname, ">=") == 0;

	switch (col->kind)
	{
		case FILTER_INTEGER:
		case FILTER_NUMERIC:
		case FILTER_FLOAT:
			return number_test(test, col, opname, value, ctx, compared);

		case FILTER_TEXT:
			if ((value_type != TEXTOID && value_type != VARCHAROID) ||
				!OidIsValid(collation) ||
				!get_collation_isdeterministic(collation))
				return false;
			*compared = MONGO_BSON_TYPE_BIT(BSON_TYPE_UTF8);
			if (ne && !negation_sendable(col, ctx))
				return false;
			if (eq || ne)
			{
				*compared |= MONGO_BSON_TYPE_BIT(BSON_TYPE_OID);
				ctx->text_forms = col->accepted & *compared;
				append_value(test, eq ? "$in" : "$nin", value,
							 eq ? MONGO_ENCODE_TEXT_FORMS
							 : MONGO_ENCODE_TEXT_FORMS_NULL, ctx);
				return true;
			}
			if (strcmp(opname, "~~") == 0 || strcmp(opname, "!~~") == 0)
				return append_like(test, col, opname, value, compared, ctx);
			if (!(lt || le || gt || ge) || !bytewise_collation(collation))
				return false;
			append_value(test, lt ? "$lt" : le ? "$lte" : gt ? "$gt" : "$gte",
						 value, MONGO_ENCODE_STRING, ctx);
			return true;

		case FILTER_TIMESTAMP:
		case FILTER_DATE:
			if (value_type != col->type)
				return false;
			*compared = MONGO_BSON_TYPE_BIT(BSON_TYPE_DATE_TIME);
			{
				MongoEncoding first = col->kind == FILTER_DATE
				? MONGO_ENCODE_DAY_START : MONGO_ENCODE_MS_CEIL;
				MongoEncoding last = col->kind == FILTER_DATE
				? MONGO_ENCODE_DAY_END : MONGO_ENCODE_MS_FLOOR;
				const char *below_last = col->kind == FILTER_DATE
				? "$lt" : "$lte";

				/*
				 * A timestamp t holds the dates from ceil(t) to floor(t) in
				 * milliseconds (none when t has a fraction of one), a day the
				 * dates from its midnight to the next.
				 */
				if (eq || ge)
					append_value(test, "$gte", value, first, ctx);
				if (eq || le)
					append_value(test, below_last, value, last, ctx);
				if (lt)
					append_value(test, "$lt", value, first, ctx);
				if (gt)
					append_value(test, col->kind == FILTER_DATE ? "$gte" : "$gt",
								 value, last, ctx);
				return eq || lt || le || gt || ge;
			}

		case FILTER_BOOL:
			return false;
	}
	return false;
}

/*
 * number_test
 *		comparison_test for a number column.  MongoDB compares int32, int64,
 *		double and Decimal128 by value, exactly, as the scan converts them
 *		into integer and numeric columns.
 *
 *		- numeric values go as the double that holds them, when one holds
 *		  them exactly and the scan reads that double back as the value
 *		  (numeric_double: 5, 2.5, 1e22, not 0.1); then MongoDB decides the
 *		  comparison as PostgreSQL does for every number type.  Any other
 *		  numeric value, a value known only at run time, and every value
 *		  compared with a numeric(p, s) column (which rounds what it reads
 *		  to scale s) go as bounds: ">=" a double no greater than the value
 *		  (less half a unit of scale s), "<=" one no less, both for "=";
 *		  "<>" is not sent then (number_bound).
 *		- float8: the scan rounds int64 and Decimal128 values to the nearest
 *		  double, which keeps "<", ">" and "<>" true only where they are
 *		  true of the exact value, as MongoDB compares it; "=", "<=" and
 *		  ">=" compare only int32 and double, which it reads as they are.
 *		  float4 rounds doubles too: never sent.
 *		- NaN: PostgreSQL puts it above every number and equal to itself,
 *		  while every MongoDB comparison with a number is false for it.  A
 *		  double or Decimal128 NaN reads as NaN into float8 and numeric
 *		  columns, so there "> v" and ">= v" go as {$not: {$lte: v},
 *		  $type: "number"} and {$not: {$lt: v}, $type: "number"}: true for
 *		  the numbers above v and for NaN, and for nothing else, so that
 *		  MongoDB returns no string, null or missing field for the local
 *		  check to drop, and an index bounds the scan.  NaN itself
 *		  is not written into a filter: FerretDB closes the connection on
 *		  one (so {field: NaN} cannot let NaN through), and "< NaN", true
 *		  for every number here, is true for none there.  A constant NaN
 *		  stays local; a run-time value that turns out NaN makes its
 *		  field's test keep every document (bind_document).
 */
static bool
number_test(bson_t *test, const FilterColumn *col, const char *opname,
			Expr *value, FilterContext *ctx, uint32 *compared)
{
	Oid			value_type = exprType((Node *) value);
	bool		integer;
	bool		eq = strcmp(opname, "=") == 0;
	bool		ne = strcmp(opname, "<>") == 0;
	bool		lt = strcmp(opname, "<") == 0;
	bool		le = strcmp(opname, "<=") == 0;
	bool		gt = strcmp(opname, ">") == 0;
	bool		ge = strcmp(opname, ">=") == 0;
	bool		is_const = IsA(value, Const);
	const uint32 rounded = MONGO_BSON_TYPE_BIT(BSON_TYPE_INT64) |
		MONGO_BSON_TYPE_BIT(BSON_TYPE_DECIMAL128);
	bool		nan_docs;
	bool		bounded;
	MongoEncoding encoding;
	bson_t		list;

	if (!number_type(value_type, &integer) ||
		!(eq || ne || lt || le || gt || ge))
		return false;
	/* PostgreSQL compares numeric only with numeric */
	if ((col->kind == FILTER_NUMERIC) != (value_type == NUMERICOID))
		return false;
	if (is_const &&
		number_is_nan(((Const *) value)->constvalue, value_type))
		return false;

	nan_docs = col->kind != FILTER_INTEGER &&
		(col->accepted & (MONGO_BSON_TYPE_BIT(BSON_TYPE_DOUBLE) |
						  MONGO_BSON_TYPE_BIT(BSON_TYPE_DECIMAL128))) != 0;
	bounded = col->kind == FILTER_NUMERIC &&
		(col->typmod >= 0 || !is_const ||
		 !numeric_double(DatumGetNumeric(((Const *) value)->constvalue),
						 NULL));
	ctx->typmod = col->kind == FILTER_NUMERIC ? col->typmod : -1;
	if (bounded)
		ctx->exact = false;

	*compared = NUMBER_TYPES;
	if (col->kind == FILTER_FLOAT)
	{
		if (eq || le || ge)
			*compared &= ~rounded;
		else if (col->accepted & rounded)
			ctx->exact = false;
	}

	/*
	 * A float known only at run time goes as its own bound, for
	 * bind_document's NaN check, which may keep more documents than the
	 * test does.
	 */
	encoding = MONGO_ENCODE_NUMBER;
	if (col->kind == FILTER_FLOAT && !is_const)
	{
		encoding = lt || le ? MONGO_ENCODE_ABOVE : MONGO_ENCODE_BELOW;
		ctx->exact = false;
	}

	if (ne)
	{
		if (bounded || !negation_sendable(col, ctx))
			return false;
		bson_append_array_begin(test, "$nin", -1, &list);
		append_value(&list, "0", value, encoding, ctx);
		BSON_APPEND_NULL(&list, "1");
		bson_append_array_end(test, &list);
		return true;
	}

	if (eq)
	{
		if (!bounded)
			append_value(test, "$eq", value, encoding, ctx);
		else
		{
			append_value(test, "$gte", value, MONGO_ENCODE_BELOW, ctx);
			append_value(test, "$lte", value, MONGO_ENCODE_ABOVE, ctx);
		}
		return true;
	}

	if (lt || le)
	{
		/* MongoDB may also match NaN for "< v": the local check drops it */
		if (col->kind == FILTER_FLOAT)
			ctx->exact = false;
		append_value(test, bounded || le ? "$lte" : "$lt", value,
					 bounded ? MONGO_ENCODE_ABOVE : encoding, ctx);
		return true;
	}

	/* "> v", ">= v" */
	if (bounded)
		encoding = MONGO_ENCODE_BELOW;
	if (nan_docs)
	{
		bson_t		negated;

		bson_append_document_begin(test, "$not", -1, &negated);
		append_value(&negated, bounded || ge ? "$lt" : "$lte", value,
					 encoding, ctx);
		bson_append_document_end(test, &negated);
		BSON_APPEND_UTF8(test, "$type", "number");
		ctx->exact = false;
	}
	else
		append_value(test, bounded || ge ? "$gte" : "$gt", value, encoding,
					 ctx);
	return true;
}

/*
 * append_like
 *		"col LIKE 'pattern'" as an anchored regular expression matching the
 *		same strings: % is any run of characters, _ one character, and
 *		everything else stands for itself.  NOT LIKE: {$not: regex}, which
 *		MongoDB also matches for every value that is not a string.  ILIKE
 *		is not sent: its case folding follows the database's locale.
 */
static bool
append_like(bson_t *test, const FilterColumn *col, const char *opname,
			Expr *value, uint32 *compared, FilterContext *ctx)
{
	char	   *regex;
	bson_t		not_test;

	if (!IsA(value, Const))
		return false;
	regex = like_regex(TextDatumGetCString(((Const *) value)->constvalue));
	if (regex == NULL)
		return false;
	if (strcmp(opname, "~~") == 0)
	{
		BSON_APPEND_REGEX(test, "$regex", regex, "");
		return true;
	}
	if (!negation_sendable(col, ctx))
		return false;
	bson_append_document_begin(test, "$not", -1, &not_test);
	BSON_APPEND_REGEX(&not_test, "$regex", regex, "");
	bson_append_document_end(test, &not_test);
	*compared = ~(uint32) 0;
	ctx->exact = false;
	return true;
}

/*
 * negation_sendable
 *		Whether a test that matches documents lacking a value ("<>", NOT IN,
 *		NOT LIKE) can be sent for a column.  Not through an array position
 *		("tags.0"): MongoDB also looks into the array's documents there and
 *		would leave out a document PostgreSQL keeps.  Exact only for a
 *		column declaring its BSON types: otherwise BSON undefined reads as
 *		NULL here, while MongoDB 8 no longer treats it as null.
 */
static bool
negation_sendable(const FilterColumn *col, FilterContext *ctx)
{
	if (strcmp(projected_path(col->field), col->field) != 0)
		return false;
	if (!col->declared)
		ctx->exact = false;
	return true;
}

/*
 * like_regex
 *		The regular expression for a LIKE pattern with the default escape
 *		character, or NULL for a pattern PostgreSQL rejects.  Every ASCII
 *		punctuation character is escaped, which both PCRE (MongoDB) and RE2
 *		(FerretDB) read as the character itself.  Any one character, as _
 *		is in a UTF-8 database, is "[\s\S]" in both: "." would not match a
 *		newline, and the option "s" that makes it do is refused by
 *		DocumentDB (error 51108).  A trailing % needs no "[\s\S]*";
 *		otherwise \z anchors the end ($ would also match before a final
 *		newline).
 */
static char *
like_regex(const char *pattern)
{
	StringInfoData regex;
	const char *p;

	int			prefix_len = 1;	/* the regex up to the trailing %s */
	bool		ends_with_any = false;	/* the pattern ends with a % */

	initStringInfo(&regex);
	appendStringInfoChar(&regex, '^');
	for (p = pattern; *p != '\0'; p++)
	{
		ends_with_any = *p == '%';
		if (*p == '%')
		{
			appendStringInfoString(&regex, MONGO_REGEX_ANY "*");
			continue;
		}
		if (*p == '_')
			appendStringInfoString(&regex, MONGO_REGEX_ANY);
		else
		{
			/* an escaped character stands for itself, also % and _ */
			if (*p == '\\' && *++p == '\0')
				return NULL;
			if (IS_HIGHBIT_SET(*p) || !ispunct((unsigned char) *p))
				appendStringInfoChar(&regex, *p);
			else
				appendStringInfo(&regex, "\\%c", *p);
		}
		prefix_len = regex.len;
	}

	/* trailing "[\s\S]*"s add nothing to a match anchored at the start only */
	if (ends_with_any)
		regex.data[regex.len = prefix_len] = '\0';
	else
		appendStringInfoString(&regex, "\\z");
	return regex.data;
}

/*
 * append_in_list
 *		"col IN (constants)" or "col = ANY(array constant)": $in, with each
 *		element encoded as "col = element" would be; "col <> ALL(...)" (NOT
 *		IN): $nin, with null.  For integer, numeric and text columns only;
 *		with numeric elements, when a double holds each exactly and the
 *		column has no typmod (see number_test).  NaN is not one: it stays
 *		local.
 */
static bool
append_in_list(bson_t *condition, ScalarArrayOpExpr *clause,
			   FilterContext *ctx)
{
	FilterColumn col;
	Const	   *array_const;
	char	   *opname = get_opname(clause->opno);
	ArrayType  *array;
	Oid			elemtype;
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	Datum	   *items;
	bool	   *nulls;
	int			nitems;
	bool		integer;
	MongoEncoding encoding;
	uint32		compared;
	bson_t		test = BSON_INITIALIZER;
	bson_t		list;
	int			n = 0;
	int			i;
	bool		ok;

	if (list_length(clause->args) != 2 ||
		!IsA(lsecond(clause->args), Const) ||
		clause->opno >= FirstGenbkiObjectId || opname == NULL ||
		!(clause->useOr ? strcmp(opname, "=") == 0 : strcmp(opname, "<>") == 0) ||
		((Const *) lsecond(clause->args))->constisnull ||
		!filter_column(linitial(clause->args), ctx, &col))
		return false;
	array_const = lsecond(clause->args);
	array = DatumGetArrayTypeP(array_const->constvalue);
	elemtype = ARR_ELEMTYPE(array);

	if ((col.kind == FILTER_INTEGER || col.kind == FILTER_NUMERIC) &&
		number_type(elemtype, &integer) &&
		(col.kind == FILTER_NUMERIC) == (elemtype == NUMERICOID) &&
		(col.kind != FILTER_NUMERIC || col.typmod < 0))
	{
		encoding = MONGO_ENCODE_NUMBER;
		compared = NUMBER_TYPES;
	}
	else if (col.kind == FILTER_TEXT &&
			 (elemtype == TEXTOID || elemtype == VARCHAROID) &&
			 OidIsValid(clause->inputcollid) &&
			 get_collation_isdeterministic(clause->inputcollid))
	{
		encoding = MONGO_ENCODE_STRING;
		compared = MONGO_BSON_TYPE_BIT(BSON_TYPE_UTF8) |
			MONGO_BSON_TYPE_BIT(BSON_TYPE_OID);
	}
	else
		return false;

	get_typlenbyvalalign(elemtype, &elmlen, &elmbyval, &elmalign);
	deconstruct_array(array, elemtype, elmlen, elmbyval, elmalign,
					  &items, &nulls, &nitems);

	/* numeric elements only where a double holds each (see number_test) */
	if (elemtype == NUMERICOID)
	{
		for (i = 0; i < nitems; i++)
		{
			if (!nulls[i] && !numeric_double(DatumGetNumeric(items[i]), NULL))
				return false;
		}
	}

	/*
	 * "<> ALL" is never true with a NULL element, and true even for NULL
	 * with none: leave both to PostgreSQL.  An empty IN list sends $in: [].
	 */
	if (!clause->useOr)
	{
		if (nitems == 0 || !negation_sendable(&col, ctx))
			return false;
		for (i = 0; i < nitems; i++)
		{
			if (nulls[i])
				return false;
		}
	}

	bson_append_array_begin(&test, clause->useOr ? "$in" : "$nin", -1, &list);
	for (i = 0; i < nitems; i++)
	{
		char		key[16];

		/* a NULL element matches nothing in PostgreSQL: leave it out */
		if (nulls[i])
			continue;
		if (encoding == MONGO_ENCODE_STRING)
			mongo_append_text_forms(&list, &n, TextDatumGetCString(items[i]),
							  col.accepted & compared);
		else
		{
			snprintf(key, sizeof(key), "%d", n++);
			append_encoded(&list, key, items[i], elemtype, encoding, 0, -1);
		}
	}
	if (!clause->useOr)
	{
		char		key[16];

		snprintf(key, sizeof(key), "%d", n++);
		BSON_APPEND_NULL(&list, key);
	}
	bson_append_array_end(&test, &list);

	ok = append_test(condition, &col, compared, &test, ctx);
	bson_destroy(&test);
	return ok;
}

/*
 * append_null_test
 *		"col IS NOT NULL": {field: {$ne: null}}; a value PostgreSQL reads as
 *		NULL is null, undefined or missing in MongoDB too, or it does not
 *		fit the column, and the local check drops it.
 *
 *		"col IS NULL": {field: null}, which matches null and missing fields,
 *		only where no other value can be read as NULL: the column declares
 *		its BSON types (without that, undefined is NULL, and MongoDB 8 no
 *		longer matches undefined as null), its values that do not fit are
 *		not read as NULL (on_type_mismatch 'null'), and no part of its path
 *		is an array position (MongoDB would test every element there).
 */
static bool
append_null_test(bson_t *condition, NullTest *test, FilterContext *ctx)
{
	FilterColumn col;

	if (test->argisrow || !filter_column(test->arg, ctx, &col))
		return false;
	if (test->nulltesttype == IS_NOT_NULL)
	{
		bson_t		ne_null;

		bson_append_document_begin(condition, col.field, -1, &ne_null);
		BSON_APPEND_NULL(&ne_null, "$ne");
		bson_append_document_end(condition, &ne_null);
		/* MongoDB 8 matches undefined, which reads as NULL undeclared */
		if (col.on_mismatch != MONGO_MISMATCH_ERROR || !col.declared)
			ctx->exact = false;
		return true;
	}
	if (!col.declared || col.on_mismatch == MONGO_MISMATCH_NULL ||
		strcmp(projected_path(col.field), col.field) != 0)
		return false;
	BSON_APPEND_NULL(condition, col.field);
	if (col.on_mismatch != MONGO_MISMATCH_ERROR)
		ctx->exact = false;
	return true;
}

/*
 * append_test
 *		Append {field: test} to condition.  Documents whose field holds a
 *		BSON type the column takes but the test does not decide as
 *		PostgreSQL would (not in compared) are let through for PostgreSQL
 *		to decide: {$or: [{field: test}, {field: {$type: [...]}}]}.  When
 *		such a type has no $type name every server knows, the clause is
 *		not sent.
 */
static bool
append_test(bson_t *condition, const FilterColumn *col, uint32 compared,
			const bson_t *test, FilterContext *ctx)
{
	uint32		passed = col->accepted & ~compared;
	bson_t		alternatives;
	bson_t		alternative;
	bson_t		type_test;
	bson_t		names;
	int			n = 0;
	size_t		i;

	if (passed == 0)
	{
		BSON_APPEND_DOCUMENT(condition, col->field, test);
		if (col->on_mismatch != MONGO_MISMATCH_ERROR)
			ctx->exact = false;
		return true;
	}

	for (i = 0; i < lengthof(passable_types); i++)
		passed &= ~MONGO_BSON_TYPE_BIT(passable_types[i].type);
	if (passed != 0)
		return false;

	ctx->exact = false;
	bson_append_array_begin(condition, "$or", -1, &alternatives);
	bson_append_document_begin(&alternatives, "0", -1, &alternative);
	BSON_APPEND_DOCUMENT(&alternative, col->field, test);
	bson_append_document_end(&alternatives, &alternative);
	bson_append_document_begin(&alternatives, "1", -1, &alternative);
	bson_append_document_begin(&alternative, col->field, -1, &type_test);
	bson_append_array_begin(&type_test, "$type", -1, &names);
	for (i = 0; i < lengthof(passable_types); i++)
	{
		if (col->accepted & ~compared &
			MONGO_BSON_TYPE_BIT(passable_types[i].type))
		{
			char		key[16];

			snprintf(key, sizeof(key), "%d", n++);
			BSON_APPEND_UTF8(&names, key, passable_types[i].name);
		}
	}
	bson_append_array_end(&type_test, &names);
	bson_append_document_end(&alternative, &type_test);
	bson_append_document_end(&alternatives, &alternative);
	bson_append_array_end(condition, &alternatives);
	return true;
}

/*
 * filter_column
 *		Whether expr is a column of the scanned table a filter can test, and
 *		how the scan converts it.  Not: another relation's or a system
 *		column, the whole document, a column taking booleans as numbers or
 *		words (bool_values), float4, and types not listed in FilterKind.
 *		Option bson_type narrows the BSON types the column takes.
 */
static bool
filter_column(Expr *expr, FilterContext *ctx, FilterColumn *col)
{
	Var		   *var;
	char	   *field;
	uint32		declared;

	/* varchar columns are compared with text operators */
	if (IsA(expr, RelabelType))
		expr = ((RelabelType *) expr)->arg;
	if (!IsA(expr, Var))
		return false;
	var = (Var *) expr;
	if ((Index) var->varno != ctx->relid || var->varattno <= 0 ||
		var->varlevelsup != 0 ||
		mongo_column_flag(ctx->relation, var->varattno, "bool_values"))
		return false;

	switch (var->vartype)
	{
		case INT2OID:
		case INT4OID:
			col->kind = FILTER_INTEGER;
			col->accepted = NUMBER_TYPES;
			break;
		case INT8OID:
			col->kind = FILTER_INTEGER;
			col->accepted = NUMBER_TYPES |
				MONGO_BSON_TYPE_BIT(BSON_TYPE_TIMESTAMP);
			break;
		case NUMERICOID:
			col->kind = FILTER_NUMERIC;
			col->accepted = NUMBER_TYPES;
			break;
		case FLOAT8OID:
			col->kind = FILTER_FLOAT;
			col->accepted = NUMBER_TYPES;
			break;
		case TEXTOID:
		case VARCHAROID:
			/* varchar(n) would cut trailing spaces off longer strings */
			if (GetDatabaseEncoding() != PG_UTF8 || var->vartypmod >= 0 ||
				!ctx->text_pushdown)
				return false;
			col->kind = FILTER_TEXT;
			col->accepted = NUMBER_TYPES |
				MONGO_BSON_TYPE_BIT(BSON_TYPE_UTF8) |
				MONGO_BSON_TYPE_BIT(BSON_TYPE_OID) |
				MONGO_BSON_TYPE_BIT(BSON_TYPE_CODE) |
				MONGO_BSON_TYPE_BIT(BSON_TYPE_SYMBOL);
			break;
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
		case DATEOID:
			col->kind = var->vartype == DATEOID ? FILTER_DATE
				: FILTER_TIMESTAMP;
			col->accepted = MONGO_BSON_TYPE_BIT(BSON_TYPE_DATE_TIME) |
				MONGO_BSON_TYPE_BIT(BSON_TYPE_TIMESTAMP);
			if (mongo_column_flag(ctx->relation, var->varattno,
								  "objectid_timestamp"))
				col->accepted |= MONGO_BSON_TYPE_BIT(BSON_TYPE_OID);
			break;
		case BOOLOID:
			col->kind = FILTER_BOOL;
			col->accepted = MONGO_BSON_TYPE_BIT(BSON_TYPE_BOOL);
			break;
		default:
			return false;
	}

	field = mongo_get_column_field(ctx->relation, var->varattno,
								   get_attname(ctx->relation, var->varattno,
											   false));
	if (strcmp(field, MONGO_WHOLE_DOCUMENT) == 0)
		return false;
	col->field = field;
	col->attnum = var->varattno;
	col->type = var->vartype;
	col->typmod = var->vartypmod;
	declared = mongo_column_bson_types(ctx->relation, var->varattno);
	col->declared = declared != 0;
	if (col->declared)
		col->accepted &= declared;
	col->on_mismatch =
		mongo_column_mismatch_policy(GetForeignTable(ctx->relation),
									 var->varattno);
	return true;
}

/*
 * mongo_build_sort
 *		The sort document for pathkeys, or NULL when MongoDB would not order
 *		the rows exactly as PostgreSQL (see sortable_column).  text_pushdown
 *		is false when the collection has a default collation.
 *
 *		MongoDB puts null and missing fields first in ascending order, and
 *		last in descending order.  A key whose NULLs PostgreSQL wants at the
 *		other end is sent only for the field _id, which a document always
 *		has and which is almost never null: *null_guard is then its column,
 *		and the scan raises an error if it reads a NULL there, rather than
 *		return rows in the wrong order.  0 when there is no such key.
 */
bson_t *
mongo_build_sort(List *pathkeys, Index relid, Oid relation,
				 bool text_pushdown, AttrNumber *null_guard)
{
	bson_t	   *sort = bson_new();
	FilterContext ctx;
	ListCell   *lc;

	ctx.relid = relid;
	ctx.relation = relation;
	ctx.params = NIL;
	ctx.exact = true;
	ctx.text_forms = 0;
	ctx.text_pushdown = text_pushdown;
	ctx.typmod = -1;
	*null_guard = 0;

	foreach(lc, pathkeys)
	{
		PathKey    *pathkey = lfirst_node(PathKey, lc);
		EquivalenceClass *ec = pathkey->pk_eclass;
		bool		descending = mongo_pathkey_descending(pathkey);
		FilterColumn col;
		bool		found = false;
		ListCell   *lm;

		if (ec->ec_has_volatile)
			break;
		foreach(lm, ec->ec_members)
		{
			EquivalenceMember *em = lfirst_node(EquivalenceMember, lm);

			if (bms_is_member(relid, em->em_relids) &&
				bms_num_members(em->em_relids) == 1 &&
				filter_column(em->em_expr, &ctx, &col))
			{
				found = true;
				break;
			}
		}
		if (!found ||
			pathkey->pk_opfamily !=
			get_opclass_family(GetDefaultOpClass(col.type, BTREE_AM_OID)) ||
			!sortable_column(&col, ec->ec_collation, lnext(pathkeys, lc) == NULL) ||
			has_key(sort, col.field))
			break;
		if (pathkey->pk_nulls_first == descending)
		{
			if (strcmp(col.field, "_id") != 0 || *null_guard != 0)
				break;
			*null_guard = col.attnum;
		}
		BSON_APPEND_INT32(sort, col.field, descending ? -1 : 1);
		if (lnext(pathkeys, lc) == NULL)
			return sort;
	}
	bson_destroy(sort);
	return NULL;
}

/*
 * has_key
 *		Whether a document has a top-level key, which may contain dots.
 */
static bool
has_key(const bson_t *doc, const char *key)
{
	bson_iter_t iter;

	if (bson_iter_init(&iter, doc))
	{
		while (bson_iter_next(&iter))
		{
			if (strcmp(bson_iter_key(&iter), key) == 0)
				return true;
		}
	}
	return false;
}

/*
 * sortable_column
 *		Whether MongoDB sorts a column's field as PostgreSQL sorts the
 *		column: the BSON types it takes must sort among themselves as their
 *		conversions do.  Numbers sort by value in both, and so do integer
 *		columns; numeric columns only from int32 and int64 (PostgreSQL sorts
 *		NaN last, MongoDB first), float8 never; text only from strings under
 *		a bytewise collation, or from ObjectIds alone (their hex digits sort
 *		as their bytes); dates only from BSON dates (BSON timestamps sort
 *		after all of them); booleans.  Values that do not fit must raise an
 *		error: read as NULL, they would be out of place.  Every key but the
 *		last must tell values apart as MongoDB does: not a date column,
 *		which puts a whole day's dates together.
 */
static bool
sortable_column(const FilterColumn *col, Oid collation, bool last)
{
	const uint32 ints = MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32) |
		MONGO_BSON_TYPE_BIT(BSON_TYPE_INT64);
	const uint32 strings = MONGO_BSON_TYPE_BIT(BSON_TYPE_UTF8);
	const uint32 oids = MONGO_BSON_TYPE_BIT(BSON_TYPE_OID);
	const uint32 dates = MONGO_BSON_TYPE_BIT(BSON_TYPE_DATE_TIME);

	if (col->on_mismatch == MONGO_MISMATCH_NULL)
		return false;
	switch (col->kind)
	{
		case FILTER_INTEGER:
			return (col->accepted & ~NUMBER_TYPES) == 0;
		case FILTER_NUMERIC:
			return (col->accepted & ~ints) == 0;
		case FILTER_TEXT:
			return bytewise_collation(collation) &&
				(col->accepted == strings || col->accepted == oids);
		case FILTER_TIMESTAMP:
			return col->accepted == dates;
		case FILTER_DATE:
			return col->accepted == dates && last;
		case FILTER_BOOL:
			return true;
		case FILTER_FLOAT:
			return false;
	}
	return false;
}

/*
 * bytewise_collation
 *		Whether a collation orders strings by their UTF-8 bytes, as MongoDB
 *		does by default: C and POSIX, and the C.UTF-8 locale (code point
 *		order) of a database's default collation.
 */
static bool
bytewise_collation(Oid collation)
{
	const char *locale;

	if (!OidIsValid(collation))
		return false;
	if (mongo_collation_is_c(collation))
		return true;
	if (collation != DEFAULT_COLLATION_OID ||
		GetDatabaseEncoding() != PG_UTF8)
		return false;
	if (mongo_default_collation_provider() == COLLPROVIDER_ICU)
		return false;
	locale = setlocale(LC_COLLATE, NULL);
	return locale != NULL &&
		(strcmp(locale, "C.UTF-8") == 0 || strcmp(locale, "C.utf8") == 0);
}

/*
 * run_time_value
 *		Whether an expression gives one value when the scan starts: a
 *		constant, a parameter, or a stable expression of those and of
 *		columns of other tables (nothing volatile, no subqueries).  Other
 *		tables' columns come from the outer side of a nested loop, whose
 *		parameterized scan starts again for each outer row with their
 *		values (mongoGetForeignPaths).
 */
static bool
run_time_value(Expr *expr, FilterContext *ctx)
{
	return IsA(expr, Const) || IsA(expr, Param) ||
		(!reads_scanned_row((Node *) expr, &ctx->relid) &&
		 !contain_volatile_functions((Node *) expr) &&
		 !contain_subplans((Node *) expr));
}

/*
 * reads_scanned_row
 *		Whether an expression reads a column of the scanned table (relid),
 *		or anything whose value is not known before its row is: an outer
 *		query's column or a placeholder.
 */
static bool
reads_scanned_row(Node *node, void *relid)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return (Index) ((Var *) node)->varno == *(Index *) relid ||
			((Var *) node)->varlevelsup != 0;
	if (IsA(node, PlaceHolderVar))
		return true;
	return expression_tree_walker(node, reads_scanned_row, relid);
}

/*
 * append_value
 *		Append a value to a filter: a constant encoded now, anything else as
 *		a placeholder the executor fills in.
 */
static void
append_value(bson_t *doc, const char *key, Expr *value,
			 MongoEncoding encoding, FilterContext *ctx)
{
	bson_t		placeholder;

	if (IsA(value, Const))
	{
		append_encoded(doc, key, ((Const *) value)->constvalue,
					   ((Const *) value)->consttype, encoding,
					   ctx->text_forms, ctx->typmod);
		return;
	}
	bson_append_document_begin(doc, key, -1, &placeholder);
	BSON_APPEND_INT32(&placeholder, "$param", list_length(ctx->params));
	BSON_APPEND_INT32(&placeholder, "$encode", (int32) encoding);
	BSON_APPEND_INT64(&placeholder, "$forms", ctx->text_forms);
	BSON_APPEND_INT32(&placeholder, "$typmod", ctx->typmod);
	bson_append_document_end(doc, &placeholder);
	ctx->params = lappend(ctx->params, value);
}

/*
 * append_encoded
 *		A PostgreSQL value as the BSON value that compares like it (see
 *		MongoEncoding).
 */
static void
append_encoded(bson_t *doc, const char *key, Datum value, Oid type,
			   MongoEncoding encoding, uint32 forms, int32 typmod)
{
	double		exact;

	switch (encoding)
	{
		case MONGO_ENCODE_NUMBER:
			switch (type)
			{
				case INT2OID:
					BSON_APPEND_INT64(doc, key, DatumGetInt16(value));
					break;
				case INT4OID:
					BSON_APPEND_INT64(doc, key, DatumGetInt32(value));
					break;
				case INT8OID:
					BSON_APPEND_INT64(doc, key, DatumGetInt64(value));
					break;
				case FLOAT4OID:
					BSON_APPEND_DOUBLE(doc, key, DatumGetFloat4(value));
					break;
				case NUMERICOID:
					/* number_test made sure a double holds it exactly */
					numeric_double(DatumGetNumeric(value), &exact);
					BSON_APPEND_DOUBLE(doc, key, exact);
					break;
				default:
					BSON_APPEND_DOUBLE(doc, key, DatumGetFloat8(value));
					break;
			}
			break;
		case MONGO_ENCODE_BELOW:
		case MONGO_ENCODE_ABOVE:
			BSON_APPEND_DOUBLE(doc, key,
							   number_bound(value, type, typmod,
											encoding == MONGO_ENCODE_ABOVE));
			break;
		case MONGO_ENCODE_STRING:
			BSON_APPEND_UTF8(doc, key, TextDatumGetCString(value));
			break;
		case MONGO_ENCODE_TEXT_FORMS:
		case MONGO_ENCODE_TEXT_FORMS_NULL:
			{
				bson_t		array;
				int			n = 0;

				bson_append_array_begin(doc, key, -1, &array);
				mongo_append_text_forms(&array, &n, TextDatumGetCString(value),
								  forms);
				if (encoding == MONGO_ENCODE_TEXT_FORMS_NULL)
				{
					char		null_key[16];

					snprintf(null_key, sizeof(null_key), "%d", n);
					BSON_APPEND_NULL(&array, null_key);
				}
				bson_append_array_end(doc, &array);
				break;
			}
		case MONGO_ENCODE_MS_FLOOR:
		case MONGO_ENCODE_MS_CEIL:
			BSON_APPEND_DATE_TIME(doc, key,
								  mongo_timestamp_ms(DatumGetTimestamp(value),
											   encoding == MONGO_ENCODE_MS_CEIL));
			break;
		case MONGO_ENCODE_DAY_START:
		case MONGO_ENCODE_DAY_END:
			BSON_APPEND_DATE_TIME(doc, key,
								  mongo_date_ms(DatumGetDateADT(value),
										  encoding == MONGO_ENCODE_DAY_END));
			break;
	}
}

/*
 * mongo_bind_filter
 *		The filter with the run-time values put in place of its
 *		{"$param": n} placeholders.  A NULL value compares with nothing in
 *		PostgreSQL; MongoDB gets null, or an empty list of text forms.
 *		Without values (values NULL), each placeholder becomes
 *		{"$param": n}, numbered from 1, for EXPLAIN.
 */
bson_t *
mongo_bind_filter(const bson_t *filter, Datum *values, bool *nulls,
				  Oid *types)
{
	bson_t	   *result = bson_new();

	bind_document(result, filter, false, values, nulls, types);
	return result;
}

/*
 * bind_document
 *		Copy a document (or an array: is_array) into out, replacing
 *		placeholders.
 */
static void
bind_document(bson_t *out, const bson_t *in, bool is_array, Datum *values,
			  bool *nulls, Oid *types)
{
	bson_iter_t iter;

	if (!bson_iter_init(&iter, in))
		return;
	while (bson_iter_next(&iter))
	{
		const char *key = bson_iter_key(&iter);
		const uint8_t *data;
		uint32		len;
		bson_t		child;
		bson_t		copy;
		bson_iter_t param;
		bson_iter_t encode;
		bool		array = BSON_ITER_HOLDS_ARRAY(&iter);

		if (!array && !BSON_ITER_HOLDS_DOCUMENT(&iter))
		{
			bson_append_iter(out, key, -1, &iter);
			continue;
		}
		if (array)
			bson_iter_array(&iter, &len, &data);
		else
			bson_iter_document(&iter, &len, &data);
		if (!bson_init_static(&child, data, len))
			continue;

		/*
		 * A comparison with NULL is never true in PostgreSQL: the field's
		 * whole test becomes one that matches nothing (a NULL bound as
		 * null would match null and missing fields, or with $nin nearly
		 * everything).
		 */
		if (values != NULL && !is_array && !array && key[0] != '$' &&
			holds_placeholder(&child, false, values, nulls, types))
		{
			bson_t		nothing;

			bson_append_document_begin(out, key, -1, &copy);
			bson_append_array_begin(&copy, "$in", -1, &nothing);
			bson_append_array_end(&copy, &nothing);
			bson_append_document_end(out, &copy);
			continue;
		}

		/*
		 * A NaN bound cannot be written (see number_test): the field's test
		 * becomes {$not: {$in: []}}, which every document passes.  Only
		 * filters that are not exact hold bounds.
		 */
		if (values != NULL && !is_array && !array && key[0] != '$' &&
			holds_placeholder(&child, true, values, nulls, types))
		{
			bson_t		nothing;
			bson_t		negated;

			bson_append_document_begin(out, key, -1, &copy);
			bson_append_document_begin(&copy, "$not", -1, &negated);
			bson_append_array_begin(&negated, "$in", -1, &nothing);
			bson_append_array_end(&negated, &nothing);
			bson_append_document_end(&copy, &negated);
			bson_append_document_end(out, &copy);
			continue;
		}

		if (!array && bson_iter_init_find(&param, &child, "$param") &&
			bson_iter_init_find(&encode, &child, "$encode"))
		{
			int			n = bson_iter_int32(&param);
			MongoEncoding encoding = (MongoEncoding) bson_iter_int32(&encode);
			bson_iter_t forms;
			uint32		text_forms = 0;
			int32		typmod = -1;

			if (bson_iter_init_find(&forms, &child, "$forms"))
				text_forms = (uint32) bson_iter_as_int64(&forms);
			if (bson_iter_init_find(&forms, &child, "$typmod"))
				typmod = bson_iter_int32(&forms);

			/* no values: the placeholder as EXPLAIN shows it */
			if (values == NULL)
			{
				bson_append_document_begin(out, key, -1, &copy);
				BSON_APPEND_INT32(&copy, "$param", n + 1);
				bson_append_document_end(out, &copy);
			}
			else if (!nulls[n])
				append_encoded(out, key, values[n], types[n], encoding,
							   text_forms, typmod);
			else if (encoding == MONGO_ENCODE_TEXT_FORMS ||
					 encoding == MONGO_ENCODE_TEXT_FORMS_NULL)
			{
				bson_append_array_begin(out, key, -1, &copy);
				bson_append_array_end(out, &copy);
			}
			else
				BSON_APPEND_NULL(out, key);
			continue;
		}

		if (array)
			bson_append_array_begin(out, key, -1, &copy);
		else
			bson_append_document_begin(out, key, -1, &copy);
		bind_document(&copy, &child, array, values, nulls, types);
		if (array)
			bson_append_array_end(out, &copy);
		else
			bson_append_document_end(out, &copy);
	}
}

/*
 * holds_placeholder
 *		Whether a part of a filter has a placeholder whose value is NULL,
 *		or with nan_bound, a MONGO_ENCODE_BELOW or _ABOVE placeholder whose
 *		value is NaN.
 */
static bool
holds_placeholder(const bson_t *doc, bool nan_bound, Datum *values,
				  bool *nulls, Oid *types)
{
	bson_iter_t iter;
	bson_iter_t param;
	bson_iter_t encode;

	if (bson_iter_init_find(&param, doc, "$param") &&
		BSON_ITER_HOLDS_INT32(&param))
	{
		int			n = bson_iter_int32(&param);
		MongoEncoding encoding;

		if (!nan_bound)
			return nulls[n];
		if (!bson_iter_init_find(&encode, doc, "$encode") ||
			!BSON_ITER_HOLDS_INT32(&encode))
			return false;
		encoding = (MongoEncoding) bson_iter_int32(&encode);
		return (encoding == MONGO_ENCODE_BELOW ||
				encoding == MONGO_ENCODE_ABOVE) &&
			!nulls[n] && number_is_nan(values[n], types[n]);
	}

	if (!bson_iter_init(&iter, doc))
		return false;
	while (bson_iter_next(&iter))
	{
		const uint8_t *data;
		uint32		len;
		bson_t		child;

		if (BSON_ITER_HOLDS_DOCUMENT(&iter))
			bson_iter_document(&iter, &len, &data);
		else if (BSON_ITER_HOLDS_ARRAY(&iter))
			bson_iter_array(&iter, &len, &data);
		else
			continue;
		if (bson_init_static(&child, data, len) &&
			holds_placeholder(&child, nan_bound, values, nulls, types))
			return true;
	}
	return false;
}

/*
 * number_type
 *		Whether a type is one of PostgreSQL's number types, and an integer.
 */
static bool
number_type(Oid type, bool *integer)
{
	*integer = type == INT2OID || type == INT4OID || type == INT8OID;
	return *integer || type == FLOAT4OID || type == FLOAT8OID ||
		type == NUMERICOID;
}

/*
 * number_is_nan
 *		Whether a float4, float8 or numeric value is NaN.
 */
static bool
number_is_nan(Datum value, Oid type)
{
	switch (type)
	{
		case FLOAT4OID:
			return isnan(DatumGetFloat4(value));
		case FLOAT8OID:
			return isnan(DatumGetFloat8(value));
		case NUMERICOID:
			return numeric_is_nan(DatumGetNumeric(value));
		default:
			return false;
	}
}

/*
 * numeric_double
 *		The double nearest to a numeric (in *result, unless result is NULL;
 *		an infinity beyond the doubles' range), and whether a filter can
 *		send the numeric as that double: the double is the value exactly,
 *		and it is what the scan reads the double as, its shortest decimal
 *		form.  Both are needed: MongoDB compares int64 and Decimal128
 *		values with the exact double, while a document's double reads as
 *		its shortest form (0.1000000000000000055511151231257827 is a double
 *		exactly, but the document's double reads as 0.1).  The infinities
 *		are exact too.
 */
static bool
numeric_double(Numeric num, double *result)
{
	char	   *decimal;
	char		shortest[DOUBLE_SHORTEST_DECIMAL_LEN];
	Datum		read_back;
	double		d;

	if (numeric_is_nan(num))
	{
		if (result != NULL)
			*result = get_float8_nan();
		return false;
	}

	/* strtod rounds correctly, to an infinity beyond the largest double */
	decimal = DatumGetCString(DirectFunctionCall1(numeric_out,
												  NumericGetDatum(num)));
	d = strtod(decimal, NULL);
	if (result != NULL)
		*result = d;
	if (numeric_is_inf(num))
		return true;
	if (isinf(d))
		return false;

	double_to_shortest_decimal_buf(d, shortest);
	read_back = DirectFunctionCall3(numeric_in, CStringGetDatum(shortest),
									ObjectIdGetDatum(InvalidOid),
									Int32GetDatum(-1));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(num),
										  read_back)) != 0)
		return false;
	return exact_double_decimal(shortest);
}

/*
 * exact_double_decimal
 *		Whether a double's shortest decimal form ([-]digits[.digits]
 *		[e(+|-)digits], at most 17 digits) is the double's exact value.
 *		m * 10^e is m * 5^e * 2^e: exact when, once 5^-e is divided out of
 *		m (e < 0) or 5^e multiplied in (e > 0), at most 53 bits remain.
 *		Being a double's decimal form, it is then the double itself.
 */
static bool
exact_double_decimal(const char *decimal)
{
	const int64 limit = INT64CONST(1) << 53;
	const char *p = decimal;
	int64		m = 0;
	int			e = 0;
	bool		fraction = false;

	if (*p == '-')
		p++;
	for (; isdigit((unsigned char) *p) || *p == '.'; p++)
	{
		if (*p == '.')
			fraction = true;
		else
		{
			m = m * 10 + (*p - '0');
			e -= fraction;
		}
	}
	if (*p == 'e')
		e += atoi(p + 1);
	if (m == 0)
		return true;
	for (; e < 0; e++)
	{
		if (m % 5 != 0)
			return false;
		m /= 5;
	}
	for (; e > 0; e--)
	{
		if (m > limit / 5)
			return false;
		m *= 5;
	}
	return m <= limit;
}

/*
 * number_bound
 *		For MONGO_ENCODE_BELOW (above false) a double no greater than a
 *		number, for _ABOVE one no less, such that every document whose
 *		value reads as at least (at most) the number holds a value MongoDB
 *		finds at least (at most) the double.  The number is a numeric or a
 *		float.  An int64 or Decimal128 value
 *		compares exactly: the double must bound the number itself.  A
 *		document's double d reads as its shortest decimal form, which
 *		rounds to d: reading as at least the number means d is at least the
 *		double nearest to the number, and the one below that (or that one,
 *		when it is the number exactly) bounds both.  A numeric(p, s) column
 *		reads values rounded to s digits, so half a unit of scale s is
 *		taken off (added) first.  A float is its own bound.
 */
static double
number_bound(Datum value, Oid type, int32 typmod, bool above)
{
	Numeric		num;
	double		d;

	if (type == FLOAT4OID)
		return DatumGetFloat4(value);
	if (type == FLOAT8OID)
		return DatumGetFloat8(value);
	num = DatumGetNumeric(value);

	if (typmod >= (int32) VARHDRSZ)
	{
		/* the scale, an 11-bit signed number since PostgreSQL 15 */
		int			scale = ((((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024);
		char	   *half_unit = psprintf("5e%d", -scale - 1);
		Datum		half = DirectFunctionCall3(numeric_in,
											   CStringGetDatum(half_unit),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1));

		num = DatumGetNumeric(DirectFunctionCall2(above ? numeric_add
												  : numeric_sub,
												  NumericGetDatum(num), half));
	}

	if (numeric_double(num, &d) || isnan(d))
		return d;
	return nextafter(d, above ? get_float8_infinity()
					 : -get_float8_infinity());
}
