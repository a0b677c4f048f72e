/*-------------------------------------------------------------------------
 *
 * library.c
 *		  libbson and libmongoc, set up once per backend: their memory,
 *		  their log messages, their cleanup at exit.
 *
 * Both the option validator (which parses a uri) and the client cache
 * need the libraries initialized; this file depends on neither.
 *
 * IDENTIFICATION
 *		  library.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "miscadmin.h"
#include "storage/ipc.h"

#include "mongo_etl.h"

/*
 * Large blocks kept for libbson's next request.  libmongoc allocates and
 * frees a receive buffer and a copy of the reply for every batch a server
 * sends; blocks that large come from glibc as fresh pages, which the kernel
 * maps and zeroes one page fault at a time as they are first written, and
 * which go back to the kernel when freed.  Measured on the bench's replay
 * server, that was about a third of the backend's CPU reading a collection.
 * So the freed blocks of at least MONGO_KEPT_BLOCK_MIN bytes and at most
 * MONGO_KEPT_BLOCK_MAX (a reply is at most 48 MB; most are under 16 MB) are
 * kept, up to MONGO_KEPT_BLOCKS of them, until no scan uses a connection.
 * Only where malloc_usable_size tells a block's size (glibc).
 */
#define MONGO_KEPT_BLOCK_MIN (128 * 1024)
#define MONGO_KEPT_BLOCK_MAX (64 * 1024 * 1024)
#define MONGO_KEPT_BLOCKS 4
#ifdef __GLIBC__
static void *kept_block[MONGO_KEPT_BLOCKS];
#endif

static bool library_initialized = false;

static void cleanup_library(int code, Datum arg);
static void log_libmongoc_message(mongoc_log_level_t level,
								  const char *log_domain,
								  const char *message, void *user_data);
#ifdef __GLIBC__
static void *take_kept_block(size_t size);
static void keep_block(void *block);
static void *libbson_malloc(size_t size);
static void *libbson_calloc(size_t count, size_t size);
static void *libbson_realloc(void *block, size_t size);
static void *libbson_aligned_alloc(size_t alignment, size_t size);
static void libbson_free(void *block);
#endif

/*
 * mongo_library_init
 *		Set up libbson and libmongoc once per backend: libbson's memory
 *		(keeping large blocks), libmongoc's log messages in PostgreSQL's
 *		log, and libmongoc's cleanup at backend exit (after connection.c's
 *		clients are destroyed: exit callbacks run last registered first).
 */
void
mongo_library_init(void)
{
	if (library_initialized)
		return;

#ifdef __GLIBC__
	{
		static const bson_mem_vtable_t libbson_memory = {
			.malloc = libbson_malloc,
			.calloc = libbson_calloc,
			.realloc = libbson_realloc,
			.free = libbson_free,
			.aligned_alloc = libbson_aligned_alloc,
		};

		/*
		 * libbson asks for this before its first allocation, lest a block be
		 * freed by another allocator than its own; here both are glibc's
		 */
		bson_mem_set_vtable(&libbson_memory);
	}
#endif
	mongoc_init();
	mongoc_log_set_handler(log_libmongoc_message, NULL);
	mongoc_log_trace_disable();
	on_proc_exit(cleanup_library, (Datum) 0);
	library_initialized = true;
}

/*
 * cleanup_library
 *		At backend exit, libmongoc's own cleanup.
 */
static void
cleanup_library(int code, Datum arg)
{
	mongoc_cleanup();
}

/*
 * log_libmongoc_message
 *		libmongoc's own log messages go to the server log at a debug level,
 *		never to the client: errors that matter reach the user through
 *		mongo_report_error.
 */
static void
log_libmongoc_message(mongoc_log_level_t level, const char *log_domain,
					  const char *message, void *user_data)
{
	int			elevel = level <= MONGOC_LOG_LEVEL_WARNING ? DEBUG1 : DEBUG3;

	/*
	 * A message that is sent ends in a check for interrupts, which would
	 * raise a cancel right here, in the middle of libmongoc
	 */
	HOLD_INTERRUPTS();
	elog(elevel, "libmongoc %s: %s", log_domain, message);
	RESUME_INTERRUPTS();
}

#ifdef __GLIBC__

/*
 * take_kept_block
 *		The smallest kept block of at least size bytes, no longer kept; or
 *		NULL.
 */
static void *
take_kept_block(size_t size)
{
	int			best = -1;
	size_t		best_size = 0;

	if (size < MONGO_KEPT_BLOCK_MIN)
		return NULL;
	for (int i = 0; i < MONGO_KEPT_BLOCKS; i++)
	{
		size_t		usable;

		if (kept_block[i] == NULL)
			continue;
		usable = malloc_usable_size(kept_block[i]);
		if (usable >= size && (best < 0 || usable < best_size))
		{
			best = i;
			best_size = usable;
		}
	}
	if (best < 0)
		return NULL;
	{
		void	   *block = kept_block[best];

		kept_block[best] = NULL;
		return block;
	}
}

/*
 * keep_block
 *		Free a block libbson is done with, or keep it for the next request
 *		when it is large: in place of the smallest kept block, if that is
 *		smaller.
 */
static void
keep_block(void *block)
{
	size_t		usable = malloc_usable_size(block);
	int			smallest = 0;

	if (usable >= MONGO_KEPT_BLOCK_MIN && usable <= MONGO_KEPT_BLOCK_MAX)
	{
		for (int i = 0; i < MONGO_KEPT_BLOCKS; i++)
		{
			if (kept_block[i] == NULL)
			{
				kept_block[i] = block;
				return;
			}
			if (malloc_usable_size(kept_block[i]) <
				malloc_usable_size(kept_block[smallest]))
				smallest = i;
		}
		if (malloc_usable_size(kept_block[smallest]) < usable)
		{
			void	   *evicted = kept_block[smallest];

			kept_block[smallest] = block;
			block = evicted;
		}
	}
	free(block);
}

/*
 * libbson_malloc, libbson_calloc, libbson_realloc, libbson_aligned_alloc,
 * libbson_free
 *		libbson's (and so libmongoc's) allocator: glibc's, but a large
 *		request takes a kept block first.  No locking: a backend's
 *		single-threaded clients start no threads.
 */
static void *
libbson_malloc(size_t size)
{
	void	   *block = take_kept_block(size);

	return block != NULL ? block : malloc(size);
}

static void *
libbson_calloc(size_t count, size_t size)
{
	void	   *block;

	if (size != 0 && count > SIZE_MAX / size)
		return NULL;
	block = take_kept_block(count * size);
	if (block == NULL)
		return calloc(count, size);
	memset(block, 0, count * size);
	return block;
}

static void *
libbson_realloc(void *block, size_t size)
{
	void	   *larger;
	size_t		usable;

	if (block == NULL)
		return libbson_malloc(size);
	if (size == 0)
	{
		keep_block(block);
		return NULL;
	}
	usable = malloc_usable_size(block);
	if (size <= usable)
		return block;
	larger = take_kept_block(size);
	if (larger == NULL)
		return realloc(block, size);
	memcpy(larger, block, usable);
	keep_block(block);
	return larger;
}

static void *
libbson_aligned_alloc(size_t alignment, size_t size)
{
	return aligned_alloc(alignment, size);
}

static void
libbson_free(void *block)
{
	if (block != NULL)
		keep_block(block);
}

#endif							/* __GLIBC__ */

/*
 * mongo_free_kept_blocks
 *		Give the kept blocks back (once no scan reads from a server).
 */
void
mongo_free_kept_blocks(void)
{
#ifdef __GLIBC__
	for (int i = 0; i < MONGO_KEPT_BLOCKS; i++)
	{
		free(kept_block[i]);
		kept_block[i] = NULL;
	}
#endif
}
