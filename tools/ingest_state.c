/* SPDX-License-Identifier: MIT */
/*
 * ingest_state.c: what the last ingest saw of each file, so that the next
 * one reads again only the files that changed.
 *
 * Each tree has STATE_SHARD_COUNT blocks of kind "ingest-state" (ids from
 * the tree's root and the shard number, like the name index's); a file's
 * record goes in the shard its path hashes to, so an edit rewrites one
 * small block. A shard is STATE_MAGIC, then records, each:
 *
 *   u32 length of the record, these 4 bytes included
 *   u16 path length, path
 *   u64 size, mtime_ns, ctime_ns, ino     the file's stamp when it was read
 *   u32 line count, u8 flags: 1 the parser met errors, 2 the refs are left out
 *   u32 symbols, each: u8 kind, u8 static, u32 line_start, u16 name length, name
 *   u32 refs, each: u32 symbol (index among the file's), u8 kind, u8 type,
 *                   u16 name length, name
 *   u32 includes, each: u16 length, path as written
 *
 * all little-endian. A file whose stamp is the recorded one is taken from
 * its record, not read. A file modified less than STATE_RACY_NS before the
 * ingest began gets mtime 0 in its record, which never matches: it could
 * change again within the same tick of its clock, the stamp unchanged. A record or
 * shard that does not decode is treated as missing: the file is read.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_parse.h"
#include "ingest.h"

#define STATE_SHARD_COUNT 256u
#define STATE_RECORD_MAX  (UINT32_C(1) << 20) /* a larger record keeps no refs: see put_fields() */
#define STATE_MAGIC       "KIS1"
#define STATE_MAGIC_SIZE  4u
#define STATE_RACY_NS     (UINT64_C(2) * 1000000000u)

static void shard_id(const char *root, unsigned shard, struct kdb_id *id)
{
    char number[16];
    int n = snprintf(number, sizeof(number), "%u", shard);

    kdb_id_for_symbol(root, strlen(root), "ingest-state", 12, number, (size_t)n, id);
}

static unsigned shard_of(const char *path)
{
    return (unsigned)(ingest_name_hash(path, strlen(path)) % STATE_SHARD_COUNT);
}

/* ---- decoding ---- */

struct cursor {
    const uint8_t *p, *end;
    bool bad; /* ran past the end */
};

static const uint8_t *take(struct cursor *c, size_t n)
{
    const uint8_t *at = c->p;

    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = true;
        return NULL;
    }
    c->p += n;
    return at;
}

static uint64_t take_le(struct cursor *c, size_t n)
{
    const uint8_t *at = take(c, n);
    uint64_t v = 0;

    if (!at) return 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, at, n); /* one load where the bytes are in order already */
#else
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)at[i] << (8 * i);
#endif
    return v;
}

/* A length-prefixed (u16) string: its bytes and length. */
static const char *take_name(struct cursor *c, uint32_t *len)
{
    *len = (uint32_t)take_le(c, 2);
    return (const char *)take(c, *len);
}

struct record_head {
    const char *path;
    uint32_t path_len;
    struct file_stamp stamp;
    uint32_t line_count;
    uint8_t flags;
    bool had_errors;
};

#define RECORD_ERRORS  1u /* the parser met errors */
#define RECORD_PARTIAL 2u /* its refs and includes were too many to keep: never fresh */

static void take_head(struct cursor *c, struct record_head *h)
{
    (void)take_le(c, 4);
    h->path = take_name(c, &h->path_len);
    h->stamp.size = take_le(c, 8);
    h->stamp.mtime_ns = take_le(c, 8);
    h->stamp.ctime_ns = take_le(c, 8);
    h->stamp.ino = take_le(c, 8);
    h->line_count = (uint32_t)take_le(c, 4);
    h->flags = (uint8_t)take_le(c, 1);
    h->had_errors = (h->flags & RECORD_ERRORS) != 0;
}

/* Whether a record decodes whole, with every value in range; its symbols and their names' bytes. */
static bool record_valid(const uint8_t *rec, size_t len, uint32_t *symbols_out,
                         uint64_t *name_bytes)
{
    struct cursor c = {rec, rec + len, false};
    struct record_head h;
    uint32_t n, symbols;

    take_head(&c, &h);
    symbols = (uint32_t)take_le(&c, 4);
    *symbols_out = symbols;
    *name_bytes = 0;
    for (uint32_t i = 0; i < symbols && !c.bad; i++) {
        uint32_t kind = (uint32_t)take_le(&c, 1), name_len;
        (void)take_le(&c, 1 + 4);
        (void)take_name(&c, &name_len);
        *name_bytes += name_len;
        if (kind <= C_FILE || kind > C_KIND_MAX) return false;
    }
    n = (uint32_t)take_le(&c, 4);
    for (uint32_t i = 0; i < n && !c.bad; i++) {
        uint32_t from = (uint32_t)take_le(&c, 4), name_len;
        uint32_t kind = (uint32_t)take_le(&c, 1), type = (uint32_t)take_le(&c, 1);
        (void)take_name(&c, &name_len);
        if (from >= symbols || (kind != C_REF_CALL && kind != C_REF_TYPE) || type > C_KIND_MAX)
            return false;
    }
    n = (uint32_t)take_le(&c, 4);
    for (uint32_t i = 0; i < n && !c.bad; i++) {
        uint32_t path_len;
        (void)take_name(&c, &path_len);
    }
    return !c.bad && c.p == c.end;
}

struct old {
    const char *path;
    uint32_t path_len;
    const uint8_t *rec;
    size_t len;
    uint32_t symbols;
    uint64_t name_bytes;
};

static int old_order(const void *a, const void *b)
{
    const struct old *x = a, *y = b;
    uint32_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
    int c = memcmp(x->path, y->path, n);

    if (c) return c;
    return x->path_len < y->path_len ? -1 : x->path_len > y->path_len;
}

/* Adds shard text's records to *olds. */
static int collect(const uint8_t *text, size_t len, struct old **olds, size_t *count,
                   size_t *capacity)
{
    size_t at = STATE_MAGIC_SIZE;

    if (len < STATE_MAGIC_SIZE || memcmp(text, STATE_MAGIC, STATE_MAGIC_SIZE) != 0) return 0;
    while (len - at >= 4) {
        struct cursor c = {text + at, text + len, false};
        size_t rec_len = (size_t)take_le(&c, 4);
        struct record_head h;
        if (rec_len < 4 || rec_len > len - at) break; /* the rest does not decode */
        uint32_t symbols;
        uint64_t name_bytes;
        if (record_valid(text + at, rec_len, &symbols, &name_bytes)) {
            c = (struct cursor){text + at, text + at + rec_len, false};
            take_head(&c, &h);
            if (ingest_grow((void **)olds, capacity, *count, sizeof(**olds)) < 0) return -ENOMEM;
            (*olds)[(*count)++] = (struct old){.path = h.path,
                                               .path_len = h.path_len,
                                               .rec = text + at,
                                               .len = rec_len,
                                               .symbols = symbols,
                                               .name_bytes = name_bytes};
        }
        at += rec_len;
    }
    return 0;
}

int ingest_state_load(struct ingest *in, uint32_t t)
{
    struct old *olds = NULL;
    size_t count = 0, capacity = 0, j = 0;
    size_t symbols = 0, name_bytes = 0; /* of the fresh files: room is made for them at once */
    int rc = 0;

    for (unsigned shard = 0; rc == 0 && shard < STATE_SHARD_COUNT; shard++) {
        struct kdb_block view;
        struct kdb_id id;
        uint8_t *copy, **texts;
        shard_id(in->trees[t].root, shard, &id);
        rc = kdb_get_block_view(in->cli->db, &id, &view);
        if (rc == -ENOENT) {
            rc = 0;
            continue;
        }
        if (rc < 0) break;
        /* The view lasts until the next call: the records are kept as a copy. */
        copy = malloc(view.content_len + 1);
        texts = realloc(in->state_texts, (in->state_text_count + 1) * sizeof(*texts));
        if (!copy || !texts) {
            free(copy);
            if (texts) in->state_texts = texts;
            rc = -ENOMEM;
            break;
        }
        if (view.content_len) memcpy(copy, view.content, view.content_len);
        in->state_texts = texts;
        in->state_texts[in->state_text_count++] = copy;
        rc = collect(copy, view.content_len, &olds, &count, &capacity);
    }
    if (rc == 0 && count) qsort(olds, count, sizeof(*olds), old_order);
    /* The tree's files are sorted by path too: one walk pairs them. */
    for (size_t i = 0; rc == 0 && i < in->file_count; i++) {
        struct file *f = &in->files[i];
        struct old key;
        if (f->tree != t) continue;
        key = (struct old){.path = f->path, .path_len = (uint32_t)strlen(f->path)};
        while (j < count && old_order(&olds[j], &key) < 0) {
            in->files_gone++;
            j++;
        }
        if (j < count && old_order(&olds[j], &key) == 0) {
            struct cursor c = {olds[j].rec, olds[j].rec + olds[j].len, false};
            struct record_head h;
            take_head(&c, &h);
            f->old = olds[j].rec;
            f->old_len = olds[j].len;
            f->fresh = !in->full && h.stamp.mtime_ns != 0 && !(h.flags & RECORD_PARTIAL) &&
                       memcmp(&h.stamp, &f->stamp, sizeof(h.stamp)) == 0;
            if (f->fresh) {
                symbols += olds[j].symbols;
                name_bytes += olds[j].name_bytes;
            }
            j++;
        }
    }
    if (rc == 0) in->files_gone += count - j;
    if (rc == 0) rc = ingest_reserve(in, symbols, name_bytes);
    free(olds);
    return rc;
}

void ingest_state_release(struct ingest *in)
{
    for (size_t i = 0; i < in->state_text_count; i++)
        free(in->state_texts[i]);
    free(in->state_texts);
    in->state_texts = NULL;
    in->state_text_count = 0;
}

int ingest_state_restore(struct ingest *in, uint32_t index)
{
    struct file *f = &in->files[index];
    struct cursor c = {f->old, f->old + f->old_len, false};
    struct record_head h;
    uint32_t n, base = (uint32_t)in->sym_count;
    int rc = 0;

    take_head(&c, &h);
    f->line_count = h.line_count;
    f->had_errors = h.had_errors;
    f->first_sym = base;
    f->first_ref = f->ref_count = 0; /* ingest_state_restore_refs() puts them, if asked */
    f->first_inc = f->inc_count = 0;
    in->bytes += f->stamp.size;
    in->errors_parse += h.had_errors;
    n = (uint32_t)take_le(&c, 4);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        struct sym *s;
        const char *name, *kind_name;
        rc = ingest_grow((void **)&in->syms, &in->sym_capacity, in->sym_count, sizeof(*in->syms));
        if (rc < 0) break;
        s = &in->syms[in->sym_count];
        memset(s, 0, sizeof(*s));
        s->file = index;
        s->kind = (uint8_t)take_le(&c, 1);
        s->is_static = take_le(&c, 1) != 0;
        s->line_start = (uint32_t)take_le(&c, 4);
        name = take_name(&c, &s->name_len);
        kind_name = c_kind_name(s->kind);
        kdb_id_for_symbol(f->path, strlen(f->path), kind_name, strlen(kind_name), name, s->name_len,
                          &s->id);
        rc = ingest_keep_name(in, name, s->name_len, &s->name);
        if (rc == 0) in->sym_count++;
    }
    f->sym_count = (uint32_t)(in->sym_count - base);
    return rc;
}

/* Moves c past a record's head and symbols. */
static void skip_symbols(struct cursor *c)
{
    struct record_head h;
    uint32_t n, len;

    take_head(c, &h);
    n = (uint32_t)take_le(c, 4);
    for (uint32_t i = 0; i < n; i++) {
        (void)take_le(c, 1 + 1 + 4);
        (void)take_name(c, &len);
    }
}

int ingest_state_restore_refs(struct ingest *in, uint32_t index)
{
    struct file *f = &in->files[index];
    struct cursor c = {f->old, f->old + f->old_len, false};
    uint32_t n, base = f->first_sym;
    int rc = 0;

    skip_symbols(&c);
    f->first_ref = (uint32_t)in->ref_count;
    f->first_inc = (uint32_t)in->inc_count;
    n = (uint32_t)take_le(&c, 4);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        struct ref *r;
        const char *name;
        rc = ingest_grow((void **)&in->refs, &in->ref_capacity, in->ref_count, sizeof(*in->refs));
        if (rc < 0) break;
        r = &in->refs[in->ref_count];
        r->from = base + (uint32_t)take_le(&c, 4);
        r->kind = (uint8_t)take_le(&c, 1);
        r->type = (uint8_t)take_le(&c, 1);
        name = take_name(&c, &r->name_len);
        rc = ingest_keep_name(in, name, r->name_len, &r->name);
        if (rc == 0) in->ref_count++;
    }
    n = rc == 0 ? (uint32_t)take_le(&c, 4) : 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        struct inc *inc;
        const char *path;
        rc = ingest_grow((void **)&in->incs, &in->inc_capacity, in->inc_count, sizeof(*in->incs));
        if (rc < 0) break;
        inc = &in->incs[in->inc_count];
        inc->file = index;
        path = take_name(&c, &inc->len);
        rc = ingest_keep_name(in, path, inc->len, &inc->path);
        if (rc == 0) in->inc_count++;
    }
    f->ref_count = (uint32_t)in->ref_count - f->first_ref;
    f->inc_count = (uint32_t)in->inc_count - f->first_inc;
    return rc;
}

bool ingest_state_same_symbols(const struct ingest *in, uint32_t index, bool lines)
{
    const struct file *f = &in->files[index];
    struct cursor c = {f->old, f->old + f->old_len, false};
    struct record_head h;

    if (!f->old) return false;
    take_head(&c, &h);
    if (take_le(&c, 4) != f->sym_count) return false;
    for (uint32_t i = 0; i < f->sym_count; i++) {
        const struct sym *s = &in->syms[f->first_sym + i];
        uint32_t kind = (uint32_t)take_le(&c, 1), len, line;
        bool is_static = take_le(&c, 1) != 0;
        const char *name;
        line = (uint32_t)take_le(&c, 4);
        name = take_name(&c, &len);
        if (kind != s->kind || is_static != s->is_static || len != s->name_len ||
            memcmp(name, in->names + s->name, len) != 0 || (lines && line != s->line_start))
            return false;
    }
    return true;
}

struct triple {
    uint32_t name; /* interned offset */
    uint32_t len;
    uint8_t kind;
    bool is_static;
};

static int triple_order(const void *a, const void *b)
{
    const struct triple *x = a, *y = b;

    if (x->name != y->name) return x->name < y->name ? -1 : 1;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    return (int)x->is_static - (int)y->is_static;
}

int ingest_state_changed_names(struct ingest *in, uint32_t index, struct name_span **names,
                               size_t *count, size_t *capacity)
{
    const struct file *f = &in->files[index];
    struct cursor c = {f->old, f->old + f->old_len, false};
    struct record_head h;
    struct triple *was, *is;
    uint32_t n;
    size_t i = 0, j = 0;
    int rc = 0;

    take_head(&c, &h);
    n = (uint32_t)take_le(&c, 4);
    was = malloc(((size_t)n + 1) * sizeof(*was));
    is = malloc(((size_t)f->sym_count + 1) * sizeof(*is));
    if (!was || !is) rc = -ENOMEM;
    for (uint32_t k = 0; rc == 0 && k < n; k++) {
        uint32_t len;
        const char *name;
        was[k].kind = (uint8_t)take_le(&c, 1);
        was[k].is_static = take_le(&c, 1) != 0;
        (void)take_le(&c, 4);
        name = take_name(&c, &len);
        was[k].len = len;
        rc = ingest_keep_name(in, name, len, &was[k].name);
    }
    for (uint32_t k = 0; rc == 0 && k < f->sym_count; k++) {
        const struct sym *sym = &in->syms[f->first_sym + k];
        is[k] = (struct triple){sym->name, sym->name_len, sym->kind, sym->is_static};
    }
    if (rc == 0) {
        qsort(was, n, sizeof(*was), triple_order);
        qsort(is, f->sym_count, sizeof(*is), triple_order);
    }
    /* The names in one list and not the other (as name, kind and static). */
    while (rc == 0 && (i < n || j < f->sym_count)) {
        int order = i == n ? 1 : j == f->sym_count ? -1 : triple_order(&was[i], &is[j]);
        struct name_span name = order < 0 ? (struct name_span){was[i].name, was[i].len}
                                          : (struct name_span){is[j].name, is[j].len};
        if (order == 0) {
            i++;
            j++;
            continue;
        }
        if (order < 0)
            i++;
        else
            j++;
        rc = ingest_grow((void **)names, capacity, *count, sizeof(**names));
        if (rc == 0) (*names)[(*count)++] = name;
    }
    free(was);
    free(is);
    return rc;
}

bool ingest_state_refers(const struct ingest *in, uint32_t index,
                         bool (*match)(void *ctx, const char *name, uint32_t len), void *ctx)
{
    const struct file *f = &in->files[index];
    struct cursor c = {f->old, f->old + f->old_len, false};
    uint32_t n;

    skip_symbols(&c);
    n = (uint32_t)take_le(&c, 4);
    for (uint32_t i = 0; i < n && !c.bad; i++) {
        uint32_t len;
        const char *name;
        (void)take_le(&c, 4 + 1 + 1);
        name = take_name(&c, &len);
        if (name && match(ctx, name, len)) return true;
    }
    return false;
}

void ingest_state_symbol_names(const struct ingest *in, uint32_t index,
                               void (*fn)(void *ctx, const char *name, uint32_t len), void *ctx)
{
    const struct file *f = &in->files[index];
    struct cursor c = {f->old, f->old + f->old_len, false};
    struct record_head h;
    uint32_t n;

    if (!f->old) return;
    take_head(&c, &h);
    n = (uint32_t)take_le(&c, 4);
    for (uint32_t i = 0; i < n && !c.bad; i++) {
        uint32_t len;
        const char *name;
        (void)take_le(&c, 1 + 1 + 4);
        name = take_name(&c, &len);
        if (name) fn(ctx, name, len);
    }
}

/* ---- encoding ---- */

struct buffer {
    uint8_t *bytes;
    size_t len, capacity;
    bool failed;
};

static void put(struct buffer *b, const void *bytes, size_t n)
{
    if (b->failed) return;
    if (b->len + n > b->capacity) {
        size_t want = b->capacity ? b->capacity : 4096;
        uint8_t *more;
        while (want < b->len + n)
            want *= 2;
        more = realloc(b->bytes, want);
        if (!more) {
            b->failed = true;
            return;
        }
        b->bytes = more;
        b->capacity = want;
    }
    if (n) memcpy(b->bytes + b->len, bytes, n);
    b->len += n;
}

static void put_le(struct buffer *b, uint64_t v, size_t n)
{
    uint8_t bytes[8];

    for (size_t i = 0; i < n; i++)
        bytes[i] = (uint8_t)(v >> (8 * i));
    put(b, bytes, n);
}

static void put_name(struct buffer *b, const char *name, size_t len)
{
    if (len > UINT16_MAX) len = UINT16_MAX; /* no C name or path is this long */
    put_le(b, len, 2);
    put(b, name, len);
}

static void put_fields(struct buffer *b, const struct ingest *in, const struct file *f,
                       size_t start);

static void put_record(struct buffer *b, const struct ingest *in, const struct file *f)
{
    size_t start = b->len;

    if (f->fresh) { /* unchanged: its record as it was */
        put(b, f->old, f->old_len);
        return;
    }
    put_fields(b, in, f, start);
}

static void put_fields(struct buffer *b, const struct ingest *in, const struct file *f,
                       size_t start)
{
    struct file_stamp stamp = f->stamp;
    size_t flags_at;

    if (stamp.mtime_ns + STATE_RACY_NS > in->start_wall_ns)
        stamp.mtime_ns = 0; /* read it next time */
    put_le(b, 0, 4);        /* the length, filled in below */
    put_name(b, f->path, strlen(f->path));
    put_le(b, stamp.size, 8);
    put_le(b, stamp.mtime_ns, 8);
    put_le(b, stamp.ctime_ns, 8);
    put_le(b, stamp.ino, 8);
    put_le(b, f->line_count, 4);
    flags_at = b->len;
    put_le(b, f->had_errors ? RECORD_ERRORS : 0, 1);
    put_le(b, f->sym_count, 4);
    for (uint32_t i = 0; i < f->sym_count; i++) {
        const struct sym *s = &in->syms[f->first_sym + i];
        put_le(b, s->kind, 1);
        put_le(b, s->is_static, 1);
        put_le(b, s->line_start, 4);
        put_name(b, in->names + s->name, s->name_len);
    }
    put_le(b, f->ref_count, 4);
    for (uint32_t i = 0; i < f->ref_count; i++) {
        const struct ref *r = &in->refs[f->first_ref + i];
        put_le(b, r->from - f->first_sym, 4);
        put_le(b, r->kind, 1);
        put_le(b, r->type, 1);
        put_name(b, in->names + r->name, r->name_len);
    }
    put_le(b, f->inc_count, 4);
    for (uint32_t i = 0; i < f->inc_count; i++) {
        const struct inc *inc = &in->incs[f->first_inc + i];
        put_name(b, in->names + inc->path, inc->len);
    }
    if (!b->failed && b->len - start > STATE_RECORD_MAX) {
        /* A generated header of a hundred thousand macros: its symbols are kept (names
         * resolve against them), its refs and includes are not, so it is read each time. */
        struct cursor c = {b->bytes + start, b->bytes + b->len, false};
        skip_symbols(&c);
        b->len = (size_t)(c.p - b->bytes);
        put_le(b, 0, 4); /* no refs */
        put_le(b, 0, 4); /* no includes */
        b->bytes[flags_at] |= RECORD_PARTIAL;
    }
    if (!b->failed) {
        size_t len = b->len - start;
        for (size_t i = 0; i < 4; i++)
            b->bytes[start + i] = (uint8_t)(len >> (8 * i));
    }
}

int ingest_state_write(struct ingest *in, uint32_t t)
{
    uint32_t *order = malloc((in->file_count + 1) * sizeof(*order));
    size_t starts[STATE_SHARD_COUNT + 1] = {0}, at[STATE_SHARD_COUNT];
    struct buffer b = {0};
    int rc = order ? 0 : -ENOMEM;

    /* The tree's files by shard (a counting sort), in path order within each. */
    for (size_t i = 0; rc == 0 && i < in->file_count; i++) {
        if (in->files[i].tree == t) starts[shard_of(in->files[i].path) + 1]++;
    }
    for (unsigned s = 0; s < STATE_SHARD_COUNT; s++)
        starts[s + 1] += starts[s];
    memcpy(at, starts, sizeof(at));
    for (size_t i = 0; rc == 0 && i < in->file_count; i++) {
        unsigned s;
        if (in->files[i].tree != t) continue;
        s = shard_of(in->files[i].path);
        order[at[s]++] = (uint32_t)i;
    }
    for (unsigned s = 0; rc == 0 && s < STATE_SHARD_COUNT; s++) {
        struct kdb_id id;
        char name[PATH_MAX + 16];
        bool changed = in->files_gone > 0; /* which shard lost a file is not known here */
        for (size_t k = starts[s]; k < starts[s + 1]; k++)
            changed = changed || !in->files[order[k]].fresh;
        if (!changed) { /* every record as it was */
            in->state_blocks += starts[s] < starts[s + 1];
            continue;
        }
        shard_id(in->trees[t].root, s, &id);
        if (starts[s] == starts[s + 1]) { /* no file: no block, unless one is there to empty */
            struct kdb_block view;
            rc = kdb_get_block_view(in->cli->db, &id, &view);
            if (rc == -ENOENT) {
                rc = 0;
                continue;
            }
            if (rc < 0) break;
        }
        b.len = 0;
        put(&b, STATE_MAGIC, STATE_MAGIC_SIZE);
        for (size_t k = starts[s]; k < starts[s + 1]; k++)
            put_record(&b, in, &in->files[order[k]]);
        if (b.failed) {
            rc = -ENOMEM;
            break;
        }
        snprintf(name, sizeof(name), "%s#state%03u", in->trees[t].root, s);
        rc = ingest_store_index(in, &id, "ingest-state", name, (const char *)b.bytes, b.len);
        in->state_blocks += starts[s] < starts[s + 1];
    }
    free(b.bytes);
    free(order);
    return rc;
}
