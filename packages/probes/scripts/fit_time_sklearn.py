"""scikit-learn's LogisticRegression (lbfgs, multinomial) on a set of the shape of packages/probes/scripts/fit-time.ts.

10,000 x 512 float32 features around 7 random centres, C = 1 and 100, max_iter 1000, tol 1e-8. Run with
OMP_WAIT_POLICY=PASSIVE (faster on 2 cores): OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 packages/probes/scripts/fit_time_sklearn.py
"""
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(1)
n, d, k = 10000, 512, 7
centres = rng.uniform(-0.5, 0.5, (k, d))
y = np.arange(n) % k
X = (0.15 * centres[y] + rng.uniform(-0.5, 0.5, (n, d))).astype(np.float32)
for C in [1.0, 100.0]:
    t0 = time.time()
    m = LogisticRegression(C=C, max_iter=1000, tol=1e-8).fit(X, y)
    print(f"C {C:g}: {time.time() - t0:.2f} s, {m.n_iter_[0]} iterations")
