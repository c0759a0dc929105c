/* conv.h - the video VAE's ops: causal 3D convolution over a list of frames (with
 * the 2D per-frame convolutions of the resamplers as modes of it), channel
 * RMS_norm with optional SiLU, and the helpers around them. Forward/backward
 * pairs over flat float buffers, as in ops.h; backward functions ACCUMULATE.
 *
 * Layout: a video is a sequence of frames, each frame [C,H,W] contiguous
 * (channels, then rows, then columns). A tensor of T frames is [T,C,H,W]
 * ("frame-major"): time is the outermost axis, so chunks and cached frames of
 * the causal convolutions are plain pointers, never gathered copies.
 *
 * Causal convolution in time: an op sees the input stream as a list of frame
 * pointers; output frame j reads stream frames j*st .. j*st+kt-1. The caller
 * builds the list: the 2*(kt/2) frames of front padding are NULL (zero frames),
 * or the frames cached from the previous chunk. A NULL entry is a zero frame.
 *
 * Spatial modes (kernel kh x kw, 1x1 or 3x3):
 *   PP_CONV_SAME   stride 1, symmetric zero padding kh/2, kw/2: output h x w;
 *   PP_CONV_DOWN2  Wan's downsampler: zero pad right and bottom by 1, stride 2
 *                  (3x3 only, h and w even): output h/2 x w/2;
 *   PP_CONV_UP2    Wan's upsampler: nearest-exact 2x upsampling (each pixel to a
 *                  2x2 block), then SAME (3x3 only): output 2h x 2w.
 *
 * Forward: each input frame is "prepared" once (zero-padded copy, the 4
 * stride-2 phase planes, or the padded upsampled frame) and the convolution is
 * a GEMM whose K rows (kt, ci, kh, kw) are shifted views of the prepared
 * frames over a flattened position index (the padding columns are computed and
 * dropped). With AVX-512 or AVX2 the GEMM is a register-blocked direct kernel
 * reading the prepared frames in place; otherwise (PORTABLE=1 builds, or
 * pp_ops_portable set) the views are copied to column tiles and multiplied by
 * OpenBLAS sgemm. Each output element is computed by one task in a fixed
 * order, so results are bitwise independent of the thread count.
 *
 * Backward: column tiles and OpenBLAS; dW is split into column panels and db
 * into channels, each summed over all positions in a fixed order. */
#ifndef PP_CONV_H
#define PP_CONV_H
#include <stddef.h>

typedef enum { PP_CONV_SAME = 0, PP_CONV_DOWN2 = 1, PP_CONV_UP2 = 2 } pp_conv_mode;

typedef struct {
    int cin, cout;      /* channels; weight [cout, cin, kt, kh, kw] (PyTorch), bias [cout] */
    int kt, kh, kw;     /* kernel; kh, kw in {1, 3}, equal */
    int st;             /* time stride (1 or 2) */
    pp_conv_mode mode;
    int h, w;           /* input frame size */
} pp_conv_shape;

/* Output frame size of a shape; 0, or -1 with an error for an invalid shape. */
int pp_conv_check(const pp_conv_shape *s, int *ho, int *wo);
/* Output frames for nin input frames ((nin - kt) / st + 1, or 0 if nin < kt). */
int pp_conv_out_frames(const pp_conv_shape *s, int nin);

/* out [To, cout, ho, wo] = conv(in); in: nin frame pointers [cin, h, w], NULL = zero
 * frame; b may be NULL. Writes out. The shape must pass pp_conv_check. */
void pp_conv_forward(float *out, const float *const *in, int nin, const float *W, const float *b,
                     const pp_conv_shape *s);
/* The forward keeps its large scratch buffers (prepared frames, packed weights)
 * per calling thread for the next call, so that a sequence of calls does not map
 * fresh pages each time; this frees them. */
void pp_conv_scratch_free(void);
/* Accumulates din[i] (frames [cin,h,w]; a NULL din or din[i] is skipped), dW
 * [cout,cin,kt,kh,kw] and db [cout] (either may be NULL) from dout [To,cout,ho,wo]. */
void pp_conv_backward(float *const *din, float *dW, float *db, const float *dout,
                      const float *const *in, int nin, const float *W, const pp_conv_shape *s);

/* ---- channel RMS_norm (Wan's RMS_norm: F.normalize over channels):
 * y[c,p] = x[c,p] / max(||x[:,p]||_2, 1e-12) * sqrt(C) * gamma[c] + bias[c], then SiLU
 * when silu = 1. x,y [T,C,N] (N = h*w positions per frame); gamma [C]; bias [C] or
 * NULL. Saves rn [T,N] = 1 / max(||x[:,p]||, 1e-12). y == x allowed. */
void pp_chnorm_forward(float *y, float *rn, const float *x, const float *gamma, const float *bias,
                       int T, int C, int N, int silu);
/* Accumulates dx [T,C,N] (may be NULL), dgamma [C] and dbias [C] (either may be NULL). */
void pp_chnorm_backward(float *dx, float *dgamma, float *dbias, const float *dy, const float *x,
                        const float *rn, const float *gamma, const float *bias, int T, int C, int N,
                        int silu);

/* ---- transposes between channel-first frames and token rows: x [T,C,N] <-> t [T,N,C]. Write. */
void pp_frames_to_tokens(float *t, const float *x, int T, int C, int N);
void pp_tokens_to_frames(float *x, const float *t, int T, int C, int N);
#endif
