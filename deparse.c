/*-------------------------------------------------------------------------
 *
 * deparse.c
 *		  Building what a scan sends MongoDB: the projection of the fields
 *		  a query needs, and the find command EXPLAIN shows.
 *
 * Filters, sorts and limits are not pushed down yet: PostgreSQL evaluates
 * every WHERE clause on the rows the scan returns.
 *
 * IDENTIFICATION
 *		  deparse.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mongo_etl.h"

static char *projected_path(const char *path);
static bool path_covers(const char *prefix, const char *path);

/*
 * mongo_build_projection
 *		The projection document for a scan's columns: each needed field path
 *		once.  MongoDB rejects a projection naming both a path and a path
 *		below it ("address" and "address.city"), so a path below another
 *		wanted path is left out: the parent brings it along.  _id is always
 *		returned (MongoDB's default), because error messages name it.  A
 *		$$ROOT column needs every field: then the projection is empty.
 */
bson_t *
mongo_build_projection(MongoColumn *columns, int ncolumns)
{
	bson_t	   *projection = bson_new();
	char	  **paths = palloc(sizeof(char *) * Max(ncolumns, 1));
	int			i;

	/* the whole document is wanted: an empty projection returns it */
	for (i = 0; i < ncolumns; i++)
	{
		if (columns[i].whole_document)
			return projection;
	}

	for (i = 0; i < ncolumns; i++)
		paths[i] = projected_path(columns[i].field);

	for (i = 0; i < ncolumns; i++)
	{
		bool		redundant = false;
		int			j;

		for (j = 0; j < ncolumns && !redundant; j++)
		{
			/* covered by a shorter path, or the same path seen earlier */
			if (j != i && path_covers(paths[j], paths[i]) &&
				(strlen(paths[j]) < strlen(paths[i]) || j < i))
				redundant = true;
		}
		if (!redundant)
			BSON_APPEND_INT32(projection, paths[i], 1);
	}

	if (ncolumns == 0)
		BSON_APPEND_INT32(projection, "_id", 1);
	return projection;
}

/*
 * projected_path
 *		The part of a field path a projection can name.  In a projection
 *		MongoDB reads "tags.0" as a field called "0" inside each element of
 *		the array, not as its first element, so the projection stops before
 *		the first all-digit segment and the conversion picks the element.
 */
static char *
projected_path(const char *path)
{
	const char *segment = path;

	for (;;)
	{
		const char *dot = strchr(segment, '.');
		size_t		len = dot ? (size_t) (dot - segment) : strlen(segment);

		if (segment != path && strspn(segment, "0123456789") == len)
			return pnstrdup(path, segment - path - 1);
		if (dot == NULL)
			return pstrdup(path);
		segment = dot + 1;
	}
}

/*
 * path_covers
 *		Whether the field path prefix is path itself or one of its parents.
 */
static bool
path_covers(const char *prefix, const char *path)
{
	size_t		len = strlen(prefix);

	return strncmp(prefix, path, len) == 0 &&
		(path[len] == '\0' || path[len] == '.');
}

/*
 * mongo_find_command_string
 *		The find command a scan runs, as relaxed extended JSON, for EXPLAIN.
 *		It is assembled from the same filter and options the scan passes to
 *		mongoc_collection_find_with_opts, so it shows exactly what is sent.
 */
char *
mongo_find_command_string(const MongoTableOptions *options,
						  const bson_t *filter, const bson_t *find_opts)
{
	bson_t		command = BSON_INITIALIZER;
	bson_iter_t iter;
	char	   *json;
	char	   *result;

	BSON_APPEND_UTF8(&command, "find", options->collection);
	BSON_APPEND_DOCUMENT(&command, "filter", filter);
	if (bson_iter_init(&iter, find_opts))
	{
		while (bson_iter_next(&iter))
			bson_append_iter(&command, bson_iter_key(&iter), -1, &iter);
	}
	BSON_APPEND_UTF8(&command, "$db", options->database);

	json = bson_as_relaxed_extended_json(&command, NULL);
	result = pstrdup(json);
	bson_free(json);
	bson_destroy(&command);
	return result;
}
