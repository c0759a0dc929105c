/* umt5.h - the umT5 encoder (Wan2.1's text encoder is umT5-XXL), forward only.
 *
 * Architecture (transformers' UMT5EncoderModel, Wan's wan/modules/t5.py):
 *   x = shared[ids]                                   [L, dim]
 *   per layer: x += o(attn(rmsnorm(x) ; q, k, v, bias_layer))
 *              x += wo(gelu_tanh(wi_0(h)) * wi_1(h)),  h = rmsnorm(x)
 *   out = rmsnorm(x)                                  (final_layer_norm)
 * RMSNorm is T5's (no mean subtraction, weight only); attention scores are
 * q.k WITHOUT 1/sqrt(d_kv), plus a relative position bias looked up in the
 * layer's own [buckets, heads] table (umT5: one table per layer) with T5's
 * bidirectional bucket of (key - query). Everything is computed in F32; linear
 * weights may stay BF16/F16 inside the mapped file (nn/linear_half.h).
 *
 * Padding: the reference masks padded keys (-inf before the softmax), so the
 * rows of the true length do not depend on the padding at all; the forward runs
 * on the true length only, and pp_umt5_encode writes Wan's layout: the first
 * len rows, then zero rows up to text_len.
 *
 * Parameter names are transformers' (also those of ComfyUI's repackaged
 * umt5_xxl_*.safetensors): see pp_umt5_init. Loading also accepts the names of
 * Wan's own state dict (token_embedding.weight, blocks.N.attn.q.weight, ...)
 * when stored as safetensors, and a common prefix before all names. A path
 * may also be a shard index ("model.safetensors.index.json", diffusers'
 * text_encoder/ folder): its shards load as one file (pp_st_open_sharded). */
#ifndef PP_UMT5_H
#define PP_UMT5_H
#include <stdint.h>
#include "io/safetensors.h"
#include "nn/params.h"

#define PP_UMT5_MAX_LEN 8192 /* longest sequence the forward accepts */

typedef struct {
    int vocab, dim, heads, d_kv, layers, ffn;
    int buckets, max_distance; /* relative position buckets (32) and max distance (128) */
    float eps;                 /* RMSNorm epsilon (1e-6) */
} pp_umt5_config;

/* umT5-XXL: vocab 256384, dim 4096, 64 heads x 64, 24 layers, ffn 10240, 32 / 128, 1e-6 */
pp_umt5_config pp_umt5_xxl_config(void);
/* Checks ranges (positive sizes, buckets even and >= 4, max_distance > buckets/4, ...). */
int pp_umt5_config_check(const pp_umt5_config *c);

/* One tensor as the forward reads it: F32 (aligned, owned) or BF16/F16 in place. */
typedef struct {
    const void *data;
    pp_dtype dtype; /* PP_F32, PP_BF16 or PP_F16 */
} pp_umt5_weight;

typedef struct {
    pp_umt5_config c;
    pp_params t;          /* the tensors under transformers' names, with shapes */
    pp_umt5_weight *w;    /* t.n entries, in t's order; NULL data until loaded */
    float **own;          /* t.n entries: the F32 copies this model owns (or NULL) */
    pp_st_file f;         /* open while any weight points into it */
    pp_map_range lent;    /* f's mapping while half weights are read in place: a forward gives each
                             layer's pages back once the layer has run (pp_map_drop); {NULL, 0}: kept */
    int *bucket_of;       /* [2*PP_UMT5_MAX_LEN-1]: bucket of relative position r (index r + MAX-1) */
} pp_umt5;

/* Declares the tensors (in this order per layer i):
 *   shared.weight [vocab, dim]
 *   encoder.block.{i}.layer.0.layer_norm.weight [dim]
 *   encoder.block.{i}.layer.0.SelfAttention.{q,k,v}.weight [heads*d_kv, dim]
 *   encoder.block.{i}.layer.0.SelfAttention.o.weight [dim, heads*d_kv]
 *   encoder.block.{i}.layer.0.SelfAttention.relative_attention_bias.weight [buckets, heads]
 *   encoder.block.{i}.layer.1.layer_norm.weight [dim]
 *   encoder.block.{i}.layer.1.DenseReluDense.wi_0.weight [ffn, dim]   (gelu branch)
 *   encoder.block.{i}.layer.1.DenseReluDense.wi_1.weight [ffn, dim]   (linear branch)
 *   encoder.block.{i}.layer.1.DenseReluDense.wo.weight [dim, ffn]
 *   encoder.final_layer_norm.weight [dim]
 * The weights themselves come from pp_umt5_load (or pp_umt5_set_f32). */
int pp_umt5_init(pp_umt5 *m, const pp_umt5_config *c);
void pp_umt5_free(pp_umt5 *m);

/* Sets tensor i (in t's order) to a copy of t.p[i].numel floats. */
void pp_umt5_set_f32(pp_umt5 *m, int i, const float *data);

/* Reads the shapes of a umT5 encoder file into *c (vocab, dim, heads, d_kv,
 * layers, ffn, buckets; max_distance 128 and eps 1e-6, which files do not
 * record). Errors name the file. */
int pp_umt5_config_from_file(const char *path, pp_umt5_config *c);

/* Loads the weights of path into m (initialised with the config the caller
 * expects). F32/F16/BF16 tensors are accepted; with keep_half, BF16/F16 linear
 * weights and the embedding stay in the mapped file (the file stays open until
 * pp_umt5_free), else everything is converted to F32 in P. Norm weights and
 * bias tables are always converted. Errors (one line, naming the file):
 *   a file of another model size ("... is a umT5 encoder with dim 32, 2 layers,
 *   ...; the model expects dim 4096, 24 layers, ..."), a missing or misshapen
 *   tensor (named), a non-float dtype, more layers in the file than expected. */
int pp_umt5_load(pp_umt5 *m, const char *path, int keep_half);

/* T5's bucket of the relative position rel = key - query (bidirectional). */
int pp_umt5_bucket(int rel, int buckets, int max_distance);

/* Encoder output of one sequence: out [len, dim] (the final norm applied).
 * 1 <= len <= PP_UMT5_MAX_LEN; ids in [0, vocab). */
int pp_umt5_forward(const pp_umt5 *m, const int32_t *ids, int len, float *out);

/* A batch of B sequences of ids [B, T] with true lengths lens[b] <= T (the rest
 * is padding and is never read), out [B, text_len, dim]: sequence b fills rows
 * [0, lens[b]) and rows [lens[b], text_len) are zero (Wan's trim-and-pad).
 * lens[b] <= text_len is required (the tokenizer truncates to text_len); a
 * length of 0 gives all zeros. */
int pp_umt5_encode(const pp_umt5 *m, const int32_t *ids, const int *lens, int B, int T,
                   int text_len, float *out);
#endif
