/* SPDX-License-Identifier: MIT */
/*
 * checksum.c: the only file that includes xxhash.h (header-only, inlined).
 */
#include "checksum.h"

#include <assert.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static_assert(sizeof(XXH3_state_t) <= sizeof(struct checksum_stream), "stream state fits");
static_assert(_Alignof(XXH3_state_t) <= 64, "stream state alignment");

uint64_t checksum_64(const void *buf, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(buf, len, seed);
}

void checksum_stream_begin(struct checksum_stream *s)
{
    /* s->state is what this initializes: only its address is taken here. */
    /* cppcheck-suppress ctuuninitvar */
    XXH3_state_t *state = (XXH3_state_t *)(void *)s->state;
    XXH3_INITSTATE(state);
    (void)XXH3_64bits_reset(state);
}

void checksum_stream_update(struct checksum_stream *s, const void *buf, size_t len)
{
    (void)XXH3_64bits_update((XXH3_state_t *)(void *)s->state, buf, len);
}

uint64_t checksum_stream_end(const struct checksum_stream *s)
{
    return XXH3_64bits_digest((const XXH3_state_t *)(const void *)s->state);
}

void checksum_stream_end_128(const struct checksum_stream *s, uint8_t out[16])
{
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical,
                             XXH3_128bits_digest((const XXH3_state_t *)(const void *)s->state));
    memcpy(out, canonical.digest, sizeof(canonical.digest));
}

uint64_t hash_id(const uint8_t id[16])
{
    return XXH3_64bits(id, 16);
}

void checksum_128(const void *buf, size_t len, uint64_t seed, uint8_t out[16])
{
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits_withSeed(buf, len, seed));
    memcpy(out, canonical.digest, sizeof(canonical.digest));
}
