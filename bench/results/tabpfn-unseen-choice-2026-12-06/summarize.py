"""Means of the unseen classification tasks with the context choice (one JSON per task and split,
s<K>-<task>.json, from run.sh / run0.sh) against the stored per-split results of the same tasks
before the choice (groups-2026-12-04/unseen-cls-keys.json) and the scikit-learn references.
Usage: summarize.py RESULTS_DIR KEYS_JSON"""
import json, glob, os, re, sys
res_dir, keys_path = sys.argv[1], sys.argv[2]
keys = json.load(open(keys_path))
old, refs = {}, {}
for d in keys['datasets']:
    if d.get('result'):
        old[d['dataset']] = {s['seed']: s for s in d['result']['splits']}
        refs[d['dataset']] = d['baselines']
new, local = {}, {}
for f in glob.glob(os.path.join(res_dir, 's*-*.json')):
    m = re.match(r's(\d)-(.*)\.json', os.path.basename(f))
    k, t = int(m[1]), m[2]
    d = json.load(open(f))['datasets'][0]
    if not d.get('result'):
        continue
    new.setdefault(t, {})[k] = d['result']['splits'][0]
    if any('each test row is predicted' in w for w in d.get('warnings', [])):
        local.setdefault(t, []).append(k)
splits = sorted({k for t in new for k in new[t]})
tasks = sorted(t for t in new if t in old and all(k in new[t] for k in splits))
mean = lambda xs: sum(xs) / len(xs)
print(f'splits {splits}, {len(tasks)} tasks with every one of them\n')
print('| task | splits with local contexts | AUC before the choice | with the choice | log loss before | with | forest | boosting | logistic |')
print('|---|---|---:|---:|---:|---:|---:|---:|---:|')
rows = []
for t in tasks:
    a0 = mean([old[t][k]['auc'] for k in splits]); a1 = mean([new[t][k]['auc'] for k in splits])
    l0 = mean([old[t][k]['logloss'] for k in splits]); l1 = mean([new[t][k]['logloss'] for k in splits])
    rows.append((t, a0, a1))
    if t in local or abs(a1 - a0) > 1e-4:
        r = refs[t]
        print(f"| {t.replace('__', ' ')} | {','.join(map(str, sorted(local.get(t, [])))) or '—'} | {a0:.4f} | **{a1:.4f}** | {l0:.4f} | {l1:.4f} | {r['rf']['auc']:.4f} | {r['hgb']['auc']:.4f} | {r['logreg']['auc']:.4f} |")
n = len(rows)
print(f"\nmean over {n} tasks: before {mean([r[1] for r in rows]):.4f}, with the choice {mean([r[2] for r in rows]):.4f}")
if splits == [0, 1, 2, 3, 4]:
    for b in ('rf', 'hgb', 'logreg'):
        print(f"  {b}: {mean([refs[t][b]['auc'] for t, _, _ in rows]):.4f}")
    above = {b: sum(r[2] > refs[r[0]][b]['auc'] for r in rows) for b in ('rf', 'hgb', 'logreg')}
    below = sum(r[2] < refs[r[0]]['logreg']['auc'] - 0.02 for r in rows)
    print(f"  kiln above forest / boosting / logistic on {above['rf']} / {above['hgb']} / {above['logreg']} of {n}; more than 0.02 below logistic on {below}")
