/* SPDX-License-Identifier: MIT */
/*
 * env.c: the default allocator, logging, and the engine's assertion handler.
 */
#include "env.h"

#include <malloc.h>
#include <pthread.h>
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
 * The allocator keeps the large blocks it handed out in a small table (a
 * few dozen live at a time), so that free and realloc know them without
 * touching memory they do not own. Only 2 MiB-aligned pointers are looked
 * up, under a lock: large blocks come and go a few times per memtable.
 *
 * Up to BIG_CACHE_BYTES of freed blocks that malloc gave are kept mapped,
 * for the next malloc of their size: a flushed memtable's chunks serve the
 * next one, which then takes no page faults and no pages the kernel must
 * zero (a bulk load turns its memtable over dozens of times: zeroing was
 * 6% of its CPU). Blocks from calloc (hash tables) and realloc (arrays
 * that grow, each size once) are unmapped when freed, as before. A large
 * block that realloc grows is moved by the kernel (big_grow()), not copied.
 */
#define HUGE_PAGE_SIZE  ((size_t)2 << 20)
#define BIG_MIN         HUGE_PAGE_SIZE
#define BIG_CACHE_BYTES ((size_t)64 << 20)
#define BIG_CACHE_MAX   32

struct big_block {
    void *ptr;  /* what the caller got */
    void *base; /* the mapping */
    size_t len;
    size_t size; /* bytes asked for */
    bool keep;   /* from malloc: kept mapped when freed, if there is room */
};

static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;
static struct big_block *big_blocks; /* under big_lock */
static size_t big_count, big_capacity;
static struct big_block big_cache[BIG_CACHE_MAX]; /* freed, kept mapped; under big_lock */
static size_t big_cache_count, big_cache_bytes;

/* Removes ptr's entry into *out; false if ptr is not a large block. */
static bool big_find(void *ptr, struct big_block *out, bool remove)
{
    bool found = false;

    if (!ptr || (uintptr_t)ptr % HUGE_PAGE_SIZE) return false;
    pthread_mutex_lock(&big_lock);
    for (size_t i = 0; i < big_count; i++) {
        if (big_blocks[i].ptr == ptr) {
            *out = big_blocks[i];
            if (remove) big_blocks[i] = big_blocks[--big_count];
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&big_lock);
    return found;
}

static bool big_register(const struct big_block *b)
{
    bool ok = true;

    pthread_mutex_lock(&big_lock);
    if (big_count == big_capacity) {
        size_t capacity = big_capacity ? big_capacity * 2 : 64;
        struct big_block *blocks = realloc(big_blocks, capacity * sizeof(*blocks));
        if (blocks) {
            big_blocks = blocks;
            big_capacity = capacity;
        } else {
            ok = false;
        }
    }
    if (ok) big_blocks[big_count++] = *b;
    pthread_mutex_unlock(&big_lock);
    return ok;
}

/* A kept block of len bytes for size bytes, registered again; NULL if none. */
static void *big_reuse(size_t len, size_t size)
{
    struct big_block b;
    bool found = false;

    pthread_mutex_lock(&big_lock);
    for (size_t i = 0; i < big_cache_count; i++) {
        if (big_cache[i].len == len) {
            b = big_cache[i];
            big_cache[i] = big_cache[--big_cache_count];
            big_cache_bytes -= b.len;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&big_lock);
    if (!found) return NULL;
    b.size = size;
    if (!big_register(&b)) {
        (void)munmap(b.base, b.len);
        return NULL;
    }
    return b.ptr;
}

/* Keeps a freed block for big_reuse() if there is room; false if not (the caller unmaps it). */
static bool big_keep(const struct big_block *b)
{
    bool kept = false;

    pthread_mutex_lock(&big_lock);
    if (big_cache_count < BIG_CACHE_MAX && big_cache_bytes + b->len <= BIG_CACHE_BYTES) {
        big_cache[big_cache_count++] = *b;
        big_cache_bytes += b->len;
        kept = true;
    }
    pthread_mutex_unlock(&big_lock);
    return kept;
}

/* The length of the mapping a block of size bytes takes (room to align it included). */
static size_t big_len(size_t size)
{
    return ((size + HUGE_PAGE_SIZE - 1) & ~(HUGE_PAGE_SIZE - 1)) + HUGE_PAGE_SIZE;
}

/* Zeroed memory straight from the kernel; keep: see struct big_block. */
static void *big_alloc(size_t size, bool keep)
{
    struct big_block b = {.size = size, .keep = keep};
    size_t rounded;
    char *base, *p;

    if (size > SIZE_MAX / 2) return NULL;
    b.len = big_len(size);
    rounded = b.len - HUGE_PAGE_SIZE; /* the rest is room to align */
    base = mmap(NULL, b.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return NULL;
    p = base + (HUGE_PAGE_SIZE - (uintptr_t)base % HUGE_PAGE_SIZE) % HUGE_PAGE_SIZE;
    /* Advice only: where the kernel declines, nothing changes but speed. */
    (void)madvise(p, rounded, MADV_HUGEPAGE);
    b.ptr = p;
    b.base = base;
    if (!big_register(&b)) {
        (void)munmap(base, b.len);
        return NULL;
    }
    return p;
}

static void std_free(void *ctx, void *ptr)
{
    struct big_block b;

    (void)ctx;
    if (big_find(ptr, &b, true)) {
        if (!b.keep || !big_keep(&b)) (void)munmap(b.base, b.len);
    } else {
        free(ptr);
    }
}

static void *std_malloc(void *ctx, size_t size)
{
    void *p;

    (void)ctx;
    if (size < BIG_MIN) return malloc(size);
    if (size > SIZE_MAX / 2) return NULL;
    p = big_reuse(big_len(size), size);
    return p ? p : big_alloc(size, true);
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
 * Grows large block b to size bytes: the kernel moves its pages to a new
 * aligned place, and the rest is new zeroed memory. So an array of
 * hundreds of MiB grows without a copy, and never is it resident twice
 * (the old and the new) at once. The new block is registered; the caller
 * takes b's entry out. NULL, with b as it was, if the kernel cannot.
 */
static void *big_grow(struct big_block *b, size_t size)
{
    struct big_block grown = {.size = size, .keep = b->keep};
    size_t old = b->len - HUGE_PAGE_SIZE, rounded;
    char *p, *end = (char *)b->base + b->len, *ptr = b->ptr;
    void *moved;

    if (size > SIZE_MAX / 2) return NULL;
    grown.len = big_len(size);
    rounded = grown.len - HUGE_PAGE_SIZE;
    /* A reservation to move into, aligned as big_alloc() aligns. */
    grown.base =
        mmap(NULL, grown.len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (grown.base == MAP_FAILED) return NULL;
    p = (char *)grown.base +
        (HUGE_PAGE_SIZE - (uintptr_t)grown.base % HUGE_PAGE_SIZE) % HUGE_PAGE_SIZE;
    grown.ptr = p;
    if (!big_register(&grown)) {
        (void)munmap(grown.base, grown.len);
        return NULL;
    }
    moved = mremap(ptr, old, rounded, MREMAP_MAYMOVE | MREMAP_FIXED, p);
    if (moved == MAP_FAILED) {
        struct big_block never;
        (void)big_find(p, &never, true);
        (void)munmap(grown.base, grown.len);
        return NULL;
    }
    /* The old mapping's room to align, around what moved, goes. */
    if (ptr > (char *)b->base) (void)munmap(b->base, (size_t)(ptr - (char *)b->base));
    if (end > ptr + old) (void)munmap(ptr + old, (size_t)(end - (ptr + old)));
    (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only */
    return p;
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
    return count * size < BIG_MIN ? calloc(count, size) : big_alloc(count * size, false);
}

static void *std_realloc(void *ctx, void *ptr, size_t size)
{
    struct big_block b;
    bool big = big_find(ptr, &b, false);
    size_t old;
    void *p;

    (void)ctx;
    if (!big) {
        if (size < BIG_MIN) return realloc(ptr, size);
        old = ptr ? malloc_usable_size(ptr) : 0;
    } else {
        old = b.size;
        if (size <= old) return ptr;
        p = big_grow(&b, size);
        if (p) {
            (void)big_find(ptr, &b, true); /* moved: its entry goes */
            return p;
        }
    }
    p = size < BIG_MIN ? malloc(size) : big_alloc(size, false);
    if (!p) return NULL;
    if (ptr) {
        memcpy(p, ptr, old < size ? old : size);
        std_free(ctx, ptr);
    }
    return p;
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
