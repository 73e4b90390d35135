/* SPDX-License-Identifier: MIT */
/*
 * manifest.c: reading and writing MANIFEST (see manifest.h).
 */
#include "manifest.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "checksum.h"
#include "coding.h"
#include "format.h"

#define MANIFEST_PATH_SIZE 4200

struct manifest *manifest_new(const struct env *env, size_t count)
{
    return env_calloc(env, 1, sizeof(struct manifest) + count * sizeof(struct manifest_table));
}

static size_t encoded_size(size_t count)
{
    return MANIFEST_HEADER_SIZE + count * MANIFEST_TABLE_ENTRY_SIZE + MANIFEST_CHECKSUM_SIZE;
}

static int decode(const struct env *env, const uint8_t *b, size_t size, struct manifest **out)
{
    size_t count;
    struct manifest *m;

    if (size < encoded_size(0) || memcmp(b, MANIFEST_MAGIC, FORMAT_MAGIC_SIZE) != 0)
        return KDB_CORRUPT(env, "MANIFEST: not a manifest (%zu bytes)", size);
    if (get_le64(b + size - MANIFEST_CHECKSUM_SIZE) !=
        checksum_64(b, size - MANIFEST_CHECKSUM_SIZE, 0)) {
        env_log(env, KDB_LOG_ERROR, __FILE__, __LINE__, "MANIFEST: checksum does not match");
        return -KDB_ECHECKSUM;
    }
    if (get_le32(b + MANIFEST_VERSION_OFFSET) > MANIFEST_VERSION) {
        env_log(env, KDB_LOG_ERROR, __FILE__, __LINE__,
                "MANIFEST: written by a newer format version (%" PRIu32 ")",
                get_le32(b + MANIFEST_VERSION_OFFSET));
        return -ENOTSUP;
    }
    count = get_le32(b + MANIFEST_TABLE_COUNT_OFFSET);
    if (get_le32(b + MANIFEST_VERSION_OFFSET) != MANIFEST_VERSION ||
        count > MANIFEST_TABLE_COUNT_MAX || encoded_size(count) != size)
        return KDB_CORRUPT(env, "MANIFEST: %zu tables do not fit %zu bytes", count, size);
    m = manifest_new(env, count);
    if (!m) return -ENOMEM;
    m->log_number = get_le64(b + MANIFEST_LOG_NUMBER_OFFSET);
    m->last_sequence = get_le64(b + MANIFEST_LAST_SEQ_OFFSET);
    m->next_file_number = get_le64(b + MANIFEST_NEXT_FILE_OFFSET);
    m->block_count = get_le64(b + MANIFEST_BLOCK_COUNT_OFFSET);
    m->table_count = count;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *e = b + MANIFEST_HEADER_SIZE + i * MANIFEST_TABLE_ENTRY_SIZE;
        m->tables[i].number = get_le64(e);
        m->tables[i].size = get_le64(e + 8);
        if (m->tables[i].number == 0 || m->tables[i].number >= m->next_file_number) {
            env_free(env, m);
            return KDB_CORRUPT(env, "MANIFEST: table %" PRIu64 " is out of range",
                               m->tables[i].number);
        }
    }
    if (m->log_number == 0) {
        env_free(env, m);
        return KDB_CORRUPT(env, "MANIFEST: log number 0");
    }
    *out = m;
    return 0;
}

int manifest_read(const struct env *env, const char *dir, struct manifest **out)
{
    const struct kdb_vfs *vfs = env->vfs;
    char path[MANIFEST_PATH_SIZE];
    uint64_t size = 0;
    uint8_t *buf = NULL;
    size_t got = 0;
    int fd = -1, rc;

    *out = NULL;
    (void)snprintf(path, sizeof(path), "%s/" MANIFEST_NAME, dir);
    rc = vfs->open(vfs->ctx, path, KDB_VFS_OPEN_READ, &fd);
    if (rc < 0) return rc;
    rc = vfs->file_size(vfs->ctx, fd, &size);
    if (rc == 0 && size > encoded_size(MANIFEST_TABLE_COUNT_MAX))
        rc = KDB_CORRUPT(env, "MANIFEST: %" PRIu64 " bytes is too large", size);
    if (rc == 0) {
        buf = env_malloc(env, (size_t)size + 1);
        if (!buf) rc = -ENOMEM;
    }
    if (rc == 0) rc = vfs->pread(vfs->ctx, fd, buf, (size_t)size, 0, &got);
    (void)vfs->close(vfs->ctx, fd);
    if (rc == 0) rc = decode(env, buf, got, out);
    env_free(env, buf);
    return rc;
}

int manifest_write(const struct env *env, const char *dir, const struct manifest *m)
{
    const struct kdb_vfs *vfs = env->vfs;
    char path[MANIFEST_PATH_SIZE], tmp[MANIFEST_PATH_SIZE];
    size_t size = encoded_size(m->table_count);
    uint8_t *b;
    int fd = -1, rc;

    if (m->table_count > MANIFEST_TABLE_COUNT_MAX) return -EFBIG;
    b = env_calloc(env, 1, size);
    if (!b) return -ENOMEM;
    memcpy(b + MANIFEST_MAGIC_OFFSET, MANIFEST_MAGIC, FORMAT_MAGIC_SIZE);
    put_le32(b + MANIFEST_VERSION_OFFSET, MANIFEST_VERSION);
    put_le32(b + MANIFEST_TABLE_COUNT_OFFSET, (uint32_t)m->table_count);
    put_le64(b + MANIFEST_LOG_NUMBER_OFFSET, m->log_number);
    put_le64(b + MANIFEST_LAST_SEQ_OFFSET, m->last_sequence);
    put_le64(b + MANIFEST_NEXT_FILE_OFFSET, m->next_file_number);
    put_le64(b + MANIFEST_BLOCK_COUNT_OFFSET, m->block_count);
    for (size_t i = 0; i < m->table_count; i++) {
        uint8_t *e = b + MANIFEST_HEADER_SIZE + i * MANIFEST_TABLE_ENTRY_SIZE;
        put_le64(e, m->tables[i].number);
        put_le64(e + 8, m->tables[i].size);
    }
    put_le64(b + size - MANIFEST_CHECKSUM_SIZE, checksum_64(b, size - MANIFEST_CHECKSUM_SIZE, 0));
    (void)snprintf(path, sizeof(path), "%s/" MANIFEST_NAME, dir);
    (void)snprintf(tmp, sizeof(tmp), "%s/" MANIFEST_NAME FORMAT_TMP_SUFFIX, dir);
    rc = vfs->open(
        vfs->ctx, tmp,
        KDB_VFS_OPEN_READ | KDB_VFS_OPEN_WRITE | KDB_VFS_OPEN_CREATE | KDB_VFS_OPEN_TRUNCATE, &fd);
    if (rc == 0) rc = vfs->pwrite(vfs->ctx, fd, b, size, 0);
    if (rc == 0) rc = vfs->fsync(vfs->ctx, fd);
    if (fd >= 0) {
        int close_rc = vfs->close(vfs->ctx, fd);
        if (rc == 0) rc = close_rc;
    }
    if (rc == 0) rc = vfs->rename(vfs->ctx, tmp, path);
    if (rc == 0) rc = vfs->sync_dir(vfs->ctx, dir);
    env_free(env, b);
    return rc;
}
