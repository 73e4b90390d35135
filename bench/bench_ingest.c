/* SPDX-License-Identifier: MIT */
/*
 * bench_ingest.c: `kausal-bench ingest DIR`, the ingester and the name
 * queries on a real C tree, against cscope on the same tree in the same run.
 *
 * DIR is copied first (cp -a, into a fresh directory), so that the edit of
 * the incremental pass touches the copy only. Then:
 *
 *   ingest_full       `kausal ingest` of the copy into a new database: wall
 *                     time, files/s, blocks, edges, the process's peak RSS
 *   cscope_build      `cscope -b -q -R` in the copy (its cross-reference)
 *   ingest_edit       one file gets a new function appended, and the
 *                     whole tree is ingested again, as a user would run it
 *                     (EDITS times, each time in the file of the next name
 *                     picked below, so that the files edited are as the
 *                     tree's files come, small and large)
 *   callers_cli       `kausal -d DB callers NAME`, a process each, for names
 *                     of functions that have callers, taken at random
 *   cscope_callers    `cscope -dL3 NAME` for the same names
 *   callers_mount     with the database mounted (kausalfs), a listing of
 *                     sources/<path>/<name>/in/calls, each name once (cold)
 *   callers_cli_mounted  callers_cli again, answered by the mount's daemon
 *
 * Results name the ratio to cscope's where it has one. Needs cscope (make
 * bench installs it) and, for callers_mount, /dev/fuse.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "kdb.h"

#define NAMES_MAX 200

struct config {
    const char *tree;
    const char *dir;
    const char *kausal;
    const char *kausalfs;
    uint64_t names; /* queries of each kind */
    bool json;
};

struct run {
    struct config config;
    char root[4096];
    char copy[4200];
    char db[4200];
    char mnt[4200];
    char *names[NAMES_MAX]; /* NAME */
    char *paths[NAMES_MAX]; /* the defining file's path, for sources/ */
    size_t name_count;
    bool mounted;
    struct bench_report report;
};

static struct run *mounted_run;

static double since_us(uint64_t start)
{
    return (double)(bench_now_ns() - start) / 1e3;
}

#define EDITS 9 /* edits of one file, each ingested */

static void add_single(struct run *run, const char *name, double us, const char *note,
                       const char *extra)
{
    struct bench_result r;

    memset(&r, 0, sizeof(r));
    snprintf(r.name, sizeof(r.name), "%s", name);
    r.n = 1;
    r.mean_us = r.p50_us = r.p99_us = r.p999_us = r.max_us = us;
    r.ops_per_s = us > 0 ? 1e6 / us : 0;
    snprintf(r.note, sizeof(r.note), "%s", note);
    snprintf(r.extra, sizeof(r.extra), "%s", extra);
    bench_report_add(&run->report, &r);
}

/* The summary kausal ingest --json printed: one number of it. */
static double json_number(const char *text, const char *key)
{
    char pattern[64];
    const char *at;

    snprintf(pattern, sizeof(pattern), "\"%s\":", key);
    at = strstr(text, pattern);
    return at ? strtod(at + strlen(pattern), NULL) : -1;
}

static void ingest(struct run *run, const char *what, double *us, char *summary, size_t size,
                   long *rss)
{
    const char *argv[] = {run->config.kausal, "ingest",  run->db, run->copy,
                          "--json",           "--quiet", NULL};
    FILE *out = tmpfile();
    uint64_t start;
    size_t n;

    if (!out) bench_die("tmpfile", -errno);
    start = bench_now_ns();
    if (bench_spawn(argv, NULL, out, true, rss) != 0) bench_die(what, -EIO);
    *us = since_us(start);
    rewind(out);
    n = fread(summary, 1, size - 1, out);
    summary[n] = '\0';
    fclose(out);
}

/* A function of the tree, with how many call it. */
struct candidate {
    char *name;
    char *path;
    size_t callers;
};

struct collect {
    struct kdb *db;
    struct kdb_result *r;
    struct candidate *items;
    size_t count, capacity;
};

/* The value of "key" in metadata when it is a plain string. */
static char *meta_string(const struct kdb_block *b, const char *key)
{
    char pattern[64];
    const char *at, *end, *stop = b->metadata + b->metadata_len;

    snprintf(pattern, sizeof(pattern), "\"%s\":\"", key);
    at = memmem(b->metadata, b->metadata_len, pattern, strlen(pattern));
    if (!at) return NULL;
    at += strlen(pattern);
    end = memchr(at, '"', (size_t)(stop - at));
    return end ? strndup(at, (size_t)(end - at)) : NULL;
}

static int collect_function(void *ctx, const struct kdb_block *b)
{
    struct collect *c = ctx;
    char *kind = meta_string(b, "kind");
    bool function = kind && strcmp(kind, "function") == 0;

    free(kind);
    if (!function) return 0;
    if (c->count == c->capacity) {
        size_t want = c->capacity ? c->capacity * 2 : 1024;
        struct candidate *more = realloc(c->items, want * sizeof(*more));
        if (!more) return -ENOMEM;
        c->items = more;
        c->capacity = want;
    }
    c->items[c->count].name = meta_string(b, "name");
    c->items[c->count].path = strndup(b->source_uri, b->source_uri_len);
    c->items[c->count].callers = 0;
    if (!c->items[c->count].name || !c->items[c->count].path) return -ENOMEM;
    if (kdb_edges(c->db, &b->id, KDB_DIRECTION_IN, UINT32_C(1) << KDB_EDGE_CALLS, c->r) == 0)
        c->items[c->count].callers = c->r->count;
    c->count++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct candidate *)a)->name, ((const struct candidate *)b)->name);
}

/* Names of functions that have callers and no namesake, picked at random (a fixed seed). */
static void pick_names(struct run *run)
{
    struct kdb_options options;
    struct collect c = {0};
    size_t unique = 0;
    uint64_t rng = 7;
    int rc;

    kdb_options_init(&options);
    rc = kdb_open(run->db, &options, &c.db);
    if (rc == 0) rc = kdb_result_new(c.db, &c.r);
    if (rc == 0) rc = kdb_scan_blocks(c.db, collect_function, &c);
    kdb_result_free(c.r);
    if (c.db) (void)kdb_close(c.db);
    if (rc < 0) bench_die("reading the ingested functions", rc);
    if (c.count) qsort(c.items, c.count, sizeof(*c.items), by_name);
    for (size_t i = 0; i < c.count; i++) {
        bool alone = (i == 0 || strcmp(c.items[i - 1].name, c.items[i].name) != 0) &&
                     (i + 1 == c.count || strcmp(c.items[i + 1].name, c.items[i].name) != 0);
        if (alone && c.items[i].callers > 0)
            c.items[unique++] = c.items[i];
        else {
            free(c.items[i].name);
            free(c.items[i].path);
        }
    }
    while (run->name_count < run->config.names && unique > 0) {
        size_t at = bench_splitmix(&rng) % unique;
        run->names[run->name_count] = c.items[at].name;
        run->paths[run->name_count] = c.items[at].path;
        run->name_count++;
        c.items[at] = c.items[--unique];
    }
    for (size_t i = 0; i < unique; i++) {
        free(c.items[i].name);
        free(c.items[i].path);
    }
    free(c.items);
    if (run->name_count == 0) bench_die("no function with callers in the tree", -ENOENT);
}

/* Each name queried by a process: argv with NAME last (argv[slot]), in dir. */
static void time_processes(struct run *run, const char *name, const char **argv, int slot,
                           const char *dir, struct bench_result *result)
{
    struct bench_samples samples;

    bench_samples_init(&samples, run->name_count);
    for (size_t i = 0; i < run->name_count; i++) {
        uint64_t start = bench_now_ns();
        argv[slot] = run->names[i];
        if (bench_spawn(argv, dir, NULL, true, NULL) < 0) bench_die(name, -EIO);
        bench_samples_add(&samples, bench_now_ns() - start);
    }
    bench_result_from(result, name, &samples, 0);
    bench_samples_release(&samples);
}

static void mount_db(struct run *run)
{
    const char *argv[] = {run->config.kausalfs, run->db, run->mnt, NULL};

    if (mkdir(run->mnt, 0755) < 0) bench_die(run->mnt, -errno);
    if (bench_spawn(argv, NULL, NULL, false, NULL) != 0) bench_die("kausalfs did not mount", -EIO);
    run->mounted = true;
}

static void unmount_db(struct run *run)
{
    const char *argv[] = {"fusermount3", "-u", run->mnt, NULL};
    const char *lazy[] = {"fusermount3", "-u", "-z", run->mnt, NULL};

    if (!run->mounted) return;
    run->mounted = false;
    if (bench_spawn(argv, NULL, NULL, true, NULL) != 0)
        (void)bench_spawn(lazy, NULL, NULL, true, NULL);
}

static void unmount_at_exit(void)
{
    if (mounted_run) unmount_db(mounted_run);
}

/* Listing sources/<path>/<name>/in/calls through the mount, each name once. */
static void callers_mount(struct run *run, struct bench_result *result)
{
    struct bench_samples samples;

    bench_samples_init(&samples, run->name_count);
    for (size_t i = 0; i < run->name_count; i++) {
        char path[8192];
        uint64_t start;
        DIR *d;
        snprintf(path, sizeof(path), "%s/sources/%s/%s/in/calls", run->mnt, run->paths[i],
                 run->names[i]);
        start = bench_now_ns();
        d = opendir(path);
        if (!d) bench_die(path, -errno);
        while (readdir(d))
            ;
        closedir(d);
        bench_samples_add(&samples, bench_now_ns() - start);
    }
    bench_result_from(result, "callers_mount", &samples, 0);
    bench_samples_release(&samples);
}

/*
 * Edit k, of the file of name k (mod the names picked): a new function
 * appended (so that the names the tree defines change, and every file that
 * may call it is checked). It is dated 10 s back, as an edit a while
 * before the ingest is: a file changed in the 2 s before an ingest is read
 * again by the next one (kausal(1)), which edits seconds apart would make
 * every edit so far.
 */
static void edit_one_file(struct run *run, unsigned k, char *edited, size_t size)
{
    struct timespec times[2] = {{0, UTIME_OMIT}, {0, 0}};
    FILE *p;

    snprintf(edited, size, "%s/%s", run->copy, run->paths[k % run->name_count]);
    p = fopen(edited, "a");
    if (!p || fprintf(p, "/* an edit */\nint kausal_bench_edit_%u(void) { return 0; }\n", k) < 0)
        bench_die(edited, -errno);
    if (fclose(p) != 0) bench_die(edited, -errno);
    clock_gettime(CLOCK_REALTIME, &times[1]);
    times[1].tv_sec -= 10;
    if (utimensat(AT_FDCWD, edited, times, 0) < 0) bench_die(edited, -errno);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kausal-bench ingest DIR [--names K] [--dir DIR] [--kausal PATH]\n"
            "                       [--kausalfs PATH] [--json]\n"
            "\n"
            "Ingests a copy of the C tree DIR and queries callers by name, against cscope on\n"
            "the same copy in the same run: ingest_full, cscope_build, ingest_edit (one file\n"
            "edited, ingested again), callers_cli and cscope_callers (a process a query),\n"
            "callers_mount (a listing of sources/<path>/<name>/in/calls).\n"
            "\n"
            "  --names K        names queried (default 50, at most %d)\n"
            "  --dir DIR        where the copy and the database go (default $TMPDIR or /tmp)\n"
            "  --kausal PATH    the kausal program (default: beside this one)\n"
            "  --kausalfs PATH  the kausalfs program (default: beside this one)\n"
            "  --json           one JSON array\n",
            NAMES_MAX);
}

static int parse(int argc, char **argv, struct config *config)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"names", required_argument, NULL, 'n'},
        {"dir", required_argument, NULL, 'd'},
        {"kausal", required_argument, NULL, 'k'},
        {"kausalfs", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *tmp = getenv("TMPDIR");
    int c;

    *config = (struct config){.dir = tmp && *tmp ? tmp : "/tmp", .names = 50};
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'j':
            config->json = true;
            break;
        case 'n':
            config->names = strtoull(optarg, &end, 10);
            break;
        case 'd':
            config->dir = optarg;
            break;
        case 'k':
            config->kausal = optarg;
            break;
        case 'f':
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
    if (optind + 1 != argc || config->names < 1 || config->names > NAMES_MAX) {
        usage(stderr);
        return 2;
    }
    config->tree = argv[optind];
    return 0;
}

int bench_ingest_main(int argc, char **argv)
{
    struct run *run = calloc(1, sizeof(*run));
    struct bench_result cli, cscope, mount;
    char summary[2048], extra[384], note[96], edited[8192];
    double full_us, edit_us, build_us;
    long rss = 0, edit_rss = 0;
    uint64_t start;
    int rc;

    if (!run) bench_die("memory", -ENOMEM);
    rc = parse(argc, argv, &run->config);
    if (rc) return rc;
    run->report.json = run->config.json;
    run->config.kausal = bench_beside(run->config.kausal, "kausal");
    run->config.kausalfs = bench_beside(run->config.kausalfs, "kausalfs");
    snprintf(run->root, sizeof(run->root), "%s/kausal-bench-ingest.XXXXXX", run->config.dir);
    if (!mkdtemp(run->root)) bench_die(run->root, -errno);
    snprintf(run->copy, sizeof(run->copy), "%s/tree", run->root);
    snprintf(run->db, sizeof(run->db), "%s/db", run->root);
    snprintf(run->mnt, sizeof(run->mnt), "%s/mnt", run->root);
    {
        const char *cp[] = {"cp", "-a", run->config.tree, run->copy, NULL};
        const char *init[] = {run->config.kausal, "-d", run->db, "init", NULL};
        bench_progress("ingest: copying %s", run->config.tree);
        if (bench_spawn(cp, NULL, NULL, true, NULL) != 0) bench_die("cp -a", -EIO);
        if (bench_spawn(init, NULL, NULL, true, NULL) != 0) bench_die("kausal init", -EIO);
    }
    mounted_run = run;
    if (atexit(unmount_at_exit) != 0) bench_die("atexit", -ENOMEM);

    bench_progress("ingest: kausal ingest");
    ingest(run, "kausal ingest", &full_us, summary, sizeof(summary), &rss);
    bench_progress("ingest: cscope -b -q -R");
    {
        const char *argv_cscope[] = {"cscope", "-b", "-q", "-R", NULL};
        start = bench_now_ns();
        if (bench_spawn(argv_cscope, run->copy, NULL, true, NULL) != 0)
            bench_die("cscope -b -q -R", -EIO);
        build_us = since_us(start);
    }
    snprintf(extra, sizeof(extra),
             ", \"files\": %.0f, \"files_per_s\": %.0f, \"blocks\": %.0f, \"edges\": %.0f, "
             "\"rss_mib\": %.1f, \"cscope_build_us\": %.0f, \"ratio\": %.3f",
             json_number(summary, "files"), json_number(summary, "files") / (full_us / 1e6),
             json_number(summary, "blocks"), json_number(summary, "edges"), (double)rss / 1024.0,
             build_us, full_us / build_us);
    snprintf(note, sizeof(note), "%.0f blocks, %.0f edges, %.0f MiB; %.2fx cscope -b",
             json_number(summary, "blocks"), json_number(summary, "edges"), (double)rss / 1024.0,
             full_us / build_us);
    add_single(run, "ingest_full", full_us, note, extra);
    add_single(run, "cscope_build", build_us, "cscope -b -q -R", "");

    pick_names(run);
    {
        struct bench_samples samples;
        struct bench_result result;
        bench_samples_init(&samples, EDITS);
        for (unsigned k = 0; k < EDITS; k++) {
            edit_one_file(run, k, edited, sizeof(edited));
            ingest(run, "kausal ingest (after an edit)", &edit_us, summary, sizeof(summary),
                   &edit_rss);
            bench_samples_add(&samples, (uint64_t)(edit_us * 1000.0));
        }
        bench_result_from(&result, "ingest_edit", &samples, 0);
        bench_samples_release(&samples);
        snprintf(result.extra, sizeof(result.extra),
                 ", \"blocks_written\": %.0f, \"files_read\": %.0f, \"files_edited\": %u, "
                 "\"edited_first\": \"%s\"",
                 json_number(summary, "blocks_written"), json_number(summary, "files_read"),
                 run->name_count < EDITS ? (unsigned)run->name_count : EDITS, run->paths[0]);
        snprintf(result.note, sizeof(result.note),
                 "%u files, one edit each; the last: %.0f read, %.0f blocks written",
                 run->name_count < EDITS ? (unsigned)run->name_count : EDITS,
                 json_number(summary, "files_read"), json_number(summary, "blocks_written"));
        bench_report_add(&run->report, &result);
    }

    {
        const char *argv_cli[] = {run->config.kausal, "-d", run->db, "callers", NULL, NULL};
        const char *argv_cscope[] = {"cscope", "-dL3", NULL, NULL};
        bench_progress("ingest: callers");
        time_processes(run, "callers_cli", argv_cli, 4, NULL, &cli);
        time_processes(run, "cscope_callers", argv_cscope, 2, run->copy, &cscope);
        snprintf(cli.extra, sizeof(cli.extra), ", \"cscope_mean_us\": %.1f, \"ratio\": %.3f",
                 cscope.mean_us, cli.mean_us / cscope.mean_us);
        snprintf(cli.note, sizeof(cli.note), "cscope -dL3 %.0f us, %.2fx", cscope.mean_us,
                 cli.mean_us / cscope.mean_us);
        bench_report_add(&run->report, &cli);
        bench_report_add(&run->report, &cscope);
    }
    if (access("/dev/fuse", R_OK | W_OK) == 0) {
        struct bench_result served;
        const char *argv_cli[] = {run->config.kausal, "-d", run->db, "callers", NULL, NULL};
        mount_db(run);
        callers_mount(run, &mount);
        snprintf(mount.note, sizeof(mount.note), "ls sources/<path>/<name>/in/calls, cold");
        bench_report_add(&run->report, &mount);
        /* The same command, answered by the mount's daemon. */
        time_processes(run, "callers_cli_mounted", argv_cli, 4, NULL, &served);
        snprintf(served.extra, sizeof(served.extra), ", \"cscope_mean_us\": %.1f, \"ratio\": %.3f",
                 cscope.mean_us, served.mean_us / cscope.mean_us);
        snprintf(served.note, sizeof(served.note), "through the daemon; cscope %.0f us, %.2fx",
                 cscope.mean_us, served.mean_us / cscope.mean_us);
        bench_report_add(&run->report, &served);
        unmount_db(run);
    }
    mounted_run = NULL;
    bench_progress("%s", "");
    bench_report_print(&run->report, "kausal ingest and name queries, against cscope");
    {
        /* The daemon may still hold the database for a moment after the unmount. */
        usleep(200000);
        if (bench_remove_tree(run->root) < 0)
            fprintf(stderr, "kausal-bench: removing %s: %s\n", run->root, strerror(errno));
    }
    for (size_t i = 0; i < run->name_count; i++) {
        free(run->names[i]);
        free(run->paths[i]);
    }
    free((void *)(uintptr_t)run->config.kausal);
    free((void *)(uintptr_t)run->config.kausalfs);
    free(run);
    return 0;
}
