/*-------------------------------------------------------------------------
 *
 * xhash.h
 *	  Private declarations of the xhash index access method: options,
 *	  backend-local caches, scan state and the functions each file of
 *	  src/xhash/ offers the others.
 *
 * The on-disk format is in xh_page.h.  doc/xhash-design.md explains the
 * structure, the locking order and the WAL records.
 *
 *-------------------------------------------------------------------------
 */
#ifndef XHASH_H
#define XHASH_H

#include "access/amapi.h"
#include "access/genam.h"
#include "access/generic_xlog.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "utils/relcache.h"

#include "xhash/xh_page.h"

/* support function numbers */
#define XHASH_EXTENDED_PROC		1	/* (type, int8 seed) -> int8 */
#define XHASH_NPROCS			1

/* strategy numbers */
#define XHASH_EQUAL_STRATEGY	1
#define XHASH_NSTRATEGIES		1

/* fixed hash seed, recorded in the metapage at build */
#define XHASH_DEFAULT_SEED		UINT64CONST(0x9E3779B97F4A7C15)

/* hash of a NULL key column (only indexed under NULLS NOT DISTINCT) */
#define XHASH_NULL_HASH			UINT64CONST(0x6A09E667F3BCC909)

/* fillfactor reloption */
#define XHASH_MIN_FILLFACTOR	10
#define XHASH_DEFAULT_FILLFACTOR 90

/*
 * Heavyweight page locks used as AM-private locks (tags only; these are
 * not real page numbers' buffer locks):
 *	 XH_DIRLOCK_BLKNO	serialises directory writers (splits, doubling,
 *						directory repair);
 *	 XH_VACLOCK_BLKNO	held by ambulkdelete; a split may take a recycled
 *						page only while it can get this lock.
 */
#define XH_DIRLOCK_BLKNO		XH_METAPAGE_BLKNO
#define XH_VACLOCK_BLKNO		((BlockNumber) 0xFFFFFFF0)

/* largest directory kept in backend memory (slots) */
#define XH_CACHE_MAX_SLOTS		(1 << 20)

/* largest directory whose slots also get a recent-buffer hint each */
#define XH_HINT_MAX_SLOTS		(1 << 18)

/*
 * Every XH_HINT_REFRESH-th use of a recent-buffer hint reads the page with
 * ReadBuffer instead (see xh_read_dir_bucket).
 */
#define XH_HINT_REFRESH			8

/* TIDs a scan can gather without allocating */
#define XH_INLINE_TIDS			8

/*
 * A group of entries sharing their top 32 hash bits (one frequent key, or
 * a few) that fills at least XH_SPILL_MIN of a full bucket page goes to an
 * overflow chain of its own instead of being split over and over: every
 * split would leave it whole in one half, the half as full as before.
 * Later entries of the group go to the chain, filling its page, so a
 * quarter of a page suffices; only a key that stops growing right there
 * leaves a chain page that empty.  The build knows the final size of every
 * group and chains only those that fill at least half a page,
 * XH_BUILD_CHAIN_MIN (both: see xh_layout_groups and xh_full_page_action).
 */
#define XH_SPILL_MIN			(XH_PAGE_CAPACITY / 4)
#define XH_BUILD_CHAIN_MIN		(XH_PAGE_CAPACITY / 2)

/*
 * What an insert does when the bucket page is full and has no chain for
 * the entry's hash (xh_full_page_action).
 */
typedef enum XhFullAction
{
	XH_FULL_SPILL,				/* a group moves to its chain first */
	XH_FULL_SPLIT				/* the bucket splits */
} XhFullAction;

/* start loading the cache line at "addr"; only a hint to the CPU */
#if defined(__GNUC__) || defined(__clang__)
#define XH_PREFETCH(addr)		__builtin_prefetch(addr)
#else
#define XH_PREFETCH(addr)		((void) 0)
#endif

/* progress-reporting phases of CREATE INDEX */
#define XHASH_PHASE_SCAN		2
#define XHASH_PHASE_SORT		3
#define XHASH_PHASE_WRITE		4

typedef struct XhOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			fillfactor;
} XhOptions;

/*
 * Backend-local copy of the metapage and, for directories up to
 * XH_CACHE_MAX_SLOTS slots, of the whole directory; lives in rd_amcache.
 * Anything read from it is only a hint: the page it leads to is always
 * checked (see xh_find_bucket).
 *
 * For directories up to XH_HINT_MAX_SLOTS slots (and not for temporary
 * indexes, which use local buffers) each slot also has a recent-buffer hint:
 * the shared buffer that held its bucket page the last time this backend
 * read it, so that the next lookup can pin it with ReadRecentBuffer, without
 * a buffer mapping table lookup.  The hint is stored next to the slot's block
 * number ("dir" holds block, hint, block, hint, ...; slot_shift = 1), so that
 * a lookup reads one cache line of the directory copy, not two; without
 * hints "dir" holds only the block numbers (slot_shift = 0).  Use the
 * accessors below.
 */
typedef struct XhCache
{
	struct XhKeyEq *keyeq;		/* built on first use, kept across refreshes */
	struct XhCrossProcs *cross; /* likewise */
	bool		stale;			/* reread before next use */
	bool		have_slots;		/* "dir" holds the directory */
	uint8		slot_shift;		/* 1: each slot is followed by its hint */
	uint64		seed;
	uint32		global_depth;
	BlockNumber dir_start;
	uint32		dir_npages;
	uint32		hint_uses;		/* hinted reads, for XH_HINT_REFRESH */
	uint32		dir[FLEXIBLE_ARRAY_MEMBER];
} XhCache;

/* the block number the cached directory names for slot "s" (have_slots) */
#define XhCacheSlot(c, s)		((BlockNumber) (c)->dir[(uint32) (s) << (c)->slot_shift])

/* does the cache keep recent-buffer hints? */
#define XhCacheHasHints(c)		((c)->slot_shift != 0)

/* the recent-buffer hint of slot "s" (only if XhCacheHasHints) */
#define XhCacheHint(c, s)		((Buffer) (c)->dir[((uint32) (s) << 1) + 1])
#define XhCacheSetHint(c, s, b)	((c)->dir[((uint32) (s) << 1) + 1] = (uint32) (b))

/* equality functions of the key columns, for unique checks */
typedef struct XhKeyEq
{
	int			natts;
	FmgrInfo	eqfn[INDEX_MAX_KEYS];
	Oid			collation[INDEX_MAX_KEYS];
} XhKeyEq;

/*
 * Hash functions for cross-type scan keys (e.g. an int8 column probed with
 * an int4 value): per key column, the last subtype seen and its support
 * function 1, so that a lookup needs no catalog access.
 */
typedef struct XhCrossProcs
{
	Oid			subtype[INDEX_MAX_KEYS];	/* InvalidOid: none cached */
	FmgrInfo	proc[INDEX_MAX_KEYS];
} XhCrossProcs;

/*
 * A walk along page links (overflow chains, right-links).  Every step is
 * checked with xh_walk_step: a link to the metapage, or more steps than
 * the index has pages (a loop), is reported as corruption.  The relation's
 * size is only looked up once a walk is longer than XH_WALK_CHECK_HOPS.
 */
typedef struct XhWalk
{
	uint32		hops;
	BlockNumber nblocks;		/* 0 until looked up */
} XhWalk;

#define XH_WALK_CHECK_HOPS	1024

/* scans that lose their overflow chain start over this often, then fail */
#define XH_CHAIN_RETRIES	10

/*
 * How many chain pages after the first an insert into a chain with a full
 * first page looks at for room at least, and on how many of them it tries
 * bottom-up deletion (see xh_chain_make_room).
 */
#define XH_CHAIN_ROOM_PAGES		16
#define XH_CHAIN_BOTTOMUP_PAGES	1

/* an entry while building: hash+offset, block, and liveness */
typedef struct XhBuildEntry
{
	uint64		key;
	BlockNumber blkno;
	uint32		alive;
} XhBuildEntry;

/*
 * Scan state.  "tids" points to inline_tids unless the scan gathered more
 * than XH_INLINE_TIDS TIDs, when it is palloc'd.
 */
typedef struct XhScanOpaqueData
{
	bool		collected;		/* have we gathered the TIDs yet? */
	int			ntids;
	int			curtid;
	ItemPointerData *tids;
	ItemPointerData inline_tids[XH_INLINE_TIDS];

	/*
	 * TIDs the executor reported dead to every snapshot (kill_prior_tuple),
	 * to be marked dead on the pages they came from -- the bucket page and
	 * the overflow pages that gave TIDs -- if the bucket page's removal
	 * count is still the one seen when the TIDs were gathered (see
	 * xh_kill_flush).  kill_blkno is InvalidBlockNumber when the scan has
	 * no such page.
	 */
	BlockNumber kill_blkno;
	uint32		kill_removals;
	uint64		kill_hash;
	int			nkillpages;		/* overflow pages that gave TIDs */
	int			maxkillpages;
	BlockNumber *killpages;		/* palloc'd for the first such page */
	int			nkilled;
	ItemPointerData *killed;	/* palloc'd on the first kill, ntids long */
} XhScanOpaqueData;

typedef XhScanOpaqueData *XhScanOpaque;

/* xh_handler.c */
extern Datum xhashhandler(PG_FUNCTION_ARGS);
extern bytea *xhoptions(Datum reloptions, bool validate);
extern bool xhvalidate(Oid opclassoid);
extern char *xhbuildphasename(int64 phasenum);

/* xh_utils.c */
extern void xh_init_page(Page page, uint8 kind, uint8 depth, uint32 prefix);
extern void xh_check_page(Relation rel, Page page, BlockNumber blkno,
						  uint8 kind);
extern void xh_init_chain_page(Page page, XhPageOpaque bucket, uint32 top,
							   BlockNumber next);
extern void xh_check_chain_page(Relation rel, Page page, BlockNumber blkno,
								uint32 top);
extern bool xh_check_chain_step(Relation rel, Page page, BlockNumber blkno,
								uint32 top);
extern void xh_fill_metapage(Page page, uint64 seed, uint32 global_depth,
							 BlockNumber dir_start, uint32 dir_npages,
							 int fillfactor, int natts);
extern XhMetaPage xh_read_meta(Relation rel, Page page);
extern Buffer xh_new_buffer(Relation rel, bool may_reuse);
extern bool xh_page_is_recyclable(Page page);
extern int	xh_get_fillfactor(Relation rel);
extern bool xh_hash_values(Relation rel, uint64 seed, Datum *values,
						   bool *isnull, uint64 *hash);
extern uint64 xh_mix64(uint64 h);
extern uint64 xh_combine(uint64 acc, uint64 h);
extern XhCache *xh_get_cache(Relation rel, bool refresh);
extern BlockNumber xh_dir_lookup(Relation rel, uint64 hash, bool refresh);
extern Buffer xh_find_bucket(Relation rel, uint64 hash, int mode,
							 bool *dir_stale);
extern bool xh_bucket_covers(Page page, uint64 hash);
extern bool xh_is_dir_page(Page page, uint32 depth, uint32 pageno);
extern void xh_walk_step(Relation rel, XhWalk *walk, BlockNumber from,
						 BlockNumber to);
extern bool xh_ranges_overlap(uint8 depth1, uint32 prefix1,
							  uint8 depth2, uint32 prefix2);
extern void xh_sort_entries(XhEntry *entries, int n);
extern int	xh_page_find_first(Page page, uint64 hash);
extern int	xh_page_find_chain(Page page, uint32 top);
extern BlockNumber xh_check_chain_head(Relation rel, BlockNumber blkno,
									   BlockNumber head);
extern BlockNumber xh_chain_head(Relation rel, Page page, BlockNumber blkno,
								 int c);
extern int	xh_page_chains(Page page, XhEntry *chains);
extern void xh_make_entry(XhEntry *e, uint64 hash, ItemPointer tid);
extern void xh_entry_tid(const XhEntry *e, ItemPointer tid);
extern int	xh_page_count_dead(Page page);
extern int	xh_page_remove_entries(Page page, const bool *gone);
extern int	xh_tid_cmp(const void *a, const void *b);
extern int	xh_mark_tids(Relation rel, Buffer buf, uint64 hash, ItemPointer tids,
						 int ntids);
extern XhKeyEq *xh_get_keyeq(Relation rel);
extern FmgrInfo *xh_get_cross_proc(Relation rel, int att, Oid subtype);
extern bool xh_keys_equal(Relation rel, Datum *v1, bool *n1,
						  Datum *v2, bool *n2);
extern bool xh_fetch_keys(Relation heapRel, Relation indexRel,
						  IndexInfo *indexInfo, ItemPointer tid,
						  Snapshot snapshot, Datum *values, bool *isnull,
						  bool *all_dead);

/* xh_build.c */
extern IndexBuildResult *xhbuild(Relation heap, Relation index,
								 IndexInfo *indexInfo);
extern void xhbuildempty(Relation index);

/* xh_insert.c */
extern bool xhinsert(Relation index, Datum *values, bool *isnull,
					 ItemPointer ht_ctid, Relation heapRel,
					 IndexUniqueCheck checkUnique, bool indexUnchanged,
					 IndexInfo *indexInfo);
extern void xh_report_duplicate(Relation index, Relation heapRel,
								Datum *values, bool *isnull);

/* xh_search.c */
extern IndexScanDesc xhbeginscan(Relation r, int nkeys, int norderbys);
extern void xhrescan(IndexScanDesc scan, ScanKey scankey, int nscankeys,
					 ScanKey orderbys, int norderbys);
extern bool xhgettuple(IndexScanDesc scan, ScanDirection dir);
extern int64 xhgetbitmap(IndexScanDesc scan, TIDBitmap *tbm);
extern void xhendscan(IndexScanDesc scan);

/* xh_split.c */
extern XhFullAction xh_full_page_action(Page page, uint32 *top);
extern void xh_split(Relation rel, uint64 hash);
extern void xh_repair_directory(Relation rel, uint64 hash);

/* xh_vacuum.c */
extern IndexBulkDeleteResult *xhbulkdelete(IndexVacuumInfo *info,
										   IndexBulkDeleteResult *stats,
										   IndexBulkDeleteCallback callback,
										   void *callback_state);
extern IndexBulkDeleteResult *xhvacuumcleanup(IndexVacuumInfo *info,
											  IndexBulkDeleteResult *stats);

/* xh_cost.c */
extern void xhcostestimate(struct PlannerInfo *root, struct IndexPath *path,
						   double loop_count, Cost *indexStartupCost,
						   Cost *indexTotalCost, Selectivity *indexSelectivity,
						   double *indexCorrelation, double *indexPages);

#endif							/* XHASH_H */
