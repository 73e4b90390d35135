/* SPDX-License-Identifier: MIT */
/*
 * test_remote.c: a database served on its socket (kdb_serve()), and the
 * handle kdb_open() returns for a database a server holds.
 *
 * Goal: every call through a forwarding handle answers as the same call
 * on the server's own handle does, errors included; the server tells its
 * hooks of each change before making it, under its lock; a client of a
 * server that went away gets -ECONNRESET; KDB_OPEN_LOCAL never forwards;
 * hostile frames (a length past the limit, unknown requests, cut frames,
 * random bytes) cost their sender the connection and nothing else.
 * Method: a real database in a fresh directory under $TMPDIR, served by a
 * thread of this process (the lock is per open file, so a second kdb_open()
 * here finds it held, as another process would), and raw sockets for the
 * hostile frames.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "kdb.h"
#include "test_util.h"

struct served {
    char dir[256];
    struct kdb *db; /* the server's handle */
    pthread_mutex_t lock;
    pthread_t thread;
    int stop[2];
    int serve_rc;
    struct kdb_change changes[64]; /* as the hook saw them */
    size_t change_count;
    bool block_was_there[64]; /* for each change: did its block exist when told? */
};

static void hook_lock(void *ctx)
{
    struct served *s = ctx;
    pthread_mutex_lock(&s->lock);
}

static void hook_unlock(void *ctx)
{
    struct served *s = ctx;
    pthread_mutex_unlock(&s->lock);
}

static void hook_will_change(void *ctx, const struct kdb_change *change)
{
    struct served *s = ctx;
    struct kdb_block view;

    if (s->change_count == 64) return;
    s->block_was_there[s->change_count] = kdb_get_block_view(s->db, &change->id, &view) == 0;
    s->changes[s->change_count++] = *change;
}

static void *serve(void *arg)
{
    struct served *s = arg;
    struct kdb_serve_hooks hooks = {s, hook_lock, hook_unlock, hook_will_change, NULL};

    s->serve_rc = kdb_serve(s->db, &hooks, s->stop[0]);
    return NULL;
}

static void wait_for_socket(const struct served *s)
{
    char path[300];

    snprintf(path, sizeof(path), "%s/SOCKET", s->dir);
    for (int i = 0; i < 500 && access(path, F_OK) != 0; i++)
        usleep(2000);
    assert_int_equal(access(path, F_OK), 0);
}

static int setup(void **state)
{
    struct served *s = calloc(1, sizeof(*s));
    struct kdb_options options;
    const char *tmp = getenv("TMPDIR");

    assert_non_null(s);
    snprintf(s->dir, sizeof(s->dir), "%s/kausal-remote.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(s->dir));
    kdb_options_init(&options);
    options.flags = KDB_OPEN_CREATE;
    assert_int_equal(kdb_open(s->dir, &options, &s->db), 0);
    assert_int_equal(pthread_mutex_init(&s->lock, NULL), 0);
    assert_int_equal(pipe(s->stop), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
    wait_for_socket(s);
    *state = s;
    return 0;
}

static void stop_server(struct served *s)
{
    if (s->stop[1] < 0) return;
    assert_int_equal(write(s->stop[1], "", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->stop[0]);
    close(s->stop[1]);
    s->stop[1] = -1;
    assert_int_equal(s->serve_rc, 0);
}

static int teardown(void **state)
{
    struct served *s = *state;
    char command[400];

    stop_server(s);
    assert_int_equal(kdb_close(s->db), 0);
    pthread_mutex_destroy(&s->lock);
    snprintf(command, sizeof(command), "rm -rf %s", s->dir);
    assert_int_equal(system(command), 0);
    free(s);
    return 0;
}

static struct kdb *open_client(const struct served *s)
{
    struct kdb *client = NULL;

    assert_int_equal(kdb_open(s->dir, NULL, &client), 0);
    assert_true(kdb_is_remote(client));
    return client;
}

static struct kdb_block block_of(uint8_t seed, const char *content, const char *meta)
{
    struct kdb_block b;

    memset(&b, 0, sizeof(b));
    memset(b.id.bytes, seed, KDB_ID_SIZE);
    b.source_uri = "src/x.c";
    b.source_uri_len = 7;
    b.metadata = meta;
    b.metadata_len = meta ? strlen(meta) : 0;
    b.content = content;
    b.content_len = strlen(content);
    return b;
}

static void expect_same_block(const struct kdb_block *a, const struct kdb_block *b)
{
    assert_memory_equal(a->id.bytes, b->id.bytes, KDB_ID_SIZE);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->mtime_ns, b->mtime_ns);
    assert_int_equal(a->source_uri_len, b->source_uri_len);
    assert_memory_equal(a->source_uri, b->source_uri, a->source_uri_len);
    assert_int_equal(a->metadata_len, b->metadata_len);
    assert_memory_equal(a->metadata, b->metadata, a->metadata_len);
    assert_int_equal(a->content_len, b->content_len);
    assert_memory_equal(a->content, b->content, a->content_len);
}

static void test_remote_forwards_every_call(void **state)
{
    struct served *s = *state;
    struct kdb *client = open_client(s);
    struct kdb_block a = block_of(0xa1, "int a(void) { return b(); }", "{\"name\":\"a\"}");
    struct kdb_block b = block_of(0xb2, "int b(void) { return 0; }", NULL);
    struct kdb_block view, local;
    struct kdb_edge ab = {a.id, b.id, KDB_EDGE_CALLS};
    struct kdb_walk walk = {.direction = KDB_DIRECTION_OUT, .max_depth = KDB_NONE};
    struct kdb_result *r = NULL, *lr = NULL;
    struct kdb_stats remote_stats, local_stats;
    struct kdb_id ids[3] = {a.id, {{0}}, b.id};
    uint64_t version = 0, records = 0;
    char buf[64];
    size_t got = 0;

    assert_int_equal(kdb_put_block(client, &a, &version), 0);
    assert_true(version > 0);
    assert_int_equal(kdb_put_block(client, &b, NULL), 0);
    assert_int_equal(kdb_get_block_view(client, &a.id, &view), 0);
    pthread_mutex_lock(&s->lock);
    assert_int_equal(kdb_get_block_view(s->db, &a.id, &local), 0);
    expect_same_block(&view, &local);
    pthread_mutex_unlock(&s->lock);
    assert_int_equal(view.version, version);
    assert_int_equal(kdb_read_block(client, &a.id, 4, buf, 5, &got), 0);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "a(voi", 5);
    assert_int_equal(kdb_read_block(client, &a.id, 1000, buf, 5, &got), 0);
    assert_int_equal(got, 0);

    assert_int_equal(kdb_put_edge(client, &ab), 0);
    assert_int_equal(kdb_result_new(client, &r), 0);
    assert_int_equal(kdb_result_new(s->db, &lr), 0);
    assert_int_equal(kdb_edges(client, &b.id, KDB_DIRECTION_IN, 0, r), 0);
    assert_int_equal(r->count, 1);
    assert_memory_equal(&r->edges[0], &ab, sizeof(ab));
    assert_int_equal(kdb_traverse(client, &a.id, &walk, r), 0);
    pthread_mutex_lock(&s->lock);
    assert_int_equal(kdb_traverse(s->db, &a.id, &walk, lr), 0);
    pthread_mutex_unlock(&s->lock);
    assert_int_equal(r->count, 2);
    assert_int_equal(lr->count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_memory_equal(r->nodes[i].id.bytes, lr->nodes[i].id.bytes, KDB_ID_SIZE);
        assert_int_equal(r->nodes[i].depth, lr->nodes[i].depth);
        assert_int_equal(r->nodes[i].parent, lr->nodes[i].parent);
        assert_int_equal(r->nodes[i].type, lr->nodes[i].type);
        assert_int_equal(r->nodes[i].reversed, lr->nodes[i].reversed);
    }
    assert_int_equal(kdb_path(client, &b.id, &a.id, &walk, r), 0);
    assert_int_equal(r->count, 0); /* no path against the edges */
    walk.direction = KDB_DIRECTION_BOTH;
    assert_int_equal(kdb_path(client, &b.id, &a.id, &walk, r), 0);
    assert_int_equal(r->count, 2);
    assert_true(r->nodes[1].reversed);

    /* A batch with a missing id: its view is empty, the others whole. */
    assert_int_equal(kdb_get_blocks(client, ids, 3, r), 0);
    assert_int_equal(r->count, 3);
    assert_int_equal(r->blocks[1].version, 0);
    assert_int_equal(r->blocks[2].content_len, b.content_len);
    assert_memory_equal(r->blocks[2].content, b.content, b.content_len);
    assert_memory_equal(r->blocks[0].metadata, "{\"name\":\"a\"}", 12);
    /* Their heads: the same, without the content, whose length stays. */
    assert_int_equal(kdb_get_block_heads(client, ids, 3, r), 0);
    assert_int_equal(r->count, 3);
    assert_int_equal(r->blocks[1].version, 0);
    assert_null(r->blocks[2].content);
    assert_int_equal(r->blocks[2].content_len, b.content_len);
    assert_true(r->blocks[2].version > 0);
    assert_memory_equal(r->blocks[0].metadata, "{\"name\":\"a\"}", 12);

    assert_int_equal(kdb_sync(client), 0);
    assert_int_equal(kdb_flush(client), 0);
    assert_int_equal(kdb_compact(client), 0);
    assert_int_equal(kdb_check(client, &records), 0);
    assert_true(records >= 3);
    kdb_get_stats(client, &remote_stats);
    pthread_mutex_lock(&s->lock);
    kdb_get_stats(s->db, &local_stats);
    pthread_mutex_unlock(&s->lock);
    assert_int_equal(remote_stats.block_count, 2);
    assert_int_equal(remote_stats.edge_count, 1);
    assert_int_equal(remote_stats.last_sequence, local_stats.last_sequence);
    assert_int_equal(remote_stats.table_count, local_stats.table_count);

    /* The hooks heard of each change before it was made. */
    assert_int_equal(kdb_delete_edge(client, &ab), 0);
    assert_int_equal(kdb_put_edge(client, &ab), 0);
    assert_int_equal(kdb_delete_block(client, &b.id), 0);
    assert_int_equal(kdb_edges(client, &a.id, KDB_DIRECTION_OUT, 0, r), 0);
    assert_int_equal(r->count, 0);
    assert_int_equal(s->change_count, 6);
    assert_int_equal(s->changes[0].kind, KDB_CHANGE_PUT_BLOCK);
    assert_false(s->block_was_there[0]);
    assert_int_equal(s->changes[2].kind, KDB_CHANGE_PUT_EDGE);
    assert_memory_equal(&s->changes[2].edge, &ab, sizeof(ab));
    assert_int_equal(s->changes[3].kind, KDB_CHANGE_DELETE_EDGE);
    assert_int_equal(s->changes[5].kind, KDB_CHANGE_DELETE_BLOCK);
    assert_true(s->block_was_there[5]);

    kdb_result_free(r);
    kdb_result_free(lr);
    assert_int_equal(kdb_close(client), 0);
}

static void test_remote_errors_are_the_servers(void **state)
{
    struct served *s = *state;
    struct kdb *client = open_client(s);
    struct kdb_block a = block_of(0xa1, "a", NULL);
    struct kdb_block bad = block_of(0xb2, "b", "[not an object]");
    struct kdb_block view;
    struct kdb_edge edge = {a.id, a.id, 99};
    struct kdb_result *r = NULL;

    assert_int_equal(kdb_get_block_view(client, &a.id, &view), -ENOENT);
    assert_int_equal(view.content_len, 0);
    assert_int_equal(kdb_delete_block(client, &a.id), -ENOENT);
    assert_int_equal(kdb_put_block(client, &bad, NULL), -EINVAL);
    assert_int_equal(kdb_put_block(client, &a, NULL), 0);
    assert_int_equal(kdb_put_edge(client, &edge), -EINVAL);
    edge.type = KDB_EDGE_CALLS;
    memset(edge.target.bytes, 0xee, KDB_ID_SIZE);
    assert_int_equal(kdb_put_edge(client, &edge), -ENOENT);
    assert_int_equal(kdb_result_new(client, &r), 0);
    assert_int_equal(kdb_edges(client, &a.id, 7, 0, r), -EINVAL);
    /* Scanning is the server's own business. */
    assert_int_equal(kdb_scan_blocks(client, NULL, NULL), -ENOTSUP);
    kdb_result_free(r);
    assert_int_equal(kdb_close(client), 0);
}

static void test_remote_local_flag_and_a_server_gone(void **state)
{
    struct served *s = *state;
    struct kdb_options options;
    struct kdb *local = NULL, *client = open_client(s);
    struct kdb_block a = block_of(0xa1, "a", NULL);

    kdb_options_init(&options);
    options.flags = KDB_OPEN_LOCAL;
    assert_int_equal(kdb_open(s->dir, &options, &local), -EBUSY);
    assert_null(local);
    stop_server(s);
    assert_int_equal(kdb_put_block(client, &a, NULL), -ECONNRESET);
    assert_int_equal(kdb_close(client), 0);
    /* Its socket's name is gone with it: a new open waits for nobody. */
    assert_int_equal(kdb_open(s->dir, NULL, &local), -EBUSY);
}

/* A raw connection to the server, past its hello. */
static int raw_connect(const struct served *s)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    uint8_t hello[16];
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    size_t got = 0;

    assert_true(fd >= 0);
    assert_true(strlen(s->dir) + 8 <= sizeof(addr.sun_path));
    memcpy(addr.sun_path, s->dir, strlen(s->dir));
    memcpy(addr.sun_path + strlen(s->dir), "/SOCKET", 8);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    while (got < sizeof(hello)) {
        ssize_t n = read(fd, hello + got, sizeof(hello) - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(hello + 4, "KDBSOCK", 7);
    return fd;
}

/* Whether the server closed fd (it reads EOF, or the connection was reset). */
static bool closed_by_server(int fd)
{
    uint8_t buf[256];
    ssize_t n;

    do {
        n = read(fd, buf, sizeof(buf));
    } while (n > 0);
    return n == 0 || errno == ECONNRESET;
}

static void test_remote_hostile_frames_cost_only_their_connection(void **state)
{
    struct served *s = *state;
    struct kdb *client;
    struct kdb_block a = block_of(0xa1, "still here", NULL);
    struct kdb_block view;
    uint64_t seed = test_seed(20261126);
    int fd;

    /* A length past the limit. */
    fd = raw_connect(s);
    assert_int_equal(write(fd, "\xff\xff\xff\x7f", 4), 4);
    assert_true(closed_by_server(fd));
    close(fd);
    /* An unknown request: answered EPROTO, then dropped. */
    fd = raw_connect(s);
    assert_int_equal(write(fd, "\x01\x00\x00\x00\xee", 5), 5);
    assert_true(closed_by_server(fd));
    close(fd);
    /* A put cut short inside its block. */
    fd = raw_connect(s);
    assert_int_equal(write(fd, "\x05\x00\x00\x00\x01\xaa\xbb\xcc\xdd", 9), 9);
    assert_true(closed_by_server(fd));
    close(fd);
    /* A frame that stops half way, and its sender goes. */
    fd = raw_connect(s);
    assert_int_equal(write(fd, "\x40\x00\x00\x00\x03", 5), 5);
    close(fd);
    /* Random frames: each valid in length, random in body. */
    for (int i = 0; i < 300; i++) {
        uint8_t frame[4 + 96];
        uint32_t len = (uint32_t)(test_random(&seed) % 96);
        fd = raw_connect(s);
        frame[0] = (uint8_t)len;
        frame[1] = frame[2] = frame[3] = 0;
        for (uint32_t j = 0; j < len; j++)
            frame[4 + j] = (uint8_t)test_random(&seed);
        if (len > 0) frame[4] = (uint8_t)(1 + test_random(&seed) % 16); /* mostly real requests */
        assert_int_equal(write(fd, frame, 4 + len), (ssize_t)(4 + len));
        shutdown(fd, SHUT_WR);
        (void)closed_by_server(fd);
        close(fd);
    }
    /* The server and its database are whole. */
    client = open_client(s);
    assert_int_equal(kdb_put_block(client, &a, NULL), 0);
    assert_int_equal(kdb_get_block_view(client, &a.id, &view), 0);
    assert_int_equal(view.content_len, 10);
    assert_int_equal(kdb_close(client), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_remote_forwards_every_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_errors_are_the_servers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_local_flag_and_a_server_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_hostile_frames_cost_only_their_connection,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("remote", tests, NULL, NULL);
}
