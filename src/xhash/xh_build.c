/*-------------------------------------------------------------------------
 *
 * xh_build.c
 *	  CREATE INDEX for xhash: a sorted bulk build, and the empty index
 *	  written to the init fork of unlogged indexes.
 *
 * The build hashes every row, sorts the (hash, TID) pairs, and then cuts
 * the sorted array into buckets: a hash range becomes one bucket when its
 * entries fit the fillfactor, otherwise it is halved (one more hash bit)
 * and each half is treated the same way, unless moving its frequent keys'
 * entries to chains of their own makes it fit.  The global depth is the
 * deepest bucket's depth.  Pages are then written in block order --
 * metapage, directory, and each bucket followed by its chains' pages --
 * through the buffer manager without WAL, and logged at the end with
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

/* entries [lo, hi) of a bucket that share their top 32 bits, chained */
typedef struct XhBuildGroup
{
	Size		lo;
	Size		hi;
} XhBuildGroup;

/*
 * A bucket of the layout being built: entries [lo, hi), of which the
 * groups [gfirst, gfirst + ngroups) of the layout go to overflow chains
 * (one each) and the rest, with a chain entry per group, to the bucket
 * page.
 */
typedef struct XhBuildBucket
{
	Size		lo;
	Size		hi;
	int			gfirst;
	int			ngroups;
	uint32		prefix;
	uint8		depth;
	BlockNumber blkno;
} XhBuildBucket;

typedef struct XhLayout
{
	XhBuildBucket *buckets;
	int			nbuckets;
	int			maxbuckets;
	XhBuildGroup *groups;
	int			ngroups;
	int			maxgroups;
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
 * xh_layout_add -- append a bucket of entries [lo, hi) to the layout; its
 * chained groups are the layout's groups from "gfirst" on.
 */
static void
xh_layout_add(XhLayout *layout, Size lo, Size hi, int gfirst,
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
	bk->gfirst = gfirst;
	bk->ngroups = layout->ngroups - gfirst;
	bk->prefix = prefix;
	bk->depth = depth;
	layout->global_depth = Max(layout->global_depth, depth);
}

/*
 * xh_run_end -- the end of the run of entries sharing the top 32 bits
 * "top", known to go on at least to entries[from - 1], within [from, hi):
 * galloping, then binary search, so a long run costs a few probes.
 */
static Size
xh_run_end(XhBuildEntry *entries, Size from, Size hi, uint32 top)
{
	Size		lo = from;
	Size		step = 1;
	Size		mid;

	/* find a bound: entries[lo - 1] is in the run, entries[hi] (if any) not */
	while (lo < hi)
	{
		Size		probe = Min(lo + step, hi) - 1;

		if (XhHashTop32(entries[probe].key) != top)
		{
			hi = probe;
			break;
		}
		lo = probe + 1;
		step *= 2;
	}
	while (lo < hi)
	{
		mid = lo + (hi - lo) / 2;
		if (XhHashTop32(entries[mid].key) == top)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * xh_layout_groups -- can the sorted entries [lo, hi) at "depth" be one
 * bucket if their large groups of entries sharing their top 32 bits go to
 * chains?  A group is large from Min(XH_BUILD_CHAIN_MIN, target) entries;
 * what stays on the page -- the other entries and one chain entry per
 * group -- must fit the target.  At the deepest depth, where a range cannot be
 * halved, every group of two or more entries is chained and the page may
 * be filled; that always fits, as such a range has at most
 * 2^(32 - XH_MAX_DEPTH) = 256 groups.  On success the groups are appended
 * to the layout's groups; the walk stops as soon as the page overflows, so
 * it costs about "target" entries per range, not the range's size.
 */
static bool
xh_layout_groups(XhLayout *layout, XhBuildEntry *entries, Size lo, Size hi,
				 uint8 depth)
{
	bool		deepest = depth >= XH_MAX_DEPTH;
	Size		big = deepest ? 2 : Min((Size) XH_BUILD_CHAIN_MIN, layout->target);
	Size		limit = deepest ? (Size) XH_PAGE_CAPACITY : layout->target;
	Size		rest = 0;
	int			g0 = layout->ngroups;
	Size		i = lo;

	while (i < hi)
	{
		uint32		top = XhHashTop32(entries[i].key);
		Size		j = i + 1;

		while (j < hi && j - i < big && XhHashTop32(entries[j].key) == top)
			j++;
		if (j - i >= big)
		{
			j = xh_run_end(entries, j, hi, top);
			if (layout->ngroups >= layout->maxgroups)
			{
				layout->maxgroups *= 2;
				layout->groups = repalloc_huge(layout->groups,
											   layout->maxgroups * sizeof(XhBuildGroup));
			}
			layout->groups[layout->ngroups].lo = i;
			layout->groups[layout->ngroups].hi = j;
			layout->ngroups++;
			rest += 1;			/* its chain entry */
		}
		else
			rest += j - i;
		if (rest > limit)
		{
			layout->ngroups = g0;
			return false;
		}
		i = j;
	}
	return true;
}

/*
 * xh_layout_range -- cut the sorted entries [lo, hi), all with hash prefix
 * "prefix" at "depth", into buckets, appending them to the layout in hash
 * order.
 *
 * A range becomes one bucket when it fits the fillfactor, or when it does
 * once its large groups of entries sharing their top 32 bits go to chains
 * of their own (xh_layout_groups).  Otherwise it is halved.  Without the
 * groups one frequent key made the build halve ranges until no other hash
 * was left near it: a global depth near log2 of the row count, and a
 * directory that large.
 */
static void
xh_layout_range(XhLayout *layout, XhBuildEntry *entries, Size lo, Size hi,
				uint32 prefix, uint8 depth)
{
	int			gfirst = layout->ngroups;
	Size		mid;
	Size		a,
				b;
	uint64		bit;

	check_stack_depth();
	if (hi - lo <= layout->target ||
		xh_layout_groups(layout, entries, lo, hi, depth))
	{
		xh_layout_add(layout, lo, hi, gfirst, prefix, depth);
		return;
	}
	if (depth >= XH_MAX_DEPTH)
		elog(ERROR, "xhash build could not fit a bucket at the deepest depth");

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
 * xh_chain_pages -- how many overflow pages a chained group takes.
 */
static inline BlockNumber
xh_chain_pages(XhBuildGroup *group)
{
	return (group->hi - group->lo + XH_PAGE_CAPACITY - 1) / XH_PAGE_CAPACITY;
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

	/* assign blocks: each bucket page followed by its chains' pages */
	for (b = 0; b < layout->nbuckets; b++)
	{
		XhBuildBucket *bk = &layout->buckets[b];
		int			g;

		bk->blkno = next++;
		for (g = bk->gfirst; g < bk->gfirst + bk->ngroups; g++)
			next += xh_chain_pages(&layout->groups[g]);
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
		XhBuildGroup *groups = &layout->groups[bk->gfirst];
		BlockNumber blkno = bk->blkno;
		BlockNumber chainblk = blkno + 1;
		Size		pos;
		int			g = 0;
		int			n = 0;

		/* the bucket page: the entries, and a chain entry per group */
		buf = xh_new_build_page(index, blkno);
		page = BufferGetPage(buf);
		xh_init_page(page, XH_PAGE_BUCKET, bk->depth, bk->prefix);
		XhPageGetOpaque(page)->link = (b + 1 < layout->nbuckets) ?
			layout->buckets[b + 1].blkno : InvalidBlockNumber;
		for (pos = bk->lo; pos < bk->hi;)
		{
			if (g < bk->ngroups && pos == groups[g].lo)
			{
				xh_build_put(XhPageGetEntries(page), n++,
							 XhChainKey(XhHashTop32(entries[pos].key)),
							 chainblk);
				chainblk += xh_chain_pages(&groups[g]);
				pos = groups[g++].hi;
				continue;
			}
			xh_build_put(XhPageGetEntries(page), n++, entries[pos].key,
						 entries[pos].blkno);
			pos++;
		}
		Assert(n <= XH_PAGE_CAPACITY);
		XhPageSetNEntries(page, n);
		XhPageGetOpaque(page)->nsorted = n;
		XhPageGetOpaque(page)->aux = bk->ngroups;
		MarkBufferDirty(buf);

		/* the chains' pages, group by group */
		for (g = 0; g < bk->ngroups; g++)
		{
			uint32		top = XhHashTop32(entries[groups[g].lo].key);

			for (pos = groups[g].lo; pos < groups[g].hi; pos += n)
			{
				Buffer		cbuf;
				Page		cpage;
				int			i;

				n = Min(groups[g].hi - pos, XH_PAGE_CAPACITY);
				blkno++;
				cbuf = xh_new_build_page(index, blkno);
				cpage = BufferGetPage(cbuf);
				xh_init_chain_page(cpage, XhPageGetOpaque(page), top,
								   pos + n < groups[g].hi ?
								   blkno + 1 : InvalidBlockNumber);
				for (i = 0; i < n; i++)
					xh_build_put(XhPageGetEntries(cpage), i,
								 entries[pos + i].key, entries[pos + i].blkno);
				XhPageSetNEntries(cpage, n);
				XhPageGetOpaque(cpage)->nsorted = n;
				MarkBufferDirty(cbuf);
				UnlockReleaseBuffer(cbuf);
			}
		}
		UnlockReleaseBuffer(buf);
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
	layout.maxgroups = 16;
	layout.groups = palloc(layout.maxgroups * sizeof(XhBuildGroup));
	layout.target = Max(1, (Size) XH_PAGE_CAPACITY * fillfactor / 100);
	if (bs.nentries == 0)
		xh_layout_add(&layout, 0, 0, 0, 0, 0);
	else
		xh_layout_range(&layout, bs.entries, 0, bs.nentries, 0, 0);

	nblocks = xh_write_pages(index, bs.seed, fillfactor, bs.entries, &layout);

	/* the pages were written without WAL: log them all now */
	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, nblocks, true);

	pfree(bs.entries);
	pfree(layout.buckets);
	pfree(layout.groups);

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
