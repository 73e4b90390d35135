/* SPDX-License-Identifier: MIT */
/*
 * cli.h: what the kausal subcommands share: the database they work on,
 * parsing of ids, types and numbers, messages, and JSON output (jansson).
 *
 * Exit status, as for every command here: 0 done, 1 it could not be done
 * (no such block, no path, a damaged or busy database, an I/O error), 2 the
 * command line is wrong (an unknown option, a malformed id or type).
 */
#ifndef KDB_TOOLS_CLI_H
#define KDB_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "kdb.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cli {
    const char *db_path;       /* -d, --db, $KAUSAL_DB, or "." */
    bool db_given;             /* by -d, --db or $KAUSAL_DB */
    struct kdb *db;            /* once cli_open() succeeded */
    const struct kdb_vfs *vfs; /* for cli_open(); NULL: the engine's default */
    unsigned open_flags;       /* for cli_open(): kdb_open_flags added to its own */
};

/* A subcommand: argv[0] is its name; returns the exit status. */
struct command {
    const char *name;
    int (*run)(struct cli *cli, int argc, char **argv);
    const char *usage;   /* the synopsis after "kausal " */
    const char *summary; /* one line for `kausal --help` */
};

extern const struct command cli_commands[];
extern const size_t cli_command_count;

/* The subcommands (cmd_block.c, cmd_graph.c, cmd_admin.c). */
int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_put(struct cli *cli, int argc, char **argv);
int cmd_get(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_link(struct cli *cli, int argc, char **argv);
int cmd_unlink(struct cli *cli, int argc, char **argv);
int cmd_edges(struct cli *cli, int argc, char **argv);
int cmd_callers(struct cli *cli, int argc, char **argv);
int cmd_callees(struct cli *cli, int argc, char **argv);
int cmd_trace(struct cli *cli, int argc, char **argv);
int cmd_path(struct cli *cli, int argc, char **argv);
int cmd_stats(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_compact(struct cli *cli, int argc, char **argv);
int cmd_sync(struct cli *cli, int argc, char **argv);
int cmd_ingest(struct cli *cli, int argc, char **argv);

/* What an option parser returns after printing --help: the command then exits 0. */
#define HELP_SHOWN (-1)

/* "kausal: " and the message on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Usage error: the message, then "try kausal CMD --help"; returns EXIT_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints a subcommand's help (synopsis and text) to stdout; returns EXIT_OK. */
int cli_help(const char *command, const char *text);

/*
 * Opens the database (create: make it if missing). On failure prints why,
 * naming the directory, and returns EXIT_FAIL; else EXIT_OK.
 */
int cli_open(struct cli *cli, bool create);

/* Closes it; a failure (the final sync) is printed and returns EXIT_FAIL. */
int cli_close(struct cli *cli);

/* Parses a 32-hex id; prints the usage error and returns false if it is not one. */
bool cli_parse_id(const char *command, const char *arg, struct kdb_id *id);

/* Parses an edge type's name; prints the usage error and returns false if unknown. */
/*
 * The block arg names, into *id: 32 hex digits, or the NAME or FILE:NAME of
 * an ingested symbol (through the ingester's name index, names.h: the
 * database must be open). Among several symbols of that name, the only one
 * of kind prefer (NULL: none) is taken. A name that finds nothing, or
 * several, is reported (the candidates listed, FILE:LINE kind name id) and
 * gives EXIT_FAIL.
 */
int cli_resolve(struct cli *cli, const char *command, const char *arg, const char *prefer,
                struct kdb_id *id);

bool cli_parse_type(const char *command, const char *arg, unsigned *type);

/* Parses --direction's out, in or both. */
bool cli_parse_direction(const char *command, const char *arg, unsigned *direction);

/* Parses a decimal count in [min, max]. */
bool cli_parse_count(const char *command, const char *what, const char *arg, uint64_t min,
                     uint64_t max, uint64_t *out);

/* An id's 32 hex digits, in a static buffer per slot (0..3). */
const char *cli_hex(const struct kdb_id *id, int slot);

/* The string member key of a block's metadata as a new string (free() it), or NULL. */
char *cli_meta_string(const struct kdb_block *block, const char *key);

/* Prints a JSON value and a newline to stdout and frees it. Returns EXIT_OK or EXIT_FAIL. */
int cli_print_json(json_t *value);

/* A block as a JSON object: id, version, mtime_ns, source_uri, metadata, content. */
json_t *cli_block_json(const struct kdb_block *block, bool with_content);

/* Flushes stdout; a write error (a full disk, a closed pipe) is printed. */
int cli_finish_output(int status);

#endif /* KDB_TOOLS_CLI_H */
