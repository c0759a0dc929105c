#!/usr/bin/python3
"""PyTorch (1.13, CPU, float32) timings of the hot ops at bench_ops.c's shapes, to
compare with bench/bench_ops. Medians of several runs; wall GFLOP/s and, in
parentheses, GFLOP per CPU-second (steadier on shared cores).

    /usr/bin/python3 bench/bench_ops_torch.py [--threads 2] [--reps 5]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def median_time(fn, reps):
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def attention(q, k, v):
    """naive softmax(q k^T / sqrt(D)) v on [B*H, N, D]"""
    s = torch.matmul(q, k.transpose(1, 2)) * q.shape[-1] ** -0.5
    return torch.matmul(torch.softmax(s, dim=-1), v)


def bench_attention(bh, n, d, reps):
    q, k, v = (torch.randn(bh, n, d, requires_grad=True) for _ in range(3))
    dout = torch.randn(bh, n, d)
    fl = 4.0 * bh * n * n * d
    tf, cf = median_time(lambda: attention(q, k, v), reps)

    def fwd_bwd():
        attention(q, k, v).backward(dout)
    tfb, cfb = median_time(fwd_bwd, reps)
    tb, cb = tfb - tf, cfb - cf
    print(f"attn    B*H={bh} N={n} D={d}  fwd {fl / tf / 1e9:6.1f} ({fl / cf / 1e9:5.1f}/core) GFLOP/s "
          f"{tf * 1e3:5.1f} ms  bwd {2.5 * fl / tb / 1e9:6.1f} ({2.5 * fl / cb / 1e9:5.1f}/core) "
          f"GFLOP/s {tb * 1e3:5.1f} ms")


def bench_linear(m, k, n, reps):
    x = torch.randn(m, k, requires_grad=True)
    lin = torch.nn.Linear(k, n)
    dout = torch.randn(m, n)
    fl = 2.0 * m * k * n
    tf, cf = median_time(lambda: lin(x), reps)

    def fwd_bwd():
        lin(x).backward(dout)
    tfb, cfb = median_time(fwd_bwd, reps)
    print(f"linear  M={m} K={k:4d} N={n:4d}  fwd {fl / tf / 1e9:6.1f} ({fl / cf / 1e9:5.1f}/core)  "
          f"bwd {2 * fl / (tfb - tf) / 1e9:6.1f} ({2 * fl / (cfb - cf) / 1e9:5.1f}/core) GFLOP/s")


def bench_elementwise(b, n, c, ffn, reps):
    x = torch.randn(b, n, c, requires_grad=True)
    shift, scale = torch.randn(b, 1, c), torch.randn(b, 1, c)
    lnmod = lambda: F.layer_norm(x, (c,), eps=1e-6) * (1 + scale) + shift  # noqa: E731
    t, _ = median_time(lnmod, reps)
    tb, _ = median_time(lambda: lnmod().backward(torch.ones(b, n, c)), reps)
    print(f"lnmod   [{b},{n},{c}]  fwd {t * 1e3:.2f} ms  fwd+bwd {tb * 1e3:.2f} ms")
    h = torch.randn(b, n, ffn, requires_grad=True)
    t, _ = median_time(lambda: F.gelu(h, approximate='tanh'), reps)
    tb, _ = median_time(lambda: F.gelu(h, approximate='tanh').backward(torch.ones(b, n, ffn)), reps)
    print(f"gelu    [{b},{n},{ffn}]  fwd {t * 1e3:.2f} ms  fwd+bwd {tb * 1e3:.2f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {a.threads} threads")
    for k, n in ((128, 128), (128, 512), (256, 256), (512, 512)):
        bench_linear(8192, k, n, a.reps)
    bench_attention(64, 512, 32, a.reps)
    bench_attention(32, 512, 64, a.reps)
    bench_attention(64, 256, 32, a.reps)
    bench_elementwise(16, 512, 128, 512, a.reps)
    bench_elementwise(8, 512, 256, 1024, a.reps)


if __name__ == '__main__':
    main()
