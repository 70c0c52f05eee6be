# Classification tasks with more classes than the model's 10 outputs, from the corpus: in
# manifest order, every table with at least 1,000 rows and 3 to 60 columns whose last
# non-numeric column with 90% of its rows known has 11 to 40 distinct values, each on at
# least 8 rows. That column is the class (moved last), rows missing it dropped, and any
# other column equal to it up to renaming (a second spelling of the class) left out. At
# most 6 tasks. Derived files stay outside the repository: run it in the folder that
# should hold many/.
import csv, os
src = '/work/shared/data/corpus'
os.makedirs('many', exist_ok=True)
n = 0
def num(v):
    try: float(v); return True
    except ValueError: return False
for m in csv.DictReader(open(f'{src}/MANIFEST.csv')):
    if int(m['rows']) < 1000 or not 3 <= int(m['cols']) <= 60: continue
    rows = list(csv.reader(open(f"{src}/{m['file']}")))
    head, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    missing = ('', 'NA')
    pick = None
    for j in range(len(head)):
        vals = [r[j] for r in body if r[j].strip() not in missing]
        if len(vals) < 0.9 * len(body) or all(num(v) for v in vals): continue
        counts = {}
        for v in vals: counts[v] = counts.get(v, 0) + 1
        if 11 <= len(counts) <= 40 and min(counts.values()) >= 8: pick = j
    if pick is None: continue
    keep = [r for r in body if r[pick].strip() not in missing]
    def same(i):  # column i is a one-to-one relabelling of the class
        f, g = {}, {}
        for r in keep:
            if f.setdefault(r[i], r[pick]) != r[pick] or g.setdefault(r[pick], r[i]) != r[i]: return False
        return True
    cols = [i for i in range(len(head)) if i != pick and not same(i)]
    out = [[r[i] for i in cols] + [r[pick]] for r in [head] + keep]
    with open(f"many/{m['file'][:-4]}.csv", 'w', newline='') as f: csv.writer(f).writerows(out)
    n += 1
    print(m['file'], len(out) - 1, len(cols), head[pick], len({r[pick] for r in keep}))
    if n >= 6: break
