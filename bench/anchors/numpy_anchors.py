#!/usr/bin/env python3
"""CPU anchors for `kiln bench`: the same cases timed through numpy (OpenBLAS) in the same run.

Reads a JSON list of cases on stdin, prints a JSON object {name: {"seconds": s, "kernel": k}}.
Each case is timed best-of-N after one warm-up, like kiln's side, so the ratio compares like
with like. Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (kiln bench does), since
on some processors those force a slower kernel.
"""
import json
import sys
import time

import numpy as np


def best(fn, min_time=0.3, min_reps=3, max_reps=50):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < min_time and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def softmax(x):
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=-1, keepdims=True)


def run(case):
    kind = case["kind"]
    dt = np.float32 if case.get("dtype", "float32") == "float32" else np.float64
    rng = np.random.default_rng(0)
    if kind == "gemm":
        n = case["n"]
        a = rng.standard_normal((n, n)).astype(dt)
        b = rng.standard_normal((n, n)).astype(dt)
        c = np.empty((n, n), dtype=dt)
        return best(lambda: np.matmul(a, b, out=c))
    if kind == "softmax":
        x = rng.standard_normal((case["rows"], case["cols"])).astype(dt)
        return best(lambda: softmax(x))
    if kind == "layernorm":
        x = rng.standard_normal((case["rows"], case["cols"])).astype(dt)
        g = np.ones(case["cols"], dtype=dt)
        bb = np.zeros(case["cols"], dtype=dt)

        def ln():
            mu = x.mean(axis=-1, keepdims=True)
            var = x.var(axis=-1, keepdims=True)
            return (x - mu) / np.sqrt(var + 1e-5) * g + bb
        return best(ln)
    if kind == "attention":
        bh, lq, lk, d, nctx = case["batch"], case["lq"], case["lk"], case["d"], case["nctx"]
        q = rng.standard_normal((bh, lq, d)).astype(dt)
        k = rng.standard_normal((bh, lk, d)).astype(dt)
        v = rng.standard_normal((bh, lk, d)).astype(dt)
        scale = dt(1.0 / np.sqrt(d))

        def att():
            s = np.matmul(q, k[:, :nctx].transpose(0, 2, 1)) * scale
            return np.matmul(softmax(s), v[:, :nctx])
        return best(att)
    if kind == "adamw":
        n = case["n"]
        p = rng.standard_normal(n).astype(dt)
        g = rng.standard_normal(n).astype(dt)
        m = np.zeros(n, dtype=dt)
        v = np.zeros(n, dtype=dt)
        tmp = np.empty(n, dtype=dt)
        lr, b1, b2, eps, wd = 1e-3, 0.9, 0.999, 1e-8, 0.01

        def step():
            # In-place AdamW, the fastest plain-numpy form (one temporary buffer).
            np.multiply(p, 1 - lr * wd, out=p)
            np.multiply(m, b1, out=m)
            np.multiply(g, 1 - b1, out=tmp)
            np.add(m, tmp, out=m)
            np.multiply(v, b2, out=v)
            np.multiply(g, g, out=tmp)
            np.multiply(tmp, 1 - b2, out=tmp)
            np.add(v, tmp, out=v)
            np.sqrt(v, out=tmp)
            np.divide(tmp, np.sqrt(1 - b2), out=tmp)
            np.add(tmp, eps, out=tmp)
            np.divide(m, tmp, out=tmp)
            np.multiply(tmp, lr / (1 - b1), out=tmp)
            np.subtract(p, tmp, out=p)
        return best(step)
    if kind == "copy":
        n = case["n"]
        a = rng.standard_normal(n).astype(dt)
        b = np.empty_like(a)
        return best(lambda: np.copyto(b, a))
    raise ValueError("unknown case kind " + kind)


def main():
    cases = json.load(sys.stdin)
    kernel = "numpy " + np.__version__
    try:
        from threadpoolctl import threadpool_info
        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            kernel += " %s %s (%s, %d threads)" % (info[0].get("internal_api"), info[0].get("version"),
                                                   info[0].get("architecture"), info[0].get("num_threads"))
    except Exception:
        pass
    out = {}
    for case in cases:
        out[case["name"]] = {"seconds": run(case), "kernel": kernel}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
