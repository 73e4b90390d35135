/* SPDX-License-Identifier: MIT */
/*
 * remote.h: a database handle that forwards to the process serving the
 * database (the client), and kdb_serve() (the server, in remote.c).
 *
 * db.c turns a kdb_open() that finds the database held into a remote
 * handle when a server answers on the database's socket, and routes every
 * public call of such a handle here. One request, one answer, in order;
 * an answer's bytes stay in the handle until its next call, so views and
 * query answers are copied out by db.c (queries) or valid until then
 * (kdb_get_block_view()).
 */
#ifndef KDB_ENGINE_REMOTE_H
#define KDB_ENGINE_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "kdb.h"

struct remote;

/* The requests, as numbered on the wire (FORMAT.md, "The socket"). */
enum remote_op {
    REMOTE_PUT_BLOCK = 1,
    REMOTE_DELETE_BLOCK = 2,
    REMOTE_GET_BLOCK = 3,
    REMOTE_READ_BLOCK = 4,
    REMOTE_SYNC = 5,
    REMOTE_FLUSH = 6,
    REMOTE_COMPACT = 7,
    REMOTE_PUT_EDGE = 8,
    REMOTE_DELETE_EDGE = 9,
    REMOTE_EDGES = 10,
    REMOTE_TRAVERSE = 11,
    REMOTE_PATH = 12,
    REMOTE_GET_BLOCKS = 13,
    REMOTE_CHECK = 14,
    REMOTE_STATS = 15,
    REMOTE_GET_HEADS = 16,
};

/*
 * Connects to the server of the database in directory db_path. Returns
 * -ECONNREFUSED when none answers there (no socket, or a stale one),
 * -EPROTO (not a KausalDB server, or another version), -ENOMEM, or -errno.
 */
KDB_MUST_USE int remote_connect(const struct env *env, const char *db_path, struct remote **out);
void remote_close(struct remote *r);

KDB_MUST_USE int remote_put_block(struct remote *r, const struct kdb_block *b,
                                  uint64_t *version_out);
KDB_MUST_USE int remote_get_block(struct remote *r, const struct kdb_id *id,
                                  struct kdb_block *view);
KDB_MUST_USE int remote_read_block(struct remote *r, const struct kdb_id *id, uint64_t offset,
                                   void *buf, size_t size, size_t *read_out);
/* REMOTE_DELETE_BLOCK (id), SYNC, FLUSH, COMPACT (id NULL). */
KDB_MUST_USE int remote_call(struct remote *r, enum remote_op op, const struct kdb_id *id);
/* REMOTE_PUT_EDGE, REMOTE_DELETE_EDGE. */
KDB_MUST_USE int remote_edge(struct remote *r, enum remote_op op, const struct kdb_edge *e);
KDB_MUST_USE int remote_check(struct remote *r, uint64_t *records_out);
KDB_MUST_USE int remote_stats(struct remote *r, struct kdb_stats *stats);

/* Queries: *count items wait in r, for the take call that follows. */
KDB_MUST_USE int remote_edges(struct remote *r, const struct kdb_id *id, unsigned direction,
                              uint32_t type_mask, size_t *count);
void remote_take_edges(struct remote *r, struct kdb_edge *edges, size_t count);
/* REMOTE_TRAVERSE (to NULL) or REMOTE_PATH. */
KDB_MUST_USE int remote_walk(struct remote *r, enum remote_op op, const struct kdb_id *from,
                             const struct kdb_id *to, const struct kdb_walk *walk, size_t *count);
void remote_take_nodes(struct remote *r, struct kdb_node *nodes, size_t count);
/*
 * n views (heads: without their content) wait, with *bytes bytes of
 * fields, for remote_take_blocks() to copy into bytes.
 */
KDB_MUST_USE int remote_get_blocks(struct remote *r, const struct kdb_id *ids, size_t n, bool heads,
                                   size_t *bytes);
void remote_take_blocks(struct remote *r, struct kdb_block *views, size_t n, bool heads,
                        uint8_t *bytes);

#endif /* KDB_ENGINE_REMOTE_H */
