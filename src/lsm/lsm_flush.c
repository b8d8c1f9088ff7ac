/*-------------------------------------------------------------------------
 *
 * lsm_flush.c
 *	  Flush (memtable pages -> a new run), compaction (runs -> one run) and
 *	  materialization (a version in a run -> an overlay memtable page).
 *
 * Runs hold only versions that nobody can change any more through the
 * run: xmin committed (stored frozen when it is older than every
 * snapshot), no xmax.  (The exception, a run COPY writes while its
 * transaction runs, is lsm_load.c's.)  Everything else about a version
 * lives on memtable pages, where heap's MVCC and locking code works
 * unchanged:
 *
 *	- Flush takes memtable pages all of whose versions are like that (or
 *	  are tombstones), except the newest page that takes insertions, and
 *	  writes them as one run of level 1 (lsm_run.c), in logical block order
 *	  (but for the versions on overlay pages made for copies, which the
 *	  runs hold already: lsm_page_to_run).
 *	  The run is published by a manifest switch; only then are the flushed
 *	  pages unmapped and freed, each in its own WAL record, and only if the
 *	  page has not changed since it was read (same LSN, or same contents
 *	  where there is no WAL: lsm_page_token).  A page that has
 *	  changed meanwhile (a lock, a delete, an insertion), or that another
 *	  backend has pinned, stays and becomes an overlay page: what it holds
 *	  is at least as new as the run's copy.  If the flush is interrupted
 *	  between publishing and freeing, ordinary pages whose versions the run
 *	  holds too are left behind; they read correctly, and VACUUM turns such
 *	  a page into an overlay page before it removes a version there (see
 *	  lsm_vacuum_page), so that the run's copy stays hidden.
 *
 *	- Materialization: before a version that lives only in a run is
 *	  deleted, updated or locked, it is copied to the memtable page that
 *	  answers for its logical block: at its own offset on an ordinary
 *	  page; if the block has none, on a shared overlay page that collects
 *	  such copies of many blocks, each item prefixed by its TID (see
 *	  lsm_page.h and doc/lsm-design.md, "Shared overlay pages").  On an
 *	  overlay page a TID without an item means "the version is in the
 *	  runs"; VACUUM leaves a tombstone where it removes a version, so that
 *	  the run's older copy stays hidden until a compaction drops both.
 *	  A shared page is flushed block by block and freed as a whole.
 *
 *	- Compaction merges runs newest-first by TID: the newest entry of a TID
 *	  wins; tombstones are kept unless the merge includes the oldest run
 *	  (then nothing older can hide behind them); versions whose xmin has
 *	  become older than every snapshot are frozen.  The merged run replaces
 *	  its inputs in one manifest switch, which keeps the inputs as retired
 *	  runs until no snapshot can read them (lsm_manifest.c).
 *
 * Flush, compaction and VACUUM of one table are serialized by the
 * maintenance lock, a heavyweight lock on the metapage's block number
 * (LockPage; no other code takes page locks on lsm tables).  Writers that
 * flush inline only try it (ConditionalLockPage).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/multixact.h"
#include "access/transam.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "utils/acl.h"
#include "catalog/pg_class.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "common/lsm_common.h"
#include "lsm/lsm_internal.h"

/* GUC: memtable pages that make writers flush inline (0: never) */
int			lsm_memtable_flush_pages = 4096;
int			lsm_memtable_flush_overlay_pages = 16;

/* GUC: VACUUM flushes only a memtable of at least this many pages */
int			lsm_vacuum_flush_min_pages = 128;

/* GUC: VACUUM merges all runs when tombstones are this share (%) of entries */
int			lsm_vacuum_merge_tombstone_pct = 20;

/* GUCs of the compaction policy (doc/lsm-design.md, "Compaction policy") */
int			lsm_compaction_policy = LSM_POLICY_LEVELED;
int			lsm_compaction_size_ratio = 4;
int			lsm_compaction_max_runs = 32;
int			lsm_compaction_max_levels = 0;

const struct config_enum_entry lsm_policy_options[] = {
	{"leveled", LSM_POLICY_LEVELED, false},
	{"tiered", LSM_POLICY_TIERED, false},
	{NULL, 0, false}
};

/* GUC: how new run data pages are stored (lsm_run.c) */
int			lsm_compression = LSM_COMPRESSION_LZ4;

const struct config_enum_entry lsm_compression_options[] = {
	{"lz4", LSM_COMPRESSION_LZ4, false},
	{"none", LSM_COMPRESSION_NONE, false},
	{NULL, 0, false}
};

/*
 * lsm_tam_init_gucs -- define the GUCs of the table access method.
 */
void
lsm_tam_init_gucs(void)
{
	DefineCustomIntVariable("lsm.memtable_flush_pages",
							"Memtable pages of an lsm table at which writers flush them into a run.",
							"0 disables flushing by writers; VACUUM and lsm_compact() still flush.",
							&lsm_memtable_flush_pages,
							4096, 0, INT_MAX / 2,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("lsm.memtable_flush_overlay_pages",
							"Overlay pages made in an lsm table's memtable at which writers flush it into a run.",
							"Overlay pages hold copies of rows that live in runs, made by UPDATE, DELETE and row locks.  0 leaves them to lsm.memtable_flush_pages.",
							&lsm_memtable_flush_overlay_pages,
							16, 0, INT_MAX / 2,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("lsm.vacuum_flush_min_pages",
							"Memtable pages of an lsm table below which VACUUM does not flush them.",
							NULL,
							&lsm_vacuum_flush_min_pages,
							128, 1, INT_MAX / 2,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("lsm.vacuum_merge_tombstone_pct",
							"Share of tombstones (percent of the entries of the runs of an lsm table) at which VACUUM merges all runs.",
							"0 leaves merging to the size-ratio policy.",
							&lsm_vacuum_merge_tombstone_pct,
							20, 0, 100,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("lsm.compaction_policy",
							 "How lsm tables merge their runs after a flush: leveled or tiered.",
							 "leveled: each run stays more than size_ratio times the size of all newer runs together; "
							 "tiered: size_ratio runs of one size level are merged into one run of the next.",
							 &lsm_compaction_policy,
							 LSM_POLICY_LEVELED, lsm_policy_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("lsm.compaction_size_ratio",
							"Size ratio between the levels of the runs of an lsm table.",
							NULL,
							&lsm_compaction_size_ratio,
							4, 2, 100,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("lsm.compaction_max_runs",
							"Runs of an lsm table beyond which a compaction merges more of the newest runs, whatever the policy.",
							"0: no limit beyond the policy's.",
							&lsm_compaction_max_runs,
							32, 0, 100,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("lsm.compaction_max_levels",
							"Levels (size classes) the runs of an lsm table may occupy; beyond, a compaction merges more of the newest runs, whatever the policy.",
							"0: no limit beyond the policy's.",
							&lsm_compaction_max_levels,
							0, 0, LSM_MAX_LEVEL,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("lsm.bloom_bits_per_key",
							"Bits per entry of the bloom filter of new lsm runs.",
							"0 builds runs without a bloom filter.",
							&lsm_bloom_bits_per_key,
							10, 0, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("lsm.compression",
							 "How the data pages of new lsm runs are stored: lz4 or none.",
							 "none stores them uncompressed: larger runs that sequential scans read faster.",
							 &lsm_compression,
							 LSM_COMPRESSION_LZ4, lsm_compression_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	lsm_load_init_gucs();
	MarkGUCPrefixReserved("lsm");
}

/* Take the maintenance lock; false if busy and !wait. */
bool
lsm_maint_lock(Relation rel, bool wait)
{
	if (wait)
	{
		LockPage(rel, LSM_METAPAGE_BLKNO, ExclusiveLock);
		return true;
	}
	return ConditionalLockPage(rel, LSM_METAPAGE_BLKNO, ExclusiveLock);
}

/* Release the maintenance lock. */
void
lsm_maint_unlock(Relation rel)
{
	UnlockPage(rel, LSM_METAPAGE_BLKNO, ExclusiveLock);
}

/*
 * The maintenance lock for work that ends in a manifest switch (a flush or
 * a compaction): false, without the lock, if it is busy and !wait, or if a
 * long-lived snapshot keeps so many retired runs that the manifest has no
 * room (the work waits; the memtable keeps growing meanwhile).
 */
static bool
lsm_maint_lock_for_switch(Relation rel, bool wait, const char *what)
{
	if (!lsm_maint_lock(rel, wait))
		return false;
	if (lsm_manifest_has_room(rel))
		return true;
	ereport(DEBUG1,
			(errmsg_internal("lsm: no room in the manifest of \"%s\", %s deferred",
							 RelationGetRelationName(rel), what)));
	lsm_maint_unlock(rel);
	return false;
}

/*
 * Can this version go to a run?  Its xmin must be committed and it must
 * have no xmax that matters (none, aborted, or only lockers that are gone).
 * *frozen says whether it may be stored frozen (older than OldestXmin).
 */
static bool
lsm_version_is_stable(HeapTupleHeader t, TransactionId OldestXmin,
					  bool *frozen)
{
	TransactionId xmin;
	TransactionId xmax;

	if (HeapTupleHeaderIsSpeculative(t))
		return false;
	if (HeapTupleHeaderXminFrozen(t))
		*frozen = true;
	else
	{
		if (HeapTupleHeaderXminInvalid(t))
			return false;
		xmin = HeapTupleHeaderGetRawXmin(t);
		if (TransactionIdIsCurrentTransactionId(xmin) ||
			TransactionIdIsInProgress(xmin) ||
			!TransactionIdDidCommit(xmin))
			return false;
		*frozen = TransactionIdPrecedes(xmin, OldestXmin);
	}

	if (t->t_infomask & HEAP_XMAX_INVALID)
		return true;
	xmax = HeapTupleHeaderGetRawXmax(t);
	if (!TransactionIdIsValid(xmax))
		return true;
	if (t->t_infomask & HEAP_XMAX_IS_MULTI)
	{
		if (!HEAP_XMAX_IS_LOCKED_ONLY(t->t_infomask))
		{
			TransactionId upd = HeapTupleGetUpdateXid(t);

			if (TransactionIdIsCurrentTransactionId(upd) ||
				TransactionIdIsInProgress(upd) || TransactionIdDidCommit(upd))
				return false;
		}
		/* lockers (and an aborted updater): all must be gone */
		return !MultiXactIdIsRunning(xmax, false);
	}
	if (TransactionIdIsCurrentTransactionId(xmax) ||
		TransactionIdIsInProgress(xmax))
		return false;
	if (HEAP_XMAX_IS_LOCKED_ONLY(t->t_infomask))
		return true;
	/* a deleter or updater: only if it aborted */
	return !TransactionIdDidCommit(xmax);
}

/* what a flush makes of one item of a memtable page */
typedef enum LsmFlushItem
{
	LSM_FLUSH_NOTHING,			/* an unused line pointer */
	LSM_FLUSH_VERSION,			/* a version for the run */
	LSM_FLUSH_TOMBSTONE,		/* a tombstone (VACUUM removed the version) */
	LSM_FLUSH_DEAD,				/* a dead entry (lsm_run_writer_add_dead) */
	LSM_FLUSH_KEEP				/* unfit for a run: the page stays */
} LsmFlushItem;

/*
 * Classify item lp of a memtable page (locked) for a flush.  A version fit
 * for a run (stable, not too large) goes as it is (tup and *frozen say
 * how).  A version dead to every snapshot, or an LP_DEAD item, becomes a
 * dead entry: the version is gone, but index entries may still lead to
 * its TID until VACUUM deletes them, so the run keeps the TID.  Such a
 * version's xmax advances *latestRemovedXid (if given), which the flush
 * logs for hot standbys before the run is published, as pruning would.
 * Anything else (in progress, recently dead) keeps the page in the
 * memtable.
 */
static LsmFlushItem
lsm_flush_classify(Relation rel, Buffer buf, OffsetNumber lp,
				   TransactionId OldestXmin, HeapTuple tup, bool *frozen,
				   TransactionId *latestRemovedXid)
{
	ItemId		itemid = PageGetItemId(BufferGetPage(buf), lp);

	*frozen = false;
	if (LsmItemIdIsTombstone(itemid))
		return LSM_FLUSH_TOMBSTONE;
	if (ItemIdIsDead(itemid))
		return LSM_FLUSH_DEAD;	/* pruned: its removal was logged then */
	if (!lsm_page_get_tuple(rel, buf, lp, tup))
		return LSM_FLUSH_NOTHING;
	if (lsm_version_is_stable(tup->t_data, OldestXmin, frozen))
		return lsm_run_takes(tup->t_data, tup->t_len) ?
			LSM_FLUSH_VERSION : LSM_FLUSH_KEEP;
	if (lsm_satisfies_vacuum(tup, OldestXmin) == HEAPTUPLE_DEAD)
	{
		if (latestRemovedXid != NULL)
			HeapTupleHeaderAdvanceLatestRemovedXid(tup->t_data,
												   latestRemovedXid);
		return LSM_FLUSH_DEAD;
	}
	return LSM_FLUSH_KEEP;
}

/*
 * Is every item of this memtable page (locked) fit for a run (see
 * lsm_flush_classify)?
 */
static bool
lsm_page_is_flushable(Relation rel, Buffer buf, TransactionId OldestXmin)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		HeapTupleData tup;
		bool		frozen;

		if (lsm_flush_classify(rel, buf, off, OldestXmin, &tup, &frozen,
							   NULL) == LSM_FLUSH_KEEP)
			return false;
	}
	return true;
}

/*
 * Write the items of logical block lblock on a flushable memtable page
 * (locked) to the run, in offset order: all of the page, or on a shared
 * overlay page the items of that block.  Returns the number of entries
 * written.
 *
 * A version on an overlay page made for copies (LSM_MEM_COPIES, and every
 * shared page) is not written: such a page holds only copies of versions
 * that live in the runs (lsm_page_put_tuple; it is sealed and never takes
 * insertions), and a copy that is fit for a run has the run's data, its
 * committed xmin and no xmax that counts (a lock that has ended, an
 * aborted deleter or updater), so the run's version, which the page hid,
 * answers for it once the page is freed.  Writing it again gave the new
 * run a duplicate of every row that a row lock (a foreign-key check, say)
 * had copied, until a merge dropped it (before 2026-12-07).  On a shared
 * page read again after it was found flushable, an item that changed
 * since stays on the page, which is not freed.  Any other overlay page was
 * an ordinary page once and may hold versions no run holds (an insertion
 * into it while its flush was under way), so its versions are written.
 */
static int
lsm_page_to_run(Relation rel, Buffer buf, BlockNumber lblock,
				LsmRunWriter *w, TransactionId OldestXmin,
				TransactionId *latestRemovedXid)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	bool		shared = LsmPageIsShared(page);
	bool		copies = (LsmPageGetOpaque(page)->lpo_flags &
						  (LSM_MEM_COPIES | LSM_MEM_SHARED)) != 0;
	int			nwritten = 0;
	OffsetNumber lps[LSM_MAX_TUPLES_PER_PAGE + 1];

	if (shared)
		maxoff = lsm_page_block_items(rel, buf, lblock, lps);
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		OffsetNumber lp = shared ? lps[off] : off;
		HeapTupleData tup;
		ItemPointerData tid;
		bool		frozen;

		if (lp == InvalidOffsetNumber)
			continue;
		ItemPointerSet(&tid, lblock, off);
		switch (lsm_flush_classify(rel, buf, lp, OldestXmin, &tup, &frozen,
								   latestRemovedXid))
		{
			case LSM_FLUSH_NOTHING:
				break;
			case LSM_FLUSH_VERSION:
				if (copies)
					break;		/* the runs hold it */
				lsm_run_writer_add(w, &tid, tup.t_data, tup.t_len, frozen);
				nwritten++;
				break;
			case LSM_FLUSH_TOMBSTONE:
				lsm_run_writer_add(w, &tid, NULL, 0, false);
				nwritten++;
				break;
			case LSM_FLUSH_DEAD:
				lsm_run_writer_add_dead(w, &tid);
				nwritten++;
				break;
			case LSM_FLUSH_KEEP:

				/*
				 * Only on a shared page read again after it was found
				 * flushable, changed since: its LSN changed too, so it is
				 * not freed, and its item stays, hiding the runs' version.
				 */
				Assert(shared);
				break;
		}
	}
	return nwritten;
}

/*
 * What a flush knows of a shared overlay page: it is read once per logical
 * block it serves, and freed afterwards only if it was flushable, its LSN
 * never changed, and it held no item of a block the flush had passed
 * before it first read the page (such items were not written).
 */
typedef struct LsmFlushShared
{
	BlockNumber blkno;			/* hash key */
	XLogRecPtr	lsn;			/* at the first read */
	BlockNumber first;			/* its map range */
	bool		flushable;
	bool		freeable;
	int			nwritten;		/* entries written from it */
} LsmFlushShared;

/*
 * A shared overlay page met at logical block lblock (locked in buf): may
 * its items of lblock go to the run (->flushable)?  Updates and returns
 * what the flush knows of it.
 */
static LsmFlushShared *
lsm_flush_shared_page(Relation rel, HTAB *shared, Buffer buf,
					  BlockNumber lblock, TransactionId OldestXmin)
{
	Page		page = BufferGetPage(buf);
	BlockNumber blkno = BufferGetBlockNumber(buf);
	LsmFlushShared *fs;
	bool		found;

	fs = hash_search(shared, &blkno, HASH_ENTER, &found);
	if (!found)
	{
		fs->lsn = lsm_page_token(rel, page);
		fs->first = LsmPageGetOpaque(page)->lpo_aux;
		fs->flushable = lsm_page_is_flushable(rel, buf, OldestXmin);
		fs->freeable = fs->flushable;
		fs->nwritten = 0;
		for (OffsetNumber lp = FirstOffsetNumber;
			 fs->freeable && lp <= PageGetMaxOffsetNumber(page); lp++)
		{
			LsmSharedItemData *prefix = lsm_shared_item(rel, blkno, page, lp);

			if (prefix != NULL && prefix->lblock < lblock)
				fs->freeable = false;
		}
	}
	else if (lsm_page_token(rel, page) != fs->lsn)
		fs->flushable = fs->freeable = false;
	return fs;
}

/*
 * After the run holding its contents is published: free a flushed page if
 * it has not changed since (the logical block then lives in the runs), or
 * make it an overlay page.
 */
static bool
lsm_release_flushed_page(Relation rel, BlockNumber lblock, BlockNumber blkno,
						 XLogRecPtr lsn)
{
	Buffer		buf;
	Page		page;
	bool		changed;

	buf = lsm_read_mem_page_hint(rel, lblock, blkno, NULL,
								 BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(buf))
		return false;
	page = BufferGetPage(buf);
	changed = BufferGetBlockNumber(buf) != blkno ||
		lsm_page_token(rel, page) != lsn;
	if (!changed)
	{
		UnlockReleaseBuffer(buf);
		/* frees it only if it is still the block's page with that LSN */
		if (lsm_free_flushed_page(rel, lblock, blkno, lsn))
			return true;
		buf = lsm_read_mem_page_hint(rel, lblock, blkno, NULL,
									 BUFFER_LOCK_EXCLUSIVE);
		if (!BufferIsValid(buf))
			return false;
		page = BufferGetPage(buf);
	}
	if (!(LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_OVERLAY))
	{
		GenericXLogState *state = GenericXLogStart(rel);
		Page		copy = GenericXLogRegisterBuffer(state, buf, 0);

		LsmPageGetOpaque(copy)->lpo_flags |= LSM_MEM_OVERLAY | LSM_MEM_SEALED;
		/* (never set on an overlay page; see lsm_prune.c) */
		LsmPageGetOpaque(copy)->lpo_flags &= ~LSM_MEM_NO_VERSIONS;
		GenericXLogFinish(state);
	}
	UnlockReleaseBuffer(buf);
	return false;
}

typedef struct LsmFlushedPage
{
	BlockNumber lblock;
	BlockNumber blkno;
	XLogRecPtr	lsn;
	int			noverlay;		/* entries written from it, if an overlay
								 * page */
} LsmFlushedPage;

/*
 * lsm_flush -- write the flushable memtable pages as a new run.  Returns
 * the number of pages flushed.  With !wait, gives up at once if another
 * flush, compaction or VACUUM is running.
 *
 * If hidden_freed is given, *hidden_freed is set to the number of entries
 * the new run took from the overlay pages the flush freed: the run
 * versions those items hid are hidden now by these entries of the same
 * TIDs (VACUUM's row count, lsm_vacuum.c).  The versions on a freed page
 * made for copies are not written (lsm_page_to_run): the runs' versions
 * they hid are the rows again.
 */
int
lsm_flush(Relation rel, bool wait, double *hidden_freed)
{
	BlockNumber nlblocks;
	BlockNumber insert_page = InvalidBlockNumber;
	Buffer		metabuf;
	TransactionId OldestXmin;
	LsmFlushedPage *pages;
	int			npages = 0;
	int			maxpages = 64;
	LsmRunWriter *w = NULL;
	LsmManifestRun desc;
	int			nfreed = 0;
	LsmManifestRun *reaped;
	int			nreaped;
	HASHCTL		hctl;
	HTAB	   *shared;
	TransactionId latestRemovedXid = InvalidTransactionId;
	uint32		run_id;

	if (hidden_freed != NULL)
		*hidden_freed = 0;
	if (!lsm_maint_lock_for_switch(rel, wait, "flush"))
		return 0;

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
	if (!BufferIsValid(metabuf))
	{
		lsm_maint_unlock(rel);
		return 0;
	}
	nlblocks = LsmPageGetMeta(BufferGetPage(metabuf))->next_lblock;
	insert_page = LsmPageGetMeta(BufferGetPage(metabuf))->insert_page;
	UnlockReleaseBuffer(metabuf);

	/*
	 * The new run's id, read now: the loop below holds a memtable page's
	 * lock while it adds the page to the run, and reading the manifest
	 * then would take the metapage's lock after a memtable page's, the
	 * reverse of the order a backend giving a block an overlay page takes
	 * them in (metapage, map page, then the shared page it fills).  Two
	 * backends doing both at once waited for each other forever.  The id
	 * stays free: ids are taken only under the maintenance lock, which we
	 * hold.
	 */
	run_id = lsm_manifest_next_run_id(rel);

	OldestXmin = GetOldestNonRemovableTransactionId(rel);
	pages = palloc(sizeof(LsmFlushedPage) * maxpages);
	hctl.keysize = sizeof(BlockNumber);
	hctl.entrysize = sizeof(LsmFlushShared);
	hctl.hcxt = CurrentMemoryContext;
	shared = hash_create("lsm flush shared pages", 64, &hctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	for (BlockNumber lblock = 0; lblock < nlblocks; lblock++)
	{
		BlockNumber blkno = lsm_map_lookup(rel, lblock);
		Buffer		buf;
		int			nwritten;

		CHECK_FOR_INTERRUPTS();
		if (blkno == InvalidBlockNumber || blkno == insert_page)
			continue;
		buf = lsm_read_mem_page_hint(rel, lblock, blkno, NULL,
									 BUFFER_LOCK_SHARE);
		if (!BufferIsValid(buf))
			continue;
		if (LsmPageIsShared(BufferGetPage(buf)))
		{
			/* (freed after the publication, from the hash table) */
			LsmFlushShared *fs = lsm_flush_shared_page(rel, shared, buf,
													   lblock, OldestXmin);

			if (fs->flushable)
			{
				if (w == NULL)
					w = lsm_run_writer_begin(rel, run_id, 0, 0);
				fs->nwritten += lsm_page_to_run(rel, buf, lblock, w,
												OldestXmin,
												&latestRemovedXid);
			}
			UnlockReleaseBuffer(buf);
			continue;
		}
		if (BufferGetBlockNumber(buf) == insert_page ||
			!lsm_page_is_flushable(rel, buf, OldestXmin))
		{
			UnlockReleaseBuffer(buf);
			continue;
		}

		if (w == NULL)
			w = lsm_run_writer_begin(rel, run_id, 0, 0);
		nwritten = lsm_page_to_run(rel, buf, lblock, w, OldestXmin,
								   &latestRemovedXid);
		if (npages >= maxpages)
		{
			maxpages *= 2;
			pages = repalloc_huge(pages, sizeof(LsmFlushedPage) * maxpages);
		}
		pages[npages].lblock = lblock;
		pages[npages].blkno = BufferGetBlockNumber(buf);
		pages[npages].lsn = lsm_page_token(rel, BufferGetPage(buf));
		pages[npages].noverlay =
			(LsmPageGetOpaque(BufferGetPage(buf))->lpo_flags & LSM_MEM_OVERLAY) ?
			nwritten : 0;
		npages++;
		UnlockReleaseBuffer(buf);
	}

	if (w != NULL && lsm_run_writer_finish(w, &desc))
	{
		TransactionId horizon = lsm_run_writer_newest_frozen(w);

		/*
		 * Freezing is seen by standbys once the run is listed, and so is
		 * the removal of the dead versions the run replaces by dead
		 * entries: queries that could still see either are cancelled, by
		 * one record with the newer of the two horizons.
		 */
		if (TransactionIdIsValid(latestRemovedXid) &&
			(!TransactionIdIsValid(horizon) ||
			 TransactionIdFollows(latestRemovedXid, horizon)))
			horizon = latestRemovedXid;
		lsm_log_conflict_horizon(rel, horizon);
		lsm_manifest_switch(rel, NULL, 0, &desc, 1, desc.raw_bytes, 0,
							false, &reaped, &nreaped);
		lsm_free_retired(rel, reaped, nreaped);
		pfree(reaped);
	}

	/* the contents are in a published run (or there were none) */
	for (int i = 0; i < npages; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (lsm_release_flushed_page(rel, pages[i].lblock, pages[i].blkno,
									 pages[i].lsn))
		{
			nfreed++;
			if (hidden_freed != NULL)
				*hidden_freed += pages[i].noverlay;
		}
	}
	if (w != NULL)
	{
		HASH_SEQ_STATUS hs;
		LsmFlushShared *fs;

		hash_seq_init(&hs, shared);
		while ((fs = hash_seq_search(&hs)) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			if (fs->freeable &&
				lsm_free_shared_page(rel, fs->first, fs->blkno, fs->lsn))
			{
				nfreed++;
				npages++;
				if (hidden_freed != NULL)
					*hidden_freed += fs->nwritten;
			}
		}
	}
	hash_destroy(shared);
	pfree(pages);
	lsm_maint_unlock(rel);
	return npages;
}

/*
 * Free every page of a run that is no longer listed (index, data and bloom
 * pages), as free pages stamped with the current xid: a retired run that
 * no snapshot can read (lsm_free_retired), or an orphan.
 */
void
lsm_free_run_pages(Relation rel, LsmRun *run)
{
	for (int i = 0; i < run->nfences; i++)
		lsm_free_run_page(rel, run->fences[i].blkno, run->desc.run_id);
	for (uint32 i = 0; i < run->nbloom; i++)
		lsm_free_run_page(rel, run->bloom_pages[i], run->desc.run_id);
	/* the index pages: follow the chain before freeing each */
	{
		BlockNumber blkno = run->desc.root;

		while (blkno != InvalidBlockNumber)
			blkno = lsm_free_run_page(rel, blkno, run->desc.run_id);
	}
}

static int	lsm_compact_runs_once(Relation rel, bool full, bool wait);

/*
 * lsm_run_level_for -- the level of a run of raw_bytes: 1 up to one flush's
 * worth of memtable (lsm.memtable_flush_pages), one more for each factor of
 * lsm.compaction_size_ratio beyond.
 */
uint32
lsm_run_level_for(Relation rel, uint64 raw_bytes)
{
	LsmSettings s = lsm_settings(rel);
	double		size = (double) (s.memtable_flush_pages > 0 ?
								 s.memtable_flush_pages : 4096) * BLCKSZ;
	uint32		level = 1;

	while ((double) raw_bytes > size && level < LSM_MAX_LEVEL)
	{
		size *= s.compaction_size_ratio;
		level++;
	}
	return level;
}

/*
 * lsm_policy_pick -- which of the newest runs (0 .. result, newest first)
 * the compaction policy (rel's settings) merges now; -1 (or 0: one run)
 * for none.
 *
 * leveled: merge the newest runs while the next older run is at most
 * size_ratio times their sum, so that every run stays larger than
 * size_ratio times all newer runs together (one run per level).
 *
 * tiered: merge the newest runs while they are of the same level (by
 * size, lsm_run_level_for) if there are at least size_ratio of them; runs
 * of one level are written once per level.
 *
 * Either way, more of the newest runs are merged if the table would
 * otherwise keep more than lsm.compaction_max_runs runs, or runs of more
 * than lsm.compaction_max_levels levels.
 */
static int	lsm_policy_levels_after(Relation rel, LsmRunSet *rs, int last);

static int
lsm_policy_pick(Relation rel, LsmRunSet *rs)
{
	LsmSettings s = lsm_settings(rel);
	int			last = -1;
	int			ratio = s.compaction_size_ratio;

	if (rs->nruns < 2)
		return -1;
	if (s.compaction_policy == LSM_POLICY_TIERED)
	{
		uint32		level = lsm_run_level_for(rel, rs->runs[0]->desc.raw_bytes);
		int			n = 1;

		while (n < rs->nruns &&
			   lsm_run_level_for(rel, rs->runs[n]->desc.raw_bytes) == level)
			n++;
		if (n >= ratio)
			last = n - 1;
	}
	else
	{
		uint64		sum = 0;

		for (int i = 0; i < rs->nruns; i++)
		{
			if (i > 0 && rs->runs[i]->desc.raw_bytes > sum * ratio)
				break;
			sum += rs->runs[i]->desc.raw_bytes;
			last = i;
		}
	}
	/* merging runs 0..last leaves nruns - last runs */
	if (s.compaction_max_runs > 0 && rs->nruns - Max(last, 0) > s.compaction_max_runs)
		last = rs->nruns - s.compaction_max_runs;
	if (s.compaction_max_levels > 0)
	{
		while (last < rs->nruns - 1 &&
			   lsm_policy_levels_after(rel, rs, last) > s.compaction_max_levels)
			last = Max(last, 0) + 1;
	}
	return last;
}

/*
 * How many levels (size classes) the runs occupy once runs 0..last are
 * merged into one (last < 1: none merged).
 */
static int
lsm_policy_levels_after(Relation rel, LsmRunSet *rs, int last)
{
	bool		seen[LSM_MAX_LEVEL + 1];
	int			nlevels = 0;
	uint64		merged = 0;
	int			first = 0;

	memset(seen, 0, sizeof(seen));
	if (last >= 1)
	{
		for (int i = 0; i <= last; i++)
			merged += rs->runs[i]->desc.raw_bytes;
		seen[lsm_run_level_for(rel, merged)] = true;
		nlevels = 1;
		first = last + 1;
	}
	for (int i = first; i < rs->nruns; i++)
	{
		uint32		level = lsm_run_level_for(rel, rs->runs[i]->desc.raw_bytes);

		if (!seen[level])
		{
			seen[level] = true;
			nlevels++;
		}
	}
	return nlevels;
}

/*
 * lsm_compact_runs -- merge runs.  With full, all runs become one; else
 * the compaction policy decides (lsm_policy_pick), again after each merge
 * until it finds nothing to do.  Returns the number of runs merged.
 */
int
lsm_compact_runs(Relation rel, bool full, bool wait)
{
	int			merged = 0;
	int			n;

	if (full)
		return lsm_compact_runs_once(rel, true, wait);
	/* a merge's output may complete the next level (bounded: runs shrink) */
	for (int i = 0; i < LSM_MAX_LEVEL; i++)
	{
		n = lsm_compact_runs_once(rel, false, wait);
		if (n <= 1)
			break;
		merged += n;
	}
	return merged;
}

/* set by lsm_rewrite_runs: rewrite even a single run without tombstones */
static bool lsm_compact_force_rewrite = false;

/* Remember that the merged run leaves lblock not all-visible. */
static void
lsm_note_notvis(BlockNumber **notvis, int *nnotvis, int *maxnotvis,
				BlockNumber lblock)
{
	if (*nnotvis > 0 && (*notvis)[*nnotvis - 1] == lblock)
		return;
	if (*nnotvis >= *maxnotvis)
	{
		*maxnotvis *= 2;
		*notvis = repalloc_huge(*notvis, sizeof(BlockNumber) * *maxnotvis);
	}
	(*notvis)[(*nnotvis)++] = lblock;
}

/*
 * lsm_publish_tombstones -- publish a run of tombstones at tids[0..n-1]
 * (sorted): dead entries whose index entries VACUUM has deleted.  Newer
 * than the runs holding the dead entries, the tombstones hide them (a
 * reader finds a tombstone either way; VACUUM no longer finds a dead entry
 * to clean), and the merge that reaches the oldest run drops both.  This
 * costs what the TIDs take, where merging the runs that hold the dead
 * entries could rewrite the whole table for a few rows.  Called by VACUUM,
 * which holds the maintenance lock.
 */
void
lsm_publish_tombstones(Relation rel, ItemPointer tids, int n)
{
	LsmRunWriter *w;
	LsmManifestRun desc;
	LsmManifestRun *reaped;
	int			nreaped;

	if (n == 0 || !lsm_maint_lock_for_switch(rel, true, "VACUUM"))
		return;
	w = lsm_run_writer_begin(rel, lsm_manifest_next_run_id(rel), 0, n);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		lsm_run_writer_add(w, &tids[i], NULL, 0, false);
	}
	if (lsm_run_writer_finish(w, &desc))
	{
		lsm_manifest_switch(rel, NULL, 0, &desc, 1, 0, desc.raw_bytes, false,
							&reaped, &nreaped);
		lsm_free_retired(rel, reaped, nreaped);
		pfree(reaped);
	}
	lsm_maint_unlock(rel);
}

/*
 * lsm_compact_runs_once -- one merge: all runs (full), or those the policy
 * picks.  Returns the number of runs merged.
 */
static int
lsm_compact_runs_once(Relation rel, bool full, bool wait)
{
	LsmRunSet  *rs;
	int			first,
				last;
	TransactionId OldestXmin;
	LsmRunWriter *w;
	LsmManifestRun desc;
	uint32	   *remove;
	int			nin;
	int		   *pos;
	uint64		expected = 0;
	bool		drop_tombstones;
	BlockNumber *notvis;
	int			nnotvis = 0;
	int			maxnotvis = 1024;
	bool		have;
	LsmManifestRun *reaped;
	int			nreaped;

	if (!lsm_maint_lock_for_switch(rel, wait, "compaction"))
		return 0;
	rs = lsm_runset_create(rel, CurrentMemoryContext);

	/* which runs: all (full), or the newest ones the policy picks */
	first = 0;
	last = full ? rs->nruns - 1 : lsm_policy_pick(rel, rs);

	/*
	 * ... but none from a run loaded by a transaction still running on
	 * (lsm_load.c): its versions cannot be written in a merged run before
	 * the transaction's fate is known.  Its TIDs are its own (blocks
	 * reserved for it), so the newer runs merge alone; nothing older can
	 * lose its tombstones meanwhile.
	 */
	for (int i = first; i <= last; i++)
	{
		if (lsm_run_load_pending(rs->runs[i]))
		{
			last = i - 1;
			break;
		}
	}
	nin = last - first + 1;

	/*
	 * A single run is rewritten only by a full compaction, and only if that
	 * drops something (tombstones, an aborted load's versions) or freezes
	 * something: until 2026-12-07 a run with unfrozen xmins (written while
	 * an older snapshot was open) was left as it was, so VACUUM, which
	 * asks for a full merge to freeze such a run, could never advance
	 * relfrozenxid past it (TAP 025_lsm_vacuum_moves).
	 */
	if (nin < 1 || (nin == 1 && !lsm_compact_force_rewrite &&
					(!full || rs->nruns > 1 ||
					 (rs->runs[0]->ntombstones == 0 &&
					  !lsm_run_load_aborted(rs->runs[0]) &&
					  !(TransactionIdIsNormal(rs->runs[0]->desc.oldest_xid) &&
						TransactionIdPrecedes(rs->runs[0]->desc.oldest_xid,
											  GetOldestNonRemovableTransactionId(rel)))))))
	{
		/* a single run with only frozen versions: as after a merge */
		if (full && rs->nruns == 1 && rs->runs[0]->ntombstones == 0 &&
			!TransactionIdIsValid(rs->runs[0]->desc.oldest_xid))
			lsm_vm_set_run_blocks(rel, NULL, 0);
		lsm_runset_free(rs);
		lsm_maint_unlock(rel);
		return 0;
	}
	drop_tombstones = (last == rs->nruns - 1);
	OldestXmin = GetOldestNonRemovableTransactionId(rel);

	for (int i = first; i <= last; i++)
		expected += rs->runs[i]->desc.nentries;
	w = lsm_run_writer_begin(rel, lsm_manifest_next_run_id(rel), 0, expected);

	/* merge: pos[i] = next page of run i; chunk i decoded when needed */
	pos = palloc0(sizeof(int) * rs->nruns);
	notvis = palloc(sizeof(BlockNumber) * maxnotvis);
	{
		int		   *ent = palloc0(sizeof(int) * rs->nruns);

		for (int i = first; i <= last; i++)
		{
			pos[i] = 0;
			lsm_run_decode(rel, rs->runs[i], 0, &rs->chunks[i]);
			ent[i] = 0;
		}
		for (;;)
		{
			int			best = -1;
			LsmRunEntry *e;

			CHECK_FOR_INTERRUPTS();
			/* the smallest TID; among equals the newest run (lowest i) */
			for (int i = first; i <= last; i++)
			{
				if (ent[i] < 0)
					continue;
				if (best < 0 ||
					ItemPointerCompare(&rs->chunks[i].entries[ent[i]].tid,
									   &rs->chunks[best].entries[ent[best]].tid) < 0)
					best = i;
			}
			if (best < 0)
				break;
			e = &rs->chunks[best].entries[ent[best]];
			if (LsmRunEntryIsDead(e))
			{
				/* index entries may lead to it: kept, even in the last run */
				lsm_run_writer_add_dead(w, &e->tid);
				if (drop_tombstones)
					lsm_note_notvis(&notvis, &nnotvis, &maxnotvis,
									ItemPointerGetBlockNumber(&e->tid));
			}
			else if (e->tup == NULL)
			{
				if (!drop_tombstones)
					lsm_run_writer_add(w, &e->tid, NULL, 0, false);
			}
			else if (HeapTupleHeaderXminInvalid(e->tup))
			{
				/* loaded by a transaction that aborted: gone */
			}
			else
			{
				bool		frozen = HeapTupleHeaderXminFrozen(e->tup) ||
					TransactionIdPrecedes(HeapTupleHeaderGetRawXmin(e->tup),
										  OldestXmin);

				lsm_run_writer_add(w, &e->tid, e->tup, e->len, frozen);
				if (!frozen && drop_tombstones)
					lsm_note_notvis(&notvis, &nnotvis, &maxnotvis,
									ItemPointerGetBlockNumber(&e->tid));
			}

			/* advance every run that had this TID */
			{
				ItemPointerData tid = e->tid;

				for (int i = first; i <= last; i++)
				{
					if (ent[i] < 0 ||
						!ItemPointerEquals(&rs->chunks[i].entries[ent[i]].tid, &tid))
						continue;
					if (++ent[i] >= rs->chunks[i].nentries)
					{
						if (++pos[i] >= rs->runs[i]->nfences)
							ent[i] = -1;
						else
						{
							lsm_run_decode(rel, rs->runs[i], pos[i], &rs->chunks[i]);
							ent[i] = 0;
						}
					}
				}
			}
		}
		pfree(ent);
	}

	have = lsm_run_writer_finish(w, &desc);
	remove = palloc(sizeof(uint32) * nin);
	for (int i = first; i <= last; i++)
		remove[i - first] = rs->runs[i]->desc.run_id;
	lsm_log_conflict_horizon(rel, lsm_run_writer_newest_frozen(w));
	lsm_manifest_switch(rel, remove, nin, &desc, have ? 1 : 0, 0,
						have ? desc.raw_bytes : 0, false, &reaped, &nreaped);

	/*
	 * Everything the runs hold is in the new run now: blocks without a
	 * memtable page whose versions are all frozen are all-visible.  (The
	 * conflict horizon just logged covers it: those versions' xmins.)
	 */
	if (drop_tombstones)
		lsm_vm_set_run_blocks(rel, notvis, nnotvis);

	/*
	 * The inputs are retired runs now, kept for readers of older views;
	 * free those retired earlier that nobody can read any more.
	 */
	lsm_free_retired(rel, reaped, nreaped);
	pfree(reaped);

	lsm_runset_free(rs);
	lsm_maint_unlock(rel);
	return nin;
}

/*
 * lsm_materialize -- make sure the version at tid, if it lives only in a
 * run, has a copy on the memtable page of its logical block, so that it can
 * be locked, deleted or updated there.  Returns true if a copy was made.
 */
bool
lsm_materialize(Relation rel, ItemPointer tid)
{
	LsmPendingCopy pc;

	/* a copy without a change: one record of its own */
	if (!lsm_materialize_begin(rel, tid, false, &pc))
		return false;
	lsm_materialize_finish(&pc);
	UnlockReleaseBuffer(pc.buf);
	return true;
}

/*
 * lsm_materialize_begin -- start changing a version that lives only in a
 * run, copying it to the memtable page of its logical block within the
 * same generic WAL record as the change.
 *
 * lsm_materialize followed by the change costs two records, and generic
 * WAL compares the whole used part of the page for each (the comparison
 * was a third of the time of a DELETE of rows in runs).  Returns false,
 * holding nothing, when the version is not only in a run (the caller then
 * goes the usual way, lsm_read_version_page).  Returns true with pc->buf
 * exclusively locked, the record started with the page registered,
 * pc->page the record's copy of the page holding the copied version, and
 * pc->tup pointing at that copy.  With clear_vm (the version is going to
 * be deleted or updated; a row lock leaves visibility alone) the record
 * also clears the page's all-visible flag and the block's visibility map
 * bit (pc->vmbuf, locked after the page, as in every change).  The caller
 * then changes pc->tup.t_data and calls
 * lsm_materialize_finish, or lsm_materialize_abort: nobody else can see
 * the copy meanwhile, as the page stays locked and the buffer itself is
 * only written by GenericXLogFinish.
 */
bool
lsm_materialize_begin(Relation rel, ItemPointer tid, bool clear_vm,
					  LsmPendingCopy *pc)
{
	BlockNumber lblock = ItemPointerGetBlockNumber(tid);
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	Buffer		buf;
	LsmRunSet  *rs;
	LsmRunEntry *e;

	memset(pc, 0, sizeof(LsmPendingCopy));
	if (off < FirstOffsetNumber || off > LSM_MAX_TUPLES_PER_PAGE)
		return false;

	/* a page that holds the version (or the whole block): the usual way */
	buf = lsm_read_mem_page_locked(rel, lblock, NULL, BUFFER_LOCK_SHARE);
	if (BufferIsValid(buf))
	{
		bool		holds = lsm_page_holds(rel, buf, lblock, off);

		UnlockReleaseBuffer(buf);
		if (holds)
			return false;
	}

	rs = lsm_runset_cached(rel);
	e = lsm_runset_lookup(rel, rs, tid);
	if (e == NULL || e->tup == NULL)
		return false;

	/*
	 * The page answering for the block, with room for the copy: a shared
	 * overlay page if the block has none.  (e stays valid: nothing below
	 * looks anything up in the runs.)
	 */
	buf = lsm_get_overlay_page(rel, lblock, e->len);
	if (lsm_page_holds(rel, buf, lblock, off))
	{
		/* copied (or changed) by someone else meanwhile */
		UnlockReleaseBuffer(buf);
		return false;
	}

	pc->buf = buf;
	pc->vmbuf = clear_vm ? lsm_vm_clear_prepare(rel, buf) : InvalidBuffer;
	pc->state = GenericXLogStart(rel);
	pc->page = GenericXLogRegisterBuffer(pc->state, buf, 0);
	if (clear_vm)
		lsm_vm_clear_in_record(pc->state, pc->page, pc->vmbuf);
	pc->tup.t_data = lsm_page_put_tuple(rel, pc->page, lblock, off, e->tup,
										e->len);
	pc->tup.t_len = e->len;
	pc->tup.t_self = *tid;
	pc->tup.t_tableOid = RelationGetRelid(rel);
	return true;
}

/*
 * lsm_materialize_finish -- write the record of lsm_materialize_begin
 * (copy and change); pc->tup then points at the version on the page
 * itself, which stays exclusively locked.
 */
void
lsm_materialize_finish(LsmPendingCopy *pc)
{
	Size		pos = (char *) pc->tup.t_data - (char *) pc->page;

	GenericXLogFinish(pc->state);
	lsm_vm_release(pc->vmbuf);
	pc->tup.t_data = (HeapTupleHeader) ((char *) BufferGetPage(pc->buf) + pos);
	pc->state = NULL;
	pc->page = NULL;
	pc->vmbuf = InvalidBuffer;
}

/*
 * lsm_materialize_abort -- drop the record of lsm_materialize_begin without
 * changing anything, and let go of the page.
 */
void
lsm_materialize_abort(LsmPendingCopy *pc)
{
	GenericXLogAbort(pc->state);
	lsm_vm_release(pc->vmbuf);
	UnlockReleaseBuffer(pc->buf);
	memset(pc, 0, sizeof(LsmPendingCopy));
}

/*
 * lsm_read_version_page -- the memtable page holding the version at tid,
 * locked in lockmode, after materializing it from the runs if needed; or
 * InvalidBuffer if the logical block has no page (no such version).
 *
 * A flush may take a freshly materialized copy back into a run before we
 * lock its page; then we simply materialize again.
 */
Buffer
lsm_read_version_page(Relation rel, ItemPointer tid, int lockmode)
{
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);

	for (int attempt = 0;; attempt++)
	{
		Buffer		buf;

		lsm_materialize(rel, tid);
		buf = lsm_read_mem_page_locked(rel, ItemPointerGetBlockNumber(tid),
									   NULL, lockmode);
		if (attempt >= 10)
			return buf;

		/*
		 * No memtable page: either the version does not exist, or a flush
		 * published the page's run and freed the page between
		 * lsm_materialize's look and ours.  Look again: the next
		 * lsm_materialize finds the version in the new run.
		 */
		if (!BufferIsValid(buf))
		{
			if (attempt >= 2)
				return buf;
			continue;
		}
		if (lsm_page_holds(rel, buf, ItemPointerGetBlockNumber(tid), off))
			return buf;
		UnlockReleaseBuffer(buf);
	}
}

/*
 * lsm_rewrite_runs -- merge all runs into one even if there is only one
 * already: lsm_shrink uses it to move the runs into the lowest free pages.
 */
void
lsm_rewrite_runs(Relation rel)
{
	lsm_compact_force_rewrite = true;
	PG_TRY();
	{
		(void) lsm_compact_runs(rel, true, true);
	}
	PG_FINALLY();
	{
		lsm_compact_force_rewrite = false;
	}
	PG_END_TRY();
}

PG_FUNCTION_INFO_V1(lsm_compact);

/*
 * lsm_compact(rel regclass, full bool) -- flush the memtable and compact
 * the runs now (all into one run with full).  Takes the lock VACUUM takes;
 * only the table's owner may do it.
 */
Datum
lsm_compact(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	bool		full = PG_GETARG_BOOL(1);
	Relation	rel;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int			flushed;
	int			merged;
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rel = lsm_open_owned(relid, ShareUpdateExclusiveLock);
	if (RELATION_IS_OTHER_TEMP(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot compact temporary tables of other sessions")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recovery is in progress"),
				 errhint("lsm_compact() cannot run on a standby.")));

	lsm_settings_load(rel);
	flushed = lsm_flush(rel, true, NULL);
	merged = lsm_compact_runs(rel, full, true);
	if (full)
		(void) lsm_shrink(rel, true, false);
	lsm_manifest_read(rel, m);
	table_close(rel, NoLock);

	values[0] = Int32GetDatum(flushed);
	values[1] = Int32GetDatum(merged);
	values[2] = Int32GetDatum(m->nruns);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
