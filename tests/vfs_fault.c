/* SPDX-License-Identifier: MIT */
/*
 * vfs_fault.c: fault injection around another VFS (see vfs_fault.h).
 */
#include "vfs_fault.h"

#include <string.h>

#define BASE(f) ((f)->base)

/* Counts a change; returns the error to inject, or 0 to go ahead. */
static int change(struct vfs_fault *f, bool *tear)
{
    uint64_t n = __atomic_add_fetch(&f->change_count, 1, __ATOMIC_SEQ_CST);

    *tear = false;
    if (f->kind != VFS_FAULT_FAIL && f->kind != VFS_FAULT_TEAR) return 0;
    if (n < f->at || (n > f->at && !f->persistent)) return 0;
    __atomic_store_n(&f->fired, true, __ATOMIC_SEQ_CST);
    if (n == f->at && f->kind == VFS_FAULT_TEAR) *tear = true;
    return f->errno_value;
}

static int fault_open(void *ctx, const char *path, unsigned flags, int *fd_out)
{
    struct vfs_fault *f = ctx;
    bool tear;

    *fd_out = -1;
    if (flags & KDB_VFS_OPEN_CREATE) {
        int rc = change(f, &tear);
        if (rc) return rc;
    }
    return BASE(f)->open(BASE(f)->ctx, path, flags, fd_out);
}

static int fault_close(void *ctx, int fd)
{
    struct vfs_fault *f = ctx;
    return BASE(f)->close(BASE(f)->ctx, fd);
}

static int fault_pread(void *ctx, int fd, void *buf, size_t len, uint64_t offset, size_t *read_out)
{
    struct vfs_fault *f = ctx;
    uint64_t n = __atomic_add_fetch(&f->read_count, 1, __ATOMIC_SEQ_CST);
    int rc = BASE(f)->pread(BASE(f)->ctx, fd, buf, len, offset, read_out);

    if (rc == 0 && f->kind == VFS_FAULT_FLIP_READ && n == f->at && f->flip_bit / 8 < *read_out) {
        ((uint8_t *)buf)[f->flip_bit / 8] ^= (uint8_t)(1u << (f->flip_bit % 8));
        __atomic_store_n(&f->fired, true, __ATOMIC_SEQ_CST);
    }
    return rc;
}

static int fault_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t offset)
{
    struct vfs_fault *f = ctx;
    bool tear;
    int rc = change(f, &tear);

    if (rc == 0) {
        __atomic_add_fetch(&f->pwrite_count, 1, __ATOMIC_SEQ_CST);
        return BASE(f)->pwrite(BASE(f)->ctx, fd, buf, len, offset);
    }
    if (tear && f->tear_bytes)
        (void)BASE(f)->pwrite(BASE(f)->ctx, fd, buf, f->tear_bytes < len ? f->tear_bytes : len,
                              offset);
    return rc;
}

#define CHANGE_OR_RETURN(f)                                                                        \
    do {                                                                                           \
        bool tear_;                                                                                \
        int rc_ = change((f), &tear_);                                                             \
        if (rc_) return rc_;                                                                       \
    } while (0)

static int fault_fsync(void *ctx, int fd)
{
    struct vfs_fault *f = ctx;
    CHANGE_OR_RETURN(f);
    __atomic_add_fetch(&f->fsync_count, 1, __ATOMIC_SEQ_CST);
    return BASE(f)->fsync(BASE(f)->ctx, fd);
}

static int fault_writeback(void *ctx, int fd, uint64_t offset, uint64_t len)
{
    struct vfs_fault *f = ctx;
    return BASE(f)->writeback(BASE(f)->ctx, fd, offset, len);
}

static int fault_truncate(void *ctx, int fd, uint64_t size)
{
    struct vfs_fault *f = ctx;
    CHANGE_OR_RETURN(f);
    return BASE(f)->truncate(BASE(f)->ctx, fd, size);
}

static int fault_file_size(void *ctx, int fd, uint64_t *size_out)
{
    struct vfs_fault *f = ctx;
    return BASE(f)->file_size(BASE(f)->ctx, fd, size_out);
}

static int fault_map(void *ctx, int fd, uint64_t size, const void **addr_out)
{
    struct vfs_fault *f = ctx;
    return BASE(f)->map(BASE(f)->ctx, fd, size, addr_out);
}

static int fault_unmap(void *ctx, const void *addr, uint64_t size)
{
    struct vfs_fault *f = ctx;
    return BASE(f)->unmap(BASE(f)->ctx, addr, size);
}

static void fault_release(void *ctx, const void *addr, uint64_t size)
{
    struct vfs_fault *f = ctx;
    if (BASE(f)->release) BASE(f)->release(BASE(f)->ctx, addr, size);
}

static int fault_rename(void *ctx, const char *from, const char *to)
{
    struct vfs_fault *f = ctx;
    CHANGE_OR_RETURN(f);
    return BASE(f)->rename(BASE(f)->ctx, from, to);
}

static int fault_unlink(void *ctx, const char *path)
{
    struct vfs_fault *f = ctx;
    CHANGE_OR_RETURN(f);
    return BASE(f)->unlink(BASE(f)->ctx, path);
}

static int fault_mkdir(void *ctx, const char *path)
{
    struct vfs_fault *f = ctx;
    CHANGE_OR_RETURN(f);
    return BASE(f)->mkdir(BASE(f)->ctx, path);
}

static int fault_sync_dir(void *ctx, const char *path)
{
    struct vfs_fault *f = ctx;
    CHANGE_OR_RETURN(f);
    return BASE(f)->sync_dir(BASE(f)->ctx, path);
}

static int fault_list_dir(void *ctx, const char *path, kdb_vfs_list_fn fn, void *fn_ctx)
{
    struct vfs_fault *f = ctx;
    return BASE(f)->list_dir(BASE(f)->ctx, path, fn, fn_ctx);
}

static int fault_lock(void *ctx, int fd)
{
    struct vfs_fault *f = ctx;
    return BASE(f)->lock(BASE(f)->ctx, fd);
}

static uint64_t fault_now_ns(void *ctx)
{
    struct vfs_fault *f = ctx;
    return BASE(f)->now_ns(BASE(f)->ctx);
}

static int fault_random(void *ctx, void *buf, size_t len)
{
    struct vfs_fault *f = ctx;
    return BASE(f)->random(BASE(f)->ctx, buf, len);
}

void vfs_fault_init(struct vfs_fault *f, const struct kdb_vfs *base)
{
    memset(f, 0, sizeof(*f));
    f->base = base;
    f->vfs = (struct kdb_vfs){
        .ctx = f,
        .open = fault_open,
        .close = fault_close,
        .pread = fault_pread,
        .pwrite = fault_pwrite,
        .fsync = fault_fsync,
        .writeback = fault_writeback,
        .truncate = fault_truncate,
        .file_size = fault_file_size,
        .map = fault_map,
        .unmap = fault_unmap,
        .rename = fault_rename,
        .unlink = fault_unlink,
        .mkdir = fault_mkdir,
        .sync_dir = fault_sync_dir,
        .list_dir = fault_list_dir,
        .lock = fault_lock,
        .now_ns = fault_now_ns,
        .random = fault_random,
        .release = fault_release,
    };
}

void vfs_fault_fail(struct vfs_fault *f, uint64_t at, int errno_value, bool persistent)
{
    f->kind = VFS_FAULT_FAIL;
    f->at = at;
    f->errno_value = errno_value;
    f->persistent = persistent;
}

void vfs_fault_tear(struct vfs_fault *f, uint64_t at, size_t tear_bytes)
{
    f->kind = VFS_FAULT_TEAR;
    f->at = at;
    f->errno_value = -EIO;
    f->persistent = true;
    f->tear_bytes = tear_bytes;
}

void vfs_fault_flip_read(struct vfs_fault *f, uint64_t at, uint64_t bit)
{
    f->kind = VFS_FAULT_FLIP_READ;
    f->at = at;
    f->flip_bit = bit;
}
