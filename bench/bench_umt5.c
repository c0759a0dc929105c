/* bench_umt5.c - time the umT5 encoder on a real-size file, weights BF16 in place.
 *
 *   make build/libprophy.a
 *   gcc -O3 -march=native -fopenmp -Isrc bench/bench_umt5.c build/libprophy.a \
 *       -L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp \
 *       -lopenblas -lcjson -lm -o build/bench_umt5
 *   build/bench_umt5 MODEL.safetensors [LEN [THREADS [REPS [OUT.f32]]]]
 *
 * The ids are (i * 7919 + 13) mod vocab for i < LEN-1, then 1 (</s>), the same
 * as tools/bench_umt5_torch.py. Prints the load time, each forward's time, and
 * the process's memory from /proc/self/status (VmHWM: peak resident, including
 * the pages of the mapped file that were read; RssAnon / RssFile at the end).
 * OUT.f32 receives the [LEN, dim] output as raw little-endian float32.
 * COMPUTE=bf16 in the environment: BF16 arithmetic (pp_compute_bf16, nn/amx.h).
 * A forward gives each layer's weight pages back after it (pp_umt5.lent); KEEP=1
 * keeps them resident. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "base/threads.h"
#include "nn/amx.h"
#include "text/umt5.h"

static void mem(const char *when) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    printf("memory %s:", when);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6) || !strncmp(line, "VmRSS:", 6) || !strncmp(line, "RssAnon:", 8) ||
            !strncmp(line, "RssFile:", 8)) {
            line[strcspn(line, "\n")] = 0;
            char *v = strchr(line, ':') + 1;
            while (*v == ' ' || *v == '\t') v++;
            printf(" %.*s %.1f MiB", (int)(strchr(line, ':') - line), line, atof(v) / 1024.0);
        }
    printf("\n");
    if (f) fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.safetensors [LEN [THREADS [REPS [OUT.f32]]]]\n", argv[0]);
        return 2;
    }
    pp_compute_bf16 = getenv("COMPUTE") && !strcmp(getenv("COMPUTE"), "bf16");
    printf("arithmetic: %s\n", pp_compute_name());
    int L = argc > 2 ? atoi(argv[2]) : 32, threads = argc > 3 ? atoi(argv[3]) : 2, reps = argc > 4 ? atoi(argv[4]) : 2;
    pp_set_threads(threads);
    pp_umt5_config c;
    if (pp_umt5_config_from_file(argv[1], &c)) {
        fprintf(stderr, "%s\n", pp_lasterr());
        return 1;
    }
    printf("%s: vocab %d, dim %d, %d heads x %d, %d layers, ffn %d; %d tokens, %d threads\n", argv[1], c.vocab,
           c.dim, c.heads, c.d_kv, c.layers, c.ffn, L, threads);
    pp_umt5 m;
    double t0 = pp_now();
    if (pp_umt5_init(&m, &c) || pp_umt5_load(&m, argv[1], 1)) {
        fprintf(stderr, "%s\n", pp_lasterr());
        return 1;
    }
    if (getenv("KEEP") && atoi(getenv("KEEP"))) m.lent = (pp_map_range){NULL, 0};
    printf("load (map + checks): %.3f s; weights %s\n", pp_now() - t0,
           m.lent.base ? "given back after each layer" : "kept resident (KEEP=1)");
    mem("after load");
    int32_t *ids = malloc((size_t)L * sizeof *ids);
    for (int i = 0; i < L; i++) ids[i] = i == L - 1 ? 1 : (int32_t)(((long)i * 7919 + 13) % c.vocab);
    float *out = pp_alloc_floats((size_t)L * c.dim);
    for (int r = 0; r < reps; r++) {
        t0 = pp_now();
        if (pp_umt5_forward(&m, ids, L, out)) {
            fprintf(stderr, "%s\n", pp_lasterr());
            return 1;
        }
        printf("forward %d: %.3f s\n", r, pp_now() - t0);
    }
    mem("after forward");
    double s = 0;
    for (size_t i = 0; i < (size_t)L * c.dim; i++) s += (double)out[i] * out[i];
    printf("output [%d, %d], rms %.6f, out[0][0..3] = %.6f %.6f %.6f %.6f\n", L, c.dim, (double)__builtin_sqrt(s / ((double)L * c.dim)),
           out[0], out[1], out[2], out[3]);
    if (argc > 5) {
        FILE *f = fopen(argv[5], "wb");
        if (!f || fwrite(out, sizeof(float), (size_t)L * c.dim, f) != (size_t)L * c.dim) return 1;
        fclose(f);
    }
    pp_free_aligned(out);
    free(ids);
    pp_umt5_free(&m);
    return 0;
}
