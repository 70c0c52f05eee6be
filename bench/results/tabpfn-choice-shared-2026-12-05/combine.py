import json, glob, statistics as st, sys
base = json.load(open('bench/results/tabpfn-choice-shared-2026-12-05/one-context.json'))
auto = {}
for s in range(5):
    try:
        d = json.load(open(f'bench/results/tabpfn-choice-shared-2026-12-05/choice-split{s}.json'))
    except Exception:
        continue
    for x in d['datasets']:
        if 'result' in x:
            for sp in x['result']['splits']:
                auto[(x['dataset'], sp['seed'])] = sp
rows = []
print('| table | one context (5 splits) | with the choice | change | splits with the choice | forest | logistic | seconds: one context → choice |')
print('|---|---:|---:|---:|---:|---:|---:|---|')
tb, ta, trf = [], [], []
for x in base['datasets']:
    if 'result' not in x: continue
    name = x['dataset']; sps = x['result']['splits']
    b = [sp['auc'] for sp in sps]
    a = [auto[(name, sp['seed'])]['auc'] if (name, sp['seed']) in auto else None for sp in sps]
    have = [i for i, v in enumerate(a) if v is not None]
    bm = st.mean(b)
    am = st.mean(a[i] if a[i] is not None else b[i] for i in range(len(b)))
    secb = sum(sp['fit_sec'] + sp['predict_sec'] for sp in sps) / len(sps)
    seca = st.mean(auto[(name, sps[i]['seed'])]['fit_sec'] + auto[(name, sps[i]['seed'])]['predict_sec'] for i in have) if have else float('nan')
    rf = x['baselines']['rf']['auc']; lr = x['baselines']['logreg']['auc']
    tb.append(bm); ta.append(am); trf.append(rf)
    print(f'| {name} | {bm:.4f} | {am:.4f} | {am-bm:+.4f} | {len(have)} | {rf:.4f} | {lr:.4f} | {secb:.1f} → {seca:.1f} |')
print(f'| **mean of {len(tb)}** | {st.mean(tb):.4f} | **{st.mean(ta):.4f}** | {st.mean(ta)-st.mean(tb):+.4f} | | {st.mean(trf):.4f} | | |')
if '-v' in sys.argv:
    for k in sorted(auto):
        print(k, round(auto[k]['auc'], 4))
if '-s' in sys.argv:
    print()
    print('| table | split | one context AUC / log loss | with the choice AUC / log loss | seconds |')
    print('|---|---:|---|---|---|')
    for x in base['datasets']:
        if 'result' not in x: continue
        for sp in x['result']['splits']:
            k=(x['dataset'], sp['seed'])
            if k in auto and abs(auto[k]['auc']-sp['auc'])>1e-9:
                a=auto[k]
                print(f"| {k[0]} | {k[1]} | {sp['auc']:.4f} / {sp['logloss']:.3f} | {a['auc']:.4f} / {a['logloss']:.3f} | {sp['fit_sec']+sp['predict_sec']:.1f} → {a['fit_sec']+a['predict_sec']:.1f} |")
