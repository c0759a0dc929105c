/* test_optim.c - AdamW's learning-rate schedule: linear warmup, then constant or a
 * cosine from lr to lr/10. */
#include <math.h>
#include "nn/optim.h"
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
