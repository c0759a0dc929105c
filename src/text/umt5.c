/* umt5.c - see umt5.h */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/linear_half.h"
#include "nn/ops.h"
#include "nn/ops_util.h"
#include "text/umt5.h"

/* per-layer tensors, in table order */
enum { T_LN0, T_Q, T_K, T_V, T_O, T_BIAS, T_LN1, T_WI0, T_WI1, T_WO, T_PER_LAYER };

/* state-dict names of the two accepted layouts (per-layer formats take the index) */
typedef struct {
    const char *what;
    const char *embed[2]; /* alternatives */
    const char *final_norm;
    const char *layer[T_PER_LAYER];
} layout;

static const layout LAYOUTS[2] = {
    {"transformers",
     {"shared.weight", "encoder.embed_tokens.weight"},
     "encoder.final_layer_norm.weight",
     {"encoder.block.%d.layer.0.layer_norm.weight", "encoder.block.%d.layer.0.SelfAttention.q.weight",
      "encoder.block.%d.layer.0.SelfAttention.k.weight", "encoder.block.%d.layer.0.SelfAttention.v.weight",
      "encoder.block.%d.layer.0.SelfAttention.o.weight",
      "encoder.block.%d.layer.0.SelfAttention.relative_attention_bias.weight",
      "encoder.block.%d.layer.1.layer_norm.weight", "encoder.block.%d.layer.1.DenseReluDense.wi_0.weight",
      "encoder.block.%d.layer.1.DenseReluDense.wi_1.weight", "encoder.block.%d.layer.1.DenseReluDense.wo.weight"}},
    {"Wan (wan/modules/t5.py)",
     {"token_embedding.weight", NULL},
     "norm.weight",
     {"blocks.%d.norm1.weight", "blocks.%d.attn.q.weight", "blocks.%d.attn.k.weight", "blocks.%d.attn.v.weight",
      "blocks.%d.attn.o.weight", "blocks.%d.pos_embedding.embedding.weight", "blocks.%d.norm2.weight",
      "blocks.%d.ffn.gate.0.weight", "blocks.%d.ffn.fc1.weight", "blocks.%d.ffn.fc2.weight"}},
};

pp_umt5_config pp_umt5_xxl_config(void) {
    return (pp_umt5_config){.vocab = 256384, .dim = 4096, .heads = 64, .d_kv = 64, .layers = 24,
                            .ffn = 10240, .buckets = 32, .max_distance = 128, .eps = 1e-6f};
}

int pp_umt5_config_check(const pp_umt5_config *c) {
    const long big = 1L << 20;
    if (c->vocab < 1 || c->vocab > (1L << 24)) PP_FAIL("umT5: vocab %d out of range [1, 2^24]", c->vocab);
    if (c->dim < 1 || c->dim > big || c->heads < 1 || c->heads > 4096 || c->d_kv < 1 || c->d_kv > 4096 ||
        c->ffn < 1 || c->ffn > big || c->layers < 0 || c->layers > 1024)
        PP_FAIL("umT5: sizes out of range (dim %d, heads %d, d_kv %d, ffn %d, layers %d)", c->dim, c->heads,
                c->d_kv, c->ffn, c->layers);
    if ((long)c->heads * c->d_kv > big) PP_FAIL("umT5: heads * d_kv = %ld too large", (long)c->heads * c->d_kv);
    if (c->buckets < 4 || c->buckets % 2 || c->buckets > 4096)
        PP_FAIL("umT5: relative buckets %d must be even, in [4, 4096]", c->buckets);
    if (c->max_distance <= c->buckets / 4 || c->max_distance > (1 << 24))
        PP_FAIL("umT5: max distance %d must exceed buckets/4 = %d", c->max_distance, c->buckets / 4);
    if (!(c->eps > 0 && c->eps < 1)) PP_FAIL("umT5: eps %g out of range (0, 1)", (double)c->eps);
    return 0;
}

/* Mesh TensorFlow's bucket, as transformers computes it (the log term in F32:
 * log(n / max_exact) / log(max_distance / max_exact) * (nb - max_exact),
 * truncated). */
int pp_umt5_bucket(int rel, int buckets, int max_distance) {
    int nb = buckets / 2, b = rel > 0 ? nb : 0, n = rel < 0 ? -rel : rel, max_exact = nb / 2;
    if (n < max_exact) return b + n;
    float r = logf((float)n / (float)max_exact) / (float)log((double)max_distance / max_exact) *
              (float)(nb - max_exact);
    int large = max_exact + (int)r;
    return b + (large < nb - 1 ? large : nb - 1);
}

int pp_umt5_init(pp_umt5 *m, const pp_umt5_config *c) {
    memset(m, 0, sizeof *m);
    if (pp_umt5_config_check(c)) return -1;
    m->c = *c;
    pp_params *t = &m->t;
    int64_t hd = (int64_t)c->heads * c->d_kv;
    pp_params_addf(t, 2, c->vocab, c->dim, 0, 0, 0, "%s", LAYOUTS[0].embed[0]);
    for (int i = 0; i < c->layers; i++) {
        const char *const *f = LAYOUTS[0].layer;
        pp_params_addf(t, 1, c->dim, 0, 0, 0, 0, f[T_LN0], i);
        pp_params_addf(t, 2, hd, c->dim, 0, 0, 0, f[T_Q], i);
        pp_params_addf(t, 2, hd, c->dim, 0, 0, 0, f[T_K], i);
        pp_params_addf(t, 2, hd, c->dim, 0, 0, 0, f[T_V], i);
        pp_params_addf(t, 2, c->dim, hd, 0, 0, 0, f[T_O], i);
        pp_params_addf(t, 2, c->buckets, c->heads, 0, 0, 0, f[T_BIAS], i);
        pp_params_addf(t, 1, c->dim, 0, 0, 0, 0, f[T_LN1], i);
        pp_params_addf(t, 2, c->ffn, c->dim, 0, 0, 0, f[T_WI0], i);
        pp_params_addf(t, 2, c->ffn, c->dim, 0, 0, 0, f[T_WI1], i);
        pp_params_addf(t, 2, c->dim, c->ffn, 0, 0, 0, f[T_WO], i);
    }
    pp_params_addf(t, 1, c->dim, 0, 0, 0, 0, "%s", LAYOUTS[0].final_norm);
    m->w = pp_calloc((size_t)t->n, sizeof *m->w);
    m->own = pp_calloc((size_t)t->n, sizeof *m->own);
    m->bucket_of = pp_malloc((2 * PP_UMT5_MAX_LEN - 1) * sizeof(int));
    for (int r = -(PP_UMT5_MAX_LEN - 1); r < PP_UMT5_MAX_LEN; r++)
        m->bucket_of[r + PP_UMT5_MAX_LEN - 1] = pp_umt5_bucket(r, c->buckets, c->max_distance);
    return 0;
}

static void drop_weights(pp_umt5 *m) {
    for (int i = 0; m->own && i < m->t.n; i++) {
        pp_free_aligned(m->own[i]);
        m->own[i] = NULL;
        m->w[i].data = NULL;
    }
    pp_st_close(&m->f);
    memset(&m->f, 0, sizeof m->f);
    m->lent = (pp_map_range){NULL, 0};
}

void pp_umt5_free(pp_umt5 *m) {
    drop_weights(m);
    free(m->w), free(m->own), free(m->bucket_of);
    pp_params_free(&m->t);
    memset(m, 0, sizeof *m);
}

void pp_umt5_set_f32(pp_umt5 *m, int i, const float *data) {
    const pp_param *p = &m->t.p[i];
    if (!m->own[i]) m->own[i] = pp_alloc_floats(p->numel);
    memcpy(m->own[i], data, p->numel * sizeof(float));
    m->w[i] = (pp_umt5_weight){.data = m->own[i], .dtype = PP_F32};
}

/* ---------------------------------------------------------------- loading */

/* The layout and name prefix of an open file: the layout whose final norm name
 * ends some key, with what precedes it as the prefix. */
typedef struct {
    const layout *L;
    char prefix[256];
} naming;

static int find_naming(const pp_st_file *f, naming *nm) {
    for (int l = 0; l < 2; l++) {
        const char *suf = LAYOUTS[l].final_norm;
        size_t ls = strlen(suf);
        for (int i = 0; i < f->ntensors; i++) {
            const char *k = f->tensors[i].name;
            size_t lk = strlen(k);
            if (lk < ls || strcmp(k + lk - ls, suf) || lk - ls >= sizeof nm->prefix) continue;
            /* "...final_layer_norm.weight" also ends in Wan's "norm.weight":
             * the prefix must end at a dot */
            if (lk > ls && k[lk - ls - 1] != '.') continue;
            nm->L = &LAYOUTS[l];
            memcpy(nm->prefix, k, lk - ls);
            nm->prefix[lk - ls] = 0;
            return 0;
        }
    }
    PP_FAIL("%s: not a umT5 encoder: no tensor named '%s' or '%s' (the final norm)", f->path,
            LAYOUTS[0].final_norm, LAYOUTS[1].final_norm);
}

/* the file's name of table tensor i (layer index li, or -1 for the globals) */
static const pp_st_tensor *file_tensor(const pp_st_file *f, const naming *nm, int kind, int li,
                                       char *name, size_t size) {
    const pp_st_tensor *t = NULL;
    if (li < 0 && kind == 0) {
        for (int a = 0; a < 2 && !t && nm->L->embed[a]; a++) {
            snprintf(name, size, "%s%s", nm->prefix, nm->L->embed[a]);
            t = pp_st_find(f, name);
        }
        if (!t) snprintf(name, size, "%s%s", nm->prefix, nm->L->embed[0]);
        return t;
    }
    char base[160];
    if (li < 0) snprintf(base, sizeof base, "%s", nm->L->final_norm);
    else snprintf(base, sizeof base, nm->L->layer[kind], li);
    snprintf(name, size, "%s%s", nm->prefix, base);
    return pp_st_find(f, name);
}

static int need(const pp_st_file *f, const pp_st_tensor *t, const char *name, int ndim) {
    if (!t) PP_FAIL("%s: missing tensor '%s'", f->path, name);
    if (t->ndim != ndim) {
        char a[64];
        PP_FAIL("%s: tensor '%s' has shape %s, a umT5 encoder has %d dims there", f->path, name,
                pp_shape_str(a, sizeof a, t->ndim, t->shape), ndim);
    }
    return 0;
}

static int shapes_of(const pp_st_file *f, pp_umt5_config *c) {
    naming nm;
    char name[512];
    if (find_naming(f, &nm)) return -1;
    const pp_st_tensor *e = file_tensor(f, &nm, 0, -1, name, sizeof name);
    if (need(f, e, name, 2)) return -1;
    const pp_st_tensor *q = file_tensor(f, &nm, T_Q, 0, name, sizeof name);
    if (need(f, q, name, 2)) return -1;
    const pp_st_tensor *rb = file_tensor(f, &nm, T_BIAS, 0, name, sizeof name);
    if (need(f, rb, name, 2)) return -1;
    const pp_st_tensor *w0 = file_tensor(f, &nm, T_WI0, 0, name, sizeof name);
    if (need(f, w0, name, 2)) return -1;
    int layers = 0;
    while (layers < 4096 && file_tensor(f, &nm, T_Q, layers, name, sizeof name)) layers++;
    const int64_t lim = 1 << 24;
    if (e->shape[0] > lim || e->shape[1] > lim || q->shape[0] > lim || rb->shape[0] > lim ||
        rb->shape[1] > lim || rb->shape[1] < 1 || w0->shape[0] > lim)
        PP_FAIL("%s: tensor sizes out of range for a umT5 encoder", f->path);
    *c = (pp_umt5_config){.vocab = (int)e->shape[0], .dim = (int)e->shape[1], .heads = (int)rb->shape[1],
                          .d_kv = (int)(q->shape[0] / rb->shape[1]), .layers = layers,
                          .ffn = (int)w0->shape[0], .buckets = (int)rb->shape[0], .max_distance = 128,
                          .eps = 1e-6f};
    if (q->shape[0] % rb->shape[1])
        PP_FAIL("%s: q has %lld rows, not a multiple of the %lld heads of the bias table", f->path,
                (long long)q->shape[0], (long long)rb->shape[1]);
    return 0;
}

int pp_umt5_config_from_file(const char *path, pp_umt5_config *c) {
    pp_st_file f;
    if (pp_st_open_sharded(&f, path)) return -1;
    int rc = shapes_of(&f, c);
    pp_st_close(&f);
    return rc;
}

static void config_str(char *buf, size_t size, const pp_umt5_config *c) {
    snprintf(buf, size, "vocab %d, dim %d, %d heads x %d, %d layers, ffn %d, %d buckets", c->vocab, c->dim,
             c->heads, c->d_kv, c->layers, c->ffn, c->buckets);
}

int pp_umt5_load(pp_umt5 *m, const char *path, int keep_half) {
    drop_weights(m);
    pp_st_file *f = &m->f;
    if (pp_st_open_sharded(f, path)) return -1;
    pp_umt5_config fc;
    naming nm;
    if (shapes_of(f, &fc) || find_naming(f, &nm)) goto fail;
    const pp_umt5_config *c = &m->c;
    if (fc.vocab != c->vocab || fc.dim != c->dim || fc.heads != c->heads || fc.d_kv != c->d_kv ||
        fc.layers != c->layers || fc.ffn != c->ffn || fc.buckets != c->buckets) {
        char a[256], b[256];
        config_str(a, sizeof a, &fc), config_str(b, sizeof b, c);
        pp_seterr("%s: is a umT5 encoder of another size (%s); the model expects %s", path, a, b);
        goto fail;
    }
    int any_half = 0;
    for (int i = 0; i < m->t.n; i++) {
        const pp_param *p = &m->t.p[i];
        int li = i == 0 || i == m->t.n - 1 ? -1 : (i - 1) / T_PER_LAYER;
        int kind = i == 0 ? 0 : li < 0 ? 1 : (i - 1) % T_PER_LAYER;
        char name[512];
        const pp_st_tensor *t = file_tensor(f, &nm, kind, li, name, sizeof name);
        const pp_st_tensor *chk;
        if (!t) {
            pp_seterr("%s: missing tensor '%s'", path, name);
            goto fail;
        }
        if (pp_st_expect(f, name, p->ndim, p->shape, &chk)) goto fail;
        if (t->dtype != PP_F32 && t->dtype != PP_F16 && t->dtype != PP_BF16) {
            pp_seterr("%s: tensor '%s' has dtype %s; umT5 weights must be F32, F16 or BF16", path, name,
                      pp_dtype_name(t->dtype));
            goto fail;
        }
        int big = p->ndim == 2 && kind != T_BIAS; /* linear weights and the embedding */
        if (keep_half && big && t->dtype != PP_F32) {
            m->w[i] = (pp_umt5_weight){.data = t->data, .dtype = t->dtype};
            any_half = 1;
        } else {
            m->own[i] = pp_alloc_floats(p->numel);
            if (pp_st_to_f32(f, t, m->own[i])) goto fail;
            m->w[i] = (pp_umt5_weight){.data = m->own[i], .dtype = PP_F32};
        }
    }
    if (!any_half) {
        pp_st_close(f);
        memset(f, 0, sizeof *f);
    } else
        m->lent = pp_st_mapping(f);
    return 0;
fail:
    drop_weights(m);
    return -1;
}

/* ---------------------------------------------------------------- forward */

static void linear(float *out, const float *inp, const pp_umt5_weight *w, int M, int K, int N) {
    if (w->dtype == PP_F32)
        pp_linear_forward(out, inp, w->data, NULL, M, K, N);
    else
        pp_linear_forward_half(out, inp, w->data, w->dtype == PP_BF16 ? PP_HALF_BF16 : PP_HALF_F16, NULL, M,
                               K, N);
}

/* g = gelu_tanh(g) * u, n elements (transformers' gelu_new, with libm's tanh) */
static void gated_gelu(float *g, const float *u, size_t n) {
    const float s = 0.7978845608028654f, a = 0.044715f;
#pragma omp parallel for schedule(static) if (n > PP_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = g[i];
        g[i] = 0.5f * x * (1.0f + tanhf(s * (x + a * x * x * x))) * u[i];
    }
}

static void add_into(float *x, const float *y, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > PP_PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* a[L, H*D] = softmax(q k^T + bias) v per head; bias[b*H + h] is the layer's table */
static void attention(const pp_umt5 *m, float *a, const float *q, const float *k, const float *v,
                      const float *bias, int L) {
    int H = m->c.heads, D = m->c.d_kv, HD = H * D;
    const int *bk = m->bucket_of + PP_UMT5_MAX_LEN - 1;
#pragma omp parallel
    {
        float *S = pp_alloc_floats((size_t)L * L);
#pragma omp for schedule(dynamic)
        for (int h = 0; h < H; h++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, D, 1.0f, q + h * D, HD, k + h * D, HD,
                        0.0f, S, L);
            for (int i = 0; i < L; i++) {
                float *s = S + (size_t)i * L, mx = -INFINITY, sum = 0;
                for (int j = 0; j < L; j++) {
                    s[j] += bias[bk[j - i] * H + h];
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int j = 0; j < L; j++) sum += s[j] = expf(s[j] - mx);
                float inv = 1.0f / sum;
                for (int j = 0; j < L; j++) s[j] *= inv;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, D, L, 1.0f, S, L, v + h * D, HD, 0.0f,
                        a + h * D, HD);
        }
        pp_free_aligned(S);
    }
}

static void embed(const pp_umt5 *m, float *x, const int32_t *ids, int L) {
    const pp_umt5_weight *e = &m->w[0];
    int C = m->c.dim;
    for (int i = 0; i < L; i++) {
        size_t off = (size_t)ids[i] * C;
        if (e->dtype == PP_F32)
            memcpy(x + (size_t)i * C, (const float *)e->data + off, (size_t)C * sizeof(float));
        else
            pp_half_to_f32(x + (size_t)i * C, (const unsigned char *)e->data + 2 * off, (size_t)C,
                           e->dtype == PP_BF16 ? PP_HALF_BF16 : PP_HALF_F16);
    }
}

/* gives back the pages of tensors [i0, i0+n) read in place (pp_umt5.lent) */
static void drop_pages(const pp_umt5 *m, int i0, int n) {
    for (int i = i0; i < i0 + n; i++)
        pp_map_drop(m->lent, m->w[i].data, m->t.p[i].numel * pp_dtype_size(m->w[i].dtype)); /* owned F32: outside */
}

int pp_umt5_forward(const pp_umt5 *m, const int32_t *ids, int L, float *out) {
    const pp_umt5_config *c = &m->c;
    if (!m->w || !m->w[0].data) PP_FAIL("umT5: no weights loaded");
    if (L < 1 || L > PP_UMT5_MAX_LEN) PP_FAIL("umT5: sequence length %d out of range [1, %d]", L, PP_UMT5_MAX_LEN);
    for (int i = 0; i < L; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            PP_FAIL("umT5: token id %d at position %d is outside the vocabulary [0, %d)", (int)ids[i], i, c->vocab);
    int C = c->dim, HD = c->heads * c->d_kv, F = c->ffn;
    size_t nx = (size_t)L * C, nh = (size_t)L * HD, nf = (size_t)L * F;
    float *x = pp_alloc_floats(nx), *h = pp_alloc_floats(nx), *rstd = pp_alloc_floats((size_t)L);
    float *q = pp_alloc_floats(nh), *k = pp_alloc_floats(nh), *v = pp_alloc_floats(nh), *a = pp_alloc_floats(nh);
    float *g = pp_alloc_floats(nf), *u = pp_alloc_floats(nf);
    embed(m, x, ids, L);
    drop_pages(m, 0, 1);
    for (int l = 0; l < c->layers; l++) {
        const pp_umt5_weight *w = m->w + 1 + (size_t)l * T_PER_LAYER;
        pp_rmsnorm_forward(h, rstd, x, w[T_LN0].data, L, C, c->eps);
        linear(q, h, &w[T_Q], L, C, HD);
        linear(k, h, &w[T_K], L, C, HD);
        linear(v, h, &w[T_V], L, C, HD);
        attention(m, a, q, k, v, w[T_BIAS].data, L);
        linear(h, a, &w[T_O], L, HD, C);
        add_into(x, h, nx);
        pp_rmsnorm_forward(h, rstd, x, w[T_LN1].data, L, C, c->eps);
        linear(g, h, &w[T_WI0], L, C, F);
        linear(u, h, &w[T_WI1], L, C, F);
        gated_gelu(g, u, nf);
        linear(h, g, &w[T_WO], L, F, C);
        add_into(x, h, nx);
        drop_pages(m, 1 + l * T_PER_LAYER, T_PER_LAYER);
    }
    pp_rmsnorm_forward(out, rstd, x, m->w[m->t.n - 1].data, L, C, c->eps);
    float *bufs[] = {x, h, rstd, q, k, v, a, g, u};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    return 0;
}

int pp_umt5_encode(const pp_umt5 *m, const int32_t *ids, const int *lens, int B, int T, int text_len,
                   float *out) {
    int C = m->c.dim;
    if (B < 0 || T < 0 || text_len < 1 || text_len > PP_UMT5_MAX_LEN)
        PP_FAIL("umT5: bad batch shape (B %d, T %d, text_len %d)", B, T, text_len);
    for (int b = 0; b < B; b++)
        if (lens[b] < 0 || lens[b] > T || lens[b] > text_len)
            PP_FAIL("umT5: sequence %d has length %d; it must lie in [0, min(T %d, text_len %d)]", b, lens[b], T,
                    text_len);
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * text_len * C;
        if (lens[b] > 0 && pp_umt5_forward(m, ids + (size_t)b * T, lens[b], o)) return -1;
        memset(o + (size_t)lens[b] * C, 0, (size_t)(text_len - lens[b]) * C * sizeof(float));
    }
    return 0;
}
