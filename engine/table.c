/* SPDX-License-Identifier: MIT */
/*
 * table.c: writing and reading SSTables (see table.h, FORMAT.md "SSTable").
 */
#include "table.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "block.h"
#include "coding.h"
#include "kassert.h"

/* Tables go out in aligned 2 MiB pieces: the page cache then keeps them in
 * 2 MiB folios, which a mapping reads through huge pages (vfs_posix.c). */
#define TABLE_BUFFER_SIZE (2u << 20)
#define TABLE_WRITEBACK_BYTES                                                                      \
    (8u << 20) /* where the file system refused direct I/O: hint writeback this often, so the
                  fsync is short */
/* Index entries held in memory; beyond, they go to a spill file until finish. */
#define TABLE_INDEX_HELD ((size_t)(1u << 20) / TABLE_INDEX_ENTRY_SIZE)

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

/* Appends index entries to the table: folded into the filters and the meta checksum. */
static int emit_entries(struct table_builder *tb, struct filters *f, const uint8_t *entries,
                        size_t count)
{
    filters_add(f, entries, count);
    checksum_stream_update(&tb->stream, entries, count * TABLE_INDEX_ENTRY_SIZE);
    return emit(tb, entries, count * TABLE_INDEX_ENTRY_SIZE);
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
    checksum_stream_begin(&tb->stream);
    rc = emit_index(tb, &f);
    filters_end(&f, tb->block_count);
    checksum_stream_update(&tb->stream, filters,
                           radix_size + f.bloom_blocks * TABLE_BLOOM_BLOCK_SIZE);
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

/* The position of id among index entries [lo, hi), sorted, or -1. */
static int64_t search(const struct table *t, uint64_t lo, uint64_t hi, const uint8_t id[16])
{
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = memcmp(entry_at(t, mid), id, 16);
        if (c == 0) return (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void table_prefetch_entries(const struct table *t, const uint8_t id[16])
{
    uint64_t bucket = table_bucket(table_id_prefix(id), t->radix_bits);
    uint64_t lo = get_le32(t->radix + bucket * 4), hi = get_le32(t->radix + bucket * 4 + 4);

    if (lo < hi) {
        __builtin_prefetch(entry_at(t, lo));
        __builtin_prefetch(entry_at(t, hi - 1));
    }
}

void table_prefetch_record(const struct table *t, uint64_t i)
{
    __builtin_prefetch(t->map + entry_offset(t, i));
}

int64_t table_find_edge(const struct table *t, const uint8_t key[16])
{
    return search(t, t->block_count, t->count, key);
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

int64_t table_find(const struct table *t, const uint8_t id[16])
{
    uint64_t bucket = table_bucket(table_id_prefix(id), t->radix_bits);

    return search(t, get_le32(t->radix + bucket * 4), get_le32(t->radix + bucket * 4 + 4), id);
}

static int damaged(const struct env *env, const struct table *t, const char *what, int rc)
{
    env_log(env, KDB_LOG_ERROR, __FILE__, __LINE__,
            "table " TABLE_PREFIX "%016" PRIx64 TABLE_SUFFIX ": %s", t->number, what);
    return rc;
}

/* Decodes a record whose bytes are trusted to be the ones written. */
static int decode(const struct table *t, const struct env *env, uint64_t i,
                  struct table_record *out)
{
    const uint8_t *r = t->map + entry_offset(t, i);
    uint64_t len = entry_end(t, i) - entry_offset(t, i);
    uint32_t payload_len = get_le32(r + 8);
    unsigned type = r[12];

    bool edge = type == WAL_RECORD_PUT_EDGE || type == WAL_RECORD_DELETE_EDGE;
    uint8_t key[16];

    memset(out, 0, sizeof(*out));
    if (len < TABLE_RECORD_HEADER_SIZE || payload_len > len - TABLE_RECORD_HEADER_SIZE ||
        edge != table_is_edge(t, i) ||
        (type == WAL_RECORD_DELETE_BLOCK || type == WAL_RECORD_DELETE_EDGE) !=
            table_is_tombstone(t, i) ||
        block_check_payload(type, r + TABLE_RECORD_HEADER_SIZE, payload_len) < 0)
        return damaged(env, t, "a malformed record", -KDB_ECORRUPT);
    if (edge)
        edge_payload_key(r + TABLE_RECORD_HEADER_SIZE, key);
    else
        memcpy(key, block_payload_id(r + TABLE_RECORD_HEADER_SIZE), 16);
    if (memcmp(key, entry_at(t, i), 16) != 0)
        return damaged(env, t, "a record under another id", -KDB_ECORRUPT);
    out->sequence = get_le64(r);
    out->type = type;
    out->payload = r + TABLE_RECORD_HEADER_SIZE;
    out->payload_len = payload_len;
    return 0;
}

int table_read_checked(const struct table *t, const struct env *env, uint64_t i,
                       struct table_record *out)
{
    uint64_t off = entry_offset(t, i);

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

    if (t->verified[i >> 6] & bit) return decode(t, env, i, out);
    rc = table_read_checked(t, env, i, out);
    if (rc == 0) t->verified[i >> 6] |= bit;
    return rc;
}

static int check_header(struct table *t, const struct env *env)
{
    const uint8_t *h = t->map;

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

/* Reads the footer and lays out the sections; checks they tile the file. */
static int check_footer(struct table *t, const struct env *env)
{
    const uint8_t *f = t->map + t->size - TABLE_FOOTER_SIZE;
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
    meta_end = t->data_end + t->count * TABLE_INDEX_ENTRY_SIZE + radix_size +
               t->bloom_blocks * TABLE_BLOOM_BLOCK_SIZE;
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

/* The index is sorted, its records tile the data, and the radix table agrees. */
static int check_index(struct table *t, const struct env *env)
{
    uint64_t buckets = UINT64_C(1) << t->radix_bits;
    uint64_t prev_end = TABLE_HEADER_SIZE;

    t->block_count = t->count;
    for (uint64_t i = 0; i < t->count; i++) {
        uint64_t off = entry_offset(t, i);
        bool edge = table_is_edge(t, i);
        if (edge && t->version < 2)
            return damaged(env, t, "an edge in a version 1 table", -KDB_ECORRUPT);
        if (edge && t->block_count == t->count) t->block_count = i; /* the first edge */
        if (i && edge == table_is_edge(t, i - 1) &&
            memcmp(entry_at(t, i - 1), entry_at(t, i), 16) >= 0)
            return damaged(env, t, "index out of order", -KDB_ECORRUPT);
        if (off != prev_end || (!edge && t->block_count != t->count))
            return damaged(env, t, "index out of order", -KDB_ECORRUPT);
        prev_end = entry_end(t, i);
        if (prev_end < off + TABLE_RECORD_HEADER_SIZE || prev_end % TABLE_RECORD_ALIGN)
            return damaged(env, t, "index out of order", -KDB_ECORRUPT);
        if (table_is_tombstone(t, i)) t->tombstones++;
    }
    if (prev_end != t->data_end)
        return damaged(env, t, "index does not cover the data", -KDB_ECORRUPT);
    for (uint64_t b = 0; b <= buckets; b++) {
        uint64_t start = get_le32(t->radix + b * 4);
        uint64_t end = b < buckets ? get_le32(t->radix + b * 4 + 4) : t->block_count;
        if (start > end || end > t->block_count || (b == buckets && start != t->block_count))
            return damaged(env, t, "radix table out of order", -KDB_ECORRUPT);
        if (b < buckets && start < end &&
            table_bucket(table_id_prefix(entry_at(t, start)), t->radix_bits) != b)
            return damaged(env, t, "radix table points at the wrong ids", -KDB_ECORRUPT);
    }
    return 0;
}

int table_open(struct table *t, const struct env *env, const char *dir, uint64_t number)
{
    const struct kdb_vfs *vfs = env->vfs;
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
    if (fd >= 0) (void)vfs->close(vfs->ctx, fd);
    if (rc == 0) rc = check_header(t, env);
    if (rc == 0) rc = check_footer(t, env);
    if (rc == 0) rc = check_index(t, env);
    if (rc == 0) {
        t->verified = env_calloc(env, (size_t)(t->count + 63) / 64 + 1, sizeof(uint64_t));
        if (!t->verified) rc = -ENOMEM;
    }
    if (rc < 0) table_close(t, env);
    return rc;
}

void table_close(struct table *t, const struct env *env)
{
    if (t->map) (void)env->vfs->unmap(env->vfs->ctx, t->map, t->size);
    env_free(env, t->verified);
    env_free(env, t->filters);
    memset(t, 0, sizeof(*t));
}
