/* render.c - anti-aliased drawing in world units into the current frame and its
 * phenomenon maps.
 *
 * Pixel (col i, row j) has its centre at (i + 0.5, j + 0.5) in pixel space; world
 * (x, y) sits at (x * W/10, (10 - y) * H/10). Shapes are anti-aliased from a
 * signed distance d (pixels, negative inside): coverage = clamp(0.5 - d, 0, 1).
 * A pixel is therefore more than half covered exactly when its centre lies inside
 * the shape, so a colour-threshold parser (PhyWorld's R>127, G<127, B<127 on a
 * white background) counts the pixel centres inside the disc: an unbiased
 * estimate of the area and the centroid. */
#include "sim/sim_internal.h"

float pp_sim_clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

static inline float px_of(const pp_sim_ctx *c, float x) { return x * c->ppu_x; }
static inline float py_of(const pp_sim_ctx *c, float y) { return (PP_SIM_WORLD - y) * c->ppu_y; }
static inline float wx_of(const pp_sim_ctx *c, int i) { return ((float)i + 0.5f) / c->ppu_x; }
static inline float wy_of(const pp_sim_ctx *c, int j) { return PP_SIM_WORLD - ((float)j + 0.5f) / c->ppu_y; }

static inline float *map_at(pp_sim_ctx *c, int cat) {
    size_t plane = (size_t)c->H * c->W;
    return c->out->maps + ((size_t)cat * c->F + c->frame) * plane;
}

static inline void blend(pp_sim_ctx *c, int i, int j, const float rgb[3], float a) {
    float *p = c->img + ((size_t)j * c->W + i) * 3;
    for (int k = 0; k < 3; k++) p[k] += a * (rgb[k] - p[k]);
}

static inline void map_max(float *m, pp_sim_ctx *c, int i, int j, float v) {
    float *q = m + (size_t)j * c->W + i;
    if (v > *q) *q = v > 1.0f ? 1.0f : v;
}

/* Pixel bounding box of a world-space box, clipped to the frame (inclusive). */
static int pix_box(const pp_sim_ctx *c, float x0, float x1, float y0, float y1, int b[4]) {
    b[0] = (int)floorf(px_of(c, x0) - 1);
    b[1] = (int)ceilf(px_of(c, x1) + 1);
    b[2] = (int)floorf(py_of(c, y1) - 1);
    b[3] = (int)ceilf(py_of(c, y0) + 1);
    if (b[0] < 0) b[0] = 0;
    if (b[2] < 0) b[2] = 0;
    if (b[1] > c->W - 1) b[1] = c->W - 1;
    if (b[3] > c->H - 1) b[3] = c->H - 1;
    return b[0] <= b[1] && b[2] <= b[3];
}

void pp_sim_draw_clear(pp_sim_ctx *c, const float rgb[3]) {
    size_t n = (size_t)c->H * c->W;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) c->img[3 * i + k] = rgb[k];
}

/* Length of [a, b] intersected with [lo, lo + 1]. */
static inline float overlap1(float a, float b, float lo) {
    float l = a > lo ? a : lo, h = b < lo + 1 ? b : lo + 1;
    return h > l ? h - l : 0.0f;
}

void pp_sim_draw_rect(pp_sim_ctx *c, sim_rect r, const float rgb[3], float alpha) {
    int b[4];
    if (!pix_box(c, r.x0, r.x1, r.y0, r.y1, b)) return;
    float X0 = px_of(c, r.x0), X1 = px_of(c, r.x1), Y0 = py_of(c, r.y1), Y1 = py_of(c, r.y0);
    for (int j = b[2]; j <= b[3]; j++) {
        float oy = overlap1(Y0, Y1, (float)j);
        if (oy <= 0) continue;
        for (int i = b[0]; i <= b[1]; i++) {
            float cov = oy * overlap1(X0, X1, (float)i);
            if (cov > 0) blend(c, i, j, rgb, cov * alpha);
        }
    }
}

void pp_sim_draw_ellipse(pp_sim_ctx *c, float x, float y, float rx, float ry, const float rgb[3],
                  float alpha, int cat, float map_w) {
    int b[4];
    if (rx <= 0 || ry <= 0 || !pix_box(c, x - rx, x + rx, y - ry, y + ry, b)) return;
    float cx = px_of(c, x), cy = py_of(c, y), a = rx * c->ppu_x, bb = ry * c->ppu_y;
    float ia2 = 1.0f / (a * a), ib2 = 1.0f / (bb * bb);
    float *m = cat >= 0 ? map_at(c, cat) : NULL;
    for (int j = b[2]; j <= b[3]; j++)
        for (int i = b[0]; i <= b[1]; i++) {
            float dx = (float)i + 0.5f - cx, dy = (float)j + 0.5f - cy;
            float f = sqrtf(dx * dx * ia2 + dy * dy * ib2);
            float g = sqrtf(dx * dx * ia2 * ia2 + dy * dy * ib2 * ib2);
            /* first-order distance to the boundary (exact for a circle) */
            float d = g > 1e-12f ? f * (f - 1.0f) / g : -1e9f;
            float cov = pp_sim_clampf(0.5f - d, 0, 1);
            if (cov <= 0) continue;
            blend(c, i, j, rgb, cov * alpha);
            if (m) map_max(m, c, i, j, cov * map_w);
        }
}

void pp_sim_draw_rrect(pp_sim_ctx *c, sim_rect r, float rad, const float rgb[3], float alpha, int cat,
                float map_w) {
    int b[4];
    if (r.x1 <= r.x0 || r.y1 <= r.y0 || !pix_box(c, r.x0, r.x1, r.y0, r.y1, b)) return;
    float mx = 0.5f * (r.x0 + r.x1), my = 0.5f * (r.y0 + r.y1);
    float hx = 0.5f * (r.x1 - r.x0), hy = 0.5f * (r.y1 - r.y0);
    rad = fminf(rad, fminf(hx, hy));
    float ppu = 0.5f * (c->ppu_x + c->ppu_y);
    float *m = cat >= 0 ? map_at(c, cat) : NULL;
    for (int j = b[2]; j <= b[3]; j++)
        for (int i = b[0]; i <= b[1]; i++) {
            float qx = fabsf(wx_of(c, i) - mx) - (hx - rad), qy = fabsf(wy_of(c, j) - my) - (hy - rad);
            float ox = fmaxf(qx, 0), oy = fmaxf(qy, 0);
            float d = sqrtf(ox * ox + oy * oy) + fminf(fmaxf(qx, qy), 0) - rad; /* world units */
            float cov = pp_sim_clampf(0.5f - d * ppu, 0, 1);
            if (cov <= 0) continue;
            blend(c, i, j, rgb, cov * alpha);
            if (m) map_max(m, c, i, j, cov * map_w);
        }
}

void pp_sim_map_capsule(pp_sim_ctx *c, int cat, float x0, float y0, float x1, float y1, float r, float w) {
    int b[4];
    if (!pix_box(c, fminf(x0, x1) - r, fmaxf(x0, x1) + r, fminf(y0, y1) - r, fmaxf(y0, y1) + r, b))
        return;
    float ex = x1 - x0, ey = y1 - y0, l2 = ex * ex + ey * ey;
    float ppu = 0.5f * (c->ppu_x + c->ppu_y);
    float *m = map_at(c, cat);
    for (int j = b[2]; j <= b[3]; j++)
        for (int i = b[0]; i <= b[1]; i++) {
            float px = wx_of(c, i) - x0, py = wy_of(c, j) - y0;
            float t = l2 > 0 ? pp_sim_clampf((px * ex + py * ey) / l2, 0, 1) : 0;
            float dx = px - t * ex, dy = py - t * ey;
            float cov = pp_sim_clampf(0.5f - (sqrtf(dx * dx + dy * dy) - r) * ppu, 0, 1);
            if (cov > 0) map_max(m, c, i, j, cov * w);
        }
}

void pp_sim_map_blob(pp_sim_ctx *c, int cat, float x, float y, float radius, float w) {
    int b[4];
    float R = 1.5f * radius;
    if (w <= 0 || !pix_box(c, x - R, x + R, y - R, y + R, b)) return;
    float *m = map_at(c, cat);
    for (int j = b[2]; j <= b[3]; j++)
        for (int i = b[0]; i <= b[1]; i++) {
            float dx = wx_of(c, i) - x, dy = wy_of(c, j) - y;
            float v = w * pp_sim_clampf((R - sqrtf(dx * dx + dy * dy)) / (R - radius), 0, 1);
            if (v > 0) map_max(m, c, i, j, v);
        }
}

/* Bilinear sample of grid g [ny][nx] at grid coordinates (gx, gy), clamped. */
static float bilerp(const float *g, int nx, int ny, float gx, float gy) {
    gx = pp_sim_clampf(gx, 0, (float)nx - 1.001f);
    gy = pp_sim_clampf(gy, 0, (float)ny - 1.001f);
    int i = (int)gx, j = (int)gy;
    float fx = gx - (float)i, fy = gy - (float)j;
    const float *r0 = g + (size_t)j * nx, *r1 = r0 + nx;
    return (1 - fy) * ((1 - fx) * r0[i] + fx * r0[i + 1]) + fy * ((1 - fx) * r1[i] + fx * r1[i + 1]);
}

void pp_sim_draw_field(pp_sim_ctx *c, sim_rect r, int nx, int ny, const float *field, const float *field2,
                field_color_fn fn, int cat, float map_w) {
    int b[4];
    if (!pix_box(c, r.x0, r.x1, r.y0, r.y1, b)) return;
    float hx = (r.x1 - r.x0) / (float)nx, hy = (r.y1 - r.y0) / (float)ny;
    float *m = cat >= 0 ? map_at(c, cat) : NULL;
    for (int j = b[2]; j <= b[3]; j++) {
        float y = wy_of(c, j);
        if (y < r.y0 || y >= r.y1) continue;
        float gy = (y - r.y0) / hy - 0.5f;
        for (int i = b[0]; i <= b[1]; i++) {
            float x = wx_of(c, i);
            if (x < r.x0 || x >= r.x1) continue;
            float gx = (x - r.x0) / hx - 0.5f;
            float v = bilerp(field, nx, ny, gx, gy);
            float v2 = field2 ? bilerp(field2, nx, ny, gx, gy) : 0.0f;
            float rgb[3], a = 0;
            fn(v, v2, rgb, &a);
            if (a <= 0) continue;
            blend(c, i, j, rgb, a);
            if (m) map_max(m, c, i, j, a * map_w);
        }
    }
}
