/* SPDX-License-Identifier: MIT */
/*
 * kausal.c: the kausal command: global options, then a subcommand, as git
 * does. Each subcommand opens the database, does its one thing, makes any
 * change durable and closes it again.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const struct command cli_commands[] = {
    {"init", cmd_init, "init [DIR]", "create an empty database"},
    {"put", cmd_put, "put [ID] [--uri URI] [--meta JSON] [--file FILE] [--json]",
     "store a block (content from FILE or standard input)"},
    {"get", cmd_get, "get ID [--meta | --json]", "print a block's content, metadata or all of it"},
    {"rm", cmd_rm, "rm ID...", "delete blocks and their edges"},
    {"link", cmd_link, "link SRC TYPE DST", "add an edge"},
    {"unlink", cmd_unlink, "unlink SRC TYPE DST", "remove an edge"},
    {"edges", cmd_edges, "edges ID [--in | --out] [--type TYPE]... [--json]",
     "list a block's edges"},
    {"callers", cmd_callers, "callers ID [--json]", "list the blocks that call a block"},
    {"callees", cmd_callees, "callees ID [--json]", "list the blocks a block calls"},
    {"trace", cmd_trace,
     "trace ID [--depth N] [--direction out|in|both] [--type TYPE]... [--limit N] [--json]",
     "walk the graph breadth-first from a block"},
    {"path", cmd_path, "path A B [--direction out|in|both] [--type TYPE]... [--depth N] [--json]",
     "find a shortest path between two blocks"},
    {"stats", cmd_stats, "stats [--json]", "print what the database holds"},
    {"check", cmd_check, "check [--json]", "verify every checksum; exit 1 on damage"},
    {"compact", cmd_compact, "compact [--json]", "merge every table into one"},
    {"sync", cmd_sync, "sync", "make every change durable"},
    {"ingest", cmd_ingest, "ingest [DB] DIR... [--json] [--quiet]",
     "turn C source trees into blocks and edges"},
};
const size_t cli_command_count = sizeof(cli_commands) / sizeof(cli_commands[0]);

static void usage(FILE *out)
{
    fprintf(out, "usage: kausal [-d DB] COMMAND [ARGS]\n"
                 "\n"
                 "Works on the KausalDB database in DB: -d DB or --db DB, else $KAUSAL_DB,\n"
                 "else the current directory. Ids are 32 hex digits. Edge types: ");
    for (unsigned t = 1; t <= KDB_EDGE_TYPE_MAX; t++)
        fprintf(out, "%s%s", kdb_edge_type_name(t), t < KDB_EDGE_TYPE_MAX ? ", " : ".\n\n");
    for (size_t i = 0; i < cli_command_count; i++)
        fprintf(out, "  %-9s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(out, "\n'kausal COMMAND --help' tells more; see also kausal(1).\n"
                 "Exit status: 0 done, 1 failed (see the message), 2 bad usage.\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *env = getenv("KAUSAL_DB");
    struct cli cli = {.db_path = env && *env ? env : ".", .db_given = env && *env};
    int c;

    /* "+": options stop at the subcommand, whose own options follow it. */
    while ((c = getopt_long(argc, argv, "+d:h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            cli.db_path = optarg;
            cli.db_given = true;
            break;
        case 'h':
            usage(stdout);
            return cli_finish_output(EXIT_OK);
        case 'V':
            printf("kausal (KausalDB) 0.4\n");
            return cli_finish_output(EXIT_OK);
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < cli_command_count; i++) {
        if (strcmp(argv[optind], cli_commands[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* getopt starts over on the subcommand's arguments */
            return cli_commands[i].run(&cli, sub_argc, sub_argv);
        }
    }
    cli_error("'%s' is not a command; see 'kausal --help'", argv[optind]);
    return EXIT_USAGE;
}
