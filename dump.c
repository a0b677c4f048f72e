/*-------------------------------------------------------------------------
 *
 * dump.c
 *		  Reading mongodump files: a collection's documents as concatenated
 *		  BSON (<collection>.bson), or the same compressed with gzip
 *		  (<collection>.bson.gz, as mongodump --gzip writes).
 *
 * The file is read sequentially through one large buffer, so a document
 * costs no system call of its own and memory stays bounded by the largest
 * document, whatever the file's size.  Files are untrusted input: each
 * document's length prefix and terminator are checked before the document
 * is handed on, and the converter checks the structure of every part it
 * reads (bson_iter is bounds-checked), so a corrupt file gives an error
 * with the file name and byte offset, never an over-read.
 *
 * IDENTIFICATION
 *		  dump.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "storage/fd.h"

#include "mongo_etl.h"

/*
 * Largest document accepted.  MongoDB stores at most 16 MiB per document;
 * mongodump can write slightly larger internal documents, so allow some
 * margin but refuse lengths that can only come from corruption.
 */
#define DUMP_MAX_DOCUMENT_SIZE (16 * 1024 * 1024 + 16 * 1024)

/* Smallest BSON document: a length prefix and the terminating NUL */
#define BSON_MIN_DOCUMENT_SIZE 5

struct MongoDumpReader
{
	char	   *path;			/* for error messages */
	int			fd;				/* plain file, or -1 */
	gzFile		gz;				/* gzip file, or NULL */
	char	   *buffer;
	size_t		buffer_size;
	size_t		start;			/* first byte not yet returned */
	size_t		end;			/* end of the bytes read */
	uint64		buffer_offset;	/* offset in the (uncompressed) data of
								 * buffer[0] */
	bool		eof;			/* nothing more to read */
	bson_t		document;		/* the document last returned */
	void	   *allocation;		/* what palloc returned for the reader,
								 * aligned for the bson_t */
	uint64		document_offset;	/* its offset in the data */
	int64		file_size;		/* a plain file's, once mongo_dump_skip needed
								 * it; else -1 */
};

static void fill_buffer(MongoDumpReader *reader, size_t upto);
static uint32 read_length_prefix(const char *p);
pg_noreturn static void report_bad_length(const MongoDumpReader *reader,
										  uint64 offset, uint32 length);
pg_noreturn static void report_truncated(const MongoDumpReader *reader,
										 uint64 offset, uint64 present);

/*
 * mongo_dump_open
 *		Open a mongodump file; a name ending in ".gz" is read through zlib.
 *		The reader and its buffer live in the current memory context; the
 *		file is closed by mongo_dump_close, which the scan also calls when a
 *		query fails.
 */
MongoDumpReader *
mongo_dump_open(const char *path)
{
	void	   *allocation;
	MongoDumpReader *reader = mongo_palloc0_bson_aligned(allocation,
														 sizeof(MongoDumpReader));
	size_t		len = strlen(path);

	reader->allocation = allocation;
	reader->path = pstrdup(path);
	reader->fd = -1;
	reader->file_size = -1;
	reader->buffer_size = MONGO_DUMP_READ_SIZE;
	reader->buffer = palloc(reader->buffer_size);

	/* count the descriptor against max_files_per_process */
	if (!AcquireExternalFD())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not open file \"%s\": too many open files",
						path)));

	if (len > 3 && strcmp(path + len - 3, ".gz") == 0)
	{
		reader->gz = gzopen(path, "rb");
		if (reader->gz != NULL)
			gzbuffer(reader->gz, MONGO_DUMP_READ_SIZE);
	}
	else
	{
		reader->fd = open(path, O_RDONLY | PG_BINARY, 0);
#ifdef POSIX_FADV_SEQUENTIAL
		if (reader->fd >= 0)
			(void) posix_fadvise(reader->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	}

	if (reader->gz == NULL && reader->fd < 0)
	{
		int			save_errno = errno;

		ReleaseExternalFD();
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m",
						path)));
	}
	return reader;
}

/*
 * mongo_dump_next
 *		The next document of the file, or false at its end.  The document
 *		points into the reader's buffer and stays valid until the next call.
 */
bool
mongo_dump_next(MongoDumpReader *reader, const bson_t **document)
{
	for (;;)
	{
		size_t		available = reader->end - reader->start;

		if (available >= 4)
		{
			const char *p = reader->buffer + reader->start;
			uint32		length = read_length_prefix(p);
			uint64		offset = reader->buffer_offset + reader->start;

			if (length < BSON_MIN_DOCUMENT_SIZE ||
				length > DUMP_MAX_DOCUMENT_SIZE)
				report_bad_length(reader, offset, length);

			if (available >= length)
			{
				if (p[length - 1] != '\0' ||
					!bson_init_static(&reader->document,
									  (const uint8_t *) p, length))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_ERROR),
							 errmsg("invalid BSON document in file \"%s\" at byte offset " UINT64_FORMAT,
									reader->path, offset),
							 errdetail("The document of %u bytes does not end with a zero byte.",
									   length)));
				reader->document_offset = offset;
				reader->start += length;
				*document = &reader->document;
				return true;
			}

			/* a document larger than the buffer: make room for it */
			if (length > reader->buffer_size)
			{
				size_t		keep = available;

				memmove(reader->buffer, p, keep);
				reader->buffer_offset += reader->start;
				reader->start = 0;
				reader->end = keep;
				reader->buffer_size = length;
				reader->buffer = repalloc(reader->buffer, reader->buffer_size);
			}
		}

		if (reader->eof)
		{
			if (available == 0)
				return false;
			report_truncated(reader, reader->buffer_offset + reader->start,
							 available);
		}
		fill_buffer(reader, reader->buffer_size);
	}
}

/*
 * mongo_dump_seek
 *		Continue reading at a byte offset of the (uncompressed) data, which
 *		must be where a document starts: one that an earlier reading of the
 *		same file returned, as mongo_etl.load records them.  A compressed
 *		file gets there by decompressing what comes before.
 */
void
mongo_dump_seek(MongoDumpReader *reader, uint64 offset)
{
	bool		failed;

	if (reader->gz != NULL)
		failed = gzseek(reader->gz, (z_off_t) offset, SEEK_SET) !=
			(z_off_t) offset;
	else
		failed = lseek(reader->fd, (off_t) offset, SEEK_SET) !=
			(off_t) offset;
	if (failed)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not seek to byte offset " UINT64_FORMAT " of file \"%s\": %m",
						offset, reader->path)));
	reader->buffer_offset = offset;
	reader->start = 0;
	reader->end = 0;
	reader->eof = false;
}

/*
 * mongo_dump_read_block
 *		Read about bytes (at most the buffer's size) of a plain file from
 *		offset, where a document starts, and return the offset where the
 *		whole documents read end; *documents says how many, and the reader
 *		returns them from memory.  A participant of a parallel scan claims
 *		the next part of the file so, the file being cut as it is read.
 *
 *		A document longer than bytes is a block of its own, which
 *		mongo_dump_next reads on.  At the end of the file *documents is 0;
 *		where the bytes at offset are not a document, it is 1 and the
 *		offset returned is PG_UINT64_MAX: mongo_dump_next then says what is
 *		wrong with them, and nothing comes after.
 */
uint64
mongo_dump_read_block(MongoDumpReader *reader, uint64 offset, size_t bytes,
					  uint64 *documents)
{
	size_t		at = 0;
	uint64		found = 0;

	Assert(reader->gz == NULL);
	mongo_dump_seek(reader, offset);
	bytes = Min(bytes, reader->buffer_size);
	while (reader->end < bytes && !reader->eof)
		fill_buffer(reader, bytes);

	while (reader->end - at >= 4)
	{
		uint32		length = read_length_prefix(reader->buffer + at);

		if (length < BSON_MIN_DOCUMENT_SIZE || length > DUMP_MAX_DOCUMENT_SIZE)
			break;
		if (reader->end - at < length)
		{
			/* a document longer than the block is one */
			if (found == 0 && !reader->eof)
			{
				*documents = 1;
				return offset + length;
			}
			break;
		}
		at += length;
		found++;
	}
	if (found == 0 && reader->end > 0)
	{
		*documents = 1;
		return PG_UINT64_MAX;
	}
	*documents = found;
	return offset + at;
}

/*
 * fill_buffer
 *		Move the unread bytes to the front of the buffer and read more after
 *		them, as much as fits below upto bytes.
 */
static void
fill_buffer(MongoDumpReader *reader, size_t upto)
{
	size_t		keep = reader->end - reader->start;
	size_t		room;
	ssize_t		nread;

	if (reader->start > 0)
	{
		memmove(reader->buffer, reader->buffer + reader->start, keep);
		reader->buffer_offset += reader->start;
		reader->start = 0;
		reader->end = keep;
	}

	room = Min(upto, reader->buffer_size) - reader->end;
	if (reader->gz != NULL)
	{
		nread = gzread(reader->gz, reader->buffer + reader->end,
					   (unsigned) Min(room, (size_t) PG_INT32_MAX));
		if (nread < 0)
		{
			int			zerrno;
			const char *message = gzerror(reader->gz, &zerrno);

			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("could not decompress file \"%s\" after byte offset " UINT64_FORMAT,
							reader->path,
							reader->buffer_offset + reader->end),
					 errdetail_internal("%s", message)));
		}
	}
	else
	{
		nread = read(reader->fd, reader->buffer + reader->end, room);
		if (nread < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", reader->path)));
	}

	if (nread == 0)
		reader->eof = true;
	reader->end += nread;
}

/*
 * read_length_prefix
 *		A document's int32 length prefix, which BSON stores little-endian.
 */
static uint32
read_length_prefix(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;

	return (uint32) u[0] | ((uint32) u[1] << 8) |
		((uint32) u[2] << 16) | ((uint32) u[3] << 24);
}

/*
 * report_bad_length
 *		The error for a length prefix no document can have, at offset: what
 *		reading the file and stepping over its documents both say.
 */
static void
report_bad_length(const MongoDumpReader *reader, uint64 offset,
				  uint32 length)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("invalid BSON document in file \"%s\" at byte offset " UINT64_FORMAT,
					reader->path, offset),
			 errdetail("The length prefix says %u bytes; a document has %d to %d bytes.",
					   length, BSON_MIN_DOCUMENT_SIZE,
					   DUMP_MAX_DOCUMENT_SIZE)));
}

/*
 * report_truncated
 *		The error for a file that ends inside the document at offset, of
 *		which present bytes are there.
 */
static void
report_truncated(const MongoDumpReader *reader, uint64 offset,
				 uint64 present)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("file \"%s\" is truncated: it ends inside the document at byte offset " UINT64_FORMAT,
					reader->path, offset),
			 errdetail(UINT64_FORMAT " bytes of the document are present.",
					   present)));
}

/*
 * mongo_dump_path
 *		The file being read, for messages.
 */
const char *
mongo_dump_path(const MongoDumpReader *reader)
{
	return reader->path;
}

/*
 * mongo_dump_document_offset
 *		The byte offset of the document last returned, for messages.
 */
uint64
mongo_dump_document_offset(const MongoDumpReader *reader)
{
	return reader->document_offset;
}

/*
 * mongo_dump_close
 *		Close the file and free the reader.
 */
void
mongo_dump_close(MongoDumpReader *reader)
{
	if (reader->gz != NULL)
		gzclose(reader->gz);
	if (reader->fd >= 0)
		close(reader->fd);
	ReleaseExternalFD();
	pfree(reader->buffer);
	pfree(reader->path);
	pfree(reader->allocation);
}

/*
 * mongo_dump_skip
 *		Step over the next document of a plain file without reading it: its
 *		length, or 0 at the end of the file.  A length prefix that cannot be
 *		right, or a document that goes past the end of the file, is an
 *		error naming the file and the byte offset, as reading it would be.
 */
uint32
mongo_dump_skip(MongoDumpReader *reader)
{
	uint64		offset = reader->buffer_offset + reader->start;
	uint32		length;

	Assert(reader->gz == NULL);
	if (reader->file_size < 0)
	{
		struct stat st;

		if (fstat(reader->fd, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", reader->path)));
		reader->file_size = st.st_size;
	}

	/* the next length prefix in the buffer, or the end of the file */
	if (reader->end - reader->start < 4)
	{
		fill_buffer(reader, reader->buffer_size);
		if (reader->end - reader->start < 4)
		{
			if (reader->end > reader->start)
				report_truncated(reader, offset,
								 reader->end - reader->start);
			return 0;
		}
	}
	length = read_length_prefix(reader->buffer + reader->start);
	if (length < BSON_MIN_DOCUMENT_SIZE || length > DUMP_MAX_DOCUMENT_SIZE)
		report_bad_length(reader, offset, length);
	if (offset + length > (uint64) reader->file_size)
		report_truncated(reader, offset, reader->file_size - offset);

	/* within the buffer, or by seeking past it */
	if (reader->end - reader->start >= length)
		reader->start += length;
	else
		mongo_dump_seek(reader, offset + length);
	return length;
}
