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
 * Once the memtable holds memtable_size_bytes of records, the next change
 * freezes it (the log moves to a new segment at the same moment) and hands
 * it to the flusher (lsm.h); a read looks in the memtable, then the frozen
 * one, then the tables newest first. Finished flushes and compactions are
 * installed at the start of a change, never during a read, so a view stays
 * valid until the next change.
 *
 * Invariants: block_count is the number of ids whose newest version is a
 * put, but for the unsure ids whose versions in the tables a brief replay
 * did not look up, which it counts as absent there (settled_count()); every
 * record a memtable points at passed block_check_payload().
 * The handle is single-threaded (kdb.h).
 */
#include "kdb.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "block.h"
#include "checksum.h"
#include "db.h"
#include "env.h"
#include "format.h"
#include "graph.h"
#include "graph_file.h"
#include "kassert.h"
#include "lsm.h"
#include "memtable.h"
#include "remote.h"
#include "wal.h"

#define DB_PATH_SIZE_MAX 4000 /* leaves room for file names under the directory */

struct kdb {
    struct env env;               /* from options; borrowed by every module */
    struct kdb_options options;   /* as given, defaults filled in */
    char *path;                   /* the database directory */
    int lock_fd;                  /* holds the lock while open; -1 before */
    struct remote *remote;        /* forwards every call to a server; NULL for a local handle */
    struct memtable memtables[2]; /* mem and imm point at these */
    struct memtable *mem;         /* the memtable changes go to; NULL before open */
    struct memtable *imm;         /* frozen, being flushed; or NULL */
    uint64_t mem_bytes;           /* bytes of records in mem */
    uint64_t flush_log_number;    /* the segment the log moved to when imm froze */
    uint64_t flush_ticket;        /* for wal_wait_rotated() */
    struct lsm lsm;
    bool lsm_ready; /* lsm_open() succeeded */
    struct wal wal;
    bool wal_ready;       /* wal_open() succeeded */
    int error;            /* a failed flush or compaction: sticky, 0 or a negative errno */
    uint64_t block_count; /* live blocks, taking unsure ids for absent from the tables */
    uint8_t (*unsure)[KDB_ID_SIZE]; /* ids a brief replay put, not looked up below */
    size_t unsure_count, unsure_capacity;
    bool count_lazily;  /* a brief replay: new ids go to unsure */
    struct graph graph; /* every live edge, both ways */
    uint64_t
        graph_sequence;   /* the tables' sequence the graph file on disk matches; or UINT64_MAX */
    bool loading;         /* kdb_load_begin(): edges go to the log and tables, not the index */
    uint64_t recovery_ns; /* time kdb_open() spent in replay */
    uint64_t stall_count; /* changes that waited for a flush */
    uint64_t stall_ns;    /* time they waited */
};

/* A version of a block found in a memtable or a table, decoded. */
struct found {
    const uint8_t *uri; /* then metadata, then content, back to back */
    uint64_t version;
    uint64_t mtime_ns;
    uint32_t uri_len;
    uint32_t meta_len;
    uint32_t content_len;
    bool live; /* false: a tombstone */
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
    options->memtable_size_bytes = KDB_MEMTABLE_SIZE_DEFAULT;
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
    if (o->memtable_size_bytes < 1024 || o->memtable_size_bytes > (UINT64_C(1) << 34))
        return -EINVAL;
    return 0;
}

/* ---- finding versions ---- */

static void found_from_entry(const struct memtable_entry *e, struct found *f)
{
    f->uri = block_payload_uri(wal_record_payload(e->record));
    f->version = e->version;
    f->mtime_ns = e->mtime_ns;
    f->uri_len = e->uri_len;
    f->meta_len = e->meta_len;
    f->content_len = e->content_len;
    f->live = e->live != 0;
}

static void found_from_table(const struct table_record *r, struct found *f)
{
    f->uri = block_payload_uri(r->payload);
    f->version = r->sequence;
    f->mtime_ns = block_payload_mtime(r->payload);
    block_payload_lengths(r->payload, &f->uri_len, &f->meta_len, &f->content_len);
    f->live = r->type == WAL_RECORD_PUT_BLOCK;
}

/* id's entry in the memtables, or NULL. */
static const struct memtable_entry *memtables_get(const struct kdb *db, const uint8_t *id)
{
    const struct memtable_entry *e = memtable_get(db->mem, id);
    return e || !db->imm ? e : memtable_get(db->imm, id);
}

/*
 * The newest table that knows id, and where: the bloom lines and radix
 * buckets of all tables are fetched at once, so that their misses overlap.
 * hash is hash_id(id). Returns -1 if none.
 */
static int64_t tables_find_hashed(const struct kdb *db, const uint8_t *id, uint64_t hash,
                                  struct table **table)
{
    struct table *const *tables = db->lsm.tables;
    size_t n = db->lsm.table_count;
    uint64_t prefix;

    if (!n) return -ENOENT;
    prefix = table_id_prefix(id);
    for (size_t i = 0; i < n; i++)
        table_prefetch(tables[i], hash, prefix);
    for (size_t i = 0; i < n; i++) {
        /* Through a brief handle a filter's probe costs a read, as an index page does: the
         * oldest table, which holds an id the newer ones lack if any does, is searched at once. */
        int64_t at =
            i + 1 == n && tables[i]->reader ? 1 : table_may_contain(tables[i], &db->env, hash);
        if (at == 0) continue;
        if (at > 0) at = table_find(tables[i], &db->env, id);
        if (at >= 0) {
            *table = tables[i];
            return at;
        }
        if (at != -ENOENT) return at; /* a damaged page: never "not there" */
    }
    return -ENOENT;
}

/* The newest table entry of id: its position (*table its table), -ENOENT, or a read error. */
static int64_t tables_find(const struct kdb *db, const uint8_t *id, struct table **table)
{
    return db->lsm.table_count ? tables_find_hashed(db, id, hash_id(id), table) : -ENOENT;
}

/* Fills *f with id's newest version: returns 1, or 0 if none, or a read error. */
static int lookup(struct kdb *db, const uint8_t *id, struct found *f)
{
    const struct memtable_entry *e = memtables_get(db, id);
    struct table_record record;
    struct table *table = NULL;
    int64_t at;
    int rc;

    if (e) {
        found_from_entry(e, f);
        return 1;
    }
    at = tables_find(db, id, &table);
    if (at == -ENOENT) return 0;
    if (at < 0) return (int)at;
    rc = table_read(table, &db->env, (uint64_t)at, &record);
    if (rc < 0) return rc;
    found_from_table(&record, f);
    return 1;
}

/*
 * Whether id's newest version below mem is a put: 1, 0, or the error of a
 * table's page that cannot be read. Touches no record in a table.
 */
static int live_below_mem(const struct kdb *db, const uint8_t *id)
{
    const struct memtable_entry *e = db->imm ? memtable_get(db->imm, id) : NULL;
    struct table *table = NULL;
    int64_t at;
    int rc;

    if (e) return e->live != 0;
    at = tables_find(db, id, &table);
    if (at == -ENOENT) return 0;
    if (at < 0) return (int)at;
    rc = table_found_is_tombstone(table, &db->env, (uint64_t)at);
    return rc < 0 ? rc : !rc;
}

/* Whether id's newest version is a put: 1, 0, or an error as live_below_mem(). */
static int live(const struct kdb *db, const uint8_t *id)
{
    const struct memtable_entry *e = memtable_get(db->mem, id);
    return e ? e->live != 0 : live_below_mem(db, id);
}

/* 0 if id's block is live, -ENOENT if not, or an error as live_below_mem(). */
static int block_exists(const struct kdb *db, const uint8_t *id)
{
    int rc = live(db, id);
    return rc < 0 ? rc : rc ? 0 : -ENOENT;
}

/* ---- applying records ---- */

/* An edge tombstone a block's delete implies: header and payload, never logged. */
#define IMPLIED_RECORD_SIZE (WAL_RECORD_HEADER_SIZE + EDGE_PAYLOAD_SIZE)

/*
 * The edges of id the index holds (a self-loop twice): room for the
 * tombstones its delete implies. Reads the lists of id and of its
 * neighbours into the index, so that the delete itself cannot fail.
 */
static int edge_degree(struct kdb *db, const uint8_t *id, size_t *degree)
{
    uint32_t node;
    int rc = graph_node(&db->graph, id, true, &node);

    *degree = 0;
    if (rc == 0 && node != GRAPH_NONE)
        *degree = (size_t)db->graph.nodes[node].out.count + db->graph.nodes[node].in.count;
    return rc;
}

/*
 * Makes room for a change of this type and payload, before it is logged,
 * so that a logged change always lands: memtable slots for it and for what
 * it implies, and arena memory for the implied records (*implied; NULL
 * when none). Returns -ENOMEM.
 */
static int reserve_change(struct kdb *db, unsigned type, const uint8_t *payload, uint8_t **implied)
{
    size_t k = 0;
    int rc = type == WAL_RECORD_DELETE_BLOCK ? edge_degree(db, block_payload_id(payload), &k) : 0;

    *implied = NULL;
    if (rc == 0) rc = memtable_reserve_n(db->mem, 1 + k);
    if (rc < 0 || k == 0) return rc;
    *implied = memtable_alloc(db->mem, k * IMPLIED_RECORD_SIZE);
    return *implied ? 0 : -ENOMEM;
}

static void put_edge_entry(struct kdb *db, const uint8_t *record, const uint8_t *kept)
{
    const uint8_t *payload = wal_record_payload(record);
    struct memtable_entry entry = {
        .record = kept,
        .version = wal_record_sequence(record),
        .mtime_ns = edge_payload_mtime(payload),
        .live = wal_record_type(record) == WAL_RECORD_PUT_EDGE,
        .edge = 1,
    };
    uint8_t key[KDB_ID_SIZE];

    edge_payload_key(payload, key);
    (void)memtable_put(db->mem, key, &entry, NULL);
    db->mem_bytes += WAL_RECORD_HEADER_SIZE + wal_record_payload_len(record);
}

/*
 * A block's delete takes its edges with it: a tombstone for each, at the
 * delete's sequence number, written into implied (reserve_change() sized
 * it), and the edges leave the index. Replay does the same from the same
 * index, so the log needs only the block's delete.
 */
static void drop_edges(struct kdb *db, const uint8_t *id, uint64_t sequence, uint64_t mtime_ns,
                       uint8_t *implied)
{
    uint32_t node;
    const struct graph_node *n;

    /* reserve_change() read the node and its neighbours: nothing can fail here. */
    if (graph_node(&db->graph, id, false, &node) < 0 || node == GRAPH_NONE) return;
    kdb_assert(implied != NULL); /* a node has edges: reserve_change() made room */
    n = &db->graph.nodes[node];
    for (int pass = 0; pass < 2; pass++) {
        const struct graph_list *list = pass ? &n->in : &n->out;
        for (uint32_t i = 0; i < list->count; i++) {
            uint32_t other = graph_entry_node(graph_list_get(list, i));
            const uint8_t *far = db->graph.nodes[other].id;
            if (pass && other == node) continue; /* a self-loop, done as an out-edge */
            wal_record_implied(implied, WAL_RECORD_DELETE_EDGE, sequence, EDGE_PAYLOAD_SIZE);
            edge_encode(implied + WAL_RECORD_HEADER_SIZE, pass ? far : id,
                        graph_entry_type(graph_list_get(list, i)), pass ? id : far, mtime_ns);
            put_edge_entry(db, implied, implied);
            implied += IMPLIED_RECORD_SIZE;
        }
    }
    (void)graph_remove_node(&db->graph, id);
}

/* Adds id to the unsure ids; -ENOMEM. */
static int note_unsure(struct kdb *db, const uint8_t *id)
{
    if (db->unsure_count == db->unsure_capacity) {
        size_t capacity = db->unsure_capacity ? 2 * db->unsure_capacity : 64;
        void *grown = env_realloc(&db->env, db->unsure, capacity * KDB_ID_SIZE);
        if (!grown) return -ENOMEM;
        db->unsure = grown;
        db->unsure_capacity = capacity;
    }
    memcpy(db->unsure[db->unsure_count++], id, KDB_ID_SIZE);
    return 0;
}

/*
 * The live blocks: block_count, less the unsure ids that the tables hold
 * live (their first put in the memtable was counted as new). Reads a few
 * pages for each. As in replay, a table that cannot be read counts as not
 * holding the id. The tables below change only by a flush of the memtable
 * that holds them, which settles first (freeze()).
 */
static uint64_t settled_count(const struct kdb *db)
{
    uint64_t count = db->block_count;

    for (size_t i = 0; i < db->unsure_count; i++)
        count -= live_below_mem(db, db->unsure[i]) > 0;
    return count;
}

static void settle_count(struct kdb *db)
{
    db->block_count = settled_count(db);
    env_free(&db->env, db->unsure);
    db->unsure = NULL;
    db->unsure_count = db->unsure_capacity = 0;
}

/*
 * Points the memtable at kept, a checked record whose header and fixed
 * payload are also at record (the same pointer, or a copy in replay), and
 * keeps block_count and the edge index. Reads only record. A change's room
 * was made by reserve_change(); only replay can fail here (-ENOMEM, when
 * the index cannot grow for an edge: a live change grows it first).
 */
static int apply_record(struct kdb *db, const uint8_t *record, const uint8_t *kept,
                        uint8_t *implied)
{
    unsigned type = wal_record_type(record);
    const uint8_t *payload = wal_record_payload(record);
    struct memtable_entry entry = {
        .record = kept,
        .version = wal_record_sequence(record),
        .live = type == WAL_RECORD_PUT_BLOCK,
    };
    const uint8_t *id = block_payload_id(payload);
    struct memtable_entry previous;
    bool was_live;

    if (type == WAL_RECORD_PUT_EDGE || type == WAL_RECORD_DELETE_EDGE) {
        put_edge_entry(db, record, kept);
        if (db->loading) return 0; /* indexed at the close */
        if (type == WAL_RECORD_DELETE_EDGE) {
            /* Live, graph_has() read both ends; in replay this can fail. */
            int rc = graph_remove(&db->graph, edge_payload_source(payload),
                                  edge_payload_type(payload), edge_payload_target(payload));
            return rc < 0 ? rc : 0;
        }
        int rc = graph_add(&db->graph, edge_payload_source(payload), edge_payload_type(payload),
                           edge_payload_target(payload));
        return rc < 0 ? rc : 0;
    }
    entry.mtime_ns = block_payload_mtime(payload);
    block_payload_lengths(payload, &entry.uri_len, &entry.meta_len, &entry.content_len);
    if (memtable_put(db->mem, id, &entry, &previous))
        was_live = previous.live;
    else if (db->count_lazily && note_unsure(db, id) == 0)
        was_live = false; /* until the count is asked for: a query seldom asks */
    else /* the change is logged: a table that cannot be read counts as not holding id */
        was_live = live_below_mem(db, id) > 0;
    db->mem_bytes += WAL_RECORD_HEADER_SIZE + wal_record_payload_len(record);
    if (entry.live && !was_live) db->block_count++;
    if (!entry.live && was_live) db->block_count--;
    if (type == WAL_RECORD_DELETE_BLOCK) drop_edges(db, id, entry.version, entry.mtime_ns, implied);
    return 0;
}

/*
 * Replay inserts ids in random order into a table far larger than the
 * caches, so it runs a short pipeline: each record's slot is prefetched
 * when it arrives and filled REPLAY_PIPELINE records later, and the misses
 * overlap instead of following one another.
 */
#define REPLAY_PIPELINE 8

/* A payload's fixed part: a block's, or a whole edge's. */
#define REPLAY_FIXED_SIZE                                                                          \
    (BLOCK_PUT_FIXED_SIZE > EDGE_PAYLOAD_SIZE ? BLOCK_PUT_FIXED_SIZE : EDGE_PAYLOAD_SIZE)

struct replay_pending {
    uint8_t record[WAL_RECORD_HEADER_SIZE + REPLAY_FIXED_SIZE]; /* header and fixed payload */
    const uint8_t *kept;                                        /* the record in the mapping */
};

struct replay_ctx {
    struct kdb *db;
    struct replay_pending queue[REPLAY_PIPELINE]; /* a ring */
    size_t head;                                  /* oldest entry */
    size_t count;                                 /* entries queued */
    uint64_t applied;                             /* records applied */
};

/*
 * A brief handle (KDB_OPEN_BRIEF) replays the log of a few edits brief:
 * each change looks its block up in the tables and may read its edges'
 * nodes, a few reads of a page each. Past this many changes its tables and
 * graph file go back to their mappings, whose pages, once touched, serve
 * every later lookup of a long replay.
 */
#define BRIEF_REPLAY_RECORDS 256

static int replay_drain_one(struct replay_ctx *ctx)
{
    struct replay_pending *p = &ctx->queue[ctx->head];
    uint8_t *implied;
    int rc = reserve_change(ctx->db, wal_record_type(p->record), wal_record_payload(p->record),
                            &implied);

    if (rc == 0) rc = apply_record(ctx->db, p->record, p->kept, implied);
    if (rc == 0 && ++ctx->applied == BRIEF_REPLAY_RECORDS) {
        ctx->db->count_lazily = false; /* the lookups' pages are mapped, touched once */
        lsm_end_brief(&ctx->db->lsm);
        rc = graph_base_end_brief(ctx->db->graph.base);
    }
    if (rc < 0) return rc;
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
        return KDB_CORRUPT(&db->env, "log record %llu: malformed payload",
                           (unsigned long long)wal_record_sequence(record));
    if (ctx->count == REPLAY_PIPELINE) {
        rc = replay_drain_one(ctx);
        if (rc < 0) return rc;
    }
    p = &ctx->queue[(ctx->head + ctx->count) % REPLAY_PIPELINE];
    size_t fixed = WAL_RECORD_HEADER_SIZE + wal_record_payload_len(record);
    memcpy(p->record, record, fixed < sizeof(p->record) ? fixed : sizeof(p->record));
    p->kept = kept;
    ctx->count++;
    memtable_prefetch(db->mem, block_payload_id(wal_record_payload(record)));
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
    return vfs->lock(vfs->ctx, db->lock_fd);
}

/* A fresh memtable for changes to go to: one of the two that is not imm. */
static int new_memtable(struct kdb *db)
{
    const struct kdb_vfs *vfs = db->env.vfs;
    struct memtable *mt = db->imm == &db->memtables[0] ? &db->memtables[1] : &db->memtables[0];
    uint64_t seed = 0;
    int rc = vfs->random(vfs->ctx, &seed, sizeof(seed));

    if (rc == 0) rc = memtable_init(mt, &db->env, db->options.arena_chunk_size_bytes, seed);
    if (rc < 0) return rc;
    db->mem = mt;
    db->mem_bytes = 0;
    if (db->wal_ready) memtable_set_ready(mt, prepare_chunk, db);
    return 0;
}

struct log_size {
    const struct kdb_vfs *vfs;
    const char *dir;
    uint64_t first;
    uint64_t bytes;
};

static int add_segment_size(void *ctx, const char *name)
{
    struct log_size *ls = ctx;
    char path[DB_PATH_SIZE_MAX + 64];
    uint64_t number = 0, size = 0;
    int fd = -1;

    if (!format_parse_name(name, WAL_SEGMENT_PREFIX, WAL_SEGMENT_SUFFIX, &number) ||
        number < ls->first)
        return 0;
    (void)snprintf(path, sizeof(path), "%s/%s", ls->dir, name);
    if (ls->vfs->open(ls->vfs->ctx, path, KDB_VFS_OPEN_READ, &fd) < 0) return 0;
    if (ls->vfs->file_size(ls->vfs->ctx, fd, &size) == 0) ls->bytes += size;
    (void)ls->vfs->close(ls->vfs->ctx, fd);
    return 0;
}

/* The bytes of the log from segment first_segment on: what an open replays. */
static int log_bytes(struct kdb *db, uint64_t first_segment, uint64_t *bytes)
{
    struct log_size ls = {.vfs = db->env.vfs, .dir = db->path, .first = first_segment};
    int rc = ls.vfs->list_dir(ls.vfs->ctx, db->path, add_segment_size, &ls);

    *bytes = ls.bytes;
    return rc;
}

/*
 * Sizes the memtable for a log of bytes about to be replayed, at a KiB a
 * record: growing a table of a million ids step by step moves every slot
 * once more, a cache miss each. A guess only: the table still grows if
 * short. A log of a few MiB grows it a few times, cheaply, and a guess
 * there would mostly be slots never touched but zeroed (records of whole
 * files run to tens of KiB).
 */
static int presize_for_replay(struct kdb *db, uint64_t bytes)
{
    return bytes < (UINT64_C(4) << 20) ? 0 : memtable_presize(db->mem, (size_t)(bytes >> 10));
}

/* Bytes of a table's records, and of its index, given back at a time as edges_from_tables() reads
 * through them. */
#define EDGES_RELEASE_UNIT (UINT64_C(2) << 20)
/* Edge records read before they are applied, so that the cache misses of their random ids
 * overlap: each one's hash slots are fetched as it is read, its nodes halfway. */
#define EDGES_AHEAD 16

/* Returns 0 or an error as graph_add(). */
static int apply_table_edge(struct graph *g, const struct table_record *r)
{
    const uint8_t *p = r->payload;
    int rc =
        r->type == WAL_RECORD_DELETE_EDGE
            ? graph_remove(g, edge_payload_source(p), edge_payload_type(p), edge_payload_target(p))
            : graph_add(g, edge_payload_source(p), edge_payload_type(p), edge_payload_target(p));

    return rc < 0 ? rc : 0;
}

/* Applies table t's edge entries to g, giving back the pages read behind the reading. */
static int edges_from_table(struct kdb *db, struct table *t, struct graph *g)
{
    struct table_record ahead[EDGES_AHEAD];
    const uint64_t first = t->block_count, end = t->count + EDGES_AHEAD;
    uint64_t records_released = UINT64_MAX, index_released = table_index_page(t);
    int rc = table_check_all(t, &db->env, true);

    /* Step e applies entry e - AHEAD (whose place in ahead[] entry e takes), fetches the nodes
     * of entry e - AHEAD / 2 and reads entry e. */
    for (uint64_t e = first; rc == 0 && e < end; e++) {
        if (e - first >= EDGES_AHEAD) {
            const struct table_record *r = &ahead[(e - EDGES_AHEAD) % EDGES_AHEAD];
            uint64_t at = (uint64_t)(r->payload - t->map);
            rc = apply_table_edge(g, r);
            if (records_released == UINT64_MAX) /* the blocks' records before: never read */
                records_released = at / EDGES_RELEASE_UNIT * EDGES_RELEASE_UNIT;
            table_give_back(t, &db->env, &records_released, at, EDGES_RELEASE_UNIT);
            table_give_back(t, &db->env, &index_released,
                            (uint64_t)(table_id_at(t, e - EDGES_AHEAD) - t->map),
                            EDGES_RELEASE_UNIT);
        }
        if (e - first >= EDGES_AHEAD / 2 && e - EDGES_AHEAD / 2 < t->count) {
            const uint8_t *p = ahead[(e - EDGES_AHEAD / 2) % EDGES_AHEAD].payload;
            graph_prefetch(g, edge_payload_source(p), true);
            graph_prefetch(g, edge_payload_target(p), true);
        }
        if (rc == 0 && e < t->count) {
            rc = table_read(t, &db->env, e, &ahead[e % EDGES_AHEAD]);
            if (rc < 0) break;
            graph_prefetch(g, edge_payload_source(ahead[e % EDGES_AHEAD].payload), false);
            graph_prefetch(g, edge_payload_target(ahead[e % EDGES_AHEAD].payload), false);
        }
    }
    if (rc < 0) return rc;
    if (records_released != UINT64_MAX)
        table_give_back(t, &db->env, &records_released, (uint64_t)(t->index - t->map),
                        TABLE_PAGE_SIZE);
    table_release_meta(t, &db->env);
    return 0;
}

/*
 * Fills g from the tables' edge entries, oldest table first, so that a newer table's put or
 * tombstone has the last word. The pages read are given back: the index being built is what
 * stays.
 */
static int edges_from_tables(struct kdb *db, struct graph *g)
{
    lsm_end_brief(&db->lsm); /* holds records EDGES_AHEAD at once */
    for (size_t i = db->lsm.table_count; i-- > 0;) {
        int rc = edges_from_table(db, db->lsm.tables[i], g);
        if (rc < 0) return rc;
    }
    return 0;
}

/*
 * Fills the edge index as the tables make it (as of their last sequence):
 * from the graph file if it matches them, else from the tables' edge
 * entries. Replay then brings it up to date with the log.
 */
static int load_edges(struct kdb *db, uint64_t sequence, bool brief)
{
    struct graph_base *base = NULL;
    uint64_t seed = 0;
    int rc = db->env.vfs->random(db->env.vfs->ctx, &seed, sizeof(seed));

    if (rc < 0) return rc;
    graph_init(&db->graph, &db->env, seed);
    db->graph_sequence = UINT64_MAX;
    if (db->lsm.table_count == 0) return 0;
    rc = graph_base_open(&db->env, db->path, sequence, brief, &base);
    if (rc == 0) {
        db->graph_sequence = sequence;
        return graph_attach(&db->graph, base);
    }
    if (rc == -ENOMEM) return rc;
    /* None, stale, damaged (logged) or unreadable: the tables say the same, slower. */
    return edges_from_tables(db, &db->graph);
}

/*
 * The graph file this handle started from holds what the tables do: every
 * page's checksum, and each node's lists against an index rebuilt from the
 * tables. Returns 0 or -KDB_ECORRUPT (logged), -ENOMEM, an I/O error.
 */
static int check_graph_file(struct kdb *db)
{
    struct graph_base *base = db->graph.base;
    uint32_t *out = NULL, out_capacity = 0; /* a node's out-list, kept: see below */
    struct graph g;
    int rc;

    if (!base) return 0;
    graph_init(&g, &db->env, db->graph.seed ^ 0x9e3779b97f4a7c15ull);
    rc = edges_from_tables(db, &g);
    if (rc == 0 && (g.edge_count != base->edge_count || g.live_nodes != base->node_count))
        rc = KDB_CORRUPT(&db->env, GRAPH_NAME ": %llu edges, the tables %llu",
                         (unsigned long long)base->edge_count, (unsigned long long)g.edge_count);
    for (uint64_t i = 0; rc == 0 && i < base->node_count; i++) {
        struct graph_base_node n, far;
        uint32_t node;
        rc = graph_base_node(base, (uint32_t)i, &n);
        if (rc == 0) rc = graph_node(&g, n.id, false, &node);
        if (rc == 0 && (node == GRAPH_NONE || g.nodes[node].out.count != n.out_count ||
                        g.nodes[node].in.count != n.in_count))
            rc = KDB_CORRUPT(&db->env, GRAPH_NAME ": node %llu's lists differ from the tables'",
                             (unsigned long long)i);
        /* The out-list, kept: reading the far ends moves on what n.entries points at. */
        if (rc == 0 && n.out_count > out_capacity) {
            uint32_t *grown = env_realloc(&db->env, out, (size_t)n.out_count * sizeof(*out));
            if (grown) {
                out = grown;
                out_capacity = n.out_count;
            } else {
                rc = -ENOMEM;
            }
        }
        for (uint32_t k = 0; rc == 0 && k < n.out_count; k++)
            out[k] = get_le32(n.entries + (size_t)k * 4);
        for (uint32_t k = 0; rc == 0 && k < n.out_count; k++) {
            uint32_t entry = out[k];
            if (graph_entry_node(entry) >= base->node_count) {
                rc = KDB_CORRUPT(&db->env, GRAPH_NAME ": node %llu has a bad entry",
                                 (unsigned long long)i);
                break;
            }
            rc = graph_base_node_record(base, graph_entry_node(entry), &far);
            if (rc == 0) rc = graph_has(&g, n.id, graph_entry_type(entry), far.id);
            if (rc == 0) {
                rc = KDB_CORRUPT(&db->env, GRAPH_NAME ": node %llu has an edge the tables lack",
                                 (unsigned long long)i);
            } else if (rc == 1) {
                rc = 0;
            }
        }
    }
    env_free(&db->env, out);
    graph_release(&g);
    return rc;
}

static int open_engine(struct kdb *db)
{
    const struct kdb_vfs *vfs = db->env.vfs;
    struct wal_options wal_options = {
        .segment_size_bytes = db->options.wal_segment_size_bytes,
        .buffer_size_bytes = db->options.wal_buffer_size_bytes,
        /* Replay takes records up to the compile-time limits, so a database
         * written with larger limits than this handle's still opens. */
        .payload_size_max = BLOCK_PUT_FIXED_SIZE + KDB_SOURCE_URI_SIZE_LIMIT +
                            KDB_METADATA_SIZE_LIMIT + KDB_CONTENT_SIZE_LIMIT,
    };
    struct replay_ctx replay_ctx = {.db = db};
    struct wal_replay replay = {.ctx = &replay_ctx, .apply = replay_apply};
    uint64_t last_sequence = 0, start, replay_bytes = 0;
    bool brief = (db->options.flags & KDB_OPEN_BRIEF) != 0;
    int rc;

    start = vfs->now_ns(vfs->ctx);
    rc = lsm_open(&db->lsm, &db->env, db->path, (db->options.flags & KDB_OPEN_FOREGROUND) != 0,
                  brief, &wal_options.first_segment, &last_sequence, &db->block_count);
    if (rc < 0) return rc;
    db->lsm_ready = true;
    wal_options.first_sequence = last_sequence + 1;
    rc = log_bytes(db, wal_options.first_segment, &replay_bytes);
    if (rc < 0) return rc;
    rc = load_edges(db, last_sequence, brief);
    if (rc == 0) rc = new_memtable(db);
    if (rc == 0) rc = presize_for_replay(db, replay_bytes);
    if (rc < 0) return rc;
    db->count_lazily = brief;
    rc = wal_open(&db->wal, &db->env, db->path, &wal_options, &replay);
    if (rc) return rc < 0 ? rc : -EIO;
    db->wal_ready = true;
    memtable_set_ready(db->mem, prepare_chunk, db);
    while (replay_ctx.count) {
        rc = replay_drain_one(&replay_ctx);
        if (rc < 0) return rc;
    }
    db->count_lazily = false;
    db->recovery_ns = vfs->now_ns(vfs->ctx) - start;
    return 0;
}

static void db_free(struct kdb *db)
{
    const struct kdb_vfs *vfs = db->env.vfs;

    /* The workers go first: a flush reads imm until it is done. */
    if (db->lsm_ready) lsm_close(&db->lsm);
    if (db->wal_ready) (void)wal_close(&db->wal);
    if (db->mem) memtable_release(db->mem);
    if (db->imm) memtable_release(db->imm);
    graph_release(&db->graph);
    env_free(&db->env, db->unsure);
    if (db->lock_fd >= 0) (void)vfs->close(vfs->ctx, db->lock_fd);
    remote_close(db->remote);
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
    if (rc == -EBUSY && !(options->flags & KDB_OPEN_LOCAL)) {
        /* Held: forward to the holder, if it serves. */
        int remote_rc = remote_connect(&db->env, db->path, &db->remote);
        if (remote_rc == 0) {
            (void)db->env.vfs->close(db->env.vfs->ctx, db->lock_fd);
            db->lock_fd = -1;
            *out = db;
            return 0;
        }
        if (remote_rc == -EPROTO) {
            KDB_LOG(&db->env, KDB_LOG_WARNING,
                    "database %s: its server speaks another protocol (another build of "
                    "KausalDB?): stop it, or use its build",
                    db->path);
        } else if (remote_rc != -ECONNREFUSED) {
            KDB_LOG(&db->env, KDB_LOG_WARNING, "database %s: its server does not answer: %s",
                    db->path, kdb_strerror(remote_rc));
        }
    }
    if (rc == -EBUSY) log_lock_holder(db);
    if (rc < 0) goto out_free;
    rc = open_engine(db);
    if (rc < 0) goto out_free;
    *out = db;
    return 0;
out_free:
    db_free(db);
    return rc;
}

/* KDB_OPEN_KEEP_LOG keeps at most this much log for the next open to replay. */
#define KEEP_LOG_BYTES_MAX    (UINT64_C(4) << 20)
#define KEEP_LOG_SEGMENTS_MAX 16

/* The last sequence number the tables hold (the manifest's). */
static uint64_t tables_sequence(struct kdb *db)
{
    uint64_t sequence;

    pthread_mutex_lock(&db->lsm.manifest_lock);
    sequence = db->lsm.committed ? db->lsm.committed->last_sequence : 0;
    pthread_mutex_unlock(&db->lsm.manifest_lock);
    return sequence;
}

/*
 * Saves the edge index as the graph file, if the tables have changed since
 * the one on disk: the memtable goes out as a table first, so that the
 * index is the tables' own. A failure costs the next open a rebuild, not
 * data: it is logged, and the close goes on.
 */
static void save_graph(struct kdb *db)
{
    int rc = 0;

    if (db->lsm.table_count == 0 || tables_sequence(db) == db->graph_sequence) return;
    if (memtable_count(db->mem) > 0) rc = kdb_flush(db);
    if (rc == 0) rc = graph_file_write(&db->graph, db->path, tables_sequence(db));
    if (rc < 0) {
        KDB_LOG(&db->env, KDB_LOG_WARNING,
                "the edge index was not saved (%s): the next open rebuilds it from the tables",
                kdb_strerror(rc));
    }
}

/*
 * The end of a load (kdb_load_begin()): the tables hold every edge, and the
 * index is built from them and saved. A failure is logged: the next open
 * builds it the same way.
 */
static void index_the_load(struct kdb *db)
{
    int rc = edges_from_tables(db, &db->graph);

    if (rc == 0) {
        db->loading = false;
        save_graph(db);
        return;
    }
    KDB_LOG(
        &db->env, KDB_LOG_WARNING,
        "the edge index of the load was not built (%s): the next open builds it from the tables",
        kdb_strerror(rc));
}

int kdb_close(struct kdb *db)
{
    int rc = 0;

    if (!db) return 0;
    if (db->remote) {
        db_free(db);
        return 0;
    }
    /* The memtable goes out as a table: the next open replays nothing. With
     * KEEP_LOG it stays in the log, unless the log has grown past what an
     * open should replay. */
    if (db->lsm_ready && db->wal_ready && !db->error && !db->wal.error &&
        memtable_count(db->mem) > 0 &&
        (db->loading || !(db->options.flags & KDB_OPEN_KEEP_LOG) ||
         wal_bytes(&db->wal) > KEEP_LOG_BYTES_MAX || db->wal.segment_count > KEEP_LOG_SEGMENTS_MAX))
        rc = kdb_flush(db);
    if (rc == 0 && db->lsm_ready && db->wal_ready && !db->error && !db->wal.error) {
        if (db->loading)
            index_the_load(db);
        else
            save_graph(db);
    }
    if (db->lsm_ready) lsm_close(&db->lsm);
    db->lsm_ready = false;
    if (db->wal_ready) {
        int close_rc = wal_close(&db->wal);
        if (rc == 0) rc = close_rc;
    }
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

/* ---- flushes and compactions, seen from the core ---- */

/* A job failed: the database takes no more changes until it is reopened. */
static int fail(struct kdb *db, int rc)
{
    if (rc < 0 && db->error == 0) db->error = rc;
    return rc;
}

/* The flush of imm is done: its table takes over, and imm and its segments go. */
static int finish_flush(struct kdb *db)
{
    int rc = lsm_install_flush(&db->lsm);

    if (rc < 0) return fail(db, rc); /* imm stays, to be read, until close */
    /* A record too large for a log buffer is written from imm's arena. */
    wal_wait_rotated(&db->wal, db->flush_ticket);
    memtable_release(db->imm);
    db->imm = NULL;
    wal_forget(&db->wal, db->flush_log_number);
    if (db->options.flags & KDB_OPEN_BULK) { /* what the puts since the last flush probed */
        for (size_t i = 0; i < db->lsm.table_count; i++)
            table_release_meta(db->lsm.tables[i], &db->env);
    }
    return 0;
}

/*
 * Installs what the workers finished and starts a compaction if one is
 * due. With wait_flush, first waits for the flush in progress.
 */
static int settle(struct kdb *db, bool wait_flush)
{
    for (;;) {
        bool progress = false;
        int rc;

        if (lsm_job_done(&db->lsm.flusher, wait_flush)) {
            rc = finish_flush(db);
            if (rc < 0) return rc;
            progress = true;
        }
        wait_flush = false;
        if (lsm_job_done(&db->lsm.compactor, false)) {
            rc = lsm_install_compaction(&db->lsm);
            if (rc < 0) return fail(db, rc);
            progress = true;
        }
        rc = lsm_maybe_compact(&db->lsm);
        if (rc < 0) return fail(db, rc);
        if (!progress && rc == 0) return 0;
        if (!db->lsm.foreground && !progress) return 0;
    }
}

/* Freezes the memtable and hands it to the flusher; the log moves to a new segment. */
static int freeze(struct kdb *db)
{
    bool foreground = db->lsm.foreground;
    uint64_t number, ticket;
    int rc;

    kdb_assert(!db->imm);
    settle_count(db); /* before the tables below the unsure ids change */
    rc = wal_rotate(&db->wal, foreground, &number, &ticket);
    if (rc < 0) return rc;
    db->imm = db->mem;
    db->mem = NULL;
    rc = new_memtable(db);
    if (rc < 0) {
        db->mem = db->imm;
        db->imm = NULL;
        return fail(db, rc);
    }
    db->flush_log_number = number;
    db->flush_ticket = ticket;
    rc = lsm_submit_flush(&db->lsm, db->imm, number, db->wal.next_sequence - 1, db->block_count);
    if (rc < 0) return fail(db, rc);
    return foreground ? settle(db, true) : 0;
}

/*
 * Full: its records, or the memory it holds (arena and hash table), pass
 * the limit. Small records (tombstones) cost more in slots and alignment
 * than in bytes, and it is the memory that must stay bounded.
 */
static bool memtable_full(const struct kdb *db)
{
    uint64_t limit = db->options.memtable_size_bytes;
    return db->mem_bytes >= limit || memtable_footprint(db->mem) >= limit;
}

/* Before a change: installs finished work, and freezes a full memtable. */
static int make_room(struct kdb *db)
{
    const struct kdb_vfs *vfs = db->env.vfs;
    int rc = settle(db, false);

    if (rc < 0) return rc;
    if (!memtable_full(db)) return 0;
    if (db->imm) {
        /* The flush before is still writing: wait for it (a write stall). */
        uint64_t start = vfs->now_ns(vfs->ctx), waited;
        rc = settle(db, true);
        waited = vfs->now_ns(vfs->ctx) - start;
        db->stall_ns += waited;
        db->stall_count++;
        KDB_LOG(&db->env, KDB_LOG_INFO, "write stall: %.1f ms waiting for a flush",
                (double)waited / 1e6);
        if (rc < 0) return rc;
    }
    return freeze(db);
}

/* Logs record (arena memory, len bytes with header space) and makes it visible. */
static int commit(struct kdb *db, unsigned type, uint8_t *record, size_t len, uint64_t *version)
{
    uint8_t *implied;
    int rc = reserve_change(db, type, record + WAL_RECORD_HEADER_SIZE, &implied);

    if (rc < 0) return rc;
    rc = wal_append(&db->wal, type, record, len, version);
    if (rc < 0) return rc;
    rc = apply_record(db, record, record, implied);
    return rc < 0 ? fail(db, rc) : 0;
}

/* Refuses a change after an error that stopped the log or a job. */
static int writable(struct kdb *db)
{
    if (db->wal.error) return db->wal.error;
    if (db->error) return db->error;
    return make_room(db);
}

int kdb_put_block(struct kdb *db, const struct kdb_block *block, uint64_t *version_out)
{
    struct kdb_block input = *block;
    uint64_t version = 0;
    uint8_t *record;
    size_t len;
    int rc;

    if (version_out) *version_out = 0;
    if (db->remote) return remote_put_block(db->remote, block, version_out);
    rc = check_block(db, block);
    if (rc == 0) rc = writable(db);
    if (rc < 0) return rc;
    if (input.metadata_len == 0) {
        input.metadata = "{}";
        input.metadata_len = 2;
    }
    len = WAL_RECORD_HEADER_SIZE + block_put_payload_size(&input);
    record = memtable_alloc(db->mem, len);
    if (!record) return -ENOMEM;
    block_encode_put(record + WAL_RECORD_HEADER_SIZE, &input,
                     db->env.vfs->now_ns(db->env.vfs->ctx));
    rc = commit(db, WAL_RECORD_PUT_BLOCK, record, len, &version);
    if (rc < 0) return rc;
    if (version_out) *version_out = version;
    return 0;
}

int kdb_delete_block(struct kdb *db, const struct kdb_id *id)
{
    size_t len = WAL_RECORD_HEADER_SIZE + BLOCK_DELETE_SIZE;
    uint64_t version;
    uint8_t *record;
    int rc;

    if (db->remote) return remote_call(db->remote, REMOTE_DELETE_BLOCK, id);
    if (db->loading) return -EBUSY; /* its edges are not in the index to go with it */
    rc = block_exists(db, id->bytes);
    if (rc == 0) rc = writable(db);
    if (rc < 0) return rc;
    record = memtable_alloc(db->mem, len);
    if (!record) return -ENOMEM;
    block_encode_delete(record + WAL_RECORD_HEADER_SIZE, id, db->env.vfs->now_ns(db->env.vfs->ctx));
    return commit(db, WAL_RECORD_DELETE_BLOCK, record, len, &version);
}

static void view_from_found(const uint8_t *id, const struct found *f, struct kdb_block *view)
{
    memcpy(view->id.bytes, id, KDB_ID_SIZE);
    view->version = f->version;
    view->mtime_ns = f->mtime_ns;
    view->source_uri = (const char *)f->uri;
    view->source_uri_len = f->uri_len;
    view->metadata = (const char *)f->uri + f->uri_len;
    view->metadata_len = f->meta_len;
    view->content = f->uri + f->uri_len + f->meta_len;
    view->content_len = f->content_len;
}

int kdb_get_block_view(struct kdb *db, const struct kdb_id *id, struct kdb_block *view)
{
    struct found f;
    int rc;

    if (db->remote) return remote_get_block(db->remote, id, view);
    rc = lookup(db, id->bytes, &f);
    if (rc <= 0 || !f.live) {
        memset(view, 0, sizeof(*view));
        return rc < 0 ? rc : -ENOENT;
    }
    view_from_found(id->bytes, &f, view);
    return 0;
}

int kdb_read_block(struct kdb *db, const struct kdb_id *id, uint64_t offset, void *buf, size_t size,
                   size_t *read_out)
{
    struct found f;
    size_t n;
    int rc;

    *read_out = 0;
    if (db->remote) return remote_read_block(db->remote, id, offset, buf, size, read_out);
    rc = lookup(db, id->bytes, &f);
    if (rc <= 0 || !f.live) return rc < 0 ? rc : -ENOENT;
    if (offset >= f.content_len) return 0;
    n = f.content_len - (size_t)offset;
    if (n > size) n = size;
    memcpy(buf, f.uri + f.uri_len + f.meta_len + offset, n);
    *read_out = n;
    return 0;
}

/* ---- edges ---- */

static bool edge_type_valid(unsigned type)
{
    return type >= 1 && type <= KDB_EDGE_TYPE_MAX;
}

/* Logs an edge's put or delete (record_type) and applies it to the memtable. */
static int log_edge(struct kdb *db, unsigned record_type, const struct kdb_edge *edge)
{
    const size_t len = WAL_RECORD_HEADER_SIZE + EDGE_PAYLOAD_SIZE;
    uint64_t version;
    uint8_t *record;
    int rc = writable(db);

    if (rc < 0) return rc;
    record = memtable_alloc(db->mem, len);
    if (!record) return -ENOMEM;
    edge_encode(record + WAL_RECORD_HEADER_SIZE, edge->source.bytes, edge->type, edge->target.bytes,
                db->env.vfs->now_ns(db->env.vfs->ctx));
    return commit(db, record_type, record, len, &version);
}

int kdb_put_edge(struct kdb *db, const struct kdb_edge *edge)
{
    const uint8_t *source = edge->source.bytes, *target = edge->target.bytes;
    int rc;

    if (db->remote) return remote_edge(db->remote, REMOTE_PUT_EDGE, edge);
    if (!edge_type_valid(edge->type)) return -EINVAL;
    if (db->loading) return log_edge(db, WAL_RECORD_PUT_EDGE, edge); /* indexed at the close */
    /* A block with edges is live: the index answers without a lookup. */
    for (int end = 0; end < 2; end++) {
        const uint8_t *block = end ? target : source;
        rc = graph_holds(&db->graph, block) ? 0 : block_exists(db, block);
        if (rc < 0) return rc;
    }
    /* The index grows first (an edge there already is not logged again): once logged, the
     * change must land. Whatever fails after it takes the edge back out, which cannot fail
     * once both ends' lists are read (graph_add() alone need not read them). */
    for (int end = 0; end < 2; end++) {
        uint32_t node;
        rc = graph_node(&db->graph, end ? target : source, false, &node);
        if (rc < 0) return rc;
    }
    rc = graph_add(&db->graph, source, edge->type, target);
    if (rc <= 0) return rc;
    rc = log_edge(db, WAL_RECORD_PUT_EDGE, edge);
    if (rc < 0) {
        int undone = graph_remove(&db->graph, source, edge->type, target);
        kdb_assert(undone == 1); /* both ends were read: it cannot fail */
        (void)undone;
    }
    return rc;
}

int kdb_delete_edge(struct kdb *db, const struct kdb_edge *edge)
{
    int rc;

    if (db->remote) return remote_edge(db->remote, REMOTE_DELETE_EDGE, edge);
    if (!edge_type_valid(edge->type)) return -EINVAL;
    if (db->loading) return -EBUSY; /* the index that says whether it is there is not kept */
    rc = graph_has(&db->graph, edge->source.bytes, edge->type, edge->target.bytes);
    if (rc <= 0) return rc < 0 ? rc : -ENOENT;
    return log_edge(db, WAL_RECORD_DELETE_EDGE, edge);
}

/* ---- queries ---- */

#define RESULT_SPACE_MIN 4096

/* What kdb_result_new() makes: the caller sees the first member. */
struct result {
    struct kdb_result pub;
    struct kdb *db;
    void *space; /* the answer's array: grows, never shrinks, reused by every query */
    size_t space_size;
    struct graph_visits visits; /* traversal scratch, reused likewise */
};

int kdb_result_new(struct kdb *db, struct kdb_result **out)
{
    struct result *r = env_malloc(&db->env, sizeof(*r));

    *out = NULL;
    if (!r) return -ENOMEM;
    memset(r, 0, sizeof(*r));
    r->db = db;
    *out = &r->pub;
    return 0;
}

void kdb_result_free(struct kdb_result *pub)
{
    struct result *r = (struct result *)(void *)pub;

    if (!r) return;
    env_free(&r->db->env, r->space);
    graph_visits_release(&r->db->graph, &r->visits);
    env_free(&r->db->env, r);
}

/* Empties the result and returns room for bytes, or NULL. */
static void *result_space(struct result *r, size_t bytes)
{
    memset(&r->pub, 0, sizeof(r->pub));
    if (bytes > r->space_size || !r->space) {
        size_t size = r->space_size ? r->space_size : RESULT_SPACE_MIN;
        void *space;
        while (size < bytes)
            size *= 2;
        space = env_malloc(&r->db->env, size);
        if (!space) return NULL;
        env_free(&r->db->env, r->space);
        r->space = space;
        r->space_size = size;
    }
    return r->space;
}

/* ---- queries through a forwarding handle: the answer copied into the result ---- */

static int remote_query_edges(struct result *r, const struct kdb_id *id, unsigned direction,
                              uint32_t type_mask)
{
    struct kdb_edge *edges;
    size_t count;
    int rc = remote_edges(r->db->remote, id, direction, type_mask, &count);

    if (rc < 0) return rc;
    edges = result_space(r, count * sizeof(*edges));
    if (!edges) return -ENOMEM;
    remote_take_edges(r->db->remote, edges, count);
    r->pub.edges = edges;
    r->pub.count = count;
    return 0;
}

static int remote_query_walk(struct result *r, enum remote_op op, const struct kdb_id *from,
                             const struct kdb_id *to, const struct kdb_walk *walk)
{
    struct kdb_node *nodes;
    size_t count;
    int rc = remote_walk(r->db->remote, op, from, to, walk, &count);

    if (rc < 0) return rc;
    nodes = result_space(r, count * sizeof(*nodes));
    if (!nodes) return -ENOMEM;
    remote_take_nodes(r->db->remote, nodes, count);
    r->pub.nodes = nodes;
    r->pub.count = count;
    return 0;
}

static int remote_query_blocks(struct result *r, const struct kdb_id *ids, size_t n, bool heads)
{
    struct kdb_block *views;
    size_t bytes;
    int rc = remote_get_blocks(r->db->remote, ids, n, heads, &bytes);

    if (rc < 0) return rc;
    views = result_space(r, n * sizeof(*views) + bytes);
    if (!views) return -ENOMEM;
    remote_take_blocks(r->db->remote, views, n, heads, (uint8_t *)(views + n));
    r->pub.blocks = views;
    r->pub.count = n;
    return 0;
}

static bool walk_valid(unsigned direction, uint32_t type_mask)
{
    const uint32_t types = ((UINT32_C(1) << (KDB_EDGE_TYPE_MAX + 1)) - 1) & ~UINT32_C(1);
    return direction >= KDB_DIRECTION_OUT && direction <= KDB_DIRECTION_BOTH &&
           (type_mask & ~types) == 0;
}

/*
 * id's node in the index; GRAPH_NONE with *rc 0 for a live block without
 * edges, with *rc -ENOENT for no block, or with *rc a read error. A node's
 * block is live: a block's delete takes its edges, so the common case
 * reads no table.
 */
static uint32_t node_of(struct kdb *db, const uint8_t *id, int *rc)
{
    uint32_t node;

    *rc = db->loading ? -EBUSY : graph_node(&db->graph, id, false, &node);
    if (*rc < 0) return GRAPH_NONE;
    if (node == GRAPH_NONE) *rc = block_exists(db, id);
    return node;
}

struct edge_fill {
    const uint8_t *id;
    struct kdb_edge *edges;
    size_t count;
    size_t bound;
};

static int fill_edge(void *ctx, const uint8_t far[KDB_ID_SIZE], unsigned type, bool in)
{
    struct edge_fill *f = ctx;
    struct kdb_edge *e = &f->edges[f->count];

    kdb_assert(f->count < f->bound);
    memcpy(e->source.bytes, in ? far : f->id, KDB_ID_SIZE);
    memcpy(e->target.bytes, in ? f->id : far, KDB_ID_SIZE);
    e->type = type;
    f->count++;
    return 0;
}

int kdb_edges(struct kdb *db, const struct kdb_id *id, unsigned direction, uint32_t type_mask,
              struct kdb_result *pub)
{
    struct result *r = (struct result *)(void *)pub;
    struct edge_fill fill = {.id = id->bytes};
    uint64_t bound = 0;
    uint32_t node;
    int rc;

    if (db->remote) return remote_query_edges(r, id, direction, type_mask);
    if (!walk_valid(direction, type_mask)) return -EINVAL;
    if (db->loading) return -EBUSY;
    /* Only the lists asked for are read, and of their far ends only the ids. */
    rc = graph_find(&db->graph, id->bytes, &node, &bound);
    if (rc == 0 && node == GRAPH_NONE) rc = block_exists(db, id->bytes); /* without edges? */
    if (rc < 0) return rc;
    if (bound > SIZE_MAX / sizeof(*fill.edges)) return -ENOMEM;
    fill.bound = (size_t)bound;
    fill.edges = result_space(r, fill.bound * sizeof(*fill.edges));
    if (!fill.edges) return -ENOMEM;
    if (node != GRAPH_NONE)
        rc = graph_each_edge(&db->graph, node, direction, type_mask, fill_edge, &fill);
    if (rc < 0) return rc;
    pub->edges = fill.edges;
    pub->count = fill.count;
    return 0;
}

/* Turns the visits into r->nodes. */
static int nodes_from_visits(struct result *r)
{
    const struct graph *g = &r->db->graph;
    struct kdb_node *nodes = result_space(r, r->visits.count * sizeof(*nodes));

    if (!nodes) return -ENOMEM;
    for (size_t i = 0; i < r->visits.count; i++) {
        const struct graph_visit *v = &r->visits.items[i];
        memcpy(nodes[i].id.bytes, g->nodes[v->node].id, KDB_ID_SIZE);
        nodes[i].depth = v->depth;
        nodes[i].parent = v->parent == GRAPH_NONE ? KDB_NONE : v->parent;
        nodes[i].type = v->type;
        nodes[i].reversed = v->reversed;
    }
    r->pub.nodes = nodes;
    r->pub.count = r->visits.count;
    return 0;
}

/* The answer for a start without edges: itself. */
static int lone_node(struct result *r, const struct kdb_id *id)
{
    struct kdb_node *node = result_space(r, sizeof(*node));

    if (!node) return -ENOMEM;
    *node = (struct kdb_node){.id = *id, .parent = KDB_NONE};
    r->pub.nodes = node;
    r->pub.count = 1;
    return 0;
}

int kdb_traverse(struct kdb *db, const struct kdb_id *start, const struct kdb_walk *walk,
                 struct kdb_result *pub)
{
    struct result *r = (struct result *)(void *)pub;
    uint32_t node;
    int rc;

    if (db->remote) return remote_query_walk(r, REMOTE_TRAVERSE, start, NULL, walk);
    if (!walk_valid(walk->direction, walk->type_mask)) return -EINVAL;
    node = node_of(db, start->bytes, &rc);
    if (rc < 0) return rc;
    if (node == GRAPH_NONE) return lone_node(r, start);
    rc = graph_traverse(&db->graph, node, walk->direction, walk->type_mask, walk->max_depth,
                        walk->limit, &r->visits);
    return rc < 0 ? rc : nodes_from_visits(r);
}

int kdb_path(struct kdb *db, const struct kdb_id *from, const struct kdb_id *to,
             const struct kdb_walk *walk, struct kdb_result *pub)
{
    struct result *r = (struct result *)(void *)pub;
    uint32_t a, b = GRAPH_NONE;
    int rc;

    if (db->remote) return remote_query_walk(r, REMOTE_PATH, from, to, walk);
    if (!walk_valid(walk->direction, walk->type_mask)) return -EINVAL;
    a = node_of(db, from->bytes, &rc);
    if (rc == 0) b = node_of(db, to->bytes, &rc);
    if (rc < 0) return rc;
    if (memcmp(from->bytes, to->bytes, KDB_ID_SIZE) == 0) return lone_node(r, from);
    if (!result_space(r, 0)) return -ENOMEM;
    if (a == GRAPH_NONE || b == GRAPH_NONE) return 0;
    rc =
        graph_path(&db->graph, a, b, walk->direction, walk->type_mask, walk->max_depth, &r->visits);
    if (rc <= 0) {
        r->visits.count = 0;
        return rc;
    }
    return nodes_from_visits(r);
}

/* Ids a batch looks up together, so that the cache misses of each step overlap. */
#define BATCH_GROUP 32

/* Where one id of a batch was found. */
struct batch_hit {
    uint64_t hash;                      /* hash_id() of the id */
    const struct memtable_entry *entry; /* in a memtable; or NULL and: */
    struct table *table;                /* in a table, at index position at; or NULL */
    int64_t at;
};

/*
 * Looks ids[0..m) up in steps, each step for every id before the next, so
 * that the lines one step reads were fetched for all ids while the step
 * before ran: memtable slots, bloom lines and radix buckets; then index
 * entries; then record headers.
 */
static int get_group(struct kdb *db, const struct kdb_id *ids, size_t m, struct kdb_block *views)
{
    struct batch_hit hit[BATCH_GROUP];
    struct table *const *tables = db->lsm.tables;
    size_t nt = db->lsm.table_count;

    for (size_t i = 0; i < m; i++) {
        uint64_t prefix = table_id_prefix(ids[i].bytes);
        hit[i].hash = hash_id(ids[i].bytes);
        memtable_prefetch(db->mem, ids[i].bytes);
        for (size_t t = 0; t < nt; t++)
            table_prefetch(tables[t], hit[i].hash, prefix);
    }
    for (size_t i = 0; i < m; i++) {
        hit[i].entry = memtables_get(db, ids[i].bytes);
        hit[i].table = NULL;
        hit[i].at = -1;
        for (size_t t = 0; !hit[i].entry && t < nt; t++) {
            if (table_may_contain(tables[t], &db->env, hit[i].hash) > 0)
                table_prefetch_entries(tables[t], ids[i].bytes);
        }
    }
    for (size_t i = 0; i < m; i++) {
        if (hit[i].entry) continue;
        hit[i].at = tables_find_hashed(db, ids[i].bytes, hit[i].hash, &hit[i].table);
        if (hit[i].at >= 0) table_prefetch_record(hit[i].table, (uint64_t)hit[i].at);
        if (hit[i].at < 0 && hit[i].at != -ENOENT) return (int)hit[i].at;
    }
    for (size_t i = 0; i < m; i++) {
        struct found f = {.live = false};
        if (hit[i].entry) {
            found_from_entry(hit[i].entry, &f);
        } else if (hit[i].at >= 0) {
            struct table_record record;
            int rc = table_read(hit[i].table, &db->env, (uint64_t)hit[i].at, &record);
            if (rc < 0) return rc;
            found_from_table(&record, &f);
        }
        if (f.live) {
            view_from_found(ids[i].bytes, &f, &views[i]);
        } else {
            memset(&views[i], 0, sizeof(views[i]));
            views[i].id = ids[i];
        }
    }
    return 0;
}

/* A view read into a brief batch's scratch: its bytes at offset there. */
struct copied_view {
    struct kdb_block view;
    size_t offset;
};

/*
 * A brief handle's batch, read block by block through the buffers of
 * kdb_get_block_view(), which each read reuses: so each block's bytes (but
 * the content of heads) are copied out before the next read, then
 * everything into r.
 */
static int get_blocks_brief(struct kdb *db, struct result *r, const struct kdb_id *ids, size_t n,
                            bool heads)
{
    struct copied_view *cv = env_malloc(&db->env, n * sizeof(*cv));
    struct kdb_block *views = NULL;
    uint8_t *bytes = NULL;
    size_t used = 0, capacity = 0;
    int rc = cv ? 0 : -ENOMEM;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct kdb_block *v = &cv[i].view;
        size_t size;
        cv[i].offset = used;
        rc = kdb_get_block_view(db, &ids[i], &cv[i].view);
        if (rc == -ENOENT) { /* missing: version 0, no fields */
            cv[i].view.id = ids[i];
            rc = 0;
            continue;
        }
        if (rc < 0) break;
        if (heads) cv[i].view.content = NULL;
        size = v->source_uri_len + v->metadata_len + (heads ? 0 : v->content_len);
        if (size == 0) continue;
        if (size > capacity - used) {
            size_t grown = capacity ? capacity : 4096;
            uint8_t *more;
            while (grown - used < size)
                grown *= 2;
            more = env_realloc(&db->env, bytes, grown);
            if (!more) {
                rc = -ENOMEM;
                break;
            }
            bytes = more;
            capacity = grown;
        }
        memcpy(bytes + used, v->source_uri, v->source_uri_len);
        memcpy(bytes + used + v->source_uri_len, v->metadata, v->metadata_len);
        if (!heads)
            memcpy(bytes + used + v->source_uri_len + v->metadata_len, v->content, v->content_len);
        used += size;
    }
    if (rc == 0) views = result_space(r, n * sizeof(*views) + used);
    if (rc == 0 && !views) rc = -ENOMEM;
    if (rc == 0 && used) memcpy(views + n, bytes, used);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *at = (const char *)(views + n) + cv[i].offset;
        views[i] = cv[i].view;
        if (views[i].version == 0) continue;
        views[i].source_uri = at;
        views[i].metadata = at + views[i].source_uri_len;
        if (!heads)
            views[i].content =
                (const uint8_t *)at + views[i].source_uri_len + views[i].metadata_len;
    }
    if (rc == 0) {
        r->pub.blocks = views;
        r->pub.count = n;
    }
    env_free(&db->env, bytes);
    env_free(&db->env, cv);
    return rc;
}

static int get_blocks(struct kdb *db, const struct kdb_id *ids, size_t n, struct kdb_result *pub,
                      bool heads)
{
    struct result *r = (struct result *)(void *)pub;
    struct kdb_block *views;

    if (n > SIZE_MAX / sizeof(*views)) return -ENOMEM;
    if (db->remote) return remote_query_blocks(r, ids, n, heads);
    if ((db->options.flags & KDB_OPEN_BRIEF) && n > 0)
        return get_blocks_brief(db, r, ids, n, heads);
    lsm_end_brief(&db->lsm); /* the views of every block are held at once */
    views = result_space(r, n * sizeof(*views));
    if (!views) return -ENOMEM;
    for (size_t at = 0; at < n; at += BATCH_GROUP) {
        int rc = get_group(db, ids + at, n - at < BATCH_GROUP ? n - at : BATCH_GROUP, views + at);
        if (rc < 0) return rc;
    }
    for (size_t i = 0; heads && i < n; i++)
        views[i].content = NULL;
    pub->blocks = views;
    pub->count = n;
    return 0;
}

int kdb_get_blocks(struct kdb *db, const struct kdb_id *ids, size_t n, struct kdb_result *r)
{
    return get_blocks(db, ids, n, r, false);
}

int kdb_get_block_heads(struct kdb *db, const struct kdb_id *ids, size_t n, struct kdb_result *r)
{
    return get_blocks(db, ids, n, r, true);
}

/* ---- scans: a merge of the memtables and the tables, in id order ---- */

struct scan_source {
    const struct memtable_ref *refs; /* a memtable's entries, sorted; or NULL: */
    struct table *table;             /* a table */
    size_t count;
    size_t pos;
};

static const uint8_t *source_id(const struct scan_source *s)
{
    return s->refs ? s->refs[s->pos].id : table_id_at(s->table, s->pos);
}

/* Emits the newest version of the smallest id at the cursors, if live. */
static int scan_step(struct kdb *db, struct scan_source *src, size_t n, kdb_block_fn fn,
                     void *fn_ctx, bool *more)
{
    const uint8_t *min = NULL;
    size_t win = 0;
    struct found f;
    uint8_t id[KDB_ID_SIZE];
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        if (src[i].pos < src[i].count && (!min || memcmp(source_id(&src[i]), min, 16) < 0)) {
            min = source_id(&src[i]);
            win = i;
        }
    }
    *more = min != NULL;
    if (!min) return 0;
    memcpy(id, min, sizeof(id));
    if (src[win].refs) {
        found_from_entry(src[win].refs[src[win].pos].entry, &f);
    } else {
        struct table_record record;
        rc = table_read(src[win].table, &db->env, src[win].pos, &record);
        if (rc < 0) return rc;
        found_from_table(&record, &f);
    }
    for (size_t i = 0; i < n; i++) {
        if (src[i].pos < src[i].count && memcmp(source_id(&src[i]), id, 16) == 0) src[i].pos++;
    }
    if (!f.live) return 0;
    struct kdb_block view;
    view_from_found(id, &f, &view);
    return fn(fn_ctx, &view);
}

int kdb_scan_blocks(struct kdb *db, kdb_block_fn fn, void *fn_ctx)
{
    size_t n = 0, max = 2 + db->lsm.table_count;
    struct scan_source *src;

    if (db->remote) return -ENOTSUP;
    lsm_end_brief(&db->lsm); /* reads every record */
    src = env_calloc(&db->env, max, sizeof(*src));
    struct memtable_ref *refs[2] = {NULL, NULL};
    const struct memtable *mts[2] = {db->mem, db->imm};
    bool more = true;
    int rc = src ? 0 : -ENOMEM;

    /* Newest first: on equal ids the first source wins. */
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        if (!mts[i]) continue;
        size_t all = 0;
        rc = memtable_sorted(mts[i], &refs[i], &all, &src[n].count); /* blocks come first */
        src[n++].refs = refs[i];
    }
    for (size_t i = 0; rc == 0 && i < db->lsm.table_count; i++) {
        rc = table_check_all(db->lsm.tables[i], &db->env, false); /* a scan reads every entry */
        src[n].table = db->lsm.tables[i];
        src[n++].count = db->lsm.tables[i]->block_count;
    }
    while (rc == 0 && more)
        rc = scan_step(db, src, n, fn, fn_ctx, &more);
    env_free(&db->env, refs[0]);
    env_free(&db->env, refs[1]);
    env_free(&db->env, src);
    return rc;
}

int kdb_load_begin(struct kdb *db)
{
    if (db->remote) return -EOPNOTSUPP;
    settle_count(db);
    if (db->block_count > 0 || db->graph.edge_count > 0) return -ENOTEMPTY;
    db->loading = true;
    return 0;
}

int kdb_flush_begin(struct kdb *db)
{
    int rc;

    if (db->remote) return 0;
    rc = db->error ? db->error : settle(db, false);
    if (rc == 0 && db->imm) rc = settle(db, true);
    if (rc < 0) return rc;
    if (db->wal.error) return db->wal.error;
    if (memtable_count(db->mem) == 0) return 0;
    return freeze(db);
}

int kdb_flush(struct kdb *db)
{
    int rc;

    if (db->remote) return remote_call(db->remote, REMOTE_FLUSH, NULL);
    rc = kdb_flush_begin(db);
    if (rc == 0 && db->imm) rc = settle(db, true);
    return rc;
}

int kdb_compact(struct kdb *db)
{
    int rc;

    if (db->remote) return remote_call(db->remote, REMOTE_COMPACT, NULL);
    rc = kdb_flush(db);
    if (rc == 0 && lsm_job_done(&db->lsm.compactor, true)) {
        rc = lsm_install_compaction(&db->lsm);
        if (rc < 0) return fail(db, rc);
    }
    if (rc < 0) return rc;
    rc = lsm_compact_all(&db->lsm);
    if (rc < 0) return fail(db, rc);
    if (rc > 0 && lsm_job_done(&db->lsm.compactor, true)) {
        rc = lsm_install_compaction(&db->lsm);
        if (rc < 0) return fail(db, rc);
    }
    return 0;
}

int kdb_check(struct kdb *db, uint64_t *records_out)
{
    uint64_t records = 0;

    if (records_out) *records_out = 0;
    if (db->remote) return remote_check(db->remote, records_out);
    int rc = check_graph_file(db);
    if (rc < 0) return rc;
    for (size_t i = 0; i < db->lsm.table_count; i++) {
        const struct table *t = db->lsm.tables[i];
        rc = table_check_all(t, &db->env, false);
        if (rc < 0) return rc;
        for (uint64_t e = 0; e < t->count; e++) {
            struct table_record r;
            rc = table_read_checked(t, &db->env, e, &r);
            if (rc < 0) return rc;
            records++;
        }
    }
    if (records_out) *records_out = records;
    return 0;
}

int kdb_sync(struct kdb *db)
{
    int rc;

    if (db->remote) return remote_call(db->remote, REMOTE_SYNC, NULL);
    rc = db->error ? db->error : settle(db, false);
    if (rc < 0) return rc;
    return wal_sync(&db->wal);
}

void kdb_get_stats(const struct kdb *db, struct kdb_stats *stats)
{
    const struct lsm_stats *ls = &db->lsm.stats;

    memset(stats, 0, sizeof(*stats));
    /* Through a forwarding handle a failed call leaves the statistics zero:
     * the next call that can fail reports the broken connection. */
    if (db->remote) {
        if (remote_stats(db->remote, stats) < 0) memset(stats, 0, sizeof(*stats));
        return;
    }
    stats->block_count = settled_count(db);
    stats->last_sequence = db->wal.next_sequence - 1;
    stats->durable_sequence = db->wal.durable_sequence;
    stats->memtable_bytes = memtable_bytes(db->mem) + (db->imm ? memtable_bytes(db->imm) : 0);
    stats->wal_bytes = wal_bytes(&db->wal);
    stats->wal_segment_count = db->wal.segment_count;
    stats->sync_count = db->wal.sync_count;
    stats->recovered_records = db->wal.replayed_records;
    stats->recovered_bytes = db->wal.replayed_bytes;
    stats->recovery_ns = db->recovery_ns;
    stats->table_count = db->lsm.table_count;
    stats->table_bytes = lsm_table_bytes(&db->lsm);
    stats->flush_count = ls->flush_count;
    stats->flush_bytes = ls->flush_bytes;
    stats->compaction_count = ls->compaction_count;
    stats->compaction_bytes_read = ls->compaction_bytes_read;
    stats->compaction_bytes_written = ls->compaction_bytes_written;
    stats->stall_count = db->stall_count;
    stats->stall_ns = db->stall_ns;
    stats->edge_count = db->graph.edge_count;
    stats->graph_bytes = graph_bytes(&db->graph);
}

/* ---- what other modules may see (db.h) ---- */

bool kdb_is_remote(const struct kdb *db)
{
    return db->remote != NULL;
}

const char *db_directory(const struct kdb *db)
{
    return db->path;
}

const struct env *db_env(const struct kdb *db)
{
    return &db->env;
}
