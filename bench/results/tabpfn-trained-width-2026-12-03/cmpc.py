# Paired comparison of two or more `kiln tabpfn eval --json` runs over the same tasks and splits:
# mean AUC, accuracy and log loss per run, and per task the AUC of each, with how many tasks
# and splits the later runs beat the first on.
import json, sys, statistics as st
runs = [json.load(open(f)) for f in sys.argv[1:]]
names = [f.rsplit('/', 1)[-1].removesuffix('.json') for f in sys.argv[1:]]
def by_task(r):
    return {d['dataset']: d['result']['splits'] for d in r['datasets'] if 'result' in d}
tasks = [by_task(r) for r in runs]
common = [t for t in tasks[0] if all(t in x for x in tasks)]
print('| task | ' + ' | '.join(names) + ' |')
print('|---|' + '---:|' * len(names))
for t in common:
    print(f'| {t} | ' + ' | '.join(f"{st.mean(s['auc'] for s in x[t]):.4f}" for x in tasks) + ' |')
for m in ('auc', 'acc', 'logloss'):
    print(f'| **mean {m}** | ' + ' | '.join(f"{st.mean(st.mean(s[m] for s in x[t]) for t in common):.4f}" for x in tasks) + ' |')
for i in range(1, len(tasks)):
    bt = sum(st.mean(s['auc'] for s in tasks[i][t]) > st.mean(s['auc'] for s in tasks[0][t]) for t in common)
    bs = sum(a['auc'] > b['auc'] for t in common for a, b in zip(tasks[i][t], tasks[0][t]))
    ns = sum(len(tasks[0][t]) for t in common)
    ll = sum(st.mean(s['logloss'] for s in tasks[i][t]) < st.mean(s['logloss'] for s in tasks[0][t]) for t in common)
    print(f'{names[i]} vs {names[0]}: AUC better on {bt}/{len(common)} tasks, {bs}/{ns} splits; log loss lower on {ll}/{len(common)} tasks')
