/* The component registry without a device: loading (good and broken .so
 * files), the listing, hyperparameter parsing, and every scheduler's lr
 * sequence against PyTorch (fixtures.h). */
#include "fixtures.h"

#include <check.h>
#include <clgrad/train.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef BAD_DIR
#error BAD_DIR must name the folder of the broken test modules
#endif

static clg_ctx *loaded_ctx(void)
{
    clg_ctx *ctx = clg_ctx_new();
    ck_assert(ctx != NULL);
    ck_assert_msg(clg_plugins_load_default(ctx) == CLG_OK, "%s", clg_ctx_error(ctx));
    return ctx;
}

static int has(const char *msg, const char *needle)
{
    return strstr(msg, needle) != NULL;
}

#define ASSERT_MSG_HAS(ctx, s) \
    ck_assert_msg(has(clg_ctx_error(ctx), s), "message lacks '%s': %s", s, clg_ctx_error(ctx))

START_TEST(listing)
{
    clg_ctx *ctx = loaded_ctx();
    static const struct { clg_component_kind k; const char *name; } want[] = {
        { CLG_COMPONENT_OPTIMIZER, "sgd" }, { CLG_COMPONENT_OPTIMIZER, "adam" },
        { CLG_COMPONENT_OPTIMIZER, "adamw" }, { CLG_COMPONENT_OPTIMIZER, "rmsprop" },
        { CLG_COMPONENT_OPTIMIZER, "adagrad" },
        { CLG_COMPONENT_LOSS, "mse" }, { CLG_COMPONENT_LOSS, "l1" }, { CLG_COMPONENT_LOSS, "huber" },
        { CLG_COMPONENT_LOSS, "smooth-l1" }, { CLG_COMPONENT_LOSS, "bce" },
        { CLG_COMPONENT_LOSS, "bce-with-logits" }, { CLG_COMPONENT_LOSS, "cross-entropy" },
        { CLG_COMPONENT_LOSS, "nll" },
        { CLG_COMPONENT_SCHEDULER, "constant" }, { CLG_COMPONENT_SCHEDULER, "step" },
        { CLG_COMPONENT_SCHEDULER, "multistep" }, { CLG_COMPONENT_SCHEDULER, "exponential" },
        { CLG_COMPONENT_SCHEDULER, "linear" }, { CLG_COMPONENT_SCHEDULER, "cosine" },
        { CLG_COMPONENT_SCHEDULER, "invsqrt" }, { CLG_COMPONENT_SCHEDULER, "warmup" },
        { CLG_COMPONENT_SCHEDULER, "onecycle" }, { CLG_COMPONENT_SCHEDULER, "plateau" },
    };
    int n = clg_component_count(ctx);
    ck_assert_int_ge(n, (int)(sizeof want / sizeof want[0]));
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        int found = 0;
        for (int i = 0; i < n; i++) {
            clg_component_info info;
            ck_assert(clg_component_get(ctx, i, &info) == CLG_OK);
            if (info.kind != want[w].k || strcmp(info.name, want[w].name) != 0)
                continue;
            found = 1;
            ck_assert_msg(strstr(info.path, "clgrad-plugin-") != NULL, "%s", info.path);
            ck_assert(info.doc && *info.doc);
            for (int h = 0; h < info.n_hparams; h++)
                ck_assert(info.hparams[h].name && info.hparams[h].def && info.hparams[h].doc);
        }
        ck_assert_msg(found, "%s '%s' not registered", clg_component_kind_name(want[w].k),
                      want[w].name);
    }
    clg_component_info info;
    ck_assert(clg_component_find(ctx, CLG_COMPONENT_OPTIMIZER, "adamw", &info) == CLG_OK);
    int saw_wd = 0, saw_lr = 0;
    for (int h = 0; h < info.n_hparams; h++) {
        if (strcmp(info.hparams[h].name, "weight_decay") == 0) {
            saw_wd = 1;
            ck_assert_str_eq(info.hparams[h].def, "0.01");
        }
        saw_lr |= strcmp(info.hparams[h].name, "lr") == 0;
    }
    ck_assert(saw_wd && saw_lr);
    ck_assert(clg_component_find(ctx, CLG_COMPONENT_SCHEDULER, "cosine", &info) == CLG_OK);
    ck_assert_str_eq(info.hparams[info.n_hparams - 1].name, "interval");
    ck_assert(clg_component_find(ctx, CLG_COMPONENT_LOSS, "adam", &info) == CLG_ERR_NOT_FOUND);
    ASSERT_MSG_HAS(ctx, "cross-entropy"); /* lists the known losses */
    /* loading the default set twice and a file twice are no-ops */
    ck_assert(clg_plugins_load_default(ctx) == CLG_OK);
    ck_assert(clg_component_find(ctx, CLG_COMPONENT_OPTIMIZER, "sgd", &info) == CLG_OK);
    ck_assert(clg_plugins_load(ctx, info.path) == CLG_OK);
    ck_assert_int_eq(clg_component_count(ctx), n);
    clg_ctx_free(ctx);
}
END_TEST

START_TEST(hparams)
{
    clg_ctx *ctx = loaded_ctx();
    clg_hparams *hp;
    ck_assert_msg(clg_hparams_parse(ctx, CLG_COMPONENT_OPTIMIZER,
                                    "adam:beta1=0.8,beta2=0.99,amsgrad=true,eps=1e-6", &hp) == CLG_OK,
                  "%s", clg_ctx_error(ctx));
    ck_assert(clg_hp_float(hp, "beta1") == 0.8);
    ck_assert(clg_hp_float(hp, "beta2") == 0.99);
    ck_assert(clg_hp_float(hp, "eps") == 1e-6);
    ck_assert(clg_hp_float(hp, "weight_decay") == 0.0);
    ck_assert_int_eq(clg_hp_bool(hp, "amsgrad"), 1);
    ck_assert_int_eq(clg_hp_given(hp, "beta1"), 1);
    ck_assert_int_eq(clg_hp_given(hp, "weight_decay"), 0);
    ck_assert(clg_hp_float(hp, "nokey") == 0.0);
    ck_assert_int_eq(clg_hp_int(hp, "beta1"), 0); /* wrong type */
    char buf[512];
    clg_hparams_str(hp, buf, sizeof buf);
    ck_assert_msg(has(buf, "adam:") && has(buf, "amsgrad=1"), "%s", buf);
    clg_hparams_free(hp);

    ck_assert(clg_hparams_parse(ctx, CLG_COMPONENT_SCHEDULER,
                                "multistep:milestones=3/10/10,gamma=0.5,interval=step", &hp) == CLG_OK);
    int n;
    const int64_t *m = clg_hp_int_list(hp, "milestones", &n);
    ck_assert_int_eq(n, 3);
    ck_assert(m[0] == 3 && m[1] == 10 && m[2] == 10);
    ck_assert_str_eq(clg_hp_choice(hp, "interval"), "step");
    clg_hparams_free(hp);
    ck_assert(clg_hparams_parse(ctx, CLG_COMPONENT_SCHEDULER, "multistep:milestones=", &hp) == CLG_OK);
    m = clg_hp_int_list(hp, "milestones", &n);
    ck_assert_int_eq(n, 0);
    clg_hparams_free(hp);
    ck_assert(clg_hparams_parse(ctx, CLG_COMPONENT_LOSS, "bce-with-logits:pos_weight=1/2.5/3", &hp) == CLG_OK);
    const double *pw = clg_hp_float_list(hp, "pos_weight", &n);
    ck_assert(n == 3 && pw[1] == 2.5);
    clg_hparams_free(hp);
    ck_assert(clg_hparams_parse(ctx, CLG_COMPONENT_SCHEDULER, "onecycle:anneal=linear", &hp) == CLG_OK);
    ck_assert_str_eq(clg_hp_choice(hp, "anneal"), "linear");
    clg_hparams_free(hp);

    static const struct { clg_component_kind k; const char *spec; clg_status st; const char *a, *b; } bad[] = {
        { CLG_COMPONENT_OPTIMIZER, "adam:foo=1", CLG_ERR_INVALID, "adam", "foo" },
        { CLG_COMPONENT_OPTIMIZER, "adam:beta1=abc", CLG_ERR_INVALID, "adam", "beta1" },
        { CLG_COMPONENT_OPTIMIZER, "adam:beta1=1", CLG_ERR_INVALID, "adam", "beta1" },
        { CLG_COMPONENT_OPTIMIZER, "adam:beta2=-0.1", CLG_ERR_INVALID, "adam", "beta2" },
        { CLG_COMPONENT_OPTIMIZER, "adam:lr=-0.01", CLG_ERR_INVALID, "adam", "lr" },
        { CLG_COMPONENT_OPTIMIZER, "adam:eps=nan", CLG_ERR_INVALID, "adam", "eps" },
        { CLG_COMPONENT_OPTIMIZER, "adam:eps=inf", CLG_ERR_INVALID, "adam", "eps" },
        { CLG_COMPONENT_OPTIMIZER, "adam:amsgrad=yes", CLG_ERR_INVALID, "adam", "amsgrad" },
        { CLG_COMPONENT_OPTIMIZER, "adam:beta1=0.9,beta1=0.8", CLG_ERR_INVALID, "adam", "beta1" },
        { CLG_COMPONENT_OPTIMIZER, "adam:beta1", CLG_ERR_INVALID, "adam", "beta1" },
        { CLG_COMPONENT_OPTIMIZER, "adam:beta1=0.9,", CLG_ERR_INVALID, "adam", "," },
        { CLG_COMPONENT_OPTIMIZER, "sgd:nesterov=1", CLG_ERR_INVALID, "sgd", "nesterov" },
        { CLG_COMPONENT_OPTIMIZER, "sgd:momentum=0.9,dampening=0.1,nesterov=1", CLG_ERR_INVALID, "sgd", "dampening" },
        { CLG_COMPONENT_OPTIMIZER, "sgd:momentum=0.9x", CLG_ERR_INVALID, "sgd", "momentum" },
        { CLG_COMPONENT_OPTIMIZER, "lion", CLG_ERR_NOT_FOUND, "lion", "adam" },
        { CLG_COMPONENT_SCHEDULER, "step:step_size=0", CLG_ERR_INVALID, "step", "step_size" },
        { CLG_COMPONENT_SCHEDULER, "step:step_size=2.5", CLG_ERR_INVALID, "step", "step_size" },
        { CLG_COMPONENT_SCHEDULER, "multistep:milestones=3/x", CLG_ERR_INVALID, "multistep", "milestones" },
        { CLG_COMPONENT_SCHEDULER, "cosine:interval=batch", CLG_ERR_INVALID, "cosine", "interval" },
        { CLG_COMPONENT_SCHEDULER, "onecycle:anneal=cubic", CLG_ERR_INVALID, "onecycle", "anneal" },
        { CLG_COMPONENT_SCHEDULER, "onecycle:pct_start=0.001", CLG_ERR_INVALID, "onecycle", "pct_start" },
        { CLG_COMPONENT_SCHEDULER, "plateau:factor=1", CLG_ERR_INVALID, "plateau", "factor" },
        { CLG_COMPONENT_LOSS, "cross-entropy:label_smoothing=1.5", CLG_ERR_INVALID, "cross-entropy", "label_smoothing" },
        { CLG_COMPONENT_LOSS, "nll:ignore_index=1e3", CLG_ERR_INVALID, "nll", "ignore_index" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hp = NULL;
        clg_status st = clg_hparams_parse(ctx, bad[i].k, bad[i].spec, &hp);
        ck_assert_msg(st == bad[i].st, "'%s' gave %s", bad[i].spec, clg_status_name(st));
        ck_assert(hp == NULL);
        ck_assert_msg(has(clg_ctx_error(ctx), bad[i].a) && has(clg_ctx_error(ctx), bad[i].b),
                      "'%s': message lacks '%s'/'%s': %s", bad[i].spec, bad[i].a, bad[i].b,
                      clg_ctx_error(ctx));
    }
    clg_ctx_free(ctx);
}
END_TEST

/* Every scheduler's lr sequence over FX_SSTEPS steps matches torch's. */
START_TEST(schedules)
{
    clg_ctx *ctx = loaded_ctx();
    int n = (int)(sizeof fx_sched / sizeof fx_sched[0]);
    double worst_all = 0;
    int bad = 0;
    for (int c = 0; c < n; c++) {
        clg_scheduler *s;
        ck_assert_msg(clg_scheduler_new(ctx, fx_sched[c].spec, fx_sched[c].base_lr, &s) == CLG_OK,
                      "%s: %s", fx_sched[c].spec, clg_ctx_error(ctx));
        double worst = 0;
        for (int t = 0; t <= FX_SSTEPS; t++) {
            if (t > 0)
                ck_assert_msg(clg_scheduler_step(s, fx_metric[t - 1]) == CLG_OK, "%s: %s",
                              fx_sched[c].spec, clg_ctx_error(ctx));
            double got = clg_scheduler_lr(s), want = fx_sched[c].lr[t];
            double r = fabs(got - want) / (fabs(want) > 1e-12 ? fabs(want) : 1e-12);
            if (fabs(got - want) < 1e-18)
                r = 0;
            if (r > 1e-7)
                fprintf(stderr, "%s: t=%d lr %.17g, torch %.17g\n", fx_sched[c].spec, t, got, want);
            if (r > worst)
                worst = r;
        }
        ck_assert_int_eq(clg_scheduler_t(s), FX_SSTEPS);
        printf("sched %-80s max rel dev %.2e\n", fx_sched[c].spec, worst);
        bad += worst > 1e-7;
        if (worst > worst_all)
            worst_all = worst;
        clg_scheduler_free(s);
    }
    printf("schedulers: %d cases, worst rel dev %.2e (tolerance 1e-7)\n", n, worst_all);
    ck_assert_msg(bad == 0, "%d scheduler cases deviate from torch", bad);

    /* onecycle refuses to step past total_steps, as torch does */
    clg_scheduler *s;
    ck_assert_msg(clg_scheduler_new(ctx, "onecycle:total_steps=10", 0.1, &s) == CLG_OK, "%s",
                  clg_ctx_error(ctx));
    for (int t = 0; t < 10; t++)
        ck_assert(clg_scheduler_step(s, NAN) == CLG_OK);
    double lr = clg_scheduler_lr(s);
    ck_assert(clg_scheduler_step(s, NAN) == CLG_ERR_INVALID);
    ASSERT_MSG_HAS(ctx, "total_steps");
    ck_assert(clg_scheduler_lr(s) == lr && clg_scheduler_t(s) == 10);
    clg_scheduler_free(s);
    /* chains share one interval */
    ck_assert(clg_scheduler_new(ctx, "warmup:interval=step+cosine:interval=epoch", 0.1, &s) ==
              CLG_ERR_INVALID);
    ASSERT_MSG_HAS(ctx, "interval");
    ck_assert(clg_scheduler_new(ctx, "warmup+cosine:interval=step", 0.1, &s) == CLG_OK);
    ck_assert_int_eq(clg_scheduler_per_step(s), 1);
    clg_scheduler_free(s);
    /* '+' inside a number does not split the chain */
    ck_assert(clg_scheduler_new(ctx, "exponential:gamma=5e+0", 0.1, &s) == CLG_OK);
    ck_assert(clg_scheduler_step(s, NAN) == CLG_OK);
    ck_assert(fabs(clg_scheduler_lr(s) - 0.5) < 1e-15);
    clg_scheduler_free(s);
    clg_ctx_free(ctx);
}
END_TEST

static clg_status load_bad(clg_ctx *ctx, const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", BAD_DIR, name);
    return clg_plugins_load(ctx, path);
}

START_TEST(bad_plugins)
{
    clg_ctx *ctx = loaded_ctx();
    char path[1024];
    int n0 = clg_component_count(ctx);

    ck_assert(clg_plugins_load(ctx, BAD_DIR "/does-not-exist.so") == CLG_ERR_LOAD);
    ASSERT_MSG_HAS(ctx, "does-not-exist.so");
    ASSERT_MSG_HAS(ctx, "dlopen");

    ck_assert(load_bad(ctx, "bad-noinit.so", path, sizeof path) == CLG_ERR_LOAD);
    ASSERT_MSG_HAS(ctx, "bad-noinit.so");
    ASSERT_MSG_HAS(ctx, "clg_plugin_abi");

    ck_assert(load_bad(ctx, "bad-noinitfn.so", path, sizeof path) == CLG_ERR_LOAD);
    ASSERT_MSG_HAS(ctx, "bad-noinitfn.so");
    ASSERT_MSG_HAS(ctx, "clg_plugin_init");

    ck_assert(load_bad(ctx, "bad-abi.so", path, sizeof path) == CLG_ERR_ABI);
    ASSERT_MSG_HAS(ctx, "bad-abi.so");
    ASSERT_MSG_HAS(ctx, "ABI 2.0");
    char host_abi[32]; /* the host's own version, named beside the module's */
    snprintf(host_abi, sizeof host_abi, "%d.%d", CLG_PLUGIN_ABI_MAJOR, CLG_PLUGIN_ABI_MINOR);
    ASSERT_MSG_HAS(ctx, host_abi);

    ck_assert(load_bad(ctx, "bad-initfail.so", path, sizeof path) == CLG_ERR_IO);
    ASSERT_MSG_HAS(ctx, "bad-initfail.so");
    ASSERT_MSG_HAS(ctx, "cannot read its settings file");
    clg_component_info info;
    ck_assert(clg_component_find(ctx, CLG_COMPONENT_LOSS, "half-registered", &info) == CLG_ERR_NOT_FOUND);

    /* a clash with a file loaded earlier: skipped with a notice, not failed */
    int nn = clg_plugins_notice_count(ctx);
    ck_assert_msg(load_bad(ctx, "bad-dup.so", path, sizeof path) == CLG_OK, "%s",
                  clg_ctx_error(ctx));
    ck_assert_int_eq(clg_plugins_notice_count(ctx), nn + 1);
    const char *note = clg_plugins_notice(ctx, nn);
    ck_assert_msg(has(note, "bad-dup.so") && has(note, "'adam'") &&
                  has(note, "clgrad-plugin-optim.so"), "%s", note);
    ck_assert(clg_plugins_notice(ctx, nn + 1) == NULL);
    /* one file registering a name twice is refused */
    ck_assert(load_bad(ctx, "bad-twice.so", path, sizeof path) == CLG_ERR_INVALID);
    ASSERT_MSG_HAS(ctx, "bad-twice.so");
    ASSERT_MSG_HAS(ctx, "twice");

    ck_assert(load_bad(ctx, "bad-schema.so", path, sizeof path) == CLG_ERR_INVALID);
    ASSERT_MSG_HAS(ctx, "bad-schema.so");
    ASSERT_MSG_HAS(ctx, "gamma");
    ASSERT_MSG_HAS(ctx, "1.5");

    ck_assert_int_eq(clg_component_count(ctx), n0);
    ck_assert(clg_component_find(ctx, CLG_COMPONENT_OPTIMIZER, "adam", &info) == CLG_OK);
    ck_assert_msg(has(info.path, "clgrad-plugin-optim.so"), "%s", info.path);

    /* registration outside init is refused */
    ck_assert(load_bad(ctx, "bad-late.so", path, sizeof path) == CLG_OK);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    ck_assert(h != NULL);
    clg_status (*late)(void);
    *(void **)&late = dlsym(h, "bad_register_late");
    ck_assert(late != NULL);
    ck_assert(late() == CLG_ERR_INVALID);
    ASSERT_MSG_HAS(ctx, "only valid inside clg_plugin_init");
    dlclose(h);
    ck_assert(clg_component_find(ctx, CLG_COMPONENT_LOSS, "late", &info) == CLG_ERR_NOT_FOUND);
    clg_ctx_free(ctx);
}
END_TEST

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    int ok = a && b;
    char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0)
        ok = fwrite(buf, 1, n, b) == n;
    if (a)
        fclose(a);
    if (b && fclose(b) != 0)
        ok = 0;
    return ok;
}

/* A file loaded explicitly hides the default file of the same name (it
 * comes first in the search order) instead of clashing with it. */
START_TEST(explicit_hides_default)
{
    clg_ctx *probe = loaded_ctx();
    clg_component_info info;
    ck_assert(clg_component_find(probe, CLG_COMPONENT_LOSS, "mse", &info) == CLG_OK);
    char dir[] = "/tmp/clgrad-plugins-XXXXXX", copy[256];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(copy, sizeof copy, "%s/clgrad-plugin-loss.so", dir);
    ck_assert(copy_file(info.path, copy));
    clg_ctx_free(probe);

    clg_ctx *ctx = clg_ctx_new();
    ck_assert_msg(clg_plugins_load(ctx, copy) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_msg(clg_plugins_load_default(ctx) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert(clg_component_find(ctx, CLG_COMPONENT_LOSS, "mse", &info) == CLG_OK);
    ck_assert_msg(strncmp(info.path, "/tmp/clgrad-plugins-", 20) == 0, "%s", info.path);
    ck_assert(clg_component_find(ctx, CLG_COMPONENT_OPTIMIZER, "adam", &info) == CLG_OK);
    clg_ctx_free(ctx);
    remove(copy);
    rmdir(dir);
}
END_TEST

/* A user's plugin that registers a built-in's name ("adam"), found first:
 * its adam is used, with a notice, and the built-in file's other
 * optimizers (sgd, adamw, rmsprop, adagrad) stay registered and train. */
START_TEST(clash_keeps_other_builtins)
{
    char path[4096];
    clg_ctx *ctx = clg_ctx_new();
    ck_assert_msg(load_bad(ctx, "bad-dup.so", path, sizeof path) == CLG_OK, "%s",
                  clg_ctx_error(ctx));
    ck_assert_msg(clg_plugins_load_default(ctx) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_component_info info;
    ck_assert(clg_component_find(ctx, CLG_COMPONENT_OPTIMIZER, "adam", &info) == CLG_OK);
    ck_assert_msg(has(info.path, "bad-dup.so"), "%s", info.path);
    const char *others[] = { "sgd", "adamw", "rmsprop", "adagrad" };
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(clg_component_find(ctx, CLG_COMPONENT_OPTIMIZER, others[i], &info) ==
                      CLG_OK, "%s: %s", others[i], clg_ctx_error(ctx));
        ck_assert_msg(has(info.path, "clgrad-plugin-optim.so"), "%s", info.path);
    }
    int found = 0;
    for (int i = 0; i < clg_plugins_notice_count(ctx); i++) {
        const char *n = clg_plugins_notice(ctx, i);
        found |= has(n, "clgrad-plugin-optim.so") && has(n, "'adam'") && has(n, "bad-dup.so");
    }
    ck_assert_msg(found, "no notice names the clash");
    /* and a built-in of the clashed file still trains */
    clg_device *dev;
    clg_store *st;
    ck_assert(clg_device_open(ctx, "cpu", 0, &dev) == CLG_OK);
    ck_assert(clg_store_new(dev, &st) == CLG_OK);
    clg_shape s = CLG_SHAPE(2);
    float w0[2] = { 1, -2 };
    ck_assert(clg_store_add(st, "w", CLG_F32, &s, w0) == CLG_OK);
    clg_graph *g = clg_graph_new(ctx);
    clg_t loss = clg_sum(g, clg_mul(g, clg_param(g, st, "w"), clg_param(g, st, "w")), NULL, 0, 0);
    clg_trainer_opts o = { .lr = 0.25, .optimizer = "sgd" };
    clg_trainer *tr;
    ck_assert_msg(clg_trainer_new(g, st, loss, &o, &tr) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_graph_free(g);
    ck_assert(clg_trainer_step(tr, NULL) == CLG_OK);
    float w[2];
    ck_assert(clg_store_read(st, "w", w, sizeof w) == CLG_OK);
    /* w -= 0.25 * 2w: closed form */
    ck_assert(w[0] == 0.5f && w[1] == -1.0f);
    clg_trainer_free(tr);
    clg_store_free(st);
    clg_device_close(dev);
    clg_ctx_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plugins-registry");
    TCase *tc = tcase_create("registry");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, listing);
    tcase_add_test(tc, hparams);
    tcase_add_test(tc, schedules);
    tcase_add_test(tc, bad_plugins);
    tcase_add_test(tc, explicit_hides_default);
    tcase_add_test(tc, clash_keeps_other_builtins);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
