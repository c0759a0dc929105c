/* test_umt5.c - the C umT5 encoder against transformers' UMT5EncoderModel on a
 * tiny random model (tools/make_umt5_fixture.py, reference in float64), the
 * BF16-in-place path, Wan's trim-and-pad, Wan's key names, and the load errors. */
#include <cjson/cJSON.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "text/umt5.h"
#include "test.h"

#define REL_TOL 1e-4

static const char *fixture(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/umt5_ref.safetensors", pp_fixture_dir());
    return path;
}

static int load_cfg(pp_umt5_config *c) {
    pp_st_file f;
    if (pp_st_open(&f, fixture())) return -1;
    cJSON *j = cJSON_Parse(pp_st_meta(&f, "config"));
    pp_st_close(&f);
    if (!j) return -1;
#define JI(k) cJSON_GetObjectItem(j, k)->valueint
    *c = (pp_umt5_config){.vocab = JI("vocab_size"), .dim = JI("d_model"), .heads = JI("num_heads"),
                          .d_kv = JI("d_kv"), .layers = JI("num_layers"), .ffn = JI("d_ff"),
                          .buckets = JI("relative_attention_num_buckets"),
                          .max_distance = JI("relative_attention_max_distance"),
                          .eps = (float)cJSON_GetObjectItem(j, "layer_norm_epsilon")->valuedouble};
#undef JI
    cJSON_Delete(j);
    return 0;
}

/* a fixture tensor as a fresh buffer of its raw bytes */
static void *raw(const char *name, size_t *n) {
    pp_st_file f;
    void *d = NULL;
    if (pp_st_open(&f, fixture())) return NULL;
    const pp_st_tensor *t = pp_st_find(&f, name);
    if (t) {
        d = pp_malloc(t->end - t->begin + 1);
        memcpy(d, t->data, t->end - t->begin);
        *n = t->numel;
    }
    pp_st_close(&f);
    return d;
}

TEST(umt5_bucket_matches_transformers) {
    size_t n = 0;
    int32_t *want = raw("bucket.rel", &n);
    CHECK(want && n == 2001);
    if (!want) return;
    int bad = 0;
    for (int r = -1000; r <= 1000; r++) bad += pp_umt5_bucket(r, 32, 128) != want[r + 1000];
    CHECK_MSG(bad == 0, "%d of 2001 relative positions in another bucket", bad);
    free(want);
}

/* the encoder on every fixture sequence; returns the worst relative error */
static double check_outputs(const pp_umt5 *m, const char *what) {
    size_t nids = 0, nb = 0, nh = 0;
    int32_t *ids = raw("input.ids", &nids), *lens = raw("input.lens", &nb);
    float *want = raw("output.hidden", &nh);
    int B = (int)nb, T = (int)(nids / nb), C = m->c.dim, text_len = T + 3;
    float *out = pp_alloc_floats((size_t)B * text_len * C);
    memset(out, 0xff, (size_t)B * text_len * C * sizeof(float)); /* NaNs: every row must be written */
    int lens_i[8];
    for (int b = 0; b < B; b++) lens_i[b] = lens[b];
    CHECK_MSG(pp_umt5_encode(m, ids, lens_i, B, T, text_len, out) == 0, "%s", pp_lasterr());
    double worst = 0;
    for (int b = 0; b < B; b++) {
        const float *o = out + (size_t)b * text_len * C;
        double e = pp_rel_err(o, want + (size_t)b * T * C, (size_t)lens[b] * C);
        CHECK_MSG(e <= REL_TOL, "%s: sequence %d (length %d): relative error %.3g", what, b, lens[b], e);
        if (e > worst) worst = e;
        int nz = 0;
        for (size_t i = (size_t)lens[b] * C; i < (size_t)text_len * C; i++) nz += o[i] != 0.0f;
        CHECK_MSG(nz == 0, "%s: sequence %d: %d nonzero values in the padding rows", what, b, nz);
    }
    pp_free_aligned(out);
    free(ids), free(lens), free(want);
    return worst;
}

TEST(umt5_matches_transformers_f32) {
    pp_umt5_config c, fc;
    CHECK(load_cfg(&c) == 0);
    CHECK_MSG(pp_umt5_config_from_file(fixture(), &fc) == 0, "%s", pp_lasterr());
    CHECK(fc.vocab == c.vocab && fc.dim == c.dim && fc.heads == c.heads && fc.d_kv == c.d_kv &&
          fc.layers == c.layers && fc.ffn == c.ffn && fc.buckets == c.buckets);
    pp_umt5 m;
    CHECK(pp_umt5_init(&m, &c) == 0);
    CHECK_MSG(pp_umt5_load(&m, fixture(), 0) == 0, "%s", pp_lasterr());
    double worst = check_outputs(&m, "f32");
    printf("    worst relative error %.2e over %d sequences (lengths 1..200)\n", worst, 4);
    pp_umt5_free(&m);
}

/* copies the fixture's weights into a new file: dtype as, names renamed by
 * ren (or NULL), tensor `drop` left out, tensor `bad` reshaped to [1, numel] */
typedef const char *(*rename_fn)(const char *name, char *buf, size_t size);
static int rewrite(const char *out, pp_dtype as, rename_fn ren, const char *drop, const char *bad) {
    pp_st_file f;
    if (pp_st_open(&f, fixture())) return -1;
    pp_st_writer *w = pp_st_writer_new();
    float *bufs[64];
    int nb = 0, rc = 0;
    for (int i = 0; i < f.ntensors && !rc; i++) {
        const pp_st_tensor *t = &f.tensors[i];
        if (t->dtype != PP_F32 || !strncmp(t->name, "output.", 7) || (drop && !strcmp(t->name, drop))) continue;
        float *d = bufs[nb++] = pp_alloc_floats(t->numel);
        pp_st_to_f32(&f, t, d);
        char buf[256];
        const char *name = ren ? ren(t->name, buf, sizeof buf) : t->name;
        int64_t flat[2] = {1, (int64_t)t->numel};
        int isbad = bad && !strcmp(t->name, bad);
        rc = pp_st_add_f32(w, name, as, isbad ? 2 : t->ndim, isbad ? flat : t->shape, d);
    }
    if (!rc) rc = pp_st_save(w, out);
    pp_st_writer_free(w);
    for (int i = 0; i < nb; i++) pp_free_aligned(bufs[i]);
    pp_st_close(&f);
    return rc;
}

TEST(umt5_bf16_in_place_matches_f32_of_the_same_weights) {
    pp_umt5_config c;
    CHECK(load_cfg(&c) == 0);
    const char *path = pp_test_path("umt5_bf16.safetensors");
    CHECK_MSG(rewrite(path, PP_BF16, NULL, NULL, NULL) == 0, "%s", pp_lasterr());
    pp_umt5 a, b;
    CHECK(pp_umt5_init(&a, &c) == 0 && pp_umt5_init(&b, &c) == 0);
    CHECK_MSG(pp_umt5_load(&a, path, 1) == 0, "%s", pp_lasterr());
    CHECK_MSG(pp_umt5_load(&b, path, 0) == 0, "%s", pp_lasterr());
    CHECK(a.w[0].dtype == PP_BF16 && a.w[2].dtype == PP_BF16); /* embedding and q stay in the file */
    CHECK(b.w[0].dtype == PP_F32);
    int32_t ids[37];
    for (int i = 0; i < 37; i++) ids[i] = (i * 37 + 11) % c.vocab;
    float *oa = pp_alloc_floats(37 * (size_t)c.dim), *ob = pp_alloc_floats(37 * (size_t)c.dim);
    CHECK(pp_umt5_forward(&a, ids, 37, oa) == 0 && pp_umt5_forward(&b, ids, 37, ob) == 0);
    double e = pp_rel_err(oa, ob, 37 * (size_t)c.dim);
    CHECK_MSG(e < 1e-5, "BF16 in place vs F32 copies: relative error %.3g", e);
    /* that forward gave each layer's pages back; a second one reads them again
     * and gives the same bits, as does one with the pages kept resident */
    CHECK(a.lent.base != NULL && b.lent.base == NULL);
    float *o2 = pp_alloc_floats(37 * (size_t)c.dim), *o3 = pp_alloc_floats(37 * (size_t)c.dim);
    CHECK(pp_umt5_forward(&a, ids, 37, o2) == 0);
    a.lent = (pp_map_range){NULL, 0};
    CHECK(pp_umt5_forward(&a, ids, 37, o3) == 0);
    CHECK(memcmp(o2, oa, 37 * (size_t)c.dim * sizeof(float)) == 0);
    CHECK(memcmp(o3, oa, 37 * (size_t)c.dim * sizeof(float)) == 0);
    pp_free_aligned(oa), pp_free_aligned(ob), pp_free_aligned(o2), pp_free_aligned(o3);
    pp_umt5_free(&a), pp_umt5_free(&b);
}

/* transformers' names -> Wan's */
static const char *to_wan(const char *n, char *buf, size_t size) {
    int i;
    char rest[128];
    if (!strcmp(n, "shared.weight")) return "token_embedding.weight";
    if (!strcmp(n, "encoder.final_layer_norm.weight")) return "norm.weight";
    if (sscanf(n, "encoder.block.%d.%127s", &i, rest) != 2) return n;
    static const char *map[][2] = {{"layer.0.layer_norm.weight", "norm1.weight"},
                                   {"layer.0.SelfAttention.q.weight", "attn.q.weight"},
                                   {"layer.0.SelfAttention.k.weight", "attn.k.weight"},
                                   {"layer.0.SelfAttention.v.weight", "attn.v.weight"},
                                   {"layer.0.SelfAttention.o.weight", "attn.o.weight"},
                                   {"layer.0.SelfAttention.relative_attention_bias.weight", "pos_embedding.embedding.weight"},
                                   {"layer.1.layer_norm.weight", "norm2.weight"},
                                   {"layer.1.DenseReluDense.wi_0.weight", "ffn.gate.0.weight"},
                                   {"layer.1.DenseReluDense.wi_1.weight", "ffn.fc1.weight"},
                                   {"layer.1.DenseReluDense.wo.weight", "ffn.fc2.weight"}};
    for (size_t k = 0; k < sizeof map / sizeof *map; k++)
        if (!strcmp(rest, map[k][0])) {
            snprintf(buf, size, "blocks.%d.%s", i, map[k][1]);
            return buf;
        }
    return n;
}

static const char *with_prefix(const char *n, char *buf, size_t size) {
    snprintf(buf, size, "text_encoders.umt5xxl.transformer.%s", n);
    return buf;
}

static const char *embed_alias(const char *n, char *buf, size_t size) {
    (void)buf, (void)size;
    return strcmp(n, "shared.weight") ? n : "encoder.embed_tokens.weight";
}

TEST(umt5_accepts_wan_names_a_prefix_and_embed_tokens) {
    pp_umt5_config c;
    CHECK(load_cfg(&c) == 0);
    rename_fn fns[] = {to_wan, with_prefix, embed_alias};
    for (int k = 0; k < 3; k++) {
        const char *path = pp_test_path("umt5_renamed.safetensors");
        CHECK_MSG(rewrite(path, PP_F32, fns[k], NULL, NULL) == 0, "%s", pp_lasterr());
        pp_umt5 m;
        CHECK(pp_umt5_init(&m, &c) == 0);
        CHECK_MSG(pp_umt5_load(&m, path, 1) == 0, "layout %d: %s", k, pp_lasterr());
        if (!pp_test_failed()) check_outputs(&m, k == 0 ? "Wan names" : k == 1 ? "prefixed" : "embed_tokens");
        pp_umt5_free(&m);
    }
}

static void expect_load_error(const pp_umt5_config *c, const char *path, const char *needle) {
    pp_umt5 m;
    CHECK(pp_umt5_init(&m, c) == 0);
    int rc = pp_umt5_load(&m, path, 1);
    CHECK_MSG(rc != 0, "loading %s should fail (%s)", path, needle);
    if (rc) {
        CHECK_MSG(strstr(pp_lasterr(), needle) != NULL, "error '%s' lacks '%s'", pp_lasterr(), needle);
        CHECK_MSG(strstr(pp_lasterr(), path) != NULL, "error '%s' does not name the file", pp_lasterr());
        CHECK_MSG(m.w[0].data == NULL, "a failed load leaves no weights");
    }
    pp_umt5_free(&m);
}

TEST(umt5_load_errors) {
    pp_umt5_config c;
    CHECK(load_cfg(&c) == 0);
    const char *path = pp_test_path("umt5_bad.safetensors");
    /* missing tensor */
    CHECK(rewrite(path, PP_BF16, NULL, "encoder.block.1.layer.1.DenseReluDense.wi_1.weight", NULL) == 0);
    expect_load_error(&c, path, "missing tensor 'encoder.block.1.layer.1.DenseReluDense.wi_1.weight'");
    /* misshapen tensor */
    CHECK(rewrite(path, PP_BF16, NULL, NULL, "encoder.block.1.layer.0.SelfAttention.v.weight") == 0);
    expect_load_error(&c, path, "'encoder.block.1.layer.0.SelfAttention.v.weight' has shape [1,1024]");
    /* a model of another size: the XXL config against the tiny file */
    CHECK(rewrite(path, PP_BF16, NULL, NULL, NULL) == 0);
    pp_umt5_config xxl = pp_umt5_xxl_config();
    expect_load_error(&xxl, path, "another size");
    /* fewer layers expected than the file has */
    pp_umt5_config one = c;
    one.layers = 1;
    expect_load_error(&one, path, "2 layers");
    /* a truncated BF16 file: the safetensors reader refuses it */
    FILE *fp = fopen(path, "r+b");
    CHECK(fp != NULL);
    if (fp) {
        fseek(fp, 0, SEEK_END);
        long n = ftell(fp);
        fclose(fp);
        CHECK(truncate(path, n - 10) == 0);
    }
    pp_umt5 m;
    CHECK(pp_umt5_init(&m, &c) == 0);
    CHECK(pp_umt5_load(&m, path, 1) != 0);
    CHECK_MSG(strstr(pp_lasterr(), path) != NULL, "error: %s", pp_lasterr());
    printf("    truncated file: %s\n", pp_lasterr());
    /* not a umT5 file at all */
    char other[512];
    snprintf(other, sizeof other, "%s/dit_ref.safetensors", pp_fixture_dir());
    CHECK(pp_umt5_load(&m, other, 1) != 0 && strstr(pp_lasterr(), "not a umT5 encoder"));
    /* bad ids and lengths */
    CHECK(pp_umt5_load(&m, fixture(), 0) == 0);
    float out[64 * 32];
    int32_t ids[2] = {5, c.vocab};
    CHECK(pp_umt5_forward(&m, ids, 2, out) != 0 && strstr(pp_lasterr(), "outside the vocabulary"));
    int lens[1] = {3};
    CHECK(pp_umt5_encode(&m, ids, lens, 1, 2, 4, out) != 0);
    pp_umt5_free(&m);
}

TEST(umt5_thread_count_independent) {
    pp_umt5_config c;
    CHECK(load_cfg(&c) == 0);
    pp_umt5 m;
    CHECK(pp_umt5_init(&m, &c) == 0);
    CHECK_MSG(pp_umt5_load(&m, fixture(), 0) == 0, "%s", pp_lasterr());
    int L = 150, nt = omp_get_max_threads();
    int32_t ids[150];
    for (int i = 0; i < L; i++) ids[i] = (i * 131 + 7) % c.vocab;
    float *a = pp_alloc_floats((size_t)L * c.dim), *b = pp_alloc_floats((size_t)L * c.dim);
    /* 2 and 3 threads: active parallel regions throughout (see test_linear_half.c) */
    omp_set_num_threads(2);
    CHECK(pp_umt5_forward(&m, ids, L, a) == 0);
    omp_set_num_threads(3);
    CHECK(pp_umt5_forward(&m, ids, L, b) == 0);
    omp_set_num_threads(nt);
    CHECK(memcmp(a, b, (size_t)L * c.dim * sizeof(float)) == 0);
    pp_free_aligned(a), pp_free_aligned(b);
    pp_umt5_free(&m);
}
