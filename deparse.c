/*-------------------------------------------------------------------------
 *
 * deparse.c
 *		  Building what a scan sends MongoDB: the projection of the fields
 *		  a query needs, and the find command EXPLAIN shows.
 *
 * WHERE clauses that compare a number column with number constants (also
 * IN and NOT IN), test a column IS NOT NULL or test a boolean column are
 * sent to MongoDB as a filter, so it returns fewer documents; PostgreSQL
 * still evaluates every clause on the rows returned.  The filter therefore
 * only has to keep every document PostgreSQL would keep, never more
 * exactly; other clauses, sorts and limits are not sent yet.
 *
 * IDENTIFICATION
 *		  deparse.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

#include "mongo_etl.h"

static char *projected_path(const char *path);
static bool append_condition(bson_t *condition, Expr *clause, Index relid,
							 Oid relation, List **params);
static bool append_comparison(bson_t *filter, Expr *clause, Index relid,
							  Oid relation, List **params);
static bool run_time_value(Expr *expr);
static bool append_in_list(bson_t *condition, ScalarArrayOpExpr *clause,
						   Index relid, Oid relation);
static char *column_field(Var *var, Index relid, Oid relation);
static bool number_type(Oid type, bool *integer);
static void append_number(bson_t *doc, const char *key, Datum value,
						  Oid type);
static void bind_document(bson_t *out, const bson_t *in, Datum *values,
						  bool *nulls, Oid *types);
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
 * mongo_find_command_string
 *		The find command a scan runs, as relaxed extended JSON, for EXPLAIN.
 *		It is assembled from the same filter and options the scan passes to
 *		mongoc_collection_find_with_opts, so it shows exactly what is sent.
 */
char *
mongo_find_command_string(const MongoTableOptions *options,
						  const bson_t *filter, const bson_t *find_opts)
{
	bson_t		command = BSON_INITIALIZER;
	bson_iter_t iter;
	char	   *json;
	char	   *result;

	BSON_APPEND_UTF8(&command, "find", options->collection);
	BSON_APPEND_DOCUMENT(&command, "filter", filter);
	if (bson_iter_init(&iter, find_opts))
	{
		while (bson_iter_next(&iter))
			bson_append_iter(&command, bson_iter_key(&iter), -1, &iter);
	}
	BSON_APPEND_UTF8(&command, "$db", options->database);

	json = bson_as_relaxed_extended_json(&command, NULL);
	result = pstrdup(json);
	bson_free(json);
	bson_destroy(&command);
	return result;
}

/*
 * mongo_build_filter
 *		The find filter for a scan: the comparisons among its WHERE clauses
 *		that MongoDB can evaluate with the same outcome for every document a
 *		row could come from, ANDed.  Returns NULL when there are none.
 *		Values known only when the scan runs (parameters of a prepared
 *		statement or a PL/pgSQL variable) appear as {"$param": n}, n being
 *		their position in *params, the expressions the executor evaluates;
 *		mongo_bind_filter puts their values in.
 */
bson_t *
mongo_build_filter(List *clauses, Index relid, Oid relation, List **params)
{
	bson_t	   *filter = bson_new();
	bson_t		conditions;
	ListCell   *lc;
	int			n = 0;

	bson_append_array_begin(filter, "$and", -1, &conditions);
	foreach(lc, clauses)
	{
		bson_t		condition;
		char		key[16];

		snprintf(key, sizeof(key), "%d", n);
		bson_init(&condition);
		if (append_condition(&condition, (Expr *) lfirst(lc), relid,
							 relation, params))
		{
			bson_append_document(&conditions, key, -1, &condition);
			n++;
		}
		bson_destroy(&condition);
	}
	bson_append_array_end(filter, &conditions);

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
 *		one that keeps every document PostgreSQL would keep.  Besides the
 *		comparisons below:
 *		- "col IS NOT NULL": {field: {$ne: null}}; a value PostgreSQL reads
 *		  as NULL is null, undefined or missing in MongoDB too (or is a
 *		  mismatch, which the local check then drops);
 *		- a boolean column, "col" or "NOT col": {field: true} or false, as a
 *		  boolean column takes only BSON booleans.
 */
static bool
append_condition(bson_t *condition, Expr *clause, Index relid, Oid relation,
				 List **params)
{
	Var		   *var = NULL;
	bool		negated = false;
	char	   *field;

	if (IsA(clause, OpExpr))
		return append_comparison(condition, clause, relid, relation, params);
	if (IsA(clause, ScalarArrayOpExpr))
		return append_in_list(condition, (ScalarArrayOpExpr *) clause, relid,
							  relation);

	if (IsA(clause, NullTest) &&
		((NullTest *) clause)->nulltesttype == IS_NOT_NULL &&
		!((NullTest *) clause)->argisrow &&
		IsA(((NullTest *) clause)->arg, Var))
	{
		field = column_field((Var *) ((NullTest *) clause)->arg, relid,
							 relation);
		if (field == NULL)
			return false;
		{
			bson_t		test;

			bson_append_document_begin(condition, field, -1, &test);
			BSON_APPEND_NULL(&test, "$ne");
			bson_append_document_end(condition, &test);
		}
		return true;
	}

	if (IsA(clause, Var))
		var = (Var *) clause;
	else if (is_notclause(clause) && IsA(get_notclausearg(clause), Var))
	{
		var = (Var *) get_notclausearg(clause);
		negated = true;
	}
	if (var == NULL || var->vartype != BOOLOID)
		return false;
	field = column_field(var, relid, relation);
	if (field == NULL)
		return false;
	BSON_APPEND_BOOL(condition, field, !negated);
	return true;
}

/*
 * column_field
 *		The field path of a column of this scan that a filter may test, or
 *		NULL: not for another relation's or a system column, the whole
 *		document, or a column taking booleans as numbers (bool_values),
 *		whose values MongoDB would not compare as PostgreSQL does.
 */
static char *
column_field(Var *var, Index relid, Oid relation)
{
	char	   *field;

	if ((Index) var->varno != relid || var->varattno <= 0 ||
		var->varlevelsup != 0 ||
		mongo_column_flag(relation, var->varattno, "bool_values"))
		return NULL;
	field = mongo_get_column_field(relation, var->varattno,
								   get_attname(relation, var->varattno,
											   false));
	return strcmp(field, MONGO_WHOLE_DOCUMENT) == 0 ? NULL : field;
}

/*
 * append_in_list
 *		"col IN (constants)" or "col = ANY(array constant)" on a number
 *		column: {field: {$in: [...]}}; "col <> ALL(...)" (NOT IN): $nin,
 *		which also matches documents without the field, a superset.
 */
static bool
append_in_list(bson_t *condition, ScalarArrayOpExpr *clause, Index relid,
			   Oid relation)
{
	Var		   *var;
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
	char	   *field;
	bson_t		test;
	bson_t		list;
	int			i;

	if (list_length(clause->args) != 2 ||
		!IsA(linitial(clause->args), Var) ||
		!IsA(lsecond(clause->args), Const) ||
		clause->opno >= FirstGenbkiObjectId || opname == NULL ||
		!(clause->useOr ? strcmp(opname, "=") == 0 : strcmp(opname, "<>") == 0))
		return false;
	var = linitial(clause->args);
	array_const = lsecond(clause->args);
	if (array_const->constisnull || !number_type(var->vartype, &integer))
		return false;

	array = DatumGetArrayTypeP(array_const->constvalue);
	elemtype = ARR_ELEMTYPE(array);
	if (!number_type(elemtype, &integer) || elemtype == NUMERICOID)
		return false;
	field = column_field(var, relid, relation);
	if (field == NULL)
		return false;

	get_typlenbyvalalign(elemtype, &elmlen, &elmbyval, &elmalign);
	deconstruct_array(array, elemtype, elmlen, elmbyval, elmalign,
					  &items, &nulls, &nitems);

	bson_append_document_begin(condition, field, -1, &test);
	bson_append_array_begin(&test, clause->useOr ? "$in" : "$nin", -1, &list);
	for (i = 0; i < nitems; i++)
	{
		char		key[16];

		/* a NULL element matches nothing in PostgreSQL: leave it out */
		if (nulls[i])
			continue;
		snprintf(key, sizeof(key), "%d", i);
		switch (elemtype)
		{
			case INT2OID:
				BSON_APPEND_INT64(&list, key, DatumGetInt16(items[i]));
				break;
			case INT4OID:
				BSON_APPEND_INT64(&list, key, DatumGetInt32(items[i]));
				break;
			case INT8OID:
				BSON_APPEND_INT64(&list, key, DatumGetInt64(items[i]));
				break;
			case FLOAT4OID:
				BSON_APPEND_DOUBLE(&list, key, DatumGetFloat4(items[i]));
				break;
			default:
				BSON_APPEND_DOUBLE(&list, key, DatumGetFloat8(items[i]));
				break;
		}
	}
	bson_append_array_end(&test, &list);
	bson_append_document_end(condition, &test);
	return true;
}

/*
 * append_comparison
 *		If clause compares a number column with a number constant, or a
 *		number known when the scan runs, in a way MongoDB decides alike,
 *		append {field: {$op: value}} to condition.
 *
 *		MongoDB compares numbers of every BSON type by value, as the scan
 *		converts them; a value of another BSON type cannot satisfy such a
 *		clause (the scan rejects it, or reads it as NULL).  Not sent: > and
 *		>= on float and numeric columns, where PostgreSQL puts NaN above
 *		every number and MongoDB below; columns taking booleans as numbers
 *		(bool_values), which MongoDB would not compare with numbers; and
 *		numeric constants, which a double could not always represent.
 */
static bool
append_comparison(bson_t *condition, Expr *clause, Index relid, Oid relation,
				  List **params)
{
	OpExpr	   *op;
	Var		   *var;
	Expr	   *value;
	Oid			value_type;
	Oid			opno;
	char	   *opname;
	const char *mongo_op;
	bool		integer_column;
	bool		integer_constant;
	char	   *field;
	bson_t		test;

	if (!IsA(clause, OpExpr) || list_length(((OpExpr *) clause)->args) != 2)
		return false;
	op = (OpExpr *) clause;
	opno = op->opno;
	if (IsA(linitial(op->args), Var) && run_time_value(lsecond(op->args)))
	{
		var = linitial(op->args);
		value = lsecond(op->args);
	}
	else if (run_time_value(linitial(op->args)) && IsA(lsecond(op->args), Var))
	{
		var = lsecond(op->args);
		value = linitial(op->args);
		opno = get_commutator(opno);
	}
	else
		return false;
	value_type = exprType((Node *) value);

	/* built-in operators only: a user's operator could mean anything */
	if (!OidIsValid(opno) || opno >= FirstGenbkiObjectId ||
		(IsA(value, Const) && ((Const *) value)->constisnull) ||
		!number_type(var->vartype, &integer_column) ||
		!number_type(value_type, &integer_constant) ||
		value_type == NUMERICOID)
		return false;

	opname = get_opname(opno);
	if (opname == NULL)
		return false;
	if (strcmp(opname, "=") == 0)
		mongo_op = "$eq";
	else if (strcmp(opname, "<>") == 0)
		mongo_op = "$ne";
	else if (strcmp(opname, "<") == 0)
		mongo_op = "$lt";
	else if (strcmp(opname, "<=") == 0)
		mongo_op = "$lte";
	else if (strcmp(opname, ">") == 0 && integer_column)
		mongo_op = "$gt";
	else if (strcmp(opname, ">=") == 0 && integer_column)
		mongo_op = "$gte";
	else
		return false;

	field = column_field(var, relid, relation);
	if (field == NULL)
		return false;

	bson_append_document_begin(condition, field, -1, &test);
	if (IsA(value, Const))
		append_number(&test, mongo_op, ((Const *) value)->constvalue,
					  value_type);
	else
	{
		bson_t		placeholder;

		bson_append_document_begin(&test, mongo_op, -1, &placeholder);
		BSON_APPEND_INT32(&placeholder, "$param", list_length(*params));
		bson_append_document_end(&test, &placeholder);
		*params = lappend(*params, value);
	}
	bson_append_document_end(condition, &test);
	return true;
}

/*
 * run_time_value
 *		Whether an expression gives one value for the whole scan: a constant,
 *		a parameter, or a stable expression of those (no columns, nothing
 *		volatile, no subqueries).
 */
static bool
run_time_value(Expr *expr)
{
	return IsA(expr, Const) || IsA(expr, Param) ||
		(!contain_var_clause((Node *) expr) &&
		 !contain_volatile_functions((Node *) expr) &&
		 !contain_subplans((Node *) expr) &&
		 !IsA(expr, Var));
}

/*
 * append_number
 *		A PostgreSQL number as a BSON number that compares equal: integers
 *		as int64, floats as doubles.
 */
static void
append_number(bson_t *doc, const char *key, Datum value, Oid type)
{
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
		default:
			BSON_APPEND_DOUBLE(doc, key, DatumGetFloat8(value));
			break;
	}
}

/*
 * mongo_bind_filter
 *		The filter with the run-time values put in place of its
 *		{"$param": n} placeholders.  A NULL value compares with nothing in
 *		PostgreSQL; {$op: null} matches no number in MongoDB either.
 */
bson_t *
mongo_bind_filter(const bson_t *filter, Datum *values, bool *nulls,
				  Oid *types)
{
	bson_t	   *result = bson_new();

	bind_document(result, filter, values, nulls, types);
	return result;
}

/*
 * bind_document
 *		Copy a document into out, replacing placeholders.
 */
static void
bind_document(bson_t *out, const bson_t *in, Datum *values, bool *nulls,
			  Oid *types)
{
	bson_iter_t iter;

	if (!bson_iter_init(&iter, in))
		return;
	while (bson_iter_next(&iter))
	{
		const char *key = bson_iter_key(&iter);

		if (BSON_ITER_HOLDS_DOCUMENT(&iter) || BSON_ITER_HOLDS_ARRAY(&iter))
		{
			const uint8_t *data;
			uint32_t	len;
			bson_t		child;
			bson_t		copy;
			bson_iter_t param;

			if (BSON_ITER_HOLDS_ARRAY(&iter))
				bson_iter_array(&iter, &len, &data);
			else
				bson_iter_document(&iter, &len, &data);
			if (!bson_init_static(&child, data, len))
				continue;
			if (BSON_ITER_HOLDS_DOCUMENT(&iter) &&
				bson_iter_init_find(&param, &child, "$param") &&
				BSON_ITER_HOLDS_INT32(&param))
			{
				int			n = bson_iter_int32(&param);

				if (nulls[n])
					BSON_APPEND_NULL(out, key);
				else
					append_number(out, key, values[n], types[n]);
				continue;
			}
			if (BSON_ITER_HOLDS_ARRAY(&iter))
				bson_append_array_begin(out, key, -1, &copy);
			else
				bson_append_document_begin(out, key, -1, &copy);
			bind_document(&copy, &child, values, nulls, types);
			if (BSON_ITER_HOLDS_ARRAY(&iter))
				bson_append_array_end(out, &copy);
			else
				bson_append_document_end(out, &copy);
		}
		else
			bson_append_iter(out, key, -1, &iter);
	}
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
