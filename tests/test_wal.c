/* SPDX-License-Identifier: MIT */
/*
 * test_wal.c: the write-ahead log's bytes on disk and what replay makes of
 * damage to them.
 *
 * Goal: the format stays readable (golden segments of format versions 1
 * and 2 still decode, and the same changes, edges among them, still encode
 * to the same bytes); a
 * torn tail is dropped and the file cut back; damage that a later record
 * shows was durable, damage in a completed segment, a missing segment and
 * a newer format version are reported, never served.
 *
 * Method: databases on tests/vfs_mem.c, whose file bytes the tests edit
 * directly; the sweeps flip every bit and cut at every offset of every
 * segment of a small database and reopen each copy.
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
#include "format.h"
#include "kdb.h"
#include "test_util.h"
#include "vfs_fault.h"
#include "vfs_mem.h"

#define DB             "db"
#define GOLDEN_V1_PATH "tests/data/wal-v1.golden" /* blocks only */
#define GOLDEN_PATH    "tests/data/wal-v2.golden" /* blocks and edges */
#define SEGMENT(n)     DB "/wal-000000000000000" #n ".log"

struct small_db {
    struct vfs_mem *mem;
    struct kdb_options options;
    struct test_history history;
    char files[16][64]; /* segment paths, oldest first */
    size_t file_count;
};

static int collect(void *ctx, const char *name)
{
    struct small_db *s = ctx;

    if (strncmp(name, "wal-", 4) == 0) {
        assert_true(s->file_count < 16);
        snprintf(s->files[s->file_count++], 64, DB "/%s", name);
    }
    return 0;
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* A database of a few segments, closed cleanly: every record is durable. */
static struct small_db *small_db_new(size_t ops, size_t content_max)
{
    struct small_db *s = calloc(1, sizeof(*s));
    struct test_op script[64];
    const struct kdb_vfs *vfs;
    struct kdb *db;

    assert_non_null(s);
    assert_true(ops <= 64);
    s->mem = vfs_mem_new(3);
    vfs = vfs_mem_vfs(s->mem);
    test_options(&s->options, vfs);
    s->options.flags |= KDB_OPEN_KEEP_LOG; /* the log is what these tests read */
    test_workload(script, ops, 5, content_max);
    assert_int_equal(kdb_open(DB, &s->options, &db), 0);
    for (size_t i = 0; i < ops; i++) {
        if (script[i].kind == TEST_OP_PUT) script[i].content_len %= content_max + 1;
        (void)test_apply(db, &script[i], &s->history);
    }
    assert_int_equal(kdb_close(db), 0);
    s->history.acked_count = s->history.count;
    assert_int_equal(vfs->list_dir(vfs->ctx, DB, collect, s), 0);
    qsort(s->files, s->file_count, sizeof(s->files[0]), compare_paths);
    return s;
}

static void small_db_free(struct small_db *s)
{
    vfs_mem_free(s->mem);
    free(s);
}

/* Opens mem; on success checks the state is a prefix and returns its length. */
static int open_and_check(struct small_db *s, struct vfs_mem *mem, uint64_t *prefix)
{
    struct kdb_options options = s->options;
    struct kdb_stats stats;
    struct kdb *db;
    int rc;

    options.vfs = vfs_mem_vfs(mem);
    rc = kdb_open(DB, &options, &db);
    *prefix = 0;
    if (rc != 0) return rc;
    kdb_get_stats(db, &stats);
    *prefix = stats.last_sequence;
    test_check_prefix(db, &s->history, stats.last_sequence);
    assert_int_equal(kdb_close(db), 0);
    return 0;
}

static void assert_reported(int rc)
{
    if (rc != -KDB_ECORRUPT && rc != -KDB_ECHECKSUM && rc != -ENOTSUP)
        fail_msg("expected corruption to be reported, got %d (%s)", rc, kdb_strerror(rc));
}

/* ---- golden file ---- */

/* The changes whose log is the golden segment: format 1's, and format 2's with edges. */
static void golden_changes(struct kdb *db, struct test_history *history, bool edges)
{
    const struct test_op ops[] = {
        {.kind = TEST_OP_PUT, .id_index = 1, .content_len = 40, .salt = 1},
        {.kind = TEST_OP_PUT, .id_index = 2, .content_len = 0, .salt = 2},
        {.kind = TEST_OP_PUT, .id_index = 3, .content_len = 300, .salt = 3},
        {.kind = TEST_OP_PUT, .id_index = 2, .content_len = 17, .salt = 4},
        {.kind = TEST_OP_DELETE, .id_index = 3},
        {.kind = TEST_OP_SYNC},
    };
    const struct test_op graph[] = {
        {.kind = TEST_OP_LINK, .id_index = 1, .target_index = 2, .edge_type = KDB_EDGE_CALLS},
        {.kind = TEST_OP_LINK, .id_index = 2, .target_index = 1, .edge_type = KDB_EDGE_DEFINED_IN},
        {.kind = TEST_OP_PUT, .id_index = 4, .content_len = 5, .salt = 5},
        {.kind = TEST_OP_LINK, .id_index = 4, .target_index = 1, .edge_type = KDB_EDGE_CALLS},
        {.kind = TEST_OP_UNLINK, .id_index = 1, .target_index = 2, .edge_type = KDB_EDGE_CALLS},
        {.kind = TEST_OP_DELETE, .id_index = 4},
        {.kind = TEST_OP_SYNC},
    };

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        assert_int_equal(test_apply(db, &ops[i], history), 0);
    for (size_t i = 0; edges && i < sizeof(graph) / sizeof(graph[0]); i++)
        assert_int_equal(test_apply(db, &graph[i], history), 0);
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    uint8_t *bytes = malloc(1 << 16);

    if (!file) fail_msg("cannot open %s (run the tests from the top of the tree)", path);
    assert_non_null(bytes);
    *size = fread(bytes, 1, 1 << 16, file);
    assert_int_equal(fclose(file), 0);
    return bytes;
}

static void test_wal_golden_v2_still_encodes_the_same(void **state)
{
    struct vfs_mem *mem = vfs_mem_new(1);
    struct test_history history = {0};
    struct kdb_options options;
    const char *write_to = getenv("KDB_WRITE_GOLDEN");
    size_t golden_size;
    uint8_t *golden;
    struct kdb *db;

    (void)state;
    test_options(&options, vfs_mem_vfs(mem));
    options.flags |= KDB_OPEN_KEEP_LOG;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    golden_changes(db, &history, true);
    assert_int_equal(kdb_close(db), 0);
    int64_t size = vfs_mem_file_size(mem, SEGMENT(1));
    assert_true(size > WAL_HEADER_SIZE);
    if (write_to && *write_to) {
        FILE *file = fopen(write_to, "wb");
        assert_non_null(file);
        assert_int_equal(fwrite(vfs_mem_file_data(mem, SEGMENT(1)), 1, (size_t)size, file),
                         (size_t)size);
        assert_int_equal(fclose(file), 0);
    }
    golden = read_file(GOLDEN_PATH, &golden_size);
    assert_int_equal(golden_size, (size_t)size);
    assert_memory_equal(golden, vfs_mem_file_data(mem, SEGMENT(1)), golden_size);
    free(golden);
    vfs_mem_free(mem);
}

/* A log of one golden segment replays to the changes it was made from. */
static void golden_decodes(const char *path, bool edges)
{
    struct vfs_mem *mem = vfs_mem_new(1);
    const struct kdb_vfs *vfs = vfs_mem_vfs(mem);
    struct test_history history = {0};
    struct kdb_options options;
    size_t golden_size;
    uint8_t *golden = read_file(path, &golden_size);
    struct kdb *db;
    int fd;

    /* The history the golden file was made from, recorded against a scratch database. */
    struct vfs_mem *scratch = vfs_mem_new(1);
    test_options(&options, vfs_mem_vfs(scratch));
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    golden_changes(db, &history, edges);
    assert_int_equal(kdb_close(db), 0);
    vfs_mem_free(scratch);

    assert_int_equal(vfs->mkdir(vfs->ctx, DB), 0);
    assert_int_equal(
        vfs->open(vfs->ctx, DB "/" FORMAT_LOCK_NAME, KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE, &fd),
        0);
    assert_int_equal(vfs->close(vfs->ctx, fd), 0);
    assert_int_equal(vfs->open(vfs->ctx, SEGMENT(1), KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE, &fd),
                     0);
    assert_int_equal(vfs->pwrite(vfs->ctx, fd, golden, golden_size, 0), 0);
    assert_int_equal(vfs->close(vfs->ctx, fd), 0);
    options.vfs = vfs;
    options.flags = 0;
    assert_int_equal(kdb_open(DB, &options, &db), 0);
    test_check_prefix(db, &history, history.count);
    assert_int_equal(kdb_close(db), 0);
    free(golden);
    vfs_mem_free(mem);
}

static void test_wal_golden_v1_decodes(void **state)
{
    (void)state;
    golden_decodes(GOLDEN_V1_PATH, false);
}

static void test_wal_golden_v2_decodes(void **state)
{
    (void)state;
    golden_decodes(GOLDEN_PATH, true);
}

/* ---- tails, damage, versions ---- */

static void test_wal_replay_torn_tail_truncates(void **state)
{
    struct small_db *s = small_db_new(20, 200);
    struct vfs_mem *mem = vfs_mem_clone(s->mem);
    const char *newest = s->files[s->file_count - 1];
    int64_t size = vfs_mem_file_size(mem, newest);
    uint64_t prefix;

    (void)state;
    /* Half of a record that never completed: a plausible header, no payload. */
    assert_int_equal(vfs_mem_set_size(mem, newest, (uint64_t)size + 30), 0);
    memset(vfs_mem_file_data(mem, newest) + size, 0x5a, 30);
    assert_int_equal(vfs_mem_commit(mem, newest), 0);
    assert_int_equal(open_and_check(s, mem, &prefix), 0);
    assert_int_equal(prefix, s->history.count);
    assert_int_equal(vfs_mem_file_size(mem, newest), size); /* cut back */
    vfs_mem_free(mem);
    small_db_free(s);
}

/* A crash after a sync with no later write cannot be told from damage to the
 * newest records; only the last record of a cleanly closed log is its seal. */
static void test_wal_replay_cut_in_last_record_drops_only_it(void **state)
{
    struct small_db *s = small_db_new(20, 200);
    struct vfs_mem *mem = vfs_mem_clone(s->mem);
    const char *newest = s->files[s->file_count - 1];
    int64_t size = vfs_mem_file_size(mem, newest);
    uint64_t prefix;

    (void)state;
    /* Drop the seal and half the last record. */
    assert_int_equal(vfs_mem_set_size(mem, newest, (uint64_t)size - WAL_RECORD_HEADER_SIZE - 20),
                     0);
    assert_int_equal(open_and_check(s, mem, &prefix), 0);
    assert_int_equal(prefix, s->history.count - 1);
    vfs_mem_free(mem);
    small_db_free(s);
}

static void test_wal_replay_damage_before_durable_records_is_euclean(void **state)
{
    struct small_db *s = small_db_new(20, 200);
    struct vfs_mem *mem = vfs_mem_clone(s->mem);
    const char *newest = s->files[s->file_count - 1];
    char message[512] = "";
    struct kdb_options options = s->options;
    struct kdb *db = NULL;

    (void)state;
    /* First byte of the first record's payload. */
    vfs_mem_file_data(mem, newest)[WAL_HEADER_SIZE + WAL_RECORD_HEADER_SIZE] ^= 0x10;
    assert_int_equal(vfs_mem_commit(mem, newest), 0);
    options.vfs = vfs_mem_vfs(mem);
    options.log = test_log_keep;
    options.log_ctx = message;
    assert_int_equal(kdb_open(DB, &options, &db), -KDB_ECORRUPT);
    assert_null(db);
    assert_non_null(strstr(message, "at offset 64 is damaged or missing"));
    vfs_mem_free(mem);
    small_db_free(s);
}

static void test_wal_replay_newer_version_is_enotsup(void **state)
{
    struct small_db *s = small_db_new(10, 100);
    struct vfs_mem *mem = vfs_mem_clone(s->mem);
    uint8_t *header = vfs_mem_file_data(mem, s->files[0]);
    uint64_t prefix;

    (void)state;
    /* A newer writer would have written a valid header with a higher version. */
    header[WAL_HEADER_VERSION_OFFSET] = WAL_VERSION + 1;
    put_le64(header + WAL_HEADER_CHECKSUM_OFFSET,
             checksum_64(header, WAL_HEADER_CHECKSUM_OFFSET, 0));
    assert_int_equal(vfs_mem_commit(mem, s->files[0]), 0);
    assert_int_equal(open_and_check(s, mem, &prefix), -ENOTSUP);
    vfs_mem_free(mem);
    small_db_free(s);
}

static void test_wal_replay_missing_segment_is_euclean(void **state)
{
    struct small_db *s = small_db_new(40, 400);
    struct vfs_mem *mem = vfs_mem_clone(s->mem);
    const struct kdb_vfs *vfs = vfs_mem_vfs(mem);
    uint64_t prefix;

    (void)state;
    assert_true(s->file_count >= 3);
    assert_int_equal(vfs->unlink(vfs->ctx, s->files[1]), 0);
    assert_int_equal(vfs->sync_dir(vfs->ctx, DB), 0);
    assert_int_equal(open_and_check(s, mem, &prefix), -KDB_ECORRUPT);
    vfs_mem_free(mem);
    mem = vfs_mem_clone(s->mem);
    vfs = vfs_mem_vfs(mem);
    assert_int_equal(vfs->unlink(vfs->ctx, s->files[0]), 0);
    assert_int_equal(open_and_check(s, mem, &prefix), -KDB_ECORRUPT);
    vfs_mem_free(mem);
    small_db_free(s);
}

/* Writes a file of len bytes, all zero, durably. */
static void write_zeros(struct vfs_mem *mem, const char *path, size_t len)
{
    const struct kdb_vfs *vfs = vfs_mem_vfs(mem);
    static const uint8_t zeros[WAL_HEADER_SIZE + 100];
    int fd;

    assert_true(len <= sizeof(zeros));
    assert_int_equal(vfs->open(vfs->ctx, path, KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE, &fd), 0);
    if (len) assert_int_equal(vfs->pwrite(vfs->ctx, fd, zeros, len, 0), 0);
    assert_int_equal(vfs->fsync(vfs->ctx, fd), 0);
    assert_int_equal(vfs->close(vfs->ctx, fd), 0);
    assert_int_equal(vfs->sync_dir(vfs->ctx, DB), 0);
}

/* A crash right after a segment was created leaves it empty or with a blank header:
 * nothing in it was acknowledged, so replay removes it. Anywhere else it is damage. */
static void test_wal_newest_segment_without_header_is_removed(void **state)
{
    struct small_db *s = small_db_new(10, 100);
    const size_t lengths[] = {0, 30, WAL_HEADER_SIZE, WAL_HEADER_SIZE + 100};
    char path[64];
    uint64_t prefix;

    (void)state;
    snprintf(path, sizeof(path), DB "/wal-%016llx.log", (unsigned long long)s->file_count + 1);
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        struct vfs_mem *mem = vfs_mem_clone(s->mem);
        write_zeros(mem, path, lengths[i]);
        assert_int_equal(open_and_check(s, mem, &prefix), 0);
        assert_int_equal(prefix, s->history.count);
        vfs_mem_free(mem);
    }
    /* The same blank header in a segment that others follow is reported. */
    struct vfs_mem *mem = vfs_mem_clone(s->mem);
    memset(vfs_mem_file_data(mem, s->files[0]), 0, WAL_HEADER_SIZE);
    assert_int_equal(vfs_mem_commit(mem, s->files[0]), 0);
    write_zeros(mem, path, WAL_HEADER_SIZE);
    assert_reported(open_and_check(s, mem, &prefix));
    vfs_mem_free(mem);
    small_db_free(s);
}

/* A bit flipped on its way from the disk (a bad read, not a bad file) is caught
 * by the checksums like damage on disk: reported, never served. */
static void test_wal_bit_flipped_in_a_read_is_reported(void **state)
{
    struct small_db *s = small_db_new(20, 200);
    struct kdb_options options = s->options;
    struct vfs_fault fault;
    struct kdb *db = NULL;

    (void)state;
    vfs_fault_init(&fault, vfs_mem_vfs(s->mem));
    /* The first read is the oldest segment, through replay's buffer: flip a bit
     * in its first record's payload. */
    vfs_fault_flip_read(&fault, 1, 8 * (WAL_HEADER_SIZE + WAL_RECORD_HEADER_SIZE) + 3);
    options.vfs = &fault.vfs;
    assert_int_equal(kdb_open(DB, &options, &db), -KDB_ECORRUPT);
    assert_true(fault.fired);
    assert_null(db);
    /* The file itself is intact: without the fault everything is there. */
    uint64_t prefix;
    assert_int_equal(open_and_check(s, s->mem, &prefix), 0);
    assert_int_equal(prefix, s->history.count);
    small_db_free(s);
}

/* A bit of a segment's header flipped on its way from the disk: replay reads the header
 * through its buffer as well, and reports it. */
static void test_wal_bit_flipped_in_a_header_read_is_reported(void **state)
{
    struct small_db *s = small_db_new(20, 200);
    struct kdb_options options = s->options;
    struct vfs_fault fault;
    struct kdb *db = NULL;
    uint64_t prefix;

    (void)state;
    vfs_fault_init(&fault, vfs_mem_vfs(s->mem));
    vfs_fault_flip_read(&fault, 1, 8 * 2 + 5); /* the magic's third byte */
    options.vfs = &fault.vfs;
    assert_int_equal(kdb_open(DB, &options, &db), -KDB_ECORRUPT);
    assert_true(fault.fired);
    assert_null(db);
    assert_int_equal(open_and_check(s, s->mem, &prefix), 0);
    assert_int_equal(prefix, s->history.count);
    small_db_free(s);
}

/* ---- sweeps ---- */

/* Every byte of every segment of a cleanly closed log, one bit flipped (the
 * bit turns with the offset): an error, or (the seal only) everything intact.
 * Never a crash, never wrong data. */
static void test_wal_corruption_sweep_flip_every_byte(void **state)
{
    struct small_db *s = small_db_new(24, 300);
    uint64_t tried = 0, reported = 0;
    unsigned step = test_quick() ? 7 : 1;

    (void)state;
    assert_true(s->file_count >= 2);
    for (size_t f = 0; f < s->file_count; f++) {
        int64_t size = vfs_mem_file_size(s->mem, s->files[f]);
        for (int64_t offset = 0; offset < size; offset += step) {
            struct vfs_mem *mem = vfs_mem_clone(s->mem);
            uint64_t prefix;
            vfs_mem_file_data(mem, s->files[f])[offset] ^= (uint8_t)(1u << (offset % 8));
            assert_int_equal(vfs_mem_commit(mem, s->files[f]), 0);
            int rc = open_and_check(s, mem, &prefix);
            if (rc == 0)
                assert_int_equal(prefix, s->history.count);
            else
                assert_reported(rc);
            reported += rc != 0;
            tried++;
            vfs_mem_free(mem);
        }
    }
    printf("# flip sweep: %llu flips over %zu segments, %llu reported, the rest harmless\n",
           (unsigned long long)tried, s->file_count, (unsigned long long)reported);
    small_db_free(s);
}

/* Every cut of every segment: the newest segment loses only its cut tail (cut
 * inside its header, it looks like a creation a crash cut short and goes); a
 * cut completed segment is reported. */
static void test_wal_corruption_sweep_cut_every_offset(void **state)
{
    struct small_db *s = small_db_new(24, 300);
    unsigned step = test_quick() ? 5 : 1;
    uint64_t tried = 0;

    (void)state;
    for (size_t f = 0; f < s->file_count; f++) {
        int64_t size = vfs_mem_file_size(s->mem, s->files[f]);
        bool newest = f + 1 == s->file_count;
        uint64_t last_prefix = 0;
        for (int64_t cut = 0; cut < size; cut += step) {
            struct vfs_mem *mem = vfs_mem_clone(s->mem);
            uint64_t prefix;
            assert_int_equal(vfs_mem_set_size(mem, s->files[f], (uint64_t)cut), 0);
            int rc = open_and_check(s, mem, &prefix);
            if (!newest) {
                assert_reported(rc);
            } else {
                assert_int_equal(rc, 0);
                assert_true(prefix >= last_prefix); /* a longer file never holds less */
                last_prefix = prefix;
            }
            tried++;
            vfs_mem_free(mem);
        }
    }
    printf("# cut sweep: %llu cuts over %zu segments\n", (unsigned long long)tried, s->file_count);
    small_db_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wal_golden_v2_still_encodes_the_same),
        cmocka_unit_test(test_wal_golden_v1_decodes),
        cmocka_unit_test(test_wal_golden_v2_decodes),
        cmocka_unit_test(test_wal_replay_torn_tail_truncates),
        cmocka_unit_test(test_wal_replay_cut_in_last_record_drops_only_it),
        cmocka_unit_test(test_wal_replay_damage_before_durable_records_is_euclean),
        cmocka_unit_test(test_wal_replay_newer_version_is_enotsup),
        cmocka_unit_test(test_wal_replay_missing_segment_is_euclean),
        cmocka_unit_test(test_wal_newest_segment_without_header_is_removed),
        cmocka_unit_test(test_wal_bit_flipped_in_a_read_is_reported),
        cmocka_unit_test(test_wal_bit_flipped_in_a_header_read_is_reported),
        cmocka_unit_test(test_wal_corruption_sweep_flip_every_byte),
        cmocka_unit_test(test_wal_corruption_sweep_cut_every_offset),
    };

    return cmocka_run_group_tests_name("wal", tests, NULL, NULL);
}
