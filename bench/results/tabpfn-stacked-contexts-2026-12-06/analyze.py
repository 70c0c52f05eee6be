"""Per table, 5 splits: test ROC AUC and log loss of the choice with averaged candidates (the
runs of tabpfn-averaged-contexts-2026-12-06, the classifier before) and of stacked contexts
(shipped/ or no-margin/ here), the forest's AUC, seconds a split (fit plus predict, the machine shared with
other runs in both), and the mean weights the stacking gave one context and the local
sizes over the five splits (a split whose weights went all to one context counts as 1, 0, 0)."""
import json, re, os, glob, sys
here = os.path.dirname(os.path.abspath(__file__))
# The runs to compare: shipped/ (stackedm-*.json) by default, or no-margin/ (stacked-*.json).
runs, prefix = (sys.argv[1], sys.argv[2]) if len(sys.argv) > 2 else ('shipped', 'stackedm')
prev = os.path.join(here, '..', 'tabpfn-averaged-contexts-2026-12-06', 'runs')
shared = {'glass', 'sonar', 'iris', 'wine', 'ionosphere', 'house_votes_84'}
def weights(log, splits):
    ws = []
    for l in log.splitlines():
        m = re.search(r'weighted \(([^)]*)\)', l)
        if not m:
            continue
        w = {'all': 0.0, '16': 0.0, '32': 0.0}
        for part in m[1].split(', '):
            v = float(part.split()[-1])
            k = 'all' if part.startswith('one context') else part.split()[1]
            w[k] = v
        ws.append(w)
    mixed = len(ws)
    ws += [{'all': 1.0, '16': 0.0, '32': 0.0}] * (splits - len(ws))
    return {k: sum(w[k] for w in ws) / splits for k in ('all', '16', '32')}, mixed
rows = []
for f in sorted(glob.glob(os.path.join(here, runs, prefix + '-*.json'))):
    t = os.path.basename(f)[len(prefix) + 1:-5]
    if os.path.getsize(f) == 0:
        continue  # still running
    new = json.load(open(f))['datasets'][0]
    old = json.load(open(os.path.join(prev, 'avg-' + t + '.json')))['datasets'][0]
    w, mixed = weights(open(f[:-5] + '.log').read(), len(new['result']['splits']))
    rows.append((t, old['result'], new['result'], new['baselines']['rf']['auc'], w, mixed))
print('| table | AUC, choice with averages | AUC, stacked | change | forest | log loss: choice → stacked | splits mixed | mean weights: all / 16 / 32 | seconds a split: choice → stacked |')
print('|---|---:|---:|---:|---:|---|---:|---|---|')
for t, o, n, rf, w, mixed in rows:
    name = t + (' (shared)' if t in shared else '')
    print(f"| {name} | {o['auc']:.4f} | {n['auc']:.4f} | {n['auc'] - o['auc']:+.4f} | {rf:.4f} | {o['logloss']:.4f} → {n['logloss']:.4f} | {mixed} | {w['all']:.2f} / {w['16']:.2f} / {w['32']:.2f} | {o['sec']:.1f} → {n['sec']:.1f} |")
def m(sel, k):
    return sum(k(x) for x in sel) / len(sel)
for group, keep in (('all 18', lambda t: True), ('shared 6', lambda t: t in shared), ('unseen 12', lambda t: t not in shared)):
    sel = [x for x in rows if keep(x[0])]
    print(f"\n{group} ({len(sel)}): choice {m(sel, lambda x: x[1]['auc']):.5f}, stacked {m(sel, lambda x: x[2]['auc']):.5f} ({m(sel, lambda x: x[2]['auc'] - x[1]['auc']):+.5f}), forest {m(sel, lambda x: x[3]):.5f}; log loss {m(sel, lambda x: x[1]['logloss']):.4f} → {m(sel, lambda x: x[2]['logloss']):.4f}")
