/* fuzz_model_config.c - the model-file config metadata ("prophy.config" JSON):
 * pp_model_config_from_json (backbone) and pp_prophy_config_from_json (the whole
 * ProPhy model); for an accepted config, the backbone's and the text encoder's
 * tensors are declared (shapes only, no weights allocated). */
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
        pp_params_free(&t);
    } else {
        fz_check_err("fuzz.safetensors");
    }
    free(json);
    return 0;
}
