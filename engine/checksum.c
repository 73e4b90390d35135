/* SPDX-License-Identifier: MIT */
/*
 * checksum.c: the only file that includes xxhash.h (header-only, inlined).
 */
#include "checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t checksum_64(const void *buf, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(buf, len, seed);
}
