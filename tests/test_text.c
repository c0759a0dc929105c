/* test_text.c - the tokenizer and the small text encoder */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/params.h"
#include "base/rng.h"
#include "test.h"
#include "text/text_encoder.h"
#include "text/tokenizer.h"

/* ---- tokenizer ---------------------------------------------------------- */

static void small_vocab(pp_vocab *v) {
    const char *t[] = {"a red ball is thrown to the right and falls", "A blue ball bounces."};
    CHECK(pp_vocab_build(v, t, 2) == 0);
}

static int id_of(const pp_vocab *v, const char *w) { return pp_vocab_lookup(v, w, strlen(w)); }

TEST(tok_case_punctuation_eos_padding) {
    pp_vocab v;
    small_vocab(&v);
    CHECK(v.n == PP_TOK_NSPECIAL + 12);
    CHECK(!strcmp(pp_vocab_word(&v, 0), "<pad>") && !strcmp(pp_vocab_word(&v, 1), "<unk>") &&
          !strcmp(pp_vocab_word(&v, 2), "<eos>"));
    int ids[8];
    pp_tok_report r;
    CHECK(pp_tok_encode(&v, "  A RED-Ball, is...thrown!!", 8, ids, &r) == 0);
    int want[8] = {id_of(&v, "a"), id_of(&v, "red"), id_of(&v, "ball"), id_of(&v, "is"),
                   id_of(&v, "thrown"), PP_TOK_EOS, PP_TOK_PAD, PP_TOK_PAD};
    CHECK(!memcmp(ids, want, sizeof ids));
    CHECK(r.n_words == 5 && r.n_tokens == 6 && !r.truncated && r.n_unknown == 0 && !r.unknown[0]);
    char text[128];
    pp_tok_decode(&v, ids, 8, text, sizeof text);
    CHECK(!strcmp(text, "a red ball is thrown"));
    pp_vocab_free(&v);
}

TEST(tok_unknown_words_reported) {
    pp_vocab v;
    small_vocab(&v);
    int ids[12];
    pp_tok_report r;
    CHECK(pp_tok_encode(&v, "a Purple ball foo purple foobar CAFÉ café", 12, ids, &r) == 0);
    CHECK(ids[0] == id_of(&v, "a") && ids[1] == PP_TOK_UNK && ids[2] == id_of(&v, "ball"));
    CHECK(ids[3] == PP_TOK_UNK && ids[4] == PP_TOK_UNK && ids[5] == PP_TOK_UNK);
    CHECK(ids[6] == PP_TOK_UNK && ids[7] == PP_TOK_UNK && ids[8] == PP_TOK_EOS);
    /* non-ASCII bytes stay inside the word (only ASCII is lowercased) */
    CHECK(r.n_unknown == 6);
    CHECK_MSG(!strcmp(r.unknown, "purple, foo, foobar, cafÉ, café"), "unknown = '%s'", r.unknown);
    /* a long list is cut with "..." but still counted */
    char many[2048] = "";
    for (int i = 0; i < 100; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "zz%d ", i);
    CHECK(pp_tok_encode(&v, many, 12, ids, &r) == 0);
    CHECK(r.n_unknown == 100 && r.truncated);
    size_t ul = strlen(r.unknown);
    CHECK(ul < sizeof r.unknown && ul >= 3 && !strcmp(r.unknown + ul - 3, "..."));
    pp_vocab_free(&v);
}

TEST(tok_truncation_flag) {
    pp_vocab v;
    small_vocab(&v);
    int ids[4];
    pp_tok_report r;
    CHECK(pp_tok_encode(&v, "a red ball", 4, ids, &r) == 0); /* 3 words + eos = L: fits */
    CHECK(!r.truncated && r.n_tokens == 4 && ids[3] == PP_TOK_EOS);
    CHECK(pp_tok_encode(&v, "a red ball is thrown", 4, ids, &r) == 0);
    CHECK(r.truncated && r.n_words == 5 && r.n_tokens == 4);
    CHECK(ids[0] == id_of(&v, "a") && ids[2] == id_of(&v, "ball") && ids[3] == PP_TOK_EOS);
    CHECK(pp_tok_encode(&v, "a", 0, ids, &r) != 0);
    pp_vocab_free(&v);
}

TEST(tok_empty_prompt_is_error) {
    pp_vocab v;
    small_vocab(&v);
    int ids[4] = {9, 9, 9, 9};
    pp_tok_report r;
    CHECK(pp_tok_encode(&v, "", 4, ids, &r) != 0);
    CHECK(strstr(pp_lasterr(), "empty prompt") != NULL);
    CHECK(ids[0] == PP_TOK_EOS && ids[1] == PP_TOK_PAD && ids[3] == PP_TOK_PAD);
    CHECK(pp_tok_encode(&v, "  ,.!? \t\n", 4, ids, &r) != 0 && r.n_words == 0);
    CHECK(pp_tok_encode(&v, NULL, 4, ids, NULL) != 0);
    pp_vocab_free(&v);
}

TEST(tok_vocab_build_deterministic) {
    const char *a[] = {"ball red", "A ball falls", "the ball"}, *b[] = {"the ball", "falls a", "RED ball!"};
    pp_vocab va, vb;
    CHECK(pp_vocab_build(&va, a, 3) == 0 && pp_vocab_build(&vb, b, 3) == 0);
    char *sa = pp_vocab_serialize(&va, NULL), *sb = pp_vocab_serialize(&vb, NULL);
    CHECK(!strcmp(sa, sb));
    CHECK_MSG(!strcmp(sa, "<pad>\n<unk>\n<eos>\na\nball\nfalls\nred\nthe"), "got '%s'", sa);
    free(sa), free(sb);
    pp_vocab_free(&va), pp_vocab_free(&vb);
    char longw[100];
    memset(longw, 'x', 99), longw[99] = 0;
    const char *bad[] = {longw};
    CHECK(pp_vocab_build(&va, bad, 1) != 0 && strstr(pp_lasterr(), "longer") != NULL);
}

TEST(tok_vocab_roundtrip) {
    pp_vocab v, w;
    small_vocab(&v);
    size_t len;
    char *s = pp_vocab_serialize(&v, &len);
    CHECK(len == strlen(s));
    CHECK(pp_vocab_parse(&w, s, len) == 0);
    CHECK(w.n == v.n);
    for (int i = 0; i < v.n && i < w.n; i++) CHECK(!strcmp(v.words[i], w.words[i]));
    char *s2 = pp_vocab_serialize(&w, NULL);
    CHECK(!strcmp(s, s2));
    pp_vocab_free(&w);
    /* one trailing newline is tolerated */
    char *s3 = pp_malloc(len + 2);
    memcpy(s3, s, len), s3[len] = '\n', s3[len + 1] = 0;
    CHECK(pp_vocab_parse(&w, s3, len + 1) == 0 && w.n == v.n);
    int a[6], b[6];
    CHECK(pp_tok_encode(&v, "a blue ball bounces", 6, a, NULL) == 0);
    CHECK(pp_tok_encode(&w, "a blue ball bounces", 6, b, NULL) == 0);
    CHECK(!memcmp(a, b, sizeof a));
    free(s), free(s2), free(s3);
    pp_vocab_free(&v), pp_vocab_free(&w);
}

static void expect_malformed(const char *s, size_t len, const char *what) {
    pp_vocab v;
    int rc = pp_vocab_parse(&v, s, len);
    CHECK_MSG(rc != 0, "malformed vocabulary (%s) accepted", what);
    CHECK_MSG(strstr(pp_lasterr(), "malformed vocabulary") != NULL, "%s: error '%s'", what, pp_lasterr());
    CHECK(v.n == 0 && v.words == NULL);
    if (rc == 0) pp_vocab_free(&v);
}

TEST(tok_vocab_malformed_rejected) {
    const char *cases[][2] = {
        {"", "empty"},
        {"<pad>\n<unk>", "missing <eos>"},
        {"<unk>\n<pad>\n<eos>\nred", "specials out of order"},
        {"<pad>\n<unk>\n<eos>\nRed", "upper case"},
        {"<pad>\n<unk>\n<eos>\nred\nball\nred", "duplicate"},
        {"<pad>\n<unk>\n<eos>\n\nred", "empty line"},
        {"<pad>\n<unk>\n<eos>\nred ball", "space"},
        {"<pad>\n<unk>\n<eos>\nred,", "punctuation"},
        {"<pad>\r\n<unk>\r\n<eos>", "CRLF"},
        {"<pad>\n<unk>\n<eos>\n<eos>", "special repeated"},
        {"<pad>\n<unk>\n<eos>\nred\n\n", "two trailing newlines"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_malformed(cases[i][0], strlen(cases[i][0]), cases[i][1]);
    const char nul[] = "<pad>\n<unk>\n<eos>\nre\0d";
    expect_malformed(nul, sizeof nul - 1, "NUL byte");
    pp_vocab v;
    CHECK(pp_vocab_parse(&v, "<pad>\n<unk>\n<eos>", 17) == 0 && v.n == 3); /* specials only: ok */
    pp_vocab_free(&v);
}

/* ---- text encoder ------------------------------------------------------- */

typedef struct {
    pp_text_encoder e;
    pp_params t;
    float *P, *G;
    pp_text_acts a;
} enc_fixture;

static void fx_make(enc_fixture *f, pp_text_config c, int Bmax, uint64_t seed, float jitter) {
    memset(f, 0, sizeof *f);
    CHECK(pp_text_encoder_create(&f->e, &c, &f->t) == 0);
    f->P = pp_zalloc_floats(f->t.total);
    f->G = pp_zalloc_floats(f->t.total);
    pp_rng rng;
    pp_rng_seed(&rng, seed);
    pp_text_encoder_init(&f->e, f->P, &rng);
    /* jitter every parameter so LayerNorm affines, biases and attention are all
     * exercised away from their init values */
    for (size_t i = 0; i < f->t.total; i++) f->P[i] += jitter * pp_rng_normal(&rng);
    pp_text_acts_alloc(&f->a, &c, Bmax);
}

static void fx_free(enc_fixture *f) {
    pp_text_acts_free(&f->a);
    pp_free_aligned(f->P), pp_free_aligned(f->G);
    pp_text_encoder_free(&f->e);
    pp_params_free(&f->t);
}

/* loss = sum(out * R), accumulated in double */
static double proj_loss(enc_fixture *f, const int *ids, int B, const float *R) {
    size_t n = (size_t)B * f->e.cfg.ctx * f->e.cfg.dim;
    CHECK(pp_text_encoder_forward(&f->e, f->P, ids, B, NULL, &f->a) == 0);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)f->a.out[i] * R[i];
    return s;
}

/* Central differences on sampled entries of every tensor; returns the worst
 * error in units of the tolerance (< 1 passes). */
static double grad_check(enc_fixture *f, const int *ids, int B, const float *R, int per_tensor,
                         pp_rng *rng) {
    memset(f->G, 0, f->t.total * sizeof *f->G);
    proj_loss(f, ids, B, R);
    pp_text_encoder_backward(&f->e, f->P, f->G, R, &f->a);
    double worst = 0;
    const float eps = 1e-2f;
    int d = f->e.cfg.dim, BL = B * f->e.cfg.ctx;
    for (int ti = 0; ti < f->t.n; ti++) {
        const pp_param *p = &f->t.p[ti];
        int is_tok = strstr(p->name, "token_embedding") != NULL;
        for (int s = 0; s < per_tensor; s++) {
            size_t j = pp_rng_below(rng, (uint32_t)p->numel);
            if (is_tok) /* sample rows that the batch uses (other rows have zero gradient) */
                j = (size_t)ids[pp_rng_below(rng, (uint32_t)BL)] * d + pp_rng_below(rng, (uint32_t)d);
            float *x = f->P + p->offset + j, x0 = *x;
            *x = x0 + eps;
            double lp = proj_loss(f, ids, B, R);
            *x = x0 - eps;
            double lm = proj_loss(f, ids, B, R);
            *x = x0;
            double fd = (lp - lm) / (2 * eps), an = f->G[p->offset + j];
            /* float32 forward: the central difference has ~2e-4 absolute noise
             * (seen on attn.k.bias, whose true gradient is 0) */
            double err = fabs(fd - an) / (1e-3 + 1e-2 * (fabs(fd) + fabs(an)));
            CHECK_MSG(err < 1, "%s[%zu]: analytic %.6g, numeric %.6g", p->name, j, an, fd);
            if (err > worst) worst = err;
        }
    }
    return worst;
}

static const int k_ids[3 * 8] = {
    5, 9, 3, 2, 0, 0, 0, 0,  /* 3 words, eos, pads */
    4, 4, 7, 11, 6, 3, 8, 2, /* full: no pad */
    1, 2, 0, 0, 0, 0, 0, 0,  /* <unk>, eos */
};

static void run_grad_check(int zero_pads) {
    pp_text_config c = {.vocab = 12, .dim = 16, .heads = 2, .layers = 2, .ctx = 8, .zero_pads = zero_pads};
    enc_fixture f;
    fx_make(&f, c, 3, 7, 0.15f);
    pp_rng rng;
    pp_rng_seed(&rng, 11);
    float R[3 * 8 * 16];
    pp_rng_fill_normal(&rng, R, sizeof R / sizeof R[0], 1.0f);
    grad_check(&f, k_ids, 3, R, 4, &rng);
    /* rows of the token embedding that no token uses get no gradient */
    const float *dtok = f.G + f.e.tok_emb;
    for (int i = 0; i < 16; i++) CHECK(dtok[10 * 16 + i] == 0.0f);
    if (zero_pads) /* masked keys and zeroed outputs: <pad> embeds get nothing */
        for (int i = 0; i < 16; i++) CHECK(dtok[i] == 0.0f);
    fx_free(&f);
}

TEST(text_encoder_gradcheck_zero_pads) { run_grad_check(1); }
TEST(text_encoder_gradcheck_keep_pad_rows) { run_grad_check(0); }

TEST(text_encoder_param_names) {
    pp_text_config c = {.vocab = 30, .dim = 32, .heads = 4, .layers = 3, .ctx = 16, .zero_pads = 1};
    pp_text_encoder e;
    pp_params t = {0};
    CHECK(pp_text_encoder_create(&e, &c, &t) == 0);
    CHECK(t.n == 2 + 16 * 3 + 2);
    const pp_param *p = pp_params_find(&t, "text_encoder.token_embedding.weight");
    CHECK(p && p->shape[0] == 30 && p->shape[1] == 32 && p->decay);
    p = pp_params_find(&t, "text_encoder.position_embedding.weight");
    CHECK(p && p->shape[0] == 16 && p->shape[1] == 32);
    p = pp_params_find(&t, "text_encoder.blocks.2.attn.q.weight");
    CHECK(p && p->ndim == 2 && p->shape[0] == 32 && p->offset == e.blk[2].q_w);
    p = pp_params_find(&t, "text_encoder.blocks.0.ffn.0.weight");
    CHECK(p && p->shape[0] == 128 && p->shape[1] == 32);
    p = pp_params_find(&t, "text_encoder.blocks.1.ffn.2.bias");
    CHECK(p && p->ndim == 1 && p->shape[0] == 32 && !p->decay);
    CHECK(pp_params_find(&t, "text_encoder.blocks.1.norm2.weight") != NULL);
    CHECK(pp_params_find(&t, "text_encoder.norm.bias") != NULL);
    size_t numel = 0;
    for (int i = 0; i < t.n; i++) numel += t.p[i].numel;
    size_t d = 32, want = 30 * d + 16 * d + 3 * (4 * (d * d + d) + 4 * d + 8 * d * d + 5 * d) + 2 * d;
    CHECK(numel == want);
    pp_text_encoder_free(&e);
    pp_params_free(&t);
    pp_params t2 = {0};
    pp_text_config bad = c;
    bad.heads = 5;
    CHECK(pp_text_encoder_create(&e, &bad, &t2) != 0 && strstr(pp_lasterr(), "divisible"));
    bad = c, bad.vocab = 3;
    CHECK(pp_text_encoder_create(&e, &bad, &t2) != 0);
    pp_params_free(&t2);
}

TEST(text_encoder_pad_masking) {
    pp_text_config c = {.vocab = 12, .dim = 16, .heads = 2, .layers = 2, .ctx = 8, .zero_pads = 0};
    enc_fixture f;
    fx_make(&f, c, 3, 3, 0.1f);
    size_t n = 3 * 8 * 16;
    float *o1 = malloc(n * sizeof *o1), *o2 = malloc(n * sizeof *o2);
    CHECK(pp_text_encoder_forward(&f.e, f.P, k_ids, 3, o1, &f.a) == 0);
    for (int i = 0; i < 16; i++) f.P[f.e.tok_emb + i] += 1.0f; /* move the <pad> embedding */
    CHECK(pp_text_encoder_forward(&f.e, f.P, k_ids, 3, o2, &f.a) == 0);
    int same = 1, pads_moved = 0;
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < 8; t++) {
            const float *r1 = o1 + (b * 8 + t) * 16, *r2 = o2 + (b * 8 + t) * 16;
            int changed = memcmp(r1, r2, 16 * sizeof *r1) != 0;
            if (k_ids[b * 8 + t] == 0) pads_moved |= changed;
            else same &= !changed;
        }
    CHECK(same);      /* bitwise: pad keys never enter a non-pad row */
    CHECK(pads_moved); /* zero_pads = 0: pad rows are real outputs */
    /* zero_pads = 1: pad output rows are exactly zero */
    f.e.cfg.zero_pads = 1;
    CHECK(pp_text_encoder_forward(&f.e, f.P, k_ids, 3, o2, &f.a) == 0);
    for (int i = 0; i < 24; i++)
        if (k_ids[i] == 0)
            for (int j = 0; j < 16; j++) CHECK(o2[i * 16 + j] == 0.0f);
    /* a sequence encodes the same alone as in a batch */
    float *o3 = malloc(8 * 16 * sizeof *o3);
    CHECK(pp_text_encoder_forward(&f.e, f.P, k_ids + 8, 1, o3, &f.a) == 0);
    CHECK(pp_rel_err(o3, o2 + 8 * 16, 8 * 16) < 1e-5);
    free(o1), free(o2), free(o3);
    fx_free(&f);
}

TEST(text_encoder_deterministic_and_bad_input) {
    pp_text_config c = {.vocab = 12, .dim = 16, .heads = 4, .layers = 2, .ctx = 8, .zero_pads = 1};
    enc_fixture f, g;
    fx_make(&f, c, 3, 5, 0.0f);
    fx_make(&g, c, 3, 5, 0.0f);
    CHECK(!memcmp(f.P, g.P, f.t.total * sizeof *f.P));
    size_t n = 3 * 8 * 16;
    float *R = malloc(n * sizeof *R);
    pp_rng rng;
    pp_rng_seed(&rng, 1);
    pp_rng_fill_normal(&rng, R, n, 1.0f);
    for (int rep = 0; rep < 2; rep++) {
        enc_fixture *x = rep ? &g : &f;
        CHECK(pp_text_encoder_forward(&x->e, x->P, k_ids, 3, NULL, &x->a) == 0);
        pp_text_encoder_backward(&x->e, x->P, x->G, R, &x->a);
    }
    CHECK(!memcmp(f.a.out, g.a.out, n * sizeof *R));
    CHECK(!memcmp(f.G, g.G, f.t.total * sizeof *f.G));
    /* the output is LayerNorm'ed: finite, unit scale at init */
    double ss = 0;
    for (size_t i = 0; i < 8 * 16; i++) ss += (double)f.a.out[8 * 16 + i] * f.a.out[8 * 16 + i];
    CHECK_NEAR(ss / (8 * 16), 1.0, 0.05); /* eps 1e-5 vs a small init variance */
    int bad[8] = {3, 12, 2, 0, 0, 0, 0, 0};
    CHECK(pp_text_encoder_forward(&f.e, f.P, bad, 1, NULL, &f.a) != 0);
    CHECK(strstr(pp_lasterr(), "token id 12") != NULL);
    bad[1] = -1;
    CHECK(pp_text_encoder_forward(&f.e, f.P, bad, 1, NULL, &f.a) != 0);
    CHECK(pp_text_encoder_forward(&f.e, f.P, k_ids, 4, NULL, &f.a) != 0); /* > Bmax */
    free(R);
    fx_free(&f), fx_free(&g);
}
