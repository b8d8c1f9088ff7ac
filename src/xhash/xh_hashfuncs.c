/*-------------------------------------------------------------------------
 *
 * xh_hashfuncs.c
 *	  Hash support functions of xhash operator classes that core does not
 *	  provide correctly.
 *
 * Most xhash operator classes use core's 64-bit seeded ("extended") hash
 * functions as they are.  One cannot be used: in PostgreSQL 15,
 * hashbpcharextended hashes the trailing spaces of a bpchar value under a
 * nondeterministic collation (its 32-bit sibling hashbpchar drops them),
 * so 'abc' and 'abc  ', which bpchareq calls equal, get different hashes
 * and a lookup or unique check misses one of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(xhash_bpchar_extended);

/*
 * xhash_bpchar_extended -- 64-bit seeded hash of a bpchar value that
 * ignores trailing spaces under every collation.
 *
 * The value without its trailing spaces is hashed as text with the same
 * collation.  Under a deterministic collation (and C) this is exactly what
 * hashbpcharextended computes -- the same bytes, the same seed -- so
 * existing indexes with such collations keep their hashes; under a
 * nondeterministic one it is the hash of the value bpchareq compares.
 */
Datum
xhash_bpchar_extended(PG_FUNCTION_ARGS)
{
	BpChar	   *key = PG_GETARG_BPCHAR_PP(0);
	char	   *data = VARDATA_ANY(key);
	int			len = VARSIZE_ANY_EXHDR(key);
	int			truelen = len;
	text	   *trimmed;
	Datum		result;

	while (truelen > 0 && data[truelen - 1] == ' ')
		truelen--;
	if (truelen == len)
		return DirectFunctionCall2Coll(hashtextextended, PG_GET_COLLATION(),
									   PointerGetDatum(key),
									   PG_GETARG_DATUM(1));

	trimmed = cstring_to_text_with_len(data, truelen);
	result = DirectFunctionCall2Coll(hashtextextended, PG_GET_COLLATION(),
									 PointerGetDatum(trimmed),
									 PG_GETARG_DATUM(1));
	pfree(trimmed);
	PG_FREE_IF_COPY(key, 0);
	return result;
}
