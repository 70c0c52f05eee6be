#!/usr/bin/env python3
"""Relative distance ‖θ_bf16 − θ_fp32‖ / ‖θ_fp32‖ between the model parameters (float32
entries "model.*") of two training checkpoints. Usage: python3 params.py A B"""
import array, json, math, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k.startswith("model.") and v["dtype"] == "F32":
            s, e = v["data_offsets"]
            a = array.array("f"); a.frombytes(b[8 + n + s:8 + n + e]); out[k] = a
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
d = sum((x - y) ** 2 for k in a for x, y in zip(a[k], b[k]))
n = sum(x * x for k in a for x in a[k])
print(f"{len(a)} parameter tensors, {sum(len(v) for v in a.values())} values; relative distance {math.sqrt(d / n):.4g}")
