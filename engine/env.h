/* SPDX-License-Identifier: MIT */
/*
 * env.h: what every engine module is handed from the options: the VFS, the
 * allocator and the log. It carries no mutable state and is borrowed by the
 * modules for the life of the database handle.
 */
#ifndef KDB_ENGINE_ENV_H
#define KDB_ENGINE_ENV_H

#include "kdb.h"

struct env {
    const struct kdb_vfs *vfs;             /* never NULL */
    const struct kdb_allocator *allocator; /* never NULL */
    kdb_log_fn log;                        /* may be NULL */
    void *log_ctx;
};

/* Fills env from options, using the POSIX VFS and malloc where they are NULL. */
void env_init(struct env *env, const struct kdb_options *options);

/* Formats a message and hands it to the log callback, if any. */
__attribute__((format(printf, 5, 6))) void env_log(const struct env *env, enum kdb_log_level level,
                                                   const char *file, int line, const char *fmt,
                                                   ...);

/* Allocation through the options' allocator; NULL on failure. */
void *env_malloc(const struct env *env, size_t size);
void *env_realloc(const struct env *env, void *ptr, size_t size);

/* Readies ptr[0..size) for use soon, if the allocator can; any thread. */
void env_prepare(const struct env *env, void *ptr, size_t size);

/* Zeroed memory for count items of size bytes; NULL on failure or overflow. */
void *env_calloc(const struct env *env, size_t count, size_t size);
void env_free(const struct env *env, void *ptr);

/*
 * Logs a corruption with file and line and yields -EUCLEAN: one breakpoint
 * on env_log catches the first sighting of corruption.
 */
#define KDB_CORRUPT(env, ...)                                                                      \
    (env_log((env), KDB_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__), -KDB_ECORRUPT)

#define KDB_LOG(env, level, ...) env_log((env), (level), __FILE__, __LINE__, __VA_ARGS__)

#endif /* KDB_ENGINE_ENV_H */
