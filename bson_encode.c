/*-------------------------------------------------------------------------
 *
 * bson_encode.c
 *		  PostgreSQL values into BSON, the inverse of bson_convert.c: the
 *		  documents INSERT and UPDATE write, the _id of a row-by-row UPDATE
 *		  or DELETE, and the text forms, dates and times that filters send.
 *		  Text leaves the database encoding for UTF-8 here, once.
 *
 * IDENTIFICATION
 *		  bson_encode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "mongo_etl.h"

/* Deepest jsonb value written straight from its tree, not from its text */
#define MONGO_MAX_JSONB_DEPTH 64

static void append_json(bson_t *doc, const char *key, const char *json,
						MongoWriteColumn *col);
static bool append_jsonb(bson_t *doc, const char *key, Jsonb *jsonb);
static const char *utf8_or_null(const char *bytes, int *length);
static bool decimal128_holds(const bson_decimal128_t *dec, Datum value);
static void append_jsonb_scalar(bson_t *doc, const char *name, int namelen,
								JsonbValue *v);

/*
 * utf8_or_null
 *		Text of the database encoding as UTF-8, which BSON holds; *length is
 *		the byte length, in and out.  A SQL_ASCII database says nothing of
 *		what its bytes mean: they are written as they are, and must be UTF-8
 *		already; NULL when they are not.
 */
static const char *
utf8_or_null(const char *bytes, int *length)
{
	const char *utf8;

	switch (GetDatabaseEncoding())
	{
		case PG_UTF8:
			return bytes;
		case PG_SQL_ASCII:
			return bson_utf8_validate(bytes, *length, false) ? bytes : NULL;
		default:
			utf8 = pg_server_to_any(bytes, *length, PG_UTF8);
			if (utf8 != bytes)
				*length = strlen(utf8);
			return utf8;
	}
}

/*
 * mongo_utf8_text
 *		A value's text as UTF-8 (utf8_or_null); *length is the byte length,
 *		in and out, and column names the value in an error.
 */
const char *
mongo_utf8_text(const char *bytes, int *length, const char *column)
{
	const char *utf8 = utf8_or_null(bytes, length);

	if (utf8 == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("column \"%s\" holds bytes that are not UTF-8",
						column),
				 errdetail("MongoDB strings are UTF-8, and a SQL_ASCII database does not say which encoding its bytes are in."),
				 errhint("Write the value as UTF-8, or from a database whose encoding is not SQL_ASCII.")));
	return utf8;
}

/*
 * mongo_utf8_name
 *		A name MongoDB knows (of a database, a collection, a field), or an
 *		option's JSON, given in the database encoding, as UTF-8: a scan
 *		matches the keys of documents with it, and a write sends it.  An
 *		error says what it is of which object ("the field name of column",
 *		"nom").
 */
char *
mongo_utf8_name(const char *name, const char *what, const char *owner)
{
	int			length = strlen(name);
	const char *utf8 = utf8_or_null(name, &length);

	if (utf8 == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("%s \"%s\" is not UTF-8", what, owner),
				 errdetail("MongoDB names are UTF-8, and a SQL_ASCII database does not say which encoding its bytes are in."),
				 errhint("Give it in UTF-8, or from a database whose encoding is not SQL_ASCII.")));
	return utf8 == name ? pstrdup(name) : (char *) utf8;
}

/*
 * mongo_append_text_forms
 *		Append to an array the BSON values of the types in forms that convert
 *		to the text str, in UTF-8 (mongo_utf8_text): the string, and the
 *		ObjectId when str is the 24 lowercase hex digits an ObjectId converts
 *		to.  (Text filters are sent from UTF8 databases only, whose text is
 *		UTF-8 already.)
 */
void
mongo_append_text_forms(bson_t *array, int *n, const char *str, uint32 forms)
{
	char		key[16];

	if (forms & MONGO_BSON_TYPE_BIT(BSON_TYPE_UTF8))
	{
		snprintf(key, sizeof(key), "%d", (*n)++);
		BSON_APPEND_UTF8(array, key, str);
	}
	if ((forms & MONGO_BSON_TYPE_BIT(BSON_TYPE_OID)) &&
		strlen(str) == 24 && strspn(str, "0123456789abcdef") == 24)
	{
		bson_oid_t	oid;

		bson_oid_init_from_string(&oid, str);
		snprintf(key, sizeof(key), "%d", (*n)++);
		BSON_APPEND_OID(array, key, &oid);
	}
}

/*
 * mongo_timestamp_ms
 *		A timestamp as milliseconds since 1970, rounded down or up; the
 *		infinities as the smallest and largest BSON dates.
 */
int64
mongo_timestamp_ms(Timestamp ts, bool round_up)
{
	int64		ms;

	if (TIMESTAMP_IS_NOBEGIN(ts))
		return PG_INT64_MIN;
	if (TIMESTAMP_IS_NOEND(ts))
		return PG_INT64_MAX;
	ms = ts / 1000;
	if (ts % 1000 < 0)
		ms--;
	if (round_up && ts % 1000 != 0)
		ms++;
	return ms + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) *
		SECS_PER_DAY * 1000;
}

/*
 * mongo_date_ms
 *		The start of a day (or of the next), UTC, in milliseconds since 1970.
 */
int64
mongo_date_ms(DateADT date, bool next_day)
{
	if (DATE_IS_NOBEGIN(date))
		return PG_INT64_MIN;
	if (DATE_IS_NOEND(date))
		return PG_INT64_MAX;
	return ((int64) date + (next_day ? 1 : 0) +
			(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)) *
		SECS_PER_DAY * 1000;
}

/*
 * mongo_append_column_value
 *		Append a column's value (not NULL) to a document, as
 *		mongo_append_datum writes it.
 */
void
mongo_append_column_value(bson_t *doc, const char *key, Datum value,
						  MongoWriteColumn *col)
{
	mongo_append_datum(doc, key, value, col->typid, col->objectid, col);
}

/*
 * mongo_append_datum
 *		A value as the BSON value that reads back as it: integers as int32
 *		or int64, floats as doubles, timestamps and dates as BSON dates (in
 *		milliseconds: microseconds are cut toward the past), bytea as
 *		binary, uuid as binary subtype 4, json and jsonb as the documents,
 *		arrays and values their extended JSON describes, arrays element by
 *		element, text as a string (or an ObjectId for a column declared
 *		objectId alone), numeric as a Decimal128 when it holds the value
 *		exactly.  Other types are refused.
 */
void
mongo_append_datum(bson_t *doc, const char *key, Datum value, Oid typid,
				   bool objectid, MongoWriteColumn *col)
{
	switch (typid)
	{
		case BOOLOID:
			BSON_APPEND_BOOL(doc, key, DatumGetBool(value));
			return;
		case INT2OID:
			BSON_APPEND_INT32(doc, key, DatumGetInt16(value));
			return;
		case INT4OID:
			BSON_APPEND_INT32(doc, key, DatumGetInt32(value));
			return;
		case INT8OID:
			BSON_APPEND_INT64(doc, key, DatumGetInt64(value));
			return;
		case FLOAT4OID:
			BSON_APPEND_DOUBLE(doc, key, DatumGetFloat4(value));
			return;
		case FLOAT8OID:
			BSON_APPEND_DOUBLE(doc, key, DatumGetFloat8(value));
			return;
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
			{
				Timestamp	ts = DatumGetTimestamp(value);

				if (TIMESTAMP_NOT_FINITE(ts))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("cannot write an infinite timestamp to column \"%s\"",
									col->name)));
				/* rounded down: 1999-12-31 23:59:59.9995 is .999 */
				BSON_APPEND_DATE_TIME(doc, key, mongo_timestamp_ms(ts, false));
				return;
			}
		case DATEOID:
			{
				DateADT		date = DatumGetDateADT(value);

				if (DATE_NOT_FINITE(date))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("cannot write an infinite date to column \"%s\"",
									col->name)));
				BSON_APPEND_DATE_TIME(doc, key, mongo_date_ms(date, false));
				return;
			}
		case BYTEAOID:
			{
				bytea	   *bytes = DatumGetByteaPP(value);

				BSON_APPEND_BINARY(doc, key, BSON_SUBTYPE_BINARY,
								   (const uint8_t *) VARDATA_ANY(bytes),
								   VARSIZE_ANY_EXHDR(bytes));
				return;
			}
		case NUMERICOID:
			{
				char	   *digits;
				bson_decimal128_t dec;

				digits = DatumGetCString(DirectFunctionCall1(numeric_out, value));

				/*
				 * libbson refuses some values it would have to round, not
				 * all: what it made must read back as the value
				 */
				if (!bson_decimal128_from_string(digits, &dec) ||
					!decimal128_holds(&dec, value))
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("numeric value of column \"%s\" cannot be written as a BSON Decimal128 exactly",
									col->name),
							 errdetail("The value is %.*s%s; a Decimal128 holds 34 significant digits and exponents from -6176 to 6111.",
									   (int) Min(strlen(digits), 48), digits,
									   strlen(digits) > 48 ? "..." : ""),
							 errhint("Round it with round(), or cast the column to float8 or text.")));
				BSON_APPEND_DECIMAL128(doc, key, &dec);
				return;
			}
		case UUIDOID:
			BSON_APPEND_BINARY(doc, key, BSON_SUBTYPE_UUID,
							   DatumGetUUIDP(value)->data, UUID_LEN);
			return;
		case JSONBOID:
			/* the text path checks the strings of other encodings */
			if (GetDatabaseEncoding() == PG_UTF8 &&
				append_jsonb(doc, key, DatumGetJsonbP(value)))
				return;
			/* FALLTHROUGH */
		case JSONOID:
			{
				Oid			output;
				bool		varlena;

				getTypeOutputInfo(typid, &output, &varlena);
				append_json(doc, key, OidOutputFunctionCall(output, value),
							col);
				return;
			}
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			{
				text	   *string = DatumGetTextPP(value);
				const char *bytes = VARDATA_ANY(string);
				int			length = VARSIZE_ANY_EXHDR(string);
				char	   *digits;
				bson_oid_t	oid;

				if (!objectid)
				{
					bytes = mongo_utf8_text(bytes, &length, col->name);
					bson_append_utf8(doc, key, -1, bytes, length);
					return;
				}
				digits = text_to_cstring(string);
				if (length != 24 || !bson_oid_is_valid(digits, 24))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							 errmsg("\"%s\" is not an ObjectId, which column \"%s\" takes",
									digits, col->name),
							 errhint("An ObjectId is written as 24 hexadecimal digits.")));
				bson_oid_init_from_string(&oid, digits);
				BSON_APPEND_OID(doc, key, &oid);
				return;
			}
		default:
			break;
	}

	if (type_is_array(typid))
	{
		ArrayType  *array = DatumGetArrayTypeP(value);
		Oid			elemtype = ARR_ELEMTYPE(array);
		int16		elmlen;
		bool		elmbyval;
		char		elmalign;
		Datum	   *items;
		bool	   *nulls;
		int			nitems;
		bson_t		child;

		get_typlenbyvalalign(elemtype, &elmlen, &elmbyval, &elmalign);
		deconstruct_array(array, elemtype, elmlen, elmbyval, elmalign,
						  &items, &nulls, &nitems);
		BSON_APPEND_ARRAY_BEGIN(doc, key, &child);
		for (int i = 0; i < nitems; i++)
		{
			char		index[16];

			snprintf(index, sizeof(index), "%d", i);
			if (nulls[i])
				BSON_APPEND_NULL(&child, index);
			else
				mongo_append_datum(&child, index, items[i], elemtype, objectid,
							 col);
		}
		bson_append_array_end(doc, &child);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot write column \"%s\" of type %s to MongoDB",
					col->name, format_type_be(typid)),
			 errhint("Cast it to text, or to a type written as BSON: integers, numeric, floats, boolean, text, timestamps, date, bytea, uuid, json, jsonb or arrays of them.")));
}

/*
 * decimal128_holds
 *		Whether a Decimal128 is exactly the numeric value.
 */
static bool
decimal128_holds(const bson_decimal128_t *dec, Datum value)
{
	char		text[BSON_DECIMAL128_STRING];
	Datum		back;

	bson_decimal128_to_string(dec, text);
	back = DirectFunctionCall3(numeric_in, CStringGetDatum(text),
							   ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, back, value)) == 0;
}

/*
 * append_jsonb
 *		A jsonb value as BSON, read straight from its tree (no text in
 *		between): strings, booleans, null, objects, arrays, and numbers as
 *		libbson's JSON parser reads them (an integer as int32, or int64 when
 *		larger, anything else as a double).  False, and nothing appended,
 *		when an object has a key starting with $ (extended JSON, which only
 *		the parser reads into its types) or the value nests too deep: then
 *		the caller takes the text path.
 */
static bool
append_jsonb(bson_t *doc, const char *key, Jsonb *jsonb)
{
	bson_t		value = BSON_INITIALIZER;
	bson_t		children[MONGO_MAX_JSONB_DEPTH];
	bson_t	   *level[MONGO_MAX_JSONB_DEPTH + 1];
	int			next_index[MONGO_MAX_JSONB_DEPTH + 1];
	bool		in_array[MONGO_MAX_JSONB_DEPTH + 1];
	JsonbIterator *it = JsonbIteratorInit(&jsonb->root);
	JsonbValue	v;
	JsonbIteratorToken token;
	int			depth = 0;
	const char *name = key;
	int			namelen = -1;
	char		index[16];

	/* the value goes into a document of its own: appended when whole */
	level[0] = &value;
	in_array[0] = false;
	while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		bson_t	   *parent = level[depth];

		if (token == WJB_KEY)
		{
			if (v.val.string.len > 0 && v.val.string.val[0] == '$')
			{
				bson_destroy(&value);
				return false;
			}
			name = v.val.string.val;
			namelen = v.val.string.len;
			continue;
		}
		if (in_array[depth] && (token == WJB_ELEM || token == WJB_BEGIN_ARRAY ||
								token == WJB_BEGIN_OBJECT))
		{
			snprintf(index, sizeof(index), "%d", next_index[depth]++);
			name = index;
			namelen = -1;
		}
		switch (token)
		{
			case WJB_BEGIN_ARRAY:
				/* a scalar alone is an array of one, marked raw */
				if (v.val.array.rawScalar)
					continue;
				/* FALLTHROUGH */
			case WJB_BEGIN_OBJECT:
				if (depth == MONGO_MAX_JSONB_DEPTH)
				{
					bson_destroy(&value);
					return false;
				}
				if (token == WJB_BEGIN_ARRAY)
					bson_append_array_begin(parent, name, namelen,
											&children[depth]);
				else
					bson_append_document_begin(parent, name, namelen,
											   &children[depth]);
				level[depth + 1] = &children[depth];
				depth++;
				in_array[depth] = token == WJB_BEGIN_ARRAY;
				next_index[depth] = 0;
				break;
			case WJB_END_ARRAY:
			case WJB_END_OBJECT:
				if (depth == 0)
					break;		/* the end of a raw scalar */
				if (in_array[depth])
					bson_append_array_end(level[depth - 1], level[depth]);
				else
					bson_append_document_end(level[depth - 1], level[depth]);
				depth--;
				break;
			case WJB_ELEM:
			case WJB_VALUE:
				append_jsonb_scalar(parent, name, namelen, &v);
				break;
			default:
				break;
		}
	}
	/* the value's one field, under the column's key */
	{
		bson_iter_t iter;

		if (bson_iter_init(&iter, &value) && bson_iter_next(&iter))
			bson_append_iter(doc, key, -1, &iter);
	}
	bson_destroy(&value);
	return true;
}

/*
 * append_jsonb_scalar
 *		A jsonb scalar as the BSON value libbson's JSON parser would make of
 *		its text.
 */
static void
append_jsonb_scalar(bson_t *doc, const char *name, int namelen,
					JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			bson_append_utf8(doc, name, namelen, v->val.string.val,
							 v->val.string.len);
			break;
		case jbvBool:
			bson_append_bool(doc, name, namelen, v->val.boolean);
			break;
		case jbvNumeric:
			{
				Datum		number = NumericGetDatum(v->val.numeric);
				char	   *digits;
				char	   *end;
				long long	integer;

				digits = DatumGetCString(DirectFunctionCall1(numeric_out, number));
				errno = 0;
				integer = strtoll(digits, &end, 10);
				if (*end == '\0' && errno == 0 &&
					integer >= PG_INT32_MIN && integer <= PG_INT32_MAX)
					bson_append_int32(doc, name, namelen, (int32) integer);
				else if (*end == '\0' && errno == 0)
					bson_append_int64(doc, name, namelen, (int64) integer);
				else
					bson_append_double(doc, name, namelen,
									   strtod(digits, NULL));
				pfree(digits);
				break;
			}
		default:
			bson_append_null(doc, name, namelen);
			break;
	}
}

/*
 * append_json
 *		A json or jsonb value as the BSON value its extended JSON describes
 *		({"$oid": ...}, {"$date": ...} and the like become their types).
 */
static void
append_json(bson_t *doc, const char *key, const char *json,
			MongoWriteColumn *col)
{
	int			length = strlen(json);
	char	   *wrapped = psprintf("{\"v\": %s}",
								   mongo_utf8_text(json, &length, col->name));
	bson_error_t error;
	bson_t	   *value = bson_new_from_json((const uint8_t *) wrapped, -1,
										   &error);
	bson_iter_t iter;

	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("cannot write the JSON of column \"%s\" as BSON",
						col->name),
				 errdetail_internal("%s", error.message)));
	if (bson_iter_init_find(&iter, value, "v"))
		bson_append_iter(doc, key, -1, &iter);
	bson_destroy(value);
}
