/* SPDX-License-Identifier: MIT */
/*
 * sources.c: the files of the ingested trees, by path (see sources.h).
 */
#include "sources.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

static void tree_id(const char *root, size_t len, struct kdb_id *id)
{
    kdb_id_for_symbol("", 0, "tree", 4, root, len, id);
}

void sources_dir_id(const char *path, size_t len, struct kdb_id *id)
{
    kdb_id_for_symbol("", 0, "source-dir", 10, path, len, id);
}

void sources_invalidate(struct sources *s)
{
    s->valid = false;
}

static void clear(struct sources *s)
{
    for (size_t i = 0; i < s->file_count; i++)
        free(s->files[i].path);
    for (size_t i = 0; i < s->dir_count; i++)
        free(s->dirs[i].path);
    free(s->files);
    free(s->dirs);
    free(s->by_id);
    s->files = NULL;
    s->dirs = NULL;
    s->by_id = NULL;
    s->file_count = s->file_capacity = s->dir_count = 0;
    s->valid = false;
}

void sources_release(struct sources *s)
{
    clear(s);
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct source_file *)a)->path, ((const struct source_file *)b)->path);
}

static int by_dir_id(const void *a, const void *b)
{
    return memcmp(a, b, KDB_ID_SIZE);
}

/* Orders file numbers by their files' ids (qsort_r()'s context: the sources). */
static int by_file_id(const void *a, const void *b, void *ctx)
{
    const struct sources *s = ctx;
    return memcmp(s->files[*(const uint32_t *)a].id.bytes, s->files[*(const uint32_t *)b].id.bytes,
                  KDB_ID_SIZE);
}

/* The files by id: 0 or -ENOMEM. */
static int index_by_id(struct sources *s)
{
    s->by_id = malloc((s->file_count + 1) * sizeof(*s->by_id));
    if (!s->by_id) return -ENOMEM;
    for (size_t i = 0; i < s->file_count; i++)
        s->by_id[i] = (uint32_t)i;
    qsort_r(s->by_id, s->file_count, sizeof(*s->by_id), by_file_id, s);
    return 0;
}

/* Appends a file: 0 or -ENOMEM. */
static int add_file(struct sources *s, const struct kdb_id *id, const char *path, size_t len)
{
    if (s->file_count == s->file_capacity) {
        size_t capacity = s->file_capacity ? 2 * s->file_capacity : 64;
        struct source_file *more = realloc(s->files, capacity * sizeof(*more));
        if (!more) return -ENOMEM;
        s->files = more;
        s->file_capacity = capacity;
    }
    s->files[s->file_count].id = *id;
    s->files[s->file_count].path = strndup(path, len);
    if (!s->files[s->file_count].path) return -ENOMEM;
    s->file_count++;
    return 0;
}

/* Takes the files appended from the first on back out. */
static void drop_files(struct sources *s, size_t first)
{
    while (s->file_count > first)
        free(s->files[--s->file_count].path);
}

/*
 * The files of tree root, appended from its file list: 1, or 0
 * with nothing appended when the tree keeps no whole list (an ingest
 * before lists were kept, or cut short), or an error of the database's.
 */
static int load_listed(struct sources *s, struct kdb *db, const char *root)
{
    size_t first = s->file_count;
    int rc = 0;

    for (unsigned shard = 0; rc == 0 && shard < NAMES_FILE_SHARDS; shard++) {
        struct kdb_block view;
        struct kdb_id id;
        const char *at, *end;
        names_files_id(root, shard, &id);
        rc = kdb_get_block_view(db, &id, &view);
        if (rc < 0) break;
        at = view.content;
        end = at + view.content_len;
        while (rc == 0 && at < end) {
            const char *path = NULL, *nul = NULL;
            if (end - at > KDB_ID_HEX_SIZE + 1 && at[KDB_ID_HEX_SIZE] == ' ') {
                path = at + KDB_ID_HEX_SIZE + 1;
                nul = memchr(path, '\0', (size_t)(end - path));
            }
            if (!nul || nul == path || kdb_id_from_hex(at, KDB_ID_HEX_SIZE, &id) < 0) {
                rc = -ENOENT; /* not a list this build can read: as if none */
                break;
            }
            rc = add_file(s, &id, path, (size_t)(nul - path));
            at = nul + 1;
        }
    }
    if (rc < 0) drop_files(s, first);
    return rc == -ENOENT ? 0 : rc < 0 ? rc : 1;
}

/* The files one tree contains, appended: from its file list, else each file's block. */
static int load_tree(struct sources *s, struct kdb *db, const char *root, size_t len,
                     struct kdb_result *r)
{
    struct kdb_id tree, *ids;
    size_t n, first = s->file_count;
    int rc = load_listed(s, db, root);

    if (rc != 0) return rc < 0 ? rc : 0;
    tree_id(root, len, &tree);
    rc = kdb_edges(db, &tree, KDB_DIRECTION_OUT, UINT32_C(1) << KDB_EDGE_CONTAINS, r);
    if (rc == -ENOENT) return 0;
    if (rc < 0) return rc;
    n = r->count;
    ids = malloc((n + 1) * sizeof(*ids));
    if (!ids) return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        ids[i] = r->edges[i].target;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct kdb_block view;
        if (kdb_get_block_view(db, &ids[i], &view) < 0 || view.source_uri_len == 0) continue;
        rc = add_file(s, &ids[i], view.source_uri, view.source_uri_len);
    }
    free(ids);
    if (rc < 0) drop_files(s, first);
    return rc;
}

/* Every directory above a file, once, by id. */
static int load_dirs(struct sources *s)
{
    size_t cap = 16;
    int rc = 0;

    s->dirs = malloc(cap * sizeof(*s->dirs));
    if (!s->dirs) return -ENOMEM;
    s->dirs[0].path = strdup("");
    if (!s->dirs[0].path) return -ENOMEM;
    sources_dir_id("", 0, &s->dirs[0].id);
    s->dir_count = 1;
    for (size_t i = 0; i < s->file_count && rc == 0; i++) {
        const char *path = s->files[i].path;
        for (const char *slash = strchr(path, '/'); slash && rc == 0;
             slash = strchr(slash + 1, '/')) {
            size_t len = (size_t)(slash - path);
            bool known = false;
            /* The files are by path, so a directory already seen was seen last or near it:
             * compare with the directories of the previous file first. */
            if (i > 0 && strncmp(s->files[i - 1].path, path, len + 1) == 0) known = true;
            if (known) continue;
            if (s->dir_count == cap) {
                struct source_dir *more = realloc(s->dirs, cap * 2 * sizeof(*more));
                if (!more) {
                    rc = -ENOMEM;
                    break;
                }
                s->dirs = more;
                cap *= 2;
            }
            s->dirs[s->dir_count].path = strndup(path, len);
            if (!s->dirs[s->dir_count].path) {
                rc = -ENOMEM;
                break;
            }
            sources_dir_id(path, len, &s->dirs[s->dir_count].id);
            s->dir_count++;
        }
    }
    if (rc == 0) qsort(s->dirs, s->dir_count, sizeof(*s->dirs), by_dir_id);
    return rc;
}

int sources_load(struct sources *s, struct kdb *db)
{
    struct kdb_block view;
    struct kdb_result *r = NULL;
    struct kdb_id id;
    char *roots = NULL;
    int rc;

    if (s->valid) return 0;
    clear(s);
    names_registry_id(&id);
    rc = kdb_get_block_view(db, &id, &view);
    if (rc == -ENOENT) { /* nothing ingested: an empty sources/ */
        rc = load_dirs(s);
        s->valid = rc == 0;
        return rc;
    }
    if (rc < 0) return rc;
    roots = strndup(view.content, view.content_len);
    rc = roots ? kdb_result_new(db, &r) : -ENOMEM;
    for (char *root = roots, *eol; rc == 0 && root && (eol = strchr(root, '\n')); root = eol + 1) {
        size_t len;
        unsigned shards;
        if (!names_registry_line(root, (size_t)(eol - root), &len, &shards)) continue;
        root[len] = '\0';
        rc = load_tree(s, db, root, len, r);
    }
    kdb_result_free(r);
    free(roots);
    if (rc == 0) {
        size_t kept = 0;
        if (s->file_count) qsort(s->files, s->file_count, sizeof(*s->files), by_path);
        for (size_t i = 0; i < s->file_count; i++) { /* a path once */
            if (kept && strcmp(s->files[kept - 1].path, s->files[i].path) == 0) {
                free(s->files[i].path);
                continue;
            }
            s->files[kept++] = s->files[i];
        }
        s->file_count = kept;
        rc = s->file_count <= UINT32_MAX ? load_dirs(s) : -EOVERFLOW;
        if (rc == 0) rc = index_by_id(s);
    }
    if (rc < 0) clear(s);
    s->valid = rc == 0;
    return rc;
}

const char *sources_dir_path(const struct sources *s, const struct kdb_id *id)
{
    const struct source_dir *d = bsearch(id, s->dirs, s->dir_count, sizeof(*s->dirs), by_dir_id);
    return d ? d->path : NULL;
}

const char *sources_file_path(const struct sources *s, const struct kdb_id *id)
{
    size_t lo = 0, hi = s->by_id ? s->file_count : 0;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct source_file *f = &s->files[s->by_id[mid]];
        int c = memcmp(f->id.bytes, id->bytes, KDB_ID_SIZE);
        if (c == 0) return f->path;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The first file under directory path (by path order), or file_count. */
static size_t first_under(const struct sources *s, const char *path, size_t len)
{
    size_t lo = 0, hi = s->file_count;

    if (len == 0) return 0;
    while (lo < hi) { /* the first path >= "path/" */
        size_t mid = (lo + hi) / 2;
        int c = strncmp(s->files[mid].path, path, len);
        if (c == 0) c = (unsigned char)s->files[mid].path[len] < '/' ? -1 : 0;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Calls back each entry of directory path in order until fn says stop; see below. */
static bool walk(const struct sources *s, const char *path,
                 bool (*fn)(void *ctx, const char *name, size_t len, bool is_file,
                            const struct source_file *f),
                 void *ctx)
{
    size_t len = strlen(path);

    for (size_t i = first_under(s, path, len); i < s->file_count; i++) {
        const char *p = s->files[i].path, *rest, *slash;
        if (len && (strncmp(p, path, len) != 0 || p[len] != '/')) break;
        rest = len ? p + len + 1 : p;
        slash = strchr(rest, '/');
        if (fn(ctx, rest, slash ? (size_t)(slash - rest) : strlen(rest), !slash, &s->files[i]))
            return true;
        if (slash) { /* past the rest of that directory */
            size_t sub = (size_t)(slash - p);
            while (i + 1 < s->file_count && strncmp(s->files[i + 1].path, p, sub + 1) == 0)
                i++;
        }
    }
    return false;
}

struct find {
    const struct sources *s;
    const char *path;
    size_t index; /* by index: counts down; by name: the name */
    const char *name;
    char *out;
    size_t size;
    bool *is_file;
    struct kdb_id *id;
};

static bool take(struct find *f, const char *name, size_t len, bool is_file,
                 const struct source_file *file)
{
    if (f->out) {
        if (len + 1 > f->size) len = f->size - 1;
        memcpy(f->out, name, len);
        f->out[len] = '\0';
    }
    *f->is_file = is_file;
    if (is_file) {
        *f->id = file->id;
    } else {
        size_t plen = strlen(f->path);
        size_t dlen = (plen ? plen + 1 : 0) + len;
        sources_dir_id(file->path, dlen, f->id);
    }
    return true;
}

static bool at_index(void *ctx, const char *name, size_t len, bool is_file,
                     const struct source_file *file)
{
    struct find *f = ctx;
    if (f->index-- > 0) return false;
    return take(f, name, len, is_file, file);
}

static bool at_name(void *ctx, const char *name, size_t len, bool is_file,
                    const struct source_file *file)
{
    struct find *f = ctx;
    if (strlen(f->name) != len || memcmp(f->name, name, len) != 0) return false;
    return take(f, name, len, is_file, file);
}

bool sources_child_at(const struct sources *s, const char *path, size_t index, char *name,
                      size_t size, bool *is_file, struct kdb_id *id)
{
    struct find f = {s, path, index, NULL, name, size, is_file, id};
    return walk(s, path, at_index, &f);
}

bool sources_child(const struct sources *s, const char *path, const char *name, bool *is_file,
                   struct kdb_id *id)
{
    struct find f = {s, path, 0, name, NULL, 0, is_file, id};
    return walk(s, path, at_name, &f);
}
