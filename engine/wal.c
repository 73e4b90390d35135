/* SPDX-License-Identifier: MIT */
/*
 * wal.c: segments, framing, group commit and replay (see wal.h, FORMAT.md).
 *
 * Telling a torn write from corruption: every record carries the sequence
 * number up to which the log was durable when the record was written. When
 * replay meets a change it cannot apply (a bad record, or a segment that
 * ends before the next one begins), the change is torn if no later good
 * record, in its segment or a later one, claims it was durable: then it and
 * everything after it are dropped (never synced, so nobody was promised
 * them; after a power cut, pages written since the last fdatasync reach the
 * disk in any order, so good records may follow a hole). If a later record
 * says the change was durable, it is damage to acknowledged data: -EUCLEAN.
 * A clean close ends the log with a seal that vouches for every record.
 */
#include "wal.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "kassert.h"

#define WAL_PATH_SIZE          4096
#define WAL_REPLAY_BUFFER_SIZE ((size_t)4 << 20)
#define WAL_PREPARE_SLICE      ((size_t)256 << 10) /* memory readied between two log chunks */
/* A segment file larger than this was not written by us. */
#define WAL_SEGMENT_SIZE_LIMIT (UINT64_C(1) << 32)

struct segment_list {
    const struct env *env;
    uint64_t *numbers; /* segment numbers found */
    size_t count;
    size_t capacity;
    const char *dir;
    int rc; /* first error of the listing callback */
};

static int segment_path(char *path, const char *dir, uint64_t number, const char *suffix)
{
    int n = snprintf(path, WAL_PATH_SIZE, "%s/" WAL_SEGMENT_PREFIX "%016" PRIx64 "%s", dir, number,
                     suffix);
    return n > 0 && n < WAL_PATH_SIZE ? 0 : -ENAMETOOLONG;
}

static int list_one(void *fn_ctx, const char *name)
{
    struct segment_list *list = fn_ctx;
    uint64_t number;

    if (!format_parse_name(name, WAL_SEGMENT_PREFIX, WAL_SEGMENT_SUFFIX, &number)) return 0;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? 2 * list->capacity : 16;
        uint64_t *numbers = env_realloc(list->env, list->numbers, capacity * sizeof(*numbers));
        if (!numbers) return -ENOMEM;
        list->numbers = numbers;
        list->capacity = capacity;
    }
    list->numbers[list->count++] = number;
    return 0;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* ---- framing ---- */

static void encode_segment_header(uint8_t *h, uint64_t number, uint64_t salt,
                                  uint64_t first_sequence, uint64_t created_ns)
{
    memset(h, 0, WAL_HEADER_SIZE);
    memcpy(h + WAL_HEADER_MAGIC_OFFSET, WAL_MAGIC, FORMAT_MAGIC_SIZE);
    put_le32(h + WAL_HEADER_VERSION_OFFSET, WAL_VERSION);
    put_le32(h + WAL_HEADER_SIZE_OFFSET, WAL_HEADER_SIZE);
    put_le64(h + WAL_HEADER_SEGMENT_OFFSET, number);
    put_le64(h + WAL_HEADER_SALT_OFFSET, salt);
    put_le64(h + WAL_HEADER_FIRST_SEQ_OFFSET, first_sequence);
    put_le64(h + WAL_HEADER_CREATED_OFFSET, created_ns);
    put_le64(h + WAL_HEADER_CHECKSUM_OFFSET, checksum_64(h, WAL_HEADER_CHECKSUM_OFFSET, 0));
}

/* Whether the avail bytes at r start with a record whose frame and checksum are good under salt. */
static bool frame_is_good(const uint8_t *r, uint64_t avail, uint64_t salt, size_t payload_size_max)
{
    uint32_t len;
    unsigned type;

    if (avail < WAL_RECORD_HEADER_SIZE) return false;
    len = get_le32(r + WAL_RECORD_LENGTH_OFFSET);
    if (len > payload_size_max || len > avail - WAL_RECORD_HEADER_SIZE) return false;
    if (get_le64(r + WAL_RECORD_SALT_OFFSET) != salt) return false;
    type = r[WAL_RECORD_TYPE_OFFSET];
    if (type == WAL_RECORD_INVALID || type >= WAL_RECORD_TYPE_COUNT) return false;
    if (r[WAL_RECORD_RESERVED_OFFSET] || r[WAL_RECORD_RESERVED_OFFSET + 1] ||
        r[WAL_RECORD_RESERVED_OFFSET + 2])
        return false;
    if (type == WAL_RECORD_SEAL && len != 0) return false;
    return get_le64(r + WAL_RECORD_CHECKSUM_OFFSET) ==
           checksum_64(r + 8, WAL_RECORD_HEADER_SIZE - 8 + (size_t)len, 0);
}

/*
 * Whether a good record after offset says that sequence was durable. Salt
 * bytes mark where a record may start, so the search skips through zeros and
 * garbage quickly.
 */
static bool later_record_vouches(const uint8_t *image, uint64_t size, uint64_t offset,
                                 uint64_t salt, uint64_t sequence, size_t payload_size_max)
{
    uint8_t needle[8];
    uint64_t from = offset + 1 + WAL_RECORD_SALT_OFFSET;

    put_le64(needle, salt);
    while (from + 8 <= size) {
        const uint8_t *hit = memmem(image + from, size - from, needle, sizeof(needle));
        uint64_t start;
        if (!hit) return false;
        start = (uint64_t)(hit - image) - WAL_RECORD_SALT_OFFSET;
        if (frame_is_good(image + start, size - start, salt, payload_size_max) &&
            get_le64(image + start + WAL_RECORD_SYNCED_OFFSET) >= sequence)
            return true;
        from = (uint64_t)(hit - image) + 1;
    }
    return false;
}

/* ---- replay ---- */

struct segment_replay {
    uint64_t number;
    uint64_t size;           /* bytes mapped */
    const uint8_t *image;    /* the file's bytes */
    const uint8_t *head;     /* its header's: the mapping's, or replay's buffer's */
    uint64_t salt;           /* from the header */
    uint64_t first_sequence; /* from the header */
    uint64_t end;            /* offset after the last good record */
    uint64_t records;        /* good records applied, seals not counted */
};

/*
 * Replay reads a segment through a buffer: sequential pread here runs
 * several times faster than first touches of a fresh mapping. The mapping,
 * which keeps the records for the memtable, is touched only by later reads.
 * The buffer is large memory (env.c: huge pages where the kernel has
 * them), which a log of a few small segments first touches once: sized to
 * them in 4 KiB pages instead, the same bytes took longer to make present.
 */
struct window {
    const struct env *env;
    int fd;         /* the segment */
    uint64_t size;  /* its bytes */
    uint8_t *buf;   /* WAL_REPLAY_BUFFER_SIZE bytes */
    uint64_t start; /* buf holds the file's bytes [start, start + len) */
    size_t len;
};

/* Appends a segment to maps[]; returns -ENOMEM. */
static int add_map(struct wal *wal, const struct wal_map *map)
{
    if (wal->map_count == wal->map_capacity) {
        size_t capacity = wal->map_capacity ? 2 * wal->map_capacity : 16;
        struct wal_map *maps = env_realloc(wal->env, wal->maps, capacity * sizeof(*maps));
        if (!maps) return -ENOMEM;
        wal->maps = maps;
        wal->map_capacity = capacity;
    }
    wal->maps[wal->map_count++] = *map;
    return 0;
}

/*
 * Maps a segment's bytes. With w, the mapping stays until wal_close() and
 * the segment stays open as w->fd for reading through the window; the
 * caller closes it.
 */
static int map_segment(struct wal *wal, struct segment_replay *seg, struct window *w)
{
    const struct kdb_vfs *vfs = wal->env->vfs;
    char path[WAL_PATH_SIZE];
    int fd = -1;
    int rc;

    rc = segment_path(path, wal->dir, seg->number, WAL_SEGMENT_SUFFIX);
    if (rc < 0) goto out;
    rc = vfs->open(vfs->ctx, path, KDB_VFS_OPEN_READ, &fd);
    if (rc < 0) goto out;
    rc = vfs->file_size(vfs->ctx, fd, &seg->size);
    if (rc < 0) goto out;
    if (seg->size < WAL_HEADER_SIZE) {
        rc = -ENODATA; /* the caller decides: a creation cut short, or damage */
        goto out;
    }
    if (seg->size > WAL_SEGMENT_SIZE_LIMIT) {
        rc = KDB_CORRUPT(wal->env, "log segment %016" PRIx64 ": %" PRIu64 " bytes is too large",
                         seg->number, seg->size);
        goto out;
    }
    rc = vfs->map(vfs->ctx, fd, seg->size, (const void **)&seg->image);
    if (rc < 0) goto out;
    seg->head = seg->image;
    if (w) {
        struct wal_map map = {.number = seg->number, .addr = seg->image, .size = seg->size};
        rc = add_map(wal, &map);
        if (rc < 0) {
            (void)vfs->unmap(vfs->ctx, seg->image, seg->size);
            goto out;
        }
        w->fd = fd;
        w->size = seg->size;
        w->start = 0;
        w->len = 0;
        fd = -1;
    }
out:
    if (fd >= 0) (void)vfs->close(vfs->ctx, fd);
    return rc;
}

static void unmap_all(struct wal *wal)
{
    for (size_t i = 0; i < wal->map_count; i++) {
        if (wal->maps[i].addr)
            (void)wal->env->vfs->unmap(wal->env->vfs->ctx, wal->maps[i].addr, wal->maps[i].size);
    }
    env_free(wal->env, wal->maps);
    wal->maps = NULL;
    wal->map_count = wal->map_capacity = 0;
}

/* Segment headers are made durable before the segment is named: any flaw is damage. */
static int check_segment_header(struct wal *wal, struct segment_replay *seg)
{
    const uint8_t *h = seg->head;
    uint32_t version;

    kdb_assert(seg->size >= WAL_HEADER_SIZE);
    if (memcmp(h + WAL_HEADER_MAGIC_OFFSET, WAL_MAGIC, FORMAT_MAGIC_SIZE) != 0)
        return KDB_CORRUPT(wal->env, "log segment %016" PRIx64 ": bad magic", seg->number);
    if (get_le64(h + WAL_HEADER_CHECKSUM_OFFSET) != checksum_64(h, WAL_HEADER_CHECKSUM_OFFSET, 0)) {
        KDB_LOG(wal->env, KDB_LOG_ERROR, "log segment %016" PRIx64 ": header checksum mismatch",
                seg->number);
        return -KDB_ECHECKSUM;
    }
    version = get_le32(h + WAL_HEADER_VERSION_OFFSET);
    if (version > WAL_VERSION) {
        KDB_LOG(wal->env, KDB_LOG_ERROR,
                "log segment %016" PRIx64 ": format version %u is newer than this build's %u",
                seg->number, version, WAL_VERSION);
        return -ENOTSUP;
    }
    if (version == 0 || get_le32(h + WAL_HEADER_SIZE_OFFSET) != WAL_HEADER_SIZE ||
        get_le64(h + WAL_HEADER_SEGMENT_OFFSET) != seg->number ||
        get_le64(h + WAL_HEADER_RESERVED_OFFSET) != 0)
        return KDB_CORRUPT(wal->env, "log segment %016" PRIx64 ": inconsistent header",
                           seg->number);
    seg->salt = get_le64(h + WAL_HEADER_SALT_OFFSET);
    seg->first_sequence = get_le64(h + WAL_HEADER_FIRST_SEQ_OFFSET);
    return 0;
}

/*
 * The file's bytes [offset, offset + len): from the buffer, refilled as
 * needed (up to the segment's end: no read past it), or from the mapping
 * map when they are larger than the buffer. NULL with *rc set on a read
 * error, NULL with *rc 0 if the file is short.
 */
static const uint8_t *window_get(struct window *w, const uint8_t *map, uint64_t offset, size_t len,
                                 int *rc)
{
    size_t got = 0, want;

    *rc = 0;
    if (len > WAL_REPLAY_BUFFER_SIZE) return map + offset;
    if (offset < w->start || offset + len > w->start + w->len) {
        if (offset >= w->size || w->size - offset < len) return NULL;
        want = w->size - offset < WAL_REPLAY_BUFFER_SIZE ? (size_t)(w->size - offset)
                                                         : WAL_REPLAY_BUFFER_SIZE;
        w->len = 0;
        *rc = w->env->vfs->pread(w->env->vfs->ctx, w->fd, w->buf, want, offset, &got);
        if (*rc < 0) return NULL;
        w->start = offset;
        w->len = got;
        if (got < len) return NULL;
    }
    return w->buf + (offset - w->start);
}

/* Applies the good records of seg in order; sets seg->end and seg->records. */
static int apply_records(struct wal *wal, struct segment_replay *seg,
                         const struct wal_replay *replay, struct window *w)
{
    uint64_t offset = WAL_HEADER_SIZE;
    int rc = 0;

    while (seg->size - offset >= WAL_RECORD_HEADER_SIZE) {
        const uint8_t *record = window_get(w, seg->image, offset, WAL_RECORD_HEADER_SIZE, &rc);
        uint64_t len;
        if (!record) break;
        len = WAL_RECORD_HEADER_SIZE + (uint64_t)wal_record_payload_len(record);
        if (len > seg->size - offset || len - WAL_RECORD_HEADER_SIZE > wal->payload_size_max) break;
        record = window_get(w, seg->image, offset, (size_t)len, &rc);
        if (!record || !frame_is_good(record, len, seg->salt, wal->payload_size_max)) break;
        if (wal_record_sequence(record) != wal->next_sequence) break;
        if (wal_record_type(record) != WAL_RECORD_SEAL) {
            /* A seal vouches for what came before and takes no sequence number. */
            rc = replay->apply(replay->ctx, record, seg->image + offset);
            if (rc) return rc;
            wal->next_sequence++;
            seg->records++;
        }
        offset += len;
    }
    seg->end = offset;
    return rc;
}

static bool header_is_blank(const struct segment_replay *seg)
{
    for (size_t i = 0; i < WAL_HEADER_SIZE; i++) {
        if (seg->head[i]) return false;
    }
    return true;
}

/* Whether a good record of a later segment says sequence was durable. */
static int later_segment_vouches(struct wal *wal, uint64_t number, uint64_t sequence, bool *vouched)
{
    struct segment_replay seg = {.number = number};
    int rc = map_segment(wal, &seg, NULL);

    if (rc == -ENODATA) return 0; /* no header: nothing in it can vouch */
    if (rc < 0) return rc;
    if (!header_is_blank(&seg)) {
        rc = check_segment_header(wal, &seg);
        if (rc == 0) {
            *vouched = later_record_vouches(seg.image, seg.size, WAL_HEADER_SIZE - 1, seg.salt,
                                            sequence, wal->payload_size_max);
        }
    }
    (void)wal->env->vfs->unmap(wal->env->vfs->ctx, seg.image, seg.size);
    return rc;
}

static int cut_segment(struct wal *wal, uint64_t number, uint64_t size)
{
    const struct kdb_vfs *vfs = wal->env->vfs;
    char path[WAL_PATH_SIZE];
    int fd = -1;
    int rc;

    rc = segment_path(path, wal->dir, number, WAL_SEGMENT_SUFFIX);
    if (rc == 0) rc = vfs->open(vfs->ctx, path, KDB_VFS_OPEN_READ | KDB_VFS_OPEN_WRITE, &fd);
    if (rc == 0) rc = vfs->truncate(vfs->ctx, fd, size);
    if (rc == 0) rc = vfs->fsync(vfs->ctx, fd);
    if (fd >= 0) (void)vfs->close(vfs->ctx, fd);
    return rc;
}

/*
 * Change wal->next_sequence cannot be replayed: segment list[index] (seg)
 * has good records up to seg->end and nothing after that offset, nor any
 * later segment, follows on. If a later good record says the change was
 * durable, it is damage; otherwise the change and everything after it were
 * written after the last sync and torn by a crash: cut it all away.
 */
static int settle_missing(struct wal *wal, const struct segment_list *list, size_t index,
                          struct segment_replay *seg)
{
    uint64_t missing = wal->next_sequence;
    bool vouched = false;
    int rc = 0;

    if (seg->end < seg->size) {
        vouched = later_record_vouches(seg->image, seg->size, seg->end, seg->salt, missing,
                                       wal->payload_size_max);
    }
    for (size_t j = index + 1; !vouched && j < list->count; j++) {
        rc = later_segment_vouches(wal, list->numbers[j], missing, &vouched);
        if (rc < 0) return rc;
    }
    if (vouched) {
        return KDB_CORRUPT(wal->env,
                           "log segment %016" PRIx64 ": change %" PRIu64 " at offset %" PRIu64
                           " is damaged or missing, and a later record says it was durable",
                           seg->number, missing, seg->end);
    }
    KDB_LOG(wal->env, KDB_LOG_WARNING,
            "log: dropping changes from %" PRIu64 " on (segment %016" PRIx64 " from offset %" PRIu64
            ", and %zu later segments): written after the last sync, torn by a crash",
            missing, seg->number, seg->end, list->count - index - 1);
    if (seg->end < seg->size) rc = cut_segment(wal, seg->number, seg->end);
    for (size_t j = index + 1; rc == 0 && j < list->count; j++) {
        char path[WAL_PATH_SIZE];
        rc = segment_path(path, wal->dir, list->numbers[j], WAL_SEGMENT_SUFFIX);
        if (rc == 0) rc = wal->env->vfs->unlink(wal->env->vfs->ctx, path);
    }
    if (rc == 0 && index + 1 < list->count)
        rc = wal->env->vfs->sync_dir(wal->env->vfs->ctx, wal->dir);
    if (rc == 0) seg->size = seg->end;
    return rc;
}

/* ---- segments: the writer's side ---- */

/*
 * Creates segment number and writes its header; on success it is open as
 * wal->fd. Nothing is synced here: the next sync makes the header durable
 * with the records and then the name (dir_dirty). A crash before that can
 * leave the file short or with a blank header, which replay recognizes as
 * a creation cut short (nothing in such a segment was ever acknowledged).
 */
static int segment_create(struct wal *wal, uint64_t number, uint64_t salt, uint64_t first_sequence,
                          uint64_t created_ns)
{
    const struct kdb_vfs *vfs = wal->env->vfs;
    char path[WAL_PATH_SIZE];
    uint8_t header[WAL_HEADER_SIZE];
    int fd = -1;
    int rc;

    kdb_assert(wal->fd < 0);
    rc = segment_path(path, wal->dir, number, WAL_SEGMENT_SUFFIX);
    if (rc < 0) return rc;
    rc = vfs->open(vfs->ctx, path, KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE | KDB_VFS_OPEN_TRUNCATE,
                   &fd);
    if (rc < 0) return rc;
    encode_segment_header(header, number, salt, first_sequence, created_ns);
    rc = vfs->pwrite(vfs->ctx, fd, header, sizeof(header), 0);
    /* The header is durable before any later segment can exist: a flush or
     * compaction may make this name durable at any moment (sync_dir), and
     * replay takes a headerless segment only as the newest one. */
    if (rc == 0) rc = vfs->fsync(vfs->ctx, fd);
    if (rc < 0) {
        (void)vfs->close(vfs->ctx, fd);
        (void)vfs->unlink(vfs->ctx, path);
        return rc;
    }
    wal->fd = fd;
    wal->fd_number = number;
    wal->dir_dirty = true;
    return 0;
}

/* Opens for appending a segment that is its durable header alone. */
static int segment_reopen(struct wal *wal, uint64_t number)
{
    const struct kdb_vfs *vfs = wal->env->vfs;
    char path[WAL_PATH_SIZE];
    int fd = -1;
    int rc;

    kdb_assert(wal->fd < 0);
    rc = segment_path(path, wal->dir, number, WAL_SEGMENT_SUFFIX);
    if (rc == 0) rc = vfs->open(vfs->ctx, path, KDB_VFS_OPEN_WRITE, &fd);
    if (rc < 0) return rc;
    wal->fd = fd;
    wal->fd_number = number;
    wal->dir_dirty = true; /* its name may not be durable yet: the first sync makes it so */
    return 0;
}

/* Whether retired segment i's changes are in a table: it needs no fsync. */
static bool retired_forgotten(const struct wal *wal, size_t i)
{
    return wal->retired_number[i] < __atomic_load_n(&wal->forgotten, __ATOMIC_ACQUIRE);
}

/*
 * Keeps a full segment's descriptor until a sync makes it durable. With
 * WAL_RETIRED_MAX waiting, the oldest is made durable now, on this thread.
 */
static int retire_segment(struct wal *wal)
{
    const struct kdb_vfs *vfs = wal->env->vfs;

    if (wal->retired_count == WAL_RETIRED_MAX) {
        int rc = retired_forgotten(wal, 0) ? 0 : vfs->fsync(vfs->ctx, wal->retired[0]);
        if (rc < 0) return rc;
        (void)vfs->close(vfs->ctx, wal->retired[0]);
        wal->retired_count--;
        memmove(wal->retired, wal->retired + 1, wal->retired_count * sizeof(wal->retired[0]));
        memmove(wal->retired_number, wal->retired_number + 1,
                wal->retired_count * sizeof(wal->retired_number[0]));
    }
    wal->retired_number[wal->retired_count] = wal->fd_number;
    wal->retired[wal->retired_count++] = wal->fd;
    wal->fd = -1;
    return 0;
}

/*
 * The writer's part of one chunk: create, write, retire, as the chunk says.
 * No writeback is started: with sync off, a segment's pages are left to the
 * page cache, and a flush deletes the segment, usually before the kernel
 * has written it, so log bytes reach the disk only when a sync asks.
 */
static int write_chunk(struct wal *wal, const struct wal_chunk *chunk)
{
    const struct kdb_vfs *vfs = wal->env->vfs;
    int rc = 0;

    if (chunk->new_segment) {
        rc = segment_create(wal, chunk->new_segment, chunk->new_salt, chunk->new_first_sequence,
                            chunk->new_created_ns);
    }
    if (rc == 0 && chunk->len) {
        rc = vfs->pwrite(vfs->ctx, wal->fd, chunk->bytes, chunk->len, chunk->offset);
    }
    if (rc == 0 && chunk->ends_segment) rc = retire_segment(wal);
    return rc;
}

static void *writer_main(void *arg)
{
    struct wal *wal = arg;

    (void)pthread_setname_np(pthread_self(), "kdb-wal");
    pthread_mutex_lock(&wal->lock);
    for (;;) {
        while (wal->queued == 0 && !wal->prepare_memory && !wal->stop)
            pthread_cond_wait(&wal->work, &wal->lock);
        if (wal->queued == 0 && wal->prepare_memory) {
            /* A slice at a time, so that log chunks never wait long behind it. */
            uint8_t *memory = wal->prepare_memory;
            size_t size =
                wal->prepare_size < WAL_PREPARE_SLICE ? wal->prepare_size : WAL_PREPARE_SLICE;
            wal->prepare_size -= size;
            wal->prepare_memory = wal->prepare_size ? memory + size : NULL;
            pthread_mutex_unlock(&wal->lock);
            env_prepare(wal->env, memory, size);
            pthread_mutex_lock(&wal->lock);
            continue;
        }
        if (wal->queued == 0) break;
        struct wal_chunk *chunk = &wal->chunks[wal->head];
        bool skip = wal->writer_error != 0; /* after an error nothing more reaches the disk */
        pthread_mutex_unlock(&wal->lock);
        int rc = skip ? 0 : write_chunk(wal, chunk);
        pthread_mutex_lock(&wal->lock);
        if (rc < 0 && wal->writer_error == 0) wal->writer_error = rc;
        if (chunk->ends_segment) wal->ended++;
        wal->head = (wal->head + 1) % WAL_CHUNK_COUNT;
        wal->queued--;
        pthread_cond_broadcast(&wal->done);
    }
    pthread_mutex_unlock(&wal->lock);
    return NULL;
}

static int init_sync(struct wal *wal)
{
    int rc = pthread_mutex_init(&wal->lock, NULL);

    if (rc) return -rc;
    rc = pthread_cond_init(&wal->work, NULL);
    if (rc == 0) {
        rc = pthread_cond_init(&wal->done, NULL);
        if (rc) pthread_cond_destroy(&wal->work);
    }
    if (rc) {
        pthread_mutex_destroy(&wal->lock);
        return -rc;
    }
    wal->sync_ready = true;
    return 0;
}

/*
 * The writer thread starts with the first write: a database opened to be
 * read, or opened and closed, never starts one.
 */
static int ensure_writer(struct wal *wal)
{
    int rc;

    if (wal->writer_running) return 0;
    rc = pthread_create(&wal->writer, NULL, writer_main, wal);
    if (rc) return -rc;
    wal->writer_running = true;
    return 0;
}

/* ---- chunks: the core's side ---- */

/* Empties chunk for appends at offset of the current segment. */
static void chunk_reset(struct wal *wal, struct wal_chunk *chunk)
{
    chunk->bytes = chunk->buf;
    chunk->len = 0;
    chunk->offset = wal->file_size;
    chunk->new_segment = 0;
    chunk->ends_segment = false;
}

/*
 * Queues the active chunk for the writer and makes the next one active,
 * waiting while all are queued. Returns the writer's error, if any.
 */
static int hand_over(struct wal *wal)
{
    struct wal_chunk *chunk = &wal->chunks[wal->active];
    int rc;

    if (chunk->len == 0 && !chunk->new_segment && !chunk->ends_segment) return wal->error;
    rc = ensure_writer(wal);
    if (rc < 0) return rc;
    pthread_mutex_lock(&wal->lock);
    wal->queued++;
    pthread_cond_signal(&wal->work);
    while (wal->queued == WAL_CHUNK_COUNT)
        pthread_cond_wait(&wal->done, &wal->lock);
    rc = wal->writer_error;
    pthread_mutex_unlock(&wal->lock);
    wal->active = (wal->active + 1) % WAL_CHUNK_COUNT;
    chunk_reset(wal, &wal->chunks[wal->active]);
    return rc;
}

void wal_prepare_memory(struct wal *wal, void *memory, size_t size)
{
    if (ensure_writer(wal) < 0) return; /* then the core faults the memory in itself */
    pthread_mutex_lock(&wal->lock);
    if (!wal->prepare_memory) {
        wal->prepare_memory = memory;
        wal->prepare_size = size;
        pthread_cond_signal(&wal->work);
    }
    pthread_mutex_unlock(&wal->lock);
}

/* Waits until the writer has written every queued chunk. Returns its error, if any. */
static int wait_idle(struct wal *wal)
{
    int rc;

    pthread_mutex_lock(&wal->lock);
    while (wal->queued)
        pthread_cond_wait(&wal->done, &wal->lock);
    rc = wal->writer_error;
    pthread_mutex_unlock(&wal->lock);
    return rc;
}

/* Ends the current segment and starts the next: the writer creates it. */
static int rotate(struct wal *wal)
{
    const struct kdb_vfs *vfs = wal->env->vfs;
    struct wal_map map = {.number = wal->segment_number, .bytes = wal->file_size, .listed = true};
    struct wal_chunk *chunk;
    uint64_t salt = 0;
    int rc = add_map(wal, &map);

    if (rc < 0) return rc;
    wal->chunks[wal->active].ends_segment = true;
    rc = hand_over(wal);
    if (rc == 0) rc = vfs->random(vfs->ctx, &salt, sizeof(salt));
    if (rc < 0) return rc;
    wal->handed_ends++;
    wal->older_bytes += wal->file_size;
    wal->segment_number++;
    wal->segment_count++;
    wal->salt = salt;
    wal->file_size = WAL_HEADER_SIZE;
    chunk = &wal->chunks[wal->active];
    chunk_reset(wal, chunk);
    chunk->new_segment = wal->segment_number;
    chunk->new_salt = salt;
    chunk->new_first_sequence = wal->next_sequence;
    chunk->new_created_ns = vfs->now_ns(vfs->ctx);
    return 0;
}

/* Makes every record appended so far durable; the writer must be idle. */
static int sync_files(struct wal *wal)
{
    const struct kdb_vfs *vfs = wal->env->vfs;
    int rc;

    if (wal->durable_sequence + 1 >= wal->next_sequence) return 0;
    while (wal->retired_count) {
        if (!retired_forgotten(wal, 0)) {
            rc = vfs->fsync(vfs->ctx, wal->retired[0]);
            if (rc < 0) return rc;
            wal->sync_count++;
        }
        (void)vfs->close(vfs->ctx, wal->retired[0]);
        wal->retired_count--;
        memmove(wal->retired, wal->retired + 1, wal->retired_count * sizeof(wal->retired[0]));
        memmove(wal->retired_number, wal->retired_number + 1,
                wal->retired_count * sizeof(wal->retired_number[0]));
    }
    rc = vfs->fsync(vfs->ctx, wal->fd);
    if (rc < 0) return rc;
    wal->sync_count++;
    if (wal->dir_dirty) {
        /* Segments created since the last sync: their names, after their bytes. */
        rc = vfs->sync_dir(vfs->ctx, wal->dir);
        if (rc < 0) return rc;
        wal->dir_dirty = false;
    }
    wal->durable_sequence = wal->next_sequence - 1;
    return 0;
}

/* ---- the interface ---- */

static int list_segments(struct wal *wal, struct segment_list *list, uint64_t first)
{
    int rc;

    memset(list, 0, sizeof(*list));
    list->env = wal->env;
    list->dir = wal->dir;
    rc = wal->env->vfs->list_dir(wal->env->vfs->ctx, wal->dir, list_one, list);
    if (rc < 0) return rc;
    if (list->count > 1) qsort(list->numbers, list->count, sizeof(*list->numbers), compare_u64);
    /* Segments whose changes a flush moved into tables: a crash came before their removal. */
    while (list->count && list->numbers[0] < first) {
        rc = wal_remove_segments(wal->env, wal->dir, list->numbers[0], list->numbers[0] + 1);
        if (rc < 0) return rc;
        memmove(list->numbers, list->numbers + 1, --list->count * sizeof(*list->numbers));
    }
    for (size_t i = 1; i < list->count; i++) {
        if (list->numbers[i] != list->numbers[i - 1] + 1) {
            return KDB_CORRUPT(wal->env,
                               "log segment %016" PRIx64 " is missing (found %016" PRIx64 ")",
                               list->numbers[i - 1] + 1, list->numbers[i]);
        }
    }
    if (list->count && list->numbers[0] != first) {
        return KDB_CORRUPT(wal->env, "log segment %016" PRIx64 " is missing (found %016" PRIx64 ")",
                           first, list->numbers[0]);
    }
    return 0;
}

static void count_replayed(struct wal *wal, const struct segment_replay *seg)
{
    wal->replayed_records += seg->records;
    wal->replayed_bytes += seg->size;
    wal->older_bytes += seg->size;
    wal->segment_count++;
    for (size_t i = 0; i < wal->map_count; i++) {
        if (wal->maps[i].number == seg->number) {
            wal->maps[i].listed = true;
            wal->maps[i].bytes = seg->size;
        }
    }
}

void wal_forget(struct wal *wal, uint64_t number)
{
    size_t kept = 0;

    __atomic_store_n(&wal->forgotten, number, __ATOMIC_RELEASE);
    for (size_t i = 0; i < wal->map_count; i++) {
        struct wal_map *m = &wal->maps[i];
        if (m->number >= number) {
            wal->maps[kept++] = *m;
            continue;
        }
        if (m->listed) {
            wal->older_bytes -= m->bytes;
            wal->segment_count--;
        }
        if (m->addr) (void)wal->env->vfs->unmap(wal->env->vfs->ctx, m->addr, m->size);
    }
    wal->map_count = kept;
}

int wal_remove_segments(const struct env *env, const char *dir, uint64_t from, uint64_t to)
{
    char path[WAL_PATH_SIZE];

    for (uint64_t n = from; n < to; n++) {
        int rc = segment_path(path, dir, n, WAL_SEGMENT_SUFFIX);
        if (rc == 0) rc = env->vfs->unlink(env->vfs->ctx, path);
        if (rc < 0 && rc != -ENOENT) return rc;
    }
    return 0;
}

/* Replays mapped segment list[index] (seg). Returns 1 when the log stops there. */
static int replay_one(struct wal *wal, const struct segment_list *list, size_t index,
                      struct segment_replay *seg, const struct wal_replay *replay, struct window *w,
                      struct segment_replay *last)
{
    int rc = check_segment_header(wal, seg);

    if (rc < 0) return rc;
    if (seg->first_sequence != wal->next_sequence) {
        if (index == 0 || seg->first_sequence < wal->next_sequence) {
            return KDB_CORRUPT(wal->env,
                               "log segment %016" PRIx64 ": starts at change %" PRIu64
                               ", expected %" PRIu64,
                               seg->number, seg->first_sequence, wal->next_sequence);
        }
        /* Changes at the end of the previous segment never reached the disk. */
        rc = settle_missing(wal, list, index - 1, last);
        return rc < 0 ? rc : 1;
    }
    rc = apply_records(wal, seg, replay, w);
    if (rc) return rc;
    if (seg->end < seg->size) {
        rc = settle_missing(wal, list, index, seg);
        if (rc < 0) return rc;
        rc = 1; /* later segments are gone */
    }
    count_replayed(wal, seg);
    *last = *seg;
    return rc;
}

/* Replays segments in order, settling where the log stops; sets *last to the last one kept. */
/*
 * A segment whose header never reached the disk: a creation that a crash
 * cut short, since a sync makes a segment's header durable before it
 * acknowledges anything in it. Only the newest segment can be one.
 */
static int drop_blank_segment(struct wal *wal, uint64_t number)
{
    char path[WAL_PATH_SIZE];
    int rc = segment_path(path, wal->dir, number, WAL_SEGMENT_SUFFIX);

    KDB_LOG(wal->env, KDB_LOG_WARNING,
            "log segment %016" PRIx64 ": its creation was cut short by a crash; removing it",
            number);
    if (rc == 0) rc = wal->env->vfs->unlink(wal->env->vfs->ctx, path);
    return rc;
}

static int replay_segments(struct wal *wal, const struct segment_list *list,
                           const struct wal_replay *replay, struct segment_replay *last)
{
    struct window w = {.env = wal->env, .fd = -1};
    int rc = 0;

    w.buf = env_malloc(wal->env, WAL_REPLAY_BUFFER_SIZE);
    if (!w.buf) return -ENOMEM;
    for (size_t i = 0; rc == 0 && i < list->count; i++) {
        struct segment_replay seg = {.number = list->numbers[i]};
        bool newest = i + 1 == list->count;
        rc = map_segment(wal, &seg, &w);
        if (rc == 0) {
            /* The header through the buffer too, which then holds the first records: the
             * mapping is touched only where the memtable later reads a record. */
            seg.head = window_get(&w, seg.image, 0, WAL_HEADER_SIZE, &rc);
            if (!seg.head && rc == 0)
                rc = KDB_CORRUPT(wal->env, "log segment %016" PRIx64 ": shorter than its size",
                                 seg.number);
        }
        if (rc == -ENODATA || (rc == 0 && header_is_blank(&seg))) {
            rc = newest
                     ? drop_blank_segment(wal, seg.number)
                     : KDB_CORRUPT(wal->env, "log segment %016" PRIx64 ": no header", seg.number);
        } else if (rc == 0) {
            rc = replay_one(wal, list, i, &seg, replay, &w, last);
        }
        if (w.fd >= 0) (void)wal->env->vfs->close(wal->env->vfs->ctx, w.fd);
        w.fd = -1;
    }
    env_free(wal->env, w.buf);
    return rc < 0 ? rc : 0;
}

/*
 * Replays every segment; returns the number the next segment gets, and
 * whether that segment is there already, as a durable header alone that
 * starts where the log goes on (*reuse: then its salt in *salt).
 */
static int replay_all(struct wal *wal, const struct wal_replay *replay, uint64_t first,
                      uint64_t *next_number, bool *reuse, uint64_t *salt)
{
    struct segment_list list;
    struct segment_replay last = {0};
    char path[WAL_PATH_SIZE];
    int rc;

    *next_number = first;
    rc = list_segments(wal, &list, first);
    if (rc == 0) rc = replay_segments(wal, &list, replay, &last);
    if (rc == 0 && wal->segment_count) {
        *next_number = last.number + 1;
        if (last.records == 0) {
            /* The newest segment holds nothing: reuse its number, not pile up empties;
             * and the file itself if it is a header alone that fits (an open that wrote
             * nothing left it so), which saves a create and an fdatasync. */
            *reuse = last.size == WAL_HEADER_SIZE && last.first_sequence == wal->next_sequence;
            *salt = last.salt;
            rc = segment_path(path, wal->dir, last.number, WAL_SEGMENT_SUFFIX);
            if (rc == 0 && !*reuse) rc = wal->env->vfs->unlink(wal->env->vfs->ctx, path);
            if (rc == 0) {
                wal->segment_count--;
                wal->older_bytes -= last.size;
                *next_number = last.number;
                for (size_t i = 0; i < wal->map_count; i++) {
                    if (wal->maps[i].number == last.number) wal->maps[i].listed = false;
                }
            }
        }
    }
    env_free(wal->env, list.numbers);
    return rc;
}

static void free_chunks(struct wal *wal)
{
    for (size_t i = 0; i < WAL_CHUNK_COUNT; i++) {
        env_free(wal->env, wal->chunks[i].buf);
        wal->chunks[i].buf = NULL;
    }
}

/* Closes whatever segments are open and frees what wal_open() took. */
static void release(struct wal *wal)
{
    const struct kdb_vfs *vfs = wal->env->vfs;

    for (size_t i = 0; i < wal->retired_count; i++)
        (void)vfs->close(vfs->ctx, wal->retired[i]);
    wal->retired_count = 0;
    if (wal->fd >= 0) (void)vfs->close(vfs->ctx, wal->fd);
    wal->fd = -1;
    free_chunks(wal);
    unmap_all(wal);
    if (wal->sync_ready) {
        pthread_cond_destroy(&wal->work);
        pthread_cond_destroy(&wal->done);
        pthread_mutex_destroy(&wal->lock);
        wal->sync_ready = false;
    }
}

int wal_open(struct wal *wal, const struct env *env, const char *dir,
             const struct wal_options *options, const struct wal_replay *replay)
{
    const struct kdb_vfs *vfs = env->vfs;
    uint64_t number, salt = 0;
    bool reuse = false;
    int rc = 0;

    kdb_assert(options->buffer_size_bytes >= WAL_RECORD_HEADER_SIZE);
    memset(wal, 0, sizeof(*wal));
    wal->env = env;
    wal->dir = dir;
    wal->fd = -1;
    wal->segment_size_max = options->segment_size_bytes;
    wal->payload_size_max = options->payload_size_max;
    wal->buffer_size = options->buffer_size_bytes;
    wal->next_sequence = options->first_sequence;
    rc = init_sync(wal);
    if (rc == 0) rc = replay_all(wal, replay, options->first_segment, &number, &reuse, &salt);
    if (rc == 0) wal->durable_sequence = wal->next_sequence - 1;
    if (rc == 0 && reuse) {
        wal->salt = salt;
        rc = segment_reopen(wal, number);
    } else if (rc == 0) {
        rc = vfs->random(vfs->ctx, &wal->salt, sizeof(wal->salt));
        if (rc == 0)
            rc = segment_create(wal, number, wal->salt, wal->next_sequence, vfs->now_ns(vfs->ctx));
    }
    if (rc == 0) {
        wal->segment_number = number;
        wal->segment_count++;
        wal->file_size = WAL_HEADER_SIZE;
        chunk_reset(wal, &wal->chunks[0]);
    }
    if (rc) release(wal);
    return rc;
}

static void frame(struct wal *wal, unsigned type, uint8_t *record, size_t len)
{
    memset(record, 0, WAL_RECORD_HEADER_SIZE);
    put_le64(record + WAL_RECORD_SALT_OFFSET, wal->salt);
    put_le64(record + WAL_RECORD_SEQUENCE_OFFSET, wal->next_sequence);
    put_le64(record + WAL_RECORD_SYNCED_OFFSET, wal->durable_sequence);
    put_le32(record + WAL_RECORD_LENGTH_OFFSET, (uint32_t)(len - WAL_RECORD_HEADER_SIZE));
    record[WAL_RECORD_TYPE_OFFSET] = (uint8_t)type;
    put_le64(record + WAL_RECORD_CHECKSUM_OFFSET, checksum_64(record + 8, len - 8, 0));
}

static int append(struct wal *wal, unsigned type, uint8_t *record, size_t len)
{
    struct wal_chunk *chunk = &wal->chunks[wal->active];
    int rc;

    if (wal->file_size > WAL_HEADER_SIZE && wal->file_size + len > wal->segment_size_max) {
        rc = rotate(wal);
        if (rc < 0) return rc;
        chunk = &wal->chunks[wal->active];
    }
    frame(wal, type, record, len);
    if (len > wal->buffer_size - chunk->len) {
        rc = hand_over(wal);
        if (rc < 0) return rc;
        chunk = &wal->chunks[wal->active];
    }
    if (len <= wal->buffer_size) {
        memcpy(chunk->buf + chunk->len, record, len);
        chunk->len += len;
    } else {
        /* Larger than a buffer: a chunk of its own, written from the record. */
        chunk->bytes = record;
        chunk->len = len;
        wal->file_size += len;
        return hand_over(wal);
    }
    wal->file_size += len;
    return 0;
}

/*
 * The ring's buffers are taken at the first append: a database opened to
 * be read holds none.
 */
static int alloc_chunks(struct wal *wal)
{
    for (size_t i = 0; i < WAL_CHUNK_COUNT; i++) {
        wal->chunks[i].buf = env_malloc(wal->env, wal->buffer_size);
        if (!wal->chunks[i].buf) {
            free_chunks(wal);
            return -ENOMEM;
        }
        if (wal->chunks[i].len == 0) wal->chunks[i].bytes = wal->chunks[i].buf;
    }
    return 0;
}

int wal_append(struct wal *wal, unsigned type, uint8_t *record, size_t len, uint64_t *sequence_out)
{
    int rc;

    kdb_assert(type != WAL_RECORD_INVALID && type != WAL_RECORD_SEAL &&
               type < WAL_RECORD_TYPE_COUNT);
    kdb_assert(len >= WAL_RECORD_HEADER_SIZE);
    kdb_assert(len - WAL_RECORD_HEADER_SIZE <= wal->payload_size_max);
    *sequence_out = 0;
    if (wal->error) return wal->error;
    if (!wal->chunks[0].buf) {
        rc = alloc_chunks(wal);
        if (rc < 0) return rc;
    }
    rc = append(wal, type, record, len);
    if (rc < 0) {
        wal->error = rc;
        return rc;
    }
    *sequence_out = wal->next_sequence++;
    return 0;
}

int wal_sync(struct wal *wal)
{
    struct wal_chunk *chunk = &wal->chunks[wal->active];
    int rc;

    if (wal->error) return wal->error;
    /* Once the writer is idle the core writes the last chunk itself: a durable write
     * does not wait for a thread to wake up, and the fdatasync follows at once. */
    rc = wait_idle(wal);
    if (rc == 0) rc = write_chunk(wal, chunk);
    chunk_reset(wal, chunk);
    if (rc == 0) rc = sync_files(wal);
    if (rc < 0) wal->error = rc;
    return rc;
}

int wal_rotate(struct wal *wal, bool wait, uint64_t *number_out, uint64_t *ticket_out)
{
    int rc;

    *number_out = 0;
    *ticket_out = 0;
    if (wal->error) return wal->error;
    rc = rotate(wal);
    if (rc == 0 && wait) rc = wait_idle(wal);
    if (rc < 0) {
        wal->error = rc;
        return rc;
    }
    *number_out = wal->segment_number;
    *ticket_out = wal->handed_ends;
    return 0;
}

void wal_wait_rotated(struct wal *wal, uint64_t ticket)
{
    pthread_mutex_lock(&wal->lock);
    while (wal->ended < ticket)
        pthread_cond_wait(&wal->done, &wal->lock);
    pthread_mutex_unlock(&wal->lock);
}

/*
 * Ends a segment that holds records with a seal: a record that takes no
 * sequence number and says every record before it is durable, so that
 * replay reports damage to any of them as corruption instead of taking it
 * for a write torn by a crash. The writer must be idle and the log synced.
 */
static int seal(struct wal *wal)
{
    uint8_t record[WAL_RECORD_HEADER_SIZE];
    const struct kdb_vfs *vfs = wal->env->vfs;
    int rc;

    if (wal->file_size == WAL_HEADER_SIZE) return 0;
    frame(wal, WAL_RECORD_SEAL, record, sizeof(record));
    rc = vfs->pwrite(vfs->ctx, wal->fd, record, sizeof(record), wal->file_size);
    if (rc < 0) return rc;
    wal->file_size += sizeof(record);
    rc = vfs->fsync(vfs->ctx, wal->fd);
    if (rc == 0) wal->sync_count++;
    return rc;
}

int wal_close(struct wal *wal)
{
    int rc = wal_sync(wal);

    if (rc == 0) rc = seal(wal);
    if (wal->writer_running) {
        pthread_mutex_lock(&wal->lock);
        wal->stop = true;
        pthread_cond_signal(&wal->work);
        pthread_mutex_unlock(&wal->lock);
        pthread_join(wal->writer, NULL);
        wal->writer_running = false;
    }
    release(wal);
    return rc;
}
