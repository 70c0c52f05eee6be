#!/usr/bin/env python3
"""PyTorch anchors for kiln's CUDA kernels, measured in the same run on the same GPU.

Measures what `kiln cudabench` measures, the same way (CUDA events, median of N after two
warm-ups, random inputs, never zeros):

  * SGEMM fp32 n×n×n for n in 1024, 2048, 4096 through torch.matmul with TF32 disabled
    (torch.backends.cuda.matmul.allow_tf32 = False, float32 matmul precision "highest"), so
    cuBLAS runs true fp32 FFMA like kiln.
  * Attention forward and forward+backward at TabPFN shapes (batch·heads 1024, 1024 queries,
    1024 keys of which the first 896 are context, head dim 32 and 64), fp32, through
    torch.nn.functional.scaled_dot_product_attention two ways: (a) with the equivalent
    boolean mask over all 1024 keys, (b) with K and V sliced to the 896 context keys and no
    mask (the same function, and the fastest path torch offers for it).
  * Device-to-device copy bandwidth (bytes read + written) of a 1 GiB tensor.

Then it merges kiln's JSON (from `kiln cudabench --json`) and writes report.md and
anchors.json under --out. Ratios are kiln rate / torch rate (above 1: kiln faster).
"""
import argparse
import datetime
import json
import math
import os
import sys


def median_ms(fn, reps):
    import torch
    fn()
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    return times[len(times) // 2]


def sgemm(n, reps):
    import torch
    g = torch.Generator(device="cuda").manual_seed(n)
    a = torch.rand(n, n, device="cuda", generator=g) * 2 - 1
    b = torch.rand(n, n, device="cuda", generator=g) * 2 - 1
    c = torch.empty(n, n, device="cuda")
    ms = median_ms(lambda: torch.matmul(a, b, out=c), reps)
    ref = (a.double() @ b.double())
    rel = ((c.double() - ref).norm() / ref.norm()).item()
    return {"n": n, "ms": ms, "tflops": 2 * n ** 3 / (ms * 1e-3) / 1e12, "rel_err": rel}


def dgemm(n, reps):
    import torch
    g = torch.Generator(device="cuda").manual_seed(n)
    a = torch.rand(n, n, device="cuda", generator=g, dtype=torch.float64) * 2 - 1
    b = torch.rand(n, n, device="cuda", generator=g, dtype=torch.float64) * 2 - 1
    c = torch.empty(n, n, device="cuda", dtype=torch.float64)
    ms = median_ms(lambda: torch.matmul(a, b, out=c), reps)
    return {"n": n, "ms": ms, "tflops": 2 * n ** 3 / (ms * 1e-3) / 1e12}


def bf16_gemm(n, reps):
    import torch
    g = torch.Generator(device="cuda").manual_seed(n)
    a = (torch.rand(n, n, device="cuda", generator=g) * 2 - 1).bfloat16()
    b = (torch.rand(n, n, device="cuda", generator=g) * 2 - 1).bfloat16()
    c = torch.empty(n, n, device="cuda", dtype=torch.bfloat16)
    ms = median_ms(lambda: torch.matmul(a, b, out=c), reps)
    return {"n": n, "ms": ms, "tflops": 2 * n ** 3 / (ms * 1e-3) / 1e12}


def tf32_gemm(n, reps):
    """sgemm with TF32 allowed (torch.backends.cuda.matmul.allow_tf32), then restored."""
    import torch
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        return sgemm(n, reps)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev


def attention(batch, lq, lk, nctx, d, reps):
    import torch
    import torch.nn.functional as F
    g = torch.Generator(device="cuda").manual_seed(d)
    q = torch.randn(batch, 1, lq, d, device="cuda", generator=g)
    k = torch.randn(batch, 1, lk, d, device="cuda", generator=g)
    v = torch.randn(batch, 1, lk, d, device="cuda", generator=g)
    do = torch.randn(batch, 1, lq, d, device="cuda", generator=g)
    mask = torch.zeros(lq, lk, dtype=torch.bool, device="cuda")
    mask[:, :nctx] = True  # True = may attend
    flops = batch * lq * nctx * d
    out = {"batch": batch, "lq": lq, "lk": lk, "ncontext": nctx, "d": d}
    for name, kk, vv, m in (("masked", k, v, mask), ("sliced", k[:, :, :nctx], v[:, :, :nctx], None)):
        qr, kr, vr = (t.detach().clone().requires_grad_(True) for t in (q, kk, vv))

        def fwd():
            return F.scaled_dot_product_attention(qr, kr, vr, attn_mask=m)

        def fwd_bwd():
            o = F.scaled_dot_product_attention(qr, kr, vr, attn_mask=m)
            o.backward(do)
            qr.grad = kr.grad = vr.grad = None

        with torch.no_grad():
            f_ms = median_ms(fwd, reps)
        fb_ms = median_ms(fwd_bwd, reps)
        out[name] = {"fwd_ms": f_ms, "fwd_bwd_ms": fb_ms, "bwd_ms": fb_ms - f_ms,
                     "fwd_tflops": 4 * flops / (f_ms * 1e-3) / 1e12,
                     "bwd_tflops": 10 * flops / ((fb_ms - f_ms) * 1e-3) / 1e12}
        del qr, kr, vr
    return out


def attention_bf16_fwd(batch, lq, lk, nctx, d, reps):
    """bfloat16 q, k, v (SDPA picks its flash or efficient kernel), the forward alone and
    forward + backward: the anchor of kiln's tensor-core kernels (KILN_CUDA_FA_BF16): the
    bfloat16 forward (kiln_attn_fwd_fa_bf16_*) and the mixed-precision forward and backward
    (kiln_attn_*_fa_f32_*)."""
    import torch
    import torch.nn.functional as F
    g = torch.Generator(device="cuda").manual_seed(d)
    q, k, v = (torch.randn(batch, 1, n, d, device="cuda", generator=g).to(torch.bfloat16) for n in (lq, lk, lk))
    mask = torch.zeros(lq, lk, dtype=torch.bool, device="cuda")
    mask[:, :nctx] = True
    flops = batch * lq * nctx * d
    out = {"batch": batch, "lq": lq, "lk": lk, "ncontext": nctx, "d": d}
    do = torch.randn(batch, 1, lq, d, device="cuda", generator=g).to(torch.bfloat16)
    for name, kk, vv, m in (("masked", k, v, mask), ("sliced", k[:, :, :nctx], v[:, :, :nctx], None)):
        with torch.no_grad():
            f_ms = median_ms(lambda: F.scaled_dot_product_attention(q, kk, vv, attn_mask=m), reps)
        qr, kr, vr = (t.detach().clone().requires_grad_(True) for t in (q, kk, vv))

        def fwd_bwd():
            o = F.scaled_dot_product_attention(qr, kr, vr, attn_mask=m)
            o.backward(do)
            qr.grad = kr.grad = vr.grad = None

        fb_ms = median_ms(fwd_bwd, reps)
        out[name] = {"fwd_ms": f_ms, "fwd_tflops": 4 * flops / (f_ms * 1e-3) / 1e12,
                     "fwd_bwd_ms": fb_ms, "bwd_ms": fb_ms - f_ms,
                     "bwd_tflops": 10 * flops / ((fb_ms - f_ms) * 1e-3) / 1e12}
        del qr, kr, vr
    return out


def copy_bw(reps, n):
    import torch
    src = torch.rand(n, device="cuda")
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), reps)
    return {"bytes": 4 * n, "ms": ms, "gbps_read_plus_write": 2 * 4 * n / (ms * 1e-3) / 1e9}


def adamw_bw(reps, n):
    """torch.optim.AdamW(fused=True) over one n-parameter fp32 tensor; AdamW moves 28 bytes a
    parameter (read p, g, m, v; write p, m, v), the same count kiln bench uses."""
    import torch
    p = torch.nn.Parameter(torch.rand(n, device="cuda"))
    p.grad = torch.rand(n, device="cuda")
    opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=0.01, fused=True)
    ms = median_ms(opt.step, reps)
    return {"params": n, "ms": ms, "gbps": 28 * n / (ms * 1e-3) / 1e9}


def fmt(x, spec=".3f"):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def ratio(a, b):
    return None if not a or not b else a / b


def report(kiln, torch_res, path, bench=None):
    lines = []
    dev = kiln.get("device", {}) if kiln else {}
    lines.append(f"# kiln CUDA kernels vs PyTorch, {torch_res['date']}\n")
    lines.append(f"GPU: {torch_res['gpu']} ({dev.get('description', '?')}); torch {torch_res['torch']}, "
                 f"CUDA {torch_res['cuda']}. Medians of {torch_res['reps']} CUDA-event timings after 2 warm-ups; "
                 "ratio = kiln rate / torch rate (above 1: kiln faster). Both fp32 without TF32.\n")
    lines.append("## SGEMM fp32 (n×n×n)\n")
    lines.append("| n | kiln ms | kiln TFLOP/s | torch ms | torch TFLOP/s | ratio | kiln rel err |")
    lines.append("|---|---|---|---|---|---|---|")
    kg = {r["n"]: r for r in (kiln or {}).get("sgemm") or []}
    for t in torch_res["sgemm"]:
        k = kg.get(t["n"], {})
        lines.append(f"| {t['n']} | {fmt(k.get('ms'))} | {fmt(k.get('tflops'), '.2f')} | {fmt(t['ms'])} | "
                     f"{fmt(t['tflops'], '.2f')} | {fmt(ratio(k.get('tflops'), t['tflops']), '.2f')} | "
                     f"{fmt(k.get('rel_err'), '.1e')} |")
    if torch_res.get("tf32_gemm"):
        lines.append("\n## TF32 tensor-core GEMM (n×n×n; torch with allow_tf32)\n")
        lines.append("| n | kiln ms | kiln TFLOP/s | torch ms | torch TFLOP/s | ratio | kiln rel err | torch rel err |")
        lines.append("|---|---|---|---|---|---|---|---|")
        kt = {r["n"]: r for r in (kiln or {}).get("tf32_gemm") or []}
        for t in torch_res["tf32_gemm"]:
            k = kt.get(t["n"], {})
            lines.append(f"| {t['n']} | {fmt(k.get('ms'))} | {fmt(k.get('tflops'), '.2f')} | {fmt(t['ms'])} | "
                         f"{fmt(t['tflops'], '.2f')} | {fmt(ratio(k.get('tflops'), t['tflops']), '.2f')} | "
                         f"{fmt(k.get('rel_err'), '.1e')} | {fmt(t['rel_err'], '.1e')} |")
    if torch_res.get("bf16_gemm"):
        lines.append("\n## BF16 tensor-core GEMM (n×n×n, bfloat16 in and out, fp32 accumulation)\n")
        lines.append("| n | kiln TFLOP/s | torch TFLOP/s | ratio | kiln rel err |")
        lines.append("|---|---|---|---|---|")
        kb = {r["n"]: r for r in (kiln or {}).get("bf16_gemm") or []}
        for t in torch_res["bf16_gemm"]:
            k = kb.get(t["n"], {})
            lines.append(f"| {t['n']} | {fmt(k.get('tflops'), '.2f')} | {fmt(t['tflops'], '.2f')} | "
                         f"{fmt(ratio(k.get('tflops'), t['tflops']), '.2f')} | {fmt(k.get('rel_err'), '.1e')} |")
    if torch_res.get("dgemm"):
        lines.append("\n## FP64 GEMM (n×n×n): the 16×16 kernel and the FP64 tensor-core kernel (DMMA)\n")
        lines.append("| n | kiln 16×16 TFLOP/s | kiln DMMA TFLOP/s | torch TFLOP/s | DMMA ratio | DMMA rel err |")
        lines.append("|---|---|---|---|---|---|")
        kd = {r["n"]: r for r in (kiln or {}).get("dgemm") or []}
        km = {r["n"]: r for r in (kiln or {}).get("dmma_gemm") or []}
        for t in torch_res["dgemm"]:
            d, m = kd.get(t["n"], {}), km.get(t["n"], {})
            lines.append(f"| {t['n']} | {fmt(d.get('tflops'), '.2f')} | {fmt(m.get('tflops'), '.2f')} | "
                         f"{fmt(t['tflops'], '.2f')} | {fmt(ratio(m.get('tflops'), t['tflops']), '.2f')} | "
                         f"{fmt(m.get('rel_err'), '.1e')} |")
    lines.append("\n## Attention fp32, TabPFN shapes (batch·heads, queries, keys, context keys, head dim)\n")
    lines.append("| shape | kiln fwd ms | torch fwd ms (masked / sliced) | fwd ratio vs sliced | "
                 "kiln bwd ms | torch bwd ms (masked / sliced) | bwd ratio vs sliced | kiln rel err O/dQ/dK/dV |")
    lines.append("|---|---|---|---|---|---|---|---|")
    ka = {r["d"]: r for r in (kiln or {}).get("attention") or []}
    for t in torch_res["attention"]:
        k = ka.get(t["d"], {})
        shape = f"{t['batch']}×{t['lq']}×{t['lk']} (ctx {t['ncontext']}), d={t['d']}"
        m, s = t["masked"], t["sliced"]
        errs = "/".join(fmt(k.get(x), ".1e") for x in ("rel_err_o", "rel_err_dq", "rel_err_dk", "rel_err_dv"))
        lines.append(f"| {shape} | {fmt(k.get('fwd_ms'))} | {fmt(m['fwd_ms'])} / {fmt(s['fwd_ms'])} | "
                     f"{fmt(ratio(s['fwd_ms'], k.get('fwd_ms')), '.2f')} | {fmt(k.get('bwd_ms'))} | "
                     f"{fmt(m['bwd_ms'])} / {fmt(s['bwd_ms'])} | {fmt(ratio(s['bwd_ms'], k.get('bwd_ms')), '.2f')} | {errs} |")
    if torch_res.get("attention_bf16_fwd"):
        lines.append("\n## Attention forward bfloat16 (kiln: FlashAttention-2 on the tensor cores, KILN_CUDA_FA_BF16)\n")
        lines.append("| shape | kiln fwd ms | kiln TFLOP/s | torch fwd ms (masked / sliced) | fwd ratio vs sliced | kiln rel err O |")
        lines.append("|---|---|---|---|---|---|")
        kf = {r["d"]: r for r in (kiln or {}).get("fa_bf16_attention") or []}
        for t in torch_res["attention_bf16_fwd"]:
            k = kf.get(t["d"], {})
            shape = f"{t['batch']}×{t['lq']}×{t['lk']} (ctx {t['ncontext']}), d={t['d']}"
            m, s = t["masked"], t["sliced"]
            lines.append(f"| {shape} | {fmt(k.get('fwd_ms'))} | {fmt(k.get('fwd_tflops'), '.2f')} | "
                         f"{fmt(m['fwd_ms'])} / {fmt(s['fwd_ms'])} | {fmt(ratio(s['fwd_ms'], k.get('fwd_ms')), '.2f')} | "
                         f"{fmt(k.get('rel_err_o'), '.1e')} |")
    if torch_res.get("attention_bf16_fwd"):
        lines.append("\n## Attention forward + backward, bfloat16 products (kiln: float32 tensors with "
                     "AttentionParams.Products = BFloat16 on the tensor cores, KILN_CUDA_FA_BF16; torch: bfloat16 SDPA)\n")
        lines.append("| shape | kiln fwd ms | kiln bwd ms | torch fwd ms / bwd ms (sliced) | fwd ratio | bwd ratio | "
                     "fwd+bwd ratio | kiln rel err O/dQ/dK/dV |")
        lines.append("|---|---|---|---|---|---|---|---|")
        km = {r["d"]: r for r in (kiln or {}).get("fa_mixed_attention") or []}
        for t in torch_res["attention_bf16_fwd"]:
            k = km.get(t["d"], {})
            s = t["sliced"]
            shape = f"{t['batch']}×{t['lq']}×{t['lk']} (ctx {t['ncontext']}), d={t['d']}"
            errs = "/".join(fmt(k.get(x), ".1e") for x in ("rel_err_o", "rel_err_dq", "rel_err_dk", "rel_err_dv"))
            kfb = (k.get("fwd_ms") or 0) + (k.get("bwd_ms") or 0)
            lines.append(f"| {shape} | {fmt(k.get('fwd_ms'))} | {fmt(k.get('bwd_ms'))} | "
                         f"{fmt(s['fwd_ms'])} / {fmt(s.get('bwd_ms'))} | {fmt(ratio(s['fwd_ms'], k.get('fwd_ms')), '.2f')} | "
                         f"{fmt(ratio(s.get('bwd_ms'), k.get('bwd_ms')), '.2f')} | "
                         f"{fmt(ratio(s.get('fwd_bwd_ms'), kfb or None), '.2f')} | {errs} |")
    kc = (kiln or {}).get("copy") or {}
    tc = torch_res["copy"]
    lines.append(f"\n## Device-to-device copy, {tc['bytes'] >> 20} MiB (bytes read + written)\n")
    lines.append("| | ms | GB/s |\n|---|---|---|")
    lines.append(f"| kiln (cuMemcpyDtoD) | {fmt(kc.get('ms'))} | {fmt(kc.get('gbps_read_plus_write'), '.0f')} |")
    lines.append(f"| torch copy_ | {fmt(tc['ms'])} | {fmt(tc['gbps_read_plus_write'], '.0f')} |")
    ta = torch_res.get("adamw")
    if ta:
        lines.append(f"\n## Fused AdamW, {ta['params'] >> 20}M fp32 parameters (28 bytes/parameter)\n")
        lines.append("| | ms | GB/s | fraction of copy bandwidth |\n|---|---|---|---|")
        ka = next((r for r in (bench or {}).get("results", []) if r.get("group") == "adamw"), None)
        if ka:
            lines.append(f"| kiln OptimizerStep ({ka['name']}) | {fmt(ka['seconds'] * 1e3)} | {fmt(ka['rate'], '.0f')} | "
                         f"{fmt(ratio(ka['rate'], tc['gbps_read_plus_write']), '.2f')} |")
        lines.append(f"| torch.optim.AdamW(fused=True) | {fmt(ta['ms'])} | {fmt(ta['gbps'], '.0f')} | "
                     f"{fmt(ratio(ta['gbps'], tc['gbps_read_plus_write']), '.2f')} |")
    if kiln and kiln.get("errors"):
        lines.append("\nkiln errors: " + "; ".join(kiln["errors"]))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", help="kiln cudabench --json output")
    ap.add_argument("--bench", help="kiln bench --device cuda --json output (for the AdamW row)")
    ap.add_argument("--out", default=".")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
           "reps": args.reps}
    # The same shapes as `kiln cudabench` (and its --quick smoke-test shapes).
    if args.quick:
        sizes, dims, batch, seq, nctx, ncopy = [192], [32, 64], 2, 128, 100, 1 << 20
    else:
        sizes, dims, batch, seq, nctx, ncopy = [1024, 2048, 4096], [32, 64], 1024, 1024, 896, 1 << 28
    res["sgemm"] = [sgemm(n, args.reps) for n in sizes]
    res["tf32_gemm"] = [tf32_gemm(n, args.reps) for n in sizes]
    res["dgemm"] = [dgemm(n, args.reps) for n in sizes]
    res["bf16_gemm"] = [bf16_gemm(n, args.reps) for n in sizes]
    res["attention"] = [attention(batch, seq, seq, nctx, d, args.reps) for d in dims]
    res["attention_bf16_fwd"] = [attention_bf16_fwd(batch, seq, seq, nctx, d, args.reps) for d in dims]
    res["copy"] = copy_bw(args.reps, ncopy)
    res["adamw"] = adamw_bw(args.reps, 1 << 16 if args.quick else 1 << 27)
    with open(os.path.join(args.out, "anchors.json"), "w") as f:
        json.dump(res, f, indent=2)
    kiln = None
    if args.kiln and os.path.exists(args.kiln):
        try:
            with open(args.kiln) as f:
                kiln = json.load(f)
        except ValueError as e:
            print("could not read kiln results:", e, file=sys.stderr)
    bench = None
    if args.bench and os.path.exists(args.bench):
        try:
            with open(args.bench) as f:
                bench = json.load(f)
        except ValueError as e:
            print("could not read kiln bench results:", e, file=sys.stderr)
    print(report(kiln, res, os.path.join(args.out, "report.md"), bench))


if __name__ == "__main__":
    main()
