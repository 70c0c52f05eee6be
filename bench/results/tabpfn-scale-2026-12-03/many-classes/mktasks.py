#!/usr/bin/python3
"""Classification tasks of more than 10 classes from corpus tables no model was trained or tuned
on: the class is a categorical column of 12-27 real categories (not a year or a count), moved last
and named `target`; rows missing it are dropped. Baselines: unseen-2026-12-04/baselines.py OUT.

usage: mktasks.py OUT   (writes OUT/tabular/*.csv; the derived files stay outside the repository)
"""
import csv, os, sys
SRC = '/work/shared/data/corpus'
TASKS = [('HSAUR3__Forbes2000.csv', 'category'), ('plm__Males.csv', 'industry'),
         ('dslabs__gapminder.csv', 'region')]
out = os.path.join(sys.argv[1], 'tabular')
os.makedirs(out, exist_ok=True)
for name, column in TASKS:
    rows = list(csv.reader(open(os.path.join(SRC, name))))
    head, body = rows[0], rows[1:]
    j = head.index(column)
    body = [r for r in body if r[j] not in ('', 'NA')]
    with open(os.path.join(out, name), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow([h for i, h in enumerate(head) if i != j] + ['target'])
        for r in body:
            w.writerow([v for i, v in enumerate(r) if i != j] + [r[j]])
    print(name, len(body))
