/* fuzz_spec.c - the scene spec reader (pp_eval_spec_load) and what the evaluator
 * does with a spec it accepted: for small video sizes, pp_eval_run on a video of
 * the spec's size (pixels from the input's bytes), conditioned when the spec has
 * states, and the report as JSON. */
#include "fuzz_util.h"
#include "eval/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *path = fz_write("spec.json", data, n);
    pp_eval_spec s;
    fz_clear_err();
    if (pp_eval_spec_load(path, &s)) {
        fz_check_err(path);
        return 0;
    }
    if ((size_t)s.frames * s.height * s.width <= 4096) {
        pp_video v;
        if (pp_video_alloc(&v, s.frames, s.height, s.width, 10.0f)) abort();
        size_t bytes = (size_t)s.frames * s.height * s.width * 3;
        for (size_t i = 0; i < bytes; i++) v.rgb[i] = n ? data[i % n] : 255;
        pp_eval_opts o = {.cond_frames = s.nstates > 0 && s.frames > 1 ? 1 : 0,
                          .parser = n % 2 ? PP_PARSE_THRESHOLD : PP_PARSE_SOFT};
        pp_eval_report r;
        fz_clear_err();
        if (pp_eval_run(&v, &s, &o, &r) == 0) {
            cJSON *j = pp_eval_report_json(&r, &s);
            char *txt = cJSON_PrintUnformatted(j);
            free(txt);
            cJSON_Delete(j);
        } else {
            fz_check_err(NULL);
        }
        pp_video_free(&v);
    }
    pp_eval_spec_free(&s);
    return 0;
}
