#!/usr/bin/python3
"""Classification and regression tasks from corpus tables that no shipped model was trained on,
made by a fixed rule without looking at any score.

Eligible tables: rows >= 200 and 3 <= columns <= 65 (the wider ones are the wide sets of
tabpfn-trained-width-2026-12-03), in MANIFEST order.
- classification: the last column with 2-10 distinct known values, each on >= 5% of the known
  rows and >= 90% of the rows known, is the class;
- regression: the last numeric column with >= 20 distinct known values and >= 90% of the rows
  known is the target.
The target is moved last and named `target`; rows missing it are dropped. Of the tables that
give a task, 40 at evenly spaced positions of the MANIFEST order are kept, so that every
package is drawn from rather than the first few.

usage: mktasks.py OUT_DIR   (writes OUT_DIR/tabular/*.csv and OUT_DIR/regression/*.csv;
the derived files stay outside the repository)
"""
import csv, os, sys

SRC = '/work/shared/data/corpus'
out_dir = sys.argv[1]
manifest = list(csv.DictReader(open(f'{SRC}/MANIFEST.csv')))
eligible = [m for m in manifest if int(m['rows']) >= 200 and 3 <= int(m['cols']) <= 65]


def is_number(v):
    try:
        float(v)
    except ValueError:
        return False
    return v.strip().lower() not in ('nan', 'inf', '-inf', '+inf', '')


def missing(v):
    return v.strip() in ('', 'NA')


def class_column(head, body):
    pick = None
    for j in range(len(head)):
        known = [r[j] for r in body if not missing(r[j])]
        if len(known) < 0.9 * len(body):
            continue
        levels = {}
        for v in known:
            levels[v] = levels.get(v, 0) + 1
        if 2 <= len(levels) <= 10 and min(levels.values()) >= 0.05 * len(known):
            pick = j
    return pick


def numeric_column(head, body):
    pick = None
    for j in range(len(head)):
        known = [r[j] for r in body if not missing(r[j])]
        if len(known) >= 0.9 * len(body) and all(is_number(v) for v in known) and len(set(known)) >= 20:
            pick = j
    return pick


def write(path, head, body, j):
    keep = [r for r in body if not missing(r[j])]
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow([c for i, c in enumerate(head) if i != j] + ['target'])
        for r in keep:
            w.writerow([c for i, c in enumerate(r) if i != j] + [r[j]])
    return len(keep)


def spread(items, n):
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


tasks = {'tabular': [], 'regression': []}
for m in eligible:
    rows = list(csv.reader(open(f"{SRC}/{m['file']}")))
    head, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    for kind, rule in (('tabular', class_column), ('regression', numeric_column)):
        j = rule(head, body)
        if j is not None:
            tasks[kind].append((m['file'][:-4], head, body, j))

for kind, found in tasks.items():
    os.makedirs(f'{out_dir}/{kind}', exist_ok=True)
    for name, head, body, j in spread(found, 40):
        n = write(f'{out_dir}/{kind}/{name}.csv', head, body, j)
        print(kind, name, n, len(head) - 1, head[j], sep='\t')
