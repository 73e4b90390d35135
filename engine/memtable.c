/* SPDX-License-Identifier: MIT */
/*
 * memtable.c: open-addressing hash table of entries (see memtable.h).
 */
#include "memtable.h"

#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "coding.h"
#include "kassert.h"

#define MEMTABLE_SLOTS_INITIAL 128 /* 8 KiB: a handle that writes little touches two pages */
#define MEMTABLE_RECORD_ALIGN  64
#define MEMTABLE_MOVE_STEP     16 /* old slots moved per reserve while growing */

static_assert(sizeof(struct memtable_slot) == 64, "a slot is one cache line");

/* A zeroed table of count slots on a cache-line boundary; *memory is what to free. */
static struct memtable_slot *slots_new(const struct env *env, size_t count, void **memory)
{
    size_t bytes;
    uint8_t *aligned;

    *memory = NULL;
    if (count > (SIZE_MAX - 64) / sizeof(struct memtable_slot)) return NULL;
    bytes = count * sizeof(struct memtable_slot);
    *memory = env_calloc(env, 1, bytes + 64);
    if (!*memory) return NULL;
    aligned = (uint8_t *)*memory + (64 - (uintptr_t)*memory % 64) % 64;
    return (struct memtable_slot *)(void *)aligned;
}

int memtable_init(struct memtable *mt, const struct env *env, size_t chunk_size, uint64_t seed)
{
    mt->env = env;
    mt->slot_count = MEMTABLE_SLOTS_INITIAL;
    mt->used_count = 0;
    mt->seed = seed;
    mt->old = NULL;
    mt->old_memory = NULL;
    mt->old_count = 0;
    mt->old_cursor = 0;
    mt->slots = slots_new(env, mt->slot_count, &mt->slots_memory);
    if (!mt->slots) return -ENOMEM;
    arena_init(&mt->arena, env, chunk_size, MEMTABLE_RECORD_ALIGN);
    return 0;
}

void memtable_set_ready(struct memtable *mt, arena_ready_fn ready, void *ready_ctx)
{
    arena_set_ready(&mt->arena, ready, ready_ctx);
}

void memtable_release(struct memtable *mt)
{
    env_free(mt->env, mt->old_memory);
    mt->old_memory = NULL;
    mt->old = NULL;
    env_free(mt->env, mt->slots_memory);
    mt->slots_memory = NULL;
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
                                       uint64_t seed, const uint8_t id[KDB_ID_SIZE], bool edge)
{
    size_t mask = slot_count - 1;
    size_t index = (size_t)hash_id_seeded(id, seed) & mask;

    /* Terminates: the table is never more than half full. */
    for (;;) {
        struct memtable_slot *slot = &slots[index];
        if (!slot->entry.record ||
            (memcmp(slot->id, id, KDB_ID_SIZE) == 0 && slot->entry.edge == (uint32_t)edge))
            return slot;
        index = (index + 1) & mask;
    }
}

/* The slot holding id in either table, or NULL. */
static struct memtable_slot *lookup(const struct memtable *mt, const uint8_t id[KDB_ID_SIZE],
                                    bool edge)
{
    struct memtable_slot *slot;

    /* An empty one (a reader's): no slot is touched, nor its page faulted in. */
    if (mt->used_count == 0 && !mt->old) return NULL;
    slot = find_slot(mt->slots, mt->slot_count, mt->seed, id, edge);

    if (slot->entry.record) return slot;
    if (mt->old) {
        slot = find_slot(mt->old, mt->old_count, mt->seed, id, edge);
        if (slot->entry.record) return slot;
    }
    return NULL;
}

/* Moves up to count slots of the old table; frees it once drained. */
static void move_old(struct memtable *mt, size_t count)
{
    while (mt->old && count--) {
        const struct memtable_slot *old = &mt->old[mt->old_cursor++];
        if (old->entry.record) {
            /* Skip ids put again since growing began: the new table has them newer. */
            struct memtable_slot *slot =
                find_slot(mt->slots, mt->slot_count, mt->seed, old->id, old->entry.edge);
            if (!slot->entry.record) *slot = *old;
        }
        if (mt->old_cursor == mt->old_count) {
            env_free(mt->env, mt->old_memory);
            mt->old_memory = NULL;
            mt->old = NULL;
        }
    }
}

int memtable_presize(struct memtable *mt, size_t count)
{
    size_t slots = mt->slot_count;
    void *memory;
    struct memtable_slot *table;

    kdb_assert(mt->used_count == 0 && !mt->old);
    while (slots / 2 < count && slots <= SIZE_MAX / 4)
        slots *= 2;
    if (slots == mt->slot_count) return 0;
    table = slots_new(mt->env, slots, &memory);
    if (!table) return -ENOMEM;
    env_free(mt->env, mt->slots_memory);
    mt->slots_memory = memory;
    mt->slots = table;
    mt->slot_count = slots;
    return 0;
}

int memtable_reserve(struct memtable *mt)
{
    return memtable_reserve_n(mt, 1);
}

int memtable_reserve_n(struct memtable *mt, size_t n)
{
    struct memtable_slot *slots;
    void *memory;
    size_t count;

    move_old(mt, MEMTABLE_MOVE_STEP);
    if (2 * (mt->used_count + n) <= mt->slot_count) return 0;
    /* Rare: the new table filled before the old one drained. */
    move_old(mt, SIZE_MAX);
    count = mt->slot_count;
    while (count < 2 * (mt->used_count + n)) {
        if (count > SIZE_MAX / 4) return -ENOMEM;
        count *= 2;
    }
    slots = slots_new(mt->env, count, &memory);
    if (!slots) return -ENOMEM;
    mt->old = mt->slots;
    mt->old_memory = mt->slots_memory;
    mt->old_count = mt->slot_count;
    mt->old_cursor = 0;
    mt->slots_memory = memory;
    mt->slots = slots;
    mt->slot_count = count;
    return 0;
}

bool memtable_put(struct memtable *mt, const uint8_t id[KDB_ID_SIZE],
                  const struct memtable_entry *entry, struct memtable_entry *previous)
{
    bool edge = entry->edge != 0;
    struct memtable_slot *slot = find_slot(mt->slots, mt->slot_count, mt->seed, id, edge);
    const struct memtable_slot *found = slot->entry.record ? slot : NULL;

    kdb_assert(entry->record != NULL);
    if (!found && mt->old) {
        const struct memtable_slot *old = find_slot(mt->old, mt->old_count, mt->seed, id, edge);
        if (old->entry.record) found = old;
    }
    if (previous) *previous = found ? found->entry : (struct memtable_entry){0};
    if (!slot->entry.record) {
        memcpy(slot->id, id, KDB_ID_SIZE);
        if (!found) {
            kdb_assert(2 * (mt->used_count + 1) <= mt->slot_count);
            mt->used_count++;
        }
    }
    slot->entry = *entry;
    return found != NULL;
}

void memtable_prefetch(const struct memtable *mt, const uint8_t id[KDB_ID_SIZE])
{
    size_t index = (size_t)hash_id_seeded(id, mt->seed) & (mt->slot_count - 1);
    __builtin_prefetch(&mt->slots[index], 1);
}

const struct memtable_entry *memtable_find(const struct memtable *mt, const uint8_t id[KDB_ID_SIZE],
                                           bool edge)
{
    const struct memtable_slot *slot = lookup(mt, id, edge);
    return slot ? &slot->entry : NULL;
}

int memtable_scan(const struct memtable *mt, memtable_entry_fn fn, void *fn_ctx)
{
    for (size_t i = 0; i < mt->slot_count; i++) {
        if (mt->slots[i].entry.record) {
            int rc = fn(fn_ctx, mt->slots[i].id, &mt->slots[i].entry);
            if (rc) return rc;
        }
    }
    /* Ids still only in the old table. */
    for (size_t i = mt->old ? mt->old_cursor : 0; mt->old && i < mt->old_count; i++) {
        const struct memtable_slot *old = &mt->old[i];
        if (old->entry.record &&
            !find_slot(mt->slots, mt->slot_count, mt->seed, old->id, old->entry.edge)
                 ->entry.record) {
            int rc = fn(fn_ctx, old->id, &old->entry);
            if (rc) return rc;
        }
    }
    return 0;
}

/*
 * Sorting a memtable for a flush: an LSD radix sort over the ids' first 8
 * bytes (read big-endian, so numeric order is memcmp order), a byte a pass,
 * skipping passes in which every id has the same byte; then each run that
 * shares those 8 bytes is put in order by qsort. Random ids leave runs of
 * one and cost 8 linear passes; ids that share a prefix cost what a qsort
 * of them would.
 */
struct sort_item {
    uint64_t key; /* the id's first 8 bytes, big-endian */
    struct memtable_ref ref;
};

struct sorted_ctx {
    struct sort_item *items; /* blocks from the front, edges from the back */
    size_t blocks;
    size_t edges;
    size_t capacity;
};

static int add_item(void *fn_ctx, const uint8_t id[KDB_ID_SIZE], const struct memtable_entry *entry)
{
    struct sorted_ctx *ctx = fn_ctx;
    uint64_t key = get_be64(id);

    kdb_assert(ctx->blocks + ctx->edges < ctx->capacity);
    ctx->items[entry->edge ? ctx->capacity - ++ctx->edges : ctx->blocks++] =
        (struct sort_item){.key = key, .ref = {.id = id, .entry = entry}};
    return 0;
}

static int compare_refs(const void *a, const void *b)
{
    return memcmp(((const struct memtable_ref *)a)->id, ((const struct memtable_ref *)b)->id,
                  KDB_ID_SIZE);
}

/* Sorts items by key into whichever of items and spare; returns that one. */
static struct sort_item *radix_sort(struct sort_item *items, struct sort_item *spare, size_t n)
{
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t count[256] = {0};
        size_t at = 0;

        for (size_t i = 0; i < n; i++)
            count[(items[i].key >> shift) & 0xff]++;
        if (count[(items[0].key >> shift) & 0xff] == n) continue; /* one byte for all */
        for (size_t b = 0; b < 256; b++) {
            size_t c = count[b];
            count[b] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            spare[count[(items[i].key >> shift) & 0xff]++] = items[i];
        struct sort_item *t = items;
        items = spare;
        spare = t;
    }
    return items;
}

/* Sorts items[0..n) into refs[0..n): radix, then each run of equal keys by memcmp. */
static void sort_into(struct sort_item *items, struct sort_item *spare, size_t n,
                      struct memtable_ref *refs)
{
    struct sort_item *sorted = n ? radix_sort(items, spare, n) : items;

    for (size_t i = 0; i < n; i++)
        refs[i] = sorted[i].ref;
    for (size_t i = 0, run; i < n; i += run) {
        for (run = 1; i + run < n && sorted[i + run].key == sorted[i].key; run++) {
        }
        if (run > 1) qsort(refs + i, run, sizeof(*refs), compare_refs);
    }
}

int memtable_sorted(const struct memtable *mt, struct memtable_ref **out, size_t *count,
                    size_t *block_count)
{
    size_t n = mt->used_count;
    struct sorted_ctx ctx = {.capacity = n};
    struct sort_item *spare;
    struct memtable_ref *refs;
    int rc;

    *out = NULL;
    *count = 0;
    *block_count = 0;
    refs = env_malloc(mt->env, (n ? n : 1) * sizeof(*refs));
    ctx.items = env_malloc(mt->env, (n ? n : 1) * sizeof(*ctx.items));
    spare = env_malloc(mt->env, (n ? n : 1) * sizeof(*spare));
    if (!refs || !ctx.items || !spare) {
        env_free(mt->env, refs);
        env_free(mt->env, ctx.items);
        env_free(mt->env, spare);
        return -ENOMEM;
    }
    rc = memtable_scan(mt, add_item, &ctx);
    kdb_assert(rc == 0 && ctx.blocks + ctx.edges == n);
    sort_into(ctx.items, spare, ctx.blocks, refs);
    sort_into(ctx.items + ctx.blocks, spare + ctx.blocks, ctx.edges, refs + ctx.blocks);
    env_free(mt->env, ctx.items);
    env_free(mt->env, spare);
    *out = refs;
    *count = n;
    *block_count = ctx.blocks;
    return 0;
}

uint64_t memtable_bytes(const struct memtable *mt)
{
    size_t slots = mt->slot_count + (mt->old ? mt->old_count : 0);
    return mt->arena.bytes_held + slots * sizeof(struct memtable_slot);
}
