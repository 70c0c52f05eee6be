# Regression validation tasks from the wide corpus tables (>32 features, >=200 rows): for each
# table, the first and the last numeric column with >=20 distinct values become the target (moved
# last); rows missing it are dropped. Derived files stay outside the repository.
import csv, sys, os
src='/work/shared/data/corpus'
man=list(csv.DictReader(open(f'{src}/MANIFEST.csv')))
wide=[x for x in man if int(x['cols'])>33 and int(x['rows'])>=200]
for m in wide:
    rows=list(csv.reader(open(f"{src}/{m['file']}")))
    head, body = rows[0], rows[1:]
    def num(v):
        try: float(v); return v.strip().lower() not in ('nan','inf','-inf','')
        except: return False
    elig=[]
    for j,h in enumerate(head):
        vals=[r[j] for r in body if j<len(r) and r[j].strip() not in ('','NA')]
        if len(vals)>=0.9*len(body) and all(num(v) for v in vals) and len(set(vals))>=20: elig.append(j)
    pick=sorted(set([elig[0], elig[-1]])) if elig else []
    for j in pick:
        out=[[c for i,c in enumerate(r) if i!=j]+[r[j]] for r in [head]+[r for r in body if len(r)==len(head) and r[j].strip() not in ('','NA')]]
        name=f"{m['file'][:-4]}__{head[j]}.csv".replace('/','_')
        with open(f'val/{name}','w',newline='') as f: csv.writer(f).writerows(out)
        print(name, len(out)-1, len(head)-1)
