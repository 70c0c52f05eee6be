#!/usr/bin/python3
"""scikit-learn reference scores on tables with categorical columns, under the shared protocols
of shared/data/README.md (5 splits with seeds 0..4, 50/50, training half capped at 1,000 rows
and test half at 2,000; classification stratified, classes under 4 rows dropped), written in
the layout of shared/data/*-baselines.json so that `kiln tabpfn eval` shows them beside its
own.

A column is categorical when one of its known values is not a number (as kiln's loader
decides). Logistic regression and ridge (alpha by cross-validation, as the shared regression
references) see standardised numbers and one-hot categories; the 300-tree random forest sees
the numbers and one-hot categories; histogram gradient boosting sees the numbers and ordinal
categories declared categorical (those of at most 250 levels). Missing numbers are imputed
with the training mean for all but gradient boosting, which takes them as they are.

usage: baselines.py DIR [TABLE]   (reads DIR/tabular and DIR/regression, writes
DIR/tabular-baselines.json and DIR/regression-baselines.json; with TABLE, only that table,
printed)
"""
import csv, glob, json, os, sys, time
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

root = sys.argv[1]
only = sys.argv[2] if len(sys.argv) > 2 else None


def number(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


def read(path):
    """Returns the features as an object array (numbers as floats, categories as strings,
    missing as NaN / None), the mask of categorical columns, and the last column as strings."""
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    body = [r[:-1] for r in rows]
    p = len(body[0])
    cat = np.array([any(v != "" and not number(v) for v in (r[j] for r in body)) for j in range(p)], dtype=bool)
    X = np.empty((len(body), p), dtype=object)
    for i, r in enumerate(body):
        for j, v in enumerate(r):
            if cat[j]:
                X[i, j] = v if v != "" else "(missing)"
            else:
                X[i, j] = float(v) if v != "" else np.nan
    return X, cat, np.array([r[-1] for r in rows])


def encoders(X, cat):
    num, cats = np.where(~cat)[0], np.where(cat)[0]
    onehot = lambda scale: ColumnTransformer(
        [("num", make_pipeline(SimpleImputer(), StandardScaler()) if scale else SimpleImputer(), num),
         ("cat", OneHotEncoder(handle_unknown="ignore"), cats)], sparse_threshold=0)
    levels = [len(set(X[:, j])) for j in cats]
    native = np.array([l <= 250 for l in levels], dtype=bool)
    ordinal = lambda: ColumnTransformer(
        [("num", "passthrough", num),
         ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan), cats)],
        sparse_threshold=0)
    mask = np.concatenate([np.zeros(len(num), dtype=bool), native]) if cats.size else None
    return onehot, ordinal, mask


def cap(X, y, n, seed, stratify):
    if len(y) <= n:
        return X, y
    X, _, y, _ = train_test_split(X, y, train_size=n, random_state=seed, stratify=y if stratify else None)
    return X, y


def classification(path):
    X, cat, y = read(path)
    labels, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, labels[counts >= 4])
    X, y = X[keep], y[keep]
    classes = np.unique(y)
    onehot, ordinal, mask = encoders(X, cat)
    models = {
        "logreg": lambda: make_pipeline(onehot(True), LogisticRegression(max_iter=2000)),
        "rf": lambda: make_pipeline(onehot(False), RandomForestClassifier(300, random_state=0, n_jobs=1)),
        "hgb": lambda: make_pipeline(ordinal(), HistGradientBoostingClassifier(random_state=0, categorical_features=mask)),
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
    X, cat, y = read(path)
    y = y.astype(float)
    onehot, ordinal, mask = encoders(X, cat)
    models = {
        "ridge": lambda: make_pipeline(onehot(True), RidgeCV(alphas=np.logspace(-3, 3, 13))),
        "rf": lambda: make_pipeline(onehot(False), RandomForestRegressor(300, random_state=0, n_jobs=1)),
        "hgb": lambda: make_pipeline(ordinal(), HistGradientBoostingRegressor(random_state=0, categorical_features=mask)),
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
    return {"rows": len(y), "features": X.shape[1], "categorical": int(cat.sum()),
            "models": {k: {m: float(np.mean(v)) for m, v in r.items()} for k, r in out.items()}}


for task, fn, name in [("tabular", classification, "tabular-baselines.json"),
                       ("regression", regression, "regression-baselines.json")]:
    res = {}
    for path in sorted(glob.glob(f"{root}/{task}/*.csv")):
        key = os.path.basename(path)[:-4]
        if only is not None and key != only:
            continue
        try:
            res[key] = fn(path)
        except Exception as e:  # a table scikit-learn cannot take is reported, not fatal
            print(key, "failed:", e, file=sys.stderr, flush=True)
            continue
        print(key, {k: round(v.get("auc", v.get("r2")), 4) for k, v in res[key]["models"].items()}, file=sys.stderr, flush=True)
    if only is not None:
        if res:
            print(json.dumps(res, indent=1))
        continue
    with open(f"{root}/{name}", "w") as f:
        json.dump(res, f, indent=1)
