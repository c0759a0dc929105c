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
import math
import sys

from random_bf16 import write_random_bf16

VOCAB, DIM, HEADS, DKV, FFN, BUCKETS = 256384, 4096, 64, 64, 10240, 32


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
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    write_random_bf16(sys.argv[1], tensors(layers), 20260303, 'tools/make_umt5_random_xxl.py')


if __name__ == '__main__':
    main()
