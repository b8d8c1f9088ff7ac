/*-------------------------------------------------------------------------
 *
 * lsm_shrink.c
 *	  Giving disk space back: compacting the file of an lsm table.
 *
 * Flushes and compactions free pages all over the relation: memtable pages
 * whose versions went to a run, pages of runs a merge replaced.  Free pages
 * are reused by later writes, but only once no snapshot from before their
 * release remains (lsm_alloc_page), so a flush or a merge cannot write into
 * the pages it frees itself, and the file does not shrink by itself.
 *
 * lsm_shrink() does what heap's VACUUM truncation does, and more: under an
 * AccessExclusiveLock, taken only if it is free right now, it
 *
 *	1. optionally rewrites all runs into one (a merge, see
 *	   lsm_rewrite_runs), taking the lowest free pages first, when the runs
 *	   reach far beyond the space the table needs;
 *	2. moves the pages that are not run pages (memtable, map, map directory
 *	   and manifest pages) from the end of the relation into the lowest
 *	   free pages (lsm_move_page), from the end downwards, until it meets a
 *	   run page;
 *	3. cuts off the free tail (lsm_truncate_tail).
 *
 * Why the lock makes immediate reuse safe: every reader of the table holds
 * at least AccessShareLock, so while we hold AccessExclusiveLock no backend
 * on the primary is inside a scan that could follow an old pointer; when a
 * backend next locks the table it processes our relcache invalidation and
 * forgets cached map locations, and everything it reads through an old
 * pointer is verified anyway.  On a standby the lock is WAL-logged when it
 * is taken and replayed before any of our page changes, so conflicting
 * standby queries are cancelled (or waited for) as for a heap truncation.
 * The pages freed here are stamped with the current xid like any free page,
 * so outside lsm_shrink the ordinary reuse rule applies to them.
 *
 * VACUUM calls it only when there is enough to give back (as heap's VACUUM
 * truncates only a tail worth it): lsm_shrink_freeable counts the free
 * pages above those that cannot move, without the lock.
 *
 * Every step is crash-safe on its own: a page move is one generic WAL record
 * (new copy, parent pointer, old page freed); a rewrite is an ordinary
 * compaction; the truncation is WAL-logged before it happens.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xloginsert.h"
#include "catalog/storage.h"
#include "catalog/storage_xlog.h"
#include "miscadmin.h"
#include "storage/freespace.h"
#include "storage/indexfsm.h"
#include "storage/proc.h"
#include "storage/smgr.h"
#include "utils/inval.h"

#include "lsm/lsm_internal.h"

/* set while lsm_shrink runs: lsm_alloc_page takes the lowest free page */
bool		lsm_shrink_active = false;

/* lowest block that may still be free (lsm_shrink_alloc) */
static BlockNumber lsm_shrink_cursor = 1;

/* Is this page free for reuse (a FREE page, or never initialized)? */
static bool
lsm_page_is_free(Page page)
{
	if (PageIsNew(page))
		return true;
	return LsmPageIsOfType(page, LSM_PAGE_FREE) &&
		LsmPageGetFree(page)->magic == LSM_FREE_MAGIC;
}

/*
 * lsm_shrink_alloc -- the lowest free page below "below", pinned and
 * exclusively locked, or InvalidBuffer.  Only while lsm_shrink holds the
 * AccessExclusiveLock (see the file header for why the reuse horizon of
 * free pages need not be waited for then).
 */
Buffer
lsm_shrink_alloc(Relation rel, BlockNumber below)
{
	BlockNumber nblocks = lsm_physical_nblocks(rel);

	Assert(lsm_shrink_active);
	if (below > nblocks)
		below = nblocks;
	for (; lsm_shrink_cursor < below; lsm_shrink_cursor++)
	{
		Buffer		buf;

		if (lsm_shrink_cursor == LSM_METAPAGE_BLKNO)
			continue;
		buf = ReadBuffer(rel, lsm_shrink_cursor);
		if (ConditionalLockBuffer(buf))
		{
			if (lsm_page_is_free(BufferGetPage(buf)))
			{
				lsm_shrink_cursor++;
				return buf;
			}
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		}
		ReleaseBuffer(buf);
	}
	return InvalidBuffer;
}

/* What a page is to lsm_shrink. */
typedef enum LsmShrinkPageKind
{
	LSM_SHRINK_FREE,			/* free, or never initialized */
	LSM_SHRINK_ORPHAN,			/* of a run the manifest does not list */
	LSM_SHRINK_RUN,				/* of a run the manifest lists */
	LSM_SHRINK_OTHER,			/* memtable, map, map directory, manifest */
	LSM_SHRINK_FIXED,			/* a shared overlay page: does not move */
	LSM_SHRINK_UNKNOWN			/* without the lsm page id */
} LsmShrinkPageKind;

/*
 * Classify the page at blkno, with m the manifest.  Only the runs listed
 * as live count as listed: the retired ones lsm_shrink frees first.
 */
static LsmShrinkPageKind
lsm_shrink_classify(Relation rel, BlockNumber blkno, LsmManifest m)
{
	Buffer		buf = ReadBuffer(rel, blkno);
	Page		page = BufferGetPage(buf);
	LsmShrinkPageKind kind;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	if (lsm_page_is_free(page))
		kind = LSM_SHRINK_FREE;
	else if (((PageHeader) page)->pd_special != BLCKSZ - LSM_SPECIAL_SIZE ||
			 LsmPageGetOpaque(page)->lpo_page_id != LSM_PAGE_ID)
		kind = LSM_SHRINK_UNKNOWN;
	else
	{
		uint8		type = LsmPageGetOpaque(page)->lpo_type;

		kind = LSM_SHRINK_OTHER;
		if (type == LSM_PAGE_MEM && LsmPageIsShared(page))
			kind = LSM_SHRINK_FIXED;
		else if (type == LSM_PAGE_RUN_DATA || type == LSM_PAGE_RUN_INDEX ||
			type == LSM_PAGE_RUN_BLOOM)
		{
			uint32		run_id = LsmPageGetOpaque(page)->lpo_aux;

			kind = LSM_SHRINK_ORPHAN;
			for (uint32 r = 0; r < m->nruns; r++)
				if (m->runs[r].run_id == run_id)
					kind = LSM_SHRINK_RUN;
		}
	}
	UnlockReleaseBuffer(buf);
	return kind;
}

/*
 * Classify the pages of the relation: how many are in use, and the highest
 * block of a run listed in the manifest.  Run pages of unlisted runs
 * (orphans of a crash) count as free here; the caller holds the
 * maintenance lock, so no run is being written.
 */
static void
lsm_shrink_survey(Relation rel, BlockNumber nblocks, BlockNumber *used,
				  BlockNumber *hirun)
{
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;

	lsm_manifest_read(rel, m);
	*used = 1;					/* the metapage */
	*hirun = 0;
	for (BlockNumber blkno = 1; blkno < nblocks; blkno++)
	{
		switch (lsm_shrink_classify(rel, blkno, m))
		{
			case LSM_SHRINK_RUN:
				*hirun = blkno;
				(*used)++;
				break;
			case LSM_SHRINK_OTHER:
			case LSM_SHRINK_FIXED:
				(*used)++;
				break;
			default:
				break;
		}
	}
}

/*
 * Is the page at blkno free for truncation: free, never initialized, or a
 * page of a run the manifest does not list?
 */
static bool
lsm_page_is_truncatable(Relation rel, BlockNumber blkno, LsmManifest m)
{
	LsmShrinkPageKind kind = lsm_shrink_classify(rel, blkno, m);

	return kind == LSM_SHRINK_FREE || kind == LSM_SHRINK_ORPHAN;
}

/*
 * lsm_shrink_freeable -- about how many pages lsm_shrink could cut off now,
 * found without its lock: the free pages (and pages of runs not listed as
 * live, which it frees first) above the highest page that cannot move (of
 * a listed run, or a shared overlay page; see lsm_move_page).  The pages
 * in use among them would move into free pages further down, and there is
 * always room for them: if the last k pages (k the count) hold x pages in
 * use, they hold only k - x free ones, so at least x of the k counted free
 * pages lie below them.  (A page that cannot be moved at the moment,
 * pinned by a reader, makes the cut smaller, as a row arriving makes
 * heap's.)  VACUUM asks this before it tries the AccessExclusiveLock, as
 * heap's VACUUM counts its empty tail first.  The count stops at "enough".
 * The caller holds the maintenance lock, so no run is written or freed
 * meanwhile; the count reads only the pages above the runs.
 */
BlockNumber
lsm_shrink_freeable(Relation rel, BlockNumber enough)
{
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;
	BlockNumber freeable = 0;

	lsm_manifest_read(rel, m);
	for (BlockNumber blkno = lsm_physical_nblocks(rel);
		 blkno-- > LSM_METAPAGE_BLKNO + 1;)
	{
		LsmShrinkPageKind kind;

		CHECK_FOR_INTERRUPTS();
		kind = lsm_shrink_classify(rel, blkno, m);
		if (kind == LSM_SHRINK_RUN || kind == LSM_SHRINK_FIXED ||
			kind == LSM_SHRINK_UNKNOWN)
			break;
		if ((kind == LSM_SHRINK_FREE || kind == LSM_SHRINK_ORPHAN) &&
			++freeable >= enough)
			break;
	}
	return freeable;
}

/*
 * lsm_truncate_tail -- cut the main fork (and the free space map) at
 * new_nblocks.  Like RelationTruncate, but the visibility map is left
 * alone: its bits belong to logical blocks, which do not go away when
 * physical pages do.  Caller holds AccessExclusiveLock.
 */
static void
lsm_truncate_tail(Relation rel, BlockNumber new_nblocks)
{
	SMgrRelation reln = RelationGetSmgr(rel);
	ForkNumber	forks[2];
	BlockNumber old_blocks[2];
	BlockNumber blocks[2];
	int			nforks = 0;
	bool		fsm_vacuum = false;

	reln->smgr_targblock = InvalidBlockNumber;
	for (int i = 0; i <= MAX_FORKNUM; i++)
		reln->smgr_cached_nblocks[i] = InvalidBlockNumber;

	forks[nforks] = MAIN_FORKNUM;
	old_blocks[nforks] = smgrnblocks(reln, MAIN_FORKNUM);
	blocks[nforks] = new_nblocks;
	nforks++;
	if (smgrexists(RelationGetSmgr(rel), FSM_FORKNUM))
	{
		blocks[nforks] = FreeSpaceMapPrepareTruncateRel(rel, new_nblocks);
		if (BlockNumberIsValid(blocks[nforks]))
		{
			forks[nforks] = FSM_FORKNUM;
			old_blocks[nforks] = smgrnblocks(RelationGetSmgr(rel), FSM_FORKNUM);
			nforks++;
			fsm_vacuum = true;
		}
	}

	RelationPreTruncate(rel);

	/*
	 * As in RelationTruncate: keep a concurrent checkpoint from completing
	 * between the WAL record and the truncation of the files, log first,
	 * then drop the buffers and truncate in a critical section.
	 */
	Assert((MyProc->delayChkptFlags & (DELAY_CHKPT_START | DELAY_CHKPT_COMPLETE)) == 0);
	MyProc->delayChkptFlags |= DELAY_CHKPT_START | DELAY_CHKPT_COMPLETE;
	START_CRIT_SECTION();
	if (RelationNeedsWAL(rel))
	{
		xl_smgr_truncate xlrec;
		XLogRecPtr	lsn;

		xlrec.blkno = new_nblocks;
		xlrec.rnode = rel->rd_node;
		xlrec.flags = SMGR_TRUNCATE_HEAP | SMGR_TRUNCATE_FSM;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, sizeof(xlrec));
		lsn = XLogInsert(RM_SMGR_ID, XLOG_SMGR_TRUNCATE | XLR_SPECIAL_REL_UPDATE);
		XLogFlush(lsn);
	}
	smgrtruncate2(RelationGetSmgr(rel), forks, nforks, old_blocks, blocks);
	END_CRIT_SECTION();
	MyProc->delayChkptFlags &= ~(DELAY_CHKPT_START | DELAY_CHKPT_COMPLETE);

	if (fsm_vacuum)
		FreeSpaceMapVacuumRange(rel, new_nblocks, InvalidBlockNumber);
}

/*
 * lsm_shrink -- give space back (see the file header).  With rewrite, the
 * runs may be rewritten when they reach far beyond the space in use; with
 * yield, the work stops (after the current step) as soon as another
 * backend waits for a lock on the table, as heap's VACUUM truncation does.
 * Returns the number of pages cut off.
 */
BlockNumber
lsm_shrink(Relation rel, bool rewrite, bool yield)
{
	BlockNumber nblocks;
	BlockNumber used;
	BlockNumber hirun;
	BlockNumber new_nblocks;
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;

	if (lsm_physical_nblocks(rel) <= LSM_METAPAGE_BLKNO + 1)
		return 0;

	/*
	 * Not while this backend itself still uses the relation (a cursor open
	 * in the transaction that calls lsm_compact, or an outer query): the lock
	 * keeps other backends out, but is granted against our own weaker locks,
	 * and our own scans may still read the pages we would move or cut off
	 * (their view of the runs, the manifest's old place).  TRUNCATE refuses
	 * the same case (CheckTableNotInUse).
	 */
	if (rel->rd_refcnt > 1)
		return 0;
	if (!ConditionalLockRelation(rel, AccessExclusiveLock))
		return 0;
	lsm_maint_lock(rel, true);

	lsm_shrink_active = true;
	PG_TRY();
	{
		/*
		 * 0. Free every retired run: nobody else reads the table while we
		 * hold the AccessExclusiveLock (a standby replays the lock first).
		 */
		(void) lsm_reap_retired(rel, true);
		nblocks = lsm_physical_nblocks(rel);
		lsm_shrink_survey(rel, nblocks, &used, &hirun);

		/*
		 * 1. Rewrite the runs into the lowest free pages when they reach
		 * more than an eighth (and 16 pages) beyond the pages in use, and
		 * enough is free below for most of them to land there.
		 */
		if (rewrite && hirun > used + used / 8 + 16 &&
			nblocks - used > used / 2 &&
			!(yield && LockHasWaitersRelation(rel, AccessExclusiveLock)))
		{
			lsm_shrink_cursor = 1;
			lsm_rewrite_runs(rel);
			(void) lsm_reap_retired(rel, true);
			nblocks = lsm_physical_nblocks(rel);
			lsm_shrink_survey(rel, nblocks, &used, &hirun);
		}

		/*
		 * 2. Move the other pages down from the end, stopping at the first
		 * page of a listed run or when nothing free is left below.
		 */
		lsm_shrink_cursor = 1;
		lsm_manifest_read(rel, m);
		for (BlockNumber blkno = nblocks - 1; blkno > hirun; blkno--)
		{
			CHECK_FOR_INTERRUPTS();
			if (yield && LockHasWaitersRelation(rel, AccessExclusiveLock))
				break;
			if (lsm_page_is_truncatable(rel, blkno, m))
				continue;
			if (!lsm_move_page(rel, blkno))
				break;
		}

		/* 3. Cut off the free tail. */
		lsm_manifest_read(rel, m);
		new_nblocks = nblocks;
		while (new_nblocks > LSM_METAPAGE_BLKNO + 1 &&
			   lsm_page_is_truncatable(rel, new_nblocks - 1, m))
			new_nblocks--;
		if (new_nblocks < nblocks)
			lsm_truncate_tail(rel, new_nblocks);
	}
	PG_FINALLY();
	{
		lsm_shrink_active = false;
	}
	PG_END_TRY();

	lsm_maint_unlock(rel);
	lsm_invalidate_cache(rel);
	CacheInvalidateRelcache(rel);
	/* the AccessExclusiveLock is kept until the end of the transaction */
	return nblocks - new_nblocks;
}
