/*-------------------------------------------------------------------------
 *
 * bson_convert.c
 *		  Conversion of BSON documents into tuples: every field a scan needs
 *		  is turned straight into a Datum of its column's type.
 *
 * A document is walked once.  The columns' field paths are prepared at the
 * start of the scan as a tree of sorted path segments; a field is matched
 * by its key's length and by the field found at the same position in the
 * previous document, falling back to a binary search, and the walk stops as
 * soon as every wanted field was seen.  Values never pass through JSON text:
 * numbers, dates and strings are converted directly, documents and arrays
 * for jsonb columns are encoded straight into jsonb's binary form, and json
 * columns get JSON text written from the BSON.
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
#include "common/base64.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "mongo_etl.h"

/*
 * Every iterator whose type this file reads stands on an element (the walk
 * or lookup that placed it succeeded), so the type byte is read in place:
 * libbson's bson_iter_type, which the BSON_ITER_HOLDS_ macros call too, is
 * a function call per value for the same byte.
 */
#define bson_iter_type(iter) bson_iter_type_unsafe(iter)

/*
 * One segment of the columns' field paths.  The children of a node are
 * the next segments, sorted by name for binary search.
 */
struct MongoFieldNode
{
	char	   *name;			/* this segment; NULL for the root */
	int			name_len;
	uint64		child_lengths;	/* bit n set: a child's name has length n
								 * (63: 63 or more) */
	int		   *columns;		/* columns reading exactly this path */
	int			ncolumns;
	MongoFieldNode **children;	/* sorted by name */
	int			nchildren;
	int			nwanted;		/* columns in this subtree */
	bool		named_children; /* a child name is not an array index */
	int		   *hints;			/* per field position in the last document
								 * walked: the child found there, or -1 */
};

/*
 * Documents of a collection usually share their field order, so the child
 * found at each position of the last document is tried first.  Positions
 * beyond this many fall back to the binary search alone.
 */
#define MONGO_FIELD_HINTS 32

/*
 * Deepest nesting of documents and arrays converted to jsonb.  MongoDB
 * refuses to store documents nested deeper than 100 levels.
 */
#define MONGO_MAX_NESTING_DEPTH 100

/* Integers from 0 up to this are kept as numerics for jsonb */
#define SMALL_INT_NUMERICS 1024

/* Powers of ten that doubles hold exactly, for double_numeric */
static const double pow10_table[] = {1.0, 10.0, 100.0, 1000.0, 10000.0};

/*
 * BSON dates that JSON gets as ISO 8601 strings: years 1 to 9999, the
 * years of the format's four digits, from 0001-01-01T00:00:00.000Z to
 * 9999-12-31T23:59:59.999Z in milliseconds since 1970.  Dates outside
 * become {"$date": {"$numberLong": "..."}}, as MongoDB's relaxed extended
 * JSON writes them.
 */
#define MONGO_ISO_DATE_MIN_MS INT64CONST(-62135596800000)
#define MONGO_ISO_DATE_MAX_MS INT64CONST(253402300799999)

/* Milliseconds from the Unix epoch to the PostgreSQL epoch (2000-01-01) */
#define UNIX_TO_POSTGRES_EPOCH_MS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000)

static void setup_input_function(MongoColumn *column);
static MongoFieldNode *new_field_node(const char *name);
static void add_field_path(MongoFieldNode *root, const char *path,
						   int column);
static void finish_field_node(MongoFieldNode *node);
static int	compare_field_nodes(const void *a, const void *b);
static const MongoFieldNode *find_child(const MongoFieldNode *node,
										const char *key, int keylen,
										int position);
static Datum whole_document_value(MongoConverter *conv,
								  const bson_t *document,
								  const MongoColumn *col);
static int	convert_fields(MongoConverter *conv, bson_iter_t *iter,
						   const MongoFieldNode *node,
						   Datum *values, bool *isnull);
static Datum convert_value(MongoConverter *conv, const bson_iter_t *iter,
						   const MongoColumn *col, bool *isnull);
static Datum convert_column(MongoConverter *conv, const bson_iter_t *iter,
							MongoColumn *col, bool *isnull);
static Datum convert_value_or_null(MongoConverter *conv,
								   const bson_iter_t *iter,
								   MongoColumn *col, bool *isnull);
static Datum text_value(MongoConverter *conv, const bson_iter_t *iter,
						const MongoColumn *col);
static int64 integer_value(MongoConverter *conv, const bson_iter_t *iter,
						   const MongoColumn *col, int64 min, int64 max);
static double float_value(MongoConverter *conv, const bson_iter_t *iter,
						  const MongoColumn *col);
static Datum numeric_value(MongoConverter *conv, const bson_iter_t *iter,
						   const MongoColumn *col);
static Timestamp timestamp_value(MongoConverter *conv,
								 const bson_iter_t *iter,
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
static Jsonb *jsonb_value(MongoConverter *conv, const bson_iter_t *iter,
						  const MongoColumn *col);
struct JsonbMember;
static void encode_container(MongoConverter *conv, StringInfo out,
							 const uint8_t *data, uint32 data_len,
							 bool is_array, const MongoColumn *col,
							 int depth);
static bool extended_json_object(const bson_iter_t *iter, uint8_t **data,
								 uint32 *len);
static void append_json(MongoConverter *conv, StringInfo out,
						const bson_iter_t *iter, const MongoColumn *col,
						int depth);
static void append_json_string(StringInfo out, const char *utf8,
							   uint32 len);
static void append_json_container(MongoConverter *conv, StringInfo out,
								  const uint8_t *data, uint32 data_len,
								  bool is_array, const MongoColumn *col,
								  int depth);
static void encode_container_value(MongoConverter *conv, StringInfo out,
								   const bson_iter_t *iter,
								   const MongoColumn *col, int depth);
static JEntry encode_value(MongoConverter *conv, StringInfo out,
						   const bson_iter_t *iter, const MongoColumn *col,
						   int depth);
static int	sort_members(struct JsonbMember *members, int n);
static void set_jentry(StringInfo out, int jentry_offset, int i, JEntry type,
					   int len, uint32 end_offset);
static int	pad_to_int(StringInfo buf);
static int	compare_members(const void *a, const void *b);
static void bson_scalar_to_jsonb(MongoConverter *conv,
								 const bson_iter_t *iter,
								 const MongoColumn *col, JsonbValue *result);
static char *server_string(const char *utf8, uint32 len, int *result_len);
static Numeric small_int_numeric(int64 value);
static Numeric double_numeric(double value);
static Numeric decimal128_numeric(const bson_iter_t *iter);
static Numeric scaled_int64_numeric(int64 mantissa, int scale);
static Numeric decimal_string_numeric(const char *decimal);
static const char *bson_type_name(bson_type_t type);
static int	errhint_on_type_mismatch(const MongoColumn *col);
pg_noreturn static void report_mismatch(const bson_iter_t *iter,
										const MongoColumn *col);
pg_noreturn static void report_undeclared_type(const bson_iter_t *iter,
											   const MongoColumn *col);
pg_noreturn static void report_out_of_range(const bson_iter_t *iter,
											const MongoColumn *col,
											const char *value);
pg_noreturn static void report_not_integer(const bson_iter_t *iter,
										   const MongoColumn *col,
										   const char *value);
static void check_nesting(int depth);
pg_noreturn static void report_corrupt_document(const bson_iter_t *iter);
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
	conv->current_column = -1;
	conv->fields = new_field_node(NULL);
	for (i = 0; i < ncolumns; i++)
	{
		if (columns[i].whole_document)
			conv->has_whole_document = true;
		else
			add_field_path(conv->fields, columns[i].field, i);
	}
	finish_field_node(conv->fields);
	return conv;
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
	node->hints = palloc(sizeof(int) * MONGO_FIELD_HINTS);
	memset(node->hints, -1, sizeof(int) * MONGO_FIELD_HINTS);
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
 *		The child of a node named key, or NULL.  Most keys are settled
 *		without comparing strings: a key whose length no child has is not
 *		wanted, and the child that the previous document had at this
 *		position is tried next; only then comes a binary search.
 */
static const MongoFieldNode *
find_child(const MongoFieldNode *node, const char *key, int keylen,
		   int position)
{
	int			low = 0;
	int			high = node->nchildren - 1;
	int			hint = position < MONGO_FIELD_HINTS ? node->hints[position] : -1;

	if ((node->child_lengths & (UINT64CONST(1) << Min(keylen, 63))) == 0)
		return NULL;
	if (hint >= 0 && node->children[hint]->name_len == keylen &&
		memcmp(key, node->children[hint]->name, keylen) == 0)
		return node->children[hint];

	while (low <= high)
	{
		int			middle = (low + high) / 2;
		int			cmp = strcmp(key, node->children[middle]->name);

		if (cmp == 0)
		{
			if (position < MONGO_FIELD_HINTS)
				node->hints[position] = middle;
			return node->children[middle];
		}
		if (cmp < 0)
			high = middle - 1;
		else
			low = middle + 1;
	}
	return NULL;
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
	conv->current_column = -1;
	conv->skip_row = false;
	memset(conv->seen, 0, sizeof(bool) * conv->ncolumns);

	errcallback.callback = conversion_error_callback;
	errcallback.arg = conv;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (!bson_iter_init(&iter, document))
		report_corrupt_document(NULL);
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
		encode_container(conv, &out, bson_get_data(document), document->len,
						 false, col, 1);
		SET_VARSIZE(out.data, out.len);
		return PointerGetDatum(out.data);
	}
	if (col->typid == JSONOID)
	{
		StringInfoData out;

		initStringInfo(&out);
		append_json_container(conv, &out, bson_get_data(document),
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
			report_corrupt_document(NULL);
		PG_TRY();
		{
			char	   *str = server_string(json, len, &server_len);

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

	while (filled < node->nwanted)
	{
		const MongoFieldNode *child;
		int			i;

		if (!bson_iter_next(iter))
		{
			if (iter->err_off != 0)
			{
				conv->current_column = -1;
				report_corrupt_document(iter);
			}
			break;
		}

		child = find_child(node, bson_iter_key(iter), bson_iter_key_len(iter),
						   ++position);
		if (child == NULL)
			continue;

		for (i = 0; i < child->ncolumns; i++)
		{
			int			c = child->columns[i];
			const MongoColumn *col = &conv->columns[c];

			if (conv->seen[c])
				continue;
			conv->seen[c] = true;
			conv->current_column = c;
			values[col->attnum - 1] =
				convert_column(conv, iter, &conv->columns[c],
							   &isnull[col->attnum - 1]);
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
				report_corrupt_document(iter);
			}
			filled += convert_fields(conv, &sub, child, values, isnull);
		}
	}
	return filled;
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
			 * the innermost context line names this value; the lines after
			 * it are the statement's (a function running the scan, say)
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
		report_undeclared_type(iter, col);

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
					report_out_of_range(iter, col, double_to_shortest_decimal(d));
				return Float4GetDatum(f);
			}
		case MONGO_TARGET_FLOAT8:
			return Float8GetDatum(float_value(conv, iter, col));
		case MONGO_TARGET_NUMERIC:
			return numeric_value(conv, iter, col);
		case MONGO_TARGET_BOOL:
			if (type != BSON_TYPE_BOOL)
				report_mismatch(iter, col);
			return BoolGetDatum(bson_iter_bool(iter));
		case MONGO_TARGET_TIMESTAMPTZ:
			return TimestampTzGetDatum(timestamp_value(conv, iter, col));
		case MONGO_TARGET_TIMESTAMP:
			/* BSON dates are UTC; a timestamp column holds them as UTC */
			return TimestampGetDatum(timestamp_value(conv, iter, col));
		case MONGO_TARGET_DATE:
			{
				Timestamp	ts = timestamp_value(conv, iter, col);
				int64		days = ts / USECS_PER_DAY;

				/* the UTC day, rounding down before 2000-01-01 */
				if (ts % USECS_PER_DAY < 0)
					days--;
				return DateADTGetDatum((DateADT) days);
			}
		case MONGO_TARGET_JSONB:
			return JsonbPGetDatum(jsonb_value(conv, iter, col));
		case MONGO_TARGET_JSON:
			{
				StringInfoData out;

				initStringInfo(&out);
				append_json(conv, &out, iter, col, 1);
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
				uint32		len;
				const char *utf8 = bson_iter_utf8(iter, &len);
				int			server_len;
				char	   *str = server_string(utf8, len, &server_len);

				result = cstring_to_text_with_len(str, server_len);
				break;
			}
		case BSON_TYPE_OID:
			{
				char		hex[25];

				bson_oid_to_string(bson_iter_oid(iter), hex);
				result = cstring_to_text_with_len(hex, 24);
				break;
			}
		case BSON_TYPE_INT32:
			{
				char		buf[12];

				pg_ltoa(bson_iter_int32(iter), buf);
				result = cstring_to_text(buf);
				break;
			}
		case BSON_TYPE_INT64:
			{
				char		buf[MAXINT8LEN + 1];

				pg_lltoa(bson_iter_int64(iter), buf);
				result = cstring_to_text(buf);
				break;
			}
		case BSON_TYPE_DOUBLE:
			{
				char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];

				double_to_shortest_decimal_buf(bson_iter_double(iter), buf);
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
				report_mismatch(iter, col);
			result = cstring_to_text(bson_iter_bool(iter) ? "true" : "false");
			break;
		case BSON_TYPE_CODE:
		case BSON_TYPE_SYMBOL:
			{
				uint32		len;
				const char *utf8 = BSON_ITER_HOLDS_CODE(iter)
					? bson_iter_code(iter, &len) : bson_iter_symbol(iter, &len);
				int			server_len;
				char	   *str = server_string(utf8, len, &server_len);

				result = cstring_to_text_with_len(str, server_len);
				break;
			}
		default:
			report_mismatch(iter, col);
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
			value = bson_iter_int32(iter);
			break;
		case BSON_TYPE_INT64:
			value = bson_iter_int64(iter);
			break;
		case BSON_TYPE_BOOL:
			if (!col->bool_values)
				report_mismatch(iter, col);
			value = bson_iter_bool(iter) ? 1 : 0;
			break;
		case BSON_TYPE_DOUBLE:
			{
				double		d = bson_iter_double(iter);

				if (isnan(d) || d != rint(d))
					report_not_integer(iter, col, double_to_shortest_decimal(d));
				if (!FLOAT8_FITS_IN_INT64(d))
					report_out_of_range(iter, col, double_to_shortest_decimal(d));
				value = (int64) d;
				break;
			}
		case BSON_TYPE_DECIMAL128:
			{
				Numeric		num = decimal128_numeric(iter);
				Datum		whole;

				whole = DirectFunctionCall2(numeric_trunc,
											NumericGetDatum(num),
											Int32GetDatum(0));
				if (numeric_is_nan(num) || numeric_is_inf(num) ||
					DatumGetInt32(DirectFunctionCall2(numeric_cmp,
													  NumericGetDatum(num),
													  whole)) != 0)
					report_not_integer(iter, col,
									   DatumGetCString(DirectFunctionCall1(numeric_out,
																		   NumericGetDatum(num))));
				if (DatumGetInt32(DirectFunctionCall2(numeric_cmp,
													  NumericGetDatum(num),
													  NumericGetDatum(int64_to_numeric(min)))) < 0 ||
					DatumGetInt32(DirectFunctionCall2(numeric_cmp,
													  NumericGetDatum(num),
													  NumericGetDatum(int64_to_numeric(max)))) > 0)
					report_out_of_range(iter, col,
										DatumGetCString(DirectFunctionCall1(numeric_out,
																			NumericGetDatum(num))));
				value = DatumGetInt64(DirectFunctionCall1(numeric_int8,
														  NumericGetDatum(num)));
				break;
			}
		default:
			report_mismatch(iter, col);
	}

	if (value < min || value > max)
	{
		pg_lltoa(value, buf);
		report_out_of_range(iter, col, buf);
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
			return bson_iter_double(iter);
		case BSON_TYPE_INT32:
			return (double) bson_iter_int32(iter);
		case BSON_TYPE_INT64:
			return (double) bson_iter_int64(iter);
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
					report_out_of_range(iter, col, buf);
				return d;
			}
		default:
			report_mismatch(iter, col);
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
			result = NumericGetDatum(int64_to_numeric(bson_iter_int32(iter)));
			break;
		case BSON_TYPE_INT64:
			result = NumericGetDatum(int64_to_numeric(bson_iter_int64(iter)));
			break;
		case BSON_TYPE_DOUBLE:
			result = NumericGetDatum(double_numeric(bson_iter_double(iter)));
			break;
		case BSON_TYPE_DECIMAL128:
			result = NumericGetDatum(decimal128_numeric(iter));
			break;
		case BSON_TYPE_BOOL:
			if (!col->bool_values)
				report_mismatch(iter, col);
			result = NumericGetDatum(int64_to_numeric(bson_iter_bool(iter)));
			break;
		default:
			report_mismatch(iter, col);
	}

	if (col->typmod >= 0)
		result = DirectFunctionCall2(numeric, result,
									 Int32GetDatum(col->typmod));
	return result;
}

/*
 * timestamp_value
 *		A BSON date (milliseconds since 1970-01-01 UTC) as a PostgreSQL
 *		timestamp, erroring when outside PostgreSQL's range.
 */
static Timestamp
timestamp_value(MongoConverter *conv, const bson_iter_t *iter,
				const MongoColumn *col)
{
	int64		unix_ms;
	int64		postgres_ms;
	Timestamp	result;

	if (BSON_ITER_HOLDS_TIMESTAMP(iter))
	{
		uint32_t	seconds;
		uint32_t	increment;

		/* MongoDB's internal timestamp: seconds since 1970, and a counter */
		bson_iter_timestamp(iter, &seconds, &increment);
		unix_ms = (int64) seconds * 1000;
	}
	else if (BSON_ITER_HOLDS_DATE_TIME(iter))
		unix_ms = bson_iter_date_time(iter);
	else if (BSON_ITER_HOLDS_OID(iter) && col->objectid_timestamp)
		unix_ms = (int64) bson_oid_get_time_t(bson_iter_oid(iter)) * 1000;
	else
		report_mismatch(iter, col);

	if (pg_sub_s64_overflow(unix_ms, UNIX_TO_POSTGRES_EPOCH_MS, &postgres_ms) ||
		pg_mul_s64_overflow(postgres_ms, 1000, &result) ||
		!IS_VALID_TIMESTAMP(result))
	{
		char		buf[MAXINT8LEN + 32];

		snprintf(buf, sizeof(buf), INT64_FORMAT " ms since 1970", unix_ms);
		report_out_of_range(iter, col, buf);
	}
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
static Datum
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
		report_mismatch(iter, col);

	/* the shape, from the first element of each level */
	level = *iter;
	while (BSON_ITER_HOLDS_ARRAY(&level))
	{
		bson_iter_t child;
		int			n = 0;

		if (ndims == MAXDIM)
			report_not_rectangular(iter, col, "it has more than 6 dimensions");
		if (!bson_iter_recurse(&level, &child))
			report_corrupt_document(&level);
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
		report_corrupt_document(iter);
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
		report_corrupt_document(&child);
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
		report_mismatch(iter, col);

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
static Datum
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
		report_out_of_range(iter, col, buf);
	}
	return (int64) value;
}

/*
 * input_function_value
 *		A type with no direct conversion, built from a BSON string (or an
 *		ObjectId's hex form) by the type's input function.
 */
static Datum
input_function_value(MongoConverter *conv, const bson_iter_t *iter,
					 const MongoColumn *col)
{
	char	   *str;

	if (BSON_ITER_HOLDS_UTF8(iter))
	{
		uint32		len;
		const char *utf8 = bson_iter_utf8(iter, &len);
		int			server_len;

		str = server_string(utf8, len, &server_len);
	}
	else if (BSON_ITER_HOLDS_OID(iter))
	{
		str = palloc(25);
		bson_oid_to_string(bson_iter_oid(iter), str);
	}
	else
		report_mismatch(iter, col);

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
 * jsonb_value
 *		Any supported BSON value as jsonb.  Documents and arrays are encoded
 *		straight into jsonb's binary form (encode_container); a scalar goes
 *		through a JsonbValue, as jsonb stores it as a one-element array.
 */
static Jsonb *
jsonb_value(MongoConverter *conv, const bson_iter_t *iter,
			const MongoColumn *col)
{
	uint8_t    *object;
	uint32		object_len;

	if (BSON_ITER_HOLDS_DOCUMENT(iter) || BSON_ITER_HOLDS_ARRAY(iter) ||
		extended_json_object(iter, &object, &object_len))
	{
		StringInfoData out;
		Jsonb	   *result;

		initStringInfo(&out);
		appendStringInfoSpaces(&out, VARHDRSZ);
		if (BSON_ITER_HOLDS_DOCUMENT(iter) || BSON_ITER_HOLDS_ARRAY(iter))
			encode_container_value(conv, &out, iter, col, 1);
		else
			encode_container(conv, &out, object, object_len, false, col, 1);
		result = (Jsonb *) out.data;
		SET_VARSIZE(result, out.len);
		return result;
	}
	else
	{
		JsonbValue	scalar;

		bson_scalar_to_jsonb(conv, iter, col, &scalar);
		return JsonbValueToJsonb(&scalar);
	}
}

/* One member of an object being encoded by encode_container */
typedef struct JsonbMember
{
	const char *key;			/* in the database encoding */
	int			keylen;
	int			order;			/* position in the BSON document */
	uint32		offset;			/* the element's offset in the document */
	uint32		bson_keylen;	/* its key's length in the BSON */
} JsonbMember;

/*
 * encode_container
 *		Append a BSON document or array to out as a jsonb container, at a
 *		4-byte boundary, exactly as PostgreSQL's own conversion from a
 *		JsonbValue tree would lay it out, but without building that tree:
 *		header, JEntry array, then the data, values written in place.  The
 *		members of an object are sorted as jsonb requires (by key length,
 *		then bytes; of repeated keys the last wins, as in jsonb's input), so
 *		their values are written in that order, each reached again by its
 *		offset in the document.
 */
static void
encode_container(MongoConverter *conv, StringInfo out, const uint8_t *data,
				 uint32 data_len, bool is_array, const MongoColumn *col,
				 int depth)
{
	bson_iter_t child;
	JsonbMember *members = NULL;
	int			n = 0;
	int			nentries;
	int			jentry_offset;
	int			base_offset;
	uint32		header;
	uint32		totallen = 0;
	int			i;

	check_nesting(depth);
	if (!bson_iter_init_from_data(&child, data, data_len))
		report_corrupt_document(NULL);

	/* count the elements; an object's members are collected and sorted */
	if (is_array)
	{
		while (bson_iter_next(&child))
			n++;
	}
	else
	{
		int			capacity = 8;

		members = palloc(sizeof(JsonbMember) * capacity);
		while (bson_iter_next(&child))
		{
			JsonbMember *m;

			if (n == capacity)
			{
				capacity *= 2;
				members = repalloc(members, sizeof(JsonbMember) * capacity);
			}
			m = &members[n];
			m->order = n++;
			m->bson_keylen = bson_iter_key_len(&child);
			m->key = server_string(bson_iter_key(&child), m->bson_keylen,
								   &m->keylen);
			m->offset = bson_iter_offset(&child);
		}
		n = sort_members(members, n);
	}
	if (child.err_off != 0)
		report_corrupt_document(&child);
	if (n > JB_CMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("BSON %s has too many elements for jsonb",
						is_array ? "array" : "object")));

	/* the header and room for the JEntries */
	base_offset = out->len;
	pad_to_int(out);
	header = n | (is_array ? JB_FARRAY : JB_FOBJECT);
	appendBinaryStringInfo(out, (char *) &header, sizeof(uint32));
	nentries = is_array ? n : 2 * n;
	jentry_offset = out->len;
	enlargeStringInfo(out, sizeof(JEntry) * nentries);
	out->len += sizeof(JEntry) * nentries;

	/* an object's keys come first, then all values */
	for (i = 0; !is_array && i < n; i++)
	{
		appendBinaryStringInfo(out, members[i].key, members[i].keylen);
		totallen += members[i].keylen;
		set_jentry(out, jentry_offset, i, JENTRY_ISSTRING,
				   members[i].keylen, totallen);
	}

	if (is_array && !bson_iter_init_from_data(&child, data, data_len))
		report_corrupt_document(NULL);
	for (i = 0; i < n; i++)
	{
		int			value_offset = out->len;
		JEntry		type;

		if (is_array)
		{
			if (!bson_iter_next(&child))
				report_corrupt_document(&child);
		}
		else if (!bson_iter_init_from_data_at_offset(&child, data, data_len,
													  members[i].offset,
													  members[i].bson_keylen))
			report_corrupt_document(NULL);

		type = encode_value(conv, out, &child, col, depth);
		totallen += out->len - value_offset;
		set_jentry(out, jentry_offset, is_array ? i : n + i, type,
				   out->len - value_offset, totallen);
	}

	if (out->len - base_offset > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("BSON %s is too large for jsonb",
						is_array ? "array" : "object")));
	if (members != NULL)
		pfree(members);
}

/*
 * append_json
 *		Any supported BSON value as JSON text, for json columns: the same
 *		values as in jsonb, but written in the document's own key order,
 *		repeated keys kept, as json keeps its input.
 */
static void
append_json(MongoConverter *conv, StringInfo out, const bson_iter_t *iter,
			const MongoColumn *col, int depth)
{
	uint8_t    *object;
	uint32		object_len;
	JsonbValue	value;

	if (BSON_ITER_HOLDS_DOCUMENT(iter) || BSON_ITER_HOLDS_ARRAY(iter))
	{
		const uint8_t *data;
		uint32		data_len;

		if (BSON_ITER_HOLDS_ARRAY(iter))
			bson_iter_array(iter, &data_len, &data);
		else
			bson_iter_document(iter, &data_len, &data);
		append_json_container(conv, out, data, data_len,
							  BSON_ITER_HOLDS_ARRAY(iter), col, depth);
		return;
	}
	if (extended_json_object(iter, &object, &object_len))
	{
		append_json_container(conv, out, object, object_len, false, col,
							  depth);
		return;
	}

	if (BSON_ITER_HOLDS_UTF8(iter))
	{
		uint32		len;
		const char *utf8 = bson_iter_utf8(iter, &len);

		append_json_string(out, utf8, len);
		return;
	}

	bson_scalar_to_jsonb(conv, iter, col, &value);
	switch (value.type)
	{
		case jbvNull:
			appendStringInfoString(out, "null");
			break;
		case jbvBool:
			appendStringInfoString(out, value.val.boolean ? "true" : "false");
			break;
		case jbvString:
			{
				/* escape_json wants a terminated string */
				char	   *str = pnstrdup(value.val.string.val,
										   value.val.string.len);

				escape_json(out, str);
				break;
			}
		case jbvNumeric:
			appendStringInfoString(out,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(value.val.numeric))));
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", value.type);
	}
}

/*
 * append_json_string
 *		A BSON string as a JSON string.  JSON text can hold a zero byte as
 *		\u0000, where PostgreSQL's strings cannot hold the byte itself: the
 *		string is written piece by piece around its zero bytes.
 */
static void
append_json_string(StringInfo out, const char *utf8, uint32 len)
{
	StringInfoData piece;

	initStringInfo(&piece);
	appendStringInfoChar(out, '"');
	for (;;)
	{
		const char *nul = memchr(utf8, '\0', len);
		uint32		piece_len = nul ? (uint32) (nul - utf8) : len;
		int			server_len;
		char	   *server = server_string(utf8, piece_len, &server_len);

		/* escape_json wants a terminated string, and adds quotes */
		resetStringInfo(&piece);
		escape_json(&piece, pnstrdup(server, server_len));
		appendBinaryStringInfo(out, piece.data + 1, piece.len - 2);
		if (nul == NULL)
			break;
		appendStringInfoString(out, "\\u0000");
		utf8 = nul + 1;
		len -= piece_len + 1;
	}
	appendStringInfoChar(out, '"');
	pfree(piece.data);
}

/*
 * append_json_container
 *		A BSON document or array, from its bytes, as a JSON object or array.
 */
static void
append_json_container(MongoConverter *conv, StringInfo out,
					  const uint8_t *data, uint32 data_len, bool is_array,
					  const MongoColumn *col, int depth)
{
	bson_iter_t child;
	bool		first = true;

	check_nesting(depth);
	if (!bson_iter_init_from_data(&child, data, data_len))
		report_corrupt_document(NULL);

	appendStringInfoChar(out, is_array ? '[' : '{');
	while (bson_iter_next(&child))
	{
		if (!first)
			appendStringInfoString(out, ", ");
		first = false;
		if (!is_array)
		{
			int			keylen;
			char	   *key = server_string(bson_iter_key(&child),
											bson_iter_key_len(&child),
											&keylen);

			escape_json(out, key);
			appendStringInfoString(out, ": ");
		}
		append_json(conv, out, &child, col, depth + 1);
	}
	if (child.err_off != 0)
		report_corrupt_document(&child);
	appendStringInfoChar(out, is_array ? ']' : '}');
}

/*
 * extended_json_object
 *		BSON types that JSON has no value for become, in jsonb, the object
 *		MongoDB's canonical extended JSON gives them, e.g. {"$binary":
 *		{"base64": "...", "subType": "04"}} or {"$minKey": 1}; so do
 *		dates outside the years an ISO 8601 string can write, as
 *		{"$date": {"$numberLong": "<milliseconds>"}}.  The object is made
 *		as a BSON document (copied into palloc'd memory, so that no
 *		libbson allocation outlives an error) for encode_container.  Returns
 *		false for every other type.
 */
static bool
extended_json_object(const bson_iter_t *iter, uint8_t **data, uint32 *len)
{
	bson_t		object;
	bson_t		inner;

	/* most values are not among them: no document to start then */
	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_UTF8:
		case BSON_TYPE_INT32:
		case BSON_TYPE_INT64:
		case BSON_TYPE_DOUBLE:
		case BSON_TYPE_BOOL:
		case BSON_TYPE_NULL:
		case BSON_TYPE_OID:
		case BSON_TYPE_DOCUMENT:
		case BSON_TYPE_ARRAY:
			return false;
		default:
			break;
	}

	bson_init(&object);
	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_BINARY:
			{
				bson_subtype_t subtype;
				const uint8_t *bytes;
				uint32_t	nbytes;
				char	   *base64;
				int			base64_len;
				char		subtype_hex[3];

				bson_iter_binary(iter, &subtype, &nbytes, &bytes);
				base64 = palloc(pg_b64_enc_len(nbytes) + 1);
				base64_len = pg_b64_encode((const mongo_b64_byte *) bytes, nbytes,
										   base64, pg_b64_enc_len(nbytes));
				if (base64_len < 0)
					elog(ERROR, "could not encode binary data in base64");
				snprintf(subtype_hex, sizeof(subtype_hex), "%02x",
						 (unsigned) subtype & 0xff);
				BSON_APPEND_DOCUMENT_BEGIN(&object, "$binary", &inner);
				bson_append_utf8(&inner, "base64", -1, base64, base64_len);
				BSON_APPEND_UTF8(&inner, "subType", subtype_hex);
				bson_append_document_end(&object, &inner);
				break;
			}
		case BSON_TYPE_REGEX:
			{
				const char *options;
				const char *pattern = bson_iter_regex(iter, &options);

				BSON_APPEND_DOCUMENT_BEGIN(&object, "$regularExpression",
										   &inner);
				BSON_APPEND_UTF8(&inner, "pattern", pattern);
				BSON_APPEND_UTF8(&inner, "options", options);
				bson_append_document_end(&object, &inner);
				break;
			}
		case BSON_TYPE_TIMESTAMP:
			{
				uint32_t	seconds;
				uint32_t	increment;

				bson_iter_timestamp(iter, &seconds, &increment);
				BSON_APPEND_DOCUMENT_BEGIN(&object, "$timestamp", &inner);
				BSON_APPEND_INT64(&inner, "t", seconds);
				BSON_APPEND_INT64(&inner, "i", increment);
				bson_append_document_end(&object, &inner);
				break;
			}
		case BSON_TYPE_CODE:
			{
				uint32_t	code_len;
				const char *code = bson_iter_code(iter, &code_len);

				bson_append_utf8(&object, "$code", -1, code, code_len);
				break;
			}
		case BSON_TYPE_CODEWSCOPE:
			{
				uint32_t	code_len;
				const uint8_t *scope;
				uint32_t	scope_len;
				bson_t		scope_doc;
				const char *code = bson_iter_codewscope(iter, &code_len,
														&scope_len, &scope);

				bson_append_utf8(&object, "$code", -1, code, code_len);
				if (bson_init_static(&scope_doc, scope, scope_len))
					BSON_APPEND_DOCUMENT(&object, "$scope", &scope_doc);
				break;
			}
		case BSON_TYPE_SYMBOL:
			{
				uint32_t	symbol_len;
				const char *symbol = bson_iter_symbol(iter, &symbol_len);

				bson_append_utf8(&object, "$symbol", -1, symbol, symbol_len);
				break;
			}
		case BSON_TYPE_DATE_TIME:
			{
				int64		ms = bson_iter_date_time(iter);
				char		digits[MAXINT8LEN + 1];

				if (ms >= MONGO_ISO_DATE_MIN_MS && ms <= MONGO_ISO_DATE_MAX_MS)
				{
					bson_destroy(&object);
					return false;	/* an ISO 8601 string */
				}
				pg_lltoa(ms, digits);
				BSON_APPEND_DOCUMENT_BEGIN(&object, "$date", &inner);
				BSON_APPEND_UTF8(&inner, "$numberLong", digits);
				bson_append_document_end(&object, &inner);
				break;
			}
		case BSON_TYPE_MINKEY:
			BSON_APPEND_INT32(&object, "$minKey", 1);
			break;
		case BSON_TYPE_MAXKEY:
			BSON_APPEND_INT32(&object, "$maxKey", 1);
			break;
		case BSON_TYPE_DBPOINTER:
			{
				const char *collection;
				uint32_t	collection_len;
				const bson_oid_t *oid;
				bson_t		id;

				bson_iter_dbpointer(iter, &collection_len, &collection, &oid);
				BSON_APPEND_DOCUMENT_BEGIN(&object, "$dbPointer", &inner);
				bson_append_utf8(&inner, "$ref", -1, collection,
								 collection_len);
				BSON_APPEND_DOCUMENT_BEGIN(&inner, "$id", &id);
				{
					char		hex[25];

					bson_oid_to_string(oid, hex);
					BSON_APPEND_UTF8(&id, "$oid", hex);
				}
				bson_append_document_end(&inner, &id);
				bson_append_document_end(&object, &inner);
				break;
			}
		default:
			bson_destroy(&object);
			return false;
	}

	*len = object.len;
	*data = palloc(object.len);
	memcpy(*data, bson_get_data(&object), object.len);
	bson_destroy(&object);
	return true;
}

/*
 * encode_container_value
 *		encode_container for a document or array an iterator points at.
 */
static void
encode_container_value(MongoConverter *conv, StringInfo out,
					   const bson_iter_t *iter, const MongoColumn *col,
					   int depth)
{
	const uint8_t *data;
	uint32		data_len;

	if (BSON_ITER_HOLDS_ARRAY(iter))
		bson_iter_array(iter, &data_len, &data);
	else
		bson_iter_document(iter, &data_len, &data);
	encode_container(conv, out, data, data_len, BSON_ITER_HOLDS_ARRAY(iter),
					 col, depth);
}

/*
 * encode_value
 *		Append one value of a container to out, aligned as jsonb requires
 *		(the padding counts as part of the value); returns its JEntry type.
 */
static JEntry
encode_value(MongoConverter *conv, StringInfo out, const bson_iter_t *iter,
			 const MongoColumn *col, int depth)
{
	JsonbValue	value;
	uint8_t    *object;
	uint32		object_len;

	if (BSON_ITER_HOLDS_DOCUMENT(iter) || BSON_ITER_HOLDS_ARRAY(iter))
	{
		encode_container_value(conv, out, iter, col, depth + 1);
		return JENTRY_ISCONTAINER;
	}

	if (extended_json_object(iter, &object, &object_len))
	{
		encode_container(conv, out, object, object_len, false, col,
						 depth + 1);
		return JENTRY_ISCONTAINER;
	}

	bson_scalar_to_jsonb(conv, iter, col, &value);
	switch (value.type)
	{
		case jbvNull:
			return JENTRY_ISNULL;
		case jbvBool:
			return value.val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
		case jbvString:
			appendBinaryStringInfo(out, value.val.string.val,
								   value.val.string.len);
			return JENTRY_ISSTRING;
		case jbvNumeric:
			pad_to_int(out);
			appendBinaryStringInfo(out, (char *) value.val.numeric,
								   VARSIZE_ANY(value.val.numeric));
			return JENTRY_ISNUMERIC;
		default:
			elog(ERROR, "unexpected jsonb value type %d", value.type);
	}
	return 0;					/* keep compiler quiet */
}

/*
 * sort_members
 *		Put an object's members in jsonb's key order and drop repeated keys,
 *		keeping the last; returns how many remain.  Objects are mostly
 *		small, where an insertion sort beats qsort's overhead.
 */
static int
sort_members(JsonbMember *members, int n)
{
	int			unique = 1;
	int			i;

	if (n <= 1)
		return n;
	if (n <= 16)
	{
		for (i = 1; i < n; i++)
		{
			JsonbMember moving = members[i];
			int			j = i;

			while (j > 0 && compare_members(&members[j - 1], &moving) > 0)
			{
				members[j] = members[j - 1];
				j--;
			}
			members[j] = moving;
		}
	}
	else
		qsort(members, n, sizeof(JsonbMember), compare_members);

	for (i = 1; i < n; i++)
	{
		if (members[i].keylen != members[unique - 1].keylen ||
			memcmp(members[i].key, members[unique - 1].key,
				   members[i].keylen) != 0)
			members[unique++] = members[i];
	}
	return unique;
}

/*
 * set_jentry
 *		Store the JEntry of child index i: its length, or for every
 *		JB_OFFSET_STRIDE'th child the end offset of its data, as jsonb's
 *		format requires.
 */
static void
set_jentry(StringInfo out, int jentry_offset, int i, JEntry type, int len,
		   uint32 end_offset)
{
	JEntry		entry;

	if (end_offset > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("BSON value too large for jsonb")));
	if (i % JB_OFFSET_STRIDE == 0)
		entry = type | end_offset | JENTRY_HAS_OFF;
	else
		entry = type | len;
	memcpy(out->data + jentry_offset + i * sizeof(JEntry), &entry,
		   sizeof(JEntry));
}

/*
 * pad_to_int
 *		Zero bytes up to the next 4-byte boundary; returns how many.
 */
static int
pad_to_int(StringInfo buf)
{
	int			padding = INTALIGN(buf->len) - buf->len;

	if (padding > 0)
	{
		enlargeStringInfo(buf, padding);
		memset(buf->data + buf->len, 0, padding);
		buf->len += padding;
		buf->data[buf->len] = '\0';
	}
	return padding;
}

/*
 * compare_members
 *		Comparator for sort_members: jsonb's key order (shorter keys first,
 *		then by bytes), and among equal keys the later one first, so that
 *		removing repeats keeps the last.
 */
static int
compare_members(const void *a, const void *b)
{
	const JsonbMember *ma = (const JsonbMember *) a;
	const JsonbMember *mb = (const JsonbMember *) b;
	int			cmp;

	if (ma->keylen != mb->keylen)
		return ma->keylen < mb->keylen ? -1 : 1;
	cmp = memcmp(ma->key, mb->key, ma->keylen);
	if (cmp != 0)
		return cmp;
	return ma->order > mb->order ? -1 : 1;
}

/*
 * bson_scalar_to_jsonb
 *		A BSON scalar as a jsonb scalar.  Numbers are jsonb numbers, exact
 *		for int64.  JSON has no NaN or infinity, so those doubles become
 *		the strings "NaN", "Infinity" and "-Infinity".  ObjectIds are their
 *		24 hex digits; dates are ISO 8601 strings in UTC with milliseconds,
 *		as 2024-05-01T12:00:00.000Z.
 */
static void
bson_scalar_to_jsonb(MongoConverter *conv, const bson_iter_t *iter,
					 const MongoColumn *col, JsonbValue *result)
{
	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_NULL:
		case BSON_TYPE_UNDEFINED:
			result->type = jbvNull;
			break;
		case BSON_TYPE_BOOL:
			result->type = jbvBool;
			result->val.boolean = bson_iter_bool(iter);
			break;
		case BSON_TYPE_UTF8:
			{
				uint32		len;
				const char *utf8 = bson_iter_utf8(iter, &len);

				result->type = jbvString;
				result->val.string.val = server_string(utf8, len,
													   &result->val.string.len);
				break;
			}
		case BSON_TYPE_INT32:
			result->type = jbvNumeric;
			result->val.numeric = small_int_numeric(bson_iter_int32(iter));
			break;
		case BSON_TYPE_INT64:
			result->type = jbvNumeric;
			result->val.numeric = small_int_numeric(bson_iter_int64(iter));
			break;
		case BSON_TYPE_DOUBLE:
			{
				double		d = bson_iter_double(iter);

				if (isnan(d) || isinf(d))
				{
					result->type = jbvString;
					result->val.string.val =
						isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity");
					result->val.string.len = strlen(result->val.string.val);
				}
				else
				{
					result->type = jbvNumeric;
					result->val.numeric = double_numeric(d);
				}
				break;
			}
		case BSON_TYPE_DECIMAL128:
			{
				Numeric		num = decimal128_numeric(iter);

				if (numeric_is_nan(num) || numeric_is_inf(num))
				{
					result->type = jbvString;
					result->val.string.val = numeric_out_sci(num, 0);
					result->val.string.len = strlen(result->val.string.val);
				}
				else
				{
					result->type = jbvNumeric;
					result->val.numeric = num;
				}
				break;
			}
		case BSON_TYPE_OID:
			result->type = jbvString;
			result->val.string.val = palloc(25);
			bson_oid_to_string(bson_iter_oid(iter), result->val.string.val);
			result->val.string.len = 24;
			break;
		case BSON_TYPE_DATE_TIME:
			{
				/* years 1 to 9999 only: extended_json_object takes others */
				Timestamp	ts = timestamp_value(conv, iter, col);
				struct pg_tm tm;
				fsec_t		fsec;

				if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
					elog(ERROR, "could not split BSON date into fields");
				result->type = jbvString;
				result->val.string.val =
					psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
							 tm.tm_year, tm.tm_mon, tm.tm_mday,
							 tm.tm_hour, tm.tm_min, tm.tm_sec,
							 (int) (fsec / 1000));
				result->val.string.len = strlen(result->val.string.val);
				break;
			}
		default:
			report_mismatch(iter, col);
	}
}

/*
 * server_string
 *		A BSON UTF-8 string in the database encoding, verified: invalid
 *		UTF-8 and NUL bytes, which text cannot hold, are errors.
 */
static char *
server_string(const char *utf8, uint32 len, int *result_len)
{
	char	   *str;
	uint32		i;

	/*
	 * Plain ASCII without NUL is the same in every server encoding: no need
	 * to verify or convert it.
	 */
	for (i = 0; i + sizeof(uint64) <= len; i += sizeof(uint64))
	{
		uint64		word;

		/* a byte of 0, or of 0x80 and above, sets its top bit here */
		memcpy(&word, utf8 + i, sizeof(uint64));
		if (((word - UINT64CONST(0x0101010101010101)) | word) &
			UINT64CONST(0x8080808080808080))
			break;
	}
	for (; i < len; i++)
	{
		if ((unsigned char) (utf8[i] - 1) >= 0x7F)
			break;
	}
	if (i == len)
	{
		*result_len = (int) len;
		return (char *) utf8;
	}

	if (memchr(utf8, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("BSON string contains a zero byte"),
				 errdetail("PostgreSQL strings cannot hold zero bytes; a json column writes them as \\u0000."),
				 errhint("Read the value into a json column, or set the option on_type_mismatch of the column or table to \"null\" or \"skip\".")));

	str = pg_any_to_server(utf8, (int) len, PG_UTF8);

	*result_len = str == utf8 ? (int) len : (int) strlen(str);
	return str;
}

/*
 * small_int_numeric
 *		An integer as numeric, for jsonb, which copies it: small integers
 *		(counts, quantities, flags) are common in documents, so they are
 *		built once per backend and kept.
 */
static Numeric
small_int_numeric(int64 value)
{
	static Numeric cache[SMALL_INT_NUMERICS];

	if (value < 0 || value >= SMALL_INT_NUMERICS)
		return int64_to_numeric(value);
	if (cache[value] == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		cache[value] = int64_to_numeric(value);
		MemoryContextSwitchTo(oldcxt);
	}
	return cache[value];
}

/*
 * double_numeric
 *		A double as the numeric of its shortest exact decimal form, the one
 *		that reads back as the same double.  PostgreSQL's float8-to-numeric
 *		cast keeps only 15 significant digits, which loses information
 *		(0.1 + 0.2 would become 0.3).
 */
static Numeric
double_numeric(double value)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];
	int64		mantissa = 0;
	int			scale = 0;
	int			exponent = 0;
	bool		negative = false;
	bool		fraction = false;
	char	   *p = buf;
	Numeric		result;

	/*
	 * Most doubles in data are short decimals such as prices.  If m / 10^k
	 * gives the double back for the smallest such k (IEEE division rounds
	 * correctly, so this is exactly the round-trip test), that is its
	 * shortest form, found without formatting digits.  Below 2^50 only one
	 * m can do so for a given k.
	 */
	for (scale = 0; scale <= 4; scale++)
	{
		double		scaled = value * pow10_table[scale];

		if (!(fabs(scaled) < (double) (INT64CONST(1) << 50)))
			break;
		if (rint(scaled) / pow10_table[scale] == value)
		{
			result = scaled_int64_numeric((int64) rint(scaled), scale);
			if (result != NULL)
				return result;
			break;
		}
	}
	scale = 0;

	double_to_shortest_decimal_buf(value, buf);

	/* the shortest form is [-]digits[.digits][e(+|-)digits], NaN or Inf */
	if (*p == '-')
	{
		negative = true;
		p++;
	}
	if (!isdigit((unsigned char) *p))
		return decimal_string_numeric(buf);
	for (; *p != '\0' && *p != 'e'; p++)
	{
		if (*p == '.')
			fraction = true;
		else
		{
			/* at most 17 significant digits: no overflow */
			mantissa = mantissa * 10 + (*p - '0');
			scale += fraction;
		}
	}
	if (*p == 'e')
		exponent = atoi(p + 1);

	result = scaled_int64_numeric(negative ? -mantissa : mantissa,
								  scale - exponent);
	return result != NULL ? result : decimal_string_numeric(buf);
}

/*
 * decimal128_numeric
 *		A Decimal128 as numeric, exactly: numeric holds every Decimal128
 *		value, including its largest and smallest exponents, NaN and the
 *		infinities.  A coefficient that fits in 64 bits, as money and most
 *		other values do, is scaled directly; any other value goes through
 *		libbson's decimal string and numeric's input function.
 */
static Numeric
decimal128_numeric(const bson_iter_t *iter)
{
	bson_decimal128_t dec;
	char		buf[BSON_DECIMAL128_STRING];

	bson_iter_decimal128(iter, &dec);

	/*
	 * The IEEE 754 BID layout: sign, then (when the two bits after it are
	 * not both set) a 14-bit exponent biased by 6176 and the top 49 bits
	 * of the coefficient, whose other 64 bits are the low word.
	 */
	if (((dec.high >> 61) & 3) != 3 &&
		(dec.high & UINT64CONST(0x1ffffffffffff)) == 0 &&
		dec.low <= (uint64) PG_INT64_MAX)
	{
		int			exponent = (int) ((dec.high >> 49) & 0x3fff) - 6176;
		int64		coefficient = (int64) dec.low;
		Numeric		result;

		if (dec.high >> 63)
			coefficient = -coefficient;
		result = scaled_int64_numeric(coefficient, -exponent);
		if (result != NULL)
			return result;
	}

	bson_decimal128_to_string(&dec, buf);
	return decimal_string_numeric(buf);
}

/*
 * scaled_int64_numeric
 *		The numeric mantissa / 10^scale, with scale as its display scale,
 *		built without parsing text; NULL when the numbers are too large for
 *		that, and the caller must parse the decimal string instead.
 */
static Numeric
scaled_int64_numeric(int64 mantissa, int scale)
{
	int64		result = mantissa;
	int			i;

	/*
	 * int64_div_fast_to_numeric may multiply the mantissa by up to 1000,
	 * and has no exact fallback for large scales before PostgreSQL 16.
	 */
	if (scale >= 0 && scale <= NUMERIC_MAX_DISPLAY_SCALE &&
		mantissa > -INT64CONST(1000000000000000) &&
		mantissa < INT64CONST(1000000000000000))
		return int64_div_fast_to_numeric(mantissa, scale);
	if (scale > 0 || scale < -18)
		return NULL;
	for (i = 0; i < -scale; i++)
	{
		if (pg_mul_s64_overflow(result, 10, &result))
			return NULL;
	}
	return int64_to_numeric(result);
}

/*
 * decimal_string_numeric
 *		A decimal string as numeric, by numeric's input function: the only
 *		constructor numeric has for arbitrary digits.
 */
static Numeric
decimal_string_numeric(const char *decimal)
{
	return DatumGetNumeric(DirectFunctionCall3(numeric_in,
											   CStringGetDatum(decimal),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

/*
 * bson_type_name
 *		A BSON type's name as MongoDB's $type operator spells it.
 */
static const char *
bson_type_name(bson_type_t type)
{
	switch (type)
	{
		case BSON_TYPE_DOUBLE:
			return "double";
		case BSON_TYPE_UTF8:
			return "string";
		case BSON_TYPE_DOCUMENT:
			return "object";
		case BSON_TYPE_ARRAY:
			return "array";
		case BSON_TYPE_BINARY:
			return "binData";
		case BSON_TYPE_UNDEFINED:
			return "undefined";
		case BSON_TYPE_OID:
			return "objectId";
		case BSON_TYPE_BOOL:
			return "bool";
		case BSON_TYPE_DATE_TIME:
			return "date";
		case BSON_TYPE_NULL:
			return "null";
		case BSON_TYPE_REGEX:
			return "regex";
		case BSON_TYPE_DBPOINTER:
			return "dbPointer";
		case BSON_TYPE_CODE:
			return "javascript";
		case BSON_TYPE_SYMBOL:
			return "symbol";
		case BSON_TYPE_CODEWSCOPE:
			return "javascriptWithScope";
		case BSON_TYPE_INT32:
			return "int";
		case BSON_TYPE_TIMESTAMP:
			return "timestamp";
		case BSON_TYPE_INT64:
			return "long";
		case BSON_TYPE_DECIMAL128:
			return "decimal";
		case BSON_TYPE_MINKEY:
			return "minKey";
		case BSON_TYPE_MAXKEY:
			return "maxKey";
		default:
			return "unknown";
	}
}

/*
 * errhint_on_type_mismatch
 *		The hint of an error about a value that does not fit its column: the
 *		option that reads such values as NULL or leaves their rows out,
 *		unless the column already has it (its errors are then caught, but
 *		an array's elements report through their array's column).
 */
static int
errhint_on_type_mismatch(const MongoColumn *col)
{
	if (col->on_mismatch != MONGO_MISMATCH_ERROR)
		return 0;
	return errhint("Set the option on_type_mismatch of the column or table to \"null\" or \"skip\" to read such values as NULL or leave their rows out.");
}

/*
 * report_mismatch
 *		A value whose BSON type cannot go into the column's type.  The
 *		column, table and _id come from conversion_error_callback.
 */
static void
report_mismatch(const bson_iter_t *iter, const MongoColumn *col)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot convert BSON %s to type %s",
					bson_type_name(bson_iter_type(iter)),
					format_type_with_typemod(col->typid, col->typmod)),
			 errhint_on_type_mismatch(col)));
}

/*
 * report_undeclared_type
 *		A value of a BSON type the column's option bson_type leaves out.
 */
static void
report_undeclared_type(const bson_iter_t *iter, const MongoColumn *col)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot convert BSON %s to type %s",
					bson_type_name(bson_iter_type(iter)),
					format_type_with_typemod(col->typid, col->typmod)),
			 errdetail("The column's option bson_type does not name BSON type %s.",
					   bson_type_name(bson_iter_type(iter))),
			 col->on_mismatch == MONGO_MISMATCH_ERROR ?
			 errhint("Add the type to the option bson_type, or set the option on_type_mismatch of the column or table to \"null\" or \"skip\".") :
			 errhint("Add the type to the option bson_type.")));
}

/*
 * mongo_bson_type_name
 *		The name MongoDB's $type gives a BSON type.
 */
const char *
mongo_bson_type_name(bson_type_t type)
{
	return bson_type_name(type);
}

/*
 * mongo_bson_type_from_name
 *		The BSON type MongoDB's $type calls name, or -1.
 */
int
mongo_bson_type_from_name(const char *name)
{
	static const bson_type_t types[] = {
		BSON_TYPE_DOUBLE, BSON_TYPE_UTF8, BSON_TYPE_DOCUMENT,
		BSON_TYPE_ARRAY, BSON_TYPE_BINARY, BSON_TYPE_UNDEFINED,
		BSON_TYPE_OID, BSON_TYPE_BOOL, BSON_TYPE_DATE_TIME, BSON_TYPE_NULL,
		BSON_TYPE_REGEX, BSON_TYPE_DBPOINTER, BSON_TYPE_CODE,
		BSON_TYPE_SYMBOL, BSON_TYPE_CODEWSCOPE, BSON_TYPE_INT32,
		BSON_TYPE_TIMESTAMP, BSON_TYPE_INT64, BSON_TYPE_DECIMAL128,
		BSON_TYPE_MINKEY, BSON_TYPE_MAXKEY
	};
	size_t		i;

	for (i = 0; i < lengthof(types); i++)
	{
		if (strcmp(bson_type_name(types[i]), name) == 0)
			return (int) types[i];
	}
	return -1;
}

/*
 * report_not_integer
 *		A number with a fractional part (or NaN) for an integer column: an
 *		error, never a truncation.
 */
static void
report_not_integer(const bson_iter_t *iter, const MongoColumn *col,
				   const char *value)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot convert BSON %s to type %s",
					bson_type_name(bson_iter_type(iter)),
					format_type_with_typemod(col->typid, col->typmod)),
			 errdetail("The value %s is not an integer.", value),
			 errhint_on_type_mismatch(col)));
}

/*
 * check_nesting
 *		Documents and arrays nested deeper than MongoDB itself allows can
 *		only come from a damaged or hostile file: refuse them before they
 *		exhaust the stack.
 */
static void
check_nesting(int depth)
{
	check_stack_depth();
	if (depth > MONGO_MAX_NESTING_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BSON value nested deeper than %d levels",
						MONGO_MAX_NESTING_DEPTH)));
}

/*
 * report_out_of_range
 *		A value of a convertible BSON type that the column's type cannot
 *		hold.
 */
static void
report_out_of_range(const bson_iter_t *iter, const MongoColumn *col,
					const char *value)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("BSON %s value %s is out of range for type %s",
					bson_type_name(bson_iter_type(iter)), value,
					format_type_with_typemod(col->typid, col->typmod)),
			 errhint_on_type_mismatch(col)));
}

/*
 * report_corrupt_document
 *		The document's structure is invalid: an element's length or type
 *		does not fit inside it.  Only files can hold such documents; the
 *		error context names the file and offset.
 */
static void
report_corrupt_document(const bson_iter_t *iter)
{
	if (iter != NULL && iter->err_off != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("invalid BSON document"),
				 errdetail("The element at byte %u of the document is malformed.",
						   iter->err_off)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("invalid BSON document")));
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
