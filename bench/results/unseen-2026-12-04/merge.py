#!/usr/bin/python3
"""Replaces the tasks of a kiln eval JSON by those of another run (the tasks a change
affects), writing the merged JSON to stdout; the means are recomputed over the merged tasks.

usage: merge.py BASE_JSON CHANGED_JSON > MERGED_JSON
"""
import json, sys

base = json.load(open(sys.argv[1]))
changed = {d["dataset"]: d for d in json.load(open(sys.argv[2]))["datasets"]}
base["datasets"] = [changed.get(d["dataset"], d) for d in base["datasets"]]
scored = [d["result"] for d in base["datasets"] if d.get("result")]
for key in ("auc", "acc", "logloss", "r2", "crps", "coverage90"):
    if scored and key in scored[0]:
        base["mean"][key] = sum(r[key] for r in scored) / len(scored)
base["merged_from"] = [sys.argv[1], sys.argv[2]]
json.dump(base, sys.stdout, indent=1)
