/* SPDX-License-Identifier: MIT */
/*
 * lsm.c: the table list, flushes, compactions and their manifests (lsm.h).
 */
#include "lsm.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "block.h"
#include "checksum.h"
#include "kassert.h"
#include "wal.h"

#define LSM_CANCEL_CHECK 4096       /* records a compaction copies between looks at stop */
#define LSM_RELEASE_UNIT (2u << 20) /* inputs' pages are given back in these (a huge page) */
#define TABLE_REF_SIZE   sizeof(struct table *) /* an entry of the table list */

/* ---- the table list (core) ---- */

static int list_reserve(struct lsm *lsm, size_t count)
{
    struct table **tables;
    size_t capacity;

    if (count <= lsm->table_capacity) return 0;
    capacity = lsm->table_capacity ? lsm->table_capacity * 2 : 16;
    while (capacity < count)
        capacity *= 2;
    tables = env_realloc(lsm->env, lsm->tables, capacity * TABLE_REF_SIZE);
    if (!tables) return -ENOMEM;
    lsm->tables = tables;
    lsm->table_capacity = capacity;
    return 0;
}

static void table_free(const struct env *env, struct table *t)
{
    if (!t) return;
    table_close(t, env);
    env_free(env, t);
}

/* Opens table number into a new struct; brief: for a brief handle (table.h). */
static int table_new(const struct env *env, const char *dir, uint64_t number, bool brief,
                     struct table **out)
{
    struct table *t = env_malloc(env, sizeof(*t));
    int rc;

    *out = NULL;
    if (!t) return -ENOMEM;
    rc = table_open(t, env, dir, number, brief);
    if (rc < 0) {
        env_free(env, t);
        return rc;
    }
    *out = t;
    return 0;
}

uint64_t lsm_table_bytes(const struct lsm *lsm)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < lsm->table_count; i++)
        bytes += lsm->tables[i]->size;
    return bytes;
}

/* ---- manifests (workers, one at a time) ---- */

static bool is_input(const struct lsm_job *job, uint64_t number)
{
    for (size_t i = 0; i < job->input_count; i++) {
        if (job->inputs[i]->number == number) return true;
    }
    return false;
}

/*
 * Commits the manifest that follows from the committed one and job's
 * result; *old_log_number gets the log start it replaced.
 */
static int commit(struct lsm *lsm, const struct lsm_job *job, uint64_t *old_log_number)
{
    const struct manifest *old;
    struct manifest *m;
    size_t n = 0;
    int rc;

    pthread_mutex_lock(&lsm->manifest_lock);
    old = lsm->committed;
    *old_log_number = old->log_number;
    m = manifest_new(lsm->env, old->table_count + 1);
    if (!m) {
        pthread_mutex_unlock(&lsm->manifest_lock);
        return -ENOMEM;
    }
    *m = *old;
    m->next_file_number =
        old->next_file_number > job->number ? old->next_file_number : job->number + 1;
    if (job->kind == LSM_JOB_FLUSH) {
        m->log_number = job->log_number;
        m->last_sequence = job->last_sequence;
        m->block_count = job->block_count;
        if (job->output)
            m->tables[n++] = (struct manifest_table){job->output->number, job->output->size};
        for (size_t i = 0; i < old->table_count; i++)
            m->tables[n++] = old->tables[i];
    } else {
        bool placed = false;
        for (size_t i = 0; i < old->table_count; i++) {
            if (!is_input(job, old->tables[i].number)) {
                m->tables[n++] = old->tables[i];
            } else if (!placed) {
                placed = true;
                if (job->output)
                    m->tables[n++] =
                        (struct manifest_table){job->output->number, job->output->size};
            }
        }
    }
    m->table_count = n;
    rc = manifest_write(lsm->env, lsm->dir, m);
    if (rc == 0) {
        env_free(lsm->env, lsm->committed);
        lsm->committed = m;
    } else {
        env_free(lsm->env, m);
    }
    pthread_mutex_unlock(&lsm->manifest_lock);
    return rc;
}

/* Finishes a built table: fsync'd and renamed already; its name made durable, then opened. */
static int finish_output(struct lsm *lsm, struct table_builder *tb, struct lsm_job *job)
{
    struct table_info info;
    int rc = table_builder_finish(tb, &info);

    if (rc == 0) rc = lsm->env->vfs->sync_dir(lsm->env->vfs->ctx, lsm->dir);
    if (rc == 0) rc = table_new(lsm->env, lsm->dir, info.number, false, &job->output);
    job->bytes_written = info.size;
    job->records_out = info.count;
    return rc;
}

static void remove_table_file(struct lsm *lsm, uint64_t number)
{
    char path[4200];

    if (table_path(path, sizeof(path), lsm->dir, number, TABLE_SUFFIX) == 0)
        (void)lsm->env->vfs->unlink(lsm->env->vfs->ctx, path);
}

/* After a failure: forgets the output, and deletes its file when no manifest can name it. */
static int drop_output(struct lsm *lsm, struct lsm_job *job, bool remove, int rc)
{
    if (job->output) {
        if (remove) remove_table_file(lsm, job->output->number);
        table_free(lsm->env, job->output);
        job->output = NULL;
    }
    return rc;
}

/* ---- flush ---- */

static int run_flush(struct lsm *lsm, struct lsm_job *job)
{
    struct table_builder *tb = NULL;
    struct memtable_ref *refs = NULL;
    uint64_t old_log = 0;
    size_t count = 0, blocks = 0;
    int rc = memtable_sorted(job->memtable, &refs, &count, &blocks);

    if (rc == 0 && count) {
        tb = env_malloc(lsm->env, sizeof(*tb));
        rc = tb ? table_builder_start(tb, lsm->env, lsm->dir, job->number) : -ENOMEM;
        for (size_t i = 0; rc == 0 && i < count; i++) {
            const struct memtable_entry *e = refs[i].entry;
            rc =
                table_builder_add(tb, refs[i].id, e->version, wal_record_type(e->record),
                                  wal_record_payload(e->record), wal_record_payload_len(e->record));
        }
        if (rc == 0)
            rc = finish_output(lsm, tb, job);
        else if (tb)
            table_builder_abort(tb);
        job->records_in = count;
    }
    env_free(lsm->env, refs);
    env_free(lsm->env, tb);
    if (rc < 0) return drop_output(lsm, job, true, rc);
    rc = commit(lsm, job, &old_log);
    /* A failed commit may have renamed the manifest into place: the table
     * stays for the next open to keep or remove, whichever manifest it finds. */
    if (rc < 0) return drop_output(lsm, job, false, rc);
    /* The frozen segments' changes are in a table now. What this cannot
     * remove (a crash before it, or an error) the next open removes. */
    rc = wal_remove_segments(lsm->env, lsm->dir, old_log, job->log_number);
    if (rc < 0) {
        env_log(lsm->env, KDB_LOG_WARNING, __FILE__, __LINE__,
                "flushed log segments stay until the next open: %s", kdb_strerror(rc));
    }
    return 0;
}

/* ---- compaction ---- */

/* Whether a table older than the run may hold id: then its tombstone must stay. */
static bool older_may_hold(const struct lsm *lsm, const struct lsm_job *job, const uint8_t *id,
                           bool edge)
{
    uint64_t hash = hash_id(id);

    for (size_t i = 0; i < job->older_count; i++) {
        int64_t at;
        if (edge) {
            at = table_find_edge(job->older[i], lsm->env, id);
        } else {
            int maybe = table_may_contain(job->older[i], lsm->env, hash);
            if (maybe == 0) continue;
            at = maybe < 0 ? maybe : table_find(job->older[i], lsm->env, id);
        }
        if (at != -ENOENT) return true; /* found, or damaged: the tombstone stays */
    }
    return false;
}

static bool stopping(const struct lsm *lsm)
{
    return __atomic_load_n(&lsm->stop, __ATOMIC_ACQUIRE);
}

/*
 * A flush in progress goes first while there are few tables: writes stall
 * only when a flush falls behind, so a compaction waits while one runs
 * rather than share the disk with it, and catches up whenever writes
 * pause. Past LSM_TABLES_SOFT tables it shares the disk anyway: under
 * writes that never pause, tables (and the space they hold) stay bounded.
 */
static void yield_to_flush(struct lsm *lsm)
{
    if (!__atomic_load_n(&lsm->flushing, __ATOMIC_ACQUIRE)) return;
    pthread_mutex_lock(&lsm->lock);
    while (lsm->flushing && !lsm->stop &&
           __atomic_load_n(&lsm->tables_live, __ATOMIC_ACQUIRE) < LSM_TABLES_SOFT)
        pthread_cond_wait(&lsm->cond, &lsm->lock);
    pthread_mutex_unlock(&lsm->lock);
}

/* The input holding the smallest id at the cursors, newest on ties; -1 when all are done. */
static int smallest(const struct lsm_job *job, const uint64_t *pos)
{
    const uint8_t *min = NULL;
    int win = -1;

    bool min_edge = false;

    for (size_t j = 0; j < job->input_count; j++) {
        if (pos[j] < job->inputs[j]->count) {
            const uint8_t *id = table_id_at(job->inputs[j], pos[j]);
            bool edge = table_is_edge(job->inputs[j], pos[j]);
            /* Blocks by id, then edges by key, as tables hold them. */
            if (!min || (edge != min_edge ? !edge : memcmp(id, min, 16) < 0)) {
                min = id;
                min_edge = edge;
                win = (int)j;
            }
        }
    }
    return win;
}

/* Copies entry i of t into the output after checking its checksum. */
static int copy_record(struct lsm *lsm, struct table_builder *tb, const struct table *t, uint64_t i,
                       uint64_t *bytes_read)
{
    const uint8_t *bytes;
    size_t len;
    uint64_t flags, sum;

    table_raw_at(t, i, &bytes, &len, &flags, &sum);
    *bytes_read += len;
    if (checksum_64(bytes, len, 0) != sum) {
        env_log(lsm->env, KDB_LOG_ERROR, __FILE__, __LINE__,
                "table " TABLE_PREFIX "%016" PRIx64 TABLE_SUFFIX
                ": a record's checksum does not match; compaction stopped",
                t->number);
        return -KDB_ECHECKSUM;
    }
    return table_builder_add_raw(tb, table_id_at(t, i), bytes, len, flags, sum);
}

/*
 * Gives back the pages of the inputs that the merge is past, a unit at a
 * time: a compaction reads every record and index entry once, and the pages
 * it read would otherwise stay in the process's memory until the inputs are
 * closed. released[j] and released[n + j] (n inputs): how far input j's
 * records and its index are given back.
 */
static void release_read(const struct lsm *lsm, const struct lsm_job *job, const uint64_t *pos,
                         uint64_t *released)
{
    if (!lsm->env->vfs->release) return;
    for (size_t j = 0; j < job->input_count; j++) {
        const struct table *t = job->inputs[j];
        const uint8_t *bytes;
        size_t len;
        uint64_t flags, sum;
        if (pos[j] >= t->count) continue; /* done: closed soon */
        table_raw_at(t, pos[j], &bytes, &len, &flags, &sum);
        table_give_back(t, lsm->env, &released[j], (uint64_t)(bytes - t->map), LSM_RELEASE_UNIT);
        table_give_back(t, lsm->env, &released[job->input_count + j],
                        (uint64_t)(table_id_at(t, pos[j]) - t->map), LSM_RELEASE_UNIT);
    }
}

/*
 * Checks each input's index whole, as a compaction reads every entry,
 * giving its pages back as it goes: the merge reads them again in order,
 * and an index takes 32 bytes a record, as much as the records of a table
 * of edges. Sets where release_read() starts on each index.
 */
static int check_inputs(const struct lsm *lsm, const struct lsm_job *job, uint64_t *released)
{
    for (size_t j = 0; j < job->input_count; j++) {
        const struct table *t = job->inputs[j];
        int rc = table_check_all(t, lsm->env, true);
        if (rc < 0) return rc;
        released[job->input_count + j] = table_index_page(t);
    }
    return 0;
}

static int merge(struct lsm *lsm, struct lsm_job *job, struct table_builder *tb, bool *started,
                 uint64_t *pos, uint64_t *released, uint64_t *bytes_read)
{
    uint64_t release_at = LSM_RELEASE_UNIT; /* bytes_read when the next release is due */
    int rc = 0;

    for (uint64_t n = 1;; n++) {
        int win = smallest(job, pos);
        const struct table *t;
        const uint8_t *id;
        uint64_t i;

        if (win < 0) return 0;
        if (n % LSM_CANCEL_CHECK == 0) {
            yield_to_flush(lsm);
            if (stopping(lsm)) return -ECANCELED;
        }
        /* Every unit of records copied (4096 records of files' text are 80 MB), and
         * every 4096 records (a run of tombstones reads only the index). */
        if (*bytes_read >= release_at || n % LSM_CANCEL_CHECK == 0) {
            release_read(lsm, job, pos, released);
            release_at = *bytes_read + LSM_RELEASE_UNIT;
        }
        t = job->inputs[win];
        i = pos[win];
        id = table_id_at(t, i);
        bool edge = table_is_edge(t, i);
        for (size_t j = 0; j < job->input_count; j++) {
            if (pos[j] < job->inputs[j]->count &&
                (j == (size_t)win || (table_is_edge(job->inputs[j], pos[j]) == edge &&
                                      memcmp(table_id_at(job->inputs[j], pos[j]), id, 16) == 0))) {
                pos[j]++;
                job->records_in++;
            }
        }
        if (table_is_tombstone(t, i) && !older_may_hold(lsm, job, id, edge)) continue;
        if (!*started) {
            rc = table_builder_start(tb, lsm->env, lsm->dir, job->number);
            if (rc < 0) return rc;
            *started = true;
        }
        rc = copy_record(lsm, tb, t, i, bytes_read);
        if (rc < 0) return rc;
    }
}

static int run_compaction(struct lsm *lsm, struct lsm_job *job)
{
    struct table_builder *tb = env_malloc(lsm->env, sizeof(*tb));
    uint64_t *pos = env_calloc(lsm->env, 3 * job->input_count, sizeof(*pos));
    uint64_t *released = pos ? pos + job->input_count : NULL; /* records, then indexes */
    uint64_t bytes_read = 0, old_log = 0;
    bool started = false;
    int rc = tb && pos ? 0 : -ENOMEM;

    /* Every entry of the inputs is read: their index pages and structure checked first. */
    if (rc == 0) rc = check_inputs(lsm, job, released);
    if (rc == 0) rc = merge(lsm, job, tb, &started, pos, released, &bytes_read);
    if (rc == 0 && started)
        rc = finish_output(lsm, tb, job);
    else if (started)
        table_builder_abort(tb);
    env_free(lsm->env, tb);
    env_free(lsm->env, pos);
    job->bytes_read = bytes_read;
    if (rc < 0) return drop_output(lsm, job, true, rc);
    rc = commit(lsm, job, &old_log);
    if (rc < 0) return drop_output(lsm, job, false, rc);
    for (size_t i = 0; i < job->input_count; i++)
        remove_table_file(lsm, job->inputs[i]->number);
    return 0;
}

/*
 * Hands tables no longer in the list to the compactor to free; frees them
 * here when there is no compactor thread, or no memory to list them.
 */
static void bury(struct lsm *lsm, struct table *const *tables, size_t count)
{
    bool listed = false;

    if (!lsm->foreground && lsm->compactor.running) {
        pthread_mutex_lock(&lsm->lock);
        if (lsm->dead_count + count > lsm->dead_capacity) {
            size_t want = lsm->dead_count + count + 16;
            struct table **grown = env_realloc(lsm->env, lsm->dead, want * TABLE_REF_SIZE);
            if (grown) {
                lsm->dead = grown;
                lsm->dead_capacity = want;
            }
        }
        if (lsm->dead_count + count <= lsm->dead_capacity) {
            memcpy(lsm->dead + lsm->dead_count, tables, count * TABLE_REF_SIZE);
            lsm->dead_count += count;
            listed = true;
            pthread_cond_broadcast(&lsm->cond);
        }
        pthread_mutex_unlock(&lsm->lock);
    }
    if (!listed) {
        for (size_t i = 0; i < count; i++)
            table_free(lsm->env, tables[i]);
    }
}

/* Frees the buried tables; the caller holds lsm->lock, which is dropped meanwhile. */
static void free_dead_locked(struct lsm *lsm)
{
    struct table **dead = lsm->dead;
    size_t count = lsm->dead_count;

    lsm->dead = NULL;
    lsm->dead_count = lsm->dead_capacity = 0;
    pthread_mutex_unlock(&lsm->lock);
    for (size_t i = 0; i < count; i++)
        table_free(lsm->env, dead[i]);
    env_free(lsm->env, dead);
    pthread_mutex_lock(&lsm->lock);
}

/* ---- workers ---- */

static void run_job(struct lsm *lsm, struct lsm_job *job)
{
    const struct kdb_vfs *vfs = lsm->env->vfs;
    uint64_t start = vfs->now_ns(vfs->ctx);
    double ms;

    job->rc = job->kind == LSM_JOB_FLUSH ? run_flush(lsm, job) : run_compaction(lsm, job);
    if (job->rc < 0) {
        if (job->rc != -ECANCELED) {
            env_log(lsm->env, KDB_LOG_ERROR, __FILE__, __LINE__, "%s failed: %s",
                    job->kind == LSM_JOB_FLUSH ? "flush" : "compaction", kdb_strerror(job->rc));
        }
        return;
    }
    ms = (double)(vfs->now_ns(vfs->ctx) - start) / 1e6;
    if (job->kind == LSM_JOB_FLUSH) {
        env_log(lsm->env, KDB_LOG_INFO, __FILE__, __LINE__,
                "flush: %" PRIu64 " records, %.1f MiB written in %.0f ms", job->records_in,
                (double)job->bytes_written / 1048576.0, ms);
    } else {
        env_log(lsm->env, KDB_LOG_INFO, __FILE__, __LINE__,
                "compaction: %zu tables, %" PRIu64 " records, %.1f MiB read, %.1f MiB written"
                " in %.0f ms",
                job->input_count, job->records_in, (double)job->bytes_read / 1048576.0,
                (double)job->bytes_written / 1048576.0, ms);
    }
}

/*
 * The compactor's I/O waits while other I/O is queued (the idle class of
 * the kernel's I/O priorities; the mq-deadline and BFQ schedulers honour
 * it, and mq-deadline still serves idle I/O within prio_aging_expire, 10 s
 * by default): a flush, which writes stall behind, never waits behind a
 * compaction. Best effort: where the call fails the compactor just shares
 * the disk.
 */
static void set_idle_io_priority(void)
{
    enum { IOPRIO_WHO_PROCESS = 1, IOPRIO_CLASS_IDLE = 3, IOPRIO_CLASS_SHIFT = 13 };
    (void)syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0 /* this thread */,
                  IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT);
}

static void *worker_main(void *arg)
{
    struct lsm_worker *w = arg;
    struct lsm *lsm = w->lsm;

    (void)pthread_setname_np(pthread_self(), w == &lsm->compactor ? "kdb-compact" : "kdb-flush");
    if (w == &lsm->compactor) set_idle_io_priority();
    pthread_mutex_lock(&lsm->lock);
    for (;;) {
        while (!w->work && !lsm->stop && !(w == &lsm->compactor && lsm->dead_count))
            pthread_cond_wait(&lsm->cond, &lsm->lock);
        if (w == &lsm->compactor && lsm->dead_count) {
            free_dead_locked(lsm);
            continue;
        }
        if (!w->work) break;
        w->work = false;
        if (w->job.kind == LSM_JOB_FLUSH) __atomic_store_n(&lsm->flushing, true, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&lsm->lock);
        run_job(lsm, &w->job);
        pthread_mutex_lock(&lsm->lock);
        if (w->job.kind == LSM_JOB_FLUSH) __atomic_store_n(&lsm->flushing, false, __ATOMIC_RELEASE);
        __atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&lsm->cond);
    }
    pthread_mutex_unlock(&lsm->lock);
    return NULL;
}

static int submit(struct lsm *lsm, struct lsm_worker *w)
{
    int rc;

    w->busy = true;
    w->done = false;
    if (lsm->foreground) {
        run_job(lsm, &w->job);
        w->done = true;
        return 0;
    }
    if (!w->running) {
        rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc) {
            w->busy = false;
            return -rc;
        }
        w->running = true;
    }
    pthread_mutex_lock(&lsm->lock);
    w->work = true;
    pthread_cond_broadcast(&lsm->cond);
    pthread_mutex_unlock(&lsm->lock);
    return 0;
}

bool lsm_job_done(struct lsm_worker *w, bool wait)
{
    struct lsm *lsm = w->lsm;

    if (!w->busy) return false;
    if (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) return true;
    if (!wait) return false;
    pthread_mutex_lock(&lsm->lock);
    while (!w->done)
        pthread_cond_wait(&lsm->cond, &lsm->lock);
    pthread_mutex_unlock(&lsm->lock);
    return true;
}

int lsm_submit_flush(struct lsm *lsm, const struct memtable *memtable, uint64_t log_number,
                     uint64_t last_sequence, uint64_t block_count)
{
    struct lsm_worker *w = &lsm->flusher;

    kdb_assert(!w->busy);
    w->job = (struct lsm_job){
        .kind = LSM_JOB_FLUSH,
        .number = lsm->next_file_number++,
        .memtable = memtable,
        .log_number = log_number,
        .last_sequence = last_sequence,
        .block_count = block_count,
    };
    return submit(lsm, w);
}

int lsm_install_flush(struct lsm *lsm)
{
    struct lsm_job *job = &lsm->flusher.job;
    int rc;

    kdb_assert(lsm->flusher.busy && lsm->flusher.done);
    lsm->flusher.busy = false;
    if (job->rc < 0) {
        kdb_assert(!job->output);
        return job->rc;
    }
    lsm->stats.flush_count++;
    lsm->stats.flush_bytes += job->bytes_written;
    if (!job->output) return 0;
    rc = list_reserve(lsm, lsm->table_count + 1);
    if (rc < 0) {
        /* The manifest names it; the next open will find it. */
        table_free(lsm->env, job->output);
        return rc;
    }
    memmove(lsm->tables + 1, lsm->tables, lsm->table_count * TABLE_REF_SIZE);
    lsm->tables[0] = job->output;
    lsm->table_count++;
    __atomic_store_n(&lsm->tables_live, lsm->table_count, __ATOMIC_RELEASE);
    job->output = NULL;
    return 0;
}

/* The run to merge, as [*first, *end) of the list; false when none is due. */
static bool pick_run(const struct lsm *lsm, size_t *first, size_t *end)
{
    size_t n = lsm->table_count;

    for (size_t start = 0; start + LSM_MERGE_WIDTH <= n; start++) {
        uint64_t total = lsm->tables[start]->size;
        size_t stop = start + 1;
        while (stop < n && lsm->tables[stop]->size <= total)
            total += lsm->tables[stop++]->size;
        if (stop - start >= LSM_MERGE_WIDTH) {
            *first = start;
            *end = stop;
            return true;
        }
    }
    if (n > LSM_TABLES_SOFT) {
        *first = 0;
        *end = n - LSM_TABLES_SOFT + LSM_MERGE_WIDTH;
        return true;
    }
    return false;
}

static void free_job_list(struct lsm *lsm, struct lsm_job *job)
{
    env_free(lsm->env, job->list);
    job->list = job->inputs = job->older = NULL;
}

/* Hands tables [first, end) of the list to the compactor. Returns 1. */
static int submit_compaction(struct lsm *lsm, size_t first, size_t end)
{
    struct lsm_worker *w = &lsm->compactor;
    struct table **list = env_malloc(lsm->env, lsm->table_count * TABLE_REF_SIZE);
    int rc;

    if (!list) return -ENOMEM;
    /* The compactor asks older tables for ids: each table's lookups must be
     * the mapping's, which any thread may use, before it starts. */
    lsm_end_brief(lsm);
    memcpy(list, lsm->tables, lsm->table_count * TABLE_REF_SIZE);
    w->job = (struct lsm_job){
        .kind = LSM_JOB_COMPACT,
        .number = lsm->next_file_number++,
        .list = list,
        .inputs = list + first,
        .input_count = end - first,
        .older = list + end,
        .older_count = lsm->table_count - end,
    };
    rc = submit(lsm, w);
    if (rc < 0) free_job_list(lsm, &w->job);
    return rc < 0 ? rc : 1;
}

void lsm_end_brief(struct lsm *lsm)
{
    for (size_t i = 0; i < lsm->table_count; i++)
        table_end_brief(lsm->tables[i]);
}

int lsm_maybe_compact(struct lsm *lsm)
{
    size_t first, end;

    if (lsm->compactor.busy || !pick_run(lsm, &first, &end)) return 0;
    return submit_compaction(lsm, first, end);
}

int lsm_compact_all(struct lsm *lsm)
{
    bool tombstones = false;

    kdb_assert(!lsm->compactor.busy);
    for (size_t i = 0; i < lsm->table_count; i++)
        tombstones = tombstones || lsm->tables[i]->tombstones;
    if (lsm->table_count == 0 || (lsm->table_count == 1 && !tombstones)) return 0;
    return submit_compaction(lsm, 0, lsm->table_count);
}

int lsm_install_compaction(struct lsm *lsm)
{
    struct lsm_job *job = &lsm->compactor.job;
    size_t at = 0;
    int rc = job->rc;

    kdb_assert(lsm->compactor.busy && lsm->compactor.done);
    lsm->compactor.busy = false;
    if (rc == 0) {
        while (at < lsm->table_count && lsm->tables[at] != job->inputs[0])
            at++;
        kdb_assert(at + job->input_count <= lsm->table_count);
        for (size_t i = 0; i < job->input_count; i++)
            kdb_assert(lsm->tables[at + i] == job->inputs[i]);
        bury(lsm, job->inputs, job->input_count);
        /* [at, at + inputs) becomes the output, or nothing; the older tables move up. */
        size_t kept = job->output ? 1 : 0;
        size_t older = lsm->table_count - at - job->input_count;
        if (job->output) lsm->tables[at] = job->output;
        memmove(lsm->tables + at + kept, lsm->tables + at + job->input_count,
                older * TABLE_REF_SIZE);
        lsm->table_count -= job->input_count - kept;
        __atomic_store_n(&lsm->tables_live, lsm->table_count, __ATOMIC_RELEASE);
        job->output = NULL;
        lsm->stats.compaction_count++;
        lsm->stats.compaction_bytes_written += job->bytes_written;
        lsm->stats.compaction_bytes_read += job->bytes_read;
    }
    free_job_list(lsm, job);
    return rc == -ECANCELED ? 0 : rc;
}

/* ---- open and close ---- */

struct leftovers {
    struct lsm *lsm;
    const struct manifest *m;
    int rc;
};

static int remove_leftover(void *fn_ctx, const char *name)
{
    struct leftovers *l = fn_ctx;
    size_t len = strlen(name), tmp_len = strlen(FORMAT_TMP_SUFFIX);
    bool listed = false;
    uint64_t number;
    char path[4200];

    if (len > tmp_len && strcmp(name + len - tmp_len, FORMAT_TMP_SUFFIX) == 0) {
        /* A file whose writing a crash cut short. */
    } else if (format_parse_name(name, TABLE_PREFIX, TABLE_SUFFIX, &number)) {
        for (size_t i = 0; i < l->m->table_count; i++)
            listed = listed || l->m->tables[i].number == number;
        if (listed) return 0; /* a live table */
    } else {
        return 0;
    }
    if (snprintf(path, sizeof(path), "%s/%s", l->lsm->dir, name) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    env_log(l->lsm->env, KDB_LOG_INFO, __FILE__, __LINE__, "removing %s, left by an interrupted %s",
            name, listed ? "write" : "flush or compaction");
    return l->lsm->env->vfs->unlink(l->lsm->env->vfs->ctx, path);
}

static int init_sync(struct lsm *lsm)
{
    if (pthread_mutex_init(&lsm->lock, NULL)) return -ENOMEM;
    if (pthread_mutex_init(&lsm->manifest_lock, NULL)) {
        pthread_mutex_destroy(&lsm->lock);
        return -ENOMEM;
    }
    if (pthread_cond_init(&lsm->cond, NULL)) {
        pthread_mutex_destroy(&lsm->manifest_lock);
        pthread_mutex_destroy(&lsm->lock);
        return -ENOMEM;
    }
    lsm->sync_ready = true;
    return 0;
}

int lsm_open(struct lsm *lsm, const struct env *env, const char *dir, bool foreground, bool brief,
             uint64_t *log_number, uint64_t *last_sequence, uint64_t *block_count)
{
    struct manifest *m = NULL;
    struct leftovers leftovers = {.lsm = lsm};
    int rc;

    memset(lsm, 0, sizeof(*lsm));
    lsm->env = env;
    lsm->dir = dir;
    lsm->foreground = foreground;
    lsm->flusher.lsm = lsm;
    lsm->compactor.lsm = lsm;
    rc = init_sync(lsm);
    if (rc < 0) return rc;
    rc = manifest_read(env, dir, &m);
    if (rc == -ENOENT) {
        m = manifest_new(env, 0);
        if (!m)
            rc = -ENOMEM;
        else {
            m->log_number = 1;
            m->next_file_number = 1;
            rc = 0;
        }
    }
    if (rc == 0) {
        lsm->committed = m;
        lsm->next_file_number = m->next_file_number;
        leftovers.m = m;
        rc = env->vfs->list_dir(env->vfs->ctx, dir, remove_leftover, &leftovers);
    }
    if (rc == 0) rc = list_reserve(lsm, m->table_count);
    for (size_t i = 0; rc == 0 && i < m->table_count; i++) {
        rc = table_new(env, dir, m->tables[i].number, brief, &lsm->tables[i]);
        if (rc == -ENOENT)
            rc = KDB_CORRUPT(env, "table %016" PRIx64 ", named by the manifest, is missing",
                             m->tables[i].number);
        if (rc == 0 && lsm->tables[i]->size != m->tables[i].size) {
            lsm->table_count = i + 1;
            rc = KDB_CORRUPT(env,
                             "table %016" PRIx64 ": %" PRIu64 " bytes, the manifest says %" PRIu64,
                             m->tables[i].number, lsm->tables[i]->size, m->tables[i].size);
        }
        if (rc == 0) lsm->table_count = i + 1;
        lsm->tables_live = lsm->table_count;
    }
    if (rc < 0) {
        lsm_close(lsm);
        return rc;
    }
    *log_number = m->log_number;
    *last_sequence = m->last_sequence;
    *block_count = m->block_count;
    return 0;
}

static void stop_worker(struct lsm *lsm, struct lsm_worker *w)
{
    if (w->running) {
        (void)pthread_join(w->thread, NULL);
        w->running = false;
    }
    if (!w->busy) return;
    w->busy = false;
    if (w->job.output) table_free(lsm->env, w->job.output);
    if (w->job.kind == LSM_JOB_COMPACT) free_job_list(lsm, &w->job);
}

void lsm_close(struct lsm *lsm)
{
    if (lsm->sync_ready) {
        pthread_mutex_lock(&lsm->lock);
        __atomic_store_n(&lsm->stop, true, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&lsm->cond);
        pthread_mutex_unlock(&lsm->lock);
    }
    stop_worker(lsm, &lsm->flusher);
    stop_worker(lsm, &lsm->compactor);
    for (size_t i = 0; i < lsm->dead_count; i++)
        table_free(lsm->env, lsm->dead[i]);
    env_free(lsm->env, lsm->dead);
    for (size_t i = 0; i < lsm->table_count; i++)
        table_free(lsm->env, lsm->tables[i]);
    env_free(lsm->env, lsm->tables);
    env_free(lsm->env, lsm->committed);
    if (lsm->sync_ready) {
        pthread_cond_destroy(&lsm->cond);
        pthread_mutex_destroy(&lsm->manifest_lock);
        pthread_mutex_destroy(&lsm->lock);
    }
    memset(lsm, 0, sizeof(*lsm));
}
