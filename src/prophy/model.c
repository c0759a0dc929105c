/* prophy_model.c - the assembled ProPhy model: config, parameter layout, init,
 * freezing and the model file. The forward/backward is in prophy_forward.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "branch/branch_util.h"
#include "base/common.h"
#include "prophy/model.h"

/* ------------------------------------------------------------------ config */

static const char *const mode_names[] = {"none", "seb", "reb", "full"};

const char *pp_branch_mode_name(pp_branch_mode m) {
    return (unsigned)m < 4 ? mode_names[m] : "?";
}

int pp_branch_mode_parse(const char *s, pp_branch_mode *out) {
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, mode_names[i])) {
            *out = (pp_branch_mode)i;
            return 0;
        }
    PP_FAIL("unknown branch mode '%s' (expected none, seb, reb or full)", s ? s : "");
}

void pp_prophy_config_default(pp_prophy_config *c, const pp_model_config *base, int vocab) {
    memset(c, 0, sizeof *c);
    c->base = *base;
    const pp_dit_config *d = &base->dit;
    c->text = (pp_text_config){.vocab = vocab, .dim = d->text_dim, .heads = d->text_dim % 2 ? 1 : 2,
                               .layers = 2, .ctx = d->text_len, .zero_pads = 1};
    c->mode = PP_BRANCH_FULL;
    c->branch = pp_branch_defaults();
    if (c->branch.M > d->layers) c->branch.M = d->layers;
}

int pp_prophy_config_check(pp_prophy_config *c) {
    if (pp_model_config_check(&c->base)) return -1;
    const pp_dit_config *d = &c->base.dit;
    c->text.dim = d->text_dim, c->text.ctx = d->text_len;
    if (c->branch.seb_hidden < 1) c->branch.seb_hidden = d->dim;
    if (c->branch.gf0 < 1 || c->branch.gh0 < 1 || c->branch.gw0 < 1) {
        c->branch.gf0 = c->base.frames / d->patch[0];
        c->branch.gh0 = c->base.height / d->patch[1];
        c->branch.gw0 = c->base.width / d->patch[2];
    }
    if ((unsigned)c->mode > PP_BRANCH_FULL) PP_FAIL("model config: bad branch mode %d", (int)c->mode);
    const pp_text_config *t = &c->text;
    if (t->vocab < 1 || t->vocab > PP_PROPHY_MAX_VOCAB || t->heads < 1 || t->heads > 256 || t->layers < 0 ||
        t->layers > 64 || (t->zero_pads != 0 && t->zero_pads != 1))
        PP_FAIL("model config: text_encoder vocab %d, heads %d, layers %d, zero_pads %d: outside [1, %d], [1, 256], "
                "[0, 64], {0, 1}", t->vocab, t->heads, t->layers, t->zero_pads, PP_PROPHY_MAX_VOCAB);
    const pp_branch_cfg *b = &c->branch;
    int flags_ok = (b->reb_renorm | b->coarse_squared | b->fine_sum) >> 1 == 0 && b->reb_renorm >= 0 &&
                   b->coarse_squared >= 0 && b->fine_sum >= 0;
    if (c->mode != PP_BRANCH_NONE &&
        (b->E_s < 1 || b->E_s > 1024 || b->E_r < 1 || b->E_r > 1024 || b->top_k < 1 || b->top_k > b->E_r ||
         b->seb_hidden > 65536 || b->fine_hidden < 1 || b->fine_hidden > 65536 || b->gf0 > PP_MODEL_MAX_SIZE ||
         b->gh0 > PP_MODEL_MAX_SIZE || b->gw0 > PP_MODEL_MAX_SIZE || !flags_ok))
        PP_FAIL("model config: branch E_s %d, E_r %d, top_k %d, seb_hidden %d, fine_hidden %d or grid %dx%dx%d "
                "out of bounds (experts in [1, 1024], top_k <= E_r, widths <= 65536, grid <= %d)",
                b->E_s, b->E_r, b->top_k, b->seb_hidden, b->fine_hidden, b->gf0, b->gh0, b->gw0, PP_MODEL_MAX_SIZE);
    if (c->text.dim % c->text.heads) /* what the model could not be built from: refused by the reader */
        PP_FAIL("model config: text_encoder.heads %d must divide text_dim %d", c->text.heads, c->text.dim);
    if (pp_prophy_has_reb(c) && b->E_r > PP_REB_MAX_EXPERTS)
        PP_FAIL("model config: branch.E_r %d must be in [1, %d] with a REB", b->E_r, PP_REB_MAX_EXPERTS);
    if (c->mode != PP_BRANCH_NONE && (c->branch.M < 1 || c->branch.M > d->layers))
        PP_FAIL("model config: Physical Blocks M = %d must be in [1, layers = %d]", c->branch.M, d->layers);
    if (!(c->branch.w_coarse >= 0) || !(c->branch.w_fine_align >= 0) || !(c->branch.w_balance >= 0) ||
        !isfinite(c->branch.w_coarse + c->branch.w_fine_align + c->branch.w_balance))
        PP_FAIL("model config: loss weights must be finite and >= 0");
    return 0;
}

cJSON *pp_prophy_config_to_json(const pp_prophy_config *c) {
    cJSON *j = pp_model_config_to_json(&c->base);
    cJSON *t = cJSON_AddObjectToObject(j, "text_encoder");
    cJSON_AddNumberToObject(t, "vocab", c->text.vocab);
    cJSON_AddNumberToObject(t, "heads", c->text.heads);
    cJSON_AddNumberToObject(t, "layers", c->text.layers);
    cJSON_AddNumberToObject(t, "zero_pads", c->text.zero_pads);
    cJSON *b = cJSON_AddObjectToObject(j, "branch");
    const pp_branch_cfg *e = &c->branch;
    cJSON_AddStringToObject(b, "mode", pp_branch_mode_name(c->mode));
    cJSON_AddNumberToObject(b, "M", e->M);
    cJSON_AddNumberToObject(b, "E_s", e->E_s);
    cJSON_AddNumberToObject(b, "seb_hidden", e->seb_hidden);
    int grid[3] = {e->gf0, e->gh0, e->gw0};
    cJSON_AddItemToObject(b, "grid", cJSON_CreateIntArray(grid, 3));
    cJSON_AddNumberToObject(b, "E_r", e->E_r);
    cJSON_AddNumberToObject(b, "top_k", e->top_k);
    cJSON_AddNumberToObject(b, "reb_renorm", e->reb_renorm);
    cJSON_AddNumberToObject(b, "fine_hidden", e->fine_hidden);
    cJSON_AddNumberToObject(b, "coarse_squared", e->coarse_squared);
    cJSON_AddNumberToObject(b, "fine_sum", e->fine_sum);
    cJSON_AddNumberToObject(b, "w_coarse", e->w_coarse);
    cJSON_AddNumberToObject(b, "w_fine_align", e->w_fine_align);
    cJSON_AddNumberToObject(b, "w_balance", e->w_balance);
    return j;
}

typedef struct {
    const char *k;
    int *i;
    float *f;
} json_field;

static int read_fields(const cJSON *o, const char *obj, const json_field *fs, size_t n,
                       const char *where) {
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, fs[i].k);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            PP_FAIL("%s: model config lacks the number '%s.%s'", where, obj, fs[i].k);
        if (!fs[i].i) *fs[i].f = (float)v->valuedouble;
        else if (pp_json_int(o, fs[i].k, where, fs[i].i)) return -1;
    }
    return 0;
}

static int text_from_json(pp_prophy_config *c, const cJSON *t, const char *where) {
    if (!cJSON_IsObject(t)) PP_FAIL("%s: model config has no 'text_encoder' (a backbone-only file?)", where);
    json_field fs[] = {{"vocab", &c->text.vocab, 0}, {"heads", &c->text.heads, 0},
                       {"layers", &c->text.layers, 0}, {"zero_pads", &c->text.zero_pads, 0}};
    return read_fields(t, "text_encoder", fs, sizeof fs / sizeof *fs, where);
}

static int branch_from_json(pp_prophy_config *c, const cJSON *b, const char *where) {
    if (!cJSON_IsObject(b)) PP_FAIL("%s: model config has no 'branch' object", where);
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(b, "mode");
    if (!cJSON_IsString(mode) || pp_branch_mode_parse(mode->valuestring, &c->mode))
        PP_FAIL("%s: model config: 'branch.mode' must be none, seb, reb or full", where);
    pp_branch_cfg *e = &c->branch;
    json_field fs[] = {{"M", &e->M, 0},           {"E_s", &e->E_s, 0},
                       {"seb_hidden", &e->seb_hidden, 0}, {"E_r", &e->E_r, 0},
                       {"top_k", &e->top_k, 0},   {"reb_renorm", &e->reb_renorm, 0},
                       {"fine_hidden", &e->fine_hidden, 0}, {"coarse_squared", &e->coarse_squared, 0},
                       {"fine_sum", &e->fine_sum, 0}, {"w_coarse", 0, &e->w_coarse},
                       {"w_fine_align", 0, &e->w_fine_align}, {"w_balance", 0, &e->w_balance}};
    if (read_fields(b, "branch", fs, sizeof fs / sizeof *fs, where)) return -1;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(b, "grid");
    if (!cJSON_IsArray(g) || cJSON_GetArraySize(g) != 3)
        PP_FAIL("%s: model config: 'branch.grid' must be 3 numbers", where);
    int *grid[3] = {&e->gf0, &e->gh0, &e->gw0};
    for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetArrayItem(g, i);
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 1 ||
            x->valuedouble > PP_MODEL_MAX_SIZE)
            PP_FAIL("%s: model config: 'branch.grid' must be 3 integers in [1, %d]", where, PP_MODEL_MAX_SIZE);
        *grid[i] = (int)x->valuedouble;
    }
    return 0;
}

int pp_prophy_config_from_json(pp_prophy_config *c, const char *json, const char *where) {
    memset(c, 0, sizeof *c);
    if (pp_model_config_from_json(&c->base, json, where)) return -1;
    cJSON *j = cJSON_Parse(json);
    int rc = text_from_json(c, cJSON_GetObjectItemCaseSensitive(j, "text_encoder"), where);
    if (!rc) rc = branch_from_json(c, cJSON_GetObjectItemCaseSensitive(j, "branch"), where);
    cJSON_Delete(j);
    if (rc) return -1;
    if (pp_prophy_config_check(c)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pp_lasterr());
        PP_FAIL("%s: %s", where, msg);
    }
    return 0;
}

/* ------------------------------------------------------------------ layout */

static int branch_declare(pp_prophy *m) {
    return pp_branch_parts_declare(&m->br, &m->table, m->cfg.mode, &m->cfg.branch, &m->cfg.base.dit);
}

static int copy_vocab(pp_vocab *dst, const pp_vocab *src) {
    size_t len = 0;
    char *s = pp_vocab_serialize(src, &len);
    int rc = pp_vocab_parse(dst, s, len);
    free(s);
    return rc;
}

/* pp_prophy_create without the weights (m->params stays NULL). */
static int prophy_declare(pp_prophy *m, const pp_prophy_config *cfg, const pp_vocab *vocab) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->cfg.text.vocab = vocab->n;
    int rc = pp_prophy_config_check(&m->cfg);
    if (!rc) rc = copy_vocab(&m->vocab, vocab);
    if (!rc) rc = pp_text_encoder_create(&m->te, &m->cfg.text, &m->table);
    if (!rc) rc = pp_dit_init(&m->dit, &m->cfg.base.dit, &m->table);
    if (!rc) rc = branch_declare(m);
    if (rc) {
        pp_prophy_free(m);
        return -1;
    }
    return 0;
}

/* The weights of a declared model, zeroed, after the memory for them is checked. */
static int prophy_alloc(pp_prophy *m) {
    char what[96];
    snprintf(what, sizeof what, "a model of %.1f M parameters", m->table.total / 1e6);
    if (pp_mem_check(pp_mul_size(m->table.total, sizeof(float)), what)) {
        pp_prophy_free(m);
        return -1;
    }
    m->params = pp_zalloc_floats(m->table.total);
    return 0;
}

int pp_prophy_create(pp_prophy *m, const pp_prophy_config *cfg, const pp_vocab *vocab) {
    return prophy_declare(m, cfg, vocab) || prophy_alloc(m) ? -1 : 0;
}

void pp_prophy_free(pp_prophy *m) {
    pp_text_encoder_free(&m->te);
    pp_dit_free(&m->dit);
    pp_vocab_free(&m->vocab);
    pp_branch_parts_free(&m->br);
    pp_params_free(&m->table);
    pp_free_aligned(m->params);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ init */

static int starts_with(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

/* PB j <- backbone block j, tensor by tensor (both declared by pp_dit_block_declare). */
static void copy_block(const pp_prophy *m, float *P, int j) {
    char src[PP_NAME_MAX], pre[32];
    snprintf(pre, sizeof pre, "branch.pb.%d.", j);
    for (int i = 0; i < m->table.n; i++) {
        const pp_param *d = &m->table.p[i];
        if (!starts_with(d->name, pre)) continue;
        snprintf(src, sizeof src, "blocks.%d.%s", j, d->name + strlen(pre));
        const pp_param *s = pp_params_find(&m->table, src);
        memcpy(P + d->offset, P + s->offset, d->numel * sizeof(float));
    }
}

void pp_prophy_attach_branch(const pp_prophy *m, float *P, pp_rng *rng) {
    for (int j = 0; j < m->br.M; j++) copy_block(m, P, j);
    pp_branch_parts_init(&m->br, P, rng);
}

void pp_prophy_init_weights(const pp_prophy *m, float *P, pp_rng *rng) {
    pp_dit_init_weights(&m->dit, P, rng);
    pp_text_encoder_init(&m->te, P, rng);
    pp_prophy_attach_branch(m, P, rng);
}

int pp_prophy_copy_weights(const pp_prophy *dst, float *Pd, const pp_prophy *src, const float *Ps,
                           int *copied) {
    int n = 0;
    for (int i = 0; i < dst->table.n; i++) {
        const pp_param *d = &dst->table.p[i], *s = pp_params_find(&src->table, d->name);
        int same = s && s->ndim == d->ndim && !memcmp(s->shape, d->shape, sizeof(int64_t) * d->ndim);
        if (same) {
            memcpy(Pd + d->offset, Ps + s->offset, d->numel * sizeof(float));
            n++;
        } else if (!starts_with(d->name, "branch.")) {
            PP_FAIL("model '%s' lacks tensor '%s' (or has another shape)",
                    pp_branch_mode_name(src->cfg.mode), d->name);
        }
    }
    if (copied) *copied = n;
    return 0;
}

int pp_prophy_freeze_backbone(pp_prophy *m, int frozen, int with_text) {
    int n = 0;
    for (int i = 0; i < m->table.n; i++) {
        pp_param *p = &m->table.p[i];
        if (starts_with(p->name, "branch.")) continue;
        if (starts_with(p->name, "text_encoder.") && !with_text) continue;
        p->frozen = frozen;
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------ model file */

int pp_prophy_add_to_writer(const pp_prophy *m, pp_st_writer *w, const float *params, pp_dtype as) {
    cJSON *j = pp_prophy_config_to_json(&m->cfg);
    char *v = pp_vocab_serialize(&m->vocab, NULL);
    int rc = pp_st_set_meta_json(w, "prophy.config", j);
    if (!rc) rc = pp_st_set_meta(w, "prophy.vocab", v);
    free(v);
    cJSON_Delete(j);
    return rc ? rc : pp_params_write(&m->table, params ? params : m->params, w, as);
}

int pp_prophy_save(const pp_prophy *m, const char *path, const float *params, pp_dtype as) {
    pp_st_writer *w = pp_st_writer_new();
    int rc = pp_prophy_add_to_writer(m, w, params, as);
    if (!rc) rc = pp_st_save(w, path);
    pp_st_writer_free(w);
    return rc;
}

int pp_prophy_load_weights(pp_prophy *m, const pp_st_file *f) {
    if (pp_params_read(&m->table, m->params, f)) return -1;
    for (int i = 0; i < pp_st_count(f); i++) { /* a model tensor the config does not declare */
        const char *name = pp_st_at(f, i)->name;
        if (!starts_with(name, "optim.") && !pp_params_find(&m->table, name))
            PP_FAIL("%s: tensor '%s' is not part of the model its config describes (branch '%s')",
                    f->path, name, pp_branch_mode_name(m->cfg.mode));
    }
    return 0;
}

static int vocab_from_file(pp_vocab *v, const pp_st_file *f, int expect) {
    const char *s = pp_st_meta(f, "prophy.vocab");
    if (!s) PP_FAIL("%s: no tokenizer vocabulary (metadata 'prophy.vocab')", f->path);
    if (pp_vocab_parse(v, s, strlen(s))) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pp_lasterr());
        PP_FAIL("%s: %s", f->path, msg);
    }
    if (v->n != expect) {
        int n = v->n;
        pp_vocab_free(v);
        PP_FAIL("%s: the vocabulary has %d tokens but the config says text_encoder.vocab = %d",
                f->path, n, expect);
    }
    return 0;
}

int pp_prophy_load(pp_prophy *m, const char *path) {
    pp_st_file f;
    memset(m, 0, sizeof *m);
    if (pp_st_open(&f, path)) return -1;
    pp_prophy_config cfg;
    pp_vocab v;
    memset(&v, 0, sizeof v);
    int rc = pp_prophy_config_from_json(&cfg, pp_st_meta(&f, "prophy.config"), path);
    if (!rc) rc = vocab_from_file(&v, &f, cfg.text.vocab);
    if (!rc && prophy_declare(m, &cfg, &v)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pp_lasterr());
        pp_seterr("%s: %s", path, msg);
        rc = -1;
    }
    if (!rc) { /* the file must hold the weights (2 bytes each at least) before they are allocated */
        if ((uint64_t)m->table.total > f.data_len / 2) {
            pp_seterr("%s: prophy.config describes %llu weights, more than the file's %llu bytes of tensors can hold",
                      path, (unsigned long long)m->table.total, (unsigned long long)f.data_len);
            rc = -1;
        }
    }
    if (!rc) rc = prophy_alloc(m);
    if (!rc) rc = pp_prophy_load_weights(m, &f);
    pp_vocab_free(&v);
    pp_st_close(&f);
    if (rc) pp_prophy_free(m);
    return rc;
}
