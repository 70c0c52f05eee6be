"""Outcome of the cross-validated choice at several margins, per table and split: the CV
losses and z from the debug binary's CHOICE lines, test AUC of one context (the stored runs)
and of forced local contexts of 16 and 32 rows."""
import json, re, os, sys, glob
R = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
here = os.path.dirname(os.path.abspath(__file__))
lossdir, forcedir = os.path.join(here, 'choice-losses'), os.path.join(here, 'forced')
def splits(p):
    return [s['auc'] for s in json.load(open(p))['datasets'][0]['result']['splits']]
shared_one = {}
for K in range(5):
    for ds in json.load(open(f'{R}/tabpfn-choice-shared-2026-12-05/choice-split{K}.json'))['datasets']:
        if ds.get('result'):
            shared_one.setdefault(ds['dataset'], []).append(ds['result']['splits'][0]['auc'])
def one(t):
    if t in shared_one:
        return shared_one[t]
    return [json.load(open(f'{R}/tabpfn-unseen-choice-2026-12-06/s{K}-{t}.json'))['datasets'][0]['result']['splits'][0]['auc'] for K in range(5)]
rx = re.compile(r'CHOICE: (\d+) (.*)')
margins = [0, 0.5, 1]
tot = {m: [] for m in margins}; base = []
print('| table | split | CV log loss: 16 / 32 / all | z | AUC one | 16 | 32 |')
for f in sorted(glob.glob(os.path.join(lossdir, 'dbg-*.log'))):
    t = os.path.basename(f)[4:-4]
    if not os.path.exists(os.path.join(forcedir, f'f32-{t}.json')) or not os.path.exists(os.path.join(lossdir, f'dbg-{t}.json')):
        continue
    lines = [l for l in open(f) if l.startswith('CHOICE')]
    a1 = one(t); a16 = splits(os.path.join(forcedir, f'f16-{t}.json')); a32 = splits(os.path.join(forcedir, f'f32-{t}.json'))
    res = {m: [] for m in margins}
    for K, l in enumerate(lines):
        m_ = rx.match(l); txt = m_[2]
        ls = dict((int(a) if a != 'all' else 0, float(b)) for a, b in re.findall(r'(\d+|all) rows ([\d.e+-]+)', txt.split('log loss: ')[1]))
        z = re.search(r'within (-?[\d.e+-]+) standard errors of the best, (\d+) rows', txt)
        if z: zv, best = float(z[1]), int(z[2])
        elif 'predicted held-out rows best' in txt: zv, best = -1, 0
        else: zv, best = 9, int(m_[1])
        auc = {0: a1[K], 16: a16[K], 32: a32[K]}
        print(f"| {t} | {K} | " + ' / '.join(f"{ls.get(s, float('nan')):.4f}" for s in (16, 32, 0)) + f" | {zv:.2f} ({best}) | {a1[K]:.4f} | {a16[K]:.4f} | {a32[K]:.4f} |")
        for m in margins:
            res[m].append(auc[best] if (best > 0 and zv > m) else auc[0])
    if len(lines) != 5: continue
    mean = lambda xs: sum(xs)/len(xs)
    print(f"|   {t} mean | | | | {mean(a1):.4f} | {mean(a16):.4f} | {mean(a32):.4f} | margins " + ', '.join(f"{m}: {mean(res[m]):.4f}" for m in margins))
    base.append(mean(a1))
    for m in margins: tot[m].append(mean(res[m]))
n = len(base)
print(f"\n{n} tables: one context {sum(base)/n:.4f}; " + ', '.join(f"margin {m}: {sum(tot[m])/n:.4f}" for m in margins))
