/* prophy_model.h - the whole ProPhy model: small text encoder + Wan2.1 backbone +
 * physical branch (SEB, Physical Blocks, REB) in ONE parameter table, with its
 * forward, its four losses and its backward (docs/BRANCH.md, "The assembled model").
 *
 * Data flow (B videos, N tokens, C = dim channels, T = B*N):
 *   ids [B,L] --text encoder--> ctx [B,L,text_dim]
 *   pooled [B,text_dim] = mean of ctx over the non-<pad> positions (0 for none)
 *   embed(x, t, ctx) -> S_0 [T,C]                         (backbone stream)
 *   Z_0 = SEB(S_0, pooled)  (mode seb/full)  |  S_0 (mode reb)   (branch stream)
 *   for j = 0..layers-1:
 *     S_{j+1} = block_j(S_j)
 *     if j < M:  Z_{j+1} = PB_j(Z_j)   (same e0, text embedding and RoPE)
 *                S_{j+1} += inject_j(Z_{j+1})              inject_j = Linear(C,C), zero-init
 *     if j == M-1 and mode reb/full:
 *                r = REB(Z_M) [T,C];  S_M += reb_inject(r)  reb_inject = Linear(C,C), zero-init
 *   out = head(S_layers)
 *   Mode none: the backbone and the text encoder alone (no branch tensors).
 *
 * Losses: L = L_diff + w_c L_coarse(rho_s, q) + w_f L_fine_align(rho_r, Q_r, q)
 *           + w_b L_balance(rho_r); coarse needs the SEB, fine/balance the REB.
 *
 * Parameter names: text_encoder.*, the backbone's Wan names, branch.seb.*,
 * branch.pb.{j}.* (backbone-shaped blocks), branch.inject.{j}.{weight,bias},
 * branch.reb.*, branch.reb_inject.{weight,bias}, branch.align.coarse.* (SEB modes),
 * branch.align.fine.* (REB modes). */
#ifndef PP_PROPHY_MODEL_H
#define PP_PROPHY_MODEL_H
#include <cjson/cJSON.h>
#include "base/rng.h"
#include "branch/branch.h"
#include "prophy/branch_parts.h"
#include "nn/linear.h"
#include "nn/params.h"
#include "prophy/config.h"
#include "text/text_encoder.h"
#include "text/tokenizer.h"
#include "wan/dit.h"

#define PP_PROPHY_MAX_VOCAB (1 << 20)

const char *pp_branch_mode_name(pp_branch_mode m); /* "none", "seb", "reb", "full" */
int pp_branch_mode_parse(const char *s, pp_branch_mode *out); /* -1 + error when unknown */

typedef struct {
    pp_model_config base;  /* backbone (base.dit) + training video size (config.h) */
    pp_text_config text;   /* vocab, heads, layers, zero_pads; dim = text_dim, ctx = text_len */
    pp_branch_mode mode;
    pp_branch_cfg branch;  /* sizes and loss weights; branch.M in [1, layers] (unused for mode none) */
} pp_prophy_config;

/* Defaults around a backbone config: text encoder 2 layers, 2 heads (or 1), zero_pads;
 * mode full, pp_branch_defaults() with M = min(2, layers) and the basis maps at the
 * training token grid. vocab is the tokenizer vocabulary's size. */
void pp_prophy_config_default(pp_prophy_config *c, const pp_model_config *base, int vocab);
/* Fills the derived fields (in_dim, text dim/ctx, seb_hidden, grid) and validates. */
int pp_prophy_config_check(pp_prophy_config *c);
/* The model JSON of model.h plus "text_encoder" and "branch" objects. */
cJSON *pp_prophy_config_to_json(const pp_prophy_config *c);
int pp_prophy_config_from_json(pp_prophy_config *c, const char *json, const char *where);

static inline int pp_prophy_has_seb(const pp_prophy_config *c) { return pp_branch_has_seb(c->mode); }
static inline int pp_prophy_has_reb(const pp_prophy_config *c) { return pp_branch_has_reb(c->mode); }
static inline int pp_prophy_n_pb(const pp_prophy_config *c) { return pp_branch_n_pb(c->mode, c->branch.M); }

typedef struct {
    pp_prophy_config cfg;
    pp_vocab vocab;        /* the tokenizer's vocabulary (stored in the model file) */
    pp_params table;
    pp_text_encoder te;
    pp_dit dit;
    pp_branch_parts br;    /* the branch's tensors (branch_parts.h) */
    float *params;         /* table.total floats, zero after create */
} pp_prophy;

/* Declares every tensor (zero weights). The vocabulary is copied; cfg->text.vocab
 * is set to its size. */
int pp_prophy_create(pp_prophy *m, const pp_prophy_config *cfg, const pp_vocab *vocab);
void pp_prophy_free(pp_prophy *m);
/* Stage 1 init: backbone (Wan init) and text encoder (their modules' inits), then
 * the branch as pp_prophy_attach_branch does. */
void pp_prophy_init_weights(const pp_prophy *m, float *P, pp_rng *rng);
/* Stage 2: PB j = a copy of backbone block j, injections zero, SEB/REB/align from
 * their init functions. */
void pp_prophy_attach_branch(const pp_prophy *m, float *P, pp_rng *rng);
/* Copies every tensor of src that dst has under the same name and shape (a stage-1
 * model into a stage-2 one). Every non-branch tensor of dst must be found: -1 +
 * error otherwise. Returns the number copied in *copied (may be NULL). */
int pp_prophy_copy_weights(const pp_prophy *dst, float *Pdst, const pp_prophy *src,
                           const float *Psrc, int *copied);
/* Flags (1) or unflags (0) every backbone tensor as frozen, and the text encoder's
 * too when with_text (stage 2 freezes both by default). Returns the number flagged. */
int pp_prophy_freeze_backbone(pp_prophy *m, int frozen, int with_text);

/* ---- activations of one call. train = 1 keeps what the backward needs. */
typedef struct pp_prophy_acts pp_prophy_acts;
pp_prophy_acts *pp_prophy_acts_new(const pp_prophy *m, int B, int F, int H, int W, int train);
/* About the bytes pp_prophy_acts_new allocates (checked against the machine's
 * memory before anything is allocated); SIZE_MAX for a size it refuses. */
size_t pp_prophy_acts_bytes_for(const pp_prophy *m, int B, int F, int H, int W, int train);
void pp_prophy_acts_free(pp_prophy_acts *a);
/* Views into the last forward (NULL when the part is absent). */
const float *pp_prophy_acts_ctx(const pp_prophy_acts *a);   /* [B,L,text_dim] */
const float *pp_prophy_acts_rho_s(const pp_prophy_acts *a); /* [B,E_s] */
const float *pp_prophy_acts_rho_r(const pp_prophy_acts *a); /* [T,E_r] */
const int *pp_prophy_acts_sel(const pp_prophy_acts *a);     /* [T,top_k] */

/* out [B,out,F,H,W] = model(x [B,in,F,H,W], t [B] in [0,1000], ids [B,L]).
 * Returns -1 + error for a bad token id. */
int pp_prophy_forward(const pp_prophy *m, const float *P, pp_prophy_acts *a, const float *x,
                      const float *t, const int *ids, float *out);
/* Accumulates d(loss)/d(params) into G given dout [B,out,F,H,W] and the auxiliary
 * losses' gradients w.r.t. the router weights: drho_s [B,E_s], drho_r [T,E_r]
 * (either may be NULL). A frozen backbone or text encoder (every tensor of it
 * frozen) gets no weight gradients: its slots in G are left as they were, and the
 * gradient still flows through it to what trains. */
void pp_prophy_backward(const pp_prophy *m, const float *P, float *G, pp_prophy_acts *a,
                        const float *dout, const float *drho_s, const float *drho_r);

typedef struct {
    const float *x;      /* [B,in,F,H,W] model input cat(x_t, cond) */
    const float *t;      /* [B] 1000 s */
    const int *ids;      /* [B,L] token ids (text dropout already applied) */
    const float *target; /* [B,out,F,H,W] eps - x0 */
    const float *labels; /* [B,17] category vectors q, or NULL (no coarse / fine loss) */
    const float *Qr;     /* [B,N,17] token targets, or NULL (no fine-align loss) */
    const float *wvox;   /* [B,F,H,W] weights of the diffusion loss per voxel (all channels),
                            or NULL: the plain MSE (train.h: --fg-weight) */
} pp_prophy_batch;

typedef struct {
    float total, diff, coarse, fine_align, balance; /* unweighted terms; total is weighted */
} pp_prophy_losses;

/* Forward, every loss of the mode, and (G != NULL) the backward accumulated into G.
 * pred [B,out,F,H,W] receives the prediction (may be NULL). */
int pp_prophy_step(const pp_prophy *m, const float *P, float *G, pp_prophy_acts *a,
                   const pp_prophy_batch *b, float *pred, pp_prophy_losses *L);

/* Token targets: Q [B,N,17] = (maps - bg) averaged over each patch (pt,ph,pw) of
 * the token grid; maps [B,17,F,H,W], bg [B,F,H,W] (NULL = 0). */
void pp_prophy_token_targets(float *Q, const float *maps, const float *bg, int B, int F, int H,
                             int W, int pt, int ph, int pw);

/* ids of the empty prompt: <eos> then <pad> (the unconditional text; training's
 * text dropout replaces a prompt's ids by these). ids [L]. */
void pp_prophy_empty_ids(int *ids, int L);

/* ---- model file: config JSON ("prophy.config"), vocabulary ("prophy.vocab"), weights */
int pp_prophy_add_to_writer(const pp_prophy *m, pp_st_writer *w, const float *params, pp_dtype as);
int pp_prophy_save(const pp_prophy *m, const char *path, const float *params, pp_dtype as);
/* Reads the config and vocabulary, checks every tensor (one clear error), loads. */
int pp_prophy_load(pp_prophy *m, const char *path);
int pp_prophy_load_weights(pp_prophy *m, const pp_st_file *f);

/* ---- sampler adapter (pp_velocity_fn of flow.h): each row's context is the
 * token ids of its prompt, int [L] (the unconditional rows: pp_prophy_empty_ids,
 * the same ids text dropout uses in training). */
typedef struct {
    const pp_prophy *m;
    const float *params;
    int F, H, W;
    pp_prophy_acts *acts; /* owned; free with pp_prophy_runner_free */
    int *ids;             /* owned: the rows' ids gathered, [B, L] */
} pp_prophy_runner;
int pp_prophy_velocity(void *runner, const float *xin, const float *t, const void *const *ctx, int B, float *v);
void pp_prophy_runner_free(pp_prophy_runner *r);
#endif
