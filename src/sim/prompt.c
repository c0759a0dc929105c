/* prompt.c - prompt templates and their finite vocabulary.
 *
 * A prompt is built from clause templates ("tpl_*" lists) whose {slot}s are filled
 * either by the scene (colour, direction, speed in words, derived from the actual
 * parameters) or by a random synonym from the word list of the same name. Every
 * string a prompt can contain lives in g_lists, so pp_sim_vocab can enumerate the
 * vocabulary exactly. Prompts are lowercase, end with '.', and use ',' only. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "sim/sim_internal.h"

const uint8_t pp_sim_palette[PAL_N][3] = {{255, 0, 0}, {0, 0, 255}, {0, 200, 0}, {160, 0, 220}};

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})
typedef struct {
    const char *name;
    const char *const *items;
} word_list;

static const word_list g_lists[] = {
    /* colours, in palette order */
    {"colors", L("red", "blue", "green", "purple")},
    {"a", L("a", "one", "a single")},
    {"ball", L("ball", "sphere", "disc", "round ball")},
    {"moves", L("moves", "travels", "glides", "slides", "rolls")},
    {"dir_right", L("to the right", "rightward", "from left to right", "toward the right")},
    {"dir_left", L("to the left", "leftward", "from right to left", "toward the left")},
    {"speed_still", L("very slowly", "barely", "almost imperceptibly")},
    {"speed_slow", L("slowly", "at a slow pace", "gently", "unhurriedly")},
    {"speed_mid", L("steadily", "at a moderate speed", "at an even pace")},
    {"speed_fast", L("quickly", "fast", "briskly", "swiftly")},
    {"speed_vfast", L("very fast", "rapidly", "at high speed")},
    {"uniform", L("at a constant speed", "with constant velocity", "in a straight line",
                  "without slowing down")},
    {"thrown", L("is thrown", "is launched", "is tossed", "flies")},
    {"arc", L("along a parabola", "in a parabolic arc", "in a curved arc", "on a falling arc")},
    {"falls", L("falls under gravity", "curves downward", "drops as it flies")},
    {"hits", L("hits", "collides with", "strikes", "bumps into", "crashes into")},
    {"blue_still", L("at rest", "standing still", "that is not moving")},
    {"blue_moving", L("coming the other way", "moving toward it", "rolling the opposite way")},
    {"collide", L("collide", "bounce off each other", "crash together", "meet head on")},
    {"elastic", L("elastically", "and rebound", "and exchange momentum")},
    {"drops", L("drops", "falls", "is dropped", "falls down")},
    {"bounces", L("bounces", "rebounds", "bounces back up", "hops")},
    {"floor", L("floor", "ground")},
    {"bounce_low", L("losing height with each bounce", "bouncing lower each time",
                     "each bounce lower than the last")},
    {"bounce_high", L("bouncing almost as high each time", "with lively high bounces",
                      "losing a little height each bounce")},
    {"smoke", L("smoke", "gray smoke", "a plume of smoke", "thick smoke")},
    {"rises", L("rises", "drifts upward", "billows up", "floats up", "curls upward")},
    {"source", L("a vent", "a small source", "a hot vent", "the ground")},
    {"smoke_drift_right", L("and drifts to the right", "leaning rightward")},
    {"smoke_drift_left", L("and drifts to the left", "leaning leftward")},
    {"smoke_drift_none", L("straight up", "in a column", "")},
    {"fire", L("a flame", "a fire", "a small fire", "a flickering flame")},
    {"burns", L("burns", "flickers", "dances", "blazes")},
    {"fuel", L("a log", "a wick", "a burner")},
    {"fire_look", L("with hot air rising", "glowing orange and yellow", "giving off heat", "")},
    {"fire_strength_low", L("weakly", "softly", "low")},
    {"fire_strength_high", L("fiercely", "brightly", "tall")},
    {"water", L("water", "a stream of water", "blue water", "liquid")},
    {"pours", L("pours", "flows", "streams", "splashes down")},
    {"spout", L("a spout", "a pipe", "above")},
    {"pools", L("pools", "collects", "spreads out", "settles")},
    {"ice", L("ice cube", "block of ice", "ice block", "cube of ice")},
    {"melts", L("melts", "slowly melts", "shrinks as it melts", "thaws")},
    {"melt_fast", L("quickly", "rapidly")},
    {"melt_slow", L("gradually", "little by little")},
    {"puddle", L("a spreading puddle", "a pool of water", "a puddle of water", "water")},
    {"bomb", L("small bomb", "dark ball", "firework", "charge")},
    {"explodes", L("explodes", "bursts", "blows up", "detonates")},
    {"burst", L("into hot sparks", "scattering glowing debris", "in a burst of fiery particles",
                "sending sparks flying")},
    {"burst_big", L("violently", "with great force")},
    {"burst_small", L("softly", "with a small pop")},
    {"mirror", L("a mirror", "a mirror-like floor", "a shiny reflective surface", "a polished floor")},
    {"reflected", L("its reflection moving below it", "reflected in the surface below",
                    "mirrored underneath")},
    {"soft", L("soft", "squishy", "rubbery", "jelly")},
    {"squash", L("squashes on impact", "flattens as it lands", "deforms when it hits",
                 "squishes and springs back")},
    {"bg", L("", "", "on a white background", "against a plain backdrop", "in an empty scene")},
    /* clause templates */
    {"tpl_uniform", L("{a} {color} {ball} {moves} {dir} {speed} {uniform}",
                      "{a} {color} {ball} {moves} {speed} {dir} {uniform}",
                      "{a} {color} {ball} {moves} {uniform} {dir}, {speed}")},
    {"tpl_parabola", L("{a} {color} {ball} {thrown} {dir} {speed} {arc}",
                       "{a} {color} {ball} {thrown} {speed} {dir} and {falls}",
                       "{a} {color} {ball} {moves} {dir} {arc} and {falls}")},
    {"tpl_collision", L("{a} red {ball} {moves} to the right {speed1} and {hits} a blue {ball} {blue_motion}",
                        "a red {ball} and a blue {ball} {blue_motion} {collide} {elastic}",
                        "two balls {collide}, {a} red {ball} {moves} {speed1} into a blue {ball} {blue_motion}")},
    {"tpl_bounce", L("{a} {color} {ball} {drops} {dir} and {bounces} on the {floor}, {lose}",
                     "{a} {color} {ball} {bounces} on the {floor} {dir}, {lose}",
                     "{a} {color} {ball} {drops} onto the {floor} and {bounces}, {lose}")},
    {"tpl_smoke", L("{smoke} {rises} from {source} {drift}", "{smoke} {rises} {drift} from {source}",
                    "from {source}, {smoke} {rises} {drift}")},
    {"tpl_flame", L("{fire} {burns} {strength} on {fuel} {fire_look}",
                    "on {fuel}, {fire} {burns} {strength} {fire_look}",
                    "{fire} {burns} {fire_look} on {fuel}")},
    {"tpl_liquid", L("{water} {pours} from {spout} and {pools} on the {floor}",
                     "{water} {pours} {dir} from {spout} and {pools}",
                     "from {spout}, {water} {pours} down and {pools} on the {floor}")},
    {"tpl_melting", L("{a} {ice} {melts} {rate} into {puddle}", "{a} {ice} on the {floor} {melts} {rate}",
                      "{a} {ice} {melts} into {puddle} {rate}")},
    {"tpl_explosion", L("{a} {bomb} {explodes} {power} {burst}", "{a} {bomb} {explodes} {burst}",
                        "{burst}, {a} {bomb} {explodes} {power}")},
    {"tpl_reflection", L("{a} {color} {ball} {moves} {dir} {speed} above {mirror}, {reflected}",
                         "above {mirror}, {a} {color} {ball} {moves} {speed} {dir}, {reflected}",
                         "{a} {color} {ball} {moves} {dir} over {mirror} {speed}")},
    {"tpl_deform", L("{a} {soft} {color} {ball} {drops} onto the {floor} and {squash}",
                     "{a} {soft} {color} {ball} {squash} on the {floor}",
                     "{a} {soft} {color} {ball} {drops} and {squash}")},
    {"tpl_join", L("on the left, {c0}, and on the right, {c1}", "{c0} on the left, while {c1} on the right",
                   "on the left side {c0}, on the right side {c1}")},
};
#define NLISTS (int)(sizeof g_lists / sizeof g_lists[0])

static const word_list *find_list(const char *name) {
    for (int i = 0; i < NLISTS; i++)
        if (!strcmp(g_lists[i].name, name)) return &g_lists[i];
    return NULL;
}

static int list_len(const word_list *l) {
    int n = 0;
    while (l->items[n]) n++;
    return n;
}

const char *pp_sim_word(pp_sim_ctx *c, const char *name) {
    const word_list *l = find_list(name);
    if (!l) return "";
    return l->items[pp_rng_below(&c->prng, (uint32_t)list_len(l))];
}

const char *pp_sim_word_color(int idx) { return find_list("colors")->items[idx]; }

const char *pp_sim_word_speed(pp_sim_ctx *c, double v) {
    v = fabs(v);
    return pp_sim_word(c, v < 0.4 ? "speed_still" : v < 1.5 ? "speed_slow" : v < 3.0 ? "speed_mid"
                                        : v < 4.5 ? "speed_fast" : "speed_vfast");
}

/* Expand template t into dst (size n), filling {slot}s. */
static void expand(pp_sim_ctx *c, const char *t, const char *const *kv, char *dst, size_t n) {
    size_t o = 0;
    while (*t && o + 1 < n) {
        if (*t != '{') {
            dst[o++] = *t++;
            continue;
        }
        const char *e = strchr(t, '}');
        char key[32];
        size_t kl = (size_t)(e - t - 1);
        if (!e || kl >= sizeof key) break;
        memcpy(key, t + 1, kl);
        key[kl] = 0;
        const char *val = NULL;
        for (int i = 0; kv && kv[i]; i += 2)
            if (!strcmp(kv[i], key)) val = kv[i + 1];
        if (!val) val = pp_sim_word(c, key);
        while (*val && o + 1 < n) dst[o++] = *val++;
        t = e + 1;
    }
    dst[o] = 0;
}

/* Collapse runs of spaces, drop spaces before ',' and trailing/leading spaces. */
static void tidy(char *s) {
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == ' ' && (w == s || w[-1] == ' ')) continue;
        if ((*r == ',' || *r == '.') && w > s && w[-1] == ' ') w--;
        if (*r == ',' && w > s && w[-1] == ',') continue;
        *w++ = *r;
    }
    while (w > s && (w[-1] == ' ' || w[-1] == ',')) w--;
    *w = 0;
}

void pp_sim_say(pp_sim_ctx *c, const char *tpl, const char *const *kv) {
    char buf[PP_SIM_PROMPT_MAX];
    expand(c, pp_sim_word(c, tpl), kv, buf, sizeof buf);
    tidy(buf);
    pp_sim_clause(c, buf);
}

void pp_sim_prompt_finish(pp_sim_ctx *c) {
    char buf[PP_SIM_PROMPT_MAX * 2];
    if (c->nclause >= 2) {
        const char *kv[] = {"c0", c->clause[0], "c1", c->clause[1], NULL};
        expand(c, pp_sim_word(c, "tpl_join"), kv, buf, sizeof buf);
    } else {
        snprintf(buf, sizeof buf, "%s", c->nclause ? c->clause[0] : "");
    }
    size_t l = strlen(buf);
    snprintf(buf + l, sizeof buf - l, " %s.", pp_sim_word(c, "bg"));
    tidy(buf);
    snprintf(c->out->prompt, sizeof c->out->prompt, "%.*s", (int)sizeof c->out->prompt - 1, buf);
}

/* ------------------------------------------------------------- vocabulary */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char g_vocab_buf[8192];
static const char *g_vocab[1024];
static int g_nvocab = -1;

static void add_words(const char *s, size_t *used) {
    while (*s) {
        if (*s == '{') { /* a slot, not a word */
            const char *e = strchr(s, '}');
            s = e ? e + 1 : s + strlen(s);
            continue;
        }
        if (*s == ' ' || *s == ',' || *s == '.') {
            s++;
            continue;
        }
        size_t n = strcspn(s, " ,.{");
        if (*used + n + 1 > sizeof g_vocab_buf || g_nvocab == 1024) return;
        char *w = g_vocab_buf + *used;
        memcpy(w, s, n);
        w[n] = 0;
        *used += n + 1;
        g_vocab[g_nvocab++] = w;
        s += n;
    }
}

static void build_vocab(void) {
    size_t used = 0;
    g_nvocab = 0;
    for (int i = 0; i < NLISTS; i++)
        for (int k = 0; g_lists[i].items[k]; k++) add_words(g_lists[i].items[k], &used);
    qsort(g_vocab, (size_t)g_nvocab, sizeof g_vocab[0], cmp_str);
    int u = 0;
    for (int i = 0; i < g_nvocab; i++)
        if (u == 0 || strcmp(g_vocab[u - 1], g_vocab[i])) g_vocab[u++] = g_vocab[i];
    g_nvocab = u;
}

static void build_vocab_once(void) { build_vocab(); }

int pp_sim_vocab(const char *const **words) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_vocab_once);
    *words = g_vocab;
    return g_nvocab;
}
