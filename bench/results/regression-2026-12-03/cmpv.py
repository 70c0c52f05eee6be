import json,sys
def load(f):
    d=json.load(open(f)); out={}
    for ds in d['datasets']:
        r=ds.get('result') or {}
        sp=r.get('splits') or []
        if not sp: continue
        out[ds['dataset']]=(sum(s['r2'] for s in sp)/len(sp), sum(s['coverage90'] for s in sp)/len(sp), sum(s.get('crps',0) for s in sp)/len(sp))
    return out
a,b=load(sys.argv[1]),load(sys.argv[2])
common=sorted(set(a)&set(b))
better=sum(b[n][0]>a[n][0]+1e-9 for n in common); worse=sum(b[n][0]<a[n][0]-1e-9 for n in common)
import statistics as st
print(len(common),'tasks; mean R2 %.4f -> %.4f; better %d worse %d; cov %.3f -> %.3f; crps lower on %d'%(
 st.mean(a[n][0] for n in common), st.mean(b[n][0] for n in common), better, worse,
 st.mean(a[n][1] for n in common), st.mean(b[n][1] for n in common), sum(b[n][2]<a[n][2] for n in common)))
if len(sys.argv)>3:
  for n in common: print('%-50s %.4f %.4f'%(n,a[n][0],b[n][0]))
