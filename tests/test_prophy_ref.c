/* test_prophy_ref.c - the assembled C model (text encoder + backbone + full branch,
 * random non-zero injections) against its PyTorch reference (tools/prophy_ref.py,
 * float64, stored F32): prediction, router weights, top-k selection, every loss
 * term and every parameter gradient, at <= 1e-4 relative error per tensor. */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "prophy/model.h"
#include "io/safetensors.h"
#include "test.h"

#define REL_TOL 1e-4

static float *fx_load(const pp_st_file *f, const char *name, size_t *n) {
    const pp_st_tensor *t = pp_st_find(f, name);
    if (!t) {
        pp_test_fail(__FILE__, __LINE__, "fixture lacks %s", name);
        if (n) *n = 0;
        return pp_zalloc_floats(1 << 16);
    }
    float *d = pp_alloc_floats(t->numel);
    pp_st_to_f32(f, t, d);
    if (n) *n = t->numel;
    return d;
}

static void check_rel(const char *what, const float *got, const float *want, size_t n) {
    double e = pp_rel_err(got, want, n);
    CHECK_MSG(e <= REL_TOL, "%s: relative error %.3g > %.3g", what, e, REL_TOL);
}

static void check_loss(const pp_st_file *f, const char *name, float got) {
    float *w = fx_load(f, name, NULL);
    double e = fabs((double)got - w[0]) / fmax(fabs((double)w[0]), 1e-12);
    CHECK_MSG(e <= REL_TOL, "%s: %.9g vs %.9g (rel %.3g)", name, got, w[0], e);
    pp_free_aligned(w);
}

/* Opens the fixture and builds the model it describes with its weights. */
static int open_model(pp_st_file *f, pp_prophy *m) {
    char path[512];
    snprintf(path, sizeof path, "%s/prophy_ref.safetensors", pp_fixture_dir());
    if (pp_st_open(f, path)) return -1;
    pp_prophy_config c;
    pp_vocab v;
    const char *vs = pp_st_meta(f, "vocab");
    if (pp_prophy_config_from_json(&c, pp_st_meta(f, "config"), path) || !vs ||
        pp_vocab_parse(&v, vs, strlen(vs)))
        return -1;
    int rc = pp_prophy_create(m, &c, &v);
    pp_vocab_free(&v);
    for (int i = 0; i < m->table.n && !rc; i++) {
        const pp_param *p = &m->table.p[i];
        rc = pp_st_load_f32(f, p->name, m->params + p->offset, p->ndim, p->shape);
    }
    return rc;
}

TEST(prophy_matches_pytorch_forward_losses_grads) {
    pp_st_file f;
    pp_prophy m;
    memset(&m, 0, sizeof m);
    if (open_model(&f, &m)) {
        CHECK_MSG(0, "cannot open the fixture: %s", pp_lasterr());
        pp_st_close(&f);
        return;
    }
    const pp_prophy_config *c = &m.cfg;
    CHECK(c->mode == PP_BRANCH_FULL && c->branch.M == 2);
    int B = atoi(pp_st_meta(&f, "batch")), F = c->base.frames, H = c->base.height, W = c->base.width;
    size_t nids, npred;
    float *x = fx_load(&f, "input.x", NULL), *t = fx_load(&f, "input.t", NULL);
    float *fids = fx_load(&f, "input.ids", &nids), *target = fx_load(&f, "input.target", NULL);
    float *labels = fx_load(&f, "input.labels", NULL), *Qr = fx_load(&f, "input.Qr", NULL);
    float *want = fx_load(&f, "output.pred", &npred);
    int *ids = pp_malloc(nids * sizeof(int));
    for (size_t i = 0; i < nids; i++) ids[i] = (int)fids[i];
    pp_prophy_acts *a = pp_prophy_acts_new(&m, B, F, H, W, 1);
    float *G = pp_zalloc_floats(m.table.total), *pred = pp_alloc_floats(npred);
    pp_prophy_batch b = {.x = x, .t = t, .ids = ids, .target = target, .labels = labels, .Qr = Qr};
    pp_prophy_losses L;
    CHECK(pp_prophy_step(&m, m.params, G, a, &b, pred, &L) == 0);
    check_rel("output.pred", pred, want, npred);
    size_t nrs, nrr, nsel;
    float *rs = fx_load(&f, "output.rho_s", &nrs), *rr = fx_load(&f, "output.rho_r", &nrr);
    float *sel = fx_load(&f, "output.sel", &nsel);
    check_rel("output.rho_s", pp_prophy_acts_rho_s(a), rs, nrs);
    check_rel("output.rho_r", pp_prophy_acts_rho_r(a), rr, nrr);
    int same_sel = 1;
    for (size_t i = 0; i < nsel; i++) same_sel &= pp_prophy_acts_sel(a)[i] == (int)sel[i];
    CHECK_MSG(same_sel, "the top-k selection differs from PyTorch's");
    check_loss(&f, "loss.total", L.total);
    check_loss(&f, "loss.diff", L.diff);
    check_loss(&f, "loss.coarse", L.coarse);
    check_loss(&f, "loss.fine_align", L.fine_align);
    check_loss(&f, "loss.balance", L.balance);
    int checked = 0;
    for (int i = 0; i < m.table.n; i++) {
        const pp_param *p = &m.table.p[i];
        char name[PP_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", p->name);
        size_t n;
        float *g = fx_load(&f, name, &n);
        if (n == p->numel) check_rel(name, G + p->offset, g, n), checked++;
        pp_free_aligned(g);
    }
    CHECK(checked == m.table.n);
    float *bufs[] = {x, t, fids, target, labels, Qr, want, G, pred, rs, rr, sel};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pp_free_aligned(bufs[i]);
    free(ids);
    pp_prophy_acts_free(a);
    pp_prophy_free(&m);
    pp_st_close(&f);
}
