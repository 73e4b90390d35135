/* SPDX-License-Identifier: MIT */
/*
 * vfs_mem.h: an in-memory struct kdb_vfs that knows what is durable.
 *
 * Files are inodes with two contents: what readers see now, and what an
 * fsync last made durable. Names likewise: what the directory holds now, and
 * what its last sync_dir made durable. vfs_mem_crash() is a power cut: every
 * file falls back to its durable bytes and names, all descriptors and locks
 * go away, and the same vfs_mem can be opened again as the rebooted disk.
 * vfs_mem_crash_torn() is a harsher cut: each 4 KiB page written since the
 * last fsync independently reached the disk or did not, and a grown file
 * kept its new size or not, as page-cache writeback leaves files after a
 * real crash. Time is a counter and randomness a seeded generator, so runs
 * repeat exactly.
 */
#ifndef KDB_TESTS_VFS_MEM_H
#define KDB_TESTS_VFS_MEM_H

#include <stdint.h>

#include "kdb.h"

struct vfs_mem;

/* A fresh empty file system whose random() is seeded with seed. */
struct vfs_mem *vfs_mem_new(uint64_t seed);
void vfs_mem_free(struct vfs_mem *mem);

/* The VFS; valid until vfs_mem_free(). */
const struct kdb_vfs *vfs_mem_vfs(struct vfs_mem *mem);

/* A power cut that loses exactly what was not made durable. */
void vfs_mem_crash(struct vfs_mem *mem);

/* A power cut that keeps a random part of what was not made durable. */
void vfs_mem_crash_torn(struct vfs_mem *mem, uint64_t seed);

/* Current size of the file at path, or -1 if there is none. */
int64_t vfs_mem_file_size(struct vfs_mem *mem, const char *path);

/* Current bytes of the file at path (NULL if none); valid until the next change. */
uint8_t *vfs_mem_file_data(struct vfs_mem *mem, const char *path);

/* Sets the size of the file at path, durably, as a tool editing the disk would. */
int vfs_mem_set_size(struct vfs_mem *mem, const char *path, uint64_t size);

/* Makes the current bytes of path durable, as after editing them in place. */
int vfs_mem_commit(struct vfs_mem *mem, const char *path);

/* Copies every file (current state) of src into a fresh vfs_mem. */
struct vfs_mem *vfs_mem_clone(const struct vfs_mem *src);

/* Number of currently open descriptors (leak checks). */
int vfs_mem_open_count(const struct vfs_mem *mem);

#endif /* KDB_TESTS_VFS_MEM_H */
