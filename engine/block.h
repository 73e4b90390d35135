/* SPDX-License-Identifier: MIT */
/*
 * block.h: the payloads of block records (FORMAT.md, "Block records").
 *
 * db.c encodes a put or a delete into arena memory right behind the space
 * for the WAL record header; the WAL frames and checksums it; the memtable
 * points at it; reads decode it in place, so a get is zero-copy. Payloads
 * from disk are checked once by block_check_payload() when the log is
 * replayed; after that the decoders trust them (and assert).
 */
#ifndef KDB_ENGINE_BLOCK_H
#define KDB_ENGINE_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "kdb.h"

/* Payload bytes of a put of block; its fields must be within the limits. */
size_t block_put_payload_size(const struct kdb_block *block);

/* Encodes a put of block at payload (block_put_payload_size() bytes). */
void block_encode_put(uint8_t *payload, const struct kdb_block *block, uint64_t mtime_ns);

/* Encodes a delete of id at payload (BLOCK_DELETE_SIZE bytes). */
void block_encode_delete(uint8_t *payload, const struct kdb_id *id, uint64_t mtime_ns);

/*
 * Returns 0 if payload[0..len) is a well-formed payload of record type
 * type whose lengths add up, -EUCLEAN otherwise. Does not log.
 */
KDB_MUST_USE int block_check_payload(unsigned type, const uint8_t *payload, size_t len);

/* The id a checked payload of either type is about. */
static inline const uint8_t *block_payload_id(const uint8_t *payload)
{
    return payload + BLOCK_ID_OFFSET;
}

/* The time of the change a checked payload records. */
uint64_t block_payload_mtime(const uint8_t *payload);

/* The lengths of a checked payload's three fields (all 0 for a delete). */
void block_payload_lengths(const uint8_t *payload, uint32_t *uri_len, uint32_t *meta_len,
                           uint32_t *content_len);

/* Where each field of a put payload of these lengths starts. */
static inline const uint8_t *block_payload_uri(const uint8_t *payload)
{
    return payload + BLOCK_PUT_FIXED_SIZE;
}

#endif /* KDB_ENGINE_BLOCK_H */
