/* train_vae_demo.c - trains a VAE config from scratch on the physics simulator's
 * videos and reports the held-out reconstruction PSNR: evidence that a config can
 * reach the quality the world needs, not a training tool. Build like bench_vae.c:
 *   gcc -O3 -march=native -fopenmp -Isrc bench/train_vae_demo.c build/libprophy.a \
 *     -o build/train_vae_demo -L$BLASDIR -Wl,-rpath,$BLASDIR -lopenblas -lcjson -lpng -lgif -lm
 *   build/train_vae_demo --steps 2000 --threads 2 [--crop 64 --dim 16 --res 2] [--out vae.safetensors]
 * Training clips: 9 frames x CxC crops (--crop, default 64; random time offset and position, crops
 * with some content preferred) of 33-frame 128x128 simulator videos, all scenes,
 * a fresh video every 4 clips. Loss: L1 + MSE + 0.5 edge + 1e-6 KL, AdamW
 * (--lr, default 1e-3) with 100 warmup steps, clipping at 1; --batch clips per step. Held out: 6 videos of 33 frames at
 * 128x128 (other seeds), encoded (mu) and decoded chunked, PSNR over all pixels
 * with the [-1,1] range (peak-to-peak 2, as 8-bit PSNR). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "base/rng.h"
#include "base/threads.h"
#include "io/safetensors.h"
#include "nn/optim.h"
#include "sim/sim.h"
#include "wan/vae.h"

#define VT 33
#define VS 128

/* one simulator video as [3, VT, VS, VS] in [-1, 1] */
static int sim_video(uint64_t seed, float *dst) {
    const pp_sim_scene *sc = pp_sim_scene_at((int)(seed % (uint64_t)pp_sim_nscenes()));
    pp_sim_out o;
    if (pp_sim_run(sc, seed, PP_SPLIT_ID, VT, VS, VS, &o)) return -1;
    size_t N = (size_t)VS * VS;
    for (int f = 0; f < VT; f++) {
        const uint8_t *fr = pp_video_frame(&o.video, f);
        for (size_t q = 0; q < N; q++)
            for (int c = 0; c < 3; c++) dst[((size_t)c * VT + f) * N + q] = fr[q * 3 + c] / 127.5f - 1.0f;
    }
    pp_sim_free(&o);
    return 0;
}

/* a [3, 9, C, C] crop; returns its standard deviation */
static double crop(const float *v, float *dst, int C, int t0, int y0, int x0) {
    double s = 0, s2 = 0;
    size_t n = 0;
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < 9; f++)
            for (int y = 0; y < C; y++)
                for (int x = 0; x < C; x++, n++) {
                    float a = v[(((size_t)c * VT + t0 + f) * VS + y0 + y) * VS + x0 + x];
                    dst[n] = a, s += a, s2 += (double)a * a;
                }
    double m = s / n;
    return sqrt(s2 / n - m * m);
}

static double psnr_heldout(const pp_vae *m, const float *P, float *const *held, int nheld, float *z, float *rec) {
    double se = 0;
    size_t n = (size_t)3 * VT * VS * VS, cnt = 0;
    for (int i = 0; i < nheld; i++) {
        if (pp_vae_encode(m, P, held[i], VT, VS, VS, z, NULL) ||
            pp_vae_decode(m, P, z, m->cfg.z_dim, pp_vae_latent_frames(m, VT), VS / m->sdown, VS / m->sdown, rec))
            return -1;
        for (size_t q = 0; q < n; q++, cnt++) se += (double)(rec[q] - held[i][q]) * (rec[q] - held[i][q]);
    }
    return 10.0 * log10(4.0 / (se / cnt));
}

int main(int argc, char **argv) {
    int steps = 2000, threads = 2, dim = 0, res = 0, every = 250, C = 64, batch = 1;
    float lr = 1e-3f;
    const char *out = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim")) dim = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--res")) res = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--every")) every = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--crop")) C = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--lr")) lr = (float)atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else {
            fprintf(stderr, "unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    pp_set_threads(threads);
    pp_vae_config c;
    pp_vae_config_small(&c);
    if (dim > 0) c.dim = dim;
    if (res > 0) c.num_res_blocks = res;
    pp_params t = {0};
    pp_vae m;
    if (C < 8 || C > VS || C % 8) {
        fprintf(stderr, "--crop must be a multiple of 8 in [8, %d]\n", VS);
        return 2;
    }
    if (pp_vae_init(&m, &c, &t)) {
        fprintf(stderr, "%s\n", pp_lasterr());
        return 1;
    }
    float *P = pp_alloc_floats(t.total), *G = pp_alloc_floats(t.total);
    pp_rng r;
    pp_rng_seed(&r, 7);
    pp_vae_init_weights(&m, P, &r);
    pp_adamw_config ac = pp_adamw_defaults();
    ac.lr = lr, ac.weight_decay = 0.0f, ac.clip_norm = 1.0f, ac.warmup = 100;
    if (batch < 1 || batch > 64) batch = 1;
    pp_adamw opt;
    pp_adamw_init(&opt, &ac, t.total, P);
    size_t nv = (size_t)3 * VT * VS * VS;
    enum { NHELD = 6 };
    float *held[NHELD], *video = pp_alloc_floats(nv), *clip = pp_alloc_floats((size_t)3 * 9 * C * C);
    float *z = pp_alloc_floats((size_t)c.z_dim * 9 * 16 * 16), *rec = pp_alloc_floats(nv);
    for (int i = 0; i < NHELD; i++) {
        held[i] = pp_alloc_floats(nv);
        if (sim_video(1000003 + 7919 * (uint64_t)i, held[i])) {
            fprintf(stderr, "%s\n", pp_lasterr());
            return 1;
        }
    }
    printf("dim %d res %d z %d, %.2f M params, %d threads, crops 9x%dx%d; held-out PSNR at init %.2f dB\n", c.dim,
           c.num_res_blocks, c.z_dim, t.total / 1e6, pp_get_threads(), C, C, psnr_heldout(&m, P, held, NHELD, z, rec));
    fflush(stdout);
    pp_vae_loss_cfg lc = {.w_l1 = 1, .w_mse = 1, .w_edge = 0.5f, .w_kl = 1e-6f, .sample = 1};
    double t0 = pp_now(), acc[4] = {0};
    int nacc = 0;
    for (int step = 1; step <= steps; step++) {
        memset(G, 0, t.total * sizeof(float));
        pp_vae_losses lo = {0};
        for (int b = 0; b < batch; b++) { /* gradients summed over the batch, then scaled */
            if ((step * batch + b) % 4 == 0 && sim_video(pp_rng_u64(&r) % 1000000, video)) {
                fprintf(stderr, "%s\n", pp_lasterr());
                return 1;
            }
            for (int tries = 0; tries < 8; tries++) /* prefer crops with something in them */
                if (crop(video, clip, C, (int)pp_rng_below(&r, VT - 9 + 1) & ~3, (int)pp_rng_below(&r, VS - C + 1),
                         (int)pp_rng_below(&r, VS - C + 1)) > 0.05)
                    break;
            pp_vae_losses l1;
            if (pp_vae_train_step(&m, P, G, clip, 9, C, C, &lc, NULL, &r, &l1, NULL, NULL)) {
                fprintf(stderr, "%s\n", pp_lasterr());
                return 1;
            }
            lo.loss += l1.loss / batch, lo.l1 += l1.l1 / batch, lo.mse += l1.mse / batch, lo.kl += l1.kl / batch;
        }
        if (batch > 1)
            for (size_t i = 0; i < t.total; i++) G[i] /= (float)batch;
        double gn;
        pp_adamw_step(&opt, &t, P, G, &gn);
        acc[0] += lo.loss, acc[1] += lo.l1, acc[2] += lo.mse, acc[3] += lo.kl, nacc++;
        if (step % every == 0 || step == steps) {
            double ps = psnr_heldout(&m, P, held, NHELD, z, rec);
            printf("step %5d  %.0f s  loss %.4f  l1 %.4f  mse %.5f  kl %.1f  held-out PSNR %.2f dB\n", step,
                   pp_now() - t0, acc[0] / nacc, acc[1] / nacc, acc[2] / nacc, acc[3] / nacc, ps);
            fflush(stdout);
            memset(acc, 0, sizeof acc), nacc = 0;
        }
    }
    if (out && pp_vae_save(&m, &t, P, out, PP_F32)) fprintf(stderr, "%s\n", pp_lasterr());
    pp_vae_release_buffers();
    for (int i = 0; i < NHELD; i++) pp_free_aligned(held[i]);
    pp_free_aligned(video), pp_free_aligned(clip), pp_free_aligned(z), pp_free_aligned(rec);
    pp_free_aligned(P), pp_free_aligned(G);
    pp_adamw_free(&opt);
    pp_vae_free(&m);
    pp_params_free(&t);
    return 0;
}
