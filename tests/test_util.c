/* SPDX-License-Identifier: MIT */
/*
 * test_util.c: shared workload, model and checks (see test_util.h).
 */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

uint64_t test_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct kdb_id test_id(unsigned index)
{
    struct kdb_id id;

    memset(id.bytes, 0xa0, sizeof(id.bytes));
    id.bytes[0] = (uint8_t)index;
    id.bytes[15] = (uint8_t)(index * 7 + 1);
    return id;
}

uint8_t test_content_byte(uint32_t salt, size_t i)
{
    return (uint8_t)((salt * 2654435761u) >> 24 ^ (i * 31) ^ (i >> 8));
}

void test_block_for(const struct test_op *op, struct kdb_block *block, uint8_t *content, char *uri,
                    size_t uri_size, char *meta, size_t meta_size)
{
    memset(block, 0, sizeof(*block));
    block->id = test_id(op->id_index);
    for (size_t i = 0; i < op->content_len; i++)
        content[i] = test_content_byte(op->salt, i);
    block->content = content;
    block->content_len = op->content_len;
    block->source_uri_len = (size_t)snprintf(uri, uri_size, "src/file%u.c", op->salt % 97);
    block->source_uri = uri;
    block->metadata_len =
        (size_t)snprintf(meta, meta_size, "{\"kind\":\"function\",\"name\":\"f%u\",\"line\":%u}",
                         op->salt, op->salt % 1000);
    block->metadata = meta;
}

int test_apply(struct kdb *db, const struct test_op *op, struct test_history *history)
{
    static uint8_t content[1 << 20];
    char uri[64], meta[128];
    struct kdb_block block;
    struct kdb_id id = test_id(op->id_index);
    int rc;

    switch (op->kind) {
    case TEST_OP_PUT:
        assert_true(op->content_len <= sizeof(content));
        test_block_for(op, &block, content, uri, sizeof(uri), meta, sizeof(meta));
        rc = kdb_put_block(db, &block, NULL);
        break;
    case TEST_OP_DELETE:
        rc = kdb_delete_block(db, &id);
        if (rc == -ENOENT) return rc;
        break;
    case TEST_OP_SYNC:
        rc = kdb_sync(db);
        if (rc == 0) history->acked_count = history->count;
        return rc;
    case TEST_OP_LINK:
    case TEST_OP_UNLINK: {
        struct kdb_edge edge = {
            .source = id, .target = test_id(op->target_index), .type = op->edge_type};
        struct kdb_stats before, after;
        kdb_get_stats(db, &before);
        rc = op->kind == TEST_OP_LINK ? kdb_put_edge(db, &edge) : kdb_delete_edge(db, &edge);
        if (rc == -ENOENT) return rc;
        kdb_get_stats(db, &after);
        /* A link that is there already logs nothing: not a change. */
        if (rc == 0 && after.last_sequence == before.last_sequence) return 0;
        break;
    }
    default:
        fail_msg("bad op kind %d", (int)op->kind);
        return -EINVAL;
    }
    assert_true(history->count < MODEL_CHANGES_MAX);
    history->changes[history->count] = *op;
    history->in_flight = rc < 0;
    if (rc == 0) history->count++;
    return rc;
}

void test_workload(struct test_op *ops, size_t count, uint64_t seed, size_t content_max)
{
    uint64_t rng = seed;

    for (size_t i = 0; i < count; i++) {
        uint64_t r = test_random(&rng);
        struct test_op *op = &ops[i];
        memset(op, 0, sizeof(*op));
        op->id_index = (unsigned)(r % MODEL_IDS);
        op->salt = (uint32_t)(r >> 32);
        switch ((r >> 8) % 10) {
        case 0:
        case 1:
            op->kind = TEST_OP_SYNC;
            break;
        case 2:
            op->kind = TEST_OP_DELETE;
            break;
        default:
            op->kind = TEST_OP_PUT;
            /* Mostly small, now and then one larger than a WAL buffer. */
            op->content_len = (r >> 16) % 16 == 0 ? content_max : (size_t)((r >> 20) % 700);
            break;
        }
    }
}

void test_workload_graph(struct test_op *ops, size_t count, uint64_t seed, size_t content_max)
{
    uint64_t rng = seed ^ 0x9e3779b97f4a7c15ull;

    test_workload(ops, count, seed, content_max);
    for (size_t i = 0; i < count; i++) {
        uint64_t r = test_random(&rng);
        if (r % 3 != 0 || ops[i].kind == TEST_OP_SYNC) continue;
        /* Few ids and types, so that links meet again and deletes cut them. */
        ops[i].kind = (r >> 8) % 4 == 0 ? TEST_OP_UNLINK : TEST_OP_LINK;
        ops[i].id_index = (unsigned)((r >> 16) % (MODEL_IDS / 2));
        ops[i].target_index = (unsigned)((r >> 24) % (MODEL_IDS / 2));
        ops[i].edge_type = 1 + (unsigned)((r >> 32) % 3);
    }
}

struct expect {
    bool live;
    struct test_op put; /* the newest put when live */
    uint64_t version;
};

/* edges[s][t]: bit ty set when s -ty-> t */
typedef uint32_t edge_model[MODEL_IDS][MODEL_IDS];

static bool edge_listed(const struct kdb_result *r, const struct kdb_id *s, unsigned type,
                        const struct kdb_id *t)
{
    for (size_t i = 0; i < r->count; i++) {
        if (r->edges[i].type == type && memcmp(&r->edges[i].source, s, sizeof(*s)) == 0 &&
            memcmp(&r->edges[i].target, t, sizeof(*t)) == 0)
            return true;
    }
    return false;
}

/* Every block's edges, out and in, are the model's; a missing block has none to list. */
static void check_edges(struct kdb *db, const struct expect *expect, edge_model edges)
{
    struct kdb_result *r;
    struct kdb_stats stats;
    uint64_t total = 0;

    assert_int_equal(kdb_result_new(db, &r), 0);
    for (unsigned i = 0; i < MODEL_IDS; i++) {
        struct kdb_id id = test_id(i);
        size_t out = 0, in = 0;
        if (!expect[i].live) {
            assert_int_equal(kdb_edges(db, &id, KDB_DIRECTION_BOTH, 0, r), -ENOENT);
            continue;
        }
        assert_int_equal(kdb_edges(db, &id, KDB_DIRECTION_OUT, 0, r), 0);
        for (unsigned t = 0; t < MODEL_IDS; t++) {
            struct kdb_id target = test_id(t);
            for (unsigned ty = 1; ty <= KDB_EDGE_TYPE_MAX; ty++) {
                if (!((edges[i][t] >> ty) & 1)) continue;
                if (!edge_listed(r, &id, ty, &target))
                    fail_msg("edge %u -%s-> %u is missing", i, kdb_edge_type_name(ty), t);
                out++;
            }
        }
        assert_int_equal(r->count, out);
        total += out;
        assert_int_equal(kdb_edges(db, &id, KDB_DIRECTION_IN, 0, r), 0);
        for (unsigned s = 0; s < MODEL_IDS; s++) {
            struct kdb_id source = test_id(s);
            for (unsigned ty = 1; ty <= KDB_EDGE_TYPE_MAX; ty++) {
                if (!((edges[s][i] >> ty) & 1)) continue;
                if (!edge_listed(r, &source, ty, &id))
                    fail_msg("edge %u -%s-> %u is missing from %u's incoming", s,
                             kdb_edge_type_name(ty), i, i);
                in++;
            }
        }
        assert_int_equal(r->count, in);
    }
    kdb_result_free(r);
    kdb_get_stats(db, &stats);
    assert_int_equal(stats.edge_count, total);
}

static void check_block(struct kdb *db, unsigned index, const struct expect *e)
{
    static uint8_t content[1 << 20];
    char uri[64], meta[128];
    struct kdb_block want, got;
    struct kdb_id id = test_id(index);
    int rc = kdb_get_block_view(db, &id, &got);

    if (!e->live) {
        if (rc != -ENOENT)
            fail_msg("id %u: expected no block, got rc %d version %llu", index, rc,
                     (unsigned long long)got.version);
        return;
    }
    if (rc != 0)
        fail_msg("id %u: expected version %llu, got rc %d", index, (unsigned long long)e->version,
                 rc);
    test_block_for(&e->put, &want, content, uri, sizeof(uri), meta, sizeof(meta));
    assert_int_equal(got.version, e->version);
    assert_int_equal(got.content_len, want.content_len);
    if (want.content_len) assert_memory_equal(got.content, want.content, want.content_len);
    assert_int_equal(got.source_uri_len, want.source_uri_len);
    assert_memory_equal(got.source_uri, want.source_uri, want.source_uri_len);
    assert_int_equal(got.metadata_len, want.metadata_len);
    assert_memory_equal(got.metadata, want.metadata, want.metadata_len);
}

static int count_block(void *ctx, const struct kdb_block *block)
{
    (void)block;
    (*(uint64_t *)ctx)++;
    return 0;
}

void test_check_prefix(struct kdb *db, const struct test_history *history, uint64_t prefix)
{
    struct expect expect[MODEL_IDS];
    static edge_model edges;
    struct kdb_stats stats;
    uint64_t live = 0, scanned = 0;

    memset(expect, 0, sizeof(expect));
    memset(edges, 0, sizeof(edges));
    assert_true(prefix <= history->count + history->in_flight);
    for (uint64_t k = 0; k < prefix; k++) {
        const struct test_op *op = &history->changes[k];
        struct expect *e = &expect[op->id_index];
        uint32_t bit = UINT32_C(1) << op->edge_type;
        switch (op->kind) {
        case TEST_OP_LINK:
            edges[op->id_index][op->target_index] |= bit;
            continue;
        case TEST_OP_UNLINK:
            edges[op->id_index][op->target_index] &= ~bit;
            continue;
        case TEST_OP_DELETE: /* the block's edges go with it */
            for (unsigned o = 0; o < MODEL_IDS; o++)
                edges[op->id_index][o] = edges[o][op->id_index] = 0;
            break;
        default:
            break;
        }
        e->live = op->kind == TEST_OP_PUT;
        e->put = *op;
        e->version = k + 1;
    }
    for (unsigned i = 0; i < MODEL_IDS; i++) {
        check_block(db, i, &expect[i]);
        live += expect[i].live;
    }
    kdb_get_stats(db, &stats);
    assert_int_equal(stats.last_sequence, prefix);
    assert_int_equal(stats.block_count, live);
    assert_int_equal(kdb_scan_blocks(db, count_block, &scanned), 0);
    assert_int_equal(scanned, live);
    check_edges(db, expect, edges);
}

struct kdb *test_reopen_checked(const char *dir, const struct kdb_options *options,
                                struct test_history *history, uint64_t seed, unsigned round)
{
    struct kdb_stats stats;
    struct kdb *db = NULL;

    assert_int_equal(kdb_open(dir, options, &db), 0);
    kdb_get_stats(db, &stats);
    if (stats.last_sequence < history->acked_count)
        fail_msg("seed %llu round %u: lost acknowledged changes", (unsigned long long)seed, round);
    test_check_prefix(db, history, stats.last_sequence);
    history->count = stats.last_sequence;
    history->acked_count = stats.last_sequence;
    history->in_flight = 0;
    return db;
}

void test_options(struct kdb_options *options, const struct kdb_vfs *vfs)
{
    kdb_options_init(options);
    options->flags = KDB_OPEN_CREATE;
    options->vfs = vfs;
    options->wal_segment_size_bytes = 4096;
    options->wal_buffer_size_bytes = 4096;
    options->arena_chunk_size_bytes = 4096;
}

uint64_t test_seed(uint64_t fallback)
{
    const char *env = getenv("KDB_TEST_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 0) : fallback;

    printf("# seed %llu (set KDB_TEST_SEED to repeat)\n", (unsigned long long)seed);
    return seed;
}

void test_log_keep(void *log_ctx, enum kdb_log_level level, const char *file, int line,
                   const char *message)
{
    (void)level;
    (void)file;
    (void)line;
    snprintf(log_ctx, 512, "%s", message);
}

bool test_quick(void)
{
    const char *env = getenv("KDB_TEST_QUICK");
    return env && *env && strcmp(env, "0") != 0;
}

int test_vsh(char *out, size_t size, const char *fmt, va_list ap)
{
    char command[4096];
    FILE *p;
    size_t n;
    int status;

    vsnprintf(command, sizeof(command), fmt, ap);
    p = popen(command, "r");
    assert_non_null(p);
    n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

const char *test_bin(const char *env, const char *fallback)
{
    const char *v = getenv(env);
    return v && *v ? v : fallback;
}

int test_sh(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    int status;

    va_start(ap, fmt);
    status = test_vsh(out, size, fmt, ap);
    va_end(ap);
    return status;
}

void test_mount_start(struct test_mount *m, const char *name)
{
    const char *tmp = getenv("TMPDIR");

    memset(m, 0, sizeof(*m));
    if (access("/dev/fuse", R_OK | W_OK) != 0) {
        const char *ci = getenv("CI");
        if (ci && strcmp(ci, "true") == 0) fail_msg("/dev/fuse is not usable: %s", strerror(errno));
        skip();
    }
    snprintf(m->dir, sizeof(m->dir), "%s/kausal-%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    assert_non_null(mkdtemp(m->dir));
    snprintf(m->db, sizeof(m->db), "%s/db", m->dir);
    snprintf(m->mnt, sizeof(m->mnt), "%s/mnt", m->dir);
    assert_int_equal(mkdir(m->mnt, 0700), 0);
    if (test_mount_sh(m, "%s -d %s init 2>&1", TEST_KAUSAL, m->db) != 0)
        fail_msg("kausal init: %s", m->out);
}

int test_mount_db(struct test_mount *m, const char *options)
{
    int rc = test_mount_sh(m, "%s %s %s%s%s 2>&1", TEST_KAUSALFS, m->db, m->mnt,
                           options ? " -o " : "", options ? options : "");
    m->mounted = rc == 0;
    return rc;
}

void test_unmount_db(struct test_mount *m)
{
    long pid;

    if (!m->mounted) return;
    pid = test_mount_sh(m, "cat %s/LOCK 2>/dev/null", m->db) == 0 ? strtol(m->out, NULL, 10) : 0;
    if (test_mount_sh(m, "fusermount3 -u %s 2>&1", m->mnt) != 0)
        (void)test_mount_sh(m, "fusermount3 -u -z %s 2>&1", m->mnt);
    m->mounted = false;
    for (int i = 0; i < 1000 && pid > 0 && kill((pid_t)pid, 0) == 0; i++)
        usleep(10000);
}

void test_mount_end(struct test_mount *m)
{
    test_unmount_db(m);
    if (m->dir[0]) (void)test_mount_sh(m, "rm -rf %s", m->dir);
}

long test_read_file(const char *path, void *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    size_t n = 0;

    if (fd < 0) return -errno;
    while (n < size) {
        ssize_t r = read(fd, (char *)buf + n, size - n);
        if (r < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    return (long)n;
}
