/* The crash report: which plugin callback was running when the process got
 * a fatal signal. Every call from train/ into a plugin pushes a frame on a
 * thread-local list; the handler (installed by clg_plugins_crash_report)
 * writes "clgrad: SIGSEGV in optimizer 'x' (update), from /path/x.so" with
 * write(2) only, then re-raises the signal with its default action, so the
 * exit status stays what it would have been (139 for SIGSEGV). */
#include "components.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Thread_local clg__cb_frame *cb_top;

void clg__cb_enter(clg__cb_frame *f, const clg__comp *c, const char *callback)
{
    f->kind = clg_component_kind_name(c->c.kind);
    f->name = c->c.name;
    f->path = c->path;
    f->callback = callback;
    f->prev = cb_top;
    cb_top = f;
}

void clg__cb_enter_file(clg__cb_frame *f, const char *path, const char *callback)
{
    f->kind = "plugin";
    f->name = NULL;
    f->path = path;
    f->callback = callback;
    f->prev = cb_top;
    cb_top = f;
}

void clg__cb_leave(clg__cb_frame *f)
{
    cb_top = f->prev;
}

static void put(const char *s)
{
    if (!s)
        return;
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic exception)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (abort)";
    }
    return "a fatal signal";
}

static void on_crash(int sig)
{
    const clg__cb_frame *f = cb_top;
    if (f) {
        put("clgrad: ");
        put(sig_name(sig));
        put(" inside ");
        put(f->kind);
        if (f->name) {
            put(" '");
            put(f->name);
            put("'");
        }
        put(", callback ");
        put(f->callback);
        put("(), from ");
        put(f->path);
        put("\n");
    }
    /* SA_RESETHAND restored the default action: die as we would have. */
    raise(sig);
}

static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

clg_status clg_plugins_crash_report(void)
{
    static char *alt;
    if (!alt) {
        /* its own stack, so a stack overflow in a plugin is reported too */
        size_t n = 64 * 1024;
        alt = malloc(n);
        if (alt) {
            stack_t ss = { .ss_sp = alt, .ss_size = n };
            if (sigaltstack(&ss, NULL) != 0) {
                free(alt);
                alt = NULL;
            }
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_NODEFER | (alt ? SA_ONSTACK : 0);
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        if (sigaction(crash_signals[i], &sa, NULL) != 0)
            return CLG_ERR_INVALID;
    return CLG_OK;
}
