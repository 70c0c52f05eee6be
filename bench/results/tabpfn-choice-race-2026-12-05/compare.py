"""Compares the old choice with the raced one per task: chosen size, each size's held-out
loss (identical where the race let the size run), and the wall time of choice-only runs."""
import re, sys, glob, collections

def choice(path):
    for line in open(path):
        if line.startswith("CHOICE"):
            m = re.match(r"CHOICE (\d+) rows=(\d+) (.*)", line.strip())
            return int(m.group(1)), int(m.group(2)), m.group(3)
    return None

def losses(text):
    part = text.split("log loss: ", 1)[1].rstrip(")")
    out = {}
    for item in re.split(r", (?=(?:\d+|all) rows )", part):
        m = re.match(r"(\d+ rows|all rows) ([\d.e+-]+)(.*)", item)
        out[m.group(1)] = (m.group(2), "stopped" in m.group(3), m.group(3))
    return out

times = collections.defaultdict(dict)
for line in open("ab-times.txt"):
    t, b, s = line.split()
    times[t][b] = float(s)
new = sys.argv[1] if len(sys.argv) > 1 else "race2"
print(f"| task | training rows | chosen: old / raced | held-out log loss, old | raced (stopped sizes: mean on the rows seen) | seconds, old → raced |")
print("|---|---:|---|---|---|---|")
tot = collections.Counter()
for t in times:
    if new not in times[t] or "old" not in times[t]:
        continue
    a, b = choice(f"logs/ab-old-{t}.log"), choice(f"logs/ab-{new}-{t}.log")
    if a is None or b is None:
        continue
    la, lb = losses(a[2]), losses(b[2])
    same = all(lb[k][0] == la[k][0] for k in lb if not lb[k][1])
    cells = []
    for k in la:
        v = lb[k]
        cells.append(f"{k} {v[0]}" + (f" (stopped{v[2].split(', then')[0].replace(' on the first', ' at')})" if v[1] else ""))
    print(f"| {t} | {a[1]} | {a[0]} / {b[0]}{'' if a[0]==b[0] else ' **differs**'} | {', '.join(f'{k} {v[0]}' for k,v in la.items())} | {'; '.join(cells)}{'' if same else ' **a running size differs**'} | {times[t]['old']:.0f} → {times[t][new]:.0f} |")
    tot["old"] += times[t]["old"]; tot[new] += times[t][new]; tot["n"] += 1
print(f"\n{tot['n']} tasks: {tot['old']:.0f} s → {tot[new]:.0f} s ({tot[new]/tot['old']:.2f})")
