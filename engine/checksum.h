/* SPDX-License-Identifier: MIT */
/*
 * checksum.h: the engine's hashes, all XXH3 (xxHash 0.8).
 *
 * checksum_64() protects bytes on disk (FORMAT.md says what each covers).
 * checksum_id_hash() places ids in the memtable's hash table; it is seeded
 * per database with random bits so that chosen ids cannot pile into one run.
 * checksum_128() derives deterministic block ids from names.
 */
#ifndef KDB_ENGINE_CHECKSUM_H
#define KDB_ENGINE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* XXH3-64 of buf[0..len) with seed. */
uint64_t checksum_64(const void *buf, size_t len, uint64_t seed);

/* XXH3-64 of a 16-byte id with seed. */
uint64_t checksum_id_hash(const uint8_t id[16], uint64_t seed);

/* XXH3-128 of buf[0..len), written little-endian (low half first) into out. */
void checksum_128(const void *buf, size_t len, uint8_t out[16]);

#endif /* KDB_ENGINE_CHECKSUM_H */
