/* SPDX-License-Identifier: MIT */
/*
 * names.h: the index of symbol names the ingester keeps, so that a name
 * finds its blocks in a few reads (kausal callers NAME).
 *
 * A registry block (kind "registry", the same id in every database) lists
 * the roots of the trees ingested, a line each. Each tree has
 * NAMES_SHARD_COUNT blocks of kind "names": shard s holds, sorted, a line
 * for each symbol whose name hashes to s:
 *
 *   name TAB kind TAB path TAB line_start TAB id-in-hex NEWLINE
 *
 * Rewritten by each ingest (only the shards that change are written).
 */
#ifndef KDB_TOOLS_NAMES_H
#define KDB_TOOLS_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "kdb.h"

#define NAMES_SHARD_COUNT 64u

unsigned names_shard(const char *name, size_t len);

void names_registry_id(struct kdb_id *id);

void names_shard_id(const char *root, unsigned shard, struct kdb_id *id);

/*
 * The file list of tree root, for kausalfs(1)'s sources/: NAMES_SHARD_COUNT
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
