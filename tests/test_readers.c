/* test_readers.c - the readers of outside input refuse what they cannot use, with
 * one error line naming the file and the field; every input the fuzzers (fuzz/,
 * docs/FUZZING.md) found crashing, hanging or undefined is kept here, tiny and
 * inline, as a regression test. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "base/common.h"
#include "io/safetensors.h"
#include "prophy/model.h"
#include "test.h"

static int has_err(const char *s) { return strstr(pp_lasterr(), s) != NULL; }

/* ---------------------------------------------------------------- model config */

/* The stage-2 config of fuzz/corpus/model_config/full.json (valid). */
static const char *k_config =
    "{\"format\":\"prophy-model-1\",\"world\":\"physics\",\"dim\":12,\"ffn_dim\":4,\"heads\":2,\"layers\":1,"
    "\"patch\":[1,1,1],\"in_dim\":7,\"out_dim\":3,\"text_dim\":2,\"text_len\":2,\"freq_dim\":2,\"eps\":1e-06,"
    "\"rope_theta\":10000,\"frames\":1,\"height\":8,\"width\":8,\"fps\":10,\"cond\":1,"
    "\"text_encoder\":{\"vocab\":247,\"heads\":2,\"layers\":2,\"zero_pads\":1},"
    "\"branch\":{\"mode\":\"full\",\"M\":1,\"E_s\":1,\"seb_hidden\":12,\"grid\":[1,8,8],\"E_r\":1,\"top_k\":1,"
    "\"reb_renorm\":0,\"fine_hidden\":64,\"coarse_squared\":0,\"fine_sum\":0,\"w_coarse\":0.1,"
    "\"w_fine_align\":0.02,\"w_balance\":0.01}}";

/* k_config with the member at `path` ("dim", "branch.grid") set to the JSON `value`
 * (malloc'd). */
static char *config_with(const char *path, const char *value) {
    cJSON *j = cJSON_Parse(k_config), *o = j;
    char key[64];
    snprintf(key, sizeof key, "%s", path);
    char *dot = strchr(key, '.');
    if (dot) {
        *dot = 0;
        o = cJSON_GetObjectItemCaseSensitive(j, key);
        memmove(key, dot + 1, strlen(dot + 1) + 1);
    }
    cJSON *v = cJSON_Parse(value);
    if (!v) abort();
    if (cJSON_GetObjectItemCaseSensitive(o, key)) cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else cJSON_AddItemToObject(o, key, v);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* The config readers refuse `value` at `path`, naming the file and `field`: the
 * ProPhy reader, and the backbone reader too when `backbone`. */
static int refused(const char *path, const char *value, const char *field, int backbone) {
    char *s = config_with(path, value);
    pp_model_config mc;
    pp_prophy_config pc;
    int ok = 1;
    if (backbone) {
        ok &= pp_model_config_from_json(&mc, s, "m.safetensors") == -1 && has_err("m.safetensors") && has_err(field);
        if (!ok) printf("    backbone reader, %s = %s: %s\n", path, value, pp_lasterr());
    }
    ok &= pp_prophy_config_from_json(&pc, s, "m.safetensors") == -1 && has_err("m.safetensors") && has_err(field);
    if (!ok) printf("    %s = %s: %s\n", path, value, pp_lasterr());
    free(s);
    return ok;
}

static int config_refused(const char *path, const char *value, const char *field) {
    return refused(path, value, field, strchr(path, '.') == NULL);
}

TEST(readers_config_valid) {
    pp_prophy_config pc;
    CHECK(pp_prophy_config_from_json(&pc, k_config, "m.safetensors") == 0);
    CHECK(pc.base.dit.dim == 12 && pc.base.dit.in_dim == 7 && pc.ex.gh0 == 8 && pc.text.vocab == 247);
}

/* fuzz finding: (int) of a huge JSON number is undefined behaviour */
TEST(readers_config_huge_numbers) {
    CHECK(config_refused("dim", "1e300", "'dim'"));
    CHECK(config_refused("layers", "-1e300", "'layers'"));
    CHECK(config_refused("frames", "2147483648", "'frames'"));
    CHECK(config_refused("text_encoder.vocab", "1e300", "'text_encoder.vocab'"));
    CHECK(config_refused("branch.E_s", "-9e18", "'branch.E_s'"));
    CHECK(config_refused("branch.grid", "[1e300,1,1]", "'branch.grid[0]'"));
}

/* fuzz finding: 2 * out_dim + 1 overflowed int (in_dim from cond) */
TEST(readers_config_out_dim_overflow) {
    CHECK(config_refused("out_dim", "2147483647", "'out_dim'"));
    pp_model_config c = {.dit = {.out_dim = 2147483647}, .cond = 1};
    CHECK(pp_model_config_check(&c) == -1 && has_err("out_dim"));
}

/* nonsense values in valid JSON: a bound per field (config.h, model.h) */
TEST(readers_config_bounds) {
    CHECK(config_refused("layers", "1000000", "'layers'"));
    CHECK(config_refused("dim", "-12", "'dim'"));
    CHECK(config_refused("dim", "12.5", "'dim'"));
    CHECK(config_refused("heads", "0", "'heads'"));
    CHECK(config_refused("ffn_dim", "100000", "'ffn_dim'"));
    CHECK(config_refused("cond", "2", "'cond'"));
    CHECK(config_refused("fps", "-10", "'fps'"));
    CHECK(config_refused("eps", "\"small\"", "'eps'"));
    CHECK(config_refused("format", "\"prophy-model-9\"", "'format'"));
    CHECK(config_refused("patch", "[1,1]", "'patch'"));
    CHECK(config_refused("patch", "[1,\"x\",1]", "'patch[1]'"));
    CHECK(config_refused("in_dim", "3", "'in_dim'"));
    CHECK(config_refused("text_encoder.layers", "65", "'text_encoder.layers'"));
    CHECK(config_refused("text_encoder.zero_pads", "7", "'text_encoder.zero_pads'"));
    CHECK(config_refused("branch.M", "300", "'branch.M'"));
    CHECK(config_refused("branch.E_r", "0", "'branch.E_r'"));
    CHECK(config_refused("branch.grid", "[0,8,8]", "'branch.grid[0]'"));
    CHECK(config_refused("branch.w_coarse", "-1", "'branch.w_coarse'"));
}

/* fuzz finding: the checks after the fields (patch, head dim, divisibility) did not
 * name the file */
TEST(readers_config_check_names_file) {
    CHECK(config_refused("patch", "[0,1,1]", "patch"));
    CHECK(config_refused("heads", "3", "head dim"));
    CHECK(config_refused("patch", "[1,3,1]", "divisible"));
    CHECK(config_refused("branch.M", "2", "Physical Blocks"));
}

/* fuzz finding: configs the reader accepted but the model could not be built from */
TEST(readers_config_unbuildable) {
    CHECK(refused("text_dim", "1", "text_encoder.heads", 0));
    CHECK(config_refused("branch.E_r", "65", "branch.E_r"));
    CHECK(config_refused("branch.top_k", "2", "branch.top_k"));
}

/* A model file whose config describes more weights than the file holds is refused
 * before the weights are allocated (8192 x 256 layers would be ~10^11 floats). */
TEST(readers_model_file_too_small_for_config) {
    const char *path = pp_test_path("huge.safetensors");
    char *cfg = config_with("dim", "8192");
    cJSON *j = cJSON_Parse(cfg);
    cJSON_ReplaceItemInObjectCaseSensitive(j, "layers", cJSON_CreateNumber(256));
    cJSON_ReplaceItemInObjectCaseSensitive(j, "heads", cJSON_CreateNumber(64));
    free(cfg);
    cfg = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    pp_vocab v;
    const char *texts[1] = {"a ball"};
    pp_vocab_build(&v, texts, 1);
    char *vs = pp_vocab_serialize(&v, NULL);
    pp_st_writer *w = pp_st_writer_new();
    float one = 1;
    CHECK(pp_st_set_meta(w, "prophy.config", cfg) == 0 && pp_st_set_meta(w, "prophy.vocab", vs) == 0);
    CHECK(pp_st_add_f32(w, "x", PP_F32, 0, NULL, &one) == 0 && pp_st_save(w, path) == 0);
    pp_st_writer_free(w);
    pp_model m;
    CHECK(pp_model_load(&m, path) == -1 && has_err("huge.safetensors") && has_err("describes"));
    pp_prophy p;
    CHECK(pp_prophy_load(&p, path) == -1 && has_err("huge.safetensors"));
    free(vs);
    free(cfg);
    pp_vocab_free(&v);
}
