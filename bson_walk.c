/*-------------------------------------------------------------------------
 *
 * bson_walk.c
 *		  The out-of-line parts of the scan's step from one BSON element to
 *		  the next (bson_walk.h): the end of a document, the rarer types,
 *		  and a malformed element.
 *
 * IDENTIFICATION
 *		  bson_walk.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "bson_walk.h"
#include "mongo_etl.h"

/*
 * mongo_walk_other
 *		mongo_walk_next for an element whose type byte is none of the common
 *		types: the document's terminating byte ends the walk; a zero type
 *		byte inside the document, or a rarer type, is bson_iter_next's.
 */
bool
mongo_walk_other(bson_iter_t *iter)
{
	uint32		off = iter->next_off;

	if (iter->raw[off] == BSON_TYPE_EOD && off + 1 >= iter->len)
	{
		iter->off = off;
		iter->type = off;
		iter->key = off + 1;
		iter->d1 = 0;
		iter->d2 = 0;
		iter->d3 = 0;
		iter->d4 = 0;
		return mongo_walk_invalid(iter, iter->err_off);
	}
	return bson_iter_next(iter);
}

/*
 * mongo_walk_invalid
 *		End the walk on a malformed element, as bson_iter_next does: the
 *		iterator is left unusable and err_off (0 when the document simply
 *		ended) says where the damage is.
 */
bool
mongo_walk_invalid(bson_iter_t *iter, uint32 err_off)
{
	iter->err_off = err_off;
	iter->raw = NULL;
	iter->len = 0;
	iter->next_off = 0;
	return false;
}

