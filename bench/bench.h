/* SPDX-License-Identifier: MIT */
/*
 * bench.h: what the benchmarks share: a clock, latency samples, and the
 * report (a readable table, or with --json one array of objects
 * {"name", "n", "mean_us", "p50_us", "p99_us", "ops_per_s", ...}).
 *
 * Timing: per-operation samples come from chained CLOCK_MONOTONIC stamps,
 * one clock read per operation, so each sample includes one clock read
 * (about 25 ns here; reported as timer_ns). Where an operation is as short
 * as that, the mean is taken from a separate pass timed as a whole.
 */
#ifndef KDB_BENCH_BENCH_H
#define KDB_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Nanoseconds on the monotonic clock. */
uint64_t bench_now_ns(void);

/* splitmix64: the next value of a seeded sequence. */
uint64_t bench_splitmix(uint64_t *state);

/* Prints "kausal-bench: what: " and rc's sentence (errno's when rc is 0), and exits 1. */
_Noreturn void bench_die(const char *what, int rc);

/*
 * Runs argv (a program found on PATH, or a path) in dir (NULL: here) and
 * waits for it. Its standard output goes to out, or nowhere when out is
 * NULL and quiet; its errors nowhere when quiet. *rss_kib, when not NULL,
 * gets its peak resident memory. Returns its exit status, or -1.
 */
int bench_spawn(const char *const argv[], const char *dir, FILE *out, bool quiet, long *rss_kib);

/* given, or the program name found beside this one (malloc'd; NULL when out of memory). */
char *bench_beside(const char *given, const char *name);

/* Removes path and everything under it. Returns 0 or -1 (errno set). */
int bench_remove_tree(const char *path);

struct bench_samples {
    uint64_t *ns; /* one duration per operation */
    size_t count; /* filled */
    size_t capacity;
};

void bench_samples_init(struct bench_samples *samples, size_t capacity);
void bench_samples_release(struct bench_samples *samples);
static inline void bench_samples_add(struct bench_samples *samples, uint64_t ns)
{
    if (samples->count < samples->capacity) samples->ns[samples->count++] = ns;
}

/* One line of the report. */
struct bench_result {
    char name[48];
    uint64_t n;
    double mean_us;
    double p50_us;
    double p99_us;
    double p999_us;
    double max_us;
    double ops_per_s;
    char extra[384]; /* more JSON members, ", \"key\": value" each, or "" */
    char note[96];   /* shown in the table */
};

/*
 * Fills result from samples. mean_ns_override > 0 replaces the mean taken
 * from the samples (a pass timed as a whole).
 */
void bench_result_from(struct bench_result *result, const char *name, struct bench_samples *samples,
                       double mean_ns_override);

struct bench_report {
    struct bench_result results[64];
    size_t count;
    bool json;
};

/* Adds a result; the report keeps a copy. Returns it for extra fields. */
struct bench_result *bench_report_add(struct bench_report *report,
                                      const struct bench_result *result);

/* Prints the table or the JSON array to stdout. */
void bench_report_print(const struct bench_report *report, const char *title);

/* Progress on stderr when it is a terminal, or always with --verbose. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Subcommands. argv[0] is the subcommand's name. Exit status 0, 1 or 2. */
int bench_storage_main(int argc, char **argv);
int bench_peers_main(int argc, char **argv);
int bench_check_main(int argc, char **argv);
int bench_query_main(int argc, char **argv);
int bench_fs_main(int argc, char **argv);
int bench_ingest_main(int argc, char **argv);

#endif /* KDB_BENCH_BENCH_H */
