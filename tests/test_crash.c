/* SPDX-License-Identifier: MIT */
/*
 * test_crash.c: kill -9, many times over, while writers change the
 * database through the mount and through the kausal command.
 *
 * Goal: whatever moment a process dies at, every change acknowledged by a
 * durability point (an fsync through the mount, a kausal command that
 * exited 0) is in the database afterwards, nothing deleted comes back, no
 * change is half there, and `kausal check` finds no damage.
 * Method: each round, a writer process (a child of this one) makes random
 * changes to 32 blocks, their metadata and the calls edges between them,
 * and tells this process each change before it makes it, and each
 * acknowledgement after it gets it. Two rounds in three, the database is
 * mounted ($KAUSALFS_BIN) and the writer goes through the mount with
 * system calls (open with O_TRUNC, write, setxattr, symlink, unlink,
 * fsync), and now and then through kausal ($KAUSAL_BIN) served by the
 * daemon (`kausal compact` among them, so that kills land in flushes and
 * compactions too); then the daemon is killed at a random moment. The third round,
 * nothing is mounted, the writer runs kausal commands on the database
 * directly, and the command in flight is killed. The checker then opens
 * the database itself (not through the mount) and requires it to equal
 * the state after some prefix of the changes told that holds every
 * acknowledged one: the log is replayed in order, so any other state is a
 * loss, a resurrection or a torn change. That state is the next round's
 * start. KDB_CRASH_KILLS sets the rounds (default 100); KDB_TEST_SEED the
 * seed. Every mount is undone, pass or fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kdb.h"
#include "test_util.h"

#define IDS         32
#define OPS_MAX     20000 /* changes told in one round, at most */
#define CONTENT_MAX 3000  /* one write request, one change */

enum { ABSENT = 0, EMPTY = 1 }; /* content states; 2 and up are versions */

/* The database as the checker sees it. */
struct state {
    uint32_t content[IDS]; /* ABSENT, EMPTY or a version */
    uint32_t meta[IDS];    /* 0: "{}"; else {"v":meta} */
    bool calls[IDS][IDS];  /* calls edge from i to j */
};

enum op_kind {
    OP_CREATE = 1, /* open(O_CREAT | O_TRUNC): the block is there and empty */
    OP_WRITE,      /* content becomes version v (metadata kept) */
    OP_PUT,        /* kausal put: content version v and metadata m */
    OP_META,       /* metadata becomes m */
    OP_DELETE,     /* the block and its edges go */
    OP_LINK,
    OP_UNLINK,
    OP_ACK, /* every change told before this one is durable */
};

/* What the writer tells the checker, through a pipe (a write of this size is atomic). */
struct op {
    uint8_t kind;
    uint8_t a, b;
    uint8_t pad;
    uint32_t v;
    uint32_t m;
};

struct fixture {
    struct test_mount m;
    char tmp[300]; /* a content file for kausal put */
    uint64_t rng;
    uint32_t next_version;
    struct state state;
    struct op ops[OPS_MAX];
    size_t op_count;
    size_t changes; /* told, every round */
    size_t acked;   /* of them acknowledged, and found */
    size_t beyond;  /* not acknowledged, and found (the prefix past the last acknowledgement) */
    unsigned daemon_kills;
    unsigned tool_kills;
};

static unsigned below(uint64_t *s, unsigned n)
{
    return (unsigned)(test_random(s) % n);
}

static void hex_id(unsigned i, char *hex)
{
    struct kdb_id id = test_id(i);
    kdb_id_to_hex(&id, hex);
}

/* Version v's content for block i: its length and bytes are a function of (i, v). */
static size_t content_of(unsigned i, uint32_t v, char *buf)
{
    size_t len = 1 + (size_t)((v * 2654435761u + i) % CONTENT_MAX), n = 0;
    while (n < len) {
        int k = snprintf(buf + n, CONTENT_MAX + 1 - n, "%02u:%08u\n", i, v);
        n += (size_t)k;
    }
    return len;
}

static void meta_of(uint32_t m, char *buf, size_t size)
{
    snprintf(buf, size, "{\"v\":%u}", m);
}

static void apply(struct state *s, const struct op *op)
{
    switch (op->kind) {
    case OP_CREATE:
        if (s->content[op->a] == ABSENT) s->meta[op->a] = 0;
        s->content[op->a] = EMPTY;
        break;
    case OP_WRITE:
        s->content[op->a] = op->v;
        break;
    case OP_PUT:
        s->content[op->a] = op->v;
        s->meta[op->a] = op->m;
        break;
    case OP_META:
        s->meta[op->a] = op->m;
        break;
    case OP_DELETE:
        s->content[op->a] = ABSENT;
        s->meta[op->a] = 0;
        for (unsigned j = 0; j < IDS; j++)
            s->calls[op->a][j] = s->calls[j][op->a] = false;
        break;
    case OP_LINK:
        s->calls[op->a][op->b] = true;
        break;
    case OP_UNLINK:
        s->calls[op->a][op->b] = false;
        break;
    default:
        break;
    }
}

/* ---- the writer (a child process) ---- */

struct writer {
    struct fixture *f;
    int pipe;
    struct state s; /* what the writer has done, for picking valid changes */
};

static void tell(struct writer *w, const struct op *op)
{
    if (write(w->pipe, op, sizeof(*op)) != (ssize_t)sizeof(*op)) _exit(3);
    apply(&w->s, op);
}

/* Runs kausal with args (NULL-terminated); its exit status, or -1. */
static int run_kausal(struct writer *w, const char *const *args)
{
    const char *argv[16];
    size_t n = 0;
    int status;
    pid_t pid;

    argv[n++] = TEST_KAUSAL;
    argv[n++] = "-d";
    argv[n++] = w->f->m.db;
    while (*args && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* One change through kausal; false when the command failed. */
static bool cli_change(struct writer *w, uint64_t *rng)
{
    struct fixture *f = w->f;
    unsigned a = below(rng, IDS), b = below(rng, IDS);
    char ha[33], hb[33], meta[64];
    struct op op = {.a = (uint8_t)a, .b = (uint8_t)b};
    int rc;

    hex_id(a, ha);
    hex_id(b, hb);
    if (below(rng, 16) == 0) {
        /* A flush and a compaction to be killed in; it changes nothing, and syncs. */
        rc = run_kausal(w, (const char *[]){"compact", NULL});
    } else if (w->s.content[a] == ABSENT || below(rng, 3) == 0) {
        char buf[CONTENT_MAX + 16];
        FILE *file = fopen(f->tmp, "w");
        op.kind = OP_PUT;
        op.v = f->next_version++;
        op.m = f->next_version++;
        size_t len = content_of(a, op.v, buf);
        if (!file || fwrite(buf, 1, len, file) != len || fclose(file) != 0) _exit(4);
        meta_of(op.m, meta, sizeof(meta));
        tell(w, &op);
        rc = run_kausal(w, (const char *[]){"put", ha, "--meta", meta, "--file", f->tmp, NULL});
    } else if (below(rng, 6) == 0) {
        op.kind = OP_DELETE;
        tell(w, &op);
        rc = run_kausal(w, (const char *[]){"rm", ha, NULL});
    } else if (w->s.content[b] != ABSENT && !w->s.calls[a][b]) {
        op.kind = OP_LINK;
        tell(w, &op);
        rc = run_kausal(w, (const char *[]){"link", ha, "calls", hb, NULL});
    } else if (w->s.calls[a][b]) {
        op.kind = OP_UNLINK;
        tell(w, &op);
        rc = run_kausal(w, (const char *[]){"unlink", ha, "calls", hb, NULL});
    } else {
        return true;
    }
    if (rc != 0) return false;
    /* Each command that changes the database makes it durable before it exits. */
    struct op ack = {.kind = OP_ACK};
    tell(w, &ack);
    return true;
}

/* One change (or an fsync) through the mount; false when a system call failed. */
static bool mount_change(struct writer *w, uint64_t *rng)
{
    struct fixture *f = w->f;
    unsigned a = below(rng, IDS), b = below(rng, IDS), pick = below(rng, 100);
    char ha[33], hb[33], path[700], target[64];
    struct op op = {.a = (uint8_t)a, .b = (uint8_t)b};

    hex_id(a, ha);
    hex_id(b, hb);
    snprintf(path, sizeof(path), "%s/blocks/%s", f->m.mnt, ha);
    if (pick < 10) return cli_change(w, rng); /* kausal, served by the daemon */
    if (pick < 20) {
        int fd = open(pick < 15 ? path : f->m.mnt, O_RDONLY);
        struct op ack = {.kind = OP_ACK};
        if (fd < 0) return errno == ENOENT;
        bool ok = fsync(fd) == 0;
        close(fd);
        if (ok) tell(w, &ack);
        return ok;
    }
    if (w->s.content[a] == ABSENT || pick < 50) {
        char buf[CONTENT_MAX + 16];
        int fd;
        op.kind = OP_CREATE;
        tell(w, &op);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return false;
        op.kind = OP_WRITE;
        op.v = f->next_version++;
        size_t len = content_of(a, op.v, buf);
        tell(w, &op);
        bool ok = write(fd, buf, len) == (ssize_t)len;
        return close(fd) == 0 && ok;
    }
    if (pick < 60) {
        char meta[64];
        op.kind = OP_META;
        op.m = f->next_version++;
        meta_of(op.m, meta, sizeof(meta));
        tell(w, &op);
        return setxattr(path, "user.kausal.metadata", meta, strlen(meta), 0) == 0;
    }
    if (pick < 66) {
        op.kind = OP_DELETE;
        tell(w, &op);
        return unlink(path) == 0;
    }
    snprintf(path, sizeof(path), "%s/graph/%s/out/calls/%s", f->m.mnt, ha, hb);
    if (w->s.calls[a][b]) {
        op.kind = OP_UNLINK;
        tell(w, &op);
        return unlink(path) == 0;
    }
    if (w->s.content[b] == ABSENT) return true;
    op.kind = OP_LINK;
    snprintf(target, sizeof(target), "../../../%s", hb);
    tell(w, &op);
    return symlink(target, path) == 0;
}

/* The writer: changes until it is killed, or (exit 1) a change fails. */
static void writer_main(struct fixture *f, int fd, bool through_mount, uint64_t seed)
{
    struct writer w = {.f = f, .pipe = fd, .s = f->state};
    uint64_t rng = seed;

    for (;;) {
        bool ok = through_mount ? mount_change(&w, &rng) : cli_change(&w, &rng);
        if (!ok) _exit(1);
    }
}

/* ---- the checker ---- */

/* Opens the database itself, waiting for a killed holder's lock to go. */
static struct kdb *open_db(struct fixture *f)
{
    struct kdb_options options;
    struct kdb *db = NULL;
    int rc = -EBUSY;

    kdb_options_init(&options);
    options.flags = KDB_OPEN_LOCAL;
    for (int i = 0; i < 1000 && rc == -EBUSY; i++) {
        rc = kdb_open(f->m.db, &options, &db);
        if (rc == -EBUSY) usleep(5000);
    }
    if (rc != 0) fail_msg("reopening the database: %s", strerror(-rc));
    return db;
}

/* The database as read: bytes, not yet taken for any state. */
struct snapshot {
    bool present[IDS];
    size_t len[IDS];
    char content[IDS][CONTENT_MAX];
    size_t meta_len[IDS];
    char meta[IDS][64];
    bool calls[IDS][IDS];
};

static void read_snapshot(struct kdb *db, struct snapshot *s)
{
    struct kdb_result *r;

    memset(s, 0, sizeof(*s));
    assert_int_equal(kdb_result_new(db, &r), 0);
    for (unsigned i = 0; i < IDS; i++) {
        struct kdb_id id = test_id(i);
        struct kdb_block view;
        int rc = kdb_get_block_view(db, &id, &view);
        if (rc == -ENOENT) continue;
        assert_int_equal(rc, 0);
        if (view.content_len > CONTENT_MAX || view.metadata_len > sizeof(s->meta[i]))
            fail_msg("block %u holds more than any writer wrote", i);
        s->present[i] = true;
        s->len[i] = view.content_len;
        memcpy(s->content[i], view.content, view.content_len);
        s->meta_len[i] = view.metadata_len;
        memcpy(s->meta[i], view.metadata, view.metadata_len);
        assert_int_equal(kdb_edges(db, &id, KDB_DIRECTION_OUT, 1u << KDB_EDGE_CALLS, r), 0);
        for (size_t e = 0; e < r->count; e++) {
            unsigned j;
            for (j = 0; j < IDS; j++) {
                struct kdb_id t = test_id(j);
                if (memcmp(&t, &r->edges[e].target, sizeof(t)) == 0) break;
            }
            if (j == IDS) fail_msg("an edge to a block no writer made");
            s->calls[i][j] = true;
        }
    }
    kdb_result_free(r);
}

/* Whether the database read is exactly state s. */
static bool matches(const struct snapshot *got, const struct state *s)
{
    char buf[CONTENT_MAX + 16], meta[64];

    for (unsigned i = 0; i < IDS; i++) {
        if (got->present[i] != (s->content[i] != ABSENT)) return false;
        if (!got->present[i]) continue;
        size_t len = s->content[i] == EMPTY ? 0 : content_of(i, s->content[i], buf);
        if (got->len[i] != len || memcmp(got->content[i], buf, len) != 0) return false;
        if (s->meta[i] == 0) {
            if (got->meta_len[i] > 2) return false; /* none, or "{}" */
        } else {
            meta_of(s->meta[i], meta, sizeof(meta));
            if (got->meta_len[i] != strlen(meta) || memcmp(got->meta[i], meta, strlen(meta)) != 0)
                return false;
        }
    }
    return memcmp(got->calls, s->calls, sizeof(got->calls)) == 0;
}

/* Prints where the database differs from state s (for a failure's message). */
static void print_difference(const struct snapshot *got, const struct state *s)
{
    char buf[CONTENT_MAX + 16];

    for (unsigned i = 0; i < IDS; i++) {
        size_t len = s->content[i] <= EMPTY ? 0 : content_of(i, s->content[i], buf);
        if (got->present[i] != (s->content[i] != ABSENT) ||
            (got->present[i] && (got->len[i] != len || memcmp(got->content[i], buf, len) != 0)))
            printf("# block %u: %s %zu bytes \"%.12s\", expected content %u (%zu bytes)\n", i,
                   got->present[i] ? "holds" : "missing,", got->len[i], got->content[i],
                   s->content[i], len);
        else if (got->present[i])
            printf("# block %u: metadata \"%.*s\", expected %u\n", i, (int)got->meta_len[i],
                   got->meta[i], s->meta[i]);
        for (unsigned j = 0; j < IDS; j++)
            if (got->calls[i][j] != s->calls[i][j])
                printf("# edge %u -> %u: %s\n", i, j, got->calls[i][j] ? "there" : "missing");
    }
}

/* The database must be the state after some prefix holding every acknowledged change. */
static void check_round(struct fixture *f, unsigned round, uint64_t seed)
{
    static struct snapshot got;
    struct state expect = f->state;
    size_t acked = 0, prefix;
    struct kdb *db = open_db(f);

    read_snapshot(db, &got);
    assert_int_equal(kdb_close(db), 0);
    for (size_t k = 0; k < f->op_count; k++)
        if (f->ops[k].kind == OP_ACK) acked = k + 1;
    for (size_t k = 0; k < acked; k++)
        apply(&expect, &f->ops[k]);
    for (prefix = acked;; prefix++) {
        if (matches(&got, &expect)) break;
        if (prefix == f->op_count) {
            struct state acked_state = f->state;
            for (size_t k = 0; k < acked; k++)
                apply(&acked_state, &f->ops[k]);
            print_difference(&got, &acked_state);
            for (size_t k = 0; k < f->op_count; k++)
                printf("# change %zu: kind %u, %u %u, v %u m %u\n", k, f->ops[k].kind, f->ops[k].a,
                       f->ops[k].b, f->ops[k].v, f->ops[k].m);
            fail_msg("round %u (seed %llu): the database is no state the %zu changes told"
                     " could leave that holds the %zu acknowledged",
                     round, (unsigned long long)seed, f->op_count, acked);
        }
        apply(&expect, &f->ops[prefix]);
    }
    f->state = expect;
    for (size_t k = 0; k < prefix; k++) {
        if (f->ops[k].kind == OP_ACK) continue;
        f->changes++;
        if (k < acked)
            f->acked++;
        else
            f->beyond++;
    }
    for (size_t k = prefix; k < f->op_count; k++)
        f->changes += f->ops[k].kind != OP_ACK;
    if (test_mount_sh(&f->m, "%s -d %s check 2>&1", TEST_KAUSAL, f->m.db) != 0)
        fail_msg("round %u (seed %llu): kausal check: %s", round, (unsigned long long)seed,
                 f->m.out);
}

/* Reads what the writer tells until deadline (ms) or its end; false if it ended first. */
static bool listen(struct fixture *f, int fd, pid_t writer, int deadline_ms)
{
    struct timespec start, now;
    bool alive = true;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long spent;
        clock_gettime(CLOCK_MONOTONIC, &now);
        spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (spent >= deadline_ms) break;
        if (poll(&p, 1, (int)(deadline_ms - spent)) <= 0) continue;
        size_t room = OPS_MAX - f->op_count;
        ssize_t n = read(fd, f->ops + f->op_count, (room < 512 ? room : 512) * sizeof(struct op));
        if (n <= 0) {
            alive = waitpid(writer, NULL, WNOHANG) == 0;
            break;
        }
        assert_int_equal(n % sizeof(struct op), 0);
        f->op_count += (size_t)n / sizeof(struct op);
        if (f->op_count == OPS_MAX) break;
    }
    return alive;
}

static void drain(struct fixture *f, int fd)
{
    ssize_t n;
    while (f->op_count < OPS_MAX &&
           (n = read(fd, f->ops + f->op_count, (OPS_MAX - f->op_count) * sizeof(struct op))) > 0)
        f->op_count += (size_t)n / sizeof(struct op);
}

static void run_round(struct fixture *f, unsigned round, uint64_t seed)
{
    bool through_mount = round % 3 != 2;
    int fds[2], status;
    pid_t writer;
    long daemon = 0;

    f->op_count = 0;
    if (through_mount) {
        if (test_mount_db(&f->m, NULL) != 0)
            fail_msg("round %u: kausalfs did not mount: %s", round, f->m.out);
        assert_int_equal(test_mount_sh(&f->m, "cat %s/LOCK", f->m.db), 0);
        daemon = strtol(f->m.out, NULL, 10);
        assert_true(daemon > 0);
    }
    assert_int_equal(pipe(fds), 0);
    writer = fork();
    assert_true(writer >= 0);
    if (writer == 0) {
        close(fds[0]);
        setpgid(0, 0); /* its kausal commands die with it */
        writer_main(f, fds[1], through_mount, seed);
    }
    setpgid(writer, writer);
    close(fds[1]);
    bool alive = listen(f, fds[0], writer, 5 + (int)below(&f->rng, 60));
    if (!alive) {
        drain(f, fds[0]);
        close(fds[0]);
        test_unmount_db(&f->m);
        fail_msg("round %u (seed %llu): a change failed before any kill, after %zu changes", round,
                 (unsigned long long)seed, f->op_count);
    }
    if (through_mount) kill((pid_t)daemon, SIGKILL); /* the daemon... */
    kill(-writer, SIGKILL);                          /* ...or the kausal command in flight */
    if (through_mount)
        f->daemon_kills++;
    else
        f->tool_kills++;
    waitpid(writer, &status, 0);
    drain(f, fds[0]);
    close(fds[0]);
    if (through_mount) {
        (void)test_mount_sh(&f->m, "fusermount3 -u -z %s 2>&1", f->m.mnt);
        f->m.mounted = false;
    }
    check_round(f, round, seed);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    *state = f;
    test_mount_start(&f->m, "crash");
    snprintf(f->tmp, sizeof(f->tmp), "%s/content", f->m.dir);
    f->next_version = 2;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f) test_mount_end(&f->m);
    free(f);
    return 0;
}

static void test_crash_kill_9_loses_no_acknowledged_change(void **state)
{
    struct fixture *f = *state;
    const char *env = getenv("KDB_CRASH_KILLS");
    unsigned kills = env && *env ? (unsigned)strtoul(env, NULL, 10) : 100;
    uint64_t seed = test_seed((uint64_t)time(NULL));

    f->rng = seed;
    for (unsigned round = 0; round < kills; round++) {
        /* Versions stay unique across rounds: the writer's counter lives in its copy. */
        f->next_version += OPS_MAX * 2;
        run_round(f, round, test_random(&f->rng));
    }
    printf("# %u kills survived (%u of the daemon, %u of kausal): %zu changes made,"
           " every one of the %zu acknowledged found, and %zu not yet acknowledged\n",
           f->daemon_kills + f->tool_kills, f->daemon_kills, f->tool_kills, f->changes, f->acked,
           f->beyond);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_kill_9_loses_no_acknowledged_change, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
