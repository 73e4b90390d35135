/* SPDX-License-Identifier: MIT */
/*
 * ingest.h: what cmd_ingest.c (reading, resolving, linking) and
 * ingest_state.c (what the last ingest saw of each file) share.
 */
#ifndef KDB_TOOLS_INGEST_H
#define KDB_TOOLS_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "kdb.h"

/* The edge types ingest owns on its blocks: it adds and removes them to match the tree. */
#define INGEST_TYPES                                                                               \
    ((UINT32_C(1) << KDB_EDGE_CALLS) | (UINT32_C(1) << KDB_EDGE_IMPORTS) |                         \
     (UINT32_C(1) << KDB_EDGE_CONTAINS) | (UINT32_C(1) << KDB_EDGE_DEFINED_IN) |                   \
     (UINT32_C(1) << KDB_EDGE_REFERENCES))

/* A name's length at most: the ingest state writes it in two bytes. */
#define INGEST_NAME_MAX UINT16_MAX

/*
 * A symbol; its id is a function of its file's path, its kind and its name
 * (ingest_sym_id()). 20 bytes: a tree like Linux has six million.
 */
struct sym {
    uint32_t file; /* index in files */
    uint32_t name; /* offset in names */
    uint32_t next; /* the next symbol of the same name (hash chain), or NONE */
    uint32_t line_start;
    uint16_t name_len;
    uint8_t kind; /* enum c_kind */
    bool is_static;
};

struct ref {
    uint32_t from; /* index in syms */
    uint32_t name; /* offset in names */
    uint16_t name_len;
    uint8_t kind; /* enum c_ref_kind */
    uint8_t type; /* for C_REF_TYPE */
};

struct inc {
    uint32_t file;
    uint32_t path; /* offset in names */
    uint32_t len;
};

/* What stat(2) said of a file when it was listed: unchanged, it is not read again. */
struct file_stamp {
    uint64_t size;
    uint64_t mtime_ns;
    uint64_t ctime_ns;
    uint64_t ino;
};

struct file {
    char *path; /* relative to its tree: the source URI */
    char *dir;  /* path's directory, "" at the top */
    uint32_t tree;
    bool header;        /* a .h file */
    uint32_t first_sym; /* its symbols: syms[first_sym .. first_sym + sym_count) */
    uint32_t sym_count;
    uint32_t first_ref; /* its symbols' refs: refs[first_ref .. first_ref + ref_count) */
    uint32_t ref_count;
    uint32_t first_inc; /* its includes: incs[first_inc .. first_inc + inc_count) */
    uint32_t inc_count;
    struct kdb_id id;
    struct file_stamp stamp;
    uint32_t line_count;
    bool had_errors;
    /* Its records in the last ingest's state (ingest_state.c), or NULL: the
     * state record (stamp and symbols), and the refs record once read. */
    const uint8_t *old;
    size_t old_len;
    const uint8_t *old_refs;
    size_t old_refs_len;
    bool fresh; /* unchanged since: taken from old, not read */
};

struct interned {
    uint32_t off; /* in names; UINT32_MAX: an empty slot */
    uint32_t len;
};

struct tree {
    char *root; /* the directory, absolute */
    struct kdb_id id;
    unsigned name_shards; /* of its name index (names.h), once the index is written */
};

#define NONE UINT32_MAX

struct ingest {
    struct cli *cli;
    struct tree *trees;
    size_t tree_count;
    struct file *files;
    size_t file_count, file_capacity;
    struct sym *syms;
    size_t sym_count, sym_capacity;
    struct ref *refs;
    size_t ref_count, ref_capacity;
    struct inc *incs;
    size_t inc_count, inc_capacity;
    char *names; /* every name kept, once each (keep_name()) */
    size_t names_len, names_capacity;
    struct interned *intern; /* hash table of names */
    size_t intern_mask, intern_count;
    bool names_closed; /* every name is kept: intern is freed, and heads is built */
    uint32_t *heads;   /* hash table of kept names' offsets: first symbol of each chain, or NONE */
    size_t head_mask;
    /* Files by path and by base name (for #include), built once the list is sorted. */
    uint32_t *path_slots; /* file index + 1, 0 for empty */
    uint32_t *base_slots; /* the first file of each base name, + 1 */
    uint32_t *base_next;  /* the next file of the same base name, or NONE */
    size_t path_mask;
    struct kdb_result *r;
    /* what happened */
    uint64_t blocks_written, blocks_same, blocks_deleted;
    uint64_t edges_added, edges_removed, edges_total;
    uint64_t bytes, errors_parse;
    uint64_t
        too_large; /* files and symbols over the content limit: stored without content, or skipped */
    uint64_t start_ns;
    uint64_t start_wall_ns; /* CLOCK_REALTIME, as file times are */
    bool progress;
    bool full; /* --full: read every file, whatever the state says */
    /* The database held no block when the ingest began: nothing to compare with, and a load
     * (kdb_load_begin()), whose edge index is built at the close. */
    bool empty_db;
    /* The last ingest's state, kept while its records are read (ingest_state.c). */
    uint8_t **state_texts;
    size_t state_text_count;
    uint8_t *refs_loaded;  /* a flag per tree and shard: its refs shard was read */
    uint64_t files_gone;   /* files the state lists that the tree no longer has */
    uint64_t state_blocks; /* shards of the state written (or found unchanged) */
    uint64_t index_blocks; /* of the index: trees, name shards, file lists, the registry */
    uint64_t files_read;
};

/* Grows *items (of size bytes each) to hold count + 1: 0 or -ENOMEM. */
int ingest_grow(void **items, size_t *capacity, size_t count, size_t size);

/* Makes room for symbols more symbols, and about as many names of name_bytes bytes in all. */
int ingest_reserve(struct ingest *in, size_t symbols, size_t name_bytes);

/*
 * Keeps a name (once: the same name gets the same offset); its offset into
 * *off. -EINVAL once linking has begun (names_closed): -ENOMEM, -EFBIG.
 */
int ingest_keep_name(struct ingest *in, const char *name, size_t len, uint32_t *off);

/* Whether a name is kept already; its offset into *off. Not once names_closed. */
bool ingest_find_name(const struct ingest *in, const char *name, size_t len, uint32_t *off);

/* Symbol sym's block id. */
void ingest_sym_id(const struct ingest *in, uint32_t sym, struct kdb_id *id);

/* FNV-1a of a name: for the hash tables of names, and to pick a shard. */
uint64_t ingest_name_hash(const char *s, size_t len);

/* Stores a block of ingest's own (metadata kind and name, no source URI), unless unchanged. */
int ingest_store_index(struct ingest *in, const struct kdb_id *id, const char *kind,
                       const char *name, const char *content, size_t len);

/* ---- ingest_state.c ---- */

/*
 * Reads tree t's state and gives each of its files (sorted by path) its
 * old record, and fresh = its stamp is the one recorded (and not too
 * recent to trust). Counts in->files_gone. Returns 0 or -ENOMEM; a damaged
 * state counts as none.
 */
int ingest_state_load(struct ingest *in, uint32_t t);

/* Puts fresh file index's symbols as its record holds them (its refs wait: see below). */
int ingest_state_restore(struct ingest *in, uint32_t index);

/* Puts fresh file index's refs and includes, when every file's edges are to be made again. */
int ingest_state_restore_refs(struct ingest *in, uint32_t index);

/* Whether file index's old record holds its symbols (not a digest of them alone). */
bool ingest_state_symbols_known(const struct ingest *in, uint32_t index);

/*
 * Whether file index defines the symbols its old record does (names, kinds,
 * static), and, with lines, at the same lines.
 */
bool ingest_state_same_symbols(const struct ingest *in, uint32_t index, bool lines);

/* A kept name: its offset in in->names and its length. */
struct name_span {
    uint32_t off;
    uint32_t len;
};

/* Orders name spans by offset (the order ingest_state_refers() takes them in). */
int ingest_span_order(const void *a, const void *b);

/*
 * Adds to names[0..count) (grown as ingest_grow() does) the names that
 * file index defines now and its old record did not, or the other way
 * round (as name, kind and static).
 */
int ingest_state_changed_names(struct ingest *in, uint32_t index, struct name_span **names,
                               size_t *count, size_t *capacity);

/*
 * Whether fresh file index has a ref of one of names[0..count) (sorted by
 * offset), into *hit: its state's bloom filter first, its refs record only
 * if that cannot say no. Returns 0, -ENOMEM or -EUCLEAN (no refs record).
 */
int ingest_state_refers(struct ingest *in, uint32_t index, const struct name_span *names,
                        size_t count, bool *hit);

/* Calls fn with the name of each symbol file index's old record holds. */
void ingest_state_symbol_names(const struct ingest *in, uint32_t index,
                               void (*fn)(void *ctx, const char *name, uint32_t len), void *ctx);

/* Writes tree t's state: every file's record (only the shards that changed are written). */
int ingest_state_write(struct ingest *in, uint32_t t);

/* Frees what ingest_state_load() kept. */
void ingest_state_release(struct ingest *in);

#endif /* KDB_TOOLS_INGEST_H */
