/* SPDX-License-Identifier: MIT */
/*
 * entries.c: names for the entries of edge and source directories (see
 * entries.h).
 */
#include "entries.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool entries_meta_string(const char *json, size_t len, const char *key, char *out, size_t size)
{
    size_t key_len = strlen(key);
    const char *end = json + len;

    for (const char *p = json; p + key_len + 2 < end; p++) {
        const char *v;
        size_t n = 0;
        if (*p != '"' || memcmp(p + 1, key, key_len) != 0 || p[key_len + 1] != '"') continue;
        v = p + key_len + 2;
        while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
            v++;
        if (v >= end || *v++ != ':') continue; /* the key was a value */
        while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
            v++;
        if (v >= end || *v++ != '"') return false;
        while (v < end && *v != '"') {
            if (*v == '\\' || n + 1 >= size) return false; /* escapes: not a plain name */
            out[n++] = *v++;
        }
        if (v >= end) return false;
        out[n] = '\0';
        return true;
    }
    return false;
}

/* Whether a name can be a directory entry (and is no id, which would read as another block). */
static bool usable(const char *name, size_t len)
{
    struct kdb_id id;

    if (len == 0 || len > ENTRY_NAME_MAX || strchr(name, '/')) return false;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return false;
    return kdb_id_from_hex(name, len, &id) < 0;
}

static int by_name(const void *a, const void *b)
{
    const struct entry_item *x = a, *y = b;
    return strcmp(x->name, y->name);
}

int entries_build(struct entries *e, struct kdb *db, uint64_t dir, uint64_t generation,
                  const struct kdb_id *ids, size_t n, enum entries_style style)
{
    struct entry_item *sorted;

    e->dir = 0;
    if (n > e->capacity) {
        struct entry_item *items = realloc(e->items, n * sizeof(*items));
        if (!items) return -ENOMEM;
        e->items = items;
        e->capacity = n;
    }
    e->count = n;
    for (size_t i = 0; i < n; i++) {
        struct entry_item *it = &e->items[i];
        struct kdb_block view;
        char kind[32];
        memcpy(it->id, ids[i].bytes, KDB_ID_SIZE);
        it->name[0] = '\0';
        if (kdb_get_block_view(db, &ids[i], &view) == 0 &&
            entries_meta_string(view.metadata, view.metadata_len, "name", it->name,
                                sizeof(it->name)) &&
            usable(it->name, strlen(it->name))) {
            if (style == ENTRIES_BY_NAME_AT_KIND &&
                entries_meta_string(view.metadata, view.metadata_len, "kind", kind, sizeof(kind))) {
                /* the kind rides along, after a NUL, for the second pass */
                size_t len = strlen(it->name);
                if (len + 1 + strlen(kind) + 1 <= sizeof(it->name))
                    memcpy(it->name + len + 1, kind, strlen(kind) + 1);
                else
                    it->name[len + 1] = '\0';
            }
        } else {
            it->name[0] = '\0';
        }
    }
    /* Which names are unique: a sorted copy. */
    sorted = malloc((n ? n : 1) * sizeof(*sorted));
    if (!sorted) return -ENOMEM;
    if (n) {
        memcpy(sorted, e->items, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), by_name);
    }
    for (size_t i = 0; i < n; i++) {
        struct entry_item *it = &e->items[i];
        struct entry_item key;
        const struct entry_item *hit;
        size_t lo, hi, copies = 0;
        if (it->name[0]) {
            memcpy(key.name, it->name, strlen(it->name) + 1);
            hit = bsearch(&key, sorted, n, sizeof(*sorted), by_name);
            lo = hi = (size_t)(hit - sorted);
            while (lo > 0 && strcmp(sorted[lo - 1].name, it->name) == 0)
                lo--;
            while (hi + 1 < n && strcmp(sorted[hi + 1].name, it->name) == 0)
                hi++;
            copies = hi - lo + 1;
        }
        if (it->name[0] && copies > 1 && style == ENTRIES_BY_NAME_AT_KIND) {
            size_t len = strlen(it->name);
            const char *kind = it->name + len + 1;
            size_t functions = 0;
            /* The one function of the name keeps it bare (a macro or a struct of the same
             * name is the one that says what it is). */
            for (size_t k = lo; k <= hi; k++) {
                const char *other = sorted[k].name + strlen(sorted[k].name) + 1;
                functions += strcmp(other, "function") == 0;
            }
            if (functions == 1 && strcmp(kind, "function") == 0) continue;
            if (*kind && len + 1 + strlen(kind) <= ENTRY_NAME_MAX) {
                it->name[len] = '@';
                continue;
            }
            it->name[0] = '\0';
        } else if (copies > 1) {
            it->name[0] = '\0';
        }
        if (!it->name[0]) kdb_id_to_hex((const struct kdb_id *)(const void *)it->id, it->name);
    }
    free(sorted);
    for (size_t i = 0; i < n; i++)
        e->items[i].name_len = (uint16_t)strlen(e->items[i].name);
    e->dir = dir;
    e->generation = generation;
    return 0;
}

bool entries_fresh(const struct entries *e, uint64_t dir, uint64_t generation)
{
    return e->dir == dir && dir != 0 && e->generation == generation;
}

const struct entry_item *entries_find(const struct entries *e, const char *name)
{
    for (size_t i = 0; i < e->count; i++) {
        if (strcmp(e->items[i].name, name) == 0) return &e->items[i];
    }
    return NULL;
}

void entries_release(struct entries *e)
{
    free(e->items);
    memset(e, 0, sizeof(*e));
}
