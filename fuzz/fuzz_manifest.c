/* SPDX-License-Identifier: MIT */
/*
 * fuzz_manifest.c: a manifest of arbitrary bytes is read; any damage must
 * be an error, never a crash.
 */
#include <stdio.h>

#include "format.h"
#include "fuzz_util.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kdb_options options;
    struct env env;
    struct vfs_mem *mem = fuzz_disk(&env, &options);
    struct manifest *m = NULL;

    fuzz_file(mem, MANIFEST_NAME, data, size);
    if (manifest_read(&env, FUZZ_DB, &m) == 0) env_free(&env, m);
    vfs_mem_free(mem);
    return 0;
}
