"""Fresh small classification tasks (mkfresh.py): ROC AUC and log loss over 5 splits of the
classifier before stacking (f667db0: the choice with averaged candidates) and with it
(f8fd6d9), with the splits where the stacked classifier kept a mixture."""
import json, glob, os, re
here = os.path.dirname(os.path.abspath(__file__))
rows = []
for f in sorted(glob.glob(os.path.join(here, 'stacked-*.json'))):
    t = os.path.basename(f)[8:-5]
    b = os.path.join(here, 'before-' + t + '.json')
    if not os.path.getsize(f) or not os.path.exists(b) or not os.path.getsize(b):
        continue
    n, o = json.load(open(f))['datasets'][0], json.load(open(b))['datasets'][0]
    if 'result' not in n or 'result' not in o:
        print(t, n.get('error') or n.get('skipped'), o.get('error') or o.get('skipped'))
        continue
    mixed = sum('a mixture of predictions' in l for l in open(f[:-5] + '.log'))
    chose = sum('chosen by' in l for l in open(b[:-5] + '.log'))
    r = n['result']
    rows.append((t, r['rows'], r['classes'], o['result']['auc'], r['auc'], o['result']['logloss'], r['logloss'], chose, mixed))
print('| task | rows | classes | AUC before | AUC stacked | change | log loss before → stacked | splits off one context: before / stacked |')
print('|---|---:|---:|---:|---:|---:|---|---|')
for t, n, k, a0, a1, l0, l1, c, m in rows:
    print(f'| {t} | {n} | {k} | {a0:.4f} | {a1:.4f} | {a1 - a0:+.4f} | {l0:.4f} → {l1:.4f} | {c} / {m} |')
k = len(rows)
print(f'| **mean of {k}** | | | {sum(r[3] for r in rows)/k:.5f} | {sum(r[4] for r in rows)/k:.5f} | {sum(r[4]-r[3] for r in rows)/k:+.5f} | {sum(r[5] for r in rows)/k:.4f} → {sum(r[6] for r in rows)/k:.4f} | |')
