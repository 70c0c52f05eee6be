# ref.py: scikit-learn references (ridge, 300-tree forest, gradient boosting) on the designs of make.py.
import numpy as np
from sklearn.ensemble import RandomForestRegressor, HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
for d in ["id", "level", "panel"]:
    tr = np.genfromtxt(f"{d}-train.csv", delimiter=",", skip_header=1)
    te = np.genfromtxt(f"{d}-test.csv", delimiter=",", skip_header=1)
    X, y, Xt, yt = tr[:, :-1], tr[:, -1], te[:, :-1], te[:, -1]
    out = []
    for name, m in [("ridge", RidgeCV()), ("rf", RandomForestRegressor(300, random_state=0)), ("hgb", HistGradientBoostingRegressor(random_state=0))]:
        out.append(f"{name} {r2_score(yt, m.fit(X, y).predict(Xt)):.4f}")
    print(d, *out)
