# affected.py SRC DST [SRC DST ...]: links into DST the tables of SRC with a categorical
# (non-numeric) feature column of 3 to 16 values on one random training half: the tables whose
# regression members of codes gain a mean-target column (codeStatisticsLevels). A SRC whose path
# names neither "regression" nor "val" is classification, and only its two-class tables count.
import csv, glob, os, random, sys
def num(v):
    try: float(v); return True
    except: return False
for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):
    os.makedirs(dst, exist_ok=True)
    for p in sorted(glob.glob(src + '/*.csv')):
        r = list(csv.reader(open(p))); h, b = r[0], r[1:]
        classes = set(x[-1] for x in b)
        if 'regression' not in src and 'val' not in src and len(classes) != 2: continue
        n = len(b); rows = random.Random(0).sample(range(n), min(n // 2, 1000)); hits = []
        for j in range(len(h) - 1):
            vals = [b[i][j] for i in rows if b[i][j] not in ('', 'NA')]
            if sum(not num(v) for v in vals) * 2 > len(vals) and 3 <= len(set(vals)) <= 16:
                hits.append((h[j], len(set(vals))))
        if hits:
            print(src.split('/')[-1], os.path.basename(p), hits)
            t = os.path.join(dst, os.path.basename(p))
            if not os.path.exists(t): os.symlink(p, t)
