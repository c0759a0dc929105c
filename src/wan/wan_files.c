/* wan_files.c - Wan2.1 DiT files: key names, config, loading (see wan_files.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "wan/wan_files.h"

/* ------------------------------------------------------------------ names */

/* Wan key -> diffusers key, for the parts before and after "blocks.N." */
static const char *const GLOBAL_MAP[][2] = {
    {"patch_embedding.", "patch_embedding."},
    {"text_embedding.0.", "condition_embedder.text_embedder.linear_1."},
    {"text_embedding.2.", "condition_embedder.text_embedder.linear_2."},
    {"time_embedding.0.", "condition_embedder.time_embedder.linear_1."},
    {"time_embedding.2.", "condition_embedder.time_embedder.linear_2."},
    {"time_projection.1.", "condition_embedder.time_proj."},
    {"head.modulation", "scale_shift_table"},
    {"head.head.", "proj_out."},
};
static const char *const BLOCK_MAP[][2] = {
    {"modulation", "scale_shift_table"},
    {"self_attn.q.", "attn1.to_q."},
    {"self_attn.k.", "attn1.to_k."},
    {"self_attn.v.", "attn1.to_v."},
    {"self_attn.o.", "attn1.to_out.0."},
    {"self_attn.norm_q.", "attn1.norm_q."},
    {"self_attn.norm_k.", "attn1.norm_k."},
    {"cross_attn.q.", "attn2.to_q."},
    {"cross_attn.k.", "attn2.to_k."},
    {"cross_attn.v.", "attn2.to_v."},
    {"cross_attn.o.", "attn2.to_out.0."},
    {"cross_attn.norm_q.", "attn2.norm_q."},
    {"cross_attn.norm_k.", "attn2.norm_k."},
    {"norm3.", "norm2."}, /* the cross-attention's affine LayerNorm: Wan's norm3 is diffusers' norm2 */
    {"ffn.0.", "ffn.net.0.proj."},
    {"ffn.2.", "ffn.net.2."},
};

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static int map_by(const char *const (*map)[2], size_t n, const char *head, const char *rest, char *out,
                  size_t size) {
    for (size_t i = 0; i < n; i++)
        if (starts(rest, map[i][0])) {
            int k = snprintf(out, size, "%s%s%s", head, map[i][1], rest + strlen(map[i][0]));
            return k < 0 || (size_t)k >= size ? -1 : 0;
        }
    return -1;
}

int pp_wan_diffusers_name(const char *wan, char *out, size_t size) {
    if (starts(wan, "blocks.")) {
        const char *p = wan + 7;
        while (*p >= '0' && *p <= '9') p++;
        if (p == wan + 7 || *p != '.' || (size_t)(p + 1 - wan) >= 32) return -1;
        char head[32];
        memcpy(head, wan, (size_t)(p + 1 - wan));
        head[p + 1 - wan] = 0;
        return map_by(BLOCK_MAP, sizeof BLOCK_MAP / sizeof *BLOCK_MAP, head, p + 1, out, size);
    }
    return map_by(GLOBAL_MAP, sizeof GLOBAL_MAP / sizeof *GLOBAL_MAP, "", wan, out, size);
}

/* the file's key of Wan key `wan` */
static int file_name(const pp_wan_dit *w, const char *wan, char *out, size_t size) {
    char d[PP_NAME_MAX + 64];
    const char *n = wan;
    if (w->names == PP_WAN_NAMES_DIFFUSERS) {
        if (pp_wan_diffusers_name(wan, d, sizeof d)) PP_FAIL("internal error: no diffusers name for '%s'", wan);
        n = d;
    }
    int k = snprintf(out, size, "%s%s", w->prefix, n);
    if (k < 0 || (size_t)k >= size) PP_FAIL("tensor name '%s%s' is too long", w->prefix, n);
    return 0;
}

/* ------------------------------------------------------------------ config */

void pp_wan_dit_config_str(const pp_dit_config *c, char *buf, size_t size) {
    snprintf(buf, size, "dim %d, %d heads, %d layers, ffn %d, in %d, out %d, text %d x %d, freq %d, patch %d,%d,%d",
             c->dim, c->heads, c->layers, c->ffn_dim, c->in_dim, c->out_dim, c->text_dim, c->text_len, c->freq_dim,
             c->patch[0], c->patch[1], c->patch[2]);
}

/* Wan2.1-T2V's values for what a file does not say */
static void config_defaults(pp_dit_config *c) {
    memset(c, 0, sizeof *c);
    *c = (pp_dit_config){.patch = {1, 2, 2}, .in_dim = 16, .out_dim = 16, .text_dim = 4096, .text_len = 512,
                         .freq_dim = 256, .eps = 1e-6f, .rope_theta = 10000.0f};
}

/* an integer field in [lo, hi]; absent: *out unchanged unless required */
static int json_int(const cJSON *j, const char *k, int lo, int hi, int required, const char *where, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!v || cJSON_IsNull(v)) {
        if (required) PP_FAIL("%s: no '%s'", where, k);
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        PP_FAIL("%s: '%s' must be an integer in [%d, %d]", where, k, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

static int json_eps(const cJSON *j, const char *where, float *eps) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "eps");
    if (!v) return 0;
    /* the range of the float the model uses: 0.1 is stored as 0.100000001, which
     * written back as "0.100000001" must read again; 1e-50 is stored as 0 */
    float e = cJSON_IsNumber(v) && fabs(v->valuedouble) <= 1 ? (float)v->valuedouble : 0;
    if (!(e > 0) || e > 0.1f) PP_FAIL("%s: 'eps' must be a number in (0, 0.1]", where);
    *eps = e;
    return 0;
}

static int json_patch(const cJSON *j, const char *where, int *patch) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "patch_size");
    if (!a) return 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) PP_FAIL("%s: 'patch_size' must be an array of 3 integers", where);
    for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 1 || x->valuedouble > 64)
            PP_FAIL("%s: 'patch_size'[%d] must be an integer in [1, 64]", where, i);
        patch[i] = (int)x->valuedouble;
    }
    return 0;
}

/* a field that must be absent or null (image conditioning), or equal a string */
static int json_null(const cJSON *j, const char *k, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (v && !cJSON_IsNull(v))
        PP_FAIL("%s: '%s' is set: an image-to-video DiT (prophy runs Wan2.1 text-to-video)", where, k);
    return 0;
}

static int parse_wan(pp_dit_config *c, const cJSON *j, const char *where) {
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "t2v")))
        PP_FAIL("%s: model_type '%s' is not Wan2.1 text-to-video ('t2v')", where,
                cJSON_IsString(mt) ? mt->valuestring : "?");
    return json_int(j, "dim", 1, PP_DIT_MAX_DIM, 1, where, &c->dim) ||
           json_int(j, "num_heads", 1, PP_DIT_MAX_HEADS, 1, where, &c->heads) ||
           json_int(j, "num_layers", 1, PP_DIT_MAX_LAYERS, 1, where, &c->layers) ||
           json_int(j, "ffn_dim", 1, PP_DIT_MAX_FFN, 1, where, &c->ffn_dim) ||
           json_int(j, "in_dim", 1, PP_DIT_MAX_CHANNELS, 0, where, &c->in_dim) ||
           json_int(j, "out_dim", 1, PP_DIT_MAX_CHANNELS, 0, where, &c->out_dim) ||
           json_int(j, "text_dim", 1, PP_DIT_MAX_TEXT_DIM, 0, where, &c->text_dim) ||
           json_int(j, "text_len", 1, PP_DIT_MAX_TEXT_LEN, 0, where, &c->text_len) ||
           json_int(j, "freq_dim", 2, PP_DIT_MAX_FREQ_DIM, 0, where, &c->freq_dim) || json_eps(j, where, &c->eps) ||
           json_patch(j, where, c->patch);
}

static int parse_diffusers(pp_dit_config *c, const cJSON *j, const char *where) {
    int hd = 0;
    if (json_int(j, "num_attention_heads", 1, PP_DIT_MAX_HEADS, 1, where, &c->heads) ||
        json_int(j, "attention_head_dim", 1, PP_DIT_MAX_DIM, 1, where, &hd) ||
        json_int(j, "num_layers", 1, PP_DIT_MAX_LAYERS, 1, where, &c->layers) ||
        json_int(j, "ffn_dim", 1, PP_DIT_MAX_FFN, 1, where, &c->ffn_dim) ||
        json_int(j, "in_channels", 1, PP_DIT_MAX_CHANNELS, 0, where, &c->in_dim) ||
        json_int(j, "out_channels", 1, PP_DIT_MAX_CHANNELS, 0, where, &c->out_dim) ||
        json_int(j, "text_dim", 1, PP_DIT_MAX_TEXT_DIM, 0, where, &c->text_dim) ||
        json_int(j, "freq_dim", 2, PP_DIT_MAX_FREQ_DIM, 0, where, &c->freq_dim) || json_eps(j, where, &c->eps) ||
        json_patch(j, where, c->patch) || json_null(j, "image_dim", where) || json_null(j, "added_kv_proj_dim", where))
        return -1;
    if ((long)c->heads * hd > PP_DIT_MAX_DIM) PP_FAIL("%s: num_attention_heads x attention_head_dim is too large", where);
    c->dim = c->heads * hd;
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(j, "cross_attn_norm");
    if (cn && !cJSON_IsTrue(cn)) PP_FAIL("%s: cross_attn_norm must be true (Wan2.1's norm3 has weights)", where);
    const cJSON *qk = cJSON_GetObjectItemCaseSensitive(j, "qk_norm");
    if (qk && (!cJSON_IsString(qk) || strcmp(qk->valuestring, "rms_norm_across_heads")))
        PP_FAIL("%s: qk_norm must be 'rms_norm_across_heads' (Wan2.1's)", where);
    return 0;
}

int pp_wan_dit_config_parse(pp_dit_config *c, const char *json, const char *where) {
    config_defaults(c);
    cJSON *j = cJSON_Parse(json);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        PP_FAIL("%s: not a JSON object", where);
    }
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(j, "_class_name");
    int rc;
    if (cls && (!cJSON_IsString(cls) || (strcmp(cls->valuestring, "WanModel") &&
                                         strcmp(cls->valuestring, "WanTransformer3DModel")))) {
        pp_seterr("%s: _class_name '%s' is not a Wan2.1 DiT (WanModel or WanTransformer3DModel)", where,
                  cJSON_IsString(cls) ? cls->valuestring : "?");
        rc = -1;
    } else if (cJSON_GetObjectItemCaseSensitive(j, "num_attention_heads")) {
        rc = parse_diffusers(c, j, where);
    } else if (cJSON_GetObjectItemCaseSensitive(j, "dim")) {
        rc = parse_wan(c, j, where);
    } else {
        pp_seterr("%s: neither Wan's DiT config (dim, num_heads, ...) nor diffusers' (num_attention_heads, ...)", where);
        rc = -1;
    }
    cJSON_Delete(j);
    if (!rc && pp_dit_config_check(c)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pp_lasterr());
        PP_FAIL("%s: %s", where, msg);
    }
    return rc;
}

/* ------------------------------------------------------------------ the file's naming */

static const pp_st_tensor *find(const pp_wan_dit *w, const char *wan) {
    char n[512];
    if (file_name(w, wan, n, sizeof n)) return NULL;
    return pp_st_find(&w->f, n);
}

/* prefix and key names, from where "patch_embedding.weight" is */
static int detect_names(pp_wan_dit *w) {
    const pp_st_file *f = &w->f;
    const char *suf = "patch_embedding.weight";
    size_t ls = strlen(suf);
    for (int i = 0; i < f->ntensors; i++) {
        const char *k = f->tensors[i].name;
        size_t lk = strlen(k);
        if (lk < ls || strcmp(k + lk - ls, suf) || lk - ls >= sizeof w->prefix) continue;
        if (lk > ls && k[lk - ls - 1] != '.') continue;
        memcpy(w->prefix, k, lk - ls);
        w->prefix[lk - ls] = 0;
        w->names = PP_WAN_NAMES_WAN;
        if (find(w, "blocks.0.self_attn.q.weight")) return 0;
        w->names = PP_WAN_NAMES_DIFFUSERS;
        if (find(w, "blocks.0.self_attn.q.weight")) return 0;
        PP_FAIL("%s: has '%s' but no transformer block 0 under Wan's names ('%sblocks.0.self_attn.q.weight') "
                "or diffusers' ('%sblocks.0.attn1.to_q.weight'): not a Wan2.1 DiT", f->path, k, w->prefix, w->prefix);
    }
    PP_FAIL("%s: not a Wan2.1 DiT: no tensor 'patch_embedding.weight' (under any prefix); its first tensor is '%s'",
            f->path, f->ntensors ? f->tensors[0].name : "(none)");
}

static const pp_st_tensor *need(const pp_wan_dit *w, const char *wan, int ndim) {
    char n[512];
    if (file_name(w, wan, n, sizeof n)) return NULL;
    const pp_st_tensor *t = pp_st_find(&w->f, n);
    if (!t) {
        pp_seterr("%s: missing tensor '%s'", w->f.path, n);
        return NULL;
    }
    if (t->ndim != ndim) {
        char a[96];
        pp_seterr("%s: tensor '%s' has shape %s; a Wan2.1 DiT has %d dims there", w->f.path, n,
                  pp_shape_str(a, sizeof a, t->ndim, t->shape), ndim);
        return NULL;
    }
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] < 1 || t->shape[d] > (1 << 24)) {
            pp_seterr("%s: tensor '%s' has a dimension of %lld", w->f.path, n, (long long)t->shape[d]);
            return NULL;
        }
    return t;
}

/* the config the tensors describe (heads: dim / 128 unless `heads` > 0) */
static int config_from_shapes(pp_wan_dit *w, pp_dit_config *c, int heads) {
    config_defaults(c);
    const pp_st_tensor *pe = need(w, "patch_embedding.weight", 5), *te = need(w, "text_embedding.0.weight", 2),
                       *ti = need(w, "time_embedding.0.weight", 2), *ff = need(w, "blocks.0.ffn.0.weight", 2),
                       *hh = need(w, "head.head.weight", 2);
    if (!pe || !te || !ti || !ff || !hh) return -1;
    c->dim = (int)pe->shape[0], c->in_dim = (int)pe->shape[1];
    for (int i = 0; i < 3; i++) c->patch[i] = (int)pe->shape[2 + i];
    c->text_dim = (int)te->shape[1], c->freq_dim = (int)ti->shape[1], c->ffn_dim = (int)ff->shape[0];
    long pv = (long)c->patch[0] * c->patch[1] * c->patch[2];
    if (pv < 1 || hh->shape[0] % pv) PP_FAIL("%s: head.head has %lld rows, not a multiple of the patch volume %ld", w->f.path, (long long)hh->shape[0], pv);
    c->out_dim = (int)(hh->shape[0] / pv);
    char key[64];
    int L = 0;
    do snprintf(key, sizeof key, "blocks.%d.modulation", L);
    while (find(w, key) && ++L < PP_DIT_MAX_LAYERS);
    c->layers = L;
    if (heads > 0) c->heads = heads;
    else if (c->dim % 128 == 0) c->heads = c->dim / 128;
    else PP_FAIL("%s: a DiT of dim %d without a config: the head count is not dim / 128 (give its config.json)",
                 w->f.path, c->dim);
    return pp_dit_config_check(c);
}

/* Wan's config JSON in the file's metadata "config" (prophy-written or tools) */
static int config_from_meta(pp_wan_dit *w, pp_dit_config *c, int *found) {
    const char *m = pp_st_meta(&w->f, "config");
    *found = 0;
    if (!m) return 0;
    cJSON *j = cJSON_Parse(m);
    int ok = cJSON_IsObject(j) && (cJSON_GetObjectItemCaseSensitive(j, "dim") ||
                                   cJSON_GetObjectItemCaseSensitive(j, "num_attention_heads"));
    cJSON_Delete(j);
    if (!ok) return 0; /* some other tool's "config": use the shapes */
    char where[600];
    snprintf(where, sizeof where, "%s: metadata 'config'", w->f.path);
    *found = 1;
    return pp_wan_dit_config_parse(c, m, where);
}

/* ------------------------------------------------------------------ loading */

static int is_i2v_key(const char *rest) {
    return strstr(rest, "img_emb.") || strstr(rest, ".k_img.") || strstr(rest, ".v_img.") ||
           strstr(rest, ".norm_k_img.") || strstr(rest, "add_k_proj") || strstr(rest, "add_v_proj") ||
           strstr(rest, "image_embedder") || strstr(rest, "norm_added_k");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every file tensor under the prefix is one of the model's (names: its file keys). */
static int check_extra(const pp_wan_dit *w, char **names, int n, const pp_dit_config *c) {
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    size_t lp = strlen(w->prefix);
    for (int i = 0; i < w->f.ntensors; i++) {
        const char *k = w->f.tensors[i].name;
        if (strncmp(k, w->prefix, lp)) continue;
        if (bsearch(&k, names, (size_t)n, sizeof *names, cmp_str)) continue;
        if (is_i2v_key(k + lp))
            PP_FAIL("%s: tensor '%s' belongs to an image-to-video DiT (prophy runs Wan2.1 text-to-video)", w->f.path, k);
        const char *b = k + lp;
        if (starts(b, "blocks.")) {
            int li = atoi(b + 7);
            if (li >= c->layers)
                PP_FAIL("%s: tensor '%s' is beyond the %d layers of the config (%s)", w->f.path, k, c->layers,
                        w->config_from);
        }
        PP_FAIL("%s: tensor '%s' is not part of a Wan2.1 text-to-video DiT", w->f.path, k);
    }
    return 0;
}

/* t has the expected shape; the error says which config expected it */
static int expect_shape(const pp_wan_dit *w, const char *fname, const pp_st_tensor *t, const pp_param *p) {
    int same = t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
    if (same) return 0;
    char a[96], b[96], cs[256];
    pp_wan_dit_config_str(&w->dit.cfg, cs, sizeof cs);
    PP_FAIL("%s: tensor '%s' has shape %s, the model (%s: %s) expects %s: a DiT of another size", w->f.path, fname,
            pp_shape_str(a, sizeof a, t->ndim, t->shape), w->config_from, cs,
            pp_shape_str(b, sizeof b, p->ndim, p->shape));
}

static int float_dtype(const pp_wan_dit *w, const char *fname, const pp_st_tensor *t) {
    if (t->dtype == PP_F32 || t->dtype == PP_F16 || t->dtype == PP_BF16 || t->dtype == PP_F64) return 0;
    PP_FAIL("%s: tensor '%s' has dtype %s; a DiT's weights must be F32, F16 or BF16%s", w->f.path, fname,
            pp_dtype_name(t->dtype),
            t->dtype == PP_F8_E4M3 || t->dtype == PP_F8_E5M2 ? " (FP8 files are not supported: use the bf16 or fp16 one)" : "");
}

/* every 16-bit word of a BF16/F16 tensor is finite (exponent not all ones) */
static int half_finite(const pp_wan_dit *w, const char *fname, const pp_st_tensor *t) {
    const unsigned char *p = t->data;
    uint16_t mask = t->dtype == PP_BF16 ? 0x7f80 : 0x7c00;
    size_t n = (size_t)t->numel, bad = SIZE_MAX;
#pragma omp parallel for schedule(static) reduction(min : bad) if (n > (1u << 20))
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        if ((h & mask) == mask && i < bad) bad = i;
    }
    if (bad != SIZE_MAX) PP_FAIL("%s: tensor '%s' holds a non-finite value at index %zu", w->f.path, fname, bad);
    return 0;
}

static int f32_finite(const pp_wan_dit *w, const char *fname, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) PP_FAIL("%s: tensor '%s' holds a non-finite value at index %zu", w->f.path, fname, i);
    return 0;
}

/* tensor p of table t, converted into dst */
static int load_f32(pp_wan_dit *w, const pp_param *p, float *dst, char **name_out) {
    char fname[512];
    if (file_name(w, p->name, fname, sizeof fname)) return -1;
    *name_out = pp_strdup(fname);
    const pp_st_tensor *t = pp_st_find(&w->f, fname);
    if (!t) PP_FAIL("%s: missing tensor '%s'", w->f.path, fname);
    if (expect_shape(w, fname, t, p) || float_dtype(w, fname, t)) return -1;
    if (!dst) return 0; /* a check of the file alone */
    if (pp_st_to_f32(&w->f, t, dst)) return -1;
    return f32_finite(w, fname, dst, p->numel);
}

/* Linear i's weight (p, in `weights`) in place, or an owned F32 copy */
static int lend_weight(pp_wan_dit *w, pp_lin *l, const pp_param *p, char **name_out) {
    char fname[512];
    if (file_name(w, p->name, fname, sizeof fname)) return -1;
    *name_out = pp_strdup(fname);
    const pp_st_tensor *t = pp_st_find(&w->f, fname);
    if (!t) PP_FAIL("%s: missing tensor '%s'", w->f.path, fname);
    if (expect_shape(w, fname, t, p) || float_dtype(w, fname, t)) return -1;
    if (!l) return 0; /* a check of the file alone */
    if (w->lent_bytes == 0 && w->nown == 0) w->wdtype = t->dtype;
    if (t->dtype == PP_BF16 || t->dtype == PP_F16 || (t->dtype == PP_F32 && (uintptr_t)t->data % 4 == 0)) {
        if (t->dtype == PP_F32 ? f32_finite(w, fname, t->data, p->numel) : half_finite(w, fname, t)) return -1;
        pp_map_drop(pp_st_mapping(&w->f), t->data, (size_t)(t->end - t->begin)); /* read again when a pass needs it */
        l->xw = t->data, l->xdtype = t->dtype;
        w->lent_bytes += (size_t)(t->end - t->begin);
        return 0;
    }
    char what[600];
    snprintf(what, sizeof what, "an F32 copy of '%s'", fname);
    if (pp_mem_check(pp_mul_size(p->numel, sizeof(float)), what)) return -1;
    float *c = pp_alloc_floats(p->numel);
    w->own[w->nown++] = c;
    if (pp_st_to_f32(&w->f, t, c) || f32_finite(w, fname, c, p->numel)) return -1;
    l->xw = c, l->xdtype = PP_F32;
    return 0;
}

/* dry: check every name, shape and dtype, read no weight, allocate no P */
static int load_all(pp_wan_dit *w, const pp_dit_config *c, int dry) {
    pp_dit *m = &w->dit;
    int rc = w->mode == PP_WAN_INFER ? pp_dit_init_external(m, c, &w->table, &w->weights) : pp_dit_init(m, c, &w->table);
    if (rc) return -1;
    char what[160];
    snprintf(what, sizeof what, "the DiT's %s (%.1f M floats)", w->mode == PP_WAN_INFER ? "small tensors" : "weights",
             w->table.total / 1e6);
    if (pp_mem_check(pp_mul_size(w->table.total, sizeof(float)), what)) return -1;
    if (!dry) w->P = pp_zalloc_floats(w->table.total);
    int nl = PP_DIT_LINEARS(c->layers), n = w->table.n + (w->mode == PP_WAN_INFER ? nl : 0), k = 0;
    char **names = pp_calloc((size_t)n, sizeof *names);
    for (int i = 0; i < w->table.n && !rc; i++)
        rc = load_f32(w, &w->table.p[i], dry ? NULL : w->P + w->table.p[i].offset, &names[k++]);
    if (w->mode == PP_WAN_INFER && !rc) {
        pp_lin **lins = pp_malloc(sizeof *lins * (size_t)nl);
        pp_dit_linears(m, lins, nl);
        w->own = pp_calloc((size_t)nl, sizeof *w->own);
        for (int i = 0; i < nl && !rc; i++) rc = lend_weight(w, dry ? NULL : lins[i], &w->weights.p[i], &names[k++]);
        free(lins);
    }
    if (!rc && w->mode == PP_WAN_F32) {
        const pp_st_tensor *q = find(w, "blocks.0.self_attn.q.weight");
        if (q) w->wdtype = q->dtype;
    }
    if (!rc) rc = check_extra(w, names, k, c);
    for (int i = 0; i < k; i++) free(names[i]);
    free(names);
    return rc;
}

/* opens the file(s), finds the names and the config (nothing of the weights is read) */
static int open_config(pp_wan_dit *w, const char *path, const char *config_path, pp_dit_config *c) {
    if (pp_st_open_sharded(&w->f, path) || detect_names(w)) return -1;
    int have = 0;
    if (config_path) {
        char *text = NULL;
        size_t len = 0;
        if (pp_read_file(config_path, &text, &len)) return -1;
        int rc = pp_wan_dit_config_parse(c, text, config_path);
        free(text);
        if (rc) return -1;
        const char *base = strrchr(config_path, '/');
        snprintf(w->config_from, sizeof w->config_from, "%s", base ? base + 1 : config_path);
        have = 1;
    }
    if (!have) {
        if (config_from_meta(w, c, &have)) return -1;
        if (have) snprintf(w->config_from, sizeof w->config_from, "metadata 'config'");
    }
    if (!have) {
        if (config_from_shapes(w, c, 0)) return -1;
        snprintf(w->config_from, sizeof w->config_from, "tensor shapes");
    }
    return 0;
}

int pp_wan_dit_peek(const char *path, const char *config_path, pp_dit_config *c, int check) {
    pp_wan_dit w;
    memset(&w, 0, sizeof w);
    int rc = open_config(&w, path, config_path, c);
    if (!rc && check) rc = load_all(&w, c, 1);
    pp_wan_dit_close(&w);
    return rc;
}

int pp_wan_dit_open(pp_wan_dit *w, const char *path, const char *config_path, pp_wan_mode mode) {
    memset(w, 0, sizeof *w);
    w->mode = mode;
    pp_dit_config c;
    if (open_config(w, path, config_path, &c) || load_all(w, &c, 0)) goto fail;
    if (mode == PP_WAN_F32 || !w->lent_bytes) {
        pp_st_close(&w->f);
        memset(&w->f, 0, sizeof w->f);
    } else
        w->dit.lent = pp_st_mapping(&w->f);
    return 0;
fail:
    pp_wan_dit_close(w);
    return -1;
}

void pp_wan_dit_close(pp_wan_dit *w) {
    pp_dit_free(&w->dit);
    pp_params_free(&w->table);
    pp_params_free(&w->weights);
    pp_free_aligned(w->P);
    for (int i = 0; i < w->nown; i++) pp_free_aligned(w->own[i]);
    free(w->own);
    pp_st_close(&w->f);
    memset(w, 0, sizeof *w);
}
