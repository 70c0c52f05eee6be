"""The regressor's cross-validated choice at margins 0, 0.5 and 1: per split, the size and z
from the debug build's CHOICE lines, and the R² of that size from the forced runs."""
import json, re, os, glob, sys
here = os.path.dirname(os.path.abspath(__file__))
F = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'forced')
L = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, 'debug')
def sp(p): return [s['r2'] for s in json.load(open(p))['datasets'][0]['result']['splits']]
margins = [0, 0.5, 1]
tot = {m: [] for m in margins}; base = []; unseen = {m: [] for m in margins}; ubase = []
for f in sorted(glob.glob(os.path.join(L, 'dbg-*.log'))):
    t = os.path.basename(f)[4:-4]
    lines = [l for l in open(f) if l.startswith('CHOICE')]
    if len(lines) != 5: continue
    r = {k: sp(os.path.join(F, f'f{k}-{t}.json')) for k in (0, 16, 32)}
    out = {m: [] for m in margins}; desc = []
    for K, l in enumerate(lines):
        m_ = re.match(r'CHOICE: (\d+) .*ZDEBUG ([-\d.]+)', l)
        rows, z = (int(m_[1]), float(m_[2])) if m_ else (0, -1.0)
        desc.append(f"{rows}@{z:.2f}" if rows else "all")
        for m in margins:
            out[m].append(r[rows][K] if (rows and z > m) else r[0][K])
    mean = lambda xs: sum(xs) / len(xs)
    print(f"{t:28s} one {mean(r[0]):.4f} | " + ' '.join(f"m{m}: {mean(out[m]):.4f}" for m in margins) + "  | " + ' '.join(desc))
    base.append(mean(r[0]))
    for m in margins: tot[m].append(mean(out[m]))
    if t not in ('cpus', 'mpg', 'servo'):
        ubase.append(mean(r[0]))
        for m in margins: unseen[m].append(mean(out[m]))
n = len(base)
print(f"\nall {n}: one {sum(base)/n:.4f}; " + ', '.join(f"margin {m}: {sum(tot[m])/n:.4f}" for m in margins))
if ubase: print(f"unseen {len(ubase)}: one {sum(ubase)/len(ubase):.4f}; " + ', '.join(f"margin {m}: {sum(unseen[m])/len(ubase):.4f}" for m in margins))
