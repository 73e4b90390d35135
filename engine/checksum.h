/* SPDX-License-Identifier: MIT */
/*
 * checksum.h: the engine's hashes, all XXH3 (xxHash 0.8).
 *
 * checksum_64() protects bytes on disk (FORMAT.md says what each covers).
 */
#ifndef KDB_ENGINE_CHECKSUM_H
#define KDB_ENGINE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* XXH3-64 of buf[0..len) with seed. */
uint64_t checksum_64(const void *buf, size_t len, uint64_t seed);

#endif /* KDB_ENGINE_CHECKSUM_H */
