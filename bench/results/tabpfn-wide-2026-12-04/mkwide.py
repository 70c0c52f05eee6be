#!/usr/bin/env python3
"""Writes tables wider than kiln's 500-feature limit: shared tables padded with noise columns
(each a standard normal, or a uniform draw, shuffled independently of the target), and one
synthetic table with a few informative columns among many.

usage: mkwide.py SHARED_DATA_DIR OUT_DIR
"""
import csv, math, os, random, sys

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out + "/tabular", exist_ok=True)
os.makedirs(out + "/regression", exist_ok=True)


def pad(path, dst, width, seed):
    rng = random.Random(seed)
    with open(path) as f:
        rows = list(csv.reader(f))
    head, body = rows[0], rows[1:]
    extra = width - (len(head) - 1)
    names = ["noise%d" % i for i in range(extra)]
    with open(dst, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(head[:-1] + names + head[-1:])
        for r in body:
            z = ["%.4f" % (rng.gauss(0, 1) if i % 2 == 0 else rng.random()) for i in range(extra)]
            w.writerow(r[:-1] + z + r[-1:])


# Real signal among noise: the table's own columns, then noise up to 2,000 columns in all.
for name in ["sonar", "breast_cancer", "vehicle", "pima_diabetes"]:
    pad(f"{src}/tabular/{name}.csv", f"{out}/tabular/{name}_pad2000.csv", 2000, 1)
for name in ["boston", "concrete", "ozone", "biomass"]:
    pad(f"{src}/regression/{name}.csv", f"{out}/regression/{name}_pad2000.csv", 2000, 2)

# Synthetic: 2,000 rows, 10 informative columns (standard normal), 20 noisy linear
# combinations of them, 1,970 noise columns; the class is the sign of a nonlinear function
# of the informative columns plus noise, and the regression target is that function.
rng = random.Random(3)
n, inf, red, noise = 2000, 10, 20, 1970
mix = [[rng.gauss(0, 1) for _ in range(inf)] for _ in range(red)]
rows_c, rows_r = [], []
for _ in range(n):
    x = [rng.gauss(0, 1) for _ in range(inf)]
    f = x[0] * x[1] + math.sin(2 * x[2]) + x[3] - 0.5 * x[4] ** 2 + 0.7 * x[5] + 0.5 * abs(x[6]) * x[7] + 0.4 * x[8] - 0.3 * x[9]
    r = [sum(m[j] * x[j] for j in range(inf)) / math.sqrt(inf) + 0.3 * rng.gauss(0, 1) for m in mix]
    z = [rng.gauss(0, 1) for _ in range(noise)]
    cols = x + r + z
    e = 0.5 * rng.gauss(0, 1)
    rows_c.append(cols + ["pos" if f + e > 0 else "neg"])
    rows_r.append(cols + ["%.5f" % (f + e)])
head = ["x%d" % i for i in range(inf + red + noise)]
# The informative and redundant columns are not first: shuffle the column order once.
order = list(range(len(head)))
rng.shuffle(order)
for rows, dst in [(rows_c, "tabular/synthetic2000.csv"), (rows_r, "regression/synthetic2000.csv")]:
    with open(f"{out}/{dst}", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([head[i] for i in order] + ["target"])
        for r in rows:
            w.writerow(["%.4f" % r[i] for i in order] + [r[-1]])
