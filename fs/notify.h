/* SPDX-License-Identifier: MIT */
/*
 * notify.h: telling the kernel what of its caches no longer holds.
 *
 * The kernel keeps names, attributes, directory listings and file pages
 * for as long as the mount lives (see ops.c), so every change that reaches
 * the database by another way than the name the kernel just used must be
 * followed by an invalidation: an edge changed under one block shows in
 * the other's in/ directory, a block changed by `kausal put` has new
 * content and size.
 *
 * An invalidation must never be sent from the thread that answers requests:
 * the kernel takes the directory's lock to drop a name, and a lookup in that
 * directory may hold the lock while it waits for an answer from that very
 * thread. So invalidations are queued (under the core lock, as a change is
 * made) and sent by another thread: the queue's own thread for changes made
 * through the mount, or the socket's serving thread, which sends them before
 * it answers its client, so that the mount shows a change by the time the
 * `kausal` command that made it returns.
 */
#ifndef KDB_FS_NOTIFY_H
#define KDB_FS_NOTIFY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_session;

struct notify_item {
    uint64_t ino;   /* the inode; for an entry, its directory */
    bool entry;     /* drop the name (and what hangs under it), not the inode's caches */
    char name[256]; /* for an entry, NUL-terminated */
};

struct notify {
    struct fuse_session *se; /* set before the first item is queued */
    pthread_mutex_t lock;    /* guards items, count, capacity and stop */
    pthread_cond_t wake;
    struct notify_item *items; /* queued, not sent yet */
    size_t count;
    size_t capacity;
    bool stop;
    bool started; /* the thread runs */
    pthread_t thread;
};

/* Returns 0 or -errno; the thread starts here. */
int notify_init(struct notify *n, struct fuse_session *se);

/* Sends what is queued, stops the thread and frees the queue. */
void notify_release(struct notify *n);

/* Queues an invalidation of an inode's attributes and data (its listing, for a directory). */
void notify_inode(struct notify *n, uint64_t ino);

/* Queues an invalidation of the name in directory parent. */
void notify_entry(struct notify *n, uint64_t parent, const char *name);

/* Has the thread send what is queued, soon. */
void notify_kick(struct notify *n);

/* Sends what is queued now, on the calling thread; never call it while answering a request. */
void notify_drain(struct notify *n);

#endif /* KDB_FS_NOTIFY_H */
