/* SPDX-License-Identifier: MIT */
/*
 * memtable.h: the newest version of each id, in memory.
 *
 * A hash table from 16-byte id to an entry, with open addressing and linear
 * probing, kept at most half full. A slot is one cache line: the id and an
 * entry that holds everything a read needs to find its bytes (version,
 * time, the three lengths, whether it is a tombstone) and a pointer to the
 * record, which lives in the memtable's arena or in a replayed log
 * segment. A lookup therefore touches one line of the table and no byte of
 * the record; a read then touches only the bytes it copies.
 *
 * The caller (db.c) fills entries and says what a record means; the table
 * never reads a record. Blocks and edges are two key spaces: an entry's
 * edge flag is part of its key, so an edge's key never meets a block id. Slots are never removed, so a lookup stops at the
 * first empty slot. Ids are placed by a hash seeded with random bits per
 * table, so ids chosen by a user cannot be made to collide.
 *
 * Growing is incremental, as in Redis's dictRehash(): a table twice the
 * size takes new ids, and each memtable_reserve() moves a few slots of the
 * old one over, so no single put pays for copying the whole table.
 * Invariant: every id is in the new table, or only in the old one; a
 * lookup tries the new table first.
 * Single-threaded: the core owns it.
 */
#ifndef KDB_ENGINE_MEMTABLE_H
#define KDB_ENGINE_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "env.h"
#include "kdb.h"

/* What a lookup returns: filled by the caller at memtable_put(). */
struct memtable_entry {
    const uint8_t *record; /* the record's bytes; never NULL in a filled slot */
    uint64_t version;      /* the change's sequence number */
    uint64_t mtime_ns;
    uint32_t uri_len; /* bytes, as in the record */
    uint32_t meta_len;
    uint32_t content_len;
    uint32_t live; /* 1: a block or edge; 0: a tombstone */
    uint32_t edge; /* 1: an edge, under its key; 0: a block, under its id */
    uint32_t reserved;
};

/* One cache line. */
struct memtable_slot {
    uint8_t id[KDB_ID_SIZE];
    struct memtable_entry entry; /* entry.record == NULL: the slot is empty */
};

struct memtable {
    const struct env *env;       /* borrowed until memtable_release() */
    struct arena arena;          /* records written since open */
    struct memtable_slot *slots; /* slot_count entries, 64-byte aligned, inside slots_memory */
    void *slots_memory;          /* as allocated */
    size_t slot_count;           /* a power of two */
    size_t used_count;           /* distinct ids in both tables; 2 * used_count <= slot_count */
    uint64_t seed;               /* hash seed */
    struct memtable_slot *old;   /* the table being drained, or NULL */
    void *old_memory;            /* as allocated */
    size_t old_count;            /* its slots */
    size_t old_cursor;           /* slots below this index were moved */
};

/* Sets up an empty table. Returns -ENOMEM. */
KDB_MUST_USE int memtable_init(struct memtable *mt, const struct env *env, size_t chunk_size,
                               uint64_t seed);

/*
 * Sizes an empty table for about count ids, so that filling it moves no
 * slot (replay knows roughly how many records are coming). Returns -ENOMEM.
 */
KDB_MUST_USE int memtable_presize(struct memtable *mt, size_t count);

/* Passes the arena's next chunk to ready ahead of use (see arena_set_ready()). */
void memtable_set_ready(struct memtable *mt, arena_ready_fn ready, void *ready_ctx);

/* Frees the table and every record in the arena. */
void memtable_release(struct memtable *mt);

/* Arena memory for a record, cache-line aligned, valid until memtable_release(); NULL on failure. */
void *memtable_alloc(struct memtable *mt, size_t size);

/*
 * Makes room so that the next memtable_put() cannot fail. Returns -ENOMEM.
 * Call it before logging a change, so that a logged change always lands.
 */
KDB_MUST_USE int memtable_reserve(struct memtable *mt);

/* The same for the next n puts. */
KDB_MUST_USE int memtable_reserve_n(struct memtable *mt, size_t n);

/*
 * Sets id's entry (entry->record must not be NULL). Returns whether id had
 * one, copied to *previous when previous is not NULL. Requires a
 * memtable_reserve() since the last put.
 */
bool memtable_put(struct memtable *mt, const uint8_t id[KDB_ID_SIZE],
                  const struct memtable_entry *entry, struct memtable_entry *previous);

/* Starts loading id's slot into the cache, for a put or get soon after. */
void memtable_prefetch(const struct memtable *mt, const uint8_t id[KDB_ID_SIZE]);

/* id's entry (a block's; edge: an edge's), valid until the next put or memtable_release(), or NULL. */
const struct memtable_entry *memtable_find(const struct memtable *mt, const uint8_t id[KDB_ID_SIZE],
                                           bool edge);
static inline const struct memtable_entry *memtable_get(const struct memtable *mt,
                                                        const uint8_t id[KDB_ID_SIZE])
{
    return memtable_find(mt, id, false);
}

/* Calls fn for each entry; a nonzero return stops and is returned. */
typedef int (*memtable_entry_fn)(void *fn_ctx, const uint8_t id[KDB_ID_SIZE],
                                 const struct memtable_entry *entry);
int memtable_scan(const struct memtable *mt, memtable_entry_fn fn, void *fn_ctx);

/* An id and its entry, as memtable_sorted() lists them. */
struct memtable_ref {
    const uint8_t *id;
    const struct memtable_entry *entry;
};

/*
 * Lists every entry into a new *out (env_free() it), valid until the next
 * put: the *block_count blocks sorted by id, then the edges sorted by key.
 * Reads the table only, so any thread may call it on a table nobody
 * changes. Returns -ENOMEM.
 */
KDB_MUST_USE int memtable_sorted(const struct memtable *mt, struct memtable_ref **out,
                                 size_t *count, size_t *block_count);

/* Distinct ids in the table. */
static inline size_t memtable_count(const struct memtable *mt)
{
    return mt->used_count;
}

/*
 * What the table's contents cost: arena bytes and two slots an id (the
 * table is at most half full), without the empty table it starts with.
 * The memtable is flushed on this, so that it stays bounded in memory
 * whatever the size of its records.
 */
static inline uint64_t memtable_footprint(const struct memtable *mt)
{
    return mt->arena.bytes_held + (uint64_t)mt->used_count * 2 * sizeof(struct memtable_slot);
}

/* Bytes held: table and arena. */
uint64_t memtable_bytes(const struct memtable *mt);

#endif /* KDB_ENGINE_MEMTABLE_H */
