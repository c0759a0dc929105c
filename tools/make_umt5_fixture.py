#!/usr/bin/env python3
"""Write tests/fixtures/umt5_ref.safetensors: a tiny random umT5 encoder
(transformers' UMT5EncoderModel) and its outputs, which tests/test_umt5.c
matches.

    python3 tools/make_umt5_fixture.py [OUT]

Needs torch 2.x and transformers 5.x (pip). Deterministic (fixed seed). The
weights are drawn in float32, stored as F32, and the reference is run in
float64 on exactly those values. Every parameter is random: the norms are
1 + 0.2 N(0,1), the per-layer bias tables N(0,1), the embedding N(0,1), the
linear weights N(0, 1/fan_in) (so activations stay O(1)).

Tensors (besides the weights, under transformers' names):
  input.ids    I32 [B, T]  token ids, padded with 0 past each length
  input.lens   I32 [B]     true lengths (1, 5, 37, 200): the batch runs padded
                           to T = 200 with an attention mask, as Wan runs it
  output.hidden F32 [B, T, dim]  last_hidden_state (rows past a length are
                           whatever the reference computes there; unused)
  bucket.rel   I32 [2R+1]  transformers' bucket of relative position r - R,
                           R = 1000 (32 buckets, max distance 128)
__metadata__["config"] is the JSON of the config.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
from transformers import UMT5Config, UMT5EncoderModel

SEED = 20260301
CONFIG = dict(vocab_size=300, d_model=32, d_kv=8, num_heads=4, num_layers=2, d_ff=48,
              relative_attention_num_buckets=32, relative_attention_max_distance=128,
              layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", dropout_rate=0.0)
LENS = [1, 5, 37, 200]
R = 1000


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, numpy array) of float32 or int32"""
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, a in tensors:
        dt = {np.dtype('float32'): 'F32', np.dtype('int32'): 'I32'}[a.dtype]
        b = np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(',', ':')).encode('utf-8')
    hj += b' ' * ((8 - len(hj) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return 8 + len(hj) + off


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures', 'umt5_ref.safetensors')
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    cfg = UMT5Config(**CONFIG)
    model = UMT5EncoderModel(cfg).eval()
    weights = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'layer_norm' in name:
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=gen)
            elif 'relative_attention_bias' in name or name == 'shared.weight':
                v = torch.randn(p.shape, generator=gen)
            else:
                v = torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5
            p.copy_(v)
        sd = model.state_dict()
        for name in sd:
            if name == 'encoder.embed_tokens.weight':   # tied to shared.weight
                continue
            weights.append((name, sd[name].float().numpy().copy()))
        model = model.double()
        B, T = len(LENS), max(LENS)
        ids = torch.zeros(B, T, dtype=torch.long)
        mask = torch.zeros(B, T, dtype=torch.long)
        for b, n in enumerate(LENS):
            ids[b, :n] = torch.randint(0, cfg.vocab_size, (n,), generator=gen)
            mask[b, :n] = 1
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        # the same rows without padding (the C code runs on the true length)
        for b, n in enumerate(LENS):
            alone = model(input_ids=ids[b:b + 1, :n]).last_hidden_state[0]
            d = (alone - hidden[b, :n]).abs().max().item()
            assert d < 1e-9, (b, d)
        attn = model.encoder.block[0].layer[0].SelfAttention
        rel = torch.arange(-R, R + 1)
        buckets = attn._relative_position_bucket(rel)
    tensors = weights + [
        ('input.ids', ids.to(torch.int32).numpy()),
        ('input.lens', np.array(LENS, dtype=np.int32)),
        ('output.hidden', hidden.float().numpy()),
        ('bucket.rel', buckets.to(torch.int32).numpy()),
    ]
    meta = {"config": json.dumps(CONFIG),
            "generator": "tools/make_umt5_fixture.py: transformers %s, torch %s" % (
                __import__('transformers').__version__, torch.__version__)}
    n = write_safetensors(out, tensors, meta)
    print('wrote %s (%d bytes, %d weights)' % (out, n, len(weights)))


if __name__ == '__main__':
    main()
