/* SPDX-License-Identifier: MIT */
/*
 * ops.c: the request handlers of the mounted tree (DESIGN.md, "The mounted
 * tree"), one kfs_<op> for each member of struct fuse_lowlevel_ops filled.
 *
 * Reads: every name and attribute is answered with a long timeout and file
 * pages are kept across opens, because nothing changes the database behind
 * the kernel's back without an invalidation following (notify.h): the
 * kernel serves repeated stat, readlink and cat without a round trip.
 *
 * Writes: each write request is stored whole, as one new version of the
 * block (its bytes patched into a copy of the content), so the database
 * never holds part of a request; each change is in the log before the
 * request is answered, and fsync of any file or directory is kdb_sync().
 *
 * Every handler takes fs->lock (ops.h), answers exactly once, and lets go.
 */
#include "ops.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CACHE_TIMEOUT  3600.0 /* seconds the kernel may trust an entry or attribute */
#define SOURCE_TIMEOUT 1.0    /* seconds, for names under sources/ */
/* The I/O size a block file suggests: copies then write in few, large requests. */
#define KFS_BLKSIZE (1 << 20)
#define LINK_PREFIX "../../../"
#define LINK_SIZE   (sizeof(LINK_PREFIX) - 1 + KDB_ID_HEX_SIZE)

const char kfs_readme[] =
    "This directory is a KausalDB database, mounted by kausalfs.\n"
    "\n"
    "  blocks/<ID>                          a block's content (xattrs: user.kausal.source_uri,\n"
    "                                       user.kausal.metadata, user.kausal.version)\n"
    "  graph/<ID>/content                   the same file\n"
    "  graph/<ID>/out/<type>/<TARGET-ID>    an edge from the block: a symlink to the target\n"
    "  graph/<ID>/in/<type>/<SOURCE-ID>     an edge to the block: a symlink to the source\n"
    "  sources/                             the ingested source tree\n"
    "\n"
    "Links chain: graph/A/out/calls/B/out/calls/C/content is a two-hop walk, and\n"
    "find -L graph/A/out -maxdepth 7 -name content a traversal. Write a block by\n"
    "writing blocks/<ID>; ln -s ../../../<T> graph/<S>/out/calls/<T> adds an edge, rm\n"
    "removes it. fsync(2) makes changes durable (sync(1) does not reach here).\n"
    "See kausalfs(1).\n";

/* The root's: where the database is, so that `kausal -d MOUNTPOINT` finds it. */
#define KFS_XATTR_DATABASE "user.kausal.database"

static const char *const xattr_names[] = {"user.kausal.source_uri", "user.kausal.metadata",
                                          "user.kausal.version"};

static inline const struct kdb_id *as_id(const uint8_t *bytes)
{
    return (const struct kdb_id *)(const void *)bytes;
}

static struct fs *enter(fuse_req_t req)
{
    struct fs *fs = fuse_req_userdata(req);
    pthread_mutex_lock(&fs->lock);
    return fs;
}

static void leave(struct fs *fs)
{
    pthread_mutex_unlock(&fs->lock);
}

/* ---- the database, seen through names ---- */

/*
 * Block id's view into view (if not NULL): 0, ENOENT when there is none, or
 * the error of a damaged one (EBADMSG, EUCLEAN, EIO), which must reach the
 * reader as that, never as a missing block.
 */
static int find_block(struct fs *fs, const uint8_t *id, struct kdb_block *view)
{
    struct kdb_block scratch;
    return -kdb_get_block_view(fs->db, as_id(id), view ? view : &scratch);
}

/* Whether block id has an edge of type to or from far (out says which). */
static bool edge_exists(struct fs *fs, const uint8_t *id, unsigned type, const uint8_t *far,
                        bool out)
{
    if (kdb_edges(fs->db, as_id(id), out ? KDB_DIRECTION_OUT : KDB_DIRECTION_IN,
                  UINT32_C(1) << type, fs->r) < 0)
        return false;
    for (size_t i = 0; i < fs->r->count; i++) {
        const struct kdb_id *end = out ? &fs->r->edges[i].target : &fs->r->edges[i].source;
        if (memcmp(end->bytes, far, KDB_ID_SIZE) == 0) return true;
    }
    return false;
}

static const struct alias *find_alias(const struct fs *fs, uint64_t dir, const char *name)
{
    for (size_t i = 0; i < fs->alias_count; i++) {
        if (fs->aliases[i].dir == dir && strcmp(fs->aliases[i].name, name) == 0)
            return &fs->aliases[i];
    }
    return NULL;
}

/* Remembers that name in dir is the edge to far; nothing is lost if memory is short. */
static void add_alias(struct fs *fs, uint64_t dir, const uint8_t *far, const char *name)
{
    struct alias *aliases = realloc(fs->aliases, (fs->alias_count + 1) * sizeof(*aliases));
    char *copy = strdup(name);

    if (aliases) fs->aliases = aliases;
    if (!aliases || !copy) {
        free(copy);
        return;
    }
    aliases[fs->alias_count].dir = dir;
    memcpy(aliases[fs->alias_count].far, far, KDB_ID_SIZE);
    aliases[fs->alias_count].name = copy;
    fs->alias_count++;
}

void kfs_aliases_release(struct fs *fs)
{
    for (size_t i = 0; i < fs->alias_count; i++)
        free(fs->aliases[i].name);
    free(fs->aliases);
    fs->aliases = NULL;
    fs->alias_count = 0;
}

/* The far end an entry of an edge directory names: its id in hex, or an alias. */
static bool entry_far(const struct fs *fs, uint64_t dir, const char *name, uint8_t *far)
{
    const struct alias *a;

    if (ns_parse_id(name, far)) return true;
    a = find_alias(fs, dir, name);
    if (a) memcpy(far, a->far, KDB_ID_SIZE);
    return a != NULL;
}

/* ---- invalidations a change calls for (queued; see notify.h) ---- */

/*
 * Any change: named listings and the list of source files are stale, and
 * so is whatever of sources/ the kernel was given (an ingest changes it
 * all at once, so all of it is dropped, once).
 */
static void changed(struct fs *fs)
{
    fs->generation++;
    sources_invalidate(&fs->sources);
    if (!fs->sources_listed) return;
    fs->sources_listed = false;
    for (size_t i = 0; i < fs->ns.key_count; i++) {
        enum ns_kind kind = fs->ns.keys[i].kind;
        if (kind == NS_SOURCES || kind == NS_SRC_DIR || kind == NS_SRC_FILE)
            notify_inode(&fs->notify, i + 1);
    }
}

static void drop_inode(struct fs *fs, enum ns_kind kind, const uint8_t *id, unsigned type)
{
    struct ns_key k = ns_key(kind, id, type, NULL);
    uint64_t ino = ns_find(&fs->ns, &k);

    if (ino) notify_inode(&fs->notify, ino);
}

/* The listings of the edge's two directories; for a deletion, its names too. */
static void plan_edge(struct fs *fs, const struct kdb_edge *e, bool deleting)
{
    for (int side = 0; side < 2; side++) {
        bool out = side == 0;
        const uint8_t *id = out ? e->source.bytes : e->target.bytes;
        const struct kdb_id *far = out ? &e->target : &e->source;
        struct ns_key k = ns_key(out ? NS_OUT_TYPE : NS_IN_TYPE, id, e->type, NULL);
        uint64_t dir = ns_find(&fs->ns, &k);
        char hex[KDB_ID_HEX_SIZE + 1];

        if (!dir) continue; /* the kernel has never seen the directory */
        notify_inode(&fs->notify, dir);
        if (!deleting) continue;
        k = ns_key(out ? NS_LINK_OUT : NS_LINK_IN, id, e->type, far->bytes);
        kdb_id_to_hex(far, hex);
        if (ns_find(&fs->ns, &k)) {
            struct kdb_block view;
            char name[ENTRY_NAME_MAX + 1];
            notify_entry(&fs->notify, dir, hex);
            /* and the far end's name, which the listing may have given the link */
            if (kdb_get_block_view(fs->db, far, &view) == 0 &&
                entries_meta_string(view.metadata, view.metadata_len, "name", name, sizeof(name)))
                notify_entry(&fs->notify, dir, name);
        }
        for (size_t i = 0; i < fs->alias_count;) {
            struct alias *a = &fs->aliases[i];
            if (a->dir == dir && memcmp(a->far, far->bytes, KDB_ID_SIZE) == 0) {
                notify_entry(&fs->notify, dir, a->name);
                free(a->name);
                *a = fs->aliases[--fs->alias_count];
            } else {
                i++;
            }
        }
    }
}

/*
 * A block came or went: the listings of blocks/ and graph/ change. Only
 * listings the kernel was given can be in its cache, and only names it
 * looked up (they have inode numbers) in its dentries.
 */
static void plan_blocks_changed(struct fs *fs)
{
    kfs_blocks_changed(fs);
    for (int i = 0; i < 2; i++) {
        if (!fs->listed[i]) continue;
        notify_inode(&fs->notify, i ? NS_GRAPH : NS_BLOCKS);
        fs->listed[i] = false;
    }
}

/*
 * A block and every edge of it are going: their names, and the listings
 * they were in. by_unlink: the kernel is removing blocks/<ID> itself, and
 * drops that name on its own.
 */
static void plan_block_delete(struct fs *fs, const uint8_t *id, bool by_unlink)
{
    char hex[KDB_ID_HEX_SIZE + 1];
    struct ns_key file = ns_key(NS_BLOCK, id, 0, NULL), node = ns_key(NS_NODE, id, 0, NULL);

    kdb_id_to_hex(as_id(id), hex);
    if (!by_unlink && ns_find(&fs->ns, &file)) notify_entry(&fs->notify, NS_BLOCKS, hex);
    if (ns_find(&fs->ns, &node)) notify_entry(&fs->notify, NS_GRAPH, hex);
    /* Its directories keep their inode numbers if it comes back: what the
     * kernel listed of them (empty, or the old edges) must not be kept. */
    drop_inode(fs, NS_NODE, id, 0);
    drop_inode(fs, NS_OUT, id, 0);
    drop_inode(fs, NS_IN, id, 0);
    for (unsigned t = 1; t <= KDB_EDGE_TYPE_MAX; t++) {
        drop_inode(fs, NS_OUT_TYPE, id, t);
        drop_inode(fs, NS_IN_TYPE, id, t);
    }
    plan_blocks_changed(fs);
    if (kdb_edges(fs->db, as_id(id), KDB_DIRECTION_BOTH, 0, fs->r) < 0) return;
    /* plan_edge() queries nothing, so fs->r holds still while it runs. */
    for (size_t i = 0; i < fs->r->count; i++)
        plan_edge(fs, &fs->r->edges[i], true);
}

void kfs_will_change(struct fs *fs, const struct kdb_change *c)
{
    changed(fs);
    switch (c->kind) {
    case KDB_CHANGE_PUT_BLOCK:
        if (find_block(fs, c->id.bytes, NULL) != ENOENT) {
            kfs_blocks_changed(fs); /* its size and time in the snapshot are stale */
            drop_inode(fs, NS_BLOCK, c->id.bytes, 0);
            drop_inode(fs, NS_NODE, c->id.bytes, 0);
        } else {
            plan_blocks_changed(fs);
        }
        break;
    case KDB_CHANGE_DELETE_BLOCK:
        plan_block_delete(fs, c->id.bytes, false);
        break;
    case KDB_CHANGE_PUT_EDGE:
    case KDB_CHANGE_DELETE_EDGE:
        plan_edge(fs, &c->edge, c->kind == KDB_CHANGE_DELETE_EDGE);
        break;
    default:
        break;
    }
}

/* ---- attributes ---- */

static mode_t mode_of(enum ns_kind kind)
{
    switch (kind) {
    case NS_README:
        return S_IFREG | 0444;
    case NS_BLOCK:
        return S_IFREG | 0644;
    case NS_LINK_OUT:
    case NS_LINK_IN:
    case NS_SRC_LINK:
        return S_IFLNK | 0777;
    case NS_BLOCKS:
    case NS_OUT_TYPE:
    case NS_IN_TYPE:
        return S_IFDIR | 0755; /* names can be made here */
    default:
        return S_IFDIR | 0555;
    }
}

/*
 * A symbol's link under sources/<path>/: up to the top of the mount, then
 * graph/<ID>. False when its file is not a source file any more.
 */
static bool source_link(struct fs *fs, const struct ns_key *k, char *target, size_t size)
{
    const char *path;
    size_t at = 0, up = 2; /* the file's directory, and sources/ */
    int n;

    if (sources_load(&fs->sources, fs->db) < 0) return false;
    path = sources_file_path(&fs->sources, as_id(k->id));
    if (!path) return false;
    for (const char *p = path; *p; p++)
        up += *p == '/';
    for (size_t i = 0; i < up && at + 3 < size; i++, at += 3)
        memcpy(target + at, "../", 3);
    n = snprintf(target + at, size - at, "graph/");
    if (n < 0 || (size_t)n + KDB_ID_HEX_SIZE + 1 > size - at) return false;
    kdb_id_to_hex(as_id(k->far), target + at + (size_t)n);
    return true;
}

/* Fills st for ino; returns 0 or an errno. */
static int stat_of(struct fs *fs, uint64_t ino, struct stat *st)
{
    const struct ns_key *k = ns_key_of(&fs->ns, ino);
    struct kdb_block view;
    int rc;

    if (!k) return ESTALE;
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_mode = mode_of(k->kind);
    st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
    st->st_mtim = st->st_ctim = st->st_atim = fs->mounted;
    switch (k->kind) {
    case NS_README:
        st->st_size = (off_t)strlen(kfs_readme);
        break;
    case NS_BLOCK:
    case NS_NODE:
        rc = find_block(fs, k->id, &view);
        if (rc) return rc;
        if (k->kind == NS_BLOCK) {
            st->st_size = (off_t)view.content_len;
            st->st_nlink = 2; /* blocks/<ID> and graph/<ID>/content */
            st->st_blksize = KFS_BLKSIZE;
        }
        st->st_mtim.tv_sec = (time_t)(view.mtime_ns / 1000000000u);
        st->st_mtim.tv_nsec = (long)(view.mtime_ns % 1000000000u);
        st->st_ctim = st->st_atim = st->st_mtim;
        st->st_blocks = (st->st_size + 511) / 512;
        break;
    case NS_LINK_OUT:
    case NS_LINK_IN:
        st->st_size = (off_t)LINK_SIZE;
        break;
    case NS_SRC_DIR:
        if (sources_load(&fs->sources, fs->db) < 0 || !sources_dir_path(&fs->sources, as_id(k->id)))
            return ENOENT;
        break;
    case NS_SRC_FILE:
        rc = find_block(fs, k->id, NULL);
        if (rc) return rc;
        break;
    case NS_SRC_LINK: {
        char target[PATH_MAX];
        if (!source_link(fs, k, target, sizeof(target))) return ENOENT;
        st->st_size = (off_t)strlen(target);
        break;
    }
    default:
        break;
    }
    return 0;
}

static void reply_entry(fuse_req_t req, struct fs *fs, const struct ns_key *k)
{
    struct fuse_entry_param e;
    uint64_t ino = ns_ino(&fs->ns, k);
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
    if (ns_is_source(k->kind)) {
        /* An ingest renames and removes these wholesale: the kernel asks again soon. */
        e.attr_timeout = e.entry_timeout = SOURCE_TIMEOUT;
        fs->sources_listed = true;
    }
    fuse_reply_entry(req, &e);
}

/*
 * Every round trip through the kernel costs more than the work behind it,
 * so the kernel is asked to do what it can alone: cache symlink targets,
 * and open files without asking (no file needs per-open state here).
 * Without OPEN requests, O_TRUNC must reach us as a SETATTR of size 0:
 * with atomic O_TRUNC (libfuse's default) the kernel would leave the
 * truncation to an OPEN that never comes, and `> file` would overwrite
 * the start of the old content instead of replacing it.
 */
static void kfs_init(void *userdata, struct fuse_conn_info *conn)
{
    struct fs *fs = userdata;

    conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    fs->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
    fs->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
}

/* ---- names ---- */

/*
 * The named listing (entries.h) of an edge directory, or of a source
 * file's directory, into fs->entries, unless it is there already.
 */
static int named(struct fs *fs, uint64_t ino, const struct ns_key *dir)
{
    bool out = dir->kind != NS_IN_TYPE;
    struct kdb_id *ids;
    size_t n;
    int rc;

    if (entries_fresh(&fs->entries, ino, fs->generation)) return 0;
    if (dir->kind == NS_SRC_FILE)
        rc = kdb_edges(fs->db, as_id(dir->id), KDB_DIRECTION_OUT, UINT32_C(1) << KDB_EDGE_CONTAINS,
                       fs->r);
    else
        rc = kdb_edges(fs->db, as_id(dir->id), out ? KDB_DIRECTION_OUT : KDB_DIRECTION_IN,
                       UINT32_C(1) << dir->type, fs->r);
    if (rc < 0) return rc;
    n = fs->r->count;
    ids = malloc((n + 1) * sizeof(*ids));
    if (!ids) return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        ids[i] = out ? fs->r->edges[i].target : fs->r->edges[i].source;
    rc = entries_build(&fs->entries, fs->db, ino, fs->generation, ids, n,
                       dir->kind == NS_SRC_FILE ? ENTRIES_BY_NAME_AT_KIND : ENTRIES_BY_NAME_OR_ID);
    free(ids);
    return rc;
}

/* The path of a directory of sources/ ("" for sources/ itself), or NULL. */
static const char *source_dir(struct fs *fs, const struct ns_key *dir)
{
    if (sources_load(&fs->sources, fs->db) < 0) return NULL;
    if (dir->kind == NS_SOURCES) return "";
    return sources_dir_path(&fs->sources, as_id(dir->id));
}

static void lookup_name(fuse_req_t req, struct fs *fs, fuse_ino_t parent, const char *name)
{
    const struct ns_key *p = ns_key_of(&fs->ns, parent);
    struct ns_key k;
    uint8_t id[KDB_ID_SIZE];
    unsigned type;

    if (!p) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    switch (p->kind) {
    case NS_ROOT:
        for (enum ns_kind kind = NS_README; kind <= NS_SOURCES; kind++) {
            if (strcmp(name, ns_root_names[kind - NS_README]) == 0) {
                k = ns_key(kind, NULL, 0, NULL);
                reply_entry(req, fs, &k);
                return;
            }
        }
        break;
    case NS_BLOCKS:
    case NS_GRAPH:
        if (!ns_parse_id(name, id)) break;
        k = ns_key(p->kind == NS_BLOCKS ? NS_BLOCK : NS_NODE, id, 0, NULL);
        reply_entry(req, fs, &k);
        return;
    case NS_NODE:
        k = *p;
        if (strcmp(name, "content") == 0)
            k.kind = NS_BLOCK;
        else if (strcmp(name, "out") == 0)
            k.kind = NS_OUT;
        else if (strcmp(name, "in") == 0)
            k.kind = NS_IN;
        else
            break;
        reply_entry(req, fs, &k);
        return;
    case NS_OUT:
    case NS_IN:
        if (kdb_edge_type_from_name(name, strlen(name), &type) < 0) {
            fuse_reply_err(req, EINVAL); /* only the edge types live here */
            return;
        }
        k = ns_key(p->kind == NS_OUT ? NS_OUT_TYPE : NS_IN_TYPE, p->id, type, NULL);
        reply_entry(req, fs, &k);
        return;
    case NS_OUT_TYPE:
    case NS_IN_TYPE: {
        bool out = p->kind == NS_OUT_TYPE;
        struct ns_key dir = *p;
        const struct entry_item *item;
        if (!entry_far(fs, parent, name, id)) {
            /* A name for people: the far end's name where it is unique here. */
            if (named(fs, parent, &dir) < 0 || !(item = entries_find(&fs->entries, name))) break;
            memcpy(id, item->id, KDB_ID_SIZE);
        }
        if (!edge_exists(fs, dir.id, dir.type, id, out)) break;
        k = ns_key(out ? NS_LINK_OUT : NS_LINK_IN, dir.id, dir.type, id);
        reply_entry(req, fs, &k);
        return;
    }
    case NS_SOURCES:
    case NS_SRC_DIR: {
        const char *path = source_dir(fs, p);
        struct kdb_id child;
        bool is_file;
        if (!path || !sources_child(&fs->sources, path, name, &is_file, &child)) break;
        k = ns_key(is_file ? NS_SRC_FILE : NS_SRC_DIR, child.bytes, 0, NULL);
        reply_entry(req, fs, &k);
        return;
    }
    case NS_SRC_FILE: {
        struct ns_key dir = *p;
        const struct entry_item *item;
        if (named(fs, parent, &dir) < 0 || !(item = entries_find(&fs->entries, name))) break;
        k = ns_key(NS_SRC_LINK, dir.id, 0, item->id);
        reply_entry(req, fs, &k);
        return;
    }
    default:
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    fuse_reply_err(req, ENOENT);
}

static void kfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = enter(req);
    lookup_name(req, fs, parent, name);
    leave(fs);
}

static void kfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = enter(req);
    struct stat st;
    int err = stat_of(fs, ino, &st);

    (void)fi;
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_attr(req, &st, CACHE_TIMEOUT);
    leave(fs);
}

static void kfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct fs *fs = enter(req);
    const struct ns_key *k = ns_key_of(&fs->ns, ino);
    char target[LINK_SIZE + 1];

    if (k && k->kind == NS_SRC_LINK) {
        char path[PATH_MAX];
        struct ns_key copy = *k;
        if (source_link(fs, &copy, path, sizeof(path)))
            fuse_reply_readlink(req, path);
        else
            fuse_reply_err(req, ENOENT);
    } else if (!k || !ns_is_link(k->kind)) {
        fuse_reply_err(req, k ? EINVAL : ESTALE);
    } else {
        memcpy(target, LINK_PREFIX, sizeof(LINK_PREFIX) - 1);
        kdb_id_to_hex(as_id(k->far), target + sizeof(LINK_PREFIX) - 1);
        fuse_reply_readlink(req, target);
    }
    leave(fs);
}

/* ---- directories: streamed, call by call, with no per-open state ---- */

static int snapshot_add(void *ctx, const struct kdb_block *block)
{
    struct snapshot *snap = ctx;

    if (snap->count == snap->capacity) {
        size_t capacity = snap->capacity ? snap->capacity * 2 : 1024;
        struct snapshot_entry *items = realloc(snap->items, capacity * sizeof(*items));
        if (!items) return -ENOMEM;
        snap->items = items;
        snap->capacity = capacity;
    }
    memcpy(snap->items[snap->count].id, block->id.bytes, KDB_ID_SIZE);
    snap->items[snap->count].size = block->content_len;
    snap->items[snap->count].mtime_ns = block->mtime_ns;
    snap->count++;
    return 0;
}

/* The blocks in id order, from the last scan unless a block came or went since. */
static int blocks_snapshot(struct fs *fs)
{
    int rc;

    if (fs->snapshot.valid) return 0;
    fs->snapshot.count = 0;
    rc = kdb_scan_blocks(fs->db, snapshot_add, &fs->snapshot);
    fs->snapshot.valid = rc == 0;
    return rc;
}

void kfs_blocks_changed(struct fs *fs)
{
    fs->snapshot.valid = false;
}

/* One entry of a directory, as the listing gives it. */
struct entry {
    const char *name;
    struct ns_key key;
    const struct snapshot_entry *block; /* the block's size and time, for blocks/ and graph/ */
};

/*
 * Entry index of directory dir (. and .. are 0 and 1), or false past the
 * end. For an edge directory, fs->r holds its edges (see list()).
 */
static bool entry_at(struct fs *fs, const struct ns_key *dir, size_t index, struct entry *e,
                     char *name)
{
    static const char *const node_names[] = {"content", "out", "in"};
    static const enum ns_kind node_kinds[] = {NS_BLOCK, NS_OUT, NS_IN};

    e->block = NULL;
    if (index < 2) {
        e->name = index ? ".." : ".";
        e->key = index ? ns_key(NS_ROOT, NULL, 0, NULL) : *dir;
        return true;
    }
    index -= 2;
    switch (dir->kind) {
    case NS_ROOT:
        if (index >= 4) return false;
        e->name = ns_root_names[index];
        e->key = ns_key((enum ns_kind)(NS_README + index), NULL, 0, NULL);
        return true;
    case NS_BLOCKS:
    case NS_GRAPH:
        if (index >= fs->snapshot.count) return false;
        e->block = &fs->snapshot.items[index];
        kdb_id_to_hex(as_id(e->block->id), name);
        e->name = name;
        e->key = ns_key(dir->kind == NS_BLOCKS ? NS_BLOCK : NS_NODE, e->block->id, 0, NULL);
        return true;
    case NS_NODE:
        if (index >= 3) return false;
        e->name = node_names[index];
        e->key = *dir;
        e->key.kind = (uint8_t)node_kinds[index];
        return true;
    case NS_OUT:
    case NS_IN:
        if (index >= KDB_EDGE_TYPE_MAX) return false;
        e->name = kdb_edge_type_name((unsigned)index + 1);
        e->key = ns_key(dir->kind == NS_OUT ? NS_OUT_TYPE : NS_IN_TYPE, dir->id,
                        (unsigned)index + 1, NULL);
        return true;
    case NS_OUT_TYPE:
    case NS_IN_TYPE:
    case NS_SRC_FILE: {
        const struct entry_item *item;
        if (index >= fs->entries.count) return false;
        item = &fs->entries.items[index];
        e->name = item->name;
        e->key = ns_key(dir->kind == NS_OUT_TYPE  ? NS_LINK_OUT
                        : dir->kind == NS_IN_TYPE ? NS_LINK_IN
                                                  : NS_SRC_LINK,
                        dir->id, dir->type, item->id);
        return true;
    }
    case NS_SOURCES:
    case NS_SRC_DIR: {
        const char *path = source_dir(fs, dir);
        struct kdb_id child;
        bool is_file;
        if (!path || !sources_child_at(&fs->sources, path, index, name, ENTRY_NAME_MAX + 1,
                                       &is_file, &child))
            return false;
        e->name = name;
        e->key = ns_key(is_file ? NS_SRC_FILE : NS_SRC_DIR, child.bytes, 0, NULL);
        return true;
    }
    default:
        return false;
    }
}

/* The attributes of a listed entry, without asking the database when the listing knows them. */
static int entry_stat(struct fs *fs, const struct entry *e, uint64_t ino, struct stat *st)
{
    if (!e->block) return stat_of(fs, ino, st);
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_mode = mode_of(e->key.kind);
    st->st_nlink = 2;
    if (e->key.kind == NS_BLOCK) {
        st->st_size = (off_t)e->block->size;
        st->st_blocks = (st->st_size + 511) / 512;
        st->st_blksize = KFS_BLKSIZE;
    }
    st->st_mtim.tv_sec = (time_t)(e->block->mtime_ns / 1000000000u);
    st->st_mtim.tv_nsec = (long)(e->block->mtime_ns % 1000000000u);
    st->st_ctim = st->st_atim = st->st_mtim;
    return 0;
}

/*
 * Answers READDIR or READDIRPLUS from offset off (the index of the next
 * entry). Each call lists only what fits in its reply: blocks/ and graph/
 * from the snapshot of the blocks (one scan, kept up to date by the
 * mount's writes, and made again after a block comes
 * or goes), an edge directory from its edges, in the order they were
 * added. With plus, each entry carries its attributes, so that `ls -l`
 * needs no lookup of its own.
 */
static void list(fuse_req_t req, struct fs *fs, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
    const struct ns_key *k = ns_key_of(&fs->ns, ino);
    struct ns_key dir;
    char *buf = fs->reply;
    size_t used = 0;
    int rc = 0;

    if (!k || !ns_is_dir(k->kind)) {
        fuse_reply_err(req, k ? ENOTDIR : ESTALE);
        return;
    }
    dir = *k; /* ns_ino() below may move the keys */
    if (size > fs->reply_size) {
        buf = realloc(fs->reply, size);
        if (!buf) {
            fuse_reply_err(req, ENOMEM);
            return;
        }
        fs->reply = buf;
        fs->reply_size = size;
    }
    if (dir.kind == NS_BLOCKS || dir.kind == NS_GRAPH) {
        rc = blocks_snapshot(fs);
        fs->listed[dir.kind == NS_GRAPH] = true;
    } else if (dir.kind == NS_OUT_TYPE || dir.kind == NS_IN_TYPE || dir.kind == NS_SRC_FILE) {
        rc = named(fs, ino, &dir);
        if (rc == -ENOENT) {
            fuse_reply_err(req, ENOENT);
            return;
        }
    } else if (dir.kind == NS_SOURCES || dir.kind == NS_SRC_DIR) {
        if (!source_dir(fs, &dir)) {
            fuse_reply_err(req, ENOENT);
            return;
        }
    }
    if (ns_is_source(dir.kind)) fs->sources_listed = true;
    for (size_t i = off < 0 ? 0 : (size_t)off; rc == 0; i++) {
        char name[ENTRY_NAME_MAX + 1];
        struct entry e;
        size_t n;

        if (!entry_at(fs, &dir, i, &e, name)) break;
        if (plus) {
            struct fuse_entry_param param;
            memset(&param, 0, sizeof(param));
            if (i >= 2) { /* the kernel takes no reference to . or .. */
                param.ino = ns_ino(&fs->ns, &e.key);
                if (!param.ino) {
                    rc = -ENOMEM;
                    break;
                }
                if (entry_stat(fs, &e, param.ino, &param.attr) != 0) continue; /* gone */
                param.attr_timeout = CACHE_TIMEOUT;
                param.entry_timeout = CACHE_TIMEOUT;
                if (ns_is_source(e.key.kind))
                    param.attr_timeout = param.entry_timeout = SOURCE_TIMEOUT;
            } else {
                param.attr.st_ino = i ? NS_ROOT : ino;
                param.attr.st_mode = S_IFDIR;
            }
            n = fuse_add_direntry_plus(req, buf + used, size - used, e.name, &param,
                                       (off_t)(i + 1));
        } else {
            struct stat st = {.st_mode = mode_of(e.key.kind)};
            st.st_ino = i < 2 ? (i ? NS_ROOT : ino) : ns_ino(&fs->ns, &e.key);
            n = fuse_add_direntry(req, buf + used, size - used, e.name, &st, (off_t)(i + 1));
        }
        if (n > size - used) break;
        used += n;
    }
    if (rc < 0 && used == 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_buf(req, buf, used);
}

static void kfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
    struct fs *fs = enter(req);

    (void)fi;
    list(req, fs, ino, size, off, false);
    leave(fs);
}

static void kfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                            struct fuse_file_info *fi)
{
    struct fs *fs = enter(req);

    (void)fi;
    list(req, fs, ino, size, off, true);
    leave(fs);
}

/*
 * A directory needs no per-open state, so where the kernel can open
 * directories itself it is told to (and then keeps their listings cached,
 * until a change here or an invalidation).
 */
static void kfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = enter(req);
    const struct ns_key *k = ns_key_of(&fs->ns, ino);

    if (!k || !ns_is_dir(k->kind)) {
        fuse_reply_err(req, k ? ENOTDIR : ESTALE);
    } else if (fs->no_opendir) {
        fuse_reply_err(req, ENOSYS);
    } else {
        fi->cache_readdir = 1;
        fi->keep_cache = 1;
        fuse_reply_open(req, fi);
    }
    leave(fs);
}

/* ---- files ---- */

static void kfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = enter(req);
    const struct ns_key *k = ns_key_of(&fs->ns, ino);

    if (!k) {
        fuse_reply_err(req, ESTALE);
    } else if (ns_is_dir(k->kind)) {
        fuse_reply_err(req, EISDIR);
    } else if (fs->no_open) {
        fuse_reply_err(req, ENOSYS); /* "open it yourself, from now on" */
    } else {
        fi->keep_cache =
            1; /* every change behind the kernel's back is followed by an invalidation */
        fuse_reply_open(req, fi);
    }
    leave(fs);
}

static void kfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct fs *fs = enter(req);
    const struct ns_key *k = ns_key_of(&fs->ns, ino);
    struct kdb_block view;
    const char *bytes;
    size_t len;

    (void)fi;
    if (!k || (k->kind != NS_README && k->kind != NS_BLOCK)) {
        fuse_reply_err(req, k ? EISDIR : ESTALE);
        goto out;
    }
    if (k->kind == NS_README) {
        bytes = kfs_readme;
        len = strlen(kfs_readme);
    } else {
        /* The view points into the engine's memory: no copy on the way out. */
        int rc = kdb_get_block_view(fs->db, as_id(k->id), &view);
        if (rc < 0) {
            fuse_reply_err(req, -rc);
            goto out;
        }
        bytes = view.content;
        len = view.content_len;
    }
    if ((uint64_t)off >= len)
        fuse_reply_buf(req, NULL, 0);
    else
        fuse_reply_buf(req, bytes + off, len - (size_t)off < size ? len - (size_t)off : size);
out:
    leave(fs);
}

/*
 * A copy of old with content_len bytes of content (old's, then zeros), in
 * fs->scratch, for the caller to change and store: the view's own bytes
 * may move as soon as the database changes. Returns 0 or -errno.
 */
static int draft(struct fs *fs, const struct kdb_block *old, size_t content_len,
                 struct kdb_block *out)
{
    size_t need = old->source_uri_len + old->metadata_len + content_len;
    size_t keep = old->content_len < content_len ? old->content_len : content_len;
    uint8_t *p;

    if (content_len > fs->content_size_max) return -EFBIG;
    if (need > fs->scratch_size) {
        size_t size = fs->scratch_size ? fs->scratch_size : 4096;
        while (size < need)
            size *= 2;
        p = malloc(size);
        if (!p) return -ENOMEM;
        free(fs->scratch);
        fs->scratch = p;
        fs->scratch_size = size;
    }
    p = fs->scratch;
    *out = *old;
    out->source_uri = (const char *)p;
    if (old->source_uri_len) memcpy(p, old->source_uri, old->source_uri_len);
    p += old->source_uri_len;
    out->metadata = (const char *)p;
    if (old->metadata_len) memcpy(p, old->metadata, old->metadata_len);
    p += old->metadata_len;
    out->content = p;
    out->content_len = content_len;
    if (keep) memcpy(p, old->content, keep);
    memset(p + keep, 0, content_len - keep);
    return 0;
}

/* The block a file inode is, and its current version, or an errno. */
static int block_of(struct fs *fs, fuse_ino_t ino, const struct ns_key **k, struct kdb_block *view)
{
    int rc;

    *k = ns_key_of(&fs->ns, ino);
    if (!*k) return ESTALE;
    if ((*k)->kind != NS_BLOCK) return (*k)->kind == NS_README ? EPERM : EISDIR;
    rc = kdb_get_block_view(fs->db, as_id((*k)->id), view);
    return rc < 0 ? -rc : 0;
}

/*
 * The snapshot's entry of a block just changed takes its new size and time:
 * a listing with attributes (READDIRPLUS) must never give the kernel an
 * older size than the one it has, which it would believe.
 */
static void snapshot_update(struct fs *fs, const uint8_t *id)
{
    struct snapshot *snap = &fs->snapshot;
    struct kdb_block view;
    size_t lo = 0, hi = snap->count;

    if (!snap->valid) return;
    if (kdb_get_block_view(fs->db, as_id(id), &view) != 0) {
        kfs_blocks_changed(fs);
        return;
    }
    while (lo < hi) { /* the scan gave the blocks in id order */
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(snap->items[mid].id, id, KDB_ID_SIZE);
        if (c == 0) {
            snap->items[mid].size = view.content_len;
            snap->items[mid].mtime_ns = view.mtime_ns;
            return;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    kfs_blocks_changed(fs);
}

/* Stores a changed block; the node's attributes (its mtime) are the kernel's to drop. */
static int store(struct fs *fs, const struct ns_key *k, const struct kdb_block *b)
{
    int rc = kdb_put_block(fs->db, b, NULL);

    if (rc == 0) {
        snapshot_update(fs, k->id);
        changed(fs);
        drop_inode(fs, NS_NODE, k->id, 0);
        notify_kick(&fs->notify);
    }
    return rc;
}

static void write_block(fuse_req_t req, struct fs *fs, fuse_ino_t ino, const char *buf, size_t size,
                        off_t off)
{
    const struct ns_key *k;
    struct kdb_block view, b;
    int err = block_of(fs, ino, &k, &view);
    uint64_t end = (uint64_t)off + size;
    int rc;

    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    if (off < 0 || end > fs->content_size_max) {
        fuse_reply_err(req, off < 0 ? EINVAL : EFBIG);
        return;
    }
    rc = draft(fs, &view, end > view.content_len ? (size_t)end : view.content_len, &b);
    if (rc == 0) {
        memcpy((uint8_t *)(uintptr_t)b.content + off, buf, size);
        rc = store(fs, k, &b);
    }
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_write(req, size);
}

static void kfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                      struct fuse_file_info *fi)
{
    struct fs *fs = enter(req);

    (void)fi;
    write_block(req, fs, ino, buf, size, off);
    leave(fs);
}

/*
 * Only the size can be set: the mode and owners are the mount's, and the
 * times are the database's (the time of the last change), so a touch or
 * a copy that sets them is let be, and one that would change mode or owner
 * is refused.
 */
static void set_attributes(fuse_req_t req, struct fs *fs, fuse_ino_t ino, const struct stat *attr,
                           int to_set)
{
    const struct ns_key *k = ns_key_of(&fs->ns, ino);
    struct kdb_block view, b;
    struct stat st;
    int err = stat_of(fs, ino, &st);
    int rc;

    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    if (((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & 07777) != (st.st_mode & 07777)) ||
        ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != st.st_uid) ||
        ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != st.st_gid)) {
        fuse_reply_err(req, EPERM);
        return;
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (k->kind != NS_BLOCK) {
            fuse_reply_err(req, ns_is_dir(k->kind) ? EISDIR : EPERM);
            return;
        }
        if (attr->st_size < 0 || (uint64_t)attr->st_size > fs->content_size_max) {
            fuse_reply_err(req, attr->st_size < 0 ? EINVAL : EFBIG);
            return;
        }
        rc = kdb_get_block_view(fs->db, as_id(k->id), &view);
        if (rc == 0 && view.content_len != (size_t)attr->st_size) {
            rc = draft(fs, &view, (size_t)attr->st_size, &b);
            if (rc == 0) rc = store(fs, k, &b);
        }
        if (rc < 0) {
            fuse_reply_err(req, -rc);
            return;
        }
        (void)stat_of(fs, ino, &st);
    }
    fuse_reply_attr(req, &st, CACHE_TIMEOUT);
}

static void kfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                        struct fuse_file_info *fi)
{
    struct fs *fs = enter(req);

    (void)fi;
    set_attributes(req, fs, ino, attr, to_set);
    leave(fs);
}

/*
 * Creates blocks/<ID>: an empty block, with no source and metadata {}.
 * There is no CREATE handler: the kernel then makes the file with MKNOD
 * and opens it itself (no_open), so a new file costs no OPEN and no
 * RELEASE round trip either.
 */
static void make_block(fuse_req_t req, struct fs *fs, fuse_ino_t parent, const char *name,
                       mode_t mode)
{
    const struct ns_key *p = ns_key_of(&fs->ns, parent);
    struct kdb_block b;
    struct ns_key k;
    int rc;

    if (!p || p->kind != NS_BLOCKS || !S_ISREG(mode)) {
        fuse_reply_err(req, !p ? ESTALE : EPERM);
        return;
    }
    memset(&b, 0, sizeof(b));
    if (!ns_parse_id(name, b.id.bytes)) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    rc = find_block(fs, b.id.bytes, NULL);
    if (rc != ENOENT) {
        fuse_reply_err(req, rc ? rc : EEXIST);
        return;
    }
    rc = kdb_put_block(fs->db, &b, NULL);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    changed(fs);
    plan_blocks_changed(fs);
    notify_kick(&fs->notify);
    k = ns_key(NS_BLOCK, b.id.bytes, 0, NULL);
    reply_entry(req, fs, &k);
}

static void kfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    struct fs *fs = enter(req);

    (void)rdev;
    make_block(req, fs, parent, name, mode);
    leave(fs);
}

/* ---- edges: ln -s makes them, rm removes them ---- */

/* The edge an entry of an out/<type> or in/<type> directory is (or would be). */
static struct kdb_edge edge_at(const struct ns_key *dir, const uint8_t *far)
{
    struct kdb_edge e;
    bool out = dir->kind == NS_OUT_TYPE;

    memset(&e, 0, sizeof(e));
    memcpy(e.source.bytes, out ? dir->id : far, KDB_ID_SIZE);
    memcpy(e.target.bytes, out ? far : dir->id, KDB_ID_SIZE);
    e.type = dir->type;
    return e;
}

static void symlink_edge(fuse_req_t req, struct fs *fs, const char *target, fuse_ino_t parent,
                         const char *name)
{
    const struct ns_key *p = ns_key_of(&fs->ns, parent);
    struct ns_key dir, k;
    uint8_t far[KDB_ID_SIZE], named[KDB_ID_SIZE];
    struct kdb_edge e;
    int rc;

    if (!p || (p->kind != NS_OUT_TYPE && p->kind != NS_IN_TYPE)) {
        fuse_reply_err(req, !p ? ESTALE : EPERM);
        return;
    }
    dir = *p;
    if (!ns_parse_link_target(target, far) ||
        (ns_parse_id(name, named) && memcmp(named, far, KDB_ID_SIZE) != 0)) {
        fuse_reply_err(req, EINVAL); /* an id as the name must be the target's */
        return;
    }
    rc = find_block(fs, dir.id, NULL);
    if (rc == 0) rc = find_block(fs, far, NULL);
    if (rc) {
        fuse_reply_err(req, rc);
        return;
    }
    if (edge_exists(fs, dir.id, dir.type, far, dir.kind == NS_OUT_TYPE)) {
        fuse_reply_err(req, EEXIST);
        return;
    }
    e = edge_at(&dir, far);
    rc = kdb_put_edge(fs->db, &e);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    changed(fs);
    plan_edge(fs, &e, false);
    notify_kick(&fs->notify);
    if (!ns_parse_id(name, named)) add_alias(fs, parent, far, name);
    k = ns_key(dir.kind == NS_OUT_TYPE ? NS_LINK_OUT : NS_LINK_IN, dir.id, dir.type, far);
    reply_entry(req, fs, &k);
}

static void kfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    struct fs *fs = enter(req);
    symlink_edge(req, fs, link, parent, name);
    leave(fs);
}

static void unlink_name(fuse_req_t req, struct fs *fs, fuse_ino_t parent, const char *name)
{
    const struct ns_key *p = ns_key_of(&fs->ns, parent);
    uint8_t id[KDB_ID_SIZE];
    struct ns_key dir;
    struct kdb_edge e;
    int rc;

    if (!p) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    dir = *p;
    switch (dir.kind) {
    case NS_BLOCKS:
        if (!ns_parse_id(name, id)) {
            fuse_reply_err(req, ENOENT);
            return;
        }
        plan_block_delete(fs, id, true);
        rc = kdb_delete_block(fs->db, as_id(id));
        break;
    case NS_OUT_TYPE:
    case NS_IN_TYPE:
        if (!entry_far(fs, parent, name, id)) {
            fuse_reply_err(req, ENOENT);
            return;
        }
        e = edge_at(&dir, id);
        rc = kdb_delete_edge(fs->db, &e);
        if (rc == 0) plan_edge(fs, &e, true);
        break;
    default:
        rc = -EPERM;
        break;
    }
    if (rc == 0) changed(fs);
    notify_kick(&fs->notify);
    fuse_reply_err(req, -rc);
}

/* Directories are the database's: mkdir makes none (an unknown edge type is EINVAL). */
static void kfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fs *fs = enter(req);
    const struct ns_key *p = ns_key_of(&fs->ns, parent);
    unsigned type;

    (void)mode;
    if (!p)
        fuse_reply_err(req, ESTALE);
    else if (p->kind == NS_OUT || p->kind == NS_IN)
        fuse_reply_err(req,
                       kdb_edge_type_from_name(name, strlen(name), &type) < 0 ? EINVAL : EEXIST);
    else
        fuse_reply_err(req, EPERM);
    leave(fs);
}

/* The tree's shape is the database's: no directory goes, nothing is renamed or hard-linked. */
static void kfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void)parent;
    (void)name;
    fuse_reply_err(req, EPERM);
}

static void kfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                       const char *newname, unsigned int flags)
{
    (void)parent;
    (void)name;
    (void)newparent;
    (void)newname;
    (void)flags;
    fuse_reply_err(req, EPERM);
}

static void kfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino;
    (void)newparent;
    (void)newname;
    fuse_reply_err(req, EPERM);
}

static void kfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = enter(req);
    unlink_name(req, fs, parent, name);
    leave(fs);
}

/* ---- durability ---- */

static void kfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct fs *fs = enter(req);
    int rc = kdb_sync(fs->db);

    (void)ino;
    (void)datasync;
    (void)fi;
    fuse_reply_err(req, -rc);
    leave(fs);
}

/* ---- xattrs ---- */

static void reply_xattr(fuse_req_t req, size_t size, const char *value, size_t len)
{
    if (size == 0)
        fuse_reply_xattr(req, len);
    else if (size < len)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, value, len);
}

static bool has_xattrs(enum ns_kind kind)
{
    return kind == NS_BLOCK || kind == NS_NODE;
}

/* Which of xattr_names name is, or -1. */
static int xattr_index(const char *name)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, xattr_names[i]) == 0) return i;
    }
    return -1;
}

static void get_field(fuse_req_t req, struct fs *fs, fuse_ino_t ino, const char *name, size_t size)
{
    const struct ns_key *k = ns_key_of(&fs->ns, ino);
    struct kdb_block view;
    char version[24];
    int which = xattr_index(name), rc;

    if (strncmp(name, "user.", 5) != 0) {
        /* No security.*, system.* (ACLs) or trusted.* here. ENOTSUP rather than
         * ENODATA lets ls -l stop asking after the first file of the mount. */
        fuse_reply_err(req, ENOTSUP);
    } else if (k && k->kind == NS_ROOT && strcmp(name, KFS_XATTR_DATABASE) == 0) {
        reply_xattr(req, size, fs->db_path, strlen(fs->db_path));
    } else if (!k || !has_xattrs(k->kind) || which < 0) {
        fuse_reply_err(req, k ? ENODATA : ESTALE);
    } else if ((rc = find_block(fs, k->id, &view)) != 0) {
        fuse_reply_err(req, rc == ENOENT ? ENODATA : rc);
    } else if (which == 0) {
        reply_xattr(req, size, view.source_uri, view.source_uri_len);
    } else if (which == 1) {
        reply_xattr(req, size, view.metadata, view.metadata_len);
    } else {
        int n = snprintf(version, sizeof(version), "%llu", (unsigned long long)view.version);
        reply_xattr(req, size, version, (size_t)n);
    }
}

static void kfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct fs *fs = enter(req);
    get_field(req, fs, ino, name, size);
    leave(fs);
}

static void kfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct fs *fs = enter(req);
    const struct ns_key *k = ns_key_of(&fs->ns, ino);
    char list[128];
    size_t len = 0;

    if (!k) {
        fuse_reply_err(req, ESTALE);
    } else {
        if (k->kind == NS_ROOT) {
            memcpy(list, KFS_XATTR_DATABASE, sizeof(KFS_XATTR_DATABASE));
            len = sizeof(KFS_XATTR_DATABASE);
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
    leave(fs);
}

/*
 * Sets (value) or removes (value NULL: back to "" or {}) the source URI or
 * the metadata; the version is the database's. Returns an errno.
 */
static int set_field(struct fs *fs, fuse_ino_t ino, const char *name, const char *value,
                     size_t size, int flags)
{
    const struct ns_key *k = ns_key_of(&fs->ns, ino);
    struct kdb_block view, b;
    int which = xattr_index(name);
    int rc;

    if (!k) return ESTALE;
    if (!has_xattrs(k->kind)) return strncmp(name, "user.", 5) == 0 ? EPERM : ENOTSUP;
    if (which < 0) return strncmp(name, "user.", 5) == 0 ? EPERM : ENOTSUP;
    if (which == 2) return EPERM;
    if (flags & XATTR_CREATE) return EEXIST; /* both always have a value */
    rc = kdb_get_block_view(fs->db, as_id(k->id), &view);
    if (rc == 0) rc = draft(fs, &view, view.content_len, &b);
    if (rc < 0) return -rc;
    if (which == 0) {
        b.source_uri = value;
        b.source_uri_len = value ? size : 0;
    } else {
        b.metadata = value ? value : "{}";
        b.metadata_len = value ? size : 2;
    }
    rc = store(fs, k, &b);
    return rc == -EFBIG ? E2BIG : -rc; /* setxattr(2)'s errno for a value too large */
}

static void kfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                         size_t size, int flags)
{
    struct fs *fs = enter(req);
    fuse_reply_err(req, set_field(fs, ino, name, value ? value : "", size, flags));
    leave(fs);
}

static void kfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    struct fs *fs = enter(req);
    fuse_reply_err(req, set_field(fs, ino, name, NULL, 0, 0));
    leave(fs);
}

static void kfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct fs *fs = fuse_req_userdata(req);
    struct statvfs st;

    (void)ino;
    if (statvfs(fs->db_path, &st) < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_statfs(req, &st);
}

const struct fuse_lowlevel_ops kfs_ops = {
    .init = kfs_init,
    .lookup = kfs_lookup,
    .getattr = kfs_getattr,
    .setattr = kfs_setattr,
    .readlink = kfs_readlink,
    .symlink = kfs_symlink,
    .unlink = kfs_unlink,
    .mkdir = kfs_mkdir,
    .rmdir = kfs_rmdir,
    .rename = kfs_rename,
    .link = kfs_link,
    .opendir = kfs_opendir,
    .readdir = kfs_readdir,
    .readdirplus = kfs_readdirplus,
    .fsyncdir = kfs_fsync,
    .open = kfs_open,
    .read = kfs_read,
    .write = kfs_write,
    .fsync = kfs_fsync,
    .mknod = kfs_mknod,
    .getxattr = kfs_getxattr,
    .listxattr = kfs_listxattr,
    .setxattr = kfs_setxattr,
    .removexattr = kfs_removexattr,
    .statfs = kfs_statfs,
};
