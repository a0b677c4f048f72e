/*-------------------------------------------------------------------------
 *
 * write.c
 *		  The documents of an INSERT into a mongo_etl foreign table, and
 *		  their batches, one insert command per batch; and what every
 *		  write shares: its columns, its collection, its errors.
 *
 * Each column the INSERT gives becomes the field it reads, its value the
 * BSON value a scan would read back as the same Datum (the inverse of
 * bson_convert.c for the types below).  A row whose _id is NULL gets an
 * ObjectId made here, so that RETURNING shows it.  The documents of a
 * batch are inserted in order: when the server refuses one, those before
 * it are written (MongoDB cannot undo them) and the error says how many.
 * The executor's callbacks are modify.c's; this file makes and sends what
 * they hand it, and calls nothing of modify.c.
 *
 * IDENTIFICATION
 *		  write.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "mongo_etl.h"

/*
 * Most BSON bytes kept before they are sent, whatever batch_size says:
 * MongoDB's largest message
 */
#define MONGO_MAX_PENDING_BYTES (48 * 1024 * 1024)

/* MongoDB's error code of a duplicate key */
#define MONGO_DUPLICATE_KEY 11000

/* The documents of an INSERT not sent yet, and what makes them */
struct MongoInsertBatch
{
	Relation	rel;
	const char *servername;
	MongoTableOptions options;
	MongoWriteTarget target;
	MongoWriteColumn *columns;
	int			ncolumns;
	int			id_column;		/* index of _id in columns, or -1 */
	AttrNumber	root_attnum;	/* the $$ROOT column, or 0 */
	Oid			root_typid;		/* its type: jsonb, json or bytea */
	bool		write_nulls;	/* NULL as null, else the field left out */
	uint64		inserted;		/* documents written, for EXPLAIN ANALYZE */
	uint64		commands;		/* insert commands sent */
	bson_writer_t *writer;		/* writes the documents not sent yet, one
								 * after the other, into buffer */
	uint8_t    *buffer;
	size_t		buffer_size;
	size_t	   *offsets;		/* where each starts in it */
	bson_t	   *views;			/* each, when they are sent */
	bson_t	  **view_list;
	int			npending;		/* batch_size at most */
	bool		accumulate;		/* keep documents across the executor's
								 * batches, up to batch_size */
	TupleTableSlot *current_row;	/* the row made a document, for errors */
	bson_t	   *root;			/* its $$ROOT document, libbson's memory:
								 * freed by release_write_resources after an
								 * error */
	MemoryContext row_cxt;		/* reset after every row */
	MemoryContextCallback cleanup;	/* gives the connection back, also after
									 * an error */
};

static void row_document(MongoInsertBatch *state, TupleTableSlot *slot,
						 char *new_id, bson_t *doc);
static void insert_documents(MongoInsertBatch *state, bson_t **docs, int n);
static void send_pending(MongoInsertBatch *state);
static void write_document(MongoInsertBatch *state, TupleTableSlot *slot,
						   char *new_id);
static void release_write_resources(void *arg);
static void row_error_context(void *arg);
static bson_t *root_document(MongoInsertBatch *state, Datum value);
static void check_same_id(MongoInsertBatch *state, TupleTableSlot *slot,
						  const bson_t *root);
static MongoWriteColumn *append_root_fields(MongoInsertBatch *state,
											TupleTableSlot *slot, bson_t *doc,
											const bson_t *root);
static int	compare_paths(const void *a, const void *b);

/*
 * mongo_insert_begin
 *		An INSERT's batch of the columns attrs (attribute numbers): take the
 *		connection and describe each column's field and type.  The batch
 *		lives in the current memory context, and gives the connection back
 *		when it goes.
 */
MongoInsertBatch *
mongo_insert_begin(ResultRelInfo *rinfo, List *attrs)
{
	Relation	rel = rinfo->ri_RelationDesc;
	Oid			relid = RelationGetRelid(rel);
	ForeignTable *table = GetForeignTable(relid);
	ForeignServer *server = GetForeignServer(table->serverid);
	MongoInsertBatch *state;
	ListCell   *lc;

	state = palloc0(sizeof(MongoInsertBatch));
	state->rel = rel;
	state->servername = server->servername;
	mongo_get_table_options(table, server, &state->options);
	state->columns = palloc0(sizeof(MongoWriteColumn) *
							 Max(list_length(attrs), 1));
	state->id_column = -1;
	foreach(lc, attrs)
	{
		AttrNumber	attnum = lfirst_int(lc);
		Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel),
											   attnum - 1);

		if (strcmp(mongo_get_column_field(relid, attnum,
										  NameStr(attr->attname)),
				   "$$ROOT") == 0)
		{
			if (attr->atttypid != JSONBOID && attr->atttypid != JSONOID &&
				attr->atttypid != BYTEAOID)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("cannot insert into column \"%s\" of foreign table \"%s\": a $$ROOT column of type %s",
								NameStr(attr->attname),
								RelationGetRelationName(rel),
								format_type_be(attr->atttypid)),
						 errdetail("A $$ROOT column inserts the whole document from jsonb, json or bytea (BSON).")));
			if (state->root_attnum != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot insert into foreign table \"%s\": it has two $$ROOT columns",
								RelationGetRelationName(rel))));
			state->root_attnum = attnum;
			state->root_typid = attr->atttypid;
			continue;
		}
		mongo_init_write_column(&state->columns[state->ncolumns], rel,
								attnum, "insert into");
		state->ncolumns++;
	}

	/*
	 * in path order, the fields of one subdocument follow each other; a field
	 * and another inside it cannot both be written
	 */
	qsort(state->columns, state->ncolumns, sizeof(MongoWriteColumn),
		  compare_paths);
	for (int i = 0; i < state->ncolumns; i++)
	{
		MongoWriteColumn *col = &state->columns[i];

		if (strcmp(col->field, "_id") == 0)
			state->id_column = i;
		if (i > 0 && col->nsegments >= state->columns[i - 1].nsegments)
		{
			MongoWriteColumn *prev = &state->columns[i - 1];
			int			k = 0;

			while (k < prev->nsegments &&
				   strcmp(prev->segments[k], col->segments[k]) == 0)
				k++;
			if (k == prev->nsegments)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot insert into foreign table \"%s\": columns \"%s\" and \"%s\" both write field \"%s\"",
								RelationGetRelationName(rel), prev->name,
								col->name, prev->field),
						 errhint("Insert through a foreign table that has only one of them.")));
		}
	}
	state->write_nulls = mongo_write_nulls(rel);
	state->row_cxt = AllocSetContextCreate(CurrentMemoryContext,
										   "mongo_etl insert row",
										   ALLOCSET_DEFAULT_SIZES);
	state->offsets = palloc(sizeof(size_t) * state->options.batch_size);
	state->views = palloc(sizeof(bson_t) * state->options.batch_size);
	state->view_list = palloc(sizeof(bson_t *) * state->options.batch_size);
	state->writer = bson_writer_new(&state->buffer, &state->buffer_size, 0,
									bson_realloc_ctx, NULL);
	state->accumulate = rinfo->ri_TrigDesc == NULL ||
		!rinfo->ri_TrigDesc->trig_insert_after_statement;
	state->cleanup.func = release_write_resources;
	state->cleanup.arg = state;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &state->cleanup);
	mongo_open_write_target(&state->target, server, GetUserId(),
							&state->options);
	return state;
}

/*
 * mongo_open_write_target
 *		Connect for a write and open its collection, closed when the current
 *		memory context goes (mongo_close_write_target, also after an error).
 *		Writes take the uri's write concern, as libmongoc applies it to a
 *		collection; an unacknowledged one (w=0) is refused: its writes
 *		report neither errors nor counts, and a statement would claim rows
 *		it cannot know were written.
 */
void
mongo_open_write_target(MongoWriteTarget *target, ForeignServer *server,
						Oid userid, const MongoTableOptions *options)
{
	const mongoc_write_concern_t *concern;

	target->conn = mongo_get_connection(server,
										GetUserMapping(userid,
													   server->serverid));
	target->cleanup.func = mongo_close_write_target;
	target->cleanup.arg = target;
	MemoryContextRegisterResetCallback(CurrentMemoryContext,
									   &target->cleanup);
	target->collection =
		mongoc_client_get_collection(mongo_connection_client(target->conn),
									 options->database, options->collection);
	concern = mongoc_collection_get_write_concern(target->collection);
	if (!mongoc_write_concern_is_acknowledged(concern))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("cannot write through server \"%s\": its uri asks for unacknowledged writes (w=0)",
						server->servername),
				 errdetail("Without acknowledgement, errors and written counts are not reported."),
				 errhint("Use w=1 or more in the uri of a server to write to.")));
}

/*
 * mongo_close_write_target
 *		Free the collection handle and give the connection back: at the end
 *		of the statement, or when its memory goes after an error.
 */
void
mongo_close_write_target(void *arg)
{
	MongoWriteTarget *target = (MongoWriteTarget *) arg;

	if (target->collection != NULL)
		mongoc_collection_destroy(target->collection);
	target->collection = NULL;
	if (target->conn != NULL)
		mongo_release_connection(target->conn);
	target->conn = NULL;
}

/*
 * mongo_write_nulls
 *		The table's write_nulls: NULL written as null (the default), or the
 *		field left out (unset by an UPDATE).
 */
bool
mongo_write_nulls(Relation rel)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	const char *value = mongo_get_option(table->options, "write_nulls");
	bool		result = true;

	if (value != NULL)
		(void) parse_bool(value, &result);
	return result;
}

/*
 * mongo_insert_row
 *		One row of the executor's (ExecForeignInsert): one document.  An _id
 *		made for it goes back into the row, for RETURNING.
 */
TupleTableSlot *
mongo_insert_row(MongoInsertBatch *state, EState *estate,
				 ResultRelInfo *rinfo, TupleTableSlot *slot)
{
	TriggerDesc *triggers = rinfo->ri_TrigDesc;
	char		new_id[25] = "";
	MemoryContext oldcxt = MemoryContextSwitchTo(state->row_cxt);

	write_document(state, slot, new_id);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->row_cxt);

	/*
	 * A row nothing needs back at once (COPY FROM, a row routed to a foreign
	 * partition) waits for batch_size others
	 */
	if (state->accumulate && rinfo->ri_projectReturning == NULL &&
		(triggers == NULL ||
		 (!triggers->trig_insert_after_row &&
		  !triggers->trig_insert_before_row)) &&
		state->npending < state->options.batch_size &&
		bson_writer_get_length(state->writer) < MONGO_MAX_PENDING_BYTES)
		return slot;
	send_pending(state);

	if (new_id[0] != '\0')
	{
		MemoryContext callercxt =
			MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		TupleDesc	tupdesc = RelationGetDescr(state->rel);
		Datum	   *values = palloc(sizeof(Datum) * tupdesc->natts);
		bool	   *nulls = palloc(sizeof(bool) * tupdesc->natts);
		AttrNumber	id = state->columns[state->id_column].attnum;

		memcpy(values, slot->tts_values, sizeof(Datum) * tupdesc->natts);
		memcpy(nulls, slot->tts_isnull, sizeof(bool) * tupdesc->natts);
		values[id - 1] = CStringGetTextDatum(new_id);
		nulls[id - 1] = false;
		ExecStoreHeapTuple(heap_form_tuple(tupdesc, values, nulls), slot,
						   false);
		MemoryContextSwitchTo(callercxt);
	}
	return slot;
}

/*
 * mongo_insert_rows
 *		A batch of the executor's rows (ExecForeignBatchInsert): their
 *		documents, sent batch_size at a time.
 */
void
mongo_insert_rows(MongoInsertBatch *state, TupleTableSlot **slots, int nslots)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(state->row_cxt);

	for (int i = 0; i < nslots; i++)
	{
		write_document(state, slots[i], NULL);
		MemoryContextReset(state->row_cxt);
		if (state->npending == state->options.batch_size ||
			bson_writer_get_length(state->writer) >= MONGO_MAX_PENDING_BYTES)
			send_pending(state);
	}
	MemoryContextSwitchTo(oldcxt);
	if (!state->accumulate)
		send_pending(state);
}

/*
 * write_document
 *		A row's document, written after the others not sent yet: one buffer
 *		holds them all, rather than a block of memory each.
 */
static void
write_document(MongoInsertBatch *state, TupleTableSlot *slot, char *new_id)
{
	bson_t	   *doc;

	state->offsets[state->npending] = bson_writer_get_length(state->writer);
	bson_writer_begin(state->writer, &doc);
	row_document(state, slot, new_id, doc);
	bson_writer_end(state->writer);
	state->npending++;
}

/*
 * send_pending
 *		Insert the documents written, in one ordered command, and start the
 *		buffer over.
 */
static void
send_pending(MongoInsertBatch *state)
{
	if (state->npending == 0)
		return;
	for (int i = 0; i < state->npending; i++)
	{
		const uint8_t *at = state->buffer + state->offsets[i];
		int32		length;

		memcpy(&length, at, sizeof(length));
		bson_init_static(&state->views[i], at, BSON_UINT32_FROM_LE(length));
		state->view_list[i] = &state->views[i];
	}
	insert_documents(state, state->view_list, state->npending);
	state->npending = 0;
	bson_writer_destroy(state->writer);
	state->writer = bson_writer_new(&state->buffer, &state->buffer_size, 0,
									bson_realloc_ctx, NULL);
}

/*
 * row_document
 *		A row's fields, into doc.  A NULL _id becomes a new ObjectId, whose
 *		hexadecimal digits go to new_id (when not NULL); only a text _id
 *		column could hold it.
 */
static void
row_document(MongoInsertBatch *state, TupleTableSlot *slot, char *new_id,
			 bson_t *doc)
{
	ErrorContextCallback context;

	bson_t	   *root = NULL;
	bool		skip_nulls = !state->write_nulls;

	slot_getallattrs(slot);
	state->current_row = slot;
	context.callback = row_error_context;
	context.arg = state;
	context.previous = error_context_stack;
	error_context_stack = &context;
	if (state->root_attnum != 0 && !slot->tts_isnull[state->root_attnum - 1])
	{
		/* the $$ROOT column's document, with the other columns over it */
		root = root_document(state, slot->tts_values[state->root_attnum - 1]);
		state->root = root;
		skip_nulls = true;
	}

	/*
	 * _id first, as MongoDB keeps it: the $$ROOT document's (the same as the
	 * _id column's, when that is given), the column's, or a new one
	 */
	if (root != NULL && bson_has_field(root, "_id"))
	{
		bson_iter_t iter;

		if (state->id_column >= 0 &&
			!slot->tts_isnull[state->columns[state->id_column].attnum - 1])
			check_same_id(state, slot, root);
		if (bson_iter_init_find(&iter, root, "_id"))
			bson_append_iter(doc, "_id", 3, &iter);
	}
	else if (state->id_column >= 0 &&
			 !slot->tts_isnull[state->columns[state->id_column].attnum - 1])
	{
		MongoWriteColumn *col = &state->columns[state->id_column];

		mongo_append_datum(doc, "_id", slot->tts_values[col->attnum - 1],
						   col->typid, col->objectid, col);
	}
	else if (state->id_column >= 0)
	{
		MongoWriteColumn *col = &state->columns[state->id_column];
		bson_oid_t	oid;
		char		hex[25];

		if (col->typid != TEXTOID && col->typid != VARCHAROID)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("null _id in a row for foreign table \"%s\"",
							RelationGetRelationName(state->rel)),
					 errdetail("A row without _id gets a new ObjectId, which column \"%s\" of type %s cannot hold.",
							   col->name, format_type_be(col->typid))));
		bson_oid_init(&oid, NULL);
		bson_oid_to_string(&oid, hex);
		if (new_id != NULL)
			strlcpy(new_id, hex, 25);
		BSON_APPEND_OID(doc, "_id", &oid);
	}
	if (root != NULL)
	{
		MongoWriteColumn *conflict = append_root_fields(state, slot, doc,
														root);

		bson_destroy(root);
		state->root = NULL;
		if (conflict != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" and the $$ROOT column of foreign table \"%s\" both write field \"%s\"",
							conflict->name,
							RelationGetRelationName(state->rel),
							conflict->segments[0]),
					 errhint("Set the field inside the $$ROOT value, or leave the column NULL.")));
	}
	/* the open subdocuments: level[0] is the document, level[d] at depth d */
	{
		bson_t		children[MONGO_MAX_WRITE_DEPTH];
		bson_t	   *level[MONGO_MAX_WRITE_DEPTH + 1];
		MongoWriteColumn *open = NULL;	/* whose path the open levels follow */
		int			depth = 0;

		level[0] = doc;
		for (int i = 0; i < state->ncolumns; i++)
		{
			MongoWriteColumn *col = &state->columns[i];
			AttrNumber	n = col->attnum - 1;
			int			common = 0;
			const char *leaf = col->segments[col->nsegments - 1];

			if (i == state->id_column && bson_has_field(doc, "_id"))
				continue;
			if (slot->tts_isnull[n] && skip_nulls)
				continue;
			/* close what this path leaves, open what it enters */
			while (open != NULL && common < depth &&
				   common < col->nsegments - 1 &&
				   strcmp(open->segments[common], col->segments[common]) == 0)
				common++;
			for (; depth > common; depth--)
				bson_append_document_end(level[depth - 1], level[depth]);
			for (; depth < col->nsegments - 1; depth++)
			{
				bson_append_document_begin(level[depth],
										   col->segments[depth], -1,
										   &children[depth]);
				level[depth + 1] = &children[depth];
			}
			open = col;
			if (slot->tts_isnull[n])
				BSON_APPEND_NULL(level[depth], leaf);
			else
				mongo_append_datum(level[depth], leaf, slot->tts_values[n],
								   col->typid, col->objectid, col);
		}
		for (; depth > 0; depth--)
			bson_append_document_end(level[depth - 1], level[depth]);
	}
	error_context_stack = context.previous;
}

/*
 * root_document
 *		The document a $$ROOT column's value holds: a jsonb or json object
 *		in extended JSON, or a bytea of BSON.
 */
static bson_t *
root_document(MongoInsertBatch *state, Datum value)
{
	bson_error_t error;
	bson_t	   *root = NULL;

	if (state->root_typid == BYTEAOID)
	{
		bytea	   *bytes = DatumGetByteaPP(value);

		root = bson_new_from_data((const uint8_t *) VARDATA_ANY(bytes),
								  VARSIZE_ANY_EXHDR(bytes));
		if (root == NULL ||
			!bson_validate_with_error(root, BSON_VALIDATE_UTF8, &error))
		{
			if (root != NULL)
				bson_destroy(root);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("the $$ROOT value of a row for foreign table \"%s\" is not a BSON document",
							RelationGetRelationName(state->rel)),
					 root == NULL
					 ? errdetail("Its %d bytes are not a length, fields and a closing zero byte.",
								 (int) VARSIZE_ANY_EXHDR(bytes))
					 : errdetail_internal("%s", error.message)));
		}
		return root;
	}
	else
	{
		Oid			output;
		bool		varlena;
		char	   *json;

		getTypeOutputInfo(state->root_typid, &output, &varlena);
		json = OidOutputFunctionCall(output, value);
		if (json[strspn(json, " \t\r\n")] == '{')
		{
			int			length = strlen(json);
			const char *utf8 =
				mongo_utf8_text(json, &length,
								NameStr(TupleDescAttr(RelationGetDescr(state->rel),
													  state->root_attnum - 1)->attname));

			root = bson_new_from_json((const uint8_t *) utf8, length, &error);
		}
		if (root == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("the $$ROOT value of a row for foreign table \"%s\" is not a JSON object",
							RelationGetRelationName(state->rel)),
					 json[strspn(json, " \t\r\n")] == '{'
					 ? errdetail_internal("%s", error.message)
					 : errdetail("A document is written from an object, not from %.32s.",
								 json)));
		return root;
	}
}

/*
 * check_same_id
 *		A row gives _id twice, in its _id column and in its $$ROOT document:
 *		they must read as the same value (the document's keeps its BSON
 *		type: an ObjectId read as text stays an ObjectId).
 */
static void
check_same_id(MongoInsertBatch *state, TupleTableSlot *slot, const bson_t *root)
{
	MongoWriteColumn *col = &state->columns[state->id_column];
	bson_t		wrapper = BSON_INITIALIZER;
	bson_iter_t iter;
	char	   *column_id;
	char	   *document_id;
	Oid			output;
	bool		varlena;

	getTypeOutputInfo(col->typid, &output, &varlena);
	column_id = OidOutputFunctionCall(output,
									  slot->tts_values[col->attnum - 1]);
	if (!bson_iter_init_find(&iter, root, "_id"))
		return;
	switch (bson_iter_type(&iter))
	{
		case BSON_TYPE_OID:
			document_id = palloc(25);
			bson_oid_to_string(bson_iter_oid(&iter), document_id);
			break;
		case BSON_TYPE_UTF8:
			document_id = pstrdup(bson_iter_utf8(&iter, NULL));
			break;
		case BSON_TYPE_INT32:
		case BSON_TYPE_INT64:
			document_id = psprintf(INT64_FORMAT, bson_iter_as_int64(&iter));
			break;
		default:
			return;				/* no text to compare: the document's */
	}
	if (strcmp(column_id, document_id) == 0)
		return;
	bson_append_iter(&wrapper, "_id", 3, &iter);
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("the _id column and the $$ROOT document of a row for foreign table \"%s\" give two _ids",
					RelationGetRelationName(state->rel)),
			 errdetail("Column \"%s\" is %s; the document's _id is %s.",
					   col->name, column_id,
					   mongo_document_id_string(&wrapper)),
			 errhint("Leave the _id column NULL to keep the document's.")));
}

/*
 * append_root_fields
 *		The fields of the $$ROOT column's document, but those a column
 *		given (not NULL) writes instead.  A column of a field inside one of
 *		them (addr.city, when the document has addr) is returned, for an
 *		error: which of the two to keep is unclear.
 */
static MongoWriteColumn *
append_root_fields(MongoInsertBatch *state, TupleTableSlot *slot, bson_t *doc,
				   const bson_t *root)
{
	bson_iter_t iter;

	if (!bson_iter_init(&iter, root))
		return NULL;
	while (bson_iter_next(&iter))
	{
		const char *key = bson_iter_key(&iter);
		bool		replaced = false;

		if (strcmp(key, "_id") == 0 && bson_has_field(doc, "_id"))
			continue;
		for (int i = 0; i < state->ncolumns && !replaced; i++)
		{
			MongoWriteColumn *col = &state->columns[i];

			if (slot->tts_isnull[col->attnum - 1] ||
				strcmp(col->segments[0], key) != 0)
				continue;
			if (col->nsegments > 1)
				return col;
			replaced = true;
		}
		if (!replaced)
			bson_append_iter(doc, key, -1, &iter);
	}
	return NULL;
}

/*
 * row_error_context
 *		Name the row whose value could not be written: its _id, when the
 *		row has one.
 */
static void
row_error_context(void *arg)
{
	MongoInsertBatch *state = (MongoInsertBatch *) arg;
	TupleTableSlot *slot = state->current_row;

	if (state->id_column >= 0 &&
		!slot->tts_isnull[state->columns[state->id_column].attnum - 1])
	{
		MongoWriteColumn *id = &state->columns[state->id_column];
		Oid			output;
		bool		varlena;

		getTypeOutputInfo(id->typid, &output, &varlena);
		errcontext("row with _id %s of foreign table \"%s\"",
				   OidOutputFunctionCall(output,
										 slot->tts_values[id->attnum - 1]),
				   RelationGetRelationName(state->rel));
	}
	else
		errcontext("row without _id of foreign table \"%s\"",
				   RelationGetRelationName(state->rel));
}

/*
 * mongo_init_write_column
 *		Describe a column a write sets: its field, path and type.  A $$ROOT
 *		column cannot be set: verb ("insert into", "update") says by what.
 */
void
mongo_init_write_column(MongoWriteColumn *col, Relation rel,
						AttrNumber attnum, const char *verb)
{
	Oid			relid = RelationGetRelid(rel);
	Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel), attnum - 1);

	col->attnum = attnum;
	col->name = pstrdup(NameStr(attr->attname));
	col->field = mongo_get_column_field(relid, attnum, col->name);
	col->typid = attr->atttypid;
	col->objectid = mongo_column_bson_types(relid, attnum) ==
		MONGO_BSON_TYPE_BIT(BSON_TYPE_OID);
	if (col->field[0] == '$')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s column \"%s\" of foreign table \"%s\": it reads the whole document",
						verb, col->name, RelationGetRelationName(rel)),
				 errdetail("An UPDATE sets fields; a whole document is written by INSERT.")));
	mongo_split_write_field(col, rel);
}

/*
 * mongo_split_write_field
 *		A column's field path, cut at its dots.
 */
void
mongo_split_write_field(MongoWriteColumn *col, Relation rel)
{
	char	   *copy = pstrdup(col->field);
	char	   *next = copy;

	col->nsegments = 0;
	while (next != NULL)
	{
		char	   *dot = strchr(next, '.');

		if (col->nsegments == MONGO_MAX_WRITE_DEPTH)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot insert into column \"%s\" of foreign table \"%s\": its field is more than %d levels deep",
							col->name, RelationGetRelationName(rel),
							MONGO_MAX_WRITE_DEPTH)));
		if (dot != NULL)
			*dot = '\0';
		col->segments[col->nsegments++] = next;
		next = dot != NULL ? dot + 1 : NULL;
	}
}

/*
 * compare_paths
 *		qsort order of columns: by their field paths, a segment at a time.
 */
static int
compare_paths(const void *a, const void *b)
{
	const MongoWriteColumn *x = (const MongoWriteColumn *) a;
	const MongoWriteColumn *y = (const MongoWriteColumn *) b;

	for (int i = 0; i < x->nsegments && i < y->nsegments; i++)
	{
		int			c = strcmp(x->segments[i], y->segments[i]);

		if (c != 0)
			return c;
	}
	return x->nsegments - y->nsegments;
}

/*
 * insert_documents
 *		One ordered insert command.  A duplicate _id is a unique violation
 *		(23505); any refusal says how many documents of the batch the server
 *		wrote before it.
 */
static void
insert_documents(MongoInsertBatch *state, bson_t **docs, int n)
{
	bson_t		reply;
	bson_error_t error;
	bson_t	   *opts;
	bool		ok;
	bson_iter_t iter;
	int64		written = 0;

	if (message_level_is_interesting(DEBUG1))
	{
		char	   *json = bson_as_canonical_extended_json(docs[0], NULL);
		char	   *first = pstrdup(json);

		/* freed before the message, which raises a pending cancel */
		bson_free(json);
		ereport(DEBUG1,
				(errmsg_internal("mongo_etl: inserting %d documents into \"%s.%s\", the first %s",
								 n, state->options.database,
								 state->options.collection, first)));
		pfree(first);
	}
	/* mongo_append_datum wrote only valid UTF-8: no second check */
	opts = BCON_NEW("ordered", BCON_BOOL(true), "validate", BCON_BOOL(false));
	ok = mongoc_collection_insert_many(state->target.collection,
									   (const bson_t **) docs, n, opts,
									   &reply, &error);
	bson_destroy(opts);
	state->commands++;
	if (ok)
	{
		state->inserted += n;
		bson_destroy(&reply);
		return;
	}
	if (bson_iter_init_find(&iter, &reply, "insertedCount") &&
		BSON_ITER_HOLDS_NUMBER(&iter))
		written = bson_iter_as_int64(&iter);
	mongo_report_write_error(state->servername, &state->options,
							 "an insert into", "written", &reply, &error,
							 docs, n, written);
}

/*
 * mongo_report_write_error
 *		Raise the error of a write command that failed: a lost connection
 *		(the server may have applied any part of the batch), a duplicate key
 *		(23505), or another refusal, naming the document it refused (the
 *		_id of docs[index]: the documents inserted, or the filters of
 *		updates and deletes).  done counts the documents of the batch the
 *		server wrote before it; what says how ("written", "updated",
 *		"deleted"); during names the command ("an insert into").  The
 *		reply is freed.
 */
void
mongo_report_write_error(const char *servername,
						 const MongoTableOptions *options, const char *during,
						 const char *what, bson_t *reply,
						 const bson_error_t *error, bson_t **docs, int n,
						 int64 done)
{
	bson_iter_t iter;
	int32		code = 0;
	char	   *id = NULL;

	if (bson_iter_init(&iter, reply) &&
		bson_iter_find_descendant(&iter, "writeErrors.0.code", &iter))
	{
		bson_iter_t index;

		code = (int32) bson_iter_as_int64(&iter);
		if (bson_iter_init(&index, reply) &&
			bson_iter_find_descendant(&index, "writeErrors.0.index", &index))
		{
			int64		at = bson_iter_as_int64(&index);

			if (at >= 0 && at < n)
				id = mongo_document_id_string(docs[at]);
		}
	}
	bson_destroy(reply);

	/*
	 * A connection lost after the command went out: the server may have
	 * applied any part of the batch
	 */
	if (error->domain == MONGOC_ERROR_STREAM &&
		error->code != MONGOC_ERROR_STREAM_NAME_RESOLUTION &&
		error->code != MONGOC_ERROR_STREAM_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("lost the connection to MongoDB server \"%s\" during %s \"%s.%s\"",
						servername, during, options->database,
						options->collection),
				 errdetail("%s. Some or all of the %d documents of this batch may have been %s; MongoDB does not undo them.",
						   error->message, n, what)));
	if (code == 0 && error->domain != MONGOC_ERROR_SERVER &&
		error->domain != MONGOC_ERROR_WRITE_CONCERN)
		mongo_report_error(error, servername, options->database,
						   options->collection);
	ereport(ERROR,
			(errcode(code == MONGO_DUPLICATE_KEY ? ERRCODE_UNIQUE_VIOLATION
					 : ERRCODE_FDW_ERROR),
			 code == MONGO_DUPLICATE_KEY
			 ? errmsg("duplicate key in collection \"%s.%s\" for document _id %s",
					  options->database, options->collection,
					  id ? id : "?")
			 : id != NULL
			 ? errmsg("MongoDB server \"%s\" refused document _id %s during %s \"%s.%s\"",
					  servername, id, during,
					  options->database, options->collection)
			 : errmsg("MongoDB server \"%s\" refused %s \"%s.%s\"",
					  servername, during,
					  options->database, options->collection),
			 n > 0
			 ? errdetail("%s (error code %d). " INT64_FORMAT " of the %d documents of this batch were %s before it; MongoDB does not undo them.",
						 error->message, code, done, n, what)
			 : errdetail("%s (error code %d). " INT64_FORMAT " documents were %s before it; MongoDB does not undo them.",
						 error->message, code, done, what)));
}

/*
 * mongo_insert_flush
 *		Send the documents not sent yet, and count those written and the
 *		commands that wrote them (for EXPLAIN ANALYZE, which prints before
 *		the end of the INSERT).
 */
void
mongo_insert_flush(MongoInsertBatch *state, uint64 *documents,
				   uint64 *commands)
{
	send_pending(state);
	*documents = state->inserted;
	*commands = state->commands;
}

/*
 * mongo_insert_end
 *		Send the last documents, and give the connection back.
 */
void
mongo_insert_end(MongoInsertBatch *state)
{
	send_pending(state);
	release_write_resources(state);
}

/*
 * release_write_resources
 *		Free the documents' buffer and a row's $$ROOT document, close the
 *		collection and give the connection back: at the end of the INSERT,
 *		or when its memory goes after an error (the transaction's abort
 *		frees no memory libbson malloc'd).
 */
static void
release_write_resources(void *arg)
{
	MongoInsertBatch *state = (MongoInsertBatch *) arg;

	state->npending = 0;
	if (state->root != NULL)
		bson_destroy(state->root);
	state->root = NULL;
	if (state->writer != NULL)
		bson_writer_destroy(state->writer);
	state->writer = NULL;
	if (state->buffer != NULL)
		bson_free(state->buffer);
	state->buffer = NULL;
	mongo_close_write_target(&state->target);
}
