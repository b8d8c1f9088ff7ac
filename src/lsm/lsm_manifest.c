/*-------------------------------------------------------------------------
 *
 * lsm_manifest.c
 *	  The manifest of an lsm table (its list of runs) and readers' views of
 *	  it.
 *
 * The manifest is one page, created with the first run and pointed to by
 * the metapage.  It lists the runs newest first.  A flush or a compaction
 * becomes visible in one generic WAL record that rewrites the manifest page
 * (and, the first time, the metapage that points to it): a reader, a
 * standby and crash recovery see either the old list or the new one.
 *
 * Readers take a copy of the list (a LsmRunSet) and open the runs in it.
 * A run that a switch removes is not freed: it stays in the manifest as a
 * retired run, stamped with the next xid at the switch, and its pages stay
 * untouched.  Only a later switch that finds no snapshot older than the
 * stamp can remain (GlobalVisCheckRemovableXid) drops it and hands it to
 * the caller to free (lsm_free_retired); a reader holding a view taken
 * before the switch has a snapshot whose xmin is at most the stamp, so a
 * reader may go on using its copy for as long as its snapshot lives.
 * Freeing logs a recovery conflict with the stamp, which cancels standby
 * queries that might still hold such a view.  A crash between the switch
 * that drops a retired run and the freeing of its pages leaves orphans,
 * which VACUUM frees (their run id is listed nowhere).  Under lsm_shrink's
 * AccessExclusiveLock every retired run is freed at once.
 *
 * A reader that finds a logical block unmapped re-reads the list if it has
 * changed (lsm_runset_refresh):
 * a flush publishes its run before it unmaps the pages it flushed, so the
 * new list holds whatever left the memtable.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/transam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/procarray.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "common/lsm_common.h"
#include "lsm/lsm_internal.h"

static bool lsm_runset_refresh_ext(Relation rel, LsmRunSet *rs,
								   bool may_read_meta);
static void lsm_manifest_callbacks(void);
static LsmRunSet *lsm_runset_create_ext(Relation rel, MemoryContext parent,
										bool two_way);
static void lsm_runset_free_chunks(LsmRunSet *rs);

/* Verify the manifest page in buf (locked). */
void
lsm_manifest_verify(Relation rel, Buffer buf)
{
	Page		page = BufferGetPage(buf);
	LsmManifest m;

	lsm_verify_page(rel, buf, LSM_PAGE_MANIFEST);
	m = LsmPageGetManifest(page);
	if (m->magic != LSM_RUN_MAGIC || m->nruns > (uint32) LSM_MAX_RUNS ||
		m->nretired > (uint32) LSM_MAX_RUNS - m->nruns ||
		((PageHeader) page)->pd_lower <
		MAXALIGN(SizeOfPageHeaderData) + offsetof(LsmManifestData, runs) +
		(m->nruns + m->nretired) * sizeof(LsmManifestRun))
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Manifest with magic 0x%08X, %u runs and %u retired runs.",
					 m->magic, m->nruns, m->nretired));
}

/* Copy the manifest on the locked, verified page in buf into copy. */
static void
lsm_manifest_copy(Buffer buf, LsmManifest copy)
{
	LsmManifest m = LsmPageGetManifest(BufferGetPage(buf));

	memcpy(copy, m, offsetof(LsmManifestData, runs) +
		   (m->nruns + m->nretired) * sizeof(LsmManifestRun));
}

/* Block of the manifest, or InvalidBlockNumber if the table has no runs. */
static BlockNumber
lsm_manifest_blkno(Relation rel)
{
	Buffer		metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
	BlockNumber result;

	if (!BufferIsValid(metabuf))
		return InvalidBlockNumber;
	result = LsmPageGetMeta(BufferGetPage(metabuf))->manifest;
	UnlockReleaseBuffer(metabuf);
	return result;
}

/*
 * lsm_manifest_read -- copy the manifest (a BLCKSZ buffer) into copy.
 * Returns false, with copy describing no runs, if there is none.
 */
bool
lsm_manifest_read(Relation rel, LsmManifest copy)
{
	BlockNumber blkno = lsm_manifest_blkno(rel);
	Buffer		buf;

	memset(copy, 0, offsetof(LsmManifestData, runs));
	if (blkno == InvalidBlockNumber)
		return false;
	buf = ReadBuffer(rel, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	lsm_manifest_verify(rel, buf);
	lsm_manifest_copy(buf, copy);
	UnlockReleaseBuffer(buf);
	return true;
}

/*
 * The run cache: runs opened by this backend, shared by its views.
 *
 * A published run does not change until it is freed, so what lsm_run_open
 * reads from its index pages (figures, fences, bloom page list) can be
 * kept across queries; for a large run that reading and copying costs more
 * than the lookup a query makes.  Views (LsmRunSet) point to the cached
 * runs and keep only their decode buffers to themselves.
 *
 * Entries are keyed by relfilenode, run id and root block.  Run ids are
 * not reused within a relfilenode (next_run_id only grows, and an id is
 * cached only once the run is published), except when VACUUM truncates the
 * relation to zero blocks and starts over: that sends a relcache
 * invalidation, on which the relation's entries leave the hash table
 * (lsm_run_cache_inval), before this backend can lock the relation again.
 *
 * Memory: entries, including those that left the table, are freed all at
 * once at the end of a top-level transaction when the cache holds more
 * than LSM_RUN_CACHE_LIMIT bytes.  Views made in a transaction do not
 * outlive it; the one view that does (lsm_runset_cached) notices the new
 * epoch and opens its runs again.
 */
#define LSM_RUN_CACHE_LIMIT (16 * 1024 * 1024)

typedef struct LsmRunCacheKey
{
	RelFileNode node;
	uint32		run_id;
	BlockNumber root;
} LsmRunCacheKey;

typedef struct LsmRunCacheEntry
{
	LsmRunCacheKey key;
	Oid			relid;
	LsmRun	   *run;
} LsmRunCacheEntry;

static MemoryContext lsm_run_cache_cxt = NULL;
static HTAB *lsm_run_cache = NULL;
static uint64 lsm_run_cache_epoch = 1;

/* Relcache invalidation: forget the runs of relid (of all, for InvalidOid). */
static void
lsm_run_cache_inval(Oid relid)
{
	HASH_SEQ_STATUS status;
	LsmRunCacheEntry *e;

	if (lsm_run_cache == NULL)
		return;
	hash_seq_init(&status, lsm_run_cache);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || e->relid == relid)
			(void) hash_search(lsm_run_cache, &e->key, HASH_REMOVE, NULL);
	}
}

/* End of a top-level transaction: free the cache if it grew too large. */
static void
lsm_run_cache_xact(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			break;
		default:
			return;
	}
	if (lsm_run_cache_cxt == NULL ||
		MemoryContextMemAllocated(lsm_run_cache_cxt, true) <= LSM_RUN_CACHE_LIMIT)
		return;
	MemoryContextReset(lsm_run_cache_cxt);
	lsm_run_cache = NULL;		/* it lived in the context */
	lsm_run_cache_epoch++;
}

/* The run described by desc, from the run cache or opened into it. */
static LsmRun *
lsm_run_open_cached(Relation rel, const LsmManifestRun *desc)
{
	LsmRunCacheKey key;
	LsmRunCacheEntry *e;
	bool		found;
	LsmRun	   *run;

	lsm_manifest_callbacks();
	if (lsm_run_cache_cxt == NULL)
		lsm_run_cache_cxt = AllocSetContextCreate(TopMemoryContext,
												  "lsm run cache",
												  ALLOCSET_DEFAULT_SIZES);
	if (lsm_run_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(LsmRunCacheKey);
		ctl.entrysize = sizeof(LsmRunCacheEntry);
		ctl.hcxt = lsm_run_cache_cxt;
		lsm_run_cache = hash_create("lsm run cache", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	memset(&key, 0, sizeof(key));
	key.node = rel->rd_node;
	key.run_id = desc->run_id;
	key.root = desc->root;
	e = hash_search(lsm_run_cache, &key, HASH_FIND, NULL);
	/* (the whole description must match too: cheap, and a safety net) */
	if (e != NULL && memcmp(&e->run->desc, desc, sizeof(LsmManifestRun)) == 0)
		return e->run;

	/* open it first: an error must not leave an entry without a run */
	run = lsm_run_open(rel, desc, lsm_run_cache_cxt);
	e = hash_search(lsm_run_cache, &key, HASH_ENTER, &found);
	e->relid = RelationGetRelid(rel);
	e->run = run;
	return run;
}

/* Let go of the decode buffers of a view's chunks. */
static void
lsm_runset_free_chunks(LsmRunSet *rs)
{
	for (int i = 0; i < rs->nruns; i++)
	{
		lsm_run_chunk_free(&rs->chunks[i]);
		if (rs->alt)
			lsm_run_chunk_free(&rs->alt[i]);
	}
}

/* Open the runs of manifest m into rs (emptied first). */
static void
lsm_runset_load_from(Relation rel, LsmRunSet *rs, LsmManifest m)
{
	MemoryContext old;

	if (rs->before_reload)
		rs->before_reload(rs->before_reload_arg);
	lsm_runset_free_chunks(rs);
	MemoryContextReset(rs->mcxt);
	rs->nruns = 0;
	rs->runs = NULL;
	rs->chunks = NULL;
	rs->alt = NULL;
	rs->generation = m->generation;
	rs->cache_epoch = lsm_run_cache_epoch;
	if (m->nruns == 0)
		return;
	old = MemoryContextSwitchTo(rs->mcxt);
	rs->runs = palloc(sizeof(LsmRun *) * m->nruns);
	rs->chunks = palloc(sizeof(LsmRunChunk) * m->nruns);
	if (rs->two_way)
		rs->alt = palloc(sizeof(LsmRunChunk) * m->nruns);
	for (uint32 i = 0; i < m->nruns; i++)
	{
		rs->runs[i] = lsm_run_open_cached(rel, &m->runs[i]);
		lsm_run_chunk_init(&rs->chunks[i], rs->mcxt);
		if (rs->alt)
			lsm_run_chunk_init(&rs->alt[i], rs->mcxt);
	}
	rs->nruns = m->nruns;
	MemoryContextSwitchTo(old);
}

/* Open the runs of the current manifest into rs (reads the metapage). */
static void
lsm_runset_load(Relation rel, LsmRunSet *rs)
{
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;

	lsm_manifest_read(rel, m);
	lsm_runset_load_from(rel, rs, m);
}

/*
 * lsm_runset_create -- a reader's view of the runs (memory in a child of
 * parent).
 */
LsmRunSet *
lsm_runset_create(Relation rel, MemoryContext parent)
{
	return lsm_runset_create_ext(rel, parent, false);
}

/* As lsm_runset_create; with two_way, two chunks per run (lsm_run_lookup). */
static LsmRunSet *
lsm_runset_create_ext(Relation rel, MemoryContext parent, bool two_way)
{
	LsmRunSet  *rs = MemoryContextAllocZero(parent, sizeof(LsmRunSet));

	rs->mcxt = AllocSetContextCreate(parent, "lsm runs",
									 ALLOCSET_DEFAULT_SIZES);
	rs->manifest_blk = InvalidBlockNumber;
	rs->two_way = two_way;
	lsm_runset_load(rel, rs);
	return rs;
}

/*
 * lsm_runset_refresh -- reload the view if the manifest has changed since
 * it was taken.  Cheap when it has not (one shared buffer lock).
 */
void
lsm_runset_refresh(Relation rel, LsmRunSet *rs)
{
	(void) lsm_runset_refresh_ext(rel, rs, true);
}

/*
 * lsm_runset_try_refresh -- as lsm_runset_refresh, for a caller that holds
 * a memtable page lock: returns false, doing nothing, when finding the
 * manifest would take the metapage, which comes before memtable pages in
 * the lock order (a writer, or a standby's replay of a record, may hold
 * the metapage and wait for the memtable page).  The caller then lets go
 * of its page and refreshes with lsm_runset_refresh.
 */
bool
lsm_runset_try_refresh(Relation rel, LsmRunSet *rs)
{
	return lsm_runset_refresh_ext(rel, rs, false);
}

/*
 * The work of lsm_runset_refresh: false if it would have had to read the
 * metapage and !may_read_meta.
 */
static bool
lsm_runset_refresh_ext(Relation rel, LsmRunSet *rs, bool may_read_meta)
{
	BlockNumber blkno;
	Buffer		buf;
	uint64		gen;

	/* the run cache was emptied since the view was made (lsm_runset_cached) */
	if (rs->cache_epoch != lsm_run_cache_epoch)
	{
		if (!may_read_meta)
			return false;
		lsm_runset_load(rel, rs);
		return true;
	}

	/* the manifest page moves only under lsm_shrink's exclusive lock */
	if (rs->manifest_blk == InvalidBlockNumber)
	{
		if (!may_read_meta)
			return false;
		rs->manifest_blk = lsm_manifest_blkno(rel);
	}
	blkno = rs->manifest_blk;

	/*
	 * No manifest: no runs.  A view that lists some was taken before VACUUM
	 * truncated the table to zero blocks (see lsm_manifest_relcache_inval).
	 */
	if (blkno == InvalidBlockNumber)
	{
		if (rs->nruns > 0)
			lsm_runset_load(rel, rs);
		return true;
	}
	buf = ReadBuffer(rel, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	{
		Page		page = BufferGetPage(buf);

		/* the manifest may have moved (lsm_move_page): look again */
		if (PageIsNew(page) ||
			((PageHeader) page)->pd_special != BLCKSZ - LSM_SPECIAL_SIZE ||
			LsmPageGetOpaque(page)->lpo_type != LSM_PAGE_MANIFEST)
		{
			UnlockReleaseBuffer(buf);
			if (!may_read_meta)
				return false;
			rs->manifest_blk = lsm_manifest_blkno(rel);
			if (rs->manifest_blk == InvalidBlockNumber)
				return true;
			buf = ReadBuffer(rel, rs->manifest_blk);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
		}
	}
	lsm_manifest_verify(rel, buf);
	gen = LsmPageGetManifest(BufferGetPage(buf))->generation;
	if (gen != rs->generation)
	{
		/*
		 * Load from this page, not through lsm_manifest_read: that finds the
		 * manifest through the metapage, which a caller holding a memtable
		 * page must not lock (a standby's startup process, replaying a
		 * record that holds the metapage and waits for that memtable page,
		 * and a bitmap scan refreshing here once waited for each other).
		 */
		PGAlignedBlock mbuf;
		LsmManifest m = (LsmManifest) mbuf.data;

		lsm_manifest_copy(buf, m);
		UnlockReleaseBuffer(buf);
		lsm_runset_load_from(rel, rs, m);
	}
	else
		UnlockReleaseBuffer(buf);
	return true;
}

/* Free a view. */
void
lsm_runset_free(LsmRunSet *rs)
{
	lsm_runset_free_chunks(rs);
	MemoryContextDelete(rs->mcxt);
	pfree(rs);
}

/*
 * lsm_runset_lookup -- the newest entry for tid in the view's runs (a
 * version or a tombstone), or NULL if no run has one.  The entry stays
 * valid until the next lookup in the same run.
 */
LsmRunEntry *
lsm_runset_lookup(Relation rel, LsmRunSet *rs, ItemPointer tid)
{
	for (int i = 0; i < rs->nruns; i++)
	{
		LsmRunEntry *e;

		/* the oldest run is asked without its bloom filter: see lsm_run_lookup */
		e = lsm_run_lookup(rel, rs->runs[i], tid, &rs->chunks[i],
						   rs->alt ? &rs->alt[i] : NULL, i < rs->nruns - 1);

		if (e != NULL)
			return e;
	}
	return NULL;
}

/*
 * lsm_manifest_next_run_id -- reserve a run id (it is recorded by the
 * switch that publishes the run; an id reserved by a run that never gets
 * published is simply skipped).
 */
uint32
lsm_manifest_next_run_id(Relation rel)
{
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;

	/* callers hold the maintenance lock: no concurrent reservation */
	lsm_manifest_read(rel, m);
	return Max(m->next_run_id, 1);
}

/*
 * lsm_manifest_reserve_run_id -- reserve a run id for a run that is
 * written without the maintenance lock (a COPY loading a run, lsm_load.c):
 * the manifest's next_run_id moves past it at once, in a record of its
 * own, so that no flush or compaction takes the same id meanwhile.  The
 * caller holds the maintenance lock.
 */
uint32
lsm_manifest_reserve_run_id(Relation rel)
{
	Buffer		metabuf;
	Buffer		buf;
	BlockNumber mblk;
	GenericXLogState *state;
	LsmManifest m;
	uint32		id;

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
	mblk = BufferIsValid(metabuf) ?
		LsmPageGetMeta(BufferGetPage(metabuf))->manifest : InvalidBlockNumber;
	if (BufferIsValid(metabuf))
		UnlockReleaseBuffer(metabuf);
	if (mblk == InvalidBlockNumber)
	{
		LsmManifestRun *reaped;
		int			nreaped;

		/* no manifest yet: an empty switch makes one (nothing to reap) */
		lsm_manifest_switch(rel, NULL, 0, NULL, 0, 0, 0, false,
							&reaped, &nreaped);
		pfree(reaped);
	}

	/* lock order: metapage, manifest (as lsm_manifest_switch) */
	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	mblk = LsmPageGetMeta(BufferGetPage(metabuf))->manifest;
	buf = ReadBuffer(rel, mblk);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	lsm_manifest_verify(rel, buf);
	state = GenericXLogStart(rel);
	m = LsmPageGetManifest(GenericXLogRegisterBuffer(state, buf, 0));
	id = Max(m->next_run_id, 1);
	m->next_run_id = id + 1;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(metabuf);
	return id;
}

/*
 * May the retired run e be freed: no snapshot older than its retirement
 * can remain (or all, under lsm_shrink's exclusive lock)?
 */
static bool
lsm_retired_removable(Relation rel, const LsmManifestRun *e, bool all)
{
	return all || GlobalVisCheckRemovableXid(rel, e->oldest_xid);
}

/* How many retired runs of the manifest copy m may be freed now. */
static uint32
lsm_count_removable(Relation rel, LsmManifest m, bool all)
{
	uint32		count = 0;

	for (uint32 i = m->nruns; i < m->nruns + m->nretired; i++)
		if (lsm_retired_removable(rel, &m->runs[i], all))
			count++;
	return count;
}

/*
 * lsm_manifest_switch -- remove the runs with the given ids (they become
 * retired runs) and add new ones (newest first, in front), in one WAL
 * record.  Retired runs that no snapshot can read any more are dropped from
 * the list (all of them with reap_all, under lsm_shrink's exclusive lock)
 * and returned in *reaped (palloc'd; *nreaped of them), for the caller to
 * free with lsm_free_retired after the switch.  Returns the new number of
 * runs.  The caller holds the maintenance lock.
 *
 * The metapage is locked first (lock order: metapage, manifest), also
 * when only the manifest changes, so that the manifest is created only
 * once.
 */
uint32
lsm_manifest_switch(Relation rel, const uint32 *remove, int nremove,
					LsmManifestRun *add, int nadd, uint64 flushed_bytes,
					uint64 compacted_bytes, bool reap_all,
					LsmManifestRun **reaped, int *nreaped)
{
	Buffer		metabuf;
	Buffer		buf;
	GenericXLogState *state;
	LsmMetaPage meta;
	LsmManifest m;
	Page		page;
	bool		created = false;
	PGAlignedBlock old;
	LsmManifest om = (LsmManifest) old.data;
	PGAlignedBlock newl;
	LsmManifest nm;
	LsmManifestRun *retired;
	TransactionId *retired_oldest;
	int			nretired;
	TransactionId retired_xid = FrozenTransactionId;
	bool		retired_unknown = false;
	uint32		n = 0;
	uint32		maxid = 0;
	BlockNumber lowest = InvalidBlockNumber;

	lsm_ensure_metapage(rel);
	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_EXCLUSIVE);
	meta = LsmPageGetMeta(BufferGetPage(metabuf));
	if (meta->manifest == InvalidBlockNumber)
	{
		buf = lsm_get_new_page(rel);
		created = true;
	}
	else
	{
		buf = ReadBuffer(rel, meta->manifest);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		lsm_manifest_verify(rel, buf);
	}

	/* the old list */
	if (created)
	{
		memset(om, 0, offsetof(LsmManifestData, runs));
		om->magic = LSM_RUN_MAGIC;
		om->next_run_id = 1;
	}
	else
		memcpy(om, LsmPageGetManifest(BufferGetPage(buf)), BLCKSZ -
			   MAXALIGN(SizeOfPageHeaderData) - LSM_SPECIAL_SIZE);

	/*
	 * The new list, built in a local copy first: the added runs, the old
	 * runs not removed, then the retired runs still needed and the newly
	 * retired ones.
	 */
	nm = (LsmManifest) newl.data;
	memcpy(nm, om, offsetof(LsmManifestData, runs));
	for (int i = 0; i < nadd; i++)
	{
		nm->runs[n++] = add[i];
		maxid = Max(maxid, add[i].run_id);
		lowest = Min(lowest, add[i].min_lblock);
	}
	/*
	 * The retired runs: those retired before, then the inputs retired now
	 * (stamped with the next xid).  Those nobody can read any more (all,
	 * with reap_all) go to *reaped; the others stay listed.
	 */
	retired = palloc(sizeof(LsmManifestRun) * (om->nretired + om->nruns + 1));
	retired_oldest = palloc(sizeof(TransactionId) *
							(om->nretired + om->nruns + 1));
	memcpy(retired, &om->runs[om->nruns], sizeof(LsmManifestRun) * om->nretired);
	nretired = om->nretired;
	for (int i = 0; i < nretired; i++)
		retired_oldest[i] = meta->retired_xid;	/* only their minimum is kept */
	for (uint32 i = 0; i < om->nruns; i++)
	{
		bool		removed = false;

		for (int j = 0; j < nremove; j++)
			if (om->runs[i].run_id == remove[j])
				removed = true;
		if (!removed)
		{
			if (n >= (uint32) LSM_MAX_RUNS)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("lsm table \"%s\" would have more than %d runs",
								RelationGetRelationName(rel), LSM_MAX_RUNS),
						 errhint("Run lsm_compact() on the table.")));
			nm->runs[n++] = om->runs[i];
		}
		else
		{
			retired[nretired] = om->runs[i];
			retired_oldest[nretired] = TransactionIdIsValid(om->runs[i].oldest_xid) ?
				om->runs[i].oldest_xid : FrozenTransactionId;
			retired[nretired].oldest_xid = ReadNextTransactionId();
			nretired++;
		}
	}
	nm->nruns = n;
	*reaped = palloc(sizeof(LsmManifestRun) * (nretired + 1));
	*nreaped = 0;
	for (int i = 0; i < nretired; i++)
	{
		if (lsm_retired_removable(rel, &retired[i], reap_all))
			(*reaped)[(*nreaped)++] = retired[i];
		else
		{
			/* checked by lsm_manifest_has_room before any work was done */
			if (n >= (uint32) LSM_MAX_RUNS)
				elog(ERROR, "no room for retired runs in the manifest of \"%s\"",
					 RelationGetRelationName(rel));
			nm->runs[n++] = retired[i];

			/*
			 * what a copy from it can carry (lsm_vacuum_unseen_horizon);
			 * Invalid for those retired before this was kept
			 */
			if (!TransactionIdIsValid(retired_oldest[i]))
				retired_unknown = true;
			else if (TransactionIdIsNormal(retired_oldest[i]) &&
					 (!TransactionIdIsNormal(retired_xid) ||
					  TransactionIdPrecedes(retired_oldest[i], retired_xid)))
				retired_xid = retired_oldest[i];
		}
	}
	nm->nretired = n - nm->nruns;
	if (nm->nretired == 0 || retired_unknown)
		retired_xid = InvalidTransactionId;
	nm->generation = om->generation + 1;
	nm->next_run_id = Max(om->next_run_id, maxid + 1);
	nm->bytes_flushed = om->bytes_flushed + flushed_bytes;
	nm->bytes_compacted = om->bytes_compacted + compacted_bytes;
	pfree(retired);
	pfree(retired_oldest);

	state = GenericXLogStart(rel);

	/*
	 * A run that starts below meta->empty_below lowers it in this record:
	 * sequential scans skip the blocks below it (lsm_advance_empty_below).
	 * Only a load's run can: its logical blocks were reserved before it
	 * was written, and a VACUUM meanwhile may have passed over them.
	 */
	if (created || lowest < meta->empty_below ||
		retired_xid != meta->retired_xid)
	{
		page = GenericXLogRegisterBuffer(state, metabuf, 0);
		if (created)
			LsmPageGetMeta(page)->manifest = BufferGetBlockNumber(buf);
		if (lowest < LsmPageGetMeta(page)->empty_below)
			LsmPageGetMeta(page)->empty_below = lowest;
		LsmPageGetMeta(page)->retired_xid = retired_xid;
	}
	if (created)
	{
		page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
		lsm_init_page(page, LSM_PAGE_MANIFEST, 0);
	}
	else
		page = GenericXLogRegisterBuffer(state, buf, 0);
	m = LsmPageGetManifest(page);
	memcpy(m, nm, offsetof(LsmManifestData, runs) + n * sizeof(LsmManifestRun));
	((PageHeader) page)->pd_lower = MAXALIGN(SizeOfPageHeaderData) +
		offsetof(LsmManifestData, runs) + n * sizeof(LsmManifestRun);
	GenericXLogFinish(state);

	UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(metabuf);
	return nm->nruns;
}

/*
 * lsm_manifest_has_room -- can a flush or compaction publish a run now?
 * Each adds one entry (a compaction turns its inputs into retired entries
 * without adding to the count), so one free slot is needed once the
 * retired runs that no snapshot needs are left out.  With a snapshot held
 * back for long across many switches, retired runs may fill the manifest;
 * flushes and compactions then wait (the memtable grows) instead of
 * failing the writer.  The caller holds the maintenance lock, so the answer
 * stays true until its switch.
 */
bool
lsm_manifest_has_room(Relation rel)
{
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;
	uint32		used;

	if (!lsm_manifest_read(rel, m))
		return true;
	used = m->nruns + m->nretired - lsm_count_removable(rel, m, false);
	return used < (uint32) LSM_MAX_RUNS;
}

/*
 * lsm_free_retired -- free the pages of retired runs that a switch has
 * dropped from the manifest.  A standby query may still read them through
 * a view taken before they were retired: the recovery conflict logged
 * first cancels queries whose snapshot is not newer than the retirement.
 * (On the primary no such snapshot remains, see lsm_manifest_switch; under
 * lsm_shrink's AccessExclusiveLock no other reader is left at all, and the
 * standby replays that lock before these records.)
 */
void
lsm_free_retired(Relation rel, LsmManifestRun *runs, int nruns)
{
	TransactionId newest = InvalidTransactionId;
	MemoryContext cxt;
	MemoryContext old;

	if (nruns == 0)
		return;
	for (int i = 0; i < nruns; i++)
		if (!TransactionIdIsValid(newest) ||
			TransactionIdFollows(runs[i].oldest_xid, newest))
			newest = runs[i].oldest_xid;
	lsm_log_conflict_horizon(rel, newest);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "lsm free runs",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	for (int i = 0; i < nruns; i++)
	{
		LsmRun	   *run = lsm_run_open(rel, &runs[i], cxt);

		lsm_free_run_pages(rel, run);
		MemoryContextReset(cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * lsm_reap_retired -- drop and free the retired runs no snapshot can read
 * any more (all of them with all, under lsm_shrink's exclusive lock), in
 * a switch of their own if there are any.  The caller holds the maintenance
 * lock.  Returns the number of runs freed.
 */
int
lsm_reap_retired(Relation rel, bool all)
{
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;
	LsmManifestRun *reaped;
	int			nreaped;

	if (!lsm_manifest_read(rel, m) || lsm_count_removable(rel, m, all) == 0)
		return 0;
	lsm_manifest_switch(rel, NULL, 0, NULL, 0, 0, 0, all, &reaped, &nreaped);
	lsm_free_retired(rel, reaped, nreaped);
	pfree(reaped);
	return nreaped;
}

/*
 * The backend's cached views of the runs of the last few relations looked
 * up, for callers that copy what they look up at once (index fetches,
 * materialization, row fetches by TID, index entry deletion checks):
 * opening the runs (reading their index pages) once per manifest
 * generation instead of once per row, and sharing decoded pages between
 * these callers, which tend to look up the same TID one after the other
 * (an UPDATE through an index: the index fetch, the fetch of the old row,
 * its materialization, btree's bottom-up deletion).  Each view keeps the
 * last two decoded pages of each run, so that two index scans of the same
 * table taking turns (a self-join) do not decode a page at every row.
 */
#define LSM_RUNSET_CACHE_SIZE 4

typedef struct LsmRunSetCacheEntry
{
	Oid			relid;
	RelFileNode node;
	LsmRunSet  *rs;
	uint64		last_used;
} LsmRunSetCacheEntry;

static LsmRunSetCacheEntry lsm_runset_cache[LSM_RUNSET_CACHE_SIZE];
static uint64 lsm_runset_cache_clock = 0;

/*
 * Relcache invalidation (sent by whatever truncates a relation, see
 * lsm_shrink), for both caches of this file: the run cache forgets the
 * relation's runs, and the cached view forgets where the manifest was.
 * The manifest may have moved (lsm_move_page) and its old page been cut
 * off with the end of the relation, which a refresh could not read; the
 * next refresh asks the metapage.  Or VACUUM truncated the emptied table
 * to zero blocks, and it starts over: no manifest until the next run, then
 * a new one with generations and run ids from 1 again, which a view of the
 * old runs must not take for its own.  So the view is loaded afresh
 * (cache_epoch 0 is never current).  Until 2026-12-06 it kept its old runs,
 * whose pages were gone: the next VACUUM, unique check or index fetch
 * failed with "Run N refers to block B beyond the end of the relation".
 */
static void
lsm_manifest_relcache_inval(Datum arg, Oid relid)
{
	lsm_run_cache_inval(relid);
	for (int i = 0; i < LSM_RUNSET_CACHE_SIZE; i++)
	{
		LsmRunSetCacheEntry *c = &lsm_runset_cache[i];

		if (c->rs != NULL && (relid == InvalidOid || relid == c->relid))
		{
			c->rs->manifest_blk = InvalidBlockNumber;
			c->rs->cache_epoch = 0;
		}
	}
}

/* Register the callbacks of the run cache and the cached view, once. */
static void
lsm_manifest_callbacks(void)
{
	static bool registered = false;

	if (registered)
		return;
	CacheRegisterRelcacheCallback(lsm_manifest_relcache_inval, (Datum) 0);
	RegisterXactCallback(lsm_run_cache_xact, NULL);
	registered = true;
}

/*
 * lsm_runset_cached -- the cached view of rel's runs, brought up to date.
 * What a lookup through it returns is valid until the next lookup of
 * anybody in the backend: copy it at once.
 */
LsmRunSet *
lsm_runset_cached(Relation rel)
{
	return lsm_runset_cached_ext(rel, true);
}

/*
 * lsm_runset_cached_ext -- as lsm_runset_cached; with check_manifest
 * false, a view that exists is not compared with the manifest (one shared
 * buffer access), only reloaded if the run cache was emptied.  For a
 * caller that refreshed the view since its snapshot was taken and needs
 * nothing newer: the runs of that view stay readable while the snapshot
 * does (see "Retired runs" in doc/lsm-design.md).
 */
LsmRunSet *
lsm_runset_cached_ext(Relation rel, bool check_manifest)
{
	LsmRunSetCacheEntry *c = NULL;

	lsm_manifest_callbacks();
	for (int i = 0; i < LSM_RUNSET_CACHE_SIZE; i++)
	{
		LsmRunSetCacheEntry *e = &lsm_runset_cache[i];

		if (e->rs != NULL && e->relid == RelationGetRelid(rel))
		{
			c = e;
			break;
		}
		/* else the least recently used (or an empty) entry */
		if (c == NULL || (c->rs != NULL &&
						  (e->rs == NULL || e->last_used < c->last_used)))
			c = e;
	}
	if (c->rs != NULL &&
		(c->relid != RelationGetRelid(rel) ||
		 !RelFileNodeEquals(c->node, rel->rd_node)))
	{
		lsm_runset_free(c->rs);
		c->rs = NULL;
	}
	if (c->rs == NULL)
	{
		c->rs = lsm_runset_create_ext(rel, TopMemoryContext, true);
		c->relid = RelationGetRelid(rel);
		c->node = rel->rd_node;
	}
	else if (check_manifest || c->rs->cache_epoch != lsm_run_cache_epoch)
		lsm_runset_refresh(rel, c->rs);
	c->last_used = ++lsm_runset_cache_clock;
	return c->rs;
}

/* a tombstone or dead entry of a run, and how new the run is (0: newest) */
typedef struct LsmRemovedTid
{
	ItemPointerData tid;
	uint16		run_order;
	bool		dead;
} LsmRemovedTid;

/* qsort comparator: by TID, the newest run first */
static int
lsm_cmp_removed(const void *a, const void *b)
{
	const LsmRemovedTid *ra = (const LsmRemovedTid *) a;
	const LsmRemovedTid *rb = (const LsmRemovedTid *) b;
	int			c = ItemPointerCompare((ItemPointer) &ra->tid,
									   (ItemPointer) &rb->tid);

	if (c != 0)
		return c;
	return (int) ra->run_order - (int) rb->run_order;
}

/*
 * lsm_runs_removed -- the tombstones and dead entries of the runs of rs, in
 * a palloc'd *removed sorted by TID and then newest run first; returns how
 * many.  Only runs with tombstones can hold either (both are counted as
 * tombstones), so only those are read, newest first, until a run brings
 * the count to max.
 */
static int
lsm_runs_removed(Relation rel, LsmRunSet *rs, int max, LsmRemovedTid **removedp)
{
	LsmRemovedTid *removed;
	int			cap = 1024;
	int			n = 0;

	removed = palloc(sizeof(LsmRemovedTid) * cap);
	for (int r = 0; r < rs->nruns && n < max; r++)
	{
		LsmRun	   *run = rs->runs[r];

		if (run->ntombstones == 0)
			continue;
		for (int pageidx = 0; pageidx < run->nfences; pageidx++)
		{
			LsmRunChunk *chunk = &rs->chunks[r];

			CHECK_FOR_INTERRUPTS();
			lsm_run_decode(rel, run, pageidx, chunk);
			for (int i = 0; i < chunk->nentries; i++)
			{
				LsmRunEntry *e = &chunk->entries[i];

				if (e->tup != NULL)
					continue;
				if (n >= cap)
				{
					cap *= 2;
					removed = repalloc_huge(removed,
											sizeof(LsmRemovedTid) * cap);
				}
				removed[n].tid = e->tid;
				removed[n].run_order = (uint16) r;
				removed[n].dead = LsmRunEntryIsDead(e);
				n++;
			}
		}
	}
	qsort(removed, n, sizeof(LsmRemovedTid), lsm_cmp_removed);
	*removedp = removed;
	return n;
}

/*
 * lsm_runs_dead_tids -- the TIDs whose newest entry in the runs is a dead
 * entry (a version a flush removed while index entries could still lead to
 * it), sorted, in a palloc'd *tids; returns how many.  A dead entry that a
 * newer run hides with a tombstone (lsm_publish_tombstones) does not count.
 * Only runs with tombstones can hold either (both are counted as
 * tombstones), so only those are read, newest first; once a run brings
 * the entries of either kind to max, the older runs wait for the next
 * call, which keeps the answer right for what was read.  At most max TIDs
 * are returned.
 */
int
lsm_runs_dead_tids(Relation rel, int max, ItemPointer *tids)
{
	LsmRunSet  *rs = lsm_runset_create(rel, CurrentMemoryContext);
	LsmRemovedTid *removed;
	int			n;
	int			ndead = 0;

	n = lsm_runs_removed(rel, rs, max, &removed);
	lsm_runset_free(rs);

	/* the newest entry of each TID decides */
	*tids = palloc(sizeof(ItemPointerData) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (i > 0 && ItemPointerEquals(&removed[i].tid, &removed[i - 1].tid))
			continue;
		if (removed[i].dead && ndead < max)
			(*tids)[ndead++] = removed[i].tid;
	}
	pfree(removed);
	return ndead;
}

/*
 * lsm_runs_hidden_versions -- how many versions of the runs the tombstones
 * and dead entries of newer runs hide, for the row count VACUUM stores.
 *
 * A TID counts once however many such entries lie over it (VACUUM
 * publishes a tombstone over each dead entry whose index entries it has
 * deleted), and only if an older run may hold a version of it: one whose
 * TID range and bloom filter do not rule the TID out, and which holds no
 * tombstone or dead entry of it.  A dead entry whose version never reached
 * a run (inserted and removed in the memtable, flushed since) hides
 * nothing.  A false positive of a bloom filter (about 1 %) counts a
 * version too many; a run without a filter is assumed to hold the TID.
 */
double
lsm_runs_hidden_versions(Relation rel)
{
	LsmRunSet  *rs = lsm_runset_create(rel, CurrentMemoryContext);
	LsmRemovedTid *removed;
	int			n;
	double		hidden = 0;
	int			i = 0;
	int			groups = 0;

	n = lsm_runs_removed(rel, rs, INT_MAX, &removed);
	while (i < n)
	{
		int			first = i;
		int			end = i + 1;
		int			k = first;

		while (end < n && ItemPointerEquals(&removed[end].tid, &removed[first].tid))
			end++;
		/* the group's run orders ascend: skip the runs that remove it */
		for (int r = removed[first].run_order + 1; r < rs->nruns; r++)
		{
			while (k < end && removed[k].run_order < r)
				k++;
			if (k < end && removed[k].run_order == r)
				continue;
			if (lsm_run_may_contain(rel, rs->runs[r], &removed[first].tid))
			{
				hidden += 1;
				break;
			}
		}
		i = end;
		if (++groups % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(removed);
	lsm_runset_free(rs);
	return hidden;
}
