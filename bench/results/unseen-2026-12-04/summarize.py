#!/usr/bin/python3
"""Tables of kiln against scikit-learn on the unseen corpus tasks.

usage: summarize.py KILN_JSON BASELINES_JSON [KILN_JSON_B LABEL_A LABEL_B]
(classification when the kiln JSON has AUC, regression when it has R²; with a second kiln JSON,
both are shown, and the paired difference B - A)
"""
import json, sys

kiln = json.load(open(sys.argv[1]))
refs = json.load(open(sys.argv[2]))
other = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else None
label_a, label_b = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else ("kiln", "kiln B")


def scores(doc):
    out = {}
    for d in doc["datasets"]:
        r = d.get("result")
        if r is None:
            continue
        out[d["dataset"]] = r.get("auc", r.get("r2"))
    return out


a = scores(kiln)
b = scores(other) if other else {}
metric = "AUC" if "auc" in next(iter(kiln["datasets"]))["result"] else "R²"
linear = "logreg" if metric == "AUC" else "ridge"
names = sorted(n for n in a if n in refs and (not other or n in b))
cols = [label_a] + ([label_b] if other else []) + [linear, "rf", "hgb"]
print(f"| task | rows | features | " + " | ".join(cols) + " | kiln − best tree | kiln − " + linear + " |")
print("|---|---:|---:|" + "---:|" * (len(cols) + 2))
sums = {c: 0.0 for c in cols}
wins = {"rf": 0, "hgb": 0, linear: 0}
below_linear = []
for n in names:
    m = refs[n]["models"]
    ref = {k: m[k]["auc" if metric == "AUC" else "r2"] for k in (linear, "rf", "hgb")}
    k = b[n] if other else a[n]
    row = [a[n]] + ([b[n]] if other else []) + [ref[linear], ref["rf"], ref["hgb"]]
    for c, v in zip(cols, row):
        sums[c] += v
    for key in wins:
        wins[key] += k > ref[key]
    if k < ref[linear] - 0.02:
        below_linear.append(n)
    tree = max(ref["rf"], ref["hgb"])
    print(f"| {n} | {refs[n]['rows']} | {refs[n]['features']} | " + " | ".join(f"{v:.4f}" for v in row)
          + f" | {k - tree:+.4f} | {k - ref[linear]:+.4f} |")
count = len(names)
print(f"| **mean ({count})** | | | " + " | ".join(f"**{sums[c] / count:.4f}**" for c in cols) + " | | |")
print()
print("kiln" + (f" ({label_b})" if other else "") + f" above, of {count}: " + ", ".join(f"{k} {v}" for k, v in wins.items()))
print(f"more than 0.02 below {linear}: {len(below_linear)}: " + ", ".join(below_linear))
missing = sorted(set(refs) - set(names))
if missing:
    print("without a kiln score (left out of the means): " + ", ".join(missing))
