/* SPDX-License-Identifier: MIT */
/*
 * graph.h: the edge index, in memory, both ways.
 *
 * Every live edge (source, type, target) is held twice: in the source's
 * out-list and in the target's in-list. A block with at least one edge is a
 * node: its id, found through an open-addressing hash table (seeded, linear
 * probing, slots tagged with hash bits, deletion by backward shift), and its
 * two lists, each a dense array of 32-bit entries (the other end's node
 * number, 28 bits, and the type, 4 bits) in the order the edges were added.
 * So a listing costs one hash probe and the length of the answer, and a
 * traversal touches, per node it reaches, its node record and its list,
 * plus one mark per edge in a dense array of marks small enough for the L2
 * cache.
 *
 * The index is what queries read; the log and the tables are what make it
 * durable: db.c keeps both in step. A node left without edges is freed and
 * its number reused.
 *
 * At open the index is either rebuilt from the tables or taken from the
 * graph file (graph_file.h) as its base: then a node is read from the file
 * the first time it is looked up, as a pending node (its id only), and its
 * lists the first time they are read or changed, when each far end becomes
 * a node (pending) in turn. So an open costs nothing per edge, and a query
 * reads the nodes it touches. A removal reads both ends' lists first; an
 * edge added between two pending nodes is looked for in the source's
 * out-list in the file and, if new, kept in their lists in memory, which
 * join the file's when they are read (replaying a log of a few edits then
 * reads no file's lists whole). So a pending node's lists in the file are
 * still right; a node dropped from memory is marked gone, so that the file
 * never brings it back.
 *
 * Threads: core only, like the memtable.
 */
#ifndef KDB_ENGINE_GRAPH_H
#define KDB_ENGINE_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "kdb.h"

#define GRAPH_NODE_BITS 28
#define GRAPH_NODE_MAX  ((UINT32_C(1) << GRAPH_NODE_BITS) - 1) /* node numbers below this */
#define GRAPH_NONE      UINT32_MAX
#define GRAPH_TYPE_BITS 4
#define GRAPH_TYPE_MASK ((UINT32_C(1) << GRAPH_TYPE_BITS) - 1)

/* An entry of a list: the other end and the type. */
static inline uint32_t graph_entry(uint32_t node, unsigned type)
{
    return node << GRAPH_TYPE_BITS | type;
}
static inline uint32_t graph_entry_node(uint32_t entry)
{
    return entry >> GRAPH_TYPE_BITS;
}
static inline unsigned graph_entry_type(uint32_t entry)
{
    return entry & GRAPH_TYPE_MASK;
}

/*
 * A node's out or in list. Most nodes of a code graph have an edge or two
 * each way (a macro: defined_in its file, which contains it), so up to
 * GRAPH_LIST_LOCAL entries are held in the list itself, and only a longer
 * list takes memory of its own.
 */
#define GRAPH_LIST_LOCAL 2

struct graph_list {
    union {
        uint32_t *heap;                   /* capacity > 0 */
        uint32_t local[GRAPH_LIST_LOCAL]; /* capacity == 0 */
    } at;
    uint32_t count;
    uint32_t capacity; /* entries heap holds; 0 while they are local */
};

static inline const uint32_t *graph_list_items(const struct graph_list *list)
{
    return list->capacity ? list->at.heap : list->at.local;
}

static inline uint32_t graph_list_get(const struct graph_list *list, uint32_t i)
{
    return graph_list_items(list)[i];
}

/* 48 bytes: a bulk load makes millions (its number in a base is kept apart, in graph.in_base). */
struct graph_node {
    uint8_t id[KDB_ID_SIZE];
    struct graph_list out; /* edges from this node */
    struct graph_list in;  /* edges to this node */
};

struct graph_base;

/* One node a traversal reached. */
struct graph_visit {
    uint32_t node;   /* node number */
    uint32_t depth;  /* edges from the start: 0 for the start itself */
    uint32_t parent; /* index in the visit list of the node it was reached from; GRAPH_NONE */
    uint32_t type;   /* type of the edge it was reached by; 0 for the start */
    bool reversed;   /* reached against an edge's direction (an in-edge) */
};

struct graph_visits {
    struct graph_visit *items;
    size_t count;
    size_t capacity;
};

struct graph {
    const struct env *env;
    uint64_t seed;
    struct graph_node *nodes; /* by node number; freed ones have empty lists */
    uint32_t node_count;      /* numbers in use or freed: the high-water mark */
    uint32_t node_capacity;
    uint32_t *free_nodes; /* freed numbers, to reuse (a stack) */
    uint32_t free_count;
    uint32_t *slots; /* hash table: node number + 1, 0 for empty */
    size_t slot_mask;
    uint32_t live_nodes;
    uint64_t edge_count;
    uint64_t list_bytes; /* memory of every node's two lists */
    /* Traversal scratch: marks[n] == epoch when node n was reached (made at the first). */
    uint32_t *marks;
    uint32_t epoch;
    /* The graph file the index started from, or NULL; for each of its
     * nodes, its node number + 1 here, 0 if not read yet, or GRAPH_GONE:
     * in from_map (open addressing, (file number + 1) << 32 | value) while
     * few are read, so that a query touches a page of it, not one per node
     * it reads; in the array from_base (by file number) once more than an
     * eighth of them are. */
    struct graph_base *base;
    uint32_t *from_base;
    uint64_t *from_map;
    uint32_t from_map_mask;
    uint32_t from_map_count;
    /* With a base, for each node: its number in the base, with GRAPH_PENDING
     * while its lists are still only there; or GRAPH_NONE. NULL without one. */
    uint32_t *in_base;
};

#define GRAPH_GONE    UINT32_MAX          /* in from_base: the node lost its edges since */
#define GRAPH_PENDING (UINT32_C(1) << 31) /* in in_base: the node's lists are still in the base */

/* Sets up an empty index; takes no memory until the first edge. */
void graph_init(struct graph *g, const struct env *env, uint64_t seed);

/*
 * Makes base (graph_file.h) the empty index's content, and takes it over.
 * Returns 0 or -ENOMEM (base is then closed).
 */
KDB_MUST_USE int graph_attach(struct graph *g, struct graph_base *base);

/* Frees everything. */
void graph_release(struct graph *g);

/*
 * The node of id, its lists read, into *node (GRAPH_NONE when id has no
 * edges). With neighbours_too, the lists of every node it has an edge with are
 * read as well, so that graph_remove_node() then cannot fail. Returns 0,
 * -ENOMEM or -KDB_ECORRUPT (the graph file is damaged).
 */
KDB_MUST_USE int graph_node(struct graph *g, const uint8_t id[KDB_ID_SIZE], bool neighbours_too,
                            uint32_t *node);

/*
 * The node of id into *node (GRAPH_NONE when id has no edges), its lists
 * not read, and in *bound at least the number of its edges both ways
 * (its record in the file read for that). Returns 0, -ENOMEM or
 * -KDB_ECORRUPT, or for a brief base an I/O error.
 */
KDB_MUST_USE int graph_find(struct graph *g, const uint8_t id[KDB_ID_SIZE], uint32_t *node,
                            uint64_t *bound);

/* Called by graph_each_edge() with an edge's far end and type; nonzero stops the walk. */
typedef int (*graph_edge_fn)(void *ctx, const uint8_t far[KDB_ID_SIZE], unsigned type, bool in);

/*
 * Calls fn for each edge of node (graph_find()'s) in direction (1: out,
 * 2: in, 3: both; out-edges first) whose type is in type_mask (0: any),
 * in list order. A node whose lists are still in the file stays so: only
 * the list asked for and its far ends' ids are read, not the node's other
 * list, nor the far ends' lists. Returns 0, fn's nonzero, -ENOMEM or an
 * error as graph_find().
 */
KDB_MUST_USE int graph_each_edge(struct graph *g, uint32_t node, unsigned direction,
                                 uint32_t type_mask, graph_edge_fn fn, void *ctx);

/*
 * Whether id is a node in memory (with edges, or with its lists still in
 * the base): then its block is live, since a block's delete takes its
 * edges, and its node, with it. False says nothing.
 */
bool graph_holds(const struct graph *g, const uint8_t id[KDB_ID_SIZE]);

/* Whether the edge is there: 1, 0, or an error as graph_node() gives. */
KDB_MUST_USE int graph_has(struct graph *g, const uint8_t source[KDB_ID_SIZE], unsigned type,
                           const uint8_t target[KDB_ID_SIZE]);

/*
 * Adds an edge; type is 1..KDB_EDGE_TYPE_MAX. Returns 1 if added, 0 if it
 * was there, -ENOMEM (nothing changed), -ENOSPC (GRAPH_NODE_MAX nodes) or
 * -KDB_ECORRUPT. Ends whose lists are still in the file stay so (see the
 * top of this file): a graph_remove() of the edge then reads them.
 */
KDB_MUST_USE int graph_add(struct graph *g, const uint8_t source[KDB_ID_SIZE], unsigned type,
                           const uint8_t target[KDB_ID_SIZE]);

/*
 * Starts loading what a graph_add() of an edge with this end will read:
 * the id's hash slot, or, once that is in the cache (node), its node. A
 * loop over many edges asks for both some edges ahead, so that the cache
 * misses of a random id overlap.
 */
void graph_prefetch(const struct graph *g, const uint8_t id[KDB_ID_SIZE], bool node);

/* Removes an edge. Returns 1 if removed, 0 if it was not there, or an error as graph_node(). */
KDB_MUST_USE int graph_remove(struct graph *g, const uint8_t source[KDB_ID_SIZE], unsigned type,
                              const uint8_t target[KDB_ID_SIZE]);

/*
 * Removes every edge from and to id (its node goes too), whose node
 * graph_node(neighbours_too) read. Returns how many.
 */
uint64_t graph_remove_node(struct graph *g, const uint8_t id[KDB_ID_SIZE]);

/* Reads every node of the base into memory (for graph_file_write()): 0 or an error. */
KDB_MUST_USE int graph_load_all(struct graph *g);

/*
 * Breadth-first from node start, following out-edges, in-edges or both
 * (KDB_DIRECTION_*), of the types in type_mask (bit t for type t; 0: all),
 * to at most max_depth edges away, reaching each node once. visits gets the
 * start, then each node in the order reached, up to limit entries (0: no
 * limit). Returns 0, -ENOMEM or -KDB_ECORRUPT.
 */
KDB_MUST_USE int graph_traverse(struct graph *g, uint32_t start, unsigned direction,
                                uint32_t type_mask, uint32_t max_depth, size_t limit,
                                struct graph_visits *visits);

/*
 * A shortest path from start to goal along edges as graph_traverse()
 * follows them, at most max_depth edges long: visits holds it start first,
 * each entry's parent the one before. Returns 1 if found, 0 if not,
 * -ENOMEM or -KDB_ECORRUPT.
 */
KDB_MUST_USE int graph_path(struct graph *g, uint32_t start, uint32_t goal, unsigned direction,
                            uint32_t type_mask, uint32_t max_depth, struct graph_visits *visits);

/* Frees a visit list's memory. */
void graph_visits_release(const struct graph *g, struct graph_visits *visits);

/* Bytes of memory the index holds (constant time). */
uint64_t graph_bytes(const struct graph *g);

#endif /* KDB_ENGINE_GRAPH_H */
