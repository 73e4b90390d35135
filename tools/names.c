/* SPDX-License-Identifier: MIT */
/*
 * names.c: the name index of names.h: where its blocks are, and a lookup.
 */
#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned names_shard(const char *name, size_t len, unsigned count)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: the shard is part of the index's format */

    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 0x100000001b3ull;
    return (unsigned)(h % count);
}

unsigned names_shard_count(size_t symbols, unsigned current)
{
    unsigned count = current > NAMES_SHARD_MIN ? current : NAMES_SHARD_MIN;

    while (count < NAMES_SHARD_MAX && symbols > (size_t)count * NAMES_SHARD_LINES)
        count *= 2;
    return count;
}

bool names_registry_line(const char *line, size_t len, size_t *root_len, unsigned *shards)
{
    const char *tab = len ? memrchr(line, '\t', len) : NULL;
    unsigned long count = 0;

    *root_len = len; /* no count after a tab: the root alone (which may hold a tab) */
    *shards = NAMES_SHARD_MIN;
    for (const char *p = tab ? tab + 1 : line + len; p < line + len; p++) {
        if (*p < '0' || *p > '9' || count > NAMES_SHARD_MAX) return len > 0;
        count = count * 10 + (unsigned long)(*p - '0');
    }
    if (tab && count >= NAMES_SHARD_MIN && count <= NAMES_SHARD_MAX && !(count & (count - 1))) {
        *root_len = (size_t)(tab - line);
        *shards = (unsigned)count;
    }
    return *root_len > 0;
}

void names_registry_id(struct kdb_id *id)
{
    kdb_id_for_symbol("", 0, "registry", 8, "trees", 5, id);
}

void names_shard_id(const char *root, unsigned shard, struct kdb_id *id)
{
    char name[8];
    int n = snprintf(name, sizeof(name), "%02u", shard);

    kdb_id_for_symbol(root, strlen(root), "names", 5, name, (size_t)n, id);
}

void names_files_id(const char *root, unsigned shard, struct kdb_id *id)
{
    char name[8];
    int n = snprintf(name, sizeof(name), "%02u", shard);

    kdb_id_for_symbol(root, strlen(root), "files", 5, name, (size_t)n, id);
}

static char *field_dup(const char *start, const char *end)
{
    return strndup(start, (size_t)(end - start));
}

/* Whether path is want, or ends in "/" want. */
static bool path_matches(const char *path, size_t path_len, const char *want)
{
    size_t len = strlen(want);

    if (path_len == len) return memcmp(path, want, len) == 0;
    return path_len > len && path[path_len - len - 1] == '/' &&
           memcmp(path + path_len - len, want, len) == 0;
}

/* Adds the lines of one shard's text that name the symbol. */
static int scan_shard(const char *text, size_t text_len, const char *name, size_t len,
                      const char *path, struct name_hit **hits, size_t *count)
{
    const char *at = text, *end = text + text_len;

    while (at < end) {
        const char *eol = memchr(at, '\n', (size_t)(end - at));
        const char *f[5], *p = at;
        struct name_hit *more, *hit;
        int n = 0;

        if (!eol) eol = end;
        f[n++] = p;
        while (n < 5 && (p = memchr(p, '\t', (size_t)(eol - p))) != NULL)
            f[n++] = ++p;
        if (n == 5 && (size_t)(f[1] - f[0] - 1) == len && memcmp(f[0], name, len) == 0 &&
            (!path || path_matches(f[2], (size_t)(f[3] - f[2] - 1), path))) {
            more = realloc(*hits, (*count + 1) * sizeof(**hits));
            if (!more) return -ENOMEM;
            *hits = more;
            hit = &more[*count];
            memset(hit, 0, sizeof(*hit));
            hit->name = field_dup(f[0], f[1] - 1);
            hit->kind = field_dup(f[1], f[2] - 1);
            hit->path = field_dup(f[2], f[3] - 1);
            hit->line_start = (uint32_t)strtoul(f[3], NULL, 10);
            (*count)++;
            if (!hit->name || !hit->kind || !hit->path ||
                kdb_id_from_hex(f[4], (size_t)(eol - f[4]), &hit->id) < 0)
                return -ENOMEM;
        }
        at = eol + 1;
    }
    return 0;
}

int names_find(struct kdb *db, const char *name, size_t len, const char *path,
               struct name_hit **hits, size_t *count)
{
    struct kdb_block registry, shard;
    struct kdb_id id;
    char *roots;
    size_t roots_len;
    int rc;

    *hits = NULL;
    *count = 0;
    names_registry_id(&id);
    rc = kdb_get_block_view(db, &id, &registry);
    if (rc == -ENOENT) return 0; /* nothing ingested */
    if (rc < 0) return rc;
    /* A view lasts until the next call through a forwarding handle: keep a copy. */
    roots_len = registry.content_len;
    roots = malloc(roots_len + 1);
    if (!roots) return -ENOMEM;
    if (roots_len) memcpy(roots, registry.content, roots_len);
    roots[roots_len] = '\0';
    for (char *root = roots, *eol; rc == 0 && *root; root = eol + 1) {
        size_t root_len;
        unsigned shards;
        eol = strchr(root, '\n');
        if (!eol) break;
        if (!names_registry_line(root, (size_t)(eol - root), &root_len, &shards)) continue;
        root[root_len] = '\0';
        names_shard_id(root, names_shard(name, len, shards), &id);
        rc = kdb_get_block_view(db, &id, &shard);
        if (rc == -ENOENT) {
            rc = 0;
            continue;
        }
        if (rc == 0)
            rc = scan_shard(shard.content, shard.content_len, name, len, path, hits, count);
    }
    free(roots);
    if (rc < 0) {
        names_free(*hits, *count);
        *hits = NULL;
        *count = 0;
    }
    return rc;
}

void names_free(struct name_hit *hits, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(hits[i].name);
        free(hits[i].kind);
        free(hits[i].path);
    }
    free(hits);
}
