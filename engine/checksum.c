/* SPDX-License-Identifier: MIT */
/*
 * checksum.c: the only file that includes xxhash.h (header-only, inlined).
 */
#include "checksum.h"

#include "coding.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t checksum_64(const void *buf, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(buf, len, seed);
}

uint64_t checksum_id_hash(const uint8_t id[16], uint64_t seed)
{
    return XXH3_64bits_withSeed(id, 16, seed);
}

void checksum_128(const void *buf, size_t len, uint8_t out[16])
{
    XXH128_hash_t h = XXH3_128bits(buf, len);
    put_le64(out, h.low64);
    put_le64(out + 8, h.high64);
}
