/* SPDX-License-Identifier: MIT */
/*
 * test_load.c: many processes at once through one mount.
 *
 * Goal: eight processes writing, reading, linking, unlinking, deleting,
 * setting metadata and listing through one mount at the same time get no
 * error but the documented ones (ENOENT for a block another process just
 * deleted; a deleted block's graph/ directory listed from the kernel's
 * cache for an instant, and zeros read from a block its owner is
 * truncating, as kausalfs(1) says), always read back what they wrote,
 * lose nothing (checked after
 * an unmount and a new mount), and the daemon's memory stays bounded.
 * Method: a real mount ($KAUSALFS_BIN); each worker process owns 48 blocks
 * of its own and keeps a model of them (content, metadata, the calls edges
 * between them), writes only those, and reads and lists everyone's.
 * KDB_LOAD_OPS sets the operations in all (default 100000), KDB_TEST_SEED
 * the seed. The daemon's resident memory is sampled every 50 ms and
 * printed; it must stay under 1 GiB. The mount is undone, pass or fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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

#define WORKERS     8
#define OWN         48 /* blocks each worker owns */
#define CONTENT_MAX 2048

struct model {
    uint32_t content[OWN]; /* 0: absent; else the version written */
    uint32_t meta[OWN];    /* 0: none set */
    bool calls[OWN][OWN];
};

/* Block k of worker w: the id's hex. */
static void hex_of(unsigned w, unsigned k, char *hex)
{
    snprintf(hex, 33, "10ad%04x%04x00000000000000000000", w, k);
}

static size_t content_of(unsigned w, unsigned k, uint32_t v, char *buf)
{
    size_t len = 1 + (size_t)((v * 2654435761u + k) % CONTENT_MAX), n = 0;
    while (n < len) {
        int c = snprintf(buf + n, CONTENT_MAX + 1 - n, "%u/%u:%u\n", w, k, v);
        n += (size_t)c;
    }
    return len;
}

/* Counts a directory's entries; -errno. */
static long list(const char *path)
{
    DIR *d = opendir(path);
    long n = 0;

    if (!d) return -errno;
    errno = 0;
    while (readdir(d))
        n++;
    int e = errno;
    closedir(d);
    return e ? -e : n;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "worker %u, operation %lu: ", w, op);                                      \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        _exit(1);                                                                                  \
    } while (0)

/* A worker: ops operations, then its model to fd. Exits 0, or 1 with the reason on stderr. */
static void worker(const struct test_mount *f, unsigned w, unsigned long ops, uint64_t seed, int fd)
{
    static struct model m;
    static char buf[CONTENT_MAX + 64], want[CONTENT_MAX + 64];
    char path[700], path2[700], ha[33], hb[33];
    uint64_t rng = seed;
    uint32_t version = 1;

    memset(&m, 0, sizeof(m));
    for (unsigned long op = 0; op < ops; op++) {
        uint64_t r = test_random(&rng);
        unsigned pick = (unsigned)(r % 100), a = (unsigned)(r >> 8) % OWN,
                 b = (unsigned)(r >> 16) % OWN;
        hex_of(w, a, ha);
        hex_of(w, b, hb);
        snprintf(path, sizeof(path), "%s/blocks/%s", f->mnt, ha);
        if (pick < 30) { /* write a block of its own, whole */
            uint32_t v = ++version;
            size_t len = content_of(w, a, v, buf);
            int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (out < 0) FAIL("open %s: %s", path, strerror(errno));
            if (write(out, buf, len) != (ssize_t)len) FAIL("write: %s", strerror(errno));
            if (close(out) != 0) FAIL("close: %s", strerror(errno));
            m.content[a] = v;
        } else if (pick < 45) { /* read a block of its own: what it wrote */
            ssize_t n = test_read_file(path, buf, sizeof(buf));
            if (m.content[a] == 0) {
                if (n != -ENOENT) FAIL("read of a deleted block: %zd", n);
            } else {
                size_t len = content_of(w, a, m.content[a], want);
                if (n != (ssize_t)len || memcmp(buf, want, len) != 0)
                    FAIL("read %s: %zd bytes, not version %u's %zu", ha, n, m.content[a], len);
            }
        } else if (pick < 55) { /* read another worker's block: it may be gone */
            unsigned other = (unsigned)(r >> 24) % WORKERS;
            hex_of(other, b, hb);
            snprintf(path2, sizeof(path2), "%s/blocks/%s", f->mnt, hb);
            ssize_t n = test_read_file(path2, buf, sizeof(buf));
            if (n < 0 && n != -ENOENT) FAIL("read %s: %s", hb, strerror((int)-n));
            /* Its owner may be truncating it: zeros are possible (kausalfs(1)). */
            if (n > 0 && buf[0] && (unsigned)atoi(buf) != other)
                FAIL("block %s holds another's content: %zd bytes \"%.16s\"", hb, n, buf);
        } else if (pick < 65) { /* list */
            long n;
            if (pick < 60) {
                snprintf(path2, sizeof(path2), "%s/graph/%s/out/calls", f->mnt, ha);
                n = list(path2);
                /* A deleted block's graph/ directory may be listed from the kernel's
                 * cache for an instant (kausalfs(1), PERFORMANCE). */
                if (m.content[a] == 0 ? n < 0 && n != -ENOENT : n < 2) FAIL("ls %s: %ld", path2, n);
            } else {
                snprintf(path2, sizeof(path2), "%s/blocks", f->mnt);
                n = list(path2);
                if (n < 2) FAIL("ls blocks: %ld", n);
            }
        } else if (pick < 80) { /* link or unlink between two of its own */
            snprintf(path2, sizeof(path2), "%s/graph/%s/out/calls/%s", f->mnt, ha, hb);
            if (m.calls[a][b]) {
                if (unlink(path2) != 0) FAIL("unlink %s: %s", path2, strerror(errno));
                m.calls[a][b] = false;
            } else if (m.content[a] && m.content[b]) {
                char target[64];
                snprintf(target, sizeof(target), "../../../%s", hb);
                if (symlink(target, path2) != 0) FAIL("symlink %s: %s", path2, strerror(errno));
                m.calls[a][b] = true;
            }
        } else if (pick < 87) { /* metadata */
            char meta[64];
            uint32_t v = ++version;
            snprintf(meta, sizeof(meta), "{\"w\":%u,\"v\":%u}", w, v);
            int rc = setxattr(path, "user.kausal.metadata", meta, strlen(meta), 0);
            if (m.content[a] == 0 ? rc == 0 || errno != ENOENT : rc != 0)
                FAIL("setxattr %s: %s", ha, strerror(errno));
            if (rc == 0) m.meta[a] = v;
        } else if (pick < 92) { /* delete: the block and its edges */
            int rc = unlink(path);
            if (m.content[a] == 0 ? rc == 0 || errno != ENOENT : rc != 0)
                FAIL("rm %s: %s", ha, strerror(errno));
            m.content[a] = m.meta[a] = 0;
            for (unsigned j = 0; j < OWN; j++)
                m.calls[a][j] = m.calls[j][a] = false;
        } else if (pick < 94) { /* a durability point */
            int d = open(f->mnt, O_RDONLY);
            if (d < 0 || fsync(d) != 0) FAIL("fsync: %s", strerror(errno));
            close(d);
        } else { /* stat and a getxattr of its own */
            struct stat st;
            int rc = stat(path, &st);
            if (m.content[a] == 0
                    ? rc == 0
                    : rc != 0 || (size_t)st.st_size != content_of(w, a, m.content[a], want))
                FAIL("stat %s: %s", ha, rc ? strerror(errno) : "wrong size");
        }
    }
    if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m)) _exit(2);
    _exit(0);
}

/* The daemon's resident memory, KiB, or 0. */
static long rss_kib(long pid)
{
    char path[64], line[256];
    long kib = 0;
    FILE *s;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    s = fopen(path, "r");
    if (!s) return 0;
    while (fgets(line, sizeof(line), s))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(s);
    return kib;
}

/* After a new mount, worker w's blocks are exactly its model. */
static void check_model(struct test_mount *f, unsigned w, const struct model *m)
{
    static char buf[CONTENT_MAX + 64], want[CONTENT_MAX + 64];
    char path[700], ha[33], hb[33];

    for (unsigned a = 0; a < OWN; a++) {
        hex_of(w, a, ha);
        snprintf(path, sizeof(path), "%s/blocks/%s", f->mnt, ha);
        ssize_t n = test_read_file(path, buf, sizeof(buf));
        if (m->content[a] == 0) {
            if (n != -ENOENT) fail_msg("worker %u's deleted block %s came back", w, ha);
            continue;
        }
        size_t len = content_of(w, a, m->content[a], want);
        if (n != (ssize_t)len || memcmp(buf, want, len) != 0)
            fail_msg("worker %u's block %s: %zd bytes, not version %u", w, ha, n, m->content[a]);
        if (m->meta[a]) {
            char meta[64];
            ssize_t got = getxattr(path, "user.kausal.metadata", buf, sizeof(buf));
            snprintf(meta, sizeof(meta), "{\"w\":%u,\"v\":%u}", w, m->meta[a]);
            if (got != (ssize_t)strlen(meta) || memcmp(buf, meta, (size_t)got) != 0)
                fail_msg("worker %u's block %s: metadata lost", w, ha);
        }
        for (unsigned b = 0; b < OWN; b++) {
            hex_of(w, b, hb);
            snprintf(path, sizeof(path), "%s/graph/%s/out/calls/%s", f->mnt, ha, hb);
            struct stat st;
            bool there = lstat(path, &st) == 0;
            if (there != m->calls[a][b])
                fail_msg("worker %u: edge %s -> %s %s", w, ha, hb, there ? "came back" : "lost");
        }
    }
}

static int setup(void **state)
{
    struct test_mount *m = calloc(1, sizeof(*m));

    assert_non_null(m);
    *state = m;
    test_mount_start(m, "load");
    return 0;
}

static int teardown(void **state)
{
    struct test_mount *m = *state;

    if (m) test_mount_end(m);
    free(m);
    return 0;
}

static void test_load_eight_processes_one_mount(void **state)
{
    struct test_mount *f = *state;
    const char *env = getenv("KDB_LOAD_OPS");
    unsigned long total = env && *env ? strtoul(env, NULL, 10) : 100000;
    uint64_t seed = test_seed((uint64_t)time(NULL));
    static struct model models[WORKERS];
    pid_t pids[WORKERS];
    int fds[WORKERS];
    long daemon, rss_start, rss_max, rss_end;
    unsigned running = WORKERS, failed = 0;
    struct timespec t0, t1;

    if (test_mount_db(f, NULL) != 0) fail_msg("kausalfs did not mount: %s", f->out);
    assert_int_equal(test_mount_sh(f, "cat %s/LOCK", f->db), 0);
    daemon = strtol(f->out, NULL, 10);
    rss_start = rss_max = rss_kib(daemon);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned w = 0; w < WORKERS; w++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            close(p[0]);
            worker(f, w, total / WORKERS, seed + w, p[1]);
        }
        close(p[1]);
        fds[w] = p[0];
    }
    while (running) {
        int status;
        pid_t done = waitpid(-1, &status, WNOHANG);
        if (done == 0) {
            long now = rss_kib(daemon);
            if (now > rss_max) rss_max = now;
            usleep(50000);
            continue;
        }
        assert_true(done > 0);
        running--;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rss_end = rss_kib(daemon);
    for (unsigned w = 0; w < WORKERS; w++) {
        ssize_t n = read(fds[w], &models[w], sizeof(models[w]));
        close(fds[w]);
        if (n != (ssize_t)sizeof(models[w]) && !failed) fail_msg("worker %u sent no model", w);
    }
    if (failed) fail_msg("%u of %u workers failed (their reasons above)", failed, WORKERS);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("# %u processes, %lu operations in %.1f s (%.0f/s); daemon RSS %ld KiB at the start,"
           " %ld at most, %ld at the end\n",
           WORKERS, total / WORKERS * WORKERS, secs, (double)(total / WORKERS * WORKERS) / secs,
           rss_start, rss_max, rss_end);
    if (rss_max > 1024 * 1024) fail_msg("the daemon grew to %ld KiB", rss_max);
    test_unmount_db(f);
    if (test_mount_db(f, NULL) != 0) fail_msg("kausalfs did not mount again: %s", f->out);
    for (unsigned w = 0; w < WORKERS; w++)
        check_model(f, w, &models[w]);
    test_unmount_db(f);
    if (test_mount_sh(f, "%s -d %s check 2>&1", TEST_KAUSAL, f->db) != 0)
        fail_msg("kausal check: %s", f->out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_eight_processes_one_mount, setup, teardown),
    };
    return cmocka_run_group_tests_name("load", tests, NULL, NULL);
}
