/* SPDX-License-Identifier: MIT */
/*
 * test_mount.c: the database mounted with kausalfs, read with real tools.
 *
 * Goal: the mounted tree is the one DESIGN.md promises (README, blocks/,
 * graph/ with symlinks that chain, xattrs, sources/), `ls`, `cat`, `stat`,
 * `getfattr`, `readlink`, `find -L` and `grep -r` read it; writes, truncate,
 * `setfattr`, `ln -s` and `rm` change the database, and each bad input of
 * the contract gets its errno and changes nothing; the kausal command on
 * a mounted database (or on the mountpoint) is served by the daemon and
 * the mount shows its changes at once; a second mount of the same database
 * is refused with the holder named; after an unmount, or a kill -9 of the
 * daemon after an fsync and a lazy unmount, the database holds every
 * fsync'd change, no torn write request, and mounts again; hostile names,
 * links, values and trees get their documented errors and change nothing;
 * a damaged table record fails that block's read (EBADMSG) and no other;
 * a full disk refuses changes while reads go on; the database is its
 * owner's alone, and -o allow_other lets others read but not write.
 * Method: a real FUSE mount ($KAUSALFS_BIN, default build/kausalfs) of a
 * database made with the kausal command ($KAUSAL_BIN), in a fresh
 * directory under $TMPDIR, through shell commands. Every test unmounts in
 * its teardown, pass or fail. Without /dev/fuse the tests are skipped,
 * unless CI=true, where that is a failure.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

struct fixture {
    struct test_mount m;
    char main_id[33];
    char helper_id[33];
    char util_id[33];
};

/* Runs a shell command; its standard output into f->m.out; returns the exit status. */
#define sh(f, ...) test_mount_sh(&(f)->m, __VA_ARGS__)

static void expect_out(const struct fixture *f, const char *text)
{
    if (!strstr(f->m.out, text)) fail_msg("output lacks '%s': %s", text, f->m.out);
}

/* A function block made with kausal; its id into id. */
static void put_function(struct fixture *f, const char *name, const char *code, char *id)
{
    assert_int_equal(sh(f,
                        "printf '%%s' '%s' | %s -d %s put --uri src/%s.c "
                        "--meta '{\"kind\":\"function\",\"name\":\"%s\"}'",
                        code, TEST_KAUSAL, f->m.db, name, name),
                     0);
    assert_int_equal(strlen(f->m.out), 33);
    memcpy(id, f->m.out, 32);
    id[32] = '\0';
}

static int mount_db(struct fixture *f)
{
    return test_mount_db(&f->m, NULL);
}

static void unmount_db(struct fixture *f)
{
    test_unmount_db(&f->m);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *k = TEST_KAUSAL;

    assert_non_null(f);
    *state = f;
    test_mount_start(&f->m, "mount");
    put_function(f, "main", "int main(void) { return helper(); }", f->main_id);
    put_function(f, "helper", "int helper(void) { return util(); }", f->helper_id);
    put_function(f, "util", "int util(void) { return 0; }", f->util_id);
    assert_int_equal(sh(f, "%s -d %s link %s calls %s", k, f->m.db, f->main_id, f->helper_id), 0);
    assert_int_equal(sh(f, "%s -d %s link %s calls %s", k, f->m.db, f->helper_id, f->util_id), 0);
    if (mount_db(f) != 0) fail_msg("kausalfs did not mount: %s", f->m.out);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (!f) return 0;
    test_unmount_db(&f->m);
    (void)sh(f, "umount %s/small 2>/dev/null", f->m.dir); /* test_mount_full_disk's */
    test_mount_end(&f->m);
    free(f);
    return 0;
}

static void test_mount_tree_and_blocks(void **state)
{
    struct fixture *f = *state;
    char expected[128];

    assert_int_equal(sh(f, "ls %s", f->m.mnt), 0);
    assert_string_equal(f->m.out, "README\nblocks\ngraph\nsources\n");
    assert_int_equal(sh(f, "ls -a %s/graph", f->m.mnt), 0);
    assert_int_equal(strncmp(f->m.out, ".\n..\n", 5), 0);
    assert_int_equal(sh(f, "cat %s/README", f->m.mnt), 0);
    expect_out(f, "KausalDB");
    assert_int_equal(sh(f, "ls %s/blocks | wc -l", f->m.mnt), 0);
    assert_string_equal(f->m.out, "3\n");
    assert_int_equal(sh(f, "ls %s/sources | wc -l", f->m.mnt), 0);
    assert_string_equal(f->m.out, "0\n");
    assert_int_equal(sh(f, "cat %s/blocks/%s", f->m.mnt, f->util_id), 0);
    assert_string_equal(f->m.out, "int util(void) { return 0; }");
    assert_int_equal(sh(f, "stat -c '%%s %%F' %s/blocks/%s", f->m.mnt, f->util_id), 0);
    assert_string_equal(f->m.out, "28 regular file\n"); /* exact sizes */
    /* The same inode number every time for the life of the mount. */
    assert_int_equal(sh(f,
                        "a=$(stat -c %%i %s/blocks/%s); b=$(stat -c %%i %s/blocks/%s); "
                        "[ \"$a\" = \"$b\" ] && echo same",
                        f->m.mnt, f->util_id, f->m.mnt, f->util_id),
                     0);
    assert_string_equal(f->m.out, "same\n");
    assert_int_equal(sh(f, "getfattr --only-values -n user.kausal.source_uri %s/blocks/%s",
                        f->m.mnt, f->util_id),
                     0);
    assert_string_equal(f->m.out, "src/util.c");
    assert_int_equal(
        sh(f, "getfattr --only-values -n user.kausal.metadata %s/blocks/%s", f->m.mnt, f->util_id),
        0);
    assert_string_equal(f->m.out, "{\"kind\":\"function\",\"name\":\"util\"}");
    assert_int_equal(sh(f, "getfattr -d -m - %s/graph/%s/content", f->m.mnt, f->util_id), 0);
    expect_out(f, "user.kausal.version=");
    assert_int_equal(sh(f, "grep -rl 'return 0' %s/blocks", f->m.mnt), 0);
    snprintf(expected, sizeof(expected), "blocks/%s\n", f->util_id);
    expect_out(f, expected);
    assert_int_equal(sh(f, "df -P %s | tail -1", f->m.mnt), 0);
    expect_out(f, "kausalfs");
}

static void test_mount_graph_links_chain(void **state)
{
    struct fixture *f = *state;
    char target[64];

    assert_int_equal(sh(f, "ls %s/graph/%s", f->m.mnt, f->main_id), 0);
    assert_string_equal(f->m.out, "content\nin\nout\n");
    /* An edge's entry is named after its far end where that name is unique, and answers to
     * the far end's id as well; its link is by id. */
    assert_int_equal(sh(f, "ls %s/graph/%s/out/calls", f->m.mnt, f->main_id), 0);
    assert_string_equal(f->m.out, "helper\n");
    snprintf(target, sizeof(target), "../../../%s\n", f->helper_id);
    assert_int_equal(sh(f, "readlink %s/graph/%s/out/calls/helper", f->m.mnt, f->main_id), 0);
    assert_string_equal(f->m.out, target);
    assert_int_equal(sh(f, "readlink %s/graph/%s/out/calls/%s", f->m.mnt, f->main_id, f->helper_id),
                     0);
    assert_string_equal(f->m.out, target);
    /* Two hops by path, then a traversal with find -L. */
    assert_int_equal(
        sh(f, "cat %s/graph/%s/out/calls/helper/out/calls/util/content", f->m.mnt, f->main_id), 0);
    assert_string_equal(f->m.out, "int util(void) { return 0; }");
    assert_int_equal(sh(f, "cat %s/graph/%s/out/calls/%s/out/calls/%s/content", f->m.mnt,
                        f->main_id, f->helper_id, f->util_id),
                     0);
    assert_string_equal(f->m.out, "int util(void) { return 0; }");
    /* helper's and util's content, and main's again by helper's in/calls link. */
    assert_int_equal(
        sh(f, "find -L %s/graph/%s/out -maxdepth 7 -name content | wc -l", f->m.mnt, f->main_id),
        0);
    assert_string_equal(f->m.out, "3\n");

    assert_int_equal(sh(f, "ls %s/graph/%s/in/calls", f->m.mnt, f->util_id), 0);
    assert_string_equal(f->m.out, "helper\n");
    assert_int_equal(sh(f, "ls %s/graph/%s/out/imports | wc -l", f->m.mnt, f->main_id), 0);
    assert_string_equal(f->m.out, "0\n");
}

static void test_mount_errors(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(sh(f, "cat %s/blocks/ffffffffffffffffffffffffffffffff 2>&1", f->m.mnt), 1);
    expect_out(f, "No such file or directory");
    assert_int_equal(sh(f, "ls %s/graph/not-an-id 2>&1", f->m.mnt), 2);
    expect_out(f, "No such file or directory");
    assert_int_equal(sh(f, "ls %s/graph/%s/out/frobs 2>&1", f->m.mnt, f->main_id), 2);
    assert_int_equal(sh(f, "ls %s/graph/%s/out/calls/%s 2>&1", f->m.mnt, f->main_id, f->util_id),
                     2);
    /* A second mount of the same database says who holds it. */
    assert_int_equal(
        sh(f, "mkdir -p %s/mnt2 && %s %s %s/mnt2 2>&1", f->m.dir, TEST_KAUSALFS, f->m.db, f->m.dir),
        1);
    expect_out(f, "in use by process");
    assert_int_equal(sh(f, "%s %s/nodb %s/mnt2 2>&1", TEST_KAUSALFS, f->m.dir, f->m.dir), 1);
    expect_out(f, "No such file or directory");
}

static void test_mount_unmount_and_mount_again(void **state)
{
    struct fixture *f = *state;

    unmount_db(f);
    assert_int_equal(sh(f, "%s -d %s check", TEST_KAUSAL, f->m.db), 0);
    assert_int_equal(sh(f, "%s -d %s stats", TEST_KAUSAL, f->m.db), 0);
    expect_out(f, "blocks: 3\n");
    expect_out(f, "edges: 2\n");
    assert_int_equal(mount_db(f), 0);
    assert_int_equal(sh(f, "cat %s/graph/%s/content", f->m.mnt, f->helper_id), 0);
    assert_string_equal(f->m.out, "int helper(void) { return util(); }");
}

/* A daemon killed with SIGKILL loses nothing; a lazy unmount and a new mount serve it all. */
static void test_mount_survives_kill_9(void **state)
{
    struct fixture *f = *state;

    /* The lock file names the daemon that holds the database. */
    assert_int_equal(
        sh(f, "kill -9 $(cat %s/LOCK) && fusermount3 -u -z %s 2>&1", f->m.db, f->m.mnt), 0);
    f->m.mounted = false;
    for (int i = 0; i < 200 && mount_db(f) != 0; i++)
        usleep(10000); /* until the killed daemon's lock is gone */
    assert_true(f->m.mounted);
    assert_int_equal(sh(f, "cat %s/blocks/%s", f->m.mnt, f->util_id), 0);
    assert_string_equal(f->m.out, "int util(void) { return 0; }");
    assert_int_equal(sh(f, "ls %s/graph/%s/out/calls", f->m.mnt, f->helper_id), 0);
    assert_string_equal(f->m.out, "util\n");
}

#define KAUSAL TEST_KAUSAL
#define NEW_ID "00112233445566778899aabbccddeeff"

/* Writes through the mount: create, overwrite, append, truncate, xattrs; then they persist. */
static void test_mount_writes(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(sh(f, "printf 'hello world' > %s/blocks/" NEW_ID " && cat %s/blocks/" NEW_ID,
                        f->m.mnt, f->m.mnt),
                     0);
    assert_string_equal(f->m.out, "hello world");
    /* The new block is a node of graph/ at once, with the same file as content. */
    assert_int_equal(sh(f, "ls %s/graph | grep -c " NEW_ID, f->m.mnt), 0);
    assert_string_equal(f->m.out, "1\n");
    assert_int_equal(sh(f, "stat -c '%%i %%h' %s/blocks/" NEW_ID " %s/graph/" NEW_ID "/content",
                        f->m.mnt, f->m.mnt),
                     0);
    {
        char ino[32];
        assert_int_equal(sscanf(f->m.out, "%31s", ino), 1);
        if (strstr(f->m.out + strlen(ino), ino) == NULL) fail_msg("two inodes: %s", f->m.out);
    }
    /* Overwrite in place with dd, then append, then truncate (cut and extend). */
    assert_int_equal(
        sh(f, "printf 'W' | dd of=%s/blocks/" NEW_ID " bs=1 seek=6 conv=notrunc 2>&1", f->m.mnt),
        0);
    assert_int_equal(
        sh(f, "printf '!' >> %s/blocks/" NEW_ID " && cat %s/blocks/" NEW_ID, f->m.mnt, f->m.mnt),
        0);
    assert_string_equal(f->m.out, "hello World!");
    assert_int_equal(
        sh(f, "truncate -s 5 %s/blocks/" NEW_ID " && cat %s/blocks/" NEW_ID, f->m.mnt, f->m.mnt),
        0);
    assert_string_equal(f->m.out, "hello");
    assert_int_equal(sh(f,
                        "truncate -s 8 %s/blocks/" NEW_ID " && stat -c %%s %s/blocks/" NEW_ID
                        " && od -An -c %s/blocks/" NEW_ID " | tr -s ' '",
                        f->m.mnt, f->m.mnt, f->m.mnt),
                     0);
    assert_string_equal(f->m.out, "8\n h e l l o \\0 \\0 \\0\n");
    /* > replaces the whole content (O_TRUNC), even with a shorter one. */
    assert_int_equal(sh(f,
                        "printf 'a longer content' > %s/blocks/%s && printf 'short' > %s/blocks/%s"
                        " && cat %s/blocks/%s",
                        f->m.mnt, f->util_id, f->m.mnt, f->util_id, f->m.mnt, f->util_id),
                     0);
    assert_string_equal(f->m.out, "short");
    /* Metadata is validated JSON; the source URI is free text; the version is read-only. */
    assert_int_equal(
        sh(f, "setfattr -n user.kausal.metadata -v '{\"name\":\"n\"}' %s/blocks/" NEW_ID, f->m.mnt),
        0);
    assert_int_not_equal(
        sh(f, "setfattr -n user.kausal.metadata -v '{nope' %s/blocks/" NEW_ID " 2>&1", f->m.mnt),
        0);
    expect_out(f, "Invalid argument");
    assert_int_equal(
        sh(f, "setfattr -n user.kausal.source_uri -v src/n.c %s/graph/" NEW_ID, f->m.mnt), 0);
    assert_int_not_equal(
        sh(f, "setfattr -n user.kausal.version -v 1 %s/blocks/" NEW_ID " 2>&1", f->m.mnt), 0);
    expect_out(f, "Operation not permitted");
    assert_int_equal(
        sh(f, "getfattr --only-values -n user.kausal.metadata %s/blocks/" NEW_ID, f->m.mnt), 0);
    assert_string_equal(f->m.out, "{\"name\":\"n\"}");
    /* Past the size limit (16 MiB by default): EFBIG, and nothing changes. */
    assert_int_not_equal(sh(f, "truncate -s 17M %s/blocks/" NEW_ID " 2>&1", f->m.mnt), 0);
    expect_out(f, "too large");
    assert_int_equal(sh(f, "stat -c %%s %s/blocks/" NEW_ID, f->m.mnt), 0);
    assert_string_equal(f->m.out, "8\n");

    unmount_db(f);
    assert_int_equal(sh(f, "%s -d %s get " NEW_ID " --json", KAUSAL, f->m.db), 0);
    expect_out(f, "\"source_uri\":\"src/n.c\"");
    expect_out(f, "\"metadata\":{\"name\":\"n\"}");
    assert_int_equal(mount_db(f), 0);
    assert_int_equal(sh(f, "od -An -c %s/graph/" NEW_ID "/content | tr -s ' '", f->m.mnt), 0);
    assert_string_equal(f->m.out, " h e l l o \\0 \\0 \\0\n");
}

/* ln -s makes an edge, rm of the link removes it, rm of a block removes it and its edges. */
static void test_mount_edges_by_links(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(sh(f, "ln -s ../../../%s %s/graph/%s/out/references/%s", f->util_id, f->m.mnt,
                        f->main_id, f->util_id),
                     0);
    assert_int_equal(sh(f, "ls %s/graph/%s/in/references", f->m.mnt, f->util_id), 0);
    assert_string_equal(f->m.out, "main\n");
    assert_int_equal(
        sh(f, "cat %s/graph/%s/out/references/%s/content", f->m.mnt, f->main_id, f->util_id), 0);
    assert_string_equal(f->m.out, "int util(void) { return 0; }");
    /* Any name resolves by the link's target, and removes the edge by that name too. */
    assert_int_equal(sh(f, "ln -s ../../../%s %s/graph/%s/out/depends_on/util-dep", f->util_id,
                        f->m.mnt, f->main_id),
                     0);
    assert_int_equal(sh(f, "readlink %s/graph/%s/out/depends_on/util-dep", f->m.mnt, f->main_id),
                     0);
    expect_out(f, f->util_id);
    assert_int_equal(sh(f, "rm %s/graph/%s/out/depends_on/util-dep", f->m.mnt, f->main_id), 0);
    assert_int_equal(sh(f, "%s -d %s edges %s", KAUSAL, f->m.db, f->main_id), 0);
    if (strstr(f->m.out, "depends_on")) fail_msg("edge still there: %s", f->m.out);
    expect_out(f, "references");
    /* The contract's errors, each changing nothing. */
    assert_int_not_equal(
        sh(f, "ln -s ../../../ffffffffffffffffffffffffffffffff %s/graph/%s/out/calls/x 2>&1",
           f->m.mnt, f->main_id),
        0);
    expect_out(f, "No such file or directory");
    assert_int_not_equal(
        sh(f, "ln -s ../../../not-an-id %s/graph/%s/out/calls/x 2>&1", f->m.mnt, f->main_id), 0);
    expect_out(f, "Invalid argument");
    assert_int_not_equal(
        sh(f, "ln -s ../../../%s %s/graph/%s/out/frobs/x 2>&1", f->util_id, f->m.mnt, f->main_id),
        0);
    expect_out(f, "Invalid argument");
    assert_int_not_equal(sh(f, "touch %s/blocks/not-an-id 2>&1", f->m.mnt), 0);
    expect_out(f, "Invalid argument");
    assert_int_equal(sh(f, "%s -d %s stats", KAUSAL, f->m.db), 0);
    expect_out(f, "blocks: 3\n");
    expect_out(f, "edges: 3\n");
    /* rm of a link deletes the edge; rm of a block deletes it and every edge of it. */
    assert_int_equal(sh(f, "rm %s/graph/%s/out/references/%s", f->m.mnt, f->main_id, f->util_id),
                     0);
    assert_int_equal(sh(f, "ls %s/graph/%s/in/references | wc -l", f->m.mnt, f->util_id), 0);
    assert_string_equal(f->m.out, "0\n");
    assert_int_equal(sh(f, "rm %s/blocks/%s", f->m.mnt, f->helper_id), 0);
    assert_int_equal(sh(f, "(ls %s/graph/%s/out/calls; ls %s/graph/%s/in/calls) | wc -l", f->m.mnt,
                        f->main_id, f->m.mnt, f->util_id),
                     0);
    assert_string_equal(f->m.out, "0\n");
    assert_int_not_equal(sh(f, "ls %s/graph/%s 2>&1", f->m.mnt, f->helper_id), 0);
    unmount_db(f);
    assert_int_equal(sh(f, "%s -d %s stats", KAUSAL, f->m.db), 0);
    expect_out(f, "blocks: 2\n");
    expect_out(f, "edges: 0\n");
}

/* The kausal command on a mounted database goes through the daemon; the mount shows it at once. */
static void test_mount_cli_through_daemon(void **state)
{
    struct fixture *f = *state;
    static char offline[sizeof(((struct fixture *)0)->m.out)];

    /* Read first, so that the kernel holds the old content, size and listings. */
    assert_int_equal(sh(f, "cat %s/blocks/%s; ls %s/graph/%s/in/calls", f->m.mnt, f->util_id,
                        f->m.mnt, f->util_id),
                     0);
    assert_int_equal(sh(f, "printf 'int util(void) { return 42; }' | %s -d %s put %s", KAUSAL,
                        f->m.db, f->util_id),
                     0);
    assert_int_equal(sh(f, "cat %s/blocks/%s", f->m.mnt, f->util_id), 0);
    assert_string_equal(f->m.out, "int util(void) { return 42; }");
    assert_int_equal(sh(f, "%s -d %s link %s calls %s", KAUSAL, f->m.mnt, f->main_id, f->util_id),
                     0);
    assert_int_equal(sh(f, "ls %s/graph/%s/in/calls | sort | tr '\\n' ' '", f->m.mnt, f->util_id),
                     0);
    assert_string_equal(f->m.out, "helper main ");
    assert_int_equal(sh(f, "readlink %s/graph/%s/in/calls/helper", f->m.mnt, f->util_id), 0);
    assert_int_equal(
        sh(f, "%s -d %s unlink %s calls %s", KAUSAL, f->m.db, f->helper_id, f->util_id), 0);
    assert_int_not_equal(
        sh(f, "ls %s/graph/%s/in/calls/%s 2>&1", f->m.mnt, f->util_id, f->helper_id), 0);
    assert_int_not_equal(sh(f, "readlink %s/graph/%s/in/calls/helper 2>&1", f->m.mnt, f->util_id),
                         0);
    /* Errors come back as they do offline, with the same exit status. */
    assert_int_equal(sh(f, "%s -d %s get ffffffffffffffffffffffffffffffff 2>&1", KAUSAL, f->m.db),
                     1);
    assert_int_equal(
        sh(f, "%s -d %s link %s frobs %s 2>&1", KAUSAL, f->m.db, f->main_id, f->util_id), 2);
    assert_int_equal(sh(f, "%s -d %s check && %s -d %s sync", KAUSAL, f->m.db, KAUSAL, f->m.db), 0);
    assert_int_equal(
        sh(f, "%s -d %s rm %s && ls %s/blocks | wc -l", KAUSAL, f->m.db, f->helper_id, f->m.mnt),
        0);
    assert_string_equal(f->m.out, "2\n");
    assert_int_not_equal(sh(f, "ls %s/graph/%s 2>&1", f->m.mnt, f->helper_id), 0);
    assert_int_equal(sh(f, "%s -d %s trace %s --in --json", KAUSAL, f->m.mnt, f->util_id), 0);
    snprintf(offline, sizeof(offline), "%s", f->m.out);
    expect_out(f, f->main_id);
    /* The same answer offline. */
    unmount_db(f);
    assert_int_equal(sh(f, "%s -d %s trace %s --in --json", KAUSAL, f->m.db, f->util_id), 0);
    assert_string_equal(f->m.out, offline);
}

/* fsync'd writes survive a kill -9 of the daemon; no write request is ever stored in part. */
static void test_mount_fsync_survives_kill_9(void **state)
{
    struct fixture *f = *state;

    /* 4 KiB writes, each of one repeated line: "0000001\n" x 512, "0000002\n" x 512, ... */
    assert_int_equal(sh(f,
                        "for i in $(seq 1 24); do yes $(printf %%07d $i) | head -c 4096; done"
                        " | dd of=%s/blocks/" NEW_ID " bs=4096 iflag=fullblock 2>/dev/null"
                        " && sync %s/blocks/" NEW_ID,
                        f->m.mnt, f->m.mnt),
                     0);
    assert_int_equal(sh(f,
                        "ln -s ../../../" NEW_ID " %s/graph/%s/out/references/x"
                        " && sync %s/graph",
                        f->m.mnt, f->main_id, f->m.mnt),
                     0);
    /* Then durable writes (O_DSYNC: an fsync after each) racing the kill, into an emptied
     * block: what is stored must be whole requests, and at least those acknowledged. */
    assert_int_equal(sh(f, "truncate -s 0 %s/blocks/%s && sync %s/blocks/%s", f->m.mnt, f->util_id,
                        f->m.mnt, f->util_id),
                     0);
    assert_int_equal(sh(f,
                        "(for i in $(seq 1 400); do yes $(printf %%07d $i) | head -c 4096; done"
                        " | dd of=%s/blocks/%s bs=4096 iflag=fullblock oflag=dsync conv=notrunc"
                        " 2>/dev/null &)"
                        "; sleep 0.4; kill -9 $(cat %s/LOCK) && fusermount3 -u -z %s 2>&1",
                        f->m.mnt, f->util_id, f->m.db, f->m.mnt),
                     0);
    f->m.mounted = false;
    for (int i = 0; i < 500 && mount_db(f) != 0; i++)
        usleep(10000); /* until the killed daemon's lock is gone */
    assert_true(f->m.mounted);
    assert_int_equal(sh(f, "stat -c %%s %s/blocks/" NEW_ID, f->m.mnt), 0);
    assert_string_equal(f->m.out, "98304\n");
    assert_int_equal(sh(f, "readlink %s/graph/%s/out/references/" NEW_ID, f->m.mnt, f->main_id), 0);
    expect_out(f, NEW_ID);
    /* Every stored 4 KiB piece is whole: line n is piece (n-1)/512+1's number. */
    assert_int_equal(
        sh(f,
           "for b in " NEW_ID " %s; do awk '{ c = int((NR - 1) / 512) + 1;"
           " if (length($0) != 7 || $0 + 0 != c) { print \"torn at line \" NR; exit 1 } }'"
           " %s/blocks/$b || exit 1; done; echo whole",
           f->util_id, f->m.mnt),
        0);
    expect_out(f, "whole");
    assert_int_equal(sh(f,
                        "s=$(stat -c %%s %s/blocks/%s); [ $s -gt 0 ] && [ $((s %% 4096)) -eq 0 ]"
                        " && echo aligned",
                        f->m.mnt, f->util_id),
                     0);
    expect_out(f, "aligned");
}

/* The ids of the 64 blocks of tree root's file list (kausal(1), INGEST), hex, a space after each. */
static void file_list_ids(const char *root, char *out, size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    for (unsigned shard = 0; shard < 64; shard++) {
        char name[8], hex[KDB_ID_HEX_SIZE + 1];
        struct kdb_id id;
        int n = snprintf(name, sizeof(name), "%02u", shard);
        kdb_id_for_symbol(root, strlen(root), "files", 5, name, (size_t)n, &id);
        kdb_id_to_hex(&id, hex);
        assert_true(used + KDB_ID_HEX_SIZE + 2 <= size);
        used += (size_t)snprintf(out + used, size - used, "%s ", hex);
    }
}

/* kausal ingest into the mounted database: sources/ shows the tree by path, at once. */
static void test_mount_sources_after_ingest(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(
        sh(f,
           "mkdir -p %s/tree/src && printf '%%s\\n' 'static int twice(int x) { return 2 * x; }'"
           " 'int api(int x) { return twice(x); }' '#define twice(x) twice(x)'"
           " > %s/tree/src/a.c",
           f->m.dir, f->m.dir),
        0);
    assert_int_equal(sh(f, "ls %s/sources | wc -l", f->m.mnt), 0);
    assert_string_equal(f->m.out, "0\n");
    assert_int_equal(sh(f, "%s ingest %s %s/tree --quiet", KAUSAL, f->m.db, f->m.dir), 0);
    assert_int_equal(
        sh(f, "ls %s/sources %s/sources/src %s/sources/src/a.c", f->m.mnt, f->m.mnt, f->m.mnt), 0);
    expect_out(f, "sources:\nsrc\n");
    expect_out(f, "a.c\n");
    expect_out(f, "api\ntwice\ntwice@macro\n"); /* the function keeps the bare name */
    assert_int_equal(sh(f, "cat %s/sources/src/a.c/api/content", f->m.mnt), 0);
    assert_string_equal(f->m.out, "int api(int x) { return twice(x); }");
    assert_int_equal(sh(f, "ls %s/sources/src/a.c/twice/in/calls", f->m.mnt), 0);
    assert_string_equal(f->m.out, "api\ntwice\n"); /* and the macro's body */
    assert_int_equal(sh(f, "readlink %s/sources/src/a.c/api", f->m.mnt), 0);
    expect_out(f, "../../../graph/");
    /* An edit, ingested again: the mount shows the new symbol at once. */
    assert_int_equal(
        sh(f, "printf '%%s\\n' 'int extra(void) { return api(1); }' >> %s/tree/src/a.c", f->m.dir),
        0);
    assert_int_equal(sh(f, "%s ingest %s %s/tree --quiet", KAUSAL, f->m.db, f->m.dir), 0);
    assert_int_equal(sh(f, "ls %s/sources/src/a.c", f->m.mnt), 0);
    assert_string_equal(f->m.out, "api\nextra\ntwice\ntwice@macro\n");
    assert_int_equal(sh(f, "ls %s/sources/src/a.c/api/in/calls", f->m.mnt), 0);
    assert_string_equal(f->m.out, "extra\n");

    /* The tree's file list, which sources/ is read from: each file's id and path. */
    {
        char tree[4096], root[PATH_MAX], ids[64 * (KDB_ID_HEX_SIZE + 1) + 1];
        char file[KDB_ID_HEX_SIZE + 16];
        struct kdb_id id;
        snprintf(tree, sizeof(tree), "%s/tree", f->m.dir);
        assert_non_null(realpath(tree, root)); /* as the ingester names the tree */
        file_list_ids(root, ids, sizeof(ids));
        kdb_id_for_symbol("src/a.c", 7, "file", 4, "src/a.c", 7, &id);
        kdb_id_to_hex(&id, file);
        strcat(file, " src/a.c");
        assert_int_equal(sh(f, "cd %s/blocks && cat %s | tr '\\0' '\\n'", f->m.mnt, ids), 0);
        assert_string_equal(f->m.out, strcat(file, "\n"));
        /* Without it (a tree ingested by an older kausal), sources/ reads each file's block
         * and shows the same; the next ingest writes the list again. */
        assert_int_equal(sh(f, "%s -d %s rm %s", KAUSAL, f->m.db, ids), 0);
        assert_int_not_equal(sh(f, "cd %s/blocks && cat %s 2>/dev/null", f->m.mnt, ids), 0);
        assert_int_equal(sh(f, "ls %s/sources", f->m.mnt), 0);
        assert_string_equal(f->m.out, "src\n");
        assert_int_equal(sh(f, "ls %s/sources/src/a.c", f->m.mnt), 0);
        assert_string_equal(f->m.out, "api\nextra\ntwice\ntwice@macro\n");
        assert_int_equal(sh(f, "%s ingest %s %s/tree --quiet", KAUSAL, f->m.db, f->m.dir), 0);
        assert_int_equal(sh(f, "cd %s/blocks && cat %s | tr '\\0' '\\n'", f->m.mnt, ids), 0);
        assert_string_equal(f->m.out, file);
    }
}

/* A full disk: the write that meets it fails with ENOSPC, and the database stays whole. */
static void test_mount_full_disk(void **state)
{
    struct fixture *f = *state;

    unmount_db(f);
    /* A database on a small tmpfs of its own (root only; skipped elsewhere). */
    if (sh(f, "mkdir -p %s/small && mount -t tmpfs -o size=6m tmpfs %s/small 2>&1", f->m.dir,
           f->m.dir) != 0) {
        if (getuid() == 0) fail_msg("mount -t tmpfs: %s", f->m.out);
        skip();
    }
    snprintf(f->m.db, sizeof(f->m.db), "%s/small/db", f->m.dir);
    assert_int_equal(sh(f, "%s %s %s -o create 2>&1", TEST_KAUSALFS, f->m.db, f->m.mnt), 0);
    f->m.mounted = true;
    assert_int_equal(
        sh(f, "printf 'kept' > %s/blocks/" NEW_ID " && sync %s/blocks/" NEW_ID, f->m.mnt, f->m.mnt),
        0);
    /* 1 MiB write requests until the disk is full: each is stored whole, so it fills fast. */
    assert_int_not_equal(
        sh(f, "dd if=/dev/zero of=%s/blocks/%s bs=1M count=16 2>&1", f->m.mnt, f->util_id), 0);
    expect_out(f, "No space left on device");
    /* Reads go on while the disk is full; changes are refused until a new mount. */
    assert_int_equal(sh(f, "cat %s/blocks/" NEW_ID, f->m.mnt), 0);
    assert_string_equal(f->m.out, "kept");
    assert_int_not_equal(sh(f, "(printf x > %s/blocks/%s) 2>&1", f->m.mnt, f->main_id), 0);
    unmount_db(f);
    assert_int_equal(sh(f, "%s -d %s check 2>&1", KAUSAL, f->m.db), 0);
    assert_int_equal(sh(f, "%s -d %s get " NEW_ID, KAUSAL, f->m.db), 0);
    assert_string_equal(f->m.out, "kept");
    /* Space freed (the big block deleted, and its table compacted away): the database goes on. */
    assert_int_equal(sh(f, "%s -d %s rm %s 2>&1", KAUSAL, f->m.db, f->util_id), 0);
    assert_int_equal(sh(f, "%s -d %s compact 2>&1", KAUSAL, f->m.db), 0);
    assert_int_equal(sh(f, "%s %s %s 2>&1", TEST_KAUSALFS, f->m.db, f->m.mnt), 0);
    f->m.mounted = true;
    assert_int_equal(sh(f,
                        "printf 'after' > %s/blocks/%s && sync %s/blocks/%s && cat %s/blocks/%s"
                        " %s/blocks/" NEW_ID,
                        f->m.mnt, f->main_id, f->m.mnt, f->main_id, f->m.mnt, f->main_id, f->m.mnt),
                     0);
    assert_string_equal(f->m.out, "afterkept");
    unmount_db(f);
    assert_int_equal(sh(f, "%s -d %s check 2>&1", KAUSAL, f->m.db), 0);
    (void)sh(f, "umount %s/small", f->m.dir);
}

/*
 * Hostile input through the mount and the command: each gets its documented
 * error, changes nothing, and the database stays whole; an ingested tree of
 * odd names and random bytes gives a sources/ view that stays in the mount.
 */
static void test_mount_hostile_input(void **state)
{
    struct fixture *f = *state;
    const char *main_block = f->main_id;

    /* Names that are not ids, too long, or with .. in them. */
    assert_int_not_equal(sh(f, "touch %s/blocks/$(printf 'a%%.0s' $(seq 300)) 2>&1", f->m.mnt), 0);
    expect_out(f, "Invalid argument");
    assert_int_not_equal(sh(f, "touch %s/blocks/..0123456789abcdef0123456789abcd 2>&1", f->m.mnt),
                         0);
    expect_out(f, "Invalid argument");
    assert_int_not_equal(sh(f, "mkdir %s/blocks/x 2>&1", f->m.mnt), 0);
    expect_out(f, "Operation not permitted");
    /* Links that would lead out of graph/, or name no block. */
    static const char *const targets[] = {"../../../../etc/passwd", "/etc/passwd",
                                          "../../../0123456789abcdef/0123456789abcde",
                                          "../../../..", "../../../"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        assert_int_not_equal(
            sh(f, "ln -s '%s' %s/graph/%s/out/calls/x 2>&1", targets[i], f->m.mnt, main_block), 0);
        expect_out(f, "Invalid argument");
    }
    /* Values past their limits, and names outside user.kausal.*. */
    assert_int_not_equal(sh(f,
                            "setfattr -n user.kausal.source_uri -v $(head -c 5000 /dev/zero | tr"
                            " '\\0' u) %s/blocks/%s 2>&1",
                            f->m.mnt, main_block),
                         0);
    expect_out(f, "Argument list too long");
    assert_int_not_equal(sh(f,
                            "setfattr -n user.kausal.metadata -v \"{\\\"a\\\":\\\"$(head -c 70000"
                            " /dev/zero | tr '\\0' m)\\\"}\" %s/blocks/%s 2>&1",
                            f->m.mnt, main_block),
                         0);
    expect_out(f, "Argument list too long");
    assert_int_not_equal(sh(f,
                            "setfattr -n user.kausal.metadata -v \"$(printf "
                            "'{\"a\":\"\\377\"}')\" %s/blocks/%s 2>&1",
                            f->m.mnt, main_block),
                         0);
    expect_out(f, "Invalid argument");
    assert_int_not_equal(
        sh(f, "setfattr -n user.other -v 1 %s/blocks/%s 2>&1", f->m.mnt, main_block), 0);
    expect_out(f, "Operation not permitted");
    assert_int_not_equal(
        sh(f, "setfattr -n trusted.x -v 1 %s/blocks/%s 2>&1", f->m.mnt, main_block), 0);
    expect_out(f, "Operation not supported");
    /* Content is bytes: random ones, NULs and invalid UTF-8 come back as written. */
    assert_int_equal(sh(f,
                        "head -c 70000 /dev/urandom > %s/random && cp %s/random %s/blocks/%s"
                        " && cmp %s/random %s/blocks/%s && echo same",
                        f->m.dir, f->m.dir, f->m.mnt, f->util_id, f->m.dir, f->m.mnt, f->util_id),
                     0);
    expect_out(f, "same");
    /* The command: a path for an id, an unknown type, bad JSON, a URI too long. */
    assert_int_not_equal(sh(f, "%s -d %s get ../../etc/passwd 2>&1", KAUSAL, f->m.db), 0);
    assert_int_not_equal(
        sh(f, "%s -d %s link %s frobs %s 2>&1", KAUSAL, f->m.db, main_block, f->util_id), 0);
    expect_out(f, "frobs");
    assert_int_not_equal(
        sh(f, "echo x | %s -d %s put %s --meta '{nope' 2>&1", KAUSAL, f->m.db, main_block), 0);
    assert_int_not_equal(sh(f,
                            "echo x | %s -d %s put %s --uri $(head -c 5000 /dev/zero | tr '\\0' u)"
                            " 2>&1",
                            KAUSAL, f->m.db, main_block),
                         0);
    /* None of it changed the block. */
    assert_int_equal(sh(f, "cat %s/blocks/%s", f->m.mnt, main_block), 0);
    assert_string_equal(f->m.out, "int main(void) { return helper(); }");
    assert_int_equal(sh(f,
                        "getfattr --only-values -n user.kausal.metadata %s/blocks/%s 2>/dev/null",
                        f->m.mnt, main_block),
                     0);
    expect_out(f, "\"name\":\"main\"");
    /* A tree of odd names and random bytes: ingested, and sources/ stays in the mount. */
    assert_int_equal(
        sh(f,
           "mkdir -p %s/odd/sub %s/odd/... && cd %s/odd"
           " && printf 'int a(void){return 0;}\\n' > \"$(printf 'we\\nird.c')\""
           " && printf 'int b(void){return a();}\\n' > \"$(printf '\\377\\376.c')\""
           " && printf 'int c(void){return b();}\\n' > 'sp ace.c'"
           " && printf 'int d(void){return c();}\\n' > '.../dots.c'"
           " && head -c 20000 /dev/urandom > rand.c && head -c 5000 /dev/urandom > sub/rand.h"
           " && ln -s .. sub/loop"
           " && printf 'int %%s(void){return 1;}\\n' $(printf 'f%%.0s' $(seq 300)) > long.c",
           f->m.dir, f->m.dir, f->m.dir),
        0);
    assert_int_equal(sh(f, "%s ingest %s %s/odd --quiet 2>&1", KAUSAL, f->m.db, f->m.dir), 0);
    assert_int_equal(sh(f,
                        "cd %s/sources && echo $(find . -type l | wc -l)"
                        " $(find . -type l -print0 | xargs -0 readlink -f"
                        " | grep -cv '^%s/graph/[0-9a-f]*$')",
                        f->m.mnt, f->m.mnt),
                     0);
    {
        unsigned links, outside;
        assert_int_equal(sscanf(f->m.out, "%u %u", &links, &outside), 2);
        assert_true(links >= 4);      /* a symbol of each file with a name that could mislead */
        assert_int_equal(outside, 0); /* every link leads into graph/ */
    }

    assert_int_equal(sh(f, "ls %s/sources/'sp ace.c'/c/content >/dev/null && echo ok", f->m.mnt),
                     0);
    expect_out(f, "ok");
    assert_int_equal(sh(f, "ls -a %s/sources | sort | uniq -d | wc -l", f->m.mnt), 0);
    assert_string_equal(f->m.out, "0\n"); /* no two entries of one name */
    unmount_db(f);
    assert_int_equal(sh(f, "%s -d %s check 2>&1", KAUSAL, f->m.db), 0);
}

/*
 * Access: the database directory is the owner's alone (0700, files 0600);
 * another user cannot enter the mount; with -o allow_other they can, and
 * the kernel checks the modes shown (default_permissions): they read, but
 * cannot write or create.
 */
static void test_mount_access(void **state)
{
    struct fixture *f = *state;
    const char *as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups";

    assert_int_equal(
        sh(f, "stat -c %%a %s && find %s -type f ! -perm 600 | wc -l", f->m.db, f->m.db), 0);
    assert_string_equal(f->m.out, "700\n0\n");
    if (getuid() != 0 || sh(f, "command -v setpriv") != 0) skip(); /* needs another user */
    assert_int_equal(chmod(f->m.dir, 0755), 0);                    /* the mount, not the path */
    assert_int_not_equal(sh(f, "%s ls %s 2>&1", as_nobody, f->m.mnt), 0);
    expect_out(f, "Permission denied");
    unmount_db(f);
    assert_int_equal(sh(f, "%s %s %s -o allow_other 2>&1", TEST_KAUSALFS, f->m.db, f->m.mnt), 0);
    f->m.mounted = true;
    assert_int_equal(sh(f, "%s cat %s/blocks/%s", as_nobody, f->m.mnt, f->util_id), 0);
    assert_string_equal(f->m.out, "int util(void) { return 0; }");
    assert_int_not_equal(
        sh(f, "%s sh -c 'echo x > %s/blocks/%s' 2>&1", as_nobody, f->m.mnt, f->util_id), 0);
    expect_out(f, "Permission denied");
    assert_int_not_equal(sh(f, "%s touch %s/blocks/" NEW_ID " 2>&1", as_nobody, f->m.mnt), 0);
    expect_out(f, "Permission denied");
    assert_int_equal(sh(f, "cat %s/blocks/%s", f->m.mnt, f->util_id), 0);
    assert_string_equal(f->m.out, "int util(void) { return 0; }");
}

/* A damaged record in a table: reading that block fails (EBADMSG), every other reads right. */
static void test_mount_damaged_table(void **state)
{
    struct fixture *f = *state;

    unmount_db(f);
    assert_int_equal(sh(f, "%s -d %s compact 2>&1", KAUSAL, f->m.db), 0);
    /* One byte of util's content, in the one table, changed on disk. */
    assert_int_equal(sh(f,
                        "t=$(ls %s/*.sst) && o=$(grep -obUa 'return 0;' $t | head -1 | cut -d: -f1)"
                        " && [ -n \"$o\" ] && printf X | dd of=$t bs=1 seek=$o conv=notrunc"
                        " 2>/dev/null && echo damaged",
                        f->m.db),
                     0);
    expect_out(f, "damaged");
    assert_int_equal(mount_db(f), 0);
    assert_int_not_equal(sh(f, "cat %s/blocks/%s 2>&1", f->m.mnt, f->util_id), 0);
    expect_out(f, "Bad message");
    assert_int_equal(sh(f, "cat %s/blocks/%s", f->m.mnt, f->main_id), 0);
    assert_string_equal(f->m.out, "int main(void) { return helper(); }");
    assert_int_equal(sh(f, "cat %s/blocks/%s", f->m.mnt, f->helper_id), 0);
    assert_string_equal(f->m.out, "int helper(void) { return util(); }");
    unmount_db(f);
    assert_int_not_equal(sh(f, "%s -d %s check 2>&1", KAUSAL, f->m.db), 0); /* and check says so */
}

/* -o ro mounts read-only: the kernel refuses writes. */
static void test_mount_read_only(void **state)
{
    struct fixture *f = *state;

    unmount_db(f);
    assert_int_equal(sh(f, "%s %s %s -o ro 2>&1", TEST_KAUSALFS, f->m.db, f->m.mnt), 0);
    f->m.mounted = true;
    assert_int_not_equal(sh(f, "(echo x > %s/blocks/%s) 2>&1", f->m.mnt, f->main_id), 0);
    expect_out(f, "Read-only file system");
    assert_int_equal(sh(f, "cat %s/blocks/%s", f->m.mnt, f->util_id), 0);
    assert_string_equal(f->m.out, "int util(void) { return 0; }");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mount_tree_and_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_graph_links_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_unmount_and_mount_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_survives_kill_9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_edges_by_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_cli_through_daemon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_fsync_survives_kill_9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_hostile_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_damaged_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_sources_after_ingest, setup, teardown),
    };
    return cmocka_run_group_tests_name("mount", tests, NULL, NULL);
}
