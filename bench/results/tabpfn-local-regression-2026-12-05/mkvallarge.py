# Large regression validation tasks from the corpus: in manifest order, every table with at
# least 2,200 rows (more than 1,024 training rows after a 50/50 split), 3 to 60 columns, and
# a numeric column with at least 20 distinct values; the last such column is the target
# (moved last), rows missing it dropped (mkval2.py's rule). At most 8 tasks. Derived files
# stay outside the repository: run it in the folder that should hold valL/.
import csv, os
src = '/work/shared/data/corpus'
os.makedirs('valL', exist_ok=True)
n = 0
for m in csv.DictReader(open(f'{src}/MANIFEST.csv')):
    if int(m['rows']) < 2200 or not 3 <= int(m['cols']) <= 60: continue
    rows = list(csv.reader(open(f"{src}/{m['file']}")))
    head, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    def num(v):
        try: float(v); return v.strip().lower() not in ('nan', 'inf', '-inf', '')
        except ValueError: return False
    elig = []
    for j, h in enumerate(head):
        vals = [r[j] for r in body if r[j].strip() not in ('', 'NA')]
        if len(vals) >= 0.9 * len(body) and all(num(v) for v in vals) and len(set(vals)) >= 20: elig.append(j)
    if not elig: continue
    j = elig[-1]
    out = [[c for i, c in enumerate(r) if i != j] + [r[j]] for r in [head] + [r for r in body if r[j].strip() not in ('', 'NA')]]
    with open(f"valL/{m['file'][:-4]}.csv", 'w', newline='') as f: csv.writer(f).writerows(out)
    n += 1
    print(m['file'], len(out) - 1, len(head) - 1, head[j])
    if n >= 8: break
