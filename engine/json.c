/* SPDX-License-Identifier: MIT */
/*
 * json.c: kdb_validate_metadata(), a strict RFC 8259 checker.
 *
 * Block metadata is stored as the caller's JSON text; the engine only checks
 * that it is one object. This runs on every put, so it allocates nothing and
 * builds no tree: a recursive descent bounded by KDB_METADATA_DEPTH_LIMIT,
 * with UTF-8 checked in strings (no overlongs, no surrogates, nothing past
 * U+10FFFF) and no control characters unescaped.
 */
#include "kdb.h"

#include <stdbool.h>
#include <string.h>

struct scan {
    const unsigned char *p;   /* next byte */
    const unsigned char *end; /* one past the last byte */
};

static bool parse_value(struct scan *s, unsigned depth);

static void skip_space(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool take(struct scan *s, char c)
{
    if (s->p < s->end && *s->p == (unsigned char)c) {
        s->p++;
        return true;
    }
    return false;
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 sequence whose lead byte c >= 0x80 was already consumed. */
static bool parse_utf8_tail(struct scan *s, unsigned char c)
{
    unsigned need;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0; /* no overlongs */
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        return false;
    }
    if ((size_t)(s->end - s->p) < need) return false;
    if (s->p[0] < lo || s->p[0] > hi) return false;
    for (unsigned i = 1; i < need; i++) {
        if (s->p[i] < 0x80 || s->p[i] > 0xBF) return false;
    }
    s->p += need;
    return true;
}

static bool parse_escape(struct scan *s)
{
    if (s->p >= s->end) return false;
    switch (*s->p++) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return true;
    case 'u':
        if (s->end - s->p < 4) return false;
        for (int i = 0; i < 4; i++) {
            if (!is_hex(s->p[i])) return false;
        }
        s->p += 4;
        return true;
    default:
        return false;
    }
}

static bool parse_string(struct scan *s)
{
    if (!take(s, '"')) return false;
    while (s->p < s->end) {
        unsigned char c = *s->p++;
        if (c == '"') return true;
        if (c < 0x20) return false;
        if (c == '\\' && !parse_escape(s)) return false;
        if (c >= 0x80 && !parse_utf8_tail(s, c)) return false;
    }
    return false;
}

static bool parse_digits(struct scan *s)
{
    const unsigned char *start = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

static bool parse_number(struct scan *s)
{
    (void)take(s, '-');
    if (take(s, '0')) {
        if (s->p < s->end && *s->p >= '0' && *s->p <= '9') return false; /* no leading zeros */
    } else if (!parse_digits(s)) {
        return false;
    }
    if (take(s, '.') && !parse_digits(s)) return false;
    if (take(s, 'e') || take(s, 'E')) {
        if (!take(s, '+')) (void)take(s, '-');
        if (!parse_digits(s)) return false;
    }
    return true;
}

static bool parse_word(struct scan *s, const char *word)
{
    size_t len = strlen(word);

    if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0) return false;
    s->p += len;
    return true;
}

/* '[' or '{' is next; close is the matching bracket. */
static bool parse_container(struct scan *s, unsigned depth, bool object)
{
    char close = object ? '}' : ']';

    if (depth >= KDB_METADATA_DEPTH_LIMIT) return false;
    s->p++;
    skip_space(s);
    if (take(s, close)) return true;
    for (;;) {
        if (object) {
            if (!parse_string(s)) return false;
            skip_space(s);
            if (!take(s, ':')) return false;
            skip_space(s);
        }
        if (!parse_value(s, depth + 1)) return false;
        skip_space(s);
        if (take(s, close)) return true;
        if (!take(s, ',')) return false;
        skip_space(s);
    }
}

static bool parse_value(struct scan *s, unsigned depth)
{
    if (s->p >= s->end) return false;
    switch (*s->p) {
    case '{':
        return parse_container(s, depth, true);
    case '[':
        return parse_container(s, depth, false);
    case '"':
        return parse_string(s);
    case 't':
        return parse_word(s, "true");
    case 'f':
        return parse_word(s, "false");
    case 'n':
        return parse_word(s, "null");
    default:
        return parse_number(s);
    }
}

int kdb_validate_metadata(const char *json, size_t len)
{
    struct scan s;

    if (!json) return -EINVAL;
    s.p = (const unsigned char *)json;
    s.end = s.p + len;
    skip_space(&s);
    if (s.p >= s.end || *s.p != '{') return -EINVAL;
    if (!parse_container(&s, 0, true)) return -EINVAL;
    skip_space(&s);
    return s.p == s.end ? 0 : -EINVAL;
}
