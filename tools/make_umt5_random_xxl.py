#!/usr/bin/env python3
"""Write a BF16 safetensors file with the shapes and transformers key names of
the real umT5-XXL encoder (Wan2.1's text encoder: 5.68 B parameters, 11.4 GB)
filled with random weights, for timing and memory measurements. Never commit
its output.

    python3 tools/make_umt5_random_xxl.py OUT.safetensors [LAYERS]

LAYERS (default 24) writes fewer layers (the file is then refused by a loader
that expects umT5-XXL, but pp_umt5_config_from_file reads its shapes). Needs
only numpy; streams the data, so memory stays ~100 MB. Check free disk first
(df -h). Values: random sign and 7-bit mantissa, exponents chosen so linear
weights have magnitude ~1/sqrt(fan_in), the embedding and bias tables ~1, the
norm weights exactly 1.
"""
import json
import math
import os
import struct
import sys

import numpy as np

VOCAB, DIM, HEADS, DKV, FFN, BUCKETS = 256384, 4096, 64, 64, 10240, 32
CHUNK = 1 << 25


def tensors(layers):
    hd = HEADS * DKV
    yield 'shared.weight', (VOCAB, DIM), 0.0
    for i in range(layers):
        p = 'encoder.block.%d.layer.' % i
        yield p + '0.layer_norm.weight', (DIM,), None
        for w in 'qkv':
            yield p + '0.SelfAttention.%s.weight' % w, (hd, DIM), -0.5 * math.log2(DIM)
        yield p + '0.SelfAttention.o.weight', (DIM, hd), -0.5 * math.log2(hd)
        yield p + '0.SelfAttention.relative_attention_bias.weight', (BUCKETS, HEADS), 0.0
        yield p + '1.layer_norm.weight', (DIM,), None
        yield p + '1.DenseReluDense.wi_0.weight', (FFN, DIM), -0.5 * math.log2(DIM)
        yield p + '1.DenseReluDense.wi_1.weight', (FFN, DIM), -0.5 * math.log2(DIM)
        yield p + '1.DenseReluDense.wo.weight', (DIM, FFN), -0.5 * math.log2(FFN)
    yield 'encoder.final_layer_norm.weight', (DIM,), None


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    items = list(tensors(layers))
    header, off = {"__metadata__": {"generator": "tools/make_umt5_random_xxl.py (random weights)"}}, 0
    for name, shape, _ in items:
        n = 2 * math.prod(shape)
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hj = json.dumps(header, separators=(',', ':')).encode()
    hj += b' ' * ((8 - len(hj) % 8) % 8)
    rng = np.random.default_rng(20260303)
    total = sum(math.prod(s) for _, s, _ in items)
    print('%s: %d tensors, %.3f G parameters, %.2f GB' % (out, len(items), total / 1e9, (8 + len(hj) + off) / 1e9))
    tmp = out + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(hj)))
        f.write(hj)
        for name, shape, log2scale in items:
            n = math.prod(shape)
            if log2scale is None:
                np.full(n, 0x3F80, dtype='<u2').tofile(f)   # 1.0
                continue
            e0 = np.uint16(127 + int(math.floor(log2scale)) - 1)
            for a in range(0, n, CHUNK):
                bits = rng.integers(0, 1 << 16, size=min(CHUNK, n - a), dtype=np.uint16)
                # sign | exponent in [e0, e0+1] | 7 random mantissa bits
                v = (bits & np.uint16(0x807F)) | ((e0 + ((bits >> np.uint16(7)) & np.uint16(1))) << np.uint16(7))
                v.astype('<u2').tofile(f)
    os.replace(tmp, out)
    print('wrote', out)


if __name__ == '__main__':
    main()
