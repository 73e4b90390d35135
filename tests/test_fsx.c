/* SPDX-License-Identifier: MIT */
/*
 * test_fsx.c: a file-system exerciser for block files through the mount.
 *
 * Goal: block files behave as files: whatever sequence of creates,
 * writes at any offset, appends, truncates to cut or extend, reads,
 * fsyncs and unlinks a program makes, every read and every stat gives
 * what a local file system gives for the same sequence, and so does the
 * database after an unmount and a new mount.
 * Method: four block files of a real mount ($KAUSALFS_BIN) and four plain
 * files on tmpfs (/dev/shm, else $TMPDIR) take the same random operations
 * through the same system calls, each file through a descriptor held open
 * across operations as programs do; after every operation each pair is
 * compared, size and every byte. KDB_FSX_OPS sets the operations
 * (default 3000), KDB_TEST_SEED the seed. The mount is undone, pass or
 * fail.
 */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#define FILES          4
#define SIZE_MAX_BYTES (192u << 10) /* each write stores the whole block again: keep them small */
#define WRITE_MAX      (16u << 10)

struct pair {
    char path[2][700]; /* [0] the block file, [1] its mirror */
    int fd[2];         /* open descriptors, -1 when the file is not there */
};

/* The pair holds the same bytes, by stat and by a fresh read of each. */
static void compare(const struct pair *p, unsigned long op, const char *what, uint64_t seed)
{
    static uint8_t a[SIZE_MAX_BYTES * 2 + WRITE_MAX], b[SIZE_MAX_BYTES * 2 + WRITE_MAX];
    struct stat sa, sb;
    int ra = stat(p->path[0], &sa), rb = stat(p->path[1], &sb);

    if ((ra == 0) != (rb == 0))
        fail_msg("seed %llu, operation %lu (%s): the block file %s, the mirror %s",
                 (unsigned long long)seed, op, what, ra ? "is missing" : "is there",
                 rb ? "is missing" : "is there");
    if (ra != 0) return;
    if (sa.st_size != sb.st_size)
        fail_msg("seed %llu, operation %lu (%s): size %lld, the mirror's %lld",
                 (unsigned long long)seed, op, what, (long long)sa.st_size, (long long)sb.st_size);
    ssize_t na = test_read_file(p->path[0], a, sizeof(a)),
            nb = test_read_file(p->path[1], b, sizeof(b));
    if (na != nb)
        fail_msg("seed %llu, operation %lu (%s): read %zd bytes, the mirror %zd",
                 (unsigned long long)seed, op, what, na, nb);
    for (ssize_t i = 0; i < na; i++)
        if (a[i] != b[i])
            fail_msg("seed %llu, operation %lu (%s): byte %zd is %u, the mirror's %u",
                     (unsigned long long)seed, op, what, i, a[i], b[i]);
}

/* Both results must agree: the same return value, or the same errno. */
static void agree(long ra, int ea, long rb, int eb, unsigned long op, const char *what,
                  uint64_t seed)
{
    if (ra != rb || (ra < 0 && ea != eb))
        fail_msg("seed %llu, operation %lu (%s): %ld (%s), the mirror %ld (%s)",
                 (unsigned long long)seed, op, what, ra, ra < 0 ? strerror(ea) : "ok", rb,
                 rb < 0 ? strerror(eb) : "ok");
}

static void exercise(struct pair *pairs, unsigned long ops, uint64_t seed)
{
    static uint8_t data[WRITE_MAX], got[2][WRITE_MAX];
    uint64_t rng = seed;

    for (unsigned long op = 0; op < ops; op++) {
        uint64_t r = test_random(&rng);
        struct pair *p = &pairs[r % FILES];
        unsigned kind = (unsigned)(r >> 8) % 100;
        char what[96];
        long res[2];
        int err[2];
        struct stat st;
        off_t size = fstat(p->fd[1], &st) == 0 ? st.st_size : 0;
        bool there = p->fd[0] >= 0;

        if (!there || kind < 4) { /* (re)create, empty: O_CREAT | O_TRUNC */
            snprintf(what, sizeof(what), "open O_CREAT|O_TRUNC");
            for (int s = 0; s < 2; s++) {
                if (p->fd[s] >= 0) close(p->fd[s]);
                p->fd[s] = open(p->path[s], O_RDWR | O_CREAT | O_TRUNC, 0644);
                if (p->fd[s] < 0)
                    fail_msg("seed %llu, operation %lu: open %s: %s", (unsigned long long)seed, op,
                             p->path[s], strerror(errno));
            }
        } else if (kind < 40) { /* pwrite anywhere, past the end too */
            off_t off = (off_t)(test_random(&rng) % (uint64_t)(size + 4096));
            size_t len = 1 + (size_t)(test_random(&rng) % WRITE_MAX);
            if ((uint64_t)off + len > SIZE_MAX_BYTES) off = (off_t)(SIZE_MAX_BYTES - len);
            for (size_t i = 0; i < len; i++)
                data[i] = (uint8_t)test_random(&rng);
            snprintf(what, sizeof(what), "pwrite %zu at %lld", len, (long long)off);
            for (int s = 0; s < 2; s++) {
                res[s] = (long)pwrite(p->fd[s], data, len, off);
                err[s] = errno;
            }
            agree(res[0], err[0], res[1], err[1], op, what, seed);
        } else if (kind < 50) { /* append, through a descriptor of its own */
            size_t len = 1 + (size_t)(test_random(&rng) % (WRITE_MAX / 4));
            if ((uint64_t)size + len > SIZE_MAX_BYTES) len = 1;
            for (size_t i = 0; i < len; i++)
                data[i] = (uint8_t)test_random(&rng);
            snprintf(what, sizeof(what), "append %zu", len);
            for (int s = 0; s < 2; s++) {
                int fd = open(p->path[s], O_WRONLY | O_APPEND);
                res[s] = fd < 0 ? -1 : (long)write(fd, data, len);
                err[s] = errno;
                if (fd >= 0 && close(fd) != 0) res[s] = -1;
            }
            agree(res[0], err[0], res[1], err[1], op, what, seed);
        } else if (kind < 62) { /* truncate: cut or extend */
            off_t to = (off_t)(test_random(&rng) % (uint64_t)(size + 8192));
            if (to > (off_t)SIZE_MAX_BYTES) to = SIZE_MAX_BYTES;
            snprintf(what, sizeof(what), "ftruncate to %lld", (long long)to);
            for (int s = 0; s < 2; s++) {
                res[s] = ftruncate(p->fd[s], to);
                err[s] = errno;
            }
            agree(res[0], err[0], res[1], err[1], op, what, seed);
        } else if (kind < 85) { /* pread anywhere, past the end too */
            off_t off = (off_t)(test_random(&rng) % (uint64_t)(size + 2048));
            size_t len = 1 + (size_t)(test_random(&rng) % WRITE_MAX);
            snprintf(what, sizeof(what), "pread %zu at %lld", len, (long long)off);
            for (int s = 0; s < 2; s++) {
                res[s] = (long)pread(p->fd[s], got[s], len, off);
                err[s] = errno;
            }
            agree(res[0], err[0], res[1], err[1], op, what, seed);
            if (res[0] > 0 && memcmp(got[0], got[1], (size_t)res[0]) != 0)
                fail_msg("seed %llu, operation %lu (%s): the bytes differ",
                         (unsigned long long)seed, op, what);
        } else if (kind < 93) { /* fsync or fdatasync */
            bool data_only = kind & 1;
            snprintf(what, sizeof(what), "%s", data_only ? "fdatasync" : "fsync");
            for (int s = 0; s < 2; s++) {
                res[s] = data_only ? fdatasync(p->fd[s]) : fsync(p->fd[s]);
                err[s] = errno;
            }
            agree(res[0], err[0], res[1], err[1], op, what, seed);
        } else { /* unlink: the open descriptor goes with it */
            snprintf(what, sizeof(what), "unlink");
            for (int s = 0; s < 2; s++) {
                close(p->fd[s]);
                p->fd[s] = -1;
                res[s] = unlink(p->path[s]);
                err[s] = errno;
            }
            agree(res[0], err[0], res[1], err[1], op, what, seed);
        }
        compare(p, op, what, seed);
    }
}

struct fixture {
    struct test_mount m;
    char mirror[300];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    *state = f;
    test_mount_start(&f->m, "fsx");
    snprintf(f->mirror, sizeof(f->mirror), "/dev/shm/kausal-fsx.XXXXXX");
    if (!mkdtemp(f->mirror)) { /* no tmpfs there: beside the database */
        snprintf(f->mirror, sizeof(f->mirror), "%s/mirror", f->m.dir);
        assert_int_equal(mkdir(f->mirror, 0700), 0);
    }
    if (test_mount_db(&f->m, NULL) != 0) fail_msg("kausalfs did not mount: %s", f->m.out);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (!f) return 0;
    test_mount_end(&f->m);
    if (f->mirror[0]) (void)test_mount_sh(&f->m, "rm -rf %s", f->mirror);
    free(f);
    return 0;
}

static void test_fsx_block_files_behave_as_files(void **state)
{
    struct fixture *f = *state;
    const char *env = getenv("KDB_FSX_OPS");
    unsigned long ops = env && *env ? strtoul(env, NULL, 10) : 3000;
    uint64_t seed = test_seed((uint64_t)time(NULL));
    struct pair pairs[FILES];

    for (unsigned i = 0; i < FILES; i++) {
        snprintf(pairs[i].path[0], sizeof(pairs[i].path[0]), "%s/blocks/f5c0%028x", f->m.mnt, i);
        snprintf(pairs[i].path[1], sizeof(pairs[i].path[1]), "%s/f5c0%028x", f->mirror, i);
        pairs[i].fd[0] = pairs[i].fd[1] = -1;
    }
    exercise(pairs, ops, seed);
    for (unsigned i = 0; i < FILES; i++) {
        for (int s = 0; s < 2; s++)
            if (pairs[i].fd[s] >= 0) close(pairs[i].fd[s]);
    }
    /* What the database keeps, after an unmount and a new mount. */
    test_unmount_db(&f->m);
    if (test_mount_db(&f->m, NULL) != 0) fail_msg("kausalfs did not mount again: %s", f->m.out);
    for (unsigned i = 0; i < FILES; i++)
        compare(&pairs[i], ops, "after a new mount", seed);
    printf("# %lu operations on %u block files, each compared with its tmpfs mirror after"
           " every one and after a new mount\n",
           ops, FILES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fsx_block_files_behave_as_files, setup, teardown),
    };
    return cmocka_run_group_tests_name("fsx", tests, NULL, NULL);
}
