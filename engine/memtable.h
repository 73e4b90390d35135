/* SPDX-License-Identifier: MIT */
/*
 * memtable.h: the newest version of each id, in memory.
 *
 * A hash table from 16-byte id to a record pointer, with open addressing and
 * linear probing, kept at most half full. The records themselves live in the
 * memtable's arena (memtable_alloc()); the table only points at them, and
 * knows nothing of their format: the caller (db.c) decides what a record
 * means, including whether it is a tombstone. Slots are never removed, so a
 * lookup stops at the first empty slot.
 *
 * Ids are placed by XXH3 with a random per-table seed, so ids chosen by a
 * user cannot be made to collide. Single-threaded: the core owns it.
 */
#ifndef KDB_ENGINE_MEMTABLE_H
#define KDB_ENGINE_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "env.h"
#include "kdb.h"

struct memtable_slot {
    uint8_t id[KDB_ID_SIZE];
    const uint8_t *record; /* NULL: the slot is empty */
};

struct memtable {
    const struct env *env;       /* borrowed until memtable_release() */
    struct arena arena;          /* every record */
    struct memtable_slot *slots; /* slot_count entries */
    size_t slot_count;           /* a power of two */
    size_t used_count;           /* filled slots; 2 * used_count <= slot_count */
    uint64_t seed;               /* hash seed */
};

/* Sets up an empty table. Returns -ENOMEM. */
KDB_MUST_USE int memtable_init(struct memtable *mt, const struct env *env, size_t chunk_size,
                               uint64_t seed);

/* Frees the table and every record. */
void memtable_release(struct memtable *mt);

/* Arena memory for a record, valid until memtable_release(); NULL on failure. */
void *memtable_alloc(struct memtable *mt, size_t size);

/*
 * Makes room so that the next memtable_put() cannot fail. Returns -ENOMEM.
 * Call it before logging a change, so that a logged change always lands.
 */
KDB_MUST_USE int memtable_reserve(struct memtable *mt);

/*
 * Points id at record (arena memory) and returns the record it pointed at
 * before, or NULL. Requires a memtable_reserve() since the last put.
 */
const uint8_t *memtable_put(struct memtable *mt, const uint8_t id[KDB_ID_SIZE],
                            const uint8_t *record);

/* Starts loading id's slot into the cache, for a put or get soon after. */
void memtable_prefetch(const struct memtable *mt, const uint8_t id[KDB_ID_SIZE]);

/* The record id points at, or NULL. */
const uint8_t *memtable_get(const struct memtable *mt, const uint8_t id[KDB_ID_SIZE]);

/* Calls fn for each record; a nonzero return stops and is returned. */
typedef int (*memtable_record_fn)(void *fn_ctx, const uint8_t *record);
int memtable_scan(const struct memtable *mt, memtable_record_fn fn, void *fn_ctx);

/* Bytes held: table and arena. */
uint64_t memtable_bytes(const struct memtable *mt);

#endif /* KDB_ENGINE_MEMTABLE_H */
