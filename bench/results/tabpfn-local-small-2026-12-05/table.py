# Per-task table for the report: split-level R² of kiln before (stored JSON) and with the
# automatic choice (eval log of the binary whose choice runs from 100 training rows), with the
# shipped threshold applied: tasks of fewer than MIN training rows keep the before value.
import json, re, sys
log, base, bl, MIN = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
nsplit = int(sys.argv[5]) if len(sys.argv) > 5 else 1
B = {t['dataset']: t['result'] for t in json.load(open(base))['datasets'] if t.get('result')}
R = json.load(open(bl))
cur = None; res = {}; choice = {}; ntr = {}
for line in open(log):
    m = re.match(r'\[\d+/\d+\] (\S+):', line)
    if m: cur = m.group(1); continue
    if 'warning' in line and cur:
        ntr[cur] = int(re.search(r'warning: (\d+) training rows', line).group(1))
        c = re.search(r'from the (\d+) training rows nearest', line)
        choice.setdefault(cur, []).append(c.group(1) if c else 'all')
    m = re.search(r'R² (\S+),', line)
    if m and cur: res[cur] = float(m.group(1))
rows = []; tb = tn = trf = thgb = 0; n = 0
for d in res:
    if d not in B: continue
    b = sum(s['r2'] for s in B[d]['splits'][:nsplit]) / nsplit
    now = res[d] if ntr.get(d, 0) >= MIN else b
    ch = '/'.join(choice.get(d, [])) if ntr.get(d, 0) >= MIN else f'(below {MIN})'
    M = R[d]['models']
    rows.append((d, ntr.get(d), ch, b, now, M['rf']['r2'], M['hgb']['r2'], M['ridge']['r2']))
    tb += b; tn += now; trf += M['rf']['r2']; thgb += M['hgb']['r2']; n += 1
print('| task | training rows | chosen | before | after | change | forest | boosting |')
print('|---|---:|---|---:|---:|---:|---:|---:|')
for d, t, ch, b, now, rf, hgb, rg in rows:
    bold = lambda v: f'{v:.4f}'
    print(f'| {d.replace("__"," ")} | {t} | {ch} | {b:.4f} | {now:.4f} | {now-b:+.4f} | {rf:.4f} | {hgb:.4f} |')
print(f'| **mean of {n}** | | | {tb/n:.4f} | {tn/n:.4f} | {(tn-tb)/n:+.4f} | {trf/n:.4f} | {thgb/n:.4f} |')
