"""Split 0 of the unseen regression tasks: R² with the current defaults (s0-*.json here,
binary of fec3c01) against the split-0 run behind the README's earlier figure
(tabpfn-local-small-2026-12-05/unseen-auto-s0.json, a binary of 2026-12-05), task by task,
with the baselines' means."""
import json, os, glob
here = os.path.dirname(os.path.abspath(__file__))
old = {d['dataset']: d for d in json.load(open(os.path.join(here, '..', '..', 'tabpfn-local-small-2026-12-05', 'unseen-auto-s0.json')))['datasets'] if d.get('result')}
new = {}
for f in glob.glob(os.path.join(here, 's0-*.json')):
    d = json.load(open(f))['datasets'][0]
    if d.get('result'):
        new[d['dataset']] = d
tasks = sorted(set(old) & set(new))
print('| task | R² before | R² now | change |')
print('|---|---:|---:|---:|')
for t in tasks:
    a, b = old[t]['result']['r2'], new[t]['result']['r2']
    if abs(a - b) > 5e-5:
        print(f'| {t} | {a:.4f} | {b:.4f} | {b - a:+.4f} |')
n = len(tasks)
mean = lambda f: sum(f(t) for t in tasks) / n
print(f"\n{n} tasks (unchanged tasks within 5e-5 are not listed): before {mean(lambda t: old[t]['result']['r2']):.4f}, now {mean(lambda t: new[t]['result']['r2']):.4f}")
with_b = [t for t in tasks if 'baselines' in new[t]]
k = len(with_b)
print(f"the {k} tasks with reference scores (five-split means of the baselines): kiln {sum(new[t]['result']['r2'] for t in with_b) / k:.4f}, " +
      ', '.join(f"{m} {sum(new[t]['baselines'][m]['r2'] for t in with_b) / k:.4f}" for m in ('rf', 'hgb', 'ridge')))
