/* SPDX-License-Identifier: MIT */
/*
 * coding.h: little-endian encoding of fixed-width integers, field by field.
 *
 * Every on-disk integer goes through these helpers (FORMAT.md: little-endian
 * everywhere), so no C struct is ever written to disk. The shifts compile to
 * single loads and stores on little-endian machines.
 */
#ifndef KDB_ENGINE_CODING_H
#define KDB_ENGINE_CODING_H

#include <stdint.h>

static inline void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Big-endian: the order in which ids sort (memcmp), for their leading bytes as a number. */
static inline uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

#endif /* KDB_ENGINE_CODING_H */
