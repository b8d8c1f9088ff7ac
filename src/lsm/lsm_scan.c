/*-------------------------------------------------------------------------
 *
 * lsm_scan.c
 *	  Sequential (also parallel and TID-range), bitmap, sample and ANALYZE
 *	  scans of lsm tables, and the TID helpers of table scans.
 *
 * Scans walk logical blocks in order, so versions come out in TID order
 * (CREATE INDEX CONCURRENTLY's validation depends on that).  The number of
 * logical blocks is read from the metapage when the scan starts; logical
 * blocks assigned later hold only versions created after the scan's
 * snapshot.  The scan keeps a private copy of the map page covering its
 * current position; each page reached through it is verified, so an entry
 * that went stale (VACUUM freed the page) just means "nothing there".
 *
 * Like heap, a page is read "page at a time": under a share lock the
 * visible versions are determined and their offsets remembered; the page
 * stays pinned while they are returned.  The pinned page may still change
 * (new versions appended, xmax of existing ones set), but the bytes of a
 * version's data never move.
 *
 * ANALYZE samples physical blocks (lsm_relation_size reports the physical
 * size while ANALYZE picks its sample): a memtable page contributes its
 * versions, other pages none.
 * TABLESAMPLE works on logical blocks of up to 291 offsets each.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "access/tsmapi.h"
#include "access/valid.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/tidbitmap.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "lsm/lsm_internal.h"


/*
 * Where the map says the memtable page of lblock is (a hint).
 *
 * The hint comes from a private copy of one map unit (the metapage's
 * direct entries, or one MAP page), taken when the scan first needs it.
 * A block the copy shows without a page had its versions, if any, in runs
 * published before the copy was taken (a flush publishes its run before it
 * unmaps the pages it took), so one refresh of the view of the runs after
 * the copy serves every such block of the unit (rs_map_runs_fresh).
 */
static pg_noinline void
lsm_scan_map_load(LsmScanDesc scan, BlockNumber lblock)
{
	scan->rs_map_count = lsm_map_read_unit(scan->rs_base.rs_rd, lblock,
										   scan->rs_map, &scan->rs_map_first);
	scan->rs_map_span = LsmMapUnitSpan(lblock);
	scan->rs_map_valid = true;
	scan->rs_map_runs_fresh = false;
}

/* (inline: sequential scans ask for every block they pass over) */
static inline BlockNumber
lsm_scan_map_hint(LsmScanDesc scan, BlockNumber lblock)
{
	if (!scan->rs_map_valid || lblock < scan->rs_map_first ||
		lblock - scan->rs_map_first >= scan->rs_map_span)
		lsm_scan_map_load(scan, lblock);
	/* no map page here means no memtable page in its whole range */
	if (lblock - scan->rs_map_first >= (BlockNumber) scan->rs_map_count)
		return InvalidBlockNumber;
	return scan->rs_map[lblock - scan->rs_map_first];
}

/*
 * Decode data page pageidx of run into chunk unless it holds it already, and
 * return where to look for the entries of logical block lblock: a scan in
 * TID order starts where the previous block ended.
 */
static int
lsm_scan_chunk_start(Relation rel, LsmRun *run, int pageidx,
					 LsmRunChunk *chunk, BlockNumber lblock)
{
	if (chunk->run != run || chunk->pageidx != pageidx)
		lsm_run_decode(rel, run, pageidx, chunk);
	if (chunk->scan_pos > 0 && chunk->scan_pos < chunk->nentries &&
		ItemPointerGetBlockNumber(&chunk->entries[chunk->scan_pos - 1].tid) < lblock)
		return chunk->scan_pos;
	return 0;
}

/*
 * Versions of logical block lblock held by the runs at offsets not taken
 * by its (overlay) memtable page (on a shared one, the line pointers lps[]
 * of the block's items there): pointers in runtup[off] (NULL elsewhere).
 * Returns the highest offset.
 */
static OffsetNumber
lsm_scan_collect_runs(LsmScanDesc scan, BlockNumber lblock, Page page,
					  const OffsetNumber *lps, HeapTupleHeader *runtup,
					  uint32 *runlen)
{
	Relation	rel = scan->rs_base.rs_rd;
	LsmRunSet  *rs;
	bool		taken[MaxHeapTuplesPerPage + 1];
	OffsetNumber maxoff = 0;

	memset(taken, 0, sizeof(taken));
	if (lps != NULL)
	{
		/* a shared overlay page: the block's items found there */
		for (OffsetNumber off = FirstOffsetNumber; off <= MaxHeapTuplesPerPage; off++)
			taken[off] = lps[off] != InvalidOffsetNumber;
	}
	else if (page != NULL)
	{
		OffsetNumber pmax = PageGetMaxOffsetNumber(page);

		for (OffsetNumber off = FirstOffsetNumber; off <= pmax; off++)
			if (ItemIdIsUsed(PageGetItemId(page, off)))
				taken[off] = true;
	}

	/* brought up to date by lsm_scan_getpage */
	rs = scan->rs_runs;

	for (int r = 0; r < rs->nruns; r++)
	{
		LsmRun	   *run = rs->runs[r];
		LsmRunChunk *chunk = &rs->chunks[r];
		int			pageidx;

		if (lblock < run->desc.min_lblock || lblock > run->desc.max_lblock)
			continue;
		/* what this block points into stays for two blocks */
		chunk->hold_gen = scan->rs_blockgen;
		pageidx = lsm_run_find_page(run, lblock, FirstOffsetNumber);
		if (pageidx < 0)
			pageidx = 0;
		for (; pageidx < run->nfences; pageidx++)
		{
			int			i;

			if (run->fences[pageidx].lblock > lblock)
				break;
			for (i = lsm_scan_chunk_start(rel, run, pageidx, chunk, lblock);
				 i < chunk->nentries; i++)
			{
				LsmRunEntry *e = &chunk->entries[i];
				OffsetNumber off;

				if (ItemPointerGetBlockNumber(&e->tid) < lblock)
					continue;
				if (ItemPointerGetBlockNumber(&e->tid) > lblock)
					break;
				off = ItemPointerGetOffsetNumber(&e->tid);
				if (taken[off])
					continue;
				taken[off] = true;
				if (e->tup == NULL)
					continue;	/* a tombstone hides older runs */
				runtup[off] = e->tup;
				runlen[off] = e->len;
				chunk->arena_gen = scan->rs_blockgen;
				maxoff = Max(maxoff, off);
			}
			chunk->scan_pos = i;
			if (i < chunk->nentries)
				break;			/* reached the next block */
		}
	}
	return maxoff;
}

/*
 * The common case of a sequential scan of a compacted table: logical block
 * lblock has no memtable page and lies in the range of exactly one run, and
 * no SSI checks are needed.  Then its versions are a stretch of the decoded
 * entries of one data page, or of consecutive ones, in offset order:
 * return those visible to the snapshot straight into rs_vistuples etc.,
 * without the per-offset arrays of the general path (lsm_scan_collect_runs
 * and the loop of lsm_scan_getpage).  Returns the number of visible
 * versions and sets *maxoff, or returns -1 (nothing done) if the case does
 * not apply.  The view must be up to date (lsm_scan_getpage).
 */
static pg_noinline int
lsm_scan_run_block(LsmScanDesc scan, BlockNumber lblock, Snapshot snapshot,
				   OffsetNumber *maxoff)
{
	Relation	rel = scan->rs_base.rs_rd;
	LsmRunSet  *rs = scan->rs_runs;
	LsmRun	   *run = NULL;
	LsmRunChunk *chunk = NULL;
	int			pageidx;
	int			i;
	int			ntup = 0;
	bool		mvcc = IsMVCCSnapshot(snapshot);

	for (int r = 0; r < rs->nruns; r++)
	{
		if (lblock < rs->runs[r]->desc.min_lblock ||
			lblock > rs->runs[r]->desc.max_lblock)
			continue;
		if (run != NULL)
			return -1;			/* two runs: the general merge */
		run = rs->runs[r];
		chunk = &rs->chunks[r];
	}
	if (run == NULL)
	{
		*maxoff = 0;
		return 0;
	}
	pageidx = lsm_run_find_page(run, lblock, FirstOffsetNumber);
	if (pageidx < 0)
		pageidx = 0;
	*maxoff = 0;
	if (run->fences[pageidx].lblock > lblock)
		return 0;
	chunk->hold_gen = scan->rs_blockgen;

	/*
	 * The block's entries, on this data page and, if it goes on there, the
	 * next ones.  Before the next page is decoded the chunk is told that
	 * the block points into its arena, which is then kept.
	 */
	for (;;)
	{
		i = lsm_scan_chunk_start(rel, run, pageidx, chunk, lblock);
		if (lsm_run_chunk_all_visible(chunk, snapshot))
		{
			/*
			 * Every entry of the page is a version visible to the snapshot
			 * (frozen, or loaded by a transaction it sees): only the block's
			 * stretch is to be found.  Block numbers are compared as words
			 * (see lsm_blockword).
			 */
			uint32		lbw = lsm_blockword(lblock);
			LsmRunEntry *entries = chunk->entries;
			int			nentries = chunk->nentries;

			for (; i < nentries; i++)
			{
				LsmRunEntry *e = &entries[i];
				uint32		w;

				memcpy(&w, &e->tid.ip_blkid, sizeof(uint32));
				if (w != lbw)
				{
					if (ItemPointerGetBlockNumber(&e->tid) < lblock)
						continue;
					break;
				}
				scan->rs_vistuples[ntup] = e->tid.ip_posid;
				scan->rs_vistup[ntup] = e->tup;
				scan->rs_vislen[ntup] = e->len;
				ntup++;
			}
			if (ntup > 0)
				*maxoff = scan->rs_vistuples[ntup - 1];
		}
		for (; i < chunk->nentries; i++)
		{
			LsmRunEntry *e = &chunk->entries[i];
			BlockNumber eblock = ItemPointerGetBlockNumber(&e->tid);
			HeapTupleData tup;

			if (eblock < lblock)
				continue;
			if (eblock > lblock)
				break;
			*maxoff = ItemPointerGetOffsetNumber(&e->tid);
			if (e->tup == NULL)
				continue;		/* a tombstone */
			/* a frozen version (never an xmax in a run) is visible to all */
			if (!(mvcc && lsm_run_version_visible_fast(e->tup, snapshot)))
			{
				tup.t_data = e->tup;
				tup.t_len = e->len;
				tup.t_tableOid = RelationGetRelid(rel);
				tup.t_self = e->tid;
				if (!lsm_tuple_satisfies(&tup, snapshot))
					continue;
			}
			scan->rs_vistuples[ntup] = ItemPointerGetOffsetNumber(&e->tid);
			scan->rs_vistup[ntup] = e->tup;
			scan->rs_vislen[ntup] = e->len;
			ntup++;
		}
		chunk->scan_pos = i;
		if (ntup > 0)
			chunk->arena_gen = scan->rs_blockgen;
		if (i < chunk->nentries)
			break;				/* reached the next block */
		if (++pageidx >= run->nfences || run->fences[pageidx].lblock > lblock)
			break;
	}
	return ntup;
}

/*
 * The view of the runs is about to be reloaded, which frees its decoded
 * pages: copy the versions of the previous block that point into them (the
 * slot may hold one of them while the next block is read).  Runs only when
 * a flush or compaction has changed the runs during the scan.
 */
static void
lsm_scan_save_versions(void *arg)
{
	LsmScanDesc scan = (LsmScanDesc) arg;
	LsmRunSet  *rs = scan->rs_runs;
	int			which = scan->rs_blockbuf_cur = 1 - scan->rs_blockbuf_cur;
	Size		used = 0;
	Size		need = 0;

	for (int pass = 0; pass < 2; pass++)
	{
		for (int i = 0; i < scan->rs_prev_ntuples; i++)
		{
			HeapTupleHeader t = scan->rs_vistup[i];
			bool		inrun = false;

			for (int r = 0; r < rs->nruns && !inrun; r++)
				inrun = lsm_run_chunk_owns(&rs->chunks[r], t);
			if (!inrun)
				continue;
			if (pass == 0)
			{
				need += MAXALIGN(scan->rs_vislen[i]);
				continue;
			}
			memcpy(scan->rs_blockbuf[which] + used, t, scan->rs_vislen[i]);
			scan->rs_vistup[i] = (HeapTupleHeader) (scan->rs_blockbuf[which] + used);
			if (scan->rs_ctup.t_data == t)
				scan->rs_ctup.t_data = scan->rs_vistup[i];
			used += MAXALIGN(scan->rs_vislen[i]);
		}
		if (pass == 0)
		{
			if (need == 0)
				return;
			if (scan->rs_blockbuf_cap[which] < need)
			{
				if (scan->rs_blockbuf[which])
					pfree(scan->rs_blockbuf[which]);
				scan->rs_blockbuf_cap[which] = Max(need, BLCKSZ);
				scan->rs_blockbuf[which] =
					MemoryContextAlloc(GetMemoryChunkContext(scan),
									   scan->rs_blockbuf_cap[which]);
			}
		}
	}
}

/* Make the scan's view of the runs. */
static void
lsm_scan_create_runset(LsmScanDesc scan)
{
	scan->rs_runs = lsm_runset_create(scan->rs_base.rs_rd,
									  GetMemoryChunkContext(scan));
	scan->rs_runs->before_reload = lsm_scan_save_versions;
	scan->rs_runs->before_reload_arg = scan;
}

/*
 * Read logical block lblock: pin its page and remember the versions
 * visible to the scan's snapshot (all of them, for lossy bitmap pages,
 * restricted to offsets[] if given).  Versions of blocks that live in runs
 * (the whole block, or the offsets an overlay page does not hold) are
 * read from there.  Returns false if the logical block has no versions
 * anywhere.
 */
static bool
lsm_scan_getpage(LsmScanDesc scan, BlockNumber lblock,
				 OffsetNumber *offsets, int noffsets, bool predlock_tids)
{
	Relation	rel = scan->rs_base.rs_rd;
	Snapshot	snapshot = scan->rs_base.rs_snapshot;
	Buffer		buf;
	Page		page = NULL;
	OffsetNumber maxoff = 0;
	int			ntup = 0;
	bool		all_visible = false;
	bool		use_runs;
	bool		ssi;
	bool		mvcc;
	HeapTupleHeader runtup[MaxHeapTuplesPerPage + 1];
	uint32		runlen[MaxHeapTuplesPerPage + 1];
	OffsetNumber lpsdata[MaxHeapTuplesPerPage + 1];
	OffsetNumber *lps;
	BlockNumber hint;

	if (BufferIsValid(scan->rs_cbuf))
	{
		ReleaseBuffer(scan->rs_cbuf);
		scan->rs_cbuf = InvalidBuffer;
	}
	scan->rs_cblock = lblock;
	scan->rs_prev_ntuples = scan->rs_ntuples;
	scan->rs_blockgen++;
	scan->rs_ntuples = 0;
	scan->rs_cindex = 0;
	scan->rs_cmaxoff = 0;

	CHECK_FOR_INTERRUPTS();

	/* a block this backend knows to be empty for good: nothing to read */
	if (lsm_block_known_empty(rel, lblock))
		return false;

	/* the view of the runs is created before any page is locked */
	if (scan->rs_runs == NULL)
		lsm_scan_create_runset(scan);

restart:
	page = NULL;
	lps = NULL;
	maxoff = 0;
	all_visible = false;
	hint = lsm_scan_map_hint(scan, lblock);
	buf = lsm_read_mem_page_hint(rel, lblock, hint, scan->rs_strategy,
								 BUFFER_LOCK_SHARE);
	if (BufferIsValid(buf))
	{
		lsm_page_prune_opt(rel, buf);
		page = BufferGetPage(buf);
		if (LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_NO_VERSIONS)
		{
			/* pruned, nothing left (never an overlay page) */
			bool		sealed = (LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_SEALED) != 0;

			BlockNumber blkno = BufferGetBlockNumber(buf);

			UnlockReleaseBuffer(buf);
			if (sealed)
				lsm_note_empty_block(rel, lblock, blkno);
			return false;
		}
		maxoff = PageGetMaxOffsetNumber(page);
		if (LsmPageIsShared(page))
		{
			/* line pointers are not offsets there */
			lps = lpsdata;
			maxoff = lsm_page_block_items(rel, buf, lblock, lps);
		}
		use_runs = (LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_OVERLAY) != 0;
		/* as heap: an all-visible page needs no checks (not on a standby) */
		all_visible = PageIsAllVisible(page) && IsMVCCSnapshot(snapshot) &&
			!snapshot->takenDuringRecovery;
	}
	else
		use_runs = lblock < scan->rs_nblocks;

	if (use_runs)
	{
		OffsetNumber rmax;


		/*
		 * The view must be brought up to date after the page was looked at:
		 * a flush publishes its run before it unmaps the pages it took.
		 * Holding the page, the refresh must not need the metapage (lock
		 * order: metapage first); if it would, let go and look again.
		 */
		if (!BufferIsValid(buf))
		{
			/*
			 * Without a page: the look at the map was the map copy's, unless
			 * the copy pointed to a page that has gone since; then it was
			 * just now.  Either way, a refresh made after that look will do.
			 */
			if (hint != InvalidBlockNumber || !scan->rs_map_runs_fresh)
				lsm_runset_refresh(rel, scan->rs_runs);
		}
		else if (!lsm_runset_try_refresh(rel, scan->rs_runs))
		{
			UnlockReleaseBuffer(buf);
			lsm_runset_refresh(rel, scan->rs_runs);
			goto restart;
		}
		/* made after the copy of the map was taken */
		scan->rs_map_runs_fresh = true;
		if (!BufferIsValid(buf) && offsets == NULL && !predlock_tids &&
			!CheckForSerializableConflictOutNeeded(rel, snapshot))
		{
			int			n = lsm_scan_run_block(scan, lblock, snapshot, &rmax);

			if (n >= 0)
			{
				if (rmax == 0)
					return false;
				if (!BufferIsValid(scan->rs_anchor))
					scan->rs_anchor = ReadBuffer(rel, LSM_METAPAGE_BLKNO);
				IncrBufferRefCount(scan->rs_anchor);
				scan->rs_cbuf = scan->rs_anchor;
				scan->rs_cmaxoff = rmax;
				scan->rs_ntuples = n;
				return true;
			}
		}
		memset(runtup, 0, sizeof(runtup));
		rmax = lsm_scan_collect_runs(scan, lblock, page, lps, runtup, runlen);

		maxoff = Max(maxoff, rmax);
	}
	if (!BufferIsValid(buf))
	{
		if (maxoff == 0)
			return false;
		if (!BufferIsValid(scan->rs_anchor))
			scan->rs_anchor = ReadBuffer(rel, LSM_METAPAGE_BLKNO);
		IncrBufferRefCount(scan->rs_anchor);
		buf = scan->rs_anchor;
	}
	scan->rs_cmaxoff = maxoff;
	ssi = CheckForSerializableConflictOutNeeded(rel, snapshot);
	mvcc = IsMVCCSnapshot(snapshot);

	for (int i = 0;; i++)
	{
		OffsetNumber off;
		HeapTupleData tup;
		bool		valid;
		bool		fromrun = false;

		if (offsets)
		{
			if (i >= noffsets)
				break;
			off = offsets[i];
		}
		else
		{
			if (i >= maxoff)
				break;
			off = FirstOffsetNumber + i;
		}
		if (off < FirstOffsetNumber || off > MaxHeapTuplesPerPage)
			continue;
		if (use_runs && runtup[off] != NULL)
		{
			tup.t_data = runtup[off];
			tup.t_len = runlen[off];
			tup.t_tableOid = RelationGetRelid(rel);
			ItemPointerSet(&tup.t_self, lblock, off);
			fromrun = true;
		}
		else
		{
			OffsetNumber lp = lps ? lps[off] : off;

			if (page == NULL || lp == InvalidOffsetNumber ||
				lp > PageGetMaxOffsetNumber(page) ||
				lsm_item_is_gone(PageGetItemId(page, lp)) ||
				!lsm_page_get_tuple(rel, buf, lp, &tup))
				continue;
		}
		/*
		 * A frozen version from a run (never an xmax there) is visible to
		 * every MVCC snapshot, as on an all-visible page.
		 */
		valid = (fromrun ? (mvcc && lsm_run_version_visible_fast(tup.t_data,
																 snapshot)) :
				 all_visible) ||
			lsm_tuple_satisfies(&tup, snapshot);
		if (ssi)
			lsm_serializable_conflict_out(valid, rel, &tup, snapshot);
		if (!valid)
			continue;
		if (predlock_tids)
			PredicateLockTID(rel, &tup.t_self, snapshot,
							 HeapTupleHeaderGetXmin(tup.t_data));
		scan->rs_vistuples[ntup] = off;
		scan->rs_vistup[ntup] = tup.t_data;
		scan->rs_vislen[ntup] = tup.t_len;
		ntup++;
	}
	if (page != NULL && ntup > 0 && lsm_pages_may_vanish())
	{
		/*
		 * On a hot standby the versions are returned from a copy taken
		 * under the share lock: replay of the record that frees a flushed
		 * page does not wait for our pin (see lsm_pages_may_vanish).  Two
		 * copies alternate, like rs_blockbuf, so that the version of the
		 * previous block stays readable while this one is set up.
		 */
		char	   *copy;
		int			which = scan->rs_pagecopy_cur = 1 - scan->rs_pagecopy_cur;

		if (scan->rs_pagecopy[which] == NULL)
			scan->rs_pagecopy[which] =
				MemoryContextAlloc(GetMemoryChunkContext(scan), BLCKSZ);
		copy = scan->rs_pagecopy[which];
		memcpy(copy, page, BLCKSZ);
		for (int i = 0; i < ntup; i++)
		{
			char	   *p = (char *) scan->rs_vistup[i];

			if (p >= (char *) page && p < (char *) page + BLCKSZ)
				scan->rs_vistup[i] = (HeapTupleHeader) (copy + (p - (char *) page));
		}
	}
	if (page != NULL)
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	scan->rs_cbuf = buf;
	scan->rs_ntuples = ntup;
	return true;
}

/* Set up the scan's block range and strategy from the relation's state. */
static void
lsm_scan_init(LsmScanDesc scan, bool keep_startblock)
{
	Relation	rel = scan->rs_base.rs_rd;

	if (scan->rs_base.rs_parallel != NULL)
	{
		scan->rs_nblocks =
			((ParallelBlockTableScanDesc) scan->rs_base.rs_parallel)->phs_nblocks;
		(void) lsm_get_scan_range(rel, &scan->rs_empty_below);
	}
	else
		scan->rs_nblocks = lsm_get_scan_range(rel, &scan->rs_empty_below);

	if (scan->rs_strategy == NULL &&
		(scan->rs_base.rs_flags & SO_ALLOW_STRAT) &&
		!RelationUsesLocalBuffers(rel) &&
		scan->rs_nblocks > (BlockNumber) (NBuffers / 4))
		scan->rs_strategy = GetAccessStrategy(BAS_BULKREAD);

	if (!keep_startblock)
	{
		scan->rs_startblock = 0;
		scan->rs_numblocks = InvalidBlockNumber;
	}
	scan->rs_inited = false;
	scan->rs_ctup.t_data = NULL;
	ItemPointerSetInvalid(&scan->rs_ctup.t_self);
	if (BufferIsValid(scan->rs_cbuf))
		ReleaseBuffer(scan->rs_cbuf);
	scan->rs_cbuf = InvalidBuffer;
	scan->rs_cblock = InvalidBlockNumber;
	scan->rs_ntuples = 0;
	scan->rs_cindex = 0;
	scan->rs_sample_next = 0;

	/* SSI: a sequential or sample scan reads the whole relation */
	if (scan->rs_base.rs_flags & (SO_TYPE_SEQSCAN | SO_TYPE_SAMPLESCAN))
		PredicateLockRelation(rel, scan->rs_base.rs_snapshot);

	if (scan->rs_base.rs_flags & SO_TYPE_SEQSCAN)
		pgstat_count_heap_scan(rel);
}

/*
 * lsm_scan_begin -- table AM callback scan_begin.
 */
TableScanDesc
lsm_scan_begin(Relation rel, Snapshot snapshot, int nkeys,
			   struct ScanKeyData *key, ParallelTableScanDesc pscan,
			   uint32 flags)
{
	LsmScanDesc scan;

	RelationIncrementReferenceCount(rel);

	scan = palloc0(sizeof(LsmScanDescData));
	scan->rs_base.rs_rd = rel;
	scan->rs_base.rs_snapshot = snapshot;
	scan->rs_base.rs_nkeys = nkeys;
	scan->rs_base.rs_flags = flags;
	scan->rs_base.rs_parallel = pscan;
	scan->rs_strategy = NULL;
	scan->rs_cbuf = InvalidBuffer;
	scan->rs_map_valid = false;
	/* allocated here: the scan's memory, not a per-tuple context */
	scan->rs_map = palloc(Max(LSM_MAP_ENTRIES, LSM_META_DIRECT) *
						  sizeof(BlockNumber));
	scan->rs_ctup.t_tableOid = RelationGetRelid(rel);
	if (pscan != NULL)
		scan->rs_parallelworkerdata = palloc(sizeof(ParallelBlockTableScanWorkerData));

	if (nkeys > 0)
	{
		scan->rs_base.rs_key = palloc(sizeof(ScanKeyData) * nkeys);
		memcpy(scan->rs_base.rs_key, key, sizeof(ScanKeyData) * nkeys);
	}

	lsm_scan_init(scan, false);
	return (TableScanDesc) scan;
}

/*
 * lsm_scan_rescan -- table AM callback scan_rescan.
 */
void
lsm_scan_rescan(TableScanDesc sscan, struct ScanKeyData *key, bool set_params,
				bool allow_strat, bool allow_sync, bool allow_pagemode)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;

	if (set_params)
	{
		if (allow_strat)
			scan->rs_base.rs_flags |= SO_ALLOW_STRAT;
		else
			scan->rs_base.rs_flags &= ~SO_ALLOW_STRAT;
		if (allow_sync)
			scan->rs_base.rs_flags |= SO_ALLOW_SYNC;
		else
			scan->rs_base.rs_flags &= ~SO_ALLOW_SYNC;
		if (allow_pagemode)
			scan->rs_base.rs_flags |= SO_ALLOW_PAGEMODE;
		else
			scan->rs_base.rs_flags &= ~SO_ALLOW_PAGEMODE;
	}
	if (key != NULL && scan->rs_base.rs_nkeys > 0)
		memcpy(scan->rs_base.rs_key, key,
			   sizeof(ScanKeyData) * scan->rs_base.rs_nkeys);

	lsm_scan_init(scan, true);
}

/*
 * lsm_scan_end -- table AM callback scan_end.
 */
void
lsm_scan_end(TableScanDesc sscan)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;

	if (BufferIsValid(scan->rs_cbuf))
		ReleaseBuffer(scan->rs_cbuf);
	if (BufferIsValid(scan->rs_anchor))
		ReleaseBuffer(scan->rs_anchor);
	if (scan->rs_runs)
		lsm_runset_free(scan->rs_runs);
	for (int i = 0; i < 2; i++)
	{
		if (scan->rs_blockbuf[i])
			pfree(scan->rs_blockbuf[i]);
		if (scan->rs_pagecopy[i])
			pfree(scan->rs_pagecopy[i]);
	}
	if (scan->rs_analyze_chunk)
		lsm_run_chunk_free(scan->rs_analyze_chunk);
	/* pages the scan's pruning left without versions (no buffer pinned) */
	lsm_free_dead_pages(scan->rs_base.rs_rd);
	RelationDecrementReferenceCount(scan->rs_base.rs_rd);
	if (scan->rs_base.rs_key)
		pfree(scan->rs_base.rs_key);
	if (scan->rs_strategy != NULL)
		FreeAccessStrategy(scan->rs_strategy);
	if (scan->rs_parallelworkerdata != NULL)
		pfree(scan->rs_parallelworkerdata);
	pfree(scan->rs_map);
	if (scan->rs_base.rs_flags & SO_TEMP_SNAPSHOT)
		UnregisterSnapshot(scan->rs_base.rs_snapshot);
	pfree(scan);
}

/*
 * lsm_scan_set_range -- restrict the scan to logical blocks
 * [start, start + nblocks) (used by index builds and TID range scans).
 */
void
lsm_scan_set_range(TableScanDesc sscan, BlockNumber start, BlockNumber nblocks)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;

	Assert(!scan->rs_inited);
	scan->rs_startblock = start;
	scan->rs_numblocks = nblocks;
}

/*
 * lsm_scan_nlblocks -- logical blocks the scan covers (from block 0).
 */
BlockNumber
lsm_scan_nlblocks(TableScanDesc sscan)
{
	return ((LsmScanDesc) sscan)->rs_nblocks;
}

/*
 * lsm_scan_get_lblocks_done -- progress of a forward serial or parallel
 * scan, in logical blocks (for index build progress reporting).
 */
BlockNumber
lsm_scan_get_lblocks_done(TableScanDesc sscan)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;

	if (scan->rs_base.rs_parallel != NULL)
	{
		ParallelBlockTableScanDesc bpscan =
			(ParallelBlockTableScanDesc) scan->rs_base.rs_parallel;

		if (!scan->rs_inited)
			return 0;
		return Min(scan->rs_cblock + 1, bpscan->phs_nblocks);
	}
	if (!scan->rs_inited || scan->rs_cblock == InvalidBlockNumber)
		return 0;
	return scan->rs_cblock - scan->rs_startblock + 1;
}

/* Last logical block (exclusive) of the scan's range. */
static BlockNumber
lsm_scan_endblock(LsmScanDesc scan)
{
	BlockNumber end = scan->rs_nblocks;

	if (scan->rs_numblocks != InvalidBlockNumber &&
		scan->rs_startblock + scan->rs_numblocks < end &&
		scan->rs_startblock + scan->rs_numblocks >= scan->rs_startblock)
		end = scan->rs_startblock + scan->rs_numblocks;
	return end;
}

/*
 * Can a sequential scan pass over logical block lblock without reading
 * it?  Yes when this backend knows the block empty for good, or when the
 * scan's copy of the map shows no page for it, the view of the runs was
 * brought up to date after that copy was taken (rs_map_runs_fresh: the
 * reasoning of lsm_scan_map_hint) and no run of the view covers the
 * block.  lsm_scan_getpage would find nothing there either, at many times
 * the cost: a small table whose rows are updated all the time leaves
 * thousands of such blocks behind (every new version takes a new TID),
 * and every scan of it walks through them.
 */
static inline bool
lsm_scan_block_skippable(LsmScanDesc scan, BlockNumber lblock)
{
	LsmRunSet  *rs = scan->rs_runs;

	if (rs == NULL)
		return false;
	if (lsm_scan_map_hint(scan, lblock) != InvalidBlockNumber)
		return lsm_block_known_empty(scan->rs_base.rs_rd, lblock);
	if (!scan->rs_map_runs_fresh)
		return false;
	for (int r = 0; r < rs->nruns; r++)
		if (lblock >= rs->runs[r]->desc.min_lblock &&
			lblock <= rs->runs[r]->desc.max_lblock)
			return false;
	return true;
}

/*
 * Advance to the next logical block in the given direction that has a
 * memtable page; returns false at the end.
 */
static bool
lsm_scan_next_block(LsmScanDesc scan, ScanDirection dir)
{
	ParallelBlockTableScanDesc pbscan =
		(ParallelBlockTableScanDesc) scan->rs_base.rs_parallel;
	BlockNumber end = lsm_scan_endblock(scan);

	for (;;)
	{
		BlockNumber lblock;

		if (pbscan != NULL)
		{
			/* parallel: forward only; blocks are handed out in chunks */
			if (!scan->rs_inited)
			{
				table_block_parallelscan_startblock_init(scan->rs_base.rs_rd,
														 scan->rs_parallelworkerdata,
														 pbscan);
				scan->rs_inited = true;
			}
			lblock = table_block_parallelscan_nextpage(scan->rs_base.rs_rd,
													   scan->rs_parallelworkerdata,
													   pbscan);
			if (lblock == InvalidBlockNumber || lblock >= end)
				break;
		}
		else if (ScanDirectionIsForward(dir))
		{
			if (!scan->rs_inited)
			{
				lblock = scan->rs_startblock;
				scan->rs_inited = true;
			}
			else if (scan->rs_cblock == InvalidBlockNumber)
				break;			/* ran off the end before */
			else
				lblock = scan->rs_cblock + 1;
			if (lblock >= end)
				break;
		}
		else
		{
			if (!scan->rs_inited)
			{
				if (end <= scan->rs_startblock)
					break;
				lblock = end - 1;
				scan->rs_inited = true;
			}
			else if (scan->rs_cblock == InvalidBlockNumber ||
					 scan->rs_cblock <= scan->rs_startblock)
				break;
			else
				lblock = scan->rs_cblock - 1;
		}

		/*
		 * Blocks with nothing to read are passed over here, without
		 * lsm_scan_getpage; the current block stays the one before them
		 * until a block is read (or the scan ends).  Those below
		 * rs_empty_below hold no version at all.
		 */
		if (pbscan != NULL)
		{
			if (lblock < scan->rs_empty_below ||
				lsm_scan_block_skippable(scan, lblock))
				continue;
		}
		else if (ScanDirectionIsForward(dir))
		{
			if (lblock < scan->rs_empty_below)
			{
				lblock = scan->rs_empty_below;
				if (lblock >= end)
					goto done;
			}
			while (lsm_scan_block_skippable(scan, lblock))
			{
				CHECK_FOR_INTERRUPTS();
				if (++lblock >= end)
					goto done;
			}
		}
		else
		{
			for (;;)
			{
				if (lblock < scan->rs_empty_below)
					goto done;	/* and so are all blocks before it */
				if (!lsm_scan_block_skippable(scan, lblock))
					break;
				CHECK_FOR_INTERRUPTS();
				if (lblock-- <= scan->rs_startblock)
					goto done;
			}
		}

		if (lsm_scan_getpage(scan, lblock, NULL, 0, false) &&
			scan->rs_ntuples > 0)
		{
			scan->rs_cindex = ScanDirectionIsForward(dir) || pbscan ?
				0 : scan->rs_ntuples - 1;
			return true;
		}
	}

done:

	/* end of scan */
	if (BufferIsValid(scan->rs_cbuf))
		ReleaseBuffer(scan->rs_cbuf);
	scan->rs_cbuf = InvalidBuffer;
	scan->rs_cblock = InvalidBlockNumber;
	scan->rs_ntuples = 0;
	scan->rs_ctup.t_data = NULL;
	scan->rs_inited = false;
	return false;
}

/*
 * Point rs_ctup at rs_vistuples[rs_cindex] of the current block.  (Its
 * t_tableOid is set once, by lsm_scan_begin.)
 */
static inline void
lsm_scan_set_current(LsmScanDesc scan)
{
	int			i = scan->rs_cindex;

	scan->rs_ctup.t_data = scan->rs_vistup[i];
	scan->rs_ctup.t_len = scan->rs_vislen[i];
	lsm_tid_set_word(&scan->rs_ctup.t_self, lsm_blockword(scan->rs_cblock),
					 scan->rs_vistuples[i]);
}

/*
 * Return the next visible version in the given direction, or false.
 * Inlined into the scans' getnextslot callbacks: the usual step, to the
 * next version of the current block, is what a sequential scan does per
 * row.
 */
static pg_attribute_always_inline bool
lsm_scan_next(LsmScanDesc scan, ScanDirection dir)
{
	if (ScanDirectionIsNoMovement(dir))
		return scan->rs_ctup.t_data != NULL && BufferIsValid(scan->rs_cbuf);

	if (scan->rs_inited && scan->rs_ntuples > 0 && BufferIsValid(scan->rs_cbuf))
	{
		if (ScanDirectionIsForward(dir) || scan->rs_base.rs_parallel)
		{
			if (scan->rs_cindex + 1 < scan->rs_ntuples)
			{
				scan->rs_cindex++;
				lsm_scan_set_current(scan);
				return true;
			}
		}
		else if (scan->rs_cindex > 0)
		{
			scan->rs_cindex--;
			lsm_scan_set_current(scan);
			return true;
		}
	}
	if (!lsm_scan_next_block(scan, dir))
		return false;
	lsm_scan_set_current(scan);
	return true;
}

/*
 * Do the scan keys (if any) accept the current version?  Kept out of line:
 * inlined, its locals made every getnextslot call set up a larger frame
 * with a stack-protector check, for scans that have no keys.
 */
static pg_noinline bool
lsm_scan_keys_match(LsmScanDesc scan)
{
	bool		result = true;

	if (scan->rs_base.rs_nkeys > 0)
		HeapKeyTest(&scan->rs_ctup, RelationGetDescr(scan->rs_base.rs_rd),
					scan->rs_base.rs_nkeys, scan->rs_base.rs_key, result);
	return result;
}

/*
 * The general case of lsm_scan_getnextslot: any direction, scan keys, the
 * step to the next block.
 */
static pg_noinline bool
lsm_scan_getnextslot_slow(LsmScanDesc scan, ScanDirection direction,
						  TupleTableSlot *slot)
{
	while (lsm_scan_next(scan, direction))
	{
		if (scan->rs_base.rs_nkeys > 0 && !lsm_scan_keys_match(scan))
		{
			if (ScanDirectionIsNoMovement(direction))
				break;
			continue;
		}
		pgstat_count_heap_getnext(scan->rs_base.rs_rd);
		ExecStoreBufferHeapTuple(&scan->rs_ctup, slot, scan->rs_cbuf);
		return true;
	}
	ExecClearTuple(slot);
	return false;
}

/*
 * lsm_scan_getnextslot -- table AM callback scan_getnextslot.
 *
 * What a sequential scan does per row, the next version of the current
 * block going forward without scan keys, is done here with a small frame;
 * anything else is left to lsm_scan_getnextslot_slow.  (In callgrind this
 * took a cached count(*) over compacted rows from 57 to 42 instructions per
 * row in this function.)
 */
bool
lsm_scan_getnextslot(TableScanDesc sscan, ScanDirection direction,
					 TupleTableSlot *slot)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;

	if (likely(direction == ForwardScanDirection &&
			   scan->rs_base.rs_nkeys == 0 &&
			   scan->rs_cindex + 1 < scan->rs_ntuples &&
			   scan->rs_inited && BufferIsValid(scan->rs_cbuf)))
	{
		scan->rs_cindex++;
		lsm_scan_set_current(scan);
		pgstat_count_heap_getnext(scan->rs_base.rs_rd);
		ExecStoreBufferHeapTuple(&scan->rs_ctup, slot, scan->rs_cbuf);
		return true;
	}
	return lsm_scan_getnextslot_slow(scan, direction, slot);
}

/*
 * lsm_scan_set_tidrange -- table AM callback scan_set_tidrange.
 *
 * Any TIDs are accepted (beyond the end, min > max, offsets above 291):
 * the range is clamped to the table and the scan returns nothing if empty.
 */
void
lsm_scan_set_tidrange(TableScanDesc sscan, ItemPointer mintid,
					  ItemPointer maxtid)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;
	ItemPointerData lowest;
	ItemPointerData highest;

	ItemPointerSet(&lowest, 0, FirstOffsetNumber);
	ItemPointerSet(&highest, MaxBlockNumber, MaxOffsetNumber);
	if (ItemPointerCompare(mintid, &lowest) < 0)
		mintid = &lowest;
	if (ItemPointerCompare(maxtid, &highest) > 0)
		maxtid = &highest;

	scan->rs_base.rs_mintid = *mintid;
	scan->rs_base.rs_maxtid = *maxtid;

	if (ItemPointerCompare(maxtid, mintid) < 0 ||
		ItemPointerGetBlockNumberNoCheck(mintid) >= scan->rs_nblocks)
	{
		/* nothing to scan */
		scan->rs_startblock = 0;
		scan->rs_numblocks = 0;
		return;
	}
	scan->rs_startblock = ItemPointerGetBlockNumberNoCheck(mintid);
	scan->rs_numblocks = Min(ItemPointerGetBlockNumberNoCheck(maxtid),
							 scan->rs_nblocks - 1) - scan->rs_startblock + 1;
}

/*
 * lsm_scan_getnextslot_tidrange -- table AM callback
 * scan_getnextslot_tidrange.
 */
bool
lsm_scan_getnextslot_tidrange(TableScanDesc sscan, ScanDirection direction,
							  TupleTableSlot *slot)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;

	if (scan->rs_numblocks == 0)
	{
		ExecClearTuple(slot);
		return false;
	}
	while (lsm_scan_next(scan, direction))
	{
		if (ItemPointerCompare(&scan->rs_ctup.t_self, &sscan->rs_mintid) < 0)
		{
			if (ScanDirectionIsBackward(direction))
				break;			/* below the range: done */
			continue;
		}
		if (ItemPointerCompare(&scan->rs_ctup.t_self, &sscan->rs_maxtid) > 0)
		{
			if (ScanDirectionIsForward(direction))
				break;			/* above the range: done */
			continue;
		}
		pgstat_count_heap_getnext(scan->rs_base.rs_rd);
		ExecStoreBufferHeapTuple(&scan->rs_ctup, slot, scan->rs_cbuf);
		return true;
	}
	ExecClearTuple(slot);
	return false;
}

/* ----------------------------------------------------------------
 * Parallel sequential scans: the block-based helpers of tableam.c, over
 * logical blocks.
 * ----------------------------------------------------------------
 */

/*
 * lsm_parallelscan_estimate -- shared memory for a parallel scan.
 */
Size
lsm_parallelscan_estimate(Relation rel)
{
	return sizeof(ParallelBlockTableScanDescData);
}

/*
 * lsm_parallelscan_initialize -- set up the shared state: the number of
 * logical blocks, handed out in chunks by table_block_parallelscan_nextpage.
 * Synchronized scans do not apply (they work on physical blocks).
 */
Size
lsm_parallelscan_initialize(Relation rel, ParallelTableScanDesc pscan)
{
	ParallelBlockTableScanDesc bpscan = (ParallelBlockTableScanDesc) pscan;

	table_block_parallelscan_initialize(rel, pscan);
	bpscan->phs_nblocks = lsm_get_nlblocks(rel);
	bpscan->base.phs_syncscan = false;
	return sizeof(ParallelBlockTableScanDescData);
}

/*
 * lsm_parallelscan_reinitialize -- reset for a rescan.
 */
void
lsm_parallelscan_reinitialize(Relation rel, ParallelTableScanDesc pscan)
{
	table_block_parallelscan_reinitialize(rel, pscan);
}

/* ----------------------------------------------------------------
 * Bitmap heap scans
 * ----------------------------------------------------------------
 */

/*
 * lsm_scan_bitmap_next_block -- table AM callback scan_bitmap_next_block:
 * read the logical block and keep the visible versions among the offsets
 * the bitmap names (all of them for a lossy page).
 */
bool
lsm_scan_bitmap_next_block(TableScanDesc sscan, struct TBMIterateResult *tbmres)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;
	OffsetNumber offsets[MaxHeapTuplesPerPage];
	int			noffsets = 0;

	scan->rs_ntuples = 0;
	scan->rs_cindex = 0;
	if (tbmres->blockno >= scan->rs_nblocks)
		return false;			/* beyond what the snapshot can see */

	if (tbmres->ntuples >= 0)
	{
		for (int i = 0; i < tbmres->ntuples; i++)
			if (tbmres->offsets[i] <= LSM_MAX_TUPLES_PER_PAGE)
				offsets[noffsets++] = tbmres->offsets[i];
		if (!lsm_scan_getpage(scan, tbmres->blockno, offsets, noffsets, true))
			return false;
	}
	else if (!lsm_scan_getpage(scan, tbmres->blockno, NULL, 0, true))
		return false;
	return scan->rs_ntuples > 0;
}

/*
 * lsm_scan_bitmap_next_tuple -- table AM callback scan_bitmap_next_tuple.
 */
bool
lsm_scan_bitmap_next_tuple(TableScanDesc sscan, struct TBMIterateResult *tbmres,
						   TupleTableSlot *slot)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;

	if (scan->rs_cindex >= scan->rs_ntuples || !BufferIsValid(scan->rs_cbuf))
		return false;
	lsm_scan_set_current(scan);
	scan->rs_cindex++;
	pgstat_count_heap_fetch(scan->rs_base.rs_rd);
	ExecStoreBufferHeapTuple(&scan->rs_ctup, slot, scan->rs_cbuf);
	return true;
}

/* ----------------------------------------------------------------
 * TABLESAMPLE
 * ----------------------------------------------------------------
 */

/*
 * lsm_scan_sample_next_block -- table AM callback scan_sample_next_block,
 * over logical blocks.
 */
bool
lsm_scan_sample_next_block(TableScanDesc sscan, struct SampleScanState *scanstate)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;
	TsmRoutine *tsm = scanstate->tsmroutine;
	BlockNumber blockno;

	if (scan->rs_nblocks == 0)
		return false;

	if (tsm->NextSampleBlock)
		blockno = tsm->NextSampleBlock(scanstate, scan->rs_nblocks);
	else
	{
		/* every block in order */
		if (scan->rs_sample_next >= scan->rs_nblocks)
			blockno = InvalidBlockNumber;
		else
			blockno = scan->rs_sample_next++;
	}

	if (!BlockNumberIsValid(blockno))
	{
		if (BufferIsValid(scan->rs_cbuf))
			ReleaseBuffer(scan->rs_cbuf);
		scan->rs_cbuf = InvalidBuffer;
		scan->rs_cblock = InvalidBlockNumber;
		scan->rs_inited = false;
		return false;
	}

	/* an absent logical block is a block without tuples */
	(void) lsm_scan_getpage(scan, blockno, NULL, 0, false);
	scan->rs_inited = true;
	return true;
}

/*
 * lsm_scan_sample_next_tuple -- table AM callback scan_sample_next_tuple.
 */
bool
lsm_scan_sample_next_tuple(TableScanDesc sscan, struct SampleScanState *scanstate,
						   TupleTableSlot *slot)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;
	TsmRoutine *tsm = scanstate->tsmroutine;
	OffsetNumber maxoffset = 0;

	if (BufferIsValid(scan->rs_cbuf))
		maxoffset = scan->rs_cmaxoff;

	for (;;)
	{
		OffsetNumber tupoffset;
		bool		found = false;

		CHECK_FOR_INTERRUPTS();
		tupoffset = tsm->NextSampleTuple(scanstate, scan->rs_cblock, maxoffset);
		if (!OffsetNumberIsValid(tupoffset))
			break;

		/* visible versions were listed in order by lsm_scan_getpage */
		for (int i = 0; i < scan->rs_ntuples; i++)
		{
			if (scan->rs_vistuples[i] == tupoffset)
			{
				scan->rs_cindex = i;
				found = true;
				break;
			}
			if (scan->rs_vistuples[i] > tupoffset)
				break;
		}
		if (!found)
			continue;
		lsm_scan_set_current(scan);
		pgstat_count_heap_getnext(scan->rs_base.rs_rd);
		ExecStoreBufferHeapTuple(&scan->rs_ctup, slot, scan->rs_cbuf);
		return true;
	}

	if (BufferIsValid(scan->rs_cbuf))
		ReleaseBuffer(scan->rs_cbuf);
	scan->rs_cbuf = InvalidBuffer;
	ExecClearTuple(slot);
	return false;
}

/* ----------------------------------------------------------------
 * ANALYZE
 * ----------------------------------------------------------------
 */

/*
 * ANALYZE of a run data page (buf pinned and share-locked): decode it if
 * its run is listed (an orphan page has nothing to sample).  Its versions
 * are sampled unless something newer hides them (see below).
 */
static bool
lsm_scan_analyze_run_page(LsmScanDesc scan, Buffer buf)
{
	Relation	rel = scan->rs_base.rs_rd;
	uint32		run_id = LsmPageGetOpaque(BufferGetPage(buf))->lpo_aux;
	LsmRunSet  *rs;

	if (scan->rs_runs == NULL)
		lsm_scan_create_runset(scan);
	rs = scan->rs_runs;
	for (int r = 0; r < rs->nruns; r++)
	{
		if (rs->runs[r]->desc.run_id != run_id)
			continue;
		if (scan->rs_analyze_chunk == NULL)
		{
			scan->rs_analyze_chunk = MemoryContextAlloc(GetMemoryChunkContext(scan),
														sizeof(LsmRunChunk));
			lsm_run_chunk_init(scan->rs_analyze_chunk, GetMemoryChunkContext(scan));
		}
		IncrBufferRefCount(buf);	/* the pin stays as the slots' anchor */
		lsm_run_decode_buffer(rel, buf, scan->rs_analyze_chunk, rs->runs[r]);
		scan->rs_cbuf = buf;
		scan->rs_analyze_run = r;
		scan->rs_analyze_entry = 0;
		scan->rs_analyze_lblock = InvalidBlockNumber;
		return true;
	}
	UnlockReleaseBuffer(buf);
	return false;
}

/*
 * Is the run entry at tid hidden by something newer: the memtable page of
 * its block (an ordinary page holds everything of its block; an overlay
 * page what it has a line pointer for) or a newer run?
 */
static bool
lsm_scan_analyze_hidden(LsmScanDesc scan, int r, ItemPointer tid)
{
	Relation	rel = scan->rs_base.rs_rd;
	BlockNumber lblock = ItemPointerGetBlockNumber(tid);
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	LsmRunSet  *rs = scan->rs_runs;

	if (lblock != scan->rs_analyze_lblock)
	{
		Buffer		buf = lsm_read_mem_page(rel, lblock, NULL);

		memset(scan->rs_analyze_shadow, 0, sizeof(scan->rs_analyze_shadow));
		if (BufferIsValid(buf))
		{
			for (OffsetNumber o = FirstOffsetNumber; o <= MaxHeapTuplesPerPage; o++)
				scan->rs_analyze_shadow[o] = lsm_page_holds(rel, buf, lblock, o);
			UnlockReleaseBuffer(buf);
		}
		scan->rs_analyze_lblock = lblock;
	}
	if (scan->rs_analyze_shadow[off])
		return true;
	for (int q = 0; q < r; q++)
		if (lsm_run_lookup(rel, rs->runs[q], tid, &rs->chunks[q], NULL, true) != NULL)
			return true;
	return false;
}

/* The next version of the run data page being sampled. */
static bool
lsm_scan_analyze_run_tuple(LsmScanDesc scan, double *liverows,
						   TupleTableSlot *slot)
{
	LsmRunChunk *chunk = scan->rs_analyze_chunk;

	while (scan->rs_analyze_entry < chunk->nentries)
	{
		LsmRunEntry *e = &chunk->entries[scan->rs_analyze_entry++];

		if (e->tup == NULL ||
			lsm_scan_analyze_hidden(scan, scan->rs_analyze_run, &e->tid))
			continue;
		/* committed, without xmax: live */
		*liverows += 1;
		scan->rs_ctup.t_data = e->tup;
		scan->rs_ctup.t_len = e->len;
		scan->rs_ctup.t_self = e->tid;
		scan->rs_ctup.t_tableOid = RelationGetRelid(scan->rs_base.rs_rd);
		ExecStoreBufferHeapTuple(&scan->rs_ctup, slot, scan->rs_cbuf);
		return true;
	}
	ReleaseBuffer(scan->rs_cbuf);
	scan->rs_cbuf = InvalidBuffer;
	scan->rs_analyze_run = -1;
	ExecClearTuple(slot);
	return false;
}

/*
 * lsm_scan_analyze_next_block -- table AM callback scan_analyze_next_block.
 *
 * blockno is a physical block chosen by acquire_sample_rows.  Memtable
 * pages are sampled (kept share-locked until their last version is
 * returned); other pages hold no rows and are skipped.
 */
bool
lsm_scan_analyze_next_block(TableScanDesc sscan, BlockNumber blockno,
							BufferAccessStrategy bstrategy)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;
	Buffer		buf;
	Page		page;

	if (BufferIsValid(scan->rs_cbuf))
		ReleaseBuffer(scan->rs_cbuf);
	scan->rs_cbuf = InvalidBuffer;
	scan->rs_analyze_run = -1;

	/*
	 * blockno is physical if relation_size reported the physical size to
	 * this ANALYZE (the usual case, see lsm_relation_size), logical if it
	 * could not tell that ANALYZE was asking (track_activities off).
	 */
	if (!lsm_analyze_is_sampling(scan->rs_base.rs_rd))
	{
		buf = lsm_read_mem_page(scan->rs_base.rs_rd, blockno, bstrategy);
		if (!BufferIsValid(buf))
			return false;
	}
	else
	{
		if (blockno >= lsm_physical_nblocks(scan->rs_base.rs_rd))
			return false;
		buf = ReadBufferExtended(scan->rs_base.rs_rd, MAIN_FORKNUM, blockno,
								 RBM_NORMAL, bstrategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
	}
	page = BufferGetPage(buf);
	if (LsmPageIsOfType(page, LSM_PAGE_RUN_DATA))
		return lsm_scan_analyze_run_page(scan, buf);
	if (!LsmPageIsOfType(page, LSM_PAGE_MEM))
	{
		UnlockReleaseBuffer(buf);
		return false;
	}
	lsm_verify_mem_page(scan->rs_base.rs_rd, buf,
						LsmPageGetOpaque(page)->lpo_aux);
	scan->rs_cbuf = buf;
	scan->rs_cblock = LsmPageGetOpaque(page)->lpo_aux;
	scan->rs_analyze_off = FirstOffsetNumber;
	return true;
}

/*
 * lsm_scan_analyze_next_tuple -- table AM callback scan_analyze_next_tuple:
 * return the next version to sample and count live and dead ones the way
 * heap does (in-progress changes of other transactions count as if they
 * had not happened; our own as if committed).
 */
bool
lsm_scan_analyze_next_tuple(TableScanDesc sscan, TransactionId OldestXmin,
							double *liverows, double *deadrows,
							TupleTableSlot *slot)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;
	Relation	rel = scan->rs_base.rs_rd;
	Page		page;
	OffsetNumber maxoff;

	if (!BufferIsValid(scan->rs_cbuf))
		return false;
	if (scan->rs_analyze_run >= 0)
		return lsm_scan_analyze_run_tuple(scan, liverows, slot);
	page = BufferGetPage(scan->rs_cbuf);
	maxoff = PageGetMaxOffsetNumber(page);

	for (; scan->rs_analyze_off <= maxoff; scan->rs_analyze_off++)
	{
		HeapTuple	tuple = &scan->rs_ctup;
		bool		sample_it = false;

		if (!lsm_page_get_tuple(rel, scan->rs_cbuf, scan->rs_analyze_off,
								tuple))
			continue;

		switch (lsm_satisfies_vacuum(tuple, OldestXmin))
		{
			case HEAPTUPLE_LIVE:
				sample_it = true;
				*liverows += 1;
				break;
			case HEAPTUPLE_DEAD:
			case HEAPTUPLE_RECENTLY_DEAD:
				*deadrows += 1;
				break;
			case HEAPTUPLE_INSERT_IN_PROGRESS:
				if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data)))
				{
					sample_it = true;
					*liverows += 1;
				}
				break;
			case HEAPTUPLE_DELETE_IN_PROGRESS:
				if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tuple->t_data)))
					*deadrows += 1;
				else
				{
					sample_it = true;
					*liverows += 1;
				}
				break;
		}

		if (sample_it)
		{
			ExecStoreBufferHeapTuple(tuple, slot, scan->rs_cbuf);
			scan->rs_analyze_off++;
			/* the buffer stays locked until the page is done */
			return true;
		}
	}

	UnlockReleaseBuffer(scan->rs_cbuf);
	scan->rs_cbuf = InvalidBuffer;
	ExecClearTuple(slot);
	return false;
}

/* ----------------------------------------------------------------
 * TID helpers
 * ----------------------------------------------------------------
 */

/*
 * lsm_tuple_tid_valid -- could tid name a version this scan can see?
 */
bool
lsm_tuple_tid_valid(TableScanDesc sscan, ItemPointer tid)
{
	LsmScanDesc scan = (LsmScanDesc) sscan;

	/* as heap: any offset; fetching one beyond 291 just finds nothing */
	return ItemPointerIsValid(tid) &&
		ItemPointerGetBlockNumber(tid) < scan->rs_nblocks;
}

/*
 * lsm_tuple_get_latest_tid -- follow the update chain from *tid to the
 * newest version visible to the scan's snapshot.
 */
void
lsm_tuple_get_latest_tid(TableScanDesc sscan, ItemPointer tid)
{
	Relation	rel = sscan->rs_rd;
	Snapshot	snapshot = sscan->rs_snapshot;
	ItemPointerData ctid = *tid;
	TransactionId priorXmax = InvalidTransactionId;
	LsmRunSet  *rs = NULL;

	for (;;)
	{
		Buffer		buf;
		HeapTupleData tp;
		bool		valid;
		bool		last;
		int			found;

		found = lsm_fetch_any(rel, &ctid, &rs, CurrentMemoryContext, &buf, &tp);
		if (found == LSM_FETCH_NONE)
			break;
		/* the chain is broken if xmin is not the updater */
		if (TransactionIdIsValid(priorXmax) &&
			!TransactionIdEquals(priorXmax, HeapTupleHeaderGetXmin(tp.t_data)))
		{
			if (BufferIsValid(buf))
				UnlockReleaseBuffer(buf);
			break;
		}
		valid = lsm_tuple_satisfies(&tp, snapshot);
		lsm_serializable_conflict_out(valid, rel, &tp, snapshot);
		if (valid)
			*tid = ctid;

		last = (tp.t_data->t_infomask & HEAP_XMAX_INVALID) ||
			HeapTupleHeaderIsOnlyLocked(tp.t_data) ||
			HeapTupleHeaderIndicatesMovedPartitions(tp.t_data) ||
			ItemPointerEquals(&tp.t_self, &tp.t_data->t_ctid);
		if (!last)
		{
			ctid = tp.t_data->t_ctid;
			priorXmax = HeapTupleHeaderGetUpdateXid(tp.t_data);
		}
		if (BufferIsValid(buf))
			UnlockReleaseBuffer(buf);
		if (last)
			break;
	}
	if (rs)
		lsm_runset_free(rs);
}
