/*-------------------------------------------------------------------------
 *
 * lsm_vacuum.c
 *	  VACUUM of lsm tables (the relation_vacuum callback).
 *
 * VACUUM reads every page of the relation in physical order:
 *
 *	- versions dead to every snapshot (by the usual OldestXmin horizon) are
 *	  removed: their line pointers become LP_UNUSED.  The offset is never
 *	  handed out again (TIDs are not reused), so no index entry can ever
 *	  lead to a different row, and indexes may be cleaned before or after
 *	  the table; we clean them afterwards, in batches bounded by
 *	  maintenance_work_mem, with the TIDs in ascending order;
 *	- remaining versions are frozen as heap VACUUM would freeze them
 *	  (heap_prepare_freeze_tuple decides, on the same tuple header);
 *	- a memtable page whose versions are all gone is freed (unmapped and
 *	  given to the free space map for reuse);
 *	- free pages are entered in the free space map again, so pages lost
 *	  from it (the FSM is not crash-safe) are found again;
 *	- the dead entries of runs (versions a flush removed while index
 *	  entries could still lead to them, see lsm_flush_classify) join the
 *	  LP_DEAD TIDs whose index entries are deleted; then a small run of
 *	  tombstones hides them, until a merge reaching the oldest run drops
 *	  both.
 *
 * Every page is scanned, so every VACUUM can advance relfrozenxid and
 * relminmxid to the oldest xid and MultiXact that remain.
 *
 * Hot standby: generic WAL records carry no recovery-conflict information,
 * so before removing versions we log the removal horizon separately
 * (lsm_log_conflict_horizon, in src/common/lsm_conflict.c), which cancels
 * standby queries that might still need the versions, exactly as heap's
 * pruning records do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/genam.h"
#include "access/heapam_xlog.h"
#include "access/multixact.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/storage.h"
#include "commands/dbcommands.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/autovacuum.h"
#include "utils/lsyscache.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/pg_rusage.h"
#include "utils/rel.h"
#include "utils/inval.h"
#include "utils/timestamp.h"

#include "common/lsm_common.h"
#include "lsm/lsm_internal.h"

/* enough for any manifest (LSM_MAX_RUNS is computed from the page size) */
#define LSM_MAX_RUNS_FIXED 256

/* State of one VACUUM of an lsm table. */
typedef struct LsmVacState
{
	Relation	rel;
	Relation   *indrels;
	int			nindexes;
	IndexBulkDeleteResult **indstats;
	ParallelVacuumState *pvs;	/* parallel index vacuuming, or NULL */
	BufferAccessStrategy bstrategy;
	bool		do_index_cleanup;
	int			elevel;

	TransactionId OldestXmin;
	MultiXactId OldestMxact;
	TransactionId FreezeLimit;
	MultiXactId MultiXactCutoff;
	bool		aggressive;		/* as heap's: FREEZE, or relfrozenxid old */
	TransactionId NewRelfrozenXid;
	MultiXactId NewRelminMxid;
	TransactionId runs_xid;		/* oldest xid of the runs listed when the
								 * page scan began, or Invalid */
	bool		runs_retired;	/* retired runs were left then ... */
	TransactionId retired_xid;	/* ... and their metapage->retired_xid */
	double		old_live_tuples;	/* reltuples before this VACUUM */

	VacDeadItems *dead_items;	/* LP_DEAD TIDs whose index entries go next */

	/* counters */
	BlockNumber scanned_pages;
	BlockNumber freed_pages;
	BlockNumber truncated_pages;
	bool		merged_tombstones;	/* all runs merged after many deletions */
	BlockNumber notallvisible_pages;	/* memtable pages left not all-visible */
	Buffer		vmbuf;			/* visibility map page kept pinned */
	double		removed_versions;
	double		remaining_versions; /* versions of any state left behind */
	double		live_versions;
	double		hidden_versions;	/* run versions overlay items hide */
	double		recently_dead_versions;
	double		frozen_versions;
	double		lpdead_left;	/* LP_DEAD items left for a later VACUUM */
	int			index_passes;

	/*
	 * Dead entries of runs (see lsm_flush_classify), sorted: cleaned from
	 * the indexes with the LP_DEAD items, then hidden by a run of
	 * tombstones at the end (lsm_publish_tombstones).
	 */
	ItemPointer run_dead;
	int			nrun_dead;

	/*
	 * Dead blocks of the map (LsmMapDeadEntry), in logical block order:
	 * all their offsets go to the index pass, which then clears them.
	 */
	BlockNumber *dead_lblocks;
	OffsetNumber *dead_maxoffs;
	int			ndead_blocks;

	/* runs */
	uint32		nruns_listed;
	uint32		run_ids[LSM_MAX_RUNS_FIXED];
	BlockNumber orphans_freed;
	int			flushed_pages;
	int			merged_runs;
} LsmVacState;

/* qsort comparator of TIDs */
static int
lsm_vacuum_cmp_tid(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/* Is tid a dead entry of a run that this VACUUM cleans? */
static bool
lsm_vacuum_is_run_dead(LsmVacState *vs, ItemPointer tid)
{
	return vs->nrun_dead > 0 &&
		bsearch(tid, vs->run_dead, vs->nrun_dead, sizeof(ItemPointerData),
				lsm_vacuum_cmp_tid) != NULL;
}

/*
 * Do the runs hold a version (or tombstone) at any of the offsets offs[0..n-1]
 * of logical block lblock?  See lsm_vacuum_page.
 */
static bool
lsm_vacuum_in_runs(Relation rel, LsmRunSet *rs, BlockNumber lblock,
				   OffsetNumber *offs, int n)
{
	if (rs->nruns == 0)
		return false;
	for (int i = 0; i < n; i++)
	{
		ItemPointerData tid;

		ItemPointerSet(&tid, lblock, offs[i]);
		if (lsm_runset_lookup(rel, rs, &tid) != NULL)
			return true;
	}
	return false;
}

/*
 * Second pass over one memtable page: the index entries of the LP_DEAD items
 * offs[0..n-1] of logical block lblock are gone, so the items become
 * LP_UNUSED.  The page is set all-visible if that is now true of it, and
 * freed if nothing is left on it.
 *
 * The page cannot have been freed or moved since the first pass saw its
 * LP_DEAD items: besides VACUUM, only flushes, merges and
 * lsm_free_dead_pages free pages, and all of them need the maintenance lock
 * that VACUUM holds.  Versions may have been appended to it meanwhile; they are
 * newer than OldestXmin and keep the page from being all-visible.
 */
static void
lsm_vacuum_page_unused(LsmVacState *vs, BlockNumber lblock,
					   OffsetNumber *offs, int n)
{
	Relation	rel = vs->rel;
	Buffer		buf;
	Page		page;
	BlockNumber blkno;
	OffsetNumber maxoff;
	OffsetNumber unused[MaxHeapTuplesPerPage];
	int			nunused = 0;
	int			k = 0;
	int			nused = 0;
	bool		all_visible = true;
	TransactionId visibility_cutoff_xid = InvalidTransactionId;
	Buffer		vmlock = InvalidBuffer;
	GenericXLogState *state;
	Page		copy;
	bool		overlay;

	buf = lsm_read_mem_page_locked(rel, lblock, vs->bstrategy,
								   BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(buf))
		elog(ERROR, "memtable page of logical block %u of \"%s\" disappeared during VACUUM",
			 lblock, RelationGetRelationName(rel));
	page = BufferGetPage(buf);
	blkno = BufferGetBlockNumber(buf);
	if (LsmPageIsShared(page))
	{
		/* the items become tombstones (the runs hold older copies) */
		state = GenericXLogStart(rel);
		copy = GenericXLogRegisterBuffer(state, buf, 0);
		for (int i = 0; i < n; i++)
		{
			OffsetNumber lp = lsm_page_find(rel, blkno, copy, lblock, offs[i]);

			if (lp != InvalidOffsetNumber && ItemIdIsDead(PageGetItemId(copy, lp)))
				lsm_item_set_tombstone(copy, lp);
		}
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
		return;
	}
	maxoff = PageGetMaxOffsetNumber(page);
	overlay = (LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_OVERLAY) != 0;

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		itemid = PageGetItemId(page, off);
		HeapTupleData tup;

		while (k < n && offs[k] < off)
			k++;
		if (ItemIdIsDead(itemid))
		{
			if (k < n && offs[k] == off)
				unused[nunused++] = off;
			else
			{
				/* found by a later batch of this VACUUM */
				nused++;
				all_visible = false;
			}
			continue;
		}
		if (LsmItemIdIsTombstone(itemid))
		{
			nused++;
			continue;
		}
		if (!lsm_page_get_tuple(rel, buf, off, &tup))
			continue;
		nused++;
		if (!all_visible)
			continue;
		if (lsm_satisfies_vacuum(&tup, vs->OldestXmin) != HEAPTUPLE_LIVE)
			all_visible = false;
		else if (!HeapTupleHeaderXminFrozen(tup.t_data))
		{
			TransactionId xmin = HeapTupleHeaderGetXmin(tup.t_data);

			if (!TransactionIdPrecedes(xmin, vs->OldestXmin))
				all_visible = false;
			else if (!TransactionIdIsValid(visibility_cutoff_xid) ||
					 TransactionIdFollows(xmin, visibility_cutoff_xid))
				visibility_cutoff_xid = xmin;
		}
	}
	if (nunused == 0)
	{
		UnlockReleaseBuffer(buf);
		return;
	}

	/* an overlay page's block has versions in runs too: never all-visible */
	all_visible = all_visible && nused > 0 && !overlay;
	if (all_visible)
	{
		lsm_log_conflict_horizon(rel, visibility_cutoff_xid);
		vmlock = lsm_vm_pin(rel, lblock, true);
		LockBuffer(vmlock, BUFFER_LOCK_EXCLUSIVE);
	}
	state = GenericXLogStart(rel);
	copy = GenericXLogRegisterBuffer(state, buf, 0);
	for (int i = 0; i < nunused; i++)
	{
		/* on an overlay page, a tombstone keeps hiding the runs' copy */
		if (overlay)
			lsm_item_set_tombstone(copy, unused[i]);
		else
			ItemIdSetUnused(PageGetItemId(copy, unused[i]));
	}
	if (all_visible)
		lsm_vm_set_in_record(state, copy, vmlock);
	GenericXLogFinish(state);
	lsm_vm_release(vmlock);
	UnlockReleaseBuffer(buf);

	if (all_visible)
		vs->notallvisible_pages--;
	else if (nused == 0 && lsm_free_mem_page(rel, lblock, blkno))
	{
		vs->freed_pages++;
		vs->notallvisible_pages--;
	}
}

static void lsm_vacuum_indexes(LsmVacState *vs);

/* The index of lblock in vs->dead_lblocks, or -1 if it is not a dead block. */
static int
lsm_vacuum_dead_block(LsmVacState *vs, BlockNumber lblock)
{
	int			lo = 0;
	int			hi = vs->ndead_blocks - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (vs->dead_lblocks[mid] == lblock)
			return mid;
		if (vs->dead_lblocks[mid] < lblock)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * The dead blocks of the map (see LsmMapDeadEntry and lsm_free_dead_page):
 * each stands for LP_DEAD items of a page freed since.  With index cleanup,
 * every offset of such a block joins the TIDs whose index entries are
 * deleted (offsets that never had an entry cost a lookup each), all in one
 * batch, and the index pass then clears the block; without indexes it is
 * cleared at once; with index cleanup disabled it waits, like an LP_DEAD
 * item.  No dead block comes or goes while VACUUM holds the maintenance
 * lock (lsm_free_dead_pages needs it).
 */
static void
lsm_vacuum_dead_blocks(LsmVacState *vs)
{
	vs->ndead_blocks = lsm_map_dead_blocks(vs->rel, &vs->dead_lblocks,
										   &vs->dead_maxoffs);
	for (int d = 0; d < vs->ndead_blocks; d++)
	{
		BlockNumber lblock = vs->dead_lblocks[d];
		OffsetNumber maxoff = vs->dead_maxoffs[d];

		if (vs->nindexes == 0)
		{
			if (lsm_clear_dead_block(vs->rel, lblock, maxoff))
				vs->freed_pages++;
			continue;
		}
		vs->notallvisible_pages++;
		if (!vs->do_index_cleanup)
		{
			vs->lpdead_left += maxoff;
			continue;
		}
		if (vs->dead_items->num_items + maxoff > vs->dead_items->max_items)
			lsm_vacuum_indexes(vs);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemPointerData tid;

			ItemPointerSet(&tid, lblock, off);
			vs->dead_items->items[vs->dead_items->num_items++] = tid;
		}
	}
}

/*
 * Delete the collected TIDs from every index, then make their LP_DEAD items
 * LP_UNUSED (heap's two passes: a TID may be forgotten by the table only
 * once no index entry leads to it any more, because until then an
 * index-only scan must not find its page all-visible).
 */
static void
lsm_vacuum_indexes(LsmVacState *vs)
{
	VacDeadItems *dead_items = vs->dead_items;
	int			i;

	if (dead_items->num_items == 0)
		return;
	Assert(vs->do_index_cleanup);

	/*
	 * The index AMs look TIDs up by binary search.  Pages are scanned in
	 * physical order, which is not logical block order once pages have been
	 * reused, so sort.
	 */
	qsort(dead_items->items, dead_items->num_items, sizeof(ItemPointerData),
		  lsm_vacuum_cmp_tid);

	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_VACUUM_INDEX);
	if (vs->pvs != NULL)
		parallel_vacuum_bulkdel_all_indexes(vs->pvs,
											(long) vs->old_live_tuples,
											vs->index_passes);
	else
	{
		for (i = 0; i < vs->nindexes; i++)
		{
			IndexVacuumInfo ivinfo;

			ivinfo.index = vs->indrels[i];
			ivinfo.analyze_only = false;
			ivinfo.report_progress = false;
			ivinfo.estimated_count = true;
			ivinfo.message_level = vs->elevel;
			ivinfo.num_heap_tuples = vs->old_live_tuples;
			ivinfo.strategy = vs->bstrategy;
			vs->indstats[i] = vac_bulkdel_one_index(&ivinfo,
													vs->indstats[i],
													dead_items);
		}
	}
	vs->index_passes++;
	pgstat_progress_update_param(PROGRESS_VACUUM_NUM_INDEX_VACUUMS,
								 vs->index_passes);

	/* second pass over the table, one logical block at a time */
	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_VACUUM_HEAP);
	i = 0;
	while (i < dead_items->num_items)
	{
		BlockNumber lblock = ItemPointerGetBlockNumber(&dead_items->items[i]);
		OffsetNumber offs[MaxHeapTuplesPerPage];
		int			n = 0;
		int			d;

		vacuum_delay_point();
		while (i < dead_items->num_items &&
			   ItemPointerGetBlockNumber(&dead_items->items[i]) == lblock)
		{
			/* (a run's dead entry: the tombstones at the end hide it) */
			if (n < MaxHeapTuplesPerPage &&
				!lsm_vacuum_is_run_dead(vs, &dead_items->items[i]))
				offs[n++] = ItemPointerGetOffsetNumber(&dead_items->items[i]);
			i++;
		}
		if (n == 0)
			continue;
		d = lsm_vacuum_dead_block(vs, lblock);
		if (d >= 0)
		{
			/* a dead block: offsets 1 .. maxoff are all in this batch */
			if (n == vs->dead_maxoffs[d] &&
				lsm_clear_dead_block(vs->rel, lblock, vs->dead_maxoffs[d]))
			{
				vs->notallvisible_pages--;
				vs->freed_pages++;
			}
		}
		else
			lsm_vacuum_page_unused(vs, lblock, offs, n);
	}
	dead_items->num_items = 0;
	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_SCAN_HEAP);
}

/* Remember an LP_DEAD TID for index cleanup; clean indexes when full. */
static void
lsm_vacuum_record_dead(LsmVacState *vs, ItemPointer tid)
{
	if (vs->dead_items->num_items >= vs->dead_items->max_items)
		lsm_vacuum_indexes(vs);
	vs->dead_items->items[vs->dead_items->num_items++] = *tid;
}

/*
 * Classify a version (not LP_DEAD) for VACUUM's first pass and count it:
 * for a dead one, advance *latestRemovedXid; for one being or recently
 * deleted, note the xid that will make it prunable.  In-progress
 * insertions count as live only if they are ours, as heap counts them.
 */
static HTSV_Result
lsm_vacuum_classify(LsmVacState *vs, HeapTuple tup,
					TransactionId *latestRemovedXid,
					TransactionId *new_prune_xid)
{
	HTSV_Result res = lsm_satisfies_vacuum(tup, vs->OldestXmin);

	switch (res)
	{
		case HEAPTUPLE_DEAD:
			HeapTupleHeaderAdvanceLatestRemovedXid(tup->t_data,
												   latestRemovedXid);
			break;
		case HEAPTUPLE_LIVE:
			vs->live_versions += 1;
			break;
		case HEAPTUPLE_RECENTLY_DEAD:
			vs->recently_dead_versions += 1;
			lsm_prune_note_xid(new_prune_xid,
							   HeapTupleHeaderGetUpdateXid(tup->t_data));
			break;
		case HEAPTUPLE_INSERT_IN_PROGRESS:
			if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data)))
				vs->live_versions += 1;
			break;
		case HEAPTUPLE_DELETE_IN_PROGRESS:
			vs->live_versions += 1;
			lsm_prune_note_xid(new_prune_xid,
							   HeapTupleHeaderGetUpdateXid(tup->t_data));
			break;
	}
	return res;
}

/*
 * lsm_moved_horizon -- the oldest xid and MultiXact (Invalid if none) in the
 * versions among items lps[0 .. n-1] of shared overlay page "page", which
 * lsm_move_shared_block is about to move to another page.  Removed versions
 * and tombstones carry nothing VACUUM keeps.  The caller holds the page
 * locked; a MultiXact's members are looked up as heap does it.
 */
void
lsm_moved_horizon(Page page, const OffsetNumber *lps, int n,
				  TransactionId *xid, MultiXactId *mxid)
{
	TransactionId next_xid = ReadNextTransactionId();
	MultiXactId next_mxid = ReadNextMultiXactId();
	TransactionId oldest_xid = next_xid;
	MultiXactId oldest_mxid = next_mxid;

	for (int i = 0; i < n; i++)
	{
		ItemId		itemid = PageGetItemId(page, lps[i]);

		if (!ItemIdIsNormal(itemid))
			continue;
		/* the cutoffs only decide the result, which is not wanted here */
		(void) heap_tuple_would_freeze((HeapTupleHeader)
									   ((char *) PageGetItem(page, itemid) +
										LSM_SHARED_PREFIX),
									   FirstNormalTransactionId,
									   FirstMultiXactId,
									   &oldest_xid, &oldest_mxid);
	}
	*xid = oldest_xid == next_xid ? InvalidTransactionId : oldest_xid;
	*mxid = oldest_mxid == next_mxid ? InvalidMultiXactId : oldest_mxid;
}

/*
 * lsm_moved_lower -- lower the metapage's record of the oldest xid and
 * MultiXact moved since VACUUM began its scan to xid and mxid (Invalid:
 * nothing).  Returns whether it changes; with apply false, only says so
 * (the caller then registers the metapage in its WAL record and applies).
 */
bool
lsm_moved_lower(LsmMetaPage meta, TransactionId xid, MultiXactId mxid,
				bool apply)
{
	bool		lower_xid = TransactionIdIsNormal(xid) &&
		(!TransactionIdIsValid(meta->moved_xid) ||
		 TransactionIdPrecedes(xid, meta->moved_xid));
	bool		lower_mxid = MultiXactIdIsValid(mxid) &&
		(!MultiXactIdIsValid(meta->moved_mxid) ||
		 MultiXactIdPrecedes(mxid, meta->moved_mxid));

	if (apply && lower_xid)
		meta->moved_xid = xid;
	if (apply && lower_mxid)
		meta->moved_mxid = mxid;
	return lower_xid || lower_mxid;
}

/*
 * lsm_vacuum_reset_moved -- before the page scan: forget the versions moved
 * so far (the scan finds them where they are now) and start recording
 * those moved from here on.  The moves lock the metapage exclusively, so
 * none is half done.
 */
static void
lsm_vacuum_reset_moved(Relation rel)
{
	Buffer		metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	LsmMetaPage meta;

	if (!BufferIsValid(metabuf))
		return;
	meta = LsmPageGetMeta(BufferGetPage(metabuf));
	if (TransactionIdIsValid(meta->moved_xid) ||
		MultiXactIdIsValid(meta->moved_mxid))
	{
		GenericXLogState *state = GenericXLogStart(rel);

		meta = LsmPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
		meta->moved_xid = InvalidTransactionId;
		meta->moved_mxid = InvalidMultiXactId;
		GenericXLogFinish(state);
	}
	UnlockReleaseBuffer(metabuf);
}

/*
 * lsm_vacuum_unseen_horizon -- after everything else: bound the new
 * relfrozenxid and relminmxid by what the page scan may have missed.
 *
 * Heap's VACUUM may trust its page scan, because versions never move and
 * new ones carry new xids.  Here old xids reach pages the scan has passed
 * (or pages added after it counted them) in two ways while it runs:
 *
 *	- a move (lsm_move_shared_block) takes a block's copies from a shared
 *	  overlay page not scanned yet to another page: the moves record the
 *	  oldest xid and MultiXact they carried in the metapage;
 *	- an overlay copy of a row that lives in a run carries the run's xmin,
 *	  and a merge at the end of this VACUUM may freeze the run's own version
 *	  and so drop the xid from the runs' oldest_xid: the runs listed when
 *	  the scan began bound those.  A writer that looked the row up before
 *	  a switch may copy it from a run retired since: the metapage's
 *	  retired_xid, the oldest xid of the retired runs, bounds those (in
 *	  tables made before 2026-12-07 it may be unknown, and relfrozenxid
 *	  then keeps its old value while any retired run is left; until
 *	  2026-12-07 it always did).
 *
 * Until 2026-12-07 neither was counted: a later VACUUM failed with "found
 * xmin/xmax ... from before relfrozenxid" (TAP 025_lsm_vacuum_moves), and
 * after enough xids the versions' status could have been lost with the
 * truncated commit log.
 */
static void
lsm_vacuum_unseen_horizon(LsmVacState *vs)
{
	Buffer		metabuf = lsm_read_metapage(vs->rel, BUFFER_LOCK_SHARE);

	if (BufferIsValid(metabuf))
	{
		LsmMetaPage meta = LsmPageGetMeta(BufferGetPage(metabuf));

		if (TransactionIdIsNormal(meta->moved_xid) &&
			TransactionIdPrecedes(meta->moved_xid, vs->NewRelfrozenXid))
			vs->NewRelfrozenXid = meta->moved_xid;
		if (MultiXactIdIsValid(meta->moved_mxid) &&
			MultiXactIdPrecedes(meta->moved_mxid, vs->NewRelminMxid))
			vs->NewRelminMxid = meta->moved_mxid;
		UnlockReleaseBuffer(metabuf);
	}
	if (TransactionIdIsNormal(vs->runs_xid) &&
		TransactionIdPrecedes(vs->runs_xid, vs->NewRelfrozenXid))
		vs->NewRelfrozenXid = vs->runs_xid;
	if (vs->runs_retired)
	{
		if (!TransactionIdIsValid(vs->retired_xid))
			vs->NewRelfrozenXid = vs->rel->rd_rel->relfrozenxid;
		else if (TransactionIdIsNormal(vs->retired_xid) &&
				 TransactionIdPrecedes(vs->retired_xid, vs->NewRelfrozenXid))
			vs->NewRelfrozenXid = vs->retired_xid;
	}
}

/* Does a remaining version need freezing?  Heap's rules on its header. */
static bool
lsm_vacuum_prepare_freeze(LsmVacState *vs, HeapTuple tup,
						  xl_heap_freeze_tuple *frz)
{
	bool		totally_frozen;

	return heap_prepare_freeze_tuple(tup->t_data,
									 vs->rel->rd_rel->relfrozenxid,
									 vs->rel->rd_rel->relminmxid,
									 vs->FreezeLimit, vs->MultiXactCutoff,
									 frz, &totally_frozen,
									 &vs->NewRelfrozenXid,
									 &vs->NewRelminMxid);
}

/*
 * Before a record that removes versions (latestRemovedXid valid) or
 * freezes some: cancel the standby queries that could still see them.
 * Freezing uses the same horizon as heap's freeze records (FreezeLimit).
 */
static void
lsm_vacuum_log_horizons(LsmVacState *vs, TransactionId latestRemovedXid,
						bool freezes)
{
	if (TransactionIdIsValid(latestRemovedXid))
		lsm_log_conflict_horizon(vs->rel, latestRemovedXid);
	if (freezes)
	{
		TransactionId horizon = vs->FreezeLimit;

		TransactionIdRetreat(horizon);
		lsm_log_conflict_horizon(vs->rel, horizon);
	}
}

/*
 * First pass over a shared overlay page (pinned, not locked): as
 * lsm_vacuum_page, for copies of versions of many logical blocks.  Each
 * item names its TID.  Removed versions become LP_DEAD keeping their
 * storage while index entries remain, tombstones afterwards (or at once
 * without indexes): the runs still hold older copies.  Such a page is
 * never all-visible.  Returns true if no item is left at all (every block
 * it served has moved away): the caller frees it.
 */
static bool
lsm_vacuum_shared_page(LsmVacState *vs, Buffer buf)
{
	Relation	rel = vs->rel;
	BlockNumber blkno = BufferGetBlockNumber(buf);
	Page		page;
	OffsetNumber maxoff;
	OffsetNumber dead[MaxHeapTuplesPerPage];
	int			ndead = 0;
	OffsetNumber olddead[MaxHeapTuplesPerPage];
	int			nolddead = 0;
	OffsetNumber frozen[MaxHeapTuplesPerPage];
	xl_heap_freeze_tuple frz[MaxHeapTuplesPerPage];
	int			nfrozen = 0;
	int			nremaining = 0;
	int			nused = 0;
	TransactionId latestRemovedXid = InvalidTransactionId;
	TransactionId new_prune_xid = InvalidTransactionId;
	bool		leaves_lpdead;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	lsm_verify_mem_page(rel, buf, LsmPageGetOpaque(page)->lpo_aux);
	maxoff = PageGetMaxOffsetNumber(page);

	for (OffsetNumber lp = FirstOffsetNumber; lp <= maxoff; lp++)
	{
		ItemId		itemid = PageGetItemId(page, lp);
		HeapTupleData tup;

		if (!ItemIdIsUsed(itemid))
			continue;
		nused++;
		if (ItemIdIsDead(itemid))
		{
			olddead[nolddead++] = lp;
			continue;
		}
		if (!lsm_page_get_tuple(rel, buf, lp, &tup))
			continue;			/* a tombstone */

		if (lsm_vacuum_classify(vs, &tup, &latestRemovedXid,
								&new_prune_xid) == HEAPTUPLE_DEAD)
		{
			dead[ndead++] = lp;
			continue;
		}
		nremaining++;
		if (lsm_vacuum_prepare_freeze(vs, &tup, &frz[nfrozen]))
			frozen[nfrozen++] = lp;
	}

	leaves_lpdead = vs->nindexes > 0 && (ndead > 0 || nolddead > 0);
	if (ndead > 0 || (vs->nindexes == 0 && nolddead > 0) || nfrozen > 0)
	{
		GenericXLogState *state;
		Page		copy;

		lsm_vacuum_log_horizons(vs, ndead > 0 ? latestRemovedXid :
								InvalidTransactionId, nfrozen > 0);
		state = GenericXLogStart(rel);
		copy = GenericXLogRegisterBuffer(state, buf, 0);
		for (int i = 0; i < nfrozen; i++)
			heap_execute_freeze_tuple((HeapTupleHeader)
									  ((char *) PageGetItem(copy, PageGetItemId(copy, frozen[i])) +
									   LSM_SHARED_PREFIX),
									  &frz[i]);
		for (int i = 0; i < ndead; i++)
		{
			if (vs->nindexes > 0)
				lsm_item_set_dead(copy, dead[i]);
			else
				lsm_item_set_tombstone(copy, dead[i]);
		}
		if (vs->nindexes == 0)
			for (int i = 0; i < nolddead; i++)
				lsm_item_set_tombstone(copy, olddead[i]);
		((PageHeader) copy)->pd_prune_xid = new_prune_xid;
		GenericXLogFinish(state);
	}

	/* TIDs whose index entries are to be deleted (read before unlocking) */
	if (leaves_lpdead && vs->do_index_cleanup)
	{
		ItemPointerData tid;

		for (int i = 0; i < nolddead; i++)
			if (lsm_page_item_tid(rel, blkno, page, olddead[i], &tid))
				lsm_vacuum_record_dead(vs, &tid);
		for (int i = 0; i < ndead; i++)
			if (lsm_page_item_tid(rel, blkno, page, dead[i], &tid))
				lsm_vacuum_record_dead(vs, &tid);
	}
	else if (leaves_lpdead)
		vs->lpdead_left += ndead + nolddead;
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);

	vs->frozen_versions += nfrozen;
	vs->removed_versions += ndead;
	vs->remaining_versions += nremaining;
	/* every item stays (removed copies as tombstones), hiding a run's copy */
	vs->hidden_versions += nused;
	if (nused > 0)
		vs->notallvisible_pages++;
	return nused == 0 && maxoff > 0;
}

/*
 * The used line pointers of a memtable page (locked).  On an overlay page
 * each is a copy of a version that lives in a run, or a tombstone or
 * LP_DEAD item where such a copy was removed, and hides the run's version
 * from readers.
 */
static int
lsm_page_used_items(Page page)
{
	int			n = 0;

	for (OffsetNumber off = FirstOffsetNumber;
		 off <= PageGetMaxOffsetNumber(page); off++)
		if (ItemIdIsUsed(PageGetItemId(page, off)))
			n++;
	return n;
}

/*
 * First pass over one memtable page (pinned, not locked): remove dead
 * versions, freeze old ones, set the visibility map bit.
 *
 * Without indexes a dead version's line pointer becomes LP_UNUSED at once
 * (so do LP_DEAD items left by pruning, lsm_prune.c).
 * With indexes it becomes LP_DEAD: the version is gone, but its TID stays
 * reserved and the page stays not all-visible until the index entries are
 * deleted and lsm_vacuum_page_unused runs.  LP_DEAD items left by an earlier
 * VACUUM (INDEX_CLEANUP off, or interrupted) are collected again.
 *
 * Returns true if the page is left without any item (it can be freed).
 */
static bool
lsm_vacuum_page(LsmVacState *vs, Buffer buf)
{
	Relation	rel = vs->rel;
	Page		page;
	OffsetNumber maxoff;
	OffsetNumber dead[MaxHeapTuplesPerPage];
	int			ndead = 0;
	OffsetNumber olddead[MaxHeapTuplesPerPage];
	int			nolddead = 0;
	OffsetNumber frozen[MaxHeapTuplesPerPage];
	xl_heap_freeze_tuple frz[MaxHeapTuplesPerPage];
	int			nfrozen = 0;
	int			nremaining = 0;
	TransactionId latestRemovedXid = InvalidTransactionId;
	TransactionId new_prune_xid = InvalidTransactionId;
	BlockNumber lblock;
	bool		all_visible = true;
	bool		leaves_lpdead;
	int			nolddead_clear;
	bool		will_be_all_visible;
	bool		overlay;
	bool		make_overlay = false;
	TransactionId visibility_cutoff_xid = InvalidTransactionId;
	bool		vm_set;
	bool		set_vm = false;
	bool		clear_vm = false;
	Buffer		vmlock = InvalidBuffer;
	LsmRunSet  *rs;

	/*
	 * The view of the runs, brought up to date before the page is locked
	 * (it may read the metapage, which comes first in the lock order); the
	 * maintenance lock keeps it current meanwhile.
	 */
	rs = lsm_runset_cached(rel);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	lblock = LsmPageGetOpaque(page)->lpo_aux;
	lsm_verify_mem_page(rel, buf, lblock);
	maxoff = PageGetMaxOffsetNumber(page);
	overlay = (LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_OVERLAY) != 0;

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		HeapTupleData tup;
		HTSV_Result res;

		if (ItemIdIsDead(PageGetItemId(page, off)))
		{
			olddead[nolddead++] = off;
			continue;
		}
		if (!lsm_page_get_tuple(rel, buf, off, &tup))
			continue;

		res = lsm_vacuum_classify(vs, &tup, &latestRemovedXid, &new_prune_xid);
		if (res == HEAPTUPLE_DEAD)
		{
			dead[ndead++] = off;
			continue;
		}
		if (res != HEAPTUPLE_LIVE)
			all_visible = false;
		else if (!HeapTupleHeaderXminFrozen(tup.t_data))
		{
			/* visible to all only if inserted before every snapshot */
			TransactionId xmin = HeapTupleHeaderGetXmin(tup.t_data);

			if (!TransactionIdPrecedes(xmin, vs->OldestXmin))
				all_visible = false;
			else if (!TransactionIdIsValid(visibility_cutoff_xid) ||
					 TransactionIdFollows(xmin, visibility_cutoff_xid))
				visibility_cutoff_xid = xmin;
		}
		nremaining++;
		if (lsm_vacuum_prepare_freeze(vs, &tup, &frz[nfrozen]))
			frozen[nfrozen++] = off;
	}

	/*
	 * An ordinary page whose versions a run holds as well is what a flush
	 * leaves when it is interrupted (crash, error, cancel) after publishing
	 * its run and before freeing the page.  Removing a version there must
	 * leave a tombstone, or the run's copy would be seen again once the page
	 * is flushed or freed: such a page becomes an overlay page now.  Only a
	 * version about to be removed is asked about (bloom filters make the
	 * usual "no" cheap); the maintenance lock keeps flushes out meanwhile.
	 */
	if (!overlay && (ndead > 0 || nolddead > 0) &&
		(lsm_vacuum_in_runs(rel, rs, lblock, dead, ndead) ||
		 lsm_vacuum_in_runs(rel, rs, lblock, olddead, nolddead)))
	{
		overlay = true;
		make_overlay = true;
	}

	/*
	 * With indexes, removed versions stay LP_DEAD until their entries go.
	 * Without, LP_DEAD items (left by pruning) are done with at once.
	 */
	leaves_lpdead = vs->nindexes > 0 && (ndead > 0 || nolddead > 0);
	nolddead_clear = vs->nindexes > 0 ? 0 : nolddead;
	will_be_all_visible = all_visible && !leaves_lpdead && nremaining > 0 &&
		!overlay;

	/*
	 * The visibility map: set the bit of a page whose versions everybody
	 * sees; repair a bit or page flag that contradicts the page (heap warns
	 * about the same cases).  A version dead to everybody cannot be on an
	 * all-visible page: its deletion (or insertion) cleared the bit.
	 */
	vm_set = lsm_vm_is_set(rel, lblock, &vs->vmbuf);
	if (will_be_all_visible && (!PageIsAllVisible(page) || !vm_set))
		set_vm = true;
	else if ((!all_visible || ndead > 0 || nolddead > 0) &&
			 (PageIsAllVisible(page) || vm_set))
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("memtable page of logical block %u of \"%s\" is marked all-visible but holds versions not visible to everybody",
						lblock, RelationGetRelationName(rel))));
		clear_vm = true;
	}
	if (set_vm || (clear_vm && vm_set))
	{
		vmlock = lsm_vm_pin(rel, lblock, set_vm);
		LockBuffer(vmlock, BUFFER_LOCK_EXCLUSIVE);
	}

	if (ndead > 0 || nolddead_clear > 0 || nfrozen > 0 || set_vm ||
		clear_vm || make_overlay)
	{
		GenericXLogState *state;
		Page		copy;

		/*
		 * Standby queries that could still see what is removed, frozen or
		 * made all-visible here are cancelled first.  Freezing uses the
		 * same horizon as heap's freeze records (FreezeLimit).
		 */
		lsm_vacuum_log_horizons(vs, ndead > 0 ? latestRemovedXid :
								InvalidTransactionId, nfrozen > 0);
		if (set_vm)
			lsm_log_conflict_horizon(rel, visibility_cutoff_xid);

		state = GenericXLogStart(rel);
		copy = GenericXLogRegisterBuffer(state, buf, 0);
		if (make_overlay)
		{
			/* (LSM_MEM_NO_VERSIONS is never set on an overlay page) */
			LsmPageGetOpaque(copy)->lpo_flags |= LSM_MEM_OVERLAY | LSM_MEM_SEALED;
			LsmPageGetOpaque(copy)->lpo_flags &= ~LSM_MEM_NO_VERSIONS;
		}
		if (set_vm)
			lsm_vm_set_in_record(state, copy, vmlock);
		else if (clear_vm)
		{
			PageSetAllVisible(copy);	/* so that the next call clears both */
			lsm_vm_clear_in_record(state, copy, vmlock);
		}
		for (int i = 0; i < nfrozen; i++)
		{
			ItemId		itemid = PageGetItemId(copy, frozen[i]);

			heap_execute_freeze_tuple((HeapTupleHeader) PageGetItem(copy, itemid),
									  &frz[i]);
		}
		for (int i = 0; i < ndead; i++)
		{
			if (vs->nindexes > 0)
				ItemIdSetDead(PageGetItemId(copy, dead[i]));
			else if (overlay)
				lsm_item_set_tombstone(copy, dead[i]);
			else
				ItemIdSetUnused(PageGetItemId(copy, dead[i]));
		}
		for (int i = 0; i < nolddead_clear; i++)
		{
			if (overlay)
				lsm_item_set_tombstone(copy, olddead[i]);
			else
				ItemIdSetUnused(PageGetItemId(copy, olddead[i]));
		}
		/* what is left to prune (lsm_prune.c) */
		((PageHeader) copy)->pd_prune_xid = new_prune_xid;
		GenericXLogFinish(state);
	}
	lsm_vm_release(vmlock);
	/* on an overlay page every item hides a version of the runs */
	if (overlay)
		vs->hidden_versions += lsm_page_used_items(page);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);

	vs->frozen_versions += nfrozen;
	vs->removed_versions += ndead;
	vs->remaining_versions += nremaining;
	if ((nremaining > 0 || leaves_lpdead) && !will_be_all_visible)
		vs->notallvisible_pages++;

	/* TIDs whose index entries are to be deleted */
	if (leaves_lpdead && vs->do_index_cleanup)
	{
		ItemPointerData tid;

		for (int i = 0; i < nolddead; i++)
		{
			ItemPointerSet(&tid, lblock, olddead[i]);
			lsm_vacuum_record_dead(vs, &tid);
		}
		for (int i = 0; i < ndead; i++)
		{
			ItemPointerSet(&tid, lblock, dead[i]);
			lsm_vacuum_record_dead(vs, &tid);
		}
	}
	else if (leaves_lpdead)
		vs->lpdead_left += ndead + nolddead;

	return nremaining == 0 && !leaves_lpdead && maxoff > 0;
}

/*
 * Does any memtable page hold a version?  (Under AccessExclusiveLock, to
 * re-check what the scan saw before truncating.)
 */
static bool
lsm_vacuum_table_is_empty(Relation rel, BlockNumber nblocks)
{
	for (BlockNumber blkno = LSM_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = ReadBuffer(rel, blkno);
		Page		page = BufferGetPage(buf);
		bool		used = false;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		if (!PageIsNew(page) &&
			LsmPageGetOpaque(page)->lpo_type == LSM_PAGE_MEM)
		{
			for (OffsetNumber off = FirstOffsetNumber;
				 off <= PageGetMaxOffsetNumber(page); off++)
				if (ItemIdIsUsed(PageGetItemId(page, off)))
				{
					used = true;
					break;
				}
		}
		UnlockReleaseBuffer(buf);
		if (used)
			return false;
	}
	return true;
}

/*
 * The versions in the listed runs, and their tombstones and dead entries
 * (lsm_runs_hidden_versions tells which versions these hide).
 */
static double
lsm_vacuum_run_versions(Relation rel, double *tombstones)
{
	LsmRunSet  *rs = lsm_runset_cached(rel);
	double		n = 0;

	*tombstones = 0;
	for (int r = 0; r < rs->nruns; r++)
	{
		n += (double) rs->runs[r]->nversions;
		*tombstones += (double) rs->runs[r]->ntombstones;
	}
	return n;
}

/*
 * The live versions of the runs, for the row count: their versions less
 * those a tombstone of a newer run hides and those an item of an overlay
 * page hides (a copy made to delete, update or lock the row, counted by
 * the page scan if it is live, or the tombstone or LP_DEAD item left where
 * VACUUM removed such a copy).  Until 2026-12-07 the overlay items were
 * not subtracted: after a DELETE of all the rows of a table that lived in
 * a run, VACUUM left reltuples at the run's row count, and after locking
 * all of them (SELECT ... FOR UPDATE, or foreign-key checks) at twice it.
 *
 * Which versions the runs' tombstones and dead entries hide is looked up
 * (lsm_runs_hidden_versions): until 2026-12-07 each of them was taken to
 * hide one, but a dead entry whose row never reached a run hides none, and
 * the tombstone VACUUM publishes over a dead entry hides the same version
 * as the dead entry, so that after such entries the count was low until a
 * merge.  Still inexact until a merge of the runs concerned
 * (doc/lsm-design.md, VACUUM): a live version a flush wrote from an overlay
 * page that was an ordinary page once is counted in the new run and in the
 * older one (pages made for copies write none, lsm_page_to_run).
 */
static double
lsm_vacuum_run_live(LsmVacState *vs)
{
	double		tombstones;
	double		n = lsm_vacuum_run_versions(vs->rel, &tombstones);

	if (tombstones > 0)
		n -= lsm_runs_hidden_versions(vs->rel);
	return Max(n - vs->hidden_versions, 0);
}

/*
 * Should VACUUM try to give space back?  Only then does it ask for the
 * AccessExclusiveLock, as heap's VACUUM truncates only a tail worth it
 * (should_attempt_truncation): the lock, WAL-logged for standbys, makes
 * their replay wait for (and then cancel) every query that has read the
 * table, and logging it takes a transaction id.  Until 2026-12-07 every
 * VACUUM of an lsm table took it, even with nothing to give back.
 *
 * Worth it are: a table left without any version (truncated to zero
 * blocks); a merge of all runs after many deletions (lsm_shrink may
 * rewrite them into the free pages); a free tail above the runs of at
 * least LSM_TRUNCATE_MINIMUM pages or 1/LSM_TRUNCATE_FRACTION of the
 * table (heap's thresholds); and, in an aggressive VACUUM (FREEZE, or
 * relfrozenxid old), retired runs left behind: only the lock frees them
 * before the next transaction id is assigned anywhere, and until they are
 * freed they hold the next VACUUM's relfrozenxid back
 * (lsm_vacuum_unseen_horizon).
 */
#define LSM_TRUNCATE_MINIMUM	1000
#define LSM_TRUNCATE_FRACTION	16

static bool
lsm_vacuum_should_truncate(LsmVacState *vs, LsmManifest m, bool may_empty,
						   BlockNumber nblocks)
{
	BlockNumber enough;

	if (may_empty || vs->merged_tombstones)
		return true;
	if (vs->aggressive && m->nretired > 0)
		return true;
	enough = Max(Min(LSM_TRUNCATE_MINIMUM, nblocks / LSM_TRUNCATE_FRACTION), 1);
	return lsm_shrink_freeable(vs->rel, enough) >= enough;
}

/*
 * Give back disk space: trailing free pages are cut off; a table left
 * without any version is truncated to zero blocks, like a new table (its
 * row ids start over, which is safe because no index entry can lead to a
 * TID any more: an item stays LP_DEAD until its index entries are deleted,
 * and a table with LP_DEAD items is not truncated).  As for heap, this
 * needs an AccessExclusiveLock, asked for only when there is enough to
 * give back (lsm_vacuum_should_truncate) and taken only if it is free
 * right now; it is kept until the end of the VACUUM's transaction, and
 * other backends are told to drop their cached map locations.
 */
static void
lsm_vacuum_truncate(LsmVacState *vs)
{
	Relation	rel = vs->rel;
	BlockNumber nblocks = lsm_physical_nblocks(rel);
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;
	bool		may_empty;

	if (nblocks == 0)
		return;

	/*
	 * Nothing left that the scan saw and no run (the maintenance lock keeps
	 * the runs as they are): the table may be empty, which is checked under
	 * the lock, because rows may be inserted meanwhile.
	 */
	lsm_manifest_read(rel, m);
	may_empty = vs->remaining_versions == 0 && vs->lpdead_left == 0 &&
		m->nruns == 0;
	if (!lsm_vacuum_should_truncate(vs, m, may_empty, nblocks))
		return;
	if (!ConditionalLockRelation(rel, AccessExclusiveLock))
		return;

	nblocks = lsm_physical_nblocks(rel);
	if (may_empty && lsm_vacuum_table_is_empty(rel, nblocks))
	{
		pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
									 PROGRESS_VACUUM_PHASE_TRUNCATE);
		RelationTruncate(rel, 0);
		vs->truncated_pages = nblocks;
		lsm_invalidate_cache(rel);
		CacheInvalidateRelcache(rel);
		return;
	}

	/*
	 * Otherwise move pages down and cut off the free tail (lsm_shrink),
	 * yielding to lock waiters as heap's truncation does.  VACUUM rewrites
	 * runs (which holds the lock for longer and writes the runs to WAL once
	 * more) only after it merged all runs because of many deletions, and
	 * only if the merged run had to be written far beyond the space the
	 * table needs (lsm_shrink decides, see its step 1): the merge could not
	 * use the pages freed by this VACUUM, which only the exclusive lock
	 * lets it reuse at once.  Otherwise rewriting is lsm_compact(full)'s job.
	 */
	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_TRUNCATE);
	vs->truncated_pages = lsm_shrink(rel, vs->merged_tombstones, true);
}

/*
 * lsm_relation_vacuum -- table AM callback relation_vacuum (plain VACUUM
 * and autovacuum; VACUUM FULL goes through CLUSTER).
 */
void
lsm_relation_vacuum(Relation rel, VacuumParams *params,
					BufferAccessStrategy bstrategy)
{
	LsmVacState vs;
	BlockNumber nblocks;
	BlockNumber nlblocks;
	BlockNumber relpages;
	BlockNumber relallvisible;
	int			max_items;
	int			mem_items;		/* TIDs maintenance_work_mem holds */
	bool		frozenxid_updated;
	bool		minmulti_updated;
	uint32		loading_id = 0; /* a run being loaded (run ids start at 1) */
	PGRUsage	ru0;
	TimestampTz starttime = 0;
	bool		verbose = (params->options & VACOPT_VERBOSE) != 0;
	bool		instrument = verbose ||
		(IsAutoVacuumWorkerProcess() && params->log_min_duration >= 0);

	memset(&vs, 0, sizeof(vs));
	vs.rel = rel;
	vs.bstrategy = bstrategy;
	vs.elevel = verbose ? INFO : DEBUG2;
	vs.old_live_tuples = Max(rel->rd_rel->reltuples, 0);
	lsm_settings_load(rel);		/* the table's own compaction settings */

	if (instrument)
	{
		pg_rusage_init(&ru0);
		starttime = GetCurrentTimestamp();
	}

	pgstat_progress_start_command(PROGRESS_COMMAND_VACUUM,
								  RelationGetRelid(rel));

	vs.aggressive = vacuum_set_xid_limits(rel,
										  params->freeze_min_age,
										  params->freeze_table_age,
										  params->multixact_freeze_min_age,
										  params->multixact_freeze_table_age,
										  &vs.OldestXmin, &vs.OldestMxact,
										  &vs.FreezeLimit, &vs.MultiXactCutoff);
	/* everything left is at least this new (every page is scanned) */
	vs.NewRelfrozenXid = vs.OldestXmin;
	vs.NewRelminMxid = vs.OldestMxact;

	vac_open_indexes(rel, RowExclusiveLock, &vs.nindexes, &vs.indrels);
	vs.indstats = palloc0(sizeof(IndexBulkDeleteResult *) * Max(vs.nindexes, 1));
	vs.do_index_cleanup = vs.nindexes > 0 &&
		params->index_cleanup != VACOPTVALUE_DISABLED;

	/* room for dead TIDs, serial or in shared memory for parallel workers */
	max_items = (int) Min((Size) maintenance_work_mem * 1024 / sizeof(ItemPointerData),
						  (Size) MaxAllocSize / sizeof(ItemPointerData) - 64);
	mem_items = max_items;
	if (!vs.do_index_cleanup)
		max_items = MaxHeapTuplesPerPage;	/* not used */
	else
	{
		/*
		 * As heap: no more than the table can have TIDs to clean, which for
		 * lsm is bounded by the logical blocks (dead entries of runs and
		 * dead blocks have no page) as well as the pages.
		 */
		double		maxtuples = (double) MaxHeapTuplesPerPage *
			Max(Max(lsm_physical_nblocks(rel), lsm_get_nlblocks(rel)), 1);

		if ((double) max_items > maxtuples)
			max_items = (int) maxtuples;
	}
	max_items = Max(max_items, MaxHeapTuplesPerPage);
	if (params->nworkers >= 0 && vs.nindexes > 1 && vs.do_index_cleanup)
	{
		/* as heap: parallel workers cannot read temporary tables */
		if (RelationUsesLocalBuffers(rel))
		{
			if (params->nworkers > 0)
				ereport(WARNING,
						(errmsg("disabling parallel option of vacuum on \"%s\" --- cannot vacuum temporary tables in parallel",
								RelationGetRelationName(rel))));
		}
		else
			vs.pvs = parallel_vacuum_init(rel, vs.indrels, vs.nindexes,
										  params->nworkers, max_items,
										  vs.elevel, bstrategy);
	}
	if (vs.pvs != NULL)
		vs.dead_items = parallel_vacuum_get_dead_items(vs.pvs);
	else
	{
		vs.dead_items = palloc(vac_max_items_to_alloc_size(max_items));
		vs.dead_items->max_items = max_items;
		vs.dead_items->num_items = 0;
	}

	if (verbose)
		ereport(INFO,
				(errmsg("vacuuming \"%s.%s.%s\"",
						get_database_name(MyDatabaseId),
						get_namespace_name(RelationGetNamespace(rel)),
						RelationGetRelationName(rel))));

	/*
	 * The maintenance lock: no flush or compaction runs while we look for
	 * run pages no run lists (orphans of a crash, or of a compaction that
	 * was interrupted before it freed its inputs).
	 */
	LockPage(rel, LSM_METAPAGE_BLKNO, ExclusiveLock);
	{
		PGAlignedBlock mbuf;
		LsmManifest m = (LsmManifest) mbuf.data;

		/* retired runs nobody can read any more go first */
		(void) lsm_reap_retired(rel, false);

		/* retired runs still needed are not orphans: count them as listed */
		lsm_manifest_read(rel, m);
		vs.nruns_listed = m->nruns + m->nretired;
		StaticAssertStmt(LSM_MAX_RUNS_FIXED >= LSM_MAX_RUNS,
						 "run_ids[] too small for a manifest");
		for (uint32 r = 0; r < vs.nruns_listed; r++)
			vs.run_ids[r] = m->runs[r].run_id;

		/*
		 * What copies made during the scan can carry from the runs (see
		 * lsm_vacuum_unseen_horizon); no flush or merge changes the runs
		 * before the scan ends.
		 */
		vs.runs_xid = InvalidTransactionId;
		for (uint32 r = 0; r < m->nruns; r++)
			if (TransactionIdIsNormal(m->runs[r].oldest_xid) &&
				(!TransactionIdIsValid(vs.runs_xid) ||
				 TransactionIdPrecedes(m->runs[r].oldest_xid, vs.runs_xid)))
				vs.runs_xid = m->runs[r].oldest_xid;
		vs.runs_retired = m->nretired > 0;
		vs.retired_xid = InvalidTransactionId;
		if (vs.runs_retired)
		{
			Buffer		metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);

			if (BufferIsValid(metabuf))
			{
				vs.retired_xid =
					LsmPageGetMeta(BufferGetPage(metabuf))->retired_xid;
				UnlockReleaseBuffer(metabuf);
			}
		}
	}
	lsm_vacuum_reset_moved(rel);

	/*
	 * The runs' dead entries: their index entries go with those of the
	 * LP_DEAD items the scan below finds.  Without indexes there is nothing
	 * to delete first; with index cleanup disabled they wait.  Under the
	 * maintenance lock no flush or merge adds or removes any until the
	 * tombstones at the end.
	 */
	if (vs.do_index_cleanup || vs.nindexes == 0)
	{
		vs.nrun_dead = lsm_runs_dead_tids(rel, vs.do_index_cleanup ?
										  vs.dead_items->max_items :
										  mem_items, &vs.run_dead);
		if (vs.do_index_cleanup)
			for (int i = 0; i < vs.nrun_dead; i++)
				lsm_vacuum_record_dead(&vs, &vs.run_dead[i]);
		vs.removed_versions += vs.nrun_dead;
	}

	lsm_vacuum_dead_blocks(&vs);

	nlblocks = lsm_get_nlblocks(rel);
	nblocks = lsm_physical_nblocks(rel);
	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_SCAN_HEAP);
	pgstat_progress_update_param(PROGRESS_VACUUM_TOTAL_HEAP_BLKS, nblocks);

	for (BlockNumber blkno = LSM_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		uint8		type;
		bool		shared;
		BlockNumber first;

		vacuum_delay_point();
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 bstrategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
		{
			/* extended but never initialized (a crash): reusable */
			UnlockReleaseBuffer(buf);
			RecordFreeIndexPage(rel, blkno);
			continue;
		}
		if (((PageHeader) page)->pd_special != BLCKSZ - LSM_SPECIAL_SIZE ||
			LsmPageGetOpaque(page)->lpo_page_id != LSM_PAGE_ID)
			LSM_CORRUPT(rel, blkno, ("Page is not an lsm page."));
		type = LsmPageGetOpaque(page)->lpo_type;
		shared = type == LSM_PAGE_MEM && LsmPageIsShared(page);
		first = LsmPageGetOpaque(page)->lpo_aux;
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);

		if (type == LSM_PAGE_FREE)
			RecordFreeIndexPage(rel, blkno);
		else if (type == LSM_PAGE_RUN_DATA || type == LSM_PAGE_RUN_INDEX ||
				 type == LSM_PAGE_RUN_BLOOM)
		{
			uint32		run_id;
			bool		listed = false;

			LockBuffer(buf, BUFFER_LOCK_SHARE);
			run_id = LsmPageGetOpaque(BufferGetPage(buf))->lpo_aux;
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
			for (uint32 r = 0; r < vs.nruns_listed; r++)
				if (vs.run_ids[r] == run_id)
					listed = true;
			/* a run COPY is still writing is not an orphan (lsm_load.c) */
			if (!listed &&
				(run_id == loading_id || lsm_load_in_flight(rel, run_id)))
			{
				loading_id = run_id;
				listed = true;
			}
			if (!listed)
			{
				ReleaseBuffer(buf);
				buf = InvalidBuffer;
				(void) lsm_free_run_page(rel, blkno, run_id);
				vs.orphans_freed++;
			}
		}
		else if (shared)
		{
			vs.scanned_pages++;
			if (lsm_vacuum_shared_page(&vs, buf))
			{
				ReleaseBuffer(buf);
				buf = InvalidBuffer;
				if (lsm_free_shared_page(rel, first, blkno, InvalidXLogRecPtr))
					vs.freed_pages++;
			}
		}
		else if (type == LSM_PAGE_MEM)
		{
			vs.scanned_pages++;
			if (lsm_vacuum_page(&vs, buf))
			{
				BlockNumber lblock;

				LockBuffer(buf, BUFFER_LOCK_SHARE);
				lblock = LsmPageGetOpaque(BufferGetPage(buf))->lpo_aux;
				LockBuffer(buf, BUFFER_LOCK_UNLOCK);
				ReleaseBuffer(buf);
				buf = InvalidBuffer;
				if (lsm_free_mem_page(rel, lblock, blkno))
					vs.freed_pages++;
			}
		}
		if (BufferIsValid(buf))
			ReleaseBuffer(buf);
		pgstat_progress_update_param(PROGRESS_VACUUM_HEAP_BLKS_SCANNED, blkno + 1);
	}

	if (BufferIsValid(vs.vmbuf))
		ReleaseBuffer(vs.vmbuf);	/* before any truncation */
	vs.vmbuf = InvalidBuffer;

	/* index entries of the remaining LP_DEAD items, then the items */
	lsm_vacuum_indexes(&vs);
	IndexFreeSpaceMapVacuum(rel);

	/*
	 * index cleanup (statistics, page recycling, BRIN summarization).  The
	 * table's row count it is given (btree clamps its own count to it) must
	 * include the versions in runs, which the page scan above did not see:
	 * until 2026-12-06 an index of a compacted table was left with the
	 * memtable's row count as its reltuples.  As heap's, it includes the
	 * recently dead versions, whose index entries stay; and it leaves the
	 * runs' tombstones in, so as not to fall below the index's own count:
	 * a dead entry whose row never reached a run hides no version (see
	 * lsm_vacuum_run_live), and this VACUUM has just deleted the index
	 * entries of the versions the others hide.
	 */
	if (vs.do_index_cleanup)
	{
		double		tombstones;
		double		table_rows = vs.live_versions + vs.recently_dead_versions +
			Max(lsm_vacuum_run_versions(rel, &tombstones) - vs.hidden_versions, 0);

		pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
									 PROGRESS_VACUUM_PHASE_INDEX_CLEANUP);
		if (vs.pvs != NULL)
			parallel_vacuum_cleanup_all_indexes(vs.pvs, (long) table_rows,
												vs.index_passes, false);
		else
		{
			for (int i = 0; i < vs.nindexes; i++)
			{
				IndexVacuumInfo ivinfo;

				ivinfo.index = vs.indrels[i];
				ivinfo.analyze_only = false;
				ivinfo.report_progress = false;
				ivinfo.estimated_count = false;
				ivinfo.message_level = vs.elevel;
				ivinfo.num_heap_tuples = table_rows;
				ivinfo.strategy = bstrategy;
				vs.indstats[i] = vac_cleanup_one_index(&ivinfo, vs.indstats[i]);
			}
		}
	}
	if (vs.pvs != NULL)
	{
		parallel_vacuum_end(vs.pvs, vs.indstats);
		vs.pvs = NULL;
	}

	/* index statistics */
	for (int i = 0; i < vs.nindexes; i++)
	{
		IndexBulkDeleteResult *istat = vs.indstats[i];

		if (istat == NULL || istat->estimated_count)
			continue;
		vac_update_relstats(vs.indrels[i], istat->num_pages,
							istat->num_index_tuples, 0, false,
							InvalidTransactionId, InvalidMultiXactId,
							NULL, NULL, false);
	}

	/*
	 * Flush what the memtable holds that is fit for a run, and let the
	 * compaction policy merge runs.  Runs holding xids older than the freeze
	 * limit are all merged (which freezes them), so that relfrozenxid can
	 * advance.
	 */
	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_FINAL_CLEANUP);

	/* the runs' dead entries whose index entries are gone: tombstones */
	lsm_publish_tombstones(rel, vs.run_dead, vs.nrun_dead);
	{
		Buffer		metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
		uint32		mem_pages = 0;

		if (BufferIsValid(metabuf))
		{
			mem_pages = LsmPageGetMeta(BufferGetPage(metabuf))->mem_pages;
			UnlockReleaseBuffer(metabuf);
		}
		if (mem_pages >= (uint32) lsm_vacuum_flush_min_pages)
		{
			double		tombstones;
			double		before = lsm_vacuum_run_versions(rel, &tombstones);
			double		moved;
			double		hidden_freed;

			vs.flushed_pages = lsm_flush(rel, true, &hidden_freed);

			/*
			 * The versions the flush took from the memtable were counted
			 * as live by the page scan, and are counted again with the
			 * runs below.  Until 2026-12-07 they were counted twice:
			 * reltuples and n_live_tup doubled after a VACUUM that
			 * flushed a memtable-only table.
			 */
			moved = lsm_vacuum_run_versions(rel, &tombstones) - before;
			if (moved > 0)
				vs.live_versions = Max(vs.live_versions - moved, 0);

			/*
			 * The entries it wrote from the overlay pages it freed hide
			 * now what those pages' items hid.  (The live copies on a
			 * freed page made for copies were not written: the runs'
			 * versions they hid are the rows again, still counted once
			 * by the page scan and hidden once here.)
			 */
			vs.hidden_versions = Max(vs.hidden_versions - hidden_freed, 0);
		}
	}
	{
		PGAlignedBlock mbuf;
		LsmManifest m = (LsmManifest) mbuf.data;
		bool		full = false;

		lsm_manifest_read(rel, m);
		for (uint32 r = 0; r < m->nruns; r++)
			if (TransactionIdIsNormal(m->runs[r].oldest_xid) &&
				TransactionIdPrecedes(m->runs[r].oldest_xid, vs.FreezeLimit))
				full = true;

		/*
		 * After many deletions (their tombstones, flushed just above, are
		 * a large share of the runs' entries), merge everything: the merge
		 * drops the tombstones and the versions they hide, and, written
		 * into free pages, lets the truncation below give the space back.
		 * The size-ratio policy alone would keep a small run of tombstones
		 * next to a large old run for a long time.
		 */
		if (!full && lsm_vacuum_merge_tombstone_pct > 0 && m->nruns > 0)
		{
			LsmRunSet  *rs = lsm_runset_cached(rel);
			uint64		tombstones = 0;
			uint64		entries = 0;

			for (int r = 0; r < rs->nruns; r++)
			{
				tombstones += rs->runs[r]->ntombstones;
				entries += rs->runs[r]->desc.nentries;
			}
			if (tombstones > 0 &&
				tombstones * 100 >= entries * (uint64) lsm_vacuum_merge_tombstone_pct)
				full = vs.merged_tombstones = true;
		}
		vs.merged_runs = lsm_compact_runs(rel, full, true);
		lsm_manifest_read(rel, m);
		for (uint32 r = 0; r < m->nruns; r++)
		{
			TransactionId x = m->runs[r].oldest_xid;

			if (TransactionIdIsNormal(x) &&
				TransactionIdPrecedes(x, vs.NewRelfrozenXid))
				vs.NewRelfrozenXid = x;
		}

		/*
		 * Runs hold committed versions without xmax: live, but for those
		 * a tombstone or an overlay item hides (doc/lsm-design.md,
		 * VACUUM).
		 */
		vs.live_versions += lsm_vacuum_run_live(&vs);
	}

	if (params->truncate != VACOPTVALUE_DISABLED)
		lsm_vacuum_truncate(&vs);
	/* where sequential scans may start, after everything freed above */
	lsm_advance_empty_below(rel);
	UnlockPage(rel, LSM_METAPAGE_BLKNO, ExclusiveLock);

	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_FINAL_CLEANUP);

	/*
	 * Table statistics and the new freeze horizons.  relpages is the
	 * table's size as RelationGetNumberOfBlocks reports it (logical
	 * blocks, see lsm_relation_size), the same measure ANALYZE stores.
	 * relallvisible counts the logical blocks that existed when the scan
	 * began and were not left with a page that is not all-visible: a block
	 * whose page was freed has nothing to hide from index-only scans.
	 */
	lsm_vacuum_unseen_horizon(&vs);
	relpages = RelationGetNumberOfBlocks(rel);
	relallvisible = Min(relpages, nlblocks > vs.notallvisible_pages ?
						nlblocks - vs.notallvisible_pages : 0);
	vac_update_relstats(rel, relpages,
						vs.live_versions, relallvisible, vs.nindexes > 0,
						vs.NewRelfrozenXid, vs.NewRelminMxid,
						&frozenxid_updated, &minmulti_updated, false);

	pgstat_report_vacuum(RelationGetRelid(rel), rel->rd_rel->relisshared,
						 Max(vs.live_versions, 0),
						 vs.recently_dead_versions);
	pgstat_progress_end_command();

	if (instrument)
	{
		if (verbose ||
			TimestampDifferenceExceeds(starttime, GetCurrentTimestamp(),
									   params->log_min_duration))
			ereport(verbose ? INFO : LOG,
					(errmsg("finished vacuuming \"%s.%s.%s\": index scans: %d",
							get_database_name(MyDatabaseId),
							get_namespace_name(RelationGetNamespace(rel)),
							RelationGetRelationName(rel), vs.index_passes),
					 errdetail("memtable pages: %u scanned, %u freed, %u truncated, %d flushed; runs merged: %d; orphan run pages freed: %u; versions: %.0f removed, %.0f live, %.0f recently dead, %.0f frozen; new relfrozenxid: %u%s, new relminmxid: %u%s; %s",
							   vs.scanned_pages, vs.freed_pages,
							   vs.truncated_pages, vs.flushed_pages,
							   vs.merged_runs, vs.orphans_freed,
							   vs.removed_versions, vs.live_versions,
							   vs.recently_dead_versions, vs.frozen_versions,
							   vs.NewRelfrozenXid,
							   frozenxid_updated ? " (advanced)" : "",
							   vs.NewRelminMxid,
							   minmulti_updated ? " (advanced)" : "",
							   pg_rusage_show(&ru0))));
	}

	for (int i = 0; i < vs.nindexes; i++)
		if (vs.indstats[i])
			pfree(vs.indstats[i]);
	vac_close_indexes(vs.nindexes, vs.indrels, NoLock);
}
