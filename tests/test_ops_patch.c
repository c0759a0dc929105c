/* test_ops_patch.c - patchify / unpatchify index layouts, round trips and adjoints. */
#include "base/common.h"
#include "nn/ops.h"
#include "test_ops_util.h"
#include "test.h"

enum { B = 2, C = 3, F = 4, Hh = 6, W = 4, PT = 2, PH = 3, PW = 2 };
#define NTOK ((F / PT) * (Hh / PH) * (W / PW))
#define P (PT * PH * PW)
#define NX ((size_t)B * C * F * Hh * W)

static size_t xidx(int b, int c, int f, int h, int w) {
    return ((((size_t)b * C + c) * F + f) * Hh + h) * W + w;
}

/* token n of (f,h,w) grid order and kernel offsets -> video index */
static size_t vid(int b, int n, int c, int kt, int kh, int kw) {
    int gh = Hh / PH, gw = W / PW, fi = n / (gh * gw), hi = n / gw % gh, wi = n % gw;
    return xidx(b, c, fi * PT + kt, hi * PH + kh, wi * PW + kw);
}

TEST(ops_patchify_layout_roundtrip_adjoint) {
    float *x = randn(NX, 91), *tok = zeros(NX), *x2 = zeros(NX);
    pp_patchify(tok, x, B, C, F, Hh, W, PT, PH, PW);
    int ok = 1; /* features in (c,kt,kh,kw) order */
    for (int b = 0; b < B; b++)
        for (int n = 0; n < NTOK; n++)
            for (int c = 0; c < C; c++)
                for (int kt = 0; kt < PT; kt++)
                    for (int kh = 0; kh < PH; kh++)
                        for (int kw = 0; kw < PW; kw++) {
                            size_t t = ((size_t)b * NTOK + n) * C * P + ((c * PT + kt) * PH + kh) * PW + kw;
                            ok &= tok[t] == x[vid(b, n, c, kt, kh, kw)];
                        }
    CHECK(ok);
    pp_patchify_backward(x2, tok, B, C, F, Hh, W, PT, PH, PW); /* adjoint of a permutation */
    CHECK(pp_rel_err(x2, x, NX) == 0);
    pp_patchify_backward(x2, tok, B, C, F, Hh, W, PT, PH, PW); /* accumulates */
    scale_buf(x2, 0.5f, NX);
    CHECK(pp_rel_err(x2, x, NX) == 0);
    free_all(3, x, tok, x2);
}

TEST(ops_unpatchify_layout_roundtrip_adjoint) {
    float *tok = randn(NX, 92), *x = randn(NX, 93), *tok2 = zeros(NX);
    pp_unpatchify(x, tok, B, C, F, Hh, W, PT, PH, PW);
    int ok = 1; /* features in (kt,kh,kw,c) order */
    for (int b = 0; b < B; b++)
        for (int n = 0; n < NTOK; n++)
            for (int kt = 0; kt < PT; kt++)
                for (int kh = 0; kh < PH; kh++)
                    for (int kw = 0; kw < PW; kw++)
                        for (int c = 0; c < C; c++) {
                            size_t t = ((size_t)b * NTOK + n) * C * P + ((kt * PH + kh) * PW + kw) * C + c;
                            ok &= x[vid(b, n, c, kt, kh, kw)] == tok[t];
                        }
    CHECK(ok);
    pp_unpatchify_backward(tok2, x, B, C, F, Hh, W, PT, PH, PW);
    CHECK(pp_rel_err(tok2, tok, NX) == 0);
    pp_unpatchify_backward(tok2, x, B, C, F, Hh, W, PT, PH, PW);
    scale_buf(tok2, 0.5f, NX);
    CHECK(pp_rel_err(tok2, tok, NX) == 0);
    /* patchify then unpatchify permutes features only: (c,k) -> (k,c) */
    float *t1 = zeros(NX), *x3 = zeros(NX);
    pp_patchify(t1, x, B, C, F, Hh, W, PT, PH, PW);
    for (size_t r = 0; r < (size_t)B * NTOK; r++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < P; p++) tok2[r * C * P + p * C + c] = t1[r * C * P + c * P + p];
    pp_unpatchify(x3, tok2, B, C, F, Hh, W, PT, PH, PW);
    CHECK(pp_rel_err(x3, x, NX) == 0);
    free_all(5, tok, x, tok2, t1, x3);
}
