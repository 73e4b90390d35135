/* SPDX-License-Identifier: MIT */
/*
 * table.h: SSTables, the immutable sorted files of the LSM tree.
 *
 * A table holds one version of each of a set of ids, sorted by id: the
 * newest put or delete (a tombstone) that the table's source knew of. The
 * bytes are specified in FORMAT.md ("SSTable"): records, then an index with
 * one 32-byte entry per record (id, where, tombstone bit, the record's
 * checksum), a radix table over the ids' leading bits that narrows a lookup
 * to a bucket of about one entry, a blocked bloom filter (one cache line per
 * id), and a footer.
 *
 * A builder writes a table as "<name>.tmp", fsyncs it and renames it into
 * place; the caller makes the name durable with one sync_dir. It writes
 * around the page cache (KDB_VFS_OPEN_DIRECT) in aligned 2 MiB pieces: a
 * flush or a compaction then costs the disk's time, not the CPU's in
 * copying, and leaves the cache to the tables being read. A reader maps
 * the whole file through the VFS and checks the header, the footer and the
 * metadata's checksum, and that the index is sorted and in bounds, once,
 * at open. After that a lookup reads the bloom line, a radix bucket, one or
 * two index entries and the record; a record's checksum is checked the
 * first time it is read through this handle (a bit per record remembers),
 * never again, and never by a scan of the whole file.
 *
 * Threads: a builder belongs to the thread that runs it. A table is
 * immutable once open; only table_read() writes (its bitmap), so it is
 * core-only, while table_find(), table_may_contain() and iteration with
 * table_record_at() may run on any thread.
 */
#ifndef KDB_ENGINE_TABLE_H
#define KDB_ENGINE_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checksum.h"
#include "coding.h"
#include "env.h"
#include "format.h"

#define TABLE_PAGE_SIZE 4096u /* of memory: mapped pages are given back in these */

/* ---- writing ---- */

struct table_builder {
    const struct env *env;
    char tmp_path[4096];
    char path[4096];
    int fd;
    uint64_t number;
    void *buf_memory; /* as allocated */
    uint8_t *buf;     /* write buffer: buf_memory aligned for direct I/O */
    size_t buf_len;
    size_t buf_cap;
    uint64_t offset;      /* file bytes written or buffered */
    uint64_t synced_hint; /* bytes already passed to writeback */
    uint8_t *index;       /* the newest index entries, on-disk form */
    size_t index_len;     /* entries in index */
    uint64_t count;       /* entries in all */
    uint8_t last_id[16];  /* the id of entry count - 1 */
    bool last_edge;       /* entry count - 1 is an edge */
    uint64_t block_count; /* entries that are blocks: the edges follow them */
    char spill_path[4096];
    int spill_fd;     /* older entries, once index has filled: -1 before */
    uint64_t spilled; /* entries in the spill file */
    uint64_t max_sequence;
    uint64_t tombstones; /* entries that are deletes */
    uint64_t *sums;      /* version 3: the checksums of the index and filter pages so far */
    size_t sum_count;
    size_t sum_cap;
    size_t in_page; /* bytes of the current page summed so far */
    struct checksum_stream stream;
    struct checksum_stream page; /* the current page's checksum */
};

/* What a finished table holds. */
struct table_info {
    uint64_t number;
    uint64_t size;  /* bytes of the file */
    uint64_t count; /* records */
};

/* Starts table number in dir. Returns -ENOMEM or an I/O error (nothing is left behind). */
KDB_MUST_USE int table_builder_start(struct table_builder *tb, const struct env *env,
                                     const char *dir, uint64_t number);

/*
 * Adds a record: ids must come in strictly increasing order. type is
 * WAL_RECORD_PUT_BLOCK or WAL_RECORD_DELETE_BLOCK; payload as in a log record.
 */
KDB_MUST_USE int table_builder_add(struct table_builder *tb, const uint8_t id[16],
                                   uint64_t sequence, unsigned type, const uint8_t *payload,
                                   size_t payload_len);

/* Adds a record copied verbatim from another table, with its checksum and tombstone bit. */
KDB_MUST_USE int table_builder_add_raw(struct table_builder *tb, const uint8_t id[16],
                                       const uint8_t *record, size_t len, uint64_t location_flags,
                                       uint64_t checksum);

/* Writes the index, radix table, bloom filter and footer, fsyncs and renames. */
KDB_MUST_USE int table_builder_finish(struct table_builder *tb, struct table_info *info);

/* Drops an unfinished table: closes and unlinks it, frees memory. */
void table_builder_abort(struct table_builder *tb);

/* ---- reading ---- */

struct reader;

struct table {
    uint64_t number;
    const uint8_t *map; /* the whole file */
    uint64_t size;
    uint32_t version;
    uint64_t count;       /* entries */
    uint64_t block_count; /* entries [0, block_count) are blocks, the rest edges */
    uint64_t data_end;
    const uint8_t *index; /* in map */
    uint8_t *filters;     /* a copy of radix table and bloom filter, in memory */
    uint64_t filters_size;
    const uint8_t *radix; /* in filters: (1 << radix_bits) + 1 u32 entries */
    unsigned radix_bits;
    const uint8_t *bloom; /* in filters */
    uint64_t bloom_blocks;
    uint64_t max_sequence;
    uint64_t tombstones;
    uint64_t *verified; /* a bit per record: its checksum matched (from the first table_read()) */
    /* Version 3: index, radix table and bloom filter are read in place and
     * checked a 4 KiB page at a time, the first time a reader needs the page
     * (any thread); the structure across pages is checked whole only by the
     * readers that go through every entry (table_check_all()). */
    uint64_t meta_size;         /* bytes of index, radix table and bloom filter */
    const uint8_t *sums;        /* in map: head, then a checksum per page */
    _Atomic uint64_t *pages_ok; /* a bit per page: its checksum and entries were checked */
    _Atomic bool all_ok;        /* table_check_all() passed */
    /* A brief handle's (KDB_OPEN_BRIEF), version 3: table_may_contain(),
     * table_find(), table_find_edge() and table_read() read the index,
     * filters and records through the reader, which checks each page and
     * record as it reads it; the page sums, checked whole at open, and the
     * readers of whole tables still use the mapping. Core only then, as
     * table_read() is; a compaction ends it first (table_end_brief()). */
    struct reader *reader;
};

/* A record found in a table, decoded. */
struct table_record {
    uint64_t sequence;
    unsigned type;          /* a WAL_RECORD_ type: put or delete of a block or an edge */
    const uint8_t *payload; /* as in a log record */
    uint32_t payload_len;
};

/*
 * Opens table number in dir; brief: for a brief handle (struct table's
 * reader). Returns -ENOENT, -EUCLEAN (inconsistent), -EBADMSG (a checksum),
 * -ENOTSUP (newer version), -ENOMEM or an I/O error; damage is logged with
 * the file name.
 */
KDB_MUST_USE int table_open(struct table *t, const struct env *env, const char *dir,
                            uint64_t number, bool brief);

/* Lookups go through the mapping from now on (any thread again); core only. */
void table_end_brief(struct table *t);
void table_close(struct table *t, const struct env *env);

/* An id's first 8 bytes, big-endian: what radix buckets are cut from. */
static inline uint64_t table_id_prefix(const uint8_t *id)
{
    return get_be64(id);
}

/* The radix bucket of an id whose first 8 bytes, big-endian, are prefix. */
static inline uint64_t table_bucket(uint64_t prefix, unsigned radix_bits)
{
    return radix_bits ? prefix >> (64 - radix_bits) : 0;
}

/*
 * Whether id may be in the table (1) or is not (0); hash is hash_id(id).
 * Never a false "no". Returns -EBADMSG or -EUCLEAN if the filter's page is
 * damaged.
 */
KDB_MUST_USE int table_may_contain(const struct table *t, const struct env *env, uint64_t hash);

/* Starts loading what a lookup of id reads first: its bloom line and radix bucket. */
static inline void table_prefetch(const struct table *t, uint64_t hash, uint64_t prefix)
{
    if (t->reader) return; /* a brief handle reads nothing ahead */
    __builtin_prefetch(t->bloom +
                       (((hash >> 32) * t->bloom_blocks) >> 32) * TABLE_BLOOM_BLOCK_SIZE);
    __builtin_prefetch(t->radix + table_bucket(prefix, t->radix_bits) * 4);
}

/* Starts loading the index entries a lookup of id searches (its radix bucket's, read already). */
void table_prefetch_entries(const struct table *t, const uint8_t id[16]);

/* Starts loading the start of entry i's record. */
void table_prefetch_record(const struct table *t, uint64_t i);

/*
 * The index position of block id (through the radix table: blocks only), or
 * -ENOENT, or -EBADMSG / -EUCLEAN when a page it needs is damaged.
 */
int64_t table_find(const struct table *t, const struct env *env, const uint8_t id[16]);

/* The index position of the edge with this key (a binary search of the edges), as table_find(). */
int64_t table_find_edge(const struct table *t, const struct env *env, const uint8_t key[16]);

/*
 * Checks every page of the index and filters and the structure across them
 * (order, records tiling the data, the radix table), once per handle: the
 * readers that go through every entry (scans, compaction, check) call it
 * first. Version 1 and 2 tables were checked so at open. With release, the
 * pages are given back to the VFS as they are checked (a compaction reads
 * them again in order; a large table's index is hundreds of MiB). Returns
 * -EBADMSG or -EUCLEAN, logged.
 */
KDB_MUST_USE int table_check_all(const struct table *t, const struct env *env, bool release);

/* The first whole page of t's index, as an offset in its map. */
uint64_t table_index_page(const struct table *t);

/*
 * Gives back t's mapped pages from *released up to upto (offsets in its
 * map; upto rounded down to a multiple of unit, a multiple of 4096) through
 * the VFS's release, if it has one; *released moves on.
 */
void table_give_back(const struct table *t, const struct env *env, uint64_t *released,
                     uint64_t upto, uint64_t unit);

/* Gives back t's index, radix table and bloom filter pages (the VFS's release), if it can. */
void table_release_meta(const struct table *t, const struct env *env);

/* Whether index entry i is a tombstone, an edge, and its id (an edge's key); after
 * table_check_all(), or a table_find() or table_read() that reached entry i. */
bool table_is_tombstone(const struct table *t, uint64_t i);
bool table_is_edge(const struct table *t, uint64_t i);
const uint8_t *table_id_at(const struct table *t, uint64_t i);

/*
 * Whether entry i, which a table_find() reached, is a tombstone: 1 or 0,
 * read where that lookup read it (a brief handle's reader, or the
 * mapping); or for a brief handle -ENOMEM, an I/O error or -KDB_ECORRUPT.
 */
KDB_MUST_USE int table_found_is_tombstone(const struct table *t, const struct env *env, uint64_t i);

/* Entry i's record bytes (with padding) and its stored checksum and location flags. */
void table_raw_at(const struct table *t, uint64_t i, const uint8_t **bytes, size_t *len,
                  uint64_t *flags, uint64_t *checksum);

/*
 * Decodes entry i, checking its checksum the first time (core only).
 * Returns -EBADMSG or -EUCLEAN, logged. Through a brief table's reader, the
 * record is read and checked each time, and out->payload is valid until the
 * next table_read() of t (else until t closes); -ENOMEM and I/O errors too.
 */
KDB_MUST_USE int table_read(struct table *t, const struct env *env, uint64_t i,
                            struct table_record *out);

/* Decodes entry i after checking its checksum every time; any thread. */
KDB_MUST_USE int table_read_checked(const struct table *t, const struct env *env, uint64_t i,
                                    struct table_record *out);

/* The file name of table number in dir ("sst-%016x.sst"); -ENAMETOOLONG. */
KDB_MUST_USE int table_path(char *path, size_t size, const char *dir, uint64_t number,
                            const char *suffix);

#endif /* KDB_ENGINE_TABLE_H */
