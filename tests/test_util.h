/* SPDX-License-Identifier: MIT */
/*
 * test_util.h: what the engine suites share: deterministic blocks, a model
 * of the database (the state a sequence of puts and deletes must leave), a
 * scripted workload, and the check that a database equals the model.
 *
 * Sequence numbers make the model exact: change k of a run is log record k,
 * so a database that reports last_sequence L must equal the model after the
 * first L changes, block for block and version for version.
 */
#ifndef KDB_TESTS_TEST_UTIL_H
#define KDB_TESTS_TEST_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kdb.h"

#define MODEL_IDS         24   /* ids the workloads draw from */
#define MODEL_CHANGES_MAX 4096 /* changes one run may record */

enum test_op_kind {
    TEST_OP_PUT = 1,
    TEST_OP_DELETE,
    TEST_OP_SYNC,
    TEST_OP_LINK,   /* put the edge id_index -edge_type-> target_index */
    TEST_OP_UNLINK, /* delete it */
};

struct test_op {
    enum test_op_kind kind;
    unsigned id_index;     /* < MODEL_IDS */
    size_t content_len;    /* PUT */
    uint32_t salt;         /* PUT: varies content, uri and metadata */
    unsigned target_index; /* LINK, UNLINK: < MODEL_IDS */
    unsigned edge_type;    /* LINK, UNLINK: 1..KDB_EDGE_TYPE_MAX */
};

/* Changes in log order; change k (1-based) is changes[k - 1]. */
struct test_history {
    struct test_op changes[MODEL_CHANGES_MAX];
    uint64_t count;       /* changes the engine accepted */
    uint64_t acked_count; /* changes covered by a successful kdb_sync() */
    uint64_t in_flight;   /* 1 when changes[count] failed with an I/O error: it may
                              * or may not have reached the log, as with any write
                              * whose outcome the disk did not report */
};

/* The id of index i: fixed bytes so failures are readable. */
struct kdb_id test_id(unsigned index);

/* Content bytes of a put: a pure function of (salt, i). */
uint8_t test_content_byte(uint32_t salt, size_t i);

/* Fills block (and the buffers it points into, owned by the caller) for op. */
void test_block_for(const struct test_op *op, struct kdb_block *block, uint8_t *content, char *uri,
                    size_t uri_size, char *meta, size_t meta_size);

/*
 * Applies op to db, recording accepted changes in history (SYNC moves
 * acked_count; a change that fails is kept as in flight). Returns the
 * engine's return code. -ENOENT (a delete of a missing block or edge, a
 * link to a missing block) is not a failure and records nothing; nor does
 * a link that is there already, which logs nothing.
 */
int test_apply(struct kdb *db, const struct test_op *op, struct test_history *history);

/* A pseudo-random workload of count ops from seed; sizes up to content_max. */
void test_workload(struct test_op *ops, size_t count, uint64_t seed, size_t content_max);

/* The same with edges: about a third of the ops link or unlink blocks. */
void test_workload_graph(struct test_op *ops, size_t count, uint64_t seed, size_t content_max);

/*
 * Checks that db holds exactly the state after the first prefix changes of
 * history: every id's content, uri, metadata and version, the block count,
 * a full scan, and every block's edges both ways (a block's delete took
 * its edges). Fails the test (cmocka) otherwise.
 */
void test_check_prefix(struct kdb *db, const struct test_history *history, uint64_t prefix);

/*
 * Reopens the database after round of a seeded randomized run (a clean
 * close or a power cut): fails unless it holds every acknowledged change
 * and equals the model after the prefix it reports, then makes that prefix
 * the history's new start. Returns the open handle.
 */
struct kdb *test_reopen_checked(const char *dir, const struct kdb_options *options,
                                struct test_history *history, uint64_t seed, unsigned round);

/* Options for tests: small buffers and segments so every path runs. */
void test_options(struct kdb_options *options, const struct kdb_vfs *vfs);

/* The seed: KDB_TEST_SEED if set, else fallback; printed either way. */
uint64_t test_seed(uint64_t fallback);

/*
 * Runs the shell command fmt (printf-style) with popen(); its standard
 * output, NUL-terminated, into out (size bytes). Returns its exit status,
 * or 128 when it did not exit.
 */
int test_vsh(char *out, size_t size, const char *fmt, va_list ap);

/* test_vsh() with the arguments given. */
int test_sh(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* splitmix64 step. */
uint64_t test_random(uint64_t *state);

/* A log callback that keeps the last message in the char[512] at log_ctx. */
void test_log_keep(void *log_ctx, enum kdb_log_level level, const char *file, int line,
                   const char *message);

/* Whether KDB_TEST_QUICK is set (valgrind runs): sweeps take fewer steps. */
bool test_quick(void);

/* ---- suites that mount: a real FUSE mount, driven by shell commands ---- */

/* The program environment variable env names ($KAUSAL_BIN, $KAUSALFS_BIN), else fallback. */
const char *test_bin(const char *env, const char *fallback);

#define TEST_KAUSAL   test_bin("KAUSAL_BIN", "build/kausal")
#define TEST_KAUSALFS test_bin("KAUSALFS_BIN", "build/kausalfs")

/* A scratch directory holding a database made with kausal, and a mountpoint. */
struct test_mount {
    char dir[256];
    char db[300];
    char mnt[300];
    bool mounted;
    char out[1 << 14]; /* the output of the last test_mount_sh() */
};

/*
 * Skips the test without a usable /dev/fuse (fails it when CI=true); else
 * makes $TMPDIR/kausal-NAME.XXXXXX with a database in db (kausal init) and
 * an empty mnt.
 */
void test_mount_start(struct test_mount *m, const char *name);

/* test_vsh() of fmt into m->out. */
#define test_mount_sh(m, ...) test_sh((m)->out, sizeof((m)->out), __VA_ARGS__)

/* kausalfs DB MNT [-o options]: its exit status, and m->mounted when 0. */
int test_mount_db(struct test_mount *m, const char *options);

/* Unmounts (lazily if busy), then waits until the daemon has closed the database and gone. */
void test_unmount_db(struct test_mount *m);

/* Reads the whole file at path into buf (size bytes at most): its length, or -errno. */
long test_read_file(const char *path, void *buf, size_t size);

/* Unmounts if mounted, and removes the scratch directory: every test's teardown. */
void test_mount_end(struct test_mount *m);

#endif /* KDB_TESTS_TEST_UTIL_H */
