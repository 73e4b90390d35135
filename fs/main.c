/* SPDX-License-Identifier: MIT */
/*
 * main.c: kausalfs, a KausalDB database mounted as a directory (libfuse3,
 * the low-level API). The tree and its handlers are in ops.c; this file
 * parses the command line, opens the database, mounts, and runs three
 * threads until the mount goes:
 *
 *   the loop    answers the kernel's requests, one at a time (ops.c)
 *   kfs-serve   answers `kausal` commands given the database (kdb_serve())
 *   kfs-notify  sends the kernel invalidations for changes made through
 *               the mount (notify.h)
 *
 * The first two share the database handle through fs.lock (ops.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops.h"

/* ---- command line ---- */

struct options {
    const char *db;
    int create;
    bool shared; /* -o allow_other or allow_root: other users reach the mount */
};

enum { KEY_SHARED = 1 };

static const struct fuse_opt option_spec[] = {
    {"create", offsetof(struct options, create), 1},
    FUSE_OPT_KEY("allow_other", KEY_SHARED),
    FUSE_OPT_KEY("allow_root", KEY_SHARED),
    FUSE_OPT_END,
};

/* The first argument that is not an option is the database; the next, the mountpoint. */
static int option_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    struct options *o = data;

    (void)outargs;
    if (key == FUSE_OPT_KEY_NONOPT && !o->db) {
        o->db = arg;
        return 0;
    }
    if (key == KEY_SHARED) o->shared = true;
    return 1; /* FUSE's own, passed on */
}

static void usage(void)
{
    printf("usage: kausalfs DB MOUNTPOINT [-f] [-d] [-o OPTIONS]\n"
           "\n"
           "Mounts the KausalDB database in directory DB at MOUNTPOINT.\n"
           "Unmount with: fusermount3 -u MOUNTPOINT\n"
           "\n"
           "  -o create   make DB if it is not a database yet\n"
           "  -o ro       mount read-only\n"
           "  -f          stay in the foreground (Ctrl-C unmounts)\n"
           "  -d          debug: every request on stderr (implies -f)\n"
           "  -h, --help  this text and FUSE's own options\n"
           "  -V          versions\n"
           "\n"
           "While mounted, `kausal -d DB ...` is served by this process. fsync(2) of any\n"
           "file or directory makes every change durable; sync(1) does not reach FUSE.\n");
}

static void log_message(void *ctx, enum kdb_log_level level, const char *file, int line,
                        const char *message)
{
    (void)ctx;
    (void)file;
    (void)line;
    if (level <= KDB_LOG_WARNING) fprintf(stderr, "kausalfs: %s\n", message);
}

static int open_db(struct fs *fs, const char *path, bool create)
{
    struct kdb_options options;
    int rc;

    kdb_options_init(&options);
    options.log = log_message;
    options.flags |= KDB_OPEN_LOCAL;
    if (create) options.flags |= KDB_OPEN_CREATE;
    fs->content_size_max = options.content_size_max;
    rc = kdb_open(path, &options, &fs->db);
    if (rc == 0) rc = kdb_result_new(fs->db, &fs->r);
    if (rc == -ENOENT)
        fprintf(stderr, "kausalfs: %s: not a KausalDB database (-o create makes one)\n", path);
    else if (rc < 0)
        fprintf(stderr, "kausalfs: %s: %s\n", path, kdb_strerror(rc));
    return rc;
}

/* Closing makes every change durable: unmounting is a durability point. */
static int close_db(struct fs *fs)
{
    int rc = 0;

    kdb_result_free(fs->r);
    fs->r = NULL;
    if (fs->db) {
        rc = kdb_close(fs->db);
        if (rc < 0) fprintf(stderr, "kausalfs: %s: closing: %s\n", fs->db_path, kdb_strerror(rc));
    }
    fs->db = NULL;
    return rc;
}

/*
 * The database's absolute path (a daemon runs in /, and the engine opens
 * files by path): with -o create, its directory is made first.
 */
static char *absolute_db(const struct options *o)
{
    char *path;

    if (o->create && mkdir(o->db, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "kausalfs: %s: %s\n", o->db, strerror(errno));
        return NULL;
    }
    path = realpath(o->db, NULL);
    if (!path) fprintf(stderr, "kausalfs: %s: %s\n", o->db, strerror(errno));
    return path;
}

/* ---- serving `kausal` ---- */

static void serve_lock(void *ctx)
{
    struct fs *fs = ctx;
    pthread_mutex_lock(&fs->lock);
}

static void serve_unlock(void *ctx)
{
    struct fs *fs = ctx;
    pthread_mutex_unlock(&fs->lock);
}

static void serve_will_change(void *ctx, const struct kdb_change *change)
{
    kfs_will_change(ctx, change);
}

static void serve_settle(void *ctx)
{
    struct fs *fs = ctx;
    notify_drain(&fs->notify);
}

struct server {
    struct fs *fs;
    int stop[2]; /* a pipe: writing to stop[1] ends kdb_serve() */
    pthread_t thread;
    bool started;
};

static void *serve(void *arg)
{
    struct server *s = arg;
    struct kdb_serve_hooks hooks = {s->fs, serve_lock, serve_unlock, serve_will_change,
                                    serve_settle};
    int rc = kdb_serve(s->fs->db, &hooks, s->stop[0]);

    if (rc < 0)
        fprintf(stderr, "kausalfs: %s: serving kausal: %s\n", s->fs->db_path, kdb_strerror(rc));
    return NULL;
}

static int server_start(struct server *s, struct fs *fs)
{
    int rc;

    s->fs = fs;
    if (pipe2(s->stop, O_CLOEXEC) < 0) return -errno;
    rc = pthread_create(&s->thread, NULL, serve, s);
    if (rc != 0) {
        close(s->stop[0]);
        close(s->stop[1]);
        return -rc;
    }
    (void)pthread_setname_np(s->thread, "kfs-serve");
    s->started = true;
    return 0;
}

static void server_stop(struct server *s)
{
    ssize_t n;

    if (!s->started) return;
    n = write(s->stop[1], "", 1); /* cannot fail on an empty pipe */
    (void)n;
    pthread_join(s->thread, NULL);
    close(s->stop[0]);
    close(s->stop[1]);
    s->started = false;
}

/* Opens the database and runs the loop until the mount goes. Returns the exit status. */
static int run(struct fs *fs, struct fuse_session *se)
{
    struct server server = {0};
    int status = 1;
    int rc;

    if (open_db(fs, fs->db_path, false) < 0) return 1;
    rc = notify_init(&fs->notify, se);
    if (rc == 0) rc = server_start(&server, fs);
    if (rc < 0) {
        fprintf(stderr, "kausalfs: starting: %s\n", strerror(-rc));
    } else {
        status = fuse_session_loop(se) == 0 ? 0 : 1;
    }
    server_stop(&server);
    notify_release(&fs->notify);
    if (close_db(fs) < 0) status = 1;
    return status;
}

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts cmd;
    struct options o = {0};
    struct fs fs = {0};
    struct fuse_session *se = NULL;
    char *db_path = NULL;
    int status = 1;

    if (fuse_opt_parse(&args, &o, option_spec, option_proc) < 0) return 2;
    if (fuse_parse_cmdline(&args, &cmd) != 0) return 2;
    if (cmd.show_help) {
        usage();
        fuse_lowlevel_help();
        return 0;
    }
    if (cmd.show_version) {
        printf("kausalfs (KausalDB) 0.5\n");
        fuse_lowlevel_version();
        return 0;
    }
    if (!o.db || !cmd.mountpoint) {
        usage();
        return 2;
    }
    if (pthread_mutex_init(&fs.lock, NULL) != 0) return 1;
    db_path = absolute_db(&o);
    if (!db_path) goto out;
    fs.db_path = db_path;
    /* Opened once here, to report what is wrong (not a database, in use)
     * before mounting; the close writes the log out as a table, so the
     * open after daemonizing (threads do not survive a fork) replays
     * nothing. */
    if (open_db(&fs, db_path, o.create) < 0) goto out;
    if (close_db(&fs) < 0) goto out;
    if (ns_init(&fs.ns) < 0) goto out;
    (void)clock_gettime(CLOCK_REALTIME, &fs.mounted);
    /* Only the mounting user reaches a mount without allow_other, and every
     * handler refuses what the tree does not allow; with other users, the
     * kernel checks the modes too (and asks for the attributes it needs). */
    if (fuse_opt_add_arg(&args, "-ofsname=kausalfs,subtype=kausaldb") < 0 ||
        (o.shared && fuse_opt_add_arg(&args, "-odefault_permissions") < 0))
        goto out;
    se = fuse_session_new(&args, &kfs_ops, sizeof(kfs_ops), &fs);
    if (!se) goto out;
    if (fuse_set_signal_handlers(se) != 0) goto out;
    if (fuse_session_mount(se, cmd.mountpoint) != 0) goto out_signals;
    fuse_daemonize(cmd.foreground || cmd.debug);
    status = run(&fs, se);
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out:
    if (se) fuse_session_destroy(se);
    ns_release(&fs.ns);
    kfs_aliases_release(&fs);
    free(fs.reply);
    free(fs.snapshot.items);
    sources_release(&fs.sources);
    entries_release(&fs.entries);
    free(fs.scratch);
    free(db_path);
    free(cmd.mountpoint);
    fuse_opt_free_args(&args);
    pthread_mutex_destroy(&fs.lock);
    return status;
}
