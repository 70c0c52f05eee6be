#!/usr/bin/python3
"""Reference scores of scikit-learn on the wide tables, under the shared protocol of
shared/data/README.md, written in the layout of shared/data/*-baselines.json so that
`kiln tabpfn eval` shows them beside its own.

usage: baselines.py WIDE_DIR [TABLE]   (reads WIDE_DIR/tabular and WIDE_DIR/regression;
with TABLE, only the table of that name, printed as JSON in the layout of the files)
"""
import csv, glob, json, os, sys, time
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

root = sys.argv[1]
only = sys.argv[2] if len(sys.argv) > 2 else None


def cap(X, y, n, seed, stratify):
    if len(y) <= n:
        return X, y
    X, _, y, _ = train_test_split(X, y, train_size=n, random_state=seed, stratify=y if stratify else None)
    return X, y


def read(path):
    """Returns the features (empty fields as NaN) and the last column as strings."""
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    X = np.array([[float(v) if v != "" else np.nan for v in r[:-1]] for r in rows])
    return X, np.array([r[-1] for r in rows])


def classification(path):
    X, y = read(path)
    labels, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, labels[counts >= 4])
    X, y = X[keep], y[keep]
    classes = np.unique(y)
    models = {
        "logreg": lambda: make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000)),
        "rf": lambda: make_pipeline(SimpleImputer(), RandomForestClassifier(300, random_state=0, n_jobs=1)),
        "hgb": lambda: HistGradientBoostingClassifier(random_state=0),
    }
    out = {k: {"auc": [], "acc": [], "logloss": [], "sec": []} for k in models}
    for seed in range(5):
        Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.5, random_state=seed, stratify=y)
        Xa, ya = cap(Xa, ya, 1000, seed, True)
        Xb, yb = cap(Xb, yb, 2000, seed, True)
        for k, mk in models.items():
            t = time.time()
            m = mk().fit(Xa, ya)
            p = m.predict_proba(Xb)
            sec = time.time() - t
            if len(classes) == 2:
                auc = roc_auc_score(yb, p[:, 1])
            else:
                auc = roc_auc_score(yb, p, multi_class="ovr", labels=m.classes_)
            out[k]["auc"].append(auc)
            out[k]["acc"].append(accuracy_score(yb, m.classes_[p.argmax(1)]))
            out[k]["logloss"].append(log_loss(yb, p, labels=m.classes_))
            out[k]["sec"].append(sec)
    return {"rows": len(y), "features": X.shape[1], "classes": len(classes),
            "models": {k: {m: float(np.mean(v)) for m, v in r.items()} for k, r in out.items()}}


def regression(path):
    X, y = read(path)
    keep = y != ""
    X, y = X[keep], y[keep].astype(float)
    models = {
        "ridge": lambda: make_pipeline(SimpleImputer(), StandardScaler(), Ridge()),
        "rf": lambda: make_pipeline(SimpleImputer(), RandomForestRegressor(300, random_state=0, n_jobs=1)),
        "hgb": lambda: HistGradientBoostingRegressor(random_state=0),
    }
    out = {k: {"r2": [], "rmse": [], "sec": []} for k in models}
    for seed in range(5):
        Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.5, random_state=seed)
        Xa, ya = cap(Xa, ya, 1000, seed, False)
        Xb, yb = cap(Xb, yb, 2000, seed, False)
        for k, mk in models.items():
            t = time.time()
            p = mk().fit(Xa, ya).predict(Xb)
            out[k]["sec"].append(time.time() - t)
            out[k]["r2"].append(r2_score(yb, p))
            out[k]["rmse"].append(mean_squared_error(yb, p) ** 0.5)
    return {"rows": len(y), "features": X.shape[1], "categorical": 0,
            "models": {k: {m: float(np.mean(v)) for m, v in r.items()} for k, r in out.items()}}


for task, fn, name in [("tabular", classification, "tabular-baselines.json"),
                       ("regression", regression, "regression-baselines.json")]:
    res = {}
    for path in sorted(glob.glob(f"{root}/{task}/*.csv")):
        key = os.path.basename(path)[:-4]
        if only is not None and key != only:
            continue
        res[key] = fn(path)
        print(key, {k: round(v.get("auc", v.get("r2")), 4) for k, v in res[key]["models"].items()}, file=sys.stderr, flush=True)
    if only is not None:
        if res:
            print(json.dumps(res, indent=1))
        continue
    with open(f"{root}/{name}", "w") as f:
        json.dump(res, f, indent=1)
