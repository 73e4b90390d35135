/* SPDX-License-Identifier: MIT */
/*
 * env.c: the default allocator, logging, and the engine's assertion handler.
 */
#include "env.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kassert.h"

/*
 * Large blocks (arena chunks, hash tables, table indexes being built) are
 * mapped from the kernel one by one, aligned to 2 MiB and offered to
 * transparent huge pages: on a virtual machine a 4 KiB page fault costs
 * microseconds, more than the 1 KiB write it would serve (measured here,
 * without huge pages such faults were most of a put's mean latency).
 * std_prepare() then faults a block in with one call, on the engine's
 * helper thread, before the core needs it. Freeing one unmaps it: blocks
 * of this size left to malloc(3) stay resident after free, so a database
 * that turned over its memtable a few dozen times held hundreds of MiB.
 *
 * A large block is recognized at free by its alignment and a header in
 * the 64 bytes before it, which hold the mapping to undo.
 */
#define HUGE_PAGE_SIZE ((size_t)2 << 20)
#define BIG_MIN        HUGE_PAGE_SIZE
#define BIG_MAGIC      UINT64_C(0x6b64622d62696721) /* "kdb-big!" */

struct big_header {
    uint64_t magic;
    uint64_t check; /* magic ^ the block's address */
    void *base;     /* the mapping */
    size_t len;
    size_t size; /* bytes asked for */
};

static struct big_header *big_header_of(void *ptr)
{
    return (struct big_header *)((char *)ptr - 64);
}

static bool is_big(void *ptr)
{
    struct big_header *h;

    if (!ptr || (uintptr_t)ptr % HUGE_PAGE_SIZE) return false;
    h = big_header_of(ptr);
    return h->magic == BIG_MAGIC && h->check == (BIG_MAGIC ^ (uintptr_t)ptr);
}

/* Zeroed memory straight from the kernel. */
static void *big_alloc(size_t size)
{
    size_t rounded, len;
    char *base, *p;
    struct big_header *h;

    if (size > SIZE_MAX / 2) return NULL;
    rounded = (size + HUGE_PAGE_SIZE - 1) & ~(HUGE_PAGE_SIZE - 1);
    len = rounded + HUGE_PAGE_SIZE; /* room to align, with the header below */
    base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return NULL;
    p = base + 64;
    p += (HUGE_PAGE_SIZE - (uintptr_t)p % HUGE_PAGE_SIZE) % HUGE_PAGE_SIZE;
    /* Advice only: where the kernel declines, nothing changes but speed. */
    (void)madvise(p, rounded, MADV_HUGEPAGE);
    h = big_header_of(p);
    *h = (struct big_header){.magic = BIG_MAGIC,
                             .check = BIG_MAGIC ^ (uintptr_t)p,
                             .base = base,
                             .len = len,
                             .size = size};
    return p;
}

static void big_free(void *ptr)
{
    struct big_header h = *big_header_of(ptr);

    (void)munmap(h.base, h.len);
}

static void *std_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return size < BIG_MIN ? malloc(size) : big_alloc(size);
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
 * Large zeroed blocks (hash tables) come straight from the kernel, already
 * zero and not populated: the pages fill in as the table does, so growing
 * a table costs no pass over it.
 */
static void *std_calloc(void *ctx, size_t count, size_t size)
{
    (void)ctx;
    if (size && count > SIZE_MAX / size) return NULL;
    if (count * size == 0) return malloc(1); /* a unique pointer, as calloc(0) may not give */
    return count * size < BIG_MIN ? calloc(count, size) : big_alloc(count * size);
}

static void *std_realloc(void *ctx, void *ptr, size_t size)
{
    void *p;
    size_t old;

    (void)ctx;
    if (!is_big(ptr)) {
        if (size < BIG_MIN) return realloc(ptr, size);
        old = ptr ? malloc_usable_size(ptr) : 0;
    } else {
        old = big_header_of(ptr)->size;
        if (size <= old) return ptr;
    }
    p = size < BIG_MIN ? malloc(size) : big_alloc(size);
    if (!p) return NULL;
    if (ptr) {
        memcpy(p, ptr, old < size ? old : size);
        if (is_big(ptr))
            big_free(ptr);
        else
            free(ptr);
    }
    return p;
}

static void std_free(void *ctx, void *ptr)
{
    (void)ctx;
    if (is_big(ptr))
        big_free(ptr);
    else
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
