/* latents.c - see latents.h */
#include <cjson/cJSON.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "prophy/latents.h"
#include "io/json.h"

#define CHUNK 16 /* samples simulated in parallel before they are encoded one by one */

/* ------------------------------------------------------------------ conditioning */

void pp_latent_make_cond(float *cond, const float *zk, int tk, int K, int C, int t, int h, int w) {
    size_t hw = (size_t)h * w, plane = (size_t)t * hw;
    memset(cond, 0, (size_t)(C + PP_LATENT_MASK) * plane * sizeof(float));
    int given = pp_latent_given_frames(K);
    if (given > tk) given = tk;
    if (given > t) given = t;
    for (int c = 0; c < C && zk; c++)
        memcpy(cond + (size_t)c * plane, zk + (size_t)c * tk * hw, (size_t)given * hw * sizeof(float));
    for (int i = 0; i < PP_LATENT_MASK; i++)
        for (int j = 0; j < t; j++) {
            if (pp_latent_pixel_frame(j, i) >= K) continue;
            float *m = cond + ((size_t)(C + i) * t + j) * hw;
            for (size_t q = 0; q < hw; q++) m[q] = 1.0f;
        }
}

int pp_latent_encode_given(const pp_vae_model *v, const float *video, int F, int H, int W, int K, float *zk) {
    const pp_vae *m = &v->m;
    int given = pp_latent_given_frames(K), T = pp_vae_video_frames(m, given);
    if (K < 1 || K > F) PP_FAIL("%d given frames of a %d-frame video", K, F);
    size_t hw = (size_t)H * W;
    float *part = pp_zalloc_floats((size_t)3 * T * hw);
    for (int c = 0; c < 3; c++)
        memcpy(part + (size_t)c * T * hw, video + (size_t)c * F * hw, (size_t)(K < T ? K : T) * hw * sizeof(float));
    int rc = pp_vae_encode(m, v->params, part, T, H, W, zk, NULL);
    pp_free_aligned(part);
    return rc;
}

void pp_latent_token_targets(float *Q, const float *ql, int t, int h, int w, int pt, int ph, int pw) {
    int gf = t / pt, gh = h / ph, gw = w / pw;
    float inv = 1.0f / (float)(pt * ph * pw);
    for (int f = 0; f < gf; f++)
        for (int y = 0; y < gh; y++)
            for (int x = 0; x < gw; x++) {
                float *q = Q + (((size_t)f * gh + y) * gw + x) * PP_NCAT;
                double acc[PP_NCAT] = {0};
                for (int a = 0; a < pt; a++)
                    for (int b = 0; b < ph; b++)
                        for (int d = 0; d < pw; d++) {
                            const float *s = ql + ((((size_t)f * pt + a) * h + y * ph + b) * w + x * pw + d) * PP_NCAT;
                            for (int c = 0; c < PP_NCAT; c++) acc[c] += s[c];
                        }
                for (int c = 0; c < PP_NCAT; c++) q[c] = (float)acc[c] * inv;
            }
}

/* ql [t,h,w,17] from a simulation's maps [17,F,H,W] and bg [F,H,W] */
static void latent_targets(float *ql, const pp_sim_out *o, int t, int h, int w, int s) {
    size_t HW = (size_t)o->height * o->width, plane = (size_t)o->frames * HW;
    for (int j = 0; j < t; j++) {
        int f0 = j == 0 ? 0 : 4 * j - 3, nf = j == 0 ? 1 : 4;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < PP_NCAT; c++) {
                    double acc = 0;
                    for (int f = f0; f < f0 + nf && f < o->frames; f++)
                        for (int yy = y * s; yy < (y + 1) * s; yy++)
                            for (int xx = x * s; xx < (x + 1) * s; xx++) {
                                size_t p = (size_t)f * HW + (size_t)yy * o->width + xx;
                                acc += (double)o->maps[(size_t)c * plane + p] - o->bg[p];
                            }
                    ql[(((size_t)j * h + y) * w + x) * PP_NCAT + c] = (float)(acc / (nf * s * s));
                }
    }
}

/* ------------------------------------------------------------------ writing */

typedef struct {
    int C, t, h, w, F, H, W;
    size_t nz, nzc, nql; /* floats per sample */
} lat_dims;

typedef struct {
    int n;
    uint16_t *z, *zc, *ql;
    float *cats;
    cJSON *samples;
} shard_buf;

static void put_f16(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = pp_f32_to_f16(src[i]);
}

/* one simulated sample, encoded into slot k of the shard */
static int encode_sample(const pp_vae_model *v, const lat_dims *d, const pp_sim_out *o, const float *ql, int scene,
                         shard_buf *b, int k, float *video, float *z, float *zc) {
    pp_video_to_float(&o->video, video);
    if (pp_vae_encode(&v->m, v->params, video, d->F, d->H, d->W, z, NULL) ||
        pp_latent_encode_given(v, video, d->F, d->H, d->W, 3, zc))
        return -1;
    put_f16(b->z + (size_t)k * d->nz, z, d->nz);
    put_f16(b->zc + (size_t)k * d->nzc, zc, d->nzc);
    put_f16(b->ql + (size_t)k * d->nql, ql, d->nql);
    memcpy(b->cats + (size_t)k * PP_NCAT, o->cats, PP_NCAT * sizeof(float));
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "scene", scene);
    cJSON_AddNumberToObject(s, "seed", (double)o->seed);
    cJSON_AddStringToObject(s, "prompt", o->prompt);
    cJSON_AddItemToArray(b->samples, s);
    return 0;
}

static int save_shard(const char *path, const lat_dims *d, const shard_buf *b) {
    pp_st_writer *w = pp_st_writer_new();
    int64_t sz[5] = {b->n, d->C, d->t, d->h, d->w}, sc[5] = {b->n, d->C, 2, d->h, d->w};
    int64_t sq[5] = {b->n, d->t, d->h, d->w, PP_NCAT}, sl[2] = {b->n, PP_NCAT};
    int rc = pp_st_add(w, "z", PP_F16, 5, sz, b->z) || pp_st_add(w, "zc3", PP_F16, 5, sc, b->zc) ||
             pp_st_add(w, "ql", PP_F16, 5, sq, b->ql) || pp_st_add(w, "cats", PP_F32, 2, sl, b->cats) ||
             pp_st_set_meta_json(w, "samples", b->samples);
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}

static int write_manifest(const char *dir, const pp_dataset_cfg *cfg, const lat_dims *d, int nshards, int shard,
                          const pp_vae_model *v) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "prophy-latents-1");
    cJSON_AddNumberToObject(j, "count", (double)cfg->count);
    cJSON_AddStringToObject(j, "split", cfg->split == PP_SPLIT_OOD ? "ood" : "id");
    cJSON_AddNumberToObject(j, "seed", (double)cfg->seed);
    int vid[3] = {d->F, d->H, d->W}, lat[4] = {d->C, d->t, d->h, d->w};
    cJSON_AddItemToObject(j, "video", cJSON_CreateIntArray(vid, 3));
    cJSON_AddItemToObject(j, "latent", cJSON_CreateIntArray(lat, 4));
    cJSON_AddNumberToObject(j, "shard_size", shard);
    cJSON *sc = cJSON_AddArrayToObject(j, "scenes");
    for (int i = 0; i < cfg->nscenes; i++) cJSON_AddItemToArray(sc, cJSON_CreateString(pp_sim_scene_at(cfg->scenes[i])->name));
    char buf[64];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)pp_vae_checksum(v));
    cJSON_AddStringToObject(j, "vae_checksum", buf);
    cJSON *sh = cJSON_AddArrayToObject(j, "shards");
    for (int s = 0; s < nshards; s++) {
        snprintf(buf, sizeof buf, "latents-%05d.safetensors", s);
        cJSON_AddItemToArray(sh, cJSON_CreateString(buf));
    }
    char *txt = pp_json_print(j, 1), path[4096];
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/latents.json", dir);
    int rc = pp_write_file_atomic(path, txt, strlen(txt));
    free(txt);
    return rc;
}

/* Simulates samples [first, first+n) in parallel into o[] and ql[] */
static int simulate_chunk(const pp_dataset_cfg *cfg, const lat_dims *d, int64_t first, int n, pp_sim_out *o,
                          float *ql, int sdown) {
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : failed)
    for (int i = 0; i < n; i++) {
        int64_t k = first + i;
        int scene = cfg->scenes[k % cfg->nscenes];
        if (pp_sim_run(pp_sim_scene_at(scene), pp_dataset_sample_seed(cfg->seed, k), cfg->split, cfg->frames,
                       cfg->height, cfg->width, &o[i])) {
            failed = 1;
            continue;
        }
        latent_targets(ql + (size_t)i * d->nql, &o[i], d->t, d->h, d->w, sdown);
    }
    if (failed) PP_FAIL("latents: a simulation failed");
    return 0;
}

int pp_latents_write(const char *dir, const pp_dataset_cfg *cfg, const pp_vae_model *v, double *seconds) {
    double t0 = pp_now();
    const pp_vae *m = &v->m;
    if (cfg->count < 1 || cfg->nscenes < 1) PP_FAIL("latents: count and scenes must be at least 1");
    if (pp_sim_check_size(cfg->frames, cfg->height, cfg->width) ||
        pp_vae_check_video(m, cfg->frames, cfg->height, cfg->width))
        return -1;
    if (cfg->frames < 5) PP_FAIL("latents: videos need at least 5 frames (3 given frames are encoded as 5)");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) PP_FAIL("%s: cannot create: %s", dir, strerror(errno));
    lat_dims d = {.C = m->cfg.z_dim, .t = pp_vae_latent_frames(m, cfg->frames), .h = cfg->height / m->sdown,
                  .w = cfg->width / m->sdown, .F = cfg->frames, .H = cfg->height, .W = cfg->width};
    d.nz = (size_t)d.C * d.t * d.h * d.w, d.nzc = (size_t)d.C * 2 * d.h * d.w, d.nql = (size_t)d.t * d.h * d.w * PP_NCAT;
    int shard = cfg->shard_size > 0 ? cfg->shard_size : PP_DATASET_SHARD, nshards = (int)((cfg->count + shard - 1) / shard);
    size_t vox = (size_t)d.F * d.H * d.W;
    if (pp_mem_check(CHUNK * vox * (3 + 18 * sizeof(float)) + (size_t)shard * (d.nz + d.nzc + d.nql) * 2,
                     "writing latents"))
        return -1;
    shard_buf b = {.z = pp_malloc((size_t)shard * d.nz * 2), .zc = pp_malloc((size_t)shard * d.nzc * 2),
                   .ql = pp_malloc((size_t)shard * d.nql * 2), .cats = pp_malloc((size_t)shard * PP_NCAT * 4)};
    pp_sim_out *o = pp_calloc(CHUNK, sizeof *o);
    float *ql = pp_alloc_floats(CHUNK * d.nql), *video = pp_alloc_floats(3 * vox);
    float *z = pp_alloc_floats(d.nz), *zc = pp_alloc_floats(d.nzc);
    int rc = 0;
    for (int s = 0; s < nshards && !rc; s++) {
        int64_t first = (int64_t)s * shard;
        b.n = (int)(cfg->count - first < shard ? cfg->count - first : shard);
        b.samples = cJSON_CreateArray();
        for (int c0 = 0; c0 < b.n && !rc; c0 += CHUNK) {
            int n = b.n - c0 < CHUNK ? b.n - c0 : CHUNK;
            rc = simulate_chunk(cfg, &d, first + c0, n, o, ql, m->sdown);
            for (int i = 0; i < n && !rc; i++)
                rc = encode_sample(v, &d, &o[i], ql + (size_t)i * d.nql, cfg->scenes[(first + c0 + i) % cfg->nscenes],
                                   &b, c0 + i, video, z, zc);
            for (int i = 0; i < n; i++) pp_sim_free(&o[i]);
            if (cfg->verbose)
                fprintf(stderr, "\rlatents: %lld / %lld samples, %.0f s", (long long)(first + c0 + n),
                        (long long)cfg->count, pp_now() - t0);
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/latents-%05d.safetensors", dir, s);
        if (!rc) rc = save_shard(path, &d, &b);
        cJSON_Delete(b.samples);
    }
    if (cfg->verbose) fputc('\n', stderr);
    if (!rc) rc = write_manifest(dir, cfg, &d, nshards, shard, v);
    free(b.z), free(b.zc), free(b.ql), free(b.cats), free(o);
    pp_free_aligned(ql), pp_free_aligned(video), pp_free_aligned(z), pp_free_aligned(zc);
    if (seconds) *seconds = pp_now() - t0;
    return rc;
}

/* ------------------------------------------------------------------ reading */

typedef struct {
    pp_st_file f;
    const pp_st_tensor *z, *zc, *ql, *cats;
    int n;
    char **prompts;
    int *scenes;
    uint64_t *seeds;
} shard_in;

struct pp_latents {
    char *dir;
    lat_dims d;
    int64_t count;
    int shard, nshards;
    uint64_t checksum;
    shard_in *sh;
};

void pp_latents_close(pp_latents *L) {
    if (!L) return;
    for (int s = 0; s < L->nshards; s++) {
        shard_in *h = &L->sh[s];
        for (int i = 0; h->prompts && i < h->n; i++) free(h->prompts[i]);
        free(h->prompts), free(h->scenes), free(h->seeds);
        pp_st_close(&h->f);
    }
    free(L->sh), free(L->dir);
    free(L);
}

static int json_int(const cJSON *a, int i, int lo, int hi, int *out) {
    const cJSON *x = cJSON_GetArrayItem(a, i);
    if (!cJSON_IsNumber(x) || x->valuedouble < lo || x->valuedouble > hi || x->valuedouble != (int)x->valuedouble)
        return -1;
    *out = (int)x->valuedouble;
    return 0;
}

static int read_manifest(pp_latents *L, const char *path) {
    char *txt;
    if (pp_read_file(path, &txt, NULL)) return -1;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format"), *vid = cJSON_GetObjectItemCaseSensitive(j, "video");
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(j, "latent"), *cnt = cJSON_GetObjectItemCaseSensitive(j, "count");
    const cJSON *ssz = cJSON_GetObjectItemCaseSensitive(j, "shard_size"), *sh = cJSON_GetObjectItemCaseSensitive(j, "shards");
    const cJSON *ck = cJSON_GetObjectItemCaseSensitive(j, "vae_checksum");
    lat_dims *d = &L->d;
    int bad = !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "prophy-latents-1") || !cJSON_IsArray(vid) ||
              cJSON_GetArraySize(vid) != 3 || !cJSON_IsArray(lat) || cJSON_GetArraySize(lat) != 4 ||
              !cJSON_IsNumber(cnt) || cnt->valuedouble < 1 || cnt->valuedouble > 1e9 || !cJSON_IsNumber(ssz) ||
              ssz->valuedouble < 1 || ssz->valuedouble > 1e6 || !cJSON_IsArray(sh) || !cJSON_IsString(ck) ||
              sscanf(ck->valuestring, "%llx", (unsigned long long *)&L->checksum) != 1;
    bad = bad || json_int(vid, 0, 1, 4096, &d->F) || json_int(vid, 1, 1, 4096, &d->H) || json_int(vid, 2, 1, 4096, &d->W) ||
          json_int(lat, 0, 1, PP_VAE_MAX_Z, &d->C) || json_int(lat, 1, 1, 4096, &d->t) ||
          json_int(lat, 2, 1, 4096, &d->h) || json_int(lat, 3, 1, 4096, &d->w);
    if (!bad) {
        L->count = (int64_t)cnt->valuedouble, L->shard = (int)ssz->valuedouble;
        L->nshards = cJSON_GetArraySize(sh);
        bad = L->nshards != (int)((L->count + L->shard - 1) / L->shard) || d->t < 2;
    }
    if (!bad) {
        L->sh = pp_calloc((size_t)L->nshards, sizeof *L->sh);
        for (int s = 0; s < L->nshards && !bad; s++) {
            const cJSON *name = cJSON_GetArrayItem(sh, s);
            char p[4096];
            bad = !cJSON_IsString(name) || strchr(name->valuestring, '/') ||
                  snprintf(p, sizeof p, "%s/%s", L->dir, name->valuestring) >= (int)sizeof p;
            if (!bad && pp_st_open(&L->sh[s].f, p)) {
                cJSON_Delete(j);
                return -1;
            }
        }
    }
    cJSON_Delete(j);
    if (bad) PP_FAIL("%s: not a latent dataset manifest (format, video, latent, count, shards, vae_checksum)", path);
    d->nz = (size_t)d->C * d->t * d->h * d->w, d->nzc = (size_t)d->C * 2 * d->h * d->w;
    d->nql = (size_t)d->t * d->h * d->w * PP_NCAT;
    return 0;
}

/* a shard's tensors agree with the manifest and with each other */
static int check_shard(const pp_latents *L, shard_in *h, int s) {
    const lat_dims *d = &L->d;
    h->n = (int)(L->count - (int64_t)s * L->shard < L->shard ? L->count - (int64_t)s * L->shard : L->shard);
    int64_t sz[5] = {h->n, d->C, d->t, d->h, d->w}, sc[5] = {h->n, d->C, 2, d->h, d->w};
    int64_t sq[5] = {h->n, d->t, d->h, d->w, PP_NCAT}, sl[2] = {h->n, PP_NCAT};
    if (pp_st_expect(&h->f, "z", 5, sz, &h->z) || pp_st_expect(&h->f, "zc3", 5, sc, &h->zc) ||
        pp_st_expect(&h->f, "ql", 5, sq, &h->ql) || pp_st_expect(&h->f, "cats", 2, sl, &h->cats))
        return -1;
    if (h->z->dtype != PP_F16 || h->zc->dtype != PP_F16 || h->ql->dtype != PP_F16 || h->cats->dtype != PP_F32)
        PP_FAIL("%s: z, zc3 and ql must be F16 and cats F32", h->f.path);
    const char *meta = pp_st_meta(&h->f, "samples");
    cJSON *a = meta ? cJSON_Parse(meta) : NULL;
    int bad = !cJSON_IsArray(a) || cJSON_GetArraySize(a) != h->n;
    h->prompts = pp_calloc((size_t)h->n, sizeof *h->prompts);
    h->scenes = pp_calloc((size_t)h->n, sizeof *h->scenes);
    h->seeds = pp_calloc((size_t)h->n, sizeof *h->seeds);
    for (int i = 0; i < h->n && !bad; i++) {
        const cJSON *e = cJSON_GetArrayItem(a, i), *p = cJSON_GetObjectItemCaseSensitive(e, "prompt");
        const cJSON *sc_ = cJSON_GetObjectItemCaseSensitive(e, "scene"), *sd = cJSON_GetObjectItemCaseSensitive(e, "seed");
        bad = !cJSON_IsString(p) || !cJSON_IsNumber(sc_) || sc_->valuedouble < 0 || sc_->valuedouble >= pp_sim_nscenes() ||
              !cJSON_IsNumber(sd) || sd->valuedouble < 0 || sd->valuedouble > 9007199254740992.0;
        if (!bad) {
            h->prompts[i] = pp_strdup(p->valuestring);
            h->scenes[i] = (int)sc_->valuedouble, h->seeds[i] = (uint64_t)sd->valuedouble;
        }
    }
    cJSON_Delete(a);
    if (bad) PP_FAIL("%s: metadata 'samples' must list the scene, seed and prompt of its %d samples", h->f.path, h->n);
    return 0;
}

pp_latents *pp_latents_open(const char *dir) {
    pp_latents *L = pp_calloc(1, sizeof *L);
    L->dir = pp_strdup(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/latents.json", dir);
    int rc = read_manifest(L, path);
    for (int s = 0; s < L->nshards && !rc; s++) rc = check_shard(L, &L->sh[s], s);
    if (rc) {
        pp_latents_close(L);
        return NULL;
    }
    return L;
}

int64_t pp_latents_count(const pp_latents *L) { return L->count; }

void pp_latents_size(const pp_latents *L, int *C, int *t, int *h, int *w, int *F, int *H, int *W) {
    *C = L->d.C, *t = L->d.t, *h = L->d.h, *w = L->d.w, *F = L->d.F, *H = L->d.H, *W = L->d.W;
}

uint64_t pp_latents_vae_checksum(const pp_latents *L) { return L->checksum; }

const char *pp_latents_prompt(const pp_latents *L, int64_t i) {
    if (i < 0 || i >= L->count) return NULL;
    return L->sh[i / L->shard].prompts[i % L->shard];
}

static void get_f16(float *dst, const pp_st_tensor *t, size_t first, size_t n) {
    const uint8_t *p = (const uint8_t *)t->data + first * 2;
    for (size_t i = 0; i < n; i++) {
        uint16_t x;
        memcpy(&x, p + 2 * i, 2);
        dst[i] = pp_f16_to_f32(x);
    }
}

int pp_latents_get(const pp_latents *L, int64_t idx, pp_latent_sample *s) {
    if (idx < 0 || idx >= L->count) PP_FAIL("latent sample %lld out of range [0, %lld)", (long long)idx, (long long)L->count);
    const lat_dims *d = &L->d;
    const shard_in *h = &L->sh[idx / L->shard];
    int i = (int)(idx % L->shard);
    if (!s->z) s->z = pp_alloc_floats(d->nz), s->zc3 = pp_alloc_floats(d->nzc), s->ql = pp_alloc_floats(d->nql);
    get_f16(s->z, h->z, (size_t)i * d->nz, d->nz);
    get_f16(s->zc3, h->zc, (size_t)i * d->nzc, d->nzc);
    get_f16(s->ql, h->ql, (size_t)i * d->nql, d->nql);
    memcpy(s->cats, (const uint8_t *)h->cats->data + (size_t)i * PP_NCAT * 4, PP_NCAT * 4);
    s->scene = h->scenes[i], s->seed = h->seeds[i], s->prompt = h->prompts[i];
    return 0;
}

void pp_latent_sample_free(pp_latent_sample *s) {
    pp_free_aligned(s->z), pp_free_aligned(s->zc3), pp_free_aligned(s->ql);
    memset(s, 0, sizeof *s);
}
