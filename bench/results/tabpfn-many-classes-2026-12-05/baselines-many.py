#!/usr/bin/python3
"""Anchors for the many-class corpus tasks under the shared classification protocol (5
stratified 50/50 splits, seeds 0..SPLITS-1, training half capped at 1,000 and test half at
2,000 by stratified subsampling with the same seed): scikit-learn's 300-tree random forest
and histogram gradient boosting on ordinal codes of the text columns (a missing value its
own code; numeric gaps filled with the training half's median for the forest, left missing
for boosting), and logistic regression on one-hot text columns and standardised numbers.
Scores are one-vs-rest macro ROC AUC, accuracy and log loss. usage: baselines-many.py CSV [SPLITS]"""
import csv, sys, time
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler
path = sys.argv[1]
splits = int(sys.argv[2]) if len(sys.argv) > 2 else 5
rows = list(csv.reader(open(path)))[1:]
y = np.array([r[-1] for r in rows])
cols = list(zip(*[r[:-1] for r in rows]))
def isnum(v):
    try: float(v); return True
    except ValueError: return v.strip() in ('', 'NA')
numeric = [all(isnum(v) for v in c) for c in cols]
num = np.array([[float(v) if v.strip() not in ('', 'NA') else np.nan for v in c] for c, n in zip(cols, numeric) if n]).T.reshape(len(rows), -1)
txt = np.array([c for c, n in zip(cols, numeric) if not n]).T.reshape(len(rows), -1)
codes = np.zeros(txt.shape)
for j in range(txt.shape[1]):
    _, codes[:, j] = np.unique(txt[:, j], return_inverse=True)
def capped(idx, n, seed):
    if len(idx) <= n: return idx
    keep, _ = train_test_split(idx, train_size=n, stratify=y[idx], random_state=seed)
    return keep
def score(name, model, Xa, ya, Xb, yb, t):
    p = model.predict_proba(Xb)
    auc = roc_auc_score(yb, p, multi_class='ovr', average='macro', labels=model.classes_)
    print(f'{name} auc {auc:.4f} acc {accuracy_score(yb, model.classes_[p.argmax(1)]):.4f} '
          f'logloss {log_loss(yb, p, labels=model.classes_):.4f} sec {time.time()-t:.1f}', flush=True)
for seed in range(splits):
    a, b = train_test_split(np.arange(len(y)), test_size=0.5, stratify=y, random_state=seed)
    a, b = capped(a, 1000, seed), capped(b, 2000, seed)
    # Test classes absent from the training half cannot be scored by any model: drop them.
    b = b[np.isin(y[b], np.unique(y[a]))]
    med = np.nanmedian(num[a], axis=0) if num.shape[1] else np.zeros(0)
    filled = np.where(np.isnan(num), med, num)
    print(f'seed {seed} train {len(a)} test {len(b)} classes {len(np.unique(y[a]))}', flush=True)
    t = time.time()
    Xf = np.hstack([filled, codes])
    score('rf', RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=1).fit(Xf[a], y[a]), Xf[a], y[a], Xf[b], y[b], t)
    t = time.time()
    Xh = np.hstack([num, codes])
    score('hgb', HistGradientBoostingClassifier(random_state=seed).fit(Xh[a], y[a]), Xh[a], y[a], Xh[b], y[b], t)
    t = time.time()
    oh = OneHotEncoder(handle_unknown='ignore', sparse_output=False).fit(txt[a]) if txt.shape[1] else None
    sc = StandardScaler().fit(filled[a])
    Xl = lambda i: np.hstack([sc.transform(filled[i])] + ([oh.transform(txt[i])] if oh else []))
    score('logreg', LogisticRegression(max_iter=2000).fit(Xl(a), y[a]), Xl(a), y[a], Xl(b), y[b], t)
