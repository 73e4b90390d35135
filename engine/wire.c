/* SPDX-License-Identifier: MIT */
/*
 * wire.c: frames and their fields (see wire.h), little-endian as every
 * other byte KausalDB writes (coding.h).
 */
#include "wire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coding.h"

void wire_out_init(struct wire_out *w, const struct env *env)
{
    memset(w, 0, sizeof(*w));
    w->env = env;
}

void wire_out_release(struct wire_out *w)
{
    env_free(w->env, w->buf);
    memset(w, 0, sizeof(*w));
}

void wire_in_init(struct wire_in *r, const struct env *env)
{
    memset(r, 0, sizeof(*r));
    r->env = env;
}

void wire_in_release(struct wire_in *r)
{
    env_free(r->env, r->buf);
    memset(r, 0, sizeof(*r));
}

void wire_begin(struct wire_out *w)
{
    w->len = 0;
    w->error = 0;
    (void)wire_room(w, 4); /* the length, filled in by wire_send() */
}

uint8_t *wire_room(struct wire_out *w, size_t len)
{
    uint8_t *p;

    if (w->error) return NULL;
    if (len > WIRE_FRAME_SIZE_MAX || w->len + len > (size_t)WIRE_FRAME_SIZE_MAX + 4) {
        w->error = -EFBIG;
        return NULL;
    }
    if (w->len + len > w->capacity) {
        size_t capacity = w->capacity ? w->capacity : 4096;
        while (capacity < w->len + len)
            capacity *= 2;
        p = env_realloc(w->env, w->buf, capacity);
        if (!p) {
            w->error = -ENOMEM;
            return NULL;
        }
        w->buf = p;
        w->capacity = capacity;
    }
    p = w->buf + w->len;
    w->len += len;
    return p;
}

void wire_put_u8(struct wire_out *w, uint8_t v)
{
    uint8_t *p = wire_room(w, 1);
    if (p) *p = v;
}

void wire_put_u32(struct wire_out *w, uint32_t v)
{
    uint8_t *p = wire_room(w, 4);
    if (p) put_le32(p, v);
}

void wire_put_u64(struct wire_out *w, uint64_t v)
{
    uint8_t *p = wire_room(w, 8);
    if (p) put_le64(p, v);
}

void wire_put_bytes(struct wire_out *w, const void *bytes, size_t len)
{
    uint8_t *p = wire_room(w, len);
    if (p && len) memcpy(p, bytes, len);
}

void wire_put_id(struct wire_out *w, const struct kdb_id *id)
{
    wire_put_bytes(w, id->bytes, KDB_ID_SIZE);
}

void wire_put_edge(struct wire_out *w, const struct kdb_edge *e)
{
    wire_put_id(w, &e->source);
    wire_put_id(w, &e->target);
    wire_put_u32(w, e->type);
}

void wire_put_block(struct wire_out *w, const struct kdb_block *b, bool content)
{
    wire_put_id(w, &b->id);
    wire_put_u64(w, b->version);
    wire_put_u64(w, b->mtime_ns);
    wire_put_u64(w, b->source_uri_len);
    wire_put_u64(w, b->metadata_len);
    wire_put_u64(w, b->content_len);
    wire_put_bytes(w, b->source_uri, b->source_uri_len);
    wire_put_bytes(w, b->metadata, b->metadata_len);
    if (content) wire_put_bytes(w, b->content, b->content_len);
}

int wire_send(int fd, struct wire_out *w)
{
    size_t done = 0;

    if (w->error) return w->error;
    put_le32(w->buf, (uint32_t)(w->len - 4));
    while (done < w->len) {
        ssize_t n = send(fd, w->buf + done, w->len - done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EPIPE ? -ECONNRESET : -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes. Returns 0, -ECONNRESET at an early end, or -errno. */
static int read_full(int fd, uint8_t *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n == 0) return -ECONNRESET;
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

int wire_recv(int fd, struct wire_in *r)
{
    uint8_t head[4];
    uint32_t len;
    int rc = read_full(fd, head, sizeof(head));

    if (rc < 0) return rc;
    len = get_le32(head);
    if (len > WIRE_FRAME_SIZE_MAX) return -EPROTO;
    if (len > r->capacity) {
        size_t capacity = r->capacity ? r->capacity : 4096;
        uint8_t *buf;
        while (capacity < len)
            capacity *= 2;
        buf = env_malloc(r->env, capacity);
        if (!buf) return -ENOMEM;
        env_free(r->env, r->buf);
        r->buf = buf;
        r->capacity = capacity;
    }
    rc = read_full(fd, r->buf, len);
    if (rc < 0) return rc;
    r->at = r->buf;
    r->left = len;
    r->bad = false;
    return 0;
}

const void *wire_get_bytes(struct wire_in *r, size_t len)
{
    const uint8_t *p = r->at;

    if (r->bad || len > r->left) {
        r->bad = true;
        return NULL;
    }
    r->at += len;
    r->left -= len;
    return p;
}

uint8_t wire_get_u8(struct wire_in *r)
{
    const uint8_t *p = wire_get_bytes(r, 1);
    return p ? *p : 0;
}

uint32_t wire_get_u32(struct wire_in *r)
{
    const uint8_t *p = wire_get_bytes(r, 4);
    return p ? get_le32(p) : 0;
}

uint64_t wire_get_u64(struct wire_in *r)
{
    const uint8_t *p = wire_get_bytes(r, 8);
    return p ? get_le64(p) : 0;
}

void wire_get_id(struct wire_in *r, struct kdb_id *id)
{
    const uint8_t *p = wire_get_bytes(r, KDB_ID_SIZE);

    if (p)
        memcpy(id->bytes, p, KDB_ID_SIZE);
    else
        memset(id->bytes, 0, KDB_ID_SIZE);
}

void wire_get_edge(struct wire_in *r, struct kdb_edge *e)
{
    wire_get_id(r, &e->source);
    wire_get_id(r, &e->target);
    e->type = wire_get_u32(r);
}

/* A length field that must fit what is left of the body. */
static size_t get_len(struct wire_in *r)
{
    uint64_t len = wire_get_u64(r);

    if (len > r->left) {
        r->bad = true;
        return 0;
    }
    return (size_t)len;
}

void wire_get_block(struct wire_in *r, struct kdb_block *b, bool content)
{
    size_t uri_len, meta_len, content_len;

    memset(b, 0, sizeof(*b));
    wire_get_id(r, &b->id);
    b->version = wire_get_u64(r);
    b->mtime_ns = wire_get_u64(r);
    uri_len = get_len(r);
    meta_len = get_len(r);
    if (!content) { /* a head: the length of a content that is not sent */
        uint64_t len = wire_get_u64(r);
        content_len = len > KDB_CONTENT_SIZE_LIMIT ? 0 : (size_t)len;
        r->bad |= len > KDB_CONTENT_SIZE_LIMIT;
    } else {
        content_len = get_len(r);
    }
    b->source_uri = wire_get_bytes(r, uri_len);
    b->source_uri_len = b->source_uri ? uri_len : 0;
    b->metadata = wire_get_bytes(r, meta_len);
    b->metadata_len = b->metadata ? meta_len : 0;
    if (!content) {
        b->content_len = r->bad ? 0 : content_len;
        return;
    }
    b->content = wire_get_bytes(r, content_len);
    b->content_len = b->content ? content_len : 0;
}
