# Compare per-split R² of a kiln eval log (automatic local choice) with a stored JSON.
import json, re, sys
log, base, bl = sys.argv[1], sys.argv[2], sys.argv[3]
first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
B = {t['dataset']: t['result'] for t in json.load(open(base))['datasets'] if t.get('result')}
R = json.load(open(bl))
cur = None; res = {}; choice = {}; k = 0
for line in open(log):
    m = re.match(r'\[\d+/\d+\] (\S+):', line)
    if m: cur = m.group(1); k = 0; continue
    if 'warning' in line and cur:
        c = 'all' if 'one context' in line else re.search(r'from the (?:(\d+) of the \d+|(\d+)) training rows', line)
        choice.setdefault(cur, []).append(c if c == 'all' else (c.group(1) or c.group(2)))
    m = re.search(r'R² (\S+),', line)
    if m and cur: res.setdefault(cur, []).append(float(m.group(1)))
gain = []; 
for d, rs in res.items():
    if d not in B: continue
    b = [s['r2'] for s in B[d]['splits']][first:first+len(rs)]
    rf = R[d]['models']['rf']['r2'] if 'models' in R.get(d, {}) else R.get(d, {}).get('rf', {}).get('r2', float('nan'))
    dl = sum(rs)/len(rs) - sum(b)/len(b)
    gain.append(dl)
    print(f"{d:35s} {str(choice.get(d)):14s} base {sum(b)/len(b):.4f} now {sum(rs)/len(rs):.4f} {dl:+.4f} rf(mean) {rf:.4f}")
print(len(gain), 'tasks, mean change %+.4f' % (sum(gain)/len(gain)), 'losses', sum(1 for g in gain if g < -1e-4), 'gains', sum(1 for g in gain if g > 1e-4))
