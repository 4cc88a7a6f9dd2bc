"""Numbers over seeds: means, the two standard deviations, harmonic means and paired t intervals.

Two std conventions are in use, and every table says which one it prints:

* ``population`` (divide by n, numpy's default): what CoOp's ``parse_test_res.py`` reports, kept
  for the protocol tables so they compare with published CoOp-style numbers;
* ``sample`` (divide by n-1): the ablation table, whose paired intervals use the sample sd too.
"""
import math

__all__ = ["STD_CONVENTIONS", "harmonic_mean", "mean_std", "seed_stat", "derived_stat", "t_interval"]

# How each convention is named in table headers.
STD_CONVENTIONS = {
    "population": "mean ± population std (divide by n, as CoOp's parse_test_res.py) over seeds",
    "sample": "mean ± sample std (n-1) over seeds",
}
CONFIDENCE = 0.95


def harmonic_mean(a, b):
    """2ab / (a + b); 0 when both are 0; None when either is missing."""
    if a is None or b is None:
        return None
    return 0.0 if a + b == 0 else 2.0 * a * b / (a + b)


def mean_std(values, ddof=0):
    """Mean and standard deviation (``ddof=0``: population, as numpy and CoOp's parser; 1: sample).

    The sample std of a single value is None (undefined), not 0.
    """
    values = [float(v) for v in values]
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) - ddof <= 0:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - ddof))


def seed_stat(values, expected, std="population"):
    """Statistic of one cell: ``values`` maps seed -> value; ``expected`` the seeds that should be there."""
    seeds = sorted(values)
    mean, sd = mean_std([values[s] for s in seeds], ddof=1 if std == "sample" else 0)
    missing = sorted(set(expected) - set(seeds))
    return {"mean": mean, "std": sd, "n": len(seeds), "seeds": seeds,
            "values": {str(s): values[s] for s in seeds}, "missing_seeds": missing,
            "complete": bool(seeds) and not missing}


def derived_stat(mean, complete, n=None, **extra):
    """A cell computed from other cells (H, averages over datasets): no std of its own."""
    out = {"mean": mean, "std": None, "n": n, "complete": bool(complete) and mean is not None}
    out.update(extra)
    return out


def t_interval(differences, confidence=CONFIDENCE):
    """Student t interval of the mean of paired differences: mean ± t_{(1+c)/2, n-1} · sd / √n.

    ``sd`` is the sample sd (n-1). With fewer than two differences there is no interval
    (``low``/``high``/``t`` None, ``excludes_zero`` None).
    """
    from scipy.stats import t as student_t

    diffs = [float(d) for d in differences]
    n = len(diffs)
    mean, sd = mean_std(diffs, ddof=1)
    out = {"mean": mean, "sd": sd, "n": n, "confidence": confidence, "t": None, "low": None, "high": None,
           "excludes_zero": None}
    if n >= 2:
        t = float(student_t.ppf(0.5 + confidence / 2, n - 1))
        half = t * sd / math.sqrt(n)
        out.update(t=t, low=mean - half, high=mean + half, excludes_zero=bool(mean - half > 0 or mean + half < 0))
    return out
