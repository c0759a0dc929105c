/* cmd_bench.c - `prophy bench`: training and sampling throughput of the backbone for
 * a shape given on the command line, and the machine's OpenBLAS sgemm peak, as one
 * JSON line (bench/run.sh sets it beside the PyTorch peer). Medians of --iters runs. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/threads.h"
#include "benchmark/speed.h"
#include "cli.h"

typedef struct {
    pp_speed_args s;
    int threads;
} bench_args;

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
    return pp_speed_median(t, iters);
}

static int parse(bench_args *a, int argc, char **argv) {
    pp_dit_config *c = &a->s.c;
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
        else if (!strcmp(f, "--frames")) rc = pp_parse_int(v, f, 1, 1024, &a->s.frames);
        else if (!strcmp(f, "--size")) rc = pp_parse_int(v, f, 1, 4096, &a->s.size);
        else if (!strcmp(f, "--batch")) rc = pp_parse_int(v, f, 1, 4096, &a->s.batch);
        else if (!strcmp(f, "--threads") || !strcmp(f, "-t")) rc = pp_parse_int(v, f, 1, 1024, &a->threads);
        else if (!strcmp(f, "--iters")) rc = pp_parse_int(v, f, 1, 15, &a->s.iters);
        else if (!strcmp(f, "--warmup")) rc = pp_parse_int(v, f, 0, 100, &a->s.warmup);
        else if (!strcmp(f, "--in-dim")) rc = pp_parse_int(v, f, 1, 1024, &c->in_dim);
        else if (!strcmp(f, "--out-dim")) rc = pp_parse_int(v, f, 1, 1024, &c->out_dim);
        else if (!strcmp(f, "--text-len")) rc = pp_parse_int(v, f, 1, 4096, &c->text_len);
        else if (!strcmp(f, "--text-dim")) rc = pp_parse_int(v, f, 1, 16384, &c->text_dim);
        else if (!strcmp(f, "--freq-dim")) rc = pp_parse_int(v, f, 2, 4096, &c->freq_dim);
        else if (!strcmp(f, "--branch")) a->s.branch = v;
        else if (!strcmp(f, "--patch")) rc = pp_parse_ints(v, f, 3, 1, 64, c->patch);
        else return cli_error("bench: unknown option '%s' (see prophy bench --help)", f);
        if (rc) return cli_lib_error();
    }
    return 0;
}

static void print_backbone(const bench_args *a, const pp_speed_result *r) {
    const pp_dit_config *c = &a->s.c;
    double train_sps = a->s.batch / r->train_s, fwd_sps = a->s.batch / r->forward_s;
    double gflops = 3 * r->flops_forward * train_sps / 1e9, peak = sgemm_peak(3);
    printf("{\"impl\":\"prophy\",\"threads\":%d,\"dim\":%d,\"layers\":%d,\"heads\":%d,\"ffn\":%d,\"frames\":%d,"
           "\"size\":%d,\"patch\":\"%d,%d,%d\",\"batch\":%d,\"params\":%zu,\"train_samples_per_s\":%.3f,"
           "\"forward_samples_per_s\":%.3f,\"gflops_train\":%.2f,\"gflops_forward\":%.2f,"
           "\"sgemm_peak_gflops\":%.2f,\"train_peak_fraction\":%.3f,\"peak_rss_mb\":%.1f}\n",
           pp_get_threads(), c->dim, c->layers, c->heads, c->ffn_dim, a->s.frames, a->s.size, c->patch[0],
           c->patch[1], c->patch[2], a->s.batch, r->params, train_sps, fwd_sps, gflops,
           r->flops_forward * fwd_sps / 1e9, peak, gflops / peak, pp_peak_rss_mb());
}

static void print_branch(const bench_args *a, const pp_speed_result *r) {
    const pp_dit_config *c = &a->s.c;
    double fl = r->flops_forward, B = a->s.batch;
    printf("{\"impl\":\"prophy\",\"branch\":\"%s\",\"threads\":%d,\"dim\":%d,\"layers\":%d,\"M\":%d,"
           "\"heads\":%d,\"ffn\":%d,\"frames\":%d,\"size\":%d,\"patch\":\"%d,%d,%d\",\"batch\":%d,"
           "\"params\":%zu,\"train_samples_per_s\":%.3f,\"forward_samples_per_s\":%.3f,"
           "\"gflops_train\":%.2f,\"gflops_forward\":%.2f,\"peak_rss_mb\":%.1f}\n",
           r->branch, pp_get_threads(), c->dim, c->layers, r->M, c->heads, c->ffn_dim, a->s.frames, a->s.size,
           c->patch[0], c->patch[1], c->patch[2], a->s.batch, r->params, B / r->train_s, B / r->forward_s,
           3 * fl * B / r->train_s / 1e9, fl * B / r->forward_s / 1e9, pp_peak_rss_mb());
}

int cmd_bench(int argc, char **argv) {
    bench_args a = {.s = {.c = {.dim = 128, .ffn_dim = 512, .heads = 4, .layers = 4, .patch = {2, 4, 4}, .in_dim = 3,
                                .out_dim = 3, .text_dim = 64, .text_len = 16, .freq_dim = 256, .eps = 1e-6f,
                                .rope_theta = 10000.0f},
                          .frames = 16, .size = 32, .batch = 16, .iters = 5, .warmup = 1}};
    int rc = parse(&a, argc, argv);
    if (rc) return rc == 2 ? 0 : 1;
    pp_set_threads(a.threads);
    pp_speed_result r;
    if (pp_speed_run(&a.s, &r)) return cli_lib_error();
    if (a.s.branch) print_branch(&a, &r);
    else print_backbone(&a, &r);
    return 0;
}
