/* `clgrad sweep`: every combination of a grid of train options, each run as
 * its own `clgrad train` process (so a sweep run is by construction the run
 * made by hand with the same options), N at a time, resumable. */
#include "sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 10000
#define RESULT_FILE "result.json"

/* Options that name the outputs of one run: the sweep sets them per run. */
static const char *const per_run[] = { "--save", "--checkpoint-dir", "--resume", "--metrics",
                                       "--json", "--load", "--collective" };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int is_per_run(const char *flag)
{
    for (size_t i = 0; i < sizeof per_run / sizeof per_run[0]; i++)
        if (!strcmp(flag, per_run[i]))
            return 1;
    return !strcmp(flag, "--plot") || !strcmp(flag, "--quiet") || !strcmp(flag, "--tensorboard");
}

/* ------------------------------------------------------------------ grid */

static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Names are checked against train's table; values by train's own parser
 * and, for components and models, by what train checks before reading data. */
static int check_value(clg_ctx *ctx, const sweep_axis *a, const char *v)
{
    char flag[80];
    snprintf(flag, sizeof flag, "--%s", a->name);
    if (a->boolean) {
        if (strcmp(v, "0") && strcmp(v, "1")) {
            cli_error("--grid: axis '%s': value '%s' is invalid: %s takes no value, so its axis "
                      "takes 0 (left out) or 1 (given)", a->name, cli_short(v), flag);
            return -1;
        }
        return 0;
    }
    cli_opts o;
    cli_opts_default(&o);
    char *argv[2] = { flag, (char *)v };
    if (cli_parse_options(&o, 2, argv, 0, 0)) {
        cli_error("--grid: axis '%s': value '%s' is invalid (above)", a->name, cli_short(v));
        return -1;
    }
    clg_status st = CLG_OK;
    clg_hparams *hp = NULL;
    if (!strcmp(a->name, "optimizer"))
        st = clg_hparams_parse(ctx, CLG_COMPONENT_OPTIMIZER, v, &hp);
    else if (!strcmp(a->name, "loss"))
        st = clg_hparams_parse(ctx, CLG_COMPONENT_LOSS, v, &hp);
    else if (!strcmp(a->name, "scheduler") && *v)
        st = cli_check_scheduler(ctx, v);
    else if (!strcmp(a->name, "model")) {
        static cli_model m;
        st = cli_model_parse(ctx, v, &m);
    }
    clg_hparams_free(hp);
    if (st != CLG_OK) {
        cli_error("--grid: axis '%s': value '%s' is invalid: %s", a->name, cli_short(v),
                  clg_ctx_error(ctx));
        return -1;
    }
    return 0;
}

/* 'axis=v1|v2;axis2=...' */
static int parse_grid(sweep *w, const char *grid, clg_ctx *ctx, const cli_opts *base)
{
    const char *p = grid;
    int k = 0;
    while (*p) {
        k++;
        size_t len = strcspn(p, ";");
        const char *next = p[len] ? p + len + 1 : p + len;
        if (len == 0) {
            if (!*next)
                break; /* a trailing ';' */
            cli_error("--grid: axis %d is empty (axes are separated by ';': 'lr=0.1|0.01;"
                      "batch-size=32|128')", k);
            return -1;
        }
        const char *eq = memchr(p, '=', len);
        if (!eq || eq == p) {
            cli_error("--grid: axis %d '%.*s' has no name=values (write 'lr=0.1|0.01')", k,
                      (int)(len > 100 ? 100 : len), p);
            return -1;
        }
        sweep_axis *ax = realloc(w->axis, (size_t)(w->n_axes + 1) * sizeof *ax);
        if (!ax)
            return cli_error("out of memory"), -1;
        w->axis = ax;
        sweep_axis *a = &w->axis[w->n_axes++];
        memset(a, 0, sizeof *a);
        a->name = xstrndup(p, (size_t)(eq - p));
        if (!a->name)
            return cli_error("out of memory"), -1;
        char flag[300];
        snprintf(flag, sizeof flag, "--%s", a->name);
        int kind = strlen(a->name) < 64 ? cli_option_kind(flag) : -1;
        if (kind < 0 || a->name[0] == '-') {
            cli_error("--grid: axis '%s': unknown option (an axis is a train option without its "
                      "dashes: lr, optimizer, batch-size, scheduler, seed, ...; see clgrad --help)",
                      cli_short(a->name));
            return -1;
        }
        if (is_per_run(flag) || !strcmp(flag, "--plugin") || !strcmp(flag, "--init") ||
            !strcmp(flag, "--backend") || !strcmp(flag, "--stop-on-divergence")) {
            cli_error("--grid: axis '%s': %s cannot be an axis (the sweep sets it for every run, "
                      "or it is the same for all)", a->name, flag);
            return -1;
        }
        for (int i = 0; i < w->n_axes - 1; i++)
            if (!strcmp(w->axis[i].name, a->name)) {
                cli_error("--grid: axis '%s' is given twice", a->name);
                return -1;
            }
        if (cli_given(base, flag)) {
            cli_error("--grid: axis '%s': %s is also given as an option of the sweep (give it in "
                      "one place)", a->name, flag);
            return -1;
        }
        a->boolean = !(kind & CLI_OPT_VALUE);
        const char *v = eq + 1, *end = p + len;
        if (v == end) {
            cli_error("--grid: axis '%s' has an empty value list (write '%s=V1|V2')", a->name,
                      a->name);
            return -1;
        }
        for (int j = 1;; j++) {
            size_t vl = strcspn(v, "|;");
            if (v + vl > end)
                vl = (size_t)(end - v);
            if (vl == 0) {
                cli_error("--grid: axis '%s': value %d is empty", a->name, j);
                return -1;
            }
            char **nv = realloc(a->v, (size_t)(a->n + 1) * sizeof *nv);
            if (!nv)
                return cli_error("out of memory"), -1;
            a->v = nv;
            if (!(a->v[a->n] = xstrndup(v, vl)))
                return cli_error("out of memory"), -1;
            a->n++;
            for (int i = 0; i < a->n - 1; i++)
                if (!strcmp(a->v[i], a->v[a->n - 1])) {
                    cli_error("--grid: axis '%s': value '%s' is given twice", a->name,
                              cli_short(a->v[i]));
                    return -1;
                }
            if (check_value(ctx, a, a->v[a->n - 1]))
                return -1;
            v += vl;
            if (v >= end)
                break;
            v++; /* the '|' */
            if (v == end) {
                cli_error("--grid: axis '%s': value %d is empty", a->name, j + 1);
                return -1;
            }
        }
        p = next;
    }
    if (w->n_axes == 0) {
        cli_error("--grid: no axis (write 'lr=0.1|0.01;batch-size=32|128')");
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- runs */

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* "optimizer=adam,lr=0.01": the settings, readable; a character outside
 * [A-Za-z0-9._+:=-] becomes '_', and then (or when it is long) a hash of
 * the exact settings keeps names distinct. */
static void run_name(const sweep *w, const int *pick, char *out, size_t len)
{
    char full[4096];
    size_t u = 0;
    for (int i = 0; i < w->n_axes && u < sizeof full; i++)
        u += (size_t)snprintf(full + u, sizeof full - u, "%s%s=%s", i ? "," : "",
                              w->axis[i].name, w->axis[i].v[pick[i]]);
    int changed = u >= sizeof full || strlen(full) > len - 12;
    size_t n = 0;
    for (const char *c = full; *c && n < len - 12; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 strchr("._+:=-,", *c);
        out[n++] = ok ? *c : '_';
        changed |= !ok;
    }
    out[n] = '\0';
    if (changed)
        snprintf(out + n, len - n, "~%08x", fnv1a(full));
}

static int make_runs(sweep *w, int n_base, char **base)
{
    long long total = 1;
    for (int i = 0; i < w->n_axes; i++)
        if ((total *= w->axis[i].n) > MAX_RUNS) {
            cli_error("--grid: more than %d combinations", MAX_RUNS);
            return -1;
        }
    w->run = calloc((size_t)total, sizeof *w->run);
    if (!w->run)
        return cli_error("out of memory"), -1;
    w->n_runs = (int)total;
    for (int r = 0; r < w->n_runs; r++) {
        sweep_run *run = &w->run[r];
        run->pick = calloc((size_t)w->n_axes, sizeof *run->pick);
        run->args = calloc((size_t)(n_base + 2 * w->n_axes + 1), sizeof *run->args);
        if (!run->pick || !run->args)
            return cli_error("out of memory"), -1;
        /* the first axis varies slowest */
        int rest = r;
        for (int i = w->n_axes - 1; i >= 0; i--) {
            run->pick[i] = rest % w->axis[i].n;
            rest /= w->axis[i].n;
        }
        for (int i = 0; i < n_base; i++)
            run->args[run->n_args++] = strdup(base[i]);
        for (int i = 0; i < w->n_axes; i++) {
            const sweep_axis *a = &w->axis[i];
            char flag[80];
            snprintf(flag, sizeof flag, "--%s", a->name);
            if (a->boolean) {
                if (!strcmp(a->v[run->pick[i]], "1"))
                    run->args[run->n_args++] = strdup(flag);
                continue;
            }
            run->args[run->n_args++] = strdup(flag);
            run->args[run->n_args++] = strdup(a->v[run->pick[i]]);
        }
        for (int i = 0; i < run->n_args; i++)
            if (!run->args[i])
                return cli_error("out of memory"), -1;
        run_name(w, run->pick, run->name, sizeof run->name);
        for (int q = 0; q < r; q++)
            if (!strcmp(w->run[q].name, run->name)) {
                cli_error("--grid: runs %d and %d get the same directory name '%s'", q + 1, r + 1,
                          run->name);
                return -1;
            }
    }
    return 0;
}

static char *run_path(const sweep *w, const sweep_run *r, const char *file)
{
    size_t n = strlen(w->out) + strlen(r->name) + (file ? strlen(file) : 0) + 16;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/runs/%s%s%s", w->out, r->name, file ? "/" : "", file ? file : "");
    return p;
}

/* A directory of ours: created, or there already as a directory (not a link). */
static int make_dir(const char *flag, const char *path)
{
    struct stat sb;
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        cli_error("%s: cannot create %s: %s", flag, cli_short(path), strerror(errno));
        return -1;
    }
    if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        cli_error("%s: %s is %s, not a directory", flag, cli_short(path),
                  cli_file_kind(sb.st_mode));
        return -1;
    }
    return 0;
}

/* The per-epoch rows of a run's --metrics file, by column name. */
static int read_metrics(const char *path, sweep_run *r)
{
    free(r->ep);
    r->ep = NULL;
    r->n_ep = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* no epoch finished */
    char line[4096];
    int col[8];
    static const char *const names[] = { "epoch", "train_loss", "test_loss", "test_accuracy",
                                         "lr", "seconds", "samples_per_s" };
    for (int i = 0; i < 8; i++)
        col[i] = -1;
    if (fgets(line, sizeof line, f)) {
        int c = 0;
        for (char *t = strtok(line, ",\n"); t; t = strtok(NULL, ",\n"), c++)
            for (int i = 0; i < 7; i++)
                if (!strcmp(t, names[i]))
                    col[i] = c;
    }
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n'))
            break; /* cut short */
        double v[7];
        for (int i = 0; i < 7; i++)
            v[i] = NAN;
        int c = 0;
        for (char *s = line; c < 64; c++) {
            char *end;
            double d = strtod(s, &end);
            for (int i = 0; i < 7; i++)
                if (col[i] == c)
                    v[i] = end == s ? NAN : d;
            s += strcspn(s, ",\n");
            if (*s != ',')
                break;
            s++;
        }
        cli_epoch *e = realloc(r->ep, (size_t)(r->n_ep + 1) * sizeof *e);
        if (!e) {
            fclose(f);
            return cli_error("out of memory"), -1;
        }
        r->ep = e;
        cli_epoch *x = &r->ep[r->n_ep++];
        memset(x, 0, sizeof *x);
        x->epoch = isfinite(v[0]) ? (int)v[0] : r->n_ep;
        x->train_loss = v[1];
        x->test_loss = v[2];
        x->test_accuracy = v[3];
        x->lr = v[4];
        x->seconds = v[5];
        x->samples_per_s = v[6];
    }
    fclose(f);
    return 0;
}

static int write_result(FILE *f, const void *arg)
{
    const sweep_run *r = arg;
    json_object *o = json_object_new_object(), *a = json_object_new_array();
    for (int i = 0; i < r->n_args; i++)
        json_object_array_add(a, json_object_new_string(r->args[i]));
    json_object_object_add(o, "args", a);
    json_object_object_add(o, "status", json_object_new_string(r->status == RUN_OK ? "ok"
                                                               : r->status == RUN_DIVERGED
                                                                   ? "diverged"
                                                                   : "failed"));
    json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
    json_object_object_add(o, "why", json_object_new_string(r->why));
    int rc = fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY), f) < 0 ||
                     fputc('\n', f) == EOF ? -1 : 0;
    json_object_put(o);
    return rc;
}

/* A complete result of earlier: 1 (its status and time taken), 0 (none, or
 * a failed run: it runs again), -1 (made with other options: refused). */
static int read_result(const sweep *w, sweep_run *r)
{
    char *p = run_path(w, r, RESULT_FILE);
    if (!p)
        return cli_error("out of memory"), -1;
    json_object *o = json_object_from_file(p);
    if (!o) {
        free(p);
        return 0;
    }
    json_object *a, *st, *sec, *why;
    int rc = 0;
    if (!json_object_object_get_ex(o, "args", &a) || !json_object_is_type(a, json_type_array) ||
        !json_object_object_get_ex(o, "status", &st) || !json_object_is_type(st, json_type_string)) {
        cli_error("--out %s: %s is not a result of clgrad sweep; remove it or give another --out",
                  cli_short(w->out), cli_short(p));
        rc = -1;
        goto out;
    }
    int same = (int)json_object_array_length(a) == r->n_args;
    for (int i = 0; same && i < r->n_args; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(a, i));
        same = s && !strcmp(s, r->args[i]);
    }
    if (!same) {
        char was[1024] = "";
        size_t u = 0;
        for (int i = 0; i < (int)json_object_array_length(a) && u + 4 < sizeof was; i++)
            u += (size_t)snprintf(was + u, sizeof was - u, "%s%s", i ? " " : "",
                                  json_object_get_string(json_object_array_get_idx(a, i)));
        cli_error("--out %s: run '%s' there was made with other train options (%s); a sweep "
                  "resumes only the same command: give another --out, or remove %s/runs",
                  cli_short(w->out), r->name, cli_short(was), cli_short(w->out));
        rc = -1;
        goto out;
    }
    const char *s = json_object_get_string(st);
    if (!strcmp(s, "ok") || !strcmp(s, "diverged")) {
        r->status = !strcmp(s, "ok") ? RUN_OK : RUN_DIVERGED;
        if (json_object_object_get_ex(o, "seconds", &sec))
            r->seconds = json_object_get_double(sec);
        if (json_object_object_get_ex(o, "why", &why) && json_object_get_string(why))
            snprintf(r->why, sizeof r->why, "%s", json_object_get_string(why));
        r->skipped = 1;
        rc = 1;
    }
out:
    json_object_put(o);
    free(p);
    return rc;
}

/* The last line the run wrote that says why it stopped. */
static void last_error(const char *log, char *why, size_t len)
{
    why[0] = '\0';
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "clgrad: ", 8)) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(why, len, "%.240s", line + 8);
        }
    fclose(f);
}

static int cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The command to run: this executable by its path, read once at the start.
 * (Exec'ing /proc/self/exe itself would run valgrind's launcher under
 * valgrind, and a binary replaced since start-up could not find its
 * plugins from a " (deleted)" path.) */
static char self_exe[4096];

static void find_self(void)
{
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0 || n >= (ssize_t)sizeof self_exe - 1)
        n = 0;
    self_exe[n] = '\0';
    if (!n || access(self_exe, X_OK) != 0)
        snprintf(self_exe, sizeof self_exe, "/proc/self/exe");
}

static pid_t start_run(const sweep *w, sweep_run *r, const char *tensorboard, int threads)
{
    char *dir = run_path(w, r, NULL), *metrics = run_path(w, r, "metrics.csv"),
         *save = run_path(w, r, "model.safetensors"), *log = run_path(w, r, "log.txt"),
         *res = run_path(w, r, RESULT_FILE);
    char *tb = NULL;
    pid_t pid = -1;
    char **argv = calloc((size_t)r->n_args + 16, sizeof *argv);
    if (!dir || !metrics || !save || !log || !res || !argv) {
        cli_error("out of memory");
        goto out;
    }
    if (make_dir("--out", dir))
        goto out;
    unlink(res); /* a failed run of earlier */
    /* The log: a regular file of ours, never a link's target. */
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        cli_error("--out: cannot create %s: %s", cli_short(log),
                  fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        goto out;
    }
    int n = 0;
    argv[n++] = "clgrad";
    argv[n++] = "train";
    for (int i = 0; i < r->n_args; i++)
        argv[n++] = r->args[i];
    argv[n++] = "--json";
    argv[n++] = "--metrics";
    argv[n++] = metrics;
    argv[n++] = "--save";
    argv[n++] = save;
    argv[n++] = "--stop-on-divergence";
    argv[n++] = "--collective";
    argv[n++] = "none";
    if (tensorboard) {
        size_t tl = strlen(tensorboard) + strlen(r->name) + 2;
        if (!(tb = malloc(tl))) {
            close(fd);
            cli_error("out of memory");
            goto out;
        }
        snprintf(tb, tl, "%s/%s", tensorboard, r->name);
        argv[n++] = "--tensorboard";
        argv[n++] = tb;
    }
    argv[n] = NULL;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        /* A run never outlives its sweep (killed, it would go on writing
         * into DIR, unlocked, while a rerun starts the same run). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (threads > 0) {
            char t[16];
            snprintf(t, sizeof t, "%d", threads);
            setenv("OMP_NUM_THREADS", t, 1);
        }
        execv(self_exe, argv);
        fprintf(stderr, "clgrad: sweep: cannot run %s: %s\n", self_exe, strerror(errno));
        _exit(127);
    }
    close(fd);
    if (pid < 0)
        cli_error("sweep: cannot start a run: %s", strerror(errno));
    r->t0 = now();
out:
    free(dir);
    free(metrics);
    free(save);
    free(log);
    free(res);
    free(tb);
    free(argv);
    return pid;
}

static int finish_run(const sweep *w, sweep_run *r, int wstatus)
{
    r->seconds = now() - r->t0;
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    r->status = code == 0 ? RUN_OK : code == CLI_EXIT_DIVERGED ? RUN_DIVERGED : RUN_FAILED;
    char *log = run_path(w, r, "log.txt"), *metrics = run_path(w, r, "metrics.csv"),
         *res = run_path(w, r, RESULT_FILE);
    int rc = -1;
    if (!log || !metrics || !res) {
        cli_error("out of memory");
        goto out;
    }
    if (r->status != RUN_OK) {
        last_error(log, r->why, sizeof r->why);
        if (!r->why[0])
            snprintf(r->why, sizeof r->why, "exit status %d (see %s)", code, log);
    }
    if (read_metrics(metrics, r))
        goto out;
    /* Written last: its presence says the run is complete. */
    rc = sweep_write_atomic("--out", res, write_result, r);
out:
    free(log);
    free(metrics);
    free(res);
    return rc;
}

static void say_run(const sweep *w, const sweep_run *r, int k)
{
    if (w->quiet)
        return;
    printf("[%d/%d] %s: %s", k, w->n_runs, r->name,
           r->status == RUN_OK ? "ok" : r->status == RUN_DIVERGED ? "diverged" : "failed");
    double s = sweep_score(w, r);
    if (r->status == RUN_OK && isfinite(s))
        printf("  %s %.4f", sweep_metric_name(w), sweep_metric_value(w, s));
    printf("  %.1fs%s", r->seconds, r->skipped ? " (done before)" : "");
    if (r->status != RUN_OK && r->why[0])
        printf("  (%s)", r->why);
    printf("\n");
    fflush(stdout);
}

static int run_all(sweep *w, int jobs, const char *tensorboard)
{
    int threads = 0;
    find_self();
    /* Each process gets its share of the cores, unless the user chose. */
    if (!getenv("OMP_NUM_THREADS")) {
        threads = cores() / jobs;
        if (threads < 1)
            threads = 1;
    }
    int todo = 0;
    for (int i = 0; i < w->n_runs; i++)
        todo += !w->run[i].skipped;
    if (!w->quiet) {
        printf("sweep: %d run%s", w->n_runs, w->n_runs == 1 ? "" : "s");
        if (todo < w->n_runs)
            printf(" (%d complete in %s, skipped)", w->n_runs - todo, w->out);
        if (threads)
            printf(", %d at a time, %d thread%s each\n", jobs, threads, threads == 1 ? "" : "s");
        else
            printf(", %d at a time, OMP_NUM_THREADS=%s each\n", jobs, getenv("OMP_NUM_THREADS"));
        fflush(stdout);
    }
    int done = 0, running = 0, next = 0, rc = 0;
    for (int i = 0; i < w->n_runs; i++)
        if (w->run[i].skipped)
            say_run(w, &w->run[i], ++done);
    while (running > 0 || (next < w->n_runs && rc == 0)) {
        while (rc == 0 && running < jobs && next < w->n_runs) {
            sweep_run *r = &w->run[next++];
            if (r->skipped)
                continue;
            r->pid = start_run(w, r, tensorboard, threads);
            if (r->pid < 0) {
                rc = -1;
                break;
            }
            running++;
        }
        if (running == 0)
            break;
        int ws;
        pid_t pid = waitpid(-1, &ws, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            cli_error("sweep: waitpid: %s", strerror(errno));
            return -1;
        }
        for (int i = 0; i < w->n_runs; i++)
            if (w->run[i].pid == pid && !w->run[i].skipped && w->run[i].status == RUN_PENDING) {
                running--;
                if (finish_run(w, &w->run[i], ws))
                    rc = -1;
                say_run(w, &w->run[i], ++done);
                /* results.csv grows as runs finish: a long sweep can be read
                 * while it runs */
                if (rc == 0 && sweep_write_csv(w))
                    rc = -1;
            }
    }
    return rc;
}

/* ------------------------------------------------------------- command */

static void free_sweep(sweep *w)
{
    for (int i = 0; i < w->n_axes; i++) {
        free(w->axis[i].name);
        for (int j = 0; j < w->axis[i].n; j++)
            free(w->axis[i].v[j]);
        free(w->axis[i].v);
    }
    free(w->axis);
    for (int r = 0; r < w->n_runs; r++) {
        for (int i = 0; i < w->run[r].n_args; i++)
            free(w->run[r].args[i]);
        free(w->run[r].args);
        free(w->run[r].pick);
        free(w->run[r].ep);
    }
    free(w->run);
}

int cli_sweep(int argc, char **argv)
{
    sweep w;
    memset(&w, 0, sizeof w);
    const char *grid = NULL, *tensorboard = NULL;
    long long jobs = 1;
    char **base = calloc((size_t)argc + 1, sizeof *base);
    int n_base = 0, rc = 2;
    clg_ctx *ctx = NULL;
    char *curves = NULL;
    if (!base) {
        cli_error("out of memory");
        return 1;
    }
    /* The sweep's own options; the rest are train options for every run. */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        static const char *const own[] = { "--grid", "--out", "--jobs", "--plot", "--tensorboard" };
        const char *val = NULL;
        int which = -1;
        for (int k = 0; k < 5; k++) {
            size_t l = strlen(own[k]);
            if (!strncmp(a, own[k], l) && (a[l] == '\0' || a[l] == '=')) {
                which = k;
                if (a[l] == '=')
                    val = a + l + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else {
                    cli_error("%s needs a value", own[k]);
                    goto out;
                }
            }
        }
        if (which < 0) {
            if (!strcmp(a, "--quiet")) {
                w.quiet = 1;
                continue;
            }
            size_t nl = strcspn(a, "=");
            char flag[64];
            snprintf(flag, sizeof flag, "%.*s", (int)(nl < 63 ? nl : 63), a);
            if (is_per_run(flag)) {
                cli_error("%s is not an option of sweep: the sweep sets it for each run, whose "
                          "weights, metrics and log go to DIR/runs/NAME (--out DIR)", flag);
                goto out;
            }
            base[n_base++] = argv[i];
            /* keep a flag's value with it */
            if (!strchr(a, '=') && (cli_option_kind(flag) & CLI_OPT_VALUE) &&
                cli_option_kind(flag) > 0 && i + 1 < argc)
                base[n_base++] = argv[++i];
            continue;
        }
        if (which == 0)
            grid = val;
        else if (which == 1)
            w.out = val;
        else if (which == 2) {
            char *end;
            errno = 0;
            jobs = strtoll(val, &end, 10);
            if (end == val || *end || errno || jobs < 1 || jobs > 256) {
                cli_error("--jobs %s: must be an integer from 1 to 256", cli_short(val));
                goto out;
            }
        } else if (which == 3)
            w.plot = val;
        else
            tensorboard = val;
    }
    if (!grid || !w.out) {
        cli_error("sweep needs --grid 'axis=v1|v2;...' and --out DIR (see clgrad --help)");
        goto out;
    }
    cli_opts o;
    cli_opts_default(&o);
    if (cli_parse_options(&o, n_base, base, 0, 0))
        goto out;
    if (w.plot && cli_plot_check(w.plot))
        goto out;
    ctx = clg_ctx_new();
    if (!ctx) {
        cli_error("out of memory");
        goto out;
    }
    for (int i = 0; i < o.n_plugins; i++)
        if (clg_plugins_load(ctx, o.plugins[i]) != CLG_OK) {
            cli_error("--plugin: %s", clg_ctx_error(ctx));
            goto out;
        }
    if (parse_grid(&w, grid, ctx, &o) || make_runs(&w, n_base, base))
        goto out;
    /* Every run's full option list parses (conflicts between values). */
    for (int r = 0; r < w.n_runs; r++) {
        cli_opts ro;
        cli_opts_default(&ro);
        if (cli_parse_options(&ro, w.run[r].n_args, w.run[r].args, 0, 0)) {
            cli_error("--grid: run '%s' is invalid (above)", w.run[r].name);
            goto out;
        }
    }
    rc = 1;
    if (cli_check_output_dir("--out", w.out) || cli_lock_dir("--out", w.out))
        goto out;
    size_t pl = strlen(w.out) + 32;
    if (!(curves = malloc(pl))) {
        cli_error("out of memory");
        goto out;
    }
    snprintf(curves, pl, "%s/runs", w.out);
    if (make_dir("--out", curves))
        goto out;
    /* Each run writes its event file to DIR/NAME, and train creates only
     * the last component. */
    if (tensorboard && make_dir("--tensorboard", tensorboard))
        goto out;
    for (int r = 0; r < w.n_runs; r++)
        if (read_result(&w, &w.run[r]) < 0)
            goto out;
    /* Runs done before: their curves and numbers come from their files. */
    for (int r = 0; r < w.n_runs; r++)
        if (w.run[r].skipped) {
            char *m = run_path(&w, &w.run[r], "metrics.csv");
            if (!m || read_metrics(m, &w.run[r])) {
                free(m);
                goto out;
            }
            free(m);
        }
    if (run_all(&w, (int)jobs, tensorboard))
        goto out;
    if (sweep_write_csv(&w))
        goto out;
    snprintf(curves, pl, "%s/curves.svg", w.out);
    const char *cpath = w.plot ? w.plot : curves;
#ifdef CLG_HAVE_CAIRO
    if (sweep_write_curves(&w, cpath))
        goto out;
#else
    if (w.plot && sweep_write_curves(&w, cpath))
        goto out;
#endif
    if (sweep_print_table(&w))
        goto out;
    rc = 0;
    for (int r = 0; r < w.n_runs; r++)
        if (w.run[r].status == RUN_FAILED)
            rc = 1;
    if (rc)
        cli_error("sweep: some runs failed (their logs: %s/runs/NAME/log.txt)", cli_short(w.out));
out:
    free(curves);
    free(base);
    clg_ctx_free(ctx);
    free_sweep(&w);
    return rc;
}
