#!/usr/bin/python3
"""Anchor for kiln's randomized SVD: times scikit-learn's
sklearn.utils.extmath.randomized_svd on the matrix kiln's BenchmarkRSVD4096Rank50
(linalg/bench_test.go) uses, and prints the time and the accuracy as JSON.

The matrix is the same kind, not the same numbers (kiln draws from Philox, numpy from
PCG64): A = U diag(s) V^T, 4096 x 4096 float64, s_i = 0.95^i for the i with
s_i >= 1e-18 (808 values), U and V Haar-random orthonormal (QR of a Gaussian matrix with
the signs of R's diagonal made positive). Rank 50 with scikit-learn's defaults: 10
oversamples, n_iter='auto' (7 here), the LU normaliser; --normalizer QR runs the
Householder-QR normaliser instead (kiln's default normalises with CholeskyQR2).

Run it with the BLAS tuning variables of this machine unset so OpenBLAS picks its own
kernel, exactly as a user's numpy would:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/numpy/rsvd.py

The time is the best and the median of --rounds calls after one warm-up call.
"""
import argparse
import json
import platform
import statistics
import time

import numpy as np
import sklearn
from sklearn.utils.extmath import randomized_svd


def blas_info():
    try:
        import threadpoolctl
    except ImportError:
        return None
    return [
        {k: v for k, v in info.items() if k in ("internal_api", "version", "architecture", "num_threads")}
        for info in threadpoolctl.threadpool_info()
        if info.get("user_api") == "blas"
    ]


def haar(rng, m, r):
    q, rr = np.linalg.qr(rng.standard_normal((m, r)))
    return q * np.sign(np.diag(rr))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--rank", type=int, default=50)
    p.add_argument("--decay", type=float, default=0.95)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--normalizer", default="auto", choices=["auto", "LU", "QR", "none"])
    args = p.parse_args()

    s = args.decay ** np.arange(args.n)
    s = s[s >= 1e-18]
    rng = np.random.default_rng(1)
    u = haar(rng, args.n, len(s))
    v = haar(rng, args.n, len(s))
    a = (u * s) @ v.T
    del u, v
    optimal = float(np.sqrt(np.sum(s[args.rank:] ** 2) / np.sum(s ** 2)))

    def run():
        return randomized_svd(a, args.rank, random_state=0, power_iteration_normalizer=args.normalizer)

    run()  # warm-up
    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        uu, ss, vt = run()
        times.append(time.perf_counter() - t0)
    rel = float(np.linalg.norm(a - (uu * ss) @ vt) / np.linalg.norm(a))
    print(json.dumps({
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "blas": blas_info(),
        "machine": platform.processor() or platform.machine(),
        "n": args.n, "rank": args.rank, "decay": args.decay, "kept_singular_values": int(len(s)),
        "normalizer": args.normalizer,
        "best_seconds": min(times), "median_seconds": statistics.median(times),
        "relative_error": rel, "optimal_relative_error": optimal,
        "error_ratio": rel / optimal,
        "leading_singular_values": ss[:5].tolist(),
    }, indent=2))


if __name__ == "__main__":
    main()
