# Regression validation tasks from every corpus table with >=200 rows and >=3 columns: the last
# numeric column with >=20 distinct values is the target (moved last); rows missing it dropped.
# At most 40 tasks, taken in manifest order. Derived files stay outside the repository.
import csv
src='/work/shared/data/corpus'
man=list(csv.DictReader(open(f'{src}/MANIFEST.csv')))
n=0
for m in man:
    if int(m['rows'])<200 or int(m['cols'])<3: continue
    rows=list(csv.reader(open(f"{src}/{m['file']}")))
    head, body = rows[0], [r for r in rows[1:] if len(r)==len(rows[0])]
    def num(v):
        try: float(v); return v.strip().lower() not in ('nan','inf','-inf','')
        except: return False
    elig=[]
    for j,h in enumerate(head):
        vals=[r[j] for r in body if r[j].strip() not in ('','NA')]
        if len(vals)>=0.9*len(body) and all(num(v) for v in vals) and len(set(vals))>=20: elig.append(j)
    if not elig: continue
    j=elig[-1]
    out=[[c for i,c in enumerate(r) if i!=j]+[r[j]] for r in [head]+[r for r in body if r[j].strip() not in ('','NA')]]
    with open(f"val2/{m['file'][:-4]}.csv",'w',newline='') as f: csv.writer(f).writerows(out)
    n+=1
    print(m['file'], len(out)-1, len(head)-1, head[j])
    if n>=40: break
