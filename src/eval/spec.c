/* spec.c - reading the scene spec JSON (docs/SPEC.md) into pp_eval_spec.
 * Unknown fields are ignored (forward compatible); a known field with the wrong
 * type, an out-of-range value or a missing required field is an error that names
 * the field. A spec the evaluator cannot judge is refused too (eval.h lists the
 * rules): an unknown scene, split or object kind, a non-positive world size or dt,
 * more objects, regions or numeric params than the evaluator keeps, a state count
 * that is not the frame count. Every number is checked before it is cast. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "eval/eval.h"
#include "sim/sim.h"

/* Optional number field: 0 = absent (out untouched), 1 = read, -1 = wrong type. */
static int opt_num(const cJSON *o, const char *key, const char *where, double *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) return 0;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        PP_FAIL("spec: field '%s%s' must be a finite number", where, key);
    *out = it->valuedouble;
    return 1;
}

static int req_num(const cJSON *o, const char *key, const char *where, double lo, double hi, double *out) {
    int rc = opt_num(o, key, where, out);
    if (rc < 0) return -1;
    if (rc == 0) PP_FAIL("spec: required field '%s%s' is missing", where, key);
    if (*out < lo || *out > hi) PP_FAIL("spec: field '%s%s' = %g is outside [%g, %g]", where, key, *out, lo, hi);
    return 0;
}

static int opt_str(const cJSON *o, const char *key, char *out, size_t cap, int required) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) {
        if (required) PP_FAIL("spec: required field '%s' is missing", key);
        return 0;
    }
    if (!cJSON_IsString(it)) PP_FAIL("spec: field '%s' must be a string", key);
    snprintf(out, cap, "%s", it->valuestring);
    return 0;
}

static int opt_bool(const cJSON *o, const char *key, const char *where, int *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) return 0;
    if (!cJSON_IsBool(it) && !cJSON_IsNumber(it)) PP_FAIL("spec: field '%s%s' must be a boolean", where, key);
    *out = cJSON_IsBool(it) ? cJSON_IsTrue(it) : it->valuedouble != 0;
    return 0;
}

/* Optional object/array field of the given kind: NULL when absent; *bad on wrong type. */
static const cJSON *opt_item(const cJSON *o, const char *key, int want_array, int *bad) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) return NULL;
    if (want_array ? !cJSON_IsArray(it) : !cJSON_IsObject(it)) {
        pp_seterr("spec: field '%s' must be %s", key, want_array ? "an array" : "an object");
        *bad = 1;
    }
    return it;
}

static int parse_categories(const cJSON *j, pp_eval_spec *s) {
    int bad = 0;
    const cJSON *c = opt_item(j, "categories", 1, &bad);
    if (bad) return -1;
    if (!c) PP_FAIL("spec: required field 'categories' is missing");
    if (cJSON_GetArraySize(c) != PP_NCAT) PP_FAIL("spec: 'categories' must have %d entries, not %d", PP_NCAT, cJSON_GetArraySize(c));
    for (int i = 0; i < PP_NCAT; i++) {
        const cJSON *e = cJSON_GetArrayItem(c, i);
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1)
            PP_FAIL("spec: 'categories[%d]' must be a number in [0, 1]", i);
        s->cats[i] = (float)e->valuedouble;
    }
    return 0;
}

/* An optional world number: absent keeps *out; present must lie in [lo, hi] (lo
 * excluded when `open`). */
static int world_num(const cJSON *w, const char *key, double lo, double hi, int open, float *out) {
    double v;
    int rc = opt_num(w, key, "world.", &v);
    if (rc <= 0) return rc;
    if (!(open ? v > lo : v >= lo) || v > hi)
        PP_FAIL("spec: field 'world.%s' = %g is outside %s%g, %g]", key, v, open ? "(" : "[", lo, hi);
    *out = (float)v;
    return 0;
}

static int parse_world(const cJSON *j, pp_eval_spec *s) {
    int bad = 0;
    const cJSON *w = opt_item(j, "world", 0, &bad);
    if (bad) return -1;
    s->world_w = s->world_h = 10.0f;
    s->dt = 0.1f;
    s->y_up = 1;
    if (!w) return 0;
    if (world_num(w, "width", 0, PP_EVAL_MAX_WORLD, 1, &s->world_w) ||
        world_num(w, "height", 0, PP_EVAL_MAX_WORLD, 1, &s->world_h) ||
        world_num(w, "dt", 0, PP_EVAL_MAX_DT, 1, &s->dt) ||
        world_num(w, "gravity", -PP_EVAL_MAX_WORLD, PP_EVAL_MAX_WORLD, 0, &s->gravity))
        return -1;
    return opt_bool(w, "y_up", "world.", &s->y_up);
}

static int parse_video(const cJSON *j, pp_eval_spec *s) {
    int bad = 0;
    const cJSON *v = opt_item(j, "video", 0, &bad);
    if (bad) return -1;
    if (!v) PP_FAIL("spec: required field 'video' is missing");
    double f, h, w, fps;
    if (req_num(v, "frames", "video.", 1, 100000, &f) || req_num(v, "height", "video.", 1, 16384, &h) ||
        req_num(v, "width", "video.", 1, 16384, &w) || req_num(v, "fps", "video.", 1e-3, 1000, &fps))
        return -1;
    if (f != floor(f) || h != floor(h) || w != floor(w))
        PP_FAIL("spec: fields 'video.frames', 'video.height' and 'video.width' must be integers");
    s->frames = (int)f;
    s->height = (int)h;
    s->width = (int)w;
    s->fps = (float)fps;
    return 0;
}

static int parse_params(const cJSON *j, pp_eval_spec *s) {
    int bad = 0;
    const cJSON *p = opt_item(j, "params", 0, &bad), *it;
    if (bad) return -1;
    if (!p) return 0;
    cJSON_ArrayForEach(it, p) {
        if (!cJSON_IsNumber(it)) continue; /* scene specific: non-numbers are not ours */
        if (s->nparam == PP_EVAL_MAX_PARAMS)
            PP_FAIL("spec: field 'params' has more than %d numbers", PP_EVAL_MAX_PARAMS);
        if (strlen(it->string) >= sizeof s->pname[0])
            PP_FAIL("spec: field 'params.%.40s...' has a name longer than %d bytes", it->string,
                    (int)sizeof s->pname[0] - 1);
        if (!isfinite(it->valuedouble)) PP_FAIL("spec: field 'params.%s' must be finite", it->string);
        snprintf(s->pname[s->nparam], sizeof s->pname[0], "%s", it->string);
        s->pval[s->nparam++] = it->valuedouble;
    }
    return 0;
}

static int parse_color(const cJSON *c, int i, uint8_t out[3]) {
    if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) != 3) PP_FAIL("spec: 'objects[%d].color' must be [r,g,b]", i);
    for (int k = 0; k < 3; k++) {
        const cJSON *e = cJSON_GetArrayItem(c, k);
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 255)
            PP_FAIL("spec: 'objects[%d].color[%d]' must be a number in [0, 255]", i, k);
        out[k] = (uint8_t)lrint(e->valuedouble);
    }
    return 0;
}

static int known_kind(const char *k) {
    static const char *const kinds[] = {"ball", "block", "plume", "liquid", "ice", "particles"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(k, kinds[i])) return 1;
    return 0;
}

static int parse_objects(const cJSON *j, pp_eval_spec *s) {
    int bad = 0;
    const cJSON *a = opt_item(j, "objects", 1, &bad);
    if (bad) return -1;
    if (!a) return 0;
    if (cJSON_GetArraySize(a) > PP_EVAL_MAX_OBJ) PP_FAIL("spec: more than %d objects", PP_EVAL_MAX_OBJ);
    for (int i = 0; i < cJSON_GetArraySize(a); i++) {
        const cJSON *o = cJSON_GetArrayItem(a, i), *c;
        if (!cJSON_IsObject(o)) PP_FAIL("spec: 'objects[%d]' must be an object", i);
        if (opt_str(o, "name", s->oname[i], sizeof s->oname[0], 0) ||
            opt_str(o, "kind", s->okind[i], sizeof s->okind[0], 1))
            return -1;
        if (!known_kind(s->okind[i]))
            PP_FAIL("spec: 'objects[%d].kind' '%s' is not one of ball, block, plume, liquid, ice, particles", i,
                    s->okind[i]);
        if (!(c = cJSON_GetObjectItemCaseSensitive(o, "color"))) PP_FAIL("spec: 'objects[%d].color' is missing", i);
        if (parse_color(c, i, s->ocolor[i])) return -1;
        s->nobj = i + 1;
    }
    return 0;
}

static int parse_ostate(const cJSON *o, int f, int i, pp_eval_ostate *st) {
    char where[48];
    snprintf(where, sizeof where, "states[%d].objects[%d].", f, i);
    if (!cJSON_IsObject(o)) PP_FAIL("spec: '%.40s' must be an object", where);
    double v[5] = {0};
    static const char *const keys[5] = {"x", "y", "vx", "vy", "r"};
    for (int k = 0; k < 5; k++) {
        if (opt_num(o, keys[k], where, &v[k]) < 0) return -1;
        if (fabs(v[k]) > PP_EVAL_MAX_WORLD)
            PP_FAIL("spec: field '%.40s%s' = %g is outside [-%g, %g]", where, keys[k], v[k], PP_EVAL_MAX_WORLD,
                    PP_EVAL_MAX_WORLD);
    }
    st->x = (float)v[0]; st->y = (float)v[1]; st->vx = (float)v[2]; st->vy = (float)v[3]; st->r = (float)v[4];
    st->visible = 1;
    if (opt_bool(o, "visible", where, &st->visible)) return -1;
    st->inside = st->visible;
    return opt_bool(o, "inside", where, &st->inside);
}

static int parse_fluid(const cJSON *fl, int f, pp_eval_spec *s) {
    char where[32];
    snprintf(where, sizeof where, "states[%d].fluid.", f);
    if (!cJSON_IsObject(fl)) PP_FAIL("spec: 'states[%d].fluid' must be an object", f);
    double v[4] = {0};
    static const char *const keys[4] = {"mass", "cx", "cy", "top"};
    for (int k = 0; k < 4; k++) {
        if (opt_num(fl, keys[k], where, &v[k]) < 0) return -1;
        if (fabs(v[k]) > PP_EVAL_MAX_WORLD)
            PP_FAIL("spec: field '%s%s' = %g is outside [-%g, %g]", where, keys[k], v[k], PP_EVAL_MAX_WORLD,
                    PP_EVAL_MAX_WORLD);
    }
    if (!s->fluid) s->fluid = pp_calloc((size_t)s->nstates, sizeof *s->fluid);
    s->has_fluid = 1;
    s->fluid[f] = (pp_eval_fluid){(float)v[0], (float)v[1], (float)v[2], (float)v[3]};
    return 0;
}

static int parse_state(const cJSON *st, int f, pp_eval_spec *s) {
    if (!cJSON_IsObject(st)) PP_FAIL("spec: 'states[%d]' must be an object", f);
    const cJSON *objs = cJSON_GetObjectItemCaseSensitive(st, "objects");
    if (objs) {
        if (!cJSON_IsArray(objs)) PP_FAIL("spec: 'states[%d].objects' must be an array", f);
        if (cJSON_GetArraySize(objs) != s->nobj)
            PP_FAIL("spec: 'states[%d].objects' has %d entries for %d objects", f, cJSON_GetArraySize(objs), s->nobj);
        for (int i = 0; i < s->nobj; i++)
            if (parse_ostate(cJSON_GetArrayItem(objs, i), f, i, &s->st[(size_t)f * s->nobj + i])) return -1;
    }
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(st, "fluid");
    return fl && !cJSON_IsNull(fl) ? parse_fluid(fl, f, s) : 0;
}

static int parse_states(const cJSON *j, pp_eval_spec *s) {
    int bad = 0;
    const cJSON *a = opt_item(j, "states", 1, &bad);
    if (bad) return -1;
    if (!a || cJSON_GetArraySize(a) == 0) return 0;
    s->nstates = cJSON_GetArraySize(a);
    if (s->nstates != s->frames)
        PP_FAIL("spec: 'states' has %d entries but video.frames is %d", s->nstates, s->frames);
    s->st = pp_calloc((size_t)s->nstates * (s->nobj ? s->nobj : 1), sizeof *s->st);
    for (int f = 0; f < s->nstates; f++)
        if (parse_state(cJSON_GetArrayItem(a, f), f, s)) return -1;
    return 0;
}

static int parse_regions(const cJSON *j, pp_eval_spec *s) {
    int bad = 0;
    const cJSON *a = opt_item(j, "regions", 1, &bad);
    if (bad) return -1;
    if (!a) return 0;
    if (cJSON_GetArraySize(a) > PP_EVAL_MAX_REGIONS) PP_FAIL("spec: more than %d regions", PP_EVAL_MAX_REGIONS);
    for (int i = 0; i < cJSON_GetArraySize(a); i++) {
        const cJSON *r = cJSON_GetArrayItem(a, i), *c;
        if (!cJSON_IsObject(r)) PP_FAIL("spec: 'regions[%d]' must be an object", i);
        c = cJSON_GetObjectItemCaseSensitive(r, "category");
        int cat = -1;
        if (cJSON_IsNumber(c) && c->valuedouble >= 0 && c->valuedouble < PP_NCAT && c->valuedouble == floor(c->valuedouble))
            cat = (int)c->valuedouble;
        else if (cJSON_IsString(c))
            for (int k = 0; k < PP_NCAT; k++)
                if (!strcmp(c->valuestring, pp_cat_names[k])) cat = k;
        if (cat < 0 || cat >= PP_NCAT) PP_FAIL("spec: 'regions[%d].category' must name one of the 17 categories", i);
        double x0 = 0, x1 = s->world_w;
        if (opt_num(r, "x0", "regions[].", &x0) < 0 || opt_num(r, "x1", "regions[].", &x1) < 0) return -1;
        if (!(x1 > x0)) PP_FAIL("spec: 'regions[%d]' has x1 <= x0", i);
        if (fabs(x0) > PP_EVAL_MAX_WORLD || fabs(x1) > PP_EVAL_MAX_WORLD)
            PP_FAIL("spec: 'regions[%d]' x0, x1 must be within [-%g, %g]", i, PP_EVAL_MAX_WORLD, PP_EVAL_MAX_WORLD);
        s->rcat[i] = cat;
        s->rx0[i] = (float)x0;
        s->rx1[i] = (float)x1;
        s->nregion = i + 1;
    }
    return 0;
}

static int parse_top(const cJSON *j, pp_eval_spec *s) {
    if (!cJSON_IsObject(j)) PP_FAIL("spec: the top level must be a JSON object");
    if (opt_str(j, "format", s->format, sizeof s->format, 1)) return -1;
    if (strcmp(s->format, "prophy-spec-1")) PP_FAIL("spec: unknown format '%s' (want prophy-spec-1)", s->format);
    if (opt_str(j, "scene", s->scene, sizeof s->scene, 1) || opt_str(j, "split", s->split, sizeof s->split, 0) ||
        opt_str(j, "prompt", s->prompt, sizeof s->prompt, 0))
        return -1;
    if (!pp_sim_find(s->scene)) PP_FAIL("spec: field 'scene': '%s' names no scene (see prophy sim --list)", s->scene);
    if (s->split[0] && strcmp(s->split, "id") && strcmp(s->split, "ood"))
        PP_FAIL("spec: field 'split' must be \"id\" or \"ood\", not '%s'", s->split);
    double seed = 0;
    if (opt_num(j, "seed", "", &seed) < 0) return -1;
    if (!(seed >= 0 && seed < 9007199254740992.0) || seed != floor(seed))
        PP_FAIL("spec: field 'seed' = %g is not an integer in [0, 2^53)", seed);
    s->seed = (long long)seed;
    return 0;
}

int pp_eval_spec_from_json(const cJSON *j, pp_eval_spec *s) {
    memset(s, 0, sizeof *s);
    int rc = parse_top(j, s) || parse_categories(j, s) || parse_world(j, s) || parse_video(j, s) ||
             parse_params(j, s) || parse_objects(j, s) || parse_states(j, s) || parse_regions(j, s);
    if (rc) {
        pp_eval_spec_free(s);
        return -1;
    }
    return 0;
}

int pp_eval_spec_parse(const char *text, pp_eval_spec *s) {
    memset(s, 0, sizeof *s);
    cJSON *j = cJSON_Parse(text);
    if (!j) PP_FAIL("spec: not valid JSON (near '%.20s')", cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    int rc = pp_eval_spec_from_json(j, s);
    cJSON_Delete(j);
    return rc;
}

int pp_eval_spec_load(const char *path, pp_eval_spec *s) {
    memset(s, 0, sizeof *s);
    char *text;
    size_t len;
    if (pp_read_file(path, &text, &len)) return -1;
    int rc = pp_eval_spec_parse(text, s);
    free(text);
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pp_lasterr());
        PP_FAIL("%s: %s", path, msg);
    }
    return 0;
}

void pp_eval_spec_free(pp_eval_spec *s) {
    free(s->st);
    free(s->fluid);
    s->st = NULL;
    s->fluid = NULL;
    s->nstates = 0;
    s->has_fluid = 0;
}

double pp_eval_spec_param(const pp_eval_spec *s, const char *name) {
    for (int i = 0; i < s->nparam; i++)
        if (!strcmp(s->pname[i], name)) return s->pval[i];
    return NAN;
}

int pp_eval_spec_check_video(const pp_eval_spec *s, const pp_video *v) {
    if (s->frames != v->frames || s->height != v->height || s->width != v->width)
        PP_FAIL("video is %dx%d with %d frames but its spec says %dx%d with %d frames", v->width, v->height,
                v->frames, s->width, s->height, s->frames);
    return 0;
}
