/*-------------------------------------------------------------------------
 *
 * xh_search.c
 *	  Index scans of xhash: amgettuple and amgetbitmap.
 *
 * A scan gathers every TID whose entry has the probe's hash into backend
 * memory first (holding one page lock at a time: the bucket page, then
 * each overflow page of the chain of the hash's top 32 bits, if the bucket
 * page has a chain entry for them), sorts and de-duplicates them, and then
 * returns them.  Entries keep only the hash, so every returned row is
 * rechecked.
 *
 * Entries marked dead are skipped (unless the scan must not ignore killed
 * tuples, i.e. on a hot standby, whose snapshots may be older than the
 * primary's horizon).  TIDs the executor finds dead to every snapshot
 * (kill_prior_tuple) are marked dead at the end of the scan on the pages
 * they came from, the bucket page and overflow pages, in one generic
 * record per page (xh_kill_flush).
 *
 * If a key column has no "=" qual (the planner should not choose xhash
 * then, see xh_cost.c), the scan walks all buckets along their
 * right-links, starting at the leftmost bucket, and returns everything.
 * The walk is complete despite concurrent splits for the same reason a
 * B-link tree scan is: a split only moves entries to a new right
 * neighbour of the page that held them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/tidbitmap.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/rel.h"

#include "xhash/xhash.h"

/*
 * xhbeginscan -- ambeginscan.
 */
IndexScanDesc
xhbeginscan(Relation r, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(r, nkeys, norderbys);
	XhScanOpaque so = (XhScanOpaque) palloc(sizeof(XhScanOpaqueData));

	so->collected = false;
	so->ntids = 0;
	so->curtid = 0;
	so->tids = so->inline_tids;
	so->kill_blkno = InvalidBlockNumber;
	so->nkillpages = 0;
	so->maxkillpages = 0;
	so->killpages = NULL;
	so->nkilled = 0;
	so->killed = NULL;
	scan->opaque = so;
	return scan;
}

/*
 * xh_kill_chain_page -- mark dead, on the overflow page "blkno" of the
 * chain of the scan's hash, the entries of the scan's killed TIDs;
 * returns how many of them the page has.  The bucket page is share-locked
 * (see xh_kill_flush).  The page may have been unlinked by VACUUM since
 * we read it, and is then left alone (it cannot have been recycled: that
 * waits until no snapshot as old as ours is left, see
 * xh_page_is_recyclable).
 */
static int
xh_kill_chain_page(Relation rel, XhScanOpaque so, BlockNumber blkno)
{
	Buffer		buf = ReadBuffer(rel, blkno);
	Page		page;
	int			found = 0;

	if (!ConditionalLockBuffer(buf))
	{
		ReleaseBuffer(buf);
		return 0;
	}
	page = BufferGetPage(buf);
	xh_check_page(rel, page, blkno, 0);
	if (XhPageGetKind(page) == XH_PAGE_OVERFLOW &&
		XhPageGetOpaque(page)->aux == XhHashTop32(so->kill_hash))
		found = xh_mark_tids(rel, buf, so->kill_hash, so->killed, so->nkilled);
	UnlockReleaseBuffer(buf);
	return found;
}

/*
 * xh_kill_count_kept -- is the removal count of the bucket page in "buf"
 * (locked, in either mode) the one the scan's TIDs were gathered under?
 */
static bool
xh_kill_count_kept(Relation rel, Buffer buf, XhScanOpaque so)
{
	Page		page = BufferGetPage(buf);

	xh_check_page(rel, page, so->kill_blkno, XH_PAGE_BUCKET);
	return XhBucketRemovals(XhPageGetOpaque(page)) == so->kill_removals;
}

/*
 * xh_kill_flush -- mark dead the entries of the TIDs reported dead during
 * this scan (kill_prior_tuple), on the pages they were gathered from: the
 * bucket page, then the overflow pages that gave TIDs, in chain order,
 * until all are found.
 *
 * The executor reported every row version these TIDs lead to dead to
 * every snapshot, so marking their entries is always right, as long as the
 * entries we find are the ones we saw: after VACUUM removed an entry, the
 * table may give its TID to a new row with the same key, whose entry we
 * must not mark.  So VACUUM raises the removal count of the bucket page
 * whenever it takes entries off the page or off one of its chains (and so
 * do removals of dead entries, spills to a chain and splits), and if the
 * count has changed since we gathered the TIDs, we mark nothing.  This
 * lets the scan hold no pin between calls (which would hold up VACUUM, as
 * core hash's scans do), and unlike a page LSN check it survives our own
 * insert into the page, which an UPDATE makes in the middle of the scan
 * that found its row.  Entries may have moved along the chain since
 * (xh_chain_move); those not found where we look stay unmarked.
 *
 * The count only changes under an exclusive lock of the bucket page, and
 * a TID VACUUM freed can only be reused once VACUUM has raised it (the
 * table frees its TIDs after the index pass).  So while we mark on chain
 * pages, a share lock of the bucket page is enough to keep the count, and
 * with it the TIDs, as they were: the marks on the bucket page itself are
 * made under an exclusive lock, released before the chain pages, which
 * are then marked under a share lock of the bucket, taken again and the
 * count checked again.  Lookups of the bucket's other keys go on
 * meanwhile; inserts into the bucket wait (marking 300 chain pages takes
 * about 20 ms).
 *
 * The marks are WAL-logged (one generic record per page; see xh_page.h for
 * why).  They are only an optimisation, so we do not wait for the
 * exclusive locks (which also keeps the chain pages' locks, taken while
 * holding the bucket's, out of any deadlock); the share lock of the
 * bucket page is awaited, holding no other lock.
 */
static void
xh_kill_flush(IndexScanDesc scan)
{
	Relation	rel = scan->indexRelation;
	XhScanOpaque so = (XhScanOpaque) scan->opaque;
	Buffer		buf;
	int			left;
	int			p;

	if (so->nkilled == 0)
		return;

	/*
	 * Not while the transaction aborts: an open cursor's scan is ended
	 * then too, and that is no time to write WAL.
	 */
	if (!IsTransactionState())
	{
		so->nkilled = 0;
		return;
	}
	buf = ReadBuffer(rel, so->kill_blkno);
	left = so->nkilled;
	if (ConditionalLockBuffer(buf))
	{
		if (!xh_kill_count_kept(rel, buf, so))
			left = 0;
		else					/* the TIDs were returned in order: sorted */
			left -= xh_mark_tids(rel, buf, so->kill_hash, so->killed,
								 so->nkilled);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	}
	if (left > 0 && so->nkillpages > 0)
	{
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		if (xh_kill_count_kept(rel, buf, so))
		{
			for (p = 0; p < so->nkillpages && left > 0; p++)
				left -= xh_kill_chain_page(rel, so, so->killpages[p]);
		}
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	}
	ReleaseBuffer(buf);
	so->nkilled = 0;
}

/*
 * xh_kill_prior -- remember the TID returned last, which the executor
 * found dead to every snapshot.
 */
static void
xh_kill_prior(XhScanOpaque so)
{
	if (so->kill_blkno == InvalidBlockNumber || so->curtid == 0)
		return;
	if (so->killed == NULL)
		so->killed = palloc(so->ntids * sizeof(ItemPointerData));
	Assert(so->nkilled < so->ntids);
	so->killed[so->nkilled++] = so->tids[so->curtid - 1];
}

/*
 * xh_forget_tids -- drop the TIDs gathered by the previous scan.
 */
static inline void
xh_forget_tids(XhScanOpaque so)
{
	if (so->tids != so->inline_tids)
		pfree(so->tids);
	if (so->killed)
		pfree(so->killed);
	so->killed = NULL;
	so->nkilled = 0;
	so->kill_blkno = InvalidBlockNumber;
	so->nkillpages = 0;
	so->tids = so->inline_tids;
	so->ntids = 0;
	so->curtid = 0;
	so->collected = false;
}

/*
 * xhrescan -- amrescan: take new scan keys, forget gathered TIDs.
 */
void
xhrescan(IndexScanDesc scan, ScanKey scankey, int nscankeys,
		 ScanKey orderbys, int norderbys)
{
	XhScanOpaque so = (XhScanOpaque) scan->opaque;

	xh_kill_flush(scan);
	if (scankey && scan->numberOfKeys > 0)
		memmove(scan->keyData, scankey, scan->numberOfKeys * sizeof(ScanKeyData));
	xh_forget_tids(so);
}

/*
 * xhendscan -- amendscan.
 */
void
xhendscan(IndexScanDesc scan)
{
	XhScanOpaque so = (XhScanOpaque) scan->opaque;

	xh_kill_flush(scan);
	xh_forget_tids(so);
	if (so->killpages)
		pfree(so->killpages);
	pfree(so);
}

/*
 * Growable TID array; starts as the scan's inline array, so that the usual
 * lookup (a handful of matches) allocates nothing.
 */
typedef struct XhTidList
{
	ItemPointerData *tids;
	int			n;
	int			max;
	ItemPointerData *inline_tids;	/* the initial array, not to be freed */
} XhTidList;

/*
 * xh_add_tid -- append the TID of entry "e" to the list.
 */
static inline void
xh_add_tid(XhTidList *list, const XhEntry *e)
{
	if (unlikely(list->n >= list->max))
	{
		list->max *= 2;
		if (list->tids == list->inline_tids)
		{
			list->tids = palloc(list->max * sizeof(ItemPointerData));
			memcpy(list->tids, list->inline_tids, list->n * sizeof(ItemPointerData));
		}
		else
			list->tids = repalloc_huge(list->tids, list->max * sizeof(ItemPointerData));
	}
	xh_entry_tid(e, &list->tids[list->n++]);
}

/*
 * xh_collect_page -- add the TIDs of the entries on "page" with hash
 * "hash", or of all entries if "all".  Chain entries are no TIDs; entries
 * marked dead are skipped if "skip_dead".
 */
static void
xh_collect_page(Page page, uint64 hash, bool all, bool skip_dead,
				XhTidList *list)
{
	XhEntry    *entries = XhPageGetEntries(page);
	int			n = XhPageGetNEntries(page);
	int			nsorted = XhPageGetOpaque(page)->nsorted;
	uint64		h = hash & XH_HASH_MASK;
	int			i;

	/* without dead entries on the page, nothing to skip */
	if (!(XhPageGetOpaque(page)->flags & XH_FLAG_HAS_DEAD))
		skip_dead = false;
	if (all)
	{
		for (i = 0; i < n; i++)
			if (!XhEntryIsChain(&entries[i]) &&
				!(skip_dead && XhEntryIsDead(&entries[i])))
				xh_add_tid(list, &entries[i]);
		return;
	}
	for (i = xh_page_find_first(page, hash);
		 i < nsorted && XhEntryHash(&entries[i]) == h; i++)
		if (!XhEntryIsChain(&entries[i]) &&
			!(skip_dead && XhEntryIsDead(&entries[i])))
			xh_add_tid(list, &entries[i]);
	for (i = nsorted; i < n; i++)
		if (XhEntryHash(&entries[i]) == h &&
			!(skip_dead && XhEntryIsDead(&entries[i])))
			xh_add_tid(list, &entries[i]);
}

/*
 * xh_note_kill_page -- remember overflow page "blkno" as one where the
 * scan's TIDs may be marked dead.
 */
static void
xh_note_kill_page(XhScanOpaque so, BlockNumber blkno)
{
	if (so->nkillpages >= so->maxkillpages)
	{
		so->maxkillpages = Max(8, so->maxkillpages * 2);
		if (so->killpages == NULL)
			so->killpages = palloc(so->maxkillpages * sizeof(BlockNumber));
		else
			so->killpages = repalloc(so->killpages,
									 so->maxkillpages * sizeof(BlockNumber));
	}
	so->killpages[so->nkillpages++] = blkno;
}

/*
 * xh_collect_chain -- add matching TIDs from the overflow chain of the top
 * 32 hash bits "top", starting at "next" (linked from block "from"), one
 * page lock at a time.  A deleted page was unlinked (empty) by VACUUM
 * after we read the link to it; its own link leads on.
 *
 * Every page of the chain must be a page of this chain: an overflow page
 * carries the chain's top 32 bits, and the range of the bucket it was made
 * for, which must contain them; a deleted chain page keeps the top 32 bits
 * too.  On a primary an unlinked page is only recycled once no scan can
 * still hold a link to it, but a hot standby's scans do not hold VACUUM
 * back: a page we reach through a stale link may have become a page of
 * another chain or of another kind (or been deleted again from another
 * chain), and following its links would skip the rest of ours.  Returns
 * false in that case; the caller starts over from the bucket page, and
 * reports corruption if that keeps happening.
 *
 * With "so", the pages that gave TIDs are noted there, for xh_kill_flush.
 */
static bool
xh_collect_chain(Relation rel, BlockNumber from, BlockNumber next,
				 uint64 hash, bool all, bool skip_dead, uint32 top,
				 XhTidList *list, XhScanOpaque so)
{
	XhWalk		walk = {0};

	while (next != InvalidBlockNumber)
	{
		Buffer		buf;
		Page		page;
		XhPageOpaque opaque;
		bool		ours;

		xh_walk_step(rel, &walk, from, next);
		buf = ReadBuffer(rel, next);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		xh_check_page(rel, page, next, 0);
		opaque = XhPageGetOpaque(page);
		if (opaque->kind == XH_PAGE_OVERFLOW)
			ours = opaque->aux == top &&
				xh_ranges_overlap(opaque->depth, opaque->prefix, 32, top);
		else
			ours = opaque->kind == XH_PAGE_DELETED && opaque->link == top;
		if (!ours)
		{
			UnlockReleaseBuffer(buf);
			return false;
		}
		if (opaque->kind == XH_PAGE_OVERFLOW)
		{
			int			n0 = list->n;

			xh_collect_page(page, hash, all, skip_dead, list);
			if (so != NULL && list->n > n0)
				xh_note_kill_page(so, next);
		}
		from = next;
		next = opaque->next;
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/*
 * xh_chain_lost -- a chain walk from bucket page "blkno" reached a page of
 * another chain (see xh_collect_chain); we start over.  Only a hot
 * standby's replay of VACUUM and new chain pages can make that happen, so
 * a few more tries always suffice unless the chain itself is damaged.
 */
static void
xh_chain_lost(Relation rel, BlockNumber blkno, int attempt)
{
	if (attempt >= XH_CHAIN_RETRIES)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" contains corrupted page at block %u",
						RelationGetRelationName(rel), blkno),
				 errdetail("The overflow chain leads to pages that are not its own."),
				 errhint("Please REINDEX it.")));
	CHECK_FOR_INTERRUPTS();
}

/*
 * xh_scan_hash -- the probe hash from the scan keys; false if a key is
 * NULL (nothing can match) or some key column has no key (*partial).
 */
static bool
xh_scan_hash(IndexScanDesc scan, uint64 seed, uint64 *hash, bool *partial)
{
	Relation	rel = scan->indexRelation;
	int			natts = IndexRelationGetNumberOfKeyAttributes(rel);
	uint64		acc = 0;
	int			att;

	*partial = false;
	for (att = 1; att <= natts; att++)
	{
		ScanKey		key = NULL;
		FmgrInfo   *proc;
		uint64		h;
		int			k;

		for (k = 0; k < scan->numberOfKeys; k++)
		{
			if (scan->keyData[k].sk_attno == att)
			{
				key = &scan->keyData[k];
				break;
			}
		}
		if (key == NULL)
		{
			*partial = true;
			return true;
		}
		if (key->sk_flags & SK_ISNULL)
			return false;

		/* a cross-type key is hashed with its own type's function */
		if (OidIsValid(key->sk_subtype) &&
			key->sk_subtype != rel->rd_opcintype[att - 1])
			proc = xh_get_cross_proc(rel, att, key->sk_subtype);
		else
			proc = index_getprocinfo(rel, att, XHASH_EXTENDED_PROC);
		h = DatumGetUInt64(FunctionCall2Coll(proc, key->sk_collation,
											 key->sk_argument,
											 UInt64GetDatum(seed)));
		acc = xh_combine(acc, h);
	}
	*hash = xh_mix64(acc);
	return true;
}

/*
 * xh_collect -- gather, sort and de-duplicate the TIDs the scan returns.
 */
static void
xh_collect(IndexScanDesc scan)
{
	Relation	rel = scan->indexRelation;
	XhScanOpaque so = (XhScanOpaque) scan->opaque;
	XhCache    *cache = xh_get_cache(rel, false);
	XhTidList	list;
	uint64		hash = 0;
	bool		partial;
	bool		skip_dead = scan->ignore_killed_tuples;
	int			i,
				j;

	Assert(so->tids == so->inline_tids && so->ntids == 0);
	list.tids = list.inline_tids = so->inline_tids;
	list.n = 0;
	list.max = XH_INLINE_TIDS;
	so->collected = true;

	/* one index scan in the statistics per key, as core hash counts them */
	pgstat_count_index_scan(rel);
	if (!xh_scan_hash(scan, cache->seed, &hash, &partial))
		return;

	if (!partial)
	{
		int			attempt;

		for (attempt = 0;; attempt++)
		{
			bool		stale;
			Buffer		buf = xh_find_bucket(rel, hash, BUFFER_LOCK_SHARE, &stale);
			Page		page = BufferGetPage(buf);
			BlockNumber blkno = BufferGetBlockNumber(buf);
			BlockNumber next = InvalidBlockNumber;
			int			c;

			/*
			 * A serializable transaction's read of this hash: a predicate
			 * lock on its bucket page, taken under the page's lock, which
			 * every inserter of the hash checks (also when its entry goes
			 * to a chain) and which a split copies to the new page.
			 */
			PredicateLockPage(rel, blkno, scan->xs_snapshot);
			list.n = 0;
			so->nkillpages = 0;
			xh_collect_page(page, hash, false, skip_dead, &list);
			c = xh_page_find_chain(page, XhHashTop32(hash));
			if (c >= 0)
				next = xh_chain_head(rel, page, blkno, c);

			/* where TIDs the executor finds dead get marked */
			so->kill_blkno = blkno;
			so->kill_removals = XhBucketRemovals(XhPageGetOpaque(page));
			so->kill_hash = hash;
			UnlockReleaseBuffer(buf);
			if (xh_collect_chain(rel, blkno, next, hash, false, skip_dead,
								 XhHashTop32(hash), &list, so))
				break;
			xh_chain_lost(rel, blkno, attempt);
		}
	}
	else
	{
		/* no usable hash: every bucket from the leftmost one rightwards */
		BlockNumber blkno = xh_dir_lookup(rel, 0, false);
		XhWalk		walk = {0};
		int			attempt = 0;
		XhEntry    *chains = NULL;

		/* a serializable transaction reads the whole index */
		PredicateLockRelation(rel, scan->xs_snapshot);

		while (blkno != InvalidBlockNumber)
		{
			Buffer		buf = ReadBuffer(rel, blkno);
			Page		page;
			BlockNumber link;
			int			nchains = 0;
			int			n0 = list.n;
			int			c;

			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			xh_check_page(rel, page, blkno, XH_PAGE_BUCKET);
			xh_collect_page(page, 0, true, skip_dead, &list);

			/* the chain entries, as the page is released next */
			if (XhPageGetOpaque(page)->aux > 0)
			{
				if (chains == NULL)
					chains = palloc(XH_PAGE_CAPACITY * sizeof(XhEntry));
				nchains = xh_page_chains(page, chains);
			}
			link = XhPageGetOpaque(page)->link;
			UnlockReleaseBuffer(buf);

			for (c = 0; c < nchains; c++)
				if (!xh_collect_chain(rel, blkno,
									  xh_check_chain_head(rel, blkno, chains[c].blkno),
									  0, true, skip_dead, chains[c].key_hi,
									  &list, NULL))
					break;
			if (c < nchains)
			{
				/* this bucket again, without what we took from it */
				list.n = n0;
				xh_chain_lost(rel, blkno, attempt++);
				continue;
			}
			if (link != InvalidBlockNumber)
				xh_walk_step(rel, &walk, blkno, link);
			blkno = link;
		}
		if (chains)
			pfree(chains);
	}

	if (list.n > 1)
	{
		qsort(list.tids, list.n, sizeof(ItemPointerData), xh_tid_cmp);
		for (i = 1, j = 1; i < list.n; i++)
			if (!ItemPointerEquals(&list.tids[i], &list.tids[j - 1]))
				list.tids[j++] = list.tids[i];
		list.n = j;
	}
	so->tids = list.tids;
	so->ntids = list.n;
	so->curtid = 0;
}

/*
 * xhgettuple -- amgettuple: the next TID, always to be rechecked.
 */
bool
xhgettuple(IndexScanDesc scan, ScanDirection dir)
{
	XhScanOpaque so = (XhScanOpaque) scan->opaque;

	if (!so->collected)
		xh_collect(scan);
	else if (scan->kill_prior_tuple)
		xh_kill_prior(so);
	if (so->curtid >= so->ntids)
	{
		xh_kill_flush(scan);
		return false;
	}
	scan->xs_heaptid = so->tids[so->curtid++];
	scan->xs_recheck = true;
	return true;
}

/*
 * xhgetbitmap -- amgetbitmap: add all TIDs to the bitmap, to be rechecked.
 */
int64
xhgetbitmap(IndexScanDesc scan, TIDBitmap *tbm)
{
	XhScanOpaque so = (XhScanOpaque) scan->opaque;

	if (!so->collected)
		xh_collect(scan);
	if (so->ntids > 0)
		tbm_add_tuples(tbm, so->tids, so->ntids, true);
	return so->ntids;
}
