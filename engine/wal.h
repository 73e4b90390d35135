/* SPDX-License-Identifier: MIT */
/*
 * wal.h: the write-ahead log.
 *
 * Every change is framed as a record (FORMAT.md, "WAL record"), appended to
 * the current segment file and only then applied to the memtable by db.c.
 * Appends gather in a buffer and reach the file in one pwrite when it fills
 * or at wal_sync(), which then issues one fdatasync for everything appended
 * since the previous one (group commit). A segment rotates once it passes
 * the configured size; the full one is made durable by the next wal_sync(),
 * together with the current one, so a rotation never waits for the disk.
 *
 * wal_open() replays every segment in order through the caller's callbacks,
 * drops a torn tail (what was written after the last sync and damaged by a
 * crash: the rest of its segment and any later segment), reports damage to
 * anything that was durable as corruption, and starts a fresh segment. After an
 * I/O error the log refuses further appends with that error (sticky) until
 * it is reopened: what reached the file is then sorted out by replay.
 *
 * Called by db.c; calls the VFS (through env) and checksum.c.
 */
#ifndef KDB_ENGINE_WAL_H
#define KDB_ENGINE_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"
#include "env.h"
#include "format.h"

/* What replay hands back to the caller. */
struct wal_replay {
    void *ctx;
    /* A record whose frame and checksum are good, in sequence order:
     * record is a checked copy, valid during the call; kept is the same
     * bytes in the segment's mapping, valid until wal_close(), and not yet
     * touched (reading it faults the page in). A nonzero return stops the
     * replay and is returned by wal_open(). */
    int (*apply)(void *ctx, const uint8_t *record, const uint8_t *kept);
};

/* A replayed segment, mapped read-only; records in it stay in use. */
struct wal_map {
    const void *addr;
    uint64_t size;
};

struct wal_options {
    uint64_t segment_size_bytes; /* rotate once a segment passes this */
    uint32_t buffer_size_bytes;  /* append buffer */
    size_t payload_size_max;     /* largest payload a record may carry */
};

#define WAL_RETIRED_MAX 8 /* full segments awaiting their fdatasync */

struct wal {
    const struct env *env;        /* borrowed until wal_close() */
    const char *dir;              /* the database directory; borrowed until wal_close() */
    int fd;                       /* the current segment, -1 when there is none */
    int retired[WAL_RETIRED_MAX]; /* full segments not yet fdatasync'd, oldest first */
    size_t retired_count;
    uint64_t segment_number;   /* of the current segment */
    uint64_t salt;             /* of the current segment */
    uint64_t segment_size_max; /* bytes */
    size_t payload_size_max;   /* bytes */
    uint64_t file_size;        /* bytes of the current segment in the file */
    uint8_t *buf;              /* appends not yet written, for file offset file_size */
    size_t buf_size;           /* capacity of buf */
    size_t buf_len;            /* bytes used in buf */
    uint64_t next_sequence;    /* of the next record; sequences start at 1 */
    uint64_t durable_sequence; /* every record up to this one is fdatasync'd */
    uint64_t older_bytes;      /* bytes of the segments before the current one */
    uint64_t segment_count;    /* segment files, the current one included */
    uint64_t sync_count;       /* fdatasync calls on segments since open */
    uint64_t replayed_records; /* records applied by wal_open() */
    uint64_t replayed_bytes;   /* bytes read by wal_open() */
    int error;                 /* sticky I/O error: 0 or a negative errno */
    struct wal_map *maps;      /* replayed segments, unmapped by wal_close() */
    size_t map_count;
    size_t map_capacity;
};

/*
 * Replays the log in dir, then starts a new segment. On failure nothing is
 * left open. Returns -EUCLEAN (damage, logged with its segment and offset),
 * -EBADMSG (a segment header's checksum), -ENOTSUP (a newer format),
 * -ENOMEM, the first nonzero return of replay->apply, or an I/O error.
 */
KDB_MUST_USE int wal_open(struct wal *wal, const struct env *env, const char *dir,
                          const struct wal_options *options, const struct wal_replay *replay);

/*
 * Frames record[0..len) in place: record holds WAL_RECORD_HEADER_SIZE bytes
 * for the header, which this fills, then the payload. Then appends it and
 * stores its sequence number in *sequence_out. The record is borrowed.
 * Returns the sticky error, or the I/O error that makes it so.
 */
KDB_MUST_USE int wal_append(struct wal *wal, unsigned type, uint8_t *record, size_t len,
                            uint64_t *sequence_out);

/* Writes the buffer and, if anything is not yet durable, fdatasyncs it. */
KDB_MUST_USE int wal_sync(struct wal *wal);

/* Seals and syncs the log, then closes the segments, unmaps the replayed
 * ones (records from replay become invalid) and frees the buffer, even on
 * error; returns the first error. */
int wal_close(struct wal *wal);

/* Bytes of the log, written or buffered. */
static inline uint64_t wal_bytes(const struct wal *wal)
{
    return wal->older_bytes + wal->file_size + wal->buf_len;
}

/* Accessors for a framed record. */
static inline unsigned wal_record_type(const uint8_t *record)
{
    return record[WAL_RECORD_TYPE_OFFSET];
}

static inline uint64_t wal_record_sequence(const uint8_t *record)
{
    return get_le64(record + WAL_RECORD_SEQUENCE_OFFSET);
}

static inline uint32_t wal_record_payload_len(const uint8_t *record)
{
    return get_le32(record + WAL_RECORD_LENGTH_OFFSET);
}

static inline const uint8_t *wal_record_payload(const uint8_t *record)
{
    return record + WAL_RECORD_HEADER_SIZE;
}

#endif /* KDB_ENGINE_WAL_H */
