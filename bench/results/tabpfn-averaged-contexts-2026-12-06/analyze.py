"""Per table, 5 splits: test ROC AUC of one context, of the shipped cross-validated choice
(margin 0, from tabpfn-local-small-classifier-2026-12-06/analysis.md, where it is given to four decimals, so the change is taken from the new AUC so rounded) and of the choice with
averaged candidates (the runs here), with the candidate each split took and the forest's AUC."""
import json, re, os, glob
here = os.path.dirname(os.path.abspath(__file__))
prev = os.path.join(here, '..', 'tabpfn-local-small-classifier-2026-12-06', 'analysis.md')
rx = re.compile(r'^\|   (\S+) mean \| \| \| \| ([\d.]+) \| [\d.]+ \| [\d.]+ \| margins 0: ([\d.]+)')
before = {}
for l in open(prev):
    m = rx.match(l)
    if m:
        before[m[1]] = (float(m[2]), float(m[3]))
shared = {'glass', 'sonar', 'iris', 'wine', 'ionosphere', 'house_votes_84'}
rows, sums = [], {'one': [], 'shipped': [], 'averaged': [], 'rf': []}
def taken(w):
    m = re.search(r'mean of those from the (\d+) of', w)
    if m:
        return m[1] + '+all'
    m = re.search(r'predicted from the (\d+) of', w)
    return m[1] if m else 'all'
for f in sorted(glob.glob(os.path.join(here, 'runs', 'avg-*.json'))):
    t = os.path.basename(f)[4:-5]
    ds = json.load(open(f))['datasets'][0]
    r = ds['result']
    log = open(f[:-5] + '.log').read()
    picks = [taken(l) for l in log.splitlines() if 'chosen by' in l or 'predicted held-out rows best' in l]
    one, shipped = before[t]
    rf = ds['baselines']['rf']['auc']
    rows.append((t, one, shipped, r['auc'], rf, ' '.join(f"{s['auc']:.4f}" for s in r['splits']), ', '.join(picks), r['sec']))
    for k, v in zip(('one', 'shipped', 'averaged', 'rf'), (one, shipped, r['auc'], rf)):
        sums[k].append(v)
print('| table | one context | shipped choice | with averaged candidates | change | forest | split AUCs | taken, on the splits that did not keep one context | seconds a split |')
print('|---|---:|---:|---:|---:|---:|---|---|---:|')
for t, one, shipped, avg, rf, spl, picks, sec in rows:
    name = t + (' (shared)' if t in shared else '')
    print(f'| {name} | {one:.4f} | {shipped:.4f} | {avg:.4f} | {round(avg, 4) - shipped:+.4f} | {rf:.4f} | {spl} | {picks} | {sec:.1f} |')
n = len(rows)
m = {k: sum(v) / n for k, v in sums.items()}
print(f"| **mean of {n}** | {m['one']:.4f} | {m['shipped']:.4f} | {m['averaged']:.4f} | {m['averaged'] - m['shipped']:+.4f} | {m['rf']:.4f} | | | |")
for group, keep in (('shared', lambda t: t in shared), ('unseen', lambda t: t not in shared)):
    sel = [x for x in rows if keep(x[0])]
    k = len(sel)
    print(f"\n{group} ({k}): one {sum(x[1] for x in sel)/k:.4f}, shipped {sum(x[2] for x in sel)/k:.4f}, averaged {sum(x[3] for x in sel)/k:.4f}, forest {sum(x[4] for x in sel)/k:.4f}")
