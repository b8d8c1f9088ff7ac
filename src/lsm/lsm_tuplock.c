/*-------------------------------------------------------------------------
 *
 * lsm_tuplock.c
 *	  Row locks on lsm tables: SELECT ... FOR UPDATE/NO KEY UPDATE/SHARE/
 *	  KEY SHARE, NOWAIT and SKIP LOCKED, MultiXacts, locking of update
 *	  chains, and the helpers that UPDATE and DELETE share with them.
 *
 * The protocol is heap's, described in README.tuplock of PostgreSQL's
 * source, because foreign keys, EvalPlanQual and the executor depend on its
 * exact behaviour:
 *
 *	- A row lock is recorded in the version's xmax with HEAP_XMAX_LOCK_ONLY
 *	  and the lock-strength bits; several lockers, or lockers plus an
 *	  updater, are recorded as a MultiXactId.
 *	- Waiters queue on the heavyweight tuple lock (LockTuple) before
 *	  sleeping on the transaction(s) in xmax, so that waiters are served in
 *	  order; the tuple lock is released when the operation completes.
 *	- KEY SHARE does not conflict with NO KEY UPDATE: a foreign-key check
 *	  and an update of non-key columns proceed together, and the locker is
 *	  carried over to the new version.
 *	- Locking a version that a concurrent transaction updated also locks
 *	  the later versions ("follow updates"), so the lock survives the update.
 *
 * What differs from heap is only the storage: the version lives on an lsm
 * memtable page, the change is made on the page copy registered with
 * generic WAL (one record, one page), and no hint bits are written outside
 * such a record (see lsm_visibility.c).
 *
 * Buffer locks: the memtable page of the version is held exclusively while
 * its header is examined and changed, and released before any sleep.  After
 * waking, the header is compared with what we saw (xmax and its infomask
 * bits); if anything changed we start over, as heap does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/multixact.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/combocid.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "lsm/lsm_internal.h"

/*
 * For each tuple lock strength: the heavyweight lock that queues waiters,
 * and the MultiXact member status for a locker and for an updater.
 */
static const struct
{
	LOCKMODE	hwlock;
	MultiXactStatus lockstatus;
	int			updstatus;		/* -1: this strength cannot update */
}			lsm_lock_info[MaxLockTupleMode + 1] =
{
	[LockTupleKeyShare] = {AccessShareLock, MultiXactStatusForKeyShare, -1},
	[LockTupleShare] = {RowShareLock, MultiXactStatusForShare, -1},
	[LockTupleNoKeyExclusive] = {ExclusiveLock, MultiXactStatusForNoKeyUpdate,
	MultiXactStatusNoKeyUpdate},
	[LockTupleExclusive] = {AccessExclusiveLock, MultiXactStatusForUpdate,
	MultiXactStatusUpdate},
};

/* The tuple lock strength a MultiXact member status corresponds to. */
static LockTupleMode
lsm_mode_from_mxstatus(MultiXactStatus status)
{
	switch (status)
	{
		case MultiXactStatusForKeyShare:
			return LockTupleKeyShare;
		case MultiXactStatusForShare:
			return LockTupleShare;
		case MultiXactStatusForNoKeyUpdate:
		case MultiXactStatusNoKeyUpdate:
			return LockTupleNoKeyExclusive;
		case MultiXactStatusForUpdate:
		case MultiXactStatusUpdate:
			return LockTupleExclusive;
	}
	elog(ERROR, "unrecognized MultiXact status %d", (int) status);
	return LockTupleExclusive;	/* keep compiler quiet */
}

/* The heavyweight lock mode a MultiXact member status conflicts like. */
static LOCKMODE
lsm_hwlock_from_mxstatus(MultiXactStatus status)
{
	return lsm_lock_info[lsm_mode_from_mxstatus(status)].hwlock;
}

/*
 * lsm_mxact_status_for_lock -- the MultiXact status to record for a locker
 * (is_update false) or updater of the given strength.
 */
MultiXactStatus
lsm_mxact_status_for_lock(LockTupleMode mode, bool is_update)
{
	int			status;

	if (is_update)
		status = lsm_lock_info[mode].updstatus;
	else
		status = lsm_lock_info[mode].lockstatus;
	if (status == -1)
		elog(ERROR, "invalid lock tuple mode %d/%s", (int) mode,
			 is_update ? "true" : "false");
	return (MultiXactStatus) status;
}

/* The status a plain (non-multi) xmax holds, from its infomask bits. */
static MultiXactStatus
lsm_status_of_single_xmax(uint16 infomask, uint16 infomask2)
{
	if (HEAP_XMAX_IS_LOCKED_ONLY(infomask))
	{
		if (HEAP_XMAX_IS_KEYSHR_LOCKED(infomask))
			return MultiXactStatusForKeyShare;
		if (HEAP_XMAX_IS_SHR_LOCKED(infomask))
			return MultiXactStatusForShare;
		if (HEAP_XMAX_IS_EXCL_LOCKED(infomask))
			return (infomask2 & HEAP_KEYS_UPDATED) ?
				MultiXactStatusForUpdate : MultiXactStatusForNoKeyUpdate;
		elog(ERROR, "invalid lock status in tuple");
	}
	return (infomask2 & HEAP_KEYS_UPDATED) ?
		MultiXactStatusUpdate : MultiXactStatusNoKeyUpdate;
}

/*
 * lsm_multixact_hint_bits -- infomask bits describing a MultiXact xmax:
 * the strongest member's lock strength, HEAP_KEYS_UPDATED if a member
 * updates or locks keys, and LOCK_ONLY if no member is an updater.
 */
void
lsm_multixact_hint_bits(MultiXactId multi, uint16 *new_infomask,
						uint16 *new_infomask2)
{
	MultiXactMember *members;
	int			nmembers;
	uint16		bits = HEAP_XMAX_IS_MULTI;
	uint16		bits2 = 0;
	bool		has_update = false;
	LockTupleMode strongest = LockTupleKeyShare;

	nmembers = GetMultiXactIdMembers(multi, &members, false, false);
	for (int i = 0; i < nmembers; i++)
	{
		LockTupleMode mode = lsm_mode_from_mxstatus(members[i].status);

		if (mode > strongest)
			strongest = mode;
		if (members[i].status == MultiXactStatusForUpdate ||
			members[i].status == MultiXactStatusUpdate)
			bits2 |= HEAP_KEYS_UPDATED;
		if (ISUPDATE_from_mxstatus(members[i].status))
			has_update = true;
	}
	if (nmembers > 0)
		pfree(members);

	if (strongest >= LockTupleNoKeyExclusive)
		bits |= HEAP_XMAX_EXCL_LOCK;
	else if (strongest == LockTupleShare)
		bits |= HEAP_XMAX_SHR_LOCK;
	else
		bits |= HEAP_XMAX_KEYSHR_LOCK;
	if (!has_update)
		bits |= HEAP_XMAX_LOCK_ONLY;

	*new_infomask = bits;
	*new_infomask2 = bits2;
}

/* The updating member of a MultiXact xmax, or Invalid. */
static TransactionId
lsm_multixact_update_xid(TransactionId xmax, uint16 infomask)
{
	MultiXactMember *members;
	int			nmembers;
	TransactionId result = InvalidTransactionId;

	Assert(infomask & HEAP_XMAX_IS_MULTI);
	if (infomask & HEAP_XMAX_LOCK_ONLY)
		return InvalidTransactionId;
	nmembers = GetMultiXactIdMembers(xmax, &members, false, false);
	for (int i = 0; i < nmembers; i++)
	{
		if (ISUPDATE_from_mxstatus(members[i].status))
		{
			result = members[i].xid;
			break;
		}
	}
	if (nmembers > 0)
		pfree(members);
	return result;
}

/*
 * lsm_multixact_conflicts -- does any live member of the MultiXact hold a
 * lock that conflicts with lockmode?  Our own transaction's membership is
 * reported through *current_is_member (if not NULL) and never conflicts.
 */
bool
lsm_multixact_conflicts(MultiXactId multi, uint16 infomask,
						LockTupleMode lockmode, bool *current_is_member)
{
	MultiXactMember *members;
	int			nmembers;
	bool		result = false;
	LOCKMODE	wanted = lsm_lock_info[lockmode].hwlock;

	if (HEAP_LOCKED_UPGRADED(infomask))
		return false;

	nmembers = GetMultiXactIdMembers(multi, &members, false,
									 HEAP_XMAX_IS_LOCKED_ONLY(infomask));
	for (int i = 0; i < nmembers; i++)
	{
		TransactionId memxid = members[i].xid;

		if (result && (current_is_member == NULL || *current_is_member))
			break;
		if (TransactionIdIsCurrentTransactionId(memxid))
		{
			if (current_is_member != NULL)
				*current_is_member = true;
			continue;
		}
		if (result)
			continue;
		if (!DoLockModesConflict(lsm_hwlock_from_mxstatus(members[i].status),
								 wanted))
			continue;
		if (ISUPDATE_from_mxstatus(members[i].status))
		{
			/* an updater that aborted does not conflict */
			if (TransactionIdDidAbort(memxid))
				continue;
		}
		else if (!TransactionIdIsInProgress(memxid))
			continue;			/* a locker that is gone */
		result = true;
	}
	if (nmembers > 0)
		pfree(members);
	return result;
}

/*
 * lsm_multixact_wait -- wait (or with nowait, test) until no member of the
 * MultiXact holds a lock conflicting with status.  *remaining (if not
 * NULL) gets the number of members still running that we did not wait for
 * (our own, and non-conflicting ones).  Returns false only with nowait, if
 * a conflicting member is still running.
 */
bool
lsm_multixact_wait(MultiXactId multi, MultiXactStatus status,
				   uint16 infomask, bool nowait, Relation rel,
				   ItemPointer ctid, XLTW_Oper oper, int *remaining)
{
	MultiXactMember *members;
	int			nmembers;
	int			remain = 0;
	bool		result = true;

	nmembers = HEAP_LOCKED_UPGRADED(infomask) ? -1 :
		GetMultiXactIdMembers(multi, &members, false,
							  HEAP_XMAX_IS_LOCKED_ONLY(infomask));
	for (int i = 0; i < nmembers; i++)
	{
		TransactionId memxid = members[i].xid;

		if (TransactionIdIsCurrentTransactionId(memxid))
		{
			remain++;
			continue;
		}
		if (!DoLockModesConflict(lsm_hwlock_from_mxstatus(members[i].status),
								 lsm_hwlock_from_mxstatus(status)))
		{
			if (remaining && TransactionIdIsInProgress(memxid))
				remain++;
			continue;
		}
		if (nowait)
		{
			if (!ConditionalXactLockTableWait(memxid))
			{
				result = false;
				break;
			}
		}
		else
			XactLockTableWait(memxid, rel, ctid, oper);
	}
	if (nmembers > 0)
		pfree(members);
	if (remaining)
		*remaining = remain;
	return result;
}

/*
 * lsm_acquire_tuplock -- take the heavyweight tuple lock that orders
 * waiters for a version, according to the wait policy.  Returns false only
 * for LockWaitSkip when the lock is not free.
 */
bool
lsm_acquire_tuplock(Relation rel, ItemPointer tid, LockTupleMode mode,
					LockWaitPolicy policy, bool *have_tuple_lock)
{
	if (*have_tuple_lock)
		return true;
	switch (policy)
	{
		case LockWaitBlock:
			LockTuple(rel, tid, lsm_lock_info[mode].hwlock);
			break;
		case LockWaitSkip:
			if (!ConditionalLockTuple(rel, tid, lsm_lock_info[mode].hwlock))
				return false;
			break;
		case LockWaitError:
			if (!ConditionalLockTuple(rel, tid, lsm_lock_info[mode].hwlock))
				ereport(ERROR,
						(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						 errmsg("could not obtain lock on row in relation \"%s\"",
								RelationGetRelationName(rel))));
			break;
	}
	*have_tuple_lock = true;
	return true;
}

/*
 * lsm_release_tuplock -- release a lock taken by lsm_acquire_tuplock.
 */
void
lsm_release_tuplock(Relation rel, ItemPointer tid, LockTupleMode mode)
{
	UnlockTuple(rel, tid, lsm_lock_info[mode].hwlock);
}

/*
 * lsm_xmax_infomask_changed -- did the xmax-describing bits change?  (The
 * xmax itself must be compared separately.)
 */
bool
lsm_xmax_infomask_changed(uint16 new_infomask, uint16 old_infomask)
{
	const uint16 interesting =
		HEAP_XMAX_IS_MULTI | HEAP_XMAX_LOCK_ONLY | HEAP_LOCK_MASK;

	return (new_infomask & interesting) != (old_infomask & interesting);
}

/*
 * lsm_compute_new_xmax -- the xmax and infomask bits a version gets when
 * the current transaction (add_to_xmax) locks it with the given strength or
 * (is_update) updates or deletes it, given what xmax holds now.
 *
 * Lockers that are gone are dropped; a committed updater is kept (another
 * transaction may still be locking the old version of a row updated by a
 * committed transaction whose update we cannot see); our own weaker lock is
 * upgraded rather than duplicated.  The result is our bare xid when nothing
 * else must be remembered, otherwise a (possibly new) MultiXactId.
 */
void
lsm_compute_new_xmax(TransactionId xmax, uint16 old_infomask,
					 uint16 old_infomask2, TransactionId add_to_xmax,
					 LockTupleMode mode, bool is_update,
					 TransactionId *result_xmax, uint16 *result_infomask,
					 uint16 *result_infomask2)
{
	TransactionId new_xmax;
	uint16		new_infomask;
	uint16		new_infomask2;

	Assert(TransactionIdIsCurrentTransactionId(add_to_xmax));

	for (;;)
	{
		new_infomask = 0;
		new_infomask2 = 0;

		if (old_infomask & HEAP_XMAX_INVALID)
		{
			/* nothing to keep: just us */
			new_xmax = add_to_xmax;
			if (is_update)
			{
				if (mode == LockTupleExclusive)
					new_infomask2 |= HEAP_KEYS_UPDATED;
			}
			else
			{
				new_infomask |= HEAP_XMAX_LOCK_ONLY;
				switch (mode)
				{
					case LockTupleKeyShare:
						new_infomask |= HEAP_XMAX_KEYSHR_LOCK;
						break;
					case LockTupleShare:
						new_infomask |= HEAP_XMAX_SHR_LOCK;
						break;
					case LockTupleNoKeyExclusive:
						new_infomask |= HEAP_XMAX_EXCL_LOCK;
						break;
					case LockTupleExclusive:
						new_infomask |= HEAP_XMAX_EXCL_LOCK;
						new_infomask2 |= HEAP_KEYS_UPDATED;
						break;
				}
			}
			break;
		}

		if (old_infomask & HEAP_XMAX_IS_MULTI)
		{
			if (HEAP_LOCKED_UPGRADED(old_infomask))
			{
				/* pre-9.3 locker: certainly gone */
				old_infomask &= ~HEAP_XMAX_IS_MULTI;
				old_infomask |= HEAP_XMAX_INVALID;
				continue;
			}
			if (!MultiXactIdIsRunning(xmax,
									  HEAP_XMAX_IS_LOCKED_ONLY(old_infomask)) &&
				(HEAP_XMAX_IS_LOCKED_ONLY(old_infomask) ||
				 !TransactionIdDidCommit(lsm_multixact_update_xid(xmax,
																  old_infomask))))
			{
				/* no member runs and no committed updater: forget it */
				old_infomask &= ~HEAP_XMAX_IS_MULTI;
				old_infomask |= HEAP_XMAX_INVALID;
				continue;
			}
			new_xmax = MultiXactIdExpand((MultiXactId) xmax, add_to_xmax,
										 lsm_mxact_status_for_lock(mode, is_update));
			lsm_multixact_hint_bits(new_xmax, &new_infomask, &new_infomask2);
			break;
		}

		if (old_infomask & HEAP_XMAX_COMMITTED)
		{
			/* a committed updater (a committed locker would be INVALID) */
			new_xmax = MultiXactIdCreate(xmax,
										 lsm_status_of_single_xmax(old_infomask & ~HEAP_XMAX_LOCK_ONLY,
																   old_infomask2),
										 add_to_xmax,
										 lsm_mxact_status_for_lock(mode, is_update));
			lsm_multixact_hint_bits(new_xmax, &new_infomask, &new_infomask2);
			break;
		}

		if (TransactionIdIsInProgress(xmax))
		{
			MultiXactStatus old_status;
			LockTupleMode old_mode;

			if (HEAP_XMAX_IS_LOCKED_ONLY(old_infomask) &&
				!HEAP_XMAX_IS_KEYSHR_LOCKED(old_infomask) &&
				!HEAP_XMAX_IS_SHR_LOCKED(old_infomask) &&
				!HEAP_XMAX_IS_EXCL_LOCKED(old_infomask))
			{
				/* LOCK_ONLY without a strength: cannot be; ignore it */
				elog(WARNING, "LOCK_ONLY found for Xid in progress %u", xmax);
				old_infomask |= HEAP_XMAX_INVALID;
				old_infomask &= ~HEAP_XMAX_LOCK_ONLY;
				continue;
			}
			old_status = lsm_status_of_single_xmax(old_infomask, old_infomask2);
			old_mode = lsm_mode_from_mxstatus(old_status);

			if (xmax == add_to_xmax)
			{
				/*
				 * Our own lock, now to be strengthened or turned into an
				 * update: keep the stronger strength, as a plain xid.
				 */
				Assert(HEAP_XMAX_IS_LOCKED_ONLY(old_infomask));
				if (mode < old_mode)
					mode = old_mode;
				old_infomask |= HEAP_XMAX_INVALID;
				continue;
			}
			new_xmax = MultiXactIdCreate(xmax, old_status, add_to_xmax,
										 lsm_mxact_status_for_lock(mode, is_update));
			lsm_multixact_hint_bits(new_xmax, &new_infomask, &new_infomask2);
			break;
		}

		if (!HEAP_XMAX_IS_LOCKED_ONLY(old_infomask) &&
			TransactionIdDidCommit(xmax))
		{
			/* a committed updater without the hint bit */
			new_xmax = MultiXactIdCreate(xmax,
										 lsm_status_of_single_xmax(old_infomask,
																   old_infomask2),
										 add_to_xmax,
										 lsm_mxact_status_for_lock(mode, is_update));
			lsm_multixact_hint_bits(new_xmax, &new_infomask, &new_infomask2);
			break;
		}

		/* a locker that is gone, or an updater that aborted */
		old_infomask |= HEAP_XMAX_INVALID;
	}

	*result_xmax = new_xmax;
	*result_infomask = new_infomask;
	*result_infomask2 = new_infomask2;
}

/*
 * Point into the page copy registered with generic WAL at the same tuple
 * that orig points to on the shared page.
 */
static inline HeapTupleHeader
lsm_header_in_copy(Page copy, Buffer buf, HeapTupleHeader orig)
{
	return (HeapTupleHeader) ((char *) copy +
							  ((char *) orig - (char *) BufferGetPage(buf)));
}

static void lsm_set_xmax_in(HeapTupleHeader htup, ItemPointer self,
							TransactionId new_xmax, uint16 new_infomask,
							uint16 new_infomask2, bool reset_ctid);

/*
 * Install a new xmax on a version, WAL-logged.  The buffer is held
 * exclusively.  If lock_only, the version's t_ctid is reset to itself (a
 * lock never carries a forward link).
 */
static void
lsm_set_xmax(Relation rel, Buffer buf, HeapTuple tuple,
			 TransactionId new_xmax, uint16 new_infomask,
			 uint16 new_infomask2, bool reset_ctid)
{
	GenericXLogState *state;
	Page		page;

	state = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	lsm_set_xmax_in(lsm_header_in_copy(page, buf, tuple->t_data),
					&tuple->t_self, new_xmax, new_infomask, new_infomask2,
					reset_ctid);
	GenericXLogFinish(state);
}

/*
 * The change lsm_set_xmax makes, on htup, the header of the version self
 * in the copy of its page of a generic WAL record being built.
 */
static void
lsm_set_xmax_in(HeapTupleHeader htup, ItemPointer self,
				TransactionId new_xmax, uint16 new_infomask,
				uint16 new_infomask2, bool reset_ctid)
{
	htup->t_infomask &= ~HEAP_XMAX_BITS;
	htup->t_infomask2 &= ~HEAP_KEYS_UPDATED;
	htup->t_infomask |= new_infomask;
	htup->t_infomask2 |= new_infomask2;
	HeapTupleHeaderSetXmax(htup, new_xmax);
	if (reset_ctid)
		htup->t_ctid = *self;
}

/*
 * Can the lock we want on a later version proceed, given one current
 * holder (xid with status)?  TM_Ok: yes (after *needwait: wait for xid
 * first and try again); TM_SelfModified: we already hold it; TM_Updated /
 * TM_Deleted: a committed conflicting update.
 */
static TM_Result
lsm_test_lockmode_for_conflict(MultiXactStatus status, TransactionId xid,
							   LockTupleMode mode, HeapTuple tup,
							   bool *needwait)
{
	MultiXactStatus wanted = lsm_mxact_status_for_lock(mode, false);

	*needwait = false;
	if (TransactionIdIsCurrentTransactionId(xid))
		return TM_SelfModified;
	if (TransactionIdIsInProgress(xid))
	{
		if (DoLockModesConflict(lsm_hwlock_from_mxstatus(status),
								lsm_hwlock_from_mxstatus(wanted)))
			*needwait = true;
		return TM_Ok;
	}
	if (TransactionIdDidAbort(xid))
		return TM_Ok;
	if (TransactionIdDidCommit(xid))
	{
		if (!ISUPDATE_from_mxstatus(status))
			return TM_Ok;		/* a finished locker does not matter */
		if (DoLockModesConflict(lsm_hwlock_from_mxstatus(status),
								lsm_hwlock_from_mxstatus(wanted)))
			return ItemPointerEquals(&tup->t_self, &tup->t_data->t_ctid) ?
				TM_Deleted : TM_Updated;
		return TM_Ok;
	}
	/* crashed: like aborted */
	return TM_Ok;
}

/*
 * Lock every later version of a row in the update chain starting at tid,
 * with the same strength, so that a lock taken on an old version while a
 * concurrent update was in progress also holds on its successors.
 */
static TM_Result
lsm_lock_updated_chain(Relation rel, TransactionId priorXmax,
					   ItemPointer start, TransactionId xid,
					   LockTupleMode mode)
{
	ItemPointerData tupid = *start;
	HeapTupleData mytup;
	Buffer		buf;
	TM_Result	result;

	for (;;)
	{
		uint16		old_infomask;
		uint16		old_infomask2;
		TransactionId xmax;
		TransactionId new_xmax;
		uint16		new_infomask;
		uint16		new_infomask2;
		bool		needwait;

		CHECK_FOR_INTERRUPTS();

		if (ItemPointerGetOffsetNumber(&tupid) > LSM_MAX_TUPLES_PER_PAGE)
			return TM_Ok;
		buf = lsm_read_version_page(rel, &tupid, BUFFER_LOCK_EXCLUSIVE);
		if (!BufferIsValid(buf))
			return TM_Ok;		/* version gone: nothing to lock */
		if (!lsm_page_get_version(rel, buf, &tupid, &mytup))
		{
			UnlockReleaseBuffer(buf);
			return TM_Ok;
		}

		/* the chain is broken if the next version is not from the updater */
		if (TransactionIdIsValid(priorXmax) &&
			!TransactionIdEquals(HeapTupleHeaderGetXmin(mytup.t_data),
								 priorXmax))
		{
			result = TM_Ok;
			goto out;
		}
		if (TransactionIdDidAbort(HeapTupleHeaderGetXmin(mytup.t_data)))
		{
			result = TM_Ok;
			goto out;
		}

		old_infomask = mytup.t_data->t_infomask;
		old_infomask2 = mytup.t_data->t_infomask2;
		xmax = HeapTupleHeaderGetRawXmax(mytup.t_data);

		if (!(old_infomask & HEAP_XMAX_INVALID))
		{
			bool		skip = false;

			if (old_infomask & HEAP_XMAX_IS_MULTI)
			{
				MultiXactMember *members;
				int			nmembers;

				nmembers = GetMultiXactIdMembers(xmax, &members, false,
												 HEAP_XMAX_IS_LOCKED_ONLY(old_infomask));
				for (int i = 0; i < nmembers; i++)
				{
					result = lsm_test_lockmode_for_conflict(members[i].status,
															members[i].xid,
															mode, &mytup,
															&needwait);
					if (result == TM_SelfModified)
					{
						skip = true;
						break;
					}
					if (needwait)
					{
						TransactionId waitxid = members[i].xid;

						pfree(members);
						LockBuffer(buf, BUFFER_LOCK_UNLOCK);
						XactLockTableWait(waitxid, rel, &mytup.t_self,
										  XLTW_LockUpdated);
						ReleaseBuffer(buf);
						goto retry;
					}
					if (result != TM_Ok)
					{
						pfree(members);
						goto out;
					}
				}
				if (nmembers > 0)
					pfree(members);
			}
			else
			{
				MultiXactStatus status =
					lsm_status_of_single_xmax(old_infomask, old_infomask2);

				result = lsm_test_lockmode_for_conflict(status, xmax, mode,
														&mytup, &needwait);
				if (result == TM_SelfModified)
					skip = true;
				else if (needwait)
				{
					LockBuffer(buf, BUFFER_LOCK_UNLOCK);
					XactLockTableWait(xmax, rel, &mytup.t_self,
									  XLTW_LockUpdated);
					ReleaseBuffer(buf);
					goto retry;
				}
				else if (result != TM_Ok)
					goto out;
			}
			if (skip)
				goto next;
		}

		lsm_compute_new_xmax(xmax, old_infomask, old_infomask2, xid, mode,
							 false, &new_xmax, &new_infomask, &new_infomask2);
		lsm_set_xmax(rel, buf, &mytup, new_xmax, new_infomask, new_infomask2,
					 false);

next:
		/* stop at the end of the chain */
		if ((mytup.t_data->t_infomask & HEAP_XMAX_INVALID) ||
			HeapTupleHeaderIndicatesMovedPartitions(mytup.t_data) ||
			ItemPointerEquals(&mytup.t_self, &mytup.t_data->t_ctid) ||
			HeapTupleHeaderIsOnlyLocked(mytup.t_data))
		{
			result = TM_Ok;
			goto out;
		}
		priorXmax = HeapTupleHeaderGetUpdateXid(mytup.t_data);
		tupid = mytup.t_data->t_ctid;
		UnlockReleaseBuffer(buf);
		continue;

retry:
		/* same version again, after waiting */
		continue;
	}

out:
	UnlockReleaseBuffer(buf);
	return result;
}

/* Entry to lsm_lock_updated_chain from a version whose xmax we saw. */
static TM_Result
lsm_lock_updated_tuple(Relation rel, uint16 prior_infomask,
					   TransactionId prior_raw_xmax, ItemPointer prior_ctid,
					   TransactionId xid, LockTupleMode mode)
{
	TransactionId prior_xmax;

	if (ItemPointerIndicatesMovedPartitions(prior_ctid))
		return TM_Ok;			/* the row moved to another partition */

	MultiXactIdSetOldestMember();
	prior_xmax = (prior_infomask & HEAP_XMAX_IS_MULTI) ?
		lsm_multixact_update_xid(prior_raw_xmax, prior_infomask) :
		prior_raw_xmax;
	return lsm_lock_updated_chain(rel, prior_xmax, prior_ctid, xid, mode);
}

/*
 * Lock the version's page again after waiting with only a pin.  If the
 * version's block moved off a full shared overlay page meanwhile
 * (lsm_move_shared_block), tuple points at a stale copy: look the version
 * up again and start over (label "moved" in lsm_lock_tuple).
 */
#define LSM_RELOCK() \
	do { \
		LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE); \
		if (lsm_version_moved(*buffer, tuple->t_data)) \
			goto moved; \
	} while (0)

/*
 * lsm_lock_tuple -- lock the version tuple->t_self in the given mode.
 *
 * On return *buffer holds a pin (no lock) on the version's page and tuple
 * points at the version, whatever the result, except when the version does
 * not exist (TM_Deleted with *buffer invalid).  tmfd is filled on failure.
 * Semantics are those of heap_lock_tuple.
 */
TM_Result
lsm_lock_tuple(Relation rel, HeapTuple tuple, CommandId cid,
			   LockTupleMode mode, LockWaitPolicy policy, bool follow_updates,
			   Buffer *buffer, TM_FailureData *tmfd)
{
	ItemPointerData tid = tuple->t_self;
	TM_Result	result;
	bool		first_time = true;
	bool		skip_tuple_lock = false;
	bool		have_tuple_lock = false;
	TransactionId xid;
	TransactionId xmax;
	uint16		new_infomask;
	uint16		new_infomask2;
	LsmPendingCopy pc;

	*buffer = InvalidBuffer;
	if (ItemPointerGetOffsetNumber(&tid) > LSM_MAX_TUPLES_PER_PAGE)
		goto no_tuple;

	/*
	 * A version that lives only in a run has no xmax: copy it to the
	 * memtable page of its block and lock it there in one record.
	 */
	if (lsm_materialize_begin(rel, &tid, false, &pc))
	{
		if (lsm_satisfies_update(&pc.tup, cid) == TM_Ok &&
			!(pc.tup.t_data->t_infomask & HEAP_XMAX_BITS & ~HEAP_XMAX_INVALID))
		{
			MultiXactIdSetOldestMember();
			lsm_compute_new_xmax(InvalidTransactionId, pc.tup.t_data->t_infomask,
								 pc.tup.t_data->t_infomask2,
								 GetCurrentTransactionId(), mode, false,
								 &xid, &new_infomask, &new_infomask2);
			lsm_set_xmax_in(pc.tup.t_data, &tid, xid, new_infomask,
							new_infomask2, HEAP_XMAX_IS_LOCKED_ONLY(new_infomask));
			lsm_materialize_finish(&pc);
			LockBuffer(pc.buf, BUFFER_LOCK_UNLOCK);
			*buffer = pc.buf;
			*tuple = pc.tup;
			return TM_Ok;
		}
		lsm_materialize_abort(&pc);
	}

	*buffer = lsm_read_version_page(rel, &tid, BUFFER_LOCK_EXCLUSIVE);
	if (!BufferIsValid(*buffer))
		goto no_tuple;
	if (!lsm_page_get_version(rel, *buffer, &tid, tuple))
	{
		UnlockReleaseBuffer(*buffer);
		*buffer = InvalidBuffer;
		goto no_tuple;
	}

l3:
	result = lsm_satisfies_update(tuple, cid);

	if (result == TM_Invisible)
	{
		/* e.g. a version inserted by a later command of ours */
		goto out_locked;
	}
	else if (result == TM_BeingModified || result == TM_Updated ||
			 result == TM_Deleted)
	{
		TransactionId xwait = HeapTupleHeaderGetRawXmax(tuple->t_data);
		uint16		infomask = tuple->t_data->t_infomask;
		uint16		infomask2 = tuple->t_data->t_infomask2;
		ItemPointerData t_ctid = tuple->t_data->t_ctid;
		bool		require_sleep;

		LockBuffer(*buffer, BUFFER_LOCK_UNLOCK);

		/*
		 * If we already hold a lock at least as strong, we are done; if we
		 * hold a weaker one, we must not queue on the tuple lock behind
		 * others (they may be waiting for us: deadlock).
		 */
		if (first_time)
		{
			first_time = false;
			if (infomask & HEAP_XMAX_IS_MULTI)
			{
				MultiXactMember *members;
				int			nmembers;

				nmembers = GetMultiXactIdMembers(xwait, &members, false,
												 HEAP_XMAX_IS_LOCKED_ONLY(infomask));
				for (int i = 0; i < nmembers; i++)
				{
					if (!TransactionIdIsCurrentTransactionId(members[i].xid))
						continue;
					if (lsm_mode_from_mxstatus(members[i].status) >= mode)
					{
						pfree(members);
						result = TM_Ok;
						goto out_unlocked;
					}
					skip_tuple_lock = true;
				}
				if (nmembers > 0)
					pfree(members);
			}
			else if (TransactionIdIsCurrentTransactionId(xwait))
			{
				switch (mode)
				{
					case LockTupleKeyShare:
						result = TM_Ok;
						goto out_unlocked;
					case LockTupleShare:
						if (HEAP_XMAX_IS_SHR_LOCKED(infomask) ||
							HEAP_XMAX_IS_EXCL_LOCKED(infomask))
						{
							result = TM_Ok;
							goto out_unlocked;
						}
						break;
					case LockTupleNoKeyExclusive:
						if (HEAP_XMAX_IS_EXCL_LOCKED(infomask))
						{
							result = TM_Ok;
							goto out_unlocked;
						}
						break;
					case LockTupleExclusive:
						if (HEAP_XMAX_IS_EXCL_LOCKED(infomask) &&
							(infomask2 & HEAP_KEYS_UPDATED))
						{
							result = TM_Ok;
							goto out_unlocked;
						}
						break;
				}
			}
		}

		/* Cases where the existing holder does not conflict with us. */
		require_sleep = true;
		if (mode == LockTupleKeyShare)
		{
			/* only a key update or a delete conflicts with KEY SHARE */
			if (!(infomask2 & HEAP_KEYS_UPDATED))
			{
				bool		updated = !HEAP_XMAX_IS_LOCKED_ONLY(infomask);

				if (follow_updates && updated &&
					!ItemPointerEquals(&tuple->t_self, &t_ctid))
				{
					TM_Result	res;

					res = lsm_lock_updated_tuple(rel, infomask, xwait,
												 &t_ctid,
												 GetCurrentTransactionId(),
												 mode);
					if (res != TM_Ok)
					{
						result = res;
						LSM_RELOCK();
						goto failed;
					}
				}
				LSM_RELOCK();

				/*
				 * Start over if someone updated keys or deleted meanwhile;
				 * otherwise the current xmax does not conflict.
				 */
				if (!HeapTupleHeaderIsOnlyLocked(tuple->t_data) &&
					((tuple->t_data->t_infomask2 & HEAP_KEYS_UPDATED) ||
					 !updated))
					goto l3;
				require_sleep = false;
			}
		}
		else if (mode == LockTupleShare)
		{
			/* lockers other than exclusive ones do not conflict */
			if (HEAP_XMAX_IS_LOCKED_ONLY(infomask) &&
				!HEAP_XMAX_IS_EXCL_LOCKED(infomask))
			{
				LSM_RELOCK();
				if (!HEAP_XMAX_IS_LOCKED_ONLY(tuple->t_data->t_infomask) ||
					HEAP_XMAX_IS_EXCL_LOCKED(tuple->t_data->t_infomask))
					goto l3;
				require_sleep = false;
			}
		}
		else if (mode == LockTupleNoKeyExclusive)
		{
			/* only KEY SHARE lockers can coexist with us */
			if (infomask & HEAP_XMAX_IS_MULTI)
			{
				if (!lsm_multixact_conflicts((MultiXactId) xwait, infomask,
											 mode, NULL))
				{
					LSM_RELOCK();
					if (lsm_xmax_infomask_changed(tuple->t_data->t_infomask,
												  infomask) ||
						!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tuple->t_data),
											 xwait))
						goto l3;
					require_sleep = false;
				}
			}
			else if (HEAP_XMAX_IS_KEYSHR_LOCKED(infomask))
			{
				LSM_RELOCK();
				if (lsm_xmax_infomask_changed(tuple->t_data->t_infomask,
											  infomask) ||
					!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tuple->t_data),
										 xwait))
					goto l3;
				require_sleep = false;
			}
		}

		/*
		 * Our own weaker lock, to be upgraded: nothing to wait for (the
		 * multi case was settled above).
		 */
		if (require_sleep && !(infomask & HEAP_XMAX_IS_MULTI) &&
			TransactionIdIsCurrentTransactionId(xwait))
		{
			LSM_RELOCK();
			if (lsm_xmax_infomask_changed(tuple->t_data->t_infomask,
										  infomask) ||
				!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tuple->t_data),
									 xwait))
				goto l3;
			require_sleep = false;
		}

		if (require_sleep && (result == TM_Updated || result == TM_Deleted))
		{
			/* a committed update or delete conflicts: fail now */
			LSM_RELOCK();
			goto failed;
		}
		else if (require_sleep)
		{
			/* queue behind other waiters, then wait for the holders */
			if (!skip_tuple_lock &&
				!lsm_acquire_tuplock(rel, &tid, mode, policy,
									 &have_tuple_lock))
			{
				result = TM_WouldBlock;
				LSM_RELOCK();
				goto failed;
			}

			if (infomask & HEAP_XMAX_IS_MULTI)
			{
				MultiXactStatus status = lsm_mxact_status_for_lock(mode, false);

				switch (policy)
				{
					case LockWaitBlock:
						lsm_multixact_wait((MultiXactId) xwait, status,
										   infomask, false, rel,
										   &tuple->t_self, XLTW_Lock, NULL);
						break;
					case LockWaitSkip:
						if (!lsm_multixact_wait((MultiXactId) xwait, status,
												infomask, true, rel, NULL,
												XLTW_None, NULL))
						{
							result = TM_WouldBlock;
							LSM_RELOCK();
							goto failed;
						}
						break;
					case LockWaitError:
						if (!lsm_multixact_wait((MultiXactId) xwait, status,
												infomask, true, rel, NULL,
												XLTW_None, NULL))
							ereport(ERROR,
									(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
									 errmsg("could not obtain lock on row in relation \"%s\"",
											RelationGetRelationName(rel))));
						break;
				}
			}
			else
			{
				switch (policy)
				{
					case LockWaitBlock:
						XactLockTableWait(xwait, rel, &tuple->t_self,
										  XLTW_Lock);
						break;
					case LockWaitSkip:
						if (!ConditionalXactLockTableWait(xwait))
						{
							result = TM_WouldBlock;
							LSM_RELOCK();
							goto failed;
						}
						break;
					case LockWaitError:
						if (!ConditionalXactLockTableWait(xwait))
							ereport(ERROR,
									(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
									 errmsg("could not obtain lock on row in relation \"%s\"",
											RelationGetRelationName(rel))));
						break;
				}
			}

			/* the holder ended; lock its successors too if it updated */
			if (follow_updates && !HEAP_XMAX_IS_LOCKED_ONLY(infomask) &&
				!ItemPointerEquals(&tuple->t_self, &t_ctid))
			{
				TM_Result	res;

				res = lsm_lock_updated_tuple(rel, infomask, xwait, &t_ctid,
											 GetCurrentTransactionId(), mode);
				if (res != TM_Ok)
				{
					result = res;
					LSM_RELOCK();
					goto failed;
				}
			}

			LSM_RELOCK();
			if (lsm_xmax_infomask_changed(tuple->t_data->t_infomask,
										  infomask) ||
				!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tuple->t_data),
									 xwait))
				goto l3;
		}

		/*
		 * Decide: we may lock if the holder was only a locker, or an
		 * updater that aborted.  (For a plain xid that has ended, heap sets
		 * the XMAX_INVALID hint here; we test the same conditions.)
		 */
		if (!require_sleep ||
			(tuple->t_data->t_infomask & HEAP_XMAX_INVALID) ||
			HEAP_XMAX_IS_LOCKED_ONLY(tuple->t_data->t_infomask) ||
			HeapTupleHeaderIsOnlyLocked(tuple->t_data) ||
			(!(tuple->t_data->t_infomask & HEAP_XMAX_IS_MULTI) &&
			 !(tuple->t_data->t_infomask & HEAP_XMAX_COMMITTED) &&
			 !TransactionIdIsInProgress(xwait) &&
			 !TransactionIdDidCommit(xwait)))
			result = TM_Ok;
		else if (!ItemPointerEquals(&tuple->t_self, &tuple->t_data->t_ctid))
			result = TM_Updated;
		else
			result = TM_Deleted;
	}

failed:
	if (result != TM_Ok)
	{
		Assert(result == TM_SelfModified || result == TM_Updated ||
			   result == TM_Deleted || result == TM_WouldBlock);
		lsm_fill_tmfd(result, tuple, tmfd);
		goto out_locked;
	}

	/* Record our lock. */
	xmax = HeapTupleHeaderGetRawXmax(tuple->t_data);
	MultiXactIdSetOldestMember();
	lsm_compute_new_xmax(xmax, tuple->t_data->t_infomask,
						 tuple->t_data->t_infomask2,
						 GetCurrentTransactionId(), mode, false,
						 &xid, &new_infomask, &new_infomask2);
	lsm_set_xmax(rel, *buffer, tuple, xid, new_infomask, new_infomask2,
				 HEAP_XMAX_IS_LOCKED_ONLY(new_infomask));
	result = TM_Ok;

out_locked:
	LockBuffer(*buffer, BUFFER_LOCK_UNLOCK);
out_unlocked:
	if (have_tuple_lock)
		lsm_release_tuplock(rel, &tid, mode);
	return result;

no_tuple:
	tuple->t_data = NULL;
	tmfd->ctid = tid;
	tmfd->xmax = InvalidTransactionId;
	tmfd->cmax = InvalidCommandId;
	return TM_Deleted;

moved:
	UnlockReleaseBuffer(*buffer);
	*buffer = lsm_read_version_page(rel, &tid, BUFFER_LOCK_EXCLUSIVE);
	if (BufferIsValid(*buffer) &&
		lsm_page_get_version(rel, *buffer, &tid, tuple))
		goto l3;
	if (BufferIsValid(*buffer))
		UnlockReleaseBuffer(*buffer);
	*buffer = InvalidBuffer;
	if (have_tuple_lock)
		lsm_release_tuplock(rel, &tid, mode);
	goto no_tuple;
}

#undef LSM_RELOCK

/*
 * Fetch a version by TID for the update-chain walk: returns true if it is
 * visible to snapshot.  If the version exists, *buf keeps a pin and tuple
 * points at it; otherwise tuple->t_data is NULL and *buf invalid.
 */
static bool
lsm_fetch_keep(Relation rel, Snapshot snapshot, HeapTuple tuple, Buffer *buf)
{
	bool		visible;

	lsm_materialize(rel, &tuple->t_self);
	if (!lsm_fetch_tuple(rel, &tuple->t_self, buf, tuple))
	{
		tuple->t_data = NULL;
		return false;
	}
	visible = lsm_tuple_satisfies(tuple, snapshot);
	LockBuffer(*buf, BUFFER_LOCK_UNLOCK);
	return visible;
}

/*
 * lsm_tuple_lock -- table AM callback tuple_lock.
 *
 * With TUPLE_LOCK_FLAG_FIND_LAST_VERSION, a version updated by a committed
 * transaction is followed along its update chain to the newest version,
 * which is locked instead (EvalPlanQual).
 */
TM_Result
lsm_tuple_lock(Relation rel, ItemPointer tid, Snapshot snapshot,
			   TupleTableSlot *slot, CommandId cid, LockTupleMode mode,
			   LockWaitPolicy wait_policy, uint8 flags,
			   TM_FailureData *tmfd)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	HeapTuple	tuple = &bslot->base.tupdata;
	bool		follow_updates;
	TM_Result	result;
	Buffer		buffer;

	follow_updates = (flags & TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS) != 0;
	tmfd->traversed = false;
	Assert(TTS_IS_BUFFERTUPLE(slot));

retry:
	tuple->t_self = *tid;
	result = lsm_lock_tuple(rel, tuple, cid, mode, wait_policy,
							follow_updates, &buffer, tmfd);

	if (result == TM_Updated && (flags & TUPLE_LOCK_FLAG_FIND_LAST_VERSION))
	{
		ReleaseBuffer(buffer);
		if (!ItemPointerEquals(&tmfd->ctid, &tuple->t_self))
		{
			SnapshotData SnapshotDirty;
			TransactionId priorXmax = tmfd->xmax;

			tmfd->traversed = true;
			*tid = tmfd->ctid;
			InitDirtySnapshot(SnapshotDirty);
			for (;;)
			{
				if (ItemPointerIndicatesMovedPartitions(tid))
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("tuple to be locked was already moved to another partition due to concurrent update")));

				tuple->t_self = *tid;
				if (lsm_fetch_keep(rel, &SnapshotDirty, tuple, &buffer))
				{
					/* the chain is broken if xmin is not the updater */
					if (!TransactionIdEquals(HeapTupleHeaderGetXmin(tuple->t_data),
											 priorXmax))
					{
						ReleaseBuffer(buffer);
						return TM_Deleted;
					}
					if (TransactionIdIsValid(SnapshotDirty.xmin))
						ereport(ERROR,
								(errcode(ERRCODE_DATA_CORRUPTED),
								 errmsg_internal("t_xmin %u is uncommitted in tuple (%u,%u) to be updated in table \"%s\"",
												 SnapshotDirty.xmin,
												 ItemPointerGetBlockNumber(&tuple->t_self),
												 ItemPointerGetOffsetNumber(&tuple->t_self),
												 RelationGetRelationName(rel))));
					if (TransactionIdIsValid(SnapshotDirty.xmax))
					{
						/* being updated: wait, then look again */
						ReleaseBuffer(buffer);
						switch (wait_policy)
						{
							case LockWaitBlock:
								XactLockTableWait(SnapshotDirty.xmax, rel,
												  &tuple->t_self,
												  XLTW_FetchUpdated);
								break;
							case LockWaitSkip:
								if (!ConditionalXactLockTableWait(SnapshotDirty.xmax))
									return TM_WouldBlock;
								break;
							case LockWaitError:
								if (!ConditionalXactLockTableWait(SnapshotDirty.xmax))
									ereport(ERROR,
											(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
											 errmsg("could not obtain lock on row in relation \"%s\"",
													RelationGetRelationName(rel))));
								break;
						}
						continue;
					}

					/* updated by a later command of our own transaction */
					if (TransactionIdIsCurrentTransactionId(priorXmax) &&
						HeapTupleHeaderGetCmin(tuple->t_data) >= cid)
					{
						tmfd->xmax = priorXmax;
						tmfd->cmax = HeapTupleHeaderGetCmin(tuple->t_data);
						ReleaseBuffer(buffer);
						return TM_SelfModified;
					}
					ReleaseBuffer(buffer);
					goto retry;
				}

				/* not visible to the dirty snapshot */
				if (tuple->t_data == NULL)
					return TM_Deleted;
				if (!TransactionIdEquals(HeapTupleHeaderGetXmin(tuple->t_data),
										 priorXmax))
				{
					ReleaseBuffer(buffer);
					return TM_Deleted;
				}
				if (ItemPointerEquals(&tuple->t_self, &tuple->t_data->t_ctid))
				{
					/* deleted, not updated */
					ReleaseBuffer(buffer);
					return TM_Deleted;
				}
				/* updated by a committed transaction: follow */
				priorXmax = HeapTupleHeaderGetUpdateXid(tuple->t_data);
				*tid = tuple->t_data->t_ctid;
				ReleaseBuffer(buffer);
			}
		}
		else
			return TM_Deleted;	/* deleted, no successor */
	}

	if (!BufferIsValid(buffer))
		return result;			/* no such version */

	slot->tts_tableOid = RelationGetRelid(rel);
	tuple->t_tableOid = slot->tts_tableOid;
	ExecStorePinnedBufferHeapTuple(tuple, slot, buffer);
	return result;
}
