/* SPDX-License-Identifier: MIT */
/*
 * namespace.h: what each name of the mounted tree is, and its inode number.
 *
 * Every name the kernel looks up is a key: a kind (README, blocks/<ID>, an
 * edge link, ...), the block it belongs to, and for edges their type and
 * far end. Each key gets an inode number on first sight, the same one for
 * the life of the mount (the kernel may forget an inode and look it up
 * again; it finds the same number). Pure mapping: no database, no FUSE.
 * Used only on the thread that holds the core lock (see ops.h).
 */
#ifndef KDB_FS_NAMESPACE_H
#define KDB_FS_NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kdb.h"

enum ns_kind {
    NS_ROOT = 1,
    NS_README,
    NS_BLOCKS,
    NS_GRAPH,
    NS_SOURCES,
    NS_BLOCK,    /* blocks/<ID>, and graph/<ID>/content: one file, two names */
    NS_NODE,     /* graph/<ID> */
    NS_OUT,      /* graph/<ID>/out */
    NS_IN,       /* graph/<ID>/in */
    NS_OUT_TYPE, /* graph/<ID>/out/<type> */
    NS_IN_TYPE,  /* graph/<ID>/in/<type> */
    NS_LINK_OUT, /* graph/<ID>/out/<type>/<entry>: the edge ID -type-> far */
    NS_LINK_IN,  /* graph/<ID>/in/<type>/<entry>: the edge far -type-> ID */
    NS_SRC_DIR,  /* sources/<dir>/: id is sources_dir_id() of its path */
    NS_SRC_FILE, /* sources/<path>/ of a file: id is the file's block */
    NS_SRC_LINK, /* sources/<path>/<symbol>: id the file, far the symbol */
};

/* What an inode number names. Compared and hashed as bytes: make_key() zeroes it. */
struct ns_key {
    uint8_t kind; /* enum ns_kind */
    uint8_t type; /* an edge type, for the edge kinds; else 0 */
    uint8_t id[KDB_ID_SIZE];
    uint8_t far[KDB_ID_SIZE]; /* the other end of an edge link; else zero */
};

struct namespace
{
    struct ns_key *keys; /* keys[ino - 1] */
    size_t key_count;
    size_t key_capacity;
    uint64_t *slots; /* open-addressing table of inode numbers; 0 is empty */
    size_t slot_mask;
};

/* The fixed inodes: 1 the root, then README, blocks, graph, sources. Returns -ENOMEM. */
int ns_init(struct namespace *ns);
void ns_release(struct namespace *ns);

struct ns_key ns_key(enum ns_kind kind, const uint8_t *id, unsigned type, const uint8_t *far);

/* The inode number of k, given one if it has none. Returns 0 when out of memory. */
uint64_t ns_ino(struct namespace *ns, const struct ns_key *k);

/* The inode number of k if it has one, else 0. */
uint64_t ns_find(const struct namespace *ns, const struct ns_key *k);

/* What ino names, or NULL; valid until the next ns_ino(). */
const struct ns_key *ns_key_of(const struct namespace *ns, uint64_t ino);

bool ns_is_dir(enum ns_kind kind);

static inline bool ns_is_link(enum ns_kind kind)
{
    return kind == NS_LINK_OUT || kind == NS_LINK_IN || kind == NS_SRC_LINK;
}

/* Whether the kind lives under sources/ (whose names change with each ingest). */
static inline bool ns_is_source(enum ns_kind kind)
{
    return kind == NS_SOURCES || kind == NS_SRC_DIR || kind == NS_SRC_FILE || kind == NS_SRC_LINK;
}

/* The directory of fixed names under the root: README, blocks, graph, sources. */
extern const char *const ns_root_names[4];

/* Parses a 32-hex-digit name into id. */
bool ns_parse_id(const char *name, uint8_t *id);

/*
 * The block id a symlink target names: its last component, which must be
 * 32 hex digits ("../../../<ID>", "<ID>", "/mnt/graph/<ID>/" all do).
 */
bool ns_parse_link_target(const char *target, uint8_t *id);

#endif /* KDB_FS_NAMESPACE_H */
