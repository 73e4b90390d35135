/* SPDX-License-Identifier: MIT */
/*
 * cmd_ingest.c: `kausal ingest DIR...`, a C source tree into blocks and
 * edges (see kausal(1), "INGEST").
 *
 * Blocks: the tree (one per DIR), each .c and .h file (its content), and
 * each function, struct, union, enum, typedef, macro and global variable
 * defined at file scope (its exact text), as c_parse.c finds them. A
 * block's id is kdb_id_for_symbol(path, kind, name), so the same symbol
 * keeps its id from one ingest to the next. Edges: tree and file
 * `contains` each file and symbol, each symbol is `defined_in` its file, a
 * file `imports` the files its #include names inside the tree, a function
 * (or a macro's body) `calls` functions, and a function `references` the
 * structs, unions, enums and typedefs it uses.
 *
 * Names resolve in this order: a definition in the same file (a static
 * one, or any); else the tree's only definition that is not static (or is
 * static in a header: a static inline function); else, among several, the
 * only one in the same directory; else none (the name is ambiguous and
 * gets no edge).
 *
 * Incremental: a file whose stamp (size, times, inode) is the one the last
 * ingest recorded is not read: its symbols, and if need be its refs, come
 * from the ingest state (ingest_state.c). A block is written only if its
 * source URI, metadata or content differ from what the database holds,
 * and an edge only if it is not there; what an earlier ingest of the tree
 * made and this one did not (a symbol or file gone, a call removed) is
 * deleted. So an unchanged tree writes nothing, and an edit costs about
 * its file (enum link_scope says whose edges are linked again).
 *
 * Three passes: files are read, parsed and their blocks written one at a
 * time (only names and refs are kept, never the texts); then every name is
 * resolved against the whole tree; then the blocks' edges are brought to
 * what the tree says.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "c_parse.h"
#include "cli.h"
#include "ingest.h"
#include "names.h"

/* ---- small helpers ---- */

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ingest_grow(void **items, size_t *capacity, size_t count, size_t size)
{
    size_t want;
    void *more;

    if (count < *capacity) return 0;
    want = *capacity ? *capacity * 2 : 256;
    more = realloc(*items, want * size);
    if (!more) return -ENOMEM;
    *items = more;
    *capacity = want;
    return 0;
}

/*
 * The names kept so far, by hash, so that each is kept once (a tree calls
 * the same names often): a table with room for at least count names, kept
 * at most half full.
 */
static int intern_grow(struct ingest *in, size_t count)
{
    size_t size = in->intern ? (in->intern_mask + 1) * 2 : 1 << 12;
    struct interned *slots;

    while (2 * count > size)
        size *= 2;
    slots = malloc(size * sizeof(*slots));

    if (!slots) return -ENOMEM;
    for (size_t i = 0; i < size; i++)
        slots[i].off = UINT32_MAX;
    for (size_t i = 0; in->intern && i <= in->intern_mask; i++) {
        struct interned e = in->intern[i];
        size_t at;
        if (e.off == UINT32_MAX) continue;
        at = (size_t)ingest_name_hash(in->names + e.off, e.len) & (size - 1);
        while (slots[at].off != UINT32_MAX)
            at = (at + 1) & (size - 1);
        slots[at] = e;
    }
    free(in->intern);
    in->intern = slots;
    in->intern_mask = size - 1;
    return 0;
}

int ingest_reserve(struct ingest *in, size_t symbols, size_t name_bytes)
{
    size_t want = in->sym_count + symbols;

    if (want > in->sym_capacity) {
        struct sym *more = realloc(in->syms, want * sizeof(*more));
        if (!more) return -ENOMEM;
        in->syms = more;
        in->sym_capacity = want;
    }
    if (in->names_len + name_bytes > in->names_capacity) {
        char *more = realloc(in->names, in->names_len + name_bytes);
        if (!more) return -ENOMEM;
        in->names = more;
        in->names_capacity = in->names_len + name_bytes;
    }
    if (!in->intern || 2 * (in->intern_count + symbols + 1) > in->intern_mask + 1) {
        if (intern_grow(in, in->intern_count + symbols + 1) < 0) return -ENOMEM;
    }
    return 0;
}

/* Keeps a name (once: the same name gets the same offset); its offset into *off. */
int ingest_keep_name(struct ingest *in, const char *name, size_t len, uint32_t *off)
{
    size_t at;

    if (in->names_closed) return -EINVAL; /* a name now would not be the same offset */
    if (!in->intern || 2 * (in->intern_count + 1) > in->intern_mask + 1) {
        if (intern_grow(in, in->intern_count + 1) < 0) return -ENOMEM;
    }
    for (at = (size_t)ingest_name_hash(name, len) & in->intern_mask;
         in->intern[at].off != UINT32_MAX; at = (at + 1) & in->intern_mask) {
        const struct interned *e = &in->intern[at];
        if (e->len == len && memcmp(in->names + e->off, name, len) == 0) {
            *off = e->off;
            return 0;
        }
    }
    if (in->names_len + len >= UINT32_MAX) return -EFBIG;
    while (in->names_len + len > in->names_capacity) {
        size_t want = in->names_capacity ? in->names_capacity * 2 : 1 << 16;
        char *more = realloc(in->names, want);
        if (!more) return -ENOMEM;
        in->names = more;
        in->names_capacity = want;
    }
    if (len) memcpy(in->names + in->names_len, name, len);
    *off = (uint32_t)in->names_len;
    in->names_len += len;
    in->intern[at] = (struct interned){.off = *off, .len = (uint32_t)len};
    in->intern_count++;
    return 0;
}

bool ingest_find_name(const struct ingest *in, const char *name, size_t len, uint32_t *off)
{
    if (!in->intern) return false;
    for (size_t at = (size_t)ingest_name_hash(name, len) & in->intern_mask;
         in->intern[at].off != UINT32_MAX; at = (at + 1) & in->intern_mask) {
        const struct interned *e = &in->intern[at];
        if (e->len == len && memcmp(in->names + e->off, name, len) == 0) {
            *off = e->off;
            return true;
        }
    }
    return false;
}

uint64_t ingest_name_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

void ingest_sym_id(const struct ingest *in, uint32_t sym, struct kdb_id *id)
{
    const struct sym *s = &in->syms[sym];
    const char *path = in->files[s->file].path, *kind = c_kind_name(s->kind);

    kdb_id_for_symbol(path, strlen(path), kind, strlen(kind), in->names + s->name, s->name_len, id);
}

/* ---- finding the files ---- */

static bool is_c_file(const char *name)
{
    size_t len = strlen(name);
    return len > 2 && name[len - 2] == '.' && (name[len - 1] == 'c' || name[len - 1] == 'h');
}

static int add_file(struct ingest *in, uint32_t tree, const char *path, const struct stat *st)
{
    struct file *f;
    const char *slash = strrchr(path, '/');

    if (ingest_grow((void **)&in->files, &in->file_capacity, in->file_count, sizeof(*in->files)) <
        0)
        return -ENOMEM;
    f = &in->files[in->file_count];
    memset(f, 0, sizeof(*f));
    f->tree = tree;
    f->header = path[strlen(path) - 1] == 'h';
    f->stamp = (struct file_stamp){
        .size = (uint64_t)st->st_size,
        .mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec,
        .ctime_ns = (uint64_t)st->st_ctim.tv_sec * 1000000000u + (uint64_t)st->st_ctim.tv_nsec,
        .ino = (uint64_t)st->st_ino,
    };
    f->path = strdup(path);
    f->dir = strndup(path, slash ? (size_t)(slash - path) : 0);
    if (!f->path || !f->dir) {
        free(f->path);
        free(f->dir);
        return -ENOMEM;
    }
    kdb_id_for_symbol(path, strlen(path), "file", 4, path, strlen(path), &f->id);
    in->file_count++;
    return 0;
}

/*
 * Runs git in root with args (no shell between), its output into *out (to
 * read, then close with finish_git()); its errors go nowhere.
 */
static pid_t start_git(const char *root, const char *const *args, FILE **out)
{
    const char *argv[16] = {"git", "-C", root};
    int pipefd[2];
    pid_t pid;
    size_t n = 3;

    while (*args && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    *out = NULL;
    if (pipe(pipefd) < 0) return -1;
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(pipefd[1], STDOUT_FILENO);
        if (null >= 0) {
            dup2(null, STDERR_FILENO);
            dup2(null, STDIN_FILENO);
        }
        close(pipefd[0]);
        close(pipefd[1]);
        execvp("git", (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(pipefd[1]);
    *out = fdopen(pipefd[0], "r");
    if (!*out) close(pipefd[0]);
    return pid;
}

/* Reads what is left of git's output (so that it never writes into a closed pipe), closes it
 * and waits for git. Whether it succeeded. */
static bool finish_git(pid_t pid, FILE *out)
{
    int status;

    if (out) {
        while (getc(out) != EOF)
            continue;
        fclose(out);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Whether root or a directory above it has a .git (a directory, or a file naming one). */
static bool under_git(const char *root)
{
    char path[PATH_MAX];
    size_t len = strlen(root);

    if (getenv("GIT_DIR")) return true;   /* git is told where the repository is */
    if (len >= sizeof(path)) return true; /* let git decide */
    memcpy(path, root, len + 1);
    for (;;) {
        struct stat st;
        char *slash;
        if (len + 5 < sizeof(path)) {
            memcpy(path + len, "/.git", 6);
            if (lstat(path, &st) == 0) return true;
        }
        path[len] = '\0';
        slash = strrchr(path, '/');
        if (!slash) return false;
        len = (size_t)(slash - path);
        if (len == 0) { /* the root directory itself */
            if (stat("/.git", &st) == 0) return true;
            return false;
        }
        path[len] = '\0';
    }
}

/* A git checkout lists its own files (tracked, and untracked ones not ignored). Returns 1 if not one. */
static int list_git(struct ingest *in, uint32_t tree, const char *root)
{
    static const char *const check[] = {"rev-parse", "--is-inside-work-tree", NULL};
    static const char *const list[] = {"ls-files",           "-z", "--cached", "--others",
                                       "--exclude-standard", NULL};
    char *line = NULL;
    size_t cap = 0;
    FILE *out;
    pid_t pid;
    bool ok;
    int rc = 0;

    if (!under_git(root)) return 1; /* no repository above: no need to ask git */
    pid = start_git(root, check, &out);
    if (pid < 0) return 1;
    ok = finish_git(pid, out);
    if (!ok) return 1; /* not a checkout, or no git */
    pid = start_git(root, list, &out);
    if (pid < 0 || !out) {
        if (pid > 0) (void)finish_git(pid, out);
        return 1;
    }
    while (rc == 0 && getdelim(&line, &cap, '\0', out) > 0) {
        struct stat st;
        char full[PATH_MAX];
        int n;
        if (!is_c_file(line)) continue;
        n = snprintf(full, sizeof(full), "%s/%s", root, line);
        if (n < 0 || (size_t)n >= sizeof(full)) continue;
        if (lstat(full, &st) < 0 || !S_ISREG(st.st_mode)) continue; /* deleted, or a link */
        rc = add_file(in, tree, line, &st);
    }
    free(line);
    ok = finish_git(pid, out);
    if (rc < 0) return rc;
    return ok ? 0 : -EIO; /* git listed part of the tree, then failed */
}

/*
 * Any other tree: every .c and .h file under root, through directories,
 * not links, dot-names or other file systems (a mount inside the tree,
 * perhaps of this very database, is not part of it).
 */
static int list_walk(struct ingest *in, uint32_t tree, const char *root, const char *rel, dev_t dev)
{
    char path[PATH_MAX];
    struct dirent *e;
    DIR *d;
    int rc = 0;

    snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
    d = opendir(path);
    if (!d) return -errno;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char child[PATH_MAX], full[PATH_MAX];
        struct stat st;
        int n, m;
        if (e->d_name[0] == '.') continue;
        n = snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        m = snprintf(full, sizeof(full), "%s/%s", root, child);
        if (n < 0 || (size_t)n >= sizeof(child) || m < 0 || (size_t)m >= sizeof(full)) {
            cli_error("ingest: %s/%s: path too long, skipped", path, e->d_name);
            continue;
        }
        if (lstat(full, &st) < 0) continue;
        if (S_ISDIR(st.st_mode) && st.st_dev == dev)
            rc = list_walk(in, tree, root, child, dev);
        else if (S_ISREG(st.st_mode) && is_c_file(e->d_name))
            rc = add_file(in, tree, child, &st);
    }
    closedir(d);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    const struct file *x = a, *y = b;
    return x->tree != y->tree ? (x->tree < y->tree ? -1 : 1) : strcmp(x->path, y->path);
}

/* ---- writing blocks ---- */

/* Whether a[0..len) and b[0..len) hold the same bytes (either may be NULL when len is 0). */
static bool same_bytes(const void *a, const void *b, size_t len)
{
    return len == 0 || memcmp(a, b, len) == 0;
}

static bool same_block(const struct kdb_block *a, const struct kdb_block *b)
{
    return a->source_uri_len == b->source_uri_len && a->metadata_len == b->metadata_len &&
           a->content_len == b->content_len &&
           same_bytes(a->source_uri, b->source_uri, a->source_uri_len) &&
           same_bytes(a->metadata, b->metadata, a->metadata_len) &&
           same_bytes(a->content, b->content, a->content_len);
}

/*
 * Writes block unless the database holds it as it is. Into a database that
 * was empty, no block is looked up: each id is stored once an ingest.
 */
static int store(struct ingest *in, const struct kdb_block *block)
{
    struct kdb_block old;
    int rc = in->empty_db ? -ENOENT : kdb_get_block_view(in->cli->db, &block->id, &old);

    if (rc == 0 && same_block(&old, block)) {
        in->blocks_same++;
        return 0;
    }
    if (rc < 0 && rc != -ENOENT) return rc;
    rc = kdb_put_block(in->cli->db, block, NULL);
    if (rc == 0) in->blocks_written++;
    return rc;
}

/* Stores a block of these fields (meta is taken over and freed; NULL: -ENOMEM). */
static int store_fields(struct ingest *in, const struct kdb_id *id, const char *uri, char *meta,
                        const char *content, size_t len)
{
    struct kdb_block b;
    int rc;

    if (!meta) return -ENOMEM;
    memset(&b, 0, sizeof(b));
    b.id = *id;
    b.source_uri = uri;
    b.source_uri_len = uri ? strlen(uri) : 0;
    b.metadata = meta;
    b.metadata_len = strlen(meta);
    b.content = content;
    b.content_len = len;
    rc = store(in, &b);
    free(meta);
    return rc;
}

/* The length of the UTF-8 sequence at s[0, len), or 0 if it is not one (as jansson judges). */
static size_t utf8_length(const unsigned char *s, size_t len)
{
    uint32_t cp;
    size_t n;

    if (s[0] < 0x80) return 1;
    if (s[0] < 0xc2 || s[0] > 0xf4) return 0; /* a continuation, an overlong pair, past U+10FFFF */
    n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    if (n > len) return 0;
    cp = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/*
 * s as the body of a JSON string at out (room for 6 * len bytes), as
 * jansson writes it: its length, or -1 if s is not UTF-8.
 */
static long json_escape(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s;
    char *p = out;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_length(u + i, len - i);
        const char *short_form = NULL;
        if (n == 0) return -1;
        if (n > 1 || (u[i] >= 0x20 && u[i] != '"' && u[i] != '\\')) {
            memcpy(p, s + i, n);
            p += n;
            i += n;
            continue;
        }
        switch (u[i]) {
        case '"':
            short_form = "\\\"";
            break;
        case '\\':
            short_form = "\\\\";
            break;
        case '\b':
            short_form = "\\b";
            break;
        case '\f':
            short_form = "\\f";
            break;
        case '\n':
            short_form = "\\n";
            break;
        case '\r':
            short_form = "\\r";
            break;
        case '\t':
            short_form = "\\t";
            break;
        default:
            break;
        }
        if (short_form) {
            memcpy(p, short_form, 2);
            p += 2;
        } else {
            memcpy(p, "\\u00", 4);
            p[4] = hex[u[i] >> 4];
            p[5] = hex[u[i] & 0xf];
            p += 6;
        }
        i++;
    }
    return (long)(p - out);
}

/*
 * The metadata of a symbol, as JSON text in this key order: as jansson's
 * compact dump writes it, written here without building an object (millions
 * of symbols, a dozen allocations each). A name that is not UTF-8 is left
 * out, as jansson leaves it.
 */
static char *symbol_meta(enum c_kind kind, const char *name, size_t name_len, uint32_t line_start,
                         uint32_t line_end, bool is_static)
{
    size_t size = 6 * name_len + 128;
    char *text = name_len < SIZE_MAX / 8 ? malloc(size) : NULL;
    long escaped;
    int n;

    if (!text) return NULL;
    n = snprintf(text, size, "{\"kind\":\"%s\",", c_kind_name(kind));
    escaped = json_escape(name, name_len, text + n + 8);
    if (escaped >= 0) {
        memcpy(text + n, "\"name\":\"", 8);
        n += 8 + (int)escaped;
        text[n++] = '"';
        text[n++] = ',';
    }
    snprintf(text + n, size - (size_t)n,
             "\"lang\":\"c\",\"line_start\":%" PRIu32 ",\"line_end\":%" PRIu32 ",\"static\":%s}",
             line_start, line_end, is_static ? "true" : "false");
    return text;
}

static int store_symbol(struct ingest *in, const char *uri, enum c_kind kind, const char *name,
                        size_t name_len, const char *text, size_t len, uint32_t line_start,
                        uint32_t line_end, bool is_static, struct kdb_id *id)
{
    const char *kind_name = c_kind_name(kind);

    kdb_id_for_symbol(uri, strlen(uri), kind_name, strlen(kind_name), name, name_len, id);
    return store_fields(
        in, id, uri, symbol_meta(kind, name, name_len, line_start, line_end, is_static), text, len);
}

static int read_file(const char *path, char **text, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t done = 0;
    char *buf;

    *text = NULL;
    *len = 0;
    if (fd < 0) return -errno;
    if (fstat(fd, &st) < 0 || st.st_size < 0) {
        close(fd);
        return -errno;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* shrank while read: take what there is */
        done += (size_t)n;
    }
    close(fd);
    *text = buf;
    *len = done;
    return 0;
}

static int by_from(const void *a, const void *b)
{
    const struct ref *x = a, *y = b;
    return x->from < y->from ? -1 : x->from > y->from;
}

/*
 * One file's symbols so far, by kind and name (so by id), to keep the first
 * of a repeat (a second #ifdef branch): a hash table of syms indexes + 1, 0
 * for empty. A generated header defines a hundred thousand macros.
 */
struct seen {
    uint32_t *slots;
    size_t mask;
};

static int seen_init(struct seen *seen, size_t count)
{
    size_t size = 16;

    while (size < 2 * count)
        size *= 2;
    seen->slots = calloc(size, sizeof(*seen->slots));
    seen->mask = size - 1;
    return seen->slots ? 0 : -ENOMEM;
}

/* Whether a symbol of this kind and name is in seen; if not, the slot it goes in, into *slot. */
static bool seen_find(const struct ingest *in, const struct seen *seen, const struct c_symbol *c,
                      size_t *slot)
{
    size_t at = (size_t)(ingest_name_hash(c->name, c->name_len) ^ c->kind) & seen->mask;

    for (; seen->slots[at]; at = (at + 1) & seen->mask) {
        const struct sym *s = &in->syms[seen->slots[at] - 1];
        if (s->kind == c->kind && s->name_len == c->name_len &&
            memcmp(in->names + s->name, c->name, c->name_len) == 0)
            return true;
    }
    *slot = at;
    return false;
}

/* Reads, parses and stores one file; keeps its symbols' names, its refs and includes. */
/* A file's path as it is read. */
static void full_path(const struct ingest *in, const struct file *f, char *full, size_t size)
{
    snprintf(full, size, "%s/%s", in->trees[f->tree].root, f->path);
}

/*
 * Stores one file (text[0..len), as parse_rc says it was read and parsed
 * into unit) and its symbols; keeps its symbols' names, refs and includes.
 */
static int ingest_file(struct ingest *in, uint32_t index, const char *text, size_t len,
                       const struct c_unit *unit, int parse_rc)
{
    struct file *f = &in->files[index];
    char full[PATH_MAX * 2];
    uint32_t *local; /* unit symbol index -> syms index, or NONE for a repeat */
    struct seen seen = {NULL, 0};
    int rc = parse_rc;

    full_path(in, f, full, sizeof(full));
    f->first_sym = (uint32_t)in->sym_count;
    f->first_ref = (uint32_t)in->ref_count;
    f->first_inc = (uint32_t)in->inc_count;
    if (rc < 0) goto out;
    in->bytes += len;
    in->files_read++;
    f->line_count = unit->line_count;
    f->had_errors = unit->had_errors;
    if (unit->had_errors) in->errors_parse++;
    rc = store_fields(in, &f->id, f->path,
                      symbol_meta(C_FILE, f->path, strlen(f->path), 1, unit->line_count, false),
                      text, len);
    if (rc == -EFBIG) {
        /* A generated header of tens of MiB: the file stays a node, its text is not kept. */
        cli_error("ingest: %s: over the content limit; its block keeps no content", full);
        in->too_large++;
        rc = store_fields(in, &f->id, f->path,
                          symbol_meta(C_FILE, f->path, strlen(f->path), 1, unit->line_count, false),
                          NULL, 0);
    }
    if (rc < 0) goto out;

    local = calloc(unit->symbol_count + 1, sizeof(*local));
    if (!local || seen_init(&seen, unit->symbol_count) < 0) {
        free(local);
        rc = -ENOMEM;
        goto out;
    }
    f->first_sym = (uint32_t)in->sym_count;
    for (size_t i = 0; i < unit->symbol_count && rc == 0; i++) {
        const struct c_symbol *s = &unit->symbols[i];
        struct sym *sym;
        struct kdb_id id;
        size_t slot;

        local[i] = NONE;
        if (s->name_len > INGEST_NAME_MAX) continue;  /* no name is this long: text, misread */
        if (seen_find(in, &seen, s, &slot)) continue; /* the first definition stands */
        rc = ingest_grow((void **)&in->syms, &in->sym_capacity, in->sym_count, sizeof(*in->syms));
        if (rc < 0) break;
        sym = &in->syms[in->sym_count];
        memset(sym, 0, sizeof(*sym));
        sym->file = index;
        sym->kind = s->kind;
        sym->is_static = s->is_static;
        sym->name_len = (uint16_t)s->name_len;
        sym->line_start = s->line_start;
        rc = ingest_keep_name(in, s->name, s->name_len, &sym->name);
        if (rc == 0)
            rc = store_symbol(in, f->path, s->kind, s->name, s->name_len, text + s->start,
                              s->end - s->start, s->line_start, s->line_end, s->is_static, &id);
        if (rc == -EFBIG) { /* one symbol over the limit: left out, the rest goes on */
            cli_error("ingest: %s: %.*s: over the content limit, left out", full, (int)s->name_len,
                      s->name);
            in->too_large++;
            rc = 0;
            continue;
        }
        if (rc == 0) {
            local[i] = (uint32_t)in->sym_count++;
            seen.slots[slot] = local[i] + 1;
        }
    }
    f->sym_count = (uint32_t)(in->sym_count - f->first_sym);
    for (size_t i = 0; i < unit->ref_count && rc == 0; i++) {
        const struct c_ref *r = &unit->refs[i];
        struct ref *ref;
        if (local[r->from] == NONE || r->name_len > INGEST_NAME_MAX) continue;
        rc = ingest_grow((void **)&in->refs, &in->ref_capacity, in->ref_count, sizeof(*in->refs));
        if (rc < 0) break;
        ref = &in->refs[in->ref_count];
        ref->from = local[r->from];
        ref->kind = r->kind;
        ref->type = r->type;
        ref->name_len = (uint16_t)r->name_len;
        rc = ingest_keep_name(in, r->name, r->name_len, &ref->name);
        if (rc == 0) in->ref_count++;
    }
    for (size_t i = 0; i < unit->include_count && rc == 0; i++) {
        struct inc *inc;
        rc = ingest_grow((void **)&in->incs, &in->inc_capacity, in->inc_count, sizeof(*in->incs));
        if (rc < 0) break;
        inc = &in->incs[in->inc_count];
        inc->file = index;
        inc->len = unit->includes[i].len;
        rc = ingest_keep_name(in, unit->includes[i].path, unit->includes[i].len, &inc->path);
        if (rc == 0) in->inc_count++;
    }
    free(local);
    free(seen.slots);
out:
    f->ref_count = (uint32_t)in->ref_count - f->first_ref;
    /* Linking takes each symbol's refs as a run: in symbol order. */
    for (uint32_t i = 1; i < f->ref_count; i++) {
        if (in->refs[f->first_ref + i].from < in->refs[f->first_ref + i - 1].from) {
            qsort(in->refs + f->first_ref, f->ref_count, sizeof(*in->refs), by_from);
            break;
        }
    }
    f->inc_count = (uint32_t)in->inc_count - f->first_inc;
    if (rc < 0) cli_error("ingest: %s: %s", full, kdb_strerror(rc));
    return rc;
}

static void progress(const struct ingest *in, size_t done)
{
    double s = (double)(now_ns() - in->start_ns) / 1e9;

    fprintf(stderr, "\r\033[Kingest: %zu/%zu files, %.0f files/s, %zu blocks", done, in->file_count,
            s > 0 ? (double)done / s : 0.0, in->sym_count + done);
}

/* ---- reading and parsing, on every core ---- */

/* A file read and parsed by a worker, waiting for the main thread to store it. */
struct parsed {
    size_t index; /* the file it holds */
    bool ready;
    int rc; /* of reading or parsing */
    char *text;
    size_t len;
    struct c_unit unit;
};

/*
 * Workers take the files to read (todo[], in file order) one after the
 * other and read and parse them into a ring of slots; the main thread
 * stores them in the same order (so ingest's output does not depend on the
 * workers' timing). A worker waits while the ring is full, or while the
 * files taken and not yet stored are over PARSE_AHEAD_BYTES (a tree has
 * runs of generated headers of megabytes each). Meanwhile the main thread
 * takes the fresh files from the state.
 */
#define PARSE_AHEAD_BYTES (32u << 20)
#define UNIT_KEEP_ITEMS   4096 /* a slot keeps its unit's arrays for the next file up to this */

struct pool {
    struct ingest *in;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    const uint32_t *todo; /* the files to read, in order */
    size_t todo_count;
    struct parsed *slots; /* todo[k] goes to slots[k % slot_count] */
    size_t slot_count;
    size_t next;     /* the next todo[] entry a worker takes */
    size_t consumed; /* todo[] entries the main thread has stored */
    uint64_t ahead;  /* bytes of the files taken and not yet stored (as listed) */
    bool stop;
    pthread_t *threads;
    size_t thread_count;
};

/* Whether a worker may take the next file now (with p->lock). The next one to store always. */
static bool may_take(const struct pool *p)
{
    if (p->next - p->consumed >= p->slot_count) return false;
    return p->next == p->consumed ||
           p->ahead + p->in->files[p->todo[p->next]].stamp.size <= PARSE_AHEAD_BYTES;
}

static void *parse_worker(void *arg)
{
    struct pool *p = arg;
    struct c_parser *parser = c_parser_new();

    pthread_mutex_lock(&p->lock);
    for (;;) {
        size_t k;
        struct parsed *slot;
        char full[PATH_MAX * 2];
        while (!p->stop && p->next < p->todo_count && !may_take(p))
            pthread_cond_wait(&p->changed, &p->lock);
        if (p->stop || p->next >= p->todo_count) break;
        k = p->next++;
        p->ahead += p->in->files[p->todo[k]].stamp.size;
        slot = &p->slots[k % p->slot_count];
        pthread_mutex_unlock(&p->lock);
        /* The slot is this worker's alone until it is marked ready. */
        full_path(p->in, &p->in->files[p->todo[k]], full, sizeof(full));
        free(slot->text);
        slot->text = NULL;
        slot->rc = parser ? read_file(full, &slot->text, &slot->len) : -ENOMEM;
        if (slot->rc == 0) slot->rc = c_parse(parser, slot->text, slot->len, &slot->unit);
        pthread_mutex_lock(&p->lock);
        slot->index = k;
        slot->ready = true;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    c_parser_free(parser);
    return NULL;
}

static void pool_stop(struct pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    for (size_t t = 0; t < p->thread_count; t++)
        pthread_join(p->threads[t], NULL);
    for (size_t i = 0; i < p->slot_count; i++) {
        free(p->slots[i].text);
        c_unit_release(&p->slots[i].unit);
    }
    free(p->slots);
    free(p->threads);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
}

/*
 * Reads, parses and stores every file that is not fresh (the reading and
 * parsing on every core), and takes the fresh ones from the state
 * meanwhile: first every fresh file, then the others in order.
 */
static int ingest_files(struct ingest *in)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t *todo = malloc((in->file_count + 1) * sizeof(*todo));
    size_t done = 0;
    struct pool p;
    int rc = 0;

    if (!todo) return -ENOMEM;
    memset(&p, 0, sizeof(p));
    p.in = in;
    p.todo = todo;
    for (size_t i = 0; i < in->file_count; i++) {
        if (!in->files[i].fresh) todo[p.todo_count++] = (uint32_t)i;
    }
    p.thread_count = cores < 1 ? 1 : cores > 8 ? 8 : (size_t)cores;
    if (p.thread_count > p.todo_count) p.thread_count = p.todo_count; /* none if all are fresh */
    /* Workers run this far ahead of the storing, so that a long file keeps
     * one worker busy while the others go on. */
    p.slot_count = (p.thread_count ? p.thread_count : 1) * 32;
    p.slots = calloc(p.slot_count, sizeof(*p.slots));
    p.threads = calloc(p.thread_count + 1, sizeof(*p.threads));
    if (!p.slots || !p.threads || pthread_mutex_init(&p.lock, NULL) != 0) {
        free(p.slots);
        free(p.threads);
        free(todo);
        return -ENOMEM;
    }
    if (pthread_cond_init(&p.changed, NULL) != 0) {
        pthread_mutex_destroy(&p.lock);
        free(p.slots);
        free(p.threads);
        free(todo);
        return -ENOMEM;
    }
    for (size_t t = 0; t < p.thread_count; t++) {
        if (pthread_create(&p.threads[t], NULL, parse_worker, &p) != 0) {
            p.thread_count = t; /* the ones running do all the work */
            break;
        }
    }
    if (p.thread_count == 0 && p.todo_count) rc = -EAGAIN;
    for (size_t i = 0; rc == 0 && i < in->file_count; i++) {
        if (!in->files[i].fresh) continue;
        rc = ingest_state_restore(in, (uint32_t)i);
        if (in->progress && ++done % 64 == 0) progress(in, done);
    }
    for (size_t k = 0; rc == 0 && k < p.todo_count; k++) {
        struct parsed *slot = &p.slots[k % p.slot_count];
        pthread_mutex_lock(&p.lock);
        while (!(slot->ready && slot->index == k))
            pthread_cond_wait(&p.changed, &p.lock);
        pthread_mutex_unlock(&p.lock);
        rc = ingest_file(in, todo[k], slot->text, slot->len, &slot->unit, slot->rc);
        free(slot->text);
        slot->text = NULL;
        if (slot->unit.capacity[0] + slot->unit.capacity[1] + slot->unit.capacity[2] >
            UNIT_KEEP_ITEMS)
            c_unit_release(&slot->unit); /* a large file's: not kept for the ring's next turn */
        pthread_mutex_lock(&p.lock);
        slot->ready = false;
        p.consumed++;
        p.ahead -= in->files[todo[k]].stamp.size;
        pthread_cond_broadcast(&p.changed);
        pthread_mutex_unlock(&p.lock);
        if (in->progress && (++done % 16 == 0 || done == in->file_count)) progress(in, done);
    }
    pool_stop(&p);
    free(todo);
    return rc;
}

/* ---- resolving names ---- */

/* The chain of symbols a kept name's offset hashes to. */
static size_t head_of(const struct ingest *in, uint32_t name)
{
    return (size_t)(((uint64_t)name * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & in->head_mask;
}

/*
 * Chains the symbols by name, once every name is kept: each name is kept
 * once, so a name is its offset, and the table of kept names goes.
 */
static int index_names(struct ingest *in)
{
    size_t size = 1024;

    free(in->intern);
    in->intern = NULL;
    in->names_closed = true;
    while (size < in->intern_count)
        size *= 2; /* chains of one name or two on average */
    in->heads = malloc(size * sizeof(*in->heads));
    if (!in->heads) return -ENOMEM;
    memset(in->heads, 0xff, size * sizeof(*in->heads));
    in->head_mask = size - 1;
    /* Backwards, so that each chain runs in file order. */
    for (size_t i = in->sym_count; i-- > 0;) {
        struct sym *s = &in->syms[i];
        size_t at = head_of(in, s->name);
        s->next = in->heads[at];
        in->heads[at] = (uint32_t)i;
    }
    return 0;
}

static bool kind_fits(const struct sym *s, const struct ref *r)
{
    if (r->kind == C_REF_CALL) return s->kind == C_FUNCTION;
    return s->kind == r->type;
}

/* The symbol a reference names, by the rule at the top of this file, or NONE. */
static uint32_t resolve(const struct ingest *in, const struct ref *r)
{
    const struct sym *from = &in->syms[r->from];
    const struct file *file = &in->files[from->file];
    uint32_t same_file = NONE, global = NONE, same_dir = NONE;
    unsigned globals = 0, same_dirs = 0;

    for (uint32_t i = in->heads[head_of(in, r->name)]; i != NONE; i = in->syms[i].next) {
        const struct sym *s = &in->syms[i];
        if (s->name != r->name || !kind_fits(s, r)) continue; /* kept once: the same offset */
        if (s->file == from->file) {
            if (same_file == NONE || s->is_static) same_file = i;
            continue;
        }
        /* A static definition elsewhere is out of reach, unless it is in a header (a
         * static inline function), which every file that includes it has. */
        if (s->is_static && !in->files[s->file].header) continue;
        globals++;
        global = i;
        if (strcmp(in->files[s->file].dir, file->dir) == 0) {
            same_dirs++;
            same_dir = i;
        }
    }
    if (same_file != NONE) return same_file;
    if (globals == 1) return global;
    if (same_dirs == 1) return same_dir;
    return NONE;
}

static const char *base_name(const char *path, size_t len, size_t *base_len)
{
    const char *slash = memrchr(path, '/', len);
    const char *base = slash ? slash + 1 : path;

    *base_len = len - (size_t)(base - path);
    return base;
}

static size_t path_slot_hash(uint32_t tree, const char *s, size_t len)
{
    return (size_t)(ingest_name_hash(s, len) ^ ((uint64_t)tree * 0x9e3779b97f4a7c15ull));
}

/* Hash tables of the files by (tree, path) and by base name, so that an #include is found
 * without a look at every file. */
static int index_paths(struct ingest *in)
{
    size_t size = 1024;

    while (size < in->file_count * 2)
        size *= 2;
    in->path_slots = calloc(size, sizeof(*in->path_slots));
    in->base_slots = calloc(size, sizeof(*in->base_slots));
    in->base_next = malloc((in->file_count + 1) * sizeof(*in->base_next));
    if (!in->path_slots || !in->base_slots || !in->base_next) return -ENOMEM;
    in->path_mask = size - 1;
    for (size_t i = in->file_count; i-- > 0;) { /* backwards: each chain in file order */
        const struct file *f = &in->files[i];
        size_t len = strlen(f->path), base_len, at;
        const char *base = base_name(f->path, len, &base_len);
        for (at = path_slot_hash(f->tree, f->path, len) & in->path_mask; in->path_slots[at];
             at = (at + 1) & in->path_mask)
            continue;
        in->path_slots[at] = (uint32_t)i + 1;
        for (at = (size_t)ingest_name_hash(base, base_len) & in->path_mask; in->base_slots[at];
             at = (at + 1) & in->path_mask) {
            const struct file *g = &in->files[in->base_slots[at] - 1];
            size_t g_len;
            const char *g_base = base_name(g->path, strlen(g->path), &g_len);
            if (g_len == base_len && memcmp(g_base, base, base_len) == 0) break;
        }
        in->base_next[i] = in->base_slots[at] ? in->base_slots[at] - 1 : NONE;
        in->base_slots[at] = (uint32_t)i + 1;
    }
    return 0;
}

/* The file of tree with this path, or NONE. */
static uint32_t find_path(const struct ingest *in, uint32_t tree, const char *path, size_t len)
{
    for (size_t at = path_slot_hash(tree, path, len) & in->path_mask; in->path_slots[at];
         at = (at + 1) & in->path_mask) {
        const struct file *f = &in->files[in->path_slots[at] - 1];
        if (f->tree == tree && strlen(f->path) == len && memcmp(f->path, path, len) == 0)
            return in->path_slots[at] - 1;
    }
    return NONE;
}

/* The first file whose base name is base's, or NONE (then base_next[] for the others). */
static uint32_t find_base(const struct ingest *in, const char *base, size_t base_len)
{
    for (size_t at = (size_t)ingest_name_hash(base, base_len) & in->path_mask; in->base_slots[at];
         at = (at + 1) & in->path_mask) {
        const struct file *f = &in->files[in->base_slots[at] - 1];
        size_t len;
        const char *b = base_name(f->path, strlen(f->path), &len);
        if (len == base_len && memcmp(b, base, base_len) == 0) return in->base_slots[at] - 1;
    }
    return NONE;
}

/* The file an #include names: beside the includer, else the only file of the tree ending so. */
static uint32_t resolve_include(const struct ingest *in, const struct inc *inc)
{
    const struct file *from = &in->files[inc->file];
    const char *path = in->names + inc->path;
    char beside[PATH_MAX];
    uint32_t found = NONE, shortest = NONE, at;
    size_t base_len, shortest_len = 0;
    const char *base = base_name(path, inc->len, &base_len);
    unsigned count = 0;
    int n = snprintf(beside, sizeof(beside), "%s%s%.*s", from->dir, *from->dir ? "/" : "",
                     (int)inc->len, path);

    if (n > 0 && (size_t)n < sizeof(beside)) {
        at = find_path(in, from->tree, beside, (size_t)n);
        if (at != NONE) return at;
    }
    for (at = find_base(in, base, base_len); at != NONE; at = in->base_next[at]) {
        const struct file *f = &in->files[at];
        size_t flen = strlen(f->path);
        if (f->tree != from->tree) continue;
        if (flen >= inc->len && memcmp(f->path + flen - inc->len, path, inc->len) == 0 &&
            (flen == inc->len || f->path[flen - inc->len - 1] == '/')) {
            count++;
            found = at;
            if (shortest == NONE || flen < shortest_len) {
                shortest = at;
                shortest_len = flen;
            }
        }
    }
    if (count == 1) return found;
    return count > 1 ? shortest : NONE; /* include/x.h before arch/.../include/x.h */
}

/* ---- edges ---- */

struct want {
    struct kdb_edge *edges;
    size_t count, capacity;
};

static int want_edge(struct want *w, const struct kdb_id *source, unsigned type,
                     const struct kdb_id *target)
{
    if (ingest_grow((void **)&w->edges, &w->capacity, w->count, sizeof(*w->edges)) < 0)
        return -ENOMEM;
    w->edges[w->count].source = *source;
    w->edges[w->count].target = *target;
    w->edges[w->count].type = type;
    w->count++;
    return 0;
}

static int edge_order(const void *a, const void *b)
{
    const struct kdb_edge *x = a, *y = b;
    int c = memcmp(x->source.bytes, y->source.bytes, KDB_ID_SIZE);

    if (c) return c;
    if (x->type != y->type) return x->type < y->type ? -1 : 1;
    return memcmp(x->target.bytes, y->target.bytes, KDB_ID_SIZE);
}

/* Brings the out-edges of source (of ingest's types) to want[0..n), sorted (repeats are one edge). */
static int sync_edges(struct ingest *in, const struct kdb_id *source, const struct kdb_edge *want,
                      size_t n)
{
    struct kdb_edge *have;
    size_t have_count = 0, j = 0;
    int rc = 0;

    if (!in->empty_db) { /* a load has nothing to compare with, and no index to ask */
        rc = kdb_edges(in->cli->db, source, KDB_DIRECTION_OUT, INGEST_TYPES, in->r);
        if (rc < 0) return rc;
        have_count = in->r->count;
    }
    have = malloc((have_count + 1) * sizeof(*have));
    if (!have) return -ENOMEM;
    if (have_count) {
        memcpy(have, in->r->edges, have_count * sizeof(*have));
        qsort(have, have_count, sizeof(*have), edge_order);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        int c = 1;
        if (i > 0 && edge_order(&want[i - 1], &want[i]) == 0) continue; /* a set: once each */
        in->edges_total++;
        while (j < have_count && (c = edge_order(&have[j], &want[i])) < 0) {
            rc = kdb_delete_edge(in->cli->db, &have[j++]);
            if (rc == 0) in->edges_removed++;
        }
        if (rc < 0) break;
        if (j < have_count && c == 0) {
            j++;
            continue;
        }
        rc = kdb_put_edge(in->cli->db, &want[i]);
        if (rc == 0) in->edges_added++;
    }
    while (rc == 0 && j < have_count) {
        rc = kdb_delete_edge(in->cli->db, &have[j++]);
        if (rc == 0) in->edges_removed++;
    }
    free(have);
    return rc;
}

static int by_id(const void *a, const void *b)
{
    return memcmp(a, b, KDB_ID_SIZE);
}

/*
 * Deletes what source `contains` that keep (sorted by id) does not hold (a
 * file or symbol gone), and its contents.
 */
static int delete_gone(struct ingest *in, const struct kdb_id *source, const struct kdb_id *keep,
                       size_t keep_count, int depth)
{
    struct kdb_id *old;
    size_t count;
    int rc;

    if (in->empty_db) return 0; /* a load: nothing was there */
    rc = kdb_edges(in->cli->db, source, KDB_DIRECTION_OUT, UINT32_C(1) << KDB_EDGE_CONTAINS, in->r);
    if (rc == -ENOENT) return 0;
    if (rc < 0) return rc;
    count = in->r->count;
    old = malloc((count + 1) * sizeof(*old));
    if (!old) return -ENOMEM;
    for (size_t i = 0; i < count; i++)
        old[i] = in->r->edges[i].target;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (keep_count && bsearch(&old[i], keep, keep_count, sizeof(*keep), by_id)) continue;
        if (depth == 0) rc = delete_gone(in, &old[i], NULL, 0, 1); /* a file's symbols */
        if (rc == 0) rc = kdb_delete_block(in->cli->db, &old[i]);
        if (rc == -ENOENT)
            rc = 0;
        else if (rc == 0)
            in->blocks_deleted++;
    }
    free(old);
    return rc;
}

/* The edges of the whole tree, block by block; and what is gone, deleted. */
/* How much linking an ingest needs, from the least. */
enum link_scope {
    LINK_READ = 1, /* the files read: every name resolves as it did */
    LINK_NAMES,    /* and the files that use a name that came, went or changed kind or static */
    LINK_ALL,      /* every file: a file came or went, so #includes and directories may differ */
};

static enum link_scope link_scope_of(const struct ingest *in)
{
    enum link_scope scope = LINK_READ;

    if (in->files_gone || in->full) return LINK_ALL;
    for (size_t i = 0; i < in->file_count; i++) {
        if (!in->files[i].old) return LINK_ALL; /* new, or no state */
        if (!in->files[i].fresh && !ingest_state_same_symbols(in, (uint32_t)i, false)) {
            /* Without its old names, which names changed is not known: every file. */
            if (!ingest_state_symbols_known(in, (uint32_t)i)) return LINK_ALL;
            scope = LINK_NAMES;
        }
    }
    return scope;
}

/*
 * Sets link[i] for each file whose edges are to be brought up to date: the
 * files read; for LINK_NAMES, also each file with a ref of a changed name;
 * for LINK_ALL, every file. Fresh files' refs are put from the state for
 * LINK_NAMES and LINK_ALL.
 */
static int files_to_link(struct ingest *in, enum link_scope scope, bool *link)
{
    struct name_span *changed = NULL;
    size_t count = 0, capacity = 0;
    int rc = 0;

    for (size_t i = 0; i < in->file_count; i++)
        link[i] = scope == LINK_ALL || !in->files[i].fresh;
    if (scope == LINK_READ) return 0;
    for (size_t i = 0; rc == 0 && scope == LINK_NAMES && i < in->file_count; i++) {
        if (!in->files[i].fresh && !ingest_state_same_symbols(in, (uint32_t)i, false))
            rc = ingest_state_changed_names(in, (uint32_t)i, &changed, &count, &capacity);
    }
    if (rc == 0 && count) qsort(changed, count, sizeof(*changed), ingest_span_order);
    /* A fresh file's refs are read from the state only if it is to be linked (or may be). */
    for (size_t i = 0; rc == 0 && i < in->file_count; i++) {
        if (!in->files[i].fresh) continue;
        if (scope == LINK_NAMES && count)
            rc = ingest_state_refers(in, (uint32_t)i, changed, count, &link[i]);
        if (rc == 0 && link[i]) rc = ingest_state_restore_refs(in, (uint32_t)i);
    }
    free(changed);
    return rc;
}

/* Room for count ids in *ids (of *capacity): 0 or -ENOMEM, *ids as it was. */
static int ids_reserve(struct kdb_id **ids, size_t *capacity, size_t count)
{
    while (*capacity < count) {
        int rc = ingest_grow((void **)ids, capacity, *capacity, sizeof(**ids));
        if (rc < 0) return rc;
    }
    return 0;
}

static int link_all(struct ingest *in, enum link_scope scope)
{
    bool all = scope == LINK_ALL;
    bool *link = calloc(in->file_count + 1, sizeof(*link));
    struct want w = {0};
    struct kdb_id *keep = NULL, *ids = NULL, target_id;
    size_t keep_capacity = 0, ids_capacity = 0;
    int rc = link ? files_to_link(in, scope, link) : -ENOMEM;

    if (rc == 0) rc = index_names(in); /* the last names are the refs files_to_link() read */

    for (size_t t = 0; rc == 0 && all && t < in->tree_count; t++) {
        size_t n = 0;
        rc = ids_reserve(&keep, &keep_capacity, in->file_count);
        if (rc < 0) break;
        w.count = 0;
        for (size_t i = 0; rc == 0 && i < in->file_count; i++) {
            if (in->files[i].tree != t) continue;
            keep[n++] = in->files[i].id;
            rc = want_edge(&w, &in->trees[t].id, KDB_EDGE_CONTAINS, &in->files[i].id);
        }
        if (n) qsort(keep, n, sizeof(*keep), by_id);
        if (rc == 0) rc = delete_gone(in, &in->trees[t].id, keep, n, 0);
        if (rc == 0) {
            if (w.count) qsort(w.edges, w.count, sizeof(*w.edges), edge_order);
            rc = sync_edges(in, &in->trees[t].id, w.edges, w.count);
        }
    }
    for (size_t i = 0; rc == 0 && i < in->file_count; i++) {
        struct file *f = &in->files[i];
        size_t n = 0;
        if (!link[i]) continue; /* its edges are as they were */
        rc = ids_reserve(&keep, &keep_capacity, f->sym_count);
        if (rc == 0) rc = ids_reserve(&ids, &ids_capacity, f->sym_count);
        if (rc < 0) break;
        w.count = 0;
        for (uint32_t k = 0; rc == 0 && k < f->sym_count; k++) {
            ingest_sym_id(in, f->first_sym + k, &ids[k]); /* each once: a hash of three strings */
            keep[n++] = ids[k];
            rc = want_edge(&w, &f->id, KDB_EDGE_CONTAINS, &ids[k]);
        }
        for (size_t k = f->first_inc; rc == 0 && k < f->first_inc + f->inc_count; k++) {
            uint32_t target = resolve_include(in, &in->incs[k]);
            if (target != NONE && target != i)
                rc = want_edge(&w, &f->id, KDB_EDGE_IMPORTS, &in->files[target].id);
        }
        if (n) qsort(keep, n, sizeof(*keep), by_id);
        if (rc == 0) rc = delete_gone(in, &f->id, keep, n, 1);
        if (rc < 0) break;
        if (w.count) qsort(w.edges, w.count, sizeof(*w.edges), edge_order);
        rc = sync_edges(in, &f->id, w.edges, w.count);
        /* Each symbol: defined_in its file, and what it calls and uses (its refs are next in
         * the file's, which are in symbol order). */
        size_t r = f->first_ref, refs_end = (size_t)f->first_ref + f->ref_count;
        for (uint32_t s = f->first_sym; rc == 0 && s < f->first_sym + f->sym_count; s++) {
            const struct kdb_id *id = &ids[s - f->first_sym];
            w.count = 0;
            rc = want_edge(&w, id, KDB_EDGE_DEFINED_IN, &f->id);
            for (; rc == 0 && r < refs_end && in->refs[r].from == s; r++) {
                uint32_t target = resolve(in, &in->refs[r]);
                if (target == NONE) continue; /* a call of itself is an edge to itself */
                if (target - f->first_sym < f->sym_count)
                    target_id = ids[target - f->first_sym];
                else
                    ingest_sym_id(in, target, &target_id);
                rc = want_edge(
                    &w, id, in->refs[r].kind == C_REF_CALL ? KDB_EDGE_CALLS : KDB_EDGE_REFERENCES,
                    &target_id);
            }
            if (rc < 0) break;
            if (w.count) qsort(w.edges, w.count, sizeof(*w.edges), edge_order);
            rc = sync_edges(in, id, w.edges, w.count);
        }
        if (in->progress && i % 64 == 0)
            fprintf(stderr, "\r\033[Kingest: linking %zu/%zu files, %llu edges", i, in->file_count,
                    (unsigned long long)in->edges_total);
    }
    free(keep);
    free(ids);
    free(w.edges);
    free(link);
    return rc;
}

/* ---- the name index (names.h) ---- */

/* A line of the name index, to be merged into its shard. */
struct shard_line {
    uint32_t shard;
    char *text;
};

static int line_order(const void *a, const void *b)
{
    const struct shard_line *x = a, *y = b;

    if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
    return strcmp(x->text, y->text);
}

/* Text for a kind "names" or "registry" block's metadata. */
static char *index_meta(const char *kind, const char *name)
{
    json_t *m = json_pack("{s:s, s:s}", "kind", kind, "name", name);
    char *text = m ? json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(m);
    return text;
}

int ingest_store_index(struct ingest *in, const struct kdb_id *id, const char *kind,
                       const char *name, const char *content, size_t len)
{
    return store_fields(in, id, NULL, index_meta(kind, name), content, len);
}

/* n in decimal into buf (12 bytes): as the line has it. */
static const char *decimal(uint32_t n, char *buf)
{
    char *p = buf + 11;

    *p = '\0';
    do {
        *--p = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    return p;
}

static char *put_field(char *p, const char *field, size_t len, char end)
{
    memcpy(p, field, len);
    p[len] = end;
    return p + len + 1;
}

/*
 * A symbol's line of the name index, newline included ("NAME\tKIND\tPATH\tLINE\tID\n"), at
 * buf, which has room for line_size(): its end. Written field by field: millions of lines.
 */
static char *put_line(const struct ingest *in, uint32_t sym, char *buf)
{
    const struct sym *s = &in->syms[sym];
    const char *kind = c_kind_name(s->kind), *path = in->files[s->file].path;
    char digits[12];
    const char *line = decimal(s->line_start, digits);
    char *p = buf;

    p = put_field(p, in->names + s->name, s->name_len, '\t');
    p = put_field(p, kind, strlen(kind), '\t');
    p = put_field(p, path, strlen(path), '\t');
    struct kdb_id id;

    p = put_field(p, line, strlen(line), '\t');
    ingest_sym_id(in, sym, &id);
    kdb_id_to_hex(&id, p); /* and its NUL, overwritten */
    p[KDB_ID_HEX_SIZE] = '\n';
    return p + KDB_ID_HEX_SIZE + 1;
}

/* The room put_line() needs for sym's line (and a NUL). */
static size_t line_size(const struct ingest *in, uint32_t sym)
{
    const struct sym *s = &in->syms[sym];

    return s->name_len + strlen(c_kind_name(s->kind)) + strlen(in->files[s->file].path) + 11 +
           KDB_ID_HEX_SIZE + 6;
}

/* Orders two fields of a line as strcmp orders the lines: each ends at a tab. */
static int field_order(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = *a ? (unsigned char)*a : '\t', y = *b ? (unsigned char)*b : '\t';
        if (x != y) return x < y ? -1 : 1;
        if (!*a || !*b) return 0; /* both at their tab */
    }
}

/* Orders lines as strcmp orders their texts (name, kind, path, line, id, each ending at a tab),
 * field by field, nothing formatted: a name is shared by many symbols of a large tree. */
static int name_line_order(const void *pa, const void *pb, void *ctx)
{
    const struct ingest *in = ctx;
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    const struct sym *x = &in->syms[a], *y = &in->syms[b];
    uint32_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    char da[12], db[12];
    struct kdb_id ida, idb;
    int c;

    c = memcmp(in->names + x->name, in->names + y->name, n);
    if (c) return c;
    if (x->name_len != y->name_len) return x->name_len < y->name_len ? -1 : 1;
    if ((c = field_order(c_kind_name(x->kind), c_kind_name(y->kind))) != 0) return c;
    if ((c = field_order(in->files[x->file].path, in->files[y->file].path)) != 0) return c;
    if ((c = field_order(decimal(x->line_start, da), decimal(y->line_start, db))) != 0) return c;
    ingest_sym_id(in, a, &ida);
    ingest_sym_id(in, b, &idb);
    return memcmp(ida.bytes, idb.bytes, KDB_ID_SIZE); /* as its hex digits order */
}

/*
 * One tree's shards: each a sorted list of its symbols whose names hash
 * there, of the tree's count of shards. The symbols are put in order of
 * their shards first (a counting sort), so that each shard takes its own.
 */
static int write_shards(struct ingest *in, uint32_t t)
{
    const char *root = in->trees[t].root;
    const unsigned shards = in->trees[t].name_shards;
    uint32_t *shard_of = malloc((in->sym_count + 1) * sizeof(*shard_of));
    uint32_t *start = calloc((size_t)shards + 1, sizeof(*start));
    uint32_t *lines = NULL;
    int rc = shard_of && start ? 0 : -ENOMEM;

    for (size_t i = 0; rc == 0 && i < in->sym_count; i++) {
        const struct sym *s = &in->syms[i];
        shard_of[i] = UINT32_MAX;
        if (in->files[s->file].tree != t) continue;
        shard_of[i] = names_shard(in->names + s->name, s->name_len, shards);
        start[shard_of[i] + 1]++;
    }
    for (unsigned shard = 0; rc == 0 && shard < shards; shard++)
        start[shard + 1] += start[shard];
    if (rc == 0) lines = malloc(((size_t)start[shards] + 1) * sizeof(*lines));
    if (!lines) rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < in->sym_count; i++) { /* start[s] moves to s's end */
        if (shard_of[i] != UINT32_MAX) lines[start[shard_of[i]]++] = (uint32_t)i;
    }
    for (unsigned shard = 0, first = 0; rc == 0 && shard < shards; shard++) {
        size_t room = 1, count = start[shard] - first;
        char *text, *p, name[PATH_MAX + 16];
        struct kdb_id id;
        uint32_t *mine = lines + first;
        first = start[shard];
        if (count) qsort_r(mine, count, sizeof(*mine), name_line_order, in);
        for (size_t i = 0; i < count; i++)
            room += line_size(in, mine[i]);
        text = malloc(room);
        if (!text) {
            rc = -ENOMEM;
            break;
        }
        p = text;
        for (size_t i = 0; i < count; i++)
            p = put_line(in, mine[i], p);
        names_shard_id(root, shard, &id);
        snprintf(name, sizeof(name), "%s#%02u", root, shard);
        rc = ingest_store_index(in, &id, "names", name, text, (size_t)(p - text));
        free(text);
    }
    free(lines);
    free(start);
    free(shard_of);
    return rc;
}

/* The shards a patch rewrites: a bit each. */
struct touched {
    uint64_t *bits;
    unsigned shards;
};

static void touch_shard(void *ctx, const char *name, uint32_t len)
{
    struct touched *touched = ctx;
    unsigned shard = names_shard(name, len, touched->shards);

    touched->bits[shard / 64] |= UINT64_C(1) << (shard % 64);
}

static int str_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether a name index line's path (its third field) is one of paths[0..count), sorted. */
static bool line_of(const char *line, const char *end, char **paths, size_t count)
{
    const char *path = memchr(line, '\t', (size_t)(end - line)), *stop;
    char key[PATH_MAX];
    const char *k = key;

    if (path) path = memchr(path + 1, '\t', (size_t)(end - path - 1));
    if (!path) return false;
    path++;
    stop = memchr(path, '\t', (size_t)(end - path));
    if (!stop || (size_t)(stop - path) >= sizeof(key)) return false;
    memcpy(key, path, (size_t)(stop - path));
    key[stop - path] = '\0';
    return bsearch(&k, paths, count, sizeof(*paths), str_order) != NULL;
}

/*
 * Tree t's name shards when no file came or went: each shard that a symbol
 * of a file read (now or in its old record) hashes to keeps the other
 * files' lines, sorted as they are, and takes the read files' lines anew.
 */
static int patch_shards(struct ingest *in, uint32_t t)
{
    const char *root = in->trees[t].root;
    struct touched touched = {.shards = in->trees[t].name_shards};
    struct shard_line *lines = NULL;
    char **paths = NULL, *text = NULL;
    size_t path_count = 0, line_count = 0;
    bool any = false;
    int rc = 0;

    touched.bits = calloc(touched.shards / 64 + 1, sizeof(*touched.bits));
    if (!touched.bits) return -ENOMEM;
    for (size_t i = 0; i < in->file_count; i++) {
        const struct file *f = &in->files[i];
        if (f->tree != t || f->fresh) continue;
        path_count++;
        ingest_state_symbol_names(in, (uint32_t)i, touch_shard, &touched);
        for (uint32_t k = 0; k < f->sym_count; k++) {
            const struct sym *s = &in->syms[f->first_sym + k];
            touch_shard(&touched, in->names + s->name, s->name_len);
        }
    }
    for (unsigned w = 0; w <= touched.shards / 64; w++)
        any |= touched.bits[w] != 0;
    if (!any) {
        free(touched.bits);
        return 0;
    }
    paths = calloc(path_count + 1, sizeof(*paths));
    lines = calloc(in->sym_count + 1, sizeof(*lines));
    if (!paths || !lines) rc = -ENOMEM;
    path_count = 0;
    for (size_t i = 0; rc == 0 && i < in->file_count; i++) {
        const struct file *f = &in->files[i];
        if (f->tree != t || f->fresh) continue;
        paths[path_count++] = f->path;
        for (uint32_t k = 0; rc == 0 && k < f->sym_count; k++) {
            const struct sym *s = &in->syms[f->first_sym + k];
            char hex[KDB_ID_HEX_SIZE + 1];
            struct kdb_id id;
            ingest_sym_id(in, f->first_sym + k, &id);
            kdb_id_to_hex(&id, hex);
            lines[line_count].shard = names_shard(in->names + s->name, s->name_len, touched.shards);
            if (asprintf(&lines[line_count].text, "%.*s\t%s\t%s\t%u\t%s\n", (int)s->name_len,
                         in->names + s->name, c_kind_name(s->kind), f->path, s->line_start,
                         hex) < 0)
                rc = -ENOMEM;
            else
                line_count++;
        }
    }
    if (rc == 0) {
        qsort(paths, path_count, sizeof(*paths), str_order);
        qsort(lines, line_count, sizeof(*lines), line_order);
    }
    for (unsigned shard = 0, at = 0; rc == 0 && shard < touched.shards; shard++) {
        struct kdb_block view;
        struct kdb_id id;
        char name[PATH_MAX + 16], *p;
        const char *old = "", *old_end;
        size_t new_len = 0, first = at;
        while (at < line_count && lines[at].shard == shard)
            new_len += strlen(lines[at++].text);
        if (!(touched.bits[shard / 64] & (UINT64_C(1) << (shard % 64)))) continue;
        names_shard_id(root, shard, &id);
        rc = kdb_get_block_view(in->cli->db, &id, &view);
        if (rc == 0) old = view.content;
        if (rc == -ENOENT) view.content_len = 0, rc = 0;
        if (rc < 0) break;
        free(text);
        text = malloc(view.content_len + new_len + 1);
        if (!text) {
            rc = -ENOMEM;
            break;
        }
        /* Merge the kept old lines (sorted) with the new (sorted). */
        p = text;
        old_end = old + view.content_len;
        for (size_t k = first;;) {
            const char *eol = old < old_end ? memchr(old, '\n', (size_t)(old_end - old)) : NULL;
            size_t old_len = eol ? (size_t)(eol - old) + 1 : 0;
            if (eol && line_of(old, eol, paths, path_count)) {
                old = eol + 1; /* a read file's line: replaced */
                continue;
            }
            if (!eol && k == at) break;
            if (eol && (k == at || strncmp(old, lines[k].text, old_len) < 0)) {
                memcpy(p, old, old_len);
                p += old_len;
                old = eol + 1;
            } else {
                size_t n = strlen(lines[k].text);
                memcpy(p, lines[k].text, n);
                p += n;
                k++;
            }
        }
        snprintf(name, sizeof(name), "%s#%02u", root, shard);
        rc = ingest_store_index(in, &id, "names", name, text, (size_t)(p - text));
    }
    for (size_t i = 0; i < line_count; i++)
        free(lines[i].text);
    free(lines);
    free(paths);
    free(text);
    free(touched.bits);
    return rc;
}

/*
 * Tree t's file list (names.h): written whole when a file came or went, or
 * when its last shard is missing (a database ingested before lists were
 * kept, or an ingest cut short while writing them, in shard order); a
 * shard that comes out as it was is not written again.
 */
static int write_files(struct ingest *in, uint32_t t, enum link_scope scope)
{
    const char *root = in->trees[t].root;
    uint8_t *shard_of;
    struct kdb_block view;
    struct kdb_id id;
    char *text = NULL;
    int rc;

    if (scope != LINK_ALL) {
        names_files_id(root, NAMES_FILE_SHARDS - 1, &id);
        rc = kdb_get_block_view(in->cli->db, &id, &view);
        if (rc != -ENOENT) return rc;
    }
    shard_of = malloc(in->file_count + 1);
    if (!shard_of) return -ENOMEM;
    for (size_t i = 0; i < in->file_count; i++) {
        const char *path = in->files[i].path;
        shard_of[i] = in->files[i].tree == t
                          ? (uint8_t)names_shard(path, strlen(path), NAMES_FILE_SHARDS)
                          : UINT8_MAX;
    }
    rc = 0;
    static_assert(NAMES_FILE_SHARDS < UINT8_MAX, "a shard in a byte, and one for none");
    for (unsigned shard = 0; rc == 0 && shard < NAMES_FILE_SHARDS; shard++) {
        size_t room = 1;
        char *p, name[PATH_MAX + 8];
        for (size_t i = 0; i < in->file_count; i++) {
            if (shard_of[i] == shard) room += KDB_ID_HEX_SIZE + 2 + strlen(in->files[i].path);
        }
        text = malloc(room);
        if (!text) {
            rc = -ENOMEM;
            break;
        }
        p = text;
        for (size_t i = 0; i < in->file_count; i++) { /* the files are by path */
            size_t len = strlen(in->files[i].path);
            if (shard_of[i] != shard) continue;
            kdb_id_to_hex(&in->files[i].id, p);
            p[KDB_ID_HEX_SIZE] = ' ';
            memcpy(p + KDB_ID_HEX_SIZE + 1, in->files[i].path, len + 1);
            p += KDB_ID_HEX_SIZE + 2 + len;
        }
        names_files_id(root, shard, &id);
        snprintf(name, sizeof(name), "%s#%02u", root, shard);
        rc = ingest_store_index(in, &id, "files", name, text, (size_t)(p - text));
        free(text);
    }
    free(shard_of);
    return rc;
}

static int root_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The tree of this ingest whose root is root[0..len), or NONE. */
static uint32_t tree_of_root(const struct ingest *in, const char *root, size_t len)
{
    for (uint32_t t = 0; t < in->tree_count; t++) {
        if (strlen(in->trees[t].root) == len && memcmp(in->trees[t].root, root, len) == 0) return t;
    }
    return NONE;
}

/*
 * The name index and file list of each tree, then the registry: every
 * tree ever ingested here (its lines as they are), and these, each with
 * its count of name shards. A tree's shards are written whole when a file
 * came or went or when the count grows; else patched.
 */
static int write_names(struct ingest *in, enum link_scope scope)
{
    struct kdb_block view = {0};
    struct kdb_id id;
    char *old = NULL, **lines = NULL, **made = NULL, *text = NULL;
    size_t *symbols = NULL, count = 0, len = 0;
    int rc;

    names_registry_id(&id);
    rc = kdb_get_block_view(in->cli->db, &id, &view);
    if (rc == 0) old = strndup(view.content, view.content_len);
    if (rc == -ENOENT) old = strdup("");
    if (!old) return rc < 0 && rc != -ENOENT ? rc : -ENOMEM;
    lines = calloc(in->tree_count + 1 + (size_t)view.content_len, sizeof(*lines));
    made = calloc(in->tree_count + 1, sizeof(*made)); /* this ingest's lines */
    symbols = calloc(in->tree_count + 1, sizeof(*symbols));
    rc = lines && made && symbols ? 0 : -ENOMEM;
    for (uint32_t t = 0; t < in->tree_count; t++)
        in->trees[t].name_shards = 0; /* none yet */
    for (char *line = old, *eol; rc == 0 && (eol = strchr(line, '\n')); line = eol + 1) {
        size_t root_len;
        unsigned shards;
        uint32_t t;
        *eol = '\0';
        if (!names_registry_line(line, (size_t)(eol - line), &root_len, &shards)) continue;
        t = tree_of_root(in, line, root_len);
        if (t == NONE)
            lines[count++] = line; /* another tree's, kept */
        else
            in->trees[t].name_shards = shards;
    }
    for (size_t i = 0; rc == 0 && i < in->sym_count; i++)
        symbols[in->files[in->syms[i].file].tree]++;
    for (uint32_t t = 0; rc == 0 && t < in->tree_count; t++) {
        struct tree *tree = &in->trees[t];
        unsigned shards = names_shard_count(symbols[t], tree->name_shards);
        bool whole = scope == LINK_ALL || shards != tree->name_shards;
        tree->name_shards = shards;
        in->index_blocks += 1 + shards + NAMES_FILE_SHARDS;
        rc = whole ? write_shards(in, t) : patch_shards(in, t);
        if (rc == 0) rc = write_files(in, t, scope);
        if (rc == 0 && asprintf(&made[t], "%s\t%u", tree->root, shards) < 0) {
            made[t] = NULL; /* asprintf(3) leaves it undefined */
            rc = -ENOMEM;
        }
        if (rc == 0) lines[count++] = made[t];
    }
    if (rc == 0) {
        qsort(lines, count, sizeof(*lines), root_order);
        for (size_t i = 0; i < count; i++)
            len += strlen(lines[i]) + 1;
        text = malloc(len + 1);
        rc = text ? 0 : -ENOMEM;
    }
    if (rc == 0) {
        char *p = text;
        for (size_t i = 0; i < count; i++) {
            size_t n = strlen(lines[i]);
            if (i && strcmp(lines[i], lines[i - 1]) == 0) continue; /* once each */
            memcpy(p, lines[i], n);
            p[n] = '\n';
            p += n + 1;
        }
        rc = ingest_store_index(in, &id, "registry", "trees", text, (size_t)(p - text));
        in->index_blocks++;
    }
    for (uint32_t t = 0; rc == 0 && t < in->tree_count; t++) {
        struct kdb_edge e = {id, in->trees[t].id, KDB_EDGE_CONTAINS};
        rc = kdb_put_edge(in->cli->db, &e);
    }
    for (uint32_t t = 0; made && t < in->tree_count; t++)
        free(made[t]);
    free(made);
    free(text);
    free(lines);
    free(symbols);
    free(old);
    return rc;
}

/* ---- the command ---- */

static int make_tree(struct ingest *in, uint32_t t, const char *dir)
{
    char *root = realpath(dir, NULL);
    json_t *meta;

    if (!root) {
        cli_error("ingest: %s: %s", dir, strerror(errno));
        return -errno;
    }
    in->trees[t].root = root;
    kdb_id_for_symbol("", 0, "tree", 4, root, strlen(root), &in->trees[t].id);
    meta = json_pack("{s:s, s:s, s:s}", "kind", "tree", "name", root, "lang", "c");
    {
        char *text = meta ? json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(meta);
        return store_fields(in, &in->trees[t].id, NULL, text, NULL, 0);
    }
}

static int run(struct ingest *in, char **dirs, int count)
{
    struct c_parser *parser = c_parser_new(); /* here only to say early if the grammar fails */
    int rc = 0;

    if (!parser) {
        cli_error("ingest: the C grammar did not load");
        return -ENOMEM;
    }
    c_parser_free(parser);
    if (!kdb_is_remote(in->cli->db)) { /* a daemon's handle gives no counts */
        struct kdb_stats stats;
        kdb_get_stats(in->cli->db, &stats);
        /* Into an empty database, a load: the edge index is built at the close (kdb.h), and
         * memory holds this ingest's arrays or the index, not both. */
        in->empty_db = stats.block_count == 0 && kdb_load_begin(in->cli->db) == 0;
    }
    in->trees = calloc((size_t)count, sizeof(*in->trees));
    if (!in->trees) rc = -ENOMEM;
    for (int t = 0; rc == 0 && t < count; t++) {
        rc = make_tree(in, (uint32_t)t, dirs[t]);
        in->tree_count++;
        if (rc == 0) {
            struct stat st;
            rc = list_git(in, (uint32_t)t, in->trees[t].root);
            if (rc == 1)
                rc = stat(in->trees[t].root, &st) < 0
                         ? -errno
                         : list_walk(in, (uint32_t)t, in->trees[t].root, "", st.st_dev);
            if (rc < 0) cli_error("ingest: %s: %s", dirs[t], strerror(-rc));
        }
    }
    if (rc == 0 && in->file_count) qsort(in->files, in->file_count, sizeof(*in->files), by_path);
    for (uint32_t t = 0; rc == 0 && t < in->tree_count; t++)
        rc = ingest_state_load(in, t);
    if (rc == 0) rc = ingest_files(in);
    /* Many new blocks go out as a table while the files are linked. */
    if (rc == 0 && in->blocks_written > 1000) rc = kdb_flush_begin(in->cli->db);
    if (rc == 0) rc = kdb_result_new(in->cli->db, &in->r);
    if (rc == 0) rc = index_paths(in);
    if (rc == 0) {
        enum link_scope scope = link_scope_of(in); /* what the files read have changed */
        rc = link_all(in, scope);
        if (rc == 0) rc = write_names(in, scope);
    }
    for (uint32_t t = 0; rc == 0 && t < in->tree_count; t++)
        rc = ingest_state_write(in, t);
    /* A large change goes out as a table now, so that each command after it opens
     * without replaying it (kausal keeps small changes in the log). */
    if (rc == 0 && in->blocks_written + in->edges_added + in->edges_removed > 1000 &&
        !kdb_is_remote(in->cli->db))
        rc = kdb_flush(in->cli->db);
    if (rc == 0) rc = kdb_sync(in->cli->db);
    if (in->progress) fprintf(stderr, "\r\033[K");
    return rc;
}

static void release(struct ingest *in)
{
    for (size_t i = 0; i < in->file_count; i++) {
        free(in->files[i].path);
        free(in->files[i].dir);
    }
    for (size_t i = 0; i < in->tree_count; i++)
        free(in->trees[i].root);
    free(in->trees);
    free(in->files);
    free(in->syms);
    free(in->refs);
    free(in->incs);
    free(in->names);
    free(in->intern);
    free(in->heads);
    free(in->path_slots);
    free(in->base_slots);
    free(in->base_next);
    ingest_state_release(in);
}

int cmd_ingest(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, 'j'},
        {"full", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct ingest in;
    bool json = false, quiet = false, full = false;
    double seconds;
    int c, rc, status;

    while ((c = getopt_long(argc, argv, "hjqf", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("ingest",
                            "Turns C source trees into blocks and edges: each .c and .h file\n"
                            "(in a git checkout, the files git knows and does not ignore),\n"
                            "and each function, struct, union, enum, typedef, macro and global\n"
                            "variable in it, joined by contains, defined_in, imports, calls and\n"
                            "references edges. Run it again after a change: only the files that\n"
                            "changed are read, only what changed is written, and what is gone is\n"
                            "deleted. Works on a mounted database too. See kausal(1), INGEST.\n"
                            "  --full    read every file again, changed or not\n"
                            "  --json    the summary as a JSON object\n"
                            "  --quiet   no progress on the terminal\n");
        case 'j':
            json = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'f':
            full = true;
            break;
        default:
            return cli_usage_error("ingest", "unknown option");
        }
    }
    if (optind >= argc) return cli_usage_error("ingest", "give the directories to ingest");
    /* `kausal ingest DB DIR...` as well as `kausal -d DB ingest DIR...` */
    if (!cli->db_given && argc - optind >= 2) cli->db_path = argv[optind++];
    memset(&in, 0, sizeof(in));
    in.cli = cli;
    in.start_ns = now_ns();
    in.start_wall_ns = wall_ns();
    in.full = full;
    in.progress = !quiet && isatty(STDERR_FILENO);
    /* An ingest writes in bulk and only probes its tables: each probe would make 2 MiB of a
     * table resident with the default's mappings, and what the probes read stays until a
     * flush gives it back. */
    cli->vfs = kdb_vfs_posix_small_pages();
    cli->open_flags = KDB_OPEN_BULK;
    status = cli_open(cli, false);
    if (status != EXIT_OK) return status;
    rc = run(&in, argv + optind, argc - optind);
    kdb_result_free(in.r); /* before the handle goes */
    in.r = NULL;
    release(&in); /* before the handle writes the graph file: the counts stay */
    if (rc < 0) {
        cli_error("ingest: %s", kdb_strerror(rc));
        status = EXIT_FAIL;
    }
    /* A load's close builds the edge index from the tables: seconds, for millions of edges. */
    if (in.progress && in.empty_db && rc == 0)
        fprintf(stderr, "\r\033[Kingest: indexing %llu edges", (unsigned long long)in.edges_total);
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    if (in.progress && in.empty_db && rc == 0) fprintf(stderr, "\r\033[K");
    seconds = (double)(now_ns() - in.start_ns) / 1e9;
    if (status == EXIT_OK) {
        /* files, symbols, the state, and the index: trees, each one's name shards and file
         * list, the registry */
        uint64_t blocks = in.file_count + in.sym_count + in.state_blocks + in.index_blocks;
        if (json) {
            status = cli_print_json(json_pack(
                "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "files",
                (json_int_t)in.file_count, "files_read", (json_int_t)in.files_read, "bytes",
                (json_int_t)in.bytes, "blocks", (json_int_t)blocks, "blocks_written",
                (json_int_t)in.blocks_written, "blocks_unchanged", (json_int_t)in.blocks_same,
                "blocks_deleted", (json_int_t)in.blocks_deleted, "edges",
                (json_int_t)in.edges_total, "edges_added", (json_int_t)in.edges_added,
                "edges_removed", (json_int_t)in.edges_removed, "files_with_syntax_errors",
                (json_int_t)in.errors_parse, "too_large", (json_int_t)in.too_large, "seconds",
                seconds));
        } else {
            printf("ingested %zu files (%.1f MiB; %llu read, the rest unchanged) in %.2f s: %llu "
                   "blocks (%llu written, %llu deleted), %llu edges (%llu added, %llu removed)",
                   in.file_count, (double)in.bytes / 1048576.0, (unsigned long long)in.files_read,
                   seconds, (unsigned long long)blocks, (unsigned long long)in.blocks_written,
                   (unsigned long long)in.blocks_deleted, (unsigned long long)in.edges_total,
                   (unsigned long long)in.edges_added, (unsigned long long)in.edges_removed);
            if (in.errors_parse)
                printf("; %llu files the parser could not read whole",
                       (unsigned long long)in.errors_parse);
            printf("\n");
        }
    }
    return cli_finish_output(status);
}
