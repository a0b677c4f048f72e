/*-------------------------------------------------------------------------
 *
 * import.c
 *		  IMPORT FOREIGN SCHEMA for mongo_etl: one foreign table per
 *		  collection, with columns inferred from a sample of its documents.
 *
 * The remote schema is a MongoDB database.  A server given by uri lists its
 * collections and views (listCollections) and samples each with $sample, or
 * where the server lacks $sample reads documents from several places of
 * the _id order (sample_server); a dump_dir server lists the .bson and
 * .bson.gz files of the database's directory and reads the types of every
 * document of each, or of documents spread over the whole of a very large
 * one (sample_dump).  Every field path of the sample becomes a column whose
 * type can hold every value seen (see column_type), declaring the BSON
 * types that convert into it exactly (see declared_types); what was seen
 * is recorded in the column's option import_types and the table's
 * import_sample, so a user can tell why a column came out as jsonb.
 *
 * IDENTIFICATION
 *		  import.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/defrem.h"
#include "common/hashfn.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "mongo_etl.h"

/* Documents sampled per collection unless the option sample_size says */
#define MONGO_DEFAULT_SAMPLE_SIZE 1000

/*
 * Where the server has no $sample, a collection larger than the sample is
 * sampled at this many places of its _id order, evenly spread from its
 * first document to its last.  Each place is one query, which a server
 * without $sample (FerretDB 1.x) answers by reading and sorting the whole
 * collection: 0.65 s per place for 20,000 documents there, so more places
 * would make IMPORT slow on a large collection for little gain.
 */
#define MONGO_SAMPLE_PLACES 5

/*
 * A collection of at most this many times sample_size documents (10,000
 * by default) is read whole instead of sampled: that is well under a
 * second from a server, and a field whose type changes in a handful of
 * documents (4 integers in 2,548 strings on a held-out collection) would
 * otherwise be missed by a sample and fail the first load.
 */
#define MONGO_SAMPLE_WHOLE_FACTOR 10

/*
 * A mongodump file is read to its end.  Up to this many bytes of BSON, the
 * types of every document are counted: a walk over each document's
 * elements without converting them, measured at 0.13 us per document of
 * 10 fields (280 bytes), next to 0.08 us to read it from a cached file, so
 * that a GiB costs about half a second more than reading it.  Beyond that,
 * documents are counted at growing intervals (sample_size documents at one
 * in 2, then as many at one in 4, and so on), which keeps the rest of the
 * walk at the speed of reading while every part of the file contributes.
 */
#define MONGO_DUMP_WALK_BYTES ((uint64) 1024 * 1024 * 1024)

/* Largest BSON type number kept in per-type counts (Decimal128, 0x13) */
#define MONGO_MAX_COUNTED_TYPE 0x13

/* What the sample showed of one field path */
typedef struct InferredField
{
	char	   *path;			/* dotted path from the document's root */
	int			depth;			/* 0 for a top-level field */
	uint64		seen[MONGO_MAX_COUNTED_TYPE + 1];	/* values per BSON type */
	uint64		other;			/* values of types beyond those */
	uint32		types;			/* BSON types seen, null and undefined
								 * aside */
	uint32		element_types;	/* for arrays: their elements' types */
	bool		binary_not_uuid;	/* a binData that is not a UUID */
	bool		element_binary_not_uuid;
	uint64		present;		/* documents where the field exists */
} InferredField;

/* The sample of one collection */
typedef struct Sample
{
	List	   *fields;			/* InferredField, in order of first
								 * appearance */
	uint64		documents;
	int			flatten_depth;
	List	   *skipped_keys;	/* keys no field path can name */
	MemoryContext context;		/* where fields and skipped_keys live */
	MemoryContext scratch;		/* reset after each document */
	int			next_field;		/* index of the field after the one last
								 * found: documents mostly repeat their
								 * fields' order */
} Sample;

/* Options of IMPORT FOREIGN SCHEMA */
typedef struct ImportOptions
{
	int			sample_size;
	int			flatten_depth;
	char	   *document_column;	/* name of a $$ROOT jsonb column, or NULL */
} ImportOptions;

static void parse_import_options(List *options, ImportOptions *opts);
static List *server_collections(MongoConnection *conn, const char *servername,
								const char *database);
static List *dump_collections(const char *dump_dir, const char *database);
static bool wanted(ImportForeignSchemaStmt *stmt, const char *collection);
static char *file_collection(const char *name);
static int	list_string_compare(const ListCell *a, const ListCell *b);
static const char *sample_server(MongoConnection *conn, const char *servername,
								 const char *database,
								 const char *collection, Sample *sample,
								 int size);
static void append_id_order(bson_t *opts, int64 limit, int64 skip);
static bool sample_random(mongoc_collection_t *coll, const char *servername,
						  const char *database, const char *collection,
						  Sample *sample, int size);
static void sample_server_query(MongoConnection *conn,
								const char *servername, const char *database,
								const char *collection,
								mongoc_collection_t *coll, const bson_t *opts,
								Sample *sample);
static void sample_cursor(mongoc_cursor_t *cursor, const bson_t *first,
						  const char *servername, const char *database,
						  const char *collection, Sample *sample);
static const char *sample_dump(const char *path, Sample *sample, int size);
static uint64 walk_dump(MongoDumpReader *reader, Sample *sample, int size);
static void add_document(Sample *sample, const bson_t *document);
static void add_fields(Sample *sample, bson_iter_t *iter, const char *prefix,
					   int depth);
static InferredField *field_for(Sample *sample, const char *path, int depth);
static const char *column_type(InferredField *field, uint32 types,
							   bool binary_not_uuid, bool *declare);
static uint32 declared_types(const char *type, uint32 seen);
static char *type_names(uint32 types);
static char *observed_types(InferredField *field, uint64 documents);
static bool flattened(Sample *sample, InferredField *field);
static bool ancestors_flattened(Sample *sample, const char *path);
static char *column_name(const char *path, List **used);
static char *create_table_command(ImportForeignSchemaStmt *stmt,
								  ForeignServer *server,
								  const char *collection, Sample *sample,
								  const char *how, ImportOptions *opts);

/*
 * mongoImportForeignSchema
 *		The CREATE FOREIGN TABLE commands for the collections of the MongoDB
 *		database stmt->remote_schema, as LIMIT TO and EXCEPT select them.
 */
List *
mongoImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	const char *uri = mongo_get_option(server->options, "uri");
	const char *dump_dir = mongo_get_option(server->options, "dump_dir");
	ImportOptions opts;
	MongoConnection *volatile conn = NULL;
	List	   *volatile commands = NIL;

	parse_import_options(stmt->options, &opts);
	if (uri != NULL)
		conn = mongo_get_connection(server,
									GetUserMapping(GetUserId(), serverOid));

	/* an error, or a cancel, must still let go of the client */
	PG_TRY();
	{
		List	   *collections;
		ListCell   *lc;
		char	   *database = NULL;

		/* MongoDB's names are UTF-8; the commands are in this database's */
		if (conn != NULL)
		{
			database = mongo_utf8_name(stmt->remote_schema,
									   "the database name",
									   stmt->remote_schema);
			collections = server_collections(conn, server->servername,
											 database);
		}
		else
			collections = dump_collections(dump_dir, stmt->remote_schema);

		foreach(lc, collections)
		{
			const char *entry = strVal(lfirst(lc));
			const char *collection = conn != NULL
				? entry : file_collection(entry);
			Sample		sample;
			const char *how;

			if (!wanted(stmt, mongo_server_text(collection)))
				continue;
			memset(&sample, 0, sizeof(sample));
			sample.flatten_depth = opts.flatten_depth;
			sample.context = CurrentMemoryContext;
			sample.scratch = AllocSetContextCreate(CurrentMemoryContext,
												   "mongo_etl import sample",
												   ALLOCSET_DEFAULT_SIZES);
			if (conn != NULL)
				how = sample_server(conn, server->servername, database,
									collection, &sample, opts.sample_size);
			else
				how = sample_dump(psprintf("%s/%s/%s", dump_dir,
										   stmt->remote_schema, entry),
								  &sample, opts.sample_size);
			MemoryContextDelete(sample.scratch);
			commands = lappend(commands,
							   create_table_command(stmt, server,
													mongo_server_text(collection),
													&sample, how, &opts));
		}
	}
	PG_FINALLY();
	{
		if (conn != NULL)
			mongo_release_connection(conn);
	}
	PG_END_TRY();
	return commands;
}

/*
 * parse_import_options
 *		sample_size (documents per collection, default 1000), flatten_depth
 *		(levels of embedded documents made into columns, default 0: they
 *		are jsonb columns), document_column (add a jsonb column of that
 *		name holding the whole document).
 */
static void
parse_import_options(List *options, ImportOptions *opts)
{
	ListCell   *lc;

	opts->sample_size = MONGO_DEFAULT_SAMPLE_SIZE;
	opts->flatten_depth = 0;
	opts->document_column = NULL;
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		const char *value = defGetString(def);
		char	   *end;
		long		number;

		if (strcmp(def->defname, "document_column") == 0)
		{
			opts->document_column = pstrdup(value);
			continue;
		}
		if (strcmp(def->defname, "sample_size") != 0 &&
			strcmp(def->defname, "flatten_depth") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 errhint("Valid options of IMPORT FOREIGN SCHEMA are: sample_size, flatten_depth, document_column.")));
		errno = 0;
		number = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || number < 0 ||
			number > (strcmp(def->defname, "sample_size") == 0
					  ? 1000000 : 100) ||
			(number == 0 && strcmp(def->defname, "sample_size") == 0))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"%s\": \"%s\"",
							def->defname, value),
					 errhint("sample_size is between 1 and 1000000 documents, flatten_depth between 0 and 100 levels.")));
		if (strcmp(def->defname, "sample_size") == 0)
			opts->sample_size = (int) number;
		else
			opts->flatten_depth = (int) number;
	}
}

/*
 * server_collections
 *		The names of the collections and views of a database, sorted, but
 *		not its system.* collections.
 */
static List *
server_collections(MongoConnection *conn, const char *servername,
				   const char *database)
{
	mongoc_database_t *db;
	bson_t		opts = BSON_INITIALIZER;
	char	  **names;
	bson_error_t error;
	List	   *result = NIL;
	int			i;

	db = mongoc_client_get_database(mongo_connection_client(conn), database);
	names = mongoc_database_get_collection_names_with_opts(db, &opts, &error);
	mongoc_database_destroy(db);
	bson_destroy(&opts);
	if (names == NULL)
		mongo_report_error(&error, servername, database, "");
	for (i = 0; names[i] != NULL; i++)
	{
		if (strncmp(names[i], "system.", 7) != 0)
			result = lappend(result, makeString(pstrdup(names[i])));
	}
	bson_strfreev(names);
	list_sort(result, list_string_compare);
	return result;
}

/*
 * list_string_compare
 *		Order String nodes by their text.
 */
static int
list_string_compare(const ListCell *a, const ListCell *b)
{
	return strcmp(strVal(lfirst(a)), strVal(lfirst(b)));
}

/*
 * dump_collections
 *		The collection files (name.bson, name.bson.gz) of a database's
 *		directory in a mongodump output, sorted.
 */
static List *
dump_collections(const char *dump_dir, const char *database)
{
	char	   *path = psprintf("%s/%s", dump_dir, database);
	DIR		   *dir = AllocateDir(path);
	struct dirent *entry;
	List	   *result = NIL;
	ListCell   *lc;

	while ((entry = ReadDir(dir, path)) != NULL)
	{
		const char *name = entry->d_name;
		size_t		len = strlen(name);

		if ((len > 5 && strcmp(name + len - 5, ".bson") == 0) ||
			(len > 8 && strcmp(name + len - 8, ".bson.gz") == 0))
		{
			if (strncmp(name, "system.", 7) != 0)
				result = lappend(result, makeString(pstrdup(name)));
		}
	}
	FreeDir(dir);

	/*
	 * Sorted, name.bson comes before name.bson.gz: keep one file of each
	 * collection, the uncompressed, as a scan would read it
	 */
	list_sort(result, list_string_compare);
	foreach(lc, result)
	{
		if (foreach_current_index(lc) > 0 &&
			strcmp(file_collection(strVal(list_nth(result,
												   foreach_current_index(lc) - 1))),
				   file_collection(strVal(lfirst(lc)))) == 0)
			result = foreach_delete_current(result, lc);
	}
	return result;
}

/*
 * wanted
 *		Whether LIMIT TO or EXCEPT let a collection be imported, by its name,
 *		which is its table's (PostgreSQL filters the commands again; this
 *		spares sampling the others).
 */
static bool
wanted(ImportForeignSchemaStmt *stmt, const char *collection)
{
	ListCell   *lc;

	if (stmt->list_type == FDW_IMPORT_SCHEMA_ALL)
		return true;
	foreach(lc, stmt->table_list)
	{
		if (strcmp(((RangeVar *) lfirst(lc))->relname, collection) == 0)
			return stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO;
	}
	return stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT;
}

/*
 * file_collection
 *		The collection a mongodump file holds: its name without .bson or
 *		.bson.gz (a collection's name may itself contain dots).  Other
 *		names are returned as they are.
 */
static char *
file_collection(const char *name)
{
	size_t		len = strlen(name);

	if (len > 8 && strcmp(name + len - 8, ".bson.gz") == 0)
		return pnstrdup(name, len - 8);
	if (len > 5 && strcmp(name + len - 5, ".bson") == 0)
		return pnstrdup(name, len - 5);
	return pstrdup(name);
}

/*
 * sample_server
 *		Read a sample of a collection into sample, and return how, for the
 *		NOTICE and the table's option.  A collection of at most
 *		MONGO_SAMPLE_WHOLE_FACTOR times size documents is read whole, so
 *		that a field whose type changes in a few documents is seen.  A
 *		larger one is sampled with $sample where the server has it, and
 *		otherwise (FerretDB 1.x) at MONGO_SAMPLE_PLACES places of its _id
 *		order spread from its first document to its last, so that fields
 *		whose types change as documents are added, or that appear only in
 *		later documents, are seen.  Documents are read in _id order, so
 *		that the columns (in the order their fields first appear) come out
 *		the same each time from the same documents.
 */
static const char *
sample_server(MongoConnection *conn, const char *servername,
			  const char *database, const char *collection, Sample *sample,
			  int size)
{
	mongoc_collection_t *coll;
	bson_error_t error;
	int64		whole = (int64) size * MONGO_SAMPLE_WHOLE_FACTOR;
	volatile int64 count = -1;
	volatile int places = 0;
	const char *volatile how = "$sample";
	int			place;

	coll = mongoc_client_get_collection(mongo_connection_client(conn),
										database, collection);
	PG_TRY();
	{
		/* -1 when the server cannot tell */
		count = mongo_estimated_count(coll, &error);
		if (count >= 0 && count <= whole)
		{
			bson_t		opts = BSON_INITIALIZER;

			/* one more, to tell a collection that grew since it was counted */
			append_id_order(&opts, whole + 1, 0);
			sample_server_query(conn, servername, database, collection, coll,
								&opts, sample);
			bson_destroy(&opts);
			how = sample->documents <= (uint64) whole ? "the whole collection" :
				psprintf("the first documents in _id order: the server counted " INT64_FORMAT,
						 count);
		}
		else if (!sample_random(coll, servername, database, collection,
								sample, size))
		{
			/* no $sample: places of the _id order, or the first documents */
			places = count < 0 ? 1 : Min(MONGO_SAMPLE_PLACES, size);
			for (place = 0; place < places; place++)
			{
				/* the sample's share of this place, and where it starts */
				int64		take = (int64) size * (place + 1) / places -
					(int64) size * place / places;
				int64		skip = places == 1 ? 0 :
					(count - take) * place / (places - 1);
				bson_t		opts = BSON_INITIALIZER;

				append_id_order(&opts, take, skip);
				sample_server_query(conn, servername, database, collection,
									coll, &opts, sample);
				bson_destroy(&opts);
			}
			how = places > 1 ?
				psprintf("from %d places of the _id order of about " INT64_FORMAT " documents: the server has no $sample",
						 places, count) :
				"the first documents in _id order: the server has no $sample";
		}
	}
	PG_CATCH();
	{
		mongoc_collection_destroy(coll);
		PG_RE_THROW();
	}
	PG_END_TRY();
	mongoc_collection_destroy(coll);
	return how;
}

/*
 * append_id_order
 *		Add to a find's opts: limit documents in _id order, after skip.
 */
static void
append_id_order(bson_t *opts, int64 limit, int64 skip)
{
	bson_t		sort;

	BSON_APPEND_INT64(opts, "limit", limit);
	BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "_id", 1);
	bson_append_document_end(opts, &sort);
	if (skip > 0)
		BSON_APPEND_INT64(opts, "skip", skip);
}

/*
 * sample_random
 *		Add size documents drawn at random by the server's $sample to the
 *		sample, in _id order.  Returns false, having read nothing, where the
 *		server has no $sample.
 */
static bool
sample_random(mongoc_collection_t *coll, const char *servername,
			  const char *database, const char *collection, Sample *sample,
			  int size)
{
	mongoc_cursor_t *cursor;
	bson_t	   *pipeline;
	const bson_t *document;
	bson_error_t error;
	bool		found;

	pipeline = BCON_NEW("pipeline", "[",
						"{", "$sample", "{", "size", BCON_INT32(size), "}", "}",
						"{", "$sort", "{", "_id", BCON_INT32(1), "}", "}",
						"]");
	cursor = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline,
										 NULL, NULL);
	bson_destroy(pipeline);
	found = mongoc_cursor_next(cursor, &document);
	if (!found && mongoc_cursor_error(cursor, &error))
	{
		mongoc_cursor_destroy(cursor);
		return false;
	}
	sample_cursor(cursor, found ? document : NULL, servername, database,
				  collection, sample);
	return true;
}

/*
 * sample_server_query
 *		Add the documents a find with opts returns to the sample.
 */
static void
sample_server_query(MongoConnection *conn, const char *servername,
					const char *database, const char *collection,
					mongoc_collection_t *coll, const bson_t *opts,
					Sample *sample)
{
	bson_t		filter = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *document;

	cursor = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
	bson_destroy(&filter);
	sample_cursor(cursor, mongoc_cursor_next(cursor, &document)
				  ? document : NULL,
				  servername, database, collection, sample);
}

/*
 * sample_cursor
 *		Add first, unless NULL, and the documents after it to the sample;
 *		destroy the cursor, also on an error or a cancel.
 */
static void
sample_cursor(mongoc_cursor_t *cursor, const bson_t *first,
			  const char *servername, const char *database,
			  const char *collection, Sample *sample)
{
	const bson_t *document = first;
	bson_error_t error;

	PG_TRY();
	{
		while (document != NULL)
		{
			add_document(sample, document);
			CHECK_FOR_INTERRUPTS();
			if (!mongoc_cursor_next(cursor, &document))
				document = NULL;
		}
		if (mongoc_cursor_error(cursor, &error))
			mongo_report_error(&error, servername, database, collection);
	}
	PG_CATCH();
	{
		mongoc_cursor_destroy(cursor);
		PG_RE_THROW();
	}
	PG_END_TRY();
	mongoc_cursor_destroy(cursor);
}

/*
 * sample_dump
 *		Count the types of the documents of a mongodump file into the
 *		sample (see walk_dump).  Returns how, for the NOTICE and the
 *		table's option.  The file is closed also on an error (a corrupt
 *		document) or a cancel.
 */
static const char *
sample_dump(const char *path, Sample *sample, int size)
{
	MongoDumpReader *reader = mongo_dump_open(path);
	uint64		documents = 0;

	PG_TRY();
	{
		documents = walk_dump(reader, sample, size);
	}
	PG_CATCH();
	{
		mongo_dump_close(reader);
		PG_RE_THROW();
	}
	PG_END_TRY();
	mongo_dump_close(reader);

	if (sample->documents == documents)
		return "every document of the file";
	return psprintf("of " UINT64_FORMAT " documents: every one in the first %d MiB of the file, then some at growing intervals to its end",
					documents, (int) (MONGO_DUMP_WALK_BYTES / (1024 * 1024)));
}

/*
 * walk_dump
 *		Read a mongodump file to its end, counting into the sample the
 *		types of every document in its first MONGO_DUMP_WALK_BYTES, then of
 *		size documents at each of growing intervals.  Returns the number of
 *		documents of the file.
 */
static uint64
walk_dump(MongoDumpReader *reader, Sample *sample, int size)
{
	const bson_t *document;
	uint64		documents = 0;
	uint64		interval = 1;
	uint64		counted_at_interval = 0;
	uint64		next = 0;

	while (mongo_dump_next(reader, &document))
	{
		if (interval == 1 &&
			mongo_dump_document_offset(reader) >= MONGO_DUMP_WALK_BYTES)
		{
			interval = 2;
			next = documents;
		}
		if (documents == next)
		{
			add_document(sample, document);
			next += interval;
			if (interval > 1 && ++counted_at_interval >= (uint64) size)
			{
				interval *= 2;
				counted_at_interval = 0;
			}
		}
		documents++;
		CHECK_FOR_INTERRUPTS();
	}
	return documents;
}

/*
 * add_document
 *		Count one document's fields into the sample.  What the walk
 *		allocates for one document (the paths of embedded fields) is freed
 *		after it, as a dump file's every document may be walked.
 */
static void
add_document(Sample *sample, const bson_t *document)
{
	bson_iter_t iter;
	MemoryContext old = MemoryContextSwitchTo(sample->scratch);

	sample->documents++;
	sample->next_field = 0;
	if (bson_iter_init(&iter, document))
		add_fields(sample, &iter, NULL, 0);
	MemoryContextSwitchTo(old);
	MemoryContextReset(sample->scratch);
}

/*
 * add_fields
 *		Count the fields of a document (or embedded document, at depth),
 *		and the elements of arrays; embedded documents are walked down to
 *		flatten_depth levels, for their fields to become columns.  A key no
 *		field path can name (empty, starting with $, or holding a dot) is
 *		noted and left to the whole-document column.
 */
static void
add_fields(Sample *sample, bson_iter_t *iter, const char *prefix, int depth)
{
	while (bson_iter_next(iter))
	{
		const char *key = bson_iter_key(iter);
		bson_type_t type = bson_iter_type(iter);
		InferredField *field;
		char	   *path;

		if (key[0] == '\0' || key[0] == '$' || strchr(key, '.') != NULL)
		{
			path = prefix ? psprintf("%s.%s", prefix, key) : pstrdup(key);
			if (!list_member(sample->skipped_keys, makeString(path)))
			{
				MemoryContext old = MemoryContextSwitchTo(sample->context);

				sample->skipped_keys = lappend(sample->skipped_keys,
											   makeString(pstrdup(path)));
				MemoryContextSwitchTo(old);
			}
			continue;
		}
		path = prefix ? psprintf("%s.%s", prefix, key) : (char *) key;
		field = field_for(sample, path, depth);
		field->present++;
		if ((int) type <= MONGO_MAX_COUNTED_TYPE)
			field->seen[type]++;
		else
			field->other++;
		if (type == BSON_TYPE_NULL || type == BSON_TYPE_UNDEFINED)
			continue;
		if ((int) type < 32)
			field->types |= MONGO_BSON_TYPE_BIT(type);
		if (type == BSON_TYPE_BINARY)
		{
			bson_subtype_t subtype;
			uint32_t	len;
			const uint8_t *data;

			bson_iter_binary(iter, &subtype, &len, &data);
			if (!((subtype == BSON_SUBTYPE_UUID ||
				   subtype == BSON_SUBTYPE_UUID_DEPRECATED) && len == 16))
				field->binary_not_uuid = true;
		}
		else if (type == BSON_TYPE_ARRAY)
		{
			bson_iter_t elements;

			if (bson_iter_recurse(iter, &elements))
			{
				while (bson_iter_next(&elements))
				{
					bson_type_t etype = bson_iter_type(&elements);

					if (etype == BSON_TYPE_NULL || etype == BSON_TYPE_UNDEFINED)
						continue;
					if ((int) etype < 32)
						field->element_types |= MONGO_BSON_TYPE_BIT(etype);
					else
						field->element_types |=
							MONGO_BSON_TYPE_BIT(BSON_TYPE_DOCUMENT);
					if (etype == BSON_TYPE_BINARY)
					{
						bson_subtype_t subtype;
						uint32_t	len;
						const uint8_t *data;

						bson_iter_binary(&elements, &subtype, &len, &data);
						if (!((subtype == BSON_SUBTYPE_UUID ||
							   subtype == BSON_SUBTYPE_UUID_DEPRECATED) &&
							  len == 16))
							field->element_binary_not_uuid = true;
					}
				}
			}
		}
		else if (type == BSON_TYPE_DOCUMENT && depth < sample->flatten_depth)
		{
			bson_iter_t children;

			if (bson_iter_recurse(iter, &children))
				add_fields(sample, &children, path, depth + 1);
		}
	}
}

/*
 * field_for
 *		The sample's entry for a field path, added at the end (order of
 *		first appearance) when new.  The entry after the one last found is
 *		tried first: documents of a collection mostly have their fields in
 *		the same order, so walking every document of a file costs one
 *		comparison per field rather than a search.
 */
static InferredField *
field_for(Sample *sample, const char *path, int depth)
{
	ListCell   *lc;
	InferredField *field;
	MemoryContext old;

	if (sample->next_field < list_length(sample->fields))
	{
		field = list_nth(sample->fields, sample->next_field);
		if (strcmp(field->path, path) == 0)
		{
			sample->next_field++;
			return field;
		}
	}
	foreach(lc, sample->fields)
	{
		field = lfirst(lc);
		if (strcmp(field->path, path) == 0)
		{
			sample->next_field = foreach_current_index(lc) + 1;
			return field;
		}
	}
	old = MemoryContextSwitchTo(sample->context);
	field = palloc0(sizeof(InferredField));
	field->path = pstrdup(path);
	field->depth = depth;
	sample->fields = lappend(sample->fields, field);
	MemoryContextSwitchTo(old);
	sample->next_field = list_length(sample->fields);
	return field;
}

/*
 * column_type
 *		The PostgreSQL type for the BSON types a field (or an array's
 *		elements) showed, and whether to declare those types (option
 *		bson_type, which lets filters on the column go to MongoDB):
 *		int32 int4; int32 and int64 int8; integers and doubles float8; any
 *		number with Decimal128 numeric; strings, ObjectIds or both text;
 *		dates and timestamps timestamptz; booleans bool; UUIDs uuid, other
 *		binData bytea; arrays of one such type that type's array; anything
 *		else, mixtures and fields seen only as null, jsonb, which holds
 *		every value without losing its structure.
 */
static const char *
column_type(InferredField *field, uint32 types, bool binary_not_uuid,
			bool *declare)
{
	const uint32 int32 = MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32);
	const uint32 ints = int32 | MONGO_BSON_TYPE_BIT(BSON_TYPE_INT64);
	const uint32 floats = ints | MONGO_BSON_TYPE_BIT(BSON_TYPE_DOUBLE);
	const uint32 numbers = floats | MONGO_BSON_TYPE_BIT(BSON_TYPE_DECIMAL128);
	const uint32 texts = MONGO_BSON_TYPE_BIT(BSON_TYPE_UTF8) |
		MONGO_BSON_TYPE_BIT(BSON_TYPE_OID);
	const uint32 times = MONGO_BSON_TYPE_BIT(BSON_TYPE_DATE_TIME) |
		MONGO_BSON_TYPE_BIT(BSON_TYPE_TIMESTAMP);

	*declare = true;
	if (types == 0)
	{
		*declare = false;
		return "jsonb";
	}
	if ((types & ~int32) == 0)
		return "integer";
	if ((types & ~ints) == 0)
		return "bigint";
	if ((types & ~floats) == 0)
		return "double precision";
	if ((types & ~numbers) == 0)
		return "numeric";
	if ((types & ~texts) == 0)
		return "text";
	if ((types & ~times) == 0)
		return "timestamp with time zone";
	if (types == MONGO_BSON_TYPE_BIT(BSON_TYPE_BOOL))
		return "boolean";
	if (types == MONGO_BSON_TYPE_BIT(BSON_TYPE_BINARY))
		return binary_not_uuid ? "bytea" : "uuid";
	if (types == MONGO_BSON_TYPE_BIT(BSON_TYPE_ARRAY) && field != NULL)
	{
		bool		element_declare;
		const char *element = column_type(NULL, field->element_types,
										  field->element_binary_not_uuid,
										  &element_declare);

		if (field->element_types != 0 && strcmp(element, "jsonb") != 0)
			return psprintf("%s[]", element);
	}
	*declare = false;
	return "jsonb";
}

/*
 * BSON types a column of each type the import makes declares (option
 * bson_type) whether or not the sample showed them: those that convert
 * into the column exactly and under which filters and sorts are sent to
 * MongoDB as they are under the types seen.  A sample cannot show every
 * type a field holds; a value of a type declared but not seen still reads.
 * A type that converts only when it fits is not declared: its value would
 * be an error under the column anyway, and declaring it would not help.
 *
 * - integer: int32.  An int64 or a double fits only sometimes.
 * - bigint: int32 and int64.  A double converts only when integral; a BSON
 *   timestamp reads as its 64 bits, another meaning.
 * - double precision: int32 and double.  Every int32 is a double, and a
 *   float8 filter compares both; an int64 past 2^53 or a Decimal128 would
 *   be rounded, and a filter would have to let them through by $type
 *   (deparse.c's comparison_test), so they are declared only when seen.
 * - numeric: every number, as a filter on numeric compares them all; a
 *   double converts to the shortest decimal that reads back as it, as
 *   PostgreSQL's float8-to-numeric cast does.
 * - text: nothing more.  A column of strings alone has its order and LIKE
 *   filters and its sorts sent, and one of ObjectIds alone its sorts; with
 *   the other type declared they would not be (ObjectIds sort apart from
 *   strings in MongoDB).  Numbers would become their decimal text.
 * - timestamptz: BSON dates.  A BSON timestamp converts only to its
 *   second (its counter is lost), and a filter, which compares dates,
 *   would have to let timestamps through, and a sort could not be sent.
 * - boolean, uuid, bytea, arrays: their one BSON type.
 */
static const struct
{
	const char *type;			/* as column_type names it */
	uint32		also;			/* BSON types declared even if not seen */
}			declared_also[] =
{
	{"integer", MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32)},
	{"bigint", MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32) |
	MONGO_BSON_TYPE_BIT(BSON_TYPE_INT64)},
	{"double precision", MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32) |
	MONGO_BSON_TYPE_BIT(BSON_TYPE_DOUBLE)},
	{"numeric", MONGO_BSON_TYPE_BIT(BSON_TYPE_INT32) |
		MONGO_BSON_TYPE_BIT(BSON_TYPE_INT64) |
		MONGO_BSON_TYPE_BIT(BSON_TYPE_DOUBLE) |
	MONGO_BSON_TYPE_BIT(BSON_TYPE_DECIMAL128)},
	{"timestamp with time zone", MONGO_BSON_TYPE_BIT(BSON_TYPE_DATE_TIME)}
};

/*
 * declared_types
 *		The BSON types a column of type declares: those seen, and those of
 *		declared_also.
 */
static uint32
declared_types(const char *type, uint32 seen)
{
	size_t		i;

	for (i = 0; i < lengthof(declared_also); i++)
	{
		if (strcmp(declared_also[i].type, type) == 0)
			return seen | declared_also[i].also;
	}
	return seen;
}

/*
 * type_names
 *		BSON types as option bson_type spells them.
 */
static char *
type_names(uint32 types)
{
	StringInfoData names;
	int			type;

	initStringInfo(&names);
	for (type = 1; type < 32; type++)
	{
		if (types & MONGO_BSON_TYPE_BIT(type))
			appendStringInfo(&names, "%s%s", names.len > 0 ? ", " : "",
							 mongo_bson_type_name((bson_type_t) type));
	}
	return names.data;
}

/*
 * observed_types
 *		What the sample showed of a field, for its option import_types:
 *		values per BSON type, and the documents without it.
 */
static char *
observed_types(InferredField *field, uint64 documents)
{
	StringInfoData text;
	int			type;

	initStringInfo(&text);
	for (type = 1; type <= MONGO_MAX_COUNTED_TYPE; type++)
	{
		if (field->seen[type] > 0)
			appendStringInfo(&text, "%s%s " UINT64_FORMAT,
							 text.len > 0 ? ", " : "",
							 mongo_bson_type_name((bson_type_t) type),
							 field->seen[type]);
	}
	if (field->other > 0)
		appendStringInfo(&text, "%sminKey/maxKey " UINT64_FORMAT,
						 text.len > 0 ? ", " : "", field->other);
	if (field->present < documents)
		appendStringInfo(&text, "%smissing " UINT64_FORMAT,
						 text.len > 0 ? ", " : "",
						 documents - field->present);
	return text.data;
}

/*
 * flattened
 *		Whether a field was always an embedded document, within
 *		flatten_depth: its fields are columns, and it is none itself.
 */
static bool
flattened(Sample *sample, InferredField *field)
{
	return field->depth < sample->flatten_depth &&
		field->types == MONGO_BSON_TYPE_BIT(BSON_TYPE_DOCUMENT);
}

/*
 * ancestors_flattened
 *		Whether every document above a field path is flattened, so that the
 *		field is a column of its own rather than part of a jsonb column.
 */
static bool
ancestors_flattened(Sample *sample, const char *path)
{
	const char *dot = strrchr(path, '.');
	char	   *parent;
	ListCell   *lc;

	if (dot == NULL)
		return true;
	parent = pnstrdup(path, dot - path);
	foreach(lc, sample->fields)
	{
		InferredField *field = lfirst(lc);

		if (strcmp(field->path, parent) == 0)
			return flattened(sample, field) &&
				ancestors_flattened(sample, parent);
	}
	return false;
}

/*
 * column_name
 *		The column name for a field path: the path with its dots made
 *		underscores, cut to fit NAMEDATALEN with a hash of the whole path
 *		at the end, and made unique among used (a number appended).  The
 *		path itself goes in the column's option field.
 */
static char *
column_name(const char *path, List **used)
{
	char	   *base = pstrdup(path);
	char	   *name;
	char	   *p;
	int			n = 1;

	for (p = base; *p != '\0'; p++)
	{
		if (*p == '.')
			*p = '_';
	}
	if (strlen(base) >= NAMEDATALEN - 12)
	{
		int			keep = pg_mbcliplen(base, strlen(base), NAMEDATALEN - 12);

		base = psprintf("%.*s_%08x", keep, base,
						hash_bytes((const unsigned char *) path, strlen(path)));
	}
	name = base;
	for (;;)
	{
		ListCell   *lc;
		bool		taken = false;

		foreach(lc, *used)
		{
			if (strcmp(strVal(lfirst(lc)), name) == 0)
				taken = true;
		}
		if (!taken)
			break;
		name = psprintf("%s_%d", base, ++n);
	}
	*used = lappend(*used, makeString(name));
	return name;
}

/*
 * create_table_command
 *		CREATE FOREIGN TABLE for a collection (its name in the database
 *		encoding): _id first, then the sample's fields in order of first
 *		appearance, then the whole-document column if asked for.
 */
static char *
create_table_command(ImportForeignSchemaStmt *stmt, ForeignServer *server,
					 const char *collection, Sample *sample, const char *how,
					 ImportOptions *opts)
{
	StringInfoData sql;
	List	   *used = NIL;
	ListCell   *lc;
	int			pass;
	int			ncolumns = 0;
	char	   *table = column_name(collection, &used);

	used = NIL;
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE FOREIGN TABLE %s.%s (",
					 quote_identifier(stmt->local_schema),
					 quote_identifier(table));

	/* _id first, however its documents ordered their fields */
	for (pass = 0; pass < 2; pass++)
	{
		foreach(lc, sample->fields)
		{
			InferredField *field = lfirst(lc);
			bool		is_id = strcmp(field->path, "_id") == 0;
			bool		declare;
			const char *type;
			const char *path;
			char	   *name;

			if (is_id != (pass == 0) || flattened(sample, field))
				continue;
			/* below a field that is not always a document: in its jsonb */
			if (!ancestors_flattened(sample, field->path))
				continue;

			type = column_type(field, field->types, field->binary_not_uuid,
							   &declare);
			path = mongo_server_text(field->path);
			name = column_name(path, &used);
			appendStringInfo(&sql, "%s\n  %s %s OPTIONS (", ncolumns++ > 0 ? "," : "",
							 quote_identifier(name), type);
			if (strcmp(name, path) != 0)
				appendStringInfo(&sql, "field %s, ",
								 quote_literal_cstr(path));
			if (declare)
				appendStringInfo(&sql, "bson_type %s, ",
								 quote_literal_cstr(type_names(declared_types(type,
																			  field->types))));
			appendStringInfo(&sql, "import_types %s)",
							 quote_literal_cstr(observed_types(field,
															   sample->documents)));
		}
	}
	if (opts->document_column != NULL)
		appendStringInfo(&sql, "%s\n  %s jsonb OPTIONS (field '$$ROOT')",
						 ncolumns++ > 0 ? "," : "",
						 quote_identifier(column_name(opts->document_column,
													  &used)));
	if (ncolumns == 0)
		appendStringInfoString(&sql, "\n  _id text");

	appendStringInfo(&sql,
					 "\n) SERVER %s OPTIONS (database %s, collection %s, import_sample %s)",
					 quote_identifier(server->servername),
					 quote_literal_cstr(stmt->remote_schema),
					 quote_literal_cstr(collection),
					 quote_literal_cstr(psprintf(UINT64_FORMAT " documents, %s",
												 sample->documents, how)));

	ereport(NOTICE,
			(errmsg("sampled " UINT64_FORMAT " documents of \"%s.%s\" (%s) for %d columns",
					sample->documents, stmt->remote_schema, collection, how,
					ncolumns)));
	if (sample->skipped_keys != NIL)
	{
		StringInfoData keys;

		initStringInfo(&keys);
		foreach(lc, sample->skipped_keys)
			appendStringInfo(&keys, "%s\"%s\"", keys.len > 0 ? ", " : "",
							 mongo_server_text(strVal(lfirst(lc))));
		ereport(NOTICE,
				(errmsg("fields of \"%s.%s\" no column can name: %s",
						stmt->remote_schema, collection, keys.data),
				 errhint("Keys that are empty, start with $ or contain a dot can be read through a whole-document column (option document_column).")));
	}
	return sql.data;
}
