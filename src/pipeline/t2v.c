/* t2v.c - Wan2.1 text-to-video end to end (see t2v.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "base/rng.h"
#include "nn/amx.h"
#include "pipeline/t2v.h"

const char *const pp_wan_default_negative =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
    "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

pp_t2v_opts pp_t2v_defaults(void) {
    return (pp_t2v_opts){.width = 832, .height = 480, .frames = 81, .steps = 50, .cfg = 5.0f, .shift = 5.0f,
                         .sampler = PP_SCHED_UNIPC, .sigmas = PP_SIGMAS_DEFAULT, .order = 2, .seed = 42,
                         .keep_half = 1};
}

static void note(const pp_t2v_opts *o, const char *fmt, ...) PP_PRINTF(2, 3);
static void note(const pp_t2v_opts *o, const char *fmt, ...) {
    if (!o->note) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->note(o->user, line);
}

/* ------------------------------------------------------------------ text */

int pp_t2v_encode(const pp_spm *tok, const pp_umt5 *t5, const char *text, int text_len, float *ctx, int *len,
                  int *total) {
    size_t n = strlen(text);
    if (n > PP_SPM_MAX_TEXT) PP_FAIL("the prompt is %zu bytes, longer than the %d this tokenizer reads", n, PP_SPM_MAX_TEXT);
    char *clean = pp_malloc(n + 1);
    pp_spm_wan_clean(clean, text, n);
    int32_t *ids = pp_malloc(sizeof(int32_t) * (size_t)text_len);
    int cut = 0, rc = pp_spm_encode_wan(tok, clean, text_len, ids, len, &cut);
    *total = *len;
    if (!rc && cut) { /* how long it was, for the warning */
        int32_t *all = pp_malloc(sizeof(int32_t) * PP_UMT5_MAX_LEN);
        int c2 = 0;
        if (pp_spm_encode(tok, clean, strlen(clean), PP_UMT5_MAX_LEN, all, total, &c2) == 0 && c2) *total = PP_UMT5_MAX_LEN;
        if (*total <= text_len) *total = text_len + 1;
        free(all);
    }
    for (int i = 0; !rc && i < *len; i++)
        if (ids[i] < 0 || ids[i] >= t5->c.vocab)
            rc = -1, pp_seterr("token id %d is outside the encoder's vocabulary of %d (tokenizer and encoder do not match)",
                               ids[i], t5->c.vocab);
    if (!rc) rc = pp_umt5_encode(t5, ids, len, 1, text_len, text_len, ctx);
    free(ids);
    free(clean);
    return rc;
}

/* ------------------------------------------------------------------ VAE */

/* diffusers' AutoencoderKLWan config.json as the vae_config JSON vae_file.h reads */
static int vae_config_diffusers(pp_vae_config *c, const char *path) {
    char *text = NULL;
    size_t len = 0;
    if (pp_read_file(path, &text, &len)) return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        PP_FAIL("%s: not a JSON object", path);
    }
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(j, "_class_name"), *res = cJSON_GetObjectItemCaseSensitive(j, "is_residual");
    int rc = 0;
    if (cls && (!cJSON_IsString(cls) || strcmp(cls->valuestring, "AutoencoderKLWan")))
        rc = -1, pp_seterr("%s: _class_name '%s' is not AutoencoderKLWan", path, cJSON_IsString(cls) ? cls->valuestring : "?");
    else if (cJSON_IsTrue(res))
        rc = -1, pp_seterr("%s: is_residual is set: Wan2.2's VAE, not Wan2.1's", path);
    if (!rc) {
        cJSON *o = cJSON_CreateObject();
        static const char *const keep[] = {"z_dim", "num_res_blocks", "dim_mult", "temperal_downsample", "latents_mean",
                                           "latents_std"};
        const cJSON *bd = cJSON_GetObjectItemCaseSensitive(j, "base_dim");
        if (bd) cJSON_AddItemToObject(o, "dim", cJSON_Duplicate(bd, 1));
        for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keep[i]);
            if (v) cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, 1));
        }
        char *s = cJSON_PrintUnformatted(o);
        rc = pp_vae_config_read(c, s, path);
        free(s);
        cJSON_Delete(o);
    }
    cJSON_Delete(j);
    return rc;
}

int pp_t2v_vae_open(pp_vae_model *v, const char *path, const char *config_path) {
    memset(v, 0, sizeof *v);
    if (!config_path) return pp_vae_model_open(v, path);
    pp_vae_config c;
    if (vae_config_diffusers(&c, config_path) || pp_vae_model_create(v, &c)) return -1;
    return pp_vae_model_load_weights(v, path);
}

/* ------------------------------------------------------------------ sampling */

int pp_t2v_sample(const pp_wan_dit *dit, const float *ctx, const float *uctx, float *x, int t, int h, int w,
                  const pp_t2v_opts *o) {
    const pp_dit_config *c = &dit->dit.cfg;
    size_t n = (size_t)c->out_dim * t * h * w;
    if (c->in_dim != c->out_dim)
        PP_FAIL("the DiT takes %d channels and gives %d: not a text-to-video DiT", c->in_dim, c->out_dim);
    pp_sched_config sc = {.kind = o->sampler, .sigmas = o->sigmas, .steps = o->steps, .shift = o->shift,
                          .order = o->sampler == PP_SCHED_UNIPC ? o->order : 0, .bh = PP_UNIPC_BH2};
    pp_sched *s = pp_sched_new(&sc, n);
    if (!s) return -1;
    pp_dit_acts *a = pp_dit_acts_new(&dit->dit, 1, t, h, w, 0);
    if (!a) {
        pp_sched_free(s);
        return -1;
    }
    int guided = o->cfg > 1.0f;
    float *vc = pp_alloc_floats(n), *vu = guided ? pp_alloc_floats(n) : NULL;
    int rc = 0;
    for (int i = 0; i < pp_sched_steps(s) && !rc; i++) {
        float ts = pp_sched_t(s, i);
        pp_dit_forward(&dit->dit, dit->P, a, x, &ts, ctx, vc);
        if (guided) {
            pp_dit_forward(&dit->dit, dit->P, a, x, &ts, uctx, vu);
            for (size_t k = 0; k < n; k++) vc[k] = vu[k] + o->cfg * (vc[k] - vu[k]);
        }
        rc = pp_sched_step(s, i, vc, x);
        if (o->progress) o->progress(o->user, i + 1, pp_sched_steps(s));
    }
    for (size_t k = 0; !rc && k < n; k++)
        if (!isfinite(x[k])) rc = -1, pp_seterr("sampling produced a non-finite latent (at element %zu)", k);
    pp_free_aligned(vc), pp_free_aligned(vu);
    pp_dit_acts_free(a);
    pp_sched_free(s);
    return rc;
}

/* the noise from a file: its tensor "noise" (or "latent", "latents", or its one
 * float tensor), [z,t,h,w] or [1,z,t,h,w] */
static int read_noise(const char *path, float *x, int z, int t, int h, int w) {
    pp_st_file f;
    if (pp_st_open(&f, path)) return -1;
    int rc = 0;
    const pp_st_tensor *n = NULL;
    static const char *const names[] = {"noise", "latent", "latents"};
    for (int i = 0; i < 3 && !n; i++) n = pp_st_find(&f, names[i]);
    for (int i = 0; i < f.ntensors && !n; i++)
        if (pp_dtype_is_float(f.tensors[i].dtype)) {
            for (int k = i + 1; k < f.ntensors && !rc; k++)
                if (pp_dtype_is_float(f.tensors[k].dtype))
                    rc = -1, pp_seterr("%s: holds several float tensors ('%s', '%s') and none named 'noise'", path,
                                       f.tensors[i].name, f.tensors[k].name);
            n = &f.tensors[i];
        }
    if (!rc && !n) rc = -1, pp_seterr("%s: holds no float tensor (the noise [%d,%d,%d,%d])", path, z, t, h, w);
    if (!rc) {
        int64_t want[5] = {1, z, t, h, w};
        int off = n->ndim == 5 ? 0 : 1, same = n->ndim == 4 || n->ndim == 5;
        for (int d = 0; same && d < n->ndim; d++) same = n->shape[d] == want[off + d];
        char a[96];
        if (!same)
            rc = -1, pp_seterr("%s: tensor '%s' has shape %s; the latent of this video is [%d,%d,%d,%d]", path, n->name,
                               pp_shape_str(a, sizeof a, n->ndim, n->shape), z, t, h, w);
    }
    if (!rc) rc = pp_st_to_f32(&f, n, x);
    for (size_t k = 0; !rc && k < (size_t)z * t * h * w; k++)
        if (!isfinite(x[k])) rc = -1, pp_seterr("%s: tensor '%s' holds a non-finite value at index %zu", path, n->name, k);
    pp_st_close(&f);
    return rc;
}

/* ------------------------------------------------------------------ checks */

/* the VAE file's names and shapes against its config, reading no weight */
static int vae_check(const char *path, const char *config_path, pp_vae_config *c) {
    pp_st_file f;
    if (pp_st_open_sharded(&f, path)) return -1;
    int rc = config_path ? vae_config_diffusers(c, config_path) : pp_vae_config_read(c, pp_st_meta(&f, "vae_config"), path);
    pp_vae m;
    pp_params t;
    memset(&m, 0, sizeof m), memset(&t, 0, sizeof t);
    if (!rc) rc = pp_vae_init(&m, c, &t);
    for (int i = 0; !rc && i < t.n; i++) {
        const pp_param *q = &t.p[i];
        char alt[160];
        const char *name = q->name;
        if (!pp_st_find(&f, name) && pp_vae_diffusers_name(&m, q->name, alt, sizeof alt) == 0 && pp_st_find(&f, alt))
            name = alt;
        const pp_st_tensor *x;
        if (!pp_st_find(&f, name)) {
            rc = -1, pp_seterr("%s: missing tensor '%s': not a Wan2.1 VAE (or not this config's)", path, q->name);
        } else if (!(rc = pp_st_expect(&f, name, q->ndim, q->shape, &x)) && !pp_dtype_is_float(x->dtype)) {
            rc = -1, pp_seterr("%s: tensor '%s' has dtype %s, not a float type", path, name, pp_dtype_name(x->dtype));
        }
    }
    pp_vae_free(&m);
    pp_params_free(&t);
    pp_st_close(&f);
    return rc;
}

int pp_t2v_check(const pp_wan_paths *p, const pp_t2v_opts *o, pp_dit_config *dit) {
    if (pp_wan_paths_check(p)) return -1;
    if (!o->prompt || !o->prompt[0]) PP_FAIL("the prompt is empty");
    if (o->frames < 1 || (o->frames - 1) % 4 || o->width < 16 || o->height < 16 || o->width % 16 || o->height % 16 ||
        o->frames > 4097 || o->width > 8192 || o->height > 8192)
        PP_FAIL("video size %d frames of %dx%d: Wan2.1 makes 1+4k frames (1, 5, ..., 81) of a width and height that are "
                "multiples of 16", o->frames, o->width, o->height);
    if (o->steps < 1 || o->steps > 1000 || !(o->shift > 0) || !(o->cfg >= 0) || !isfinite(o->cfg))
        PP_FAIL("steps %d, shift %g, guidance %g: steps in [1, 1000], shift > 0, guidance >= 0", o->steps, o->shift, o->cfg);
    const char *dcfg = p->dit_config.path[0] ? p->dit_config.path : NULL;
    pp_dit_config c;
    if (pp_wan_dit_peek(p->dit.path, dcfg, &c, 1)) return -1;
    if (c.in_dim != c.out_dim)
        PP_FAIL("%s: the DiT takes %d channels and gives %d: not a text-to-video DiT", p->dit.path, c.in_dim, c.out_dim);
    pp_umt5_config tc;
    if (pp_umt5_config_from_file(p->t5.path, &tc)) return -1;
    if (tc.dim != c.text_dim)
        PP_FAIL("%s: the umT5 encoder's width is %d; the DiT (%s) reads text of width %d", p->t5.path, tc.dim, p->dit.path,
                c.text_dim);
    pp_spm *tok = NULL;
    if (pp_spm_load(&tok, p->tokenizer.path)) return -1;
    int nv = pp_spm_vocab_size(tok);
    pp_spm_free(tok);
    if (nv > tc.vocab)
        PP_FAIL("%s: the tokenizer has %d pieces, more than the %d rows of the encoder's embedding (%s)", p->tokenizer.path,
                nv, tc.vocab, p->t5.path);
    pp_vae_config vc;
    if (vae_check(p->vae.path, p->vae_config.path[0] ? p->vae_config.path : NULL, &vc)) return -1;
    if (vc.z_dim != c.in_dim)
        PP_FAIL("%s: the VAE's latent has %d channels; the DiT (%s) takes %d", p->vae.path, vc.z_dim, p->dit.path, c.in_dim);
    int nt = 0, sd = 1;
    for (int i = 0; i + 1 < vc.nlevels; i++) nt += vc.temporal_down[i] != 0, sd *= 2;
    if (nt != 2 || sd != 8) PP_FAIL("%s: this VAE does not compress 4x in time and 8x in space (Wan2.1's)", p->vae.path);
    if (o->noise_path) {
        size_t nz = (size_t)c.in_dim * ((o->frames - 1) / 4 + 1) * (o->height / 8) * (o->width / 8);
        float *x = pp_alloc_floats(nz);
        int rc = read_noise(o->noise_path, x, c.in_dim, (o->frames - 1) / 4 + 1, o->height / 8, o->width / 8);
        pp_free_aligned(x);
        if (rc) return -1;
    }
    if (dit) *dit = c;
    return 0;
}

/* ------------------------------------------------------------------ everything */

static int encode_both(const pp_wan_paths *p, const pp_t2v_opts *o, int text_len, int text_dim, float *ctx,
                       float *uctx, pp_t2v_report *r) {
    double t0 = pp_now();
    pp_spm *tok = NULL;
    if (pp_spm_load(&tok, p->tokenizer.path)) return -1;
    pp_umt5_config c;
    pp_umt5 t5;
    memset(&t5, 0, sizeof t5);
    int rc = pp_umt5_config_from_file(p->t5.path, &c);
    if (!rc && c.dim != text_dim)
        rc = -1, pp_seterr("%s: the umT5 encoder's width is %d; the DiT reads text of width %d", p->t5.path, c.dim, text_dim);
    if (!rc) rc = pp_umt5_init(&t5, &c);
    if (!rc) rc = pp_umt5_load(&t5, p->t5.path, o->keep_half);
    if (o->keep_resident) t5.lent = (pp_map_range){NULL, 0};
    r->t_text_load = pp_now() - t0;
    if (!rc) {
        note(o, "text encoder: %s (%d layers, dim %d), tokenizer %s: %.2f s", p->t5.path, c.layers, c.dim,
             p->tokenizer.path, r->t_text_load);
        double t1 = pp_now();
        int total = 0, ntot = 0;
        rc = pp_t2v_encode(tok, &t5, o->prompt, text_len, ctx, &r->len, &total);
        if (!rc && total > text_len)
            r->truncated = 1, note(o, "warning: the prompt has %s%d tokens; the encoder reads the first %d (EOS included), "
                                      "the rest is ignored", total >= PP_UMT5_MAX_LEN ? "over " : "", total, text_len);
        const char *neg = o->negative ? o->negative : pp_wan_default_negative;
        if (!rc && o->cfg > 1.0f) {
            rc = pp_t2v_encode(tok, &t5, neg, text_len, uctx, &r->neg_len, &ntot);
            if (!rc && ntot > text_len)
                r->neg_truncated = 1, note(o, "warning: the negative prompt has %d tokens; the encoder reads the first %d",
                                           ntot, text_len);
        }
        r->t_encode = pp_now() - t1;
        if (!rc) note(o, "encoded the prompt (%d tokens) and the negative prompt (%d tokens): %.2f s", r->len, r->neg_len,
                      r->t_encode);
    }
    pp_umt5_free(&t5);
    pp_spm_free(tok);
    return rc;
}

int pp_t2v_run(const pp_wan_paths *p, const pp_t2v_opts *o, float **video, float **latent, pp_t2v_report *r) {
    memset(r, 0, sizeof *r);
    *video = NULL;
    if (latent) *latent = NULL;
    /* every file's header checked first; then the text, then the DiT: the
     * encoder's mapped pages are released before the DiT's are read */
    const char *dcfg = p->dit_config.path[0] ? p->dit_config.path : NULL;
    pp_dit_config c;
    if (pp_t2v_check(p, o, &c)) return -1;
    r->z = c.in_dim, r->t = (o->frames - 1) / 4 + 1, r->h = o->height / 8, r->w = o->width / 8;
    size_t row = (size_t)c.text_len * c.text_dim, nz = (size_t)r->z * r->t * r->h * r->w;
    float *ctx = pp_zalloc_floats(row), *uctx = pp_zalloc_floats(row), *x = pp_alloc_floats(nz);
    int rc = 0;
    if (o->noise_path) {
        rc = read_noise(o->noise_path, x, r->z, r->t, r->h, r->w);
    } else {
        pp_rng g;
        pp_rng_seed(&g, o->seed);
        pp_rng_fill_normal(&g, x, nz, 1.0f);
    }
    int arith = pp_compute_bf16;
    pp_compute_bf16 = o->compute_bf16;
    if (!rc) rc = encode_both(p, o, c.text_len, c.text_dim, ctx, uctx, r);
    double t0 = pp_now();
    pp_wan_dit dit;
    memset(&dit, 0, sizeof dit);
    if (!rc) rc = pp_wan_dit_open(&dit, p->dit.path, dcfg, o->keep_half ? PP_WAN_INFER : PP_WAN_F32);
    if (o->keep_resident) dit.dit.lent = (pp_map_range){NULL, 0};
    r->t_dit_load = pp_now() - t0;
    if (!rc) {
        char cs[256];
        pp_wan_dit_config_str(&c, cs, sizeof cs);
        note(o, "DiT: %s (%s names, %s weights%s, config from %s): %s; %.2f s", p->dit.path,
             dit.names == PP_WAN_NAMES_DIFFUSERS ? "diffusers'" : "Wan's", pp_dtype_name(dit.wdtype),
             dit.lent_bytes ? " read in place" : "", dit.config_from, cs, r->t_dit_load);
        note(o, "sampling %d steps (%s, shift %.2f, guidance %.2f) on a latent [%d,%d,%d,%d]; %s arithmetic", o->steps,
             o->sampler == PP_SCHED_UNIPC ? "UniPC" : "Euler", o->shift, o->cfg, r->z, r->t, r->h, r->w,
             pp_compute_name());
        double t1 = pp_now();
        rc = pp_t2v_sample(&dit, ctx, uctx, x, r->t, r->h, r->w, o);
        r->t_sample = pp_now() - t1;
    }
    pp_compute_bf16 = arith;
    pp_wan_dit_close(&dit);
    pp_free_aligned(ctx), pp_free_aligned(uctx);
    pp_vae_model v;
    memset(&v, 0, sizeof v);
    if (!rc) {
        double t2 = pp_now();
        rc = pp_t2v_vae_open(&v, p->vae.path, p->vae_config.path[0] ? p->vae_config.path : NULL);
        r->t_vae_load = pp_now() - t2;
        if (!rc && v.m.cfg.z_dim != r->z)
            rc = -1, pp_seterr("%s: the VAE's latent has %d channels; the DiT's has %d", p->vae.path, v.m.cfg.z_dim, r->z);
        if (!rc && (pp_vae_latent_frames(&v.m, o->frames) != r->t || v.m.sdown != 8))
            rc = -1, pp_seterr("%s: this VAE does not compress 4x in time and 8x in space (Wan2.1's)", p->vae.path);
    }
    if (!rc) {
        note(o, "VAE: %s: %.2f s", p->vae.path, r->t_vae_load);
        double t3 = pp_now();
        size_t nv = pp_mul_size(pp_mul3_size(3, (size_t)o->frames, (size_t)o->height), (size_t)o->width);
        rc = pp_mem_check(pp_mul_size(nv, sizeof(float)), "the decoded video");
        if (!rc) {
            *video = pp_alloc_floats(nv);
            rc = pp_vae_decode(&v.m, v.params, x, r->z, r->t, r->h, r->w, *video);
        }
        r->t_decode = pp_now() - t3;
    }
    pp_vae_model_free(&v);
    pp_vae_release_buffers();
    r->peak_rss_mb = pp_peak_rss_mb();
    if (!rc && latent) *latent = x;
    else pp_free_aligned(x);
    if (rc) {
        pp_free_aligned(*video);
        *video = NULL;
    }
    return rc;
}
