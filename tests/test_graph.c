/* SPDX-License-Identifier: MIT */
/*
 * test_graph.c: the in-memory edge index and its traversals.
 *
 * Goal: an edge is a set member held both ways; removing a node takes its
 * edges in both directions and nothing else; breadth-first traversal
 * reaches exactly the nodes within the depth, each once, at its shortest
 * distance, along edges that exist, honouring direction, type filter and
 * limit; a path is a shortest one; a failed allocation changes nothing.
 * Method: chains, cycles and stars with known answers; random graphs and
 * random add/remove churn against an adjacency-matrix model and a
 * reference BFS over it (KDB_TEST_SEED repeats a run).
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "env.h"
#include "graph.h"
#include "graph_file.h"
#include "test_util.h"

#define MODEL_NODES 40

struct failing {
    long fail_after; /* allocations left before they fail; -1: never */
};

static void *failing_malloc(void *ctx, size_t size)
{
    struct failing *f = ctx;
    if (f->fail_after == 0) return NULL;
    if (f->fail_after > 0) f->fail_after--;
    return malloc(size);
}

static void *failing_realloc(void *ctx, void *ptr, size_t size)
{
    struct failing *f = ctx;
    if (f->fail_after == 0) return NULL;
    if (f->fail_after > 0) f->fail_after--;
    return realloc(ptr, size);
}

static void failing_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

struct fixture {
    struct failing failing;
    struct kdb_allocator allocator;
    struct env env;
    struct graph g;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct kdb_options options;

    assert_non_null(f);
    f->failing.fail_after = -1;
    f->allocator = (struct kdb_allocator){
        .ctx = &f->failing,
        .malloc = failing_malloc,
        .realloc = failing_realloc,
        .free = failing_free,
    };
    kdb_options_init(&options);
    options.allocator = &f->allocator;
    env_init(&f->env, &options);
    graph_init(&f->g, &f->env, 0x5eed);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    graph_release(&f->g);
    free(f);
    return 0;
}

/* Node i's id: the number in the last bytes, so ids share long prefixes. */
static void id_of(unsigned i, uint8_t id[KDB_ID_SIZE])
{
    memset(id, 0, KDB_ID_SIZE);
    id[12] = (uint8_t)(i >> 24);
    id[13] = (uint8_t)(i >> 16);
    id[14] = (uint8_t)(i >> 8);
    id[15] = (uint8_t)i;
}

static unsigned index_of(const uint8_t id[KDB_ID_SIZE])
{
    return (unsigned)id[12] << 24 | (unsigned)id[13] << 16 | (unsigned)id[14] << 8 | id[15];
}

static int add(struct graph *g, unsigned s, unsigned type, unsigned t)
{
    uint8_t a[KDB_ID_SIZE], b[KDB_ID_SIZE];
    id_of(s, a);
    id_of(t, b);
    return graph_add(g, a, type, b);
}

static int del(struct graph *g, unsigned s, unsigned type, unsigned t)
{
    uint8_t a[KDB_ID_SIZE], b[KDB_ID_SIZE];
    id_of(s, a);
    id_of(t, b);
    return graph_remove(g, a, type, b);
}

static bool has(struct graph *g, unsigned s, unsigned type, unsigned t)
{
    uint8_t a[KDB_ID_SIZE], b[KDB_ID_SIZE];
    int rc;
    id_of(s, a);
    id_of(t, b);
    rc = graph_has(g, a, type, b);
    assert_true(rc >= 0);
    return rc == 1;
}

static uint32_t node(struct graph *g, unsigned i)
{
    uint8_t id[KDB_ID_SIZE];
    uint32_t n;
    id_of(i, id);
    assert_int_equal(graph_node(g, id, false, &n), 0);
    return n;
}

/* Removes node i with its edges, as db.c does: its neighbours read first. */
static uint64_t remove_node(struct graph *g, unsigned i)
{
    uint8_t id[KDB_ID_SIZE];
    uint32_t n;
    id_of(i, id);
    assert_int_equal(graph_node(g, id, true, &n), 0);
    return graph_remove_node(g, id);
}

/* The test's index of a visit's node. */
static unsigned visited(const struct graph *g, const struct graph_visits *v, size_t k)
{
    return index_of(g->nodes[v->items[k].node].id);
}

static void test_graph_type_names_round_trip(void **state)
{
    unsigned type = 0;

    (void)state;
    for (unsigned t = 1; t <= KDB_EDGE_TYPE_MAX; t++) {
        const char *name = kdb_edge_type_name(t);
        assert_non_null(name);
        assert_int_equal(kdb_edge_type_from_name(name, strlen(name), &type), 0);
        assert_int_equal(type, t);
    }
    assert_string_equal(kdb_edge_type_name(KDB_EDGE_CALLS), "calls");
    assert_string_equal(kdb_edge_type_name(KDB_EDGE_CALLS_FUNCTION), "calls_function");
    assert_null(kdb_edge_type_name(0));
    assert_null(kdb_edge_type_name(KDB_EDGE_TYPE_MAX + 1));
    assert_int_equal(kdb_edge_type_from_name("call", 4, &type), -EINVAL);
    assert_int_equal(kdb_edge_type_from_name("callsx", 6, &type), -EINVAL);
    assert_int_equal(kdb_edge_type_from_name("Calls", 5, &type), -EINVAL);
    assert_int_equal(kdb_edge_type_from_name("", 0, &type), -EINVAL);
}

static void test_graph_edges_are_a_set_held_both_ways(void **state)
{
    struct fixture *f = *state;
    struct graph *g = &f->g;
    const struct graph_node *n;

    assert_int_equal(add(g, 1, KDB_EDGE_CALLS, 2), 1);
    assert_int_equal(add(g, 1, KDB_EDGE_CALLS, 2), 0);      /* twice: no change */
    assert_int_equal(add(g, 1, KDB_EDGE_REFERENCES, 2), 1); /* another type: another edge */
    assert_int_equal(add(g, 2, KDB_EDGE_CALLS, 1), 1);      /* the other way */
    assert_int_equal(add(g, 3, KDB_EDGE_CALLS, 3), 1);      /* a self-loop */
    assert_int_equal(g->edge_count, 4);
    assert_int_equal(g->live_nodes, 3);
    assert_true(has(g, 1, KDB_EDGE_CALLS, 2));
    assert_false(has(g, 2, KDB_EDGE_REFERENCES, 1));
    assert_false(has(g, 1, KDB_EDGE_CALLS, 3));
    assert_false(has(g, 7, KDB_EDGE_CALLS, 8));

    n = &g->nodes[node(g, 1)];
    assert_int_equal(n->out.count, 2);
    assert_int_equal(n->in.count, 1);
    /* The order edges were added in. */
    assert_int_equal(graph_entry_node(graph_list_get(&n->out, 0)), node(g, 2));
    assert_int_equal(graph_entry_type(graph_list_get(&n->out, 0)), KDB_EDGE_CALLS);
    assert_int_equal(graph_entry_type(graph_list_get(&n->out, 1)), KDB_EDGE_REFERENCES);
    n = &g->nodes[node(g, 2)];
    assert_int_equal(n->in.count, 2);
    assert_int_equal(graph_entry_node(graph_list_get(&n->in, 0)), node(g, 1));
    n = &g->nodes[node(g, 3)];
    assert_int_equal(n->out.count, 1);
    assert_int_equal(n->in.count, 1);

    assert_int_equal(del(g, 1, KDB_EDGE_CALLS, 2), 1);
    assert_int_equal(del(g, 1, KDB_EDGE_CALLS, 2), 0);
    assert_false(has(g, 1, KDB_EDGE_CALLS, 2));
    assert_true(has(g, 1, KDB_EDGE_REFERENCES, 2));
    assert_int_equal(g->edge_count, 3);
    /* The last edge of a node frees it; its number is used again. */
    assert_int_equal(del(g, 3, KDB_EDGE_CALLS, 3), 1);
    assert_int_equal(node(g, 3), GRAPH_NONE);
    assert_int_equal(g->live_nodes, 2);
    uint32_t high_water = g->node_count;
    assert_int_equal(add(g, 4, KDB_EDGE_IMPORTS, 1), 1);
    assert_int_equal(g->node_count, high_water);
    assert_int_equal(g->edge_count, 3);
}

static void test_graph_remove_node_takes_both_directions(void **state)
{
    struct fixture *f = *state;
    struct graph *g = &f->g;

    /* 1 is a hub: out to 2 and 3 (twice by type), in from 4, a self-loop. */
    assert_int_equal(add(g, 1, KDB_EDGE_CALLS, 2), 1);
    assert_int_equal(add(g, 1, KDB_EDGE_CALLS, 3), 1);
    assert_int_equal(add(g, 1, KDB_EDGE_CONTAINS, 3), 1);
    assert_int_equal(add(g, 4, KDB_EDGE_CALLS, 1), 1);
    assert_int_equal(add(g, 1, KDB_EDGE_CALLS, 1), 1);
    assert_int_equal(add(g, 2, KDB_EDGE_CALLS, 3), 1); /* not 1's: stays */
    assert_int_equal(g->edge_count, 6);
    assert_int_equal(remove_node(g, 1), 5);
    assert_int_equal(g->edge_count, 1);
    assert_int_equal(node(g, 1), GRAPH_NONE);
    assert_int_equal(node(g, 4), GRAPH_NONE); /* had only the edge to 1 */
    assert_true(has(g, 2, KDB_EDGE_CALLS, 3));
    assert_int_equal(g->nodes[node(g, 2)].in.count, 0);
    assert_int_equal(g->nodes[node(g, 3)].in.count, 1);
    assert_int_equal(g->live_nodes, 2);
    assert_int_equal(remove_node(g, 1), 0); /* nothing left */
}

/* ---- traversals with known answers ---- */

static void test_graph_chain_depth_and_direction(void **state)
{
    struct fixture *f = *state;
    struct graph *g = &f->g;
    struct graph_visits v = {0};

    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(add(g, i, KDB_EDGE_CALLS, i + 1), 1);
    assert_int_equal(graph_traverse(g, node(g, 0), KDB_DIRECTION_OUT, 0, 3, 0, &v), 0);
    assert_int_equal(v.count, 4);
    for (size_t k = 0; k < v.count; k++) {
        assert_int_equal(visited(g, &v, k), k);
        assert_int_equal(v.items[k].depth, k);
        assert_int_equal(v.items[k].parent, k ? k - 1 : GRAPH_NONE);
    }
    assert_int_equal(graph_traverse(g, node(g, 0), KDB_DIRECTION_IN, 0, 3, 0, &v), 0);
    assert_int_equal(v.count, 1); /* nothing calls 0 */
    assert_int_equal(graph_traverse(g, node(g, 10), KDB_DIRECTION_IN, 0, UINT32_MAX, 0, &v), 0);
    assert_int_equal(v.count, 11);
    assert_true(v.items[1].reversed);
    assert_int_equal(graph_traverse(g, node(g, 5), KDB_DIRECTION_BOTH, 0, 2, 0, &v), 0);
    assert_int_equal(v.count, 5); /* 3 4 5 6 7 */
    assert_int_equal(graph_traverse(g, node(g, 0), KDB_DIRECTION_OUT, 0, 0, 0, &v), 0);
    assert_int_equal(v.count, 1); /* depth 0: the start alone */
    assert_int_equal(graph_traverse(g, node(g, 0), KDB_DIRECTION_OUT, 0, UINT32_MAX, 4, &v), 0);
    assert_int_equal(v.count, 4); /* the limit */
    /* A type that is not there leaves the start alone. */
    assert_int_equal(
        graph_traverse(g, node(g, 0), KDB_DIRECTION_OUT, 1u << KDB_EDGE_IMPORTS, UINT32_MAX, 0, &v),
        0);
    assert_int_equal(v.count, 1);
    graph_visits_release(g, &v);
}

static void test_graph_cycle_reaches_each_node_once(void **state)
{
    struct fixture *f = *state;
    struct graph *g = &f->g;
    struct graph_visits v = {0};
    bool seen[8] = {false};

    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(add(g, i, KDB_EDGE_CALLS, (i + 1) % 8), 1);
    assert_int_equal(add(g, 3, KDB_EDGE_CALLS, 0), 1); /* a shortcut back */
    assert_int_equal(graph_traverse(g, node(g, 0), KDB_DIRECTION_BOTH, 0, UINT32_MAX, 0, &v), 0);
    assert_int_equal(v.count, 8);
    for (size_t k = 0; k < v.count; k++) {
        assert_false(seen[visited(g, &v, k)]);
        seen[visited(g, &v, k)] = true;
    }
    /* Around the ring and back: 0 -> 1 -> 2 -> 3 -> 0 is a cycle, not a visit. */
    assert_int_equal(graph_traverse(g, node(g, 0), KDB_DIRECTION_OUT, 0, 100, 0, &v), 0);
    assert_int_equal(v.count, 8);
    assert_int_equal(v.items[7].depth, 7);
    graph_visits_release(g, &v);
}

static void test_graph_star_and_type_filter(void **state)
{
    struct fixture *f = *state;
    struct graph *g = &f->g;
    struct graph_visits v = {0};

    /* Hub 0 calls 1..100; contains 101..110; 1..100 are defined_in 200. */
    for (unsigned i = 1; i <= 100; i++) {
        assert_int_equal(add(g, 0, KDB_EDGE_CALLS, i), 1);
        assert_int_equal(add(g, i, KDB_EDGE_DEFINED_IN, 200), 1);
    }
    for (unsigned i = 101; i <= 110; i++)
        assert_int_equal(add(g, 0, KDB_EDGE_CONTAINS, i), 1);
    assert_int_equal(
        graph_traverse(g, node(g, 0), KDB_DIRECTION_OUT, 1u << KDB_EDGE_CALLS, 5, 0, &v), 0);
    assert_int_equal(v.count, 101);
    assert_int_equal(graph_traverse(g, node(g, 0), KDB_DIRECTION_OUT, 0, 5, 0, &v), 0);
    assert_int_equal(v.count, 112); /* 0, 100 callees, 10 contained, then 200 once */
    assert_int_equal(visited(g, &v, 111), 200);
    assert_int_equal(v.items[111].depth, 2);
    assert_int_equal(v.items[111].type, KDB_EDGE_DEFINED_IN);
    assert_int_equal(graph_traverse(g, node(g, 200), KDB_DIRECTION_IN,
                                    1u << KDB_EDGE_DEFINED_IN | 1u << KDB_EDGE_CALLS, 1, 0, &v),
                     0);
    assert_int_equal(v.count, 101);
    graph_visits_release(g, &v);
}

static void test_graph_path_is_shortest(void **state)
{
    struct fixture *f = *state;
    struct graph *g = &f->g;
    struct graph_visits v = {0};

    /* Long way 0-1-2-3-4-5, shortcut 1-4; 9 is cut off. */
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(add(g, i, KDB_EDGE_CALLS, i + 1), 1);
    assert_int_equal(add(g, 1, KDB_EDGE_REFERENCES, 4), 1);
    assert_int_equal(add(g, 9, KDB_EDGE_CALLS, 8), 1);
    assert_int_equal(graph_path(g, node(g, 0), node(g, 5), KDB_DIRECTION_OUT, 0, UINT32_MAX, &v),
                     1);
    assert_int_equal(v.count, 4);
    assert_int_equal(visited(g, &v, 0), 0);
    assert_int_equal(visited(g, &v, 1), 1);
    assert_int_equal(visited(g, &v, 2), 4);
    assert_int_equal(visited(g, &v, 3), 5);
    assert_int_equal(v.items[2].type, KDB_EDGE_REFERENCES);
    for (size_t k = 0; k < v.count; k++) {
        assert_int_equal(v.items[k].depth, k);
        assert_int_equal(v.items[k].parent, k ? k - 1 : GRAPH_NONE);
    }
    /* Only calls: the long way. */
    assert_int_equal(graph_path(g, node(g, 0), node(g, 5), KDB_DIRECTION_OUT, 1u << KDB_EDGE_CALLS,
                                UINT32_MAX, &v),
                     1);
    assert_int_equal(v.count, 6);
    /* Too short a depth, the wrong direction, no connection. */
    assert_int_equal(
        graph_path(g, node(g, 0), node(g, 5), KDB_DIRECTION_OUT, 1u << KDB_EDGE_CALLS, 4, &v), 0);
    assert_int_equal(v.count, 0);
    assert_int_equal(graph_path(g, node(g, 5), node(g, 0), KDB_DIRECTION_OUT, 0, UINT32_MAX, &v),
                     0);
    assert_int_equal(graph_path(g, node(g, 5), node(g, 0), KDB_DIRECTION_IN, 0, UINT32_MAX, &v), 1);
    assert_int_equal(v.count, 4);
    assert_int_equal(graph_path(g, node(g, 0), node(g, 8), KDB_DIRECTION_BOTH, 0, UINT32_MAX, &v),
                     0);
    assert_int_equal(graph_path(g, node(g, 3), node(g, 3), KDB_DIRECTION_OUT, 0, 0, &v), 1);
    assert_int_equal(v.count, 1);
    graph_visits_release(g, &v);
}

/* ---- random graphs against a model ---- */

struct model {
    /* edge[s][t] has bit ty set when s -ty-> t */
    uint32_t edge[MODEL_NODES][MODEL_NODES];
    uint64_t count;
};

static uint64_t next_random(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Reference BFS: dist[i] for every node (UINT32_MAX: not reached). */
static void model_bfs(const struct model *m, unsigned start, unsigned direction, uint32_t mask,
                      uint32_t max_depth, uint32_t dist[MODEL_NODES])
{
    unsigned queue[MODEL_NODES];
    size_t head = 0, tail = 0;

    for (unsigned i = 0; i < MODEL_NODES; i++)
        dist[i] = UINT32_MAX;
    dist[start] = 0;
    queue[tail++] = start;
    while (head < tail) {
        unsigned u = queue[head++];
        if (dist[u] >= max_depth) continue;
        for (unsigned w = 0; w < MODEL_NODES; w++) {
            uint32_t forward = m->edge[u][w], backward = m->edge[w][u];
            if (mask) {
                forward &= mask;
                backward &= mask;
            }
            bool link = ((direction & KDB_DIRECTION_OUT) && forward) ||
                        ((direction & KDB_DIRECTION_IN) && backward);
            if (link && dist[w] == UINT32_MAX) {
                dist[w] = dist[u] + 1;
                queue[tail++] = w;
            }
        }
    }
}

/* The model's picture of the index: counts, membership, lists. */
static void check_against_model(struct graph *g, const struct model *m)
{
    uint32_t live = 0;

    assert_int_equal(g->edge_count, m->count);
    for (unsigned s = 0; s < MODEL_NODES; s++) {
        unsigned out = 0, in = 0;
        for (unsigned t = 0; t < MODEL_NODES; t++) {
            for (unsigned ty = 1; ty <= KDB_EDGE_TYPE_MAX; ty++)
                assert_int_equal(has(g, s, ty, t), (m->edge[s][t] >> ty) & 1);
            out += (unsigned)__builtin_popcount(m->edge[s][t]);
            in += (unsigned)__builtin_popcount(m->edge[t][s]);
        }
        uint32_t n = node(g, s);
        if (out + in == 0) {
            assert_int_equal(n, GRAPH_NONE);
            continue;
        }
        live++;
        assert_int_not_equal(n, GRAPH_NONE);
        assert_int_equal(g->nodes[n].out.count, out);
        assert_int_equal(g->nodes[n].in.count, in);
        for (uint32_t i = 0; i < g->nodes[n].out.count; i++) {
            uint32_t e = graph_list_get(&g->nodes[n].out, i);
            unsigned t = index_of(g->nodes[graph_entry_node(e)].id);
            assert_true((m->edge[s][t] >> graph_entry_type(e)) & 1);
        }
    }
    assert_int_equal(g->live_nodes, live);
}

static void check_traversal(struct graph *g, const struct model *m, unsigned start,
                            unsigned direction, uint32_t mask, uint32_t max_depth,
                            struct graph_visits *v)
{
    uint32_t dist[MODEL_NODES];
    bool seen[MODEL_NODES] = {false};
    size_t expected = 0;

    model_bfs(m, start, direction, mask, max_depth, dist);
    for (unsigned i = 0; i < MODEL_NODES; i++)
        expected += dist[i] != UINT32_MAX;
    if (node(g, start) == GRAPH_NONE) {
        assert_int_equal(expected, 1);
        return;
    }
    assert_int_equal(graph_traverse(g, node(g, start), direction, mask, max_depth, 0, v), 0);
    assert_int_equal(v->count, expected);
    for (size_t k = 0; k < v->count; k++) {
        const struct graph_visit *x = &v->items[k];
        unsigned u = visited(g, v, k);
        assert_false(seen[u]);
        seen[u] = true;
        assert_int_equal(x->depth, dist[u]); /* breadth-first: the shortest distance */
        if (k == 0) {
            assert_int_equal(u, start);
            continue;
        }
        assert_true(x->parent < k);
        unsigned p = visited(g, v, x->parent);
        uint32_t bit = UINT32_C(1) << x->type;
        assert_true(x->reversed ? (m->edge[u][p] & bit) : (m->edge[p][u] & bit));
        assert_true(!mask || (mask & bit));
        assert_true(x->reversed ? (direction & KDB_DIRECTION_IN) : (direction & KDB_DIRECTION_OUT));
    }
    /* A path to every node reached is as long as its distance; none to the rest. */
    for (unsigned goal = 0; goal < MODEL_NODES; goal += 7) {
        if (node(g, goal) == GRAPH_NONE) continue;
        int found = graph_path(g, node(g, start), node(g, goal), direction, mask, max_depth, v);
        assert_true(found >= 0);
        assert_int_equal(found, dist[goal] != UINT32_MAX);
        if (found) assert_int_equal(v->count, dist[goal] + 1);
    }
}

/* Adds and removes edges and nodes at random, in g and in the model alike. */
static void churn(struct graph *g, struct model *m, uint64_t *x)
{
    /* Mostly adds, some removes, now and then a node's removal. */
    for (unsigned i = 0; i < 80; i++) {
        unsigned s = (unsigned)(next_random(x) % MODEL_NODES);
        unsigned t = (unsigned)(next_random(x) % MODEL_NODES);
        unsigned ty = 1 + (unsigned)(next_random(x) % 3); /* few types: more overlap */
        unsigned what = (unsigned)(next_random(x) % 100);
        uint32_t bit = UINT32_C(1) << ty;
        if (what < 65) {
            assert_int_equal(add(g, s, ty, t), !(m->edge[s][t] & bit));
            m->count += !(m->edge[s][t] & bit);
            m->edge[s][t] |= bit;
        } else if (what < 97) {
            assert_int_equal(del(g, s, ty, t), !!(m->edge[s][t] & bit));
            m->count -= !!(m->edge[s][t] & bit);
            m->edge[s][t] &= ~bit;
        } else {
            uint64_t gone = 0;
            for (unsigned o = 0; o < MODEL_NODES; o++) {
                gone += (uint64_t)__builtin_popcount(m->edge[s][o]);
                if (o != s) gone += (uint64_t)__builtin_popcount(m->edge[o][s]);
                m->edge[s][o] = m->edge[o][s] = 0;
            }
            assert_int_equal(remove_node(g, s), gone);
            m->count -= gone;
        }
    }
}

/* graph_each_edge()'s callback: each edge as a bit in the model's layout, once. */
struct listing {
    unsigned node;
    uint32_t edge[MODEL_NODES][MODEL_NODES];
    uint32_t self_in;    /* a self-loop is in both lists: its in-list's turn */
    size_t order_errors; /* an in-edge before an out-edge */
    bool seen_in;
};

static int note_edge(void *ctx, const uint8_t far[KDB_ID_SIZE], unsigned type, bool in)
{
    struct listing *l = ctx;
    unsigned other = index_of(far);
    uint32_t *cell = in ? &l->edge[other][l->node] : &l->edge[l->node][other];

    assert_true(other < MODEL_NODES);
    if (in && other == l->node) cell = &l->self_in;
    if (!in && l->seen_in) l->order_errors++;
    l->seen_in |= in;
    assert_false(*cell & (UINT32_C(1) << type)); /* never twice */
    *cell |= UINT32_C(1) << type;
    return 0;
}

/*
 * Each node's edges as graph_each_edge() lists them, before anything else
 * reads its lists: the model's, both ways and by type. Right after a
 * reopen most nodes are still in the file, some with edges added since.
 */
static void check_listings(struct graph *g, const struct model *m, uint64_t *x)
{
    static struct listing l;

    for (unsigned s = 0; s < MODEL_NODES; s++) {
        unsigned direction = 1 + (unsigned)(next_random(x) % 3);
        uint32_t mask = next_random(x) % 2 ? 0 : UINT32_C(1) << (1 + next_random(x) % 3);
        uint8_t id[KDB_ID_SIZE];
        uint64_t bound = 0, listed = 0, degree = 0;
        uint32_t n;
        memset(&l, 0, sizeof(l));
        l.node = s;
        id_of(s, id);
        assert_int_equal(graph_find(g, id, &n, &bound), 0);
        if (n != GRAPH_NONE)
            assert_int_equal(graph_each_edge(g, n, direction, mask, note_edge, &l), 0);
        assert_int_equal(l.order_errors, 0);
        for (unsigned t = 0; t < MODEL_NODES; t++) {
            uint32_t want_out = direction & 1 ? m->edge[s][t] : 0;
            uint32_t want_in = direction & 2 ? m->edge[t][s] : 0;
            if (mask) {
                want_out &= mask;
                want_in &= mask;
            }
            degree += (uint64_t)__builtin_popcount(m->edge[s][t]) +
                      (uint64_t)__builtin_popcount(m->edge[t][s]);
            if (t == s) { /* a self-loop is in both lists */
                assert_int_equal(l.edge[s][s], want_out);
                assert_int_equal(l.self_in, want_in);
                listed += (uint64_t)__builtin_popcount(l.edge[s][s]) +
                          (uint64_t)__builtin_popcount(l.self_in);
                continue;
            }
            assert_int_equal(l.edge[s][t], want_out);
            assert_int_equal(l.edge[t][s], want_in);
            listed += (uint64_t)__builtin_popcount(l.edge[s][t]) +
                      (uint64_t)__builtin_popcount(l.edge[t][s]);
        }
        assert_int_equal(n == GRAPH_NONE, degree == 0);
        assert_true(listed <= bound);
        assert_true(degree <= bound);
    }
}

/* A few traversals and paths from random starts, against the model's. */
static void traverse_some(struct graph *g, const struct model *m, uint64_t *x,
                          struct graph_visits *v)
{
    for (unsigned k = 0; k < 6; k++) {
        unsigned start = (unsigned)(next_random(x) % MODEL_NODES);
        unsigned direction = 1 + (unsigned)(next_random(x) % 3);
        uint32_t mask = next_random(x) % 3 ? 0 : UINT32_C(1) << (1 + next_random(x) % 3);
        uint32_t depth = (uint32_t)(next_random(x) % 5);
        check_traversal(g, m, start, direction, mask, depth ? depth : UINT32_MAX, v);
    }
}

static void test_graph_random_against_model(void **state)
{
    struct fixture *f = *state;
    struct graph *g = &f->g;
    struct model *m = calloc(1, sizeof(*m));
    struct graph_visits v = {0};
    uint64_t x = test_seed(20261126) | 1;

    assert_non_null(m);
    for (unsigned round = 0; round < 60; round++) {
        churn(g, m, &x);
        check_against_model(g, m);
        traverse_some(g, m, &x, &v);
    }
    graph_visits_release(g, &v);
    free(m);
}

/* ---- the graph file ---- */

/* Writes g as dir's graph file at sequence, and starts g again from it alone. */
/* Saves the graph and starts it again from the file: read with pread (brief) or mapped. */
static void save_and_reopen(struct fixture *f, const char *dir, uint64_t sequence, bool brief)
{
    struct graph_base *base = NULL;
    uint64_t edges = f->g.edge_count;

    assert_int_equal(graph_file_write(&f->g, dir, sequence), 0);
    graph_release(&f->g);
    graph_init(&f->g, &f->env, 0x5eed + sequence);
    assert_int_equal(graph_base_open(&f->env, dir, sequence + 1, brief, &base), -ESTALE);
    assert_int_equal(graph_base_open(&f->env, dir, sequence, brief, &base), 0);
    assert_int_equal(graph_attach(&f->g, base), 0);
    assert_int_equal(f->g.edge_count, edges);
    assert_int_equal(f->g.live_nodes, 0); /* nothing read yet */
}

/*
 * An index started from the file answers as the one written, and takes
 * changes as well: churn on nodes still in the file (adds, removes, a
 * node's removal; an edge added between two nodes whose lists are still
 * in the file is checked against the file's list and kept aside until they
 * are read), then check, then save again, many times over; the file read
 * mapped and as a brief handle reads it, in turn.
 */
static void test_graph_file_random_against_model(void **state)
{
    struct fixture *f = *state;
    struct model *m = calloc(1, sizeof(*m));
    struct graph_visits v = {0};
    uint64_t x = test_seed(20261127) | 1;
    char dir[] = "/tmp/kdb-graph-XXXXXX";

    assert_non_null(m);
    assert_non_null(mkdtemp(dir));
    for (unsigned round = 0; round < 40; round++) {
        churn(&f->g, m, &x);
        if (round % 3 == 0) {
            save_and_reopen(f, dir, round + 1, (round / 6) % 2 == 1);
            if (round % 2 == 0) continue; /* the next churn meets nodes still in the file */
        }
        check_listings(&f->g, m, &x);
        traverse_some(&f->g, m, &x, &v);
        check_against_model(&f->g, m);
    }
    check_against_model(&f->g, m);
    graph_visits_release(&f->g, &v);
    assert_int_equal(graph_file_remove(&f->env, dir), 0);
    assert_int_equal(rmdir(dir), 0);
    free(m);
}

/* graph_each_edge()'s callback: a tally of the edges and their far ends. */
struct tally {
    uint64_t count, in, calls, far_sum;
};

static int tally_edge(void *ctx, const uint8_t far[KDB_ID_SIZE], unsigned type, bool in)
{
    struct tally *t = ctx;

    t->count++;
    t->in += in;
    t->calls += type == KDB_EDGE_CALLS;
    t->far_sum += index_of(far);
    return 0;
}

/*
 * Listing a node's edges from the file reads the list asked for and its
 * far ends' ids only: neither the node's other list nor any far end
 * becomes a node in memory. A hub calls 300 nodes and is called by one.
 */
static void test_graph_file_listing_makes_no_far_nodes(void **state)
{
    enum { FANOUT = 300 };
    struct fixture *f = *state;
    struct tally in = {0}, out = {0};
    char dir[] = "/tmp/kdb-graph-XXXXXX";
    uint8_t hub[KDB_ID_SIZE];
    uint64_t bound = 0;
    uint32_t n;

    assert_non_null(mkdtemp(dir));
    for (unsigned i = 1; i <= FANOUT; i++)
        assert_int_equal(add(&f->g, 0, KDB_EDGE_CALLS, i), 1);
    assert_int_equal(add(&f->g, FANOUT + 1, KDB_EDGE_REFERENCES, 0), 1);
    save_and_reopen(f, dir, 1, true);
    id_of(0, hub);
    assert_int_equal(graph_find(&f->g, hub, &n, &bound), 0);
    assert_int_not_equal(n, GRAPH_NONE);
    assert_int_equal(bound, FANOUT + 1);
    assert_int_equal(f->g.live_nodes, 1); /* the hub alone, its lists still in the file */
    assert_int_equal(graph_each_edge(&f->g, n, KDB_DIRECTION_IN, 0, tally_edge, &in), 0);
    assert_int_equal(in.count, 1);
    assert_int_equal(in.in, 1);
    assert_int_equal(in.far_sum, FANOUT + 1);
    assert_int_equal(f->g.live_nodes, 1);
    assert_int_equal(graph_each_edge(&f->g, n, KDB_DIRECTION_BOTH, UINT32_C(1) << KDB_EDGE_CALLS,
                                     tally_edge, &out),
                     0);
    assert_int_equal(out.count, FANOUT);
    assert_int_equal(out.calls, FANOUT);
    assert_int_equal(out.in, 0);
    assert_int_equal(out.far_sum, (uint64_t)FANOUT * (FANOUT + 1) / 2);
    assert_int_equal(f->g.live_nodes, 1);
    assert_int_equal(graph_file_remove(&f->env, dir), 0);
    assert_int_equal(rmdir(dir), 0);
}

/*
 * A large file of which a few nodes are read: where each stands in memory
 * is kept in a small table, and a node that lost its edges stays gone;
 * once many are read the table gives way to an array, which keeps both.
 */
static void test_graph_file_few_nodes_read_of_many(void **state)
{
    enum { CHAIN = 5000 };
    struct fixture *f = *state;
    char dir[] = "/tmp/kdb-graph-XXXXXX";

    assert_non_null(mkdtemp(dir));
    for (unsigned i = 0; i < CHAIN; i++)
        assert_int_equal(add(&f->g, i, KDB_EDGE_CALLS, i + 1), 1);
    save_and_reopen(f, dir, 5, false);

    /* Node 101 loses both its edges: gone, then made anew by an edge of its own. */
    assert_int_equal(del(&f->g, 100, KDB_EDGE_CALLS, 101), 1);
    assert_int_equal(del(&f->g, 101, KDB_EDGE_CALLS, 102), 1);
    assert_int_equal(node(&f->g, 101), GRAPH_NONE);
    assert_true(f->g.from_map != NULL && f->g.from_base == NULL); /* few read: the table */
    assert_int_equal(add(&f->g, 101, KDB_EDGE_IMPORTS, 4000), 1);
    assert_false(has(&f->g, 101, KDB_EDGE_CALLS, 102));
    assert_true(has(&f->g, 101, KDB_EDGE_IMPORTS, 4000));
    assert_int_equal(f->g.nodes[node(&f->g, 101)].out.count, 1);
    assert_int_equal(f->g.nodes[node(&f->g, 4000)].in.count, 2);

    /* Every node read: the array takes over, and answers the same. */
    for (unsigned i = 0; i < CHAIN; i++) {
        bool cut = i == 100 || i == 101;
        assert_int_equal(has(&f->g, i, KDB_EDGE_CALLS, i + 1), !cut);
    }
    assert_true(f->g.from_base != NULL && f->g.from_map == NULL);
    assert_int_equal(f->g.nodes[node(&f->g, 101)].out.count, 1);
    assert_int_equal(f->g.nodes[node(&f->g, 101)].in.count, 0);
    assert_int_equal(f->g.nodes[node(&f->g, 102)].in.count, 0);
    assert_int_equal(f->g.edge_count, CHAIN - 2 + 1);
    assert_int_equal(graph_file_remove(&f->env, dir), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* Ids as the engine's are: hashes, spread evenly (a splitmix64 stream). */
static void hash_id_of(uint64_t *state, uint8_t id[KDB_ID_SIZE])
{
    for (int half = 0; half < 2; half++) {
        uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        memcpy(id + half * 8, &z, 8);
    }
}

/*
 * The file finds every node by its id, and no id it lacks, read mapped or
 * brief: ids spread as hashes are (the search starts where the id should
 * be) and ids all alike in their leading bytes (where that guess is far).
 */
static void test_graph_file_finds_every_node(void **state)
{
    enum { NODES = 30000 };
    struct fixture *f = *state;
    char dir[] = "/tmp/kdb-graph-XXXXXX";
    uint8_t(*ids)[KDB_ID_SIZE] = malloc((size_t)NODES * KDB_ID_SIZE);
    uint64_t stream = 42;

    assert_non_null(ids);
    assert_non_null(mkdtemp(dir));
    for (unsigned i = 0; i < NODES; i++)
        hash_id_of(&stream, ids[i]);
    for (unsigned i = 0; i + 1 < NODES; i += 2)
        assert_int_equal(graph_add(&f->g, ids[i], KDB_EDGE_CALLS, ids[i + 1]), 1);
    assert_int_equal(graph_file_write(&f->g, dir, 3), 0);
    for (int brief = 0; brief < 2; brief++) {
        struct graph_base *base = NULL;
        assert_int_equal(graph_base_open(&f->env, dir, 3, brief, &base), 0);
        assert_int_equal(base->node_count, NODES);
        for (unsigned i = 0; i < NODES; i++) {
            struct graph_base_node node;
            uint32_t number = UINT32_MAX;
            assert_int_equal(graph_base_find(base, ids[i], &number), 0);
            assert_int_equal(graph_base_node(base, number, &node), 0);
            assert_memory_equal(node.id, ids[i], KDB_ID_SIZE);
        }
        for (unsigned i = 0; i < 2000; i++) {
            uint8_t absent[KDB_ID_SIZE];
            uint32_t number;
            hash_id_of(&stream, absent);
            assert_int_equal(graph_base_find(base, absent, &number), -ENOENT);
            id_of(i, absent); /* all alike but the last bytes, before every hash */
            assert_int_equal(graph_base_find(base, absent, &number), -ENOENT);
            memset(absent, 0xff, 12); /* after every hash */
            assert_int_equal(graph_base_find(base, absent, &number), -ENOENT);
        }
        graph_base_close(base);
    }
    assert_int_equal(graph_file_remove(&f->env, dir), 0);
    assert_int_equal(rmdir(dir), 0);
    free(ids);
}

/* Flips one byte of dir's graph file at offset. */
static void flip_byte(const char *dir, long offset)
{
    char path[256];
    FILE *file;
    int c;

    snprintf(path, sizeof(path), "%s/GRAPH", dir);
    file = fopen(path, "r+b");
    assert_non_null(file);
    assert_int_equal(fseek(file, offset, SEEK_SET), 0);
    c = fgetc(file);
    assert_true(c != EOF);
    assert_int_equal(fseek(file, offset, SEEK_SET), 0);
    assert_true(fputc(c ^ 0x20, file) != EOF);
    assert_int_equal(fclose(file), 0);
}

/*
 * A damaged file is found out: a header at open, a page of nodes or lists
 * when it is first read (that node's answer is an error, never a wrong
 * one; the pages already read stay good).
 */
static void test_graph_file_damage_is_detected(void **state)
{
    struct fixture *f = *state;
    struct graph_base *base = NULL;
    char dir[] = "/tmp/kdb-graph-XXXXXX";
    uint8_t id[KDB_ID_SIZE];
    uint32_t n;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(graph_base_open(&f->env, dir, 1, false, &base), -ENOENT);
    /* 2000 nodes: a chain, so the body spans many pages. */
    for (unsigned i = 0; i < 2000; i++)
        assert_int_equal(add(&f->g, i, KDB_EDGE_CALLS, i + 1), 1);
    assert_int_equal(graph_file_write(&f->g, dir, 9), 0);

    flip_byte(dir, 20); /* the sequence, in the header */
    assert_int_equal(graph_base_open(&f->env, dir, 9, false, &base), -KDB_ECORRUPT);
    flip_byte(dir, 20);
    assert_int_equal(graph_base_open(&f->env, dir, 9, false, &base), 0);
    graph_release(&f->g);
    graph_init(&f->g, &f->env, 1);
    assert_int_equal(graph_attach(&f->g, base), 0);
    assert_true(has(&f->g, 0, KDB_EDGE_CALLS, 1)); /* reads the first pages */

    /* The last page of the body holds the last nodes' lists. */
    struct stat st;
    char path[256];
    snprintf(path, sizeof(path), "%s/GRAPH", dir);
    assert_int_equal(stat(path, &st), 0);
    flip_byte(dir, (long)st.st_size - 3);
    id_of(1999, id);
    assert_int_equal(graph_node(&f->g, id, false, &n), -KDB_ECORRUPT);
    assert_int_equal(graph_node(&f->g, id, false, &n), -KDB_ECORRUPT); /* and again */
    assert_true(has(&f->g, 0, KDB_EDGE_CALLS, 1));                     /* the rest still answers */
    assert_int_equal(graph_file_remove(&f->env, dir), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* A failed allocation at any point of an add leaves the index as it was. */
static void test_graph_failed_allocation_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct graph *g = &f->g;
    int failures = 0;

    for (unsigned i = 0; i < 300; i++) {
        for (long after = 0;; after++) {
            uint64_t edges = g->edge_count;
            uint32_t live = g->live_nodes;
            f->failing.fail_after = after;
            int rc = add(g, i % 37, KDB_EDGE_CALLS, i);
            f->failing.fail_after = -1;
            if (rc == 1) break;
            assert_int_equal(rc, -ENOMEM);
            failures++;
            assert_int_equal(g->edge_count, edges);
            assert_int_equal(g->live_nodes, live);
            assert_false(has(g, i % 37, KDB_EDGE_CALLS, i));
        }
    }
    assert_true(failures > 0);
    assert_int_equal(g->edge_count, 300);
    for (unsigned i = 0; i < 300; i++)
        assert_true(has(g, i % 37, KDB_EDGE_CALLS, i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_type_names_round_trip),
        cmocka_unit_test_setup_teardown(test_graph_edges_are_a_set_held_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_remove_node_takes_both_directions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_graph_chain_depth_and_direction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_cycle_reaches_each_node_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_star_and_type_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_path_is_shortest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_random_against_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_file_random_against_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_file_finds_every_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_file_few_nodes_read_of_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_file_listing_makes_no_far_nodes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_graph_file_damage_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_failed_allocation_changes_nothing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
