/* eval.c - pp_eval_run: parse the objects, run the checks, the semantic detectors
 * and (with cond_frames) the ground-truth comparisons; the report's JSON and table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "eval/eval_impl.h"

void pp_ev_check(pp_eval_report *r, const char *name, double value, double tol, int pass) {
    if (r->nchecks == PP_EVAL_MAX_CHECKS) return;
    pp_eval_check *c = &r->checks[r->nchecks++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->value = value;
    c->tolerance = tol;
    c->pass = pass && !isnan(value);
}

void pp_ev_measure(pp_eval_report *r, const char *name, double value) {
    if (r->nmeasures == PP_EVAL_MAX_MEASURES) return;
    pp_eval_measure *m = &r->measures[r->nmeasures++];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->value = value;
}

void pp_ev_sa(pp_eval_report *r, const char *name, double value, double tol, int pass) {
    if (r->nsa == PP_EVAL_MAX_SA) return;
    pp_eval_check *c = &r->sa[r->nsa++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->value = value;
    c->tolerance = tol;
    c->pass = pass;
}

double pp_eval_measure_get(const pp_eval_report *r, const char *name) {
    for (int i = 0; i < r->nmeasures; i++)
        if (!strcmp(r->measures[i].name, name)) return r->measures[i].value;
    return NAN;
}

const pp_eval_check *pp_eval_check_get(const pp_eval_report *r, const char *name) {
    for (int i = 0; i < r->nchecks; i++)
        if (!strcmp(r->checks[i].name, name)) return &r->checks[i];
    return NULL;
}

int pp_ev_has_cat(const pp_eval_spec *s, int cat) { return s->cats[cat] > 0.5f; }

int pp_ev_obj_is_rigid(const pp_eval_spec *s, int i) {
    return !strcmp(s->okind[i], "ball") || !strcmp(s->okind[i], "block");
}

/* Categories whose phenomenon an object of this kind shows (for composites' regions). */
static int kind_matches_cat(const char *kind, int cat) {
    if (!strcmp(kind, "ball") || !strcmp(kind, "block"))
        return cat == PP_CAT_COLLISION || cat == PP_CAT_RIGID_BODY || cat == PP_CAT_ELASTIC ||
               cat == PP_CAT_DEFORMATION || cat == PP_CAT_REFLECTION;
    if (!strcmp(kind, "plume")) return cat == PP_CAT_GAS || cat == PP_CAT_COMBUSTION;
    if (!strcmp(kind, "liquid")) return cat == PP_CAT_LIQUID || cat == PP_CAT_MELTING;
    if (!strcmp(kind, "ice")) return cat == PP_CAT_MELTING;
    if (!strcmp(kind, "particles")) return cat == PP_CAT_EXPLOSION;
    return 0;
}

void pp_ev_obj_region(const pp_eval_spec *s, int i, float *x0, float *x1) {
    *x0 = 0;
    *x1 = s->world_w;
    for (int k = 0; k < s->nregion; k++)
        if (kind_matches_cat(s->okind[i], s->rcat[k])) {
            *x0 = s->rx0[k];
            *x1 = s->rx1[k];
            return;
        }
}

/* Column range of object i: its composite region when the spec has regions. */
static void object_columns(ev_ctx *c, int i) {
    const pp_eval_spec *s = c->s;
    c->col0[i] = 0;
    c->col1[i] = c->v->width;
    for (int k = 0; k < s->nregion; k++)
        if (kind_matches_cat(s->okind[i], s->rcat[k])) {
            int a = (int)floorf(s->rx0[k] * (float)c->v->width / s->world_w + 0.5f);
            int b = (int)floorf(s->rx1[k] * (float)c->v->width / s->world_w + 0.5f);
            c->col0[i] = a < 0 ? 0 : a;
            c->col1[i] = b > c->v->width ? c->v->width : b;
            if (c->col1[i] <= c->col0[i]) { c->col0[i] = 0; c->col1[i] = c->v->width; }
            return;
        }
}

static void parse_tracks(ev_ctx *c) {
    for (int i = 0; i < c->s->nobj; i++) {
        object_columns(c, i);
        if (pp_ev_is_fluid_kind(c->s, i)) {
            c->ff[i] = pp_calloc((size_t)c->v->frames, sizeof(ev_fluid_frame));
            pp_ev_fluid_track(c, i, c->ff[i]);
        }
        if (!pp_ev_obj_is_rigid(c->s, i)) continue;
        c->obs[i] = pp_calloc((size_t)c->v->frames, sizeof(pp_eval_obs));
        for (int f = 0; f < c->v->frames; f++)
            pp_eval_parse_object(c->v, c->s, f, c->s->ocolor[i], c->col0[i], c->col1[i], c->o->parser, &c->obs[i][f]);
    }
}

int pp_eval_run(const pp_video *v, const pp_eval_spec *s, const pp_eval_opts *o, pp_eval_report *r) {
    memset(r, 0, sizeof *r);
    r->velocity_error = NAN;
    if (pp_eval_spec_check_video(s, v)) return -1;
    pp_eval_opts def = {0};
    if (!o) o = &def;
    if (o->cond_frames < 0 || o->cond_frames >= v->frames)
        PP_FAIL("--cond-frames %d must be in [0, %d) for a %d-frame video", o->cond_frames, v->frames, v->frames);
    if (o->maps && o->map_cats != 1 && o->map_cats != PP_NCAT && o->map_cats != PP_NCAT + 1)
        PP_FAIL("maps have %d channels; want 1, %d or %d (with the background)", o->map_cats, PP_NCAT, PP_NCAT + 1);
    if (o->maps && (o->map_f < 1 || o->map_h < 1 || o->map_w < 1 || o->map_f > v->frames || o->map_h > v->height ||
                    o->map_w > v->width))
        PP_FAIL("maps of %dx%dx%d (frames x height x width) do not fit the %dx%dx%d video", o->map_f, o->map_h,
                o->map_w, v->frames, v->height, v->width);
    if (o->cond_frames > 0 && s->nstates == 0)
        PP_FAIL("conditioned evaluation needs a spec with ground-truth 'states'");
    ev_ctx c = {.v = v, .s = s, .o = o, .r = r};
    c.upx = 0.5f * (s->world_w / (float)v->width + s->world_h / (float)v->height);
    r->cond_frames = o->cond_frames;
    parse_tracks(&c);
    pp_ev_checks_balls(&c);
    pp_ev_checks_fluid(&c);
    pp_ev_semantic(&c);
    if (o->cond_frames > 0) pp_ev_conditioned(&c);
    pp_ev_localisation(&c);
    r->pc_pass = 1;
    for (int i = 0; i < r->nchecks; i++) r->pc_pass &= r->checks[i].pass;
    r->sa_pass = r->nsa > 0;
    for (int i = 0; i < r->nsa; i++) r->sa_pass &= r->sa[i].pass;
    for (int i = 0; i < PP_EVAL_MAX_OBJ; i++) {
        free(c.obs[i]);
        free(c.ff[i]);
    }
    return 0;
}

/* ---- output ---- */
static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static cJSON *checks_json(const pp_eval_check *cs, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", cs[i].name);
        add_num(e, "value", cs[i].value);
        add_num(e, "tolerance", cs[i].tolerance);
        cJSON_AddBoolToObject(e, "pass", cs[i].pass);
        cJSON_AddItemToArray(a, e);
    }
    return a;
}

cJSON *pp_eval_report_json(const pp_eval_report *r, const pp_eval_spec *s) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "scene", s->scene);
    cJSON_AddNumberToObject(j, "frames", s->frames);
    cJSON *m = cJSON_AddObjectToObject(j, "measures");
    for (int i = 0; i < r->nmeasures; i++) add_num(m, r->measures[i].name, r->measures[i].value);
    cJSON_AddItemToObject(j, "checks", checks_json(r->checks, r->nchecks));
    cJSON_AddItemToObject(j, "semantic", checks_json(r->sa, r->nsa));
    cJSON_AddBoolToObject(j, "pc_pass", r->pc_pass);
    cJSON_AddBoolToObject(j, "sa_pass", r->sa_pass);
    if (r->cond_frames > 0) {
        cJSON_AddNumberToObject(j, "cond_frames", r->cond_frames);
        add_num(j, "velocity_error", r->velocity_error);
    }
    return j;
}

static void print_checks(const char *title, const pp_eval_check *cs, int n, FILE *f) {
    if (!n) return;
    fprintf(f, "%-34s %12s %12s  %s\n", title, "value", "tolerance", "result");
    for (int i = 0; i < n; i++)
        fprintf(f, "  %-32s %12.4g %12.4g  %s\n", cs[i].name, cs[i].value, cs[i].tolerance, cs[i].pass ? "pass" : "FAIL");
}

void pp_eval_report_print(const pp_eval_report *r, const pp_eval_spec *s, FILE *f) {
    fprintf(f, "scene %s, %d frames of %dx%d%s\n", s->scene, s->frames, s->width, s->height,
            r->cond_frames ? " (conditioned)" : "");
    if (r->cond_frames > 0) fprintf(f, "velocity_error %.4f units/s (frames >= %d)\n", r->velocity_error, r->cond_frames);
    if (r->nmeasures) fprintf(f, "measures\n");
    for (int i = 0; i < r->nmeasures; i++) fprintf(f, "  %-32s %12.4g\n", r->measures[i].name, r->measures[i].value);
    print_checks("checks", r->checks, r->nchecks, f);
    print_checks("semantic adherence", r->sa, r->nsa, f);
    fprintf(f, "pc_pass %s, sa_pass %s\n", r->pc_pass ? "yes" : "no", r->sa_pass ? "yes" : "no");
}
