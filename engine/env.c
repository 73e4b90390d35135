/* SPDX-License-Identifier: MIT */
/*
 * env.c: the default allocator, logging, and the engine's assertion handler.
 */
#include "env.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kassert.h"

/*
 * Large blocks (arena chunks) are aligned to 2 MiB and offered to
 * transparent huge pages: on a virtual machine a 4 KiB page fault costs
 * microseconds, more than the 1 KiB write it would serve (measured here,
 * without huge pages such faults were most of a put's mean latency). std_prepare() then faults a block in
 * with one call, on the engine's helper thread, before the core needs it.
 */
#define HUGE_PAGE_SIZE ((size_t)2 << 20)

static void *std_malloc(void *ctx, size_t size)
{
    size_t rounded;
    void *p;

    (void)ctx;
    if (size < HUGE_PAGE_SIZE || size > SIZE_MAX - HUGE_PAGE_SIZE) return malloc(size);
    rounded = (size + HUGE_PAGE_SIZE - 1) & ~(HUGE_PAGE_SIZE - 1);
    p = aligned_alloc(HUGE_PAGE_SIZE, rounded);
    /* Advice only: where the kernel declines, nothing changes but speed. */
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

static void std_prepare(void *ctx, void *ptr, size_t size)
{
    size_t skip = (4096 - (uintptr_t)ptr % 4096) % 4096;

    (void)ctx;
    /* Advice only, on the whole pages inside the block. */
    if (size >= skip + 4096) {
        (void)madvise((char *)ptr + skip, (size - skip) / 4096 * 4096, MADV_POPULATE_WRITE);
    }
}

/*
 * Large zeroed blocks (hash tables) come from calloc, which takes fresh
 * pages from the kernel and does not clear them again, offered to huge
 * pages but not populated: the pages fill in as the table does, so growing
 * a table costs no pass over it.
 */
static void *std_calloc(void *ctx, size_t count, size_t size)
{
    void *p;

    (void)ctx;
    p = calloc(count, size);
    if (p && count * size >= 2 * HUGE_PAGE_SIZE) {
        /* Advice only, on the 2 MiB-aligned middle of the block. */
        size_t skip = (HUGE_PAGE_SIZE - (uintptr_t)p % HUGE_PAGE_SIZE) % HUGE_PAGE_SIZE;
        size_t span = (count * size - skip) / HUGE_PAGE_SIZE * HUGE_PAGE_SIZE;
        if (span) (void)madvise((char *)p + skip, span, MADV_HUGEPAGE);
    }
    return p;
}

static void *std_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size);
}

static void std_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static const struct kdb_allocator std_allocator = {
    .ctx = NULL,
    .malloc = std_malloc,
    .calloc = std_calloc,
    .realloc = std_realloc,
    .free = std_free,
    .prepare = std_prepare,
};

void env_init(struct env *env, const struct kdb_options *options)
{
    env->vfs = options->vfs ? options->vfs : kdb_vfs_posix();
    env->allocator = options->allocator ? options->allocator : &std_allocator;
    env->log = options->log;
    env->log_ctx = options->log_ctx;
}

void env_log(const struct env *env, enum kdb_log_level level, const char *file, int line,
             const char *fmt, ...)
{
    char message[512];
    va_list ap;

    va_start(ap, fmt);
    if (env->log) {
        /* clang-analyzer 14 loses track of va_start here. */
        /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
        (void)vsnprintf(message, sizeof(message), fmt, ap);
        env->log(env->log_ctx, level, file, line, message);
    }
    va_end(ap);
}

void *env_malloc(const struct env *env, size_t size)
{
    return env->allocator->malloc(env->allocator->ctx, size);
}

void *env_realloc(const struct env *env, void *ptr, size_t size)
{
    return env->allocator->realloc(env->allocator->ctx, ptr, size);
}

void env_prepare(const struct env *env, void *ptr, size_t size)
{
    if (env->allocator->prepare) env->allocator->prepare(env->allocator->ctx, ptr, size);
}

void *env_calloc(const struct env *env, size_t count, size_t size)
{
    void *p;

    if (size && count > SIZE_MAX / size) return NULL;
    if (env->allocator->calloc) return env->allocator->calloc(env->allocator->ctx, count, size);
    p = env_malloc(env, count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void env_free(const struct env *env, void *ptr)
{
    if (ptr) env->allocator->free(env->allocator->ctx, ptr);
}

_Noreturn void kdb_assert_fail(const char *expr, const char *file, int line)
{
    (void)fprintf(stderr, "kausaldb: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
