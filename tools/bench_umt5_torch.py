#!/usr/bin/env python3
"""The PyTorch peer of bench/bench_umt5.c: transformers' UMT5EncoderModel on
the same file and ids, on the CPU.

    python3 tools/bench_umt5_torch.py MODEL.safetensors [LEN [THREADS [REPS [DTYPE [PAD [OUT.f32]]]]]]

DTYPE bf16 (default; F32 copies of umT5-XXL's weights, 23 GB, do not fit in
24 GB of RAM) or f32. PAD > LEN pads the ids to PAD positions with an
attention mask, as Wan runs it (512); the first LEN rows are reported. The
weights are read with safetensors.torch.load_file into the process's memory
and assigned to a model built on the meta device (no second copy). Prints the
times and the peak resident memory (ru_maxrss). OUT.f32: the [LEN, dim] output
as raw float32 (for comparing with the C output).
"""
import json
import resource
import sys
import time

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import UMT5Config, UMT5EncoderModel


def main():
    path = sys.argv[1]
    L = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    dtype = {'bf16': torch.bfloat16, 'f32': torch.float32}[sys.argv[5] if len(sys.argv) > 5 else 'bf16']
    pad = int(sys.argv[6]) if len(sys.argv) > 6 else L
    torch.set_num_threads(threads)
    with safe_open(path, 'pt') as f:
        keys = list(f.keys())
        shape = lambda k: f.get_slice(k).get_shape()
        layers = sum(1 for k in keys if k.endswith('SelfAttention.q.weight'))
        vocab, dim = shape('shared.weight')
        heads = shape('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight')[1]
        ffn = shape('encoder.block.0.layer.1.DenseReluDense.wi_0.weight')[0]
        hd = shape('encoder.block.0.layer.0.SelfAttention.q.weight')[0]
    cfg = UMT5Config(vocab_size=vocab, d_model=dim, d_kv=hd // heads, num_heads=heads, num_layers=layers,
                     d_ff=ffn, relative_attention_num_buckets=32, relative_attention_max_distance=128,
                     feed_forward_proj='gated-gelu', dropout_rate=0.0, layer_norm_epsilon=1e-6)
    print('%s: vocab %d, dim %d, %d heads, %d layers, ffn %d; %d tokens (padded to %d), %d threads, %s' % (
        path, vocab, dim, heads, layers, ffn, L, pad, threads, dtype))
    t0 = time.time()
    with torch.device('meta'):
        model = UMT5EncoderModel(cfg)
    sd = load_file(path)
    if dtype != torch.bfloat16:
        sd = {k: v.to(dtype) for k, v in sd.items()}
    sd['encoder.embed_tokens.weight'] = sd['shared.weight']
    model.load_state_dict(sd, assign=True, strict=True)
    model.encoder.embed_tokens = model.shared
    model = model.to(dtype).eval()
    del sd
    print('load: %.3f s' % (time.time() - t0))
    ids = torch.zeros(1, pad, dtype=torch.long)
    mask = torch.zeros(1, pad, dtype=torch.long)
    for i in range(L):
        ids[0, i] = 1 if i == L - 1 else (i * 7919 + 13) % vocab
    mask[0, :L] = 1
    with torch.inference_mode():
        for r in range(reps):
            t0 = time.time()
            out = model(input_ids=ids, attention_mask=mask).last_hidden_state[0, :L].float()
            print('forward %d: %.3f s' % (r, time.time() - t0))
    print('peak RSS %.1f MiB' % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    o = out.numpy()
    print('output [%d, %d], rms %.6f, out[0][0..3] = %s' % (L, dim, float(np.sqrt((o.astype(np.float64) ** 2).mean())),
                                                            ' '.join('%.6f' % x for x in o[0, :4])))
    if len(sys.argv) > 7:
        o.astype('<f4').tofile(sys.argv[7])


if __name__ == '__main__':
    main()
