/*-------------------------------------------------------------------------
 *
 * etl_client.c
 *		  The client-side ETL program that mongo_etl replaces, built as the
 *		  baseline of the benchmark: it reads a collection with the MongoDB
 *		  C driver, deserializes each document into a struct, and writes the
 *		  rows to PostgreSQL with libpq, either as multi-row INSERT statements
 *		  built as SQL text, or (its best variant) as binary COPY.
 *
 *		  etl_client --mongo URI --db DB --collection COLL --pg CONNINFO
 *					 --table TABLE --shape flat|user|orders [--workers 2]
 *					 --mode insert|copy|write [--batch N]
 *
 * W worker threads each read one range of _id (split points found by a
 * sorted skip), each with its own MongoDB client and PostgreSQL connection,
 * each in one transaction.  Prints
 *
 *		  rows=N seconds=S backend_cpu_s=B backend_hwm_kb=K
 *
 * on success (B: the CPU time of the workers' PostgreSQL backends, read
 * from /proc/<pid>/schedstat, so only when PostgreSQL runs on this machine,
 * else "NA"; K: the largest backend VmHWM); any error is reported on stderr
 * with exit status 1.
 *
 * --mode write is the other way, the client-side counterpart of mongo_etl's
 * INSERT INTO foreign_table SELECT: one thread (an INSERT is one backend)
 * reads TABLE's rows with COPY TO STDOUT (FORMAT binary), builds from each
 * the document mongo_etl writes for that row (the same fields in the same
 * order, the same BSON types: see write_document) and sends them with
 * mongoc_collection_insert_many, --batch documents (10,000 by default) per
 * ordered insert command, into COLL.  It prints the same line, B being the
 * CPU of the backend that served the COPY.
 *
 * The documents are the benchmark's three shapes (bench/bench.py), each
 * read into a row of typed fields, one per column of the target table:
 *
 *	flat:	_id, seq, name, email, city, age, visits (int64), score, active,
 *			created
 *	user:	_id, seq, name, email, age, created, score, active, balance
 *			(Decimal128), city (from address.city), tags (array, as jsonb)
 *	orders:	_id, seq, name, email, age, created, score, active, balance,
 *			street, city, zip (from address), tags, orders (array of
 *			documents, as jsonb)
 *
 * A field of another BSON type than its column expects, or absent, is NULL.
 *
 * IDENTIFICATION
 *		  bench/etl_client.c
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <mongoc/mongoc.h>

#define MAX_COLUMNS 16

/* Bytes of COPY data sent per PQputCopyData call */
#define COPY_CHUNK (1024 * 1024)

/* Milliseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01 */
#define POSTGRES_EPOCH_MS INT64_C(946684800000)

/* What a column holds, and how it is written to PostgreSQL */
typedef enum Kind
{
	K_OID,						/* ObjectId -> text, 24 hex digits */
	K_TEXT,						/* string -> text */
	K_INT4,						/* int32 -> int */
	K_INT8,						/* int64 -> bigint */
	K_FLOAT8,					/* double -> float8 */
	K_BOOL,						/* bool -> bool */
	K_TIMESTAMPTZ,				/* date -> timestamptz */
	K_NUMERIC,					/* Decimal128 -> numeric */
	K_JSONB						/* document or array -> jsonb */
} Kind;

/* A column of the target table: the field it is read from */
typedef struct Column
{
	const char *name;			/* the column, and the field at the top */
	const char *parent;			/* or the field within this document */
	Kind		kind;
} Column;

/* A document shape: the target table's columns in order */
typedef struct Shape
{
	const char *name;
	int			ncolumns;
	Column		columns[MAX_COLUMNS];
} Shape;

static const Shape shapes[] = {
	{"flat", 10, {
			{"_id", NULL, K_OID}, {"seq", NULL, K_INT4},
			{"name", NULL, K_TEXT}, {"email", NULL, K_TEXT},
			{"city", NULL, K_TEXT}, {"age", NULL, K_INT4},
			{"visits", NULL, K_INT8}, {"score", NULL, K_FLOAT8},
			{"active", NULL, K_BOOL}, {"created", NULL, K_TIMESTAMPTZ}}},
	{"user", 11, {
			{"_id", NULL, K_OID}, {"seq", NULL, K_INT4},
			{"name", NULL, K_TEXT}, {"email", NULL, K_TEXT},
			{"age", NULL, K_INT4}, {"created", NULL, K_TIMESTAMPTZ},
			{"score", NULL, K_FLOAT8}, {"active", NULL, K_BOOL},
			{"balance", NULL, K_NUMERIC}, {"city", "address", K_TEXT},
			{"tags", NULL, K_JSONB}}},
	{"orders", 14, {
			{"_id", NULL, K_OID}, {"seq", NULL, K_INT4},
			{"name", NULL, K_TEXT}, {"email", NULL, K_TEXT},
			{"age", NULL, K_INT4}, {"created", NULL, K_TIMESTAMPTZ},
			{"score", NULL, K_FLOAT8}, {"active", NULL, K_BOOL},
			{"balance", NULL, K_NUMERIC}, {"street", "address", K_TEXT},
			{"city", "address", K_TEXT}, {"zip", "address", K_TEXT},
			{"tags", NULL, K_JSONB}, {"orders", NULL, K_JSONB}}},
};

typedef struct Options
{
	const char *mongo;
	const char *db;
	const char *collection;
	const char *pg;
	const char *table;
	int			workers;
	bool		copy;
	int			batch;
	const Shape *shape;
	char		column_list[512];	/* "_id, seq, ..." */
} Options;

/* A growable byte buffer */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

/* One field of a row, deserialized; strings point into the document */
typedef struct Value
{
	bool		present;
	int32_t		i32;
	int64_t		i64;			/* int64, or a date's milliseconds */
	double		f8;
	bool		b;
	const char *str;
	uint32_t	len;
	char		oid[25];
	char		dec[BSON_DECIMAL128_STRING];
	Buf			json;			/* JSON text of a document or array */
} Value;

/* One document, deserialized: a value per column */
typedef struct Row
{
	Value		values[MAX_COLUMNS];
} Row;

/* A worker's share of the collection and its outcome */
typedef struct Worker
{
	const Options *options;
	bson_t		filter;
	long		rows;
	double		backend_cpu_s;	/* or < 0 where /proc does not show it */
	long		backend_hwm_kb;
	char		error[1024];
} Worker;

static void fail(Worker *w, const char *fmt,...);

/*
 * buf_reserve
 *		Make room for n more bytes.
 */
static void
buf_reserve(Buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL)
		{
			fprintf(stderr, "etl_client: out of memory\n");
			exit(1);
		}
	}
}

static void
buf_append(Buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_str(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		args;
	int			n;

	va_start(args, fmt);
	n = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	buf_reserve(b, n);
	va_start(args, fmt);
	vsnprintf(b->data + b->len, n + 1, fmt, args);
	va_end(args);
	b->len += n;
}

static void
buf_be16(Buf *b, uint16_t v)
{
	v = htons(v);
	buf_append(b, &v, 2);
}

static void
buf_be32(Buf *b, uint32_t v)
{
	v = htonl(v);
	buf_append(b, &v, 4);
}

static void
buf_be64(Buf *b, uint64_t v)
{
	buf_be32(b, (uint32_t) (v >> 32));
	buf_be32(b, (uint32_t) v);
}

/*
 * shortest_double
 *		The shortest decimal form that reads back as the same double, as
 *		JSON and PostgreSQL print it.
 */
static void
shortest_double(double d, char *out, size_t size)
{
	int			precision;

	for (precision = 15; precision <= 17; precision++)
	{
		snprintf(out, size, "%.*g", precision, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

/*
 * json_string
 *		A JSON string literal, escaped.
 */
static void
json_string(Buf *b, const char *s, uint32_t len)
{
	uint32_t	i;

	buf_append(b, "\"", 1);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			char		escaped[2] = {'\\', (char) c};

			buf_append(b, escaped, 2);
		}
		else if (c < 0x20)
			buf_printf(b, "\\u%04x", c);
		else
			buf_append(b, &s[i], 1);
	}
	buf_append(b, "\"", 1);
}

/*
 * json_value
 *		A BSON value as JSON text.  Returns false for a type this baseline
 *		does not handle.
 */
static bool
json_value(Buf *b, const bson_iter_t *iter)
{
	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_UTF8:
			{
				uint32_t	len;
				const char *s = bson_iter_utf8(iter, &len);

				json_string(b, s, len);
				return true;
			}
		case BSON_TYPE_INT32:
			buf_printf(b, "%d", bson_iter_int32(iter));
			return true;
		case BSON_TYPE_INT64:
			buf_printf(b, "%lld", (long long) bson_iter_int64(iter));
			return true;
		case BSON_TYPE_DOUBLE:
			{
				char		num[32];

				shortest_double(bson_iter_double(iter), num, sizeof(num));
				buf_str(b, num);
				return true;
			}
		case BSON_TYPE_BOOL:
			buf_str(b, bson_iter_bool(iter) ? "true" : "false");
			return true;
		case BSON_TYPE_NULL:
			buf_str(b, "null");
			return true;
		case BSON_TYPE_DOCUMENT:
		case BSON_TYPE_ARRAY:
			{
				bool		is_array = BSON_ITER_HOLDS_ARRAY(iter);
				bson_iter_t child;
				bool		first = true;

				if (!bson_iter_recurse(iter, &child))
					return false;
				buf_str(b, is_array ? "[" : "{");
				while (bson_iter_next(&child))
				{
					if (!first)
						buf_str(b, ", ");
					first = false;
					if (!is_array)
					{
						json_string(b, bson_iter_key(&child),
									bson_iter_key_len(&child));
						buf_str(b, ": ");
					}
					if (!json_value(b, &child))
						return false;
				}
				buf_str(b, is_array ? "]" : "}");
				return true;
			}
		default:
			return false;
	}
}

/*
 * read_value
 *		Deserialize one field into its column's value; a field of another
 *		BSON type than the column's stays NULL.  Returns false for a
 *		document or array this baseline cannot write as JSON.
 */
static bool
read_value(const bson_iter_t *iter, Kind kind, Value *v)
{
	bson_type_t type = bson_iter_type(iter);

	switch (kind)
	{
		case K_OID:
			if (type != BSON_TYPE_OID)
				return true;
			bson_oid_to_string(bson_iter_oid(iter), v->oid);
			v->str = v->oid;
			v->len = 24;
			break;
		case K_TEXT:
			if (type != BSON_TYPE_UTF8)
				return true;
			v->str = bson_iter_utf8(iter, &v->len);
			break;
		case K_INT4:
			if (type != BSON_TYPE_INT32)
				return true;
			v->i32 = bson_iter_int32(iter);
			break;
		case K_INT8:
			if (type != BSON_TYPE_INT64)
				return true;
			v->i64 = bson_iter_int64(iter);
			break;
		case K_FLOAT8:
			if (type != BSON_TYPE_DOUBLE)
				return true;
			v->f8 = bson_iter_double(iter);
			break;
		case K_BOOL:
			if (type != BSON_TYPE_BOOL)
				return true;
			v->b = bson_iter_bool(iter);
			break;
		case K_TIMESTAMPTZ:
			if (type != BSON_TYPE_DATE_TIME)
				return true;
			v->i64 = bson_iter_date_time(iter);
			break;
		case K_NUMERIC:
			{
				bson_decimal128_t dec;

				if (type != BSON_TYPE_DECIMAL128)
					return true;
				bson_iter_decimal128(iter, &dec);
				bson_decimal128_to_string(&dec, v->dec);
				v->str = v->dec;
				v->len = (uint32_t) strlen(v->dec);
				break;
			}
		case K_JSONB:
			if (type == BSON_TYPE_NULL)
				return true;
			v->json.len = 0;
			if (!json_value(&v->json, iter))
				return false;
			v->str = v->json.data;
			v->len = (uint32_t) v->json.len;
			break;
	}
	v->present = true;
	return true;
}

/*
 * parse_row
 *		Deserialize one document into a row, in one pass: each field is
 *		looked up among the shape's columns by name (as a driver's
 *		deserializer into a struct does), and a document holding columns
 *		(address) is walked in turn.
 */
static bool
parse_row(const Shape *shape, const bson_t *doc, Row *row)
{
	bson_iter_t iter;
	int			i;

	for (i = 0; i < shape->ncolumns; i++)
		row->values[i].present = false;

	if (!bson_iter_init(&iter, doc))
		return false;
	while (bson_iter_next(&iter))
	{
		const char *key = bson_iter_key(&iter);
		bool		parent = false;

		for (i = 0; i < shape->ncolumns; i++)
		{
			const Column *c = &shape->columns[i];

			if (c->parent == NULL && strcmp(key, c->name) == 0)
			{
				if (!read_value(&iter, c->kind, &row->values[i]))
					return false;
				break;
			}
			if (c->parent != NULL && strcmp(key, c->parent) == 0)
				parent = true;
		}
		if (parent && BSON_ITER_HOLDS_DOCUMENT(&iter))
		{
			bson_iter_t sub;

			if (!bson_iter_recurse(&iter, &sub))
				return false;
			while (bson_iter_next(&sub))
			{
				const char *k = bson_iter_key(&sub);

				for (i = 0; i < shape->ncolumns; i++)
				{
					const Column *c = &shape->columns[i];

					if (c->parent != NULL && strcmp(key, c->parent) == 0 &&
						strcmp(k, c->name) == 0)
					{
						if (!read_value(&sub, c->kind, &row->values[i]))
							return false;
						break;
					}
				}
			}
		}
	}
	return true;
}

/*
 * sql_literal
 *		Query builder: a string value as an escaped SQL literal, or NULL.
 */
static void
sql_literal(Buf *b, PGconn *conn, const char *s, size_t len)
{
	char	   *escaped;

	if (s == NULL)
	{
		buf_str(b, "NULL");
		return;
	}
	escaped = PQescapeLiteral(conn, s, len);
	buf_str(b, escaped);
	PQfreemem(escaped);
}

/*
 * sql_row
 *		Query builder: one row's parenthesized VALUES list.
 */
static void
sql_row(Buf *b, PGconn *conn, const Shape *shape, const Row *r)
{
	int			i;

	buf_str(b, "(");
	for (i = 0; i < shape->ncolumns; i++)
	{
		const Value *v = &r->values[i];

		if (i > 0)
			buf_str(b, ", ");
		if (!v->present)
		{
			buf_str(b, "NULL");
			continue;
		}
		switch (shape->columns[i].kind)
		{
			case K_OID:
			case K_TEXT:
			case K_NUMERIC:
			case K_JSONB:
				sql_literal(b, conn, v->str, v->len);
				break;
			case K_INT4:
				buf_printf(b, "%d", v->i32);
				break;
			case K_INT8:
				buf_printf(b, "%lld", (long long) v->i64);
				break;
			case K_FLOAT8:
				{
					char		num[32];

					shortest_double(v->f8, num, sizeof(num));
					buf_str(b, num);
					break;
				}
			case K_BOOL:
				buf_str(b, v->b ? "true" : "false");
				break;
			case K_TIMESTAMPTZ:
				{
					time_t		secs = (time_t) (v->i64 / 1000 -
												 (v->i64 % 1000 < 0 ? 1 : 0));
					int			ms = (int) (v->i64 - (int64_t) secs * 1000);
					struct tm	tm;
					char		text[64];

					gmtime_r(&secs, &tm);
					strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &tm);
					buf_printf(b, "'%s.%03d+00'", text, ms);
					break;
				}
		}
	}
	buf_str(b, ")");
}

/*
 * copy_text
 *		A binary COPY field holding bytes (text), or NULL.
 */
static void
copy_text(Buf *b, const char *s, size_t len)
{
	if (s == NULL)
	{
		buf_be32(b, (uint32_t) -1);
		return;
	}
	buf_be32(b, (uint32_t) len);
	buf_append(b, s, len);
}

/*
 * floor_div4
 *		a / 4 rounded down, also for negative a.
 */
static int
floor_div4(int a)
{
	return a >= 0 ? a / 4 : -((-a + 3) / 4);
}

/*
 * copy_numeric
 *		A decimal string (as libbson writes a Decimal128) in PostgreSQL's
 *		binary numeric format: base-10000 digits, the weight of the first,
 *		a sign and the display scale.
 */
static bool
copy_numeric(Buf *b, const char *s)
{
	static const int pow10[] = {1, 10, 100, 1000};
	char		digits[64];
	int			ndigits = 0;
	int			fraction_digits = 0;
	bool		in_fraction = false;
	int			exp10;
	uint16_t	sign = 0;
	int			groups[32] = {0};
	int			gmax;
	int			gmin;
	int			first;
	int			last;
	int			k;
	const char *p = s;

	if (strstr(s, "NaN") != NULL || strstr(s, "Infinity") != NULL)
	{
		buf_be32(b, 8);
		buf_be16(b, 0);
		buf_be16(b, 0);
		buf_be16(b, strstr(s, "NaN") ? 0xC000 : s[0] == '-' ? 0xF000 : 0xD000);
		buf_be16(b, 0);
		return true;
	}
	if (*p == '-')
	{
		sign = 0x4000;
		p++;
	}
	for (; *p != '\0' && *p != 'E' && *p != 'e'; p++)
	{
		if (*p == '.')
			in_fraction = true;
		else if (*p >= '0' && *p <= '9' && ndigits < (int) sizeof(digits))
		{
			digits[ndigits++] = *p;
			fraction_digits += in_fraction;
		}
		else
			return false;
	}
	exp10 = -fraction_digits + (*p != '\0' ? atoi(p + 1) : 0);

	/* digit k has decimal power exp10 + ndigits - 1 - k */
	gmax = floor_div4(exp10 + ndigits - 1);
	gmin = floor_div4(exp10);
	if (ndigits == 0 || gmax - gmin + 1 > (int) (sizeof(groups) / sizeof(int)))
		return false;
	for (k = 0; k < ndigits; k++)
	{
		int			power = exp10 + ndigits - 1 - k;
		int			g = floor_div4(power);

		groups[gmax - g] += (digits[k] - '0') * pow10[power - 4 * g];
	}

	/* drop zero groups at both ends */
	first = 0;
	last = gmax - gmin + 1;
	while (first < last && groups[first] == 0)
		first++;
	while (last > first && groups[last - 1] == 0)
		last--;
	if (first == last)
		sign = 0;

	buf_be32(b, (uint32_t) (8 + 2 * (last - first)));
	buf_be16(b, (uint16_t) (last - first));
	buf_be16(b, (uint16_t) (int16_t) (first == last ? 0 : gmax - first));
	buf_be16(b, sign);
	buf_be16(b, (uint16_t) (exp10 < 0 ? -exp10 : 0));
	for (k = first; k < last; k++)
		buf_be16(b, (uint16_t) groups[k]);
	return true;
}

/*
 * copy_row
 *		One row as a binary COPY tuple.
 */
static bool
copy_row(Buf *b, const Shape *shape, const Row *r)
{
	int			i;

	buf_be16(b, (uint16_t) shape->ncolumns);
	for (i = 0; i < shape->ncolumns; i++)
	{
		const Value *v = &r->values[i];

		if (!v->present)
		{
			buf_be32(b, (uint32_t) -1);
			continue;
		}
		switch (shape->columns[i].kind)
		{
			case K_OID:
			case K_TEXT:
				copy_text(b, v->str, v->len);
				break;
			case K_INT4:
				buf_be32(b, 4);
				buf_be32(b, (uint32_t) v->i32);
				break;
			case K_INT8:
				buf_be32(b, 8);
				buf_be64(b, (uint64_t) v->i64);
				break;
			case K_FLOAT8:
				{
					uint64_t	bits;

					memcpy(&bits, &v->f8, 8);
					buf_be32(b, 8);
					buf_be64(b, bits);
					break;
				}
			case K_BOOL:
				{
					char		c = (char) v->b;

					buf_be32(b, 1);
					buf_append(b, &c, 1);
					break;
				}
			case K_TIMESTAMPTZ:
				buf_be32(b, 8);
				buf_be64(b, (uint64_t) ((v->i64 - POSTGRES_EPOCH_MS) * 1000));
				break;
			case K_NUMERIC:
				if (!copy_numeric(b, v->dec))
					return false;
				break;
			case K_JSONB:
				buf_be32(b, v->len + 1);
				buf_append(b, "\001", 1);	/* jsonb binary format version */
				buf_append(b, v->str, v->len);
				break;
		}
	}
	return true;
}

/*
 * exec_ok
 *		Run a statement that returns no rows; false (with w->error set) on
 *		failure.
 */
static bool
exec_ok(Worker *w, PGconn *conn, const char *sql, ExecStatusType expected)
{
	PGresult   *res = PQexec(conn, sql);
	bool		ok = PQresultStatus(res) == expected;

	if (!ok)
		fail(w, "PostgreSQL: %s", PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

/*
 * copy_batch_start
 *		Open a binary COPY and send its header.
 */
static bool
copy_batch_start(Worker *w, PGconn *conn, Buf *out)
{
	char		sql[1024];

	snprintf(sql, sizeof(sql),
			 "COPY %s (%s) FROM STDIN (FORMAT binary)",
			 w->options->table, w->options->column_list);
	if (!exec_ok(w, conn, sql, PGRES_COPY_IN))
		return false;
	out->len = 0;
	buf_append(out, "PGCOPY\n\377\r\n\0", 11);
	buf_be32(out, 0);			/* flags */
	buf_be32(out, 0);			/* header extension length */
	return true;
}

/*
 * copy_send
 *		Send the buffered COPY data.
 */
static bool
copy_send(Worker *w, PGconn *conn, Buf *out)
{
	if (out->len > 0 && PQputCopyData(conn, out->data, (int) out->len) != 1)
	{
		fail(w, "PostgreSQL: %s", PQerrorMessage(conn));
		return false;
	}
	out->len = 0;
	return true;
}

/*
 * copy_batch_end
 *		Send the trailer, end the COPY and check its result.
 */
static bool
copy_batch_end(Worker *w, PGconn *conn, Buf *out)
{
	PGresult   *res;
	bool		ok;

	buf_be16(out, 0xFFFF);
	if (!copy_send(w, conn, out))
		return false;
	if (PQputCopyEnd(conn, NULL) != 1)
	{
		fail(w, "PostgreSQL: %s", PQerrorMessage(conn));
		return false;
	}
	res = PQgetResult(conn);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		fail(w, "PostgreSQL: %s", PQerrorMessage(conn));
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	return ok;
}

/*
 * backend_usage
 *		The CPU time (from /proc/<pid>/schedstat) and peak memory (VmHWM) of
 *		a PostgreSQL backend on this machine; cpu_s < 0 where /proc does not
 *		show it.
 */
static void
backend_usage(int pid, double *cpu_s, long *hwm_kb)
{
	char		path[64];
	char		line[256];
	FILE	   *f;
	unsigned long long ns;

	*cpu_s = -1;
	*hwm_kb = 0;
	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	if (pid <= 0 || (f = fopen(path, "r")) == NULL)
		return;
	if (fscanf(f, "%llu", &ns) == 1)
		*cpu_s = ns / 1e9;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm_kb = atol(line + 6);
	fclose(f);
}

/*
 * run_worker
 *		Read this worker's range and write it to PostgreSQL.
 */
static void *
run_worker(void *arg)
{
	Worker	   *w = (Worker *) arg;
	const Options *o = w->options;
	mongoc_client_t *client = mongoc_client_new(o->mongo);
	mongoc_collection_t *coll;
	mongoc_cursor_t *cursor;
	bson_t	   *opts = BCON_NEW("batchSize", BCON_INT32(10000));
	const bson_t *doc;
	bson_error_t error;
	PGconn	   *conn = PQconnectdb(o->pg);
	Row		   *row = calloc(1, sizeof(Row));
	Buf			out = {0};
	long		in_batch = 0;
	bool		ok = true;
	int			backend_pid = 0;
	int			i;

	if (client == NULL)
	{
		fail(w, "invalid MongoDB URI");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fail(w, "PostgreSQL: %s", PQerrorMessage(conn));
		return NULL;
	}
	backend_pid = PQbackendPID(conn);
	if (!exec_ok(w, conn, "BEGIN", PGRES_COMMAND_OK))
		return NULL;

	coll = mongoc_client_get_collection(client, o->db, o->collection);
	cursor = mongoc_collection_find_with_opts(coll, &w->filter, opts, NULL);
	while (ok && mongoc_cursor_next(cursor, &doc))
	{
		if (!parse_row(o->shape, doc, row))
		{
			fail(w, "document %ld has a field this client cannot read",
				 w->rows);
			ok = false;
			break;
		}
		if (in_batch == 0)
		{
			if (o->copy)
				ok = copy_batch_start(w, conn, &out);
			else
			{
				out.len = 0;
				buf_printf(&out, "INSERT INTO %s (%s) VALUES ",
						   o->table, o->column_list);
			}
		}
		else if (!o->copy)
			buf_str(&out, ", ");
		if (!ok)
			break;

		if (o->copy)
		{
			if (!copy_row(&out, o->shape, row))
			{
				fail(w, "document %ld has a decimal COPY cannot take",
					 w->rows);
				ok = false;
				break;
			}
			if (out.len >= COPY_CHUNK)
				ok = copy_send(w, conn, &out);
		}
		else
			sql_row(&out, conn, o->shape, row);
		w->rows++;

		if (++in_batch == o->batch)
		{
			ok = o->copy ? copy_batch_end(w, conn, &out)
				: exec_ok(w, conn, out.data, PGRES_COMMAND_OK);
			in_batch = 0;
		}
	}
	if (ok && mongoc_cursor_error(cursor, &error))
	{
		fail(w, "MongoDB: %s", error.message);
		ok = false;
	}
	if (ok && in_batch > 0)
		ok = o->copy ? copy_batch_end(w, conn, &out)
			: exec_ok(w, conn, out.data, PGRES_COMMAND_OK);
	if (ok)
		exec_ok(w, conn, "COMMIT", PGRES_COMMAND_OK);
	backend_usage(backend_pid, &w->backend_cpu_s, &w->backend_hwm_kb);

	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	bson_destroy(opts);
	PQfinish(conn);
	free(out.data);
	for (i = 0; i < MAX_COLUMNS; i++)
		free(row->values[i].json.data);
	free(row);
	return NULL;
}

/*
 * fail
 *		Record a worker's first error.
 */
static void
fail(Worker *w, const char *fmt,...)
{
	va_list		args;

	if (w->error[0] != '\0')
		return;
	va_start(args, fmt);
	vsnprintf(w->error, sizeof(w->error), fmt, args);
	va_end(args);
}

/*
 * split_point
 *		The _id at position skip in _id order, the start of a worker's
 *		range.  Returns false if there is none.
 */
static bool
split_point(mongoc_collection_t *coll, int64_t skip, bson_oid_t *oid)
{
	bson_t		filter = BSON_INITIALIZER;
	bson_t	   *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}",
								"skip", BCON_INT64(skip),
								"limit", BCON_INT64(1),
								"projection", "{", "_id", BCON_INT32(1), "}");
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, &filter,
															   opts, NULL);
	const bson_t *doc;
	bson_iter_t iter;
	bool		found = false;
	bson_error_t error;

	if (mongoc_cursor_next(cursor, &doc) &&
		bson_iter_init_find(&iter, doc, "_id") && BSON_ITER_HOLDS_OID(&iter))
	{
		bson_oid_copy(bson_iter_oid(&iter), oid);
		found = true;
	}
	if (mongoc_cursor_error(cursor, &error))
	{
		fprintf(stderr, "etl_client: MongoDB: %s\n", error.message);
		exit(1);
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	return found;
}

/*
 * be16, be32, be64
 *		Big-endian integers of binary COPY data.
 */
static uint16_t
be16(const char *p)
{
	uint16_t	v;

	memcpy(&v, p, 2);
	return ntohs(v);
}

static uint32_t
be32(const char *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static uint64_t
be64(const char *p)
{
	return ((uint64_t) be32(p) << 32) | be32(p + 4);
}

/*
 * numeric_text
 *		PostgreSQL's binary numeric (base-10000 digits, the weight of the
 *		first, a sign and the display scale) as the text numeric_out
 *		prints, which is what mongo_etl gives bson_decimal128_from_string.
 *		Returns false for a malformed value.
 */
static bool
numeric_text(const char *p, uint32_t len, char *out, size_t size)
{
	uint16_t	ndigits,
				sign,
				dscale;
	int16_t		weight;
	size_t		n = 0;
	int			d;

	if (len < 8)
		return false;
	ndigits = be16(p);
	weight = (int16_t) be16(p + 2);
	sign = be16(p + 4);
	dscale = be16(p + 6);
	if (len != 8 + 2 * (uint32_t) ndigits)
		return false;
	if (sign == 0xC000 || sign == 0xD000 || sign == 0xF000)
	{
		snprintf(out, size, "%s", sign == 0xC000 ? "NaN" :
				 sign == 0xD000 ? "Infinity" : "-Infinity");
		return true;
	}
	/* the digits before the point, at least one, then dscale after it */
	if (weight > 1000 || size < (size_t) (4 * (weight + 2) + dscale + 8))
		return false;
	if (sign == 0x4000)
		out[n++] = '-';
	if (weight < 0)
		out[n++] = '0';
	for (d = 0; d <= weight; d++)
	{
		int			digit = d < ndigits ? be16(p + 8 + 2 * d) % 10000 : 0;
		char		four[4] = {'0' + digit / 1000, '0' + digit / 100 % 10,
		'0' + digit / 10 % 10, '0' + digit % 10};
		int			k = 0;

		/* the first group without its leading zeros */
		while (d == 0 && k < 3 && four[k] == '0')
			k++;
		for (; k < 4; k++)
			out[n++] = four[k];
	}
	if (dscale > 0)
	{
		int			written = 0;

		out[n++] = '.';
		for (d = weight + 1; written < dscale; d++)
		{
			int			digit = d >= 0 && d < ndigits ?
				be16(p + 8 + 2 * d) % 10000 : 0;
			char		four[4] = {'0' + digit / 1000, '0' + digit / 100 % 10,
			'0' + digit / 10 % 10, '0' + digit % 10};
			int			k;

			for (k = 0; k < 4 && written < dscale; k++, written++)
				out[n++] = four[k];
		}
	}
	out[n] = '\0';
	return true;
}

/*
 * append_json_value
 *		A jsonb value (its text) as the BSON value its extended JSON
 *		describes, as mongo_etl writes it: parsed by libbson as the value of
 *		a wrapping document.
 */
static bool
append_json_value(bson_t *doc, const char *key, const char *json,
				  uint32_t len, Buf *scratch)
{
	bson_error_t error;
	bson_t		value;
	bson_iter_t iter;
	bool		ok;

	scratch->len = 0;
	buf_str(scratch, "{\"v\": ");
	buf_append(scratch, json, len);
	buf_str(scratch, "}");
	if (!bson_init_from_json(&value, scratch->data, (ssize_t) scratch->len,
							 &error))
		return false;
	ok = bson_iter_init_find(&iter, &value, "v") &&
		bson_append_iter(doc, key, -1, &iter);
	bson_destroy(&value);
	return ok;
}

/*
 * append_field
 *		One binary COPY field as the BSON value mongo_etl writes for its
 *		column's type: int4 as int32, int8 as int64, float8 as double, bool,
 *		text as a string (the _id as an ObjectId), timestamptz as a BSON
 *		date in milliseconds (cut toward the past), numeric as Decimal128,
 *		jsonb as a document or array; NULL (len < 0) as null.
 */
static bool
append_field(bson_t *doc, const char *key, Kind kind, const char *p,
			 int32_t len, Buf *scratch)
{
	if (len < 0)
		return bson_append_null(doc, key, -1);
	switch (kind)
	{
		case K_OID:
			{
				bson_oid_t	oid;
				char		hex[25];

				if (len != 24 || !bson_oid_is_valid(p, 24))
					return false;
				memcpy(hex, p, 24);
				hex[24] = '\0';
				bson_oid_init_from_string(&oid, hex);
				return bson_append_oid(doc, key, -1, &oid);
			}
		case K_TEXT:
			return bson_append_utf8(doc, key, -1, p, len);
		case K_INT4:
			return len == 4 &&
				bson_append_int32(doc, key, -1, (int32_t) be32(p));
		case K_INT8:
			return len == 8 &&
				bson_append_int64(doc, key, -1, (int64_t) be64(p));
		case K_FLOAT8:
			{
				uint64_t	bits = be64(p);
				double		d;

				memcpy(&d, &bits, 8);
				return len == 8 && bson_append_double(doc, key, -1, d);
			}
		case K_BOOL:
			return len == 1 && bson_append_bool(doc, key, -1, p[0] != 0);
		case K_TIMESTAMPTZ:
			{
				int64_t		us = (int64_t) be64(p);
				int64_t		ms = us / 1000 - (us % 1000 < 0 ? 1 : 0);

				return len == 8 &&
					bson_append_date_time(doc, key, -1,
										  ms + POSTGRES_EPOCH_MS);
			}
		case K_NUMERIC:
			{
				char		text[512];
				bson_decimal128_t dec;

				return numeric_text(p, len, text, sizeof(text)) &&
					bson_decimal128_from_string(text, &dec) &&
					bson_append_decimal128(doc, key, -1, &dec);
			}
		case K_JSONB:
			/* binary jsonb: a version byte (1), then the text */
			return len >= 1 && p[0] == 1 &&
				append_json_value(doc, key, p + 1, len - 1, scratch);
	}
	return false;
}

/*
 * compare_columns
 *		qsort order of a shape's columns by their field paths (parent, then
 *		name), the order in which mongo_etl writes a document's fields.
 */
static const Shape *sorting_shape;

static int
compare_columns(const void *a, const void *b)
{
	const Column *x = &sorting_shape->columns[*(const int *) a];
	const Column *y = &sorting_shape->columns[*(const int *) b];
	int			c = strcmp(x->parent ? x->parent : x->name,
						   y->parent ? y->parent : y->name);

	if (c != 0)
		return c;
	if ((x->parent == NULL) != (y->parent == NULL))
		return x->parent == NULL ? -1 : 1;
	return x->parent ? strcmp(x->name, y->name) : 0;
}

/*
 * write_document
 *		One binary COPY tuple (the shape's columns in order) as the document
 *		mongo_etl's INSERT writes for the row: fields in path order, the
 *		columns read from a subdocument (address.city) together in one.
 */
static bool
write_document(const Shape *shape, const int *order, const char *tuple,
			   size_t len, bson_t *doc, Buf *scratch)
{
	const char *fields[MAX_COLUMNS];
	int32_t		lens[MAX_COLUMNS];
	const char *p = tuple + 2;
	const char *end = tuple + len;
	const char *open = NULL;	/* the subdocument being written */
	bson_t		child;
	int			i;

	if (len < 2 || be16(tuple) != shape->ncolumns)
		return false;
	for (i = 0; i < shape->ncolumns; i++)
	{
		if (end - p < 4)
			return false;
		lens[i] = (int32_t) be32(p);
		fields[i] = p + 4;
		p += 4 + (lens[i] > 0 ? lens[i] : 0);
		if (p > end)
			return false;
	}
	for (i = 0; i < shape->ncolumns; i++)
	{
		int			c = order[i];
		const Column *col = &shape->columns[c];
		bson_t	   *into = doc;

		if (open != NULL && (col->parent == NULL ||
							 strcmp(open, col->parent) != 0))
		{
			bson_append_document_end(doc, &child);
			open = NULL;
		}
		if (col->parent != NULL)
		{
			if (open == NULL)
				bson_append_document_begin(doc, col->parent, -1, &child);
			open = col->parent;
			into = &child;
		}
		if (!append_field(into, col->name, col->kind, fields[c], lens[c],
						  scratch))
			return false;
	}
	if (open != NULL)
		bson_append_document_end(doc, &child);
	return true;
}

/*
 * insert_batch
 *		One ordered insert command of n documents, as mongo_etl sends it.
 */
static bool
insert_batch(mongoc_collection_t *coll, bson_t *docs, int n)
{
	const bson_t **list = malloc(sizeof(bson_t *) * n);
	bson_t	   *opts = BCON_NEW("ordered", BCON_BOOL(true));
	bson_error_t error;
	bool		ok;
	int			i;

	for (i = 0; i < n; i++)
		list[i] = &docs[i];
	ok = mongoc_collection_insert_many(coll, list, n, opts, NULL, &error);
	if (!ok)
		fprintf(stderr, "etl_client: MongoDB: %s\n", error.message);
	bson_destroy(opts);
	free(list);
	return ok;
}

/*
 * run_write
 *		--mode write: the table's rows, read with one binary COPY, into the
 *		collection in ordered batches of o->batch documents.  Returns the
 *		exit status.
 */
static int
run_write(const Options *o)
{
	mongoc_client_t *client = mongoc_client_new(o->mongo);
	mongoc_collection_t *coll;
	PGconn	   *conn = PQconnectdb(o->pg);
	bson_t	   *docs = calloc(o->batch, sizeof(bson_t));
	int			order[MAX_COLUMNS];
	Buf			scratch = {0};
	char		sql[1024];
	PGresult   *res;
	char	   *data;
	int			len;
	int			in_batch = 0;
	long		rows = 0;
	bool		header = true;
	bool		ok = true;
	double		backend_cpu_s;
	long		backend_hwm_kb;
	struct timespec t0,
				t1;
	int			i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (client == NULL)
	{
		fprintf(stderr, "etl_client: invalid MongoDB URI\n");
		return 1;
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "etl_client: PostgreSQL: %s", PQerrorMessage(conn));
		return 1;
	}
	coll = mongoc_client_get_collection(client, o->db, o->collection);
	for (i = 0; i < o->shape->ncolumns; i++)
		order[i] = i;
	sorting_shape = o->shape;
	qsort(order, o->shape->ncolumns, sizeof(int), compare_columns);
	for (i = 0; i < o->batch; i++)
		bson_init(&docs[i]);

	snprintf(sql, sizeof(sql), "COPY %s (%s) TO STDOUT (FORMAT binary)",
			 o->table, o->column_list);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		fprintf(stderr, "etl_client: PostgreSQL: %s", PQerrorMessage(conn));
		return 1;
	}
	PQclear(res);

	/* one row per CopyData message; the header comes with the first */
	while (ok && (len = PQgetCopyData(conn, &data, 0)) > 0)
	{
		const char *tuple = data;
		size_t		left = len;

		if (header)
		{
			if (left < 19 || memcmp(tuple, "PGCOPY\n\377\r\n\0", 11) != 0 ||
				left < 19 + be32(tuple + 15))
			{
				fprintf(stderr, "etl_client: not a binary COPY header\n");
				return 1;
			}
			left -= 19 + be32(tuple + 15);
			tuple += 19 + be32(tuple + 15);
			header = false;
		}
		if (left == 2 && be16(tuple) == 0xFFFF)
		{
			PQfreemem(data);
			continue;			/* the trailer */
		}
		bson_reinit(&docs[in_batch]);
		if (!write_document(o->shape, order, tuple, left, &docs[in_batch],
							&scratch))
		{
			fprintf(stderr, "etl_client: row %ld cannot be written\n", rows);
			return 1;
		}
		PQfreemem(data);
		rows++;
		if (++in_batch == o->batch)
		{
			ok = insert_batch(coll, docs, in_batch);
			in_batch = 0;
		}
	}
	if (!ok)
		return 1;
	if (len == -2)
	{
		fprintf(stderr, "etl_client: PostgreSQL: %s", PQerrorMessage(conn));
		return 1;
	}
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "etl_client: PostgreSQL: %s", PQerrorMessage(conn));
		return 1;
	}
	PQclear(res);
	if (in_batch > 0 && !insert_batch(coll, docs, in_batch))
		return 1;
	backend_usage(PQbackendPID(conn), &backend_cpu_s, &backend_hwm_kb);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	for (i = 0; i < o->batch; i++)
		bson_destroy(&docs[i]);
	free(docs);
	free(scratch.data);
	PQfinish(conn);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	mongoc_cleanup();
	printf("rows=%ld seconds=%.3f", rows,
		   (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (backend_cpu_s >= 0)
		printf(" backend_cpu_s=%.3f backend_hwm_kb=%ld\n", backend_cpu_s,
			   backend_hwm_kb);
	else
		printf(" backend_cpu_s=NA backend_hwm_kb=NA\n");
	return 0;
}

int
main(int argc, char **argv)
{
	Options		o = {0};
	const char *mode = NULL;
	Worker	   *workers;
	pthread_t  *threads;
	mongoc_client_t *client;
	mongoc_collection_t *coll;
	bson_error_t error;
	int64_t		count;
	bson_oid_t *bounds;
	struct timespec t0,
				t1;
	long		rows = 0;
	double		backend_cpu_s = 0;
	long		backend_hwm_kb = 0;
	const char *shape = NULL;
	int			i;

	o.workers = 2;
	for (i = 1; i + 1 < argc; i += 2)
	{
		if (strcmp(argv[i], "--mongo") == 0)
			o.mongo = argv[i + 1];
		else if (strcmp(argv[i], "--db") == 0)
			o.db = argv[i + 1];
		else if (strcmp(argv[i], "--collection") == 0)
			o.collection = argv[i + 1];
		else if (strcmp(argv[i], "--pg") == 0)
			o.pg = argv[i + 1];
		else if (strcmp(argv[i], "--table") == 0)
			o.table = argv[i + 1];
		else if (strcmp(argv[i], "--workers") == 0)
			o.workers = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--mode") == 0)
			mode = argv[i + 1];
		else if (strcmp(argv[i], "--batch") == 0)
			o.batch = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--shape") == 0)
			shape = argv[i + 1];
		else
			break;
	}
	for (size_t k = 0; shape && k < sizeof(shapes) / sizeof(shapes[0]); k++)
		if (strcmp(shape, shapes[k].name) == 0)
			o.shape = &shapes[k];
	if (i != argc || !o.mongo || !o.db || !o.collection || !o.pg || !o.table ||
		!mode || (strcmp(mode, "insert") != 0 && strcmp(mode, "copy") != 0 &&
				  strcmp(mode, "write") != 0) ||
		o.workers < 1 || o.shape == NULL)
	{
		fprintf(stderr, "usage: etl_client --mongo URI --db DB --collection COLL "
				"--pg CONNINFO --table TABLE --shape flat|user|orders "
				"[--workers N] --mode insert|copy|write [--batch N]\n");
		return 1;
	}
	for (i = 0; i < o.shape->ncolumns; i++)
	{
		size_t		len = strlen(o.column_list);

		snprintf(o.column_list + len, sizeof(o.column_list) - len, "%s%s",
				 i > 0 ? ", " : "", o.shape->columns[i].name);
	}
	o.copy = strcmp(mode, "copy") == 0;
	if (o.batch <= 0)
		o.batch = o.copy || strcmp(mode, "write") == 0 ? 10000 : 100;

	mongoc_init();
	if (strcmp(mode, "write") == 0)
		return run_write(&o);
	client = mongoc_client_new(o.mongo);
	if (client == NULL)
	{
		fprintf(stderr, "etl_client: invalid MongoDB URI\n");
		return 1;
	}
	coll = mongoc_client_get_collection(client, o.db, o.collection);
	count = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL,
													   &error);
	if (count < 0)
	{
		fprintf(stderr, "etl_client: MongoDB: %s\n", error.message);
		return 1;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	workers = calloc(o.workers, sizeof(Worker));
	threads = calloc(o.workers, sizeof(pthread_t));
	bounds = calloc(o.workers + 1, sizeof(bson_oid_t));
	for (i = 1; i < o.workers; i++)
	{
		if (!split_point(coll, count * i / o.workers, &bounds[i]))
		{
			fprintf(stderr, "etl_client: the collection changed size\n");
			return 1;
		}
	}
	for (i = 0; i < o.workers; i++)
	{
		bson_t		range;

		workers[i].options = &o;
		bson_init(&workers[i].filter);
		if (o.workers > 1)
		{
			BSON_APPEND_DOCUMENT_BEGIN(&workers[i].filter, "_id", &range);
			if (i > 0)
				BSON_APPEND_OID(&range, "$gte", &bounds[i]);
			if (i < o.workers - 1)
				BSON_APPEND_OID(&range, "$lt", &bounds[i + 1]);
			bson_append_document_end(&workers[i].filter, &range);
		}
		pthread_create(&threads[i], NULL, run_worker, &workers[i]);
	}
	for (i = 0; i < o.workers; i++)
	{
		pthread_join(threads[i], NULL);
		if (workers[i].error[0] != '\0')
		{
			fprintf(stderr, "etl_client: worker %d: %s\n", i,
					workers[i].error);
			return 1;
		}
		rows += workers[i].rows;
		if (backend_cpu_s >= 0)
			backend_cpu_s = workers[i].backend_cpu_s < 0 ? -1 :
				backend_cpu_s + workers[i].backend_cpu_s;
		if (workers[i].backend_hwm_kb > backend_hwm_kb)
			backend_hwm_kb = workers[i].backend_hwm_kb;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	mongoc_cleanup();
	printf("rows=%ld seconds=%.3f", rows,
		   (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (backend_cpu_s >= 0)
		printf(" backend_cpu_s=%.3f backend_hwm_kb=%ld\n", backend_cpu_s,
			   backend_hwm_kb);
	else
		printf(" backend_cpu_s=NA backend_hwm_kb=NA\n");
	return 0;
}
