/* SPDX-License-Identifier: MIT */
/*
 * checksum.h: the engine's hashes, all XXH3 (xxHash 0.8).
 *
 * checksum_64() protects bytes on disk (FORMAT.md says what each covers);
 * the streaming form gives the same value for bytes that arrive in pieces.
 * hash_id() places ids in bloom filters: unseeded, so that a filter written
 * by one process is read the same way by the next.
 */
#ifndef KDB_ENGINE_CHECKSUM_H
#define KDB_ENGINE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

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

#endif /* KDB_ENGINE_CHECKSUM_H */
