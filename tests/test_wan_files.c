/* test_wan_files.c - Wan2.1 DiT files: the tiny random model of
 * tools/make_wan_fixture.py in diffusers' layout (sharded), Wan's and ComfyUI's
 * (BF16 under a prefix) against diffusers' WanTransformer3DModel (float64
 * reference); the half-precision path against the F32 path on the same weights;
 * shard indexes; the folder finder; and the bad inputs, one error line each. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "base/rng.h"
#include "nn/amx.h"
#include "nn/linear_half.h"
#include "nn/params.h"
#include "wan/wan_files.h"
#include "test.h"

#define REL_TOL 1e-4

static const char *fx(const char *rel) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 1024, "%s/%s", pp_fixture_dir(), rel);
    return p;
}

/* a float tensor of wan_ref.safetensors as a fresh buffer */
static float *ref_tensor(const char *name, size_t *n) {
    pp_st_file f;
    if (pp_st_open(&f, fx("wan_ref.safetensors"))) return NULL;
    const pp_st_tensor *t = pp_st_find(&f, name);
    float *d = NULL;
    if (t) {
        d = pp_alloc_floats(t->numel);
        pp_st_to_f32(&f, t, d);
        if (n) *n = t->numel;
    }
    pp_st_close(&f);
    return d;
}

/* the DiT's output on the fixture's batch of 2 */
static float *run_dit(const pp_wan_dit *w) {
    size_t nx = 0;
    float *x = ref_tensor("dit.x", &nx), *t = ref_tensor("dit.t", NULL), *ctx = ref_tensor("dit.ctx", NULL);
    float *out = pp_zalloc_floats(nx);
    pp_dit_acts *a = pp_dit_acts_new(&w->dit, 2, 3, 4, 6, 0);
    if (a && x && t && ctx) pp_dit_forward(&w->dit, w->P, a, x, t, ctx, out);
    pp_dit_acts_free(a);
    pp_free_aligned(x), pp_free_aligned(t), pp_free_aligned(ctx);
    return out;
}

static double err_vs_ref(const float *out) {
    size_t n = 0;
    float *want = ref_tensor("dit.out", &n);
    double e = want ? pp_rel_err(out, want, n) : 1e9;
    pp_free_aligned(want);
    return e;
}

TEST(wan_dit_diffusers_layout_matches_diffusers) {
    pp_wan_dit w;
    int rc = pp_wan_dit_open(&w, fx("wan_tiny/transformer/diffusion_pytorch_model.safetensors.index.json"),
                             fx("wan_tiny/transformer/config.json"), PP_WAN_INFER);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc) return;
    CHECK(w.names == PP_WAN_NAMES_DIFFUSERS && !strcmp(w.prefix, "") && w.dit.cfg.dim == 48 && w.dit.cfg.heads == 2);
    CHECK(w.lent_bytes > 0 && w.wdtype == PP_F32); /* F32 weights read in place from the shards */
    float *out = run_dit(&w);
    double e = err_vs_ref(out);
    printf("    DiT (diffusers names, 2 shards, F32 in place) vs diffusers float64: rel %.2e\n", e);
    CHECK(e < REL_TOL);
    pp_free_aligned(out);
    pp_wan_dit_close(&w);
}

TEST(wan_dit_wan_layout_matches_diffusers) {
    pp_wan_dit w;
    int rc = pp_wan_dit_open(&w, fx("wan_tiny_wan/diffusion_pytorch_model.safetensors"),
                             fx("wan_tiny_wan/config.json"), PP_WAN_F32);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc) return;
    CHECK(w.names == PP_WAN_NAMES_WAN && w.lent_bytes == 0 && w.f.map == NULL);
    float *out = run_dit(&w);
    double e = err_vs_ref(out);
    printf("    DiT (Wan names, all F32 in P) vs diffusers float64: rel %.2e\n", e);
    CHECK(e < REL_TOL);
    pp_free_aligned(out);
    pp_wan_dit_close(&w);
}

/* ComfyUI's BF16 file under "model.diffusion_model.": the half path (weights in
 * the mapped file) equals the F32 path on the same BF16-rounded weights. */
TEST(wan_dit_bf16_in_place_equals_f32) {
    const char *p = fx("wan_tiny_comfy/diffusion_models/wan2.1_t2v_tiny_bf16.safetensors");
    pp_wan_dit h, f;
    int rc = pp_wan_dit_open(&h, p, NULL, PP_WAN_INFER);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc) return;
    rc = pp_wan_dit_open(&f, p, NULL, PP_WAN_F32);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc) {
        pp_wan_dit_close(&h);
        return;
    }
    CHECK(!strcmp(h.prefix, "model.diffusion_model.") && h.wdtype == PP_BF16 && !strcmp(h.config_from, "metadata 'config'"));
    /* the small table holds no Linear weight: P is the biases, norms and modulations only */
    CHECK(h.table.total * 4 < f.table.total);
    float *a = run_dit(&h), *b = run_dit(&f);
    size_t n = 2 * 16 * 3 * 4 * 6;
    double e = pp_rel_err(a, b, n), er = err_vs_ref(a);
    printf("    DiT BF16 in place vs F32 on the same weights: rel %.2e (vs diffusers' F32 weights: %.2e)\n", e, er);
    CHECK(e < 1e-5);
    CHECK(er < 2e-2);
    pp_free_aligned(a), pp_free_aligned(b);
    pp_wan_dit_close(&h);
    pp_wan_dit_close(&f);
}

TEST(wan_dit_config_from_shapes) {
    /* Wan's file without its config.json: dim 48 is not 128 x heads, so the
     * shapes cannot give the head count: one error saying so */
    pp_wan_dit w;
    CHECK(pp_wan_dit_open(&w, fx("wan_tiny_wan/diffusion_pytorch_model.safetensors"), NULL, PP_WAN_INFER) == -1);
    CHECK(strstr(pp_lasterr(), "dim / 128") && strstr(pp_lasterr(), "config.json"));
    pp_dit_config c;
    const char *js = "{\"_class_name\": \"WanTransformer3DModel\", \"num_attention_heads\": 12, \"attention_head_dim\": 128,"
                     " \"num_layers\": 30, \"ffn_dim\": 8960, \"in_channels\": 16, \"out_channels\": 16,"
                     " \"text_dim\": 4096, \"freq_dim\": 256, \"patch_size\": [1,2,2], \"eps\": 1e-06,"
                     " \"image_dim\": null, \"added_kv_proj_dim\": null, \"cross_attn_norm\": true}";
    CHECK(pp_wan_dit_config_parse(&c, js, "cfg") == 0);
    CHECK(c.dim == 1536 && c.heads == 12 && c.layers == 30 && c.ffn_dim == 8960 && c.text_len == 512);
    CHECK(pp_wan_dit_config_parse(&c, "{\"_class_name\": \"AutoencoderKLWan\", \"base_dim\": 96}", "vae/config.json") == -1);
    CHECK(strstr(pp_lasterr(), "vae/config.json") && strstr(pp_lasterr(), "AutoencoderKLWan"));
    CHECK(pp_wan_dit_config_parse(&c, "{\"dim\": 5120, \"num_heads\": 40, \"num_layers\": 40, \"ffn_dim\": 13824,"
                                      " \"in_dim\": 36, \"model_type\": \"i2v\"}", "c.json") == -1);
    CHECK(strstr(pp_lasterr(), "i2v"));
    char n[256];
    CHECK(pp_wan_diffusers_name("blocks.12.norm3.bias", n, sizeof n) == 0 && !strcmp(n, "blocks.12.norm2.bias"));
    CHECK(pp_wan_diffusers_name("blocks.0.self_attn.o.weight", n, sizeof n) == 0 && !strcmp(n, "blocks.0.attn1.to_out.0.weight"));
    CHECK(pp_wan_diffusers_name("head.modulation", n, sizeof n) == 0 && !strcmp(n, "scale_shift_table"));
    CHECK(pp_wan_diffusers_name("blocks.3.modulation", n, sizeof n) == 0 && !strcmp(n, "blocks.3.scale_shift_table"));
}

static int copy_file(const char *src, const char *dst, long cut) {
    char *d = NULL;
    size_t len = 0;
    if (pp_read_file(src, &d, &len)) return -1;
    int rc = pp_write_file_atomic(dst, d, cut > 0 && (size_t)cut < len ? len - (size_t)cut : len);
    free(d);
    return rc;
}

TEST(wan_dit_bad_files_one_line_each) {
    pp_wan_dit w;
    /* a VAE where a DiT is expected */
    CHECK(pp_wan_dit_open(&w, fx("wan_tiny/vae/diffusion_pytorch_model.safetensors"), NULL, PP_WAN_INFER) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "vae/diffusion_pytorch_model.safetensors") && strstr(pp_lasterr(), "not a Wan2.1 DiT") &&
              strstr(pp_lasterr(), "patch_embedding.weight"), "%s", pp_lasterr());
    /* the DiT of another size than its config (a 14B file in a 1.3B folder) */
    const char *cfg = pp_test_path("big_config.json");
    const char *big = "{\"dim\": 1536, \"num_heads\": 12, \"num_layers\": 30, \"ffn_dim\": 8960, \"in_dim\": 16,"
                      " \"out_dim\": 16, \"text_len\": 512, \"model_type\": \"t2v\"}";
    CHECK(pp_write_file_atomic(cfg, big, strlen(big)) == 0);
    CHECK(pp_wan_dit_open(&w, fx("wan_tiny_wan/diffusion_pytorch_model.safetensors"), cfg, PP_WAN_INFER) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "diffusion_pytorch_model.safetensors: tensor '") &&
              strstr(pp_lasterr(), "big_config.json") && strstr(pp_lasterr(), "another size"), "%s", pp_lasterr());
    printf("    %s\n", pp_lasterr());
    /* a truncated BF16 file */
    const char *cut = pp_test_path("cut_bf16.safetensors");
    CHECK(copy_file(fx("wan_tiny_comfy/diffusion_models/wan2.1_t2v_tiny_bf16.safetensors"), cut, 10) == 0);
    CHECK(pp_wan_dit_open(&w, cut, NULL, PP_WAN_INFER) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "cut_bf16.safetensors") && strstr(pp_lasterr(), "'model.diffusion_model."), "%s",
              pp_lasterr());
    printf("    %s\n", pp_lasterr());
    CHECK(!strchr(pp_lasterr(), '\n'));
}

/* a tensor with a NaN, and an image-to-video tensor, written by the C writer */
TEST(wan_dit_nonfinite_and_i2v_refused) {
    pp_wan_dit f;
    int rc = pp_wan_dit_open(&f, fx("wan_tiny_wan/diffusion_pytorch_model.safetensors"), fx("wan_tiny_wan/config.json"),
                             PP_WAN_F32);
    CHECK(rc == 0);
    if (rc) return;
    const char *p1 = pp_test_path("nan.safetensors"), *p2 = pp_test_path("i2v.safetensors");
    const pp_param *q = pp_params_find(&f.table, "blocks.1.cross_attn.k.weight");
    f.P[q->offset + 7] = NAN;
    pp_st_writer *w = pp_st_writer_new();
    CHECK(pp_params_write(&f.table, f.P, w, PP_BF16) == 0 && pp_st_save(w, p1) == 0);
    float extra[4] = {0};
    int64_t sh[2] = {2, 2};
    f.P[q->offset + 7] = 0.0f; /* the writer borrows P: the second file has no NaN */
    CHECK(pp_st_add_f32(w, "blocks.0.cross_attn.k_img.weight", PP_F32, 2, sh, extra) == 0 && pp_st_save(w, p2) == 0);
    pp_st_writer_free(w);
    pp_wan_dit g;
    CHECK(pp_wan_dit_open(&g, p1, fx("wan_tiny_wan/config.json"), PP_WAN_INFER) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "'blocks.1.cross_attn.k.weight' holds a non-finite value at index 7"), "%s", pp_lasterr());
    CHECK(pp_wan_dit_open(&g, p2, fx("wan_tiny_wan/config.json"), PP_WAN_INFER) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "k_img") && strstr(pp_lasterr(), "image-to-video"), "%s", pp_lasterr());
    pp_wan_dit_close(&f);
}

TEST(st_sharded_index) {
    pp_st_file f;
    int rc = pp_st_open_sharded(&f, fx("wan_tiny/text_encoder/model.safetensors.index.json"));
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc) return;
    CHECK(pp_st_find(&f, "shared.weight") && pp_st_find(&f, "encoder.final_layer_norm.weight"));
    CHECK(pp_st_meta(&f, "format") && !strcmp(pp_st_meta(&f, "format"), "pt"));
    CHECK(pp_st_check_finite(&f) == 0);
    pp_st_close(&f);
    /* an index naming a shard that does not hold the tensor, and one naming a missing shard */
    const char *dir = pp_test_path("shards");
    mkdir(dir, 0755);
    char idx[1024], s1[1024];
    snprintf(idx, sizeof idx, "%s/x.safetensors.index.json", dir);
    snprintf(s1, sizeof s1, "%s/a.safetensors", dir);
    CHECK(copy_file(fx("wan_tiny/text_encoder/model-00001-of-00002.safetensors"), s1, 0) == 0);
    const char *j1 = "{\"weight_map\": {\"shared.weight\": \"a.safetensors\", \"nope\": \"a.safetensors\"}}";
    CHECK(pp_write_file_atomic(idx, j1, strlen(j1)) == 0);
    CHECK(pp_st_open_sharded(&f, idx) == -1 && strstr(pp_lasterr(), "'nope' is listed in shard 'a.safetensors'"));
    const char *j2 = "{\"weight_map\": {\"shared.weight\": \"b.safetensors\"}}";
    CHECK(pp_write_file_atomic(idx, j2, strlen(j2)) == 0);
    CHECK(pp_st_open_sharded(&f, idx) == -1 && strstr(pp_lasterr(), "b.safetensors: cannot open"));
    const char *j3 = "{\"weight_map\": {\"shared.weight\": \"../a.safetensors\"}}";
    CHECK(pp_write_file_atomic(idx, j3, strlen(j3)) == 0);
    CHECK(pp_st_open_sharded(&f, idx) == -1 && strstr(pp_lasterr(), "plain file name"));
}

TEST(wan_find_layouts) {
    pp_wan_paths p;
    CHECK(pp_wan_find(&p, fx("wan_tiny")) == 0 && p.layout == PP_WAN_LAYOUT_DIFFUSERS);
    CHECK(strstr(p.dit.path, "transformer/diffusion_pytorch_model.safetensors.index.json"));
    CHECK(strstr(p.t5.path, "text_encoder/model.safetensors.index.json") && strstr(p.vae.path, "vae/diffusion_pytorch_model"));
    CHECK(strstr(p.tokenizer.path, "tokenizer/tokenizer.json") && strstr(p.vae_config.path, "vae/config.json"));
    CHECK(pp_wan_paths_check(&p) == 0);
    CHECK(pp_wan_find(&p, fx("wan_tiny_comfy")) == 0 && p.layout == PP_WAN_LAYOUT_COMFYUI);
    CHECK(strstr(p.dit.path, "wan2.1_t2v_tiny_bf16.safetensors") && strstr(p.t5.path, "umt5_tiny_fp32"));
    CHECK(strstr(p.vae.path, "wan_tiny_vae.safetensors") && !p.tokenizer.path[0]);
    CHECK(pp_wan_paths_check(&p) == -1 && strstr(pp_lasterr(), "--wan-tokenizer"));
    CHECK(pp_wan_set_part(&p.tokenizer, fx("spm_tokenizer.json")) == 0 && pp_wan_paths_check(&p) == 0);
    CHECK(pp_wan_find(&p, fx("wan_tiny_wan")) == 0 && p.layout == PP_WAN_LAYOUT_WAN && p.dit_config.path[0]);
    CHECK(pp_wan_paths_check(&p) == -1 && strstr(pp_lasterr(), ".pth"));
    /* a diffusers folder with its VAE missing */
    const char *d = pp_test_path("diffusers_no_vae");
    char sub[1024];
    mkdir(d, 0755);
    snprintf(sub, sizeof sub, "%s/transformer", d);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/transformer/diffusion_pytorch_model.safetensors", d);
    CHECK(copy_file(fx("wan_tiny_wan/diffusion_pytorch_model.safetensors"), sub, 0) == 0);
    CHECK(pp_wan_find(&p, d) == 0 && p.dit.path[0] && !p.vae.path[0]);
    CHECK(pp_wan_paths_check(&p) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "text_encoder: no model.safetensors"), "%s", pp_lasterr());
    CHECK(strstr(p.vae.why, "diffusers_no_vae/vae: no diffusion_pytorch_model.safetensors"));
    CHECK(pp_wan_find(&p, fx("spm_tokenizer.json")) == -1 && strstr(pp_lasterr(), "not a folder"));
    CHECK(pp_wan_find(&p, pp_fixture_dir()) == -1 && strstr(pp_lasterr(), "not a Wan2.1 folder"));
}

/* the half GEMM's many-rows path (shared panels split by rows) and its input
 * gradient, against F32 on the converted weights, and the same bits on 1 and 2 threads */
TEST(linear_half_many_rows) {
    int M = 2100, K = 40, N = 70;
    uint16_t *w = malloc((size_t)N * K * 2);
    float *wf = pp_alloc_floats((size_t)N * K), *x = pp_alloc_floats((size_t)M * K), *b = pp_alloc_floats(N);
    float *y = pp_zalloc_floats((size_t)M * N), *yr = pp_zalloc_floats((size_t)M * N), *y1 = pp_zalloc_floats((size_t)M * N);
    unsigned s = 7;
    for (int i = 0; i < N * K; i++) {
        s = s * 1103515245u + 12345u;
        w[i] = pp_f32_to_bf16(((float)(s >> 9) / (1 << 23) - 0.5f));
        wf[i] = pp_bf16_to_f32(w[i]);
    }
    for (int i = 0; i < M * K; i++) x[i] = (float)((i * 37 % 101) - 50) / 50.0f;
    for (int i = 0; i < N; i++) b[i] = 0.01f * (float)i;
    pp_linear_forward_half(y, x, w, PP_HALF_BF16, b, M, K, N);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = b[n];
            for (int k = 0; k < K; k++) acc += (double)x[(size_t)m * K + k] * wf[(size_t)n * K + k];
            yr[(size_t)m * N + n] = (float)acc;
        }
    CHECK(pp_rel_err(y, yr, (size_t)M * N) < 1e-6);
    int th = omp_get_max_threads();
    omp_set_num_threads(1);
    pp_linear_forward_half(y1, x, w, PP_HALF_BF16, b, M, K, N);
    omp_set_num_threads(th);
    CHECK(!memcmp(y, y1, (size_t)M * N * 4));
    /* din += dout W */
    float *din = pp_zalloc_floats((size_t)M * K), *dr = pp_zalloc_floats((size_t)M * K);
    pp_linear_backward_input_half(din, yr, w, PP_HALF_BF16, M, K, N);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) {
            double acc = 0;
            for (int n = 0; n < N; n++) acc += (double)yr[(size_t)m * N + n] * wf[(size_t)n * K + k];
            dr[(size_t)m * K + k] = (float)acc;
        }
    CHECK(pp_rel_err(din, dr, (size_t)M * K) < 1e-6);
    free(w);
    pp_free_aligned(wf), pp_free_aligned(x), pp_free_aligned(b), pp_free_aligned(y), pp_free_aligned(yr);
    pp_free_aligned(y1), pp_free_aligned(din), pp_free_aligned(dr);
}

/* BF16 arithmetic (pp_compute_bf16) on a whole DiT whose sizes take the AMX
 * paths where the CPU has them (dim 64, head size 32, ffn 128: every Linear's
 * K and N multiples of 32): a random model written as a BF16 file in Wan's
 * keys, read in place, run with F32 and with BF16 arithmetic. BF16 rounds every
 * Linear's and attention's inputs to 8 significant bits, so the outputs differ
 * by about 1e-2 relative, not 1e-6, and not by much more. */
TEST(wan_dit_bf16_arithmetic_close_to_f32) {
    const char *json = "{\"dim\": 64, \"num_heads\": 2, \"ffn_dim\": 128, \"freq_dim\": 32, \"text_dim\": 64, "
                       "\"in_dim\": 16, \"out_dim\": 16, \"num_layers\": 2, \"text_len\": 16}";
    pp_dit_config c;
    CHECK_MSG(pp_wan_dit_config_parse(&c, json, "test") == 0, "%s", pp_lasterr());
    pp_dit m;
    pp_params table = {0};
    CHECK_MSG(pp_dit_init(&m, &c, &table) == 0, "%s", pp_lasterr());
    float *P = pp_alloc_floats(table.total);
    pp_rng r;
    pp_rng_seed(&r, 5);
    pp_rng_fill_normal(&r, P, table.total, 0.08f);
    for (int i = 0; i < table.n; i++) /* norms near 1, as trained ones */
        if (strstr(table.p[i].name, "norm") && table.p[i].ndim == 1)
            for (size_t k = 0; k < table.p[i].numel; k++) P[table.p[i].offset + k] += 1.0f;
    const char *path = pp_test_path("dit64_bf16.safetensors");
    pp_st_writer *w = pp_st_writer_new();
    int rc = pp_params_write(&table, P, w, PP_BF16) || pp_st_set_meta(w, "config", json) || pp_st_save(w, path);
    pp_st_writer_free(w);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    pp_dit_free(&m), pp_params_free(&table), pp_free_aligned(P);
    pp_wan_dit h;
    rc = pp_wan_dit_open(&h, path, NULL, PP_WAN_INFER);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc) return;
    int F = 2, H = 8, W = 8; /* latent [16, 2, 8, 8]: 32 tokens */
    size_t nx = (size_t)16 * F * H * W;
    float *x = pp_alloc_floats(nx), *ctx = pp_zalloc_floats((size_t)16 * 64), t = 700.0f;
    float *o32 = pp_zalloc_floats(nx), *o16 = pp_zalloc_floats(nx);
    pp_rng_fill_normal(&r, x, nx, 1.0f);
    pp_rng_fill_normal(&r, ctx, (size_t)9 * 64, 1.0f); /* 9 prompt rows, then zeros */
    pp_dit_acts *a = pp_dit_acts_new(&h.dit, 1, F, H, W, 0);
    pp_dit_forward(&h.dit, h.P, a, x, &t, ctx, o32);
    pp_compute_bf16 = 1;
    const char *engine = pp_compute_name();
    pp_dit_forward(&h.dit, h.P, a, x, &t, ctx, o16);
    pp_compute_bf16 = 0;
    double e = pp_rel_err(o16, o32, nx), rms = 0;
    for (size_t i = 0; i < nx; i++) rms += (double)o32[i] * o32[i];
    rms = sqrt(rms / nx);
    printf("    DiT in BF16 arithmetic vs F32 (%s): rel %.2e, output rms %.3f\n",
           engine, e, rms);
    CHECK(rms > 0.1);
    CHECK_MSG(e > 1e-4 && e < 3e-2, "rel err %.3g", e);
    /* the forwards above gave each layer's pages back (the weights are read in
     * place); with them kept resident the same forward gives the same bits */
    CHECK(h.dit.lent.base != NULL && h.lent_bytes > 0);
    float *kept = pp_zalloc_floats(nx);
    pp_map_range lent = h.dit.lent;
    h.dit.lent = (pp_map_range){NULL, 0};
    pp_dit_forward(&h.dit, h.P, a, x, &t, ctx, kept);
    h.dit.lent = lent;
    CHECK(memcmp(kept, o32, nx * sizeof(float)) == 0);
    pp_dit_acts_free(a);
    pp_free_aligned(x), pp_free_aligned(ctx), pp_free_aligned(o32), pp_free_aligned(o16), pp_free_aligned(kept);
    pp_wan_dit_close(&h);
}
