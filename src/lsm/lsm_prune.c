/*-------------------------------------------------------------------------
 *
 * lsm_prune.c
 *	  Opportunistic pruning of memtable pages: readers remove versions that
 *	  are dead to every snapshot, as heap's heap_page_prune_opt does.
 *
 * Without it, a small table updated often (pgbench's branches and tellers)
 * keeps every old version until VACUUM, and each scan checks each of them
 * against the commit log again (lsm pages carry no unlogged hint bits), so
 * the cost of a scan grows with the number of updates since the last
 * VACUUM.
 *
 * When to prune.  Deleting and updating transactions set the page's
 * pd_prune_xid (PageSetPrunable) in the same WAL record that sets xmax.  A
 * reader that finds the page done with (it takes no more insertions, or
 * little room is left on it) and pd_prune_xid removable by GlobalVisTest
 * tries the exclusive lock without waiting, and prunes.
 *
 * What pruning does.  A dead version's line pointer becomes LP_DEAD with no
 * storage, exactly what VACUUM's first pass does: the version is gone, its
 * TID stays reserved until VACUUM has deleted its index entries.  Nothing
 * on the page is moved (lsm never defragments a page: a reader holding only
 * a pin may keep a pointer into it), so the exclusive lock is enough; heap
 * needs a cleanup lock because it defragments.  On an overlay page an
 * LP_DEAD item hides the runs' copy as a tombstone does; on an ordinary
 * page whose versions a run holds as well (an interrupted flush) it hides
 * them while the page is mapped, and VACUUM turns such a page into an
 * overlay page before it makes the items unused (lsm_vacuum_page).  A flush
 * writes LP_DEAD items as dead entries.  An ordinary page left without any
 * version is flagged LSM_MEM_NO_VERSIONS and sealed (it takes no insertions
 * any more): scans skip it without looking at its items, and backends
 * remember its block as empty and skip it without reading the page
 * (lsm_note_empty_block).  The pruner also notes it to be freed as a dead
 * block as soon as it holds no buffer lock (lsm_note_dead_page,
 * lsm_free_dead_page): a small table updated all the time then keeps a few
 * pages instead of one per ~135 updates until VACUUM.
 *
 * WAL.  One generic WAL record changes the line pointers and pd_prune_xid
 * (generic WAL logs the changed bytes; there are no unlogged changes, so
 * wal_consistency_checking holds).  Before it, the newest xid among the
 * removed versions is logged as a recovery-conflict horizon
 * (lsm_log_conflict_horizon), as heap's prune records carry one.  Never
 * during recovery.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "common/lsm_common.h"
#include "lsm/lsm_internal.h"

/* a page with less free space than this takes few more versions */
#define LSM_PRUNE_MIN_FREE		(BLCKSZ / 10)

/*
 * Is the memtable page (locked) done with insertions, so that pruning it
 * now is not repeated soon for a few more dead versions?
 */
static bool
lsm_page_is_done(Page page)
{
	PageHeader	phdr = (PageHeader) page;

	if (LsmPageGetOpaque(page)->lpo_flags & (LSM_MEM_SEALED | LSM_MEM_OVERLAY))
		return true;
	if (PageGetMaxOffsetNumber(page) >= LSM_MAX_TUPLES_PER_PAGE)
		return true;
	return phdr->pd_upper < phdr->pd_lower + LSM_PRUNE_MIN_FREE;
}

/*
 * lsm_prune_note_xid -- remember xid as one that will make a version of a
 * page prunable: the page's next pd_prune_xid is the oldest of them.
 */
void
lsm_prune_note_xid(TransactionId *new_prune_xid, TransactionId xid)
{
	if (!TransactionIdIsNormal(xid))
		return;
	if (!TransactionIdIsValid(*new_prune_xid) ||
		TransactionIdPrecedes(xid, *new_prune_xid))
		*new_prune_xid = xid;
}

/*
 * lsm_page_prune -- remove the versions of the exclusively locked memtable
 * page in buf that are dead to every snapshot (by vistest).  Returns the
 * number removed.
 */
int
lsm_page_prune(Relation rel, Buffer buf, GlobalVisState *vistest)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	OffsetNumber dead[MaxHeapTuplesPerPage];
	int			ndead = 0;
	TransactionId latestRemovedXid = InvalidTransactionId;
	TransactionId new_prune_xid = InvalidTransactionId;
	int			nleft = 0;
	bool		no_versions;
	GenericXLogState *state;
	Page		copy;

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		HeapTupleData tup;
		TransactionId dead_after = InvalidTransactionId;

		if (!lsm_page_get_tuple(rel, buf, off, &tup))
			continue;
		nleft++;
		switch (lsm_satisfies_vacuum_horizon(&tup, &dead_after))
		{
			case HEAPTUPLE_DEAD:
				break;
			case HEAPTUPLE_RECENTLY_DEAD:
				if (GlobalVisTestIsRemovableXid(vistest, dead_after))
					break;
				lsm_prune_note_xid(&new_prune_xid, dead_after);
				continue;
			case HEAPTUPLE_DELETE_IN_PROGRESS:
				lsm_prune_note_xid(&new_prune_xid,
								   HeapTupleHeaderGetUpdateXid(tup.t_data));
				continue;
			default:
				continue;
		}
		HeapTupleHeaderAdvanceLatestRemovedXid(tup.t_data, &latestRemovedXid);
		dead[ndead++] = off;
		nleft--;
	}

	/* no version left on an ordinary page: scans may skip it */
	no_versions = nleft == 0 &&
		!(LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_OVERLAY);
	if (ndead == 0 && ((PageHeader) page)->pd_prune_xid == new_prune_xid &&
		no_versions == ((LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_NO_VERSIONS) != 0))
		return 0;

	if (ndead > 0)
		lsm_log_conflict_horizon(rel, latestRemovedXid);
	state = GenericXLogStart(rel);
	copy = GenericXLogRegisterBuffer(state, buf, 0);
	for (int i = 0; i < ndead; i++)
		lsm_item_set_dead(copy, dead[i]);
	((PageHeader) copy)->pd_prune_xid = new_prune_xid;

	/*
	 * A done page left without versions takes none any more (sealed), so
	 * that backends may remember the block as empty for good
	 * (lsm_note_empty_block).
	 */
	if (no_versions)
		LsmPageGetOpaque(copy)->lpo_flags |= LSM_MEM_NO_VERSIONS | LSM_MEM_SEALED;
	else
		LsmPageGetOpaque(copy)->lpo_flags &= ~LSM_MEM_NO_VERSIONS;
	GenericXLogFinish(state);

	/* to be freed once no buffer is locked (lsm_free_dead_pages) */
	if (no_versions)
		lsm_note_dead_page(rel, LsmPageGetOpaque(page)->lpo_aux,
						   BufferGetBlockNumber(buf));
	return ndead;
}

/*
 * lsm_page_prune_opt -- prune the memtable page in buf if that looks worth
 * it (see the file header).  The caller holds a share lock on the page; it
 * holds one again on return, but the lock may have been let go meanwhile,
 * so anything read from the page before must be read again.  The pin keeps
 * the page where it is: it is freed only under a cleanup lock.
 */
void
lsm_page_prune_opt(Relation rel, Buffer buf)
{
	Page		page = BufferGetPage(buf);
	TransactionId prune_xid = ((PageHeader) page)->pd_prune_xid;
	GlobalVisState *vistest;

	if (!TransactionIdIsValid(prune_xid) || RecoveryInProgress())
		return;
	if (!lsm_page_is_done(page))
		return;
	vistest = GlobalVisTestFor(rel);
	if (!GlobalVisTestIsRemovableXid(vistest, prune_xid))
		return;

	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	if (ConditionalLockBuffer(buf))
	{
		/* still worth it?  Somebody may have pruned meanwhile. */
		if (((PageHeader) page)->pd_prune_xid == prune_xid)
			(void) lsm_page_prune(rel, buf, vistest);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	}
	LockBuffer(buf, BUFFER_LOCK_SHARE);
}
