/* SPDX-License-Identifier: MIT */
/*
 * reader.c: an immutable file read by the VFS's pread into reused buffers (see
 * reader.h).
 */
#include "reader.h"

#include <errno.h>
#include <string.h>

#include "kassert.h"

struct reader *reader_open(const struct env *env, int fd, uint64_t origin, uint64_t length)
{
    struct reader *r = env_malloc(env, sizeof(*r));

    if (!r) {
        (void)env->vfs->close(env->vfs->ctx, fd);
        return NULL;
    }
    memset(r, 0, sizeof(*r));
    r->env = env;
    r->fd = fd;
    r->origin = origin;
    r->length = length;
    for (unsigned i = 0; i < READER_SLOTS; i++)
        r->page_of[i] = UINT64_MAX;
    return r;
}

void reader_free(struct reader *r)
{
    if (!r) return;
    (void)r->env->vfs->close(r->env->vfs->ctx, r->fd);
    env_free(r->env, r->pages);
    env_free(r->env, r->span);
    env_free(r->env, r);
}

int reader_read(struct reader *r, void *buf, size_t len, uint64_t offset)
{
    const struct kdb_vfs *vfs = r->env->vfs;
    size_t got = 0;
    int rc = vfs->pread(vfs->ctx, r->fd, buf, len, offset, &got);

    if (rc < 0) return rc;
    return got == len ? 0 : KDB_CORRUPT(r->env, "a file is shorter than its own layout says");
}

const uint8_t *reader_page(struct reader *r, uint64_t p, reader_check_fn check, void *ctx,
                           size_t *len, int *rc)
{
    uint64_t start = p * READER_PAGE_SIZE;
    unsigned slot;
    uint8_t *page;

    kdb_assert(start < r->length);
    *len = r->length - start < READER_PAGE_SIZE ? (size_t)(r->length - start) : READER_PAGE_SIZE;
    for (unsigned i = 0; i < READER_SLOTS; i++) {
        if (r->page_of[i] == p) {
            *rc = 0;
            return r->pages + (size_t)i * READER_PAGE_SIZE;
        }
    }
    if (!r->pages) {
        r->pages = env_malloc(r->env, (size_t)READER_SLOTS * READER_PAGE_SIZE);
        if (!r->pages) {
            *rc = -ENOMEM;
            return NULL;
        }
    }
    slot = r->next;
    r->next = (r->next + 1) % READER_SLOTS;
    page = r->pages + (size_t)slot * READER_PAGE_SIZE;
    r->page_of[slot] = UINT64_MAX; /* held only once read and checked */
    *rc = reader_read(r, page, *len, r->origin + start);
    if (*rc == 0) *rc = check(ctx, p, page, *len);
    if (*rc < 0) return NULL;
    r->page_of[slot] = p;
    return page;
}

const uint8_t *reader_span(struct reader *r, uint64_t offset, size_t len, int *rc)
{
    if (len > r->span_cap) {
        size_t cap = r->span_cap ? r->span_cap : READER_PAGE_SIZE;
        uint8_t *grown;
        if (len > SIZE_MAX / 2) {
            *rc = -ENOMEM;
            return NULL;
        }
        while (cap < len)
            cap *= 2;
        /* The old bytes are not wanted: free first, so that the two are never held at once. */
        env_free(r->env, r->span);
        r->span = NULL;
        r->span_cap = 0;
        grown = env_malloc(r->env, cap);
        if (!grown) {
            *rc = -ENOMEM;
            return NULL;
        }
        r->span = grown;
        r->span_cap = cap;
    }
    *rc = reader_read(r, r->span, len, offset);
    return *rc < 0 ? NULL : r->span;
}
