/* SPDX-License-Identifier: MIT */
/*
 * vfs_mem.c: in-memory file system with durable and volatile state (see
 * vfs_mem.h). Tests only: it favours plainness over speed, uses malloc and
 * asserts its own invariants with assert(3).
 */
#include "vfs_mem.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEM_FILES_MAX 1024
#define MEM_FDS_MAX   64
#define MEM_PATH_MAX  128
#define MEM_PAGE_SIZE 4096

struct mem_content {
    uint8_t *bytes;
    size_t size;
};

struct mem_inode {
    bool used;
    struct mem_content now;     /* what readers see */
    struct mem_content durable; /* what survives a crash */
    bool locked;
};

struct mem_name {
    char path[MEM_PATH_MAX]; /* "" when the entry is free */
    int inode;
};

struct vfs_mem {
    struct kdb_vfs vfs;
    pthread_mutex_t lock; /* every VFS call holds it: the engine calls from several threads */
    struct mem_inode inodes[MEM_FILES_MAX];
    struct mem_name names[MEM_FILES_MAX];   /* current directory entries */
    struct mem_name durable[MEM_FILES_MAX]; /* entries as of the last sync_dir */
    int fds[MEM_FDS_MAX];                   /* inode per descriptor, -1 when closed */
    bool fd_locks[MEM_FDS_MAX];             /* descriptor holds its inode's lock */
    char dirs[8][MEM_PATH_MAX];             /* directories made by mkdir */
    uint64_t clock_ns;
    uint64_t rng;
};

static uint64_t next_random(uint64_t *state)
{
    /* splitmix64 */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void content_set(struct mem_content *dst, const struct mem_content *src)
{
    free(dst->bytes);
    dst->bytes = NULL;
    dst->size = src->size;
    if (src->size) {
        dst->bytes = malloc(src->size);
        assert(dst->bytes);
        memcpy(dst->bytes, src->bytes, src->size);
    }
}

static int content_resize(struct mem_content *c, size_t size)
{
    uint8_t *bytes;

    if (size == c->size) return 0;
    bytes = realloc(c->bytes, size ? size : 1);
    if (!bytes) return -ENOMEM;
    if (size > c->size) memset(bytes + c->size, 0, size - c->size);
    c->bytes = bytes;
    c->size = size;
    return 0;
}

static struct mem_name *find_name(struct mem_name *names, const char *path)
{
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if (names[i].path[0] && strcmp(names[i].path, path) == 0) return &names[i];
    }
    return NULL;
}

static struct mem_name *add_name(struct mem_name *names, const char *path, int inode)
{
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if (!names[i].path[0]) {
            assert(strlen(path) < MEM_PATH_MAX);
            strncpy(names[i].path, path, MEM_PATH_MAX - 1);
            names[i].inode = inode;
            return &names[i];
        }
    }
    return NULL;
}

static bool dir_exists(const struct vfs_mem *m, const char *path)
{
    for (int i = 0; i < 8; i++) {
        if (m->dirs[i][0] && strcmp(m->dirs[i], path) == 0) return true;
    }
    return false;
}

/* The parent directory of path must exist. */
static bool parent_exists(const struct vfs_mem *m, const char *path)
{
    char dir[MEM_PATH_MAX];
    const char *slash = strrchr(path, '/');

    if (!slash) return true;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    return dir_exists(m, dir);
}

static int new_inode(struct vfs_mem *m)
{
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if (!m->inodes[i].used) {
            memset(&m->inodes[i], 0, sizeof(m->inodes[i]));
            m->inodes[i].used = true;
            return i;
        }
    }
    return -1;
}

static struct mem_inode *fd_inode(struct vfs_mem *m, int fd)
{
    if (fd < 0 || fd >= MEM_FDS_MAX || m->fds[fd] < 0) return NULL;
    return &m->inodes[m->fds[fd]];
}

/* Frees an inode no name, durable name or descriptor refers to any more. */
static void release_if_unused(struct vfs_mem *m, int inode)
{
    if (inode < 0 || !m->inodes[inode].used) return;
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if ((m->names[i].path[0] && m->names[i].inode == inode) ||
            (m->durable[i].path[0] && m->durable[i].inode == inode))
            return;
    }
    for (int i = 0; i < MEM_FDS_MAX; i++) {
        if (m->fds[i] == inode) return;
    }
    free(m->inodes[inode].now.bytes);
    free(m->inodes[inode].durable.bytes);
    memset(&m->inodes[inode], 0, sizeof(m->inodes[inode]));
}

static int mem_open(void *ctx, const char *path, unsigned flags, int *fd_out)
{
    struct vfs_mem *m = ctx;
    struct mem_name *name = find_name(m->names, path);
    int fd;

    *fd_out = -1;
    if (name && (flags & KDB_VFS_OPEN_CREATE) && (flags & KDB_VFS_OPEN_EXCL)) return -EEXIST;
    if (!name) {
        int inode;
        if (!(flags & KDB_VFS_OPEN_CREATE)) return -ENOENT;
        if (!parent_exists(m, path)) return -ENOENT;
        inode = new_inode(m);
        if (inode < 0) return -ENOSPC;
        name = add_name(m->names, path, inode);
        if (!name) return -ENOSPC;
    }
    for (fd = 0; fd < MEM_FDS_MAX && m->fds[fd] >= 0; fd++)
        ;
    if (fd == MEM_FDS_MAX) return -EMFILE;
    m->fds[fd] = name->inode;
    m->fd_locks[fd] = false;
    if (flags & KDB_VFS_OPEN_TRUNCATE) (void)content_resize(&m->inodes[name->inode].now, 0);
    *fd_out = fd;
    return 0;
}

static int mem_close(void *ctx, int fd)
{
    struct vfs_mem *m = ctx;
    struct mem_inode *inode = fd_inode(m, fd);

    if (!inode) return -EBADF;
    if (m->fd_locks[fd]) inode->locked = false;
    m->fd_locks[fd] = false;
    int number = m->fds[fd];
    m->fds[fd] = -1;
    release_if_unused(m, number);
    return 0;
}

static int mem_pread(void *ctx, int fd, void *buf, size_t len, uint64_t offset, size_t *read_out)
{
    struct mem_inode *inode = fd_inode(ctx, fd);
    size_t n = 0;

    *read_out = 0;
    if (!inode) return -EBADF;
    if (offset < inode->now.size) {
        n = inode->now.size - (size_t)offset;
        if (n > len) n = len;
        memcpy(buf, inode->now.bytes + offset, n);
    }
    *read_out = n;
    return 0;
}

static int mem_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t offset)
{
    struct mem_inode *inode = fd_inode(ctx, fd);

    if (!inode) return -EBADF;
    if (offset + len > inode->now.size && content_resize(&inode->now, offset + len) < 0)
        return -ENOSPC;
    memcpy(inode->now.bytes + offset, buf, len);
    return 0;
}

static int mem_fsync(void *ctx, int fd)
{
    struct mem_inode *inode = fd_inode(ctx, fd);

    if (!inode) return -EBADF;
    content_set(&inode->durable, &inode->now);
    return 0;
}

static int mem_writeback(void *ctx, int fd, uint64_t offset, uint64_t len)
{
    (void)offset;
    (void)len;
    return fd_inode(ctx, fd) ? 0 : -EBADF;
}

static int mem_truncate(void *ctx, int fd, uint64_t size)
{
    struct mem_inode *inode = fd_inode(ctx, fd);

    if (!inode) return -EBADF;
    return content_resize(&inode->now, size);
}

static int mem_file_size(void *ctx, int fd, uint64_t *size_out)
{
    struct mem_inode *inode = fd_inode(ctx, fd);

    *size_out = 0;
    if (!inode) return -EBADF;
    *size_out = inode->now.size;
    return 0;
}

/* A snapshot: later writes to the file do not show, as with MAP_PRIVATE pages once copied. */
static int mem_map(void *ctx, int fd, uint64_t size, const void **addr_out)
{
    struct mem_inode *inode = fd_inode(ctx, fd);
    uint8_t *copy;

    *addr_out = NULL;
    if (!inode) return -EBADF;
    if (size == 0 || size > inode->now.size) return -EINVAL;
    copy = malloc((size_t)size);
    if (!copy) return -ENOMEM;
    memcpy(copy, inode->now.bytes, (size_t)size);
    *addr_out = copy;
    return 0;
}

static int mem_unmap(void *ctx, const void *addr, uint64_t size)
{
    (void)ctx;
    (void)size;
    free((void *)addr);
    return 0;
}

static int mem_rename(void *ctx, const char *from, const char *to)
{
    struct vfs_mem *m = ctx;
    struct mem_name *src = find_name(m->names, from);
    struct mem_name *dst = find_name(m->names, to);

    int replaced = dst ? dst->inode : -1;

    if (!src) return -ENOENT;
    if (dst == src) return 0;
    if (dst)
        dst->inode = src->inode;
    else if (!add_name(m->names, to, src->inode))
        return -ENOSPC;
    src->path[0] = '\0';
    release_if_unused(m, replaced);
    return 0;
}

static int mem_unlink(void *ctx, const char *path)
{
    struct vfs_mem *m = ctx;
    struct mem_name *name = find_name(m->names, path);

    if (!name) return -ENOENT;
    name->path[0] = '\0';
    release_if_unused(m, name->inode);
    return 0;
}

static int mem_mkdir(void *ctx, const char *path)
{
    struct vfs_mem *m = ctx;

    if (dir_exists(m, path)) return -EEXIST;
    for (int i = 0; i < 8; i++) {
        if (!m->dirs[i][0]) {
            strncpy(m->dirs[i], path, MEM_PATH_MAX - 1);
            return 0;
        }
    }
    return -ENOSPC;
}

static bool in_dir(const char *path, const char *dir)
{
    size_t len = strlen(dir);
    return strncmp(path, dir, len) == 0 && path[len] == '/' && !strchr(path + len + 1, '/');
}

static int mem_sync_dir(void *ctx, const char *path)
{
    struct vfs_mem *m = ctx;

    int dropped[MEM_FILES_MAX];
    int dropped_count = 0;

    if (!dir_exists(m, path)) return -ENOENT;
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if (m->durable[i].path[0] && in_dir(m->durable[i].path, path)) {
            m->durable[i].path[0] = '\0';
            dropped[dropped_count++] = m->durable[i].inode;
        }
    }
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if (m->names[i].path[0] && in_dir(m->names[i].path, path)) {
            struct mem_name *added = add_name(m->durable, m->names[i].path, m->names[i].inode);
            assert(added);
            (void)added;
        }
    }
    for (int i = 0; i < dropped_count; i++)
        release_if_unused(m, dropped[i]);
    return 0;
}

static int mem_list_dir(void *ctx, const char *path, kdb_vfs_list_fn fn, void *fn_ctx)
{
    struct vfs_mem *m = ctx;
    char names[MEM_FILES_MAX][MEM_PATH_MAX];
    int count = 0;

    /* Copy first, under the lock: fn may call the VFS. */
    pthread_mutex_lock(&m->lock);
    if (!dir_exists(m, path)) {
        pthread_mutex_unlock(&m->lock);
        return -ENOENT;
    }
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if (m->names[i].path[0] && in_dir(m->names[i].path, path))
            snprintf(names[count++], MEM_PATH_MAX, "%s", m->names[i].path + strlen(path) + 1);
    }
    pthread_mutex_unlock(&m->lock);
    for (int i = 0; i < count; i++) {
        int rc = fn(fn_ctx, names[i]);
        if (rc) return rc;
    }
    return 0;
}

static int mem_lock(void *ctx, int fd)
{
    struct vfs_mem *m = ctx;
    struct mem_inode *inode = fd_inode(m, fd);

    if (!inode) return -EBADF;
    if (inode->locked) return -EBUSY;
    inode->locked = true;
    m->fd_locks[fd] = true;
    return mem_pwrite(ctx, fd, "4242\n", 5, 0);
}

static uint64_t mem_now_ns(void *ctx)
{
    struct vfs_mem *m = ctx;
    return m->clock_ns += 1000;
}

static int mem_random(void *ctx, void *buf, size_t len)
{
    struct vfs_mem *m = ctx;
    uint8_t *p = buf;

    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)next_random(&m->rng);
    return 0;
}

/* ---- the VFS table: each call under the lock ---- */

#define LOCKED(call)                                                                               \
    do {                                                                                           \
        struct vfs_mem *m_ = ctx;                                                                  \
        pthread_mutex_lock(&m_->lock);                                                             \
        int rc_ = (call);                                                                          \
        pthread_mutex_unlock(&m_->lock);                                                           \
        return rc_;                                                                                \
    } while (0)

static int locked_open(void *ctx, const char *path, unsigned flags, int *fd_out)
{
    LOCKED(mem_open(ctx, path, flags, fd_out));
}
static int locked_close(void *ctx, int fd)
{
    LOCKED(mem_close(ctx, fd));
}
static int locked_pread(void *ctx, int fd, void *buf, size_t len, uint64_t offset, size_t *out)
{
    LOCKED(mem_pread(ctx, fd, buf, len, offset, out));
}
static int locked_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t offset)
{
    LOCKED(mem_pwrite(ctx, fd, buf, len, offset));
}
static int locked_fsync(void *ctx, int fd)
{
    LOCKED(mem_fsync(ctx, fd));
}
static int locked_writeback(void *ctx, int fd, uint64_t offset, uint64_t len)
{
    LOCKED(mem_writeback(ctx, fd, offset, len));
}
static int locked_truncate(void *ctx, int fd, uint64_t size)
{
    LOCKED(mem_truncate(ctx, fd, size));
}
static int locked_file_size(void *ctx, int fd, uint64_t *size_out)
{
    LOCKED(mem_file_size(ctx, fd, size_out));
}
static int locked_map(void *ctx, int fd, uint64_t size, const void **addr_out)
{
    LOCKED(mem_map(ctx, fd, size, addr_out));
}
static int locked_rename(void *ctx, const char *from, const char *to)
{
    LOCKED(mem_rename(ctx, from, to));
}
static int locked_unlink(void *ctx, const char *path)
{
    LOCKED(mem_unlink(ctx, path));
}
static int locked_mkdir(void *ctx, const char *path)
{
    LOCKED(mem_mkdir(ctx, path));
}
static int locked_sync_dir(void *ctx, const char *path)
{
    LOCKED(mem_sync_dir(ctx, path));
}
static int locked_lock(void *ctx, int fd)
{
    LOCKED(mem_lock(ctx, fd));
}
static int locked_random(void *ctx, void *buf, size_t len)
{
    LOCKED(mem_random(ctx, buf, len));
}
static uint64_t locked_now_ns(void *ctx)
{
    struct vfs_mem *m = ctx;
    pthread_mutex_lock(&m->lock);
    uint64_t now = mem_now_ns(ctx);
    pthread_mutex_unlock(&m->lock);
    return now;
}

struct vfs_mem *vfs_mem_new(uint64_t seed)
{
    struct vfs_mem *m = calloc(1, sizeof(*m));

    assert(m);
    m->vfs = (struct kdb_vfs){
        .ctx = m,
        .open = locked_open,
        .close = locked_close,
        .pread = locked_pread,
        .pwrite = locked_pwrite,
        .fsync = locked_fsync,
        .writeback = locked_writeback,
        .truncate = locked_truncate,
        .file_size = locked_file_size,
        .map = locked_map,
        .unmap = mem_unmap,
        .rename = locked_rename,
        .unlink = locked_unlink,
        .mkdir = locked_mkdir,
        .sync_dir = locked_sync_dir,
        .list_dir = mem_list_dir,
        .lock = locked_lock,
        .now_ns = locked_now_ns,
        .random = locked_random,
    };
    pthread_mutex_init(&m->lock, NULL);
    for (int i = 0; i < MEM_FDS_MAX; i++)
        m->fds[i] = -1;
    m->clock_ns = 1700000000ull * 1000000000ull;
    m->rng = seed;
    return m;
}

void vfs_mem_free(struct vfs_mem *m)
{
    if (!m) return;
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        free(m->inodes[i].now.bytes);
        free(m->inodes[i].durable.bytes);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

const struct kdb_vfs *vfs_mem_vfs(struct vfs_mem *m)
{
    return &m->vfs;
}

/* After a cut: only durable names remain, and only inodes they name. */
static void drop_volatile_names(struct vfs_mem *m)
{
    bool referenced[MEM_FILES_MAX] = {false};

    memcpy(m->names, m->durable, sizeof(m->names));
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if (m->names[i].path[0]) referenced[m->names[i].inode] = true;
    }
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if (m->inodes[i].used && !referenced[i]) {
            free(m->inodes[i].now.bytes);
            free(m->inodes[i].durable.bytes);
            memset(&m->inodes[i], 0, sizeof(m->inodes[i]));
        }
        m->inodes[i].locked = false;
    }
    for (int i = 0; i < MEM_FDS_MAX; i++) {
        m->fds[i] = -1;
        m->fd_locks[i] = false;
    }
}

void vfs_mem_crash(struct vfs_mem *m)
{
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if (m->inodes[i].used) content_set(&m->inodes[i].now, &m->inodes[i].durable);
    }
    drop_volatile_names(m);
}

/* Keeps each dirty page of inode with probability one half. */
static void tear_inode(struct mem_inode *inode, uint64_t *rng)
{
    struct mem_content *now = &inode->now, *durable = &inode->durable;
    size_t size = (next_random(rng) & 1) ? now->size : durable->size;
    uint8_t *bytes = calloc(1, size ? size : 1);

    assert(bytes);
    for (size_t page = 0; page < size; page += MEM_PAGE_SIZE) {
        size_t end = page + MEM_PAGE_SIZE < size ? page + MEM_PAGE_SIZE : size;
        bool written = next_random(rng) & 1;
        for (size_t i = page; i < end; i++) {
            if (written && i < now->size)
                bytes[i] = now->bytes[i];
            else if (i < durable->size)
                bytes[i] = durable->bytes[i];
        }
    }
    free(now->bytes);
    now->bytes = bytes;
    now->size = size;
    content_set(durable, now);
}

void vfs_mem_crash_torn(struct vfs_mem *m, uint64_t seed)
{
    uint64_t rng = seed;

    for (int i = 0; i < MEM_FILES_MAX; i++) {
        if (m->inodes[i].used) tear_inode(&m->inodes[i], &rng);
    }
    drop_volatile_names(m);
}

int64_t vfs_mem_file_size(struct vfs_mem *m, const char *path)
{
    struct mem_name *name = find_name(m->names, path);
    return name ? (int64_t)m->inodes[name->inode].now.size : -1;
}

uint8_t *vfs_mem_file_data(struct vfs_mem *m, const char *path)
{
    struct mem_name *name = find_name(m->names, path);
    return name ? m->inodes[name->inode].now.bytes : NULL;
}

int vfs_mem_set_size(struct vfs_mem *m, const char *path, uint64_t size)
{
    struct mem_name *name = find_name(m->names, path);

    if (!name) return -ENOENT;
    if (content_resize(&m->inodes[name->inode].now, size) < 0) return -ENOMEM;
    return vfs_mem_commit(m, path);
}

int vfs_mem_commit(struct vfs_mem *m, const char *path)
{
    struct mem_name *name = find_name(m->names, path);

    if (!name) return -ENOENT;
    content_set(&m->inodes[name->inode].durable, &m->inodes[name->inode].now);
    return 0;
}

struct vfs_mem *vfs_mem_clone(const struct vfs_mem *src)
{
    struct vfs_mem *m = vfs_mem_new(src->rng);

    memcpy(m->names, src->names, sizeof(m->names));
    memcpy(m->durable, src->durable, sizeof(m->durable));
    memcpy(m->dirs, src->dirs, sizeof(m->dirs));
    m->clock_ns = src->clock_ns;
    for (int i = 0; i < MEM_FILES_MAX; i++) {
        m->inodes[i].used = src->inodes[i].used;
        content_set(&m->inodes[i].now, &src->inodes[i].now);
        content_set(&m->inodes[i].durable, &src->inodes[i].durable);
    }
    return m;
}

int vfs_mem_open_count(const struct vfs_mem *m)
{
    int count = 0;

    for (int i = 0; i < MEM_FDS_MAX; i++)
        count += m->fds[i] >= 0;
    return count;
}
