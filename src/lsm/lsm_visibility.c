/*-------------------------------------------------------------------------
 *
 * lsm_visibility.c
 *	  Tuple visibility rules of lsm tables.
 *
 * lsm versions carry a HeapTupleHeaderData, and an lsm table must behave
 * exactly like a heap table, so the rules here are heap's rules (see
 * access/heap/heapam_visibility.c and README.tuplock in PostgreSQL's
 * source): the same decisions for the same header, in the same order of
 * checks (current transaction, then in-progress, then commit status, so
 * that a transaction committing concurrently is never seen half-way).
 *
 * The difference is hint bits.  Heap sets HEAP_XMIN_COMMITTED and friends
 * as a side effect of these checks, without WAL.  lsm pages are logged with
 * generic WAL, which cannot mask such changes: an unlogged hint would make
 * the primary's page differ from the standby's and break
 * wal_consistency_checking.  So these functions never write; they consult
 * hint bits when present (they are written only by WAL-logged operations:
 * freezing, and changes of xmax that supersede them) and otherwise ask the
 * transaction manager, whose own caches make repeated questions cheap.
 *
 * The HEAP_MOVED_OFF/HEAP_MOVED_IN bits of pre-9.0 VACUUM FULL never occur
 * in lsm tables: every lsm version was written by this extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/multixact.h"
#include "access/subtrans.h"
#include "access/transam.h"
#include "access/xact.h"
#include "storage/predicate.h"
#include "storage/procarray.h"
#include "utils/combocid.h"
#include "utils/snapmgr.h"

#include "lsm/lsm_internal.h"

/* Status of a tuple's inserting transaction, as far as it is known. */
typedef enum LsmXminState
{
	LSM_XMIN_ABORTED,			/* aborted, crashed, or super-deleted */
	LSM_XMIN_CURRENT,			/* our own (sub)transaction */
	LSM_XMIN_IN_PROGRESS,		/* another transaction still running */
	LSM_XMIN_COMMITTED			/* committed (or frozen) */
} LsmXminState;

/*
 * Classify xmin for the non-MVCC rules: current transaction first, then
 * in-progress, then the commit log.
 */
static LsmXminState
lsm_xmin_state(HeapTupleHeader tup)
{
	TransactionId xmin;

	if (HeapTupleHeaderXminCommitted(tup))
		return LSM_XMIN_COMMITTED;	/* also covers frozen */
	if (HeapTupleHeaderXminInvalid(tup))
		return LSM_XMIN_ABORTED;
	xmin = HeapTupleHeaderGetRawXmin(tup);
	if (!TransactionIdIsValid(xmin))
		return LSM_XMIN_ABORTED;	/* super-deleted speculative insertion */
	if (TransactionIdIsCurrentTransactionId(xmin))
		return LSM_XMIN_CURRENT;
	if (TransactionIdIsInProgress(xmin))
		return LSM_XMIN_IN_PROGRESS;
	if (TransactionIdDidCommit(xmin))
		return LSM_XMIN_COMMITTED;
	return LSM_XMIN_ABORTED;
}

/*
 * For a tuple inserted by our own transaction: is it deleted (not merely
 * locked) by our own transaction?  Shared by the SELF and DIRTY rules.
 */
static bool
lsm_own_tuple_deleted_by_self(HeapTupleHeader tup)
{
	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return false;
	if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
		return false;
	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
		return TransactionIdIsCurrentTransactionId(HeapTupleGetUpdateXid(tup));
	/* a deleting subtransaction that aborted is no longer "current" */
	return TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmax(tup));
}

/*
 * SnapshotSelf: changes of committed transactions and of our own
 * transaction so far (including the current command).
 */
static bool
lsm_satisfies_self(HeapTuple htup)
{
	HeapTupleHeader tup = htup->t_data;
	TransactionId xmax;

	switch (lsm_xmin_state(tup))
	{
		case LSM_XMIN_ABORTED:
		case LSM_XMIN_IN_PROGRESS:
			return false;
		case LSM_XMIN_CURRENT:
			return !lsm_own_tuple_deleted_by_self(tup);
		case LSM_XMIN_COMMITTED:
			break;
	}

	/* inserter committed: now the deleter */
	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return true;
	if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
		return true;
	if (tup->t_infomask & HEAP_XMAX_COMMITTED)
		return false;
	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
		xmax = HeapTupleGetUpdateXid(tup);
	else
		xmax = HeapTupleHeaderGetRawXmax(tup);
	if (TransactionIdIsCurrentTransactionId(xmax))
		return false;
	if (TransactionIdIsInProgress(xmax))
		return true;
	return !TransactionIdDidCommit(xmax);
}

/*
 * SnapshotDirty: like SnapshotSelf, but also sees versions of transactions
 * still in progress, and reports them: snapshot->xmin is set to a running
 * inserter, snapshot->xmax to a running deleter, and speculativeToken to
 * the token of a speculative insertion in progress.  Unique checks (btree's
 * _bt_check_unique and ours) rely on those fields to decide whom to wait
 * for.
 */
static bool
lsm_satisfies_dirty(HeapTuple htup, Snapshot snapshot)
{
	HeapTupleHeader tup = htup->t_data;
	TransactionId xmax;

	snapshot->xmin = snapshot->xmax = InvalidTransactionId;
	snapshot->speculativeToken = 0;

	switch (lsm_xmin_state(tup))
	{
		case LSM_XMIN_ABORTED:
			return false;
		case LSM_XMIN_CURRENT:
			return !lsm_own_tuple_deleted_by_self(tup);
		case LSM_XMIN_IN_PROGRESS:
			if (HeapTupleHeaderIsSpeculative(tup))
			{
				snapshot->speculativeToken =
					HeapTupleHeaderGetSpeculativeToken(tup);
				Assert(snapshot->speculativeToken != 0);
			}
			snapshot->xmin = HeapTupleHeaderGetRawXmin(tup);
			/* XXX shouldn't we fall through to look at xmax? heap doesn't */
			return true;
		case LSM_XMIN_COMMITTED:
			break;
	}

	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return true;
	if (tup->t_infomask & HEAP_XMAX_COMMITTED)
		return HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask);
	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
	{
		if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			return true;
		xmax = HeapTupleGetUpdateXid(tup);
		if (TransactionIdIsCurrentTransactionId(xmax))
			return false;
		if (TransactionIdIsInProgress(xmax))
		{
			snapshot->xmax = xmax;
			return true;
		}
		return !TransactionIdDidCommit(xmax);
	}

	xmax = HeapTupleHeaderGetRawXmax(tup);
	if (TransactionIdIsCurrentTransactionId(xmax))
		return HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask);
	if (TransactionIdIsInProgress(xmax))
	{
		if (!HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			snapshot->xmax = xmax;
		return true;
	}
	if (!TransactionIdDidCommit(xmax))
		return true;			/* deleter aborted or crashed */
	return HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask);
}

/*
 * MVCC snapshot rules.
 *
 * A transaction's effects are visible if it committed before the snapshot
 * was taken (not listed in the snapshot), or if it is our own transaction
 * and the command that made the change came before snapshot->curcid.
 * XidInMVCCSnapshot must be asked before the commit log: a transaction may
 * commit after the snapshot was taken.
 */
static bool
lsm_satisfies_mvcc(HeapTuple htup, Snapshot snapshot)
{
	HeapTupleHeader tup = htup->t_data;
	TransactionId xmin;
	TransactionId xmax;

	/* --- inserter --- */
	if (HeapTupleHeaderXminCommitted(tup))
	{
		if (!HeapTupleHeaderXminFrozen(tup) &&
			XidInMVCCSnapshot(HeapTupleHeaderGetRawXmin(tup), snapshot))
			return false;
	}
	else
	{
		if (HeapTupleHeaderXminInvalid(tup))
			return false;
		xmin = HeapTupleHeaderGetRawXmin(tup);
		if (!TransactionIdIsValid(xmin))
			return false;		/* super-deleted */
		if (TransactionIdIsCurrentTransactionId(xmin))
		{
			if (HeapTupleHeaderGetCmin(tup) >= snapshot->curcid)
				return false;	/* inserted after the scan started */
			if (tup->t_infomask & HEAP_XMAX_INVALID)
				return true;
			if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
				return true;
			if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
				xmax = HeapTupleGetUpdateXid(tup);
			else
				xmax = HeapTupleHeaderGetRawXmax(tup);
			if (!TransactionIdIsCurrentTransactionId(xmax))
				return true;	/* deleting subtransaction aborted */
			/* deleted by us: visible iff deleted after the scan started */
			return HeapTupleHeaderGetCmax(tup) >= snapshot->curcid;
		}
		if (XidInMVCCSnapshot(xmin, snapshot))
			return false;
		if (!TransactionIdDidCommit(xmin))
			return false;		/* aborted or crashed */
	}

	/* --- deleter: inserter is visible to us --- */
	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return true;
	if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
		return true;
	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
	{
		xmax = HeapTupleGetUpdateXid(tup);
		Assert(TransactionIdIsValid(xmax));
		if (TransactionIdIsCurrentTransactionId(xmax))
			return HeapTupleHeaderGetCmax(tup) >= snapshot->curcid;
		if (XidInMVCCSnapshot(xmax, snapshot))
			return true;
		return !TransactionIdDidCommit(xmax);
	}

	xmax = HeapTupleHeaderGetRawXmax(tup);
	if (tup->t_infomask & HEAP_XMAX_COMMITTED)
		return XidInMVCCSnapshot(xmax, snapshot);
	if (TransactionIdIsCurrentTransactionId(xmax))
		return HeapTupleHeaderGetCmax(tup) >= snapshot->curcid;
	if (XidInMVCCSnapshot(xmax, snapshot))
		return true;
	return !TransactionIdDidCommit(xmax);
}

/*
 * SnapshotToast: only the inserter's fate matters.  Toast tables are
 * heaps, so this is used only if somebody scans an lsm table with it.
 */
static bool
lsm_satisfies_toast(HeapTuple htup)
{
	HeapTupleHeader tup = htup->t_data;

	if (HeapTupleHeaderXminCommitted(tup))
		return true;
	if (HeapTupleHeaderXminInvalid(tup))
		return false;
	return TransactionIdIsValid(HeapTupleHeaderGetRawXmin(tup));
}

/*
 * lsm_satisfies_vacuum_horizon -- classify a version for VACUUM, pruning
 * and index builds, without a horizon.
 *
 * HEAPTUPLE_RECENTLY_DEAD comes with *dead_after set to the xid after
 * which the version is dead to everybody; the caller compares it with its
 * horizon.
 */
HTSV_Result
lsm_satisfies_vacuum_horizon(HeapTuple htup, TransactionId *dead_after)
{
	HeapTupleHeader tup = htup->t_data;
	TransactionId xmax;

	*dead_after = InvalidTransactionId;

	switch (lsm_xmin_state(tup))
	{
		case LSM_XMIN_ABORTED:
			return HEAPTUPLE_DEAD;
		case LSM_XMIN_CURRENT:
			if (tup->t_infomask & HEAP_XMAX_INVALID)
				return HEAPTUPLE_INSERT_IN_PROGRESS;
			if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask) ||
				HeapTupleHeaderIsOnlyLocked(tup))
				return HEAPTUPLE_INSERT_IN_PROGRESS;
			if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tup)))
				return HEAPTUPLE_DELETE_IN_PROGRESS;
			return HEAPTUPLE_INSERT_IN_PROGRESS;
		case LSM_XMIN_IN_PROGRESS:
			return HEAPTUPLE_INSERT_IN_PROGRESS;
		case LSM_XMIN_COMMITTED:
			break;
	}

	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return HEAPTUPLE_LIVE;
	if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
		return HEAPTUPLE_LIVE;	/* lockers do not make a version dead */
	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
	{
		xmax = HeapTupleGetUpdateXid(tup);
		Assert(TransactionIdIsValid(xmax));
		if (TransactionIdIsInProgress(xmax))
			return HEAPTUPLE_DELETE_IN_PROGRESS;
		if (TransactionIdDidCommit(xmax))
		{
			*dead_after = xmax;
			return HEAPTUPLE_RECENTLY_DEAD;
		}
		return HEAPTUPLE_LIVE;	/* updater aborted */
	}

	xmax = HeapTupleHeaderGetRawXmax(tup);
	if (!(tup->t_infomask & HEAP_XMAX_COMMITTED))
	{
		if (TransactionIdIsInProgress(xmax))
			return HEAPTUPLE_DELETE_IN_PROGRESS;
		if (!TransactionIdDidCommit(xmax))
			return HEAPTUPLE_LIVE;	/* deleter aborted or crashed */
	}
	*dead_after = xmax;
	return HEAPTUPLE_RECENTLY_DEAD;
}

/*
 * lsm_satisfies_vacuum -- as lsm_satisfies_vacuum_horizon, resolving
 * RECENTLY_DEAD against OldestXmin.
 */
HTSV_Result
lsm_satisfies_vacuum(HeapTuple htup, TransactionId OldestXmin)
{
	TransactionId dead_after;
	HTSV_Result res = lsm_satisfies_vacuum_horizon(htup, &dead_after);

	if (res == HEAPTUPLE_RECENTLY_DEAD &&
		TransactionIdPrecedes(dead_after, OldestXmin))
		res = HEAPTUPLE_DEAD;
	return res;
}

/*
 * SnapshotNonVacuumable: everything not yet removable by VACUUM.
 */
static bool
lsm_satisfies_nonvacuumable(HeapTuple htup, Snapshot snapshot)
{
	TransactionId dead_after;
	HTSV_Result res = lsm_satisfies_vacuum_horizon(htup, &dead_after);

	if (res == HEAPTUPLE_RECENTLY_DEAD &&
		GlobalVisTestIsRemovableXid(snapshot->vistest, dead_after))
		res = HEAPTUPLE_DEAD;
	return res != HEAPTUPLE_DEAD;
}

/*
 * lsm_tuple_satisfies -- is the version visible under the snapshot?
 */
bool
lsm_tuple_satisfies(HeapTuple htup, Snapshot snapshot)
{
	switch (snapshot->snapshot_type)
	{
		case SNAPSHOT_MVCC:
			return lsm_satisfies_mvcc(htup, snapshot);
		case SNAPSHOT_SELF:
			return lsm_satisfies_self(htup);
		case SNAPSHOT_ANY:
			return true;
		case SNAPSHOT_TOAST:
			return lsm_satisfies_toast(htup);
		case SNAPSHOT_DIRTY:
			return lsm_satisfies_dirty(htup, snapshot);
		case SNAPSHOT_NON_VACUUMABLE:
			return lsm_satisfies_nonvacuumable(htup, snapshot);
		case SNAPSHOT_HISTORIC_MVCC:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("lsm tables cannot be read during logical decoding"),
					 errdetail("Changes to lsm tables are written as generic WAL records, which logical decoding ignores.")));
	}
	elog(ERROR, "unrecognized snapshot type %d", (int) snapshot->snapshot_type);
	return false;				/* keep compiler quiet */
}

/*
 * lsm_satisfies_update -- may the current command update or lock this
 * version?  The TM_Result values mean what they mean for heap_update.
 */
TM_Result
lsm_satisfies_update(HeapTuple htup, CommandId curcid)
{
	HeapTupleHeader tup = htup->t_data;
	TransactionId xmax;

	switch (lsm_xmin_state(tup))
	{
		case LSM_XMIN_ABORTED:
		case LSM_XMIN_IN_PROGRESS:
			return TM_Invisible;
		case LSM_XMIN_CURRENT:
			if (HeapTupleHeaderGetCmin(tup) >= curcid)
				return TM_Invisible;	/* inserted after the scan started */
			if (tup->t_infomask & HEAP_XMAX_INVALID)
				return TM_Ok;
			if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			{
				xmax = HeapTupleHeaderGetRawXmax(tup);
				if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
					return MultiXactIdIsRunning(xmax, true) ?
						TM_BeingModified : TM_Ok;
				return TransactionIdIsInProgress(xmax) ?
					TM_BeingModified : TM_Ok;
			}
			if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
			{
				xmax = HeapTupleGetUpdateXid(tup);
				if (!TransactionIdIsCurrentTransactionId(xmax))
				{
					/* updating subtransaction aborted; lockers may remain */
					return MultiXactIdIsRunning(HeapTupleHeaderGetRawXmax(tup),
												false) ?
						TM_BeingModified : TM_Ok;
				}
			}
			else if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmax(tup)))
				return TM_Ok;	/* deleting subtransaction aborted */
			return HeapTupleHeaderGetCmax(tup) >= curcid ?
				TM_SelfModified : TM_Invisible;
		case LSM_XMIN_COMMITTED:
			break;
	}

	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return TM_Ok;
	if (tup->t_infomask & HEAP_XMAX_COMMITTED)
	{
		if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			return TM_Ok;
		return ItemPointerEquals(&htup->t_self, &tup->t_ctid) ?
			TM_Deleted : TM_Updated;
	}

	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
	{
		TransactionId rawxmax = HeapTupleHeaderGetRawXmax(tup);

		if (HEAP_LOCKED_UPGRADED(tup->t_infomask))
			return TM_Ok;
		if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			return MultiXactIdIsRunning(rawxmax, true) ?
				TM_BeingModified : TM_Ok;

		xmax = HeapTupleGetUpdateXid(tup);
		if (!TransactionIdIsValid(xmax))
			return MultiXactIdIsRunning(rawxmax, false) ?
				TM_BeingModified : TM_Ok;
		if (TransactionIdIsCurrentTransactionId(xmax))
			return HeapTupleHeaderGetCmax(tup) >= curcid ?
				TM_SelfModified : TM_Invisible;
		if (MultiXactIdIsRunning(rawxmax, false))
			return TM_BeingModified;
		if (TransactionIdDidCommit(xmax))
			return ItemPointerEquals(&htup->t_self, &tup->t_ctid) ?
				TM_Deleted : TM_Updated;
		/* updater aborted; no member is running */
		return TM_Ok;
	}

	xmax = HeapTupleHeaderGetRawXmax(tup);
	if (TransactionIdIsCurrentTransactionId(xmax))
	{
		if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			return TM_BeingModified;
		return HeapTupleHeaderGetCmax(tup) >= curcid ?
			TM_SelfModified : TM_Invisible;
	}
	if (TransactionIdIsInProgress(xmax))
		return TM_BeingModified;
	if (!TransactionIdDidCommit(xmax))
		return TM_Ok;			/* deleter aborted or crashed */
	if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
		return TM_Ok;
	return ItemPointerEquals(&htup->t_self, &tup->t_ctid) ?
		TM_Deleted : TM_Updated;
}

/*
 * lsm_tuple_is_surely_dead -- cheap test used by index fetches to let the
 * index kill its entry: true only if the version is certainly dead to every
 * snapshot.  False when unsure.
 */
bool
lsm_tuple_is_surely_dead(HeapTuple htup, GlobalVisState *vistest)
{
	TransactionId dead_after;

	switch (lsm_satisfies_vacuum_horizon(htup, &dead_after))
	{
		case HEAPTUPLE_DEAD:
			return true;		/* e.g. inserted by an aborted transaction */
		case HEAPTUPLE_RECENTLY_DEAD:
			return GlobalVisTestIsRemovableXid(vistest, dead_after);
		default:
			return false;
	}
}

/*
 * lsm_serializable_conflict_out -- SSI: report a read of a version written
 * (or deleted) by a concurrent serializable transaction.  Mirrors
 * HeapCheckForSerializableConflictOut.
 */
void
lsm_serializable_conflict_out(bool visible, Relation rel, HeapTuple tuple,
							  Snapshot snapshot)
{
	TransactionId xid;

	if (!CheckForSerializableConflictOutNeeded(rel, snapshot))
		return;

	switch (lsm_satisfies_vacuum(tuple, TransactionXmin))
	{
		case HEAPTUPLE_LIVE:
			if (visible)
				return;
			xid = HeapTupleHeaderGetXmin(tuple->t_data);
			break;
		case HEAPTUPLE_RECENTLY_DEAD:
		case HEAPTUPLE_DELETE_IN_PROGRESS:
			if (visible)
				xid = HeapTupleHeaderGetUpdateXid(tuple->t_data);
			else
				xid = HeapTupleHeaderGetXmin(tuple->t_data);
			if (TransactionIdPrecedes(xid, TransactionXmin))
				return;			/* like DEAD */
			break;
		case HEAPTUPLE_INSERT_IN_PROGRESS:
			xid = HeapTupleHeaderGetXmin(tuple->t_data);
			break;
		case HEAPTUPLE_DEAD:
		default:
			return;
	}

	if (!TransactionIdIsValid(xid))
		return;
	if (TransactionIdEquals(xid, GetTopTransactionIdIfAny()))
		return;
	xid = SubTransGetTopmostTransaction(xid);
	if (TransactionIdPrecedes(xid, TransactionXmin))
		return;
	CheckForSerializableConflictOut(rel, xid, snapshot);
}
