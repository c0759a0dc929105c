/* fuzz_model_config.c - the model-file config metadata ("prophy.config" JSON):
 * pp_model_config_from_json (the backbone part, prophy/config.c) and
 * pp_prophy_config_from_json (the whole ProPhy model, prophy/model.c); for an
 * accepted config, the backbone's and the text encoder's tensors and the branch's
 * (SEB, REB) are declared (shapes only, no weights allocated): an accepted config
 * must be one the model can be built from. */
#include "fuzz_util.h"
#include "prophy/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *json = fz_cstr(data, n);
    pp_model_config mc;
    fz_clear_err();
    if (pp_model_config_from_json(&mc, json, "fuzz.safetensors") == 0) {
        pp_params t = {0};
        pp_dit dit;
        if (pp_dit_init(&dit, &mc.dit, &t)) abort();
        pp_dit_free(&dit);
        pp_params_free(&t);
    } else {
        fz_check_err("fuzz.safetensors");
    }
    pp_prophy_config pc;
    fz_clear_err();
    if (pp_prophy_config_from_json(&pc, json, "fuzz.safetensors") == 0) {
        pp_params t = {0};
        pp_text_encoder te;
        if (pp_text_encoder_create(&te, &pc.text, &t)) abort();
        pp_text_encoder_free(&te);
        const pp_branch_cfg *e = &pc.branch;
        pp_seb seb;
        pp_seb_cfg sc = {.E = e->E_s, .C = pc.base.dit.dim, .text_dim = pc.base.dit.text_dim,
                         .hidden = e->seb_hidden, .gf0 = e->gf0, .gh0 = e->gh0, .gw0 = e->gw0};
        if (pp_prophy_has_seb(&pc) && pp_seb_declare(&seb, &t, &sc)) abort();
        pp_reb reb;
        pp_reb_cfg rc = {.E = e->E_r, .C = pc.base.dit.dim, .top_k = e->top_k, .renorm = e->reb_renorm};
        if (pp_prophy_has_reb(&pc) && pp_reb_declare(&reb, &t, &rc)) abort();
        pp_params_free(&t);
    } else {
        fz_check_err("fuzz.safetensors");
    }
    free(json);
    return 0;
}
