/* cmd_bench.c - `prophy bench`: training and sampling throughput of the backbone for
 * a shape given on the command line, and the machine's OpenBLAS sgemm peak, as one
 * JSON line (bench/run.sh sets it beside the PyTorch peer). Medians of --iters runs. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "flow.h"
#include "ops.h"
#include "optim.h"
#include "threads.h"
#include "dit.h"
#include "cli/bench_branch.h"

typedef struct {
    pp_dit_config c;
    int frames, size, batch, threads, iters, warmup;
    const char *branch; /* NULL: the backbone alone; else the whole ProPhy model */
} bench_args;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* OpenBLAS sgemm on 2048^3, median GFLOP/s: the machine's practical peak. */
static double sgemm_peak(int iters) {
    int n = 2048;
    float *a = pp_alloc_floats((size_t)n * n), *b = pp_alloc_floats((size_t)n * n), *c = pp_alloc_floats((size_t)n * n);
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = 0.001f * (float)(i % 97);
    double t[16];
    for (int i = 0; i < iters + 1; i++) {
        double t0 = pp_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (i) t[i - 1] = 2.0 * n * n * (double)n / (pp_now() - t0) / 1e9;
    }
    pp_free_aligned(a), pp_free_aligned(b), pp_free_aligned(c);
    return median(t, iters);
}

static int parse(bench_args *a, int argc, char **argv) {
    pp_dit_config *c = &a->c;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            printf("usage: prophy bench --dim D --layers L --heads H --ffn F --frames T --size S --patch t,h,w\n"
                   "                    --batch B --threads N [--iters 5 --warmup 1 --in-dim 3 --out-dim 3\n"
                   "                    --text-len 16 --text-dim 64 --freq-dim 256]\n"
                   "                    [--branch none|seb|reb|full: the whole ProPhy model instead]\n");
            return 2;
        }
        if (!(v = cli_value(argc, argv, &i))) return 1;
        int rc = 0;
        if (!strcmp(f, "--dim")) rc = pp_parse_int(v, f, 6, 8192, &c->dim);
        else if (!strcmp(f, "--layers")) rc = pp_parse_int(v, f, 1, 256, &c->layers);
        else if (!strcmp(f, "--heads")) rc = pp_parse_int(v, f, 1, 256, &c->heads);
        else if (!strcmp(f, "--ffn")) rc = pp_parse_int(v, f, 1, 65536, &c->ffn_dim);
        else if (!strcmp(f, "--frames")) rc = pp_parse_int(v, f, 1, 1024, &a->frames);
        else if (!strcmp(f, "--size")) rc = pp_parse_int(v, f, 1, 4096, &a->size);
        else if (!strcmp(f, "--batch")) rc = pp_parse_int(v, f, 1, 4096, &a->batch);
        else if (!strcmp(f, "--threads") || !strcmp(f, "-t")) rc = pp_parse_int(v, f, 1, 1024, &a->threads);
        else if (!strcmp(f, "--iters")) rc = pp_parse_int(v, f, 1, 15, &a->iters);
        else if (!strcmp(f, "--warmup")) rc = pp_parse_int(v, f, 0, 100, &a->warmup);
        else if (!strcmp(f, "--in-dim")) rc = pp_parse_int(v, f, 1, 1024, &c->in_dim);
        else if (!strcmp(f, "--out-dim")) rc = pp_parse_int(v, f, 1, 1024, &c->out_dim);
        else if (!strcmp(f, "--text-len")) rc = pp_parse_int(v, f, 1, 4096, &c->text_len);
        else if (!strcmp(f, "--text-dim")) rc = pp_parse_int(v, f, 1, 16384, &c->text_dim);
        else if (!strcmp(f, "--freq-dim")) rc = pp_parse_int(v, f, 2, 4096, &c->freq_dim);
        else if (!strcmp(f, "--branch")) a->branch = v;
        else if (!strcmp(f, "--patch")) {
            if (sscanf(v, "%d,%d,%d", &c->patch[0], &c->patch[1], &c->patch[2]) != 3)
                return cli_error("--patch: '%s' is not t,h,w", v);
        } else return cli_error("bench: unknown option '%s' (see prophy bench --help)", f);
        if (rc) return cli_lib_error();
    }
    return 0;
}

typedef struct {
    pp_dit m;
    pp_params t;
    float *P, *G, *x, *tt, *ctx, *out, *target, *dout;
    size_t nout;
} bench_model;

static double time_train(bench_model *b, pp_dit_acts *a, pp_adamw *opt, size_t nout) {
    double t0 = pp_now();
    pp_dit_forward(&b->m, b->P, a, b->x, b->tt, b->ctx, b->out);
    pp_mse_forward(b->out, b->target, nout);
    pp_mse_backward(b->dout, b->out, b->target, nout, 1.0f);
    memset(b->G, 0, b->t.total * sizeof(float));
    pp_dit_backward(&b->m, b->P, b->G, a, b->dout, NULL);
    pp_adamw_step(opt, &b->t, b->P, b->G, NULL);
    return pp_now() - t0;
}

int cmd_bench(int argc, char **argv) {
    bench_args a = {.c = {.dim = 128, .ffn_dim = 512, .heads = 4, .layers = 4, .patch = {2, 4, 4}, .in_dim = 3,
                          .out_dim = 3, .text_dim = 64, .text_len = 16, .freq_dim = 256, .eps = 1e-6f,
                          .rope_theta = 10000.0f},
                    .frames = 16, .size = 32, .batch = 16, .threads = 0, .iters = 5, .warmup = 1};
    int rc = parse(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    pp_set_threads(a.threads);
    if (a.branch) {
        pp_bench_branch_args ba = {.c = a.c, .frames = a.frames, .size = a.size, .batch = a.batch,
                                   .iters = a.iters, .warmup = a.warmup, .mode = a.branch};
        return bench_branch(&ba, median);
    }
    bench_model b = {0};
    if (pp_dit_init(&b.m, &a.c, &b.t)) return cli_lib_error();
    pp_dit_acts *tr = pp_dit_acts_new(&b.m, a.batch, a.frames, a.size, a.size, 1);
    pp_dit_acts *inf = tr ? pp_dit_acts_new(&b.m, a.batch, a.frames, a.size, a.size, 0) : NULL;
    if (!inf) return cli_lib_error();
    pp_rng r;
    pp_rng_seed(&r, 1);
    b.P = pp_alloc_floats(b.t.total), b.G = pp_alloc_floats(b.t.total);
    pp_dit_init_weights(&b.m, b.P, &r);
    pp_rng_fill_normal(&r, b.P + b.m.head.w, (size_t)b.m.head.in * b.m.head.out, 0.02f);
    size_t vox = (size_t)a.frames * a.size * a.size, nout = (size_t)a.batch * a.c.out_dim * vox;
    size_t nx = (size_t)a.batch * a.c.in_dim * vox, nctx = (size_t)a.batch * a.c.text_len * a.c.text_dim;
    b.x = pp_alloc_floats(nx), b.ctx = pp_alloc_floats(nctx), b.tt = pp_alloc_floats((size_t)a.batch);
    b.out = pp_alloc_floats(nout), b.target = pp_alloc_floats(nout), b.dout = pp_alloc_floats(nout);
    pp_rng_fill_normal(&r, b.x, nx, 1.0f);
    pp_rng_fill_normal(&r, b.ctx, nctx, 1.0f);
    pp_rng_fill_normal(&r, b.target, nout, 1.0f);
    for (int i = 0; i < a.batch; i++) b.tt[i] = 1000.0f * pp_rng_uniform(&r);
    pp_adamw_config oc = pp_adamw_defaults();
    pp_adamw opt;
    pp_adamw_init(&opt, &oc, b.t.total, b.P);
    double tt[16], tf[16];
    for (int i = 0; i < a.warmup + a.iters; i++) {
        double s = time_train(&b, tr, &opt, nout);
        if (i >= a.warmup) tt[i - a.warmup] = s;
    }
    for (int i = 0; i < a.warmup + a.iters; i++) {
        double t0 = pp_now();
        pp_dit_forward(&b.m, b.P, inf, b.x, b.tt, b.ctx, b.out);
        if (i >= a.warmup) tf[i - a.warmup] = pp_now() - t0;
    }
    double train_s = median(tt, a.iters), fwd_s = median(tf, a.iters);
    double flops = pp_dit_flops(&a.c, a.frames, a.size, a.size);
    double train_sps = a.batch / train_s, fwd_sps = a.batch / fwd_s, gflops = 3 * flops * train_sps / 1e9;
    double peak = sgemm_peak(3);
    printf("{\"impl\":\"prophy\",\"threads\":%d,\"dim\":%d,\"layers\":%d,\"heads\":%d,\"ffn\":%d,\"frames\":%d,"
           "\"size\":%d,\"patch\":\"%d,%d,%d\",\"batch\":%d,\"params\":%zu,\"train_samples_per_s\":%.3f,"
           "\"forward_samples_per_s\":%.3f,\"gflops_train\":%.2f,\"gflops_forward\":%.2f,"
           "\"sgemm_peak_gflops\":%.2f,\"train_peak_fraction\":%.3f,\"peak_rss_mb\":%.1f}\n",
           pp_get_threads(), a.c.dim, a.c.layers, a.c.heads, a.c.ffn_dim, a.frames, a.size, a.c.patch[0],
           a.c.patch[1], a.c.patch[2], a.batch, b.t.total, train_sps, fwd_sps, gflops, flops * fwd_sps / 1e9,
           peak, gflops / peak, pp_peak_rss_mb());
    pp_adamw_free(&opt);
    pp_dit_acts_free(tr), pp_dit_acts_free(inf);
    float *bufs[] = {b.P, b.G, b.x, b.tt, b.ctx, b.out, b.target, b.dout};
    for (int i = 0; i < 8; i++) pp_free_aligned(bufs[i]);
    pp_dit_free(&b.m);
    pp_params_free(&b.t);
    return 0;
}
