# keys.py SRC DST [SRC DST ...]: lists the tables of SRC with a numeric column that
# preprocess.Config.KeyStatistics would take as a key of groups on one random training half
# (50/50, at most 1000 rows), and links them into DST. It mirrors the Go rule (isGroupKey):
# more than 16 values, 3 rows per value on average, and another column constant within the
# key's values far beyond chance that is not a monotone one-to-one map of the key. An
# approximation, for choosing which tables to rerun; the scores come from kiln itself.
import csv, glob, os, random, sys
from collections import Counter, defaultdict
def num(v):
    try: float(v); return True
    except: return False
def keys(p, reps=3.0, thr=0.9):
    r = list(csv.reader(open(p))); h, b = r[0], r[1:]
    n = len(b); ntr = min(n // 2, 1000)
    rows = random.Random(0).sample(range(n), ntr)
    T = [[b[i][j] for i in rows] for j in range(len(h) - 1)]
    out = []
    for j, col in enumerate(T):
        if not all(num(v) or v in ('', 'NA') for v in col): continue
        known = [v for v in col if num(v)]
        d = len(set(float(v) for v in known))
        if not (d > 16 and len(known) >= reps * d): continue
        groups = defaultdict(list)
        for i, v in enumerate(col):
            if num(v): groups[float(v)].append(i)
        multi = [g for g in groups.values() if len(g) >= 2]
        for k, other in enumerate(T):
            if k == j: continue
            cnt = Counter(other); tot = len(other)
            if len(cnt) < 2: continue
            p = {v: c / tot for v, c in cnt.items()}
            obs = sum(len(set(other[i] for i in g)) == 1 for g in multi) / len(multi)
            exp = sum(sum(q ** len(g) for q in p.values()) for g in multi) / len(multi)
            if exp <= 0.5 and (obs - exp) / (1 - exp) >= thr:
                if len(cnt) >= d:
                    firsts = sorted((float(col[g[0]]), other[g[0]]) for g in groups.values() if len(set(other[i] for i in g)) == 1)
                    def key(v):
                        try: return (0, float(v))
                        except: return (1, v)
                    seq = [key(c) for _, c in firsts]
                    if all(a <= b for a, b in zip(seq, seq[1:])) or all(a >= b for a, b in zip(seq, seq[1:])):
                        continue
                out.append((h[j], h[k], round(obs, 2), round(exp, 2))); break
    return out
for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):
    os.makedirs(dst, exist_ok=True)
    for p in sorted(glob.glob(src + '/*.csv')):
        k = keys(p)
        if k:
            print(os.path.basename(p), k)
            t = os.path.join(dst, os.path.basename(p))
            if not os.path.exists(t): os.symlink(p, t)
