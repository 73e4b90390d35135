/* SPDX-License-Identifier: MIT */
/*
 * block.c: encoding and decoding of block payloads (see block.h, FORMAT.md).
 */
#include "block.h"

#include <string.h>

#include "checksum.h"
#include "coding.h"
#include "format.h"
#include "kassert.h"

size_t block_put_payload_size(const struct kdb_block *block)
{
    kdb_assert(block->source_uri_len <= KDB_SOURCE_URI_SIZE_LIMIT);
    kdb_assert(block->metadata_len <= KDB_METADATA_SIZE_LIMIT);
    kdb_assert(block->content_len <= KDB_CONTENT_SIZE_LIMIT);
    return BLOCK_PUT_FIXED_SIZE + block->source_uri_len + block->metadata_len + block->content_len;
}

void block_encode_put(uint8_t *payload, const struct kdb_block *block, uint64_t mtime_ns)
{
    uint8_t *p = payload + BLOCK_PUT_FIXED_SIZE;

    memcpy(payload + BLOCK_ID_OFFSET, block->id.bytes, KDB_ID_SIZE);
    put_le64(payload + BLOCK_MTIME_OFFSET, mtime_ns);
    put_le32(payload + BLOCK_URI_LEN_OFFSET, (uint32_t)block->source_uri_len);
    put_le32(payload + BLOCK_META_LEN_OFFSET, (uint32_t)block->metadata_len);
    put_le32(payload + BLOCK_CONTENT_LEN_OFFSET, (uint32_t)block->content_len);
    put_le32(payload + BLOCK_RESERVED_OFFSET, 0);
    /* memcpy with a NULL source is undefined even for 0 bytes. */
    if (block->source_uri_len) memcpy(p, block->source_uri, block->source_uri_len);
    p += block->source_uri_len;
    if (block->metadata_len) memcpy(p, block->metadata, block->metadata_len);
    p += block->metadata_len;
    if (block->content_len) memcpy(p, block->content, block->content_len);
}

void block_encode_delete(uint8_t *payload, const struct kdb_id *id, uint64_t mtime_ns)
{
    memset(payload, 0, BLOCK_DELETE_SIZE);
    put_le64(payload + BLOCK_MTIME_OFFSET, mtime_ns);
    memcpy(payload + BLOCK_ID_OFFSET, id->bytes, KDB_ID_SIZE);
}

int block_check_payload(unsigned type, const uint8_t *payload, size_t len)
{
    uint64_t uri_len, meta_len, content_len;

    if (type == WAL_RECORD_PUT_EDGE || type == WAL_RECORD_DELETE_EDGE) {
        unsigned edge_type = payload[EDGE_TYPE_OFFSET];
        if (len != EDGE_PAYLOAD_SIZE || edge_type < 1 || edge_type > KDB_EDGE_TYPE_MAX)
            return -KDB_ECORRUPT;
        for (size_t i = EDGE_RESERVED_OFFSET; i < EDGE_MTIME_OFFSET; i++) {
            if (payload[i]) return -KDB_ECORRUPT;
        }
        return 0;
    }
    if (type != WAL_RECORD_PUT_BLOCK && type != WAL_RECORD_DELETE_BLOCK) return -KDB_ECORRUPT;
    if (len < BLOCK_PUT_FIXED_SIZE) return -KDB_ECORRUPT;
    uri_len = get_le32(payload + BLOCK_URI_LEN_OFFSET);
    meta_len = get_le32(payload + BLOCK_META_LEN_OFFSET);
    content_len = get_le32(payload + BLOCK_CONTENT_LEN_OFFSET);
    if (uri_len > KDB_SOURCE_URI_SIZE_LIMIT || meta_len > KDB_METADATA_SIZE_LIMIT ||
        content_len > KDB_CONTENT_SIZE_LIMIT)
        return -KDB_ECORRUPT;
    if (get_le32(payload + BLOCK_RESERVED_OFFSET) != 0) return -KDB_ECORRUPT;
    if (BLOCK_PUT_FIXED_SIZE + uri_len + meta_len + content_len != len) return -KDB_ECORRUPT;
    if (type == WAL_RECORD_DELETE_BLOCK && len != BLOCK_DELETE_SIZE) return -KDB_ECORRUPT;
    return 0;
}

void edge_encode(uint8_t *payload, const uint8_t source[KDB_ID_SIZE], unsigned type,
                 const uint8_t target[KDB_ID_SIZE], uint64_t mtime_ns)
{
    memset(payload, 0, EDGE_PAYLOAD_SIZE);
    memcpy(payload + EDGE_SOURCE_OFFSET, source, KDB_ID_SIZE);
    memcpy(payload + EDGE_TARGET_OFFSET, target, KDB_ID_SIZE);
    payload[EDGE_TYPE_OFFSET] = (uint8_t)type;
    put_le64(payload + EDGE_MTIME_OFFSET, mtime_ns);
}

void edge_payload_key(const uint8_t *payload, uint8_t key[KDB_ID_SIZE])
{
    checksum_128(payload, EDGE_KEY_BYTES, EDGE_KEY_SEED, key);
}

uint64_t block_payload_mtime(const uint8_t *payload)
{
    return get_le64(payload + BLOCK_MTIME_OFFSET);
}

void block_payload_lengths(const uint8_t *payload, uint32_t *uri_len, uint32_t *meta_len,
                           uint32_t *content_len)
{
    *uri_len = get_le32(payload + BLOCK_URI_LEN_OFFSET);
    *meta_len = get_le32(payload + BLOCK_META_LEN_OFFSET);
    *content_len = get_le32(payload + BLOCK_CONTENT_LEN_OFFSET);
    kdb_assert(*uri_len <= KDB_SOURCE_URI_SIZE_LIMIT);
    kdb_assert(*content_len <= KDB_CONTENT_SIZE_LIMIT);
}
