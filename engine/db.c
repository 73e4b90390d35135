/* SPDX-License-Identifier: MIT */
/*
 * db.c: the database handle: kdb_open() and the block operations of kdb.h.
 *
 * A change is encoded once, into memtable arena memory, as a WAL record:
 * header space, then the block payload. wal_append() frames and logs it;
 * only then does the memtable point the id at it, so a change is in the log
 * before it is visible, and a read decodes the record in place (zero-copy).
 * Replay does the same with records read straight from the segment files.
 *
 * Invariants: block_count is the number of ids whose newest record is a
 * put; every record the memtable points at passed block_check_payload().
 * The handle is single-threaded (kdb.h).
 */
#include "kdb.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "block.h"
#include "env.h"
#include "format.h"
#include "kassert.h"
#include "memtable.h"
#include "wal.h"

#define DB_PATH_SIZE_MAX 4000 /* leaves room for file names under the directory */

struct kdb {
    struct env env;             /* from options; borrowed by every module */
    struct kdb_options options; /* as given, defaults filled in */
    char *path;                 /* the database directory */
    int lock_fd;                /* holds the lock while open; -1 before */
    struct memtable memtable;
    bool memtable_ready; /* memtable_init() succeeded */
    struct wal wal;
    bool wal_ready;       /* wal_open() succeeded */
    uint64_t block_count; /* live blocks */
    uint64_t recovery_ns; /* time kdb_open() spent in replay */
};

void kdb_options_init(struct kdb_options *options)
{
    memset(options, 0, sizeof(*options));
    options->content_size_max = KDB_CONTENT_SIZE_DEFAULT;
    options->source_uri_size_max = KDB_SOURCE_URI_SIZE_LIMIT;
    options->metadata_size_max = KDB_METADATA_SIZE_DEFAULT;
    options->wal_segment_size_bytes = KDB_WAL_SEGMENT_SIZE_DEFAULT;
    options->wal_buffer_size_bytes = KDB_WAL_BUFFER_SIZE_DEFAULT;
    options->arena_chunk_size_bytes = KDB_ARENA_CHUNK_SIZE_DEFAULT;
}

static int check_options(const struct kdb_options *o)
{
    if (o->content_size_max < 1 || o->content_size_max > KDB_CONTENT_SIZE_LIMIT) return -EINVAL;
    if (o->source_uri_size_max > KDB_SOURCE_URI_SIZE_LIMIT) return -EINVAL;
    if (o->metadata_size_max < 2 || o->metadata_size_max > KDB_METADATA_SIZE_LIMIT) return -EINVAL;
    if (o->wal_segment_size_bytes < 4096 || o->wal_segment_size_bytes > (UINT64_C(1) << 30))
        return -EINVAL;
    if (o->wal_buffer_size_bytes < 4096 || o->wal_buffer_size_bytes > (64u << 20)) return -EINVAL;
    if (o->arena_chunk_size_bytes < 4096 || o->arena_chunk_size_bytes > (1u << 30)) return -EINVAL;
    return 0;
}

/* ---- applying records ---- */

/*
 * Points the memtable at kept, a checked record whose header and fixed
 * payload are also at record (the same pointer, or a copy in replay), and
 * keeps block_count. Reads only record.
 */
static void apply_record(struct kdb *db, const uint8_t *record, const uint8_t *kept)
{
    const uint8_t *payload = wal_record_payload(record);
    struct memtable_entry entry = {
        .record = kept,
        .version = wal_record_sequence(record),
        .mtime_ns = block_payload_mtime(payload),
        .live = wal_record_type(record) == WAL_RECORD_PUT_BLOCK,
    };
    struct memtable_entry previous;
    bool was_live;

    block_payload_lengths(payload, &entry.uri_len, &entry.meta_len, &entry.content_len);
    was_live =
        memtable_put(&db->memtable, block_payload_id(payload), &entry, &previous) && previous.live;
    if (entry.live && !was_live) db->block_count++;
    if (!entry.live && was_live) db->block_count--;
}

/*
 * Replay inserts ids in random order into a table far larger than the
 * caches, so it runs a short pipeline: each record's slot is prefetched
 * when it arrives and filled REPLAY_PIPELINE records later, and the misses
 * overlap instead of following one another.
 */
#define REPLAY_PIPELINE 8

struct replay_pending {
    uint8_t record[WAL_RECORD_HEADER_SIZE + BLOCK_PUT_FIXED_SIZE]; /* header and fixed payload */
    const uint8_t *kept;                                           /* the record in the mapping */
};

struct replay_ctx {
    struct kdb *db;
    struct replay_pending queue[REPLAY_PIPELINE]; /* a ring */
    size_t head;                                  /* oldest entry */
    size_t count;                                 /* entries queued */
};

static int replay_drain_one(struct replay_ctx *ctx)
{
    struct replay_pending *p = &ctx->queue[ctx->head];
    int rc = memtable_reserve(&ctx->db->memtable);

    if (rc < 0) return rc;
    apply_record(ctx->db, p->record, p->kept);
    ctx->head = (ctx->head + 1) % REPLAY_PIPELINE;
    ctx->count--;
    return 0;
}

static int replay_apply(void *fn_ctx, const uint8_t *record, const uint8_t *kept)
{
    struct replay_ctx *ctx = fn_ctx;
    struct kdb *db = ctx->db;
    struct replay_pending *p;
    int rc = block_check_payload(wal_record_type(record), wal_record_payload(record),
                                 wal_record_payload_len(record));

    if (rc < 0)
        return KDB_CORRUPT(&db->env, "log record %llu: malformed block payload",
                           (unsigned long long)wal_record_sequence(record));
    if (ctx->count == REPLAY_PIPELINE) {
        rc = replay_drain_one(ctx);
        if (rc < 0) return rc;
    }
    p = &ctx->queue[(ctx->head + ctx->count) % REPLAY_PIPELINE];
    memcpy(p->record, record, sizeof(p->record));
    p->kept = kept;
    ctx->count++;
    memtable_prefetch(&db->memtable, block_payload_id(wal_record_payload(record)));
    return 0;
}

/* The arena's next chunk faults in on the log's writer thread. */
static void prepare_chunk(void *ctx, void *memory, size_t size)
{
    struct kdb *db = ctx;
    wal_prepare_memory(&db->wal, memory, size);
}

/* ---- open and close ---- */

static void log_lock_holder(struct kdb *db)
{
    const struct kdb_vfs *vfs = db->env.vfs;
    char holder[32] = "";
    size_t got = 0;

    if (vfs->pread(vfs->ctx, db->lock_fd, holder, sizeof(holder) - 1, 0, &got) == 0) {
        holder[got] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
    }
    KDB_LOG(&db->env, KDB_LOG_ERROR, "database %s is in use by process %s", db->path,
            holder[0] ? holder : "(unknown)");
}

static int take_lock(struct kdb *db)
{
    const struct kdb_vfs *vfs = db->env.vfs;
    char lock_path[DB_PATH_SIZE_MAX + 16];
    unsigned flags = KDB_VFS_OPEN_READ | KDB_VFS_OPEN_WRITE;
    int rc;

    if (db->options.flags & KDB_OPEN_CREATE) {
        rc = vfs->mkdir(vfs->ctx, db->path);
        if (rc < 0 && rc != -EEXIST) return rc;
        flags |= KDB_VFS_OPEN_CREATE;
    }
    (void)snprintf(lock_path, sizeof(lock_path), "%s/" FORMAT_LOCK_NAME, db->path);
    rc = vfs->open(vfs->ctx, lock_path, flags, &db->lock_fd);
    if (rc < 0) return rc;
    rc = vfs->lock(vfs->ctx, db->lock_fd);
    if (rc == -EBUSY) log_lock_holder(db);
    return rc;
}

static int open_engine(struct kdb *db)
{
    const struct kdb_vfs *vfs = db->env.vfs;
    /* Replay takes records up to the compile-time limits, so a database
     * written with larger limits than this handle's still opens. */
    struct wal_options wal_options = {
        .segment_size_bytes = db->options.wal_segment_size_bytes,
        .buffer_size_bytes = db->options.wal_buffer_size_bytes,
        .payload_size_max = BLOCK_PUT_FIXED_SIZE + KDB_SOURCE_URI_SIZE_LIMIT +
                            KDB_METADATA_SIZE_LIMIT + KDB_CONTENT_SIZE_LIMIT,
    };
    struct replay_ctx replay_ctx = {.db = db};
    struct wal_replay replay = {.ctx = &replay_ctx, .apply = replay_apply};
    uint64_t seed = 0, start;
    int rc;

    rc = vfs->random(vfs->ctx, &seed, sizeof(seed));
    if (rc < 0) return rc;
    rc = memtable_init(&db->memtable, &db->env, db->options.arena_chunk_size_bytes, seed);
    if (rc < 0) return rc;
    db->memtable_ready = true;
    start = vfs->now_ns(vfs->ctx);
    rc = wal_open(&db->wal, &db->env, db->path, &wal_options, &replay);
    if (rc) return rc < 0 ? rc : -EIO;
    db->wal_ready = true;
    memtable_set_ready(&db->memtable, prepare_chunk, db);
    while (replay_ctx.count) {
        rc = replay_drain_one(&replay_ctx);
        if (rc < 0) return rc;
    }
    db->recovery_ns = vfs->now_ns(vfs->ctx) - start;
    return 0;
}

static void db_free(struct kdb *db)
{
    const struct kdb_vfs *vfs = db->env.vfs;

    if (db->wal_ready) (void)wal_close(&db->wal);
    if (db->memtable_ready) memtable_release(&db->memtable);
    if (db->lock_fd >= 0) (void)vfs->close(vfs->ctx, db->lock_fd);
    env_free(&db->env, db->path);
    env_free(&db->env, db);
}

int kdb_open(const char *path, const struct kdb_options *options, struct kdb **out)
{
    struct kdb_options defaults;
    struct env env;
    struct kdb *db;
    size_t path_len;
    int rc;

    *out = NULL;
    if (!options) {
        kdb_options_init(&defaults);
        options = &defaults;
    }
    rc = check_options(options);
    if (rc < 0) return rc;
    path_len = path ? strlen(path) : 0;
    if (path_len == 0 || path_len > DB_PATH_SIZE_MAX) return path_len ? -ENAMETOOLONG : -EINVAL;
    env_init(&env, options);
    db = env_malloc(&env, sizeof(*db));
    if (!db) return -ENOMEM;
    memset(db, 0, sizeof(*db));
    db->env = env;
    db->options = *options;
    db->lock_fd = -1;
    db->path = env_malloc(&env, path_len + 1);
    if (!db->path) {
        rc = -ENOMEM;
        goto out_free;
    }
    memcpy(db->path, path, path_len + 1);
    rc = take_lock(db);
    if (rc < 0) goto out_free;
    rc = open_engine(db);
    if (rc < 0) goto out_free;
    *out = db;
    return 0;
out_free:
    db_free(db);
    return rc;
}

int kdb_close(struct kdb *db)
{
    int rc = 0;

    if (!db) return 0;
    if (db->wal_ready) rc = wal_close(&db->wal);
    db->wal_ready = false;
    db_free(db);
    return rc;
}

/* ---- blocks ---- */

static int check_block(const struct kdb *db, const struct kdb_block *block)
{
    const struct kdb_options *o = &db->options;

    if ((!block->source_uri && block->source_uri_len) ||
        (!block->metadata && block->metadata_len) || (!block->content && block->content_len))
        return -EINVAL;
    if (block->source_uri_len > o->source_uri_size_max ||
        block->metadata_len > o->metadata_size_max || block->content_len > o->content_size_max)
        return -EFBIG;
    if (block->source_uri_len && memchr(block->source_uri, '\0', block->source_uri_len))
        return -EINVAL;
    if (block->metadata_len && kdb_validate_metadata(block->metadata, block->metadata_len) < 0)
        return -EINVAL;
    return 0;
}

/* Logs record (arena memory, len bytes with header space) and makes it visible. */
static int commit(struct kdb *db, unsigned type, uint8_t *record, size_t len, uint64_t *version)
{
    int rc = memtable_reserve(&db->memtable);

    if (rc < 0) return rc;
    rc = wal_append(&db->wal, type, record, len, version);
    if (rc < 0) return rc;
    apply_record(db, record, record);
    return 0;
}

int kdb_put_block(struct kdb *db, const struct kdb_block *block, uint64_t *version_out)
{
    struct kdb_block input = *block;
    uint64_t version = 0;
    uint8_t *record;
    size_t len;
    int rc;

    if (version_out) *version_out = 0;
    rc = check_block(db, block);
    if (rc < 0) return rc;
    if (db->wal.error) return db->wal.error;
    if (input.metadata_len == 0) {
        input.metadata = "{}";
        input.metadata_len = 2;
    }
    len = WAL_RECORD_HEADER_SIZE + block_put_payload_size(&input);
    record = memtable_alloc(&db->memtable, len);
    if (!record) return -ENOMEM;
    block_encode_put(record + WAL_RECORD_HEADER_SIZE, &input,
                     db->env.vfs->now_ns(db->env.vfs->ctx));
    rc = commit(db, WAL_RECORD_PUT_BLOCK, record, len, &version);
    if (rc < 0) return rc;
    if (version_out) *version_out = version;
    return 0;
}

/* The entry of id if its newest change is a put, else NULL. */
static const struct memtable_entry *live_entry(const struct kdb *db, const struct kdb_id *id)
{
    const struct memtable_entry *entry = memtable_get(&db->memtable, id->bytes);

    return entry && entry->live ? entry : NULL;
}

/* Where an entry's fields start in its record: uri, then metadata, then content. */
static const uint8_t *entry_uri(const struct memtable_entry *entry)
{
    return block_payload_uri(wal_record_payload(entry->record));
}

static const uint8_t *entry_content(const struct memtable_entry *entry)
{
    return entry_uri(entry) + entry->uri_len + entry->meta_len;
}

/* Fills a view from an entry alone: the record's bytes are not touched. */
static void view_from_entry(const uint8_t *id, const struct memtable_entry *entry,
                            struct kdb_block *view)
{
    const uint8_t *uri = entry_uri(entry);

    memcpy(view->id.bytes, id, KDB_ID_SIZE);
    view->version = entry->version;
    view->mtime_ns = entry->mtime_ns;
    view->source_uri = (const char *)uri;
    view->source_uri_len = entry->uri_len;
    view->metadata = (const char *)uri + entry->uri_len;
    view->metadata_len = entry->meta_len;
    view->content = entry_content(entry);
    view->content_len = entry->content_len;
}

int kdb_delete_block(struct kdb *db, const struct kdb_id *id)
{
    size_t len = WAL_RECORD_HEADER_SIZE + BLOCK_DELETE_SIZE;
    uint64_t version;
    uint8_t *record;

    if (!live_entry(db, id)) return -ENOENT;
    if (db->wal.error) return db->wal.error;
    record = memtable_alloc(&db->memtable, len);
    if (!record) return -ENOMEM;
    block_encode_delete(record + WAL_RECORD_HEADER_SIZE, id, db->env.vfs->now_ns(db->env.vfs->ctx));
    return commit(db, WAL_RECORD_DELETE_BLOCK, record, len, &version);
}

int kdb_get_block_view(struct kdb *db, const struct kdb_id *id, struct kdb_block *view)
{
    const struct memtable_entry *entry = live_entry(db, id);

    if (!entry) {
        memset(view, 0, sizeof(*view));
        return -ENOENT;
    }
    view_from_entry(id->bytes, entry, view);
    return 0;
}

int kdb_read_block(struct kdb *db, const struct kdb_id *id, uint64_t offset, void *buf, size_t size,
                   size_t *read_out)
{
    const struct memtable_entry *entry = live_entry(db, id);
    size_t n;

    *read_out = 0;
    if (!entry) return -ENOENT;
    if (offset >= entry->content_len) return 0;
    n = entry->content_len - (size_t)offset;
    if (n > size) n = size;
    /* Straight from the entry to the bytes: no view to fill on the hot path. */
    memcpy(buf, entry_content(entry) + offset, n);
    *read_out = n;
    return 0;
}

struct scan_ctx {
    kdb_block_fn fn;
    void *fn_ctx;
};

static int scan_one(void *ctx, const uint8_t id[KDB_ID_SIZE], const struct memtable_entry *entry)
{
    struct scan_ctx *scan = ctx;
    struct kdb_block view;

    if (!entry->live) return 0;
    view_from_entry(id, entry, &view);
    return scan->fn(scan->fn_ctx, &view);
}

int kdb_scan_blocks(struct kdb *db, kdb_block_fn fn, void *fn_ctx)
{
    struct scan_ctx scan = {.fn = fn, .fn_ctx = fn_ctx};

    return memtable_scan(&db->memtable, scan_one, &scan);
}

int kdb_sync(struct kdb *db)
{
    return wal_sync(&db->wal);
}

void kdb_get_stats(const struct kdb *db, struct kdb_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    stats->block_count = db->block_count;
    stats->last_sequence = db->wal.next_sequence - 1;
    stats->durable_sequence = db->wal.durable_sequence;
    stats->memtable_bytes = memtable_bytes(&db->memtable);
    stats->wal_bytes = wal_bytes(&db->wal);
    stats->wal_segment_count = db->wal.segment_count;
    stats->sync_count = db->wal.sync_count;
    stats->recovered_records = db->wal.replayed_records;
    stats->recovered_bytes = db->wal.replayed_bytes;
    stats->recovery_ns = db->recovery_ns;
}
