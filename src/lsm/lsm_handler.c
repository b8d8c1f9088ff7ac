/*-------------------------------------------------------------------------
 *
 * lsm_handler.c
 *	  The lsm table access method's TableAmRoutine, and the small callbacks
 *	  that do not belong to a larger module: slot type, relation size,
 *	  TOAST decisions and the planner's size estimate.
 *
 * Relation size.  RelationGetNumberOfBlocks() of a table asks the AM's
 * relation_size callback.  Core code uses the answer as the range of block
 * numbers that TIDs can have: BRIN summarizes and scans block ranges up to
 * it, ANALYZE samples block numbers below it.  lsm TIDs carry logical block
 * numbers, which are not physical blocks (a logical block may have no page,
 * and compressed runs hold many logical blocks per page), so the main fork
 * reports its logical size: the number of logical blocks ever assigned.
 * (Reporting more would make BRIN see block ranges that can never hold a
 * row, as unsummarized ranges that every scan must read.)  The one
 * exception is ANALYZE while it samples this relation: ANALYZE prefetches
 * the blocks it samples, and prefetching a block in a 1 GB segment that
 * does not exist is an error, so there the physical size is reported and
 * the sampled blocks are read as physical pages (lsm_scan_analyze_next_block).
 * Users see the physical size through pg_relation_size() and friends, which
 * stat the files.  The free space map also consults this size: a free page
 * numbered above the logical size is not handed out again until the table
 * has grown past it (the physical size exceeds the logical one only by the
 * metapage and map pages, or after VACUUM emptied most of a table).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/heaptoast.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "commands/progress.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/backend_status.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "lsm/lsm.h"
#include "lsm/lsm_internal.h"

PG_FUNCTION_INFO_V1(lsm_tableam_handler);

static const TableAmRoutine lsm_methods;

/*
 * lsm_slot_callbacks -- versions are HeapTuples, mostly living in a pinned
 * buffer.
 */
static const TupleTableSlotOps *
lsm_slot_callbacks(Relation rel)
{
	return &TTSOpsBufferHeapTuple;
}

/*
 * lsm_analyze_is_sampling -- is this backend's ANALYZE in the middle of
 * sampling rel?  (Known from its progress report; false if
 * track_activities is off.)
 */
bool
lsm_analyze_is_sampling(Relation rel)
{
	volatile PgBackendStatus *beentry = MyBEEntry;
	int64		phase;

	if (beentry == NULL ||
		beentry->st_progress_command != PROGRESS_COMMAND_ANALYZE)
		return false;
	phase = beentry->st_progress_param[PROGRESS_ANALYZE_PHASE];
	if (phase == PROGRESS_ANALYZE_PHASE_ACQUIRE_SAMPLE_ROWS_INH)
		return true;			/* sampling the children of a parent */
	return phase == PROGRESS_ANALYZE_PHASE_ACQUIRE_SAMPLE_ROWS &&
		beentry->st_progress_command_target == RelationGetRelid(rel);
}

/* Blocks of one fork as relation_size reports them. */
static BlockNumber
lsm_fork_nblocks(Relation rel, ForkNumber forknum)
{
	BlockNumber physical;
	BlockNumber logical;

	if (!smgrexists(RelationGetSmgr(rel), forknum))
		return 0;
	physical = smgrnblocks(RelationGetSmgr(rel), forknum);
	if (forknum != MAIN_FORKNUM || physical == 0 ||
		lsm_analyze_is_sampling(rel))
		return physical;
	logical = lsm_get_nlblocks(rel);
	return logical;
}

/*
 * lsm_relation_size -- table AM callback relation_size (see the header
 * comment for why the main fork reports its logical size).
 */
static uint64
lsm_relation_size(Relation rel, ForkNumber forkNumber)
{
	uint64		nblocks = 0;

	if (forkNumber == InvalidForkNumber)
	{
		for (int i = 0; i <= MAX_FORKNUM; i++)
			nblocks += lsm_fork_nblocks(rel, i);
	}
	else
		nblocks = lsm_fork_nblocks(rel, forkNumber);
	return nblocks * BLCKSZ;
}

/*
 * lsm_relation_needs_toast_table -- as heap: a toast table is needed if a
 * row could exceed TOAST_TUPLE_THRESHOLD (memtable pages have heap's size).
 */
static bool
lsm_relation_needs_toast_table(Relation rel)
{
	int32		data_length = 0;
	bool		maxlength_unknown = false;
	bool		has_toastable_attrs = false;
	TupleDesc	tupdesc = rel->rd_att;
	int32		tuple_length;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped)
			continue;
		data_length = att_align_nominal(data_length, att->attalign);
		if (att->attlen > 0)
			data_length += att->attlen;
		else
		{
			int32		maxlen = type_maximum_size(att->atttypid,
												   att->atttypmod);

			if (maxlen < 0)
				maxlength_unknown = true;
			else
				data_length += maxlen;
			if (att->attstorage != TYPSTORAGE_PLAIN)
				has_toastable_attrs = true;
		}
	}
	if (!has_toastable_attrs)
		return false;
	if (maxlength_unknown)
		return true;
	tuple_length = MAXALIGN(SizeofHeapTupleHeader + BITMAPLEN(tupdesc->natts)) +
		MAXALIGN(data_length);
	return tuple_length > (int32) TOAST_TUPLE_THRESHOLD;
}

/*
 * lsm_relation_toast_am -- toasted values live in an ordinary heap.
 */
static Oid
lsm_relation_toast_am(Relation rel)
{
	return HEAP_TABLE_AM_OID;
}

/*
 * lsm_estimate_rel_size -- table AM callback relation_estimate_size.
 *
 * pages: what a sequential scan reads, in heap pages: the memtable pages,
 * and for each run the heap pages its versions would fill (raw bytes plus
 * a heap header and line pointer per version).  Not the run's compressed
 * pages: the planner's page cost stands for the work of going through a
 * page's rows as much as for reading it, and decoding a run costs at least
 * as much per row as a heap page does (doc/lsm-design.md, section 7); with
 * compressed pages, a compacted table looked several times cheaper to scan
 * than it is, and plans turned from index-only scans to sequential scans;
 * tuples: pg_class's density (reltuples per logical block, as VACUUM and
 * ANALYZE record it) applied to the current number of logical blocks, or,
 * never analyzed, the density the tuple width allows on a memtable page.
 * Heap's rule that a never-analyzed table is assumed to have at least 10
 * pages applies too, so plans on fresh tables match heap's.
 */
static void
lsm_estimate_rel_size(Relation rel, int32 *attr_widths, BlockNumber *pages,
					  double *tuples, double *allvisfrac)
{
	BlockNumber datapages = 0;
	BlockNumber nlblocks = 0;
	Buffer		metabuf;
	double		reltuples = (double) rel->rd_rel->reltuples;
	BlockNumber relpages = (BlockNumber) rel->rd_rel->relpages;

	*allvisfrac = 0;

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
	if (BufferIsValid(metabuf))
	{
		LsmMetaPage meta = LsmPageGetMeta(BufferGetPage(metabuf));

		datapages = meta->mem_pages;
		nlblocks = meta->next_lblock;
		UnlockReleaseBuffer(metabuf);
	}
	if (nlblocks > 0)
	{
		PGAlignedBlock mbuf;
		LsmManifest m = (LsmManifest) mbuf.data;

		/* and the runs, as heap pages */
		lsm_manifest_read(rel, m);
		for (uint32 r = 0; r < m->nruns; r++)
		{
			double		bytes = (double) m->runs[r].raw_bytes +
				(double) m->runs[r].nentries *
				(MAXALIGN(SizeofHeapTupleHeader) + sizeof(ItemIdData));

			datapages += (BlockNumber) ceil(bytes / LSM_PAGE_CONTENT_SIZE);
		}
	}

	if (datapages < 10 && reltuples < 0 && !rel->rd_rel->relhassubclass)
		datapages = 10;
	*pages = datapages;
	if (datapages == 0)
	{
		*tuples = 0;
		return;
	}

	/* the visibility map counts logical blocks, as relpages does */
	if (relpages > 0)
		*allvisfrac = Min(1.0, (double) rel->rd_rel->relallvisible /
						  (double) relpages);
	if (reltuples >= 0 && relpages > 0)
		*tuples = rint(reltuples / (double) relpages * (double) Max(nlblocks, 1));
	else
	{
		int32		tuple_width = get_rel_data_width(rel, attr_widths);
		double		density;

		tuple_width += MAXALIGN(SizeofHeapTupleHeader) + sizeof(ItemIdData);
		density = (double) LSM_PAGE_CONTENT_SIZE / tuple_width;
		*tuples = rint(density * (double) datapages);
	}
}

/*
 * lsm_is_lsm_relation -- does rel use this table access method?
 */
bool
lsm_is_lsm_relation(Relation rel)
{
	return rel->rd_tableam == &lsm_methods;
}

/*
 * lsm_check_is_lsm -- ERROR unless rel is an lsm table (for the SQL
 * functions that take a regclass).
 */
void
lsm_check_is_lsm(Relation rel)
{
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_MATVIEW &&
		rel->rd_rel->relkind != RELKIND_TOASTVALUE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel))));
	if (!lsm_is_lsm_relation(rel))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" does not use the lsm access method",
						RelationGetRelationName(rel))));
}

/*
 * lsm_open_owned -- open an lsm table with lockmode for an SQL function
 * that only its owner may call (lsm_compact, lsm_set_option, ...): ERROR
 * unless it is an lsm table and the current user owns it.
 */
Relation
lsm_open_owned(Oid relid, LOCKMODE lockmode)
{
	Relation	rel = table_open(relid, lockmode);

	if (!lsm_is_lsm_relation(rel))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an lsm table",
						RelationGetRelationName(rel))));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE,
					   RelationGetRelationName(rel));
	return rel;
}

static const TableAmRoutine lsm_methods = {
	.type = T_TableAmRoutine,

	.slot_callbacks = lsm_slot_callbacks,

	.scan_begin = lsm_scan_begin,
	.scan_end = lsm_scan_end,
	.scan_rescan = lsm_scan_rescan,
	.scan_getnextslot = lsm_scan_getnextslot,

	.scan_set_tidrange = lsm_scan_set_tidrange,
	.scan_getnextslot_tidrange = lsm_scan_getnextslot_tidrange,

	.parallelscan_estimate = lsm_parallelscan_estimate,
	.parallelscan_initialize = lsm_parallelscan_initialize,
	.parallelscan_reinitialize = lsm_parallelscan_reinitialize,

	.index_fetch_begin = lsm_index_fetch_begin,
	.index_fetch_reset = lsm_index_fetch_reset,
	.index_fetch_end = lsm_index_fetch_end,
	.index_fetch_tuple = lsm_index_fetch_tuple,

	.tuple_fetch_row_version = lsm_fetch_row_version,
	.tuple_tid_valid = lsm_tuple_tid_valid,
	.tuple_get_latest_tid = lsm_tuple_get_latest_tid,
	.tuple_satisfies_snapshot = lsm_tuple_satisfies_snapshot,
	.index_delete_tuples = lsm_index_delete_tuples,

	.tuple_insert = lsm_tuple_insert,
	.tuple_insert_speculative = lsm_tuple_insert_speculative,
	.tuple_complete_speculative = lsm_tuple_complete_speculative,
	.multi_insert = lsm_multi_insert,
	.tuple_delete = lsm_tuple_delete,
	.tuple_update = lsm_tuple_update,
	.tuple_lock = lsm_tuple_lock,
	.finish_bulk_insert = lsm_finish_bulk_insert,

	.relation_set_new_filenode = lsm_relation_set_new_filenode,
	.relation_nontransactional_truncate = lsm_relation_nontransactional_truncate,
	.relation_copy_data = lsm_relation_copy_data,
	.relation_copy_for_cluster = lsm_relation_copy_for_cluster,
	.relation_vacuum = lsm_relation_vacuum,
	.scan_analyze_next_block = lsm_scan_analyze_next_block,
	.scan_analyze_next_tuple = lsm_scan_analyze_next_tuple,
	.index_build_range_scan = lsm_index_build_range_scan,
	.index_validate_scan = lsm_index_validate_scan,

	.relation_size = lsm_relation_size,
	.relation_needs_toast_table = lsm_relation_needs_toast_table,
	.relation_toast_am = lsm_relation_toast_am,
	.relation_fetch_toast_slice = NULL,

	.relation_estimate_size = lsm_estimate_rel_size,

	.scan_bitmap_next_block = lsm_scan_bitmap_next_block,
	.scan_bitmap_next_tuple = lsm_scan_bitmap_next_tuple,
	.scan_sample_next_block = lsm_scan_sample_next_block,
	.scan_sample_next_tuple = lsm_scan_sample_next_tuple
};

/*
 * lsm_tableam_handler -- the handler function of the lsm table AM.
 */
Datum
lsm_tableam_handler(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(&lsm_methods);
}
