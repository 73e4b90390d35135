/* SPDX-License-Identifier: MIT */
/*
 * ops.h: the mounted tree's request handlers (struct fuse_lowlevel_ops)
 * and the state they share.
 *
 * The narrow path to the core: every handler, and the socket's serving
 * thread (main.c), takes fs->lock before it touches the database, the
 * namespace or the reusable buffers, and keeps it until it has answered.
 * The engine handle is thus used by one thread at a time, as kdb.h asks.
 */
#ifndef KDB_FS_OPS_H
#define KDB_FS_OPS_H

#define FUSE_USE_VERSION 34

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "entries.h"
#include "kdb.h"
#include "namespace.h"
#include "notify.h"
#include "sources.h"

/* A name ln -s gave an edge, which resolves to it for the life of the mount. */
struct alias {
    uint64_t dir; /* the inode of the out/<type> or in/<type> directory */
    uint8_t far[KDB_ID_SIZE];
    char *name;
};

/* The blocks, in id order, as blocks/ and graph/ list them. */
struct snapshot_entry {
    uint8_t id[KDB_ID_SIZE];
    uint64_t size;     /* content bytes */
    uint64_t mtime_ns; /* the last change */
};

struct snapshot {
    struct snapshot_entry *items;
    size_t count;
    size_t capacity;
    bool valid; /* false once a block came or went (or changed through a client): the
                   next listing scans again; the mount's own writes update their entry */
};

struct fs {
    pthread_mutex_t lock;  /* the core lock: guards everything below but the constants */
    struct kdb *db;        /* NULL until the loop starts */
    struct kdb_result *r;  /* reused by every query */
    struct namespace ns;   /* inode numbers */
    struct notify notify;  /* invalidations to send */
    struct alias *aliases; /* few: only names ln -s chose */
    size_t alias_count;
    struct snapshot snapshot; /* for listing blocks/ and graph/ */
    struct sources sources;   /* the ingested files, for sources/ */
    struct entries entries;   /* the names of the edge or source directory listed last */
    uint64_t generation;      /* counts changes: what was listed before a change is stale */
    bool sources_listed; /* a sources/ listing or name went to the kernel since the last change */
    bool listed[2]; /* blocks/, graph/: a listing went to the kernel since its last invalidation */
    char *reply;    /* readdir's reply buffer, reused */
    size_t reply_size;
    uint8_t *scratch; /* a block's new fields as a write builds them, reused */
    size_t scratch_size;
    uint64_t content_size_max; /* the database's limit; writes past it get EFBIG */
    /* Constants once the loop runs: */
    const char *db_path;
    struct timespec mounted; /* the time of what has no block: README, the directories */
    bool no_open;            /* the kernel opens files itself: no OPEN or RELEASE round trips */
    bool no_opendir;         /* and directories */
};

extern const struct fuse_lowlevel_ops kfs_ops;

/* The text of README. */
extern const char kfs_readme[];

/*
 * Queues the invalidations a change made by a client of the socket calls
 * for. Called with fs->lock held, before the change is made (a deleted
 * block's neighbours are found through its edges).
 */
void kfs_will_change(struct fs *fs, const struct kdb_change *change);

/* Drops the snapshot of the blocks: one came or went. */
void kfs_blocks_changed(struct fs *fs);

/* Frees the aliases. */
void kfs_aliases_release(struct fs *fs);

#endif /* KDB_FS_OPS_H */
