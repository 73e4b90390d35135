/* SPDX-License-Identifier: MIT */
/*
 * test_memtable.c: the arena and the memtable's hash table.
 *
 * Goal: arena memory is aligned, survives until reset, and large requests
 * get chunks of their own; the memtable finds every id after growing many
 * times, replaces in place, reports the previous record, scans each id once,
 * and turns a failed allocation into -ENOMEM with the table unchanged.
 * Method: direct calls; an allocator that fails on request.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "env.h"
#include "memtable.h"

struct failing {
    bool fail;     /* the next malloc returns NULL */
    unsigned live; /* allocations not yet freed */
};

static void *failing_malloc(void *ctx, size_t size)
{
    struct failing *f = ctx;
    void *p;

    if (f->fail) return NULL;
    p = malloc(size);
    f->live += p != NULL;
    return p;
}

static void *failing_realloc(void *ctx, void *ptr, size_t size)
{
    struct failing *f = ctx;
    return f->fail ? NULL : realloc(ptr, size);
}

static void failing_free(void *ctx, void *ptr)
{
    struct failing *f = ctx;
    f->live--;
    free(ptr);
}

struct fixture {
    struct failing failing;
    struct kdb_allocator allocator;
    struct env env;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct kdb_options options;

    assert_non_null(f);
    f->allocator = (struct kdb_allocator){
        .ctx = &f->failing,
        .malloc = failing_malloc,
        .realloc = failing_realloc,
        .free = failing_free,
    };
    kdb_options_init(&options);
    options.allocator = &f->allocator;
    env_init(&f->env, &options);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(f->failing.live, 0); /* nothing leaked */
    free(f);
    return 0;
}

static void test_arena_alignment_and_lifetime(void **state)
{
    struct fixture *f = *state;
    struct arena arena;
    uint8_t *small[100];

    arena_init(&arena, &f->env, 4096, 8);
    for (int i = 0; i < 100; i++) {
        small[i] = arena_alloc(&arena, (size_t)(i % 13) + 1);
        assert_non_null(small[i]);
        assert_int_equal((uintptr_t)small[i] % 8, 0);
        memset(small[i], i, (size_t)(i % 13) + 1);
    }
    uint8_t *big = arena_alloc(&arena, 100000); /* a chunk of its own */
    assert_non_null(big);
    memset(big, 0xee, 100000);
    uint8_t *after = arena_alloc(&arena, 8); /* still bumps the current chunk */
    assert_non_null(after);
    for (int i = 0; i < 100; i++)
        assert_int_equal(small[i][0], i);
    assert_true(arena.bytes_held >= 100000 + 4096);
    assert_true(arena.bytes_held < 100000 + 3 * 4096);
    f->failing.fail = true;
    assert_null(arena_alloc(&arena, 100000));
    f->failing.fail = false;
    arena_reset(&arena);
    assert_int_equal(arena.bytes_held, 0);
    assert_non_null(arena_alloc(&arena, 16));
    arena_release(&arena);
    /* Cache-line alignment, as the memtable asks for. */
    arena_init(&arena, &f->env, 4096, 64);
    for (int i = 0; i < 200; i++) {
        uint8_t *p = arena_alloc(&arena, (size_t)i * 7 + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        memset(p, 0xab, (size_t)i * 7 + 1);
    }
    arena_release(&arena);
}

/* This process's peak resident memory (VmHWM), in KiB. */
static long peak_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    assert_true(kib > 0);
    return kib;
}

/*
 * The default allocator grows a large block by moving its pages: what it
 * held is there, the rest is usable, the block is still 2 MiB aligned, and
 * the process's peak memory does not take the old and the new at once.
 */
static void test_env_realloc_moves_a_large_block(void **state)
{
    const size_t old = (size_t)64 << 20, size = (size_t)128 << 20;
    struct kdb_options options;
    struct env env;
    FILE *clear;
    long before;
    uint8_t *p;

    (void)state;
    kdb_options_init(&options); /* the default allocator */
    env_init(&env, &options);
    p = env_malloc(&env, old);
    assert_non_null(p);
    memset(p, 0x5a, old);
    clear = fopen("/proc/self/clear_refs", "w"); /* "5": the peak starts again from now */
    assert_non_null(clear);
    assert_int_equal(fputs("5", clear) >= 0, 1);
    assert_int_equal(fclose(clear), 0);
    before = peak_kib();
    p = env_realloc(&env, p, size);
    assert_non_null(p);
    assert_true(peak_kib() - before < 16 * 1024); /* a copy would add 64 MiB */
    assert_int_equal((uintptr_t)p % ((uintptr_t)2 << 20), 0);
    for (size_t i = 0; i < old; i += 4093)
        assert_int_equal(p[i], 0x5a);
    memset(p + old, 0xa5, size - old);
    assert_int_equal(p[size - 1], 0xa5);
    env_free(&env, p);
}

struct readied {
    uint8_t *memory[8];
    size_t size[8];
    unsigned count;
};

static void note_ready(void *ctx, void *memory, size_t size)
{
    struct readied *r = ctx;
    assert_true(r->count < 8);
    r->memory[r->count] = memory;
    r->size[r->count++] = size;
}

/* The arena hands its next chunk over before using it, and uses that very chunk next. */
static void test_arena_readies_the_next_chunk_before_using_it(void **state)
{
    struct fixture *f = *state;
    struct readied readied = {{0}, {0}, 0};
    struct arena arena;
    uint8_t *first, *p;

    arena_init(&arena, &f->env, 4096, 64);
    arena_set_ready(&arena, note_ready, &readied);
    first = arena_alloc(&arena, 1000);
    assert_non_null(first);
    assert_int_equal(readied.count, 1); /* the spare, taken once a chunk is in use */
    assert_int_equal(readied.size[0], 4096);
    /* Fill the first chunk; the first allocation beyond it comes from the readied one. */
    do {
        p = arena_alloc(&arena, 1000);
        assert_non_null(p);
    } while (p > first && p < first + 4096);
    assert_true(p >= readied.memory[0] && p + 1000 <= readied.memory[0] + readied.size[0]);
    assert_int_equal(readied.count, 2); /* and the one after is on its way */
    arena_release(&arena);              /* frees the spare too: teardown counts */
}

static void id_of(uint32_t n, uint8_t id[KDB_ID_SIZE])
{
    memset(id, 0, KDB_ID_SIZE);
    memcpy(id + 12, &n, sizeof(n)); /* differ only at the end: the hash must spread them */
}

static void test_memtable_finds_every_id_after_growth(void **state)
{
    struct fixture *f = *state;
    struct memtable mt;
    uint8_t id[KDB_ID_SIZE];
    const unsigned count = 50000;

    assert_int_equal(memtable_init(&mt, &f->env, 1 << 16, 12345), 0);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *record = memtable_alloc(&mt, sizeof(uint32_t));
        struct memtable_entry entry = {.record = record, .version = i};
        assert_non_null(record);
        assert_int_equal((uintptr_t)record % 64, 0);
        memcpy(record, &i, sizeof(i));
        id_of(i, id);
        assert_int_equal(memtable_reserve(&mt), 0);
        assert_false(memtable_put(&mt, id, &entry, NULL));
    }
    assert_true(mt.slot_count >= 2 * count);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t got;
        id_of(i, id);
        const struct memtable_entry *entry = memtable_get(&mt, id);
        assert_non_null(entry);
        assert_int_equal(entry->version, i);
        memcpy(&got, entry->record, sizeof(got));
        assert_int_equal(got, i);
    }
    id_of(count + 1, id);
    assert_null(memtable_get(&mt, id));
    memtable_release(&mt);
}

static int count_records(void *ctx, const uint8_t id[KDB_ID_SIZE],
                         const struct memtable_entry *entry)
{
    (void)id;
    (void)entry;
    (*(unsigned *)ctx)++;
    return 0;
}

static void test_memtable_put_replaces_and_returns_previous(void **state)
{
    struct fixture *f = *state;
    struct memtable mt;
    uint8_t id[KDB_ID_SIZE];
    static const uint8_t first[1] = {1}, second[1] = {2};
    struct memtable_entry a = {.record = first, .version = 1, .live = 1};
    struct memtable_entry b = {.record = second, .version = 2, .live = 0};
    struct memtable_entry previous;
    unsigned scanned = 0;

    assert_int_equal(memtable_init(&mt, &f->env, 4096, 1), 0);
    id_of(7, id);
    assert_int_equal(memtable_reserve(&mt), 0);
    assert_false(memtable_put(&mt, id, &a, &previous));
    assert_int_equal(memtable_reserve(&mt), 0);
    assert_true(memtable_put(&mt, id, &b, &previous));
    assert_ptr_equal(previous.record, first);
    assert_int_equal(previous.version, 1);
    assert_int_equal(previous.live, 1);
    assert_ptr_equal(memtable_get(&mt, id)->record, second);
    assert_int_equal(memtable_get(&mt, id)->live, 0);
    assert_int_equal(mt.used_count, 1);
    assert_int_equal(memtable_scan(&mt, count_records, &scanned), 0);
    assert_int_equal(scanned, 1);
    memtable_release(&mt);
}

struct scan_check {
    unsigned count;
    uint64_t *versions; /* expected version per id number */
};

static int check_scanned(void *ctx, const uint8_t id[KDB_ID_SIZE],
                         const struct memtable_entry *entry)
{
    struct scan_check *check = ctx;
    uint32_t n;

    memcpy(&n, id + 12, sizeof(n));
    assert_int_equal(entry->version, check->versions[n]);
    check->count++;
    return 0;
}

/* Growth moves slots a few at a time: updates, lookups and scans in between stay exact. */
static void test_memtable_growth_keeps_updates_lookups_and_scans_exact(void **state)
{
    struct fixture *f = *state;
    struct memtable mt;
    uint8_t id[KDB_ID_SIZE];
    static const uint8_t record[1] = {1};
    const uint32_t count = 20000;
    uint64_t *versions = calloc(count, sizeof(*versions));
    uint64_t version = 0;
    unsigned scans_while_growing = 0;

    assert_non_null(versions);
    assert_int_equal(memtable_init(&mt, &f->env, 4096, 99), 0);
    for (uint32_t i = 0; i < count; i++) {
        struct memtable_entry entry = {.record = record, .version = ++version, .live = 1};
        struct memtable_entry previous;
        id_of(i, id);
        assert_int_equal(memtable_reserve(&mt), 0);
        assert_false(memtable_put(&mt, id, &entry, &previous));
        versions[i] = version;
        /* Update an older id, which may still sit in the old table. */
        uint32_t j = i / 2;
        id_of(j, id);
        entry.version = ++version;
        assert_int_equal(memtable_reserve(&mt), 0);
        assert_true(memtable_put(&mt, id, &entry, &previous));
        assert_int_equal(previous.version, versions[j]);
        versions[j] = version;
        assert_int_equal(memtable_get(&mt, id)->version, version);
        if (mt.old && (i % 97) == 0) {
            struct scan_check check = {0, versions};
            assert_int_equal(memtable_scan(&mt, check_scanned, &check), 0);
            assert_int_equal(check.count, i + 1);
            scans_while_growing++;
        }
    }
    assert_true(scans_while_growing > 0);
    assert_int_equal(mt.used_count, count);
    for (uint32_t i = 0; i < count; i++) {
        id_of(i, id);
        assert_int_equal(memtable_get(&mt, id)->version, versions[i]);
    }
    memtable_release(&mt);
    free(versions);
}

static void test_memtable_reserve_failure_is_enomem_and_harmless(void **state)
{
    struct fixture *f = *state;
    struct memtable mt;
    uint8_t id[KDB_ID_SIZE];
    static const uint8_t record[1] = {9};
    struct memtable_entry entry = {.record = record};
    uint32_t n = 0;

    assert_int_equal(memtable_init(&mt, &f->env, 4096, 1), 0);
    /* Fill to the growth point. */
    for (;;) {
        if (2 * (mt.used_count + 1) > mt.slot_count) break;
        id_of(n++, id);
        assert_int_equal(memtable_reserve(&mt), 0);
        assert_false(memtable_put(&mt, id, &entry, NULL));
    }
    f->failing.fail = true;
    assert_int_equal(memtable_reserve(&mt), -ENOMEM);
    f->failing.fail = false;
    for (uint32_t i = 0; i < n; i++) {
        id_of(i, id);
        assert_ptr_equal(memtable_get(&mt, id)->record, record);
    }
    assert_int_equal(memtable_reserve(&mt), 0);
    memtable_release(&mt);
    f->failing.fail = true;
    assert_int_equal(memtable_init(&mt, &f->env, 4096, 1), -ENOMEM);
    f->failing.fail = false;
}

/*
 * A flush writes memtable_sorted()'s order as the table's: every block
 * once in id order, then every edge once in key order (memcmp order),
 * whether ids differ early (random), share their first eight bytes in
 * groups, or share all but the last byte; an edge key equal to a block id
 * is another entry.
 */
static void test_memtable_sorted_is_memcmp_order(void **state)
{
    struct fixture *f = *state;
    struct memtable mt;
    struct memtable_ref *refs = NULL;
    size_t count = 0, blocks = 0;
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    const unsigned n = 30000;
    size_t edges = 0;

    assert_int_equal(memtable_init(&mt, &f->env, 1 << 16, 777), 0);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t id[KDB_ID_SIZE];
        struct memtable_entry entry = {.record = memtable_alloc(&mt, 8), .version = i};

        assert_non_null(entry.record);
        for (size_t b = 0; b < KDB_ID_SIZE; b++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            id[b] = (uint8_t)x;
        }
        if (i % 3 == 1) memset(id, (int)(i % 7), 8);       /* a group sharing 8 bytes */
        if (i % 3 == 2) id_of(i, id);                      /* all but the tail shared */
        if (i % 11 == 0) id[0] = id[7] = (uint8_t)(i % 5); /* a few equal bytes per pass */
        assert_int_equal(memtable_reserve(&mt), 0);
        (void)memtable_put(&mt, id, &entry, NULL);
        if (i % 4 == 0) {
            /* The same bytes as an edge's key: another key space, another entry. */
            entry.edge = 1;
            assert_int_equal(memtable_reserve(&mt), 0);
            assert_false(memtable_put(&mt, id, &entry, NULL));
            edges++;
        }
    }
    assert_int_equal(memtable_sorted(&mt, &refs, &count, &blocks), 0);
    assert_int_equal(count, memtable_count(&mt));
    assert_int_equal(blocks, count - edges);
    for (size_t i = 0; i < count; i++) {
        bool edge = i >= blocks;
        assert_int_equal(refs[i].entry->edge, edge); /* blocks, then edges */
        assert_ptr_equal(memtable_find(&mt, refs[i].id, edge), refs[i].entry);
        if (i && i != blocks) assert_true(memcmp(refs[i - 1].id, refs[i].id, KDB_ID_SIZE) < 0);
    }
    env_free(&f->env, refs);
    /* An empty table sorts to nothing. */
    memtable_release(&mt);
    assert_int_equal(memtable_init(&mt, &f->env, 1 << 16, 778), 0);
    assert_int_equal(memtable_sorted(&mt, &refs, &count, &blocks), 0);
    assert_int_equal(count, 0);
    env_free(&f->env, refs);
    memtable_release(&mt);
    /* A failed allocation is -ENOMEM and leaves nothing behind. */
    assert_int_equal(memtable_init(&mt, &f->env, 1 << 16, 779), 0);
    f->failing.fail = true;
    assert_int_equal(memtable_sorted(&mt, &refs, &count, &blocks), -ENOMEM);
    f->failing.fail = false;
    memtable_release(&mt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_realloc_moves_a_large_block),
        cmocka_unit_test_setup_teardown(test_arena_alignment_and_lifetime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_readies_the_next_chunk_before_using_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_memtable_finds_every_id_after_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memtable_put_replaces_and_returns_previous, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_memtable_growth_keeps_updates_lookups_and_scans_exact,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_memtable_sorted_is_memcmp_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memtable_reserve_failure_is_enomem_and_harmless, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("memtable", tests, NULL, NULL);
}
