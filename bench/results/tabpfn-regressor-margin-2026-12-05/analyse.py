import json, re, glob, os
R='bench/results/'
base=json.load(open(R+'tabpfn-local-small-2026-12-05/shared-base.json'))
auto=json.load(open(R+'tabpfn-local-small-2026-12-05/shared-auto-min100.json'))
def splits(d):
    return {x['dataset']:[s['r2'] for s in x['result']['splits']] for x in d['datasets'] if 'result' in x}
B,A=splits(base),splits(auto)
# unseen split 0 before/after from the report's table
U={}
for line in open(R+'tabpfn-local-small-2026-12-05.md'):
    m=re.match(r'\| (\S+) (\S+) \| (\d+) \| (64|256) \| (-?[\d.]+) \| (-?[\d.]+) \|',line)
    if m: U[m.group(1)+'__'+m.group(2)]=(float(m.group(5)),float(m.group(6)),m.group(4))
rows=[]
def choices(path):
    out=[]
    for line in open(path):
        if line.startswith('CHOICE'):
            n=int(line.split()[1]); z=dict((int(a),float(b)) for a,b in re.findall(r'\[z(\d+)=(-?[\d.inf]+)\]',line))
            out.append((n,z))
    return out
tot=0; changed=[]
for f in sorted(glob.glob('bench/results/tabpfn-regressor-margin-2026-12-05/shared-*.log')):
    name=os.path.basename(f)[7:-4]
    for s,(n,z) in enumerate(choices(f)):
        if n==0: continue
        one,loc=B[name][s],A[name][s]
        rev = z[n] <= 1
        rows.append((f'{name} (shared), split {s}',n,z[n],one,loc,rev))
for f in sorted(glob.glob('bench/results/tabpfn-regressor-margin-2026-12-05/u-*.log')):
    name=os.path.basename(f)[2:-8]
    for s,(n,z) in enumerate(choices(f)):
        if n==0: continue
        one,loc,ch=U[name]
        if int(ch)!=n: print('MISMATCH',name,n,ch)
        rows.append((f'{name.replace("__"," ")}, split 0',n,z[n],one,loc,z[n]<=1))
print('| task | chosen | z of the chosen size | R² one context | R² local | margin 1 would take | change from the margin |')
print('|---|---:|---:|---:|---:|---|---:|')
for t,n,z,one,loc,rev in rows:
    d = (one-loc) if rev else 0
    tot+=d
    print(f'| {t} | {n} | {z:.2f} | {one:.4f} | {loc:.4f} | {"one context" if rev else "the same"} | {d:+.4f} |')
print('sum of changes', round(tot,4), 'over', sum(r[5] for r in rows), 'reverted of', len(rows))
