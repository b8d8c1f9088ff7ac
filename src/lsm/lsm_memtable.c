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
 * The exception is the shared overlay page (lsm_page.h), which holds
 * copies of versions of many logical blocks, each item prefixed by its TID.
 * Code that looks for a TID goes through lsm_page_find (or
 * lsm_page_get_version); code that walks all items of a page takes each
 * item's TID from lsm_page_item_tid or the tuple's t_self.
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
 * lsm_page_put_tuple -- put a copy of a version read from a run on the
 * overlay memtable page that answers for its logical block, and return the
 * stored header.
 *
 * The caller holds the page exclusively (the copy registered with generic
 * WAL) and has checked that the page does not hold the TID yet.  On an
 * ordinary overlay page the copy goes to its own offset (line pointers up
 * to off are created unused as needed); there is always room, since every
 * version of a logical block once fitted on one page and a version is
 * copied to a given page at most once.  On a shared overlay page it is
 * appended behind its prefix; the caller checked lsm_shared_page_has_room.
 */
HeapTupleHeader
lsm_page_put_tuple(Relation rel, Page page, BlockNumber lblock,
				   OffsetNumber off, HeapTupleHeader tup, uint32 len)
{
	PageHeader	phdr = (PageHeader) page;
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	bool		shared = LsmPageIsShared(page);
	Size		alignedlen = MAXALIGN(len) + (shared ? LSM_SHARED_PREFIX : 0);
	OffsetNumber lp = shared ? maxoff + 1 : off;
	Size		lpneed = lp > maxoff ? (lp - maxoff) * sizeof(ItemIdData) : 0;
	HeapTupleHeader item;

	if ((Size) (phdr->pd_upper - phdr->pd_lower) < alignedlen + lpneed ||
		lp > LSM_MAX_TUPLES_PER_PAGE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("no room for a row version on the memtable page of logical block %u of \"%s\"",
						lblock, RelationGetRelationName(rel)),
				 errhint("VACUUM the table.")));
	for (OffsetNumber o = maxoff + 1; o <= lp; o++)
		ItemIdSetUnused(PageGetItemId(page, o));
	phdr->pd_lower += lpneed;
	phdr->pd_upper -= alignedlen;
	ItemIdSetNormal(PageGetItemId(page, lp), phdr->pd_upper,
					len + (shared ? LSM_SHARED_PREFIX : 0));
	LsmPageGetOpaque(page)->lpo_flags &= ~LSM_MEM_NO_VERSIONS;
	if (shared)
	{
		LsmSharedItemData *prefix =
			(LsmSharedItemData *) ((char *) page + phdr->pd_upper);

		memset(prefix, 0, LSM_SHARED_PREFIX);
		prefix->lblock = lblock;
		prefix->off = off;
		item = (HeapTupleHeader) ((char *) prefix + LSM_SHARED_PREFIX);
	}
	else
		item = (HeapTupleHeader) ((char *) page + phdr->pd_upper);
	memcpy(item, tup, len);
	ItemPointerSet(&item->t_ctid, lblock, off);
	return item;
}

/*
 * lsm_shared_page_has_room -- can a copy of len bytes be put on this shared
 * overlay page?
 */
bool
lsm_shared_page_has_room(Page page, Size len)
{
	PageHeader	phdr = (PageHeader) page;

	return PageGetMaxOffsetNumber(page) < LSM_MAX_TUPLES_PER_PAGE &&
		(Size) (phdr->pd_upper - phdr->pd_lower) >=
		MAXALIGN(len) + LSM_SHARED_PREFIX + sizeof(ItemIdData);
}

/*
 * lsm_shared_item -- check the storage of item lp of a shared overlay page
 * (blkno, for error reports) and return its prefix; NULL for an unused
 * line pointer.
 */
LsmSharedItemData *
lsm_shared_item(Relation rel, BlockNumber blkno, Page page, OffsetNumber lp)
{
	PageHeader	phdr = (PageHeader) page;
	ItemId		itemid = PageGetItemId(page, lp);
	LsmSharedItemData *prefix;
	BlockNumber first = LsmPageGetOpaque(page)->lpo_aux;

	if (!ItemIdIsUsed(itemid))
		return NULL;
	if (ItemIdGetOffset(itemid) < phdr->pd_upper ||
		ItemIdGetOffset(itemid) + ItemIdGetLength(itemid) > phdr->pd_special ||
		ItemIdGetLength(itemid) < LSM_SHARED_PREFIX ||
		ItemIdGetOffset(itemid) != MAXALIGN(ItemIdGetOffset(itemid)))
		LSM_CORRUPT(rel, blkno,
					("Line pointer %u of a shared overlay page points to offset %u length %u.",
					 (unsigned) lp, (unsigned) ItemIdGetOffset(itemid),
					 (unsigned) ItemIdGetLength(itemid)));
	prefix = (LsmSharedItemData *) PageGetItem(page, itemid);
	if (prefix->lblock < first ||
		prefix->lblock - first >= (BlockNumber) LsmMapRangeSize(first) ||
		prefix->off < FirstOffsetNumber ||
		prefix->off > LSM_MAX_TUPLES_PER_PAGE)
		LSM_CORRUPT(rel, blkno,
					("Item %u of a shared overlay page names TID (%u,%u), outside the page's range from logical block %u.",
					 (unsigned) lp, prefix->lblock, (unsigned) prefix->off,
					 first));
	return prefix;
}

/*
 * lsm_page_find -- the line pointer that holds TID (lblock, off) on a
 * memtable page answering for lblock (blkno is the page's block, for error
 * reports; page may be a copy being built), or InvalidOffsetNumber.
 *
 * On an ordinary page that is off itself if such a line pointer exists (its
 * state is the caller's business); on an overlay page only a used one (an
 * unused line pointer means "in the runs"); on a shared overlay page the
 * item whose prefix names the TID.
 */
OffsetNumber
lsm_page_find(Relation rel, BlockNumber blkno, Page page, BlockNumber lblock,
			  OffsetNumber off)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

	if (!LsmPageIsShared(page))
	{
		if (off < FirstOffsetNumber || off > maxoff)
			return InvalidOffsetNumber;
		if ((LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_OVERLAY) &&
			!ItemIdIsUsed(PageGetItemId(page, off)))
			return InvalidOffsetNumber;
		return off;
	}
	for (OffsetNumber lp = FirstOffsetNumber; lp <= maxoff; lp++)
	{
		LsmSharedItemData *prefix = lsm_shared_item(rel, blkno, page, lp);

		if (prefix && prefix->lblock == lblock && prefix->off == off)
			return lp;
	}
	return InvalidOffsetNumber;
}

/*
 * lsm_shared_block_bytes -- the room the items of logical block lblock take
 * on a shared overlay page (locked, in buf), line pointers included.
 */
Size
lsm_shared_block_bytes(Relation rel, Buffer buf, BlockNumber lblock)
{
	Page		page = BufferGetPage(buf);
	Size		bytes = 0;

	for (OffsetNumber lp = FirstOffsetNumber; lp <= PageGetMaxOffsetNumber(page); lp++)
	{
		LsmSharedItemData *prefix =
			lsm_shared_item(rel, BufferGetBlockNumber(buf), page, lp);

		if (prefix != NULL && prefix->lblock == lblock)
			bytes += MAXALIGN(ItemIdGetLength(PageGetItemId(page, lp))) +
				sizeof(ItemIdData);
	}
	return bytes;
}

/*
 * lsm_page_holds -- does the memtable page answering for lblock hold the
 * version at offset off, or does it send the reader to the runs?  An
 * ordinary page holds every version of its block; an overlay page only
 * those it has an item for.
 */
bool
lsm_page_holds(Relation rel, Buffer buf, BlockNumber lblock, OffsetNumber off)
{
	Page		page = BufferGetPage(buf);

	if (!(LsmPageGetOpaque(page)->lpo_flags & LSM_MEM_OVERLAY))
		return true;
	return lsm_page_find(rel, BufferGetBlockNumber(buf), page, lblock,
						 off) != InvalidOffsetNumber;
}

/*
 * lsm_page_block_items -- the line pointers of the items of logical block
 * lblock on a shared overlay page: lps[off] for offsets 1 ..
 * LSM_MAX_TUPLES_PER_PAGE (0 where there is none).  Returns the highest
 * offset found, 0 if none.
 */
OffsetNumber
lsm_page_block_items(Relation rel, Buffer buf, BlockNumber lblock,
					 OffsetNumber *lps)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	OffsetNumber highest = 0;

	Assert(LsmPageIsShared(page));
	memset(lps, 0, sizeof(OffsetNumber) * (LSM_MAX_TUPLES_PER_PAGE + 1));
	for (OffsetNumber lp = FirstOffsetNumber; lp <= maxoff; lp++)
	{
		LsmSharedItemData *prefix =
			lsm_shared_item(rel, BufferGetBlockNumber(buf), page, lp);

		if (prefix == NULL || prefix->lblock != lblock)
			continue;
		lps[prefix->off] = lp;
		highest = Max(highest, prefix->off);
	}
	return highest;
}

/*
 * lsm_page_item_tid -- the TID of the version item lp of a memtable page
 * holds (or held); false for an unused item of a shared page.
 */
bool
lsm_page_item_tid(Relation rel, BlockNumber blkno, Page page, OffsetNumber lp,
				  ItemPointer tid)
{
	if (LsmPageIsShared(page))
	{
		LsmSharedItemData *prefix = lsm_shared_item(rel, blkno, page, lp);

		if (prefix == NULL)
			return false;
		ItemPointerSet(tid, prefix->lblock, prefix->off);
		return true;
	}
	ItemPointerSet(tid, LsmPageGetOpaque(page)->lpo_aux, lp);
	return true;
}

/*
 * lsm_version_moved -- has the version tup points to, on the page in buf
 * (locked), moved to another page since the pointer was taken?  Only the
 * items of a shared overlay page move (lsm_move_shared_block), leaving an
 * unused line pointer and their old storage behind (storage is never
 * reused); a backend that kept a pin and a pointer while it waited must
 * then look the TID up again.
 */
bool
lsm_version_moved(Buffer buf, HeapTupleHeader tup)
{
	Page		page = BufferGetPage(buf);
	Size		pos;

	if (!LsmPageIsShared(page))
		return false;
	pos = (char *) tup - LSM_SHARED_PREFIX - (char *) page;
	for (OffsetNumber lp = FirstOffsetNumber; lp <= PageGetMaxOffsetNumber(page); lp++)
	{
		ItemId		itemid = PageGetItemId(page, lp);

		if (ItemIdIsUsed(itemid) && ItemIdGetOffset(itemid) == pos)
			return false;
	}
	return true;
}

/*
 * lsm_item_set_dead -- mark a removed version's item LP_DEAD: without
 * storage, except on a shared overlay page, where the item keeps its
 * prefix (it still names the TID whose index entries are to be deleted).
 */
void
lsm_item_set_dead(Page page, OffsetNumber lp)
{
	ItemId		itemid = PageGetItemId(page, lp);

	if (LsmPageIsShared(page))
		ItemIdMarkDead(itemid);
	else
		ItemIdSetDead(itemid);
}

/*
 * lsm_item_set_tombstone -- make item lp of an overlay page a tombstone
 * (LP_REDIRECT): no storage on an ordinary overlay page, the prefix alone
 * on a shared one.
 */
void
lsm_item_set_tombstone(Page page, OffsetNumber lp)
{
	ItemId		itemid = PageGetItemId(page, lp);

	if (LsmPageIsShared(page))
	{
		Assert(ItemIdHasStorage(itemid));
		itemid->lp_flags = LP_REDIRECT;
		itemid->lp_len = LSM_SHARED_PREFIX;
	}
	else
	{
		itemid->lp_flags = LP_REDIRECT;
		itemid->lp_off = 0;
		itemid->lp_len = 0;
	}
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
 * Does a shared overlay page (locked) hold an item of logical block lblock?
 * A page reached through a stale map entry may be a shared page of the
 * same range again; a logical block mapped to a shared page gets its first
 * item while the page stays locked, so this tells the two apart (except
 * after a crash between the two records, when the current map says so).
 */
static bool
lsm_shared_page_has_block(Relation rel, Buffer buf, BlockNumber lblock)
{
	Page		page = BufferGetPage(buf);
	BlockNumber first = LsmPageGetOpaque(page)->lpo_aux;

	if (lblock < first || lblock - first >= (BlockNumber) LsmMapRangeSize(first))
		return false;
	for (OffsetNumber lp = FirstOffsetNumber;
		 lp <= PageGetMaxOffsetNumber(page) && lp <= LSM_MAX_TUPLES_PER_PAGE; lp++)
	{
		LsmSharedItemData *prefix =
			lsm_shared_item(rel, BufferGetBlockNumber(buf), page, lp);

		if (prefix != NULL && prefix->lblock == lblock)
			return true;
	}
	return false;
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
		(LsmPageIsShared(page) ?
		 !lsm_shared_page_has_block(rel, buf, lblock) :
		 LsmPageGetOpaque(page)->lpo_aux != lblock))
	{
		/*
		 * Stale entry, or corruption?  Ask the map as it is now, and lock
		 * the page it names before the map lets go of it: that page cannot
		 * have been freed since, so if it does not hold the block, the
		 * relation is damaged.
		 */
		UnlockReleaseBuffer(buf);
		lsm_forget_map_pages(rel);
		if (lsm_map_lookup_lock(rel, lblock, strategy, lockmode, &buf) ==
			InvalidBlockNumber)
			return InvalidBuffer;
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
 * lsm_page_get_tuple -- point tuple at the version of line pointer lp of
 * the locked memtable page in buf (lp is the TID's offset, except on a
 * shared overlay page: see lsm_page_find).
 *
 * Returns false if there is no version there (never used; removed by
 * VACUUM: LP_DEAD until its index entries are gone, then LP_UNUSED or a
 * tombstone).  Inconsistent line pointers or headers are reported as
 * corruption.
 */
bool
lsm_page_get_tuple(Relation rel, Buffer buf, OffsetNumber lp,
				   HeapTuple tuple)
{
	Page		page = BufferGetPage(buf);
	PageHeader	phdr = (PageHeader) page;
	bool		shared = LsmPageIsShared(page);
	ItemId		itemid;
	HeapTupleHeader htup;
	uint32		len;

	if (lp < FirstOffsetNumber || lp > PageGetMaxOffsetNumber(page))
		return false;
	itemid = PageGetItemId(page, lp);
	if (!ItemIdIsNormal(itemid))
	{
		/*
		 * LP_DEAD: removed by VACUUM, index entries not yet deleted; a
		 * tombstone (overlay pages): removed, hiding a copy in the runs.
		 * Only a shared page keeps storage for those.
		 */
		if (ItemIdIsUsed(itemid) && !LsmItemIdIsTombstone(itemid) &&
			!(ItemIdIsDead(itemid) && (shared || !ItemIdHasStorage(itemid))))
			LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
						("Line pointer %u has flags %u.",
						 (unsigned) lp, (unsigned) ItemIdGetFlags(itemid)));
		return false;
	}
	if (ItemIdGetOffset(itemid) < phdr->pd_upper ||
		ItemIdGetOffset(itemid) + ItemIdGetLength(itemid) > phdr->pd_special ||
		ItemIdGetLength(itemid) < SizeofHeapTupleHeader +
		(shared ? LSM_SHARED_PREFIX : 0) ||
		ItemIdGetOffset(itemid) != MAXALIGN(ItemIdGetOffset(itemid)))
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Line pointer %u points to offset %u length %u.",
					 (unsigned) lp, (unsigned) ItemIdGetOffset(itemid),
					 (unsigned) ItemIdGetLength(itemid)));
	htup = (HeapTupleHeader) PageGetItem(page, itemid);
	len = ItemIdGetLength(itemid);
	if (shared)
	{
		LsmSharedItemData *prefix = (LsmSharedItemData *) htup;

		(void) lsm_shared_item(rel, BufferGetBlockNumber(buf), page, lp);
		ItemPointerSet(&tuple->t_self, prefix->lblock, prefix->off);
		htup = (HeapTupleHeader) ((char *) htup + LSM_SHARED_PREFIX);
		len -= LSM_SHARED_PREFIX;
	}
	else
		ItemPointerSet(&tuple->t_self, LsmPageGetOpaque(page)->lpo_aux, lp);
	if (htup->t_hoff < SizeofHeapTupleHeader ||
		htup->t_hoff > len ||
		htup->t_hoff != MAXALIGN(htup->t_hoff))
		LSM_CORRUPT(rel, BufferGetBlockNumber(buf),
					("Tuple at line pointer %u has header size %u and length %u.",
					 (unsigned) lp, (unsigned) htup->t_hoff, (unsigned) len));

	tuple->t_data = htup;
	tuple->t_len = len;
	tuple->t_tableOid = RelationGetRelid(rel);
	return true;
}

/*
 * lsm_page_get_version -- as lsm_page_get_tuple, for the version with TID
 * tid on the memtable page (locked, in buf) answering for its block.
 */
bool
lsm_page_get_version(Relation rel, Buffer buf, ItemPointer tid,
					 HeapTuple tuple)
{
	OffsetNumber lp = lsm_page_find(rel, BufferGetBlockNumber(buf),
									BufferGetPage(buf),
									ItemPointerGetBlockNumber(tid),
									ItemPointerGetOffsetNumber(tid));

	if (lp == InvalidOffsetNumber)
		return false;
	return lsm_page_get_tuple(rel, buf, lp, tuple);
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
	if (!lsm_page_get_version(rel, *buf, tid, tuple))
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
		if (lsm_page_holds(rel, *buf, lblock, off))
		{
			if (lsm_page_get_version(rel, *buf, tid, tuple))
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
