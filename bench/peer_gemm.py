"""PyTorch peer for bench/bench_gemm.cpp: the same GEMMs (y = x @ W.T, f32) with
the same thread count, timed best-of-5 after a warm-up. Prints one line per shape.

    python3 bench/peer_gemm.py THREADS
"""
import sys
import time

import torch

SHAPES = [
    ("square 512", 512, 512, 512),
    ("square 1024", 1024, 1024, 1024),
    ("27B mlp.up_proj  L=256", 256, 17408, 5120),
    ("27B attn.o_proj  L=256", 256, 5120, 6144),
    ("27B gdn.in_proj_qkv L=256", 256, 10240, 5120),
]

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
print(f"torch {torch.__version__}, threads {threads}")
for what, m, n, k in SHAPES:
    x = torch.rand(m, k) * 2 - 1
    w = torch.rand(n, k) * 2 - 1
    torch.nn.functional.linear(x, w)
    best = 1e30
    for _ in range(5):
        t0 = time.perf_counter()
        torch.nn.functional.linear(x, w)
        best = min(best, time.perf_counter() - t0)
    print(f"  {what:<28s} {2 * m * n * k / best * 1e-9:7.1f} GFLOP/s")
