/* bench_wan.c - the Wan2.1 DiT at real size: a forward with BF16 weights read in
 * place from the mapped file, and one training step of ProPhy's branch on it.
 *
 *   make build/libprophy.a
 *   gcc -O3 -march=native -fopenmp -std=c11 -D_GNU_SOURCE -Isrc bench/bench_wan.c build/libprophy.a \
 *       -L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp \
 *       -lopenblas -lcjson -lm -o build/bench_wan
 *   build/bench_wan dit   DIT.safetensors FRAMES HEIGHT WIDTH [REPS [THREADS]]
 *   build/bench_wan dit-bf16 DIT.safetensors FRAMES HEIGHT WIDTH [REPS [THREADS]]
 *   build/bench_wan train DIT.safetensors FRAMES HEIGHT WIDTH [M [THREADS]]
 *   build/bench_wan train-in-place DIT.safetensors FRAMES HEIGHT WIDTH [M [THREADS]]
 *
 * FRAMES HEIGHT WIDTH are the video's (81 480 832): the latent is
 * [16, 1+(F-1)/4, H/8, W/8]. The input is N(0,1) noise, t = 500, the context 20
 * rows of N(0,1) then zeros to 512 (a trimmed prompt), the same as
 * tools/bench_wan_torch.py. `dit` times REPS forwards of batch 1 (one
 * conditional pass each), in F32 arithmetic; `dit-bf16` the same in BF16
 * arithmetic (pp_compute_bf16: AMX tiles where the CPU has them), then (up to 4096
 * tokens) once in F32 for the relative difference; `train` loads the DiT in F32, attaches M Physical
 * Blocks (first M, mode full) and times one forward + backward + AdamW step of
 * batch 1 with the backbone frozen; `train-in-place` the same with the frozen
 * backbone's BF16 weights read in place (the gradient through it too). Memory from /proc/self/status: VmHWM (peak
 * resident, the mapped file's pages read included), RssAnon, RssFile. An inference
 * forward gives each layer's weight pages back after it (pp_dit.lent); KEEP=1 keeps
 * them resident, as before. DIFF=0 skips dit-bf16's F32 forward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "base/rng.h"
#include "base/threads.h"
#include "nn/amx.h"
#include "nn/optim.h"
#include "prophy/wan_branch.h"
#include "wan/wan_files.h"

static void mem(const char *when) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    printf("memory %s:", when);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6) || !strncmp(line, "RssAnon:", 8) || !strncmp(line, "RssFile:", 8)) {
            line[strcspn(line, "\n")] = 0;
            char *v = strchr(line, ':') + 1;
            while (*v == ' ' || *v == '\t') v++;
            printf(" %.*s %.1f MiB", (int)(strchr(line, ':') - line), line, atof(v) / 1024.0);
        }
    printf("\n");
    fflush(stdout);
    if (f) fclose(f);
}

static int fail(void) {
    fprintf(stderr, "%s\n", pp_lasterr());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s dit|train DIT.safetensors FRAMES HEIGHT WIDTH [REPS|M [THREADS]]\n", argv[0]);
        return 2;
    }
    pp_compute_bf16 = !strcmp(argv[1], "dit-bf16");
    int inplace = !strcmp(argv[1], "train-in-place"), train = inplace || !strcmp(argv[1], "train"), Fv = atoi(argv[3]), Hv = atoi(argv[4]), Wv = atoi(argv[5]);
    int reps = argc > 6 ? atoi(argv[6]) : (train ? 2 : 1), threads = argc > 7 ? atoi(argv[7]) : 2;
    pp_set_threads(threads);
    double t0 = pp_now();
    pp_wan_dit w;
    if (pp_wan_dit_open(&w, argv[2], NULL, train && !inplace ? PP_WAN_F32 : PP_WAN_INFER)) return fail();
    const char *keep = getenv("KEEP");
    if (keep && atoi(keep)) w.dit.lent = (pp_map_range){NULL, 0};
    const pp_dit_config *c = &w.dit.cfg;
    int t = (Fv - 1) / 4 + 1, h = Hv / 8, wd = Wv / 8, tokens = t * (h / c->patch[1]) * (wd / c->patch[2]);
    char cs[256];
    pp_wan_dit_config_str(c, cs, sizeof cs);
    printf("%s: %s; %s weights%s; load %.2f s\n", argv[2], cs, pp_dtype_name(w.wdtype),
           w.lent_bytes ? " read in place" : " converted to F32", pp_now() - t0);
    printf("arithmetic: %s; weights read in place %s\n", pp_compute_name(),
           w.dit.lent.base ? "given back after each layer" : "kept resident (KEEP=1)");
    printf("video %d frames of %dx%d -> latent [%d,%d,%d,%d], %d tokens; %d threads\n", Fv, Wv, Hv, c->in_dim, t, h, wd,
           tokens, pp_get_threads());
    mem("after load");
    size_t nx = (size_t)c->in_dim * t * h * wd, row = (size_t)c->text_len * c->text_dim;
    float *x = pp_alloc_floats(nx), *out = pp_alloc_floats(nx), *ctx = pp_zalloc_floats(row), ts = 500.0f;
    pp_rng r;
    pp_rng_seed(&r, 1);
    pp_rng_fill_normal(&r, x, nx, 1.0f);
    pp_rng_fill_normal(&r, ctx, 20 * (size_t)c->text_dim, 1.0f);
    if (!train) {
        pp_dit_acts *a = pp_dit_acts_new(&w.dit, 1, t, h, wd, 0);
        if (!a) return fail();
        printf("activations: %.2f GiB\n", pp_dit_acts_bytes(a) / 1073741824.0);
        for (int i = 0; i < reps; i++) {
            double s = pp_now();
            pp_dit_forward(&w.dit, w.P, a, x, &ts, ctx, out);
            double e = pp_now() - s;
            printf("forward %d: %.2f s (%.1f GFLOP/s)\n", i, e, pp_dit_flops(c, t, h, wd) / e / 1e9);
            fflush(stdout);
        }
        double sum = 0;
        for (size_t i = 0; i < nx; i++) sum += out[i] * out[i];
        printf("output rms %.4f\n", sqrt(sum / nx));
        mem("after forward");
        if (pp_compute_bf16 && tokens > 4096) printf("(no F32 forward for the difference at %d tokens)\n", tokens);
        const char *diff = getenv("DIFF");
        if (pp_compute_bf16 && tokens <= 4096 && !(diff && !atoi(diff))) { /* the same forward in F32, for the difference */
            float *ref = pp_alloc_floats(nx);
            pp_compute_bf16 = 0;
            pp_dit_forward(&w.dit, w.P, a, x, &ts, ctx, ref);
            pp_compute_bf16 = 1;
            double d = 0, r2 = 0;
            for (size_t i = 0; i < nx; i++) d += (out[i] - ref[i]) * (out[i] - ref[i]), r2 += ref[i] * ref[i];
            printf("BF16 vs F32 arithmetic: relative L2 difference %.2e\n", sqrt(d / r2));
            pp_free_aligned(ref);
        }
        pp_dit_acts_free(a);
    } else {
        int M = reps;
        pp_wan_branch_config bc;
        pp_wan_branch_config_default(&bc, c, t, h / c->patch[1], wd / c->patch[2]);
        bc.branch.M = M;
        bc.in_place = inplace;
        pp_wan_branch m;
        double s0 = pp_now();
        if (pp_wan_branch_create(&m, &bc) || pp_wan_branch_attach_dit(&m, &w, 7)) return fail();
        if (!inplace) pp_wan_dit_close(&w); /* the branch model holds its own copy of the backbone */
        size_t ntrain = 0;
        for (int i = 0; i < m.table.n; i++) ntrain += m.table.p[i].frozen ? 0 : m.table.p[i].numel;
        printf("ProPhy on Wan (backbone %s): %d Physical Blocks (mode full), %.1f M trainable (%.1f M floats of gradients and "
               "moments) of %.1f M parameters; attach %.2f s\n", inplace ? "BF16 in place" : "F32", M, ntrain / 1e6, m.trainable / 1e6, m.table.total / 1e6,
               pp_now() - s0);
        mem("after attach");
        pp_wan_branch_acts *a = pp_wan_branch_acts_new(&m, 1, t, h, wd, 1);
        if (!a) return fail();
        /* the backbone frozen: gradients and moments for the branch's floats alone */
        float *G = pp_zalloc_floats(m.trainable), *target = pp_alloc_floats(nx), tt = 500.0f;
        pp_rng_fill_normal(&r, target, nx, 1.0f);
        int len = 20;
        pp_wan_branch_batch b = {x, &tt, ctx, &len, target, NULL, NULL};
        pp_adamw_config oc = pp_adamw_defaults();
        pp_adamw o;
        pp_adamw_init(&o, &oc, m.trainable, m.params);
        for (int i = 0; i < 2; i++) {
            pp_prophy_losses L;
            double s = pp_now();
            memset(G, 0, m.trainable * sizeof(float));
            if (pp_wan_branch_step(&m, m.params, G, a, &b, NULL, &L)) return fail();
            double s1 = pp_now();
            pp_adamw_step(&o, &m.table, m.params, G, NULL);
            printf("training step %d: %.2f s (forward + backward %.2f s, AdamW %.2f s); loss %.4f\n", i, pp_now() - s,
                   s1 - s, pp_now() - s1, L.total);
            fflush(stdout);
        }
        mem("after the steps");
        pp_adamw_free(&o);
        pp_free_aligned(G), pp_free_aligned(target);
        pp_wan_branch_acts_free(a);
        pp_wan_branch_free(&m);
    }
    pp_free_aligned(x), pp_free_aligned(out), pp_free_aligned(ctx);
    if (!train || inplace) pp_wan_dit_close(&w);
    return 0;
}
