/* SPDX-License-Identifier: MIT */
/*
 * graph.c: the in-memory edge index (see graph.h).
 */
#include "graph.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "coding.h"
#include "graph_file.h"
#include "kassert.h"

static_assert(sizeof(struct graph_node) == 48, "a node is its id and two lists");

#define GRAPH_SLOTS_MIN 64 /* hash slots at first */
#define GRAPH_LIST_MIN  4  /* entries of a list's own memory at first */

static const char *const type_names[KDB_EDGE_TYPE_MAX + 1] = {
    [KDB_EDGE_IMPORTS] = "imports",
    [KDB_EDGE_DEFINED_IN] = "defined_in",
    [KDB_EDGE_REFERENCES] = "references",
    [KDB_EDGE_CONTAINS] = "contains",
    [KDB_EDGE_EXTENDS] = "extends",
    [KDB_EDGE_IMPLEMENTS] = "implements",
    [KDB_EDGE_CALLS] = "calls",
    [KDB_EDGE_DEPENDS_ON] = "depends_on",
    [KDB_EDGE_METHOD_OF] = "method_of",
    [KDB_EDGE_CALLS_METHOD] = "calls_method",
    [KDB_EDGE_CALLS_FUNCTION] = "calls_function",
};

const char *kdb_edge_type_name(unsigned type)
{
    return type >= 1 && type <= KDB_EDGE_TYPE_MAX ? type_names[type] : NULL;
}

int kdb_edge_type_from_name(const char *name, size_t len, unsigned *type)
{
    for (unsigned t = 1; t <= KDB_EDGE_TYPE_MAX; t++) {
        if (strlen(type_names[t]) == len && memcmp(type_names[t], name, len) == 0) {
            *type = t;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- the id -> node hash table ---- */

/*
 * A slot is 0 (empty), or node + 1 in its low GRAPH_NODE_BITS bits with a
 * tag of the id's hash in the bits above: a probe passes another id's slot
 * without reading its node (a cache miss) but one time in sixteen. So the
 * table can be three quarters full: 5.3 to 10.7 bytes a node, where half
 * full took 8 to 16 (a bulk load makes millions of nodes).
 */
#define SLOT_NODE_MASK GRAPH_NODE_MAX /* node numbers are below it: node + 1 fits */

static uint64_t id_hash(const struct graph *g, const uint8_t id[KDB_ID_SIZE])
{
    return hash_id_seeded(id, g->seed);
}

/* The tag of a hash: its top bits (the slot is taken from the low ones), in place. */
static uint32_t slot_tag(uint64_t h)
{
    return (uint32_t)(h >> (64 - (32 - GRAPH_NODE_BITS))) << GRAPH_NODE_BITS;
}

static uint32_t slot_node(uint32_t slot)
{
    return (slot & SLOT_NODE_MASK) - 1;
}

/* The node of id in memory, or GRAPH_NONE. */
static uint32_t mem_find(const struct graph *g, const uint8_t id[KDB_ID_SIZE])
{
    uint64_t h;
    uint32_t tag;

    if (!g->slots) return GRAPH_NONE;
    h = id_hash(g, id);
    tag = slot_tag(h);
    for (size_t i = (size_t)h & g->slot_mask;; i = (i + 1) & g->slot_mask) {
        uint32_t s = g->slots[i];
        if (s == 0) return GRAPH_NONE;
        if ((s & ~SLOT_NODE_MASK) == tag && memcmp(g->nodes[slot_node(s)].id, id, KDB_ID_SIZE) == 0)
            return slot_node(s);
    }
}

void graph_prefetch(const struct graph *g, const uint8_t id[KDB_ID_SIZE], bool node)
{
    uint64_t h;

    if (!g->slots) return;
    h = id_hash(g, id);
    if (!node) {
        __builtin_prefetch(&g->slots[(size_t)h & g->slot_mask]);
        return;
    }
    for (size_t i = (size_t)h & g->slot_mask;; i = (i + 1) & g->slot_mask) {
        uint32_t s = g->slots[i];
        if (s == 0) return;
        if ((s & ~SLOT_NODE_MASK) == slot_tag(h)) {
            __builtin_prefetch(&g->nodes[slot_node(s)]);
            return;
        }
    }
}

static void slot_insert(uint32_t *slots, size_t mask, const struct graph *g, uint32_t node)
{
    uint64_t h = id_hash(g, g->nodes[node].id);
    size_t i = (size_t)h & mask;

    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = (node + 1) | slot_tag(h);
}

/* Keeps the table at most three quarters full. */
static int slots_reserve(struct graph *g)
{
    size_t count = g->slots ? g->slot_mask + 1 : 0;
    size_t want = count ? count : GRAPH_SLOTS_MIN;
    uint32_t *slots;

    while ((uint64_t)(g->live_nodes + 1) * 4 > (uint64_t)want * 3)
        want *= 2;
    if (want == count) return 0;
    slots = env_calloc(g->env, want, sizeof(*slots));
    if (!slots) return -ENOMEM;
    for (size_t i = 0; i < count; i++) {
        if (g->slots[i]) slot_insert(slots, want - 1, g, slot_node(g->slots[i]));
    }
    env_free(g->env, g->slots);
    g->slots = slots;
    g->slot_mask = want - 1;
    return 0;
}

/* Linear probing's deletion: later entries of the cluster shift back into the hole. */
static void slot_delete(struct graph *g, uint32_t node)
{
    size_t mask = g->slot_mask;
    size_t hole = (size_t)id_hash(g, g->nodes[node].id) & mask;

    while (slot_node(g->slots[hole]) != node)
        hole = (hole + 1) & mask;
    for (size_t i = (hole + 1) & mask; g->slots[i]; i = (i + 1) & mask) {
        size_t home = (size_t)id_hash(g, g->nodes[slot_node(g->slots[i])].id) & mask;
        /* The entry at i may move to hole unless its home lies in (hole, i]. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            g->slots[hole] = g->slots[i];
            hole = i;
        }
    }
    g->slots[hole] = 0;
}

/* ---- nodes and lists ---- */

static int nodes_reserve(struct graph *g)
{
    uint32_t capacity;
    struct graph_node *nodes;
    uint32_t *marks, *free_nodes;

    if (g->free_count || g->node_count < g->node_capacity) return 0;
    if (g->node_count >= GRAPH_NODE_MAX) return -ENOSPC;
    capacity = g->node_capacity ? g->node_capacity * 2 : 64;
    if (capacity > GRAPH_NODE_MAX) capacity = GRAPH_NODE_MAX;
    nodes = env_realloc(g->env, g->nodes, (size_t)capacity * sizeof(*nodes));
    if (!nodes) return -ENOMEM;
    g->nodes = nodes;
    if (g->marks) { /* once a traversal has made them */
        marks = env_realloc(g->env, g->marks, (size_t)capacity * sizeof(*marks));
        if (!marks) return -ENOMEM;
        memset(marks + g->node_capacity, 0, (size_t)(capacity - g->node_capacity) * sizeof(*marks));
        g->marks = marks;
    }
    free_nodes = env_realloc(g->env, g->free_nodes, (size_t)capacity * sizeof(*free_nodes));
    if (!free_nodes) return -ENOMEM;
    g->free_nodes = free_nodes;
    if (g->base) {
        uint32_t *in_base = env_realloc(g->env, g->in_base, (size_t)capacity * sizeof(*in_base));
        if (!in_base) return -ENOMEM;
        g->in_base = in_base;
    }
    g->node_capacity = capacity;
    return 0;
}

/* A new node for id (not in memory): GRAPH_NONE with *rc set on failure. */
static uint32_t node_new(struct graph *g, const uint8_t id[KDB_ID_SIZE], int *rc)
{
    uint32_t node;

    *rc = slots_reserve(g);
    if (*rc == 0) *rc = nodes_reserve(g);
    if (*rc < 0) return GRAPH_NONE;
    node = g->free_count ? g->free_nodes[--g->free_count] : g->node_count++;
    memset(&g->nodes[node], 0, sizeof(g->nodes[node]));
    memcpy(g->nodes[node].id, id, KDB_ID_SIZE);
    if (g->in_base) g->in_base[node] = GRAPH_NONE;
    slot_insert(g->slots, g->slot_mask, g, node);
    g->live_nodes++;
    return node;
}

/* ---- base numbers to nodes (struct graph's from_base and from_map) ---- */

#define FROM_MAP_MIN 64 /* entries of the first table */

static size_t from_map_home(const struct graph *g, uint32_t number)
{
    return (size_t)((number * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & g->from_map_mask;
}

/* Base node number's value: its node number + 1, 0 if not read yet, or GRAPH_GONE. */
static uint32_t from_get(const struct graph *g, uint32_t number)
{
    if (g->from_base) return g->from_base[number];
    if (!g->from_map) return 0;
    for (size_t i = from_map_home(g, number);; i = (i + 1) & g->from_map_mask) {
        uint64_t e = g->from_map[i];
        if (!e) return 0;
        if ((uint32_t)(e >> 32) == number + 1) return (uint32_t)e;
    }
}

/* Sets number's value: there must be room (from_reserve()) unless number has one. */
static void from_set(struct graph *g, uint32_t number, uint32_t value)
{
    if (g->from_base) {
        g->from_base[number] = value;
        return;
    }
    for (size_t i = from_map_home(g, number);; i = (i + 1) & g->from_map_mask) {
        uint64_t e = g->from_map[i];
        if (e && (uint32_t)(e >> 32) != number + 1) continue;
        if (!e) g->from_map_count++;
        g->from_map[i] = (uint64_t)(number + 1) << 32 | value;
        return;
    }
}

/*
 * Room for one more number: 0 or -ENOMEM (nothing changed). The table
 * doubles at half full; once it would take more than half the array's
 * memory, the array takes over.
 */
static int from_reserve(struct graph *g)
{
    uint64_t *old = g->from_map;
    size_t old_size = old ? (size_t)g->from_map_mask + 1 : 0;
    size_t size = old ? old_size * 2 : FROM_MAP_MIN;
    uint64_t array_bytes = (g->base->node_count + 1) * sizeof(*g->from_base);

    if (g->from_base || (old && 2 * ((size_t)g->from_map_count + 1) <= old_size)) return 0;
    if (size * sizeof(*old) > array_bytes / 2) {
        uint32_t *array =
            env_calloc(g->env, (size_t)g->base->node_count + 1, sizeof(*g->from_base));
        if (!array) return -ENOMEM;
        for (size_t i = 0; i < old_size; i++) {
            if (old[i]) array[(uint32_t)(old[i] >> 32) - 1] = (uint32_t)old[i];
        }
        g->from_base = array;
    } else {
        uint64_t *map = env_calloc(g->env, size, sizeof(*map));
        if (!map) return -ENOMEM;
        g->from_map = map;
        g->from_map_mask = (uint32_t)(size - 1);
        g->from_map_count = 0;
        for (size_t i = 0; i < old_size; i++) {
            if (old[i]) from_set(g, (uint32_t)(old[i] >> 32) - 1, (uint32_t)old[i]);
        }
    }
    if (g->from_base) {
        g->from_map = NULL;
        g->from_map_mask = 0;
        g->from_map_count = 0;
    }
    env_free(g->env, old);
    return 0;
}

/*
 * from_get() of a node number that a list of the base names: never a node
 * gone, which has no edges left, so that no list still names it.
 */
static uint32_t listed_from_get(const struct graph *g, uint32_t number)
{
    uint32_t known = from_get(g, number);

    kdb_assert(known != GRAPH_GONE);
    return known;
}

/* The node of the base's node number, in memory: as it is, or new and pending. */
static uint32_t node_from_base(struct graph *g, uint32_t number, int *rc)
{
    uint32_t known = listed_from_get(g, number);
    struct graph_base_node b;
    uint32_t node;

    *rc = 0;
    if (known) return known - 1;
    *rc = graph_base_node_record(g->base, number, &b); /* its lists wait for node_load() */
    if (*rc == 0) *rc = from_reserve(g); /* first: nothing can fail after the node is made */
    if (*rc < 0) return GRAPH_NONE;
    node = node_new(g, b.id, rc);
    if (node == GRAPH_NONE) return node;
    g->in_base[node] = number | GRAPH_PENDING;
    from_set(g, number, node + 1);
    return node;
}

/* The node of id, in memory or brought from the base (pending); GRAPH_NONE: none, or *rc < 0. */
static uint32_t node_lookup(struct graph *g, const uint8_t id[KDB_ID_SIZE], int *rc)
{
    uint32_t node = mem_find(g, id), number = GRAPH_NONE;

    *rc = 0;
    if (node != GRAPH_NONE || !g->base) return node;
    *rc = graph_base_find(g->base, id, &number);
    if (*rc == -ENOENT) *rc = 0; /* in neither */
    if (*rc < 0 || number == GRAPH_NONE) return GRAPH_NONE;
    if (from_get(g, number) == GRAPH_GONE) return GRAPH_NONE;
    return node_from_base(g, number, rc);
}

/* A list's entries, where they are (the list itself, or memory of its own). */
static uint32_t *list_entries(struct graph_list *list)
{
    return list->capacity ? list->at.heap : list->at.local;
}

static void list_free(const struct graph *g, struct graph_list *list)
{
    if (list->capacity) env_free(g->env, list->at.heap);
}

/* Room for one more entry: 0 or -ENOMEM. */
static int list_reserve(struct graph *g, struct graph_list *list)
{
    uint32_t capacity;
    uint32_t *entries;

    if (list->count < (list->capacity ? list->capacity : GRAPH_LIST_LOCAL)) return 0;
    capacity = list->capacity ? list->capacity * 2 : GRAPH_LIST_MIN;
    if (list->capacity) {
        entries = env_realloc(g->env, list->at.heap, (size_t)capacity * sizeof(*entries));
    } else { /* out of the list into memory of its own */
        entries = env_malloc(g->env, (size_t)capacity * sizeof(*entries));
        if (entries) memcpy(entries, list->at.local, (size_t)list->count * sizeof(*entries));
    }
    if (!entries) return -ENOMEM;
    g->list_bytes += (uint64_t)(capacity - list->capacity) * sizeof(*entries);
    list->at.heap = entries;
    list->capacity = capacity;
    return 0;
}

/* A base entry of node: 0, or -KDB_ECORRUPT (logged) if it names no node or no type. */
static int check_entry(const struct graph *g, uint32_t node, uint32_t entry)
{
    unsigned type = graph_entry_type(entry);

    if (graph_entry_node(entry) < g->base->node_count && type >= 1 && type <= KDB_EDGE_TYPE_MAX)
        return 0;
    return KDB_CORRUPT(g->env, "graph file: node %u has a bad entry %08x", node, entry);
}

/* Whether node's lists are still only in the base. */
static bool node_pending(const struct graph *g, uint32_t node)
{
    return g->in_base && g->in_base[node] != GRAPH_NONE && (g->in_base[node] & GRAPH_PENDING);
}

/* Reads a pending node's lists from the base: 0, or an error with the node still pending. */
static int node_load(struct graph *g, uint32_t node)
{
    struct graph_base_node b;
    struct graph_list lists[2];
    uint64_t list_bytes;
    int rc;

    if (!node_pending(g, node)) return 0;
    memset(lists, 0, sizeof(lists));
    rc = graph_base_node(g->base, g->in_base[node] & ~GRAPH_PENDING, &b);
    if (rc < 0) return rc;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t count = pass ? b.in_count : b.out_count;
        if (count <= GRAPH_LIST_LOCAL) continue; /* held in the list */
        lists[pass].at.heap = env_malloc(g->env, (size_t)count * 4);
        lists[pass].capacity = count;
        if (!lists[pass].at.heap) rc = -ENOMEM;
    }
    /* The entries as the file has them first: reading the nodes they name
     * reads the base again, and b.entries is good only until then. */
    for (uint32_t i = 0; rc == 0 && i < b.out_count + b.in_count; i++) {
        struct graph_list *list = &lists[i >= b.out_count];
        list_entries(list)[list->count++] = get_le32(b.entries + (size_t)i * 4);
    }
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        uint32_t *entries = list_entries(&lists[pass]), kept = 0;
        for (uint32_t k = 0; rc == 0 && k < lists[pass].count; k++) {
            uint32_t entry = entries[k], other;
            rc = check_entry(g, node, entry);
            if (rc < 0) break;
            other = node_from_base(g, graph_entry_node(entry), &rc); /* may move g->nodes */
            if (other != GRAPH_NONE) entries[kept++] = graph_entry(other, graph_entry_type(entry));
        }
        lists[pass].count = kept;
    }
    /* Then the edges added while the node was pending (graph_add()), after the file's;
     * list_reserve() counts what it grows, and lists are counted whole below. */
    list_bytes = g->list_bytes;
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        const struct graph_list *added = pass ? &g->nodes[node].in : &g->nodes[node].out;
        for (uint32_t k = 0; rc == 0 && k < added->count; k++) {
            rc = list_reserve(g, &lists[pass]);
            if (rc == 0) list_entries(&lists[pass])[lists[pass].count++] = graph_list_get(added, k);
        }
    }
    g->list_bytes = list_bytes;
    if (rc < 0) {
        list_free(g, &lists[0]);
        list_free(g, &lists[1]);
        return rc;
    }
    for (int pass = 0; pass < 2; pass++) {
        struct graph_list *added = pass ? &g->nodes[node].in : &g->nodes[node].out;
        g->list_bytes -= (uint64_t)added->capacity * sizeof(uint32_t);
        list_free(g, added);
    }
    g->nodes[node].out = lists[0];
    g->nodes[node].in = lists[1];
    g->in_base[node] &= ~GRAPH_PENDING;
    g->list_bytes += ((uint64_t)lists[0].capacity + lists[1].capacity) * sizeof(uint32_t);
    return 0;
}

/* The node of id, made if missing, its lists not read; GRAPH_NONE with *rc set on failure. */
static uint32_t node_find_or_add(struct graph *g, const uint8_t id[KDB_ID_SIZE], int *rc)
{
    uint32_t node = node_lookup(g, id, rc);

    if (*rc < 0) return GRAPH_NONE;
    return node == GRAPH_NONE ? node_new(g, id, rc) : node;
}

/* Frees node if it has no edges left. */
static void node_drop_if_empty(struct graph *g, uint32_t node)
{
    struct graph_node *n = &g->nodes[node];

    /* Not if it is gone already (a neighbour may be seen more than once), nor if its
     * lists are still in the base. */
    if (node_pending(g, node) || n->out.count || n->in.count || mem_find(g, n->id) != node) return;
    slot_delete(g, node);
    if (g->in_base && g->in_base[node] != GRAPH_NONE)
        from_set(g, g->in_base[node] & ~GRAPH_PENDING, GRAPH_GONE); /* it has a value */
    g->list_bytes -= ((uint64_t)n->out.capacity + n->in.capacity) * sizeof(uint32_t);
    list_free(g, &n->out);
    list_free(g, &n->in);
    memset(n, 0, sizeof(*n));
    g->free_nodes[g->free_count++] = node;
    g->live_nodes--;
}

static int64_t list_find(const struct graph_list *list, uint32_t entry)
{
    for (uint32_t i = 0; i < list->count; i++) {
        if (graph_list_get(list, i) == entry) return i;
    }
    return -1;
}

/*
 * Whether edge s -> t of type is there, both lists read: it is in s's out
 * list and in t's in list, so the shorter is searched (a file contains
 * thousands of symbols, each defined in one file).
 */
static bool edge_listed(const struct graph *g, uint32_t s, uint32_t t, unsigned type)
{
    const struct graph_list *out = &g->nodes[s].out, *in = &g->nodes[t].in;

    return out->count <= in->count ? list_find(out, graph_entry(t, type)) >= 0
                                   : list_find(in, graph_entry(s, type)) >= 0;
}

/* Removes entry, keeping the others' order. */
static void list_remove(struct graph_list *list, uint32_t entry)
{
    int64_t at = list_find(list, entry);

    kdb_assert(at >= 0);
    memmove(list_entries(list) + at, list_entries(list) + at + 1,
            (list->count - (uint32_t)at - 1) * sizeof(uint32_t));
    list->count--;
}

/* ---- edges ---- */

void graph_init(struct graph *g, const struct env *env, uint64_t seed)
{
    memset(g, 0, sizeof(*g));
    g->env = env;
    g->seed = seed;
}

int graph_attach(struct graph *g, struct graph_base *base)
{
    kdb_assert(g->node_count == 0 && !g->base);
    if (g->node_capacity) {
        g->in_base = env_malloc(g->env, (size_t)g->node_capacity * sizeof(*g->in_base));
        if (!g->in_base) {
            graph_base_close(base);
            return -ENOMEM;
        }
    }
    g->base = base;
    g->edge_count = base->edge_count;
    return 0;
}

void graph_release(struct graph *g)
{
    for (uint32_t i = 0; i < g->node_count; i++) {
        list_free(g, &g->nodes[i].out);
        list_free(g, &g->nodes[i].in);
    }
    env_free(g->env, g->nodes);
    env_free(g->env, g->marks);
    env_free(g->env, g->free_nodes);
    env_free(g->env, g->slots);
    env_free(g->env, g->from_base);
    env_free(g->env, g->from_map);
    env_free(g->env, g->in_base);
    graph_base_close(g->base);
    memset(g, 0, sizeof(*g));
}

int graph_node(struct graph *g, const uint8_t id[KDB_ID_SIZE], bool neighbours_too, uint32_t *node)
{
    int rc;

    *node = node_lookup(g, id, &rc);
    if (*node == GRAPH_NONE) return rc;
    rc = node_load(g, *node);
    for (int pass = 0; rc == 0 && neighbours_too && pass < 2; pass++) {
        for (uint32_t i = 0;
             rc == 0 && i < (pass ? g->nodes[*node].in.count : g->nodes[*node].out.count); i++) {
            const struct graph_list *list = pass ? &g->nodes[*node].in : &g->nodes[*node].out;
            rc = node_load(g, graph_entry_node(graph_list_get(list, i)));
        }
    }
    if (rc < 0) *node = GRAPH_NONE;
    return rc;
}

int graph_find(struct graph *g, const uint8_t id[KDB_ID_SIZE], uint32_t *node, uint64_t *bound)
{
    struct graph_base_node b;
    int rc;

    *bound = 0;
    *node = node_lookup(g, id, &rc);
    if (*node == GRAPH_NONE) return rc;
    *bound = (uint64_t)g->nodes[*node].out.count + g->nodes[*node].in.count;
    if (!node_pending(g, *node)) return 0;
    rc = graph_base_node_record(g->base, g->in_base[*node] & ~GRAPH_PENDING, &b);
    if (rc < 0) {
        *node = GRAPH_NONE;
        return rc;
    }
    *bound += (uint64_t)b.out_count + b.in_count; /* the file's, then those added since */
    return 0;
}

static bool type_wanted(uint32_t type_mask, unsigned type)
{
    return !type_mask || (type_mask & (UINT32_C(1) << type));
}

/* The file's entries of a pending node's list of one direction, of the types asked. */
static int base_edges(struct graph *g, uint32_t node, bool in, uint32_t type_mask, graph_edge_fn fn,
                      void *ctx)
{
    struct graph_base_node b;
    uint32_t *wanted, count = 0, first, total;
    int rc = graph_base_node(g->base, g->in_base[node] & ~GRAPH_PENDING, &b);

    if (rc < 0) return rc;
    first = in ? b.out_count : 0;
    total = in ? b.in_count : b.out_count;
    /* Kept aside: reading the far ends reads the base again, and b.entries is good until then. */
    wanted = env_malloc(g->env, ((size_t)total + 1) * sizeof(*wanted));
    if (!wanted) return -ENOMEM;
    for (uint32_t i = 0; i < total; i++) {
        uint32_t entry = get_le32(b.entries + ((size_t)first + i) * 4);
        if (type_wanted(type_mask, graph_entry_type(entry))) wanted[count++] = entry;
    }
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        uint32_t number = graph_entry_node(wanted[i]), known;
        struct graph_base_node far;
        rc = check_entry(g, node, wanted[i]);
        if (rc < 0) break;
        known = listed_from_get(g, number);
        if (known)
            memcpy(far.id, g->nodes[known - 1].id, KDB_ID_SIZE);
        else
            rc = graph_base_node_record(g->base, number, &far);
        if (rc == 0) rc = fn(ctx, far.id, graph_entry_type(wanted[i]), in);
    }
    env_free(g->env, wanted);
    return rc;
}

int graph_each_edge(struct graph *g, uint32_t node, unsigned direction, uint32_t type_mask,
                    graph_edge_fn fn, void *ctx)
{
    int rc = 0;

    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        const struct graph_list *list;
        if (!(direction & (1u << pass))) continue;
        if (node_pending(g, node)) rc = base_edges(g, node, pass == 1, type_mask, fn, ctx);
        /* Then the list in memory: all of it, or what was added while the node was pending. */
        list = pass ? &g->nodes[node].in : &g->nodes[node].out;
        /* The far ends' ids, fetched at once. */
        for (uint32_t i = 0; i < list->count && i < 64; i++)
            __builtin_prefetch(g->nodes[graph_entry_node(graph_list_get(list, i))].id);
        for (uint32_t i = 0; rc == 0 && i < list->count; i++) {
            uint32_t entry = graph_list_get(list, i);
            if (!type_wanted(type_mask, graph_entry_type(entry))) continue;
            rc = fn(ctx, g->nodes[graph_entry_node(entry)].id, graph_entry_type(entry), pass == 1);
        }
    }
    return rc;
}

/*
 * The edge's two nodes into *s and *t, source's lists read: 1 if the edge
 * is there, 0 if not, or an error as graph_node() gives.
 */
static int edge_find(struct graph *g, const uint8_t source[KDB_ID_SIZE], unsigned type,
                     const uint8_t target[KDB_ID_SIZE], uint32_t *s, uint32_t *t)
{
    int rc = graph_node(g, source, false, s);

    if (rc < 0 || *s == GRAPH_NONE) return rc;
    /* s's lists are read, so each node it has an edge with is in memory; if t's are read
     * too, the shorter of the two lists will do. */
    *t = mem_find(g, target);
    if (*t == GRAPH_NONE) return 0;
    if (!node_pending(g, *t)) return edge_listed(g, *s, *t, type);
    return list_find(&g->nodes[*s].out, graph_entry(*t, type)) >= 0;
}

bool graph_holds(const struct graph *g, const uint8_t id[KDB_ID_SIZE])
{
    return mem_find(g, id) != GRAPH_NONE;
}

int graph_has(struct graph *g, const uint8_t source[KDB_ID_SIZE], unsigned type,
              const uint8_t target[KDB_ID_SIZE])
{
    uint32_t s, t;

    return edge_find(g, source, type, target, &s, &t);
}

int graph_load_all(struct graph *g)
{
    int rc = 0;

    for (uint64_t i = 0; rc == 0 && g->base && i < g->base->node_count; i++) {
        uint32_t node;
        if (from_get(g, (uint32_t)i) == GRAPH_GONE) continue;
        node = node_from_base(g, (uint32_t)i, &rc);
        if (node != GRAPH_NONE) rc = node_load(g, node);
    }
    return rc;
}

/*
 * Whether edge s -> t of type is there, reading no list it need not: 1, 0,
 * or an error as graph_base_node() gives. A node whose lists are read holds
 * all its edges, each far end a node; with both ends pending, the edge is
 * one added since (in s's list in memory) or in s's out-list in the file.
 */
static int edge_known(struct graph *g, uint32_t s, uint32_t t, unsigned type)
{
    struct graph_base_node b;
    uint32_t want;
    int rc;

    if (!node_pending(g, s) && !node_pending(g, t)) return edge_listed(g, s, t, type);
    if (!node_pending(g, s)) return list_find(&g->nodes[s].out, graph_entry(t, type)) >= 0;
    if (!node_pending(g, t)) return list_find(&g->nodes[t].in, graph_entry(s, type)) >= 0;
    if (list_find(&g->nodes[s].out, graph_entry(t, type)) >= 0) return 1;
    rc = graph_base_node(g->base, g->in_base[s] & ~GRAPH_PENDING, &b);
    if (rc < 0) return rc;
    want = graph_entry(g->in_base[t] & ~GRAPH_PENDING, type);
    for (uint32_t i = 0; i < b.out_count; i++) {
        if (get_le32(b.entries + (size_t)i * 4) == want) return 1;
    }
    return 0;
}

int graph_add(struct graph *g, const uint8_t source[KDB_ID_SIZE], unsigned type,
              const uint8_t target[KDB_ID_SIZE])
{
    int rc = 0;
    uint32_t s, t;

    kdb_assert(type >= 1 && type <= KDB_EDGE_TYPE_MAX);
    s = node_find_or_add(g, source, &rc);
    if (s == GRAPH_NONE) return rc;
    t = node_find_or_add(g, target, &rc);
    if (t == GRAPH_NONE) {
        node_drop_if_empty(g, s);
        return rc;
    }
    rc = edge_known(g, s, t, type);
    if (rc != 0) {
        node_drop_if_empty(g, s);
        if (t != s) node_drop_if_empty(g, t);
        return rc < 0 ? rc : 0; /* there already, or an error */
    }
    /* Room in both lists first, so that a failure leaves no half edge. */
    rc = list_reserve(g, &g->nodes[s].out);
    if (rc == 0) rc = list_reserve(g, &g->nodes[t].in);
    if (rc < 0) {
        node_drop_if_empty(g, s);
        if (t != s) node_drop_if_empty(g, t);
        return rc;
    }
    list_entries(&g->nodes[s].out)[g->nodes[s].out.count++] = graph_entry(t, type);
    list_entries(&g->nodes[t].in)[g->nodes[t].in.count++] = graph_entry(s, type);
    g->edge_count++;
    return 1;
}

int graph_remove(struct graph *g, const uint8_t source[KDB_ID_SIZE], unsigned type,
                 const uint8_t target[KDB_ID_SIZE])
{
    uint32_t s = GRAPH_NONE, t = GRAPH_NONE;
    int rc = edge_find(g, source, type, target, &s, &t);

    if (rc <= 0) return rc;
    rc = node_load(g, t);
    if (rc < 0) return rc;
    list_remove(&g->nodes[s].out, graph_entry(t, type));
    list_remove(&g->nodes[t].in, graph_entry(s, type));
    g->edge_count--;
    node_drop_if_empty(g, s);
    if (t != s) node_drop_if_empty(g, t);
    return 1;
}

uint64_t graph_remove_node(struct graph *g, const uint8_t id[KDB_ID_SIZE])
{
    uint32_t node = mem_find(g, id);
    struct graph_node *n;
    uint64_t removed = 0;

    if (node == GRAPH_NONE) {
        /* Not in memory: graph_node() found no node, so none in the base either. */
        return 0;
    }
    n = &g->nodes[node];
    kdb_assert(!node_pending(g, node));
    /* Each neighbour loses its entries for node; then node's own lists go. */
    for (uint32_t i = 0; i < n->out.count; i++) {
        uint32_t other = graph_entry_node(graph_list_get(&n->out, i));
        kdb_assert(!node_pending(g, other)); /* graph_node(neighbours_too) read it */
        if (other != node)
            list_remove(&g->nodes[other].in,
                        graph_entry(node, graph_entry_type(graph_list_get(&n->out, i))));
    }
    for (uint32_t i = 0; i < n->in.count; i++) {
        uint32_t other = graph_entry_node(graph_list_get(&n->in, i));
        kdb_assert(!node_pending(g, other));
        if (other != node)
            list_remove(&g->nodes[other].out,
                        graph_entry(node, graph_entry_type(graph_list_get(&n->in, i))));
    }
    /* A self-loop is in both of node's lists but is one edge. */
    for (uint32_t i = 0; i < n->out.count; i++)
        removed += graph_entry_node(graph_list_get(&n->out, i)) != node;
    removed += n->in.count;
    g->edge_count -= removed;
    for (uint32_t pass = 0; pass < 2; pass++) {
        const struct graph_list *list = pass ? &n->in : &n->out;
        for (uint32_t i = 0; i < list->count; i++) {
            uint32_t other = graph_entry_node(graph_list_get(list, i));
            if (other != node) node_drop_if_empty(g, other);
        }
    }
    n->out.count = n->in.count = 0;
    node_drop_if_empty(g, node);
    return removed;
}

/* ---- traversal ---- */

static int visits_push(const struct graph *g, struct graph_visits *v, struct graph_visit visit)
{
    if (v->count == v->capacity) {
        size_t capacity = v->capacity ? v->capacity * 2 : 64;
        struct graph_visit *items = env_realloc(g->env, v->items, capacity * sizeof(*items));
        if (!items) return -ENOMEM;
        v->items = items;
        v->capacity = capacity;
    }
    v->items[v->count++] = visit;
    return 0;
}

void graph_visits_release(const struct graph *g, struct graph_visits *visits)
{
    env_free(g->env, visits->items);
    memset(visits, 0, sizeof(*visits));
}

/*
 * A fresh epoch for the marks: every node reads as not yet reached. The
 * marks are made at the first traversal, so that an index that is only
 * written (a bulk load) never has them. Returns 0 or -ENOMEM.
 */
static int next_epoch(struct graph *g)
{
    if (!g->marks) {
        g->marks = env_calloc(g->env, g->node_capacity, sizeof(*g->marks));
        if (!g->marks) return -ENOMEM;
        g->epoch = 0;
    }
    if (++g->epoch == 0) {
        memset(g->marks, 0, (size_t)g->node_capacity * sizeof(*g->marks));
        g->epoch = 1;
    }
    return 0;
}

/*
 * Breadth-first over visits (which holds the start), stopping at goal
 * (GRAPH_NONE: none) or after limit visits. Returns 1 if goal was reached.
 */
static int breadth_first(struct graph *g, unsigned direction, uint32_t type_mask,
                         uint32_t max_depth, size_t limit, uint32_t goal,
                         struct graph_visits *visits)
{
    for (size_t head = 0; head < visits->count; head++) {
        const struct graph_visit here = visits->items[head];
        const struct graph_node *n;
        int rc;

        if (here.depth >= max_depth) continue;
        rc = node_load(g, here.node); /* may move g->nodes and g->marks */
        if (rc < 0) return rc;
        n = &g->nodes[here.node];
        for (unsigned pass = 0; pass < 2; pass++) {
            const struct graph_list *list = pass ? &n->in : &n->out;
            if (!(direction & (pass ? KDB_DIRECTION_IN : KDB_DIRECTION_OUT))) continue;
            for (uint32_t i = 0; i < list->count; i++) {
                uint32_t entry = graph_list_get(list, i), next = graph_entry_node(entry);
                unsigned type = graph_entry_type(entry);
                if (type_mask && !(type_mask & (UINT32_C(1) << type))) continue;
                if (g->marks[next] == g->epoch) continue;
                g->marks[next] = g->epoch;
                if (limit && visits->count == limit) return 0;
                rc = visits_push(g, visits,
                                 (struct graph_visit){.node = next,
                                                      .depth = here.depth + 1,
                                                      .parent = (uint32_t)head,
                                                      .type = type,
                                                      .reversed = pass == 1});
                if (rc < 0) return rc;
                if (next == goal) return 1;
            }
        }
    }
    return 0;
}

int graph_traverse(struct graph *g, uint32_t start, unsigned direction, uint32_t type_mask,
                   uint32_t max_depth, size_t limit, struct graph_visits *visits)
{
    int rc;

    kdb_assert(start < g->node_count);
    visits->count = 0;
    rc = next_epoch(g);
    if (rc < 0) return rc;
    g->marks[start] = g->epoch;
    rc = visits_push(g, visits, (struct graph_visit){.node = start, .parent = GRAPH_NONE});
    if (rc == 0 && limit != 1)
        rc = breadth_first(g, direction, type_mask, max_depth, limit, GRAPH_NONE, visits);
    return rc < 0 ? rc : 0;
}

int graph_path(struct graph *g, uint32_t start, uint32_t goal, unsigned direction,
               uint32_t type_mask, uint32_t max_depth, struct graph_visits *visits)
{
    size_t length = 0, base;
    int rc;

    kdb_assert(start < g->node_count && goal < g->node_count);
    visits->count = 0;
    rc = next_epoch(g);
    if (rc < 0) return rc;
    g->marks[start] = g->epoch;
    rc = visits_push(g, visits, (struct graph_visit){.node = start, .parent = GRAPH_NONE});
    if (rc < 0) return rc;
    if (start != goal) {
        rc = breadth_first(g, direction, type_mask, max_depth, 0, goal, visits);
        if (rc <= 0) {
            visits->count = 0;
            return rc;
        }
    }
    /* Copy the chain from the goal (the last visit) back to the start
     * behind the visits, then move it to the front, start first. */
    base = visits->count;
    for (uint32_t at = (uint32_t)base - 1; at != GRAPH_NONE; at = visits->items[at].parent) {
        rc = visits_push(g, visits, visits->items[at]);
        if (rc < 0) return rc;
        length++;
    }
    for (size_t i = 0; i < length; i++) {
        struct graph_visit v = visits->items[base + length - 1 - i]; /* never written: i < base */
        v.parent = i ? (uint32_t)i - 1 : GRAPH_NONE;
        v.depth = (uint32_t)i;
        visits->items[i] = v;
    }
    visits->count = length;
    return 1;
}

uint64_t graph_bytes(const struct graph *g)
{
    uint64_t bytes = (uint64_t)g->node_capacity * (sizeof(*g->nodes) + sizeof(*g->free_nodes));

    if (g->marks) bytes += (uint64_t)g->node_capacity * sizeof(*g->marks);
    if (g->in_base) bytes += (uint64_t)g->node_capacity * sizeof(*g->in_base);
    if (g->slots) bytes += (g->slot_mask + 1) * sizeof(*g->slots);
    if (g->from_base) bytes += (g->base->node_count + 1) * sizeof(*g->from_base);
    if (g->from_map) bytes += ((uint64_t)g->from_map_mask + 1) * sizeof(*g->from_map);
    return bytes + g->list_bytes;
}
