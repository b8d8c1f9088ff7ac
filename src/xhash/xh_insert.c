/*-------------------------------------------------------------------------
 *
 * xh_insert.c
 *	  aminsert for xhash, including the unique check.
 *
 * Locking: the inserter holds an exclusive lock on the bucket page of its
 * hash from the unique check until its entry is in place, so two
 * inserters of the same key are serialised exactly as nbtree serialises
 * them on a leaf page.  Overflow pages of the bucket are locked after the
 * bucket page, in chain order, each before the previous one is released
 * (the chain's first page stays locked while an insert walks the chain for
 * room).  A full bucket page first loses the entries of dead rows (table
 * blocks are read under its lock, as nbtree reads them under a leaf's);
 * failing that it is split by xh_split, which takes its own locks; the
 * insert then starts over.
 *
 * WAL: appending an entry to a page is one generic record of that page (a
 * 12-byte delta plus pd_lower); a new chain page is one record of the
 * bucket page (its chain entry's new link) and the new page (full image);
 * so is a frequent key's group moved from a full bucket page to a new
 * chain page (both full images).  Entries of dead rows removed from a full
 * bucket or chain page (xh_delete_entries) are one record of that page,
 * after the recovery-conflict record of their horizon; entries moved from
 * a chain's full first page to a later one are one record of both pages;
 * entries a unique check finds dead are marked in one record per page.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "common/lsm_common.h"
#include "xhash/xhash.h"

/* outcome of a unique check */
typedef enum XhUniqueResult
{
	XH_UNIQUE_OK,				/* no live conflicting row */
	XH_UNIQUE_CONFLICT,			/* a live or committed conflicting row */
	XH_UNIQUE_WAIT				/* wait for xwait, then retry */
} XhUniqueResult;

/*
 * xh_report_duplicate -- raise the unique violation, worded as nbtree's.
 */
void
xh_report_duplicate(Relation index, Relation heapRel, Datum *values,
					bool *isnull)
{
	char	   *key_desc = BuildIndexValueDescription(index, values, isnull);

	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("duplicate key value violates unique constraint \"%s\"",
					RelationGetRelationName(index)),
			 key_desc ? errdetail("Key %s already exists.", key_desc) : 0,
			 errtableconstraint(heapRel, RelationGetRelationName(index))));
}

/*
 * xh_check_candidate -- examine one index entry with our hash during a
 * unique check (the nbtree protocol of _bt_check_unique, per TID).
 */
static XhUniqueResult
xh_check_candidate(Relation index, Relation heapRel, IndexInfo *indexInfo,
				   ItemPointer cand, ItemPointer own,
				   IndexUniqueCheck checkUnique, Datum *values, bool *isnull,
				   bool *found_self, TransactionId *xwait,
				   uint32 *spectoken, bool *all_dead)
{
	SnapshotData SnapshotDirty;
	Datum		cvalues[INDEX_MAX_KEYS];
	bool		cisnull[INDEX_MAX_KEYS];
	ItemPointerData owntid;

	*all_dead = false;

	/* rechecking a deferred constraint: our own entry is no conflict */
	if (checkUnique == UNIQUE_CHECK_EXISTING && ItemPointerEquals(cand, own))
	{
		*found_self = true;
		return XH_UNIQUE_OK;
	}

	InitDirtySnapshot(SnapshotDirty);
	if (!xh_fetch_keys(heapRel, index, indexInfo, cand, &SnapshotDirty,
					   cvalues, cisnull, all_dead) ||
		!xh_keys_equal(index, values, isnull, cvalues, cisnull))
		return XH_UNIQUE_OK;	/* dead, or only the hash was equal */

	/* a potential conflict; a partial check leaves the rest for later */
	if (checkUnique == UNIQUE_CHECK_PARTIAL)
		return XH_UNIQUE_CONFLICT;

	/* inserted or deleted by a transaction in progress: wait for it */
	*xwait = TransactionIdIsValid(SnapshotDirty.xmin) ?
		SnapshotDirty.xmin : SnapshotDirty.xmax;
	if (TransactionIdIsValid(*xwait))
	{
		*spectoken = SnapshotDirty.speculativeToken;
		return XH_UNIQUE_WAIT;
	}

	/*
	 * A definite conflict, unless the row we insert is itself dead already
	 * (CREATE INDEX CONCURRENTLY inserts rows that may have died since).
	 */
	owntid = *own;
	if (!table_index_fetch_tuple_check(heapRel, &owntid, SnapshotSelf, NULL))
		return XH_UNIQUE_OK;
	return XH_UNIQUE_CONFLICT;
}

/*
 * xh_unique_mark_chain -- mark dead the entries of the (sorted) TIDs
 * tids[0..ntids) with hash "hash" on the chain page "buf", on which a
 * unique check holds a share lock (and the bucket's lock); returns the
 * page's next page, as read again.
 *
 * The lock is given up and taken again exclusively.  Meanwhile nobody
 * changes the page: the bucket's lock keeps inserters, unique checks and
 * scans' marks out of the chain, and VACUUM, which starts a chain under
 * that lock, is ahead of us on it (see xh_check_unique).  Still, the
 * entries are looked up by TID again, which would be right even after a
 * removal (a TID is not given to a new row before VACUUM raised the
 * bucket's removal count, which needs the bucket's lock), and an unlinked
 * page would keep its link and have no entries.
 */
static BlockNumber
xh_unique_mark_chain(Relation index, Buffer buf, uint64 hash,
					 ItemPointer tids, int ntids)
{
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (XhPageGetKind(BufferGetPage(buf)) == XH_PAGE_OVERFLOW)
		(void) xh_mark_tids(index, buf, hash, tids, ntids);
	return XhPageGetOpaque(BufferGetPage(buf))->next;
}

/*
 * xh_check_unique -- look for rows with the same key as the one being
 * inserted, in the bucket page "buf" (locked exclusively by the caller)
 * and its overflow chain.
 *
 * Entries marked dead are skipped, as nbtree skips LP_DEAD items; entries
 * whose rows turn out dead to every snapshot are marked dead on the way,
 * in one record per page (on a chain page: xh_unique_mark_chain).
 *
 * The bucket's lock keeps other inserters and unique checks out of the
 * chain, but not VACUUM, which holds it only for the chain's first page
 * and then walks the chain holding each page until it has locked the next
 * one (xh_vacuum.c).  As it started the chain before we took the bucket's
 * lock, it is ahead of us, and it unlinks a page only while holding the
 * page before it, which we cannot have passed.  Like every chain walker,
 * we also take each chain page's lock before letting go of the previous
 * page, so that a page whose link we read under its predecessor's lock
 * cannot be unlinked before we have it, whatever the order.
 */
static XhUniqueResult
xh_check_unique(Relation index, Relation heapRel, IndexInfo *indexInfo,
				Buffer buf, uint64 hash, ItemPointer own,
				IndexUniqueCheck checkUnique, Datum *values, bool *isnull,
				bool *found_self, TransactionId *xwait, uint32 *spectoken)
{
	Page		page = BufferGetPage(buf);
	uint64		h = hash & XH_HASH_MASK;
	BlockNumber next;
	int			c;
	Buffer		cbuf = InvalidBuffer;
	XhUniqueResult res = XH_UNIQUE_OK;
	XhWalk		walk = {0};
	ItemPointerData kill[XH_PAGE_CAPACITY];

	/* the bucket page, then the chain of our top 32 bits if it has one */
	c = xh_page_find_chain(page, XhHashTop32(hash));
	next = c >= 0 ? xh_chain_head(index, page, BufferGetBlockNumber(buf), c) :
		InvalidBlockNumber;
	for (;;)
	{
		XhEntry    *entries = XhPageGetEntries(page);
		int			n = XhPageGetNEntries(page);
		int			nsorted = XhPageGetOpaque(page)->nsorted;
		int			nkill = 0;
		int			i;
		Buffer		nbuf;

		for (i = xh_page_find_first(page, hash); i < n; i++)
		{
			ItemPointerData cand;
			bool		all_dead;

			if (i < nsorted && XhEntryHash(&entries[i]) != h)
			{
				i = nsorted - 1;	/* past our run: go to the unsorted part */
				continue;
			}
			if (XhEntryHash(&entries[i]) != h || XhEntryIsChain(&entries[i]) ||
				XhEntryIsDead(&entries[i]))
				continue;
			xh_entry_tid(&entries[i], &cand);
			res = xh_check_candidate(index, heapRel, indexInfo, &cand, own,
									 checkUnique, values, isnull, found_self,
									 xwait, spectoken, &all_dead);
			if (all_dead)
				kill[nkill++] = cand;
			if (res != XH_UNIQUE_OK)
				break;
		}
		if (nkill > 0)
		{
			qsort(kill, nkill, sizeof(ItemPointerData), xh_tid_cmp);
			if (!BufferIsValid(cbuf))
				(void) xh_mark_tids(index, buf, hash, kill, nkill);
			else
				next = xh_unique_mark_chain(index, cbuf, hash, kill, nkill);
		}
		if (res != XH_UNIQUE_OK || next == InvalidBlockNumber)
			break;

		/* next chain page; the bucket page stays locked */
		xh_walk_step(index, &walk,
					 BufferGetBlockNumber(BufferIsValid(cbuf) ? cbuf : buf), next);
		nbuf = ReadBuffer(index, next);
		LockBuffer(nbuf, BUFFER_LOCK_SHARE);
		if (BufferIsValid(cbuf))
			UnlockReleaseBuffer(cbuf);
		cbuf = nbuf;
		page = BufferGetPage(cbuf);
		/* an unlinked page (see xh_unique_mark_chain) is empty, leads on */
		(void) xh_check_chain_step(index, page, next, XhHashTop32(hash));
		next = XhPageGetOpaque(page)->next;
	}
	if (BufferIsValid(cbuf))
		UnlockReleaseBuffer(cbuf);
	return res;
}

/*
 * xh_page_append -- add one entry to a page registered in a generic WAL
 * record (never a memmove: the entry goes after the last one).
 */
static void
xh_page_append(Page page, XhEntry *entry)
{
	int			n = XhPageGetNEntries(page);

	Assert(n < XH_PAGE_CAPACITY);
	XhPageGetEntries(page)[n] = *entry;
	XhPageSetNEntries(page, n + 1);
}

/*
 * xh_delete_entries -- make room on the full bucket page or chain page
 * "buf" (locked exclusively, as in core hash and nbtree before they split
 * a page; for a chain page, the bucket page "bucket" too, else
 * InvalidBuffer) by removing entries whose rows are dead to every
 * snapshot; returns how many went.
 *
 * Without "bottomup": the entries marked dead (known deletable).  With
 * it, nbtree's bottom-up deletion: the insert comes from an UPDATE that
 * left this index's columns unchanged (lsm tables have no HOT, and heap
 * tables do this when HOT is not possible), so the page is likely to hold
 * the row's older versions -- the entries with the same hash, which we
 * call promising; the table AM visits the few table blocks most likely to
 * pay off and reports which entries are deletable.
 *
 * Their rows are dead here, but a hot standby's queries may still need
 * them.  The table AM (table_index_delete_tuples) returns the newest xid
 * that deleted them, which is logged first as a recovery conflict
 * (lsm_log_conflict_horizon: generic WAL cannot carry one); then the page
 * loses the entries in one generic record, which also raises the bucket
 * page's removal count (xh_page_remove_entries does that for a bucket
 * page; for a chain page, the bucket page is in the record too): a scan
 * that gathered one of these TIDs must not mark an entry with it later,
 * which may be a new row's once VACUUM has freed the TID -- and VACUUM,
 * finding no entry left to remove, would not raise the count itself (see
 * xh_kill_flush).
 */
static int
xh_delete_entries(Relation index, Relation heapRel, Buffer buf,
				  Buffer bucket, bool bottomup, uint64 hash)
{
	Page		page = BufferGetPage(buf);
	XhEntry    *entries = XhPageGetEntries(page);
	int			n = XhPageGetNEntries(page);
	uint64		h = hash & XH_HASH_MASK;
	TM_IndexDeleteOp delstate;
	TransactionId horizon;
	GenericXLogState *state;
	bool	   *gone;
	int			ngone = 0,
				i;

	delstate.irel = index;
	delstate.iblknum = BufferGetBlockNumber(buf);
	delstate.bottomup = bottomup;
	delstate.bottomupfreespace = bottomup ? BLCKSZ / 16 : 0;
	delstate.ndeltids = 0;
	delstate.deltids = palloc(n * sizeof(TM_IndexDelete));
	delstate.status = palloc(n * sizeof(TM_IndexStatus));
	for (i = 0; i < n; i++)
	{
		int			d = delstate.ndeltids;

		/* simple deletion: the marked entries; bottom-up: the others */
		if (XhEntryIsChain(&entries[i]) ||
			(bottomup ? XhEntryIsDead(&entries[i]) : !XhEntryIsDead(&entries[i])))
			continue;
		xh_entry_tid(&entries[i], &delstate.deltids[d].tid);
		delstate.deltids[d].id = d;
		/* 1-based: the table AM asserts a valid OffsetNumber */
		delstate.status[d].idxoffnum = (OffsetNumber) (i + 1);
		delstate.status[d].knowndeletable = !bottomup;
		delstate.status[d].promising = bottomup && XhEntryHash(&entries[i]) == h;
		delstate.status[d].freespace = sizeof(XhEntry);
		delstate.ndeltids++;
	}
	if (delstate.ndeltids == 0)
	{
		pfree(delstate.deltids);
		pfree(delstate.status);
		return 0;
	}
	horizon = table_index_delete_tuples(heapRel, &delstate);

	gone = palloc0(n * sizeof(bool));
	for (i = 0; i < delstate.ndeltids; i++)
	{
		TM_IndexStatus *st = &delstate.status[delstate.deltids[i].id];

		if (st->knowndeletable && !gone[st->idxoffnum - 1])
		{
			gone[st->idxoffnum - 1] = true;
			ngone++;
		}
	}
	if (ngone > 0)
	{
		lsm_log_conflict_horizon(index, horizon);

		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		(void) xh_page_remove_entries(page, gone);
		if (BufferIsValid(bucket))
		{
			Page		bpage = GenericXLogRegisterBuffer(state, bucket, 0);

			XhBucketRemovals(XhPageGetOpaque(bpage))++;
		}
		GenericXLogFinish(state);
	}
	pfree(gone);
	pfree(delstate.deltids);
	pfree(delstate.status);
	return ngone;
}

/*
 * xh_make_room -- if the bucket page or chain page "buf" (locked
 * exclusively; for a chain page, its bucket page "bucket" too, else
 * InvalidBuffer) is full, remove its entries of dead rows: those marked
 * dead, then, if "bottomup" (an update that left our columns unchanged),
 * what bottom-up deletion finds (xh_delete_entries).  Returns whether it
 * made a bottom-up pass.
 */
static bool
xh_make_room(Relation index, Relation heapRel, Buffer buf, Buffer bucket,
			 uint64 hash, bool bottomup)
{
	Page		page = BufferGetPage(buf);

	if (XhPageGetNEntries(page) >= XH_PAGE_CAPACITY &&
		(XhPageGetOpaque(page)->flags & XH_FLAG_HAS_DEAD))
		(void) xh_delete_entries(index, heapRel, buf, bucket, false, hash);
	if (XhPageGetNEntries(page) < XH_PAGE_CAPACITY || !bottomup)
		return false;
	(void) xh_delete_entries(index, heapRel, buf, bucket, true, hash);
	return true;
}

/*
 * xh_chain_move -- move entries from the end of the chain's full first
 * page "hbuf" to the later chain page "cbuf" (both locked exclusively,
 * under the bucket's lock), filling it, and set the first page's
 * bottom-up cursor to "cursor" (see xh_chain_make_room); one generic
 * record of both pages.
 *
 * Entries only move towards the end of the chain: a scan, which reads the
 * chain's pages in order one at a time, finds a moved entry on the first
 * page if it read that before the move, and on the later page otherwise
 * (it returns TIDs de-duplicated).  VACUUM, which also goes in chain
 * order, has passed the first page already (see xh_vacuum_chain).  A
 * moved entry is still the entry of its row, so the bucket's removal count
 * stays as it is (see xh_kill_flush).
 */
static void
xh_chain_move(Relation index, Buffer hbuf, Buffer cbuf, uint32 cursor)
{
	GenericXLogState *state = GenericXLogStart(index);
	Page		hpage = GenericXLogRegisterBuffer(state, hbuf, 0);
	Page		cpage = GenericXLogRegisterBuffer(state, cbuf, 0);
	XhPageOpaque hopaque = XhPageGetOpaque(hpage);
	XhPageOpaque copaque = XhPageGetOpaque(cpage);
	int			nh = XhPageGetNEntries(hpage);
	int			nc = XhPageGetNEntries(cpage);
	int			nmove = Min(XH_PAGE_CAPACITY - nc, nh);
	XhEntry    *from = XhPageGetEntries(hpage) + nh - nmove;

	Assert(nmove > 0);
	memcpy(XhPageGetEntries(cpage) + nc, from, nmove * sizeof(XhEntry));
	XhPageSetNEntries(cpage, nc + nmove);
	if (xh_page_count_dead(cpage) > 0)
		copaque->flags |= XH_FLAG_HAS_DEAD;
	XhPageSetNEntries(hpage, nh - nmove);
	hopaque->nsorted = Min(hopaque->nsorted, nh - nmove);
	if (xh_page_count_dead(hpage) == 0)
		hopaque->flags &= ~XH_FLAG_HAS_DEAD;
	XhChainCursor(hopaque) = cursor;
	GenericXLogFinish(state);
}

/*
 * xh_chain_make_room -- make room on the chain's full first page "hbuf"
 * (locked exclusively, under the lock of the bucket page "buf") by moving
 * entries to a later page of the chain with room; returns whether it did.
 * *cursor is set to the first page's bottom-up cursor for the next time
 * (counted from the current first page).
 *
 * The chain's later pages are looked at in chain order, at least
 * XH_CHAIN_ROOM_PAGES of them; a full one first loses its entries of dead
 * rows, as a full first page does (xh_make_room): the marked ones,
 * then, for an update that left our columns unchanged, what bottom-up
 * deletion finds -- on up to XH_CHAIN_BOTTOMUP_PAGES pages, the first at
 * the first page's bottom-up cursor, which then moves on past them; at the
 * chain's end the passes go on from its start (a second walk, up to the
 * cursor).  New first pages are linked in at the front, so the oldest
 * pages, with most of the dead versions, are at the end; the cursor lets
 * the passes reach every page in turn.  Without any of this, the dead
 * versions of a frequent key's rows on older chain pages, which inserts
 * never reached, stayed there until VACUUM, and the chain grew at its
 * head meanwhile.  The walk happens only when the first page is full, and
 * when it finds room it moves enough entries to fill that page, so inserts
 * pay for it about once per page of entries.
 *
 * Locks are taken in chain order, each page's before the previous one's
 * is released (the first page stays locked): VACUUM walks chains the same
 * way, so neither waits for a page the other holds behind it, and no page
 * we hold a link to can be unlinked before we have it.
 */
static bool
xh_chain_make_room(Relation index, Relation heapRel, Buffer buf, Buffer hbuf,
				   uint32 top, uint64 hash, bool indexUnchanged, uint32 *cursor)
{
	uint32		start = XhChainCursor(XhPageGetOpaque(BufferGetPage(hbuf)));
	uint32		last = 0;		/* position of the last bottom-up pass */
	int			nbottomup = 0;
	bool		ended = false;	/* the first walk reached the chain's end */
	bool		moved = false;
	int			walkno;

	/* a page that was not the first one when it was made has no cursor */
	if (start == 0 || start == InvalidBlockNumber)
		start = 1;
	for (walkno = 0; walkno < 2 && !moved; walkno++)
	{
		BlockNumber next = XhPageGetOpaque(BufferGetPage(hbuf))->next;
		Buffer		prev = hbuf;
		XhWalk		walk = {0};
		uint32		pos = 0;	/* of the current page, after the first */

		/* the second walk: passes due on the pages before the cursor */
		if (walkno == 1 &&
			(!ended || !indexUnchanged || start <= 1 ||
			 nbottomup >= XH_CHAIN_BOTTOMUP_PAGES))
			break;
		while (next != InvalidBlockNumber)
		{
			Buffer		cbuf;
			Page		cpage;

			if (pos >= XH_CHAIN_ROOM_PAGES &&
				(!indexUnchanged || nbottomup >= XH_CHAIN_BOTTOMUP_PAGES))
				break;
			if (walkno == 1 && pos + 1 >= start)
				break;
			pos++;
			xh_walk_step(index, &walk, BufferGetBlockNumber(prev), next);
			cbuf = ReadBuffer(index, next);
			LockBuffer(cbuf, BUFFER_LOCK_EXCLUSIVE);
			if (prev != hbuf)
				UnlockReleaseBuffer(prev);
			prev = cbuf;
			cpage = BufferGetPage(cbuf);
			xh_check_chain_page(index, cpage, next, top);
			next = XhPageGetOpaque(cpage)->next;

			if (xh_make_room(index, heapRel, cbuf, buf, hash,
							 indexUnchanged && (walkno == 1 || pos >= start) &&
							 nbottomup < XH_CHAIN_BOTTOMUP_PAGES))
			{
				nbottomup++;
				last = pos;
			}
			if (XhPageGetNEntries(cpage) < XH_PAGE_CAPACITY)
			{
				moved = true;
				break;
			}
			CHECK_FOR_INTERRUPTS();
		}
		if (walkno == 0 && !moved && next == InvalidBlockNumber)
			ended = true;

		/* where the next passes start */
		*cursor = nbottomup > 0 ? last + 1 : ended ? 1 : start;
		if (moved)
			xh_chain_move(index, hbuf, prev, *cursor);
		if (prev != hbuf)
			UnlockReleaseBuffer(prev);
	}
	return moved;
}

/*
 * xh_chain_insert -- put the entry into the overflow chain of its top 32
 * hash bits, whose chain entry is the c-th entry of the bucket page "buf"
 * (locked exclusively; stays so): into the chain's first page if it has
 * room, else into a new page linked in at the head of the chain.
 *
 * A full first page first loses the entries of dead rows, as a full bucket
 * page does (xh_make_room), and then gets room from the chain's later
 * pages (xh_chain_make_room).  Inserters touch the chain only under the
 * bucket's lock, which VACUUM's chain walk also takes first (see
 * xh_vacuum.c).
 */
static void
xh_chain_insert(Relation index, Relation heapRel, Buffer buf, int c,
				XhEntry *entry, uint64 hash, bool indexUnchanged)
{
	Page		page = BufferGetPage(buf);
	BlockNumber head = xh_chain_head(index, page, BufferGetBlockNumber(buf), c);
	uint32		top = entry->key_hi;
	uint32		cursor = 1;
	GenericXLogState *state;
	Buffer		hbuf;
	Buffer		nbuf;
	Page		npage;

	hbuf = ReadBuffer(index, head);
	LockBuffer(hbuf, BUFFER_LOCK_EXCLUSIVE);
	xh_check_chain_page(index, BufferGetPage(hbuf), head, top);
	(void) xh_make_room(index, heapRel, hbuf, buf, hash, indexUnchanged);
	if (XhPageGetNEntries(BufferGetPage(hbuf)) < XH_PAGE_CAPACITY ||
		xh_chain_make_room(index, heapRel, buf, hbuf, top, hash, indexUnchanged,
						   &cursor))
	{
		state = GenericXLogStart(index);
		npage = GenericXLogRegisterBuffer(state, hbuf, 0);
		xh_page_append(npage, entry);
		GenericXLogFinish(state);
		UnlockReleaseBuffer(hbuf);
		return;
	}
	UnlockReleaseBuffer(hbuf);

	/*
	 * A new chain head.  New entries only, so a recycled page is fine even
	 * while VACUUM runs.  One record: the chain entry's new link, and the
	 * new page as a full image.
	 */
	nbuf = xh_new_buffer(index, true);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	npage = GenericXLogRegisterBuffer(state, nbuf, GENERIC_XLOG_FULL_IMAGE);
	xh_init_chain_page(npage, XhPageGetOpaque(page), top, head);
	xh_page_append(npage, entry);
	XhPageGetOpaque(npage)->nsorted = 1;
	/* the old first page is the new one's first after it */
	XhChainCursor(XhPageGetOpaque(npage)) = cursor + 1;
	XhPageGetEntries(page)[c].blkno = BufferGetBlockNumber(nbuf);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(nbuf);
}

/*
 * xh_spill_to_chain -- make room on the full bucket page "buf" (locked
 * exclusively) by moving its entries whose hashes start with the 32 bits
 * "top" (chosen by xh_full_page_action: a frequent key, or a few) to a new
 * page at the head of that top's overflow chain, making the chain (and its
 * chain entry on the page) if there is none yet.
 *
 * One generic record: the bucket page without the group (sorted again,
 * with the chain entry in place) and the new chain page with it, both
 * full images.  A reader holding one page lock at a time finds the
 * group's entries on the bucket page (before) or through the chain entry
 * (after); a unique check holds the bucket's lock throughout.  VACUUM
 * cleans a bucket page and its chains under the bucket's lock, so entries
 * moving between them are never missed, and the new page may be a
 * recycled one even while VACUUM runs.
 */
static void
xh_spill_to_chain(Relation index, Buffer buf, uint32 top)
{
	Page		page;
	XhEntry    *entries;
	XhEntry    *moved;
	Buffer		nbuf;
	Page		npage;
	BlockNumber head;
	GenericXLogState *state;
	int			n,
				c,
				keep = 0,
				nmoved = 0,
				i;

	/* the group's chain so far, if it has one */
	page = BufferGetPage(buf);
	c = xh_page_find_chain(page, top);
	head = c >= 0 ? xh_chain_head(index, page, BufferGetBlockNumber(buf), c) :
		InvalidBlockNumber;

	nbuf = xh_new_buffer(index, true);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	npage = GenericXLogRegisterBuffer(state, nbuf, GENERIC_XLOG_FULL_IMAGE);
	entries = XhPageGetEntries(page);
	n = XhPageGetNEntries(page);
	xh_init_chain_page(npage, XhPageGetOpaque(page), top, head);
	moved = XhPageGetEntries(npage);

	/* an existing chain entry stays, leading to the new head */
	if (c >= 0)
		entries[c].blkno = BufferGetBlockNumber(nbuf);
	for (i = 0; i < n; i++)
	{
		if (entries[i].key_hi == top && !XhEntryIsChain(&entries[i]))
		{
			if (XhEntryIsDead(&entries[i]))
				XhPageGetOpaque(npage)->flags |= XH_FLAG_HAS_DEAD;
			moved[nmoved++] = entries[i];
		}
		else
			entries[keep++] = entries[i];
	}
	XhBucketRemovals(XhPageGetOpaque(page))++;
	Assert(nmoved > 0 && nmoved <= XH_PAGE_CAPACITY);
	xh_sort_entries(moved, nmoved);
	XhPageSetNEntries(npage, nmoved);
	XhPageGetOpaque(npage)->nsorted = nmoved;

	/* or a new chain entry */
	if (c < 0)
	{
		entries[keep].key_hi = top;
		entries[keep].key_lo = 0;
		entries[keep].blkno = BufferGetBlockNumber(nbuf);
		keep++;
		XhPageGetOpaque(page)->aux++;
	}
	xh_sort_entries(entries, keep);
	XhPageSetNEntries(page, keep);
	XhPageGetOpaque(page)->nsorted = keep;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(nbuf);
}

/*
 * xhinsert -- aminsert: insert one entry, checking uniqueness if asked.
 */
bool
xhinsert(Relation index, Datum *values, bool *isnull, ItemPointer ht_ctid,
		 Relation heapRel, IndexUniqueCheck checkUnique, bool indexUnchanged,
		 IndexInfo *indexInfo)
{
	bool		nulls_not_distinct = index->rd_index->indnullsnotdistinct;
	XhCache    *cache = xh_get_cache(index, false);
	uint64		hash;
	bool		nonull;
	bool		checking;
	bool		is_unique = true;
	bool		repair = false;
	XhEntry		entry;

	nonull = xh_hash_values(index, cache->seed, values, isnull, &hash);
	if (!nonull && !(index->rd_index->indisunique && nulls_not_distinct))
		return true;			/* rows with a NULL key are not indexed */

	checking = checkUnique != UNIQUE_CHECK_NO;
	xh_make_entry(&entry, hash, ht_ctid);
	if (checking)
		(void) xh_get_keyeq(index);	/* catalog lookups before any lock */

	for (;;)
	{
		Buffer		buf;
		Page		page;
		bool		stale;

		buf = xh_find_bucket(index, hash, BUFFER_LOCK_EXCLUSIVE, &stale);
		repair |= stale;
		page = BufferGetPage(buf);

		if (checking)
		{
			TransactionId xwait = InvalidTransactionId;
			uint32		spectoken = 0;
			bool		found_self = false;
			XhUniqueResult res;

			res = xh_check_unique(index, heapRel, indexInfo, buf, hash,
								  ht_ctid, checkUnique, values, isnull,
								  &found_self, &xwait, &spectoken);
			if (res == XH_UNIQUE_WAIT)
			{
				UnlockReleaseBuffer(buf);
				if (spectoken)
					SpeculativeInsertionWait(xwait, spectoken);
				else
					XactLockTableWait(xwait, heapRel, ht_ctid, XLTW_InsertIndex);
				continue;
			}
			if (res == XH_UNIQUE_CONFLICT)
			{
				if (checkUnique == UNIQUE_CHECK_PARTIAL)
					is_unique = false;
				else
				{
					/* report an SSI conflict first, as nbtree does */
					CheckForSerializableConflictIn(index, NULL,
												   BufferGetBlockNumber(buf));
					UnlockReleaseBuffer(buf);
					xh_report_duplicate(index, heapRel, values, isnull);
				}
			}
			if (checkUnique == UNIQUE_CHECK_EXISTING)
			{
				UnlockReleaseBuffer(buf);
				if (!found_self)
					ereport(ERROR,
							(errcode(ERRCODE_INTERNAL_ERROR),
							 errmsg("failed to re-find tuple within index \"%s\"",
									RelationGetRelationName(index)),
							 errhint("This may be because of a non-immutable index expression."),
							 errtableconstraint(heapRel,
												RelationGetRelationName(index))));
				break;
			}
		}

		CheckForSerializableConflictIn(index, NULL, BufferGetBlockNumber(buf));

		/*
		 * The entry goes to the chain of its top 32 bits if there is one, so
		 * that the page keeps its room for the other hashes.  Otherwise, on
		 * a full page, a frequent key's entries go to a chain and make room;
		 * failing that, the bucket splits.
		 */
		{
			int			c = xh_page_find_chain(page, XhHashTop32(hash));
			uint32		top;

			if (c >= 0)
			{
				xh_chain_insert(index, heapRel, buf, c, &entry, hash,
								indexUnchanged);
				UnlockReleaseBuffer(buf);
				break;
			}
			/* a full page first loses its entries of dead rows */
			(void) xh_make_room(index, heapRel, buf, InvalidBuffer, hash,
								indexUnchanged);
			if (XhPageGetNEntries(page) >= XH_PAGE_CAPACITY &&
				xh_full_page_action(page, &top) == XH_FULL_SPILL)
			{
				xh_spill_to_chain(index, buf, top);
				Assert(XhPageGetNEntries(page) < XH_PAGE_CAPACITY);
			}
		}
		if (XhPageGetNEntries(page) < XH_PAGE_CAPACITY)
		{
			GenericXLogState *state = GenericXLogStart(index);

			page = GenericXLogRegisterBuffer(state, buf, 0);
			xh_page_append(page, &entry);
			GenericXLogFinish(state);
			UnlockReleaseBuffer(buf);
			break;
		}

		/* full: split it (taking the locks in the right order) and retry */
		UnlockReleaseBuffer(buf);
		xh_split(index, hash);
		repair = false;			/* the split brought the directory up to date */
	}

	if (repair)
		xh_repair_directory(index, hash);
	return is_unique;
}
