/* test_sim.c - the physics world: determinism, physical sanity from the states,
 * labels (maps, prompts), PhyWorld parseability and the dataset round trip. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/common.h"
#include "sim/dataset.h"
#include "sim/sim.h"
#include "test.h"

static const pp_sim_scene *scene(const char *name) {
    const pp_sim_scene *s = pp_sim_find(name);
    CHECK_MSG(s != NULL, "scene %s missing", name);
    return s;
}

static int run(const char *name, uint64_t seed, int split, int F, int H, int W, pp_sim_out *o) {
    const pp_sim_scene *s = scene(name);
    if (!s) return -1;
    int rc = pp_sim_run(s, seed, split, F, H, W, o);
    CHECK_MSG(rc == 0, "%s: %s", name, pp_lasterr());
    return rc;
}

TEST(sim_scene_table) {
    CHECK(pp_sim_nscenes() >= 13);
    const char *need[] = {"uniform_motion", "parabola", "collision", "bounce", "smoke", "flame", "liquid",
                          "melting", "explosion", "reflection", "deformation", "bounce_smoke", "collision_flame"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) CHECK(pp_sim_find(need[i]) != NULL);
    CHECK(pp_sim_find("no_such_scene") == NULL);
    CHECK(strstr(pp_lasterr(), "no_such_scene") != NULL);
}

TEST(sim_determinism) {
    for (int i = 0; i < pp_sim_nscenes(); i++) {
        const pp_sim_scene *s = pp_sim_scene_at(i);
        pp_sim_out a, b, c;
        if (pp_sim_run(s, 7, PP_SPLIT_ID, 8, 24, 24, &a)) { CHECK(0); continue; }
        pp_sim_run(s, 7, PP_SPLIT_ID, 8, 24, 24, &b);
        pp_sim_run(s, 8, PP_SPLIT_ID, 8, 24, 24, &c);
        size_t nv = (size_t)8 * 24 * 24 * 3, nm = (size_t)PP_NCAT * 8 * 24 * 24;
        CHECK_MSG(!memcmp(a.video.rgb, b.video.rgb, nv), "%s: video differs for the same seed", s->name);
        CHECK_MSG(!memcmp(a.maps, b.maps, nm * sizeof(float)), "%s: maps differ", s->name);
        CHECK(!strcmp(a.prompt, b.prompt));
        char *ja = cJSON_PrintUnformatted(a.spec), *jb = cJSON_PrintUnformatted(b.spec);
        CHECK(!strcmp(ja, jb));
        cJSON_free(ja), cJSON_free(jb);
        CHECK_MSG(memcmp(a.video.rgb, c.video.rgb, nv) || strcmp(a.prompt, c.prompt),
                  "%s: seeds 7 and 8 give identical samples", s->name);
        pp_sim_free(&a), pp_sim_free(&b), pp_sim_free(&c);
    }
}

TEST(sim_params_splits) {
    for (int i = 0; i < pp_sim_nscenes(); i++) {
        const pp_sim_scene *s = pp_sim_scene_at(i);
        for (uint64_t seed = 0; seed < 20; seed++)
            for (int split = 0; split < 2; split++) {
                pp_sim_params p;
                pp_sim_params_sample(s, seed, split, &p);
                for (int k = 0; k < s->nparam; k++)
                    CHECK_MSG(pp_sim_param_in_split(&s->params[k], p.value[k], split), "%s.%s = %g not in split %d",
                              s->name, s->params[k].name, p.value[k], split);
            }
    }
    const pp_sim_scene *u = scene("uniform_motion");
    pp_sim_params p;
    pp_sim_params_sample(u, 1, PP_SPLIT_OOD, &p);
    double r = pp_sim_param(&p, "r");
    CHECK((r >= 0.3 && r <= 0.6) || (r >= 1.5 && r <= 2.0));
    CHECK(pp_sim_params_set(u, &p, "r", -1.0) == -1);
    CHECK(strstr(pp_lasterr(), "impossible") != NULL);
    CHECK(pp_sim_params_set(u, &p, "nope", 1.0) == -1);
    CHECK(pp_sim_params_set(u, &p, "r", 1.0) == 0 && pp_sim_param(&p, "r") == 1.0);
    CHECK(pp_sim_params_set(scene("bounce"), &p, "restitution", 1.2) == -1);
}

TEST(sim_bad_sizes) {
    pp_sim_out o;
    const pp_sim_scene *s = scene("uniform_motion");
    CHECK(pp_sim_run(s, 1, 0, 0, 32, 32, &o) == -1);
    CHECK(pp_sim_run(s, 1, 0, 16, 2000, 32, &o) == -1);
    CHECK(pp_sim_run(s, 1, 0, 300, 32, 32, &o) == -1);
    CHECK(pp_sim_run(s, 1, 0, 256, 1024, 1024, &o) == -1);
    CHECK(pp_sim_check_size(16, 32, 32) == 0);
}

TEST(sim_uniform_speed) {
    for (uint64_t seed = 0; seed < 10; seed++) {
        pp_sim_out o;
        if (run("uniform_motion", seed, (int)(seed & 1), 16, 32, 32, &o)) return;
        const pp_sim_obj_state *s0 = &o.states[0].obj[0];
        for (int f = 1; f < o.frames; f++) {
            const pp_sim_obj_state *s = &o.states[f].obj[0];
            CHECK_NEAR(s->vx, s0->vx, 1e-6);
            CHECK_NEAR(s->vy, 0, 1e-9);
            CHECK_NEAR(s->x, s0->x + s0->vx * o.states[f].t, 1e-4);
            CHECK_NEAR((s->x - o.states[f - 1].obj[0].x) / PP_SIM_DT, s0->vx, 1e-3);
        }
        CHECK_NEAR(fabs(s0->vx), pp_sim_param(&o.params, "v"), 1e-5);
        pp_sim_free(&o);
    }
}

TEST(sim_parabola_gravity) {
    for (uint64_t seed = 0; seed < 10; seed++) {
        pp_sim_out o;
        if (run("parabola", seed, 0, 16, 32, 32, &o)) return;
        for (int f = 1; f + 1 < o.frames; f++) {
            double a = (o.states[f + 1].obj[0].y - 2 * o.states[f].obj[0].y + o.states[f - 1].obj[0].y) /
                       (PP_SIM_DT * PP_SIM_DT);
            CHECK_NEAR(a, -2.5, 2e-3);
            CHECK_NEAR(o.states[f].obj[0].vx, o.states[0].obj[0].vx, 1e-6);
        }
        pp_sim_free(&o);
    }
}

static double energy(const pp_sim_obj_state *s, double g) { return 0.5 * (s->vx * s->vx + s->vy * s->vy) + g * s->y; }

TEST(sim_bounce_energy) {
    int bounced = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        pp_sim_out o;
        if (run("bounce", seed, (int)(seed & 1), 32, 32, 32, &o)) return;
        double e = pp_sim_param(&o.params, "restitution"), fl = pp_sim_param(&o.params, "floor_y");
        CHECK(e < 1);
        for (int f = 1; f < o.frames; f++) {
            const pp_sim_obj_state *s = &o.states[f].obj[0];
            CHECK_MSG(energy(s, 9.8) <= energy(&o.states[f - 1].obj[0], 9.8) + 1e-4, "seed %d frame %d gains energy",
                      (int)seed, f);
            CHECK(s->y - s->r >= fl - 1e-5); /* never through the floor */
        }
        if (energy(&o.states[o.frames - 1].obj[0], 9.8) < energy(&o.states[0].obj[0], 9.8) - 1e-3) bounced++;
        pp_sim_free(&o);
    }
    CHECK(bounced >= 15);
}

TEST(sim_collision_conservation) {
    int collided = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        pp_sim_out o;
        if (run("collision", seed, (int)(seed & 1), 16, 32, 32, &o)) return;
        double m0 = pow(o.states[0].obj[0].r, 2), m1 = pow(o.states[0].obj[1].r, 2);
        const pp_sim_state *a = &o.states[0], *b = &o.states[o.frames - 1];
        double p0 = m0 * a->obj[0].vx + m1 * a->obj[1].vx, p1 = m0 * b->obj[0].vx + m1 * b->obj[1].vx;
        double k0 = m0 * pow(a->obj[0].vx, 2) + m1 * pow(a->obj[1].vx, 2);
        double k1 = m0 * pow(b->obj[0].vx, 2) + m1 * pow(b->obj[1].vx, 2);
        CHECK_NEAR(p1, p0, 1e-4 * (1 + fabs(p0)));
        CHECK_NEAR(k1, k0, 1e-4 * (1 + k0));
        if (fabs(b->obj[0].vx - a->obj[0].vx) > 1e-3) collided++;
        for (int f = 0; f < o.frames; f++) { /* never overlapping */
            const pp_sim_obj_state *r = &o.states[f].obj[0], *u = &o.states[f].obj[1];
            CHECK(hypot(u->x - r->x, u->y - r->y) >= r->r + u->r - 1e-4);
        }
        pp_sim_free(&o);
    }
    CHECK(collided >= 18);
}

TEST(sim_smoke_rises) {
    const char *sc[] = {"smoke", "flame", "bounce_smoke"};
    for (int k = 0; k < 3; k++)
        for (uint64_t seed = 0; seed < 3; seed++) {
            pp_sim_out o;
            if (run(sc[k], seed, (int)(seed & 1), 16, 32, 32, &o)) return;
            const pp_sim_fluid_state *a = &o.states[0].fluid, *b = &o.states[15].fluid;
            CHECK(o.states[0].has_fluid);
            CHECK_MSG(b->cy > a->cy + 0.1, "%s seed %d: centroid %g -> %g", sc[k], (int)seed, a->cy, b->cy);
            CHECK(b->top >= a->top);
            CHECK(b->mass > 0);
            pp_sim_free(&o);
        }
}

TEST(sim_melting_monotone) {
    for (uint64_t seed = 0; seed < 5; seed++) {
        pp_sim_out o;
        if (run("melting", seed, (int)(seed & 1), 24, 32, 32, &o)) return;
        for (int f = 1; f < o.frames; f++) {
            CHECK(o.states[f].obj[0].r < o.states[f - 1].obj[0].r + 1e-7);  /* ice */
            CHECK(o.states[f].fluid.mass >= o.states[f - 1].fluid.mass);     /* melt water */
            CHECK(o.states[f].obj[1].rx >= o.states[f - 1].obj[1].rx - 1e-7); /* puddle spreads */
        }
        CHECK(o.states[o.frames - 1].obj[0].r < 0.95 * o.states[0].obj[0].r);
        pp_sim_free(&o);
    }
}

TEST(sim_liquid_explosion_deformation) {
    pp_sim_out o;
    if (run("liquid", 2, 0, 16, 32, 32, &o)) return;
    CHECK(o.states[15].fluid.mass > o.states[1].fluid.mass);
    CHECK(o.states[15].fluid.spread > o.states[4].fluid.spread);
    CHECK(o.states[15].fluid.cy < o.states[1].fluid.cy);
    pp_sim_free(&o);
    if (run("explosion", 2, 0, 16, 32, 32, &o)) return;
    CHECK(o.states[15].fluid.spread > o.states[4].fluid.spread);
    CHECK(o.states[15].obj[0].r > o.states[0].obj[0].r);
    pp_sim_free(&o);
    if (run("deformation", 2, 0, 16, 32, 32, &o)) return;
    float min_ry = 1e9f;
    for (int f = 0; f < o.frames; f++) {
        const pp_sim_obj_state *s = &o.states[f].obj[0];
        CHECK_NEAR(s->rx * s->ry, s->r * s->r, 1e-3); /* area kept */
        min_ry = fminf(min_ry, s->ry / s->r);
    }
    CHECK(min_ry < 0.9f);
    pp_sim_free(&o);
}

/* Maps in [0,1], bg = 1 - max, only declared categories, and the map lies on the
 * rendered object: the pixel under each ball centre has the ball's colour and a
 * motion map near 1. */
TEST(sim_maps_labels) {
    for (int i = 0; i < pp_sim_nscenes(); i++) {
        pp_sim_out o;
        const pp_sim_scene *s = pp_sim_scene_at(i);
        if (pp_sim_run(s, 3, 0, 12, 32, 32, &o)) { CHECK(0); continue; }
        size_t plane = (size_t)12 * 32 * 32;
        for (int c = 0; c < PP_NCAT; c++) {
            double sum = 0;
            for (size_t k = 0; k < plane; k++) {
                float v = o.maps[(size_t)c * plane + k];
                CHECK(v >= 0 && v <= 1);
                sum += v;
            }
            if (o.cats[c] == 0) CHECK_MSG(sum == 0, "%s: map %s set but category absent", s->name, pp_cat_names[c]);
            else CHECK_MSG(sum > 0, "%s: category %s has an empty map", s->name, pp_cat_names[c]);
        }
        for (size_t k = 0; k < plane; k++) {
            float m = 0;
            for (int c = 0; c < PP_NCAT; c++) m = fmaxf(m, o.maps[(size_t)c * plane + k]);
            CHECK_NEAR(o.bg[k], 1 - m, 1e-6);
        }
        CHECK(o.spec && cJSON_GetObjectItem(o.spec, "states"));
        pp_sim_free(&o);
    }
    const char *balls[] = {"uniform_motion", "parabola", "collision", "reflection"};
    for (int k = 0; k < 4; k++) {
        pp_sim_out o;
        if (run(balls[k], 5, 0, 8, 64, 64, &o)) return;
        for (int f = 0; f < 8; f++)
            for (int b = 0; b < o.nobj; b++) {
                const pp_sim_obj_state *s = &o.states[f].obj[b];
                if (!s->inside) continue;
                int px = (int)(s->x * 6.4f), py = (int)((10 - s->y) * 6.4f);
                const uint8_t *rgb = pp_video_frame(&o.video, f) + ((size_t)py * 64 + px) * 3;
                CHECK(!memcmp(rgb, o.objects[b].color, 3));
                float m = o.maps[((size_t)PP_CAT_RIGID_BODY * 8 + f) * 64 * 64 + (size_t)py * 64 + px];
                CHECK(m > 0.9f);
            }
        pp_sim_free(&o);
    }
}

/* PhyWorld parser on our rendering at 128 px: threshold the red ball, centroid and
 * radius = sqrt(area / pi) must match the state to ~0.01 units. */
TEST(sim_phyworld_parse_128) {
    double err = 0, rerr = 0, werr = 0;
    int n = 0;
    for (uint64_t seed = 0; seed < 6; seed++) {
        pp_sim_out o;
        if (run(seed < 3 ? "uniform_motion" : "parabola", seed, 0, 16, 128, 128, &o)) return;
        for (int f = 0; f < o.frames; f++) {
            const pp_sim_obj_state *s = &o.states[f].obj[0];
            if (!s->inside) continue;
            const uint8_t *p = pp_video_frame(&o.video, f);
            double cnt = 0, sx = 0, sy = 0, wc = 0, wx = 0, wy = 0;
            for (int y = 0; y < 128; y++)
                for (int x = 0; x < 128; x++, p += 3) {
                    if (p[0] > 127 && p[1] < 127 && p[2] < 127) cnt++, sx += x + 0.5, sy += y + 0.5;
                    double w = 1 - p[1] / 255.0; /* coverage, from the green channel */
                    wc += w, wx += w * (x + 0.5), wy += w * (y + 0.5);
                }
            double cx = sx / cnt / 12.8, cy = 10 - sy / cnt / 12.8, r = sqrt(cnt / M_PI) / 12.8;
            err += hypot(cx - s->x, cy - s->y), rerr += fabs(r - s->r), n++;
            werr += hypot(wx / wc / 12.8 - s->x, 10 - wy / wc / 12.8 - s->y);
        }
        pp_sim_free(&o);
    }
    CHECK(n > 50);
    if (getenv("PP_VERBOSE")) printf("    parse at 128 px: centroid %.5f, radius %.5f, coverage-weighted centroid %.5f units (%d frames)\n",
               err / n, rerr / n, werr / n, n);
    CHECK_MSG(err / n < 0.01, "mean centroid error %g units", err / n);
    CHECK_MSG(rerr / n < 0.02, "mean radius error %g units", rerr / n);
    CHECK_MSG(werr / n < 0.002, "mean weighted centroid error %g units", werr / n);
}

static int in_vocab(const char *w, const char *const *v, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(w, v[i])) return 1;
    return 0;
}

TEST(sim_prompts) {
    const char *const *vocab;
    int nv = pp_sim_vocab(&vocab);
    CHECK(nv > 100);
    for (int i = 1; i < nv; i++) CHECK(strcmp(vocab[i - 1], vocab[i]) < 0);
    int distinct = 0;
    char prev[PP_SIM_PROMPT_MAX] = "";
    for (int i = 0; i < pp_sim_nscenes(); i++)
        for (uint64_t seed = 0; seed < 12; seed++) {
            pp_sim_out o;
            if (pp_sim_run(pp_sim_scene_at(i), seed, 0, 4, 16, 16, &o)) { CHECK(0); continue; }
            char buf[PP_SIM_PROMPT_MAX];
            snprintf(buf, sizeof buf, "%s", o.prompt);
            CHECK(strlen(buf) > 10 && buf[strlen(buf) - 1] == '.');
            distinct += strcmp(buf, prev) != 0;
            snprintf(prev, sizeof prev, "%s", buf);
            for (char *save = NULL, *w = strtok_r(buf, " ,.", &save); w; w = strtok_r(NULL, " ,.", &save))
                CHECK_MSG(in_vocab(w, vocab, nv), "word '%s' of \"%s\" not in the vocabulary", w, o.prompt);
            const char *name = o.scene->name;
            if (!strcmp(name, "uniform_motion") || !strcmp(name, "parabola") || !strcmp(name, "reflection")) {
                int dir = (int)pp_sim_param(&o.params, "dir");
                const char *rw[] = {"to the right", "rightward", "from left to right", "toward the right"};
                const char *lw[] = {"to the left", "leftward", "from right to left", "toward the left"};
                int right = 0, left = 0;
                for (int k = 0; k < 4; k++) right |= strstr(o.prompt, rw[k]) != NULL, left |= strstr(o.prompt, lw[k]) != NULL;
                CHECK_MSG(dir > 0 ? right && !left : left && !right, "direction missing: %s", o.prompt);
            }
            if (!strcmp(name, "uniform_motion") || !strcmp(name, "parabola") || !strcmp(name, "collision"))
                CHECK(strstr(o.prompt, "red") != NULL);
            if (!strcmp(name, "bounce") || !strcmp(name, "deformation") || !strcmp(name, "reflection")) {
                const char *cols[] = {"red", "blue", "green", "purple"};
                CHECK(strstr(o.prompt, cols[(int)pp_sim_param(&o.params, "color")]) != NULL);
            }
            if (!strcmp(name, "bounce_smoke")) CHECK(strstr(o.prompt, "left") && strstr(o.prompt, "right"));
            pp_sim_free(&o);
        }
    CHECK(distinct > pp_sim_nscenes() * 10);
}

TEST(sim_spec_json) {
    pp_sim_out o;
    if (run("collision", 4, 1, 10, 32, 48, &o)) return;
    cJSON *j = o.spec;
    CHECK(!strcmp(cJSON_GetObjectItem(j, "format")->valuestring, "prophy-spec-1"));
    CHECK(!strcmp(cJSON_GetObjectItem(j, "scene")->valuestring, "collision"));
    CHECK(!strcmp(cJSON_GetObjectItem(j, "split")->valuestring, "ood"));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "categories")) == PP_NCAT);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "states")) == 10);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "objects")) == 2);
    cJSON *v = cJSON_GetObjectItem(j, "video");
    CHECK(cJSON_GetObjectItem(v, "width")->valueint == 48 && cJSON_GetObjectItem(v, "height")->valueint == 32);
    CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "world"), "dt")->valuedouble, 0.1, 1e-9);
    cJSON *s1 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "states"), 1), "objects"), 0);
    CHECK_NEAR(cJSON_GetObjectItem(s1, "x")->valuedouble, o.states[1].obj[0].x, 1e-4);
    pp_sim_free(&o);
    if (run("bounce_smoke", 4, 0, 4, 16, 16, &o)) return;
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o.spec, "regions")) == 2);
    pp_sim_free(&o);
}

/* Composites: each phenomenon's map stays in its region, and a ball counts as
 * inside only while it is wholly inside its own region. */
TEST(sim_composite_regions) {
    const char *names[] = {"bounce_smoke", "collision_flame", "melting_explosion"};
    for (int k = 0; k < 3; k++)
        for (uint64_t seed = 0; seed < 4; seed++) {
            pp_sim_out o;
            if (run(names[k], seed, 0, 12, 32, 32, &o)) return;
            CHECK(o.nregion >= 2);
            size_t plane = (size_t)32 * 32;
            for (int r = 0; r < o.nregion; r++) {
                const pp_sim_region *g = &o.regions[r];
                double in = 0, out = 0;
                for (int f = 0; f < 12; f++)
                    for (int y = 0; y < 32; y++)
                        for (int x = 0; x < 32; x++) {
                            float wx = (x + 0.5f) * 10 / 32;
                            float v = o.maps[((size_t)g->category * 12 + f) * plane + (size_t)y * 32 + x];
                            if (wx >= g->x0 && wx <= g->x1) in += v;
                            else out += v;
                        }
                CHECK_MSG(in > 0 && out <= 0.02 * in, "%s: %s map leaks out of its region (%g vs %g)", names[k],
                          pp_cat_names[g->category], out, in);
            }
            for (int f = 0; f < 12; f++)
                for (int b = 0; b < o.nobj; b++) {
                    const pp_sim_obj_state *s = &o.states[f].obj[b];
                    if (!strcmp(o.objects[b].kind, "ball") && s->inside)
                        CHECK(s->x + s->r <= o.regions[0].x1 + 1e-5 && s->x - s->r >= o.regions[0].x0 - 1e-5);
                }
            pp_sim_free(&o);
        }
}

TEST(sim_dataset_roundtrip) {
    char dir[] = "/tmp/prophy-ds-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    pp_dataset_cfg cfg;
    pp_dataset_cfg_default(&cfg);
    cfg.count = 21, cfg.seed = 9, cfg.shard_size = 8, cfg.frames = 6, cfg.height = 16, cfg.width = 20;
    cfg.split = PP_SPLIT_OOD;
    CHECK(pp_dataset_write(dir, &cfg, NULL) == 0);
    pp_dataset *ds = pp_dataset_open(dir);
    CHECK(ds != NULL);
    if (!ds) return;
    CHECK(pp_dataset_count(ds) == 21);
    pp_sample s = {0};
    int n = 0;
    while (pp_dataset_next(ds, &s) == 1) {
        pp_sim_out o;
        pp_sim_run(pp_sim_scene_at(s.scene), s.seed, s.split, 6, 16, 20, &o);
        CHECK(s.scene == n % pp_sim_nscenes() && s.split == PP_SPLIT_OOD);
        CHECK(s.seed == pp_dataset_sample_seed(9, n));
        CHECK(!memcmp(s.video, o.video.rgb, (size_t)6 * 16 * 20 * 3));
        CHECK(!strcmp(s.prompt, o.prompt));
        CHECK(!memcmp(s.cats, o.cats, sizeof s.cats));
        size_t plane = (size_t)6 * 16 * 20;
        for (size_t k = 0; k < plane * PP_NCAT; k++) CHECK(fabsf(s.maps[k] / 255.0f - o.maps[k]) <= 0.5f / 255 + 1e-6f);
        cJSON *j = cJSON_Parse(s.spec_json);
        CHECK(j && !strcmp(cJSON_GetObjectItem(j, "scene")->valuestring, o.scene->name));
        cJSON_Delete(j);
        pp_sim_free(&o);
        n++;
    }
    CHECK(n == 21);
    pp_sample r = {0};
    CHECK(pp_dataset_get(ds, 13, &r) == 0 && r.seed == pp_dataset_sample_seed(9, 13));
    CHECK(pp_dataset_get(ds, 21, &r) == -1);
    pp_sample_free(&r);
    pp_sample_free(&s);
    pp_dataset_close(ds);
    /* a truncated shard is rejected, not crashed on */
    char path[512];
    snprintf(path, sizeof path, "%s/shard-00001.ppds", dir);
    CHECK(truncate(path, 40) == 0);
    CHECK(pp_dataset_open(dir) == NULL);
    CHECK(pp_dataset_open("/nonexistent/prophy") == NULL);
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/shard-%05d.ppds", dir, k);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    unlink(path);
    rmdir(dir);
}
