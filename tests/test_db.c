/* SPDX-License-Identifier: MIT */
/*
 * test_db.c: the database as a whole, through kdb.h.
 *
 * Goal: what a caller relies on: blocks round-trip through writes, reopen
 * and crashes; limits and bad input give their error and change nothing;
 * kdb_sync() is a group commit; a second opener is refused; and no crash or
 * I/O error at any point of a workload loses a change kdb_sync() confirmed,
 * tears a block or brings a deleted block back.
 *
 * Method: most cases run on tests/vfs_mem.c, whose crash drops exactly what
 * was not made durable (or, torn, a random part of it), wrapped in
 * tests/vfs_fault.c, which fails the Nth change. Sweeps try every N of a
 * scripted workload. The expected state comes from test_util.c's model: a
 * database reporting last sequence L must equal the first L changes. Two
 * cases use the real file system under $TMPDIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kdb.h"
#include "test_util.h"
#include "vfs_fault.h"
#include "vfs_mem.h"

#define DB "db"

struct fixture {
    struct vfs_mem *mem;
    struct kdb_options options;
    struct kdb *db;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->mem = vfs_mem_new(7);
    test_options(&f->options, vfs_mem_vfs(f->mem));
    assert_int_equal(kdb_open(DB, &f->options, &f->db), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->db) assert_int_equal(kdb_close(f->db), 0);
    assert_int_equal(vfs_mem_open_count(f->mem), 0);
    vfs_mem_free(f->mem);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    assert_int_equal(kdb_close(f->db), 0);
    f->db = NULL;
    assert_int_equal(kdb_open(DB, &f->options, &f->db), 0);
}

static struct kdb_block text_block(unsigned index, const char *content)
{
    struct kdb_block block = {
        .id = test_id(index),
        .source_uri = "src/main.c",
        .source_uri_len = 10,
        .metadata = "{\"kind\":\"function\",\"name\":\"main\"}",
        .metadata_len = 33,
        .content = content,
        .content_len = strlen(content),
    };
    return block;
}

static void assert_content(struct kdb *db, unsigned index, const char *content)
{
    struct kdb_id id = test_id(index);
    struct kdb_block view;

    assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
    assert_int_equal(view.content_len, strlen(content));
    assert_memory_equal(view.content, content, view.content_len);
}

/* ---- round trips ---- */

static void test_db_put_get_round_trip(void **state)
{
    struct fixture *f = *state;
    struct kdb_block block = text_block(1, "int main(void) { return 0; }");
    struct kdb_block view;
    uint64_t version = 0;

    assert_int_equal(kdb_put_block(f->db, &block, &version), 0);
    assert_true(version > 0);
    assert_int_equal(kdb_get_block_view(f->db, &block.id, &view), 0);
    assert_memory_equal(view.id.bytes, block.id.bytes, KDB_ID_SIZE);
    assert_int_equal(view.version, version);
    assert_true(view.mtime_ns > 0);
    assert_int_equal(view.source_uri_len, block.source_uri_len);
    assert_memory_equal(view.source_uri, block.source_uri, block.source_uri_len);
    assert_int_equal(view.metadata_len, block.metadata_len);
    assert_memory_equal(view.metadata, block.metadata, block.metadata_len);
    assert_content(f->db, 1, "int main(void) { return 0; }");
}

static void test_db_reopen_keeps_every_field(void **state)
{
    struct fixture *f = *state;
    struct kdb_block block = text_block(2, "static int x;");
    struct kdb_block before, after;
    struct kdb_stats stats;

    assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
    assert_int_equal(kdb_get_block_view(f->db, &block.id, &before), 0);
    uint64_t version = before.version, mtime = before.mtime_ns;
    reopen(f);
    assert_int_equal(kdb_get_block_view(f->db, &block.id, &after), 0);
    assert_int_equal(after.version, version);
    assert_int_equal(after.mtime_ns, mtime);
    assert_memory_equal(after.metadata, block.metadata, block.metadata_len);
    assert_content(f->db, 2, "static int x;");
    kdb_get_stats(f->db, &stats);
    assert_int_equal(stats.block_count, 1);
    assert_int_equal(stats.recovered_records, 0); /* the close wrote it out as a table */
    assert_int_equal(stats.table_count, 1);
    assert_int_equal(stats.durable_sequence, stats.last_sequence);
}

static void test_db_update_raises_version_and_replaces(void **state)
{
    struct fixture *f = *state;
    struct kdb_block a = text_block(3, "first"), b = text_block(3, "second, longer");
    uint64_t v1, v2, v3;
    struct kdb_stats stats;

    assert_int_equal(kdb_put_block(f->db, &a, &v1), 0);
    assert_int_equal(kdb_put_block(f->db, &b, &v2), 0);
    assert_true(v2 > v1);
    assert_content(f->db, 3, "second, longer");
    assert_int_equal(kdb_delete_block(f->db, &a.id), 0);
    assert_int_equal(kdb_put_block(f->db, &a, &v3), 0);
    assert_true(v3 > v2);
    kdb_get_stats(f->db, &stats);
    assert_int_equal(stats.block_count, 1);
    reopen(f);
    assert_content(f->db, 3, "first");
}

static void test_db_delete_is_final(void **state)
{
    struct fixture *f = *state;
    struct kdb_block block = text_block(4, "gone");
    struct kdb_block view;
    struct kdb_stats stats;
    size_t got = 99;
    char buf[8];

    assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
    assert_int_equal(kdb_delete_block(f->db, &block.id), 0);
    assert_int_equal(kdb_get_block_view(f->db, &block.id, &view), -ENOENT);
    assert_int_equal(kdb_read_block(f->db, &block.id, 0, buf, sizeof(buf), &got), -ENOENT);
    assert_int_equal(got, 0);
    assert_int_equal(kdb_delete_block(f->db, &block.id), -ENOENT);
    reopen(f);
    assert_int_equal(kdb_get_block_view(f->db, &block.id, &view), -ENOENT);
    kdb_get_stats(f->db, &stats);
    assert_int_equal(stats.block_count, 0);
}

static void test_db_read_block_copies_ranges(void **state)
{
    struct fixture *f = *state;
    struct kdb_block block = text_block(5, "0123456789");
    struct kdb_id id = block.id;
    char buf[16];
    size_t got;

    assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
    assert_int_equal(kdb_read_block(f->db, &id, 0, buf, sizeof(buf), &got), 0);
    assert_int_equal(got, 10);
    assert_memory_equal(buf, "0123456789", 10);
    assert_int_equal(kdb_read_block(f->db, &id, 7, buf, 2, &got), 0);
    assert_int_equal(got, 2);
    assert_memory_equal(buf, "78", 2);
    assert_int_equal(kdb_read_block(f->db, &id, 10, buf, sizeof(buf), &got), 0);
    assert_int_equal(got, 0);
    assert_int_equal(kdb_read_block(f->db, &id, UINT64_MAX, buf, sizeof(buf), &got), 0);
    assert_int_equal(got, 0);
}

static void test_db_empty_metadata_reads_as_empty_object(void **state)
{
    struct fixture *f = *state;
    struct kdb_block block = {.id = test_id(6)};
    struct kdb_block view;

    assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
    assert_int_equal(kdb_get_block_view(f->db, &block.id, &view), 0);
    assert_int_equal(view.metadata_len, 2);
    assert_memory_equal(view.metadata, "{}", 2);
    assert_int_equal(view.content_len, 0);
    assert_int_equal(view.source_uri_len, 0);
}

struct scan_seen {
    unsigned count[MODEL_IDS];
    unsigned total;
};

static int scan_note(void *ctx, const struct kdb_block *block)
{
    struct scan_seen *seen = ctx;
    seen->count[block->id.bytes[0]]++;
    seen->total++;
    return 0;
}

static int scan_stop(void *ctx, const struct kdb_block *block)
{
    (void)block;
    return ++*(int *)ctx == 3 ? 42 : 0;
}

static void test_db_scan_visits_each_live_block_once(void **state)
{
    struct fixture *f = *state;
    struct scan_seen seen = {{0}, 0};
    int calls = 0;

    for (unsigned i = 0; i < 10; i++) {
        struct kdb_block block = text_block(i, "x");
        assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
        assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
    }
    for (unsigned i = 0; i < 10; i += 3) {
        struct kdb_id id = test_id(i);
        assert_int_equal(kdb_delete_block(f->db, &id), 0);
    }
    assert_int_equal(kdb_scan_blocks(f->db, scan_note, &seen), 0);
    assert_int_equal(seen.total, 6);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(seen.count[i], i % 3 == 0 ? 0 : 1);
    assert_int_equal(kdb_scan_blocks(f->db, scan_stop, &calls), 42);
    assert_int_equal(calls, 3);
}

static void test_db_many_blocks_survive_reopen(void **state)
{
    struct fixture *f = *state;
    char content[64];
    struct kdb_stats stats;

    for (unsigned i = 0; i < 3000; i++) {
        struct kdb_block block = {.content = content};
        memset(block.id.bytes, 0, KDB_ID_SIZE);
        memcpy(block.id.bytes, &i, sizeof(i));
        block.content_len = (size_t)snprintf(content, sizeof(content), "block %u", i);
        assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
    }
    reopen(f);
    kdb_get_stats(f->db, &stats);
    assert_int_equal(stats.block_count, 3000);
    assert_int_equal(stats.recovered_records, 0);
    assert_int_equal(stats.wal_segment_count, 1); /* the rotated ones went with the close's flush */
    for (unsigned i = 0; i < 3000; i++) {
        struct kdb_block view;
        struct kdb_id id;
        memset(id.bytes, 0, KDB_ID_SIZE);
        memcpy(id.bytes, &i, sizeof(i));
        assert_int_equal(kdb_get_block_view(f->db, &id, &view), 0);
        int len = snprintf(content, sizeof(content), "block %u", i);
        assert_int_equal(view.content_len, (size_t)len);
        assert_memory_equal(view.content, content, (size_t)len);
    }
}

/* ---- limits and bad input ---- */

static void test_db_bad_input_is_refused_and_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct kdb_block block = text_block(7, "body");
    char uri_nul[] = {'a', '\0', 'b'};
    struct kdb_stats before, after;
    static char big[KDB_SOURCE_URI_SIZE_LIMIT + 1];

    kdb_get_stats(f->db, &before);
    block.metadata = "[1,2]";
    block.metadata_len = 5;
    assert_int_equal(kdb_put_block(f->db, &block, NULL), -EINVAL);
    block.metadata = "{\"a\":}";
    block.metadata_len = 6;
    assert_int_equal(kdb_put_block(f->db, &block, NULL), -EINVAL);
    block = text_block(7, "body");
    block.source_uri = uri_nul;
    block.source_uri_len = sizeof(uri_nul);
    assert_int_equal(kdb_put_block(f->db, &block, NULL), -EINVAL);
    block = text_block(7, "body");
    memset(big, 'a', sizeof(big));
    block.source_uri = big;
    block.source_uri_len = sizeof(big);
    assert_int_equal(kdb_put_block(f->db, &block, NULL), -EFBIG);
    block = text_block(7, "body");
    block.content = NULL;
    assert_int_equal(kdb_put_block(f->db, &block, NULL), -EINVAL);
    kdb_get_stats(f->db, &after);
    assert_int_equal(after.last_sequence, before.last_sequence);
    assert_int_equal(after.block_count, before.block_count);
    assert_int_equal(kdb_get_block_view(f->db, &block.id, &block), -ENOENT);
}

/* 16 MiB is the default limit: it fits, one byte more does not. */
static void test_db_content_limit_is_16_mib(void **state)
{
    struct fixture *f = *state;
    size_t size = KDB_CONTENT_SIZE_DEFAULT;
    uint8_t *content = malloc(size + 1);
    struct kdb_block block = {.id = test_id(8), .content = content};
    struct kdb_block view;

    assert_non_null(content);
    for (size_t i = 0; i <= size; i++)
        content[i] = test_content_byte(8, i);
    block.content_len = size + 1;
    assert_int_equal(kdb_put_block(f->db, &block, NULL), -EFBIG);
    block.content_len = size;
    assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
    reopen(f);
    assert_int_equal(kdb_get_block_view(f->db, &block.id, &view), 0);
    assert_int_equal(view.content_len, size);
    assert_memory_equal(view.content, content, size);
    free(content);
}

static void test_db_options_out_of_range_are_einval(void **state)
{
    struct fixture *f = *state;
    struct kdb_options options = f->options;
    struct kdb *db = (struct kdb *)1;

    options.content_size_max = (uint64_t)KDB_CONTENT_SIZE_LIMIT + 1;
    assert_int_equal(kdb_open("other", &options, &db), -EINVAL);
    assert_null(db);
    options = f->options;
    options.wal_buffer_size_bytes = 10;
    assert_int_equal(kdb_open("other", &options, &db), -EINVAL);
    assert_int_equal(kdb_open("", &f->options, &db), -EINVAL);
}

static void test_db_open_without_create_needs_a_database(void **state)
{
    struct fixture *f = *state;
    struct kdb_options options = f->options;
    struct kdb *db = NULL;

    options.flags = 0;
    assert_int_equal(kdb_open("nothing-here", &options, &db), -ENOENT);
    assert_null(db);
}

static void test_db_ids_round_trip_through_hex(void **state)
{
    struct kdb_id id = test_id(200), back;
    char hex[KDB_ID_HEX_SIZE + 1];

    (void)state;
    kdb_id_to_hex(&id, hex);
    assert_int_equal(strlen(hex), KDB_ID_HEX_SIZE);
    assert_string_equal(hex, "c8a0a0a0a0a0a0a0a0a0a0a0a0a0a079");
    assert_int_equal(kdb_id_from_hex(hex, KDB_ID_HEX_SIZE, &back), 0);
    assert_memory_equal(back.bytes, id.bytes, KDB_ID_SIZE);
    assert_int_equal(kdb_id_from_hex("C8A0A0A0A0A0A0A0A0A0A0A0A0A0A079", 32, &back), 0);
    assert_memory_equal(back.bytes, id.bytes, KDB_ID_SIZE);
    assert_int_equal(kdb_id_from_hex(hex, 31, &back), -EINVAL);
    assert_int_equal(kdb_id_from_hex("g8a0a0a0a0a0a0a0a0a0a0a0a0a0a059", 32, &back), -EINVAL);
    assert_int_equal(kdb_id_from_hex("../a0a0a0a0a0a0a0a0a0a0a0a0a059", 32, &back), -EINVAL);
    assert_int_equal(kdb_id_from_hex(NULL, 32, &back), -EINVAL);
}

/* ---- locking ---- */

static void test_db_second_open_is_busy_and_names_holder(void **state)
{
    struct fixture *f = *state;
    struct kdb_options options = f->options;
    char message[512] = "";
    struct kdb *second = NULL;

    options.log = test_log_keep;
    options.log_ctx = message;
    assert_int_equal(kdb_open(DB, &options, &second), -EBUSY);
    assert_null(second);
    assert_non_null(strstr(message, "in use by process 4242"));
    reopen(f); /* closing released the lock */
}

static char *make_temp_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(4096);

    assert_non_null(path);
    snprintf(path, 4096, "%s/kausal-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(path));
    return path;
}

static void remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_db_posix_round_trip_and_lock(void **state)
{
    char *dir = make_temp_dir();
    char path[4200], message[512] = "", expect[64];
    struct kdb_options options;
    struct kdb *db = NULL, *second = NULL;
    struct kdb_block block = text_block(9, "on a real disk");

    (void)state;
    snprintf(path, sizeof(path), "%s/db", dir);
    kdb_options_init(&options);
    options.flags = KDB_OPEN_CREATE;
    options.log = test_log_keep;
    options.log_ctx = message;
    assert_int_equal(kdb_open(path, &options, &db), 0);
    assert_int_equal(kdb_put_block(db, &block, NULL), 0);
    assert_int_equal(kdb_sync(db), 0);
    assert_int_equal(kdb_open(path, &options, &second), -EBUSY);
    snprintf(expect, sizeof(expect), "in use by process %ld", (long)getpid());
    assert_non_null(strstr(message, expect));
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(kdb_open(path, &options, &db), 0);
    assert_content(db, 9, "on a real disk");
    assert_int_equal(kdb_close(db), 0);
    remove_tree(dir);
    free(dir);
}

/* ---- group commit ---- */

static void test_db_sync_is_one_fdatasync_for_many_writes(void **state)
{
    struct fixture *f = *state;
    struct vfs_fault fault;
    struct kdb_options options = f->options;
    struct kdb *db;

    assert_int_equal(kdb_close(f->db), 0);
    f->db = NULL;
    vfs_fault_init(&fault, vfs_mem_vfs(f->mem));
    options.vfs = &fault.vfs;
    options.wal_buffer_size_bytes = 1 << 20;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    uint64_t fsyncs = fault.fsync_count, pwrites = fault.pwrite_count;
    for (unsigned i = 0; i < 20; i++) {
        struct kdb_block block = text_block(i, "a few bytes of code");
        assert_int_equal(kdb_put_block(db, &block, NULL), 0);
    }
    assert_int_equal(fault.pwrite_count, pwrites); /* buffered */
    assert_int_equal(kdb_sync(db), 0);
    assert_int_equal(fault.fsync_count, fsyncs + 1);
    assert_int_equal(fault.pwrite_count, pwrites + 1);
    assert_int_equal(kdb_sync(db), 0); /* nothing new: no I/O */
    assert_int_equal(fault.fsync_count, fsyncs + 1);
    assert_int_equal(fault.pwrite_count, pwrites + 1);
    assert_int_equal(kdb_close(db), 0);
    vfs_mem_crash(f->mem); /* what kdb_sync promised is there */
    assert_int_equal(kdb_open(DB, &f->options, &f->db), 0);
    for (unsigned i = 0; i < 20; i++)
        assert_content(f->db, i, "a few bytes of code");
}

/* A flush begun in the background: reads and writes go on meanwhile, and
 * nothing either side of it is lost. */
static void test_db_flush_begin_overlaps_writes(void **state)
{
    struct fixture *f = *state;
    struct kdb_stats stats;

    for (unsigned i = 0; i < 20; i++) {
        struct kdb_block block = text_block(i, "before the flush");
        assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
    }
    assert_int_equal(kdb_flush_begin(f->db), 0);
    for (unsigned i = 20; i < 40; i++) {
        struct kdb_block block = text_block(i, "while it writes");
        assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
    }
    struct kdb_block gone = text_block(3, "");
    assert_int_equal(kdb_delete_block(f->db, &gone.id), 0);
    assert_content(f->db, 4, "before the flush");
    assert_int_equal(kdb_flush_begin(f->db), 0); /* waits for the first, starts the second */
    assert_int_equal(kdb_flush_begin(f->db), 0); /* waits for the second; nothing new */
    kdb_get_stats(f->db, &stats);
    assert_int_equal(stats.table_count, 2);
    assert_int_equal(stats.block_count, 39);
    reopen(f);
    for (unsigned i = 0; i < 40; i++) {
        if (i == 3) {
            struct kdb_block b;
            assert_int_equal(kdb_get_block_view(f->db, &gone.id, &b), -ENOENT);
        } else {
            assert_content(f->db, i, i < 20 ? "before the flush" : "while it writes");
        }
    }
}

/* ---- crash and fault sweeps ---- */

#define PHASE1_OPS 60
#define PHASE2_OPS 240

/* Small enough that the sweeps cross many flushes and several compactions. */
#define LSM_MEMTABLE_BYTES (12u << 10)

struct sweep {
    struct vfs_mem *base;           /* the database after phase 1, closed cleanly */
    struct test_history phase1;     /* its changes */
    struct test_op ops[PHASE2_OPS]; /* the swept workload */
    struct kdb_options options;
};

static void run_ops(struct kdb *db, const struct test_op *ops, size_t count,
                    struct test_history *history)
{
    for (size_t i = 0; i < count; i++) {
        int rc = test_apply(db, &ops[i], history);
        if (rc < 0 && rc != -ENOENT) return; /* the process is as good as dead */
    }
}

/*
 * With lsm, the memtable is small and flushes and compactions run in the
 * foreground, so that the sweep meets them at the same changes every run.
 */
static struct sweep *sweep_new(bool lsm)
{
    struct sweep *s = calloc(1, sizeof(*s));
    struct test_op ops[PHASE1_OPS];
    struct kdb *db;

    assert_non_null(s);
    s->base = vfs_mem_new(11);
    test_options(&s->options, vfs_mem_vfs(s->base));
    if (lsm) {
        s->options.memtable_size_bytes = LSM_MEMTABLE_BYTES;
        s->options.flags |= KDB_OPEN_FOREGROUND;
    }
    test_workload_graph(ops, PHASE1_OPS, 1, 5000);
    test_workload_graph(s->ops, PHASE2_OPS, 2, 5000);
    assert_int_equal(kdb_open(DB, &s->options, &db), 0);
    run_ops(db, ops, PHASE1_OPS, &s->phase1);
    assert_int_equal(kdb_close(db), 0);
    s->phase1.acked_count = s->phase1.count;
    return s;
}

static void sweep_free(struct sweep *s)
{
    vfs_mem_free(s->base);
    free(s);
}

/* Changes phase 2 makes on the disk, opening included; with stats, what it did. */
static uint64_t sweep_change_count(struct sweep *s, struct kdb_stats *stats)
{
    struct vfs_mem *mem = vfs_mem_clone(s->base);
    struct test_history *history = malloc(sizeof(*history));
    struct kdb_options options = s->options;
    struct vfs_fault fault;
    struct kdb *db;

    vfs_fault_init(&fault, vfs_mem_vfs(mem));
    options.vfs = &fault.vfs;
    *history = s->phase1;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    run_ops(db, s->ops, PHASE2_OPS, history);
    if (stats) kdb_get_stats(db, stats);
    assert_int_equal(kdb_close(db), 0);
    free(history);
    vfs_mem_free(mem);
    return fault.change_count;
}

/* Reopens mem without faults and checks the acknowledged prefix is all there. */
static void check_recovered(struct sweep *s, struct vfs_mem *mem, struct test_history *history,
                            const char *what, uint64_t n)
{
    struct kdb_options options = s->options;
    struct kdb_stats stats;
    struct kdb *db = NULL;
    int rc;

    char message[512] = "";

    options.vfs = vfs_mem_vfs(mem);
    options.log = test_log_keep;
    options.log_ctx = message;
    rc = kdb_open(DB, &options, &db);
    if (rc != 0)
        fail_msg("%s at change %llu: reopen failed: %s (%s)", what, (unsigned long long)n,
                 kdb_strerror(rc), message);
    kdb_get_stats(db, &stats);
    if (stats.last_sequence < history->acked_count ||
        stats.last_sequence > history->count + history->in_flight)
        fail_msg("%s at change %llu: recovered %llu changes, acknowledged %llu, made %llu", what,
                 (unsigned long long)n, (unsigned long long)stats.last_sequence,
                 (unsigned long long)history->acked_count, (unsigned long long)history->count);
    test_check_prefix(db, history, stats.last_sequence);
    assert_int_equal(kdb_close(db), 0);
}

static void crash_sweep(bool torn, bool lsm)
{
    struct sweep *s = sweep_new(lsm);
    struct kdb_stats stats;
    uint64_t changes = sweep_change_count(s, &stats);
    struct test_history *history = malloc(sizeof(*history));
    uint64_t rng = 99, fired = 0;

    assert_true(changes > 30);
    if (lsm) {
        /* The sweep crosses flushes and compactions, or it proves nothing about them. */
        assert_true(stats.flush_count >= 10);
        assert_true(stats.compaction_count >= 2);
    }
    for (uint64_t n = 1; n <= changes; n++) {
        struct vfs_mem *mem = vfs_mem_clone(s->base);
        struct kdb_options options = s->options;
        struct vfs_fault fault;
        struct kdb *db;

        vfs_fault_init(&fault, vfs_mem_vfs(mem));
        if (torn)
            vfs_fault_tear(&fault, n, (size_t)(test_random(&rng) % 6000));
        else
            vfs_fault_fail(&fault, n, -EIO, true);
        options.vfs = &fault.vfs;
        *history = s->phase1;
        if (kdb_open(DB, &options, &db) == 0) {
            run_ops(db, s->ops, PHASE2_OPS, history);
            (void)kdb_close(db); /* fails: the disk is gone */
        }
        fired += fault.fired;
        if (torn)
            vfs_mem_crash_torn(mem, n);
        else
            vfs_mem_crash(mem);
        check_recovered(s, mem, history, torn ? "torn crash" : "crash", n);
        vfs_mem_free(mem);
    }
    /* The log's writer thread may create a segment a change earlier or later
     * than in the counting run, so a point near the end can fall past a run's
     * last change: then it is a clean run, checked all the same. */
    assert_true(fired + 16 >= changes);
    printf("# %s sweep%s: %llu crash points (%llu hit), every acknowledged change recovered\n",
           torn ? "torn crash" : "crash", lsm ? " across flushes and compactions" : "",
           (unsigned long long)changes, (unsigned long long)fired);
    free(history);
    sweep_free(s);
}

static void test_db_crash_sweep_keeps_every_acknowledged_change(void **state)
{
    (void)state;
    crash_sweep(false, false);
}

static void test_db_torn_crash_sweep_keeps_every_acknowledged_change(void **state)
{
    (void)state;
    crash_sweep(true, false);
}

static void test_db_crash_sweep_across_flush_and_compaction(void **state)
{
    (void)state;
    crash_sweep(false, true);
}

static void test_db_torn_crash_sweep_across_flush_and_compaction(void **state)
{
    (void)state;
    crash_sweep(true, true);
}

/* After an I/O error: reads still serve every accepted change, nothing acknowledged is lost
 * on reopen, and the reopened database takes writes again. */
static bool fault_once(struct sweep *s, uint64_t n, int error, bool persistent,
                       struct test_history *history)
{
    struct vfs_mem *mem = vfs_mem_clone(s->base);
    struct kdb_options options = s->options;
    struct test_op extra = {.kind = TEST_OP_PUT, .id_index = 1, .content_len = 33, .salt = 7};
    struct test_op sync = {.kind = TEST_OP_SYNC};
    struct vfs_fault fault;
    struct kdb *db;

    vfs_fault_init(&fault, vfs_mem_vfs(mem));
    vfs_fault_fail(&fault, n, error, persistent);
    options.vfs = &fault.vfs;
    *history = s->phase1;
    int rc = kdb_open(DB, &options, &db);
    if (rc == 0) {
        run_ops(db, s->ops, PHASE2_OPS, history);
        test_check_prefix(db, history, history->count);
        (void)kdb_close(db);
    } else {
        assert_int_equal(rc, error);
    }
    check_recovered(s, mem, history, error == -ENOSPC ? "ENOSPC" : "EIO", n);
    /* The database goes on. */
    options.vfs = vfs_mem_vfs(mem);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    history->count = 0;
    history->acked_count = 0;
    history->in_flight = 0;
    assert_int_equal(test_apply(db, &extra, history), 0);
    assert_int_equal(test_apply(db, &sync, history), 0);
    assert_int_equal(kdb_close(db), 0);
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    struct kdb_block view;
    struct kdb_id id = test_id(1);
    assert_int_equal(kdb_get_block_view(db, &id, &view), 0);
    assert_int_equal(view.content_len, 33);
    assert_int_equal(kdb_close(db), 0);
    vfs_mem_free(mem);
    return fault.fired;
}

static void fault_sweep(bool lsm)
{
    struct sweep *s = sweep_new(lsm);
    uint64_t changes = sweep_change_count(s, NULL);
    struct test_history *history = malloc(sizeof(*history));
    const int errors[] = {-ENOSPC, -EIO};

    uint64_t fired = 0;

    for (uint64_t n = 1; n <= changes; n++) {
        for (size_t e = 0; e < 2; e++) {
            fired += fault_once(s, n, errors[e], false, history);
            fired += fault_once(s, n, errors[e], true, history);
        }
    }
    /* As in crash_sweep: a point past a run's last change makes a clean run. */
    assert_true(fired + 64 >= 4 * changes);
    printf("# fault sweep%s: ENOSPC and EIO, once and for good, at each of %llu changes\n",
           lsm ? " across flushes and compactions" : "", (unsigned long long)changes);
    free(history);
    sweep_free(s);
}

static void test_db_enospc_and_eio_on_every_write_lose_nothing(void **state)
{
    (void)state;
    fault_sweep(false);
}

static void test_db_enospc_and_eio_across_flush_and_compaction_lose_nothing(void **state)
{
    (void)state;
    fault_sweep(true);
}

/* ---- randomized run against the model ---- */

static void test_db_random_run_matches_model(void **state)
{
    uint64_t seed = test_seed(20261125);
    uint64_t rng = seed;
    struct vfs_mem *mem = vfs_mem_new(seed);
    struct test_history *history = calloc(1, sizeof(*history));
    struct kdb_options options;
    struct kdb *db;
    unsigned rounds = test_quick() ? 10 : 60;

    (void)state;
    test_options(&options, vfs_mem_vfs(mem));
    options.wal_segment_size_bytes = 64 << 10;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    for (unsigned round = 0; round < rounds; round++) {
        struct test_op ops[40];
        uint64_t r = test_random(&rng);

        if (history->count + 40 > MODEL_CHANGES_MAX) break;
        test_workload_graph(ops, 40, r, 1 + r % 9000);
        run_ops(db, ops, 40, history);
        test_check_prefix(db, history, history->count);
        switch (r % 3) {
        case 0: /* clean close */
            assert_int_equal(kdb_close(db), 0);
            history->acked_count = history->count;
            break;
        case 1: /* power cut */
            (void)kdb_close(db);
            vfs_mem_crash(mem);
            break;
        default: /* power cut with torn pages */
            (void)kdb_close(db);
            vfs_mem_crash_torn(mem, r);
            break;
        }
        db = test_reopen_checked(DB, &options, history, seed, round);
    }
    assert_int_equal(kdb_close(db), 0);
    free(history);
    vfs_mem_free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_db_put_get_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_reopen_keeps_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_update_raises_version_and_replaces, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_delete_is_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_read_block_copies_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_empty_metadata_reads_as_empty_object, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_scan_visits_each_live_block_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_many_blocks_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_bad_input_is_refused_and_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_content_limit_is_16_mib, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_options_out_of_range_are_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_open_without_create_needs_a_database, setup,
                                        teardown),
        cmocka_unit_test(test_db_ids_round_trip_through_hex),
        cmocka_unit_test_setup_teardown(test_db_second_open_is_busy_and_names_holder, setup,
                                        teardown),
        cmocka_unit_test(test_db_posix_round_trip_and_lock),
        cmocka_unit_test_setup_teardown(test_db_sync_is_one_fdatasync_for_many_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_flush_begin_overlaps_writes, setup, teardown),
        cmocka_unit_test(test_db_crash_sweep_keeps_every_acknowledged_change),
        cmocka_unit_test(test_db_torn_crash_sweep_keeps_every_acknowledged_change),
        cmocka_unit_test(test_db_enospc_and_eio_on_every_write_lose_nothing),
        cmocka_unit_test(test_db_crash_sweep_across_flush_and_compaction),
        cmocka_unit_test(test_db_torn_crash_sweep_across_flush_and_compaction),
        cmocka_unit_test(test_db_enospc_and_eio_across_flush_and_compaction_lose_nothing),
        cmocka_unit_test(test_db_random_run_matches_model),
    };

    return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
