"""The regression tables of 64 to 127 training rows, 5 splits: R² and CRPS of the shipped
cross-validated choice (margin 1, tabpfn-local-small-regressor-2026-12-06/shipped) and of the
choice with averaged candidates (runs/ here), with what each split took."""
import json, re, os, glob
here = os.path.dirname(os.path.abspath(__file__))
prev = os.path.join(here, '..', '..', 'tabpfn-local-small-regressor-2026-12-06', 'shipped')
def load(p):
    ds = json.load(open(p))['datasets'][0]
    return ds['result'], ds.get('baselines', {})
def taken(log):
    out = []
    for l in open(log):
        m = re.search(r'mean of the predictions from the (\d+) of', l)
        if m: out.append(m[1] + '+all'); continue
        m = re.search(r'predicted from the (\d+) of', l)
        if m: out.append(m[1])
    return out
rows = []
for f in sorted(glob.glob(os.path.join(here, 'runs', 'avg-*.json'))):
    t = os.path.basename(f)[4:-5]
    new, base = load(f)
    old, _ = load(os.path.join(prev, t + '.json'))
    rows.append((t, old, new, base))
print('| table | R² shipped | R² with averages | change | CRPS shipped | CRPS with averages | forest R² | split R² with averages | taken, on the splits that did not keep one context |')
print('|---|---:|---:|---:|---:|---:|---:|---|---|')
for t, old, new, base in rows:
    rf = base.get('rf', {}).get('r2', float('nan'))
    print(f"| {t} | {old['r2']:.4f} | {new['r2']:.4f} | {new['r2'] - old['r2']:+.4f} | {old.get('crps', float('nan')):.4g} | {new.get('crps', float('nan')):.4g} | {rf:.4f} | {' '.join('%.4f' % s['r2'] for s in new['splits'])} | {', '.join(taken(os.path.join(here, 'runs', f'avg-{t}.log')))} |")
n = len(rows)
print(f"\nmean R² of {n}: shipped {sum(r[1]['r2'] for r in rows)/n:.4f}, with averages {sum(r[2]['r2'] for r in rows)/n:.4f}")
