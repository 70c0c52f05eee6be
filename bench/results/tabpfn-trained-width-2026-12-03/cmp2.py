import json,sys
def load(f):
    d=json.load(open(f)); out={}
    for ds in d['datasets']:
        r=ds.get('result') or {}
        sp=r.get('splits') or []
        if not sp: continue
        out[ds['dataset']]=(sum(s['r2'] for s in sp)/len(sp), sum(s['coverage90'] for s in sp)/len(sp), sum(s['crps'] for s in sp)/len(sp))
    return out
runs=[(f,load(f)) for f in sys.argv[1:]]
common=sorted(set.intersection(*[set(r) for _,r in runs]))
print('dataset', *[f[:16] for f,_ in runs], sep='\t')
for n in common: print(n[:30].ljust(30), *['%.4f/%.3f'%(r[n][0],r[n][1]) for _,r in runs], sep='\t')
import statistics
for f,r in runs:
    print(f, 'n',len(common),'mean R2 %.4f'%statistics.mean(r[n][0] for n in common), 'median R2 %.4f'%statistics.median(r[n][0] for n in common), 'cov %.3f'%statistics.mean(r[n][1] for n in common))
if len(runs)==2:
    a,b=runs[0][1],runs[1][1]
    print('better R2 in second:', sum(b[n][0]>a[n][0]+1e-9 for n in common), 'worse:', sum(b[n][0]<a[n][0]-1e-9 for n in common), 'lower CRPS:', sum(b[n][2]<a[n][2] for n in common))
