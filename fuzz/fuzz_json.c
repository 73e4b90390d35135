/* SPDX-License-Identifier: MIT */
/*
 * fuzz_json.c: the metadata validator on arbitrary bytes: an answer, never
 * a crash or a read past the end.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exactly size bytes: ASan sees a read past them */

    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    (void)kdb_validate_metadata(copy, size);
    free(copy);
    return 0;
}
