/*-------------------------------------------------------------------------
 *
 * xh_page.h
 *	  On-disk layout of xhash index pages.
 *
 * Kept apart from xhash.h so that page-inspection tools need only this
 * file.  Every page is a standard PostgreSQL page (all payload below
 * pd_lower, special space at the end), because generic WAL zeroes the
 * hole between pd_lower and pd_upper.
 *
 * Page kinds:
 *	 - metapage (block 0): magic, version, global depth, where the
 *	   directory lives, hash seed, frozen options, statistics;
 *	 - directory pages: an array of bucket block numbers, indexed by the
 *	   top "global depth" bits of the hash;
 *	 - bucket pages: one per bucket; local depth and hash prefix in the
 *	   special space, a right-link to the bucket that took over the upper
 *	   half of its hash range at its last split (B-link style), entries,
 *	   and a chain entry per overflow chain of the bucket;
 *	 - overflow pages: the chains, each holding the entries of one
 *	   frequent top-32-bit hash value (one key with many rows, or a few);
 *	 - deleted pages: unlinked overflow pages and obsolete directory
 *	   pages, recycled once no scan can still reach them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef XH_PAGE_H
#define XH_PAGE_H

#include "access/transam.h"
#include "storage/block.h"
#include "storage/bufpage.h"

#define XH_METAPAGE_BLKNO	0

#define XH_MAGIC			0x58484153	/* "XHAS" */
#define XH_VERSION			3		/* 1: one chain per bucket, in the
									 * special space; 2: 55 hash bits, no
									 * dead bit */

/* page id in the last two bytes of every page, for pg_filedump & co */
#define XH_PAGE_ID			0xFF92

/* page kinds (XhPageOpaque->kind) */
#define XH_PAGE_META		1
#define XH_PAGE_DIR			2
#define XH_PAGE_BUCKET		3
#define XH_PAGE_OVERFLOW	4
#define XH_PAGE_DELETED		5

/*
 * Deepest local / global depth.  A bucket at this depth that fills up moves
 * entries to overflow chains instead of splitting.  2^24 directory slots
 * take 8 232 directory pages, enough for billions of entries.
 */
#define XH_MAX_DEPTH		24

/*
 * Special space of every xhash page (24 bytes).
 *
 * bucket / overflow pages:
 *	 aux		  bucket page: number of chain entries on the page;
 *				  overflow page: the top 32 bits of the hashes of its chain
 *	 next		  bucket page: removal count, raised by every change
 *				  that takes entries off the page (VACUUM, removal of
 *				  dead entries, spill to a chain, split) and by VACUUM
 *				  after removing entries from one of the page's chains,
 *				  so that a scan can tell that the entries it saw are
 *				  still the ones there (XhBucketRemovals, see
 *				  xh_kill_flush);
 *				  overflow page: next page of the chain
 *	 link		  bucket page: right-link, the bucket holding the hash range
 *				  just above ours (InvalidBlockNumber for the last one);
 *				  overflow page that is its chain's first: where the next
 *				  bottom-up passes over the chain start, counted in pages
 *				  after it (XhChainCursor, see xh_chain_make_room; 0 or
 *				  InvalidBlockNumber mean 1); other overflow pages: a
 *				  stale such cursor, unused
 *	 prefix		  bucket page: top "depth" bits of every hash on the page;
 *				  overflow page: the bucket's prefix when the page was made
 *	 nsorted	  entries [0, nsorted) are in key order; the rest were
 *				  appended since and are unordered (chain entries are
 *				  always in the sorted part)
 *	 depth		  local depth of the bucket (overflow pages: when the page
 *				  was made; the bucket may have split since)
 * directory pages: prefix = global depth the page was written for,
 *	 aux = the page's number within the directory.
 * deleted pages: next = where a scan that arrives here continues,
 *	 prefix/aux = low/high half of the FullTransactionId after which the
 *	 page may be recycled.
 */
typedef struct XhPageOpaqueData
{
	BlockNumber next;
	BlockNumber link;
	uint32		prefix;
	uint32		aux;
	uint16		nsorted;
	uint8		depth;
	uint8		kind;
	uint8		version;		/* XH_VERSION */
	uint8		flags;			/* XH_FLAG_* */
	uint16		page_id;		/* XH_PAGE_ID, last two bytes of the page */
} XhPageOpaqueData;

typedef XhPageOpaqueData *XhPageOpaque;

/* flags: the bucket or overflow page may hold entries marked dead */
#define XH_FLAG_HAS_DEAD	0x01

/* the removal count of a bucket page (its "next" field) */
#define XhBucketRemovals(opaque) ((opaque)->next)

/* the bottom-up cursor of a chain's first page (its "link" field) */
#define XhChainCursor(opaque) ((opaque)->link)

#define XhPageGetOpaque(page) ((XhPageOpaque) PageGetSpecialPointer(page))
#define XhPageGetKind(page) (XhPageGetOpaque(page)->kind)

/*
 * Index entry: 12 bytes, 4-byte aligned, no line pointers.
 *
 * "key" holds the top 54 bits of the 64-bit hash in its top bits, the
 * dead bit (XH_DEAD_BIT) below them and the TID's offset number in its low
 * 9 bits.  Entries are ordered by key without the dead bit, i.e. by (hash,
 * offset), so that marking an entry dead never moves it out of order.  The
 * 10 dropped hash bits cost nothing but a rare extra heap fetch (every
 * scan rechecks).  Offsets above 511 cannot be stored; heap and lsm tables
 * stay below 292.
 *
 * The dead bit says that every row version the TID leads to is dead to
 * every snapshot (the table AM said so to a scan or a unique check); such
 * entries are skipped by scans that may ignore killed tuples and removed
 * when their bucket or chain page fills up (see xh_insert.c).  It is a
 * WAL-logged change, unlike nbtree's LP_DEAD hint: generic WAL has no
 * masking function, so an unlogged change would make
 * wal_consistency_checking report the page inconsistent on a standby.
 *
 * Chain entries (bucket pages only): key_hi = top 32 bits T of a hash,
 * key_lo = 0 (offset 0, which no TID has), blkno = first page of the
 * overflow chain that holds entries whose hashes start with T.  A chain
 * entry sorts before every entry of its T, is always in the page's sorted
 * part, and moves with its T when the bucket splits, so a chain needs no
 * rewriting when its bucket splits; a bucket may have any number of
 * chains, at most one per T.  Entries of T may also be on the bucket page.
 */
typedef struct XhEntry
{
	uint32		key_hi;
	uint32		key_lo;
	BlockNumber blkno;
} XhEntry;

#define XH_OFFSET_BITS		9
#define XH_MAX_OFFSET		((1 << XH_OFFSET_BITS) - 1)
#define XH_OFFSET_MASK		((uint64) XH_MAX_OFFSET)
#define XH_DEAD_BIT			((uint64) 1 << XH_OFFSET_BITS)
#define XH_HASH_MASK		(~(XH_OFFSET_MASK | XH_DEAD_BIT))

#define XhEntryKey(e) (((uint64) (e)->key_hi << 32) | (uint64) (e)->key_lo)
#define XhEntryHash(e) (XhEntryKey(e) & XH_HASH_MASK)
/* the key entries are ordered by: (hash, offset) */
#define XhEntrySortKey(e) (XhEntryKey(e) & ~XH_DEAD_BIT)
#define XhEntryIsDead(e) (((e)->key_lo & (uint32) XH_DEAD_BIT) != 0)
#define XhEntrySetDead(e) ((e)->key_lo |= (uint32) XH_DEAD_BIT)

/* is "e" a chain entry?  (offset 0) */
#define XhEntryIsChain(e) (((e)->key_lo & (uint32) XH_OFFSET_MASK) == 0)
/* the key of the chain entry for top 32 bits "top" */
#define XhChainKey(top) ((uint64) (top) << 32)

/* prefix of hash h at depth d (d <= 32) */
#define XhHashPrefix(h, d) ((d) == 0 ? (uint32) 0 : (uint32) ((uint64) (h) >> (64 - (d))))
/* top 32 bits of a hash: what decides its bucket at any depth <= 32 */
#define XhHashTop32(h) ((uint32) ((uint64) (h) >> 32))

#define XH_PAGE_CAPACITY ((int) \
	((BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(XhPageOpaqueData))) / sizeof(XhEntry)))

#define XhPageGetEntries(page) ((XhEntry *) PageGetContents(page))
#define XhPageGetNEntries(page) \
	((int) ((((PageHeader) (page))->pd_lower - MAXALIGN(SizeOfPageHeaderData)) / sizeof(XhEntry)))
#define XhPageSetNEntries(page, n) \
	(((PageHeader) (page))->pd_lower = MAXALIGN(SizeOfPageHeaderData) + (n) * sizeof(XhEntry))

/* directory pages: an array of block numbers */
#define XH_DIR_SLOTS_PER_PAGE ((uint32) \
	((BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(XhPageOpaqueData))) / sizeof(BlockNumber)))
#define XhPageGetSlots(page) ((BlockNumber *) PageGetContents(page))

/*
 * Metapage contents, below pd_lower.
 */
typedef struct XhMetaPageData
{
	uint32		magic;
	uint32		version;
	uint64		seed;			/* seed of the extended hash functions */
	uint32		global_depth;	/* directory has 2^global_depth slots */
	BlockNumber dir_start;		/* first directory page (contiguous) */
	uint32		dir_npages;		/* number of directory pages */
	uint32		fillfactor;		/* build fill, percent */
	uint32		natts;			/* key columns, for sanity checks */
} XhMetaPageData;

typedef XhMetaPageData *XhMetaPage;

#define XhPageGetMeta(page) ((XhMetaPage) PageGetContents(page))

#endif							/* XH_PAGE_H */
