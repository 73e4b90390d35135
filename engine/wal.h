/* SPDX-License-Identifier: MIT */
/*
 * wal.h: the write-ahead log.
 *
 * Every change is framed as a record (FORMAT.md, "WAL record"), appended to
 * the log and only then applied to the memtable by db.c. Appends gather in
 * a buffer; a full buffer goes to a writer thread, which writes it while
 * the core fills the next, so the core never waits for a pwrite. wal_sync()
 * hands over what is left, waits for the writer, and issues one fdatasync
 * for everything appended since the previous one (group commit). A segment
 * rotates once it passes the configured size; the full one is made durable
 * by the next wal_sync(), together with the current one.
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

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/*
 * A segment before the current one: its bytes count in wal_bytes() while
 * listed, and a replayed one stays mapped, since the memtable may point
 * into it, until wal_forget() or wal_close().
 */
struct wal_map {
    uint64_t number;
    uint64_t bytes;   /* file size, for the statistics */
    const void *addr; /* the mapping, or NULL */
    uint64_t size;    /* bytes mapped */
    bool listed;      /* the file exists and counts */
};

struct wal_options {
    uint64_t first_segment;      /* older segments are obsolete (their changes are in tables) */
    uint64_t first_sequence;     /* the sequence number that segment starts with */
    uint64_t segment_size_bytes; /* rotate once a segment passes this */
    uint32_t buffer_size_bytes;  /* append buffer */
    size_t payload_size_max;     /* largest payload a record may carry */
};

#define WAL_RETIRED_MAX 8  /* full segments awaiting their fdatasync */
#define WAL_CHUNK_COUNT 32 /* appends queued for the writer thread, one buffer each */

/*
 * A run of log bytes for the writer thread: one buffer's worth of records,
 * or a single record larger than a buffer. Owned by the core while it is
 * the active chunk, by the writer once handed over, until it is written.
 */
struct wal_chunk {
    uint8_t *buf;                /* buffer_size_bytes, owned */
    const uint8_t *bytes;        /* what to write: buf, or a large record kept by the caller */
    size_t len;                  /* bytes to write */
    uint64_t offset;             /* where, in the chunk's segment */
    uint64_t new_segment;        /* nonzero: first create this segment, with: */
    uint64_t new_salt;           /*   its salt, */
    uint64_t new_first_sequence; /*   its first sequence number, */
    uint64_t new_created_ns;     /*   its creation time */
    bool ends_segment;           /* after writing, the segment is full: retire it */
};

/*
 * Threads: the core (the caller) frames records and copies them into the
 * active chunk; the writer thread writes handed-over chunks in order,
 * creating and retiring segments as they say, so that no pwrite, writeback
 * or segment creation ever runs on the core. The core touches the files
 * only while the writer is idle (wal_sync(), wal_close()), so the VFS is
 * never called from two threads at once. Fields say who owns them.
 */
struct wal {
    const struct env *env;     /* borrowed until wal_close() */
    const char *dir;           /* the database directory; borrowed until wal_close() */
    uint64_t segment_size_max; /* bytes */
    size_t payload_size_max;   /* bytes */
    size_t buffer_size;        /* bytes of each chunk's buffer */

    /* Core. */
    uint64_t segment_number;   /* of the segment appends go to */
    uint64_t salt;             /* of that segment */
    uint64_t file_size;        /* bytes of that segment, written or queued */
    uint64_t next_sequence;    /* of the next record; sequences start at 1 */
    uint64_t durable_sequence; /* every record up to this one is fdatasync'd */
    uint64_t older_bytes;      /* bytes of the segments before that one */
    uint64_t segment_count;    /* segment files, that one included */
    uint64_t sync_count;       /* fdatasync calls on segments by wal_sync() since open */
    uint64_t replayed_records; /* records applied by wal_open() */
    uint64_t replayed_bytes;   /* bytes read by wal_open() */
    int error;                 /* sticky I/O error seen by the core: 0 or a negative errno */
    size_t active;             /* index of the chunk appends go to */
    uint64_t handed_ends;      /* segment-ending chunks handed to the writer */
    struct wal_map *maps;      /* segments before the current one, oldest first */
    size_t map_count;
    size_t map_capacity;

    /* Writer while it runs; the core only while it is idle. */
    int fd;                       /* the segment being written, -1 when none */
    uint64_t fd_number;           /* its number */
    int retired[WAL_RETIRED_MAX]; /* full segments not yet fdatasync'd, oldest first */
    uint64_t retired_number[WAL_RETIRED_MAX];
    size_t retired_count;
    bool dir_dirty; /* a segment was created since the last sync_dir */

    /* Shared, guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t work;                      /* signalled when a chunk is queued or stop is set */
    pthread_cond_t done;                      /* signalled when a chunk is written */
    struct wal_chunk chunks[WAL_CHUNK_COUNT]; /* a ring: queued ones start at head */
    size_t head;                              /* oldest queued chunk */
    size_t queued;                            /* chunks handed to the writer and not yet written */
    uint64_t ended;                           /* segment-ending chunks the writer is done with */
    uint64_t forgotten;   /* atomic: segments below this are in tables and need no fsync */
    int writer_error;     /* first error of the writer: 0 or a negative errno */
    void *prepare_memory; /* memory for the writer to ready (env_prepare()), or NULL */
    size_t prepare_size;
    bool stop;           /* the writer exits once the queue is empty */
    bool writer_running; /* pthread_create() succeeded; core only */
    bool sync_ready;     /* lock, work and done are initialized; core only */
    pthread_t writer;
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
 * stores its sequence number in *sequence_out. A record larger than a
 * buffer is written from record itself: it must stay valid until the next
 * wal_sync() or wal_close(). Returns the sticky error, or an I/O error of
 * the writer thread (which may have happened earlier): from then on every
 * append and sync returns it.
 */
KDB_MUST_USE int wal_append(struct wal *wal, unsigned type, uint8_t *record, size_t len,
                            uint64_t *sequence_out);

/*
 * Hands the active chunk to the writer, waits until everything is written,
 * and then, if anything is not yet durable, fdatasyncs the retired segments
 * and the current one (group commit).
 */
KDB_MUST_USE int wal_sync(struct wal *wal);

/*
 * Ends the current segment now and starts the next, whose number goes to
 * *number_out: every change appended so far is in the segments before it.
 * *ticket_out is for wal_wait_rotated(). With wait, returns only once the
 * writer is idle (so that the I/O that follows comes in a fixed order).
 */
KDB_MUST_USE int wal_rotate(struct wal *wal, bool wait, uint64_t *number_out, uint64_t *ticket_out);

/* Waits until the writer is done with the segments ended by that rotation. */
void wal_wait_rotated(struct wal *wal, uint64_t ticket);

/*
 * Forgets the segments numbered below number, whose changes now live in
 * tables: unmaps them and drops them from the counts. Deleting the files
 * is wal_remove_segments()'s.
 */
void wal_forget(struct wal *wal, uint64_t number);

/* Unlinks segments [from, to) of dir that exist; any thread. */
KDB_MUST_USE int wal_remove_segments(const struct env *env, const char *dir, uint64_t from,
                                     uint64_t to);

/*
 * Asks the writer thread to ready memory[0..size) with env_prepare() when
 * it is free: arena chunks fault in off the core. Only one request waits at
 * a time; a second one while the first waits is dropped. Never blocks.
 */
void wal_prepare_memory(struct wal *wal, void *memory, size_t size);

/* Seals and syncs the log, then closes the segments, unmaps the replayed
 * ones (records from replay become invalid) and frees the buffer, even on
 * error; returns the first error. */
int wal_close(struct wal *wal);

/* Bytes of the log, written or queued. */
static inline uint64_t wal_bytes(const struct wal *wal)
{
    return wal->older_bytes + wal->file_size;
}

/*
 * Fills the header of a record that is never logged, only held in a
 * memtable: a change another record implies (the edge tombstones of a
 * deleted block). Type, sequence and length are set; checksum and salt are
 * zero, as nothing reads them.
 */
static inline void wal_record_implied(uint8_t *record, unsigned type, uint64_t sequence,
                                      uint32_t payload_len)
{
    memset(record, 0, WAL_RECORD_HEADER_SIZE);
    put_le64(record + WAL_RECORD_SEQUENCE_OFFSET, sequence);
    put_le32(record + WAL_RECORD_LENGTH_OFFSET, payload_len);
    record[WAL_RECORD_TYPE_OFFSET] = (uint8_t)type;
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
