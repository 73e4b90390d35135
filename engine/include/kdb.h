/* SPDX-License-Identifier: MIT */
/*
 * kdb.h: the public interface of libkausal, the KausalDB storage engine.
 *
 * A database is a directory. It holds blocks: a 16-byte id, a version that
 * grows on every change, a source URI, JSON metadata and content bytes. Every
 * change is appended to a write-ahead log before it becomes visible, lives in
 * an in-memory table, and is made durable by kdb_sync() (group commit: one
 * fdatasync covers every change appended since the previous one). A full
 * memtable is written out as an SSTable, and tables are merged in the
 * background (an LSM tree). Opening a database replays what of its log is
 * not in tables yet; see engine/FORMAT.md for the bytes on disk.
 *
 * Conventions:
 * - Fallible functions return 0 or a negative errno and are KDB_MUST_USE.
 *   On failure out-parameters are zeroed, never half-built.
 * - Pointer parameters are borrowed for the duration of the call unless the
 *   comment says otherwise.
 * - A handle is used by one thread at a time (the core). Each open handle
 *   runs up to three helper threads of its own, each started when first
 *   needed: one writes the log while the core goes on (they meet only at a
 *   buffer handoff), one flushes memtables, one compacts tables; their
 *   results reach the core only inside a call that changes or syncs the
 *   database. Two handles on two databases in one process are independent.
 * - All file I/O goes through struct kdb_vfs, so tests can run the engine
 *   on memory and inject faults.
 */
#ifndef KDB_ENGINE_INCLUDE_KDB_H
#define KDB_ENGINE_INCLUDE_KDB_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KDB_MUST_USE __attribute__((warn_unused_result))

/* Error codes beyond the usual errno meanings, named as Linux filesystems do. */
#define KDB_ECHECKSUM EBADMSG /* a checksum did not match: the bytes are damaged */
#define KDB_ECORRUPT  EUCLEAN /* the structure is inconsistent: the database is corrupt */

/* Ids: 16 bytes, shown as 32 lowercase hex digits. */
#define KDB_ID_SIZE     16
#define KDB_ID_HEX_SIZE 32

/* Compile-time maxima; struct kdb_options sets the limits in force below them. */
#define KDB_CONTENT_SIZE_LIMIT    (256u << 20) /* bytes of one block's content */
#define KDB_SOURCE_URI_SIZE_LIMIT 4096u        /* bytes of a source URI */
#define KDB_METADATA_SIZE_LIMIT   (1u << 20)   /* bytes of one block's metadata */
#define KDB_METADATA_DEPTH_LIMIT  64u          /* nesting of JSON arrays and objects */

/* Defaults filled in by kdb_options_init(). */
#define KDB_CONTENT_SIZE_DEFAULT     (16u << 20)
#define KDB_METADATA_SIZE_DEFAULT    (64u << 10)
#define KDB_WAL_SEGMENT_SIZE_DEFAULT (64u << 20)
#define KDB_WAL_BUFFER_SIZE_DEFAULT  (256u << 10)
#define KDB_ARENA_CHUNK_SIZE_DEFAULT (4u << 20)
#define KDB_MEMTABLE_SIZE_DEFAULT    (64u << 20)

struct kdb;

struct kdb_id {
    uint8_t bytes[KDB_ID_SIZE];
};

/*
 * A block. As input to kdb_put_block() only id, source_uri, metadata and
 * content are read; version and mtime_ns are assigned by the engine. As
 * output the pointers point into engine memory (see each getter for how
 * long). Text fields are not NUL-terminated: use the lengths.
 */
struct kdb_block {
    struct kdb_id id;
    uint64_t version;       /* the log sequence number of the last change: grows on every change */
    uint64_t mtime_ns;      /* wall-clock time of the last change, ns since the epoch */
    const char *source_uri; /* no NUL bytes; at most options.source_uri_size_max */
    size_t source_uri_len;
    const char *metadata; /* a JSON object; empty input is stored as "{}" */
    size_t metadata_len;
    const void *content; /* at most options.content_size_max bytes */
    size_t content_len;
};

/* ---- VFS: every byte of I/O the engine does ---- */

enum kdb_vfs_open_flags {
    KDB_VFS_OPEN_READ = 1 << 0,
    KDB_VFS_OPEN_WRITE = 1 << 1,    /* read and write */
    KDB_VFS_OPEN_CREATE = 1 << 2,   /* create if missing, mode 0600 */
    KDB_VFS_OPEN_EXCL = 1 << 3,     /* with CREATE: fail with -EEXIST if present */
    KDB_VFS_OPEN_TRUNCATE = 1 << 4, /* empty the file */
    /* Write around the page cache where the file system allows it. The
     * engine then writes only KDB_VFS_DIRECT_ALIGN-aligned lengths at aligned
     * offsets from aligned memory; a VFS is free to ignore the flag. */
    KDB_VFS_OPEN_DIRECT = 1 << 5
};

#define KDB_VFS_DIRECT_ALIGN 4096

/* Called once per directory entry (not "." or ".."); nonzero stops and is returned. */
typedef int (*kdb_vfs_list_fn)(void *fn_ctx, const char *name);

/*
 * Every operation returns 0 or a negative errno. pread and pwrite loop over
 * short transfers themselves; pread stops early only at end of file and says
 * how much it read. fsync makes a file's data and size durable (fdatasync);
 * sync_dir makes the names in a directory durable. lock takes an exclusive
 * advisory lock on an open file for as long as it stays open and returns
 * -EBUSY if another holder has it; on success it records the holder (the
 * POSIX VFS writes its process id into the file). writeback asks for a
 * written range to start going to disk without waiting for it (a hint: it
 * promises no durability, and may do nothing), so that a later fsync has
 * little left to wait for. map makes the first size bytes of an open file
 * readable at *addr_out until unmap, even after the file is closed or
 * unlinked; the engine maps the log segments it replays and its tables,
 * and never writes through a mapping or touches it past the end of the
 * file. writeback is also asked of tables as they are written. now_ns is
 * wall-clock time. release, which may be NULL, says that the engine will
 * not read [addr, addr + size) of a mapping again soon (a compaction past
 * it): a hint, so that the pages it read do not stay in the process's
 * memory; a later read of the range must still see the file.
 */
struct kdb_vfs {
    void *ctx;
    int (*open)(void *ctx, const char *path, unsigned flags, int *fd_out);
    int (*close)(void *ctx, int fd);
    int (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t offset, size_t *read_out);
    int (*pwrite)(void *ctx, int fd, const void *buf, size_t len, uint64_t offset);
    int (*fsync)(void *ctx, int fd);
    int (*writeback)(void *ctx, int fd, uint64_t offset, uint64_t len);
    int (*truncate)(void *ctx, int fd, uint64_t size);
    int (*file_size)(void *ctx, int fd, uint64_t *size_out);
    int (*map)(void *ctx, int fd, uint64_t size, const void **addr_out);
    int (*unmap)(void *ctx, const void *addr, uint64_t size);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*mkdir)(void *ctx, const char *path);
    int (*sync_dir)(void *ctx, const char *path);
    int (*list_dir)(void *ctx, const char *path, kdb_vfs_list_fn fn, void *fn_ctx);
    int (*lock)(void *ctx, int fd);
    uint64_t (*now_ns)(void *ctx);
    int (*random)(void *ctx, void *buf, size_t len);
    void (*release)(void *ctx, const void *addr, uint64_t size);
};

/* The VFS over the real file system. Never NULL; the table is static. */
const struct kdb_vfs *kdb_vfs_posix(void);

/*
 * The same, but files are mapped with small pages only. kdb_vfs_posix()
 * maps large files so that the kernel may map each 2 MiB of the page cache
 * with one entry, which spares random reads TLB misses, but then each read
 * of a table makes 2 MiB of it resident in the process. A process that
 * writes in bulk and only probes its tables (an ingest) keeps its memory
 * down with this one.
 */
const struct kdb_vfs *kdb_vfs_posix_small_pages(void);

/* ---- Options ---- */

/*
 * Allocation for everything the engine keeps on the heap; malloc, calloc
 * and realloc may return NULL. calloc may be NULL: the engine then zeroes
 * what malloc returns. prepare, which may be NULL, readies memory that
 * malloc returned for use soon (the default faults its pages in); the
 * engine calls it from its helper thread, never on memory in use.
 */
struct kdb_allocator {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t count, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);
    void (*prepare)(void *ctx, void *ptr, size_t size);
};

enum kdb_log_level {
    KDB_LOG_ERROR = 1,
    KDB_LOG_WARNING = 2,
    KDB_LOG_INFO = 3, /* each flush, compaction and write stall, with its size and time;
                         files an interrupted job left behind, removed at open */
};

/* Receives the engine's diagnostics; the engine never prints. */
typedef void (*kdb_log_fn)(void *log_ctx, enum kdb_log_level level, const char *file, int line,
                           const char *message);

enum kdb_open_flags {
    KDB_OPEN_CREATE = 1 << 0, /* create the directory (mode 0700) and an empty database */
    /* Flush and compact on the calling thread, inside the change that calls
     * for it, instead of on the two helper threads: changes then wait for
     * that work, but the I/O comes in the same order on every run. */
    KDB_OPEN_FOREGROUND = 1 << 1,
    /* kdb_close() leaves the memtable's changes in the log instead of
     * writing them out as a table: a faster close; the next open replays them.
     * Once the log holds more than 4 MiB or 16 segments, a close writes
     * the table all the same, so that an open never replays much. */
    KDB_OPEN_KEEP_LOG = 1 << 2,
    /* Open the files or fail: never forward to a daemon that holds the
     * database (see kdb_serve()). */
    KDB_OPEN_LOCAL = 1 << 3,
    /* A bulk load: after each flush, the pages of the tables' indexes and
     * filters are given back (the VFS's release). Each new block's put asks
     * every table whether the id is there, and its filter's false hits read
     * index pages: over millions of puts, most of every index. */
    KDB_OPEN_BULK = 1 << 4,
    /* A handle for a few reads, then a close (a command-line query): the
     * tables' indexes, filters and records and the graph file's nodes are
     * read with pread(2) into a few buffers that are reused, instead of
     * through their mappings, each page and record checked as it is read.
     * A page fault costs more than a read of a page where the handle
     * touches a few dozen pages once each; a handle that reads much is
     * faster without. The pointers of a view (kdb_get_block_view()) are
     * then valid only until the next read of the database as well (a
     * batch, kdb_get_blocks(), is copied into its result). Its replay of
     * the log leaves the block count's lookups of the blocks it puts to
     * the first kdb_get_stats() or flush. An open that replays more than a
     * few hundred changes of log, and the handle's first compaction or
     * scan, go back to the mappings: they read much. */
    KDB_OPEN_BRIEF = 1 << 5,
};

struct kdb_options {
    unsigned flags;                        /* enum kdb_open_flags */
    const struct kdb_vfs *vfs;             /* NULL: kdb_vfs_posix(); borrowed until kdb_close() */
    const struct kdb_allocator *allocator; /* NULL: malloc(3); borrowed until kdb_close() */
    kdb_log_fn log;                        /* NULL: diagnostics are dropped */
    void *log_ctx;                         /* passed to log */
    uint64_t content_size_max;             /* bytes, 1..KDB_CONTENT_SIZE_LIMIT */
    uint32_t source_uri_size_max;          /* bytes, 0..KDB_SOURCE_URI_SIZE_LIMIT */
    uint32_t metadata_size_max;            /* bytes, 2..KDB_METADATA_SIZE_LIMIT */
    uint64_t wal_segment_size_bytes;       /* a segment rotates once it passes this size */
    uint32_t wal_buffer_size_bytes;        /* appends gather here before one pwrite */
    uint32_t arena_chunk_size_bytes;       /* memtable memory is taken in chunks of this size */
    uint64_t memtable_size_bytes;          /* a memtable is flushed to a table once its records
                                              pass this; up to twice this is held in memory */
};

/* Fills every field with its default. */
void kdb_options_init(struct kdb_options *options);

/* ---- Opening and closing ---- */

/*
 * Opens the database in directory path, replaying its write-ahead log.
 * options may be NULL for the defaults. On success *out is a handle to
 * release with kdb_close().
 *
 * When another process holds the database and serves it (kdb_serve(),
 * as kausalfs does while it is mounted), the handle forwards every call
 * to that process over its socket instead, unless KDB_OPEN_LOCAL is
 * given: calls then answer as they would locally, and each can also
 * fail with -ECONNRESET (the server went away) or -EPROTO. Options other
 * than the flags are the server's. kdb_scan_blocks() through a forwarding
 * handle returns -ENOTSUP.
 *
 * Returns -ENOENT (no database there and KDB_OPEN_CREATE not given), -EBUSY
 * (another handle or process holds it; the holder's process id is logged),
 * -EINVAL (an option out of range), -EUCLEAN (the log is corrupt), -EBADMSG,
 * -ENOTSUP (written by a newer format version), -ENOMEM, or an I/O error.
 */
KDB_MUST_USE int kdb_open(const char *path, const struct kdb_options *options, struct kdb **out);

/*
 * Writes the memtable out as a table (kdb_flush()), so that the next open
 * replays nothing (unless KDB_OPEN_KEEP_LOG), makes every change durable, releases the lock and frees
 * the handle, even when that fails; returns the failure. A compaction in
 * progress is abandoned (its inputs stay). db may be NULL.
 */
int kdb_close(struct kdb *db);

/* ---- Blocks ---- */

/*
 * Creates or replaces block->id. The new version goes to *version_out when
 * it is not NULL. The change is visible at once and durable after kdb_sync().
 *
 * Returns -EINVAL (metadata is not a JSON object, source_uri holds a NUL
 * byte, a NULL pointer with a nonzero length), -EFBIG (a field over its
 * limit), -ENOMEM, or the I/O error that stopped the log; after an I/O
 * error every later change returns it too, until the database is reopened.
 */
KDB_MUST_USE int kdb_put_block(struct kdb *db, const struct kdb_block *block,
                               uint64_t *version_out);

/*
 * Deletes a block and every edge from or to it, in one change. Returns
 * -ENOENT if there is none, or an error as for kdb_put_block().
 */
KDB_MUST_USE int kdb_delete_block(struct kdb *db, const struct kdb_id *id);

/*
 * Fills *view with the block, without copying: its pointers stay valid
 * until the next put, delete, sync, flush or compaction, or kdb_close().
 * Returns -ENOENT, or -EBADMSG / -EUCLEAN when the block's bytes in a table
 * are damaged (the damage is logged and never served).
 */
KDB_MUST_USE int kdb_get_block_view(struct kdb *db, const struct kdb_id *id,
                                    struct kdb_block *view);

/*
 * Copies up to size bytes of the block's content from offset into buf, and
 * the number copied into *read_out (0 at or past the end). Returns -ENOENT,
 * or an error as for kdb_get_block_view().
 */
KDB_MUST_USE int kdb_read_block(struct kdb *db, const struct kdb_id *id, uint64_t offset, void *buf,
                                size_t size, size_t *read_out);

/* Called once per live block; a nonzero return stops the scan and is returned. */
typedef int (*kdb_block_fn)(void *fn_ctx, const struct kdb_block *block);

/*
 * Calls fn for every live block, in id order (bytes compared as memcmp
 * does). The block's pointers are valid during the call only; fn must not
 * change the database. Returns fn's nonzero return, -ENOMEM, or a read
 * error as for kdb_get_block_view().
 */
KDB_MUST_USE int kdb_scan_blocks(struct kdb *db, kdb_block_fn fn, void *fn_ctx);

/*
 * The durability point: every change made before the call survives a crash
 * once it returns 0. One fdatasync serves every change since the last one;
 * with nothing new it does no I/O. Returns an I/O error, after which every
 * later change fails until the database is reopened.
 */
KDB_MUST_USE int kdb_sync(struct kdb *db);

/*
 * Writes the memtable out as an SSTable now and waits for it: every change
 * so far is then durable in a table, and the log before it is deleted.
 * Returns an I/O error (sticky, as for kdb_sync()).
 */
KDB_MUST_USE int kdb_flush(struct kdb *db);

/*
 * Starts a load into a database that holds no block: from now until
 * kdb_close(), edges are logged and stored but not indexed, so that the
 * edge index is not in memory beside the loader's own data. kdb_put_edge()
 * then checks an edge's type only: the caller has stored both ends, or
 * will before the close, else the index is built with an edge to a block
 * that is not there; and an edge put twice is stored twice (one edge in
 * the index). What reads the index or needs it answers -EBUSY:
 * kdb_edges(), kdb_traverse(), kdb_path(), kdb_delete_edge() and
 * kdb_delete_block(); kdb_get_stats() counts no edges. kdb_close() writes
 * the memtable out as a table, builds the index from the tables, a table
 * at a time, and saves it as the graph file. If the process dies first,
 * the next open builds it from the tables and the log: nothing logged is
 * lost. Returns 0, -ENOTEMPTY (the database holds a block) or -EOPNOTSUPP
 * (a forwarding handle).
 */
KDB_MUST_USE int kdb_load_begin(struct kdb *db);

/*
 * Starts writing the memtable out as an SSTable and returns without waiting,
 * so that a writer with a large batch behind it (an ingest) overlaps the
 * table's writing with its next work. Changes after the call go to a new
 * memtable; the next kdb_flush(), kdb_close() or full memtable waits for the
 * table. Waits only for a flush already running. Through a forwarding handle
 * it does nothing: the server flushes on its own schedule. Returns as
 * kdb_flush().
 */
KDB_MUST_USE int kdb_flush_begin(struct kdb *db);

/*
 * kdb_flush(), then merges every table into one and waits: shadowed
 * versions and tombstones are gone from the disk. Takes time and disk
 * space in proportion to the database. Returns an I/O error (sticky).
 */
KDB_MUST_USE int kdb_compact(struct kdb *db);

/* ---- Edges ---- */

/* What an edge says of its source and target; stored as this number. */
enum kdb_edge_type {
    KDB_EDGE_IMPORTS = 1,
    KDB_EDGE_DEFINED_IN = 2,
    KDB_EDGE_REFERENCES = 3,
    KDB_EDGE_CONTAINS = 4,
    KDB_EDGE_EXTENDS = 5,
    KDB_EDGE_IMPLEMENTS = 6,
    KDB_EDGE_CALLS = 7,
    KDB_EDGE_DEPENDS_ON = 8,
    KDB_EDGE_METHOD_OF = 9,
    KDB_EDGE_CALLS_METHOD = 10,
    KDB_EDGE_CALLS_FUNCTION = 11,
};
#define KDB_EDGE_TYPE_MAX 11

/* Which way a query follows edges: from source to target, back, or both. */
enum kdb_direction { KDB_DIRECTION_OUT = 1, KDB_DIRECTION_IN = 2, KDB_DIRECTION_BOTH = 3 };

/* An edge: a member of a set, (source, type, target). */
struct kdb_edge {
    struct kdb_id source;
    struct kdb_id target;
    unsigned type; /* enum kdb_edge_type */
};

/*
 * Adds an edge. Both ends must be live blocks. Adding an edge that is there
 * already changes nothing (no new log record) and returns 0. Visible at
 * once both ways (in the target's incoming edges too), durable after
 * kdb_sync(). Returns -EINVAL (not a type), -ENOENT (an end is missing),
 * or an error as for kdb_put_block().
 */
KDB_MUST_USE int kdb_put_edge(struct kdb *db, const struct kdb_edge *edge);

/* Removes an edge. Returns -ENOENT if it is not there, or an error as for kdb_put_edge(). */
KDB_MUST_USE int kdb_delete_edge(struct kdb *db, const struct kdb_edge *edge);

/* ---- Queries ---- */

#define KDB_NONE UINT32_MAX

/* A block a traversal or path reached. */
struct kdb_node {
    struct kdb_id id;
    uint32_t depth;  /* edges from the start; 0 for the start */
    uint32_t parent; /* index in nodes of the node it was reached from; KDB_NONE for the start */
    unsigned type;   /* the type of the edge it was reached by; 0 for the start */
    bool reversed;   /* reached from that edge's target (following it backwards) */
};

/*
 * Where a query's answer goes. Made once with kdb_result_new() and reused:
 * each query replaces what the previous one left, in one buffer the result
 * keeps and only grows, so a query allocates nothing once the result has
 * grown to its size; kdb_result_free() releases it in constant time. The fields are read-only; what they
 * point at is valid until the next query into this result, or
 * kdb_result_free(); block views also only until the next change.
 */
struct kdb_result {
    size_t count;                   /* items of the one array the last query filled */
    const struct kdb_edge *edges;   /* kdb_edges() */
    const struct kdb_node *nodes;   /* kdb_traverse(), kdb_path() */
    const struct kdb_block *blocks; /* kdb_get_blocks() */
};

/* A new, empty result. Returns -ENOMEM. */
KDB_MUST_USE int kdb_result_new(struct kdb *db, struct kdb_result **out);

/* Frees a result and everything its queries returned; r may be NULL. */
void kdb_result_free(struct kdb_result *r);

/*
 * Lists id's edges: out-edges (id is the source), in-edges (id is the
 * target) or both (out first), of the types in type_mask (bit t for type t,
 * 1u << KDB_EDGE_CALLS; 0 for every type), in the order they were added,
 * into r->edges. Takes time in proportion to the edges of id. Returns
 * -ENOENT (no such block), -EINVAL (a bad direction or mask) or -ENOMEM.
 */
KDB_MUST_USE int kdb_edges(struct kdb *db, const struct kdb_id *id, unsigned direction,
                           uint32_t type_mask, struct kdb_result *r);

/* How a traversal or path search follows edges. */
struct kdb_walk {
    unsigned direction; /* enum kdb_direction */
    uint32_t type_mask; /* as for kdb_edges(); 0: every type */
    uint32_t max_depth; /* edges from the start at most; KDB_NONE: no limit */
    size_t limit;       /* nodes in the answer at most, the start included; 0: no limit */
};

/*
 * Breadth-first from start: r->nodes gets start, then every block reached
 * within walk's bounds, each once (cycles are followed once), nearer ones
 * first, each with the edge it was first reached by. Returns -ENOENT (no
 * such block), -EINVAL or -ENOMEM.
 */
KDB_MUST_USE int kdb_traverse(struct kdb *db, const struct kdb_id *start,
                              const struct kdb_walk *walk, struct kdb_result *r);

/*
 * A shortest path from one block to another, following edges as walk says
 * (its limit is ignored): r->nodes holds it, from first, each node's
 * parent the one before it. Returns 0 with r->count 0 when there is none,
 * -ENOENT (no such block), -EINVAL or -ENOMEM.
 */
KDB_MUST_USE int kdb_path(struct kdb *db, const struct kdb_id *from, const struct kdb_id *to,
                          const struct kdb_walk *walk, struct kdb_result *r);

/*
 * Views of n blocks, in the order of ids, into r->blocks (r->count = n),
 * without copying their bytes (but a brief handle's, read as it reads one
 * block, through buffers that its next read reuses, copied into r): a
 * missing id's view has version 0 and no fields. Returns a read error as
 * kdb_get_block_view() does, or -ENOMEM.
 */
KDB_MUST_USE int kdb_get_blocks(struct kdb *db, const struct kdb_id *ids, size_t n,
                                struct kdb_result *r);

/*
 * As kdb_get_blocks(), for a listing that needs names, not contents: each
 * view's content is NULL, and content_len still says how long it is. A
 * brief handle copies less, and a daemon sends less.
 */
KDB_MUST_USE int kdb_get_block_heads(struct kdb *db, const struct kdb_id *ids, size_t n,
                                     struct kdb_result *r);

/* The type's name ("calls", "defined_in", ...), or NULL if type is not one. */
const char *kdb_edge_type_name(unsigned type);

/* Parses a type's name (exactly, case-sensitive). Returns -EINVAL for none. */
KDB_MUST_USE int kdb_edge_type_from_name(const char *name, size_t len, unsigned *type);

/*
 * Reads every record of every table and checks its checksum, shadowed
 * versions included (a table's structure, index and filters were checked
 * when it was opened, and the log when it was replayed). *records_out, if
 * not NULL, gets the records checked. Returns 0, or -EBADMSG / -EUCLEAN at
 * the first damage (logged with the file's name), never repairing it.
 */
KDB_MUST_USE int kdb_check(struct kdb *db, uint64_t *records_out);

/* ---- Metadata, ids, errors, statistics ---- */

/*
 * Returns 0 if json[0..len) is one JSON object (RFC 8259, UTF-8, nesting at
 * most KDB_METADATA_DEPTH_LIMIT), -EINVAL otherwise. Allocates nothing.
 */
KDB_MUST_USE int kdb_validate_metadata(const char *json, size_t len);

/* Writes 32 lowercase hex digits and a NUL into hex (KDB_ID_HEX_SIZE + 1 bytes). */
void kdb_id_to_hex(const struct kdb_id *id, char *hex);

/*
 * The id of a symbol of source code: XXH3-128 of source_uri, kind and name
 * joined by NUL bytes (canonical big-endian bytes), so that putting the
 * same symbol again replaces it. What the ingester gives its blocks.
 */
void kdb_id_for_symbol(const char *source_uri, size_t uri_len, const char *kind, size_t kind_len,
                       const char *name, size_t name_len, struct kdb_id *id);

/* Parses exactly 32 hex digits (either case). Returns -EINVAL otherwise. */
KDB_MUST_USE int kdb_id_from_hex(const char *hex, size_t len, struct kdb_id *id);

/* A sentence for rc (0 or a negative errno); never NULL, static storage. */
const char *kdb_strerror(int rc);

struct kdb_stats {
    uint64_t block_count;       /* live blocks */
    uint64_t last_sequence;     /* sequence number of the newest change; 0 for none */
    uint64_t durable_sequence;  /* every change up to this one is durable */
    uint64_t memtable_bytes;    /* memory of the memtables (with one being flushed) */
    uint64_t wal_bytes;         /* bytes in log segments on disk, written or buffered */
    uint64_t wal_segment_count; /* log segment files */
    uint64_t sync_count;        /* fdatasync calls on the log since open */
    uint64_t recovered_records; /* log records replayed by kdb_open() */
    uint64_t recovered_bytes;   /* log bytes read by kdb_open() */
    uint64_t recovery_ns;       /* wall time kdb_open() spent opening and replaying */
    uint64_t table_count;       /* SSTables */
    uint64_t table_bytes;       /* bytes of SSTable files */
    uint64_t flush_count;       /* memtables written out as tables since open */
    uint64_t flush_bytes;       /* bytes they wrote */
    uint64_t compaction_count;  /* compactions since open */
    uint64_t compaction_bytes_read;
    uint64_t compaction_bytes_written;
    uint64_t stall_count; /* changes that waited for a flush to finish */
    uint64_t stall_ns;    /* total time they waited */
    uint64_t edge_count;  /* live edges */
    uint64_t graph_bytes; /* memory of the edge index */
};

/* Fills *stats; cannot fail. */
void kdb_get_stats(const struct kdb *db, struct kdb_stats *stats);

/* ---- Serving a database to other processes ---- */

/* A change a client of kdb_serve() asks for, told before it is made. */
enum kdb_change_kind {
    KDB_CHANGE_PUT_BLOCK = 1,
    KDB_CHANGE_DELETE_BLOCK = 2,
    KDB_CHANGE_PUT_EDGE = 3,
    KDB_CHANGE_DELETE_EDGE = 4,
};

struct kdb_change {
    unsigned kind;        /* enum kdb_change_kind */
    struct kdb_id id;     /* the block, for a block change */
    struct kdb_edge edge; /* the edge, for an edge change */
};

/*
 * How kdb_serve() shares a handle with the rest of its process: it calls
 * lock before it uses the handle for a request and unlock after, so the
 * handle is used by one thread at a time; will_change (under the lock)
 * before each change a request makes; settle (after unlock) before it
 * answers, so that what the change calls for elsewhere is done by the
 * time the client hears of it. Any of them may be NULL.
 */
struct kdb_serve_hooks {
    void *ctx;
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
    void (*will_change)(void *ctx, const struct kdb_change *change);
    void (*settle)(void *ctx);
};

/*
 * Serves db to other processes that open it (see kdb_open()) through a
 * Unix socket in its directory (see FORMAT.md), until stop_fd is readable;
 * then closes the socket, removes its name and returns 0. Clients of
 * another user than the server's (root excepted) are turned away. One
 * request at a time, several clients. Runs on the calling thread. Returns
 * -EADDRINUSE (another server has the name), -ENOMEM or a socket error.
 */
KDB_MUST_USE int kdb_serve(struct kdb *db, const struct kdb_serve_hooks *hooks, int stop_fd);

/* Whether the handle forwards to a server (see kdb_open()). */
bool kdb_is_remote(const struct kdb *db);

#endif /* KDB_ENGINE_INCLUDE_KDB_H */
