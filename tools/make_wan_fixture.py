#!/usr/bin/env python3
"""make_wan_fixture.py - a tiny random Wan2.1 text-to-video model in the three file
layouts users have, and diffusers' outputs on it, for tests/test_wan_ref.c and
tests/cli_wan.sh.

    python3 tools/make_wan_fixture.py [FIXTURES_DIR]     (default tests/fixtures)

Needs the pip python3 (torch 2.x, diffusers 0.42, transformers 5.x). Deterministic
(fixed seed). Every weight is random (norm weights 1 + 0.1 N(0,1), biases too) and
rounded to float32 before anything is computed. Writes:

  wan_tiny/            diffusers' layout (WanPipeline.save_pretrained-like):
                       model_index.json, scheduler/, transformer/ (config.json,
                       2 shards + diffusion_pytorch_model.safetensors.index.json),
                       text_encoder/ (UMT5EncoderModel, 2 shards + model.safetensors.index.json),
                       tokenizer/tokenizer.json (a link to spm_tokenizer.json),
                       vae/ (AutoencoderKLWan config.json + weights)
  wan_tiny_wan/        Wan's layout: config.json (WanModel's keys) and
                       diffusion_pytorch_model.safetensors under Wan's key names
                       (checked: diffusers' own converter maps them back exactly)
  wan_tiny_comfy/      ComfyUI's layout: diffusion_models/wan2.1_t2v_tiny_bf16.safetensors
                       (Wan keys under "model.diffusion_model.", BF16, and a
                       "config" metadata entry, since dim 48 is not 128 x heads),
                       text_encoders/umt5_tiny_fp32.safetensors (transformers' names),
                       vae/wan_tiny_vae.safetensors (Wan's VAE keys, "vae_config" metadata)
  wan_noise.safetensors  the pipeline's noise latent [1,16,3,4,6] alone (--noise)
  wan_ref.safetensors  dit.{x,t,ctx,out}: WanTransformer3DModel's forward in float64
                       (batch 2); pipe.*: WanPipeline (float32) on a prompt and the
                       negative prompt with a given noise latent: the token ids, the
                       prompt embeddings, the final latent and the decoded video in
                       [-1, 1] (before the 8-bit conversion), and the video through
                       the pipeline's own postprocessing ([0, 1], pipe.video01).
"""
import importlib.util
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch
from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

SEED = 20260310
DIT = dict(patch_size=[1, 2, 2], num_attention_heads=2, attention_head_dim=24, in_channels=16, out_channels=16,
           text_dim=32, freq_dim=32, ffn_dim=64, num_layers=2, cross_attn_norm=True,
           qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None, rope_max_seq_len=1024)
UMT5 = dict(vocab_size=1210, d_model=32, d_kv=8, num_heads=4, num_layers=2, d_ff=48,
            relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
            feed_forward_proj="gated-gelu", dropout_rate=0.0, is_encoder_decoder=False)
VAE = dict(base_dim=4, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1, temperal_downsample=[False, True, True])
PIPE = dict(height=32, width=48, num_frames=9, num_inference_steps=4, guidance_scale=5.0, flow_shift=5.0)
PROMPT = "  A red ball   falls onto the wooden floor and bounces. "
# Wan2.1's default negative prompt (wan/configs/shared_config.py, sample_neg_prompt)
NEGATIVE = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
            "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
            "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")


def vae_wan_key():
    spec = importlib.util.spec_from_file_location("mvf", os.path.join(os.path.dirname(__file__), "make_vae_fixture.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m.wan_key


def write_st(path, tensors, meta=None, dtype="F32"):
    """tensors: dict name -> torch tensor (float -> dtype, int32 kept)"""
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.int32:
            dt, b = "I32", t.numpy().astype("<i4").tobytes()
        elif dtype == "BF16":
            dt, b = "BF16", t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            dt, b = "F32", t.to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_sharded(folder, stem, tensors, nshards):
    """HF-style shards stem-0000k-of-0000n.safetensors and stem.safetensors.index.json"""
    names = list(tensors)
    per = (len(names) + nshards - 1) // nshards
    wmap = {}
    for k in range(nshards):
        fn = f"{stem}-{k + 1:05d}-of-{nshards:05d}.safetensors"
        part = {n: tensors[n] for n in names[k * per:(k + 1) * per]}
        write_st(os.path.join(folder, fn), part, {"format": "pt"})
        wmap.update({n: fn for n in part})
    total = sum(t.numel() * 4 for t in tensors.values())
    with open(os.path.join(folder, f"{stem}.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, f, indent=2)


def config_of(m):
    """a model's config as saved, without diffusers' bookkeeping of defaults (a set: unordered)"""
    return {k: v for k, v in dict(m.config).items() if k != "_use_default_values"}


def randomise(model, linear_std=None):
    with torch.no_grad():
        for k, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in k or k.endswith("gamma")):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif p.ndim == 1 or k.endswith("gamma"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                fan = p[0].numel()
                p.copy_(torch.randn_like(p) * (linear_std if linear_std else (1.0 / fan) ** 0.5))


def wan_keys(sd):
    """diffusers' WanTransformer3DModel state dict -> Wan's original keys (inverse of
    diffusers' convert_wan_transformer_to_diffusers, checked against it)"""
    glob = [("condition_embedder.text_embedder.linear_1.", "text_embedding.0."),
            ("condition_embedder.text_embedder.linear_2.", "text_embedding.2."),
            ("condition_embedder.time_embedder.linear_1.", "time_embedding.0."),
            ("condition_embedder.time_embedder.linear_2.", "time_embedding.2."),
            ("condition_embedder.time_proj.", "time_projection.1."),
            ("scale_shift_table", "head.modulation"), ("proj_out.", "head.head.")]
    blk = [("scale_shift_table", "modulation"), ("attn1.to_out.0.", "self_attn.o."), ("attn2.to_out.0.", "cross_attn.o."),
           ("attn1.to_", "self_attn."), ("attn2.to_", "cross_attn."), ("attn1.", "self_attn."),
           ("attn2.", "cross_attn."), ("norm2.", "norm3."), ("ffn.net.0.proj.", "ffn.0."), ("ffn.net.2.", "ffn.2.")]
    out = {}
    for k, v in sd.items():
        nk = None
        if k.startswith("blocks."):
            i, rest = k[7:].split(".", 1)
            for a, b in blk:
                if rest.startswith(a):
                    nk = f"blocks.{i}.{b}{rest[len(a):]}"
                    break
        else:
            for a, b in glob:
                if k.startswith(a):
                    nk = b + k[len(a):]
                    break
            if k.startswith("patch_embedding."):
                nk = k
        assert nk, k
        out[nk] = v
    back = convert_wan_transformer_to_diffusers(dict(out))
    assert set(back) == set(sd) and all(torch.equal(back[k], sd[k]) for k in sd), "key mapping does not round-trip"
    return out


def wan_config():
    d = DIT
    return {"_class_name": "WanModel", "_diffusers_version": "0.30.0", "model_type": "t2v",
            "dim": d["num_attention_heads"] * d["attention_head_dim"], "eps": d["eps"], "ffn_dim": d["ffn_dim"],
            "freq_dim": d["freq_dim"], "in_dim": d["in_channels"], "num_heads": d["num_attention_heads"],
            "num_layers": d["num_layers"], "out_dim": d["out_channels"], "text_len": 512, "text_dim": d["text_dim"]}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    torch.manual_seed(SEED)
    # ---------------------------------------------------------------- the models
    tr = WanTransformer3DModel(**DIT)
    randomise(tr)
    te = UMT5EncoderModel(UMT5Config(**UMT5))
    randomise(te)
    with torch.no_grad():
        te.shared.weight.normal_(0, 1)
        for blk in te.encoder.block:
            blk.layer[0].SelfAttention.relative_attention_bias.weight.normal_(0, 1)
    z = VAE["z_dim"]
    mean = (0.3 * torch.randn(z)).float()
    std = (0.5 + torch.rand(z)).float()
    vae = AutoencoderKLWan(**VAE, latents_mean=mean.tolist(), latents_std=std.tolist())
    randomise(vae)
    with torch.no_grad():
        vae.decoder.conv_out.weight.mul_(5.0)
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(root, "spm_tokenizer.json"), pad_token="<pad>",
                                  eos_token="</s>", unk_token="<unk>")
    sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000,
                                    flow_shift=PIPE["flow_shift"], solver_order=2, solver_type="bh2",
                                    final_sigmas_type="zero", lower_order_final=True)
    for m in (tr, te, vae):
        m.eval()

    # ---------------------------------------------------------------- diffusers' layout
    d = os.path.join(root, "wan_tiny")
    shutil.rmtree(d, ignore_errors=True)
    for sub in ("transformer", "text_encoder", "tokenizer", "vae", "scheduler"):
        os.makedirs(os.path.join(d, sub))
    with open(os.path.join(d, "model_index.json"), "w") as f:
        json.dump({"_class_name": "WanPipeline", "_diffusers_version": "0.42.1",
                   "scheduler": ["diffusers", "UniPCMultistepScheduler"], "text_encoder": ["transformers", "UMT5EncoderModel"],
                   "tokenizer": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "WanTransformer3DModel"],
                   "vae": ["diffusers", "AutoencoderKLWan"]}, f, indent=2)
    sd = {k: v.detach().clone() for k, v in tr.state_dict().items()}
    write_sharded(os.path.join(d, "transformer"), "diffusion_pytorch_model", sd, 2)
    with open(os.path.join(d, "transformer", "config.json"), "w") as f:
        json.dump(config_of(tr), f, indent=2)
    tsd = {k: v.detach().clone() for k, v in te.state_dict().items() if k != "encoder.embed_tokens.weight"}
    write_sharded(os.path.join(d, "text_encoder"), "model", tsd, 2)
    with open(os.path.join(d, "text_encoder", "config.json"), "w") as f:
        f.write(te.config.to_json_string())
    os.symlink("../../spm_tokenizer.json", os.path.join(d, "tokenizer", "tokenizer.json"))
    vsd = {k: v.detach().clone() for k, v in vae.state_dict().items()}
    write_st(os.path.join(d, "vae", "diffusion_pytorch_model.safetensors"), vsd, {"format": "pt"})
    with open(os.path.join(d, "vae", "config.json"), "w") as f:
        json.dump(config_of(vae), f, indent=2)
    with open(os.path.join(d, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(config_of(sched), f, indent=2)

    # ---------------------------------------------------------------- Wan's layout
    w = os.path.join(root, "wan_tiny_wan")
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    wsd = wan_keys(sd)
    write_st(os.path.join(w, "diffusion_pytorch_model.safetensors"), wsd)
    with open(os.path.join(w, "config.json"), "w") as f:
        json.dump(wan_config(), f, indent=2)

    # ---------------------------------------------------------------- ComfyUI's layout
    c = os.path.join(root, "wan_tiny_comfy")
    shutil.rmtree(c, ignore_errors=True)
    for sub in ("diffusion_models", "text_encoders", "vae"):
        os.makedirs(os.path.join(c, sub))
    write_st(os.path.join(c, "diffusion_models", "wan2.1_t2v_tiny_bf16.safetensors"),
             {"model.diffusion_model." + k: v for k, v in wsd.items()}, {"config": json.dumps(wan_config())}, "BF16")
    write_st(os.path.join(c, "text_encoders", "umt5_tiny_fp32.safetensors"), tsd)
    wk = vae_wan_key()
    vcfg = {"dim": VAE["base_dim"], "z_dim": z, "num_res_blocks": VAE["num_res_blocks"], "dim_mult": VAE["dim_mult"],
            "temperal_downsample": VAE["temperal_downsample"], "latents_mean": mean.tolist(), "latents_std": std.tolist()}
    write_st(os.path.join(c, "vae", "wan_tiny_vae.safetensors"), {wk(k, VAE["num_res_blocks"]): v for k, v in vsd.items()},
             {"vae_config": json.dumps(vcfg)})

    # ---------------------------------------------------------------- the DiT alone, float64
    g = torch.Generator().manual_seed(SEED + 1)
    x = torch.randn(2, 16, 3, 4, 6, generator=g)
    t = torch.tensor([731.0, 38.0])
    ctx = torch.randn(2, 512, DIT["text_dim"], generator=g)
    ctx[1, 20:] = 0  # a trimmed-and-padded context, as the pipeline makes
    tr64 = WanTransformer3DModel(**DIT)
    tr64.load_state_dict(sd)
    tr64 = tr64.double().eval()
    with torch.no_grad():
        out = tr64(x.double(), t.double(), ctx.double(), return_dict=False)[0]

    # ---------------------------------------------------------------- the pipeline, float32
    pipe = WanPipeline(tokenizer=tok, text_encoder=te, transformer=tr, vae=vae, scheduler=sched)
    pipe.set_progress_bar_config(disable=True)
    F, H, W = PIPE["num_frames"], PIPE["height"], PIPE["width"]
    lat_shape = (1, z, (F - 1) // 4 + 1, H // 8, W // 8)
    noise = torch.randn(lat_shape, generator=g)
    with torch.no_grad():
        pe, ne = pipe.encode_prompt(PROMPT, NEGATIVE, do_classifier_free_guidance=True, max_sequence_length=512)
        kw = dict(prompt=PROMPT, negative_prompt=NEGATIVE, height=H, width=W, num_frames=F,
                  num_inference_steps=PIPE["num_inference_steps"], guidance_scale=PIPE["guidance_scale"],
                  max_sequence_length=512)
        lat = pipe(**kw, latents=noise.clone(), output_type="latent").frames
        v01 = pipe(**kw, latents=noise.clone(), output_type="pt").frames  # [1, F, 3, H, W] in [0, 1]
        zin = lat / (1.0 / std.view(1, -1, 1, 1, 1)) + mean.view(1, -1, 1, 1, 1)
        video = vae.decode(zin, return_dict=False)[0]  # [1, 3, F, H, W] in [-1, 1]
    from diffusers.pipelines.wan.pipeline_wan import prompt_clean
    enc = lambda s: tok([prompt_clean(s)], padding="max_length", max_length=512, truncation=True,
                        add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    ip, ineg = enc(PROMPT), enc(NEGATIVE)
    ref = {"dit.x": x, "dit.t": t, "dit.ctx": ctx, "dit.out": out.float(),
           "pipe.ids": ip.input_ids[0].int(), "pipe.neg_ids": ineg.input_ids[0].int(),
           "pipe.lens": torch.tensor([int(ip.attention_mask.sum()), int(ineg.attention_mask.sum())], dtype=torch.int32),
           "pipe.prompt_embeds": pe[0], "pipe.negative_embeds": ne[0], "pipe.noise": noise[0],
           "pipe.latents": lat[0], "pipe.video": video[0], "pipe.video01": v01[0].permute(1, 0, 2, 3)}
    clamped = (video.abs() >= 1).double().mean().item()
    meta = {"prompt": PROMPT, "negative_prompt": NEGATIVE, "pipe": json.dumps(PIPE),
            "generator": f"tools/make_wan_fixture.py, torch {torch.__version__}, diffusers 0.42; "
                         f"{100 * clamped:.1f}% of the video clamped"}
    write_st(os.path.join(root, "wan_ref.safetensors"), ref, meta)
    write_st(os.path.join(root, "wan_noise.safetensors"), {"noise": noise})  # for prophy generate --noise
    print(f"wrote {root}/wan_tiny, wan_tiny_wan, wan_tiny_comfy, wan_ref.safetensors; "
          f"prompt {int(ip.attention_mask.sum())} tokens, negative {int(ineg.attention_mask.sum())}; "
          f"video range [{video.min():.3f}, {video.max():.3f}], {100 * clamped:.1f}% clamped; "
          f"std {video.std():.3f}; |dit.out| {out.abs().mean():.3f}")


if __name__ == "__main__":
    main()
