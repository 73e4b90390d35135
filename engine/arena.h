/* SPDX-License-Identifier: MIT */
/*
 * arena.h: bump allocation in chunks, freed all at once.
 *
 * The memtable takes its records from an arena: an allocation is a pointer
 * bump, there is no per-item free, and arena_reset() returns everything in
 * one pass over the chunks (a handful per MiB held), so dropping a memtable
 * costs nothing per entry. Allocations larger than a quarter chunk get a
 * chunk of their own so that they do not strand the rest of the current one.
 * Invariant: every pointer handed out stays valid until arena_reset() or
 * arena_release().
 */
#ifndef KDB_ENGINE_ARENA_H
#define KDB_ENGINE_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"

struct arena_chunk;

/* Told of a chunk the arena will use next, so that it can be readied meanwhile. */
typedef void (*arena_ready_fn)(void *ready_ctx, void *memory, size_t size);

struct arena {
    const struct env *env;     /* borrowed until arena_release() */
    struct arena_chunk *head;  /* the chunk bumps come from; NULL before the first */
    size_t chunk_size;         /* bytes of an ordinary chunk, header included */
    size_t align;              /* alignment of every allocation: a power of two, 8 to 4096 */
    uint64_t bytes_held;       /* bytes of every chunk, headers included */
    struct arena_chunk *spare; /* the next chunk, taken early; NULL if none */
    arena_ready_fn ready;      /* NULL: no spare chunks */
    void *ready_ctx;
};

/* Sets up an empty arena; takes no memory until the first allocation. */
void arena_init(struct arena *arena, const struct env *env, size_t chunk_size, size_t align);

/*
 * From now on, as soon as a chunk is in use the arena takes the next one
 * and passes it to ready, which may ready it on another thread (it must not
 * change its bytes) while the current one fills.
 */
void arena_set_ready(struct arena *arena, arena_ready_fn ready, void *ready_ctx);

/* Returns size bytes aligned to arena->align, or NULL when the allocator fails. */
void *arena_alloc(struct arena *arena, size_t size);

/* Frees every chunk: all pointers from this arena become invalid. */
void arena_reset(struct arena *arena);

/* Same as arena_reset(); the arena may be initialized again. */
void arena_release(struct arena *arena);

#endif /* KDB_ENGINE_ARENA_H */
