# Classification validation tasks from the wide corpus tables (>65 columns, >=200 rows), made by a
# fixed rule without looking at scores: the first and the last column with 2-10 distinct known
# values, each level on >=5% of the known rows and >=90% known, become the class (moved last);
# a table with none gets its last numeric column with >=20 distinct values split at its median.
# Rows missing the class are dropped. Derived files stay outside the repository.
import csv, statistics
src='/work/shared/data/corpus'
man=list(csv.DictReader(open(f'{src}/MANIFEST.csv')))
wide=[x for x in man if int(x['cols'])>65 and int(x['rows'])>=200]
def num(v):
    try: float(v); return v.strip().lower() not in ('nan','inf','-inf','')
    except: return False
for m in wide:
    rows=list(csv.reader(open(f"{src}/{m['file']}")))
    head, body = rows[0], [r for r in rows[1:] if len(r)==len(rows[0])]
    known=lambda j: [r[j] for r in body if r[j].strip() not in ('','NA')]
    cats=[]
    for j in range(len(head)):
        vals=known(j)
        if len(vals) < 0.9*len(body): continue
        levels={}
        for v in vals: levels[v]=levels.get(v,0)+1
        if 2 <= len(levels) <= 10 and min(levels.values()) >= 0.05*len(vals): cats.append(j)
    picks=[]
    if cats:
        for j in sorted(set([cats[0], cats[-1]])): picks.append((j, None))
    else:
        nums=[j for j in range(len(head)) if len(known(j))>=0.9*len(body) and all(num(v) for v in known(j)) and len(set(known(j)))>=20]
        if nums: picks.append((nums[-1], statistics.median(float(v) for v in known(nums[-1]))))
    for j, med in picks:
        keep=[r for r in body if r[j].strip() not in ('','NA')]
        lab=lambda r: r[j] if med is None else ('hi' if float(r[j])>med else 'lo')
        out=[[c for i,c in enumerate(head) if i!=j]+[head[j]]]+[[c for i,c in enumerate(r) if i!=j]+[lab(r)] for r in keep]
        name=f"{m['file'][:-4]}__{head[j]}.csv".replace('/','_')
        with open(f'val/{name}','w',newline='') as f: csv.writer(f).writerows(out)
        print(name, len(out)-1, len(head)-1, 'median' if med is not None else 'categorical')
