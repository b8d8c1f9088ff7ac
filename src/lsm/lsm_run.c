/*-------------------------------------------------------------------------
 *
 * lsm_run.c
 *	  Immutable compressed runs of lsm tables: writing and reading.
 *
 * A run holds entries (versions and tombstones) sorted by TID.  The
 * writer packs entries in the compact format described in lsm_page.h,
 * compresses them with LZ4 into data pages, and at the end writes the
 * index pages (fences: the first TID of every data page; the first index
 * page is the run's root and carries its figures) and the bloom filter
 * pages.  Every page is new and logged as a full image; the run becomes
 * visible only when a manifest switch lists it (lsm_manifest.c), so a
 * crash in the middle leaves orphan pages, which VACUUM reclaims.
 *
 * The reader opens a run by loading its fences into backend memory (runs
 * never change, so this is cached for as long as the run is listed),
 * answers "might the run hold this TID?" with the TID range and the bloom
 * filter, and decodes one data page at a time into a chunk of ordinary
 * heap tuples (xmin committed or frozen, no xmax, t_ctid = own TID; the
 * versions of a run loaded by COPY get their transaction's xmin and
 * command id, see lsm_run_parse_until).
 * Everything read from disk is verified: magic, run id, checksum of the
 * compressed bytes, the decompressed length, and the bounds of every entry;
 * a mismatch is an ERROR naming the relation and block.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <lz4.h>

#include "access/generic_xlog.h"
#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/procarray.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "lsm/lsm_internal.h"

/* bloom filter parameters (lsm.bloom_bits_per_key) */
int			lsm_bloom_bits_per_key = 10;

/*
 * Setting a key's bits is a random access into the filter (12 MB for 10M
 * keys at 10 bits per key): a cache and TLB miss per key, which made the
 * filter half the time of a flush.  So keys wait in one of
 * LSM_BLOOM_PARTS buffers by the part of the filter their block is in, and
 * a full buffer is applied at once, within a part small enough for the
 * cache.  Small filters are set directly.
 */
#define LSM_BLOOM_PARTS			64
#define LSM_BLOOM_PART_CAP		1024
#define LSM_BLOOM_DIRECT_BYTES	(256 * 1024)
#define LSM_BLOOM_PREFETCH		16

/* ----------------------------------------------------------------
 * Writing
 * ----------------------------------------------------------------
 */

struct LsmRunWriter
{
	Relation	rel;
	uint32		run_id;
	uint32		level;

	/* the data page being filled */
	char	   *raw;			/* entries, uncompressed */
	int			raw_len;
	int			raw_cap;
	int			raw_target;		/* compress when the raw bytes reach this */
	bool		compress;		/* lsm.compression: LZ4, else stored raw */
	LZ4_stream_t *lz4;			/* compression state, made once (see
								 * lsm_run_compress) */
	int		   *starts;			/* start of each entry in raw */
	ItemPointerData *tids;		/* TID of each entry in raw */
	int			nentries;		/* entries in raw */
	int			max_entries;
	int			part_start[LSM_RUN_MAX_PARTS];	/* first entry of each part */
	int			nparts;			/* parts begun in raw (at least 1) */

	/* encoding state (reset at every data page) */
	BlockNumber prev_lblock;
	OffsetNumber prev_off;
	uint16		prev_infomask2;
	uint16		prev_infomask;
	uint8		prev_hoff;
	bool		have_prev;

	/* what has been written */
	LsmRunFence *fences;
	int			nfences;
	int			max_fences;
	uint8	   *bloom;
	uint32		bloom_nbits;
	uint32		bloom_nhash;
	/* keys waiting to be set in the filter, by partition (see lsm_bloom_add) */
	uint64	   *bloom_pending;	/* LSM_BLOOM_PARTS x LSM_BLOOM_PART_CAP */
	int			bloom_npending[LSM_BLOOM_PARTS];

	/* figures */
	uint64		nversions;
	uint64		ntombstones;
	uint64		raw_bytes;
	uint64		comp_bytes;
	TransactionId oldest_xid;
	TransactionId newest_frozen;	/* newest xmin frozen by this writer */
	ItemPointerData min_tid;
	ItemPointerData max_tid;
	uint32		npages;

	/*
	 * A run written by COPY (lsm_run_writer_begin_load): the loading
	 * transaction and command (a loaded run; invalid for COPY FREEZE), and
	 * the TIDs added so far as ranges of offsets of one block each, for the
	 * bloom filter built by lsm_run_writer_finish, when the number of
	 * entries is known.
	 */
	TransactionId load_xid;
	CommandId	load_cid;
	struct LsmTidRange *ranges;
	int			nranges;
	int			max_ranges;
};

/* a range of consecutive TIDs of one logical block */
typedef struct LsmTidRange
{
	BlockNumber lblock;
	OffsetNumber first;
	OffsetNumber last;
} LsmTidRange;

StaticAssertDecl(MAXALIGN(sizeof(LsmRunIndexHeader)) == 96,
				 "the root index page's header must keep its size");

/*
 * LZ4-compress len bytes at src into at most cap bytes at dst, as one
 * independent block (LZ4_decompress_safe reads it without a dictionary);
 * returns the compressed length, 0 if it does not fit.
 *
 * LZ4_compress_default sets up its 16 kB state from scratch at every call
 * (a memset of the whole hash table): for the parts of a data page, a few
 * kB each, that was a third of the cost of compressing and 3 % of a COPY's
 * instructions.  The writer keeps one state instead, and
 * LZ4_resetStream_fast makes it forget the previous block without clearing
 * the table (LZ4 tells stale entries by their offsets), so each block is
 * still compressed on its own.
 */
static int
lsm_run_compress(LsmRunWriter *w, const char *src, char *dst, int len, int cap)
{
	if (w->lz4 == NULL)
	{
		w->lz4 = LZ4_initStream(palloc(sizeof(LZ4_stream_t)),
								sizeof(LZ4_stream_t));
		if (w->lz4 == NULL)
			elog(ERROR, "could not initialize the LZ4 compression state");
	}
	else
		LZ4_resetStream_fast(w->lz4);
	return LZ4_compress_fast_continue(w->lz4, src, dst, len, cap, 1);
}

/*
 * The two bloom hashes of a TID: h1 picks the key's block, h2 seeds its
 * bits.  Filters with LSM_RUN_BLOOM_MIX64 (every filter written now) take
 * both halves of one 64-bit mix of the key (the splitmix64 finalizer:
 * every key bit affects every output bit); older ones two seeded
 * hash_bytes_uint32_extended calls.
 */
static inline void
lsm_bloom_hashes_ext(BlockNumber lblock, OffsetNumber off, bool mix64,
					 uint32 *h1, uint32 *h2)
{
	uint64		key = ((uint64) lblock << 16) | off;

	if (mix64)
	{
		uint64		x = key + UINT64CONST(0x9E3779B97F4A7C15);

		x = (x ^ (x >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
		x = (x ^ (x >> 27)) * UINT64CONST(0x94D049BB133111EB);
		x ^= x >> 31;
		*h1 = (uint32) x;
		*h2 = (uint32) (x >> 32) | 1;
		return;
	}
	*h1 = (uint32) hash_bytes_uint32_extended((uint32) key, (uint64) (key >> 32));
	*h2 = (uint32) (hash_bytes_uint32_extended((uint32) key,
											   (uint64) (key >> 32) + 0x9E3779B97F4A7C15) | 1);
}

/* the bloom hashes of a TID for a filter being written */
static inline void
lsm_bloom_hashes(BlockNumber lblock, OffsetNumber off, uint32 *h1, uint32 *h2)
{
	lsm_bloom_hashes_ext(lblock, off, true, h1, h2);
}

/*
 * Byte offset, in the filter's bits laid out page after page
 * (LSM_RUN_BLOOM_BYTES each), of the 64-byte block of a blocked filter of
 * nbits that holds the bits of the key with first hash h1.
 */
static inline Size
lsm_bloom_block_offset(uint32 nbits, uint32 h1)
{
	uint32		npages = nbits / LSM_RUN_BLOOM_BITS;
	uint32		block = h1 % (npages * LSM_RUN_BLOOM_BLOCKS_PER_PAGE);

	return (Size) (block / LSM_RUN_BLOOM_BLOCKS_PER_PAGE) * LSM_RUN_BLOOM_BYTES +
		(Size) (block % LSM_RUN_BLOOM_BLOCKS_PER_PAGE) * LSM_RUN_BLOOM_BLOCK_BYTES;
}

/*
 * The bits of a key within its 512-bit block: the top 9 bits of successive
 * states of a 64-bit linear congruential generator seeded from the key's
 * second hash.  (Double hashing inside so small a block gives correlated
 * positions: 1.17 % false positives instead of the 0.92 % predicted at 10
 * bits per key, in a simulation with random hashes; this gives 0.94 %.)
 */
static inline uint64
lsm_bloom_seed(uint32 h2)
{
	return (uint64) h2 * UINT64CONST(0x9E3779B97F4A7C15);
}

static inline uint32
lsm_bloom_next_bit(uint64 *state)
{
	*state = *state * UINT64CONST(6364136223846793005) +
		UINT64CONST(1442695040888963407);
	return (uint32) (*state >> 55);
}

/* Set the bits of a key (block at offset, second hash h2). */
static inline void
lsm_bloom_set(uint8 *bloom, Size offset, uint32 h2, uint32 nhash)
{
	uint8	   *block = bloom + offset;
	uint64		state = lsm_bloom_seed(h2);

	for (uint32 i = 0; i < nhash; i++)
	{
		uint32		bit = lsm_bloom_next_bit(&state);

		block[bit / 8] |= (uint8) (1 << (bit % 8));
	}
}

/*
 * Apply the keys waiting in partition part of the writer's filter.  Their
 * blocks are mostly not in the cache any more; asking for the blocks a few
 * keys ahead lets those misses overlap.
 */
static void
lsm_bloom_flush_part(LsmRunWriter *w, int part)
{
	uint64	   *keys = w->bloom_pending + (Size) part * LSM_BLOOM_PART_CAP;
	int			n = w->bloom_npending[part];

	for (int i = 0; i < n; i++)
	{
#if defined(__GNUC__)
		if (i + LSM_BLOOM_PREFETCH < n)
			__builtin_prefetch(w->bloom + (keys[i + LSM_BLOOM_PREFETCH] >> 32), 1);
#endif
		lsm_bloom_set(w->bloom, (Size) (keys[i] >> 32), (uint32) keys[i],
					  w->bloom_nhash);
	}
	w->bloom_npending[part] = 0;
}

/* Enter a key in the writer's filter (now, or when its partition fills). */
static void
lsm_bloom_add(LsmRunWriter *w, uint32 h1, uint32 h2)
{
	Size		offset = lsm_bloom_block_offset(w->bloom_nbits, h1);
	Size		nbytes = (Size) w->bloom_nbits / 8;
	int			part;

	if (w->bloom_pending == NULL)
	{
		lsm_bloom_set(w->bloom, offset, h2, w->bloom_nhash);
		return;
	}
	part = (int) ((uint64) offset * LSM_BLOOM_PARTS / nbytes);
	w->bloom_pending[(Size) part * LSM_BLOOM_PART_CAP + w->bloom_npending[part]] =
		((uint64) offset << 32) | h2;
	if (++w->bloom_npending[part] == LSM_BLOOM_PART_CAP)
		lsm_bloom_flush_part(w, part);
}

/*
 * lsm_run_bloom_fpr -- the false-positive rate a run's filter should have
 * with nentries keys: (1 - e^(-kn/m))^k for a classic filter; for a blocked
 * one the same per block, averaged over the Poisson-distributed number of
 * keys a block gets.
 */
double
lsm_run_bloom_fpr(const LsmRun *run, uint64 nentries)
{
	double		k = run->bloom_nhash;
	double		lambda;
	double		p;
	double		sum = 0;
	int			jmax;

	if (run->bloom_nbits == 0 || nentries == 0)
		return 1.0;
	if (!run->bloom_blocked)
		return pow(1.0 - exp(-k * (double) nentries / (double) run->bloom_nbits), k);
	/* keys per block */
	lambda = (double) nentries /
		((double) (run->bloom_nbits / LSM_RUN_BLOOM_BITS) * LSM_RUN_BLOOM_BLOCKS_PER_PAGE);
	jmax = (int) (lambda + 12 * sqrt(lambda) + 30);
	p = exp(-lambda);			/* P(0 keys) */
	for (int j = 0; j <= jmax; j++)
	{
		double		bits = LSM_RUN_BLOOM_BLOCK_BYTES * 8;

		sum += p * pow(1.0 - pow(1.0 - 1.0 / bits, k * j), k);
		p *= lambda / (j + 1);
	}
	return sum;
}

static void lsm_run_writer_init_bloom(LsmRunWriter *w,
									  uint64 expected_entries);

/*
 * lsm_run_writer_begin -- start a run of the given level (0: by its size,
 * decided when it is finished) that will hold about expected_entries
 * entries (to size the bloom filter), or, with 0, whose filter is sized
 * and built when it is finished, from the TIDs collected meanwhile (a
 * flush, which cannot tell beforehand how many of the memtable's entries
 * are fit for a run, and a load).
 */
LsmRunWriter *
lsm_run_writer_begin(Relation rel, uint32 run_id, uint32 level,
					 uint64 expected_entries)
{
	LsmRunWriter *w = palloc0(sizeof(LsmRunWriter));

	w->rel = rel;
	w->run_id = run_id;
	w->level = level;
	w->compress = lsm_settings(rel).compression != LSM_COMPRESSION_NONE;
	/* uncompressed, the raw bytes and the part table fill the page */
	w->raw_target = w->compress ? LSM_RUN_DATA_SPACE * 3 :
		LSM_RUN_DATA_SPACE - LSM_RUN_MAX_PARTS * (int) sizeof(LsmRunDataPart);
	w->raw_cap = LSM_RUN_DATA_SPACE * 16 + BLCKSZ;
	w->raw = palloc(w->raw_cap);
	w->max_entries = 4096;
	w->starts = palloc(sizeof(int) * w->max_entries);
	w->nparts = 1;				/* part_start[0] = 0 */
	w->tids = palloc(sizeof(ItemPointerData) * w->max_entries);
	w->max_fences = 64;
	w->fences = palloc(sizeof(LsmRunFence) * w->max_fences);
	w->oldest_xid = InvalidTransactionId;
	ItemPointerSetInvalid(&w->min_tid);
	ItemPointerSetInvalid(&w->max_tid);
	w->load_xid = InvalidTransactionId;
	if (expected_entries > 0)
		lsm_run_writer_init_bloom(w, expected_entries);
	else
	{
		/* the filter waits until the number of entries is known */
		w->max_ranges = 1024;
		w->ranges = palloc(sizeof(LsmTidRange) * w->max_ranges);
	}
	return w;
}

/*
 * lsm_run_writer_begin_load -- start a run written by COPY (lsm_load.c):
 * a loaded run (see LSM_RUN_LOADED), every version of which must have been
 * inserted by transaction xid with command cid and is added with frozen =
 * true; or, with xid invalid, an ordinary run of versions frozen already
 * (COPY FREEZE).  Its level follows from its size, and its bloom filter is
 * sized and built when it is finished.
 */
LsmRunWriter *
lsm_run_writer_begin_load(Relation rel, uint32 run_id, TransactionId xid,
						  CommandId cid)
{
	LsmRunWriter *w = lsm_run_writer_begin(rel, run_id, 0, 0);

	w->load_xid = xid;
	w->load_cid = cid;
	return w;
}

/*
 * The bloom filter of a run of about expected_entries entries: bits per
 * key, whole pages, at least one; none if lsm.bloom_bits_per_key is 0.
 */
static void
lsm_run_writer_init_bloom(LsmRunWriter *w, uint64 expected_entries)
{
	uint64		nbits;
	int			bits_per_key = lsm_settings(w->rel).bloom_bits_per_key;

	if (bits_per_key > 0)
	{
		nbits = Max(expected_entries, 1) * (uint64) bits_per_key;
		nbits = ((nbits + LSM_RUN_BLOOM_BITS - 1) / LSM_RUN_BLOOM_BITS) *
			LSM_RUN_BLOOM_BITS;
		nbits = Min(nbits, (uint64) LSM_RUN_BLOOM_BITS * 65536);
		w->bloom_nbits = (uint32) nbits;
		/* k = ln 2 * bits per key, at least 1 */
		w->bloom_nhash = Max(1, (uint32) (bits_per_key * 0.69 + 0.5));
		w->bloom = MemoryContextAllocHuge(CurrentMemoryContext, nbits / 8);
		memset(w->bloom, 0, nbits / 8);
		if (nbits / 8 > LSM_BLOOM_DIRECT_BYTES)
			w->bloom_pending = palloc(sizeof(uint64) * LSM_BLOOM_PARTS *
									  LSM_BLOOM_PART_CAP);
	}
}

static void lsm_run_encode(LsmRunWriter *w, ItemPointer tid,
						   HeapTupleHeader tup, uint32 len, bool frozen);

/* Put a varint at p; returns bytes written. */
static int
lsm_put_varint(char *p, uint32 v)
{
	int			n = 0;

	while (v >= 0x80)
	{
		p[n++] = (char) ((v & 0x7F) | 0x80);
		v >>= 7;
	}
	p[n++] = (char) v;
	return n;
}

/* Write one page (a full image) with contents built by the caller. */
static BlockNumber
lsm_run_write_page(LsmRunWriter *w, uint8 type, const char *contents,
				   Size len)
{
	Buffer		buf = lsm_get_new_page(w->rel);
	GenericXLogState *state;
	Page		page;

	state = GenericXLogStart(w->rel);
	page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	lsm_init_page(page, type, w->run_id);
	Assert(len <= LSM_PAGE_CONTENT_SIZE);
	memcpy(PageGetContents(page), contents, len);
	((PageHeader) page)->pd_lower = MAXALIGN(SizeOfPageHeaderData) + len;
	GenericXLogFinish(state);
	w->npages++;
	{
		BlockNumber blkno = BufferGetBlockNumber(buf);

		UnlockReleaseBuffer(buf);
		return blkno;
	}
}

/*
 * Compress the first n entries of the raw buffer into a data page, as one
 * LZ4 block per part they span (a single one: no table); false if they do
 * not fit.  Returns the page's payload length in *payload.
 */
static bool
lsm_run_try_emit(LsmRunWriter *w, int n, char *pagebuf, int *payload)
{
	LsmRunDataHeader *hdr = (LsmRunDataHeader *) pagebuf;
	char	   *start = pagebuf + MAXALIGN(sizeof(LsmRunDataHeader));
	LsmRunDataPart *parts = (LsmRunDataPart *) start;
	int			len = n < w->nentries ? w->starts[n] : w->raw_len;
	int			np = 0;
	int			space;
	char	   *dst;
	int			clen = 0;

	/* the parts that the first n entries span */
	while (np < w->nparts && w->part_start[np] < n)
		np++;
	if (np < 2)
		np = 0;
	dst = start + np * sizeof(LsmRunDataPart);
	space = LSM_RUN_DATA_SPACE - np * (int) sizeof(LsmRunDataPart);

	if (np == 0)
	{
		if (w->compress)
			clen = lsm_run_compress(w, w->raw, dst, len, space);
	}
	else
	{
		/* the whole table first: it stays if the page is stored raw */
		memset(parts, 0, np * sizeof(LsmRunDataPart));
		for (int i = 0; i < np; i++)
		{
			parts[i].raw_off = w->starts[w->part_start[i]];
			parts[i].first_entry = w->part_start[i];
			parts[i].first_lblock = ItemPointerGetBlockNumber(&w->tids[w->part_start[i]]);
			parts[i].first_off = ItemPointerGetOffsetNumber(&w->tids[w->part_start[i]]);
		}
		for (int i = 0; w->compress && i < np; i++)
		{
			int			rs = parts[i].raw_off;
			int			re = i + 1 < np ? (int) parts[i + 1].raw_off : len;
			int			c = clen < space ?
				lsm_run_compress(w, w->raw + rs, dst + clen, re - rs,
								 space - clen) : 0;

			if (c <= 0)
			{
				clen = 0;		/* does not fit compressed */
				break;
			}
			parts[i].comp_off = clen;
			clen += c;
		}
	}
	if (clen <= 0 || clen >= len)
	{
		/* incompressible, or lsm.compression none: stored as is, if it fits */
		if (len > space)
			return false;
		memcpy(dst, w->raw, len);
		clen = 0;
		for (int i = 0; i < np; i++)
			parts[i].comp_off = 0;
	}
	*payload = np * sizeof(LsmRunDataPart) + (clen > 0 ? clen : len);
	/* the padding before the payload too: the page is logged as it is */
	memset(hdr, 0, MAXALIGN(sizeof(LsmRunDataHeader)));
	hdr->magic = LSM_RUN_MAGIC;
	hdr->run_id = w->run_id;
	hdr->raw_len = len;
	hdr->comp_len = clen;		/* 0: stored uncompressed */
	hdr->nentries = n;
	hdr->first_lblock = ItemPointerGetBlockNumber(&w->tids[0]);
	hdr->first_off = ItemPointerGetOffsetNumber(&w->tids[0]);
	hdr->last_lblock = ItemPointerGetBlockNumber(&w->tids[n - 1]);
	hdr->last_off = ItemPointerGetOffsetNumber(&w->tids[n - 1]);
	hdr->nparts = np;
	INIT_CRC32C(hdr->crc);
	COMP_CRC32C(hdr->crc, start, *payload);
	FIN_CRC32C(hdr->crc);
	return true;
}

/*
 * Turn entries of the raw buffer into one data page: as many as fit, the
 * rest stays for the next page.
 */
static void
lsm_run_emit(LsmRunWriter *w)
{
	PGAlignedBlock pagebuf;
	int			n = w->nentries;
	int			lo,
				hi;
	LsmRunDataHeader *hdr = (LsmRunDataHeader *) pagebuf.data;
	BlockNumber blkno;
	int			used;
	int			payload;

	if (w->nentries == 0)
		return;
	if (!lsm_run_try_emit(w, n, pagebuf.data, &payload))
	{
		/* binary search for the longest prefix that fits */
		lo = 1;
		hi = n - 1;
		while (lo < hi)
		{
			int			mid = (lo + hi + 1) / 2;

			if (lsm_run_try_emit(w, mid, pagebuf.data, &payload))
				lo = mid;
			else
				hi = mid - 1;
		}
		n = lo;
		if (!lsm_run_try_emit(w, n, pagebuf.data, &payload))
			elog(ERROR, "lsm run entry of %d bytes does not fit a data page",
				 w->nentries > 1 ? w->starts[1] : w->raw_len);
	}

	blkno = lsm_run_write_page(w, LSM_PAGE_RUN_DATA, pagebuf.data,
							   MAXALIGN(sizeof(LsmRunDataHeader)) + payload);
	used = hdr->raw_len;
	w->raw_bytes += used;
	w->comp_bytes += payload;

	/* adapt the raw target to the compression ratio seen (if compressing) */
	if (w->compress && hdr->comp_len > 0 && n == w->nentries)
	{
		double		ratio = (double) used / hdr->comp_len;
		int			target = (int) (LSM_RUN_DATA_SPACE * ratio * 0.97);

		w->raw_target = Max(LSM_RUN_DATA_SPACE, Min(target, LSM_RUN_DATA_SPACE * 16));
	}
	else if (w->compress && n < w->nentries)
		w->raw_target = Max(LSM_RUN_DATA_SPACE, w->raw_target * 9 / 10);

	if (w->nfences >= w->max_fences)
	{
		w->max_fences *= 2;
		w->fences = repalloc_huge(w->fences, sizeof(LsmRunFence) * w->max_fences);
	}
	w->fences[w->nfences].blkno = blkno;
	w->fences[w->nfences].lblock = ItemPointerGetBlockNumber(&w->tids[0]);
	w->fences[w->nfences].off = ItemPointerGetOffsetNumber(&w->tids[0]);
	w->fences[w->nfences].unused = 0;
	w->nfences++;

	/* what did not fit is decoded and encoded afresh for the next page */
	if (n < w->nentries)
	{
		LsmRunChunk rest;
		int			total = w->nentries;

		lsm_run_chunk_init(&rest, CurrentMemoryContext);
		if (lsm_run_parse(w->raw, w->raw_len, total, &rest) != total)
			elog(ERROR, "lsm run writer: cannot re-read its own entries");
		w->raw_len = 0;
		w->nentries = 0;
		w->nparts = 1;
		w->have_prev = false;
		for (int i = n; i < total; i++)
		{
			LsmRunEntry *e = &rest.entries[i];

			lsm_run_encode(w, &e->tid, e->tup, e->len,
						   e->tup != NULL ? HeapTupleHeaderXminFrozen(e->tup) :
						   LsmRunEntryIsDead(e));
		}
		lsm_run_chunk_free(&rest);
		return;
	}
	w->raw_len = 0;
	w->nentries = 0;
	w->nparts = 1;
	w->have_prev = false;
}

/*
 * Encode one entry into the raw buffer of the data page being filled,
 * starting a new data page first if this one is full enough.
 */
static void
lsm_run_encode(LsmRunWriter *w, ItemPointer tid, HeapTupleHeader tup,
			   uint32 len, bool frozen)
{
	BlockNumber lblock = ItemPointerGetBlockNumber(tid);
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	char		entry[BLCKSZ + 32];
	int			n = 0;
	uint8		flags = 0;
	uint16		im2 = 0,
				im = 0;
	uint8		hoff = 0;

	/*
	 * A new part (see LSM_RUN_MAX_PARTS) once this one holds its share of
	 * the page's raw bytes: its first entry leans on nothing before it.
	 */
	if (w->nentries > 0 && w->nparts < LSM_RUN_MAX_PARTS &&
		w->raw_len - w->starts[w->part_start[w->nparts - 1]] >=
		w->raw_target / LSM_RUN_MAX_PARTS)
	{
		w->part_start[w->nparts++] = w->nentries;
		w->have_prev = false;
	}

	if (tup == NULL)
	{
		/* a tombstone; "frozen" makes it a dead entry (see lsm_page.h) */
		flags |= LSM_ENTRY_TOMBSTONE;
		if (frozen)
			flags |= LSM_ENTRY_FROZEN;
	}
	else
	{
		im2 = tup->t_infomask2;
		im = tup->t_infomask & LSM_RUN_INFOMASK_KEEP;
		hoff = tup->t_hoff;
		if (len < hoff || len - hoff > BLCKSZ)
			elog(ERROR, "lsm run writer: bad tuple length %u", len);
		if (frozen)
			flags |= LSM_ENTRY_FROZEN;
		if (w->have_prev && w->prev_hoff != 0xFF && im2 == w->prev_infomask2 &&
			im == w->prev_infomask && hoff == w->prev_hoff)
			flags |= LSM_ENTRY_SAME_SHAPE;
	}
	if (w->have_prev && lblock == w->prev_lblock && off > w->prev_off &&
		off - w->prev_off < 256)
		flags |= LSM_ENTRY_SAME_BLOCK;

	entry[n++] = (char) flags;
	if (flags & LSM_ENTRY_SAME_BLOCK)
		entry[n++] = (char) (off - w->prev_off);
	else
	{
		memcpy(entry + n, &lblock, sizeof(uint32));
		n += sizeof(uint32);
		memcpy(entry + n, &off, sizeof(uint16));
		n += sizeof(uint16);
	}
	if (tup != NULL)
	{
		uint32		bitmaplen = (tup->t_infomask & HEAP_HASNULL) ?
		BITMAPLEN(HeapTupleHeaderGetNatts(tup)) : 0;
		uint32		dlen = len - hoff;

		if (!frozen)
		{
			TransactionId xmin = HeapTupleHeaderGetRawXmin(tup);

			memcpy(entry + n, &xmin, sizeof(TransactionId));
			n += sizeof(TransactionId);
		}
		if (!(flags & LSM_ENTRY_SAME_SHAPE))
		{
			memcpy(entry + n, &im2, sizeof(uint16));
			n += sizeof(uint16);
			memcpy(entry + n, &im, sizeof(uint16));
			n += sizeof(uint16);
			entry[n++] = (char) hoff;
		}
		/* null bitmap (if any) and data; the padding up to t_hoff is not kept */
		n += lsm_put_varint(entry + n, bitmaplen + dlen);
		memcpy(entry + n, (char *) tup->t_bits, bitmaplen);
		n += bitmaplen;
		memcpy(entry + n, (char *) tup + hoff, dlen);
		n += dlen;
	}

	if (n > LSM_RUN_DATA_SPACE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row version of %u bytes is too large for an lsm run", len)));

	/* a new data page when this one is full enough */
	if (w->nentries > 0 &&
		(w->raw_len + n > w->raw_target || w->nentries >= w->max_entries))
	{
		lsm_run_emit(w);
		/* the entry may have leaned on its predecessor: encode it afresh */
		lsm_run_encode(w, tid, tup, len, frozen);
		return;
	}

	memcpy(w->raw + w->raw_len, entry, n);
	w->starts[w->nentries] = w->raw_len;
	w->tids[w->nentries] = *tid;
	w->nentries++;
	w->raw_len += n;

	w->prev_lblock = lblock;
	w->prev_off = off;
	if (tup != NULL)
	{
		w->prev_infomask2 = im2;
		w->prev_infomask = im;
		w->prev_hoff = hoff;
	}
	else if (!w->have_prev)
		w->prev_hoff = 0xFF;	/* no shape yet */
	w->have_prev = true;
}

/*
 * lsm_run_takes -- can a run hold this version?  Its entry must fit in one
 * data page: the tuple without its header, plus at most
 * LSM_ENTRY_MAX_OVERHEAD bytes of entry fields.  Rows close to the largest
 * a memtable page takes (8152 bytes, plain storage) do not fit; a flush
 * leaves their page in the memtable (lsm_page_is_flushable).
 */
bool
lsm_run_takes(HeapTupleHeader tup, uint32 len)
{
	uint32		bitmaplen = (tup->t_infomask & HEAP_HASNULL) ?
		BITMAPLEN(HeapTupleHeaderGetNatts(tup)) : 0;

	return len >= tup->t_hoff &&
		bitmaplen + (len - tup->t_hoff) + LSM_ENTRY_MAX_OVERHEAD <=
		(uint32) LSM_RUN_DATA_SPACE;
}

/*
 * lsm_run_writer_add -- append an entry; entries come in ascending TID
 * order.  tup == NULL makes a tombstone, or with "frozen" a dead entry
 * (lsm_run_writer_add_dead).  A version's xmin must be committed; it is
 * stored frozen if "frozen".
 */
void
lsm_run_writer_add(LsmRunWriter *w, ItemPointer tid, HeapTupleHeader tup,
				   uint32 len, bool frozen)
{
	if (ItemPointerIsValid(&w->max_tid) &&
		ItemPointerCompare(tid, &w->max_tid) <= 0)
		elog(ERROR, "lsm run writer: entries out of order");

	if (tup == NULL)
		w->ntombstones++;
	else if (TransactionIdIsValid(w->load_xid))
	{
		/* a loaded run: the run's xid is every version's xmin */
		Assert(frozen && !TransactionIdIsValid(w->oldest_xid));
		w->nversions++;
	}
	else
	{
		w->nversions++;
		if (frozen && !HeapTupleHeaderXminFrozen(tup))
		{
			TransactionId xmin = HeapTupleHeaderGetRawXmin(tup);

			if (!TransactionIdIsValid(w->newest_frozen) ||
				TransactionIdFollows(xmin, w->newest_frozen))
				w->newest_frozen = xmin;
		}
		if (!frozen)
		{
			TransactionId xmin = HeapTupleHeaderGetRawXmin(tup);

			if (!TransactionIdIsValid(w->oldest_xid) ||
				TransactionIdPrecedes(xmin, w->oldest_xid))
				w->oldest_xid = xmin;
		}
	}
	if (!ItemPointerIsValid(&w->min_tid))
		w->min_tid = *tid;
	w->max_tid = *tid;

	if (w->bloom)
	{
		uint32		h1,
					h2;

		lsm_bloom_hashes(ItemPointerGetBlockNumber(tid),
						 ItemPointerGetOffsetNumber(tid), &h1, &h2);
		lsm_bloom_add(w, h1, h2);
	}
	else if (w->ranges)
	{
		/* for the filter built at the end (lsm_run_writer_finish) */
		LsmTidRange *r = w->nranges > 0 ? &w->ranges[w->nranges - 1] : NULL;

		if (r != NULL && r->lblock == ItemPointerGetBlockNumber(tid) &&
			r->last + 1 == ItemPointerGetOffsetNumber(tid))
			r->last++;
		else
		{
			if (w->nranges >= w->max_ranges)
			{
				w->max_ranges *= 2;
				w->ranges = repalloc_huge(w->ranges,
										  sizeof(LsmTidRange) * w->max_ranges);
			}
			r = &w->ranges[w->nranges++];
			r->lblock = ItemPointerGetBlockNumber(tid);
			r->first = r->last = ItemPointerGetOffsetNumber(tid);
		}
	}

	lsm_run_encode(w, tid, tup, len, frozen);
}

/*
 * lsm_run_writer_add_dead -- append a dead entry: the version at tid is
 * removed, but index entries may still lead to it, so VACUUM must find the
 * TID (lsm_vacuum.c) before a merge may forget it.  Counted with the
 * tombstones in the run's figures.
 */
void
lsm_run_writer_add_dead(LsmRunWriter *w, ItemPointer tid)
{
	lsm_run_writer_add(w, tid, NULL, 0, true);
}

/*
 * The newest xmin this run stores frozen (its recovery-conflict horizon:
 * a standby snapshot that still sees that xid as running must not read the
 * run), or InvalidTransactionId.
 */
TransactionId
lsm_run_writer_newest_frozen(LsmRunWriter *w)
{
	return w->newest_frozen;
}

/* Number of entries added so far. */
uint64
lsm_run_writer_count(LsmRunWriter *w)
{
	return w->nversions + w->ntombstones;
}

/*
 * lsm_run_writer_finish -- write the last data page, the bloom filter and
 * the index pages; describe the run in *desc (for the manifest).  Returns
 * false (and writes nothing more) if the run is empty.
 */
bool
lsm_run_writer_finish(LsmRunWriter *w, LsmManifestRun *desc)
{
	PGAlignedBlock pagebuf;
	BlockNumber bloom_first = InvalidBlockNumber;
	uint32		nbloom = 0;
	int			nindex;
	BlockNumber next = InvalidBlockNumber;
	BlockNumber root = InvalidBlockNumber;

	/* a data page may take only part of what is left: until all is out */
	while (w->nentries > 0)
		lsm_run_emit(w);
	if (w->nfences == 0)
		return false;

	/* a deferred filter, now that the number of entries is known */
	if (w->ranges)
	{
		lsm_run_writer_init_bloom(w, w->nversions + w->ntombstones);
		for (int i = 0; w->bloom && i < w->nranges; i++)
		{
			for (uint32 off = w->ranges[i].first; off <= w->ranges[i].last; off++)
			{
				uint32		h1,
							h2;

				lsm_bloom_hashes(w->ranges[i].lblock, (OffsetNumber) off,
								 &h1, &h2);
				lsm_bloom_add(w, h1, h2);
			}
		}
	}

	/* bloom pages, chained by consecutive "seq" numbers through the root */
	if (w->bloom)
	{
		uint32		npages = w->bloom_nbits / LSM_RUN_BLOOM_BITS;
		BlockNumber *blocks = palloc(sizeof(BlockNumber) * npages);

		if (w->bloom_pending)
			for (int part = 0; part < LSM_BLOOM_PARTS; part++)
				lsm_bloom_flush_part(w, part);

		for (uint32 i = 0; i < npages; i++)
		{
			LsmRunBloomHeader *bh = (LsmRunBloomHeader *) pagebuf.data;

			memset(pagebuf.data, 0, BLCKSZ);
			bh->magic = LSM_RUN_MAGIC;
			bh->run_id = w->run_id;
			bh->seq = i;
			memcpy(pagebuf.data + MAXALIGN(sizeof(LsmRunBloomHeader)),
				   w->bloom + (Size) i * LSM_RUN_BLOOM_BYTES, LSM_RUN_BLOOM_BYTES);
			blocks[i] = lsm_run_write_page(w, LSM_PAGE_RUN_BLOOM, pagebuf.data,
										   MAXALIGN(sizeof(LsmRunBloomHeader)) +
										   LSM_RUN_BLOOM_BYTES);
		}
		nbloom = npages;
		bloom_first = blocks[0];
		/* the fences of bloom pages go to the index too, after data */
		for (uint32 i = 0; i < npages; i++)
		{
			if (w->nfences >= w->max_fences)
			{
				w->max_fences *= 2;
				w->fences = repalloc_huge(w->fences,
										  sizeof(LsmRunFence) * w->max_fences);
			}
			w->fences[w->nfences].blkno = blocks[i];
			w->fences[w->nfences].lblock = InvalidBlockNumber;
			w->fences[w->nfences].off = 0;
			w->fences[w->nfences].unused = 1;	/* marks a bloom page */
			w->nfences++;
		}
	}

	/* level 0 asked for: by size (lsm_run_level_for) */
	if (w->level == 0)
		w->level = lsm_run_level_for(w->rel, w->raw_bytes);

	/* index pages, written last to first so that each knows its next */
	nindex = (w->nfences + LSM_RUN_FENCES_PER_PAGE - 1) / LSM_RUN_FENCES_PER_PAGE;
	for (int p = nindex - 1; p >= 0; p--)
	{
		LsmRunIndexHeader *ih = (LsmRunIndexHeader *) pagebuf.data;
		int			first = p * LSM_RUN_FENCES_PER_PAGE;
		int			cnt = Min(LSM_RUN_FENCES_PER_PAGE, w->nfences - first);

		memset(pagebuf.data, 0, BLCKSZ);
		ih->magic = LSM_RUN_MAGIC;
		ih->run_id = w->run_id;
		ih->next = next;
		ih->nfences = cnt;
		if (p == 0)
		{
			ih->level = w->level;
			if (TransactionIdIsValid(w->load_xid))
			{
				ih->level |= LSM_RUN_LOADED;
				ih->load_cid = w->load_cid;
				w->oldest_xid = w->load_xid;
			}
			ih->ndata = w->nfences - nbloom;
			ih->nindex = nindex;
			ih->nbloom = nbloom;
			ih->bloom_first = bloom_first;
			ih->bloom_nbits = w->bloom ? w->bloom_nbits : 0;
			ih->bloom_nhash = w->bloom_nhash | LSM_RUN_BLOOM_BLOCKED |
				LSM_RUN_BLOOM_MIX64;
			ih->oldest_xid = w->oldest_xid;
			ih->nversions = w->nversions;
			ih->ntombstones = w->ntombstones;
			ih->raw_bytes = w->raw_bytes;
			ih->comp_bytes = w->comp_bytes;
			ih->min_lblock = ItemPointerGetBlockNumber(&w->min_tid);
			ih->min_off = ItemPointerGetOffsetNumber(&w->min_tid);
			ih->max_lblock = ItemPointerGetBlockNumber(&w->max_tid);
			ih->max_off = ItemPointerGetOffsetNumber(&w->max_tid);
		}
		memcpy(pagebuf.data + MAXALIGN(sizeof(LsmRunIndexHeader)),
			   &w->fences[first], sizeof(LsmRunFence) * cnt);
		next = lsm_run_write_page(w, LSM_PAGE_RUN_INDEX, pagebuf.data,
								  MAXALIGN(sizeof(LsmRunIndexHeader)) +
								  sizeof(LsmRunFence) * cnt);
		if (p == 0)
			root = next;
	}

	memset(desc, 0, sizeof(LsmManifestRun));
	desc->run_id = w->run_id;
	desc->level = w->level;
	desc->root = root;
	desc->npages = w->npages;
	desc->min_lblock = ItemPointerGetBlockNumber(&w->min_tid);
	desc->min_off = ItemPointerGetOffsetNumber(&w->min_tid);
	desc->max_lblock = ItemPointerGetBlockNumber(&w->max_tid);
	desc->max_off = ItemPointerGetOffsetNumber(&w->max_tid);
	desc->oldest_xid = w->oldest_xid;
	desc->nentries = w->nversions + w->ntombstones;
	desc->raw_bytes = w->raw_bytes;
	desc->comp_bytes = w->comp_bytes;
	return true;
}

/* ----------------------------------------------------------------
 * Reading
 * ----------------------------------------------------------------
 */

/* A TID as one number: order, and positions within a data page. */
static inline uint64
lsm_tid_ordinal(BlockNumber lblock, OffsetNumber off)
{
	return (uint64) lblock * LSM_MAX_TUPLES_PER_PAGE + off;
}

static int	lsm_run_parse_until(const char *raw, uint32 raw_len,
								uint32 nentries, LsmRunChunk *chunk,
								ItemPointer stop, const LsmRun *run);

/* Read and verify a run page of the given type; returned pinned and locked. */
static Buffer
lsm_run_read_page(Relation rel, BlockNumber blkno, uint8 type, uint32 run_id)
{
	Buffer		buf;
	Page		page;

	if (!lsm_block_in_relation(rel, blkno))
		LSM_CORRUPT(rel, blkno, ("Run %u refers to block %u beyond the end of the relation.",
								 run_id, blkno));
	buf = ReadBuffer(rel, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	lsm_verify_page(rel, buf, type);
	page = BufferGetPage(buf);
	if (LsmPageGetOpaque(page)->lpo_aux != run_id ||
		*(uint32 *) PageGetContents(page) != LSM_RUN_MAGIC)
		LSM_CORRUPT(rel, blkno, ("Page of run %u expected, found run %u.",
								 run_id, LsmPageGetOpaque(page)->lpo_aux));
	return buf;
}

/*
 * lsm_run_open -- load a run's root and fences (verified).  Allocated in
 * mcxt.
 */
LsmRun *
lsm_run_open(Relation rel, const LsmManifestRun *desc, MemoryContext mcxt)
{
	LsmRun	   *run = MemoryContextAllocZero(mcxt, sizeof(LsmRun));
	BlockNumber blkno = desc->root;
	int			total = 0;
	int			cap = 16;
	int			npages = 0;

	run->desc = *desc;
	run->fences = MemoryContextAlloc(mcxt, sizeof(LsmRunFence) * cap);
	while (blkno != InvalidBlockNumber)
	{
		Buffer		buf = lsm_run_read_page(rel, blkno, LSM_PAGE_RUN_INDEX,
											desc->run_id);
		Page		page = BufferGetPage(buf);
		LsmRunIndexHeader *ih = (LsmRunIndexHeader *) PageGetContents(page);

		if (ih->nfences > (uint32) LSM_RUN_FENCES_PER_PAGE ||
			((PageHeader) page)->pd_lower <
			MAXALIGN(SizeOfPageHeaderData) + MAXALIGN(sizeof(LsmRunIndexHeader)) +
			ih->nfences * sizeof(LsmRunFence) ||
			++npages > 1 << 20)
			LSM_CORRUPT(rel, blkno, ("Run index page with %u fences.", ih->nfences));
		if (blkno == desc->root)
		{
			run->ndata = ih->ndata;
			run->nbloom = ih->nbloom;
			run->bloom_nbits = ih->bloom_nbits;
			run->bloom_nhash = ih->bloom_nhash & LSM_RUN_BLOOM_NHASH_MASK;
			run->bloom_blocked = (ih->bloom_nhash & LSM_RUN_BLOOM_BLOCKED) != 0;
			run->bloom_mix64 = (ih->bloom_nhash & LSM_RUN_BLOOM_MIX64) != 0;
			run->nversions = ih->nversions;
			run->ntombstones = ih->ntombstones;
			run->loaded = (ih->level & LSM_RUN_LOADED) != 0;
			run->load_cid = ih->load_cid;
			if (run->loaded && !TransactionIdIsNormal(ih->oldest_xid))
				LSM_CORRUPT(rel, blkno, ("Loaded run %u has no transaction id.",
										 desc->run_id));
			if (ih->bloom_nbits != (uint64) ih->nbloom * LSM_RUN_BLOOM_BITS ||
				run->bloom_nhash > 64 ||
				(ih->bloom_nhash & ~(LSM_RUN_BLOOM_NHASH_MASK | LSM_RUN_BLOOM_BLOCKED |
									 LSM_RUN_BLOOM_MIX64)) != 0)
				LSM_CORRUPT(rel, blkno, ("Run %u has a bloom filter of %u bits on %u pages.",
										 desc->run_id, ih->bloom_nbits, ih->nbloom));
		}
		while (total + (int) ih->nfences > cap)
		{
			cap *= 2;
			run->fences = repalloc_huge(run->fences, sizeof(LsmRunFence) * cap);
		}
		memcpy(&run->fences[total], LsmRunIndexGetFences(page),
			   sizeof(LsmRunFence) * ih->nfences);
		total += ih->nfences;
		blkno = ih->next;
		UnlockReleaseBuffer(buf);
	}
	if (total != (int) (run->ndata + run->nbloom) || run->ndata == 0)
		LSM_CORRUPT(rel, desc->root, ("Run %u lists %d pages, expected %u data and %u bloom pages.",
									  desc->run_id, total, run->ndata, run->nbloom));
	run->nfences = run->ndata;
	run->bloom_pages = MemoryContextAlloc(mcxt, sizeof(BlockNumber) * Max(run->nbloom, 1));
	for (uint32 i = 0; i < run->nbloom; i++)
	{
		if (run->fences[run->ndata + i].unused != 1)
			LSM_CORRUPT(rel, desc->root, ("Run %u: bloom page %u not marked.",
										  desc->run_id, i));
		run->bloom_pages[i] = run->fences[run->ndata + i].blkno;
	}
	for (int i = 1; i < run->nfences; i++)
	{
		ItemPointerData a,
					b;

		ItemPointerSet(&a, run->fences[i - 1].lblock, run->fences[i - 1].off);
		ItemPointerSet(&b, run->fences[i].lblock, run->fences[i].off);
		if (ItemPointerCompare(&a, &b) >= 0)
			LSM_CORRUPT(rel, desc->root, ("Run %u: fences out of order at %d.",
										  desc->run_id, i));
	}
	return run;
}

/* Is tid within the run's TID range? */
static inline bool
lsm_run_covers(const LsmRun *run, BlockNumber lblock, OffsetNumber off)
{
	const LsmManifestRun *d = &run->desc;

	if (lblock < d->min_lblock || (lblock == d->min_lblock && off < d->min_off))
		return false;
	if (lblock > d->max_lblock || (lblock == d->max_lblock && off > d->max_off))
		return false;
	return true;
}

/*
 * lsm_run_may_contain -- false if the run surely holds no entry for tid
 * (TID range, then bloom filter).
 */
bool
lsm_run_may_contain(Relation rel, LsmRun *run, ItemPointer tid)
{
	BlockNumber lblock = ItemPointerGetBlockNumber(tid);
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	uint32		h1,
				h2;

	if (!lsm_run_covers(run, lblock, off))
		return false;
	if (run->bloom_nbits == 0)
		return true;
	lsm_bloom_hashes_ext(lblock, off, run->bloom_mix64, &h1, &h2);
	if (run->bloom_blocked)
	{
		/* one block on one page: one page to read */
		Size		offset = lsm_bloom_block_offset(run->bloom_nbits, h1);
		Buffer		buf;
		uint8	   *block;
		bool		set = true;
		uint64		state = lsm_bloom_seed(h2);

		buf = lsm_run_read_page(rel, run->bloom_pages[offset / LSM_RUN_BLOOM_BYTES],
								LSM_PAGE_RUN_BLOOM, run->desc.run_id);
		block = (uint8 *) PageGetContents(BufferGetPage(buf)) +
			MAXALIGN(sizeof(LsmRunBloomHeader)) + offset % LSM_RUN_BLOOM_BYTES;
		for (uint32 i = 0; i < run->bloom_nhash && set; i++)
		{
			uint32		bit = lsm_bloom_next_bit(&state);

			set = (block[bit / 8] & (1 << (bit % 8))) != 0;
		}
		UnlockReleaseBuffer(buf);
		return set;
	}
	/* a classic filter (runs written before blocked ones) */
	for (uint32 i = 0; i < run->bloom_nhash; i++)
	{
		uint32		bit = (h1 + i * h2) % run->bloom_nbits;
		uint32		pageno = bit / LSM_RUN_BLOOM_BITS;
		uint32		inpage = bit % LSM_RUN_BLOOM_BITS;
		Buffer		buf;
		uint8	   *bits;
		bool		set;

		buf = lsm_run_read_page(rel, run->bloom_pages[pageno],
								LSM_PAGE_RUN_BLOOM, run->desc.run_id);
		bits = (uint8 *) PageGetContents(BufferGetPage(buf)) +
			MAXALIGN(sizeof(LsmRunBloomHeader));
		set = (bits[inpage / 8] & (1 << (inpage % 8))) != 0;
		UnlockReleaseBuffer(buf);
		if (!set)
			return false;
	}
	return true;
}

/*
 * lsm_run_find_page -- index of the data page that would hold tid (the last
 * fence <= tid), or -1 if tid precedes the run.
 */
int
lsm_run_find_page(const LsmRun *run, BlockNumber lblock, OffsetNumber off)
{
	int			lo = 0,
				hi = run->nfences - 1,
				result = -1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		const LsmRunFence *f = &run->fences[mid];

		if (f->lblock < lblock || (f->lblock == lblock && f->off <= off))
		{
			result = mid;
			lo = mid + 1;
		}
		else
			hi = mid - 1;
	}
	return result;
}

/* Get a varint at *p (bounded by end); false if malformed. */
static inline bool
lsm_get_varint(const char **p, const char *end, uint32 *v)
{
	uint32		result = 0;
	int			shift = 0;

	/* one byte, below 128: the usual case (a run entry's length) */
	if (*p < end && (uint8) **p < 0x80)
	{
		*v = (uint8) *(*p)++;
		return true;
	}
	while (*p < end && shift < 35)
	{
		uint8		b = (uint8) **p;

		(*p)++;
		result |= (uint32) (b & 0x7F) << shift;
		if (!(b & 0x80))
		{
			*v = result;
			return true;
		}
		shift += 7;
	}
	return false;
}

/*
 * Verify the header, checksum and table of parts of the run data page in
 * buf (locked); copy the header to *hdr and the parts (hdr->nparts of
 * them) to parts[], and return where the (compressed) entries start.
 */
static const char *
lsm_run_check_data_page(Relation rel, Buffer buf, LsmRunDataHeader *hdr,
						LsmRunDataPart *parts)
{
	BlockNumber blkno = BufferGetBlockNumber(buf);
	Page		page = BufferGetPage(buf);
	const char *src;
	pg_crc32c	crc;
	uint32		tbl;
	uint32		body;

	memcpy(hdr, PageGetContents(page), sizeof(LsmRunDataHeader));
	src = PageGetContents(page) + MAXALIGN(sizeof(LsmRunDataHeader));
	tbl = hdr->nparts * sizeof(LsmRunDataPart);
	body = hdr->comp_len > 0 ? hdr->comp_len : hdr->raw_len;
	if (hdr->raw_len > (uint32) LSM_RUN_DATA_SPACE * 16 + BLCKSZ ||
		hdr->nparts == 1 || hdr->nparts > LSM_RUN_MAX_PARTS ||
		hdr->comp_len > (uint32) LSM_RUN_DATA_SPACE - tbl ||
		(hdr->comp_len == 0 && hdr->raw_len > (uint32) LSM_RUN_DATA_SPACE - tbl) ||
		hdr->nentries == 0 || hdr->nentries > hdr->raw_len ||
		((PageHeader) page)->pd_lower < MAXALIGN(SizeOfPageHeaderData) +
		MAXALIGN(sizeof(LsmRunDataHeader)) + tbl + body)
		LSM_CORRUPT(rel, blkno, ("Run data page with raw length %u, compressed length %u, %u entries, %u parts.",
								 hdr->raw_len, hdr->comp_len, hdr->nentries,
								 hdr->nparts));
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, src, tbl + body);
	FIN_CRC32C(crc);
	if (!EQ_CRC32C(crc, hdr->crc))
		LSM_CORRUPT(rel, blkno, ("Run data page checksum %08X, expected %08X.",
								 crc, hdr->crc));

	/* the parts: in order, from the start, within the page */
	memcpy(parts, src, tbl);
	for (int i = 0; i < hdr->nparts; i++)
	{
		const LsmRunDataPart *p = &parts[i];
		bool		ok;

		if (i == 0)
			ok = p->raw_off == 0 && p->comp_off == 0 && p->first_entry == 0 &&
				p->first_lblock == hdr->first_lblock &&
				p->first_off == hdr->first_off;
		else
			ok = p->raw_off > parts[i - 1].raw_off && p->raw_off < hdr->raw_len &&
				p->first_entry > parts[i - 1].first_entry &&
				p->first_entry < hdr->nentries &&
				(hdr->comp_len == 0 ? p->comp_off == 0 :
				 p->comp_off > parts[i - 1].comp_off && p->comp_off < hdr->comp_len) &&
				lsm_tid_ordinal(p->first_lblock, p->first_off) >
				lsm_tid_ordinal(parts[i - 1].first_lblock, parts[i - 1].first_off);
		if (!ok)
			LSM_CORRUPT(rel, blkno, ("Run data page part %d of %u is out of place.",
									 i, hdr->nparts));
	}
	return src + tbl;
}

/* The raw and compressed length of part i of a checked data page. */
static void
lsm_run_part_lengths(const LsmRunDataHeader *hdr, const LsmRunDataPart *parts,
					 int i, int *rawlen, int *complen)
{
	bool		last = i + 1 == hdr->nparts;

	*rawlen = (last ? hdr->raw_len : parts[i + 1].raw_off) - parts[i].raw_off;
	*complen = hdr->comp_len == 0 ? 0 :
		(last ? hdr->comp_len : parts[i + 1].comp_off) - parts[i].comp_off;
}

/*
 * Decompress (or copy, on a page stored raw) part i of the checked data
 * page whose entries start at src into dst.
 */
static void
lsm_run_part_decode(Relation rel, BlockNumber blkno,
					const LsmRunDataHeader *hdr, const LsmRunDataPart *parts,
					int i, const char *src, char *dst)
{
	int			rawlen,
				complen,
				got;

	lsm_run_part_lengths(hdr, parts, i, &rawlen, &complen);
	if (hdr->comp_len == 0)
	{
		memcpy(dst, src + parts[i].raw_off, rawlen);
		return;
	}
	got = LZ4_decompress_safe(src + parts[i].comp_off, dst, complen, rawlen);
	if (got != rawlen)
		LSM_CORRUPT(rel, blkno, ("Run data page part %d decompresses to %d bytes, expected %d.",
								 i, got, rawlen));
}

/* The chunk's raw buffer, made large enough for len bytes. */
static char *
lsm_run_chunk_raw(LsmRunChunk *chunk, uint32 len)
{
	if (chunk->raw_cap < (Size) len)
	{
		if (chunk->raw)
			pfree(chunk->raw);
		chunk->raw_cap = Max(len, LSM_RUN_DATA_SPACE * 4);
		chunk->raw = MemoryContextAlloc(chunk->mcxt, chunk->raw_cap);
	}
	return chunk->raw;
}

/*
 * lsm_run_decode -- decode data page number pageidx of run into chunk
 * (its memory is reused).  Entries become heap tuples in chunk->arena.
 */
void
lsm_run_decode(Relation rel, LsmRun *run, int pageidx, LsmRunChunk *chunk)
{
	BlockNumber blkno = run->fences[pageidx].blkno;
	Buffer		buf;

	buf = lsm_run_read_page(rel, blkno, LSM_PAGE_RUN_DATA, run->desc.run_id);
	lsm_run_decode_buffer(rel, buf, chunk, run);
	chunk->run = run;
	chunk->pageidx = pageidx;
}

/*
 * Status of the transaction that loaded a run, as a hint for its versions:
 * HEAP_XMIN_COMMITTED or HEAP_XMIN_INVALID once it is over, 0 while it is
 * ours or running.  The order of the checks is heap's (see
 * lsm_visibility.c), so that a transaction committing meanwhile is never
 * taken for aborted.
 */
static uint16
lsm_run_load_hint(TransactionId xid)
{
	if (TransactionIdIsCurrentTransactionId(xid) ||
		TransactionIdIsInProgress(xid))
		return 0;
	if (TransactionIdDidCommit(xid))
		return HEAP_XMIN_COMMITTED;
	return HEAP_XMIN_INVALID;
}

/*
 * lsm_run_load_pending -- is run a loaded run whose transaction is still
 * running (ours or another's)?  Merges leave such a run alone.
 */
bool
lsm_run_load_pending(const LsmRun *run)
{
	return run->loaded && TransactionIdIsNormal(run->desc.oldest_xid) &&
		lsm_run_load_hint(run->desc.oldest_xid) == 0;
}

/*
 * lsm_run_load_aborted -- is run a loaded run whose transaction aborted
 * (every version in it is dead)?
 */
bool
lsm_run_load_aborted(const LsmRun *run)
{
	return run->loaded && TransactionIdIsNormal(run->desc.oldest_xid) &&
		lsm_run_load_hint(run->desc.oldest_xid) == HEAP_XMIN_INVALID;
}

/*
 * Decode, of the checked data page in buf (with parts; unlocked and
 * released here), only the part tid falls in, into chunk.  With whole, all
 * of the part; else as far as the first entry at or past tid, building only
 * that entry's version (see lsm_run_parse_until), and if the part ends
 * before tid, the chunk is left empty: the page has no entry for tid.
 */
static void
lsm_run_decode_part(Relation rel, BlockNumber blkno, Buffer buf,
					const LsmRunDataHeader *hdr, const LsmRunDataPart *parts,
					const char *src, LsmRunChunk *chunk, ItemPointer tid,
					bool whole, const LsmRun *run)
{
	uint64		want = lsm_tid_ordinal(ItemPointerGetBlockNumber(tid),
									   ItemPointerGetOffsetNumber(tid));
	int			p = 0;
	int			rawlen,
				complen,
				count,
				n;
	char	   *raw;

	while (p + 1 < hdr->nparts &&
		   lsm_tid_ordinal(parts[p + 1].first_lblock, parts[p + 1].first_off) <= want)
		p++;
	count = (p + 1 < hdr->nparts ? parts[p + 1].first_entry : hdr->nentries) -
		parts[p].first_entry;
	lsm_run_part_lengths(hdr, parts, p, &rawlen, &complen);
	raw = lsm_run_chunk_raw(chunk, rawlen);
	lsm_run_part_decode(rel, blkno, hdr, parts, p, src, raw);
	UnlockReleaseBuffer(buf);

	n = lsm_run_parse_until(raw, rawlen, count, chunk, whole ? NULL : tid,
							run);
	if (n <= 0 || (whole && n != count) ||
		ItemPointerGetBlockNumber(&chunk->entries[0].tid) != parts[p].first_lblock ||
		ItemPointerGetOffsetNumber(&chunk->entries[0].tid) != parts[p].first_off)
	{
		chunk->nentries = 0;
		LSM_CORRUPT(rel, blkno, ("Malformed entries in part %d of a data page of run %u (%d of %d decoded).",
								 p, hdr->run_id, n, count));
	}
	/* the part ended before tid: its last entry was skipped, not built */
	if (!whole && ItemPointerCompare(&chunk->entries[n - 1].tid, tid) < 0)
		chunk->nentries = 0;
}

/*
 * lsm_run_decode_for_lookup -- decode data page pageidx of run into chunk
 * only as far as needed to find tid; with more (another TID of this page
 * was looked up last), the whole part of tid, or the whole page if it has
 * no parts.
 *
 * A point lookup needs one entry of the page, and entries are in TID
 * order, so decompressing and parsing all of them does about twice the
 * work needed on average.  A page in parts (LSM_RUN_MAX_PARTS) needs only
 * the part of tid decoded.  Otherwise, the header's first and last TIDs
 * give an estimate of where tid lies; LZ4 decompresses a little beyond
 * that.  Either way parsing stops at the first entry at or past tid,
 * building only that entry's version (the entries before it are checked,
 * not built); if the estimate fell short, the whole page is decoded after
 * all.  The chunk then holds that one version of the page (lookup_run,
 * lookup_pageidx, lookup_single; run stays NULL, so that every other user
 * decodes the page in full).  A later lookup of another TID of the page
 * decodes its whole part, or the whole page (lsm_run_lookup), so that a
 * scan through a page in TID order decodes each part at most twice.  The
 * checksum covers the whole compressed page as before.
 */
static void
lsm_run_decode_for_lookup(Relation rel, LsmRun *run, int pageidx,
						  LsmRunChunk *chunk, ItemPointer tid, bool more)
{
	BlockNumber blkno = run->fences[pageidx].blkno;
	Buffer		buf;
	LsmRunDataHeader hdr;
	LsmRunDataPart parts[LSM_RUN_MAX_PARTS];
	const char *src;
	char	   *raw;
	uint64		first,
				last,
				want;
	int			got;
	int			n;

	buf = lsm_run_read_page(rel, blkno, LSM_PAGE_RUN_DATA, run->desc.run_id);
	src = lsm_run_check_data_page(rel, buf, &hdr, parts);
	if (hdr.nparts > 0)
	{
		lsm_run_decode_part(rel, blkno, buf, &hdr, parts, src, chunk, tid,
							more, run);
		chunk->lookup_run = run;
		chunk->lookup_pageidx = pageidx;
		chunk->lookup_single = !more;
		return;
	}
	if (more)
		want = hdr.raw_len;		/* the whole page (below) */
	else
	{
		first = lsm_tid_ordinal(hdr.first_lblock, hdr.first_off);
		last = lsm_tid_ordinal(hdr.last_lblock, hdr.last_off);
		want = lsm_tid_ordinal(ItemPointerGetBlockNumber(tid),
							   ItemPointerGetOffsetNumber(tid));
		if (hdr.comp_len == 0 || last <= first || want <= first)
			want = hdr.raw_len;
		else
		{
			/* where tid would be if entries were evenly spread, plus a margin */
			want = (want - first + 1) * hdr.raw_len / (last - first + 1) +
				hdr.raw_len / 8 + 256;
			want = Min(want, hdr.raw_len);
		}
	}

	if (want < hdr.raw_len)
	{
		raw = lsm_run_chunk_raw(chunk, hdr.raw_len);
		got = LZ4_decompress_safe_partial(src, raw, hdr.comp_len, (int) want,
										  (int) chunk->raw_cap);
		if (got < 0 || got > (int) hdr.raw_len)
			LSM_CORRUPT(rel, blkno, ("Run data page does not decompress (%d).", got));
		n = lsm_run_parse_until(raw, got, hdr.nentries, chunk, tid, run);
		if (n > 0 && n < (int) hdr.nentries &&
			ItemPointerCompare(&chunk->entries[n - 1].tid, tid) >= 0 &&
			ItemPointerGetBlockNumber(&chunk->entries[0].tid) == hdr.first_lblock &&
			ItemPointerGetOffsetNumber(&chunk->entries[0].tid) == hdr.first_off)
		{
			UnlockReleaseBuffer(buf);
			chunk->lookup_run = run;
			chunk->lookup_pageidx = pageidx;
			chunk->lookup_single = true;
			return;
		}
	}

	/*
	 * No gain to be had, or the estimate fell short (or the prefix looked
	 * wrong): the ordinary decode of the whole page.
	 */
	lsm_run_decode_buffer(rel, buf, chunk, run);
	chunk->run = run;
	chunk->pageidx = pageidx;
}

/*
 * lsm_run_decode_buffer -- decode the run data page in buf (pinned and
 * share-locked; unlocked and released here) into chunk.  run is the run
 * the page belongs to, for the versions of a loaded run, or NULL.
 */
void
lsm_run_decode_buffer(Relation rel, Buffer buf, LsmRunChunk *chunk,
					  const LsmRun *run)
{
	BlockNumber blkno = BufferGetBlockNumber(buf);
	LsmRunDataHeader hdr;
	LsmRunDataPart parts[LSM_RUN_MAX_PARTS];
	const char *src;
	char	   *raw;
	int			n;

	src = lsm_run_check_data_page(rel, buf, &hdr, parts);
	raw = lsm_run_chunk_raw(chunk, hdr.raw_len);
	if (hdr.comp_len > 0 && hdr.nparts == 0)
	{
		int			got = LZ4_decompress_safe(src, raw, hdr.comp_len, hdr.raw_len);

		if (got != (int) hdr.raw_len)
			LSM_CORRUPT(rel, blkno, ("Run data page decompresses to %d bytes, expected %u.",
									 got, hdr.raw_len));
	}
	else if (hdr.comp_len > 0)
	{
		for (int p = 0; p < hdr.nparts; p++)
			lsm_run_part_decode(rel, blkno, &hdr, parts, p, src,
								raw + parts[p].raw_off);
	}
	else
		memcpy(raw, src, hdr.raw_len);
	UnlockReleaseBuffer(buf);

	n = lsm_run_parse_until(raw, hdr.raw_len, hdr.nentries, chunk, NULL, run);
	/* each part begins where the table says (its entries parse alone) */
	for (int p = 0; p < hdr.nparts && n == (int) hdr.nentries; p++)
	{
		if (ItemPointerGetBlockNumber(&chunk->entries[parts[p].first_entry].tid) !=
			parts[p].first_lblock ||
			ItemPointerGetOffsetNumber(&chunk->entries[parts[p].first_entry].tid) !=
			parts[p].first_off)
			n = -1;
	}
	if (n != (int) hdr.nentries ||
		ItemPointerGetBlockNumber(&chunk->entries[0].tid) != hdr.first_lblock ||
		ItemPointerGetOffsetNumber(&chunk->entries[0].tid) != hdr.first_off ||
		ItemPointerGetBlockNumber(&chunk->entries[n - 1].tid) != hdr.last_lblock ||
		ItemPointerGetOffsetNumber(&chunk->entries[n - 1].tid) != hdr.last_off)
	{
		chunk->run = NULL;
		chunk->pageidx = -1;
		LSM_CORRUPT(rel, blkno, ("Malformed entries in data page of run %u (%d of %u decoded).",
								 hdr.run_id, n, hdr.nentries));
	}
	chunk->nentries = n;
}

/*
 * lsm_run_parse -- turn nentries encoded entries (raw, raw_len bytes) into
 * heap tuples in chunk's arena.  Returns the number of entries, or -1 if
 * the bytes are malformed in any way (every length is checked).
 */
int
lsm_run_parse(const char *raw, uint32 raw_len, uint32 nentries,
			  LsmRunChunk *chunk)
{
	return lsm_run_parse_until(raw, raw_len, nentries, chunk, NULL, NULL);
}

/*
 * lsm_run_chunk_owns -- does p point into a version decoded by chunk (its
 * arena, or one kept for a scan)?
 */
bool
lsm_run_chunk_owns(LsmRunChunk *chunk, const void *p)
{
	const char *c = (const char *) p;

	if (chunk->arena && c >= chunk->arena && c < chunk->arena + chunk->arena_cap)
		return true;
	for (int i = 0; i < chunk->nkept; i++)
		if (c >= chunk->kept[i].mem && c < chunk->kept[i].mem + chunk->kept[i].cap)
			return true;
	return false;
}

/*
 * Before a decode overwrites chunk's arena: if a scan's current or previous
 * block points into it, keep it aside and take an arena nobody points into
 * any more if there is one (the caller replaces it if it is too small), or
 * none (the caller allocates one).  Versions of the block before the
 * previous one are no longer referenced: see "Who owns a returned version"
 * in doc/lsm-design.md.
 */
static void
lsm_run_chunk_release_arena(LsmRunChunk *chunk)
{
	int			best = -1;

	if (chunk->hold_gen == 0 || chunk->arena == NULL ||
		chunk->arena_gen == 0 || chunk->arena_gen + 1 < chunk->hold_gen)
	{
		chunk->arena_gen = 0;
		return;
	}
	if (chunk->nkept >= chunk->maxkept)
	{
		chunk->maxkept = Max(4, chunk->maxkept * 2);
		if (chunk->kept == NULL)
			chunk->kept = MemoryContextAlloc(chunk->mcxt,
											 sizeof(LsmKeptArena) * chunk->maxkept);
		else
			chunk->kept = repalloc(chunk->kept,
								   sizeof(LsmKeptArena) * chunk->maxkept);
	}
	chunk->kept[chunk->nkept].mem = chunk->arena;
	chunk->kept[chunk->nkept].cap = chunk->arena_cap;
	chunk->kept[chunk->nkept].gen = chunk->arena_gen;
	chunk->nkept++;
	chunk->arena = NULL;
	chunk->arena_cap = 0;
	chunk->arena_gen = 0;

	/* a kept arena that no block of interest points into, the largest */
	for (int i = 0; i < chunk->nkept; i++)
		if (chunk->kept[i].gen + 1 < chunk->hold_gen &&
			(best < 0 || chunk->kept[i].cap > chunk->kept[best].cap))
			best = i;
	if (best >= 0)
	{
		chunk->arena = chunk->kept[best].mem;
		chunk->arena_cap = chunk->kept[best].cap;
		chunk->kept[best] = chunk->kept[--chunk->nkept];
	}
}

/*
 * Copy n bytes where n is usually a few dozen (the data of a narrow row):
 * overlapping word moves instead of a call to memcpy, which cost more than
 * the copy for such sizes.  Reads and writes stay within the n bytes.
 */
static pg_attribute_always_inline void
lsm_copy_short(char *dst, const char *src, uint32 n)
{
	if (n >= 16 && n <= 32)
	{
		/* constant-size copies become single moves */
		memcpy(dst, src, 16);
		memcpy(dst + n - 16, src + n - 16, 16);
	}
	else if (n >= 8 && n < 16)
	{
		memcpy(dst, src, 8);
		memcpy(dst + n - 8, src + n - 8, 8);
	}
	else
		memcpy(dst, src, n);
}

/*
 * lsm_run_parse_entries -- as lsm_run_parse, but with stop != NULL it stops
 * after the first entry whose TID is stop or beyond; then raw may end
 * anywhere after that entry (a partly decompressed page), and -1 also
 * means that the bytes ended before it.  The versions before that entry
 * are checked and skipped, not built: their entries have only their TIDs
 * (tup NULL, len LSM_RUN_ENTRY_SKIPPED).
 *
 * With run a loaded run (LSM_RUN_LOADED), its frozen entries get the
 * loading transaction's xmin and command id back, hinted as committed or
 * aborted once that transaction is over (lsm_run_load_hint).  A chunk kept
 * while the transaction ends keeps no hint, which is never wrong: the
 * visibility rules then ask the commit log.
 *
 * This is the inner loop of every sequential scan of runs, so it does the
 * per-entry work once per change of layout where it can: the header of a
 * version is copied from a template made when the entry's layout (natts,
 * infomask bits, t_hoff) changes, and then gets its TID, xmin and hint.
 */
static pg_attribute_always_inline int
lsm_run_parse_entries(const char *raw, uint32 raw_len, uint32 nentries,
					  LsmRunChunk *chunk, ItemPointer stop, const LsmRun *run)
{
	const char *p = raw;
	const char *end = raw + raw_len;
	int			n = 0;
	BlockNumber lblock = InvalidBlockNumber;
	uint32		off = 0;		/* an OffsetNumber; kept in a register */
	char	   *arena;
	Size		arena_cap;
	LsmRunEntry *entries;
	uint16		im2 = 0,
				im = 0;
	uint8		hoff = 0xFF;
	uint32		bitmaplen = 0;
	Size		need;
	Size		apos = 0;
	TransactionId xmin = InvalidTransactionId;
	TransactionId frozen_xmin = FrozenTransactionId;
	CommandId	frozen_cid = FirstCommandId;
	uint16		frozen_hint = HEAP_XMIN_FROZEN;
	uint32		blkword = 0;	/* lblock, see lsm_blockword */
	uint32		notfrozen = 0;	/* nonzero once an entry is no frozen version */
	bool		plain_shape = false;	/* no null bitmap, t_hoff minimal */

	/* the header every version starts from, up to t_hoff (at most 255) */
	union
	{
		HeapTupleHeaderData hdr;
		char		bytes[256];
		double		align;
	}			tmpl;

	if (nentries == 0 || nentries > raw_len)
		return -1;
	chunk->run = NULL;
	chunk->pageidx = -1;
	chunk->lookup_run = NULL;
	chunk->lookup_pageidx = -1;
	chunk->lookup_single = false;
	chunk->nentries = 0;
	chunk->all_frozen = false;
	chunk->scan_pos = 0;
	if (chunk->max_entries < (int) nentries)
	{
		if (chunk->entries)
			pfree(chunk->entries);
		chunk->max_entries = Max(nentries, 256);
		chunk->entries = MemoryContextAlloc(chunk->mcxt,
											sizeof(LsmRunEntry) * chunk->max_entries);
	}
	/* every tuple gets a header and alignment padding on top of its bytes */
	need = (Size) raw_len + (Size) nentries * (MAXALIGN(SizeofHeapTupleHeader) +
											   MAXIMUM_ALIGNOF * 2);
	lsm_run_chunk_release_arena(chunk);
	if (chunk->arena_cap < need)
	{
		if (chunk->arena)
			pfree(chunk->arena);
		chunk->arena_cap = Max(need, (Size) LSM_RUN_DATA_SPACE * 8);
		chunk->arena = MemoryContextAlloc(chunk->mcxt, chunk->arena_cap);
	}

	/*
	 * The loop below writes through char pointers, which may alias the
	 * chunk: with these in locals the compiler need not reload them for
	 * every entry.
	 */
	arena = chunk->arena;
	arena_cap = chunk->arena_cap;
	entries = chunk->entries;

	/* a loaded run's versions are stored frozen: what they really are */
	if (run != NULL && run->loaded && TransactionIdIsNormal(run->desc.oldest_xid))
	{
		frozen_xmin = run->desc.oldest_xid;
		frozen_cid = run->load_cid;
		frozen_hint = lsm_run_load_hint(frozen_xmin);
	}
	memset(&tmpl, 0, sizeof(tmpl));
	HeapTupleHeaderSetXmax(&tmpl.hdr, InvalidTransactionId);

	while (p < end)
	{
		uint8		flags;
		LsmRunEntry *e;

		/*
		 * The usual entry of a scan: a frozen version of the block of the
		 * entry before, of the layout before, with no null bitmap and a
		 * length below 128.  Such entries are built by a loop of their own
		 * from a complete header (xmin, command id and hint bits included);
		 * anything else, including an entry that turns out to be invalid,
		 * leaves it for the general code below, which checks it in full.
		 */
		if (stop == NULL && plain_shape && n > 0 &&
			(uint8) *p == LSM_ENTRY_PLAIN)
		{
			union
			{
				HeapTupleHeaderData hdr;
				char		bytes[MAXALIGN(SizeofHeapTupleHeader)];
				double		align;
			}			full;

			memcpy(&full, &tmpl, sizeof(full));
			HeapTupleHeaderSetXmin(&full.hdr, frozen_xmin);
			full.hdr.t_choice.t_heap.t_field3.t_cid = frozen_cid;
			full.hdr.t_infomask = im | frozen_hint | HEAP_XMAX_INVALID;
			lsm_tid_set_word(&full.hdr.t_ctid, blkword, 0);
			while (end - p >= 3 && (uint8) p[0] == LSM_ENTRY_PLAIN &&
				   n < (int) nentries)
			{
				uint32		delta = (uint8) p[1];
				uint32		len = (uint8) p[2];
				HeapTupleHeader t;

				if (delta == 0 || len >= 0x80 || off + delta > LSM_MAX_TUPLES_PER_PAGE ||
					len > (uint32) (end - p - 3))
					break;
				apos = MAXALIGN(apos);
				if (apos + MAXALIGN(SizeofHeapTupleHeader) + len > arena_cap)
					break;
				off += delta;
				p += 3;
				t = (HeapTupleHeader) (arena + apos);
				memcpy(t, &full, MAXALIGN(SizeofHeapTupleHeader));
				t->t_ctid.ip_posid = off;
				lsm_copy_short((char *) t + MAXALIGN(SizeofHeapTupleHeader), p, len);
				p += len;
				e = &entries[n++];
				lsm_tid_set_word(&e->tid, blkword, off);
				e->tup = t;
				e->len = MAXALIGN(SizeofHeapTupleHeader) + len;
				apos += e->len;
			}
			if (p >= end)
				break;
		}

		flags = (uint8) *p++;
		if (n >= (int) nentries || (flags & ~LSM_ENTRY_ALL_FLAGS) != 0)
			return -1;
		e = &entries[n];
		notfrozen |= (flags & (LSM_ENTRY_FROZEN | LSM_ENTRY_TOMBSTONE)) ^
			LSM_ENTRY_FROZEN;
		if (flags & LSM_ENTRY_SAME_BLOCK)
		{
			uint8		delta;

			/* the delta is never 0, so TIDs rise within a block */
			if (p >= end || n == 0)
				return -1;
			delta = (uint8) *p++;
			if (delta == 0)
				return -1;
			off += delta;
			if (off > LSM_MAX_TUPLES_PER_PAGE)
				return -1;
		}
		else
		{
			BlockNumber prev_lblock = lblock;
			uint32		prev_off = off;
			uint32		b32;
			uint16		o16;

			if (end - p < 6)
				return -1;
			memcpy(&b32, p, sizeof(uint32));
			memcpy(&o16, p + 4, sizeof(uint16));
			lblock = b32;
			off = o16;
			p += 6;
			if (off < FirstOffsetNumber || off > LSM_MAX_TUPLES_PER_PAGE ||
				lblock >= MaxBlockNumber)
				return -1;
			if (n > 0 && (lblock < prev_lblock ||
						  (lblock == prev_lblock && off <= prev_off)))
				return -1;
			blkword = lsm_blockword(lblock);
		}
		lsm_tid_set_word(&e->tid, blkword, off);
		if (flags & LSM_ENTRY_TOMBSTONE)
		{
			/* a tombstone, or a dead entry (flagged frozen too) */
			if (flags & LSM_ENTRY_SAME_SHAPE)
				return -1;
			e->tup = NULL;
			e->len = (flags & LSM_ENTRY_FROZEN) ? LSM_RUN_ENTRY_DEAD : 0;
		}
		else
		{
			uint32		datalen;
			HeapTupleHeader t;

			if (!(flags & LSM_ENTRY_FROZEN))
			{
				if (end - p < 4)
					return -1;
				memcpy(&xmin, p, sizeof(TransactionId));
				p += 4;
				if (!TransactionIdIsNormal(xmin))
					return -1;
			}
			if (!(flags & LSM_ENTRY_SAME_SHAPE))
			{
				if (end - p < 5)
					return -1;
				memcpy(&im2, p, sizeof(uint16));
				memcpy(&im, p + 2, sizeof(uint16));
				hoff = (uint8) p[4];
				p += 5;
				bitmaplen = (im & HEAP_HASNULL) ?
					BITMAPLEN(im2 & HEAP_NATTS_MASK) : 0;
				if ((im & ~LSM_RUN_INFOMASK_KEEP) != 0 ||
					hoff < SizeofHeapTupleHeader + bitmaplen ||
					hoff != MAXALIGN(hoff))
					return -1;
				/* the new layout's template: null bitmap and padding zero */
				tmpl.hdr.t_infomask2 = im2;
				tmpl.hdr.t_hoff = hoff;
				plain_shape = bitmaplen == 0 &&
					hoff == MAXALIGN(SizeofHeapTupleHeader);
				memset(tmpl.hdr.t_bits, 0, hoff - offsetof(HeapTupleHeaderData, t_bits));
			}
			else if (hoff == 0xFF)
				return -1;
			if (!lsm_get_varint(&p, end, &datalen) || datalen > (uint32) (end - p) ||
				bitmaplen > datalen)
				return -1;
			if (stop != NULL && ItemPointerCompare(&e->tid, stop) < 0)
			{
				/* before the TID a lookup wants: its TID only */
				p += datalen;
				e->tup = NULL;
				e->len = LSM_RUN_ENTRY_SKIPPED;
				n++;
				continue;
			}
			apos = MAXALIGN(apos);
			if (apos + hoff + (datalen - bitmaplen) > arena_cap)
				return -1;
			t = (HeapTupleHeader) (arena + apos);

			/*
			 * The header: a fixed-size copy in the usual case of no null
			 * bitmap (a variable-size one is a call), then what differs
			 * from entry to entry.
			 */
			if (hoff == MAXALIGN(SizeofHeapTupleHeader))
				memcpy(t, &tmpl, MAXALIGN(SizeofHeapTupleHeader));
			else
				memcpy(t, &tmpl, hoff);
			if (bitmaplen > 0)
				memcpy(t->t_bits, p, bitmaplen);
			if (flags & LSM_ENTRY_FROZEN)
			{
				HeapTupleHeaderSetXmin(t, frozen_xmin);
				t->t_choice.t_heap.t_field3.t_cid = frozen_cid;
				t->t_infomask = im | frozen_hint | HEAP_XMAX_INVALID;
			}
			else
			{
				HeapTupleHeaderSetXmin(t, xmin);
				t->t_infomask = im | HEAP_XMIN_COMMITTED | HEAP_XMAX_INVALID;
			}
			lsm_tid_set_word(&t->t_ctid, blkword, off);
			lsm_copy_short((char *) t + hoff, p + bitmaplen, datalen - bitmaplen);
			p += datalen;
			e->tup = t;
			e->len = hoff + datalen - bitmaplen;
			apos += e->len;
		}
		n++;
		if (stop != NULL && ItemPointerCompare(&e->tid, stop) >= 0)
			break;
	}
	chunk->nentries = n;
	/* all stored frozen: scans need not look at the versions' headers */
	chunk->all_frozen = stop == NULL && notfrozen == 0;
	chunk->frozen_xmin = frozen_xmin;
	chunk->frozen_hint = frozen_hint;
	return n;
}

/*
 * lsm_run_parse_until -- see lsm_run_parse_entries.  The scans' case, no
 * stop, is compiled on its own, without the per-entry tests of stop.
 */
static int
lsm_run_parse_until(const char *raw, uint32 raw_len, uint32 nentries,
					LsmRunChunk *chunk, ItemPointer stop, const LsmRun *run)
{
	if (stop == NULL)
		return lsm_run_parse_entries(raw, raw_len, nentries, chunk, NULL, run);
	return lsm_run_parse_entries(raw, raw_len, nentries, chunk, stop, run);
}

/*
 * Decode buffers of chunks that were let go, kept for the next chunks.
 *
 * A query's views of the runs come and go with it; giving their decode
 * buffers (tens of kB) back to malloc makes it return them to the kernel
 * and map them again for the next query, which cost more than a point
 * lookup itself.  Each chunk has a memory context of its own; a chunk that
 * is let go (lsm_run_chunk_free) moves its context here, up to
 * LSM_SPARE_CHUNKS of them, and lsm_run_chunk_init takes one back under
 * its caller's context.  A chunk whose owner goes away in an error is
 * deleted with the owner's context like any other memory.
 */
#define LSM_SPARE_CHUNKS 8

static MemoryContext lsm_spare_cxt = NULL;
static LsmRunChunk lsm_spare[LSM_SPARE_CHUNKS];
static int	lsm_nspare = 0;

/* Let go of a chunk: its buffers become a spare, or are freed. */
void
lsm_run_chunk_free(LsmRunChunk *chunk)
{
	if (chunk->mcxt != NULL)
	{
		/* arenas kept for a scan go; the spare keeps the current one */
		for (int i = 0; i < chunk->nkept; i++)
			pfree(chunk->kept[i].mem);
		chunk->nkept = 0;
		chunk->hold_gen = 0;
		chunk->arena_gen = 0;
		if (lsm_spare_cxt == NULL)
			lsm_spare_cxt = AllocSetContextCreate(TopMemoryContext,
												  "lsm spare run chunks",
												  ALLOCSET_SMALL_SIZES);
		if (lsm_nspare < LSM_SPARE_CHUNKS && chunk->raw != NULL)
		{
			MemoryContextSetParent(chunk->mcxt, lsm_spare_cxt);
			chunk->run = NULL;
			chunk->pageidx = -1;
			chunk->lookup_run = NULL;
			chunk->lookup_pageidx = -1;
			chunk->nentries = 0;
			lsm_spare[lsm_nspare++] = *chunk;
		}
		else
			MemoryContextDelete(chunk->mcxt);
	}
	memset(chunk, 0, sizeof(LsmRunChunk));
	chunk->pageidx = -1;
}

/*
 * lsm_run_chunk_find -- index of tid's entry in the decoded chunk, or -1.
 */
int
lsm_run_chunk_find(const LsmRunChunk *chunk, ItemPointer tid)
{
	int			lo = 0,
				hi = chunk->nentries - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = ItemPointerCompare(&chunk->entries[mid].tid, tid);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * Does chunk hold the part of page pageidx of run where tid's entry would
 * be: all of the page, or a decoded prefix reaching tid?
 */
static inline bool
lsm_run_chunk_holds(LsmRunChunk *chunk, LsmRun *run, int pageidx,
					ItemPointer tid)
{
	if (chunk->run == run && chunk->pageidx == pageidx)
		return true;
	if (chunk->lookup_run != run || chunk->lookup_pageidx != pageidx ||
		chunk->nentries == 0)
		return false;
	/* only the last entry of a lookup's decode has its version */
	if (chunk->lookup_single)
		return ItemPointerEquals(&chunk->entries[chunk->nentries - 1].tid, tid);
	/* a prefix of the page, or one whole part of it */
	return ItemPointerCompare(&chunk->entries[0].tid, tid) <= 0 &&
		ItemPointerCompare(&chunk->entries[chunk->nentries - 1].tid, tid) >= 0;
}

/*
 * lsm_run_lookup -- the entry of tid in run, decoding through chunk (which
 * is kept if it already holds the right page).  Returns NULL if the run
 * has no entry for tid.  With use_bloom, the bloom filter is asked before a
 * page is decoded (worth it where a miss is likely: newer, sparser runs).
 *
 * With alt (a second chunk of the same run), the two keep the two pages
 * looked at last: a hit in alt, or a page to decode, swaps the chunks
 * first, so chunk always ends up holding the page just used and alt the
 * one before.  (Entries live in the chunks' buffers, not in the structs,
 * so swapping leaves earlier results where they are.)
 */
LsmRunEntry *
lsm_run_lookup(Relation rel, LsmRun *run, ItemPointer tid, LsmRunChunk *chunk,
			   LsmRunChunk *alt, bool use_bloom)
{
	int			pageidx;
	int			i;

	if (!lsm_run_covers(run, ItemPointerGetBlockNumber(tid),
						ItemPointerGetOffsetNumber(tid)))
		return NULL;
	pageidx = lsm_run_find_page(run, ItemPointerGetBlockNumber(tid),
								ItemPointerGetOffsetNumber(tid));
	if (pageidx < 0)
		return NULL;
	if (!lsm_run_chunk_holds(chunk, run, pageidx, tid))
	{
		bool		prefix;

		if (alt != NULL && lsm_run_chunk_holds(alt, run, pageidx, tid))
		{
			LsmRunChunk tmp = *chunk;

			*chunk = *alt;
			*alt = tmp;
		}
		else
		{
			if (use_bloom && !lsm_run_may_contain(rel, run, tid))
				return NULL;
			prefix = chunk->lookup_run == run && chunk->lookup_pageidx == pageidx;
			if (alt != NULL && !prefix)
			{
				/* decode into the older chunk; the newer one becomes alt */
				LsmRunChunk tmp = *chunk;

				*chunk = *alt;
				*alt = tmp;
				prefix = chunk->lookup_run == run &&
					chunk->lookup_pageidx == pageidx;
			}
			/*
			 * A part of this page was decoded for another TID: decode more
			 * this time, the whole part of tid (or page, without parts).
			 */
			lsm_run_decode_for_lookup(rel, run, pageidx, chunk, tid, prefix);
		}
	}
	i = lsm_run_chunk_find(chunk, tid);
	return i >= 0 ? &chunk->entries[i] : NULL;
}

/*
 * Set up an empty chunk whose memory lives in a context under mcxt (a
 * spare one, with buffers, if there is one).
 */
void
lsm_run_chunk_init(LsmRunChunk *chunk, MemoryContext mcxt)
{
	if (lsm_nspare > 0)
	{
		*chunk = lsm_spare[--lsm_nspare];
		MemoryContextSetParent(chunk->mcxt, mcxt);
		return;
	}
	memset(chunk, 0, sizeof(LsmRunChunk));
	chunk->mcxt = AllocSetContextCreate(mcxt, "lsm run chunk",
										ALLOCSET_SMALL_SIZES);
	chunk->pageidx = -1;
	chunk->lookup_pageidx = -1;
}
