"""Per-seed measurements of each protocol, and what each protocol reports as missing.

One function per protocol turns :func:`.runs.collect` records into :class:`.builder.Measurements`:
which rows (datasets, targets, sources), which metrics, which value each method got on each seed.
What a protocol expects but cannot find (a seed's new-class run, a target, a shot count) is
appended to ``missing`` with the path or step to look at.

* base-to-new (and each ablation variant): Base and New accuracy; H is derived.
* gzsl: U and S, the per-class mean accuracies on unseen and seen classes of the joint evaluation.
* xd: accuracy per target, plus the source accuracy (a per-target SHIP model is one source model
  per target: those are averaged per seed).
* fewshot: one metric per shot count; 0 shots = zero-shot.
"""
import math
from collections import defaultdict

from .builder import Measurements, context, dataset_sort_key, describe_methods, expected_seeds

__all__ = ["MEASURED_PROTOCOLS", "measure", "shot_label"]

MEASURED_PROTOCOLS = ("base2new", "ablation", "xd", "gzsl", "fewshot")


def _method_key(r, with_variant=False, with_shots=True):
    return (r["variant"] if with_variant else "", r["trainer"], r["config"], r["shots"] if with_shots else None)


def _key(m, with_shots=True):
    return (m["variant"], m["trainer"], m["config"], m["shots"] if with_shots else None)


def measure_base2new(protocol, records, seeds, missing):
    """Base (train_base runs) and New (test_new runs) per dataset, method and seed."""
    expected = expected_seeds(records, seeds)
    acc = {}  # (method key, dataset) -> role -> seed -> accuracy (pairs with only unfinished runs stay empty)
    method_keys, datasets, paths = set(), set(), {}
    for r in records:
        key = _method_key(r, with_variant=True)
        method_keys.add(key)
        datasets.add(r["dataset"])
        paths[(key, r["dataset"], r["role"], r["seed"])] = r["path"]
        roles = acc.setdefault((key, r["dataset"]), {"train_base": {}, "test_new": {}})
        if r["finished"]:
            roles[r["role"]][r["seed"]] = r["metrics"]["accuracy"]
    methods = describe_methods(method_keys)
    datasets = sorted(datasets, key=dataset_sort_key)
    values = {}
    for d in datasets:
        for m in methods:
            if (_key(m), d) not in acc:
                continue
            base, new = acc[(_key(m), d)]["train_base"], acc[(_key(m), d)]["test_new"]
            ctx = context(protocol, m["variant"], d, m["label"])
            for s in expected:
                if s in base and s not in new:
                    where = paths.get((_key(m), d, "train_base", s), "")
                    missing.append(f"{ctx}: seed {s} has a base run but no finished new run "
                                   f"(expected {where.replace('train_base', 'test_new', 1) or 'test_new/...'})")
                elif s in new and s not in base:
                    missing.append(f"{ctx}: seed {s} has a new run but no finished base run")
                elif s not in base and s not in new:
                    missing.append(f"{ctx}: seed {s} has no finished runs")
            values[(d, m["key"])] = {"Base": base, "New": new}
    return Measurements(protocol, methods, [(d, "dataset") for d in datasets], ["Base", "New"], values, expected,
                        harmonic=("Base", "New", "H"), averages=[("Average", datasets, protocol)])


def measure_gzsl(records, seeds, missing):
    """U and S of the joint (test_joint) evaluations per dataset, method and seed."""
    expected = expected_seeds(records, seeds)
    got = {}  # (method key, dataset) -> {"U": seed -> value, "S": seed -> value}
    trained = defaultdict(set)
    method_keys, datasets = set(), set()
    for r in records:
        key = _method_key(r)
        method_keys.add(key)
        datasets.add(r["dataset"])
        cell = got.setdefault((key, r["dataset"]), {"U": {}, "S": {}})
        if not r["finished"]:
            continue
        if r["role"] == "train_seen":
            trained[(key, r["dataset"])].add(r["seed"])
        elif r["role"] == "test_joint":
            met = r["metrics"]
            if "seen" in met and "unseen" in met:
                cell["U"][r["seed"]] = met["unseen"]
                cell["S"][r["seed"]] = met["seen"]
            else:
                missing.append(f"gzsl {r['path']}: the joint evaluation has no seen/unseen metrics "
                               "(run it with TEST.JOINT True; Dassl logs carry only the overall accuracy)")
    methods = describe_methods(method_keys)
    datasets = sorted(datasets, key=dataset_sort_key)
    values = {}
    for d in datasets:
        for m in methods:
            if (_key(m), d) not in got:
                continue
            cell = got[(_key(m), d)]
            for s in expected:
                if s not in cell["U"]:
                    extra = " (its seen-class training run is finished)" if s in trained[(_key(m), d)] else ""
                    missing.append(f"{context('gzsl', '', d, m['label'])}: seed {s} has no finished joint "
                                   f"(test_joint) evaluation{extra}")
            values[(d, m["key"])] = cell
    return Measurements("gzsl", methods, [(d, "dataset") for d in datasets], ["U", "S"], values, expected,
                        harmonic=("U", "S", "H"), averages=[("Average", datasets, "gzsl")])


def measure_xd(records, seeds, missing):
    """Accuracy per target (and on the source) per method and seed."""
    expected = expected_seeds(records, seeds)
    source_acc = defaultdict(lambda: defaultdict(list))  # (method, source) -> seed -> accs (per target for SHIP)
    target_acc = {}  # (method, target) -> seed -> acc
    method_keys, sources, targets = set(), set(), set()
    for r in records:
        key = _method_key(r)
        method_keys.add(key)
        if r["role"] == "train":
            sources.add(r["dataset"])
            if r["finished"]:
                source_acc[(key, r["dataset"])][r["seed"]].append(r["metrics"]["accuracy"])
        else:
            targets.add(r["dataset"])
            cell = target_acc.setdefault((key, r["dataset"]), {})
            if r["finished"]:
                cell[r["seed"]] = r["metrics"]["accuracy"]
    methods = describe_methods(method_keys)
    rows, values = [], {}
    for src in sorted(sources, key=dataset_sort_key):
        rows.append((f"{src} (source)", "source"))
        for m in methods:
            if (_key(m), src) in source_acc:
                # A per-target model (SHIP) is one source model per target: average them per seed.
                per_seed = {s: math.fsum(v) / len(v) for s, v in source_acc[(_key(m), src)].items()}
                values[(f"{src} (source)", m["key"])] = {"Acc": per_seed}
    targets = sorted(targets, key=dataset_sort_key)
    for t in targets:
        rows.append((t, "dataset"))
        for m in methods:
            if (_key(m), t) not in target_acc:
                missing.append(f"{context('xd', '', t, m['label'])}: no runs on this target")
                continue
            cell = target_acc[(_key(m), t)]
            for s in expected:
                if s not in cell:
                    missing.append(f"{context('xd', '', t, m['label'])}: seed {s} has no finished evaluation")
            values[(t, m["key"])] = {"Acc": cell}
    averages = [(name, members, f"xd {name}") for name, members in (
        ("Average (cross-dataset)", [t for t in targets if not t.startswith("imagenet")]),
        ("Average (domain generalization)", [t for t in targets if t.startswith("imagenet")]))]
    return Measurements("xd", methods, rows, ["Acc"], values, expected, averages=averages)


def shot_label(shots):
    return f"{shots}-shot"


def measure_fewshot(records, seeds, missing):
    """Accuracy per dataset, method and shot count (one metric per shot count)."""
    expected = expected_seeds(records, seeds)
    acc = {}  # (method, dataset, shots) -> seed -> acc
    method_keys, datasets = set(), set()
    shots_of = defaultdict(set)
    for r in records:
        key = _method_key(r, with_shots=False)
        method_keys.add(key)
        datasets.add(r["dataset"])
        shots_of[key].add(r["shots"])
        cell = acc.setdefault((key, r["dataset"], r["shots"]), {})
        if r["finished"]:
            cell[r["seed"]] = r["metrics"]["accuracy"]
    all_shots = sorted({s for v in shots_of.values() for s in v})
    learned = [s for s in all_shots if s > 0]
    methods = describe_methods(method_keys)
    datasets = sorted(datasets, key=dataset_sort_key)
    values = {}
    for d in datasets:
        for m in methods:
            key = _key(m, with_shots=False)
            # A method evaluated only with 0 shots is zero-shot; the others should cover every shot count.
            wanted = [0] if shots_of[key] == {0} else learned
            if not any((key, d, s) in acc for s in all_shots):
                continue
            cell = {}
            for s in all_shots:
                got = acc.get((key, d, s))
                if got is None:
                    if s in wanted:
                        missing.append(f"{context('fewshot', '', d, m['label'])}: no runs with {s} shots")
                    continue
                for seed in expected:
                    if seed not in got:
                        missing.append(f"{context('fewshot', '', d, m['label'])}: {s} shots, seed {seed} "
                                       "has no finished run")
                cell[shot_label(s)] = got
            values[(d, m["key"])] = cell
    return Measurements("fewshot", methods, [(d, "dataset") for d in datasets], [shot_label(s) for s in all_shots],
                        values, expected, averages=[("Average", datasets, "fewshot")], per_metric_average=True)


def measure(protocol, records, seeds, missing):
    """Measurements of ``protocol`` (one of :data:`MEASURED_PROTOCOLS`) from its records."""
    if protocol in ("base2new", "ablation"):
        return measure_base2new(protocol, records, seeds, missing)
    if protocol == "gzsl":
        return measure_gzsl(records, seeds, missing)
    if protocol == "xd":
        return measure_xd(records, seeds, missing)
    if protocol == "fewshot":
        return measure_fewshot(records, seeds, missing)
    raise ValueError(f"Protocol {protocol!r} has no per-seed measurements; choose from "
                     f"{', '.join(MEASURED_PROTOCOLS)}.")
