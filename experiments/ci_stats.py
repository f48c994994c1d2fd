"""What the experiment scripts share: a mean with its 95 % confidence
half-width (t distribution), its printed form, and a run's last-epoch
primary weight share."""

import json

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


def last_primary_share(run):
    """The primary task's share of the total weight in a run folder's last
    epoch, and the run's summary."""
    r = json.load(open(f"{run}/summary.json"))
    with open(f"{run}/log.jsonl") as log:
        p = r["tasks"].index(json.loads(log.readline())["primary"])
    w = r["epochs"][-1]["mean_weights"]
    return w[p] / sum(w), r
