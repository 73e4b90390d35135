/* SPDX-License-Identifier: MIT */
/*
 * bench_check.c: `kausal-bench check`, the regression gate.
 *
 * Compares the means of a benchmark run (the JSON array a benchmark prints
 * with --json) against bench/baseline.json, and fails when an operation is
 * more than 15% slower than its baseline times the tier's multiplier. The
 * tier says where the run happens, as in the reference design:
 *
 *   production  KAUSALDB_BENCHMARK_MODE=production   latency 1x   memory 1x
 *   ci          CI=true (or GITHUB_ACTIONS, GITLAB_CI) latency 20x  memory 5x
 *   parallel    KAUSALDB_PARALLEL_TESTS=true          latency 4x   memory 3x
 *   local       otherwise                             latency 5x   memory 2x
 *
 * so that a gross regression fails anywhere and noise fails nowhere but on
 * the machine the baseline came from.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#if defined(KDB_BENCH_JANSSON)
#include <jansson.h>

#define REGRESSION_MARGIN 1.15

struct tier {
    const char *name;
    double latency;
    double memory;
};

static int env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static struct tier detect_tier(const char *forced)
{
    static const struct tier tiers[] = {
        {"production", 1.0, 1.0},
        {"ci", 20.0, 5.0},
        {"parallel", 4.0, 3.0},
        {"local", 5.0, 2.0},
    };
    const char *mode = getenv("KAUSALDB_BENCHMARK_MODE");

    if (forced) {
        for (size_t i = 0; i < sizeof(tiers) / sizeof(tiers[0]); i++) {
            if (strcmp(forced, tiers[i].name) == 0) return tiers[i];
        }
        return (struct tier){NULL, 0, 0};
    }
    if (mode && strcmp(mode, "production") == 0) return tiers[0];
    if (env_true("CI") || getenv("GITHUB_ACTIONS") || getenv("GITLAB_CI")) return tiers[1];
    if (env_true("KAUSALDB_PARALLEL_TESTS")) return tiers[2];
    return tiers[3];
}

static json_t *load(const char *path)
{
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);

    if (!root) fprintf(stderr, "kausal-bench check: %s:%d: %s\n", path, error.line, error.text);
    return root;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kausal-bench check [--baseline FILE] [--tier TIER] BENCH RUN.json\n"
            "\n"
            "Compares RUN.json, the output of `kausal-bench BENCH --json`, with the\n"
            "baseline's entry for BENCH (storage, peers or query; for peers, the kausal\n"
            "engine).\n"
            "An operation fails when its mean exceeds baseline x tier multiplier x 1.15.\n"
            "\n"
            "  --baseline FILE  default bench/baseline.json\n"
            "  --tier TIER      production, ci, parallel or local; default: from the\n"
            "                   environment (KAUSALDB_BENCHMARK_MODE=production, CI=true,\n"
            "                   KAUSALDB_PARALLEL_TESTS=true, else local)\n"
            "\n"
            "Exit status: 0 no regression, 1 a regression or a missing operation, 2 bad usage.\n");
}

/* The run's object for name (and, if engine is set, that engine), or NULL. */
static json_t *find_result(json_t *run, const char *name, const char *engine)
{
    size_t i;
    json_t *item;

    json_array_foreach(run, i, item)
    {
        const char *n = json_string_value(json_object_get(item, "name"));
        const char *e = json_string_value(json_object_get(item, "engine"));
        if (n && strcmp(n, name) == 0 && (!engine || (e && strcmp(e, engine) == 0))) return item;
    }
    return NULL;
}

int bench_check_main(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"baseline", required_argument, NULL, 'b'},
        {"tier", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *baseline_path = "bench/baseline.json", *forced = NULL;
    json_t *baseline, *run, *targets, *value;
    const char *bench, *op;
    struct tier tier;
    int opt, failures = 0;

    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'b':
            baseline_path = optarg;
            break;
        case 't':
            forced = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    tier = detect_tier(forced);
    if (!tier.name) {
        fprintf(stderr, "kausal-bench check: unknown tier '%s'\n", forced);
        return 2;
    }
    bench = argv[optind];
    baseline = load(baseline_path);
    run = load(argv[optind + 1]);
    if (!baseline || !run || !json_is_array(run)) {
        if (run && !json_is_array(run))
            fprintf(stderr, "kausal-bench check: %s is not a JSON array\n", argv[optind + 1]);
        json_decref(baseline);
        json_decref(run);
        return 1;
    }
    targets = json_object_get(json_object_get(baseline, "benchmarks"), bench);
    if (!json_is_object(targets)) {
        fprintf(stderr, "kausal-bench check: %s has no baseline for '%s'\n", baseline_path, bench);
        json_decref(baseline);
        json_decref(run);
        return 2;
    }
    printf(
        "kausal-bench check: %s against %s, tier %s (latency x%.0f, memory x%.0f, then +15%%)\n\n",
        bench, baseline_path, tier.name, tier.latency, tier.memory);
    printf("%-26s %12s %12s %12s %8s  %s\n", "operation", "baseline", "limit", "measured", "ratio",
           "");
    json_object_foreach(targets, op, value)
    {
        const char *engine = strcmp(bench, "peers") == 0 ? "kausal" : NULL;
        bool memory = strcmp(op, "rss_mib") == 0;
        json_t *result = find_result(run, memory ? "footprint" : op, engine);
        double base = json_number_value(value);
        double limit = base * (memory ? tier.memory : tier.latency) * REGRESSION_MARGIN;
        json_t *measured_json =
            result ? json_object_get(result, memory ? "rss_mib" : "mean_us") : NULL;
        double measured = json_number_value(measured_json);
        const char *status = "ok";

        if (!measured_json) {
            status = "MISSING from the run";
            failures++;
        } else if (measured > limit) {
            status = "REGRESSION";
            failures++;
        }
        printf("%-26s %12.3f %12.3f %12.3f %8.2f  %s%s\n", op, base, limit, measured,
               base > 0 ? measured / base : 0, status, memory ? " (MiB)" : "");
    }
    printf("\n%s\n", failures ? "kausal-bench check: FAILED" : "kausal-bench check: passed");
    json_decref(baseline);
    json_decref(run);
    return failures ? 1 : 0;
}

#else

int bench_check_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kausal-bench check: built without jansson; install libjansson-dev (make "
                    "deps does) and rebuild\n");
    return 1;
}

#endif
