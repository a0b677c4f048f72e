/*-------------------------------------------------------------------------
 *
 * bson_convert.c
 *		  Conversion of BSON documents into tuples: every field a scan needs
 *		  is turned straight into a Datum of its column's type.
 *
 * A document is walked once.  The columns' field paths are prepared at the
 * start of the scan as a tree of sorted path segments.  Each element's key
 * is first compared with the one the previous document had at the same
 * position, which also tells where the key ends; a key that differs is
 * looked up by its length and a binary search.  The walk stops as soon as
 * every wanted field was seen.  The values most documents hold (numbers,
 * dates, strings, ObjectIds) are converted in the walk itself, the others
 * directly too (bson_value.c), never through JSON text; documents and
 * arrays for jsonb and json columns are written straight from the BSON
 * (bson_json.c).
 *
 * A value that does not fit its column is an error naming the BSON type,
 * the PostgreSQL type, the column, the foreign table and the document's
 * _id.  Nothing is truncated, rounded into an integer or turned into NULL,
 * unless the column's on_type_mismatch option asks for NULL or for leaving
 * the row out, and then it is counted and reported.
 *
 * IDENTIFICATION
 *		  bson_convert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "bson_walk.h"
#include "mongo_etl.h"

/*
 * Every iterator whose type this file reads stands on an element (the walk
 * or lookup that placed it succeeded), so the type byte is read in place:
 * libbson's bson_iter_type, which the BSON_ITER_HOLDS_ macros call too, is
 * a function call per value for the same byte.
 */
#define bson_iter_type(iter) bson_iter_type_unsafe(iter)

/*
 * libbson aligns bson_iter_t to 128 bytes, so a function with one on its
 * stack realigns its frame on every call.  The conversions of the rarer
 * column kinds that walk a value (arrays, uuid, input functions) are
 * pg_noinline, to keep that out of convert_value, which every value goes
 * through.
 */

/*
 * How a value goes straight into a column (of one of its direct_types), by
 * the value's BSON type and the column's kind
 */
typedef enum MongoDirectOp
{
	MONGO_DIRECT_NONE = 0,		/* not directly */
	MONGO_DIRECT_INT4,			/* int32 into integer */
	MONGO_DIRECT_INT8_FROM_INT32,	/* int32 into bigint */
	MONGO_DIRECT_INT8,			/* int64 into bigint */
	MONGO_DIRECT_FLOAT8,		/* double into double precision */
	MONGO_DIRECT_BOOL,			/* boolean into boolean */
	MONGO_DIRECT_TIMESTAMP,		/* date into timestamp(tz) */
	MONGO_DIRECT_TEXT,			/* string into text */
	MONGO_DIRECT_OBJECT_ID		/* ObjectId into text */
} MongoDirectOp;

/* What the walk found at one position of a (sub)document */
typedef struct MongoFieldStep
{
	const MongoFieldNode *child;	/* the child whose key was there, or
									 * NULL */
	uint8		op;				/* MongoDirectOp: how its value went into the
								 * child's only column */
	uint8		type;			/* with op: the value's BSON type */
	int16		column;			/* with op: the column */
	int16		attr;			/* with op: the column's attribute - 1 */
} MongoFieldStep;

/*
 * One segment of the columns' field paths.  The children of a node are
 * the next segments, sorted by name for binary search.
 */
struct MongoFieldNode
{
	char	   *name;			/* this segment; NULL for the root */
	int			name_len;
	uint64		key_word;		/* the name as mongo_walk_has_key compares */
	uint64		key_mask;		/* it (mongo_walk_key_word) */
	uint64		child_lengths;	/* bit n set: a child's name has length n (63:
								 * 63 or more) */
	int		   *columns;		/* columns reading exactly this path */
	int			ncolumns;
	MongoFieldNode **children;	/* sorted by name */
	int			nchildren;
	int			nwanted;		/* columns in this subtree */
	bool		named_children; /* a child name is not an array index */
	MongoFieldStep *steps;		/* per field position in the last document
								 * walked: what was found there */
};

/*
 * Documents of a collection usually share their field order and types, so
 * at each position the walk first tries what the last document had there:
 * the same key, and when its value went straight into a column, a value of
 * the same type, which is then converted without the general step
 * (convert_known_field).  Positions beyond this many fall back to the
 * binary search alone.
 */
#define MONGO_FIELD_STEPS 32


static void setup_input_function(MongoColumn *column);
static MongoFieldNode *new_field_node(const char *name);
static void add_field_path(MongoFieldNode *root, const char *path,
						   int column);
static void finish_field_node(MongoFieldNode *node);
static int	compare_field_nodes(const void *a, const void *b);
static int	find_child(const MongoFieldNode *node, const char *key,
					   int keylen);
static Datum whole_document_value(MongoConverter *conv,
								  const bson_t *document,
								  const MongoColumn *col);
static int	convert_fields(MongoConverter *conv, bson_iter_t *iter,
						   const MongoFieldNode *node,
						   Datum *values, bool *isnull);
static uint32 direct_types(const MongoColumn *col);
static void record_step(MongoFieldStep *step, const MongoFieldNode *child,
						const MongoColumn *columns, uint8 type);
static pg_attribute_always_inline bool convert_known_field(MongoConverter *conv,
														   bson_iter_t *iter,
														   const MongoFieldStep *step,
														   bool *seen,
														   Datum *values,
														   bool *isnull);
static pg_attribute_always_inline Datum direct_value(MongoConverter *conv,
													 const bson_iter_t *iter,
													 const MongoColumn *col);
static pg_attribute_always_inline text *document_text(MongoConverter *conv,
													 const char *utf8,
													 uint32 len);
static pg_attribute_always_inline bool plain_document_string(const char *str,
																uint32 len);
static Datum convert_value(MongoConverter *conv, const bson_iter_t *iter,
						   const MongoColumn *col, bool *isnull);
static Datum convert_column(MongoConverter *conv, const bson_iter_t *iter,
							MongoColumn *col, bool *isnull);
static Datum convert_value_or_null(MongoConverter *conv,
								   const bson_iter_t *iter,
								   MongoColumn *col, bool *isnull);
static pg_attribute_always_inline char *text_space(MongoConverter *conv,
												   Size size);
static inline text *text_datum(MongoConverter *conv, const char *str,
							   int len);
static pg_attribute_always_inline text *object_id_text(MongoConverter *conv,
													   const bson_oid_t *oid);
static Datum text_value(MongoConverter *conv, const bson_iter_t *iter,
						const MongoColumn *col);
static int64 integer_value(MongoConverter *conv, const bson_iter_t *iter,
						   const MongoColumn *col, int64 min, int64 max);
static double float_value(MongoConverter *conv, const bson_iter_t *iter,
						  const MongoColumn *col);
static Datum numeric_value(MongoConverter *conv, const bson_iter_t *iter,
						   const MongoColumn *col);
static Datum array_value(MongoConverter *conv, const bson_iter_t *iter,
						 const MongoColumn *col);
static void collect_array_elements(MongoConverter *conv,
								   const bson_iter_t *iter,
								   const MongoColumn *col, const int *dims,
								   int ndims, int depth, Datum *values,
								   bool *nulls, int *filled);
pg_noreturn static void report_not_rectangular(const bson_iter_t *iter,
											   const MongoColumn *col,
											   const char *why);
static Datum bytea_value(const bson_iter_t *iter, const MongoColumn *col);
static Datum uuid_value(MongoConverter *conv, const bson_iter_t *iter,
						const MongoColumn *col);
static int64 bson_timestamp_int8(const bson_iter_t *iter,
								 const MongoColumn *col);
static Datum input_function_value(MongoConverter *conv,
								  const bson_iter_t *iter,
								  const MongoColumn *col);
pg_noreturn static void report_path_through_array(MongoConverter *conv,
												  const MongoFieldNode *node);
static void conversion_error_callback(void *arg);

/*
 * mongo_init_column
 *		Describe one column of a scan and decide, once, how its values are
 *		built.  Types without a direct conversion are filled from BSON
 *		strings through their input function, the only constructor such a
 *		type has in general.
 */
void
mongo_init_column(MongoColumn *column, AttrNumber attnum, const char *name,
				  const char *field, Oid typid, int32 typmod)
{
	memset(column, 0, sizeof(MongoColumn));
	column->attnum = attnum;
	column->name = name;
	column->field = field;
	column->typid = typid;
	column->typmod = typmod;
	column->whole_document = strcmp(field, MONGO_WHOLE_DOCUMENT) == 0;

	if (column->whole_document && typid != JSONBOID && typid != JSONOID &&
		typid != TEXTOID && typid != BYTEAOID)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("column \"%s\" reads the whole document and must be of type jsonb, json, text or bytea",
						name),
				 errdetail("Its field option is %s, but its type is %s.",
						   MONGO_WHOLE_DOCUMENT,
						   format_type_with_typemod(typid, typmod))));

	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			column->kind = MONGO_TARGET_TEXT;
			break;
		case INT2OID:
			column->kind = MONGO_TARGET_INT2;
			break;
		case INT4OID:
			column->kind = MONGO_TARGET_INT4;
			break;
		case INT8OID:
			column->kind = MONGO_TARGET_INT8;
			break;
		case FLOAT4OID:
			column->kind = MONGO_TARGET_FLOAT4;
			break;
		case FLOAT8OID:
			column->kind = MONGO_TARGET_FLOAT8;
			break;
		case NUMERICOID:
			column->kind = MONGO_TARGET_NUMERIC;
			break;
		case BOOLOID:
			column->kind = MONGO_TARGET_BOOL;
			break;
		case TIMESTAMPTZOID:
			column->kind = MONGO_TARGET_TIMESTAMPTZ;
			break;
		case TIMESTAMPOID:
			column->kind = MONGO_TARGET_TIMESTAMP;
			break;
		case DATEOID:
			column->kind = MONGO_TARGET_DATE;
			break;
		case JSONBOID:
			column->kind = MONGO_TARGET_JSONB;
			break;
		case JSONOID:
			column->kind = MONGO_TARGET_JSON;
			break;
		case BYTEAOID:
			column->kind = MONGO_TARGET_BYTEA;
			break;
		case UUIDOID:
			/* from binary directly, from strings by its input function */
			column->kind = MONGO_TARGET_UUID;
			setup_input_function(column);
			break;
		default:
			if (OidIsValid(get_element_type(typid)))
			{
				Oid			elemtype = get_element_type(typid);

				/* an array's typmod applies to its elements */
				column->kind = MONGO_TARGET_ARRAY;
				column->element = palloc0(sizeof(MongoColumn));
				mongo_init_column(column->element, attnum, name, field,
								  elemtype, typmod);
				get_typlenbyvalalign(elemtype, &column->elmlen,
									 &column->elmbyval, &column->elmalign);
			}
			else
			{
				column->kind = MONGO_TARGET_INPUT_FUNCTION;
				setup_input_function(column);
			}
			break;
	}
}

/*
 * mongo_set_column_policy
 *		Apply a column's options about values that do not plainly fit: what
 *		a mismatch does, whether an ObjectId gives its creation time, and
 *		booleans numbers or words.  An array's elements follow its column,
 *		a mismatch in one being a mismatch of the whole array.
 */
void
mongo_set_column_policy(MongoColumn *column, MongoMismatchPolicy on_mismatch,
						bool objectid_timestamp, bool bool_values)
{
	column->on_mismatch = on_mismatch;
	column->objectid_timestamp = objectid_timestamp;
	column->bool_values = bool_values;
	if (column->element != NULL)
		mongo_set_column_policy(column->element, MONGO_MISMATCH_ERROR,
								objectid_timestamp, bool_values);
}

/*
 * setup_input_function
 *		Look up the input function of a column's type, for strings.
 */
static void
setup_input_function(MongoColumn *column)
{
	Oid			input_fn;

	getTypeInputInfo(column->typid, &input_fn, &column->typioparam);
	fmgr_info(input_fn, &column->input_fn);
}

/*
 * mongo_create_converter
 *		Prepare the conversion of documents into the given columns: build the
 *		tree of field paths the walk of each document searches.
 */
MongoConverter *
mongo_create_converter(const char *relname, MongoColumn *columns,
					   int ncolumns)
{
	MongoConverter *conv = palloc0(sizeof(MongoConverter));
	int			i;

	conv->relname = relname;
	conv->columns = columns;
	conv->ncolumns = ncolumns;
	conv->seen = palloc0(sizeof(bool) * Max(ncolumns, 1));
	conv->text_space = palloc(MONGO_TEXT_SPACE);
	conv->current_column = -1;
	conv->fields = new_field_node(NULL);
	for (i = 0; i < ncolumns; i++)
	{
		if (columns[i].whole_document)
			conv->has_whole_document = true;
		else
			add_field_path(conv->fields, columns[i].field, i);
		columns[i].direct_types = direct_types(&columns[i]);
	}
	finish_field_node(conv->fields);
	return conv;
}

/*
 * direct_types
 *		The BSON types whose values a column takes the way most documents
 *		hold them, converted in the walk itself (direct_value) rather than
 *		through convert_value.  Only columns whose on_type_mismatch is
 *		'error' take this path: the other policies catch a value's error,
 *		which needs convert_value_or_null around it.
 */
static uint32
direct_types(const MongoColumn *col)
{
	uint32		types = 0;

	if (col->whole_document || col->on_mismatch != MONGO_MISMATCH_ERROR)
		return 0;
	switch (col->kind)
	{
		case MONGO_TARGET_TEXT:
			/* varchar(n) and char(n) apply their length rules */
			if (col->typmod < 0)
				types = MONGO_BSON_TYPE_BIT(BSON_TYPE_UTF8) |
					MONGO_BSON_TYPE_BIT(BSON_TYPE_OID);
			break;
		case MONGO_TARGET_INT4:
			types = MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32);
			break;
		case MONGO_TARGET_INT8:
			types = MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32) |
				MONGO_BSON_TYPE_BIT(BSON_TYPE_INT64);
			break;
		case MONGO_TARGET_FLOAT8:
			types = MONGO_BSON_TYPE_BIT(BSON_TYPE_DOUBLE);
			break;
		case MONGO_TARGET_BOOL:
			types = MONGO_BSON_TYPE_BIT(BSON_TYPE_BOOL);
			break;
		case MONGO_TARGET_TIMESTAMPTZ:
		case MONGO_TARGET_TIMESTAMP:
			types = MONGO_BSON_TYPE_BIT(BSON_TYPE_DATE_TIME);
			break;
		default:
			break;
	}
	/* a column declaring its BSON types takes no other (convert_value) */
	if (col->bson_types != 0)
		types &= col->bson_types;
	return types;
}

/*
 * new_field_node
 *		An empty node of the field tree.
 */
static MongoFieldNode *
new_field_node(const char *name)
{
	MongoFieldNode *node = palloc0(sizeof(MongoFieldNode));

	node->name = name ? pstrdup(name) : NULL;
	node->name_len = name ? strlen(name) : 0;
	if (name != NULL)
		mongo_walk_key_word(node->name, node->name_len, &node->key_word,
							&node->key_mask);
	return node;
}

/*
 * add_field_path
 *		Add a column's dotted path to the tree, one node per segment.
 *		Several columns may read the same path.
 */
static void
add_field_path(MongoFieldNode *root, const char *path, int column)
{
	MongoFieldNode *node = root;
	char	   *copy = pstrdup(path);
	char	   *segment = copy;

	for (;;)
	{
		char	   *dot = strchr(segment, '.');
		MongoFieldNode *child = NULL;
		int			i;

		if (dot != NULL)
			*dot = '\0';
		for (i = 0; i < node->nchildren; i++)
		{
			if (strcmp(node->children[i]->name, segment) == 0)
			{
				child = node->children[i];
				break;
			}
		}
		if (child == NULL)
		{
			child = new_field_node(segment);
			node->children = node->nchildren == 0
				? palloc(sizeof(MongoFieldNode *))
				: repalloc(node->children,
						   sizeof(MongoFieldNode *) * (node->nchildren + 1));
			node->children[node->nchildren++] = child;
		}
		node = child;
		if (dot == NULL)
			break;
		segment = dot + 1;
	}

	node->columns = node->ncolumns == 0
		? palloc(sizeof(int))
		: repalloc(node->columns, sizeof(int) * (node->ncolumns + 1));
	node->columns[node->ncolumns++] = column;
	pfree(copy);
}

/*
 * finish_field_node
 *		Sort every node's children for binary search and count the columns
 *		below each node, which lets the walk stop early.
 */
static void
finish_field_node(MongoFieldNode *node)
{
	int			i;

	if (node->nchildren > 1)
		qsort(node->children, node->nchildren, sizeof(MongoFieldNode *),
			  compare_field_nodes);
	node->nwanted = node->ncolumns;
	node->steps = palloc(sizeof(MongoFieldStep) * MONGO_FIELD_STEPS);
	memset(node->steps, 0, sizeof(MongoFieldStep) * MONGO_FIELD_STEPS);
	for (i = 0; i < node->nchildren; i++)
	{
		const char *name = node->children[i]->name;

		finish_field_node(node->children[i]);
		node->nwanted += node->children[i]->nwanted;
		node->child_lengths |= UINT64CONST(1) << Min(node->children[i]->name_len, 63);
		if (strspn(name, "0123456789") != strlen(name))
			node->named_children = true;
	}
}

/*
 * compare_field_nodes
 *		qsort comparator: field nodes by name, in strcmp order.
 */
static int
compare_field_nodes(const void *a, const void *b)
{
	const MongoFieldNode *na = *(const MongoFieldNode *const *) a;
	const MongoFieldNode *nb = *(const MongoFieldNode *const *) b;

	return strcmp(na->name, nb->name);
}

/*
 * find_child
 *		The position among a node's children of the one named key, or -1.
 *		A key whose length no child has is not wanted, without comparing
 *		strings; the others are searched for.
 */
static int
find_child(const MongoFieldNode *node, const char *key, int keylen)
{
	int			low = 0;
	int			high = node->nchildren - 1;

	if ((node->child_lengths & (UINT64CONST(1) << Min(keylen, 63))) == 0)
		return -1;
	while (low <= high)
	{
		int			middle = (low + high) / 2;
		int			cmp = strcmp(key, node->children[middle]->name);

		if (cmp == 0)
			return middle;
		if (cmp < 0)
			high = middle - 1;
		else
			low = middle + 1;
	}
	return -1;
}

/*
 * mongo_document_to_slot
 *		Fill the values and nulls of a tuple from one document.  The caller
 *		has set every column NULL; a field the document lacks, or holds as
 *		BSON null, leaves its column NULL.  Returns false when the row is to
 *		be left out (on_type_mismatch 'skip').  Runs in the scan's per-row
 *		memory context.
 */
bool
mongo_document_to_slot(MongoConverter *conv, const bson_t *document,
					   Datum *values, bool *isnull)
{
	ErrorContextCallback errcallback;
	bson_iter_t iter;

	if (conv->ncolumns == 0)
		return true;

	conv->document = document;
	conv->text_space_used = 0;
	conv->current_column = -1;
	conv->skip_row = false;
	memset(conv->seen, 0, sizeof(bool) * conv->ncolumns);

	errcallback.callback = conversion_error_callback;
	errcallback.arg = conv;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (!mongo_walk_init(&iter, bson_get_data(document), document->len))
		mongo_report_corrupt_document(NULL);
	convert_fields(conv, &iter, conv->fields, values, isnull);

	if (conv->has_whole_document)
	{
		int			i;

		for (i = 0; i < conv->ncolumns; i++)
		{
			const MongoColumn *col = &conv->columns[i];

			if (!col->whole_document)
				continue;
			conv->current_column = i;
			values[col->attnum - 1] =
				convert_column(conv, NULL, &conv->columns[i],
							   &isnull[col->attnum - 1]);
		}
	}

	error_context_stack = errcallback.previous;
	conv->current_column = -1;

	if (conv->skip_row)
		conv->skipped_rows++;
	return !conv->skip_row;
}

/*
 * whole_document_value
 *		The whole document for a $$ROOT column: jsonb built directly, json
 *		written directly in the document's key order, the raw BSON as bytea,
 *		or text in MongoDB's canonical extended JSON, which keeps every BSON
 *		type (libbson writes it; that text is the value).
 */
static Datum
whole_document_value(MongoConverter *conv, const bson_t *document,
					 const MongoColumn *col)
{
	if (col->typid == JSONBOID)
	{
		StringInfoData out;

		initStringInfo(&out);
		appendStringInfoSpaces(&out, VARHDRSZ);
		mongo_encode_container(conv, &out, bson_get_data(document), document->len,
							   false, col, 1);
		SET_VARSIZE(out.data, out.len);
		return PointerGetDatum(out.data);
	}
	if (col->typid == JSONOID)
	{
		StringInfoData out;

		initStringInfo(&out);
		mongo_append_json_container(conv, &out, bson_get_data(document),
									document->len, false, col, 1);
		return PointerGetDatum(cstring_to_text_with_len(out.data, out.len));
	}
	if (col->typid == BYTEAOID)
	{
		bytea	   *result = palloc(VARHDRSZ + document->len);

		SET_VARSIZE(result, VARHDRSZ + document->len);
		memcpy(VARDATA(result), bson_get_data(document), document->len);
		return PointerGetDatum(result);
	}
	else
	{
		size_t		len;
		char	   *json = bson_as_canonical_extended_json(document, &len);
		int			server_len;
		text	   *volatile result = NULL;

		if (json == NULL)
			mongo_report_corrupt_document(NULL);
		PG_TRY();
		{
			char	   *str = mongo_server_string(json, len, &server_len);

			result = cstring_to_text_with_len(str, server_len);
		}
		PG_FINALLY();
		{
			bson_free(json);
		}
		PG_END_TRY();
		return PointerGetDatum(result);
	}
}

/*
 * convert_fields
 *		Walk the fields of one (sub)document, converting those that columns
 *		read and descending into those that lead to deeper paths.  Arrays
 *		are walked like documents, so "tags.0" reads an array's first
 *		element, as in MongoDB.  If a key repeats, its first occurrence
 *		wins.  Returns the number of columns filled.
 */
static int
convert_fields(MongoConverter *conv, bson_iter_t *iter,
			   const MongoFieldNode *node, Datum *values, bool *isnull)
{
	int			filled = 0;
	int			position = -1;

	/*
	 * What the loop reads of node and conv is held in locals: PostgreSQL is
	 * built with -fno-strict-aliasing, so the compiler would load it again
	 * after every store to values, isnull and seen.
	 */
	const int	nwanted = node->nwanted;
	MongoColumn *const columns = conv->columns;
	bool	   *const seen = conv->seen;

	while (filled < nwanted)
	{
		const MongoFieldNode *child = NULL;
		MongoFieldStep *step = NULL;
		bool		stepped;
		int			i;

		if (++position < MONGO_FIELD_STEPS)
		{
			step = &node->steps[position];
			if (step->op != MONGO_DIRECT_NONE &&
				convert_known_field(conv, iter, step, seen, values, isnull))
			{
				filled++;
				continue;
			}
			/* else first the key the previous document had here */
			if (step->child != NULL &&
				mongo_walk_has_key(iter, step->child->name,
								   step->child->name_len,
								   step->child->key_word,
								   step->child->key_mask))
				child = step->child;
		}
		if (child != NULL)
			stepped = mongo_walk_step(iter, iter->next_off + 1 +
									  child->name_len);
		else
			stepped = mongo_walk_next(iter);
		if (!stepped)
		{
			if (iter->err_off != 0)
			{
				conv->current_column = -1;
				mongo_report_corrupt_document(iter);
			}
			break;
		}

		if (child == NULL)
		{
			int			found = find_child(node, bson_iter_key_unsafe(iter),
										   mongo_walk_key_len(iter));

			if (found < 0)
			{
				if (step != NULL)
					record_step(step, NULL, columns, 0);
				continue;
			}
			child = node->children[found];
		}
		if (step != NULL)
			record_step(step, child, columns, bson_iter_type(iter));

		for (i = 0; i < child->ncolumns; i++)
		{
			int			c = child->columns[i];
			MongoColumn *col = &columns[c];
			int			attr = col->attnum - 1;

			if (seen[c])
				continue;
			seen[c] = true;
			conv->current_column = c;
			/* MinKey and MaxKey fall on bit 31, which no direct type has */
			if (col->direct_types &
				MONGO_BSON_TYPE_BIT(bson_iter_type(iter) & 31))
			{
				values[attr] = direct_value(conv, iter, col);
				isnull[attr] = false;
			}
			else
				values[attr] = convert_column(conv, iter, col, &isnull[attr]);
			filled++;
		}

		if (child->nchildren > 0 &&
			(BSON_ITER_HOLDS_DOCUMENT(iter) || BSON_ITER_HOLDS_ARRAY(iter)))
		{
			bson_iter_t sub;

			if (BSON_ITER_HOLDS_ARRAY(iter) && child->named_children)
				report_path_through_array(conv, child);

			if (!bson_iter_recurse(iter, &sub))
			{
				conv->current_column = -1;
				mongo_report_corrupt_document(iter);
			}
			filled += convert_fields(conv, &sub, child, values, isnull);
		}
	}
	return filled;
}

/*
 * record_step
 *		Remember for the next document what the walk found at this position:
 *		child (NULL for none) with a value of type, and how the value goes
 *		into the child's column when it has one, of a direct type.
 */
static void
record_step(MongoFieldStep *step, const MongoFieldNode *child,
			const MongoColumn *columns, uint8 type)
{
	const MongoColumn *col;
	MongoDirectOp op = MONGO_DIRECT_NONE;

	step->child = child;
	step->op = MONGO_DIRECT_NONE;
	/* MinKey and MaxKey fall on bit 31, which no direct type has */
	if (child == NULL || child->ncolumns != 1 ||
		(columns[child->columns[0]].direct_types &
		 MONGO_BSON_TYPE_BIT(type & 31)) == 0)
		return;

	col = &columns[child->columns[0]];
	switch (type)
	{
		case BSON_TYPE_INT32:
			op = col->kind == MONGO_TARGET_INT4 ? MONGO_DIRECT_INT4 :
				MONGO_DIRECT_INT8_FROM_INT32;
			break;
		case BSON_TYPE_INT64:
			op = MONGO_DIRECT_INT8;
			break;
		case BSON_TYPE_DOUBLE:
			op = MONGO_DIRECT_FLOAT8;
			break;
		case BSON_TYPE_BOOL:
			op = MONGO_DIRECT_BOOL;
			break;
		case BSON_TYPE_DATE_TIME:
			op = MONGO_DIRECT_TIMESTAMP;
			break;
		case BSON_TYPE_UTF8:
			op = MONGO_DIRECT_TEXT;
			break;
		case BSON_TYPE_OID:
			op = MONGO_DIRECT_OBJECT_ID;
			break;
		default:
			/* direct_types gives no other type */
			return;
	}
	step->op = op;
	step->type = type;
	step->column = child->columns[0];
	step->attr = col->attnum - 1;
}

/*
 * convert_known_field
 *		Step iter to the next element and convert it into a column, when
 *		the element is what the last document had at this position (step):
 *		the same key and a value of the same type, which goes straight into
 *		the key's only column.  That is most elements of most documents, and
 *		this does for them what the general walk does (mongo_walk_step, the
 *		key's lookup, its columns' loop, direct_value) with what is known of
 *		them.  False, with nothing changed, for anything else: another key
 *		or type, an element mongo_walk_step would reject, a date out of
 *		range, a column the document filled already (a repeated key); the
 *		general walk then takes the element, and reports what is wrong with
 *		it.
 *
 *		Of the iterator only next_off moves: nothing reads the others
 *		before the general step sets them all again.
 */
static pg_attribute_always_inline bool
convert_known_field(MongoConverter *conv, bson_iter_t *iter,
					const MongoFieldStep *step, bool *seen, Datum *values,
					bool *isnull)
{
	const uint8 *data = iter->raw;
	uint32		len = iter->len;
	uint32		off = iter->next_off;
	const MongoFieldNode *child = step->child;
	uint32		o;
	uint32		next;
	uint32		l;
	int64		i64;
	float8		f8;
	Timestamp	timestamp;
	Datum		value;

	/*
	 * data[off] can be read: next_off is inside the document, or, in a
	 * subdocument whose length prefix says less than the five bytes of an
	 * empty one (bson_iter_recurse takes it), inside the parent document,
	 * whose step checked the prefix was there; mongo_walk_has_key then
	 * fails, as its bounds check does.
	 */
	if (data[off] != step->type || seen[step->column] ||
		!mongo_walk_has_key(iter, child->name, child->name_len,
							child->key_word, child->key_mask))
		return false;

	/* the value, after the key's NUL, which mongo_walk_has_key compared */
	o = off + 1 + child->name_len + 1;
	conv->current_column = step->column;
	switch ((MongoDirectOp) step->op)
	{
		case MONGO_DIRECT_INT4:
		case MONGO_DIRECT_INT8_FROM_INT32:
			next = o + WALK_INT32_SIZE;
			if (next >= len)
				return false;
			value = step->op == MONGO_DIRECT_INT4 ?
				Int32GetDatum((int32) mongo_walk_read_length(data, o)) :
				Int64GetDatum((int32) mongo_walk_read_length(data, o));
			break;
		case MONGO_DIRECT_INT8:
			next = o + WALK_INT64_SIZE;
			if (next >= len)
				return false;
			value = Int64GetDatum(mongo_walk_read_int64(data, o));
			break;
		case MONGO_DIRECT_FLOAT8:
			next = o + WALK_INT64_SIZE;
			if (next >= len)
				return false;
			i64 = mongo_walk_read_int64(data, o);
			memcpy(&f8, &i64, sizeof(f8));
			value = Float8GetDatum(f8);
			break;
		case MONGO_DIRECT_BOOL:
			next = o + 1;
			if (next >= len || data[o] > 1)
				return false;
			value = BoolGetDatum(data[o] != 0);
			break;
		case MONGO_DIRECT_TIMESTAMP:
			next = o + WALK_INT64_SIZE;
			if (next >= len)
				return false;
			i64 = mongo_walk_read_int64(data, o);
			if (!mongo_unix_ms_timestamp(i64, &timestamp))
				return false;
			value = TimestampGetDatum(timestamp);
			break;
		case MONGO_DIRECT_OBJECT_ID:
			next = o + WALK_OID_SIZE;
			if (next >= len)
				return false;
			value = PointerGetDatum(object_id_text(conv, (const bson_oid_t *)
												   (data + o)));
			break;
		case MONGO_DIRECT_TEXT:
			/* length prefix, then that many bytes, the last a NUL */
			if (o + WALK_LENGTH_SIZE >= len)
				return false;
			l = mongo_walk_read_length(data, o);
			if (l == 0 || l > len - (o + WALK_LENGTH_SIZE))
				return false;
			next = o + WALK_LENGTH_SIZE + l;
			if (next >= len || data[next - 1] != '\0')
				return false;
			value = PointerGetDatum(document_text(conv,
												  (const char *) data + o +
												  WALK_LENGTH_SIZE, l - 1));
			break;
		default:
			return false;
	}

	iter->next_off = next;
	seen[step->column] = true;
	values[step->attr] = value;
	isnull[step->attr] = false;
	return true;
}

/*
 * direct_value
 *		The value of a field of one of its column's direct_types, converted
 *		as convert_value would, without its calls: most of a document's
 *		fields are numbers, dates and strings.
 */
static pg_attribute_always_inline Datum
direct_value(MongoConverter *conv, const bson_iter_t *iter,
			 const MongoColumn *col)
{
	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_INT32:
			if (col->kind == MONGO_TARGET_INT4)
				return Int32GetDatum(bson_iter_int32_unsafe(iter));
			return Int64GetDatum(bson_iter_int32_unsafe(iter));
		case BSON_TYPE_INT64:
			return Int64GetDatum(bson_iter_int64_unsafe(iter));
		case BSON_TYPE_DOUBLE:
			return Float8GetDatum(bson_iter_double_unsafe(iter));
		case BSON_TYPE_BOOL:
			return BoolGetDatum(bson_iter_bool_unsafe(iter));
		case BSON_TYPE_DATE_TIME:
			{
				Timestamp	result;

				/* a date is stored as an int64; out of range is reported */
				if (!mongo_unix_ms_timestamp(bson_iter_int64_unsafe(iter),
											 &result))
					result = mongo_timestamp_value(conv, iter, col);
				return TimestampGetDatum(result);
			}
		case BSON_TYPE_UTF8:
			{
				size_t		len;
				const char *utf8 = bson_iter_utf8_unsafe(iter, &len);

				return PointerGetDatum(document_text(conv, utf8,
													 (uint32) len));
			}
		case BSON_TYPE_OID:
			return PointerGetDatum(object_id_text(conv,
												  bson_iter_oid_unsafe(iter)));
		default:
			break;
	}
	/* direct_types gives no other type */
	elog(ERROR, "BSON type 0x%02x has no direct conversion",
		 (unsigned int) bson_iter_type(iter));
	pg_unreachable();
}

/*
 * document_text
 *		A string of a document as text: plain ASCII as it is, anything else
 *		verified and converted to the database encoding.
 */
static pg_attribute_always_inline text *
document_text(MongoConverter *conv, const char *utf8, uint32 len)
{
	int			server_len;
	char	   *str;

	if (plain_document_string(utf8, len))
		return text_datum(conv, utf8, (int) len);
	str = mongo_server_string(utf8, len, &server_len);
	return text_datum(conv, str, server_len);
}

/*
 * plain_document_string
 *		Whether a string of a document is plain ASCII without NUL, the same
 *		in every server encoding (mongo_server_string's test), read a word
 *		at a time.  The last word read is the one that ends with the
 *		string, which is always inside the document: a string's element
 *		has at least its type byte, its key's NUL and its length prefix
 *		before the string, and the document its length before that.
 */
static pg_attribute_always_inline bool
plain_document_string(const char *str, uint32 len)
{
	uint64		flags = 0;
	uint64		word;
	uint32		i;

	if (len == 0)
		return true;
	for (i = 0; i + sizeof(uint64) < len; i += sizeof(uint64))
	{
		memcpy(&word, str + i, sizeof(uint64));
		/* a byte of 0, or of 0x80 and above, sets its top bit here */
		flags |= (word - WALK_LOW_BYTES) | word;
	}
	memcpy(&word, str + len - sizeof(uint64), sizeof(uint64));
	word = BSON_UINT64_FROM_LE(word);
	if (len < sizeof(uint64))
	{
		/*
		 * only the last len bytes are the string's: shifted down, with zero
		 * bytes above them, which cannot borrow from the string's
		 */
		word >>= (sizeof(uint64) - len) * BITS_PER_BYTE;
		return (((word - WALK_LOW_BYTES) | word) & WALK_HIGH_BITS &
				(~UINT64CONST(0) >> (sizeof(uint64) - len) * BITS_PER_BYTE))
			== 0;
	}
	return (((word - WALK_LOW_BYTES) | word | flags) & WALK_HIGH_BITS) == 0;
}

/*
 * convert_column
 *		The value of one column: the field iter points at, or with iter
 *		NULL the whole document ($$ROOT).  Every column kind goes through
 *		here, so that its on_type_mismatch policy covers every way its
 *		conversion can fail.
 */
static Datum
convert_column(MongoConverter *conv, const bson_iter_t *iter,
			   MongoColumn *col, bool *isnull)
{
	if (col->on_mismatch != MONGO_MISMATCH_ERROR)
		return convert_value_or_null(conv, iter, col, isnull);
	if (iter == NULL)
	{
		*isnull = false;
		return whole_document_value(conv, conv->document, col);
	}
	return convert_value(conv, iter, col, isnull);
}

/*
 * convert_value_or_null
 *		convert_column for a column whose on_type_mismatch policy is 'null'
 *		or 'skip': a value that does not fit (an error of ours, or a data
 *		exception from a type's input or coercion function, which leave no
 *		state behind) is read as NULL, or marks its row to be left out, and
 *		is counted; the first such error is kept for the warning at the end
 *		of the scan.  Any other error is raised: a damaged document is not a
 *		value that does not fit.
 */
static Datum
convert_value_or_null(MongoConverter *conv, const bson_iter_t *iter,
					  MongoColumn *col, bool *isnull)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	PG_TRY();
	{
		if (iter == NULL)
		{
			*isnull = false;
			result = whole_document_value(conv, conv->document, col);
		}
		else
			result = convert_value(conv, iter, col, isnull);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_FDW_INVALID_DATA_TYPE &&
			edata->sqlerrcode != ERRCODE_FDW_INVALID_STRING_FORMAT &&
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		FlushErrorState();

		conv->mismatches++;
		if (col->mismatches++ == 0)
		{
			/*
			 * the innermost context line names this value; the lines after it
			 * are the statement's (a function running the scan, say)
			 */
			const char *context = edata->context ? edata->context : "";

			col->first_mismatch =
				MemoryContextStrdup(GetMemoryChunkContext(conv),
									psprintf("%s (%.*s).", edata->message,
											 (int) strcspn(context, "\n"),
											 context));
		}
		if (col->on_mismatch == MONGO_MISMATCH_SKIP)
			conv->skip_row = true;
		FreeErrorData(edata);
		*isnull = true;
		result = (Datum) 0;
	}
	PG_END_TRY();
	return result;
}

/*
 * convert_value
 *		One BSON value into the Datum of its column.  BSON null and
 *		undefined are SQL NULL.
 */
static Datum
convert_value(MongoConverter *conv, const bson_iter_t *iter,
			  const MongoColumn *col, bool *isnull)
{
	bson_type_t type = bson_iter_type(iter);

	if (type == BSON_TYPE_NULL ||
		(type == BSON_TYPE_UNDEFINED && col->bson_types == 0))
	{
		*isnull = true;
		return (Datum) 0;
	}
	*isnull = false;

	/*
	 * A column declaring its BSON types (option bson_type) takes no other:
	 * filters sent to MongoDB rely on it.  That includes the deprecated
	 * undefined, which MongoDB 8 no longer matches as null.
	 */
	if (col->bson_types != 0 &&
		((int) type >= 32 || !(col->bson_types & MONGO_BSON_TYPE_BIT(type))))
		mongo_report_undeclared_type(iter, col);

	switch (col->kind)
	{
		case MONGO_TARGET_TEXT:
			return text_value(conv, iter, col);
		case MONGO_TARGET_INT2:
			return Int16GetDatum((int16) integer_value(conv, iter, col,
													   PG_INT16_MIN,
													   PG_INT16_MAX));
		case MONGO_TARGET_INT4:
			return Int32GetDatum((int32) integer_value(conv, iter, col,
													   PG_INT32_MIN,
													   PG_INT32_MAX));
		case MONGO_TARGET_INT8:
			if (type == BSON_TYPE_TIMESTAMP)
				return Int64GetDatum(bson_timestamp_int8(iter, col));
			return Int64GetDatum(integer_value(conv, iter, col,
											   PG_INT64_MIN, PG_INT64_MAX));
		case MONGO_TARGET_FLOAT4:
			{
				double		d = float_value(conv, iter, col);
				float		f = (float) d;

				/* out of float4's range either way, as float8 -> float4 */
				if ((isinf(f) && !isinf(d)) || (f == 0.0f && d != 0.0))
					mongo_report_out_of_range(iter, col, double_to_shortest_decimal(d));
				return Float4GetDatum(f);
			}
		case MONGO_TARGET_FLOAT8:
			return Float8GetDatum(float_value(conv, iter, col));
		case MONGO_TARGET_NUMERIC:
			return numeric_value(conv, iter, col);
		case MONGO_TARGET_BOOL:
			if (type != BSON_TYPE_BOOL)
				mongo_report_mismatch(iter, col);
			return BoolGetDatum(bson_iter_bool_unsafe(iter));
		case MONGO_TARGET_TIMESTAMPTZ:
			return TimestampTzGetDatum(mongo_timestamp_value(conv, iter, col));
		case MONGO_TARGET_TIMESTAMP:
			/* BSON dates are UTC; a timestamp column holds them as UTC */
			return TimestampGetDatum(mongo_timestamp_value(conv, iter, col));
		case MONGO_TARGET_DATE:
			{
				Timestamp	ts = mongo_timestamp_value(conv, iter, col);
				int64		days = ts / USECS_PER_DAY;

				/* the UTC day, rounding down before 2000-01-01 */
				if (ts % USECS_PER_DAY < 0)
					days--;
				return DateADTGetDatum((DateADT) days);
			}
		case MONGO_TARGET_JSONB:
			return JsonbPGetDatum(mongo_jsonb_value(conv, iter, col));
		case MONGO_TARGET_JSON:
			{
				StringInfoData out;

				initStringInfo(&out);
				mongo_append_json(conv, &out, iter, col, 1);
				return PointerGetDatum(cstring_to_text_with_len(out.data,
																out.len));
			}
		case MONGO_TARGET_BYTEA:
			return bytea_value(iter, col);
		case MONGO_TARGET_UUID:
			return uuid_value(conv, iter, col);
		case MONGO_TARGET_ARRAY:
			return array_value(conv, iter, col);
		case MONGO_TARGET_INPUT_FUNCTION:
			return input_function_value(conv, iter, col);
	}
	pg_unreachable();
}

/*
 * text_value
 *		A string, an ObjectId (its 24 hex digits) or a number (its decimal
 *		form) as text; varchar(n) and char(n) apply their length rules as an
 *		assignment would.
 */
static Datum
text_value(MongoConverter *conv, const bson_iter_t *iter,
		   const MongoColumn *col)
{
	text	   *result;

	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_UTF8:
			{
				size_t		len;
				const char *utf8 = bson_iter_utf8_unsafe(iter, &len);
				int			server_len;
				char	   *str = mongo_server_string(utf8, (uint32) len,
													  &server_len);

				result = text_datum(conv, str, server_len);
				break;
			}
		case BSON_TYPE_OID:
			result = object_id_text(conv, bson_iter_oid_unsafe(iter));
			break;
		case BSON_TYPE_INT32:
			{
				char		buf[12];

				pg_ltoa(bson_iter_int32_unsafe(iter), buf);
				result = cstring_to_text(buf);
				break;
			}
		case BSON_TYPE_INT64:
			{
				char		buf[MAXINT8LEN + 1];

				pg_lltoa(bson_iter_int64_unsafe(iter), buf);
				result = cstring_to_text(buf);
				break;
			}
		case BSON_TYPE_DOUBLE:
			{
				char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];

				double_to_shortest_decimal_buf(bson_iter_double_unsafe(iter),
											   buf);
				result = cstring_to_text(buf);
				break;
			}
		case BSON_TYPE_DECIMAL128:
			{
				bson_decimal128_t dec;
				char		buf[BSON_DECIMAL128_STRING];

				bson_iter_decimal128(iter, &dec);
				bson_decimal128_to_string(&dec, buf);
				result = cstring_to_text(buf);
				break;
			}
		case BSON_TYPE_BOOL:
			if (!col->bool_values)
				mongo_report_mismatch(iter, col);
			result = cstring_to_text(bson_iter_bool_unsafe(iter)
									 ? "true" : "false");
			break;
		case BSON_TYPE_CODE:
		case BSON_TYPE_SYMBOL:
			{
				uint32		len;
				const char *utf8 = BSON_ITER_HOLDS_CODE(iter)
					? bson_iter_code(iter, &len) : bson_iter_symbol(iter, &len);
				int			server_len;
				char	   *str = mongo_server_string(utf8, len, &server_len);

				result = cstring_to_text_with_len(str, server_len);
				break;
			}
		default:
			mongo_report_mismatch(iter, col);
	}

	if (col->typmod >= 0 && col->typid == VARCHAROID)
		return DirectFunctionCall3(varchar, PointerGetDatum(result),
								   Int32GetDatum(col->typmod),
								   BoolGetDatum(false));
	if (col->typmod >= 0 && col->typid == BPCHAROID)
		return DirectFunctionCall3(bpchar, PointerGetDatum(result),
								   Int32GetDatum(col->typmod),
								   BoolGetDatum(false));
	return PointerGetDatum(result);
}

/*
 * text_space
 *		size bytes for a text datum of the document being converted, from
 *		the converter's text space while it lasts (MONGO_TEXT_SPACE), else
 *		palloc'd: a palloc for every string was a twentieth of a load's
 *		instructions.
 */
static pg_attribute_always_inline char *
text_space(MongoConverter *conv, Size size)
{
	char	   *space;

	/* text_space_used stays a multiple of 4, as MONGO_TEXT_SPACE is */
	StaticAssertStmt(MONGO_TEXT_SPACE % ALIGNOF_INT == 0,
					 "MONGO_TEXT_SPACE must keep text datums int-aligned");
	if (size > MONGO_TEXT_SPACE - conv->text_space_used)
		return palloc(size);
	space = conv->text_space + conv->text_space_used;
	conv->text_space_used += INTALIGN(size);
	return space;
}

/*
 * text_datum
 *		cstring_to_text_with_len, inlined: nearly every row has text columns.
 */
static inline text *
text_datum(MongoConverter *conv, const char *str, int len)
{
	text	   *result = (text *) text_space(conv, len + VARHDRSZ);

	SET_VARSIZE(result, len + VARHDRSZ);
	memcpy(VARDATA(result), str, len);
	return result;
}

/*
 * object_id_text
 *		An ObjectId as text, its 24 hexadecimal digits written by libbson
 *		straight into the datum, with no copy: every document has an _id.
 *		(bson_oid_to_string also writes a NUL, after the text's end.)
 */
static pg_attribute_always_inline text *
object_id_text(MongoConverter *conv, const bson_oid_t *oid)
{
	text	   *result = (text *) text_space(conv, VARHDRSZ +
											 2 * sizeof(oid->bytes) + 1);

	SET_VARSIZE(result, VARHDRSZ + 2 * sizeof(oid->bytes));
	bson_oid_to_string(oid, VARDATA(result));
	return result;
}

/*
 * integer_value
 *		An int32, int64, or integral double or Decimal128, range-checked.  A
 *		value with a fractional part is a mismatch, never truncated.
 */
static int64
integer_value(MongoConverter *conv, const bson_iter_t *iter,
			  const MongoColumn *col, int64 min, int64 max)
{
	int64		value;
	char		buf[MAXINT8LEN + 1];

	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_INT32:
			value = bson_iter_int32_unsafe(iter);
			break;
		case BSON_TYPE_INT64:
			value = bson_iter_int64_unsafe(iter);
			break;
		case BSON_TYPE_BOOL:
			if (!col->bool_values)
				mongo_report_mismatch(iter, col);
			value = bson_iter_bool_unsafe(iter) ? 1 : 0;
			break;
		case BSON_TYPE_DOUBLE:
			{
				double		d = bson_iter_double_unsafe(iter);

				if (isnan(d) || d != rint(d))
					mongo_report_not_integer(iter, col, double_to_shortest_decimal(d));
				if (!FLOAT8_FITS_IN_INT64(d))
					mongo_report_out_of_range(iter, col, double_to_shortest_decimal(d));
				value = (int64) d;
				break;
			}
		case BSON_TYPE_DECIMAL128:
			{
				Numeric		num = mongo_decimal128_numeric(iter);
				Datum		whole;

				whole = DirectFunctionCall2(numeric_trunc,
											NumericGetDatum(num),
											Int32GetDatum(0));
				if (numeric_is_nan(num) || numeric_is_inf(num) ||
					DatumGetInt32(DirectFunctionCall2(numeric_cmp,
													  NumericGetDatum(num),
													  whole)) != 0)
					mongo_report_not_integer(iter, col,
											 DatumGetCString(DirectFunctionCall1(numeric_out,
																				 NumericGetDatum(num))));
				if (DatumGetInt32(DirectFunctionCall2(numeric_cmp,
													  NumericGetDatum(num),
													  NumericGetDatum(int64_to_numeric(min)))) < 0 ||
					DatumGetInt32(DirectFunctionCall2(numeric_cmp,
													  NumericGetDatum(num),
													  NumericGetDatum(int64_to_numeric(max)))) > 0)
					mongo_report_out_of_range(iter, col,
											  DatumGetCString(DirectFunctionCall1(numeric_out,
																				  NumericGetDatum(num))));
				value = DatumGetInt64(DirectFunctionCall1(numeric_int8,
														  NumericGetDatum(num)));
				break;
			}
		default:
			mongo_report_mismatch(iter, col);
	}

	if (value < min || value > max)
	{
		pg_lltoa(value, buf);
		mongo_report_out_of_range(iter, col, buf);
	}
	return value;
}

/*
 * float_value
 *		A double, int32, int64 or Decimal128 as a double, as PostgreSQL's
 *		casts to float8 do.
 */
static double
float_value(MongoConverter *conv, const bson_iter_t *iter,
			const MongoColumn *col)
{
	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_DOUBLE:
			return bson_iter_double_unsafe(iter);
		case BSON_TYPE_INT32:
			return (double) bson_iter_int32_unsafe(iter);
		case BSON_TYPE_INT64:
			return (double) bson_iter_int64_unsafe(iter);
		case BSON_TYPE_DECIMAL128:
			{
				bson_decimal128_t dec;
				char		buf[BSON_DECIMAL128_STRING];
				double		d;

				/* the nearest double, as PostgreSQL's casts give */
				bson_iter_decimal128(iter, &dec);
				bson_decimal128_to_string(&dec, buf);
				errno = 0;
				d = strtod(buf, NULL);
				if (errno == ERANGE)
					mongo_report_out_of_range(iter, col, buf);
				return d;
			}
		default:
			mongo_report_mismatch(iter, col);
	}
}

/*
 * numeric_value
 *		An int32, int64 or double as numeric, with the column's precision
 *		and scale applied as an assignment would.
 */
static Datum
numeric_value(MongoConverter *conv, const bson_iter_t *iter,
			  const MongoColumn *col)
{
	Datum		result;

	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_INT32:
			result = NumericGetDatum(
				int64_to_numeric(bson_iter_int32_unsafe(iter)));
			break;
		case BSON_TYPE_INT64:
			result = NumericGetDatum(
				int64_to_numeric(bson_iter_int64_unsafe(iter)));
			break;
		case BSON_TYPE_DOUBLE:
			result = NumericGetDatum(
				mongo_double_numeric(bson_iter_double_unsafe(iter)));
			break;
		case BSON_TYPE_DECIMAL128:
			result = NumericGetDatum(mongo_decimal128_numeric(iter));
			break;
		case BSON_TYPE_BOOL:
			if (!col->bool_values)
				mongo_report_mismatch(iter, col);
			result = NumericGetDatum(
				int64_to_numeric(bson_iter_bool_unsafe(iter)));
			break;
		default:
			mongo_report_mismatch(iter, col);
	}

	if (col->typmod >= 0)
		result = DirectFunctionCall2(numeric, result,
									 Int32GetDatum(col->typmod));
	return result;
}

/*
 * array_value
 *		A BSON array as a PostgreSQL array, each element converted by the
 *		rules of the element type; BSON null elements are NULL.  Arrays of
 *		arrays become a multidimensional array when they are rectangular
 *		(every sub-array of a level as long as the first, scalars only at
 *		the deepest level); anything else is an error, never a guess.
 */
static pg_noinline Datum
array_value(MongoConverter *conv, const bson_iter_t *iter,
			const MongoColumn *col)
{
	int			dims[MAXDIM];
	int			lbs[MAXDIM];
	int			ndims = 0;
	int			nitems = 1;
	int			filled = 0;
	Datum	   *values;
	bool	   *nulls;
	bson_iter_t level;

	if (!BSON_ITER_HOLDS_ARRAY(iter))
		mongo_report_mismatch(iter, col);

	/* the shape, from the first element of each level */
	level = *iter;
	while (BSON_ITER_HOLDS_ARRAY(&level))
	{
		bson_iter_t child;
		int			n = 0;

		if (ndims == MAXDIM)
			report_not_rectangular(iter, col, "it has more than 6 dimensions");
		if (!bson_iter_recurse(&level, &child))
			mongo_report_corrupt_document(&level);
		while (bson_iter_next(&child))
			n++;
		dims[ndims] = n;
		lbs[ndims] = 1;
		ndims++;
		if (n == 0)
			break;
		bson_iter_recurse(&level, &child);
		bson_iter_next(&child);
		level = child;
		if ((Size) nitems > MaxArraySize / n)
			report_not_rectangular(iter, col, "it is too large");
		nitems *= n;
	}
	if (dims[ndims - 1] == 0)
	{
		if (ndims > 1)
			report_not_rectangular(iter, col, "it holds an empty array");
		return PointerGetDatum(construct_empty_array(col->element->typid));
	}

	values = palloc(sizeof(Datum) * nitems);
	nulls = palloc(sizeof(bool) * nitems);
	collect_array_elements(conv, iter, col, dims, ndims, 0, values, nulls,
						   &filled);
	Assert(filled == nitems);

	return PointerGetDatum(construct_md_array(values, nulls, ndims, dims, lbs,
											  col->element->typid,
											  col->elmlen, col->elmbyval,
											  col->elmalign));
}

/*
 * collect_array_elements
 *		Convert the elements of one level of a BSON array, in row-major
 *		order, checking it against the shape found from the first elements.
 */
static void
collect_array_elements(MongoConverter *conv, const bson_iter_t *iter,
					   const MongoColumn *col, const int *dims, int ndims,
					   int depth, Datum *values, bool *nulls, int *filled)
{
	bson_iter_t child;
	int			n = 0;

	if (!bson_iter_recurse(iter, &child))
		mongo_report_corrupt_document(iter);
	while (bson_iter_next(&child))
	{
		bool		is_array = BSON_ITER_HOLDS_ARRAY(&child);

		if (++n > dims[depth])
			report_not_rectangular(iter, col,
								   "its sub-arrays differ in length");
		if (depth + 1 < ndims)
		{
			if (!is_array)
				report_not_rectangular(iter, col,
									   "it mixes arrays and other values");
			collect_array_elements(conv, &child, col, dims, ndims, depth + 1,
								   values, nulls, filled);
		}
		else
		{
			if (is_array)
				report_not_rectangular(iter, col,
									   "its sub-arrays differ in depth");
			values[*filled] = convert_value(conv, &child, col->element,
											&nulls[*filled]);
			(*filled)++;
		}
	}
	if (child.err_off != 0)
		mongo_report_corrupt_document(&child);
	if (n != dims[depth])
		report_not_rectangular(iter, col, "its sub-arrays differ in length");
}

/*
 * report_not_rectangular
 *		A BSON array that no PostgreSQL array can hold.
 */
static void
report_not_rectangular(const bson_iter_t *iter, const MongoColumn *col,
					   const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot convert BSON array to type %s",
					format_type_with_typemod(col->typid, col->typmod)),
			 errdetail("The array is not rectangular: %s.", why),
			 col->on_mismatch == MONGO_MISMATCH_ERROR ?
			 errhint("Read it into a jsonb column instead, or set the option on_type_mismatch to \"null\" or \"skip\".") :
			 errhint("Read it into a jsonb column instead.")));
}

/*
 * bytea_value
 *		Binary data of any subtype, or an ObjectId's 12 bytes, as bytea.
 */
static Datum
bytea_value(const bson_iter_t *iter, const MongoColumn *col)
{
	const uint8_t *data;
	uint32_t	len;
	bytea	   *result;

	if (BSON_ITER_HOLDS_BINARY(iter))
		bson_iter_binary(iter, NULL, &len, &data);
	else if (BSON_ITER_HOLDS_OID(iter))
	{
		data = bson_iter_oid(iter)->bytes;
		len = 12;
	}
	else
		mongo_report_mismatch(iter, col);

	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), data, len);
	return PointerGetDatum(result);
}

/*
 * uuid_value
 *		A BSON UUID (binary subtype 4, or the legacy subtype 3) of 16 bytes,
 *		or a string in any form uuid's input accepts, as uuid.  The bytes of
 *		subtype 3 are taken in the order they are stored; drivers that wrote
 *		them in another byte order wrote other UUIDs.
 */
static pg_noinline Datum
uuid_value(MongoConverter *conv, const bson_iter_t *iter,
		   const MongoColumn *col)
{
	if (BSON_ITER_HOLDS_BINARY(iter))
	{
		bson_subtype_t subtype;
		const uint8_t *data;
		uint32_t	len;
		pg_uuid_t  *result;

		bson_iter_binary(iter, &subtype, &len, &data);
		if ((subtype != BSON_SUBTYPE_UUID &&
			 subtype != BSON_SUBTYPE_UUID_DEPRECATED) || len != UUID_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("cannot convert BSON binData of subtype %d and %u bytes to type uuid",
							(int) subtype, len),
					 errdetail("A uuid comes from binData of subtype 4 (or 3) holding 16 bytes.")));
		result = palloc(sizeof(pg_uuid_t));
		memcpy(result->data, data, UUID_LEN);
		return UUIDPGetDatum(result);
	}
	return input_function_value(conv, iter, col);
}

/*
 * bson_timestamp_int8
 *		A BSON timestamp's 64 bits (seconds, then counter) as bigint, as
 *		MongoDB compares them.  Past 2038 they no longer fit.
 */
static int64
bson_timestamp_int8(const bson_iter_t *iter, const MongoColumn *col)
{
	uint32_t	seconds;
	uint32_t	increment;
	uint64		value;

	bson_iter_timestamp(iter, &seconds, &increment);
	value = ((uint64) seconds << 32) | increment;
	if (value > (uint64) PG_INT64_MAX)
	{
		char		buf[64];

		snprintf(buf, sizeof(buf), "{t: %u, i: %u}", seconds, increment);
		mongo_report_out_of_range(iter, col, buf);
	}
	return (int64) value;
}

/*
 * input_function_value
 *		A type with no direct conversion, built from a BSON string (or an
 *		ObjectId's hex form) by the type's input function.
 */
static pg_noinline Datum
input_function_value(MongoConverter *conv, const bson_iter_t *iter,
					 const MongoColumn *col)
{
	char	   *str;

	if (BSON_ITER_HOLDS_UTF8(iter))
	{
		uint32		len;
		const char *utf8 = bson_iter_utf8(iter, &len);
		int			server_len;

		str = mongo_server_string(utf8, len, &server_len);
	}
	else if (BSON_ITER_HOLDS_OID(iter))
	{
		str = palloc(25);
		bson_oid_to_string(bson_iter_oid(iter), str);
	}
	else
		mongo_report_mismatch(iter, col);

	/* name's input would cut a long string short without a word */
	if (col->typid == NAMEOID && strlen(str) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BSON string of %zu bytes is too long for type name",
						strlen(str)),
				 errdetail("A name holds at most %d bytes.", NAMEDATALEN - 1)));

	return InputFunctionCall((FmgrInfo *) &col->input_fn, str,
							 col->typioparam, col->typmod);
}

/*
 * report_path_through_array
 *		A column's field path names a field inside an array's elements
 *		("items.sku" where items is an array).  MongoDB would collect that
 *		field from every element; a scalar column cannot hold such a list,
 *		and reading NULL would lose the data silently, so it is an error.
 */
static void
report_path_through_array(MongoConverter *conv, const MongoFieldNode *node)
{
	/* blame the first column below the array */
	while (node->ncolumns == 0)
		node = node->children[0];
	conv->current_column = node->columns[0];

	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("field path \"%s\" leads into an array",
					conv->columns[node->columns[0]].field),
			 errdetail("A path through an array must name an element by its position, as in \"items.0.sku\"."),
			 errhint("Read the whole array into a jsonb column instead.")));
}

/*
 * conversion_error_callback
 *		Error context for any error while a column is converted, ours or one
 *		from a type's input function: which column, table and document.
 */
static void
conversion_error_callback(void *arg)
{
	MongoConverter *conv = (MongoConverter *) arg;

	if (conv->current_column >= 0)
	{
		const MongoColumn *col = &conv->columns[conv->current_column];

		if (strcmp(col->name, col->field) == 0)
			errcontext("column \"%s\" of foreign table \"%s\", document _id %s",
					   col->name, conv->relname,
					   mongo_document_id_string(conv->document));
		else
			errcontext("column \"%s\" (field \"%s\") of foreign table \"%s\", document _id %s",
					   col->name, col->field, conv->relname,
					   mongo_document_id_string(conv->document));
	}
	else
		errcontext("foreign table \"%s\"", conv->relname);

	if (conv->dump != NULL)
		errcontext("document at byte offset " UINT64_FORMAT " of file \"%s\"",
				   mongo_dump_document_offset(conv->dump),
				   mongo_dump_path(conv->dump));
}

/*
 * mongo_document_id_string
 *		A document's _id for a message: ObjectIds as hex, strings quoted,
 *		numbers as such, anything else as relaxed extended JSON.
 */
char *
mongo_document_id_string(const bson_t *document)
{
	bson_iter_t iter;

	if (!bson_iter_init_find(&iter, document, "_id"))
		return pstrdup("(none)");

	switch (bson_iter_type(&iter))
	{
		case BSON_TYPE_OID:
			{
				char	   *hex = palloc(25);

				bson_oid_to_string(bson_iter_oid(&iter), hex);
				return hex;
			}
		case BSON_TYPE_UTF8:
			return psprintf("\"%s\"", bson_iter_utf8(&iter, NULL));
		case BSON_TYPE_INT32:
			return psprintf("%d", bson_iter_int32(&iter));
		case BSON_TYPE_INT64:
			return psprintf(INT64_FORMAT, bson_iter_int64(&iter));
		default:
			{
				bson_t		wrapper = BSON_INITIALIZER;
				char	   *json;
				char	   *result;

				bson_append_iter(&wrapper, "_id", 3, &iter);
				json = bson_as_relaxed_extended_json(&wrapper, NULL);
				result = pstrdup(json ? json : "(unprintable)");
				bson_free(json);
				bson_destroy(&wrapper);
				return result;
			}
	}
}
