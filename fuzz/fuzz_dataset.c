/* fuzz_dataset.c - the dataset loader: pp_dataset_open (manifest.json, every
 * shard's header and index) and every record (pp_dataset_get, decode), as the
 * trainer reads them. An input that starts with '{' is the manifest of a directory
 * holding one valid shard (written once by pp_dataset_write: parabola and smoke, 1 frame of 8x8);
 * any other input is that shard, next to the writer's manifest. */
#include "fuzz_util.h"
#include "sim/dataset.h"

static char g_manifest[8192];
static size_t g_manifest_len;

static void setup(void) {
    static int done;
    if (done) return;
    done = 1;
    const char *dir = fz_path("good");
    pp_dataset_cfg c;
    pp_dataset_cfg_default(&c);
    c.count = 2, c.frames = 1, c.height = 8, c.width = 8, c.nscenes = 2; /* as fuzz/make_corpus.sh */
    for (int i = 0; i < pp_sim_nscenes(); i++) {
        if (!strcmp(pp_sim_scene_at(i)->name, "parabola")) c.scenes[0] = i;
        if (!strcmp(pp_sim_scene_at(i)->name, "smoke")) c.scenes[1] = i;
    }
    c.threads = 1;
    if (pp_dataset_write(dir, &c, NULL)) {
        fprintf(stderr, "fuzz: cannot write the seed dataset: %s\n", pp_lasterr());
        abort();
    }
    char *txt;
    if (pp_read_file(fz_path("good/manifest.json"), &txt, &g_manifest_len) || g_manifest_len >= sizeof g_manifest)
        abort();
    memcpy(g_manifest, txt, g_manifest_len);
    free(txt);
    fz_mkdir("m"); /* fuzzed manifest + good shard */
    fz_mkdir("s"); /* good manifest + fuzzed shard */
    char *shard;
    size_t len;
    if (pp_read_file(fz_path("good/shard-00000.ppds"), &shard, &len)) abort();
    fz_write("m/shard-00000.ppds", (const uint8_t *)shard, len);
    free(shard);
    fz_write("s/manifest.json", (const uint8_t *)g_manifest, g_manifest_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    setup();
    const char *dir;
    if (n && data[0] == '{') {
        fz_write("m/manifest.json", data, n);
        dir = fz_path("m");
    } else {
        fz_write("s/shard-00000.ppds", data, n);
        dir = fz_path("s");
    }
    fz_clear_err();
    pp_dataset *ds = pp_dataset_open(dir);
    if (!ds) {
        fz_check_err(dir);
        return 0;
    }
    pp_sample s = {0};
    int rc;
    fz_clear_err();
    while ((rc = pp_dataset_next(ds, &s)) == 1) {
        size_t plane = (size_t)s.frames * s.height * s.width;
        float *bg = malloc(plane * sizeof(float) + 1);
        pp_sample_background(&s, bg);
        free(bg);
        if (strlen(s.prompt) > s.cap_prompt || strlen(s.spec_json) > s.cap_spec) abort();
    }
    if (rc < 0) fz_check_err(dir);
    pp_sample_free(&s);
    pp_dataset_close(ds);
    return 0;
}
