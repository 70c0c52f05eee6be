#!/usr/bin/python3
"""Fresh small classification tasks for the stacking rule: the classification rule of
bench/results/unseen-2026-12-04/mktasks.py on every eligible corpus table, less the 40 tasks
that file keeps, with 128-511 rows (64-255 training rows under the protocol), 12 at evenly
spaced positions of the MANIFEST order. No score is looked at.

usage: mkfresh.py OUT_DIR"""
import csv, os, sys, importlib.util
spec = importlib.util.spec_from_file_location('mk', '/work/main/bench/results/unseen-2026-12-04/mktasks.py')
out = sys.argv[1]
sys.argv = ['mktasks.py', '/tmp/mk-unused']
mk = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mk)  # writes the 40 kept tasks to /tmp/mk-unused
kept = set(os.path.splitext(f)[0] for f in os.listdir('/tmp/mk-unused/tabular'))
fresh = []
for name, head, body, j in mk.tasks['tabular']:
    n = sum(1 for r in body if not mk.missing(r[j]))
    if name not in kept and 128 <= n <= 511:
        fresh.append((name, head, body, j))
os.makedirs(out, exist_ok=True)
for name, head, body, j in mk.spread(fresh, 12):
    n = mk.write(f'{out}/{name}.csv', head, body, j)
    print(name, n, len(head) - 1, head[j], sep='\t')
print(len(fresh), 'candidates', file=sys.stderr)
