"""Reference values for cli/src/compare/stats.rs's tests (scipy 1.x, f64).

    python3 tests/reference/t_distribution.py
"""
import numpy as np
from scipy import stats

for df in [1, 2, 3, 4, 5, 9, 19, 29, 100]:
    print(f"t_0.975({df}) = {stats.t.ppf(0.975, df)!r}")
for t, df in [(0.5, 3), (-1.7, 7), (2.3, 12)]:
    print(f"cdf({t}, {df}) = {stats.t.cdf(t, df)!r}")
for v in [[1.0, 3.0], [2.0, 4.0, 9.0, 1.0, 5.0]]:
    v = np.array(v)
    n = len(v)
    half = stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n)
    print(f"mean {v.mean()!r} ± {half!r}")
