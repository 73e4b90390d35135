/* SPDX-License-Identifier: MIT */
/*
 * graph_file.h: the edge index saved as a file, GRAPH (FORMAT.md, "The
 * graph file"), so that an open need not rebuild it from the tables.
 *
 * The file holds the index as the tables alone make it, as of the
 * manifest's last sequence number: every node sorted by id, each with its
 * out-list and in-list. Opening it maps it and reads only its header and
 * its table of page checksums; a node's record and lists are checked the
 * first time they are read, page by page. A brief handle's (KDB_OPEN_BRIEF)
 * reads the body's pages it needs with pread instead (reader.h), each
 * checked as it is read. graph.c reads a node from here the first time a
 * query or a change touches it (graph.h).
 *
 * The file is a cache: a missing, stale or damaged one costs one rebuild
 * from the tables, never a wrong answer.
 *
 * Threads: core only.
 */
#ifndef KDB_ENGINE_GRAPH_FILE_H
#define KDB_ENGINE_GRAPH_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "env.h"

struct graph;

/* A node as the file holds it: its lists are entries (graph.h's packing, little-endian u32). */
struct graph_base_node {
    uint8_t id[KDB_ID_SIZE];
    const uint8_t *entries; /* out_count out-entries, then in_count in-entries */
    uint32_t out_count;
    uint32_t in_count;
};

struct reader;

struct graph_base {
    const struct env *env;
    const uint8_t *map;
    uint64_t size;
    uint64_t sequence;
    uint64_t node_count;
    uint64_t entry_count;
    uint64_t edge_count;
    uint64_t body; /* file offset of the nodes, then the entries */
    uint64_t page_count;
    uint64_t *checked;     /* a bit per body page: its checksum matched (mapped) */
    struct reader *reader; /* a brief handle's (KDB_OPEN_BRIEF): the body read with pread */
};

/*
 * Maps dir's graph file if it was written at sequence; brief: reads its
 * body with pread instead, a page or a node's lists at a time.
 * Returns 0, -ENOENT (none), -ESTALE (written at another sequence),
 * -KDB_ECORRUPT (damaged: logged), -ENOMEM or an I/O error.
 */
KDB_MUST_USE int graph_base_open(const struct env *env, const char *dir, uint64_t sequence,
                                 bool brief, struct graph_base **out);

/* Unmaps and frees; NULL is fine. */
void graph_base_close(struct graph_base *base);

/*
 * A brief base reads its body through its mapping from now on, as others
 * do: 0, or -ENOMEM (it stays brief). NULL, or a base not brief, is fine.
 */
KDB_MUST_USE int graph_base_end_brief(struct graph_base *base);

/* The number of the node of id: 0, -ENOENT if it has none, or -KDB_ECORRUPT. */
KDB_MUST_USE int graph_base_find(struct graph_base *base, const uint8_t id[KDB_ID_SIZE],
                                 uint32_t *number);

/*
 * Node number's record and lists, checked: 0, -KDB_ECORRUPT, or for a brief
 * one -ENOMEM or an I/O error. node->entries is valid until the next
 * graph_base_find() or graph_base_node().
 */
KDB_MUST_USE int graph_base_node(struct graph_base *base, uint32_t number,
                                 struct graph_base_node *node);

/* Node number's id and list lengths alone, its record checked (node->entries NULL: the lists
 * are not read). Errors as above. */
KDB_MUST_USE int graph_base_node_record(struct graph_base *base, uint32_t number,
                                        struct graph_base_node *node);

/*
 * Writes g, whole, as dir's graph file for sequence (GRAPH.tmp, fsync'd,
 * then renamed over GRAPH). Reads every node of g's own file first, so g
 * must be the index of the tables as of sequence. Returns 0, -ENOMEM, an
 * I/O error or the corruption graph_load_all() met.
 */
KDB_MUST_USE int graph_file_write(struct graph *g, const char *dir, uint64_t sequence);

/* Removes dir's graph file, if any. */
int graph_file_remove(const struct env *env, const char *dir);

#endif /* KDB_ENGINE_GRAPH_FILE_H */
