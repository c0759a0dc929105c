/* fuzz_prompt_parse.c - the prompt parser (pp_sim_spec_for_prompt): an arbitrary
 * prompt is classified into a scene and turned into an evaluation spec, which the
 * evaluator's spec reader must accept (pp_eval_spec_from_json). Smallest video
 * (1 frame of 8x8) so that the simulator run stays cheap. */
#include "fuzz_util.h"
#include "eval/eval.h"
#include "sim/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *prompt = fz_cstr(data, n);
    uint64_t seed = n ? data[n - 1] : 0;
    cJSON *spec = NULL;
    fz_clear_err();
    if (pp_sim_spec_for_prompt(prompt, seed, 1, 8, 8, &spec) == 0) {
        if (!spec) abort();
        pp_eval_spec s;
        if (pp_eval_spec_from_json(spec, &s)) {
            fprintf(stderr, "fuzz: the evaluator rejects the prompt parser's spec: %s\n", pp_lasterr());
            abort();
        }
        pp_eval_spec_free(&s);
        cJSON_Delete(spec);
    } else {
        if (spec) abort();
        fz_check_err(NULL);
    }
    free(prompt);
    return 0;
}
