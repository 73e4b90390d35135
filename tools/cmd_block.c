/* SPDX-License-Identifier: MIT */
/*
 * cmd_block.c: kausal init, put, get and rm.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Options every data command takes; a subcommand adds its own after these. */
#define COMMON_OPTIONS                                                                             \
    {"help", no_argument, NULL, 'h'},                                                              \
    {                                                                                              \
        "json", no_argument, NULL, 'j'                                                             \
    }

int cmd_init(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c, status;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h')
            return cli_help("init", "Creates an empty database in DIR (or the -d directory); its\n"
                                    "parent must exist. An existing database is left as it is.\n");
        return cli_usage_error("init", "unknown option");
    }
    if (argc - optind > 1) return cli_usage_error("init", "too many arguments");
    if (argc - optind == 1) cli->db_path = argv[optind];
    status = cli_open(cli, true);
    if (status != EXIT_OK) return status;
    status = cli_close(cli);
    if (status == EXIT_OK) printf("KausalDB database in %s\n", cli->db_path);
    return cli_finish_output(status);
}

/* Reads all of a file (or stdin for NULL) into a new buffer. */
static int read_all(const char *path, char **out, size_t *len)
{
    FILE *f = path ? fopen(path, "rb") : stdin;
    size_t cap = 1 << 16, n = 0;
    char *buf;

    *out = NULL;
    *len = 0;
    if (!f) {
        cli_error("%s: %s", path, strerror(errno));
        return EXIT_FAIL;
    }
    buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        if (cap > KDB_CONTENT_SIZE_LIMIT) break; /* too large: the put says so */
        char *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    if (!buf || ferror(f)) {
        cli_error("%s: %s", path ? path : "standard input",
                  buf ? strerror(errno) : "out of memory");
        free(buf);
        if (path) fclose(f);
        return EXIT_FAIL;
    }
    if (path) fclose(f);
    *out = buf;
    *len = n;
    return EXIT_OK;
}

/* The id the ingester gives a symbol: from the URI and the metadata's kind and name. */
static void symbol_id(const char *uri, const char *meta, struct kdb_id *id)
{
    json_t *m = meta ? json_loads(meta, 0, NULL) : NULL;
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const char *name = json_string_value(json_object_get(m, "name"));

    kind = kind ? kind : "";
    name = name ? name : "";
    kdb_id_for_symbol(uri, strlen(uri), kind, strlen(kind), name, strlen(name), id);
    json_decref(m);
}

int cmd_put(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        COMMON_OPTIONS,
        {"uri", required_argument, NULL, 'u'},
        {"meta", required_argument, NULL, 'm'},
        {"file", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *uri = NULL, *meta = NULL, *file = NULL;
    struct kdb_block block = {0};
    uint64_t version = 0;
    bool json = false;
    char *content;
    size_t len;
    int c, rc, status;

    while ((c = getopt_long(argc, argv, "hju:m:f:", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("put",
                            "Stores a block: its content from --file or standard input, its\n"
                            "source URI and metadata (a JSON object) from the options. With\n"
                            "ID, creates or replaces that block; without, the id is the one\n"
                            "the ingester gives a symbol: XXH3-128 of the URI, the metadata's\n"
                            "kind and name (so --uri is needed). Prints the id, or with --json\n"
                            "{\"id\", \"version\"}.\n");
        case 'j':
            json = true;
            break;
        case 'u':
            uri = optarg;
            break;
        case 'm':
            meta = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        default:
            return cli_usage_error("put", "unknown option");
        }
    }
    if (argc - optind > 1) return cli_usage_error("put", "too many arguments");
    if (argc - optind == 1) {
        if (!cli_parse_id("put", argv[optind], &block.id)) return EXIT_USAGE;
    } else if (!uri) {
        return cli_usage_error("put", "give an ID, or --uri to derive one");
    }
    if (meta && kdb_validate_metadata(meta, strlen(meta)) < 0)
        return cli_usage_error("put", "--meta is not a JSON object");
    if (argc - optind == 0) symbol_id(uri, meta, &block.id);
    status = read_all(file, &content, &len);
    if (status != EXIT_OK) return status;
    block.source_uri = uri;
    block.source_uri_len = uri ? strlen(uri) : 0;
    block.metadata = meta;
    block.metadata_len = meta ? strlen(meta) : 0;
    block.content = content;
    block.content_len = len;
    status = cli_open(cli, false);
    if (status == EXIT_OK) {
        rc = kdb_put_block(cli->db, &block, &version);
        if (rc == 0) rc = kdb_sync(cli->db);
        if (rc < 0) {
            cli_error("put %s: %s", cli_hex(&block.id, 0), kdb_strerror(rc));
            status = EXIT_FAIL;
        }
        if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    }
    free(content);
    if (status != EXIT_OK) return status;
    if (json)
        status = cli_print_json(
            json_pack("{s:s, s:I}", "id", cli_hex(&block.id, 0), "version", (json_int_t)version));
    else
        printf("%s\n", cli_hex(&block.id, 0));
    return cli_finish_output(status);
}

int cmd_get(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        COMMON_OPTIONS,
        {"meta", no_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, meta = false;
    struct kdb_block view;
    struct kdb_id id;
    int c, rc, status;

    while ((c = getopt_long(argc, argv, "hjm", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            return cli_help("get", "Writes a block's content to standard output; with --meta, its\n"
                                   "metadata (a JSON object); with --json, the whole block as\n"
                                   "one JSON object (content as text, or content_base64 when it\n"
                                   "is not UTF-8).\n");
        case 'j':
            json = true;
            break;
        case 'm':
            meta = true;
            break;
        default:
            return cli_usage_error("get", "unknown option");
        }
    }
    if (argc - optind != 1) return cli_usage_error("get", "give one ID or NAME");
    cli->open_flags |= KDB_OPEN_BRIEF; /* one block: a few reads, then the close */
    status = cli_open(cli, false);
    if (status != EXIT_OK) return status;
    status = cli_resolve(cli, "get", argv[optind], "function", &id);
    if (status != EXIT_OK) {
        (void)cli_close(cli);
        return status;
    }
    rc = kdb_get_block_view(cli->db, &id, &view);
    if (rc < 0) {
        cli_error("%s: %s", argv[optind], rc == -ENOENT ? "no such block" : kdb_strerror(rc));
        status = EXIT_FAIL;
    } else if (json) {
        status = cli_print_json(cli_block_json(&view, true));
    } else if (meta) {
        if (fwrite(view.metadata, 1, view.metadata_len, stdout) != view.metadata_len ||
            fputc('\n', stdout) == EOF)
            status = EXIT_FAIL;
    } else if (view.content_len &&
               fwrite(view.content, 1, view.content_len, stdout) != view.content_len) {
        status = EXIT_FAIL;
    }
    /* The view points into the database: written out before it closes. */
    status = cli_finish_output(status);
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}

int cmd_rm(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c, status;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h')
            return cli_help("rm", "Deletes blocks, each with every edge from or to it.\n");
        return cli_usage_error("rm", "unknown option");
    }
    if (argc - optind < 1) return cli_usage_error("rm", "give at least one ID");
    for (int i = optind; i < argc; i++) {
        struct kdb_id id;
        if (!cli_parse_id("rm", argv[i], &id)) return EXIT_USAGE; /* all checked first */
    }
    status = cli_open(cli, false);
    if (status != EXIT_OK) return status;
    for (int i = optind; i < argc; i++) {
        struct kdb_id id;
        int rc = kdb_id_from_hex(argv[i], strlen(argv[i]), &id);
        if (rc == 0) rc = kdb_delete_block(cli->db, &id);
        if (rc < 0) {
            cli_error("%s: %s", argv[i], rc == -ENOENT ? "no such block" : kdb_strerror(rc));
            status = EXIT_FAIL;
            if (rc != -ENOENT) break;
        }
    }
    if (status == EXIT_OK) {
        int rc = kdb_sync(cli->db);
        if (rc < 0) {
            cli_error("rm: %s", kdb_strerror(rc));
            status = EXIT_FAIL;
        }
    }
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}
