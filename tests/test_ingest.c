/* SPDX-License-Identifier: MIT */
/*
 * test_ingest.c: `kausal ingest` on small C trees.
 *
 * Goal: every block kind (file, function, struct, union, enum, typedef,
 * macro, variable) and edge type (contains, defined_in, imports, calls,
 * references) comes out of a tree that holds them, with the metadata and
 * exact text promised; the traps are handled (an export macro before a
 * definition keeps the name; a statement-like macro in a body neither
 * splits it nor hides its calls; every #if branch is seen; a static
 * definition in the caller's file wins; an ambiguous name gets no edge);
 * a file with a syntax error still gives what can be read; re-ingesting an
 * unchanged tree writes nothing; an edit changes only its blocks; a file
 * renamed or deleted takes its blocks and edges with it.
 * Method: the kausal program ($KAUSAL_BIN) on trees written to a fresh
 * directory under $TMPDIR, checked through `kausal get` and `kausal edges`
 * with ids computed here as the ingester computes them.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "kdb.h"

struct fixture {
    char dir[256];
    char db[300];
    char tree[300];
    char out[1 << 16];
};

/* Runs a shell command; standard output into f->out; returns the exit status. */
#define sh(f, ...) test_sh((f)->out, sizeof((f)->out), __VA_ARGS__)

static void write_file(struct fixture *f, const char *path, const char *text)
{
    char full[600], dir[600];
    FILE *out;

    snprintf(full, sizeof(full), "%s/%s", f->tree, path);
    snprintf(dir, sizeof(dir), "%s", full);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(sh(f, "mkdir -p %s", dir), 0);
    out = fopen(full, "w");
    assert_non_null(out);
    assert_int_equal(fputs(text, out) >= 0, 1);
    assert_int_equal(fclose(out), 0);
}

/* The id the ingester gives a symbol, in hex. */
static const char *id_of(const char *path, const char *kind, const char *name)
{
    static char hex[8][KDB_ID_HEX_SIZE + 1];
    static int slot;
    struct kdb_id id;

    slot = (slot + 1) % 8;
    kdb_id_for_symbol(path, strlen(path), kind, strlen(kind), name, strlen(name), &id);
    kdb_id_to_hex(&id, hex[slot]);
    return hex[slot];
}

static void ingest(struct fixture *f)
{
    assert_int_equal(sh(f, "%s ingest %s %s --json --quiet", TEST_KAUSAL, f->db, f->tree), 0);
}

static void expect_out(const struct fixture *f, const char *text)
{
    if (!strstr(f->out, text)) fail_msg("output lacks '%s': %s", text, f->out);
}

static void expect_not(const struct fixture *f, const char *text)
{
    if (strstr(f->out, text)) fail_msg("output has '%s': %s", text, f->out);
}

/* The out-edges of a symbol, "type target" lines. */
static void edges_of(struct fixture *f, const char *path, const char *kind, const char *name)
{
    assert_int_equal(sh(f, "%s -d %s edges %s --out", TEST_KAUSAL, f->db, id_of(path, kind, name)),
                     0);
}

/* "calls ID" as kausal edges prints it, for expect_out(). */
static const char *edge(const char *type, const char *path, const char *kind, const char *name)
{
    static char line[4][128];
    static int slot;

    slot = (slot + 1) % 4;
    snprintf(line[slot], sizeof(line[slot]), " %s %s", type, id_of(path, kind, name));
    return line[slot];
}

static const char a_h[] = "#ifndef A_H\n"
                          "#define A_H\n"
                          "#define MAX(a, b) ((a) > (b) ? pick(a) : (b))\n"
                          "typedef struct point { int x, y; } point_t;\n"
                          "enum mode { M_A, M_B };\n"
                          "union num { int i; float f; };\n"
                          "int pick(int v);\n"
                          "static inline int clamp(int v) { return v < 0 ? 0 : v; }\n"
                          "extern int shared;\n"
                          "#endif\n";

static const char a_c[] = "#include \"a.h\"\n"
                          "#include <stdio.h>\n"
                          "#define API\n"
                          "static int counter;\n"
                          "int shared = 1;\n"
                          "static int helper(int v)\n"
                          "{\n"
                          "    point_t p;\n"
                          "    enum mode m = M_A;\n"
                          "    union num n;\n"
                          "    return v + counter;\n"
                          "}\n"
                          "API int pick(int v) { return helper(v); }\n"
                          "int fact(int n) { return n ? n * fact(n - 1) : clamp(1); }\n"
                          "void vm(void)\n"
                          "{\n"
                          "    for (;;) {\n"
                          "        vmcase(OP_ADD) {\n"
                          "            pick(1);\n"
                          "            vmbreak;\n"
                          "        }\n"
                          "    }\n"
                          "}\n"
                          "#ifdef X\n"
                          "int only_x(void) { return 1; }\n"
                          "#else\n"
                          "int only_y(void) { return pick(2); }\n"
                          "#endif\n";

/* A body read as tokens: casts, sizeof, a member call, a comment and a string. */
#define SHAPES_C                                                                                   \
    "static int shapes(void *v)\n"                                                                 \
    "{\n"                                                                                          \
    "    /* pick(3) in a comment */\n"                                                             \
    "    const char *s = \"pick(4)\";\n"                                                           \
    "    point_t *p = (point_t *)v;\n"                                                             \
    "    struct ops { int (*pick)(int); } o = {0};\n"                                              \
    "    return o.pick(p->x) + (int)sizeof(union num) + s[0] + helper(1);\n"                       \
    "}\n"

static const char b_c[] = "#include \"a.h\"\n"
                          "static int helper(int v) { return v; }\n"
                          "int use(void) { return helper(1) + pick(2) + twin(); }\n" SHAPES_C;

static const char twin_c[] = "int twin(void) { return 0; }\n";

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s/kausal-ingest.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
    snprintf(f->tree, sizeof(f->tree), "%s/tree", f->dir);
    assert_int_equal(sh(f, "%s -d %s init", TEST_KAUSAL, f->db), 0);
    write_file(f, "src/a.h", a_h);
    write_file(f, "src/a.c", a_c);
    write_file(f, "src/b.c", b_c);
    write_file(f, "lib/one/twin.c", twin_c); /* twin twice, in other directories: ambiguous */
    write_file(f, "lib/two/twin.c", twin_c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    (void)sh(f, "rm -rf %s", f->dir);
    free(f);
    return 0;
}

static void test_ingest_every_kind_and_edge(void **state)
{
    struct fixture *f = *state;

    ingest(f);
    expect_out(f, "\"files\":5");
    /* Each kind, with its metadata and its exact text. */
    assert_int_equal(
        sh(f, "%s -d %s get %s --json", TEST_KAUSAL, f->db, id_of("src/a.c", "function", "helper")),
        0);
    expect_out(f, "\"source_uri\":\"src/a.c\"");
    expect_out(f, "\"kind\":\"function\",\"name\":\"helper\",\"lang\":\"c\",\"line_start\":6,"
                  "\"line_end\":12,\"static\":true");
    assert_int_equal(
        sh(f, "%s -d %s get %s", TEST_KAUSAL, f->db, id_of("src/a.c", "function", "pick")), 0);
    assert_string_equal(f->out, "API int pick(int v) { return helper(v); }");
    static const char *const kinds[][3] = {
        {"src/a.h", "struct", "point"},     {"src/a.h", "typedef", "point_t"},
        {"src/a.h", "enum", "mode"},        {"src/a.h", "union", "num"},
        {"src/a.h", "macro", "MAX"},        {"src/a.h", "macro", "A_H"},
        {"src/a.c", "variable", "counter"}, {"src/a.c", "variable", "shared"},
        {"src/a.c", "function", "vm"},      {"src/a.c", "function", "only_x"},
        {"src/a.c", "function", "only_y"},  {"src/a.c", "file", "src/a.c"},
        {"src/b.c", "function", "helper"},  {"lib/one/twin.c", "function", "twin"},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (sh(f, "%s -d %s get %s --meta", TEST_KAUSAL, f->db,
               id_of(kinds[i][0], kinds[i][1], kinds[i][2])) != 0)
            fail_msg("no %s %s in %s", kinds[i][1], kinds[i][2], kinds[i][0]);
    }
    /* Neither a prototype, an extern declaration nor a statement-like macro is a block. */
    assert_int_not_equal(sh(f, "%s -d %s get %s 2>/dev/null", TEST_KAUSAL, f->db,
                            id_of("src/a.h", "function", "pick")),
                         0);
    assert_int_not_equal(sh(f, "%s -d %s get %s 2>/dev/null", TEST_KAUSAL, f->db,
                            id_of("src/a.h", "variable", "shared")),
                         0);
    assert_int_not_equal(sh(f, "%s -d %s get %s 2>/dev/null", TEST_KAUSAL, f->db,
                            id_of("src/a.c", "function", "vmcase")),
                         0);

    /* calls: the caller's own static helper first; across files the one definition. */
    edges_of(f, "src/a.c", "function", "pick");
    expect_out(f, edge("calls", "src/a.c", "function", "helper"));
    expect_out(f, edge("defined_in", "src/a.c", "file", "src/a.c"));
    edges_of(f, "src/b.c", "function", "use");
    expect_out(f, edge("calls", "src/b.c", "function", "helper"));
    expect_out(f, edge("calls", "src/a.c", "function", "pick"));
    expect_not(f, edge("calls", "src/a.c", "function", "helper"));
    expect_not(f, edge("calls", "lib/one/twin.c", "function", "twin")); /* ambiguous */
    expect_not(f, edge("calls", "lib/two/twin.c", "function", "twin"));
    /* A static inline function of a header is every includer's; a recursive call is an edge. */
    edges_of(f, "src/a.c", "function", "fact");
    expect_out(f, edge("calls", "src/a.h", "function", "clamp"));
    expect_out(f, edge("calls", "src/a.c", "function", "fact"));
    edges_of(f, "src/a.c", "function", "vm"); /* the call inside vmcase(...) { } */
    expect_out(f, edge("calls", "src/a.c", "function", "pick"));
    edges_of(f, "src/a.c", "function", "only_y");
    expect_out(f, edge("calls", "src/a.c", "function", "pick"));
    edges_of(f, "src/a.h", "macro", "MAX"); /* a macro's body calls too */
    expect_out(f, edge("calls", "src/a.c", "function", "pick"));
    /* references: the types a function uses. */
    edges_of(f, "src/a.c", "function", "helper");
    expect_out(f, edge("references", "src/a.h", "typedef", "point_t"));
    expect_out(f, edge("references", "src/a.h", "enum", "mode"));
    expect_out(f, edge("references", "src/a.h", "union", "num"));
    /* A body is read as tokens: a cast, sizeof and a declaration name types; a member,
     * a comment and a string call nothing. */
    edges_of(f, "src/b.c", "function", "shapes");
    expect_out(f, edge("references", "src/a.h", "typedef", "point_t"));
    expect_out(f, edge("references", "src/a.h", "union", "num"));
    expect_out(f, edge("calls", "src/b.c", "function", "helper"));
    expect_not(f, edge("calls", "src/a.c", "function", "pick"));
    /* Names where ids go: NAME, FILE:NAME; an ambiguous one lists its candidates. */
    assert_int_equal(sh(f, "%s -d %s callers pick --json", TEST_KAUSAL, f->db), 0);
    expect_out(f, "\"name\":\"use\",\"kind\":\"function\",\"line_start\":3");
    expect_out(f, "\"source_uri\":\"src/b.c\"");
    assert_int_equal(sh(f, "%s -d %s callees a.c:pick", TEST_KAUSAL, f->db), 0);
    expect_out(f, id_of("src/a.c", "function", "helper"));
    assert_int_equal(sh(f, "%s -d %s callers helper 2>&1", TEST_KAUSAL, f->db), 1);
    expect_out(f, "names 2 symbols");
    expect_out(f, "src/a.c:6");
    expect_out(f, "src/b.c:2");
    assert_int_equal(sh(f, "%s -d %s callers b.c:helper", TEST_KAUSAL, f->db), 0);
    expect_out(f, id_of("src/b.c", "function", "use"));
    assert_int_equal(sh(f, "%s -d %s get point_t", TEST_KAUSAL, f->db), 0);
    expect_out(f, "typedef struct point");
    assert_int_equal(sh(f, "%s -d %s callers nosuch 2>&1", TEST_KAUSAL, f->db), 1);
    expect_out(f, "nor the name of an ingested symbol");
    /* imports and contains. */
    edges_of(f, "src/b.c", "file", "src/b.c");
    expect_out(f, edge("imports", "src/a.h", "file", "src/a.h"));
    expect_out(f, edge("contains", "src/b.c", "function", "use"));
}

static void test_ingest_reads_past_a_syntax_error(void **state)
{
    struct fixture *f = *state;

    /* An error inside a body: the rest of the file is read as ever. */
    write_file(f, "src/broken.c",
               "int before(void) { return 1; }\n"
               "int broken(void) { int x = (1 + ; return x; }\n"
               "int after(void) { return before(); }\n");
    /* Text that is not C at all: what comes before it is still read. */
    write_file(f, "src/garbage.c",
               "int kept(void) { return 1; }\n"
               "@@@ }}} not C ((( @@@\n");
    /* A loop macro without braces reads to the grammar as an old-style definition that
     * takes the next function's body, and the braces never balance again: each function
     * still ends at its closing brace, and the ones after it are found. */
    write_file(f, "src/percpu.c",
               "unsigned long long count(void)\n"
               "{\n"
               "\tint i;\n"
               "\tunsigned long long sum = 0;\n"
               "\n"
               "\tfor_each_possible_cpu(i)\n"
               "\t\tsum += cpu_rq(i)->nr_switches;\n"
               "\n"
               "\treturn sum;\n"
               "}\n"
               "\n"
               "unsigned int after_loop(int cpu)\n"
               "{\n"
               "\treturn count();\n"
               "}\n"
               "\n"
               "static int last(void)\n"
               "{\n"
               "\treturn after_loop(0);\n"
               "}\n");
    ingest(f);
    /* garbage.c, and a.c's export macro (API int pick): errors at file scope. An error
     * inside a function body is not one the grammar sees, as bodies are read as tokens. */
    expect_out(f, "\"files_with_syntax_errors\":2");
    assert_int_equal(
        sh(f, "%s -d %s get %s", TEST_KAUSAL, f->db, id_of("src/percpu.c", "function", "count")),
        0);
    assert_string_equal(f->out, "unsigned long long count(void)\n{\n\tint i;\n"
                                "\tunsigned long long sum = 0;\n\n\tfor_each_possible_cpu(i)\n"
                                "\t\tsum += cpu_rq(i)->nr_switches;\n\n\treturn sum;\n}");
    edges_of(f, "src/percpu.c", "function", "after_loop");
    expect_out(f, edge("calls", "src/percpu.c", "function", "count"));
    edges_of(f, "src/percpu.c", "function", "last");
    expect_out(f, edge("calls", "src/percpu.c", "function", "after_loop"));
    assert_int_equal(
        sh(f, "%s -d %s get %s", TEST_KAUSAL, f->db, id_of("src/garbage.c", "function", "kept")),
        0);
    assert_string_equal(f->out, "int kept(void) { return 1; }");
    assert_int_equal(sh(f, "%s -d %s get %s --meta", TEST_KAUSAL, f->db,
                        id_of("src/broken.c", "function", "broken")),
                     0);
    edges_of(f, "src/broken.c", "function", "after");
    expect_out(f, edge("calls", "src/broken.c", "function", "before"));
}

static void test_ingest_again_writes_only_what_changed(void **state)
{
    struct fixture *f = *state;

    ingest(f);
    ingest(f); /* unchanged: nothing written */
    expect_out(f, "\"blocks_written\":0");
    expect_out(f, "\"edges_added\":0");
    expect_out(f, "\"edges_removed\":0");
    assert_int_equal(sh(f, "%s -d %s stats --json", TEST_KAUSAL, f->db), 0);
    {
        char before[64];
        const char *at = strstr(f->out, "\"last_sequence\"");
        assert_non_null(at);
        snprintf(before, sizeof(before), "%.*s", (int)strcspn(at, ","), at);
        ingest(f);
        assert_int_equal(sh(f, "%s -d %s stats --json", TEST_KAUSAL, f->db), 0);
        expect_out(f, before); /* not one change in the log */
    }
    /* An edit: the file and the one function change; helper stops being called. */
    write_file(f, "src/b.c",
               "#include \"a.h\"\n"
               "static int helper(int v) { return v; }\n"
               "int use(void) { return pick(2); }\n" SHAPES_C);
    ingest(f);
    expect_out(f, "\"blocks_written\":4"); /* and the file's two records in the ingest state */
    expect_out(f, "\"edges_removed\":1");
    edges_of(f, "src/b.c", "function", "use");
    expect_not(f, edge("calls", "src/b.c", "function", "helper"));
    /* A rename: the old file's blocks and edges go, the new one's come. */
    assert_int_equal(sh(f, "mv %s/src/b.c %s/src/c.c", f->tree, f->tree), 0);
    ingest(f);
    assert_int_not_equal(sh(f, "%s -d %s get %s 2>/dev/null", TEST_KAUSAL, f->db,
                            id_of("src/b.c", "function", "use")),
                         0);
    assert_int_equal(
        sh(f, "%s -d %s callers %s", TEST_KAUSAL, f->db, id_of("src/a.c", "function", "pick")), 0);
    expect_out(f, id_of("src/c.c", "function", "use"));
    expect_not(f, id_of("src/b.c", "function", "use"));
    /* A deletion: gone with every edge, from both sides. */
    assert_int_equal(sh(f, "rm %s/src/c.c", f->tree), 0);
    ingest(f);
    expect_out(f, "\"files\":4");
    assert_int_equal(
        sh(f, "%s -d %s edges %s --in", TEST_KAUSAL, f->db, id_of("src/a.h", "file", "src/a.h")),
        0);
    expect_not(f, id_of("src/c.c", "file", "src/c.c"));
    assert_int_equal(sh(f, "%s -d %s check", TEST_KAUSAL, f->db), 0);
}

/* Sets the files under path (relative to the tree) to a time long past, so that their stamps are
 * trusted: a file changed in the last seconds is read again whatever its stamp says. */
static void age(struct fixture *f, const char *path, const char *when)
{
    assert_int_equal(sh(f, "find %s/%s -type f -exec touch -d %s {} +", f->tree, path, when), 0);
}

/*
 * A file unchanged since the last ingest is not read again, and the graph
 * is still the one a full read makes: an edit inside a body changes its
 * file's edges; a new symbol, or a file gone, changes how names resolve in
 * files that were not read.
 */
static void test_ingest_reads_only_changed_files(void **state)
{
    struct fixture *f = *state;

    age(f, "", "2020-01-01");
    ingest(f);
    expect_out(f, "\"files_read\":5");
    ingest(f);
    expect_out(f, "\"files_read\":0");
    expect_out(f, "\"blocks_written\":0");
    expect_out(f, "\"edges_added\":0");
    /* A body edited, the same symbols: that file alone is read, and its edges follow. */
    write_file(f, "src/b.c",
               "#include \"a.h\"\n"
               "static int helper(int v) { return v; }\n"
               "int use(void) { return helper(1) + twin() + later(); }\n");
    age(f, "src/b.c", "2020-01-02");
    ingest(f);
    expect_out(f, "\"files_read\":1");
    expect_out(f, "\"edges_removed\":1"); /* use no longer calls pick */
    edges_of(f, "src/b.c", "function", "use");
    expect_out(f, edge("calls", "src/b.c", "function", "helper"));
    expect_not(f, edge("calls", "src/a.c", "function", "pick"));
    /* A new symbol elsewhere: b.c, not read, gets its call of it. */
    write_file(f, "lib/one/twin.c",
               "int twin(void) { return 0; }\nint later(void) { return 1; }\n");
    age(f, "lib/one/twin.c", "2020-01-02");
    ingest(f);
    expect_out(f, "\"files_read\":1");
    edges_of(f, "src/b.c", "function", "use");
    expect_out(f, edge("calls", "lib/one/twin.c", "function", "later"));
    expect_not(f, edge("calls", "lib/one/twin.c", "function", "twin")); /* twin is still two */
    /* A file gone: twin is one now, and b.c, not read, calls it. */
    assert_int_equal(sh(f, "rm %s/lib/two/twin.c", f->tree), 0);
    ingest(f);
    expect_out(f, "\"files_read\":0");
    edges_of(f, "src/b.c", "function", "use");
    expect_out(f, edge("calls", "lib/one/twin.c", "function", "twin"));
    /* A damaged state counts as none: every file is read, and the graph is the same. */
    {
        char root[PATH_MAX];
        assert_non_null(realpath(f->tree, root));
        for (unsigned shard = 0; shard < 256; shard++) {
            char number[8];
            struct kdb_id id;
            char hex[KDB_ID_HEX_SIZE + 1];
            snprintf(number, sizeof(number), "%u", shard);
            kdb_id_for_symbol(root, strlen(root), "ingest-state", 12, number, strlen(number), &id);
            kdb_id_to_hex(&id, hex);
            (void)sh(f,
                     "%s -d %s get %s >/dev/null 2>&1 && printf 'KIS2\\377\\377' | %s -d %s put %s",
                     TEST_KAUSAL, f->db, hex, TEST_KAUSAL, f->db, hex);
        }
    }
    ingest(f);
    expect_out(f, "\"files_read\":4");
    expect_out(f, "\"edges_added\":0");
    expect_out(f, "\"edges_removed\":0");
    edges_of(f, "src/b.c", "function", "use");
    expect_out(f, edge("calls", "lib/one/twin.c", "function", "twin"));
    /* --full reads every file, and finds nothing to change. */
    assert_int_equal(sh(f, "%s ingest %s %s --json --quiet --full", TEST_KAUSAL, f->db, f->tree),
                     0);
    expect_out(f, "\"files_read\":4");
    expect_out(f, "\"blocks_written\":0");
    expect_out(f, "\"edges_added\":0");
    expect_out(f, "\"edges_removed\":0");
    assert_int_equal(sh(f, "%s -d %s check", TEST_KAUSAL, f->db), 0);
}

/*
 * Writes dir/file of count lines, awk's printf of line (its program text,
 * quoted) with i and i for i from 0; then dates the tree back and ingests it.
 */
static void generate_and_ingest(struct fixture *f, const char *dir, const char *file,
                                unsigned count, const char *line)
{
    assert_int_equal(sh(f,
                        "mkdir -p %s/%s && awk 'BEGIN { for (i = 0; i < %u; i++) printf %s, i, i }'"
                        " > %s/%s/%s",
                        f->tree, dir, count, line, f->tree, dir, file),
                     0);
    age(f, "", "2020-01-01");
    ingest(f);
}

/*
 * A generated header too big for its symbols to be kept in the state (64,000
 * macros with 200-character names) keeps a digest of them: it is read each
 * time, but while its symbols stay the same no other file is linked again,
 * and when they change every file is.
 */
static void test_ingest_a_header_too_big_for_the_state(void **state)
{
    struct fixture *f = *state;

    generate_and_ingest(f, "lib/big", "regs.h", 64000, "\"#define REG_%0195d %d\\n\"");
    expect_out(f, "\"files_read\":6");
    ingest(f);
    expect_out(f, "\"files_read\":1"); /* the header, each time */
    expect_out(f, "\"edges\":128000"); /* its contains and defined_in, and no other file's */
    expect_out(f, "\"blocks_written\":0");
    /* One macro fewer: its block goes, and every file is linked again. */
    assert_int_equal(sh(f, "sed -i '$d' %s/lib/big/regs.h", f->tree), 0);
    age(f, "lib/big", "2020-01-02");
    ingest(f);
    expect_out(f, "\"files_read\":1");
    expect_out(f, "\"blocks_deleted\":1");
    {
        const char *at = strstr(f->out, "\"edges\":");
        long edges = at ? strtol(at + 8, NULL, 10) : 0;
        assert_true(edges > 127998); /* the header's, and every other file's */
    }
    assert_int_equal(sh(f, "%s -d %s check", TEST_KAUSAL, f->db), 0);
}

/* The registry block (kausal(1), INGEST), in hex. */
static const char *registry_hex(void)
{
    static char hex[KDB_ID_HEX_SIZE + 1];
    struct kdb_id id;

    kdb_id_for_symbol("", 0, "registry", 8, "trees", 5, &id);
    kdb_id_to_hex(&id, hex);
    return hex;
}

/* Whether kausal get finds each function gen_N, N from 0 by step below count: "found K". */
static void get_generated(struct fixture *f, unsigned step, unsigned count)
{
    assert_int_equal(sh(f,
                        "n=0; for i in $(seq 0 %u %u); do %s -d %s get gen_$i | grep -q "
                        "\"return $i;\" && n=$((n+1)); done; echo found $n",
                        step, count - 1, TEST_KAUSAL, f->db),
                     0);
}

/*
 * The name index has as many shards as the tree needs, 64 at the least: a
 * tree of 5,000 functions more has 128, which the registry says, and every
 * name finds its symbol. A registry line of the root alone (as an index
 * written before the count could vary has it) is read as 64 shards; the
 * next ingest writes the line with its count and nothing else.
 */
static void test_ingest_name_index_grows_with_the_tree(void **state)
{
    struct fixture *f = *state;
    char root[PATH_MAX], line[PATH_MAX + 16];

    assert_non_null(realpath(f->tree, root));
    ingest(f);
    assert_int_equal(sh(f, "%s -d %s get %s", TEST_KAUSAL, f->db, registry_hex()), 0);
    snprintf(line, sizeof(line), "%s\t64\n", root);
    assert_string_equal(f->out, line);
    /* The line of an older index: the root alone. */
    assert_int_equal(
        sh(f, "printf '%%s\\n' '%s' | %s -d %s put %s", root, TEST_KAUSAL, f->db, registry_hex()),
        0);
    assert_int_equal(sh(f, "%s -d %s get clamp", TEST_KAUSAL, f->db), 0);
    expect_out(f, "return v < 0");
    ingest(f);
    expect_out(f, "\"blocks_written\":1");
    assert_int_equal(sh(f, "%s -d %s get %s", TEST_KAUSAL, f->db, registry_hex()), 0);
    assert_string_equal(f->out, line);

    /* 5,000 functions more: 128 shards, every one written, each name found. */
    generate_and_ingest(f, "gen", "gen.c", 5000, "\"int gen_%d(void) { return %d; }\\n\"");
    assert_int_equal(sh(f, "%s -d %s get %s", TEST_KAUSAL, f->db, registry_hex()), 0);
    snprintf(line, sizeof(line), "%s\t128\n", root);
    assert_string_equal(f->out, line);
    get_generated(f, 7, 5000); /* 715 names, in every shard or nearly */
    expect_out(f, "found 715");
    assert_int_equal(sh(f, "%s -d %s get clamp", TEST_KAUSAL, f->db), 0);
    expect_out(f, "return v < 0");
    /* An edit patches the shards it touches, at 128. */
    assert_int_equal(
        sh(f, "printf 'int gen_5000(void) { return 5000; }\\n' >> %s/gen/gen.c", f->tree), 0);
    age(f, "gen", "2020-01-02");
    ingest(f);
    expect_out(f, "\"files_read\":1");
    get_generated(f, 1000, 5001);
    expect_out(f, "found 6");
    assert_int_equal(sh(f, "%s -d %s check", TEST_KAUSAL, f->db), 0);
}

/* In a git checkout, what git ignores is not ingested; untracked files it does not ignore are. */
static void test_ingest_follows_git(void **state)
{
    struct fixture *f = *state;

    if (sh(f, "git --version >/dev/null 2>&1") != 0) skip(); /* no git: trees are walked */
    assert_int_equal(sh(f,
                        "cd %s && git init -q . && printf 'ignored/\\n' > .gitignore &&"
                        " mkdir -p ignored && printf 'int hidden(void) { return 0; }\\n' >"
                        " ignored/hidden.c && git add src/a.c && git -c user.name=t"
                        " -c user.email=t@t commit -qm t",
                        f->tree),
                     0);
    ingest(f);
    expect_out(f, "\"files\":5"); /* src/a.c tracked, the rest untracked but not ignored */
    assert_int_not_equal(sh(f, "%s -d %s get %s 2>/dev/null", TEST_KAUSAL, f->db,
                            id_of("ignored/hidden.c", "function", "hidden")),
                         0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ingest_every_kind_and_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_reads_past_a_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_again_writes_only_what_changed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_reads_only_changed_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_a_header_too_big_for_the_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_name_index_grows_with_the_tree, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_follows_git, setup, teardown),
    };
    return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
