/*-------------------------------------------------------------------------
 *
 * mongo_etl.h
 *		  Declarations shared by the files of the mongo_etl foreign-data
 *		  wrapper, grouped by the file that defines them.
 *
 * IDENTIFICATION
 *		  mongo_etl.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MONGO_ETL_H
#define MONGO_ETL_H

#include <mongoc/mongoc.h>

#include "access/attnum.h"
#include "access/parallel.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "port/atomics.h"
#include "portability/instr_time.h"
#include "storage/lwlock.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/relcache.h"

#include "compat.h"

/*
 * Documents asked for per server round trip.  A round trip costs one
 * network latency; at 10,000 documents it adds about 0.1 microsecond per
 * document on a 1 ms link, while the batch stays a few megabytes for
 * typical documents (the server caps every batch at 16 MiB anyway).
 */
#define MONGO_DEFAULT_BATCH_SIZE 10000

/* The field option of a column that receives the whole document */
#define MONGO_WHOLE_DOCUMENT "$$ROOT"

/* Connection name MongoDB shows in its logs and currentOp */
#define MONGO_DEFAULT_APPNAME "mongo_etl"

/*
 * palloc0 for a bson_t, or a struct holding one: libbson declares bson_t
 * with 128-byte alignment, more than palloc gives, so the memory is
 * allocated with room to align it.  The result cannot be pfree'd; its
 * memory context frees it (or keep what palloc returned).
 */
#define MONGO_BSON_ALIGNMENT BSON_ALIGNOF(bson_t)
#define mongo_palloc0_bson_aligned(allocation, size) \
	((void *) TYPEALIGN(MONGO_BSON_ALIGNMENT, \
						(allocation) = palloc0((size) + MONGO_BSON_ALIGNMENT)))

/*
 * mongo_fdw_etl.c
 */

/* GUC mongo_etl.pushdown: send filters, sorts, limits and counts */
extern bool mongo_pushdown;

/* GUC mongo_etl.read_ahead: ask for a cursor's next batch early */
extern bool mongo_read_ahead;

/* GUC mongo_etl.estimate_cache_seconds: how long an estimate is kept */
extern int	mongo_estimate_cache_seconds;

/* Values on_type_mismatch read as NULL or skipped, and rows it left out */
extern void mongo_mismatch_counts(uint64 *values, uint64 *rows);


/*
 * analyze.c
 */

extern bool mongo_analyze_foreign_table(Relation relation,
										AcquireSampleRowsFunc *func,
										BlockNumber *totalpages);

/*
 * import.c
 */

extern List *mongoImportForeignSchema(ImportForeignSchemaStmt *stmt,
									  Oid serverOid);

/*
 * option.c
 */

/* What a value that does not fit its column does: option on_type_mismatch */
typedef enum MongoMismatchPolicy
{
	MONGO_MISMATCH_ERROR,		/* stop the query (the default) */
	MONGO_MISMATCH_NULL,		/* read the value as NULL */
	MONGO_MISMATCH_SKIP			/* leave the row out */
} MongoMismatchPolicy;

/* Table options resolved against the server, ready for a scan */
typedef struct MongoTableOptions
{
	char	   *database;		/* MongoDB database name */
	char	   *collection;		/* MongoDB collection name */
	int32		batch_size;		/* documents per server batch */
	char	   *dump_file;		/* mongodump file to read, or NULL for a
								 * server given by uri */
	bson_t	   *filter;			/* option filter: always ANDed in, or NULL */
	bson_t	   *pipeline;		/* option pipeline: the stages whose output
								 * the table reads (a BSON array), or NULL */
} MongoTableOptions;

extern void mongo_get_table_options(ForeignTable *table,
									ForeignServer *server,
									MongoTableOptions *options);
extern char *mongo_get_column_field(Oid relid, AttrNumber attnum,
									const char *attname);
extern const char *mongo_get_option(List *options, const char *name);
extern MongoMismatchPolicy mongo_column_mismatch_policy(ForeignTable *table,
														AttrNumber attnum);
extern bool mongo_column_flag(Oid relid, AttrNumber attnum, const char *name);
extern uint32 mongo_column_bson_types(Oid relid, AttrNumber attnum);

/* The bit of a BSON type in a set of them, as option bson_type gives */
#define MONGO_BSON_TYPE_BIT(type) ((uint32) 1 << (type))

/*
 * write.c
 */

/* Deepest field path a write sets */
#define MONGO_MAX_WRITE_DEPTH 32

/* One column a write sets */
typedef struct MongoWriteColumn
{
	AttrNumber	attnum;
	char	   *name;
	char	   *field;			/* the field it reads, and so writes */
	char	   *segments[MONGO_MAX_WRITE_DEPTH];	/* the field's path */
	int			nsegments;
	Oid			typid;
	bool		objectid;		/* text written as an ObjectId (bson_type
								 * objectId alone) */
} MongoWriteColumn;

extern void mongo_init_write_column(MongoWriteColumn *col, Relation rel,
									AttrNumber attnum, const char *verb);
extern void mongo_split_write_field(MongoWriteColumn *col, Relation rel);

/* The connection and collection of a write */
typedef struct MongoWriteTarget
{
	struct MongoConnection *conn;
	mongoc_collection_t *collection;
	MemoryContextCallback cleanup;	/* closes them, also after an error */
} MongoWriteTarget;

extern void mongo_open_write_target(MongoWriteTarget *target,
									ForeignServer *server, Oid userid,
									const MongoTableOptions *options);
extern void mongo_close_write_target(void *arg);
extern bool mongo_write_nulls(Relation rel);
pg_noreturn extern void mongo_report_write_error(const char *servername,
												 const MongoTableOptions *options,
												 const char *during, const char *what,
												 bson_t *reply,
												 const bson_error_t *error, bson_t **docs,
												 int n, int64 done);

/* The documents of an INSERT not sent yet, and what makes them */
typedef struct MongoInsertBatch MongoInsertBatch;

extern MongoInsertBatch *mongo_insert_begin(ResultRelInfo *rinfo,
											List *attrs);
extern TupleTableSlot *mongo_insert_row(MongoInsertBatch *batch,
										EState *estate, ResultRelInfo *rinfo,
										TupleTableSlot *slot);
extern void mongo_insert_rows(MongoInsertBatch *batch, TupleTableSlot **slots,
							  int nslots);
extern void mongo_insert_flush(MongoInsertBatch *batch, uint64 *documents,
							   uint64 *commands);
extern void mongo_insert_end(MongoInsertBatch *batch);

/*
 * modify.c
 */

extern int	mongoIsForeignRelUpdatable(Relation rel);
extern List *mongoPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
									Index resultRelation, int subplan_index);
extern void mongoBeginForeignModify(ModifyTableState *mtstate,
									ResultRelInfo *rinfo, List *fdw_private,
									int subplan_index, int eflags);
extern void mongoBeginForeignInsert(ModifyTableState *mtstate,
									ResultRelInfo *rinfo);
extern int	mongoGetForeignModifyBatchSize(ResultRelInfo *rinfo);
extern TupleTableSlot *mongoExecForeignInsert(EState *estate,
											  ResultRelInfo *rinfo,
											  TupleTableSlot *slot,
											  TupleTableSlot *planSlot);
extern TupleTableSlot **mongoExecForeignBatchInsert(EState *estate,
													ResultRelInfo *rinfo,
													TupleTableSlot **slots,
													TupleTableSlot **planSlots,
													int *numSlots);
extern void mongoAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
										 RangeTblEntry *target_rte,
										 Relation target_relation);
extern TupleTableSlot *mongoExecForeignUpdate(EState *estate,
											  ResultRelInfo *rinfo,
											  TupleTableSlot *slot,
											  TupleTableSlot *planSlot);
extern TupleTableSlot *mongoExecForeignDelete(EState *estate,
											  ResultRelInfo *rinfo,
											  TupleTableSlot *slot,
											  TupleTableSlot *planSlot);
extern void mongoExplainForeignModify(ModifyTableState *mtstate,
									  ResultRelInfo *rinfo, List *fdw_private,
									  int subplan_index,
									  struct ExplainState *es);
extern void mongoEndForeignModify(EState *estate, ResultRelInfo *rinfo);
extern void mongoEndForeignInsert(EState *estate, ResultRelInfo *rinfo);
extern bool mongoPlanDirectModify(PlannerInfo *root, ModifyTable *plan,
								  Index resultRelation, int subplan_index);
extern void mongoBeginDirectModify(ForeignScanState *node, int eflags);
extern TupleTableSlot *mongoIterateDirectModify(ForeignScanState *node);
extern void mongoEndDirectModify(ForeignScanState *node);
extern void mongoExplainDirectModify(ForeignScanState *node,
									 struct ExplainState *es);

/*
 * library.c
 */

extern void mongo_library_init(void);
extern void mongo_free_kept_blocks(void);

/*
 * connection.c
 */

/* One cached client, shared by every scan of one user mapping */
typedef struct MongoConnection MongoConnection;

extern MongoConnection *mongo_get_connection(ForeignServer *server,
											 UserMapping *user);
extern mongoc_client_t *mongo_connection_client(MongoConnection *conn);
extern void mongo_release_connection(MongoConnection *conn);
extern uint64 mongo_commands_sent(void);
extern void mongo_forget_connection(MongoConnection *conn);
extern int64 mongo_estimated_count(mongoc_collection_t *collection,
								   bson_error_t *error);
extern bool mongo_server_has_sample(mongoc_collection_t *collection);
extern bool mongo_server_pipelines(mongoc_collection_t *collection);
extern void mongo_set_deadline(int timeout_ms);
extern bool mongo_deadline_passed(void);
pg_noreturn extern void mongo_report_error(const bson_error_t *error,
										   const char *servername,
										   const char *database,
										   const char *collection);

/*
 * load.c
 */

PGDLLEXPORT extern void mongo_etl_load_worker(Datum main_arg);

/*
 * parallel.c
 */

/* The most workers one load starts */
#define MONGO_MAX_LOAD_WORKERS 64

/* Ranges per worker, so that a slow range does not hold the others up */
#define MONGO_RANGES_PER_WORKER 4

extern uint64 mongo_parallel_load(Oid source, Oid target, List *range_nos,
								  int nworkers, int64 progress_rows,
								  int *workers_used);

/* What a parallel load's coordinator and workers share */
typedef struct ParallelLoadShared ParallelLoadShared;

/* A range for a worker to load */
typedef struct MongoLoadTask
{
	Oid			source;
	Oid			target;
	int			range_no;
	pg_atomic_uint64 *rows_counter; /* where the worker counts its rows */
} MongoLoadTask;

extern ParallelLoadShared *mongo_load_worker_attach(Datum main_arg,
													int *worker);
extern bool mongo_load_worker_next_range(ParallelLoadShared *shared,
										 int worker, MongoLoadTask *task);
extern void mongo_load_worker_failed(ParallelLoadShared *shared, int worker);

/*
 * estimate.c
 */

/*
 * Row count assumed for a collection whose server is not asked (option
 * use_remote_estimate 'false', or a mongodump file) or cannot answer.
 */
#define MONGO_DEFAULT_ROWS 1000

/* What planning knows of a foreign table's documents */
typedef struct MongoSizeEstimate
{
	double		rows;			/* documents, or MONGO_DEFAULT_ROWS */
	bool		bytewise_strings;	/* the server compares strings by their
									 * bytes (no default collation) */
	bool		splittable;		/* a parallel scan can cut it into ranges */
	double		bytes;			/* its BSON, as far as known */
	bool		server_pipelines;	/* the server evaluates what exact
									 * aggregates and joins need, when
									 * asked (mongo_estimate_pipelines) */
} MongoSizeEstimate;

extern void mongo_estimate_size(Oid foreigntableid, Oid userid,
								MongoSizeEstimate *estimate);
extern bool mongo_estimate_pipelines(Oid foreigntableid, Oid userid);

/*
 * split.c
 */

/* Whole documents of a file, from a byte offset: a part of a parallel load */
typedef struct MongoFileRange
{
	uint64		start_offset;
	uint64		documents;
} MongoFileRange;

extern List *mongo_split_collection(mongoc_collection_t *collection,
									const char *servername,
									const char *database, int ranges,
									int64 max_documents);
extern List *mongo_split_file(const char *path, uint64 bytes_per_range,
							  uint64 max_documents);

/*
 * prefetch.c
 */

extern mongoc_stream_t *mongo_prefetch_stream_new(mongoc_stream_t *inner);
extern void mongo_prefetch_cursor(int64 cursor_id);
extern void mongo_prefetch_forget(int64 cursor_id);
extern uint64 mongo_batches_read_ahead(void);

/*
 * dump.c
 */

/*
 * Bytes a dump file is read in per system call.  Large enough that the
 * calls cost nothing per document; small enough that the bytes read stay
 * in the core's cache (L2) while their documents are converted: with
 * 4 MiB, INSERT ... SELECT of the bench's flat shape took 3% longer.
 */
#define MONGO_DUMP_READ_SIZE (256 * 1024)

/* A sequential reader of one mongodump file */
typedef struct MongoDumpReader MongoDumpReader;

extern MongoDumpReader *mongo_dump_open(const char *path);
extern bool mongo_dump_next(MongoDumpReader *reader, const bson_t **document);
extern const char *mongo_dump_path(const MongoDumpReader *reader);
extern uint64 mongo_dump_document_offset(const MongoDumpReader *reader);
extern void mongo_dump_seek(MongoDumpReader *reader, uint64 offset);
extern uint32 mongo_dump_skip(MongoDumpReader *reader);
extern uint64 mongo_dump_read_block(MongoDumpReader *reader, uint64 offset,
									size_t bytes, uint64 *documents);

extern void mongo_dump_close(MongoDumpReader *reader);

/*
 * bson_convert.c
 */

/* How a column's PostgreSQL type is built from a BSON value */
typedef enum MongoTargetKind
{
	MONGO_TARGET_TEXT,			/* text, varchar, bpchar */
	MONGO_TARGET_INT2,
	MONGO_TARGET_INT4,
	MONGO_TARGET_INT8,
	MONGO_TARGET_FLOAT4,
	MONGO_TARGET_FLOAT8,
	MONGO_TARGET_NUMERIC,
	MONGO_TARGET_BOOL,
	MONGO_TARGET_TIMESTAMPTZ,
	MONGO_TARGET_TIMESTAMP,
	MONGO_TARGET_DATE,
	MONGO_TARGET_JSONB,
	MONGO_TARGET_JSON,
	MONGO_TARGET_BYTEA,
	MONGO_TARGET_UUID,
	MONGO_TARGET_ARRAY,			/* any array type, element by element */
	MONGO_TARGET_INPUT_FUNCTION /* any other type, from a BSON string */
} MongoTargetKind;

/* One column a scan fills, with everything conversion needs */
typedef struct MongoColumn
{
	AttrNumber	attnum;			/* position in the tuple, 1-based */
	const char *name;			/* column name, for error messages */
	const char *field;			/* dotted path of the field it reads */
	Oid			typid;
	int32		typmod;
	MongoTargetKind kind;
	bool		whole_document; /* field is $$ROOT */
	MongoMismatchPolicy on_mismatch;	/* option on_type_mismatch */
	uint64		mismatches;		/* values read as NULL or skipped */
	char	   *first_mismatch; /* the first one's error, with context */
	bool		objectid_timestamp; /* ObjectIds give their creation time */
	bool		bool_values;	/* booleans give 1/0 or 'true'/'false' */
	uint32		bson_types;		/* option bson_type: the only BSON types
								 * accepted, or 0 for any that converts */
	uint32		direct_types;	/* BSON types converted without a call, as
								 * mongo_create_converter decides */
	FmgrInfo	input_fn;		/* types filled by their input function */
	Oid			typioparam;
	struct MongoColumn *element;	/* MONGO_TARGET_ARRAY: the elements */
	int16		elmlen;			/* MONGO_TARGET_ARRAY: element storage */
	bool		elmbyval;
	char		elmalign;
} MongoColumn;

/*
 * Bytes a converter keeps for the text values of the document it converts:
 * most documents' strings and ObjectIds fit, as datums carved out of one
 * block (pointers into it, as a deformed heap tuple's point into its page)
 * instead of one palloc each; valid until the next document is converted,
 * as the scan's per-row memory is.  What does not fit is palloc'd.  (Unlike
 * freed memory, the block is not poisoned between documents: a datum read
 * after its row, which valgrind or CLOBBER_FREED_MEMORY would notice in
 * palloc'd memory, here reads the next document's text.)  A multiple of 4,
 * so that every datum in it is int-aligned.
 */
#define MONGO_TEXT_SPACE 8192

/* A prepared lookup of the columns' field paths; see bson_convert.c */
typedef struct MongoFieldNode MongoFieldNode;

/* Per-scan state of the document-to-tuple conversion */
typedef struct MongoConverter
{
	const char *relname;		/* foreign table name, for errors */
	MongoColumn *columns;
	int			ncolumns;
	MongoFieldNode *fields;		/* root of the field lookup tree */
	bool		has_whole_document; /* some column is $$ROOT */
	bool	   *seen;			/* per row: column already filled */
	const bson_t *document;		/* the document being converted */
	int			current_column; /* column being converted, or -1 */
	MongoDumpReader *dump;		/* source of the document when it is a file,
								 * named in error messages */
	char	   *text_space;		/* MONGO_TEXT_SPACE bytes the row's text
								 * values are carved out of */
	uint32		text_space_used;
	bool		skip_row;		/* a value of this row did not fit, and its
								 * column's policy is to skip the row */
	uint64		skipped_rows;	/* rows left out so */
	uint64		mismatches;		/* values that did not fit, all columns */
} MongoConverter;

extern void mongo_init_column(MongoColumn *column, AttrNumber attnum,
							  const char *name, const char *field,
							  Oid typid, int32 typmod);
extern void mongo_set_column_policy(MongoColumn *column,
									MongoMismatchPolicy on_mismatch,
									bool objectid_timestamp,
									bool bool_values);
extern MongoConverter *mongo_create_converter(const char *relname,
											  MongoColumn *columns,
											  int ncolumns);
extern bool mongo_document_to_slot(MongoConverter *converter,
								   const bson_t *document,
								   Datum *values, bool *isnull);
extern char *mongo_document_id_string(const bson_t *document);

/*
 * bson_value.c
 */

/* Milliseconds from the Unix epoch to the PostgreSQL epoch (2000-01-01) */
#define UNIX_TO_POSTGRES_EPOCH_MS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000)

/*
 * mongo_unix_ms_timestamp
 *		Milliseconds since 1970 as a PostgreSQL timestamp into *result;
 *		false when outside PostgreSQL's range.  Inline: most documents
 *		hold a date.
 */
static inline bool
mongo_unix_ms_timestamp(int64 unix_ms, Timestamp *result)
{
	int64		postgres_ms;

	return !pg_sub_s64_overflow(unix_ms, UNIX_TO_POSTGRES_EPOCH_MS,
								&postgres_ms) &&
		!pg_mul_s64_overflow(postgres_ms, 1000, result) &&
		IS_VALID_TIMESTAMP(*result);
}

extern Timestamp mongo_timestamp_value(MongoConverter *conv,
									   const bson_iter_t *iter,
									   const MongoColumn *col);
extern char *mongo_server_string(const char *utf8, uint32 len,
								 int *result_len);
extern char *mongo_server_text(const char *utf8);
extern char *mongo_server_json(char *json);
extern Numeric mongo_small_int_numeric(int64 value);
extern Numeric mongo_double_numeric(double value);
extern Numeric mongo_decimal128_numeric(const bson_iter_t *iter);
extern const char *mongo_bson_type_name(bson_type_t type);
extern int	mongo_bson_type_from_name(const char *name);
pg_noreturn extern void mongo_report_mismatch(const bson_iter_t *iter,
											  const MongoColumn *col);
pg_noreturn extern void mongo_report_undeclared_type(const bson_iter_t *iter,
													 const MongoColumn *col);
pg_noreturn extern void mongo_report_not_integer(const bson_iter_t *iter,
												 const MongoColumn *col,
												 const char *value);
pg_noreturn extern void mongo_report_out_of_range(const bson_iter_t *iter,
												  const MongoColumn *col,
												  const char *value);
pg_noreturn extern void mongo_report_corrupt_document(const bson_iter_t *iter);

/*
 * bson_json.c
 */

extern Jsonb *mongo_jsonb_value(MongoConverter *conv, const bson_iter_t *iter,
								const MongoColumn *col);
extern void mongo_encode_container(MongoConverter *conv, StringInfo out,
								   const uint8_t *data, uint32 data_len,
								   bool is_array, const MongoColumn *col,
								   int depth);
extern void mongo_append_json(MongoConverter *conv, StringInfo out,
							  const bson_iter_t *iter, const MongoColumn *col,
							  int depth);
extern void mongo_append_json_container(MongoConverter *conv, StringInfo out,
										const uint8_t *data, uint32 data_len,
										bool is_array,
										const MongoColumn *col, int depth);

/*
 * scan_source.c
 */

/*
 * The part of its source that a scan reads instead of all of it: an _id
 * range of a collection, or whole documents of a file from a byte offset
 */
typedef struct MongoSourceRange
{
	uint64		start_offset;	/* a file: byte offset of the first document */
	uint64		max_documents;	/* a file: documents to read, 0 for all */
	const bson_t *id_filter;	/* a collection: the _id range to read */
	int64		sample_size;	/* a collection: so many documents drawn
								 * at random ($sample), 0 for all */
	/* set by the scan */
	bool		claimed;		/* a scan took it (mongo_source_take_range) */
	uint64		documents;		/* documents read */
	uint64		end_offset;		/* byte offset after the last one */
	bool		reached_end;	/* the file has no more documents */
} MongoSourceRange;

/*
 * The ranges that the participants of a parallel scan claim one at a time,
 * in shared memory: _id ranges of a collection, or the unread part of a
 * file, cut a block at a time
 */
typedef struct MongoSourceQueue
{
	pg_atomic_uint32 next_range;	/* the next range to claim */
	int			nranges;
	bool		file;			/* blocks of a file, else _id ranges */
	int			file_tranche;	/* of file_lock */
	LWLock		file_lock;		/* taken to read the next block */
	uint64		file_offset;	/* where it starts, or PG_UINT64_MAX */
	Size		block_bytes;	/* how much a block reads */
	char		data[FLEXIBLE_ARRAY_MEMBER];	/* nranges offsets of
												 * NUL-ended filters, and the
												 * filters */
} MongoSourceQueue;

/*
 * Where a scan's documents come from.  The scan sets what to read before
 * the first document; the rest is the source's own.
 */
typedef struct MongoScanSource
{
	/* what to read */
	const char *servername;		/* for error messages */
	const MongoTableOptions *options;	/* database, collection or file */
	MongoConnection *conn;		/* a collection's; NULL for a file, and for
								 * EXPLAIN only */
	bson_t	   *filter;			/* with {"$param": n} where a run-time value
								 * goes; the source frees it, and the next */
	bson_t	   *projection;
	bson_t	   *sort;
	int64		limit;
	bool		count;
	bson_t	   *stages;			/* the stages after the filter's $match: a
								 * group's or a join's, or NULL */
	List	   *param_exprs;	/* ExprStates of the run-time values */
	Oid		   *param_types;
	ExprContext *econtext;		/* to evaluate them in */
	MemoryContext cxt;			/* where a file's reader lives */
	MongoSourceRange *range;	/* the part to read, or NULL for all */
	MongoSourceQueue *queue;	/* a parallel scan's, or NULL */

	/* while reading */
	mongoc_collection_t *collection;	/* open while the cursor is */
	mongoc_cursor_t *cursor;	/* NULL until the first document */
	MongoDumpReader *dump;		/* the same for a file */
	bson_t	   *sent_filter;	/* the filter with the values of the last
								 * cursor opened, or NULL */
	bool		read_ahead_checked; /* the cursor was looked at for that */
	int64		read_ahead_cursor;	/* the cursor named to prefetch.c, or 0 */
	bool		in_claimed;		/* reading a range claimed from the queue */
	MongoSourceRange claimed;	/* that range */
	bson_t	   *claimed_filter; /* its _id filter, for a collection */

	/* counted for EXPLAIN ANALYZE */
	uint64		documents;
	uint64		bytes;			/* their total BSON size */
	uint64		round_trips;	/* commands sent: find, getMore, ... */
	uint64		batches_read_ahead; /* getMores answered by early replies */
	uint64		file_blocks;	/* blocks of a file claimed */
} MongoScanSource;

extern bool mongo_source_next(MongoScanSource *source,
							  const bson_t **document);
extern void mongo_source_rescan(MongoScanSource *source);
extern void mongo_source_end(MongoScanSource *source);
extern char *mongo_source_command_string(MongoScanSource *source,
										 const bson_t *filter);
extern Size mongo_source_queue_size(List *ranges);
extern void mongo_source_queue_init(MongoSourceQueue *queue, List *ranges,
									bool file, Size block_bytes);
extern void mongo_source_queue_reset(MongoSourceQueue *queue);
extern void mongo_source_queue_attach(MongoSourceQueue *queue);
extern void mongo_source_offer_range(Oid relid, MongoSourceRange *range);
extern MongoSourceRange *mongo_source_take_range(Oid relid, bool file);

/*
 * scan_parallel.c
 */

/*
 * Counts of EXPLAIN ANALYZE that the participants of a parallel scan add
 * up (besides the documents, counted per participant)
 */
typedef enum MongoScanCounter
{
	MONGO_COUNT_BYTES,			/* BSON bytes read */
	MONGO_COUNT_ROUND_TRIPS,
	MONGO_COUNT_BATCHES_READ_AHEAD,
	MONGO_COUNT_WAIT_US,		/* microseconds waiting for data */
	MONGO_COUNT_CONVERT_US,		/* microseconds converting it */
	MONGO_COUNT_FILE_BLOCKS,	/* parts of a dump file claimed */
	MONGO_SCAN_COUNTERS
} MongoScanCounter;

/* What the participants of a parallel scan share */
typedef struct MongoParallelScan MongoParallelScan;

/* A scan's part in a parallel scan */
typedef struct MongoScanParticipant
{
	MongoParallelScan *shared;	/* the shared state, or NULL */
	uint64		documents_shared;	/* of the source's documents, those
									 * counted there */
	uint64		counts_shared[MONGO_SCAN_COUNTERS]; /* the same for those */
	uint64	   *mismatches_shared;	/* of each column's mismatches, those
									 * counted there */
	uint64		skipped_rows_shared;	/* the same for rows left out */
	uint64		mismatches_seen;	/* the converter's count when they were */
	/* the leader, planning the shared state */
	List	   *planned_ranges; /* _id ranges */
	Size		block_bytes;	/* of a file's blocks */
	Size		queue_at;		/* where the parts of the shared state are */
	Size		documents_at;
	Size		mismatches_at;
	/* the leader, after the scan: what every participant counted */
	int			nparticipants;
	uint64	   *participant_documents;
	uint64		totals[MONGO_SCAN_COUNTERS];
} MongoScanParticipant;

/*
 * mongo_fdw_etl.c: the plan and executor state of a scan, which
 * scan_parallel.c's callbacks and modify.c's direct modification read
 */

/* Items in ForeignScan.fdw_private of a scan */
enum MongoScanPrivateIndex
{
	/* Integer list of the attribute numbers the scan fills */
	MongoScanPrivateRetrievedAttrs,
	/* the pushed filter, as a bytea Const of its BSON, or a NULL Const */
	MongoScanPrivateFilter,
	/* the sort document, the same way */
	MongoScanPrivateSort,
	/* int8 Const: the most documents the query needs, 0 for all */
	MongoScanPrivateLimit,
	/* Integer: 1 when MongoDB counts the documents instead */
	MongoScanPrivateCount,
	/* Integer: the column whose NULLs would break the sort, or 0 */
	MongoScanPrivateNullGuard,
	/*
	 * the stages that group or join, when MongoDB does, as a bytea Const, or
	 * NULL
	 */
	MongoScanPrivateStages,
	/*
	 * one Integer list per item of fdw_scan_tlist when MongoDB groups: what
	 * it is (mongo_group_stages)
	 */
	MongoScanPrivateGroupColumns,
	/* Integer: 1 when the filter sends every WHERE clause exactly */
	MongoScanPrivateExact,
	/*
	 * when MongoDB joins (lookup.c): an Integer list of the positions in
	 * fdw_scan_tlist of the outer and the inner table's keys, and 1 for a
	 * left join, 0 for an inner one; else NIL
	 */
	MongoScanPrivateJoin
};


/* Executor state of a foreign scan, kept in ForeignScanState.fdw_state */
typedef struct MongoScanState
{
	Oid			relid;			/* the foreign table */
	const char *servername;		/* for error messages */
	MongoTableOptions options;	/* database, collection, batch size */
	MongoConverter *converter;	/* document-to-tuple conversion */
	MongoScanSource source;		/* where the documents come from */
	bool		count;			/* MongoDB counts the documents: the scan
								 * returns one row, the count */
	bool		counted;		/* that row was returned; of a grouped
								 * scan: a group was */
	bool		source_ended;	/* a grouped scan returned its row for no
								 * document after the source's end */
	List	   *group_items;	/* a grouped scan's, see aggregate.c */
	List	   *group_tlist;	/* its fdw_scan_tlist */
	MongoConverter *inner_converter;	/* a join's inner table's columns,
										 * or NULL */
	Oid			inner_relid;	/* a join's inner table */
	bool		left_join;		/* and whether it is a left join */
	AttrNumber	null_guard;		/* a NULL here breaks the sort, or 0 */
	MongoScanParticipant parallel;	/* in a parallel scan */
	bool		timing;			/* measure the times below (under EXPLAIN
								 * ANALYZE, or auto_explain) */
	instr_time	wait_time;		/* in libmongoc or the dump reader */
	instr_time	convert_time;	/* converting documents to tuples */
	MemoryContext query_cxt;	/* lives as long as the scan */
	MemoryContext row_cxt;		/* per-row data, reset for every document */
	TupleTableSlot *row_slot;	/* the rows returned, a virtual slot */
	MemoryContextCallback cleanup;	/* frees libmongoc objects on error */
} MongoScanState;

/* scan_parallel.c, on a scan's state */
extern void mongo_scan_counts(MongoScanState *state,
							  uint64 counts[MONGO_SCAN_COUNTERS]);
extern void mongo_share_mismatches(MongoScanState *state);
extern void mongo_explain_ranges(MongoScanState *state,
								 struct ExplainState *es);
extern bool mongoIsForeignScanParallelSafe(PlannerInfo *root, RelOptInfo *rel,
										   RangeTblEntry *rte);
extern Size mongoEstimateDSMForeignScan(ForeignScanState *node,
										ParallelContext *pcxt);
extern void mongoInitializeDSMForeignScan(ForeignScanState *node,
										  ParallelContext *pcxt,
										  void *coordinate);
extern void mongoReInitializeDSMForeignScan(ForeignScanState *node,
											ParallelContext *pcxt,
											void *coordinate);
extern void mongoInitializeWorkerForeignScan(ForeignScanState *node,
											 shm_toc *toc, void *coordinate);
extern void mongoShutdownForeignScan(ForeignScanState *node);

/*
 * bson_encode.c
 */

extern void mongo_append_datum(bson_t *doc, const char *key, Datum value,
							   Oid typid, bool objectid, MongoWriteColumn *col);
extern void mongo_append_column_value(bson_t *doc, const char *key,
									  Datum value, MongoWriteColumn *col);
extern const char *mongo_utf8_text(const char *bytes, int *length,
								   const char *column);
extern char *mongo_utf8_name(const char *name, const char *what,
							 const char *owner);
extern void mongo_append_text_forms(bson_t *array, int *n, const char *str,
									uint32 forms);
extern int64 mongo_timestamp_ms(Timestamp ts, bool round_up);
extern int64 mongo_date_ms(DateADT date, bool next_day);

/*
 * deparse.c
 */

extern Node *mongo_bson_node(const bson_t *doc);
extern bson_t *mongo_node_bson(Node *node);
extern bson_t *mongo_build_projection(MongoColumn *columns, int ncolumns);
extern bson_t *mongo_build_filter(List *clauses, Index relid, Oid relation,
								  bool text_pushdown, List **params,
								  bool *exact);
extern bson_t *mongo_build_sort(List *pathkeys, Index relid, Oid relation,
								bool text_pushdown, AttrNumber *null_guard);
extern bson_t *mongo_bind_filter(const bson_t *filter, Datum *values,
								 bool *nulls, Oid *types);

/* What a scan asks MongoDB for, besides the table's own options */
typedef struct MongoRequest
{
	const bson_t *filter;		/* pushed WHERE clauses, values bound, or NULL */
	const bson_t *projection;	/* fields to return; NULL or empty: all */
	const bson_t *sort;			/* sort document, or NULL */
	int64		limit;			/* at most so many, 0 for no limit */
	bool		count;			/* count the documents instead */
	const bson_t *stages;		/* the stages that group or join, as an
								 * array document (aggregate.c, lookup.c),
								 * or NULL */
	int64		sample;			/* so many documents drawn at random
								 * ($sample), 0 for all */
} MongoRequest;

extern bool mongo_build_command(const MongoTableOptions *options,
								const MongoRequest *request,
								bson_t *query, bson_t *opts);
extern char *mongo_command_string(const MongoTableOptions *options,
								  bool aggregate, const bson_t *query,
								  const bson_t *opts);

/*
 * aggregate.c
 */

/* What an item of a grouped scan's target list is */
typedef enum MongoGroupItemKind
{
	MONGO_GROUP_KEY,			/* a GROUP BY column */
	MONGO_GROUP_COUNT_STAR,
	MONGO_GROUP_COUNT,
	MONGO_GROUP_SUM,
	MONGO_GROUP_AVG,
	MONGO_GROUP_MIN,
	MONGO_GROUP_MAX
} MongoGroupItemKind;

extern bool mongo_group_sendable(PlannerInfo *root, RelOptInfo *input_rel,
								 PathTarget *target, Oid relid,
								 bool bytewise_strings,
								 bool server_pipelines);
extern List *mongo_group_scan_tlist(PlannerInfo *root, PathTarget *target);
extern bson_t *mongo_group_stages(PlannerInfo *root, List *scan_tlist,
								  Oid relid, List **items);
extern int	mongo_group_columns(List *scan_tlist, List *items, Oid relid,
								ForeignTable *table, MongoColumn *columns);
extern void mongo_group_check_document(const bson_t *document,
									   List *scan_tlist, List *items,
									   Oid relid, const char *relname);
extern void mongo_group_finish_row(const bson_t *document, List *scan_tlist,
								   List *items, const char *relname,
								   Datum *values, bool *isnull);
extern bool mongo_group_empty_row(List *scan_tlist, List *items,
								  Datum *values, bool *isnull);
extern bool mongo_comparable_key(Oid relid, Var *key, bool bytewise_strings);

/*
 * lookup.c
 */

/* Items of a join's ForeignPath.fdw_private (mongo_join_sendable) */
enum MongoJoinPathIndex
{
	/* Integer: 1 for a left join, 0 for an inner one */
	MongoJoinPathLeft,
	/* the outer table's key Var */
	MongoJoinPathOuterKey,
	/* the inner table's key Var */
	MongoJoinPathInnerKey,
	/* the clauses PostgreSQL evaluates on the joined rows */
	MongoJoinPathLocal,
	/* the inner table's filter, as a bytea Const of its BSON, or NULL */
	MongoJoinPathInnerFilter
};

extern List *mongo_join_sendable(PlannerInfo *root, RelOptInfo *joinrel,
								 RelOptInfo *outerrel, RelOptInfo *innerrel,
								 JoinType jointype, List *restrictlist,
								 bool bytewise_strings);
extern List *mongo_join_scan_tlist(RelOptInfo *joinrel, List *join);
extern bson_t *mongo_join_stages(PlannerInfo *root, List *join,
								 List *scan_tlist, RelOptInfo *innerrel);
extern bool mongo_join_to_slot(MongoConverter *inner,
							   const bson_t *document,
							   Datum *values, bool *isnull);

#endif							/* MONGO_ETL_H */
