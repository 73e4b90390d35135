/* SPDX-License-Identifier: MIT */
/*
 * names.h: the index of symbol names the ingester keeps, so that a name
 * finds its blocks in a few reads (kausal callers NAME).
 *
 * A registry block (kind "registry", the same id in every database) lists
 * the roots of the trees ingested, a line each: the root, a tab and the
 * number of its name shards (a line of the root alone, as an index written
 * before that number could vary has it: NAMES_SHARD_MIN). Each tree has
 * that many blocks of kind "names", a power of two that grows with the tree
 * so that a shard holds NAMES_SHARD_LINES lines or fewer on average, a
 * page or two to read. Shard s holds, sorted, a line for each symbol whose
 * name hashes to s:
 *
 *   name TAB kind TAB path TAB line_start TAB id-in-hex NEWLINE
 *
 * Rewritten by each ingest (only the shards that change are written; all
 * of them when the count grows, which it never does back).
 */
#ifndef KDB_TOOLS_NAMES_H
#define KDB_TOOLS_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kdb.h"

#define NAMES_SHARD_MIN   64u        /* name shards of a tree, at the least */
#define NAMES_SHARD_MAX   (1u << 24) /* and at the most */
#define NAMES_SHARD_LINES 64u        /* symbols a shard holds, on average, at the most */
#define NAMES_FILE_SHARDS 64u        /* blocks of a tree's file list */

/* The shard of count (a power of two) that name[0..len) (a symbol's name, or a path) is in. */
unsigned names_shard(const char *name, size_t len, unsigned count);

/* The name shards for a tree of symbols symbols: at least current, which they never shrink from. */
unsigned names_shard_count(size_t symbols, unsigned current);

/*
 * Reads a registry line, line[0..len) without its newline: the root's
 * length and the tree's name shards. False for an empty line.
 */
bool names_registry_line(const char *line, size_t len, size_t *root_len, unsigned *shards);

void names_registry_id(struct kdb_id *id);

void names_shard_id(const char *root, unsigned shard, struct kdb_id *id);

/*
 * The file list of tree root, for kausalfs(1)'s sources/: NAMES_FILE_SHARDS
 * blocks of kind "files", shard s listing the tree's files whose paths
 * hash to s (names_shard() of the path), sorted by path, each as its
 * block's id in 32 hex digits, a space, its path and a NUL byte (a path may
 * hold any other byte). The id of shard s is names_files_id().
 */
void names_files_id(const char *root, unsigned shard, struct kdb_id *id);

/* A symbol a name found. */
struct name_hit {
    char *name;
    char *kind;
    char *path;
    uint32_t line_start;
    struct kdb_id id;
};

/*
 * The symbols called name[0..len) in every tree ingested; with path, only
 * those whose source path is path or ends in "/" path. *hits (count of
 * them) is to free with names_free(). Returns 0 (perhaps with none), or an
 * error of the database's.
 */
int names_find(struct kdb *db, const char *name, size_t len, const char *path,
               struct name_hit **hits, size_t *count);

void names_free(struct name_hit *hits, size_t count);

#endif /* KDB_TOOLS_NAMES_H */
