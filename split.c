/*-------------------------------------------------------------------------
 *
 * split.c
 *		  Cutting a source into ranges that a parallel load's workers or a
 *		  parallel scan's participants read one at a time: _id ranges of a
 *		  collection, and byte ranges of whole documents of a mongodump
 *		  file.
 *
 * The ranges never overlap and together hold every document exactly once.
 * A collection's _id ranges are found by walking its _id index in steps (a
 * sorted find with a skip, each step starting where the last one ended); a
 * file's ranges by stepping over its documents' length prefixes.
 *
 * IDENTIFICATION
 *		  split.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mongo_etl.h"

static int	type_bracket(bson_type_t type);
static char *bound_text(const bson_value_t *value);
static List *file_ranges(MongoDumpReader *reader, uint64 bytes_per_range,
						uint64 max_documents);

/*
 * mongo_split_collection
 *		_id ranges of a collection, as extended JSON filters, about ranges
 *		of them and at most max_documents documents each (0: no limit); or
 *		NIL, with a NOTICE saying why, when the collection cannot be split.
 *		servername and database name the collection in errors.
 *
 *		The bounds b1 < ... < bk are the _ids found every count/ranges
 *		documents in _id order.  The first range is {_id: {$not: {$gte:
 *		b1}}}, the others {$gte: bi, $lt: bi+1} and {$gte: bk}: MongoDB
 *		compares _ids only within a type (numbers together, strings with
 *		symbols), so every document whose _id is not of the bounds' type, or
 *		is NaN, falls in the first range, and the ranges together hold each
 *		document exactly once.  Bounds of two types would leave documents
 *		out: the collection is then not split.
 */
List *
mongo_split_collection(mongoc_collection_t *collection,
					   const char *servername, const char *database,
					   int ranges, int64 max_documents)
{
	bson_error_t error;
	int64		count = mongo_estimated_count(collection, &error);
	int64		step;
	List	   *bounds = NIL;
	List	   *filters = NIL;
	bson_value_t previous;
	bool		have_previous = false;
	int			bracket = -1;
	ListCell   *lc;

	if (count < 0)
	{
		ereport(NOTICE,
				(errmsg("loading with one worker: the collection's size is unknown"),
				 errdetail_internal("%s", error.message)));
		return NIL;
	}
	if (max_documents > 0 && count / max_documents + 1 > ranges)
		ranges = (int) Min(count / max_documents + 1, 100000);
	step = count / Max(ranges, 1);
	if (step == 0 || ranges < 2)
		return list_make1(pstrdup("{}"));

	for (int i = 1; i < ranges; i++)
	{
		bson_t		filter = BSON_INITIALIZER;
		bson_t	   *opts;
		mongoc_cursor_t *cursor;
		const bson_t *doc;
		bson_iter_t iter;
		bool		found;

		if (have_previous)
		{
			bson_t		range;

			BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &range);
			BSON_APPEND_VALUE(&range, "$gte", &previous);
			bson_append_document_end(&filter, &range);
		}
		opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}",
						"projection", "{", "_id", BCON_INT32(1), "}",
						"skip", BCON_INT64(step), "limit", BCON_INT64(1));
		cursor = mongoc_collection_find_with_opts(collection, &filter, opts,
												  NULL);
		found = mongoc_cursor_next(cursor, &doc);
		if (!found && mongoc_cursor_error(cursor, &error))
		{
			mongoc_cursor_destroy(cursor);
			bson_destroy(opts);
			bson_destroy(&filter);
			if (have_previous)
				bson_value_destroy(&previous);
			mongo_report_error(&error, servername, database,
							   mongoc_collection_get_name(collection));
		}
		if (found && bson_iter_init_find(&iter, doc, "_id"))
		{
			const bson_value_t *value = bson_iter_value(&iter);

			if (bracket >= 0 && type_bracket(value->value_type) != bracket)
				found = false;
			else
			{
				bracket = type_bracket(value->value_type);
				if (have_previous)
					bson_value_destroy(&previous);
				bson_value_copy(value, &previous);
				have_previous = true;
				bounds = lappend(bounds, bound_text(value));
			}
		}
		mongoc_cursor_destroy(cursor);
		bson_destroy(opts);
		bson_destroy(&filter);
		if (!found)
			break;
	}
	if (have_previous)
		bson_value_destroy(&previous);

	if (bounds == NIL)
		return list_make1(pstrdup("{}"));
	filters = lappend(filters,
					  psprintf("{\"_id\": {\"$not\": {\"$gte\": %s}}}",
							   (char *) linitial(bounds)));
	foreach(lc, bounds)
	{
		if (lnext(bounds, lc) != NULL)
			filters = lappend(filters,
							  psprintf("{\"_id\": {\"$gte\": %s, \"$lt\": %s}}",
									   (char *) lfirst(lc),
									   (char *) lfirst(lnext(bounds, lc))));
		else
			filters = lappend(filters,
							  psprintf("{\"_id\": {\"$gte\": %s}}",
									   (char *) lfirst(lc)));
	}
	return filters;
}

/*
 * type_bracket
 *		The types MongoDB compares an _id with: numbers with each other,
 *		strings with symbols, any other type with itself.
 */
static int
type_bracket(bson_type_t type)
{
	switch (type)
	{
		case BSON_TYPE_DOUBLE:
		case BSON_TYPE_INT32:
		case BSON_TYPE_INT64:
		case BSON_TYPE_DECIMAL128:
			return BSON_TYPE_DOUBLE;
		case BSON_TYPE_SYMBOL:
			return BSON_TYPE_UTF8;
		default:
			return type;
	}
}

/*
 * bound_text
 *		An _id as canonical extended JSON, which keeps its type exactly.
 */
static char *
bound_text(const bson_value_t *value)
{
	bson_t		doc = BSON_INITIALIZER;
	char	   *json;
	char	   *result;
	char	   *start;
	char	   *end;
	size_t		length;

	BSON_APPEND_VALUE(&doc, "v", value);
	json = bson_as_canonical_extended_json(&doc, &length);
	bson_destroy(&doc);
	/* { "v" : <value> } -> <value> */
	start = strchr(json, ':') + 1;
	while (*start == ' ')
		start++;
	end = json + length - 1;	/* the closing brace */
	while (end > start && end[-1] == ' ')
		end--;
	result = pnstrdup(start, end - start);
	bson_free(json);
	return result;
}

/*
 * mongo_split_file
 *		Cut a plain mongodump file into ranges of whole documents, of about
 *		bytes_per_range bytes and at most max_documents documents each (0:
 *		no limit), by stepping over the documents' length prefixes: nothing
 *		is read or converted.  Returns a list of MongoFileRange.  The file
 *		is closed also when it is found damaged.
 */
List *
mongo_split_file(const char *path, uint64 bytes_per_range,
				 uint64 max_documents)
{
	MongoDumpReader *reader = mongo_dump_open(path);
	List	   *ranges = NIL;

	PG_TRY();
	{
		ranges = file_ranges(reader, bytes_per_range, max_documents);
	}
	PG_FINALLY();
	{
		mongo_dump_close(reader);
	}
	PG_END_TRY();
	return ranges;
}

/*
 * file_ranges
 *		mongo_split_file's ranges, of the file reader reads.
 */
static List *
file_ranges(MongoDumpReader *reader, uint64 bytes_per_range,
			uint64 max_documents)
{
	List	   *ranges = NIL;
	MongoFileRange *range = NULL;
	uint64		offset = 0;
	uint32		length;

	while ((length = mongo_dump_skip(reader)) > 0)
	{
		if (range == NULL ||
			(max_documents > 0 && range->documents == max_documents) ||
			offset - range->start_offset >= bytes_per_range)
		{
			range = palloc0(sizeof(MongoFileRange));
			range->start_offset = offset;
			ranges = lappend(ranges, range);
		}
		range->documents++;
		offset += length;
	}
	return ranges;
}
