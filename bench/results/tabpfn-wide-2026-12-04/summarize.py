#!/usr/bin/env python3
"""Tables of the wide-table evaluation: kiln's score per table for each way of choosing a
member's features, beside scikit-learn's on the same tables (baselines.py).

usage: summarize.py   (in this folder)
"""
import ast
import json
import os


def anchors(path, models):
    """The scores of baselines.py: its JSON, or else the lines of its log (baselines.out),
    which give the ROC AUC or R² of each table finished so far by the given models."""
    if os.path.exists(path):
        return {t: {m: v for m, v in d["models"].items()} for t, d in json.load(open(path)).items()}
    out = {}
    for line in open("baselines.out"):
        name, scores = line.split(" ", 1)
        scores = ast.literal_eval(scores)
        if set(models) <= set(scores):
            out[name] = {m: {"auc": v, "r2": v} for m, v in scores.items()}
    return out


def scores(path, metric):
    d = json.load(open(path))
    return {x["dataset"]: x["result"][metric] for x in d["datasets"]}


for task, metric, refs, runs in [
    ("classification", "auc", ("tabular-baselines.json", ["logreg", "rf", "hgb"]),
     [("random", "wide-classification-random.json"), ("relevance, η²", "wide-classification-relevance.json"),
      ("relevance, ε²", "wide-classification-relevance-eps.json"),
      ("relevance, chance level", "wide-classification-chance.json"),
      ("narrower members", "wide-classification-narrow.json")]),
    ("regression", "r2", ("regression-baselines.json", ["ridge", "rf", "hgb"]),
     [("random", "wide-regression-random.json"), ("relevance, η²", "wide-regression-relevance.json"),
      ("relevance, ε²", "wide-regression-relevance-eps.json"),
      ("relevance, chance level", "wide-regression-chance.json"),
      ("narrower members", "wide-regression-narrow.json")]),
]:
    cols = [(name, scores(f, metric)) for name, f in runs]
    base = anchors(refs[0], refs[1])
    names = sorted(cols[0][1])
    print(f"\n{task} ({'ROC AUC' if metric == 'auc' else 'R²'}):\n")
    print("| table | " + " | ".join(n for n, _ in cols) + " | " + " | ".join(refs[1]) + " |")
    print("|---" * (1 + len(cols) + len(refs[1])) + "|")
    sums = [0.0] * (len(cols) + len(refs[1]))
    counted = 0
    for t in names:
        vals = [c[t] for _, c in cols] + [base[t][m][metric] if t in base else None for m in refs[1]]
        print(f"| {t} | " + " | ".join("–" if v is None else f"{v:.4f}" for v in vals) + " |")
        if None not in vals:
            sums = [s + v for s, v in zip(sums, vals)]
            counted += 1
    if counted < len(names):
        print(f"| mean ({len(names)}) | " + " | ".join(f"{sum(c.values()) / len(c):.4f}" for _, c in cols)
              + " |" + " – |" * len(refs[1]))
    print(f"| **mean ({counted} with anchors)** | " + " | ".join(f"**{s / counted:.4f}**" for s in sums) + " |")
