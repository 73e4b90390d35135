/* SPDX-License-Identifier: MIT */
/*
 * bench_main.c: kausal-bench, the benchmark driver, and the helpers of
 * bench.h. Subcommands: storage (the engine on the real file system) and
 * peers (KausalDB against LevelDB and RocksDB).
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kdb.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void bench_die(const char *what, int rc)
{
    fprintf(stderr, "kausal-bench: %s: %s\n", what, rc ? kdb_strerror(rc) : strerror(errno));
    exit(1);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int bench_remove_tree(const char *path)
{
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void bench_samples_init(struct bench_samples *samples, size_t capacity)
{
    samples->ns = calloc(capacity ? capacity : 1, sizeof(*samples->ns));
    if (!samples->ns) {
        fprintf(stderr, "kausal-bench: out of memory\n");
        exit(1);
    }
    samples->count = 0;
    samples->capacity = capacity;
}

void bench_samples_release(struct bench_samples *samples)
{
    free(samples->ns);
    samples->ns = NULL;
    samples->count = samples->capacity = 0;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ns(const struct bench_samples *samples, double p)
{
    size_t index;

    if (samples->count == 0) return 0;
    index = (size_t)floor(p * (double)(samples->count - 1) + 0.5);
    return (double)samples->ns[index];
}

void bench_result_from(struct bench_result *result, const char *name, struct bench_samples *samples,
                       double mean_ns_override)
{
    double sum = 0;

    memset(result, 0, sizeof(*result));
    snprintf(result->name, sizeof(result->name), "%s", name);
    qsort(samples->ns, samples->count, sizeof(*samples->ns), compare_u64);
    for (size_t i = 0; i < samples->count; i++)
        sum += (double)samples->ns[i];
    double mean_ns = samples->count ? sum / (double)samples->count : 0;
    if (mean_ns_override > 0) mean_ns = mean_ns_override;
    result->n = samples->count;
    result->mean_us = mean_ns / 1000.0;
    result->p50_us = percentile_ns(samples, 0.50) / 1000.0;
    result->p99_us = percentile_ns(samples, 0.99) / 1000.0;
    result->p999_us = percentile_ns(samples, 0.999) / 1000.0;
    result->max_us = samples->count ? (double)samples->ns[samples->count - 1] / 1000.0 : 0;
    result->ops_per_s = mean_ns > 0 ? 1e9 / mean_ns : 0;
}

struct bench_result *bench_report_add(struct bench_report *report,
                                      const struct bench_result *result)
{
    if (report->count == sizeof(report->results) / sizeof(report->results[0])) {
        fprintf(stderr, "kausal-bench: too many results\n");
        exit(1);
    }
    report->results[report->count] = *result;
    return &report->results[report->count++];
}

void bench_report_print(const struct bench_report *report, const char *title)
{
    if (report->json) {
        printf("[");
        for (size_t i = 0; i < report->count; i++) {
            const struct bench_result *r = &report->results[i];
            printf("%s\n  {\"name\": \"%s\", \"n\": %llu, \"mean_us\": %.4f, \"p50_us\": %.4f, "
                   "\"p99_us\": %.4f, \"p999_us\": %.4f, \"max_us\": %.4f, \"ops_per_s\": %.0f%s}",
                   i ? "," : "", r->name, (unsigned long long)r->n, r->mean_us, r->p50_us,
                   r->p99_us, r->p999_us, r->max_us, r->ops_per_s, r->extra);
        }
        printf("\n]\n");
        return;
    }
    printf("%s\n\n", title);
    printf("%-24s %7s %10s %9s %9s %10s %11s %11s  %s\n", "operation", "n", "mean µs", "p50 µs",
           "p99 µs", "p99.9 µs", "max µs", "ops/s", "");
    for (size_t i = 0; i < report->count; i++) {
        const struct bench_result *r = &report->results[i];
        printf("%-24s %7llu %10.3f %9.3f %9.3f %10.3f %11.1f %11.0f  %s\n", r->name,
               (unsigned long long)r->n, r->mean_us, r->p50_us, r->p99_us, r->p999_us, r->max_us,
               r->ops_per_s, r->note);
    }
}

void bench_progress(const char *fmt, ...)
{
    va_list ap;

    if (!isatty(STDERR_FILENO)) return;
    va_start(ap, fmt);
    fprintf(stderr, "\r\033[K");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

int bench_spawn(const char *const argv[], const char *dir, FILE *out, bool quiet, long *rss_kib)
{
    struct rusage usage;
    int status;
    pid_t pid = fork();

    if (pid < 0) return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (dir && chdir(dir) < 0) _exit(126);
        if (out) dup2(fileno(out), STDOUT_FILENO);
        if (null >= 0 && quiet) {
            if (!out) dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execvp(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) return -1;
    }
    if (rss_kib) *rss_kib = usage.ru_maxrss;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *bench_beside(const char *given, const char *name)
{
    char self[4096];
    ssize_t n;
    char *slash;

    if (given) return strdup(given);
    n = readlink("/proc/self/exe", self, sizeof(self) - 64);
    if (n <= 0 || strlen(name) >= 64) return strdup(name);
    self[n] = '\0';
    slash = strrchr(self, '/');
    memcpy(slash ? slash + 1 : self, name, strlen(name) + 1); /* room: 64 bytes kept */
    return strdup(self);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kausal-bench <benchmark> [options]\n"
            "\n"
            "benchmarks:\n"
            "  storage   block write, read, update, delete, durable write and recovery\n"
            "            of the engine on the real file system\n"
            "  peers     the same workload against KausalDB, LevelDB and RocksDB\n"
            "  query     graph queries: edge lists, 1-3 hop traversals, batch gets\n"
            "  fs        the mounted database (kausalfs) against tmpfs, operation by operation\n"
            "  ingest    kausal ingest of a C tree and callers by name, against cscope\n"
            "  check     compare a run's JSON with bench/baseline.json (make bench-check)\n"
            "\n"
            "Run 'kausal-bench <benchmark> --help' for its options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "storage") == 0) return bench_storage_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "peers") == 0) return bench_peers_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "check") == 0) return bench_check_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "query") == 0) return bench_query_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "fs") == 0) return bench_fs_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "ingest") == 0) return bench_ingest_main(argc - 1, argv + 1);
    fprintf(stderr, "kausal-bench: unknown benchmark '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
