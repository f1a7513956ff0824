/* clgrad: the command-line front end. `devices` and `plugins` list what the
 * loader finds; `train` and `eval` live in run.c. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: clgrad devices                      backends and their devices\n"
    "       clgrad plugins [NAME] [--plugin PATH]...  registered components; NAME: its hyperparameters\n"
    "       clgrad plugins --check FILE         load one plugin .so and report author mistakes\n"
    "       clgrad layers [NAME]                layers of --model pipelines; NAME: its keys\n"
    "       clgrad train [options]              train (default: the seed network on synthetic data)\n"
    "       clgrad eval  --load FILE [options]  loss and accuracy of saved weights\n"
    "       clgrad sweep --grid 'AXIS=V1|V2;...' --out DIR [--jobs N] [--plot FILE] [train options]\n"
    "                     every combination as a train run; results.csv, curves, ranked table\n"
    "       clgrad lr-find [--start 1e-7] [--end 10] [--steps 100] [--plot FILE] [train options]\n"
    "                     learning-rate range test: a suggested --lr\n"
    "       clgrad sample --load FILE --model SPEC --prompt TEXT --tokens N [--temperature T]\n"
    "                     [--top-k K] [--seed S] [--seq T]   text from a byte-level language model\n"
    "\n"
    "options of train and eval:\n"
    "  --backend auto|cpu|opencl   --device N   --plugin PATH (repeatable)\n"
    "  --data synthetic[:N] | csv:PATH[,target=NAME|INDEX][,classes=K][,header=0|1]\n"
    "         | fashion-mnist[:DIR][,classes=A/B/...][,limit=N] | mnist[...] | text:PATH[,seq=T]\n"
    "         --val-split F\n"
    "  --model linear | mlp:H1,H2,...[,act=relu|tanh|sigmoid|gelu]   (default mlp:5)\n"
    "          | LAYER > LAYER > ... (clgrad layers) | @FILE (one layer per line)\n"
    "  --loss NAME[:k=v,...]   --batch-size B (32)   --seed S (0)   --json   --quiet\n"
    "train only:\n"
    "  --optimizer NAME[:k=v,...] (sgd)   --lr X (0.01)   --scheduler NAME[:k=v,...,interval=epoch|step]\n"
    "  --clip-grad-norm X   --accumulate K   --epochs N (10)   --no-shuffle   --drop-last\n"
    "  --init FILE   --save FILE   --checkpoint-dir DIR   --resume DIR\n"
    "  --init-partial   --init-skip GLOBS   --freeze GLOBS   --lr-scale 'GLOB=F,...'\n"
    "  --save-dtype f32|f16|bf16   (docs/finetuning.md)\n"
    "  --metrics FILE.csv   --plot FILE.svg|FILE.png   --collective auto|none|NAME (mpirun)\n"
    "  --tensorboard DIR (event files for tensorboard --logdir)\n"
    "  --stop-on-divergence (exit 3 when a step's loss is nan/inf or over 4x the first)\n"
    "eval only:\n"
    "  --load FILE|DIR   (safetensors weights, or a checkpoint directory)\n"
    "See docs/cli.md.\n";

static const char *type_name(clg_device_type t)
{
    switch (t) {
    case CLG_DEVICE_CPU: return "cpu";
    case CLG_DEVICE_GPU: return "gpu";
    case CLG_DEVICE_ACCEL: return "accelerator";
    default: return "other";
    }
}

static int cmd_devices(int argc, char **argv)
{
    if (argc > 0) {
        cli_error("devices takes no arguments (got '%s')", argv[0]);
        return 2;
    }
    clg_ctx *ctx = clg_ctx_new();
    if (!ctx)
        return 1;
    int rc = 0;
    const char *names[] = { "cpu", "opencl" };
    for (int k = 0; k < 2; k++) {
        if (clg_backend_load(ctx, names[k]) != CLG_OK) {
            printf("%s: not available: %s\n", names[k], clg_ctx_error(ctx));
            if (k == 0)
                rc = 1; /* the CPU backend is always expected */
            continue;
        }
        int n = 0;
        if (clg_device_count(ctx, names[k], &n) != CLG_OK || n == 0) {
            printf("%s: no devices%s%s\n", names[k], n ? ": " : "", n ? clg_ctx_error(ctx) : "");
            continue;
        }
        for (int i = 0; i < clg_backend_count(ctx); i++)
            if (!strcmp(clg_backend_name(ctx, i), names[k]))
                printf("%s (%s)\n", names[k], clg_backend_path(ctx, i));
        for (int i = 0; i < n; i++) {
            clg_device_info info;
            if (clg_device_info_get(ctx, names[k], i, &info) != CLG_OK) {
                printf("  %d: %s\n", i, clg_ctx_error(ctx));
                continue;
            }
            printf("  %d: %s [%s] %s, %.1f GiB, %d compute units%s%s\n", i, info.name,
                   type_name(info.type), info.vendor, (double)info.global_mem / (1u << 30),
                   info.compute_units, info.driver[0] ? ", " : "", info.driver);
        }
    }
    clg_ctx_free(ctx);
    return rc;
}

static const char *hp_type(clg_hp_type t)
{
    switch (t) {
    case CLG_HP_FLOAT: return "float";
    case CLG_HP_INT: return "int";
    case CLG_HP_BOOL: return "bool";
    case CLG_HP_CHOICE: return "choice";
    case CLG_HP_FLOAT_LIST: return "float list";
    case CLG_HP_INT_LIST: return "int list";
    }
    return "?";
}

static void print_range(const clg_hparam_def *h)
{
    if (h->type == CLG_HP_CHOICE && h->choices)
        printf(" {%s}", h->choices);
    if (h->range & CLG_HP_MIN)
        printf(" %s%g", h->range & CLG_HP_MIN_OPEN ? ">" : ">=", h->min);
    if (h->range & CLG_HP_MAX)
        printf(" %s%g", h->range & CLG_HP_MAX_OPEN ? "<" : "<=", h->max);
}

static int cmd_plugins(int argc, char **argv)
{
    clg_ctx *ctx = clg_ctx_new();
    if (!ctx)
        return 1;
    const char *name = NULL;
    int rc = 0;
    if (argc >= 1 && !strcmp(argv[0], "--check")) {
        clg_ctx_free(ctx);
        if (argc != 2) {
            cli_error("plugins --check takes one FILE (a plugin .so)");
            return 2;
        }
        return cli_plugins_check(argv[1]);
    }
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--plugin") && i + 1 < argc) {
            if (clg_plugins_load(ctx, argv[++i]) != CLG_OK) {
                cli_error("--plugin: %s", clg_ctx_error(ctx));
                rc = 1;
            }
        } else if (!strncmp(argv[i], "--plugin=", 9)) {
            if (clg_plugins_load(ctx, argv[i] + 9) != CLG_OK) {
                cli_error("--plugin: %s", clg_ctx_error(ctx));
                rc = 1;
            }
        } else if (!name && argv[i][0] != '-') {
            name = argv[i];
        } else {
            cli_error("plugins: unexpected argument '%s' (usage: clgrad plugins [NAME] [--plugin PATH]... "
                      "| clgrad plugins --check FILE)",
                      argv[i]);
            clg_ctx_free(ctx);
            return 2;
        }
    }
    if (clg_plugins_load_default(ctx) != CLG_OK) {
        cli_error("warning: %s", clg_ctx_error(ctx));
    }
    const char *bk[] = { "cpu", "opencl" };
    int found = 0;
    if (!name) {
        printf("backends:\n");
        for (int k = 0; k < 2; k++) {
            if (clg_backend_load(ctx, bk[k]) == CLG_OK)
                printf("  %-16s %s\n", bk[k], clg_backend_path(ctx, clg_backend_count(ctx) - 1));
            else
                printf("  %-16s not available: %s\n", bk[k], clg_ctx_error(ctx));
        }
    }
    for (int kind = CLG_COMPONENT_OPTIMIZER; kind <= CLG_COMPONENT_COLLECTIVE; kind++) {
        if (!name)
            printf("%s:\n", kind == CLG_COMPONENT_OPTIMIZER ? "optimizers"
                             : kind == CLG_COMPONENT_LOSS    ? "losses"
                             : kind == CLG_COMPONENT_SCHEDULER ? "schedulers"
                                                               : "collectives");
        int listed = 0;
        for (int i = 0; i < clg_component_count(ctx); i++) {
            clg_component_info c;
            if (clg_component_get(ctx, i, &c) != CLG_OK || (int)c.kind != kind)
                continue;
            listed++;
            if (!name) {
                printf("  %-16s %s\n", c.name, c.doc);
                continue;
            }
            if (strcmp(c.name, name))
                continue;
            found = 1;
            printf("%s %s: %s\n  from %s\n", clg_component_kind_name(c.kind), c.name, c.doc,
                   c.path);
            if (c.n_hparams == 0)
                printf("  no hyperparameters\n");
            for (int h = 0; h < c.n_hparams; h++) {
                const clg_hparam_def *d = &c.hparams[h];
                printf("  %-22s %-10s default %-8s %s", d->name, hp_type(d->type),
                       d->def && *d->def ? d->def : "\"\"", d->doc ? d->doc : "");
                print_range(d);
                printf("\n");
            }
        }
        if (!name && !listed && kind == CLG_COMPONENT_COLLECTIVE)
            printf("  (none: the mpi collective is built where Open MPI is installed)\n");
    }
    if (!name && clg_plugins_notice_count(ctx) > 0) {
        printf("notices:\n");
        for (int i = 0; i < clg_plugins_notice_count(ctx); i++)
            printf("  %s\n", clg_plugins_notice(ctx, i));
    }
    if (name && !found) {
        for (int k = 0; k < 2; k++)
            if (!strcmp(name, bk[k])) {
                found = 1;
                if (clg_backend_load(ctx, bk[k]) == CLG_OK)
                    printf("backend %s: %s\n  (devices: clgrad devices)\n", bk[k],
                           clg_backend_path(ctx, clg_backend_count(ctx) - 1));
                else
                    printf("backend %s: not available: %s\n", bk[k], clg_ctx_error(ctx));
            }
    }
    if (name && !found) {
        char known[2048] = "";
        size_t used = 0;
        for (int i = 0; i < clg_component_count(ctx) && used + 40 < sizeof known; i++) {
            clg_component_info c;
            if (clg_component_get(ctx, i, &c) == CLG_OK)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                         used ? ", " : "", c.name);
        }
        cli_error("plugins: no component or backend named '%s' (known: cpu, opencl%s%s)", name,
                  used ? ", " : "", known);
        rc = 1;
    }
    clg_ctx_free(ctx);
    return rc;
}

static int dispatch(int argc, char **argv)
{
    /* a crash inside a plugin's callback names the plugin and the callback */
    clg_plugins_crash_report();
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("clgrad %s\n", CLGRAD_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "devices"))
        return cmd_devices(argc - 2, argv + 2);
    if (!strcmp(cmd, "plugins"))
        return cmd_plugins(argc - 2, argv + 2);
    if (!strcmp(cmd, "layers"))
        return cli_layers(argc - 2, argv + 2);
    if (!strcmp(cmd, "sample"))
        return cli_sample(argc - 2, argv + 2);
    if (!strcmp(cmd, "train"))
        return cli_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval"))
        return cli_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "sweep"))
        return cli_sweep(argc - 2, argv + 2);
    if (!strcmp(cmd, "lr-find"))
        return cli_lr_find(argc - 2, argv + 2);
    cli_error("unknown command '%s' (known: devices, plugins, layers, train, eval, sweep, lr-find, sample; see "
              "clgrad --help)", cli_short(cmd));
    return 2;
}

int main(int argc, char **argv)
{
    /* A closed stdin, stdout or stderr would be reused by the next file the
     * command opens (a checkpoint, the metrics), and printed lines would
     * land in it. Hold the slot with /dev/null opened read-only: a write
     * there fails, and the failure is reported below. */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int n = open("/dev/null", O_RDONLY);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
    int rc = dispatch(argc, argv);
    /* Output the user asked for and did not get is a failure. */
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (!cli_stdout_reported)
            cli_error("stdout: write failed: %s", errno ? strerror(errno) : "error");
        if (rc == 0)
            rc = 1;
    }
    return rc;
}
