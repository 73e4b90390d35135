/* SPDX-License-Identifier: MIT */
/*
 * ingest_state.c: what the last ingest saw of each file, so that the next
 * one reads again only the files that changed.
 *
 * Each tree has STATE_SHARD_COUNT blocks of kind "ingest-state", which an
 * ingest reads whole, and as many of kind "ingest-refs", read only when
 * names are to be linked again (ids from the tree's root, the kind and the
 * shard number, like the name index's). A file's records go in the shards
 * its path hashes to, so an edit rewrites two small blocks. A state shard
 * is STATE_MAGIC, then a record per file:
 *
 *   u32 length of the record, these 4 bytes included
 *   u16 path length, path
 *   u64 size, mtime_ns, ctime_ns, ino     the file's stamp when it was read
 *   u32 line count, u8 flags: 1 the parser met errors, 2 the refs are left out
 *   u32 bloom bytes, bloom                the names its refs use (3 bits a name)
 *   u32 symbols, each: u8 kind, u8 static, u32 line_start, u16 name length, name
 *
 * and a refs shard is REFS_MAGIC, then a record per file:
 *
 *   u32 length of the record, these 4 bytes included
 *   u16 path length, path
 *   u32 refs, each: u32 symbol (index among the file's), u8 kind, u8 type,
 *                   u16 name length, name
 *   u32 includes, each: u16 length, path as written
 *
 * all little-endian. A file whose stamp is the recorded one is taken from
 * its records, not read. A file modified less than STATE_RACY_NS before
 * the ingest began gets mtime 0 in its record, which never matches: it
 * could change again within the same tick of its clock, the stamp
 * unchanged. A record or shard that does not decode is treated as missing:
 * the file is read. A file whose refs would take more than STATE_REFS_MAX
 * bytes keeps its symbols only and is read each time; a file whose records
 * would take a shard past STATE_SHARD_MAX (a generated header of hundreds
 * of thousands of macros) keeps only a digest of its symbols in place of
 * them (flag 4: after the count, a u64, and no symbols), so that reading it
 * again still tells whether they changed.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_parse.h"
#include "ingest.h"

#define STATE_SHARD_COUNT 256u
#define STATE_REFS_MAX    (UINT32_C(1) << 20)
#define STATE_SHARD_MAX   (UINT32_C(12) << 20) /* under the 16 MiB a block holds by default */
#define STATE_MAGIC       "KIS2"
#define REFS_MAGIC        "KIR2"
#define MAGIC_SIZE        4u
#define STATE_RACY_NS     (UINT64_C(2) * 1000000000u)

#define RECORD_ERRORS  1u /* the parser met errors */
#define RECORD_PARTIAL 2u /* its refs and includes were too many to keep: never fresh */
#define RECORD_DIGEST  4u /* its symbols were too many to keep: their digest stands for them */

static void shard_id(const char *root, const char *kind, unsigned shard, struct kdb_id *id)
{
    char number[16];
    int n = snprintf(number, sizeof(number), "%u", shard);

    kdb_id_for_symbol(root, strlen(root), kind, strlen(kind), number, (size_t)n, id);
}

static unsigned shard_of(const char *path)
{
    return (unsigned)(ingest_name_hash(path, strlen(path)) % STATE_SHARD_COUNT);
}

/* The bloom filter's three bits for a name, in a filter of bits bits (a power of two). */
static void bloom_bits(const char *name, size_t len, uint32_t bits, uint32_t out[3])
{
    uint64_t h = ingest_name_hash(name, len);

    h ^= h >> 29;
    for (int k = 0; k < 3; k++) {
        out[k] = (uint32_t)h & (bits - 1);
        h = (h >> 21) | (h << 43);
        h *= 0x9e3779b97f4a7c15ull;
    }
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
    const uint8_t *bloom;
    uint32_t bloom_bytes;
};

/* A state record's head, up to its symbols. */
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
    h->bloom_bytes = (uint32_t)take_le(c, 4);
    h->bloom = take(c, h->bloom_bytes);
}

/* Whether a state record decodes whole, with every value in range; its symbols and their names'
 * bytes. */
static bool record_valid(const uint8_t *rec, size_t len, uint32_t *symbols_out,
                         uint64_t *name_bytes)
{
    struct cursor c = {rec, rec + len, false};
    struct record_head h;
    uint32_t symbols;

    take_head(&c, &h);
    if (h.bloom_bytes & (h.bloom_bytes - 1)) return false; /* a power of two, or 0 */
    symbols = (uint32_t)take_le(&c, 4);
    *symbols_out = symbols;
    *name_bytes = 0;
    if (h.flags & RECORD_DIGEST) { /* never fresh: nothing of it is restored */
        (void)take_le(&c, 8);
        *symbols_out = 0;
        return (h.flags & RECORD_PARTIAL) && !c.bad && c.p == c.end;
    }
    for (uint32_t i = 0; i < symbols && !c.bad; i++) {
        uint32_t kind = (uint32_t)take_le(&c, 1), name_len;
        (void)take_le(&c, 1 + 4);
        (void)take_name(&c, &name_len);
        *name_bytes += name_len;
        if (kind <= C_FILE || kind > C_KIND_MAX) return false;
    }
    return !c.bad && c.p == c.end;
}

/* Whether a refs record of a file with symbols symbols decodes whole, every value in range. */
static bool refs_valid(const uint8_t *rec, size_t len, uint32_t symbols)
{
    struct cursor c = {rec, rec + len, false};
    uint32_t n, name_len;

    (void)take_le(&c, 4);
    (void)take_name(&c, &name_len);
    n = (uint32_t)take_le(&c, 4);
    for (uint32_t i = 0; i < n && !c.bad; i++) {
        uint32_t from = (uint32_t)take_le(&c, 4);
        uint32_t kind = (uint32_t)take_le(&c, 1), type = (uint32_t)take_le(&c, 1);
        (void)take_name(&c, &name_len);
        if (from >= symbols || (kind != C_REF_CALL && kind != C_REF_TYPE) || type > C_KIND_MAX)
            return false;
    }
    n = (uint32_t)take_le(&c, 4);
    for (uint32_t i = 0; i < n && !c.bad; i++)
        (void)take_name(&c, &name_len);
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

static int path_order(const char *a, uint32_t a_len, const char *b, uint32_t b_len)
{
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);

    if (c) return c;
    return a_len < b_len ? -1 : a_len > b_len;
}

static int old_order(const void *a, const void *b)
{
    const struct old *x = a, *y = b;
    return path_order(x->path, x->path_len, y->path, y->path_len);
}

/* Reads a shard block of the kind into a copy that lives until ingest_state_release(); *text
 * NULL if there is none, or if it is not of magic. */
static int read_shard(struct ingest *in, uint32_t t, const char *kind, const char *magic,
                      unsigned shard, const uint8_t **text, size_t *len)
{
    struct kdb_block view;
    struct kdb_id id;
    uint8_t *copy, **texts;
    int rc;

    *text = NULL;
    *len = 0;
    shard_id(in->trees[t].root, kind, shard, &id);
    rc = kdb_get_block_view(in->cli->db, &id, &view);
    if (rc == -ENOENT) return 0;
    if (rc < 0) return rc;
    if (view.content_len < MAGIC_SIZE || memcmp(view.content, magic, MAGIC_SIZE) != 0) return 0;
    /* The view lasts until the next call: the records are kept as a copy. */
    copy = malloc(view.content_len);
    texts = realloc(in->state_texts, (in->state_text_count + 1) * sizeof(*texts));
    if (texts) in->state_texts = texts;
    if (!copy || !texts) {
        free(copy);
        return -ENOMEM;
    }
    memcpy(copy, view.content, view.content_len);
    in->state_texts[in->state_text_count++] = copy;
    *text = copy;
    *len = view.content_len;
    return 0;
}

/* Adds a state shard's records to *olds. */
static int collect(const uint8_t *text, size_t len, struct old **olds, size_t *count,
                   size_t *capacity)
{
    size_t at = MAGIC_SIZE;

    while (len - at >= 4) {
        struct cursor c = {text + at, text + len, false};
        size_t rec_len = (size_t)take_le(&c, 4);
        struct record_head h;
        uint32_t symbols;
        uint64_t name_bytes;
        if (rec_len < 4 || rec_len > len - at) break; /* the rest does not decode */
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

    if (!in->refs_loaded) {
        in->refs_loaded = calloc(in->tree_count * STATE_SHARD_COUNT, sizeof(*in->refs_loaded));
        if (!in->refs_loaded) return -ENOMEM;
    }
    for (unsigned shard = 0; rc == 0 && shard < STATE_SHARD_COUNT; shard++) {
        const uint8_t *text;
        size_t len;
        rc = read_shard(in, t, "ingest-state", STATE_MAGIC, shard, &text, &len);
        if (rc == 0 && text) rc = collect(text, len, &olds, &count, &capacity);
    }
    if (rc == 0 && count) qsort(olds, count, sizeof(*olds), old_order);
    /* The tree's files are sorted by path too: one walk pairs them. */
    for (size_t i = 0; rc == 0 && i < in->file_count; i++) {
        struct file *f = &in->files[i];
        uint32_t path_len;
        if (f->tree != t) continue;
        path_len = (uint32_t)strlen(f->path);
        while (j < count && path_order(olds[j].path, olds[j].path_len, f->path, path_len) < 0) {
            in->files_gone++;
            j++;
        }
        if (j < count && path_order(olds[j].path, olds[j].path_len, f->path, path_len) == 0) {
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
    free(in->refs_loaded);
    in->state_texts = NULL;
    in->state_text_count = 0;
    in->refs_loaded = NULL;
}

/* The file of tree t at path, or -1 (the tree's files are sorted by path). */
static int64_t file_at(const struct ingest *in, uint32_t t, const char *path, uint32_t len)
{
    size_t lo = 0, hi = in->file_count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct file *f = &in->files[mid];
        int c = f->tree != t ? (f->tree < t ? -1 : 1)
                             : path_order(f->path, (uint32_t)strlen(f->path), path, len);
        if (c == 0) return (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* How many symbols a state record (checked when it was loaded) says its file defines. */
static uint32_t record_symbols(const uint8_t *rec, size_t len)
{
    struct cursor c = {rec, rec + len, false};
    struct record_head h;

    take_head(&c, &h);
    return (uint32_t)take_le(&c, 4);
}

/* Reads refs shard s of tree t, once, and gives each of its files its refs record. */
static int load_refs(struct ingest *in, uint32_t t, unsigned s)
{
    const uint8_t *text;
    size_t len, at = MAGIC_SIZE;
    int rc;

    if (in->refs_loaded[t * STATE_SHARD_COUNT + s]) return 0;
    rc = read_shard(in, t, "ingest-refs", REFS_MAGIC, s, &text, &len);
    if (rc < 0) return rc;
    in->refs_loaded[t * STATE_SHARD_COUNT + s] = 1;
    while (text && len - at >= 4) {
        struct cursor c = {text + at, text + len, false};
        size_t rec_len = (size_t)take_le(&c, 4);
        uint32_t path_len;
        const char *path;
        int64_t i;
        if (rec_len < 4 || rec_len > len - at) break;
        c = (struct cursor){text + at, text + at + rec_len, false};
        (void)take_le(&c, 4);
        path = take_name(&c, &path_len);
        i = path ? file_at(in, t, path, path_len) : -1;
        if (i >= 0 && in->files[i].old &&
            refs_valid(text + at, rec_len,
                       record_symbols(in->files[i].old, in->files[i].old_len))) {
            in->files[i].old_refs = text + at;
            in->files[i].old_refs_len = rec_len;
        }
        at += rec_len;
    }
    return 0;
}

/* File index's old refs record, read if need be: 0, or -EUCLEAN if the state has none. */
static int old_refs(struct ingest *in, uint32_t index)
{
    struct file *f = &in->files[index];
    int rc;

    if (f->old_refs) return 0;
    rc = load_refs(in, f->tree, shard_of(f->path));
    if (rc == 0 && !f->old_refs) {
        cli_error("ingest: the ingest state lacks the refs of %s; run it again with --full",
                  f->path);
        rc = -EUCLEAN;
    }
    return rc;
}

int ingest_state_restore(struct ingest *in, uint32_t index)
{
    struct file *f = &in->files[index];
    struct cursor c = {f->old, f->old + f->old_len, false};
    struct record_head h;
    uint32_t n, base = (uint32_t)in->sym_count, len;
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
        const char *name;
        rc = ingest_grow((void **)&in->syms, &in->sym_capacity, in->sym_count, sizeof(*in->syms));
        if (rc < 0) break;
        s = &in->syms[in->sym_count];
        memset(s, 0, sizeof(*s));
        s->file = index;
        s->kind = (uint8_t)take_le(&c, 1);
        s->is_static = take_le(&c, 1) != 0;
        s->line_start = (uint32_t)take_le(&c, 4);
        name = take_name(&c, &len);
        s->name_len = (uint16_t)len; /* two bytes in the state */
        rc = ingest_keep_name(in, name, s->name_len, &s->name);
        if (rc == 0) in->sym_count++;
    }
    f->sym_count = (uint32_t)(in->sym_count - base);
    return rc;
}

int ingest_state_restore_refs(struct ingest *in, uint32_t index)
{
    struct file *f = &in->files[index];
    struct cursor c;
    uint32_t n, len, base = f->first_sym;
    int rc = old_refs(in, index);

    if (rc < 0) return rc;
    c = (struct cursor){f->old_refs, f->old_refs + f->old_refs_len, false};
    (void)take_le(&c, 4);
    (void)take_name(&c, &len);
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
        name = take_name(&c, &len);
        r->name_len = (uint16_t)len;
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

/* A digest of the symbols a file defines: kinds, static and names, in order. */
static uint64_t symbols_digest(const struct ingest *in, const struct file *f)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (uint32_t i = 0; i < f->sym_count; i++) {
        const struct sym *s = &in->syms[f->first_sym + i];
        uint8_t head[2 + 4] = {s->kind, s->is_static};
        uint32_t len = s->name_len;
        memcpy(head + 2, &len, 4);
        for (size_t k = 0; k < sizeof(head); k++)
            h = (h ^ head[k]) * 0x100000001b3ull;
        for (uint32_t k = 0; k < s->name_len; k++)
            h = (h ^ (uint8_t)in->names[s->name + k]) * 0x100000001b3ull;
    }
    return h;
}

bool ingest_state_symbols_known(const struct ingest *in, uint32_t index)
{
    const struct file *f = &in->files[index];
    struct cursor c = {f->old, f->old + f->old_len, false};
    struct record_head h;

    if (!f->old) return false;
    take_head(&c, &h);
    return !(h.flags & RECORD_DIGEST);
}

bool ingest_state_same_symbols(const struct ingest *in, uint32_t index, bool lines)
{
    const struct file *f = &in->files[index];
    struct cursor c = {f->old, f->old + f->old_len, false};
    struct record_head h;

    if (!f->old) return false;
    take_head(&c, &h);
    if (take_le(&c, 4) != f->sym_count) return false;
    if (h.flags & RECORD_DIGEST) /* the same symbols, at lines that are not known */
        return !lines && take_le(&c, 8) == symbols_digest(in, f);
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
    if (h.flags & RECORD_DIGEST) return 0; /* the names are not kept (the caller links all) */
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

int ingest_span_order(const void *a, const void *b)
{
    uint32_t x = ((const struct name_span *)a)->off, y = ((const struct name_span *)b)->off;
    return x < y ? -1 : x > y;
}

int ingest_state_refers(struct ingest *in, uint32_t index, const struct name_span *names,
                        size_t count, bool *hit)
{
    struct file *f = &in->files[index];
    struct cursor c = {f->old, f->old + f->old_len, false};
    struct record_head h;
    uint64_t lengths = 0; /* bit n: a name of length n (63: of 63 or more) */
    bool maybe = false;
    uint32_t n, len;
    int rc;

    *hit = false;
    take_head(&c, &h);
    /* The bloom filter answers for most files: no name of theirs changed. */
    for (size_t k = 0; k < count && !maybe; k++) {
        uint32_t bits[3];
        if (h.bloom_bytes == 0) break;
        bloom_bits(in->names + names[k].off, names[k].len, h.bloom_bytes * 8, bits);
        maybe = true;
        for (int b = 0; b < 3; b++)
            maybe = maybe && (h.bloom[bits[b] / 8] >> (bits[b] % 8) & 1);
    }
    if (!maybe) return 0;
    rc = old_refs(in, index);
    if (rc < 0) return rc;
    for (size_t k = 0; k < count; k++)
        lengths |= UINT64_C(1) << (names[k].len < 63 ? names[k].len : 63);
    c = (struct cursor){f->old_refs, f->old_refs + f->old_refs_len, false};
    (void)take_le(&c, 4);
    (void)take_name(&c, &len);
    n = (uint32_t)take_le(&c, 4);
    for (uint32_t i = 0; i < n && !c.bad && !*hit; i++) {
        struct name_span key;
        const char *name;
        (void)take_le(&c, 4 + 1 + 1);
        name = take_name(&c, &key.len);
        if (!name || !(lengths >> (key.len < 63 ? key.len : 63) & 1)) continue;
        /* A name not kept yet is no symbol's: only kept names can be in the set. */
        if (!ingest_find_name(in, name, key.len, &key.off)) continue;
        *hit = bsearch(&key, names, count, sizeof(key), ingest_span_order) != NULL;
    }
    return 0;
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
    if (h.flags & RECORD_DIGEST) return; /* the names are not kept */
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

/* Fills in the length of the record that starts at start. */
static void end_record(struct buffer *b, size_t start)
{
    if (b->failed) return;
    for (size_t i = 0; i < 4; i++)
        b->bytes[start + i] = (uint8_t)((b->len - start) >> (8 * i));
}

/* A file's refs record, as read this time; false if it is over STATE_REFS_MAX (then none). */
static bool put_refs(struct buffer *b, const struct ingest *in, const struct file *f)
{
    size_t start = b->len;

    put_le(b, 0, 4);
    put_name(b, f->path, strlen(f->path));
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
    if (!b->failed && b->len - start > STATE_REFS_MAX) {
        b->len = start;
        return false;
    }
    end_record(b, start);
    return true;
}

/* A file's state record, as read this time (partial: its refs were left out). */
static void put_state(struct buffer *b, const struct ingest *in, const struct file *f, bool partial)
{
    size_t start = b->len, bloom_at;
    struct file_stamp stamp = f->stamp;
    uint32_t bits = 64;

    if (stamp.mtime_ns + STATE_RACY_NS > in->start_wall_ns)
        stamp.mtime_ns = 0; /* read it next time */
    while (bits < 8u * f->ref_count && bits < (UINT32_C(1) << 24))
        bits *= 2;   /* about 8 bits a name: under 3% false hits */
    put_le(b, 0, 4); /* the length, filled in at the end */
    put_name(b, f->path, strlen(f->path));
    put_le(b, stamp.size, 8);
    put_le(b, stamp.mtime_ns, 8);
    put_le(b, stamp.ctime_ns, 8);
    put_le(b, stamp.ino, 8);
    put_le(b, f->line_count, 4);
    put_le(b, (f->had_errors ? RECORD_ERRORS : 0) | (partial ? RECORD_PARTIAL : 0), 1);
    put_le(b, partial ? 0 : bits / 8, 4);
    bloom_at = b->len;
    if (!partial) {
        static const uint8_t zero[256];
        for (uint32_t left = bits / 8; left; left -= left < sizeof(zero) ? left : sizeof(zero))
            put(b, zero, left < sizeof(zero) ? left : sizeof(zero));
        for (uint32_t i = 0; !b->failed && i < f->ref_count; i++) {
            const struct ref *r = &in->refs[f->first_ref + i];
            uint32_t at[3];
            bloom_bits(in->names + r->name, r->name_len, bits, at);
            for (int k = 0; k < 3; k++)
                b->bytes[bloom_at + at[k] / 8] |= (uint8_t)(1u << (at[k] % 8));
        }
    }
    put_le(b, f->sym_count, 4);
    for (uint32_t i = 0; i < f->sym_count; i++) {
        const struct sym *s = &in->syms[f->first_sym + i];
        put_le(b, s->kind, 1);
        put_le(b, s->is_static, 1);
        put_le(b, s->line_start, 4);
        put_name(b, in->names + s->name, s->name_len);
    }
    end_record(b, start);
}

/* A file's state record with a digest in place of its symbols, and no refs record. */
static void put_digest(struct buffer *b, const struct ingest *in, const struct file *f)
{
    size_t start = b->len;

    put_le(b, 0, 4);
    put_name(b, f->path, strlen(f->path));
    put_le(b, f->stamp.size, 8);
    put_le(b, 0, 8); /* mtime 0: never fresh */
    put_le(b, f->stamp.ctime_ns, 8);
    put_le(b, f->stamp.ino, 8);
    put_le(b, f->line_count, 4);
    put_le(b, (f->had_errors ? RECORD_ERRORS : 0) | RECORD_PARTIAL | RECORD_DIGEST, 1);
    put_le(b, 0, 4); /* no bloom filter */
    put_le(b, f->sym_count, 4);
    put_le(b, symbols_digest(in, f), 8);
    end_record(b, start);
}

/* Stores shard text b (of the kind) unless it is only its magic and there is no block to empty. */
static int store_shard(struct ingest *in, uint32_t t, const char *kind, unsigned s,
                       const struct buffer *b, bool empty)
{
    char name[PATH_MAX + 32];
    struct kdb_id id;

    shard_id(in->trees[t].root, kind, s, &id);
    if (empty) {
        struct kdb_block view;
        int rc = kdb_get_block_view(in->cli->db, &id, &view);
        if (rc < 0) return rc == -ENOENT ? 0 : rc;
    }
    snprintf(name, sizeof(name), "%s#%s%03u", in->trees[t].root, kind, s);
    return ingest_store_index(in, &id, kind, name, (const char *)b->bytes, b->len);
}

int ingest_state_write(struct ingest *in, uint32_t t)
{
    uint32_t *order = malloc((in->file_count + 1) * sizeof(*order));
    size_t starts[STATE_SHARD_COUNT + 1] = {0}, at[STATE_SHARD_COUNT];
    struct buffer state = {0}, refs = {0};
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
        bool changed = in->files_gone > 0; /* which shard lost a file is not known here */
        bool empty = starts[s] == starts[s + 1];
        for (size_t k = starts[s]; k < starts[s + 1]; k++)
            changed = changed || !in->files[order[k]].fresh;
        if (!empty) in->state_blocks += 2;
        if (!changed) continue;   /* every record as it was */
        rc = load_refs(in, t, s); /* the fresh files' refs records go into the new shard */
        state.len = refs.len = 0;
        put(&state, STATE_MAGIC, MAGIC_SIZE);
        put(&refs, REFS_MAGIC, MAGIC_SIZE);
        for (size_t k = starts[s]; rc == 0 && k < starts[s + 1]; k++) {
            const struct file *f = &in->files[order[k]];
            size_t state_was = state.len, refs_was = refs.len;
            if (f->fresh && f->old_refs) { /* unchanged: its records as they were */
                put(&state, f->old, f->old_len);
                put(&refs, f->old_refs, f->old_refs_len);
            } else if (f->fresh) {
                rc = old_refs(in, order[k]); /* reports the damage */
            } else {
                put_state(&state, in, f, !put_refs(&refs, in, f));
            }
            if (state.len > STATE_SHARD_MAX || refs.len > STATE_SHARD_MAX) {
                /* A generated header of hundreds of thousands of macros: a digest of its
                 * symbols stands for them, and it is read each time. */
                state.len = state_was;
                refs.len = refs_was;
                put_digest(&state, in, f);
            }
        }
        if (rc == 0 && (state.failed || refs.failed)) rc = -ENOMEM;
        if (rc == 0) rc = store_shard(in, t, "ingest-state", s, &state, empty);
        if (rc == 0) rc = store_shard(in, t, "ingest-refs", s, &refs, empty);
    }
    free(state.bytes);
    free(refs.bytes);
    free(order);
    return rc;
}
