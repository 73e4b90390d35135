/* SPDX-License-Identifier: MIT */
/*
 * kausalfs.c: a KausalDB database mounted as a directory (libfuse3, the
 * low-level API), to the tree of DESIGN.md:
 *
 *   README                 what the tree is
 *   blocks/<ID>            a block's content; xattrs user.kausal.*
 *   graph/<ID>/content     the same bytes
 *   graph/<ID>/out/<type>/<TARGET-ID>   symlink -> ../../../<TARGET-ID>
 *   graph/<ID>/in/<type>/<SOURCE-ID>    symlink -> ../../../<SOURCE-ID>
 *   sources/               the ingested tree (empty until ingestion exists)
 *
 * This first version serves reads only: the mount is read-only, and the
 * kernel may cache what it reads for as long as the mount lives, since no
 * one else can change the database (the daemon holds its lock).
 *
 * Inode numbers: every name the kernel looks up gets an inode number from
 * a table of what it names (a kind, a block id, an edge type, the far
 * end's id), the same number for the same thing for the life of the mount.
 * The loop is single-threaded, like the engine's core.
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "kdb.h"

#define CACHE_TIMEOUT 3600.0 /* seconds the kernel may trust an entry or attribute */

enum kind {
    K_ROOT = 1,
    K_README,
    K_BLOCKS,
    K_GRAPH,
    K_SOURCES,
    K_BLOCK,    /* blocks/<ID> */
    K_NODE,     /* graph/<ID> */
    K_CONTENT,  /* graph/<ID>/content */
    K_OUT,      /* graph/<ID>/out */
    K_IN,       /* graph/<ID>/in */
    K_OUT_TYPE, /* graph/<ID>/out/<type> */
    K_IN_TYPE,  /* graph/<ID>/in/<type> */
    K_LINK_OUT, /* graph/<ID>/out/<type>/<FAR> */
    K_LINK_IN,  /* graph/<ID>/in/<type>/<FAR> */
};

/* What an inode number names. */
struct key {
    uint8_t kind;
    uint8_t type;
    uint8_t id[KDB_ID_SIZE];
    uint8_t far[KDB_ID_SIZE];
};

struct fs {
    struct kdb *db;
    const char *db_path;
    struct kdb_result *r;
    struct key *keys; /* keys[ino - 1] */
    size_t key_count;
    size_t key_capacity;
    uint64_t *slots; /* hash table of inode numbers; 0 empty */
    size_t slot_mask;
    struct timespec mounted; /* the time of what has no block's: README, the directories */
    char *reply;             /* readdir's reply buffer, reused: the loop is single-threaded */
    size_t reply_size;
    bool no_open; /* the kernel opens files itself: no OPEN or RELEASE round trips */
};

static const char readme[] =
    "This directory is a KausalDB database, mounted read-only by kausalfs.\n"
    "\n"
    "  blocks/<ID>                          a block's content (xattrs: user.kausal.source_uri,\n"
    "                                       user.kausal.metadata, user.kausal.version)\n"
    "  graph/<ID>/content                   the same bytes\n"
    "  graph/<ID>/out/<type>/<TARGET-ID>    an edge from the block: a symlink to the target\n"
    "  graph/<ID>/in/<type>/<SOURCE-ID>     an edge to the block: a symlink to the source\n"
    "  sources/                             the ingested source tree\n"
    "\n"
    "Links chain: graph/A/out/calls/B/out/calls/C/content is a two-hop walk, and\n"
    "find -L graph/A/out -maxdepth 7 -name content a traversal. See kausalfs(1).\n";

/* ---- inode numbers ---- */

static uint64_t key_hash(const struct key *k)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const uint8_t *p = (const uint8_t *)k;

    for (size_t i = 0; i < sizeof(*k); i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static int slots_grow(struct fs *fs)
{
    size_t count = fs->slots ? (fs->slot_mask + 1) * 2 : 1024;
    uint64_t *slots = calloc(count, sizeof(*slots));

    if (!slots) return -ENOMEM;
    for (size_t i = 0; i < fs->key_count; i++) {
        size_t at = (size_t)key_hash(&fs->keys[i]) & (count - 1);
        while (slots[at])
            at = (at + 1) & (count - 1);
        slots[at] = i + 1;
    }
    free(fs->slots);
    fs->slots = slots;
    fs->slot_mask = count - 1;
    return 0;
}

/* The inode number of k, given one if it has none. Returns 0 when out of memory. */
static fuse_ino_t ino_of(struct fs *fs, const struct key *k)
{
    size_t at;

    if (!fs->slots || 2 * (fs->key_count + 1) > fs->slot_mask + 1) {
        if (slots_grow(fs) < 0) return 0;
    }
    for (at = (size_t)key_hash(k) & fs->slot_mask; fs->slots[at]; at = (at + 1) & fs->slot_mask) {
        if (memcmp(&fs->keys[fs->slots[at] - 1], k, sizeof(*k)) == 0) return fs->slots[at];
    }
    if (fs->key_count == fs->key_capacity) {
        size_t capacity = fs->key_capacity ? fs->key_capacity * 2 : 1024;
        struct key *keys = realloc(fs->keys, capacity * sizeof(*keys));
        if (!keys) return 0;
        fs->keys = keys;
        fs->key_capacity = capacity;
    }
    fs->keys[fs->key_count++] = *k;
    fs->slots[at] = fs->key_count;
    return fs->key_count;
}

static const struct key *key_of(const struct fs *fs, fuse_ino_t ino)
{
    return ino >= 1 && ino <= fs->key_count ? &fs->keys[ino - 1] : NULL;
}

static struct key make_key(enum kind kind, const uint8_t *id, unsigned type, const uint8_t *far)
{
    struct key k;

    memset(&k, 0, sizeof(k));
    k.kind = (uint8_t)kind;
    k.type = (uint8_t)type;
    if (id) memcpy(k.id, id, KDB_ID_SIZE);
    if (far) memcpy(k.far, far, KDB_ID_SIZE);
    return k;
}

/* ---- attributes ---- */

static bool is_dir(enum kind kind)
{
    return kind != K_README && kind != K_BLOCK && kind != K_CONTENT && kind != K_LINK_OUT &&
           kind != K_LINK_IN;
}

static bool block_exists(struct fs *fs, const uint8_t *id, struct kdb_block *view)
{
    struct kdb_block scratch;
    return kdb_get_block_view(fs->db, (const struct kdb_id *)(const void *)id,
                              view ? view : &scratch) == 0;
}

/* Whether the edge a link names is there. */
static bool edge_exists(struct fs *fs, const struct key *k)
{
    bool out = k->kind == K_LINK_OUT || k->kind == K_OUT_TYPE;
    const uint8_t *id = k->id;

    if (kdb_edges(fs->db, (const struct kdb_id *)(const void *)id,
                  out ? KDB_DIRECTION_OUT : KDB_DIRECTION_IN, UINT32_C(1) << k->type, fs->r) < 0)
        return false;
    for (size_t i = 0; i < fs->r->count; i++) {
        const struct kdb_id *far = out ? &fs->r->edges[i].target : &fs->r->edges[i].source;
        if (memcmp(far->bytes, k->far, KDB_ID_SIZE) == 0) return true;
    }
    return false;
}

/* Fills st for ino; returns 0 or an errno. */
static int stat_of(struct fs *fs, fuse_ino_t ino, struct stat *st)
{
    const struct key *k = key_of(fs, ino);
    struct kdb_block view;

    if (!k) return ESTALE;
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_nlink = 1;
    st->st_mtim = st->st_ctim = st->st_atim = fs->mounted;
    if (is_dir(k->kind)) {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
    }
    switch (k->kind) {
    case K_README:
        st->st_mode = S_IFREG | 0444;
        st->st_size = sizeof(readme) - 1;
        break;
    case K_BLOCK:
    case K_CONTENT:
    case K_NODE:
        if (!block_exists(fs, k->id, &view)) return ENOENT;
        if (k->kind != K_NODE) {
            st->st_mode = S_IFREG | 0444;
            st->st_size = (off_t)view.content_len;
        }
        st->st_mtim.tv_sec = (time_t)(view.mtime_ns / 1000000000u);
        st->st_mtim.tv_nsec = (long)(view.mtime_ns % 1000000000u);
        st->st_ctim = st->st_mtim;
        st->st_atim = st->st_mtim;
        st->st_blocks = (st->st_size + 511) / 512;
        break;
    case K_LINK_OUT:
    case K_LINK_IN:
        st->st_mode = S_IFLNK | 0777;
        st->st_size = 9 + KDB_ID_HEX_SIZE; /* "../../../" and the id */
        break;
    default:
        break;
    }
    return 0;
}

/* ---- requests ---- */

/*
 * Every round trip through the kernel costs more than the work behind it,
 * so the kernel is asked to do what it can alone: cache symlink targets,
 * and open files without asking (a read-only file needs no per-open
 * state here).
 */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct fs *fs = userdata;

    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    fs->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
}

static void reply_entry(fuse_req_t req, struct fs *fs, const struct key *k)
{
    struct fuse_entry_param e;
    fuse_ino_t ino = ino_of(fs, k);
    int err;

    if (!ino) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    memset(&e, 0, sizeof(e));
    err = stat_of(fs, ino, &e.attr);
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    e.ino = ino;
    e.attr_timeout = CACHE_TIMEOUT;
    e.entry_timeout = CACHE_TIMEOUT;
    fuse_reply_entry(req, &e);
}

static bool parse_hex_id(const char *name, uint8_t *id)
{
    return kdb_id_from_hex(name, strlen(name), (struct kdb_id *)(void *)id) == 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = fuse_req_userdata(req);
    const struct key *p = key_of(fs, parent);
    uint8_t id[KDB_ID_SIZE];
    unsigned type;

    if (!p) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    switch (p->kind) {
    case K_ROOT:
        for (enum kind kind = K_README; kind <= K_SOURCES; kind++) {
            static const char *const names[] = {"README", "blocks", "graph", "sources"};
            if (strcmp(name, names[kind - K_README]) == 0) {
                struct key k = make_key(kind, NULL, 0, NULL);
                return reply_entry(req, fs, &k);
            }
        }
        break;
    case K_BLOCKS:
    case K_GRAPH:
        if (!parse_hex_id(name, id)) break;
        {
            struct key k = make_key(p->kind == K_BLOCKS ? K_BLOCK : K_NODE, id, 0, NULL);
            return reply_entry(req, fs, &k);
        }
    case K_NODE: {
        struct key k = *p;
        if (strcmp(name, "content") == 0)
            k.kind = K_CONTENT;
        else if (strcmp(name, "out") == 0)
            k.kind = K_OUT;
        else if (strcmp(name, "in") == 0)
            k.kind = K_IN;
        else
            break;
        return reply_entry(req, fs, &k);
    }
    case K_OUT:
    case K_IN:
        if (kdb_edge_type_from_name(name, strlen(name), &type) < 0) break;
        {
            struct key k = make_key(p->kind == K_OUT ? K_OUT_TYPE : K_IN_TYPE, p->id, type, NULL);
            return reply_entry(req, fs, &k);
        }
    case K_OUT_TYPE:
    case K_IN_TYPE:
        if (!parse_hex_id(name, id)) break;
        {
            struct key k =
                make_key(p->kind == K_OUT_TYPE ? K_LINK_OUT : K_LINK_IN, p->id, p->type, id);
            if (!edge_exists(fs, &k)) break;
            return reply_entry(req, fs, &k);
        }
    default:
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    fuse_reply_err(req, ENOENT);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct stat st;
    int err = stat_of(fs, ino, &st);

    (void)fi;
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_attr(req, &st, CACHE_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct fs *fs = fuse_req_userdata(req);
    const struct key *k = key_of(fs, ino);
    char target[9 + KDB_ID_HEX_SIZE + 1];

    if (!k || (k->kind != K_LINK_OUT && k->kind != K_LINK_IN)) {
        fuse_reply_err(req, k ? EINVAL : ESTALE);
        return;
    }
    memcpy(target, "../../../", 9);
    kdb_id_to_hex((const struct kdb_id *)(const void *)k->far, target + 9);
    fuse_reply_readlink(req, target);
}

/* ---- directories: listed whole at opendir, then streamed ---- */

struct dirent_item {
    fuse_ino_t ino;
    mode_t mode;
    char name[KDB_ID_HEX_SIZE + 1];
};

struct listing {
    struct dirent_item *items;
    size_t count;
    size_t capacity;
};

static int listing_add(struct fs *fs, struct listing *l, const char *name, const struct key *k,
                       mode_t mode)
{
    fuse_ino_t ino = ino_of(fs, k);

    if (!ino) return -ENOMEM;
    if (l->count == l->capacity) {
        size_t capacity = l->capacity ? l->capacity * 2 : 64;
        struct dirent_item *items = realloc(l->items, capacity * sizeof(*items));
        if (!items) return -ENOMEM;
        l->items = items;
        l->capacity = capacity;
    }
    l->items[l->count].ino = ino;
    l->items[l->count].mode = mode;
    snprintf(l->items[l->count].name, sizeof(l->items[l->count].name), "%s", name);
    l->count++;
    return 0;
}

struct scan_ctx {
    struct fs *fs;
    struct listing *l;
    enum kind kind;
};

static int list_block(void *ctx, const struct kdb_block *block)
{
    struct scan_ctx *c = ctx;
    char hex[KDB_ID_HEX_SIZE + 1];
    struct key k = make_key(c->kind, block->id.bytes, 0, NULL);

    kdb_id_to_hex(&block->id, hex);
    return listing_add(c->fs, c->l, hex, &k, c->kind == K_BLOCK ? S_IFREG : S_IFDIR);
}

/* Lists directory self (a copy: listing_add() may move the table of keys). */
static int build_listing(struct fs *fs, struct key self, struct listing *l)
{
    static const char *const root[] = {"README", "blocks", "graph", "sources"};
    const struct key *k = &self;
    struct key top = make_key(K_ROOT, NULL, 0, NULL);
    /* "." and "..": the kernel uses neither's inode number but ls -a shows them. */
    int rc = listing_add(fs, l, ".", k, S_IFDIR);

    if (rc == 0) rc = listing_add(fs, l, "..", &top, S_IFDIR);
    if (rc < 0) return rc;

    switch (k->kind) {
    case K_ROOT:
        for (int i = 0; rc == 0 && i < 4; i++) {
            struct key child = make_key((enum kind)(K_README + i), NULL, 0, NULL);
            rc = listing_add(fs, l, root[i], &child, i ? S_IFDIR : S_IFREG);
        }
        return rc;
    case K_BLOCKS:
    case K_GRAPH: {
        struct scan_ctx c = {fs, l, k->kind == K_BLOCKS ? K_BLOCK : K_NODE};
        return kdb_scan_blocks(fs->db, list_block, &c);
    }
    case K_NODE: {
        static const char *const names[] = {"content", "out", "in"};
        static const enum kind kinds[] = {K_CONTENT, K_OUT, K_IN};
        for (int i = 0; rc == 0 && i < 3; i++) {
            struct key child = *k;
            child.kind = (uint8_t)kinds[i];
            rc = listing_add(fs, l, names[i], &child, i ? S_IFDIR : S_IFREG);
        }
        return rc;
    }
    case K_OUT:
    case K_IN:
        for (unsigned t = 1; rc == 0 && t <= KDB_EDGE_TYPE_MAX; t++) {
            struct key child = make_key(k->kind == K_OUT ? K_OUT_TYPE : K_IN_TYPE, k->id, t, NULL);
            rc = listing_add(fs, l, kdb_edge_type_name(t), &child, S_IFDIR);
        }
        return rc;
    case K_OUT_TYPE:
    case K_IN_TYPE: {
        bool out = k->kind == K_OUT_TYPE;
        rc = kdb_edges(fs->db, (const struct kdb_id *)(const void *)k->id,
                       out ? KDB_DIRECTION_OUT : KDB_DIRECTION_IN, UINT32_C(1) << k->type, fs->r);
        if (rc == -ENOENT) return 0;
        /* The answer is copied out before listing_add() can change fs->r: it does not. */
        for (size_t i = 0; rc == 0 && i < fs->r->count; i++) {
            const struct kdb_id *far = out ? &fs->r->edges[i].target : &fs->r->edges[i].source;
            char hex[KDB_ID_HEX_SIZE + 1];
            struct key child = make_key(out ? K_LINK_OUT : K_LINK_IN, k->id, k->type, far->bytes);
            kdb_id_to_hex(far, hex);
            rc = listing_add(fs, l, hex, &child, S_IFLNK);
        }
        return rc;
    }
    default:
        return 0;
    }
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    const struct key *k = key_of(fs, ino);
    struct listing *l;
    int rc;

    if (!k) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    if (!is_dir(k->kind)) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    rc = build_listing(fs, *k, l);
    if (rc < 0) {
        free(l->items);
        free(l);
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)l;
    fi->cache_readdir = 1;
    fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    const struct listing *l = (const struct listing *)(uintptr_t)fi->fh;
    char *buf;
    size_t used = 0;

    (void)ino;
    if (size > fs->reply_size) {
        buf = realloc(fs->reply, size);
        if (!buf) {
            fuse_reply_err(req, ENOMEM);
            return;
        }
        fs->reply = buf;
        fs->reply_size = size;
    }
    buf = fs->reply;
    for (size_t i = (size_t)off; i < l->count; i++) {
        struct stat st = {.st_ino = l->items[i].ino, .st_mode = l->items[i].mode};
        size_t n =
            fuse_add_direntry(req, buf + used, size - used, l->items[i].name, &st, (off_t)(i + 1));
        if (n > size - used) break;
        used += n;
    }
    fuse_reply_buf(req, buf, used);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct listing *l = (struct listing *)(uintptr_t)fi->fh;

    (void)ino;
    free(l->items);
    free(l);
    fuse_reply_err(req, 0);
}

/* ---- files ---- */

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    const struct key *k = key_of(fs, ino);

    if (!k) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    if (is_dir(k->kind)) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        fuse_reply_err(req, EROFS);
        return;
    }
    if (fs->no_open) {
        fuse_reply_err(req, ENOSYS); /* "open it yourself, from now on" */
        return;
    }
    fi->keep_cache = 1; /* nothing changes behind the kernel's back */
    fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    const struct key *k = key_of(fs, ino);
    struct kdb_block view;

    (void)fi;
    if (!k) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    if (k->kind == K_README) {
        size_t len = sizeof(readme) - 1;
        size_t at = (size_t)off < len ? (size_t)off : len;
        fuse_reply_buf(req, readme + at, size < len - at ? size : len - at);
        return;
    }
    /* The view points into the engine's memory: no copy on the way out. */
    if (kdb_get_block_view(fs->db, (const struct kdb_id *)(const void *)k->id, &view) < 0) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if ((uint64_t)off >= view.content_len) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    size_t n = view.content_len - (size_t)off;
    fuse_reply_buf(req, (const char *)view.content + off, n < size ? n : size);
}

/* ---- xattrs ---- */

static const char *const xattr_names[] = {"user.kausal.source_uri", "user.kausal.metadata",
                                          "user.kausal.version"};

static void reply_xattr(fuse_req_t req, size_t size, const char *value, size_t len)
{
    if (size == 0)
        fuse_reply_xattr(req, len);
    else if (size < len)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, value, len);
}

static bool has_xattrs(enum kind kind)
{
    return kind == K_BLOCK || kind == K_CONTENT || kind == K_NODE;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct fs *fs = fuse_req_userdata(req);
    const struct key *k = key_of(fs, ino);
    struct kdb_block view;
    char version[24];

    if (!k || !has_xattrs(k->kind) || !block_exists(fs, k->id, &view)) {
        fuse_reply_err(req, k ? ENODATA : ESTALE);
        return;
    }
    if (strcmp(name, xattr_names[0]) == 0) {
        reply_xattr(req, size, view.source_uri, view.source_uri_len);
    } else if (strcmp(name, xattr_names[1]) == 0) {
        reply_xattr(req, size, view.metadata, view.metadata_len);
    } else if (strcmp(name, xattr_names[2]) == 0) {
        int n = snprintf(version, sizeof(version), "%llu", (unsigned long long)view.version);
        reply_xattr(req, size, version, (size_t)n);
    } else {
        fuse_reply_err(req, ENODATA);
    }
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct fs *fs = fuse_req_userdata(req);
    const struct key *k = key_of(fs, ino);
    char list[128];
    size_t len = 0;

    if (!k) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    if (has_xattrs(k->kind)) {
        for (int i = 0; i < 3; i++) {
            size_t n = strlen(xattr_names[i]) + 1;
            memcpy(list + len, xattr_names[i], n);
            len += n;
        }
    }
    reply_xattr(req, size, list, len);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct fs *fs = fuse_req_userdata(req);
    struct statvfs st;

    (void)ino;
    if (statvfs(fs->db_path, &st) < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .open = op_open,
    .read = op_read,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .statfs = op_statfs,
};

/* ---- command line ---- */

struct options {
    const char *db;
    int create;
};

static const struct fuse_opt option_spec[] = {
    {"create", offsetof(struct options, create), 1},
    FUSE_OPT_END,
};

/* The first argument that is not an option is the database; the next, the mountpoint. */
static int option_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    struct options *o = data;

    (void)outargs;
    if (key == FUSE_OPT_KEY_NONOPT && !o->db) {
        o->db = arg;
        return 0;
    }
    return 1;
}

static void usage(void)
{
    printf("usage: kausalfs DB MOUNTPOINT [-f] [-d] [-o OPTIONS]\n"
           "\n"
           "Mounts the KausalDB database in directory DB at MOUNTPOINT (read-only for now).\n"
           "Unmount with: fusermount3 -u MOUNTPOINT\n"
           "\n"
           "  -o create   make DB if it is not a database yet\n"
           "  -f          stay in the foreground (Ctrl-C unmounts)\n"
           "  -d          debug: every request on stderr (implies -f)\n"
           "  -h, --help  this text and FUSE's own options\n"
           "  -V          versions\n");
}

static void log_message(void *ctx, enum kdb_log_level level, const char *file, int line,
                        const char *message)
{
    (void)ctx;
    (void)file;
    (void)line;
    if (level <= KDB_LOG_WARNING) fprintf(stderr, "kausalfs: %s\n", message);
}

static int open_db(struct fs *fs, const char *path, bool create)
{
    struct kdb_options options;
    int rc;

    kdb_options_init(&options);
    options.log = log_message;
    if (create) options.flags |= KDB_OPEN_CREATE;
    rc = kdb_open(path, &options, &fs->db);
    if (rc == 0) rc = kdb_result_new(fs->db, &fs->r);
    if (rc == -ENOENT)
        fprintf(stderr, "kausalfs: %s: not a KausalDB database (-o create makes one)\n", path);
    else if (rc < 0)
        fprintf(stderr, "kausalfs: %s: %s\n", path, kdb_strerror(rc));
    return rc;
}

static void close_db(struct fs *fs)
{
    kdb_result_free(fs->r);
    fs->r = NULL;
    if (fs->db) {
        int rc = kdb_close(fs->db);
        if (rc < 0) fprintf(stderr, "kausalfs: %s: closing: %s\n", fs->db_path, kdb_strerror(rc));
    }
    fs->db = NULL;
}

/* The fixed inodes: 1 root, then README, blocks, graph, sources. */
static int fixed_inodes(struct fs *fs)
{
    for (enum kind kind = K_ROOT; kind <= K_SOURCES; kind++) {
        struct key k = make_key(kind, NULL, 0, NULL);
        if (ino_of(fs, &k) != (fuse_ino_t)kind) return -ENOMEM;
    }
    return 0;
}

/*
 * The database's absolute path (a daemon runs in /, and the engine opens
 * files by path): with -o create, its directory is made first.
 */
static char *absolute_db(const struct options *o)
{
    char *path;

    if (o->create && mkdir(o->db, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "kausalfs: %s: %s\n", o->db, strerror(errno));
        return NULL;
    }
    path = realpath(o->db, NULL);
    if (!path) fprintf(stderr, "kausalfs: %s: %s\n", o->db, strerror(errno));
    return path;
}

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts cmd;
    struct options o = {0};
    struct fs fs = {0};
    struct fuse_session *se = NULL;
    char *db_path = NULL;
    int status = 1;

    if (fuse_opt_parse(&args, &o, option_spec, option_proc) < 0) return 2;
    if (fuse_parse_cmdline(&args, &cmd) != 0) return 2;
    if (cmd.show_help) {
        usage();
        fuse_lowlevel_help();
        return 0;
    }
    if (cmd.show_version) {
        printf("kausalfs (KausalDB) 0.4\n");
        fuse_lowlevel_version();
        return 0;
    }
    if (!o.db || !cmd.mountpoint) {
        usage();
        return 2;
    }
    db_path = absolute_db(&o);
    if (!db_path) goto out;
    fs.db_path = db_path;
    /* Opened once here, to report what is wrong (not a database, in use)
     * before mounting; the close writes the log out as a table, so the
     * open after daemonizing (threads do not survive a fork) replays
     * nothing. */
    if (open_db(&fs, db_path, o.create) < 0) goto out;
    close_db(&fs);
    if (fixed_inodes(&fs) < 0) goto out;
    (void)clock_gettime(CLOCK_REALTIME, &fs.mounted);
    /* Read-only until writes exist: the kernel refuses writes itself. */
    if (fuse_opt_add_arg(&args, "-oro,default_permissions,fsname=kausalfs,subtype=kausaldb") < 0)
        goto out;
    se = fuse_session_new(&args, &ops, sizeof(ops), &fs);
    if (!se) goto out;
    if (fuse_set_signal_handlers(se) != 0) goto out;
    if (fuse_session_mount(se, cmd.mountpoint) != 0) goto out_signals;
    fuse_daemonize(cmd.foreground || cmd.debug);
    if (open_db(&fs, db_path, false) == 0) status = fuse_session_loop(se) == 0 ? 0 : 1;
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out:
    if (se) fuse_session_destroy(se);
    close_db(&fs);
    free(fs.keys);
    free(fs.slots);
    free(fs.reply);
    free(db_path);
    free(cmd.mountpoint);
    fuse_opt_free_args(&args);
    return status;
}
