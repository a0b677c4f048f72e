/*-------------------------------------------------------------------------
 *
 * prefetch.c
 *		  A stream layer under libmongoc that asks for a cursor's next batch
 *		  while the backend converts the one it has.
 *
 * libmongoc reads a cursor in series: it sends getMore, waits for the
 * batch, hands out its documents, and sends the next getMore only when the
 * scan has converted them all.  The server sits idle while the backend
 * converts, and the backend while the server answers.  MongoDB's own cure,
 * exhaust cursors (OP_MSG exhaustAllowed and moreToCome), libmongoc 1.23
 * does not support over OP_MSG; done under it, a server streaming batches
 * unasked would leave no way to send anything else on that connection (a
 * heartbeat, another cursor's getMore, killCursors) until the collection's
 * end.
 *
 * So this layer, wrapped around every stream libmongoc opens, pipelines
 * one request instead: when the reply to a getMore of the cursor the scan
 * named (mongo_prefetch_cursor) has been read and the cursor is not done,
 * it sends the same getMore again at once.  The server prepares the next
 * batch and sends it into the socket's buffers while the backend converts.
 * When libmongoc then writes its own getMore, the layer does not send it
 * (one was sent already) and gives libmongoc the reply to the early one,
 * with its responseTo set to libmongoc's request.  When libmongoc writes
 * anything else first (another cursor's getMore, a heartbeat, killCursors)
 * the early reply is read into memory, at most one batch, and handed to
 * libmongoc when it asks for it: the connection is never left in a state
 * libmongoc does not know.  Any server can answer this, since it is nothing
 * but two requests in a row on one connection; FerretDB does, so the tests
 * read through it.
 *
 * The OP_MSG layout this reads and writes, from the wire protocol's
 * specification: a 16-byte header (messageLength, requestID, responseTo,
 * opCode), flagBits, then a kind-0 section holding the command document.
 *
 * IDENTIFICATION
 *		  prefetch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>

#include "mongo_etl.h"

/* OP_MSG: its opcode, and offsets in it */
#define OP_MSG_OPCODE 2013
#define MSG_REQUEST_ID 4
#define MSG_RESPONSE_TO 8
#define MSG_OPCODE 12
#define MSG_FLAGS 16
#define MSG_SECTION_KIND 20
#define MSG_BODY 21
#define MSG_HEADER_END MSG_BODY

/* A getMore's body starts {getMore: <int64 cursor id>, ... */
#define GETMORE_KEY "getMore"
#define GETMORE_ID_AT (MSG_BODY + 4 + 1 + sizeof(GETMORE_KEY))
#define GETMORE_HEAD_LENGTH (GETMORE_ID_AT + 8)

/* The largest getMore kept to be sent again; libmongoc's are ~200 bytes */
#define MAX_GETMORE_LENGTH 4096

/* How long sending the early getMore may wait (it fits any socket buffer) */
#define PREFETCH_SEND_TIMEOUT_MS 30000

/* What this stream holds of an early getMore */
typedef enum PrefetchState
{
	PREFETCH_NONE,				/* nothing sent early */
	PREFETCH_SENT,				/* sent; its reply is still in the socket */
	PREFETCH_HELD,				/* its reply was read into held */
	PREFETCH_DELIVERING,		/* libmongoc is reading the reply */
} PrefetchState;

typedef struct PrefetchStream
{
	mongoc_stream_t vtable;		/* what libmongoc calls; must be first */
	mongoc_stream_t *inner;		/* the stream libmongoc's initiator made */
	struct PrefetchStream *next;	/* in the list of all streams */
	bool		broken;			/* an early request failed: fail everything */

	/* writing: bytes of the message being written still to come */
	size_t		write_left;
	bool		swallowing;		/* ... and they are not sent */

	/* the last getMore of the named cursor libmongoc sent, to send again */
	int64		getmore_cursor;
	uint8	   *getmore;
	size_t		getmore_length;
	bool		awaiting_getmore_reply; /* its reply is the next one */

	/* reading: the reply being read, as far as libmongoc has read it */
	size_t		read_at;		/* its bytes read so far */
	size_t		read_length;	/* its length, once 4 bytes are in */
	uint8		length_bytes[4];

	PrefetchState state;
	bool		forgotten;		/* its cursor is being destroyed: drop it */
	int32		answer_to;		/* libmongoc's request the reply answers */
	uint8	   *held;			/* PREFETCH_HELD: the whole reply */
	size_t		held_length;
	size_t		held_given;		/* bytes of it libmongoc has read */
} PrefetchStream;

/* An arbitrary type number, none of libmongoc's own */
#define MONGO_PREFETCH_STREAM_TYPE 0x4d45

/* The cursor whose batches are asked for early; 0 for none */
static int64 prefetched_cursor = 0;

/* Every stream of the backend's clients */
static PrefetchStream *all_streams = NULL;

/* getMores of libmongoc's answered by an early reply, ever */
static uint64 batches_read_ahead = 0;

/* Request IDs of the early getMores: a range libmongoc's counter avoids */
static int32 next_request_id = INT32_MIN;

static void prefetch_destroy(mongoc_stream_t *stream);
static void prefetch_failed(mongoc_stream_t *stream);
static void free_stream(PrefetchStream *ps);
static int	prefetch_close(mongoc_stream_t *stream);
static int	prefetch_flush(mongoc_stream_t *stream);
static ssize_t prefetch_writev(mongoc_stream_t *stream, mongoc_iovec_t *iov,
							   size_t iovcnt, int32_t timeout_msec);
static ssize_t prefetch_readv(mongoc_stream_t *stream, mongoc_iovec_t *iov,
							  size_t iovcnt, size_t min_bytes,
							  int32_t timeout_msec);
static int	prefetch_setsockopt(mongoc_stream_t *stream, int level,
								int optname, void *optval,
								mongoc_socklen_t optlen);
static mongoc_stream_t *prefetch_base_stream(mongoc_stream_t *stream);
static bool prefetch_check_closed(mongoc_stream_t *stream);
static ssize_t prefetch_poll(mongoc_stream_poll_t *streams, size_t nstreams,
							 int32_t timeout);
static bool prefetch_timed_out(mongoc_stream_t *stream);
static bool prefetch_should_retry(mongoc_stream_t *stream);
static void note_reply_bytes(PrefetchStream *ps, mongoc_iovec_t *iov,
							 size_t iovcnt, size_t nread);
static void reply_read(PrefetchStream *ps, const uint8 *reply,
					   size_t length);
static bool read_held_reply(PrefetchStream *ps, int32_t timeout_msec);
static void forget_prefetch(PrefetchStream *ps);
static int64 reply_cursor_id(const uint8 *reply, size_t length);
static size_t gather(const mongoc_iovec_t *iov, size_t iovcnt, uint8 *out,
					 size_t want);

/*
 * mongo_prefetch_stream_new
 *		Wrap a stream libmongoc's initiator opened.
 */
mongoc_stream_t *
mongo_prefetch_stream_new(mongoc_stream_t *inner)
{
	PrefetchStream *ps = bson_malloc0(sizeof(PrefetchStream));

	ps->vtable.type = MONGO_PREFETCH_STREAM_TYPE;
	ps->vtable.destroy = prefetch_destroy;
	ps->vtable.failed = prefetch_failed;
	ps->vtable.close = prefetch_close;
	ps->vtable.flush = prefetch_flush;
	ps->vtable.writev = prefetch_writev;
	ps->vtable.readv = prefetch_readv;
	ps->vtable.setsockopt = prefetch_setsockopt;
	ps->vtable.get_base_stream = prefetch_base_stream;
	ps->vtable.check_closed = prefetch_check_closed;
	ps->vtable.poll = prefetch_poll;
	ps->vtable.timed_out = prefetch_timed_out;
	ps->vtable.should_retry = prefetch_should_retry;
	ps->inner = inner;
	ps->next = all_streams;
	all_streams = ps;
	return (mongoc_stream_t *) ps;
}

/*
 * mongo_prefetch_cursor
 *		Ask for the batches of this cursor early from now on, instead of
 *		another's.  A scan names its cursor once the first batch is in.
 */
void
mongo_prefetch_cursor(int64 cursor_id)
{
	prefetched_cursor = cursor_id;
}

/*
 * mongo_prefetch_forget
 *		A cursor is about to be destroyed: ask for none of its batches
 *		early.  A reply already asked for is read and dropped before the
 *		connection's next message goes out.
 */
void
mongo_prefetch_forget(int64 cursor_id)
{
	if (prefetched_cursor == cursor_id)
		prefetched_cursor = 0;
	for (PrefetchStream *ps = all_streams; ps != NULL; ps = ps->next)
	{
		if (ps->state == PREFETCH_NONE || ps->getmore_cursor != cursor_id)
			continue;
		if (ps->state == PREFETCH_HELD)
			forget_prefetch(ps);
		else
			ps->forgotten = true;
	}
}

/*
 * mongo_batches_read_ahead
 *		The getMores of libmongoc's that an early reply answered so far: a
 *		scan counts those of its calls into libmongoc, for EXPLAIN ANALYZE.
 */
uint64
mongo_batches_read_ahead(void)
{
	return batches_read_ahead;
}

/*
 * prefetch_destroy, prefetch_failed
 *		The stream is done with (failed: after an error).
 */
static void
prefetch_destroy(mongoc_stream_t *stream)
{
	PrefetchStream *ps = (PrefetchStream *) stream;

	mongoc_stream_destroy(ps->inner);
	free_stream(ps);
}

static void
prefetch_failed(mongoc_stream_t *stream)
{
	PrefetchStream *ps = (PrefetchStream *) stream;

	mongoc_stream_failed(ps->inner);
	free_stream(ps);
}

/*
 * free_stream
 *		Take a stream out of the list and free it.
 */
static void
free_stream(PrefetchStream *ps)
{
	for (PrefetchStream **link = &all_streams; *link != NULL;
		 link = &(*link)->next)
	{
		if (*link == ps)
		{
			*link = ps->next;
			break;
		}
	}
	bson_free(ps->held);
	bson_free(ps->getmore);
	bson_free(ps);
}

/*
 * prefetch_writev
 *		Send a message of libmongoc's; or, for the getMore an early one
 *		already asked, send nothing and have its reply answer it.
 */
static ssize_t
prefetch_writev(mongoc_stream_t *stream, mongoc_iovec_t *iov, size_t iovcnt,
				int32_t timeout_msec)
{
	PrefetchStream *ps = (PrefetchStream *) stream;
	size_t		total = 0;
	ssize_t		written;

	if (ps->broken)
	{
		errno = ECONNRESET;
		return -1;
	}
	for (size_t i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;

	if (ps->write_left == 0)
	{
		uint8		head[GETMORE_HEAD_LENGTH];
		size_t		got = gather(iov, iovcnt, head, sizeof(head));
		int32		length = 0;
		int64		cursor = 0;
		bool		getmore = false;

		if (got >= MSG_HEADER_END)
			memcpy(&length, head, 4);
		length = (int32) BSON_UINT32_FROM_LE(length);
		if (got == sizeof(head))
		{
			int32		opcode;
			uint32		flags;

			memcpy(&opcode, head + MSG_OPCODE, 4);
			memcpy(&flags, head + MSG_FLAGS, 4);
			memcpy(&cursor, head + GETMORE_ID_AT, 8);
			cursor = (int64) BSON_UINT64_FROM_LE(cursor);
			/* no checksum (bit 0) or other flags: libmongoc sets none */
			getmore = (int32) BSON_UINT32_FROM_LE(opcode) == OP_MSG_OPCODE &&
				(int32) BSON_UINT32_FROM_LE(flags) == 0 &&
				head[MSG_SECTION_KIND] == 0 &&
				head[MSG_BODY + 4] == BSON_TYPE_INT64 &&
				memcmp(head + MSG_BODY + 5, GETMORE_KEY,
					   sizeof(GETMORE_KEY)) == 0;
		}

		if (getmore && ps->state != PREFETCH_NONE &&
			cursor == ps->getmore_cursor)
		{
			int32		request_id;

			/* asked already: the early reply answers this one */
			memcpy(&request_id, head + MSG_REQUEST_ID, 4);
			ps->answer_to = (int32) BSON_UINT32_FROM_LE(request_id);
			batches_read_ahead++;
			if (ps->state == PREFETCH_SENT)
				ps->state = PREFETCH_DELIVERING;
			else
				memcpy(ps->held + MSG_RESPONSE_TO, &request_id, 4);
			ps->awaiting_getmore_reply = true;
			ps->swallowing = true;
			ps->write_left = (size_t) length;
		}
		else
		{
			/* another message must wait for the early reply to be read */
			if (ps->state == PREFETCH_SENT &&
				!read_held_reply(ps, timeout_msec))
				return -1;
			ps->swallowing = false;
			ps->write_left = length > 0 ? (size_t) length : 0;
			ps->awaiting_getmore_reply = false;

			/* keep a getMore of the named cursor to send again */
			if (getmore && cursor != 0 && cursor == prefetched_cursor &&
				length <= MAX_GETMORE_LENGTH && (size_t) length == total &&
				ps->state == PREFETCH_NONE)
			{
				if (ps->getmore == NULL)
					ps->getmore = bson_malloc(MAX_GETMORE_LENGTH);
				gather(iov, iovcnt, ps->getmore, length);
				ps->getmore_length = length;
				ps->getmore_cursor = cursor;
				ps->awaiting_getmore_reply = true;
			}
		}
	}

	if (ps->swallowing)
		written = (ssize_t) total;
	else
		written = mongoc_stream_writev(ps->inner, iov, iovcnt, timeout_msec);
	if (written > 0)
		ps->write_left -= Min((size_t) written, ps->write_left);
	return written;
}

/*
 * prefetch_readv
 *		Read a reply for libmongoc: from the held early reply when there is
 *		one, else from the socket; and when a reply to a getMore of the
 *		named cursor is complete, send the next getMore at once.
 */
static ssize_t
prefetch_readv(mongoc_stream_t *stream, mongoc_iovec_t *iov, size_t iovcnt,
			   size_t min_bytes, int32_t timeout_msec)
{
	PrefetchStream *ps = (PrefetchStream *) stream;
	ssize_t		nread;

	if (ps->broken)
	{
		errno = ECONNRESET;
		return -1;
	}

	if (ps->state == PREFETCH_HELD && ps->awaiting_getmore_reply)
	{
		size_t		given = 0;

		for (size_t i = 0; i < iovcnt && ps->held_given < ps->held_length;
			 i++)
		{
			size_t		n = Min(iov[i].iov_len,
								ps->held_length - ps->held_given);

			memcpy(iov[i].iov_base, ps->held + ps->held_given, n);
			ps->held_given += n;
			given += n;
		}
		if (ps->held_given == ps->held_length)
		{
			uint8	   *reply = ps->held;

			ps->held = NULL;
			ps->state = PREFETCH_NONE;
			reply_read(ps, reply + 4, ps->held_length - 4);
			bson_free(reply);
		}
		return (ssize_t) given;
	}

	nread = mongoc_stream_readv(ps->inner, iov, iovcnt, min_bytes,
								timeout_msec);
	if (nread > 0)
		note_reply_bytes(ps, iov, iovcnt, (size_t) nread);
	return nread;
}

/*
 * note_reply_bytes
 *		Follow the reply libmongoc reads from the socket: its length, and
 *		when it answers an early getMore, set its responseTo to
 *		libmongoc's request.  libmongoc reads a reply's length, then the
 *		rest in one read; when the rest lands in one piece, reply_read
 *		sees the whole reply.
 */
static void
note_reply_bytes(PrefetchStream *ps, mongoc_iovec_t *iov, size_t iovcnt,
				 size_t nread)
{
	size_t		start_at = ps->read_at;

	for (size_t i = 0; i < iovcnt && nread > 0; i++)
	{
		uint8	   *bytes = iov[i].iov_base;
		size_t		n = Min(nread, iov[i].iov_len);

		nread -= n;
		for (size_t j = 0; j < n;)
		{
			size_t		at = ps->read_at;

			if (at < 4)
				ps->length_bytes[at] = bytes[j];
			if (at == 3)
			{
				int32		length;

				memcpy(&length, ps->length_bytes, 4);
				ps->read_length = Max((int32) BSON_UINT32_FROM_LE(length), 4);
			}
			if (ps->state == PREFETCH_DELIVERING &&
				at >= MSG_RESPONSE_TO && at < MSG_RESPONSE_TO + 4)
			{
				int32		answer_to = (int32) BSON_UINT32_TO_LE(ps->answer_to);

				bytes[j] = ((uint8 *) &answer_to)[at - MSG_RESPONSE_TO];
			}

			if (at < MSG_HEADER_END || ps->read_length == 0)
			{
				ps->read_at++;
				j++;
			}
			else
			{
				/* past the header: skip to this piece's or reply's end */
				size_t		skip = Min(n - j, ps->read_length - at);

				ps->read_at += skip;
				j += skip;
			}

			if (ps->read_length > 0 && ps->read_at == ps->read_length)
			{
				/* a whole reply, in one piece from its fifth byte on? */
				bool		whole = start_at == 4 && i == 0 &&
					j == ps->read_length - 4;

				ps->read_at = 0;
				ps->read_length = 0;
				if (ps->state == PREFETCH_DELIVERING)
					ps->state = PREFETCH_NONE;
				reply_read(ps, whole ? bytes : NULL, whole ? j : 0);
				start_at = 0;
			}
		}
	}
}

/*
 * reply_read
 *		A reply is in.  When it answers a getMore of the named cursor and
 *		the cursor goes on, send that getMore again now.  reply is the
 *		reply from its fifth byte (after its length), or NULL when it did
 *		not arrive in one piece: then nothing is sent early.
 */
static void
reply_read(PrefetchStream *ps, const uint8 *reply, size_t length)
{
	int32		request_id;
	mongoc_iovec_t iov;
	ssize_t		written;

	if (!ps->awaiting_getmore_reply)
		return;
	ps->awaiting_getmore_reply = false;
	if (reply == NULL || ps->getmore == NULL ||
		ps->getmore_cursor != prefetched_cursor ||
		reply_cursor_id(reply, length) != ps->getmore_cursor)
		return;

	request_id = (int32) BSON_UINT32_TO_LE(next_request_id);
	next_request_id = next_request_id == -1 ? INT32_MIN : next_request_id + 1;
	memcpy(ps->getmore + MSG_REQUEST_ID, &request_id, 4);
	iov.iov_base = ps->getmore;
	iov.iov_len = ps->getmore_length;
	written = mongoc_stream_writev(ps->inner, &iov, 1,
								   PREFETCH_SEND_TIMEOUT_MS);
	if (written != (ssize_t) ps->getmore_length)
	{
		/* part of a message on the wire: the connection is unusable */
		ps->broken = true;
		return;
	}
	ps->state = PREFETCH_SENT;
	ps->forgotten = false;
}

/*
 * read_held_reply
 *		Read the reply to the early getMore into memory, so that another
 *		message can go first; it is given to libmongoc when it asks for
 *		the batch, or dropped when the scan has named another cursor.
 */
static bool
read_held_reply(PrefetchStream *ps, int32_t timeout_msec)
{
	int32		length;
	ssize_t		nread;

	nread = mongoc_stream_read(ps->inner, &length, 4, 4, timeout_msec);
	if (nread != 4)
		goto failed;
	length = (int32) BSON_UINT32_FROM_LE(length);
	if (length < MSG_HEADER_END)
		goto failed;
	ps->held = bson_malloc(length);
	ps->held[0] = length & 0xff;
	ps->held[1] = (length >> 8) & 0xff;
	ps->held[2] = (length >> 16) & 0xff;
	ps->held[3] = (length >> 24) & 0xff;
	nread = mongoc_stream_read(ps->inner, ps->held + 4, length - 4,
							   length - 4, timeout_msec);
	if (nread != length - 4)
		goto failed;
	ps->held_length = length;
	ps->held_given = 0;
	ps->state = PREFETCH_HELD;
	if (ps->forgotten)
		forget_prefetch(ps);
	return true;

failed:
	ps->broken = true;
	forget_prefetch(ps);
	errno = ECONNRESET;
	return false;
}

/*
 * forget_prefetch
 *		Drop the held early reply.
 */
static void
forget_prefetch(PrefetchStream *ps)
{
	bson_free(ps->held);
	ps->held = NULL;
	ps->state = PREFETCH_NONE;
	ps->forgotten = false;
}

/*
 * reply_cursor_id
 *		The cursor id of a getMore's reply ({cursor: {nextBatch, id}, ok}),
 *		given from its fifth byte; 0 when it is not such a reply.
 */
static int64
reply_cursor_id(const uint8 *reply, size_t length)
{
	const uint8 *body = reply + (MSG_BODY - 4);
	int32		body_length;
	bson_t		doc;
	bson_iter_t iter;
	bson_iter_t cursor;
	int32		opcode;

	if (length < MSG_BODY - 4 + 5)
		return 0;
	memcpy(&opcode, reply + MSG_OPCODE - 4, 4);
	if ((int32) BSON_UINT32_FROM_LE(opcode) != OP_MSG_OPCODE || reply[MSG_SECTION_KIND - 4] != 0)
		return 0;
	memcpy(&body_length, body, 4);
	body_length = (int32) BSON_UINT32_FROM_LE(body_length);
	if (body_length < 5 || (size_t) body_length > length - (MSG_BODY - 4) ||
		!bson_init_static(&doc, body, body_length))
		return 0;
	if (bson_iter_init_find(&iter, &doc, "cursor") &&
		BSON_ITER_HOLDS_DOCUMENT(&iter) &&
		bson_iter_recurse(&iter, &cursor) &&
		bson_iter_find(&cursor, "id") &&
		BSON_ITER_HOLDS_INT64(&cursor))
		return bson_iter_int64(&cursor);
	return 0;
}

/*
 * gather
 *		Copy up to want bytes from the start of iov to out; the number
 *		copied.
 */
static size_t
gather(const mongoc_iovec_t *iov, size_t iovcnt, uint8 *out, size_t want)
{
	size_t		got = 0;

	for (size_t i = 0; i < iovcnt && got < want; i++)
	{
		size_t		n = Min(iov[i].iov_len, want - got);

		memcpy(out + got, iov[i].iov_base, n);
		got += n;
	}
	return got;
}

/*
 * The rest of a stream's functions: the inner stream's.
 */
static int
prefetch_close(mongoc_stream_t *stream)
{
	return mongoc_stream_close(((PrefetchStream *) stream)->inner);
}

static int
prefetch_flush(mongoc_stream_t *stream)
{
	return mongoc_stream_flush(((PrefetchStream *) stream)->inner);
}

static int
prefetch_setsockopt(mongoc_stream_t *stream, int level, int optname,
					void *optval, mongoc_socklen_t optlen)
{
	return mongoc_stream_setsockopt(((PrefetchStream *) stream)->inner,
									level, optname, optval, optlen);
}

static mongoc_stream_t *
prefetch_base_stream(mongoc_stream_t *stream)
{
	return ((PrefetchStream *) stream)->inner;
}

static bool
prefetch_check_closed(mongoc_stream_t *stream)
{
	PrefetchStream *ps = (PrefetchStream *) stream;

	return ps->broken || mongoc_stream_check_closed(ps->inner);
}

static bool
prefetch_timed_out(mongoc_stream_t *stream)
{
	return mongoc_stream_timed_out(((PrefetchStream *) stream)->inner);
}

static bool
prefetch_should_retry(mongoc_stream_t *stream)
{
	return mongoc_stream_should_retry(((PrefetchStream *) stream)->inner);
}

/*
 * prefetch_poll
 *		Poll the inner streams.  A held reply is not in the socket, but
 *		libmongoc polls only to see whether a connection is alive.
 */
static ssize_t
prefetch_poll(mongoc_stream_poll_t *streams, size_t nstreams, int32_t timeout)
{
	mongoc_stream_poll_t *inner = bson_malloc(sizeof(*inner) * nstreams);
	ssize_t		ready;

	for (size_t i = 0; i < nstreams; i++)
	{
		inner[i] = streams[i];
		inner[i].stream = ((PrefetchStream *) streams[i].stream)->inner;
	}
	ready = mongoc_stream_poll(inner, nstreams, timeout);
	for (size_t i = 0; i < nstreams; i++)
		streams[i].revents = inner[i].revents;
	bson_free(inner);
	return ready;
}
