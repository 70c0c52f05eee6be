#!/usr/bin/env python3
"""Tables of the foundation-model measurements from the logs and JSON in this folder.

Eval logs give four decimals; the JSON reports full precision and is used where present.
"""
import json, os, re, sys

here = os.path.dirname(os.path.abspath(__file__))

def from_log(path):
    out, name = {}, None
    for line in open(path):
        m = re.match(r"\[\d+/\d+\] (\S+): \d+ rows", line)
        if m:
            name = m.group(1)
        m = re.match(r"\s+AUC ([0-9.]+),", line)
        if m and name:
            out[name] = float(m.group(1))
    return out

def from_json(path):
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return {}
    rep = json.load(open(path))
    return {d["dataset"]: d["result"]["auc"] for d in rep["datasets"] if d.get("result")}

def scores(prefix):
    s = from_log(os.path.join(here, prefix + ".log"))
    s.update(from_json(os.path.join(here, prefix + ".json")))
    return s

shipped = scores("eval-shipped")
shipped.update(scores("eval-shipped-rest"))
arms = {"shipped": shipped, "cont-prior": scores("eval-cont-prior"), "cont-corpus": scores("eval-cont-corpus")}
if os.path.exists(os.path.join(here, "eval-cont-corpus-ho5.json")):
    arms["cont-corpus-ho5"] = scores("eval-cont-corpus-ho5")
names = sorted(set.intersection(*(set(v) for v in arms.values())))
print("## Pre-training continuation, shared protocol (2 splits, 1 member, no pairs)\n")
print("| table | " + " | ".join(arms) + " |")
print("|---|" + "---|" * len(arms))
for n in names:
    print(f"| {n} | " + " | ".join(f"{arms[a][n]:.4f}" for a in arms) + " |")
print(f"| **mean ({len(names)})** | " + " | ".join(f"**{sum(arms[a][n] for n in names)/len(names):.4f}**" for a in arms) + " |")

# Fine-tuning and embeddings (bench/foundation), with scikit-learn's 5-split references.
ref = json.load(open(os.path.join(here, "..", "..", "..", "..", "shared", "data", "tabular-baselines.json")))
for name, cols in (("finetune", ["tabpfn", "finetuned"]), ("embed", ["lr_raw", "lr_embed"])):
    path = os.path.join(here, name + ".json")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        continue
    rows = json.load(open(path))
    print(f"\n## {name} (bench/foundation, 2 splits)\n")
    print("| table | " + " | ".join(cols) + " | sklearn logreg (5 splits) |")
    print("|---|" + "---|" * (len(cols) + 1))
    for r in rows:
        lr = ref.get(r["dataset"], {}).get("models", {}).get("logreg", {}).get("auc", float("nan"))
        print(f"| {r['dataset']} | " + " | ".join(f"{r['auc'][c]:.4f}" for c in cols) + f" | {lr:.4f} |")
    print(f"| **mean ({len(rows)})** | " + " | ".join(f"**{sum(r['auc'][c] for r in rows)/len(rows):.4f}**" for c in cols) + " | |")
