/*-------------------------------------------------------------------------
 *
 * lsm_funcs.c
 *	  SQL functions of the lsm table access method: lsm_info(regclass),
 *	  lsm_runs(regclass), lsm_amplification(regclass),
 *	  lsm_bloom_check(regclass, int) and lsm_check(regclass).
 *
 * lsm_check is an amcheck-style verifier.  It takes an ACCESS SHARE lock
 * (see lsm_check for how it copes with concurrent changes), reads every
 * page, and reports the first inconsistency as an ERROR naming the
 * relation and the block:
 *
 *	- every page is an lsm page with a valid special area and type; the
 *	  metapage is block 0 and only block 0;
 *	- the map is a tree: every MAPDIR/MAP page is referenced once from the
 *	  right place and covers the range it should; every mapped logical
 *	  block is below next_lblock and maps to a distinct memtable page that
 *	  says it holds that logical block; every memtable page is mapped; the
 *	  metapage's count of memtable pages is right;
 *	- every version on a memtable page lies within the page's tuple area,
 *	  has a sane header for the table's tuple descriptor, xids that are
 *	  neither older than relfrozenxid (unless frozen) nor newer than the
 *	  next xid, and a forward link that stays inside the logical blocks;
 *	- free pages carry their magic.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "lsm/lsm.h"
#include "lsm/lsm_internal.h"

PG_FUNCTION_INFO_V1(lsm_info);
PG_FUNCTION_INFO_V1(lsm_runs);
PG_FUNCTION_INFO_V1(lsm_check);
PG_FUNCTION_INFO_V1(lsm_amplification);
PG_FUNCTION_INFO_V1(lsm_bloom_check);

/* Per-type page counts collected by a physical pass. */
typedef struct LsmPageCounts
{
	int64		total;
	int64		bytype[LSM_PAGE_MAX_TYPE + 1];
	int64		uninitialized;
	int64		rowids_assigned;	/* line pointers of memtable pages */
	int64		mem_versions;	/* versions on memtable pages */
} LsmPageCounts;

/*
 * lsm_count_pages -- a physical pass over every page of rel: counts by page
 * type, and what the memtable pages hold.  A page that is not an lsm page
 * is reported as corruption.
 */
static void
lsm_count_pages(Relation rel, LsmPageCounts *counts)
{
	BlockNumber nblocks = lsm_physical_nblocks(rel);

	memset(counts, 0, sizeof(LsmPageCounts));
	for (BlockNumber blkno = 0; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		uint8		type;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(rel, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		counts->total++;
		if (PageIsNew(page))
		{
			counts->uninitialized++;
			UnlockReleaseBuffer(buf);
			continue;
		}
		type = LsmPageGetOpaque(page)->lpo_type;
		if (((PageHeader) page)->pd_special != BLCKSZ - LSM_SPECIAL_SIZE ||
			LsmPageGetOpaque(page)->lpo_page_id != LSM_PAGE_ID ||
			type == 0 || type > LSM_PAGE_MAX_TYPE)
			LSM_CORRUPT(rel, blkno, ("Page is not an lsm page."));
		counts->bytype[type]++;
		if (type == LSM_PAGE_MEM)
		{
			OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

			/* (line pointers of a shared overlay page are not row ids) */
			if (!LsmPageIsShared(page))
				counts->rowids_assigned += maxoff;
			for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
				if (ItemIdIsNormal(PageGetItemId(page, off)))
					counts->mem_versions++;
		}
		UnlockReleaseBuffer(buf);
	}
}

/* Versions of an lsm table by state: the newest copy of every TID. */
typedef struct LsmVersionCounts
{
	int64		total;
	int64		live;
	int64		recently_dead;
	int64		dead;
} LsmVersionCounts;

/*
 * lsm_count_versions -- scan every version of rel (SnapshotAny: the newest
 * copy of each TID, in the memtable or in the runs) and classify it by
 * OldestXmin as VACUUM would; the runs' dead entries count as dead.
 */
static void
lsm_count_versions(Relation rel, TransactionId OldestXmin,
				   LsmVersionCounts *counts)
{
	TableScanDesc scan = table_beginscan(rel, SnapshotAny, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);

	memset(counts, 0, sizeof(LsmVersionCounts));
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		HeapTuple	tup = ((BufferHeapTupleTableSlot *) slot)->base.tuple;

		CHECK_FOR_INTERRUPTS();
		counts->total++;
		switch (lsm_satisfies_vacuum(tup, OldestXmin))
		{
			case HEAPTUPLE_DEAD:
				counts->dead++;
				break;
			case HEAPTUPLE_RECENTLY_DEAD:
				counts->recently_dead++;
				break;
			default:
				counts->live++;
				break;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);

	/* dead entries of runs (the newest entry of their TID): dead too */
	{
		ItemPointer tids;
		int			n = lsm_runs_dead_tids(rel, INT_MAX, &tids);

		counts->total += n;
		counts->dead += n;
		pfree(tids);
	}
}

/*
 * lsm_info -- page counts, logical blocks and version counts of an lsm
 * table.
 */
Datum
lsm_info(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	TupleDesc	tupdesc;
	Datum		values[20];
	bool		nulls[20];
	PGAlignedBlock mbuf;
	LsmManifest manifest = (LsmManifest) mbuf.data;
	int64		run_versions = 0;
	int			ndead_blocks;
	BlockNumber *dead_lblocks;
	OffsetNumber *dead_maxoffs;
	LsmPageCounts counts;
	LsmVersionCounts vc;
	BlockNumber next_lblock = 0;
	BlockNumber empty_below = 0;
	TransactionId OldestXmin;
	Buffer		metabuf;
	int			i = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	rel = relation_open(relid, AccessShareLock);
	lsm_check_is_lsm(rel);
	OldestXmin = GetOldestNonRemovableTransactionId(rel);

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
	if (BufferIsValid(metabuf))
	{
		next_lblock = LsmPageGetMeta(BufferGetPage(metabuf))->next_lblock;
		empty_below = LsmPageGetMeta(BufferGetPage(metabuf))->empty_below;
		UnlockReleaseBuffer(metabuf);
	}

	lsm_count_pages(rel, &counts);
	lsm_manifest_read(rel, manifest);
	for (uint32 r = 0; r < manifest->nruns; r++)
		run_versions += manifest->runs[r].nentries;

	/* every version, in the memtable or in the runs (newest copy only) */
	lsm_count_versions(rel, OldestXmin, &vc);
	/* freed pages whose index entries VACUUM has yet to delete */
	ndead_blocks = lsm_map_dead_blocks(rel, &dead_lblocks, &dead_maxoffs);
	relation_close(rel, AccessShareLock);

	memset(nulls, 0, sizeof(nulls));
	values[i++] = Int32GetDatum(LSM_META_VERSION);
	values[i++] = Int64GetDatum(counts.total);
	values[i++] = Int64GetDatum(counts.bytype[LSM_PAGE_MEM]);
	values[i++] = Int64GetDatum(counts.bytype[LSM_PAGE_MAP] +
								counts.bytype[LSM_PAGE_MAPDIR]);
	values[i++] = Int64GetDatum(counts.bytype[LSM_PAGE_FREE] +
								counts.uninitialized);
	values[i++] = Int32GetDatum(manifest->nruns);
	values[i++] = Int64GetDatum(next_lblock);
	values[i++] = Int64GetDatum(counts.rowids_assigned);
	values[i++] = Float8GetDatum(100.0 * (double) next_lblock /
								 (double) MaxBlockNumber);
	values[i++] = Int64GetDatum(vc.total);
	values[i++] = Int64GetDatum(vc.live);
	values[i++] = Int64GetDatum(vc.recently_dead);
	values[i++] = Int64GetDatum(vc.dead);
	values[i++] = Int64GetDatum(counts.bytype[LSM_PAGE_RUN_DATA] +
								counts.bytype[LSM_PAGE_RUN_INDEX] +
								counts.bytype[LSM_PAGE_RUN_BLOOM] +
								counts.bytype[LSM_PAGE_MANIFEST]);
	values[i++] = Int64GetDatum(run_versions);
	values[i++] = Int64GetDatum((int64) manifest->bytes_flushed);
	values[i++] = Int64GetDatum((int64) manifest->bytes_compacted);
	values[i++] = Int32GetDatum(manifest->nretired);
	values[i++] = Int64GetDatum(ndead_blocks);
	values[i++] = Int64GetDatum(empty_below);
	Assert(i == lengthof(values));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ----------------------------------------------------------------
 * lsm_check
 * ----------------------------------------------------------------
 */
typedef struct LsmCheckState
{
	Relation	rel;
	BlockNumber nblocks;		/* physical */
	BlockNumber next_lblock;
	BlockNumber empty_below;	/* meta->empty_below */
	uint8	   *expected;		/* per physical block: type expected from
								 * the map walk, 0 if not referenced */
	uint32	   *expected_aux;	/* and the lpo_aux it must have */
	bool	   *multi;			/* per physical block: a memtable page
								 * several logical blocks map to */
	BlockNumber *lmap;			/* per logical block: its memtable page */
	int64		mem_pages;
	FullTransactionId next_fxid;
	TransactionId relfrozenxid;
	MultiXactId relminmxid;
} LsmCheckState;

/* Note that blkno must be a page of the given type and aux. */
static void
lsm_check_expect(LsmCheckState *cs, BlockNumber from, BlockNumber blkno,
				 uint8 type, uint32 aux)
{
	if (blkno == LSM_METAPAGE_BLKNO || blkno >= cs->nblocks)
		LSM_CORRUPT(cs->rel, from,
					("Points to block %u, which is not a valid page number (relation has %u blocks).",
					 blkno, cs->nblocks));
	if (type == LSM_PAGE_MEM && aux < cs->next_lblock)
		cs->lmap[aux] = blkno;
	if (cs->expected[blkno] != 0)
	{
		/* a shared overlay page: logical blocks of one map range */
		if (type == LSM_PAGE_MEM && cs->expected[blkno] == LSM_PAGE_MEM &&
			lsm_map_range_first(aux) ==
			lsm_map_range_first(cs->expected_aux[blkno]))
		{
			cs->multi[blkno] = true;
			return;
		}
		LSM_CORRUPT(cs->rel, from,
					("Block %u is referenced twice by the map.", blkno));
	}
	cs->expected[blkno] = type;
	cs->expected_aux[blkno] = aux;
}

/*
 * The page of a shared overlay page (locked): the map entry of every
 * logical block it holds an item of must lead here.
 */
static void
lsm_check_shared_page(LsmCheckState *cs, Buffer buf)
{
	Page		page = BufferGetPage(buf);
	BlockNumber blkno = BufferGetBlockNumber(buf);

	for (OffsetNumber lp = FirstOffsetNumber;
		 lp <= PageGetMaxOffsetNumber(page); lp++)
	{
		LsmSharedItemData *prefix = lsm_shared_item(cs->rel, blkno, page, lp);

		if (prefix == NULL)
			continue;
		if (prefix->lblock >= cs->next_lblock ||
			cs->lmap[prefix->lblock] != blkno)
			LSM_CORRUPT(cs->rel, blkno,
						("Shared overlay page holds an item of logical block %u, whose map entry does not lead to it.",
						 prefix->lblock));
	}
}

/* Walk the map from the metapage, recording what each page must be. */
static void
lsm_check_map(LsmCheckState *cs)
{
	Relation	rel = cs->rel;
	Buffer		metabuf;
	LsmMetaPage meta;
	uint32		nmapdir;
	BlockNumber *mapdir;
	BlockNumber *arr = palloc(LSM_MAP_ENTRIES * sizeof(BlockNumber));

	metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
	if (!BufferIsValid(metabuf))
		return;
	meta = LsmPageGetMeta(BufferGetPage(metabuf));
	cs->next_lblock = meta->next_lblock;
	cs->empty_below = lsm_meta_empty_below(rel, meta);
	if (cs->next_lblock <= MaxBlockNumber)
		cs->lmap = palloc_extended(sizeof(BlockNumber) * Max(cs->next_lblock, 1),
								   MCXT_ALLOC_HUGE);
	for (BlockNumber b = 0; b < cs->next_lblock && cs->lmap; b++)
		cs->lmap[b] = InvalidBlockNumber;
	nmapdir = meta->nmapdir;
	mapdir = palloc(sizeof(BlockNumber) * Max(nmapdir, 1));
	memcpy(mapdir, meta->mapdir, sizeof(BlockNumber) * nmapdir);
	for (int d = nmapdir; d < LSM_META_MAPDIR_SLOTS; d++)
		if (meta->mapdir[d] != InvalidBlockNumber)
			LSM_CORRUPT(rel, LSM_METAPAGE_BLKNO,
						("Map directory slot %d is set beyond the %u slots in use.",
						 d, nmapdir));
	if (meta->next_lblock > MaxBlockNumber)
		LSM_CORRUPT(rel, LSM_METAPAGE_BLKNO,
					("next_lblock %u is out of range.", meta->next_lblock));
	if (meta->insert_page != InvalidBlockNumber &&
		meta->insert_page >= cs->nblocks)
		LSM_CORRUPT(rel, LSM_METAPAGE_BLKNO,
					("Insertion page %u is beyond the end of the relation.",
					 meta->insert_page));
	cs->mem_pages = meta->mem_pages;
	for (int e = 0; e < LSM_META_DIRECT; e++)
	{
		if (meta->direct[e] == InvalidBlockNumber)
			continue;
		if ((BlockNumber) e < cs->empty_below)
			LSM_CORRUPT(rel, LSM_METAPAGE_BLKNO,
						("Logical block %d is mapped, but no block below %u should hold a version.",
						 e, cs->empty_below));
		if (LsmMapEntryIsDead(meta->direct[e]) &&
			(BlockNumber) e < cs->next_lblock)
			continue;			/* a dead block: no page */
		if ((BlockNumber) e >= cs->next_lblock)
			LSM_CORRUPT(rel, LSM_METAPAGE_BLKNO,
						("Logical block %d is mapped, but only %u were assigned.",
						 e, cs->next_lblock));
		lsm_check_expect(cs, LSM_METAPAGE_BLKNO, meta->direct[e],
						 LSM_PAGE_MEM, (uint32) e);
	}
	UnlockReleaseBuffer(metabuf);

	for (uint32 d = 0; d < nmapdir; d++)
	{
		BlockNumber dirblk = mapdir[d];
		Buffer		buf;

		if (dirblk == InvalidBlockNumber)
			continue;
		lsm_check_expect(cs, LSM_METAPAGE_BLKNO, dirblk, LSM_PAGE_MAPDIR, d);
		buf = ReadBuffer(rel, dirblk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		lsm_verify_page(rel, buf, LSM_PAGE_MAPDIR);
		if (LsmPageGetOpaque(BufferGetPage(buf))->lpo_aux != d)
			LSM_CORRUPT(rel, dirblk,
						("Map directory page says it is slot %u, but slot %u points to it.",
						 LsmPageGetOpaque(BufferGetPage(buf))->lpo_aux, d));
		memcpy(arr, LsmPageGetMapArray(BufferGetPage(buf)),
			   LSM_MAP_ENTRIES * sizeof(BlockNumber));
		UnlockReleaseBuffer(buf);

		for (int l = 0; l < LSM_MAP_ENTRIES; l++)
		{
			uint64		leafno = (uint64) d * LSM_MAP_ENTRIES + l;
			uint64		first = LSM_META_DIRECT + leafno * LSM_MAP_ENTRIES;
			BlockNumber leafblk = arr[l];
			BlockNumber *entries;
			Buffer		lbuf;

			if (leafblk == InvalidBlockNumber)
				continue;
			if (first >= cs->next_lblock)
				LSM_CORRUPT(rel, dirblk,
							("Map page for logical blocks from %llu exists, but only %u logical blocks were assigned.",
							 (unsigned long long) first, cs->next_lblock));
			lsm_check_expect(cs, dirblk, leafblk, LSM_PAGE_MAP, (uint32) first);
			lbuf = ReadBuffer(rel, leafblk);
			LockBuffer(lbuf, BUFFER_LOCK_SHARE);
			lsm_verify_page(rel, lbuf, LSM_PAGE_MAP);
			if (LsmPageGetOpaque(BufferGetPage(lbuf))->lpo_aux != first)
				LSM_CORRUPT(rel, leafblk,
							("Map page covers logical blocks from %u, expected %llu.",
							 LsmPageGetOpaque(BufferGetPage(lbuf))->lpo_aux,
							 (unsigned long long) first));
			entries = LsmPageGetMapArray(BufferGetPage(lbuf));
			for (int e = 0; e < LSM_MAP_ENTRIES; e++)
			{
				uint64		lblock = first + e;

				if (entries[e] == InvalidBlockNumber)
					continue;
				if (lblock < cs->empty_below)
					LSM_CORRUPT(rel, leafblk,
								("Logical block %llu is mapped, but no block below %u should hold a version.",
								 (unsigned long long) lblock, cs->empty_below));
				if (LsmMapEntryIsDead(entries[e]) && lblock < cs->next_lblock)
					continue;	/* a dead block: no page */
				if (lblock >= cs->next_lblock)
					LSM_CORRUPT(rel, leafblk,
								("Logical block %llu is mapped, but only %u were assigned.",
								 (unsigned long long) lblock, cs->next_lblock));
				lsm_check_expect(cs, leafblk, entries[e], LSM_PAGE_MEM,
								 (uint32) lblock);
			}
			UnlockReleaseBuffer(lbuf);
		}
	}
	pfree(mapdir);
	pfree(arr);
}

/* Is xid (not frozen) within [relfrozenxid, next xid)? */
static bool
lsm_check_xid_in_range(LsmCheckState *cs, TransactionId xid)
{
	if (!TransactionIdIsNormal(xid))
		return true;
	if (TransactionIdIsNormal(cs->relfrozenxid) &&
		TransactionIdPrecedes(xid, cs->relfrozenxid))
		return false;
	return TransactionIdPrecedes(xid, XidFromFullTransactionId(cs->next_fxid));
}

/* Check the versions of one memtable page (locked). */
static void
lsm_check_mem_page(LsmCheckState *cs, Buffer buf)
{
	Relation	rel = cs->rel;
	Page		page = BufferGetPage(buf);
	BlockNumber blkno = BufferGetBlockNumber(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	int			natts = RelationGetNumberOfAttributes(rel);
	Size		used = 0;

	/* the page is locked: every xid on it is older than the next one now */
	cs->next_fxid = ReadNextFullTransactionId();

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		HeapTupleData tup;
		HeapTupleHeader h;
		uint16		infomask;
		int			hoff_expected;

		if (!lsm_page_get_tuple(rel, buf, off, &tup))
			continue;
		h = tup.t_data;
		infomask = h->t_infomask;
		used += MAXALIGN(tup.t_len);

		if (HeapTupleHeaderGetNatts(h) > natts)
			LSM_CORRUPT(rel, blkno,
						("Version at offset %u has %d attributes, the table has %d.",
						 off, HeapTupleHeaderGetNatts(h), natts));
		hoff_expected = SizeofHeapTupleHeader;
		if (infomask & HEAP_HASNULL)
			hoff_expected += BITMAPLEN(HeapTupleHeaderGetNatts(h));
		if (h->t_hoff != MAXALIGN(hoff_expected))
			LSM_CORRUPT(rel, blkno,
						("Version at offset %u has header size %u, expected %u.",
						 off, h->t_hoff, (unsigned) MAXALIGN(hoff_expected)));
		if ((infomask & HEAP_MOVED) != 0)
			LSM_CORRUPT(rel, blkno,
						("Version at offset %u has HEAP_MOVED bits.", off));

		if (!HeapTupleHeaderXminFrozen(h) &&
			!lsm_check_xid_in_range(cs, HeapTupleHeaderGetRawXmin(h)))
			LSM_CORRUPT(rel, blkno,
						("Version at offset %u has xmin %u outside [%u, %u).",
						 off, HeapTupleHeaderGetRawXmin(h), cs->relfrozenxid,
						 XidFromFullTransactionId(cs->next_fxid)));
		if (!(infomask & HEAP_XMAX_INVALID))
		{
			TransactionId xmax = HeapTupleHeaderGetRawXmax(h);

			if (infomask & HEAP_XMAX_IS_MULTI)
			{
				if (MultiXactIdIsValid(cs->relminmxid) &&
					MultiXactIdPrecedes(xmax, cs->relminmxid))
					LSM_CORRUPT(rel, blkno,
								("Version at offset %u has multixact %u older than relminmxid %u.",
								 off, xmax, cs->relminmxid));
			}
			else if (!lsm_check_xid_in_range(cs, xmax))
				LSM_CORRUPT(rel, blkno,
							("Version at offset %u has xmax %u outside [%u, %u).",
							 off, xmax, cs->relfrozenxid,
							 XidFromFullTransactionId(cs->next_fxid)));
		}

		/* forward link */
		if (!HeapTupleHeaderIsSpeculative(h) &&
			!HeapTupleHeaderIndicatesMovedPartitions(h) &&
			!ItemPointerEquals(&tup.t_self, &h->t_ctid))
		{
			if (!ItemPointerIsValid(&h->t_ctid) ||
				ItemPointerGetBlockNumber(&h->t_ctid) >= cs->next_lblock ||
				ItemPointerGetOffsetNumber(&h->t_ctid) > LSM_MAX_TUPLES_PER_PAGE)
				LSM_CORRUPT(rel, blkno,
							("Version at offset %u links to (%u,%u), outside the table.",
							 off, ItemPointerGetBlockNumberNoCheck(&h->t_ctid),
							 ItemPointerGetOffsetNumberNoCheck(&h->t_ctid)));
		}
	}
	if (used > (Size) (((PageHeader) page)->pd_special - ((PageHeader) page)->pd_upper))
		LSM_CORRUPT(rel, blkno,
					("Versions occupy %zu bytes, more than the %u bytes of the tuple area.",
					 used, (unsigned) (((PageHeader) page)->pd_special -
									   ((PageHeader) page)->pd_upper)));
}

/*
 * Verify the runs the manifest lists: every index, data and bloom page
 * (lsm_run_open and lsm_run_decode verify format and checksums), entries in
 * order and inside the run's TID range and the table's logical blocks,
 * every entry found by the bloom filter, sane versions.  Their pages are
 * noted as expected for the physical pass.
 */
static void
lsm_check_runs(LsmCheckState *cs, BlockNumber manifest_blk)
{
	Relation	rel = cs->rel;
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;
	MemoryContext mcxt = AllocSetContextCreate(CurrentMemoryContext,
											   "lsm_check runs",
											   ALLOCSET_DEFAULT_SIZES);
	int			natts = RelationGetNumberOfAttributes(rel);

	if (!lsm_manifest_read(rel, m))
		return;
	lsm_check_expect(cs, LSM_METAPAGE_BLKNO, manifest_blk, LSM_PAGE_MANIFEST, 0);
	for (uint32 r = 0; r < m->nruns; r++)
	{
		LsmRun	   *run;
		LsmRunChunk chunk;
		ItemPointerData prev;
		ItemPointerData lo,
					hi;
		uint64		nver = 0,
					ntomb = 0;

		/*
		 * (a run listed below the mark lowers it in the same record; a
		 * listing between reading the mark and the manifest changes the
		 * manifest's generation, and lsm_check then makes another pass)
		 */
		if (m->runs[r].min_lblock < cs->empty_below)
			LSM_CORRUPT(rel, manifest_blk,
						("Run %u starts at logical block %u, but no block below %u should hold a version.",
						 m->runs[r].run_id, m->runs[r].min_lblock,
						 cs->empty_below));
		run = lsm_run_open(rel, &m->runs[r], mcxt);

		for (uint32 q = 0; q < r; q++)
			if (m->runs[q].run_id == m->runs[r].run_id)
				LSM_CORRUPT(rel, manifest_blk, ("Run %u listed twice.", m->runs[r].run_id));
		ItemPointerSetInvalid(&prev);
		ItemPointerSet(&lo, m->runs[r].min_lblock, m->runs[r].min_off);
		ItemPointerSet(&hi, m->runs[r].max_lblock, m->runs[r].max_off);
		lsm_check_expect(cs, manifest_blk, m->runs[r].root, LSM_PAGE_RUN_INDEX,
						 m->runs[r].run_id);
		for (uint32 b = 0; b < run->nbloom; b++)
			lsm_check_expect(cs, m->runs[r].root, run->bloom_pages[b],
							 LSM_PAGE_RUN_BLOOM, m->runs[r].run_id);
		lsm_run_chunk_init(&chunk, mcxt);
		for (int p = 0; p < run->nfences; p++)
		{
			BlockNumber blkno = run->fences[p].blkno;

			CHECK_FOR_INTERRUPTS();
			lsm_check_expect(cs, m->runs[r].root, blkno, LSM_PAGE_RUN_DATA,
							 m->runs[r].run_id);
			lsm_run_decode(rel, run, p, &chunk);
			if (chunk.entries[0].tid.ip_posid != run->fences[p].off ||
				ItemPointerGetBlockNumber(&chunk.entries[0].tid) != run->fences[p].lblock)
				LSM_CORRUPT(rel, blkno, ("Data page does not start at its fence."));
			for (int i = 0; i < chunk.nentries; i++)
			{
				LsmRunEntry *e = &chunk.entries[i];

				if ((ItemPointerIsValid(&prev) && ItemPointerCompare(&prev, &e->tid) >= 0) ||
					ItemPointerCompare(&e->tid, &lo) < 0 ||
					ItemPointerCompare(&e->tid, &hi) > 0 ||
					ItemPointerGetBlockNumber(&e->tid) >= cs->next_lblock)
					LSM_CORRUPT(rel, blkno,
								("Entry (%u,%u) out of order or outside the run's range.",
								 ItemPointerGetBlockNumber(&e->tid),
								 ItemPointerGetOffsetNumber(&e->tid)));
				prev = e->tid;
				if (!lsm_run_may_contain(rel, run, &e->tid))
					LSM_CORRUPT(rel, blkno,
								("Bloom filter of run %u misses entry (%u,%u).",
								 m->runs[r].run_id, ItemPointerGetBlockNumber(&e->tid),
								 ItemPointerGetOffsetNumber(&e->tid)));
				if (e->tup == NULL)
				{
					ntomb++;
					continue;
				}
				nver++;
				if (HeapTupleHeaderGetNatts(e->tup) > natts)
					LSM_CORRUPT(rel, blkno,
								("Run version (%u,%u) has %d attributes, the table has %d.",
								 ItemPointerGetBlockNumber(&e->tid),
								 ItemPointerGetOffsetNumber(&e->tid),
								 HeapTupleHeaderGetNatts(e->tup), natts));
				if (!HeapTupleHeaderXminFrozen(e->tup) &&
					!lsm_check_xid_in_range(cs, HeapTupleHeaderGetRawXmin(e->tup)))
					LSM_CORRUPT(rel, blkno,
								("Run version (%u,%u) has xmin %u outside [%u, %u).",
								 ItemPointerGetBlockNumber(&e->tid),
								 ItemPointerGetOffsetNumber(&e->tid),
								 HeapTupleHeaderGetRawXmin(e->tup), cs->relfrozenxid,
								 XidFromFullTransactionId(cs->next_fxid)));
			}
		}
		if (nver != run->nversions || ntomb != run->ntombstones ||
			nver + ntomb != m->runs[r].nentries)
			LSM_CORRUPT(rel, m->runs[r].root,
						("Run %u counts %llu versions and %llu tombstones, found %llu and %llu.",
						 m->runs[r].run_id, (unsigned long long) run->nversions,
						 (unsigned long long) run->ntombstones,
						 (unsigned long long) nver, (unsigned long long) ntomb));
		/* the index pages after the root */
		{
			BlockNumber blkno = m->runs[r].root;

			while (blkno != InvalidBlockNumber)
			{
				Buffer		buf = ReadBuffer(rel, blkno);
				BlockNumber next;

				LockBuffer(buf, BUFFER_LOCK_SHARE);
				next = ((LsmRunIndexHeader *) PageGetContents(BufferGetPage(buf)))->next;
				UnlockReleaseBuffer(buf);
				if (next != InvalidBlockNumber)
					lsm_check_expect(cs, blkno, next, LSM_PAGE_RUN_INDEX,
									 m->runs[r].run_id);
				blkno = next;
			}
		}
	}
	MemoryContextDelete(mcxt);
}

/*
 * One pass of lsm_check over rel; ERROR on the first inconsistency.
 */
static void
lsm_check_once(Relation rel)
{
	LsmCheckState cs;
	int64		mem_seen = 0;

	memset(&cs, 0, sizeof(cs));
	cs.rel = rel;
	cs.nblocks = lsm_physical_nblocks(cs.rel);
	cs.next_fxid = ReadNextFullTransactionId();
	cs.relfrozenxid = cs.rel->rd_rel->relfrozenxid;
	cs.relminmxid = cs.rel->rd_rel->relminmxid;
	cs.expected = palloc0(Max(cs.nblocks, 1));
	cs.expected_aux = palloc0(sizeof(uint32) * Max(cs.nblocks, 1));
	cs.multi = palloc0(sizeof(bool) * Max(cs.nblocks, 1));

	if (cs.nblocks > 0)
	{
		Buffer		metabuf;
		BlockNumber manifest = InvalidBlockNumber;

		lsm_check_map(&cs);
		metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);
		if (BufferIsValid(metabuf))
		{
			manifest = LsmPageGetMeta(BufferGetPage(metabuf))->manifest;
			UnlockReleaseBuffer(metabuf);
		}
		if (manifest != InvalidBlockNumber)
			lsm_check_runs(&cs, manifest);
	}

	for (BlockNumber blkno = 1; blkno < cs.nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		LsmPageOpaque opaque;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(cs.rel, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
		{
			if (cs.expected[blkno] != 0)
				LSM_CORRUPT(cs.rel, blkno,
							("The map references this uninitialized page as a %s page.",
							 lsm_page_type_name(cs.expected[blkno])));
			UnlockReleaseBuffer(buf);
			continue;
		}
		opaque = LsmPageGetOpaque(page);
		if (((PageHeader) page)->pd_special != BLCKSZ - LSM_SPECIAL_SIZE ||
			opaque->lpo_page_id != LSM_PAGE_ID)
			LSM_CORRUPT(cs.rel, blkno, ("Page is not an lsm page."));
		switch (opaque->lpo_type)
		{
			case LSM_PAGE_META:
				LSM_CORRUPT(cs.rel, blkno, ("A second metapage."));
				break;
			case LSM_PAGE_MAPDIR:
			case LSM_PAGE_MAP:
			case LSM_PAGE_MEM:
				if (opaque->lpo_type == LSM_PAGE_MEM && LsmPageIsShared(page) &&
					cs.expected[blkno] == 0)
				{
					/* every block it served moved away: VACUUM frees it */
					lsm_verify_mem_page(cs.rel, buf, opaque->lpo_aux);
					lsm_check_shared_page(&cs, buf);
					mem_seen++;
					break;
				}
				if (cs.expected[blkno] != opaque->lpo_type)
					LSM_CORRUPT(cs.rel, blkno,
								("A %s page that the map does not reference as such.",
								 lsm_page_type_name(opaque->lpo_type)));
				if (opaque->lpo_type == LSM_PAGE_MEM)
				{
					if (cs.multi[blkno] && !LsmPageIsShared(page))
						LSM_CORRUPT(cs.rel, blkno,
									("Several logical blocks map to a memtable page that is not a shared overlay page."));
					lsm_verify_mem_page(cs.rel, buf, cs.expected_aux[blkno]);
					if (LsmPageIsShared(page))
						lsm_check_shared_page(&cs, buf);
					lsm_check_mem_page(&cs, buf);
					mem_seen++;
				}
				else
					lsm_verify_page(cs.rel, buf, opaque->lpo_type);
				break;
			case LSM_PAGE_MANIFEST:
			case LSM_PAGE_RUN_DATA:
			case LSM_PAGE_RUN_INDEX:
			case LSM_PAGE_RUN_BLOOM:
				/* run pages no run lists are orphans VACUUM reclaims */
				if (cs.expected[blkno] != 0 &&
					(cs.expected[blkno] != opaque->lpo_type ||
					 cs.expected_aux[blkno] != opaque->lpo_aux))
					LSM_CORRUPT(cs.rel, blkno,
								("A %s page of run %u where a %s page of run %u is expected.",
								 lsm_page_type_name(opaque->lpo_type), opaque->lpo_aux,
								 lsm_page_type_name(cs.expected[blkno]),
								 cs.expected_aux[blkno]));
				if (opaque->lpo_type == LSM_PAGE_MANIFEST && cs.expected[blkno] == 0)
					LSM_CORRUPT(cs.rel, blkno, ("A manifest page the metapage does not point to."));
				break;
			case LSM_PAGE_FREE:
				if (cs.expected[blkno] != 0)
					LSM_CORRUPT(cs.rel, blkno,
								("A free page that the map references as a %s page.",
								 lsm_page_type_name(cs.expected[blkno])));
				if (LsmPageGetFree(page)->magic != LSM_FREE_MAGIC)
					LSM_CORRUPT(cs.rel, blkno, ("Free page has a bad magic number."));
				break;
			default:
				LSM_CORRUPT(cs.rel, blkno,
							("Unexpected page type \"%s\" (%u).",
							 lsm_page_type_name(opaque->lpo_type),
							 (unsigned) opaque->lpo_type));
		}
		UnlockReleaseBuffer(buf);
	}

	if (mem_seen != cs.mem_pages)
		LSM_CORRUPT(cs.rel, LSM_METAPAGE_BLKNO,
					("Metapage counts %lld memtable pages, found %lld.",
					 (long long) cs.mem_pages, (long long) mem_seen));

	pfree(cs.expected);
	pfree(cs.multi);
	if (cs.lmap)
		pfree(cs.lmap);
	pfree(cs.expected_aux);
}

/* What the metapage says about the map's shape (see lsm_check). */
static void
lsm_check_map_state(Relation rel, uint64 *state)
{
	Buffer		buf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);

	memset(state, 0, 3 * sizeof(uint64));
	state[0] = lsm_physical_nblocks(rel);
	if (BufferIsValid(buf))
	{
		LsmMetaPage meta = LsmPageGetMeta(BufferGetPage(buf));

		state[1] = meta->next_lblock;
		state[2] = ((uint64) meta->mem_pages << 32) | (uint32) meta->pages_freed;
		UnlockReleaseBuffer(buf);
	}
	{
		PGAlignedBlock mbuf;
		LsmManifest m = (LsmManifest) mbuf.data;

		lsm_manifest_read(rel, m);
		state[2] ^= m->generation << 16;
	}
}

/*
 * lsm_check -- verify an lsm table; ERROR on the first inconsistency.
 *
 * Like amcheck, this takes only an AccessShareLock, so it runs alongside
 * writers and on a hot standby.  The pages are read one at a time, so a
 * concurrent allocation or freeing of pages can make the map and the pages
 * disagree for a moment; a failed pass is therefore repeated (a few times)
 * if the metapage shows such a change since the pass began, and reported
 * only if the inconsistency stays.
 */
Datum
lsm_check(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = relation_open(relid, AccessShareLock);
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	lsm_check_is_lsm(rel);
	for (int attempt = 1;; attempt++)
	{
		uint64		before[3];
		uint64		after[3];

		lsm_check_map_state(rel, before);
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcxt);
		PG_TRY();
		{
			lsm_check_once(rel);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;

			lsm_check_map_state(rel, after);
			if (attempt >= 5 || edata->sqlerrcode != ERRCODE_DATA_CORRUPTED ||
				memcmp(before, after, sizeof(before)) == 0)
				ReThrowError(edata);
			FreeErrorData(edata);
			continue;			/* the table changed under us: again */
		}
		PG_END_TRY();
		break;
	}
	relation_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}

/*
 * lsm_runs -- one row per run of an lsm table, newest first.
 */
Datum
lsm_runs(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	rel;
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;

	InitMaterializedSRF(fcinfo, 0);
	rel = relation_open(relid, AccessShareLock);
	lsm_check_is_lsm(rel);
	lsm_manifest_read(rel, m);
	for (uint32 r = 0; r < m->nruns; r++)
	{
		LsmManifestRun *d = &m->runs[r];
		LsmRun	   *run = lsm_run_open(rel, d, CurrentMemoryContext);
		Datum		values[14];
		bool		nulls[14];
		ItemPointer mintid = palloc(sizeof(ItemPointerData));
		ItemPointer maxtid = palloc(sizeof(ItemPointerData));
		int			i = 0;

		ItemPointerSet(mintid, d->min_lblock, d->min_off);
		ItemPointerSet(maxtid, d->max_lblock, d->max_off);
		memset(nulls, 0, sizeof(nulls));
		values[i++] = Int64GetDatum(d->run_id);
		values[i++] = Int32GetDatum(d->level);
		values[i++] = PointerGetDatum(mintid);
		values[i++] = PointerGetDatum(maxtid);
		values[i++] = Int64GetDatum(d->npages);
		values[i++] = Int64GetDatum(run->ndata);
		values[i++] = Int64GetDatum((int64) run->nversions);
		values[i++] = Int64GetDatum((int64) run->ntombstones);
		values[i++] = Int64GetDatum((int64) d->raw_bytes);
		values[i++] = Int64GetDatum((int64) d->comp_bytes);
		values[i++] = Int64GetDatum(run->bloom_nbits);
		values[i++] = Int32GetDatum(run->bloom_nhash);
		if (TransactionIdIsValid(d->oldest_xid))
			values[i++] = TransactionIdGetDatum(d->oldest_xid);
		else
			nulls[i++] = true;
		values[i++] = Int64GetDatum(d->root);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	relation_close(rel, AccessShareLock);
	return (Datum) 0;
}

/*
 * lsm_amplification -- write, space and read amplification of an lsm table
 * under the compaction policy (doc/lsm-design.md, "Compaction policy").
 *
 * write: raw bytes written into runs (flushes and merges) per raw byte
 * flushed, since the table's storage was created.  space: entries stored
 * (run entries, tombstones included, and versions on memtable pages) per
 * version not yet removable.  read: runs a point lookup may have to search,
 * and how many it searches on average given the bloom filters (every run
 * but the oldest is skipped unless its filter says yes).
 */
Datum
lsm_amplification(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	TupleDesc	tupdesc;
	Datum		values[14];
	bool		nulls[14];
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;
	int64		run_entries = 0;
	int64		kept = 0;
	double		expected_runs = 0;
	uint32		levels_seen[LSM_MAX_LEVEL + 1];
	int			nlevels = 0;
	TransactionId OldestXmin;
	LsmPageCounts counts;
	LsmVersionCounts vc;
	LsmSettings settings;
	int			i = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rel = relation_open(relid, AccessShareLock);
	lsm_check_is_lsm(rel);
	lsm_settings_load(rel);
	settings = lsm_settings(rel);
	OldestXmin = GetOldestNonRemovableTransactionId(rel);

	/* versions on memtable pages */
	lsm_count_pages(rel, &counts);

	/* runs: entries, levels, bloom filters */
	lsm_manifest_read(rel, m);
	memset(levels_seen, 0, sizeof(levels_seen));
	for (uint32 r = 0; r < m->nruns; r++)
	{
		LsmManifestRun *d = &m->runs[r];
		LsmRun	   *run = lsm_run_open(rel, d, CurrentMemoryContext);
		double		fpr = 1.0;

		run_entries += d->nentries;
		if (d->level <= LSM_MAX_LEVEL && levels_seen[d->level]++ == 0)
			nlevels++;
		/* the oldest run is searched without asking its filter */
		if (r + 1 < m->nruns)
			fpr = lsm_run_bloom_fpr(run, d->nentries);
		expected_runs += fpr;
	}

	/* versions not yet removable: the newest copy of every TID */
	lsm_count_versions(rel, OldestXmin, &vc);
	kept = vc.total - vc.dead;
	relation_close(rel, AccessShareLock);

	memset(nulls, 0, sizeof(nulls));
	values[i++] = CStringGetTextDatum(lsm_enum_name(lsm_policy_options,
													settings.compaction_policy,
													"compaction_policy"));
	values[i++] = Int32GetDatum(settings.compaction_size_ratio);
	values[i++] = Int32GetDatum(m->nruns);
	values[i++] = Int32GetDatum(nlevels);
	values[i++] = Int64GetDatum((int64) m->bytes_flushed);
	values[i++] = Int64GetDatum((int64) m->bytes_compacted);
	if (m->bytes_flushed > 0)
		values[i++] = Float8GetDatum((double) (m->bytes_flushed + m->bytes_compacted) /
									 (double) m->bytes_flushed);
	else
		nulls[i++] = true;
	values[i++] = Int64GetDatum(run_entries);
	values[i++] = Int64GetDatum(counts.mem_versions);
	values[i++] = Int64GetDatum(kept);
	if (kept > 0)
		values[i++] = Float8GetDatum((double) (run_entries + counts.mem_versions) / (double) kept);
	else
		nulls[i++] = true;
	values[i++] = Int32GetDatum(m->nruns);
	values[i++] = Float8GetDatum(expected_runs);
	Assert(i == 13);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * lsm_bloom_check -- measure the false-positive rate of the bloom filter of
 * every run: probe TIDs drawn at random (fixed seed, so the result is
 * repeatable) within the run's TID range, find out from the run's data
 * pages which of them it does not hold, and count how many of those its
 * filter lets through.  One row per run, newest first, with the rate the
 * filter's size predicts next to the measured one.
 */
Datum
lsm_bloom_check(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int32		probes = PG_GETARG_INT32(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	rel;
	PGAlignedBlock mbuf;
	LsmManifest m = (LsmManifest) mbuf.data;

	if (probes < 1 || probes > 10000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("probes must be between 1 and 10000000")));
	InitMaterializedSRF(fcinfo, 0);
	rel = relation_open(relid, AccessShareLock);
	lsm_check_is_lsm(rel);
	lsm_manifest_read(rel, m);
	for (uint32 r = 0; r < m->nruns; r++)
	{
		LsmManifestRun *d = &m->runs[r];
		LsmRun	   *run = lsm_run_open(rel, d, CurrentMemoryContext);
		LsmRunChunk chunk;
		pg_prng_state prng;
		int64		absent = 0;
		int64		false_pos = 0;
		Datum		values[9];
		bool		nulls[9];
		int			i = 0;

		lsm_run_chunk_init(&chunk, CurrentMemoryContext);
		pg_prng_seed(&prng, 0x6c736d + d->run_id);
		for (int32 p = 0; p < probes; p++)
		{
			ItemPointerData tid;
			BlockNumber lblock;
			OffsetNumber off;

			CHECK_FOR_INTERRUPTS();
			lblock = d->min_lblock +
				(BlockNumber) pg_prng_uint64_range(&prng, 0, d->max_lblock - d->min_lblock);
			off = (OffsetNumber) pg_prng_uint64_range(&prng, FirstOffsetNumber,
													  LSM_MAX_TUPLES_PER_PAGE);
			ItemPointerSet(&tid, lblock, off);
			if (lsm_run_lookup(rel, run, &tid, &chunk, NULL, false) != NULL)
				continue;		/* the run holds it: not a probe of absence */
			absent++;
			if (run->bloom_nbits > 0 && lsm_run_may_contain(rel, run, &tid))
				false_pos++;
		}
		lsm_run_chunk_free(&chunk);

		memset(nulls, 0, sizeof(nulls));
		values[i++] = Int64GetDatum(d->run_id);
		values[i++] = Int64GetDatum((int64) d->nentries);
		values[i++] = Int64GetDatum(run->bloom_nbits);
		values[i++] = Int32GetDatum(run->bloom_nhash);
		if (run->bloom_nbits > 0 && d->nentries > 0)
			values[i++] = Float8GetDatum(lsm_run_bloom_fpr(run, d->nentries));
		else
			nulls[i++] = true;
		values[i++] = Int32GetDatum(probes);
		values[i++] = Int64GetDatum(absent);
		values[i++] = Int64GetDatum(false_pos);
		if (run->bloom_nbits > 0 && absent > 0)
			values[i++] = Float8GetDatum((double) false_pos / (double) absent);
		else
			nulls[i++] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	relation_close(rel, AccessShareLock);
	return (Datum) 0;
}
