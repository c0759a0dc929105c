/* params.c - see params.h */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/params.h"
#include <math.h>
#include "io/safetensors.h"

size_t pp_params_add(pp_params *t, const char *name, int ndim, const int64_t *shape) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->p = pp_realloc(t->p, (size_t)t->cap * sizeof *t->p);
    }
    pp_param *p = &t->p[t->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->decay = ndim >= 2;
    p->offset = (t->total + 15) & ~(size_t)15;
    t->total = p->offset + p->numel;
    return p->offset;
}

size_t pp_params_addf(pp_params *t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                      int64_t d4, const char *fmt, ...) {
    char name[PP_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t shape[PP_MAX_NDIM] = {d0, d1, d2, d3, d4};
    return pp_params_add(t, name, ndim, shape);
}

const pp_param *pp_params_find(const pp_params *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->p[i].name, name)) return &t->p[i];
    return NULL;
}

void pp_params_free(pp_params *t) {
    free(t->p);
    memset(t, 0, sizeof *t);
}

int pp_params_freeze(pp_params *t, const char *prefix, int frozen) {
    int n = 0;
    size_t len = strlen(prefix);
    for (int i = 0; i < t->n; i++)
        if (!strncmp(t->p[i].name, prefix, len)) t->p[i].frozen = frozen, n++;
    return n;
}

int pp_params_write(const pp_params *t, const float *params, pp_st_writer *w, pp_dtype as) {
    int rc = 0;
    for (int i = 0; i < t->n && !rc; i++) {
        const pp_param *p = &t->p[i];
        rc = pp_st_add_f32(w, p->name, as, p->ndim, p->shape, params + p->offset);
    }
    return rc;
}

int pp_params_read(const pp_params *t, float *params, const pp_st_file *f) {
    for (int i = 0; i < t->n; i++) {
        const pp_param *p = &t->p[i];
        float *x = params + p->offset;
        if (pp_st_load_f32(f, p->name, x, p->ndim, p->shape)) return -1;
        for (size_t k = 0; k < p->numel; k++)
            if (!isfinite(x[k]))
                PP_FAIL("%s: tensor '%s' holds a non-finite value (%g at index %zu): the model is damaged", f->path,
                        p->name, (double)x[k], k);
    }
    return 0;
}
