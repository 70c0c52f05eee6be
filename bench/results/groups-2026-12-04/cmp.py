# cmp.py A.json B.json: per-dataset R² (or ROC AUC) of two evaluation runs, and their means.
import json, sys
def load(p):
    out = {}
    for r in json.load(open(p))['datasets']:
        res = r.get('result')
        if res: out[r['dataset']] = res.get('r2', res.get('auc'))
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
common = [k for k in a if k in b]
for k in common:
    d = b[k] - a[k]
    print(f"{k:40s} {a[k]:.4f} {b[k]:.4f} {d:+.4f}" + (" *" if abs(d) > 1e-9 else ""))
print(f"{'mean (%d)' % len(common):40s} {sum(a[k] for k in common)/len(common):.4f} {sum(b[k] for k in common)/len(common):.4f}")
