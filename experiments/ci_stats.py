"""Mean with a 95 % confidence half-width (t distribution) and its
printed form, shared by the experiment scripts."""

from scipy.stats import t as student_t


def mean_ci(v):
    n = len(v)
    m = sum(v) / n
    if n < 2:
        return m, None
    var = sum((x - m) ** 2 for x in v) / (n - 1)
    return m, student_t.ppf(0.975, n - 1) * (var / n) ** 0.5


def show(m, h, sign=False):
    s = f"{m:+.1f}" if sign else f"{m:.1f}"
    return s if h is None else f"{s} ± {h:.1f}"
