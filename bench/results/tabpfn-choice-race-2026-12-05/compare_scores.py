"""Compares each table's split-0 test scores and time between two `kiln tabpfn eval --json` runs."""
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def rows(d):
    return {x["dataset"]: x["result"]["splits"][0] for x in d["datasets"] if "result" in x}
ra, rb = rows(a), rows(b)
print("| table | ROC AUC | log loss | same bits | seconds, before → after |")
print("|---|---:|---:|---|---:|")
for t in ra:
    x, y = ra[t], rb[t]
    same = x["auc"] == y["auc"] and x["logloss"] == y["logloss"] and x["acc"] == y["acc"]
    print(f"| {t} | {y['auc']:.4f} | {y['logloss']:.4f} | {'yes' if same else '**no**'} | {x['fit_sec']+x['predict_sec']:.1f} → {y['fit_sec']+y['predict_sec']:.1f} |")
