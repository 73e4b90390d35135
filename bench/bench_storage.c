/* SPDX-License-Identifier: MIT */
/*
 * bench_storage.c: `kausal-bench storage`, the engine's block operations on
 * the real file system through the POSIX VFS.
 *
 * Workload (fixed seeds): 1 KiB blocks with code-like metadata and random
 * 16-byte ids. After a warm-up of N/10 puts, N puts of new ids (block_write),
 * then N random reads copying the content out (block_read) and N zero-copy
 * views (zero_copy_read), N updates and N deletes, each over a fresh random
 * order so no cache measures itself. Durable writes (wal_flush: a put and a
 * kdb_sync) alternate in batches with the floor: a bare 1 KiB pwrite and
 * fdatasync in the same directory, appending (raw_fdatasync) and over
 * allocated blocks (raw_fdatasync_overwrite), so their ratio holds on a
 * noisy machine. Recovery: a child writes a log of --recovery-mib MiB (a
 * memtable that large, so nothing is flushed), syncs and is killed with
 * SIGKILL; three more children each time a kdb_open() that replays it all
 * and are killed the same way (page cache warm, as after a crash of the
 * process). metadata_validate times the check every put makes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(KDB_BENCH_JANSSON)
#include <jansson.h>
#endif

#include "bench.h"
#include "kdb.h"

#define CONTENT_SIZE 1024
#define SYNC_BATCH   50

static const char metadata[] =
    "{\"kind\":\"function\",\"name\":\"luaH_getshortstr\",\"lang\":\"c\","
    "\"line_start\":1203,\"line_end\":1231,\"static\":false}";
static const char source_uri[] = "src/ltable.c";

struct config {
    uint64_t n;            /* blocks */
    uint64_t sync_n;       /* durable writes, and as many of each floor */
    uint64_t recovery_mib; /* size of the log recovery replays; 0 skips it */
    const char *dir;       /* where the data goes; a fresh directory inside it */
    bool json;
};

struct run {
    struct config config;
    char root[4096];    /* our scratch directory */
    struct kdb_id *ids; /* n + warm ids */
    uint64_t warm;      /* warm-up puts */
    uint8_t content[CONTENT_SIZE];
    struct bench_report report;
};

static void shuffle(uint64_t *order, uint64_t count, uint64_t seed)
{
    for (uint64_t i = 0; i < count; i++)
        order[i] = i;
    for (uint64_t i = count - 1; i > 0; i--) {
        uint64_t j = bench_splitmix(&seed) % (i + 1);
        uint64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static struct kdb_block block_for(struct run *run, uint64_t index, uint64_t salt)
{
    struct kdb_block block = {
        .id = run->ids[index],
        .source_uri = source_uri,
        .source_uri_len = sizeof(source_uri) - 1,
        .metadata = metadata,
        .metadata_len = sizeof(metadata) - 1,
        .content = run->content,
        .content_len = CONTENT_SIZE,
    };
    /* Vary the bytes a little so every write is a different block. */
    memcpy(run->content, &salt, sizeof(salt));
    return block;
}

/* memtable_bytes 0: the default. */
static struct kdb *open_db_with(const char *path, uint64_t memtable_bytes)
{
    struct kdb_options options;
    struct kdb *db;
    int rc;

    kdb_options_init(&options);
    options.flags = KDB_OPEN_CREATE;
    if (memtable_bytes) options.memtable_size_bytes = memtable_bytes;
    rc = kdb_open(path, &options, &db);
    if (rc < 0) bench_die(path, rc);
    return db;
}

static struct kdb *open_db(const char *path)
{
    return open_db_with(path, 0);
}

static void add(struct run *run, const char *name, struct bench_samples *samples, double mean_ns,
                const char *note)
{
    struct bench_result result;

    bench_result_from(&result, name, samples, mean_ns);
    snprintf(result.note, sizeof(result.note), "%s", note);
    bench_report_add(&run->report, &result);
}

/* N puts of one kind (new ids or updates), timed per operation. */
static void time_puts(struct run *run, struct kdb *db, const char *name, const uint64_t *order,
                      uint64_t salt)
{
    struct bench_samples samples;
    uint64_t n = run->config.n;

    bench_samples_init(&samples, n);
    uint64_t last = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        struct kdb_block block = block_for(run, order[i], salt + i);
        int rc = kdb_put_block(db, &block, NULL);
        uint64_t now = bench_now_ns();
        if (rc < 0) bench_die(name, rc);
        bench_samples_add(&samples, now - last);
        last = now;
    }
    add(run, name, &samples, 0, "1 KiB, no sync");
    bench_samples_release(&samples);
}

static uint64_t read_once(struct kdb *db, const struct kdb_id *id, bool zero_copy, uint8_t *buf)
{
    struct kdb_block view;
    size_t got = 0;
    int rc;

    if (zero_copy) {
        rc = kdb_get_block_view(db, id, &view);
        got = view.content_len;
    } else {
        rc = kdb_read_block(db, id, 0, buf, CONTENT_SIZE, &got);
    }
    if (rc < 0) bench_die("read", rc);
    return got;
}

/* The ids of order, laid out in that order: the harness's own lookups stay sequential. */
static struct kdb_id *ids_in_order(const struct run *run, uint64_t seed)
{
    uint64_t n = run->config.n;
    uint64_t *order = malloc(n * sizeof(*order));
    struct kdb_id *ids = malloc(n * sizeof(*ids));

    if (!order || !ids) bench_die("memory", -ENOMEM);
    shuffle(order, n, seed);
    for (uint64_t i = 0; i < n; i++)
        ids[i] = run->ids[order[i]];
    free(order);
    return ids;
}

/* Reads: a pass timed as a whole for the mean, then one timed per read. */
static void time_reads(struct run *run, struct kdb *db, bool zero_copy, uint64_t seed)
{
    const char *name = zero_copy ? "zero_copy_read" : "block_read";
    uint64_t n = run->config.n;
    struct kdb_id *ids = ids_in_order(run, seed);
    static uint8_t buf[CONTENT_SIZE];
    struct bench_samples samples;
    volatile uint64_t sink = 0;

    uint64_t start = bench_now_ns();
    for (uint64_t i = 0; i < n; i++)
        sink += read_once(db, &ids[i], zero_copy, buf);
    double mean_ns = (double)(bench_now_ns() - start) / (double)n;
    free(ids);
    ids = ids_in_order(run, seed + 1);
    bench_samples_init(&samples, n);
    uint64_t last = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        sink += read_once(db, &ids[i], zero_copy, buf);
        uint64_t now = bench_now_ns();
        bench_samples_add(&samples, now - last);
        last = now;
    }
    (void)sink;
    add(run, name, &samples, mean_ns,
        zero_copy ? "view of 1 KiB, random id" : "copy 1 KiB out, random id");
    bench_samples_release(&samples);
    free(ids);
}

/*
 * The floor for reads: copying 1 KiB out of a random place in a buffer as
 * large as the blocks, with no lookup, in the same kind of random order.
 */
static void time_raw_copy(struct run *run)
{
    uint64_t n = run->config.n;
    size_t stride = 1280; /* about a record: header, metadata and 1 KiB */
    size_t bytes = (n * stride + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    /* Huge pages, as the engine's arena has. */
    uint8_t *area = aligned_alloc(2u << 20, bytes);
    uint64_t *order = malloc(n * sizeof(*order));
    static uint8_t buf[CONTENT_SIZE];
    struct bench_samples samples;
    volatile uint64_t sink = 0;

    if (!area || !order) bench_die("memory", -ENOMEM);
    (void)madvise(area, bytes, MADV_HUGEPAGE);
    memset(area, 1, n * stride);
    shuffle(order, n, 11);
    uint64_t start = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        memcpy(buf, area + order[i] * stride, CONTENT_SIZE);
        sink += buf[i % CONTENT_SIZE];
    }
    double mean_ns = (double)(bench_now_ns() - start) / (double)n;
    shuffle(order, n, 12);
    bench_samples_init(&samples, n);
    uint64_t last = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        memcpy(buf, area + order[i] * stride, CONTENT_SIZE);
        sink += buf[i % CONTENT_SIZE];
        uint64_t now = bench_now_ns();
        bench_samples_add(&samples, now - last);
        last = now;
    }
    (void)sink;
    add(run, "raw_random_copy", &samples, mean_ns,
        "floor: memcpy 1 KiB from a random place, no lookup");
    bench_samples_release(&samples);
    free(order);
    free(area);
}

static void time_deletes(struct run *run, struct kdb *db, const uint64_t *order)
{
    struct bench_samples samples;
    uint64_t n = run->config.n;

    bench_samples_init(&samples, n);
    uint64_t last = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        int rc = kdb_delete_block(db, &run->ids[order[i]]);
        uint64_t now = bench_now_ns();
        if (rc < 0) bench_die("delete", rc);
        bench_samples_add(&samples, now - last);
        last = now;
    }
    add(run, "block_delete", &samples, 0, "no sync");
    bench_samples_release(&samples);
}

static int open_raw(struct run *run, const char *name, uint64_t prefill)
{
    char path[4200];
    static const uint8_t zeros[CONTENT_SIZE];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", run->root, name);
    fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) bench_die(path, 0);
    for (uint64_t i = 0; i < prefill; i++) {
        if (pwrite(fd, zeros, CONTENT_SIZE, (off_t)(i * CONTENT_SIZE)) != CONTENT_SIZE)
            bench_die(path, 0);
    }
    if (prefill && fsync(fd) < 0) bench_die(path, 0);
    return fd;
}

static uint64_t raw_write(int fd, const uint8_t *buf, uint64_t offset)
{
    uint64_t start = bench_now_ns();

    if (pwrite(fd, buf, CONTENT_SIZE, (off_t)offset) != CONTENT_SIZE || fdatasync(fd) < 0)
        bench_die("raw write", 0);
    return bench_now_ns() - start;
}

/* Durable writes and both floors, interleaved in batches. */
static void time_durable(struct run *run, struct kdb *db)
{
    uint64_t n = run->config.sync_n;
    struct bench_samples wal, append, overwrite;
    int append_fd = open_raw(run, "raw-append.dat", 0);
    int overwrite_fd = open_raw(run, "raw-overwrite.dat", n);
    struct bench_result *r;
    char extra[256];

    bench_samples_init(&wal, n);
    bench_samples_init(&append, n);
    bench_samples_init(&overwrite, n);
    for (uint64_t done = 0; done < n; done += SYNC_BATCH) {
        uint64_t batch = n - done < SYNC_BATCH ? n - done : SYNC_BATCH;
        bench_progress("durable writes %llu/%llu", (unsigned long long)done, (unsigned long long)n);
        for (uint64_t i = done; i < done + batch; i++) {
            struct kdb_block block = block_for(run, i % run->config.n, 1000000 + i);
            uint64_t start = bench_now_ns();
            int rc = kdb_put_block(db, &block, NULL);
            if (rc == 0) rc = kdb_sync(db);
            if (rc < 0) bench_die("durable write", rc);
            bench_samples_add(&wal, bench_now_ns() - start);
        }
        for (uint64_t i = done; i < done + batch; i++)
            bench_samples_add(&append, raw_write(append_fd, run->content, i * CONTENT_SIZE));
        for (uint64_t i = done; i < done + batch; i++)
            bench_samples_add(&overwrite, raw_write(overwrite_fd, run->content, i * CONTENT_SIZE));
    }
    bench_progress("%s", "");
    close(append_fd);
    close(overwrite_fd);
    add(run, "wal_flush", &wal, 0, "put + kdb_sync: a durable write");
    r = &run->report.results[run->report.count - 1];
    add(run, "raw_fdatasync", &append, 0, "floor: pwrite 1 KiB + fdatasync, appending");
    double floor_append = run->report.results[run->report.count - 1].mean_us;
    add(run, "raw_fdatasync_overwrite", &overwrite, 0, "floor: the same over allocated blocks");
    double floor_overwrite = run->report.results[run->report.count - 1].mean_us;
    snprintf(extra, sizeof(extra),
             ", \"vs_raw_fdatasync\": %.3f, \"vs_raw_fdatasync_overwrite\": %.3f",
             r->mean_us / floor_append, r->mean_us / floor_overwrite);
    snprintf(r->extra, sizeof(r->extra), "%s", extra);
    snprintf(r->note, sizeof(r->note), "durable write: %.2fx append floor, %.2fx overwrite floor",
             r->mean_us / floor_append, r->mean_us / floor_overwrite);
    bench_samples_release(&wal);
    bench_samples_release(&append);
    bench_samples_release(&overwrite);
}

static void time_metadata(struct run *run)
{
    uint64_t n = run->config.n;
    struct bench_samples samples;
    volatile int sink = 0;

    bench_samples_init(&samples, n);
    uint64_t last = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        sink += kdb_validate_metadata(metadata, sizeof(metadata) - 1);
        uint64_t now = bench_now_ns();
        bench_samples_add(&samples, now - last);
        last = now;
    }
    add(run, "metadata_validate", &samples, 0, "the engine's check of 110 bytes of JSON");
    bench_samples_release(&samples);
#if defined(KDB_BENCH_JANSSON)
    bench_samples_init(&samples, n);
    last = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        json_error_t error;
        json_t *value = json_loadb(metadata, sizeof(metadata) - 1, 0, &error);
        sink += json_is_object(value);
        json_decref(value);
        uint64_t now = bench_now_ns();
        bench_samples_add(&samples, now - last);
        last = now;
    }
    add(run, "metadata_validate_jansson", &samples, 0, "the same with jansson's json_loadb");
    bench_samples_release(&samples);
#endif
    (void)sink;
}

/* What a recovering child reports before it is killed. */
struct recovery_report {
    uint64_t open_ns;
    struct kdb_stats stats;
};

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) _exit(1);
        p += n;
        len -= (size_t)n;
    }
}

static bool read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/*
 * Runs fn in a child that ends with SIGKILL, as a crashed process does:
 * nothing of the engine's shutdown runs, so the log stays for replay. The
 * child writes len bytes of report through a pipe.
 */
static bool in_killed_child(void (*fn)(struct run *, void *, size_t), struct run *run, void *report,
                            size_t len)
{
    int fds[2], status = 0;
    pid_t pid;
    bool ok;

    if (pipe(fds) < 0) bench_die("pipe", 0);
    fflush(NULL);
    pid = fork();
    if (pid < 0) bench_die("fork", 0);
    if (pid == 0) {
        close(fds[0]);
        fn(run, report, len);
        write_all(fds[1], report, len);
        (void)kill(getpid(), SIGKILL);
        _exit(1);
    }
    close(fds[1]);
    ok = read_all(fds[0], report, len);
    close(fds[0]);
    (void)waitpid(pid, &status, 0);
    return ok && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/* The memtable holds the whole log, so nothing is flushed while it is written. */
static uint64_t recovery_memtable(const struct run *run)
{
    return (run->config.recovery_mib << 20) * 2 + (64u << 20);
}

static void write_log(struct run *run, void *report, size_t len)
{
    char path[4200];
    uint64_t target = run->config.recovery_mib << 20, seed = 77, *records = report;
    struct kdb_block block = block_for(run, 0, 0);
    struct kdb_stats stats;
    struct kdb *db;

    (void)len;
    snprintf(path, sizeof(path), "%s/recovery", run->root);
    db = open_db_with(path, recovery_memtable(run));
    *records = 0;
    do {
        for (int i = 0; i < 4096; i++) {
            int rc;
            for (int k = 0; k < 2; k++) {
                uint64_t r = bench_splitmix(&seed);
                memcpy(block.id.bytes + 8 * k, &r, sizeof(r));
            }
            rc = kdb_put_block(db, &block, NULL);
            if (rc < 0) bench_die("recovery log", rc);
            (*records)++;
        }
        kdb_get_stats(db, &stats);
        bench_progress("writing a %llu MiB log: %llu MiB",
                       (unsigned long long)run->config.recovery_mib,
                       (unsigned long long)(stats.wal_bytes >> 20));
    } while (stats.wal_bytes < target);
    if (kdb_sync(db) < 0) bench_die("sync", -EIO);
}

static void reopen_log(struct run *run, void *report, size_t len)
{
    struct recovery_report *r = report;
    char path[4200];
    uint64_t start;

    (void)len;
    snprintf(path, sizeof(path), "%s/recovery", run->root);
    start = bench_now_ns();
    struct kdb *db = open_db_with(path, recovery_memtable(run));
    r->open_ns = bench_now_ns() - start;
    kdb_get_stats(db, &r->stats);
}

/* Writes a log of the configured size and is killed; three reopens replay it, each killed too. */
static void time_recovery(struct run *run)
{
    struct bench_samples samples;
    struct recovery_report report = {0};
    struct kdb_stats stats = {0};
    uint64_t records = 0;
    char extra[256];
    double replay_s = 0;

    if (!in_killed_child(write_log, run, &records, sizeof(records)))
        bench_die("writing the log", -EIO);
    bench_samples_init(&samples, 3);
    for (int i = 0; i < 3; i++) {
        bench_progress("recovery %d/3", i + 1);
        if (!in_killed_child(reopen_log, run, &report, sizeof(report))) bench_die("recovery", -EIO);
        stats = report.stats;
        bench_samples_add(&samples, report.open_ns);
        replay_s += (double)stats.recovery_ns / 1e9 / 3;
        if (stats.recovered_records != records || stats.block_count != records) {
            fprintf(stderr, "kausal-bench: recovered %llu of %llu records\n",
                    (unsigned long long)stats.recovered_records, (unsigned long long)records);
            exit(1);
        }
    }
    bench_progress("%s", "");
    add(run, "recovery", &samples, 0, "");
    struct bench_result *r = &run->report.results[run->report.count - 1];
    double gib = (double)stats.recovered_bytes / (double)(1u << 30);
    snprintf(extra, sizeof(extra),
             ", \"gib_per_s\": %.3f, \"wal_bytes\": %llu, \"records\": %llu, \"replay_s\": %.4f",
             gib / (r->mean_us / 1e6), (unsigned long long)stats.recovered_bytes,
             (unsigned long long)records, replay_s);
    snprintf(r->extra, sizeof(r->extra), "%s", extra);
    r->ops_per_s = (double)records / (r->mean_us / 1e6);
    snprintf(r->note, sizeof(r->note), "kdb_open of a %.2f GiB log (%llu blocks): %.2f GiB/s", gib,
             (unsigned long long)records, gib / (r->mean_us / 1e6));
    bench_samples_release(&samples);
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: kausal-bench storage [--json] [-n N] [--sync-n N] [--recovery-mib M] "
        "[--dir DIR]\n"
        "\n"
        "  -n N              blocks of 1 KiB (default 100000)\n"
        "  --sync-n N        durable writes, and as many bare pwrite+fdatasync (default 2000)\n"
        "  --recovery-mib M  size of the log that recovery replays (default 1024; 0 skips)\n"
        "  --dir DIR         where to put the data (default $TMPDIR or /tmp); a fresh\n"
        "                    directory inside it is removed at the end\n"
        "  --json            one JSON array of {name, n, mean_us, p50_us, p99_us, ops_per_s}\n");
}

static int parse(int argc, char **argv, struct config *config)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"sync-n", required_argument, NULL, 's'},
        {"recovery-mib", required_argument, NULL, 'r'},
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *tmp = getenv("TMPDIR");
    int c;

    *config = (struct config){
        .n = 100000, .sync_n = 2000, .recovery_mib = 1024, .dir = tmp && *tmp ? tmp : "/tmp"};
    while ((c = getopt_long(argc, argv, "n:h", options, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'j':
            config->json = true;
            break;
        case 'n':
            config->n = strtoull(optarg, &end, 10);
            break;
        case 's':
            config->sync_n = strtoull(optarg, &end, 10);
            break;
        case 'r':
            config->recovery_mib = strtoull(optarg, &end, 10);
            break;
        case 'd':
            config->dir = optarg;
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
    if (optind != argc || config->n < 100 || config->sync_n < 1) {
        usage(stderr);
        return 2;
    }
    return 0;
}

static const char *fs_name(const char *path)
{
    struct statfs st;

    if (statfs(path, &st) < 0) return "unknown";
    switch ((unsigned long)st.f_type) {
    case 0xEF53:
        return "ext4";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x01021994:
        return "tmpfs";
    default:
        return "other";
    }
}

static void run_all(struct run *run)
{
    uint64_t n = run->config.n, seed = 1;
    uint64_t *order = malloc(n * sizeof(*order));
    char path[4200];
    struct kdb *db;

    run->warm = n / 10;
    run->ids = malloc((n + run->warm) * sizeof(*run->ids));
    if (!order || !run->ids) bench_die("memory", -ENOMEM);
    for (uint64_t i = 0; i < n + run->warm; i++) {
        for (int k = 0; k < 2; k++) {
            uint64_t r = bench_splitmix(&seed);
            memcpy(run->ids[i].bytes + 8 * k, &r, sizeof(r));
        }
    }
    for (size_t i = 0; i < CONTENT_SIZE; i++)
        run->content[i] = (uint8_t)bench_splitmix(&seed);
    snprintf(path, sizeof(path), "%s/db", run->root);
    db = open_db(path);
    for (uint64_t i = 0; i < run->warm; i++) {
        struct kdb_block block = block_for(run, n + i, i);
        if (kdb_put_block(db, &block, NULL) < 0) bench_die("warm-up", -EIO);
    }
    bench_progress("%s", "block writes");
    shuffle(order, n, 2);
    time_puts(run, db, "block_write", order, 0);
    bench_progress("%s", "reads");
    time_reads(run, db, false, 3);
    time_reads(run, db, true, 5);
    time_raw_copy(run);
    bench_progress("%s", "updates and deletes");
    shuffle(order, n, 7);
    time_puts(run, db, "block_update", order, n);
    shuffle(order, n, 8);
    time_deletes(run, db, order);
    time_durable(run, db);
    if (kdb_close(db) < 0) bench_die("close", -EIO);
    time_metadata(run);
    if (run->config.recovery_mib) time_recovery(run);
    free(order);
    free(run->ids);
}

int bench_storage_main(int argc, char **argv)
{
    struct run *run = calloc(1, sizeof(*run));
    char title[4400];
    int rc;

    if (!run) bench_die("memory", -ENOMEM);
    rc = parse(argc, argv, &run->config);
    if (rc) return rc;
    run->report.json = run->config.json;
    snprintf(run->root, sizeof(run->root), "%s/kausal-bench.XXXXXX", run->config.dir);
    if (!mkdtemp(run->root)) bench_die(run->root, 0);
    run_all(run);
    snprintf(title, sizeof(title),
             "kausal-bench storage: %llu blocks of 1 KiB, %llu durable writes, in %s (%s)",
             (unsigned long long)run->config.n, (unsigned long long)run->config.sync_n,
             run->config.dir, fs_name(run->root));
    bench_report_print(&run->report, title);
    if (bench_remove_tree(run->root) < 0)
        fprintf(stderr, "kausal-bench: could not remove %s\n", run->root);
    free(run);
    return 0;
}
