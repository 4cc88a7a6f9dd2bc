"""Paired comparisons of two methods on the seeds both have.

Two methods run with the same seed share the seed's few-shot split and initialisation, so the
per-seed difference removes that shared noise; comparing two means over seeds does not. For each
row of a protocol's table and each metric, :func:`compare` lists the per-seed differences
``B - A`` on the seeds present for both methods (the others are named, not used), their mean,
and the Student t interval ``mean ± t_{0.975, n-1} · sd / √n`` (sd: sample sd, n-1). With
fewer than two paired seeds there is no interval.

H per seed is the harmonic mean of that seed's Base and New (U and S for GZSL): the difference
of two methods' H is taken seed by seed. An average row pools datasets per seed: the seed's
metric is the mean over the datasets both methods have (only seeds every one of them has), and
its H is the harmonic mean of that seed's dataset-averaged pair, as in the tables' average rows.
"""
import math

from .stats import CONFIDENCE, harmonic_mean, t_interval

__all__ = ["PAIRED_FORMAT", "MethodNotFound", "find_method", "compare", "seed_values"]

PAIRED_FORMAT = "shipclip-paired"
INTERVAL = (f"Student t {CONFIDENCE:.0%} interval of the mean difference: mean ± t(0.975, n-1) · sd / √n, "
            "sd = sample sd (n-1) of the per-seed differences")


class MethodNotFound(ValueError):
    """A method name that matches no method, or several, of a table."""


def find_method(meas, name):
    """The method of ``meas`` that ``name`` designates, or None when no method matches.

    ``name`` is matched against, in order: the label the table prints, the trainer, ``trainer/
    config``, the ablation variant, and the method key. Raises :class:`MethodNotFound` when the
    first level that matches matches more than one method.
    """
    levels = (("label", lambda m: m["label"]), ("trainer", lambda m: m["trainer"]),
              ("trainer/config", lambda m: f"{m['trainer']}/{m['config']}"), ("variant", lambda m: m["variant"]),
              ("key", lambda m: m["key"]))
    for what, get in levels:
        hits = [m for m in meas.methods if get(m) == name]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise MethodNotFound(
                f"{name!r} matches {len(hits)} methods of the {meas.protocol} table by {what} "
                f"({', '.join(m['label'] for m in hits)}): name one of those labels instead.")
    return None


def _with_harmonic(meas, values):
    if meas.harmonic:
        a, b, name = meas.harmonic
        if a in values and b in values:
            values[name] = {s: harmonic_mean(values[a][s], values[b][s]) for s in values[a] if s in values[b]}
    return values


def seed_values(meas, row, key):
    """``{metric: {seed: value}}`` of one method on one row, H per seed included; None when absent."""
    values = meas.values.get((row, key))
    if values is None:
        return None
    wanted = set(meas.seeds)
    return _with_harmonic(meas, {metric: {s: v for s, v in values[metric].items() if s in wanted}
                                 for metric in meas.metrics if metric in values})


def _pooled(meas, members, keys):
    """Per-seed means over the member rows every method in ``keys`` has; returns (values per key, rows used)."""
    out, used = {k: {} for k in keys}, {}
    metric_sets = [(n,) for n in meas.metrics] if meas.per_metric_average else [tuple(meas.metrics)]
    for names in metric_sets:
        rows = [d for d in members
                if all((d, k) in meas.values and all(n in meas.values[(d, k)] for n in names) for k in keys)]
        if len(rows) < 2:
            continue
        for n in names:
            used[n] = rows
            for k in keys:
                per_row = [meas.values[(d, k)][n] for d in rows]
                common = set(meas.seeds).intersection(*per_row)
                out[k][n] = {s: math.fsum(v[s] for v in per_row) / len(rows) for s in sorted(common)}
    if meas.harmonic and meas.harmonic[0] in used:
        used[meas.harmonic[2]] = used[meas.harmonic[0]]
    return {k: _with_harmonic(meas, v) for k, v in out.items()}, used


def _compare_metric(a, b):
    seeds = sorted(set(a) & set(b))
    diffs = {s: b[s] - a[s] for s in seeds}
    entry = {"seeds": seeds, "only_a": sorted(set(a) - set(b)), "only_b": sorted(set(b) - set(a)),
             "a": {str(s): a[s] for s in seeds}, "b": {str(s): b[s] for s in seeds},
             "differences": {str(s): diffs[s] for s in seeds},
             "mean_a": math.fsum(a[s] for s in seeds) / len(seeds) if seeds else None,
             "mean_b": math.fsum(b[s] for s in seeds) / len(seeds) if seeds else None}
    entry.update(t_interval([diffs[s] for s in seeds]))
    return entry


def _seed_list(seeds):
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(s) for s in seeds)


def _notes(row, metrics, a_label, b_label):
    """Which seeds were left out, per group of metrics that left out the same ones."""
    notes, groups = [], {}
    for name, entry in metrics.items():
        groups.setdefault((tuple(entry["only_a"]), tuple(entry["only_b"])), []).append(name)
    for (only_a, only_b), names in groups.items():
        for seeds, has, lacks in ((only_a, a_label, b_label), (only_b, b_label, a_label)):
            if seeds:
                notes.append(f"{row} ({', '.join(names)}): {_seed_list(seeds)} {'has' if len(seeds) == 1 else 'have'} "
                             f"{has} but not {lacks}: not paired")
    return notes


def compare(meas, a, b):
    """Paired comparison ``B - A`` of methods ``a`` and ``b`` (descriptors of ``meas.methods``).

    Returns a JSON-ready dict: ``protocol``, ``a``, ``b`` (labels), ``metrics``, ``rows`` (one per
    table row both methods have, then the pooled average rows), ``notes``. Each row holds, per
    metric, ``seeds`` (paired), ``only_a``/``only_b`` (left out), the per-seed values and
    ``differences``, ``mean_a``/``mean_b`` over the paired seeds, and the interval of
    :func:`.stats.t_interval` (``mean``, ``sd``, ``n``, ``t``, ``low``, ``high``, ``excludes_zero``).
    """
    rows, notes = [], []
    for name, kind in meas.rows:
        av, bv = seed_values(meas, name, a["key"]), seed_values(meas, name, b["key"])
        if av is None or bv is None:
            continue
        metrics = {n: _compare_metric(av[n], bv[n]) for n in meas.columns if n in av and n in bv}
        rows.append({"row": name, "kind": kind, "metrics": metrics})
        notes.extend(_notes(name, metrics, a["label"], b["label"]))
    for name, members, _ in meas.averages:
        pooled, used = _pooled(meas, members, (a["key"], b["key"]))
        metrics = {}
        for n in meas.columns:
            if n in pooled[a["key"]] and n in pooled[b["key"]]:
                metrics[n] = _compare_metric(pooled[a["key"]][n], pooled[b["key"]][n])
                metrics[n]["datasets"] = used[n]
        if metrics:
            rows.append({"row": name, "kind": "average", "metrics": metrics})
            notes.extend(_notes(name, metrics, a["label"], b["label"]))
            pooled_sets = {tuple(used[n]) for n in metrics}
            for datasets in sorted(pooled_sets):
                notes.append(f"{name}: per seed, the mean over {', '.join(datasets)} (only seeds every one of them "
                             "has for both methods)")
    return {"format": PAIRED_FORMAT, "protocol": meas.protocol, "a": a["label"], "b": b["label"],
            "difference": f"{b['label']} - {a['label']}", "metrics": meas.columns, "seeds": meas.seeds,
            "harmonic": list(meas.harmonic) if meas.harmonic else None,
            "interval": INTERVAL, "rows": rows, "notes": notes}
