#!/usr/bin/env python3
"""Prints the tables of tabpfn-featuresel-2026-12-03.md from the eval JSON files here."""
import json, sys, os
def load(f, key):
    if not os.path.exists(f): return {}
    try: d = json.load(open(f))
    except Exception: return {}
    out = {}
    for ds in d['datasets']:
        sp = (ds.get('result') or {}).get('splits') or []
        if sp: out[ds['dataset']] = sum(s[key] for s in sp) / len(sp)
    return out
def table(title, files, key):
    runs = [(lab, load(f, key)) for lab, f in files]
    names = [n for n in runs[0][1]]
    if not names:
        return
    print('\n' + title + '\n')
    print('| table | ' + ' | '.join(l for l, _ in runs) + ' |')
    print('|---|' + '---:|' * len(runs))
    for n in names:
        print('| %s | ' % n + ' | '.join('%.4f' % r[n] if n in r else '' for _, r in runs) + ' |')
    print('| **mean (%d)** | ' % len(names) + ' | '.join('**%.4f**' % (sum(r[n] for n in names) / len(names)) if all(n in r for n in names) else '' for _, r in runs) + ' |')
table('Classification, 8 features per member (ROC AUC)', [('random', 'cls-f8-random.json'), ('relevance', 'cls-f8-relevance.json'), ('relevance, raw axes only', 'cls-f8-relevance2.json')], 'auc')
table('Classification, 16 features per member (ROC AUC)', [('random', 'cls-f16-random.json'), ('relevance', 'cls-f16-relevance.json')], 'auc')
table('Regression, 8 features per member (R²)', [('random', 'reg-f8-random.json'), ('relevance', 'reg-f8-relevance.json')], 'r2')

def splits(f, key):
    d = json.load(open(f))
    return {ds['dataset']: [s[key] for s in ds['result']['splits']] for ds in d['datasets'] if (ds.get('result') or {}).get('splits')}
print('\nPaired splits (relevance above random / splits), per comparison:')
for lab, a, b, key in [('cls 8', 'cls-f8-random.json', 'cls-f8-relevance.json', 'auc'), ('cls 16', 'cls-f16-random.json', 'cls-f16-relevance.json', 'auc'), ('reg 8', 'reg-f8-random.json', 'reg-f8-relevance.json', 'r2')]:
    if not (os.path.exists(a) and os.path.exists(b)) or os.path.getsize(b) == 0:
        continue
    try:
        A, B = splits(a, key), splits(b, key)
    except Exception:
        continue
    wins = tot = 0
    for n in A:
        if n in B:
            wins += sum(1 for x, y in zip(A[n], B[n]) if y > x); tot += len(A[n])
    print('- %s: %d / %d' % (lab, wins, tot))
