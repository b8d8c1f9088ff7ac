/*-------------------------------------------------------------------------
 *
 * lsm_memtable.c
 *	  Memtable pages of lsm tables: appending versions, finding an insert
 *	  target, and reading versions back by TID.
 *
 * A memtable page holds one logical block.  Versions are appended: a new
 * line pointer at pd_lower, the tuple at pd_upper; nothing on the page is
 * ever moved, so a reader holding only a pin may keep using a pointer into
 * the page, and a generic WAL delta covers just the new bytes.  Offsets are
 * never reused (TIDs are never reused within a relfilenode).
 *
 * Inserters keep a target page in the relation's smgr target-block hint, as
 * heap does; without one they try the metapage's insert_page, and when that
 * is full they assign a new memtable page (lsm_new_mem_page).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/hio.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "lsm/lsm_internal.h"

/*
 * lsm_page_has_room -- can a tuple of len bytes be appended to the page,
 * leaving at least reserve bytes free (fillfactor)?
 *
 * The rule is heap's (RelationGetBufferForTuple): the reserve is waived
 * for an empty page and shrunk for tuples too large to leave it.
 */
bool
lsm_page_has_room(Page page, Size len, Size reserve)
{
	PageHeader	phdr = (PageHeader) page;
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	Size		freespace;
	Size		alen = MAXALIGN(len);
	Size		nearly_empty = LSM_MAX_TUPLE_SIZE -
		(LSM_MAX_TUPLES_PER_PAGE / 8 * sizeof(ItemIdData));
	Size		target;

	if (maxoff >= LSM_MAX_TUPLES_PER_PAGE)
		return false;
	if (LsmPageGetOpaque(page)->lpo_flags & (LSM_MEM_SEALED | LSM_MEM_OVERLAY))
		return false;
	if ((Size) (phdr->pd_upper - phdr->pd_lower) < sizeof(ItemIdData))
		return false;
	freespace = phdr->pd_upper - phdr->pd_lower - sizeof(ItemIdData);
	if (maxoff == 0)
		return alen <= freespace;
	if (alen + reserve > nearly_empty)
		target = Max(alen, nearly_empty);
	else
		target = alen + reserve;
	return target <= freespace;
}

/*
 * lsm_fillfactor_reserve -- bytes an insertion leaves free on a memtable
 * page, from the table's fillfactor (as for heap).
 */
Size
lsm_fillfactor_reserve(Relation rel)
{
	return RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR);
}

/*
 * lsm_page_add_tuple -- append a version to a memtable page.
 *
 * The caller has checked lsm_page_has_room and holds the page exclusively
 * (normally as the copy registered with generic WAL).  Sets tuple->t_self
 * to the new TID and the stored header's t_ctid to the same TID; returns
 * the stored header, for callers that must put something else in t_ctid
 * (a speculative insertion token, a moved-partitions marker).
 */
HeapTupleHeader
lsm_page_add_tuple(Page page, HeapTuple tuple)
{
	PageHeader	phdr = (PageHeader) page;
	OffsetNumber off = PageGetMaxOffsetNumber(page) + 1;
	Size		alignedlen = MAXALIGN(tuple->t_len);
	ItemId		itemid;
	HeapTupleHeader item;

	Assert(lsm_page_has_room(page, tuple->t_len, 0));

	phdr->pd_upper -= alignedlen;
	itemid = PageGetItemId(page, off);
	ItemIdSetNormal(itemid, phdr->pd_upper, tuple->t_len);
	phdr->pd_lower += sizeof(ItemIdData);
	LsmPageGetOpaque(page)->lpo_flags &= ~LSM_MEM_NO_VERSIONS;

	item = (HeapTupleHeader) ((char *) page + phdr->pd_upper);
	memcpy(item, tuple->t_data, tuple->t_len);

	ItemPointerSet(&tuple->t_self, LsmPageGetOpaque(page)->lpo_aux, off);
	item->t_ctid = tuple->t_self;
	return item;
}

/*
 * lsm_page_put_tuple -- put a copy of a version read from a run at its own
 * offset of the (overlay) memtable page of its logical block.
 *
 * The caller holds the page exclusively (the copy registered with generic
 * WAL) and has checked that the line pointer is unused.  Line pointers up
 * to off are created unused as needed.  There is always room: every
 * version of a logical block once fitted on one page, and a version is
 * copied to a given overlay page at most once.
 */
void
lsm_page_put_tuple(Relation rel, Page page, OffsetNumber off,
				   HeapTupleHeader tup, uint32 len)
{
	PageHeader	phdr = (PageHeader) page;
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	Size		alignedlen = MAXALIGN(len);
	Size		lpneed = off > maxoff ? (off - maxoff) * sizeof(ItemIdData) : 0;
	HeapTupleHeader item;

	if ((Size) (phdr->pd_upper - phdr->pd_lower) < alignedlen + lpneed)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("no room for a row version on the memtable page of logical block %u of \"%s\"",
						LsmPageGetOpaque(page)->lpo_aux,
						RelationGetRelationName(rel)),
				 errhint("VACUUM the table.")));
	for (OffsetNumber o = maxoff + 1; o <= off; o++)
		ItemIdSetUnused(PageGetItemId(page, o));
	phdr->pd_lower += lpneed;
	phdr->pd_upper -= alignedlen;
	ItemIdSetNormal(PageGetItemId(page, off), phdr->pd_upper, len);
	LsmPageGetOpaque(page)->lpo_flags &= ~LSM_MEM_NO_VERSIONS;
	item = (HeapTupleHeader) ((char *) page + phdr->pd_upper);
	memcpy(item, tup, len);
	ItemPointerSet(&item->t_ctid, LsmPageGetOpaque(page)->lpo_aux, off);
}

/*
 * lsm_check_tuple_size -- refuse a tuple that no memtable page can hold.
 */
void
lsm_check_tuple_size(Relation rel, HeapTuple tuple)
{
	if (MAXALIGN(tuple->t_len) > LSM_MAX_TUPLE_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row is too big: size %zu, maximum size %zu",
						(size_t) MAXALIGN(tuple->t_len),
						(size_t) LSM_MAX_TUPLE_SIZE)));
}

/*
 * Is buf (locked) a memtable page that can take len more bytes?  Checked
 * softly: the page may be a stale target that has since been freed.
 */
static bool
lsm_buffer_takes(Buffer buf, Size len, Size reserve)
{
	Page		page = BufferGetPage(buf);

	if (PageIsNew(page) ||
		((PageHeader) page)->pd_special != BLCKSZ - LSM_SPECIAL_SIZE ||
		LsmPageGetOpaque(page)->lpo_page_id != LSM_PAGE_ID ||
		LsmPageGetOpaque(page)->lpo_type != LSM_PAGE_MEM)
		return false;
	return lsm_page_has_room(page, len, reserve);
}

/* Try to use block blkno as insert target; returns locked buffer or Invalid. */
static Buffer
lsm_try_target(Relation rel, BlockNumber blkno, Size len,
			   BulkInsertState bistate)
{
	Buffer		buf;

	if (bistate && BufferIsValid(bistate->current_buf) &&
		BufferGetBlockNumber(bistate->current_buf) == blkno)
	{
		buf = bistate->current_buf;
		IncrBufferRefCount(buf);
	}
	else
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 bistate ? bistate->strategy : NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (lsm_buffer_takes(buf, len, lsm_fillfactor_reserve(rel)))
		return buf;
	UnlockReleaseBuffer(buf);
	return InvalidBuffer;
}

/*
 * lsm_get_insert_buffer -- a memtable page with room for len bytes,
 * returned pinned and exclusively locked.
 */
Buffer
lsm_get_insert_buffer(Relation rel, Size len, BulkInsertState bistate)
{
	BlockNumber target = RelationGetTargetBlock(rel);
	Buffer		buf = InvalidBuffer;

	if (MAXALIGN(len) > LSM_MAX_TUPLE_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row is too big: size %zu, maximum size %zu",
						(size_t) MAXALIGN(len), (size_t) LSM_MAX_TUPLE_SIZE)));

	if (bistate && BufferIsValid(bistate->current_buf))
		target = BufferGetBlockNumber(bistate->current_buf);

	if (target != InvalidBlockNumber)
		buf = lsm_try_target(rel, target, len, bistate);

	if (!BufferIsValid(buf))
	{
		/* The newest memtable page, if another backend has not filled it. */
		Buffer		metabuf = lsm_read_metapage(rel, BUFFER_LOCK_SHARE);

		if (BufferIsValid(metabuf))
		{
			BlockNumber hint = LsmPageGetMeta(BufferGetPage(metabuf))->insert_page;

			UnlockReleaseBuffer(metabuf);
			if (hint != InvalidBlockNumber && hint != target)
				buf = lsm_try_target(rel, hint, len, bistate);
		}
	}

	if (!BufferIsValid(buf))
		buf = lsm_new_mem_page(rel, bistate ? bistate->strategy : NULL);

	RelationSetTargetBlock(rel, BufferGetBlockNumber(buf));
	if (bistate && bistate->current_buf != buf)
	{
		if (BufferIsValid(bistate->current_buf))
			ReleaseBuffer(bistate->current_buf);
		IncrBufferRefCount(buf);
		bistate->current_buf = buf;
	}
	return buf;
}

/*
 * lsm_read_mem_page_hint -- pin and lock the memtable page of a logical
 * block, given where a (possibly stale) copy of the map said it is.
 *
 * Returns InvalidBuffer if no memtable page holds it.  A page reached
 * through a map entry that changed after we read it (the page was freed
 * and reused meanwhile) is recognized by its logical block and treated as
 * absent; a page that the current map entry itself points to but that
 * does not hold the logical block is corruption.
 */
Buffer
lsm_read_mem_page_hint(Relation rel, BlockNumber lblock, BlockNumber blkno,
					   BufferAccessStrategy strategy, int lockmode)
{
	Buffer		buf;
	Page		page;

	if (blkno == InvalidBlockNumber)
		return InvalidBuffer;
	buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
	LockBuffer(buf, lockmode);
	page = BufferGetPage(buf);
	if (PageIsNew(page) ||
		((PageHeader) page)->pd_special != BLCKSZ - LSM_SPECIAL_SIZE ||
		LsmPageGetOpaque(page)->lpo_type != LSM_PAGE_MEM ||
		LsmPageGetOpaque(page)->lpo_aux != lblock)
	{
		BlockNumber current;

		/* stale entry, or corruption?  Ask the map as it is now. */
		UnlockReleaseBuffer(buf);
		lsm_invalidate_cache(rel);
		current = lsm_map_lookup(rel, lblock);
		if (current == InvalidBlockNumber)
			return InvalidBuffer;
		blkno = current;
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 strategy);
		LockBuffer(buf, lockmode);
	}
	lsm_verify_mem_page(rel, buf, lblock);
	return buf;
}

/*
 * lsm_read_mem_page_locked -- pin and lock the memtable page of a logical
 * block, looking it up in the map.  InvalidBuffer if there is none.
 */
Buffer
lsm_read_mem_page_locked(Relation rel, BlockNumber lblock,
						 BufferAccessStrategy strategy, int lockmode)
{
	return lsm_read_mem_page_hint(rel, lblock, lsm_map_lookup(rel, lblock),
								  strategy, lockmode);
}

/*
 * lsm_read_mem_page -- as lsm_read_mem_page_locked with a share lock.
 */
Buffer
lsm_read_mem_page(Relation rel, BlockNumber lblock,
				  BufferAccessStrategy strategy)
{
	return lsm_read_mem_page_locked(rel, lblock, strategy, BUFFER_LOCK_SHARE);
}

/*
 * lsm_page_get_tuple -- point tuple at the version at offset off of the
 * locked memtable page in buf.
 *
 * Returns false if there is no version at that offset (never used, or
 * removed by VACUUM: LP_DEAD until its index entries are gone, then
 * LP_UNUSED).  Inconsistent line pointers or headers are reported
 * as corruption.
 */
bool
lsm_page_get_tuple(Relation rel, Buffer buf, OffsetNumber off,
				   HeapTuple tuple)
{
	Page		page = BufferGetPage(buf);
	PageHeader	phdr = (PageHeader) page;
	ItemId		itemid;
	HeapTupleHeader htup;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return false;
	itemid = PageGetItemId(page, off);
	if (!ItemIdIsNormal(itemid))
	{
		/*
		 * LP_DEAD: removed by VACUUM, index entries not yet deleted; a
		 * tombstone (overlay pages): removed, hiding a copy in the runs.
		 */
		if (ItemIdIsUsed(itemid) &&
			!(ItemIdIsDead(itemid) && !ItemIdHasStorage(itemid)) &&
			!LsmItemIdIsTombstone(itemid))
			LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
						("Line pointer %u has flags %u.",
						 (unsigned) off, (unsigned) ItemIdGetFlags(itemid)));
		return false;
	}
	if (ItemIdGetOffset(itemid) < phdr->pd_upper ||
		ItemIdGetOffset(itemid) + ItemIdGetLength(itemid) > phdr->pd_special ||
		ItemIdGetLength(itemid) < SizeofHeapTupleHeader ||
		ItemIdGetOffset(itemid) != MAXALIGN(ItemIdGetOffset(itemid)))
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Line pointer %u points to offset %u length %u.",
					 (unsigned) off, (unsigned) ItemIdGetOffset(itemid),
					 (unsigned) ItemIdGetLength(itemid)));
	htup = (HeapTupleHeader) PageGetItem(page, itemid);
	if (htup->t_hoff < SizeofHeapTupleHeader ||
		htup->t_hoff > ItemIdGetLength(itemid) ||
		htup->t_hoff != MAXALIGN(htup->t_hoff))
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Tuple at offset %u has header size %u and length %u.",
					 (unsigned) off, (unsigned) htup->t_hoff,
					 (unsigned) ItemIdGetLength(itemid)));

	tuple->t_data = htup;
	tuple->t_len = ItemIdGetLength(itemid);
	tuple->t_tableOid = RelationGetRelid(rel);
	ItemPointerSet(&tuple->t_self, LsmPageGetOpaque(page)->lpo_aux, off);
	return true;
}

/*
 * lsm_fetch_tuple -- find the version with the given TID.
 *
 * On success returns true with *buf pinned and share-locked and tuple
 * pointing into the page.  Returns false (and *buf = InvalidBuffer) when
 * the TID names no stored version.
 */
bool
lsm_fetch_tuple(Relation rel, ItemPointer tid, Buffer *buf, HeapTuple tuple)
{
	*buf = InvalidBuffer;
	if (!ItemPointerIsValid(tid) ||
		ItemPointerGetOffsetNumber(tid) > LSM_MAX_TUPLES_PER_PAGE)
		return false;
	*buf = lsm_read_mem_page(rel, ItemPointerGetBlockNumber(tid), NULL);
	if (!BufferIsValid(*buf))
		return false;
	if (!lsm_page_get_tuple(rel, *buf, ItemPointerGetOffsetNumber(tid), tuple))
	{
		UnlockReleaseBuffer(*buf);
		*buf = InvalidBuffer;
		return false;
	}
	return true;
}

/*
 * lsm_fetch_any -- find the version with the given TID, in the memtable or
 * else in the runs.
 *
 * LSM_FETCH_MEM: *buf is its memtable page, pinned and share-locked, and
 * tuple points into it.  LSM_FETCH_RUN: *buf is InvalidBuffer and tuple
 * points into memory of *rsp (a view of the runs, created in mcxt if NULL
 * and refreshed otherwise), valid until the next lookup through it; with
 * rsp == NULL, into the backend's cached view (lsm_runset_cached), valid
 * until the next lookup of anybody: copy it at once.
 * LSM_FETCH_NONE: there is no version (never was, or removed).
 *
 * An ordinary memtable page holds everything of its logical block; only
 * an unmapped block or an unused line pointer of an overlay page sends the
 * lookup to the runs.
 */
int
lsm_fetch_any(Relation rel, ItemPointer tid, LsmRunSet **rsp,
			  MemoryContext mcxt, Buffer *buf, HeapTuple tuple)
{
	BlockNumber lblock = ItemPointerGetBlockNumber(tid);
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	LsmRunEntry *e;

	*buf = InvalidBuffer;
	if (off < FirstOffsetNumber || off > LSM_MAX_TUPLES_PER_PAGE)
		return LSM_FETCH_NONE;
	*buf = lsm_read_mem_page(rel, lblock, NULL);
	if (BufferIsValid(*buf))
	{
		Page		page = BufferGetPage(*buf);

		if (LsmPageHoldsOffset(page, off))
		{
			if (lsm_page_get_tuple(rel, *buf, off, tuple))
				return LSM_FETCH_MEM;
			UnlockReleaseBuffer(*buf);
			*buf = InvalidBuffer;
			return LSM_FETCH_NONE;
		}
		UnlockReleaseBuffer(*buf);
		*buf = InvalidBuffer;
	}

	if (rsp == NULL)
		e = lsm_runset_lookup(rel, lsm_runset_cached(rel), tid);
	else
	{
		if (*rsp == NULL)
			*rsp = lsm_runset_create(rel, mcxt);
		else
			lsm_runset_refresh(rel, *rsp);
		e = lsm_runset_lookup(rel, *rsp, tid);
	}
	if (e == NULL || e->tup == NULL)
		return LSM_FETCH_NONE;
	tuple->t_data = e->tup;
	tuple->t_len = e->len;
	tuple->t_self = *tid;
	tuple->t_tableOid = RelationGetRelid(rel);
	return LSM_FETCH_RUN;
}
