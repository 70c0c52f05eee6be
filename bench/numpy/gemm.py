#!/usr/bin/python3
"""Anchor for kiln's CPU GEMM: times numpy.matmul (OpenBLAS) on square
float32 and float64 matrices and prints GFLOP/s as JSON.

Run it with the BLAS tuning variables of this machine unset so OpenBLAS
picks its own kernel, exactly as a user's numpy would:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/numpy/gemm.py --sizes 512,1024

Each size is timed as the best of --rounds rounds of enough products to
take ~0.2 s, after one warm-up product; 2n^3 flops per product.

With OPENBLAS_NUM_THREADS=1, "gflops_per_cpu_s" (flops per second of
process CPU time) is the single-core rate even while other programs share
the cores; with more threads it undercounts, because OpenBLAS threads spin
while they wait.
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def blas_info():
    try:
        import threadpoolctl
    except ImportError:
        return None
    return [
        {k: v for k, v in info.items() if k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")}
        for info in threadpoolctl.threadpool_info()
        if info.get("user_api") == "blas"
    ]


def time_matmul(n, dtype, rounds):
    rng = np.random.default_rng(7)
    a = rng.uniform(-1, 1, (n, n)).astype(dtype)
    b = rng.uniform(-1, 1, (n, n)).astype(dtype)
    c = np.empty((n, n), dtype=dtype)
    np.matmul(a, b, out=c)
    flops = 2.0 * n * n * n
    # Products per round: about 0.2 s at 100 GFLOP/s, at least 2.
    reps = max(2, int(2e10 / flops))
    best = best_cpu = float("inf")
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        best = min(best, (time.perf_counter() - t0) / reps)
        best_cpu = min(best_cpu, (time.process_time() - c0) / reps)
    return flops / best / 1e9, flops / best_cpu / 1e9


def time_attention(dtype, rounds, batch=1024, m=128, n=128, k=32):
    """Batched Q·Kᵀ of attention shape, as kiln's BenchmarkSgemmBatchedAttention."""
    rng = np.random.default_rng(7)
    q = rng.uniform(-1, 1, (batch, m, k)).astype(dtype)
    kk = rng.uniform(-1, 1, (batch, n, k)).astype(dtype)
    kt = kk.transpose(0, 2, 1)
    c = np.empty((batch, m, n), dtype=dtype)
    np.matmul(q, kt, out=c)
    flops = 2.0 * batch * m * n * k
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(3):
            np.matmul(q, kt, out=c)
        best = min(best, (time.perf_counter() - t0) / 3)
    return flops / best / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="256,512,1024,2048")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--attention", action="store_true", help="also time a batch of 1024 (128×32)·(32×128) products")
    args = p.parse_args()
    out = {
        "numpy": np.__version__,
        "blas": blas_info(),
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS") if k in os.environ},
        "gflops": {},
    }
    out["gflops_per_cpu_s"] = {}
    for dt in args.dtypes.split(","):
        out["gflops"][dt], out["gflops_per_cpu_s"][dt] = {}, {}
        for n in args.sizes.split(","):
            wall, cpu = time_matmul(int(n), np.dtype(dt), args.rounds)
            out["gflops"][dt][n] = round(wall, 2)
            out["gflops_per_cpu_s"][dt][n] = round(cpu, 2)
    if args.attention:
        out["attention_gflops"] = {dt: round(time_attention(np.dtype(dt), args.rounds), 2) for dt in args.dtypes.split(",")}
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
