/*-------------------------------------------------------------------------
 *
 * lsm_internal.h
 *	  Internal declarations of the lsm table access method.
 *
 * Audience: the .c files under src/lsm/.  The SQL-visible surface is in
 * lsm.h; the on-disk layout in lsm_page.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LSM_INTERNAL_H
#define LSM_INTERNAL_H

#include "access/generic_xlog.h"
#include "access/heapam.h"
#include "access/multixact.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "storage/buf.h"
#include "storage/lmgr.h"
#include "storage/bufmgr.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#include "lsm/lsm_page.h"

/*
 * Report a corrupted page of an lsm table: always an ERROR naming the
 * relation and the block, never a crash.  "detail" is a parenthesised
 * errdetail argument list.
 */
#define LSM_CORRUPT(rel, blkno, detail) \
	ereport(ERROR, \
			(errcode(ERRCODE_DATA_CORRUPTED), \
			 errmsg("lsm table \"%s\" is corrupted at block %u", \
					RelationGetRelationName(rel), (unsigned) (blkno)), \
			 errdetail detail))

/*
 * TIDs set on the per-row paths of scans.  ItemPointerSet stores the block
 * number as two 16-bit halves; a reader that soon loads them as one word
 * (ExecStoreBufferHeapTuple copies t_self that way, and so does a compiler
 * reloading a spilled TID) then stalls on the CPU's store-to-load
 * forwarding, which cost more than the rest of a scan's step.  So the
 * block part is made once as a 32-bit word (lsm_blockword) and stored
 * whole (lsm_tid_set_word).
 */
static inline uint32
lsm_blockword(BlockNumber blkno)
{
	BlockIdData bid;
	uint32		word;

	BlockIdSet(&bid, blkno);
	memcpy(&word, &bid, sizeof(uint32));
	return word;
}

static inline void
lsm_tid_set_word(ItemPointer tid, uint32 blockword, OffsetNumber off)
{
	memcpy(&tid->ip_blkid, &blockword, sizeof(uint32));
	tid->ip_posid = off;
}

/* ----------------------------------------------------------------
 * lsm_meta.c: metapage, map and page allocation
 * ----------------------------------------------------------------
 */
extern void lsm_init_page(Page page, uint8 type, uint32 aux);
extern void lsm_init_free_page(Page page, uint8 prev_type);
extern bool lsm_move_page(Relation rel, BlockNumber blkno);
extern void lsm_init_metapage(Page page);
extern void lsm_verify_page(Relation rel, Buffer buf, uint8 type);
extern void lsm_verify_mem_page(Relation rel, Buffer buf, BlockNumber lblock);
extern BlockNumber lsm_physical_nblocks(Relation rel);
extern bool lsm_block_in_relation(Relation rel, BlockNumber blkno);
extern void lsm_ensure_metapage(Relation rel);
extern Buffer lsm_read_metapage(Relation rel, int lockmode);
extern BlockNumber lsm_get_nlblocks(Relation rel);
extern BlockNumber lsm_get_scan_range(Relation rel, BlockNumber *empty_below);
extern BlockNumber lsm_meta_empty_below(Relation rel, LsmMetaPage meta);
extern void lsm_advance_empty_below(Relation rel);
extern BlockNumber lsm_map_lookup(Relation rel, BlockNumber lblock);
extern BlockNumber lsm_map_lookup_lock(Relation rel, BlockNumber lblock,
									   BufferAccessStrategy strategy,
									   int lockmode, Buffer *buf);
extern int	lsm_map_read_unit(Relation rel, BlockNumber lblock,
							  BlockNumber *entries, BlockNumber *first);
extern int	lsm_map_read_unit_raw(Relation rel, BlockNumber lblock,
								  BlockNumber *entries, BlockNumber *first);
extern Buffer lsm_new_mem_page(Relation rel, BufferAccessStrategy strategy);
extern BlockNumber lsm_reserve_lblocks(Relation rel, BlockNumber n);
extern Buffer lsm_get_new_page(Relation rel);
extern Buffer lsm_get_overlay_page(Relation rel, BlockNumber lblock, Size len);
extern BlockNumber lsm_map_range_first(BlockNumber lblock);
extern bool lsm_free_shared_page(Relation rel, BlockNumber first,
								 BlockNumber blkno, XLogRecPtr flushed_lsn);
extern void lsm_vm_set_run_blocks(Relation rel, const BlockNumber *notvisible,
								  int nnot);
extern bool lsm_free_flushed_page(Relation rel, BlockNumber lblock,
								  BlockNumber blkno, XLogRecPtr lsn);
extern BlockNumber lsm_free_run_page(Relation rel, BlockNumber blkno,
									 uint32 run_id);
extern bool lsm_free_mem_page(Relation rel, BlockNumber lblock,
							  BlockNumber blkno);
extern void lsm_note_dead_page(Relation rel, BlockNumber lblock,
							   BlockNumber blkno);
extern void lsm_free_dead_pages(Relation rel);
extern bool lsm_clear_dead_block(Relation rel, BlockNumber lblock,
								 OffsetNumber maxoff);
extern int	lsm_map_dead_blocks(Relation rel, BlockNumber **lblocks,
								OffsetNumber **maxoffs);
extern void lsm_invalidate_cache(Relation rel);
extern void lsm_forget_map_pages(Relation rel);
extern const char *lsm_page_type_name(uint8 type);
extern bool lsm_pages_may_vanish(void);
extern bool lsm_block_known_empty(Relation rel, BlockNumber lblock);
extern void lsm_note_empty_block(Relation rel, BlockNumber lblock,
								 BlockNumber blkno);
extern void lsm_store_tuple_copy(HeapTuple tuple, TupleTableSlot *slot,
								 Relation rel);

/* ----------------------------------------------------------------
 * lsm_memtable.c: memtable pages
 * ----------------------------------------------------------------
 */
extern bool lsm_page_has_room(Page page, Size len, Size reserve);
extern Size lsm_fillfactor_reserve(Relation rel);
extern HeapTupleHeader lsm_page_add_tuple(Page page, HeapTuple tuple);
extern HeapTupleHeader lsm_page_put_tuple(Relation rel, Page page,
										  BlockNumber lblock, OffsetNumber off,
										  HeapTupleHeader tup, uint32 len);
extern bool lsm_shared_page_has_room(Page page, Size len);
extern LsmSharedItemData *lsm_shared_item(Relation rel, BlockNumber blkno,
										  Page page, OffsetNumber lp);
extern OffsetNumber lsm_page_find(Relation rel, BlockNumber blkno, Page page,
								  BlockNumber lblock, OffsetNumber off);
extern bool lsm_page_holds(Relation rel, Buffer buf, BlockNumber lblock,
						   OffsetNumber off);
extern Size lsm_shared_block_bytes(Relation rel, Buffer buf, BlockNumber lblock);
extern OffsetNumber lsm_page_block_items(Relation rel, Buffer buf,
										 BlockNumber lblock, OffsetNumber *lps);
extern bool lsm_page_item_tid(Relation rel, BlockNumber blkno, Page page,
							  OffsetNumber lp, ItemPointer tid);
extern bool lsm_version_moved(Buffer buf, HeapTupleHeader tup);
extern void lsm_item_set_dead(Page page, OffsetNumber lp);
extern void lsm_item_set_tombstone(Page page, OffsetNumber lp);
extern Buffer lsm_get_insert_buffer(Relation rel, Size len,
									BulkInsertState bistate);
extern Buffer lsm_read_mem_page(Relation rel, BlockNumber lblock,
								BufferAccessStrategy strategy);
extern Buffer lsm_read_mem_page_locked(Relation rel, BlockNumber lblock,
									   BufferAccessStrategy strategy,
									   int lockmode);
extern Buffer lsm_read_mem_page_hint(Relation rel, BlockNumber lblock,
									 BlockNumber blkno,
									 BufferAccessStrategy strategy,
									 int lockmode);
extern bool lsm_page_get_tuple(Relation rel, Buffer buf, OffsetNumber lp,
							   HeapTuple tuple);
extern bool lsm_page_get_version(Relation rel, Buffer buf, ItemPointer tid,
								 HeapTuple tuple);
extern bool lsm_fetch_tuple(Relation rel, ItemPointer tid, Buffer *buf,
							HeapTuple tuple);
extern void lsm_check_tuple_size(Relation rel, HeapTuple tuple);

#define LSM_FETCH_NONE	0
#define LSM_FETCH_MEM	1
#define LSM_FETCH_RUN	2
struct LsmRunSet;
extern int	lsm_fetch_any(Relation rel, ItemPointer tid,
						  struct LsmRunSet **rsp, MemoryContext mcxt,
						  Buffer *buf, HeapTuple tuple);

/* ----------------------------------------------------------------
 * lsm_visibility.c: MVCC rules (heap's, without unlogged hint bits)
 * ----------------------------------------------------------------
 */
extern bool lsm_tuple_satisfies(HeapTuple htup, Snapshot snapshot);
extern TM_Result lsm_satisfies_update(HeapTuple htup, CommandId curcid);
extern HTSV_Result lsm_satisfies_vacuum_horizon(HeapTuple htup,
												TransactionId *dead_after);
extern HTSV_Result lsm_satisfies_vacuum(HeapTuple htup,
										TransactionId OldestXmin);
extern bool lsm_tuple_is_surely_dead(HeapTuple htup, GlobalVisState *vistest);
extern bool lsm_xmax_is_invalid(HeapTupleHeader tup);
extern void lsm_serializable_conflict_out(bool visible, Relation rel,
										  HeapTuple tuple, Snapshot snapshot);

/* ----------------------------------------------------------------
 * lsm_tuplock.c: row locks, MultiXacts, update chains
 * ----------------------------------------------------------------
 */
extern void lsm_compute_new_xmax(TransactionId xmax, uint16 old_infomask,
								 uint16 old_infomask2,
								 TransactionId add_to_xmax,
								 LockTupleMode mode, bool is_update,
								 TransactionId *result_xmax,
								 uint16 *result_infomask,
								 uint16 *result_infomask2);
extern void lsm_multixact_hint_bits(MultiXactId multi, uint16 *new_infomask,
									uint16 *new_infomask2);
extern bool lsm_multixact_conflicts(MultiXactId multi, uint16 infomask,
									LockTupleMode lockmode,
									bool *current_is_member);
extern bool lsm_multixact_wait(MultiXactId multi, MultiXactStatus status,
							   uint16 infomask, bool nowait, Relation rel,
							   ItemPointer ctid, XLTW_Oper oper,
							   int *remaining);
extern bool lsm_acquire_tuplock(Relation rel, ItemPointer tid,
								LockTupleMode mode, LockWaitPolicy policy,
								bool *have_tuple_lock);
extern void lsm_release_tuplock(Relation rel, ItemPointer tid,
								LockTupleMode mode);
extern bool lsm_xmax_infomask_changed(uint16 new_infomask,
									  uint16 old_infomask);
extern MultiXactStatus lsm_mxact_status_for_lock(LockTupleMode mode,
												 bool is_update);
extern TM_Result lsm_lock_tuple(Relation rel, HeapTuple tuple, CommandId cid,
								LockTupleMode mode, LockWaitPolicy policy,
								bool follow_updates, Buffer *buffer,
								TM_FailureData *tmfd);
extern TM_Result lsm_tuple_lock(Relation rel, ItemPointer tid,
								Snapshot snapshot, TupleTableSlot *slot,
								CommandId cid, LockTupleMode mode,
								LockWaitPolicy wait_policy, uint8 flags,
								TM_FailureData *tmfd);

/* ----------------------------------------------------------------
 * lsm_modify.c: insert, delete, update
 * ----------------------------------------------------------------
 */
extern void lsm_tuple_insert(Relation rel, TupleTableSlot *slot,
							 CommandId cid, int options,
							 BulkInsertState bistate);
extern void lsm_tuple_insert_speculative(Relation rel, TupleTableSlot *slot,
										 CommandId cid, int options,
										 BulkInsertState bistate,
										 uint32 specToken);
extern void lsm_tuple_complete_speculative(Relation rel,
										   TupleTableSlot *slot,
										   uint32 specToken, bool succeeded);
extern void lsm_multi_insert(Relation rel, TupleTableSlot **slots,
							 int ntuples, CommandId cid, int options,
							 BulkInsertState bistate);
extern TM_Result lsm_tuple_delete(Relation rel, ItemPointer tid,
								  CommandId cid, Snapshot snapshot,
								  Snapshot crosscheck, bool wait,
								  TM_FailureData *tmfd, bool changingPart);
extern TM_Result lsm_tuple_update(Relation rel, ItemPointer otid,
								  TupleTableSlot *slot, CommandId cid,
								  Snapshot snapshot, Snapshot crosscheck,
								  bool wait, TM_FailureData *tmfd,
								  LockTupleMode *lockmode,
								  bool *update_indexes);
extern void lsm_check_publication(Relation rel);
extern void lsm_fill_tmfd(TM_Result result, HeapTuple tuple,
						  TM_FailureData *tmfd);
extern HeapTuple lsm_prepare_insert(Relation rel, HeapTuple tup,
									TransactionId xid, CommandId cid,
									int options);

/* ----------------------------------------------------------------
 * lsm_scan.c: sequential, TID-range, bitmap, sample and analyze scans
 * ----------------------------------------------------------------
 */
/*
 * Scan descriptor of lsm tables (sequential, TID-range, bitmap, sample and
 * ANALYZE scans).  Index builds look at rs_cbuf/rs_ctup directly.
 */
typedef struct LsmScanDescData
{
	TableScanDescData rs_base;	/* AM-independent part; must be first */

	BlockNumber rs_nblocks;		/* logical blocks when the scan started */
	BlockNumber rs_empty_below; /* and meta->empty_below: none below it has
								 * a version (lsm_get_scan_range) */
	BlockNumber rs_startblock;	/* first logical block to scan */
	BlockNumber rs_numblocks;	/* blocks to scan, or InvalidBlockNumber */
	BufferAccessStrategy rs_strategy;

	/* position */
	bool		rs_inited;
	BlockNumber rs_cblock;		/* current logical block */
	Buffer		rs_cbuf;		/* its memtable page, pinned, or Invalid */
	HeapTupleData rs_ctup;		/* current version */
	int			rs_cindex;		/* index into rs_vistuples */
	int			rs_ntuples;
	OffsetNumber rs_vistuples[MaxHeapTuplesPerPage];
	HeapTupleHeader rs_vistup[MaxHeapTuplesPerPage];	/* where they are */
	uint32		rs_vislen[MaxHeapTuplesPerPage];
	OffsetNumber rs_cmaxoff;	/* highest offset the block may have */

	/*
	 * Blocks whose versions are (partly) in runs: rs_cbuf is then a pin of
	 * rs_anchor (the metapage) unless the block also has an overlay page,
	 * and the versions are returned from the decoded run pages, which stay
	 * in place while the current or the previous block points into them
	 * (rs_blockgen numbers the blocks read; LsmRunChunk.hold_gen).  When
	 * the view of the runs is reloaded, the previous block's versions are
	 * copied to rs_blockbuf first (lsm_scan_save_versions).
	 */
	struct LsmRunSet *rs_runs;	/* view of the runs, made when needed */
	Buffer		rs_anchor;
	uint64		rs_blockgen;
	int			rs_prev_ntuples;	/* rs_vistup entries of the previous block */
	char	   *rs_blockbuf[2];	/* alternate between reloads */
	Size		rs_blockbuf_cap[2];
	int			rs_blockbuf_cur;

	/*
	 * On a hot standby, visible versions of memtable pages are returned
	 * from a copy of the page (lsm_scan_getpage explains why).
	 */
	char	   *rs_pagecopy[2];	/* BLCKSZ each, alternate between blocks */
	int			rs_pagecopy_cur;

	/* private copy of part of the map: where memtable pages are (hints) */
	BlockNumber rs_map_first;	/* first logical block covered */
	int			rs_map_count;	/* entries, 0 if that part has no pages */
	BlockNumber rs_map_span;	/* logical blocks the copy covers */
	bool		rs_map_valid;	/* is the copy loaded? */
	bool		rs_map_runs_fresh;	/* rs_runs brought up to date since */
	BlockNumber *rs_map;		/* the entries */

	/* parallel scans */
	ParallelBlockTableScanWorkerData *rs_parallelworkerdata;

	/* TABLESAMPLE: next block when the method has no NextSampleBlock */
	BlockNumber rs_sample_next;

	/* ANALYZE: physical block being sampled */
	OffsetNumber rs_analyze_off;
	int			rs_analyze_run;	/* >= 0: sampling a data page of this run */
	int			rs_analyze_entry;
	struct LsmRunChunk *rs_analyze_chunk;
	BlockNumber rs_analyze_lblock;	/* block whose shadow[] is known */
	bool		rs_analyze_shadow[MaxHeapTuplesPerPage + 1];
} LsmScanDescData;

typedef LsmScanDescData *LsmScanDesc;

extern TableScanDesc lsm_scan_begin(Relation rel, Snapshot snapshot,
									int nkeys, struct ScanKeyData *key,
									ParallelTableScanDesc pscan,
									uint32 flags);
extern void lsm_scan_end(TableScanDesc scan);
extern void lsm_scan_rescan(TableScanDesc scan, struct ScanKeyData *key,
							bool set_params, bool allow_strat,
							bool allow_sync, bool allow_pagemode);
extern bool lsm_scan_getnextslot(TableScanDesc scan, ScanDirection direction,
								 TupleTableSlot *slot);
extern void lsm_scan_set_tidrange(TableScanDesc scan, ItemPointer mintid,
								  ItemPointer maxtid);
extern bool lsm_scan_getnextslot_tidrange(TableScanDesc scan,
										  ScanDirection direction,
										  TupleTableSlot *slot);
extern Size lsm_parallelscan_estimate(Relation rel);
extern Size lsm_parallelscan_initialize(Relation rel,
										ParallelTableScanDesc pscan);
extern void lsm_parallelscan_reinitialize(Relation rel,
										  ParallelTableScanDesc pscan);
extern bool lsm_scan_bitmap_next_block(TableScanDesc scan,
									   struct TBMIterateResult *tbmres);
extern bool lsm_scan_bitmap_next_tuple(TableScanDesc scan,
									   struct TBMIterateResult *tbmres,
									   TupleTableSlot *slot);
extern bool lsm_scan_sample_next_block(TableScanDesc scan,
									   struct SampleScanState *scanstate);
extern bool lsm_scan_sample_next_tuple(TableScanDesc scan,
									   struct SampleScanState *scanstate,
									   TupleTableSlot *slot);
extern bool lsm_scan_analyze_next_block(TableScanDesc scan,
										BlockNumber blockno,
										BufferAccessStrategy bstrategy);
extern bool lsm_scan_analyze_next_tuple(TableScanDesc scan,
										TransactionId OldestXmin,
										double *liverows, double *deadrows,
										TupleTableSlot *slot);
extern bool lsm_tuple_tid_valid(TableScanDesc scan, ItemPointer tid);
extern void lsm_tuple_get_latest_tid(TableScanDesc scan, ItemPointer tid);
extern BlockNumber lsm_scan_get_lblocks_done(TableScanDesc scan);
extern void lsm_scan_set_range(TableScanDesc scan, BlockNumber start,
							   BlockNumber nblocks);
extern BlockNumber lsm_scan_nlblocks(TableScanDesc scan);

/* ----------------------------------------------------------------
 * lsm_index.c: index support
 * ----------------------------------------------------------------
 */
extern struct IndexFetchTableData *lsm_index_fetch_begin(Relation rel);
extern void lsm_index_fetch_reset(struct IndexFetchTableData *scan);
extern void lsm_index_fetch_end(struct IndexFetchTableData *scan);
extern bool lsm_index_fetch_tuple(struct IndexFetchTableData *scan,
								  ItemPointer tid, Snapshot snapshot,
								  TupleTableSlot *slot, bool *call_again,
								  bool *all_dead);
extern bool lsm_fetch_row_version(Relation rel, ItemPointer tid,
								  Snapshot snapshot, TupleTableSlot *slot);
extern bool lsm_tuple_satisfies_snapshot(Relation rel, TupleTableSlot *slot,
										 Snapshot snapshot);
extern TransactionId lsm_index_delete_tuples(Relation rel,
											 TM_IndexDeleteOp *delstate);
extern double lsm_index_build_range_scan(Relation table_rel,
										 Relation index_rel,
										 struct IndexInfo *index_info,
										 bool allow_sync, bool anyvisible,
										 bool progress,
										 BlockNumber start_blockno,
										 BlockNumber numblocks,
										 IndexBuildCallback callback,
										 void *callback_state,
										 TableScanDesc scan);
extern void lsm_index_validate_scan(Relation table_rel, Relation index_rel,
									struct IndexInfo *index_info,
									Snapshot snapshot,
									struct ValidateIndexState *state);

/* ----------------------------------------------------------------
 * lsm_ddl.c: storage-level DDL
 * ----------------------------------------------------------------
 */
extern void lsm_relation_set_new_filenode(Relation rel,
										  const RelFileNode *newrnode,
										  char persistence,
										  TransactionId *freezeXid,
										  MultiXactId *minmulti);
extern void lsm_relation_nontransactional_truncate(Relation rel);
extern void lsm_relation_copy_data(Relation rel, const RelFileNode *newrnode);
extern void lsm_relation_copy_for_cluster(Relation OldTable,
										  Relation NewTable,
										  Relation OldIndex, bool use_sort,
										  TransactionId OldestXmin,
										  TransactionId *xid_cutoff,
										  MultiXactId *multi_cutoff,
										  double *num_tuples,
										  double *tups_vacuumed,
										  double *tups_recently_dead);

/* ----------------------------------------------------------------
 * lsm_prune.c: opportunistic pruning of memtable pages
 * ----------------------------------------------------------------
 */
extern int	lsm_page_prune(Relation rel, Buffer buf, GlobalVisState *vistest);
extern void lsm_page_prune_opt(Relation rel, Buffer buf);
extern void lsm_prune_note_xid(TransactionId *new_prune_xid,
							   TransactionId xid);

/* ----------------------------------------------------------------
 * lsm_vacuum.c
 * ----------------------------------------------------------------
 */
extern void lsm_relation_vacuum(Relation rel, struct VacuumParams *params,
								BufferAccessStrategy bstrategy);
extern void lsm_moved_horizon(Page page, const OffsetNumber *lps, int n,
							  TransactionId *xid, MultiXactId *mxid);
extern bool lsm_moved_lower(LsmMetaPage meta, TransactionId xid,
							MultiXactId mxid, bool apply);

/* ----------------------------------------------------------------
 * lsm_handler.c
 * ----------------------------------------------------------------
 */
extern bool lsm_is_lsm_relation(Relation rel);
extern Relation lsm_open_owned(Oid relid, LOCKMODE lockmode);
extern bool lsm_analyze_is_sampling(Relation rel);
extern Oid	lsm_table_am_oid(void);

/* ----------------------------------------------------------------
 * lsm_vm.c: visibility map over logical blocks
 * ----------------------------------------------------------------
 */
extern Buffer lsm_vm_pin(Relation rel, BlockNumber lblock, bool extend);
extern BlockNumber lsm_vm_block_of(BlockNumber lblock);
extern Buffer lsm_vm_clear_prepare(Relation rel, Buffer buf);
extern void lsm_vm_clear_in_record(GenericXLogState *state, Page pagecopy,
								   Buffer vmbuf);
extern void lsm_vm_set_in_record(GenericXLogState *state, Page pagecopy,
								 Buffer vmbuf);
extern void lsm_vm_set_freed_in_record(GenericXLogState *state,
									   BlockNumber lblock, Buffer vmbuf);
extern void lsm_vm_clear_block_in_record(GenericXLogState *state,
										 BlockNumber lblock, Buffer vmbuf);
extern void lsm_vm_release(Buffer vmbuf);
extern bool lsm_vm_is_set(Relation rel, BlockNumber lblock, Buffer *vmbuf);
extern void lsm_vm_clear_range(Relation rel, BlockNumber first,
							   BlockNumber last);

/* ----------------------------------------------------------------
 * lsm_run.c: runs
 * ----------------------------------------------------------------
 */
extern PGDLLIMPORT int lsm_bloom_bits_per_key;

/* an opened run: its manifest entry and fences (backend memory) */
typedef struct LsmRun
{
	LsmManifestRun desc;
	int			nfences;		/* = data pages */
	LsmRunFence *fences;
	uint32		ndata;
	uint32		nbloom;
	uint32		bloom_nbits;
	uint32		bloom_nhash;	/* hash functions (flags masked off) */
	bool		bloom_blocked;	/* LSM_RUN_BLOOM_BLOCKED */
	bool		bloom_mix64;	/* LSM_RUN_BLOOM_MIX64 */
	BlockNumber *bloom_pages;
	uint64		nversions;
	uint64		ntombstones;
	bool		loaded;			/* a loaded run (LSM_RUN_LOADED) */
	CommandId	load_cid;		/* ... its command id */
} LsmRun;

/*
 * one decoded entry: tup == NULL for a tombstone (len 0), a dead entry
 * (len LSM_RUN_ENTRY_DEAD: a removed version whose index entries VACUUM
 * has yet to delete), or a version a lookup skipped (len
 * LSM_RUN_ENTRY_SKIPPED; lsm_run_parse_until).  Readers treat a dead entry
 * as a tombstone: nothing at that TID, and nothing older shows through.
 */
typedef struct LsmRunEntry
{
	ItemPointerData tid;
	HeapTupleHeader tup;
	uint32		len;
} LsmRunEntry;

#define LSM_RUN_ENTRY_SKIPPED	PG_UINT32_MAX
#define LSM_RUN_ENTRY_DEAD		(PG_UINT32_MAX - 1)
#define LsmRunEntryIsDead(e) \
	((e)->tup == NULL && (e)->len == LSM_RUN_ENTRY_DEAD)

/* a decoded data page */
/* an arena a scan may still point into (LsmRunChunk.kept) */
typedef struct LsmKeptArena
{
	char	   *mem;
	Size		cap;
	uint64		gen;			/* the last block that pointed into it */
} LsmKeptArena;

typedef struct LsmRunChunk
{
	MemoryContext mcxt;
	LsmRun	   *run;			/* which page this is, or NULL */
	int			pageidx;
	LsmRun	   *lookup_run;		/* or: a prefix of which page (point */
	int			lookup_pageidx; /* lookups, lsm_run_decode_for_lookup) */
	bool		lookup_single;	/* ... of which only the last entry has its
								 * version (the others: TIDs only) */
	int			nentries;
	bool		all_frozen;		/* every entry a version stored frozen (no
								 * tombstone), by the last parse: all with
								 * frozen_xmin and frozen_hint */
	TransactionId frozen_xmin;	/* FrozenTransactionId, or a loaded run's
								 * loading xid */
	uint16		frozen_hint;	/* their xmin hint bits */
	int			max_entries;
	int			scan_pos;		/* where a scan's next block starts (a hint:
								 * every entry before it is of an earlier
								 * block) */
	LsmRunEntry *entries;
	char	   *raw;
	Size		raw_cap;
	char	   *arena;
	Size		arena_cap;

	/*
	 * Scans return versions straight from the arena.  A scan sets hold_gen
	 * to the number of the block it is reading and arena_gen to it when it
	 * points into the arena; an arena that the current or the previous
	 * block points into is not overwritten by the next decode but kept
	 * (with its block number) until two blocks later (lsm_run_parse_until).
	 * hold_gen 0: no scan holds anything (every other user).
	 */
	uint64		hold_gen;
	uint64		arena_gen;
	int			nkept;
	int			maxkept;
	struct LsmKeptArena *kept;
} LsmRunChunk;

typedef struct LsmRunWriter LsmRunWriter;

extern LsmRunWriter *lsm_run_writer_begin(Relation rel, uint32 run_id,
										  uint32 level,
										  uint64 expected_entries);
extern LsmRunWriter *lsm_run_writer_begin_load(Relation rel, uint32 run_id,
											   TransactionId xid,
											   CommandId cid);
extern bool lsm_run_takes(HeapTupleHeader tup, uint32 len);
extern void lsm_run_writer_add(LsmRunWriter *w, ItemPointer tid,
							   HeapTupleHeader tup, uint32 len, bool frozen);
extern void lsm_run_writer_add_dead(LsmRunWriter *w, ItemPointer tid);
extern uint64 lsm_run_writer_count(LsmRunWriter *w);
extern TransactionId lsm_run_writer_newest_frozen(LsmRunWriter *w);
extern bool lsm_run_writer_finish(LsmRunWriter *w, LsmManifestRun *desc);
extern LsmRun *lsm_run_open(Relation rel, const LsmManifestRun *desc,
							MemoryContext mcxt);
extern bool lsm_run_may_contain(Relation rel, LsmRun *run, ItemPointer tid);
extern double lsm_run_bloom_fpr(const LsmRun *run, uint64 nentries);
extern int	lsm_run_find_page(const LsmRun *run, BlockNumber lblock,
							  OffsetNumber off);
extern void lsm_run_decode(Relation rel, LsmRun *run, int pageidx,
						   LsmRunChunk *chunk);
extern void lsm_run_decode_buffer(Relation rel, Buffer buf,
								  LsmRunChunk *chunk, const LsmRun *run);

/*
 * Is a version read from a run, with this raw xmin and these infomask bits,
 * visible to the MVCC snapshot without the full check?  Runs hold no xmax,
 * so it is if it is frozen, or if its xmin is hinted committed (a loaded
 * run's, lsm_run_parse_until) and older than every transaction the
 * snapshot sees as running.
 */
static inline bool
lsm_run_xmin_visible_fast(TransactionId xmin, uint16 infomask,
						  Snapshot snapshot)
{
	if ((infomask & HEAP_XMIN_FROZEN) == HEAP_XMIN_FROZEN)
		return true;
	return snapshot->snapshot_type == SNAPSHOT_MVCC &&
		(infomask & HEAP_XMIN_COMMITTED) != 0 &&
		TransactionIdPrecedes(xmin, snapshot->xmin);
}

/* The same for a version (lsm_run_xmin_visible_fast). */
static inline bool
lsm_run_version_visible_fast(HeapTupleHeader t, Snapshot snapshot)
{
	return lsm_run_xmin_visible_fast(HeapTupleHeaderGetRawXmin(t),
									 t->t_infomask, snapshot);
}

/*
 * Are all versions of chunk's last parse visible to the MVCC snapshot
 * without the full check?  They then have the same xmin and hint bits.
 */
static inline bool
lsm_run_chunk_all_visible(const LsmRunChunk *chunk, Snapshot snapshot)
{
	return chunk->all_frozen && IsMVCCSnapshot(snapshot) &&
		lsm_run_xmin_visible_fast(chunk->frozen_xmin, chunk->frozen_hint,
								  snapshot);
}
extern bool lsm_run_load_pending(const LsmRun *run);
extern bool lsm_run_load_aborted(const LsmRun *run);
extern int	lsm_run_parse(const char *raw, uint32 raw_len, uint32 nentries,
						  LsmRunChunk *chunk);
extern int	lsm_run_chunk_find(const LsmRunChunk *chunk, ItemPointer tid);
extern bool lsm_run_chunk_owns(LsmRunChunk *chunk, const void *p);
extern LsmRunEntry *lsm_run_lookup(Relation rel, LsmRun *run, ItemPointer tid,
									LsmRunChunk *chunk, LsmRunChunk *alt,
									bool use_bloom);
extern void lsm_run_chunk_init(LsmRunChunk *chunk, MemoryContext mcxt);
extern void lsm_run_chunk_free(LsmRunChunk *chunk);

/* ----------------------------------------------------------------
 * lsm_manifest.c: the list of runs, and a reader's view of it
 * ----------------------------------------------------------------
 */

/* the runs a reader uses, newest first, with one decode cache each */
typedef struct LsmRunSet
{
	MemoryContext mcxt;
	uint64		generation;
	uint64		cache_epoch;	/* of the run cache its runs come from */
	BlockNumber manifest_blk;	/* the manifest page, once there is one */
	int			nruns;
	LsmRun	  **runs;			/* shared, owned by the run cache */
	LsmRunChunk *chunks;
	LsmRunChunk *alt;			/* second chunk per run (cached views), or
								 * NULL: see lsm_run_lookup */
	bool		two_way;		/* give it alt chunks */

	/*
	 * Called before a reload frees the chunks: a scan copies the versions
	 * it may still return from them (lsm_scan_save_versions).
	 */
	void		(*before_reload) (void *arg);
	void	   *before_reload_arg;
} LsmRunSet;

extern bool lsm_manifest_read(Relation rel, LsmManifest copy);
extern void lsm_manifest_verify(Relation rel, Buffer buf);
extern LsmRunSet *lsm_runset_create(Relation rel, MemoryContext parent);
extern void lsm_runset_refresh(Relation rel, LsmRunSet *rs);
extern bool lsm_runset_try_refresh(Relation rel, LsmRunSet *rs);
extern void lsm_runset_free(LsmRunSet *rs);
extern LsmRunSet *lsm_runset_cached(Relation rel);
extern LsmRunSet *lsm_runset_cached_ext(Relation rel, bool check_manifest);
extern LsmRunEntry *lsm_runset_lookup(Relation rel, LsmRunSet *rs,
									  ItemPointer tid);
extern int	lsm_runs_dead_tids(Relation rel, int max, ItemPointer *tids);
extern double lsm_runs_hidden_versions(Relation rel);
extern uint32 lsm_manifest_switch(Relation rel, const uint32 *remove,
								  int nremove, LsmManifestRun *add, int nadd,
								  uint64 flushed_bytes,
								  uint64 compacted_bytes, bool reap_all,
								  LsmManifestRun **reaped, int *nreaped);
extern bool lsm_manifest_has_room(Relation rel);
extern void lsm_free_retired(Relation rel, LsmManifestRun *runs, int nruns);
extern int	lsm_reap_retired(Relation rel, bool all);
extern uint32 lsm_manifest_next_run_id(Relation rel);
extern uint32 lsm_manifest_reserve_run_id(Relation rel);

/* ----------------------------------------------------------------
 * lsm_flush.c: flush and compaction
 * ----------------------------------------------------------------
 */
extern PGDLLIMPORT int lsm_memtable_flush_pages;
extern PGDLLIMPORT int lsm_memtable_flush_overlay_pages;
extern PGDLLIMPORT int lsm_compaction_policy;
extern PGDLLIMPORT int lsm_compaction_size_ratio;
extern PGDLLIMPORT int lsm_compaction_max_runs;
extern PGDLLIMPORT int lsm_compaction_max_levels;

/* lsm.compaction_policy */
#define LSM_POLICY_LEVELED	0
#define LSM_POLICY_TIERED	1

/* the names of the values of enum settings (lsm_flush.c) */
struct config_enum_entry;
extern const struct config_enum_entry lsm_policy_options[];
extern const struct config_enum_entry lsm_compression_options[];

/* lsm.compression: how run data pages are stored */
#define LSM_COMPRESSION_NONE	0
#define LSM_COMPRESSION_LZ4		1
extern PGDLLIMPORT int lsm_compression;

/* levels of runs (by size) are 1 .. LSM_MAX_LEVEL */
#define LSM_MAX_LEVEL		32
extern uint32 lsm_run_level_for(Relation rel, uint64 raw_bytes);

/* ----------------------------------------------------------------
 * lsm_settings.c: per-table values of lsm.* settings
 * ----------------------------------------------------------------
 */
typedef struct LsmSettings
{
	int			memtable_flush_pages;
	int			memtable_flush_overlay_pages;
	int			compaction_policy;
	int			compaction_size_ratio;
	int			compaction_max_runs;
	int			compaction_max_levels;
	int			bloom_bits_per_key;
	int			compression;
} LsmSettings;

extern void lsm_settings_load(Relation rel);
extern LsmSettings lsm_settings(Relation rel);
extern const char *lsm_enum_name(const struct config_enum_entry *names, int v,
								 const char *what);
extern PGDLLIMPORT int lsm_vacuum_flush_min_pages;
extern PGDLLIMPORT int lsm_vacuum_merge_tombstone_pct;
extern int	lsm_flush(Relation rel, bool wait, double *hidden_freed);
extern void lsm_free_run_pages(Relation rel, LsmRun *run);
extern void lsm_maybe_flush(Relation rel);
extern void lsm_record_free_page(Relation rel, BlockNumber blkno);
extern XLogRecPtr lsm_page_token(Relation rel, Page page);
extern int	lsm_compact_runs(Relation rel, bool full, bool wait);
extern void lsm_publish_tombstones(Relation rel, ItemPointer tids, int n);
extern void lsm_rewrite_runs(Relation rel);
extern bool lsm_maint_lock(Relation rel, bool wait);
extern void lsm_maint_unlock(Relation rel);
extern bool lsm_materialize(Relation rel, ItemPointer tid);

/* ----------------------------------------------------------------
 * lsm_load.c: COPY straight into a run
 * ----------------------------------------------------------------
 */
extern PGDLLIMPORT int lsm_direct_load_min_bytes;
extern void lsm_load_init_gucs(void);
extern bool lsm_load_multi_insert(Relation rel, HeapTuple *tuples,
								  int ntuples, CommandId cid, int options,
								  bool *done);
extern void lsm_finish_bulk_insert(Relation rel, int options);
extern bool lsm_load_in_flight(Relation rel, uint32 run_id);

/* a copy of a run version being changed in one record with the copying */
typedef struct LsmPendingCopy
{
	Buffer		buf;			/* the block's memtable page, locked */
	Buffer		vmbuf;			/* its visibility map page, or invalid */
	GenericXLogState *state;	/* the record being built */
	Page		page;			/* the record's copy of buf's page */
	HeapTupleData tup;			/* the version, on page */
} LsmPendingCopy;

extern bool lsm_materialize_begin(Relation rel, ItemPointer tid,
								  bool clear_vm, LsmPendingCopy *pc);
extern void lsm_materialize_finish(LsmPendingCopy *pc);
extern void lsm_materialize_abort(LsmPendingCopy *pc);
extern Buffer lsm_read_version_page(Relation rel, ItemPointer tid,
									int lockmode);

/* Bulk page writer used by CLUSTER (lsm_ddl.c) and multi_insert. */
typedef struct LsmBulkWriter LsmBulkWriter;
extern LsmBulkWriter *lsm_bulk_writer_begin(Relation rel);
extern HeapTupleHeader lsm_bulk_writer_add(LsmBulkWriter *bw, HeapTuple tuple);
extern void lsm_bulk_writer_end(LsmBulkWriter *bw);

/* ----------------------------------------------------------------
 * lsm_shrink.c: giving space back
 * ----------------------------------------------------------------
 */
extern bool lsm_shrink_active;
extern Buffer lsm_shrink_alloc(Relation rel, BlockNumber below);
extern BlockNumber lsm_shrink(Relation rel, bool rewrite, bool yield);
extern BlockNumber lsm_shrink_freeable(Relation rel, BlockNumber enough);

#endif							/* LSM_INTERNAL_H */
