/* bench_vae.c - speed and memory of the C VAE (chunked streaming encode and decode)
 * with random weights. Build and run with bench/vae_speed.sh, or:
 *   make build/libprophy.a && gcc -O3 -march=native -fopenmp -Isrc bench/bench_vae.c \
 *     build/libprophy.a -o build/bench_vae -L$BLASDIR -Wl,-rpath,$BLASDIR -lopenblas -lcjson -lpng -lgif -lm
 *   build/bench_vae --config small --frames 33 --size 128 --runs 5 --threads 2
 * Prints one line per measurement: seconds per call (median of the runs), GFLOP/s,
 * and the process's peak RSS. --what enc|dec|both|train (train: one pp_vae_train_step
 * on the clip: the whole-clip forward and backward, L1 + MSE + edge + KL; stream: the
 * streaming decoder fed one latent frame at a time, each chunk's frames dropped as a
 * video writer would, so the peak RSS is the decoder's own). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "base/rng.h"
#include "base/threads.h"
#include "wan/vae.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    const char *config = "small", *what = "both";
    int T = 33, S = 128, runs = 5, threads = 2, dim = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--config")) config = argv[i + 1];
        else if (!strcmp(argv[i], "--frames")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) S = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--what")) what = argv[i + 1];
        else if (!strcmp(argv[i], "--dim")) dim = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if (runs < 1 || runs > 100) runs = 5;
    pp_set_threads(threads);
    pp_vae_config c;
    if (!strcmp(config, "wan21")) pp_vae_config_wan21(&c);
    else pp_vae_config_small(&c);
    if (dim > 0) c.dim = dim;
    pp_params t = {0};
    pp_vae m;
    if (pp_vae_init(&m, &c, &t)) {
        fprintf(stderr, "%s\n", pp_lasterr());
        return 1;
    }
    float *P = pp_alloc_floats(t.total);
    pp_rng r;
    pp_rng_seed(&r, 1);
    pp_vae_init_weights(&m, P, &r);
    if (pp_vae_check_video(&m, T, S, S)) {
        fprintf(stderr, "%s\n", pp_lasterr());
        return 1;
    }
    int tl = pp_vae_latent_frames(&m, T), s = S / m.sdown;
    size_t nv = (size_t)3 * T * S * S, nz = (size_t)c.z_dim * tl * s * s;
    int whole = strcmp(what, "stream") != 0; /* stream mode holds no whole video */
    float *video = whole ? pp_alloc_floats(nv) : NULL, *z = whole ? pp_alloc_floats(nz) : NULL;
    for (size_t i = 0; whole && i < nv; i++) video[i] = 2.0f * pp_rng_uniform(&r) - 1.0f;
    for (size_t i = 0; whole && i < nz; i++) z[i] = pp_rng_normal(&r);
    double *tm = malloc(sizeof(double) * runs);
    printf("config %s dim %d z %d levels %d res %d, %d frames %dx%d, %d threads, %.1f M params\n", config, c.dim,
           c.z_dim, c.nlevels, c.num_res_blocks, T, S, S, pp_get_threads(), t.total / 1e6);
    if (!strcmp(what, "stream")) {
        pp_vae_dec *d = pp_vae_dec_new(&m, P, s, s);
        float *frames = pp_alloc_floats((size_t)4 * 3 * S * S), *zf = pp_alloc_floats((size_t)c.z_dim * s * s);
        double t0 = pp_now();
        int total = 0;
        for (int i = 0; i < tl; i++) {
            int got;
            for (int q = 0; q < c.z_dim * s * s; q++) zf[q] = pp_rng_normal(&r);
            pp_vae_dec_push(d, zf, frames, &got);
            total += got;
        }
        printf("stream decode: %d frames in %.3f s, decoder activations %.1f MB, peak RSS %.0f MB\n", total,
               pp_now() - t0, pp_vae_dec_peak_bytes(d) / 1048576.0, pp_peak_rss_mb());
        pp_vae_dec_free(d);
        pp_free_aligned(frames), pp_free_aligned(zf);
        what = "none";
    }
    if (!strcmp(what, "train")) {
        float *G = pp_zalloc_floats(t.total);
        pp_vae_loss_cfg lc = {.w_l1 = 1, .w_mse = 1, .w_edge = 0.5f, .w_kl = 1e-6f, .sample = 1};
        pp_vae_losses lo;
        for (int k = 0; k < runs; k++) {
            double t0 = pp_now();
            if (pp_vae_train_step(&m, P, G, video, T, S, S, &lc, NULL, &r, &lo, NULL, NULL)) {
                fprintf(stderr, "%s\n", pp_lasterr());
                return 1;
            }
            tm[k] = pp_now() - t0;
        }
        double med = median(tm, runs), fl = 3 * (pp_vae_encode_flops(&m, T, S, S) + pp_vae_decode_flops(&m, T, S, S));
        printf("train step: %.3f s (median of %d, min %.3f), ~%.1f GFLOP (3x forward), %.1f GFLOP/s, peak RSS %.0f MB\n",
               med, runs, tm[0], fl / 1e9, fl / med / 1e9, pp_peak_rss_mb());
        pp_free_aligned(G);
        what = "none";
    }
    if (strcmp(what, "dec") && strcmp(what, "none")) {
        for (int k = 0; k < runs; k++) {
            double t0 = pp_now();
            if (pp_vae_encode(&m, P, video, T, S, S, z, NULL)) {
                fprintf(stderr, "%s\n", pp_lasterr());
                return 1;
            }
            tm[k] = pp_now() - t0;
        }
        double med = median(tm, runs), fl = pp_vae_encode_flops(&m, T, S, S);
        printf("encode: %.3f s (median of %d, min %.3f), %.1f GFLOP, %.1f GFLOP/s, %.2f videos/s, peak RSS %.0f MB\n",
               med, runs, tm[0], fl / 1e9, fl / med / 1e9, 1.0 / med, pp_peak_rss_mb());
    }
    if (strcmp(what, "enc") && strcmp(what, "none")) {
        for (int k = 0; k < runs; k++) {
            double t0 = pp_now();
            if (pp_vae_decode(&m, P, z, c.z_dim, tl, s, s, video)) {
                fprintf(stderr, "%s\n", pp_lasterr());
                return 1;
            }
            tm[k] = pp_now() - t0;
        }
        double med = median(tm, runs), fl = pp_vae_decode_flops(&m, T, S, S);
        printf("decode: %.3f s (median of %d, min %.3f), %.1f GFLOP, %.1f GFLOP/s, peak RSS %.0f MB\n", med, runs,
               tm[0], fl / 1e9, fl / med / 1e9, pp_peak_rss_mb());
    }
    free(tm);
    pp_free_aligned(P), pp_free_aligned(video), pp_free_aligned(z);
    pp_vae_free(&m);
    pp_params_free(&t);
    return 0;
}
