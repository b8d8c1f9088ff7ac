/*-------------------------------------------------------------------------
 *
 * lsm_ddl.c
 *	  Storage-level DDL of lsm tables: new storage (CREATE TABLE, TRUNCATE,
 *	  rewrites), non-transactional truncation, ALTER TABLE SET TABLESPACE,
 *	  and CLUSTER / VACUUM FULL.
 *
 * New storage is created empty, as for heap: the metapage is written by
 * the first insertion (lsm_ensure_metapage).  So an unlogged table's init
 * fork is simply empty, and resetting the table after a crash leaves an
 * empty relation, which is a valid empty lsm table.
 *
 * CLUSTER and VACUUM FULL copy the versions that some transaction may still
 * see into a new relfilenode, renumbering their TIDs from zero (row ids
 * start over for the new relfilenode).  Update chains between copied
 * versions are preserved: a forward link is rewritten to the successor's
 * new TID, or made to point to the version itself if the successor was not
 * copied (it was dead to everybody).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/genam.h"
#include "access/heaptoast.h"
#include "access/multixact.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/index.h"
#include "catalog/storage.h"
#include "catalog/storage_xlog.h"
#include "commands/progress.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplesort.h"

#include "lsm/lsm_internal.h"

/*
 * lsm_relation_set_new_filenode -- table AM callback
 * relation_set_new_filenode.
 */
void
lsm_relation_set_new_filenode(Relation rel, const RelFileNode *newrnode,
							  char persistence, TransactionId *freezeXid,
							  MultiXactId *minmulti)
{
	SMgrRelation srel;

	/* no versions yet: nothing older than what may be inserted next */
	*freezeXid = RecentXmin;
	*minmulti = GetOldestMultiXactId();

	srel = RelationCreateStorage(*newrnode, persistence, true);

	/*
	 * An unlogged table needs an init fork; an empty one is right, because
	 * an empty lsm relation is an empty table.  Its creation is WAL-logged
	 * and synced so that it exists after a crash.
	 */
	if (persistence == RELPERSISTENCE_UNLOGGED)
	{
		smgrcreate(srel, INIT_FORKNUM, false);
		log_smgrcreate(newrnode, INIT_FORKNUM);
		smgrimmedsync(srel, INIT_FORKNUM);
	}
	smgrclose(srel);
	lsm_invalidate_cache(rel);
}

/*
 * lsm_relation_nontransactional_truncate -- table AM callback (TRUNCATE of
 * a table created or truncated in the same transaction).
 */
void
lsm_relation_nontransactional_truncate(Relation rel)
{
	RelationTruncate(rel, 0);
	lsm_invalidate_cache(rel);
}

/*
 * lsm_relation_copy_data -- table AM callback relation_copy_data (ALTER
 * TABLE SET TABLESPACE): copy every fork block by block.
 */
void
lsm_relation_copy_data(Relation rel, const RelFileNode *newrnode)
{
	SMgrRelation dstrel;

	/* the copy bypasses shared buffers: write them out first */
	FlushRelationBuffers(rel);

	dstrel = RelationCreateStorage(*newrnode, rel->rd_rel->relpersistence,
								   true);
	RelationCopyStorage(RelationGetSmgr(rel), dstrel, MAIN_FORKNUM,
						rel->rd_rel->relpersistence);
	for (ForkNumber forkNum = MAIN_FORKNUM + 1; forkNum <= MAX_FORKNUM;
		 forkNum++)
	{
		if (smgrexists(RelationGetSmgr(rel), forkNum))
		{
			smgrcreate(dstrel, forkNum, false);
			if (RelationIsPermanent(rel) ||
				(rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED &&
				 forkNum == INIT_FORKNUM))
				log_smgrcreate(newrnode, forkNum);
			RelationCopyStorage(RelationGetSmgr(rel), dstrel, forkNum,
								rel->rd_rel->relpersistence);
		}
	}
	RelationDropStorage(rel);
	smgrclose(dstrel);
}

/* ----------------------------------------------------------------
 * Bulk writer: fills new memtable pages one after the other, each written
 * as one full-image generic WAL record.  For a relation nobody else can
 * see yet (CLUSTER's new relfilenode).
 * ----------------------------------------------------------------
 */
struct LsmBulkWriter
{
	Relation	rel;
	Buffer		buf;			/* page being filled, locked, or Invalid */
	GenericXLogState *state;
	Page		page;			/* its registered copy */
	Size		reserve;		/* fillfactor: bytes to leave free */
};

/*
 * lsm_bulk_writer_begin -- start writing into rel.
 */
LsmBulkWriter *
lsm_bulk_writer_begin(Relation rel)
{
	LsmBulkWriter *bw = palloc0(sizeof(LsmBulkWriter));

	bw->rel = rel;
	bw->buf = InvalidBuffer;
	bw->reserve = lsm_fillfactor_reserve(rel);
	return bw;
}

static void
lsm_bulk_writer_flush(LsmBulkWriter *bw)
{
	if (BufferIsValid(bw->buf))
	{
		GenericXLogFinish(bw->state);
		UnlockReleaseBuffer(bw->buf);
		bw->buf = InvalidBuffer;
	}
}

/*
 * lsm_bulk_writer_add -- append a prepared version; sets tuple->t_self and
 * returns the stored header (valid until the next call).
 */
HeapTupleHeader
lsm_bulk_writer_add(LsmBulkWriter *bw, HeapTuple tuple)
{
	lsm_check_tuple_size(bw->rel, tuple);
	if (!BufferIsValid(bw->buf) ||
		!lsm_page_has_room(bw->page, tuple->t_len, bw->reserve))
	{
		lsm_bulk_writer_flush(bw);
		bw->buf = lsm_new_mem_page(bw->rel, NULL);
		bw->state = GenericXLogStart(bw->rel);
		bw->page = GenericXLogRegisterBuffer(bw->state, bw->buf,
											 GENERIC_XLOG_FULL_IMAGE);
	}
	return lsm_page_add_tuple(bw->page, tuple);
}

/*
 * lsm_bulk_writer_end -- write the last page and free the writer.
 */
void
lsm_bulk_writer_end(LsmBulkWriter *bw)
{
	lsm_bulk_writer_flush(bw);
	pfree(bw);
}

/* ----------------------------------------------------------------
 * CLUSTER / VACUUM FULL
 * ----------------------------------------------------------------
 */

/* old TID -> new TID of a copied version that may be an update's target */
typedef struct LsmTidMapEntry
{
	ItemPointerData oldtid;		/* hash key */
	ItemPointerData newtid;
} LsmTidMapEntry;

/* a copied version whose forward link must be rewritten */
typedef struct LsmPendingLink
{
	ItemPointerData newtid;		/* the copied predecessor */
	ItemPointerData target;		/* old TID of its successor */
} LsmPendingLink;

typedef struct LsmRewriteState
{
	Relation	OldHeap;
	Relation	NewHeap;
	LsmBulkWriter *writer;
	TransactionId OldestXmin;
	TransactionId FreezeXid;
	MultiXactId MultiXactCutoff;
	HTAB	   *tidmap;			/* LsmTidMapEntry */
	LsmPendingLink *links;
	int			nlinks;
	int			maxlinks;
	Datum	   *values;
	bool	   *isnull;
	double		written;
} LsmRewriteState;

/*
 * Copy one version into the new relation: re-form it for the new tuple
 * descriptor (dropped columns become NULL), keep its transaction fields,
 * freeze what is old enough, re-toast into the new toast table, and note
 * a forward link to fix up later.
 */
static void
lsm_rewrite_tuple(LsmRewriteState *rs, HeapTuple oldtup)
{
	TupleDesc	oldDesc = RelationGetDescr(rs->OldHeap);
	TupleDesc	newDesc = RelationGetDescr(rs->NewHeap);
	HeapTuple	newtup;
	HeapTuple	toasted;
	HeapTupleHeader ohdr = oldtup->t_data;
	bool		has_link;

	heap_deform_tuple(oldtup, oldDesc, rs->values, rs->isnull);
	for (int i = 0; i < newDesc->natts; i++)
		if (TupleDescAttr(newDesc, i)->attisdropped)
			rs->isnull[i] = true;
	newtup = heap_form_tuple(newDesc, rs->values, rs->isnull);

	/* same transaction information */
	memcpy(&newtup->t_data->t_choice.t_heap, &ohdr->t_choice.t_heap,
		   sizeof(HeapTupleFields));
	newtup->t_data->t_infomask &= ~HEAP_XACT_MASK;
	newtup->t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
	newtup->t_data->t_infomask |= ohdr->t_infomask & HEAP_XACT_MASK;
	newtup->t_data->t_infomask2 |= ohdr->t_infomask2 & HEAP2_XACT_MASK;
	newtup->t_tableOid = RelationGetRelid(rs->NewHeap);

	/* a forward link to a successor, to be rewritten once it is copied */
	has_link = !(ohdr->t_infomask & HEAP_XMAX_INVALID) &&
		!HeapTupleHeaderIsOnlyLocked(ohdr) &&
		!HeapTupleHeaderIndicatesMovedPartitions(ohdr) &&
		!ItemPointerEquals(&oldtup->t_self, &ohdr->t_ctid);

	heap_freeze_tuple(newtup->t_data,
					  rs->OldHeap->rd_rel->relfrozenxid,
					  rs->OldHeap->rd_rel->relminmxid,
					  rs->FreezeXid, rs->MultiXactCutoff);

	if (HeapTupleHasExternal(newtup) || newtup->t_len > TOAST_TUPLE_THRESHOLD)
		toasted = heap_toast_insert_or_update(rs->NewHeap, newtup, NULL,
											  TABLE_INSERT_SKIP_FSM |
											  TABLE_INSERT_NO_LOGICAL);
	else
		toasted = newtup;

	/* written pointing to itself; lsm_rewrite_links fixes real links */
	{
		HeapTupleHeader stored = lsm_bulk_writer_add(rs->writer, toasted);

		if (HeapTupleHeaderIndicatesMovedPartitions(ohdr))
			HeapTupleHeaderSetMovedPartitions(stored);
	}
	rs->written += 1;

	if (has_link)
	{
		if (rs->nlinks >= rs->maxlinks)
		{
			rs->maxlinks = Max(64, rs->maxlinks * 2);
			rs->links = rs->links ?
				repalloc(rs->links, rs->maxlinks * sizeof(LsmPendingLink)) :
				palloc(rs->maxlinks * sizeof(LsmPendingLink));
		}
		rs->links[rs->nlinks].newtid = toasted->t_self;
		rs->links[rs->nlinks].target = ohdr->t_ctid;
		rs->nlinks++;
	}

	/*
	 * Only a version created by a transaction not yet visible to everybody
	 * can be the successor of a copied (hence not dead) version.
	 */
	if ((ohdr->t_infomask & HEAP_UPDATED) && !HeapTupleHeaderXminFrozen(ohdr) &&
		TransactionIdFollowsOrEquals(HeapTupleHeaderGetXmin(ohdr), rs->OldestXmin))
	{
		bool		found;
		LsmTidMapEntry *e = hash_search(rs->tidmap, &oldtup->t_self,
										HASH_ENTER, &found);

		e->newtid = toasted->t_self;
	}

	if (toasted != newtup)
		heap_freetuple(toasted);
	heap_freetuple(newtup);
}

/*
 * Rewrite the forward links of copied versions: to the successor's new
 * TID, or (successor not copied) to the version itself.  One generic WAL
 * record per change; these are rare (they exist only for versions some
 * snapshot can still see).
 */
static void
lsm_rewrite_links(LsmRewriteState *rs)
{
	for (int i = 0; i < rs->nlinks; i++)
	{
		LsmPendingLink *link = &rs->links[i];
		LsmTidMapEntry *e = hash_search(rs->tidmap, &link->target,
										HASH_FIND, NULL);
		Buffer		buf;
		HeapTupleData tup;
		GenericXLogState *state;
		Page		page;
		HeapTupleHeader htup;

		if (e == NULL)
			continue;			/* successor gone: keep the self-link */
		buf = lsm_read_mem_page_locked(rs->NewHeap,
									   ItemPointerGetBlockNumber(&link->newtid),
									   NULL, BUFFER_LOCK_EXCLUSIVE);
		if (!BufferIsValid(buf) ||
			!lsm_page_get_version(rs->NewHeap, buf, &link->newtid, &tup))
			elog(ERROR, "copied version (%u,%u) not found",
				 ItemPointerGetBlockNumber(&link->newtid),
				 ItemPointerGetOffsetNumber(&link->newtid));
		state = GenericXLogStart(rs->NewHeap);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		htup = (HeapTupleHeader) ((char *) page +
								  ((char *) tup.t_data - (char *) BufferGetPage(buf)));
		htup->t_ctid = e->newtid;
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
	}
}

/*
 * lsm_relation_copy_for_cluster -- table AM callback
 * relation_copy_for_cluster.
 */
void
lsm_relation_copy_for_cluster(Relation OldHeap, Relation NewHeap,
							  Relation OldIndex, bool use_sort,
							  TransactionId OldestXmin,
							  TransactionId *xid_cutoff,
							  MultiXactId *multi_cutoff,
							  double *num_tuples, double *tups_vacuumed,
							  double *tups_recently_dead)
{
	LsmRewriteState rs;
	HASHCTL		ctl;
	IndexScanDesc indexScan = NULL;
	TableScanDesc tableScan = NULL;
	Tuplesortstate *tuplesort = NULL;
	TupleTableSlot *slot;
	BufferHeapTupleTableSlot *hslot;
	bool		is_system_catalog = IsSystemRelation(OldHeap);

	memset(&rs, 0, sizeof(rs));
	rs.OldHeap = OldHeap;
	rs.NewHeap = NewHeap;
	rs.OldestXmin = OldestXmin;
	rs.FreezeXid = *xid_cutoff;
	rs.MultiXactCutoff = *multi_cutoff;
	rs.values = palloc(RelationGetDescr(OldHeap)->natts * sizeof(Datum));
	rs.isnull = palloc(RelationGetDescr(OldHeap)->natts * sizeof(bool));
	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(LsmTidMapEntry);
	ctl.hcxt = CurrentMemoryContext;
	rs.tidmap = hash_create("lsm cluster tid map", 1024, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	rs.writer = lsm_bulk_writer_begin(NewHeap);

	if (use_sort)
		tuplesort = tuplesort_begin_cluster(RelationGetDescr(OldHeap), OldIndex,
											maintenance_work_mem, NULL,
											TUPLESORT_NONE);

	if (OldIndex != NULL && !use_sort)
	{
		const int	ci_index[] = {PROGRESS_CLUSTER_PHASE,
		PROGRESS_CLUSTER_INDEX_RELID};
		int64		ci_val[2];

		ci_val[0] = PROGRESS_CLUSTER_PHASE_INDEX_SCAN_HEAP;
		ci_val[1] = RelationGetRelid(OldIndex);
		pgstat_progress_update_multi_param(2, ci_index, ci_val);
		indexScan = index_beginscan(OldHeap, OldIndex, SnapshotAny, 0, 0);
		index_rescan(indexScan, NULL, 0, NULL, 0);
	}
	else
	{
		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_SEQ_SCAN_HEAP);
		tableScan = table_beginscan(OldHeap, SnapshotAny, 0, NULL);
		pgstat_progress_update_param(PROGRESS_CLUSTER_TOTAL_HEAP_BLKS,
									 lsm_scan_nlblocks(tableScan));
	}

	slot = table_slot_create(OldHeap, NULL);
	hslot = (BufferHeapTupleTableSlot *) slot;
	for (;;)
	{
		HeapTuple	tuple;
		Buffer		buf;
		bool		isdead;

		CHECK_FOR_INTERRUPTS();
		if (indexScan != NULL)
		{
			if (!index_getnext_slot(indexScan, ForwardScanDirection, slot))
				break;
			if (indexScan->xs_recheck)
				elog(ERROR, "CLUSTER does not support lossy index conditions");
		}
		else
		{
			if (!table_scan_getnextslot(tableScan, ForwardScanDirection, slot))
				break;
			pgstat_progress_update_param(PROGRESS_CLUSTER_HEAP_BLKS_SCANNED,
										 lsm_scan_get_lblocks_done(tableScan));
		}

		tuple = ExecFetchSlotHeapTuple(slot, false, NULL);
		buf = hslot->buffer;
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		switch (lsm_satisfies_vacuum(tuple, OldestXmin))
		{
			case HEAPTUPLE_DEAD:
				isdead = true;
				break;
			case HEAPTUPLE_RECENTLY_DEAD:
				*tups_recently_dead += 1;
				isdead = false;
				break;
			case HEAPTUPLE_LIVE:
				isdead = false;
				break;
			case HEAPTUPLE_INSERT_IN_PROGRESS:
				if (!is_system_catalog &&
					!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data)))
					elog(WARNING, "concurrent insert in progress within table \"%s\"",
						 RelationGetRelationName(OldHeap));
				isdead = false;
				break;
			case HEAPTUPLE_DELETE_IN_PROGRESS:
				if (!is_system_catalog &&
					!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tuple->t_data)))
					elog(WARNING, "concurrent delete in progress within table \"%s\"",
						 RelationGetRelationName(OldHeap));
				/* treat as recently dead */
				*tups_recently_dead += 1;
				isdead = false;
				break;
			default:
				elog(ERROR, "unexpected lsm_satisfies_vacuum result");
				isdead = false; /* keep compiler quiet */
				break;
		}
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);

		if (isdead)
		{
			*tups_vacuumed += 1;
			continue;
		}

		*num_tuples += 1;
		if (tuplesort != NULL)
		{
			tuplesort_putheaptuple(tuplesort, tuple);
			pgstat_progress_update_param(PROGRESS_CLUSTER_HEAP_TUPLES_SCANNED,
										 *num_tuples);
		}
		else
		{
			const int	ct_index[] = {PROGRESS_CLUSTER_HEAP_TUPLES_SCANNED,
			PROGRESS_CLUSTER_HEAP_TUPLES_WRITTEN};
			int64		ct_val[2];

			lsm_rewrite_tuple(&rs, tuple);
			ct_val[0] = *num_tuples;
			ct_val[1] = *num_tuples;
			pgstat_progress_update_multi_param(2, ct_index, ct_val);
		}
	}

	if (indexScan != NULL)
		index_endscan(indexScan);
	if (tableScan != NULL)
		table_endscan(tableScan);
	ExecDropSingleTupleTableSlot(slot);

	if (tuplesort != NULL)
	{
		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_SORT_TUPLES);
		tuplesort_performsort(tuplesort);
		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_WRITE_NEW_HEAP);
		for (;;)
		{
			HeapTuple	tuple;

			CHECK_FOR_INTERRUPTS();
			tuple = tuplesort_getheaptuple(tuplesort, true);
			if (tuple == NULL)
				break;
			lsm_rewrite_tuple(&rs, tuple);
			pgstat_progress_update_param(PROGRESS_CLUSTER_HEAP_TUPLES_WRITTEN,
										 rs.written);
		}
		tuplesort_end(tuplesort);
	}

	lsm_bulk_writer_end(rs.writer);
	lsm_rewrite_links(&rs);

	hash_destroy(rs.tidmap);
	if (rs.links)
		pfree(rs.links);
	pfree(rs.values);
	pfree(rs.isnull);
}
