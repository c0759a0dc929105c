"""Writes a BF16 safetensors file of random weights, streamed in chunks so memory
stays ~100 MB whatever the size: shared by tools/make_wan_random_1p3b.py and
tools/make_umt5_random_xxl.py (real-size files for timing, never committed).

items: (name, shape, log2scale) in file order. log2scale None writes 1.0; otherwise
each value has a random sign, 7 random mantissa bits and an exponent chosen at
random from the two just below 2**log2scale (magnitude about 2**log2scale)."""
import json
import math
import os
import struct

import numpy as np

CHUNK = 1 << 25


def write_random_bf16(out, items, seed, generator):
    items = list(items)
    header, off = {"__metadata__": {"generator": generator + " (random weights)"}}, 0
    for name, shape, _ in items:
        n = 2 * math.prod(shape)
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hj = json.dumps(header, separators=(',', ':')).encode()
    hj += b' ' * ((8 - len(hj) % 8) % 8)
    rng = np.random.default_rng(seed)
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
                # sign | exponent in [e0, e0+1] | 7 random mantissa bits
                v = (bits & np.uint16(0x807F)) | ((e0 + ((bits >> np.uint16(7)) & np.uint16(1))) << np.uint16(7))
                v.astype('<u2').tofile(f)
    os.replace(tmp, out)
    print('wrote', out)
