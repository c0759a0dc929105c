/* square.c - see square.h */
#include <ctype.h>
#include <math.h>
#include <string.h>
#include "base/common.h"
#include "square/square.h"

const char *const pp_square_colors[PP_SQ_NCOLORS] = {"red", "green", "blue", "yellow"};
const char *const pp_square_dirs[PP_SQ_NDIRS] = {"right", "left", "up", "down"};
static const float rgb[PP_SQ_NCOLORS][3] = {{1, 0, 0}, {0, 0.7f, 0}, {0, 0, 1}, {1, 0.85f, 0}};
static const int dirx[PP_SQ_NDIRS] = {1, -1, 0, 0}, diry[PP_SQ_NDIRS] = {0, 0, -1, 1};

void pp_square_draw(pp_square *s, pp_rng *r, int F, int H, int W) {
    s->color = (int)pp_rng_below(r, PP_SQ_NCOLORS);
    s->dir = (int)pp_rng_below(r, PP_SQ_NDIRS);
    int side = (H < W ? H : W);
    s->size = side / 4 > 2 ? side / 4 : 2;
    float travel_room = (float)side - s->size - 1;
    s->speed = 0.6f + 0.4f * pp_rng_uniform(r);
    if (s->speed * (F - 1) > travel_room) s->speed = travel_room / (float)(F > 1 ? F - 1 : 1);
    float travel = s->speed * (F - 1);
    /* start so that the whole path stays inside the frame */
    float fx = pp_rng_uniform(r), fy = pp_rng_uniform(r);
    float lo_x = dirx[s->dir] < 0 ? travel : 0, hi_x = W - s->size - (dirx[s->dir] > 0 ? travel : 0);
    float lo_y = diry[s->dir] < 0 ? travel : 0, hi_y = H - s->size - (diry[s->dir] > 0 ? travel : 0);
    s->x0 = lo_x + fx * (hi_x - lo_x);
    s->y0 = lo_y + fy * (hi_y - lo_y);
}

/* length of [a, a+len) inside pixel [p, p+1) */
static float overlap(float a, float len, int p) {
    float lo = fmaxf(a, (float)p), hi = fminf(a + len, (float)p + 1);
    return hi > lo ? hi - lo : 0.0f;
}

void pp_square_render(const pp_square *s, float *video, int F, int H, int W) {
    size_t fr = (size_t)F * H * W;
    for (int f = 0; f < F; f++) {
        float x = s->x0 + dirx[s->dir] * s->speed * f, y = s->y0 + diry[s->dir] * s->speed * f;
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                float cov = overlap(y, (float)s->size, i) * overlap(x, (float)s->size, j);
                size_t o = ((size_t)f * H + i) * W + j;
                for (int c = 0; c < 3; c++) {
                    float v = (1.0f - cov) * 1.0f + cov * rgb[s->color][c]; /* white background */
                    video[c * fr + o] = 2.0f * v - 1.0f;
                }
            }
    }
}

void pp_square_context(const pp_square *s, float *ctx, int L, int D) {
    memset(ctx, 0, (size_t)L * D * sizeof(float));
    ctx[s->color] = 1.0f;
    ctx[D + 4 + s->dir] = 1.0f;
}

static int find_word(const char *prompt, const char *const *words, int n) {
    int found = -1;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(words[i]);
        for (const char *p = strstr(prompt, words[i]); p; p = strstr(p + 1, words[i])) {
            int start = p == prompt || !isalpha((unsigned char)p[-1]);
            int end = !isalpha((unsigned char)p[len]) || !strncmp(p + len, "ward", 4);
            if (start && end) found = found < 0 ? i : found;
        }
    }
    return found;
}

int pp_square_parse(pp_square *s, const char *prompt) {
    char low[512];
    size_t n = strlen(prompt);
    if (n == 0) PP_FAIL("empty prompt");
    if (n >= sizeof low) PP_FAIL("prompt is longer than %zu characters", sizeof low - 1);
    for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)prompt[i]);
    memset(s, 0, sizeof *s);
    s->color = find_word(low, pp_square_colors, PP_SQ_NCOLORS);
    s->dir = find_word(low, pp_square_dirs, PP_SQ_NDIRS);
    if (s->color < 0) PP_FAIL("prompt names no colour the square world knows (red, green, blue, yellow): '%s'", prompt);
    if (s->dir < 0) PP_FAIL("prompt names no direction the square world knows (right, left, up, down): '%s'", prompt);
    return 0;
}

int pp_square_centroid(const float *video, int F, int H, int W, int f, float *cx, float *cy) {
    size_t fr = (size_t)F * H * W;
    double sx = 0, sy = 0, sw = 0;
    int count = 0;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            size_t o = ((size_t)f * H + i) * W + j;
            /* distance from white, in [0,1] per channel */
            float d = 0;
            for (int c = 0; c < 3; c++) d = fmaxf(d, (1.0f - video[c * fr + o]) * 0.5f);
            if (d < 0.1f) continue; /* ignore faint noise; edge pixels count by coverage */
            sx += d * (j + 0.5), sy += d * (i + 0.5), sw += d;
            count++;
        }
    *cx = sw > 0 ? (float)(sx / sw) : 0;
    *cy = sw > 0 ? (float)(sy / sw) : 0;
    return count;
}

static int square_next(void *self, pp_rng *r, int B, int F, int H, int W, float *video, float *ctx, int L, int D) {
    (void)self;
    if (L < 2 || D < 8) PP_FAIL("the square world needs text_len >= 2 and text_dim >= 8");
    size_t n = (size_t)3 * F * H * W;
    for (int b = 0; b < B; b++) {
        pp_square s;
        pp_square_draw(&s, r, F, H, W);
        pp_square_render(&s, video + b * n, F, H, W);
        pp_square_context(&s, ctx + (size_t)b * L * D, L, D);
    }
    return 0;
}

pp_data_source pp_square_source(void) {
    pp_data_source d = {NULL, square_next};
    return d;
}

int pp_square_color_of(const float *video, int F, int H, int W, int f) {
    size_t fr = (size_t)F * H * W;
    double sum[3] = {0, 0, 0};
    int n = 0;
    for (size_t i = 0; i < (size_t)H * W; i++) {
        size_t o = (size_t)f * H * W + i;
        float d = 0, v[3];
        for (int c = 0; c < 3; c++) v[c] = 0.5f * (video[c * fr + o] + 1.0f), d = fmaxf(d, 1.0f - v[c]);
        if (d < 0.5f) continue; /* mostly-covered pixels only */
        for (int c = 0; c < 3; c++) sum[c] += v[c];
        n++;
    }
    if (!n) return -1;
    int best = -1;
    double best_d = 1e9;
    for (int k = 0; k < PP_SQ_NCOLORS; k++) {
        double d = 0;
        for (int c = 0; c < 3; c++) d += pow(sum[c] / n - rgb[k][c], 2);
        if (d < best_d) best_d = d, best = k;
    }
    return best;
}
