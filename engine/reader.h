/* SPDX-License-Identifier: MIT */
/*
 * reader.h: an immutable file read with pread(2) into a few buffers, for
 * brief handles (KDB_OPEN_BRIEF).
 *
 * A handle that opens, answers a query or two and closes touches a few
 * dozen pages of each table and of the graph file. Through a mapping, each
 * of those pages costs a page fault, and the close unmaps them; where
 * faults are dear (a virtual machine: tens of microseconds each), those
 * are most of the query's time. A reader copies what is asked for into
 * buffers it reuses instead: a few pages that hold a region of the file
 * 4 KiB at a time (an index, a body of nodes), each checked when it is
 * read, and one buffer for spans of any length (a record).
 *
 * Threads: one thread at a time (the core).
 */
#ifndef KDB_ENGINE_READER_H
#define KDB_ENGINE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"

#define READER_PAGE_SIZE 4096u
#define READER_SLOTS     4u /* pages held: a page stays as long as READER_SLOTS - 1 reads after it */

/* Checks page p's bytes as they are read; 0, or the error reader_page() is to return. */
typedef int (*reader_check_fn)(void *ctx, uint64_t p, const uint8_t *bytes, size_t len);

struct reader {
    const struct env *env;
    int fd;                         /* the reader's own */
    uint64_t origin;                /* the file offset of page 0 of the region */
    uint64_t length;                /* bytes of the region */
    uint8_t *pages;                 /* READER_SLOTS pages, allocated at the first read */
    uint64_t page_of[READER_SLOTS]; /* the page a slot holds; UINT64_MAX: none */
    unsigned next;                  /* the slot the next read takes */
    uint8_t *span;                  /* reader_span()'s buffer */
    size_t span_cap;
};

/*
 * A new reader of fd (which it takes: closed on failure too) whose pages
 * are those of bytes [origin, origin + length); NULL if out of memory.
 */
struct reader *reader_open(const struct env *env, int fd, uint64_t origin, uint64_t length);

/* Closes the file and frees the reader with its buffers; NULL is fine. */
void reader_free(struct reader *r);

/*
 * Page p of the region (*len bytes: READER_PAGE_SIZE, or fewer for the
 * last), read and passed to check when it is not held already. NULL, with
 * *rc: -ENOMEM, an I/O error, -KDB_ECORRUPT for a file shorter than it
 * should be, or check's error (the page is then not kept).
 */
const uint8_t *reader_page(struct reader *r, uint64_t p, reader_check_fn check, void *ctx,
                           size_t *len, int *rc);

/* File bytes [offset, offset + len) into buf: 0, an I/O error, or -KDB_ECORRUPT if the file ends first. */
int reader_read(struct reader *r, void *buf, size_t len, uint64_t offset);

/*
 * File bytes [offset, offset + len), read into the span buffer: valid until
 * the next reader_span(). NULL, with *rc as for reader_page().
 */
const uint8_t *reader_span(struct reader *r, uint64_t offset, size_t len, int *rc);

#endif /* KDB_ENGINE_READER_H */
