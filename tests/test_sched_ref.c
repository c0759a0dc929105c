/* test_sched_ref.c - the schedulers of wan/scheduler.c against diffusers 0.42
 * (fixture written by tools/make_sched_fixture.py; see docs/SAMPLERS.md), and the
 * Euler scheduler against a hand-written Euler loop over pp_flow_sigmas.
 * Timesteps and sigmas must be bitwise equal; samples within REL_TOL (relative L2)
 * of diffusers' float64 run (UniPC) or its float32 run (Euler), and UniPC also of
 * diffusers' float32 run as shipped. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "wan/flow.h"
#include "wan/scheduler.h"
#include "test.h"

#define REL_TOL 1e-5

typedef struct {
    double a, b;
} toy;

/* v = tanh(a x) (t / 1000) + b x, in double, rounded to float */
static void toy_model(const toy *m, const float *x, float t, float *v, size_t n) {
    double tt = (double)t / 1000.0;
    for (size_t j = 0; j < n; j++) {
        double xj = x[j];
        v[j] = (float)(tanh(m->a * xj) * tt + m->b * xj);
    }
}

static const char *jstr(const cJSON *o, const char *k) { return cJSON_GetStringValue(cJSON_GetObjectItem(o, k)); }
static double jnum(const cJSON *o, const char *k) { return cJSON_GetNumberValue(cJSON_GetObjectItem(o, k)); }

/* loads tensor `name` of exactly numel floats; 0 if absent */
static float *load(const pp_st_file *f, const char *name, size_t numel) {
    const pp_st_tensor *t = pp_st_find(f, name);
    if (!t) return NULL;
    CHECK_MSG(t->numel == numel, "%s: %llu floats, expected %zu", name, (unsigned long long)t->numel, numel);
    if (t->numel != numel) return NULL;
    float *d = pp_malloc(numel * sizeof(float));
    CHECK(pp_st_to_f32(f, t, d) == 0);
    return d;
}

typedef struct {
    double unipc, unipc_f32, euler;
    const char *unipc_at, *unipc_f32_at, *euler_at;
} worst;

static void note(double e, double *w, const char **at, const char *name) {
    if (e > *w) *w = e, *at = name;
}

static void run_config(const pp_st_file *f, const cJSON *cfg, const toy *m, const float *noise, size_t n,
                       worst *w) {
    const char *name = jstr(cfg, "name");
    pp_sched_config c = {0};
    CHECK(pp_sched_kind_parse(jstr(cfg, "kind"), &c.kind) == 0);
    CHECK(pp_sigmas_kind_parse(jstr(cfg, "sigmas"), &c.sigmas) == 0);
    c.steps = (int)jnum(cfg, "steps");
    c.shift = (float)jnum(cfg, "shift");
    c.order = (int)jnum(cfg, "order");
    if (c.kind == PP_SCHED_UNIPC) CHECK(pp_unipc_bh_parse(jstr(cfg, "bh"), &c.bh) == 0);
    pp_sched *s = pp_sched_new(&c, n);
    CHECK_MSG(s, "%s: %s", name, pp_lasterr());
    if (!s) return;
    int N = c.steps;
    char key[160];
    snprintf(key, sizeof key, "%s.timesteps", name);
    float *ts = load(f, key, (size_t)N);
    snprintf(key, sizeof key, "%s.sigmas", name);
    float *sg = load(f, key, (size_t)N + 1);
    snprintf(key, sizeof key, "%s.final", name);
    float *fin = load(f, key, n);
    snprintf(key, sizeof key, "%s.final_f32", name);
    float *fin32 = load(f, key, n);
    snprintf(key, sizeof key, "%s.samples", name);
    float *all = load(f, key, (size_t)(N + 1) * n);
    CHECK_MSG(ts && sg && fin, "%s: missing reference tensors", name);
    CHECK(pp_sched_steps(s) == N);
    for (int i = 0; ts && i < N; i++)
        CHECK_MSG(pp_sched_t(s, i) == ts[i], "%s: t[%d] = %.9g, diffusers %.9g", name, i, (double)pp_sched_t(s, i),
                  (double)ts[i]);
    for (int i = 0; sg && i <= N; i++)
        CHECK_MSG(pp_sched_sigma(s, i) == sg[i], "%s: sigma[%d] = %.9g, diffusers %.9g", name, i,
                  (double)pp_sched_sigma(s, i), (double)sg[i]);
    float *x = pp_malloc(n * sizeof(float)), *v = pp_malloc(n * sizeof(float));
    memcpy(x, noise, n * sizeof(float));
    for (int i = 0; i < N; i++) {
        toy_model(m, x, pp_sched_t(s, i), v, n);
        CHECK(pp_sched_step(s, i, v, x) == 0);
        if (all) {
            double e = pp_rel_err(x, all + (size_t)(i + 1) * n, n);
            CHECK_MSG(e <= REL_TOL, "%s: step %d relative error %.3g", name, i, e);
        }
    }
    if (fin) {
        double e = pp_rel_err(x, fin, n);
        CHECK_MSG(e <= REL_TOL, "%s: final relative error %.3g", name, e);
        if (c.kind == PP_SCHED_UNIPC) note(e, &w->unipc, &w->unipc_at, name);
        else note(e, &w->euler, &w->euler_at, name);
    }
    if (fin32) {
        double e = pp_rel_err(x, fin32, n);
        CHECK_MSG(e <= REL_TOL, "%s: final relative error against diffusers float32 %.3g", name, e);
        note(e, &w->unipc_f32, &w->unipc_f32_at, name);
    }
    free(ts), free(sg), free(fin), free(fin32), free(all), free(x), free(v);
    pp_sched_free(s);
}

TEST(sched_ref_diffusers) {
    char path[512];
    snprintf(path, sizeof path, "%s/sched_ref.safetensors", pp_fixture_dir());
    pp_st_file f;
    CHECK_MSG(pp_st_open(&f, path) == 0, "%s", pp_lasterr());
    if (pp_test_failed()) return;
    cJSON *mj = cJSON_Parse(pp_st_meta(&f, "model"));
    cJSON *cj = cJSON_Parse(pp_st_meta(&f, "configs"));
    CHECK(mj && cj && cJSON_IsArray(cj));
    if (!mj || !cj) goto done;
    toy m = {jnum(mj, "a"), jnum(mj, "b")};
    size_t n = (size_t)jnum(mj, "n");
    float *noise = load(&f, "noise", n);
    CHECK(noise != NULL);
    worst w = {-1, -1, -1, "-", "-", "-"};
    int count = 0;
    const cJSON *cfg;
    cJSON_ArrayForEach(cfg, cj) {
        if (noise) run_config(&f, cfg, &m, noise, n, &w);
        count++;
    }
    CHECK(count >= 40);
    printf("    %d configurations; worst final relative error: UniPC %.2e (%s) [vs diffusers fp32 %.2e (%s)], "
           "Euler %.2e (%s)\n", count, w.unipc, w.unipc_at, w.unipc_f32, w.unipc_f32_at, w.euler, w.euler_at);
    free(noise);
done:
    cJSON_Delete(mj), cJSON_Delete(cj);
    pp_st_close(&f);
}

/* Euler on prophy's own schedule is exactly the hand-written loop of wan/flow.c. */
TEST(sched_euler_equals_flow_loop) {
    const size_t n = 37;
    const int steps_list[] = {1, 2, 7, 50};
    const float shifts[] = {1.0f, 3.0f, 5.0f, 8.0f};
    toy m = {1.5, -0.35};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            int N = steps_list[a];
            float shift = shifts[b];
            pp_sched_config c = {.kind = PP_SCHED_EULER, .steps = N, .shift = shift};
            pp_sched *s = pp_sched_new(&c, n);
            CHECK(s != NULL);
            if (!s) return;
            float *sig = pp_malloc((size_t)(N + 1) * sizeof(float));
            pp_flow_sigmas(sig, N, shift);
            float x[37], y[37], v[37];
            for (size_t j = 0; j < n; j++) x[j] = y[j] = sinf(0.7f * (float)j + 0.3f) * 1.7f;
            for (int i = 0; i < N; i++) {
                CHECK(pp_sched_sigma(s, i) == sig[i]);
                CHECK(pp_sched_t(s, i) == 1000.0f * sig[i]);
                toy_model(&m, x, pp_sched_t(s, i), v, n);
                CHECK(pp_sched_step(s, i, v, x) == 0);
                toy_model(&m, y, 1000.0f * sig[i], v, n);
                float dt = sig[i + 1] - sig[i];
                for (size_t j = 0; j < n; j++) y[j] += dt * v[j];
            }
            CHECK(pp_sched_sigma(s, N) == 0.0f && sig[N] == 0.0f);
            CHECK(memcmp(x, y, sizeof x) == 0);
            free(sig);
            pp_sched_free(s);
        }
}

/* Wan2.1's defaults on a larger sample: the threaded path agrees with a small one. */
TEST(sched_unipc_large_sample) {
    const size_t n = 200000, small = 64;
    pp_sched_config c = {.kind = PP_SCHED_UNIPC, .steps = 12, .shift = 5.0f, .order = 2};
    pp_sched *s = pp_sched_new(&c, n), *s2 = pp_sched_new(&c, small);
    CHECK(s && s2);
    if (!s || !s2) return;
    float *x = pp_malloc(n * sizeof(float)), *v = pp_malloc(n * sizeof(float));
    float x2[64], v2[64];
    toy m = {1.5, -0.35};
    for (size_t j = 0; j < n; j++) x[j] = sinf(0.37f * (float)(j % small)) * 2.0f;
    memcpy(x2, x, sizeof x2);
    for (int i = 0; i < c.steps; i++) {
        toy_model(&m, x, pp_sched_t(s, i), v, n);
        toy_model(&m, x2, pp_sched_t(s2, i), v2, small);
        CHECK(pp_sched_step(s, i, v, x) == 0 && pp_sched_step(s2, i, v2, x2) == 0);
    }
    int same = 1;
    for (size_t j = 0; j < n; j++) same &= x[j] == x2[j % small];
    CHECK(same);
    /* reset replays the run exactly */
    pp_sched_reset(s2);
    float y[64];
    for (size_t j = 0; j < small; j++) y[j] = sinf(0.37f * (float)j) * 2.0f;
    for (int i = 0; i < c.steps; i++) {
        toy_model(&m, y, pp_sched_t(s2, i), v2, small);
        CHECK(pp_sched_step(s2, i, v2, y) == 0);
    }
    CHECK(memcmp(y, x2, sizeof y) == 0);
    free(x), free(v);
    pp_sched_free(s), pp_sched_free(s2);
}

static int one_line(const char *e) { return e && *e && !strchr(e, '\n'); }

TEST(sched_bad_input) {
    struct {
        pp_sched_config c;
        const char *word;
    } bad[] = {
        {{.kind = PP_SCHED_UNIPC, .steps = 0, .shift = 5.0f, .order = 2}, "steps"},
        {{.kind = PP_SCHED_EULER, .steps = -3, .shift = 5.0f}, "steps"},
        {{.kind = PP_SCHED_UNIPC, .steps = 50, .shift = 5.0f, .order = 0}, "order"},
        {{.kind = PP_SCHED_UNIPC, .steps = 50, .shift = 5.0f, .order = 4}, "order"},
        {{.kind = PP_SCHED_EULER, .steps = 50, .shift = 5.0f, .order = 2}, "order"},
        {{.kind = PP_SCHED_UNIPC, .steps = 50, .shift = 0.0f, .order = 2}, "shift"},
        {{.kind = PP_SCHED_EULER, .steps = 50, .shift = -1.0f}, "shift"},
        {{.kind = PP_SCHED_EULER, .steps = 50, .shift = NAN}, "shift"},
        {{.kind = PP_SCHED_UNIPC, .sigmas = PP_SIGMAS_FLOW, .steps = 50, .shift = 5.0f, .order = 2}, "sigma"},
        {{.kind = (pp_sched_kind)7, .steps = 50, .shift = 5.0f}, "kind"},
        {{.kind = PP_SCHED_UNIPC, .steps = 50, .shift = 5.0f, .order = 2, .bh = (pp_unipc_bh)5}, "bh1"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        pp_seterr("%s", "");
        pp_sched *s = pp_sched_new(&bad[k].c, 16);
        CHECK_MSG(!s, "config %zu accepted", k);
        pp_sched_free(s);
        const char *e = pp_lasterr();
        CHECK_MSG(one_line(e) && strstr(e, bad[k].word), "config %zu: error '%s' should name %s", k, e, bad[k].word);
    }
    CHECK(pp_sched_new(NULL, 16) == NULL);
    pp_sched_config ok = {.kind = PP_SCHED_UNIPC, .steps = 3, .shift = 5.0f, .order = 2};
    CHECK(pp_sched_new(&ok, 0) == NULL && one_line(pp_lasterr()));
    /* steps out of order, and after the end */
    pp_sched *s = pp_sched_new(&ok, 4);
    CHECK(s != NULL);
    if (!s) return;
    float x[4] = {1, 2, 3, 4}, v[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    CHECK(pp_sched_step(s, 1, v, x) == -1 && one_line(pp_lasterr()) && strstr(pp_lasterr(), "out of order"));
    for (int i = 0; i < 3; i++) CHECK(pp_sched_step(s, i, v, x) == 0);
    CHECK(pp_sched_step(s, 3, v, x) == -1 && one_line(pp_lasterr()) && strstr(pp_lasterr(), "done"));
    CHECK(pp_sched_step(s, 0, NULL, x) == -1 && one_line(pp_lasterr()));
    CHECK(isnan(pp_sched_t(s, 3)) && isnan(pp_sched_sigma(s, 4)) && pp_sched_sigma(s, 3) == 0.0f);
    pp_sched_free(s);
    pp_sched_kind k;
    pp_sigmas_kind sk;
    pp_unipc_bh bh;
    CHECK(pp_sched_kind_parse("dpm", &k) == -1 && one_line(pp_lasterr()));
    CHECK(pp_sigmas_kind_parse("karras", &sk) == -1 && one_line(pp_lasterr()));
    CHECK(pp_unipc_bh_parse("bh3", &bh) == -1 && one_line(pp_lasterr()));
    CHECK(pp_sigmas_kind_parse("wan", &sk) == 0 && sk == PP_SIGMAS_WAN);
}
