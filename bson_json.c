/*-------------------------------------------------------------------------
 *
 * bson_json.c
 *		  BSON documents and values as JSON text (json columns) and as jsonb
 *		  (jsonb columns), written straight from the BSON.
 *
 * jsonb is encoded directly into its binary form, a container at a time,
 * members sorted and deduplicated as jsonb's input function would, with no
 * JsonbValue tree and no JSON text in between.  JSON text follows
 * MongoDB's relaxed extended JSON for values JSON has no type for (dates
 * outside years 1 to 9999, binary data, Decimal128 NaN, ...).  The
 * conversion of scalars and the errors of values that do not fit are
 * bson_value.c's.
 *
 * IDENTIFICATION
 *		  bson_json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

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
 * BSON dates that JSON gets as ISO 8601 strings: years 1 to 9999, the
 * years of the format's four digits, from 0001-01-01T00:00:00.000Z to
 * 9999-12-31T23:59:59.999Z in milliseconds since 1970.  Dates outside
 * become {"$date": {"$numberLong": "..."}}, as MongoDB's relaxed extended
 * JSON writes them.
 */
#define MONGO_ISO_DATE_MIN_MS INT64CONST(-62135596800000)
#define MONGO_ISO_DATE_MAX_MS INT64CONST(253402300799999)

/*
 * Deepest nesting of documents and arrays converted to jsonb.  MongoDB
 * refuses to store documents nested deeper than 100 levels.
 */
#define MONGO_MAX_NESTING_DEPTH 100

/*
 * Arrays of at most this many elements that are all strings (tags, labels,
 * roles: the most common arrays in documents) are encoded from one walk,
 * their strings kept from it, into memory allocated once at their size.
 */
#define MONGO_STRING_ARRAY_FAST 16

/* One member of an object being encoded by encode_container */
typedef struct JsonbMember
{
	const char *key;			/* in the database encoding */
	int			keylen;
	int			order;			/* position in the BSON document */
	uint32		offset;			/* the element's offset in the document */
	uint32		bson_keylen;	/* its key's length in the BSON */
} JsonbMember;

/* The strings of an array, kept by walk_string_array */
typedef struct StringArray
{
	int			n;
	uint64		total;			/* the strings' bytes */
	const char *strings[MONGO_STRING_ARRAY_FAST];	/* in the database
													 * encoding */
	int			lens[MONGO_STRING_ARRAY_FAST];
} StringArray;

static void check_nesting(int depth);
static void append_json_string(StringInfo out, const char *utf8,
							   uint32 len);
static bool extended_json_object(const bson_iter_t *iter, uint8_t **data,
								 uint32 *len);
static void encode_container_value(MongoConverter *conv, StringInfo out,
								   const bson_iter_t *iter,
								   const MongoColumn *col, int depth);
static JEntry encode_value(MongoConverter *conv, StringInfo out,
						   const bson_iter_t *iter, const MongoColumn *col,
						   int depth);
static bool walk_string_array(const uint8_t *data, uint32 data_len,
							  StringArray *array);
static uint32 string_array_size(const StringArray *array);
static void write_string_array(char *dest, const StringArray *array);
static int	sort_members(JsonbMember *members, int n);
static void set_jentry(StringInfo out, int jentry_offset, int i, JEntry type,
					   int len, uint32 end_offset);
static int	pad_to_int(StringInfo buf);
static int	compare_members(const void *a, const void *b);
static void bson_scalar_to_jsonb(MongoConverter *conv,
								 const bson_iter_t *iter,
								 const MongoColumn *col, JsonbValue *result);

/*
 * mongo_jsonb_value
 *		Any supported BSON value as jsonb.  Documents and arrays are encoded
 *		straight into jsonb's binary form (encode_container); a scalar goes
 *		through a JsonbValue, as jsonb stores it as a one-element array.
 */
Jsonb *
mongo_jsonb_value(MongoConverter *conv, const bson_iter_t *iter,
				  const MongoColumn *col)
{
	uint8_t    *object;
	uint32		object_len;

	if (BSON_ITER_HOLDS_ARRAY(iter))
	{
		const uint8_t *data;
		uint32		data_len;
		StringArray array;

		bson_iter_array(iter, &data_len, &data);
		if (walk_string_array(data, data_len, &array))
		{
			uint32		size = VARHDRSZ + string_array_size(&array);
			Jsonb	   *result = palloc(size);

			SET_VARSIZE(result, size);
			write_string_array(VARDATA(result), &array);
			return result;
		}
	}
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
			mongo_encode_container(conv, &out, object, object_len, false, col, 1);
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

/*
 * mongo_encode_container
 *		Append a BSON document or array to out as a jsonb container, at a
 *		4-byte boundary, exactly as PostgreSQL's own conversion from a
 *		JsonbValue tree would lay it out, but without building that tree:
 *		header, JEntry array, then the data, values written in place.  The
 *		members of an object are sorted as jsonb requires (by key length,
 *		then bytes; of repeated keys the last wins, as in jsonb's input), so
 *		their values are written in that order, each reached again by its
 *		offset in the document.
 */
void
mongo_encode_container(MongoConverter *conv, StringInfo out, const uint8_t *data,
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
	StringArray array;

	check_nesting(depth);
	/* (mongo_jsonb_value tried a top-level array already) */
	if (is_array && depth > 1 && walk_string_array(data, data_len, &array))
	{
		uint32		size = string_array_size(&array);

		pad_to_int(out);
		enlargeStringInfo(out, size);
		write_string_array(out->data + out->len, &array);
		out->len += size;
		out->data[out->len] = '\0';
		return;
	}
	if (!bson_iter_init_from_data(&child, data, data_len))
		mongo_report_corrupt_document(NULL);

	/* count the elements; an object's members are collected and sorted */
	if (is_array)
	{
		while (mongo_walk_next(&child))
			n++;
	}
	else
	{
		int			capacity = 8;

		members = palloc(sizeof(JsonbMember) * capacity);
		while (mongo_walk_next(&child))
		{
			JsonbMember *m;

			if (n == capacity)
			{
				capacity *= 2;
				members = repalloc(members, sizeof(JsonbMember) * capacity);
			}
			m = &members[n];
			m->order = n++;
			m->bson_keylen = mongo_walk_key_len(&child);
			m->key = mongo_server_string(bson_iter_key_unsafe(&child),
										 m->bson_keylen,
										 &m->keylen);
			m->offset = bson_iter_offset(&child);
		}
		n = sort_members(members, n);
	}
	if (child.err_off != 0)
		mongo_report_corrupt_document(&child);
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
		mongo_report_corrupt_document(NULL);
	for (i = 0; i < n; i++)
	{
		int			value_offset = out->len;
		JEntry		type;

		if (is_array)
		{
			if (!mongo_walk_next(&child))
				mongo_report_corrupt_document(&child);
		}
		else if (!bson_iter_init_from_data_at_offset(&child, data, data_len,
													 members[i].offset,
													 members[i].bson_keylen))
			mongo_report_corrupt_document(NULL);

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
 * mongo_append_json
 *		Any supported BSON value as JSON text, for json columns: the same
 *		values as in jsonb, but written in the document's own key order,
 *		repeated keys kept, as json keeps its input.
 */
void
mongo_append_json(MongoConverter *conv, StringInfo out, const bson_iter_t *iter,
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
		mongo_append_json_container(conv, out, data, data_len,
									BSON_ITER_HOLDS_ARRAY(iter), col, depth);
		return;
	}
	if (extended_json_object(iter, &object, &object_len))
	{
		mongo_append_json_container(conv, out, object, object_len, false, col,
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
		char	   *server = mongo_server_string(utf8, piece_len, &server_len);

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
 * mongo_append_json_container
 *		A BSON document or array, from its bytes, as a JSON object or array.
 */
void
mongo_append_json_container(MongoConverter *conv, StringInfo out,
							const uint8_t *data, uint32 data_len, bool is_array,
							const MongoColumn *col, int depth)
{
	bson_iter_t child;
	bool		first = true;

	check_nesting(depth);
	if (!bson_iter_init_from_data(&child, data, data_len))
		mongo_report_corrupt_document(NULL);

	appendStringInfoChar(out, is_array ? '[' : '{');
	while (bson_iter_next(&child))
	{
		if (!first)
			appendStringInfoString(out, ", ");
		first = false;
		if (!is_array)
		{
			int			keylen;
			char	   *key = mongo_server_string(bson_iter_key(&child),
												  bson_iter_key_len(&child),
												  &keylen);

			escape_json(out, key);
			appendStringInfoString(out, ": ");
		}
		mongo_append_json(conv, out, &child, col, depth + 1);
	}
	if (child.err_off != 0)
		mongo_report_corrupt_document(&child);
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
static pg_noinline bool
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
	mongo_encode_container(conv, out, data, data_len, BSON_ITER_HOLDS_ARRAY(iter),
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

	/* strings, the most common scalar in arrays, appended directly */
	if (bson_iter_type(iter) == BSON_TYPE_UTF8)
	{
		size_t		len;
		const char *utf8 = bson_iter_utf8_unsafe(iter, &len);
		int			server_len;
		char	   *str = mongo_server_string(utf8, (uint32) len, &server_len);

		appendBinaryStringInfo(out, str, server_len);
		return JENTRY_ISSTRING;
	}

	if (extended_json_object(iter, &object, &object_len))
	{
		mongo_encode_container(conv, out, object, object_len, false, col,
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
 * walk_string_array
 *		Walk a BSON array once, keeping its elements in the database encoding,
 *		if they are all strings and at most MONGO_STRING_ARRAY_FAST.  False
 *		as soon as one is not, if the array is malformed, or if it would be
 *		too large for jsonb, leaves the array to mongo_encode_container's
 *		general path, which reports what is wrong.  The strings are verified
 *		only once the walk has found the array sound, as the general path
 *		does: a damaged document is an error even where a bad string would be
 *		read as NULL (on_type_mismatch).  Not inlined into mongo_jsonb_value,
 *		and so into every conversion: its bson_iter_t, which libbson aligns
 *		to 128 bytes, would realign the stack frame of each.
 */
static pg_noinline bool
walk_string_array(const uint8_t *data, uint32 data_len, StringArray *array)
{
	bson_iter_t child;
	uint32		bson_lens[MONGO_STRING_ARRAY_FAST];
	int			i;

	array->n = 0;
	array->total = 0;
	if (!bson_iter_init_from_data(&child, data, data_len))
		return false;
	while (mongo_walk_next(&child))
	{
		size_t		len;

		if (array->n == MONGO_STRING_ARRAY_FAST ||
			bson_iter_type(&child) != BSON_TYPE_UTF8)
			return false;
		array->strings[array->n] = bson_iter_utf8_unsafe(&child, &len);
		bson_lens[array->n++] = (uint32) len;
	}
	if (child.err_off != 0)
		return false;

	for (i = 0; i < array->n; i++)
	{
		array->strings[i] = mongo_server_string(array->strings[i],
												bson_lens[i],
												&array->lens[i]);
		array->total += array->lens[i];
	}
	return sizeof(uint32) + array->n * sizeof(JEntry) + array->total <=
		JENTRY_OFFLENMASK;
}

/*
 * string_array_size
 *		The bytes of a walked array of strings as a jsonb container.
 */
static uint32
string_array_size(const StringArray *array)
{
	return sizeof(uint32) + array->n * sizeof(JEntry) + array->total;
}

/*
 * write_string_array
 *		Write a walked array of strings at dest (4-byte aligned) as a jsonb
 *		array container, laid out as mongo_encode_container's general path
 *		lays it out: header, JEntries, the strings.
 */
static void
write_string_array(char *dest, const StringArray *array)
{
	uint32		header = array->n | JB_FARRAY;
	char	   *jentries = dest + sizeof(uint32);
	char	   *value = jentries + array->n * sizeof(JEntry);
	uint32		end_offset = 0;
	int			i;

	memcpy(dest, &header, sizeof(uint32));
	for (i = 0; i < array->n; i++)
	{
		JEntry		entry;

		memcpy(value, array->strings[i], array->lens[i]);
		value += array->lens[i];
		end_offset += array->lens[i];
		if (i % JB_OFFSET_STRIDE == 0)
			entry = JENTRY_ISSTRING | end_offset | JENTRY_HAS_OFF;
		else
			entry = JENTRY_ISSTRING | array->lens[i];
		memcpy(jentries + i * sizeof(JEntry), &entry, sizeof(JEntry));
	}
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
			result->val.boolean = bson_iter_bool_unsafe(iter);
			break;
		case BSON_TYPE_UTF8:
			{
				size_t		len;
				const char *utf8 = bson_iter_utf8_unsafe(iter, &len);

				result->type = jbvString;
				result->val.string.val = mongo_server_string(utf8, (uint32) len,
															 &result->val.string.len);
				break;
			}
		case BSON_TYPE_INT32:
			result->type = jbvNumeric;
			result->val.numeric =
				mongo_small_int_numeric(bson_iter_int32_unsafe(iter));
			break;
		case BSON_TYPE_INT64:
			result->type = jbvNumeric;
			result->val.numeric =
				mongo_small_int_numeric(bson_iter_int64_unsafe(iter));
			break;
		case BSON_TYPE_DOUBLE:
			{
				double		d = bson_iter_double_unsafe(iter);

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
					result->val.numeric = mongo_double_numeric(d);
				}
				break;
			}
		case BSON_TYPE_DECIMAL128:
			{
				Numeric		num = mongo_decimal128_numeric(iter);

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
			bson_oid_to_string(bson_iter_oid_unsafe(iter),
							   result->val.string.val);
			result->val.string.len = 24;
			break;
		case BSON_TYPE_DATE_TIME:
			{
				/* years 1 to 9999 only: extended_json_object takes others */
				Timestamp	ts = mongo_timestamp_value(conv, iter, col);
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
			mongo_report_mismatch(iter, col);
	}
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
