/*-------------------------------------------------------------------------
 *
 * xh_funcs.c
 *	  SQL-callable functions about xhash indexes: xhash_check (an
 *	  amcheck-style structural verifier) and xhash_info (shape and fill).
 *
 * Both read pages one at a time under share locks.  xhash_check holds a
 * ShareLock on the index, which keeps inserts (and hence splits) out, so
 * that it sees one consistent structure (on a hot standby, where that lock
 * cannot be taken, only AccessShareLock: run it when replay is quiet);
 * xhash_info takes only AccessShareLock, its figures are a snapshot of a
 * moving target.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "xhash/xhash.h"

PG_FUNCTION_INFO_V1(xhash_check);
PG_FUNCTION_INFO_V1(xhash_info);

/*
 * xh_open_index -- open an index and make sure it is an xhash index.
 */
static Relation
xh_open_index(Oid relid, LOCKMODE lockmode)
{
	Relation	rel = relation_open(relid, lockmode);

	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a partitioned index",
						RelationGetRelationName(rel)),
				 errdetail("A partitioned index has no storage of its own."),
				 errhint("Check the index of each partition.")));
	if (rel->rd_rel->relkind != RELKIND_INDEX ||
		rel->rd_indam == NULL || rel->rd_indam->ambuild != xhbuild)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an xhash index",
						RelationGetRelationName(rel))));
	if (RELATION_IS_OTHER_TEMP(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot access temporary indexes of other sessions")));
	if (!rel->rd_index->indisvalid)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("index \"%s\" is not valid",
						RelationGetRelationName(rel))));
	return rel;
}

/*
 * xh_check_fail -- report an inconsistency found by xhash_check.
 */
static void
xh_check_fail(Relation rel, BlockNumber blkno, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" is corrupted at block %u",
					RelationGetRelationName(rel), blkno),
			 errdetail("%s", detail)));
}

/*
 * xh_check_entries -- entries of a bucket or overflow page: all in the
 * bucket's range, sorted prefix in order; chain entries only on bucket
 * pages, in the sorted part, as many as the page says; the entries of a
 * chain page share the chain's top 32 bits.
 */
static void
xh_check_entries(Relation rel, Page page, BlockNumber blkno, uint8 depth,
				 uint32 prefix, bool chain, uint32 chaintop)
{
	XhEntry    *entries = XhPageGetEntries(page);
	int			n = XhPageGetNEntries(page);
	int			nsorted = XhPageGetOpaque(page)->nsorted;
	uint32		nchains = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		uint64		key = XhEntryKey(&entries[i]);

		if (XhHashPrefix(key, depth) != prefix)
			xh_check_fail(rel, blkno, "An entry's hash lies outside the bucket's range.");
		if (XhEntryIsChain(&entries[i]))
		{
			if (chain)
				xh_check_fail(rel, blkno, "An overflow page holds a chain entry.");
			if (i >= nsorted || entries[i].key_lo != 0)
				xh_check_fail(rel, blkno, "A chain entry is malformed or out of place.");
			if (i > 0 && XhEntryKey(&entries[i - 1]) == key)
				xh_check_fail(rel, blkno, "Two chain entries lead to chains of the same hash bits.");
			nchains++;
		}
		if (i > 0 && i < nsorted &&
			XhEntrySortKey(&entries[i - 1]) > XhEntrySortKey(&entries[i]))
			xh_check_fail(rel, blkno, "The sorted entries are out of order.");
		if (XhEntryIsDead(&entries[i]) &&
			!(XhPageGetOpaque(page)->flags & XH_FLAG_HAS_DEAD))
			xh_check_fail(rel, blkno, "An entry is marked dead on a page not flagged as holding dead entries.");
		if (chain && XhHashTop32(key) != chaintop)
			xh_check_fail(rel, blkno, "An overflow entry does not belong to the chain's hash.");
	}
	if (!chain && nchains != XhPageGetOpaque(page)->aux)
		xh_check_fail(rel, blkno, "The bucket page's count of chain entries is wrong.");
}

/*
 * xh_check_visit -- read and share-lock page "blkno", reached from page
 * "from", for xhash_check: it must lie in the index, not have been visited
 * before (else "loop_detail"), and be of the given kind (else
 * "kind_detail").
 */
static Buffer
xh_check_visit(Relation rel, BlockNumber blkno, BlockNumber from, uint8 *seen,
			   BlockNumber nblocks, uint8 kind, const char *loop_detail,
			   const char *kind_detail)
{
	Buffer		buf;
	Page		page;

	CHECK_FOR_INTERRUPTS();
	if (blkno >= nblocks || seen[blkno])
		xh_check_fail(rel, from, loop_detail);
	seen[blkno] = 1;
	buf = ReadBuffer(rel, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	xh_check_page(rel, page, blkno, 0);
	if (XhPageGetKind(page) != kind)
		xh_check_fail(rel, blkno, kind_detail);
	return buf;
}

/*
 * xh_check_chain -- the overflow chain of the top 32 bits "top", starting
 * at "chain", of the bucket (depth, prefix) at block "bucket".
 */
static void
xh_check_chain(Relation rel, BlockNumber bucket, uint8 depth, uint32 prefix,
			   uint32 top, BlockNumber chain, uint8 *seen, BlockNumber nblocks)
{
	BlockNumber from = bucket;

	if (chain == InvalidBlockNumber)
		xh_check_fail(rel, bucket, "A chain entry leads to no overflow page.");
	while (chain != InvalidBlockNumber)
	{
		Buffer		buf;
		Page		page;

		buf = xh_check_visit(rel, chain, from, seen, nblocks, XH_PAGE_OVERFLOW,
							 "An overflow chain leads outside the index or into a loop.",
							 "An overflow chain leads to a page that is not an overflow page.");
		page = BufferGetPage(buf);
		if (XhPageGetNEntries(page) == 0)
			xh_check_fail(rel, chain, "An overflow page is empty.");
		if (XhPageGetOpaque(page)->aux != top)
			xh_check_fail(rel, chain, "An overflow page belongs to another chain.");
		if (!xh_ranges_overlap(XhPageGetOpaque(page)->depth,
							   XhPageGetOpaque(page)->prefix, depth, prefix))
			xh_check_fail(rel, chain, "An overflow page was made for another hash range than its bucket's.");
		xh_check_entries(rel, page, chain, depth, prefix, true, top);
		from = chain;
		chain = XhPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
}

/*
 * xhash_check -- SQL-callable: verify the structure of an xhash index.
 *
 * Checks the metapage, that every directory page matches it, that the
 * buckets reached along right-links from the leftmost one partition the
 * hash space in order, that every directory slot leads (directly or along
 * right-links) to the bucket covering it, every page's entries, the
 * overflow chains, and that no bucket or overflow page is unreachable.
 * Raises an ERROR naming the block at the first inconsistency.
 */
Datum
xhash_check(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	LOCKMODE	lockmode = RecoveryInProgress() ? AccessShareLock : ShareLock;
	Relation	rel = xh_open_index(relid, lockmode);
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	XhMetaPageData meta;
	uint8	   *seen;
	Buffer		buf;
	Page		page;
	BlockNumber blkno;
	uint64		expect_start = 0;
	bool		done = false;
	uint32		nslots;
	uint32		i;
	XhEntry    *chains;

	if (nblocks == 0)
		xh_check_fail(rel, 0, "The index has no metapage.");
	seen = palloc0(nblocks);

	buf = ReadBuffer(rel, XH_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	meta = *xh_read_meta(rel, BufferGetPage(buf));
	UnlockReleaseBuffer(buf);
	seen[0] = 1;
	if (meta.dir_start + meta.dir_npages > nblocks)
		xh_check_fail(rel, 0, "The directory lies beyond the end of the index.");
	nslots = (uint32) 1 << meta.global_depth;

	/* buckets along right-links */
	chains = palloc(XH_PAGE_CAPACITY * sizeof(XhEntry));
	blkno = xh_dir_lookup(rel, 0, true);
	while (blkno != InvalidBlockNumber)
	{
		XhPageOpaqueData opaque;
		uint64		start,
					span;
		int			nchains;
		int			c;

		buf = xh_check_visit(rel, blkno, blkno, seen, nblocks, XH_PAGE_BUCKET,
							 "A right-link leads outside the index or into a loop.",
							 "A right-link leads to a page that is not a bucket.");
		page = BufferGetPage(buf);
		opaque = *XhPageGetOpaque(page);
		if (opaque.depth > meta.global_depth)
			xh_check_fail(rel, blkno, "The local depth exceeds the global depth.");
		span = opaque.depth == 0 ? 0 : (UINT64CONST(1) << (64 - opaque.depth));
		start = opaque.depth == 0 ? 0 : ((uint64) opaque.prefix << (64 - opaque.depth));
		if (done || start != expect_start)
			xh_check_fail(rel, blkno, "The buckets do not partition the hash space in order.");
		/* (this also checks that all chain entries are in the sorted part) */
		xh_check_entries(rel, page, blkno, opaque.depth, opaque.prefix, false, 0);
		nchains = xh_page_chains(page, chains);
		UnlockReleaseBuffer(buf);
		expect_start = start + span;
		done = (expect_start == 0);	/* wrapped: this bucket ends the space */

		/* its chains */
		for (c = 0; c < nchains; c++)
			xh_check_chain(rel, blkno, opaque.depth, opaque.prefix,
						   chains[c].key_hi, chains[c].blkno, seen, nblocks);
		blkno = opaque.link;
	}
	if (!done)
		xh_check_fail(rel, XH_METAPAGE_BLKNO, "The buckets do not cover the whole hash space.");

	/* directory pages and slots */
	for (i = 0; i < meta.dir_npages; i++)
	{
		BlockNumber dblk = meta.dir_start + i;
		uint32		first = i * XH_DIR_SLOTS_PER_PAGE;
		uint32		n = first < nslots ? Min(nslots - first, XH_DIR_SLOTS_PER_PAGE) : 0;
		BlockNumber *slots;
		uint32		s;

		seen[dblk] = 1;
		buf = ReadBuffer(rel, dblk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		xh_check_page(rel, page, dblk, XH_PAGE_DIR);
		if (!xh_is_dir_page(page, meta.global_depth, i))
			xh_check_fail(rel, dblk, "The directory page does not match the metapage.");
		if (((PageHeader) page)->pd_lower < MAXALIGN(SizeOfPageHeaderData) + n * sizeof(BlockNumber))
			xh_check_fail(rel, dblk, "The directory page is too short.");
		slots = palloc(n * sizeof(BlockNumber));
		memcpy(slots, XhPageGetSlots(page), n * sizeof(BlockNumber));
		UnlockReleaseBuffer(buf);

		for (s = 0; s < n; s++)
		{
			uint64		hash = meta.global_depth == 0 ? 0 :
				((uint64) (first + s) << (64 - meta.global_depth));
			BlockNumber b = slots[s];
			int			hops = 0;

			CHECK_FOR_INTERRUPTS();
			for (;;)
			{
				XhPageOpaque op;
				bool		covers,
							below;
				BlockNumber link;

				if (b >= nblocks || ++hops > (int) nblocks)
					xh_check_fail(rel, dblk, "A directory slot leads outside the index.");
				buf = ReadBuffer(rel, b);
				LockBuffer(buf, BUFFER_LOCK_SHARE);
				page = BufferGetPage(buf);
				xh_check_page(rel, page, b, 0);
				if (XhPageGetKind(page) != XH_PAGE_BUCKET)
					xh_check_fail(rel, dblk, "A directory slot leads to a page that is not a bucket.");
				op = XhPageGetOpaque(page);
				covers = xh_bucket_covers(page, hash);
				below = XhHashPrefix(hash, op->depth) < op->prefix;
				link = op->link;
				UnlockReleaseBuffer(buf);
				if (covers)
					break;
				if (below || link == InvalidBlockNumber)
					xh_check_fail(rel, dblk, "A directory slot leads to a bucket that cannot reach the slot's hash.");
				b = link;
			}
		}
		pfree(slots);
	}

	/* nothing unreachable */
	for (blkno = 1; blkno < nblocks; blkno++)
	{
		uint8		kind;

		if (seen[blkno])
			continue;
		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(rel, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page))
		{
			xh_check_page(rel, page, blkno, 0);
			kind = XhPageGetKind(page);
			if (kind == XH_PAGE_BUCKET || kind == XH_PAGE_OVERFLOW)
				xh_check_fail(rel, blkno, "The page is not reachable from the directory.");
			if (kind == XH_PAGE_META)
				xh_check_fail(rel, blkno, "A second metapage.");
		}
		UnlockReleaseBuffer(buf);
	}

	pfree(seen);
	pfree(chains);
	relation_close(rel, lockmode);
	PG_RETURN_VOID();
}

/*
 * xhash_info -- SQL-callable: global depth, page counts by kind, depth
 * range of the buckets, entries (and how many are marked dead) and fill.
 */
Datum
xhash_info(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = xh_open_index(relid, AccessShareLock);
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	TupleDesc	tupdesc;
	XhMetaPageData meta;
	Buffer		buf;
	BlockNumber blkno;
	int64		nbuckets = 0,
				noverflow = 0,
				ndir = 0,
				ndeleted = 0,
				nunused = 0,
				nentries = 0,
				ndead = 0;
	int			mindepth = XH_MAX_DEPTH,
				maxdepth = 0;
	Datum		values[12];
	bool		nulls[12];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	buf = ReadBuffer(rel, XH_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	meta = *xh_read_meta(rel, BufferGetPage(buf));
	UnlockReleaseBuffer(buf);

	for (blkno = 1; blkno < nblocks; blkno++)
	{
		Page		page;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(rel, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
			nunused++;
		else
		{
			xh_check_page(rel, page, blkno, 0);
			switch (XhPageGetKind(page))
			{
				case XH_PAGE_BUCKET:
					nbuckets++;
					nentries += XhPageGetNEntries(page) - XhPageGetOpaque(page)->aux;
					ndead += xh_page_count_dead(page);
					mindepth = Min(mindepth, XhPageGetOpaque(page)->depth);
					maxdepth = Max(maxdepth, XhPageGetOpaque(page)->depth);
					break;
				case XH_PAGE_OVERFLOW:
					noverflow++;
					nentries += XhPageGetNEntries(page);
					ndead += xh_page_count_dead(page);
					break;
				case XH_PAGE_DIR:
					ndir++;
					break;
				case XH_PAGE_DELETED:
					ndeleted++;
					break;
				default:
					break;
			}
		}
		UnlockReleaseBuffer(buf);
	}
	relation_close(rel, AccessShareLock);

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int32GetDatum(XH_VERSION);
	values[1] = Int32GetDatum(meta.global_depth);
	values[2] = Int32GetDatum(nbuckets ? mindepth : 0);
	values[3] = Int32GetDatum(maxdepth);
	values[4] = Int64GetDatum(nbuckets);
	values[5] = Int64GetDatum(noverflow);
	values[6] = Int64GetDatum(ndir);
	values[7] = Int64GetDatum(ndeleted + nunused);
	values[8] = Int64GetDatum((int64) nblocks);
	values[9] = Int64GetDatum(nentries);
	values[10] = Float8GetDatum((nbuckets + noverflow) > 0 ?
								100.0 * nentries /
								((double) (nbuckets + noverflow) * XH_PAGE_CAPACITY) : 0.0);
	values[11] = Int64GetDatum(ndead);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
