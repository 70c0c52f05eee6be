#!/usr/bin/python3
"""The 300-tree random forest and histogram gradient boosting on a regression table under the
shared regression protocol with the training half capped at CAP rows instead of 1,000 (5
random 50/50 splits, seeds 0..4, test half capped at 2,000 by random subsampling with the same
seed; categorical columns one-hot encoded, missing numbers imputed by the training median):
the anchors for kiln's large regression evaluation. usage: forest-large-regression.py CSV CAP [SPLITS]"""
import csv, sys, time
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
path, cap = sys.argv[1], int(sys.argv[2])
splits = int(sys.argv[3]) if len(sys.argv) > 3 else 5
rows = list(csv.reader(open(path)))
header, rows = rows[0], [r for r in rows[1:] if r[-1] != '']
y = np.array([float(r[-1]) for r in rows])
def number(v):
    try: return float(v)
    except ValueError: return None
cols = range(len(header) - 1)
cat = [j for j in cols if any(v != '' and number(v) is None for v in (r[j] for r in rows))]
num = [j for j in cols if j not in cat]
df = np.empty((len(rows), len(header) - 1), dtype=object)
for i, r in enumerate(rows):
    for j in cols:
        df[i, j] = r[j] if j in cat else (float(r[j]) if r[j] != '' else np.nan)
def pre():
    return ColumnTransformer([('num', SimpleImputer(strategy='median'), num),
                              ('cat', OneHotEncoder(handle_unknown='ignore', sparse_output=False), cat)])
def capped(X, y, n, seed):
    if len(y) <= n: return X, y
    X, _, y, _ = train_test_split(X, y, train_size=n, random_state=seed)
    return X, y
for seed in range(splits):
    Xa, Xb, ya, yb = train_test_split(df, y, test_size=0.5, random_state=seed)
    Xa, ya = capped(Xa, ya, cap, seed); Xb, yb = capped(Xb, yb, 2000, seed)
    out = [f'seed {seed} train {len(ya)}']
    for name, model in [('rf', RandomForestRegressor(n_estimators=300, random_state=seed, n_jobs=1)),
                        ('hgb', HistGradientBoostingRegressor(random_state=seed))]:
        t = time.time()
        p = make_pipeline(pre(), model).fit(Xa, ya).predict(Xb)
        out.append(f'{name} r2 {r2_score(yb, p):.4f} sec {time.time()-t:.1f}')
    print(' '.join(out), flush=True)
