/*-------------------------------------------------------------------------
 *
 * fuzz_dump.c
 *		  A libFuzzer target for the mongodump reader (dump.c) and the
 *		  conversion of documents into tuples (bson_convert.c).
 *
 * Both run on the backend's memory contexts, error handling, catalogs and
 * type input functions, so the target runs inside a backend: fuzz/run.sh
 * builds the extension with clang's coverage and UndefinedBehaviorSanitizer
 * instrumentation into one library with this file, starts postgres in
 * single-user mode, and calls
 * mongo_etl_fuzz_dump(), which hands the process to libFuzzer through
 * LLVMFuzzerRunDriver.
 *
 * Each input is written to a file and read as a mongodump file would be
 * (as one compressed by mongodump --gzip when it starts as gzip does);
 * every document it yields is copied to the very end of pages of its own,
 * followed by an inaccessible page, so that any read past its end crashes
 * (the reader's large buffer would hide it), walked element by element with
 * the scan's walker (bson_walk.h), both its steps, and with libbson's
 * bson_iter_next side by side, at every depth, which must agree on every
 * step, and converted three times: into columns of every kind with
 * on_type_mismatch 'null', and twice with 'error'.  The first strict
 * converter is kept for the whole run, so it takes the fast path of an
 * element that is what the documents before had at its position
 * (convert_known_field in bson_convert.c); the second is made for the
 * document alone, knows no document before it and takes the general walk.
 * The two must agree: both raise the same ERROR, or neither does and every
 * column has the same value (or is NULL in both); where they differ, the
 * target aborts.
 * An ERROR is a correct outcome for a bad input, and is caught; a crash or
 * an UndefinedBehaviorSanitizer report is a bug.
 *
 * AddressSanitizer is not used: its runtime, preloaded into the
 * uninstrumented postgres executable, deadlocks in glibc's locale setup
 * before main().
 *
 * IDENTIFICATION
 *		  fuzz/fuzz_dump.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "bson_walk.h"
#include "mongo_etl.h"

/* how deep check_walker follows documents and arrays */
#define FUZZ_WALK_DEPTH 100

/* keys this long and longer are not tried as the expected key */
#define FUZZ_KEY_SIZE 64

/* libFuzzer's entry point for a program that has a main() of its own */
extern int	LLVMFuzzerRunDriver(int *argc, char ***argv,
								int (*callback) (const uint8_t *data,
												 size_t size));

/* numeric(10,2) and varchar(5), for the typmod checks */
#define NUMERIC_10_2_TYPMOD (((10 << 16) | 2) + VARHDRSZ)
#define VARCHAR_5_TYPMOD (5 + VARHDRSZ)

/* The columns every document is converted into */
typedef struct FuzzColumn
{
	const char *name;
	const char *field;
	Oid			typid;
	int32		typmod;
} FuzzColumn;

static const FuzzColumn fuzz_columns[] = {
	{"_id", "_id", TEXTOID, -1},
	{"s", "s", INT2OID, -1},
	{"i", "i", INT4OID, -1},
	{"l", "l", INT8OID, -1},
	{"r", "r", FLOAT4OID, -1},
	{"f", "f", FLOAT8OID, -1},
	{"n", "n", NUMERICOID, -1},
	{"n2", "n2", NUMERICOID, NUMERIC_10_2_TYPMOD},
	{"t", "t", TEXTOID, -1},
	{"v", "v", VARCHAROID, VARCHAR_5_TYPMOD},
	{"b", "b", BOOLOID, -1},
	{"ts", "ts", TIMESTAMPTZOID, -1},
	{"tl", "tl", TIMESTAMPOID, -1},
	{"d", "d", DATEOID, -1},
	{"j", "j", JSONBOID, -1},
	{"js", "js", JSONOID, -1},
	{"by", "by", BYTEAOID, -1},
	{"u", "u", UUIDOID, -1},
	{"ai", "ai", INT4ARRAYOID, -1},
	{"at", "at", TEXTARRAYOID, -1},
	{"aj", "aj", JSONBARRAYOID, -1},
	{"ip", "ip", INETOID, -1},
	{"deep", "a.b.c", TEXTOID, -1},
	{"pos", "a.0", INT8OID, -1},
	{"root_jsonb", "$$ROOT", JSONBOID, -1},
	{"root_json", "$$ROOT", JSONOID, -1},
	{"root_text", "$$ROOT", TEXTOID, -1},
	{"root_bytea", "$$ROOT", BYTEAOID, -1},
};

#define FUZZ_NCOLUMNS lengthof(fuzz_columns)

static MongoConverter *tolerant_converter;	/* on_type_mismatch 'null' */
static MongoConverter *strict_converter;	/* on_type_mismatch 'error' */
static MongoColumn *fresh_columns;	/* 'error' too, for the converter made
									 * anew for each document */
static int16 column_typlen[FUZZ_NCOLUMNS];	/* of each column's type */
static bool column_typbyval[FUZZ_NCOLUMNS];
static char input_path[MAXPGPATH];
static char gzip_input_path[MAXPGPATH]; /* input_path with ".gz" added */
static MemoryContext input_context;		/* reset after every input */
static MemoryContext document_context;	/* reset after every document */

PG_FUNCTION_INFO_V1(mongo_etl_fuzz_dump);

static MongoColumn *make_columns(MongoMismatchPolicy policy, bool lenient);
static MongoConverter *make_converter(MongoMismatchPolicy policy,
									  bool lenient);
static int	fuzz_one_input(const uint8_t *data, size_t size);
static void convert_document(const bson_t *document, MongoDumpReader *reader);
static void check_fast_path(const bson_t *document, MongoDumpReader *reader);
static ErrorData *convert_catching(MongoConverter *converter,
								   const bson_t *document,
								   MongoDumpReader *reader, Datum *values,
								   bool *isnull);
static void check_keyed_step(const bson_iter_t *before,
							 const bson_iter_t *walked, const char *key);
static void check_walker(bson_iter_t *walker, bson_iter_t *reference,
						 int depth);

/*
 * mongo_etl_fuzz_dump(input_file text, libfuzzer_args text[])
 *		Run libFuzzer with the given arguments (corpus directories and
 *		options such as -max_total_time); each input goes through
 *		input_file.  libFuzzer ends the process itself when it is done.
 */
Datum
mongo_etl_fuzz_dump(PG_FUNCTION_ARGS)
{
	ArrayType  *args = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			nargs;
	int			argc;
	char	  **argv;
	int			i;

	strlcpy(input_path, text_to_cstring(PG_GETARG_TEXT_PP(0)), MAXPGPATH);
	snprintf(gzip_input_path, MAXPGPATH, "%s.gz", input_path);
	deconstruct_array(args, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nargs);
	argv = palloc0(sizeof(char *) * (nargs + 2));
	argv[0] = "mongo_etl_fuzz_dump";
	for (i = 0; i < nargs; i++)
	{
		if (nulls[i])
			elog(ERROR, "libFuzzer arguments must not be null");
		argv[i + 1] = TextDatumGetCString(elems[i]);
	}
	argc = nargs + 1;

	input_context = AllocSetContextCreate(TopMemoryContext, "fuzz input",
										  ALLOCSET_DEFAULT_SIZES);
	document_context = AllocSetContextCreate(TopMemoryContext, "fuzz document",
											 ALLOCSET_DEFAULT_SIZES);
	tolerant_converter = make_converter(MONGO_MISMATCH_NULL, true);
	strict_converter = make_converter(MONGO_MISMATCH_ERROR, false);
	fresh_columns = make_columns(MONGO_MISMATCH_ERROR, false);
	for (i = 0; i < (int) FUZZ_NCOLUMNS; i++)
		get_typlenbyval(fuzz_columns[i].typid, &column_typlen[i],
						&column_typbyval[i]);

	PG_RETURN_INT32(LLVMFuzzerRunDriver(&argc, &argv, fuzz_one_input));
}

/*
 * make_columns
 *		The columns of fuzz_columns with the given policy, kept for the
 *		whole run: their type lookups are done once.
 */
static MongoColumn *
make_columns(MongoMismatchPolicy policy, bool lenient)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	MongoColumn *columns = palloc0(sizeof(MongoColumn) * FUZZ_NCOLUMNS);
	int			i;

	for (i = 0; i < (int) FUZZ_NCOLUMNS; i++)
	{
		const FuzzColumn *c = &fuzz_columns[i];

		mongo_init_column(&columns[i], i + 1, c->name, c->field, c->typid,
						  c->typmod);
		mongo_set_column_policy(&columns[i], policy, lenient, lenient);
	}
	MemoryContextSwitchTo(old);
	return columns;
}

/*
 * make_converter
 *		A converter into every column of fuzz_columns, kept for the whole
 *		run.
 */
static MongoConverter *
make_converter(MongoMismatchPolicy policy, bool lenient)
{
	MongoColumn *columns = make_columns(policy, lenient);
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	MongoConverter *converter;

	converter = mongo_create_converter("fuzz", columns, FUZZ_NCOLUMNS);
	MemoryContextSwitchTo(old);
	return converter;
}

/*
 * fuzz_one_input
 *		Read one input as a mongodump file, in a subtransaction that an
 *		ERROR rolls back, as a query reading the file would be.
 */
static int
fuzz_one_input(const uint8_t *data, size_t size)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	MongoDumpReader *volatile reader = NULL;
	bool		gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
	const char *path = gzip ? gzip_input_path : input_path;
	int			fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t) size || close(fd) != 0)
		elog(FATAL, "could not write \"%s\": %m", path);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(input_context);
	PG_TRY();
	{
		const bson_t *document;

		reader = mongo_dump_open(path);
		while (mongo_dump_next(reader, &document))
			convert_document(document, reader);
		mongo_dump_close(reader);
		reader = NULL;
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(input_context);
		FlushErrorState();
		if (reader != NULL)
			mongo_dump_close(reader);
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();

	MemoryContextSwitchTo(caller_context);
	CurrentResourceOwner = caller_owner;
	MemoryContextReset(document_context);
	MemoryContextReset(input_context);
	return 0;
}

/*
 * convert_document
 *		Convert one document, from a copy that ends where a guard page
 *		begins, with both strict converters (check_fast_path), and then
 *		with the tolerant one, which may raise an ERROR (a damaged
 *		document).  The strict ones go first, so that they see damaged
 *		documents too.
 */
static void
convert_document(const bson_t *document, MongoDumpReader *reader)
{
	MemoryContext old = MemoryContextSwitchTo(document_context);
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	size_t		span = TYPEALIGN(page, document->len) + page;
	uint8_t    *region;
	uint8_t    *copy;
	bson_t		exact;
	bson_iter_t walker;
	bson_iter_t reference;
	Datum		values[FUZZ_NCOLUMNS];
	bool		isnull[FUZZ_NCOLUMNS];

	region = mmap(NULL, span, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED ||
		mprotect(region + span - page, page, PROT_NONE) != 0)
		elog(FATAL, "could not map a guarded buffer: %m");
	copy = region + span - page - document->len;
	memcpy(copy, bson_get_data(document), document->len);
	if (!bson_init_static(&exact, copy, document->len))
		elog(FATAL, "the reader returned a document with a wrong length");
	if (mongo_walk_init(&walker, copy, exact.len) &&
		bson_iter_init(&reference, &exact))
		check_walker(&walker, &reference, 0);

	PG_TRY();
	{
		check_fast_path(&exact, reader);
		tolerant_converter->dump = reader;
		memset(isnull, true, sizeof(isnull));
		(void) mongo_document_to_slot(tolerant_converter, &exact, values,
									  isnull);
	}
	PG_FINALLY();
	{
		munmap(region, span);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextReset(document_context);
}

/*
 * check_fast_path
 *		Convert a document with the strict converter kept for the whole run,
 *		which takes convert_known_field's fast path wherever the document
 *		has what the documents before had at a position, and with a strict
 *		converter made now, in the document's memory context, which has
 *		seen no document and so walks this one the general way (except
 *		where a key repeats with a document or array as its value: the
 *		second walk of its fields is given what the first found).  The fast
 *		path must accept exactly what the general walk accepts and give the
 *		same values: abort, as a crash libFuzzer reports, when one conversion
 *		raises an ERROR and the other does not, when both raise different
 *		ones (in code, message or context: the $$ROOT columns walk the
 *		whole document again, so a damaged element the fast path let
 *		through is an ERROR still, but one of a $$ROOT column), or when a
 *		column is NULL in one and not in the other or holds another value
 *		(compared as datumIsEqual does, byte for byte).
 */
static void
check_fast_path(const bson_t *document, MongoDumpReader *reader)
{
	MongoConverter *fresh_converter;
	Datum		values[FUZZ_NCOLUMNS];
	bool		isnull[FUZZ_NCOLUMNS];
	Datum		fresh_values[FUZZ_NCOLUMNS];
	bool		fresh_isnull[FUZZ_NCOLUMNS];
	ErrorData  *error;
	ErrorData  *fresh_error;
	int			i;

	fresh_converter = mongo_create_converter("fuzz", fresh_columns,
											 FUZZ_NCOLUMNS);
	error = convert_catching(strict_converter, document, reader, values,
							 isnull);
	fresh_error = convert_catching(fresh_converter, document, reader,
								   fresh_values, fresh_isnull);

	if ((error == NULL) != (fresh_error == NULL))
	{
		fprintf(stderr, "only the %s strict converter raised an ERROR: %s\n",
				error != NULL ? "persistent" : "fresh",
				error != NULL ? error->message : fresh_error->message);
		abort();
	}
	if (error != NULL)
	{
		if (error->sqlerrcode != fresh_error->sqlerrcode ||
			strcmp(error->message, fresh_error->message) != 0 ||
			strcmp(error->context ? error->context : "",
				   fresh_error->context ? fresh_error->context : "") != 0)
		{
			fprintf(stderr, "the strict converters raised different ERRORs: \"%s\" (%s) and \"%s\" (%s)\n",
					error->message, error->context ? error->context : "",
					fresh_error->message,
					fresh_error->context ? fresh_error->context : "");
			abort();
		}
		return;
	}

	for (i = 0; i < (int) FUZZ_NCOLUMNS; i++)
	{
		if (isnull[i] != fresh_isnull[i] ||
			(!isnull[i] &&
			 !datumIsEqual(values[i], fresh_values[i], column_typbyval[i],
						   column_typlen[i])))
		{
			fprintf(stderr, "the strict converters differ in column \"%s\"%s\n",
					fuzz_columns[i].name,
					isnull[i] != fresh_isnull[i] ? " (NULL in one)" : "");
			abort();
		}
	}
}

/*
 * convert_catching
 *		Convert a document into values and isnull (all NULL first), and
 *		return the ERROR the conversion raised, or NULL.  The conversion
 *		takes no locks or buffers, so the error only needs flushing.
 */
static ErrorData *
convert_catching(MongoConverter *converter, const bson_t *document,
				 MongoDumpReader *reader, Datum *values, bool *isnull)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *volatile error = NULL;

	converter->dump = reader;
	memset(isnull, true, sizeof(bool) * FUZZ_NCOLUMNS);
	PG_TRY();
	{
		(void) mongo_document_to_slot(converter, document, values, isnull);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		error = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	return error;
}

/*
 * check_keyed_step
 *		From the iterator before a step, step as the scan does when it
 *		expects the key key, and abort if that takes a step mongo_walk_next
 *		did not take (walked is the iterator after mongo_walk_next's step).
 */
static void
check_keyed_step(const bson_iter_t *before, const bson_iter_t *walked,
				 const char *key)
{
	bson_iter_t keyed = *before;
	int			key_len = strlen(key);
	uint64		key_word;
	uint64		key_mask;

	mongo_walk_key_word(key, key_len, &key_word, &key_mask);
	if (!mongo_walk_has_key(&keyed, key, key_len, key_word, key_mask))
		return;
	if (!mongo_walk_step(&keyed, keyed.next_off + 1 + key_len) ||
		memcmp(&keyed, walked, offsetof(bson_iter_t, value)) != 0)
	{
		fprintf(stderr, "the step to the expected key \"%s\" differs from mongo_walk_next at byte %u\n",
				key, walked->off);
		abort();
	}
}

/*
 * check_walker
 *		Walk a document or array with mongo_walk_next and with bson_iter_next
 *		side by side, from two iterators placed on its start, and abort, as
 *		a crash libFuzzer reports, at the first step where they differ: in
 *		the result, in any offset the iterator keeps (the accessors read the
 *		value from them), in err_off (quoted by the error) or in the key's
 *		length.  At each step, the step the scan takes when it expects a key
 *		(mongo_walk_has_key, then mongo_walk_step) is checked too, with the
 *		element's own key and with the previous element's: when the key
 *		matches, it must step exactly as mongo_walk_next did.  Documents and
 *		arrays inside are entered with bson_iter_recurse, as the scan enters
 *		them.
 */
static void
check_walker(bson_iter_t *walker, bson_iter_t *reference, int depth)
{
	char		previous_key[FUZZ_KEY_SIZE] = "";

	for (;;)
	{
		bson_iter_t before = *walker;
		bool		walked = mongo_walk_next(walker);
		bool		stepped = bson_iter_next(reference);

		if (walked != stepped ||
			memcmp(walker, reference, offsetof(bson_iter_t, value)) != 0 ||
			(walked &&
			 mongo_walk_key_len(walker) != bson_iter_key_len(reference)))
		{
			fprintf(stderr, "mongo_walk_next and bson_iter_next differ at byte %u\n",
					reference->off);
			abort();
		}
		if (walked && mongo_walk_key_len(walker) < FUZZ_KEY_SIZE)
		{
			char		key[FUZZ_KEY_SIZE];

			strlcpy(key, bson_iter_key_unsafe(walker), sizeof(key));
			check_keyed_step(&before, walker, key);
			check_keyed_step(&before, walker, previous_key);
			strlcpy(previous_key, key, sizeof(previous_key));
		}
		if (!walked)
			break;

		if (depth < FUZZ_WALK_DEPTH &&
			(BSON_ITER_HOLDS_DOCUMENT(walker) ||
			 BSON_ITER_HOLDS_ARRAY(walker)))
		{
			bson_iter_t sub_walker;
			bson_iter_t sub_reference;

			if (bson_iter_recurse(walker, &sub_walker) &&
				bson_iter_recurse(reference, &sub_reference))
				check_walker(&sub_walker, &sub_reference, depth + 1);
		}
	}
}
