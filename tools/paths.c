/* The command's files before any work: what kind of object each input and
 * output is, whether the output directories are writable, whether an output
 * would overwrite one of the run's inputs, and the lock that keeps two runs
 * out of one checkpoint directory. The libclgrad readers and the atomic
 * writer check the kind again on the descriptor they use (data/fileio.c):
 * these checks exist so a run is refused before it trains, with the user's
 * path in the message. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cli_file_kind(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO (named pipe)";
    case S_IFSOCK: return "a socket";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFLNK: return "a symbolic link";
    default: return "not a regular file";
    }
}

int cli_check_input(const char *flag, const char *path, int want_dir)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        cli_error("%s %s: cannot open: %s", flag, cli_short(path), strerror(errno));
        return -1;
    }
    if (want_dir ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)) {
        cli_error("%s %s: is %s, not %s", flag, cli_short(path), cli_file_kind(sb.st_mode),
                  want_dir ? "a directory" : "a regular file");
        return -1;
    }
    return 0;
}

/* The directory a file would be created in: writable and searchable. */
static int check_parent(const char *flag, const char *path)
{
    char *dir = strdup(path);
    if (!dir) {
        cli_error("out of memory");
        return -1;
    }
    char *slash = strrchr(dir, '/');
    const char *d = slash == dir ? "/" : slash ? (*slash = '\0', dir) : ".";
    struct stat sb;
    int rc = 0;
    if (stat(d, &sb) != 0) {
        cli_error("%s %s: directory %s: %s", flag, cli_short(path), cli_short(d), strerror(errno));
        rc = -1;
    } else if (!S_ISDIR(sb.st_mode)) {
        cli_error("%s %s: %s is %s, not a directory", flag, cli_short(path), cli_short(d),
                  cli_file_kind(sb.st_mode));
        rc = -1;
    } else if (access(d, W_OK | X_OK) != 0) {
        cli_error("%s %s: cannot write in directory %s: %s", flag, cli_short(path), cli_short(d),
                  strerror(errno));
        rc = -1;
    }
    free(dir);
    return rc;
}

int cli_check_output(const char *flag, const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) == 0) {
        if (S_ISLNK(sb.st_mode)) {
            cli_error("%s %s: is a symbolic link; clgrad does not write through links (give "
                      "the target's path)", flag, cli_short(path));
            return -1;
        }
        if (!S_ISREG(sb.st_mode)) {
            cli_error("%s %s: is %s; clgrad replaces only regular files", flag, cli_short(path),
                      cli_file_kind(sb.st_mode));
            return -1;
        }
    }
    return check_parent(flag, path);
}

int cli_check_output_dir(const char *flag, const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT) {
            cli_error("%s %s: %s", flag, cli_short(dir), strerror(errno));
            return -1;
        }
        return check_parent(flag, dir);
    }
    if (!S_ISDIR(sb.st_mode)) {
        cli_error("%s %s: is %s, not a directory", flag, cli_short(dir), cli_file_kind(sb.st_mode));
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        cli_error("%s %s: cannot write in it: %s", flag, cli_short(dir), strerror(errno));
        return -1;
    }
    return 0;
}

int cli_lock_dir(const char *flag, const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_error("%s %s: cannot create it: %s", flag, cli_short(dir), strerror(errno));
        return -1;
    }
    size_t n = strlen(dir) + sizeof CLI_LOCK_FILE + 2;
    char *p = malloc(n);
    if (!p) {
        cli_error("out of memory");
        return -1;
    }
    snprintf(p, n, "%s/%s", dir, CLI_LOCK_FILE);
    /* Kept open (and locked) until the process exits; never inherited. */
    int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0) {
        cli_error("%s %s: cannot open its lock file %s: %s", flag, cli_short(dir), CLI_LOCK_FILE,
                  strerror(errno));
        free(p);
        return -1;
    }
    free(p);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            cli_error("%s %s: another clgrad run is using this checkpoint directory (its %s is "
                      "locked); wait for it to finish or use another directory", flag,
                      cli_short(dir), CLI_LOCK_FILE);
        else
            cli_error("%s %s: cannot lock %s: %s", flag, cli_short(dir), CLI_LOCK_FILE,
                      strerror(e));
        return -1;
    }
    /* Holding the lock, every temporary checkpoint in dir is a leftover of a
     * killed run (only a lock holder writes one): remove them now, so even a
     * resume with nothing to train leaves none. */
    DIR *d = opendir(dir);
    static const char pre[] = CLG_CHECKPOINT_FILE ".tmp.";
    for (struct dirent *de; d && (de = readdir(d));) {
        if (strncmp(de->d_name, pre, sizeof pre - 1))
            continue;
        char *t = malloc(strlen(dir) + strlen(de->d_name) + 2);
        if (t) {
            sprintf(t, "%s/%s", dir, de->d_name);
            unlink(t);
            free(t);
        }
    }
    if (d)
        closedir(d);
    return 0;
}

/* ------------------------------------------------------------ same files */

typedef struct named_path {
    const char *flag;
    char *path;
} named_path;

static int add_path(named_path *v, int *n, int cap, const char *flag, const char *path)
{
    if (*n == cap || !path)
        return 0;
    v[*n].flag = flag;
    v[*n].path = strdup(path);
    if (!v[*n].path)
        return -1;
    (*n)++;
    return 0;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int cli_check_distinct(const cli_opts *o)
{
    enum { CAP = 40 };
    named_path in[CAP], out[CAP];
    int ni = 0, no = 0, rc = 0;
    /* inputs */
    if (!strncmp(o->data, "csv:", 4)) {
        char *p = strdup(o->data + 4);
        if (p) {
            char *comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            add_path(in, &ni, CAP, "--data", p);
            free(p);
        }
    } else if (!strncmp(o->data, "mnist:", 6) || !strncmp(o->data, "fashion-mnist:", 14)) {
        const char *d0 = strchr(o->data, ':') + 1;
        char *dir = strndup(d0, strcspn(d0, ",")); /* less ,classes=...,limit=N */
        static const char *const files[] = {
            "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
        };
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char *p = dir ? join(dir, files[i]) : NULL;
            if (p)
                add_path(in, &ni, CAP, "--data", p);
            free(p);
        }
        free(dir);
    }
    add_path(in, &ni, CAP, "--init", o->init);
    /* A resumed run rewrites the checkpoint it read: that one is no conflict. */
    if (o->resume && !(o->checkpoint_dir && !strcmp(o->checkpoint_dir, o->resume))) {
        char *p = join(o->resume, CLG_CHECKPOINT_FILE);
        if (p)
            add_path(in, &ni, CAP, "--resume", p);
        free(p);
    }
    for (int i = 0; i < o->n_plugins; i++)
        add_path(in, &ni, CAP, "--plugin", o->plugins[i]);
    /* outputs */
    add_path(out, &no, CAP, "--save", o->save);
    add_path(out, &no, CAP, "--metrics", o->metrics);
    add_path(out, &no, CAP, "--plot", o->plot);
    const char *ckdir = o->checkpoint_dir ? o->checkpoint_dir : o->resume;
    if (ckdir) {
        char *p = join(ckdir, CLG_CHECKPOINT_FILE);
        if (p)
            add_path(out, &no, CAP, o->checkpoint_dir ? "--checkpoint-dir" : "--resume", p);
        free(p);
        p = join(ckdir, CLI_LOCK_FILE);
        if (p)
            add_path(in, &ni, CAP, o->checkpoint_dir ? "--checkpoint-dir" : "--resume", p);
        free(p);
    }
    for (int a = 0; a < no && !rc; a++) {
        struct stat sa;
        int have = stat(out[a].path, &sa) == 0;
        for (int b = 0; b < ni && !rc; b++) {
            struct stat sb;
            if (have && stat(in[b].path, &sb) == 0 && sa.st_dev == sb.st_dev &&
                sa.st_ino == sb.st_ino) {
                cli_error("%s %s: is the same file as the input %s %s; an output never "
                          "replaces one of the run's inputs", out[a].flag, cli_short(out[a].path),
                          in[b].flag, cli_short(in[b].path));
                rc = -1;
            }
        }
        for (int b = a + 1; b < no && !rc; b++) {
            struct stat sb;
            if (!strcmp(out[a].path, out[b].path) ||
                (have && stat(out[b].path, &sb) == 0 && sa.st_dev == sb.st_dev &&
                 sa.st_ino == sb.st_ino)) {
                cli_error("%s %s and %s %s: the same file for two outputs", out[a].flag,
                          cli_short(out[a].path), out[b].flag, cli_short(out[b].path));
                rc = -1;
            }
        }
    }
    for (int i = 0; i < ni; i++)
        free(in[i].path);
    for (int i = 0; i < no; i++)
        free(out[i].path);
    return rc;
}
