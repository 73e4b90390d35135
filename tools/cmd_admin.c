/* SPDX-License-Identifier: MIT */
/*
 * cmd_admin.c: kausal stats, check, compact and sync.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

/* Parses [--help] [--json] and no operands; EXIT_OK to go on, HELP_SHOWN or EXIT_USAGE. */
static int parse_simple(int argc, char **argv, const char *command, const char *help, bool *json)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'}, {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "hj", options, NULL)) != -1) {
        if (c == 'h') {
            (void)cli_help(command, help);
            return HELP_SHOWN;
        }
        if (c != 'j' || !json) return cli_usage_error(command, "unknown option");
        *json = true;
    }
    if (optind != argc) return cli_usage_error(command, "takes no arguments");
    return EXIT_OK;
}

int cmd_stats(struct cli *cli, int argc, char **argv)
{
    struct kdb_stats s;
    bool json = false;
    int status = parse_simple(argc, argv, "stats",
                              "Prints what the database holds (blocks, edges, tables, log)\n"
                              "and what this open did (replay), one 'name: value' a line; with\n"
                              "--json, one object.\n",
                              &json);

    if (status != EXIT_OK) return status == HELP_SHOWN ? EXIT_OK : status;
    status = cli_open(cli, false);
    if (status != EXIT_OK) return status;
    kdb_get_stats(cli->db, &s);
    const struct {
        const char *name;
        uint64_t value;
    } rows[] = {
        {"blocks", s.block_count},          {"edges", s.edge_count},
        {"last_sequence", s.last_sequence}, {"tables", s.table_count},
        {"table_bytes", s.table_bytes},     {"wal_segments", s.wal_segment_count},
        {"wal_bytes", s.wal_bytes},         {"memtable_bytes", s.memtable_bytes},
        {"graph_bytes", s.graph_bytes},     {"recovered_records", s.recovered_records},
        {"recovery_ns", s.recovery_ns},
    };
    if (json) {
        json_t *o = json_object();
        for (size_t i = 0; o && i < sizeof(rows) / sizeof(rows[0]); i++)
            json_object_set_new(o, rows[i].name, json_integer((json_int_t)rows[i].value));
        status = cli_print_json(o);
    } else {
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
            printf("%s: %llu\n", rows[i].name, (unsigned long long)rows[i].value);
    }
    status = cli_finish_output(status);
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
    struct kdb_stats s;
    uint64_t records = 0;
    bool json = false;
    int rc, status = parse_simple(argc, argv, "check",
                                  "Verifies every checksum of the database: the log as it is\n"
                                  "replayed, the manifest and every table's structure as they\n"
                                  "open, then every record of every table. Reports the first\n"
                                  "damage and exits 1; repairs nothing.\n",
                                  &json);

    if (status != EXIT_OK) return status == HELP_SHOWN ? EXIT_OK : status;
    status = cli_open(cli, false); /* the log, the manifest and the tables' metadata */
    if (status != EXIT_OK) return status;
    rc = kdb_check(cli->db, &records);
    kdb_get_stats(cli->db, &s);
    if (rc < 0) {
        cli_error("%s: %s (see above)", cli->db_path, kdb_strerror(rc));
        status = EXIT_FAIL;
    } else if (json) {
        status = cli_print_json(json_pack(
            "{s:s, s:I, s:I, s:I}", "status", "ok", "tables", (json_int_t)s.table_count,
            "table_records", (json_int_t)records, "log_records", (json_int_t)s.recovered_records));
    } else {
        printf("ok: %llu log records replayed, %llu table records in %llu tables checked\n",
               (unsigned long long)s.recovered_records, (unsigned long long)records,
               (unsigned long long)s.table_count);
    }
    status = cli_finish_output(status);
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}

int cmd_compact(struct cli *cli, int argc, char **argv)
{
    struct kdb_stats before, after;
    bool json = false;
    int rc, status = parse_simple(argc, argv, "compact",
                                  "Writes the log out as a table and merges every table into\n"
                                  "one: shadowed versions and deleted blocks and edges leave the\n"
                                  "disk. Takes time and space in proportion to the database.\n",
                                  &json);

    if (status != EXIT_OK) return status == HELP_SHOWN ? EXIT_OK : status;
    status = cli_open(cli, false);
    if (status != EXIT_OK) return status;
    kdb_get_stats(cli->db, &before);
    rc = kdb_compact(cli->db);
    kdb_get_stats(cli->db, &after);
    if (rc < 0) {
        cli_error("compact: %s", kdb_strerror(rc));
        status = EXIT_FAIL;
    } else if (json) {
        status = cli_print_json(
            json_pack("{s:I, s:I, s:I, s:I}", "tables_before", (json_int_t)before.table_count,
                      "bytes_before", (json_int_t)before.table_bytes, "tables_after",
                      (json_int_t)after.table_count, "bytes_after", (json_int_t)after.table_bytes));
    } else {
        printf("%llu tables (%llu bytes) and the log compacted into %llu (%llu bytes)\n",
               (unsigned long long)before.table_count, (unsigned long long)before.table_bytes,
               (unsigned long long)after.table_count, (unsigned long long)after.table_bytes);
    }
    status = cli_finish_output(status);
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}

int cmd_sync(struct cli *cli, int argc, char **argv)
{
    int rc, status = parse_simple(argc, argv, "sync",
                                  "Makes every change made so far durable. Each kausal command\n"
                                  "that changes the database already syncs before it exits.\n",
                                  NULL);

    if (status != EXIT_OK) return status == HELP_SHOWN ? EXIT_OK : status;
    status = cli_open(cli, false);
    if (status != EXIT_OK) return status;
    rc = kdb_sync(cli->db);
    if (rc < 0) {
        cli_error("sync: %s", kdb_strerror(rc));
        status = EXIT_FAIL;
    }
    if (cli_close(cli) != EXIT_OK) status = EXIT_FAIL;
    return status;
}
