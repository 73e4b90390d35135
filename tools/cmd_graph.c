/* SPDX-License-Identifier: MIT */
/*
 * cmd_graph.c: kausal link, unlink, edges, callers, callees, trace and path.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The edge types that are a call of some kind. */
#define CALL_TYPES                                                                                 \
    ((1u << KDB_EDGE_CALLS) | (1u << KDB_EDGE_CALLS_FUNCTION) | (1u << KDB_EDGE_CALLS_METHOD))

static int link_or_unlink(struct cli *cli, int argc, char **argv, bool add)
{
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *name = add ? "link" : "unlink";
    struct kdb_edge edge;
    int c, rc, status;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h')
            return cli_help(name,
                            add ? "Adds the edge SRC -TYPE-> DST. Both blocks must exist; an edge\n"
                                  "that is there already is left as it is.\n"
                                : "Removes the edge SRC -TYPE-> DST.\n");
        return cli_usage_error(name, "unknown option");
    }
    if (argc - optind != 3) return cli_usage_error(name, "give SRC TYPE DST");
    if (!cli_parse_id(name, argv[optind], &edge.source) ||
        !cli_parse_type(name, argv[optind + 1], &edge.type) ||
        !cli_parse_id(name, argv[optind + 2], &edge.target))
        return EXIT_USAGE;
    status = cli_open(cli, false);
    if (status != EXIT_OK) return status;
    rc = add ? kdb_put_edge(cli->db, &edge) : kdb_delete_edge(cli->db, &edge);
    if (rc == 0) rc = kdb_sync(cli->db);
    if (rc == -ENOENT && add) {
        struct kdb_block view;
        const struct kdb_id *missing =
            kdb_get_block_view(cli->db, &edge.source, &view) < 0 ? &edge.source : &edge.target;
        cli_error("%s: no such block", cli_hex(missing, 0));
        status = EXIT_FAIL;
    } else if (rc == -ENOENT) {
        cli_error("no edge %s -%s-> %s", cli_hex(&edge.source, 0), kdb_edge_type_name(edge.type),
                  cli_hex(&edge.target, 1));
        status = EXIT_FAIL;
    } else if (rc < 0) {
        cli_error("%s: %s", name, kdb_strerror(rc));
        status = EXIT_FAIL;
    }
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}

int cmd_link(struct cli *cli, int argc, char **argv)
{
    return link_or_unlink(cli, argc, argv, true);
}

int cmd_unlink(struct cli *cli, int argc, char **argv)
{
    return link_or_unlink(cli, argc, argv, false);
}

/* ---- what the listing commands share ---- */

struct query_args {
    const char *command;
    bool json;
    unsigned direction;
    uint32_t type_mask;
    uint64_t depth;
    uint64_t limit;
    int first; /* argv index of the first operand */
};

/*
 * Parses the options of edges, callers, callees, trace and path: --json,
 * --in, --out, --direction, --type (repeatable), --depth, --limit.
 * Returns EXIT_OK to go on, HELP_SHOWN, or EXIT_USAGE.
 */
static int parse_query(int argc, char **argv, struct query_args *q, const char *help)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, 'j'},
        {"in", no_argument, NULL, 'i'},
        {"out", no_argument, NULL, 'o'},
        {"direction", required_argument, NULL, 'D'},
        {"type", required_argument, NULL, 't'},
        {"depth", required_argument, NULL, 'n'},
        {"limit", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "hjiot:n:l:", options, NULL)) != -1) {
        unsigned type;
        switch (c) {
        case 'h':
            (void)cli_help(q->command, help);
            return HELP_SHOWN;
        case 'j':
            q->json = true;
            break;
        case 'i':
            q->direction = KDB_DIRECTION_IN;
            break;
        case 'o':
            q->direction = KDB_DIRECTION_OUT;
            break;
        case 'D':
            if (!cli_parse_direction(q->command, optarg, &q->direction)) return EXIT_USAGE;
            break;
        case 't':
            if (!cli_parse_type(q->command, optarg, &type)) return EXIT_USAGE;
            q->type_mask |= UINT32_C(1) << type;
            break;
        case 'n':
            if (!cli_parse_count(q->command, "--depth", optarg, 0, 1000000, &q->depth))
                return EXIT_USAGE;
            break;
        case 'l':
            if (!cli_parse_count(q->command, "--limit", optarg, 1, UINT32_MAX, &q->limit))
                return EXIT_USAGE;
            break;
        default:
            return cli_usage_error(q->command, "unknown option");
        }
    }
    q->first = optind;
    return EXIT_OK;
}

/* A block's name (metadata "name") and source URI, for people; NULL when it has none. */
static void describe(const struct kdb_block *view, char **name, char **uri)
{
    *name = *uri = NULL;
    if (view->version == 0) return; /* no such block */
    *name = cli_meta_string(view, "name");
    if (view->source_uri_len) *uri = strndup(view->source_uri, view->source_uri_len);
}

/* A caller or callee as JSON: id, edge type, and what the metadata says of it. */
static json_t *call_json(const struct kdb_id *id, const struct kdb_block *view, const char *type)
{
    json_t *o = json_pack("{s:s, s:s}", "id", cli_hex(id, 0), "type", type);
    json_t *meta = NULL;

    if (o && view->version != 0) {
        meta = json_loadb(view->metadata, view->metadata_len, 0, NULL);
        json_object_set_new(o, "source_uri",
                            view->source_uri_len
                                ? json_stringn(view->source_uri, view->source_uri_len)
                                : json_null());
    }
    if (o) {
        static const char *const keys[] = {"name", "kind", "line_start", "line_end"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            json_t *v = json_object_get(meta, keys[i]);
            json_object_set(o, keys[i], v ? v : json_null());
        }
    }
    json_decref(meta);
    return o;
}

/*
 * The blocks of a listing, read together into *out (one request when a
 * daemon holds the database): n ids, the first at first and each stride
 * bytes after the one before (a field of the listing's entries). EXIT_OK,
 * or EXIT_FAIL with the error printed and *out to free all the same.
 */
static int read_blocks(struct cli *cli, const char *operand, const void *first, size_t stride,
                       size_t n, struct kdb_result **out)
{
    struct kdb_id *ids = malloc((n ? n : 1) * sizeof(*ids));
    int rc = ids ? kdb_result_new(cli->db, out) : -ENOMEM;

    for (size_t i = 0; rc == 0 && i < n; i++)
        memcpy(&ids[i], (const uint8_t *)first + i * stride, sizeof(ids[i]));
    if (rc == 0) rc = kdb_get_block_heads(cli->db, ids, n, *out);
    free(ids);
    if (rc < 0) {
        cli_error("%s: reading the blocks listed: %s", operand, kdb_strerror(rc));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static json_t *edge_json(const struct kdb_edge *e)
{
    return json_pack("{s:s, s:s, s:s}", "source", cli_hex(&e->source, 0), "type",
                     kdb_edge_type_name(e->type), "target", cli_hex(&e->target, 1));
}

/*
 * Opens the database and resolves the operands from q->first (ids or
 * symbol names, functions preferred); EXIT_OK, or the status with the
 * database closed.
 */
static int open_with_id(struct cli *cli, const struct query_args *q, int argc, char **argv,
                        int operands, struct kdb_id *ids)
{
    int status;

    if (argc - q->first != operands)
        return cli_usage_error(q->command,
                               operands == 1 ? "give one ID or NAME" : "give two IDs or NAMEs");
    cli->open_flags |= KDB_OPEN_BRIEF; /* a query: a few reads, then the close */
    status = cli_open(cli, false);
    for (int i = 0; status == EXIT_OK && i < operands; i++)
        status = cli_resolve(cli, q->command, argv[q->first + i], "function", &ids[i]);
    if (status != EXIT_OK && cli->db) (void)cli_close(cli);
    return status;
}

/* Prints an engine error about the operand; EXIT_FAIL. */
static int query_failed(const char *operand, int rc)
{
    cli_error("%s: %s", operand, rc == -ENOENT ? "no such block" : kdb_strerror(rc));
    return EXIT_FAIL;
}

int cmd_edges(struct cli *cli, int argc, char **argv)
{
    struct query_args q = {.command = "edges", .direction = KDB_DIRECTION_BOTH};
    struct kdb_result *r = NULL;
    struct kdb_id id;
    int rc, status;

    status = parse_query(argc, argv, &q,
                         "Lists a block's edges, one per line: SRC TYPE DST. --out lists\n"
                         "those from it, --in those to it (default: both, out first);\n"
                         "--type T keeps that type (repeatable). --json: an array of\n"
                         "{\"source\", \"type\", \"target\"}.\n");
    if (status != EXIT_OK) return status == HELP_SHOWN ? EXIT_OK : status;
    status = open_with_id(cli, &q, argc, argv, 1, &id);
    if (status != EXIT_OK) return status;
    rc = kdb_result_new(cli->db, &r);
    if (rc == 0) rc = kdb_edges(cli->db, &id, q.direction, q.type_mask, r);
    if (rc < 0) {
        status = query_failed(argv[q.first], rc);
    } else if (q.json) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < r->count; i++)
            json_array_append_new(a, edge_json(&r->edges[i]));
        status = cli_print_json(a);
    } else {
        for (size_t i = 0; i < r->count; i++)
            printf("%s %s %s\n", cli_hex(&r->edges[i].source, 0),
                   kdb_edge_type_name(r->edges[i].type), cli_hex(&r->edges[i].target, 1));
    }
    kdb_result_free(r);
    status = cli_finish_output(status);
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}

/* callers and callees: the blocks at the other end of call edges, with names. */
static int calls(struct cli *cli, int argc, char **argv, bool callers)
{
    struct query_args q = {.command = callers ? "callers" : "callees"};
    struct kdb_result *r = NULL, *blocks = NULL;
    struct kdb_id id;
    int rc, status;

    status = parse_query(
        argc, argv, &q,
        callers ? "Lists the blocks that call ID (calls, calls_function and\n"
                  "calls_method edges to it), one per line: ID, name, source URI,\n"
                  "tab-separated. ID may be an ingested symbol's NAME or\n"
                  "FILE:NAME. --json: an array of {\"id\", \"type\", \"source_uri\",\n"
                  "\"name\", \"kind\", \"line_start\", \"line_end\"}.\n"
                : "Lists the blocks ID calls (calls, calls_function and\n"
                  "calls_method edges from it), one per line: ID, name, source\n"
                  "URI, tab-separated. ID may be an ingested symbol's NAME or\n"
                  "FILE:NAME. --json: an array of {\"id\", \"type\",\n"
                  "\"source_uri\", \"name\", \"kind\", \"line_start\", \"line_end\"}.\n");
    if (status != EXIT_OK) return status == HELP_SHOWN ? EXIT_OK : status;
    status = open_with_id(cli, &q, argc, argv, 1, &id);
    if (status != EXIT_OK) return status;
    rc = kdb_result_new(cli->db, &r);
    if (rc == 0)
        rc = kdb_edges(cli->db, &id, callers ? KDB_DIRECTION_IN : KDB_DIRECTION_OUT, CALL_TYPES, r);
    if (rc < 0) {
        status = query_failed(argv[q.first], rc);
    } else if (r->count) {
        const struct kdb_edge *e = &r->edges[0];
        status = read_blocks(cli, argv[q.first], callers ? &e->source : &e->target, sizeof(*e),
                             r->count, &blocks);
    }
    if (status == EXIT_OK) {
        json_t *a = q.json ? json_array() : NULL;
        for (size_t i = 0; i < r->count; i++) {
            const struct kdb_edge *e = &r->edges[i];
            const struct kdb_id *other = callers ? &e->source : &e->target;
            char *name, *uri;
            if (a) {
                json_array_append_new(
                    a, call_json(other, &blocks->blocks[i], kdb_edge_type_name(e->type)));
                continue;
            }
            describe(&blocks->blocks[i], &name, &uri);
            printf("%s\t%s\t%s\n", cli_hex(other, 0), name ? name : "-", uri ? uri : "-");
            free(name);
            free(uri);
        }
        if (a) status = cli_print_json(a);
    }
    kdb_result_free(blocks);
    kdb_result_free(r);
    status = cli_finish_output(status);
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}

int cmd_callers(struct cli *cli, int argc, char **argv)
{
    return calls(cli, argc, argv, true);
}

int cmd_callees(struct cli *cli, int argc, char **argv)
{
    return calls(cli, argc, argv, false);
}

/* How a node was reached, for people: "-calls->" along an edge, "<-calls-" against one. */
static void via(const struct kdb_node *n, char *buf, size_t size)
{
    if (n->parent == KDB_NONE)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, n->reversed ? "<-%s-" : "-%s->", kdb_edge_type_name(n->type));
}

/* Prints r->nodes as lines (depth first when with_depth) or as a JSON array. */
static int print_nodes(struct cli *cli, const char *operand, const struct kdb_result *r, bool json,
                       bool with_depth)
{
    struct kdb_result *blocks = NULL;
    json_t *a = NULL;
    int status = EXIT_OK;

    if (r->count)
        status = read_blocks(cli, operand, &r->nodes[0].id, sizeof(r->nodes[0]), r->count, &blocks);
    if (status == EXIT_OK && json) a = json_array();
    for (size_t i = 0; status == EXIT_OK && i < r->count; i++) {
        const struct kdb_node *n = &r->nodes[i];
        char *name, *uri, how[48];
        describe(&blocks->blocks[i], &name, &uri);
        via(n, how, sizeof(how));
        if (a) {
            json_t *o = json_pack("{s:s, s:I, s:s?, s:s?}", "id", cli_hex(&n->id, 0), "depth",
                                  (json_int_t)n->depth, "name", name, "source_uri", uri);
            if (o && n->parent != KDB_NONE) {
                json_object_set_new(o, "parent", json_integer((json_int_t)n->parent));
                json_object_set_new(o, "type", json_string(kdb_edge_type_name(n->type)));
                json_object_set_new(o, "reversed", json_boolean(n->reversed));
            }
            json_array_append_new(a, o);
        } else if (with_depth) {
            printf("%u\t%s\t%s\t%s\n", n->depth, cli_hex(&n->id, 0), how, name ? name : "-");
        } else {
            printf("%s\t%s\t%s\n", cli_hex(&n->id, 0), how, name ? name : "-");
        }
        free(name);
        free(uri);
    }
    kdb_result_free(blocks);
    return a ? cli_print_json(a) : status;
}

int cmd_trace(struct cli *cli, int argc, char **argv)
{
    struct query_args q = {.command = "trace", .direction = KDB_DIRECTION_OUT, .depth = 3};
    struct kdb_result *r = NULL;
    struct kdb_walk walk;
    struct kdb_id id;
    int rc, status;

    status = parse_query(argc, argv, &q,
                         "Walks the graph breadth-first from ID and lists each block\n"
                         "reached, once, nearest first: depth, id, the edge it was\n"
                         "reached by (-calls-> along one, <-calls- against one), name;\n"
                         "tab-separated.\n"
                         "  --depth N       edges from ID at most (default 3)\n"
                         "  --direction D   out (default), in or both; --in and --out too\n"
                         "  --type T        follow edges of type T only (repeatable)\n"
                         "  --limit N       list at most N blocks, ID included\n"
                         "  --json          an array of {\"id\", \"depth\", \"name\",\n"
                         "                  \"source_uri\", \"parent\", \"type\", \"reversed\"}\n");
    if (status != EXIT_OK) return status == HELP_SHOWN ? EXIT_OK : status;
    status = open_with_id(cli, &q, argc, argv, 1, &id);
    if (status != EXIT_OK) return status;
    walk = (struct kdb_walk){.direction = q.direction,
                             .type_mask = q.type_mask,
                             .max_depth = (uint32_t)q.depth,
                             .limit = (size_t)q.limit};
    rc = kdb_result_new(cli->db, &r);
    if (rc == 0) rc = kdb_traverse(cli->db, &id, &walk, r);
    status =
        rc < 0 ? query_failed(argv[q.first], rc) : print_nodes(cli, argv[q.first], r, q.json, true);
    kdb_result_free(r);
    status = cli_finish_output(status);
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}

int cmd_path(struct cli *cli, int argc, char **argv)
{
    struct query_args q = {.command = "path", .direction = KDB_DIRECTION_OUT, .depth = KDB_NONE};
    struct kdb_result *r = NULL;
    struct kdb_walk walk;
    struct kdb_id ids[2];
    int rc, status;

    status = parse_query(argc, argv, &q,
                         "Finds a shortest path from A to B and lists it, A first: id,\n"
                         "the edge that leads there, name; tab-separated. Exits 1 when\n"
                         "there is none.\n"
                         "  --direction D   out (default: along the edges), in or both\n"
                         "  --type T        follow edges of type T only (repeatable)\n"
                         "  --depth N       paths of at most N edges\n"
                         "  --json          an array of {\"id\", \"depth\", \"name\", ...}\n");
    if (status != EXIT_OK) return status == HELP_SHOWN ? EXIT_OK : status;
    status = open_with_id(cli, &q, argc, argv, 2, ids);
    if (status != EXIT_OK) return status;
    walk = (struct kdb_walk){
        .direction = q.direction, .type_mask = q.type_mask, .max_depth = (uint32_t)q.depth};
    rc = kdb_result_new(cli->db, &r);
    if (rc == 0) rc = kdb_path(cli->db, &ids[0], &ids[1], &walk, r);
    if (rc < 0) {
        struct kdb_block view;
        status =
            query_failed(argv[q.first + (kdb_get_block_view(cli->db, &ids[0], &view) == 0)], rc);
    } else if (r->count == 0) {
        cli_error("no path from %s to %s", argv[q.first], argv[q.first + 1]);
        status = EXIT_FAIL;
    } else {
        status = print_nodes(cli, argv[q.first], r, q.json, false);
    }
    kdb_result_free(r);
    status = cli_finish_output(status);
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}
