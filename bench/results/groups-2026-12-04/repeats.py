# repeats.py SRC DST [SRC DST ...]: the first rule tried, repeats alone (more than 16 values,
# 3 training rows per value on average, on any of 5 random training halves); lists and links
# the tables it takes.
import csv, glob, os, random, sys
def num(v):
    try: float(v); return True
    except: return False
def affected(p):
    r = list(csv.reader(open(p))); h, b = r[0], r[1:]
    n = len(b); ntr = min(n // 2, 1000); hits = []
    for j in range(len(h) - 1):
        vals = [x[j] for x in b]
        if not all(num(v) or v in ('', 'NA') for v in vals): continue
        for s in range(5):
            rows = random.Random(s).sample(range(n), ntr)
            known = [float(b[i][j]) for i in rows if num(b[i][j])]
            d = len(set(known))
            if d > 16 and len(known) >= 3 * d:
                hits.append((h[j], d, len(known))); break
    return hits
for src, dst in [(a, b) for a, b in zip(sys.argv[1::2], sys.argv[2::2])]:
    os.makedirs(dst, exist_ok=True)
    for p in sorted(glob.glob(src + '/*.csv')):
        hits = affected(p)
        if hits:
            print(os.path.basename(p), hits)
            t = os.path.join(dst, os.path.basename(p))
            if not os.path.exists(t): os.symlink(p, t)
