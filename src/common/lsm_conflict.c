/*-------------------------------------------------------------------------
 *
 * lsm_conflict.c
 *	  The recovery-conflict record written before row versions or index
 *	  entries are removed, shared by the lsm table AM (VACUUM, pruning,
 *	  merges) and the xhash index AM (removal of entries marked dead).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/nbtxlog.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "utils/rel.h"

#include "common/lsm_common.h"

/*
 * lsm_log_conflict_horizon -- write a WAL record that makes a hot standby
 * cancel queries whose snapshots could still see versions removed with
 * this horizon (the newest xid that deleted or inserted them).
 *
 * Generic WAL has no way to express this.  The record used is nbtree's
 * XLOG_BTREE_REUSE_PAGE, whose redo does nothing but resolve recovery
 * conflicts for the given relation and horizon (it touches no page), so it
 * needs no extension code on the standby.
 */
void
lsm_log_conflict_horizon(Relation rel, TransactionId latestRemovedXid)
{
	xl_btree_reuse_page xlrec;
	FullTransactionId next;
	uint32		epoch;

	if (!RelationNeedsWAL(rel) || !XLogStandbyInfoActive() ||
		!TransactionIdIsNormal(latestRemovedXid))
		return;

	/* the xid is recent enough that its epoch is the next xid's or one less */
	next = ReadNextFullTransactionId();
	epoch = EpochFromFullTransactionId(next);
	if (latestRemovedXid > XidFromFullTransactionId(next))
		epoch--;

	xlrec.node = rel->rd_node;
	xlrec.block = InvalidBlockNumber;
	xlrec.latestRemovedFullXid =
		FullTransactionIdFromEpochAndXid(epoch, latestRemovedXid);
	XLogBeginInsert();
	XLogRegisterData((char *) &xlrec, SizeOfBtreeReusePage);
	(void) XLogInsert(RM_BTREE_ID, XLOG_BTREE_REUSE_PAGE);
}
