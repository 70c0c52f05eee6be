# Classification validation tasks from the corpus, made by a fixed rule without looking at
# scores: every corpus table with >=200 rows and >=3 columns whose last column with 2-10
# distinct known values (each on >=5% of the known rows, >=90% known) becomes the class,
# moved last; rows missing it are dropped. At most 40 tasks in manifest order. Derived files
# stay outside the repository.
import csv, sys
src='/work/shared/data/corpus'
dst=sys.argv[1]
man=list(csv.DictReader(open(f'{src}/MANIFEST.csv')))
n=0
for m in man:
    if int(m['rows'])<200 or int(m['cols'])<3: continue
    rows=list(csv.reader(open(f"{src}/{m['file']}")))
    head, body = rows[0], [r for r in rows[1:] if len(r)==len(rows[0])]
    cats=[]
    for j in range(len(head)):
        vals=[r[j] for r in body if r[j].strip() not in ('','NA')]
        if len(vals) < 0.9*len(body): continue
        levels={}
        for v in vals: levels[v]=levels.get(v,0)+1
        if 2 <= len(levels) <= 10 and min(levels.values()) >= 0.05*len(vals): cats.append(j)
    if not cats: continue
    j=cats[-1]
    out=[[c for i,c in enumerate(r) if i!=j]+[r[j]] for r in [head]+[r for r in body if r[j].strip() not in ('','NA')]]
    with open(f"{dst}/{m['file'][:-4]}.csv",'w',newline='') as f: csv.writer(f).writerows(out)
    n+=1
    print(m['file'], len(out)-1, len(head)-1, head[j])
    if n>=40: break
