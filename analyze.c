/*-------------------------------------------------------------------------
 *
 * analyze.c
 *		  ANALYZE of a mongo_etl foreign table: a sample of its rows, from
 *		  which PostgreSQL computes the statistics of each column.
 *
 * The rows are those a query of the table returns, converted as any scan
 * converts them (the table's on_type_mismatch policy applies), read through
 * SPI a batch at a time, and a uniform sample of them kept as they go by
 * (reservoir sampling, as PostgreSQL samples a heap table's rows).  A
 * collection of more than ANALYZE_WHOLE_FACTOR times the sample's size, on
 * a server with $sample, has the server draw the sample ($sample, offered
 * to the table's scan as its range) and its count is the table's row
 * count; anything else is read whole (FerretDB 1.x has no $sample; a
 * mongodump file is read to its end), and the rows read are the count.  A
 * NOTICE says which.  The count is the planner's until the next ANALYZE;
 * a server's current count still replaces it at planning, when the server
 * is asked (use_remote_estimate).
 *
 * IDENTIFICATION
 *		  analyze.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/htup_details.h"
#include "executor/spi.h"
#include "foreign/fdwapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/sampling.h"

#include "mongo_etl.h"

/* Rows fetched from the query's cursor at a time */
#define ANALYZE_FETCH_ROWS 1000

/*
 * A collection of at most this many times the rows ANALYZE wants (30,000
 * at the default statistics target: 300,000 documents) is read whole:
 * about a second from a server, and the statistics then see every value.
 * Beyond that, reading all of it would cost ever more for a sample of the
 * same size, and $sample draws one from the server.
 */
#define ANALYZE_WHOLE_FACTOR 10

/*
 * Bytes a collection's document is taken to take, for the page count
 * ANALYZE records (a file's size is known), from the rows the last ANALYZE
 * read
 */
#define ANALYZE_ASSUMED_DOCUMENT_BYTES 256

static int	acquire_sample_rows(Relation relation, int elevel,
								HeapTuple *rows, int targrows,
								double *totalrows, double *totaldeadrows);
static HeapTuple relation_row(Relation relation, HeapTuple row,
							  TupleDesc row_desc, Datum *values,
							  bool *nulls);
static double server_sample_size(Relation relation, int targrows);

/*
 * mongo_analyze_foreign_table
 *		AnalyzeForeignTable: every mongo_etl table can be sampled; its size
 *		in pages is its dump file's, or its estimated documents' at an
 *		assumed size.
 */
bool
mongo_analyze_foreign_table(Relation relation,
							AcquireSampleRowsFunc *func,
							BlockNumber *totalpages)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(relation));
	MongoTableOptions options;
	struct stat st;
	double		bytes;

	mongo_get_table_options(table, GetForeignServer(table->serverid),
							&options);
	if (options.dump_file != NULL && stat(options.dump_file, &st) == 0)
		bytes = st.st_size;
	else
		bytes = Max(relation->rd_rel->reltuples, 0) *
			ANALYZE_ASSUMED_DOCUMENT_BYTES;

	*func = acquire_sample_rows;
	*totalpages = (BlockNumber) Min(Max(bytes / BLCKSZ, 1), MaxBlockNumber);
	return true;
}

/*
 * acquire_sample_rows
 *		Read every row of the table and keep a uniform sample of at most
 *		targrows of them in rows (in no particular order, which is all
 *		ANALYZE needs of a foreign table's sample); *totalrows is the number
 *		read.
 */
static int
acquire_sample_rows(Relation relation, int elevel, HeapTuple *rows,
					int targrows, double *totalrows, double *totaldeadrows)
{
	MemoryContext sample_cxt = CurrentMemoryContext;
	TupleDesc	tupdesc = RelationGetDescr(relation);
	Datum	   *values = palloc(sizeof(Datum) * tupdesc->natts);
	bool	   *nulls = palloc(sizeof(bool) * tupdesc->natts);
	ReservoirStateData reservoir;
	double		to_skip = -1;
	int			kept = 0;
	char	   *query;
	SPIPlanPtr	plan;
	Portal		portal;
	MongoSourceRange range;
	double		documents;

	*totalrows = 0;
	*totaldeadrows = 0;
	reservoir_init_selection_state(&reservoir, targrows);
	memset(&range, 0, sizeof(range));
	documents = server_sample_size(relation, targrows);
	if (documents > 0)
		range.sample_size = targrows;

	/* every column, dropped ones aside, in the table's order */
	query = psprintf("SELECT * FROM %s",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(relation)),
												RelationGetRelationName(relation)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not prepare the sample query of \"%s\": %s",
			 RelationGetRelationName(relation),
			 SPI_result_code_string(SPI_result));
	/* the table's scan takes the range as it begins, at the cursor's open */
	if (range.sample_size > 0)
		mongo_source_offer_range(RelationGetRelid(relation), &range);
	PG_TRY();
	{
		portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	}
	PG_FINALLY();
	{
		mongo_source_offer_range(InvalidOid, NULL);
	}
	PG_END_TRY();

	for (;;)
	{
		SPI_cursor_fetch(portal, true, ANALYZE_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			int			slot = -1;

			mongo_analyze_delay_point();
			if (kept < targrows)
				slot = kept++;
			else
			{
				/* each later row replaces a kept one with falling odds */
				if (to_skip < 0)
					to_skip = reservoir_get_next_S(&reservoir, *totalrows,
												   targrows);
				if (to_skip <= 0)
				{
					slot = (int) (targrows *
								  sampler_random_fract(&reservoir.randstate));
					heap_freetuple(rows[slot]);
				}
				to_skip -= 1;
			}
			if (slot >= 0)
			{
				MemoryContext oldcxt = MemoryContextSwitchTo(sample_cxt);

				rows[slot] = relation_row(relation, SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, values,
										  nulls);
				MemoryContextSwitchTo(oldcxt);
			}
			*totalrows += 1;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();

	if (range.sample_size > 0 && range.claimed)
	{
		ereport(NOTICE,
				(errmsg("\"%s\": kept a sample of %d rows of %.0f drawn by $sample from about %.0f documents",
						RelationGetRelationName(relation), kept, *totalrows,
						documents)));
		*totalrows = documents;
	}
	else
		ereport(NOTICE,
				(errmsg("\"%s\": read all %.0f rows, kept a sample of %d",
						RelationGetRelationName(relation), *totalrows,
						kept)));
	return kept;
}

/*
 * server_sample_size
 *		The documents of the table's collection when the server is to draw
 *		the sample: more than ANALYZE_WHOLE_FACTOR times targrows of them,
 *		on a server with $sample, read by a table without the options filter
 *		and pipeline (whose rows the collection's count does not count);
 *		else 0, and the table is read whole.
 */
static double
server_sample_size(Relation relation, int targrows)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(relation));
	ForeignServer *server = GetForeignServer(table->serverid);
	MongoTableOptions options;
	MongoConnection *volatile conn;
	volatile int64 count = -1;
	volatile bool has_sample = false;

	mongo_get_table_options(table, server, &options);
	if (options.dump_file != NULL || options.filter != NULL ||
		options.pipeline != NULL)
		return 0;

	conn = mongo_get_connection(server,
								GetUserMapping(GetUserId(), server->serverid));
	PG_TRY();
	{
		mongoc_collection_t *collection;
		bson_error_t error;

		collection = mongoc_client_get_collection(mongo_connection_client(conn),
												  options.database,
												  options.collection);
		count = mongo_estimated_count(collection, &error);
		if (count > (int64) targrows * ANALYZE_WHOLE_FACTOR)
			has_sample = mongo_server_has_sample(collection);
		mongoc_collection_destroy(collection);
	}
	PG_FINALLY();
	{
		mongo_release_connection(conn);
	}
	PG_END_TRY();
	return has_sample ? (double) count : 0;
}

/*
 * relation_row
 *		A row of the query as a tuple of the table, whose descriptor has its
 *		dropped columns too (as NULLs).
 */
static HeapTuple
relation_row(Relation relation, HeapTuple row, TupleDesc row_desc,
			 Datum *values, bool *nulls)
{
	TupleDesc	tupdesc = RelationGetDescr(relation);
	int			column = 0;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		if (TupleDescAttr(tupdesc, i)->attisdropped)
		{
			values[i] = (Datum) 0;
			nulls[i] = true;
			continue;
		}
		values[i] = heap_getattr(row, ++column, row_desc, &nulls[i]);
	}
	return heap_form_tuple(tupdesc, values, nulls);
}
