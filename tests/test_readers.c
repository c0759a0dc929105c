/* test_readers.c - the readers of outside input refuse what they cannot use, with
 * one error line naming the file and the field; every input the fuzzers (fuzz/,
 * docs/FUZZING.md) found crashing, hanging or undefined is kept here, tiny and
 * inline, as a regression test. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "base/common.h"
#include "eval/eval.h"
#include "io/maps.h"
#include "io/plot.h"
#include "io/safetensors.h"
#include "io/video.h"
#include "prophy/model.h"
#include "sim/dataset.h"
#include "sim/sim.h"
#include "text/spm.h"
#include "train/train.h"
#include "wan/vae_file.h"
#include "wan/wan_files.h"
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
    CHECK(pc.base.dit.dim == 12 && pc.base.dit.in_dim == 7 && pc.branch.gh0 == 8 && pc.text.vocab == 247);
}

/* fuzz finding: (int) of a huge JSON number is undefined behaviour */
TEST(readers_config_huge_numbers) {
    CHECK(config_refused("dim", "1e300", "'dim'"));
    CHECK(config_refused("layers", "-1e300", "'layers'"));
    CHECK(config_refused("frames", "2147483648", "'frames'"));
    CHECK(config_refused("text_encoder.vocab", "1e300", "'vocab'"));
    CHECK(config_refused("branch.E_s", "-9e18", "'E_s'"));
    CHECK(config_refused("branch.grid", "[1e300,1,1]", "'branch.grid'"));
}

/* fuzz finding: 2 * out_dim + 1 overflowed int (in_dim from cond) */
TEST(readers_config_out_dim_overflow) {
    CHECK(config_refused("out_dim", "2147483647", "out_dim"));
    pp_model_config c = {.dit = {.out_dim = 2147483647}, .cond = 1};
    CHECK(pp_model_config_check(&c) == -1 && has_err("out_dim"));
}

/* nonsense values in valid JSON: a bound per field (wan/dit.h, config.h, model.h;
 * an fps outside (0, 1000] is read as 10, not refused) */
TEST(readers_config_bounds) {
    CHECK(config_refused("layers", "1000000", "layers"));
    CHECK(config_refused("dim", "-12", "dim"));
    CHECK(config_refused("dim", "12.5", "'dim'"));
    CHECK(config_refused("heads", "0", "heads"));
    CHECK(config_refused("ffn_dim", "100000", "ffn_dim"));
    CHECK(config_refused("cond", "3", "cond"));
    CHECK(config_refused("cond", "2", "latent conditioning"));
    CHECK(config_refused("eps", "\"small\"", "'eps'"));
    CHECK(config_refused("format", "\"prophy-model-9\"", "'format'"));
    CHECK(config_refused("patch", "[1,1]", "'patch'"));
    CHECK(config_refused("patch", "[1,\"x\",1]", "'patch'"));
    CHECK(config_refused("in_dim", "3", "in_dim"));
    CHECK(config_refused("text_encoder.layers", "65", "layers 65"));
    CHECK(config_refused("text_encoder.zero_pads", "7", "zero_pads 7"));
    CHECK(config_refused("branch.M", "300", "M = 300"));
    CHECK(config_refused("branch.E_r", "0", "E_r 0"));
    CHECK(config_refused("branch.grid", "[0,8,8]", "'branch.grid'"));
    CHECK(config_refused("branch.w_coarse", "-1", "loss weights"));
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
    CHECK(config_refused("branch.top_k", "2", "top_k 2"));
}

/* A model file whose config describes more weights than the file holds is refused
 * before the weights are allocated (8192 x 256 layers would be ~10^11 floats). */
TEST(readers_model_file_too_small_for_config) {
    const char *path = pp_test_path("huge.safetensors");
    pp_vocab v;
    const char *texts[1] = {"a ball"};
    pp_vocab_build(&v, texts, 1);
    char *cfg = config_with("dim", "8192");
    cJSON *j = cJSON_Parse(cfg);
    cJSON_ReplaceItemInObjectCaseSensitive(j, "layers", cJSON_CreateNumber(256));
    cJSON_ReplaceItemInObjectCaseSensitive(j, "heads", cJSON_CreateNumber(64));
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "text_encoder"), "vocab",
                                           cJSON_CreateNumber(v.n));
    free(cfg);
    cfg = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char *vs = pp_vocab_serialize(&v, NULL);
    pp_st_writer *w = pp_st_writer_new();
    float one = 1;
    CHECK(pp_st_set_meta(w, "prophy.config", cfg) == 0 && pp_st_set_meta(w, "prophy.vocab", vs) == 0);
    CHECK(pp_st_add_f32(w, "x", PP_F32, 0, NULL, &one) == 0 && pp_st_save(w, path) == 0);
    pp_st_writer_free(w);
    pp_prophy p;
    CHECK(pp_prophy_load(&p, path) == -1 && has_err("huge.safetensors") && has_err("describes"));
    free(vs);
    free(cfg);
    pp_vocab_free(&v);
}

/* ---------------------------------------------------------------- scene spec */

static const char *k_spec =
    "{\"format\":\"prophy-spec-1\",\"scene\":\"uniform_motion\",\"seed\":3,\"split\":\"id\","
    "\"categories\":[0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"
    "\"world\":{\"width\":10,\"height\":10,\"dt\":0.1,\"gravity\":0,\"y_up\":true},"
    "\"video\":{\"frames\":2,\"height\":32,\"width\":32,\"fps\":10},"
    "\"params\":{\"r\":1,\"v\":2},"
    "\"objects\":[{\"name\":\"ball\",\"kind\":\"ball\",\"color\":[255,0,0]}],"
    "\"states\":[{\"objects\":[{\"x\":5,\"y\":5,\"vx\":2,\"vy\":0,\"r\":1}]},"
    "{\"objects\":[{\"x\":5.2,\"y\":5,\"vx\":2,\"vy\":0,\"r\":1}]}],"
    "\"regions\":[{\"category\":\"rigid_body_motion\",\"x0\":0,\"x1\":10}]}";

/* pp_eval_spec_load of k_spec with `from` replaced by `to` refuses it, and the error
 * names the file and `field`. */
static int spec_refused(const char *from, const char *to, const char *field) {
    const char *p = strstr(k_spec, from);
    if (!p) {
        printf("    '%s' is not in the spec\n", from);
        return 0;
    }
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - k_spec), k_spec, to, p + strlen(from));
    const char *path = pp_test_path("bad_spec.json");
    FILE *f = fopen(path, "w");
    fputs(buf, f);
    fclose(f);
    pp_eval_spec s;
    int ok = pp_eval_spec_load(path, &s) == -1 && has_err("bad_spec.json") && has_err(field);
    if (!ok) printf("    %s -> %s: %s\n", from, to, pp_lasterr());
    return ok;
}

TEST(readers_spec_valid) {
    pp_eval_spec s;
    CHECK(pp_eval_spec_parse(k_spec, &s) == 0 && s.nregion == 1 && s.nstates == 2);
    pp_eval_spec_free(&s);
}

/* fuzz finding: (int) / (long long) of a huge JSON number */
TEST(readers_spec_huge_numbers) {
    CHECK(spec_refused("\"category\":\"rigid_body_motion\"", "\"category\":1e300", "regions[0].category"));
    CHECK(spec_refused("\"category\":\"rigid_body_motion\"", "\"category\":-1e300", "regions[0].category"));
    CHECK(spec_refused("\"seed\":3", "\"seed\":1e300", "'seed'"));
    CHECK(spec_refused("\"seed\":3", "\"seed\":-1", "'seed'"));
    CHECK(spec_refused("\"x\":5.2", "\"x\":1e300", "states[1].objects[0].x"));
    CHECK(spec_refused("\"x0\":0", "\"x0\":-1e300", "regions[0]"));
}

/* specs the evaluator cannot judge (it used to accept them with exit 0) */
TEST(readers_spec_unjudgeable) {
    CHECK(spec_refused("\"scene\":\"uniform_motion\"", "\"scene\":\"no_such_scene\"", "'scene'"));
    CHECK(spec_refused("\"dt\":0.1", "\"dt\":0", "world.dt"));
    CHECK(spec_refused("\"dt\":0.1", "\"dt\":-0.1", "world.dt"));
    CHECK(spec_refused("\"dt\":0.1", "\"dt\":1000", "world.dt"));
    CHECK(spec_refused("\"width\":10", "\"width\":0", "world.width"));
    CHECK(spec_refused("\"height\":10,\"dt\"", "\"height\":-3,\"dt\"", "world.height"));
    CHECK(spec_refused("\"gravity\":0", "\"gravity\":1e300", "world.gravity"));
    CHECK(spec_refused("\"split\":\"id\"", "\"split\":\"test\"", "'split'"));
    CHECK(spec_refused("\"kind\":\"ball\"", "\"kind\":\"cube\"", "objects[0].kind"));
    CHECK(spec_refused(",\"color\":[255,0,0]", "", "objects[0].color"));
    CHECK(spec_refused("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]", "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]", "categories"));
    CHECK(spec_refused("\"frames\":2", "\"frames\":3", "states"));
    CHECK(spec_refused("\"frames\":2", "\"frames\":2.5", "video.frames"));
    CHECK(spec_refused("\"width\":32", "\"width\":0", "video.width"));
    CHECK(spec_refused("\"vy\":0,\"r\":1}]}]", "\"vy\":0,\"r\":1},{}]}]", "states[1].objects"));
    CHECK(spec_refused("\"x1\":10}]", "\"x1\":10},{\"category\":0},{\"category\":1},{\"category\":2},{\"category\":3}]",
                       "regions"));
    CHECK(spec_refused("\"v\":2", "\"v\":2,\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,"
                       "\"j\":1,\"k\":1,\"l\":1,\"m\":1,\"n\":1,\"o\":1", "params"));
}

/* ---------------------------------------------------------------- dataset */

/* A one-record shard (docs/DATASET.md) of F x H x W with map mask `mask`, scene 0,
 * split 0, `plen` prompt bytes 'a' and no spec; the record's byte count is the true
 * one unless rec_bytes > 0. */
static size_t make_shard(uint8_t *buf, uint32_t F, uint32_t H, uint32_t W, uint32_t mask, uint32_t plen,
                         uint64_t rec_bytes, uint64_t pixels) {
    uint8_t *w = buf;
    memset(buf, 0, 64);
    memcpy(w, "PPDSHRD1", 8);
    uint32_t u = 1;
    memcpy(w + 8, &u, 4);
    memcpy(w + 12, &u, 4);
    uint8_t *r = buf + 64;
    size_t payload = (size_t)pixels * (3 + (size_t)__builtin_popcount(mask)) + plen;
    uint64_t n = rec_bytes ? rec_bytes : 124 + payload;
    uint32_t head[2] = {0x52535050u, 124};
    memcpy(r, head, 8);
    memcpy(r + 8, &n, 8);
    uint32_t v[9] = {F, H, W, 0, 0, 0, 0, mask, plen};
    memcpy(r + 16, v, 16);
    uint64_t seed = 7;
    memcpy(r + 32, &seed, 8);
    memcpy(r + 40, &v[5], 4);  /* split 0 */
    memcpy(r + 44, &mask, 4);
    memcpy(r + 48, &plen, 4);
    memcpy(r + 52, &v[6], 4);  /* spec length 0 */
    memset(r + 56, 0, 68);     /* categories all 0 */
    memset(r + 124, 200, payload);
    memset(r + 124 + payload - plen, 'a', plen);
    uint64_t idx = 64 + 124 + payload, off = 64;
    memcpy(buf + 16, &idx, 8);
    memcpy(buf + idx, &off, 8);
    return (size_t)idx + 8;
}

static const char *k_manifest =
    "{\"format\":\"prophy-dataset-1\",\"count\":1,\"split\":\"id\",\"seed\":0,\"frames\":1,\"height\":8,"
    "\"width\":8,\"shard_size\":256,\"scenes\":[\"uniform_motion\"],\"shards\":[\"s.ppds\"]}";

/* out = src with the first `from` replaced by `to` (src unchanged when absent). */
static void subst(char *out, size_t cap, const char *src, const char *from, const char *to) {
    const char *p = strstr(src, from);
    if (!p) snprintf(out, cap, "%s", src);
    else snprintf(out, cap, "%.*s%s%s", (int)(p - src), src, to, p + strlen(from));
}

/* A dataset directory holding `manifest` and the shard s.ppds; returns it. */
static const char *make_dataset(const char *name, const char *manifest, const uint8_t *shard, size_t len) {
    const char *dir = pp_test_path(name);
    char p[512];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/manifest.json", dir);
    if (pp_write_file_atomic(p, manifest, strlen(manifest))) abort();
    snprintf(p, sizeof p, "%s/s.ppds", dir);
    if (pp_write_file_atomic(p, shard, len)) abort();
    return dir;
}

/* Opening and reading every record fails with an error naming `file` and `what`. */
static int dataset_refused(const char *dir, const char *file, const char *what) {
    pp_dataset *ds = pp_dataset_open(dir);
    int rc = ds ? 0 : -1;
    pp_sample s = {0};
    while (!rc && (rc = pp_dataset_next(ds, &s)) == 1) rc = 0;
    pp_sample_free(&s);
    pp_dataset_close(ds);
    int ok = rc < 0 && has_err(file) && has_err(what);
    if (!ok) printf("    %s: rc %d: %s\n", dir, rc, pp_lasterr());
    return ok;
}

TEST(readers_dataset_valid) {
    static uint8_t buf[4096];
    size_t n = make_shard(buf, 1, 8, 8, 1, 5, 0, 64);
    const char *dir = make_dataset("ds_ok", k_manifest, buf, n);
    pp_dataset *ds = pp_dataset_open(dir);
    CHECK(ds && pp_dataset_count(ds) == 1);
    pp_sample s = {0};
    CHECK(ds && pp_dataset_next(ds, &s) == 1 && !strcmp(s.prompt, "aaaaa") && s.maps[0] == 200 && s.maps[64] == 0);
    pp_sample_free(&s);
    pp_dataset_close(ds);
}

/* fuzz finding: F*H*W*(3 + maps) wrapped around 2^64 so that the size check passed
 * and decode asked realloc for 3 * 2^62 bytes (an abort). */
TEST(readers_dataset_size_wrap) {
    static uint8_t buf[4096];
    /* plane = 2^30 * 2^30 * 4 = 2^62; 124 + 4 * 2^62 + plen = 124 + plen (mod 2^64) */
    size_t n = make_shard(buf, 1u << 30, 1u << 30, 4, 1, 300, 124 + 300, 0);
    CHECK(dataset_refused(make_dataset("ds_wrap", k_manifest, buf, n), "s.ppds", "disagrees with the manifest"));
    char man[512]; /* and a manifest cannot ask for it */
    subst(man, sizeof man, k_manifest, "\"frames\":1,", "\"frames\":1e300,");
    CHECK(dataset_refused(make_dataset("ds_wrap2", man, buf, n), "manifest.json", "frames"));
}

TEST(readers_dataset_record_fields) {
    static uint8_t buf[4096];
    size_t n = make_shard(buf, 1, 8, 8, 1, 5, 0, 64);
    uint8_t *r = buf + 64;
    struct { size_t at; uint32_t v; const char *what; } bad[] = {
        {28, 99, "scene"}, {40, 1, "split"}, {44, 1u << 20, "map mask"}, {48, 6, "record bytes"},
        {16, 2, "disagrees with the manifest"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        uint32_t keep;
        memcpy(&keep, r + bad[k].at, 4);
        memcpy(r + bad[k].at, &bad[k].v, 4);
        CHECK_MSG(dataset_refused(make_dataset("ds_f", k_manifest, buf, n), "s.ppds", bad[k].what), "%s", bad[k].what);
        memcpy(r + bad[k].at, &keep, 4);
    }
    float nan = NAN;
    memcpy(r + 56 + 4 * 3, &nan, 4);
    CHECK(dataset_refused(make_dataset("ds_nan", k_manifest, buf, n), "s.ppds", "categories[3]"));
    memset(r + 56, 0, 68);
    r[124 + 64 * 4 + 2] = 0; /* a NUL inside the prompt */
    CHECK(dataset_refused(make_dataset("ds_nul", k_manifest, buf, n), "s.ppds", "NUL"));
    r[124 + 64 * 4 + 2] = 'a';
    uint64_t off = 1u << 20;
    memcpy(buf + n - 8, &off, 8);
    CHECK(dataset_refused(make_dataset("ds_off", k_manifest, buf, n), "s.ppds", "offset"));
    CHECK(dataset_refused(make_dataset("ds_trunc", k_manifest, buf, 100), "s.ppds", "index offset"));
}

TEST(readers_dataset_manifest_fields) {
    static uint8_t buf[4096];
    size_t n = make_shard(buf, 1, 8, 8, 0, 5, 0, 64);
    struct { const char *from, *to, *what; } bad[] = {
        {"\"count\":1", "\"count\":2", "count"},
        {"\"count\":1", "\"count\":-1", "count"},
        {"\"split\":\"id\"", "\"split\":\"both\"", "split"},
        {"\"uniform_motion\"", "\"nope\"", "scenes"},
        {"\"s.ppds\"", "\"../s.ppds\"", "shards"},
        {"\"s.ppds\"", "7", "shards"},
        {"\"height\":8", "\"height\":4", "height"},
        {"\"width\":8", "\"width\":100000", "width"},
        {"prophy-dataset-1", "prophy-dataset-2", "format"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char man[512];
        subst(man, sizeof man, k_manifest, bad[k].from, bad[k].to);
        CHECK_MSG(dataset_refused(make_dataset("ds_m", man, buf, n), "manifest.json", bad[k].what), "%s", bad[k].what);
    }
    /* a record whose scene the manifest does not list */
    char man[512];
    subst(man, sizeof man, k_manifest, "uniform_motion", "parabola");
    CHECK(dataset_refused(make_dataset("ds_sc", man, buf, n), "s.ppds", "scene"));
}

/* ---------------------------------------------------------------- maps file */

static const char *write_maps(const char *name, const char *header, const float *v, size_t n) {
    const char *path = pp_test_path(name);
    FILE *f = fopen(path, "wb");
    fputs(header, f);
    if (n) fwrite(v, sizeof(float), n, f);
    fclose(f);
    return path;
}

static int maps_refused(const char *header, const float *v, size_t n, const char *what) {
    const char *path = write_maps("bad.maps", header, v, n);
    float *m = (float *)1;
    int c, f, h, w;
    int ok = pp_maps_load(path, &m, &c, &f, &h, &w) == -1 && m == NULL && has_err("bad.maps") && has_err(what);
    if (!ok) printf("    '%s': %s\n", header, pp_lasterr());
    return ok;
}

/* found auditing the reader: the header was read with sscanf("...%d\n%n"), whose
 * "\n" swallows any whitespace, so data starting with bytes 0x09-0x0d or 0x20 was
 * taken for part of the header and a valid file was refused; %d also overflowed on
 * long numbers. */
TEST(readers_maps_data_starting_with_whitespace) {
    float v[2];
    memcpy(&v[0], " \t\n?", 4); /* a float whose first bytes are whitespace */
    v[1] = 1.0f;
    const char *path = write_maps("ws.maps", "prophy-maps 1 1 1 2\n", v, 2);
    float *m;
    int c, f, h, w;
    CHECK(pp_maps_load(path, &m, &c, &f, &h, &w) == 0 && c == 1 && w == 2);
    CHECK(m && !memcmp(m, v, sizeof v));
    free(m);
    CHECK(maps_refused("prophy-maps 1 1 1 99999999999999999999\n", v, 2, "W"));
    CHECK(maps_refused("prophy-maps 1 1 1 -2\n", v, 2, "W"));
}

TEST(readers_maps_header_and_sizes) {
    float v[20] = {0};
    CHECK(maps_refused("prophy-maps 5 1 1 1\n", v, 5, "C"));
    CHECK(maps_refused("prophy-maps 19 1 1 1\n", v, 19, "C"));
    CHECK(maps_refused("prophy-maps 1 0 1 1\n", v, 0, "F"));
    CHECK(maps_refused("prophy-maps 1 1 5000 1\n", v, 1, "H"));
    CHECK(maps_refused("prophy-maps 1 1 1\n", v, 1, "W"));
    CHECK(maps_refused("prophy-maps 1 1 1 1 \n", v, 1, "end after W"));
    CHECK(maps_refused("prophy-maps  1 1 1 1\n", v, 1, "C"));
    CHECK(maps_refused("prophy-maps 01 1 1 1\n", v, 1, "C"));
    CHECK(maps_refused("prophy-maps 1 1 1 2\n", v, 1, "wants 8"));
    CHECK(maps_refused("prophy-maps 1 1 1 2\n", v, 3, "wants 8"));
    CHECK(maps_refused("P6 1 1 255\n", v, 1, "not a maps file"));
    v[1] = NAN;
    CHECK(maps_refused("prophy-maps 1 1 1 2\n", v, 2, "value 1"));
    v[1] = INFINITY;
    CHECK(maps_refused("prophy-maps 1 1 1 2\n", v, 2, "value 1"));
}

/* 18 channels (17 + background, what the router writes) are what the docs promise;
 * a map grid finer than the video is refused. */
TEST(readers_maps_channels_and_grid_in_eval) {
    pp_sim_out out;
    pp_eval_spec s;
    CHECK(pp_sim_run(pp_sim_find("bounce"), 1, PP_SPLIT_ID, 4, 16, 16, &out) == 0);
    CHECK(pp_eval_spec_from_json(out.spec, &s) == 0);
    float *m = pp_calloc(18 * 4 * 8 * 8, sizeof(float));
    pp_eval_opts o = {.maps = m, .map_cats = 18, .map_f = 4, .map_h = 8, .map_w = 8};
    pp_eval_report r;
    CHECK(pp_eval_run(&out.video, &s, &o, &r) == 0);
    o.map_cats = 5;
    CHECK(pp_eval_run(&out.video, &s, &o, &r) == -1 && has_err("channels"));
    o.map_cats = 17, o.map_f = 5;
    CHECK(pp_eval_run(&out.video, &s, &o, &r) == -1 && has_err("fit"));
    free(m);
    pp_eval_spec_free(&s);
    pp_sim_free(&out);
}

/* ---------------------------------------------------------------- Y4M */

static int y4m_read(const char *bytes, size_t n, pp_video *v) {
    const char *path = pp_test_path("in.y4m");
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, n, f);
    fclose(f);
    return pp_video_read(v, path);
}

static int y4m_refused(const char *header, const char *what) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s\nFRAME\n123", header);
    pp_video v;
    int ok = y4m_read(buf, (size_t)n, &v) == -1 && has_err("in.y4m") && has_err(what);
    if (!ok) printf("    '%s': %s\n", header, pp_lasterr());
    return ok;
}

TEST(readers_y4m_valid) {
    pp_video v;
    static const char ok[] = "YUV4MPEG2 W1 H1 F30000:1001 C444\nFRAME\n\x10\x80\x80";
    CHECK(y4m_read(ok, sizeof ok - 1, &v) == 0 && v.frames == 1 && v.width == 1 && v.rgb[0] == 0);
    CHECK_NEAR(v.fps, 29.97, 1e-3);
    pp_video_free(&v);
}

/* found auditing the reader: W and H went through (int) of a long, so W4294967297
 * read as a 1-pixel-wide video; a frame rate above 1000 fps failed in
 * pp_video_alloc with an error that did not name the file. */
TEST(readers_y4m_header_fields) {
    CHECK(y4m_refused("YUV4MPEG2 W4294967297 H1 F10:1 C444", "W"));
    CHECK(y4m_refused("YUV4MPEG2 W1 H-1 F10:1 C444", "H"));
    CHECK(y4m_refused("YUV4MPEG2 W1 H1x F10:1 C444", "H"));
    CHECK(y4m_refused("YUV4MPEG2 W16385 H1 F10:1 C444", "W"));
    CHECK(y4m_refused("YUV4MPEG2 W1 H1 F100000:1 C444", "F"));
    CHECK(y4m_refused("YUV4MPEG2 W1 H1 F1:0 C444", "F"));
    CHECK(y4m_refused("YUV4MPEG2 W1 H1 F1:1000000000 C444", "F"));
    CHECK(y4m_refused("YUV4MPEG2 W1 H1 F10:1x C444", "F"));
    CHECK(y4m_refused("YUV4MPEG2 H1 F10:1 C444", "W and H"));
    pp_video v;
    static const char bad_frame[] = "YUV4MPEG2 W1 H1 F10:1 C444\nFRAMES\n123";
    CHECK(y4m_read(bad_frame, sizeof bad_frame - 1, &v) == -1 && has_err("in.y4m") && has_err("frame header"));
}

/* ---------------------------------------------------------------- training state */

static const char *k_state = "{\"step\":4,\"opt_step\":3,\"skipped\":1,\"rng\":[\"e38085b75b4d9e17\","
                             "\"aa6120171a05173d\",\"141624f20693ebdc\",\"37acabbe95f595eb\"],"
                             "\"rng_spare\":\"1:3f800000\",\"batch\":1,\"lr\":0.001,\"ema\":0}";

static int state_refused(const char *from, const char *to, const char *field) {
    char buf[1024];
    subst(buf, sizeof buf, k_state, from, to);
    pp_train_state st = {0};
    int ok = pp_train_state_parse(&st, buf, "c.ckpt") == -1 && has_err("c.ckpt") && has_err(field) && st.step == 0;
    if (!ok) printf("    %s -> %s: %s\n", from, to, pp_lasterr());
    return ok;
}

TEST(readers_train_state_valid) {
    pp_train_state st = {0};
    CHECK(pp_train_state_parse(&st, k_state, "c.ckpt") == 0);
    CHECK(st.step == 4 && st.opt.step == 3 && st.opt.skipped == 1 && st.rng.s[0] == 0xe38085b75b4d9e17ull &&
          st.rng.has_spare == 1 && st.rng.spare == 1.0f);
}

/* fuzz finding: (long) of a huge step was undefined behaviour; sscanf took
 * "0x", signs, spaces and trailing bytes in the RNG words and overflowed %d */
TEST(readers_train_state_fields) {
    CHECK(state_refused("\"step\":4", "\"step\":1.88889e+31", "'step'"));
    CHECK(state_refused("\"step\":4", "\"step\":-4", "'step'"));
    CHECK(state_refused("\"opt_step\":3", "\"opt_step\":3.5", "'opt_step'"));
    CHECK(state_refused("\"skipped\":1", "\"skipped\":1e300", "'skipped'"));
    CHECK(state_refused("\"opt_step\":3", "\"opt_step\":5", "'opt_step'"));
    CHECK(state_refused("\"e38085b75b4d9e17\"", "\"0xe38085b75b4d9e\"", "rng[0]"));
    CHECK(state_refused("\"aa6120171a05173d\"", "\"-1\"", "rng[1]"));
    CHECK(state_refused("\"141624f20693ebdc\"", "\"141624f20693ebdcff\"", "rng[2]"));
    CHECK(state_refused("\"37acabbe95f595eb\"", "37", "rng[3]"));
    CHECK(state_refused("[\"e38085b75b4d9e17\",\"aa6120171a05173d\",\"141624f20693ebdc\",\"37acabbe95f595eb\"]",
                        "[\"0000000000000000\",\"0000000000000000\",\"0000000000000000\",\"0000000000000000\"]",
                        "all four words are zero"));
    CHECK(state_refused("\"1:3f800000\"", "\"99999999999:3f800000\"", "rng_spare"));
    CHECK(state_refused("\"1:3f800000\"", "\"1:7fc00000\"", "rng_spare"));
    CHECK(state_refused("\"1:3f800000\"", "\"2:3f800000\"", "rng_spare"));
    pp_train_state st = {0};
    CHECK(pp_train_state_parse(&st, "[1]", "c.ckpt") == -1 && has_err("c.ckpt"));
    CHECK(pp_train_state_parse(&st, NULL, "c.ckpt") == -1 && has_err("c.ckpt"));
}

/* ---------------------------------------------------------------- prompt parser */

TEST(readers_prompt_scene_for_prompt) {
    const pp_sim_scene *sc = pp_sim_scene_for_prompt("A red ball BOUNCES off the floor");
    CHECK(sc && !strcmp(sc->name, "bounce"));
    cJSON *spec;
    CHECK(pp_sim_spec_for_prompt("A red ball BOUNCES off the floor", 1, 1, 8, 8, &spec) == 0);
    CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(spec, "scene")->valuestring, "bounce"));
    cJSON_Delete(spec);
    CHECK(pp_sim_scene_for_prompt("\x01\x02 qwerty") == NULL && has_err("prompt"));
    CHECK(pp_sim_scene_for_prompt(NULL) == NULL);
}

/* ---------------------------------------------------------------- training log (--plot) */

/* The loss plot read v[step_column] from a 16-float array whatever the column: a
 * log with loss first and step 18th read past the stack array. */
TEST(readers_plot_log_columns) {
    const char *csv = pp_test_path("wide.csv"), *png = pp_test_path("wide.png");
    FILE *f = fopen(csv, "w");
    fprintf(f, "loss");
    for (int i = 1; i < 17; i++) fprintf(f, ",c%d", i);
    fprintf(f, ",step\n");
    for (int r = 0; r < 3; r++) {
        fprintf(f, "%g", 1.0 / (r + 1));
        for (int i = 1; i < 17; i++) fprintf(f, ",0");
        fprintf(f, ",%d\n", r);
    }
    fclose(f);
    CHECK(pp_plot_loss_csv(csv, png) == -1 && has_err("wide.csv") && has_err("step/loss"));
    f = fopen(csv, "w");
    fprintf(f, "step,loss,diff\n1,0.5,0.4\ninf,0.4,0.3\n2,0.3,nan\n3,0.2,0.1\n");
    fclose(f);
    CHECK(pp_plot_loss_csv(csv, png) == 0);
}

/* ---------------------------------------------------------------- tokenizer.json (SentencePiece) */

/* A unigram tokenizer.json: <unk>, "a" and the given extra members. */
static pp_spm *spm_with(const char *extra, const char *name) {
    char buf[1024];
    snprintf(buf, sizeof buf, "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"a\",-1]]}%s%s}",
             extra[0] ? "," : "", extra);
    pp_spm *t = NULL;
    if (pp_spm_load_json(&t, buf, strlen(buf), name)) return NULL;
    return t;
}

/* Strings the encoder inserts or matches were not checked for UTF-8: a Prepend of
 * "\xf0" made the text "\xf0a", whose first "character" of 4 bytes ran the Viterbi
 * arrays past their end (ASan heap-buffer-overflow in unigram); an added token
 * "\xa9" split the "é" of a prompt the same way. An empty String pattern leaked
 * the Replace's content. */
TEST(readers_spm_strings_not_utf8) {
    static const char *const bad[][2] = {
        {"\"normalizer\":{\"type\":\"Prepend\",\"prepend\":\"\xf0\"}", "\"prepend\" is not valid UTF-8"},
        {"\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"\xf0\"}",
         "\"content\" is not valid UTF-8"},
        {"\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xa9\"},\"content\":\"\"}", "not UTF-8 String"},
        {"\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\"\"},\"content\":\"x\"}", "empty"},
        {"\"added_tokens\":[{\"id\":1,\"content\":\"\xa9\",\"normalized\":false}]", "added token 0's \"content\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pp_spm *t = spm_with(bad[i][0], "bad-tok.json");
        CHECK_MSG(t == NULL && has_err("bad-tok.json") && has_err(bad[i][1]), "%zu: %s", i, pp_lasterr());
        pp_spm_free(t);
    }
    pp_spm *t = spm_with("\"normalizer\":{\"type\":\"Prepend\",\"prepend\":\"\xc3\xa9\"}", "ok.json");
    int32_t ids[8];
    int n, tr;
    CHECK(t && pp_spm_encode(t, "a", 1, 8, ids, &n, &tr) == 0 && n == 2 && ids[0] == 0 && ids[1] == 1);
    pp_spm_free(t);
}

/* A precompiled_charsmap whose rule for "b" points inside the "é" of its strings
 * replaced "b" by the lone byte 0xa9 (the same overflow); such a rule is now no
 * rule. The blob: 3 double-array units, then "é\0"; the last unit is the value. */
TEST(readers_spm_charsmap_value_inside_character) {
    static const char *const maps[2] = {"DAAAAACMAQBiDQAAAAAAgMOpAA==", "DAAAAACMAQBiDQAAAQAAgMOpAA=="};
    for (int k = 0; k < 2; k++) {
        char extra[256];
        snprintf(extra, sizeof extra,
                 "\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"%s\"},"
                 "\"added_tokens\":[{\"id\":1,\"content\":\"\xc3\xa9\",\"normalized\":true}]", maps[k]);
        pp_spm *t = spm_with(extra, "cmap.json");
        int32_t ids[8];
        int n, tr;
        CHECK_MSG(t != NULL, "%s", pp_lasterr());
        /* value 0: "b" -> "é", the added token (id 1); value 1: no rule, "b" is unknown */
        CHECK(t && pp_spm_encode(t, "b", 1, 8, ids, &n, &tr) == 0 && n == 1 && ids[0] == (k ? 0 : 1));
        pp_spm_free(t);
    }
}

/* ---------------------------------------------------------------- VAE config (vae_config) */

static char *vae_json(int dim, int res, const char *mult, const char *td, const char *mean, const char *std) {
    char *s = malloc(512);
    snprintf(s, 512,
             "{\"dim\":%d,\"z_dim\":1,\"num_res_blocks\":%d,\"dim_mult\":%s,\"temperal_downsample\":%s,"
             "\"latents_mean\":[%s],\"latents_std\":[%s]}", dim, res, mult, td, mean, std);
    return s;
}

/* latents_std 0.51e300 was cast to float inf and accepted (z = (mu - mean) / inf),
 * and a config that pp_vae_save could not write back (cJSON writes inf as null);
 * 1e-50 became 0. */
TEST(readers_vae_config_latent_floats) {
    static const char *const v[][3] = {{"0", "0.51e300", "'latents_std'[0]"}, {"1e300", "1", "'latents_mean'[0]"},
                                       {"0", "1e-50", "'latents_std'[0]"}, {"0", "-1", "'latents_std'[0]"}};
    pp_vae_config c;
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char *s = vae_json(4, 1, "[1,2]", "[true]", v[i][0], v[i][1]);
        CHECK_MSG(pp_vae_config_read(&c, s, "v.safetensors") == -1 && has_err("v.safetensors") && has_err(v[i][2]),
                  "%s", pp_lasterr());
        free(s);
    }
    char *s = vae_json(4, 1, "[1,2]", "[true]", "-3e38", "1e-30");
    CHECK(pp_vae_config_read(&c, s, "v.safetensors") == 0 && c.latent_std[0] > 0);
    free(s);
}

/* Each field within its bounds, a config could describe 96 G parameters (dim 1024,
 * six levels of 4096 channels, 8 residual blocks): pp_vae_model_create would ask
 * for 383 GB. The reader now refuses more than PP_VAE_MAX_PARAMS, and
 * pp_vae_model_open checks a file's tensors before it allocates the weights (a
 * file holding one float and Wan2.1's config allocated 0.5 GB first). */
TEST(readers_vae_config_too_many_params) {
    pp_vae_config c;
    char *s = vae_json(1024, 8, "[4,4,4,4,4,4]", "[false,false,false,false,false]", "0", "1");
    CHECK_MSG(pp_vae_config_read(&c, s, "big.safetensors") == -1 && has_err("big.safetensors") && has_err("'dim' 1024") &&
                  has_err("parameters, more than"), "%s", pp_lasterr());
    free(s);
    s = vae_json(96, 2, "[1,2,4,4]", "[false,true,true]", "0", "1"); /* Wan2.1's shape: 127 M */
    CHECK(pp_vae_config_read(&c, s, "wan.safetensors") == 0);
    const char *path = pp_test_path("vae_small_file.safetensors");
    pp_st_writer *w = pp_st_writer_new();
    float one = 1;
    CHECK(pp_st_set_meta(w, "vae_config", s) == 0 && pp_st_add_f32(w, "x", PP_F32, 0, NULL, &one) == 0 &&
          pp_st_save(w, path) == 0);
    pp_st_writer_free(w);
    free(s);
    pp_vae_model v;
    CHECK(pp_vae_model_open(&v, path) == -1 && has_err("vae_small_file.safetensors") &&
          has_err("missing tensor 'encoder.conv1.weight'"));
    CHECK(v.params == NULL && v.table.n == 0);
}

/* ---------------------------------------------------------------- Wan DiT config.json */

/* 'eps' was range-checked as a double and then stored as a float: 0.1 became
 * 0.100000001, which written back ("%.9g") was refused as above 0.1. */
TEST(readers_wan_config_eps_as_float) {
    const char *fmt = "{\"dim\":48,\"num_heads\":2,\"num_layers\":1,\"ffn_dim\":8,\"eps\":%s}";
    char js[256], e[32];
    pp_dit_config c, b;
    snprintf(js, sizeof js, fmt, "1e-01");
    CHECK(pp_wan_dit_config_parse(&c, js, "config.json") == 0 && c.eps == 0.1f);
    snprintf(e, sizeof e, "%.9g", (double)c.eps);
    snprintf(js, sizeof js, fmt, e);
    CHECK_MSG(pp_wan_dit_config_parse(&b, js, "config.json") == 0 && b.eps == c.eps, "%s: %s", js, pp_lasterr());
    static const char *const bad[] = {"0.1000001", "1e-50", "0", "-1e-6", "1e300", "\"1e-6\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(js, sizeof js, fmt, bad[i]);
        CHECK_MSG(pp_wan_dit_config_parse(&b, js, "config.json") != 0 && has_err("config.json") && has_err("'eps'"),
                  "%s: %s", bad[i], pp_lasterr());
    }
}
