"""From collected runs to tables, paired comparisons and the list of what is missing.

:func:`summarize` makes one table per protocol found (:mod:`.builder`; the ablation table is
:mod:`.ablation`), plus a flat table of runs outside the protocol layout. :func:`paired` compares
two methods seed by seed in every protocol that has both (:mod:`.paired`). Missing seeds, runs
and unfinished runs are listed in ``missing`` and the affected cells marked incomplete: nothing
is silently averaged in or out.
"""
import os
import re
from collections import defaultdict

from .ablation import build_ablation_table
from .builder import build_table, expected_seeds
from .layout import PROTOCOLS
from .paired import MethodNotFound, compare, find_method
from .protocols import MEASURED_PROTOCOLS, measure
from .record import VERSION
from .stats import STD_CONVENTIONS, seed_stat

__all__ = ["SUMMARY_FORMAT", "summarize", "paired"]

SUMMARY_FORMAT = "shipclip-summary"


def _table_runs(records, seeds, missing):
    """Runs outside the protocol layout, grouped by the folder holding their ``seed<S>`` folders."""
    groups = defaultdict(list)
    for r in records:
        parent, name = os.path.split(r["path"])
        group = parent if re.fullmatch(r"seed\d+", name) and parent else r["path"]
        groups[group].append(r)
    rows = []
    for group in sorted(groups):
        members = groups[group]
        done = [r for r in members if r["finished"]]
        expected = expected_seeds(members, seeds)
        values = {}
        for r in done:
            values[r["seed"] if r["seed"] is not None else r["path"]] = r["metrics"]["accuracy"]
        if any(r["seed"] is None for r in done):
            stat = seed_stat({str(k): v for k, v in values.items()}, [])
        else:
            stat = seed_stat(values, expected)
            for s in stat["missing_seeds"]:
                missing.append(f"runs {group}: seed {s} has no finished run")
        first = done[0] if done else members[0]
        rows.append({"group": group, "dataset": first["dataset"], "trainer": first["trainer"],
                     "config": first["config"], "shots": first["shots"], "classes": first["classes"],
                     "Acc": stat})
    return {"protocol": "runs", "layout": "flat", "metrics": ["Acc"], "rows": rows,
            "std": STD_CONVENTIONS["population"]}


def _check_protocols(protocols):
    if protocols:
        unknown = sorted(set(protocols) - set(PROTOCOLS))
        if unknown:
            raise ValueError(f"Unknown protocol(s) {unknown}; choose from {', '.join(PROTOCOLS)}.")


def _by_protocol(records, protocols):
    by_protocol = defaultdict(list)
    for r in records:
        by_protocol[r["protocol"]].append(r)
    return [(p, by_protocol[p]) for p in PROTOCOLS if by_protocol.get(p) and (not protocols or p in protocols)]


def summarize(records, protocols=None, seeds=None, reference=None):
    """Aggregate :func:`.runs.collect`'s records into tables plus the list of what is missing.

    ``protocols`` restricts the tables (names in :data:`.layout.PROTOCOLS`); ``seeds`` fixes the
    expected seeds (default: every seed found in that protocol); ``reference`` names the ablation
    variant the others are compared with (see :mod:`.ablation`). Returns a JSON-ready dict with
    ``tables`` (one per protocol), ``missing`` (lines), ``notes`` and ``runs`` (the records).
    """
    _check_protocols(protocols)
    missing, tables, used = [], [], []
    for protocol, recs in _by_protocol(records, protocols):
        used.extend(recs)
        for r in recs:
            if not r["finished"]:
                missing.append(f"unfinished run {r['path']}: {r['reason']}")
            elif r["reason"]:
                missing.append(f"run {r['path']}: {r['reason']}")
        if protocol == "ablation":
            tables.append(build_ablation_table(measure(protocol, recs, seeds, missing), recs, missing, reference))
        elif protocol in MEASURED_PROTOCOLS:
            tables.append(build_table(measure(protocol, recs, seeds, missing), missing))
        else:
            tables.append(_table_runs(recs, seeds, missing))
    notes = []
    from_logs = [r for r in used if r["source"] == "log" and r["finished"]]
    if from_logs:
        notes.append(f"{len(from_logs)} run(s) were read from Dassl log.txt files: their accuracy has the log's "
                     "printed precision (one or two decimals).")
    return {"format": SUMMARY_FORMAT, "version": VERSION, "tables": tables, "missing": missing, "notes": notes,
            "runs": used}


def paired(records, a, b, protocols=None, seeds=None):
    """Paired comparisons ``B - A`` in every protocol holding both methods (see :mod:`.paired`).

    ``a`` and ``b`` name methods as the tables label them (or by trainer, ``trainer/config``, or
    ablation variant). Raises :class:`.paired.MethodNotFound` when no protocol has both, naming
    the methods each protocol has.
    """
    _check_protocols(protocols)
    comparisons, available, problems = [], [], []
    for protocol, recs in _by_protocol(records, protocols):
        if protocol not in MEASURED_PROTOCOLS:
            continue
        meas = measure(protocol, recs, seeds, [])
        available.append(f"{protocol}: {', '.join(m['label'] for m in meas.methods)}")
        try:
            ma, mb = find_method(meas, a), find_method(meas, b)
        except MethodNotFound as exc:  # ambiguous here; another protocol may still hold both
            problems.append(str(exc))
            continue
        if ma is not None and mb is not None:
            if ma is mb:
                problems.append(f"{a!r} and {b!r} are the same method ({ma['label']}) in the {protocol} table.")
                continue
            comparisons.append(compare(meas, ma, mb))
    if not comparisons:
        raise MethodNotFound(" ".join(problems) or (
            f"No protocol has both {a!r} and {b!r}. Methods by protocol: " + ("; ".join(available) or "none") + "."))
    return {"format": "shipclip-paired", "version": VERSION, "comparisons": comparisons}
