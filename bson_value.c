/*-------------------------------------------------------------------------
 *
 * bson_value.c
 *		  BSON scalars as PostgreSQL values that both directions of reading
 *		  share (bson_convert.c's columns, bson_json.c's jsonb): strings in
 *		  the database encoding, numerics made without text, timestamps;
 *		  and the errors of a value that does not fit its column.
 *
 * Each error names the BSON type and the PostgreSQL type; the column, the
 * foreign table and the document's _id come from the converter's error
 * context (bson_convert.c).
 *
 * IDENTIFICATION
 *		  bson_value.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "mongo_etl.h"

/*
 * Every iterator whose type this file reads stands on an element (the walk
 * or lookup that placed it succeeded), so the type byte is read in place:
 * libbson's bson_iter_type, which the BSON_ITER_HOLDS_ macros call too, is
 * a function call per value for the same byte.
 */
#define bson_iter_type(iter) bson_iter_type_unsafe(iter)

/* Integers from 0 up to this are kept as numerics for jsonb */
#define SMALL_INT_NUMERICS 1024

/* Powers of ten that doubles hold exactly, for double_numeric */
static const double pow10_table[] = {1.0, 10.0, 100.0, 1000.0, 10000.0};

/*
 * numeric's short on-disk format (utils/adt/numeric.c), which every numeric
 * function reads and which numeric.c itself writes for every value that
 * fits it: a 16-bit header (the flag, the sign, the display scale, the
 * weight of the first digit), then the digits in base 10000, most
 * significant first, with no leading or trailing zero digits.  pg_upgrade
 * keeps numerics on disk as they are, so this layout cannot change.
 */
#define NUMERIC_BASE			10000	/* NBASE */
#define NUMERIC_BASE_DIGITS		4	/* DEC_DIGITS: decimal digits a digit */
#define NUMERIC_SHORT_FLAG		0x8000	/* NUMERIC_SHORT */
#define NUMERIC_SHORT_NEGATIVE	0x2000	/* NUMERIC_SHORT_SIGN_MASK */
#define NUMERIC_SHORT_SCALE_SHIFT 7 /* NUMERIC_SHORT_DSCALE_SHIFT */
#define NUMERIC_SHORT_SCALE_MAX 63	/* NUMERIC_SHORT_DSCALE_MAX */
#define NUMERIC_SHORT_WEIGHT_NEGATIVE 0x0040	/* ..._WEIGHT_SIGN_MASK */
#define NUMERIC_SHORT_WEIGHT_MASK 0x003F	/* NUMERIC_SHORT_WEIGHT_MASK */
#define NUMERIC_SHORT_WEIGHT_MIN (-64)	/* NUMERIC_SHORT_WEIGHT_MIN */
#define NUMERIC_SHORT_WEIGHT_MAX 63 /* NUMERIC_SHORT_WEIGHT_MAX */

/* a magnitude below this, times 10^3, still fits in a uint64 */
#define SHORT_NUMERIC_LIMIT		UINT64CONST(1000000000000000)

/* enough base-10000 digits for any magnitude below SHORT_NUMERIC_LIMIT */
#define SHORT_NUMERIC_DIGITS	5

static Numeric short_numeric(uint64 magnitude, bool negative, int scale);
static Numeric scaled_int64_numeric(int64 mantissa, int scale);
static Numeric decimal_string_numeric(const char *decimal);
static int	errhint_on_type_mismatch(const MongoColumn *col);

/*
 * mongo_timestamp_value
 *		A BSON date (milliseconds since 1970-01-01 UTC) as a PostgreSQL
 *		timestamp, erroring when outside PostgreSQL's range.
 */
Timestamp
mongo_timestamp_value(MongoConverter *conv, const bson_iter_t *iter,
					  const MongoColumn *col)
{
	int64		unix_ms;
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
		mongo_report_mismatch(iter, col);

	if (!mongo_unix_ms_timestamp(unix_ms, &result))
	{
		char		buf[MAXINT8LEN + 32];

		snprintf(buf, sizeof(buf), INT64_FORMAT " ms since 1970", unix_ms);
		mongo_report_out_of_range(iter, col, buf);
	}
	return result;
}

/*
 * mongo_server_string
 *		A BSON UTF-8 string in the database encoding, verified: invalid
 *		UTF-8 and NUL bytes, which text cannot hold, are errors.
 */
char *
mongo_server_string(const char *utf8, uint32 len, int *result_len)
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
	/*
	 * The bytes after the last whole word, checked as the string's last
	 * word (overlapping the one before) rather than one at a time: most
	 * strings are ASCII and not a multiple of 8 bytes long.
	 */
	if (i + sizeof(uint64) > len && i < len && len >= sizeof(uint64))
	{
		uint64		word;

		memcpy(&word, utf8 + len - sizeof(uint64), sizeof(uint64));
		if ((((word - UINT64CONST(0x0101010101010101)) | word) &
			 UINT64CONST(0x8080808080808080)) == 0)
			i = len;
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
 * mongo_server_text
 *		UTF-8 text made here (a command, a collection's name) in the database
 *		encoding, for EXPLAIN and messages.
 */
char *
mongo_server_text(const char *utf8)
{
	int			length;

	return mongo_server_string(utf8, strlen(utf8), &length);
}

/*
 * mongo_server_json
 *		JSON that libbson wrote, as mongo_server_text gives it, in palloc'd
 *		memory: libbson's string is freed first, since the conversion can
 *		raise an error, and the transaction's abort frees no memory libbson
 *		malloc'd.
 */
char *
mongo_server_json(char *json)
{
	char	   *copy = pstrdup(json);

	bson_free(json);
	return mongo_server_text(copy);
}

/*
 * mongo_small_int_numeric
 *		An integer as numeric, for jsonb, which copies it: small integers
 *		(counts, quantities, flags) are common in documents, so they are
 *		built once per backend and kept.
 */
Numeric
mongo_small_int_numeric(int64 value)
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
 * mongo_double_numeric
 *		A double as the numeric of its shortest exact decimal form, the one
 *		that reads back as the same double.  PostgreSQL's float8-to-numeric
 *		cast keeps only 15 significant digits, which loses information
 *		(0.1 + 0.2 would become 0.3).
 */
Numeric
mongo_double_numeric(double value)
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
	 * shortest form, found without formatting digits.  Below 2^50 only one m
	 * can do so for a given k.
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
 * mongo_decimal128_numeric
 *		A Decimal128 as numeric, exactly: numeric holds every Decimal128
 *		value, including its largest and smallest exponents, NaN and the
 *		infinities.  A coefficient that fits in 64 bits, as money and most
 *		other values do, is scaled directly; any other value goes through
 *		libbson's decimal string and numeric's input function.
 */
Numeric
mongo_decimal128_numeric(const bson_iter_t *iter)
{
	bson_decimal128_t dec;
	char		buf[BSON_DECIMAL128_STRING];

	bson_iter_decimal128(iter, &dec);

	/*
	 * The IEEE 754 BID layout: sign, then (when the two bits after it are not
	 * both set) a 14-bit exponent biased by 6176 and the top 49 bits of the
	 * coefficient, whose other 64 bits are the low word.
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

	if (scale >= 0 && scale <= NUMERIC_SHORT_SCALE_MAX &&
		mantissa > -(int64) SHORT_NUMERIC_LIMIT &&
		mantissa < (int64) SHORT_NUMERIC_LIMIT)
	{
		Numeric		direct = short_numeric(mantissa < 0 ? -mantissa : mantissa,
										   mantissa < 0, scale);

		if (direct != NULL)
			return direct;
	}

	/*
	 * int64_div_fast_to_numeric may multiply the mantissa by up to 1000, and
	 * has no exact fallback for large scales before PostgreSQL 16.
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
 * short_numeric
 *		magnitude / 10^scale (negated when negative) with scale as its
 *		display scale, written straight in numeric's short format, exactly
 *		as numeric.c would write the same value; NULL when the value's
 *		first digit is beyond the short format's weights.  magnitude is
 *		below SHORT_NUMERIC_LIMIT and scale at most NUMERIC_SHORT_SCALE_MAX.
 */
static Numeric
short_numeric(uint64 magnitude, bool negative, int scale)
{
	int			pad = (NUMERIC_BASE_DIGITS - scale % NUMERIC_BASE_DIGITS) %
		NUMERIC_BASE_DIGITS;
	int			fraction_digits = (scale + pad) / NUMERIC_BASE_DIGITS;
	int16		digits[SHORT_NUMERIC_DIGITS];	/* least significant first */
	int			ndigits = 0;
	int			low = 0;
	int			weight = 0;
	int			i;
	uint16		header;
	Size		len;
	Numeric		result;

	/* align the decimal point on a digit boundary */
	for (i = 0; i < pad; i++)
		magnitude *= 10;
	while (magnitude != 0)
	{
		digits[ndigits++] = (int16) (magnitude % NUMERIC_BASE);
		magnitude /= NUMERIC_BASE;
	}

	/* zero has no digits, weight 0 and a positive sign */
	if (ndigits == 0)
		negative = false;
	else
	{
		weight = ndigits - 1 - fraction_digits;
		if (weight < NUMERIC_SHORT_WEIGHT_MIN ||
			weight > NUMERIC_SHORT_WEIGHT_MAX)
			return NULL;
		while (digits[low] == 0)
			low++;
	}

	header = NUMERIC_SHORT_FLAG |
		(negative ? NUMERIC_SHORT_NEGATIVE : 0) |
		(scale << NUMERIC_SHORT_SCALE_SHIFT) |
		(weight < 0 ? NUMERIC_SHORT_WEIGHT_NEGATIVE : 0) |
		(weight & NUMERIC_SHORT_WEIGHT_MASK);

	len = VARHDRSZ + sizeof(uint16) + (ndigits - low) * sizeof(int16);
	result = (Numeric) palloc(len);
	SET_VARSIZE(result, len);
	memcpy(VARDATA(result), &header, sizeof(uint16));
	for (i = ndigits - 1; i >= low; i--)
		memcpy(VARDATA(result) + sizeof(uint16) +
			   (ndigits - 1 - i) * sizeof(int16), &digits[i], sizeof(int16));
	return result;
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
const char *
mongo_bson_type_name(bson_type_t type)
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
 * mongo_report_mismatch
 *		A value whose BSON type cannot go into the column's type.  The
 *		column, table and _id come from conversion_error_callback.
 */
void
mongo_report_mismatch(const bson_iter_t *iter, const MongoColumn *col)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot convert BSON %s to type %s",
					mongo_bson_type_name(bson_iter_type(iter)),
					format_type_with_typemod(col->typid, col->typmod)),
			 errhint_on_type_mismatch(col)));
}

/*
 * mongo_report_undeclared_type
 *		A value of a BSON type the column's option bson_type leaves out.
 */
void
mongo_report_undeclared_type(const bson_iter_t *iter, const MongoColumn *col)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot convert BSON %s to type %s",
					mongo_bson_type_name(bson_iter_type(iter)),
					format_type_with_typemod(col->typid, col->typmod)),
			 errdetail("The column's option bson_type does not name BSON type %s.",
					   mongo_bson_type_name(bson_iter_type(iter))),
			 col->on_mismatch == MONGO_MISMATCH_ERROR ?
			 errhint("Add the type to the option bson_type, or set the option on_type_mismatch of the column or table to \"null\" or \"skip\".") :
			 errhint("Add the type to the option bson_type.")));
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
		if (strcmp(mongo_bson_type_name(types[i]), name) == 0)
			return (int) types[i];
	}
	return -1;
}

/*
 * mongo_report_not_integer
 *		A number with a fractional part (or NaN) for an integer column: an
 *		error, never a truncation.
 */
void
mongo_report_not_integer(const bson_iter_t *iter, const MongoColumn *col,
						 const char *value)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot convert BSON %s to type %s",
					mongo_bson_type_name(bson_iter_type(iter)),
					format_type_with_typemod(col->typid, col->typmod)),
			 errdetail("The value %s is not an integer.", value),
			 errhint_on_type_mismatch(col)));
}

/*
 * mongo_report_out_of_range
 *		A value of a convertible BSON type that the column's type cannot
 *		hold.
 */
void
mongo_report_out_of_range(const bson_iter_t *iter, const MongoColumn *col,
						  const char *value)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("BSON %s value %s is out of range for type %s",
					mongo_bson_type_name(bson_iter_type(iter)), value,
					format_type_with_typemod(col->typid, col->typmod)),
			 errhint_on_type_mismatch(col)));
}

/*
 * mongo_report_corrupt_document
 *		The document's structure is invalid: an element's length or type
 *		does not fit inside it.  Only files can hold such documents; the
 *		error context names the file and offset.
 */
void
mongo_report_corrupt_document(const bson_iter_t *iter)
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
