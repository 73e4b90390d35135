/* SPDX-License-Identifier: MIT */
/*
 * arena.c: chunked bump allocator (see arena.h).
 */
#include "arena.h"

#include "kassert.h"

#define ARENA_ALIGN 8

struct arena_chunk {
    struct arena_chunk *next; /* older chunk */
    size_t size;              /* bytes of data[] */
    size_t used;              /* bytes of data[] handed out; used <= size */
    _Alignas(ARENA_ALIGN) uint8_t data[];
};

void arena_init(struct arena *arena, const struct env *env, size_t chunk_size)
{
    kdb_assert(chunk_size >= 64);
    arena->env = env;
    arena->head = NULL;
    arena->chunk_size = chunk_size;
    arena->bytes_held = 0;
}

static struct arena_chunk *chunk_new(struct arena *arena, size_t size)
{
    struct arena_chunk *chunk;

    if (size > SIZE_MAX - sizeof(*chunk)) return NULL;
    chunk = env_malloc(arena->env, sizeof(*chunk) + size);
    if (!chunk) return NULL;
    chunk->size = size;
    chunk->used = 0;
    arena->bytes_held += sizeof(*chunk) + size;
    return chunk;
}

void *arena_alloc(struct arena *arena, size_t size)
{
    struct arena_chunk *chunk = arena->head;
    size_t rounded;

    if (size > SIZE_MAX - ARENA_ALIGN) return NULL;
    rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (chunk && chunk->size - chunk->used >= rounded) {
        void *p = chunk->data + chunk->used;
        chunk->used += rounded;
        return p;
    }
    if (rounded > arena->chunk_size / 4) {
        /* A chunk of its own, linked behind the head so the head keeps bumping. */
        struct arena_chunk *big = chunk_new(arena, rounded);
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
    chunk = chunk_new(arena, arena->chunk_size - sizeof(*chunk));
    if (!chunk) return NULL;
    chunk->next = arena->head;
    arena->head = chunk;
    chunk->used = rounded;
    kdb_assert(chunk->used <= chunk->size);
    return chunk->data;
}

void arena_reset(struct arena *arena)
{
    struct arena_chunk *chunk = arena->head;

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
