/* SPDX-License-Identifier: MIT */
/*
 * sources.h: the sources/ view: the ingested trees by path. Each file is a
 * directory (sources/src/lapi.c/) whose entries are its symbols (links to
 * their graph/<ID> directories, named by entries.h); the directories above
 * the files come from the files' paths.
 *
 * The ingested graph is read the way kausal(1) describes it (INGEST): the
 * registry block lists the trees' roots, each tree lists its files (paths
 * and ids) in blocks of kind "files", and each file `contains` its
 * symbols. A tree without a whole list (ingested by an older kausal) is
 * read by its `contains` edges and each file's source URI instead, a
 * block a file. The list of files is read once and kept until the
 * database changes.
 */
#ifndef KDB_FS_SOURCES_H
#define KDB_FS_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kdb.h"

struct source_file {
    char *path;
    struct kdb_id id;
};

struct source_dir {
    struct kdb_id id; /* sources_dir_id() of its path */
    char *path;       /* "" for sources/ itself */
};

struct sources {
    struct source_file *files; /* by path; a path once, from the first tree that has it */
    size_t file_count;
    size_t file_capacity;
    uint32_t *by_id;         /* files[] by id, for sources_file_path() */
    struct source_dir *dirs; /* by id */
    size_t dir_count;
    bool valid;
};

/* Reads the files of the ingested trees, unless they are read already. Returns 0 or -errno. */
int sources_load(struct sources *s, struct kdb *db);

void sources_invalidate(struct sources *s);
void sources_release(struct sources *s);

/* The key a directory of sources/ gets: a hash of its path. */
void sources_dir_id(const char *path, size_t len, struct kdb_id *id);

/* The path of a directory of sources/ by its key, or NULL when there is none. */
const char *sources_dir_path(const struct sources *s, const struct kdb_id *id);

/* The source path of a file block, or NULL. */
const char *sources_file_path(const struct sources *s, const struct kdb_id *id);

/*
 * The index-th entry of directory path (0-based), its name into name
 * (NUL-terminated, at most size bytes), whether it is a file, and its key
 * (a file's block id, or a directory's sources_dir_id()). False past the end.
 */
bool sources_child_at(const struct sources *s, const char *path, size_t index, char *name,
                      size_t size, bool *is_file, struct kdb_id *id);

/* The entry called name in directory path: as sources_child_at(). False if none. */
bool sources_child(const struct sources *s, const char *path, const char *name, bool *is_file,
                   struct kdb_id *id);

#endif /* KDB_FS_SOURCES_H */
