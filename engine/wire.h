/* SPDX-License-Identifier: MIT */
/*
 * wire.h: the message codec of the socket a serving process answers on
 * (remote.c; the bytes are in FORMAT.md, "The socket").
 *
 * A message is a frame: a u32 length, then that many bytes of body. A
 * body is built with the wire_put_* calls into a wire_out, which grows as
 * needed; a failed growth is remembered and reported by wire_send(). A
 * frame received into a wire_in is read back with the wire_get_* calls,
 * which never read past its end: a short body marks the reader bad, and
 * the caller checks wire_in.bad once at the end.
 */
#ifndef KDB_ENGINE_WIRE_H
#define KDB_ENGINE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "kdb.h"

#define WIRE_FRAME_SIZE_MAX (UINT32_C(1) << 30) /* bytes of one body, at most */

struct wire_out {
    const struct env *env;
    uint8_t *buf; /* the frame: 4 bytes of length, then the body */
    size_t len;
    size_t capacity;
    int error; /* 0, or -ENOMEM / -EFBIG from a growth */
};

struct wire_in {
    const struct env *env;
    uint8_t *buf; /* the body of the last frame received */
    size_t capacity;
    const uint8_t *at; /* the next byte to read */
    size_t left;       /* bytes after at */
    bool bad;          /* a read went past the end */
};

void wire_out_init(struct wire_out *w, const struct env *env);
void wire_out_release(struct wire_out *w);
void wire_in_init(struct wire_in *r, const struct env *env);
void wire_in_release(struct wire_in *r);

/* Starts a new body. */
void wire_begin(struct wire_out *w);

void wire_put_u8(struct wire_out *w, uint8_t v);
void wire_put_u32(struct wire_out *w, uint32_t v);
void wire_put_u64(struct wire_out *w, uint64_t v);
void wire_put_bytes(struct wire_out *w, const void *bytes, size_t len);
void wire_put_id(struct wire_out *w, const struct kdb_id *id);
void wire_put_edge(struct wire_out *w, const struct kdb_edge *e);
/* A block; without content, its content_len and no content bytes (a head). */
void wire_put_block(struct wire_out *w, const struct kdb_block *b, bool content);

/* Room for len more bytes at the end of the body, for the caller to fill; NULL on failure. */
uint8_t *wire_room(struct wire_out *w, size_t len);

/*
 * Sends the frame whole. Returns 0, the growth failure, -ECONNRESET (the
 * peer is gone) or another socket error. SIGPIPE is never raised.
 */
KDB_MUST_USE int wire_send(int fd, struct wire_out *w);

/*
 * Receives one frame whole into r. Returns 0, -ECONNRESET (the peer closed,
 * before or within a frame), -EPROTO (a length over WIRE_FRAME_SIZE_MAX),
 * -ENOMEM, or another socket error (-EAGAIN when a receive timeout ran out).
 */
KDB_MUST_USE int wire_recv(int fd, struct wire_in *r);

uint8_t wire_get_u8(struct wire_in *r);
uint32_t wire_get_u32(struct wire_in *r);
uint64_t wire_get_u64(struct wire_in *r);
/* len bytes of the body, valid until the next wire_recv(); NULL (and bad) if fewer are left. */
const void *wire_get_bytes(struct wire_in *r, size_t len);
void wire_get_id(struct wire_in *r, struct kdb_id *id);
void wire_get_edge(struct wire_in *r, struct kdb_edge *e);
/* A block whose fields point into the body; without content, a head (content NULL). */
void wire_get_block(struct wire_in *r, struct kdb_block *b, bool content);

#endif /* KDB_ENGINE_WIRE_H */
