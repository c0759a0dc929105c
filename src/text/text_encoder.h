/* text_encoder.h - the small transformer text encoder (our umT5 stand-in).
 *
 *   x = token_embedding[ids] + position_embedding            [B,L,d]
 *   n_layers pre-LN blocks:
 *     x += o(MHSA(norm1(x)))     q,k,v,o Linear(d,d) with bias; <pad> keys masked
 *     x += ffn.2(GELU_tanh(ffn.0(norm2(x))))   Linear(d,4d), Linear(4d,d)
 *   out = norm(x)                 final LayerNorm with affine  [B,L,d]
 *   (zero_pads) out rows at <pad> positions are set to 0, like Wan's zero-padded
 *   umT5 context.
 *
 * Pad masking: a sequence's valid length n is 1 + the index of its last non-pad
 * id (tokens after it are pads; a row of all pads counts n = 1). Every query
 * attends to keys 0..n-1 only, so pad tokens never change non-pad outputs (a pad
 * before the last non-pad id would be attended; the tokenizer never makes one).
 *
 * Parameters (pp_params names, all prefixed "text_encoder."):
 *   token_embedding.weight [V,d]   position_embedding.weight [L,d]
 *   blocks.{i}.norm1.{weight,bias} [d]
 *   blocks.{i}.attn.{q,k,v,o}.weight [d,d], .bias [d]
 *   blocks.{i}.norm2.{weight,bias} [d]
 *   blocks.{i}.ffn.0.weight [4d,d], .bias [4d]; blocks.{i}.ffn.2.weight [d,4d], .bias [d]
 *   norm.{weight,bias} [d]
 * LayerNorm eps 1e-5 (PyTorch's default). */
#ifndef PP_TEXT_ENCODER_H
#define PP_TEXT_ENCODER_H
#include <stddef.h>
#include "nn/params.h"
#include "base/rng.h"

typedef struct {
    int vocab;     /* V, specials included */
    int dim;       /* d = text_dim */
    int heads;     /* d % heads == 0 */
    int layers;
    int ctx;       /* L, the context length (tokens incl. <eos> and pads) */
    int zero_pads; /* 1: output rows at <pad> positions are 0 */
} pp_text_config;

typedef struct { /* offsets (floats) into the flat parameter buffer */
    size_t ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
    size_t ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} pp_text_block;

typedef struct {
    pp_text_config cfg;
    size_t tok_emb, pos_emb, lnf_w, lnf_b;
    pp_text_block *blk; /* [layers] */
} pp_text_encoder;

/* Activations saved by forward for backward, plus backward scratch, for up to Bmax sequences. */
typedef struct {
    int Bmax, B;
    int *ids;      /* [B,L] copy of the input */
    int *nvalid;   /* [B] */
    float *x;      /* [layers+1][B,L,d] residual stream entering each block; x[layers] enters norm */
    float *xmid;   /* [layers][B,L,d] after the attention residual */
    float *ln1, *ln2;              /* [layers][B,L,d] normalised inputs */
    float *ln1_mean, *ln1_rstd, *ln2_mean, *ln2_rstd; /* [layers][B*L] */
    float *q, *k, *v, *att;        /* [layers][B,L,d] (att = attention output before o) */
    float *lse;                    /* [layers][B,H,L] */
    float *h, *hg;                 /* [layers][B,L,4d] ffn.0 output, after GELU */
    float *lnf_mean, *lnf_rstd;    /* [B*L] */
    float *out;                    /* [B,L,d] the encoder output (what forward returns) */
    /* backward scratch */
    float *dx, *dy, *dq, *dk, *dv; /* [B,L,d] */
    float *dh, *dhg;               /* [B,L,4d] */
} pp_text_acts;

/* Check the config and declare the parameters in table (appended). -1 + error on a bad config. */
int pp_text_encoder_create(pp_text_encoder *e, const pp_text_config *cfg, pp_params *table);
void pp_text_encoder_free(pp_text_encoder *e);
/* Initialise this encoder's tensors in params: weights N(0, 0.02) (the output
 * projections attn.o and ffn.2 scaled by 1/sqrt(2*layers)), biases 0, LayerNorm
 * weights 1. Deterministic given rng. */
void pp_text_encoder_init(const pp_text_encoder *e, float *params, pp_rng *rng);

void pp_text_acts_alloc(pp_text_acts *a, const pp_text_config *cfg, int Bmax);
void pp_text_acts_free(pp_text_acts *a);

/* ids [B,L] -> out [B,L,d] (out may be NULL: the result stays in acts->out).
 * Returns -1 + error for B > acts->Bmax or an id outside [0, V). */
int pp_text_encoder_forward(const pp_text_encoder *e, const float *params, const int *ids, int B,
                            float *out, pp_text_acts *acts);
/* dout [B,L,d] (B of the last forward) -> grads (+=, same layout as params);
 * the token embedding gradient is scatter-added. acts must hold that forward. */
void pp_text_encoder_backward(const pp_text_encoder *e, const float *params, float *grads,
                              const float *dout, pp_text_acts *acts);
#endif
