/* SPDX-License-Identifier: MIT */
/*
 * block.h: the payloads of block and edge records (FORMAT.md, "Block
 * records", "Edge records").
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

#include "coding.h"
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

/* ---- edge payloads (FORMAT.md, "Edge records") ---- */

/* Encodes a put or delete of an edge at payload (EDGE_PAYLOAD_SIZE bytes). */
void edge_encode(uint8_t *payload, const uint8_t source[KDB_ID_SIZE], unsigned type,
                 const uint8_t target[KDB_ID_SIZE], uint64_t mtime_ns);

/*
 * The 16-byte key an edge is stored under in memtables and tables:
 * XXH3-128 of its source, target and type with a fixed seed.
 */
void edge_payload_key(const uint8_t *payload, uint8_t key[KDB_ID_SIZE]);

static inline const uint8_t *edge_payload_source(const uint8_t *payload)
{
    return payload + EDGE_SOURCE_OFFSET;
}
static inline const uint8_t *edge_payload_target(const uint8_t *payload)
{
    return payload + EDGE_TARGET_OFFSET;
}
static inline unsigned edge_payload_type(const uint8_t *payload)
{
    return payload[EDGE_TYPE_OFFSET];
}
static inline uint64_t edge_payload_mtime(const uint8_t *payload)
{
    return get_le64(payload + EDGE_MTIME_OFFSET);
}

#endif /* KDB_ENGINE_BLOCK_H */
