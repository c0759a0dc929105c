/* vae_impl.h - internal to the VAE (vae*.c): units, activations, caches. */
#ifndef PP_VAE_IMPL_H
#define PP_VAE_IMPL_H
#include "nn/conv.h"
#include "wan/vae.h"

/* a convolution's parameters: offsets of weight and bias, and its kernel */
typedef struct {
    size_t w, b;
    int cin, cout, kt, k, st;
    pp_conv_mode mode;
} vae_conv;

typedef enum { VU_CONV, VU_RES, VU_ATTN, VU_DOWN, VU_UP, VU_HEAD } vae_kind;

struct pp_vae_unit {
    vae_kind kind;
    char name[64];      /* key prefix: "encoder.downsamples.3" */
    int cin, cout;      /* channels in and out */
    int temporal;       /* DOWN/UP: a 3D resampler (with time_conv) */
    vae_conv c1, c2;    /* RES: residual.2, residual.6; DOWN/UP: resample.1; CONV/HEAD: the conv */
    vae_conv sc;        /* RES: shortcut (when has_sc) */
    vae_conv tc;        /* DOWN/UP 3D: time_conv */
    vae_conv qkv, proj; /* ATTN: to_qkv, proj (1x1) */
    size_t g1, g2;      /* gammas: RES residual.0 / residual.3, HEAD head.0, ATTN norm */
    int has_sc;
};

/* A tensor of t frames [t][c][h][w]. */
typedef struct {
    float *d;
    int t, c, h, w;
} vt;

static inline size_t vt_frame(const vt *x) { return (size_t)x->c * x->h * x->w; }
static inline size_t vt_numel(const vt *x) { return vt_frame(x) * x->t; }
vt pp_vt_new(int t, int c, int h, int w); /* uninitialised */
void pp_vt_free(vt *x);
/* Releases the scratch the conv ops keep per thread between calls. */
void pp_vae_buffers_release(void);

/* The last frames of a causal conv's input stream (the feature cache): up to 2
 * frames [c,h,w], the n most recent, oldest first; missing ones are zero. */
typedef struct {
    float *buf;
    int n;
    size_t cap; /* floats of buf */
} vae_cache;

/* Streaming state of one unit. */
typedef struct {
    vae_cache cc[2]; /* RES: before conv1 and conv2; CONV/HEAD: cc[0]; UP 3D: time_conv */
    int seen;        /* DOWN/UP 3D: the first frame has gone by */
    float *last;     /* DOWN 3D: last frame of the time_conv's stream */
    size_t last_n;   /* floats of last */
} vae_state;

/* What the backward of a unit needs from its forward (whole-clip training). */
typedef struct {
    vt in, out;   /* the unit's input (borrowed) and output (owned) */
    vt c1;        /* RES: conv1's output; DOWN: the spatial conv's output; UP 3D: time_conv result */
    float *q, *k, *v, *o, *lse; /* ATTN */
} vae_acts;

/* Runs unit u on x (t frames). state NULL: x is a whole clip (zero history);
 * acts not NULL: keeps what the backward needs (training). Returns the output,
 * a new tensor (t = 0 when a resampler's first chunk yields nothing yet). */
vt pp_vae_unit_forward(const pp_vae_unit *u, const float *P, const vt *x, vae_state *st, vae_acts *a);
/* dx (zeroed, shaped as the input; .d may be NULL to skip it) += d/dx given dy; accumulates
 * the unit's parameter gradients into G. */
void pp_vae_unit_backward(const pp_vae_unit *u, const float *P, float *G, const vae_acts *a,
                       const vt *dy, vt *dx);
void pp_vae_state_free(vae_state *s);
void pp_vae_acts_free(const pp_vae_unit *u, vae_acts *a); /* what the forward kept, and the output */

/* live activation bytes of the streaming passes (the peak is what pp_vae_*_peak_bytes report) */
void pp_vae_mem_track(long delta);
size_t pp_vae_mem_now(void);
size_t pp_vae_mem_peak(void);     /* the most live since the last reset */
void pp_vae_mem_peak_reset(void);
#endif
