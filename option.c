/*-------------------------------------------------------------------------
 *
 * option.c
 *		  Validation of mongo_etl's options, and lookup of the options a
 *		  scan needs.
 *
 * Every option is checked when it is set (CREATE or ALTER of the server,
 * user mapping, foreign table or column), so a mistake surfaces there and
 * not at the first query.
 *
 * IDENTIFICATION
 *		  option.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "postmaster/bgworker_internals.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "storage/fd.h"

#include "mongo_etl.h"

/* An option name and the catalog of the object it may be set on */
typedef struct MongoOption
{
	const char *name;
	Oid			context;
} MongoOption;

static const MongoOption valid_options[] = {
	{"uri", ForeignServerRelationId},
	{"dump_dir", ForeignServerRelationId},
	{"use_remote_estimate", ForeignServerRelationId},
	{"use_remote_estimate", ForeignTableRelationId},
	{"username", UserMappingRelationId},
	{"password", UserMappingRelationId},
	{"password_required", UserMappingRelationId},
	{"auth_mechanism", UserMappingRelationId},
	{"database", ForeignTableRelationId},
	{"collection", ForeignTableRelationId},
	{"batch_size", ForeignTableRelationId},
	{"file", ForeignTableRelationId},
	{"filter", ForeignTableRelationId},
	{"pipeline", ForeignTableRelationId},
	{"field", AttributeRelationId},
	{"on_type_mismatch", ForeignTableRelationId},
	{"on_type_mismatch", AttributeRelationId},
	{"objectid_timestamp", AttributeRelationId},
	{"bool_values", AttributeRelationId},
	{"bson_type", AttributeRelationId},
	{"import_sample", ForeignTableRelationId},
	{"parallel_workers", ForeignTableRelationId},
	{"write_nulls", ForeignTableRelationId},
	{"import_types", AttributeRelationId},
	{NULL, InvalidOid}
};

static bool is_valid_option(const char *name, Oid context);
static char *valid_option_list(Oid context);
static void validate_uri(const char *uristr);
static void validate_auth_mechanism(const char *value);
static int32 parse_batch_size(const char *value);
static void validate_field_path(const char *path);
static MongoMismatchPolicy parse_mismatch_policy(const char *value);
static uint32 parse_bson_types(const char *value);
static bson_t *parse_json(const char *option, const char *value);
static void check_file_privilege(const char *option);
static char *find_dump_file(const char *dump_dir, const char *database,
							const char *collection);

PG_FUNCTION_INFO_V1(mongo_etl_validator);

/*
 * mongo_etl_validator
 *		Check the options of a mongo_etl server, user mapping, foreign table
 *		or column.  PostgreSQL calls this with the complete resulting option
 *		list on CREATE and ALTER, so required options can be enforced here.
 */
Datum
mongo_etl_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	bool		have_uri = false;
	bool		have_dump_dir = false;
	ListCell   *cell;

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		const char *value = defGetString(def);

		if (!is_valid_option(def->defname, catalog))
		{
			char	   *valid = valid_option_list(catalog);

			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 valid[0] != '\0'
					 ? errhint("Valid options in this context are: %s.",
							   valid)
					 : errhint("There are no valid options in this context.")));
		}

		if (strcmp(def->defname, "uri") == 0)
		{
			validate_uri(value);
			have_uri = true;
		}
		else if (strcmp(def->defname, "dump_dir") == 0 ||
				 strcmp(def->defname, "file") == 0)
		{
			check_file_privilege(def->defname);
			if (value[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"%s\" must not be empty",
								def->defname)));
			have_dump_dir |= strcmp(def->defname, "dump_dir") == 0;
		}
		else if (strcmp(def->defname, "batch_size") == 0)
			(void) parse_batch_size(value);
		else if (strcmp(def->defname, "parallel_workers") == 0)
		{
			char	   *end;
			long		workers = strtol(value, &end, 10);

			if (*value == '\0' || *end != '\0' || workers < 0 ||
				workers > MAX_PARALLEL_WORKER_LIMIT)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"parallel_workers\": \"%s\"",
								value),
						 errhint("Give a number of workers from 0 to %d.",
								 MAX_PARALLEL_WORKER_LIMIT)));
		}
		else if (strcmp(def->defname, "field") == 0)
			validate_field_path(value);
		else if (strcmp(def->defname, "objectid_timestamp") == 0 ||
				 strcmp(def->defname, "bool_values") == 0 ||
				 strcmp(def->defname, "use_remote_estimate") == 0 ||
				 strcmp(def->defname, "write_nulls") == 0 ||
				 strcmp(def->defname, "password_required") == 0)
		{
			bool		flag;

			if (strcmp(def->defname, "password_required") == 0 &&
				parse_bool(value, &flag) && !flag && !superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("password_required=false is superuser-only"),
						 errdetail("Without a password, the connection would rest on what MongoDB lets the database server's host do unauthenticated.")));
			if (!parse_bool(value, &flag))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\": \"%s\"",
								def->defname, value),
						 errhint("Give a Boolean value, such as 'true' or 'false'.")));
		}
		else if (strcmp(def->defname, "auth_mechanism") == 0)
			validate_auth_mechanism(value);
		else if (strcmp(def->defname, "on_type_mismatch") == 0)
			(void) parse_mismatch_policy(value);
		else if (strcmp(def->defname, "bson_type") == 0)
			(void) parse_bson_types(value);
		else if (strcmp(def->defname, "filter") == 0 ||
				 strcmp(def->defname, "pipeline") == 0)
			(void) parse_json(def->defname, value);
		else if (value[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"%s\" must not be empty",
							def->defname)));
	}

	if (catalog == ForeignServerRelationId && have_uri == have_dump_dir)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a mongo_etl server needs either the option \"uri\" or the option \"dump_dir\""),
				 errhint("Give a MongoDB connection string, for example OPTIONS (uri 'mongodb://127.0.0.1:27017/'), or the directory of a mongodump output, OPTIONS (dump_dir '/backups/dump').")));

	PG_RETURN_VOID();
}

/*
 * is_valid_option
 *		Whether an option of this name may be set on this kind of object.
 */
static bool
is_valid_option(const char *name, Oid context)
{
	const MongoOption *opt;

	for (opt = valid_options; opt->name != NULL; opt++)
	{
		if (opt->context == context && strcmp(opt->name, name) == 0)
			return true;
	}
	return false;
}

/*
 * valid_option_list
 *		The options valid for this kind of object, comma-separated, for the
 *		hint of an "invalid option" error.
 */
static char *
valid_option_list(Oid context)
{
	const MongoOption *opt;
	StringInfoData buf;

	initStringInfo(&buf);
	for (opt = valid_options; opt->name != NULL; opt++)
	{
		if (opt->context == context)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
							 opt->name);
	}
	return buf.data;
}

/*
 * validate_uri
 *		Parse a connection string with libmongoc's own parser, so that
 *		whatever libmongoc accepts (mongodb+srv, TLS and read preference
 *		options, replica sets) is accepted, and nothing else.  Credentials
 *		belong in the user mapping, where only its owner and superusers can
 *		read them; a password here would be visible to every user who can
 *		see the server.
 */
static void
validate_uri(const char *uristr)
{
	mongoc_uri_t *uri;
	bson_error_t error;
	bool		has_password;

	mongo_library_init();

	uri = mongoc_uri_new_with_error(uristr, &error);
	if (uri == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid MongoDB connection string in option \"uri\""),
				 errdetail_internal("%s", error.message),
				 strstr(error.message, "mechanism") != NULL
				 ? errhint("Name the authentication mechanism in the user mapping option auth_mechanism, next to the username and password.")
				 : 0));

	has_password = mongoc_uri_get_password(uri) != NULL;

	/*
	 * Options naming files (tlsCAFile, tlsCertificateKeyFile, tlsCRLFile
	 * and their ssl* forms) make the backend read them: only for those
	 * who may read the server's files
	 */
	{
		bson_iter_t iter;
		const bson_t *options = mongoc_uri_get_options(uri);

		if (options != NULL && bson_iter_init(&iter, options))
		{
			while (bson_iter_next(&iter))
			{
				const char *key = bson_iter_key(&iter);
				size_t		len = strlen(key);

				if (len > 4 && pg_strcasecmp(key + len - 4, "file") == 0 &&
					!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
				{
					/* the key lives in the uri's memory */
					char	   *name = pstrdup(key);

					mongoc_uri_destroy(uri);
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("permission denied to set the connection string option \"%s\"",
									name),
							 errdetail("Only superusers and members of pg_read_server_files may name files on the database server.")));
				}
			}
		}
	}
	mongoc_uri_destroy(uri);

	if (has_password)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"uri\" must not contain a password"),
				 errhint("Set username and password in the user mapping instead.")));
}

/*
 * validate_auth_mechanism
 *		The user mapping option auth_mechanism names one of the mechanisms
 *		libmongoc implements.  It is a user mapping option, not part of the
 *		uri, because libmongoc refuses a uri that names a mechanism but no
 *		user, and the user belongs in the mapping.
 */
static void
validate_auth_mechanism(const char *value)
{
	static const char *const mechanisms[] = {
		"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "MONGODB-X509", "GSSAPI",
		"MONGODB-AWS", NULL
	};
	const char *const *mechanism;

	for (mechanism = mechanisms; *mechanism != NULL; mechanism++)
	{
		if (strcmp(value, *mechanism) == 0)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"auth_mechanism\": \"%s\"",
					value),
			 errhint("Valid values are SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, MONGODB-X509, GSSAPI and MONGODB-AWS; without the option, libmongoc asks the server which SCRAM mechanism to use.")));
}

/*
 * parse_batch_size
 *		Parse the batch_size option: a positive integer.
 */
static int32
parse_batch_size(const char *value)
{
	int			result;

	if (!parse_int(value, &result, 0, NULL) || result <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"batch_size\": \"%s\"",
						value),
				 errhint("Give a positive integer number of documents.")));
	return result;
}

/*
 * validate_field_path
 *		A field path is one or more non-empty names joined by dots, or
 *		$$ROOT for the whole document.  A name starting with '$' would be
 *		read by MongoDB as an operator, not a field, so it is refused.
 */
static void
validate_field_path(const char *path)
{
	const char *segment = path;

	if (strcmp(path, MONGO_WHOLE_DOCUMENT) == 0)
		return;

	for (;;)
	{
		const char *dot = strchr(segment, '.');
		size_t		len = dot ? (size_t) (dot - segment) : strlen(segment);

		if (len == 0 || segment[0] == '$')
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"field\": \"%s\"",
							path),
					 errdetail("A field path is one or more field names joined by dots, or $$ROOT for the whole document; no name may be empty or start with \"$\".")));
		if (dot == NULL)
			break;
		segment = dot + 1;
	}
}

/*
 * check_file_privilege
 *		Options that make the server read files are for superusers and
 *		members of pg_read_server_files only, as in file_fdw: anyone else
 *		could read any file the server's operating system user can.
 */
static void
check_file_privilege(const char *option)
{
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set option \"%s\"", option),
				 errdetail("Only superusers and members of pg_read_server_files may set options that read files on the database server.")));
}

/*
 * mongo_get_option
 *		The value of the option of this name in a DefElem list, or NULL.
 */
const char *
mongo_get_option(List *options, const char *name)
{
	ListCell   *cell;

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

/*
 * mongo_get_table_options
 *		Resolve a foreign table's options for a scan.  The collection
 *		defaults to the table's own name.  On a server given by uri, the
 *		database defaults to the one named in the uri.  On a dump_dir
 *		server, the scan reads the table's file option, or else the
 *		collection's file in the dump directory.
 */
void
mongo_get_table_options(ForeignTable *table, ForeignServer *server,
						MongoTableOptions *options)
{
	const char *database = mongo_get_option(table->options, "database");
	const char *collection = mongo_get_option(table->options, "collection");
	const char *batch_size = mongo_get_option(table->options, "batch_size");
	const char *file = mongo_get_option(table->options, "file");
	const char *filter = mongo_get_option(table->options, "filter");
	const char *pipeline = mongo_get_option(table->options, "pipeline");
	const char *uristr = mongo_get_option(server->options, "uri");
	const char *dump_dir = mongo_get_option(server->options, "dump_dir");
	char	   *relname = get_rel_name(table->relid);

	/* names and JSON go to MongoDB in UTF-8 */
	options->collection = mongo_utf8_name(collection != NULL ? collection
										  : relname,
										  "the collection name of foreign table",
										  relname);
	options->batch_size = batch_size != NULL
		? parse_batch_size(batch_size) : MONGO_DEFAULT_BATCH_SIZE;
	options->database = database != NULL
		? mongo_utf8_name(database, "the database name of foreign table",
						  relname)
		: NULL;
	options->dump_file = NULL;
	options->filter = filter != NULL
		? parse_json("filter",
					 mongo_utf8_name(filter, "the filter of foreign table",
									 relname))
		: NULL;
	options->pipeline = pipeline != NULL
		? parse_json("pipeline",
					 mongo_utf8_name(pipeline, "the pipeline of foreign table",
									 relname))
		: NULL;

	if (dump_dir != NULL)
	{
		if (filter != NULL || pipeline != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("foreign table \"%s\" has the option \"%s\" but its server \"%s\" reads mongodump files",
							get_rel_name(table->relid),
							filter != NULL ? "filter" : "pipeline",
							server->servername),
					 errdetail("Only a MongoDB server runs filters and pipelines.")));
		if (file == NULL)
			options->dump_file = find_dump_file(dump_dir, options->database,
												options->collection);
		else if (is_absolute_path(file))
			options->dump_file = pstrdup(file);
		else
			options->dump_file = psprintf("%s/%s", dump_dir, file);
		return;
	}

	if (file != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("foreign table \"%s\" has the option \"file\" but its server \"%s\" reads from MongoDB",
						get_rel_name(table->relid), server->servername),
				 errhint("Put tables that read mongodump files on a server with the option \"dump_dir\".")));

	if (options->database == NULL)
	{
		mongoc_uri_t *uri = mongoc_uri_new_with_error(uristr, NULL);

		if (uri != NULL && mongoc_uri_get_database(uri) != NULL)
			options->database = pstrdup(mongoc_uri_get_database(uri));
		if (uri != NULL)
			mongoc_uri_destroy(uri);
	}
	if (options->database == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" names no MongoDB database",
						get_rel_name(table->relid)),
				 errhint("Set the table option \"database\", or name the database in the server's uri.")));
}

/*
 * find_dump_file
 *		The file mongodump wrote for a collection: <dir>/<database>/ holds
 *		one directory per database; a dump of one database may also have
 *		been pointed at directly.  Each may be compressed (--gzip).
 */
static char *
find_dump_file(const char *dump_dir, const char *database,
			   const char *collection)
{
	static const char *const suffixes[] = {".bson", ".bson.gz"};
	List	   *tried = NIL;
	StringInfoData list;
	ListCell   *lc;
	int			pass;

	/*
	 * Users who may create tables on the server choose these names; they
	 * must not lead out of the dump directory.
	 */
	if ((database != NULL &&
		 (strchr(database, '/') != NULL || strcmp(database, "..") == 0)) ||
		strchr(collection, '/') != NULL || strcmp(collection, "..") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("database and collection names of a mongodump file must not contain \"/\" or be \"..\"")));

	for (pass = 0; pass < 2; pass++)
	{
		size_t		i;

		/* first inside the database's directory, then the directory itself */
		if (pass == 0 && database == NULL)
			continue;
		for (i = 0; i < lengthof(suffixes); i++)
		{
			char	   *path = pass == 0
				? psprintf("%s/%s/%s%s", dump_dir, database, collection,
						   suffixes[i])
				: psprintf("%s/%s%s", dump_dir, collection, suffixes[i]);

			if (access(path, F_OK) == 0)
				return path;
			tried = lappend(tried, path);
		}
	}

	initStringInfo(&list);
	foreach(lc, tried)
		appendStringInfo(&list, "%s\"%s\"", list.len > 0 ? ", " : "",
						 (char *) lfirst(lc));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
			 errmsg("no mongodump file found for collection \"%s\"",
					collection),
			 errdetail("Looked for %s.", list.data),
			 errhint("Set the table option \"file\" to name the file.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * mongo_get_column_field
 *		The field path a column reads: its "field" option, or else its name.
 */
char *
mongo_get_column_field(Oid relid, AttrNumber attnum, const char *attname)
{
	const char *field = mongo_get_option(GetForeignColumnOptions(relid,
																 attnum),
										 "field");

	return mongo_utf8_name(field != NULL ? field : attname,
						   "the field name of column", attname);
}

/*
 * mongo_column_flag
 *		A boolean column option, false when not set.
 */
bool
mongo_column_flag(Oid relid, AttrNumber attnum, const char *name)
{
	ListCell   *cell;

	foreach(cell, GetForeignColumnOptions(relid, attnum))
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		bool		flag;

		if (strcmp(def->defname, name) == 0)
			return parse_bool(defGetString(def), &flag) && flag;
	}
	return false;
}

/*
 * parse_json
 *		The value of option filter (a query filter: a document) or pipeline
 *		(an aggregation pipeline: an array of stages, each a document with
 *		one $-operator), in MongoDB extended JSON, as a bson_t in palloc'd
 *		memory; a pipeline as the array's BSON document.
 */
static bson_t *
parse_json(const char *option, const char *value)
{
	bool		is_pipeline = strcmp(option, "pipeline") == 0;
	char	   *json = is_pipeline ? psprintf("{\"pipeline\": %s}", value)
		: pstrdup(value);
	bson_error_t error;
	bson_t	   *parsed = bson_new_from_json((const uint8_t *) json, -1, &error);
	bson_t		content;
	bson_t	   *result;
	void	   *allocation;
	const char *problem = NULL;
	uint8_t    *data;

	/* libbson would read a top-level array as a document */
	if (parsed != NULL && !is_pipeline && value[strspn(value, " \t\r\n")] != '{')
	{
		bson_destroy(parsed);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\"", option),
				 errdetail("It is not a document.")));
	}
	if (parsed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\"", option),
				 errdetail("libbson could not parse it as extended JSON: %s.",
						   error.message),
				 errhint("%s", is_pipeline
						 ? "Give an array of stages, for example '[{\"$unwind\": \"$items\"}]'."
						 : "Give a query document, for example '{\"type\": \"order\"}'. Write $type with a single type name.")));

	if (!is_pipeline)
		bson_init_static(&content, bson_get_data(parsed), parsed->len);
	else
	{
		bson_iter_t iter;
		uint32		len;
		const uint8_t *array;

		/* nothing may follow the array inside the braces added above */
		if (bson_count_keys(parsed) != 1 || !bson_iter_init(&iter, parsed) ||
			!bson_iter_next(&iter) || !BSON_ITER_HOLDS_ARRAY(&iter))
			problem = "It is not an array of stages.";
		else
		{
			bson_iter_t stage;

			bson_iter_array(&iter, &len, &array);
			bson_init_static(&content, array, len);
			bson_iter_init(&stage, &content);
			while (problem == NULL && bson_iter_next(&stage))
			{
				const uint8_t *stage_data;
				uint32		stage_len;
				bson_t		doc;
				bson_iter_t op;

				if (!BSON_ITER_HOLDS_DOCUMENT(&stage))
				{
					problem = "A stage is not a document.";
					break;
				}
				bson_iter_document(&stage, &stage_len, &stage_data);
				bson_init_static(&doc, stage_data, stage_len);
				if (bson_count_keys(&doc) != 1 ||
					!bson_iter_init(&op, &doc) || !bson_iter_next(&op) ||
					bson_iter_key(&op)[0] != '$')
					problem = "Each stage must be a document with one stage operator, such as {\"$match\": {...}}.";
			}
		}
	}
	if (problem != NULL)
	{
		bson_destroy(parsed);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\"", option),
				 errdetail("%s", problem)));
	}

	/* keep the document (the stages' array) in palloc'd memory */
	data = palloc(content.len);
	memcpy(data, bson_get_data(&content), content.len);
	bson_destroy(parsed);
	result = mongo_palloc0_bson_aligned(allocation, sizeof(bson_t));
	bson_init_static(result, data, content.len);
	return result;
}

/*
 * mongo_column_bson_types
 *		The BSON types a column's option bson_type declares, as a set of
 *		MONGO_BSON_TYPE_BIT bits, or 0 when the option is not set.
 */
uint32
mongo_column_bson_types(Oid relid, AttrNumber attnum)
{
	const char *value = mongo_get_option(GetForeignColumnOptions(relid,
																 attnum),
										 "bson_type");

	return value != NULL ? parse_bson_types(value) : 0;
}

/*
 * parse_bson_types
 *		The value of option bson_type: BSON type names as MongoDB's $type
 *		spells them, separated by commas.  null and undefined are not
 *		types a field is declared to hold, and minKey/maxKey never are.
 */
static uint32
parse_bson_types(const char *value)
{
	char	   *list = pstrdup(value);
	char	   *name;
	char	   *saveptr = NULL;
	uint32		types = 0;

	for (name = strtok_r(list, ",", &saveptr); name != NULL;
		 name = strtok_r(NULL, ",", &saveptr))
	{
		int			type;

		while (*name == ' ')
			name++;
		while (name[0] != '\0' && name[strlen(name) - 1] == ' ')
			name[strlen(name) - 1] = '\0';
		type = mongo_bson_type_from_name(name);
		if (type < 0 || type >= 32 || type == BSON_TYPE_NULL ||
			type == BSON_TYPE_UNDEFINED)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"bson_type\": \"%s\"",
							value),
					 errdetail("\"%s\" is not a BSON type a field can be declared to hold.",
							   name),
					 errhint("Give BSON type names as MongoDB's $type spells them, separated by commas, for example 'objectId' or 'string, objectId'.")));
		types |= MONGO_BSON_TYPE_BIT(type);
	}
	if (types == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"bson_type\" must name at least one BSON type")));
	return types;
}

/*
 * parse_mismatch_policy
 *		The value of option on_type_mismatch.
 */
static MongoMismatchPolicy
parse_mismatch_policy(const char *value)
{
	if (strcmp(value, "error") == 0)
		return MONGO_MISMATCH_ERROR;
	if (strcmp(value, "null") == 0)
		return MONGO_MISMATCH_NULL;
	if (strcmp(value, "skip") == 0)
		return MONGO_MISMATCH_SKIP;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"on_type_mismatch\": \"%s\"",
					value),
			 errhint("Valid values are \"error\", \"null\" and \"skip\".")));
	return MONGO_MISMATCH_ERROR;	/* keep compiler quiet */
}

/*
 * mongo_column_mismatch_policy
 *		What a value that does not fit this column does: the column's
 *		on_type_mismatch option, else the table's, else "error".
 */
MongoMismatchPolicy
mongo_column_mismatch_policy(ForeignTable *table, AttrNumber attnum)
{
	const char *policy = mongo_get_option(GetForeignColumnOptions(table->relid,
																  attnum),
										  "on_type_mismatch");

	if (policy == NULL)
		policy = mongo_get_option(table->options, "on_type_mismatch");
	return policy != NULL ? parse_mismatch_policy(policy)
		: MONGO_MISMATCH_ERROR;
}
