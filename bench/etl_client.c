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
 *					 --table TABLE [--workers 2] --mode insert|copy
 *					 [--batch N]
 *
 * W worker threads each read one range of _id (split points found by a
 * sorted skip), each with its own MongoDB client and PostgreSQL connection,
 * each in one transaction.  Prints "rows=N seconds=S" on success; any error
 * is reported on stderr with exit status 1.
 *
 * The documents are the benchmark's user records (bench/bench.py): _id,
 * seq, name, email, age, created, score, active, balance (Decimal128, may be
 * absent), address {street, city, zip}, tags [string], orders [{sku, qty,
 * price}].  The target table has matching columns, tags and orders jsonb.
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

#define COLUMN_LIST "_id, seq, name, email, age, created, score, active, " \
	"balance, street, city, zip, tags, orders"
#define NCOLUMNS 14

/* Bytes of COPY data sent per PQputCopyData call */
#define COPY_CHUNK (1024 * 1024)

/* Milliseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01 */
#define POSTGRES_EPOCH_MS INT64_C(946684800000)

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
} Options;

/* A growable byte buffer */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

/* One document, deserialized; strings point into the BSON document */
typedef struct UserRow
{
	char		id[25];
	bool		has_id;
	int32_t		seq;
	bool		has_seq;
	const char *name;
	const char *email;
	int32_t		age;
	bool		has_age;
	int64_t		created_ms;
	bool		has_created;
	double		score;
	bool		has_score;
	int			active;			/* 0, 1, or -1 for NULL */
	char		balance[BSON_DECIMAL128_STRING];
	bool		has_balance;
	const char *street;
	const char *city;
	const char *zip;
	Buf			tags;			/* JSON text, empty for NULL */
	bool		has_tags;
	Buf			orders;
	bool		has_orders;
} UserRow;

/* A worker's share of the collection and its outcome */
typedef struct Worker
{
	const Options *options;
	bson_t		filter;
	long		rows;
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
 * parse_row
 *		Deserialize one document into a row struct, in one pass.
 */
static bool
parse_row(const bson_t *doc, UserRow *row)
{
	bson_iter_t iter;

	row->has_id = row->has_seq = row->has_age = row->has_created = false;
	row->has_score = row->has_balance = row->has_tags = row->has_orders = false;
	row->name = row->email = row->street = row->city = row->zip = NULL;
	row->active = -1;
	row->tags.len = row->orders.len = 0;

	if (!bson_iter_init(&iter, doc))
		return false;
	while (bson_iter_next(&iter))
	{
		const char *key = bson_iter_key(&iter);
		bson_type_t type = bson_iter_type(&iter);

		if (type == BSON_TYPE_NULL)
			continue;
		if (strcmp(key, "_id") == 0 && type == BSON_TYPE_OID)
		{
			bson_oid_to_string(bson_iter_oid(&iter), row->id);
			row->has_id = true;
		}
		else if (strcmp(key, "seq") == 0 && type == BSON_TYPE_INT32)
		{
			row->seq = bson_iter_int32(&iter);
			row->has_seq = true;
		}
		else if (strcmp(key, "name") == 0 && type == BSON_TYPE_UTF8)
			row->name = bson_iter_utf8(&iter, NULL);
		else if (strcmp(key, "email") == 0 && type == BSON_TYPE_UTF8)
			row->email = bson_iter_utf8(&iter, NULL);
		else if (strcmp(key, "age") == 0 && type == BSON_TYPE_INT32)
		{
			row->age = bson_iter_int32(&iter);
			row->has_age = true;
		}
		else if (strcmp(key, "created") == 0 && type == BSON_TYPE_DATE_TIME)
		{
			row->created_ms = bson_iter_date_time(&iter);
			row->has_created = true;
		}
		else if (strcmp(key, "score") == 0 && type == BSON_TYPE_DOUBLE)
		{
			row->score = bson_iter_double(&iter);
			row->has_score = true;
		}
		else if (strcmp(key, "active") == 0 && type == BSON_TYPE_BOOL)
			row->active = bson_iter_bool(&iter);
		else if (strcmp(key, "balance") == 0 && type == BSON_TYPE_DECIMAL128)
		{
			bson_decimal128_t dec;

			bson_iter_decimal128(&iter, &dec);
			bson_decimal128_to_string(&dec, row->balance);
			row->has_balance = true;
		}
		else if (strcmp(key, "address") == 0 && type == BSON_TYPE_DOCUMENT)
		{
			bson_iter_t sub;

			if (!bson_iter_recurse(&iter, &sub))
				return false;
			while (bson_iter_next(&sub))
			{
				const char *k = bson_iter_key(&sub);

				if (!BSON_ITER_HOLDS_UTF8(&sub))
					continue;
				if (strcmp(k, "street") == 0)
					row->street = bson_iter_utf8(&sub, NULL);
				else if (strcmp(k, "city") == 0)
					row->city = bson_iter_utf8(&sub, NULL);
				else if (strcmp(k, "zip") == 0)
					row->zip = bson_iter_utf8(&sub, NULL);
			}
		}
		else if (strcmp(key, "tags") == 0)
		{
			if (!json_value(&row->tags, &iter))
				return false;
			row->has_tags = true;
		}
		else if (strcmp(key, "orders") == 0)
		{
			if (!json_value(&row->orders, &iter))
				return false;
			row->has_orders = true;
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
sql_row(Buf *b, PGconn *conn, const UserRow *r)
{
	buf_str(b, "(");
	sql_literal(b, conn, r->has_id ? r->id : NULL, 24);
	if (r->has_seq)
		buf_printf(b, ", %d", r->seq);
	else
		buf_str(b, ", NULL");
	buf_str(b, ", ");
	sql_literal(b, conn, r->name, r->name ? strlen(r->name) : 0);
	buf_str(b, ", ");
	sql_literal(b, conn, r->email, r->email ? strlen(r->email) : 0);
	if (r->has_age)
		buf_printf(b, ", %d", r->age);
	else
		buf_str(b, ", NULL");
	if (r->has_created)
	{
		time_t		secs = (time_t) (r->created_ms / 1000 -
									 (r->created_ms % 1000 < 0 ? 1 : 0));
		int			ms = (int) (r->created_ms - (int64_t) secs * 1000);
		struct tm	tm;
		char		text[64];

		gmtime_r(&secs, &tm);
		strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &tm);
		buf_printf(b, ", '%s.%03d+00'", text, ms);
	}
	else
		buf_str(b, ", NULL");
	if (r->has_score)
	{
		char		num[32];

		shortest_double(r->score, num, sizeof(num));
		buf_printf(b, ", %s", num);
	}
	else
		buf_str(b, ", NULL");
	buf_str(b, r->active < 0 ? ", NULL" : r->active ? ", true" : ", false");
	buf_str(b, ", ");
	sql_literal(b, conn, r->has_balance ? r->balance : NULL,
				strlen(r->balance));
	buf_str(b, ", ");
	sql_literal(b, conn, r->street, r->street ? strlen(r->street) : 0);
	buf_str(b, ", ");
	sql_literal(b, conn, r->city, r->city ? strlen(r->city) : 0);
	buf_str(b, ", ");
	sql_literal(b, conn, r->zip, r->zip ? strlen(r->zip) : 0);
	buf_str(b, ", ");
	sql_literal(b, conn, r->has_tags ? r->tags.data : NULL, r->tags.len);
	buf_str(b, ", ");
	sql_literal(b, conn, r->has_orders ? r->orders.data : NULL,
				r->orders.len);
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
copy_row(Buf *b, const UserRow *r)
{
	buf_be16(b, NCOLUMNS);
	copy_text(b, r->has_id ? r->id : NULL, 24);
	if (r->has_seq)
	{
		buf_be32(b, 4);
		buf_be32(b, (uint32_t) r->seq);
	}
	else
		buf_be32(b, (uint32_t) -1);
	copy_text(b, r->name, r->name ? strlen(r->name) : 0);
	copy_text(b, r->email, r->email ? strlen(r->email) : 0);
	if (r->has_age)
	{
		buf_be32(b, 4);
		buf_be32(b, (uint32_t) r->age);
	}
	else
		buf_be32(b, (uint32_t) -1);
	if (r->has_created)
	{
		buf_be32(b, 8);
		buf_be64(b, (uint64_t) ((r->created_ms - POSTGRES_EPOCH_MS) * 1000));
	}
	else
		buf_be32(b, (uint32_t) -1);
	if (r->has_score)
	{
		uint64_t	bits;

		memcpy(&bits, &r->score, 8);
		buf_be32(b, 8);
		buf_be64(b, bits);
	}
	else
		buf_be32(b, (uint32_t) -1);
	if (r->active >= 0)
	{
		char		v = (char) r->active;

		buf_be32(b, 1);
		buf_append(b, &v, 1);
	}
	else
		buf_be32(b, (uint32_t) -1);
	if (r->has_balance)
	{
		if (!copy_numeric(b, r->balance))
			return false;
	}
	else
		buf_be32(b, (uint32_t) -1);
	copy_text(b, r->street, r->street ? strlen(r->street) : 0);
	copy_text(b, r->city, r->city ? strlen(r->city) : 0);
	copy_text(b, r->zip, r->zip ? strlen(r->zip) : 0);
	if (r->has_tags)
	{
		buf_be32(b, (uint32_t) (r->tags.len + 1));
		buf_append(b, "\001", 1);	/* jsonb binary format version */
		buf_append(b, r->tags.data, r->tags.len);
	}
	else
		buf_be32(b, (uint32_t) -1);
	if (r->has_orders)
	{
		buf_be32(b, (uint32_t) (r->orders.len + 1));
		buf_append(b, "\001", 1);
		buf_append(b, r->orders.data, r->orders.len);
	}
	else
		buf_be32(b, (uint32_t) -1);
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
	char		sql[512];

	snprintf(sql, sizeof(sql),
			 "COPY %s (" COLUMN_LIST ") FROM STDIN (FORMAT binary)",
			 w->options->table);
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
	UserRow		row;
	Buf			out = {0};
	long		in_batch = 0;
	bool		ok = true;

	memset(&row, 0, sizeof(row));
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
	if (!exec_ok(w, conn, "BEGIN", PGRES_COMMAND_OK))
		return NULL;

	coll = mongoc_client_get_collection(client, o->db, o->collection);
	cursor = mongoc_collection_find_with_opts(coll, &w->filter, opts, NULL);
	while (ok && mongoc_cursor_next(cursor, &doc))
	{
		if (!parse_row(doc, &row))
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
				buf_printf(&out, "INSERT INTO %s (" COLUMN_LIST ") VALUES ",
						   o->table);
			}
		}
		else if (!o->copy)
			buf_str(&out, ", ");
		if (!ok)
			break;

		if (o->copy)
		{
			if (!copy_row(&out, &row))
			{
				fail(w, "bad decimal \"%s\"", row.balance);
				ok = false;
				break;
			}
			if (out.len >= COPY_CHUNK)
				ok = copy_send(w, conn, &out);
		}
		else
			sql_row(&out, conn, &row);
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

	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	bson_destroy(opts);
	PQfinish(conn);
	free(out.data);
	free(row.tags.data);
	free(row.orders.data);
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
		else
			break;
	}
	if (i != argc || !o.mongo || !o.db || !o.collection || !o.pg || !o.table ||
		!mode || (strcmp(mode, "insert") != 0 && strcmp(mode, "copy") != 0) ||
		o.workers < 1)
	{
		fprintf(stderr, "usage: etl_client --mongo URI --db DB --collection COLL "
				"--pg CONNINFO --table TABLE [--workers N] --mode insert|copy "
				"[--batch N]\n");
		return 1;
	}
	o.copy = strcmp(mode, "copy") == 0;
	if (o.batch <= 0)
		o.batch = o.copy ? 10000 : 100;

	mongoc_init();
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
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	mongoc_cleanup();
	printf("rows=%ld seconds=%.3f\n", rows,
		   (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
