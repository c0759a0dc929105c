/* scheduler.h - sampling schedulers for flow-matching models (Wan2.1): Euler and
 * UniPC multistep, with the sigma schedules of diffusers and of Wan's own code.
 *
 * Conventions (Wan2.1, rectified flow): x_sigma = (1 - sigma) x0 + sigma eps, the
 * model sees the timestep t (about 1000 sigma) and predicts v = eps - x0. Sampling
 * walks sigma_0 > sigma_1 > ... > sigma_steps = 0. The scheduler knows nothing about
 * the model: the caller evaluates v at (x, pp_sched_t(s, i)) itself (with guidance
 * or not) and hands v to pp_sched_step, which advances x from sigma_i to sigma_{i+1}.
 *
 *   pp_sched_config c = {.kind = PP_SCHED_UNIPC, .steps = 50, .shift = 5.0f, .order = 2};
 *   pp_sched *s = pp_sched_new(&c, n);            // n floats per sample (all of x)
 *   for (int i = 0; i < pp_sched_steps(s); i++) {
 *       model(x, pp_sched_t(s, i), v);             // v [n]
 *       pp_sched_step(s, i, v, x);                 // x [n] in place
 *   }
 *   pp_sched_free(s);
 *
 * Schedules (steps N, shift S, shifted(u) = S u / (1 + (S - 1) u); the last sigma is 0):
 *  - PP_SIGMAS_UNIPC (diffusers UniPCMultistepScheduler, use_flow_sigmas=True,
 *    flow_shift=S, final_sigmas_type="zero"): u = linspace(1, 1/1000, N+1)[:N] in
 *    float64, sigma = shifted(u), sigma_0 -= 1e-6 when it is within 1e-6 of 1;
 *    t_i = trunc(1000 sigma_i) (an integer, computed before sigma is rounded to float).
 *  - PP_SIGMAS_WAN (Wan2.1's wan/utils/fm_solvers_unipc.py, the original repo's
 *    default sampler): u = linspace(0.999, 0, N+1)[:N] (0.999 as float32), sigma =
 *    shifted(u), t_i = trunc(1000 sigma_i).
 *  - PP_SIGMAS_FM_EULER (diffusers FlowMatchEulerDiscreteScheduler, shift=S): u =
 *    linspace(1, shifted32(1/1000), N) (shifted32: the float32 shift of the training
 *    table), sigma = shifted(u) (so the low end is shifted twice), t_i = float(sigma_i) * 1000
 *    in float32.
 *  - PP_SIGMAS_FLOW (prophy's pp_flow_sigmas in wan/flow.c): u = 1 - i/N in float,
 *    sigma = shifted(u) in float, t_i = 1000 sigma_i in float. sigma_0 = 1.
 * Sigmas are kept as float (as diffusers keeps them); UniPC's coefficients are
 * computed in double from those floats.
 *
 * Solvers:
 *  - PP_SCHED_EULER: x <- x + (sigma_{i+1} - sigma_i) v, in float.
 *  - PP_SCHED_UNIPC: UniPC (Zhao et al. 2023) in diffusers' data-prediction form
 *    (predict_x0=True, prediction_type="flow_prediction"), B(h) = h (bh1) or e^h - 1
 *    (bh2), predictor UniP-p with p = min(order, steps - i, i + 1) (warm-up and
 *    lower_order_final), then at every later step the corrector UniC-p with the
 *    order of the predictor that led there (disable_corrector = []). The formulas are
 *    in docs/SAMPLERS.md. UniPC needs 0 < sigma_0 < 1: schedules PP_SIGMAS_UNIPC or
 *    PP_SIGMAS_WAN. At the last step (sigma = 0) the update is its limit x = x0_pred
 *    (diffusers computes alpha * B(h) * 0 there, which is NaN for bh1 and exactly
 *    x0_pred for bh2). */
#ifndef PP_SCHEDULER_H
#define PP_SCHEDULER_H
#include <stddef.h>

typedef enum { PP_SCHED_EULER = 0, PP_SCHED_UNIPC = 1 } pp_sched_kind;
typedef enum {
    PP_SIGMAS_DEFAULT = 0, /* Euler: PP_SIGMAS_FLOW (prophy's sampler); UniPC: PP_SIGMAS_UNIPC */
    PP_SIGMAS_FLOW,
    PP_SIGMAS_UNIPC,
    PP_SIGMAS_WAN,
    PP_SIGMAS_FM_EULER,
} pp_sigmas_kind;
typedef enum { PP_UNIPC_BH2 = 0, PP_UNIPC_BH1 = 1 } pp_unipc_bh;

typedef struct {
    pp_sched_kind kind;
    pp_sigmas_kind sigmas;
    int steps;      /* >= 1 (Wan2.1-T2V-1.3B: 50) */
    float shift;    /* > 0 (Wan2.1-T2V-1.3B: 5.0; 1 = no shift) */
    int order;      /* UniPC: 1..3 (Wan: 2); Euler: 0 or 1 */
    pp_unipc_bh bh; /* UniPC: PP_UNIPC_BH2 (Wan's) or PP_UNIPC_BH1 */
} pp_sched_config;

typedef struct pp_sched pp_sched;

/* A scheduler for one sampling run over samples of n floats (n >= 1). UniPC keeps
 * order + 2 buffers of n floats (the x0 history, the last sample, a scratch). NULL and one error line on bad input. */
pp_sched *pp_sched_new(const pp_sched_config *c, size_t n);
void pp_sched_free(pp_sched *s);
/* Rewinds to step 0 (forgets UniPC's history) for another run with the same schedule. */
void pp_sched_reset(pp_sched *s);

int pp_sched_steps(const pp_sched *s);
/* The timestep (0..1000) the model sees at step i, 0 <= i < steps; NaN outside. */
float pp_sched_t(const pp_sched *s, int i);
/* sigma_i, 0 <= i <= steps (sigma_steps = 0); NaN outside. */
float pp_sched_sigma(const pp_sched *s, int i);

/* Advances x [n] in place from sigma_i to sigma_{i+1}, given the model's flow
 * prediction v [n] = eps - x0 at (x, pp_sched_t(s, i)). Steps must come in order
 * 0, 1, ..., steps - 1 (UniPC is multistep); -1 and an error line otherwise.
 * v and x must not overlap. */
int pp_sched_step(pp_sched *s, int i, const float *v, float *x);

/* Parsers for command-line values: "euler" / "unipc"; "default", "flow", "unipc",
 * "wan", "fm-euler"; "bh1" / "bh2". -1 and an error line on anything else. */
int pp_sched_kind_parse(const char *s, pp_sched_kind *out);
int pp_sigmas_kind_parse(const char *s, pp_sigmas_kind *out);
int pp_unipc_bh_parse(const char *s, pp_unipc_bh *out);
#endif
