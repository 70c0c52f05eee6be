import json,glob
names=['glass','sonar','wine','ionosphere']
print('variant'.ljust(20),' '.join(n.rjust(10) for n in names))
for f in sorted(glob.glob('variant-*.json')):
    try: d=json.load(open(f))
    except Exception: continue
    m={x['dataset']:sum(s['auc'] for s in x['result']['splits'])/len(x['result']['splits']) for x in d['datasets']}
    print(f[8:-5].ljust(20),' '.join(f"{m.get(n,float('nan')):10.4f}" for n in names))
