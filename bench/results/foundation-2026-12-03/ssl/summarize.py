"""Summarises the ablation's training logs and held-out scores (run in this folder)."""
import json, re, statistics as st
arms = ["column", "column-masked", "column-masked-contrastive", "column-masked-contrastive-t0.1",
        "s2-column", "s2-column-masked-contrastive-t0.1"]
for a in arms:
    steps, took = [], "?"
    try:
        f = open(f"train-{a}.log")
    except FileNotFoundError:
        print(a, "missing")
        continue
    for line in f:
        m = re.match(r"step (\d+)/\d+\s+loss ([\d.]+)\s+avg ([\d.]+)(?:\s+masked ([\d.]+))?(?:\s+contrastive ([\d.]+))?", line)
        if m:
            steps.append([float(x) if x else None for x in m.groups()])
        if line.startswith("trained"):
            took = line.split(" in ")[1].split(" on ")[0]
    mk = [s[3] for s in steps if s[3] is not None]
    ct = [s[4] for s in steps if s[4] is not None]
    out = f"{a}: {len(steps)} steps in {took}, final avg task loss {steps[-1][2]:.4f}"
    if mk:
        out += f"; masked (corpus steps, unweighted) first 10 {st.mean(mk[:10]):.4f}, last 10 {st.mean(mk[-10:]):.4f}"
    if ct:
        out += f"; contrastive first 10 {st.mean(ct[:10]):.4f}, last 10 {st.mean(ct[-10:]):.4f}"
    print(out)
for f in ["corpusloss.json", "corpusloss-t0.1.json", "corpusloss-s2.json", "auxloss-all.json",
          "auxloss-baseline-t0.1.json"]:
    try:
        print(f, json.load(open(f)))
    except (FileNotFoundError, json.JSONDecodeError):
        print(f, "missing")
