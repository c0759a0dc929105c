/* test_prompt_parse.c - prompt -> scene -> spec (src/sim/prompt_parse.c).
 *
 * Measured (50 seeds per scene per split, 32x32, 16 frames):
 *   scene classification of simulator prompts: ID 700/700, OOD 700/700 (100%);
 *   eval agreement (pc_pass and sa_pass both equal) of the prompt-derived spec vs
 *   the simulator's own spec without states, on the simulator's ID videos:
 *     same seed (the prompt matches the seed's run: exact spec)       700/700 (100%)
 *     another seed (the parsed path: colour/speed from the prompt,
 *     the rest from a different run)                                  700/700 (100%)
 * (PP_TEST_VERBOSE=1 prints the counts.) */
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "eval/eval.h"
#include "sim/sim.h"
#include "test.h"

#define NSEED 50

static const char *spec_scene(const cJSON *j) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "scene");
    return cJSON_IsString(s) ? s->valuestring : "";
}

static int classified_right(int scene, uint64_t seed, int split) {
    pp_sim_out out;
    cJSON *spec = NULL;
    if (pp_sim_run(pp_sim_scene_at(scene), seed, split, 16, 32, 32, &out)) return 0;
    int ok = !pp_sim_spec_for_prompt(out.prompt, seed + 1, 4, 16, 16, &spec) &&
             !strcmp(spec_scene(spec), out.scene->name);
    if (!ok) fprintf(stderr, "  misclassified %s: '%s'\n", out.scene->name, out.prompt);
    cJSON_Delete(spec);
    pp_sim_free(&out);
    return ok;
}

TEST(prompt_parse_classifies_both_splits) {
    for (int split = PP_SPLIT_ID; split <= PP_SPLIT_OOD; split++) {
        int ok = 0, n = 0;
        for (int s = 0; s < pp_sim_nscenes(); s++)
            for (int k = 0; k < NSEED; k++, n++) ok += classified_right(s, (uint64_t)(1000 + k), split);
        CHECK_MSG(ok >= 0.95 * n, "split %d: %d/%d prompts classified right", split, ok, n);
    }
}

TEST(prompt_parse_no_match) {
    cJSON *spec = (cJSON *)1;
    const char *bad[] = {"a cat sleeps on a sofa.", "", "the quick brown fox."};
    for (int i = 0; i < 3; i++) {
        CHECK(pp_sim_spec_for_prompt(bad[i], 0, 16, 32, 32, &spec) == -1);
        CHECK(spec == NULL);
        CHECK(strstr(pp_lasterr(), "no scene of the physics world matches the prompt") != NULL);
    }
    CHECK(pp_sim_spec_for_prompt("a red ball moves to the right.", 0, 16, 4, 32, &spec) == -1);
}

/* The spec has no states, says "generated", and takes the prompt's colour. */
TEST(prompt_parse_spec_fields) {
    cJSON *spec;
    CHECK(!pp_sim_spec_for_prompt("a soft purple ball drops onto the floor and squashes on impact.", 7, 8, 24, 24,
                                  &spec));
    CHECK(!strcmp(spec_scene(spec), "deformation"));
    CHECK(!cJSON_GetObjectItemCaseSensitive(spec, "states"));
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(spec, "source");
    CHECK(cJSON_IsString(src) && !strcmp(src->valuestring, "generated"));
    pp_eval_spec s;
    CHECK(!pp_eval_spec_from_json(spec, &s));
    CHECK(s.nstates == 0 && s.frames == 8 && s.height == 24 && s.width == 24);
    CHECK(s.nobj == 1 && s.ocolor[0][0] == 160 && s.ocolor[0][1] == 0 && s.ocolor[0][2] == 220);
    pp_eval_spec_free(&s);
    cJSON_Delete(spec);
    CHECK(!pp_sim_spec_for_prompt("on the left, a green ball bounces on the floor, losing height with each bounce, "
                                  "and on the right, smoke rises from a vent.", 3, 16, 32, 32, &spec));
    CHECK(!strcmp(spec_scene(spec), "bounce_smoke"));
    CHECK(!pp_eval_spec_from_json(spec, &s));
    CHECK(s.nregion == 2 && s.ocolor[0][1] == 200);
    pp_eval_spec_free(&s);
    cJSON_Delete(spec);
}

/* Does evaluating out's video with the spec for (prompt, seed) agree with its own spec? */
static int agrees(const pp_sim_out *out, uint64_t seed) {
    cJSON *own = cJSON_Duplicate(out->spec, 1), *mine = NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(own, "states");
    pp_eval_spec a, b;
    pp_eval_report ra, rb;
    int ok = !pp_sim_spec_for_prompt(out->prompt, seed, out->frames, out->height, out->width, &mine) &&
             !pp_eval_spec_from_json(own, &a) && !pp_eval_spec_from_json(mine, &b) &&
             !pp_eval_run(&out->video, &a, NULL, &ra) && !pp_eval_run(&out->video, &b, NULL, &rb);
    ok = ok && ra.pc_pass == rb.pc_pass && ra.sa_pass == rb.sa_pass;
    pp_eval_spec_free(&a);
    pp_eval_spec_free(&b);
    cJSON_Delete(own);
    cJSON_Delete(mine);
    return ok;
}

static void agreement(int other_seed, int *ok, int *n) {
    *ok = *n = 0;
    for (int s = 0; s < pp_sim_nscenes(); s++)
        for (int k = 0; k < NSEED; k++, (*n)++) {
            pp_sim_out out;
            uint64_t seed = (uint64_t)(2000 + k);
            if (pp_sim_run(pp_sim_scene_at(s), seed, PP_SPLIT_ID, 16, 32, 32, &out)) continue;
            int a = agrees(&out, other_seed ? seed + 500000 : seed);
            if (!a && getenv("PP_TEST_VERBOSE")) fprintf(stderr, "  disagree %s seed %d\n", out.scene->name, (int)seed);
            *ok += a;
            pp_sim_free(&out);
        }
}

TEST(prompt_parse_eval_agreement) {
    int ok, n;
    agreement(0, &ok, &n);
    CHECK_MSG(ok >= 0.95 * n, "same seed: %d/%d agree", ok, n);
    if (getenv("PP_TEST_VERBOSE")) fprintf(stderr, "  same seed: %d/%d agree\n", ok, n);
    agreement(1, &ok, &n);
    if (getenv("PP_TEST_VERBOSE")) fprintf(stderr, "  other seed: %d/%d agree\n", ok, n);
    CHECK_MSG(ok >= 0.9 * n, "other seed: %d/%d agree", ok, n);
}
