/* Hyperparameter specs: "name:key=value,key=value" parsed and validated
 * against a component's schema, and the typed getters plugins read. */
#include "components.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct hp_val {
    double f;
    int64_t i;         /* INT, BOOL, CHOICE (index into choices) */
    double *fl;
    int64_t *il;
    int n;             /* list length */
    const char *word;  /* CHOICE: points into choice_buf */
    int given;
} hp_val;

struct clg_hparams {
    const clg__comp *comp;
    hp_val *v;
    char *choice_buf;  /* CHOICE words, NUL-separated */
    size_t choice_len;
};

static int parse_double(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || errno == ERANGE || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static int parse_int(const char *s, size_t n, int64_t *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (*end || errno == ERANGE)
        return 0;
    *out = (int64_t)v;
    return 1;
}

static int parse_bool(const char *s, size_t n, int64_t *out)
{
    if ((n == 1 && s[0] == '1') || (n == 4 && strncmp(s, "true", 4) == 0)) {
        *out = 1;
        return 1;
    }
    if ((n == 1 && s[0] == '0') || (n == 5 && strncmp(s, "false", 5) == 0)) {
        *out = 0;
        return 1;
    }
    return 0;
}

/* Index of the word s[0..n) among "a|b|c", or -1. */
static int choice_index(const char *choices, const char *s, size_t n)
{
    int idx = 0;
    const char *p = choices;
    while (p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return idx;
        idx++;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

static void range_str(const clg_hparam_def *d, char *buf, size_t len)
{
    if ((d->range & CLG_HP_MIN) && (d->range & CLG_HP_MAX))
        snprintf(buf, len, "in %s%g, %g%s", (d->range & CLG_HP_MIN_OPEN) ? "(" : "[",
                 d->min, d->max, (d->range & CLG_HP_MAX_OPEN) ? ")" : "]");
    else if (d->range & CLG_HP_MIN)
        snprintf(buf, len, "%s %g", (d->range & CLG_HP_MIN_OPEN) ? ">" : ">=", d->min);
    else if (d->range & CLG_HP_MAX)
        snprintf(buf, len, "%s %g", (d->range & CLG_HP_MAX_OPEN) ? "<" : "<=", d->max);
    else
        snprintf(buf, len, "any value");
}

static int in_range(const clg_hparam_def *d, double v)
{
    if (d->range & CLG_HP_MIN) {
        if ((d->range & CLG_HP_MIN_OPEN) ? !(v > d->min) : !(v >= d->min))
            return 0;
    }
    if (d->range & CLG_HP_MAX) {
        if ((d->range & CLG_HP_MAX_OPEN) ? !(v < d->max) : !(v <= d->max))
            return 0;
    }
    return 1;
}

static const char *type_name(clg_hp_type t)
{
    switch (t) {
    case CLG_HP_FLOAT: return "a number";
    case CLG_HP_INT: return "an integer";
    case CLG_HP_BOOL: return "a boolean (0/1/true/false)";
    case CLG_HP_CHOICE: return "one of";
    case CLG_HP_FLOAT_LIST: return "a list of numbers a/b/c";
    case CLG_HP_INT_LIST: return "a list of integers a/b/c";
    }
    return "?";
}

/* Parses value s[0..n) for d into v (lists allocated). Message into err. */
static int parse_value(const clg_hparam_def *d, const char *s, size_t n, hp_val *v,
                       char *err, size_t len)
{
    char rng[96];
    range_str(d, rng, sizeof rng);
    switch (d->type) {
    case CLG_HP_FLOAT:
        if (!parse_double(s, n, &v->f)) {
            snprintf(err, len, "'%.*s' is not %s", (int)n, s, type_name(d->type));
            return 0;
        }
        if (!in_range(d, v->f)) {
            snprintf(err, len, "%.*s is out of range (must be %s)", (int)n, s, rng);
            return 0;
        }
        return 1;
    case CLG_HP_INT:
        if (!parse_int(s, n, &v->i)) {
            snprintf(err, len, "'%.*s' is not %s", (int)n, s, type_name(d->type));
            return 0;
        }
        if (!in_range(d, (double)v->i)) {
            snprintf(err, len, "%.*s is out of range (must be %s)", (int)n, s, rng);
            return 0;
        }
        return 1;
    case CLG_HP_BOOL:
        if (!parse_bool(s, n, &v->i)) {
            snprintf(err, len, "'%.*s' is not %s", (int)n, s, type_name(d->type));
            return 0;
        }
        return 1;
    case CLG_HP_CHOICE: {
        int idx = choice_index(d->choices, s, n);
        if (idx < 0) {
            snprintf(err, len, "'%.*s' is not one of %s", (int)n, s, d->choices);
            return 0;
        }
        v->i = idx;
        return 1;
    }
    case CLG_HP_FLOAT_LIST:
    case CLG_HP_INT_LIST: {
        int cnt = 0;
        if (n > 0) {
            cnt = 1;
            for (size_t k = 0; k < n; k++)
                cnt += s[k] == '/';
        }
        int is_f = d->type == CLG_HP_FLOAT_LIST;
        void *arr = calloc((size_t)(cnt ? cnt : 1), is_f ? sizeof(double) : sizeof(int64_t));
        if (!arr) {
            snprintf(err, len, "out of memory");
            return 0;
        }
        const char *p = s, *end = s + n;
        for (int k = 0; k < cnt; k++) {
            const char *q = memchr(p, '/', (size_t)(end - p));
            size_t m = q ? (size_t)(q - p) : (size_t)(end - p);
            double x;
            int ok;
            if (is_f) {
                ok = parse_double(p, m, &((double *)arr)[k]);
                x = ((double *)arr)[k];
            } else {
                ok = parse_int(p, m, &((int64_t *)arr)[k]);
                x = (double)((int64_t *)arr)[k];
            }
            if (!ok) {
                snprintf(err, len, "element '%.*s' of '%.*s' is not %s", (int)m, p, (int)n, s,
                         is_f ? "a number" : "an integer");
                free(arr);
                return 0;
            }
            if (!in_range(d, x)) {
                snprintf(err, len, "element %.*s is out of range (must be %s)", (int)m, p, rng);
                free(arr);
                return 0;
            }
            p = q ? q + 1 : end;
        }
        if (is_f)
            v->fl = arr;
        else
            v->il = arr;
        v->n = cnt;
        return 1;
    }
    }
    snprintf(err, len, "unknown type %d", (int)d->type);
    return 0;
}

static void val_clear(hp_val *v)
{
    free(v->fl);
    free(v->il);
    v->fl = NULL;
    v->il = NULL;
}

clg_status clg__hparam_def_check(const clg_hparam_def *d, char *err, size_t len)
{
    if (d->type < CLG_HP_FLOAT || d->type > CLG_HP_INT_LIST) {
        snprintf(err, len, "unknown type %d", (int)d->type);
        return CLG_ERR_INVALID;
    }
    if (!d->def || !d->doc) {
        snprintf(err, len, "missing %s", d->def ? "doc" : "default");
        return CLG_ERR_INVALID;
    }
    if (d->type == CLG_HP_CHOICE && (!d->choices || !*d->choices)) {
        snprintf(err, len, "choice without choices");
        return CLG_ERR_INVALID;
    }
    if ((d->range & ~(unsigned)15) != 0 ||
        ((d->range & CLG_HP_MIN_OPEN) && !(d->range & CLG_HP_MIN)) ||
        ((d->range & CLG_HP_MAX_OPEN) && !(d->range & CLG_HP_MAX))) {
        snprintf(err, len, "bad range flags 0x%x", d->range);
        return CLG_ERR_INVALID;
    }
    hp_val v = { 0 };
    char why[200];
    if (!parse_value(d, d->def, strlen(d->def), &v, why, sizeof why)) {
        snprintf(err, len, "default: %s", why);
        return CLG_ERR_INVALID;
    }
    val_clear(&v);
    return CLG_OK;
}

void clg_hparams_free(clg_hparams *hp)
{
    if (!hp)
        return;
    if (hp->v) {
        for (int i = 0; i < hp->comp->n_defs; i++)
            val_clear(&hp->v[i]);
    }
    free(hp->v);
    free(hp->choice_buf);
    free(hp);
}

clg_status clg__hparams_parse_for(clg_ctx *ctx, const clg__comp *comp, const char *args,
                                  clg_hparams **out)
{
    const char *cname = comp->c.name;
    const char *kname = clg_component_kind_name(comp->c.kind);
    clg_hparams *hp = calloc(1, sizeof *hp);
    if (!hp)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    hp->comp = comp;
    hp->v = calloc((size_t)(comp->n_defs ? comp->n_defs : 1), sizeof *hp->v);
    size_t clen = 0;
    for (int i = 0; i < comp->n_defs; i++)
        if (comp->defs[i].type == CLG_HP_CHOICE)
            clen += strlen(comp->defs[i].choices) + 1;
    hp->choice_buf = malloc(clen ? clen : 1);
    if (!hp->v || !hp->choice_buf) {
        clg_hparams_free(hp);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    }
    char err[300];
    for (int i = 0; i < comp->n_defs; i++) {
        const clg_hparam_def *d = &comp->defs[i];
        if (!parse_value(d, d->def, strlen(d->def), &hp->v[i], err, sizeof err)) {
            clg_hparams_free(hp);
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "%s '%s': default of '%s': %s",
                                     kname, cname, d->name, err);
        }
    }
    const char *p = args ? args : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (!eq) {
            clg_hparams_free(hp);
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "%s '%s': '%.*s' is not key=value", kname, cname,
                                     (int)n, p);
        }
        size_t kn = (size_t)(eq - p);
        int k = -1;
        for (int i = 0; i < comp->n_defs; i++)
            if (strlen(comp->defs[i].name) == kn && strncmp(comp->defs[i].name, p, kn) == 0)
                k = i;
        if (k < 0) {
            char known[400] = "";
            size_t used = 0;
            for (int i = 0; i < comp->n_defs && used + 1 < sizeof known; i++) {
                int w = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                 comp->defs[i].name);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
            clg_hparams_free(hp);
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "%s '%s': unknown hyperparameter '%.*s' (known: %s)",
                                     kname, cname, (int)kn, p, used ? known : "none");
        }
        if (hp->v[k].given) {
            clg_hparams_free(hp);
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "%s '%s': '%s' given twice", kname,
                                     cname, comp->defs[k].name);
        }
        val_clear(&hp->v[k]);
        const char *val = eq + 1;
        size_t vn = n - kn - 1;
        if (!parse_value(&comp->defs[k], val, vn, &hp->v[k], err, sizeof err)) {
            clg_hparams_free(hp);
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "%s '%s': %s: %s", kname, cname,
                                     comp->defs[k].name, err);
        }
        hp->v[k].given = 1;
        p = comma ? comma + 1 : p + n;
        if (comma && !*p) {
            clg_hparams_free(hp);
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "%s '%s': trailing ','", kname,
                                     cname);
        }
    }
    /* Resolve CHOICE indices to words now that values are final. */
    size_t off = 0;
    for (int i = 0; i < comp->n_defs; i++) {
        const clg_hparam_def *d = &comp->defs[i];
        if (d->type != CLG_HP_CHOICE)
            continue;
        const char *w = d->choices;
        for (int64_t j = 0; j < hp->v[i].i; j++)
            w = strchr(w, '|') + 1;
        const char *bar = strchr(w, '|');
        size_t wl = bar ? (size_t)(bar - w) : strlen(w);
        memcpy(hp->choice_buf + off, w, wl);
        hp->choice_buf[off + wl] = '\0';
        off += wl + 1;
    }
    off = 0;
    for (int i = 0; i < comp->n_defs; i++) {
        if (comp->defs[i].type != CLG_HP_CHOICE)
            continue;
        hp->v[i].word = hp->choice_buf + off;
        off += strlen(hp->v[i].word) + 1;
    }
    if (comp->c.validate) {
        clg_ctx_clear_error(ctx);
        clg__cb_frame fr;
        clg__cb_enter(&fr, comp, "validate");
        clg_status st = comp->c.validate(ctx, hp);
        clg__cb_leave(&fr);
        if (st != CLG_OK) {
            char why[CLG_ERRMSG_LEN];
            snprintf(why, sizeof why, "%s", clg_ctx_error(ctx)[0] ? clg_ctx_error(ctx) : "invalid combination");
            clg_hparams_free(hp);
            return clg_ctx_set_error(ctx, st, "%s '%s': %s", kname, cname, why);
        }
    }
    *out = hp;
    return CLG_OK;
}

clg_status clg_hparams_parse(clg_ctx *ctx, clg_component_kind kind, const char *spec,
                             clg_hparams **out)
{
    if (!ctx || !out)
        return CLG_ERR_INVALID;
    *out = NULL;
    if (!spec || !*spec)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "empty %s spec",
                                 clg_component_kind_name(kind));
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    const clg__comp *comp;
    clg_status st = clg__comp_lookup(ctx, kind, spec, nlen, &comp);
    if (st != CLG_OK)
        return st;
    return clg__hparams_parse_for(ctx, comp, colon ? colon + 1 : "", out);
}

const clg__comp *clg__hparams_comp(const clg_hparams *hp)
{
    return hp ? hp->comp : NULL;
}

static const hp_val *get(const clg_hparams *hp, const char *key, clg_hp_type type)
{
    if (!hp || !key)
        return NULL;
    for (int i = 0; i < hp->comp->n_defs; i++) {
        if (strcmp(hp->comp->defs[i].name, key) == 0)
            return hp->comp->defs[i].type == type ? &hp->v[i] : NULL;
    }
    return NULL;
}

double clg_hp_float(const clg_hparams *hp, const char *key)
{
    const hp_val *v = get(hp, key, CLG_HP_FLOAT);
    return v ? v->f : 0.0;
}

int64_t clg_hp_int(const clg_hparams *hp, const char *key)
{
    const hp_val *v = get(hp, key, CLG_HP_INT);
    return v ? v->i : 0;
}

int clg_hp_bool(const clg_hparams *hp, const char *key)
{
    const hp_val *v = get(hp, key, CLG_HP_BOOL);
    return v ? (int)v->i : 0;
}

const char *clg_hp_choice(const clg_hparams *hp, const char *key)
{
    const hp_val *v = get(hp, key, CLG_HP_CHOICE);
    return v ? v->word : NULL;
}

const double *clg_hp_float_list(const clg_hparams *hp, const char *key, int *n)
{
    const hp_val *v = get(hp, key, CLG_HP_FLOAT_LIST);
    if (n)
        *n = v ? v->n : 0;
    return v ? v->fl : NULL;
}

const int64_t *clg_hp_int_list(const clg_hparams *hp, const char *key, int *n)
{
    const hp_val *v = get(hp, key, CLG_HP_INT_LIST);
    if (n)
        *n = v ? v->n : 0;
    return v ? v->il : NULL;
}

int clg_hp_given(const clg_hparams *hp, const char *key)
{
    if (!hp || !key)
        return 0;
    for (int i = 0; i < hp->comp->n_defs; i++)
        if (strcmp(hp->comp->defs[i].name, key) == 0)
            return hp->v[i].given;
    return 0;
}

const char *clg_hp_component(const clg_hparams *hp)
{
    return hp ? hp->comp->c.name : "";
}

char *clg_hparams_str(const clg_hparams *hp, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    if (!hp)
        return buf;
    size_t used = 0;
#define PUT(...)                                                              \
    do {                                                                      \
        if (used < len) {                                                     \
            int w_ = snprintf(buf + used, len - used, __VA_ARGS__);           \
            if (w_ > 0)                                                       \
                used += (size_t)w_;                                           \
        }                                                                     \
    } while (0)
    PUT("%s", hp->comp->c.name);
    for (int i = 0; i < hp->comp->n_defs; i++) {
        const clg_hparam_def *d = &hp->comp->defs[i];
        const hp_val *v = &hp->v[i];
        PUT("%c%s=", i ? ',' : ':', d->name);
        switch (d->type) {
        case CLG_HP_FLOAT: PUT("%.17g", v->f); break;
        case CLG_HP_INT: PUT("%lld", (long long)v->i); break;
        case CLG_HP_BOOL: PUT("%d", (int)v->i); break;
        case CLG_HP_CHOICE: PUT("%s", v->word); break;
        case CLG_HP_FLOAT_LIST:
            for (int k = 0; k < v->n; k++)
                PUT("%s%.17g", k ? "/" : "", v->fl[k]);
            break;
        case CLG_HP_INT_LIST:
            for (int k = 0; k < v->n; k++)
                PUT("%s%lld", k ? "/" : "", (long long)v->il[k]);
            break;
        }
    }
#undef PUT
    if (used >= len)
        buf[len - 1] = '\0';
    return buf;
}
