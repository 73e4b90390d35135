/* SPDX-License-Identifier: MIT */
/*
 * arena.c: chunked bump allocator (see arena.h).
 */
#include "arena.h"

#include "kassert.h"

/* Chunks start their data on a boundary at least this wide. */
#define ARENA_ALIGN_MAX 4096

struct arena_chunk {
    struct arena_chunk *next; /* older chunk */
    size_t size;              /* bytes of data[] */
    size_t used;              /* bytes of data[] handed out; used <= size */
    uint8_t *data;            /* the first aligned byte after this header */
};

void arena_init(struct arena *arena, const struct env *env, size_t chunk_size, size_t align)
{
    kdb_assert(align >= 8 && align <= ARENA_ALIGN_MAX);
    kdb_assert((align & (align - 1)) == 0);
    kdb_assert(chunk_size >= 4 * align + sizeof(struct arena_chunk));
    arena->env = env;
    arena->align = align;
    arena->spare = NULL;
    arena->ready = NULL;
    arena->ready_ctx = NULL;
    arena->head = NULL;
    arena->chunk_size = chunk_size;
    arena->bytes_held = 0;
}

/* A chunk of total bytes, header included; its data starts at the first aligned byte. */
static struct arena_chunk *chunk_new(struct arena *arena, size_t total)
{
    struct arena_chunk *chunk = env_malloc(arena->env, total);
    uint8_t *first;

    if (!chunk) return NULL;
    first = (uint8_t *)(chunk + 1);
    chunk->data = first + (arena->align - (uintptr_t)first % arena->align) % arena->align;
    chunk->size = (size_t)((uint8_t *)chunk + total - chunk->data);
    chunk->used = 0;
    arena->bytes_held += total;
    return chunk;
}

void arena_set_ready(struct arena *arena, arena_ready_fn ready, void *ready_ctx)
{
    arena->ready = ready;
    arena->ready_ctx = ready_ctx;
}

/* Takes the next chunk early, as soon as the current one is in use. */
static void take_spare(struct arena *arena)
{
    struct arena_chunk *chunk = arena->head;

    if (arena->spare || !arena->ready || !chunk) return;
    arena->spare = chunk_new(arena, arena->chunk_size);
    if (arena->spare) arena->ready(arena->ready_ctx, arena->spare, arena->chunk_size);
}

void *arena_alloc(struct arena *arena, size_t size)
{
    struct arena_chunk *chunk = arena->head;
    size_t overhead = sizeof(*chunk) + arena->align;
    size_t rounded;

    if (size > SIZE_MAX - overhead) return NULL;
    rounded = (size + arena->align - 1) & ~(arena->align - 1);
    if (chunk && chunk->size - chunk->used >= rounded) {
        void *p = chunk->data + chunk->used;
        chunk->used += rounded;
        take_spare(arena);
        return p;
    }
    if (rounded > arena->chunk_size / 4) {
        /* A chunk of its own, linked behind the head so the head keeps bumping. */
        struct arena_chunk *big = chunk_new(arena, rounded + overhead);
        if (!big) return NULL;
        big->used = rounded;
        if (chunk) {
            big->next = chunk->next;
            chunk->next = big;
        } else {
            big->next = NULL;
            arena->head = big;
        }
        return big->data;
    }
    /* The whole allocation, header included, is chunk_size: a round number for the allocator. */
    chunk = arena->spare ? arena->spare : chunk_new(arena, arena->chunk_size);
    arena->spare = NULL;
    if (!chunk) return NULL;
    chunk->next = arena->head;
    arena->head = chunk;
    chunk->used = rounded;
    kdb_assert(chunk->used <= chunk->size);
    take_spare(arena);
    return chunk->data;
}

void arena_reset(struct arena *arena)
{
    struct arena_chunk *chunk = arena->head;

    env_free(arena->env, arena->spare);
    arena->spare = NULL;
    while (chunk) {
        struct arena_chunk *next = chunk->next;
        env_free(arena->env, chunk);
        chunk = next;
    }
    arena->head = NULL;
    arena->bytes_held = 0;
}

void arena_release(struct arena *arena)
{
    arena_reset(arena);
}
