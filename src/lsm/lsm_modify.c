/*-------------------------------------------------------------------------
 *
 * lsm_modify.c
 *	  INSERT, COPY (multi_insert), speculative insertion, DELETE and UPDATE
 *	  on lsm tables.
 *
 * Every version gets a TID of its own; an UPDATE writes a new version with
 * a new TID and marks the old one with the updater's xmax and a forward
 * link (t_ctid) to the new one, exactly as heap does without HOT.  All
 * indexes therefore get an entry for the new version (update_indexes is
 * always true).
 *
 * Concurrency follows heap_delete/heap_update: the old version's page is
 * held exclusively while its xmax is examined and set; before sleeping on a
 * concurrent transaction we release buffer locks, queue on the heavyweight
 * tuple lock, wait, and then examine the version again from the start.
 *
 * Buffer lock order for UPDATE: when the new version goes to another page,
 * the two pages are locked in block-number order (lsm_lock_pair), so two
 * updaters cannot deadlock on each other's pages.  No page lock is held
 * while a new memtable page is allocated (which locks the metapage).
 *
 * WAL: an insert, a delete and a lock are one-page generic records; an
 * update is one record covering the old and the new page, so the new
 * version and the old version's forward link appear atomically.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/heaptoast.h"
#include "access/multixact.h"
#include "access/xact.h"
#include "catalog/pg_publication.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "utils/combocid.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "lsm/lsm_internal.h"

/* Result of examining a version before changing it: retry after a wait. */
#define LSM_TM_RETRY	((TM_Result) -1)

/*
 * lsm_check_publication -- refuse writes to an lsm table that belongs to a
 * publication: its changes are generic WAL records, which logical decoding
 * ignores, so subscribers would silently miss them.
 */
void
lsm_check_publication(Relation rel)
{
	PublicationDesc pubdesc;
	const char *relname;

	if (!is_publishable_relation(rel))
		return;
	RelationBuildPublicationDesc(rel, &pubdesc);
	if (!(pubdesc.pubactions.pubinsert || pubdesc.pubactions.pubupdate ||
		  pubdesc.pubactions.pubdelete || pubdesc.pubactions.pubtruncate))
		return;

	/* a table being rewritten (ALTER TABLE) is named after the original */
	relname = OidIsValid(rel->rd_rel->relrewrite) ?
		get_rel_name(rel->rd_rel->relrewrite) : NULL;
	if (relname == NULL)
		relname = RelationGetRelationName(rel);
	ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot modify lsm table \"%s\" because it is part of a publication",
						relname),
				 errdetail("Changes to lsm tables are written as generic WAL records, which logical decoding ignores."),
				 errhint("Remove the table from the publication, or change its access method to heap.")));
}

/*
 * lsm_prepare_insert -- fill in the transaction fields of a new version
 * and toast it if needed.  Returns the tuple to store (tup itself or a
 * toasted copy).
 */
HeapTuple
lsm_prepare_insert(Relation rel, HeapTuple tup, TransactionId xid,
				   CommandId cid, int options)
{
	tup->t_data->t_infomask &= ~(HEAP_XACT_MASK);
	tup->t_data->t_infomask2 &= ~(HEAP2_XACT_MASK);
	tup->t_data->t_infomask |= HEAP_XMAX_INVALID;
	HeapTupleHeaderSetXmin(tup->t_data, xid);
	if (options & TABLE_INSERT_FROZEN)
		HeapTupleHeaderSetXminFrozen(tup->t_data);
	HeapTupleHeaderSetCmin(tup->t_data, cid);
	HeapTupleHeaderSetXmax(tup->t_data, 0);
	tup->t_tableOid = RelationGetRelid(rel);

	if (HeapTupleHasExternal(tup) || tup->t_len > TOAST_TUPLE_THRESHOLD)
		return heap_toast_insert_or_update(rel, tup, NULL, options);
	return tup;
}

/*
 * Store one prepared version; returns with tuple->t_self set.  A nonzero
 * specToken goes into the stored version's t_ctid.
 */
static void
lsm_insert_prepared(Relation rel, HeapTuple tuple, BulkInsertState bistate,
					uint32 specToken)
{
	HeapTupleHeader stored;
	Buffer		buf;
	GenericXLogState *state;
	Page		page;

	Buffer		vmbuf;

	lsm_check_tuple_size(rel, tuple);
	buf = lsm_get_insert_buffer(rel, tuple->t_len, bistate);
	vmbuf = lsm_vm_clear_prepare(rel, buf);
	state = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	lsm_vm_clear_in_record(state, page, vmbuf);
	stored = lsm_page_add_tuple(page, tuple);
	if (specToken != 0)
		HeapTupleHeaderSetSpeculativeToken(stored, specToken);
	GenericXLogFinish(state);
	lsm_vm_release(vmbuf);
	UnlockReleaseBuffer(buf);
}

/*
 * Shared by plain and speculative insertion: specToken is 0 for a plain
 * insertion (tokens start at 1).
 */
static void
lsm_insert_slot(Relation rel, TupleTableSlot *slot, CommandId cid,
				int options, BulkInsertState bistate, uint32 specToken)
{
	bool		shouldFree = true;
	HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, true, &shouldFree);
	HeapTuple	heaptup;

	lsm_check_publication(rel);
	slot->tts_tableOid = RelationGetRelid(rel);
	tuple->t_tableOid = slot->tts_tableOid;

	heaptup = lsm_prepare_insert(rel, tuple, GetCurrentTransactionId(), cid,
								 options);

	/* SSI: a write into a relation someone predicate-locked as a whole */
	CheckForSerializableConflictIn(rel, NULL, InvalidBlockNumber);

	lsm_insert_prepared(rel, heaptup, bistate, specToken);
	pgstat_count_heap_insert(rel, 1);

	if (heaptup != tuple)
	{
		tuple->t_self = heaptup->t_self;
		heap_freetuple(heaptup);
	}
	ItemPointerCopy(&tuple->t_self, &slot->tts_tid);
	if (shouldFree)
		pfree(tuple);
}

/*
 * lsm_tuple_insert -- table AM callback tuple_insert.
 */
void
lsm_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid,
				 int options, BulkInsertState bistate)
{
	lsm_maybe_flush(rel);
	lsm_insert_slot(rel, slot, cid, options, bistate, 0);
}

/*
 * lsm_tuple_insert_speculative -- insert a version carrying a speculative
 * insertion token (INSERT ... ON CONFLICT).  Other sessions that meet it in
 * a unique check see the token through SnapshotDirty and wait for the
 * outcome instead of for the whole transaction.
 */
void
lsm_tuple_insert_speculative(Relation rel, TupleTableSlot *slot,
							 CommandId cid, int options,
							 BulkInsertState bistate, uint32 specToken)
{
	Assert(specToken != 0);
	lsm_insert_slot(rel, slot, cid, options | HEAP_INSERT_SPECULATIVE,
					bistate, specToken);
}

/*
 * lsm_tuple_complete_speculative -- finish a speculative insertion.
 *
 * On success the token is replaced by the version's own TID.  On failure
 * (a conflict was found) the version is "super-deleted": its xmin is set to
 * InvalidTransactionId, which makes it invisible to every snapshot at once
 * and removable by VACUUM, and its toasted values are deleted.
 */
void
lsm_tuple_complete_speculative(Relation rel, TupleTableSlot *slot,
							   uint32 specToken, bool succeeded)
{
	ItemPointerData tid = slot->tts_tid;
	Buffer		buf;
	Buffer		vmbuf;
	HeapTupleData tuple;
	GenericXLogState *state;
	Page		page;
	HeapTupleHeader htup;

	buf = lsm_read_mem_page_locked(rel, ItemPointerGetBlockNumber(&tid), NULL,
								   BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(buf) ||
		!lsm_page_get_version(rel, buf, &tid, &tuple))
		elog(ERROR, "speculatively inserted tuple (%u,%u) of \"%s\" not found",
			 ItemPointerGetBlockNumber(&tid), ItemPointerGetOffsetNumber(&tid),
			 RelationGetRelationName(rel));
	if (!HeapTupleHeaderIsSpeculative(tuple.t_data))
		elog(ERROR, "tuple (%u,%u) of \"%s\" is not a speculative insertion",
			 ItemPointerGetBlockNumber(&tid), ItemPointerGetOffsetNumber(&tid),
			 RelationGetRelationName(rel));
	if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple.t_data)))
		elog(ERROR, "attempted to kill a tuple inserted by another transaction");

	vmbuf = lsm_vm_clear_prepare(rel, buf);
	state = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	lsm_vm_clear_in_record(state, page, vmbuf);
	htup = (HeapTupleHeader) ((char *) page +
							  ((char *) tuple.t_data - (char *) BufferGetPage(buf)));
	if (!succeeded)
	{
		htup->t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED);
		htup->t_infomask |= HEAP_XMAX_INVALID;
		htup->t_infomask2 &= ~HEAP_KEYS_UPDATED;
		HeapTupleHeaderSetXmin(htup, InvalidTransactionId);
	}
	htup->t_ctid = tid;
	GenericXLogFinish(state);
	lsm_vm_release(vmbuf);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);

	if (!succeeded)
	{
		/* the tuple is dead to everyone: drop its toasted values too */
		if (HeapTupleHasExternal(&tuple))
			heap_toast_delete(rel, &tuple, true);
		pgstat_count_heap_delete(rel);
	}
	ReleaseBuffer(buf);
}

/*
 * lsm_multi_insert -- table AM callback multi_insert (COPY, INSERT ...
 * SELECT via the executor's batching).
 *
 * Versions are appended page by page; each page's additions are one
 * generic WAL record.  The versions of a large COPY go to a run instead
 * (lsm_load.c).
 */
void
lsm_multi_insert(Relation rel, TupleTableSlot **slots, int ntuples,
				 CommandId cid, int options, BulkInsertState bistate)
{
	TransactionId xid = GetCurrentTransactionId();
	HeapTuple  *heaptuples;
	HeapTuple  *rest;
	bool	   *loaded;
	int			nrest = 0;
	int			done = 0;
	Size		reserve = lsm_fillfactor_reserve(rel);

	lsm_check_publication(rel);

	heaptuples = palloc(ntuples * sizeof(HeapTuple));
	for (int i = 0; i < ntuples; i++)
	{
		HeapTuple	tuple = ExecFetchSlotHeapTuple(slots[i], true, NULL);

		slots[i]->tts_tableOid = RelationGetRelid(rel);
		tuple->t_tableOid = slots[i]->tts_tableOid;
		heaptuples[i] = lsm_prepare_insert(rel, tuple, xid, cid, options);
		lsm_check_tuple_size(rel, heaptuples[i]);
	}

	CheckForSerializableConflictIn(rel, NULL, InvalidBlockNumber);

	/* a large COPY goes straight into a run (lsm_load.c) */
	rest = palloc(ntuples * sizeof(HeapTuple));
	loaded = palloc0(ntuples * sizeof(bool));
	(void) lsm_load_multi_insert(rel, heaptuples, ntuples, cid, options,
								 loaded);
	for (int i = 0; i < ntuples; i++)
		if (!loaded[i])
			rest[nrest++] = heaptuples[i];
	if (nrest > 0)
		lsm_maybe_flush(rel);

	/* the others go to memtable pages */
	while (done < nrest)
	{
		Buffer		buf = lsm_get_insert_buffer(rel, rest[done]->t_len,
												bistate);
		Buffer		vmbuf = lsm_vm_clear_prepare(rel, buf);
		GenericXLogState *state = GenericXLogStart(rel);
		Page		page;

		/*
		 * A page that gets its first versions now is logged as a full image
		 * (its hole left out): about as much WAL as the delta, without
		 * comparing the whole page to compute one.
		 */
		page = GenericXLogRegisterBuffer(state, buf,
										 PageGetMaxOffsetNumber(BufferGetPage(buf)) == 0 ?
										 GENERIC_XLOG_FULL_IMAGE : 0);
		lsm_vm_clear_in_record(state, page, vmbuf);
		do
		{
			lsm_page_add_tuple(page, rest[done]);
			done++;
		} while (done < nrest &&
				 lsm_page_has_room(page, rest[done]->t_len, reserve));
		GenericXLogFinish(state);
		lsm_vm_release(vmbuf);
		UnlockReleaseBuffer(buf);
	}

	for (int i = 0; i < ntuples; i++)
		slots[i]->tts_tid = heaptuples[i]->t_self;
	pgstat_count_heap_insert(rel, ntuples);
	pfree(heaptuples);
	pfree(rest);
	pfree(loaded);
}

/*
 * lsm_fill_tmfd -- fill *tmfd for a failed delete/update/lock of tuple:
 * its forward link, the updater, and (for our own change) the command.
 */
void
lsm_fill_tmfd(TM_Result result, HeapTuple tuple, TM_FailureData *tmfd)
{
	tmfd->ctid = tuple->t_data->t_ctid;
	tmfd->xmax = HeapTupleHeaderGetUpdateXid(tuple->t_data);
	if (result == TM_SelfModified)
		tmfd->cmax = HeapTupleHeaderGetCmax(tuple->t_data);
	else
		tmfd->cmax = InvalidCommandId;
}

/*
 * What lsm_check_modify remembers across the waits of one delete or
 * update, mirroring the local variables of heap_update.
 */
typedef struct LsmModifyState
{
	bool		have_tuple_lock;	/* we hold the heavyweight tuple lock */
	bool		waited;			/* we slept on wait_xmax ... */
	TransactionId wait_xmax;	/* ... which had these infomask bits */
	uint16		wait_infomask;
	bool		checked_lockers;	/* we know who the lockers are ... */
	bool		locker_remains; /* ... and some may still be running */
} LsmModifyState;

/* Release the page locks held during lsm_check_modify. */
static void
lsm_unlock_pair(Buffer buf, Buffer newbuf)
{
	if (BufferIsValid(newbuf) && newbuf != buf)
		LockBuffer(newbuf, BUFFER_LOCK_UNLOCK);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
}

/*
 * Decide whether the current transaction may delete or update the version
 * in tuple (whose page, and newbuf if valid, are locked exclusively),
 * following heap_delete/heap_update.
 *
 * If a concurrent transaction must be waited for, releases the page locks,
 * queues on the tuple lock, waits, and returns LSM_TM_RETRY: the caller
 * locks again and calls us again.  If the version's xmax is then what we
 * waited on, the decision heap makes after its wait is made here; if it
 * changed, we start from scratch, as heap does.
 */
static TM_Result
lsm_check_modify(Relation rel, HeapTuple tuple, Buffer buf, Buffer newbuf,
				 CommandId cid, Snapshot crosscheck, bool wait,
				 bool is_delete, LockTupleMode lockmode, bool key_intact,
				 LsmModifyState *ms)
{
	TM_Result	result;
	TransactionId xwait = HeapTupleHeaderGetRawXmax(tuple->t_data);
	uint16		infomask = tuple->t_data->t_infomask;
	XLTW_Oper	oper = is_delete ? XLTW_Delete : XLTW_Update;

	if (ms->waited &&
		(!TransactionIdEquals(xwait, ms->wait_xmax) ||
		 lsm_xmax_infomask_changed(infomask, ms->wait_infomask)))
	{
		/* someone else changed xmax while we slept: start over */
		ms->waited = false;
		ms->checked_lockers = ms->locker_remains = false;
	}

	result = lsm_satisfies_update(tuple, cid);
	if (result == TM_Invisible)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 is_delete ?
				 errmsg("attempted to delete invisible tuple") :
				 errmsg("attempted to update invisible tuple")));

	/*
	 * TM_Ok here means whatever xmax holds is over: an aborted updater or a
	 * locker that is gone.  Heap's check sets the XMAX_INVALID hint in that
	 * case, and heap_update then gives the new version no xmax; lsm sets no
	 * hints, so remember the verdict instead.
	 */
	if (result == TM_Ok && !ms->waited)
	{
		ms->checked_lockers = true;
		ms->locker_remains = false;
	}

	if (result == TM_BeingModified && wait)
	{
		bool		can_continue = false;

		if (infomask & HEAP_XMAX_IS_MULTI)
		{
			bool		current_is_member = false;
			TransactionId update_xact;

			if (!ms->waited &&
				lsm_multixact_conflicts((MultiXactId) xwait, infomask,
										lockmode, &current_is_member))
			{
				int			remain;

				lsm_unlock_pair(buf, newbuf);
				/* queue, unless we are a member (avoids self-deadlock) */
				if (!current_is_member)
					lsm_acquire_tuplock(rel, &tuple->t_self, lockmode,
										LockWaitBlock, &ms->have_tuple_lock);
				lsm_multixact_wait((MultiXactId) xwait,
								   lsm_mxact_status_for_lock(lockmode, true),
								   infomask, false, rel, &tuple->t_self,
								   oper, &remain);
				ms->waited = true;
				ms->wait_xmax = xwait;
				ms->wait_infomask = infomask;
				ms->checked_lockers = true;
				ms->locker_remains = remain != 0;
				return LSM_TM_RETRY;
			}

			/*
			 * No conflicting member runs (any more).  Surviving members are
			 * our own transaction or lockers that do not conflict; we may
			 * proceed unless a member committed an update.
			 */
			if (!HEAP_XMAX_IS_LOCKED_ONLY(infomask))
				update_xact = HeapTupleGetUpdateXid(tuple->t_data);
			else
				update_xact = InvalidTransactionId;
			if (!TransactionIdIsValid(update_xact) ||
				TransactionIdDidAbort(update_xact))
				can_continue = true;
		}
		else if (TransactionIdIsCurrentTransactionId(xwait))
		{
			/* our own lock */
			ms->checked_lockers = ms->locker_remains = true;
			can_continue = true;
		}
		else if (!is_delete && HEAP_XMAX_IS_KEYSHR_LOCKED(infomask) &&
				 key_intact)
		{
			/* a KEY SHARE lock does not conflict with a no-key update */
			ms->checked_lockers = ms->locker_remains = true;
			can_continue = true;
		}
		else if (!ms->waited)
		{
			lsm_unlock_pair(buf, newbuf);
			lsm_acquire_tuplock(rel, &tuple->t_self, lockmode, LockWaitBlock,
								&ms->have_tuple_lock);
			XactLockTableWait(xwait, rel, &tuple->t_self, oper);
			ms->waited = true;
			ms->wait_xmax = xwait;
			ms->wait_infomask = infomask;
			ms->checked_lockers = true;
			return LSM_TM_RETRY;
		}
		else
		{
			/*
			 * xwait has ended: we may proceed if it only locked, or if it
			 * aborted (heap sets the XMAX_INVALID hint here and tests it).
			 */
			can_continue = HEAP_XMAX_IS_LOCKED_ONLY(infomask) ||
				!TransactionIdDidCommit(xwait);
		}

		if (can_continue)
			result = TM_Ok;
		else if (!ItemPointerEquals(&tuple->t_self, &tuple->t_data->t_ctid))
			result = TM_Updated;
		else
			result = TM_Deleted;
	}

	/* transaction-snapshot mode RI checks */
	if (crosscheck != InvalidSnapshot && result == TM_Ok &&
		!lsm_tuple_satisfies(tuple, crosscheck))
		result = TM_Updated;

	return result;
}

/*
 * Install the xmax of a delete or an update on htup, a version's header in
 * the copy of its page of the record being built: the new xmax and its
 * infomask bits, the command id (cmax, combo or not), and the forward link
 * (the version's own TID for a delete).  The page becomes prunable by xid.
 */
static void
lsm_mark_changed_in(HeapTupleHeader htup, Page page, TransactionId xid,
					TransactionId new_xmax, uint16 new_infomask,
					uint16 new_infomask2, CommandId cid, bool iscombo,
					ItemPointer ctid)
{
	htup->t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED);
	htup->t_infomask2 &= ~HEAP_KEYS_UPDATED;
	htup->t_infomask |= new_infomask;
	htup->t_infomask2 |= new_infomask2;
	HeapTupleHeaderClearHotUpdated(htup);
	HeapTupleHeaderSetXmax(htup, new_xmax);
	HeapTupleHeaderSetCmax(htup, cid, iscombo);
	htup->t_ctid = *ctid;
	PageSetPrunable(page, xid);
}

/*
 * Mark version tp deleted by xid: htup is its header in the record's copy
 * of its page (the same as tp->t_data when the copy is where tp lives).
 */
static void
lsm_delete_mark(HeapTuple tp, HeapTupleHeader htup, Page page,
				TransactionId xid, CommandId cid, bool changingPart)
{
	TransactionId new_xmax;
	uint16		new_infomask;
	uint16		new_infomask2;
	bool		iscombo;

	HeapTupleHeaderAdjustCmax(tp->t_data, &cid, &iscombo);
	MultiXactIdSetOldestMember();
	lsm_compute_new_xmax(HeapTupleHeaderGetRawXmax(tp->t_data),
						 tp->t_data->t_infomask, tp->t_data->t_infomask2,
						 xid, LockTupleExclusive, true,
						 &new_xmax, &new_infomask, &new_infomask2);
	/* no forward link */
	lsm_mark_changed_in(htup, page, xid, new_xmax, new_infomask,
						new_infomask2, cid, iscombo, &tp->t_self);
	if (changingPart)
		HeapTupleHeaderSetMovedPartitions(htup);
}

/*
 * lsm_tuple_delete -- table AM callback tuple_delete.
 */
TM_Result
lsm_tuple_delete(Relation rel, ItemPointer tid, CommandId cid,
				 Snapshot snapshot, Snapshot crosscheck, bool wait,
				 TM_FailureData *tmfd, bool changingPart)
{
	TransactionId xid = GetCurrentTransactionId();
	HeapTupleData tp;
	Buffer		buf;
	Buffer		vmbuf;
	TM_Result	result;
	LsmModifyState ms;
	LsmPendingCopy pc;
	GenericXLogState *state;
	Page		page;
	HeapTupleHeader htup;

	if (IsInParallelMode())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot delete tuples during a parallel operation")));
	lsm_check_publication(rel);
	memset(&ms, 0, sizeof(ms));

	/*
	 * Deleting rows that live in runs makes overlay pages: a memtable with
	 * many of them is flushed first, as before an UPDATE (no buffer locked).
	 */
	lsm_maybe_flush(rel);

	/*
	 * A version that lives only in a run is copied to the memtable page of
	 * its block and deleted there in one record.  Versions in runs have no
	 * xmax and a committed xmin (but in a run loaded by COPY, whose
	 * transaction may still run: see lsm_load.c), so the check fails only
	 * on a crosscheck snapshot or for such a version; then the usual way
	 * below reports it.
	 */
	if (lsm_materialize_begin(rel, tid, true, &pc))
	{
		if (lsm_satisfies_update(&pc.tup, cid) == TM_Ok &&
			(crosscheck == InvalidSnapshot ||
			 lsm_tuple_satisfies(&pc.tup, crosscheck)))
		{
			CheckForSerializableConflictIn(rel, tid,
										   ItemPointerGetBlockNumber(tid));
			lsm_delete_mark(&pc.tup, pc.tup.t_data, pc.page, xid, cid,
							changingPart);
			lsm_materialize_finish(&pc);
			LockBuffer(pc.buf, BUFFER_LOCK_UNLOCK);
			if (HeapTupleHasExternal(&pc.tup))
				heap_toast_delete(rel, &pc.tup, false);
			ReleaseBuffer(pc.buf);
			pgstat_count_heap_delete(rel);
			return TM_Ok;
		}
		lsm_materialize_abort(&pc);
	}

	for (;;)
	{
		/* a version that lives in a run is changed on a memtable page */
		buf = lsm_read_version_page(rel, tid, BUFFER_LOCK_EXCLUSIVE);
		if (!BufferIsValid(buf) ||
			!lsm_page_get_version(rel, buf, tid, &tp))
			elog(ERROR, "tuple (%u,%u) to delete not found in \"%s\"",
				 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid),
				 RelationGetRelationName(rel));

		result = lsm_check_modify(rel, &tp, buf, InvalidBuffer, cid,
								  crosscheck, wait, true, LockTupleExclusive,
								  false, &ms);
		if (result != LSM_TM_RETRY)
			break;
		ReleaseBuffer(buf);
	}

	if (result != TM_Ok)
	{
		lsm_fill_tmfd(result, &tp, tmfd);
		UnlockReleaseBuffer(buf);
		if (ms.have_tuple_lock)
			lsm_release_tuplock(rel, tid, LockTupleExclusive);
		return result;
	}

	/* SSI: check before making the change, while the page is locked */
	CheckForSerializableConflictIn(rel, tid, ItemPointerGetBlockNumber(tid));

	vmbuf = lsm_vm_clear_prepare(rel, buf);
	state = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	lsm_vm_clear_in_record(state, page, vmbuf);
	htup = (HeapTupleHeader) ((char *) page +
							  ((char *) tp.t_data - (char *) BufferGetPage(buf)));
	lsm_delete_mark(&tp, htup, page, xid, cid, changingPart);
	GenericXLogFinish(state);
	lsm_vm_release(vmbuf);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);

	/* toasted values go with the version (the page stays pinned) */
	if (HeapTupleHasExternal(&tp))
		heap_toast_delete(rel, &tp, false);
	ReleaseBuffer(buf);

	if (ms.have_tuple_lock)
		lsm_release_tuplock(rel, tid, LockTupleExclusive);
	pgstat_count_heap_delete(rel);
	return TM_Ok;
}

/*
 * Did the update change any column that is part of a key (of a unique
 * index usable by a foreign key)?  Binary comparison, as heap does.
 */
static bool
lsm_keys_changed(Relation rel, HeapTuple oldtup, HeapTuple newtup)
{
	Bitmapset  *key_attrs = RelationGetIndexAttrBitmap(rel,
												   INDEX_ATTR_BITMAP_KEY);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int			attidx = -1;
	bool		changed = false;

	while ((attidx = bms_next_member(key_attrs, attidx)) >= 0)
	{
		AttrNumber	attnum = attidx + FirstLowInvalidHeapAttributeNumber;
		Datum		v1,
					v2;
		bool		n1,
					n2;
		Form_pg_attribute att;

		if (attnum <= 0)
			continue;			/* system columns do not change */
		att = TupleDescAttr(tupdesc, attnum - 1);
		v1 = heap_getattr(oldtup, attnum, tupdesc, &n1);
		v2 = heap_getattr(newtup, attnum, tupdesc, &n2);
		if (n1 != n2 ||
			(!n1 && !datumIsEqual(v1, v2, att->attbyval, att->attlen)))
		{
			changed = true;
			break;
		}
	}
	bms_free(key_attrs);
	return changed;
}

/*
 * Lock the old version's page and a page that can take the new version,
 * in block-number order.  Returns the page for the new version (possibly
 * oldbuf itself).  No lock is held on entry.
 */
static Buffer
lsm_lock_pair(Relation rel, Buffer oldbuf, Size len)
{
	for (;;)
	{
		Buffer		newbuf;

		/* the old page itself, if it has room (no fillfactor, as in heap) */
		LockBuffer(oldbuf, BUFFER_LOCK_EXCLUSIVE);
		if (lsm_page_has_room(BufferGetPage(oldbuf), len, 0))
			return oldbuf;
		LockBuffer(oldbuf, BUFFER_LOCK_UNLOCK);

		newbuf = lsm_get_insert_buffer(rel, len, NULL);
		if (BufferGetBlockNumber(newbuf) == BufferGetBlockNumber(oldbuf))
		{
			/* the old page itself (it gained room?); one lock suffices */
			ReleaseBuffer(newbuf);
			if (lsm_page_has_room(BufferGetPage(oldbuf), len, 0))
				return oldbuf;
			LockBuffer(oldbuf, BUFFER_LOCK_UNLOCK);
			continue;
		}
		if (BufferGetBlockNumber(newbuf) < BufferGetBlockNumber(oldbuf))
		{
			LockBuffer(oldbuf, BUFFER_LOCK_EXCLUSIVE);
			return newbuf;
		}
		LockBuffer(newbuf, BUFFER_LOCK_UNLOCK);
		LockBuffer(oldbuf, BUFFER_LOCK_EXCLUSIVE);
		LockBuffer(newbuf, BUFFER_LOCK_EXCLUSIVE);
		if (lsm_page_has_room(BufferGetPage(newbuf), len,
							  lsm_fillfactor_reserve(rel)))
			return newbuf;
		/* filled up while unlocked: start over */
		UnlockReleaseBuffer(newbuf);
		LockBuffer(oldbuf, BUFFER_LOCK_UNLOCK);
	}
}

/*
 * Mark the old version locked by us (lock-only xmax), so that nobody can
 * update it while we toast the new version without holding its page.
 * Anyone who wants to change the version conflicts with the lock and
 * waits; if we fail before completing the update, the lock is released
 * with our (sub)transaction.
 */
static void
lsm_lock_for_update(Relation rel, Buffer buf, HeapTuple oldtup,
					LockTupleMode lockmode)
{
	TransactionId xmax;
	uint16		infomask;
	uint16		infomask2;
	GenericXLogState *state;
	Page		page;
	HeapTupleHeader htup;

	lsm_compute_new_xmax(HeapTupleHeaderGetRawXmax(oldtup->t_data),
						 oldtup->t_data->t_infomask,
						 oldtup->t_data->t_infomask2,
						 GetCurrentTransactionId(), lockmode, false,
						 &xmax, &infomask, &infomask2);
	Assert(HEAP_XMAX_IS_LOCKED_ONLY(infomask));
	state = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	htup = (HeapTupleHeader) ((char *) page +
							  ((char *) oldtup->t_data - (char *) BufferGetPage(buf)));
	htup->t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED);
	htup->t_infomask2 &= ~HEAP_KEYS_UPDATED;
	htup->t_infomask |= infomask;
	htup->t_infomask2 |= infomask2;
	HeapTupleHeaderSetXmax(htup, xmax);
	htup->t_ctid = oldtup->t_self;
	GenericXLogFinish(state);
}

/*
 * lsm_tuple_update -- table AM callback tuple_update.
 */
TM_Result
lsm_tuple_update(Relation rel, ItemPointer otid, TupleTableSlot *slot,
				 CommandId cid, Snapshot snapshot, Snapshot crosscheck,
				 bool wait, TM_FailureData *tmfd, LockTupleMode *lockmode,
				 bool *update_indexes)
{
	TransactionId xid = GetCurrentTransactionId();
	bool		shouldFree = true;
	HeapTuple	newtup = ExecFetchSlotHeapTuple(slot, true, &shouldFree);
	HeapTuple	heaptup = newtup;
	HeapTupleData oldtup;
	Buffer		buf;
	Buffer		newbuf = InvalidBuffer;
	Buffer		vmbuf_old;
	Buffer		vmbuf_new;
	bool		key_intact;
	bool		need_toast;
	bool		toasted = false;
	LsmModifyState ms;
	bool		have_new_xmax = false;
	TransactionId locked_xmax = InvalidTransactionId;
	uint16		locked_infomask = 0;
	TM_Result	result;
	TransactionId xmax_old_tuple;
	TransactionId xmax_new_tuple = InvalidTransactionId;
	uint16		infomask_old_tuple,
				infomask2_old_tuple,
				infomask_new_tuple = HEAP_XMAX_INVALID,
				infomask2_new_tuple = 0;
	bool		iscombo;
	GenericXLogState *state;
	Page		newpage;
	Page		oldpage;
	HeapTupleHeader ohtup;

	if (IsInParallelMode())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot update tuples during a parallel operation")));
	lsm_check_publication(rel);

	/*
	 * The new version is an insertion: a memtable grown past the threshold
	 * is flushed first, as before an INSERT (no buffer is locked yet; a
	 * page that the caller's slot still pins is not freed, see
	 * lsm_unmap_page).
	 */
	lsm_maybe_flush(rel);

	slot->tts_tableOid = RelationGetRelid(rel);
	newtup->t_tableOid = slot->tts_tableOid;

	/* The old version, to see which columns change (from a run: copied). */
	buf = lsm_read_version_page(rel, otid, BUFFER_LOCK_SHARE);
	if (!BufferIsValid(buf) ||
		!lsm_page_get_version(rel, buf, otid, &oldtup))
		elog(ERROR, "tuple (%u,%u) to update not found in \"%s\"",
			 ItemPointerGetBlockNumber(otid), ItemPointerGetOffsetNumber(otid),
			 RelationGetRelationName(rel));
	key_intact = !lsm_keys_changed(rel, &oldtup, newtup);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	*lockmode = key_intact ? LockTupleNoKeyExclusive : LockTupleExclusive;
	if (key_intact)
		MultiXactIdSetOldestMember();

	need_toast = HeapTupleHasExternal(&oldtup) || HeapTupleHasExternal(newtup) ||
		newtup->t_len > TOAST_TUPLE_THRESHOLD;

	memset(&ms, 0, sizeof(ms));
	for (;;)
	{
		if (need_toast && !toasted)
		{
			/* first make sure we may update, and lock the old version */
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			newbuf = InvalidBuffer;
		}
		else
			newbuf = lsm_lock_pair(rel, buf, heaptup->t_len);

		if (lsm_version_moved(buf, oldtup.t_data))
		{
			/*
			 * While we waited with only a pin, the old version's block moved
			 * off a full shared overlay page (lsm_move_shared_block): look
			 * it up again and start over.
			 */
			lsm_unlock_pair(buf, newbuf);
			if (BufferIsValid(newbuf) && newbuf != buf)
				ReleaseBuffer(newbuf);
			ReleaseBuffer(buf);
			buf = lsm_read_version_page(rel, otid, BUFFER_LOCK_SHARE);
			if (!BufferIsValid(buf) ||
				!lsm_page_get_version(rel, buf, otid, &oldtup))
				elog(ERROR, "tuple (%u,%u) to update not found in \"%s\"",
					 ItemPointerGetBlockNumber(otid), ItemPointerGetOffsetNumber(otid),
					 RelationGetRelationName(rel));
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
			continue;
		}

		result = lsm_check_modify(rel, &oldtup, buf, newbuf, cid, crosscheck,
								  wait, false, *lockmode, key_intact, &ms);
		if (result == LSM_TM_RETRY)
		{
			if (BufferIsValid(newbuf) && newbuf != buf)
				ReleaseBuffer(newbuf);
			continue;
		}
		if (result != TM_Ok)
			break;

		/*
		 * The new version's xmax: the lockers of the old version that may
		 * still be running (only KEY SHARE lockers can coexist with an
		 * update), decided as heap_update does.  After our own temporary
		 * lock (toast path) the decision made before it stands, unless
		 * another locker joined meanwhile.
		 */
		if (!have_new_xmax ||
			!TransactionIdEquals(HeapTupleHeaderGetRawXmax(oldtup.t_data),
								 locked_xmax) ||
			lsm_xmax_infomask_changed(oldtup.t_data->t_infomask,
									  locked_infomask))
		{
			uint16		oinfomask = oldtup.t_data->t_infomask;

			if ((oinfomask & HEAP_XMAX_INVALID) ||
				HEAP_LOCKED_UPGRADED(oinfomask) ||
				(ms.checked_lockers && !ms.locker_remains))
				xmax_new_tuple = InvalidTransactionId;
			else
				xmax_new_tuple = HeapTupleHeaderGetRawXmax(oldtup.t_data);
			infomask2_new_tuple = 0;
			if (!TransactionIdIsValid(xmax_new_tuple))
				infomask_new_tuple = HEAP_XMAX_INVALID;
			else if (oinfomask & HEAP_XMAX_IS_MULTI)
				lsm_multixact_hint_bits(xmax_new_tuple, &infomask_new_tuple,
										&infomask2_new_tuple);
			else
				infomask_new_tuple = HEAP_XMAX_KEYSHR_LOCK | HEAP_XMAX_LOCK_ONLY;
			have_new_xmax = true;
		}

		if (need_toast && !toasted)
		{
			/* lock the old version, then toast without holding the page */
			lsm_lock_for_update(rel, buf, &oldtup, *lockmode);
			locked_xmax = HeapTupleHeaderGetRawXmax(oldtup.t_data);
			locked_infomask = oldtup.t_data->t_infomask;
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
			heaptup = heap_toast_insert_or_update(rel, newtup, &oldtup, 0);
			toasted = true;
			continue;
		}
		break;
	}

	if (result != TM_Ok)
	{
		lsm_fill_tmfd(result, &oldtup, tmfd);
		if (BufferIsValid(newbuf) && newbuf != buf)
			UnlockReleaseBuffer(newbuf);
		UnlockReleaseBuffer(buf);
		if (ms.have_tuple_lock)
			lsm_release_tuplock(rel, otid, *lockmode);
		if (shouldFree)
			pfree(newtup);
		return result;
	}

	lsm_check_tuple_size(rel, heaptup);

	/* the old version's new xmax: us as updater, keeping live lockers */
	MultiXactIdSetOldestMember();
	lsm_compute_new_xmax(HeapTupleHeaderGetRawXmax(oldtup.t_data),
						 oldtup.t_data->t_infomask,
						 oldtup.t_data->t_infomask2,
						 xid, *lockmode, true,
						 &xmax_old_tuple, &infomask_old_tuple,
						 &infomask2_old_tuple);

	heaptup->t_data->t_infomask &= ~(HEAP_XACT_MASK);
	heaptup->t_data->t_infomask2 &= ~(HEAP2_XACT_MASK);
	HeapTupleHeaderSetXmin(heaptup->t_data, xid);
	HeapTupleHeaderSetCmin(heaptup->t_data, cid);
	heaptup->t_data->t_infomask |= HEAP_UPDATED | infomask_new_tuple;
	heaptup->t_data->t_infomask2 |= infomask2_new_tuple;
	HeapTupleHeaderSetXmax(heaptup->t_data, xmax_new_tuple);

	HeapTupleHeaderAdjustCmax(oldtup.t_data, &cid, &iscombo);

	/* SSI: check before making the change, while the page is locked */
	CheckForSerializableConflictIn(rel, otid, ItemPointerGetBlockNumber(otid));

	/* map pages of the two pages; both bits may live on one map page */
	vmbuf_old = lsm_vm_clear_prepare(rel, buf);
	if (newbuf == buf)
		vmbuf_new = InvalidBuffer;
	else if (BufferIsValid(vmbuf_old) && PageIsAllVisible(BufferGetPage(newbuf)) &&
			 BufferGetBlockNumber(vmbuf_old) ==
			 lsm_vm_block_of(LsmPageGetOpaque(BufferGetPage(newbuf))->lpo_aux))
		vmbuf_new = InvalidBuffer;	/* same map page: registered once */
	else
		vmbuf_new = lsm_vm_clear_prepare(rel, newbuf);

	state = GenericXLogStart(rel);
	newpage = GenericXLogRegisterBuffer(state, newbuf, 0);
	oldpage = (newbuf == buf) ? newpage : GenericXLogRegisterBuffer(state, buf, 0);
	lsm_vm_clear_in_record(state, oldpage, vmbuf_old);
	lsm_vm_clear_in_record(state, newpage,
						   BufferIsValid(vmbuf_new) ? vmbuf_new : vmbuf_old);
	lsm_page_add_tuple(newpage, heaptup);
	ohtup = (HeapTupleHeader) ((char *) oldpage +
							   ((char *) oldtup.t_data - (char *) BufferGetPage(buf)));
	lsm_mark_changed_in(ohtup, oldpage, xid, xmax_old_tuple,
						infomask_old_tuple, infomask2_old_tuple, cid, iscombo,
						&heaptup->t_self);
	GenericXLogFinish(state);
	lsm_vm_release(vmbuf_new);
	lsm_vm_release(vmbuf_old);

	if (newbuf != buf)
		UnlockReleaseBuffer(newbuf);
	UnlockReleaseBuffer(buf);
	if (ms.have_tuple_lock)
		lsm_release_tuplock(rel, otid, *lockmode);
	pgstat_count_heap_update(rel, false);

	if (heaptup != newtup)
	{
		newtup->t_self = heaptup->t_self;
		heap_freetuple(heaptup);
	}
	ItemPointerCopy(&newtup->t_self, &slot->tts_tid);
	*update_indexes = true;
	if (shouldFree)
		pfree(newtup);
	return TM_Ok;
}
