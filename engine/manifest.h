/* SPDX-License-Identifier: MIT */
/*
 * manifest.h: which tables are live, and where the log starts.
 *
 * The manifest is one small file, MANIFEST, rewritten whole for every
 * change: written to MANIFEST.tmp, fsynced, renamed over MANIFEST, and the
 * directory fsynced. A rename is atomic, so after a crash the directory
 * holds the old manifest or the new one, never a mix; files the surviving
 * manifest does not name are leftovers that kdb_open() removes. FORMAT.md,
 * "Manifest", gives the bytes.
 */
#ifndef KDB_ENGINE_MANIFEST_H
#define KDB_ENGINE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"

struct manifest_table {
    uint64_t number;
    uint64_t size; /* bytes of the file */
};

struct manifest {
    uint64_t log_number;       /* the first log segment still needed */
    uint64_t last_sequence;    /* every change up to this one is in the tables */
    uint64_t next_file_number; /* no table number at or above this is live */
    uint64_t block_count;      /* live blocks as of last_sequence */
    size_t table_count;
    struct manifest_table tables[]; /* newest first */
};

/*
 * Reads dir's manifest into a new *out (env_free() it). Returns -ENOENT if
 * there is none, -EBADMSG, -EUCLEAN, -ENOTSUP, -ENOMEM or an I/O error.
 */
KDB_MUST_USE int manifest_read(const struct env *env, const char *dir, struct manifest **out);

/* Makes m dir's manifest, durably (tmp, fsync, rename, sync_dir). */
KDB_MUST_USE int manifest_write(const struct env *env, const char *dir, const struct manifest *m);

/* A manifest with room for count tables, fields zeroed; NULL on failure. */
struct manifest *manifest_new(const struct env *env, size_t count);

#endif /* KDB_ENGINE_MANIFEST_H */
