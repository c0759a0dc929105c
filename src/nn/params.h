/* params.h - a named table of parameter tensors laid out in one flat buffer.
 *
 * Every model part (DiT backbone, text encoder, physical branch) declares its
 * tensors here under their state-dict names (Wan2.1's keys for the backbone) and
 * keeps the returned offsets. Parameters, gradients and the AdamW moments are
 * separate flat buffers with this same layout, so a view of tensor i is simply
 * buf + table.p[i].offset (llm.c's flat-buffer idea, with names). */
#ifndef PP_PARAMS_H
#define PP_PARAMS_H
#include <stddef.h>
#include <stdint.h>
#include "io/safetensors.h"

#define PP_MAX_NDIM 5
#define PP_NAME_MAX 96

typedef struct {
    char name[PP_NAME_MAX];
    int ndim;
    int64_t shape[PP_MAX_NDIM];
    size_t offset, numel; /* in floats */
    int decay;            /* 1: AdamW weight decay applies (tensors with ndim >= 2) */
    int frozen;           /* 1: the optimiser leaves it as it is (e.g. the backbone in stage 2) */
} pp_param;

typedef struct {
    pp_param *p;
    int n, cap;
    size_t total; /* floats */
} pp_params;

/* Append a tensor; returns its offset. Offsets are rounded up to 16 floats so
 * every tensor starts 64-byte aligned. shape has ndim entries. */
size_t pp_params_add(pp_params *t, const char *name, int ndim, const int64_t *shape);
/* printf-style name, shape given as up to 5 trailing ints (ndim of them). */
size_t pp_params_addf(pp_params *t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                      int64_t d4, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
const pp_param *pp_params_find(const pp_params *t, const char *name);
/* Freezes (1) or unfreezes (0) every tensor whose name starts with prefix ("" = all);
 * returns how many tensors matched. */
int pp_params_freeze(pp_params *t, const char *prefix, int frozen);
void pp_params_free(pp_params *t);

/* ---- a table's tensors in a safetensors file (io/safetensors.h) */
/* Adds every tensor (values from params) to a writer, stored as `as`. */
int pp_params_write(const pp_params *t, const float *params, pp_st_writer *w, pp_dtype as);
/* Loads every tensor, checked by name and shape; a tensor holding NaN or inf is an
 * error naming it (a model that cannot produce a video is refused on load). */
int pp_params_read(const pp_params *t, float *params, const pp_st_file *f);
#endif
