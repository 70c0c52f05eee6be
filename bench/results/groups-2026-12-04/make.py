# Synthetic grouped designs (a fixed seed) for checking that a model matches rows on equal values.
import numpy as np, csv, sys
rng = np.random.default_rng(7)
def write(name, cols, y, ntr):
    hdr = list(cols.keys()) + ["y"]
    n = len(y); idx = rng.permutation(n); tr, te = idx[:ntr], idx[ntr:]
    for part, ii in (("train", tr), ("test", te)):
        with open(f"{name}-{part}.csv", "w", newline="") as f:
            w = csv.writer(f); w.writerow(hdr)
            for i in ii: w.writerow([f"{cols[c][i]:.6g}" for c in cols] + [f"{y[i]:.6g}"])
def ids(G, n):
    g = rng.integers(0, G, n); perm = rng.permutation(G) + 1; return g, perm[g].astype(float)
# 1: identifier stored as a number, intercept per group, a weak row feature.
G, n = 40, 600
g, idv = ids(G, n); u = rng.normal(0, 1, G); x = rng.normal(0, 1, n)
write("id", {"id": idv, "x": x}, u[g] + 0.3 * x + 0.2 * rng.normal(0, 1, n), 300)
# 2: group-level covariates (no identifier), intercept per group.
g, _ = ids(G, n); z1 = rng.normal(0, 1, G); z2 = rng.normal(0, 1, G)
write("level", {"z1": z1[g], "z2": z2[g], "x": x}, u[g] + 0.3 * x + 0.2 * rng.normal(0, 1, n), 300)
# 3: panel: 30 firms over 12 years, intercept and slope per firm.
F, T = 30, 12
g = np.repeat(np.arange(F), T); t = np.tile(np.arange(T), F).astype(float)
perm = rng.permutation(F) + 100; a = rng.normal(0, 1, F); b = rng.normal(0, 0.3, F)
write("panel", {"firm": perm[g].astype(float), "year": 2000 + t}, a[g] + b[g] * (t - 5.5) + 0.1 * rng.normal(0, 1, F * T), 240)
