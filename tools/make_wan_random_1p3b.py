#!/usr/bin/env python3
"""Write a BF16 safetensors file with the shapes and Wan key names of the real
Wan2.1-T2V-1.3B DiT (1.42 B parameters, 2.84 GB; the layout of ComfyUI's
repackaged wan2.1_t2v_1.3B_bf16.safetensors), filled with random weights, for
timing and memory measurements. Never commit its output.

    python3 tools/make_wan_random_1p3b.py OUT.safetensors [LAYERS]

LAYERS (default 30) writes fewer blocks. Needs only numpy; streams the data, so
memory stays ~100 MB. Check free disk first (df -h). Values: random sign and 7-bit
mantissa, exponents chosen so linear weights have magnitude ~1/sqrt(fan_in),
biases ~1/64, modulations ~1/sqrt(dim); norm weights exactly 1.
"""
import json
import math
import os
import struct
import sys

import numpy as np

DIM, FFN, TEXT, FREQ, IN, OUT = 1536, 8960, 4096, 256, 16, 16
CHUNK = 1 << 25


def tensors(layers):
    lw = lambda fan: -0.5 * math.log2(fan)
    yield 'patch_embedding.weight', (DIM, IN, 1, 2, 2), lw(IN * 4)
    yield 'patch_embedding.bias', (DIM,), -6.0
    for name, o, i in (('text_embedding.0', DIM, TEXT), ('text_embedding.2', DIM, DIM), ('time_embedding.0', DIM, FREQ),
                       ('time_embedding.2', DIM, DIM), ('time_projection.1', 6 * DIM, DIM)):
        yield name + '.weight', (o, i), lw(i)
        yield name + '.bias', (o,), -6.0
    for b in range(layers):
        p = 'blocks.%d.' % b
        yield p + 'modulation', (1, 6, DIM), lw(DIM)
        for a in ('self_attn', 'cross_attn'):
            for w in 'qkvo':
                yield p + a + '.' + w + '.weight', (DIM, DIM), lw(DIM)
                yield p + a + '.' + w + '.bias', (DIM,), -6.0
            yield p + a + '.norm_q.weight', (DIM,), None
            yield p + a + '.norm_k.weight', (DIM,), None
            if a == 'self_attn':
                yield p + 'norm3.weight', (DIM,), None
                yield p + 'norm3.bias', (DIM,), -6.0
        yield p + 'ffn.0.weight', (FFN, DIM), lw(DIM)
        yield p + 'ffn.0.bias', (FFN,), -6.0
        yield p + 'ffn.2.weight', (DIM, FFN), lw(FFN)
        yield p + 'ffn.2.bias', (DIM,), -6.0
    yield 'head.modulation', (1, 2, DIM), lw(DIM)
    yield 'head.head.weight', (OUT * 4, DIM), lw(DIM)
    yield 'head.head.bias', (OUT * 4,), -6.0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    items = list(tensors(layers))
    header, off = {"__metadata__": {"generator": "tools/make_wan_random_1p3b.py (random weights)"}}, 0
    for name, shape, _ in items:
        n = 2 * math.prod(shape)
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hj = json.dumps(header, separators=(',', ':')).encode()
    hj += b' ' * ((8 - len(hj) % 8) % 8)
    rng = np.random.default_rng(20260311)
    total = sum(math.prod(s) for _, s, _ in items)
    print('%s: %d tensors, %.3f G parameters, %.2f GB' % (out, len(items), total / 1e9, (8 + len(hj) + off) / 1e9))
    tmp = out + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(hj)))
        f.write(hj)
        for name, shape, log2scale in items:
            n = math.prod(shape)
            if log2scale is None:
                np.full(n, 0x3F80, dtype='<u2').tofile(f)  # 1.0
                continue
            e0 = np.uint16(127 + int(math.floor(log2scale)) - 1)
            for a in range(0, n, CHUNK):
                bits = rng.integers(0, 1 << 16, size=min(CHUNK, n - a), dtype=np.uint16)
                v = (bits & np.uint16(0x807F)) | ((e0 + ((bits >> np.uint16(7)) & np.uint16(1))) << np.uint16(7))
                v.astype('<u2').tofile(f)
    os.replace(tmp, out)
    print('wrote', out)


if __name__ == '__main__':
    main()
