/*-------------------------------------------------------------------------
 *
 * lsm_page.h
 *	  On-disk layout of the pages of an lsm table.
 *
 * Audience: every file that reads or writes lsm table pages, and lsm_check.
 * The design behind these structures (why a logical block maps to one
 * memtable page, why there are no hint bits, how a page is recycled) is in
 * doc/lsm-design.md; keep the two in step.
 *
 * Every page of an lsm relation has a standard page header (so that generic
 * WAL, checksums and the buffer manager's header checks apply) and an 8-byte
 * special area, LsmPageOpaqueData, carrying the page type and a magic page
 * id.  Payload always lives below pd_lower or above pd_upper: generic WAL
 * zeroes the hole in between on both do and redo.
 *
 * Block 0 is the metapage.  The other pages are map-directory pages, map
 * pages, memtable pages, free pages, and the pages of compressed runs: the
 * manifest, run data, run index and bloom filter pages (the STAMP type is
 * reserved; stamps are stored as overlay memtable pages, see "Shared
 * overlay pages" below).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LSM_PAGE_H
#define LSM_PAGE_H

#include "access/htup_details.h"
#include "port/pg_crc32c.h"
#include "storage/block.h"
#include "storage/bufpage.h"
#include "storage/itemptr.h"

/*
 * Special space of every lsm page (8 bytes, MAXALIGNed).
 *
 * lpo_aux depends on the type:
 *	 META		unused (0)
 *	 MAPDIR		index of the directory slot in the metapage
 *	 MAP		first logical block covered by the page
 *	 MEM		the logical block this memtable page holds (shared overlay
 *				pages: the first logical block of their map range)
 *	 FREE		unused (0)
 */
typedef struct LsmPageOpaqueData
{
	uint32		lpo_aux;
	uint8		lpo_type;		/* LSM_PAGE_xxx */
	uint8		lpo_flags;		/* type-specific flags */
	uint16		lpo_page_id;	/* LSM_PAGE_ID, for identification */
} LsmPageOpaqueData;

typedef LsmPageOpaqueData *LsmPageOpaque;

#define LSM_PAGE_ID				0xFF91

/* page types */
#define LSM_PAGE_META			1
#define LSM_PAGE_MAPDIR			2
#define LSM_PAGE_MAP			3
#define LSM_PAGE_MEM			4
#define LSM_PAGE_FREE			5
/* compressed runs (doc/lsm-design.md, "Runs") */
#define LSM_PAGE_MANIFEST		6
#define LSM_PAGE_RUN_DATA		7
#define LSM_PAGE_RUN_INDEX		8
#define LSM_PAGE_RUN_BLOOM		9
#define LSM_PAGE_STAMP			10
#define LSM_PAGE_MAX_TYPE		10

/* lpo_flags of memtable pages */
#define LSM_MEM_SEALED			0x01	/* takes no more insertions */
#define LSM_MEM_OVERLAY			0x02	/* runs hold (older) versions of this
										 * logical block: an unused line
										 * pointer means "look in the runs" */
#define LSM_MEM_NO_VERSIONS		0x04	/* every item is gone (set by
										 * pruning, never on an overlay page;
										 * cleared when a version is added):
										 * scans skip the page */
#define LSM_MEM_SHARED			0x08	/* an overlay page shared by logical
										 * blocks of one map range: each item
										 * starts with its TID (always with
										 * OVERLAY and SEALED) */
#define LSM_MEM_COPIES			0x10	/* an overlay page made for copies of
										 * versions that live in the runs: it
										 * never held anything else (set since
										 * 2026-12-07; a shared page always
										 * is one) */
#define LSM_MEM_FLAGS			0x1f	/* all of them */

/*
 * Shared overlay pages.
 *
 * Changing a version that lives only in a run copies it to a memtable page
 * first.  A logical block without a memtable page used to get an overlay
 * page of its own for that, 8 kB for one or two copied rows; random updates
 * of a compacted table then grew it by a page per block touched.  Such
 * copies now go to a *shared* overlay page instead, which collects the
 * copies of many logical blocks: every logical block it serves is mapped to
 * it, and its lpo_aux is the first logical block of the map range those
 * blocks lie in (the metapage's direct entries, or one MAP page), so that
 * freeing it changes one map page.  Line pointer numbers are not offsets
 * there: each item starts with an LsmSharedItemData naming the version's
 * TID, followed by the heap tuple.  Items keep that storage in every state:
 * a version (LP_NORMAL), a removed version whose index entries are still
 * to be deleted (LP_DEAD with storage) and a tombstone (LP_REDIRECT, the
 * storage reduced to the prefix).  A TID appears at most once on a page.
 */
typedef struct LsmSharedItemData
{
	BlockNumber lblock;			/* the version's logical block */
	OffsetNumber off;			/* and offset */
	uint16		reserved;		/* zero */
} LsmSharedItemData;

#define LSM_SHARED_PREFIX		MAXALIGN(sizeof(LsmSharedItemData))

/* logical blocks in the map range from first (see "Logical blocks") */
#define LsmMapRangeSize(first) \
	((first) < LSM_META_DIRECT ? LSM_META_DIRECT : LSM_MAP_ENTRIES)

#define LsmPageIsShared(page) \
	((LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_SHARED) != 0)

/*
 * Line pointer of a tombstone on an overlay page: the version at this
 * offset is removed and no index entry leads to it any more, but runs may
 * still hold an older copy, which it hides.  (LP_REDIRECT is never used
 * otherwise on lsm pages.)  On an ordinary overlay page it has no storage;
 * on a shared one it keeps the item's prefix (lsm_item_set_tombstone).
 */
#define LsmItemIdIsTombstone(itemId) \
	((itemId)->lp_flags == LP_REDIRECT)

/*
 * An item that certainly holds no version: unused, removed (LP_DEAD) or a
 * tombstone.  A cheap test before lsm_page_get_tuple, which checks
 * everything else.
 */
#define lsm_item_is_gone(itemId) \
	(!ItemIdIsNormal(itemId))

#define LsmPageGetOpaque(page) \
	((LsmPageOpaque) PageGetSpecialPointer(page))

#define LSM_SPECIAL_SIZE		MAXALIGN(sizeof(LsmPageOpaqueData))

/*
 * Is page an initialized lsm page of this type?  The quiet test for a page
 * reached through a hint or found by a search, which may be anything:
 * lsm_verify_page is the one that reports a corrupt page.
 */
#define LsmPageIsOfType(page, type) \
	(!PageIsNew(page) && \
	 ((PageHeader) (page))->pd_special == BLCKSZ - LSM_SPECIAL_SIZE && \
	 LsmPageGetOpaque(page)->lpo_page_id == LSM_PAGE_ID && \
	 LsmPageGetOpaque(page)->lpo_type == (type))

/* Usable bytes between the page header and the special space. */
#define LSM_PAGE_CONTENT_SIZE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - LSM_SPECIAL_SIZE)

/* ----------------------------------------------------------------
 * Metapage (block 0)
 *
 * The metapage is written with generic WAL like every other page; its
 * content lies between the page header and pd_lower.
 * ----------------------------------------------------------------
 */
#define LSM_METAPAGE_BLKNO		0
#define LSM_META_MAGIC			0x4C534D31	/* "LSM1" */
#define LSM_META_VERSION		1

/*
 * Logical blocks and the map.
 *
 * Row versions are identified by TIDs (logical block, offset).  A logical
 * block holds at most MaxHeapTuplesPerPage (291) versions; a memtable page
 * holds exactly one logical block, so its line pointer numbers are the TID
 * offsets (except a shared overlay page, see above).  The map translates a logical block to the physical block of its
 * memtable page.  The first LSM_META_DIRECT logical blocks are mapped by an
 * array in the metapage itself, so a small table needs no map pages; the
 * rest by a radix tree with two levels of map pages under the metapage
 * (meta.mapdir[] -> MAPDIR page -> MAP page -> memtable page), MAP page
 * number n covering logical blocks LSM_META_DIRECT + n * LSM_MAP_ENTRIES
 * onwards.
 */
#define LSM_META_DIRECT			960
#define LSM_MAP_ENTRIES \
	((int) (LSM_PAGE_CONTENT_SIZE / sizeof(BlockNumber)))
/* logical blocks of the map unit (direct entries or one MAP page) of lblock */
#define LsmMapUnitSpan(lblock) \
	((BlockNumber) ((lblock) < LSM_META_DIRECT ? LSM_META_DIRECT : LSM_MAP_ENTRIES))
#define LSM_MAPDIR_SPAN \
	((uint64) LSM_MAP_ENTRIES * (uint64) LSM_MAP_ENTRIES)
/* enough directory slots for every 32-bit logical block number */
#define LSM_META_MAPDIR_SLOTS \
	((int) ((((uint64) 1 << 32) - LSM_META_DIRECT + LSM_MAPDIR_SPAN - 1) / \
			LSM_MAPDIR_SPAN))

typedef struct LsmMetaPageData
{
	uint32		magic;			/* LSM_META_MAGIC */
	uint32		version;		/* LSM_META_VERSION */

	/* row identity */
	BlockNumber next_lblock;	/* first logical block never assigned */
	BlockNumber insert_page;	/* physical block of the newest memtable
								 * page: where inserters without a target
								 * page look first */

	/* memtable accounting */
	uint32		mem_pages;		/* memtable pages currently mapped */
	BlockNumber mem_base_lblock;	/* no memtable page below this logical
									 * block (runs hold those) */

	/* compressed runs: present in the format, unused until runs exist */
	BlockNumber manifest;		/* first manifest page, or Invalid */
	uint32		nruns;			/* runs listed by the manifest */
	uint64		run_generation; /* bumped on every manifest switch */

	/* statistics, maintained by VACUUM */
	uint64		versions_removed;	/* versions removed, ever */
	uint64		pages_freed;	/* memtable pages freed, ever */

	uint32		flags;			/* LSM_META_xxx */
	uint32		overlay_pages;	/* overlay pages in the memtable, about:
								 * made +1, freed -1, not below 0; pages
								 * that become overlay pages later are not
								 * counted (lsm.memtable_flush_overlay_pages) */
	BlockNumber empty_below;	/* no logical block below this one has a
								 * version anywhere: no memtable page, no
								 * dead block, no entry in a listed run
								 * (sequential scans start here; raised by
								 * VACUUM, lowered by whatever maps a page
								 * or lists a run below it; 0 in tables
								 * made before 2026-12-06) */
	/*
	 * The oldest xid and MultiXact in versions that moved from one memtable
	 * page to another (lsm_move_shared_block) since VACUUM last began its
	 * page scan, or Invalid: VACUUM, which may have read the target page
	 * before and the source page after a move, takes them into its new
	 * relfrozenxid and relminmxid (lsm_vacuum.c).  Zero in older tables.
	 */
	TransactionId moved_xid;
	MultiXactId moved_mxid;
	/*
	 * The oldest unfrozen xmin in the manifest's retired runs (lowered by
	 * every switch that retires runs, FrozenTransactionId if they hold
	 * none, Invalid once none is left; an upper bound, as reaping some of
	 * them does not raise it).  A backend that looked a row up before a
	 * switch may copy it from a run retired since, after VACUUM's scan has
	 * passed the copy's page: VACUUM bounds relfrozenxid by this.  Zero
	 * while retired runs remain in tables made before 2026-12-07: unknown,
	 * VACUUM keeps relfrozenxid.
	 */
	TransactionId retired_xid;
	uint32		reserved[2];	/* zero; room for format additions */

	/* the map: see "Logical blocks and the map" above */
	uint32		nmapdir;		/* mapdir slots in use (highest used + 1) */
	BlockNumber direct[LSM_META_DIRECT];	/* memtable page of logical
											 * blocks 0 .. LSM_META_DIRECT-1 */
	BlockNumber mapdir[FLEXIBLE_ARRAY_MEMBER];	/* LSM_META_MAPDIR_SLOTS
												 * MAPDIR pages, or Invalid */
} LsmMetaPageData;

typedef LsmMetaPageData *LsmMetaPage;

/* meta->flags: no flag is defined yet; all bits are zero */

#define LsmPageGetMeta(page) \
	((LsmMetaPage) PageGetContents(page))

#define LSM_META_SIZE \
	(offsetof(LsmMetaPageData, mapdir) + \
	 LSM_META_MAPDIR_SLOTS * sizeof(BlockNumber))

/* ----------------------------------------------------------------
 * Map-directory and map pages
 *
 * Both hold an array of LSM_MAP_ENTRIES BlockNumbers in the page contents,
 * InvalidBlockNumber where nothing is mapped; pd_lower covers the array.
 * ----------------------------------------------------------------
 */
#define LsmPageGetMapArray(page) \
	((BlockNumber *) PageGetContents(page))

/*
 * A dead block.  A sealed memtable page left without any version by pruning
 * may still have LP_DEAD items, whose index entries only VACUUM deletes.
 * Such a page is freed at once all the same (lsm_free_dead_page), and its
 * map entry keeps what VACUUM needs to know instead: "offsets 1 .. maxoff
 * of this block may have index entries, and nothing else is there".
 * Readers take a dead block for a block without a page (no version, and
 * no run holds the block); VACUUM deletes the index entries of its TIDs
 * and then sets the entry to InvalidBlockNumber.  The values are above any
 * physical block an lsm relation may have (lsm_alloc_page refuses to grow
 * a relation that far).
 */
#define LSM_MAP_DEAD_BASE		((BlockNumber) 0xFFFFF000)
#define LsmMapDeadEntry(maxoff)	(LSM_MAP_DEAD_BASE + (BlockNumber) (maxoff))
#define LsmMapEntryIsDead(e) \
	((e) > LSM_MAP_DEAD_BASE && \
	 (e) <= LSM_MAP_DEAD_BASE + LSM_MAX_TUPLES_PER_PAGE)
#define LsmMapDeadMaxOff(e)		((OffsetNumber) ((e) - LSM_MAP_DEAD_BASE))

/* ----------------------------------------------------------------
 * Memtable pages
 *
 * A slotted page like heap's: ItemIdData line pointers from the header
 * upwards, tuples from the special space downwards.  Tuples have a full
 * HeapTupleHeaderData, so the header fields and infomask bits mean what
 * they mean for heap tuples (see htup_details.h).  Line pointers are only
 * ever appended: an offset, once used, is never reused, because TIDs are
 * never reused within a relfilenode.  VACUUM marks the line pointer of a
 * removed version LP_DEAD (no storage) while index entries may still lead
 * to it, and LP_UNUSED once they are deleted; the offset is never handed
 * out again either way.
 *
 * Hint bits are never set on these pages without WAL: generic WAL has no
 * masking, so an unlogged hint would make wal_consistency_checking fail
 * and would differ between primary and standby.  Hint bits may appear in
 * a header only when written as part of a WAL-logged change.
 * ----------------------------------------------------------------
 */
#define LSM_MAX_TUPLES_PER_PAGE		MaxHeapTuplesPerPage	/* 291 */

/* largest tuple a memtable page accepts (MAXALIGNed) */
#define LSM_MAX_TUPLE_SIZE \
	MAXALIGN_DOWN(LSM_PAGE_CONTENT_SIZE - sizeof(ItemIdData))

/* ----------------------------------------------------------------
 * Free pages
 *
 * A page that has been given back (a freed memtable page, an empty map
 * page) keeps the full transaction id current when it was freed.  It is
 * handed out again only when that xid is older than every snapshot that
 * might still follow a stale pointer to it (GlobalVisCheckRemovableFullXid),
 * the same rule nbtree uses for deleted pages.
 * ----------------------------------------------------------------
 */
typedef struct LsmFreePageData
{
	uint32		magic;			/* LSM_FREE_MAGIC */
	uint32		prev_type;		/* what the page was */
	FullTransactionId freed_xid;	/* next xid when it was freed */
} LsmFreePageData;

#define LSM_FREE_MAGIC			0x4C534D46	/* "LSMF" */

#define LsmPageGetFree(page) \
	((LsmFreePageData *) PageGetContents(page))

/* ----------------------------------------------------------------
 * Runs
 *
 * A run is an immutable, TID-sorted set of entries (versions and
 * tombstones) in pages of its own: LZ4-compressed data pages, a chain of
 * index pages (the first one is the run's root: its header and the first
 * fences) and bloom filter pages.  Every run page carries the run's id in
 * lpo_aux.  See doc/lsm-design.md, "Runs".
 * ----------------------------------------------------------------
 */
#define LSM_RUN_MAGIC			0x4C534D52	/* "LSMR" */

/*
 * the header of a data page, followed by the compressed bytes (nparts 0),
 * or by a table of nparts parts and then their bytes (see below)
 */
typedef struct LsmRunDataHeader
{
	uint32		magic;			/* LSM_RUN_MAGIC */
	uint32		run_id;
	pg_crc32c	crc;			/* of the compressed bytes */
	uint32		raw_len;		/* decompressed length */
	uint32		comp_len;		/* compressed length */
	uint32		nentries;
	BlockNumber first_lblock;	/* TID of the first entry */
	BlockNumber last_lblock;	/* TID of the last entry */
	OffsetNumber first_off;
	OffsetNumber last_off;
	uint16		nparts;			/* 0, or 2 .. LSM_RUN_MAX_PARTS */
	uint16		unused;
} LsmRunDataHeader;

/*
 * Parts.  A point lookup needs one entry of a data page, but LZ4 can only
 * decompress from the start of a block, and entries can only be parsed
 * from the start too (each may lean on its predecessor).  So the entries
 * of a page are compressed as up to LSM_RUN_MAX_PARTS independent LZ4
 * blocks of about equal raw size, each starting with an entry encoded on
 * its own (no LSM_ENTRY_SAME_* flags): a lookup decompresses and parses
 * only the part its TID falls in.  The table of parts follows the header;
 * comp_len (or raw_len, when stored uncompressed) counts the parts' bytes
 * after it, and the checksum covers the table and those bytes.  Pages
 * written before parts existed have nparts 0: one block, no table.
 */
#define LSM_RUN_MAX_PARTS		4

typedef struct LsmRunDataPart
{
	uint32		raw_off;		/* where its entries start in the raw bytes */
	uint16		comp_off;		/* where its bytes start after the table
								 * (compressed pages; 0 otherwise) */
	uint16		first_entry;	/* number of its first entry in the page */
	BlockNumber first_lblock;	/* TID of its first entry */
	OffsetNumber first_off;
	uint16		unused;
} LsmRunDataPart;

#define LSM_RUN_DATA_SPACE \
	((int) (LSM_PAGE_CONTENT_SIZE - MAXALIGN(sizeof(LsmRunDataHeader))))

/* a fence: the first TID of a data page */
typedef struct LsmRunFence
{
	BlockNumber blkno;			/* the data page */
	BlockNumber lblock;			/* its first entry's TID */
	OffsetNumber off;
	uint16		unused;
} LsmRunFence;

/* the header of every index page; the root's carries the run's figures */
typedef struct LsmRunIndexHeader
{
	uint32		magic;			/* LSM_RUN_MAGIC */
	uint32		run_id;
	BlockNumber next;			/* next index page, or Invalid */
	uint32		nfences;		/* fences on this page */
	/* the rest is meaningful on the root only */
	uint32		level;			/* | LSM_RUN_LOADED for a loaded run */
	uint32		ndata;			/* data pages */
	uint32		nindex;			/* index pages */
	uint32		nbloom;			/* bloom pages */
	BlockNumber bloom_first;	/* first bloom page, or Invalid */
	uint32		bloom_nbits;	/* bits in the filter (0: none) */
	uint32		bloom_nhash;	/* hash functions */
	TransactionId oldest_xid;	/* oldest unfrozen xmin, or Invalid */
	uint64		nversions;
	uint64		ntombstones;
	uint64		raw_bytes;		/* entries before compression */
	uint64		comp_bytes;		/* after */
	BlockNumber min_lblock;		/* TID range of the entries */
	BlockNumber max_lblock;
	OffsetNumber min_off;
	OffsetNumber max_off;
	CommandId	load_cid;		/* a loaded run: the loading command */
} LsmRunIndexHeader;

/*
 * A loaded run (lsm_load.c) was written by COPY while its transaction was
 * still running: every version in it was inserted by the run's oldest_xid
 * (in the manifest and the root) with command id load_cid, and is stored
 * in the frozen form (no xmin of its own).  Readers give each version that
 * xmin and command id back (lsm_run_parse_until), so that the ordinary
 * visibility rules apply to it until a merge writes the versions again.
 */
#define LSM_RUN_LOADED			0x80000000

#define LSM_RUN_FENCES_PER_PAGE \
	((int) ((LSM_PAGE_CONTENT_SIZE - MAXALIGN(sizeof(LsmRunIndexHeader))) / \
			sizeof(LsmRunFence)))

#define LsmRunIndexGetFences(page) \
	((LsmRunFence *) (PageGetContents(page) + \
					  MAXALIGN(sizeof(LsmRunIndexHeader))))

/* bloom pages: a header, then bits */
typedef struct LsmRunBloomHeader
{
	uint32		magic;			/* LSM_RUN_MAGIC */
	uint32		run_id;
	uint32		seq;			/* number of this page in the filter */
	uint32		unused;
} LsmRunBloomHeader;

#define LSM_RUN_BLOOM_BYTES \
	((int) (LSM_PAGE_CONTENT_SIZE - MAXALIGN(sizeof(LsmRunBloomHeader))))
#define LSM_RUN_BLOOM_BITS		(LSM_RUN_BLOOM_BYTES * 8)

/*
 * Blocked filters: all the bits of a key lie in one block of 64 bytes (a
 * cache line; blocks never straddle pages, the last 16 bytes of each bloom
 * page are unused), so that building a filter costs one cache miss per key
 * and a lookup reads one bloom page.  The root index page says so with
 * this flag in bloom_nhash; runs written before it have classic filters
 * (the key's bits anywhere in the filter).
 */
#define LSM_RUN_BLOOM_BLOCKED		0x10000
/*
 * The key's two hashes come from one 64-bit mix of its row position
 * (lsm_bloom_hashes) rather than two calls of hash_bytes_uint32_extended,
 * which cost 100 instructions per row of a COPY into a run.  Filters
 * written before 2026-12-06 lack the flag and keep the old hashes.
 */
#define LSM_RUN_BLOOM_MIX64			0x20000
#define LSM_RUN_BLOOM_NHASH_MASK	0xFFFF
#define LSM_RUN_BLOOM_BLOCK_BYTES	64
#define LSM_RUN_BLOOM_BLOCKS_PER_PAGE \
	(LSM_RUN_BLOOM_BYTES / LSM_RUN_BLOOM_BLOCK_BYTES)

/*
 * Entries, as stored (before compression) in a data page, in TID order:
 *
 *	uint8 flags (LSM_ENTRY_xxx)
 *	uint32 lblock, uint16 offset	unless SAME_BLOCK; then
 *	uint8 offset delta			(from the previous entry of the block)
 *	-- for versions only:
 *	[uint32 xmin]				unless FROZEN
 *	[uint16 infomask2, uint16 infomask bits, uint8 hoff]	unless SAME_SHAPE
 *	varint length of the null bitmap + data
 *	null bitmap and data (the tuple after its header, unaligned)
 *
 * A version read back is a heap tuple with xmin committed (or frozen), no
 * xmax, cmin 0 and t_ctid pointing to itself: runs hold only versions that
 * nobody is changing (see lsm_flush.c).
 *
 * An entry flagged TOMBSTONE has no version part.  Alone, it is a
 * tombstone: the version was removed and its index entries are gone; it
 * only hides older runs' copies, and the merge into the oldest run drops
 * it.  With FROZEN as well it is a *dead entry*: the version was removed
 * by a flush while index entries may still lead to it, so it is kept by
 * every merge until VACUUM has deleted those (lsm_vacuum.c); readers take
 * it for a tombstone.  (Runs written before 2026-12-06 have none.)
 */
#define LSM_ENTRY_TOMBSTONE		0x01
#define LSM_ENTRY_SAME_BLOCK	0x02
#define LSM_ENTRY_FROZEN		0x04
#define LSM_ENTRY_SAME_SHAPE	0x08
#define LSM_ENTRY_ALL_FLAGS		0x0F
/* the flags of the usual entry of a compacted run, see lsm_run_parse_entries */
#define LSM_ENTRY_PLAIN \
	(LSM_ENTRY_SAME_BLOCK | LSM_ENTRY_FROZEN | LSM_ENTRY_SAME_SHAPE)

/* the most an entry adds to the tuple's bitmap and data (1+6+4+5+5) */
#define LSM_ENTRY_MAX_OVERHEAD	21

/* infomask bits kept in runs: those describing the tuple's layout */
#define LSM_RUN_INFOMASK_KEEP	(HEAP_HASNULL | HEAP_HASVARWIDTH | HEAP_HASEXTERNAL)

/* ----------------------------------------------------------------
 * Manifest page: the list of runs, newest first.  Switched by one generic
 * WAL record together with the metapage (run_generation).
 * ----------------------------------------------------------------
 */
typedef struct LsmManifestRun
{
	uint32		run_id;
	uint32		level;
	BlockNumber root;			/* the run's first index page */
	uint32		npages;			/* data + index + bloom pages */
	BlockNumber min_lblock;
	BlockNumber max_lblock;
	OffsetNumber min_off;
	OffsetNumber max_off;
	TransactionId oldest_xid;	/* oldest unfrozen xmin, or Invalid */
	uint64		nentries;
	uint64		raw_bytes;
	uint64		comp_bytes;
} LsmManifestRun;

typedef struct LsmManifestData
{
	uint32		magic;			/* LSM_RUN_MAGIC */
	uint32		nruns;
	uint32		next_run_id;	/* ids are never reused in a relfilenode */
	uint32		nretired;		/* retired runs, after the nruns listed ones */
	uint64		generation;		/* bumped by every switch */
	uint64		bytes_flushed;	/* raw bytes written by flushes, ever */
	uint64		bytes_compacted;	/* raw bytes written by compactions */
	/*
	 * runs[0 .. nruns-1] are the runs readers use, newest first.
	 * runs[nruns .. nruns+nretired-1] are retired runs: replaced by a
	 * compaction, no longer read by new views, but their pages are kept
	 * intact for readers holding an older view until no snapshot older than
	 * the retirement can remain.  A retired entry's oldest_xid holds the
	 * next xid at its retirement instead (see lsm_manifest_switch).
	 */
	LsmManifestRun runs[FLEXIBLE_ARRAY_MEMBER];
} LsmManifestData;

typedef LsmManifestData *LsmManifest;

#define LSM_MAX_RUNS \
	((int) ((LSM_PAGE_CONTENT_SIZE - offsetof(LsmManifestData, runs)) / \
			sizeof(LsmManifestRun)))

#define LsmPageGetManifest(page) \
	((LsmManifest) PageGetContents(page))

/* ----------------------------------------------------------------
 * TID <-> row id
 *
 * rowid = lblock * 291 + (offset - 1); TID order equals row id order.
 * ----------------------------------------------------------------
 */
#define LsmTidGetRowid(tid) \
	((uint64) ItemPointerGetBlockNumberNoCheck(tid) * LSM_MAX_TUPLES_PER_PAGE + \
	 (ItemPointerGetOffsetNumberNoCheck(tid) - 1))

static inline void
LsmRowidGetTid(uint64 rowid, ItemPointer tid)
{
	ItemPointerSet(tid, (BlockNumber) (rowid / LSM_MAX_TUPLES_PER_PAGE),
				   (OffsetNumber) (rowid % LSM_MAX_TUPLES_PER_PAGE + 1));
}

#endif							/* LSM_PAGE_H */
