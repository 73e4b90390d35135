/* SPDX-License-Identifier: MIT */
/*
 * bench_fs.c: `kausal-bench fs`, the mounted database against tmpfs.
 *
 * One database of N blocks of 1 KiB (with metadata as the ingester writes
 * it), each block calling the next, and a hub block calling the first
 * 10,000: written and flushed through the engine, its table read once so
 * that it is in the page cache, then mounted with kausalfs (a real FUSE
 * mount). Beside it, a tmpfs directory holds the same shape: N files of
 * the same bytes with the metadata as an xattr (trusted.*: tmpfs keeps no
 * user.* xattrs before Linux 6.6), one symlink per edge, a directory of
 * 10,000 symlinks. Every operation runs on both in the same run, from the
 * same random order of files; each result is the mount's, with tmpfs's
 * mean and the ratio of the means.
 *
 *   cold_open_read   open + read 1 KiB + close of a file the kernel has not
 *                    seen since the mount (first thing measured)
 *   stat             stat(2), warm
 *   open_read_1k     open + read 1 KiB + close, warm (`cat`)
 *   readlink         readlink(2) of an edge, warm
 *   getxattr         the metadata xattr
 *   readdir_10k      opendir + readdir to the end + closedir, 10,000 links
 *   readdir_100k     the same over N entries (blocks/ itself; N=100,000 by default)
 *   ls_l_100k        `ls -l` of that directory, the real tool
 *   create_write_1k  creat + write 1 KiB + close of a new file
 *   fsync            write 1 KiB, then fsync(2); fsync_disk_us is the same
 *                    on a file in the database's own directory (the floor)
 *   unlink           unlink(2) of a file made by create_write_1k
 *
 * fuse_round_trip is the floor under all of them: a stat(2) of a missing
 * name on a minimal FUSE file system (this program's own, answering every
 * LOOKUP with ENOENT at once), mounted beside the others in the same run.
 * One round trip through the kernel costs that much whatever the file
 * system behind it does; the note of each operation counts the round trips
 * it takes through kausalfs.
 *
 * The mounts are always unmounted, also when the benchmark fails.
 */
#define FUSE_USE_VERSION 34

#include <dirent.h>
#include <errno.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "bench.h"
#include "kdb.h"

#define FANOUT     10000 /* links in the hub's out/calls, the readdir_10k directory */
#define BLOCK_SIZE 1024

struct config {
    uint64_t n;          /* blocks and files; also the readdir_100k directory's size */
    uint64_t iterations; /* operations of each per-file kind */
    const char *dir;     /* the database goes in a fresh directory here */
    const char *tmpfs;   /* the tmpfs side goes in a fresh directory here */
    const char *kausalfs;
    bool json;
};

struct fs_run {
    struct config config;
    char root[4096]; /* on disk: db/ and mnt/ */
    char db[4200];
    char mnt[4200];
    char floor_mnt[4200]; /* the minimal file system's mountpoint */
    char tmp[4096];       /* on tmpfs: the same tree */
    struct kdb_id *ids;
    struct kdb_id hub;
    bool mounted;
    struct bench_report report;
};

static struct fs_run *mounted_run; /* for the exit handler */

/* ---- the trees ---- */

static void fill(char *content, uint64_t i)
{
    int n = snprintf(content, BLOCK_SIZE, "/* block %llu */\n", (unsigned long long)i);
    for (int at = n; at < BLOCK_SIZE; at++)
        content[at] = (char)('a' + (at + (int)i) % 26);
    content[BLOCK_SIZE - 1] = '\n';
}

static int meta_of(char *meta, size_t size, uint64_t i)
{
    return snprintf(meta, size, "{\"kind\":\"function\",\"name\":\"fn_%llu\",\"lang\":\"c\"}",
                    (unsigned long long)i);
}

static void hex_of(const struct kdb_id *id, char *hex)
{
    kdb_id_to_hex(id, hex);
}

static void build_db(struct fs_run *run)
{
    struct kdb_options options;
    struct kdb *db;
    char content[BLOCK_SIZE], meta[128];
    uint64_t n = run->config.n, rng = 5;
    int rc;

    kdb_options_init(&options);
    options.flags = KDB_OPEN_CREATE;
    rc = kdb_open(run->db, &options, &db);
    if (rc < 0) bench_die(run->db, rc);
    run->ids = malloc((n + 1) * sizeof(*run->ids));
    if (!run->ids) bench_die("memory", -ENOMEM);
    for (uint64_t i = 0; i <= n; i++) {
        uint64_t a = bench_splitmix(&rng), b = bench_splitmix(&rng);
        memcpy(run->ids[i].bytes, &a, 8);
        memcpy(run->ids[i].bytes + 8, &b, 8);
    }
    run->hub = run->ids[n];
    for (uint64_t i = 0; i <= n; i++) {
        int mlen = meta_of(meta, sizeof(meta), i);
        struct kdb_block block = {.id = run->ids[i],
                                  .source_uri = "src/bench.c",
                                  .source_uri_len = 11,
                                  .metadata = meta,
                                  .metadata_len = (size_t)mlen,
                                  .content = content,
                                  .content_len = BLOCK_SIZE};
        fill(content, i);
        rc = kdb_put_block(db, &block, NULL);
        if (rc < 0) bench_die("kdb_put_block", rc);
    }
    for (uint64_t i = 0; i < n; i++) {
        struct kdb_edge e = {run->ids[i], run->ids[(i + 1) % n], KDB_EDGE_CALLS};
        rc = kdb_put_edge(db, &e);
        if (rc < 0) bench_die("kdb_put_edge", rc);
    }
    for (uint64_t i = 0; i < FANOUT && i < n; i++) {
        struct kdb_edge e = {run->hub, run->ids[i], KDB_EDGE_CALLS};
        rc = kdb_put_edge(db, &e);
        if (rc < 0) bench_die("kdb_put_edge", rc);
    }
    rc = kdb_close(db); /* flushes: the blocks are in a table */
    if (rc < 0) bench_die("kdb_close", rc);
    /* Read it all once, so that the table is in the page cache as in a serving database. */
    options.flags = 0;
    rc = kdb_open(run->db, &options, &db);
    for (uint64_t i = 0; rc == 0 && i <= n; i++) {
        size_t got;
        rc = kdb_read_block(db, &run->ids[i], 0, content, sizeof(content), &got);
    }
    if (rc < 0) bench_die("reading the database", rc);
    rc = kdb_close(db);
    if (rc < 0) bench_die("kdb_close", rc);
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) < 0) bench_die(path, -errno);
}

/* tmpfs: blocks/<ID> files, graph/<ID>/out/calls/<ID> symlinks, hub/ with FANOUT symlinks. */
static void build_tmpfs(struct fs_run *run)
{
    char path[8192], target[64], hex[KDB_ID_HEX_SIZE + 1], far[KDB_ID_HEX_SIZE + 1];
    char content[BLOCK_SIZE], meta[128];
    uint64_t n = run->config.n;

    snprintf(path, sizeof(path), "%s/blocks", run->tmp);
    make_dir(path);
    snprintf(path, sizeof(path), "%s/graph", run->tmp);
    make_dir(path);
    snprintf(path, sizeof(path), "%s/hub", run->tmp);
    make_dir(path);
    for (uint64_t i = 0; i < n; i++) {
        int fd, mlen = meta_of(meta, sizeof(meta), i);
        hex_of(&run->ids[i], hex);
        hex_of(&run->ids[(i + 1) % n], far);
        snprintf(path, sizeof(path), "%s/blocks/%s", run->tmp, hex);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        fill(content, i);
        if (fd < 0 || write(fd, content, BLOCK_SIZE) != BLOCK_SIZE) bench_die(path, -errno);
        if (fsetxattr(fd, "trusted.kausal.metadata", meta, (size_t)mlen, 0) < 0)
            bench_die("tmpfs xattr (run as root)", -errno);
        close(fd);
        /* graph/<ID>/out/calls/<FAR> -> ../../../<FAR>, as the mount shows it */
        snprintf(path, sizeof(path), "%s/graph/%s", run->tmp, hex);
        make_dir(path);
        snprintf(path, sizeof(path), "%s/graph/%s/out", run->tmp, hex);
        make_dir(path);
        snprintf(path, sizeof(path), "%s/graph/%s/out/calls", run->tmp, hex);
        make_dir(path);
        snprintf(path, sizeof(path), "%s/graph/%s/out/calls/%s", run->tmp, hex, far);
        snprintf(target, sizeof(target), "../../../%s", far);
        if (symlink(target, path) < 0) bench_die(path, -errno);
        if (i < FANOUT) {
            snprintf(path, sizeof(path), "%s/hub/%s", run->tmp, hex);
            snprintf(target, sizeof(target), "../graph/%s", hex);
            if (symlink(target, path) < 0) bench_die(path, -errno);
        }
        if (i % 10000 == 0)
            bench_progress("fs: tmpfs files %llu/%llu", (unsigned long long)i,
                           (unsigned long long)n);
    }
}

/* ---- the mount ---- */

static void do_mount(struct fs_run *run)
{
    const char *argv[] = {run->config.kausalfs, run->db, run->mnt, NULL};

    if (bench_spawn(argv, NULL, NULL, false, NULL) != 0) bench_die("kausalfs did not mount", -EIO);
    run->mounted = true;
}

/* Unmounts, then waits for the daemon to let go of the database. */
static void do_unmount(struct fs_run *run)
{
    const char *argv[] = {"fusermount3", "-u", run->mnt, NULL};
    const char *lazy[] = {"fusermount3", "-u", "-z", run->mnt, NULL};
    char lock[4300];
    FILE *f;
    long pid = 0;

    if (!run->mounted) return;
    run->mounted = false;
    snprintf(lock, sizeof(lock), "%s/LOCK", run->db);
    f = fopen(lock, "r");
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1) pid = 0;
        fclose(f);
    }
    if (bench_spawn(argv, NULL, NULL, false, NULL) != 0)
        (void)bench_spawn(lazy, NULL, NULL, false, NULL);
    for (int i = 0; i < 3000 && pid > 0 && kill((pid_t)pid, 0) == 0; i++)
        usleep(10000);
}

static void unmount_at_exit(void)
{
    if (mounted_run) do_unmount(mounted_run);
}

/* ---- the floor: a minimal FUSE file system, in a thread of this process ---- */

static void floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void)parent;
    (void)name;
    fuse_reply_err(req, ENOENT);
}

static void floor_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st = {.st_ino = ino, .st_mode = S_IFDIR | 0755, .st_nlink = 2};

    (void)fi;
    fuse_reply_attr(req, &st, 3600.0);
}

static const struct fuse_lowlevel_ops floor_ops = {.lookup = floor_lookup,
                                                   .getattr = floor_getattr};

static void *floor_loop(void *se)
{
    (void)fuse_session_loop(se);
    return NULL;
}

/* stat(2) of a missing name through a minimal FUSE file system, count times, into result. */
static void fuse_round_trip(struct fs_run *run, uint64_t count, struct bench_result *result)
{
    static char program[] = "kausal-bench";
    char *argv[] = {program, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(1, argv);
    struct fuse_session *se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), NULL);
    const char *unmount[] = {"fusermount3", "-u", run->floor_mnt, NULL};
    pthread_t thread;
    char path[4300];
    struct bench_samples samples;
    struct stat st;

    bench_samples_init(&samples, count);
    make_dir(run->floor_mnt);
    if (!se || fuse_session_mount(se, run->floor_mnt) != 0) bench_die("a FUSE mount", -EIO);
    if (pthread_create(&thread, NULL, floor_loop, se) != 0) bench_die("a thread", -EAGAIN);
    snprintf(path, sizeof(path), "%s/missing", run->floor_mnt);
    (void)stat(path, &st); /* the first request also finishes INIT */
    for (uint64_t i = 0; i < count; i++) {
        uint64_t start = bench_now_ns();
        (void)stat(path, &st);
        bench_samples_add(&samples, bench_now_ns() - start);
    }
    bench_result_from(result, "fuse_round_trip", &samples, 0);
    snprintf(result->note, sizeof(result->note), "stat of a missing name, minimal FUSE fs");
    bench_samples_release(&samples);
    fuse_session_exit(se);
    if (bench_spawn(unmount, NULL, NULL, false, NULL) != 0) bench_die("fusermount3 -u", -EIO);
    pthread_join(thread, NULL);
    fuse_session_destroy(se);
    fuse_opt_free_args(&args);
}

/* ---- operations ---- */

enum side { MOUNT, TMPFS };

static const char *base(const struct fs_run *run, enum side side)
{
    return side == MOUNT ? run->mnt : run->tmp;
}

static void block_path(const struct fs_run *run, enum side side, uint64_t i, char *path,
                       size_t size)
{
    char hex[KDB_ID_HEX_SIZE + 1];
    hex_of(&run->ids[i], hex);
    snprintf(path, size, "%s/blocks/%s", base(run, side), hex);
}

static void open_read_close(const char *path)
{
    char buf[BLOCK_SIZE];
    int fd = open(path, O_RDONLY);

    if (fd < 0) bench_die(path, -errno);
    if (read(fd, buf, sizeof(buf)) != BLOCK_SIZE) bench_die(path, -EIO);
    close(fd);
}

static size_t read_dir(const char *path)
{
    DIR *d = opendir(path);
    size_t count = 0;

    if (!d) bench_die(path, -errno);
    while (readdir(d))
        count++;
    closedir(d);
    return count;
}

enum op {
    OP_COLD,
    OP_STAT,
    OP_OPEN_READ,
    OP_READLINK,
    OP_GETXATTR,
    OP_READDIR_10K,
    OP_READDIR_100K,
    OP_LS_L,
    OP_CREATE,
    OP_FSYNC,
    OP_UNLINK,
    OP_COUNT
};

/* Round trips to the daemon an operation takes through kausalfs, once the kernel is warm. */
static const char *const op_round_trips[OP_COUNT] = {
    "2 round trips (LOOKUP, READ)",
    "0 round trips",
    "0 round trips",
    "0 round trips",
    "1 round trip",
    "0 round trips (cached listing)",
    "0 round trips (cached listing)",
    "0 round trips (READDIRPLUS filled the cache)",
    "4 round trips (LOOKUP, MKNOD, GETXATTR, WRITE)",
    "5 round trips (create_write_1k's, FSYNC)",
    "1 round trip (UNLINK)"};

static const char *const op_names[OP_COUNT] = {
    "cold_open_read", "stat",      "open_read_1k",    "readlink", "getxattr", "readdir_10k",
    "readdir_100k",   "ls_l_100k", "create_write_1k", "fsync",    "unlink"};

/* A new file's name for create_write_1k number i (and unlink's). */
static void new_path(const struct fs_run *run, enum side side, uint64_t i, char *path, size_t size)
{
    snprintf(path, size, "%s/blocks/ffff%028llx", base(run, side), (unsigned long long)i);
}

/* One operation on file number i (of the order). */
static void run_op(struct fs_run *run, enum op op, enum side side, uint64_t i)
{
    char path[8400], buf[256];
    char hex[KDB_ID_HEX_SIZE + 1], far[KDB_ID_HEX_SIZE + 1];
    struct stat st;
    int fd;

    switch (op) {
    case OP_COLD:
    case OP_OPEN_READ:
        block_path(run, side, i, path, sizeof(path));
        open_read_close(path);
        break;
    case OP_STAT:
        block_path(run, side, i, path, sizeof(path));
        if (stat(path, &st) < 0) bench_die(path, -errno);
        break;
    case OP_READLINK:
        hex_of(&run->ids[i], hex);
        hex_of(&run->ids[(i + 1) % run->config.n], far);
        snprintf(path, sizeof(path), "%s/graph/%s/out/calls/%s", base(run, side), hex, far);
        if (readlink(path, buf, sizeof(buf)) != 9 + KDB_ID_HEX_SIZE) bench_die(path, -errno);
        break;
    case OP_GETXATTR:
        block_path(run, side, i, path, sizeof(path));
        if (getxattr(path, side == MOUNT ? "user.kausal.metadata" : "trusted.kausal.metadata", buf,
                     sizeof(buf)) <= 0)
            bench_die(path, -errno);
        break;
    case OP_READDIR_10K:
        if (side == MOUNT) {
            hex_of(&run->hub, hex);
            snprintf(path, sizeof(path), "%s/graph/%s/out/calls", run->mnt, hex);
        } else {
            snprintf(path, sizeof(path), "%s/hub", run->tmp);
        }
        if (read_dir(path) < FANOUT) bench_die(path, -EIO);
        break;
    case OP_READDIR_100K:
        snprintf(path, sizeof(path), "%s/blocks", base(run, side));
        if (read_dir(path) < run->config.n) bench_die(path, -EIO);
        break;
    case OP_LS_L: {
        const char *argv[] = {"ls", "-l", path, NULL};
        snprintf(path, sizeof(path), "%s/blocks", base(run, side));
        if (bench_spawn(argv, NULL, NULL, true, NULL) != 0) bench_die("ls -l", -EIO);
        break;
    }
    case OP_CREATE:
    case OP_FSYNC: {
        char content[BLOCK_SIZE];
        fill(content, i);
        new_path(run, side, i + (op == OP_FSYNC ? run->config.iterations : 0), path, sizeof(path));
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) bench_die(path, -errno);
        if (write(fd, content, BLOCK_SIZE) != BLOCK_SIZE) bench_die(path, -errno);
        if (op == OP_FSYNC && fsync(fd) < 0) bench_die(path, -errno);
        close(fd);
        break;
    }
    case OP_UNLINK:
        new_path(run, side, i, path, sizeof(path));
        if (unlink(path) < 0) bench_die(path, -errno);
        break;
    default:
        break;
    }
}

/* fsync(2) of a 1 KiB write on the database's own file system: the floor under the mount's fsync. */
static double fsync_disk_us(struct fs_run *run, uint64_t count)
{
    char path[4300], content[BLOCK_SIZE];
    uint64_t start;
    int fd;

    snprintf(path, sizeof(path), "%s/fsync-floor", run->root);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) bench_die(path, -errno);
    fill(content, 0);
    start = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        if (pwrite(fd, content, BLOCK_SIZE, (off_t)(i * BLOCK_SIZE)) != BLOCK_SIZE ||
            fdatasync(fd) < 0)
            bench_die(path, -errno);
    }
    close(fd);
    unlink(path);
    return (double)(bench_now_ns() - start) / 1e3 / (double)count;
}

static uint64_t op_count(const struct fs_run *run, enum op op)
{
    switch (op) {
    case OP_READDIR_10K:
        return 20;
    case OP_READDIR_100K:
    case OP_LS_L:
        return 5;
    case OP_FSYNC:
        return run->config.iterations < 500 ? run->config.iterations : 500;
    default:
        return run->config.iterations;
    }
}

static void measure(struct fs_run *run, const uint64_t *order, double round_trip_us)
{
    struct bench_samples samples[2];

    bench_samples_init(&samples[0], run->config.iterations);
    bench_samples_init(&samples[1], run->config.iterations);
    for (int op = 0; op < OP_COUNT; op++) {
        struct bench_result result, peer;
        uint64_t count = op_count(run, (enum op)op);

        bench_progress("fs: %s", op_names[op]);
        for (int side = 0; side < 2; side++) {
            samples[side].count = 0;
            /* Warm: each file once before the timed pass, except for the cold pass itself. */
            if (op == OP_STAT || op == OP_OPEN_READ || op == OP_READLINK || op == OP_GETXATTR) {
                for (uint64_t i = 0; i < count; i++)
                    run_op(run, (enum op)op, (enum side)side, order[i]);
            }
            for (uint64_t i = 0; i < count; i++) {
                uint64_t start = bench_now_ns();
                run_op(run, (enum op)op, (enum side)side,
                       op == OP_CREATE || op == OP_FSYNC || op == OP_UNLINK ? i : order[i]);
                bench_samples_add(&samples[side], bench_now_ns() - start);
            }
        }
        bench_result_from(&result, op_names[op], &samples[MOUNT], 0);
        bench_result_from(&peer, op_names[op], &samples[TMPFS], 0);
        snprintf(result.extra, sizeof(result.extra),
                 ", \"tmpfs_mean_us\": %.3f, \"tmpfs_p50_us\": %.3f, \"ratio\": %.3f"
                 ", \"first_us\": %.3f, \"tmpfs_first_us\": %.3f, \"round_trip_us\": %.3f",
                 peer.mean_us, peer.p50_us, result.mean_us / peer.mean_us,
                 (double)samples[MOUNT].ns[0] / 1e3, (double)samples[TMPFS].ns[0] / 1e3,
                 round_trip_us);
        snprintf(result.note, sizeof(result.note), "tmpfs %.2f us, %.2fx; %s", peer.mean_us,
                 result.mean_us / peer.mean_us, op_round_trips[op]);
        if (op == OP_FSYNC) {
            double floor_us = fsync_disk_us(run, count);
            size_t len = strlen(result.extra);
            snprintf(result.extra + len, sizeof(result.extra) - len, ", \"fsync_disk_us\": %.3f",
                     floor_us);
            snprintf(result.note, sizeof(result.note), "disk fdatasync %.1f us, %.2fx; %s",
                     floor_us, result.mean_us / floor_us, op_round_trips[op]);
        }
        bench_report_add(&run->report, &result);
    }
    bench_samples_release(&samples[0]);
    bench_samples_release(&samples[1]);
}

/* ---- command line ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kausal-bench fs [-n N] [--iterations K] [--dir DIR] [--tmpfs DIR]\n"
            "                       [--kausalfs PATH] [--json]\n"
            "\n"
            "The mounted database (kausalfs, a real FUSE mount) against the same files on\n"
            "tmpfs, operation by operation, in one run. Needs /dev/fuse and root (tmpfs\n"
            "xattrs are trusted.*).\n"
            "\n"
            "  -n N             blocks, and entries of the readdir_100k directory\n"
            "                   (default 100000, at least %d)\n"
            "  --iterations K   operations of each per-file kind (default 10000, at most N)\n"
            "  --dir DIR        where the database goes (default $TMPDIR or /tmp)\n"
            "  --tmpfs DIR      a directory on tmpfs (default /dev/shm)\n"
            "  --kausalfs PATH  the daemon (default: kausalfs beside this program)\n"
            "  --json           one JSON array: cold_open_read, stat, open_read_1k,\n"
            "                   readlink, getxattr, readdir_10k, readdir_100k, ls_l_100k,\n"
            "                   create_write_1k, fsync, unlink; each with tmpfs_mean_us,\n"
            "                   tmpfs_p50_us and ratio\n",
            FANOUT);
}

static int parse(int argc, char **argv, struct config *config)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"iterations", required_argument, NULL, 'i'},
        {"dir", required_argument, NULL, 'd'},
        {"tmpfs", required_argument, NULL, 't'},
        {"kausalfs", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *tmp = getenv("TMPDIR");
    int c;

    *config = (struct config){
        .n = 100000, .iterations = 10000, .dir = tmp && *tmp ? tmp : "/tmp", .tmpfs = "/dev/shm"};
    while ((c = getopt_long(argc, argv, "n:h", options, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'j':
            config->json = true;
            break;
        case 'n':
            config->n = strtoull(optarg, &end, 10);
            break;
        case 'i':
            config->iterations = strtoull(optarg, &end, 10);
            break;
        case 'd':
            config->dir = optarg;
            break;
        case 't':
            config->tmpfs = optarg;
            break;
        case 'k':
            config->kausalfs = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
        if (end && (*end || end == optarg)) {
            fprintf(stderr, "kausal-bench: not a number: %s\n", optarg);
            return 2;
        }
    }
    if (optind != argc || config->n < FANOUT || config->iterations < 1 ||
        config->iterations > config->n) {
        usage(stderr);
        return 2;
    }
    return 0;
}

int bench_fs_main(int argc, char **argv)
{
    struct fs_run *run = calloc(1, sizeof(*run));
    struct statfs sf;
    uint64_t rng = 99, *order;
    char *kausalfs;
    int rc;

    if (!run) bench_die("memory", -ENOMEM);
    rc = parse(argc, argv, &run->config);
    if (rc) return rc;
    run->report.json = run->config.json;
    kausalfs = bench_beside(run->config.kausalfs, "kausalfs");
    if (!kausalfs) bench_die("memory", -ENOMEM);
    run->config.kausalfs = kausalfs;
    if (access("/dev/fuse", R_OK | W_OK) < 0) bench_die("/dev/fuse", -errno);
    if (statfs(run->config.tmpfs, &sf) < 0) bench_die(run->config.tmpfs, -errno);
    if (sf.f_type != TMPFS_MAGIC) {
        fprintf(stderr, "kausal-bench: %s is not a tmpfs\n", run->config.tmpfs);
        return 2;
    }
    snprintf(run->root, sizeof(run->root), "%s/kausal-bench-fs.XXXXXX", run->config.dir);
    snprintf(run->tmp, sizeof(run->tmp), "%s/kausal-bench-fs.XXXXXX", run->config.tmpfs);
    if (!mkdtemp(run->root)) bench_die(run->root, -errno);
    if (!mkdtemp(run->tmp)) bench_die(run->tmp, -errno);
    snprintf(run->db, sizeof(run->db), "%s/db", run->root);
    snprintf(run->mnt, sizeof(run->mnt), "%s/mnt", run->root);
    snprintf(run->floor_mnt, sizeof(run->floor_mnt), "%s/floor", run->root);
    make_dir(run->mnt);
    mounted_run = run;
    if (atexit(unmount_at_exit) != 0) bench_die("atexit", -ENOMEM);

    bench_progress("fs: writing %llu blocks", (unsigned long long)run->config.n);
    build_db(run);
    build_tmpfs(run);
    /* A random order of files, the same for both sides. */
    order = malloc(run->config.n * sizeof(*order));
    if (!order) bench_die("memory", -ENOMEM);
    for (uint64_t i = 0; i < run->config.n; i++)
        order[i] = i;
    for (uint64_t i = run->config.n; i > 1; i--) {
        uint64_t j = bench_splitmix(&rng) % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    {
        struct bench_result floor;
        fuse_round_trip(run, run->config.iterations, &floor);
        bench_report_add(&run->report, &floor);
        do_mount(run);
        measure(run, order, floor.mean_us);
        do_unmount(run);
    }
    mounted_run = NULL;
    bench_progress("%s", "");
    bench_report_print(&run->report, "kausalfs against tmpfs (microseconds)");
    if (bench_remove_tree(run->root) < 0 || bench_remove_tree(run->tmp) < 0)
        fprintf(stderr, "kausal-bench: removing %s, %s: %s\n", run->root, run->tmp,
                strerror(errno));
    free(order);
    free(run->ids);
    free(kausalfs);
    free(run);
    return 0;
}
