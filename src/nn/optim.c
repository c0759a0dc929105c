/* optim.c - see optim.h. The update matches torch.optim.AdamW:
 *   p *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr/(1-b1^k) * m / (sqrt(v)/sqrt(1-b2^k) + eps)                        */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "nn/optim.h"

pp_adamw_config pp_adamw_defaults(void) {
    pp_adamw_config c = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                         .weight_decay = 0.01f, .clip_norm = 1.0f, .warmup = 0, .ema_decay = 0.0f};
    return c;
}

void pp_adamw_init(pp_adamw *o, const pp_adamw_config *cfg, size_t n, const float *params) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = n;
    o->m = pp_zalloc_floats(n);
    o->v = pp_zalloc_floats(n);
    if (cfg->ema_decay > 0) {
        o->ema = pp_alloc_floats(n);
        memcpy(o->ema, params, n * sizeof(float));
    }
}

void pp_adamw_free(pp_adamw *o) {
    pp_free_aligned(o->m);
    pp_free_aligned(o->v);
    pp_free_aligned(o->ema);
    memset(o, 0, sizeof *o);
}

int pp_adamw_config_check(const pp_adamw_config *c) {
    if (c->decay_steps > 0 && c->decay_steps <= c->warmup)
        PP_FAIL("lr decay: it ends at step %ld, within the %d warmup steps, so it would never apply (end it "
                "after the warmup, or use 0 for a constant lr)", c->decay_steps, c->warmup);
    return 0;
}

float pp_adamw_lr(const pp_adamw *o) {
    long k = o->step + 1;
    if (o->cfg.warmup > 0 && k < o->cfg.warmup) return o->cfg.lr * (float)k / (float)o->cfg.warmup;
    long d = o->cfg.decay_steps, w = o->cfg.warmup > 0 ? o->cfg.warmup : 0;
    if (d > w) { /* cosine from lr to lr/10 over [warmup, decay_steps] */
        double u = k >= d ? 1.0 : (double)(k - w) / (double)(d - w);
        return (float)(o->cfg.lr * (0.1 + 0.45 * (1.0 + cos(3.14159265358979323846 * u))));
    }
    return o->cfg.lr;
}

double pp_grad_norm(const float *g, size_t n) {
    double s = 0.0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

static void adamw_tensor(pp_adamw *o, float *p, const float *g, float *m, float *v, size_t n, float lr,
                         float wd, float gscale) {
    const pp_adamw_config *c = &o->cfg;
    float bc1 = 1.0f - powf(c->beta1, (float)o->step), bc2 = 1.0f - powf(c->beta2, (float)o->step);
    float step_size = lr / bc1, rbc2 = 1.0f / sqrtf(bc2), decay = 1.0f - lr * wd;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * gscale;
        m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * gi;
        v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * gi * gi;
        p[i] = p[i] * decay - step_size * m[i] / (sqrtf(v[i]) * rbc2 + c->eps);
    }
}

/* Norm over the trainable tensors only. */
static double trainable_norm(const pp_params *t, const float *g) {
    double s = 0.0;
    for (int i = 0; i < t->n; i++)
        if (!t->p[i].frozen) {
            double n = pp_grad_norm(g + t->p[i].offset, t->p[i].numel);
            s += n * n;
        }
    return sqrt(s);
}

int pp_adamw_step(pp_adamw *o, const pp_params *t, float *params, float *grads, double *norm_out) {
    double norm = trainable_norm(t, grads);
    if (norm_out) *norm_out = norm;
    if (!isfinite(norm)) {
        o->skipped++;
        return 1;
    }
    float gscale = 1.0f;
    if (o->cfg.clip_norm > 0) { /* torch.nn.utils.clip_grad_norm_ */
        double coef = o->cfg.clip_norm / (norm + 1e-6);
        if (coef < 1.0) gscale = (float)coef;
    }
    float lr = pp_adamw_lr(o);
    o->step++;
    for (int i = 0; i < t->n; i++) {
        const pp_param *p = &t->p[i];
        if (p->frozen) continue;
        adamw_tensor(o, params + p->offset, grads + p->offset, o->m + p->offset, o->v + p->offset, p->numel,
                     lr, p->decay ? o->cfg.weight_decay : 0.0f, gscale);
    }
    if (o->ema) { /* over the trained tensors: a frozen one's average stays its value, bit for bit */
        float d = o->cfg.ema_decay, u = (float)(o->step - 1); /* this update's index, from 0 */
        if (o->cfg.ema_warmup && (1.0f + u) / (10.0f + u) < d) d = (1.0f + u) / (10.0f + u);
        for (int i = 0; i < t->n; i++) {
            const pp_param *p = &t->p[i];
            if (p->frozen) continue;
            float *e = o->ema + p->offset;
            const float *w = params + p->offset;
#pragma omp parallel for schedule(static) if (p->numel > 65536)
            for (size_t k = 0; k < p->numel; k++) e[k] = d * e[k] + (1.0f - d) * w[k];
        }
    }
    return 0;
}
