"""The one table builder: rows of (group, method) x metrics, aggregated over seeds.

Every protocol first turns its runs into :class:`Measurements` (per-seed values of each row and
method, see :mod:`.protocols`); :func:`build_table` then makes the cells (mean and std over seeds,
H of the seed-averaged pair, average rows over datasets) and the paired comparisons
(:mod:`.paired`) and the ablation table (:mod:`.ablation`) read the same per-seed values, so the
three can never disagree on which runs count.

Average rows hold the mean over datasets of the seed-averaged values; a harmonic metric on an
average row is H of the averaged pair (not the mean of per-dataset H). An average covering fewer
datasets than the table is reported in ``missing`` and marked incomplete.
"""
import math
from dataclasses import dataclass, field
from typing import Optional

from .stats import STD_CONVENTIONS, derived_stat, harmonic_mean, seed_stat

__all__ = ["DATASET_ORDER", "Measurements", "dataset_sort_key", "describe_methods", "expected_seeds",
           "context", "build_table"]

# Row order of the usual benchmarks (others follow alphabetically).
DATASET_ORDER = ("imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
                 "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101", "imagenetv2", "imagenet_sketch",
                 "imagenet_a", "imagenet_r", "gzsl_cub", "gzsl_awa2", "gzsl_sun", "toyworld")
METHOD_FIELDS = ("variant", "trainer", "config", "shots")


@dataclass
class Measurements:
    """Per-seed values of one protocol, before any averaging.

    ``values[(row, method key)][metric][seed]`` is one run's number. ``rows`` lists ``(name, kind)``
    in table order (kind ``dataset`` or ``source``). ``harmonic`` = ``(a, b, name)`` adds ``name`` =
    H of ``a`` and ``b``. ``averages`` lists ``(row name, member rows, context for messages)``;
    with ``per_metric_average`` each metric is averaged over the datasets that have it (few-shot
    columns), otherwise the metrics of a cell are averaged over the same datasets.
    """
    protocol: str
    methods: list
    rows: list
    metrics: list
    values: dict
    seeds: list
    harmonic: Optional[tuple] = None
    averages: list = field(default_factory=list)
    per_metric_average: bool = False

    @property
    def columns(self):
        """Metric names as the table shows them (measured metrics, then the harmonic one)."""
        return list(self.metrics) + ([self.harmonic[2]] if self.harmonic else [])

    def method(self, key):
        return next(m for m in self.methods if m["key"] == key)


def dataset_sort_key(name):
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), name)


def _method_sort_key(method):
    trainer = method["trainer"]
    kind = 0 if trainer.startswith("ZeroshotCLIP") else (2 if trainer.startswith("SHIP") else 1)
    return (method["variant"] != "", method["variant"], kind, trainer, method["config"], method["shots"] or 0)


def describe_methods(keys):
    """Method descriptors, sorted, with labels made of the fields that tell methods apart.

    ``keys`` are ``(variant, trainer, config, shots)`` tuples; each descriptor holds those fields,
    ``label`` (what tables print) and ``key`` (a string unique to the method).
    """
    methods = [dict(zip(METHOD_FIELDS, key)) for key in keys]
    methods.sort(key=_method_sort_key)
    varies = {f: len({m[f] for m in methods}) > 1 for f in METHOD_FIELDS}
    # The config only needs naming when it is what tells two methods apart (same trainer, same variant).
    configs_per_method = {}
    for m in methods:
        configs_per_method.setdefault((m["variant"], m["trainer"], m["shots"]), set()).add(m["config"])
    varies["config"] = any(len(c) > 1 for c in configs_per_method.values())
    any_variant = any(m["variant"] for m in methods)
    for m in methods:
        parts = []
        if any_variant:
            parts.append(m["variant"])
        if varies["trainer"] or not any_variant:
            parts.append(m["trainer"])
        if varies["config"]:
            parts.append(m["config"])
        if varies["shots"] and m["shots"] is not None:
            parts.append(f"{m['shots']}-shot")
        m["label"] = "/".join(p for p in parts if p) or m["trainer"]
        m["key"] = "|".join(str(m[f]) for f in METHOD_FIELDS)
    return methods


def expected_seeds(records, seeds):
    """The seeds every method should have: ``seeds`` when given, else every seed found."""
    if seeds:
        return sorted(set(int(s) for s in seeds))
    return sorted({r["seed"] for r in records if r["seed"] is not None})


def context(protocol, variant, dataset, label):
    """How a ``missing`` line names a cell: ``base2new/no_kl dtd SHIP_CoOp``."""
    return f"{protocol}{'/' + variant if variant else ''} {dataset} {label}"


def _cell(values, meas, std):
    cell = {metric: seed_stat(values[metric], meas.seeds, std) for metric in meas.metrics if metric in values}
    if meas.harmonic:
        a, b, name = meas.harmonic
        if a in cell and b in cell:
            cell[name] = derived_stat(harmonic_mean(cell[a]["mean"], cell[b]["mean"]),
                                      cell[a]["complete"] and cell[b]["complete"])
    return cell


def _average(cells, members, metric_sets, label, where, meas, missing):
    """Average-row cell of one method: means over ``members`` of the seed-averaged values."""
    out = {}
    for names in metric_sets:
        have = [d for d in members
                if d in cells and all(n in cells[d] and cells[d][n]["mean"] is not None for n in names)]
        if meas.per_metric_average and not have:
            continue
        absent = [d for d in members if d not in have]
        if absent and have:
            at = f" at {names[0]}" if meas.per_metric_average else ""
            missing.append(f"{where} average for {label}{at} covers {len(have)} of {len(members)} datasets "
                           f"(missing: {', '.join(absent)})")
        complete = not absent and all(cells[d][n]["complete"] for d in have for n in names)
        for n in names:
            mean = math.fsum(cells[d][n]["mean"] for d in have) / len(have) if have else None
            out[n] = derived_stat(mean, complete, n=len(have), datasets=have)
    if meas.harmonic:
        a, b, name = meas.harmonic
        if a in out and b in out:
            out[name] = derived_stat(harmonic_mean(out[a]["mean"], out[b]["mean"]), out[a]["complete"],
                                     n=out[a]["n"], datasets=out[a]["datasets"])
    return out


def build_table(meas, missing, std="population"):
    """The protocol's table: one row per dataset (and source), then the average rows.

    Returns ``{"protocol", "layout": "wide", "metrics", "methods", "rows", "seeds", "std"}``; each
    row is ``{"dataset", "kind", "cells": {method key: {metric: stat}}}``. ``std`` is the
    convention of the cells' std (``population`` or ``sample``, see :mod:`.stats`).
    """
    rows, per_method = [], {m["key"]: {} for m in meas.methods}
    for name, kind in meas.rows:
        cells = {}
        for m in meas.methods:
            if (name, m["key"]) in meas.values:
                cells[m["key"]] = _cell(meas.values[(name, m["key"])], meas, std)
                if kind == "dataset":
                    per_method[m["key"]][name] = cells[m["key"]]
        rows.append({"dataset": name, "kind": kind, "cells": cells})
    metric_sets = [(n,) for n in meas.metrics] if meas.per_metric_average else [tuple(meas.metrics)]
    for name, members, where in meas.averages:
        if len(members) > 1:
            cells = {m["key"]: _average(per_method[m["key"]], members, metric_sets, m["label"], where, meas, missing)
                     for m in meas.methods}
            rows.append({"dataset": name, "kind": "average", "cells": cells})
    return {"protocol": meas.protocol, "layout": "wide", "metrics": meas.columns, "methods": meas.methods,
            "rows": rows, "seeds": meas.seeds, "std": STD_CONVENTIONS[std]}
