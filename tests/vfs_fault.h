/* SPDX-License-Identifier: MIT */
/*
 * vfs_fault.h: a struct kdb_vfs that wraps another and injects faults.
 *
 * It counts the calls that change the disk (pwrite, fsync, truncate,
 * rename, unlink, sync_dir, mkdir, and open with CREATE) and reads (pread)
 * separately. A fault is armed on one of those counts:
 * - fail the Nth call with an errno, once or from then on (a crash, seen
 *   from inside the process, is "from then on");
 * - tear the Nth pwrite: write only its first k bytes, then fail it;
 * - flip one bit in what the Nth pread returns.
 * Counts start at 1. With nothing armed it only counts.
 */
#ifndef KDB_TESTS_VFS_FAULT_H
#define KDB_TESTS_VFS_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kdb.h"

enum vfs_fault_kind {
    VFS_FAULT_NONE = 0,
    VFS_FAULT_FAIL,      /* the Nth change fails with errno_value */
    VFS_FAULT_TEAR,      /* the Nth change, if a pwrite, writes tear_bytes then fails */
    VFS_FAULT_FLIP_READ, /* the Nth pread comes back with bit flip_bit flipped */
};

struct vfs_fault {
    struct kdb_vfs vfs;         /* the wrapper; vfs.ctx points at this struct */
    const struct kdb_vfs *base; /* the wrapped VFS, borrowed */
    enum vfs_fault_kind kind;
    uint64_t at;           /* which call (1-based) */
    bool persistent;       /* FAIL and TEAR: every later change fails too */
    int errno_value;       /* negative errno returned */
    size_t tear_bytes;     /* TEAR: bytes written before failing */
    uint64_t flip_bit;     /* FLIP_READ: bit index into the read buffer */
    uint64_t change_count; /* changing calls seen */
    uint64_t read_count;   /* preads seen */
    uint64_t fsync_count;  /* fsyncs that reached the wrapped VFS */
    uint64_t pwrite_count; /* pwrites that reached the wrapped VFS */
    bool fired;            /* the fault happened */
};

/* Wraps base with nothing armed. */
void vfs_fault_init(struct vfs_fault *fault, const struct kdb_vfs *base);

/* Arms a failure of change number at. */
void vfs_fault_fail(struct vfs_fault *fault, uint64_t at, int errno_value, bool persistent);

/* Arms a torn pwrite at change number at; later changes fail (a crash). */
void vfs_fault_tear(struct vfs_fault *fault, uint64_t at, size_t tear_bytes);

/* Arms a bit flip in pread number at. */
void vfs_fault_flip_read(struct vfs_fault *fault, uint64_t at, uint64_t bit);

#endif /* KDB_TESTS_VFS_FAULT_H */
