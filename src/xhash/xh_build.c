/*-------------------------------------------------------------------------
 *
 * xh_build.c
 *	  CREATE INDEX for xhash: a sorted bulk build, and the empty index
 *	  written to the init fork of unlogged indexes.
 *
 * The build hashes every row, sorts the (hash, TID) pairs, and then cuts
 * the sorted array into buckets: a hash range becomes one bucket when its
 * entries fit the fillfactor, otherwise it is halved (one more hash bit)
 * and each half is treated the same way.  The global depth is the deepest
 * bucket's depth.  Pages are then written in block order -- metapage,
 * directory, and each bucket followed by its overflow pages -- through the
 * buffer manager without WAL, and logged at the end with
 * log_newpage_range, as core GIN and GiST builds do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "xhash/xhash.h"

typedef struct XhBuildState
{
	Relation	index;
	uint64		seed;
	bool		index_nulls;	/* NULLS NOT DISTINCT unique index */
	XhBuildEntry *entries;
	Size		nentries;
	Size		maxentries;
	double		indtuples;
} XhBuildState;

/*
 * A bucket of the layout being built: entries [lo, hi), of which [clo, chi)
 * go to its overflow chain and the rest to the bucket page (clo = chi: no
 * chain).
 */
typedef struct XhBuildBucket
{
	Size		lo;
	Size		hi;
	Size		clo;
	Size		chi;
	uint32		prefix;
	uint8		depth;
	BlockNumber blkno;
} XhBuildBucket;

typedef struct XhLayout
{
	XhBuildBucket *buckets;
	int			nbuckets;
	int			maxbuckets;
	Size		target;			/* entries per bucket page at build */
	uint32		global_depth;
} XhLayout;

/* sort build entries by key (hash, offset), then block */
#define ST_SORT xh_sort_build_entries
#define ST_ELEMENT_TYPE XhBuildEntry
#define ST_COMPARE(a, b) \
	((a)->key < (b)->key ? -1 : (a)->key > (b)->key ? 1 : \
	 (a)->blkno < (b)->blkno ? -1 : (a)->blkno > (b)->blkno ? 1 : 0)
#define ST_SCOPE static
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * xh_build_callback -- table_index_build_scan callback: hash one row and
 * remember (hash, TID).
 */
static void
xh_build_callback(Relation index, ItemPointer tid, Datum *values,
				  bool *isnull, bool tupleIsAlive, void *state)
{
	XhBuildState *bs = (XhBuildState *) state;
	XhBuildEntry *e;
	XhEntry		packed;
	uint64		hash;

	if (!xh_hash_values(index, bs->seed, values, isnull, &hash) &&
		!bs->index_nulls)
		return;					/* rows with a NULL key are not indexed */

	if (bs->nentries >= bs->maxentries)
	{
		bs->maxentries *= 2;
		bs->entries = repalloc_huge(bs->entries,
									bs->maxentries * sizeof(XhBuildEntry));
	}
	xh_make_entry(&packed, hash, tid);	/* checks the offset */
	e = &bs->entries[bs->nentries++];
	e->key = XhEntryKey(&packed);
	e->blkno = packed.blkno;
	e->alive = tupleIsAlive;
	bs->indtuples += 1;
}

/*
 * xh_layout_add -- append a bucket of entries [lo, hi) with chain entries
 * [clo, chi) to the layout.
 */
static void
xh_layout_add(XhLayout *layout, Size lo, Size hi, Size clo, Size chi,
			  uint32 prefix, uint8 depth)
{
	XhBuildBucket *bk;

	if (layout->nbuckets >= layout->maxbuckets)
	{
		layout->maxbuckets *= 2;
		layout->buckets = repalloc_huge(layout->buckets,
										layout->maxbuckets * sizeof(XhBuildBucket));
	}
	bk = &layout->buckets[layout->nbuckets++];
	bk->lo = lo;
	bk->hi = hi;
	bk->clo = clo;
	bk->chi = chi;
	bk->prefix = prefix;
	bk->depth = depth;
	layout->global_depth = Max(layout->global_depth, depth);
}

/*
 * xh_layout_range -- cut the sorted entries [lo, hi), all with hash prefix
 * "prefix" at "depth", into buckets, appending them to the layout in hash
 * order.
 *
 * A range becomes one bucket when it fits the fillfactor; when all its
 * entries share their top 32 hash bits or it is at the deepest depth (the
 * bucket page is filled and the rest goes to the chain); or when its
 * largest group of entries sharing their top 32 bits is at least
 * XH_SPILL_MIN and the others fit the fillfactor (the group goes to the
 * chain, the others to the page).  Otherwise it is halved.  Without that
 * last rule one frequent key made the build halve ranges until no other
 * hash was left near it: a global depth near log2 of the row count, and a
 * directory that large.
 */
static void
xh_layout_range(XhLayout *layout, XhBuildEntry *entries, Size lo, Size hi,
				uint32 prefix, uint8 depth)
{
	Size		mid;
	Size		a,
				b;
	uint64		bit;

	check_stack_depth();
	if (hi - lo <= layout->target || depth >= XH_MAX_DEPTH ||
		XhHashTop32(entries[lo].key) == XhHashTop32(entries[hi - 1].key))
	{
		Size		clo = hi - lo > XH_PAGE_CAPACITY ? lo + XH_PAGE_CAPACITY : hi;

		xh_layout_add(layout, lo, hi, clo, hi, prefix, depth);
		return;
	}
	else
	{
		Size		glo = lo,
					ghi = lo,
					run = lo;

		if (hi - lo > 2 * layout->target)
		{
			/*
			 * The group would have to hold more than half of the range,
			 * hence its middle entry: only that entry's run can qualify.
			 * (This keeps the build from scanning every range it halves.)
			 */
			uint32		top;

			mid = lo + (hi - lo) / 2;
			top = XhHashTop32(entries[mid].key);
			glo = mid;
			while (glo > lo && XhHashTop32(entries[glo - 1].key) == top)
				glo--;
			ghi = mid + 1;
			while (ghi < hi && XhHashTop32(entries[ghi].key) == top)
				ghi++;
		}
		else
		{
			/* the largest run of equal top 32 bits */
			for (a = lo + 1; a <= hi; a++)
			{
				if (a < hi &&
					XhHashTop32(entries[a].key) == XhHashTop32(entries[run].key))
					continue;
				if (a - run > ghi - glo)
				{
					glo = run;
					ghi = a;
				}
				run = a;
			}
		}
		if (ghi - glo >= XH_SPILL_MIN &&
			(hi - lo) - (ghi - glo) <= layout->target)
		{
			xh_layout_add(layout, lo, hi, glo, ghi, prefix, depth);
			return;
		}
	}

	/* binary search for the first entry whose next hash bit is set */
	bit = UINT64CONST(1) << (63 - depth);
	a = lo;
	b = hi;
	while (a < b)
	{
		mid = a + (b - a) / 2;
		if (entries[mid].key & bit)
			b = mid;
		else
			a = mid + 1;
	}
	xh_layout_range(layout, entries, lo, a, prefix << 1, depth + 1);
	xh_layout_range(layout, entries, a, hi, (prefix << 1) | 1, depth + 1);
}

/*
 * xh_build_check_unique -- raise the unique violation of CREATE UNIQUE
 * INDEX if two live rows have equal keys.  Only rows with equal hashes
 * can be equal; their keys are fetched from the table and compared.
 *
 * The rows are fetched with SnapshotSelf, not SnapshotAny: the build scan
 * indexes the live member of a HOT chain under the chain's root TID, and
 * SnapshotAny would return the chain's first member, often a dead version
 * whose key is not the one that was indexed (two live duplicates would
 * then compare as different).  SnapshotSelf resolves the chain to the
 * version the scan called alive: with the ShareLock of a plain build,
 * those are committed rows and rows of our own transaction.  In a
 * concurrent build a row deleted after the build's snapshot is no longer
 * seen, which is right: it cannot conflict any more.
 */
static void
xh_build_check_unique(Relation heap, Relation index, IndexInfo *indexInfo,
					  XhBuildEntry *entries, Size n)
{
	MemoryContext cxt;
	MemoryContext old;
	Size		i = 0;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "xhash unique build",
								ALLOCSET_DEFAULT_SIZES);
	while (i < n)
	{
		Size		j = i + 1;
		Size		k,
					m;

		while (j < n && (entries[j].key & XH_HASH_MASK) ==
			   (entries[i].key & XH_HASH_MASK))
			j++;
		for (k = i; j - i > 1 && k < j; k++)
		{
			Datum		v1[INDEX_MAX_KEYS];
			bool		n1[INDEX_MAX_KEYS];
			ItemPointerData t1;

			if (!entries[k].alive)
				continue;
			old = MemoryContextSwitchTo(cxt);
			ItemPointerSet(&t1, entries[k].blkno,
						   (OffsetNumber) (entries[k].key & XH_OFFSET_MASK));
			if (!xh_fetch_keys(heap, index, indexInfo, &t1, SnapshotSelf,
							   v1, n1, NULL))
			{
				MemoryContextSwitchTo(old);
				continue;
			}
			for (m = k + 1; m < j; m++)
			{
				Datum		v2[INDEX_MAX_KEYS];
				bool		n2[INDEX_MAX_KEYS];
				ItemPointerData t2;

				if (!entries[m].alive)
					continue;
				ItemPointerSet(&t2, entries[m].blkno,
							   (OffsetNumber) (entries[m].key & XH_OFFSET_MASK));
				if (xh_fetch_keys(heap, index, indexInfo, &t2, SnapshotSelf,
								  v2, n2, NULL) &&
					xh_keys_equal(index, v1, n1, v2, n2))
				{
					char	   *key_desc;

					key_desc = BuildIndexValueDescription(index, v1, n1);
					ereport(ERROR,
							(errcode(ERRCODE_UNIQUE_VIOLATION),
							 errmsg("could not create unique index \"%s\"",
									RelationGetRelationName(index)),
							 key_desc ? errdetail("Key %s is duplicated.", key_desc) :
							 errdetail("Duplicate keys exist."),
							 errtableconstraint(heap,
												RelationGetRelationName(index))));
				}
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(cxt);
		}
		i = j;
	}
	MemoryContextDelete(cxt);
}

/*
 * xh_new_build_page -- extend the index by one page during a build and
 * return it pinned and locked; blocks are handed out strictly in order.
 */
static Buffer
xh_new_build_page(Relation index, BlockNumber expected)
{
	Buffer		buf = ReadBufferExtended(index, MAIN_FORKNUM, P_NEW,
										 RBM_NORMAL, NULL);

	if (BufferGetBlockNumber(buf) != expected)
		elog(ERROR, "unexpected block %u while building xhash index \"%s\", expected %u",
			 BufferGetBlockNumber(buf), RelationGetRelationName(index), expected);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	return buf;
}

/*
 * xh_build_put -- store a build entry as the i-th entry of a page.
 */
static inline void
xh_build_put(XhEntry *out, Size i, uint64 key, BlockNumber blkno)
{
	out[i].key_hi = (uint32) (key >> 32);
	out[i].key_lo = (uint32) key;
	out[i].blkno = blkno;
}

/*
 * xh_write_pages -- write the metapage, the directory and the buckets of
 * "layout" into the (empty) main fork, without WAL.
 */
static BlockNumber
xh_write_pages(Relation index, uint64 seed, int fillfactor,
			   XhBuildEntry *entries, XhLayout *layout)
{
	uint32		nslots = (uint32) 1 << layout->global_depth;
	uint32		ndir = (nslots + XH_DIR_SLOTS_PER_PAGE - 1) / XH_DIR_SLOTS_PER_PAGE;
	BlockNumber next = 1 + ndir;
	BlockNumber *slots;
	Buffer		buf;
	Page		page;
	uint32		slot;
	int			b;
	uint32		d;

	/* assign blocks: each bucket page followed by its overflow pages */
	for (b = 0; b < layout->nbuckets; b++)
	{
		XhBuildBucket *bk = &layout->buckets[b];
		Size		nchain = bk->chi - bk->clo;

		bk->blkno = next;
		next += 1 + (nchain + XH_PAGE_CAPACITY - 1) / XH_PAGE_CAPACITY;
	}

	/* metapage */
	buf = xh_new_build_page(index, XH_METAPAGE_BLKNO);
	xh_fill_metapage(BufferGetPage(buf), seed, layout->global_depth, 1, ndir,
					 fillfactor, IndexRelationGetNumberOfKeyAttributes(index));
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);

	/* directory: each bucket covers 2^(global depth - depth) slots */
	slots = palloc_extended((Size) ndir * XH_DIR_SLOTS_PER_PAGE * sizeof(BlockNumber),
							MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	slot = 0;
	for (b = 0; b < layout->nbuckets; b++)
	{
		XhBuildBucket *bk = &layout->buckets[b];
		uint32		span = (uint32) 1 << (layout->global_depth - bk->depth);
		uint32		s;

		Assert(slot == bk->prefix << (layout->global_depth - bk->depth));
		for (s = 0; s < span; s++)
			slots[slot++] = bk->blkno;
	}
	Assert(slot == nslots);
	for (d = 0; d < ndir; d++)
	{
		uint32		n = Min(nslots - Min(nslots, d * XH_DIR_SLOTS_PER_PAGE),
							XH_DIR_SLOTS_PER_PAGE);

		buf = xh_new_build_page(index, 1 + d);
		page = BufferGetPage(buf);
		xh_init_page(page, XH_PAGE_DIR, 0, layout->global_depth);
		XhPageGetOpaque(page)->aux = d;
		memcpy(XhPageGetSlots(page), &slots[d * XH_DIR_SLOTS_PER_PAGE],
			   n * sizeof(BlockNumber));
		((PageHeader) page)->pd_lower = MAXALIGN(SizeOfPageHeaderData) +
			n * sizeof(BlockNumber);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	pfree(slots);

	/* buckets and their chains */
	for (b = 0; b < layout->nbuckets; b++)
	{
		XhBuildBucket *bk = &layout->buckets[b];
		BlockNumber blkno = bk->blkno;
		Size		pos;
		int			n = 0;

		/* the bucket page: [lo, clo) and [chi, hi), in key order */
		Assert((bk->clo - bk->lo) + (bk->hi - bk->chi) <= (Size) XH_PAGE_CAPACITY);
		buf = xh_new_build_page(index, blkno);
		page = BufferGetPage(buf);
		xh_init_page(page, XH_PAGE_BUCKET, bk->depth, bk->prefix);
		XhPageGetOpaque(page)->link = (b + 1 < layout->nbuckets) ?
			layout->buckets[b + 1].blkno : InvalidBlockNumber;
		/* only read with a chain; an empty bucket has no first entry */
		XhPageGetOpaque(page)->aux = bk->chi > bk->clo ?
			XhHashTop32(entries[bk->clo].key) :
			bk->hi > bk->lo ? XhHashTop32(entries[bk->lo].key) : 0;
		for (pos = bk->lo; pos < bk->hi; pos++)
		{
			if (pos == bk->clo)
				pos = bk->chi;
			if (pos >= bk->hi)
				break;
			xh_build_put(XhPageGetEntries(page), n++, entries[pos].key,
						 entries[pos].blkno);
		}
		XhPageSetNEntries(page, n);
		XhPageGetOpaque(page)->nsorted = n;
		if (bk->chi > bk->clo)
			XhPageGetOpaque(page)->next = blkno + 1;
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 bk->lo + n);

		/* its overflow pages: [clo, chi) */
		for (pos = bk->clo; pos < bk->chi; pos += n)
		{
			int			i;

			n = Min(bk->chi - pos, XH_PAGE_CAPACITY);
			blkno++;
			buf = xh_new_build_page(index, blkno);
			page = BufferGetPage(buf);
			xh_init_page(page, XH_PAGE_OVERFLOW, bk->depth, bk->prefix);
			for (i = 0; i < n; i++)
				xh_build_put(XhPageGetEntries(page), i, entries[pos + i].key,
							 entries[pos + i].blkno);
			XhPageSetNEntries(page, n);
			XhPageGetOpaque(page)->nsorted = n;
			if (pos + n < bk->chi)
				XhPageGetOpaque(page)->next = blkno + 1;
			MarkBufferDirty(buf);
			UnlockReleaseBuffer(buf);
		}
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, bk->hi);
		CHECK_FOR_INTERRUPTS();
	}
	return next;
}

/*
 * xhbuild -- ambuild: build a new xhash index.
 */
IndexBuildResult *
xhbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	XhBuildState bs;
	XhLayout	layout;
	double		reltuples;
	int			fillfactor = xh_get_fillfactor(index);
	BlockNumber nblocks;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	memset(&bs, 0, sizeof(bs));
	bs.index = index;
	bs.seed = XHASH_DEFAULT_SEED;
	bs.index_nulls = indexInfo->ii_Unique && indexInfo->ii_NullsNotDistinct;
	bs.maxentries = 1024;
	bs.entries = palloc_extended(bs.maxentries * sizeof(XhBuildEntry),
								 MCXT_ALLOC_HUGE);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, XHASH_PHASE_SCAN);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   xh_build_callback, &bs, NULL);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, XHASH_PHASE_SORT);
	xh_sort_build_entries(bs.entries, bs.nentries);

	if (indexInfo->ii_Unique)
		xh_build_check_unique(heap, index, indexInfo, bs.entries, bs.nentries);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, XHASH_PHASE_WRITE);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, bs.nentries);
	memset(&layout, 0, sizeof(layout));
	layout.maxbuckets = 64;
	layout.buckets = palloc_extended(layout.maxbuckets * sizeof(XhBuildBucket),
									 MCXT_ALLOC_HUGE);
	layout.target = Max(1, (Size) XH_PAGE_CAPACITY * fillfactor / 100);
	if (bs.nentries == 0)
		xh_layout_add(&layout, 0, 0, 0, 0, 0, 0);
	else
		xh_layout_range(&layout, bs.entries, 0, bs.nentries, 0, 0);

	nblocks = xh_write_pages(index, bs.seed, fillfactor, bs.entries, &layout);

	/* the pages were written without WAL: log them all now */
	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, nblocks, true);

	pfree(bs.entries);
	pfree(layout.buckets);

	result = (IndexBuildResult *) palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/*
 * xhbuildempty -- ambuildempty: write an empty index (metapage, one
 * directory page, one bucket) into the init fork of an unlogged index.
 *
 * The pages are written with smgr and logged with log_newpage even at
 * wal_level = minimal, and the fork is synced at once, as bloom does: the
 * init fork must survive a crash, because it is what the index is reset
 * to, and there is no checkpoint-time sync for writes bypassing shared
 * buffers.
 */
void
xhbuildempty(Relation index)
{
	PGAlignedBlock blocks[3];
	Page		page;
	BlockNumber blkno;

	page = (Page) blocks[0].data;
	xh_fill_metapage(page, XHASH_DEFAULT_SEED, 0, 1, 1,
					 xh_get_fillfactor(index),
					 IndexRelationGetNumberOfKeyAttributes(index));

	page = (Page) blocks[1].data;
	xh_init_page(page, XH_PAGE_DIR, 0, 0);
	XhPageGetSlots(page)[0] = 2;
	((PageHeader) page)->pd_lower = MAXALIGN(SizeOfPageHeaderData) + sizeof(BlockNumber);

	page = (Page) blocks[2].data;
	xh_init_page(page, XH_PAGE_BUCKET, 0, 0);

	for (blkno = 0; blkno < 3; blkno++)
	{
		page = (Page) blocks[blkno].data;
		PageSetChecksumInplace(page, blkno);
		smgrextend(RelationGetSmgr(index), INIT_FORKNUM, blkno,
				   (char *) page, true);
		log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
					blkno, page, true);
	}
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
}
