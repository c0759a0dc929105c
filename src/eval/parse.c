/* parse.c - finding objects in frames by colour.
 *
 * Colour rule (PhyWorld): a pixel belongs to object colour c when every channel is
 * on the same side of 127 as c's (red (255,0,0): R > 127, G <= 127, B <= 127).
 * The object is the largest 8-connected component of such pixels (stray pixels of
 * a generated video do not move the centroid), and only when it is a compact blob
 * holding most of the class's pixels (is_compact: scattered noise is no object).
 *
 * Two parsers:
 *   threshold - PhyWorld's: centroid of the component's pixels, radius
 *               sqrt(area / pi), area = pixel count;
 *   soft      - (default) sub-pixel: every pixel of the component dilated by one
 *               pixel gets a coverage alpha = <p - bg, c - bg> / |c - bg|^2 in [0,1]
 *               (bg = the frame's most common colour), kept only when p is close
 *               to the blend bg + alpha (c - bg) (residual < 48 levels); area =
 *               sum alpha. Anti-aliased renders parse to a small fraction of a pixel.
 * Pixel (col, row) has its centre at world x = (col + 0.5) width / W and
 * y = height - (row + 0.5) height / H (y up; docs/SPEC.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "eval/eval_impl.h"

float pp_ev_world_x(const pp_eval_spec *s, int W, float col) { return (col + 0.5f) * s->world_w / (float)W; }
float pp_ev_world_y(const pp_eval_spec *s, int H, float row) {
    float y = (row + 0.5f) * s->world_h / (float)H;
    return s->y_up ? s->world_h - y : y;
}
float pp_ev_col(const pp_eval_spec *s, int W, float x) { return x * (float)W / s->world_w - 0.5f; }
float pp_ev_row(const pp_eval_spec *s, int H, float y) {
    float yy = s->y_up ? s->world_h - y : y;
    return yy * (float)H / s->world_h - 0.5f;
}

int pp_eval_color_match(const uint8_t *px, const uint8_t c[3]) {
    for (int k = 0; k < 3; k++)
        if ((px[k] > 127) != (c[k] > 127)) return 0;
    return 1;
}

void pp_ev_frame_bg(const pp_video *v, int f, int col0, int col1, float bg[3]) {
    static _Thread_local uint32_t cnt[4096];
    static _Thread_local float sum[4096][3];
    memset(cnt, 0, sizeof cnt);
    memset(sum, 0, sizeof sum);
    const uint8_t *fr = pp_video_frame(v, f);
    for (int y = 0; y < v->height; y++)
        for (int x = col0; x < col1; x++) {
            const uint8_t *p = fr + ((size_t)y * v->width + x) * 3;
            int k = (p[0] >> 4) << 8 | (p[1] >> 4) << 4 | (p[2] >> 4);
            cnt[k]++;
            for (int c = 0; c < 3; c++) sum[k][c] += p[c];
        }
    int best = 0;
    for (int k = 1; k < 4096; k++)
        if (cnt[k] > cnt[best]) best = k;
    for (int c = 0; c < 3; c++) bg[c] = cnt[best] ? sum[best][c] / (float)cnt[best] : 255.0f;
}

/* Labels the largest 8-connected component of mask (1 = candidate) as 2; returns its size. */
static int largest_component(uint8_t *mask, int H, int W, int col0, int col1, int *stack) {
    int best = 0, best_seed = -1;
    for (int pass = 0; pass < 2; pass++) {
        uint8_t from = pass ? 3 : 1, to = pass ? 2 : 3;
        for (int i = 0; i < H * W; i++) {
            if (mask[i] != from || (pass && i != best_seed)) continue;
            int n = 0, sp = 0;
            stack[sp++] = i;
            mask[i] = to;
            while (sp) {
                int p = stack[--sp], y = p / W, x = p % W;
                n++;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= H || xx < col0 || xx >= col1 || mask[yy * W + xx] != from) continue;
                        mask[yy * W + xx] = to;
                        stack[sp++] = yy * W + xx;
                    }
            }
            if (!pass && n > best) { best = n; best_seed = i; }
        }
    }
    for (int i = 0; i < H * W; i++)
        if (mask[i] == 3) mask[i] = 0; /* other components */
    return best;
}

/* Coverage of pixel p between background bg and colour c, or -1 when p is not such a blend. */
static float coverage(const uint8_t *p, const float bg[3], const uint8_t c[3]) {
    float d[3], q[3], dd = 0, dq = 0;
    for (int k = 0; k < 3; k++) {
        d[k] = (float)c[k] - bg[k];
        q[k] = (float)p[k] - bg[k];
        dd += d[k] * d[k];
        dq += d[k] * q[k];
    }
    if (dd < 1.0f) return -1.0f;
    float a = dq / dd, res = 0;
    a = a < 0 ? 0 : a > 1 ? 1 : a;
    for (int k = 0; k < 3; k++) res += (q[k] - a * d[k]) * (q[k] - a * d[k]);
    return res < 48.0f * 48.0f ? a : -1.0f;
}

typedef struct {
    double w, sx, sy;
    int border;
} moments;

static void add_pixel(moments *m, double w, int x, int y) {
    m->w += w;
    m->sx += w * x;
    m->sy += w * y;
}

static void soft_moments(const pp_video *v, int f, const uint8_t *mask, const uint8_t c[3], int col0, int col1,
                         moments *m) {
    float bg[3];
    pp_ev_frame_bg(v, f, col0, col1, bg);
    const uint8_t *fr = pp_video_frame(v, f);
    int H = v->height, W = v->width;
    for (int y = 0; y < H; y++)
        for (int x = col0; x < col1; x++) {
            int near = 0;
            for (int dy = -1; dy <= 1 && !near; dy++)
                for (int dx = -1; dx <= 1 && !near; dx++) {
                    int yy = y + dy, xx = x + dx;
                    near = yy >= 0 && yy < H && xx >= col0 && xx < col1 && mask[yy * W + xx] == 2;
                }
            if (!near) continue;
            float a = mask[y * W + x] == 2 ? 1.0f : coverage(fr + ((size_t)y * W + x) * 3, bg, c);
            if (mask[y * W + x] == 2) { /* inside the threshold mask: partial coverage too */
                float s = coverage(fr + ((size_t)y * W + x) * 3, bg, c);
                a = s >= 0 ? s : 1.0f;
            }
            if (a > 0) add_pixel(m, a, x, y);
        }
}

/* Is the largest component (mask == 2, n pixels) a compact blob, i.e. a ball and
 * not the biggest cluster of colour-class pixels scattered by noise? In uniform RGB
 * noise 1/8 of the pixels fall in any colour class, so some component is always
 * there, at a random place each frame. Two measures, on the threshold mask:
 *   share - the fraction of ALL pixels of the colour class (in the region) that lie
 *           within 2 R + 1.5 px of the component's centroid, R = sqrt(n / pi). A
 *           rendered ball is the only thing of its class in its region (its mirror
 *           image, 0.4 c + 0.6 * 230, is lighter and falls in another class), so
 *           share ~ 1; in noise the component holds a small part of them.
 *   q     - 2 pi <d^2> / n, <d^2> the mean squared distance of the component's
 *           pixels from its centroid: 1 for a disc (<d^2> = R^2 / 2), (k + 1/k) / 2
 *           for an ellipse of axis ratio k of the same area (1.25 at 2:1, 1.67 at
 *           3:1), ~1.3 for a half disc cut by the frame edge; the branching
 *           clusters and streaks of noise are larger.
 * A blob is compact when share >= 0.75 and, unless it touches the frame (region)
 * edge, q <= 8. Measured on simulator videos (32 px, ID and OOD, every ball scene):
 * share = 1 always; q <= 1.6 in ID (the squashed ball of deformation), above 4 for
 * the flattest OOD soft balls (a limit of 4 lost 6/200 OOD deformation videos), so
 * both limits leave wide slack; the share does the work against noise; an edge
 * sliver of a ball (one row of w pixels: q = 0.52 w) is exempt from q. In uniform
 * noise at 32 px no frame reaches share 0.5 (at 16 px: 3 %). Smoothed noise with
 * one blob of the class in the frame is compact per frame and still parses. */
static int is_compact(const uint8_t *fr, const uint8_t *mask, int H, int W, int col0, int col1, const uint8_t c[3],
                      int n, int border) {
    double sx = 0, sy = 0, sxx = 0;
    for (int y = 0; y < H; y++)
        for (int x = col0; x < col1; x++)
            if (mask[y * W + x] == 2) { sx += x; sy += y; }
    double cx = sx / n, cy = sy / n, R = sqrt(n / M_PI), lim = (2 * R + 1.5) * (2 * R + 1.5);
    int all = 0, near = 0;
    for (int y = 0; y < H; y++)
        for (int x = col0; x < col1; x++) {
            double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
            if (mask[y * W + x] == 2) sxx += d2;
            if (!pp_eval_color_match(fr + ((size_t)y * W + x) * 3, c)) continue;
            all++;
            near += d2 <= lim;
        }
    double share = (double)near / all, q = 2 * M_PI * (sxx / n) / n;
    return share >= 0.75 && (border || q <= 8.0);
}

void pp_eval_parse_object(const pp_video *v, const pp_eval_spec *s, int f, const uint8_t c[3], int col0, int col1,
                          pp_eval_parser mode, pp_eval_obs *o) {
    int H = v->height, W = v->width;
    memset(o, 0, sizeof *o);
    uint8_t *mask = pp_calloc((size_t)H * W, 1);
    int *stack = pp_malloc(sizeof(int) * ((size_t)H * W + 1));
    const uint8_t *fr = pp_video_frame(v, f);
    for (int y = 0; y < H; y++)
        for (int x = col0; x < col1; x++) mask[y * W + x] = (uint8_t)pp_eval_color_match(fr + ((size_t)y * W + x) * 3, c);
    int n = largest_component(mask, H, W, col0, col1, stack);
    moments m = {0};
    int compact = 0;
    if (n > 0) {
        for (int y = 0; y < H; y++)
            for (int x = col0; x < col1; x++)
                if (mask[y * W + x] == 2) {
                    if (mode == PP_PARSE_THRESHOLD) add_pixel(&m, 1.0, x, y);
                    if (x == col0 || x == col1 - 1 || y == 0 || y == H - 1) m.border = 1;
                }
        compact = is_compact(fr, mask, H, W, col0, col1, c, n, m.border);
        if (compact && mode == PP_PARSE_SOFT) soft_moments(v, f, mask, c, col0, col1, &m);
    }
    free(stack);
    free(mask);
    if (n == 0 || m.w <= 0 || !compact) return;
    float upx = 0.5f * (s->world_w / (float)W + s->world_h / (float)H);
    o->found = 1;
    o->border = m.border;
    o->area_px = (float)m.w;
    o->x = pp_ev_world_x(s, W, (float)(m.sx / m.w));
    o->y = pp_ev_world_y(s, H, (float)(m.sy / m.w));
    o->r = sqrtf(o->area_px / (float)M_PI) * upx;
}
