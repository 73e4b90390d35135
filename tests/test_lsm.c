/* SPDX-License-Identifier: MIT */
/*
 * test_lsm.c: the LSM tree: flushes, SSTables, tombstones, compaction.
 *
 * Goal: what a caller relies on once data leaves the memtable: reads see
 * the newest version wherever it lives; a delete is never undone by a
 * flush, a compaction or a reopen; flushed log segments go away; damage to
 * a table or to the manifest is reported, never served.
 *
 * Method: databases on tests/vfs_mem.c with a memtable of a few KiB, so
 * that a handful of changes makes a table. The randomized run uses the
 * helper threads and checks the engine against test_util.c's model across
 * flushes, compactions, clean reopens and power cuts; the corruption
 * sweeps flip every byte of a small table and of the manifest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "checksum.h"
#include "coding.h"
#include "kdb.h"
#include "test_util.h"
#include "vfs_fault.h"
#include "vfs_mem.h"

#define DB             "db"
#define TABLE_1        DB "/sst-0000000000000001.sst"
#define MANIFEST       DB "/MANIFEST"
#define SMALL_MEMTABLE (12u << 10)

static void lsm_options(struct kdb_options *options, struct vfs_mem *mem, bool foreground)
{
    test_options(options, vfs_mem_vfs(mem));
    options->memtable_size_bytes = SMALL_MEMTABLE;
    if (foreground) options->flags |= KDB_OPEN_FOREGROUND;
}

static void put_text(struct kdb *db, unsigned index, const char *text)
{
    struct kdb_block block = {.id = test_id(index), .content = text, .content_len = strlen(text)};
    assert_int_equal(kdb_put_block(db, &block, NULL), 0);
}

static void assert_text(struct kdb *db, unsigned index, const char *text)
{
    struct kdb_id id = test_id(index);
    struct kdb_block view;

    assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
    assert_int_equal(view.content_len, strlen(text));
    assert_memory_equal(view.content, text, view.content_len);
}

static void assert_gone(struct kdb *db, unsigned index)
{
    struct kdb_id id = test_id(index);
    struct kdb_block view;
    uint8_t buf[8];
    size_t got = 1;

    assert_int_equal(kdb_get_block_view(db, &id, &view), -ENOENT);
    assert_int_equal(kdb_read_block(db, &id, 0, buf, sizeof(buf), &got), -ENOENT);
    assert_int_equal(got, 0);
    assert_int_equal(kdb_delete_block(db, &id), -ENOENT);
}

static int count_block(void *ctx, const struct kdb_block *block)
{
    (void)block;
    (*(uint64_t *)ctx)++;
    return 0;
}

struct order {
    struct kdb_id last;
    uint64_t count;
};

static int check_order(void *ctx, const struct kdb_block *block)
{
    struct order *o = ctx;

    if (o->count++) assert_true(memcmp(o->last.bytes, block->id.bytes, KDB_ID_SIZE) < 0);
    o->last = block->id;
    return 0;
}

static uint64_t scan_count(struct kdb *db)
{
    uint64_t n = 0;
    assert_int_equal(kdb_scan_blocks(db, count_block, &n), 0);
    return n;
}

/* A block big enough that a few of them fill the small memtable. */
static void put_sized(struct kdb *db, unsigned index, uint32_t salt, size_t len)
{
    struct test_op op = {.kind = TEST_OP_PUT, .id_index = index, .content_len = len, .salt = salt};
    struct test_history history = {0};

    assert_int_equal(test_apply(db, &op, &history), 0);
}

static void test_lsm_flushed_blocks_read_back_and_their_log_goes(void **state)
{
    struct vfs_mem *mem = vfs_mem_new(3);
    struct kdb_options options;
    struct kdb_stats stats;
    struct kdb *db;

    (void)state;
    lsm_options(&options, mem, false);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned round = 0; round < 40; round++) {
        for (unsigned i = 0; i < 200; i++) {
            char text[64];
            snprintf(text, sizeof(text), "block %u, round %u", i, round);
            put_text(db, i, text);
        }
    }
    assert_int_equal(kdb_flush(db), 0);
    kdb_get_stats(db, &stats);
    assert_true(stats.flush_count >= 2);
    assert_true(stats.table_count >= 1);
    assert_int_equal(stats.block_count, 200);
    assert_int_equal(scan_count(db), 200);
    assert_text(db, 7, "block 7, round 39");
    /* Memtable and tables merge into one scan in id order. */
    for (unsigned i = 200; i < 230; i++)
        put_text(db, i, "in the memtable");
    struct order order = {.count = 0};
    assert_int_equal(kdb_scan_blocks(db, check_order, &order), 0);
    assert_int_equal(order.count, 230);
    for (unsigned i = 200; i < 230; i++) {
        struct kdb_id id = test_id(i);
        assert_int_equal(kdb_delete_block(db, &id), 0);
    }
    assert_int_equal(kdb_close(db), 0);

    assert_int_equal(kdb_open(DB, &options, &db), 0);
    kdb_get_stats(db, &stats);
    /* Everything was flushed: the log starts empty, and so does replay. */
    assert_int_equal(stats.recovered_records, 0);
    assert_int_equal(stats.wal_segment_count, 1);
    assert_int_equal(stats.block_count, 200);
    for (unsigned i = 0; i < 200; i++) {
        char text[64];
        snprintf(text, sizeof(text), "block %u, round 39", i);
        assert_text(db, i, text);
    }
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(vfs_mem_open_count(mem), 0);
    vfs_mem_free(mem);
}

/* A table of more ids than a builder holds in memory: its index goes through a spill file. */
static void test_lsm_large_table_reads_back(void **state)
{
    struct vfs_mem *mem = vfs_mem_new(13);
    struct kdb_options options;
    struct kdb_stats stats;
    struct kdb *db;
    const unsigned n = 40000;

    (void)state;
    lsm_options(&options, mem, true);
    options.memtable_size_bytes = 64u << 20;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned i = 0; i < n; i++) {
        struct kdb_block block = {.content = &i, .content_len = sizeof(i)};
        memcpy(block.id.bytes, &i, sizeof(i));
        assert_int_equal(kdb_put_block(db, &block, NULL), 0);
    }
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    kdb_get_stats(db, &stats);
    assert_int_equal(stats.table_count, 1);
    assert_int_equal(stats.block_count, n);
    for (unsigned i = 0; i < n; i += 7) {
        struct kdb_id id = {{0}};
        struct kdb_block view;
        memcpy(id.bytes, &i, sizeof(i));
        assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
        assert_int_equal(view.content_len, sizeof(i));
        assert_memory_equal(view.content, &i, sizeof(i));
    }
    struct order order = {.count = 0};
    assert_int_equal(kdb_scan_blocks(db, check_order, &order), 0);
    assert_int_equal(order.count, n);
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(vfs_mem_file_size(mem, DB "/sst-0000000000000001.index.tmp"), -1);
    vfs_mem_free(mem);
}

/* The POSIX VFS, counting the ranges of mappings that the engine gives back. */
static uint64_t released_bytes;

/* Ids for more blocks than test_id() tells apart. */
static struct kdb_id wide_id(unsigned index)
{
    struct kdb_id id;

    memset(id.bytes, 0x5c, sizeof(id.bytes));
    memcpy(id.bytes, &index, sizeof(index));
    return id;
}

/* The mappings made, and the bytes given back in the last 30% of each (where a table's index is). */
static struct mapping {
    const uint8_t *addr;
    uint64_t size;
} mappings[64];
static size_t mapping_count;
static uint64_t released_at_end;

static int record_map(void *ctx, int fd, uint64_t size, const void **addr_out)
{
    int rc = kdb_vfs_posix()->map(ctx, fd, size, addr_out);

    if (rc == 0 && mapping_count < sizeof(mappings) / sizeof(mappings[0]))
        mappings[mapping_count++] = (struct mapping){*addr_out, size};
    return rc;
}

static void count_release(void *ctx, const void *addr, uint64_t size)
{
    const uint8_t *from = addr, *to = from + size;

    released_bytes += size;
    for (size_t i = 0; i < mapping_count; i++) {
        const uint8_t *end = mappings[i].addr + mappings[i].size;
        const uint8_t *tail = end - mappings[i].size * 3 / 10;
        if (from >= end || to <= mappings[i].addr) continue;
        if (to > tail) released_at_end += (uint64_t)(to - (from > tail ? from : tail));
    }
    kdb_vfs_posix()->release(ctx, addr, size);
}

/*
 * On the real file system through vfs: three tables of per_table blocks
 * each of content_len bytes (interleaved ids), compacted into one; then,
 * after a reopen, every block reads back whole.
 */
static void compact_three_tables(const struct kdb_vfs *vfs, unsigned per_table, size_t content_len)
{
    char dir[] = "/tmp/kausal-lsm-release.XXXXXX", path[64], out[256];
    uint8_t *content = malloc(content_len);
    const unsigned tables = 3;
    struct kdb_options options;
    struct kdb_stats stats;
    struct kdb *db;

    assert_non_null(content);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/db", dir);
    test_options(&options, vfs);
    options.flags |= KDB_OPEN_FOREGROUND | KDB_OPEN_CREATE;
    assert_int_equal(kdb_open(path, &options, &db), 0);
    for (unsigned t = 0; t < tables; t++) {
        for (unsigned i = t; i < per_table * tables; i += tables) {
            struct kdb_block block = {
                .id = wide_id(i), .content = content, .content_len = content_len};
            for (size_t b = 0; b < content_len; b++)
                content[b] = test_content_byte(i, b);
            assert_int_equal(kdb_put_block(db, &block, NULL), 0);
        }
        assert_int_equal(kdb_flush(db), 0);
    }
    assert_int_equal(kdb_compact(db), 0);
    kdb_get_stats(db, &stats);
    assert_int_equal(stats.table_count, 1);
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(kdb_open(path, &options, &db), 0);
    assert_int_equal(scan_count(db), per_table * tables);
    for (unsigned i = 0; i < per_table * tables; i++) {
        struct kdb_id id = wide_id(i);
        struct kdb_block view;
        assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
        assert_int_equal(view.content_len, content_len);
        for (size_t b = 0; b < content_len; b++)
            assert_int_equal(((const uint8_t *)view.content)[b], test_content_byte(i, b));
    }
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(test_sh(out, sizeof(out), "rm -rf %s", dir), 0);
    free(content);
}

/*
 * A compaction on the real file system gives back the pages of its inputs
 * that it has read (so that a large one does not keep them all in the
 * process), and what it writes is every block, whole.
 */
static void test_lsm_compaction_gives_back_what_it_read(void **state)
{
    struct kdb_vfs vfs = *kdb_vfs_posix();

    (void)state;
    vfs.release = count_release;
    released_bytes = 0;
    compact_three_tables(&vfs, 3000, 1000);    /* about 3 MiB each */
    assert_true(released_bytes >= (4u << 20)); /* at least 2 MiB of two of the inputs */
}

/*
 * Tables of small blocks have an index as large as their records, at their
 * end: a compaction gives back its pages too, and every block reads back.
 */
static void test_lsm_compaction_gives_back_the_index_it_read(void **state)
{
    struct kdb_vfs vfs = *kdb_vfs_posix();

    (void)state;
    vfs.map = record_map;
    vfs.release = count_release;
    mapping_count = 0;
    released_at_end = 0;
    compact_three_tables(&vfs, 60000, 4);
    /* Each input's index is about 1.9 MB (32 bytes an entry). */
    assert_true(released_at_end >= 3 * (1u << 20));
}

/*
 * A bulk open gives back its tables' index pages after each flush (the
 * puts in between probed them); without the flag nothing is given back
 * while no compaction runs. Every block reads back either way.
 */
static void test_lsm_bulk_open_gives_back_indexes_after_each_flush(void **state)
{
    (void)state;
    for (int bulk = 0; bulk < 2; bulk++) {
        struct kdb_vfs vfs = *kdb_vfs_posix();
        char dir[] = "/tmp/kausal-lsm-bulk.XXXXXX", path[64], out[256];
        const unsigned per_table = 60000, tables = 2;
        struct kdb_options options;
        struct kdb_stats stats;
        struct kdb *db;

        vfs.map = record_map;
        vfs.release = count_release;
        mapping_count = 0;
        released_at_end = 0;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/db", dir);
        test_options(&options, &vfs);
        options.flags |= KDB_OPEN_FOREGROUND | KDB_OPEN_CREATE | (bulk ? KDB_OPEN_BULK : 0);
        assert_int_equal(kdb_open(path, &options, &db), 0);
        for (unsigned t = 0; t < tables; t++) {
            for (unsigned i = t; i < per_table * tables; i += tables) {
                struct kdb_block block = {.id = wide_id(i), .content = &i, .content_len = 4};
                assert_int_equal(kdb_put_block(db, &block, NULL), 0);
            }
            assert_int_equal(kdb_flush(db), 0);
        }
        kdb_get_stats(db, &stats);
        assert_int_equal(stats.table_count, tables);
        assert_int_equal(stats.compaction_count, 0);
        /* The first table's index (about 1.9 MB) after the second flush, at least. */
        if (bulk)
            assert_true(released_at_end >= (1u << 20));
        else
            assert_int_equal(released_at_end, 0);
        for (unsigned i = 0; i < per_table * tables; i++) {
            struct kdb_id id = wide_id(i);
            struct kdb_block view;
            assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
            assert_memory_equal(view.content, &i, 4);
        }
        assert_int_equal(kdb_close(db), 0);
        assert_int_equal(test_sh(out, sizeof(out), "rm -rf %s", dir), 0);
    }
}

/* The VmFlags line of the mapping of the file whose path ends in suffix, in this process. */
static bool mapping_flags(const char *suffix, char *flags, size_t size)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[4096];
    bool in_it = false, found = false;

    assert_non_null(f);
    while (!found && fgets(line, sizeof(line), f)) {
        size_t len = strcspn(line, "\n");
        line[len] = '\0';
        if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
            in_it = len >= strlen(suffix) && strcmp(line + len - strlen(suffix), suffix) == 0;
        else if (in_it && strncmp(line, "VmFlags:", 8) == 0) {
            size_t n = strlen(line + 8) < size - 1 ? strlen(line + 8) : size - 1;
            memcpy(flags, line + 8, n);
            flags[n] = '\0';
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* Whether the kernel takes MADV_HUGEPAGE advice (transparent huge pages, not "never"). */
static bool huge_pages_offered(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    bool offered;

    if (!f) return false;
    offered = fgets(mode, sizeof(mode), f) && !strstr(mode, "[never]");
    fclose(f);
    return offered;
}

/*
 * The POSIX VFS offers a large table's mapping to huge pages ("hg"); the
 * small-pages one does not (each read would make 2 MiB of it resident), and
 * reads the same blocks.
 */
static void test_lsm_small_pages_vfs_maps_tables_without_huge_pages(void **state)
{
    char dir[] = "/tmp/kausal-lsm-pages.XXXXXX", path[64], out[256], flags[256];
    uint8_t content[1000];
    const unsigned n = 4000; /* about 4 MiB: over a huge page */

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/db", dir);
    for (int small = 0; small < 2; small++) {
        struct kdb_options options;
        struct kdb *db;
        test_options(&options, small ? kdb_vfs_posix_small_pages() : kdb_vfs_posix());
        options.flags |= KDB_OPEN_FOREGROUND | KDB_OPEN_CREATE;
        assert_int_equal(kdb_open(path, &options, &db), 0);
        for (unsigned i = 0; !small && i < n; i++) {
            struct kdb_block block = {
                .id = wide_id(i), .content = content, .content_len = sizeof(content)};
            memset(content, (int)(i & 0xff), sizeof(content));
            assert_int_equal(kdb_put_block(db, &block, NULL), 0);
        }
        if (!small) assert_int_equal(kdb_flush(db), 0);
        for (unsigned i = 0; i < n; i++) {
            struct kdb_id id = wide_id(i);
            struct kdb_block view;
            assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
            assert_int_equal(view.content_len, sizeof(content));
            assert_int_equal(((const uint8_t *)view.content)[0], i & 0xff);
        }
        assert_true(mapping_flags(".sst", flags, sizeof(flags)));
        if (small)
            assert_null(strstr(flags, " hg"));
        else if (huge_pages_offered())
            assert_non_null(strstr(flags, " hg"));
        assert_int_equal(kdb_close(db), 0);
    }
    assert_int_equal(test_sh(out, sizeof(out), "rm -rf %s", dir), 0);
}

/*
 * Memtables of large chunks, turned over a dozen times: each flushed one's
 * chunks are kept and serve the next, dirty, and every block still reads
 * back as written, from the memtables and from the tables.
 */
static void test_lsm_memtables_on_reused_memory_keep_every_block(void **state)
{
    struct vfs_mem *mem = vfs_mem_new(17);
    struct kdb_options options;
    struct kdb_stats stats;
    struct kdb *db;
    uint8_t content[2000];
    const unsigned n = 40000; /* 80 MB of contents: a dozen 6 MiB memtables */

    (void)state;
    lsm_options(&options, mem, false);
    options.memtable_size_bytes = 6u << 20;
    options.arena_chunk_size_bytes = 2u << 20; /* chunks the allocator maps, and keeps */
    options.wal_segment_size_bytes = 8u << 20;
    options.wal_buffer_size_bytes = 1u << 20;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned i = 0; i < n; i++) {
        struct kdb_block block = {
            .id = wide_id(i), .content = content, .content_len = sizeof(content)};
        for (size_t b = 0; b < sizeof(content); b++)
            content[b] = test_content_byte(i, b);
        assert_int_equal(kdb_put_block(db, &block, NULL), 0);
    }
    kdb_get_stats(db, &stats);
    assert_true(stats.flush_count >= 10);
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < n; i++) {
            struct kdb_id id = wide_id(i);
            struct kdb_block view;
            assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
            assert_int_equal(view.content_len, sizeof(content));
            for (size_t b = 0; b < sizeof(content); b += 97)
                assert_int_equal(((const uint8_t *)view.content)[b], test_content_byte(i, b));
        }
        if (pass == 0) {
            assert_int_equal(kdb_close(db), 0);
            assert_int_equal(kdb_open(DB, &options, &db), 0);
        }
    }
    assert_int_equal(kdb_close(db), 0);
    vfs_mem_free(mem);
}

/* A tombstone shadows a put in an older table, through flush, compaction and reopen. */
static void test_lsm_delete_shadows_older_tables_and_stays_deleted(void **state)
{
    struct vfs_mem *mem = vfs_mem_new(5);
    struct kdb_options options;
    struct kdb_stats stats;
    struct kdb *db;

    (void)state;
    lsm_options(&options, mem, false);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    put_text(db, 1, "first");
    put_text(db, 2, "kept");
    assert_int_equal(kdb_flush(db), 0);
    put_text(db, 1, "second");
    assert_int_equal(kdb_flush(db), 0);
    struct kdb_id id = test_id(1);
    assert_int_equal(kdb_delete_block(db, &id), 0);
    assert_gone(db, 1);
    assert_int_equal(kdb_flush(db), 0);
    kdb_get_stats(db, &stats);
    assert_int_equal(stats.table_count, 3);
    assert_int_equal(stats.block_count, 1);
    assert_gone(db, 1);
    assert_int_equal(scan_count(db), 1);

    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    assert_gone(db, 1);
    kdb_get_stats(db, &stats);
    assert_int_equal(stats.block_count, 1);

    /* Merging every table drops the tombstone and both versions under it. */
    assert_int_equal(kdb_compact(db), 0);
    kdb_get_stats(db, &stats);
    assert_int_equal(stats.table_count, 1);
    assert_int_equal(stats.compaction_count, 1);
    assert_gone(db, 1);
    assert_text(db, 2, "kept");
    assert_int_equal(kdb_close(db), 0);
    vfs_mem_crash(mem);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    assert_gone(db, 1);
    assert_text(db, 2, "kept");
    kdb_get_stats(db, &stats);
    assert_int_equal(stats.block_count, 1);

    /* Putting it again brings a new block, not an old version. */
    put_text(db, 1, "third");
    assert_int_equal(kdb_compact(db), 0);
    assert_text(db, 1, "third");
    assert_int_equal(kdb_close(db), 0);
    vfs_mem_free(mem);
}

/* Deleting everything, then compacting, leaves no table at all. */
static void test_lsm_compacting_only_tombstones_leaves_nothing(void **state)
{
    struct vfs_mem *mem = vfs_mem_new(9);
    struct kdb_options options;
    struct kdb_stats stats;
    struct kdb *db;

    (void)state;
    lsm_options(&options, mem, true);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned i = 0; i < 100; i++)
        put_sized(db, i, i, 500);
    assert_int_equal(kdb_flush(db), 0);
    for (unsigned i = 0; i < 100; i++) {
        struct kdb_id id = test_id(i);
        assert_int_equal(kdb_delete_block(db, &id), 0);
    }
    assert_int_equal(kdb_compact(db), 0);
    kdb_get_stats(db, &stats);
    assert_int_equal(stats.table_count, 0);
    assert_int_equal(stats.table_bytes, 0);
    assert_int_equal(stats.block_count, 0);
    assert_int_equal(scan_count(db), 0);
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    assert_int_equal(scan_count(db), 0);
    for (unsigned i = 0; i < 100; i++)
        assert_gone(db, i);
    assert_int_equal(kdb_close(db), 0);
    vfs_mem_free(mem);
}

/* ---- the randomized run ---- */

static void run_ops(struct kdb *db, const struct test_op *ops, size_t count,
                    struct test_history *history)
{
    for (size_t i = 0; i < count; i++) {
        int rc = test_apply(db, &ops[i], history);
        if (rc < 0 && rc != -ENOENT) return;
    }
}

/*
 * Rounds of random changes on the helper threads, each ended by a clean
 * close, a full compaction, or a power cut (the disk fails at a random
 * later change, the process goes on until it notices, then the power goes,
 * torn or not). After each reopen the database must equal the model after
 * some prefix that holds every acknowledged change.
 */
static void random_run(bool foreground)
{
    uint64_t seed = test_seed(20261126 + foreground);
    uint64_t rng = seed, flushes = 0, compactions = 0;
    struct vfs_mem *mem = vfs_mem_new(seed);
    struct test_history *history = calloc(1, sizeof(*history));
    struct kdb_options options;
    struct kdb *db;
    unsigned rounds = test_quick() ? 12 : 60;

    assert_non_null(history);
    lsm_options(&options, mem, foreground);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned round = 0; round < rounds; round++) {
        struct test_op ops[60];
        struct kdb_stats stats;
        struct vfs_fault fault;
        uint64_t r = test_random(&rng);

        if (history->count + 60 > MODEL_CHANGES_MAX) break;
        test_workload_graph(ops, 60, r, 1 + r % 3000);
        if (r % 4 == 3) {
            /* A power cut at a random change of this round. */
            assert_int_equal(kdb_close(db), 0);
            history->acked_count = history->count;
            vfs_fault_init(&fault, vfs_mem_vfs(mem));
            options.vfs = &fault.vfs;
            assert_int_equal(kdb_open(DB, &options, &db), 0);
            vfs_fault_fail(&fault, fault.change_count + 1 + r % 97, -EIO, true);
        }
        run_ops(db, ops, 60, history);
        if (r % 4 != 3) test_check_prefix(db, history, history->count);
        kdb_get_stats(db, &stats);
        flushes += stats.flush_count;
        compactions += stats.compaction_count;
        switch (r % 4) {
        case 0:
            assert_int_equal(kdb_close(db), 0);
            history->acked_count = history->count;
            break;
        case 1:
            assert_int_equal(kdb_compact(db), 0);
            kdb_get_stats(db, &stats);
            assert_true(stats.table_count <= 1);
            compactions += stats.compaction_count;
            test_check_prefix(db, history, history->count);
            assert_int_equal(kdb_close(db), 0);
            history->acked_count = history->count;
            break;
        case 2:
            assert_int_equal(kdb_sync(db), 0);
            history->acked_count = history->count;
            (void)kdb_close(db);
            vfs_mem_crash_torn(mem, r);
            break;
        default:
            (void)kdb_close(db);
            if (r & 16)
                vfs_mem_crash_torn(mem, r);
            else
                vfs_mem_crash(mem);
            options.vfs = vfs_mem_vfs(mem);
            break;
        }
        db = test_reopen_checked(DB, &options, history, seed, round);
    }
    assert_int_equal(kdb_close(db), 0);
    printf("# %s: %llu flushes, %llu compactions across %u rounds\n",
           foreground ? "foreground" : "helper threads", (unsigned long long)flushes,
           (unsigned long long)compactions, rounds);
    assert_true(flushes >= rounds / 4);
    assert_true(compactions >= rounds / 12);
    free(history);
    vfs_mem_free(mem);
}

static void test_lsm_random_run_matches_model(void **state)
{
    (void)state;
    random_run(false);
}

static void test_lsm_random_run_matches_model_in_foreground(void **state)
{
    (void)state;
    random_run(true);
}

/* ---- corruption sweeps ---- */

struct expected {
    bool live;
    struct test_op put;
};

/* The state after every change of history. */
static void expected_state(const struct test_history *history, struct expected *expect)
{
    memset(expect, 0, MODEL_IDS * sizeof(*expect));
    for (uint64_t k = 0; k < history->count; k++) {
        const struct test_op *op = &history->changes[k];
        if (op->kind != TEST_OP_PUT && op->kind != TEST_OP_DELETE) continue;
        expect[op->id_index].live = op->kind == TEST_OP_PUT;
        expect[op->id_index].put = *op;
    }
}

static bool is_damage(int rc)
{
    return rc == -KDB_ECHECKSUM || rc == -KDB_ECORRUPT || rc == -ENOTSUP;
}

/* Every read returns the right block or reports damage; returns how many reported it. */
static unsigned check_or_damage(struct kdb *db, const struct expected *expect)
{
    static uint8_t content[1 << 16];
    unsigned damaged = 0;

    for (unsigned i = 0; i < MODEL_IDS; i++) {
        struct kdb_id id = test_id(i);
        struct kdb_block view, want;
        char uri[64], meta[128];
        int rc = kdb_get_block_view(db, &id, &view);

        if (is_damage(rc)) {
            damaged++;
            continue;
        }
        if (!expect[i].live) {
            assert_int_equal(rc, -ENOENT);
            continue;
        }
        assert_int_equal(rc, 0);
        test_block_for(&expect[i].put, &want, content, uri, sizeof(uri), meta, sizeof(meta));
        assert_int_equal(view.content_len, want.content_len);
        assert_memory_equal(view.content, want.content, want.content_len);
        assert_int_equal(view.source_uri_len, want.source_uri_len);
        assert_memory_equal(view.source_uri, want.source_uri, want.source_uri_len);
        assert_int_equal(view.metadata_len, want.metadata_len);
        assert_memory_equal(view.metadata, want.metadata, want.metadata_len);
    }
    return damaged;
}

/* A database whose changes all sit in one table, closed. */
static struct vfs_mem *one_table_of(struct test_history *history, struct kdb_options *options,
                                    bool edges)
{
    struct vfs_mem *mem = vfs_mem_new(21);
    struct test_op ops[40];
    struct kdb *db;

    lsm_options(options, mem, true);
    options->memtable_size_bytes = 1u << 20; /* only kdb_flush() makes the table */
    assert_int_equal(kdb_open(DB, options, &db), 0);
    test_workload(ops, 40, 77, 300);
    run_ops(db, ops, 40, history);
    if (edges) {
        /* Edges among three blocks, one taken back, and one that goes with its
         * source's delete: puts and both kinds of tombstone. */
        const struct test_op graph[] = {
            {.kind = TEST_OP_PUT, .id_index = 20, .content_len = 10, .salt = 1},
            {.kind = TEST_OP_PUT, .id_index = 21, .content_len = 20, .salt = 2},
            {.kind = TEST_OP_PUT, .id_index = 22, .content_len = 30, .salt = 3},
            {.kind = TEST_OP_PUT, .id_index = 23, .content_len = 40, .salt = 4},
            {.kind = TEST_OP_LINK, .id_index = 20, .target_index = 21, .edge_type = KDB_EDGE_CALLS},
            {.kind = TEST_OP_LINK,
             .id_index = 21,
             .target_index = 20,
             .edge_type = KDB_EDGE_REFERENCES},
            {.kind = TEST_OP_LINK,
             .id_index = 20,
             .target_index = 22,
             .edge_type = KDB_EDGE_CONTAINS},
            {.kind = TEST_OP_LINK, .id_index = 22, .target_index = 22, .edge_type = KDB_EDGE_CALLS},
            {.kind = TEST_OP_LINK,
             .id_index = 20,
             .target_index = 21,
             .edge_type = KDB_EDGE_IMPORTS},
            {.kind = TEST_OP_UNLINK,
             .id_index = 20,
             .target_index = 21,
             .edge_type = KDB_EDGE_CALLS},
            {.kind = TEST_OP_LINK, .id_index = 23, .target_index = 20, .edge_type = KDB_EDGE_CALLS},
            {.kind = TEST_OP_DELETE, .id_index = 23},
        };
        for (size_t i = 0; i < sizeof(graph) / sizeof(graph[0]); i++)
            assert_int_equal(test_apply(db, &graph[i], history), 0);
    }
    assert_int_equal(kdb_flush(db), 0);
    assert_int_equal(kdb_close(db), 0);
    assert_true(vfs_mem_file_size(mem, TABLE_1) > 0);
    return mem;
}

/* A table of blocks alone (the format 1 golden files hold these changes). */
static struct vfs_mem *one_table(struct test_history *history, struct kdb_options *options)
{
    return one_table_of(history, options, false);
}

/* Every byte of a table flipped in turn, opened with flags added: reported, never served. */
static void flipped_table_sweep(unsigned flags)
{
    struct test_history *history = calloc(1, sizeof(*history));
    struct expected expect[MODEL_IDS];
    struct kdb_options options;
    struct vfs_mem *base;
    int64_t size;
    unsigned at_open = 0, at_read = 0;

    base = one_table(history, &options);
    options.flags |= flags;
    expected_state(history, expect);
    size = vfs_mem_file_size(base, TABLE_1);
    for (int64_t i = 0; i < size; i += test_quick() ? 7 : 1) {
        struct vfs_mem *mem = vfs_mem_clone(base);
        struct kdb *db;
        int rc;

        vfs_mem_file_data(mem, TABLE_1)[i] ^= 0x10;
        assert_int_equal(vfs_mem_commit(mem, TABLE_1), 0);
        options.vfs = vfs_mem_vfs(mem);
        rc = kdb_open(DB, &options, &db);
        if (rc != 0) {
            if (!is_damage(rc))
                fail_msg("byte %lld: open returned %s", (long long)i, kdb_strerror(rc));
            at_open++;
        } else {
            unsigned damaged = check_or_damage(db, expect);
            /* A record's bytes are covered by its checksum: a flip in one is seen. */
            at_read += damaged != 0;
            assert_int_equal(kdb_close(db), 0);
        }
        vfs_mem_free(mem);
    }
    printf("# %lld table bytes flipped: %u refused at open, %u reported by a read\n",
           (long long)size, at_open, at_read);
    assert_true(at_open > 0 && at_read > 0);
    assert_int_equal(at_open + at_read, test_quick() ? (size + 6) / 7 : size);
    vfs_mem_free(base);
    free(history);
}

static void test_lsm_every_flipped_table_byte_is_reported_never_served(void **state)
{
    (void)state;
    flipped_table_sweep(0);
}

/* A brief handle reads with pread and checks each page as it reads it: the same guarantee. */
static void test_lsm_every_flipped_table_byte_is_reported_never_served_brief(void **state)
{
    (void)state;
    flipped_table_sweep(KDB_OPEN_BRIEF);
}

static void test_lsm_cut_table_is_refused(void **state)
{
    struct test_history *history = calloc(1, sizeof(*history));
    struct kdb_options options;
    struct vfs_mem *base;
    int64_t size;

    (void)state;
    base = one_table(history, &options);
    size = vfs_mem_file_size(base, TABLE_1);
    for (int64_t cut = 0; cut < size; cut += test_quick() ? 13 : 1) {
        for (int brief = 0; brief < 2; brief++) { /* mapped, and read as a brief handle reads */
            struct vfs_mem *mem = vfs_mem_clone(base);
            struct kdb *db;
            int rc;

            assert_int_equal(vfs_mem_set_size(mem, TABLE_1, (uint64_t)cut), 0);
            options.vfs = vfs_mem_vfs(mem);
            options.flags =
                brief ? options.flags | KDB_OPEN_BRIEF : options.flags & ~KDB_OPEN_BRIEF;
            rc = kdb_open(DB, &options, &db);
            if (!is_damage(rc))
                fail_msg("cut at %lld%s: open returned %s", (long long)cut, brief ? ", brief" : "",
                         kdb_strerror(rc));
            vfs_mem_free(mem);
        }
    }
    vfs_mem_free(base);
    free(history);
}

/*
 * A brief handle (KDB_OPEN_BRIEF) reads its blocks and edges with pread,
 * not through the mappings, and answers as any handle does: blocks, edges,
 * check. A bit flipped in what pread returns is reported, and the next read
 * serves the block. Its changes, a compaction among them, are kept.
 */
static void test_lsm_brief_handle_reads_by_pread_and_answers_the_same(void **state)
{
    struct test_history *history = calloc(1, sizeof(*history));
    struct kdb_options options;
    struct vfs_fault fault;
    struct vfs_mem *mem;
    struct test_op ops[60];
    struct kdb_id id = test_id(0);
    struct kdb_block view;
    struct kdb *db;
    uint64_t records, reads;
    unsigned live = MODEL_IDS;

    (void)state;
    mem = one_table_of(history, &options, true);
    vfs_fault_init(&fault, vfs_mem_vfs(mem));
    options.vfs = &fault.vfs;

    /* A mapped handle's get reads nothing with pread; a brief one's does. */
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned i = 0; i < MODEL_IDS && live == MODEL_IDS; i++) {
        id = test_id(i);
        if (kdb_get_block_view(db, &id, &view) == 0) live = i;
    }
    assert_true(live < MODEL_IDS);
    reads = fault.read_count;
    assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
    assert_int_equal(fault.read_count, reads);
    assert_int_equal(kdb_close(db), 0);
    options.flags |= KDB_OPEN_BRIEF;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    reads = fault.read_count;
    assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
    assert_true(fault.read_count > reads);

    /* Each bit of the record's read flipped in turn: -KDB_ECHECKSUM, then the block again. */
    reads = fault.read_count;
    for (uint64_t bit = 0; bit < 64; bit += 9) {
        fault.fired = false;
        vfs_fault_flip_read(&fault, fault.read_count + 1, bit);
        int rc = kdb_get_block_view(db, &id, &view);
        assert_true(fault.fired);
        assert_true(is_damage(rc));
        assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
    }
    assert_true(fault.read_count > reads);
    fault.kind = VFS_FAULT_NONE;

    test_check_prefix(db, history, history->count);
    assert_int_equal(kdb_check(db, &records), 0);
    assert_true(records > 0);
    assert_int_equal(kdb_close(db), 0);

    /* Changes through a brief handle, then a compaction: all kept, and read back. */
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    test_workload_graph(ops, 60, 91, 300);
    run_ops(db, ops, 60, history);
    assert_int_equal(kdb_flush(db), 0);
    assert_int_equal(kdb_compact(db), 0);
    test_check_prefix(db, history, history->count);
    assert_int_equal(kdb_close(db), 0);
    options.flags &= ~KDB_OPEN_BRIEF;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    test_check_prefix(db, history, history->count);
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(vfs_mem_open_count(mem), 0); /* the readers' files closed too */
    vfs_mem_free(mem);
    free(history);
}

/* Block i of the batch test: its content, source URI and metadata, distinct and of many lengths. */
static struct kdb_block batch_block(unsigned i, char *content, char *uri, char *meta)
{
    size_t len = 100 + 97 * (size_t)i;

    for (size_t k = 0; k < len; k++)
        content[k] = (char)('a' + (i + k) % 26);
    snprintf(uri, 32, "src/file%u.c", i);
    snprintf(meta, 32, "{\"name\":\"f%u\"}", i);
    return (struct kdb_block){.id = wide_id(i),
                              .content = content,
                              .content_len = len,
                              .source_uri = uri,
                              .source_uri_len = strlen(uri),
                              .metadata = meta,
                              .metadata_len = strlen(meta)};
}

/*
 * A brief handle's batch (kdb_get_blocks(), kdb_get_block_heads()) is read
 * block by block through buffers that later reads reuse, and the handle
 * stays brief: its views are copies, whole after those reads, from the
 * tables and the memtable alike; heads carry no content, only its length.
 */
static void test_lsm_brief_batch_views_outlive_later_reads(void **state)
{
    enum { BLOCKS = 40 }; /* contents of 100 to 3,883 bytes */
    static char content[BLOCKS][4096], uri[BLOCKS][32], meta[BLOCKS][32];
    struct vfs_mem *mem = vfs_mem_new(5);
    struct kdb_result *all = NULL, *heads = NULL;
    struct kdb_id ids[BLOCKS + 1];
    struct kdb_options options;
    struct vfs_fault fault;
    struct kdb_block view;
    struct kdb *db;
    uint64_t reads;

    (void)state;
    lsm_options(&options, mem, true);
    vfs_fault_init(&fault, vfs_mem_vfs(mem));
    options.vfs = &fault.vfs;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned i = 0; i < BLOCKS; i++) {
        struct kdb_block b = batch_block(i, content[i], uri[i], meta[i]);
        assert_int_equal(kdb_put_block(db, &b, NULL), 0);
        ids[i] = b.id;
    }
    ids[BLOCKS] = wide_id(BLOCKS);      /* never put */
    assert_int_equal(kdb_close(db), 0); /* the blocks go to a table */

    options.flags |= KDB_OPEN_BRIEF;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    { /* block 7's newest version is in the memtable */
        struct kdb_block b = batch_block(7, content[7], uri[7], meta[7]);
        memcpy(content[7], "newer", 5);
        assert_int_equal(kdb_put_block(db, &b, NULL), 0);
    }
    assert_int_equal(kdb_result_new(db, &all), 0);
    assert_int_equal(kdb_result_new(db, &heads), 0);
    assert_int_equal(kdb_get_blocks(db, ids, BLOCKS + 1, all), 0);
    assert_int_equal(kdb_get_block_heads(db, ids, BLOCKS + 1, heads), 0);
    for (unsigned i = BLOCKS; i-- > 0;) { /* more reads, each through the handle's buffers */
        reads = fault.read_count;
        assert_int_equal(kdb_get_block_view(db, &ids[i], &view), 0);
        if (i != 7) assert_true(fault.read_count > reads);
    }
    assert_int_equal(all->count, BLOCKS + 1);
    assert_int_equal(heads->count, BLOCKS + 1);
    for (unsigned i = 0; i < BLOCKS; i++) {
        const struct kdb_block *a = &all->blocks[i], *h = &heads->blocks[i];
        assert_true(a->version > 0);
        assert_int_equal(h->version, a->version);
        assert_memory_equal(a->id.bytes, ids[i].bytes, KDB_ID_SIZE);
        assert_int_equal(a->content_len, 100 + 97 * i);
        assert_memory_equal(a->content, content[i], a->content_len);
        assert_null(h->content);
        assert_int_equal(h->content_len, a->content_len);
        for (int k = 0; k < 2; k++) {
            const struct kdb_block *v = k ? h : a;
            assert_int_equal(v->source_uri_len, strlen(uri[i]));
            assert_memory_equal(v->source_uri, uri[i], v->source_uri_len);
            assert_int_equal(v->metadata_len, strlen(meta[i]));
            assert_memory_equal(v->metadata, meta[i], v->metadata_len);
        }
    }
    assert_memory_equal(all->blocks[7].content, "newer", 5);
    assert_int_equal(all->blocks[BLOCKS].version, 0); /* missing */
    assert_int_equal(heads->blocks[BLOCKS].version, 0);
    assert_memory_equal(heads->blocks[BLOCKS].id.bytes, ids[BLOCKS].bytes, KDB_ID_SIZE);
    kdb_result_free(all);
    kdb_result_free(heads);
    assert_int_equal(kdb_close(db), 0);
    vfs_mem_free(mem);
}

/* A node whose lists span pages of the graph file: a brief handle reads them whole, checked. */
static void test_lsm_brief_handle_reads_lists_across_pages(void **state)
{
    enum { FANOUT = 2500 }; /* 10 KB of out-entries: three pages at least */
    struct vfs_mem *mem = vfs_mem_new(5);
    struct kdb_options options;
    struct kdb_result *r = NULL;
    struct kdb_id hub = wide_id(0);
    struct kdb *db;

    (void)state;
    lsm_options(&options, mem, true);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned i = 0; i <= FANOUT; i++) {
        struct kdb_block b = {.id = wide_id(i), .content = "x", .content_len = 1};
        assert_int_equal(kdb_put_block(db, &b, NULL), 0);
    }
    for (unsigned i = 1; i <= FANOUT; i++) {
        struct kdb_edge e = {.source = hub, .target = wide_id(i), .type = KDB_EDGE_CALLS};
        assert_int_equal(kdb_put_edge(db, &e), 0);
    }
    assert_int_equal(kdb_close(db), 0); /* writes the tables and the graph file */
    assert_true(vfs_mem_file_size(mem, DB "/GRAPH") > 3 * 4096);

    options.flags |= KDB_OPEN_BRIEF;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    assert_int_equal(kdb_result_new(db, &r), 0);
    assert_int_equal(kdb_edges(db, &hub, KDB_DIRECTION_OUT, 0, r), 0);
    assert_int_equal(r->count, FANOUT);
    for (unsigned i = 1; i <= FANOUT; i += 97) {
        struct kdb_id far = wide_id(i);
        assert_int_equal(kdb_edges(db, &far, KDB_DIRECTION_IN, 0, r), 0);
        assert_int_equal(r->count, 1);
        assert_memory_equal(r->edges[0].source.bytes, hub.bytes, sizeof(hub.bytes));
    }
    kdb_result_free(r);
    assert_int_equal(kdb_check(db, NULL), 0);
    assert_int_equal(kdb_close(db), 0);

    /* The hub's out-list damaged, two entries swapped (each still a valid edge): reported.
     * The file ends with the lists: the hub's (first by id) out-list, 4 bytes an entry,
     * then the far ends' in-lists, one entry each. */
    {
        int64_t size = vfs_mem_file_size(mem, DB "/GRAPH");
        uint8_t *at = vfs_mem_file_data(mem, DB "/GRAPH") + size - 4 * FANOUT - 2 * FANOUT;
        uint8_t entry[4];
        memcpy(entry, at, 4);
        memcpy(at, at - 4, 4);
        memcpy(at - 4, entry, 4);
        assert_memory_not_equal(at, at - 4, 4);
    }
    assert_int_equal(vfs_mem_commit(mem, DB "/GRAPH"), 0);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    assert_int_equal(kdb_result_new(db, &r), 0);
    assert_int_equal(kdb_edges(db, &hub, KDB_DIRECTION_OUT, 0, r), -KDB_ECORRUPT);
    kdb_result_free(r);
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(vfs_mem_open_count(mem), 0);
    vfs_mem_free(mem);
}

/* A put of block index (content of len bytes, varied by salt), accepted, into db and history. */
static void put_ok(struct kdb *db, unsigned index, size_t len, uint32_t salt,
                   struct test_history *history)
{
    struct test_op op = {.kind = TEST_OP_PUT, .id_index = index, .content_len = len, .salt = salt};
    assert_int_equal(test_apply(db, &op, history), 0);
}

/* An edge's link, unlink or a block's delete (kind), accepted, into db and history. */
static void change_ok(struct kdb *db, unsigned kind, unsigned source, unsigned target,
                      unsigned type, struct test_history *history)
{
    struct test_op op = {
        .kind = kind, .id_index = source, .target_index = target, .edge_type = type};
    assert_int_equal(test_apply(db, &op, history), 0);
}

/* Opens db brief through fault, checks it against history, and tells whether a get of a block
 * only the tables hold read with pread (brief) or through the mappings. Then writes the log out
 * as a table from the brief handle, and checks the database again, opened as usual. */
static bool brief_reopen_reads_by_pread(struct kdb_options options, struct vfs_mem *mem,
                                        const struct test_history *history, unsigned untouched)
{
    struct vfs_fault fault;
    struct kdb_id id = test_id(untouched);
    struct kdb_block view;
    struct kdb *db;
    uint64_t reads;

    vfs_fault_init(&fault, vfs_mem_vfs(mem));
    options.vfs = &fault.vfs;
    options.flags |= KDB_OPEN_BRIEF | KDB_OPEN_KEEP_LOG;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    reads = fault.read_count;
    assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
    reads = fault.read_count - reads;
    test_check_prefix(db, history, history->count); /* its scan maps the tables */
    assert_int_equal(kdb_check(db, NULL), 0);
    assert_int_equal(kdb_flush(db), 0); /* the block count goes to the manifest */
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(vfs_mem_open_count(mem), 0);
    options.flags &= ~KDB_OPEN_BRIEF;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    test_check_prefix(db, history, history->count);
    assert_int_equal(kdb_close(db), 0);
    return reads > 0;
}

/*
 * A brief handle replays the log of a few changes brief, and a long log
 * through the mappings after its first few hundred changes; either way it
 * answers as any handle. The short log puts back blocks whose newest
 * version in the tables is a tombstone: the block count reads that
 * tombstone through the reader.
 */
static void test_lsm_brief_handle_replays_short_logs_brief_and_long_ones_mapped(void **state)
{
    struct test_history *history = calloc(1, sizeof(*history));
    struct vfs_mem *mem = vfs_mem_new(31);
    struct kdb_options options;
    struct kdb *db;

    (void)state;
    assert_non_null(history);
    lsm_options(&options, mem, true);
    options.memtable_size_bytes = 1u << 20;     /* only kdb_flush() makes a table */
    options.wal_segment_size_bytes = 64u << 10; /* the long log in a few segments, all kept */
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned i = 0; i < MODEL_IDS; i++)
        put_ok(db, i, 40 + i, i, history);
    for (unsigned i = 0; i + 1 < MODEL_IDS; i++)
        change_ok(db, TEST_OP_LINK, i, i + 1, KDB_EDGE_CALLS, history);
    assert_int_equal(kdb_flush(db), 0);
    for (unsigned i = 2; i <= 4; i++) /* tombstones in the second table */
        change_ok(db, TEST_OP_DELETE, i, 0, 0, history);
    assert_int_equal(kdb_close(db), 0); /* the second table and the graph file */

    /* A short log: the tombstoned blocks put back, an edge added. */
    options.flags |= KDB_OPEN_KEEP_LOG;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned i = 2; i <= 3; i++)
        put_ok(db, i, 7, 90 + i, history);
    change_ok(db, TEST_OP_LINK, 0, 2, KDB_EDGE_REFERENCES, history);
    assert_int_equal(kdb_close(db), 0);
    assert_true(brief_reopen_reads_by_pread(options, mem, history, 10));

    /* A long log, on blocks 0 and 1 alone: 600 changes. */
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned k = 0; k < 300; k++) {
        put_ok(db, k % 2, 1 + k % 50, k, history);
        change_ok(db, k % 2 ? TEST_OP_UNLINK : TEST_OP_LINK, 1, 0, KDB_EDGE_CALLS, history);
    }
    assert_int_equal(kdb_close(db), 0);
    assert_false(brief_reopen_reads_by_pread(options, mem, history, 10));
    vfs_mem_free(mem);
    free(history);
}

/* One change or query on a fresh brief handle whose next read has a bit flipped. */
static int op_on_a_flipped_read(struct kdb_options options, struct vfs_fault *fault, int op,
                                const struct kdb_id *live, const struct kdb_id *other)
{
    struct kdb_edge edge = {.source = *live, .target = *other, .type = KDB_EDGE_CALLS};
    struct kdb_result *r = NULL;
    struct kdb *db;
    int rc;

    options.vfs = &fault->vfs;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    fault->fired = false;
    vfs_fault_flip_read(fault, fault->read_count + 1, 3);
    if (op == 0) {
        rc = kdb_delete_block(db, live);
    } else if (op == 1) {
        rc = kdb_put_edge(db, &edge);
    } else {
        assert_int_equal(kdb_result_new(db, &r), 0);
        rc = kdb_edges(db, live, KDB_DIRECTION_OUT, 0, r);
        kdb_result_free(r);
    }
    assert_true(fault->fired);
    fault->kind = VFS_FAULT_NONE;
    assert_int_equal(kdb_close(db), 0);
    return rc;
}

/*
 * A delete, an edge's put and an edge query check that their blocks are
 * live in the tables: a read there that comes back damaged is reported as
 * damage, never as "no such block".
 */
static void test_lsm_damage_under_a_liveness_check_is_reported(void **state)
{
    struct test_history *history = calloc(1, sizeof(*history));
    struct expected expect[MODEL_IDS];
    struct kdb_options options;
    struct vfs_fault fault;
    struct vfs_mem *mem;
    struct kdb_id live = test_id(0), other = test_id(0);
    unsigned found = 0;

    (void)state;
    assert_non_null(history);
    mem = one_table(history, &options);
    expected_state(history, expect);
    for (unsigned i = 0; i < MODEL_IDS && found < 2; i++) {
        if (!expect[i].live) continue;
        if (found++ == 0)
            live = test_id(i);
        else
            other = test_id(i);
    }
    assert_int_equal(found, 2);
    options.flags |= KDB_OPEN_BRIEF;
    vfs_fault_init(&fault, vfs_mem_vfs(mem));
    for (int op = 0; op < 3; op++) {
        int rc = op_on_a_flipped_read(options, &fault, op, &live, &other);
        if (!is_damage(rc)) fail_msg("operation %d returned %s", op, kdb_strerror(rc));
    }
    vfs_mem_free(mem);
    free(history);
}

static void test_lsm_every_flipped_manifest_byte_is_refused(void **state)
{
    struct test_history *history = calloc(1, sizeof(*history));
    struct kdb_options options;
    struct vfs_mem *base;
    int64_t size;

    (void)state;
    base = one_table(history, &options);
    size = vfs_mem_file_size(base, MANIFEST);
    assert_true(size > 0);
    for (int64_t i = 0; i < size * 8; i++) {
        struct vfs_mem *mem = vfs_mem_clone(base);
        struct kdb *db;
        int rc;

        vfs_mem_file_data(mem, MANIFEST)[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(vfs_mem_commit(mem, MANIFEST), 0);
        options.vfs = vfs_mem_vfs(mem);
        rc = kdb_open(DB, &options, &db);
        if (!is_damage(rc))
            fail_msg("bit %lld of the manifest: open returned %s", (long long)i, kdb_strerror(rc));
        vfs_mem_free(mem);
    }
    for (int64_t cut = 0; cut < size; cut++) {
        struct vfs_mem *mem = vfs_mem_clone(base);
        struct kdb *db;
        int rc;

        assert_int_equal(vfs_mem_set_size(mem, MANIFEST, (uint64_t)cut), 0);
        options.vfs = vfs_mem_vfs(mem);
        rc = kdb_open(DB, &options, &db);
        if (!is_damage(rc))
            fail_msg("manifest cut at %lld: open returned %s", (long long)cut, kdb_strerror(rc));
        vfs_mem_free(mem);
    }
    printf("# every bit of a %lld-byte manifest flipped, every cut: each refused\n",
           (long long)size);
    vfs_mem_free(base);
    free(history);
}

/* Files a crash left mid-flush go at open; a table the manifest needs is never guessed at. */
static void test_lsm_open_removes_leftovers_and_refuses_a_missing_table(void **state)
{
    struct test_history *history = calloc(1, sizeof(*history));
    struct kdb_options options;
    struct vfs_mem *mem, *gone;
    const struct kdb_vfs *vfs;
    struct kdb *db;
    int fd;

    (void)state;
    mem = one_table(history, &options);
    vfs = vfs_mem_vfs(mem);
    const char *leftovers[] = {DB "/sst-0000000000000009.sst", DB "/sst-000000000000000a.tmp",
                               DB "/MANIFEST.tmp", DB "/wal-0000000000000001.log"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(
            vfs->open(vfs->ctx, leftovers[i], KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE, &fd), 0);
        assert_int_equal(vfs->pwrite(vfs->ctx, fd, "junk", 4, 0), 0);
        assert_int_equal(vfs->close(vfs->ctx, fd), 0);
    }
    gone = vfs_mem_clone(mem);
    options.vfs = vfs;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(vfs_mem_file_size(mem, leftovers[i]), -1);
    test_check_prefix(db, history, history->count);
    assert_int_equal(kdb_close(db), 0);

    options.vfs = vfs_mem_vfs(gone);
    assert_int_equal(vfs_mem_vfs(gone)->unlink(vfs_mem_vfs(gone)->ctx, TABLE_1), 0);
    assert_int_equal(kdb_open(DB, &options, &db), -KDB_ECORRUPT);
    vfs_mem_free(gone);
    vfs_mem_free(mem);
    free(history);
}

/* ---- golden files: the version 1 table and manifest ---- */

#define GOLDEN_TABLE_V1     "tests/data/sst-v1.golden" /* blocks only */
#define GOLDEN_TABLE_V2     "tests/data/sst-v2.golden" /* blocks and edges */
#define GOLDEN_TABLE        "tests/data/sst-v3.golden" /* blocks and edges, index pages summed */
#define GOLDEN_MANIFEST     "tests/data/manifest-v1.golden"          /* names the format 1 table */
#define GOLDEN_MANIFEST_NOW "tests/data/manifest-v1-table-v3.golden" /* the same, format 3 */
#define GOLDEN_MAX          (1 << 20)

static uint8_t *read_golden(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    uint8_t *bytes = malloc(GOLDEN_MAX);

    if (!file) fail_msg("cannot open %s (run the tests from the top of the tree)", path);
    assert_non_null(bytes);
    *size = fread(bytes, 1, GOLDEN_MAX, file);
    assert_int_equal(fclose(file), 0);
    return bytes;
}

/* The bytes of path in mem equal the golden file; KDB_WRITE_GOLDEN=1 rewrites it. */
static void same_as_golden(struct vfs_mem *mem, const char *path, const char *golden_path)
{
    int64_t size = vfs_mem_file_size(mem, path);
    const char *write = getenv("KDB_WRITE_GOLDEN");
    uint8_t *golden;
    size_t golden_size;

    assert_true(size > 0);
    if (write && strcmp(write, "1") == 0) {
        FILE *file = fopen(golden_path, "wb");
        assert_non_null(file);
        assert_int_equal(fwrite(vfs_mem_file_data(mem, path), 1, (size_t)size, file), (size_t)size);
        assert_int_equal(fclose(file), 0);
    }
    golden = read_golden(golden_path, &golden_size);
    assert_int_equal(golden_size, (size_t)size);
    assert_memory_equal(golden, vfs_mem_file_data(mem, path), golden_size);
    free(golden);
}

/* The same changes still make the same bytes (a format change must be deliberate). */
static void test_lsm_golden_v3_still_encodes_the_same(void **state)
{
    struct test_history *history = calloc(1, sizeof(*history));
    struct kdb_options options;
    struct vfs_mem *mem;
    struct kdb_stats stats;
    struct kdb *db;

    (void)state;
    mem = one_table_of(history, &options, true);
    same_as_golden(mem, TABLE_1, GOLDEN_TABLE);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    kdb_get_stats(db, &stats);
    assert_true(stats.edge_count > 0); /* the golden table holds edges */
    assert_int_equal(kdb_close(db), 0);
    vfs_mem_free(mem);
    memset(history, 0, sizeof(*history));
    mem = one_table(history, &options);
    same_as_golden(mem, MANIFEST, GOLDEN_MANIFEST_NOW);
    vfs_mem_free(mem);
    free(history);
}

/*
 * A database made of golden files opens to the same blocks (and edges):
 * the format 1 table with its manifest, the format 2 and 3 tables with
 * the manifest a run of their changes writes (naming the table's size).
 */
static void golden_decodes(bool edges, const char *table_golden)
{
    struct test_history *history = calloc(1, sizeof(*history));
    struct kdb_options options;
    struct vfs_mem *scratch, *mem = vfs_mem_new(1);
    const struct kdb_vfs *vfs = vfs_mem_vfs(mem);
    struct kdb *db;
    size_t size;
    uint8_t *bytes;
    int fd;

    scratch = one_table_of(history, &options, edges); /* the history the golden files came from */
    assert_int_equal(vfs->mkdir(vfs->ctx, DB), 0);
    assert_int_equal(vfs->open(vfs->ctx, DB "/LOCK", KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE, &fd),
                     0);
    assert_int_equal(vfs->close(vfs->ctx, fd), 0);
    for (size_t i = 0; i < 2; i++) {
        const char *name = i ? MANIFEST : TABLE_1;
        if (i == 0 || !edges) {
            bytes = read_golden(i ? GOLDEN_MANIFEST : table_golden, &size);
        } else {
            /* The manifest a run of the changes writes, naming the golden table's size. */
            size_t table_size;
            free(read_golden(table_golden, &table_size));
            size = (size_t)vfs_mem_file_size(scratch, MANIFEST);
            bytes = malloc(size);
            assert_non_null(bytes);
            memcpy(bytes, vfs_mem_file_data(scratch, MANIFEST), size);
            put_le64(bytes + 72, table_size); /* table[0].size */
            put_le64(bytes + size - 8, checksum_64(bytes, size - 8, 0));
        }
        assert_int_equal(vfs->open(vfs->ctx, name, KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE, &fd),
                         0);
        assert_int_equal(vfs->pwrite(vfs->ctx, fd, bytes, size, 0), 0);
        assert_int_equal(vfs->close(vfs->ctx, fd), 0);
        free(bytes);
    }
    vfs_mem_free(scratch);
    options.vfs = vfs;
    options.flags = 0;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    test_check_prefix(db, history, history->count);
    assert_int_equal(kdb_close(db), 0);
    vfs_mem_free(mem);
    free(history);
}

static void test_lsm_golden_v1_decodes(void **state)
{
    (void)state;
    golden_decodes(false, GOLDEN_TABLE_V1);
}

static void test_lsm_golden_v2_decodes(void **state)
{
    (void)state;
    golden_decodes(true, GOLDEN_TABLE_V2);
}

static void test_lsm_golden_v3_decodes(void **state)
{
    (void)state;
    golden_decodes(true, GOLDEN_TABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lsm_flushed_blocks_read_back_and_their_log_goes),
        cmocka_unit_test(test_lsm_large_table_reads_back),
        cmocka_unit_test(test_lsm_delete_shadows_older_tables_and_stays_deleted),
        cmocka_unit_test(test_lsm_compacting_only_tombstones_leaves_nothing),
        cmocka_unit_test(test_lsm_compaction_gives_back_what_it_read),
        cmocka_unit_test(test_lsm_compaction_gives_back_the_index_it_read),
        cmocka_unit_test(test_lsm_bulk_open_gives_back_indexes_after_each_flush),
        cmocka_unit_test(test_lsm_small_pages_vfs_maps_tables_without_huge_pages),
        cmocka_unit_test(test_lsm_memtables_on_reused_memory_keep_every_block),
        cmocka_unit_test(test_lsm_random_run_matches_model),
        cmocka_unit_test(test_lsm_random_run_matches_model_in_foreground),
        cmocka_unit_test(test_lsm_every_flipped_table_byte_is_reported_never_served),
        cmocka_unit_test(test_lsm_every_flipped_table_byte_is_reported_never_served_brief),
        cmocka_unit_test(test_lsm_cut_table_is_refused),
        cmocka_unit_test(test_lsm_brief_handle_reads_by_pread_and_answers_the_same),
        cmocka_unit_test(test_lsm_brief_handle_reads_lists_across_pages),
        cmocka_unit_test(test_lsm_brief_batch_views_outlive_later_reads),
        cmocka_unit_test(test_lsm_brief_handle_replays_short_logs_brief_and_long_ones_mapped),
        cmocka_unit_test(test_lsm_damage_under_a_liveness_check_is_reported),
        cmocka_unit_test(test_lsm_every_flipped_manifest_byte_is_refused),
        cmocka_unit_test(test_lsm_open_removes_leftovers_and_refuses_a_missing_table),
        cmocka_unit_test(test_lsm_golden_v3_still_encodes_the_same),
        cmocka_unit_test(test_lsm_golden_v1_decodes),
        cmocka_unit_test(test_lsm_golden_v2_decodes),
        cmocka_unit_test(test_lsm_golden_v3_decodes),
    };

    return cmocka_run_group_tests_name("lsm", tests, NULL, NULL);
}
