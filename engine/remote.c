/* SPDX-License-Identifier: MIT */
/*
 * remote.c: the socket a process serving a database answers on, and the
 * handle that forwards to it (see remote.h; the bytes are in FORMAT.md,
 * "The socket").
 *
 * A Unix stream socket named SOCKET in the database directory, beside
 * LOCK: only the lock's holder serves, so a name left by a killed server
 * is removed by the next. On connecting, a client reads the server's
 * hello (magic and version); then each request is one frame and each
 * answer one frame: a u32 errno (0 for success) and, on success, the
 * result. The server takes one request at a time from any of its clients,
 * runs it on the handle between the hooks' lock and unlock, and answers.
 *
 * This is the one place the engine talks to sockets rather than files, so
 * it calls the system directly instead of through the VFS: a socket is not
 * a file of the database.
 */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "coding.h"
#include "db.h"
#include "format.h"
#include "wire.h"

#define SERVE_CLIENT_COUNT_MAX 64
#define SERVE_TIMEOUT_S        10 /* a client that stops mid-frame is dropped after this */
#define HELLO_TIMEOUT_S        5

struct remote {
    const struct env *env;
    int fd;
    struct wire_out out;
    struct wire_in in;
};

/* ---- the socket's name ---- */

/*
 * The address of the socket in directory dir. A path too long for
 * sun_path goes through /proc/self/fd and an open descriptor of the
 * directory, *dir_fd (to close once bound or connected; -1 if unused).
 */
static int socket_address(const char *dir, struct sockaddr_un *addr, int *dir_fd)
{
    int n;

    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    *dir_fd = -1;
    n = snprintf(addr->sun_path, sizeof(addr->sun_path), "%s/" FORMAT_SOCKET_NAME, dir);
    if (n > 0 && (size_t)n < sizeof(addr->sun_path)) return 0;
    *dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*dir_fd < 0) return -errno;
    (void)snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/" FORMAT_SOCKET_NAME,
                   *dir_fd);
    return 0;
}

static void set_timeout(int fd, int option, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    (void)setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

/* ---- the client ---- */

int remote_connect(const struct env *env, const char *db_path, struct remote **out)
{
    struct sockaddr_un addr;
    struct remote *r;
    const uint8_t *magic;
    int dir_fd = -1;
    int rc;

    *out = NULL;
    r = env_malloc(env, sizeof(*r));
    if (!r) return -ENOMEM;
    memset(r, 0, sizeof(*r));
    r->env = env;
    wire_out_init(&r->out, env);
    wire_in_init(&r->in, env);
    r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->fd < 0) {
        rc = -errno;
        goto out_free;
    }
    rc = socket_address(db_path, &addr, &dir_fd);
    if (rc == 0 && connect(r->fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0)
        rc = errno == ENOENT ? -ECONNREFUSED : -errno;
    if (dir_fd >= 0) close(dir_fd);
    if (rc < 0) goto out_free;
    set_timeout(r->fd, SO_RCVTIMEO, HELLO_TIMEOUT_S);
    rc = wire_recv(r->fd, &r->in);
    set_timeout(r->fd, SO_RCVTIMEO, 0);
    if (rc < 0) goto out_free;
    magic = wire_get_bytes(&r->in, FORMAT_MAGIC_SIZE);
    if (!magic || memcmp(magic, SOCKET_MAGIC, FORMAT_MAGIC_SIZE) != 0 ||
        wire_get_u32(&r->in) != SOCKET_VERSION || r->in.bad) {
        rc = -EPROTO;
        goto out_free;
    }
    *out = r;
    return 0;
out_free:
    remote_close(r);
    return rc;
}

void remote_close(struct remote *r)
{
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    wire_out_release(&r->out);
    wire_in_release(&r->in);
    env_free(r->env, r);
}

/* Sends the request built in r->out and reads the answer's status. Returns it, or a socket error. */
static int call(struct remote *r)
{
    uint32_t status;
    int rc = wire_send(r->fd, &r->out);

    if (rc == 0) rc = wire_recv(r->fd, &r->in);
    if (rc < 0) return rc == -EAGAIN ? -ECONNRESET : rc;
    status = wire_get_u32(&r->in);
    if (r->in.bad || status > 4095) return -EPROTO;
    return -(int)status;
}

/* The end of an answer: every field was there. */
static int answered(struct remote *r)
{
    return r->in.bad ? -EPROTO : 0;
}

int remote_put_block(struct remote *r, const struct kdb_block *b, uint64_t *version_out)
{
    uint64_t version;
    int rc;

    wire_begin(&r->out);
    wire_put_u8(&r->out, REMOTE_PUT_BLOCK);
    wire_put_block(&r->out, b, true);
    rc = call(r);
    if (rc < 0) return rc;
    version = wire_get_u64(&r->in);
    rc = answered(r);
    if (rc == 0 && version_out) *version_out = version;
    return rc;
}

int remote_get_block(struct remote *r, const struct kdb_id *id, struct kdb_block *view)
{
    int rc;

    memset(view, 0, sizeof(*view));
    wire_begin(&r->out);
    wire_put_u8(&r->out, REMOTE_GET_BLOCK);
    wire_put_id(&r->out, id);
    rc = call(r);
    if (rc < 0) return rc;
    wire_get_block(&r->in, view, true);
    rc = answered(r);
    if (rc < 0) memset(view, 0, sizeof(*view));
    return rc;
}

int remote_read_block(struct remote *r, const struct kdb_id *id, uint64_t offset, void *buf,
                      size_t size, size_t *read_out)
{
    const void *bytes;
    uint64_t n;
    int rc;

    *read_out = 0;
    wire_begin(&r->out);
    wire_put_u8(&r->out, REMOTE_READ_BLOCK);
    wire_put_id(&r->out, id);
    wire_put_u64(&r->out, offset);
    wire_put_u64(&r->out, size);
    rc = call(r);
    if (rc < 0) return rc;
    n = wire_get_u64(&r->in);
    if (n > size) return -EPROTO;
    bytes = wire_get_bytes(&r->in, (size_t)n);
    rc = answered(r);
    if (rc < 0) return rc;
    if (n) memcpy(buf, bytes, (size_t)n);
    *read_out = (size_t)n;
    return 0;
}

int remote_call(struct remote *r, enum remote_op op, const struct kdb_id *id)
{
    wire_begin(&r->out);
    wire_put_u8(&r->out, (uint8_t)op);
    if (id) wire_put_id(&r->out, id);
    return call(r);
}

int remote_edge(struct remote *r, enum remote_op op, const struct kdb_edge *e)
{
    wire_begin(&r->out);
    wire_put_u8(&r->out, (uint8_t)op);
    wire_put_edge(&r->out, e);
    return call(r);
}

int remote_check(struct remote *r, uint64_t *records_out)
{
    uint64_t records;
    int rc = remote_call(r, REMOTE_CHECK, NULL);

    if (rc < 0) return rc;
    records = wire_get_u64(&r->in);
    rc = answered(r);
    if (rc == 0 && records_out) *records_out = records;
    return rc;
}

/* Statistics go as a count of u64 fields, then the fields in struct order. */
#define STATS_FIELD_COUNT (sizeof(struct kdb_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct kdb_stats) % sizeof(uint64_t) == 0, "kdb_stats: u64 fields only");

int remote_stats(struct remote *r, struct kdb_stats *stats)
{
    uint64_t fields[STATS_FIELD_COUNT];
    uint32_t count;
    int rc = remote_call(r, REMOTE_STATS, NULL);

    memset(fields, 0, sizeof(fields));
    if (rc < 0) return rc;
    count = wire_get_u32(&r->in);
    for (uint32_t i = 0; i < count; i++) {
        uint64_t v = wire_get_u64(&r->in);
        if (i < STATS_FIELD_COUNT) fields[i] = v;
    }
    rc = answered(r);
    if (rc == 0) memcpy(stats, fields, sizeof(*stats));
    return rc;
}

/* The count that opens a query's answer, checked against what is left of it. */
static int answer_count(struct remote *r, size_t item_size_min, size_t *count)
{
    uint64_t n = wire_get_u64(&r->in);

    if (r->in.bad || n > r->in.left / item_size_min) return -EPROTO;
    *count = (size_t)n;
    return 0;
}

int remote_edges(struct remote *r, const struct kdb_id *id, unsigned direction, uint32_t type_mask,
                 size_t *count)
{
    int rc;

    *count = 0;
    wire_begin(&r->out);
    wire_put_u8(&r->out, REMOTE_EDGES);
    wire_put_id(&r->out, id);
    wire_put_u32(&r->out, direction);
    wire_put_u32(&r->out, type_mask);
    rc = call(r);
    return rc < 0 ? rc : answer_count(r, 2 * KDB_ID_SIZE + 4, count);
}

void remote_take_edges(struct remote *r, struct kdb_edge *edges, size_t count)
{
    for (size_t i = 0; i < count; i++)
        wire_get_edge(&r->in, &edges[i]);
}

#define NODE_WIRE_SIZE (KDB_ID_SIZE + 13)

int remote_walk(struct remote *r, enum remote_op op, const struct kdb_id *from,
                const struct kdb_id *to, const struct kdb_walk *walk, size_t *count)
{
    int rc;

    *count = 0;
    wire_begin(&r->out);
    wire_put_u8(&r->out, (uint8_t)op);
    wire_put_id(&r->out, from);
    if (op == REMOTE_PATH && to) wire_put_id(&r->out, to);
    wire_put_u32(&r->out, walk->direction);
    wire_put_u32(&r->out, walk->type_mask);
    wire_put_u32(&r->out, walk->max_depth);
    wire_put_u64(&r->out, walk->limit);
    rc = call(r);
    return rc < 0 ? rc : answer_count(r, NODE_WIRE_SIZE, count);
}

void remote_take_nodes(struct remote *r, struct kdb_node *nodes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        wire_get_id(&r->in, &nodes[i].id);
        nodes[i].depth = wire_get_u32(&r->in);
        nodes[i].parent = wire_get_u32(&r->in);
        nodes[i].type = wire_get_u32(&r->in);
        nodes[i].reversed = wire_get_u8(&r->in) != 0;
    }
}

int remote_get_blocks(struct remote *r, const struct kdb_id *ids, size_t n, bool heads,
                      size_t *bytes)
{
    size_t count;
    int rc;

    *bytes = 0;
    wire_begin(&r->out);
    wire_put_u8(&r->out, heads ? REMOTE_GET_HEADS : REMOTE_GET_BLOCKS);
    wire_put_u64(&r->out, n);
    for (size_t i = 0; i < n; i++)
        wire_put_id(&r->out, &ids[i]);
    rc = call(r);
    if (rc == 0) rc = answer_count(r, KDB_ID_SIZE + 40, &count);
    if (rc == 0 && count != n) rc = -EPROTO;
    if (rc == 0) *bytes = r->in.left;
    return rc;
}

/* Where a field that pointed into the answer is, once the answer is copied to bytes. */
static const void *rebase(const void *p, const uint8_t *from, uint8_t *to)
{
    return p ? to + ((const uint8_t *)p - from) : NULL;
}

void remote_take_blocks(struct remote *r, struct kdb_block *views, size_t n, bool heads,
                        uint8_t *bytes)
{
    const uint8_t *base = r->in.at;

    if (r->in.left) memcpy(bytes, base, r->in.left);
    for (size_t i = 0; i < n; i++) {
        wire_get_block(&r->in, &views[i], !heads);
        views[i].source_uri = rebase(views[i].source_uri, base, bytes);
        views[i].metadata = rebase(views[i].metadata, base, bytes);
        views[i].content = rebase(views[i].content, base, bytes);
    }
}

/* ---- the server ---- */

struct server {
    struct kdb *db;
    const struct kdb_serve_hooks *hooks;
    struct kdb_result *result; /* reused by every query */
    struct wire_in in;
    struct wire_out out;
};

static void hook(const struct kdb_serve_hooks *h, void (*fn)(void *))
{
    if (fn) fn(h->ctx);
}

static void will_change(struct server *s, unsigned kind, const struct kdb_id *id,
                        const struct kdb_edge *edge)
{
    struct kdb_change change;

    if (!s->hooks->will_change) return;
    memset(&change, 0, sizeof(change));
    change.kind = kind;
    if (id) change.id = *id;
    if (edge) change.edge = *edge;
    s->hooks->will_change(s->hooks->ctx, &change);
}

static void put_walk_answer(struct server *s)
{
    const struct kdb_result *res = s->result;

    wire_put_u64(&s->out, res->count);
    for (size_t i = 0; i < res->count; i++) {
        const struct kdb_node *n = &res->nodes[i];
        wire_put_id(&s->out, &n->id);
        wire_put_u32(&s->out, n->depth);
        wire_put_u32(&s->out, n->parent);
        wire_put_u32(&s->out, n->type);
        wire_put_u8(&s->out, n->reversed ? 1 : 0);
    }
}

static void get_walk(struct wire_in *in, struct kdb_walk *walk)
{
    walk->direction = wire_get_u32(in);
    walk->type_mask = wire_get_u32(in);
    walk->max_depth = wire_get_u32(in);
    walk->limit = (size_t)wire_get_u64(in);
}

/* Runs the request in s->in on the handle, answer into s->out after its status. Returns 0 or -errno. */
static int execute(struct server *s, unsigned op)
{
    struct wire_in *in = &s->in;
    struct wire_out *out = &s->out;
    struct kdb *db = s->db;
    struct kdb_block block;
    struct kdb_edge edge;
    struct kdb_walk walk;
    struct kdb_id id, to;
    uint64_t u;
    int rc;

    switch (op) {
    case REMOTE_PUT_BLOCK:
        wire_get_block(in, &block, true);
        if (in->bad) return -EPROTO;
        will_change(s, KDB_CHANGE_PUT_BLOCK, &block.id, NULL);
        rc = kdb_put_block(db, &block, &u);
        if (rc == 0) wire_put_u64(out, u);
        return rc;
    case REMOTE_DELETE_BLOCK:
        wire_get_id(in, &id);
        if (in->bad) return -EPROTO;
        will_change(s, KDB_CHANGE_DELETE_BLOCK, &id, NULL);
        return kdb_delete_block(db, &id);
    case REMOTE_GET_BLOCK:
        wire_get_id(in, &id);
        if (in->bad) return -EPROTO;
        rc = kdb_get_block_view(db, &id, &block);
        if (rc == 0) wire_put_block(out, &block, true);
        return rc;
    case REMOTE_READ_BLOCK: {
        size_t size, got;
        uint8_t *room;
        wire_get_id(in, &id);
        u = wire_get_u64(in);
        size = (size_t)wire_get_u64(in);
        if (in->bad) return -EPROTO;
        rc = kdb_get_block_view(db, &id, &block);
        if (rc < 0) return rc;
        got = u < block.content_len ? block.content_len - (size_t)u : 0;
        if (got > size) got = size;
        wire_put_u64(out, got);
        room = wire_room(out, got);
        if (room && got) memcpy(room, (const uint8_t *)block.content + u, got);
        return 0;
    }
    case REMOTE_SYNC:
        return kdb_sync(db);
    case REMOTE_FLUSH:
        return kdb_flush(db);
    case REMOTE_COMPACT:
        return kdb_compact(db);
    case REMOTE_PUT_EDGE:
    case REMOTE_DELETE_EDGE:
        wire_get_edge(in, &edge);
        if (in->bad) return -EPROTO;
        if (op == REMOTE_PUT_EDGE) {
            will_change(s, KDB_CHANGE_PUT_EDGE, NULL, &edge);
            return kdb_put_edge(db, &edge);
        }
        will_change(s, KDB_CHANGE_DELETE_EDGE, NULL, &edge);
        return kdb_delete_edge(db, &edge);
    case REMOTE_EDGES: {
        unsigned direction;
        uint32_t mask;
        wire_get_id(in, &id);
        direction = wire_get_u32(in);
        mask = wire_get_u32(in);
        if (in->bad) return -EPROTO;
        rc = kdb_edges(db, &id, direction, mask, s->result);
        if (rc < 0) return rc;
        wire_put_u64(out, s->result->count);
        for (size_t i = 0; i < s->result->count; i++)
            wire_put_edge(out, &s->result->edges[i]);
        return 0;
    }
    case REMOTE_TRAVERSE:
    case REMOTE_PATH:
        wire_get_id(in, &id);
        if (op == REMOTE_PATH) wire_get_id(in, &to);
        get_walk(in, &walk);
        if (in->bad) return -EPROTO;
        rc = op == REMOTE_PATH ? kdb_path(db, &id, &to, &walk, s->result)
                               : kdb_traverse(db, &id, &walk, s->result);
        if (rc == 0) put_walk_answer(s);
        return rc;
    case REMOTE_GET_BLOCKS:
    case REMOTE_GET_HEADS: {
        const bool heads = op == REMOTE_GET_HEADS;
        const void *ids;
        u = wire_get_u64(in);
        if (in->bad || u > in->left / KDB_ID_SIZE) return -EPROTO;
        ids = wire_get_bytes(in, (size_t)u * KDB_ID_SIZE);
        /* The ids are copied out of the frame: struct kdb_id is bytes, with no alignment need. */
        rc = heads ? kdb_get_block_heads(db, ids, (size_t)u, s->result)
                   : kdb_get_blocks(db, ids, (size_t)u, s->result);
        if (rc < 0) return rc;
        wire_put_u64(out, s->result->count);
        for (size_t i = 0; i < s->result->count; i++)
            wire_put_block(out, &s->result->blocks[i], !heads);
        return 0;
    }
    case REMOTE_CHECK:
        rc = kdb_check(db, &u);
        if (rc == 0) wire_put_u64(out, u);
        return rc;
    case REMOTE_STATS: {
        struct kdb_stats stats;
        uint64_t fields[STATS_FIELD_COUNT];
        kdb_get_stats(db, &stats);
        memcpy(fields, &stats, sizeof(fields));
        wire_put_u32(out, (uint32_t)STATS_FIELD_COUNT);
        for (size_t i = 0; i < STATS_FIELD_COUNT; i++)
            wire_put_u64(out, fields[i]);
        return 0;
    }
    default:
        return -EPROTO;
    }
}

/* Answers one request from client fd. Returns 0, or -errno to drop the client. */
static int answer(struct server *s, int fd)
{
    int rc = wire_recv(fd, &s->in);
    unsigned op;
    int sent;

    if (rc < 0) return rc;
    op = wire_get_u8(&s->in);
    wire_begin(&s->out);
    wire_put_u32(&s->out, 0);
    hook(s->hooks, s->hooks->lock);
    rc = s->in.bad ? -EPROTO : execute(s, op);
    hook(s->hooks, s->hooks->unlock);
    hook(s->hooks, s->hooks->settle);
    if (rc == 0 && s->out.error) rc = s->out.error; /* the answer did not fit */
    if (rc < 0) {
        s->out.error = 0;
        s->out.len = 8;
    }
    if (s->out.buf) put_le32(s->out.buf + 4, (uint32_t)-rc);
    /* A request this server cannot read ends the connection, once answered. */
    sent = wire_send(fd, &s->out);
    return rc == -EPROTO ? rc : sent;
}

/* Sends the hello; turns away a client of another user (root excepted). Returns 0 or -errno. */
static int welcome(struct server *s, int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -errno;
    if (cred.uid != geteuid() && cred.uid != 0) return -EACCES;
    set_timeout(fd, SO_RCVTIMEO, SERVE_TIMEOUT_S);
    set_timeout(fd, SO_SNDTIMEO, SERVE_TIMEOUT_S);
    wire_begin(&s->out);
    wire_put_bytes(&s->out, SOCKET_MAGIC, FORMAT_MAGIC_SIZE);
    wire_put_u32(&s->out, SOCKET_VERSION);
    return wire_send(fd, &s->out);
}

/* Binds and listens at the database's socket name, replacing a stale one. */
static int listen_at(const char *dir, int *fd_out)
{
    struct sockaddr_un addr;
    int dir_fd = -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;

    *fd_out = -1;
    if (fd < 0) return -errno;
    rc = socket_address(dir, &addr, &dir_fd);
    if (rc == 0) {
        /* The lock's holder alone serves: a name here is a dead server's. */
        if (unlink(addr.sun_path) < 0 && errno != ENOENT) rc = -errno;
    }
    if (rc == 0 && bind(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) rc = -errno;
    if (rc == 0 && chmod(addr.sun_path, 0600) < 0) rc = -errno;
    if (rc == 0 && listen(fd, 16) < 0) rc = -errno;
    if (dir_fd >= 0) close(dir_fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static void unlink_socket(const char *dir)
{
    struct sockaddr_un addr;
    int dir_fd = -1;

    if (socket_address(dir, &addr, &dir_fd) == 0) (void)unlink(addr.sun_path);
    if (dir_fd >= 0) close(dir_fd);
}

int kdb_serve(struct kdb *db, const struct kdb_serve_hooks *hooks, int stop_fd)
{
    static const struct kdb_serve_hooks no_hooks;
    struct pollfd fds[2 + SERVE_CLIENT_COUNT_MAX];
    const struct env *env = db_env(db);
    const char *dir = db_directory(db);
    struct server s;
    size_t clients = 0;
    int listen_fd = -1;
    int rc;

    if (kdb_is_remote(db)) return -EINVAL;
    memset(&s, 0, sizeof(s));
    s.db = db;
    s.hooks = hooks ? hooks : &no_hooks;
    wire_in_init(&s.in, env);
    wire_out_init(&s.out, env);
    hook(s.hooks, s.hooks->lock);
    rc = kdb_result_new(db, &s.result);
    hook(s.hooks, s.hooks->unlock);
    if (rc == 0) rc = listen_at(dir, &listen_fd);
    if (rc < 0) goto out;
    fds[0] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
    for (;;) {
        if (poll(fds, 2 + clients, -1) < 0) {
            if (errno == EINTR) continue;
            rc = -errno;
            break;
        }
        if (fds[0].revents) break;
        for (size_t i = 0; i < clients;) {
            struct pollfd *c = &fds[2 + i];
            if (c->revents && answer(&s, c->fd) < 0) {
                close(c->fd);
                *c = fds[2 + --clients];
                continue;
            }
            i++;
        }
        if (fds[1].revents & POLLIN) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0) continue; /* the client gave up first, or descriptors ran out: go on */
            if (clients == SERVE_CLIENT_COUNT_MAX || welcome(&s, fd) < 0) {
                close(fd);
                continue;
            }
            fds[2 + clients++] = (struct pollfd){.fd = fd, .events = POLLIN};
        }
    }
    for (size_t i = 0; i < clients; i++)
        close(fds[2 + i].fd);
    unlink_socket(dir);
out:
    if (listen_fd >= 0) close(listen_fd);
    hook(s.hooks, s.hooks->lock);
    kdb_result_free(s.result);
    hook(s.hooks, s.hooks->unlock);
    wire_in_release(&s.in);
    wire_out_release(&s.out);
    return rc;
}
