/*-------------------------------------------------------------------------
 *
 * lsm_load.c
 *	  COPY straight into a run ("direct load").
 *
 * A large COPY into an lsm table would otherwise write every row twice:
 * once on memtable pages (a full-page WAL image each), and again when a
 * flush and the compactions after it turn those pages into compressed
 * runs.  Instead, once a COPY hands multi_insert a batch of at least
 * lsm.direct_load_min_bytes, the rest of that COPY goes into a run of its
 * own as it comes (the "loaded run"), written once, compressed, and
 * published when COPY ends (finish_bulk_insert).
 *
 * TIDs.  multi_insert must give every row its TID at once.  A load
 * reserves fresh logical blocks (lsm_reserve_lblocks, which moves
 * next_lblock past them in one small record) and fills them as
 * lsm_page_add_tuple would fill memtable pages, so that every block's rows
 * would fit one memtable page: a row of the run can be copied to an
 * overlay page at its own offset later (lsm_materialize).  The blocks are
 * the load's own: no other run and no memtable page ever holds them, so
 * the loaded run is TID-disjoint from everything else in the table.
 *
 * Visibility.  The rows are not committed when the run is written, which
 * runs otherwise never hold (lsm_flush.c).  A loaded run stores them in
 * the frozen form and names the loading transaction and command once, in
 * its root and manifest entry (LSM_RUN_LOADED, oldest_xid, load_cid);
 * readers give every version that xmin and command id back, hinted only
 * once the transaction is over (lsm_run_parse_until), and the ordinary
 * visibility rules do the rest: the rows are invisible to others until the
 * commit, visible to the loading transaction's later commands, and dead if
 * it aborts (also after a ROLLBACK TO SAVEPOINT: the xid is the
 * subtransaction's).  Merges leave a loaded run alone while its
 * transaction runs (lsm_run_load_pending) and drop its versions if it
 * aborted.  Until the publication, nobody but the loading backend knows
 * the rows exist; that is why a load is used only on tables without
 * indexes (an index would lead a unique check or an index deletion pass
 * to TIDs not yet readable) and without triggers (AFTER triggers fetch
 * their rows by TID before COPY ends; for a partition, also no AFTER
 * statement trigger on the partitioned tables above it, which runs before
 * the partitions' loads are published).
 *
 * COPY FREEZE.  Its versions are frozen when they are written (as heap
 * does), which COPY allows only into a table created or truncated in the
 * current subtransaction: nobody else can see that relfilenode before the
 * commit, and an abort discards it.  So its load is an ordinary run of
 * frozen versions, visible to all once published.  (Unlike heap's, those
 * versions are not visible before COPY ends, not even to the COPY command
 * itself, e.g. to a function of a CHECK constraint that reads the table.)
 *
 * Pages and crashes.  The run's pages are written as full images while
 * COPY runs, without the maintenance lock, under a run id reserved in the
 * manifest.  VACUUM frees run pages whose run the manifest does not list
 * (orphans); a heavyweight lock on a page number derived from the run id
 * (LSM_LOAD_LOCKBLK), held by the loading backend until the publication,
 * tells VACUUM that such pages are not orphans yet.  An error or a crash
 * before the publication releases the lock, and the pages become orphans
 * that VACUUM reclaims; the reserved blocks stay empty.  The publication
 * itself is an ordinary manifest switch under the maintenance lock, so a
 * standby sees the whole run or none of it.
 *
 * Before the switch, the publication clears the visibility map bits of
 * the run's blocks: a merge may have marked them all-visible while they
 * were empty (lsm_vm_set_run_blocks), and merges set bits only under the
 * maintenance lock, which the publication holds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "lsm/lsm_internal.h"

/* GUC: a COPY batch of at least this many kB starts a direct load (0: never) */
int			lsm_direct_load_min_bytes = 32;

/*
 * The page lock that marks run run_id as being loaded: a block number no
 * relation reaches (page locks on lsm tables are this module's own, see
 * lsm_maint_lock), distinct for run ids that differ in their low 30 bits.
 */
#define LSM_LOAD_LOCKBLK(run_id) \
	((BlockNumber) (MaxBlockNumber - 1 - ((run_id) & 0x3FFFFFFF)))

/* logical blocks reserved at a time: from the first to the most */
#define LSM_LOAD_RESERVE_FIRST	16
#define LSM_LOAD_RESERVE_MAX	256

/* a load in progress: one per table being copied into */
typedef struct LsmLoad
{
	Oid			relid;
	TransactionId xid;			/* the loading (sub)transaction */
	CommandId	cid;			/* ... and command */
	SubTransactionId subid;
	bool		frozen;			/* COPY FREEZE */
	MemoryContext cxt;			/* everything of the load */
	uint32		run_id;
	LsmRunWriter *w;
	BlockNumber next;			/* next reserved block not used yet */
	BlockNumber end;			/* end of the reservation */
	BlockNumber nreserve;		/* size of the next reservation */
	BlockNumber cur;			/* the block being filled, or Invalid */
	Size		reserve;		/* fillfactor's free space per block */
	PGAlignedBlock page;		/* cur as a memtable page: only the header
								 * is kept up to date */
} LsmLoad;

/* the loads of the current transaction (in TopTransactionContext) */
static List *lsm_loads = NIL;

static void lsm_load_xact_callback(XactEvent event, void *arg);
static void lsm_load_subxact_callback(SubXactEvent event,
									  SubTransactionId mySubid,
									  SubTransactionId parentSubid,
									  void *arg);

/*
 * lsm_load_init_gucs -- define lsm.direct_load_min_bytes and register the
 * transaction callbacks (once per backend, from _PG_init).
 */
void
lsm_load_init_gucs(void)
{
	DefineCustomIntVariable("lsm.direct_load_min_bytes",
							"Size of a COPY batch into an lsm table from which the rest of the COPY is written straight into a run.",
							"0 makes COPY always use the memtable. Only tables without indexes and triggers are loaded this way.",
							&lsm_direct_load_min_bytes,
							32, 0, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
	RegisterXactCallback(lsm_load_xact_callback, NULL);
	RegisterSubXactCallback(lsm_load_subxact_callback, NULL);
}

/* The load of rel in progress, or NULL. */
static LsmLoad *
lsm_load_find(Relation rel)
{
	ListCell   *lc;

	foreach(lc, lsm_loads)
	{
		LsmLoad    *ld = (LsmLoad *) lfirst(lc);

		if (ld->relid == RelationGetRelid(rel))
			return ld;
	}
	return NULL;
}

/* Forget a load (published, or undone by an abort) and free its memory. */
static void
lsm_load_forget(LsmLoad *ld)
{
	lsm_loads = list_delete_ptr(lsm_loads, ld);
	MemoryContextDelete(ld->cxt);
}

/*
 * Has a partitioned table above partition rel an AFTER ... FOR EACH
 * STATEMENT trigger on INSERT?  Such a trigger of the table a COPY names
 * runs before the partitions' loads are published (CopyFrom fires AFTER
 * triggers before it lets the tables finish their bulk inserts), and its
 * queries must see the copied rows.  Row triggers are cloned to the
 * partitions and show up in their own trigdesc; the AM cannot tell which
 * ancestor the COPY named, so such a trigger anywhere above the partition
 * counts, enabled or not.  The ancestors need no lock: pg_class and
 * pg_trigger are read under the catalog snapshot, and a trigger created
 * after this look is created under a lock that conflicts with the COPY's
 * on the table it names, so it cannot fire in this COPY.
 */
static bool
lsm_load_ancestor_stmt_trigger(Relation rel)
{
	List	   *ancestors;
	ListCell   *lc;
	bool		found = false;

	if (!rel->rd_rel->relispartition)
		return false;
	ancestors = get_partition_ancestors(RelationGetRelid(rel));
	foreach(lc, ancestors)
	{
		Oid			relid = lfirst_oid(lc);
		HeapTuple	tup;
		bool		has_triggers;
		Relation	trigrel;
		SysScanDesc scan;
		ScanKeyData key;

		/* relhastriggers is false for a table that never had a trigger */
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		if (!HeapTupleIsValid(tup))
			continue;			/* dropped meanwhile: fires nothing */
		has_triggers = ((Form_pg_class) GETSTRUCT(tup))->relhastriggers;
		ReleaseSysCache(tup);
		if (!has_triggers)
			continue;

		trigrel = table_open(TriggerRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(relid));
		scan = systable_beginscan(trigrel, TriggerRelidNameIndexId, true,
								  NULL, 1, &key);
		while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			int16		tgtype = ((Form_pg_trigger) GETSTRUCT(tup))->tgtype;

			found = !TRIGGER_FOR_ROW(tgtype) && TRIGGER_FOR_AFTER(tgtype) &&
				TRIGGER_FOR_INSERT(tgtype);
		}
		systable_endscan(scan);
		table_close(trigrel, AccessShareLock);
		if (found)
			break;
	}
	list_free(ancestors);
	return found;
}

/*
 * May a batch of nbytes bytes start a load into rel?  The table must have
 * no index and no trigger, nor a partitioned table above it a statement
 * trigger that runs after the rows are in (see the file header), the batch must be large enough, and no
 * maintenance may be running right now (the run id is reserved under the
 * maintenance lock; if it is busy, a later batch tries again).
 */
static LsmLoad *
lsm_load_start(Relation rel, Size nbytes, CommandId cid, int options)
{
	LsmLoad    *ld;
	MemoryContext cxt;
	MemoryContext old;
	List	   *indexes;
	uint32		run_id;

	if (lsm_direct_load_min_bytes <= 0 ||
		nbytes < (Size) lsm_direct_load_min_bytes * 1024 ||
		rel->trigdesc != NULL || IsInParallelMode())
		return NULL;
	/* the table's own settings for the run (no buffer is locked here) */
	lsm_settings_load(rel);
	indexes = RelationGetIndexList(rel);
	if (indexes != NIL)
	{
		list_free(indexes);
		return NULL;
	}
	/* after the cached index list: this one reads the catalogs */
	if (lsm_load_ancestor_stmt_trigger(rel))
		return NULL;
	if (!lsm_maint_lock(rel, false))
		return NULL;
	if (!lsm_manifest_has_room(rel))
	{
		lsm_maint_unlock(rel);
		return NULL;
	}
	run_id = lsm_manifest_reserve_run_id(rel);
	/* before any page of the run exists (VACUUM waits for the lock above) */
	LockPage(rel, LSM_LOAD_LOCKBLK(run_id), ExclusiveLock);
	lsm_maint_unlock(rel);

	cxt = AllocSetContextCreate(TopTransactionContext, "lsm direct load",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	ld = palloc0(sizeof(LsmLoad));
	ld->relid = RelationGetRelid(rel);
	ld->xid = GetCurrentTransactionId();
	ld->cid = cid;
	ld->subid = GetCurrentSubTransactionId();
	ld->cxt = cxt;
	ld->run_id = run_id;
	/* COPY FREEZE: an ordinary run of frozen versions (see the header) */
	ld->frozen = (options & TABLE_INSERT_FROZEN) != 0;
	ld->w = lsm_run_writer_begin_load(rel, run_id,
									  ld->frozen ? InvalidTransactionId : ld->xid,
									  cid);
	ld->next = ld->end = InvalidBlockNumber;
	ld->nreserve = LSM_LOAD_RESERVE_FIRST;
	ld->cur = InvalidBlockNumber;
	ld->reserve = lsm_fillfactor_reserve(rel);
	MemoryContextSwitchTo(old);

	old = MemoryContextSwitchTo(TopTransactionContext);
	lsm_loads = lappend(lsm_loads, ld);
	MemoryContextSwitchTo(old);
	return ld;
}

/*
 * Give tuple its TID: the next offset of the block being filled, or of the
 * next reserved block if it would not fit a memtable page there.
 */
static void
lsm_load_place(LsmLoad *ld, Relation rel, HeapTuple tuple)
{
	Page		page = (Page) ld->page.data;
	PageHeader	phdr = (PageHeader) page;

	if (ld->cur == InvalidBlockNumber ||
		!lsm_page_has_room(page, tuple->t_len, ld->reserve))
	{
		if (ld->next == ld->end)
		{
			ld->next = lsm_reserve_lblocks(rel, ld->nreserve);
			ld->end = ld->next + ld->nreserve;
			ld->nreserve = Min(ld->nreserve * 2, LSM_LOAD_RESERVE_MAX);
		}
		ld->cur = ld->next++;
		lsm_init_page(page, LSM_PAGE_MEM, ld->cur);
	}
	/* what lsm_page_add_tuple does to the header, without the bytes */
	phdr->pd_upper -= MAXALIGN(tuple->t_len);
	phdr->pd_lower += sizeof(ItemIdData);
	ItemPointerSet(&tuple->t_self, ld->cur, PageGetMaxOffsetNumber(page));
	tuple->t_data->t_ctid = tuple->t_self;
}

/*
 * lsm_load_multi_insert -- called by multi_insert with the batch's
 * versions (prepared: xmin, command id, toasted): add those a run can hold
 * to the load of rel, starting one if the batch is large enough.  Sets
 * taken[i] for each version added (its t_self is its TID); returns false
 * if there is no load (then nothing is taken).
 */
bool
lsm_load_multi_insert(Relation rel, HeapTuple *tuples, int ntuples,
					  CommandId cid, int options, bool *taken)
{
	LsmLoad    *ld = lsm_load_find(rel);
	MemoryContext old;

	if (ld == NULL)
	{
		Size		nbytes = 0;

		for (int i = 0; i < ntuples; i++)
			nbytes += tuples[i]->t_len;
		ld = lsm_load_start(rel, nbytes, cid, options);
		if (ld == NULL)
			return false;
	}
	else if (ld->cid != cid || ld->xid != GetCurrentTransactionId() ||
			 ld->frozen != ((options & TABLE_INSERT_FROZEN) != 0))
		elog(ERROR, "lsm: a direct load into \"%s\" outlived its COPY",
			 RelationGetRelationName(rel));

	old = MemoryContextSwitchTo(ld->cxt);
	for (int i = 0; i < ntuples; i++)
	{
		HeapTuple	tuple = tuples[i];

		taken[i] = lsm_run_takes(tuple->t_data, tuple->t_len);
		if (!taken[i])
			continue;			/* too wide for a run: the memtable's */
		lsm_load_place(ld, rel, tuple);
		lsm_run_writer_add(ld->w, &tuple->t_self, tuple->t_data,
						   tuple->t_len, true);
	}
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * lsm_finish_bulk_insert -- table AM callback finish_bulk_insert, called
 * when COPY is done with rel: publish its load, if any.
 */
void
lsm_finish_bulk_insert(Relation rel, int options)
{
	LsmLoad    *ld = lsm_load_find(rel);
	LsmManifestRun desc;
	LsmManifestRun *reaped;
	int			nreaped;
	MemoryContext old;

	if (ld == NULL)
		return;

	old = MemoryContextSwitchTo(ld->cxt);
	if (lsm_run_writer_finish(ld->w, &desc))
	{
		lsm_maint_lock(rel, true);
		if (!lsm_manifest_has_room(rel))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("no room in the manifest of lsm table \"%s\" for the rows of COPY",
							RelationGetRelationName(rel)),
					 errdetail("Replaced runs are kept while old snapshots may read them."),
					 errhint("End long-running transactions, or set lsm.direct_load_min_bytes to 0 and repeat the COPY.")));
		lsm_vm_clear_range(rel, desc.min_lblock, desc.max_lblock);
		lsm_manifest_switch(rel, NULL, 0, &desc, 1, desc.raw_bytes, 0,
							false, &reaped, &nreaped);
		lsm_free_retired(rel, reaped, nreaped);
		pfree(reaped);
		lsm_maint_unlock(rel);
	}
	MemoryContextSwitchTo(old);
	UnlockPage(rel, LSM_LOAD_LOCKBLK(ld->run_id), ExclusiveLock);
	lsm_load_forget(ld);
}

/*
 * lsm_load_in_flight -- are pages of run run_id, which the manifest does
 * not list, those of a load still in progress?  (VACUUM, under the
 * maintenance lock.)
 */
bool
lsm_load_in_flight(Relation rel, uint32 run_id)
{
	if (!ConditionalLockPage(rel, LSM_LOAD_LOCKBLK(run_id), ShareLock))
		return true;
	UnlockPage(rel, LSM_LOAD_LOCKBLK(run_id), ShareLock);
	return false;
}

/*
 * At the end of a transaction: an abort forgets the loads (their memory
 * goes with TopTransactionContext, their locks with the transaction's, and
 * their pages become orphans).  A commit with a load still unpublished
 * would lose rows, so it fails instead (COPY always ends its loads).
 */
static void
lsm_load_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (lsm_loads != NIL)
				elog(ERROR, "lsm: a direct load was not published before commit");
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			lsm_loads = NIL;
			break;
	}
}

/* A subtransaction that aborts takes the loads it started along. */
static void
lsm_load_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	foreach(lc, lsm_loads)
	{
		LsmLoad    *ld = (LsmLoad *) lfirst(lc);

		if (ld->subid == mySubid)
		{
			lsm_loads = foreach_delete_current(lsm_loads, lc);
			MemoryContextDelete(ld->cxt);
		}
	}
}
