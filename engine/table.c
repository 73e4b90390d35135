/* SPDX-License-Identifier: MIT */
/*
 * table.c: writing and reading SSTables (see table.h, FORMAT.md "SSTable").
 */
#include "table.h"

#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "block.h"
#include "coding.h"
#include "kassert.h"
#include "reader.h"

/* Tables go out in aligned 2 MiB pieces: the page cache then keeps them in
 * 2 MiB folios, which a mapping reads through huge pages (vfs_posix.c). */
#define TABLE_BUFFER_SIZE (2u << 20)
#define TABLE_WRITEBACK_BYTES                                                                      \
    (8u << 20) /* where the file system refused direct I/O: hint writeback this often, so the
                  fsync is short */
/* Index entries held in memory; beyond, they go to a spill file until finish. */
#define TABLE_INDEX_HELD ((size_t)(1u << 20) / TABLE_INDEX_ENTRY_SIZE)
#define TABLE_CHECK_STEP 65536u /* index entries table_check_all() checks at a time (2 MiB) */

int table_path(char *path, size_t size, const char *dir, uint64_t number, const char *suffix)
{
    int n = snprintf(path, size, "%s/" TABLE_PREFIX "%016" PRIx64 "%s", dir, number, suffix);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static size_t padded(size_t len)
{
    return (len + TABLE_RECORD_ALIGN - 1) & ~(size_t)(TABLE_RECORD_ALIGN - 1);
}

/* ---- writing ---- */

static int flush_buffer(struct table_builder *tb)
{
    const struct kdb_vfs *vfs = tb->env->vfs;
    uint64_t at = tb->offset - tb->buf_len;
    int rc;

    if (!tb->buf_len) return 0;
    rc = vfs->pwrite(vfs->ctx, tb->fd, tb->buf, tb->buf_len, at);
    if (rc < 0) return rc;
    tb->buf_len = 0;
    if (tb->offset - tb->synced_hint >= TABLE_WRITEBACK_BYTES) {
        (void)vfs->writeback(vfs->ctx, tb->fd, tb->synced_hint, tb->offset - tb->synced_hint);
        tb->synced_hint = tb->offset;
    }
    return 0;
}

/*
 * Writes the last, partial piece: padded with zeros to a whole direct-I/O
 * block, then cut back to the table's length.
 */
static int flush_last(struct table_builder *tb)
{
    const struct kdb_vfs *vfs = tb->env->vfs;
    size_t padded = (tb->buf_len + KDB_VFS_DIRECT_ALIGN - 1) & ~(size_t)(KDB_VFS_DIRECT_ALIGN - 1);
    uint64_t at = tb->offset - tb->buf_len;
    int rc;

    if (!tb->buf_len) return 0;
    memset(tb->buf + tb->buf_len, 0, padded - tb->buf_len);
    rc = vfs->pwrite(vfs->ctx, tb->fd, tb->buf, padded, at);
    if (rc == 0 && padded != tb->buf_len) rc = vfs->truncate(vfs->ctx, tb->fd, tb->offset);
    if (rc == 0) tb->buf_len = 0;
    return rc;
}

/* Appends bytes to the file through the buffer, which goes out whenever it is full. */
static int emit(struct table_builder *tb, const void *bytes, size_t len)
{
    const uint8_t *p = bytes;

    while (len) {
        size_t n = tb->buf_cap - tb->buf_len < len ? tb->buf_cap - tb->buf_len : len;
        memcpy(tb->buf + tb->buf_len, p, n);
        tb->buf_len += n;
        tb->offset += n;
        p += n;
        len -= n;
        if (tb->buf_len == tb->buf_cap) {
            int rc = flush_buffer(tb);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

static void free_buffers(struct table_builder *tb)
{
    env_free(tb->env, tb->buf_memory);
    env_free(tb->env, tb->index);
    env_free(tb->env, tb->sums);
    tb->sums = NULL;
    tb->buf_memory = NULL;
    tb->buf = NULL;
    tb->index = NULL;
}

int table_builder_start(struct table_builder *tb, const struct env *env, const char *dir,
                        uint64_t number)
{
    const struct kdb_vfs *vfs = env->vfs;
    uint8_t header[TABLE_HEADER_SIZE] = {0};
    int rc;

    memset(tb, 0, offsetof(struct table_builder, stream));
    tb->env = env;
    tb->fd = -1;
    tb->spill_fd = -1;
    tb->number = number;
    rc = table_path(tb->tmp_path, sizeof(tb->tmp_path), dir, number, FORMAT_TMP_SUFFIX);
    if (rc == 0) rc = table_path(tb->path, sizeof(tb->path), dir, number, TABLE_SUFFIX);
    if (rc == 0)
        rc = table_path(tb->spill_path, sizeof(tb->spill_path), dir, number,
                        ".index" FORMAT_TMP_SUFFIX);
    if (rc < 0) return rc;
    tb->buf_cap = TABLE_BUFFER_SIZE;
    tb->buf_memory = env_malloc(env, tb->buf_cap + KDB_VFS_DIRECT_ALIGN);
    tb->index = env_malloc(env, TABLE_INDEX_HELD * TABLE_INDEX_ENTRY_SIZE);
    if (!tb->buf_memory || !tb->index) {
        free_buffers(tb);
        return -ENOMEM;
    }
    tb->buf = (uint8_t *)tb->buf_memory +
              (KDB_VFS_DIRECT_ALIGN - (uintptr_t)tb->buf_memory % KDB_VFS_DIRECT_ALIGN) %
                  KDB_VFS_DIRECT_ALIGN;
    rc = vfs->open(vfs->ctx, tb->tmp_path,
                   KDB_VFS_OPEN_READ | KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE |
                       KDB_VFS_OPEN_TRUNCATE | KDB_VFS_OPEN_DIRECT,
                   &tb->fd);
    if (rc < 0) {
        free_buffers(tb);
        return rc;
    }
    memcpy(header + TABLE_HEADER_MAGIC_OFFSET, TABLE_MAGIC, FORMAT_MAGIC_SIZE);
    put_le32(header + TABLE_HEADER_VERSION_OFFSET, TABLE_VERSION);
    put_le32(header + TABLE_HEADER_SIZE_OFFSET, TABLE_HEADER_SIZE);
    put_le64(header + TABLE_HEADER_NUMBER_OFFSET, number);
    put_le64(header + TABLE_HEADER_CREATED_OFFSET, vfs->now_ns(vfs->ctx));
    put_le64(header + TABLE_HEADER_CHECKSUM_OFFSET,
             checksum_64(header, TABLE_HEADER_CHECKSUM_OFFSET, 0));
    rc = emit(tb, header, sizeof(header));
    if (rc < 0) table_builder_abort(tb);
    return rc;
}

/* Moves the held index entries to the end of the spill file. */
static int spill(struct table_builder *tb)
{
    const struct kdb_vfs *vfs = tb->env->vfs;
    int rc = 0;

    if (tb->spill_fd < 0) {
        rc = vfs->open(vfs->ctx, tb->spill_path,
                       KDB_VFS_OPEN_READ | KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE |
                           KDB_VFS_OPEN_TRUNCATE,
                       &tb->spill_fd);
    }
    if (rc == 0)
        rc = vfs->pwrite(vfs->ctx, tb->spill_fd, tb->index, tb->index_len * TABLE_INDEX_ENTRY_SIZE,
                         tb->spilled * TABLE_INDEX_ENTRY_SIZE);
    if (rc < 0) return rc;
    tb->spilled += tb->index_len;
    tb->index_len = 0;
    return 0;
}

static int add_index_entry(struct table_builder *tb, const uint8_t id[16], uint64_t location,
                           uint64_t checksum)
{
    bool edge = (location & TABLE_INDEX_EDGE) != 0;
    uint8_t *e;

    /* Blocks by id, then edges by key. */
    if (tb->count) kdb_assert(edge != tb->last_edge ? edge : memcmp(tb->last_id, id, 16) < 0);
    if (tb->index_len == TABLE_INDEX_HELD) {
        int rc = spill(tb);
        if (rc < 0) return rc;
    }
    e = tb->index + tb->index_len * TABLE_INDEX_ENTRY_SIZE;
    memcpy(e, id, 16);
    put_le64(e + 16, location);
    put_le64(e + 24, checksum);
    memcpy(tb->last_id, id, 16);
    tb->last_edge = edge;
    tb->index_len++;
    tb->count++;
    if (!edge) tb->block_count++;
    if (location & TABLE_INDEX_TOMBSTONE) tb->tombstones++;
    return 0;
}

int table_builder_add(struct table_builder *tb, const uint8_t id[16], uint64_t sequence,
                      unsigned type, const uint8_t *payload, size_t payload_len)
{
    static const uint8_t zeros[TABLE_RECORD_ALIGN] = {0};
    uint8_t header[TABLE_RECORD_HEADER_SIZE] = {0};
    uint64_t location = tb->offset;
    size_t pad =
        padded(TABLE_RECORD_HEADER_SIZE + payload_len) - TABLE_RECORD_HEADER_SIZE - payload_len;
    int rc;

    kdb_assert(type == WAL_RECORD_PUT_BLOCK || type == WAL_RECORD_DELETE_BLOCK ||
               type == WAL_RECORD_PUT_EDGE || type == WAL_RECORD_DELETE_EDGE);
    put_le64(header, sequence);
    put_le32(header + 8, (uint32_t)payload_len);
    header[12] = (uint8_t)type;
    checksum_stream_begin(&tb->stream);
    checksum_stream_update(&tb->stream, header, sizeof(header));
    checksum_stream_update(&tb->stream, payload, payload_len);
    checksum_stream_update(&tb->stream, zeros, pad);
    rc = emit(tb, header, sizeof(header));
    if (rc == 0) rc = emit(tb, payload, payload_len);
    if (rc == 0) rc = emit(tb, zeros, pad);
    if (rc < 0) return rc;
    if (sequence > tb->max_sequence) tb->max_sequence = sequence;
    if (type == WAL_RECORD_DELETE_BLOCK || type == WAL_RECORD_DELETE_EDGE)
        location |= TABLE_INDEX_TOMBSTONE;
    if (type == WAL_RECORD_PUT_EDGE || type == WAL_RECORD_DELETE_EDGE) location |= TABLE_INDEX_EDGE;
    return add_index_entry(tb, id, location, checksum_stream_end(&tb->stream));
}

int table_builder_add_raw(struct table_builder *tb, const uint8_t id[16], const uint8_t *record,
                          size_t len, uint64_t location_flags, uint64_t checksum)
{
    uint64_t location = tb->offset | location_flags;
    uint64_t sequence = get_le64(record);
    int rc = emit(tb, record, len);

    if (rc < 0) return rc;
    if (sequence > tb->max_sequence) tb->max_sequence = sequence;
    return add_index_entry(tb, id, location, checksum);
}

/* About TABLE_RADIX_IDS_PER_BUCKET ids a bucket: a lookup's search then stays in two cache lines. */
static unsigned radix_bits_for(uint64_t count)
{
    unsigned bits = 0;
    while (bits < TABLE_RADIX_BITS_MAX &&
           (UINT64_C(1) << bits) * TABLE_RADIX_IDS_PER_BUCKET < count)
        bits++;
    return bits;
}

/* Radix table and bloom filter, built as the index goes by in order. */
struct filters {
    uint8_t *radix; /* zeroed by the caller, as is bloom */
    uint8_t *bloom;
    unsigned radix_bits;
    uint64_t bloom_blocks;
    uint64_t position; /* index entries seen */
    uint64_t next;     /* the next bucket whose start is not yet written */
};

static void filters_add(struct filters *f, const uint8_t *entries, size_t count)
{
    for (size_t i = 0; i < count; i++, f->position++) {
        const uint8_t *id = entries + i * TABLE_INDEX_ENTRY_SIZE;
        if (get_le64(id + 16) & TABLE_INDEX_EDGE) return; /* edges come last, unfiltered */
        uint64_t bucket = table_bucket(table_id_prefix(id), f->radix_bits);
        uint64_t hash = hash_id(id);
        uint8_t *line =
            f->bloom + (((hash >> 32) * f->bloom_blocks) >> 32) * TABLE_BLOOM_BLOCK_SIZE;
        uint32_t x = (uint32_t)hash;

        for (; f->next <= bucket; f->next++)
            put_le32(f->radix + f->next * 4, (uint32_t)f->position);
        for (int k = 0; k < TABLE_BLOOM_PROBES; k++) {
            uint32_t bit = x >> (32 - 9);
            line[bit >> 3] |= (uint8_t)(1u << (bit & 7));
            x *= 0x9e3779b9u;
        }
    }
}

/* The buckets after the last block's end where the blocks end. */
static void filters_end(struct filters *f, uint64_t block_count)
{
    for (; f->next <= (UINT64_C(1) << f->radix_bits); f->next++)
        put_le32(f->radix + f->next * 4, (uint32_t)block_count);
}

/* Ends the page being summed: its checksum joins the list. */
static int end_page(struct table_builder *tb)
{
    if (tb->sum_count == tb->sum_cap) {
        size_t cap = tb->sum_cap ? tb->sum_cap * 2 : 256;
        uint64_t *sums = env_realloc(tb->env, tb->sums, cap * sizeof(*sums));
        if (!sums) return -ENOMEM;
        tb->sums = sums;
        tb->sum_cap = cap;
    }
    tb->sums[tb->sum_count++] = checksum_stream_end(&tb->page);
    checksum_stream_begin(&tb->page);
    tb->in_page = 0;
    return 0;
}

/* Sums bytes of the index and filters, in the order written, a page at a time. */
static int sum_pages(struct table_builder *tb, const uint8_t *bytes, size_t len)
{
    while (len) {
        size_t n = TABLE_META_PAGE_SIZE - tb->in_page;
        if (n > len) n = len;
        checksum_stream_update(&tb->page, bytes, n);
        tb->in_page += n;
        bytes += n;
        len -= n;
        if (tb->in_page == TABLE_META_PAGE_SIZE) {
            int rc = end_page(tb);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

/* Appends index entries to the table: folded into the filters and the page sums. */
static int emit_entries(struct table_builder *tb, struct filters *f, const uint8_t *entries,
                        size_t count)
{
    int rc;

    filters_add(f, entries, count);
    rc = sum_pages(tb, entries, count * TABLE_INDEX_ENTRY_SIZE);
    return rc < 0 ? rc : emit(tb, entries, count * TABLE_INDEX_ENTRY_SIZE);
}

/* The index: first what was spilled, read back a buffer at a time, then what is held. */
static int emit_index(struct table_builder *tb, struct filters *f)
{
    const struct kdb_vfs *vfs = tb->env->vfs;
    uint8_t *chunk = NULL;
    int rc = 0;

    if (tb->spilled) {
        chunk = env_malloc(tb->env, TABLE_INDEX_HELD * TABLE_INDEX_ENTRY_SIZE);
        if (!chunk) return -ENOMEM;
    }
    for (uint64_t at = 0; rc == 0 && at < tb->spilled; at += TABLE_INDEX_HELD) {
        size_t n =
            tb->spilled - at < TABLE_INDEX_HELD ? (size_t)(tb->spilled - at) : TABLE_INDEX_HELD;
        size_t got = 0;
        rc = vfs->pread(vfs->ctx, tb->spill_fd, chunk, n * TABLE_INDEX_ENTRY_SIZE,
                        at * TABLE_INDEX_ENTRY_SIZE, &got);
        if (rc == 0 && got != n * TABLE_INDEX_ENTRY_SIZE) rc = -EIO;
        if (rc == 0) rc = emit_entries(tb, f, chunk, n);
    }
    env_free(tb->env, chunk);
    if (rc == 0) rc = emit_entries(tb, f, tb->index, tb->index_len);
    return rc;
}

static void drop_spill(struct table_builder *tb)
{
    const struct kdb_vfs *vfs = tb->env->vfs;

    if (tb->spill_fd < 0) return;
    (void)vfs->close(vfs->ctx, tb->spill_fd);
    (void)vfs->unlink(vfs->ctx, tb->spill_path);
    tb->spill_fd = -1;
}

int table_builder_finish(struct table_builder *tb, struct table_info *info)
{
    const struct kdb_vfs *vfs = tb->env->vfs;
    struct filters f = {.radix_bits = radix_bits_for(tb->block_count)};
    size_t radix_size = ((((size_t)1 << f.radix_bits) + 1) * 4 + TABLE_BLOOM_BLOCK_SIZE - 1) &
                        ~(size_t)(TABLE_BLOOM_BLOCK_SIZE - 1);
    uint64_t data_end = tb->offset;
    uint8_t footer[TABLE_FOOTER_SIZE] = {0};
    uint8_t *filters;
    int rc;

    f.bloom_blocks =
        (tb->block_count * TABLE_BLOOM_BITS_PER_KEY + (uint64_t)TABLE_BLOOM_BLOCK_SIZE * 8 - 1) /
        ((uint64_t)TABLE_BLOOM_BLOCK_SIZE * 8);
    if (f.bloom_blocks == 0) f.bloom_blocks = 1;
    kdb_assert(tb->count < UINT32_MAX);
    filters = env_calloc(tb->env, 1, radix_size + f.bloom_blocks * TABLE_BLOOM_BLOCK_SIZE);
    if (!filters) {
        table_builder_abort(tb);
        return -ENOMEM;
    }
    f.radix = filters;
    f.bloom = filters + radix_size;
    checksum_stream_begin(&tb->page);
    tb->in_page = 0;
    tb->sum_count = 0;
    rc = emit_index(tb, &f);
    filters_end(&f, tb->block_count);
    if (rc == 0) rc = sum_pages(tb, filters, radix_size + f.bloom_blocks * TABLE_BLOOM_BLOCK_SIZE);
    if (rc == 0 && tb->in_page) rc = end_page(tb);
    /* The sums section: its head, then the page sums; the footer's meta checksum covers it. */
    uint8_t head[TABLE_SUMS_HEAD_SIZE];
    put_le64(head, tb->block_count);
    put_le64(head + 8, tb->tombstones);
    for (size_t i = 0; rc == 0 && i < tb->sum_count; i++)
        tb->sums[i] = htole64(tb->sums[i]);
    checksum_stream_begin(&tb->stream);
    checksum_stream_update(&tb->stream, head, sizeof(head));
    if (tb->sum_count) checksum_stream_update(&tb->stream, tb->sums, tb->sum_count * 8);
    memcpy(footer + TABLE_FOOTER_MAGIC_OFFSET, TABLE_MAGIC, FORMAT_MAGIC_SIZE);
    put_le32(footer + TABLE_FOOTER_VERSION_OFFSET, TABLE_VERSION);
    put_le32(footer + TABLE_FOOTER_RADIX_OFFSET, f.radix_bits);
    put_le64(footer + TABLE_FOOTER_COUNT_OFFSET, tb->count);
    put_le64(footer + TABLE_FOOTER_DATA_END_OFFSET, data_end);
    put_le64(footer + TABLE_FOOTER_BLOOM_OFFSET, f.bloom_blocks);
    put_le64(footer + TABLE_FOOTER_MAX_SEQ_OFFSET, tb->max_sequence);
    put_le64(footer + TABLE_FOOTER_META_SUM_OFFSET, checksum_stream_end(&tb->stream));
    put_le64(footer + TABLE_FOOTER_CHECKSUM_OFFSET,
             checksum_64(footer, TABLE_FOOTER_CHECKSUM_OFFSET, 0));
    if (rc == 0) rc = emit(tb, filters, radix_size + f.bloom_blocks * TABLE_BLOOM_BLOCK_SIZE);
    if (rc == 0) rc = emit(tb, head, sizeof(head));
    if (rc == 0 && tb->sum_count) rc = emit(tb, tb->sums, tb->sum_count * 8);
    if (rc == 0) rc = emit(tb, footer, sizeof(footer));
    if (rc == 0) rc = flush_last(tb);
    env_free(tb->env, filters);
    if (rc == 0) rc = vfs->fsync(vfs->ctx, tb->fd);
    if (rc == 0) {
        rc = vfs->close(vfs->ctx, tb->fd);
        tb->fd = -1;
    }
    if (rc == 0) rc = vfs->rename(vfs->ctx, tb->tmp_path, tb->path);
    if (rc < 0) {
        table_builder_abort(tb);
        return rc;
    }
    drop_spill(tb);
    info->number = tb->number;
    info->size = tb->offset;
    info->count = tb->count;
    free_buffers(tb);
    return 0;
}

void table_builder_abort(struct table_builder *tb)
{
    const struct kdb_vfs *vfs = tb->env->vfs;

    if (tb->fd >= 0) {
        (void)vfs->close(vfs->ctx, tb->fd);
        tb->fd = -1;
        (void)vfs->unlink(vfs->ctx, tb->tmp_path);
    }
    drop_spill(tb);
    free_buffers(tb);
}

/* ---- reading ---- */

static const uint8_t *entry_at(const struct table *t, uint64_t i)
{
    return t->index + i * TABLE_INDEX_ENTRY_SIZE;
}

static uint64_t entry_offset(const struct table *t, uint64_t i)
{
    return get_le64(entry_at(t, i) + 16) & TABLE_INDEX_OFFSET_MASK;
}

/* The end of entry i's record: where the next begins, or the end of the data. */
static uint64_t entry_end(const struct table *t, uint64_t i)
{
    return i + 1 < t->count ? entry_offset(t, i + 1) : t->data_end;
}

bool table_is_tombstone(const struct table *t, uint64_t i)
{
    return (get_le64(entry_at(t, i) + 16) & TABLE_INDEX_TOMBSTONE) != 0;
}

bool table_is_edge(const struct table *t, uint64_t i)
{
    return (get_le64(entry_at(t, i) + 16) & TABLE_INDEX_EDGE) != 0;
}

static int damaged(const struct env *env, const struct table *t, const char *what, int rc)
{
    env_log(env, KDB_LOG_ERROR, __FILE__, __LINE__,
            "table " TABLE_PREFIX "%016" PRIx64 TABLE_SUFFIX ": %s", t->number, what);
    return rc;
}

/* ---- version 3: pages checked on first use ---- */

/* A record at [off, end) lies in the data, after the header, and ends where it may. */
static bool record_bounds_ok(const struct table *t, uint64_t off, uint64_t end)
{
    return off >= TABLE_HEADER_SIZE && off % TABLE_RECORD_ALIGN == 0 && end <= t->data_end &&
           end >= off + TABLE_RECORD_HEADER_SIZE && end % TABLE_RECORD_ALIGN == 0;
}

static bool entry_bounds_ok(const struct table *t, uint64_t i)
{
    return record_bounds_ok(t, entry_offset(t, i), entry_end(t, i));
}

/* An index entry's location word: offset, tombstone and edge bits. */
static uint64_t entry_location(const uint8_t *entry)
{
    return get_le64(entry + 16);
}

/*
 * Page p of the index and filters, whose bytes are at bytes (len of them):
 * its checksum, and the entries in it (each of its kind by position, in
 * order, with records in order inside the data).
 */
static int check_page_bytes(const struct table *t, const struct env *env, uint64_t p,
                            const uint8_t *bytes, size_t len)
{
    uint64_t start = p * TABLE_META_PAGE_SIZE, end = start + len;
    uint64_t index_end = t->count * TABLE_INDEX_ENTRY_SIZE, first, last;

    if (checksum_64(bytes, len, 0) != get_le64(t->sums + TABLE_SUMS_HEAD_SIZE + p * 8))
        return damaged(env, t, "an index page's checksum does not match", -KDB_ECHECKSUM);
    first = start / TABLE_INDEX_ENTRY_SIZE;
    last = (end < index_end ? end : index_end) / TABLE_INDEX_ENTRY_SIZE;
    for (uint64_t i = first; i < last; i++) {
        const uint8_t *e = bytes + (i - first) * TABLE_INDEX_ENTRY_SIZE;
        uint64_t loc = entry_location(e), off = loc & TABLE_INDEX_OFFSET_MASK;
        bool edge = (loc & TABLE_INDEX_EDGE) != 0;
        if (edge != (i >= t->block_count) || off < TABLE_HEADER_SIZE || off % TABLE_RECORD_ALIGN ||
            off + TABLE_RECORD_HEADER_SIZE > t->data_end)
            return damaged(env, t, "index out of order", -KDB_ECORRUPT);
        if (i > first) {
            const uint8_t *prev = e - TABLE_INDEX_ENTRY_SIZE;
            uint64_t prev_loc = entry_location(prev);
            if (edge == ((prev_loc & TABLE_INDEX_EDGE) != 0) &&
                (memcmp(prev, e, 16) >= 0 ||
                 (prev_loc & TABLE_INDEX_OFFSET_MASK) + TABLE_RECORD_HEADER_SIZE > off))
                return damaged(env, t, "index out of order", -KDB_ECORRUPT);
        }
    }
    return 0;
}

/* Page p of the index and filters, through the mapping: checked once per handle. */
static int check_page(const struct table *t, const struct env *env, uint64_t p)
{
    uint64_t bit = UINT64_C(1) << (p & 63), start, end;
    int rc;

    if (!t->pages_ok || (atomic_load_explicit(&t->pages_ok[p >> 6], memory_order_acquire) & bit))
        return 0;
    start = p * TABLE_META_PAGE_SIZE;
    end = start + TABLE_META_PAGE_SIZE < t->meta_size ? start + TABLE_META_PAGE_SIZE : t->meta_size;
    rc = check_page_bytes(t, env, p, t->index + start, (size_t)(end - start));
    if (rc == 0) atomic_fetch_or_explicit(&t->pages_ok[p >> 6], bit, memory_order_release);
    return rc;
}

/* Checks the pages that hold bytes [from, to) of the index and filters. */
static int check_bytes(const struct table *t, const struct env *env, uint64_t from, uint64_t to)
{
    if (!t->pages_ok) return 0;
    for (uint64_t p = from / TABLE_META_PAGE_SIZE; p * TABLE_META_PAGE_SIZE < to; p++) {
        int rc = check_page(t, env, p);
        if (rc < 0) return rc;
    }
    return 0;
}

/* Checks index entries [first, last] (last clamped to the end), so that a record's end is known. */
static int check_entries(const struct table *t, const struct env *env, uint64_t first,
                         uint64_t last)
{
    if (!t->pages_ok || first >= t->count) return 0;
    if (last >= t->count) last = t->count - 1;
    return check_bytes(t, env, first * TABLE_INDEX_ENTRY_SIZE, (last + 1) * TABLE_INDEX_ENTRY_SIZE);
}

/* Entry i, for reading its record: checked, and its record's bounds sane. */
static int entry_ready(const struct table *t, const struct env *env, uint64_t i)
{
    int rc = check_entries(t, env, i, i + 1);
    if (rc == 0 && t->pages_ok && !entry_bounds_ok(t, i))
        rc = damaged(env, t, "index out of order", -KDB_ECORRUPT);
    return rc;
}

/* An index entry, copied out of a page a brief handle read. */
struct index_entry {
    uint8_t id[16];
    uint64_t location;
    uint64_t checksum;
};

static_assert(READER_PAGE_SIZE == TABLE_META_PAGE_SIZE, "a reader's page is a summed page");

struct brief_check {
    const struct table *t;
    const struct env *env;
};

static int brief_check_page(void *ctx, uint64_t p, const uint8_t *bytes, size_t len)
{
    const struct brief_check *c = ctx;
    return check_page_bytes(c->t, c->env, p, bytes, len);
}

/* Bytes [at, at + len) of the index and filters, their pages checked, copied into out. */
static int brief_meta(const struct table *t, const struct env *env, uint64_t at, void *out,
                      size_t len)
{
    struct brief_check c = {t, env};
    uint8_t *to = out;

    kdb_assert(at + len <= t->meta_size);
    while (len) {
        uint64_t in = at % TABLE_META_PAGE_SIZE;
        size_t got, n;
        int rc;
        const uint8_t *page =
            reader_page(t->reader, at / TABLE_META_PAGE_SIZE, brief_check_page, &c, &got, &rc);
        if (!page) return rc;
        n = got - in < len ? (size_t)(got - in) : len;
        memcpy(to, page + in, n);
        to += n;
        at += n;
        len -= n;
    }
    return 0;
}

static int brief_entry(const struct table *t, const struct env *env, uint64_t i,
                       struct index_entry *e)
{
    uint8_t bytes[TABLE_INDEX_ENTRY_SIZE];
    int rc = brief_meta(t, env, i * TABLE_INDEX_ENTRY_SIZE, bytes, sizeof(bytes));

    if (rc < 0) return rc;
    memcpy(e->id, bytes, 16);
    e->location = entry_location(bytes);
    e->checksum = get_le64(bytes + 24);
    return 0;
}

int table_found_is_tombstone(const struct table *t, const struct env *env, uint64_t i)
{
    struct index_entry e;
    int rc;

    if (!t->reader) return table_is_tombstone(t, i);
    rc = brief_entry(t, env, i, &e); /* the page table_find() read: the reader holds it */
    return rc < 0 ? rc : (e.location & TABLE_INDEX_TOMBSTONE) != 0;
}

/*
 * Entry i's id, its page checked: in place through the mapping, or copied
 * into *e through a brief handle's reader. NULL with *rc on damage.
 */
static const uint8_t *entry_id(const struct table *t, const struct env *env, uint64_t i,
                               struct index_entry *e, int *rc)
{
    if (t->reader) {
        *rc = brief_entry(t, env, i, e);
        return *rc < 0 ? NULL : e->id;
    }
    *rc = check_entries(t, env, i, i);
    return *rc < 0 ? NULL : entry_at(t, i);
}

/* The position of id among index entries [lo, hi), sorted, or -ENOENT; each probe's page checked. */
static int64_t search(const struct table *t, const struct env *env, uint64_t lo, uint64_t hi,
                      const uint8_t id[16])
{
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        struct index_entry e;
        int rc, c;
        const uint8_t *at = entry_id(t, env, mid, &e, &rc);
        if (!at) return rc;
        c = memcmp(at, id, 16);
        if (c == 0) return (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENOENT;
}

/* Radix bucket b's entries [*lo, *hi), checked: the bounds, and the ids at both ends. */
static int bucket_range(const struct table *t, const struct env *env, uint64_t b, uint64_t *lo,
                        uint64_t *hi)
{
    uint64_t at = t->count * TABLE_INDEX_ENTRY_SIZE + b * 4;
    uint8_t bounds[8];
    int rc;

    if (t->reader) {
        rc = brief_meta(t, env, at, bounds, sizeof(bounds));
    } else {
        rc = check_bytes(t, env, at, at + sizeof(bounds));
        if (rc == 0) memcpy(bounds, t->radix + b * 4, sizeof(bounds));
    }
    if (rc < 0) return rc;
    *lo = get_le32(bounds);
    *hi = get_le32(bounds + 4);
    if (!t->pages_ok) return 0;
    if (*lo > *hi || *hi > t->block_count)
        return damaged(env, t, "radix table out of order", -KDB_ECORRUPT);
    if (*lo == *hi) return 0;
    for (int end = 0; end < 2; end++) {
        struct index_entry e;
        const uint8_t *id = entry_id(t, env, end ? *hi - 1 : *lo, &e, &rc);
        if (!id) return rc;
        if (table_bucket(table_id_prefix(id), t->radix_bits) != b)
            return damaged(env, t, "radix table points at the wrong ids", -KDB_ECORRUPT);
    }
    return 0;
}

/* Whether the bloom filter's line (the id's, for hash) has every bit of hash set. */
static int bloom_line_has(const uint8_t *line, uint64_t hash)
{
    uint32_t x = (uint32_t)hash;

    for (int i = 0; i < TABLE_BLOOM_PROBES; i++) {
        uint32_t bit = x >> (32 - 9);
        if (!(line[bit >> 3] & (1u << (bit & 7)))) return 0;
        x *= 0x9e3779b9u;
    }
    return 1;
}

/* Brief handles' bloom probe (below, beside their reads). */
static int brief_may_contain(const struct table *t, const struct env *env, uint64_t hash);

int table_may_contain(const struct table *t, const struct env *env, uint64_t hash)
{
    uint64_t block = ((hash >> 32) * t->bloom_blocks) >> 32;
    const uint8_t *line = t->bloom + block * TABLE_BLOOM_BLOCK_SIZE;

    if (t->reader) return brief_may_contain(t, env, hash);
    if (t->pages_ok) {
        uint64_t at = (uint64_t)(line - t->index);
        int rc = check_bytes(t, env, at, at + TABLE_BLOOM_BLOCK_SIZE);
        if (rc < 0) return rc;
    }
    return bloom_line_has(line, hash);
}

void table_prefetch_entries(const struct table *t, const uint8_t id[16])
{
    uint64_t bucket = table_bucket(table_id_prefix(id), t->radix_bits);
    uint64_t lo, hi;

    if (t->reader) return; /* a brief handle reads nothing ahead */
    lo = get_le32(t->radix + bucket * 4);
    hi = get_le32(t->radix + bucket * 4 + 4);
    if (lo < hi && hi <= t->block_count) { /* a hint: unchecked bytes only bound it */
        __builtin_prefetch(entry_at(t, lo));
        __builtin_prefetch(entry_at(t, hi - 1));
    }
}

void table_prefetch_record(const struct table *t, uint64_t i)
{
    uint64_t off;

    if (t->reader) return; /* a brief handle reads nothing ahead */
    off = entry_offset(t, i);
    if (off < t->data_end) __builtin_prefetch(t->map + off);
}

int64_t table_find_edge(const struct table *t, const struct env *env, const uint8_t key[16])
{
    return search(t, env, t->block_count, t->count, key);
}

const uint8_t *table_id_at(const struct table *t, uint64_t i)
{
    return entry_at(t, i);
}

void table_raw_at(const struct table *t, uint64_t i, const uint8_t **bytes, size_t *len,
                  uint64_t *flags, uint64_t *checksum)
{
    uint64_t off = entry_offset(t, i);

    *bytes = t->map + off;
    *len = (size_t)(entry_end(t, i) - off);
    *flags = get_le64(entry_at(t, i) + 16) & (TABLE_INDEX_TOMBSTONE | TABLE_INDEX_EDGE);
    *checksum = get_le64(entry_at(t, i) + 24);
}

int64_t table_find(const struct table *t, const struct env *env, const uint8_t id[16])
{
    uint64_t lo, hi;
    int rc = bucket_range(t, env, table_bucket(table_id_prefix(id), t->radix_bits), &lo, &hi);

    return rc < 0 ? rc : search(t, env, lo, hi, id);
}

/*
 * Decodes the record r (len bytes) of the entry with key entry_id and
 * location loc, its bytes trusted to be the ones written.
 */
static int decode_record(const struct table *t, const struct env *env, const uint8_t *r,
                         uint64_t len, const uint8_t *entry_id, uint64_t loc,
                         struct table_record *out)
{
    uint32_t payload_len;
    unsigned type;
    bool edge;
    uint8_t key[16];

    memset(out, 0, sizeof(*out));
    if (len < TABLE_RECORD_HEADER_SIZE) return damaged(env, t, "a malformed record", -KDB_ECORRUPT);
    payload_len = get_le32(r + 8);
    type = r[12];
    edge = type == WAL_RECORD_PUT_EDGE || type == WAL_RECORD_DELETE_EDGE;
    if (payload_len > len - TABLE_RECORD_HEADER_SIZE || edge != ((loc & TABLE_INDEX_EDGE) != 0) ||
        (type == WAL_RECORD_DELETE_BLOCK || type == WAL_RECORD_DELETE_EDGE) !=
            ((loc & TABLE_INDEX_TOMBSTONE) != 0) ||
        block_check_payload(type, r + TABLE_RECORD_HEADER_SIZE, payload_len) < 0)
        return damaged(env, t, "a malformed record", -KDB_ECORRUPT);
    if (edge)
        edge_payload_key(r + TABLE_RECORD_HEADER_SIZE, key);
    else
        memcpy(key, block_payload_id(r + TABLE_RECORD_HEADER_SIZE), 16);
    if (memcmp(key, entry_id, 16) != 0)
        return damaged(env, t, "a record under another id", -KDB_ECORRUPT);
    out->sequence = get_le64(r);
    out->type = type;
    out->payload = r + TABLE_RECORD_HEADER_SIZE;
    out->payload_len = payload_len;
    return 0;
}

/* Decodes entry i's record, through the mapping. */
static int decode(const struct table *t, const struct env *env, uint64_t i,
                  struct table_record *out)
{
    uint64_t off = entry_offset(t, i);

    return decode_record(t, env, t->map + off, entry_end(t, i) - off, entry_at(t, i),
                         entry_location(entry_at(t, i)), out);
}

static int brief_may_contain(const struct table *t, const struct env *env, uint64_t hash)
{
    uint64_t block = ((hash >> 32) * t->bloom_blocks) >> 32;
    uint8_t line[TABLE_BLOOM_BLOCK_SIZE];
    int rc = brief_meta(t, env, (uint64_t)(t->bloom - t->index) + block * TABLE_BLOOM_BLOCK_SIZE,
                        line, sizeof(line));

    return rc < 0 ? rc : bloom_line_has(line, hash);
}

/* Reads entry i's record into the reader's span and checks it, every time. */
static int brief_read(const struct table *t, const struct env *env, uint64_t i,
                      struct table_record *out)
{
    struct index_entry e, next;
    uint64_t off, end = t->data_end;
    const uint8_t *r;
    int rc = brief_entry(t, env, i, &e);

    memset(out, 0, sizeof(*out));
    if (rc == 0 && i + 1 < t->count) {
        rc = brief_entry(t, env, i + 1, &next);
        if (rc == 0) end = next.location & TABLE_INDEX_OFFSET_MASK;
    }
    if (rc < 0) return rc;
    off = e.location & TABLE_INDEX_OFFSET_MASK;
    if (!record_bounds_ok(t, off, end)) return damaged(env, t, "index out of order", -KDB_ECORRUPT);
    r = reader_span(t->reader, off, (size_t)(end - off), &rc);
    if (!r) return rc;
    if (checksum_64(r, (size_t)(end - off), 0) != e.checksum)
        return damaged(env, t, "a record's checksum does not match", -KDB_ECHECKSUM);
    return decode_record(t, env, r, end - off, e.id, e.location, out);
}

int table_read_checked(const struct table *t, const struct env *env, uint64_t i,
                       struct table_record *out)
{
    uint64_t off;
    int rc = entry_ready(t, env, i);

    if (rc < 0) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    off = entry_offset(t, i);
    if (checksum_64(t->map + off, (size_t)(entry_end(t, i) - off), 0) !=
        get_le64(entry_at(t, i) + 24)) {
        memset(out, 0, sizeof(*out));
        return damaged(env, t, "a record's checksum does not match", -KDB_ECHECKSUM);
    }
    return decode(t, env, i, out);
}

int table_read(struct table *t, const struct env *env, uint64_t i, struct table_record *out)
{
    uint64_t bit = UINT64_C(1) << (i & 63);
    int rc;

    if (t->reader) return brief_read(t, env, i, out);
    if (!t->verified) {
        /* At the first read: a handle that reads little never touches the rest. */
        t->verified = env_calloc(env, (size_t)(t->count + 63) / 64 + 1, sizeof(uint64_t));
        if (!t->verified) {
            memset(out, 0, sizeof(*out));
            return -ENOMEM;
        }
    }
    if (t->verified[i >> 6] & bit) return decode(t, env, i, out);
    rc = table_read_checked(t, env, i, out);
    if (rc == 0) t->verified[i >> 6] |= bit;
    return rc;
}

static int check_header(struct table *t, const struct env *env, const uint8_t *h)
{

    if (memcmp(h + TABLE_HEADER_MAGIC_OFFSET, TABLE_MAGIC, FORMAT_MAGIC_SIZE) != 0)
        return damaged(env, t, "not a table (bad magic)", -KDB_ECORRUPT);
    if (get_le64(h + TABLE_HEADER_CHECKSUM_OFFSET) !=
        checksum_64(h, TABLE_HEADER_CHECKSUM_OFFSET, 0))
        return damaged(env, t, "header checksum does not match", -KDB_ECHECKSUM);
    if (get_le32(h + TABLE_HEADER_VERSION_OFFSET) > TABLE_VERSION)
        return damaged(env, t, "written by a newer format version", -ENOTSUP);
    t->version = get_le32(h + TABLE_HEADER_VERSION_OFFSET);
    if (t->version == 0 || get_le32(h + TABLE_HEADER_SIZE_OFFSET) != TABLE_HEADER_SIZE ||
        get_le64(h + TABLE_HEADER_NUMBER_OFFSET) != t->number)
        return damaged(env, t, "header does not match its name", -KDB_ECORRUPT);
    return 0;
}

/*
 * Version 3: index, radix table and bloom filter are read where they are,
 * each page checked on first use; what open checks is the sums section (its
 * checksum is the footer's meta checksum), that the sections tile the file,
 * and the counts in the sums' head.
 */
static int lay_out_pages(struct table *t, const struct env *env, const uint8_t *f,
                         uint64_t radix_size)
{
    uint64_t pages = (t->meta_size + TABLE_META_PAGE_SIZE - 1) / TABLE_META_PAGE_SIZE;
    uint64_t sums_size = TABLE_SUMS_HEAD_SIZE + pages * 8;

    if (t->data_end + t->meta_size + sums_size + TABLE_FOOTER_SIZE != t->size)
        return damaged(env, t, "sections do not add up to the file size", -KDB_ECORRUPT);
    t->index = t->map + t->data_end;
    t->radix = t->index + t->count * TABLE_INDEX_ENTRY_SIZE;
    t->bloom = t->radix + radix_size;
    t->sums = t->index + t->meta_size;
    if (t->reader) { /* its pages are the index and filters; the sums stay the mapping's */
        t->reader->origin = t->data_end;
        t->reader->length = t->meta_size;
    }
    if (checksum_64(t->sums, (size_t)sums_size, 0) != get_le64(f + TABLE_FOOTER_META_SUM_OFFSET))
        return damaged(env, t, "index checksum does not match", -KDB_ECHECKSUM);
    t->block_count = get_le64(t->sums);
    t->tombstones = get_le64(t->sums + 8);
    if (t->block_count > t->count || t->tombstones > t->count)
        return damaged(env, t, "footer fields out of range", -KDB_ECORRUPT);
    t->pages_ok = env_calloc(env, (size_t)(pages + 63) / 64 + 1, sizeof(*t->pages_ok));
    return t->pages_ok ? 0 : -ENOMEM;
}

/* Reads the footer f and lays out the sections; checks they tile the file. */
static int check_footer(struct table *t, const struct env *env, const uint8_t *f)
{
    struct checksum_stream stream;
    uint64_t radix_size, meta_end;

    if (memcmp(f + TABLE_FOOTER_MAGIC_OFFSET, TABLE_MAGIC, FORMAT_MAGIC_SIZE) != 0)
        return damaged(env, t, "footer magic is wrong (a cut-short file?)", -KDB_ECORRUPT);
    if (get_le64(f + TABLE_FOOTER_CHECKSUM_OFFSET) !=
        checksum_64(f, TABLE_FOOTER_CHECKSUM_OFFSET, 0))
        return damaged(env, t, "footer checksum does not match", -KDB_ECHECKSUM);
    if (get_le32(f + TABLE_FOOTER_VERSION_OFFSET) != t->version)
        return damaged(env, t, "footer version differs from the header's", -KDB_ECORRUPT);
    t->radix_bits = get_le32(f + TABLE_FOOTER_RADIX_OFFSET);
    t->count = get_le64(f + TABLE_FOOTER_COUNT_OFFSET);
    t->data_end = get_le64(f + TABLE_FOOTER_DATA_END_OFFSET);
    t->bloom_blocks = get_le64(f + TABLE_FOOTER_BLOOM_OFFSET);
    t->max_sequence = get_le64(f + TABLE_FOOTER_MAX_SEQ_OFFSET);
    if (t->radix_bits > TABLE_RADIX_BITS_MAX || t->count >= UINT32_MAX || t->bloom_blocks == 0 ||
        t->bloom_blocks > UINT32_MAX || t->data_end < TABLE_HEADER_SIZE || t->data_end > t->size ||
        t->data_end % TABLE_RECORD_ALIGN)
        return damaged(env, t, "footer fields out of range", -KDB_ECORRUPT);
    radix_size = (((UINT64_C(1) << t->radix_bits) + 1) * 4 + TABLE_BLOOM_BLOCK_SIZE - 1) &
                 ~(uint64_t)(TABLE_BLOOM_BLOCK_SIZE - 1);
    t->meta_size =
        t->count * TABLE_INDEX_ENTRY_SIZE + radix_size + t->bloom_blocks * TABLE_BLOOM_BLOCK_SIZE;
    meta_end = t->data_end + t->meta_size;
    if (t->version >= 3) return lay_out_pages(t, env, f, radix_size);
    if (meta_end + TABLE_FOOTER_SIZE != t->size)
        return damaged(env, t, "sections do not add up to the file size", -KDB_ECORRUPT);
    /* Every lookup reads the bloom filter and most the radix table: those
     * two, a few bits per id, are copied into memory; the index, 32 bytes
     * an id, is read through the mapping. The copy is what is checked. */
    t->index = t->map + t->data_end;
    t->filters_size = radix_size + t->bloom_blocks * TABLE_BLOOM_BLOCK_SIZE;
    t->filters = env_malloc(env, (size_t)t->filters_size);
    if (!t->filters) return -ENOMEM;
    memcpy(t->filters, t->index + t->count * TABLE_INDEX_ENTRY_SIZE, (size_t)t->filters_size);
    t->radix = t->filters;
    t->bloom = t->filters + radix_size;
    checksum_stream_begin(&stream);
    checksum_stream_update(&stream, t->index, t->count * TABLE_INDEX_ENTRY_SIZE);
    checksum_stream_update(&stream, t->filters, (size_t)t->filters_size);
    if (checksum_stream_end(&stream) != get_le64(f + TABLE_FOOTER_META_SUM_OFFSET))
        return damaged(env, t, "index checksum does not match", -KDB_ECHECKSUM);
    return 0;
}

/* How far check_order() has gone through the index, and what it has counted. */
struct order_check {
    uint64_t next;        /* the next entry to check */
    uint64_t prev_end;    /* where the record of entry next must start */
    uint64_t block_count; /* the first edge's entry; count while none is seen */
    uint64_t tombstones;
};

/* Checks that entries [o->next, to) are sorted and that their records tile the data. */
static int check_order(const struct table *t, const struct env *env, struct order_check *o,
                       uint64_t to)
{
    for (uint64_t i = o->next; i < to; i++) {
        uint64_t off = entry_offset(t, i);
        bool edge = table_is_edge(t, i);
        if (edge && t->version < 2)
            return damaged(env, t, "an edge in a version 1 table", -KDB_ECORRUPT);
        if (edge && o->block_count == t->count) o->block_count = i; /* the first edge */
        if (i && edge == table_is_edge(t, i - 1) &&
            memcmp(entry_at(t, i - 1), entry_at(t, i), 16) >= 0)
            return damaged(env, t, "index out of order", -KDB_ECORRUPT);
        if (off != o->prev_end || (!edge && o->block_count != t->count))
            return damaged(env, t, "index out of order", -KDB_ECORRUPT);
        o->prev_end = i + 1 < t->count ? entry_offset(t, i + 1) : t->data_end;
        if (o->prev_end < off + TABLE_RECORD_HEADER_SIZE || o->prev_end % TABLE_RECORD_ALIGN)
            return damaged(env, t, "index out of order", -KDB_ECORRUPT);
        if (table_is_tombstone(t, i)) o->tombstones++;
    }
    o->next = to;
    return 0;
}

/* After check_order() of every entry: the data is covered, and the radix table agrees. */
static int check_order_end(const struct table *t, const struct env *env,
                           const struct order_check *o)
{
    uint64_t buckets = UINT64_C(1) << t->radix_bits;

    if (o->prev_end != t->data_end)
        return damaged(env, t, "index does not cover the data", -KDB_ECORRUPT);
    for (uint64_t b = 0; b <= buckets; b++) {
        uint64_t start = get_le32(t->radix + b * 4);
        uint64_t end = b < buckets ? get_le32(t->radix + b * 4 + 4) : o->block_count;
        if (start > end || end > o->block_count || (b == buckets && start != o->block_count))
            return damaged(env, t, "radix table out of order", -KDB_ECORRUPT);
        if (b < buckets && start < end &&
            table_bucket(table_id_prefix(entry_at(t, start)), t->radix_bits) != b)
            return damaged(env, t, "radix table points at the wrong ids", -KDB_ECORRUPT);
    }
    return 0;
}

/*
 * The index is sorted, its records tile the data, and the radix table agrees:
 * at open for versions 1 and 2 (which also learns the counts), on the first
 * table_check_all() for version 3, as every page's checksum is (whose counts,
 * from the sums' head, must agree).
 */
static int check_structure(const struct table *t, const struct env *env, uint64_t *block_count,
                           uint64_t *tombstones)
{
    struct order_check o = {.prev_end = TABLE_HEADER_SIZE, .block_count = t->count};
    int rc = check_order(t, env, &o, t->count);

    if (rc == 0) rc = check_order_end(t, env, &o);
    *block_count = o.block_count;
    *tombstones = o.tombstones;
    return rc;
}

/*
 * Starts t's reader on fd (which it takes) and reads the header and footer
 * through it into h and f; with no reader, they are the mapping's.
 */
static int brief_start(struct table *t, const struct env *env, int fd, uint8_t h[TABLE_HEADER_SIZE],
                       uint8_t f[TABLE_FOOTER_SIZE])
{
    int rc;

    t->reader = reader_open(env, fd, 0, 0); /* its region is laid out with the sections */
    if (!t->reader) return -ENOMEM;
    rc = reader_read(t->reader, h, TABLE_HEADER_SIZE, 0);
    if (rc == 0) rc = reader_read(t->reader, f, TABLE_FOOTER_SIZE, t->size - TABLE_FOOTER_SIZE);
    return rc;
}

int table_open(struct table *t, const struct env *env, const char *dir, uint64_t number, bool brief)
{
    const struct kdb_vfs *vfs = env->vfs;
    uint8_t head[TABLE_HEADER_SIZE], foot[TABLE_FOOTER_SIZE];
    const uint8_t *h = NULL, *f = NULL;
    char path[4096];
    int fd = -1, rc;

    memset(t, 0, sizeof(*t));
    t->number = number;
    rc = table_path(path, sizeof(path), dir, number, TABLE_SUFFIX);
    if (rc == 0) rc = vfs->open(vfs->ctx, path, KDB_VFS_OPEN_READ, &fd);
    if (rc == 0) rc = vfs->file_size(vfs->ctx, fd, &t->size);
    if (rc == 0 && t->size < TABLE_HEADER_SIZE + TABLE_FOOTER_SIZE + TABLE_BLOOM_BLOCK_SIZE)
        rc = damaged(env, t, "too short to be a table", -KDB_ECORRUPT);
    if (rc == 0) rc = vfs->map(vfs->ctx, fd, t->size, (const void **)&t->map);
    if (rc == 0 && brief) {
        rc = brief_start(t, env, fd, head, foot); /* takes fd */
        fd = -1;
        h = head;
        f = foot;
    } else if (rc == 0) {
        h = t->map;
        f = t->map + t->size - TABLE_FOOTER_SIZE;
    }
    if (fd >= 0) (void)vfs->close(vfs->ctx, fd);
    if (rc == 0) rc = check_header(t, env, h);
    if (rc == 0) rc = check_footer(t, env, f);
    if (rc == 0 && t->version < 3) {
        table_end_brief(t); /* checked whole, through the mapping: nothing to gain */
        rc = check_structure(t, env, &t->block_count, &t->tombstones);
        if (rc == 0) atomic_store(&t->all_ok, true);
    }
    if (rc < 0) table_close(t, env);
    return rc;
}

void table_end_brief(struct table *t)
{
    reader_free(t->reader);
    t->reader = NULL;
}

uint64_t table_index_page(const struct table *t)
{
    return ((uint64_t)(t->index - t->map) + TABLE_PAGE_SIZE - 1) / TABLE_PAGE_SIZE *
           TABLE_PAGE_SIZE;
}

void table_give_back(const struct table *t, const struct env *env, uint64_t *released,
                     uint64_t upto, uint64_t unit)
{
    upto = upto / unit * unit;
    if (env->vfs->release && upto > *released) {
        env->vfs->release(env->vfs->ctx, t->map + *released, upto - *released);
        *released = upto;
    }
}

void table_release_meta(const struct table *t, const struct env *env)
{
    uint64_t released = table_index_page(t);

    table_give_back(t, env, &released, (uint64_t)(t->index - t->map) + t->meta_size,
                    TABLE_PAGE_SIZE);
}

int table_check_all(const struct table *t, const struct env *env, bool release)
{
    struct order_check o = {.prev_end = TABLE_HEADER_SIZE, .block_count = t->count};
    uint64_t index_at = (uint64_t)(t->index - t->map), released = table_index_page(t);
    int rc = 0;

    if (atomic_load(&t->all_ok)) return 0;
    release = release && env->vfs->release;
    /* A window of entries at a time: its pages checked (and the next entry's, whose offset
     * ends the window's last record), then its order; then given back, if asked. */
    while (rc == 0 && o.next < t->count) {
        uint64_t to = t->count - o.next > TABLE_CHECK_STEP ? o.next + TABLE_CHECK_STEP : t->count;
        rc = check_entries(t, env, o.next, to);
        if (rc == 0) rc = check_order(t, env, &o, to);
        if (rc == 0 && release)
            table_give_back(t, env, &released, index_at + to * TABLE_INDEX_ENTRY_SIZE,
                            TABLE_PAGE_SIZE);
    }
    if (rc == 0) rc = check_bytes(t, env, t->count * TABLE_INDEX_ENTRY_SIZE, t->meta_size);
    if (rc == 0) rc = check_order_end(t, env, &o);
    if (rc == 0 && (o.block_count != t->block_count || o.tombstones != t->tombstones))
        rc = damaged(env, t, "the index's counts differ from its head's", -KDB_ECORRUPT);
    if (rc == 0 && release)
        table_give_back(t, env, &released, index_at + t->meta_size, TABLE_PAGE_SIZE);
    if (rc == 0) atomic_store((_Atomic bool *)&t->all_ok, true);
    return rc;
}

void table_close(struct table *t, const struct env *env)
{
    table_end_brief(t);
    if (t->map) (void)env->vfs->unmap(env->vfs->ctx, t->map, t->size);
    env_free(env, t->verified);
    env_free(env, t->filters);
    env_free(env, (void *)t->pages_ok);
    memset(t, 0, sizeof(*t));
}
