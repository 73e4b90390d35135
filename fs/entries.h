/* SPDX-License-Identifier: MIT */
/*
 * entries.h: names for people, for the entries of a directory whose
 * entries are blocks: an edge directory (graph/<ID>/out/<type>/) names each
 * link after its far end's metadata "name" where that name is unique in
 * the directory and a file name can hold it, else by id; a source file's
 * directory (sources/<path>/) names each symbol after its name, with
 * "@kind" added where two symbols of the file share a name.
 *
 * A listing is built whole (it needs every name to know which are
 * unique) and kept for the directory listed last, until the database
 * changes (the caller's generation number), so that the calls of one
 * readdir, and the lookups after it, reuse it.
 */
#ifndef KDB_FS_ENTRIES_H
#define KDB_FS_ENTRIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kdb.h"

#define ENTRY_NAME_MAX 255

struct entry_item {
    uint8_t id[KDB_ID_SIZE]; /* the block the entry is */
    uint16_t name_len;
    char name[ENTRY_NAME_MAX + 1];
};

struct entries {
    uint64_t dir;        /* the inode listed; 0: none */
    uint64_t generation; /* of the database when listed */
    struct entry_item *items;
    size_t count;
    size_t capacity;
};

enum entries_style {
    ENTRIES_BY_NAME_OR_ID = 1, /* edge directories */
    ENTRIES_BY_NAME_AT_KIND,   /* a source file's symbols */
};

/*
 * Names ids[0..n) (copied; n may be 0) in style, as the listing of
 * directory dir at generation. Returns 0 or -ENOMEM (nothing kept).
 */
int entries_build(struct entries *e, struct kdb *db, uint64_t dir, uint64_t generation,
                  const struct kdb_id *ids, size_t n, enum entries_style style);

/* Whether e holds the listing of dir at generation. */
bool entries_fresh(const struct entries *e, uint64_t dir, uint64_t generation);

/* The item named name, or NULL. */
const struct entry_item *entries_find(const struct entries *e, const char *name);

void entries_release(struct entries *e);

/* The value of "key" in a JSON object's text when it is a plain string (no escapes), into out. */
bool entries_meta_string(const char *json, size_t len, const char *key, char *out, size_t size);

#endif /* KDB_FS_ENTRIES_H */
