/* SPDX-License-Identifier: MIT */
/*
 * memtable.c: open-addressing hash table of record pointers (see memtable.h).
 */
#include "memtable.h"

#include <string.h>

#include "checksum.h"
#include "kassert.h"

#define MEMTABLE_SLOTS_INITIAL 1024

static struct memtable_slot *slots_new(const struct env *env, size_t count)
{
    struct memtable_slot *slots;

    if (count > SIZE_MAX / sizeof(*slots)) return NULL;
    slots = env_malloc(env, count * sizeof(*slots));
    if (slots) memset(slots, 0, count * sizeof(*slots));
    return slots;
}

int memtable_init(struct memtable *mt, const struct env *env, size_t chunk_size, uint64_t seed)
{
    mt->env = env;
    mt->slot_count = MEMTABLE_SLOTS_INITIAL;
    mt->used_count = 0;
    mt->seed = seed;
    mt->slots = slots_new(env, mt->slot_count);
    if (!mt->slots) return -ENOMEM;
    arena_init(&mt->arena, env, chunk_size);
    return 0;
}

void memtable_release(struct memtable *mt)
{
    env_free(mt->env, mt->slots);
    mt->slots = NULL;
    mt->slot_count = 0;
    mt->used_count = 0;
    arena_release(&mt->arena);
}

void *memtable_alloc(struct memtable *mt, size_t size)
{
    return arena_alloc(&mt->arena, size);
}

static struct memtable_slot *find_slot(struct memtable_slot *slots, size_t slot_count,
                                       uint64_t seed, const uint8_t id[KDB_ID_SIZE])
{
    size_t mask = slot_count - 1;
    size_t index = (size_t)checksum_id_hash(id, seed) & mask;

    /* Terminates: the table is never more than half full. */
    for (;;) {
        struct memtable_slot *slot = &slots[index];
        if (!slot->record || memcmp(slot->id, id, KDB_ID_SIZE) == 0) return slot;
        index = (index + 1) & mask;
    }
}

int memtable_reserve(struct memtable *mt)
{
    struct memtable_slot *slots;
    size_t count;

    if (2 * (mt->used_count + 1) <= mt->slot_count) return 0;
    if (mt->slot_count > SIZE_MAX / 2) return -ENOMEM;
    count = mt->slot_count * 2;
    slots = slots_new(mt->env, count);
    if (!slots) return -ENOMEM;
    for (size_t i = 0; i < mt->slot_count; i++) {
        const struct memtable_slot *old = &mt->slots[i];
        if (old->record) *find_slot(slots, count, mt->seed, old->id) = *old;
    }
    env_free(mt->env, mt->slots);
    mt->slots = slots;
    mt->slot_count = count;
    return 0;
}

const uint8_t *memtable_put(struct memtable *mt, const uint8_t id[KDB_ID_SIZE],
                            const uint8_t *record)
{
    struct memtable_slot *slot = find_slot(mt->slots, mt->slot_count, mt->seed, id);
    const uint8_t *previous = slot->record;

    kdb_assert(record != NULL);
    if (!previous) {
        kdb_assert(2 * (mt->used_count + 1) <= mt->slot_count);
        memcpy(slot->id, id, KDB_ID_SIZE);
        mt->used_count++;
    }
    slot->record = record;
    return previous;
}

void memtable_prefetch(const struct memtable *mt, const uint8_t id[KDB_ID_SIZE])
{
    size_t index = (size_t)checksum_id_hash(id, mt->seed) & (mt->slot_count - 1);
    __builtin_prefetch(&mt->slots[index], 1);
}

const uint8_t *memtable_get(const struct memtable *mt, const uint8_t id[KDB_ID_SIZE])
{
    return find_slot(mt->slots, mt->slot_count, mt->seed, id)->record;
}

int memtable_scan(const struct memtable *mt, memtable_record_fn fn, void *fn_ctx)
{
    for (size_t i = 0; i < mt->slot_count; i++) {
        if (mt->slots[i].record) {
            int rc = fn(fn_ctx, mt->slots[i].record);
            if (rc) return rc;
        }
    }
    return 0;
}

uint64_t memtable_bytes(const struct memtable *mt)
{
    return mt->arena.bytes_held + mt->slot_count * sizeof(struct memtable_slot);
}
