/*-------------------------------------------------------------------------
 *
 * bson_walk.h
 *		  A bounds-checked step from one BSON element to the next, for the
 *		  scan's hot path, inlined where documents are walked.
 *
 * A scan visits every element of every document it reads, and libbson's
 * bson_iter_next, an out-of-line call that handles every BSON type in one
 * large switch, was the largest single cost of converting a document.
 * mongo_walk_next does the same step for the types documents are made of
 * (numbers, strings, dates, ObjectIds, booleans, null, documents and
 * arrays) and leaves every other type to bson_iter_next itself (in
 * bson_walk.c, with the end of a walk); the step is inlined, as its call
 * cost as much as the step.
 *
 * The step fills the bson_iter_t exactly as bson_iter_next does (the same
 * offsets of key and value, the same next element, the same err_off on a
 * malformed element), so that libbson's accessors (bson_iter_utf8,
 * bson_iter_recurse, ...) and the error reports that quote err_off work
 * unchanged, and it accepts and rejects exactly the elements libbson does:
 * the element's key must end inside the document, its value (with a
 * string's length prefix and terminating NUL, a document's length prefix,
 * a boolean's byte) must end before the document's last byte.  The fuzz
 * target (fuzz/fuzz_dump.c) checks both steps agree on every element of
 * every input.
 *
 * IDENTIFICATION
 *		  bson_walk.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef BSON_WALK_H
#define BSON_WALK_H

#include <bson/bson.h>

#include "port/pg_bitutils.h"

/* sizes of the fixed-length values, from the BSON specification */
#define WALK_INT32_SIZE		4	/* int32 */
#define WALK_INT64_SIZE		8	/* double, int64, date, timestamp */
#define WALK_OID_SIZE		12	/* ObjectId */
#define WALK_DECIMAL_SIZE	16	/* Decimal128 */
#define WALK_LENGTH_SIZE	4	/* a string's or document's length prefix */

/*
 * A word has a zero byte when (word - WALK_LOW_BYTES) & ~word & WALK_HIGH_BITS
 * is not 0, and its lowest set bit is in the first zero byte (a borrow only
 * flags bytes above a zero byte).
 */
#define WALK_LOW_BYTES	UINT64CONST(0x0101010101010101)
#define WALK_HIGH_BITS	UINT64CONST(0x8080808080808080)

extern bool mongo_walk_other(bson_iter_t *iter);
extern bool mongo_walk_invalid(bson_iter_t *iter, uint32 err_off);

/* the key length of the element mongo_walk_next stepped to */
#define mongo_walk_key_len(iter) ((iter)->d1 - (iter)->key - 1)

/*
 * mongo_walk_read_length
 *		The little-endian 32-bit length stored at data + at.
 */
static inline uint32
mongo_walk_read_length(const uint8 *data, uint32 at)
{
	uint32		value;

	memcpy(&value, data + at, sizeof(value));
	return BSON_UINT32_FROM_LE(value);
}

/*
 * mongo_walk_read_int64
 *		The little-endian 64-bit value stored at data + at.
 */
static inline int64
mongo_walk_read_int64(const uint8 *data, uint32 at)
{
	int64		value;

	memcpy(&value, data + at, sizeof(value));
	return BSON_UINT64_FROM_LE(value);
}

/*
 * mongo_walk_key_end
 *		The offset of the first NUL byte at or after o and before len, or
 *		len when there is none; looked for a word at a time while a whole
 *		word is inside the document, since keys are short.
 */
static inline uint32
mongo_walk_key_end(const uint8 *data, uint32 o, uint32 len)
{
	while (o + sizeof(uint64) <= len)
	{
		uint64		word;
		uint64		zeroes;

		memcpy(&word, data + o, sizeof(word));
		word = BSON_UINT64_FROM_LE(word);
		zeroes = (word - WALK_LOW_BYTES) & ~word & WALK_HIGH_BITS;
		if (zeroes != 0)
			return o + pg_rightmost_one_pos64(zeroes) / BITS_PER_BYTE;
		o += sizeof(uint64);
	}
	while (o < len && data[o] != '\0')
		o++;
	return o;
}

/*
 * mongo_walk_init
 *		Set iter before the first element of the document of len bytes at
 *		data, as bson_iter_init does (false, and iter zeroed, for a length
 *		below the five bytes of an empty document); inlined, as the call
 *		costs more than the work, once a document.
 */
static pg_attribute_always_inline bool
mongo_walk_init(bson_iter_t *iter, const uint8 *data, uint32 len)
{
	if (len < WALK_LENGTH_SIZE + 1)
	{
		memset(iter, 0, sizeof(*iter));
		return false;
	}
	iter->raw = data;
	iter->len = len;
	iter->off = 0;
	iter->type = 0;
	iter->key = 0;
	iter->d1 = 0;
	iter->d2 = 0;
	iter->d3 = 0;
	iter->d4 = 0;
	iter->next_off = WALK_LENGTH_SIZE;
	iter->err_off = 0;
	return true;
}

/*
 * mongo_walk_step
 *		Advance iter to the next element of its document, whose key ends at
 *		offset key_end (its first NUL byte, or the document's length when
 *		it has none), as bson_iter_next does; false at the end of the
 *		document or on a malformed element (then iter->err_off is not 0).
 *		The key's length is then mongo_walk_key_len(iter).
 */
static pg_attribute_always_inline bool
mongo_walk_step(bson_iter_t *iter, uint32 key_end)
{
	const uint8 *data = iter->raw;
	uint32		len = iter->len;
	uint32		off;
	uint32		o;
	uint32		next;
	uint32		l;
	uint8		type;

	if (data == NULL)
		return false;

	/*
	 * next_off is below len: the iterator was initialized on a document of
	 * at least five bytes, and every step checks the next element starts
	 * inside it.
	 */
	off = iter->next_off;
	type = data[off];
	switch (type)
	{
		case BSON_TYPE_DOUBLE:
		case BSON_TYPE_UTF8:
		case BSON_TYPE_DOCUMENT:
		case BSON_TYPE_ARRAY:
		case BSON_TYPE_OID:
		case BSON_TYPE_BOOL:
		case BSON_TYPE_DATE_TIME:
		case BSON_TYPE_NULL:
		case BSON_TYPE_INT32:
		case BSON_TYPE_TIMESTAMP:
		case BSON_TYPE_INT64:
		case BSON_TYPE_DECIMAL128:
			break;
		default:
			/* the end of the document, or a rarer type */
			return mongo_walk_other(iter);
	}

	iter->off = off;
	iter->type = off;
	iter->key = off + 1;
	iter->d1 = 0;
	iter->d2 = 0;
	iter->d3 = 0;
	iter->d4 = 0;

	/* the key: a NUL-terminated name that ends inside the document */
	if (key_end >= len)
		return mongo_walk_invalid(iter, iter->err_off);
	o = key_end + 1;
	iter->d1 = o;

	switch (type)
	{
		case BSON_TYPE_INT32:
			next = o + WALK_INT32_SIZE;
			break;
		case BSON_TYPE_DOUBLE:
		case BSON_TYPE_DATE_TIME:
		case BSON_TYPE_TIMESTAMP:
		case BSON_TYPE_INT64:
			next = o + WALK_INT64_SIZE;
			break;
		case BSON_TYPE_OID:
			next = o + WALK_OID_SIZE;
			break;
		case BSON_TYPE_DECIMAL128:
			next = o + WALK_DECIMAL_SIZE;
			break;
		case BSON_TYPE_NULL:
			next = o;
			break;
		case BSON_TYPE_BOOL:
			if (o >= len || (data[o] != 0 && data[o] != 1))
				return mongo_walk_invalid(iter, o);
			next = o + 1;
			break;
		case BSON_TYPE_UTF8:
			/* length prefix, then that many bytes, the last a NUL */
			if (o + WALK_LENGTH_SIZE >= len)
				return mongo_walk_invalid(iter, o);
			iter->d2 = o + WALK_LENGTH_SIZE;
			l = mongo_walk_read_length(data, o);
			if (l > len - (o + WALK_LENGTH_SIZE))
				return mongo_walk_invalid(iter, o);
			next = o + WALK_LENGTH_SIZE + l;
			if (l == 0 || next >= len)
				return mongo_walk_invalid(iter, o);
			if (data[next - 1] != '\0')
				return mongo_walk_invalid(iter, next - 1);
			break;
		default:
			/* a document or an array: its length counts its prefix */
			if (o >= len - WALK_LENGTH_SIZE)
				return mongo_walk_invalid(iter, o);
			l = mongo_walk_read_length(data, o);
			if (l > len || l > len - o)
				return mongo_walk_invalid(iter, o);
			next = o + l;
			break;
	}

	/* the value ends before the document's terminating byte */
	if (next >= len)
		return mongo_walk_invalid(iter, o);

	iter->next_off = next;
	iter->err_off = 0;
	return true;
}

/*
 * mongo_walk_next
 *		Advance iter to the next element of its document, as bson_iter_next
 *		does, finding where its key ends.  (On an iterator a failed step
 *		left, raw is NULL and len 0: the key is not looked for.)
 */
static pg_attribute_always_inline bool
mongo_walk_next(bson_iter_t *iter)
{
	return mongo_walk_step(iter, mongo_walk_key_end(iter->raw,
													iter->next_off + 1,
													iter->len));
}

/*
 * mongo_walk_key_word
 *		The word and mask mongo_walk_has_key compares a key with: a name
 *		shorter than a word and its terminating NUL, as the word the key's
 *		first 8 bytes are read into; a mask of 0 for a longer name.
 */
static inline void
mongo_walk_key_word(const char *name, int name_len, uint64 *key_word,
					uint64 *key_mask)
{
	char		word[sizeof(uint64)] = {0};
	char		mask[sizeof(uint64)] = {0};

	if (name_len < (int) sizeof(uint64))
	{
		memcpy(word, name, name_len);
		memset(mask, 0xFF, name_len + 1);
	}
	memcpy(key_word, word, sizeof(uint64));
	memcpy(key_mask, mask, sizeof(uint64));
}

/*
 * mongo_walk_has_key
 *		Whether the next element of iter's document has the key name, of
 *		name_len bytes, compared as one word when the name is that short
 *		(mongo_walk_key_word gives key_word and key_mask).  Then
 *		mongo_walk_step(iter, iter->next_off + 1 + name_len) steps to it
 *		without looking for the key's end: a scan tries the key the
 *		previous document had at this position.  False at the end of a
 *		walk, and near the end of the document where the key cannot be read
 *		as one word (mongo_walk_next will do).
 */
static pg_attribute_always_inline bool
mongo_walk_has_key(const bson_iter_t *iter, const char *name, int name_len,
				   uint64 key_word, uint64 key_mask)
{
	uint32		key = iter->next_off + 1;
	uint64		word;

	if (key_mask == 0)
		return iter->raw != NULL &&
			(uint64) key + name_len + 1 <= iter->len &&
			memcmp(iter->raw + key, name, name_len + 1) == 0;
	if (iter->raw == NULL || (uint64) key + sizeof(uint64) > iter->len)
		return false;
	memcpy(&word, iter->raw + key, sizeof(uint64));
	return ((word ^ key_word) & key_mask) == 0;
}

#endif							/* BSON_WALK_H */
