/* test_optim.c - AdamW's learning-rate schedule: linear warmup, then constant or a
 * cosine from lr to lr/10; the weight average and frozen tensors. */
#include <math.h>
#include <string.h>
#include "base/common.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "test.h"

TEST(optim_lr_warmup_and_cosine) {
    pp_adamw_config c = pp_adamw_defaults();
    c.lr = 1e-3f, c.warmup = 10;
    float p = 0;
    pp_adamw o;
    pp_adamw_init(&o, &c, 1, &p);
    o.step = 4; /* the 5th step: 5/10 of lr */
    CHECK_NEAR(pp_adamw_lr(&o), 5e-4, 1e-9);
    o.step = 500;
    CHECK_NEAR(pp_adamw_lr(&o), 1e-3, 1e-9); /* no decay: constant */
    o.cfg.decay_steps = 110;                  /* cosine over steps 10 .. 110 */
    o.step = 9;
    CHECK_NEAR(pp_adamw_lr(&o), 1e-3, 1e-9);
    o.step = 59; /* halfway: lr * (0.1 + 0.9 / 2) */
    CHECK_NEAR(pp_adamw_lr(&o), 5.5e-4, 1e-9);
    o.step = 109;
    CHECK_NEAR(pp_adamw_lr(&o), 1e-4, 1e-9);
    o.step = 1000;
    CHECK_NEAR(pp_adamw_lr(&o), 1e-4, 1e-9);
    pp_adamw_free(&o);
}

/* the weight average leaves a frozen tensor bit for bit as it is (d w + (1 - d) w
 * need not round back to w), and averages the others */
TEST(optim_ema_skips_frozen_tensors) {
    pp_params t = {0};
    int64_t n = 40;
    size_t a = pp_params_add(&t, "a.w", 1, &n), b = pp_params_add(&t, "b.w", 1, &n);
    float *p = pp_zalloc_floats(t.total), *g = pp_zalloc_floats(t.total);
    for (int i = 0; i < n; i++) p[a + i] = p[b + i] = 0.1f + 0.37f * i, g[a + i] = g[b + i] = 1.0f;
    CHECK(pp_params_freeze(&t, "a.", 1) == 1);
    pp_adamw_config c = pp_adamw_defaults();
    c.ema_decay = 0.9f, c.weight_decay = 0;
    pp_adamw o;
    pp_adamw_init(&o, &c, t.total, p);
    float a0[40];
    memcpy(a0, p + a, sizeof a0);
    for (int s = 0; s < 5; s++) CHECK(pp_adamw_step(&o, &t, p, g, NULL) == 0);
    CHECK(memcmp(o.ema + a, a0, sizeof a0) == 0 && memcmp(p + a, a0, sizeof a0) == 0);
    CHECK(o.ema[b] != p[b] && o.ema[b] != a0[0]); /* b moved, and its average lags */
    pp_adamw_free(&o);
    pp_free_aligned(p), pp_free_aligned(g);
    pp_params_free(&t);
}

/* the EMA's warm-up: update t uses min(decay, (1 + t) / (10 + t)), so after the
 * first update the average is 1/10 the initial weights, 9/10 the new ones; without
 * it the initial weights keep decay^t of the average */
TEST(optim_ema_warmup) {
    pp_params t = {0};
    int64_t n = 1;
    pp_params_add(&t, "w", 1, &n);
    for (int warm = 0; warm < 2; warm++) {
        float p = 2.0f, g = 1.0f;
        pp_adamw_config c = pp_adamw_defaults();
        c.ema_decay = 0.999f, c.weight_decay = 0, c.ema_warmup = warm;
        pp_adamw o;
        pp_adamw_init(&o, &c, t.total, &p);
        CHECK(pp_adamw_step(&o, &t, &p, &g, NULL) == 0);
        double d = warm ? 0.1 : 0.999, want = d * 2.0 + (1.0 - d) * p;
        CHECK_NEAR(o.ema[0], want, 1e-6);
        double e = o.ema[0], w1 = p;
        CHECK(pp_adamw_step(&o, &t, &p, &g, NULL) == 0); /* t = 1: 2/11 */
        d = warm ? 2.0 / 11.0 : 0.999;
        CHECK_NEAR(o.ema[0], d * e + (1.0 - d) * p, 1e-6);
        CHECK(p != w1);
        pp_adamw_free(&o);
    }
    pp_params_free(&t);
}
