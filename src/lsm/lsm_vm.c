/*-------------------------------------------------------------------------
 *
 * lsm_vm.c
 *	  The visibility map of lsm tables.
 *
 * lsm keeps a visibility map with exactly the format of heap's (the
 * visibility map fork, two bits per block; see access/heap/visibilitymap.c)
 * but indexed by logical block.  Core code reads it as it reads a heap's:
 * index-only scans skip the table for TIDs whose logical block is
 * all-visible, bitmap scans that need no columns skip such blocks, and
 * ANALYZE and CREATE INDEX count the bits for pg_class.relallvisible, which
 * the planner uses to cost index-only scans.
 *
 * Only the ALL_VISIBLE bit is used (lsm VACUUM reads every page, so it has
 * no use for ALL_FROZEN).  The bit of a logical block is set by VACUUM when
 * every version on its memtable page is visible to every transaction, and
 * the page then carries PD_ALL_VISIBLE too, as a heap page would.  Every
 * change that can make a version invisible to somebody (a new version on
 * the page, a delete, an update) clears both in the same WAL record; a row
 * lock does not affect visibility and leaves them alone.
 *
 * WAL.  The map pages are changed with generic WAL like every other page.
 * Heap's map pages keep their bits between pd_lower and pd_upper, the part
 * of a page generic WAL does not log; lsm's map pages are therefore
 * formatted with pd_lower = pd_upper = BLCKSZ, which visibilitymap.c does
 * not mind (it reads the bits from PageGetContents).  A map page found in
 * heap's layout (initialized by visibilitymap.c after a crash left a zero
 * page) is switched to lsm's layout by the first record that changes it.
 *
 * Hot standby: a query on a standby may hold a snapshot older than the
 * primary's horizon, and an index-only scan there would trust the bit.  As
 * heap does with its XLOG_HEAP2_VISIBLE record, setting a bit first logs a
 * recovery-conflict horizon (the newest xmin on the page).
 *
 * Lock order: memtable page(s) before the map page.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/visibilitymapdefs.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/inval.h"
#include "utils/rel.h"

#include "lsm/lsm_internal.h"

/* the layout of visibilitymap.c */
#define LSM_VM_MAPSIZE (BLCKSZ - MAXALIGN(SizeOfPageHeaderData))
#define LSM_VM_BLOCKS_PER_BYTE (BITS_PER_BYTE / BITS_PER_HEAPBLOCK)
#define LSM_VM_BLOCKS_PER_PAGE (LSM_VM_MAPSIZE * LSM_VM_BLOCKS_PER_BYTE)
#define LSM_VM_MAPBLOCK(x) ((x) / LSM_VM_BLOCKS_PER_PAGE)
#define LSM_VM_MAPBYTE(x) (((x) % LSM_VM_BLOCKS_PER_PAGE) / LSM_VM_BLOCKS_PER_BYTE)
#define LSM_VM_OFFSET(x) (((x) % LSM_VM_BLOCKS_PER_BYTE) * BITS_PER_HEAPBLOCK)

/*
 * Extend the map fork so that it has block vmblock, formatting the new
 * pages (full-image generic WAL).  Other backends are told through an smgr
 * invalidation, since visibilitymap.c caches the fork's size.
 */
static void
lsm_vm_extend(Relation rel, BlockNumber vmblock)
{
	SMgrRelation reln;

	LockRelationForExtension(rel, ExclusiveLock);
	reln = RelationGetSmgr(rel);
	if (!smgrexists(reln, VISIBILITYMAP_FORKNUM))
		smgrcreate(reln, VISIBILITYMAP_FORKNUM, false);
	while (smgrnblocks(reln, VISIBILITYMAP_FORKNUM) <= vmblock)
	{
		Buffer		buf = ReadBufferExtended(rel, VISIBILITYMAP_FORKNUM, P_NEW,
											 RBM_NORMAL, NULL);
		GenericXLogState *state;
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(rel);
		page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
		PageInit(page, BLCKSZ, 0);
		((PageHeader) page)->pd_lower = BLCKSZ;
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
		reln = RelationGetSmgr(rel);
	}
	CacheInvalidateSmgr(reln->smgr_rnode);
	UnlockRelationForExtension(rel, ExclusiveLock);
}

/*
 * lsm_vm_block_of -- the map page holding the bit of lblock.
 */
BlockNumber
lsm_vm_block_of(BlockNumber lblock)
{
	return LSM_VM_MAPBLOCK(lblock);
}

/*
 * lsm_vm_pin -- pin the map page holding the bit of lblock.
 *
 * With extend, the map fork is extended as needed; without, InvalidBuffer
 * is returned if the page does not exist (then the bit is clear).
 */
Buffer
lsm_vm_pin(Relation rel, BlockNumber lblock, bool extend)
{
	BlockNumber vmblock = LSM_VM_MAPBLOCK(lblock);
	SMgrRelation reln = RelationGetSmgr(rel);
	BlockNumber cached = reln->smgr_cached_nblocks[VISIBILITYMAP_FORKNUM];

	/*
	 * The fork's size as the smgr last saw it, asked again only when it
	 * does not cover vmblock: smgrexists closes and reopens the file, an
	 * open() per call (once per overlay page made, per page VACUUM looks
	 * at).  The fork only grows (lsm never truncates it; whoever else does,
	 * pg_truncate_visibility_map, holds an AccessExclusiveLock and sends an
	 * smgr invalidation, as for heap), so a cached size that covers vmblock
	 * is right; one that does not may be stale (another backend extended
	 * the fork), hence the second look before answering "no such page".
	 */
	if (cached == InvalidBlockNumber || cached <= vmblock)
	{
		if (smgrexists(reln, VISIBILITYMAP_FORKNUM))
			cached = smgrnblocks(reln, VISIBILITYMAP_FORKNUM);
		else
			cached = 0;
	}
	if (cached <= vmblock)
	{
		if (!extend)
			return InvalidBuffer;
		lsm_vm_extend(rel, vmblock);
	}
	return ReadBufferExtended(rel, VISIBILITYMAP_FORKNUM, vmblock,
							  RBM_ZERO_ON_ERROR, NULL);
}

/*
 * Set or clear the ALL_VISIBLE bit of lblock in the registered copy of its
 * map page (the caller holds the page exclusively).
 */
static void
lsm_vm_change(Page copy, BlockNumber lblock, bool set)
{
	uint8	   *map;
	uint8		mask = VISIBILITYMAP_ALL_VISIBLE << LSM_VM_OFFSET(lblock);

	if (PageIsNew(copy))
		PageInit(copy, BLCKSZ, 0);
	((PageHeader) copy)->pd_lower = BLCKSZ;		/* lsm's layout, see above */
	map = (uint8 *) PageGetContents(copy);
	if (set)
		map[LSM_VM_MAPBYTE(lblock)] |= mask;
	else
		map[LSM_VM_MAPBYTE(lblock)] &= ~(mask |
										 (VISIBILITYMAP_ALL_FROZEN << LSM_VM_OFFSET(lblock)));
}

/*
 * lsm_vm_clear_prepare -- before changing a memtable page (held
 * exclusively) that may be all-visible: pin and lock its map page.
 * Returns InvalidBuffer if the page is not all-visible.
 */
Buffer
lsm_vm_clear_prepare(Relation rel, Buffer buf)
{
	Page		page = BufferGetPage(buf);
	Buffer		vmbuf;

	if (!PageIsAllVisible(page))
		return InvalidBuffer;
	vmbuf = lsm_vm_pin(rel, LsmPageGetOpaque(page)->lpo_aux, false);
	if (BufferIsValid(vmbuf))
		LockBuffer(vmbuf, BUFFER_LOCK_EXCLUSIVE);
	return vmbuf;
}

/*
 * lsm_vm_clear_in_record -- in the generic WAL record being built, clear
 * PD_ALL_VISIBLE on the memtable page copy and the map bit of its logical
 * block (vmbuf from lsm_vm_clear_prepare, may be invalid if the map page
 * is gone).
 */
void
lsm_vm_clear_in_record(GenericXLogState *state, Page pagecopy, Buffer vmbuf)
{
	if (!PageIsAllVisible(pagecopy))
		return;
	PageClearAllVisible(pagecopy);
	if (BufferIsValid(vmbuf))
		lsm_vm_change(GenericXLogRegisterBuffer(state, vmbuf, 0),
					  LsmPageGetOpaque(pagecopy)->lpo_aux, false);
}

/*
 * lsm_vm_release -- release a map page from lsm_vm_clear_prepare.
 */
void
lsm_vm_release(Buffer vmbuf)
{
	if (BufferIsValid(vmbuf))
		UnlockReleaseBuffer(vmbuf);
}

/*
 * lsm_vm_set_in_record -- in the generic WAL record being built, mark the
 * memtable page copy all-visible and set its map bit.  vmbuf is pinned and
 * locked exclusively by the caller (lsm_vm_pin with extend).  The caller
 * has logged the conflict horizon first.
 */
void
lsm_vm_set_in_record(GenericXLogState *state, Page pagecopy, Buffer vmbuf)
{
	PageSetAllVisible(pagecopy);
	lsm_vm_change(GenericXLogRegisterBuffer(state, vmbuf, 0),
				  LsmPageGetOpaque(pagecopy)->lpo_aux, true);
}

/*
 * lsm_vm_set_freed_in_record -- in the generic WAL record that frees the
 * memtable page of lblock, set the block's map bit: a logical block without
 * a page holds no version and no index entry leads to it, so it is as
 * all-visible as a block can be (and counts so in pg_class.relallvisible,
 * which ANALYZE computes from the map).  vmbuf as for lsm_vm_set_in_record.
 */
void
lsm_vm_set_freed_in_record(GenericXLogState *state, BlockNumber lblock,
						   Buffer vmbuf)
{
	lsm_vm_change(GenericXLogRegisterBuffer(state, vmbuf, 0), lblock, true);
}

/*
 * lsm_vm_clear_block_in_record -- clear the bit of lblock (a block that
 * gets a new overlay page) in the record being built; vmbuf pinned and
 * locked exclusively by the caller.
 */
void
lsm_vm_clear_block_in_record(GenericXLogState *state, BlockNumber lblock,
							 Buffer vmbuf)
{
	lsm_vm_change(GenericXLogRegisterBuffer(state, vmbuf, 0), lblock, false);
}

/*
 * lsm_vm_clear_range -- clear the bits of logical blocks first .. last, one
 * record per map page that has any of them set.  A run loaded by COPY
 * (lsm_load.c) fills blocks that had no page while it was written, which a
 * merge may have marked all-visible meanwhile; its publication clears them
 * first, under the maintenance lock that such merges take too.
 */
void
lsm_vm_clear_range(Relation rel, BlockNumber first, BlockNumber last)
{
	BlockNumber lb = first;

	while (lb <= last)
	{
		Buffer		vmbuf = lsm_vm_pin(rel, lb, false);
		BlockNumber vmblock = LSM_VM_MAPBLOCK(lb);
		BlockNumber end;
		bool		any = false;
		uint8	   *map;

		/* the blocks of this range on this map page */
		end = (BlockNumber) Min((uint64) last,
								((uint64) vmblock + 1) * LSM_VM_BLOCKS_PER_PAGE - 1);
		if (!BufferIsValid(vmbuf))
		{
			/* no map page: no bit set (the fork only grows, see above) */
			lb = end + 1;
			continue;
		}
		LockBuffer(vmbuf, BUFFER_LOCK_EXCLUSIVE);
		if (!PageIsNew(BufferGetPage(vmbuf)))
		{
			map = (uint8 *) PageGetContents(BufferGetPage(vmbuf));
			for (BlockNumber b = lb; b <= end && !any; b++)
				any = (map[LSM_VM_MAPBYTE(b)] &
					   (VISIBILITYMAP_ALL_VISIBLE << LSM_VM_OFFSET(b))) != 0;
		}
		if (any)
		{
			GenericXLogState *state = GenericXLogStart(rel);
			Page		copy = GenericXLogRegisterBuffer(state, vmbuf, 0);

			for (BlockNumber b = lb; b <= end; b++)
				lsm_vm_change(copy, b, false);
			GenericXLogFinish(state);
		}
		UnlockReleaseBuffer(vmbuf);
		lb = end + 1;
	}
}

/*
 * lsm_vm_is_set -- is the ALL_VISIBLE bit of lblock set?  (No lock: a
 * single byte is read, as visibilitymap_get_status does.)
 */
bool
lsm_vm_is_set(Relation rel, BlockNumber lblock, Buffer *vmbuf)
{
	BlockNumber vmblock = LSM_VM_MAPBLOCK(lblock);
	uint8	   *map;

	if (BufferIsValid(*vmbuf) && BufferGetBlockNumber(*vmbuf) != vmblock)
	{
		ReleaseBuffer(*vmbuf);
		*vmbuf = InvalidBuffer;
	}
	if (!BufferIsValid(*vmbuf))
	{
		*vmbuf = lsm_vm_pin(rel, lblock, false);
		if (!BufferIsValid(*vmbuf))
			return false;
	}
	map = (uint8 *) PageGetContents(BufferGetPage(*vmbuf));
	return ((map[LSM_VM_MAPBYTE(lblock)] >> LSM_VM_OFFSET(lblock)) &
			VISIBILITYMAP_ALL_VISIBLE) != 0;
}
