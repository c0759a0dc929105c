/* fuzz_wan_config.c - the Wan2.1 DiT's config.json (wan/wan_files.c,
 * pp_wan_dit_config_parse: Wan's keys or diffusers'). An accepted config must be
 * one the DiT can be declared from (pp_dit_init and pp_dit_init_external, shapes
 * only, no weights allocated), and it must read the same when written in the
 * other layout's keys (diffusers' has no text_len: the default is kept). */
#include "fuzz_util.h"
#include "wan/wan_files.h"

static void to_json(const pp_dit_config *c, int diffusers, char *buf, size_t size) {
    if (diffusers)
        snprintf(buf, size,
                 "{\"_class_name\":\"WanTransformer3DModel\",\"num_attention_heads\":%d,\"attention_head_dim\":%d,"
                 "\"num_layers\":%d,\"ffn_dim\":%d,\"in_channels\":%d,\"out_channels\":%d,\"text_dim\":%d,"
                 "\"freq_dim\":%d,\"eps\":%.9g,\"patch_size\":[%d,%d,%d],\"cross_attn_norm\":true,"
                 "\"qk_norm\":\"rms_norm_across_heads\",\"image_dim\":null}",
                 c->heads, c->dim / c->heads, c->layers, c->ffn_dim, c->in_dim, c->out_dim, c->text_dim, c->freq_dim,
                 (double)c->eps, c->patch[0], c->patch[1], c->patch[2]);
    else
        snprintf(buf, size,
                 "{\"_class_name\":\"WanModel\",\"model_type\":\"t2v\",\"dim\":%d,\"num_heads\":%d,\"num_layers\":%d,"
                 "\"ffn_dim\":%d,\"in_dim\":%d,\"out_dim\":%d,\"text_dim\":%d,\"text_len\":%d,\"freq_dim\":%d,"
                 "\"eps\":%.9g,\"patch_size\":[%d,%d,%d]}",
                 c->dim, c->heads, c->layers, c->ffn_dim, c->in_dim, c->out_dim, c->text_dim, c->text_len, c->freq_dim,
                 (double)c->eps, c->patch[0], c->patch[1], c->patch[2]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *json = fz_cstr(data, n);
    pp_dit_config c;
    fz_clear_err();
    int rc = pp_wan_dit_config_parse(&c, json, "fuzz-config.json");
    free(json);
    if (rc) {
        fz_check_err("fuzz-config.json");
        return 0;
    }
    pp_params t = {0}, small = {0}, weights = {0};
    pp_dit dit;
    if (pp_dit_init(&dit, &c, &t)) abort();
    pp_dit_free(&dit);
    if (pp_dit_init_external(&dit, &c, &small, &weights)) abort();
    if (weights.n != PP_DIT_LINEARS(c.layers) || small.n + weights.n != t.n) abort();
    pp_dit_free(&dit);
    pp_params_free(&t), pp_params_free(&small), pp_params_free(&weights);
    char s[1024], buf[2048];
    pp_wan_dit_config_str(&c, s, sizeof s);
    for (int d = 0; d < 2; d++) {
        to_json(&c, d, buf, sizeof buf);
        pp_dit_config b;
        if (pp_wan_dit_config_parse(&b, buf, "round trip")) {
            fprintf(stderr, "fuzz: %s does not read back: %s\n", buf, pp_lasterr());
            abort();
        }
        if (d) b.text_len = c.text_len;
        if (memcmp(&b, &c, sizeof c)) {
            fprintf(stderr, "fuzz: %s reads back differently\n", buf);
            abort();
        }
    }
    return 0;
}
