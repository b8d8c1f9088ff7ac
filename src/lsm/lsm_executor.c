/*-------------------------------------------------------------------------
 *
 * lsm_executor.c
 *	  Executor hook keeping bitmap heap scans of lsm tables from
 *	  prefetching.
 *
 * A bitmap heap scan prefetches the blocks named by its bitmap with
 * PrefetchBuffer(), assuming TID block numbers are physical blocks
 * (tableam.h says so of scan_bitmap_next_block).  lsm TIDs carry logical
 * block numbers, which can lie beyond the relation's last 1 GB segment,
 * and prefetching such a block is an error in md.c.  The blocks are not
 * physical anyway, so prefetching them would be useless; after the
 * executor has been set up we turn prefetching off for every bitmap heap
 * scan of an lsm table (parallel workers run the same hook).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "utils/rel.h"

#include "lsm/lsm.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;

/* planstate_tree_walker callback */
static bool
lsm_disable_prefetch_walker(PlanState *ps, void *context)
{
	if (ps == NULL)
		return false;
	if (IsA(ps, BitmapHeapScanState))
	{
		BitmapHeapScanState *node = (BitmapHeapScanState *) ps;
		Relation	rel = node->ss.ss_currentRelation;

		if (rel != NULL && lsm_is_lsm_relation(rel))
			node->prefetch_maximum = 0;
	}
	return planstate_tree_walker(ps, lsm_disable_prefetch_walker, context);
}

/* ExecutorStart hook */
static void
lsm_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (queryDesc->planstate != NULL)
		(void) lsm_disable_prefetch_walker(queryDesc->planstate, NULL);
}

/*
 * lsm_install_executor_hooks -- called once per backend from _PG_init.
 */
void
lsm_install_executor_hooks(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = lsm_ExecutorStart;
}
