/* SPDX-License-Identifier: MIT */
/*
 * checksum.h: the engine's hashes, all XXH3 (xxHash 0.8).
 *
 * checksum_64() protects bytes on disk (FORMAT.md says what each covers);
 * the streaming form gives the same value for bytes that arrive in pieces.
 * hash_id() places ids in bloom filters: unseeded, so that a filter written
 * by one process is read the same way by the next. hash_id_seeded() is the
 * one exception to XXH3: in-memory hash tables place ids with it.
 */
#ifndef KDB_ENGINE_CHECKSUM_H
#define KDB_ENGINE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* XXH3-64 of buf[0..len) with seed. */
uint64_t checksum_64(const void *buf, size_t len, uint64_t seed);

/* XXH3-64 (seed 0) of bytes fed in pieces; the state is opaque storage. */
struct checksum_stream {
    _Alignas(64) unsigned char state[640];
};
void checksum_stream_begin(struct checksum_stream *s);
void checksum_stream_update(struct checksum_stream *s, const void *buf, size_t len);
uint64_t checksum_stream_end(const struct checksum_stream *s);

/* XXH3-128 of the same bytes, as checksum_128() gives it. */
void checksum_stream_end_128(const struct checksum_stream *s, uint8_t out[16]);

/* XXH3-128 of buf[0..len) with seed, as 16 bytes (high half first, big-endian). */
void checksum_128(const void *buf, size_t len, uint64_t seed, uint8_t out[16]);

/* The hash of a 16-byte id that bloom filters use (FORMAT.md, "Bloom filter"). */
uint64_t hash_id(const uint8_t id[16]);

/*
 * Places a 16-byte id in an in-memory hash table (the memtable's, the edge
 * index's): a 64x64->128-bit multiply of its halves, each mixed with the
 * table's random seed, folded to 64 bits (the "mum" step of wyhash). A
 * handful of instructions where XXH3 takes dozens, on every lookup; ids
 * chosen to collide would need the seed, which never leaves the process.
 */
static inline uint64_t hash_id_seeded(const uint8_t id[16], uint64_t seed)
{
    uint64_t lo, hi;
    unsigned __int128 product;

    memcpy(&lo, id, sizeof(lo));
    memcpy(&hi, id + sizeof(lo), sizeof(hi));
    product = (unsigned __int128)(lo ^ seed) *
              (hi ^ (seed * 0x9e3779b97f4a7c15ull) ^ 0xa0761d6478bd642full);
    return (uint64_t)product ^ (uint64_t)(product >> 64);
}

#endif /* KDB_ENGINE_CHECKSUM_H */
