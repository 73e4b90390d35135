/* SPDX-License-Identifier: MIT */
/*
 * fuzz_wal.c: a database whose only log segment is arbitrary bytes is
 * opened (the log replayed), checked and closed; any damage must be an
 * error, never a crash or a resurrected write.
 */
#include <stdio.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kdb_options options;
    struct env env;
    struct vfs_mem *mem = fuzz_disk(&env, &options);
    struct kdb *db = NULL;

    fuzz_file(mem, "LOCK", NULL, 0);
    fuzz_file(mem, "wal-0000000000000001.log", data, size);
    options.flags |= KDB_OPEN_FOREGROUND;
    if (kdb_open(FUZZ_DB, &options, &db) == 0) {
        (void)kdb_check(db, NULL);
        (void)kdb_close(db);
    }
    vfs_mem_free(mem);
    return 0;
}
