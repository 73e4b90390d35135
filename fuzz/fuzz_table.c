/* SPDX-License-Identifier: MIT */
/*
 * fuzz_table.c: an SSTable of arbitrary bytes is opened and every record
 * read; any damage must be an error, never a crash or a read out of bounds.
 */
#include <stdio.h>

#include "fuzz_util.h"
#include "table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kdb_options options;
    struct env env;
    struct vfs_mem *mem = fuzz_disk(&env, &options);
    struct table t;

    fuzz_file(mem, "sst-0000000000000001.sst", data, size);
    if (table_open(&t, &env, FUZZ_DB, 1) == 0) {
        for (uint64_t i = 0; i < t.count; i++) {
            struct table_record r;
            (void)table_read(&t, &env, i, &r);
            (void)table_find(&t, table_id_at(&t, i));
        }
        table_close(&t, &env);
    }
    vfs_mem_free(mem);
    return 0;
}
