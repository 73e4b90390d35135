/* SPDX-License-Identifier: MIT */
/*
 * graph_file.c: the edge index as a file (see graph_file.h; the layout is
 * FORMAT.md's, "The graph file").
 */
#include "graph_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "coding.h"
#include "format.h"
#include "graph.h"
#include "kassert.h"
#include "reader.h"

#define WRITE_BUFFER_SIZE (1u << 20) /* body bytes gathered per pwrite: whole pages */

static_assert(WRITE_BUFFER_SIZE % GRAPH_PAGE_SIZE == 0, "the buffer holds whole pages");

static int file_path(char *path, size_t size, const char *dir, const char *suffix)
{
    int n = snprintf(path, size, "%s/" GRAPH_NAME "%s", dir, suffix);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static uint64_t page_count_of(uint64_t body_size)
{
    return (body_size + GRAPH_PAGE_SIZE - 1) / GRAPH_PAGE_SIZE;
}

/* Where the body starts: after the header and the page checksums, on a page boundary. */
static uint64_t body_offset_of(uint64_t page_count)
{
    uint64_t end = GRAPH_HEADER_SIZE + page_count * 8;
    return (end + GRAPH_PAGE_SIZE - 1) / GRAPH_PAGE_SIZE * GRAPH_PAGE_SIZE;
}

/* ---- reading ---- */

static int damaged(const struct env *env, const char *dir, const char *what)
{
    return KDB_CORRUPT(env, "%s/" GRAPH_NAME ": %s; the edge index is rebuilt from the tables", dir,
                       what);
}

static int check_header(struct graph_base *b, const char *dir, uint64_t sequence)
{
    const uint8_t *h = b->map;
    uint64_t body_size;

    if (b->size < GRAPH_HEADER_SIZE || memcmp(h, GRAPH_MAGIC, FORMAT_MAGIC_SIZE) != 0)
        return damaged(b->env, dir, "not a graph file");
    if (get_le64(h + GRAPH_HEADER_CHECKSUM_OFFSET) !=
        checksum_64(h, GRAPH_HEADER_CHECKSUM_OFFSET, 0))
        return damaged(b->env, dir, "header checksum mismatch");
    if (get_le32(h + GRAPH_HEADER_VERSION_OFFSET) != GRAPH_VERSION ||
        get_le32(h + GRAPH_HEADER_PAGE_SIZE_OFFSET) != GRAPH_PAGE_SIZE)
        return damaged(b->env, dir, "unknown version");
    b->sequence = get_le64(h + GRAPH_HEADER_SEQUENCE_OFFSET);
    if (b->sequence != sequence) return -ESTALE;
    b->node_count = get_le64(h + GRAPH_HEADER_NODES_OFFSET);
    b->entry_count = get_le64(h + GRAPH_HEADER_ENTRIES_OFFSET);
    b->edge_count = get_le64(h + GRAPH_HEADER_EDGES_OFFSET);
    if (b->node_count > GRAPH_NODE_MAX || b->entry_count > UINT32_MAX ||
        b->edge_count * 2 != b->entry_count)
        return damaged(b->env, dir, "counts out of range");
    body_size = b->node_count * GRAPH_NODE_RECORD_SIZE + b->entry_count * 4;
    b->page_count = page_count_of(body_size);
    b->body = body_offset_of(b->page_count);
    if (b->size != b->body + body_size) return damaged(b->env, dir, "size does not match counts");
    return 0;
}

/* The table of page checksums, against the header's checksum of it. */
static int check_sums(const struct graph_base *b, const char *dir)
{
    if (get_le64(b->map + GRAPH_HEADER_SUMS_OFFSET) !=
        checksum_64(b->map + GRAPH_HEADER_SIZE, b->page_count * 8, 0))
        return damaged(b->env, dir, "page checksums damaged");
    return 0;
}

int graph_base_open(const struct env *env, const char *dir, uint64_t sequence, bool brief,
                    struct graph_base **out)
{
    const struct kdb_vfs *vfs = env->vfs;
    struct graph_base *b;
    char path[4096];
    int fd = -1, rc;

    *out = NULL;
    rc = file_path(path, sizeof(path), dir, "");
    if (rc < 0) return rc;
    b = env_calloc(env, 1, sizeof(*b));
    if (!b) return -ENOMEM;
    b->env = env;
    rc = vfs->open(vfs->ctx, path, KDB_VFS_OPEN_READ, &fd);
    if (rc == 0) rc = vfs->file_size(vfs->ctx, fd, &b->size);
    if (rc == 0 && b->size < GRAPH_HEADER_SIZE) rc = damaged(env, dir, "too short");
    if (rc == 0) rc = vfs->map(vfs->ctx, fd, b->size, (const void **)&b->map);
    if (rc == 0) rc = check_header(b, dir, sequence);
    if (rc == 0) rc = check_sums(b, dir);
    if (rc == 0 && brief) {
        /* The body is read with pread; the header and sums, checked, stay mapped. */
        b->reader = reader_open(env, fd, b->body, b->size - b->body); /* takes fd */
        fd = -1;
        if (!b->reader) rc = -ENOMEM;
    }
    if (fd >= 0) (void)vfs->close(vfs->ctx, fd);
    if (rc == 0 && !brief) {
        b->checked = env_calloc(env, (size_t)(b->page_count + 63) / 64 + 1, sizeof(uint64_t));
        if (!b->checked) rc = -ENOMEM;
    }
    if (rc < 0) {
        graph_base_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

void graph_base_close(struct graph_base *b)
{
    if (!b) return;
    if (b->map) (void)b->env->vfs->unmap(b->env->vfs->ctx, b->map, b->size);
    reader_free(b->reader);
    env_free(b->env, b->checked);
    env_free(b->env, b);
}

int graph_base_end_brief(struct graph_base *b)
{
    uint64_t *checked;

    if (!b || !b->reader) return 0;
    checked = env_calloc(b->env, (size_t)(b->page_count + 63) / 64 + 1, sizeof(uint64_t));
    if (!checked) return -ENOMEM;
    reader_free(b->reader);
    b->reader = NULL;
    b->checked = checked;
    return 0;
}

/* Body page p's bytes (len of them) against its checksum. */
static int check_page(const struct graph_base *b, uint64_t p, const uint8_t *bytes, size_t len)
{
    if (checksum_64(bytes, len, 0) != get_le64(b->map + GRAPH_HEADER_SIZE + p * 8))
        return KDB_CORRUPT(b->env, GRAPH_NAME ": page %llu of the body is damaged",
                           (unsigned long long)p);
    return 0;
}

static int brief_check_page(void *ctx, uint64_t p, const uint8_t *bytes, size_t len)
{
    return check_page(ctx, p, bytes, len);
}

/*
 * Body bytes [offset, offset + len), their pages checked: through the
 * mapping, each page once; through a brief handle's reader, the pages read
 * whole into its span (valid until the next read).
 */
static const uint8_t *body_bytes(struct graph_base *b, uint64_t offset, uint64_t len, int *rc)
{
    uint64_t body_size = b->size - b->body;
    uint64_t first = offset / GRAPH_PAGE_SIZE, last;

    *rc = 0;
    if (len == 0) return b->map + b->body + offset;
    last = (offset + len - 1) / GRAPH_PAGE_SIZE;
    kdb_assert(last < b->page_count);
    if (b->reader) {
        uint64_t start = first * GRAPH_PAGE_SIZE;
        uint64_t end =
            (last + 1) * GRAPH_PAGE_SIZE < body_size ? (last + 1) * GRAPH_PAGE_SIZE : body_size;
        const uint8_t *span;
        if (first == last) { /* one page: held by the reader for the next lookups */
            size_t got;
            span = reader_page(b->reader, first, brief_check_page, b, &got, rc);
            return span ? span + (offset - start) : NULL;
        }
        span = reader_span(b->reader, b->body + start, (size_t)(end - start), rc);
        if (!span) return NULL;
        for (uint64_t p = first; p <= last; p++) {
            uint64_t at = p * GRAPH_PAGE_SIZE - start;
            uint64_t size = p == last ? end - start - at : GRAPH_PAGE_SIZE;
            *rc = check_page(b, p, span + at, (size_t)size);
            if (*rc < 0) return NULL;
        }
        return span + (offset - start);
    }
    for (uint64_t p = first; p <= last; p++) {
        uint64_t start = p * GRAPH_PAGE_SIZE, size = GRAPH_PAGE_SIZE;
        if (b->checked[p / 64] & (UINT64_C(1) << (p % 64))) continue;
        if (start + size > body_size) size = body_size - start;
        *rc = check_page(b, p, b->map + b->body + start, (size_t)size);
        if (*rc < 0) return NULL;
        b->checked[p / 64] |= UINT64_C(1) << (p % 64);
    }
    return b->map + b->body + offset;
}

/* Node number's record, checked; NULL on damage (rc set). */
static const uint8_t *node_record(struct graph_base *b, uint32_t number, int *rc)
{
    kdb_assert(number < b->node_count);
    return body_bytes(b, (uint64_t)number * GRAPH_NODE_RECORD_SIZE, GRAPH_NODE_RECORD_SIZE, rc);
}

/* Node number's id against id (memcmp's sign) into *order: 0, or an error as node_record(). */
static int compare_at(struct graph_base *b, uint64_t number, const uint8_t id[KDB_ID_SIZE],
                      int *order)
{
    int rc;
    const uint8_t *record = node_record(b, (uint32_t)number, &rc);

    if (record) *order = memcmp(record, id, KDB_ID_SIZE);
    return rc;
}

/* Nodes a page of the body holds: a step of the search costs one page. */
#define NODES_PER_PAGE (GRAPH_PAGE_SIZE / GRAPH_NODE_RECORD_SIZE)

/*
 * Ids are hashes, spread evenly: an id's place among n sorted ones is about
 * n times its leading bits, give or take some sqrt(n). The search reads
 * there first, then steps away a page, two, four... until it passes the
 * id, then halves what is left: a few pages, where halving the whole list
 * reads one page per step.
 */
int graph_base_find(struct graph_base *b, const uint8_t id[KDB_ID_SIZE], uint32_t *number)
{
    uint64_t n = b->node_count, lo = 0, hi = n, guess;
    int order = 0, rc;

    if (n == 0) return -ENOENT;
    guess = ((get_be64(id) >> 32) * n) >> 32; /* n < 2^32 */
    rc = compare_at(b, guess, id, &order);
    if (rc < 0) return rc;
    if (order < 0) { /* the id is after guess */
        lo = guess + 1;
        for (uint64_t step = NODES_PER_PAGE; lo + step - 1 < n; step *= 2) {
            rc = compare_at(b, lo + step - 1, id, &order);
            if (rc < 0) return rc;
            if (order >= 0) {
                hi = lo + step; /* the id is at lo + step - 1 or before */
                break;
            }
            lo += step;
        }
    } else if (order > 0) { /* the id is before guess */
        hi = guess;
        for (uint64_t step = NODES_PER_PAGE; hi >= step; step *= 2) {
            rc = compare_at(b, hi - step, id, &order);
            if (rc < 0) return rc;
            if (order <= 0) {
                lo = hi - step; /* the id is at hi - step or after */
                break;
            }
            hi -= step;
        }
    } else {
        *number = (uint32_t)guess;
        return 0;
    }
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        rc = compare_at(b, mid, id, &order);
        if (rc < 0) return rc;
        if (order == 0) {
            *number = (uint32_t)mid;
            return 0;
        }
        if (order < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENOENT;
}

/* Node number's record into *node (entries NULL), checked; *first: its lists' first entry. */
static int read_record(struct graph_base *b, uint32_t number, struct graph_base_node *node,
                       uint64_t *first)
{
    int rc;
    const uint8_t *record = node_record(b, number, &rc);

    *first = 0;
    if (!record) return rc;
    *first = get_le64(record + KDB_ID_SIZE);
    memcpy(node->id, record, KDB_ID_SIZE);
    node->entries = NULL;
    node->out_count = get_le32(record + KDB_ID_SIZE + 8);
    node->in_count = get_le32(record + KDB_ID_SIZE + 12);
    if (*first > b->entry_count ||
        (uint64_t)node->out_count + node->in_count > b->entry_count - *first)
        return KDB_CORRUPT(b->env, GRAPH_NAME ": node %u's lists lie outside the file", number);
    return 0;
}

int graph_base_node(struct graph_base *b, uint32_t number, struct graph_base_node *node)
{
    uint64_t first, entries_at = b->node_count * GRAPH_NODE_RECORD_SIZE;
    int rc = read_record(b, number, node, &first);

    if (rc < 0) return rc;
    node->entries = body_bytes(b, entries_at + first * 4,
                               ((uint64_t)node->out_count + node->in_count) * 4, &rc);
    return rc;
}

int graph_base_node_record(struct graph_base *b, uint32_t number, struct graph_base_node *node)
{
    uint64_t first;

    return read_record(b, number, node, &first);
}

/* ---- writing ---- */

/* The body, streamed out a buffer at a time, each page's checksum noted. */
struct writer {
    const struct kdb_vfs *vfs;
    int fd;
    uint64_t body;    /* file offset of the body */
    uint64_t written; /* body bytes out */
    uint8_t *buffer;
    size_t used;
    uint64_t *sums; /* page checksums, by body page */
};

static int writer_flush(struct writer *w)
{
    int rc;

    if (w->used == 0) return 0;
    for (size_t at = 0; at < w->used; at += GRAPH_PAGE_SIZE) {
        size_t size = w->used - at < GRAPH_PAGE_SIZE ? w->used - at : GRAPH_PAGE_SIZE;
        w->sums[(w->written + at) / GRAPH_PAGE_SIZE] = checksum_64(w->buffer + at, size, 0);
    }
    rc = w->vfs->pwrite(w->vfs->ctx, w->fd, w->buffer, w->used, w->body + w->written);
    w->written += w->used;
    w->used = 0;
    return rc;
}

static int writer_put(struct writer *w, const void *bytes, size_t len)
{
    if (w->used + len > WRITE_BUFFER_SIZE) {
        int rc = writer_flush(w);
        if (rc < 0) return rc;
    }
    memcpy(w->buffer + w->used, bytes, len);
    w->used += len;
    return 0;
}

struct ranked {
    uint8_t id[KDB_ID_SIZE];
    uint32_t node;
};

static int by_id(const void *a, const void *b)
{
    return memcmp(((const struct ranked *)a)->id, ((const struct ranked *)b)->id, KDB_ID_SIZE);
}

/* The body of g: nodes sorted by id, then their lists, renumbered by rank. */
static int write_body(struct writer *w, const struct graph *g, const struct ranked *order,
                      uint64_t count, const uint32_t *rank)
{
    uint64_t first = 0;
    int rc = 0;

    for (uint64_t i = 0; rc == 0 && i < count; i++) {
        const struct graph_node *n = &g->nodes[order[i].node];
        uint8_t record[GRAPH_NODE_RECORD_SIZE] = {0};
        memcpy(record, n->id, KDB_ID_SIZE);
        put_le64(record + KDB_ID_SIZE, first);
        put_le32(record + KDB_ID_SIZE + 8, n->out.count);
        put_le32(record + KDB_ID_SIZE + 12, n->in.count);
        rc = writer_put(w, record, sizeof(record));
        first += (uint64_t)n->out.count + n->in.count;
    }
    for (uint64_t i = 0; rc == 0 && i < count; i++) {
        const struct graph_node *n = &g->nodes[order[i].node];
        for (int pass = 0; rc == 0 && pass < 2; pass++) {
            const struct graph_list *list = pass ? &n->in : &n->out;
            for (uint32_t e = 0; rc == 0 && e < list->count; e++) {
                uint8_t entry[4];
                put_le32(entry, graph_entry(rank[graph_entry_node(graph_list_get(list, e))],
                                            graph_entry_type(graph_list_get(list, e))));
                rc = writer_put(w, entry, sizeof(entry));
            }
        }
    }
    return rc == 0 ? writer_flush(w) : rc;
}

static int write_file(const struct env *env, const char *tmp, const struct graph *g,
                      const struct ranked *order, uint64_t count, const uint32_t *rank,
                      uint64_t entries, uint64_t sequence)
{
    const struct kdb_vfs *vfs = env->vfs;
    uint64_t body_size = count * GRAPH_NODE_RECORD_SIZE + entries * 4;
    uint64_t pages = page_count_of(body_size), body = body_offset_of(pages);
    struct writer w = {.vfs = vfs, .fd = -1, .body = body};
    uint8_t *head = NULL;
    int rc;

    w.buffer = env_malloc(env, WRITE_BUFFER_SIZE);
    w.sums = env_calloc(env, (size_t)pages + 1, sizeof(*w.sums));
    head = env_calloc(env, 1, (size_t)body);
    rc = w.buffer && w.sums && head ? 0 : -ENOMEM;
    if (rc == 0) {
        rc = vfs->open(vfs->ctx, tmp,
                       KDB_VFS_OPEN_READ | KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE |
                           KDB_VFS_OPEN_TRUNCATE,
                       &w.fd);
    }
    if (rc == 0) rc = write_body(&w, g, order, count, rank);
    if (rc == 0) {
        static const char magic[FORMAT_MAGIC_SIZE] = GRAPH_MAGIC; /* no NUL: 8 bytes */
        memcpy(head, magic, sizeof(magic));
        put_le32(head + GRAPH_HEADER_VERSION_OFFSET, GRAPH_VERSION);
        put_le32(head + GRAPH_HEADER_PAGE_SIZE_OFFSET, GRAPH_PAGE_SIZE);
        put_le64(head + GRAPH_HEADER_SEQUENCE_OFFSET, sequence);
        put_le64(head + GRAPH_HEADER_NODES_OFFSET, count);
        put_le64(head + GRAPH_HEADER_ENTRIES_OFFSET, entries);
        put_le64(head + GRAPH_HEADER_EDGES_OFFSET, g->edge_count);
        for (uint64_t p = 0; p < pages; p++)
            put_le64(head + GRAPH_HEADER_SIZE + p * 8, w.sums[p]);
        put_le64(head + GRAPH_HEADER_SUMS_OFFSET,
                 checksum_64(head + GRAPH_HEADER_SIZE, pages * 8, 0));
        put_le64(head + GRAPH_HEADER_CHECKSUM_OFFSET,
                 checksum_64(head, GRAPH_HEADER_CHECKSUM_OFFSET, 0));
        rc = vfs->pwrite(vfs->ctx, w.fd, head, (size_t)body, 0);
    }
    if (rc == 0) rc = vfs->fsync(vfs->ctx, w.fd);
    if (w.fd >= 0) {
        int close_rc = vfs->close(vfs->ctx, w.fd);
        if (rc == 0) rc = close_rc;
    }
    env_free(env, head);
    env_free(env, w.sums);
    env_free(env, w.buffer);
    return rc;
}

int graph_file_write(struct graph *g, const char *dir, uint64_t sequence)
{
    const struct env *env = g->env;
    char path[4096], tmp[4096];
    struct ranked *order = NULL;
    uint32_t *rank = NULL;
    uint64_t count = 0, entries = 0;
    int rc = graph_load_all(g);

    if (rc == 0) rc = file_path(path, sizeof(path), dir, "");
    if (rc == 0) rc = file_path(tmp, sizeof(tmp), dir, FORMAT_TMP_SUFFIX);
    if (rc < 0) return rc;
    order = env_calloc(env, (size_t)g->live_nodes + 1, sizeof(*order));
    rank = env_calloc(env, (size_t)g->node_count + 1, sizeof(*rank));
    if (!order || !rank) rc = -ENOMEM;
    for (uint32_t n = 0; rc == 0 && n < g->node_count; n++) {
        const struct graph_node *node = &g->nodes[n];
        if (node->out.count + node->in.count == 0) continue; /* a freed number */
        kdb_assert(count < g->live_nodes);
        memcpy(order[count].id, node->id, KDB_ID_SIZE);
        order[count++].node = n;
        entries += (uint64_t)node->out.count + node->in.count;
    }
    if (rc == 0 && entries != g->edge_count * 2) rc = -EUCLEAN; /* a broken invariant */
    if (rc == 0) {
        qsort(order, (size_t)count, sizeof(*order), by_id);
        for (uint64_t i = 0; i < count; i++)
            rank[order[i].node] = (uint32_t)i;
        rc = write_file(env, tmp, g, order, count, rank, entries, sequence);
    }
    if (rc == 0) rc = env->vfs->rename(env->vfs->ctx, tmp, path);
    if (rc < 0) (void)env->vfs->unlink(env->vfs->ctx, tmp);
    env_free(env, order);
    env_free(env, rank);
    return rc;
}

int graph_file_remove(const struct env *env, const char *dir)
{
    char path[4096];
    int rc = file_path(path, sizeof(path), dir, "");

    if (rc == 0) rc = env->vfs->unlink(env->vfs->ctx, path);
    return rc == -ENOENT ? 0 : rc;
}
