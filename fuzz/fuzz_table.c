/* SPDX-License-Identifier: MIT */
/*
 * fuzz_table.c: an SSTable of arbitrary bytes is opened and every record
 * read; any damage must be an error, never a crash or a read out of bounds.
 */
#include <stdio.h>
#include <string.h>

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
    /* Mapped, then as a brief handle reads it (pread, each page checked as read). */
    for (int brief = 0; brief < 2; brief++) {
        if (table_open(&t, &env, FUZZ_DB, 1, brief) != 0) continue;
        /* As a point lookup meets it first (pages checked on first use)... */
        for (uint64_t i = 0; i < t.count; i++) {
            struct table_record r;
            uint8_t id[16];
            memcpy(id, table_id_at(&t, i), sizeof(id)); /* bytes only: the page may be damaged */
            if (table_may_contain(&t, &env, hash_id(id)) > 0) (void)table_find(&t, &env, id);
            (void)table_find_edge(&t, &env, id);
            (void)table_read(&t, &env, i, &r);
        }
        /* ...then as a scan or a compaction does. */
        if (table_check_all(&t, &env, false) == 0) {
            for (uint64_t i = 0; i < t.count; i++) {
                struct table_record r;
                (void)table_read_checked(&t, &env, i, &r);
            }
        }
        table_close(&t, &env);
    }
    vfs_mem_free(mem);
    return 0;
}
