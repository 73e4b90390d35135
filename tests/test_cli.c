/* SPDX-License-Identifier: MIT */
/*
 * test_cli.c: the kausal command, run as a user runs it.
 *
 * Goal: every subcommand does what its help says on a real database
 * directory, its output can be read by a script (plain and --json), and
 * every mistake gets a message and the documented exit status (1 failed,
 * 2 bad usage) with the database unchanged.
 * Method: the binary ($KAUSAL_BIN, default build/kausal) in a child
 * process, with standard input, output and error in temporary files, on a
 * fresh directory under $TMPDIR for each test.
 */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define ARGS_MAX 24

struct output {
    int status; /* exit status, or 128 + signal */
    char out[1 << 16];
    char err[1 << 12];
};

struct fixture {
    char dir[256]; /* the test's scratch directory */
    char db[300];  /* the database in it */
    struct output o;
};

static const char *binary(void)
{
    const char *env = getenv("KAUSAL_BIN");
    return env && *env ? env : "build/kausal";
}

/* Reads what a temporary file holds into buf, NUL-terminated. */
static void slurp(FILE *f, char *buf, size_t size)
{
    size_t n;

    rewind(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs kausal with args (NULL-terminated) and input on standard input. */
static void run_input(struct fixture *f, const char *input, const char *const *args)
{
    const char *argv[ARGS_MAX + 2] = {binary()};
    FILE *in = tmpfile(), *out = tmpfile(), *err = tmpfile();
    size_t n = 0;
    pid_t pid;
    int status;

    assert_non_null(in);
    assert_non_null(out);
    assert_non_null(err);
    while (args[n]) {
        assert_true(n < ARGS_MAX);
        argv[n + 1] = args[n];
        n++;
    }
    if (input) assert_int_equal(fwrite(input, 1, strlen(input), in), strlen(input));
    assert_int_equal(fflush(in), 0);
    rewind(in);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fileno(in), 0);
        dup2(fileno(out), 1);
        dup2(fileno(err), 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    fclose(in);
    f->o.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    slurp(out, f->o.out, sizeof(f->o.out));
    slurp(err, f->o.err, sizeof(f->o.err));
    if (f->o.status == 127) fail_msg("cannot run %s (build it first: make)", argv[0]);
}

#define RUN(f, ...)           run_input((f), NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_IN(f, input, ...) run_input((f), (input), (const char *const[]){__VA_ARGS__, NULL})

/* The last run's status, and a failure that shows what it printed. */
static void expect_status(const struct fixture *f, int status)
{
    if (f->o.status != status)
        fail_msg("exit status %d, expected %d\nstdout: %s\nstderr: %s", f->o.status, status,
                 f->o.out, f->o.err);
}

static void expect_out(const struct fixture *f, const char *text)
{
    if (!strstr(f->o.out, text)) fail_msg("stdout lacks '%s': %s", text, f->o.out);
}

static void expect_err(const struct fixture *f, const char *text)
{
    if (!strstr(f->o.err, text)) fail_msg("stderr lacks '%s': %s", text, f->o.err);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s/kausal-cli.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
    RUN(f, "-d", f->db, "init");
    expect_status(f, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char command[600];

    snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
    assert_int_equal(system(command), 0);
    free(f);
    return 0;
}

/* Puts a function block named name; returns its id (static storage per slot). */
static const char *put_function(struct fixture *f, const char *name, const char *code, int slot)
{
    static char ids[4][40];
    char meta[128], uri[64];

    snprintf(meta, sizeof(meta), "{\"kind\":\"function\",\"name\":\"%s\"}", name);
    snprintf(uri, sizeof(uri), "src/%s.c", name);
    RUN_IN(f, code, "-d", f->db, "put", "--uri", uri, "--meta", meta);
    expect_status(f, 0);
    assert_int_equal(strlen(f->o.out), 33); /* 32 hex digits and a newline */
    memcpy(ids[slot], f->o.out, 32);
    ids[slot][32] = '\0';
    return ids[slot];
}

static void test_cli_help_and_usage(void **state)
{
    struct fixture *f = *state;
    static const char *const commands[] = {"init",   "put",   "get",     "rm",      "link",
                                           "unlink", "edges", "callers", "callees", "trace",
                                           "path",   "stats", "check",   "compact", "sync"};

    RUN(f, "--help");
    expect_status(f, 0);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        expect_out(f, commands[i]);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        RUN(f, commands[i], "--help");
        expect_status(f, 0);
        expect_out(f, "usage: kausal");
        assert_null(strstr(f->o.err, "kausal"));
    }
    RUN(f, "frobnicate");
    expect_status(f, 2);
    expect_err(f, "not a command");
    RUN(f, "--no-such-option");
    expect_status(f, 2);
    RUN(f, "-d", f->db, "get", "--bogus", "00000000000000000000000000000000");
    expect_status(f, 2);
    expect_err(f, "--help");
    RUN(f, "-d", f->db);
    expect_status(f, 2);
}

static void test_cli_put_get_rm(void **state)
{
    struct fixture *f = *state;
    const char *id;
    char path[400];
    FILE *file;

    id = put_function(f, "main", "int main(void) { return 0; }\n", 0);
    RUN(f, "-d", f->db, "get", id);
    expect_status(f, 0);
    assert_string_equal(f->o.out, "int main(void) { return 0; }\n");
    RUN(f, "-d", f->db, "get", "--meta", id);
    expect_status(f, 0);
    assert_string_equal(f->o.out, "{\"kind\":\"function\",\"name\":\"main\"}\n");
    RUN(f, "-d", f->db, "get", id, "--json");
    expect_status(f, 0);
    expect_out(f, "\"source_uri\":\"src/main.c\"");
    expect_out(f, "\"metadata\":{\"kind\":\"function\",\"name\":\"main\"}");
    expect_out(f, "\"content\":\"int main(void) { return 0; }\\n\"");
    /* The same symbol again: the same id, a new version, the new content. */
    assert_string_equal(put_function(f, "main", "int main(void) { return 1; }\n", 1), id);
    RUN(f, "-d", f->db, "get", id);
    assert_string_equal(f->o.out, "int main(void) { return 1; }\n");
    /* An explicit id, content from a file, binary content as base64. */
    snprintf(path, sizeof(path), "%s/blob", f->dir);
    file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite("\xff\x00\x01", 1, 3, file), 3);
    assert_int_equal(fclose(file), 0);
    RUN(f, "-d", f->db, "put", "0123456789abcdef0123456789abcdef", "--file", path, "--json");
    expect_status(f, 0);
    expect_out(f, "{\"id\":\"0123456789abcdef0123456789abcdef\",\"version\":");
    RUN(f, "-d", f->db, "get", "0123456789ABCDEF0123456789ABCDEF", "--json");
    expect_status(f, 0);
    expect_out(f, "\"content_base64\":\"/wAB\"");
    RUN(f, "-d", f->db, "rm", "0123456789abcdef0123456789abcdef");
    expect_status(f, 0);
    RUN(f, "-d", f->db, "get", "0123456789abcdef0123456789abcdef");
    expect_status(f, 1);
    expect_err(f, "no such block");
    RUN(f, "-d", f->db, "rm", "0123456789abcdef0123456789abcdef");
    expect_status(f, 1);

    /* Mistakes: exit 2 for the command line, 1 for what cannot be done. */
    RUN(f, "-d", f->db, "get", "xyz"); /* neither an id nor a name ingest gave */
    expect_status(f, 1);
    expect_err(f, "neither an id (32 hex digits) nor the name of an ingested symbol");
    RUN(f, "-d", f->db, "get");
    expect_status(f, 2);
    RUN_IN(f, "x", "-d", f->db, "put");
    expect_status(f, 2);
    expect_err(f, "--uri");
    RUN_IN(f, "x", "-d", f->db, "put", "--uri", "a.c", "--meta", "[1]");
    expect_status(f, 2);
    expect_err(f, "JSON object");
    RUN(f, "-d", f->db, "put", "--uri", "a.c", "--file", "/nonexistent/file");
    expect_status(f, 1);
    expect_err(f, "/nonexistent/file");
    RUN(f, "-d", f->dir, "stats"); /* a directory that is not a database */
    expect_status(f, 1);
    expect_err(f, "not a KausalDB database");
}

static void test_cli_edges_and_queries(void **state)
{
    struct fixture *f = *state;
    char main_id[40], helper[40], util[40];

    snprintf(main_id, sizeof(main_id), "%s",
             put_function(f, "main", "int main(void) { return helper(); }\n", 0));
    snprintf(helper, sizeof(helper), "%s",
             put_function(f, "helper", "int helper(void) { return util(); }\n", 1));
    snprintf(util, sizeof(util), "%s",
             put_function(f, "util", "int util(void) { return 0; }\n", 2));
    RUN(f, "-d", f->db, "link", main_id, "calls", helper);
    expect_status(f, 0);
    RUN(f, "-d", f->db, "link", main_id, "calls", helper); /* again: fine, no change */
    expect_status(f, 0);
    RUN(f, "-d", f->db, "link", helper, "calls_function", util);
    expect_status(f, 0);
    RUN(f, "-d", f->db, "link", util, "references", main_id);
    expect_status(f, 0);

    RUN(f, "-d", f->db, "edges", helper);
    expect_status(f, 0);
    expect_out(f, "calls_function");
    assert_int_equal(strlen(f->o.out),
                     2 * (32 + 1 + 32 + 1) + strlen("calls_function") + strlen("calls") + 2);
    RUN(f, "-d", f->db, "edges", helper, "--in", "--json");
    expect_status(f, 0);
    expect_out(f, "[{\"source\":\"");
    expect_out(f, "\"type\":\"calls\"");
    RUN(f, "-d", f->db, "edges", helper, "--out", "--type", "calls");
    expect_status(f, 0);
    assert_string_equal(f->o.out, "");

    RUN(f, "-d", f->db, "callers", helper);
    expect_status(f, 0);
    expect_out(f, "\tmain\tsrc/main.c\n");
    RUN(f, "-d", f->db, "callees", helper, "--json");
    expect_status(f, 0);
    expect_out(f, "\"name\":\"util\"");
    expect_out(f, "\"type\":\"calls_function\"");

    RUN(f, "-d", f->db, "trace", main_id, "--depth", "5");
    expect_status(f, 0);
    expect_out(f, "\t-calls->\thelper\n");
    expect_out(f, "2\t");
    expect_out(f, "\t-calls_function->\tutil\n");
    RUN(f, "-d", f->db, "trace", main_id, "--depth", "1", "--json");
    expect_status(f, 0);
    assert_null(strstr(f->o.out, "util"));
    RUN(f, "-d", f->db, "trace", util, "--direction", "in", "--type", "calls_function");
    expect_status(f, 0);
    expect_out(f, "<-calls_function-\thelper");
    assert_null(strstr(f->o.out, "main"));

    RUN(f, "-d", f->db, "path", main_id, util);
    expect_status(f, 0);
    expect_out(f, "-calls->\thelper\n");
    expect_out(f, "\t-calls_function->\tutil\n");
    RUN(f, "-d", f->db, "path", util, helper, "--type", "calls");
    expect_status(f, 1);
    expect_err(f, "no path");
    RUN(f, "-d", f->db, "path", util, helper); /* util -references-> main -calls-> helper */
    expect_status(f, 0);
    expect_out(f, "-references->\tmain");

    /* Mistakes. */
    RUN(f, "-d", f->db, "link", main_id, "callz", helper);
    expect_status(f, 2);
    expect_err(f, "not an edge type");
    RUN(f, "-d", f->db, "link", main_id, "calls", "ffffffffffffffffffffffffffffffff");
    expect_status(f, 1);
    expect_err(f, "ffffffffffffffffffffffffffffffff: no such block");
    RUN(f, "-d", f->db, "unlink", main_id, "contains", helper);
    expect_status(f, 1);
    expect_err(f, "no edge");
    RUN(f, "-d", f->db, "trace", main_id, "--depth", "-1");
    expect_status(f, 2);
    RUN(f, "-d", f->db, "trace", main_id, "--direction", "sideways");
    expect_status(f, 2);
    RUN(f, "-d", f->db, "edges", "ffffffffffffffffffffffffffffffff");
    expect_status(f, 1);

    /* Deleting a block takes its edges, both ways. */
    RUN(f, "-d", f->db, "rm", helper);
    expect_status(f, 0);
    RUN(f, "-d", f->db, "edges", main_id);
    expect_status(f, 0);
    assert_null(strstr(f->o.out, "calls "));
    RUN(f, "-d", f->db, "unlink", util, "references", main_id);
    expect_status(f, 0);
    RUN(f, "-d", f->db, "edges", util);
    assert_string_equal(f->o.out, "");
}

static void test_cli_stats_check_compact_sync(void **state)
{
    struct fixture *f = *state;
    char a[40], b[40], path[400];
    glob_t tables;
    FILE *file;

    snprintf(a, sizeof(a), "%s", put_function(f, "a", "void a(void) {}\n", 0));
    snprintf(b, sizeof(b), "%s", put_function(f, "b", "void b(void) { a(); }\n", 1));
    RUN(f, "-d", f->db, "link", b, "calls", a);
    RUN(f, "-d", f->db, "stats");
    expect_status(f, 0);
    expect_out(f, "blocks: 2\n");
    expect_out(f, "edges: 1\n");
    RUN(f, "-d", f->db, "compact");
    expect_status(f, 0);
    expect_out(f, "compacted into 1");
    RUN(f, "-d", f->db, "stats", "--json");
    expect_status(f, 0);
    expect_out(f, "\"tables\":1");
    expect_out(f, "\"edges\":1");
    RUN(f, "-d", f->db, "check");
    expect_status(f, 0);
    expect_out(f, "ok: ");
    expect_out(f, "3 table records in 1 tables");
    RUN(f, "-d", f->db, "sync");
    expect_status(f, 0);
    RUN(f, "-d", f->db, "stats", "extra");
    expect_status(f, 2);

    /* A flipped byte in the middle of the table (compact left one): check says where, and fails. */
    snprintf(path, sizeof(path), "%s/sst-*.sst", f->db);
    assert_int_equal(glob(path, 0, NULL, &tables), 0);
    assert_int_equal(tables.gl_pathc, 1);
    file = fopen(tables.gl_pathv[0], "r+b");
    globfree(&tables);
    assert_non_null(file);
    assert_int_equal(fseek(file, 80, SEEK_SET), 0); /* inside the first record */
    int c = fgetc(file);
    assert_int_equal(fseek(file, 80, SEEK_SET), 0);
    fputc(c ^ 0x40, file);
    assert_int_equal(fclose(file), 0);
    RUN(f, "-d", f->db, "check");
    expect_status(f, 1);
    expect_err(f, "sst-");
    expect_err(f, "checksum");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cli_help_and_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_put_get_rm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_edges_and_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_stats_check_compact_sync, setup, teardown),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
