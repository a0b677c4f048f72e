/*-------------------------------------------------------------------------
 *
 * etl_client.c
 *	  The client-side ETL program that mongo_etl's benchmark measures
 *	  mongo_etl against.
 *
 * This is the loader people write when they have no way to reach MongoDB
 * from inside PostgreSQL: read the collection with the official C driver
 * (libmongoc), turn every document into a C struct, and write the rows with
 * libpq, either as multi-row INSERT statements built as SQL text or as
 * binary COPY.  The collection is split between worker threads by ranges
 * of its "seq" field; each worker has its own MongoDB client and its own
 * PostgreSQL connection, and loads its share in one transaction.
 *
 *	  etl_client --mongo URI --db DB --collection COLL --pg CONNINFO
 *		  --table TABLE --workers W --mode insert|copy [--batch N]
 *
 * The documents are those of bench/bench.py (users with an address, tags
 * and orders); the table has the columns
 *
 *	  _id text, seq int, name text, email text, age int,
 *	  created timestamptz, score float8, active bool, balance numeric,
 *	  street text, city text, zip text, tags jsonb, orders jsonb
 *
 * A missing or null field becomes SQL NULL; a field of a type that cannot
 * be converted is an error, never a silent NULL.  TABLE is taken literally
 * (quoted), "schema.table" when it contains a dot.
 *
 * On success the program prints one line, "rows=<n> seconds=<wall>", where
 * seconds is the wall time of the whole load (count, connections, reads,
 * writes and commits).  On any error it prints a message to stderr and
 * exits with status 1.  The workers commit together: each one, when it is
 * done, waits for the others, and they commit only if all of them
 * succeeded and together loaded as many rows as the collection has
 * documents (a document without a seq in 0..N-1 would otherwise be missed
 * silently).  Only a failure of COMMIT itself can leave a partial load
 * behind, and that is reported as an error too.
 *
 * --selftest-numeric --pg CONNINFO [--table TABLE --mode M] checks the
 * binary numeric encoding (which the benchmark's FerretDB cannot exercise,
 * as it does not store Decimal128) against PostgreSQL's own parsing of the
 * same decimal strings, and with --table also loads a set of in-memory
 * test documents with edge cases through the normal row path, so that the
 * tables loaded in the two modes can be compared.
 *
 * Build:
 *	  gcc -O2 -Wall -Wextra -Werror -o bench/etl_client bench/etl_client.c \
 *		  $(pkg-config --cflags --libs libmongoc-1.0) \
 *		  -I$(pg_config --includedir) -lpq -lpthread
 *
 * IDENTIFICATION
 *	  bench/etl_client.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mongoc/mongoc.h>
#include <libpq-fe.h>

#define PROGNAME			"etl_client"

/* the cursor's batch size: documents per reply from the server */
#define CURSOR_BATCH_SIZE	10000

/* COPY data is handed to libpq in chunks of about this size */
#define COPY_CHUNK_SIZE		(1024 * 1024)

/* default rows per INSERT statement and per COPY */
#define DEFAULT_INSERT_BATCH	100
#define DEFAULT_COPY_BATCH		10000

#define MAX_WORKERS			1024

/* deepest nesting of arrays and documents written as JSON */
#define MAX_JSON_DEPTH		200

/* PostgreSQL's binary numeric format */
#define NUMERIC_POS			0x0000
#define NUMERIC_NEG			0x4000
#define NUMERIC_NAN			0xC000
#define NUMERIC_PINF		0xD000
#define NUMERIC_NINF		0xF000
#define NUMERIC_DSCALE_MAX	0x3FFF
#define NUMERICOID			1700

/* longest decimal string accepted for a numeric (Decimal128 needs 42) */
#define NUMERIC_MAX_INPUT	128

/* microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch */
#define POSTGRES_EPOCH_USECS	INT64_C(946684800000000)

/* enough for any double printed with %.17g */
#define DOUBLE_BUFSIZE		32

/* enough for a timestamp literal: sign, long year, " BC", quotes */
#define TIMESTAMP_BUFSIZE	64

#define NCOLUMNS			14

/* the target table's columns, in the order of the rows we send */
static const char *const column_names[NCOLUMNS] = {
	"_id", "seq", "name", "email", "age", "created", "score", "active",
	"balance", "street", "city", "zip", "tags", "orders"
};

typedef enum load_mode
{
	MODE_INSERT,
	MODE_COPY
} load_mode;

/* the command line */
typedef struct options
{
	const char *mongo_uri;
	const char *db;
	const char *collection;
	const char *pg_conninfo;
	const char *table;
	int			workers;
	load_mode	mode;
	bool		mode_given;
	long		batch;			/* 0: the mode's default */
	bool		selftest_numeric;
} options;

/* a growable byte buffer, always NUL-terminated */
typedef struct strbuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} strbuf;

/* a string value: points into a document or a buffer; NULL is SQL NULL */
typedef struct text_field
{
	const char *str;
	uint32_t	len;
} text_field;

/*
 * One document, deserialized.  Strings point into the BSON document they
 * came from (valid until the cursor moves on, by which time the row has
 * been written out) or, for tags and orders, into the worker's JSON
 * buffers.  Each *_null flag, or a NULL str, means SQL NULL.
 */
typedef struct user_row
{
	bool		id_null;
	char		oid[25];		/* 24 hex digits */
	bool		seq_null;
	int32_t		seq;
	text_field	name;
	text_field	email;
	bool		age_null;
	int32_t		age;
	bool		created_null;
	int64_t		created;		/* milliseconds since 1970-01-01 UTC */
	bool		score_null;
	double		score;
	bool		active_null;
	bool		active;
	bool		balance_null;
	char		balance[BSON_DECIMAL128_STRING];	/* decimal string */
	text_field	street;
	text_field	city;
	text_field	zip;
	text_field	tags;			/* JSON text */
	text_field	orders;			/* JSON text */
} user_row;

static const user_row null_row = {
	.id_null = true,
	.seq_null = true,
	.age_null = true,
	.created_null = true,
	.score_null = true,
	.active_null = true,
	.balance_null = true,
};

/* what the workers share: the commit gate and the stop flag */
typedef struct shared_state
{
	pthread_mutex_t lock;
	pthread_cond_t all_arrived;
	int			nworkers;
	int			arrived;		/* workers done loading */
	bool		failed;			/* one of them failed */
	int64_t		total_rows;		/* rows loaded by those that succeeded */
	int64_t		expected_rows;	/* documents in the collection */
	atomic_bool stop;			/* tells workers to give up early */
} shared_state;

/* one worker thread and everything it owns */
typedef struct worker
{
	int			index;
	int64_t		lo;				/* seq range [lo, hi) */
	int64_t		hi;
	const options *opts;
	shared_state *shared;
	pthread_t	thread;
	mongoc_client_t *mongo;
	PGconn	   *conn;
	strbuf		prefix;			/* "INSERT INTO t (...) VALUES " or COPY */
	strbuf		out;			/* the statement or COPY data being built */
	strbuf		tags_json;
	strbuf		orders_json;
	long		batch;			/* rows per statement or COPY */
	long		batch_rows;		/* rows in the current one */
	bool		in_copy;		/* a COPY is in progress */
	int64_t		rows;			/* rows sent and acknowledged */
	bool		failed;
	bool		gave_up;		/* stopped because another worker failed */
	bool		committed;
	char		reason[512];	/* why the document at hand is rejected */
	char		errmsg[1024];
} worker;

static bool append_json_value(worker *w, strbuf *out, const bson_iter_t *it,
							  const char *field, int depth);


/*
 * die
 *		Print an error message and exit with status 1.  Used in the main
 *		thread before the workers start, and for running out of memory,
 *		where there is nothing sensible left to do.
 */
static void
die(const char *fmt,...)
__attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", PROGNAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * trim_newlines
 *		Drop the trailing newlines and spaces libpq puts at the end of its
 *		messages, as we add our own.
 */
static void
trim_newlines(char *s)
{
	size_t		len = strlen(s);

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
		s[--len] = '\0';
}


/*
 * sb_reserve
 *		Make room for more bytes (and the terminating NUL) in a buffer.
 *		Capacity doubles, so appending is amortized constant time.
 */
static void
sb_reserve(strbuf *sb, size_t more)
{
	size_t		need = sb->len + more + 1;
	size_t		cap;
	char	   *data;

	if (need <= sb->cap)
		return;
	cap = sb->cap ? sb->cap : 256;
	while (cap < need)
		cap *= 2;
	data = realloc(sb->data, cap);
	if (data == NULL)
		die("out of memory");
	sb->data = data;
	sb->cap = cap;
}

/*
 * sb_append
 *		Append n bytes to a buffer.
 */
static void
sb_append(strbuf *sb, const void *p, size_t n)
{
	sb_reserve(sb, n);
	memcpy(sb->data + sb->len, p, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

/*
 * sb_append_str
 *		Append a NUL-terminated string to a buffer.
 */
static void
sb_append_str(strbuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

/*
 * sb_append_char
 *		Append one byte to a buffer.
 */
static void
sb_append_char(strbuf *sb, char c)
{
	sb_reserve(sb, 1);
	sb->data[sb->len++] = c;
	sb->data[sb->len] = '\0';
}

/*
 * sb_append_int16, sb_append_int32, sb_append_int64
 *		Append an integer in network byte order (big-endian), as binary
 *		COPY and the binary numeric format want them.
 */
static void
sb_append_int16(strbuf *sb, uint16_t v)
{
	unsigned char b[2];

	b[0] = (unsigned char) (v >> 8);
	b[1] = (unsigned char) v;
	sb_append(sb, b, sizeof(b));
}

static void
sb_append_int32(strbuf *sb, uint32_t v)
{
	unsigned char b[4];

	b[0] = (unsigned char) (v >> 24);
	b[1] = (unsigned char) (v >> 16);
	b[2] = (unsigned char) (v >> 8);
	b[3] = (unsigned char) v;
	sb_append(sb, b, sizeof(b));
}

static void
sb_append_int64(strbuf *sb, uint64_t v)
{
	sb_append_int32(sb, (uint32_t) (v >> 32));
	sb_append_int32(sb, (uint32_t) v);
}

/*
 * sb_patch_int32
 *		Overwrite four bytes at offset with an integer in network byte
 *		order: fills in a length written before the value it measures.
 */
static void
sb_patch_int32(strbuf *sb, size_t offset, uint32_t v)
{
	unsigned char *b = (unsigned char *) sb->data + offset;

	b[0] = (unsigned char) (v >> 24);
	b[1] = (unsigned char) (v >> 16);
	b[2] = (unsigned char) (v >> 8);
	b[3] = (unsigned char) v;
}

/*
 * sb_reset
 *		Empty a buffer, keeping its memory for reuse.
 */
static void
sb_reset(strbuf *sb)
{
	sb->len = 0;
	if (sb->data)
		sb->data[0] = '\0';
}

/*
 * sb_free
 *		Release a buffer's memory.
 */
static void
sb_free(strbuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}


/*
 * worker_error
 *		Record that a worker failed, and why; tell the other workers to
 *		stop.  The first message is kept, later ones (consequences of the
 *		first) are dropped.  Returns false so callers can "return
 *		worker_error(...)".
 */
static bool
worker_error(worker *w, const char *fmt,...)
__attribute__((format(printf, 2, 3)));

static bool
worker_error(worker *w, const char *fmt,...)
{
	va_list		ap;

	if (!w->failed)
	{
		va_start(ap, fmt);
		vsnprintf(w->errmsg, sizeof(w->errmsg), fmt, ap);
		va_end(ap);
		trim_newlines(w->errmsg);
		w->failed = true;
	}
	atomic_store(&w->shared->stop, true);
	return false;
}

/*
 * parse_fail
 *		Record why the document being deserialized is rejected; the caller
 *		adds which document it is.  Returns false.
 */
static bool
parse_fail(worker *w, const char *fmt,...)
__attribute__((format(printf, 2, 3)));

static bool
parse_fail(worker *w, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(w->reason, sizeof(w->reason), fmt, ap);
	va_end(ap);
	return false;
}

/*
 * check_result
 *		Check the result of a statement sent with libpq against the status
 *		it should have, and record an error if it does not.  The result is
 *		cleared unless it is returned through *keep (when the caller wants
 *		to read it).  A NULL result (libpq out of memory or the connection
 *		lost) is an error too.
 */
static bool
check_result(worker *w, PGresult *res, ExecStatusType expected,
			 const char *what, PGresult **keep)
{
	if (res == NULL || PQresultStatus(res) != expected)
	{
		const char *msg = res ? PQresultErrorMessage(res) : "";

		if (*msg == '\0')
			msg = PQerrorMessage(w->conn);
		if (*msg == '\0')
			msg = "unexpected result status";
		worker_error(w, "worker %d: %s failed: %s", w->index, what, msg);
		PQclear(res);
		return false;
	}
	if (keep)
		*keep = res;
	else
		PQclear(res);
	return true;
}

/*
 * check_row_count
 *		Check that the server reports, in an INSERT's or COPY's command
 *		tag, as many rows as we sent: a cheap guard against rows silently
 *		lost on the way.  Clears the result.
 */
static bool
check_row_count(worker *w, PGresult *res, const char *what, long sent)
{
	const char *tuples = PQcmdTuples(res);
	char	   *end;
	long long	n = strtoll(tuples, &end, 10);
	bool		ok = (*tuples != '\0' && *end == '\0' && n == sent);

	PQclear(res);
	if (!ok)
		return worker_error(w, "worker %d: %s reported \"%s\" rows, "
							"%ld were sent", w->index, what, tuples, sent);
	return true;
}


/*
 * bson_type_label
 *		A short name of a BSON type for error messages.
 */
static const char *
bson_type_label(bson_type_t type)
{
	switch (type)
	{
		case BSON_TYPE_DOUBLE:
			return "a double";
		case BSON_TYPE_UTF8:
			return "a string";
		case BSON_TYPE_DOCUMENT:
			return "a document";
		case BSON_TYPE_ARRAY:
			return "an array";
		case BSON_TYPE_BINARY:
			return "binary data";
		case BSON_TYPE_OID:
			return "an ObjectId";
		case BSON_TYPE_BOOL:
			return "a bool";
		case BSON_TYPE_DATE_TIME:
			return "a date";
		case BSON_TYPE_REGEX:
			return "a regular expression";
		case BSON_TYPE_INT32:
			return "an int32";
		case BSON_TYPE_TIMESTAMP:
			return "a timestamp";
		case BSON_TYPE_INT64:
			return "an int64";
		case BSON_TYPE_DECIMAL128:
			return "a Decimal128";
		default:
			return "of an unsupported BSON type";
	}
}

/*
 * format_double
 *		Print a finite double in the shortest form that reads back as the
 *		same double: precision 15 is enough for most values (and prints
 *		0.1 as "0.1"), 17 for all of them.  Used for JSON, for float8
 *		literals and for a double loaded into numeric.  We never call
 *		setlocale(), so the decimal point is always '.'.
 */
static void
format_double(double d, char *buf, size_t size)
{
	int			precision;

	for (precision = 15; precision < 17; precision++)
	{
		snprintf(buf, size, "%.*g", precision, d);
		if (strtod(buf, NULL) == d)
			return;
	}
	snprintf(buf, size, "%.17g", d);
}

/*
 * format_timestamp
 *		Print milliseconds since 1970-01-01 UTC as a timestamptz literal,
 *		quotes included, in UTC ("+00"), so that the session's time zone
 *		does not matter.  Years before 1 AD are written as PostgreSQL
 *		reads them, with " BC" (astronomical year 0 is 1 BC).
 */
static bool
format_timestamp(int64_t ms, char *buf, size_t size)
{
	int64_t		secs = ms / 1000;
	int			millis = (int) (ms % 1000);
	time_t		t;
	struct tm	tm;
	long long	year;
	bool		bc;

	if (millis < 0)
	{
		millis += 1000;
		secs--;
	}
	t = (time_t) secs;
	if (gmtime_r(&t, &tm) == NULL)
		return false;
	year = (long long) tm.tm_year + 1900;
	bc = (year <= 0);
	if (bc)
		year = 1 - year;
	snprintf(buf, size, "'%04lld-%02d-%02d %02d:%02d:%02d.%03d+00%s'",
			 year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, millis, bc ? " BC" : "");
	return true;
}


/*
 * floor_div4
 *		x / 4 rounded toward minus infinity (C division truncates).
 */
static int
floor_div4(int x)
{
	return x >= 0 ? x / 4 : -((-x + 3) / 4);
}

/*
 * append_numeric_header
 *		Append the four int16 fields that start a binary numeric.
 */
static void
append_numeric_header(strbuf *out, int ndigits, int weight, uint16_t sign,
					  int dscale)
{
	sb_append_int16(out, (uint16_t) ndigits);
	sb_append_int16(out, (uint16_t) (int16_t) weight);
	sb_append_int16(out, sign);
	sb_append_int16(out, (uint16_t) dscale);
}

/*
 * append_numeric_binary
 *		Append a decimal string ("-12.50", "1.5E+3", "-0", "NaN",
 *		"Infinity"...: what bson_decimal128_to_string produces, or a
 *		number printed by snprintf) in PostgreSQL's binary numeric format:
 *		int16 ndigits, int16 weight, int16 sign, int16 dscale, then ndigits
 *		base-10000 digits, the first of which is worth 10000^weight.
 *
 *		The value and the display scale are those numeric_in would give
 *		the same string, so that binary COPY and INSERT load the same
 *		numerics: dscale is the number of digits after the decimal point
 *		minus the exponent, at least 0 ("1.50" has 2, "1.5E+3" 0), zero
 *		is positive whatever its sign, and leading and trailing zero
 *		base-10000 digits are left out, as PostgreSQL stores them.  NaN
 *		and the infinities are sent as the special numerics PostgreSQL
 *		has had since version 14 (NaN since always); an older server
 *		rejects the infinities, in COPY as in INSERT.
 *
 *		Returns NULL on success, otherwise why the string was rejected
 *		(nothing is appended then).
 */
static const char *
append_numeric_binary(strbuf *out, const char *str)
{
	static const int pow10[4] = {1, 10, 100, 1000};
	const char *p = str;
	bool		negative = false;
	uint8_t		digits[NUMERIC_MAX_INPUT];
	int			ndigits = 0;
	int			fraction_digits = 0;
	bool		seen_digit = false;
	bool		seen_point = false;
	long		exponent = 0;
	int			scale;
	int			dscale;
	uint16_t	groups[NUMERIC_MAX_INPUT / 4 + 2];
	int			weight;
	int			ngroups;
	int			i;

	if (strlen(str) >= NUMERIC_MAX_INPUT)
		return "decimal string too long";
	if (*p == '+' || *p == '-')
		negative = (*p++ == '-');
	if (strcasecmp(p, "NaN") == 0)
	{
		append_numeric_header(out, 0, 0, NUMERIC_NAN, 0);
		return NULL;
	}
	if (strcasecmp(p, "Infinity") == 0 || strcasecmp(p, "Inf") == 0)
	{
		append_numeric_header(out, 0, 0,
							  negative ? NUMERIC_NINF : NUMERIC_PINF, 0);
		return NULL;
	}

	/* the significant digits, leading zeros skipped */
	for (;; p++)
	{
		if (*p >= '0' && *p <= '9')
		{
			seen_digit = true;
			if (seen_point)
				fraction_digits++;
			if (ndigits > 0 || *p != '0')
				digits[ndigits++] = (uint8_t) (*p - '0');
		}
		else if (*p == '.' && !seen_point)
			seen_point = true;
		else
			break;
	}
	if (!seen_digit)
		return "invalid decimal string";
	if (*p == 'e' || *p == 'E')
	{
		bool		exponent_negative = false;

		p++;
		if (*p == '+' || *p == '-')
			exponent_negative = (*p++ == '-');
		if (*p < '0' || *p > '9')
			return "invalid exponent in decimal string";
		for (; *p >= '0' && *p <= '9'; p++)
		{
			exponent = exponent * 10 + (*p - '0');
			if (exponent > 1000000)
				return "exponent out of range in decimal string";
		}
		if (exponent_negative)
			exponent = -exponent;
	}
	if (*p != '\0')
		return "invalid decimal string";

	/* the value is digits[] (as an integer) times 10^scale */
	scale = (int) exponent - fraction_digits;
	dscale = scale < 0 ? -scale : 0;
	if (dscale > NUMERIC_DSCALE_MAX)
		return "decimal scale out of range for numeric";
	while (ndigits > 0 && digits[ndigits - 1] == 0)
	{
		ndigits--;
		scale++;
	}
	if (ndigits == 0)
	{
		append_numeric_header(out, 0, 0, NUMERIC_POS, dscale);
		return NULL;
	}

	/* group the decimal digits by their power of 10000 */
	weight = floor_div4(scale + ndigits - 1);
	ngroups = weight - floor_div4(scale) + 1;
	if (weight > INT16_MAX || weight < INT16_MIN)
		return "decimal value out of range for numeric";
	memset(groups, 0, sizeof(groups));
	for (i = 0; i < ndigits; i++)
	{
		int			power = scale + ndigits - 1 - i;
		int			group = floor_div4(power);

		groups[weight - group] += digits[i] * pow10[power - 4 * group];
	}

	append_numeric_header(out, ngroups, weight,
						  negative ? NUMERIC_NEG : NUMERIC_POS, dscale);
	for (i = 0; i < ngroups; i++)
		sb_append_int16(out, groups[i]);
	return NULL;
}


/*
 * append_json_string
 *		Append a string as a JSON string: quotes, backslashes and control
 *		characters escaped, everything else (UTF-8 included) as is.  NUL
 *		is rejected: jsonb cannot hold \u0000.
 */
static bool
append_json_string(worker *w, strbuf *out, const char *s, uint32_t len,
				   const char *field)
{
	static const char hex[] = "0123456789abcdef";
	uint32_t	start = 0;
	uint32_t	i;

	sb_reserve(out, len + 2);
	sb_append_char(out, '"');
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		esc[7];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (c == '\0')
			return parse_fail(w, "a string in \"%s\" contains a NUL "
							  "character", field);
		sb_append(out, s + start, i - start);
		start = i + 1;
		esc[0] = '\\';
		esc[2] = '\0';
		switch (c)
		{
			case '"':
			case '\\':
				esc[1] = (char) c;
				break;
			case '\b':
				esc[1] = 'b';
				break;
			case '\f':
				esc[1] = 'f';
				break;
			case '\n':
				esc[1] = 'n';
				break;
			case '\r':
				esc[1] = 'r';
				break;
			case '\t':
				esc[1] = 't';
				break;
			default:
				esc[1] = 'u';
				esc[2] = '0';
				esc[3] = '0';
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 0xf];
				esc[6] = '\0';
				break;
		}
		sb_append_str(out, esc);
	}
	sb_append(out, s + start, len - start);
	sb_append_char(out, '"');
	return true;
}

/*
 * append_json_container
 *		Append the array or document an iterator is positioned on as a
 *		JSON array or object.  Keys of arrays are ignored (BSON writes them
 *		as "0", "1"... in order).
 */
static bool
append_json_container(worker *w, strbuf *out, const bson_iter_t *it,
					  const char *field, int depth)
{
	bool		is_array = (bson_iter_type(it) == BSON_TYPE_ARRAY);
	bson_iter_t child;
	bool		first = true;

	if (depth > MAX_JSON_DEPTH)
		return parse_fail(w, "\"%s\" is nested too deeply", field);
	if (!bson_iter_recurse(it, &child))
		return parse_fail(w, "\"%s\" holds an invalid BSON %s", field,
						  is_array ? "array" : "document");
	sb_append_char(out, is_array ? '[' : '{');
	while (bson_iter_next(&child))
	{
		if (!first)
			sb_append_char(out, ',');
		first = false;
		if (!is_array)
		{
			if (!append_json_string(w, out, bson_iter_key(&child),
									bson_iter_key_len(&child), field))
				return false;
			sb_append_char(out, ':');
		}
		if (!append_json_value(w, out, &child, field, depth + 1))
			return false;
	}
	sb_append_char(out, is_array ? ']' : '}');
	return true;
}

/*
 * append_json_value
 *		Append the value an iterator is positioned on as JSON: strings,
 *		int32, int64, doubles (shortest round-trip form), bools, null,
 *		finite Decimal128s (as JSON numbers) and nested arrays and
 *		documents.  Anything else, and the doubles JSON cannot write (NaN,
 *		infinities), rejects the document.
 */
static bool
append_json_value(worker *w, strbuf *out, const bson_iter_t *it,
				  const char *field, int depth)
{
	char		buf[BSON_DECIMAL128_STRING + DOUBLE_BUFSIZE];

	switch (bson_iter_type(it))
	{
		case BSON_TYPE_UTF8:
			{
				uint32_t	len;
				const char *s = bson_iter_utf8(it, &len);

				return append_json_string(w, out, s, len, field);
			}
		case BSON_TYPE_INT32:
			snprintf(buf, sizeof(buf), "%" PRId32, bson_iter_int32(it));
			break;
		case BSON_TYPE_INT64:
			snprintf(buf, sizeof(buf), "%" PRId64, bson_iter_int64(it));
			break;
		case BSON_TYPE_DOUBLE:
			{
				double		d = bson_iter_double(it);

				if (!isfinite(d))
					return parse_fail(w, "\"%s\" holds a double JSON "
									  "cannot represent (NaN or infinite)",
									  field);
				format_double(d, buf, sizeof(buf));
				break;
			}
		case BSON_TYPE_BOOL:
			strcpy(buf, bson_iter_bool(it) ? "true" : "false");
			break;
		case BSON_TYPE_NULL:
		case BSON_TYPE_UNDEFINED:
			strcpy(buf, "null");
			break;
		case BSON_TYPE_DECIMAL128:
			{
				bson_decimal128_t dec;

				if (!bson_iter_decimal128(it, &dec))
					return parse_fail(w, "\"%s\" holds an invalid "
									  "Decimal128", field);
				bson_decimal128_to_string(&dec, buf);
				if (!isdigit((unsigned char) buf[buf[0] == '-']))
					return parse_fail(w, "\"%s\" holds a Decimal128 JSON "
									  "cannot represent (NaN or infinite)",
									  field);
				break;
			}
		case BSON_TYPE_ARRAY:
		case BSON_TYPE_DOCUMENT:
			return append_json_container(w, out, it, field, depth);
		default:
			return parse_fail(w, "\"%s\" holds a value %s, which is not "
							  "written as JSON", field,
							  bson_type_label(bson_iter_type(it)));
	}
	sb_append_str(out, buf);
	return true;
}


/*
 * get_text
 *		Deserialize a string field.  NUL characters are rejected: text
 *		cannot hold them, and PQescapeLiteral would silently cut the
 *		string there while COPY would fail, so the two modes would differ.
 */
static bool
get_text(worker *w, const bson_iter_t *it, const char *field,
		 text_field *out)
{
	switch (bson_iter_type(it))
	{
		case BSON_TYPE_UTF8:
			out->str = bson_iter_utf8(it, &out->len);
			if (memchr(out->str, '\0', out->len) != NULL)
				return parse_fail(w, "\"%s\" contains a NUL character",
								  field);
			return true;
		case BSON_TYPE_NULL:
		case BSON_TYPE_UNDEFINED:
			out->str = NULL;
			out->len = 0;
			return true;
		default:
			return parse_fail(w, "\"%s\" is %s, not a string", field,
							  bson_type_label(bson_iter_type(it)));
	}
}

/*
 * get_int4
 *		Deserialize an integer field: an int32, or an int64 or a double
 *		(what the mongo shell writes numbers as) with an integral value
 *		in int4's range.
 */
static bool
get_int4(worker *w, const bson_iter_t *it, const char *field,
		 int32_t *value, bool *isnull)
{
	*isnull = false;
	switch (bson_iter_type(it))
	{
		case BSON_TYPE_INT32:
			*value = bson_iter_int32(it);
			return true;
		case BSON_TYPE_INT64:
			{
				int64_t		v = bson_iter_int64(it);

				if (v < INT32_MIN || v > INT32_MAX)
					return parse_fail(w, "\"%s\" is out of range for "
									  "integer", field);
				*value = (int32_t) v;
				return true;
			}
		case BSON_TYPE_DOUBLE:
			{
				double		d = bson_iter_double(it);

				if (!(d >= INT32_MIN && d <= INT32_MAX) || d != floor(d))
					return parse_fail(w, "\"%s\" is a double that is not "
									  "an integer in range", field);
				*value = (int32_t) d;
				return true;
			}
		case BSON_TYPE_NULL:
		case BSON_TYPE_UNDEFINED:
			*isnull = true;
			return true;
		default:
			return parse_fail(w, "\"%s\" is %s, not an integer", field,
							  bson_type_label(bson_iter_type(it)));
	}
}

/*
 * get_float8
 *		Deserialize a double field (int32 and int64 are converted).
 */
static bool
get_float8(worker *w, const bson_iter_t *it, const char *field,
		   double *value, bool *isnull)
{
	*isnull = false;
	switch (bson_iter_type(it))
	{
		case BSON_TYPE_DOUBLE:
			*value = bson_iter_double(it);
			return true;
		case BSON_TYPE_INT32:
			*value = bson_iter_int32(it);
			return true;
		case BSON_TYPE_INT64:
			*value = (double) bson_iter_int64(it);
			return true;
		case BSON_TYPE_NULL:
		case BSON_TYPE_UNDEFINED:
			*isnull = true;
			return true;
		default:
			return parse_fail(w, "\"%s\" is %s, not a number", field,
							  bson_type_label(bson_iter_type(it)));
	}
}

/*
 * get_bool
 *		Deserialize a bool field.
 */
static bool
get_bool(worker *w, const bson_iter_t *it, const char *field,
		 bool *value, bool *isnull)
{
	*isnull = false;
	switch (bson_iter_type(it))
	{
		case BSON_TYPE_BOOL:
			*value = bson_iter_bool(it);
			return true;
		case BSON_TYPE_NULL:
		case BSON_TYPE_UNDEFINED:
			*isnull = true;
			return true;
		default:
			return parse_fail(w, "\"%s\" is %s, not a bool", field,
							  bson_type_label(bson_iter_type(it)));
	}
}

/*
 * get_date
 *		Deserialize a date field: milliseconds since 1970-01-01 UTC.
 */
static bool
get_date(worker *w, const bson_iter_t *it, const char *field,
		 int64_t *value, bool *isnull)
{
	*isnull = false;
	switch (bson_iter_type(it))
	{
		case BSON_TYPE_DATE_TIME:
			*value = bson_iter_date_time(it);
			return true;
		case BSON_TYPE_NULL:
		case BSON_TYPE_UNDEFINED:
			*isnull = true;
			return true;
		default:
			return parse_fail(w, "\"%s\" is %s, not a date", field,
							  bson_type_label(bson_iter_type(it)));
	}
}

/*
 * get_decimal
 *		Deserialize a numeric field as a decimal string: a Decimal128
 *		through bson_decimal128_to_string, an int32 or int64 as digits, a
 *		double in its shortest round-trip form (NaN and the infinities
 *		spelt as numeric_in reads them).
 */
static bool
get_decimal(worker *w, const bson_iter_t *it, const char *field,
			char *value, bool *isnull)
{
	*isnull = false;
	switch (bson_iter_type(it))
	{
		case BSON_TYPE_DECIMAL128:
			{
				bson_decimal128_t dec;

				if (!bson_iter_decimal128(it, &dec))
					return parse_fail(w, "\"%s\" is an invalid Decimal128",
									  field);
				bson_decimal128_to_string(&dec, value);
				return true;
			}
		case BSON_TYPE_INT32:
			snprintf(value, BSON_DECIMAL128_STRING, "%" PRId32,
					 bson_iter_int32(it));
			return true;
		case BSON_TYPE_INT64:
			snprintf(value, BSON_DECIMAL128_STRING, "%" PRId64,
					 bson_iter_int64(it));
			return true;
		case BSON_TYPE_DOUBLE:
			{
				double		d = bson_iter_double(it);

				if (isnan(d))
					strcpy(value, "NaN");
				else if (isinf(d))
					strcpy(value, d > 0 ? "Infinity" : "-Infinity");
				else
					format_double(d, value, BSON_DECIMAL128_STRING);
				return true;
			}
		case BSON_TYPE_NULL:
		case BSON_TYPE_UNDEFINED:
			*isnull = true;
			return true;
		default:
			return parse_fail(w, "\"%s\" is %s, not a number", field,
							  bson_type_label(bson_iter_type(it)));
	}
}

/*
 * get_json
 *		Deserialize an array or document field into JSON text, kept in buf
 *		(the worker's buffer for that column, reused from row to row).
 */
static bool
get_json(worker *w, const bson_iter_t *it, const char *field, strbuf *buf,
		 text_field *out)
{
	switch (bson_iter_type(it))
	{
		case BSON_TYPE_ARRAY:
		case BSON_TYPE_DOCUMENT:
			sb_reset(buf);
			if (!append_json_container(w, buf, it, field, 1))
				return false;
			out->str = buf->data;
			out->len = (uint32_t) buf->len;
			return true;
		case BSON_TYPE_NULL:
		case BSON_TYPE_UNDEFINED:
			out->str = NULL;
			out->len = 0;
			return true;
		default:
			return parse_fail(w, "\"%s\" is %s, not an array or a "
							  "document", field,
							  bson_type_label(bson_iter_type(it)));
	}
}

/*
 * get_address
 *		Deserialize the address sub-document into street, city and zip;
 *		a missing or null address leaves all three NULL.
 */
static bool
get_address(worker *w, const bson_iter_t *it, user_row *row)
{
	bson_iter_t child;

	row->street.str = row->city.str = row->zip.str = NULL;
	switch (bson_iter_type(it))
	{
		case BSON_TYPE_DOCUMENT:
			break;
		case BSON_TYPE_NULL:
		case BSON_TYPE_UNDEFINED:
			return true;
		default:
			return parse_fail(w, "\"address\" is %s, not a document",
							  bson_type_label(bson_iter_type(it)));
	}
	if (!bson_iter_recurse(it, &child))
		return parse_fail(w, "\"address\" is an invalid BSON document");
	while (bson_iter_next(&child))
	{
		const char *key = bson_iter_key(&child);
		bool		ok = true;

		if (strcmp(key, "street") == 0)
			ok = get_text(w, &child, "address.street", &row->street);
		else if (strcmp(key, "city") == 0)
			ok = get_text(w, &child, "address.city", &row->city);
		else if (strcmp(key, "zip") == 0)
			ok = get_text(w, &child, "address.zip", &row->zip);
		if (!ok)
			return false;
	}
	return true;
}

/* the top-level fields we read */
typedef enum doc_field
{
	FIELD_ID,
	FIELD_SEQ,
	FIELD_NAME,
	FIELD_EMAIL,
	FIELD_AGE,
	FIELD_CREATED,
	FIELD_SCORE,
	FIELD_ACTIVE,
	FIELD_BALANCE,
	FIELD_ADDRESS,
	FIELD_TAGS,
	FIELD_ORDERS,
	FIELD_OTHER
} doc_field;

static const char *const field_names[FIELD_OTHER] = {
	"_id", "seq", "name", "email", "age", "created", "score", "active",
	"balance", "address", "tags", "orders"
};

/*
 * lookup_field
 *		Which of our fields a key names (FIELD_OTHER for the rest).
 */
static doc_field
lookup_field(const char *key, uint32_t keylen)
{
	int			i;

	for (i = 0; i < FIELD_OTHER; i++)
	{
		if (strlen(field_names[i]) == keylen &&
			memcmp(field_names[i], key, keylen) == 0)
			return (doc_field) i;
	}
	return FIELD_OTHER;
}

/*
 * parse_document
 *		Deserialize a document into a user_row, walking its fields once.
 *		Fields we do not know are ignored; if a field occurs twice, the
 *		last one counts.  On failure, w->reason says why.
 */
static bool
parse_document(worker *w, const bson_t *doc, user_row *row)
{
	bson_iter_t it;

	*row = null_row;
	if (!bson_iter_init(&it, doc))
		return parse_fail(w, "invalid BSON document");
	while (bson_iter_next(&it))
	{
		bool		ok = true;

		switch (lookup_field(bson_iter_key(&it), bson_iter_key_len(&it)))
		{
			case FIELD_ID:
				if (BSON_ITER_HOLDS_OID(&it))
				{
					bson_oid_to_string(bson_iter_oid(&it), row->oid);
					row->id_null = false;
				}
				else if (BSON_ITER_HOLDS_NULL(&it))
					row->id_null = true;
				else
					ok = parse_fail(w, "\"_id\" is %s, not an ObjectId",
									bson_type_label(bson_iter_type(&it)));
				break;
			case FIELD_SEQ:
				ok = get_int4(w, &it, "seq", &row->seq, &row->seq_null);
				break;
			case FIELD_NAME:
				ok = get_text(w, &it, "name", &row->name);
				break;
			case FIELD_EMAIL:
				ok = get_text(w, &it, "email", &row->email);
				break;
			case FIELD_AGE:
				ok = get_int4(w, &it, "age", &row->age, &row->age_null);
				break;
			case FIELD_CREATED:
				ok = get_date(w, &it, "created", &row->created,
							  &row->created_null);
				break;
			case FIELD_SCORE:
				ok = get_float8(w, &it, "score", &row->score,
								&row->score_null);
				break;
			case FIELD_ACTIVE:
				ok = get_bool(w, &it, "active", &row->active,
							  &row->active_null);
				break;
			case FIELD_BALANCE:
				ok = get_decimal(w, &it, "balance", row->balance,
								 &row->balance_null);
				break;
			case FIELD_ADDRESS:
				ok = get_address(w, &it, row);
				break;
			case FIELD_TAGS:
				ok = get_json(w, &it, "tags", &w->tags_json, &row->tags);
				break;
			case FIELD_ORDERS:
				ok = get_json(w, &it, "orders", &w->orders_json,
							  &row->orders);
				break;
			case FIELD_OTHER:
				break;
		}
		if (!ok)
			return false;
	}
	return true;
}


/*
 * sql_append_identifier
 *		Append an identifier, quoted by libpq.
 */
static bool
sql_append_identifier(worker *w, strbuf *sql, const char *name, size_t len)
{
	char	   *quoted = PQescapeIdentifier(w->conn, name, len);

	if (quoted == NULL)
		return worker_error(w, "worker %d: could not quote identifier "
							"\"%s\": %s", w->index, name,
							PQerrorMessage(w->conn));
	sb_append_str(sql, quoted);
	PQfreemem(quoted);
	return true;
}

/*
 * sql_append_table
 *		Append the target table's name, quoted; "schema.table" when the
 *		name given contains a dot.
 */
static bool
sql_append_table(worker *w, strbuf *sql)
{
	const char *table = w->opts->table;
	const char *dot = strchr(table, '.');

	if (dot != NULL)
	{
		if (!sql_append_identifier(w, sql, table, (size_t) (dot - table)))
			return false;
		sb_append_char(sql, '.');
		table = dot + 1;
	}
	return sql_append_identifier(w, sql, table, strlen(table));
}

/*
 * sql_append_columns
 *		Append the parenthesized, quoted list of the target's columns.
 */
static bool
sql_append_columns(worker *w, strbuf *sql)
{
	int			i;

	sb_append_str(sql, " (");
	for (i = 0; i < NCOLUMNS; i++)
	{
		if (i > 0)
			sb_append_str(sql, ", ");
		if (!sql_append_identifier(w, sql, column_names[i],
								   strlen(column_names[i])))
			return false;
	}
	sb_append_char(sql, ')');
	return true;
}

/*
 * sql_append_literal
 *		Append a string as an SQL literal, escaped by libpq for the
 *		connection's encoding and settings.  A NULL string appends NULL.
 */
static bool
sql_append_literal(worker *w, strbuf *sql, const char *s, size_t len)
{
	char	   *literal;

	if (s == NULL)
	{
		sb_append_str(sql, "NULL");
		return true;
	}
	literal = PQescapeLiteral(w->conn, s, len);
	if (literal == NULL)
		return worker_error(w, "worker %d: could not quote a value: %s",
							w->index, PQerrorMessage(w->conn));
	sb_append_str(sql, literal);
	PQfreemem(literal);
	return true;
}

/*
 * sql_append_int4
 *		Append an integer literal (or NULL).
 */
static void
sql_append_int4(strbuf *sql, int32_t value, bool isnull)
{
	char		buf[16];

	if (isnull)
		sb_append_str(sql, "NULL");
	else
	{
		snprintf(buf, sizeof(buf), "%" PRId32, value);
		sb_append_str(sql, buf);
	}
}

/*
 * sql_append_float8
 *		Append a double as a quoted literal (or NULL), which float8in reads
 *		back exactly: the shortest round-trip digits, or NaN, Infinity,
 *		-Infinity.  Quoted, it is typed by its column and does not go
 *		through numeric first.
 */
static void
sql_append_float8(strbuf *sql, double value, bool isnull)
{
	char		buf[DOUBLE_BUFSIZE];

	if (isnull)
	{
		sb_append_str(sql, "NULL");
		return;
	}
	if (isnan(value))
		strcpy(buf, "NaN");
	else if (isinf(value))
		strcpy(buf, value > 0 ? "Infinity" : "-Infinity");
	else
		format_double(value, buf, sizeof(buf));
	sb_append_char(sql, '\'');
	sb_append_str(sql, buf);
	sb_append_char(sql, '\'');
}

/*
 * insert_flush
 *		Send the INSERT statement built so far, if it has rows, and check
 *		that the server inserted them all.
 */
static bool
insert_flush(worker *w)
{
	PGresult   *res;

	if (w->batch_rows == 0)
		return true;
	if (!check_result(w, PQexec(w->conn, w->out.data), PGRES_COMMAND_OK,
					  "INSERT", &res))
		return false;
	if (!check_row_count(w, res, "INSERT", w->batch_rows))
		return false;
	w->rows += w->batch_rows;
	w->batch_rows = 0;
	return true;
}

/*
 * insert_add_row
 *		Append a row to the multi-row INSERT being built, as
 *		"(v1, v2, ...)"; send the statement when it has a batch of rows.
 */
static bool
insert_add_row(worker *w, const user_row *row)
{
	strbuf	   *sql = &w->out;
	char		buf[TIMESTAMP_BUFSIZE];

	if (w->batch_rows == 0)
	{
		sb_reset(sql);
		sb_append(sql, w->prefix.data, w->prefix.len);
	}
	else
		sb_append_char(sql, ',');

	sb_append_char(sql, '(');
	if (!sql_append_literal(w, sql, row->id_null ? NULL : row->oid, 24))
		return false;
	sb_append_char(sql, ',');
	sql_append_int4(sql, row->seq, row->seq_null);
	sb_append_char(sql, ',');
	if (!sql_append_literal(w, sql, row->name.str, row->name.len))
		return false;
	sb_append_char(sql, ',');
	if (!sql_append_literal(w, sql, row->email.str, row->email.len))
		return false;
	sb_append_char(sql, ',');
	sql_append_int4(sql, row->age, row->age_null);
	sb_append_char(sql, ',');
	if (row->created_null)
		sb_append_str(sql, "NULL");
	else if (format_timestamp(row->created, buf, sizeof(buf)))
		sb_append_str(sql, buf);
	else
		return worker_error(w, "worker %d: document with seq %d: "
							"\"created\" is out of range", w->index,
							row->seq);
	sb_append_char(sql, ',');
	sql_append_float8(sql, row->score, row->score_null);
	sb_append_char(sql, ',');
	sb_append_str(sql, row->active_null ? "NULL" :
				  row->active ? "true" : "false");
	sb_append_char(sql, ',');
	if (!sql_append_literal(w, sql, row->balance_null ? NULL : row->balance,
							strlen(row->balance)))
		return false;
	sb_append_char(sql, ',');
	if (!sql_append_literal(w, sql, row->street.str, row->street.len))
		return false;
	sb_append_char(sql, ',');
	if (!sql_append_literal(w, sql, row->city.str, row->city.len))
		return false;
	sb_append_char(sql, ',');
	if (!sql_append_literal(w, sql, row->zip.str, row->zip.len))
		return false;
	sb_append_char(sql, ',');
	if (!sql_append_literal(w, sql, row->tags.str, row->tags.len))
		return false;
	sb_append_char(sql, ',');
	if (!sql_append_literal(w, sql, row->orders.str, row->orders.len))
		return false;
	sb_append_char(sql, ')');

	if (++w->batch_rows >= w->batch)
		return insert_flush(w);
	return true;
}


/*
 * copy_send
 *		Hand the COPY data buffered so far to libpq.  In blocking mode,
 *		PQputCopyData returns 1 or, when the connection is broken, -1;
 *		errors of the COPY itself are reported by its final result.
 */
static bool
copy_send(worker *w)
{
	if (w->out.len == 0)
		return true;
	if (PQputCopyData(w->conn, w->out.data, (int) w->out.len) != 1)
		return worker_error(w, "worker %d: could not send COPY data: %s",
							w->index, PQerrorMessage(w->conn));
	sb_reset(&w->out);
	return true;
}

/*
 * copy_begin
 *		Start a binary COPY and buffer its header: the signature, the
 *		flags (no OIDs) and the length of the (empty) header extension.
 */
static bool
copy_begin(worker *w)
{
	static const char signature[11] = "PGCOPY\n\377\r\n\0";

	if (!check_result(w, PQexec(w->conn, w->prefix.data), PGRES_COPY_IN,
					  "COPY", NULL))
		return false;
	w->in_copy = true;
	sb_reset(&w->out);
	sb_append(&w->out, signature, sizeof(signature));
	sb_append_int32(&w->out, 0);
	sb_append_int32(&w->out, 0);
	return true;
}

/*
 * copy_end
 *		Finish the COPY in progress, if any: the trailer, the rest of the
 *		data, the end of data; then check its result and that the server
 *		loaded all the rows sent.
 */
static bool
copy_end(worker *w)
{
	PGresult   *res;

	if (!w->in_copy)
		return true;
	sb_append_int16(&w->out, 0xFFFF);
	if (!copy_send(w))
		return false;
	w->in_copy = false;
	if (PQputCopyEnd(w->conn, NULL) != 1)
		return worker_error(w, "worker %d: could not end COPY: %s",
							w->index, PQerrorMessage(w->conn));
	if (!check_result(w, PQgetResult(w->conn), PGRES_COMMAND_OK, "COPY",
					  &res))
		return false;
	if (!check_row_count(w, res, "COPY", w->batch_rows))
		return false;
	res = PQgetResult(w->conn);
	if (res != NULL)
	{
		PQclear(res);
		return worker_error(w, "worker %d: unexpected result after COPY",
							w->index);
	}
	w->rows += w->batch_rows;
	w->batch_rows = 0;
	return true;
}

/*
 * copy_text
 *		Append a text field (or NULL) in binary COPY: its length, then its
 *		bytes, which are just the string's (in the client encoding, UTF8).
 */
static void
copy_text(strbuf *b, const char *s, uint32_t len)
{
	if (s == NULL)
	{
		sb_append_int32(b, UINT32_MAX);
		return;
	}
	sb_append_int32(b, len);
	sb_append(b, s, len);
}

/*
 * copy_int4
 *		Append an int4 field (or NULL) in binary COPY.
 */
static void
copy_int4(strbuf *b, int32_t value, bool isnull)
{
	if (isnull)
	{
		sb_append_int32(b, UINT32_MAX);
		return;
	}
	sb_append_int32(b, 4);
	sb_append_int32(b, (uint32_t) value);
}

/*
 * copy_float8
 *		Append a float8 field (or NULL) in binary COPY: the IEEE 754 bits.
 */
static void
copy_float8(strbuf *b, double value, bool isnull)
{
	uint64_t	bits;

	if (isnull)
	{
		sb_append_int32(b, UINT32_MAX);
		return;
	}
	memcpy(&bits, &value, sizeof(bits));
	sb_append_int32(b, 8);
	sb_append_int64(b, bits);
}

/*
 * copy_jsonb
 *		Append a jsonb field (or NULL) in binary COPY: the format version
 *		byte, 1, followed by the JSON text.
 */
static void
copy_jsonb(strbuf *b, const char *s, uint32_t len)
{
	if (s == NULL)
	{
		sb_append_int32(b, UINT32_MAX);
		return;
	}
	sb_append_int32(b, len + 1);
	sb_append_char(b, 1);
	sb_append(b, s, len);
}

/*
 * copy_add_row
 *		Append a row to the COPY in progress (starting one if needed):
 *		the field count, then each field as its int32 length (-1 for NULL)
 *		and its value in binary form.  Data goes to libpq in chunks of
 *		about COPY_CHUNK_SIZE; the COPY ends after a batch of rows.
 */
static bool
copy_add_row(worker *w, const user_row *row)
{
	strbuf	   *b = &w->out;

	if (!w->in_copy && !copy_begin(w))
		return false;

	sb_append_int16(b, NCOLUMNS);
	copy_text(b, row->id_null ? NULL : row->oid, 24);
	copy_int4(b, row->seq, row->seq_null);
	copy_text(b, row->name.str, row->name.len);
	copy_text(b, row->email.str, row->email.len);
	copy_int4(b, row->age, row->age_null);
	if (row->created_null)
		sb_append_int32(b, UINT32_MAX);
	else
	{
		/* microseconds since 2000-01-01, avoiding overflow in C */
		if (row->created > INT64_MAX / 1000 ||
			row->created < (INT64_MIN + POSTGRES_EPOCH_USECS) / 1000)
			return worker_error(w, "worker %d: document with seq %d: "
								"\"created\" is out of range", w->index,
								row->seq);
		sb_append_int32(b, 8);
		sb_append_int64(b, (uint64_t) (row->created * 1000 -
									   POSTGRES_EPOCH_USECS));
	}
	copy_float8(b, row->score, row->score_null);
	if (row->active_null)
		sb_append_int32(b, UINT32_MAX);
	else
	{
		sb_append_int32(b, 1);
		sb_append_char(b, row->active ? 1 : 0);
	}
	if (row->balance_null)
		sb_append_int32(b, UINT32_MAX);
	else
	{
		size_t		start;
		const char *error;

		sb_append_int32(b, 0);	/* length, patched below */
		start = b->len;
		error = append_numeric_binary(b, row->balance);
		if (error != NULL)
			return worker_error(w, "worker %d: document with seq %d: "
								"\"balance\" %s: %s", w->index, row->seq,
								row->balance, error);
		sb_patch_int32(b, start - 4, (uint32_t) (b->len - start));
	}
	copy_text(b, row->street.str, row->street.len);
	copy_text(b, row->city.str, row->city.len);
	copy_text(b, row->zip.str, row->zip.len);
	copy_jsonb(b, row->tags.str, row->tags.len);
	copy_jsonb(b, row->orders.str, row->orders.len);

	w->batch_rows++;
	if (b->len >= COPY_CHUNK_SIZE && !copy_send(w))
		return false;
	if (w->batch_rows >= w->batch)
		return copy_end(w);
	return true;
}


/*
 * worker_load_document
 *		Deserialize one document and add it to the current batch, which
 *		is sent when full.
 */
static bool
worker_load_document(worker *w, const bson_t *doc)
{
	user_row	row;

	if (!parse_document(w, doc, &row))
	{
		bson_iter_t it;
		char		id[25] = "?";

		if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
			bson_oid_to_string(bson_iter_oid(&it), id);
		return worker_error(w, "worker %d: document with _id %s: %s",
							w->index, id, w->reason);
	}
	if (w->opts->mode == MODE_INSERT)
		return insert_add_row(w, &row);
	return copy_add_row(w, &row);
}

/*
 * worker_flush
 *		Send the last, partial batch.
 */
static bool
worker_flush(worker *w)
{
	if (w->opts->mode == MODE_INSERT)
		return insert_flush(w);
	return copy_end(w);
}

/*
 * worker_connect
 *		Connect the worker to PostgreSQL (client encoding UTF8, as BSON
 *		strings are), build the statement every batch starts with, and
 *		open the worker's transaction.
 */
static bool
worker_connect(worker *w)
{
	const options *opts = w->opts;

	w->conn = PQconnectdb(opts->pg_conninfo);
	if (w->conn == NULL)
		return worker_error(w, "worker %d: out of memory", w->index);
	if (PQstatus(w->conn) != CONNECTION_OK)
		return worker_error(w, "worker %d: could not connect to "
							"PostgreSQL: %s", w->index,
							PQerrorMessage(w->conn));
	if (PQsetClientEncoding(w->conn, "UTF8") != 0)
		return worker_error(w, "worker %d: could not set client encoding: "
							"%s", w->index, PQerrorMessage(w->conn));

	sb_reset(&w->prefix);
	sb_append_str(&w->prefix,
				  opts->mode == MODE_INSERT ? "INSERT INTO " : "COPY ");
	if (!sql_append_table(w, &w->prefix) ||
		!sql_append_columns(w, &w->prefix))
		return false;
	sb_append_str(&w->prefix, opts->mode == MODE_INSERT ? " VALUES " :
				  " FROM STDIN (FORMAT binary)");

	return check_result(w, PQexec(w->conn, "BEGIN"), PGRES_COMMAND_OK,
						"BEGIN", NULL);
}

/*
 * worker_load_range
 *		Read the documents whose seq is in the worker's range, with its
 *		own client, and load them through its own connection.
 */
static bool
worker_load_range(worker *w)
{
	const options *opts = w->opts;
	mongoc_collection_t *coll;
	mongoc_cursor_t *cursor;
	bson_t	   *filter;
	bson_t	   *find_opts;
	const bson_t *doc;
	bson_error_t error;
	bool		ok = true;

	if (!worker_connect(w))
		return false;

	coll = mongoc_client_get_collection(w->mongo, opts->db,
										opts->collection);
	filter = BCON_NEW("seq", "{",
					  "$gte", BCON_INT64(w->lo),
					  "$lt", BCON_INT64(w->hi),
					  "}");
	find_opts = BCON_NEW("batchSize", BCON_INT32(CURSOR_BATCH_SIZE));
	cursor = mongoc_collection_find_with_opts(coll, filter, find_opts, NULL);

	while (ok && mongoc_cursor_next(cursor, &doc))
	{
		if (atomic_load_explicit(&w->shared->stop, memory_order_relaxed))
		{
			w->gave_up = true;
			ok = worker_error(w, "worker %d: stopped", w->index);
			break;
		}
		ok = worker_load_document(w, doc);
	}
	if (ok && mongoc_cursor_error(cursor, &error))
		ok = worker_error(w, "worker %d: reading %s.%s failed: %s",
						  w->index, opts->db, opts->collection,
						  error.message);
	if (ok)
		ok = worker_flush(w);

	mongoc_cursor_destroy(cursor);
	bson_destroy(find_opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	return ok;
}

/*
 * worker_finish
 *		The commit gate.  Wait until every worker is done loading; then
 *		commit if they all succeeded and together loaded as many rows as
 *		expected, else just disconnect, which rolls the transaction back.
 *		A worker that fails (or stops early) still comes here, so nobody
 *		waits forever.
 */
static void
worker_finish(worker *w)
{
	shared_state *s = w->shared;
	bool		commit;

	pthread_mutex_lock(&s->lock);
	s->arrived++;
	if (w->failed)
		s->failed = true;
	else
		s->total_rows += w->rows;
	if (s->arrived == s->nworkers)
		pthread_cond_broadcast(&s->all_arrived);
	while (s->arrived < s->nworkers)
		pthread_cond_wait(&s->all_arrived, &s->lock);
	commit = !s->failed && s->total_rows == s->expected_rows;
	pthread_mutex_unlock(&s->lock);

	if (commit &&
		check_result(w, PQexec(w->conn, "COMMIT"), PGRES_COMMAND_OK,
					 "COMMIT", NULL))
		w->committed = true;
	if (w->conn)
		PQfinish(w->conn);
	w->conn = NULL;
}

/*
 * worker_main
 *		The body of a worker thread.
 */
static void *
worker_main(void *arg)
{
	worker	   *w = arg;

	(void) worker_load_range(w);
	worker_finish(w);
	return NULL;
}


/*
 * log_handler
 *		libmongoc's log output, less one harmless warning: destroying a
 *		client sends endSessions, which servers without sessions (FerretDB
 *		1.x, which the benchmark runs against) reject, and the driver
 *		warns about it on stderr.  Everything else goes to the driver's
 *		default handler.
 */
static void
log_handler(mongoc_log_level_t level, const char *domain,
			const char *message, void *user_data)
{
	if (level == MONGOC_LOG_LEVEL_WARNING &&
		strstr(message, "\"endSessions\"") != NULL)
		return;
	mongoc_log_default_handler(level, domain, message, user_data);
}

/*
 * new_mongo_client
 *		A client for one thread (clients are not thread-safe, so each
 *		worker has its own), reporting errors with the current error API.
 */
static mongoc_client_t *
new_mongo_client(const mongoc_uri_t *uri)
{
	mongoc_client_t *client;
	bson_error_t error;

	client = mongoc_client_new_from_uri_with_error(uri, &error);
	if (client == NULL)
		die("could not create a MongoDB client: %s", error.message);
	if (!mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2))
		die("could not set the MongoDB client's error API");
	if (!mongoc_client_set_appname(client, PROGNAME))
		die("could not set the MongoDB client's application name");
	return client;
}

/*
 * count_documents
 *		The number of documents in the collection: the seq values to split
 *		between the workers are 0 to that number minus one.
 */
static int64_t
count_documents(const options *opts, const mongoc_uri_t *uri)
{
	mongoc_client_t *client = new_mongo_client(uri);
	mongoc_collection_t *coll;
	bson_t		filter = BSON_INITIALIZER;
	bson_error_t error;
	int64_t		n;

	coll = mongoc_client_get_collection(client, opts->db, opts->collection);
	n = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL,
										  &error);
	if (n < 0)
		die("could not count the documents of %s.%s: %s",
			opts->db, opts->collection, error.message);
	if (n > (int64_t) INT32_MAX + 1)
		die("%s.%s has %" PRId64 " documents, more than int32 seq "
			"values", opts->db, opts->collection, n);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	return n;
}

/*
 * init_worker
 *		Set up a worker's fields before its thread starts.
 */
static void
init_worker(worker *w, int index, const options *opts, shared_state *shared)
{
	memset(w, 0, sizeof(*w));
	w->index = index;
	w->opts = opts;
	w->shared = shared;
	w->batch = opts->batch;
}

/*
 * free_worker
 *		Release what a worker allocated.
 */
static void
free_worker(worker *w)
{
	if (w->conn)
		PQfinish(w->conn);
	if (w->mongo)
		mongoc_client_destroy(w->mongo);
	sb_free(&w->prefix);
	sb_free(&w->out);
	sb_free(&w->tags_json);
	sb_free(&w->orders_json);
}

/*
 * init_shared
 *		Set up the state the workers share.
 */
static void
init_shared(shared_state *s, int nworkers, int64_t expected_rows)
{
	memset(s, 0, sizeof(*s));
	if (pthread_mutex_init(&s->lock, NULL) != 0 ||
		pthread_cond_init(&s->all_arrived, NULL) != 0)
		die("could not initialize thread synchronization");
	s->nworkers = nworkers;
	s->expected_rows = expected_rows;
	atomic_init(&s->stop, false);
}

/*
 * report_workers
 *		After the load, decide and report the outcome: print the errors of
 *		the workers that failed (not those that merely stopped because of
 *		them) and return false, or return true with the rows loaded.
 */
static bool
report_workers(worker *workers, int nworkers, shared_state *shared,
			   int64_t *rows)
{
	bool		ok = true;
	int			ncommitted = 0;
	int			i;

	*rows = 0;
	for (i = 0; i < nworkers; i++)
	{
		worker	   *w = &workers[i];

		if (w->committed)
			ncommitted++;
		*rows += w->rows;
		if (w->failed && !w->gave_up)
		{
			fprintf(stderr, "%s: %s\n", PROGNAME, w->errmsg);
			ok = false;
		}
	}
	if (ok && !shared->failed && shared->total_rows != shared->expected_rows)
	{
		fprintf(stderr, "%s: loaded %" PRId64 " rows, but the collection "
				"has %" PRId64 " documents (documents without a seq in 0.."
				"N-1?)\n", PROGNAME,
				shared->total_rows, shared->expected_rows);
		ok = false;
	}
	if (ok && ncommitted != nworkers)
	{
		fprintf(stderr, "%s: not every worker committed\n", PROGNAME);
		ok = false;
	}
	if (!ok && ncommitted > 0)
		fprintf(stderr, "%s: %d of %d workers had committed: the table "
				"holds a partial load\n", PROGNAME, ncommitted, nworkers);
	else if (!ok)
		fprintf(stderr, "%s: nothing was committed\n", PROGNAME);
	return ok;
}


/*
 * The numeric self-test's fixed cases: decimal strings as a Decimal128
 * parses them, and what PostgreSQL should print for them (NULL: whatever
 * numeric_in makes of the same string, which is always checked).
 */
static const struct
{
	const char *input;
	const char *expected;
}			numeric_cases[] = {
	{"0", "0"},
	{"-0", "0"},
	{"0.00", "0.00"},
	{"-0.00", "0.00"},
	{"1", "1"},
	{"-1", "-1"},
	{"1.5E+3", "1500"},
	{"-1.5E+3", "-1500"},
	{"1E+3", "1000"},
	{"1500E-2", "15.00"},
	{"1.50", "1.50"},
	{"0.0001", "0.0001"},
	{"0.00012345", "0.00012345"},
	{"-1.23E-7", "-0.000000123"},
	{"12345.6789", "12345.6789"},
	{"-9999.9999", "-9999.9999"},
	{"9999", "9999"},
	{"10000", "10000"},
	{"10001", "10001"},
	{"99999999", "99999999"},
	{"100000000", "100000000"},
	{"123456789.987654321", "123456789.987654321"},
	{"1234567890123456789012345678901234", NULL},
	{"0.1234567890123456789012345678901234", NULL},
	{"9.999999999999999999999999999999999E+6144", NULL},
	{"-9.999999999999999999999999999999999E+6144", NULL},
	{"1E-6176", NULL},
	{"-1.000000000000000000000000000000000E-6143", NULL},
	{"0E-6176", NULL},
	{"0E+6111", "0"},
	{"5E+1", "50"},
	{"7E-1", "0.7"},
	{"-12345678.90", "-12345678.90"},
	{"NaN", "NaN"},
	{"Infinity", "Infinity"},
	{"-Infinity", "-Infinity"},
};

/*
 * selftest_random
 *		A small deterministic pseudo-random generator (xorshift64) for the
 *		self-test's random decimals, so that runs are reproducible.
 */
static uint64_t
selftest_random(uint64_t *state)
{
	uint64_t	x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/*
 * selftest_decimal
 *		The i-th test decimal, as bson_decimal128_to_string prints it: the
 *		fixed cases first, then random ones (half with small exponents,
 *		as real amounts have, half over the whole Decimal128 range).
 *		*expected is set for fixed cases that have an expected text.
 */
static void
selftest_decimal(int i, uint64_t *rng, bson_decimal128_t *dec,
				 char *str, const char **expected)
{
	int			nfixed = (int) (sizeof(numeric_cases) /
								sizeof(numeric_cases[0]));
	char		input[96];

	*expected = NULL;
	if (i < nfixed)
	{
		snprintf(input, sizeof(input), "%s", numeric_cases[i].input);
		*expected = numeric_cases[i].expected;
	}
	else
	{
		int			ndigits = 1 + (int) (selftest_random(rng) % 34);
		int			exponent;
		int			len = 0;
		int			d;

		if (i % 2 == 0)
			exponent = (int) (selftest_random(rng) % 41) - 20;
		else
			exponent = (int) (selftest_random(rng) % (6111 + 6176 + 1))
				- 6176;
		if (selftest_random(rng) % 2)
			input[len++] = '-';
		for (d = 0; d < ndigits; d++)
			input[len++] = (char) ('0' + selftest_random(rng) % 10);
		snprintf(input + len, sizeof(input) - len, "E%d", exponent);
	}
	if (!bson_decimal128_from_string(input, dec))
		die("self-test: Decimal128 rejects \"%s\"", input);
	bson_decimal128_to_string(dec, str);
}

/*
 * selftest_check_numeric
 *		Send a decimal string to the server twice, once in our binary
 *		encoding and once as text for numeric_in, and check that both
 *		print the same (and the expected text, when there is one).
 */
static bool
selftest_check_numeric(PGconn *conn, const char *str, const char *expected)
{
	strbuf		bin = {0};
	const char *error = append_numeric_binary(&bin, str);
	const Oid	types[2] = {NUMERICOID, NUMERICOID};
	const char *values[2];
	int			lengths[2];
	const int	formats[2] = {1, 0};
	PGresult   *res;
	bool		ok = true;

	if (error != NULL)
	{
		fprintf(stderr, "%s: self-test: \"%s\": %s\n", PROGNAME, str, error);
		sb_free(&bin);
		return false;
	}
	values[0] = bin.data;
	lengths[0] = (int) bin.len;
	values[1] = str;
	lengths[1] = 0;
	res = PQexecParams(conn, "SELECT $1::text, $2::text", 2, types, values,
					   lengths, formats, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "%s: self-test: \"%s\": %s", PROGNAME, str,
				PQerrorMessage(conn));
		ok = false;
	}
	else if (strcmp(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1)) != 0 ||
			 (expected && strcmp(PQgetvalue(res, 0, 0), expected) != 0))
	{
		const char *bin_text = PQgetvalue(res, 0, 0);
		const char *text = PQgetvalue(res, 0, 1);
		size_t		from = 0;

		/* show where they differ: the texts can be 6000 digits long */
		while (bin_text[from] && bin_text[from] == text[from])
			from++;
		from = from > 20 ? from - 20 : 0;
		fprintf(stderr, "%s: self-test: \"%s\": from character %zu, "
				"binary gives \"%.60s\", text gives \"%.60s\", expected "
				"\"%s\"\n", PROGNAME, str, from, bin_text + from,
				text + from, expected ? expected : "(the same)");
		ok = false;
	}
	PQclear(res);
	sb_free(&bin);
	return ok;
}

/*
 * selftest_document
 *		The i-th self-test document: _id, seq i and balance dec, and, by
 *		i, missing fields, nulls and the edge cases of every other
 *		conversion (quotes, backslashes, control characters and non-ASCII
 *		in strings and keys, special doubles, dates before 1970 and
 *		before 1 AD, int64 and doubles given for integers, nested JSON).
 */
static void
selftest_document(int i, const bson_decimal128_t *dec, bson_t *doc)
{
	static const char *const names[] = {
		"O'Brien", "back\\slash", "quote\"d", "tab\tnew\nline\r",
		"\xc3\xbc" "n" "\xc3\xaf" "c" "\xc3\xb6" "d" "\xc3\xa9"
		" \xe2\x82\xac",
		"emoji \xf0\x9f\x98\x80", "", "\x01\x1f\x7f ctl", "plain"
	};
	static const double scores[] = {
		0.1, -0.0, 1e308, 5e-324, NAN, INFINITY, -INFINITY,
		1.0 / 3.0, 123.45, 2.2250738585072014e-308, 1e21, 100.0
	};
	static const int64_t dates[] = {
		0, -1, 1, 999, -999, INT64_C(1700000000123),
		INT64_C(-62135596800000), INT64_C(-62135596800001),
		INT64_C(253402300799999), INT64_C(-210863520000000),
		INT64_C(4102444800000), INT64_C(-86400000)
	};
	uint8_t		oid_bytes[12] = {0x65, 0, 0, 0, 0, 0, 0, 0};
	bson_oid_t	oid;
	bson_t		child;
	bson_t		grandchild;
	char		buf[64];
	int			v = i / 2;

	oid_bytes[8] = (uint8_t) (i >> 24);
	oid_bytes[9] = (uint8_t) (i >> 16);
	oid_bytes[10] = (uint8_t) (i >> 8);
	oid_bytes[11] = (uint8_t) i;
	bson_oid_init_from_data(&oid, oid_bytes);
	bson_init(doc);
	BSON_APPEND_OID(doc, "_id", &oid);
	BSON_APPEND_INT32(doc, "seq", i);
	BSON_APPEND_DECIMAL128(doc, "balance", dec);
	if (i % 11 == 0)
		return;					/* every other field missing */
	if (i % 11 == 1)
	{
		BSON_APPEND_NULL(doc, "name");
		BSON_APPEND_NULL(doc, "email");
		BSON_APPEND_NULL(doc, "age");
		BSON_APPEND_NULL(doc, "created");
		BSON_APPEND_NULL(doc, "score");
		BSON_APPEND_NULL(doc, "active");
		BSON_APPEND_NULL(doc, "address");
		BSON_APPEND_NULL(doc, "tags");
		BSON_APPEND_NULL(doc, "orders");
		return;
	}

	BSON_APPEND_UTF8(doc, "name", names[v % 9]);
	snprintf(buf, sizeof(buf), "user%d@example.com", i);
	BSON_APPEND_UTF8(doc, "email", buf);
	if (v % 3 == 0)
		BSON_APPEND_INT32(doc, "age", v % 100);
	else if (v % 3 == 1)
		BSON_APPEND_INT64(doc, "age", -(int64_t) v);
	else
		BSON_APPEND_DOUBLE(doc, "age", 42.0);
	BSON_APPEND_DATE_TIME(doc, "created",
						  dates[v % 12] + (int64_t) i * 86400123);
	if (v % 5 == 4)
		BSON_APPEND_INT32(doc, "score", v);
	else
		BSON_APPEND_DOUBLE(doc, "score", scores[v % 12]);
	if (v % 3 != 2)
		BSON_APPEND_BOOL(doc, "active", v % 3 == 0);

	BSON_APPEND_DOCUMENT_BEGIN(doc, "address", &child);
	if (v % 4 != 1)
		BSON_APPEND_UTF8(&child, "street", names[(v + 3) % 9]);
	BSON_APPEND_UTF8(&child, "city", "Z\xc3\xbcrich");
	if (v % 4 == 2)
		BSON_APPEND_NULL(&child, "zip");
	else
		BSON_APPEND_UTF8(&child, "zip", "01234");
	BSON_APPEND_UTF8(&child, "country", "ignored");
	bson_append_document_end(doc, &child);

	BSON_APPEND_ARRAY_BEGIN(doc, "tags", &child);
	switch (v % 4)
	{
		case 0:
			BSON_APPEND_UTF8(&child, "0", "vip");
			BSON_APPEND_UTF8(&child, "1", names[v % 9]);
			BSON_APPEND_UTF8(&child, "2", "\\\"\x01");
			break;
		case 1:
			break;
		case 2:
			BSON_APPEND_INT32(&child, "0", 1);
			BSON_APPEND_DOUBLE(&child, "1", 2.5);
			BSON_APPEND_BOOL(&child, "2", true);
			BSON_APPEND_NULL(&child, "3");
			BSON_APPEND_INT64(&child, "4", INT64_C(9007199254740993));
			BSON_APPEND_DOUBLE(&child, "5", scores[(v / 4) % 4]);
			BSON_APPEND_DECIMAL128(&child, "6", dec);
			break;
		default:
			BSON_APPEND_ARRAY_BEGIN(&child, "0", &grandchild);
			BSON_APPEND_UTF8(&grandchild, "0", "nested");
			bson_append_array_end(&child, &grandchild);
			BSON_APPEND_DOCUMENT_BEGIN(&child, "1", &grandchild);
			BSON_APPEND_UTF8(&grandchild, "k\"ey", "v");
			BSON_APPEND_UTF8(&grandchild, "\xc3\xa9", "\xc3\xa9");
			bson_append_document_end(&child, &grandchild);
			break;
	}
	bson_append_array_end(doc, &child);

	BSON_APPEND_ARRAY_BEGIN(doc, "orders", &child);
	for (int k = 0; k < v % 6; k++)
	{
		char		key[16];

		snprintf(key, sizeof(key), "%d", k);
		BSON_APPEND_DOCUMENT_BEGIN(&child, key, &grandchild);
		snprintf(buf, sizeof(buf), "SKU-%04d", (i * 7 + k) % 10000);
		BSON_APPEND_UTF8(&grandchild, "sku", buf);
		BSON_APPEND_INT32(&grandchild, "qty", k + 1);
		BSON_APPEND_DOUBLE(&grandchild, "price",
						   (double) ((i * 31 + k * 17) % 100000) / 100);
		bson_append_document_end(&child, &grandchild);
	}
	bson_append_array_end(doc, &child);
}

/*
 * run_selftest_numeric
 *		--selftest-numeric: check the numeric encoding against the server,
 *		then, with --table, load the self-test documents in --mode through
 *		the normal row path (one worker, one transaction).
 */
static int
run_selftest_numeric(const options *opts)
{
	const int	ndecimals = 4000;
	uint64_t	rng = UINT64_C(0x9E3779B97F4A7C15);
	PGconn	   *conn;
	int			nfailed = 0;
	int			i;
	shared_state shared;
	worker		w;
	bool		ok;
	int64_t		rows;

	conn = PQconnectdb(opts->pg_conninfo);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		die("could not connect to PostgreSQL: %s",
			conn ? PQerrorMessage(conn) : "out of memory");
	for (i = 0; i < ndecimals; i++)
	{
		bson_decimal128_t dec;
		char		str[BSON_DECIMAL128_STRING];
		const char *expected;

		selftest_decimal(i, &rng, &dec, str, &expected);
		if (!selftest_check_numeric(conn, str, expected))
			nfailed++;
	}
	PQfinish(conn);
	if (nfailed > 0)
		die("numeric self-test: %d of %d decimals failed", nfailed,
			ndecimals);
	fprintf(stderr, "%s: numeric self-test: %d decimals encoded as "
			"numeric_in reads them\n", PROGNAME, ndecimals);
	if (opts->table == NULL)
		return 0;

	/* load the self-test documents through the row path */
	init_shared(&shared, 1, ndecimals);
	init_worker(&w, 0, opts, &shared);
	rng = UINT64_C(0x9E3779B97F4A7C15);
	ok = worker_connect(&w);
	for (i = 0; ok && i < ndecimals; i++)
	{
		bson_decimal128_t dec;
		char		str[BSON_DECIMAL128_STRING];
		const char *expected;
		bson_t		doc;

		selftest_decimal(i, &rng, &dec, str, &expected);
		selftest_document(i, &dec, &doc);
		ok = worker_load_document(&w, &doc);
		bson_destroy(&doc);
	}
	if (ok)
		(void) worker_flush(&w);
	worker_finish(&w);
	ok = report_workers(&w, 1, &shared, &rows);
	free_worker(&w);
	if (!ok)
		return 1;
	printf("rows=%" PRId64 "\n", rows);
	return 0;
}


/*
 * usage
 *		Print the command line's synopsis.
 */
static void
usage(FILE *f)
{
	fprintf(f,
			"Usage: %s --mongo URI --db DB --collection COLL --pg CONNINFO\n"
			"           --table TABLE [--workers W] --mode insert|copy "
			"[--batch N]\n"
			"       %s --selftest-numeric --pg CONNINFO "
			"[--table TABLE --mode insert|copy]\n"
			"Loads a MongoDB collection into a PostgreSQL table, reading\n"
			"with W threads (default 2), each taking a range of seq, and\n"
			"writing N rows per INSERT (default %d) or COPY (default %d).\n",
			PROGNAME, PROGNAME, DEFAULT_INSERT_BATCH, DEFAULT_COPY_BATCH);
}

/*
 * parse_long
 *		Parse a whole decimal number within [min, max], or die.
 */
static long
parse_long(const char *option, const char *arg, long min, long max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < min || v > max)
		die("invalid %s \"%s\": must be a number from %ld to %ld",
			option, arg, min, max);
	return v;
}

/*
 * parse_options
 *		Read the command line into opts; die on anything wrong or missing.
 */
static void
parse_options(int argc, char **argv, options *opts)
{
	enum
	{
		OPT_MONGO = 1, OPT_DB, OPT_COLLECTION, OPT_PG, OPT_TABLE,
		OPT_WORKERS, OPT_MODE, OPT_BATCH, OPT_SELFTEST, OPT_HELP
	};
	static const struct option longopts[] = {
		{"mongo", required_argument, NULL, OPT_MONGO},
		{"db", required_argument, NULL, OPT_DB},
		{"collection", required_argument, NULL, OPT_COLLECTION},
		{"pg", required_argument, NULL, OPT_PG},
		{"table", required_argument, NULL, OPT_TABLE},
		{"workers", required_argument, NULL, OPT_WORKERS},
		{"mode", required_argument, NULL, OPT_MODE},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"selftest-numeric", no_argument, NULL, OPT_SELFTEST},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	int			c;

	memset(opts, 0, sizeof(*opts));
	opts->workers = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case OPT_MONGO:
				opts->mongo_uri = optarg;
				break;
			case OPT_DB:
				opts->db = optarg;
				break;
			case OPT_COLLECTION:
				opts->collection = optarg;
				break;
			case OPT_PG:
				opts->pg_conninfo = optarg;
				break;
			case OPT_TABLE:
				opts->table = optarg;
				break;
			case OPT_WORKERS:
				opts->workers = (int) parse_long("--workers", optarg, 1,
												 MAX_WORKERS);
				break;
			case OPT_MODE:
				if (strcmp(optarg, "insert") == 0)
					opts->mode = MODE_INSERT;
				else if (strcmp(optarg, "copy") == 0)
					opts->mode = MODE_COPY;
				else
					die("invalid --mode \"%s\": must be insert or copy",
						optarg);
				opts->mode_given = true;
				break;
			case OPT_BATCH:
				opts->batch = parse_long("--batch", optarg, 1, INT_MAX);
				break;
			case OPT_SELFTEST:
				opts->selftest_numeric = true;
				break;
			case OPT_HELP:
				usage(stdout);
				exit(0);
			default:
				usage(stderr);
				exit(1);
		}
	}
	if (optind < argc)
		die("unexpected argument \"%s\"", argv[optind]);
	if (opts->batch == 0)
		opts->batch = opts->mode == MODE_INSERT ? DEFAULT_INSERT_BATCH :
			DEFAULT_COPY_BATCH;

	if (opts->selftest_numeric)
	{
		if (opts->pg_conninfo == NULL)
			die("--selftest-numeric needs --pg");
		if (opts->table != NULL && !opts->mode_given)
			die("--selftest-numeric with --table needs --mode");
		return;
	}
	if (opts->mongo_uri == NULL || opts->db == NULL ||
		opts->collection == NULL || opts->pg_conninfo == NULL ||
		opts->table == NULL || !opts->mode_given)
	{
		usage(stderr);
		die("--mongo, --db, --collection, --pg, --table and --mode are "
			"required");
	}
}

/*
 * elapsed_seconds
 *		Seconds between two monotonic clock readings.
 */
static double
elapsed_seconds(const struct timespec *start, const struct timespec *end)
{
	return (double) (end->tv_sec - start->tv_sec) +
		(double) (end->tv_nsec - start->tv_nsec) / 1e9;
}

/*
 * main
 *		Count the documents, split the seq range between the workers, run
 *		them, and report.
 */
int
main(int argc, char **argv)
{
	options		opts;
	struct timespec start;
	struct timespec end;
	mongoc_uri_t *uri;
	bson_error_t error;
	int64_t		ndocs;
	shared_state shared;
	worker	   *workers;
	int64_t		rows;
	bool		ok;
	int			i;

	parse_options(argc, argv, &opts);
	mongoc_init();
	mongoc_log_set_handler(log_handler, NULL);
	if (opts.selftest_numeric)
	{
		int			status = run_selftest_numeric(&opts);

		mongoc_cleanup();
		return status;
	}

	if (clock_gettime(CLOCK_MONOTONIC, &start) != 0)
		die("could not read the clock");
	uri = mongoc_uri_new_with_error(opts.mongo_uri, &error);
	if (uri == NULL)
		die("invalid MongoDB URI \"%s\": %s", opts.mongo_uri,
			error.message);
	ndocs = count_documents(&opts, uri);

	init_shared(&shared, opts.workers, ndocs);
	workers = calloc(opts.workers, sizeof(worker));
	if (workers == NULL)
		die("out of memory");
	for (i = 0; i < opts.workers; i++)
	{
		worker	   *w = &workers[i];

		init_worker(w, i, &opts, &shared);
		w->lo = ndocs * i / opts.workers;
		w->hi = ndocs * (i + 1) / opts.workers;
		w->mongo = new_mongo_client(uri);
	}
	for (i = 0; i < opts.workers; i++)
	{
		if (pthread_create(&workers[i].thread, NULL, worker_main,
						   &workers[i]) != 0)
			die("could not create worker thread %d", i);
	}
	for (i = 0; i < opts.workers; i++)
	{
		if (pthread_join(workers[i].thread, NULL) != 0)
			die("could not join worker thread %d", i);
	}
	if (clock_gettime(CLOCK_MONOTONIC, &end) != 0)
		die("could not read the clock");

	ok = report_workers(workers, opts.workers, &shared, &rows);
	for (i = 0; i < opts.workers; i++)
		free_worker(&workers[i]);
	free(workers);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	if (!ok)
		return 1;
	printf("rows=%" PRId64 " seconds=%.3f\n", rows,
		   elapsed_seconds(&start, &end));
	if (fflush(stdout) != 0)
	{
		fprintf(stderr, "%s: could not write to stdout\n", PROGNAME);
		return 1;
	}
	return 0;
}
