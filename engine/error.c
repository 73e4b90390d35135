/* SPDX-License-Identifier: MIT */
/*
 * error.c: kdb_strerror() and the id helpers of kdb.h.
 */
#include "kdb.h"

#include <string.h>

#include "checksum.h"

struct error_name {
    int code;            /* positive errno */
    const char *message; /* what it means for a database */
};

static const struct error_name error_names[] = {
    {ENOENT, "not found"},
    {EEXIST, "already exists"},
    {EINVAL, "invalid argument"},
    {EFBIG, "over a size limit"},
    {ENOSPC, "no space left on device"},
    {ENOMEM, "out of memory"},
    {EIO, "input/output error"},
    {EBUSY, "database is in use by another process"},
    {EBADMSG, "checksum mismatch: stored bytes are damaged"},
    {EUCLEAN, "database is corrupt"},
    {ENOTSUP, "written by a newer format version than this build reads"},
    {ENAMETOOLONG, "path too long"},
    {EACCES, "permission denied"},
    {EPERM, "operation not permitted"},
    {EROFS, "read-only file system"},
    {ENOTDIR, "not a directory"},
    {EDQUOT, "disk quota exceeded"},
    {E2BIG, "argument list too long"},
    {EPROTO, "protocol error"},
};

const char *kdb_strerror(int rc)
{
    if (rc == 0) return "success";
    for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++) {
        if (-rc == error_names[i].code) return error_names[i].message;
    }
    return "unknown error";
}

void kdb_id_to_hex(const struct kdb_id *id, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < KDB_ID_SIZE; i++) {
        hex[2 * i] = digits[id->bytes[i] >> 4];
        hex[2 * i + 1] = digits[id->bytes[i] & 0xf];
    }
    hex[KDB_ID_HEX_SIZE] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int kdb_id_from_hex(const char *hex, size_t len, struct kdb_id *id)
{
    struct kdb_id parsed;

    memset(id, 0, sizeof(*id));
    if (!hex || len != KDB_ID_HEX_SIZE) return -EINVAL;
    for (size_t i = 0; i < KDB_ID_SIZE; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -EINVAL;
        parsed.bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    *id = parsed;
    return 0;
}

void kdb_id_for_symbol(const char *source_uri, size_t uri_len, const char *kind, size_t kind_len,
                       const char *name, size_t name_len, struct kdb_id *id)
{
    char joined[256];
    struct checksum_stream s;
    static const char nul = '\0';

    if (uri_len + kind_len + name_len + 2 <= sizeof(joined)) { /* most: hashed at once */
        char *p = joined;
        memcpy(p, source_uri, uri_len);
        p += uri_len;
        *p++ = '\0';
        memcpy(p, kind, kind_len);
        p += kind_len;
        *p++ = '\0';
        memcpy(p, name, name_len);
        checksum_128(joined, (size_t)(p - joined) + name_len, 0, id->bytes);
        return;
    }
    checksum_stream_begin(&s);
    checksum_stream_update(&s, source_uri, uri_len);
    checksum_stream_update(&s, &nul, 1);
    checksum_stream_update(&s, kind, kind_len);
    checksum_stream_update(&s, &nul, 1);
    checksum_stream_update(&s, name, name_len);
    checksum_stream_end_128(&s, id->bytes);
}
