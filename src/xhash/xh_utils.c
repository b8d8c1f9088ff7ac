/*-------------------------------------------------------------------------
 *
 * xh_utils.c
 *	  Page, hash, directory-cache and key-comparison helpers shared by the
 *	  files of the xhash index access method.
 *
 * The directory cache: each backend keeps a copy of the metapage and, for
 * directories of up to XH_CACHE_MAX_SLOTS slots, of the whole directory in
 * rd_amcache.  A cached slot is only a hint.  xh_find_bucket checks the
 * bucket page it leads to: buckets only ever split, keeping the lower half
 * of their hash range and handing the upper half to a new bucket linked to
 * the right, so the bucket a stale slot leads to still starts at or below
 * the hash, and following right-links finds the bucket that covers it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/datum.h"
#include "utils/snapmgr.h"

#include "xhash/xhash.h"

/*
 * xh_init_page -- initialise an empty xhash page of the given kind.
 */
void
xh_init_page(Page page, uint8 kind, uint8 depth, uint32 prefix)
{
	XhPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(XhPageOpaqueData));
	opaque = XhPageGetOpaque(page);
	/* a bucket page's "next" is its removal count */
	opaque->next = kind == XH_PAGE_BUCKET ? 0 : InvalidBlockNumber;
	opaque->link = InvalidBlockNumber;
	opaque->prefix = prefix;
	opaque->aux = 0;
	opaque->nsorted = 0;
	opaque->depth = depth;
	opaque->kind = kind;
	opaque->version = XH_VERSION;
	opaque->flags = 0;
	opaque->page_id = XH_PAGE_ID;
}

/*
 * xh_corrupt -- report a corrupted page.
 */
static void
xh_corrupt(Relation rel, BlockNumber blkno, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" contains corrupted page at block %u",
					RelationGetRelationName(rel), blkno),
			 errdetail("%s", what),
			 errhint("Please REINDEX it.")));
}

/*
 * xh_check_page -- verify the page id, version and layout of a page read
 * from an xhash index; kind 0 accepts any kind.  Raises an ERROR naming
 * the relation and block on any inconsistency, so that a damaged page is
 * never interpreted.
 */
void
xh_check_page(Relation rel, Page page, BlockNumber blkno, uint8 kind)
{
	PageHeader	phdr = (PageHeader) page;
	XhPageOpaque opaque;

	if (PageIsNew(page))
		xh_corrupt(rel, blkno, "The page is uninitialized.");
	if (PageGetSpecialSize(page) != MAXALIGN(sizeof(XhPageOpaqueData)))
		xh_corrupt(rel, blkno, "The special space has the wrong size.");
	opaque = XhPageGetOpaque(page);
	if (opaque->page_id != XH_PAGE_ID)
		xh_corrupt(rel, blkno, "The page id is wrong.");
	if (opaque->version != XH_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("version mismatch in index \"%s\" at block %u: page version %u, current version %u",
						RelationGetRelationName(rel), blkno,
						(unsigned) opaque->version, (unsigned) XH_VERSION),
				 errhint("REINDEX the index to convert it to the current format.")));
	if (opaque->kind < XH_PAGE_META || opaque->kind > XH_PAGE_DELETED)
		xh_corrupt(rel, blkno, "The page kind is unknown.");
	if (opaque->flags & ~XH_FLAG_HAS_DEAD)
		xh_corrupt(rel, blkno, "The page flags are unknown.");
	if (kind != 0 && opaque->kind != kind)
		xh_corrupt(rel, blkno, "The page is not of the expected kind.");
	if (phdr->pd_lower < MAXALIGN(SizeOfPageHeaderData) ||
		phdr->pd_lower > phdr->pd_upper ||
		phdr->pd_upper != phdr->pd_special)
		xh_corrupt(rel, blkno, "The page bounds are inconsistent.");
	if (opaque->kind == XH_PAGE_BUCKET || opaque->kind == XH_PAGE_OVERFLOW)
	{
		if ((phdr->pd_lower - MAXALIGN(SizeOfPageHeaderData)) % sizeof(XhEntry) != 0 ||
			opaque->nsorted > XhPageGetNEntries(page) ||
			(opaque->kind == XH_PAGE_BUCKET && opaque->aux > opaque->nsorted))
			xh_corrupt(rel, blkno, "The entry array is inconsistent.");
		if (opaque->depth > XH_MAX_DEPTH)
			xh_corrupt(rel, blkno, "The local depth is out of range.");
		if (opaque->depth < 32 && opaque->kind == XH_PAGE_BUCKET &&
			(uint64) opaque->prefix >= ((uint64) 1 << opaque->depth))
			xh_corrupt(rel, blkno, "The hash prefix does not fit the local depth.");
	}
}

/*
 * xh_init_chain_page -- initialise "page" as an overflow page of the chain
 * of the top 32 hash bits "top" of the bucket whose special space is
 * "bucket", linked to "next".
 */
void
xh_init_chain_page(Page page, XhPageOpaque bucket, uint32 top,
				   BlockNumber next)
{
	xh_init_page(page, XH_PAGE_OVERFLOW, bucket->depth, bucket->prefix);
	XhPageGetOpaque(page)->aux = top;
	XhPageGetOpaque(page)->next = next;
}

/*
 * xh_check_chain_page -- xh_check_page for a page reached along the chain
 * of the top 32 hash bits "top" by a backend holding the bucket's lock
 * (where the chain cannot change): it must be an overflow page of that
 * chain.
 */
void
xh_check_chain_page(Relation rel, Page page, BlockNumber blkno, uint32 top)
{
	xh_check_page(rel, page, blkno, XH_PAGE_OVERFLOW);
	if (XhPageGetOpaque(page)->aux != top)
		xh_corrupt(rel, blkno, "The overflow page belongs to another chain.");
}

/*
 * xh_check_chain_step -- xh_check_chain_page for a backend holding the
 * bucket's lock that may have let go of the chain page it reached this
 * one from, so that VACUUM may have unlinked this one meanwhile: returns
 * false for such a page (deleted, still carrying the chain's top 32 bits,
 * and leading on to the rest of the chain), true for a page of the chain.
 */
bool
xh_check_chain_step(Relation rel, Page page, BlockNumber blkno, uint32 top)
{
	XhPageOpaque opaque;

	xh_check_page(rel, page, blkno, 0);
	opaque = XhPageGetOpaque(page);
	if (opaque->kind == XH_PAGE_DELETED && opaque->link == top)
		return false;
	xh_check_chain_page(rel, page, blkno, top);
	return true;
}

/*
 * xh_fill_metapage -- initialise "page" as the metapage.
 */
void
xh_fill_metapage(Page page, uint64 seed, uint32 global_depth,
				 BlockNumber dir_start, uint32 dir_npages,
				 int fillfactor, int natts)
{
	XhMetaPage	meta;

	xh_init_page(page, XH_PAGE_META, 0, 0);
	meta = XhPageGetMeta(page);
	memset(meta, 0, sizeof(XhMetaPageData));
	meta->magic = XH_MAGIC;
	meta->version = XH_VERSION;
	meta->seed = seed;
	meta->global_depth = global_depth;
	meta->dir_start = dir_start;
	meta->dir_npages = dir_npages;
	meta->fillfactor = fillfactor;
	meta->natts = natts;
	/* keep the contents below pd_lower, or generic WAL would zero them */
	((PageHeader) page)->pd_lower =
		((char *) meta + sizeof(XhMetaPageData)) - (char *) page;
	Assert(((PageHeader) page)->pd_lower <= ((PageHeader) page)->pd_upper);
}

/*
 * xh_read_meta -- check the metapage held in "page" and return its
 * contents.
 */
XhMetaPage
xh_read_meta(Relation rel, Page page)
{
	XhMetaPage	meta;

	xh_check_page(rel, page, XH_METAPAGE_BLKNO, XH_PAGE_META);
	meta = XhPageGetMeta(page);
	if (meta->magic != XH_MAGIC)
		xh_corrupt(rel, XH_METAPAGE_BLKNO, "The metapage magic number is wrong.");
	if (meta->version != XH_VERSION)
		xh_corrupt(rel, XH_METAPAGE_BLKNO, "The metapage version is not supported.");
	if (meta->global_depth > XH_MAX_DEPTH || meta->dir_npages == 0 ||
		meta->dir_start == XH_METAPAGE_BLKNO ||
		(uint64) meta->dir_npages * XH_DIR_SLOTS_PER_PAGE <
		((uint64) 1 << meta->global_depth))
		xh_corrupt(rel, XH_METAPAGE_BLKNO, "The directory description is inconsistent.");
	return meta;
}

/*
 * xh_page_is_recyclable -- may this page be handed out again?
 *
 * New (all-zero) pages may; deleted pages once no transaction that could
 * still hold a link to them is running (the same rule as nbtree's).
 */
bool
xh_page_is_recyclable(Page page)
{
	XhPageOpaque opaque;
	FullTransactionId fxid;

	if (PageIsNew(page))
		return true;
	if (PageGetSpecialSize(page) != MAXALIGN(sizeof(XhPageOpaqueData)))
		return false;
	opaque = XhPageGetOpaque(page);
	if (opaque->page_id != XH_PAGE_ID || opaque->kind != XH_PAGE_DELETED)
		return false;
	fxid = FullTransactionIdFromU64(((uint64) opaque->aux << 32) | opaque->prefix);
	return GlobalVisCheckRemovableFullXid(NULL, fxid);
}

/*
 * xh_new_buffer -- get an exclusively locked buffer for a new page.
 *
 * With may_reuse, a recyclable page from the free space map is preferred.
 * The caller initialises the page and registers it with
 * GENERIC_XLOG_FULL_IMAGE.
 */
Buffer
xh_new_buffer(Relation rel, bool may_reuse)
{
	Buffer		buf;
	bool		needLock;

	while (may_reuse)
	{
		BlockNumber blkno = GetFreeIndexPage(rel);

		if (blkno == InvalidBlockNumber)
			break;
		buf = ReadBuffer(rel, blkno);
		/* someone else may have grabbed it already: never wait for it */
		if (ConditionalLockBuffer(buf))
		{
			if (xh_page_is_recyclable(BufferGetPage(buf)))
				return buf;
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		}
		ReleaseBuffer(buf);
	}

	needLock = !RELATION_IS_LOCAL(rel);
	if (needLock)
		LockRelationForExtension(rel, ExclusiveLock);
	buf = ReadBuffer(rel, P_NEW);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (needLock)
		UnlockRelationForExtension(rel, ExclusiveLock);
	return buf;
}

/*
 * xh_get_fillfactor -- the fillfactor reloption, or its default.
 */
int
xh_get_fillfactor(Relation rel)
{
	XhOptions  *opts = (XhOptions *) rel->rd_options;

	return opts ? opts->fillfactor : XHASH_DEFAULT_FILLFACTOR;
}

/*
 * xh_mix64 -- final avalanche of a 64-bit hash (MurmurHash3's fmix64), so
 * that the top bits, which choose the bucket, depend on every input bit.
 */
uint64
xh_mix64(uint64 h)
{
	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

/*
 * xh_combine -- fold the hash of the next key column into the running
 * hash of the columns before it.
 */
uint64
xh_combine(uint64 acc, uint64 h)
{
	return hash_combine64(acc, h);
}

/*
 * xh_hash_values -- the 64-bit hash of an index tuple's key columns.
 *
 * Returns false if a key column is NULL (the hash is still computed, with
 * a fixed hash for NULL, for NULLS NOT DISTINCT indexes).
 */
bool
xh_hash_values(Relation rel, uint64 seed, Datum *values, bool *isnull,
			   uint64 *hash)
{
	int			natts = IndexRelationGetNumberOfKeyAttributes(rel);
	uint64		acc = 0;
	bool		nonull = true;
	int			i;

	for (i = 0; i < natts; i++)
	{
		uint64		h;

		if (isnull[i])
		{
			h = XHASH_NULL_HASH;
			nonull = false;
		}
		else
		{
			FmgrInfo   *proc = index_getprocinfo(rel, i + 1, XHASH_EXTENDED_PROC);

			h = DatumGetUInt64(FunctionCall2Coll(proc, rel->rd_indcollation[i],
												 values[i],
												 UInt64GetDatum(seed)));
		}
		acc = xh_combine(acc, h);
	}
	*hash = xh_mix64(acc);
	return nonull;
}

/*
 * xh_is_dir_page -- is "page" page number "pageno" of a directory written
 * for global depth "depth"?  Directory pages record both; a page that does
 * not match belongs to a directory that a doubling has replaced (or is
 * damaged).
 */
bool
xh_is_dir_page(Page page, uint32 depth, uint32 pageno)
{
	return XhPageGetKind(page) == XH_PAGE_DIR &&
		XhPageGetOpaque(page)->prefix == depth &&
		XhPageGetOpaque(page)->aux == pageno;
}

/*
 * xh_check_slot -- a directory slot (read from directory page "dirblk")
 * must name a page: never the metapage, never InvalidBlockNumber, which
 * ReadBuffer would take for P_NEW and extend the index with.
 */
static inline void
xh_check_slot(Relation rel, BlockNumber dirblk, BlockNumber slot)
{
	if (unlikely(slot == InvalidBlockNumber || slot == XH_METAPAGE_BLKNO))
		xh_corrupt(rel, dirblk, "A directory slot names no bucket page.");
}

/*
 * xh_walk_step -- check one step of a walk along page links, from block
 * "from" to block "to" (see XhWalk).
 */
void
xh_walk_step(Relation rel, XhWalk *walk, BlockNumber from, BlockNumber to)
{
	if (unlikely(to == XH_METAPAGE_BLKNO || to == InvalidBlockNumber))
		xh_corrupt(rel, from, "A page link leads to the metapage.");
	if (unlikely(++walk->hops > XH_WALK_CHECK_HOPS))
	{
		/* the index may have grown since we looked */
		if (walk->hops > walk->nblocks)
			walk->nblocks = RelationGetNumberOfBlocks(rel);
		if (walk->hops > walk->nblocks)
			xh_corrupt(rel, from, "A chain of page links loops.");
	}
}

/*
 * xh_ranges_overlap -- do the hash ranges (depth1, prefix1) and (depth2,
 * prefix2) share any hash?  Such ranges are nested or disjoint, so they
 * overlap iff the shorter prefix starts the longer one (depths up to 32).
 */
bool
xh_ranges_overlap(uint8 depth1, uint32 prefix1, uint8 depth2, uint32 prefix2)
{
	if (depth1 > depth2)
		return ((uint64) prefix1 >> (depth1 - depth2)) == prefix2;
	return ((uint64) prefix2 >> (depth2 - depth1)) == prefix1;
}

/*
 * xh_get_cache -- the backend's copy of the metapage and directory,
 * (re)read from disk if there is none or "refresh" is set.
 *
 * The metapage is read under a share lock, then each directory page under
 * a share lock of its own.  A directory page that does not carry the
 * global depth the metapage named was replaced by a concurrent doubling:
 * start over.
 */
XhCache *
xh_get_cache(Relation rel, bool refresh)
{
	XhCache    *cache = (XhCache *) rel->rd_amcache;

	XhKeyEq    *keyeq = cache ? cache->keyeq : NULL;
	XhCrossProcs *cross = cache ? cache->cross : NULL;

	BlockNumber bad = InvalidBlockNumber;	/* mismatching page, last try */
	uint32		bad_depth = 0;
	BlockNumber bad_start = InvalidBlockNumber;

	if (cache != NULL && !refresh && !cache->stale)
		return cache;

	for (;;)
	{
		Buffer		buf;
		XhMetaPage	meta;
		XhCache		hdr;
		uint32		nslots;
		bool		ok = true;
		uint32		i;

		buf = ReadBuffer(rel, XH_METAPAGE_BLKNO);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		meta = xh_read_meta(rel, BufferGetPage(buf));
		hdr.keyeq = keyeq;
		hdr.cross = cross;
		hdr.stale = false;
		hdr.seed = meta->seed;
		hdr.global_depth = meta->global_depth;
		hdr.dir_start = meta->dir_start;
		hdr.dir_npages = meta->dir_npages;
		UnlockReleaseBuffer(buf);

		/*
		 * A doubling writes the new directory before it switches the
		 * metapage, and retires the old pages only after: a directory page
		 * can contradict the metapage we read only if the metapage has
		 * changed since.  The same metapage twice means corruption.
		 */
		if (bad != InvalidBlockNumber && hdr.global_depth == bad_depth &&
			hdr.dir_start == bad_start)
			xh_corrupt(rel, bad,
					   "The directory page does not match the metapage.");

		nslots = (uint32) 1 << hdr.global_depth;
		hdr.have_slots = nslots <= XH_CACHE_MAX_SLOTS;
		hdr.slot_shift = (hdr.have_slots && nslots <= XH_HINT_MAX_SLOTS &&
						  !RelationUsesLocalBuffers(rel)) ? 1 : 0;
		hdr.hint_uses = 0;

		if (rel->rd_amcache)
			pfree(rel->rd_amcache);
		rel->rd_amcache = NULL;
		cache = MemoryContextAlloc(rel->rd_indexcxt,
								   offsetof(XhCache, dir) +
								   (hdr.have_slots ?
									((Size) nslots << hdr.slot_shift) * sizeof(uint32) : 0));
		memcpy(cache, &hdr, offsetof(XhCache, dir));

		for (i = 0; hdr.have_slots && i < hdr.dir_npages && ok; i++)
		{
			Page		page;
			uint32		first = i * XH_DIR_SLOTS_PER_PAGE;
			uint32		n;

			if (first >= nslots)
				break;
			n = Min(nslots - first, XH_DIR_SLOTS_PER_PAGE);
			buf = ReadBuffer(rel, hdr.dir_start + i);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			xh_check_page(rel, page, hdr.dir_start + i, 0);
			if (!xh_is_dir_page(page, hdr.global_depth, i))
			{
				ok = false;
				bad = hdr.dir_start + i;
				bad_depth = hdr.global_depth;
				bad_start = hdr.dir_start;
			}
			else if (!XhCacheHasHints(cache))
				memcpy(&cache->dir[first], XhPageGetSlots(page),
					   n * sizeof(BlockNumber));
			else
			{
				BlockNumber *slots = XhPageGetSlots(page);
				uint32		s;

				for (s = 0; s < n; s++)
				{
					cache->dir[(first + s) << 1] = slots[s];
					XhCacheSetHint(cache, first + s, InvalidBuffer);
				}
			}
			UnlockReleaseBuffer(buf);
		}
		if (ok)
		{
			rel->rd_amcache = cache;
			return cache;
		}
		pfree(cache);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * xh_dir_lookup -- the bucket block the directory names for "hash".
 *
 * From the cached directory if it is cached, otherwise from the directory
 * page itself (share lock, released before returning).
 */
BlockNumber
xh_dir_lookup(Relation rel, uint64 hash, bool refresh)
{
	BlockNumber bad = InvalidBlockNumber;	/* mismatching page, last try */
	uint32		bad_depth = 0;
	BlockNumber bad_start = InvalidBlockNumber;

	for (;;)
	{
		XhCache    *cache = xh_get_cache(rel, refresh);
		uint32		slot = XhHashPrefix(hash, cache->global_depth);
		BlockNumber dirblk = cache->dir_start + slot / XH_DIR_SLOTS_PER_PAGE;
		BlockNumber result;
		bool		match;
		Buffer		buf;
		Page		page;

		if (cache->have_slots)
		{
			result = XhCacheSlot(cache, slot);
			xh_check_slot(rel, dirblk, result);
			return result;
		}

		/* as in xh_get_cache: the same metapage twice is corruption */
		if (bad != InvalidBlockNumber &&
			cache->global_depth == bad_depth && cache->dir_start == bad_start)
			xh_corrupt(rel, bad,
					   "The directory page does not match the metapage.");

		buf = ReadBuffer(rel, dirblk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		xh_check_page(rel, page, dirblk, 0);
		match = xh_is_dir_page(page, cache->global_depth,
							   slot / XH_DIR_SLOTS_PER_PAGE);
		result = match ? XhPageGetSlots(page)[slot % XH_DIR_SLOTS_PER_PAGE] :
			InvalidBlockNumber;
		UnlockReleaseBuffer(buf);
		if (match)
		{
			xh_check_slot(rel, dirblk, result);
			return result;
		}
		/* the directory was doubled meanwhile */
		bad = dirblk;
		bad_depth = cache->global_depth;
		bad_start = cache->dir_start;
		refresh = true;
	}
}

/*
 * xh_bucket_covers -- does the bucket page hold the range of "hash"?
 */
bool
xh_bucket_covers(Page page, uint64 hash)
{
	XhPageOpaque opaque = XhPageGetOpaque(page);

	return XhHashPrefix(hash, opaque->depth) == opaque->prefix;
}

/*
 * xh_read_dir_bucket -- pin (without locking) the page that the directory
 * names for "hash"; its block number goes to *blkno.
 *
 * The usual case -- a valid cache with the whole directory and its hints --
 * is handled here without calling xh_dir_lookup; the slot's block number and
 * its hint share a cache line.  When the slot has a recent-buffer hint,
 * ReadRecentBuffer pins the page without a lookup in the shared buffer
 * mapping table if the buffer still holds that block (it checks the buffer's
 * tag under the buffer header lock; otherwise it fails and we read
 * normally).  A pin taken that way does not raise the buffer's usage count,
 * so that the clock sweep keeps seeing the bucket pages that are in use,
 * every XH_HINT_REFRESH-th hinted read goes through ReadBuffer anyway.  The
 * relation's buffer statistics are counted as ReadBuffer counts them.
 *
 * Also starts loading the page's header and special space into the CPU
 * cache, which xh_check_page reads first, while the caller waits for the
 * buffer lock.
 */
static Buffer
xh_read_dir_bucket(Relation rel, uint64 hash, bool refresh, BlockNumber *blkno)
{
	XhCache    *cache = (XhCache *) rel->rd_amcache;
	BlockNumber blk;
	Buffer		buf;
	Page		page;

	if (likely(cache != NULL && !refresh && !cache->stale &&
			   XhCacheHasHints(cache)))
	{
		uint32		slot = XhHashPrefix(hash, cache->global_depth);
		Buffer		hint = XhCacheHint(cache, slot);

		blk = XhCacheSlot(cache, slot);
		xh_check_slot(rel, cache->dir_start + slot / XH_DIR_SLOTS_PER_PAGE, blk);
		if (BufferIsValid(hint) &&
			++cache->hint_uses % XH_HINT_REFRESH != 0 &&
			ReadRecentBuffer(rel->rd_node, MAIN_FORKNUM, blk, hint))
		{
			pgstat_count_buffer_read(rel);
			pgstat_count_buffer_hit(rel);
			buf = hint;
		}
		else
		{
			buf = ReadBuffer(rel, blk);

			/*
			 * ReadBuffer processes no invalidation messages, so the cache
			 * is still the one we looked at; but a hint is only a hint, and
			 * storing it in whatever cache is there now costs nothing.
			 */
			cache = (XhCache *) rel->rd_amcache;
			if (cache != NULL && XhCacheHasHints(cache))
				XhCacheSetHint(cache, XhHashPrefix(hash, cache->global_depth),
							   buf);
		}
	}
	else
	{
		/* (re)read the directory if needed, and remember the buffer */
		blk = xh_dir_lookup(rel, hash, refresh);
		buf = ReadBuffer(rel, blk);
		cache = (XhCache *) rel->rd_amcache;
		if (cache != NULL && XhCacheHasHints(cache))
			XhCacheSetHint(cache, XhHashPrefix(hash, cache->global_depth), buf);
	}

	page = BufferGetPage(buf);
	XH_PREFETCH(page);
	XH_PREFETCH((char *) page + BLCKSZ - MAXALIGN(sizeof(XhPageOpaqueData)));
	*blkno = blk;
	return buf;
}

/*
 * xh_find_bucket -- pin and lock (in "mode") the bucket page that covers
 * "hash" and return its buffer.
 *
 * Follows right-links when the directory lags behind splits and sets
 * *dir_stale if it had to; the cached directory is then dropped, so that
 * the next lookup rereads it.  Holds one page lock at a time.
 */
Buffer
xh_find_bucket(Relation rel, uint64 hash, int mode, bool *dir_stale)
{
	bool		refresh = false;

	*dir_stale = false;
	for (;;)
	{
		BlockNumber blkno;
		Buffer		buf;
		Page		page;
		XhWalk		walk = {0};

		buf = xh_read_dir_bucket(rel, hash, refresh, &blkno);
		LockBuffer(buf, mode);
		page = BufferGetPage(buf);
		xh_check_page(rel, page, blkno, 0);
		while (XhPageGetKind(page) == XH_PAGE_BUCKET &&
			   !xh_bucket_covers(page, hash))
		{
			XhPageOpaque opaque = XhPageGetOpaque(page);
			BlockNumber next = opaque->link;

			/* ranges only shrink from above: the hash must lie further right */
			if (XhHashPrefix(hash, opaque->depth) < opaque->prefix ||
				next == InvalidBlockNumber)
				break;
			xh_walk_step(rel, &walk, blkno, next);
			UnlockReleaseBuffer(buf);
			*dir_stale = true;
			buf = ReadBuffer(rel, next);
			LockBuffer(buf, mode);
			page = BufferGetPage(buf);
			xh_check_page(rel, page, next, 0);
			blkno = next;
		}
		if (XhPageGetKind(page) == XH_PAGE_BUCKET && xh_bucket_covers(page, hash))
		{
			if (*dir_stale && rel->rd_amcache)
				((XhCache *) rel->rd_amcache)->stale = true;	/* reread next time */
			return buf;
		}
		UnlockReleaseBuffer(buf);
		if (refresh)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" contains corrupted page at block %u",
							RelationGetRelationName(rel), blkno),
					 errdetail("No bucket covers hash %016llx.",
							   (unsigned long long) hash),
					 errhint("Please REINDEX it.")));
		refresh = true;
	}
}

/* sort entries by key without the dead bit (hash, offset), then block */
#define ST_SORT xh_sort_entries_impl
#define ST_ELEMENT_TYPE XhEntry
#define ST_COMPARE(a, b) \
	(XhEntrySortKey(a) < XhEntrySortKey(b) ? -1 : \
	 XhEntrySortKey(a) > XhEntrySortKey(b) ? 1 : \
	 (a)->blkno < (b)->blkno ? -1 : (a)->blkno > (b)->blkno ? 1 : 0)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * xh_sort_entries -- sort an entry array in page order.
 */
void
xh_sort_entries(XhEntry *entries, int n)
{
	xh_sort_entries_impl(entries, n);
}

/*
 * xh_entries_lower_bound -- index of the first of entries[lo, hi) whose
 * hash is >= h (already masked), by binary search.
 */
static inline int
xh_entries_lower_bound(const XhEntry *entries, int lo, int hi, uint64 h)
{
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (XhEntryHash(&entries[mid]) < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * xh_page_find_chain -- index of the chain entry for the top 32 hash bits
 * "top" on bucket page "page", or -1 if the bucket has no chain for them.
 * Chain entries are in the sorted part, before every entry of their top
 * 32 bits; pages without chains (aux = 0) are not searched.
 */
int
xh_page_find_chain(Page page, uint32 top)
{
	XhEntry    *entries = XhPageGetEntries(page);
	int			nsorted = XhPageGetOpaque(page)->nsorted;
	int			i;

	if (XhPageGetOpaque(page)->aux == 0)
		return -1;
	i = xh_entries_lower_bound(entries, 0, nsorted, XhChainKey(top));
	if (i < nsorted && XhEntryKey(&entries[i]) == XhChainKey(top))
		return i;
	return -1;
}

/*
 * xh_check_chain_head -- "head", the first page of a chain according to a
 * chain entry of bucket page "blkno".  A chain entry that leads to no page
 * is corruption: InvalidBlockNumber would end the walk at once (rows
 * silently missing), and ReadBuffer takes it for P_NEW.
 */
BlockNumber
xh_check_chain_head(Relation rel, BlockNumber blkno, BlockNumber head)
{
	if (unlikely(head == InvalidBlockNumber || head == XH_METAPAGE_BLKNO))
		xh_corrupt(rel, blkno, "A chain entry leads to no overflow page.");
	return head;
}

/*
 * xh_chain_head -- the first page of the chain whose chain entry is the
 * c-th entry of bucket page "page" (block "blkno"), checked.
 */
BlockNumber
xh_chain_head(Relation rel, Page page, BlockNumber blkno, int c)
{
	return xh_check_chain_head(rel, blkno, XhPageGetEntries(page)[c].blkno);
}

/*
 * xh_page_chains -- copy the chain entries of bucket page "page" (all in
 * its sorted part) to "chains", which has room for XH_PAGE_CAPACITY
 * entries; returns how many.  For walks that release the page first.
 */
int
xh_page_chains(Page page, XhEntry *chains)
{
	XhEntry    *entries = XhPageGetEntries(page);
	int			nsorted = XhPageGetOpaque(page)->nsorted;
	int			n = 0;
	int			i;

	if (XhPageGetOpaque(page)->aux == 0)
		return 0;
	for (i = 0; i < nsorted; i++)
		if (XhEntryIsChain(&entries[i]))
			chains[n++] = entries[i];
	return n;
}

/*
 * xh_page_find_first -- index of the first entry in the sorted part of the
 * page whose hash is >= hash.
 *
 * On a bucket page the hashes are uniformly spread over the bucket's range
 * (they are the output of a 64-bit finaliser, and the bucket is chosen by
 * their top "depth" bits), so the bits of the hash below the prefix,
 * taken as a fraction, predict the position of its entries: the
 * interpolation is off by about sqrt(n)/2 entries at most, about 7 entries
 * (84 bytes) on average on a page of 400.  So the search starts loading the
 * cache lines on both sides of the predicted entry at once (their misses
 * overlap instead of following one another), probes the predicted entry and
 * walks from it one entry at a time, up to XH_LINEAR entries, towards the
 * answer; only if the prediction was further off than that does it gallop
 * away in steps of XH_GALLOP entries (doubling) until it brackets the
 * answer, and binary-search the bracket.  A lookup thus waits for about one
 * or two cache misses of the entry array rather than the 7-8 dependent ones
 * of a binary search of the page, and the result is the same for any page
 * contents (the prediction only chooses where to start; sortedness alone
 * makes the result right).  Overflow pages, whose entries share their top
 * 32 bits, and short runs use the plain binary search.
 */
#define XH_LINEAR	24
#define XH_GALLOP	16

int
xh_page_find_first(Page page, uint64 hash)
{
	XhEntry    *entries = XhPageGetEntries(page);
	XhPageOpaque opaque = XhPageGetOpaque(page);
	int			n = opaque->nsorted;
	uint64		h = hash & XH_HASH_MASK;
	uint64		frac;
	int			guess;
	int			i;
	int			lo;
	int			hi;
	int			step;

	if (opaque->kind != XH_PAGE_BUCKET || n <= 2 * XH_GALLOP ||
		opaque->depth >= 32)
		return xh_entries_lower_bound(entries, 0, n, h);

	/* the hash bits below the bucket's prefix, as a 32-bit fraction */
	frac = (h << opaque->depth) >> 32;
	guess = (int) ((frac * (uint64) n) >> 32);
	Assert(guess >= 0 && guess < n);

	/* the neighbouring cache lines, while the predicted one is loaded */
	XH_PREFETCH(&entries[Max(guess - 6, 0)]);
	XH_PREFETCH(&entries[Min(guess + 6, n - 1)]);

	if (XhEntryHash(&entries[guess]) < h)
	{
		/* the answer is above guess: walk right, then gallop */
		for (i = guess + 1; i < n && i <= guess + XH_LINEAR; i++)
			if (XhEntryHash(&entries[i]) >= h)
				return i;
		if (i >= n)
			return n;
		/* entries[i - 1] < h */
		lo = i;
		step = XH_GALLOP;
		for (;;)
		{
			int			probe = i + step;

			if (probe >= n)
			{
				hi = n;
				break;
			}
			if (XhEntryHash(&entries[probe]) >= h)
			{
				hi = probe;
				break;
			}
			lo = probe + 1;
			step *= 2;
		}
	}
	else
	{
		/* the answer is at or below guess: walk left, then gallop */
		for (i = guess; i > 0 && i > guess - XH_LINEAR; i--)
			if (XhEntryHash(&entries[i - 1]) < h)
				return i;
		if (i == 0)
			return 0;
		/* entries[i] >= h */
		hi = i;
		step = XH_GALLOP;
		for (;;)
		{
			int			probe = i - step;

			if (probe < 0)
			{
				lo = 0;
				break;
			}
			if (XhEntryHash(&entries[probe]) < h)
			{
				lo = probe + 1;
				break;
			}
			hi = probe;
			step *= 2;
		}
	}
	return xh_entries_lower_bound(entries, lo, hi, h);
}

/*
 * xh_make_entry -- encode (hash, TID) as an index entry.
 */
void
xh_make_entry(XhEntry *e, uint64 hash, ItemPointer tid)
{
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	uint64		key;

	if (off == InvalidOffsetNumber)
		elog(ERROR, "xhash cannot index an invalid item pointer");
	if (off > XH_MAX_OFFSET)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("xhash cannot index a row with item pointer offset %u",
						(unsigned) off),
				 errdetail("Offsets above %d are not supported.", XH_MAX_OFFSET)));
	key = (hash & XH_HASH_MASK) | off;
	e->key_hi = (uint32) (key >> 32);
	e->key_lo = (uint32) key;
	e->blkno = ItemPointerGetBlockNumberNoCheck(tid);
}

/*
 * xh_tid_cmp -- qsort/bsearch comparator of TIDs.
 */
int
xh_tid_cmp(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/*
 * xh_mark_tids -- mark dead the entries of the page in "buf" (locked
 * exclusively) that have hash "hash" and one of the TIDs tids[0..ntids),
 * which are sorted, in one generic record if any is not marked yet;
 * returns how many such entries the page has.
 */
int
xh_mark_tids(Relation rel, Buffer buf, uint64 hash, ItemPointer tids,
			 int ntids)
{
	Page		page = BufferGetPage(buf);
	XhEntry    *entries = XhPageGetEntries(page);
	int			n = XhPageGetNEntries(page);
	int			nsorted = XhPageGetOpaque(page)->nsorted;
	uint64		h = hash & XH_HASH_MASK;
	int			pos[XH_PAGE_CAPACITY];
	int			npos = 0;
	int			found = 0;
	GenericXLogState *state;
	int			i;

	/* the entries with our hash: in the sorted run, then in the tail */
	for (i = xh_page_find_first(page, hash); i < n; i++)
	{
		ItemPointerData tid;

		if (i < nsorted && XhEntryHash(&entries[i]) != h)
		{
			i = nsorted - 1;	/* past our run: go to the tail */
			continue;
		}
		if (XhEntryHash(&entries[i]) != h || XhEntryIsChain(&entries[i]))
			continue;
		xh_entry_tid(&entries[i], &tid);
		if (bsearch(&tid, tids, ntids, sizeof(ItemPointerData),
					xh_tid_cmp) == NULL)
			continue;
		found++;
		if (!XhEntryIsDead(&entries[i]))
			pos[npos++] = i;
	}
	if (npos > 0)
	{
		state = GenericXLogStart(rel);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		for (i = 0; i < npos; i++)
			XhEntrySetDead(&XhPageGetEntries(page)[pos[i]]);
		XhPageGetOpaque(page)->flags |= XH_FLAG_HAS_DEAD;
		GenericXLogFinish(state);
	}
	return found;
}

/*
 * xh_page_remove_entries -- remove the entries of "page" (registered in a
 * generic record) whose gone[i] is set; returns how many went.  Survivors
 * keep their order, so the sorted prefix stays sorted.  The page loses
 * XH_FLAG_HAS_DEAD if no entry marked dead is left, and a bucket page that
 * lost entries gets its removal count raised (see xh_kill_flush; for a
 * chain page, the caller raises its bucket page's).  Every removal of
 * entries (VACUUM, entries of dead rows at insert time) goes through here.
 */
int
xh_page_remove_entries(Page page, const bool *gone)
{
	XhEntry    *entries = XhPageGetEntries(page);
	XhPageOpaque opaque = XhPageGetOpaque(page);
	int			n = XhPageGetNEntries(page);
	int			nsorted = opaque->nsorted;
	int			newsorted = 0;
	int			ndead = 0;
	int			i,
				j = 0;

	for (i = 0; i < n; i++)
	{
		if (gone[i])
			continue;
		if (i < nsorted)
			newsorted++;
		ndead += XhEntryIsDead(&entries[i]);
		if (i != j)
			entries[j] = entries[i];
		j++;
	}
	XhPageSetNEntries(page, j);
	opaque->nsorted = newsorted;
	if (ndead == 0)
		opaque->flags &= ~XH_FLAG_HAS_DEAD;
	if (opaque->kind == XH_PAGE_BUCKET && j < n)
		XhBucketRemovals(opaque)++;
	return n - j;
}

/*
 * xh_page_count_dead -- how many entries of "page" are marked dead.
 */
int
xh_page_count_dead(Page page)
{
	XhEntry    *entries = XhPageGetEntries(page);
	int			n = XhPageGetNEntries(page);
	int			ndead = 0;
	int			i;

	for (i = 0; i < n; i++)
		ndead += XhEntryIsDead(&entries[i]);
	return ndead;
}

/*
 * xh_entry_tid -- the TID stored in an entry.
 */
void
xh_entry_tid(const XhEntry *e, ItemPointer tid)
{
	ItemPointerSet(tid, e->blkno, (OffsetNumber) (e->key_lo & XH_OFFSET_MASK));
}

/*
 * xh_cache_for_update -- rd_amcache, to attach something built in
 * rd_indexcxt to it; a stub (marked stale, so that the next xh_get_cache
 * fills it in) if there is none.
 *
 * Callers must fetch rd_amcache only after their catalog lookups: those can
 * process invalidation messages, and a relcache flush of the index frees
 * rd_amcache (RelationReloadIndexInfo), though not what hangs off it in
 * rd_indexcxt.  No metapage read here: CREATE UNIQUE INDEX compares keys
 * before the index has any page.
 */
static XhCache *
xh_cache_for_update(Relation rel)
{
	XhCache    *cache = (XhCache *) rel->rd_amcache;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(rel->rd_indexcxt, offsetof(XhCache, dir));
		cache->stale = true;
		rel->rd_amcache = cache;
	}
	return cache;
}

/*
 * xh_get_keyeq -- the equality functions of the key columns (strategy 1
 * of each column's operator family, for the opclass input type), cached
 * in the index's relcache memory.
 */
XhKeyEq *
xh_get_keyeq(Relation rel)
{
	XhCache    *cache = (XhCache *) rel->rd_amcache;
	XhKeyEq    *keyeq;
	int			i;

	if (cache != NULL && cache->keyeq != NULL)
		return cache->keyeq;

	keyeq = MemoryContextAllocZero(rel->rd_indexcxt, sizeof(XhKeyEq));
	keyeq->natts = IndexRelationGetNumberOfKeyAttributes(rel);
	for (i = 0; i < keyeq->natts; i++)
	{
		Oid			opfamily = rel->rd_opfamily[i];
		Oid			opcintype = rel->rd_opcintype[i];
		Oid			eqop;

		eqop = get_opfamily_member(opfamily, opcintype, opcintype,
								   XHASH_EQUAL_STRATEGY);
		if (!OidIsValid(eqop))
			elog(ERROR, "missing operator %d(%u,%u) in opfamily %u",
				 XHASH_EQUAL_STRATEGY, opcintype, opcintype, opfamily);
		fmgr_info_cxt(get_opcode(eqop), &keyeq->eqfn[i], rel->rd_indexcxt);
		keyeq->collation[i] = rel->rd_indcollation[i];
	}
	/* the lookups above may have freed the cache we saw: fetch it again */
	cache = xh_cache_for_update(rel);
	cache->keyeq = keyeq;
	return keyeq;
}

/*
 * xh_get_cross_proc -- support function 1 of key column "att" (1-based)
 * for a scan key of type "subtype" other than the column's opclass input
 * type (e.g. an int8 column probed with an int4 value), cached in the
 * index's relcache memory so that such lookups need no catalog access.
 * The FmgrInfo returned lives in rd_indexcxt.
 */
FmgrInfo *
xh_get_cross_proc(Relation rel, int att, Oid subtype)
{
	XhCache    *cache = (XhCache *) rel->rd_amcache;
	XhCrossProcs *cross;
	Oid			procid;

	Assert(att >= 1 && att <= INDEX_MAX_KEYS && OidIsValid(subtype));
	if (cache != NULL && cache->cross != NULL &&
		cache->cross->subtype[att - 1] == subtype)
		return &cache->cross->proc[att - 1];

	procid = get_opfamily_proc(rel->rd_opfamily[att - 1], subtype, subtype,
							   XHASH_EXTENDED_PROC);
	if (!OidIsValid(procid))
		elog(ERROR, "missing support function %d(%u,%u) in opfamily %u",
			 XHASH_EXTENDED_PROC, subtype, subtype, rel->rd_opfamily[att - 1]);

	/* the lookup above may have freed the cache we saw: fetch it again */
	cache = xh_cache_for_update(rel);
	if (cache->cross == NULL)
		cache->cross = MemoryContextAllocZero(rel->rd_indexcxt,
											  sizeof(XhCrossProcs));
	cross = cache->cross;
	/* invalid until filled in, in case fmgr_info_cxt fails */
	cross->subtype[att - 1] = InvalidOid;
	fmgr_info_cxt(procid, &cross->proc[att - 1], rel->rd_indexcxt);
	cross->subtype[att - 1] = subtype;
	return &cross->proc[att - 1];
}

/*
 * xh_keys_equal -- are two key tuples equal?  NULL equals NULL here; the
 * callers only compare NULLs under NULLS NOT DISTINCT.
 */
bool
xh_keys_equal(Relation rel, Datum *v1, bool *n1, Datum *v2, bool *n2)
{
	XhKeyEq    *keyeq = xh_get_keyeq(rel);
	int			i;

	for (i = 0; i < keyeq->natts; i++)
	{
		if (n1[i] || n2[i])
		{
			if (n1[i] != n2[i])
				return false;
			continue;
		}
		if (!DatumGetBool(FunctionCall2Coll(&keyeq->eqfn[i],
											keyeq->collation[i],
											v1[i], v2[i])))
			return false;
	}
	return true;
}

/*
 * xh_fetch_keys -- fetch the table row "tid" with "snapshot" and compute
 * its index key into values/isnull (copied into the current memory
 * context).
 *
 * Returns false if no row version is visible to the snapshot.  *all_dead
 * (if not NULL) is set as by table_index_fetch_tuple.
 */
bool
xh_fetch_keys(Relation heapRel, Relation indexRel, IndexInfo *indexInfo,
			  ItemPointer tid, Snapshot snapshot, Datum *values, bool *isnull,
			  bool *all_dead)
{
	TupleDesc	itupdesc = RelationGetDescr(indexRel);
	int			natts = IndexRelationGetNumberOfKeyAttributes(indexRel);
	TupleTableSlot *slot;
	IndexFetchTableData *scan;
	ItemPointerData tmptid = *tid;
	bool		call_again = false;
	bool		found;

	slot = table_slot_create(heapRel, NULL);
	scan = table_index_fetch_begin(heapRel);
	found = table_index_fetch_tuple(scan, &tmptid, snapshot, slot,
									&call_again, all_dead);
	table_index_fetch_end(scan);

	if (found)
	{
		EState	   *estate = NULL;
		List	   *saved = indexInfo->ii_ExpressionsState;
		int			i;

		if (indexInfo->ii_Expressions != NIL)
		{
			estate = CreateExecutorState();
			GetPerTupleExprContext(estate)->ecxt_scantuple = slot;
		}
		FormIndexDatum(indexInfo, slot, estate, values, isnull);
		for (i = 0; i < natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(itupdesc, i);

			if (!isnull[i])
				values[i] = datumCopy(values[i], att->attbyval, att->attlen);
		}
		if (estate != NULL)
		{
			/* an expression state built here dies with the estate */
			indexInfo->ii_ExpressionsState = saved;
			FreeExecutorState(estate);
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	return found;
}
