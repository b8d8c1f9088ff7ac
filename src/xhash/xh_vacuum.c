/*-------------------------------------------------------------------------
 *
 * xh_vacuum.c
 *	  VACUUM support for xhash: ambulkdelete and amvacuumcleanup.
 *
 * ambulkdelete visits the bucket pages in block order.  For each it takes
 * the bucket page's exclusive lock (the lock every inserter of the bucket
 * takes first), compacts the page in place with one generic record if
 * anything goes and notes its chains; then, for each chain, it locks the
 * bucket again and walks the chain in chain order doing the same, keeping
 * the bucket locked only until the chain's first page is done (see
 * xh_vacuum_chain).  An overflow page that becomes empty is unlinked and
 * marked deleted in the same record as its predecessor's new link (two
 * pages: the previous chain page, or the bucket page whose chain entry
 * leads to the chain, and which loses that entry with the chain's last
 * page).  VACUUM never sleeps (vacuum_delay_point) holding a lock.
 * Entries removed here point to rows whose removal already resolved
 * recovery conflicts on a standby; the only other removal, of entries of
 * dead rows from a full page at insert time (xh_delete_entries), logs its
 * own conflict horizon first.  Every removal from a page raises the
 * page's removal count (see xh_kill_flush).
 *
 * Splits that run meanwhile move entries to a new page.  VACUUM holds the
 * vacuum lock, so a split then takes a fresh block at the end of the
 * relation, which this scan still reaches (it rereads the relation size
 * at the end), never a recycled block it may have passed.
 *
 * amvacuumcleanup hands deleted pages (unlinked overflow pages, old
 * directories) to the free space map once no running transaction can
 * still hold a link to them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/generic_xlog.h"
#include "access/transam.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "xhash/xhash.h"

/*
 * xh_vacuum_page -- remove the entries of "page" (registered in a generic
 * record) whose TIDs the callback reports dead; returns how many went
 * (xh_page_remove_entries keeps the survivors in order).
 */
static int
xh_vacuum_page(Page page, IndexBulkDeleteCallback callback,
			   void *callback_state)
{
	XhEntry    *entries = XhPageGetEntries(page);
	int			n = XhPageGetNEntries(page);
	bool	   *gone = palloc0(Max(n, 1) * sizeof(bool));
	int			ngone;
	int			i;

	for (i = 0; i < n; i++)
	{
		ItemPointerData tid;

		if (XhEntryIsChain(&entries[i]))
			continue;
		xh_entry_tid(&entries[i], &tid);
		gone[i] = callback(&tid, callback_state);
	}
	ngone = xh_page_remove_entries(page, gone);
	pfree(gone);
	return ngone;
}

/*
 * xh_page_has_dead -- does any entry on the page point to a dead row?
 * (Checked before registering the page, to log nothing for clean pages.)
 */
static bool
xh_page_has_dead(Page page, IndexBulkDeleteCallback callback,
				 void *callback_state)
{
	XhEntry    *entries = XhPageGetEntries(page);
	int			n = XhPageGetNEntries(page);
	int			i;

	for (i = 0; i < n; i++)
	{
		ItemPointerData tid;

		if (XhEntryIsChain(&entries[i]))
			continue;
		xh_entry_tid(&entries[i], &tid);
		if (callback(&tid, callback_state))
			return true;
	}
	return false;
}

/*
 * xh_mark_deleted -- turn a (registered) chain page into a deleted page
 * that still leads on to "next", recyclable after the current next XID.
 * It keeps its chain's top 32 hash bits (in "link"), so that a hot
 * standby's scan that arrives here through a stale link can tell whether
 * it still is on its chain (see xh_collect_chain).
 */
static void
xh_mark_deleted(Page page, BlockNumber next)
{
	XhPageOpaque opaque = XhPageGetOpaque(page);
	uint64		stamp = U64FromFullTransactionId(ReadNextFullTransactionId());

	XhPageSetNEntries(page, 0);
	opaque->nsorted = 0;
	opaque->kind = XH_PAGE_DELETED;
	opaque->next = next;
	opaque->link = opaque->aux;
	opaque->prefix = (uint32) stamp;
	opaque->aux = (uint32) (stamp >> 32);
}

/*
 * xh_vacuum_count_removal -- raise the removal count of the bucket page
 * that holds the chain of the top 32 hash bits "top" (one generic record),
 * after entries went from the chain's pages behind the first: a scan that
 * saw such an entry must not mark an entry with its TID, which may be a
 * new row's once this VACUUM is done (see xh_kill_flush).
 */
static void
xh_vacuum_count_removal(Relation rel, uint32 top)
{
	bool		stale;
	Buffer		buf = xh_find_bucket(rel, XhChainKey(top), BUFFER_LOCK_EXCLUSIVE,
									 &stale);
	GenericXLogState *state = GenericXLogStart(rel);
	Page		page = GenericXLogRegisterBuffer(state, buf, 0);

	XhBucketRemovals(XhPageGetOpaque(page))++;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

/*
 * xh_vacuum_chain -- bulk-delete in the overflow chain of the top 32 hash
 * bits "top".
 *
 * The bucket page that holds the chain's entry is found again (the bucket
 * may have split since we saw it) and locked exclusively, the lock every
 * inserter of the chain takes first; it is held only until the chain's
 * first page that stays is done, so that lookups and inserts of the
 * bucket's other hashes wait for at most a page or two of each chain.
 * The chain's pages are locked in chain order, each predecessor until its
 * successor is done.  Inserters and unique checks walk the chain only
 * under the bucket's lock and in the same order, each page locked before
 * its predecessor is released, so nobody waits for a page that a walker
 * behind him holds; an inserter moves entries only from the chain's first
 * page, which we are done with before it can lock it, towards the end of
 * the chain, so an entry is never moved past us unseen (one moved ahead of
 * us is seen twice, harmlessly; it may be counted twice in
 * num_index_tuples, an estimate).  This is the only VACUUM.  A page that
 * becomes empty is unlinked in the same record that cleans it: its
 * predecessor (the previous chain page, or the chain entry on the bucket
 * page) now leads to its successor; when the chain's last page goes, the
 * chain entry goes with it.
 */
static void
xh_vacuum_chain(Relation rel, uint32 top, IndexVacuumInfo *info,
				IndexBulkDeleteResult *stats,
				IndexBulkDeleteCallback callback, void *callback_state)
{
	bool		stale;
	Buffer		buf = xh_find_bucket(rel, XhChainKey(top), BUFFER_LOCK_EXCLUSIVE,
									 &stale);
	Buffer		prev = buf;
	bool		bucket_locked = true;	/* is "prev" the bucket page? */
	bool		removed_behind = false; /* entries went from later pages */
	BlockNumber next;
	XhWalk		walk = {0};
	int			c = xh_page_find_chain(BufferGetPage(buf), top);

	if (c < 0)
	{
		/* no such chain any more */
		UnlockReleaseBuffer(buf);
		return;
	}
	next = xh_chain_head(rel, BufferGetPage(buf), BufferGetBlockNumber(buf), c);
	while (next != InvalidBlockNumber)
	{
		Buffer		cbuf;
		Page		cpage;
		BlockNumber cblk = next;

		xh_walk_step(rel, &walk, BufferGetBlockNumber(prev), next);
		cbuf = ReadBufferExtended(rel, MAIN_FORKNUM, next, RBM_NORMAL,
								  info->strategy);
		LockBuffer(cbuf, BUFFER_LOCK_EXCLUSIVE);
		cpage = BufferGetPage(cbuf);
		xh_check_chain_page(rel, cpage, cblk, top);
		next = XhPageGetOpaque(cpage)->next;

		if (xh_page_has_dead(cpage, callback, callback_state))
		{
			GenericXLogState *state = GenericXLogStart(rel);
			Page		ppage = GenericXLogRegisterBuffer(state, prev, 0);

			cpage = GenericXLogRegisterBuffer(state, cbuf, 0);
			stats->tuples_removed += xh_vacuum_page(cpage, callback, callback_state);

			/*
			 * Entries of the bucket went: its removal count goes up, in this
			 * record if we still hold the bucket page (also when the chain
			 * goes with its last page, whose hashes are then inserted on
			 * the bucket page again), else after the walk.
			 */
			if (bucket_locked)
				XhBucketRemovals(XhPageGetOpaque(ppage))++;
			else
				removed_behind = true;
			if (XhPageGetNEntries(cpage) == 0)
			{
				/* unlink the empty page; scans on it follow its link */
				if (!bucket_locked)
					XhPageGetOpaque(ppage)->next = next;
				else if (next != InvalidBlockNumber)
					XhPageGetEntries(ppage)[c].blkno = next;
				else
				{
					/* the chain is gone: so is its chain entry */
					XhEntry    *entries = XhPageGetEntries(ppage);
					int			n = XhPageGetNEntries(ppage);

					memmove(&entries[c], &entries[c + 1],
							(n - c - 1) * sizeof(XhEntry));
					XhPageSetNEntries(ppage, n - 1);
					XhPageGetOpaque(ppage)->nsorted--;
					XhPageGetOpaque(ppage)->aux--;
				}
				xh_mark_deleted(cpage, next);
				stats->pages_deleted++;
				stats->pages_newly_deleted++;
			}
			GenericXLogFinish(state);
			cpage = BufferGetPage(cbuf);
		}
		if (XhPageGetKind(cpage) == XH_PAGE_DELETED)
		{
			UnlockReleaseBuffer(cbuf);
			continue;
		}
		stats->num_index_tuples += XhPageGetNEntries(cpage);
		UnlockReleaseBuffer(prev);	/* the bucket page, the first time */
		prev = cbuf;
		bucket_locked = false;
	}
	UnlockReleaseBuffer(prev);
	if (removed_behind)
		xh_vacuum_count_removal(rel, top);
}

/*
 * xh_vacuum_bucket -- bulk-delete in one bucket page ("buf", exclusively
 * locked by the caller, who releases it) and then in its overflow chains,
 * one at a time, each with the bucket locked again (xh_vacuum_chain).
 */
static void
xh_vacuum_bucket(Relation rel, Buffer buf, IndexVacuumInfo *info,
				 IndexBulkDeleteResult *stats,
				 IndexBulkDeleteCallback callback, void *callback_state)
{
	Page		page = BufferGetPage(buf);
	XhEntry    *chains = NULL;
	int			nchains = 0;
	int			i;

	if (xh_page_has_dead(page, callback, callback_state))
	{
		GenericXLogState *state = GenericXLogStart(rel);

		page = GenericXLogRegisterBuffer(state, buf, 0);
		stats->tuples_removed += xh_vacuum_page(page, callback, callback_state);
		GenericXLogFinish(state);
		page = BufferGetPage(buf);
	}
	stats->num_index_tuples += XhPageGetNEntries(page) - XhPageGetOpaque(page)->aux;

	/* the chains, by their top 32 bits */
	if (XhPageGetOpaque(page)->aux > 0)
	{
		chains = palloc(XH_PAGE_CAPACITY * sizeof(XhEntry));
		nchains = xh_page_chains(page, chains);
	}
	UnlockReleaseBuffer(buf);

	for (i = 0; i < nchains; i++)
	{
		vacuum_delay_point();
		xh_vacuum_chain(rel, chains[i].key_hi, info, stats, callback,
						callback_state);
	}
	if (chains)
		pfree(chains);
}

/*
 * xhbulkdelete -- ambulkdelete: remove the entries of dead rows.
 */
IndexBulkDeleteResult *
xhbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			 IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	rel = info->index;
	BlockNumber blkno = XH_METAPAGE_BLKNO + 1;
	BlockNumber nblocks;

	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	stats->num_index_tuples = 0;

	/* keep splits from moving entries into recycled blocks behind us */
	LockPage(rel, XH_VACLOCK_BLKNO, ExclusiveLock);

	for (;;)
	{
		nblocks = RelationGetNumberOfBlocks(rel);
		if (blkno >= nblocks)
			break;
		for (; blkno < nblocks; blkno++)
		{
			Buffer		buf;
			Page		page;

			vacuum_delay_point();
			buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL,
									 info->strategy);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			page = BufferGetPage(buf);
			if (!PageIsNew(page))
				xh_check_page(rel, page, blkno, 0);
			if (!PageIsNew(page) && XhPageGetKind(page) == XH_PAGE_BUCKET)
				xh_vacuum_bucket(rel, buf, info, stats, callback,
								 callback_state);
			else
				UnlockReleaseBuffer(buf);
		}
	}
	stats->num_pages = nblocks;
	stats->estimated_count = false;

	UnlockPage(rel, XH_VACLOCK_BLKNO, ExclusiveLock);
	return stats;
}

/*
 * xhvacuumcleanup -- amvacuumcleanup: recycle deleted pages and report
 * statistics.
 */
IndexBulkDeleteResult *
xhvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	rel = info->index;
	bool		count_tuples = (stats == NULL);
	BlockNumber nblocks;
	BlockNumber blkno;

	if (info->analyze_only)
		return stats;
	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));

	nblocks = RelationGetNumberOfBlocks(rel);
	stats->pages_deleted = 0;
	stats->pages_free = 0;
	for (blkno = XH_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;

		vacuum_delay_point();
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 info->strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);

		/*
		 * All-zero pages are left alone: they may be directory pages that a
		 * doubling in progress has allocated but not written yet.
		 */
		if (!PageIsNew(page))
		{
			xh_check_page(rel, page, blkno, 0);
			if (XhPageGetKind(page) == XH_PAGE_DELETED)
			{
				stats->pages_deleted++;
				if (xh_page_is_recyclable(page))
				{
					RecordFreeIndexPage(rel, blkno);
					stats->pages_free++;
				}
			}
			else if (count_tuples && XhPageGetKind(page) == XH_PAGE_BUCKET)
				stats->num_index_tuples += XhPageGetNEntries(page) -
					XhPageGetOpaque(page)->aux;
			else if (count_tuples && XhPageGetKind(page) == XH_PAGE_OVERFLOW)
				stats->num_index_tuples += XhPageGetNEntries(page);
		}
		UnlockReleaseBuffer(buf);
	}
	IndexFreeSpaceMapVacuum(rel);

	stats->num_pages = nblocks;
	stats->estimated_count = false;
	return stats;
}
