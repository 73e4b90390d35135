/* SPDX-License-Identifier: MIT */
/*
 * format.h: constants of the on-disk format. engine/FORMAT.md is the spec;
 * each fixed size here is pinned by a static_assert so that a change to one
 * shows up at compile time.
 */
#ifndef KDB_ENGINE_FORMAT_H
#define KDB_ENGINE_FORMAT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kassert.h"

/* Every file starts with an 8-byte magic per kind and a u32 format version. */
#define FORMAT_MAGIC_SIZE 8
#define WAL_MAGIC         "KDBWAL\0\0"
#define WAL_VERSION       2u /* 2: edge records; 1 is still read */
#define TABLE_MAGIC       "KDBSST\0\0"
#define TABLE_VERSION     3u /* 3: page checksums; 2: edges; 1 and 2 are still read */
#define MANIFEST_MAGIC    "KDBMAN\0\0"
#define MANIFEST_VERSION  1u
#define GRAPH_MAGIC       "KDBGRAPH"
#define GRAPH_VERSION     1u
#define SOCKET_MAGIC      "KDBSOCK\0" /* the first frame a server sends */
#define SOCKET_VERSION    2u

/* File names inside the database directory. */
#define FORMAT_LOCK_NAME   "LOCK"
#define FORMAT_SOCKET_NAME "SOCKET" /* a serving process listens here */
#define WAL_SEGMENT_PREFIX "wal-"
#define WAL_SEGMENT_SUFFIX ".log"
#define TABLE_PREFIX       "sst-"
#define TABLE_SUFFIX       ".sst"
#define FORMAT_TMP_SUFFIX  ".tmp" /* a file being written; removed at open */
#define MANIFEST_NAME      "MANIFEST"
#define GRAPH_NAME         "GRAPH" /* the edge index, saved (a cache) */

/*
 * Parses a numbered file name: prefix, 16 lowercase hex digits, suffix,
 * exactly (log segments and tables are named so). Returns false otherwise.
 */
static inline bool format_parse_name(const char *name, const char *prefix, const char *suffix,
                                     uint64_t *number)
{
    size_t prefix_len = strlen(prefix);
    uint64_t n = 0;

    if (strncmp(name, prefix, prefix_len) != 0) return false;
    name += prefix_len;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        if (c >= '0' && c <= '9')
            n = (n << 4) | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            n = (n << 4) | (uint64_t)(c - 'a' + 10);
        else
            return false;
    }
    if (strcmp(name + 16, suffix) != 0) return false;
    *number = n;
    return true;
}

/* WAL segment header: see FORMAT.md, "WAL segment". */
#define WAL_HEADER_SIZE             64
#define WAL_HEADER_MAGIC_OFFSET     0
#define WAL_HEADER_VERSION_OFFSET   8
#define WAL_HEADER_SIZE_OFFSET      12
#define WAL_HEADER_SEGMENT_OFFSET   16
#define WAL_HEADER_SALT_OFFSET      24
#define WAL_HEADER_FIRST_SEQ_OFFSET 32
#define WAL_HEADER_CREATED_OFFSET   40
#define WAL_HEADER_RESERVED_OFFSET  48
#define WAL_HEADER_CHECKSUM_OFFSET  56

/* WAL record header: see FORMAT.md, "WAL record". */
#define WAL_RECORD_HEADER_SIZE     40
#define WAL_RECORD_CHECKSUM_OFFSET 0
#define WAL_RECORD_SALT_OFFSET     8
#define WAL_RECORD_SEQUENCE_OFFSET 16
#define WAL_RECORD_SYNCED_OFFSET   24
#define WAL_RECORD_LENGTH_OFFSET   32
#define WAL_RECORD_TYPE_OFFSET     36
#define WAL_RECORD_RESERVED_OFFSET 37

/* Record types; 0 is invalid so that zeroed bytes never decode. */
enum wal_record_type {
    WAL_RECORD_INVALID = 0,
    WAL_RECORD_PUT_BLOCK = 1,
    WAL_RECORD_DELETE_BLOCK = 2,
    WAL_RECORD_SEAL = 3,        /* written at close: everything before it is durable; no payload */
    WAL_RECORD_PUT_EDGE = 4,    /* from format version 2 */
    WAL_RECORD_DELETE_EDGE = 5, /* from format version 2 */
    WAL_RECORD_TYPE_COUNT
};

/* Edge payloads: see FORMAT.md, "Edge records". */
#define EDGE_SOURCE_OFFSET   0
#define EDGE_TARGET_OFFSET   16
#define EDGE_TYPE_OFFSET     32
#define EDGE_RESERVED_OFFSET 33 /* 7 zero bytes */
#define EDGE_MTIME_OFFSET    40
#define EDGE_PAYLOAD_SIZE    48
#define EDGE_KEY_BYTES       33 /* source, target, type: what an edge's key hashes */
#define EDGE_KEY_SEED        UINT64_C(0x6b64622d65646765) /* "kdb-edge" */

/* Block payloads: see FORMAT.md, "Block records". */
#define BLOCK_URI_LEN_OFFSET     0
#define BLOCK_META_LEN_OFFSET    4
#define BLOCK_CONTENT_LEN_OFFSET 8
#define BLOCK_RESERVED_OFFSET    12
#define BLOCK_MTIME_OFFSET       16
#define BLOCK_ID_OFFSET          24
#define BLOCK_PUT_FIXED_SIZE     40
#define BLOCK_DELETE_SIZE        BLOCK_PUT_FIXED_SIZE /* the fixed part, lengths zero */

/* SSTable: see FORMAT.md, "SSTable". */
#define TABLE_HEADER_SIZE            64
#define TABLE_HEADER_MAGIC_OFFSET    0
#define TABLE_HEADER_VERSION_OFFSET  8
#define TABLE_HEADER_SIZE_OFFSET     12
#define TABLE_HEADER_NUMBER_OFFSET   16
#define TABLE_HEADER_CREATED_OFFSET  24
#define TABLE_HEADER_CHECKSUM_OFFSET 56
#define TABLE_RECORD_HEADER_SIZE     16 /* sequence u64, payload_len u32, type u8, 3 zero */
#define TABLE_RECORD_ALIGN           8
#define TABLE_INDEX_ENTRY_SIZE       32 /* id, location (offset | tombstone bit), checksum */
#define TABLE_INDEX_TOMBSTONE        (UINT64_C(1) << 63)
#define TABLE_INDEX_EDGE             (UINT64_C(1) << 62) /* version 2 */
#define TABLE_INDEX_OFFSET_MASK      (TABLE_INDEX_EDGE - 1)
#define TABLE_RADIX_BITS_MAX         20
#define TABLE_RADIX_IDS_PER_BUCKET   4  /* a writer's choice; readers take any radix_bits */
#define TABLE_BLOOM_BLOCK_SIZE       64 /* one cache line */
#define TABLE_BLOOM_BITS_PER_KEY     10
#define TABLE_META_PAGE_SIZE         4096 /* version 3: index, radix and bloom are summed in pages */
#define TABLE_SUMS_HEAD_SIZE         16 /* version 3: block_count, tombstones, then the page sums */
#define TABLE_BLOOM_PROBES           6
#define TABLE_FOOTER_SIZE            64
#define TABLE_FOOTER_MAGIC_OFFSET    0
#define TABLE_FOOTER_VERSION_OFFSET  8
#define TABLE_FOOTER_RADIX_OFFSET    12
#define TABLE_FOOTER_COUNT_OFFSET    16
#define TABLE_FOOTER_DATA_END_OFFSET 24
#define TABLE_FOOTER_BLOOM_OFFSET    32
#define TABLE_FOOTER_MAX_SEQ_OFFSET  40
#define TABLE_FOOTER_META_SUM_OFFSET 48
#define TABLE_FOOTER_CHECKSUM_OFFSET 56

/* Manifest: see FORMAT.md, "Manifest". */
#define MANIFEST_HEADER_SIZE        64
#define MANIFEST_MAGIC_OFFSET       0
#define MANIFEST_VERSION_OFFSET     8
#define MANIFEST_TABLE_COUNT_OFFSET 12
#define MANIFEST_LOG_NUMBER_OFFSET  16
#define MANIFEST_LAST_SEQ_OFFSET    24
#define MANIFEST_NEXT_FILE_OFFSET   32
#define MANIFEST_BLOCK_COUNT_OFFSET 40
#define MANIFEST_RESERVED_OFFSET    48
#define MANIFEST_TABLE_ENTRY_SIZE   16 /* number u64, size u64 */
#define MANIFEST_CHECKSUM_SIZE      8  /* ends the file, covers all before it */
#define MANIFEST_TABLE_COUNT_MAX    4096

static_assert(TABLE_HEADER_CREATED_OFFSET + 8 <= TABLE_HEADER_CHECKSUM_OFFSET, "header fits");
static_assert(TABLE_FOOTER_CHECKSUM_OFFSET + 8 == TABLE_FOOTER_SIZE, "checksum ends the footer");
static_assert(TABLE_FOOTER_META_SUM_OFFSET + 8 == TABLE_FOOTER_CHECKSUM_OFFSET, "footer tiles");
static_assert(TABLE_HEADER_SIZE % TABLE_RECORD_ALIGN == 0, "records start aligned");
static_assert(MANIFEST_RESERVED_OFFSET + 16 == MANIFEST_HEADER_SIZE, "manifest header tiles");
static_assert(WAL_HEADER_CHECKSUM_OFFSET + 8 == WAL_HEADER_SIZE, "checksum ends the header");
static_assert(WAL_HEADER_RESERVED_OFFSET + 8 == WAL_HEADER_CHECKSUM_OFFSET, "header fields tile");
static_assert(WAL_RECORD_RESERVED_OFFSET + 3 == WAL_RECORD_HEADER_SIZE, "record fields tile");
static_assert(WAL_RECORD_CHECKSUM_OFFSET == 0, "the record checksum covers all that follows it");
static_assert(BLOCK_RESERVED_OFFSET + 4 == BLOCK_MTIME_OFFSET, "block fields tile");
static_assert(BLOCK_ID_OFFSET + 16 == BLOCK_PUT_FIXED_SIZE, "block fields tile");
/* Everything a block view needs but the id sits in a record's first 64 bytes: one cache line. */
static_assert(WAL_RECORD_HEADER_SIZE + BLOCK_MTIME_OFFSET + 8 <= 64, "a view reads one line");
static_assert(sizeof(WAL_MAGIC) - 1 == FORMAT_MAGIC_SIZE, "magic is 8 bytes");
static_assert(WAL_RECORD_TYPE_COUNT <= 256, "record type fits a byte");

/* The graph file: see FORMAT.md, "The graph file". */
#define GRAPH_HEADER_SIZE             64
#define GRAPH_HEADER_VERSION_OFFSET   8
#define GRAPH_HEADER_PAGE_SIZE_OFFSET 12
#define GRAPH_HEADER_SEQUENCE_OFFSET  16
#define GRAPH_HEADER_NODES_OFFSET     24
#define GRAPH_HEADER_ENTRIES_OFFSET   32
#define GRAPH_HEADER_EDGES_OFFSET     40
#define GRAPH_HEADER_SUMS_OFFSET      48
#define GRAPH_HEADER_CHECKSUM_OFFSET  56
#define GRAPH_PAGE_SIZE               4096 /* each page of the body has its checksum */
#define GRAPH_NODE_RECORD_SIZE        32
static_assert(GRAPH_HEADER_CHECKSUM_OFFSET + 8 == GRAPH_HEADER_SIZE, "graph header layout");

#endif /* KDB_ENGINE_FORMAT_H */
