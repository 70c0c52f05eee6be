# categories.py [--levels LO-HI] [--two-class] SRC DST [SRC DST ...]: lists and links the tables
# with a categorical (non-numeric) feature column of LO to HI values on one random training half
# (default 17 and up: the tables CodeStatistics changes at 16 categories). With --two-class,
# only the tables whose last column has two values (the two-class classification tasks).
import csv, glob, os, random, sys
args = sys.argv[1:]
lo, hi, two_class = 17, float('inf'), False
while args and args[0].startswith('--'):
    flag = args.pop(0)
    if flag == '--levels':
        a, b = args.pop(0).split('-')
        lo, hi = int(a), int(b)
    elif flag == '--two-class':
        two_class = True
    else:
        sys.exit(f'unknown flag {flag}')
def num(v):
    try: float(v); return True
    except: return False
for src, dst in zip(args[0::2], args[1::2]):
    os.makedirs(dst, exist_ok=True)
    for p in sorted(glob.glob(src + '/*.csv')):
        r = list(csv.reader(open(p))); h, b = r[0], r[1:]
        if two_class and len(set(x[-1] for x in b)) != 2:
            continue
        n = len(b); rows = random.Random(0).sample(range(n), min(n // 2, 1000)); hits = []
        for j in range(len(h) - 1):
            vals = [b[i][j] for i in rows if b[i][j] not in ('', 'NA')]
            if sum(not num(v) for v in vals) * 2 > len(vals) and lo <= len(set(vals)) <= hi:
                hits.append((h[j], len(set(vals))))
        if hits:
            print(os.path.basename(p), hits)
            t = os.path.join(dst, os.path.basename(p))
            if not os.path.exists(t): os.symlink(p, t)
