/* test_wan_pipeline.c - the whole Wan2.1 text-to-video pipeline against diffusers'
 * WanPipeline on the tiny random model of tools/make_wan_fixture.py: the token
 * ids, the prompt embeddings, the final latent after 4 UniPC steps with CFG 5 and
 * the decoded video; the three layouts; the truncation warning; bad tokenizers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "io/video.h"
#include "pipeline/t2v.h"
#include "test.h"

static const char *fx(const char *rel) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 1024, "%s/%s", pp_fixture_dir(), rel);
    return p;
}

static void *ref_raw(const char *name, size_t *n) {
    pp_st_file f;
    if (pp_st_open(&f, fx("wan_ref.safetensors"))) return NULL;
    const pp_st_tensor *t = pp_st_find(&f, name);
    void *d = NULL;
    if (t) {
        d = pp_alloc_floats(t->numel + 1);
        if (t->dtype == PP_F32) pp_st_to_f32(&f, t, d);
        else memcpy(d, t->data, t->end - t->begin);
        if (n) *n = t->numel;
    }
    pp_st_close(&f);
    return d;
}

static char *ref_meta(const char *key) {
    pp_st_file f;
    if (pp_st_open(&f, fx("wan_ref.safetensors"))) return NULL;
    const char *v = pp_st_meta(&f, key);
    char *s = v ? pp_strdup(v) : NULL;
    pp_st_close(&f);
    return s;
}

/* PSNR of two videos in [-1, 1], on the [0, 1] scale */
static double psnr(const float *a, const float *b, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = 0.5 * ((double)a[i] - (double)b[i]);
        se += d * d;
    }
    return se > 0 ? 10 * log10((double)n / se) : 999;
}

static pp_t2v_opts tiny_opts(void) {
    pp_t2v_opts o = pp_t2v_defaults();
    o.width = 48, o.height = 32, o.frames = 9, o.steps = 4, o.cfg = 5.0f, o.shift = 5.0f;
    return o;
}

TEST(wan_pipeline_prompt_ids_and_embeddings_match_diffusers) {
    char *prompt = ref_meta("prompt");
    pp_wan_paths p;
    CHECK(pp_wan_find(&p, fx("wan_tiny")) == 0);
    pp_spm *tok = NULL;
    pp_umt5 t5;
    pp_umt5_config c;
    memset(&t5, 0, sizeof t5);
    int rc = pp_spm_load(&tok, p.tokenizer.path) || pp_umt5_config_from_file(p.t5.path, &c) || pp_umt5_init(&t5, &c) ||
             pp_umt5_load(&t5, p.t5.path, 1);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (rc || !prompt) return;
    size_t n = 0;
    int32_t *ids = ref_raw("pipe.ids", &n), *nids = ref_raw("pipe.neg_ids", NULL), *lens = ref_raw("pipe.lens", NULL);
    float *pe = ref_raw("pipe.prompt_embeds", NULL), *ne = ref_raw("pipe.negative_embeds", NULL);
    /* the ids: Wan's whitespace clean, EOS, pad */
    char *clean = pp_malloc(strlen(prompt) + 1);
    pp_spm_wan_clean(clean, prompt, strlen(prompt));
    int32_t got[512];
    int len = 0, cut = 0;
    CHECK(pp_spm_encode_wan(tok, clean, 512, got, &len, &cut) == 0 && len == lens[0] && !cut);
    CHECK(!memcmp(got, ids, sizeof got));
    CHECK(pp_spm_encode_wan(tok, pp_wan_default_negative, 512, got, &len, &cut) == 0 && len == lens[1]);
    CHECK(!memcmp(got, nids, sizeof got));
    /* the embeddings (trimmed to the true length, zero rows after) */
    float *ctx = pp_zalloc_floats(512 * (size_t)c.dim);
    int total = 0;
    CHECK(pp_t2v_encode(tok, &t5, prompt, 512, ctx, &len, &total) == 0 && len == lens[0] && total == len);
    double e1 = pp_rel_err(ctx, pe, 512 * (size_t)c.dim);
    CHECK(pp_t2v_encode(tok, &t5, pp_wan_default_negative, 512, ctx, &len, &total) == 0 && len == lens[1]);
    double e2 = pp_rel_err(ctx, ne, 512 * (size_t)c.dim);
    printf("    prompt embeddings vs diffusers: rel %.2e (prompt, %d tokens), %.2e (Wan's negative prompt, %d tokens)\n",
           e1, lens[0], e2, lens[1]);
    CHECK(e1 < 1e-4 && e2 < 1e-4);
    /* a prompt over 512 tokens: cut, EOS kept, its length reported */
    size_t big = 4000;
    char *longp = pp_malloc(big * 6 + 1);
    longp[0] = 0;
    for (size_t i = 0; i < big; i++) strcat(longp, "ball ");
    CHECK(pp_t2v_encode(tok, &t5, longp, 512, ctx, &len, &total) == 0 && len == 512 && total > 512);
    free(longp), free(clean), free(prompt);
    pp_free_aligned(ids), pp_free_aligned(nids), pp_free_aligned(lens), pp_free_aligned(pe), pp_free_aligned(ne);
    pp_free_aligned(ctx);
    pp_umt5_free(&t5);
    pp_spm_free(tok);
}

typedef struct {
    int warnings;
    char last[1024];
} notes;

static void on_note(void *user, const char *line) {
    notes *n = user;
    if (!strncmp(line, "warning:", 8)) n->warnings++, snprintf(n->last, sizeof n->last, "%s", line);
}

static void run_layout(const pp_wan_paths *p, const char *what, double min_psnr, double max_lat_err) {
    char *prompt = ref_meta("prompt");
    pp_t2v_opts o = tiny_opts();
    o.prompt = prompt;
    o.noise_path = fx("wan_noise.safetensors");
    float *video = NULL, *lat = NULL;
    pp_t2v_report r;
    int rc = pp_t2v_run(p, &o, &video, &lat, &r);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    if (!rc) {
        size_t nl = 0, nv = 0;
        float *wl = ref_raw("pipe.latents", &nl), *wv = ref_raw("pipe.video", &nv);
        double el = pp_rel_err(lat, wl, nl), pv = psnr(video, wv, nv);
        printf("    %s: latent rel %.2e, video PSNR %.1f dB vs diffusers' WanPipeline (4 UniPC steps, CFG 5)\n", what, el,
               pv);
        CHECK(r.z == 16 && r.t == 3 && r.h == 4 && r.w == 6 && nl == 16 * 3 * 4 * 6 && nv == 3 * 9 * 32 * 48);
        CHECK(el < max_lat_err);
        CHECK(pv > min_psnr);
        /* the 8-bit PNG frames against diffusers' own postprocessing ([0, 1]) */
        float *w01 = ref_raw("pipe.video01", NULL), *back = pp_alloc_floats(nv);
        pp_video v = {0}, rd = {0};
        const char *png = pp_test_path("frame_%03d.png");
        int ok = pp_video_alloc(&v, 9, 32, 48, 16) == 0;
        if (ok) pp_video_from_float(&v, video);
        ok = ok && pp_video_write(&v, png, 1) == 0 && pp_video_read(&rd, png) == 0 && rd.frames == 9;
        CHECK(ok);
        if (ok) {
            pp_video_to_float(&rd, back);
            for (size_t i = 0; i < nv; i++) w01[i] = 2 * w01[i] - 1;
            double p8 = psnr(back, w01, nv);
            printf("    %s: the PNG frames vs diffusers' postprocessed video: %.1f dB (8-bit rounding)\n", what, p8);
            CHECK(p8 > 40.0);
        }
        pp_video_free(&v), pp_video_free(&rd);
        pp_free_aligned(w01), pp_free_aligned(back);
        pp_free_aligned(wl), pp_free_aligned(wv);
    }
    pp_free_aligned(video), pp_free_aligned(lat);
    free(prompt);
}

TEST(wan_pipeline_diffusers_layout_matches_wanpipeline) {
    pp_wan_paths p;
    CHECK(pp_wan_find(&p, fx("wan_tiny")) == 0);
    run_layout(&p, "diffusers layout (F32 in place)", 60.0, 1e-4);
}

TEST(wan_pipeline_comfy_layout_bf16) {
    /* the DiT's weights are the same ones rounded to BF16: close, not equal */
    pp_wan_paths p;
    CHECK(pp_wan_find(&p, fx("wan_tiny_comfy")) == 0);
    CHECK(pp_wan_set_part(&p.tokenizer, fx("spm_tokenizer.json")) == 0);
    run_layout(&p, "ComfyUI layout (BF16 DiT in place)", 30.0, 5e-2);
}

TEST(wan_pipeline_long_prompt_warns_and_bad_inputs_fail) {
    pp_wan_paths p;
    CHECK(pp_wan_find(&p, fx("wan_tiny")) == 0);
    pp_t2v_opts o = tiny_opts();
    o.steps = 1;
    size_t big = 3000;
    char *longp = pp_malloc(big * 6 + 1);
    longp[0] = 0;
    for (size_t i = 0; i < big; i++) strcat(longp, "ball ");
    o.prompt = longp;
    notes nt = {0};
    o.note = on_note, o.user = &nt;
    float *video = NULL;
    pp_t2v_report r;
    int rc = pp_t2v_run(&p, &o, &video, NULL, &r);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    CHECK(r.truncated && r.len == 512 && nt.warnings == 1 && strstr(nt.last, "the first 512"));
    pp_free_aligned(video);
    free(longp);
    /* a tokenizer file that does not parse */
    const char *bad = pp_test_path("tokenizer.json");
    CHECK(pp_write_file_atomic(bad, "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\"", 40) == 0);
    CHECK(pp_wan_set_part(&p.tokenizer, bad) == 0);
    o.prompt = "a ball";
    CHECK(pp_t2v_run(&p, &o, &video, NULL, &r) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "tokenizer.json") && !strchr(pp_lasterr(), '\n'), "%s", pp_lasterr());
    printf("    %s\n", pp_lasterr());
    /* a video size the model cannot make, a noise file of the wrong shape */
    CHECK(pp_wan_find(&p, fx("wan_tiny")) == 0);
    o.frames = 8;
    CHECK(pp_t2v_run(&p, &o, &video, NULL, &r) == -1 && strstr(pp_lasterr(), "1+4k"));
    o.frames = 9, o.width = 64;
    o.noise_path = fx("wan_noise.safetensors");
    CHECK(pp_t2v_run(&p, &o, &video, NULL, &r) == -1);
    CHECK_MSG(strstr(pp_lasterr(), "wan_noise.safetensors: tensor 'noise' has shape [1,16,3,4,6]"), "%s", pp_lasterr());
}
