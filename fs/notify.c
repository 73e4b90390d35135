/* SPDX-License-Identifier: MIT */
/*
 * notify.c: the queue of kernel cache invalidations and the thread that
 * sends them (see notify.h). Items are taken off the queue in one swap and
 * sent with no lock held, so that a thread queueing more never waits on
 * the kernel.
 */
#define FUSE_USE_VERSION 34

#include "notify.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>

/* A queue that cannot grow drops the item: the kernel then trusts a stale
 * name or attribute until its timeout, which is the best left to do. */
static void push(struct notify *n, const struct notify_item *item)
{
    pthread_mutex_lock(&n->lock);
    if (n->count == n->capacity) {
        size_t capacity = n->capacity ? n->capacity * 2 : 64;
        struct notify_item *items = realloc(n->items, capacity * sizeof(*items));
        if (!items) {
            pthread_mutex_unlock(&n->lock);
            return;
        }
        n->items = items;
        n->capacity = capacity;
    }
    n->items[n->count++] = *item;
    pthread_mutex_unlock(&n->lock);
}

void notify_inode(struct notify *n, uint64_t ino)
{
    struct notify_item item = {.ino = ino};
    push(n, &item);
}

void notify_entry(struct notify *n, uint64_t parent, const char *name)
{
    struct notify_item item = {.ino = parent, .entry = true};
    size_t len = strlen(name);

    if (len >= sizeof(item.name)) return;
    memcpy(item.name, name, len + 1);
    push(n, &item);
}

/* Sends items; the kernel's "not cached" (-ENOENT) is no failure, and no other answer can be acted on. */
static void send_items(struct notify *n, const struct notify_item *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (items[i].entry)
            (void)fuse_lowlevel_notify_inval_entry(n->se, items[i].ino, items[i].name,
                                                   strlen(items[i].name));
        else
            (void)fuse_lowlevel_notify_inval_inode(n->se, items[i].ino, 0, 0);
    }
}

/* Takes the queue, or NULL when it is empty. Called with n->lock held. */
static struct notify_item *take(struct notify *n, size_t *count)
{
    struct notify_item *items = n->items;

    *count = n->count;
    if (!items || n->count == 0) return NULL;
    n->items = NULL;
    n->count = 0;
    n->capacity = 0;
    return items;
}

void notify_drain(struct notify *n)
{
    for (;;) {
        size_t count;
        struct notify_item *items;

        pthread_mutex_lock(&n->lock);
        items = take(n, &count);
        pthread_mutex_unlock(&n->lock);
        if (!items) return;
        send_items(n, items, count);
        free(items);
    }
}

void notify_kick(struct notify *n)
{
    pthread_mutex_lock(&n->lock);
    if (n->count) pthread_cond_signal(&n->wake);
    pthread_mutex_unlock(&n->lock);
}

static void *run(void *arg)
{
    struct notify *n = arg;

    pthread_mutex_lock(&n->lock);
    for (;;) {
        size_t count;
        struct notify_item *items = take(n, &count);
        if (items) {
            pthread_mutex_unlock(&n->lock);
            send_items(n, items, count);
            free(items);
            pthread_mutex_lock(&n->lock);
            continue;
        }
        if (n->stop) break;
        pthread_cond_wait(&n->wake, &n->lock);
    }
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

int notify_init(struct notify *n, struct fuse_session *se)
{
    int rc;

    memset(n, 0, sizeof(*n));
    n->se = se;
    rc = pthread_mutex_init(&n->lock, NULL);
    if (rc != 0) return -rc;
    rc = pthread_cond_init(&n->wake, NULL);
    if (rc != 0) goto out_mutex;
    rc = pthread_create(&n->thread, NULL, run, n);
    if (rc != 0) goto out_cond;
    (void)pthread_setname_np(n->thread, "kfs-notify");
    n->started = true;
    return 0;
out_cond:
    pthread_cond_destroy(&n->wake);
out_mutex:
    pthread_mutex_destroy(&n->lock);
    return -rc;
}

void notify_release(struct notify *n)
{
    if (!n->started) return;
    pthread_mutex_lock(&n->lock);
    n->stop = true;
    pthread_cond_signal(&n->wake);
    pthread_mutex_unlock(&n->lock);
    pthread_join(n->thread, NULL);
    free(n->items);
    pthread_cond_destroy(&n->wake);
    pthread_mutex_destroy(&n->lock);
    memset(n, 0, sizeof(*n));
}
