/* SPDX-License-Identifier: MIT */
/*
 * bench_peers.c: `kausal-bench peers`: one workload against KausalDB,
 * LevelDB and RocksDB, each in a child process of its own so that each
 * one's memory is its own.
 *
 * The workload: N random 16-byte keys with 1 KiB values, each engine with
 * its write-ahead log on and sync off: put all, close and reopen (timed),
 * get all in a random order (get_first: the files fault in and caches
 * fill), get all again in another order (get: page cache warm), get as
 * many keys never written, note the footprint, update all, delete all,
 * then durable puts (a sync each). The
 * peers use their defaults plus a 10-bit bloom filter, the setting their
 * documentation recommends for point lookups. Values are checked on read.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "kdb.h"

#ifdef KDB_BENCH_LEVELDB
#include <leveldb/c.h>
#endif
#ifdef KDB_BENCH_ROCKSDB
#include <rocksdb/c.h>
#endif

#define VALUE_SIZE 1024
#define KEY_SIZE   16
#define SYNC_PUTS  2000
#define PHASES_MAX 9

/* ---- engines ---- */

struct engine {
    const char *name;
    int (*open)(void **handle, const char *dir);
    void (*close)(void *handle);
    int (*put)(void *handle, const uint8_t *key, const uint8_t *value, bool sync);
    /* 0 found (value copied to buf), 1 missing, -1 error */
    int (*get)(void *handle, const uint8_t *key, uint8_t *buf);
    int (*del)(void *handle, const uint8_t *key);
    void (*extra)(void *handle, char *extra, size_t size); /* footprint fields; may be NULL */
};

static bool verbose; /* --verbose: the engine's informational messages too */

/* The engine's messages on stderr, each with the seconds since the process began. */
static void kausal_log(void *ctx, enum kdb_log_level level, const char *file, int line,
                       const char *message)
{
    static uint64_t start_ns;
    uint64_t now = bench_now_ns();

    (void)ctx;
    (void)file;
    (void)line;
    if (level == KDB_LOG_INFO && !verbose) return;
    if (!start_ns) start_ns = now;
    fprintf(stderr, "kausal-bench: [%8.3f] %s\n", (double)(now - start_ns) / 1e9, message);
}

static int kausal_open(void **handle, const char *dir)
{
    struct kdb_options options;
    int rc;

    kdb_options_init(&options);
    options.flags = KDB_OPEN_CREATE;
    options.log = kausal_log;
    rc = kdb_open(dir, &options, (struct kdb **)handle);
    if (rc < 0) fprintf(stderr, "kausal-bench: kdb_open %s: %s\n", dir, kdb_strerror(rc));
    return rc < 0 ? -1 : 0;
}

static void kausal_close(void *handle)
{
    int rc = kdb_close(handle);
    if (rc < 0) fprintf(stderr, "kausal-bench: kdb_close: %s\n", kdb_strerror(rc));
}

static int kausal_put(void *handle, const uint8_t *key, const uint8_t *value, bool sync)
{
    struct kdb_block block = {.content = value, .content_len = VALUE_SIZE};
    int rc;

    memcpy(block.id.bytes, key, KEY_SIZE);
    rc = kdb_put_block(handle, &block, NULL);
    if (rc == 0 && sync) rc = kdb_sync(handle);
    return rc < 0 ? -1 : 0;
}

static int kausal_get(void *handle, const uint8_t *key, uint8_t *buf)
{
    struct kdb_id id;
    size_t got = 0;
    int rc;

    memcpy(id.bytes, key, KEY_SIZE);
    rc = kdb_read_block(handle, &id, 0, buf, VALUE_SIZE, &got);
    if (rc == -ENOENT) return 1;
    return rc < 0 || got != VALUE_SIZE ? -1 : 0;
}

static int kausal_del(void *handle, const uint8_t *key)
{
    struct kdb_id id;

    memcpy(id.bytes, key, KEY_SIZE);
    return kdb_delete_block(handle, &id) < 0 ? -1 : 0;
}

/* Since the database was opened: what flushes and compactions did, and the write stalls. */
static void kausal_extra(void *handle, char *extra, size_t size)
{
    struct kdb_stats s;

    kdb_get_stats(handle, &s);
    snprintf(extra, size,
             ", \"tables\": %llu, \"flushes\": %llu, \"flush_mib\": %.1f, "
             "\"compactions\": %llu, \"compaction_written_mib\": %.1f, \"stalls\": %llu, "
             "\"stall_ms\": %.1f",
             (unsigned long long)s.table_count, (unsigned long long)s.flush_count,
             (double)s.flush_bytes / (1 << 20), (unsigned long long)s.compaction_count,
             (double)s.compaction_bytes_written / (1 << 20), (unsigned long long)s.stall_count,
             (double)s.stall_ns / 1e6);
}

#ifdef KDB_BENCH_LEVELDB
struct leveldb_handle {
    leveldb_t *db;
    leveldb_options_t *options;
    leveldb_filterpolicy_t *filter;
    leveldb_writeoptions_t *write;
    leveldb_writeoptions_t *write_sync;
    leveldb_readoptions_t *read;
};

static int leveldb_engine_open(void **handle, const char *dir)
{
    struct leveldb_handle *h = calloc(1, sizeof(*h));
    char *err = NULL;

    if (!h) return -1;
    h->options = leveldb_options_create();
    h->filter = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_create_if_missing(h->options, 1);
    leveldb_options_set_filter_policy(h->options, h->filter);
    h->write = leveldb_writeoptions_create();
    h->write_sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(h->write_sync, 1);
    h->read = leveldb_readoptions_create();
    h->db = leveldb_open(h->options, dir, &err);
    if (err) {
        fprintf(stderr, "kausal-bench: leveldb_open %s: %s\n", dir, err);
        leveldb_free(err);
        return -1;
    }
    *handle = h;
    return 0;
}

static void leveldb_engine_close(void *handle)
{
    struct leveldb_handle *h = handle;

    leveldb_close(h->db);
    leveldb_readoptions_destroy(h->read);
    leveldb_writeoptions_destroy(h->write);
    leveldb_writeoptions_destroy(h->write_sync);
    leveldb_options_destroy(h->options);
    leveldb_filterpolicy_destroy(h->filter);
    free(h);
}

static int leveldb_engine_put(void *handle, const uint8_t *key, const uint8_t *value, bool sync)
{
    struct leveldb_handle *h = handle;
    char *err = NULL;

    leveldb_put(h->db, sync ? h->write_sync : h->write, (const char *)key, KEY_SIZE,
                (const char *)value, VALUE_SIZE, &err);
    if (err) leveldb_free(err);
    return err ? -1 : 0;
}

static int leveldb_engine_get(void *handle, const uint8_t *key, uint8_t *buf)
{
    struct leveldb_handle *h = handle;
    char *err = NULL;
    size_t len = 0;
    char *value = leveldb_get(h->db, h->read, (const char *)key, KEY_SIZE, &len, &err);

    if (err) {
        leveldb_free(err);
        return -1;
    }
    if (!value) return 1;
    if (len == VALUE_SIZE) memcpy(buf, value, len);
    leveldb_free(value);
    return len == VALUE_SIZE ? 0 : -1;
}

static int leveldb_engine_del(void *handle, const uint8_t *key)
{
    struct leveldb_handle *h = handle;
    char *err = NULL;

    leveldb_delete(h->db, h->write, (const char *)key, KEY_SIZE, &err);
    if (err) leveldb_free(err);
    return err ? -1 : 0;
}
#endif

#ifdef KDB_BENCH_ROCKSDB
struct rocksdb_handle {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_block_based_table_options_t *table;
    rocksdb_writeoptions_t *write;
    rocksdb_writeoptions_t *write_sync;
    rocksdb_readoptions_t *read;
};

static int rocksdb_engine_open(void **handle, const char *dir)
{
    struct rocksdb_handle *h = calloc(1, sizeof(*h));
    char *err = NULL;

    if (!h) return -1;
    h->options = rocksdb_options_create();
    h->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_filter_policy(h->table, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(h->options, h->table);
    rocksdb_options_set_create_if_missing(h->options, 1);
    h->write = rocksdb_writeoptions_create();
    h->write_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(h->write_sync, 1);
    h->read = rocksdb_readoptions_create();
    h->db = rocksdb_open(h->options, dir, &err);
    if (err) {
        fprintf(stderr, "kausal-bench: rocksdb_open %s: %s\n", dir, err);
        rocksdb_free(err);
        return -1;
    }
    *handle = h;
    return 0;
}

static void rocksdb_engine_close(void *handle)
{
    struct rocksdb_handle *h = handle;

    rocksdb_close(h->db);
    rocksdb_readoptions_destroy(h->read);
    rocksdb_writeoptions_destroy(h->write);
    rocksdb_writeoptions_destroy(h->write_sync);
    rocksdb_block_based_options_destroy(h->table);
    rocksdb_options_destroy(h->options);
    free(h);
}

static int rocksdb_engine_put(void *handle, const uint8_t *key, const uint8_t *value, bool sync)
{
    struct rocksdb_handle *h = handle;
    char *err = NULL;

    rocksdb_put(h->db, sync ? h->write_sync : h->write, (const char *)key, KEY_SIZE,
                (const char *)value, VALUE_SIZE, &err);
    if (err) rocksdb_free(err);
    return err ? -1 : 0;
}

static int rocksdb_engine_get(void *handle, const uint8_t *key, uint8_t *buf)
{
    struct rocksdb_handle *h = handle;
    char *err = NULL;
    size_t len = 0;
    char *value = rocksdb_get(h->db, h->read, (const char *)key, KEY_SIZE, &len, &err);

    if (err) {
        rocksdb_free(err);
        return -1;
    }
    if (!value) return 1;
    if (len == VALUE_SIZE) memcpy(buf, value, len);
    rocksdb_free(value);
    return len == VALUE_SIZE ? 0 : -1;
}

static int rocksdb_engine_del(void *handle, const uint8_t *key)
{
    struct rocksdb_handle *h = handle;
    char *err = NULL;

    rocksdb_delete(h->db, h->write, (const char *)key, KEY_SIZE, &err);
    if (err) rocksdb_free(err);
    return err ? -1 : 0;
}
#endif

static const struct engine engines[] = {
    {"kausal", kausal_open, kausal_close, kausal_put, kausal_get, kausal_del, kausal_extra},
#ifdef KDB_BENCH_LEVELDB
    {"leveldb", leveldb_engine_open, leveldb_engine_close, leveldb_engine_put, leveldb_engine_get,
     leveldb_engine_del, NULL},
#endif
#ifdef KDB_BENCH_ROCKSDB
    {"rocksdb", rocksdb_engine_open, rocksdb_engine_close, rocksdb_engine_put, rocksdb_engine_get,
     rocksdb_engine_del, NULL},
#endif
};
#define ENGINE_COUNT (sizeof(engines) / sizeof(engines[0]))

/* ---- the workload ---- */

static double disk_bytes(const char *dir);
static double status_mib(const char *field);

/* Key i of a stream: 16 random bytes. Stream 0 is written, stream 1 never is. */
static void make_key(uint8_t *key, uint64_t stream, uint64_t i)
{
    uint64_t state = (stream << 40) ^ (i * 0x9e3779b97f4a7c15ull) ^ 0x5eedull;
    uint64_t a = bench_splitmix(&state), b = bench_splitmix(&state);

    memcpy(key, &a, 8);
    memcpy(key + 8, &b, 8);
}

/* The value of key i in round r: its first 16 bytes say which, the rest is filler. */
static void make_value(uint8_t *value, uint64_t i, uint64_t round)
{
    uint64_t state = i ^ (round << 48);

    memcpy(value, &i, 8);
    memcpy(value + 8, &round, 8);
    for (size_t at = 16; at < VALUE_SIZE; at += 8) {
        uint64_t r = bench_splitmix(&state);
        memcpy(value + at, &r, 8);
    }
}

static uint64_t *permutation(uint64_t n, uint64_t seed)
{
    uint64_t *p = malloc(n * sizeof(*p));

    if (!p) return NULL;
    for (uint64_t i = 0; i < n; i++)
        p[i] = i;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = bench_splitmix(&seed) % i, t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    return p;
}

struct footprint {
    double rss_mib;
    double rss_file_mib;
    double disk_mib;
};

static double status_mib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;

    if (!f) return 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, strlen(field)) == 0) kib = strtod(line + strlen(field), NULL);
    }
    fclose(f);
    return kib / 1024.0;
}

/* Allocated bytes under dir, recursively (what du(1) counts). */
static double disk_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    double total = 0;

    if (!d) return 0;
    while ((e = readdir(d))) {
        char path[4096];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) < 0) continue;
        total += S_ISDIR(st.st_mode) ? disk_bytes(path) : (double)st.st_blocks * 512;
    }
    closedir(d);
    return total;
}

/* What a child sends its parent: plain structs through a pipe. */
struct child_report {
    int ok;
    size_t count;
    struct bench_result results[PHASES_MAX];
    struct bench_result footprint;
    struct footprint fp;
};

struct run {
    const struct engine *engine;
    uint64_t n;
    const char *dir;
    void *handle;
    struct bench_samples samples;
    struct child_report *report;
};

static void add_result(struct run *r, const char *name)
{
    struct bench_result *res = &r->report->results[r->report->count++];

    bench_result_from(res, name, &r->samples, 0);
    snprintf(res->extra, sizeof(res->extra), ", \"engine\": \"%s\"", r->engine->name);
    r->samples.count = 0;
}

/* Adds the engine's own account of a write phase, its memory and the disk's size, to its result. */
static void annotate_writes(struct run *r)
{
    struct bench_result *res = &r->report->results[r->report->count - 1];
    size_t len = strlen(res->extra);
    char extra[224] = "";

    if (r->engine->extra) r->engine->extra(r->handle, extra, sizeof(extra));
    snprintf(res->extra + len, sizeof(res->extra) - len,
             ", \"rss_mib\": %.1f, \"disk_mib\": %.1f%s", status_mib("RssAnon:"),
             disk_bytes(r->dir) / (1 << 20), extra);
}

/* Puts keys perm[0..n) of stream 0 with round's values. */
static int put_phase(struct run *r, const uint64_t *perm, uint64_t round, const char *name)
{
    uint8_t key[KEY_SIZE], value[VALUE_SIZE];
    uint64_t last = bench_now_ns();

    for (uint64_t k = 0; k < r->n; k++) {
        uint64_t i = perm ? perm[k] : k;
        make_key(key, 0, i);
        make_value(value, i, round);
        if (r->engine->put(r->handle, key, value, false) < 0) return -1;
        uint64_t now = bench_now_ns();
        bench_samples_add(&r->samples, now - last);
        last = now;
        if ((k & 0xffff) == 0)
            bench_progress("%s %s %llu/%llu", r->engine->name, name, (unsigned long long)k,
                           (unsigned long long)r->n);
    }
    add_result(r, name);
    return 0;
}

static int get_phase(struct run *r, const uint64_t *perm, uint64_t stream, uint64_t round,
                     const char *name)
{
    uint8_t key[KEY_SIZE], buf[VALUE_SIZE];
    uint64_t last = bench_now_ns();

    for (uint64_t k = 0; k < r->n; k++) {
        uint64_t i = perm[k], got_i = 0, got_round = 0;
        make_key(key, stream, i);
        int rc = r->engine->get(r->handle, key, buf);
        uint64_t now = bench_now_ns();
        bench_samples_add(&r->samples, now - last);
        last = now;
        if (stream == 1 ? rc != 1 : rc != 0) {
            fprintf(stderr, "kausal-bench: %s: %s of key %llu returned %d\n", r->engine->name, name,
                    (unsigned long long)i, rc);
            return -1;
        }
        if (stream == 0) {
            memcpy(&got_i, buf, 8);
            memcpy(&got_round, buf + 8, 8);
            if (got_i != i || got_round != round) {
                fprintf(stderr, "kausal-bench: %s: key %llu read back the wrong value\n",
                        r->engine->name, (unsigned long long)i);
                return -1;
            }
        }
    }
    add_result(r, name);
    return 0;
}

static int delete_phase(struct run *r, const uint64_t *perm)
{
    uint8_t key[KEY_SIZE];
    uint64_t last = bench_now_ns();

    for (uint64_t k = 0; k < r->n; k++) {
        make_key(key, 0, perm[k]);
        if (r->engine->del(r->handle, key) < 0) return -1;
        uint64_t now = bench_now_ns();
        bench_samples_add(&r->samples, now - last);
        last = now;
    }
    add_result(r, "delete");
    return 0;
}

static int sync_phase(struct run *r, uint64_t count)
{
    uint8_t key[KEY_SIZE], value[VALUE_SIZE];

    for (uint64_t k = 0; k < count; k++) {
        make_key(key, 2, k);
        make_value(value, k, 9);
        uint64_t start = bench_now_ns();
        if (r->engine->put(r->handle, key, value, true) < 0) return -1;
        bench_samples_add(&r->samples, bench_now_ns() - start);
    }
    add_result(r, "put_sync");
    return 0;
}

static int run_engine(struct run *r, uint64_t sync_n)
{
    uint64_t *order = permutation(r->n, 1), *order2 = permutation(r->n, 2);
    char extra[200] = "";
    int rc = order && order2 ? 0 : -1;

    bench_samples_init(&r->samples, r->n > sync_n ? r->n : sync_n);
    if (rc == 0) rc = r->engine->open(&r->handle, r->dir);
    if (rc == 0) rc = put_phase(r, NULL, 0, "put");
    if (rc == 0) annotate_writes(r);
    if (rc == 0) {
        r->engine->close(r->handle);
        uint64_t start = bench_now_ns();
        rc = r->engine->open(&r->handle, r->dir);
        bench_samples_add(&r->samples, bench_now_ns() - start);
        add_result(r, "reopen");
    }
    /* The first pass after reopen faults the files in and fills the peers' caches; the
     * second, in another order, measures reads with the page cache and mappings warm. */
    if (rc == 0) rc = get_phase(r, order2, 0, 0, "get_first");
    if (rc == 0) rc = get_phase(r, order, 0, 0, "get");
    if (rc == 0) rc = get_phase(r, order2, 1, 0, "get_missing");
    if (rc == 0) {
        struct bench_result *f = &r->report->footprint;
        struct footprint *fp = &r->report->fp;
        double live = (double)r->n * (VALUE_SIZE + KEY_SIZE) / (1 << 20);
        fp->disk_mib = disk_bytes(r->dir) / (1 << 20);
        fp->rss_mib = status_mib("RssAnon:");
        fp->rss_file_mib = status_mib("RssFile:");
        if (r->engine->extra) r->engine->extra(r->handle, extra, sizeof(extra));
        snprintf(f->name, sizeof(f->name), "footprint");
        f->n = r->n;
        snprintf(f->extra, sizeof(f->extra),
                 ", \"engine\": \"%s\", \"rss_mib\": %.1f, \"rss_file_mib\": %.1f, "
                 "\"disk_mib\": %.1f, \"space_amplification\": %.2f%s",
                 r->engine->name, fp->rss_mib, fp->rss_file_mib, fp->disk_mib, fp->disk_mib / live,
                 extra);
    }
    if (rc == 0) rc = put_phase(r, order2, 1, "update");
    if (rc == 0) annotate_writes(r);
    if (rc == 0) rc = delete_phase(r, order);
    if (rc == 0) annotate_writes(r);
    if (rc == 0) rc = sync_phase(r, sync_n);
    if (r->handle) r->engine->close(r->handle);
    bench_samples_release(&r->samples);
    free(order);
    free(order2);
    return rc;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d) return;
    while ((e = readdir(d))) {
        char path[4096];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            (void)unlink(path);
    }
    closedir(d);
    (void)rmdir(dir);
}

/* Runs one engine in a child; its report comes back through a pipe. */
static int run_child(const struct engine *engine, uint64_t n, uint64_t sync_n, const char *base,
                     struct child_report *report)
{
    char dir[4096];
    int fds[2];
    pid_t pid;
    int status = 0;

    snprintf(dir, sizeof(dir), "%s/%s", base, engine->name);
    remove_tree(dir);
    memset(report, 0, sizeof(*report));
    if (pipe(fds) < 0) return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        struct run r = {.engine = engine, .n = n, .dir = dir, .report = report};
        close(fds[0]);
        report->ok = run_engine(&r, sync_n) == 0;
        size_t off = 0;
        while (off < sizeof(*report)) {
            ssize_t w = write(fds[1], (const char *)report + off, sizeof(*report) - off);
            if (w <= 0) _exit(1);
            off += (size_t)w;
        }
        _exit(report->ok ? 0 : 1);
    }
    close(fds[1]);
    size_t off = 0;
    while (off < sizeof(*report)) {
        ssize_t got = read(fds[0], (char *)report + off, sizeof(*report) - off);
        if (got <= 0) break;
        off += (size_t)got;
    }
    close(fds[0]);
    (void)waitpid(pid, &status, 0);
    remove_tree(dir);
    bench_progress("%s", "");
    return off == sizeof(*report) && report->ok ? 0 : -1;
}

static const struct bench_result *find(const struct child_report *rep, const char *name)
{
    for (size_t i = 0; i < rep->count; i++) {
        if (strcmp(rep->results[i].name, name) == 0) return &rep->results[i];
    }
    return NULL;
}

static void print_ratios(const struct child_report *reports, size_t count)
{
    static const char *const ops[] = {"put",    "get_first", "get",      "get_missing",
                                      "update", "delete",    "put_sync", "reopen"};

    printf("\nKausalDB mean / peer mean (below 1.0: KausalDB is faster)\n\n%-12s", "operation");
    for (size_t e = 1; e < count; e++)
        printf(" %12s", engines[e].name);
    printf("\n");
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
        const struct bench_result *k = find(&reports[0], ops[o]);
        printf("%-12s", ops[o]);
        for (size_t e = 1; e < count; e++) {
            const struct bench_result *p = find(&reports[e], ops[o]);
            if (k && p && p->mean_us > 0)
                printf(" %12.3f", k->mean_us / p->mean_us);
            else
                printf(" %12s", "-");
        }
        printf("\n");
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kausal-bench peers [-n N] [--sync-n N] [--dir DIR] [--only NAME] [--json]\n"
            "                          [--verbose]\n"
            "\n"
            "The same workload against KausalDB, LevelDB and RocksDB, each in its own process:\n"
            "random put, reopen, random get, missing-key get, update, delete, durable put.\n"
            "\n"
            "  -n N         keys (default 1000000), 16 random bytes each, 1 KiB values\n"
            "  --sync-n N   durable puts, one sync each (default %d)\n"
            "  --dir DIR    where the databases go (default ./build/bench-peers)\n"
            "  --only NAME  run one engine: kausal, leveldb or rocksdb\n"
            "  --json       one JSON array: an object per operation and engine, and a\n"
            "               \"footprint\" object per engine (rss_mib, rss_file_mib, disk_mib)\n"
            "  --verbose    KausalDB's flushes and compactions on stderr as they finish\n",
            SYNC_PUTS);
}

int bench_peers_main(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"json", no_argument, NULL, 'j'},
        {"sync-n", required_argument, NULL, 's'},
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"only", required_argument, NULL, 'o'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    static struct child_report reports[ENGINE_COUNT];
    static struct bench_report report;
    uint64_t n = 1000000, sync_n = SYNC_PUTS;
    const char *dir = "build/bench-peers";
    const char *only = NULL;
    size_t ran = 0;
    int opt;

    while ((opt = getopt_long(argc, argv, "n:h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            n = strtoull(optarg, NULL, 10);
            break;
        case 's':
            sync_n = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'j':
            report.json = true;
            break;
        case 'o':
            only = optarg;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (n == 0 || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "kausal-bench: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (ENGINE_COUNT < 3)
        fprintf(stderr,
                "kausal-bench: built without %s%s%s: install libleveldb-dev and "
                "librocksdb-dev (make bench does) and rebuild\n",
#ifdef KDB_BENCH_LEVELDB
                "", "",
#else
                "LevelDB", ENGINE_COUNT == 1 ? " and " : "",
#endif
#ifdef KDB_BENCH_ROCKSDB
                "");
#else
                "RocksDB");
#endif
    for (size_t e = 0; e < ENGINE_COUNT; e++) {
        if (only && strcmp(only, engines[e].name) != 0) continue;
        ran++;
        if (run_child(&engines[e], n, sync_n, dir, &reports[e]) < 0) {
            fprintf(stderr, "kausal-bench: %s failed\n", engines[e].name);
            return 1;
        }
        for (size_t i = 0; i < reports[e].count; i++) {
            struct bench_result *res = bench_report_add(&report, &reports[e].results[i]);
            snprintf(res->note, sizeof(res->note), "%s", engines[e].name);
        }
        struct bench_result *f = bench_report_add(&report, &reports[e].footprint);
        snprintf(f->note, sizeof(f->note), "%s: anon %.1f MiB, file %.1f MiB, disk %.1f MiB",
                 engines[e].name, reports[e].fp.rss_mib, reports[e].fp.rss_file_mib,
                 reports[e].fp.disk_mib);
    }
    bench_report_print(&report, "kausal-bench peers: 16-byte keys, 1 KiB values, log on, sync off");
    if (!report.json && !only) print_ratios(reports, ENGINE_COUNT);
    if (ran == 0) {
        fprintf(stderr, "kausal-bench: no engine named '%s' in this build\n", only);
        return 2;
    }
    return 0;
}
