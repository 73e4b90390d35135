/* SPDX-License-Identifier: MIT */
/*
 * test_edges.c: edges and graph queries through the public API.
 *
 * Goal: an edge needs both ends and a known type; it is a set member (a
 * second put logs nothing); it is visible both ways at once; a block's
 * delete takes its edges in both directions, and they stay gone when the
 * block comes back, through flush, compaction and reopen; traversals,
 * paths and batch gets answer as documented, into a result that is reused.
 * Method: small databases on tests/vfs_mem.c, in the foreground so that
 * flushes happen where the test says; the randomized model runs and crash
 * sweeps of test_db and test_lsm cover edges too (test_util.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "checksum.h"
#include "kdb.h"
#include "test_util.h"
#include "vfs_mem.h"

#define DB "db"

struct fixture {
    struct vfs_mem *mem;
    struct kdb_options options;
    struct kdb *db;
    struct kdb_result *r;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->mem = vfs_mem_new(5);
    test_options(&f->options, vfs_mem_vfs(f->mem));
    f->options.flags |= KDB_OPEN_FOREGROUND;
    f->options.memtable_size_bytes = 64 << 10;
    assert_int_equal(kdb_open(DB, &f->options, &f->db), 0);
    assert_int_equal(kdb_result_new(f->db, &f->r), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    kdb_result_free(f->r);
    assert_int_equal(kdb_close(f->db), 0);
    vfs_mem_free(f->mem);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    kdb_result_free(f->r);
    assert_int_equal(kdb_close(f->db), 0);
    assert_int_equal(kdb_open(DB, &f->options, &f->db), 0);
    assert_int_equal(kdb_result_new(f->db, &f->r), 0);
}

static void put(struct fixture *f, unsigned i)
{
    struct kdb_block block = {.id = test_id(i), .content = "x", .content_len = 1};
    assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
}

static int link(struct fixture *f, unsigned s, unsigned type, unsigned t)
{
    struct kdb_edge e = {.source = test_id(s), .target = test_id(t), .type = type};
    return kdb_put_edge(f->db, &e);
}

static int unlink_edge(struct fixture *f, unsigned s, unsigned type, unsigned t)
{
    struct kdb_edge e = {.source = test_id(s), .target = test_id(t), .type = type};
    return kdb_delete_edge(f->db, &e);
}

static size_t edges(struct fixture *f, unsigned i, unsigned direction, uint32_t mask)
{
    struct kdb_id id = test_id(i);
    assert_int_equal(kdb_edges(f->db, &id, direction, mask, f->r), 0);
    return f->r->count;
}

static uint64_t last_sequence(struct fixture *f)
{
    struct kdb_stats stats;
    kdb_get_stats(f->db, &stats);
    return stats.last_sequence;
}

static uint64_t edge_count(struct fixture *f)
{
    struct kdb_stats stats;
    kdb_get_stats(f->db, &stats);
    return stats.edge_count;
}

static void test_edges_need_both_ends_and_a_type(void **state)
{
    struct fixture *f = *state;
    struct kdb_id missing = test_id(9);

    put(f, 1);
    put(f, 2);
    assert_int_equal(link(f, 1, 0, 2), -EINVAL);
    assert_int_equal(link(f, 1, KDB_EDGE_TYPE_MAX + 1, 2), -EINVAL);
    assert_int_equal(link(f, 1, KDB_EDGE_CALLS, 9), -ENOENT);
    assert_int_equal(link(f, 9, KDB_EDGE_CALLS, 1), -ENOENT);
    assert_int_equal(unlink_edge(f, 1, KDB_EDGE_CALLS, 2), -ENOENT);
    assert_int_equal(unlink_edge(f, 1, 0, 2), -EINVAL);
    assert_int_equal(edge_count(f), 0);
    assert_int_equal(kdb_edges(f->db, &missing, KDB_DIRECTION_OUT, 0, f->r), -ENOENT);
    assert_int_equal(edges(f, 1, KDB_DIRECTION_BOTH, 0), 0); /* a block without edges */
    assert_int_equal(kdb_edges(f->db, &(struct kdb_id){0}, 0, 0, f->r), -EINVAL);
    {
        struct kdb_id one = test_id(1);
        assert_int_equal(kdb_edges(f->db, &one, 4, 0, f->r), -EINVAL);
        assert_int_equal(kdb_edges(f->db, &one, KDB_DIRECTION_OUT, 1u, f->r), -EINVAL);
        assert_int_equal(kdb_edges(f->db, &one, KDB_DIRECTION_OUT, 1u << 12, f->r), -EINVAL);
    }
}

static void test_edges_are_a_set_visible_both_ways_at_once(void **state)
{
    struct fixture *f = *state;
    uint64_t seq;

    for (unsigned i = 1; i <= 3; i++)
        put(f, i);
    assert_int_equal(link(f, 1, KDB_EDGE_CALLS, 2), 0);
    seq = last_sequence(f);
    assert_int_equal(link(f, 1, KDB_EDGE_CALLS, 2), 0); /* again: nothing logged */
    assert_int_equal(last_sequence(f), seq);
    assert_int_equal(link(f, 1, KDB_EDGE_REFERENCES, 2), 0); /* another type: another edge */
    assert_int_equal(link(f, 3, KDB_EDGE_CALLS, 2), 0);
    assert_int_equal(link(f, 2, KDB_EDGE_DEFINED_IN, 3), 0);
    assert_int_equal(edge_count(f), 4);

    /* The target's incoming edges, before any flush. */
    assert_int_equal(edges(f, 2, KDB_DIRECTION_IN, 0), 3);
    struct kdb_id one = test_id(1), two = test_id(2);
    assert_memory_equal(&f->r->edges[0].source, &one, sizeof(one));
    assert_memory_equal(&f->r->edges[0].target, &two, sizeof(two));
    assert_int_equal(f->r->edges[0].type, KDB_EDGE_CALLS);
    assert_int_equal(f->r->edges[1].type, KDB_EDGE_REFERENCES); /* the order they came in */
    assert_int_equal(edges(f, 2, KDB_DIRECTION_IN, 1u << KDB_EDGE_CALLS), 2);
    assert_int_equal(edges(f, 2, KDB_DIRECTION_OUT, 0), 1);
    assert_int_equal(edges(f, 2, KDB_DIRECTION_BOTH, 0), 4);
    assert_int_equal(f->r->edges[0].type, KDB_EDGE_DEFINED_IN); /* out first */
    assert_int_equal(edges(f, 1, KDB_DIRECTION_OUT, 1u << KDB_EDGE_IMPORTS), 0);

    assert_int_equal(unlink_edge(f, 1, KDB_EDGE_CALLS, 2), 0);
    assert_int_equal(unlink_edge(f, 1, KDB_EDGE_CALLS, 2), -ENOENT);
    assert_int_equal(edges(f, 1, KDB_DIRECTION_OUT, 0), 1);
    assert_int_equal(edges(f, 2, KDB_DIRECTION_IN, 0), 2);
    /* The same after a flush, a compaction and a reopen. */
    for (int step = 0; step < 3; step++) {
        if (step == 0) assert_int_equal(kdb_flush(f->db), 0);
        if (step == 1) assert_int_equal(kdb_compact(f->db), 0);
        if (step == 2) reopen(f);
        assert_int_equal(edge_count(f), 3);
        assert_int_equal(edges(f, 2, KDB_DIRECTION_IN, 0), 2);
        assert_int_equal(edges(f, 1, KDB_DIRECTION_OUT, 0), 1);
        assert_int_equal(f->r->edges[0].type, KDB_EDGE_REFERENCES);
    }
}

static void test_edges_go_with_their_block_and_stay_gone(void **state)
{
    struct fixture *f = *state;
    struct kdb_id hub = test_id(1);

    for (unsigned i = 1; i <= 5; i++)
        put(f, i);
    assert_int_equal(link(f, 1, KDB_EDGE_CALLS, 2), 0);
    assert_int_equal(link(f, 1, KDB_EDGE_CALLS, 3), 0);
    assert_int_equal(link(f, 4, KDB_EDGE_CALLS, 1), 0);
    assert_int_equal(link(f, 1, KDB_EDGE_CALLS, 1), 0); /* a self-loop */
    assert_int_equal(link(f, 4, KDB_EDGE_CALLS, 5), 0); /* not the hub's */
    assert_int_equal(kdb_flush(f->db), 0);              /* the edges are in a table now */
    assert_int_equal(kdb_delete_block(f->db, &hub), 0);
    assert_int_equal(edge_count(f), 1);
    assert_int_equal(edges(f, 2, KDB_DIRECTION_IN, 0), 0);
    assert_int_equal(edges(f, 4, KDB_DIRECTION_OUT, 0), 1);
    assert_int_equal(kdb_edges(f->db, &hub, KDB_DIRECTION_BOTH, 0, f->r), -ENOENT);
    /* Gone with its edges, it takes no new one either way (the index held it). */
    assert_int_equal(link(f, 4, KDB_EDGE_CALLS, 1), -ENOENT);
    assert_int_equal(link(f, 1, KDB_EDGE_CALLS, 5), -ENOENT);
    /* The block comes back without its old edges, whatever the tables hold. */
    put(f, 1);
    for (int step = 0; step < 4; step++) {
        if (step == 1) assert_int_equal(kdb_flush(f->db), 0);
        if (step == 2) reopen(f);
        if (step == 3) assert_int_equal(kdb_compact(f->db), 0);
        assert_int_equal(edges(f, 1, KDB_DIRECTION_BOTH, 0), 0);
        assert_int_equal(edge_count(f), 1);
        assert_int_equal(edges(f, 5, KDB_DIRECTION_IN, 0), 1);
    }
    reopen(f);
    assert_int_equal(edge_count(f), 1);
    assert_int_equal(link(f, 1, KDB_EDGE_CALLS, 2), 0); /* and takes new ones */
    assert_int_equal(edges(f, 2, KDB_DIRECTION_IN, 0), 1);
    /* So for a block whose edges the index holds only in the graph file. */
    put(f, 6);
    put(f, 7);
    assert_int_equal(link(f, 6, KDB_EDGE_CALLS, 7), 0);
    reopen(f);
    {
        struct kdb_id seven = test_id(7);
        assert_int_equal(kdb_delete_block(f->db, &seven), 0);
        assert_int_equal(link(f, 6, KDB_EDGE_CALLS, 7), -ENOENT);
        assert_int_equal(link(f, 7, KDB_EDGE_CALLS, 6), -ENOENT);
        reopen(f);
        assert_int_equal(link(f, 6, KDB_EDGE_CALLS, 7), -ENOENT);
        assert_int_equal(edges(f, 6, KDB_DIRECTION_BOTH, 0), 0);
    }
}

static void test_edges_traversal_and_path(void **state)
{
    struct fixture *f = *state;
    struct kdb_walk walk = {.direction = KDB_DIRECTION_OUT, .max_depth = KDB_NONE};
    struct kdb_id a = test_id(0), z = test_id(5), lone = test_id(7), missing = test_id(9);

    /* 0 -> 1 -> 2 -> 3 -> 4 -> 5, 2 -> 0 (a cycle), 1 -references-> 4 (a shortcut). */
    for (unsigned i = 0; i <= 7; i++)
        put(f, i);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(link(f, i, KDB_EDGE_CALLS, i + 1), 0);
    assert_int_equal(link(f, 2, KDB_EDGE_CALLS, 0), 0);
    assert_int_equal(link(f, 1, KDB_EDGE_REFERENCES, 4), 0);

    assert_int_equal(kdb_traverse(f->db, &a, &walk, f->r), 0);
    assert_int_equal(f->r->count, 6); /* each once, the cycle notwithstanding */
    assert_memory_equal(&f->r->nodes[0].id, &a, sizeof(a));
    assert_int_equal(f->r->nodes[0].parent, KDB_NONE);
    for (size_t i = 1; i < f->r->count; i++) {
        assert_true(f->r->nodes[i].depth >= f->r->nodes[i - 1].depth); /* nearer first */
        assert_int_equal(f->r->nodes[f->r->nodes[i].parent].depth + 1, f->r->nodes[i].depth);
    }
    walk.max_depth = 2;
    assert_int_equal(kdb_traverse(f->db, &a, &walk, f->r), 0);
    assert_int_equal(f->r->count, 4); /* 0; 1; 2 and 4 */
    walk.type_mask = 1u << KDB_EDGE_CALLS;
    assert_int_equal(kdb_traverse(f->db, &a, &walk, f->r), 0);
    assert_int_equal(f->r->count, 3);
    walk = (struct kdb_walk){.direction = KDB_DIRECTION_IN, .max_depth = KDB_NONE, .limit = 2};
    assert_int_equal(kdb_traverse(f->db, &z, &walk, f->r), 0);
    assert_int_equal(f->r->count, 2);
    assert_true(f->r->nodes[1].reversed);
    walk.limit = 0;
    assert_int_equal(kdb_traverse(f->db, &lone, &walk, f->r), 0);
    assert_int_equal(f->r->count, 1); /* a block without edges: itself */
    assert_int_equal(kdb_traverse(f->db, &missing, &walk, f->r), -ENOENT);
    walk.direction = 0;
    assert_int_equal(kdb_traverse(f->db, &a, &walk, f->r), -EINVAL);

    walk = (struct kdb_walk){.direction = KDB_DIRECTION_OUT, .max_depth = KDB_NONE};
    assert_int_equal(kdb_path(f->db, &a, &z, &walk, f->r), 0);
    assert_int_equal(f->r->count, 4); /* 0 1 4 5 */
    struct kdb_id four = test_id(4);
    assert_memory_equal(&f->r->nodes[2].id, &four, sizeof(four));
    assert_int_equal(f->r->nodes[2].type, KDB_EDGE_REFERENCES);
    assert_int_equal(kdb_path(f->db, &z, &a, &walk, f->r), 0);
    assert_int_equal(f->r->count, 0); /* no way back along the edges */
    walk.direction = KDB_DIRECTION_IN;
    assert_int_equal(kdb_path(f->db, &z, &a, &walk, f->r), 0);
    assert_int_equal(f->r->count, 4);
    assert_int_equal(kdb_path(f->db, &a, &lone, &walk, f->r), 0);
    assert_int_equal(f->r->count, 0);
    assert_int_equal(kdb_path(f->db, &a, &a, &walk, f->r), 0);
    assert_int_equal(f->r->count, 1);
    assert_int_equal(kdb_path(f->db, &a, &missing, &walk, f->r), -ENOENT);
}

static void test_edges_batch_get_and_result_reuse(void **state)
{
    struct fixture *f = *state;
    struct kdb_id ids[5] = {test_id(1), test_id(9), test_id(2), test_id(1), test_id(8)};
    struct kdb_block block = {.id = test_id(2), .content = "two", .content_len = 3};

    put(f, 1);
    assert_int_equal(kdb_put_block(f->db, &block, NULL), 0);
    assert_int_equal(kdb_get_blocks(f->db, ids, 5, f->r), 0);
    assert_int_equal(f->r->count, 5);
    assert_true(f->r->blocks[0].version > 0);
    assert_int_equal(f->r->blocks[1].version, 0); /* missing */
    assert_memory_equal(&f->r->blocks[1].id, &ids[1], sizeof(ids[1]));
    assert_int_equal(f->r->blocks[2].content_len, 3);
    assert_memory_equal(f->r->blocks[2].content, "two", 3);
    assert_int_equal(f->r->blocks[3].version, f->r->blocks[0].version);
    assert_int_equal(f->r->blocks[4].version, 0);
    assert_null(f->r->edges);
    assert_null(f->r->nodes);
    /* The same result, a query of another kind and a larger answer. */
    for (unsigned i = 10; i < 200; i++) { /* test ids are distinct below 256 */
        put(f, i);
        assert_int_equal(link(f, 1, KDB_EDGE_CONTAINS, i), 0);
    }
    assert_int_equal(edges(f, 1, KDB_DIRECTION_OUT, 0), 190);
    assert_null(f->r->blocks);
    assert_int_equal(kdb_get_blocks(f->db, ids, 0, f->r), 0);
    assert_int_equal(f->r->count, 0);
    assert_int_equal(kdb_flush(f->db), 0);
    assert_int_equal(kdb_get_blocks(f->db, ids, 3, f->r), 0); /* from a table */
    assert_memory_equal(f->r->blocks[2].content, "two", 3);
}

/* ---- the graph file ---- */

#define MODEL_BLOCKS 24 /* blocks 1..MODEL_BLOCKS */

struct model {
    uint32_t edge[MODEL_BLOCKS + 1][MODEL_BLOCKS + 1]; /* bit ty: s -ty-> t */
    uint64_t count;
};

/* Every block's out-edges and in-edge count through kdb_edges(), and the count, as the model's. */
static void check_model(struct fixture *f, const struct model *m)
{
    assert_int_equal(edge_count(f), m->count);
    for (unsigned s = 1; s <= MODEL_BLOCKS; s++) {
        unsigned out = 0, in = 0;
        for (unsigned t = 1; t <= MODEL_BLOCKS; t++) {
            out += (unsigned)__builtin_popcount(m->edge[s][t]);
            in += (unsigned)__builtin_popcount(m->edge[t][s]);
        }
        assert_int_equal(edges(f, s, KDB_DIRECTION_OUT, 0), out);
        for (size_t i = 0; i < f->r->count; i++) {
            unsigned t = 0;
            for (unsigned k = 1; k <= MODEL_BLOCKS && !t; k++) {
                struct kdb_id id = test_id(k);
                if (memcmp(&id, &f->r->edges[i].target, sizeof(id)) == 0) t = k;
            }
            assert_true(t != 0);
            assert_true((m->edge[s][t] >> f->r->edges[i].type) & 1);
        }
        assert_int_equal(edges(f, s, KDB_DIRECTION_IN, 0), in);
    }
}

static void reopen_with(struct fixture *f, unsigned flags)
{
    unsigned kept = f->options.flags;

    f->options.flags = flags;
    reopen(f);
    f->options.flags = kept;
}

/* A clone of f's files as a power cut would leave them, opened in f's place (f's handle closed). */
static void crash_into_clone(struct fixture *f)
{
    struct vfs_mem *crashed = vfs_mem_clone(f->mem);

    assert_non_null(crashed);
    vfs_mem_crash(crashed);
    kdb_result_free(f->r);
    f->r = NULL;
    assert_int_equal(kdb_close(f->db), 0);
    vfs_mem_free(f->mem);
    f->mem = crashed;
    f->options.vfs = vfs_mem_vfs(crashed);
    assert_int_equal(kdb_open(DB, &f->options, &f->db), 0);
    assert_int_equal(kdb_result_new(f->db, &f->r), 0);
}

/*
 * The index an open takes from GRAPH is the one the tables make, with the
 * log on top: after closes that flush and write it, closes that keep the
 * log (the file stays, the log adds to it), a kill after a flush (the file
 * is stale: rebuilt), and a damaged header (rebuilt); changes on top of it
 * include a block's delete, which must take the edges the file holds.
 */
static void test_edges_graph_file_matches_the_tables(void **state)
{
    struct fixture *f = *state;
    struct model *m = calloc(1, sizeof(*m));
    uint64_t x = test_seed(20261128) | 1;

    assert_non_null(m);
    for (unsigned i = 1; i <= MODEL_BLOCKS; i++)
        put(f, i);
    for (unsigned round = 0; round < 16; round++) {
        for (unsigned op = 0; op < 40; op++) {
            unsigned s = 1 + (unsigned)(test_random(&x) % MODEL_BLOCKS);
            unsigned t = 1 + (unsigned)(test_random(&x) % MODEL_BLOCKS);
            unsigned ty = 1 + (unsigned)(test_random(&x) % 3);
            unsigned what = (unsigned)(test_random(&x) % 100);
            uint32_t bit = UINT32_C(1) << ty;
            if (what < 60) {
                assert_int_equal(link(f, s, ty, t), 0);
                m->count += !(m->edge[s][t] & bit);
                m->edge[s][t] |= bit;
            } else if (what < 95) {
                assert_int_equal(unlink_edge(f, s, ty, t), m->edge[s][t] & bit ? 0 : -ENOENT);
                m->count -= !!(m->edge[s][t] & bit);
                m->edge[s][t] &= ~bit;
            } else {
                struct kdb_id id = test_id(s);
                assert_int_equal(kdb_delete_block(f->db, &id), 0);
                for (unsigned o = 1; o <= MODEL_BLOCKS; o++) {
                    m->count -= (uint64_t)__builtin_popcount(m->edge[s][o]);
                    if (o != s) m->count -= (uint64_t)__builtin_popcount(m->edge[o][s]);
                    m->edge[s][o] = m->edge[o][s] = 0;
                }
                put(f, s);
            }
        }
        switch (round % 4) {
        case 0: /* a close flushes and saves the index */
            reopen(f);
            assert_true(vfs_mem_file_size(f->mem, DB "/GRAPH") > 0);
            break;
        case 1: /* a close that keeps the log: the file stays right under it */
            reopen_with(f, f->options.flags | KDB_OPEN_KEEP_LOG);
            break;
        case 2: /* killed after a flush: the file no longer matches the tables */
            assert_int_equal(kdb_flush(f->db), 0);
            assert_int_equal(kdb_sync(f->db), 0);
            crash_into_clone(f);
            break;
        default: { /* a damaged header: rebuilt from the tables */
            uint8_t *data;
            reopen(f);
            kdb_result_free(f->r);
            assert_int_equal(kdb_close(f->db), 0);
            data = vfs_mem_file_data(f->mem, DB "/GRAPH");
            assert_non_null(data);
            data[30] ^= 0x40;
            assert_int_equal(kdb_open(DB, &f->options, &f->db), 0);
            assert_int_equal(kdb_result_new(f->db, &f->r), 0);
            break;
        }
        }
        check_model(f, m);
        assert_int_equal(kdb_check(f->db, NULL), 0); /* the graph file against the tables too */
    }
    free(m);
}

/* Puts random edges (some twice) between the model's blocks, through several flushes. */
static void load_edges(struct fixture *f, struct model *m, uint64_t *x, unsigned n)
{
    for (unsigned op = 0; op < n; op++) {
        unsigned s = 1 + (unsigned)(test_random(x) % MODEL_BLOCKS);
        unsigned t = 1 + (unsigned)(test_random(x) % MODEL_BLOCKS);
        unsigned ty = 1 + (unsigned)(test_random(x) % 3);
        assert_int_equal(link(f, s, ty, t), 0);
        m->count += !(m->edge[s][t] & (UINT32_C(1) << ty));
        m->edge[s][t] |= UINT32_C(1) << ty;
        if (op % 97 == 0) assert_int_equal(kdb_flush(f->db), 0);
    }
}

/*
 * A load (kdb_load_begin()) keeps no edge index while it runs: what needs
 * one is refused, and the close builds it from the tables and saves it.
 * The database is then the one the same puts make without a load. If the
 * loader is killed, the next open builds the index from the tables and
 * the log: every edge logged before the last sync is there.
 */
static void test_edges_load_is_indexed_at_the_close(void **state)
{
    struct fixture *f = *state;
    struct model *m = calloc(1, sizeof(*m)), *synced = calloc(1, sizeof(*synced));
    uint64_t x = test_seed(20261126) | 1;
    struct kdb_id one = test_id(1), two = test_id(2);
    struct kdb_walk walk = {.direction = KDB_DIRECTION_OUT, .max_depth = 3};

    assert_non_null(m);
    assert_non_null(synced);
    assert_int_equal(kdb_load_begin(f->db), 0);
    for (unsigned i = 1; i <= MODEL_BLOCKS; i++)
        put(f, i);
    load_edges(f, m, &x, 600);
    assert_int_equal(link(f, 1, 0, 2), -EINVAL); /* the type is still checked */
    assert_int_equal(edge_count(f), 0);          /* none indexed yet */
    assert_int_equal(kdb_edges(f->db, &one, KDB_DIRECTION_OUT, 0, f->r), -EBUSY);
    assert_int_equal(kdb_traverse(f->db, &one, &walk, f->r), -EBUSY);
    assert_int_equal(kdb_path(f->db, &one, &two, &walk, f->r), -EBUSY);
    assert_int_equal(unlink_edge(f, 1, KDB_EDGE_CALLS, 2), -EBUSY);
    assert_int_equal(kdb_delete_block(f->db, &one), -EBUSY);
    reopen(f);
    assert_true(vfs_mem_file_size(f->mem, DB "/GRAPH") > 0);
    check_model(f, m);
    assert_int_equal(kdb_check(f->db, NULL), 0); /* the graph file against the tables */
    assert_int_equal(kdb_load_begin(f->db), -ENOTEMPTY);

    /* Killed during a load: no graph file for what it added; the tables and the log have it all. */
    reopen(f);
    for (unsigned i = 1; i <= MODEL_BLOCKS; i++) { /* an empty database again: */
        struct kdb_id id = test_id(i);
        assert_int_equal(kdb_delete_block(f->db, &id), 0);
    }
    memset(m, 0, sizeof(*m));
    assert_int_equal(kdb_load_begin(f->db), 0);
    for (unsigned i = 1; i <= MODEL_BLOCKS; i++)
        put(f, i);
    load_edges(f, m, &x, 300);
    assert_int_equal(kdb_sync(f->db), 0);
    *synced = *m;
    load_edges(f, m, &x, 50); /* not synced: may be lost, as any change */
    crash_into_clone(f);
    {
        uint64_t count = edge_count(f);
        assert_true(count >= synced->count && count <= m->count);
        if (count == synced->count) check_model(f, synced);
        if (count == m->count) check_model(f, m);
    }
    assert_int_equal(kdb_check(f->db, NULL), 0);
    free(synced);
    free(m);
}

/* The id kausal put derives, and the ingester will give: XXH3-128 of URI, kind and name, NUL-joined. */
static void test_edges_symbol_id_is_xxh3_128_of_its_parts(void **state)
{
    static const char joined[] = "src/a.c\0function\0parse";
    struct kdb_id id, other;
    uint8_t expected[16];

    (void)state;
    kdb_id_for_symbol("src/a.c", 7, "function", 8, "parse", 5, &id);
    checksum_128(joined, sizeof(joined) - 1, 0, expected);
    assert_memory_equal(id.bytes, expected, 16);
    kdb_id_for_symbol("src/a.c", 7, "function", 8, "parsE", 5, &other);
    assert_memory_not_equal(id.bytes, other.bytes, 16);
    kdb_id_for_symbol("src/a.cfunction", 15, "", 0, "parse", 5, &other); /* NULs keep parts apart */
    assert_memory_not_equal(id.bytes, other.bytes, 16);

    /* A long path is hashed in parts: the same as its bytes at once. */
    char path[600], long_joined[700];
    memset(path, 'd', sizeof(path));
    path[sizeof(path) - 1] = 'c';
    memcpy(long_joined, path, sizeof(path));
    memcpy(long_joined + sizeof(path), "\0macro\0M", 8);
    kdb_id_for_symbol(path, sizeof(path), "macro", 5, "M", 1, &id);
    checksum_128(long_joined, sizeof(path) + 8, 0, expected);
    assert_memory_equal(id.bytes, expected, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_edges_need_both_ends_and_a_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edges_are_a_set_visible_both_ways_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_edges_go_with_their_block_and_stay_gone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_edges_graph_file_matches_the_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edges_load_is_indexed_at_the_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edges_traversal_and_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edges_batch_get_and_result_reuse, setup, teardown),
        cmocka_unit_test(test_edges_symbol_id_is_xxh3_128_of_its_parts),
    };
    return cmocka_run_group_tests_name("edges", tests, NULL, NULL);
}
