/* SPDX-License-Identifier: MIT */
/*
 * db.h: what other engine modules may see of a handle (struct kdb itself is
 * db.c's alone). Used by remote.c, whose server runs beside db.c's core.
 */
#ifndef KDB_ENGINE_DB_H
#define KDB_ENGINE_DB_H

#include "env.h"
#include "kdb.h"

/* The database's directory, as given to kdb_open(). */
const char *db_directory(const struct kdb *db);

/* The handle's allocator, VFS and log. */
const struct env *db_env(const struct kdb *db);

#endif /* KDB_ENGINE_DB_H */
