# How far anchored contexts move from each test row's own: for a random 50/50 split (training
# half capped at 1,000 rows, test half at 2,000; numeric columns, missing cells as 0, so an
# approximation of kiln's protocol and local space), the number of distinct anchors (nearest
# training row) among the test rows, and the mean share of a test row's L nearest training
# rows that are among its anchor's L nearest. Usage: overlap.py table.csv ...
import sys, numpy as np, pandas as pd
def ecdf_space(tr, te):
    out_tr = np.empty_like(tr, dtype=float); out_te = np.empty_like(te, dtype=float)
    for j in range(tr.shape[1]):
        s = np.sort(tr[:, j])
        for src, dst in ((tr, out_tr), (te, out_te)):
            lo = np.searchsorted(s, src[:, j], 'left'); hi = np.searchsorted(s, src[:, j], 'right')
            dst[:, j] = (lo + 0.5 * (hi - lo)) / len(s)
    return out_tr, out_te
for path in sys.argv[1:]:
    df = pd.read_csv(path)
    y = df.iloc[:, -1]; X = df.iloc[:, :-1].select_dtypes('number').fillna(0).to_numpy(float)
    rng = np.random.default_rng(0); idx = rng.permutation(len(X)); h = len(X) // 2
    tr, te = X[idx[:min(h, 1000)]], X[idx[h:]][:2000]
    ptr, pte = ecdf_space(tr, te)
    d = ((pte[:, None, :] - ptr[None, :, :]) ** 2).sum(-1)
    dtt = ((ptr[:, None, :] - ptr[None, :, :]) ** 2).sum(-1)
    anchor = d.argmin(1)
    res = [path.split('/')[-1], len(tr), len(te), 'anchors %d' % len(set(anchor))]
    for L in (64, 256):
        if L >= len(tr): continue
        own = np.argsort(d, 1, kind='stable')[:, :L]
        anc = np.argsort(dtt[anchor], 1, kind='stable')[:, :L]
        ov = np.mean([len(set(a) & set(b)) / L for a, b in zip(own, anc)])
        res.append('L%d overlap %.3f' % (L, ov))
    print(*res)
