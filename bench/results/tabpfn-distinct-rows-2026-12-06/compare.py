import json, os, sys
os.chdir(os.path.dirname(os.path.abspath(__file__)))
O=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tabpfn-unseen-choice-2026-12-06')
def load(p, key):
    d=json.load(open(p)); r=d['datasets'][0]['result']
    return r[key] if key in r else None, r
def cls(task, oldpath):
    print(task)
    om, nm = [], []
    for K in range(5):
        o=json.load(open(oldpath(K)))['datasets'][0]['result']
        n=json.load(open(f'new-s{K}-{task}.json'))['datasets'][0]['result']
        om.append(o); nm.append(n)
        print(f"  split {K}: AUC {o['auc']:.4f} -> {n['auc']:.4f}  logloss {o['logloss']:.4f} -> {n['logloss']:.4f}  sec {o['sec']:.1f} -> {n['sec']:.1f}")
    f=lambda xs,k: sum(x[k] for x in xs)/len(xs)
    print(f"  mean: AUC {f(om,'auc'):.4f} -> {f(nm,'auc'):.4f}  acc {f(om,'acc'):.4f} -> {f(nm,'acc'):.4f}  logloss {f(om,'logloss'):.4f} -> {f(nm,'logloss'):.4f}")
def reg(task):
    print(task)
    om, nm = [], []
    for K in range(5):
        p=f'old-s{K}-{task}.json'
        if not os.path.exists(p): print('  missing', p); return
        o=json.load(open(p))['datasets'][0]['result']
        n=json.load(open(f'new-s{K}-{task}.json'))['datasets'][0]['result']
        om.append(o); nm.append(n)
        ks=[k for k in ('r2','rmse','crps','coverage') if k in o]
        print(f"  split {K}: " + "  ".join(f"{k} {o[k]:.4f} -> {n[k]:.4f}" for k in ks) + f"  sec {o.get('sec',0):.1f} -> {n.get('sec',0):.1f}")
    ks=[k for k in ('r2','rmse','crps','coverage') if k in om[0]]
    print("  mean: " + "  ".join(f"{k} {sum(x[k] for x in om)/5:.4f} -> {sum(x[k] for x in nm)/5:.4f}" for k in ks))
cls('psych__lsat7', lambda K: f'{O}/s{K}-psych__lsat7.json')
cls('pscl__vote92', lambda K: f'{O}/s{K}-pscl__vote92.json')
cls('breast_cancer_wisconsin', lambda K: f'old-s{K}-breast_cancer_wisconsin.json')
for t in ('VGAM__marital.nz','AER__SmokeBan','AER__Fertility'): reg(t)
