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
import math
import sys

from random_bf16 import write_random_bf16

DIM, FFN, TEXT, FREQ, IN, OUT = 1536, 8960, 4096, 256, 16, 16


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
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    write_random_bf16(sys.argv[1], tensors(layers), 20260311, 'tools/make_wan_random_1p3b.py')


if __name__ == '__main__':
    main()
