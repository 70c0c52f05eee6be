#!/usr/bin/python3
"""The 300-tree random forest on a classification table under the shared classification
protocol with the training half capped at CAP rows instead of 1,000 (5 stratified 50/50
splits, seeds 0..4, test half capped at 2,000 by stratified subsampling with the same seed):
the anchor for kiln's large evaluation. Two classes are scored on the second class's
probability. usage: forest-large.py CSV CAP"""
import csv, sys, time
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
path, cap = sys.argv[1], int(sys.argv[2])
rows = list(csv.reader(open(path)))[1:]
X = np.array([[float(v) for v in r[:-1]] for r in rows]); y = np.array([r[-1] for r in rows])
def capped(X, y, n, seed):
    if len(y) <= n: return X, y
    X, _, y, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=seed)
    return X, y
for seed in range(5):
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
    Xa, ya = capped(Xa, ya, cap, seed); Xb, yb = capped(Xb, yb, 2000, seed)
    t = time.time()
    rf = RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=1).fit(Xa, ya)
    p = rf.predict_proba(Xb)
    auc = (roc_auc_score(yb, p[:, 1]) if len(rf.classes_) == 2 else
           roc_auc_score(yb, p, multi_class='ovr', average='macro', labels=rf.classes_))
    print(f'seed {seed} train {len(ya)} auc {auc:.4f} acc {accuracy_score(yb, rf.classes_[p.argmax(1)]):.4f} '
          f'logloss {log_loss(yb, p, labels=rf.classes_):.4f} sec {time.time()-t:.1f}', flush=True)
