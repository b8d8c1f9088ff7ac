/*-------------------------------------------------------------------------
 *
 * lsm_index.c
 *	  What indexes need from lsm tables: fetching versions by TID, building
 *	  an index (also concurrently), and telling an index which of its
 *	  entries point to versions that are dead to everybody.
 *
 * Every version has its own TID (no HOT chains), so an index entry always
 * names exactly one version and call_again is never set.  A TID that names
 * no stored version means the version was removed by VACUUM, i.e. it was
 * dead to everybody: index_fetch_tuple then reports all_dead, which lets
 * btree mark its entry killed.  TIDs are never reused, so a stale index
 * entry can never lead to a different row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam_xlog.h"
#include "access/relscan.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/storage.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"

#include "lsm/lsm_internal.h"

typedef struct LsmIndexFetchData
{
	IndexFetchTableData xs_base;	/* AM-independent part; must be first */
	Buffer		xs_cbuf;		/* pinned memtable page of the last fetch */
	BlockNumber xs_cblock;		/* its logical block */

	/*
	 * The logical block the last fetch found without a memtable page, and
	 * the MVCC snapshot it used (see lsm_index_fetch_tuple).
	 */
	BlockNumber xs_runblock;
	Snapshot	xs_runsnap;
	CommandId	xs_runcid;
	uint64		xs_runcount;	/* the snapshot's snapXactCompletionCount */
} LsmIndexFetchData;

/*
 * lsm_index_fetch_begin -- table AM callback index_fetch_begin.
 */
IndexFetchTableData *
lsm_index_fetch_begin(Relation rel)
{
	LsmIndexFetchData *scan = palloc0(sizeof(LsmIndexFetchData));

	scan->xs_base.rel = rel;
	scan->xs_cbuf = InvalidBuffer;
	scan->xs_cblock = InvalidBlockNumber;
	scan->xs_runblock = InvalidBlockNumber;
	return &scan->xs_base;
}

/*
 * lsm_index_fetch_reset -- table AM callback index_fetch_reset.
 */
void
lsm_index_fetch_reset(IndexFetchTableData *sscan)
{
	LsmIndexFetchData *scan = (LsmIndexFetchData *) sscan;

	if (BufferIsValid(scan->xs_cbuf))
	{
		ReleaseBuffer(scan->xs_cbuf);
		scan->xs_cbuf = InvalidBuffer;
		scan->xs_cblock = InvalidBlockNumber;
	}
	scan->xs_runblock = InvalidBlockNumber;
}

/*
 * lsm_index_fetch_end -- table AM callback index_fetch_end.
 */
void
lsm_index_fetch_end(IndexFetchTableData *sscan)
{
	/*
	 * (Pages its pruning left without versions are not freed here: btree
	 * ends the fetches of its unique checks with its leaf page locked.)
	 */
	lsm_index_fetch_reset(sscan);
	pfree(sscan);
}

/*
 * The part of an index fetch that reads a version from the runs: versions
 * there are committed and have no xmax, so a version that is not visible
 * is just too new, and a TID the runs do not hold (or hold a tombstone
 * for) is dead to everybody.
 */
static bool
lsm_index_fetch_from_runs(LsmIndexFetchData *scan, ItemPointer tid,
						  Snapshot snapshot, TupleTableSlot *slot,
						  bool *all_dead, bool check_manifest)
{
	Relation	rel = scan->xs_base.rel;
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	HeapTuple	tuple = &bslot->base.tupdata;
	LsmRunEntry *e;
	bool		visible;

	/* the backend's cached view: the version is copied below */
	e = lsm_runset_lookup(rel, lsm_runset_cached_ext(rel, check_manifest), tid);
	if (e == NULL || e->tup == NULL)
	{
		if (all_dead)
			*all_dead = true;
		return false;
	}
	tuple->t_data = e->tup;
	tuple->t_len = e->len;
	tuple->t_self = *tid;
	tuple->t_tableOid = RelationGetRelid(rel);
	visible = lsm_tuple_satisfies(tuple, snapshot);
	lsm_serializable_conflict_out(visible, rel, tuple, snapshot);
	if (!visible)
		return false;
	PredicateLockTID(rel, tid, snapshot, HeapTupleHeaderGetXmin(tuple->t_data));

	/*
	 * A copy the slot owns: the version lives in a decoded run page that the
	 * next fetches overwrite, and the executor takes shallow copies of
	 * buffer slots trusting their pin to keep the tuple in place (a merge
	 * join's marked inner row, for one).
	 */
	lsm_store_tuple_copy(tuple, slot, rel);
	return true;
}

/*
 * Is snapshot the very MVCC snapshot of the fetch that found logical block
 * xs_runblock without a memtable page, with nothing committed or aborted
 * since it was taken?
 */
static inline bool
lsm_index_fetch_same_snapshot(LsmIndexFetchData *scan, Snapshot snapshot)
{
	return snapshot == scan->xs_runsnap &&
		snapshot->snapshot_type == SNAPSHOT_MVCC &&
		snapshot->curcid == scan->xs_runcid &&
		snapshot->snapXactCompletionCount == scan->xs_runcount;
}

/*
 * lsm_index_fetch_tuple -- table AM callback index_fetch_tuple.
 *
 * Consecutive fetches from the same logical block keep the page pinned.
 *
 * Consecutive fetches from the same logical block without a memtable page
 * (an index range over rows in runs) look up the map only once per block
 * and MVCC snapshot.  A memtable page that appears meanwhile can only hold
 * changes this snapshot does not see: copies of run versions with an xmax
 * of a transaction that was running or not yet started when the snapshot
 * was taken (or of this command, whose changes it does not see either),
 * and new versions, which have TIDs of their own; the run versions answer
 * for such a snapshot as the copies would.  A page that was flushed away
 * meanwhile left its versions in a run that the cached view of the runs
 * finds: the view is brought up to date at the first fetch of the block.
 * The later ones skip that too (lsm_runset_cached_ext): a view taken after
 * the snapshot holds every run the snapshot needs, and those stay
 * readable while it is held.  Only the same snapshot, with the same
 * command id and no transaction ended since, qualifies.
 */
bool
lsm_index_fetch_tuple(IndexFetchTableData *sscan, ItemPointer tid,
					  Snapshot snapshot, TupleTableSlot *slot,
					  bool *call_again, bool *all_dead)
{
	LsmIndexFetchData *scan = (LsmIndexFetchData *) sscan;
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	Relation	rel = scan->xs_base.rel;
	BlockNumber lblock = ItemPointerGetBlockNumber(tid);
	HeapTuple	tuple = &bslot->base.tupdata;
	bool		visible;

	Assert(TTS_IS_BUFFERTUPLE(slot));
	*call_again = false;
	if (all_dead)
		*all_dead = false;

	if (ItemPointerGetOffsetNumber(tid) > LSM_MAX_TUPLES_PER_PAGE)
		return false;

	if (scan->xs_runblock == lblock && lsm_index_fetch_same_snapshot(scan, snapshot))
		return lsm_index_fetch_from_runs(scan, tid, snapshot, slot, all_dead,
										 false);
	scan->xs_runblock = InvalidBlockNumber;

	if (BufferIsValid(scan->xs_cbuf) && scan->xs_cblock == lblock)
	{
		LockBuffer(scan->xs_cbuf, BUFFER_LOCK_SHARE);
		/*
		 * Still the page of lblock?  (It might have been freed; and the
		 * blocks of a shared page may move away: ask the map again.)
		 */
		if (LsmPageGetOpaque(BufferGetPage(scan->xs_cbuf))->lpo_type != LSM_PAGE_MEM ||
			LsmPageIsShared(BufferGetPage(scan->xs_cbuf)) ||
			LsmPageGetOpaque(BufferGetPage(scan->xs_cbuf))->lpo_aux != lblock)
		{
			UnlockReleaseBuffer(scan->xs_cbuf);
			scan->xs_cbuf = InvalidBuffer;
		}
	}
	else if (BufferIsValid(scan->xs_cbuf))
	{
		ReleaseBuffer(scan->xs_cbuf);
		scan->xs_cbuf = InvalidBuffer;
	}
	if (!BufferIsValid(scan->xs_cbuf))
	{
		scan->xs_cbuf = lsm_read_mem_page(rel, lblock, NULL);
		scan->xs_cblock = lblock;
		if (BufferIsValid(scan->xs_cbuf))
			lsm_page_prune_opt(rel, scan->xs_cbuf);
	}
	if (BufferIsValid(scan->xs_cbuf))
	{
		if (!lsm_page_holds(rel, scan->xs_cbuf, lblock,
							ItemPointerGetOffsetNumber(tid)))
		{
			/* an overlay page without this version: look in the runs */
			LockBuffer(scan->xs_cbuf, BUFFER_LOCK_UNLOCK);
			return lsm_index_fetch_from_runs(scan, tid, snapshot, slot,
											 all_dead, true);
		}
	}
	else
	{
		if (snapshot->snapshot_type == SNAPSHOT_MVCC)
		{
			scan->xs_runblock = lblock;
			scan->xs_runsnap = snapshot;
			scan->xs_runcid = snapshot->curcid;
			scan->xs_runcount = snapshot->snapXactCompletionCount;
		}
		return lsm_index_fetch_from_runs(scan, tid, snapshot, slot, all_dead,
										 true);
	}

	if (!lsm_page_get_version(rel, scan->xs_cbuf, tid, tuple))
	{
		LockBuffer(scan->xs_cbuf, BUFFER_LOCK_UNLOCK);
		if (all_dead)
			*all_dead = true;
		return false;
	}

	visible = lsm_tuple_satisfies(tuple, snapshot);
	lsm_serializable_conflict_out(visible, rel, tuple, snapshot);
	if (visible)
		PredicateLockTID(rel, tid, snapshot, HeapTupleHeaderGetXmin(tuple->t_data));
	else if (all_dead)
		*all_dead = lsm_tuple_is_surely_dead(tuple, GlobalVisTestFor(rel));

	if (visible && lsm_pages_may_vanish())
	{
		/* a hot standby: copy under the lock, the pin does not protect it */
		lsm_store_tuple_copy(tuple, slot, rel);
		LockBuffer(scan->xs_cbuf, BUFFER_LOCK_UNLOCK);
		return true;
	}
	LockBuffer(scan->xs_cbuf, BUFFER_LOCK_UNLOCK);

	if (!visible)
		return false;

	slot->tts_tableOid = RelationGetRelid(rel);
	ExecStoreBufferHeapTuple(tuple, slot, scan->xs_cbuf);
	return true;
}

/*
 * lsm_fetch_row_version -- table AM callback tuple_fetch_row_version.
 */
bool
lsm_fetch_row_version(Relation rel, ItemPointer tid, Snapshot snapshot,
					  TupleTableSlot *slot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	HeapTuple	tuple = &bslot->base.tupdata;
	Buffer		buf;
	bool		visible;

	Assert(TTS_IS_BUFFERTUPLE(slot));
	switch (lsm_fetch_any(rel, tid, NULL, NULL, &buf, tuple))
	{
		case LSM_FETCH_NONE:
			return false;
		case LSM_FETCH_RUN:
			visible = lsm_tuple_satisfies(tuple, snapshot);
			lsm_serializable_conflict_out(visible, rel, tuple, snapshot);
			if (visible)
			{
				PredicateLockTID(rel, tid, snapshot,
								 HeapTupleHeaderGetXmin(tuple->t_data));
				/* a copy: the run view goes away now */
				lsm_store_tuple_copy(tuple, slot, rel);
			}
			return visible;
		default:
			break;
	}
	visible = lsm_tuple_satisfies(tuple, snapshot);
	lsm_serializable_conflict_out(visible, rel, tuple, snapshot);
	if (visible)
		PredicateLockTID(rel, tid, snapshot,
						 HeapTupleHeaderGetXmin(tuple->t_data));
	if (visible && lsm_pages_may_vanish())
	{
		/* a hot standby: copy under the lock, the pin does not protect it */
		lsm_store_tuple_copy(tuple, slot, rel);
		UnlockReleaseBuffer(buf);
		return true;
	}
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	if (!visible)
	{
		ReleaseBuffer(buf);
		return false;
	}
	slot->tts_tableOid = RelationGetRelid(rel);
	tuple->t_tableOid = slot->tts_tableOid;
	ExecStorePinnedBufferHeapTuple(tuple, slot, buf);
	return true;
}

/*
 * lsm_tuple_satisfies_snapshot -- table AM callback
 * tuple_satisfies_snapshot.
 */
bool
lsm_tuple_satisfies_snapshot(Relation rel, TupleTableSlot *slot,
							 Snapshot snapshot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	bool		res;

	Assert(TTS_IS_BUFFERTUPLE(slot));
	if (!BufferIsValid(bslot->buffer))
		return lsm_tuple_satisfies(bslot->base.tuple, snapshot);
	LockBuffer(bslot->buffer, BUFFER_LOCK_SHARE);
	res = lsm_tuple_satisfies(bslot->base.tuple, snapshot);
	LockBuffer(bslot->buffer, BUFFER_LOCK_UNLOCK);
	return res;
}

static int
lsm_deltid_cmp(const void *a, const void *b)
{
	ItemPointerData ta = ((const TM_IndexDelete *) a)->tid;
	ItemPointerData tb = ((const TM_IndexDelete *) b)->tid;

	return ItemPointerCompare(&ta, &tb);
}

/*
 * lsm_index_delete_tuples -- table AM callback index_delete_tuples.
 *
 * Marks as deletable the entries whose versions are gone or dead to every
 * snapshot, and returns the newest xid whose effects those deletions hide
 * (for recovery conflicts on standbys).  Bottom-up deletion visits at most
 * a bounded number of pages.
 */
TransactionId
lsm_index_delete_tuples(Relation rel, TM_IndexDeleteOp *delstate)
{
	TransactionId latestRemovedXid = InvalidTransactionId;
	GlobalVisState *vistest = GlobalVisTestFor(rel);
	Buffer		buf = InvalidBuffer;
	BlockNumber cblock = InvalidBlockNumber;
	int			npages = 0;
	int			maxpages = delstate->bottomup ? 16 : INT_MAX;
	int			nfinal;

	qsort(delstate->deltids, delstate->ndeltids, sizeof(TM_IndexDelete),
		  lsm_deltid_cmp);

	for (int i = 0; i < delstate->ndeltids; i++)
	{
		TM_IndexDelete *ideltid = &delstate->deltids[i];
		TM_IndexStatus *istatus = delstate->status + ideltid->id;
		ItemPointer tid = &ideltid->tid;
		HeapTupleData tup;
		TransactionId dead_after;
		HTSV_Result res;

		if (ItemPointerGetBlockNumber(tid) != cblock)
		{
			if (BufferIsValid(buf))
				UnlockReleaseBuffer(buf);
			buf = InvalidBuffer;
			if (++npages > maxpages && !istatus->knowndeletable)
				break;
			cblock = ItemPointerGetBlockNumber(tid);
			if (ItemPointerGetOffsetNumber(tid) <= LSM_MAX_TUPLES_PER_PAGE)
				buf = lsm_read_mem_page(rel, cblock, NULL);
		}

		if (BufferIsValid(buf) &&
			!lsm_page_holds(rel, buf, cblock, ItemPointerGetOffsetNumber(tid)))
		{
			/* the version is in the runs: committed, no xmax, live */
			continue;
		}
		if (!BufferIsValid(buf) &&
			ItemPointerGetOffsetNumber(tid) <= LSM_MAX_TUPLES_PER_PAGE &&
			cblock < lsm_get_nlblocks(rel))
		{
			/* no memtable page: in the runs (live) unless removed */
			LsmRunEntry *e;

			e = lsm_runset_lookup(rel, lsm_runset_cached(rel), tid);
			if (e != NULL && e->tup != NULL)
				continue;
		}
		if (!BufferIsValid(buf) ||
			!lsm_page_get_version(rel, buf, tid, &tup))
		{
			/* removed already; its removal carried the conflict horizon */
			istatus->knowndeletable = true;
			continue;
		}

		res = lsm_satisfies_vacuum_horizon(&tup, &dead_after);
		if (res == HEAPTUPLE_DEAD ||
			(res == HEAPTUPLE_RECENTLY_DEAD &&
			 GlobalVisTestIsRemovableXid(vistest, dead_after)))
		{
			istatus->knowndeletable = true;
			HeapTupleHeaderAdvanceLatestRemovedXid(tup.t_data, &latestRemovedXid);
		}
		else if (istatus->knowndeletable)
		{
			/*
			 * The index believes the entry dead (killed through an earlier
			 * all_dead report); that may only have been based on a version
			 * that has since been updated in place by a lock.  Keep its
			 * horizon conservative.
			 */
			HeapTupleHeaderAdvanceLatestRemovedXid(tup.t_data, &latestRemovedXid);
		}
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);

	/*
	 * End the array after its last deletable entry, as heap does: entries
	 * past it (not looked at, or not deletable) are of no use to the index,
	 * and the index AM relies on an array without a deletable entry being
	 * empty (nbtree would otherwise log a deletion of nothing: an empty
	 * record and a dirtied leaf page after every fruitless bottom-up pass).
	 * A simple deletion caller's known-deletable entries all stay in it
	 * (also those the loop above left alone); a bottom-up caller marks none
	 * up front, so the entries the loop did not reach are not deletable.
	 */
	nfinal = delstate->ndeltids;
	while (nfinal > 0 &&
		   !delstate->status[delstate->deltids[nfinal - 1].id].knowndeletable)
		nfinal--;
	Assert(nfinal > 0 || delstate->bottomup);
	delstate->ndeltids = nfinal;
	return latestRemovedXid;
}

/*
 * lsm_index_build_range_scan -- table AM callback index_build_range_scan.
 *
 * Without a concurrent build, every version that some running transaction
 * might still see is indexed: live ones as alive, recently dead ones as
 * not alive; versions inserted or deleted by other transactions still in
 * progress make a unique build wait for them (as heap does).  With an MVCC
 * snapshot (concurrent builds) exactly the visible versions are indexed.
 */
double
lsm_index_build_range_scan(Relation table_rel, Relation index_rel,
						   IndexInfo *index_info, bool allow_sync,
						   bool anyvisible, bool progress,
						   BlockNumber start_blockno, BlockNumber numblocks,
						   IndexBuildCallback callback, void *callback_state,
						   TableScanDesc scan)
{
	bool		checking_uniqueness;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	double		reltuples = 0;
	ExprState  *predicate;
	TupleTableSlot *slot;
	EState	   *estate;
	ExprContext *econtext;
	Snapshot	snapshot;
	bool		need_unregister_snapshot = false;
	TransactionId OldestXmin = InvalidTransactionId;
	BlockNumber previous_done = InvalidBlockNumber;
	LsmScanDesc lscan;

	checking_uniqueness = (index_info->ii_Unique ||
						   index_info->ii_ExclusionOps != NULL);
	Assert(!(anyvisible && checking_uniqueness));

	estate = CreateExecutorState();
	econtext = GetPerTupleExprContext(estate);
	slot = table_slot_create(table_rel, NULL);
	econtext->ecxt_scantuple = slot;
	predicate = ExecPrepareQual(index_info->ii_Predicate, estate);

	if (!index_info->ii_Concurrent)
		OldestXmin = GetOldestNonRemovableTransactionId(table_rel);

	if (!scan)
	{
		if (!TransactionIdIsValid(OldestXmin))
		{
			snapshot = RegisterSnapshot(GetTransactionSnapshot());
			need_unregister_snapshot = true;
		}
		else
			snapshot = SnapshotAny;
		scan = table_beginscan_strat(table_rel, snapshot, 0, NULL, true,
									 allow_sync);
	}
	else
		snapshot = scan->rs_snapshot;
	lscan = (LsmScanDesc) scan;

	if (!allow_sync)
		lsm_scan_set_range(scan, start_blockno, numblocks);

	if (progress)
	{
		BlockNumber nblocks = lsm_scan_nlblocks(scan);

		if (!allow_sync && numblocks != InvalidBlockNumber)
			nblocks = Min(nblocks, numblocks);
		pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_TOTAL, nblocks);
	}

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		HeapTuple	tuple = &lscan->rs_ctup;
		bool		tupleIsAlive;

		CHECK_FOR_INTERRUPTS();

		if (progress)
		{
			BlockNumber done = lsm_scan_get_lblocks_done(scan);

			if (done != previous_done)
			{
				pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_DONE, done);
				previous_done = done;
			}
		}

		if (snapshot == SnapshotAny)
		{
			bool		indexIt;
			TransactionId xwait;

	recheck:
			LockBuffer(lscan->rs_cbuf, BUFFER_LOCK_SHARE);
			switch (lsm_satisfies_vacuum(tuple, OldestXmin))
			{
				case HEAPTUPLE_DEAD:
					indexIt = false;
					tupleIsAlive = false;
					break;
				case HEAPTUPLE_LIVE:
					indexIt = true;
					tupleIsAlive = true;
					reltuples += 1;
					break;
				case HEAPTUPLE_RECENTLY_DEAD:
					/* some snapshot may still see it: index it, not alive */
					indexIt = true;
					tupleIsAlive = false;
					break;
				case HEAPTUPLE_INSERT_IN_PROGRESS:
					if (anyvisible)
					{
						indexIt = true;
						tupleIsAlive = true;
						reltuples += 1;
						break;
					}
					xwait = HeapTupleHeaderGetXmin(tuple->t_data);
					if (!TransactionIdIsCurrentTransactionId(xwait))
					{
						elog(WARNING, "concurrent insert in progress within table \"%s\"",
							 RelationGetRelationName(table_rel));
						if (checking_uniqueness)
						{
							/* its outcome decides uniqueness: wait */
							LockBuffer(lscan->rs_cbuf, BUFFER_LOCK_UNLOCK);
							XactLockTableWait(xwait, table_rel, &tuple->t_self,
											  XLTW_InsertIndexUnique);
							CHECK_FOR_INTERRUPTS();
							goto recheck;
						}
					}
					else
						reltuples += 1;
					indexIt = true;
					tupleIsAlive = true;
					break;
				case HEAPTUPLE_DELETE_IN_PROGRESS:
					if (anyvisible)
					{
						indexIt = true;
						tupleIsAlive = false;
						reltuples += 1;
						break;
					}
					xwait = HeapTupleHeaderGetUpdateXid(tuple->t_data);
					if (!TransactionIdIsCurrentTransactionId(xwait))
					{
						elog(WARNING, "concurrent delete in progress within table \"%s\"",
							 RelationGetRelationName(table_rel));
						if (checking_uniqueness)
						{
							LockBuffer(lscan->rs_cbuf, BUFFER_LOCK_UNLOCK);
							XactLockTableWait(xwait, table_rel, &tuple->t_self,
											  XLTW_InsertIndexUnique);
							CHECK_FOR_INTERRUPTS();
							goto recheck;
						}
						reltuples += 1;
					}
					indexIt = true;
					tupleIsAlive = false;
					break;
				default:
					elog(ERROR, "unexpected lsm_satisfies_vacuum result");
					indexIt = tupleIsAlive = false; /* keep compiler quiet */
					break;
			}
			LockBuffer(lscan->rs_cbuf, BUFFER_LOCK_UNLOCK);
			if (!indexIt)
				continue;
		}
		else
		{
			tupleIsAlive = true;
			reltuples += 1;
		}

		MemoryContextReset(econtext->ecxt_per_tuple_memory);
		if (predicate != NULL && !ExecQual(predicate, econtext))
			continue;
		FormIndexDatum(index_info, slot, estate, values, isnull);
		callback(index_rel, &tuple->t_self, values, isnull, tupleIsAlive,
				 callback_state);
	}

	if (progress)
		pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_DONE,
									 lsm_scan_nlblocks(scan));

	table_endscan(scan);
	if (need_unregister_snapshot)
		UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	index_info->ii_ExpressionsState = NIL;
	index_info->ii_PredicateState = NULL;
	return reltuples;
}

/*
 * lsm_index_validate_scan -- table AM callback index_validate_scan, the
 * second phase of CREATE INDEX CONCURRENTLY: insert every version visible
 * to the snapshot whose TID is not yet in the index.  The index's TIDs come
 * sorted from state->tuplesort; the table scan also returns TIDs in order,
 * so the two are merged.
 */
void
lsm_index_validate_scan(Relation table_rel, Relation index_rel,
						IndexInfo *index_info, Snapshot snapshot,
						ValidateIndexState *state)
{
	TableScanDesc scan;
	LsmScanDesc lscan;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	ExprState  *predicate;
	TupleTableSlot *slot;
	EState	   *estate;
	ExprContext *econtext;
	ItemPointer indexcursor = NULL;
	ItemPointerData decoded;
	bool		tuplesort_empty = false;
	BlockNumber previous_block = InvalidBlockNumber;

	estate = CreateExecutorState();
	econtext = GetPerTupleExprContext(estate);
	slot = table_slot_create(table_rel, NULL);
	econtext->ecxt_scantuple = slot;
	predicate = ExecPrepareQual(index_info->ii_Predicate, estate);

	scan = table_beginscan_strat(table_rel, snapshot, 0, NULL, true, false);
	lscan = (LsmScanDesc) scan;
	pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_TOTAL,
								 lsm_scan_nlblocks(scan));

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		ItemPointer tablecursor = &lscan->rs_ctup.t_self;

		CHECK_FOR_INTERRUPTS();
		state->htups += 1;

		if (lscan->rs_cblock != previous_block)
		{
			pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_DONE,
										 lscan->rs_cblock);
			previous_block = lscan->rs_cblock;
		}

		/* advance the index cursor to the first TID >= ours */
		while (!tuplesort_empty &&
			   (!indexcursor ||
				ItemPointerCompare(indexcursor, tablecursor) < 0))
		{
			Datum		ts_val;
			bool		ts_isnull;

			tuplesort_empty = !tuplesort_getdatum(state->tuplesort, true,
												  &ts_val, &ts_isnull, NULL);
			Assert(tuplesort_empty || !ts_isnull);
			if (!tuplesort_empty)
			{
				itemptr_decode(&decoded, DatumGetInt64(ts_val));
				indexcursor = &decoded;
#ifndef USE_FLOAT8_BYVAL
				pfree(DatumGetPointer(ts_val));
#endif
			}
			else
				indexcursor = NULL;
		}

		if (tuplesort_empty ||
			ItemPointerCompare(indexcursor, tablecursor) > 0)
		{
			/* not in the index yet */
			MemoryContextReset(econtext->ecxt_per_tuple_memory);
			if (predicate != NULL && !ExecQual(predicate, econtext))
				continue;
			FormIndexDatum(index_info, slot, estate, values, isnull);
			index_insert(index_rel, values, isnull, tablecursor, table_rel,
						 index_info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, index_info);
			state->tups_inserted += 1;
		}
	}

	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	index_info->ii_ExpressionsState = NIL;
	index_info->ii_PredicateState = NULL;
}
