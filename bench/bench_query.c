/* SPDX-License-Identifier: MIT */
/*
 * bench_query.c: `kausal-bench query`, graph queries on a generated
 * code-like graph, on the real file system through the POSIX VFS.
 *
 * The graph (fixed seed): N blocks of code-like text (about 300 bytes,
 * with metadata as the ingester writes it) under random ids, and from each
 * block 0 to 10 out-edges (5 on average), mostly calls, to targets drawn
 * with a power law over a shuffled order of the blocks, so that in-degree
 * is skewed as in code (a few functions everyone calls, most called once
 * or never). It is written, flushed to a table and reopened, so that reads
 * come from a table and the edge index is the one open builds; then every
 * block is read once (page cache warm, checksums checked, as in a database
 * that has been serving for a while).
 *
 * Each operation runs from start ids taken in a fresh random order, each
 * start used once, so that no cache measures itself: out_edges and
 * in_edges (kdb_edges()), hop1, hop2 and hop3 (kdb_traverse() following
 * out-edges to that depth), calls_hop3 (the same along calls edges only, to
 * depth 3), batch_get_10 (kdb_get_blocks() of 10 random ids), get
 * (kdb_get_block_view() of one). Every result also gives
 * visited_mean: edges listed, nodes reached, or blocks found, per
 * operation.
 *
 * With --db, the same queries run on a database that is there already (an
 * ingested tree): its blocks are scanned once for their ids (which warms
 * it as above), and it is not changed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "kdb.h"

#define DEGREE_MAX 10 /* out-edges of a block: 0..DEGREE_MAX, uniformly: 5 on average */
#define BATCH      10

struct config {
    uint64_t n;          /* blocks */
    uint64_t iterations; /* operations of each kind */
    const char *dir;     /* a fresh directory is made inside it */
    const char *db;      /* or a database that is there already */
    bool json;
};

struct graph_run {
    struct config config;
    char root[4096];
    struct kdb *db;
    struct kdb_result *r;
    struct kdb_id *ids;
    double build_s;
    double reopen_ms;
    struct bench_report report;
};

/* A uniform double in [0, 1). */
static double unit(uint64_t *rng)
{
    return (double)(bench_splitmix(rng) >> 11) / 9007199254740992.0;
}

/* 0..n-1 in a random order. */
static uint64_t *shuffled(uint64_t n, uint64_t *rng)
{
    uint64_t *order = malloc(n * sizeof(*order));

    if (!order) bench_die("memory", -ENOMEM);
    for (uint64_t i = 0; i < n; i++)
        order[i] = i;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = bench_splitmix(rng) % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    return order;
}

static void open_db(struct graph_run *run, unsigned flags)
{
    struct kdb_options options;
    int rc;

    kdb_options_init(&options);
    options.flags = flags;
    rc = kdb_open(run->config.db ? run->config.db : run->root, &options, &run->db);
    if (rc < 0) bench_die(run->config.db ? run->config.db : run->root, rc);
    rc = kdb_result_new(run->db, &run->r);
    if (rc < 0) bench_die("kdb_result_new", rc);
}

static void close_db(struct graph_run *run)
{
    kdb_result_free(run->r);
    run->r = NULL;
    int rc = kdb_close(run->db);
    if (rc < 0) bench_die("kdb_close", rc);
    run->db = NULL;
}

static unsigned edge_type(uint64_t r)
{
    switch (r % 10) {
    case 0:
        return KDB_EDGE_REFERENCES;
    case 1:
        return KDB_EDGE_DEPENDS_ON;
    case 2:
        return KDB_EDGE_CALLS_FUNCTION;
    default:
        return KDB_EDGE_CALLS;
    }
}

static void build(struct graph_run *run)
{
    uint64_t n = run->config.n, rng = 20261126;
    uint64_t *rank = shuffled(n, &rng); /* rank[k]: the k-th most called block */
    uint64_t start = bench_now_ns();
    char content[512], meta[256], uri[64];
    int rc;

    run->ids = malloc(n * sizeof(*run->ids));
    if (!run->ids) bench_die("memory", -ENOMEM);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t a = bench_splitmix(&rng), b = bench_splitmix(&rng);
        memcpy(run->ids[i].bytes, &a, 8);
        memcpy(run->ids[i].bytes + 8, &b, 8);
    }
    open_db(run, KDB_OPEN_CREATE);
    for (uint64_t i = 0; i < n; i++) {
        int len = snprintf(content, sizeof(content),
                           "static int fn_%llu(struct state *s, int flags)\n{\n"
                           "    if (!s || s->depth > %llu) return -EINVAL;\n"
                           "    for (int i = 0; i < s->count; i++) s->items[i] ^= flags;\n"
                           "    return fn_%llu(s, flags + 1) + fn_%llu(s, flags - 1);\n}\n",
                           (unsigned long long)i, (unsigned long long)(i % 97),
                           (unsigned long long)((i * 31) % n), (unsigned long long)((i * 17) % n));
        int mlen = snprintf(meta, sizeof(meta),
                            "{\"kind\":\"function\",\"name\":\"fn_%llu\",\"lang\":\"c\","
                            "\"line_start\":%llu,\"line_end\":%llu}",
                            (unsigned long long)i, (unsigned long long)(i % 5000),
                            (unsigned long long)(i % 5000 + 7));
        int ulen = snprintf(uri, sizeof(uri), "src/module_%llu.c", (unsigned long long)(i / 40));
        struct kdb_block block = {.id = run->ids[i],
                                  .source_uri = uri,
                                  .source_uri_len = (size_t)ulen,
                                  .metadata = meta,
                                  .metadata_len = (size_t)mlen,
                                  .content = content,
                                  .content_len = (size_t)len};
        rc = kdb_put_block(run->db, &block, NULL);
        if (rc < 0) bench_die("kdb_put_block", rc);
        if (i % 20000 == 0)
            bench_progress("query: blocks %llu/%llu\r", (unsigned long long)i,
                           (unsigned long long)n);
    }
    for (uint64_t i = 0; i < n; i++) {
        unsigned degree = (unsigned)(bench_splitmix(&rng) % (DEGREE_MAX + 1));
        for (unsigned d = 0; d < degree; d++) {
            /* A power law: most calls go to a few blocks. */
            double u = unit(&rng);
            uint64_t target = rank[(uint64_t)((double)n * u * u * u)];
            struct kdb_edge edge = {.source = run->ids[i],
                                    .target = run->ids[target],
                                    .type = edge_type(bench_splitmix(&rng))};
            if (target == i) continue;
            rc = kdb_put_edge(run->db, &edge); /* a repeat is a no-op */
            if (rc < 0) bench_die("kdb_put_edge", rc);
        }
        if (i % 20000 == 0)
            bench_progress("query: edges of %llu/%llu blocks\r", (unsigned long long)i,
                           (unsigned long long)n);
    }
    rc = kdb_sync(run->db);
    if (rc < 0) bench_die("kdb_sync", rc);
    close_db(run); /* flushes: the blocks and edges are in a table */
    run->build_s = (double)(bench_now_ns() - start) / 1e9;
    start = bench_now_ns();
    open_db(run, 0);
    run->reopen_ms = (double)(bench_now_ns() - start) / 1e6;
    free(rank);
}

static int touch(void *ctx, const struct kdb_block *block)
{
    *(uint64_t *)ctx += block->content_len;
    return 0;
}

/*
 * Reads every block once: the table's pages come into the page cache and
 * the mapping, and each record's checksum is checked (once per handle), as
 * in a database that has been serving reads for a while.
 */
static void warm(struct graph_run *run)
{
    uint64_t bytes = 0;
    int rc = kdb_scan_blocks(run->db, touch, &bytes);

    if (rc < 0) bench_die("kdb_scan_blocks", rc);
}

/* Keeps each block's id: the starts of the queries on a database given with --db. */
struct id_list {
    struct kdb_id *ids;
    uint64_t count, capacity;
};

static int keep_id(void *ctx, const struct kdb_block *block)
{
    struct id_list *list = ctx;

    if (list->count == list->capacity) {
        uint64_t want = list->capacity ? list->capacity * 2 : 1 << 16;
        struct kdb_id *more = realloc(list->ids, want * sizeof(*more));
        if (!more) return -ENOMEM;
        list->ids = more;
        list->capacity = want;
    }
    list->ids[list->count++] = block->id;
    return 0;
}

/* Opens the database of --db and takes its blocks' ids (a scan, which warms it too). */
static void open_given(struct graph_run *run)
{
    struct id_list list = {NULL, 0, 0};
    uint64_t start = bench_now_ns();
    int rc;

    open_db(run, KDB_OPEN_LOCAL | KDB_OPEN_KEEP_LOG);
    run->reopen_ms = (double)(bench_now_ns() - start) / 1e6;
    start = bench_now_ns();
    rc = kdb_scan_blocks(run->db, keep_id, &list);
    if (rc < 0) bench_die("kdb_scan_blocks", rc);
    if (list.count < 100) bench_die("fewer than 100 blocks in the database", 0);
    run->build_s = (double)(bench_now_ns() - start) / 1e9; /* here: the scan */
    run->ids = list.ids;
    run->config.n = list.count;
    if (run->config.iterations > run->config.n) run->config.iterations = run->config.n;
}

enum query_kind { Q_OUT, Q_IN, Q_HOP1, Q_HOP2, Q_HOP3, Q_CALLS3, Q_BATCH, Q_GET, Q_COUNT };

static const char *const query_names[Q_COUNT] = {"out_edges", "in_edges",   "hop1",         "hop2",
                                                 "hop3",      "calls_hop3", "batch_get_10", "get"};

/* Runs one query from start; returns what it visited. */
static size_t query(struct graph_run *run, enum query_kind kind, uint64_t start, uint64_t *rng)
{
    const struct kdb_id *id = &run->ids[start];
    struct kdb_walk walk = {.direction = KDB_DIRECTION_OUT};
    struct kdb_id batch[BATCH];
    struct kdb_block block;
    size_t found = 0;
    int rc;

    switch (kind) {
    case Q_OUT:
    case Q_IN:
        rc =
            kdb_edges(run->db, id, kind == Q_OUT ? KDB_DIRECTION_OUT : KDB_DIRECTION_IN, 0, run->r);
        if (rc < 0) bench_die("kdb_edges", rc);
        return run->r->count;
    case Q_HOP1:
    case Q_HOP2:
    case Q_HOP3:
        walk.max_depth = (uint32_t)(kind - Q_HOP1 + 1);
        rc = kdb_traverse(run->db, id, &walk, run->r);
        if (rc < 0) bench_die("kdb_traverse", rc);
        return run->r->count;
    case Q_CALLS3: /* what a function calls, to depth 3 */
        walk.max_depth = 3;
        walk.type_mask = UINT32_C(1) << KDB_EDGE_CALLS;
        rc = kdb_traverse(run->db, id, &walk, run->r);
        if (rc < 0) bench_die("kdb_traverse", rc);
        return run->r->count;
    case Q_BATCH:
        batch[0] = *id;
        for (unsigned i = 1; i < BATCH; i++)
            batch[i] = run->ids[bench_splitmix(rng) % run->config.n];
        rc = kdb_get_blocks(run->db, batch, BATCH, run->r);
        if (rc < 0) bench_die("kdb_get_blocks", rc);
        for (size_t i = 0; i < run->r->count; i++)
            found += run->r->blocks[i].version != 0;
        return found;
    case Q_GET:
        rc = kdb_get_block_view(run->db, id, &block);
        if (rc < 0) bench_die("kdb_get_block_view", rc);
        return 1;
    default:
        return 0;
    }
}

static void measure(struct graph_run *run)
{
    uint64_t rng = 77, iterations = run->config.iterations;
    struct bench_samples samples;

    bench_samples_init(&samples, iterations);
    for (int kind = 0; kind < Q_COUNT; kind++) {
        uint64_t *order = shuffled(run->config.n, &rng);
        uint64_t visited = 0, last = bench_now_ns();
        struct bench_result result;

        samples.count = 0;
        for (uint64_t i = 0; i < iterations; i++) {
            uint64_t now;
            visited += query(run, (enum query_kind)kind, order[i], &rng);
            now = bench_now_ns();
            bench_samples_add(&samples, now - last);
            last = now;
        }
        bench_result_from(&result, query_names[kind], &samples, 0);
        snprintf(result.extra, sizeof(result.extra), ", \"visited_mean\": %.2f",
                 (double)visited / (double)iterations);
        snprintf(result.note, sizeof(result.note), "%.1f visited",
                 (double)visited / (double)iterations);
        bench_report_add(&run->report, &result);
        free(order);
    }
    bench_samples_release(&samples);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: kausal-bench query [-n N] [--iterations K] [--dir DIR | --db DB] "
                 "[--json]\n"
                 "\n"
                 "Graph queries on a generated code-like graph: N blocks, 5 out-edges a block on\n"
                 "average, power-law in-degree; written, flushed and reopened first.\n"
                 "\n"
                 "  -n N            blocks (default 100000, at least 100)\n"
                 "  --iterations K  operations of each kind, each from another start\n"
                 "                  (default 20000, at most N)\n"
                 "  --dir DIR       where the database goes (default $TMPDIR or /tmp)\n"
                 "  --db DB         query the database in DB instead (an ingested tree; not\n"
                 "                  changed, not mounted): starts drawn from all its blocks\n"
                 "  --json          one JSON array: out_edges, in_edges, hop1, hop2, hop3,\n"
                 "                  calls_hop3, batch_get_10, get, each with visited_mean\n");
}

static int parse(int argc, char **argv, struct config *config)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},      {"iterations", required_argument, NULL, 'i'},
        {"dir", required_argument, NULL, 'd'}, {"db", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    const char *tmp = getenv("TMPDIR");
    int c;

    *config = (struct config){.n = 100000, .iterations = 20000, .dir = tmp && *tmp ? tmp : "/tmp"};
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
        case 'D':
            config->db = optarg;
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
    if (optind != argc || config->n < 100 || config->iterations < 1) {
        usage(stderr);
        return 2;
    }
    if (config->iterations > config->n) config->iterations = config->n;
    return 0;
}

int bench_query_main(int argc, char **argv)
{
    struct graph_run *run = calloc(1, sizeof(*run));
    struct kdb_stats stats;
    char title[4600];
    int rc;

    if (!run) bench_die("memory", -ENOMEM);
    rc = parse(argc, argv, &run->config);
    if (rc) return rc;
    run->report.json = run->config.json;
    if (run->config.db) {
        open_given(run);
    } else {
        snprintf(run->root, sizeof(run->root), "%s/kausal-bench.XXXXXX", run->config.dir);
        if (!mkdtemp(run->root)) bench_die(run->root, 0);
        build(run);
        warm(run);
    }
    measure(run);
    kdb_get_stats(run->db, &stats);
    if (run->config.db) {
        snprintf(title, sizeof(title),
                 "kausal-bench query: %llu blocks, %llu edges in %s (opened in %.1f ms, "
                 "scanned in %.1f s; edge index %.1f MiB after), %llu queries each",
                 (unsigned long long)run->config.n, (unsigned long long)stats.edge_count,
                 run->config.db, run->reopen_ms, run->build_s,
                 (double)stats.graph_bytes / 1048576.0, (unsigned long long)run->config.iterations);
    } else {
        snprintf(title, sizeof(title),
                 "kausal-bench query: %llu blocks, %llu edges (built in %.1f s; reopened with its "
                 "edge index in %.1f ms, %.1f MiB), %llu queries each, in %s",
                 (unsigned long long)run->config.n, (unsigned long long)stats.edge_count,
                 run->build_s, run->reopen_ms, (double)stats.graph_bytes / 1048576.0,
                 (unsigned long long)run->config.iterations, run->config.dir);
    }
    bench_report_print(&run->report, title);
    close_db(run);
    if (!run->config.db && bench_remove_tree(run->root) < 0)
        fprintf(stderr, "kausal-bench: could not remove %s\n", run->root);
    free(run->ids);
    free(run);
    return 0;
}
