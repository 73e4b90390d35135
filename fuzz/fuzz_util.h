/* SPDX-License-Identifier: MIT */
/*
 * fuzz_util.h: what the fuzz targets share: a database directory on the
 * in-memory disk of the tests (tests/vfs_mem.c), and a file of it filled
 * with the fuzzer's bytes.
 */
#ifndef KDB_FUZZ_UTIL_H
#define KDB_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "env.h"
#include "kdb.h"
#include "vfs_mem.h"

#define FUZZ_DB "db"

/* A fresh in-memory disk with the directory FUZZ_DB, and an env over it. */
static inline struct vfs_mem *fuzz_disk(struct env *env, struct kdb_options *options)
{
    struct vfs_mem *mem = vfs_mem_new(1);
    const struct kdb_vfs *vfs;

    if (!mem) abort();
    vfs = vfs_mem_vfs(mem);
    kdb_options_init(options);
    options->vfs = vfs;
    env_init(env, options);
    if (vfs->mkdir(vfs->ctx, FUZZ_DB) < 0) abort();
    return mem;
}

/* Writes data as the file FUZZ_DB/name, durably. */
static inline void fuzz_file(struct vfs_mem *mem, const char *name, const uint8_t *data,
                             size_t size)
{
    const struct kdb_vfs *vfs = vfs_mem_vfs(mem);
    char path[256];
    int fd = -1;

    snprintf(path, sizeof(path), FUZZ_DB "/%s", name);
    if (vfs->open(vfs->ctx, path, KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE | KDB_VFS_OPEN_TRUNCATE,
                  &fd) < 0)
        abort();
    if (size && vfs->pwrite(vfs->ctx, fd, data, size, 0) < 0) abort();
    if (vfs->fsync(vfs->ctx, fd) < 0) abort();
    (void)vfs->close(vfs->ctx, fd);
    if (vfs->sync_dir(vfs->ctx, FUZZ_DB) < 0) abort();
}

#endif /* KDB_FUZZ_UTIL_H */
