/*-------------------------------------------------------------------------
 *
 * xh_cost.c
 *	  Cost estimation for xhash index scans.
 *
 * An xhash index can only find rows when every key column is compared
 * with "=": the bucket is chosen by the hash of all columns together.  The
 * planner, however, considers an index as soon as its first column has a
 * usable qual.  For such partial keys this function returns a prohibitive
 * cost (like disable_cost), so that any other path wins; if the path is
 * still chosen, the scan is correct but reads the whole index.
 *
 * With all columns given, a lookup reads one bucket page (plus the
 * overflow chain of very frequent hashes), which genericcostestimate
 * models well from the estimated number of matching entries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/pathnodes.h"
#include "optimizer/cost.h"
#include "utils/selfuncs.h"

#include "xhash/xhash.h"

/* what a useless path costs; the same magnitude as disable_cost */
#define XH_PROHIBITIVE_COST 1.0e10

/*
 * xhcostestimate -- amcostestimate.
 */
void
xhcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
			   Cost *indexStartupCost, Cost *indexTotalCost,
			   Selectivity *indexSelectivity, double *indexCorrelation,
			   double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	GenericCosts costs;
	Bitmapset  *cols = NULL;
	ListCell   *lc;
	int			i;
	bool		complete = true;

	foreach(lc, path->indexclauses)
	{
		IndexClause *iclause = lfirst_node(IndexClause, lc);

		cols = bms_add_member(cols, iclause->indexcol);
	}
	for (i = 0; i < index->nkeycolumns; i++)
		if (!bms_is_member(i, cols))
			complete = false;
	bms_free(cols);

	if (!complete)
	{
		*indexStartupCost = XH_PROHIBITIVE_COST;
		*indexTotalCost = XH_PROHIBITIVE_COST;
		*indexSelectivity = 1.0;
		*indexCorrelation = 0.0;
		*indexPages = index->pages;
		return;
	}

	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);

	*indexStartupCost = costs.indexStartupCost;
	*indexTotalCost = costs.indexTotalCost;
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = 0.0;
	*indexPages = costs.numIndexPages;
}
