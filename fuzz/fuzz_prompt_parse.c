/* fuzz_prompt_parse.c - the prompt parser: an arbitrary prompt is classified
 * (pp_sim_scene_for_prompt) and turned into an evaluation spec
 * (pp_sim_spec_for_prompt, which must pick the same scene), which the evaluator's
 * spec reader must accept (pp_eval_spec_from_json). Smallest video (1 frame of
 * 8x8); the scenes with a fluid solver (smoke, flame and their composites) cost
 * milliseconds even so, and get the full path for one input in 16. */
#include "fuzz_util.h"
#include "eval/eval.h"
#include "sim/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *prompt = fz_cstr(data, n);
    uint64_t seed = n ? data[n - 1] : 0;
    cJSON *spec = NULL;
    fz_clear_err();
    const pp_sim_scene *sc = pp_sim_scene_for_prompt(prompt);
    if (!sc) fz_check_err("prompt");
    int fluid = sc && (strstr(sc->name, "smoke") || strstr(sc->name, "flame"));
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ data[i]) * 16777619u;
    if (fluid && h % 16) {
        free(prompt);
        return 0;
    }
    fz_clear_err();
    if (pp_sim_spec_for_prompt(prompt, seed, 1, 8, 8, &spec) == 0) {
        if (!spec || !sc) abort();
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "scene");
        if (!cJSON_IsString(name) || strcmp(name->valuestring, sc->name)) abort();
        pp_eval_spec s;
        if (pp_eval_spec_from_json(spec, &s)) {
            fprintf(stderr, "fuzz: the evaluator rejects the prompt parser's spec: %s\n", pp_lasterr());
            abort();
        }
        pp_eval_spec_free(&s);
        cJSON_Delete(spec);
    } else {
        if (spec || sc) abort();
        fz_check_err("prompt");
    }
    free(prompt);
    return 0;
}
