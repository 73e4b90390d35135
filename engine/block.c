/* SPDX-License-Identifier: MIT */
/*
 * block.c: encoding and decoding of block payloads (see block.h, FORMAT.md).
 */
#include "block.h"

#include <string.h>

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
    memcpy(payload + BLOCK_ID_OFFSET, id->bytes, KDB_ID_SIZE);
    put_le64(payload + BLOCK_MTIME_OFFSET, mtime_ns);
}

int block_check_payload(unsigned type, const uint8_t *payload, size_t len)
{
    uint64_t uri_len, meta_len, content_len;

    if (type == WAL_RECORD_DELETE_BLOCK) return len == BLOCK_DELETE_SIZE ? 0 : -KDB_ECORRUPT;
    if (type != WAL_RECORD_PUT_BLOCK || len < BLOCK_PUT_FIXED_SIZE) return -KDB_ECORRUPT;
    uri_len = get_le32(payload + BLOCK_URI_LEN_OFFSET);
    meta_len = get_le32(payload + BLOCK_META_LEN_OFFSET);
    content_len = get_le32(payload + BLOCK_CONTENT_LEN_OFFSET);
    if (uri_len > KDB_SOURCE_URI_SIZE_LIMIT || meta_len > KDB_METADATA_SIZE_LIMIT ||
        content_len > KDB_CONTENT_SIZE_LIMIT)
        return -KDB_ECORRUPT;
    if (get_le32(payload + BLOCK_RESERVED_OFFSET) != 0) return -KDB_ECORRUPT;
    if (BLOCK_PUT_FIXED_SIZE + uri_len + meta_len + content_len != len) return -KDB_ECORRUPT;
    return 0;
}

void block_decode_put(const uint8_t *payload, uint64_t version, struct kdb_block *out)
{
    const uint8_t *p = payload + BLOCK_PUT_FIXED_SIZE;

    memcpy(out->id.bytes, payload + BLOCK_ID_OFFSET, KDB_ID_SIZE);
    out->version = version;
    out->mtime_ns = get_le64(payload + BLOCK_MTIME_OFFSET);
    out->source_uri_len = get_le32(payload + BLOCK_URI_LEN_OFFSET);
    out->metadata_len = get_le32(payload + BLOCK_META_LEN_OFFSET);
    out->content_len = get_le32(payload + BLOCK_CONTENT_LEN_OFFSET);
    kdb_assert(out->content_len <= KDB_CONTENT_SIZE_LIMIT);
    out->source_uri = (const char *)p;
    p += out->source_uri_len;
    out->metadata = (const char *)p;
    p += out->metadata_len;
    out->content = p;
}
