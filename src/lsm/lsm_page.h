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
 * pages, memtable pages and free pages; the run, fence, bloom and manifest
 * page types of compressed runs are reserved here so that adding runs does
 * not change the type numbering.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LSM_PAGE_H
#define LSM_PAGE_H

#include "access/htup_details.h"
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
 *	 MEM		the logical block this memtable page holds
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
/* reserved for compressed runs (doc/lsm-design.md, "Runs") */
#define LSM_PAGE_MANIFEST		6
#define LSM_PAGE_RUN_DATA		7
#define LSM_PAGE_RUN_INDEX		8
#define LSM_PAGE_RUN_BLOOM		9
#define LSM_PAGE_STAMP			10
#define LSM_PAGE_MAX_TYPE		10

/* lpo_flags of memtable pages */
#define LSM_MEM_SEALED			0x01	/* takes no more insertions */

#define LsmPageGetOpaque(page) \
	((LsmPageOpaque) PageGetSpecialPointer(page))

#define LSM_SPECIAL_SIZE		MAXALIGN(sizeof(LsmPageOpaqueData))

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
 * offsets.  The map translates a logical block to the physical block of its
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
	uint32		reserved[7];	/* zero; room for format additions */

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
