#!/usr/bin/env python3
"""Windowed mean losses of the fp32 and bf16 logs and their paired difference: both runs
draw the same batches at every step (same seed), so the per-step difference bf16 − fp32
isolates the precision. Usage: python3 summary.py [dir]"""
import math, re, sys
d = sys.argv[1] if len(sys.argv) > 1 else "."
def read(p):
    out = {}
    for line in open(p):
        m = re.match(r"step (\d+)/\d+\s+loss (\S+).*?([\d.]+) datasets/s", line)
        if m:
            out[int(m[1])] = (float(m[2]), float(m[3]))
    return out
f, b = read(f"{d}/train-fp32.log"), read(f"{d}/train-bf16.log")
steps = sorted(set(f) & set(b))
def stats(xs):
    n = len(xs); m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    return m, sd / math.sqrt(n)
print(f"steps in both logs: {len(steps)} (last {steps[-1]})")
try:
    s2 = read(f"{d}/train-fp32-seed2.log")
except OSError:
    s2 = {}
print("| steps | fp32 mean loss | bf16 mean loss | mean of bf16 − fp32 (± s.e.) | s.d. of fp32 loss per step | fp32 seed 2 mean loss |")
print("|---|---|---|---|---|---|")
for lo, hi in [(1, 100), (101, 250), (251, 500), (501, 750), (751, 1000), (901, 1000)]:
    w = [s for s in steps if lo <= s <= hi]
    mf, _ = stats([f[s][0] for s in w]); mb, _ = stats([b[s][0] for s in w])
    md, se = stats([b[s][0] - f[s][0] for s in w])
    sdf = math.sqrt(sum((f[s][0] - mf) ** 2 for s in w) / (len(w) - 1))
    w2 = [s for s in w if s in s2]
    m2 = f"{stats([s2[s][0] for s in w2])[0]:.4f}" if len(w2) > 1 else "–"
    print(f"| {lo}–{hi} | {mf:.4f} | {mb:.4f} | {md:+.5f} ± {se:.5f} | {sdf:.3f} | {m2} |")
diffs = [b[s][0] - f[s][0] for s in steps]
print(f"\nper-step |bf16 − fp32| loss: mean {sum(map(abs, diffs)) / len(diffs):.5f}, max {max(map(abs, diffs)):.4f}; "
      f"steps whose printed loss differs: {sum(x != 0 for x in diffs)} of {len(diffs)}")
print(f"\nfinal datasets/s (whole run, shared 2-core VM): fp32 {f[steps[-1]][1]}, bf16 {b[steps[-1]][1]}"
      + (f", fp32 seed 2 {s2[max(s2)][1]}" if s2 else ""))
