/*-------------------------------------------------------------------------
 *
 * xh_split.c
 *	  Bucket splits, directory doubling and directory repair for xhash.
 *
 * Every directory writer holds the directory lock (a heavyweight lock on
 * the metapage's block number, taken before any buffer lock), so splits,
 * doublings and repairs of one index are serialised; inserts and scans
 * never take it.
 *
 * A split of bucket B (local depth d, prefix p) is ONE generic WAL record:
 *	 B (full image)	 keeps the entries whose hash bit d is 0; depth d+1,
 *					 prefix 2p; its right-link now points to N;
 *	 N (full image)	 a new page with the entries whose bit d is 1; depth
 *					 d+1, prefix 2p+1; right-link = B's old right-link;
 *	 up to 2 directory pages whose slots for N's range now name N.
 * Overflow chains do not move: each holds entries sharing their top 32
 * hash bits, and its chain entry on the bucket page goes to the half those
 * bits belong to, like any entry.  If N's slots span more than two
 * directory pages they are updated by further records of at most four
 * pages.  Until then -- or after a crash in between -- the directory still
 * names B for N's range, and readers find N through B's right-link: a
 * bucket only ever hands the top half of its range to a new right
 * neighbour, exactly like a B-link tree's page split.  So a reader that
 * holds one page lock at a time never misses an entry: before the record
 * it finds everything in B, after it in B or N.
 *
 * Directory doubling (global depth D -> D+1) writes a new, contiguous
 * directory (slot j = old slot j/2) as new pages, full images, four per
 * record, then switches the metapage to it in one record, then marks the
 * old directory pages deleted.  Readers check every directory page they
 * read against the global depth and page number the metapage promised.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/transam.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "utils/rel.h"

#include "xhash/xhash.h"

/*
 * xh_cmp_uint32 -- qsort comparator of uint32 values.
 */
static int
xh_cmp_uint32(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * xh_full_page_action -- what to do with an entry that does not fit on the
 * full bucket page "page".  (Had the bucket a chain for the entry's top 32
 * bits, the entry would go there, full page or not.)
 *
 * XH_FULL_SPILL if the largest group of (non-chain) entries sharing their
 * top 32 bits, *top, fills at least XH_SPILL_MIN of the page: it moves to
 * a chain of its own and makes room.  A split could not make room for long
 * then: the group always lands whole in one half, leaving it as full as
 * before, so each new hash near a frequent key deepened the bucket (and
 * doubled the directory) again.  At the deepest depth, where nothing can
 * split, any group that gains room does: one that has a chain already, or
 * one of at least two entries (its chain entry takes one slot).  There is
 * always one: the bucket's hashes share their top XH_MAX_DEPTH bits, so a
 * page holds at most 2^(32 - XH_MAX_DEPTH) = 256 groups and chain entries.
 *
 * XH_FULL_SPLIT otherwise.
 */
XhFullAction
xh_full_page_action(Page page, uint32 *top)
{
	XhPageOpaque opaque = XhPageGetOpaque(page);
	XhEntry    *entries = XhPageGetEntries(page);
	int			n = XhPageGetNEntries(page);
	uint32		tops[XH_PAGE_CAPACITY];
	int			ntops = 0,
				best = 0,
				run = 0,
				i;

	for (i = 0; i < n; i++)
		if (!XhEntryIsChain(&entries[i]))
			tops[ntops++] = entries[i].key_hi;	/* top 32 bits of the hash */
	qsort(tops, ntops, sizeof(uint32), xh_cmp_uint32);
	for (i = 0; i < ntops; i++)
	{
		run = (i > 0 && tops[i] == tops[i - 1]) ? run + 1 : 1;
		if (run > best)
		{
			best = run;
			*top = tops[i];
		}
	}
	if (best >= XH_SPILL_MIN)
		return XH_FULL_SPILL;
	if (opaque->depth >= XH_MAX_DEPTH && best > 0)
	{
		if (best >= 2 || xh_page_find_chain(page, *top) >= 0)
			return XH_FULL_SPILL;
		/* a lone entry without a chain: any entry of a chained top will do */
		for (i = 0; i < n; i++)
			if (!XhEntryIsChain(&entries[i]) &&
				xh_page_find_chain(page, entries[i].key_hi) >= 0)
			{
				*top = entries[i].key_hi;
				return XH_FULL_SPILL;
			}
	}
	return XH_FULL_SPLIT;
}

/*
 * xh_read_meta_copy -- a copy of the metapage contents (share lock, held
 * only while copying).
 */
static void
xh_read_meta_copy(Relation rel, XhMetaPageData *copy)
{
	Buffer		buf = ReadBuffer(rel, XH_METAPAGE_BLKNO);

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	*copy = *xh_read_meta(rel, BufferGetPage(buf));
	UnlockReleaseBuffer(buf);
}

/*
 * xh_lock_dir_page -- read and exclusively lock directory page "i" of the
 * directory described by "meta", checking that it is one.
 */
static Buffer
xh_lock_dir_page(Relation rel, XhMetaPageData *meta, uint32 i)
{
	BlockNumber blkno = meta->dir_start + i;
	Buffer		buf = ReadBuffer(rel, blkno);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	xh_check_page(rel, page, blkno, XH_PAGE_DIR);
	if (!xh_is_dir_page(page, meta->global_depth, i))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" contains corrupted page at block %u",
						RelationGetRelationName(rel), blkno),
				 errdetail("The directory page does not match the metapage."),
				 errhint("Please REINDEX it.")));
	return buf;
}

/*
 * xh_set_slots -- in a registered directory page "page" (number i), make
 * the slots [first, first + count) that fall on it name "target".
 * Returns whether anything changed.
 */
static bool
xh_set_slots(Page page, uint32 i, uint32 first, uint32 count,
			 BlockNumber target)
{
	BlockNumber *slots = XhPageGetSlots(page);
	uint32		lo = Max(first, i * XH_DIR_SLOTS_PER_PAGE);
	uint32		hi = Min(first + count, (i + 1) * XH_DIR_SLOTS_PER_PAGE);
	bool		changed = false;
	uint32		s;

	for (s = lo; s < hi; s++)
	{
		if (slots[s - i * XH_DIR_SLOTS_PER_PAGE] != target)
		{
			slots[s - i * XH_DIR_SLOTS_PER_PAGE] = target;
			changed = true;
		}
	}
	return changed;
}

/*
 * xh_write_dir_range -- make the directory slots [first, first + count)
 * name "target", in records of at most four directory pages.  Caller
 * holds the directory lock and no buffer locks.
 */
static void
xh_write_dir_range(Relation rel, XhMetaPageData *meta, uint32 first,
				   uint32 count, BlockNumber target)
{
	uint32		pfirst = first / XH_DIR_SLOTS_PER_PAGE;
	uint32		plast = (first + count - 1) / XH_DIR_SLOTS_PER_PAGE;
	uint32		i = pfirst;

	while (i <= plast)
	{
		GenericXLogState *state = GenericXLogStart(rel);
		Buffer		bufs[MAX_GENERIC_XLOG_PAGES];
		int			nbufs = 0;
		bool		changed = false;
		int			k;

		for (; i <= plast && nbufs < MAX_GENERIC_XLOG_PAGES; i++)
		{
			Page		page;

			bufs[nbufs] = xh_lock_dir_page(rel, meta, i);
			page = GenericXLogRegisterBuffer(state, bufs[nbufs], 0);
			changed |= xh_set_slots(page, i, first, count, target);
			nbufs++;
		}
		if (changed)
			GenericXLogFinish(state);
		else
			GenericXLogAbort(state);
		for (k = 0; k < nbufs; k++)
			UnlockReleaseBuffer(bufs[k]);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * xh_double_directory -- double the directory (global depth + 1).  Caller
 * holds the directory lock and no buffer locks.
 */
static void
xh_double_directory(Relation rel)
{
	XhMetaPageData meta;
	uint32		old_nslots,
				new_nslots,
				new_npages;
	BlockNumber *old_slots;
	BlockNumber new_start = InvalidBlockNumber;
	uint32		i;
	Buffer		buf;
	GenericXLogState *state;
	Page		page;
	FullTransactionId stamp;

	xh_read_meta_copy(rel, &meta);
	if (meta.global_depth >= XH_MAX_DEPTH)
		elog(ERROR, "xhash directory of \"%s\" cannot grow beyond depth %d",
			 RelationGetRelationName(rel), XH_MAX_DEPTH);
	old_nslots = (uint32) 1 << meta.global_depth;
	new_nslots = old_nslots * 2;
	new_npages = (new_nslots + XH_DIR_SLOTS_PER_PAGE - 1) / XH_DIR_SLOTS_PER_PAGE;

	/* the current directory (stable: we hold the directory lock) */
	old_slots = palloc_extended((Size) old_nslots * sizeof(BlockNumber),
								MCXT_ALLOC_HUGE);
	for (i = 0; i < meta.dir_npages; i++)
	{
		uint32		first = i * XH_DIR_SLOTS_PER_PAGE;

		if (first >= old_nslots)
			break;
		buf = xh_lock_dir_page(rel, &meta, i);
		memcpy(&old_slots[first], XhPageGetSlots(BufferGetPage(buf)),
			   Min(old_nslots - first, XH_DIR_SLOTS_PER_PAGE) * sizeof(BlockNumber));
		UnlockReleaseBuffer(buf);
	}

	/*
	 * Extend the relation by the new directory's pages in one go, so that
	 * they are contiguous.  They stay all-zero, unreachable and ignored by
	 * VACUUM until written below.
	 */
	LockRelationForExtension(rel, ExclusiveLock);
	for (i = 0; i < new_npages; i++)
	{
		buf = ReadBuffer(rel, P_NEW);
		if (i == 0)
			new_start = BufferGetBlockNumber(buf);
		else if (BufferGetBlockNumber(buf) != new_start + i)
			elog(ERROR, "xhash directory pages of \"%s\" are not contiguous",
				 RelationGetRelationName(rel));
		ReleaseBuffer(buf);
	}
	UnlockRelationForExtension(rel, ExclusiveLock);

	/* write them, four full images per record */
	for (i = 0; i < new_npages;)
	{
		Buffer		bufs[MAX_GENERIC_XLOG_PAGES];
		int			nbufs = 0;
		int			k;

		state = GenericXLogStart(rel);
		for (; i < new_npages && nbufs < MAX_GENERIC_XLOG_PAGES; i++)
		{
			uint32		first = i * XH_DIR_SLOTS_PER_PAGE;
			uint32		n = Min(new_nslots - first, XH_DIR_SLOTS_PER_PAGE);
			BlockNumber *slots;
			uint32		s;

			bufs[nbufs] = ReadBuffer(rel, new_start + i);
			LockBuffer(bufs[nbufs], BUFFER_LOCK_EXCLUSIVE);
			page = GenericXLogRegisterBuffer(state, bufs[nbufs],
											 GENERIC_XLOG_FULL_IMAGE);
			xh_init_page(page, XH_PAGE_DIR, 0, meta.global_depth + 1);
			XhPageGetOpaque(page)->aux = i;
			slots = XhPageGetSlots(page);
			for (s = 0; s < n; s++)
				slots[s] = old_slots[(first + s) >> 1];
			((PageHeader) page)->pd_lower = MAXALIGN(SizeOfPageHeaderData) +
				n * sizeof(BlockNumber);
			nbufs++;
		}
		GenericXLogFinish(state);
		for (k = 0; k < nbufs; k++)
			UnlockReleaseBuffer(bufs[k]);
		CHECK_FOR_INTERRUPTS();
	}

	/* switch the metapage to the new directory */
	buf = ReadBuffer(rel, XH_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	{
		XhMetaPage	m = xh_read_meta(rel, page);

		m->global_depth = meta.global_depth + 1;
		m->dir_start = new_start;
		m->dir_npages = new_npages;
	}
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);

	/*
	 * Retire the old directory pages.  Backends that read the old metapage
	 * may still look at them: they keep their contents (only the kind
	 * changes, which such readers notice) until VACUUM recycles them after
	 * every transaction now running is gone.
	 */
	stamp = ReadNextFullTransactionId();
	for (i = 0; i < meta.dir_npages;)
	{
		Buffer		bufs[MAX_GENERIC_XLOG_PAGES];
		int			nbufs = 0;
		int			k;

		state = GenericXLogStart(rel);
		for (; i < meta.dir_npages && nbufs < MAX_GENERIC_XLOG_PAGES; i++)
		{
			XhPageOpaque opaque;

			bufs[nbufs] = ReadBuffer(rel, meta.dir_start + i);
			LockBuffer(bufs[nbufs], BUFFER_LOCK_EXCLUSIVE);
			page = GenericXLogRegisterBuffer(state, bufs[nbufs], 0);
			opaque = XhPageGetOpaque(page);
			opaque->kind = XH_PAGE_DELETED;
			opaque->next = InvalidBlockNumber;
			opaque->prefix = (uint32) U64FromFullTransactionId(stamp);
			opaque->aux = (uint32) (U64FromFullTransactionId(stamp) >> 32);
			nbufs++;
		}
		GenericXLogFinish(state);
		for (k = 0; k < nbufs; k++)
			UnlockReleaseBuffer(bufs[k]);
	}
	pfree(old_slots);
}

/*
 * xh_split -- split the bucket that covers "hash" if it is still full and
 * neither a chain can take the entry nor a group of entries can move to
 * one (xh_full_page_action).  Called by an inserter that holds no buffer
 * locks; the insert retries afterwards.
 */
void
xh_split(Relation rel, uint64 hash)
{
	bool		vac_ok;

	LockPage(rel, XH_DIRLOCK_BLKNO, ExclusiveLock);

	/*
	 * A recycled page may become the new bucket only while no VACUUM is
	 * scanning the index: VACUUM might already have passed that block, and
	 * would then miss the entries moved there.  Extending is always safe.
	 */
	vac_ok = ConditionalLockPage(rel, XH_VACLOCK_BLKNO, ShareLock);

	for (;;)
	{
		XhMetaPageData meta;
		Buffer		buf;
		Buffer		nbuf;
		Page		page;
		Page		npage;
		XhPageOpaque opaque;
		XhPageOpaque nopaque;
		XhPageOpaqueData old;
		bool		stale;
		int			n,
					i,
					nlow = 0,
					nhigh = 0;
		XhEntry    *all;
		XhEntry    *low;
		XhEntry    *high;
		uint64		bit;
		uint32		first,
					count,
					pfirst,
					plast;
		GenericXLogState *state;
		Buffer		dbufs[2];
		int			ndbufs = 0;
		int			nchains_low = 0,
					nchains_high = 0;
		uint32		top;

		xh_read_meta_copy(rel, &meta);
		buf = xh_find_bucket(rel, hash, BUFFER_LOCK_EXCLUSIVE, &stale);
		page = BufferGetPage(buf);
		opaque = XhPageGetOpaque(page);
		n = XhPageGetNEntries(page);
		if (n < XH_PAGE_CAPACITY ||
			xh_page_find_chain(page, XhHashTop32(hash)) >= 0 ||
			xh_full_page_action(page, &top) != XH_FULL_SPLIT)
		{
			/* someone else made room meanwhile */
			UnlockReleaseBuffer(buf);
			break;
		}
		if (opaque->depth >= meta.global_depth)
		{
			UnlockReleaseBuffer(buf);
			xh_double_directory(rel);
			continue;
		}

		/* partition the entries by the next hash bit, each half sorted */
		all = palloc(n * sizeof(XhEntry));
		low = palloc(n * sizeof(XhEntry));
		high = palloc(n * sizeof(XhEntry));
		memcpy(all, XhPageGetEntries(page), n * sizeof(XhEntry));
		xh_sort_entries(all, n);
		bit = UINT64CONST(1) << (63 - opaque->depth);
		for (i = 0; i < n; i++)
		{
			bool		is_chain = XhEntryIsChain(&all[i]);

			if (XhEntryKey(&all[i]) & bit)
			{
				high[nhigh++] = all[i];
				nchains_high += is_chain;
			}
			else
			{
				low[nlow++] = all[i];
				nchains_low += is_chain;
			}
		}

		nbuf = xh_new_buffer(rel, vac_ok);

		/* N's directory slots, if they fit on at most two pages */
		count = (uint32) 1 << (meta.global_depth - opaque->depth - 1);
		first = ((opaque->prefix << 1) | 1) << (meta.global_depth - opaque->depth - 1);
		pfirst = first / XH_DIR_SLOTS_PER_PAGE;
		plast = (first + count - 1) / XH_DIR_SLOTS_PER_PAGE;

		state = GenericXLogStart(rel);
		page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
		npage = GenericXLogRegisterBuffer(state, nbuf, GENERIC_XLOG_FULL_IMAGE);
		old = *XhPageGetOpaque(page);

		xh_init_page(page, XH_PAGE_BUCKET, old.depth + 1, old.prefix << 1);
		opaque = XhPageGetOpaque(page);
		memcpy(XhPageGetEntries(page), low, nlow * sizeof(XhEntry));
		XhPageSetNEntries(page, nlow);
		opaque->nsorted = nlow;
		opaque->aux = nchains_low;
		opaque->link = BufferGetBlockNumber(nbuf);
		/* entries left the page: see xh_kill_flush */
		XhBucketRemovals(opaque) = XhBucketRemovals(&old) + 1;
		if (xh_page_count_dead(page) > 0)
			opaque->flags |= XH_FLAG_HAS_DEAD;

		xh_init_page(npage, XH_PAGE_BUCKET, old.depth + 1, (old.prefix << 1) | 1);
		nopaque = XhPageGetOpaque(npage);
		memcpy(XhPageGetEntries(npage), high, nhigh * sizeof(XhEntry));
		XhPageSetNEntries(npage, nhigh);
		nopaque->nsorted = nhigh;
		nopaque->aux = nchains_high;
		nopaque->link = old.link;
		if (xh_page_count_dead(npage) > 0)
			nopaque->flags |= XH_FLAG_HAS_DEAD;

		if (plast - pfirst < 2)
		{
			uint32		p;

			for (p = pfirst; p <= plast; p++)
			{
				Page		dpage;

				dbufs[ndbufs] = xh_lock_dir_page(rel, &meta, p);
				dpage = GenericXLogRegisterBuffer(state, dbufs[ndbufs], 0);
				xh_set_slots(dpage, p, first, count, BufferGetBlockNumber(nbuf));
				ndbufs++;
			}
		}
		GenericXLogFinish(state);

		/*
		 * Serializable transactions that read hashes of the old page hold
		 * predicate locks on it; the hashes that moved need them on the
		 * new page too.  Both pages are still locked, so no reader takes
		 * one meanwhile on the old page only.
		 */
		PredicateLockPageSplit(rel, BufferGetBlockNumber(buf),
							   BufferGetBlockNumber(nbuf));

		for (i = 0; i < ndbufs; i++)
			UnlockReleaseBuffer(dbufs[i]);
		{
			BlockNumber newblk = BufferGetBlockNumber(nbuf);

			UnlockReleaseBuffer(nbuf);
			UnlockReleaseBuffer(buf);
			if (ndbufs == 0)
				xh_write_dir_range(rel, &meta, first, count, newblk);
		}
		pfree(all);
		pfree(low);
		pfree(high);
		break;
	}

	/* our own cached directory is out of date now */
	if (rel->rd_amcache)
		((XhCache *) rel->rd_amcache)->stale = true;

	if (vac_ok)
		UnlockPage(rel, XH_VACLOCK_BLKNO, ShareLock);
	UnlockPage(rel, XH_DIRLOCK_BLKNO, ExclusiveLock);
}

/*
 * xh_repair_directory -- make the directory name the bucket that covers
 * "hash" for that bucket's whole range.  Used by inserters that had to
 * follow right-links, i.e. after a split whose directory update was lost
 * in a crash (or is still in progress, in which case this is harmless).
 */
void
xh_repair_directory(Relation rel, uint64 hash)
{
	XhMetaPageData meta;
	Buffer		buf;
	Page		page;
	bool		stale;
	uint8		depth;
	uint32		prefix;
	BlockNumber blkno;

	LockPage(rel, XH_DIRLOCK_BLKNO, ExclusiveLock);
	xh_read_meta_copy(rel, &meta);
	buf = xh_find_bucket(rel, hash, BUFFER_LOCK_SHARE, &stale);
	page = BufferGetPage(buf);
	depth = XhPageGetOpaque(page)->depth;
	prefix = XhPageGetOpaque(page)->prefix;
	blkno = BufferGetBlockNumber(buf);
	UnlockReleaseBuffer(buf);

	/* no split can happen while we hold the directory lock */
	if (depth <= meta.global_depth)
		xh_write_dir_range(rel, &meta,
						   prefix << (meta.global_depth - depth),
						   (uint32) 1 << (meta.global_depth - depth), blkno);
	if (rel->rd_amcache)
		((XhCache *) rel->rd_amcache)->stale = true;
	UnlockPage(rel, XH_DIRLOCK_BLKNO, ExclusiveLock);
}
