/* dit.h - the Wan2.1 video diffusion transformer (the backbone), forward and backward.
 *
 * Data flow for one call (B videos of F x H x W pixels, in_dim channels):
 *
 *   x [B,in,F,H,W] --patchify--> [B,N,in*pt*ph*pw] --patch_embedding--> h [B,N,dim]
 *   t [B] --sinusoid(freq_dim)--> time_embedding --> e [B,dim]
 *        --SiLU, time_projection--> e0 [B,6,dim]
 *   context [B,L,text_dim] --text_embedding--> c [B,L,dim]
 *   for each block:  (mod = blocks.i.modulation + e0: shift/scale/gate x 2)
 *       h += gate0 * self_attn(LN(h)*(1+scale0)+shift0)      qk-RMSNorm, 3D RoPE
 *       h += cross_attn(norm3(h), c)                           qk-RMSNorm, no RoPE
 *       h += gate1 * ffn(LN(h)*(1+scale1)+shift1)
 *   head: LN(h)*(1+scale)+shift with (shift,scale) = head.modulation + e
 *         --head.head--> [B,N,pt*ph*pw*out] --unpatchify--> out [B,out,F,H,W]
 *
 * N = (F/pt)(H/ph)(W/pw). Parameter names and layouts are Wan2.1's state-dict keys. */
#ifndef PP_DIT_H
#define PP_DIT_H
#include <stddef.h>
#include "nn/linear.h"
#include "nn/params.h"
#include "base/rng.h"

typedef struct {
    int dim, ffn_dim, heads, layers;
    int patch[3]; /* pt, ph, pw */
    int in_dim, out_dim;
    int text_dim, text_len, freq_dim;
    float eps;        /* LayerNorm / RMSNorm epsilon (Wan: 1e-6) */
    float rope_theta; /* 10000 */
    int frame_emb;    /* 0 (Wan), or a learned embedding per token frame for that many
                         frames, added after the patch embedding: an absolute time
                         anchor, which 3D RoPE alone (relative) does not give (ours) */
} pp_dit_config;


typedef struct {
    size_t modulation;            /* [1,6,dim] */
    pp_lin sa_q, sa_k, sa_v, sa_o; /* self_attn.{q,k,v,o} */
    size_t sa_norm_q, sa_norm_k;  /* [dim] */
    size_t norm3_w, norm3_b;      /* [dim] */
    pp_lin ca_q, ca_k, ca_v, ca_o; /* cross_attn.* */
    size_t ca_norm_q, ca_norm_k;
    pp_lin ffn0, ffn2;
} pp_dit_block;

typedef struct {
    pp_dit_config cfg;
    pp_lin patch;    /* patch_embedding as a Linear over (c,kt,kh,kw) */
    pp_lin text0, text2, time0, time2, tproj;
    size_t head_mod; /* [1,2,dim] */
    pp_lin head;
    size_t frame_emb; /* "frame_embedding.weight" [frame_emb, dim] when cfg.frame_emb > 0 */
    pp_dit_block *blocks;
    /* The file mapping the Linear weights are read in place from (wan/wan_files.h),
     * or {NULL, 0}. When set, an inference forward gives each layer's weight pages
     * back once the layer has run (pp_lin_drop), so the process holds about one
     * block's weights (60 MB at 1.3B size) instead of the whole file; the pages stay
     * in the page cache and the next pass faults them in again. */
    pp_map_range lent;
} pp_dit;

/* Bounds of a config (a file's config is checked against them before anything is
 * allocated): Wan2.1-14B (dim 5120, 40 layers, ffn 13824, text 512 x 4096) fits
 * with room to spare. */
#define PP_DIT_MAX_DIM 16384
#define PP_DIT_MAX_HEADS 256
#define PP_DIT_MAX_LAYERS 256
#define PP_DIT_MAX_FFN 65536
#define PP_DIT_MAX_CHANNELS 1024 /* in_dim, out_dim */
#define PP_DIT_MAX_TEXT_DIM 16384
#define PP_DIT_MAX_TEXT_LEN 4096
#define PP_DIT_MAX_FREQ_DIM 4096
#define PP_DIT_MAX_FRAME_EMB 4096

/* Validates the config (the bounds above, heads divide dim, head dim even and >= 6,
 * ...) and declares the backbone's tensors in `table` (which other model parts may
 * share). */
int pp_dit_config_check(const pp_dit_config *cfg);
int pp_dit_init(pp_dit *m, const pp_dit_config *cfg, pp_params *table);
void pp_dit_free(pp_dit *m);
/* Inference with the Linear weights outside the parameter buffer (e.g. BF16 in
 * a mapped file): the same tensors as pp_dit_init, but every Linear's weight
 * (patch_embedding, text/time embeddings, time_projection, each block's
 * q,k,v,o and ffn, head.head) is declared in `weights`, a table of names and
 * shapes only that is never allocated, and everything else (biases, norms,
 * modulations) in `small`, the layout of P. The caller then points each Linear
 * at its weight (pp_lin.xw) before any forward. The block code is the same as
 * for F32 weights; only pp_lin_forward reads the weight from elsewhere. */
int pp_dit_init_external(pp_dit *m, const pp_dit_config *cfg, pp_params *small, pp_params *weights);
#define PP_DIT_LINEARS(layers) (7 + 10 * (layers))
/* Pointers to the model's Linears in declaration order, which is the order of
 * their weights in `weights` above (and in the one table of pp_dit_init):
 * patch, text0, text2, time0, time2, tproj, per block sa_q,k,v,o, ca_q,k,v,o,
 * ffn0, ffn2, then head. Writes at most max; returns PP_DIT_LINEARS(layers). */
int pp_dit_linears(pp_dit *m, pp_lin **out, int max);
/* Wan2.1's initialisation: xavier-uniform Linears with zero bias, N(0,.02) for the
 * text and time embeddings, zero head, modulation ~ N(0,1)/sqrt(dim). */
void pp_dit_init_weights(const pp_dit *m, float *params, pp_rng *rng);
/* Forward FLOPs per sample for a grid (the formula the benchmarks share). */
double pp_dit_flops(const pp_dit_config *c, int F, int H, int W);

/* Activations of one call. train = 1 keeps what the backward needs, layer by layer;
 * train = 0 reuses one layer's buffers (sampling). */
typedef struct pp_dit_acts pp_dit_acts;
pp_dit_acts *pp_dit_acts_new(const pp_dit *m, int B, int F, int H, int W, int train);
/* Bytes pp_dit_acts_new would allocate (SIZE_MAX on overflow or a bad size). */
size_t pp_dit_acts_bytes_for(const pp_dit *m, int B, int F, int H, int W, int train);
void pp_dit_acts_free(pp_dit_acts *a);
size_t pp_dit_acts_bytes(const pp_dit_acts *a);

/* out [B,out,F,H,W] = model(x [B,in,F,H,W], t [B] in [0,1000], ctx [B,L,text_dim]). */
void pp_dit_forward(const pp_dit *m, const float *params, pp_dit_acts *a, const float *x,
                    const float *t, const float *ctx, float *out);
/* Accumulates d(loss)/d(params) into grads given dout [B,out,F,H,W]; also
 * accumulates d/d(ctx) into dctx when not NULL (a jointly trained text encoder). */
void pp_dit_backward(const pp_dit *m, const float *params, float *grads, pp_dit_acts *a,
                     const float *dout, float *dctx);

/* ---- stages, for models that wrap the backbone (the physical branch injects
 * into the residual stream between blocks and runs backbone-shaped blocks of its
 * own). pp_dit_forward = embed, every block, head; pp_dit_backward mirrors it. */

/* Residual stream at block boundary l (0 = after the patch embedding), [B*N, dim]. */
float *pp_dit_stream(const pp_dit_acts *a, int l);
int pp_dit_acts_batch(const pp_dit_acts *a);
int pp_dit_acts_tokens(const pp_dit_acts *a); /* N */
void pp_dit_acts_grid(const pp_dit_acts *a, int *gf, int *gh, int *gw);
/* Embeds x, t and ctx; writes the stream at boundary 0. */
void pp_dit_embed_forward(const pp_dit *m, const float *P, pp_dit_acts *a, const float *x, const float *t,
                          const float *ctx);
void pp_dit_head_forward(const pp_dit *m, const float *P, pp_dit_acts *a, float *out);
/* Zeroes the accumulators of d(e0) and d(text embedding) before a backward. */
void pp_dit_backward_begin(const pp_dit *m, pp_dit_acts *a);
/* Writes d(loss)/d(stream at the last boundary) into dh [B*N, dim]; G NULL: no
 * parameter gradients (a frozen backbone). */
void pp_dit_head_backward(const pp_dit *m, const float *P, float *G, pp_dit_acts *a, const float *dout, float *dh);
void pp_dit_embed_backward(const pp_dit *m, const float *P, float *G, pp_dit_acts *a, const float *dh0,
                           float *dctx);

/* A transformer block's own activations (the backbone keeps one per layer). */
typedef struct pp_block_acts pp_block_acts;
/* The backbone's own activations of block l (train = 1), or the one set every
 * block shares (train = 0): a wrapper runs the backbone's blocks on these instead
 * of allocating its own. */
pp_block_acts *pp_dit_block_acts(pp_dit_acts *a, int l);
pp_block_acts *pp_block_acts_new(const pp_dit *m, const pp_dit_acts *a);
size_t pp_block_acts_bytes_for(const pp_dit *m, int B, int N);
void pp_block_acts_free(pp_block_acts *s);
/* Declares a backbone-shaped block's tensors under `prefix` ("blocks.3"). */
void pp_dit_block_declare(pp_dit_block *b, pp_params *t, const char *prefix, int dim, int ffn);
void pp_dit_block_init(const pp_dit_block *b, int dim, float *P, pp_rng *r);
/* Block i of the backbone is pp_dit_block_forward(m, P, &m->blocks[i], a, s_i, h_i, h_{i+1}).
 * It uses the call's shared time modulation e0, text embedding and RoPE from `a`. */
void pp_dit_block_forward(const pp_dit *m, const float *P, const pp_dit_block *b, pp_dit_acts *a,
                          pp_block_acts *s, const float *xin, float *xout);
/* dx: in = d/d(xout); out (in place) = d/d(xin). Accumulates b's parameter
 * gradients into G (G NULL: none, for a frozen block), and d(e0), d(text
 * embedding) into a's accumulators. */
void pp_dit_block_backward(const pp_dit *m, const float *P, float *G, const pp_dit_block *b,
                           pp_dit_acts *a, pp_block_acts *s, const float *xin, float *dx);

/* Adapter for the sampler (pp_velocity_fn in flow.h): runs the backbone with
 * inference activations, (re)made when the batch changes. Each row's context is
 * a float [text_len, text_dim] embedding. */
typedef struct {
    const pp_dit *m;
    const float *params;
    int F, H, W;
    pp_dit_acts *acts; /* owned; free with pp_dit_runner_free */
    float *ctx;        /* owned: the rows' contexts gathered, [B, text_len, text_dim] */
} pp_dit_runner;
int pp_dit_velocity(void *runner, const float *xin, const float *t, const void *const *ctx, int B, float *v);
void pp_dit_runner_free(pp_dit_runner *r);
#endif
