/* SPDX-License-Identifier: MIT */
/*
 * lsm.h: the tables of the LSM tree, and the two workers that change them.
 *
 * The core (db.c) owns the memtable. When it fills, the core ends the log
 * segment, freezes the memtable and hands it to the flusher, which writes
 * it out as a table and commits a manifest that names the table and moves
 * the log's start past the frozen segments, then deletes them. The
 * compactor merges a run of tables into one, drops versions the run itself
 * shadows and tombstones no older table can need, commits a manifest
 * without the inputs and deletes them. Both run on threads of their own, so
 * that a long compaction never holds up a flush; each commits its own
 * manifest under a lock that orders the two. A compaction waits while a
 * flush runs, unless there are LSM_TABLES_SOFT tables or more.
 *
 * Compaction is size-tiered (FORMAT.md, "Compaction", says why): tables
 * are kept newest first, and a run of adjacent tables is merged once it
 * holds at least LSM_MERGE_WIDTH tables each no larger than the newer ones
 * together. A merge always takes adjacent tables, so "newer table" keeps
 * meaning "newer data", which is what lets reads stop at the first table
 * that knows an id.
 *
 * Ownership: the table list belongs to the core; a worker reads the tables
 * a job names, which no one closes while it runs (only the core closes
 * tables, when it installs a finished compaction). A worker's result
 * reaches the list only through lsm_install_*() on the core, inside a
 * change, so a view of a table stays valid until the next change (kdb.h).
 *
 * Foreground mode runs every job on the core at submission: slower, but
 * the I/O comes in the same order on every run (tests use it).
 */
#ifndef KDB_ENGINE_LSM_H
#define KDB_ENGINE_LSM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "manifest.h"
#include "memtable.h"
#include "table.h"

#define LSM_MERGE_WIDTH 4 /* tables a compaction takes at least */
#define LSM_TABLES_SOFT                                                                            \
    16 /* from here, compaction no longer waits for flushes, and merges
                              the newest tables whatever their sizes */

enum lsm_job_kind { LSM_JOB_FLUSH = 1, LSM_JOB_COMPACT = 2 };

struct lsm_job {
    enum lsm_job_kind kind;
    uint64_t number; /* of the output table */
    /* Flush: the frozen memtable and what the manifest says once it is a table. */
    const struct memtable *memtable;
    uint64_t log_number;
    uint64_t last_sequence;
    uint64_t block_count;
    /* Compaction: a copy of the list; a run of it, newest first; every table older. */
    struct table **list;
    struct table **inputs;
    size_t input_count;
    struct table **older;
    size_t older_count;
    /* Result. */
    int rc;
    struct table *output; /* NULL when nothing survived */
    uint64_t bytes_written;
    uint64_t bytes_read;
    uint64_t records_in;
    uint64_t records_out;
};

struct lsm;

struct lsm_worker {
    struct lsm *lsm;
    pthread_t thread;
    bool running; /* core: the thread exists */
    bool busy;    /* core: a job is out, not yet installed */
    bool done;    /* shared: the job finished (atomic) */
    bool work;    /* shared: a job is waiting (under lsm->lock) */
    struct lsm_job job;
};

struct lsm_stats {
    uint64_t flush_count;
    uint64_t flush_bytes;
    uint64_t compaction_count;
    uint64_t compaction_bytes_read;
    uint64_t compaction_bytes_written;
    uint64_t compaction_ns;
};

struct lsm {
    const struct env *env;
    const char *dir; /* borrowed until lsm_close() */
    bool foreground;

    /* Core. */
    struct table **tables; /* newest first */
    size_t table_count;
    size_t table_capacity;
    uint64_t next_file_number;
    struct lsm_stats stats;

    /* Shared. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;          /* atomic: workers exit, a compaction gives up */
    bool flushing;      /* atomic: a flush is running; a compaction waits for it */
    size_t tables_live; /* atomic: table_count, for the compactor to read */
    bool sync_ready;
    /* Tables compacted away, out of the list, for the compactor to free
     * (under lock): the last unmapping of an unlinked file is when the file
     * system frees its blocks, which takes far too long for the core. */
    struct table **dead;
    size_t dead_count;
    size_t dead_capacity;
    pthread_mutex_t manifest_lock; /* held while a worker commits a manifest */
    struct manifest *committed;    /* the manifest on disk; under manifest_lock */

    struct lsm_worker flusher;
    struct lsm_worker compactor;
};

/*
 * Reads the manifest (none: an empty database), opens its tables (brief:
 * for a brief handle, table.h) and removes leftovers of a crash: unfinished
 * files and tables the manifest does not name. *log_number and *last_sequence say where the log starts,
 * *block_count how many blocks the tables hold live. Returns an error as
 * table_open() and manifest_read() do; on failure nothing is left open.
 */
KDB_MUST_USE int lsm_open(struct lsm *lsm, const struct env *env, const char *dir, bool foreground,
                          bool brief, uint64_t *log_number, uint64_t *last_sequence,
                          uint64_t *block_count);

/* Stops the workers (a compaction is abandoned), closes every table. */
void lsm_close(struct lsm *lsm);

/*
 * Hands memtable, frozen, to the flusher. It covers the log up to segment
 * log_number (excluded) and sequence last_sequence; block_count blocks
 * were live at that point. The flusher must not be busy.
 */
KDB_MUST_USE int lsm_submit_flush(struct lsm *lsm, const struct memtable *memtable,
                                  uint64_t log_number, uint64_t last_sequence,
                                  uint64_t block_count);

/*
 * Lookups in every table go through its mapping from now on (table.h,
 * table_end_brief()): before a reader of much, or of many records at once.
 */
void lsm_end_brief(struct lsm *lsm);

/* Starts a compaction if the tables call for one and the compactor is free: returns 1 if it did. */
KDB_MUST_USE int lsm_maybe_compact(struct lsm *lsm);

/*
 * Starts a compaction of every table into one, which drops every tombstone
 * and shadowed version; returns 1 if there was anything to do. The
 * compactor must be free.
 */
KDB_MUST_USE int lsm_compact_all(struct lsm *lsm);

/* Whether the worker's job finished; wait blocks until it does. */
bool lsm_job_done(struct lsm_worker *w, bool wait);

/* Puts a finished flush's table in the list. Returns the job's error. */
KDB_MUST_USE int lsm_install_flush(struct lsm *lsm);

/* Replaces a finished compaction's inputs with its output. Returns the job's error. */
KDB_MUST_USE int lsm_install_compaction(struct lsm *lsm);

/* Bytes of the table files. */
uint64_t lsm_table_bytes(const struct lsm *lsm);

#endif /* KDB_ENGINE_LSM_H */
