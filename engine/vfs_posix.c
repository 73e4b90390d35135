/* SPDX-License-Identifier: MIT */
/*
 * vfs_posix.c: struct kdb_vfs over the real file system.
 *
 * The only file of the engine that makes I/O system calls. Each operation
 * returns 0 or a negative errno, retries EINTR, and loops over short
 * transfers. fsync is fdatasync(2): the log needs a file's data and size to
 * be durable, not its times. The lock is an open-file-description lock
 * (F_OFD_SETLK), so two handles in one process exclude each other too, and it
 * goes away with the descriptor, including when the process is killed.
 */
#include "kdb.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int posix_open(void *ctx, const char *path, unsigned flags, int *fd_out)
{
    int oflags = O_CLOEXEC;
    int fd;

    (void)ctx;
    *fd_out = -1;
    oflags |= (flags & KDB_VFS_OPEN_WRITE) ? O_RDWR : O_RDONLY;
    if (flags & KDB_VFS_OPEN_CREATE) oflags |= O_CREAT;
    if (flags & KDB_VFS_OPEN_EXCL) oflags |= O_EXCL;
    if (flags & KDB_VFS_OPEN_TRUNCATE) oflags |= O_TRUNC;
    if (flags & KDB_VFS_OPEN_DIRECT) oflags |= O_DIRECT;
    for (;;) {
        fd = open(path, oflags, 0600);
        if (fd >= 0 || errno != EINTR) break;
    }
    if (fd < 0 && errno == EINVAL && (oflags & O_DIRECT)) {
        /* The file system has no direct I/O: go through the page cache. */
        oflags &= ~O_DIRECT;
        do {
            fd = open(path, oflags, 0600);
        } while (fd < 0 && errno == EINTR);
    }
    if (fd < 0) return -errno;
    *fd_out = fd;
    return 0;
}

static int posix_close(void *ctx, int fd)
{
    (void)ctx;
    /* Linux closes the descriptor even when close(2) fails; never retry. */
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

static int posix_pread(void *ctx, int fd, void *buf, size_t len, uint64_t offset, size_t *read_out)
{
    size_t done = 0;

    (void)ctx;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            *read_out = 0;
            return -errno;
        }
        if (n == 0) break;
        done += (size_t)n;
    }
    *read_out = done;
    return 0;
}

static int posix_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t offset)
{
    size_t done = 0;

    (void)ctx;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (n == 0) return -EIO;
        done += (size_t)n;
    }
    return 0;
}

static int posix_fsync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int posix_writeback(void *ctx, int fd, uint64_t offset, uint64_t len)
{
    (void)ctx;
    return sync_file_range(fd, (off_t)offset, (off_t)len, SYNC_FILE_RANGE_WRITE) < 0 ? -errno : 0;
}

static int posix_truncate(void *ctx, int fd, uint64_t size)
{
    int rc;

    (void)ctx;
    do {
        rc = ftruncate(fd, (off_t)size);
    } while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

static int posix_file_size(void *ctx, int fd, uint64_t *size_out)
{
    struct stat st;

    (void)ctx;
    *size_out = 0;
    if (fstat(fd, &st) < 0) return -errno;
    *size_out = (uint64_t)st.st_size;
    return 0;
}

/*
 * Large files are mapped at a 2 MiB boundary with huge pages allowed: where
 * the page cache holds a file in 2 MiB folios (the engine writes tables in
 * aligned 2 MiB pieces so that it does), the kernel maps them with one
 * entry each, and random reads of a table pay no 4 KiB TLB miss.
 */
#define POSIX_HUGE_PAGE ((size_t)2 << 20)

/* The context of kdb_vfs_posix_small_pages(): its address is the mark. */
static const char small_pages;

static int posix_map(void *ctx, int fd, uint64_t size, const void **addr_out)
{
    size_t len = (size_t)size, span;
    char *reserve, *aligned;
    void *addr;

    (void)ctx;
    *addr_out = NULL;
    if (size == 0 || size > SIZE_MAX - POSIX_HUGE_PAGE) return -EINVAL;
    if (len < POSIX_HUGE_PAGE || ctx == &small_pages) {
        addr = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (addr == MAP_FAILED) return -errno;
        *addr_out = addr;
        return 0;
    }
    span = len + POSIX_HUGE_PAGE;
    reserve = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserve == MAP_FAILED) return -errno;
    aligned = reserve + (POSIX_HUGE_PAGE - (uintptr_t)reserve % POSIX_HUGE_PAGE) % POSIX_HUGE_PAGE;
    addr = mmap(aligned, len, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    if (addr == MAP_FAILED) {
        int rc = -errno;
        (void)munmap(reserve, span);
        return rc;
    }
    /* Give back the reservation around the mapping; the mapping's own pages round up. */
    size_t mapped = (len + 4095) & ~(size_t)4095;
    if (aligned > reserve) (void)munmap(reserve, (size_t)(aligned - reserve));
    if (reserve + span > aligned + mapped)
        (void)munmap(aligned + mapped, (size_t)(reserve + span - (aligned + mapped)));
    (void)madvise(addr, len, MADV_HUGEPAGE); /* advice only */
    *addr_out = addr;
    return 0;
}

static int posix_unmap(void *ctx, const void *addr, uint64_t size)
{
    (void)ctx;
    return munmap((void *)addr, (size_t)size) < 0 ? -errno : 0;
}

static void posix_release(void *ctx, const void *addr, uint64_t size)
{
    (void)ctx;
    /* Read-only and shared: the pages stay in the page cache, and a later read maps them again. */
    (void)madvise((void *)addr, (size_t)size, MADV_DONTNEED);
}

static int posix_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    return rename(from, to) < 0 ? -errno : 0;
}

static int posix_unlink(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path) < 0 ? -errno : 0;
}

static int posix_mkdir(void *ctx, const char *path)
{
    (void)ctx;
    return mkdir(path, 0700) < 0 ? -errno : 0;
}

static int posix_sync_dir(void *ctx, const char *path)
{
    int fd, rc = 0;

    (void)ctx;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    if (fsync(fd) < 0) rc = -errno;
    (void)close(fd);
    return rc;
}

static int posix_list_dir(void *ctx, const char *path, kdb_vfs_list_fn fn, void *fn_ctx)
{
    DIR *dir;
    struct dirent *entry;
    int rc = 0;

    (void)ctx;
    dir = opendir(path);
    if (!dir) return -errno;
    for (;;) {
        errno = 0;
        entry = readdir(dir);
        if (!entry) {
            rc = errno ? -errno : 0;
            break;
        }
        if (entry->d_name[0] == '.' &&
            (entry->d_name[1] == '\0' || (entry->d_name[1] == '.' && entry->d_name[2] == '\0')))
            continue;
        rc = fn(fn_ctx, entry->d_name);
        if (rc) break;
    }
    (void)closedir(dir);
    return rc;
}

static int posix_lock(void *ctx, int fd)
{
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    struct stat st;
    char pid[32];
    int len, rc;

    (void)ctx;
    if (fcntl(fd, F_OFD_SETLK, &lock) < 0)
        return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
    /* Name the holder for whoever is refused next. The file is cut only if
     * the last holder's pid was longer: a truncate costs a journal commit. */
    len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    rc = posix_pwrite(ctx, fd, pid, (size_t)len, 0);
    if (rc == 0 && fstat(fd, &st) < 0) rc = -errno;
    if (rc == 0 && st.st_size > len && ftruncate(fd, len) < 0) rc = -errno;
    return rc;
}

static uint64_t posix_now_ns(void *ctx)
{
    struct timespec ts;

    (void)ctx;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int posix_random(void *ctx, void *buf, size_t len)
{
    size_t done = 0;

    (void)ctx;
    while (done < len) {
        ssize_t n = getrandom((char *)buf + done, len - done, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        done += (size_t)n;
    }
    return 0;
}

#define POSIX_FUNCTIONS                                                                            \
    .open = posix_open, .close = posix_close, .pread = posix_pread, .pwrite = posix_pwrite,        \
    .fsync = posix_fsync, .writeback = posix_writeback, .truncate = posix_truncate,                \
    .file_size = posix_file_size, .map = posix_map, .unmap = posix_unmap, .rename = posix_rename,  \
    .unlink = posix_unlink, .mkdir = posix_mkdir, .sync_dir = posix_sync_dir,                      \
    .list_dir = posix_list_dir, .lock = posix_lock, .now_ns = posix_now_ns,                        \
    .random = posix_random, .release = posix_release

static const struct kdb_vfs posix_vfs = {.ctx = NULL, POSIX_FUNCTIONS};

/* The context is never written through: its address is only compared. */
static const struct kdb_vfs posix_small_pages_vfs = {.ctx = (void *)&small_pages, POSIX_FUNCTIONS};

const struct kdb_vfs *kdb_vfs_posix(void)
{
    return &posix_vfs;
}

const struct kdb_vfs *kdb_vfs_posix_small_pages(void)
{
    return &posix_small_pages_vfs;
}
