/*-------------------------------------------------------------------------
 *
 * lsm_meta.c
 *	  Metapage, logical-block map and page allocation of lsm tables.
 *
 * An lsm relation starts empty (zero blocks, like a heap).  The metapage is
 * created by the first writer.  Every memtable page is assigned the next
 * logical block number from the metapage and entered in the map, so that a
 * TID's block number can be translated to the physical page holding it.
 * The map is an array in the metapage for the first LSM_META_DIRECT logical
 * blocks and a radix tree of map pages (meta.mapdir[] -> MAPDIR page -> MAP
 * page) for the rest; see lsm_page.h.
 *
 * Locking order: metapage, then MAPDIR page, then MAP page, then the
 * memtable page.  Allocation holds the metapage exclusively throughout, so
 * allocations are serialized; readers take one page lock at a time and
 * verify each page they reach (type and covered range), so a reader that
 * follows a pointer that has gone stale sees a mismatch, never wrong data.
 * Nobody takes the metapage lock while holding a memtable page lock.
 *
 * WAL: each step below is one generic WAL record of at most three pages
 * that leaves the map valid on its own:
 *	 1. new MAPDIR page: {metapage, new page (full image)}
 *	 2. new MAP page: {MAPDIR page, new page (full image)}
 *	 3. new memtable page: {metapage, MAP page, new page (full image)}, or
 *		{metapage, new page} for a logical block of the direct map
 * A crash between steps leaves an empty map page, which is valid and is
 * used by the next allocation.  Pages obtained by extending the relation
 * but never initialized (a crash before the record) are all-zero; they are
 * referenced by nothing and are reused.
 *
 * Freed pages carry the next full xid at the time they were freed and are
 * handed out again only when no snapshot of that time can remain
 * (GlobalVisCheckRemovableFullXid), as nbtree does with deleted pages.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "common/lsm_common.h"
#include "lsm/lsm_internal.h"

/*
 * Backend-local cache of map-page locations, kept in rd_amcache (freed by
 * every relcache flush).  Entries are hints: each page reached through the
 * cache is verified before use.
 */
#define LSM_LEAF_CACHE_SIZE 64

/*
 * Also kept there: which logical blocks have a sealed memtable page that
 * pruning left without any version (LSM_MEM_NO_VERSIONS | LSM_MEM_SEALED,
 * never an overlay page).  Such a block never holds a version again: the
 * page takes no insertions, the block has nothing in the runs, and TIDs
 * are not reused (the one exception, row ids starting over after VACUUM
 * truncates an empty table, sends a relcache invalidation, which empties
 * this cache).  So scans skip these blocks without reading their pages: a
 * small table updated all the time (pgbench's branches) leaves a trail of
 * such pages until VACUUM, and reading each at every scan cost more than
 * the rest of the scan.  Only the first blocks are covered, in one fixed
 * array inside the cache (rd_amcache is freed as one chunk).
 */
#define LSM_EMPTY_CACHE_BLOCKS 8192

#define LSM_SHARED_HINTS 16

/* sealed pages pruning left without versions, to free (lsm_note_dead_page) */
#define LSM_DEAD_PENDING 8

typedef struct LsmRelCache
{
	RelFileNode node;			/* storage the entries belong to */
	uint32		leafno[LSM_LEAF_CACHE_SIZE];	/* lblock / LSM_MAP_ENTRIES */
	BlockNumber leafblk[LSM_LEAF_CACHE_SIZE];	/* its MAP page */
	bool		flush_wanted;	/* this backend should flush inline */
	uint32		flush_next_at;	/* memtable pages at which to try again */
	uint32		overlay_next_at;	/* overlay pages at which to try again */
	/* logical blocks below LSM_EMPTY_CACHE_BLOCKS known to hold no version */
	uint8		empty[LSM_EMPTY_CACHE_BLOCKS / 8];
	/* shared overlay pages this backend fills, by map range (soft hints) */
	BlockNumber shared_first[LSM_SHARED_HINTS]; /* first lblock of range */
	BlockNumber shared_blk[LSM_SHARED_HINTS];	/* the page */
	/* the last overlay page of a block's own this backend made (a hint) */
	BlockNumber own_lblock;		/* its logical block */
	BlockNumber own_blk;		/* the page */
	LocalTransactionId own_lxid;	/* made in this transaction */
	CommandId	own_cid;		/* and command */
	/* a shared overlay page a move of ours emptied, to free (a hint) */
	BlockNumber emptied_blk;	/* the page */
	BlockNumber emptied_first;	/* the first logical block of its range */
	BlockNumber emptied_by;		/* the block whose move emptied it */
	/* pages to free as dead blocks (hints, verified when freed) */
	int			ndead_pending;
	BlockNumber dead_lblock[LSM_DEAD_PENDING];
	BlockNumber dead_blk[LSM_DEAD_PENDING];
} LsmRelCache;

static LsmRelCache *
lsm_get_cache(Relation rel)
{
	LsmRelCache *cache = (LsmRelCache *) rel->rd_amcache;

	if (cache == NULL ||
		!RelFileNodeEquals(cache->node, rel->rd_node))
	{
		if (cache == NULL)
			cache = MemoryContextAlloc(CacheMemoryContext,
									   sizeof(LsmRelCache));
		cache->node = rel->rd_node;
		for (int i = 0; i < LSM_LEAF_CACHE_SIZE; i++)
		{
			cache->leafno[i] = PG_UINT32_MAX;
			cache->leafblk[i] = InvalidBlockNumber;
		}
		cache->flush_wanted = false;
		cache->flush_next_at = 0;
		cache->overlay_next_at = 0;
		memset(cache->empty, 0, sizeof(cache->empty));
		for (int i = 0; i < LSM_SHARED_HINTS; i++)
		{
			cache->shared_first[i] = InvalidBlockNumber;
			cache->shared_blk[i] = InvalidBlockNumber;
		}
		cache->own_lblock = InvalidBlockNumber;
		cache->own_blk = InvalidBlockNumber;
		cache->own_lxid = InvalidLocalTransactionId;
		cache->own_cid = InvalidCommandId;
		cache->emptied_blk = InvalidBlockNumber;
		cache->ndead_pending = 0;
		rel->rd_amcache = cache;
	}
	return cache;
}

/*
 * lsm_block_known_empty -- does this backend know that logical block
 * lblock holds no version and never will (see LSM_EMPTY_CACHE_BLOCKS)?
 */
bool
lsm_block_known_empty(Relation rel, BlockNumber lblock)
{
	LsmRelCache *cache = (LsmRelCache *) rel->rd_amcache;

	if (cache == NULL || lblock >= LSM_EMPTY_CACHE_BLOCKS ||
		!RelFileNodeEquals(cache->node, rel->rd_node))
		return false;
	return (cache->empty[lblock / 8] & (1 << (lblock % 8))) != 0;
}

/*
 * lsm_note_empty_block -- remember that lblock's page blkno is sealed and
 * holds no version (the caller saw LSM_MEM_NO_VERSIONS | LSM_MEM_SEALED on
 * an ordinary memtable page, and has let go of its lock).  The first time,
 * the page is also to be freed, in case its pruner did not get to it
 * (lsm_note_dead_page).
 */
void
lsm_note_empty_block(Relation rel, BlockNumber lblock, BlockNumber blkno)
{
	LsmRelCache *cache;
	uint8		bit = (uint8) (1 << (lblock % 8));

	if (lblock >= LSM_EMPTY_CACHE_BLOCKS)
		return;
	cache = lsm_get_cache(rel);
	if (cache->empty[lblock / 8] & bit)
		return;
	cache->empty[lblock / 8] |= bit;
	lsm_note_dead_page(rel, lblock, blkno);
}

/*
 * lsm_physical_nblocks -- number of physical blocks of the main fork.
 *
 * Not RelationGetNumberOfBlocks(): for a table that asks the table AM's
 * relation_size callback, which reports the logical size (see
 * lsm_relation_size).
 */
BlockNumber
lsm_physical_nblocks(Relation rel)
{
	return smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM);
}

/*
 * lsm_block_in_relation -- is blkno below the end of the main fork?
 *
 * Asked before every metapage and run page read, so the smgr's cached size
 * is tried first (one lseek less per call).  It may be too small (another
 * backend extended the relation: then we ask the kernel) but never too
 * large: the relation only shrinks under an AccessExclusiveLock (VACUUM's
 * and lsm_shrink's truncations, TRUNCATE in the creating transaction), and
 * smgrtruncate updates our cache and invalidates every other backend's
 * (on a standby as well, before any reader can lock the relation again).
 */
bool
lsm_block_in_relation(Relation rel, BlockNumber blkno)
{
	SMgrRelation smgr = RelationGetSmgr(rel);
	BlockNumber cached = smgr->smgr_cached_nblocks[MAIN_FORKNUM];

	if (cached != InvalidBlockNumber && blkno < cached)
		return true;
	return blkno < smgrnblocks(smgr, MAIN_FORKNUM);
}

/*
 * lsm_forget_map_pages -- forget the cached locations of MAP pages (a page
 * reached through the map turned out stale), but not the rest of the
 * backend's state for the relation (flush triggers, pages to free, blocks
 * known empty, overlay page hints).  Until 2026-12-06 this dropped all of
 * it: a bulk UPDATE or DELETE, whose overlay copies often meet stale
 * entries, then tried to flush at every row.
 */
void
lsm_forget_map_pages(Relation rel)
{
	LsmRelCache *cache = (LsmRelCache *) rel->rd_amcache;

	if (cache == NULL)
		return;
	for (int i = 0; i < LSM_LEAF_CACHE_SIZE; i++)
	{
		cache->leafno[i] = PG_UINT32_MAX;
		cache->leafblk[i] = InvalidBlockNumber;
	}
}

/*
 * lsm_invalidate_cache -- forget everything cached about the relation
 * (after truncation: row ids start over).
 */
void
lsm_invalidate_cache(Relation rel)
{
	if (rel->rd_amcache)
		pfree(rel->rd_amcache);
	rel->rd_amcache = NULL;
}

/*
 * lsm_page_type_name -- printable name of a page type, for messages.
 */
const char *
lsm_page_type_name(uint8 type)
{
	switch (type)
	{
		case LSM_PAGE_META:
			return "meta";
		case LSM_PAGE_MAPDIR:
			return "map directory";
		case LSM_PAGE_MAP:
			return "map";
		case LSM_PAGE_MEM:
			return "memtable";
		case LSM_PAGE_FREE:
			return "free";
		case LSM_PAGE_MANIFEST:
			return "manifest";
		case LSM_PAGE_RUN_DATA:
			return "run data";
		case LSM_PAGE_RUN_INDEX:
			return "run index";
		case LSM_PAGE_RUN_BLOOM:
			return "run bloom";
		case LSM_PAGE_STAMP:
			return "stamp";
	}
	return "unknown";
}

/*
 * lsm_init_page -- format an empty page of the given type.
 */
void
lsm_init_page(Page page, uint8 type, uint32 aux)
{
	LsmPageOpaque opaque;

	PageInit(page, BLCKSZ, LSM_SPECIAL_SIZE);
	opaque = LsmPageGetOpaque(page);
	opaque->lpo_aux = aux;
	opaque->lpo_type = type;
	opaque->lpo_flags = 0;
	opaque->lpo_page_id = LSM_PAGE_ID;
}

/*
 * lsm_init_metapage -- format block 0 of a new lsm relation.
 */
void
lsm_init_metapage(Page page)
{
	LsmMetaPage meta;

	lsm_init_page(page, LSM_PAGE_META, 0);
	meta = LsmPageGetMeta(page);
	memset(meta, 0, LSM_META_SIZE);
	meta->magic = LSM_META_MAGIC;
	meta->version = LSM_META_VERSION;
	meta->next_lblock = 0;
	meta->insert_page = InvalidBlockNumber;
	meta->mem_pages = 0;
	meta->mem_base_lblock = 0;
	meta->manifest = InvalidBlockNumber;
	meta->nmapdir = 0;
	for (int i = 0; i < LSM_META_DIRECT; i++)
		meta->direct[i] = InvalidBlockNumber;
	for (int i = 0; i < LSM_META_MAPDIR_SLOTS; i++)
		meta->mapdir[i] = InvalidBlockNumber;
	StaticAssertStmt(LSM_META_SIZE <= LSM_PAGE_CONTENT_SIZE,
					 "lsm metapage contents do not fit on a page");
	((PageHeader) page)->pd_lower = (char *) meta + LSM_META_SIZE - (char *) page;
}

/* Format an empty MAPDIR or MAP page: every entry Invalid. */
static void
lsm_init_map_page(Page page, uint8 type, uint32 aux)
{
	BlockNumber *arr;

	lsm_init_page(page, type, aux);
	arr = LsmPageGetMapArray(page);
	memset(arr, 0xFF, LSM_MAP_ENTRIES * sizeof(BlockNumber));
	StaticAssertStmt(InvalidBlockNumber == 0xFFFFFFFF,
					 "map pages assume InvalidBlockNumber is all ones");
	((PageHeader) page)->pd_lower =
		(char *) (arr + LSM_MAP_ENTRIES) - (char *) page;
}

/*
 * lsm_init_free_page -- format a page as FREE: it held a page of type
 * prev_type and may be reused once no snapshot of now remains (freed_xid,
 * see lsm_alloc_page).
 */
void
lsm_init_free_page(Page page, uint8 prev_type)
{
	LsmFreePageData *fp;

	lsm_init_page(page, LSM_PAGE_FREE, 0);
	fp = LsmPageGetFree(page);
	fp->magic = LSM_FREE_MAGIC;
	fp->prev_type = prev_type;
	fp->freed_xid = ReadNextFullTransactionId();
	((PageHeader) page)->pd_lower += sizeof(LsmFreePageData);
}

/*
 * lsm_verify_page -- check that a page is an lsm page of the given type.
 *
 * Called with at least a share lock on buf.  Any mismatch is reported as
 * corruption of the relation at that block.
 */
void
lsm_verify_page(Relation rel, Buffer buf, uint8 type)
{
	Page		page = BufferGetPage(buf);
	PageHeader	phdr = (PageHeader) page;
	LsmPageOpaque opaque;

	if (PageIsNew(page))
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Expected a %s page, found an uninitialized page.",
					 lsm_page_type_name(type)));
	if (phdr->pd_special != BLCKSZ - LSM_SPECIAL_SIZE)
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Special space at %u, expected %u.",
					 (unsigned) phdr->pd_special,
					 (unsigned) (BLCKSZ - LSM_SPECIAL_SIZE)));
	opaque = LsmPageGetOpaque(page);
	if (opaque->lpo_page_id != LSM_PAGE_ID)
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Page id 0x%04X, expected 0x%04X.",
					 (unsigned) opaque->lpo_page_id, (unsigned) LSM_PAGE_ID));
	if (opaque->lpo_type != type)
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Page type \"%s\" (%u), expected \"%s\".",
					 lsm_page_type_name(opaque->lpo_type),
					 (unsigned) opaque->lpo_type,
					 lsm_page_type_name(type)));
	if (phdr->pd_lower < SizeOfPageHeaderData || phdr->pd_lower > phdr->pd_upper ||
		phdr->pd_upper > phdr->pd_special)
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Bad page bounds: lower %u, upper %u, special %u.",
					 (unsigned) phdr->pd_lower, (unsigned) phdr->pd_upper,
					 (unsigned) phdr->pd_special));

	if (type == LSM_PAGE_META)
	{
		LsmMetaPage meta = LsmPageGetMeta(page);

		if (meta->magic != LSM_META_MAGIC)
			LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
						("Metapage magic 0x%08X, expected 0x%08X.",
						 meta->magic, LSM_META_MAGIC));
		if (meta->version != LSM_META_VERSION)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("lsm table \"%s\" has on-disk format version %u, but this library supports version %u",
							RelationGetRelationName(rel), meta->version,
							LSM_META_VERSION),
					 errhint("Rewrite the table with VACUUM FULL using a matching version of the extension.")));
		if (phdr->pd_lower < (char *) meta + LSM_META_SIZE - (char *) page ||
			meta->nmapdir > LSM_META_MAPDIR_SLOTS)
			LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
						("Metapage too short or map directory count %u out of range.",
						 meta->nmapdir));
	}
	else if (type == LSM_PAGE_MAP || type == LSM_PAGE_MAPDIR)
	{
		if (phdr->pd_lower != SizeOfPageHeaderData +
			LSM_MAP_ENTRIES * sizeof(BlockNumber))
			LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
						("Map page lower bound %u, expected %u.",
						 (unsigned) phdr->pd_lower,
						 (unsigned) (SizeOfPageHeaderData +
									 LSM_MAP_ENTRIES * sizeof(BlockNumber))));
	}
}

/*
 * lsm_verify_mem_page -- check that buf is the memtable page of lblock.
 *
 * A mismatch is corruption only when the caller reached the page through
 * an up-to-date map entry; see lsm_read_mem_page for stale entries.
 */
void
lsm_verify_mem_page(Relation rel, Buffer buf, BlockNumber lblock)
{
	Page		page = BufferGetPage(buf);
	uint8		flags;

	lsm_verify_page(rel, buf, LSM_PAGE_MEM);
	if (LsmPageIsShared(page))
	{
		BlockNumber first = LsmPageGetOpaque(page)->lpo_aux;

		if ((LsmPageGetOpaque(page)->lpo_flags & (LSM_MEM_OVERLAY | LSM_MEM_SEALED)) !=
			(LSM_MEM_OVERLAY | LSM_MEM_SEALED) ||
			lsm_map_range_first(first) != first ||
			lsm_map_range_first(lblock) != first)
			LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
						("Shared overlay page for logical blocks from %u (flags %u) does not cover logical block %u.",
						 first, (unsigned) LsmPageGetOpaque(page)->lpo_flags,
						 lblock));
	}
	else if (LsmPageGetOpaque(page)->lpo_aux != lblock)
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Memtable page holds logical block %u, expected %u.",
					 LsmPageGetOpaque(page)->lpo_aux, lblock));
	if (PageGetMaxOffsetNumber(page) > LSM_MAX_TUPLES_PER_PAGE)
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Memtable page has %u line pointers, at most %d allowed.",
					 (unsigned) PageGetMaxOffsetNumber(page),
					 LSM_MAX_TUPLES_PER_PAGE));

	/*
	 * A flush writes no version of a page made for copies (lsm_page_to_run):
	 * the flag must not appear on a page that could hold anything else.
	 */
	flags = LsmPageGetOpaque(page)->lpo_flags;
	if ((flags & ~LSM_MEM_FLAGS) != 0 ||
		((flags & LSM_MEM_COPIES) &&
		 (flags & (LSM_MEM_OVERLAY | LSM_MEM_SEALED)) !=
		 (LSM_MEM_OVERLAY | LSM_MEM_SEALED)))
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Memtable page has invalid flags %u.", (unsigned) flags));
}

/*
 * lsm_ensure_metapage -- create block 0 if the relation has no blocks yet.
 *
 * The relation extension lock makes concurrent first writers agree on who
 * creates it.
 */
void
lsm_ensure_metapage(Relation rel)
{
	Buffer		buf;
	GenericXLogState *state;
	Page		page;

	if (lsm_physical_nblocks(rel) > 0)
		return;

	LockRelationForExtension(rel, ExclusiveLock);
	if (lsm_physical_nblocks(rel) == 0)
	{
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
		if (BufferGetBlockNumber(buf) != LSM_METAPAGE_BLKNO)
			elog(ERROR, "lsm metapage of \"%s\" created at block %u",
				 RelationGetRelationName(rel), BufferGetBlockNumber(buf));
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(rel);
		page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
		lsm_init_metapage(page);
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
	}
	UnlockRelationForExtension(rel, ExclusiveLock);
}

/*
 * lsm_read_metapage -- pin and lock the metapage, verified.
 *
 * Returns InvalidBuffer if the relation has no blocks (an empty table), or
 * if a crash left block 0 all zeroes and the caller only reads.
 */
Buffer
lsm_read_metapage(Relation rel, int lockmode)
{
	Buffer		buf;

	if (!lsm_block_in_relation(rel, LSM_METAPAGE_BLKNO))
		return InvalidBuffer;
	buf = ReadBuffer(rel, LSM_METAPAGE_BLKNO);
	LockBuffer(buf, lockmode);
	if (PageIsNew(BufferGetPage(buf)))
	{
		/*
		 * All zeroes: the relation was extended for the metapage, but the
		 * record initializing it never reached disk before a crash.  Every
		 * later record was lost too (WAL is written in order), so nothing
		 * can be mapped: the relation is empty.  A writer initializes the
		 * page now; a reader (or a standby) sees an empty relation.
		 */
		if (lockmode != BUFFER_LOCK_EXCLUSIVE || RecoveryInProgress())
		{
			UnlockReleaseBuffer(buf);
			return InvalidBuffer;
		}
		else
		{
			GenericXLogState *state = GenericXLogStart(rel);

			lsm_init_metapage(GenericXLogRegisterBuffer(state, buf,
														GENERIC_XLOG_FULL_IMAGE));
			GenericXLogFinish(state);
		}
	}
	lsm_verify_page(rel, buf, LSM_PAGE_META);
	return buf;
}

/*
 * lsm_get_nlblocks -- number of logical blocks ever assigned.
 *
 * Every TID of the relation has a block number below this.  Scans read it
 * once at start: logical blocks assigned later hold only versions created
 * after the scan's snapshot.
 */
BlockNumber
lsm_get_nlblocks(Relation rel)
{
	return lsm_get_scan_range(rel, NULL);
}

/*
 * lsm_get_scan_range -- as lsm_get_nlblocks, and the first logical block
 * that may hold a version (meta->empty_below) in *empty_below.
 *
 * Blocks below it need no look from any snapshot: VACUUM raises the mark
 * only over blocks that hold no version at all (lsm_advance_empty_below),
 * so none that a snapshot may see, whenever it was taken; a run listed or
 * a page mapped below the mark lowers it in the same WAL record.
 */
BlockNumber
lsm_get_scan_range(Relation rel, BlockNumber *empty_below)
{
	Buffer		buf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
	LsmMetaPage meta;
	BlockNumber result;

	if (empty_below)
		*empty_below = 0;
	if (!BufferIsValid(buf))
		return 0;
	meta = LsmPageGetMeta(BufferGetPage(buf));
	result = meta->next_lblock;
	if (empty_below)
		*empty_below = lsm_meta_empty_below(rel, meta);
	UnlockReleaseBuffer(buf);
	return result;
}

/*
 * lsm_meta_empty_below -- meta->empty_below, verified: it is never beyond
 * next_lblock (a scan starting there would pass over every row).
 */
BlockNumber
lsm_meta_empty_below(Relation rel, LsmMetaPage meta)
{
	if (meta->empty_below > meta->next_lblock)
		LSM_CORRUPT(rel, LSM_METAPAGE_BLKNO,
					("empty_below %u is beyond the %u logical blocks assigned.",
					 meta->empty_below, meta->next_lblock));
	return meta->empty_below;
}

/*
 * lsm_advance_empty_below -- raise meta->empty_below over the logical
 * blocks from it on that hold no version: no memtable page and no dead
 * block in the map, below every listed run's first block and below
 * next_lblock.  Called by VACUUM, which holds the maintenance lock.
 *
 * Why nothing can appear below the new mark once it is set: a new
 * memtable page takes the next logical block, at or beyond next_lblock as
 * read here; an overlay page is made only for a block with versions in a
 * run; flushes, merges and loads list runs only under the maintenance
 * lock, after this returns, and lsm_manifest_switch lowers the mark for a
 * run that starts below it.  That last case is real: a COPY straight into
 * a run reserves its logical blocks first and lists its run only at the
 * end, so its blocks may lie below the mark meanwhile.  Blocks a scan
 * skips must hold nothing that any snapshot could see.
 */
void
lsm_advance_empty_below(Relation rel)
{
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;
	BlockNumber *entries;
	BlockNumber from;
	BlockNumber limit;
	BlockNumber lblock;
	Buffer		metabuf;
	GenericXLogState *state;

	limit = lsm_get_scan_range(rel, &from);
	if (from >= limit)
		return;
	if (lsm_manifest_read(rel, m))
		for (uint32 r = 0; r < m->nruns; r++)
			limit = Min(limit, m->runs[r].min_lblock);

	/* the map from the mark on, one unit at a time, up to the limit */
	entries = palloc(sizeof(BlockNumber) * Max(LSM_META_DIRECT, LSM_MAP_ENTRIES));
	lblock = from;
	while (lblock < limit)
	{
		BlockNumber first;
		BlockNumber span = LsmMapUnitSpan(lblock);
		int			n = lsm_map_read_unit_raw(rel, lblock, entries, &first);

		CHECK_FOR_INTERRUPTS();
		for (; lblock < limit && lblock - first < (BlockNumber) n; lblock++)
			if (entries[lblock - first] != InvalidBlockNumber)
				limit = lblock;		/* a page or a dead block: stop here */
		/* the rest of the unit has no map page (the last unit ends at 2^32) */
		if (lblock < limit)
		{
			if ((uint64) first + span >= limit)
				break;
			lblock = first + span;
		}
	}
	pfree(entries);
	if (limit <= from)
		return;

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(metabuf))
		return;
	/* only VACUUM raises the mark, under the maintenance lock */
	if (LsmPageGetMeta(BufferGetPage(metabuf))->empty_below < limit)
	{
		state = GenericXLogStart(rel);
		LsmPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0))->empty_below =
			limit;
		GenericXLogFinish(state);
	}
	UnlockReleaseBuffer(metabuf);
}

/* What a map lookup that locks the page it finds (lsm_map_lookup_lock) wants */
typedef struct LsmMapGrab
{
	BlockNumber lblock;			/* the logical block looked up */
	BufferAccessStrategy strategy;
	int			lockmode;
	Buffer		buf;			/* out: the page, pinned and locked */
} LsmMapGrab;

/* The page a map entry leads to: none for a dead block (LsmMapEntryIsDead). */
static inline BlockNumber
lsm_map_entry_page(BlockNumber entry)
{
	return LsmMapEntryIsDead(entry) ? InvalidBlockNumber : entry;
}

/*
 * With grab: pin and lock the memtable page that map entry "entry", read
 * from the locked page mapbuf, leads to, before mapbuf is let go.
 */
static void
lsm_map_grab_page(Relation rel, Buffer mapbuf, BlockNumber entry,
				  LsmMapGrab *grab)
{
	BlockNumber blkno = lsm_map_entry_page(entry);

	grab->buf = InvalidBuffer;
	if (blkno == InvalidBlockNumber)
		return;
	/* locking either again would hang: damage, not a memtable page */
	if (blkno == LSM_METAPAGE_BLKNO || blkno == BufferGetBlockNumber(mapbuf))
		LSM_CORRUPT(rel, BufferGetBlockNumber(mapbuf),
					("Map entry of logical block %u leads to block %u.",
					 grab->lblock, blkno));
	grab->buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL,
								   grab->strategy);
	LockBuffer(grab->buf, grab->lockmode);
}

/*
 * Read one entry of a MAPDIR or MAP page, verifying the page first; with
 * grab, also lock the page it leads to (lsm_map_grab_page).
 */
static BlockNumber
lsm_read_map_entry(Relation rel, BlockNumber blkno, uint8 type,
				   uint32 expect_aux, int index, LsmMapGrab *grab)
{
	Buffer		buf;
	Page		page;
	BlockNumber result;

	buf = ReadBuffer(rel, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	lsm_verify_page(rel, buf, type);
	if (LsmPageGetOpaque(page)->lpo_aux != expect_aux)
	{
		UnlockReleaseBuffer(buf);
		return InvalidBlockNumber - 1;	/* signals a stale pointer */
	}
	result = LsmPageGetMapArray(page)[index];
	if (grab != NULL)
		lsm_map_grab_page(rel, buf, result, grab);
	UnlockReleaseBuffer(buf);
	return result;
}

/*
 * Position of a logical block in the map: in the metapage's direct array,
 * or in MAP page number leafno (entry index), which MAPDIR page dirslot
 * (entry leafidx) points to.
 */
typedef struct LsmMapPos
{
	bool		direct;
	uint32		index;			/* in meta->direct[] or the MAP page */
	uint32		leafno;			/* radix: which MAP page */
	uint32		dirslot;		/* radix: which MAPDIR page */
	uint32		leafidx;		/* radix: entry in the MAPDIR page */
} LsmMapPos;

static void
lsm_map_pos(BlockNumber lblock, LsmMapPos *pos)
{
	memset(pos, 0, sizeof(*pos));
	if (lblock < LSM_META_DIRECT)
	{
		pos->direct = true;
		pos->index = lblock;
		return;
	}
	lblock -= LSM_META_DIRECT;
	pos->leafno = lblock / LSM_MAP_ENTRIES;
	pos->index = lblock % LSM_MAP_ENTRIES;
	pos->dirslot = pos->leafno / LSM_MAP_ENTRIES;
	pos->leafidx = pos->leafno % LSM_MAP_ENTRIES;
}

/* The first logical block covered by MAP page number leafno. */
static inline BlockNumber
lsm_leaf_first_lblock(uint32 leafno)
{
	return LSM_META_DIRECT + leafno * LSM_MAP_ENTRIES;
}

/*
 * lsm_map_range_first -- the first logical block of the map range of
 * lblock: the metapage's direct entries, or one MAP page.  A shared overlay
 * page serves logical blocks of one map range.
 */
BlockNumber
lsm_map_range_first(BlockNumber lblock)
{
	if (lblock < LSM_META_DIRECT)
		return 0;
	return lblock - (lblock - LSM_META_DIRECT) % LSM_MAP_ENTRIES;
}


/*
 * Find MAP page number leafno by walking down from the metapage.  Returns
 * InvalidBlockNumber if it does not exist.
 */
static BlockNumber
lsm_find_leaf(Relation rel, LsmMapPos *pos)
{
	Buffer		metabuf;
	BlockNumber dirblk = InvalidBlockNumber;
	BlockNumber leafblk;

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
	if (!BufferIsValid(metabuf))
		return InvalidBlockNumber;
	{
		LsmMetaPage meta = LsmPageGetMeta(BufferGetPage(metabuf));

		if (pos->dirslot < meta->nmapdir)
			dirblk = meta->mapdir[pos->dirslot];
	}
	UnlockReleaseBuffer(metabuf);
	if (dirblk == InvalidBlockNumber)
		return InvalidBlockNumber;

	leafblk = lsm_read_map_entry(rel, dirblk, LSM_PAGE_MAPDIR, pos->dirslot,
								 pos->leafidx, NULL);
	if (leafblk == InvalidBlockNumber - 1)
		LSM_CORRUPT(rel, dirblk,
					("Map directory page does not cover directory slot %u.",
					 pos->dirslot));
	return leafblk;
}

/*
 * lsm_map_lookup_ext -- physical block of the memtable page of a logical
 * block; with grab, that page pinned and locked as well (see
 * lsm_map_lookup_lock).
 *
 * Returns InvalidBlockNumber if no memtable page holds that logical block
 * (never assigned, freed, a dead block, or beyond the end).
 */
static BlockNumber
lsm_map_lookup_ext(Relation rel, BlockNumber lblock, LsmMapGrab *grab)
{
	LsmRelCache *cache;
	LsmMapPos	pos;
	int			slot;
	BlockNumber leafblk;
	BlockNumber result;

	if (grab != NULL)
		grab->buf = InvalidBuffer;
	if (lblock >= MaxBlockNumber)
		return InvalidBlockNumber;
	lsm_map_pos(lblock, &pos);

	if (pos.direct)
	{
		Buffer		metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
		LsmMetaPage meta;

		if (!BufferIsValid(metabuf))
			return InvalidBlockNumber;
		meta = LsmPageGetMeta(BufferGetPage(metabuf));
		result = lblock < meta->next_lblock ? meta->direct[pos.index] :
			InvalidBlockNumber;
		if (grab != NULL)
			lsm_map_grab_page(rel, metabuf, result, grab);
		UnlockReleaseBuffer(metabuf);
		return lsm_map_entry_page(result);
	}

	cache = lsm_get_cache(rel);
	slot = pos.leafno % LSM_LEAF_CACHE_SIZE;
	if (cache->leafno[slot] == pos.leafno)
	{
		result = lsm_read_map_entry(rel, cache->leafblk[slot], LSM_PAGE_MAP,
									lsm_leaf_first_lblock(pos.leafno),
									pos.index, grab);
		if (result != InvalidBlockNumber - 1)
			return lsm_map_entry_page(result);
		cache->leafno[slot] = PG_UINT32_MAX;	/* stale; look it up */
	}

	leafblk = lsm_find_leaf(rel, &pos);
	if (leafblk == InvalidBlockNumber)
		return InvalidBlockNumber;
	result = lsm_read_map_entry(rel, leafblk, LSM_PAGE_MAP,
								lsm_leaf_first_lblock(pos.leafno), pos.index,
								grab);
	if (result == InvalidBlockNumber - 1)
		LSM_CORRUPT(rel, leafblk,
					("Map page does not cover logical block %u.", lblock));
	cache->leafno[slot] = pos.leafno;
	cache->leafblk[slot] = leafblk;
	return lsm_map_entry_page(result);
}

/*
 * lsm_map_lookup -- physical block of the memtable page of a logical block,
 * or InvalidBlockNumber (see lsm_map_lookup_ext).  By the time the caller
 * reads that page it may have been freed and reused: whatever it finds
 * there must be checked (lsm_read_mem_page_hint).
 */
BlockNumber
lsm_map_lookup(Relation rel, BlockNumber lblock)
{
	return lsm_map_lookup_ext(rel, lblock, NULL);
}

/*
 * lsm_map_lookup_lock -- as lsm_map_lookup, returning in *buf the page
 * found, pinned and locked in lockmode (InvalidBuffer if none), locked
 * before the map's page (metapage or MAP page) is let go.
 *
 * A page is unmapped only with its map entry locked exclusively, and the
 * lock order is metapage, MAP page, memtable page: so the page in *buf is
 * the one the map holds for lblock, not a page freed (and maybe reused)
 * between the lookup and the read.  That holds on a hot standby as well,
 * where replay of an unmap takes the same locks in the same order but
 * does not wait for pins.  Until 2026-12-07 the recheck of a stale map
 * entry (lsm_read_mem_page_hint) looked up and read in two steps and took
 * a page freed in between for corruption (TAP 026_lsm_stress, on a hot
 * standby: "Page type "free" (5), expected "memtable"").
 */
BlockNumber
lsm_map_lookup_lock(Relation rel, BlockNumber lblock,
					BufferAccessStrategy strategy, int lockmode, Buffer *buf)
{
	LsmMapGrab	grab;
	BlockNumber result;

	grab.lblock = lblock;
	grab.strategy = strategy;
	grab.lockmode = lockmode;
	result = lsm_map_lookup_ext(rel, lblock, &grab);
	*buf = grab.buf;
	return result;
}

/*
 * lsm_map_read_unit -- copy the part of the map that covers lblock: the
 * metapage's direct array or one MAP page.  Sets *first to the first
 * logical block it covers and returns the number of entries (0 if that
 * MAP page does not exist: no logical block in its range has a page).
 *
 * Scans use the copy as hints: every page reached through it is verified
 * (lsm_read_mem_page_hint).  entries must have room for
 * Max(LSM_META_DIRECT, LSM_MAP_ENTRIES) entries.
 */
int
lsm_map_read_unit(Relation rel, BlockNumber lblock, BlockNumber *entries,
				  BlockNumber *first)
{
	int			n = lsm_map_read_unit_raw(rel, lblock, entries, first);

	/* a dead block has no page */
	for (int i = 0; i < n; i++)
		entries[i] = lsm_map_entry_page(entries[i]);
	return n;
}

/*
 * lsm_map_read_unit_raw -- as lsm_map_read_unit, with dead blocks as they
 * are in the map (LsmMapEntryIsDead).
 */
int
lsm_map_read_unit_raw(Relation rel, BlockNumber lblock, BlockNumber *entries,
					  BlockNumber *first)
{
	LsmMapPos	pos;
	BlockNumber leafblk;
	Buffer		buf;
	Page		page;

	lsm_map_pos(lblock, &pos);
	if (pos.direct)
	{
		*first = 0;
		buf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
		if (!BufferIsValid(buf))
			return 0;
		memcpy(entries, LsmPageGetMeta(BufferGetPage(buf))->direct,
			   LSM_META_DIRECT * sizeof(BlockNumber));
		UnlockReleaseBuffer(buf);
		return LSM_META_DIRECT;
	}

	*first = lsm_leaf_first_lblock(pos.leafno);
	leafblk = lsm_find_leaf(rel, &pos);
	if (leafblk == InvalidBlockNumber)
		return 0;
	buf = ReadBuffer(rel, leafblk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	lsm_verify_page(rel, buf, LSM_PAGE_MAP);
	page = BufferGetPage(buf);
	if (LsmPageGetOpaque(page)->lpo_aux != *first)
		LSM_CORRUPT(rel, leafblk,
					("Map page covers logical blocks from %u, expected %u.",
					 LsmPageGetOpaque(page)->lpo_aux, *first));
	memcpy(entries, LsmPageGetMapArray(page),
		   LSM_MAP_ENTRIES * sizeof(BlockNumber));
	UnlockReleaseBuffer(buf);
	return LSM_MAP_ENTRIES;
}

/*
 * lsm_record_free_page -- enter a page just freed in the free space map so
 * that the next allocation can find it.  RecordFreeIndexPage changes only
 * the FSM's leaf page, and searches start at the root, whose figures only
 * FreeSpaceMapVacuum brings up to date: without the second call, pages
 * freed by flushes and merges stayed out of reach until the next VACUUM,
 * and a table flushed by its writers grew by its whole memtable at every
 * flush.  (GIN's pending-list cleanup vacuums the FSM for the same
 * reason.)  The range is one page: three FSM pages are visited.
 */
void
lsm_record_free_page(Relation rel, BlockNumber blkno)
{
	RecordFreeIndexPage(rel, blkno);
	FreeSpaceMapVacuumRange(rel, blkno, blkno + 1);
}

/*
 * Get a page for new contents: a reusable free page from the FSM, or a new
 * block at the end.  Returned pinned and exclusively locked; the caller
 * formats it (as a full-image generic WAL page).
 *
 * Caller holds the metapage exclusively, which serializes allocations.
 */
static Buffer
lsm_alloc_page(Relation rel)
{
	Buffer		buf = InvalidBuffer;
	BlockNumber nblocks = lsm_physical_nblocks(rel);
	BlockNumber notyet[16];
	int			nnotyet = 0;

	/* lsm_shrink: the lowest free page, under AccessExclusiveLock */
	if (lsm_shrink_active)
	{
		buf = lsm_shrink_alloc(rel, InvalidBlockNumber);
		if (BufferIsValid(buf))
			return buf;
	}

	while (nnotyet < (int) lengthof(notyet))
	{
		BlockNumber blkno = GetFreeIndexPage(rel);
		Page		page;

		if (blkno == InvalidBlockNumber)
			break;
		if (blkno == LSM_METAPAGE_BLKNO || blkno >= nblocks)
			continue;			/* bogus FSM entry; now marked used */
		buf = ReadBuffer(rel, blkno);
		if (ConditionalLockBuffer(buf))
		{
			page = BufferGetPage(buf);
			if (PageIsNew(page))
				break;			/* orphaned by a crash; safe to use */
			if (LsmPageIsOfType(page, LSM_PAGE_FREE) &&
				LsmPageGetFree(page)->magic == LSM_FREE_MAGIC)
			{
				if (GlobalVisCheckRemovableFullXid(rel,
												   LsmPageGetFree(page)->freed_xid))
				{
					/*
					 * A standby query may still read the page as it was (a
					 * run, or a flushed memtable page, that its snapshot
					 * can see); as nbtree does for deleted pages, its reuse
					 * cancels such queries.
					 */
					if (LsmPageGetFree(page)->prev_type != LSM_PAGE_MEM)
						lsm_log_conflict_horizon(rel,
												 XidFromFullTransactionId(LsmPageGetFree(page)->freed_xid));
					break;		/* reusable */
				}
				/* free, but a snapshot may still follow a pointer to it */
				notyet[nnotyet++] = blkno;
			}
			/* any other page is in use: a stale FSM entry, forget it */
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		}
		ReleaseBuffer(buf);
		buf = InvalidBuffer;
	}

	/* give back the free pages that cannot be reused yet */
	for (int i = 0; i < nnotyet; i++)
		RecordFreeIndexPage(rel, notyet[i]);

	if (BufferIsValid(buf))
		return buf;

	LockRelationForExtension(rel, ExclusiveLock);
	buf = ReadBufferExtended(rel, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	UnlockRelationForExtension(rel, ExclusiveLock);

	/*
	 * Map entries from LSM_MAP_DEAD_BASE up mean dead blocks, so no page may
	 * have such a number (the new page stays behind, empty and reusable).
	 */
	if (BufferGetBlockNumber(buf) >= LSM_MAP_DEAD_BASE)
	{
		UnlockReleaseBuffer(buf);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot extend lsm table \"%s\" beyond %u blocks",
						RelationGetRelationName(rel), LSM_MAP_DEAD_BASE)));
	}
	return buf;
}

/*
 * lsm_get_new_page -- a page for new contents without holding the
 * metapage (run pages).  As lsm_alloc_page, returned pinned and locked.
 *
 * Holding the metapage is not needed for safety: a free page is taken only
 * under its buffer lock after checking that it is still free, and the
 * relation is extended under the extension lock.
 */
Buffer
lsm_get_new_page(Relation rel)
{
	lsm_ensure_metapage(rel);
	return lsm_alloc_page(rel);
}

/*
 * lsm_new_mem_page -- assign the next logical block to a new memtable page.
 *
 * Returns the new page pinned and exclusively locked, already formatted and
 * WAL-logged, with the map and metapage updated.
 */
/* The hint slot of the map range from first: one per range, modulo */
static inline int
lsm_shared_hint_slot(BlockNumber first)
{
	if (first < LSM_META_DIRECT)
		return 0;
	return (1 + (first - LSM_META_DIRECT) / LSM_MAP_ENTRIES) % LSM_SHARED_HINTS;
}

/*
 * A logical block joins a shared overlay page only while LSM_SHARED_RESERVE
 * bytes stay free beyond its first copy: later copies of the blocks already
 * there must go to the same page, and a block whose page is full has to
 * move its items elsewhere first (lsm_move_shared_block).
 */
#define LSM_SHARED_RESERVE (BLCKSZ / 4)

/*
 * A logical block's items take at most this much of a shared overlay page:
 * the copy that would pass it moves the block to a page of its own.
 * Scattered changes (a row here and there) stay shared; a block whose rows
 * are changed one after the other (a bulk DELETE or UPDATE) gets its own
 * page, where finding an item costs nothing and the page that generic WAL
 * compares for each record is no fuller than the block's own copies.
 */
#define LSM_SHARED_BLOCK_BYTES (BLCKSZ / 8)

/* Would a copy of len bytes of a block pass LSM_SHARED_BLOCK_BYTES? */
static bool
lsm_shared_block_is_heavy(Relation rel, Buffer buf, BlockNumber lblock,
						  Size len)
{
	return lsm_shared_block_bytes(rel, buf, lblock) + MAXALIGN(len) +
		LSM_SHARED_PREFIX + sizeof(ItemIdData) > LSM_SHARED_BLOCK_BYTES;
}

/*
 * The shared overlay page this backend last used for the map range of
 * lblock (other than exclude), exclusively locked, if it is still one and
 * has need_bytes free and room for need_items more line pointers; else
 * InvalidBuffer.  The caller holds the metapage and the
 * range's map page exclusively (pages are freed only under those locks).
 *
 * The page's lock is only tried, never waited for: it comes after the
 * metapage's here, while a flush holds a memtable page's lock and a
 * backend moving a block off a full shared page holds that page's, each
 * wanting another lock next.  Waiting here could close a cycle with them
 * (until 2026-12-06 it did: UPDATEs under pgbench stopped for good).  A
 * page that is busy is no loss: the caller starts a new shared page, and
 * this backend fills that one from then on.  The hint may also be stale,
 * leading to a page that is no longer a memtable page at all; trying its
 * lock does no harm either.
 */
static Buffer
lsm_try_shared_page(Relation rel, BlockNumber lblock, Size need_bytes,
					int need_items, BlockNumber exclude)
{
	LsmRelCache *cache = lsm_get_cache(rel);
	BlockNumber first = lsm_map_range_first(lblock);
	int			slot = lsm_shared_hint_slot(first);
	BlockNumber blkno = cache->shared_blk[slot];
	Buffer		buf;
	Page		page;

	if (cache->shared_first[slot] != first || blkno == InvalidBlockNumber ||
		blkno == exclude || !lsm_block_in_relation(rel, blkno))
		return InvalidBuffer;
	buf = ReadBuffer(rel, blkno);
	if (!ConditionalLockBuffer(buf))
	{
		ReleaseBuffer(buf);
		return InvalidBuffer;
	}
	page = BufferGetPage(buf);
	if (LsmPageIsOfType(page, LSM_PAGE_MEM) &&
		LsmPageIsShared(page) &&
		LsmPageGetOpaque(page)->lpo_aux == first &&
		PageGetMaxOffsetNumber(page) + need_items <= LSM_MAX_TUPLES_PER_PAGE &&
		(Size) (((PageHeader) page)->pd_upper - ((PageHeader) page)->pd_lower) >=
		need_bytes)
	{
		lsm_verify_mem_page(rel, buf, lblock);
		return buf;
	}
	UnlockReleaseBuffer(buf);
	cache->shared_blk[slot] = InvalidBlockNumber;
	return InvalidBuffer;
}

/* Remember the shared overlay page this backend fills for lblock's range. */
static void
lsm_note_shared_page(Relation rel, BlockNumber lblock, BlockNumber blkno)
{
	LsmRelCache *cache = lsm_get_cache(rel);
	BlockNumber first = lsm_map_range_first(lblock);
	int			slot = lsm_shared_hint_slot(first);

	cache->shared_first[slot] = first;
	cache->shared_blk[slot] = blkno;
}

/*
 * How far behind the block of the last own overlay page a block's first
 * copy may come and still be taken for the same bulk change (blocks of a
 * scan in TID order that the statement changes nothing in lie between).
 */
#define LSM_OWN_CHAIN_GAP 4

/*
 * lsm_note_own_page -- remember that this backend, in this command, gave
 * logical block lblock an overlay page of its own at blkno.
 */
static void
lsm_note_own_page(Relation rel, BlockNumber lblock, BlockNumber blkno)
{
	LsmRelCache *cache = lsm_get_cache(rel);

	cache->own_lblock = lblock;
	cache->own_blk = blkno;
	cache->own_lxid = MyProc->lxid;
	cache->own_cid = GetCurrentCommandId(false);
}

/*
 * lsm_own_chain_continues -- should the first copy of a version of lblock
 * go straight to an overlay page of the block's own?
 *
 * Yes when this command is changing rows block after block in TID order (a
 * bulk DELETE or UPDATE of rows in runs, a SELECT ... FOR UPDATE of many):
 * the last own overlay page this backend made in this command is for a
 * block shortly before lblock and already holds more than a shared page
 * lets one block take (LSM_SHARED_BLOCK_BYTES).  Then lblock is likely to
 * be changed as much, and sharing would only put its first copies on a
 * shared page, move them off with the next ones (one more record, a page
 * copied in it) and leave their storage there for good.  Scattered
 * changes never start such a chain (no block of theirs gets that many
 * copies); a chain that reaches blocks with few changes stops at the
 * first of them, at the cost of one page made for few copies.
 *
 * The caller holds the metapage and lblock's MAP page (leafbuf, or
 * InvalidBuffer for a block of the direct map) exclusively; the page
 * looked at is a memtable page, next in the lock order.  It is a hint:
 * whatever it has become is only looked at, never trusted (and never
 * locked if it has become one of the pages the caller holds).
 */
static bool
lsm_own_chain_continues(Relation rel, BlockNumber lblock, Buffer leafbuf)
{
	LsmRelCache *cache = lsm_get_cache(rel);
	Buffer		buf;
	Page		page;
	bool		result;

	if (cache->own_lblock == InvalidBlockNumber ||
		cache->own_lxid != MyProc->lxid ||
		cache->own_cid != GetCurrentCommandId(false) ||
		lblock <= cache->own_lblock ||
		lblock - cache->own_lblock > LSM_OWN_CHAIN_GAP ||
		cache->own_blk == LSM_METAPAGE_BLKNO ||
		(BufferIsValid(leafbuf) &&
		 cache->own_blk == BufferGetBlockNumber(leafbuf)) ||
		!lsm_block_in_relation(rel, cache->own_blk))
		return false;

	buf = ReadBuffer(rel, cache->own_blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	result = LsmPageIsOfType(page, LSM_PAGE_MEM) &&
		(LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_OVERLAY) != 0 &&
		!LsmPageIsShared(page) &&
		LsmPageGetOpaque(page)->lpo_aux == cache->own_lblock &&
		(Size) (((PageHeader) page)->pd_special - ((PageHeader) page)->pd_upper) >
		LSM_SHARED_BLOCK_BYTES;
	UnlockReleaseBuffer(buf);
	return result;
}

/*
 * lsm_check_flush_wanted -- a page was just added to the memtable, which
 * now has mem_pages pages, noverlay of them overlay pages.  A memtable
 * grown past lsm.memtable_flush_pages (counted when an ordinary page is
 * added), or one with lsm.memtable_flush_overlay_pages overlay pages
 * (copies of rows that live in runs, made by UPDATE, DELETE and row locks,
 * which only a flush turns back into compressed entries), is flushed by
 * this backend at its next insert, update or delete (lsm_maybe_flush).
 */
static void
lsm_check_flush_wanted(Relation rel, uint32 mem_pages, uint32 noverlay,
					   bool ordinary)
{
	LsmSettings s = lsm_settings(rel);
	LsmRelCache *c = lsm_get_cache(rel);

	if (ordinary && s.memtable_flush_pages > 0 &&
		mem_pages >= (uint32) s.memtable_flush_pages &&
		mem_pages >= c->flush_next_at)
		c->flush_wanted = true;
	if (s.memtable_flush_overlay_pages > 0 &&
		noverlay >= (uint32) s.memtable_flush_overlay_pages &&
		noverlay >= c->overlay_next_at)
		c->flush_wanted = true;
}

static void lsm_rowids_used_up(Relation rel) pg_attribute_noreturn();

/* Fail: rel has no logical block left to give out. */
static void
lsm_rowids_used_up(Relation rel)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("lsm table \"%s\" has used up its row identifiers",
					RelationGetRelationName(rel)),
			 errhint("Rewrite the table with VACUUM FULL or CLUSTER to renumber its rows.")));
}

/*
 * lsm_new_mem_page_internal -- a new memtable page for the next logical
 * block, or (overlay_lblock valid) the page that is to take the copy of a
 * version of overlay_lblock, overlay_len bytes long, which has no memtable
 * page: a shared overlay page of its map range with room, or a new one;
 * InvalidBuffer if overlay_lblock got a page meanwhile.
 */
static Buffer
lsm_new_mem_page_internal(Relation rel, BlockNumber overlay_lblock,
						  Size overlay_len)
{
	Buffer		metabuf;
	Buffer		leafbuf = InvalidBuffer;
	Buffer		newbuf;
	LsmMetaPage meta;
	uint32		mem_pages;
	BlockNumber lblock;
	LsmMapPos	pos;
	GenericXLogState *state;
	Page		page;
	Buffer		vmbuf = InvalidBuffer;
	uint32		noverlay;
	bool		shared = MAXALIGN(overlay_len) + LSM_SHARED_PREFIX +
		sizeof(ItemIdData) <= LSM_PAGE_CONTENT_SIZE;

	/*
	 * An overlay page's block may be all-visible in the visibility map (its
	 * page was flushed while all-visible); the versions about to be copied
	 * here are going to change, so the bit is cleared with the creation.
	 */
	if (overlay_lblock != InvalidBlockNumber)
		vmbuf = lsm_vm_pin(rel, overlay_lblock, false);

	lsm_ensure_metapage(rel);
	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	meta = LsmPageGetMeta(BufferGetPage(metabuf));
	lblock = overlay_lblock != InvalidBlockNumber ? overlay_lblock :
		meta->next_lblock;
	if (overlay_lblock != InvalidBlockNumber && lblock >= meta->next_lblock)
		elog(ERROR, "overlay page for unassigned logical block %u of \"%s\"",
			 lblock, RelationGetRelationName(rel));
	if (lblock >= MaxBlockNumber)
		lsm_rowids_used_up(rel);
	lsm_map_pos(lblock, &pos);

	if (!pos.direct)
	{
		Buffer		dirbuf;
		BlockNumber dirblk;
		BlockNumber leafblk;

		/* Step 1: the MAPDIR page covering this logical block. */
		dirblk = pos.dirslot < meta->nmapdir ? meta->mapdir[pos.dirslot] :
			InvalidBlockNumber;
		if (dirblk == InvalidBlockNumber)
		{
			dirbuf = lsm_alloc_page(rel);
			state = GenericXLogStart(rel);
			meta = LsmPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
			page = GenericXLogRegisterBuffer(state, dirbuf,
											 GENERIC_XLOG_FULL_IMAGE);
			lsm_init_map_page(page, LSM_PAGE_MAPDIR, pos.dirslot);
			meta->mapdir[pos.dirslot] = BufferGetBlockNumber(dirbuf);
			if (meta->nmapdir <= pos.dirslot)
				meta->nmapdir = pos.dirslot + 1;
			GenericXLogFinish(state);
			meta = LsmPageGetMeta(BufferGetPage(metabuf));
		}
		else
		{
			dirbuf = ReadBuffer(rel, dirblk);
			LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);
			lsm_verify_page(rel, dirbuf, LSM_PAGE_MAPDIR);
			if (LsmPageGetOpaque(BufferGetPage(dirbuf))->lpo_aux != pos.dirslot)
				LSM_CORRUPT(rel, dirblk,
							("Map directory page does not cover directory slot %u.",
							 pos.dirslot));
		}

		/* Step 2: the MAP page covering this logical block. */
		leafblk = LsmPageGetMapArray(BufferGetPage(dirbuf))[pos.leafidx];
		if (leafblk == InvalidBlockNumber)
		{
			leafbuf = lsm_alloc_page(rel);
			state = GenericXLogStart(rel);
			page = GenericXLogRegisterBuffer(state, dirbuf, 0);
			LsmPageGetMapArray(page)[pos.leafidx] = BufferGetBlockNumber(leafbuf);
			page = GenericXLogRegisterBuffer(state, leafbuf,
											 GENERIC_XLOG_FULL_IMAGE);
			lsm_init_map_page(page, LSM_PAGE_MAP,
							  lsm_leaf_first_lblock(pos.leafno));
			GenericXLogFinish(state);
		}
		else
		{
			leafbuf = ReadBuffer(rel, leafblk);
			LockBuffer(leafbuf, BUFFER_LOCK_EXCLUSIVE);
			lsm_verify_page(rel, leafbuf, LSM_PAGE_MAP);
			if (LsmPageGetOpaque(BufferGetPage(leafbuf))->lpo_aux !=
				lsm_leaf_first_lblock(pos.leafno))
				LSM_CORRUPT(rel, leafblk,
							("Map page does not cover logical block %u.", lblock));
		}
		UnlockReleaseBuffer(dirbuf);
	}

	/*
	 * Another backend may have made an overlay page for the block meanwhile:
	 * the caller looks again (lsm_get_overlay_page).  Until 2026-12-07 this
	 * read that page itself after letting go of the map, and failed with
	 * "memtable page ... vanished" when a flush had freed it in between
	 * (TAP 028_lsm_overlay_race); it also took the page whether or not it
	 * had room.
	 */
	if (overlay_lblock != InvalidBlockNumber)
	{
		BlockNumber cur = pos.direct ? meta->direct[pos.index] :
		LsmPageGetMapArray(BufferGetPage(leafbuf))[pos.index];

		if (cur != InvalidBlockNumber)
		{
			if (BufferIsValid(leafbuf))
				UnlockReleaseBuffer(leafbuf);
			UnlockReleaseBuffer(metabuf);
			if (BufferIsValid(vmbuf))
				ReleaseBuffer(vmbuf);
			return InvalidBuffer;
		}
	}

	/* a bulk change in TID order: a page of the block's own at once */
	if (overlay_lblock != InvalidBlockNumber && shared &&
		lsm_own_chain_continues(rel, lblock, leafbuf))
		shared = false;

	/*
	 * Step 3 for a copy: the shared overlay page this backend fills for the
	 * range, if it has room, is entered in the map (one record: the map
	 * entry and the visibility map bit; the page itself changes when the
	 * copy is put there, while it stays locked).
	 */
	if (overlay_lblock != InvalidBlockNumber && shared)
	{
		newbuf = lsm_try_shared_page(rel, lblock,
									 MAXALIGN(overlay_len) + LSM_SHARED_PREFIX +
									 sizeof(ItemIdData) + LSM_SHARED_RESERVE,
									 1, InvalidBlockNumber);
		if (BufferIsValid(newbuf))
		{
			if (BufferIsValid(vmbuf))
				LockBuffer(vmbuf, BUFFER_LOCK_EXCLUSIVE);
			state = GenericXLogStart(rel);
			if (pos.direct)
			{
				meta = LsmPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
				meta->direct[pos.index] = BufferGetBlockNumber(newbuf);
			}
			else
			{
				page = GenericXLogRegisterBuffer(state, leafbuf, 0);
				LsmPageGetMapArray(page)[pos.index] = BufferGetBlockNumber(newbuf);
			}
			if (BufferIsValid(vmbuf))
				lsm_vm_clear_block_in_record(state, lblock, vmbuf);
			GenericXLogFinish(state);
			if (BufferIsValid(vmbuf))
				UnlockReleaseBuffer(vmbuf);
			if (BufferIsValid(leafbuf))
				UnlockReleaseBuffer(leafbuf);
			UnlockReleaseBuffer(metabuf);
			return newbuf;
		}
	}

	/* Step 3: the memtable page itself, entered in the map. */
	newbuf = lsm_alloc_page(rel);
	if (BufferIsValid(vmbuf))
		LockBuffer(vmbuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(rel);
	meta = LsmPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	if (pos.direct)
	{
		if (meta->direct[pos.index] != InvalidBlockNumber)
			LSM_CORRUPT(rel, LSM_METAPAGE_BLKNO,
						("Map entry of unassigned logical block %u is in use.",
						 lblock));
		meta->direct[pos.index] = BufferGetBlockNumber(newbuf);
	}
	else
	{
		page = GenericXLogRegisterBuffer(state, leafbuf, 0);
		if (LsmPageGetMapArray(page)[pos.index] != InvalidBlockNumber)
			LSM_CORRUPT(rel, BufferGetBlockNumber(leafbuf),
						("Map entry of unassigned logical block %u is in use.",
						 lblock));
		LsmPageGetMapArray(page)[pos.index] = BufferGetBlockNumber(newbuf);
	}
	/* (only an overlay page can be for a block below next_lblock) */
	if (lblock < meta->empty_below)
		meta->empty_below = lblock;
	page = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
	if (overlay_lblock != InvalidBlockNumber)
	{
		/*
		 * A new shared overlay page for the block's map range; or an overlay
		 * page of the block's own, for a copy too big to share a page.
		 */
		lsm_init_page(page, LSM_PAGE_MEM,
					  shared ? lsm_map_range_first(lblock) : lblock);
		LsmPageGetOpaque(page)->lpo_flags |= LSM_MEM_OVERLAY | LSM_MEM_SEALED |
			LSM_MEM_COPIES | (shared ? LSM_MEM_SHARED : 0);
		if (BufferIsValid(vmbuf))
			lsm_vm_clear_block_in_record(state, lblock, vmbuf);
		if (shared)
			lsm_note_shared_page(rel, lblock, BufferGetBlockNumber(newbuf));
		else
			lsm_note_own_page(rel, lblock, BufferGetBlockNumber(newbuf));
	}
	else
	{
		lsm_init_page(page, LSM_PAGE_MEM, lblock);
		meta->next_lblock = lblock + 1;
		meta->insert_page = BufferGetBlockNumber(newbuf);
	}
	meta->mem_pages++;
	if (overlay_lblock != InvalidBlockNumber)
		meta->overlay_pages++;
	/* (meta points into the record's copy, which GenericXLogFinish frees) */
	mem_pages = meta->mem_pages;
	noverlay = meta->overlay_pages;
	GenericXLogFinish(state);
	if (BufferIsValid(vmbuf))
		UnlockReleaseBuffer(vmbuf);

	lsm_check_flush_wanted(rel, mem_pages, noverlay,
						   overlay_lblock == InvalidBlockNumber);

	if (BufferIsValid(leafbuf))
	{
		LsmRelCache *cache = lsm_get_cache(rel);
		int			slot = pos.leafno % LSM_LEAF_CACHE_SIZE;

		cache->leafno[slot] = pos.leafno;
		cache->leafblk[slot] = BufferGetBlockNumber(leafbuf);
		UnlockReleaseBuffer(leafbuf);
	}
	UnlockReleaseBuffer(metabuf);
	return newbuf;
}

/*
 * lsm_reserve_lblocks -- reserve n logical blocks that get no memtable
 * page, for a run loaded by COPY (lsm_load.c); returns the first.  Like a
 * new memtable page, this moves next_lblock (one small record).  Blocks
 * reserved but never used (a load that ended early, a crash) stay empty:
 * a logical block with no page and no run entry holds nothing.
 */
BlockNumber
lsm_reserve_lblocks(Relation rel, BlockNumber n)
{
	Buffer		metabuf;
	GenericXLogState *state;
	LsmMetaPage meta;
	BlockNumber first;

	lsm_ensure_metapage(rel);
	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	first = LsmPageGetMeta(BufferGetPage(metabuf))->next_lblock;
	if (first >= MaxBlockNumber || MaxBlockNumber - first < n)
		lsm_rowids_used_up(rel);
	state = GenericXLogStart(rel);
	meta = LsmPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	meta->next_lblock = first + n;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);
	return first;
}

/*
 * lsm_new_mem_page -- see above: a new logical block.
 */
Buffer
lsm_new_mem_page(Relation rel, BufferAccessStrategy strategy)
{
	return lsm_new_mem_page_internal(rel, InvalidBlockNumber, 0);
}

/*
 * Lock the map entry of lblock for a change: the metapage is held
 * exclusively by the caller; the MAP page (unless the entry is direct) is
 * returned exclusively locked in *leafbuf.  Returns the entry's address in
 * the page, or NULL if the MAP page does not exist.
 */
static BlockNumber *
lsm_lock_map_entry(Relation rel, Buffer metabuf, BlockNumber lblock,
				   LsmMapPos *pos, Buffer *leafbuf)
{
	LsmMetaPage meta = LsmPageGetMeta(BufferGetPage(metabuf));
	BlockNumber dirblk;
	BlockNumber leafblk;

	*leafbuf = InvalidBuffer;
	lsm_map_pos(lblock, pos);
	if (pos->direct)
		return &meta->direct[pos->index];
	dirblk = pos->dirslot < meta->nmapdir ? meta->mapdir[pos->dirslot] :
		InvalidBlockNumber;
	if (dirblk == InvalidBlockNumber)
		return NULL;
	leafblk = lsm_read_map_entry(rel, dirblk, LSM_PAGE_MAPDIR, pos->dirslot,
								 pos->leafidx, NULL);
	if (leafblk == InvalidBlockNumber || leafblk == InvalidBlockNumber - 1)
		return NULL;
	*leafbuf = ReadBuffer(rel, leafblk);
	LockBuffer(*leafbuf, BUFFER_LOCK_EXCLUSIVE);
	lsm_verify_page(rel, *leafbuf, LSM_PAGE_MAP);
	if (LsmPageGetOpaque(BufferGetPage(*leafbuf))->lpo_aux !=
		lsm_leaf_first_lblock(pos->leafno))
		LSM_CORRUPT(rel, leafblk,
					("Map page does not cover logical block %u.", lblock));
	return &LsmPageGetMapArray(BufferGetPage(*leafbuf))[pos->index];
}

/*
 * Put an item of a shared overlay page (its storage, prefix included, and
 * its line pointer state) on page dst: appended if dst is a shared page,
 * at the TID's own offset otherwise (dst's line pointers up to that offset
 * exist already).
 */
static void
lsm_copy_shared_item(Page dst, ItemId srcid, const char *src)
{
	PageHeader	phdr = (PageHeader) dst;
	const LsmSharedItemData *prefix = (const LsmSharedItemData *) src;
	ItemId		dstid;

	if (LsmPageIsShared(dst))
	{
		dstid = PageGetItemId(dst, PageGetMaxOffsetNumber(dst) + 1);
		phdr->pd_lower += sizeof(ItemIdData);
		phdr->pd_upper -= MAXALIGN(ItemIdGetLength(srcid));
		memcpy((char *) dst + phdr->pd_upper, src, ItemIdGetLength(srcid));
		*dstid = *srcid;
		dstid->lp_off = phdr->pd_upper;
		return;
	}
	dstid = PageGetItemId(dst, prefix->off);
	if (ItemIdIsNormal(srcid))
	{
		Size		len = ItemIdGetLength(srcid) - LSM_SHARED_PREFIX;

		phdr->pd_upper -= MAXALIGN(len);
		memcpy((char *) dst + phdr->pd_upper, src + LSM_SHARED_PREFIX, len);
		ItemIdSetNormal(dstid, phdr->pd_upper, len);
	}
	else if (ItemIdIsDead(srcid))
		ItemIdSetDead(dstid);
	else
		lsm_item_set_tombstone(dst, prefix->off);
}

/*
 * lsm_move_shared_block -- logical block lblock is mapped to a shared
 * overlay page without room for another copy of len bytes, or the copy
 * would make its items take more than LSM_SHARED_BLOCK_BYTES there: move
 * its items to a page with room and map the block there.  Returns that page
 * exclusively locked; the old page if it has room after all; or
 * InvalidBuffer if the block is no longer mapped to a shared page (the
 * caller looks again).
 *
 * The items keep their state (version, LP_DEAD, tombstone); on the old page
 * their line pointers become unused and nothing else changes, so a backend
 * holding a pin and a pointer into an old copy can still read it, and
 * learns of the move when it locks the page again (lsm_version_moved).
 * The target is a page of the block's own if its items and the new copy
 * take more than LSM_SHARED_BLOCK_BYTES; else the shared page this backend
 * fills for the range if they fit there with the reserve; else a new
 * shared page.  One generic WAL record: the metapage (the map
 * entry of a direct block, the page count of a new page), the MAP page, the
 * old page and the target.  Lock order: metapage, MAP page, old page,
 * target; holding the metapage, two moves never run at once.
 */
static Buffer
lsm_move_shared_block(Relation rel, BlockNumber lblock, Size len)
{
	Buffer		metabuf;
	Buffer		leafbuf;
	Buffer		oldbuf;
	Buffer		newbuf;
	Page		oldpage;
	Page		newpage;
	LsmMapPos	pos;
	BlockNumber *entry;
	BlockNumber first = lsm_map_range_first(lblock);
	OffsetNumber lps[LSM_MAX_TUPLES_PER_PAGE];
	int			n = 0;
	Size		bytes = 0;
	Size		need;
	OffsetNumber highest = 0;
	bool		new_page = false;
	bool		shared_target = true;
	bool		heavy;
	int			nused = 0;
	GenericXLogState *state;
	LsmMetaPage meta;
	TransactionId prune_xid;
	TransactionId moved_xid;
	MultiXactId moved_mxid;
	bool		note_moved;
	uint32		mem_pages = 0;
	uint32		noverlay = 0;

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	entry = lsm_lock_map_entry(rel, metabuf, lblock, &pos, &leafbuf);
	if (entry == NULL || *entry == InvalidBlockNumber)
	{
		if (BufferIsValid(leafbuf))
			UnlockReleaseBuffer(leafbuf);
		UnlockReleaseBuffer(metabuf);
		return InvalidBuffer;
	}
	oldbuf = ReadBuffer(rel, *entry);
	LockBuffer(oldbuf, BUFFER_LOCK_EXCLUSIVE);
	lsm_verify_mem_page(rel, oldbuf, lblock);
	oldpage = BufferGetPage(oldbuf);
	if (!LsmPageIsShared(oldpage) ||
		(lsm_shared_page_has_room(oldpage, len) &&
		 !lsm_shared_block_is_heavy(rel, oldbuf, lblock, len)))
	{
		if (BufferIsValid(leafbuf))
			UnlockReleaseBuffer(leafbuf);
		UnlockReleaseBuffer(metabuf);
		return oldbuf;
	}

	/* the block's items, and the room they take */
	for (OffsetNumber lp = FirstOffsetNumber;
		 lp <= PageGetMaxOffsetNumber(oldpage); lp++)
	{
		LsmSharedItemData *prefix = lsm_shared_item(rel, BufferGetBlockNumber(oldbuf),
													 oldpage, lp);

		if (prefix == NULL || prefix->lblock != lblock)
			continue;
		lps[n++] = lp;
		bytes += MAXALIGN(ItemIdGetLength(PageGetItemId(oldpage, lp)));
		highest = Max(highest, prefix->off);
	}
	need = bytes + MAXALIGN(len) + LSM_SHARED_PREFIX +
		(n + 1) * sizeof(ItemIdData);

	/*
	 * Does the old page hold this block's items only?  Then the move empties
	 * it, and no map entry will lead a flush to it any more.  It cannot be
	 * freed here: the scan that changes this block's rows usually has it
	 * pinned, and freeing pages belongs to those holding the maintenance
	 * lock (VACUUM and flushes read pages they may free).  The next overlay
	 * copy of another block tries (lsm_free_emptied_shared); until
	 * 2026-12-06 such a page waited for VACUUM.
	 */
	for (OffsetNumber lp = FirstOffsetNumber;
		 lp <= PageGetMaxOffsetNumber(oldpage); lp++)
		if (ItemIdIsUsed(PageGetItemId(oldpage, lp)))
			nused++;
	if (nused == n)
	{
		LsmRelCache *cache = lsm_get_cache(rel);

		cache->emptied_blk = BufferGetBlockNumber(oldbuf);
		cache->emptied_first = first;
		cache->emptied_by = lblock;
	}

	heavy = need > LSM_SHARED_BLOCK_BYTES;
	newbuf = !heavy ?
		lsm_try_shared_page(rel, lblock, need + LSM_SHARED_RESERVE, n + 1,
							BufferGetBlockNumber(oldbuf)) : InvalidBuffer;
	if (!BufferIsValid(newbuf))
	{
		new_page = true;
		shared_target = !heavy;
		newbuf = lsm_alloc_page(rel);
	}

	/*
	 * A VACUUM scanning the pages may have passed the target and not yet
	 * reached the old page: it learns of the xids the copies carry from
	 * the metapage (lsm_vacuum_unseen_horizon).
	 */
	lsm_moved_horizon(oldpage, lps, n, &moved_xid, &moved_mxid);
	note_moved = lsm_moved_lower(LsmPageGetMeta(BufferGetPage(metabuf)),
								 moved_xid, moved_mxid, false);

	state = GenericXLogStart(rel);
	meta = (pos.direct || new_page || note_moved) ?
		LsmPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0)) : NULL;
	if (note_moved)
		(void) lsm_moved_lower(meta, moved_xid, moved_mxid, true);
	if (pos.direct)
		entry = &meta->direct[pos.index];
	else
		entry = &LsmPageGetMapArray(GenericXLogRegisterBuffer(state, leafbuf, 0))[pos.index];
	oldpage = GenericXLogRegisterBuffer(state, oldbuf, 0);
	newpage = GenericXLogRegisterBuffer(state, newbuf,
										new_page ? GENERIC_XLOG_FULL_IMAGE : 0);
	if (new_page)
	{
		lsm_init_page(newpage, LSM_PAGE_MEM, shared_target ? first : lblock);
		LsmPageGetOpaque(newpage)->lpo_flags |= LSM_MEM_OVERLAY | LSM_MEM_SEALED |
			LSM_MEM_COPIES | (shared_target ? LSM_MEM_SHARED : 0);
		meta->mem_pages++;
		meta->overlay_pages++;
		mem_pages = meta->mem_pages;
		noverlay = meta->overlay_pages;
		if (!shared_target)
		{
			/* a page of the block's own: line pointers up to the highest */
			for (OffsetNumber o = FirstOffsetNumber; o <= highest; o++)
				ItemIdSetUnused(PageGetItemId(newpage, o));
			((PageHeader) newpage)->pd_lower += highest * sizeof(ItemIdData);
		}
	}
	for (int i = 0; i < n; i++)
	{
		ItemId		itemid = PageGetItemId(oldpage, lps[i]);

		lsm_copy_shared_item(newpage, itemid, PageGetItem(oldpage, itemid));
		ItemIdSetUnused(itemid);
	}
	/* what may be prunable came along */
	prune_xid = ((PageHeader) oldpage)->pd_prune_xid;
	if (TransactionIdIsValid(prune_xid) &&
		(!TransactionIdIsValid(((PageHeader) newpage)->pd_prune_xid) ||
		 TransactionIdPrecedes(prune_xid, ((PageHeader) newpage)->pd_prune_xid)))
		((PageHeader) newpage)->pd_prune_xid = prune_xid;
	*entry = BufferGetBlockNumber(newbuf);
	GenericXLogFinish(state);
	if (new_page)
		lsm_check_flush_wanted(rel, mem_pages, noverlay, false);

	if (shared_target)
		lsm_note_shared_page(rel, lblock, BufferGetBlockNumber(newbuf));
	else
		lsm_note_own_page(rel, lblock, BufferGetBlockNumber(newbuf));
	UnlockReleaseBuffer(oldbuf);
	if (BufferIsValid(leafbuf))
		UnlockReleaseBuffer(leafbuf);
	UnlockReleaseBuffer(metabuf);
	return newbuf;
}

/*
 * lsm_free_emptied_shared -- free the shared overlay page a move of this
 * backend emptied (lsm_move_shared_block), once a copy for another logical
 * block comes: by then the scan that changed the rows of the block that
 * moved has usually gone on.  One try, and only if the maintenance lock is
 * free: VACUUM and flushes, which hold it, read shared pages they may free
 * themselves, and take a page they saw as shared for one.  Under that lock
 * the page is what the hint says unless one of them freed it since, which
 * lsm_free_shared_page's checks catch (a free page is not a shared page; a
 * page holding an item is not freed; nor one somebody has pinned).  With
 * no buffer locked (the metapage comes first).
 */
static void
lsm_free_emptied_shared(Relation rel, BlockNumber lblock)
{
	LsmRelCache *cache = (LsmRelCache *) rel->rd_amcache;
	BlockNumber blkno;
	BlockNumber first;
	Buffer		buf;
	bool		still;

	if (cache == NULL || cache->emptied_blk == InvalidBlockNumber ||
		cache->emptied_by == lblock ||
		!RelFileNodeEquals(cache->node, rel->rd_node))
		return;
	blkno = cache->emptied_blk;
	first = cache->emptied_first;
	cache->emptied_blk = InvalidBlockNumber;
	if (!lsm_block_in_relation(rel, blkno) || !lsm_maint_lock(rel, false))
		return;
	/* still a shared page of that range?  (quietly: it may be anything) */
	buf = ReadBuffer(rel, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	still = LsmPageIsOfType(BufferGetPage(buf), LSM_PAGE_MEM) &&
		LsmPageIsShared(BufferGetPage(buf)) &&
		LsmPageGetOpaque(BufferGetPage(buf))->lpo_aux == first;
	UnlockReleaseBuffer(buf);
	if (still)
		(void) lsm_free_shared_page(rel, first, blkno, InvalidXLogRecPtr);
	lsm_maint_unlock(rel);
}

/*
 * lsm_get_overlay_page -- the memtable page answering for logical block
 * lblock, exclusively locked, to take a copy of len bytes of one of its
 * versions: its page if it has one (moving the block off a full shared
 * page first); if the block has none (its versions are in runs), it is
 * mapped to a shared overlay page with room (lsm_new_mem_page_internal).
 */
Buffer
lsm_get_overlay_page(Relation rel, BlockNumber lblock, Size len)
{
	lsm_free_emptied_shared(rel, lblock);
	for (;;)
	{
		Buffer		buf = lsm_read_mem_page_locked(rel, lblock, NULL,
												   BUFFER_LOCK_EXCLUSIVE);

		if (!BufferIsValid(buf))
		{
			buf = lsm_new_mem_page_internal(rel, lblock, len);
			if (BufferIsValid(buf))
				return buf;
			continue;			/* it got a page meanwhile: look again */
		}
		if (!LsmPageIsShared(BufferGetPage(buf)) ||
			(lsm_shared_page_has_room(BufferGetPage(buf), len) &&
			 !lsm_shared_block_is_heavy(rel, buf, lblock, len)))
			return buf;

		/*
		 * A full shared page, or a block with many copies there: the block
		 * moves (metapage first).
		 */
		UnlockReleaseBuffer(buf);
		buf = lsm_move_shared_block(rel, lblock, len);
		if (BufferIsValid(buf))
			return buf;
	}
}

/*
 * lsm_pages_may_vanish -- can a memtable page be wiped while we hold a pin?
 *
 * On a primary, a memtable page is freed only under a cleanup lock
 * (lsm_unmap_page), so a pin keeps the versions a scan points at in place,
 * as with heap pruning.  Replay of that generic WAL record on a hot standby
 * takes only an exclusive lock: generic redo cannot wait for a cleanup lock
 * the way heap's prune redo does.  So while recovery is in progress, readers
 * must copy what they return out of the page before they let go of the
 * buffer lock; a pin alone does not protect it.  After promotion the
 * primary's rule holds again, for scans begun on the standby as well.
 */
bool
lsm_pages_may_vanish(void)
{
	return RecoveryInProgress();
}

/*
 * lsm_store_tuple_copy -- store a copy of a version in a buffer slot, owned
 * by the slot, for readers that must not leave it pointing where it is: a
 * memtable page on a hot standby (lsm_pages_may_vanish; the caller holds
 * the page's buffer lock), a decoded run page.  The executor copies such a
 * slot in full (ExecCopySlot), not by reference to a pinned buffer.
 */
void
lsm_store_tuple_copy(HeapTuple tuple, TupleTableSlot *slot, Relation rel)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	ItemPointerData tid = tuple->t_self;

	Assert(TTS_IS_BUFFERTUPLE(slot));
	ExecForceStoreHeapTuple(tuple, slot, false);
	slot->tts_tableOid = RelationGetRelid(rel);
	slot->tts_tid = tid;
	bslot->base.tuple->t_tableOid = slot->tts_tableOid;
	bslot->base.tuple->t_self = tid;
}

/*
 * lsm_page_token -- what tells whether a memtable page changed between two
 * looks at it: a flush reads the page, publishes the run holding its
 * contents, and frees it only if it has not changed since.  For a
 * WAL-logged relation that is the page's LSN, which generic WAL advances
 * with every change.  Generic WAL leaves the LSN of an unlogged or
 * temporary relation's pages alone (and of one created in the same
 * transaction under wal_level = minimal), so there, and for a page that
 * never got an LSN, a hash of the page's contents stands in: lsm writes no
 * unlogged hint bits, so any change of the contents is a real one.  Never
 * InvalidXLogRecPtr, which callers use for "not flushed".  (Until
 * 2026-12-06 the LSN was used alone: a flush never freed the pages of an
 * unlogged or temporary table, which kept them all as overlay pages.)
 */
XLogRecPtr
lsm_page_token(Relation rel, Page page)
{
	if (RelationNeedsWAL(rel) && !XLogRecPtrIsInvalid(PageGetLSN(page)))
		return PageGetLSN(page);
	return (XLogRecPtr) (hash_bytes_extended((const unsigned char *) page,
											 BLCKSZ, 0) | 1);
}

/*
 * lsm_unmap_page -- unmap a memtable page and turn it into a free page.
 * Returns whether it did.
 *
 * An ordinary page is the page of logical block lblock; a shared overlay
 * page (shared) serves logical blocks of the map range from lblock, and
 * every one of them mapped to it is unmapped.  With flushed_lsn valid, the
 * page's contents are in a published run and it is freed only if its
 * token (lsm_page_token: its LSN, or a hash of its contents where there is
 * no WAL) is still that; otherwise the caller has checked, without holding
 * any lock now, that it holds no item, and that is checked again here.  The
 * newest memtable page (the metapage's insertion hint) is kept.  With
 * dead_ok, an ordinary page may have LP_DEAD items (and nothing else): its
 * map entry then becomes a dead block (LsmMapDeadEntry) instead of
 * InvalidBlockNumber, see lsm_free_dead_page.
 *
 * One generic WAL record covers {metapage, MAP page (unless direct), freed
 * page, visibility map page}: a freed empty ordinary page's logical block
 * becomes all-visible (see lsm_vm_set_freed_in_record), a dead block does
 * not (index entries may lead to it); a flushed page's
 * bit stays as it was (the versions in the run are exactly as visible as
 * they were on the page), and so do the bits of a shared page's blocks
 * (their versions are in runs).  Lock order: metapage, MAP page, memtable
 * page, visibility map page.
 */
static bool
lsm_unmap_page(Relation rel, BlockNumber lblock, BlockNumber blkno,
			   XLogRecPtr flushed_lsn, bool shared, bool dead_ok)
{
	Buffer		metabuf;
	Buffer		leafbuf = InvalidBuffer;
	Buffer		buf = InvalidBuffer;
	bool		buf_locked = false;
	bool		done = false;
	LsmMetaPage meta;
	LsmMapPos	pos;
	GenericXLogState *state;
	Page		page;
	BlockNumber *entry;
	Buffer		vmbuf;
	OffsetNumber maxdead = InvalidOffsetNumber;

	/* the visibility map page, pinned (and extended) before any lock */
	vmbuf = flushed_lsn == InvalidXLogRecPtr && !shared ?
		lsm_vm_pin(rel, lblock, true) : InvalidBuffer;

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	meta = LsmPageGetMeta(BufferGetPage(metabuf));
	if (meta->insert_page == blkno || lblock >= meta->next_lblock)
		goto out;
	entry = lsm_lock_map_entry(rel, metabuf, lblock, &pos, &leafbuf);
	if (entry == NULL || (!shared && *entry != blkno))
		goto out;

	/*
	 * A cleanup lock, as heap takes to prune: whoever else holds a pin may
	 * still point into the page (a scan's current tuple, an UPDATE between
	 * reading the old version and locking it again), and the page is about
	 * to be wiped.  If it is pinned, it stays; a flushed page then becomes
	 * an overlay page (lsm_release_flushed_page), an empty one waits for
	 * the next VACUUM.  (A standby's replay of our record takes no cleanup
	 * lock: see lsm_pages_may_vanish.)
	 */
	buf = ReadBuffer(rel, blkno);
	if (!ConditionalLockBufferForCleanup(buf))
		goto out;
	buf_locked = true;
	lsm_verify_mem_page(rel, buf, lblock);
	page = BufferGetPage(buf);
	if (LsmPageIsShared(page) != shared)
		goto out;
	if (flushed_lsn != InvalidXLogRecPtr)
	{
		/* flushed: its contents are in a run unless it changed since */
		if (lsm_page_token(rel, page) != flushed_lsn)
			goto out;
	}
	else
	{
		/* LP_DEAD items may stay behind only on an ordinary page */
		dead_ok = dead_ok && !shared &&
			!(LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_OVERLAY);
		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(page); off++)
		{
			ItemId		itemid = PageGetItemId(page, off);

			if (dead_ok && ItemIdIsDead(itemid))
				maxdead = off;
			/* someone added a version since the caller looked */
			else if (ItemIdIsUsed(itemid))
				goto out;
		}
	}

	/* a dead block's index entries are still there: not all-visible */
	if (maxdead != InvalidOffsetNumber && BufferIsValid(vmbuf))
	{
		ReleaseBuffer(vmbuf);
		vmbuf = InvalidBuffer;
	}
	if (BufferIsValid(vmbuf))
		LockBuffer(vmbuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(rel);
	meta = LsmPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	meta->mem_pages--;
	meta->pages_freed++;
	if ((LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_OVERLAY) &&
		meta->overlay_pages > 0)
		meta->overlay_pages--;
	if (pos.direct)
		entry = &meta->direct[pos.index];
	else
		entry = &LsmPageGetMapArray(GenericXLogRegisterBuffer(state, leafbuf, 0))[pos.index];
	if (shared)
	{
		/* every entry of the range that leads to the page */
		BlockNumber *entries = entry - pos.index;

		for (int i = 0; i < LsmMapRangeSize(lblock); i++)
			if (entries[i] == blkno)
				entries[i] = InvalidBlockNumber;
	}
	else if (maxdead != InvalidOffsetNumber)
		*entry = LsmMapDeadEntry(maxdead);
	else
		*entry = InvalidBlockNumber;
	page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	lsm_init_free_page(page, flushed_lsn != InvalidXLogRecPtr ?
					   LSM_PAGE_RUN_DATA : LSM_PAGE_MEM);
	if (BufferIsValid(vmbuf))
		lsm_vm_set_freed_in_record(state, lblock, vmbuf);
	GenericXLogFinish(state);
	if (BufferIsValid(vmbuf))
		LockBuffer(vmbuf, BUFFER_LOCK_UNLOCK);
	done = true;

out:
	/* one way out: let go of what is held, in the reverse order */
	if (BufferIsValid(buf))
	{
		if (buf_locked)
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		ReleaseBuffer(buf);
	}
	if (BufferIsValid(leafbuf))
		UnlockReleaseBuffer(leafbuf);
	UnlockReleaseBuffer(metabuf);
	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);

	if (done)
		lsm_record_free_page(rel, blkno);
	return done;
}

/* lsm_free_mem_page -- see lsm_unmap_page: an empty memtable page. */
bool
lsm_free_mem_page(Relation rel, BlockNumber lblock, BlockNumber blkno)
{
	return lsm_unmap_page(rel, lblock, blkno, InvalidXLogRecPtr, false, false);
}

/*
 * lsm_free_flushed_page -- see lsm_unmap_page: a memtable page whose
 * contents a published run holds, if its LSN is still the one it had when
 * it was flushed.  The free page is marked as having held run data, since
 * a standby query may still read the block through the map (see
 * lsm_alloc_page).
 */
bool
lsm_free_flushed_page(Relation rel, BlockNumber lblock, BlockNumber blkno,
					  XLogRecPtr lsn)
{
	return lsm_unmap_page(rel, lblock, blkno, lsn, false, false);
}

/*
 * lsm_free_shared_page -- see lsm_unmap_page: the shared overlay page at
 * blkno, serving the map range from logical block first, after a flush (if
 * its LSN is still flushed_lsn) or once it holds no item at all (every
 * block it served has moved away; flushed_lsn invalid).
 */
bool
lsm_free_shared_page(Relation rel, BlockNumber first, BlockNumber blkno,
					 XLogRecPtr flushed_lsn)
{
	return lsm_unmap_page(rel, first, blkno, flushed_lsn, true, false);
}

/*
 * lsm_note_dead_page -- remember that the sealed ordinary memtable page
 * blkno of logical block lblock holds no version any more (pruning said
 * so), to be freed at the next lsm_free_dead_pages.  Called with the page
 * locked, so it cannot be freed here (the metapage comes first).
 */
void
lsm_note_dead_page(Relation rel, BlockNumber lblock, BlockNumber blkno)
{
	LsmRelCache *cache = lsm_get_cache(rel);

	for (int i = 0; i < cache->ndead_pending; i++)
		if (cache->dead_blk[i] == blkno)
			return;
	if (cache->ndead_pending < LSM_DEAD_PENDING)
	{
		cache->dead_lblock[cache->ndead_pending] = lblock;
		cache->dead_blk[cache->ndead_pending] = blkno;
		cache->ndead_pending++;
	}
}

/*
 * lsm_free_dead_page -- free the sealed memtable page blkno of logical block
 * lblock if it holds no version, making the block a dead block if it has
 * LP_DEAD items (see LsmMapDeadEntry).  Returns whether it did.  The caller
 * holds the maintenance lock: no flush, compaction or VACUUM changes the
 * page or the runs meanwhile, so the copy m of the manifest it read stays
 * true.
 *
 * Why this is safe.  The page takes no insertions (sealed) and none of its
 * items is a version, so nobody can see anything at its TIDs any more; a
 * reader that follows the map finds no page, and no run holds the block
 * (checked below, so no run's copy can show through once the page's LP_DEAD
 * items stop hiding it, as they do on a page left by an interrupted flush);
 * a reader that still has the page pinned keeps it, since freeing needs a
 * cleanup lock (lsm_unmap_page).  What the page still stood for, the index
 * entries of its LP_DEAD items, the map entry stands for now: VACUUM finds
 * dead blocks in the map, deletes the index entries of all their offsets
 * and only then clears the entry (lsm_clear_dead_block), so a TID that an
 * index entry may lead to is never given to another version (TIDs are not
 * reused, and VACUUM does not truncate a table to zero blocks while a dead
 * block is left).  The block's visibility map bit stays clear until then,
 * so index-only scans look at the table for such entries and find nothing.
 */
static bool
lsm_free_dead_page(Relation rel, BlockNumber lblock, BlockNumber blkno,
				   LsmManifest m)
{
	Buffer		buf;
	Page		page;
	bool		candidate;

	if (!lsm_block_in_relation(rel, blkno))
		return false;

	/* any run, listed or retired, that may hold the block: leave it */
	for (uint32 r = 0; r < m->nruns + m->nretired; r++)
		if (m->runs[r].min_lblock <= lblock &&
			lblock <= m->runs[r].max_lblock)
			return false;

	/* still that block's sealed page without versions?  (may be anything) */
	buf = ReadBuffer(rel, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	candidate = !PageIsNew(page) &&
		LsmPageIsOfType(page, LSM_PAGE_MEM) &&
		!LsmPageIsShared(page) &&
		LsmPageGetOpaque(page)->lpo_aux == lblock &&
		(LsmPageGetOpaque(page)->lpo_flags &
		 (LSM_MEM_SEALED | LSM_MEM_NO_VERSIONS | LSM_MEM_OVERLAY)) ==
		(LSM_MEM_SEALED | LSM_MEM_NO_VERSIONS);
	UnlockReleaseBuffer(buf);
	if (!candidate)
		return false;
	return lsm_unmap_page(rel, lblock, blkno, InvalidXLogRecPtr, false, true);
}

/*
 * lsm_free_dead_pages -- free the pages lsm_note_dead_page remembered, if
 * the maintenance lock is free (otherwise they wait for the next call).
 * With no buffer locked; a pin of this backend on such a page keeps it.
 */
void
lsm_free_dead_pages(Relation rel)
{
	LsmRelCache *cache = (LsmRelCache *) rel->rd_amcache;
	BlockNumber lblocks[LSM_DEAD_PENDING];
	BlockNumber blks[LSM_DEAD_PENDING];
	int			n;
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;

	if (cache == NULL || cache->ndead_pending == 0 ||
		!RelFileNodeEquals(cache->node, rel->rd_node) ||
		RecoveryInProgress() || IsInParallelMode() || !IsTransactionState())
		return;
	if (!lsm_maint_lock(rel, false))
		return;
	n = cache->ndead_pending;
	memcpy(lblocks, cache->dead_lblock, n * sizeof(BlockNumber));
	memcpy(blks, cache->dead_blk, n * sizeof(BlockNumber));
	cache->ndead_pending = 0;
	/* the runs, fixed while we hold the maintenance lock */
	(void) lsm_manifest_read(rel, m);
	for (int i = 0; i < n; i++)
		(void) lsm_free_dead_page(rel, lblocks[i], blks[i], m);
	lsm_maint_unlock(rel);
}

/*
 * lsm_clear_dead_block -- VACUUM has deleted the index entries of offsets
 * 1 .. maxoff of the dead block lblock: the block becomes an ordinary block
 * without a page, all-visible.  One generic WAL record covers {metapage or
 * MAP page, visibility map page}.  Returns whether the entry was still that
 * dead block.
 */
bool
lsm_clear_dead_block(Relation rel, BlockNumber lblock, OffsetNumber maxoff)
{
	Buffer		vmbuf;
	Buffer		metabuf;
	Buffer		leafbuf;
	BlockNumber *entry;
	LsmMapPos	pos;
	bool		done = false;

	vmbuf = lsm_vm_pin(rel, lblock, true);
	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(metabuf))
	{
		ReleaseBuffer(vmbuf);
		return false;
	}
	entry = lsm_lock_map_entry(rel, metabuf, lblock, &pos, &leafbuf);
	if (entry != NULL && *entry == LsmMapDeadEntry(maxoff))
	{
		GenericXLogState *state;

		LockBuffer(vmbuf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(rel);
		if (pos.direct)
			LsmPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0))->direct[pos.index] =
				InvalidBlockNumber;
		else
			LsmPageGetMapArray(GenericXLogRegisterBuffer(state, leafbuf, 0))[pos.index] =
				InvalidBlockNumber;
		lsm_vm_set_freed_in_record(state, lblock, vmbuf);
		GenericXLogFinish(state);
		LockBuffer(vmbuf, BUFFER_LOCK_UNLOCK);
		done = true;
	}
	if (BufferIsValid(leafbuf))
		UnlockReleaseBuffer(leafbuf);
	UnlockReleaseBuffer(metabuf);
	ReleaseBuffer(vmbuf);
	return done;
}

/*
 * lsm_map_dead_blocks -- the dead blocks of the map, in logical block
 * order, in palloc'd arrays *lblocks and *maxoffs; returns how many.
 */
int
lsm_map_dead_blocks(Relation rel, BlockNumber **lblocks, OffsetNumber **maxoffs)
{
	BlockNumber nl = lsm_get_nlblocks(rel);
	BlockNumber *entries = palloc(Max(LSM_META_DIRECT, LSM_MAP_ENTRIES) *
								  sizeof(BlockNumber));
	int			cap = 16;
	int			n = 0;
	uint64		lb = 0;

	*lblocks = palloc(cap * sizeof(BlockNumber));
	*maxoffs = palloc(cap * sizeof(OffsetNumber));
	while (lb < nl)
	{
		BlockNumber first;
		int			nent = lsm_map_read_unit_raw(rel, (BlockNumber) lb,
												 entries, &first);

		if (nent == 0)
		{
			if (lb < LSM_META_DIRECT)
				break;			/* no metapage */
			lb = (uint64) first + LSM_MAP_ENTRIES;	/* no MAP page */
			continue;
		}
		for (int i = 0; i < nent && (uint64) first + i < nl; i++)
		{
			if (!LsmMapEntryIsDead(entries[i]))
				continue;
			if (n == cap)
			{
				cap *= 2;
				*lblocks = repalloc(*lblocks, cap * sizeof(BlockNumber));
				*maxoffs = repalloc(*maxoffs, cap * sizeof(OffsetNumber));
			}
			(*lblocks)[n] = first + i;
			(*maxoffs)[n] = LsmMapDeadMaxOff(entries[i]);
			n++;
		}
		lb = (uint64) first + nent;
	}
	pfree(entries);
	return n;
}

/*
 * lsm_free_run_page -- turn a page of a run that is no longer listed into
 * a free page.  Returns the next index page if it was an index page.
 */
BlockNumber
lsm_free_run_page(Relation rel, BlockNumber blkno, uint32 run_id)
{
	Buffer		buf;
	Page		page;
	BlockNumber next = InvalidBlockNumber;
	GenericXLogState *state;
	uint8		type;

	if (blkno >= lsm_physical_nblocks(rel))
		return InvalidBlockNumber;
	buf = ReadBuffer(rel, blkno);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	if (PageIsNew(page) ||
		((PageHeader) page)->pd_special != BLCKSZ - LSM_SPECIAL_SIZE ||
		LsmPageGetOpaque(page)->lpo_page_id != LSM_PAGE_ID ||
		LsmPageGetOpaque(page)->lpo_aux != run_id)
	{
		UnlockReleaseBuffer(buf);
		return InvalidBlockNumber;
	}
	type = LsmPageGetOpaque(page)->lpo_type;
	if (type != LSM_PAGE_RUN_DATA && type != LSM_PAGE_RUN_INDEX &&
		type != LSM_PAGE_RUN_BLOOM)
	{
		UnlockReleaseBuffer(buf);
		return InvalidBlockNumber;
	}
	if (type == LSM_PAGE_RUN_INDEX)
		next = ((LsmRunIndexHeader *) PageGetContents(page))->next;

	state = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	lsm_init_free_page(page, type);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	lsm_record_free_page(rel, blkno);
	return next;
}

/*
 * lsm_vm_set_run_blocks -- after a compaction that merged every run: set
 * the visibility map bit of each logical block that has no memtable page
 * and no version in the runs that some snapshot might not see (those are
 * listed, sorted, in notvisible[]).  Such a block's versions are all in
 * the one remaining run, frozen or older than every snapshot, so an
 * index-only scan need not visit it.
 *
 * The metapage is held exclusively throughout, so no overlay page can be
 * created meanwhile (creating one clears the bit, after the metapage, in
 * the same lock order: metapage, map pages, visibility map page).  The
 * caller has logged the recovery-conflict horizon.
 */
void
lsm_vm_set_run_blocks(Relation rel, const BlockNumber *notvisible, int nnot)
{
	Buffer		metabuf;
	LsmMetaPage meta;
	BlockNumber nl;
	int			si = 0;
	Buffer		vmbuf = InvalidBuffer;
	GenericXLogState *state = NULL;
	BlockNumber leafno_cached = InvalidBlockNumber;
	BlockNumber *leaf = palloc(LSM_MAP_ENTRIES * sizeof(BlockNumber));
	bool		leaf_valid = false;

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(metabuf))
		return;
	meta = LsmPageGetMeta(BufferGetPage(metabuf));
	nl = meta->next_lblock;
	for (BlockNumber lb = 0; lb < nl; lb++)
	{
		LsmMapPos	pos;
		BlockNumber mapped;

		while (si < nnot && notvisible[si] < lb)
			si++;
		if (si < nnot && notvisible[si] == lb)
			continue;
		lsm_map_pos(lb, &pos);
		if (pos.direct)
			mapped = meta->direct[pos.index];
		else
		{
			if (leafno_cached != pos.leafno)
			{
				BlockNumber dirblk = pos.dirslot < meta->nmapdir ?
				meta->mapdir[pos.dirslot] : InvalidBlockNumber;
				BlockNumber leafblk = InvalidBlockNumber;

				leaf_valid = false;
				if (dirblk != InvalidBlockNumber)
					leafblk = lsm_read_map_entry(rel, dirblk, LSM_PAGE_MAPDIR,
												 pos.dirslot, pos.leafidx, NULL);
				if (leafblk != InvalidBlockNumber && leafblk != InvalidBlockNumber - 1)
				{
					Buffer		lbuf = ReadBuffer(rel, leafblk);

					LockBuffer(lbuf, BUFFER_LOCK_SHARE);
					lsm_verify_page(rel, lbuf, LSM_PAGE_MAP);
					memcpy(leaf, LsmPageGetMapArray(BufferGetPage(lbuf)),
						   LSM_MAP_ENTRIES * sizeof(BlockNumber));
					UnlockReleaseBuffer(lbuf);
					leaf_valid = true;
				}
				leafno_cached = pos.leafno;
			}
			mapped = leaf_valid ? leaf[pos.index] : InvalidBlockNumber;
		}
		if (mapped != InvalidBlockNumber)
			continue;

		/* the block's map page, in a record of its own */
		if (BufferIsValid(vmbuf) &&
			BufferGetBlockNumber(vmbuf) != lsm_vm_block_of(lb))
		{
			GenericXLogFinish(state);
			UnlockReleaseBuffer(vmbuf);
			vmbuf = InvalidBuffer;
		}
		if (!BufferIsValid(vmbuf))
		{
			vmbuf = lsm_vm_pin(rel, lb, true);
			LockBuffer(vmbuf, BUFFER_LOCK_EXCLUSIVE);
			state = GenericXLogStart(rel);
		}
		lsm_vm_set_freed_in_record(state, lb, vmbuf);
	}
	if (BufferIsValid(vmbuf))
	{
		GenericXLogFinish(state);
		UnlockReleaseBuffer(vmbuf);
	}
	UnlockReleaseBuffer(metabuf);
	pfree(leaf);
}

/*
 * lsm_maybe_flush -- at the start of an insertion, with no buffer locked:
 * if this backend saw the memtable grow past lsm.memtable_flush_pages,
 * flush it (if no other flush, compaction or VACUUM runs) and let the
 * policy compact.  When little could be flushed (the versions are not
 * committed yet, e.g. in a long COPY), the next try waits until the
 * memtable has grown by another quarter of the threshold.
 */
void
lsm_maybe_flush(Relation rel)
{
	LsmRelCache *c;
	Buffer		metabuf;
	uint32		mem_pages = 0;
	uint32		noverlay = 0;
	int			flushed;
	uint32		step;

	/* the table's own settings; may process invalidations (rd_amcache) */
	lsm_settings_load(rel);
	lsm_free_dead_pages(rel);
	c = (LsmRelCache *) rel->rd_amcache;
	if (c == NULL || !c->flush_wanted)
		return;
	c->flush_wanted = false;
	flushed = lsm_flush(rel, false, NULL);
	if (flushed > 0)
		(void) lsm_compact_runs(rel, false, false);
	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
	if (BufferIsValid(metabuf))
	{
		mem_pages = LsmPageGetMeta(BufferGetPage(metabuf))->mem_pages;
		noverlay = LsmPageGetMeta(BufferGetPage(metabuf))->overlay_pages;
		UnlockReleaseBuffer(metabuf);
	}

	/*
	 * Next try after another quarter of the threshold.  If this one found
	 * little to flush (a long transaction's own rows: a big COPY), wait for
	 * the memtable to grow by a quarter of its size instead, so that the
	 * tries, each of which looks at the pages, cost O(log) of the load
	 * rather than O(n) (a 10M-row COPY made 60 of them, 15 % of its time).
	 */
	step = Max(lsm_settings(rel).memtable_flush_pages / 4, 1);
	if ((uint32) flushed < step)
		step = Max(step, mem_pages / 4);
	c = lsm_get_cache(rel);
	c->flush_next_at = mem_pages + step;

	/*
	 * Likewise for overlay pages: if the flush could not take them (a long
	 * DELETE's own copies), wait for their number to grow by a quarter.
	 */
	step = Max(lsm_settings(rel).memtable_flush_overlay_pages, 1);
	if ((uint32) flushed < step)
		step = Max(step, noverlay / 4);
	c->overlay_next_at = noverlay + step;
}

/*
 * lsm_move_page -- move the memtable, map, map directory or manifest page
 * at blkno to the lowest free page below it (lsm_shrink).  Returns false
 * if there is no such page, or blkno holds something that cannot move.
 *
 * Only under lsm_shrink's AccessExclusiveLock and maintenance lock: nobody
 * else reads or changes the pages meanwhile.  Locks are still taken in the
 * usual order (metapage, map directory, map page, the page itself, then the
 * free page), and one generic WAL record covers the whole move: the
 * pointer to the page (in the metapage or a map page), the copy, and the
 * old page turned into a free page.  A memtable page keeps its logical
 * block, so no TID changes.
 */
bool
lsm_move_page(Relation rel, BlockNumber blkno)
{
	Buffer		metabuf;
	Buffer		parentbuf = InvalidBuffer;
	Buffer		oldbuf;
	Buffer		newbuf;
	Page		page;
	uint8		type;
	uint32		aux;
	int			parent_index = -1;	/* entry in parentbuf's map array */
	enum
	{
		IN_DIRECT, IN_MAPDIR_SLOT, IN_MANIFEST, IN_MAP_ARRAY
	}			where = IN_MANIFEST;
	GenericXLogState *state;
	LsmMetaPage meta;
	PGAlignedBlock copy;

	/* what is the page?  (peek; verified again under the locks below) */
	oldbuf = ReadBuffer(rel, blkno);
	LockBuffer(oldbuf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(oldbuf);
	if (PageIsNew(page) ||
		((PageHeader) page)->pd_special != BLCKSZ - LSM_SPECIAL_SIZE ||
		LsmPageGetOpaque(page)->lpo_page_id != LSM_PAGE_ID)
	{
		UnlockReleaseBuffer(oldbuf);
		return false;
	}
	type = LsmPageGetOpaque(page)->lpo_type;
	aux = LsmPageGetOpaque(page)->lpo_aux;
	/* a shared overlay page has many pointers to it: it stays */
	if (type == LSM_PAGE_MEM && LsmPageIsShared(page))
		type = LSM_PAGE_FREE;
	UnlockReleaseBuffer(oldbuf);
	if (type != LSM_PAGE_MEM && type != LSM_PAGE_MAP &&
		type != LSM_PAGE_MAPDIR && type != LSM_PAGE_MANIFEST)
		return false;

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(metabuf))
		return false;
	meta = LsmPageGetMeta(BufferGetPage(metabuf));

	/* find the one pointer to the page */
	if (type == LSM_PAGE_MANIFEST)
	{
		where = IN_MANIFEST;
		if (meta->manifest != blkno)
			goto cannot;
	}
	else if (type == LSM_PAGE_MAPDIR)
	{
		where = IN_MAPDIR_SLOT;
		if (aux >= meta->nmapdir || aux >= LSM_META_MAPDIR_SLOTS ||
			meta->mapdir[aux] != blkno)
			goto cannot;
	}
	else
	{
		LsmMapPos	pos;
		BlockNumber dirblk;
		BlockNumber leafblk;

		if (type == LSM_PAGE_MAP)
		{
			/* a MAP page is found through its map directory page */
			if (aux < LSM_META_DIRECT ||
				(aux - LSM_META_DIRECT) % LSM_MAP_ENTRIES != 0)
				goto cannot;
			lsm_map_pos(aux, &pos);
		}
		else
		{
			if (aux >= meta->next_lblock)
				goto cannot;
			lsm_map_pos(aux, &pos);
			if (pos.direct)
			{
				where = IN_DIRECT;
				if (meta->direct[pos.index] != blkno)
					goto cannot;
				goto found;
			}
		}
		dirblk = pos.dirslot < meta->nmapdir ? meta->mapdir[pos.dirslot] :
			InvalidBlockNumber;
		if (dirblk == InvalidBlockNumber)
			goto cannot;
		parentbuf = ReadBuffer(rel, dirblk);
		LockBuffer(parentbuf, BUFFER_LOCK_EXCLUSIVE);
		lsm_verify_page(rel, parentbuf, LSM_PAGE_MAPDIR);
		leafblk = LsmPageGetMapArray(BufferGetPage(parentbuf))[pos.leafidx];
		where = IN_MAP_ARRAY;
		if (type == LSM_PAGE_MAP)
		{
			if (leafblk != blkno)
				goto cannot;
			parent_index = pos.leafidx;
		}
		else
		{
			/* a memtable page: its MAP page is the parent */
			UnlockReleaseBuffer(parentbuf);
			parentbuf = InvalidBuffer;
			if (leafblk == InvalidBlockNumber)
				goto cannot;
			parentbuf = ReadBuffer(rel, leafblk);
			LockBuffer(parentbuf, BUFFER_LOCK_EXCLUSIVE);
			lsm_verify_page(rel, parentbuf, LSM_PAGE_MAP);
			if (LsmPageGetMapArray(BufferGetPage(parentbuf))[pos.index] != blkno)
				goto cannot;
			parent_index = pos.index;
		}
	}

found:
	oldbuf = ReadBuffer(rel, blkno);
	LockBuffer(oldbuf, BUFFER_LOCK_EXCLUSIVE);
	if (type == LSM_PAGE_MANIFEST)
		lsm_manifest_verify(rel, oldbuf);
	else if (type == LSM_PAGE_MEM)
		lsm_verify_mem_page(rel, oldbuf, aux);
	else
		lsm_verify_page(rel, oldbuf, type);
	newbuf = lsm_shrink_alloc(rel, blkno);
	if (!BufferIsValid(newbuf))
	{
		UnlockReleaseBuffer(oldbuf);
		goto cannot;
	}
	memcpy(copy.data, BufferGetPage(oldbuf), BLCKSZ);

	state = GenericXLogStart(rel);
	meta = LsmPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	switch (where)
	{
		case IN_MANIFEST:
			meta->manifest = BufferGetBlockNumber(newbuf);
			break;
		case IN_MAPDIR_SLOT:
			meta->mapdir[aux] = BufferGetBlockNumber(newbuf);
			break;
		case IN_DIRECT:
			meta->direct[aux] = BufferGetBlockNumber(newbuf);
			break;
		case IN_MAP_ARRAY:
			page = GenericXLogRegisterBuffer(state, parentbuf, 0);
			LsmPageGetMapArray(page)[parent_index] = BufferGetBlockNumber(newbuf);
			break;
	}
	if (type == LSM_PAGE_MEM && meta->insert_page == blkno)
		meta->insert_page = BufferGetBlockNumber(newbuf);
	page = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
	memcpy(page, copy.data, BLCKSZ);
	page = GenericXLogRegisterBuffer(state, oldbuf, GENERIC_XLOG_FULL_IMAGE);
	lsm_init_free_page(page, type);
	GenericXLogFinish(state);

	UnlockReleaseBuffer(newbuf);
	UnlockReleaseBuffer(oldbuf);
	if (BufferIsValid(parentbuf))
		UnlockReleaseBuffer(parentbuf);
	UnlockReleaseBuffer(metabuf);
	RecordFreeIndexPage(rel, blkno);
	return true;

cannot:
	if (BufferIsValid(parentbuf))
		UnlockReleaseBuffer(parentbuf);
	UnlockReleaseBuffer(metabuf);
	return false;
}
