/*-------------------------------------------------------------------------
 *
 * parallel.c
 *		  Loading the ranges of a source with dynamic background workers:
 *		  mongo_etl.load(..., workers => N).
 *
 * The source is cut into _id ranges or file ranges by split.c.  The
 * ranges are recorded in mongo_etl.load_ranges and committed before any
 * worker starts; a shared queue in dynamic shared memory hands them out,
 * more ranges than workers so that uneven ranges still finish together.
 * Each worker is a backend of its own, connected to the caller's database
 * as the caller's role, with its own MongoDB connection: its main function
 * (load.c's) loads a range in a transaction of its own, which also marks the range done, so that a
 * failure anywhere loses at most the ranges in flight, and resuming loads
 * the ranges not marked.
 *
 * The calling backend only coordinates: it waits on its latch, reports
 * progress, and on an error in a worker, a cancel or a statement timeout
 * stops every worker and raises the error.
 *
 * IDENTIFICATION
 *		  parallel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "mongo_etl.h"

#define MAX_LOAD_WORKERS MONGO_MAX_LOAD_WORKERS

/* How often the coordinator looks at its workers when nothing happens */
#define COORDINATOR_WAIT_MS 100

/* Room kept for each text of a worker's error */
#define ERROR_TEXT_SIZE 1024

/* What the coordinator and its workers share */
struct ParallelLoadShared
{
	Oid			database;
	Oid			authenticated_user; /* the session's login role */
	Oid			current_user;	/* the role that called the procedure */
	int			sec_context;
	Oid			source;
	Oid			target;
	int			nranges;
	pg_atomic_uint32 next_range;	/* the next entry of range_no to load */
	pg_atomic_uint64 worker_rows[MAX_LOAD_WORKERS];

	/* the first error of any worker */
	slock_t		mutex;
	bool		failed;
	int			error_worker;
	int			sqlerrcode;
	char		message[ERROR_TEXT_SIZE];
	char		detail[ERROR_TEXT_SIZE];
	char		hint[ERROR_TEXT_SIZE];
	char		context[ERROR_TEXT_SIZE];

	int			range_no[FLEXIBLE_ARRAY_MEMBER];
};

/* The coordinator's handles of its workers */
typedef struct LoadWorkers
{
	int			count;
	BackgroundWorkerHandle *handle[MAX_LOAD_WORKERS];
} LoadWorkers;

static uint64 run_ranges(dsm_segment *seg, ParallelLoadShared *shared,
						 LoadWorkers *workers, int nworkers,
						 int64 progress_rows, int *workers_used);
static int	start_workers(dsm_segment *seg, LoadWorkers *workers,
						  int wanted);
static void stop_workers(dsm_segment *seg, Datum arg);
static uint64 wait_for_workers(ParallelLoadShared *shared,
							   LoadWorkers *workers, int64 progress_rows);
static uint64 rows_loaded(ParallelLoadShared *shared);
static void raise_worker_error(ParallelLoadShared *shared);

/*
 * mongo_parallel_load
 *		Load the ranges numbered range_nos of the plan recorded for source
 *		and target, with up to nworkers background workers; the number of
 *		rows loaded.  Fewer workers start when max_worker_processes has no
 *		room for all (a NOTICE says so); when none starts, *workers_used is
 *		0 and nothing is loaded: the caller loads the ranges itself.
 */
uint64
mongo_parallel_load(Oid source, Oid target, List *range_nos, int nworkers,
					int64 progress_rows, int *workers_used)
{
	int			nranges = list_length(range_nos);
	Size		size = offsetof(ParallelLoadShared, range_no) +
		sizeof(int) * nranges;
	dsm_segment *seg;
	ParallelLoadShared *shared;
	LoadWorkers *workers;
	ListCell   *lc;
	uint64		rows;

	seg = dsm_create(size, 0);
	dsm_pin_mapping(seg);
	shared = dsm_segment_address(seg);
	memset(shared, 0, size);
	shared->database = MyDatabaseId;
	shared->authenticated_user = GetAuthenticatedUserId();
	GetUserIdAndSecContext(&shared->current_user, &shared->sec_context);
	shared->source = source;
	shared->target = target;
	shared->nranges = nranges;
	pg_atomic_init_u32(&shared->next_range, 0);
	for (int i = 0; i < MAX_LOAD_WORKERS; i++)
		pg_atomic_init_u64(&shared->worker_rows[i], 0);
	SpinLockInit(&shared->mutex);
	foreach(lc, range_nos)
		shared->range_no[foreach_current_index(lc)] = lfirst_int(lc);

	workers = MemoryContextAllocZero(TopMemoryContext, sizeof(LoadWorkers));
	on_dsm_detach(seg, stop_workers, PointerGetDatum(workers));

	PG_TRY();
	{
		rows = run_ranges(seg, shared, workers, nworkers, progress_rows,
						  workers_used);
	}
	PG_CATCH();
	{
		/* a cancel, a timeout, an error: no worker goes on */
		dsm_detach(seg);
		pfree(workers);
		PG_RE_THROW();
	}
	PG_END_TRY();
	dsm_detach(seg);
	pfree(workers);
	return rows;
}

/*
 * run_ranges
 *		Start the workers and wait for them to load every range; the rows
 *		loaded, or 0 when none could start.
 */
static uint64
run_ranges(dsm_segment *seg, ParallelLoadShared *shared, LoadWorkers *workers,
		   int nworkers, int64 progress_rows, int *workers_used)
{
	int			nranges = shared->nranges;
	int			wanted = Min(Min(nworkers, nranges), MAX_LOAD_WORKERS);
	int			started = nworkers > 1 ? start_workers(seg, workers, wanted) : 0;

	if (nworkers > 1 && started == 0)
		ereport(NOTICE,
				(errmsg("no background worker could start: loading the %d ranges in this backend",
						nranges),
				 errhint("Raise max_worker_processes, or wait for other background workers to end.")));
	else if (started < wanted)
		ereport(NOTICE,
				(errmsg("started %d of %d workers: max_worker_processes has no room for more",
						started, wanted)));
	*workers_used = started;
	if (started == 0)
		return 0;
	return wait_for_workers(shared, workers, progress_rows);
}

/*
 * start_workers
 *		Register up to wanted workers; how many were registered.
 */
static int
start_workers(dsm_segment *seg, LoadWorkers *workers, int wanted)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "mongo_etl");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "mongo_etl_load_worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "mongo_etl load worker");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	for (workers->count = 0; workers->count < wanted; workers->count++)
	{
		int			number = workers->count;

		snprintf(worker.bgw_name, BGW_MAXLEN, "mongo_etl load worker %d",
				 number + 1);
		memcpy(worker.bgw_extra, &number, sizeof(number));
		if (!RegisterDynamicBackgroundWorker(&worker,
											 &workers->handle[number]))
			break;
	}
	return workers->count;
}

/*
 * stop_workers
 *		Terminate every worker still running: when the load ends, fails, or
 *		this backend exits.  Terminating a worker that has ended does
 *		nothing.
 */
static void
stop_workers(dsm_segment *seg, Datum arg)
{
	LoadWorkers *workers = (LoadWorkers *) DatumGetPointer(arg);

	for (int i = 0; i < workers->count; i++)
		TerminateBackgroundWorker(workers->handle[i]);
}

/*
 * wait_for_workers
 *		Wait until every worker has ended, reporting progress every
 *		progress_rows rows; raise the first worker's error, if any.  The
 *		rows loaded.
 */
static uint64
wait_for_workers(ParallelLoadShared *shared, LoadWorkers *workers,
				 int64 progress_rows)
{
	uint64		next_progress = progress_rows;

	for (;;)
	{
		int			running = 0;
		uint64		rows;
		bool		failed;

		CHECK_FOR_INTERRUPTS();
		SpinLockAcquire(&shared->mutex);
		failed = shared->failed;
		SpinLockRelease(&shared->mutex);
		if (failed)
			raise_worker_error(shared);

		for (int i = 0; i < workers->count; i++)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(workers->handle[i], &pid) !=
				BGWH_STOPPED)
				running++;
		}
		rows = rows_loaded(shared);
		if (progress_rows > 0 && rows >= next_progress)
		{
			ereport(NOTICE,
					(errmsg("loaded " UINT64_FORMAT " rows so far", rows)));
			while (next_progress <= rows)
				next_progress += progress_rows;
		}
		if (running == 0)
			return rows;

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 COORDINATOR_WAIT_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * rows_loaded
 *		The rows all workers have written so far.
 */
static uint64
rows_loaded(ParallelLoadShared *shared)
{
	uint64		rows = 0;

	for (int i = 0; i < MAX_LOAD_WORKERS; i++)
		rows += pg_atomic_read_u64(&shared->worker_rows[i]);
	return rows;
}

/*
 * raise_worker_error
 *		Raise a worker's error here, as it was raised there, with the
 *		worker named in its context.
 */
static void
raise_worker_error(ParallelLoadShared *shared)
{
	char	   *context = psprintf("%s%smongo_etl load worker %d",
								   shared->context,
								   shared->context[0] ? "\n" : "",
								   shared->error_worker + 1);

	ereport(ERROR,
			(errcode(shared->sqlerrcode),
			 errmsg_internal("%s", shared->message),
			 shared->detail[0] ? errdetail_internal("%s", shared->detail) : 0,
			 shared->hint[0] ? errhint("%s", shared->hint) : 0,
			 errcontext("%s", context)));
}

/*
 * mongo_load_worker_attach
 *		In a background worker of a parallel load: map the shared state,
 *		and connect to the caller's database as the caller.  The session's
 *		role logs in (it may, which the caller's current role, set by SET
 *		ROLE, may not); every check then sees the caller's.  *worker gets
 *		the worker's number.
 */
ParallelLoadShared *
mongo_load_worker_attach(Datum main_arg, int *worker)
{
	dsm_segment *seg;
	ParallelLoadShared *shared;

	memcpy(worker, MyBgworkerEntry->bgw_extra, sizeof(*worker));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the shared memory of a parallel load")));
	shared = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(shared->database,
											  shared->authenticated_user, 0);
	SetUserIdAndSecContext(shared->current_user, shared->sec_context);
	return shared;
}

/*
 * mongo_load_worker_next_range
 *		The next range for a worker to load, from the shared queue; false
 *		when all are taken or a worker failed.  *rows_counter is where the
 *		worker counts the rows it writes, for the coordinator's progress.
 */
bool
mongo_load_worker_next_range(ParallelLoadShared *shared, int worker,
							 MongoLoadTask *task)
{
	uint32		next = pg_atomic_fetch_add_u32(&shared->next_range, 1);
	bool		failed;

	SpinLockAcquire(&shared->mutex);
	failed = shared->failed;
	SpinLockRelease(&shared->mutex);
	if (next >= (uint32) shared->nranges || failed)
		return false;
	task->source = shared->source;
	task->target = shared->target;
	task->range_no = shared->range_no[next];
	task->rows_counter = &shared->worker_rows[worker];
	return true;
}

/*
 * mongo_load_worker_failed
 *		In a worker, in the handler of its error: keep the error, the first
 *		of any worker, for the coordinator to raise, and wake it.
 */
void
mongo_load_worker_failed(ParallelLoadShared *shared, int worker)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	ErrorData  *edata = CopyErrorData();

	MemoryContextSwitchTo(oldcxt);
	SpinLockAcquire(&shared->mutex);
	if (!shared->failed)
	{
		shared->failed = true;
		shared->error_worker = worker;
		shared->sqlerrcode = edata->sqlerrcode;
		strlcpy(shared->message, edata->message ? edata->message : "",
				ERROR_TEXT_SIZE);
		strlcpy(shared->detail, edata->detail ? edata->detail : "",
				ERROR_TEXT_SIZE);
		strlcpy(shared->hint, edata->hint ? edata->hint : "",
				ERROR_TEXT_SIZE);
		strlcpy(shared->context, edata->context ? edata->context : "",
				ERROR_TEXT_SIZE);
	}
	SpinLockRelease(&shared->mutex);
	FreeErrorData(edata);
	if (MyBgworkerEntry->bgw_notify_pid != 0)
	{
		PGPROC	   *proc = BackendPidGetProc(MyBgworkerEntry->bgw_notify_pid);

		if (proc != NULL)
			SetLatch(&proc->procLatch);
	}
}
