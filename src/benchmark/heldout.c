/* heldout.c - the held-out benchmark (heldout.h, docs/EVAL.md "Held-out benchmark").
 * One in-process loop: simulate -> generate (text-to-video, video prediction) ->
 * evaluate -> tally. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "branch/align.h"
#include "base/common.h"
#include "eval/eval.h"
#include "wan/flow.h"
#include "benchmark/heldout.h"
#include "prophy/generate.h"
#include "prophy/latents.h"
#include "sim/dataset.h"
#include "sim/sim.h"
#include "io/json.h"

void pp_heldout_cfg_default(pp_heldout_cfg *c) {
    memset(c, 0, sizeof *c);
    c->n = 1;
    c->splits = 1 << PP_SPLIT_ID;
    c->cond_frames = 3;
    c->steps = 20;
    c->cfg = 5.0f;
}

int pp_heldout_is_composite(const char *scene) {
    return !strcmp(scene, "bounce_smoke") || !strcmp(scene, "collision_flame") ||
           !strcmp(scene, "melting_explosion");
}

/* ---- the training prompts: an open-addressing set of strings ---- */
typedef struct {
    size_t cap, n;
    char **slot; /* [cap], NULL = empty */
} prompt_set;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static int set_has(const prompt_set *p, const char *s) {
    if (!p->cap) return 0;
    for (size_t i = hash_str(s) & (p->cap - 1); p->slot[i]; i = (i + 1) & (p->cap - 1))
        if (!strcmp(p->slot[i], s)) return 1;
    return 0;
}

static void set_grow(prompt_set *p);

static void set_add(prompt_set *p, const char *s) {
    if (set_has(p, s)) return;
    if (2 * (p->n + 1) > p->cap) set_grow(p);
    size_t i = hash_str(s) & (p->cap - 1);
    while (p->slot[i]) i = (i + 1) & (p->cap - 1);
    p->slot[i] = pp_strdup(s);
    p->n++;
}

static void set_grow(prompt_set *p) {
    prompt_set q = {.cap = p->cap ? 2 * p->cap : 1024};
    q.slot = pp_calloc(q.cap, sizeof *q.slot);
    for (size_t i = 0; i < p->cap; i++)
        if (p->slot[i]) {
            set_add(&q, p->slot[i]);
            free(p->slot[i]);
        }
    free(p->slot);
    *p = q;
}

static void set_free(prompt_set *p) {
    for (size_t i = 0; i < p->cap; i++) free(p->slot[i]);
    free(p->slot);
    memset(p, 0, sizeof *p);
}

static int load_training_prompts(const char *dir, prompt_set *set) {
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/latents.json", dir);
    FILE *lf = fopen(probe, "r");
    if (lf) { /* a latent dataset */
        fclose(lf);
        pp_latents *L = pp_latents_open(dir);
        if (!L) return -1;
        for (int64_t i = 0; i < pp_latents_count(L); i++) set_add(set, pp_latents_prompt(L, i));
        pp_latents_close(L);
        return 0;
    }
    pp_dataset *ds = pp_dataset_open(dir);
    if (!ds) return -1;
    pp_sample s;
    memset(&s, 0, sizeof s);
    int rc;
    while ((rc = pp_dataset_next(ds, &s)) == 1) set_add(set, s.prompt);
    pp_sample_free(&s);
    pp_dataset_close(ds);
    return rc < 0 ? -1 : 0;
}

/* ---- one example ---- */
typedef struct {
    int pc, sa;
    double vel, iou;   /* NaN: not applicable */
    double iou0;       /* the IoU of a map marking every token (the chance level of iou) */
    double iou_sim;    /* the router's IoU on the simulator's own video (NaN: no REB) */
    double t_t2v, t_pred, t_eval;
} example_result;

/* v [F][H][W][3] <- generated [3,F,H,W] */
static void to_video(const pp_gen_result *g, pp_video *v) {
    pp_video_alloc(v, g->F, g->H, g->W, 1.0f / PP_SIM_DT);
    pp_video_from_float(v, g->video);
}

static int eval_json_spec(const pp_video *v, const cJSON *spec, int K, pp_eval_report *r) {
    pp_eval_spec s;
    if (pp_eval_spec_from_json(spec, &s)) return -1;
    pp_eval_opts o = {.cond_frames = K};
    int rc = pp_eval_run(v, &s, &o, r);
    pp_eval_spec_free(&s);
    return rc;
}

/* (c) mean over labelled categories of the IoU of the normalised routing map (> 0.5)
 * with the simulator's map - bg (> 0). NaN when no category gives one. *chance
 * receives the same mean for a map that marks every token (= the phenomenon's
 * share of the video): the level a map without localisation reaches. */
static double routing_iou(const pp_gen_result *g, const pp_sim_out *out, double *chance) {
    *chance = NAN;
    if (!g->cat_maps) return NAN;
    size_t plane = (size_t)out->frames * out->height * out->width;
    size_t hw = (size_t)g->gh * g->gw;
    float *gt = pp_malloc(plane * sizeof(float)), *m = pp_malloc((size_t)g->N * sizeof(float));
    float *mf = pp_malloc((size_t)out->frames * hw * sizeof(float));
    double sum = 0, sum0 = 0;
    int n = 0;
    for (int k = 0; k < PP_NCAT; k++) {
        if (out->cats[k] < 0.5f) continue;
        const float *mk = g->cat_maps + (size_t)k * g->N, *ok = out->maps + (size_t)k * plane;
        float mx = 0;
        for (int t = 0; t < g->N; t++) mx = fmaxf(mx, mk[t]);
        for (int t = 0; t < g->N; t++) m[t] = mx > 0 ? mk[t] / mx : 0;
        size_t on = 0;
        for (size_t p = 0; p < plane; p++) on += (gt[p] = ok[p] - out->bg[p] > 0 ? 1.0f : 0.0f) > 0;
        /* per pixel frame: the token frame each falls in (a latent model's are causal) */
        for (int f = 0; f < out->frames; f++)
            memcpy(mf + (size_t)f * hw, m + (size_t)pp_gen_token_frame(g, f) * hw, hw * sizeof(float));
        double iou = pp_eval_map_iou(mf, out->frames, g->gh, g->gw, gt, out->frames, out->height, out->width, 0.5f);
        if (isfinite(iou)) { sum += iou; sum0 += (double)on / plane; n++; }
    }
    free(gt), free(m), free(mf);
    if (n) *chance = sum0 / n;
    return n ? sum / n : NAN;
}

static int model_predicts(const pp_prophy *m) { return m->cfg.base.cond != PP_COND_NONE; }

/* (a) text-to-video, unconditioned checks with the prompt's spec (and the routing
 * IoU from these maps when the model cannot predict from given frames). */
static int run_t2v(const pp_prophy *m, const float *P, const pp_sim_out *out, pp_gen_config g,
                   example_result *e) {
    cJSON *spec;
    if (pp_sim_spec_for_prompt(out->prompt, out->seed, out->frames, out->height, out->width, &spec)) return -1;
    pp_gen_result gr;
    g.routes = !model_predicts(m) && pp_prophy_has_reb(&m->cfg);
    int rc = pp_prophy_generate(m, P, out->prompt, &g, &gr);
    if (!rc) {
        e->t_t2v = gr.t_encode + gr.t_sample;
        double t0 = pp_now();
        pp_video v;
        pp_eval_report r;
        to_video(&gr, &v);
        rc = eval_json_spec(&v, spec, 0, &r);
        e->pc = r.pc_pass, e->sa = r.sa_pass;
        if (g.routes) e->iou = routing_iou(&gr, out, &e->iou0);
        e->t_eval += pp_now() - t0;
        pp_video_free(&v);
        pp_gen_result_free(&gr);
    }
    cJSON_Delete(spec);
    return rc;
}

/* (b) video prediction from K given frames (+ the routing maps for (c)). */
static int run_pred(const pp_prophy *m, const float *P, const pp_heldout_cfg *c, const pp_sim_out *out,
                    pp_gen_config g, example_result *e) {
    size_t n = (size_t)3 * out->frames * out->height * out->width;
    float *first = pp_malloc(n * sizeof(float));
    pp_video_to_float(&out->video, first); /* [3,F,H,W] */
    g.cond_frames = c->cond_frames;
    g.first = first;
    g.routes = pp_prophy_has_reb(&m->cfg);
    pp_gen_result gr;
    int rc = pp_prophy_generate(m, P, out->prompt, &g, &gr);
    free(first);
    if (rc) return -1;
    e->t_pred = gr.t_encode + gr.t_sample;
    double t0 = pp_now();
    pp_video v;
    pp_eval_report r;
    to_video(&gr, &v);
    rc = eval_json_spec(&v, out->spec, c->cond_frames, &r);
    e->vel = r.velocity_error;
    e->iou = routing_iou(&gr, out, &e->iou0);
    e->t_eval += pp_now() - t0;
    pp_video_free(&v);
    pp_gen_result_free(&gr);
    return rc;
}

/* (d) the router on the simulator's own video: one forward pass at s = 0.5 (noise
 * from the example's seed) with the prompt, the fine-align head's category maps,
 * their IoU as in (c). Separates what the router localises from how good the
 * generated video is. */
static void run_sim_routes(const pp_prophy *m, const float *P, const pp_heldout_cfg *c, const pp_sim_out *out,
                           example_result *e) {
    const pp_prophy_config *mc = &m->cfg;
    const pp_dit_config *d = &mc->base.dit;
    if (!pp_prophy_has_reb(mc) || (mc->base.latent && !c->vae)) return;
    int F = mc->base.frames, H = mc->base.height, W = mc->base.width; /* the DiT's grid */
    if (!mc->base.latent) F = out->frames, H = out->height, W = out->width;
    int L = mc->text.ctx, C = d->out_dim, Cc = d->in_dim - d->out_dim;
    size_t vox = (size_t)F * H * W;
    pp_gen_result g = {.gf = F / d->patch[0], .gh = H / d->patch[1], .gw = W / d->patch[2], .F = out->frames,
                       .H = out->height, .W = out->width, .latent = mc->base.latent, .pt = d->patch[0]};
    g.N = g.gf * g.gh * g.gw;
    float *x0 = pp_alloc_floats((size_t)C * vox), *eps = pp_alloc_floats((size_t)C * vox), *tgt = pp_alloc_floats((size_t)C * vox);
    float *v = pp_alloc_floats((size_t)C * vox), *xin = pp_alloc_floats((size_t)(C + Cc) * vox);
    float *cond = Cc ? pp_zalloc_floats((size_t)Cc * vox) : NULL, *Pr = pp_alloc_floats((size_t)g.N * PP_NCAT);
    int *ids = pp_malloc((size_t)L * sizeof(int)), ok = 1;
    if (mc->base.latent) { /* the simulator's video in latent space, no given frames */
        float *px = pp_alloc_floats((size_t)3 * out->frames * out->height * out->width);
        pp_video_to_float(&out->video, px);
        ok = !pp_vae_encode(&c->vae->m, c->vae->params, px, out->frames, out->height, out->width, x0, NULL);
        pp_free_aligned(px);
        if (cond) pp_latent_make_cond(cond, NULL, 0, 0, C, F, H, W);
    } else {
        pp_video_to_float(&out->video, x0);
    }
    pp_rng r;
    pp_rng_seed(&r, out->seed ^ 0x5eedULL);
    pp_rng_fill_normal(&r, eps, (size_t)C * vox, 1.0f);
    float s = 0.5f, t = 500.0f;
    pp_flow_make_batch(xin, tgt, x0, eps, &s, cond, 1, C, Cc, vox);
    pp_prophy_acts *a = ok ? pp_prophy_acts_new(m, 1, F, H, W, 0) : NULL;
    if (a && !pp_tok_encode(&m->vocab, out->prompt, L, ids, NULL) && !pp_prophy_forward(m, P, a, xin, &t, ids, v)) {
        pp_fine_predict(&m->br.align, P, Pr, pp_prophy_acts_rho_r(a), g.N);
        g.cat_maps = pp_alloc_floats((size_t)PP_NCAT * g.N); /* [N,17] -> [17,N] */
        for (int n = 0; n < g.N; n++)
            for (int k = 0; k < PP_NCAT; k++) g.cat_maps[(size_t)k * g.N + n] = Pr[(size_t)n * PP_NCAT + k];
        double chance;
        e->iou_sim = routing_iou(&g, out, &chance);
        pp_free_aligned(g.cat_maps);
    }
    pp_prophy_acts_free(a);
    float *bufs[] = {x0, eps, tgt, v, xin, cond, Pr};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    free(ids);
}

static int run_example(const pp_prophy *m, const float *P, const pp_heldout_cfg *c, const pp_sim_out *out,
                       example_result *e) {
    memset(e, 0, sizeof *e);
    e->vel = e->iou = e->iou0 = e->iou_sim = NAN;
    pp_gen_config g = pp_gen_defaults();
    g.steps = c->steps;
    g.cfg = c->cfg;
    g.seed = out->seed;
    g.vae = c->vae;
    if (run_t2v(m, P, out, g, e)) return -1;
    run_sim_routes(m, P, c, out, e);
    return model_predicts(m) ? run_pred(m, P, c, out, g, e) : 0;
}

/* ---- tallies and output ---- */
static void tally_add(pp_heldout_tally *t, const example_result *e) {
    t->n++;
    t->pc += e->pc;
    t->sa += e->sa;
    t->joint += e->pc && e->sa;
    if (isfinite(e->vel)) { t->nvel++; t->vel_sum += e->vel; }
    if (isfinite(e->iou)) { t->niou++; t->iou_sum += e->iou; t->iou0_sum += e->iou0; }
    if (isfinite(e->iou_sim)) { t->niou_sim++; t->iou_sim_sum += e->iou_sim; }
}

static void add_num(cJSON *j, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(j, k, v);
    else cJSON_AddNullToObject(j, k);
}

static void write_jsonl(FILE *f, const pp_sim_out *out, const example_result *e) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "scene", out->scene->name);
    cJSON_AddStringToObject(j, "split", out->split == PP_SPLIT_OOD ? "ood" : "id");
    cJSON_AddNumberToObject(j, "seed", (double)out->seed); /* exact: pp_json_print */
    cJSON_AddStringToObject(j, "prompt", out->prompt);
    cJSON_AddBoolToObject(j, "pc_pass", e->pc);
    cJSON_AddBoolToObject(j, "sa_pass", e->sa);
    cJSON_AddBoolToObject(j, "joint", e->pc && e->sa);
    add_num(j, "velocity_error", e->vel);
    add_num(j, "iou", e->iou);
    add_num(j, "iou_all_tokens", e->iou0);
    add_num(j, "iou_simulator_video", e->iou_sim);
    cJSON *t = cJSON_AddObjectToObject(j, "seconds");
    add_num(t, "text_to_video", e->t_t2v);
    add_num(t, "prediction", e->t_pred);
    add_num(t, "eval", e->t_eval);
    char *s = pp_json_print(j, 0);
    fprintf(f, "%s\n", s);
    fflush(f);
    free(s);
    cJSON_Delete(j);
}

static void progress(int i, int n, double t0) {
    double el = pp_now() - t0, eta = i ? el / i * (n - i) : 0;
    fprintf(stderr, "\rheldout: example %d/%d, %.0fs elapsed, ETA %.0fs   ", i, n, el, eta);
    if (i == n) fprintf(stderr, "\n");
    fflush(stderr);
}

/* ---- the loop ---- */
typedef struct {
    const pp_prophy *m;
    const float *P;
    const pp_heldout_cfg *c;
    const prompt_set *train;
    pp_heldout_result *r;
    int done, total;
    double t0;
} loop_ctx;

/* Draws seeds for (scene, split) until c->n examples not in the training data ran. */
static int run_scene(loop_ctx *L, int scene, int split) {
    const pp_sim_scene *sc = pp_sim_scene_at(scene);
    pp_gen_config gc = pp_gen_defaults();
    gc.vae = L->c->vae;
    int found = 0, ns = pp_sim_nscenes(), F, H, W;
    pp_gen_video_size(L->m, &gc, &F, &H, &W);
    for (int64_t i = 0; found < L->c->n; i++) {
        if (i >= 100LL * L->c->n + 1000)
            PP_FAIL("heldout: no %d prompts of scene %s outside the training data", L->c->n, sc->name);
        pp_sim_out out;
        uint64_t seed = pp_dataset_sample_seed(L->c->seed ^ PP_HELDOUT_SALT, i * ns + scene);
        if (pp_sim_run(sc, seed, split, F, H, W, &out)) return -1;
        if (set_has(L->train, out.prompt)) {
            L->r->skipped++;
            pp_sim_free(&out);
            continue;
        }
        example_result e;
        int rc = run_example(L->m, L->P, L->c, &out, &e);
        if (!rc) {
            tally_add(&L->r->scene[split][scene], &e);
            tally_add(&L->r->group[split][pp_heldout_is_composite(sc->name)], &e);
            if (L->c->jsonl) write_jsonl(L->c->jsonl, &out, &e);
            found++;
            if (L->c->progress) progress(++L->done, L->total, L->t0);
        }
        pp_sim_free(&out);
        if (rc) return -1;
    }
    return 0;
}

int pp_heldout_run(const pp_prophy *m, const float *P, const pp_heldout_cfg *c, pp_heldout_result *r) {
    memset(r, 0, sizeof *r);
    r->has_reb = pp_prophy_has_reb(&m->cfg);
    r->splits = c->splits;
    if (c->n < 1) PP_FAIL("heldout: the number of examples must be >= 1 (got %d)", c->n);
    if (!(c->splits & 3)) PP_FAIL("heldout: no split chosen");
    if (pp_sim_nscenes() > PP_HELDOUT_MAX_SCENES) PP_FAIL("heldout: too many scenes");
    pp_gen_config gc = pp_gen_defaults();
    gc.vae = c->vae;
    int F, H, W;
    pp_gen_video_size(m, &gc, &F, &H, &W);
    if (model_predicts(m) && (c->cond_frames < 1 || c->cond_frames >= F))
        PP_FAIL("--cond-frames %d must be in [1, %d) for the model's %d frames", c->cond_frames, F, F);
    if (m->cfg.base.latent && !c->vae) PP_FAIL("heldout: a latent model needs its VAE");
    prompt_set train = {0};
    if (c->exclude_dir && load_training_prompts(c->exclude_dir, &train)) return set_free(&train), -1;
    loop_ctx L = {.m = m, .P = P, .c = c, .train = &train, .r = r, .t0 = pp_now()};
    L.total = c->n * pp_sim_nscenes() * ((c->splits & 1) + (c->splits >> 1 & 1));
    int rc = 0;
    for (int split = 0; split < 2 && !rc; split++)
        for (int s = 0; s < pp_sim_nscenes() && !rc && (c->splits >> split & 1); s++) rc = run_scene(&L, s, split);
    set_free(&train);
    return rc;
}

/* ---- the table ---- */
void pp_wilson95(int k, int n, double *lo, double *hi) {
    const double z = 1.959963984540054, z2 = z * z;
    double p = (double)k / n, d = 1 + z2 / n;
    double c = (p + z2 / (2.0 * n)) / d, h = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / d;
    *lo = k == 0 || c - h < 0 ? 0 : c - h; /* (exact ends: c - h and c + h round off 0 and 1) */
    *hi = k == n || c + h > 1 ? 1 : c + h;
}

/* "20.8 [16.3, 26.1]": a rate in percent and its 95 % interval */
static void rate(FILE *f, int k, int n) {
    double lo, hi;
    pp_wilson95(k, n, &lo, &hi);
    fprintf(f, "%.1f [%.1f, %.1f] | ", 100.0 * k / n, 100 * lo, 100 * hi);
}

static void table_row(FILE *f, const char *split, const char *name, const pp_heldout_tally *t, int has_reb) {
    if (!t->n) return;
    fprintf(f, "| %s / %s | %d | ", split, name, t->n);
    rate(f, t->pc, t->n), rate(f, t->sa, t->n), rate(f, t->joint, t->n);
    if (t->nvel) fprintf(f, "%.4f (%d) | ", t->vel_sum / t->nvel, t->nvel);
    else fprintf(f, "n/a | ");
    if (has_reb && t->niou && t->niou_sim)
        fprintf(f, "%.3f / %.3f (%.3f) |\n", t->iou_sum / t->niou, t->iou_sim_sum / t->niou_sim, t->iou0_sum / t->niou);
    else fprintf(f, "n/a |\n");
}

static void table_head(FILE *f, const char *first) {
    fprintf(f, "| %s | n | PC %% [95 %%] | SA %% [95 %%] | joint %% [95 %%] | vel. error (n) | IoU gen. / sim. video (all tokens) |\n",
            first);
    fprintf(f, "|---|---:|---:|---:|---:|---:|---:|\n");
}

static pp_heldout_tally tally_sum(const pp_heldout_tally *a, const pp_heldout_tally *b) {
    pp_heldout_tally t = {a->n + b->n, a->pc + b->pc, a->sa + b->sa, a->joint + b->joint,
                          a->nvel + b->nvel, a->vel_sum + b->vel_sum, a->niou + b->niou, a->iou_sum + b->iou_sum, a->iou0_sum + b->iou0_sum,
                          a->niou_sim + b->niou_sim, a->iou_sim_sum + b->iou_sim_sum};
    return t;
}

void pp_heldout_table(const pp_heldout_result *r, FILE *f) {
    static const char *const split_name[2] = {"id", "ood"}, *const group_name[2] = {"single", "composite"};
    table_head(f, "split / group");
    for (int s = 0; s < 2; s++) {
        if (!(r->splits >> s & 1)) continue;
        for (int g = 0; g < 2; g++) table_row(f, split_name[s], group_name[g], &r->group[s][g], r->has_reb);
        pp_heldout_tally all = tally_sum(&r->group[s][0], &r->group[s][1]);
        table_row(f, split_name[s], "all", &all, r->has_reb);
    }
    fprintf(f, "\n");
    table_head(f, "split / scene");
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < pp_sim_nscenes() && (r->splits >> s & 1); k++)
            table_row(f, split_name[s], pp_sim_scene_at(k)->name, &r->scene[s][k], r->has_reb);
    fprintf(f, "\n%d drawn example%s skipped: prompt in the training data\n", r->skipped, r->skipped == 1 ? "" : "s");
}
