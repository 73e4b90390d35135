/* SPDX-License-Identifier: MIT */
/*
 * cli.c: the helpers of cli.h.
 */
#include "cli.h"

#include "names.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;

    fputs("kausal: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "kausal %s: ", command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'kausal %s --help'.\n", command);
    return EXIT_USAGE;
}

int cli_help(const char *command, const char *text)
{
    for (size_t i = 0; i < cli_command_count; i++) {
        if (strcmp(cli_commands[i].name, command) == 0) {
            printf("usage: kausal [-d DB] %s\n\n", cli_commands[i].usage);
            break;
        }
    }
    fputs(text, stdout);
    return EXIT_OK;
}

/*
 * Engine diagnostics: warnings and errors go to stderr; those of opening
 * are held (ctx) until the last attempt to open has told what it found.
 */
struct held_log {
    bool holding;
    char text[2048]; /* lines, each with its newline */
};

static void log_message(void *ctx, enum kdb_log_level level, const char *file, int line,
                        const char *message)
{
    struct held_log *held = ctx;
    size_t len = strlen(held->text);

    (void)file;
    (void)line;
    if (level > KDB_LOG_WARNING) return;
    if (!held->holding)
        cli_error("%s", message);
    else
        (void)snprintf(held->text + len, sizeof(held->text) - len, "kausal: %s\n", message);
}

/* How long a run waits for a database another process is closing (see cli_open()). */
#define CLI_BUSY_WAIT_MS 5000
#define CLI_BUSY_POLL_MS 20

/*
 * The database a kausalfs mount at path serves (its root's xattr
 * user.kausal.database), or NULL: so that -d takes the mountpoint too.
 */
static char *mounted_database(const char *path)
{
    char buf[4096];
    ssize_t n = getxattr(path, "user.kausal.database", buf, sizeof(buf) - 1);

    if (n <= 0) return NULL;
    buf[n] = '\0';
    return strdup(buf);
}

/*
 * A database held by a mount is reached through its daemon (kdb_open()
 * forwards). One held by a process that does not serve it is waited for a
 * little: fusermount3 -u returns before the daemon has closed the database.
 */
int cli_open(struct cli *cli, bool create)
{
    struct kdb_options options;
    const char *path = cli->db_path;
    static struct held_log held; /* the engine logs through it while the handle lives */
    char *mounted = NULL;
    int rc;

    kdb_options_init(&options);
    options.log = log_message;
    options.log_ctx = &held;
    held.holding = true;
    /* One change a run: it stays in the (synced) log for the next open to
     * replay, rather than each run writing a table of its own. */
    options.flags = KDB_OPEN_KEEP_LOG | cli->open_flags;
    options.vfs = cli->vfs;
    if (create) options.flags |= KDB_OPEN_CREATE;
    /* A mountpoint stands for the database mounted there. */
    mounted = mounted_database(path);
    if (mounted) path = mounted;
    for (int waited_ms = 0;; waited_ms += CLI_BUSY_POLL_MS) {
        struct timespec pause = {0, CLI_BUSY_POLL_MS * 1000000L};
        held.text[0] = '\0';
        rc = kdb_open(path, &options, &cli->db);
        if (rc != -EBUSY || waited_ms >= CLI_BUSY_WAIT_MS) break;
        (void)nanosleep(&pause, NULL);
    }
    held.holding = false;
    fputs(held.text, stderr);
    free(mounted);
    if (rc == 0) return EXIT_OK;
    cli->db = NULL;
    if (rc == -ENOENT)
        cli_error("%s: not a KausalDB database (make one with: kausal -d %s init)", cli->db_path,
                  cli->db_path);
    else if (rc == -EBUSY)
        cli_error("%s: in use by another process (see above)", cli->db_path);
    else
        cli_error("%s: %s", cli->db_path, kdb_strerror(rc));
    return EXIT_FAIL;
}

/* Past this many log segments, a run writes the log out as a table before it exits. */
#define CLI_SEGMENTS_MAX 32

int cli_close(struct cli *cli)
{
    struct kdb_stats stats;
    int rc = 0;

    /* Each run leaves its change in the log and starts a segment of its own:
     * now and then one run flushes them, so that they do not pile up. A
     * query (a brief handle) changes nothing, and leaves them to the next. */
    if (!kdb_is_remote(cli->db) && !(cli->open_flags & KDB_OPEN_BRIEF)) {
        kdb_get_stats(cli->db, &stats);
        if (stats.wal_segment_count >= CLI_SEGMENTS_MAX) rc = kdb_flush(cli->db);
    }
    if (rc < 0) {
        cli_error("%s: writing the log out as a table: %s", cli->db_path, kdb_strerror(rc));
        (void)kdb_close(cli->db);
        cli->db = NULL;
        return EXIT_FAIL;
    }
    rc = kdb_close(cli->db);

    cli->db = NULL;
    if (rc == 0) return EXIT_OK;
    cli_error("%s: closing: %s", cli->db_path, kdb_strerror(rc));
    return EXIT_FAIL;
}

bool cli_parse_id(const char *command, const char *arg, struct kdb_id *id)
{
    if (kdb_id_from_hex(arg, strlen(arg), id) == 0) return true;
    cli_usage_error(command, "'%s' is not an id (32 hex digits)", arg);
    return false;
}

bool cli_parse_type(const char *command, const char *arg, unsigned *type)
{
    if (kdb_edge_type_from_name(arg, strlen(arg), type) == 0) return true;
    fprintf(stderr, "kausal %s: '%s' is not an edge type; the types are:", command, arg);
    for (unsigned t = 1; t <= KDB_EDGE_TYPE_MAX; t++)
        fprintf(stderr, " %s", kdb_edge_type_name(t));
    fprintf(stderr, "\n");
    return false;
}

bool cli_parse_direction(const char *command, const char *arg, unsigned *direction)
{
    if (strcmp(arg, "out") == 0)
        *direction = KDB_DIRECTION_OUT;
    else if (strcmp(arg, "in") == 0)
        *direction = KDB_DIRECTION_IN;
    else if (strcmp(arg, "both") == 0)
        *direction = KDB_DIRECTION_BOTH;
    else {
        cli_usage_error(command, "'%s' is not a direction (out, in or both)", arg);
        return false;
    }
    return true;
}

bool cli_parse_count(const char *command, const char *what, const char *arg, uint64_t min,
                     uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    errno = 0;
    v = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max) {
        cli_usage_error(command, "%s must be a number from %llu to %llu, not '%s'", what,
                        (unsigned long long)min, (unsigned long long)max, arg);
        return false;
    }
    *out = v;
    return true;
}

const char *cli_hex(const struct kdb_id *id, int slot)
{
    static char hex[4][KDB_ID_HEX_SIZE + 1];

    kdb_id_to_hex(id, hex[slot & 3]);
    return hex[slot & 3];
}

char *cli_meta_string(const struct kdb_block *block, const char *key)
{
    json_t *meta = json_loadb(block->metadata, block->metadata_len, 0, NULL);
    const char *value = json_string_value(json_object_get(meta, key));
    char *copy = value ? strdup(value) : NULL;

    json_decref(meta);
    return copy;
}

int cli_print_json(json_t *value)
{
    int rc;

    if (!value) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    rc = json_dumpf(value, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(value);
    if (rc < 0 || fputc('\n', stdout) == EOF) {
        cli_error("writing output: %s", strerror(errno));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static const char base64_digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 4648 base64 of bytes, as a JSON string. */
static json_t *base64_json(const uint8_t *bytes, size_t len)
{
    size_t out_len = (len + 2) / 3 * 4;
    char *out = malloc(out_len + 1);
    json_t *s;
    size_t o = 0;

    if (!out) return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16;
        if (i + 1 < len) v |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < len) v |= bytes[i + 2];
        out[o++] = base64_digits[(v >> 18) & 63];
        out[o++] = base64_digits[(v >> 12) & 63];
        out[o++] = i + 1 < len ? base64_digits[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? base64_digits[v & 63] : '=';
    }
    s = json_stringn(out, o);
    free(out);
    return s;
}

json_t *cli_block_json(const struct kdb_block *block, bool with_content)
{
    json_t *o = json_object();
    json_t *meta = json_loadb(block->metadata, block->metadata_len, 0, NULL);

    if (!o) return NULL;
    json_object_set_new(o, "id", json_string(cli_hex(&block->id, 0)));
    json_object_set_new(o, "version", json_integer((json_int_t)block->version));
    json_object_set_new(o, "mtime_ns", json_integer((json_int_t)block->mtime_ns));
    json_object_set_new(
        o, "source_uri",
        json_stringn(block->source_uri_len ? block->source_uri : "", block->source_uri_len));
    json_object_set_new(o, "metadata", meta ? meta : json_object());
    json_object_set_new(o, "content_length", json_integer((json_int_t)block->content_len));
    if (with_content) {
        /* JSON strings are Unicode: content that is not UTF-8 goes as base64. */
        json_t *text = json_stringn(block->content_len ? (const char *)block->content : "",
                                    block->content_len);
        if (text)
            json_object_set_new(o, "content", text);
        else
            json_object_set_new(o, "content_base64",
                                base64_json(block->content, block->content_len));
    }
    return o;
}

int cli_finish_output(int status)
{
    if (fflush(stdout) == EOF || ferror(stdout)) {
        cli_error("writing output: %s", strerror(errno));
        return EXIT_FAIL;
    }
    return status;
}

int cli_resolve(struct cli *cli, const char *command, const char *arg, const char *prefer,
                struct kdb_id *id)
{
    const char *colon = strrchr(arg, ':');
    const char *name = colon && colon[1] ? colon + 1 : arg;
    char *path = colon && colon[1] && colon > arg ? strndup(arg, (size_t)(colon - arg)) : NULL;
    struct name_hit *hits = NULL;
    size_t count = 0, chosen = 0, preferred = 0;
    int rc;

    if (kdb_id_from_hex(arg, strlen(arg), id) == 0) {
        free(path);
        return EXIT_OK;
    }
    if (colon && colon[1] && !path) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    rc = names_find(cli->db, name, strlen(name), path, &hits, &count);
    free(path);
    if (rc < 0) {
        cli_error("%s: %s: %s", command, arg, kdb_strerror(rc));
        return EXIT_FAIL;
    }
    for (size_t i = 0; prefer && i < count; i++) {
        if (strcmp(hits[i].kind, prefer) == 0) {
            preferred++;
            chosen = i;
        }
    }
    if (count == 1 || preferred == 1) {
        *id = hits[count == 1 ? 0 : chosen].id;
        names_free(hits, count);
        return EXIT_OK;
    }
    if (count == 0) {
        cli_error("%s: '%s' is neither an id (32 hex digits) nor the name of an ingested symbol",
                  command, arg);
    } else {
        cli_error("%s: '%s' names %zu symbols; say which with FILE:NAME or the id:", command, arg,
                  count);
        for (size_t i = 0; i < count; i++)
            fprintf(stderr, "  %s:%u\t%s %s\t%s\n", hits[i].path, hits[i].line_start, hits[i].kind,
                    hits[i].name, cli_hex(&hits[i].id, 0));
    }
    names_free(hits, count);
    return EXIT_FAIL;
}
