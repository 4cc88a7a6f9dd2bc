"""The ablation table: one row per variant, with its paired difference to the full method.

``scripts/ablation.sh`` runs base-to-new once per variant under ``ablation/<variant>/``. Papers
list ablation variants as rows; each row here holds Base and New (mean ± sample std over seeds),
H of the seed-averaged Base and New (as in the base-to-new table), and ΔBase, ΔNew, ΔH: the
paired difference ``variant - reference`` over the seeds both have, with its Student t interval
(:mod:`.paired`; ΔH from per-seed H). Rows of several datasets come per dataset, then the
average over datasets (pooled per seed for the differences).

The reference is ``--reference NAME`` when given; else the variant named ``full`` (ablation.sh's
name for the variant without overrides, and of its built-in full method); else the one variant
whose runs recorded no overrides besides those every variant shares. With several trainers or
configs, each variant is compared with the reference variant of the same trainer and config.
"""
from .builder import build_table
from .paired import MethodNotFound, compare

__all__ = ["choose_reference", "variants_without_overrides", "build_ablation_table", "as_wide"]

_PER_RUN_KEYS = ("DATASET.SUBSAMPLE_CLASSES",)  # differs between a variant's base and new runs


def _override_pairs(opts):
    return {(opts[i], opts[i + 1]) for i in range(0, len(opts) - 1, 2) if opts[i] not in _PER_RUN_KEYS}


def variants_without_overrides(records):
    """Variants whose runs recorded only the overrides all variants share (empty when runs lack opts)."""
    own = {}
    for r in records:
        if r["opts"] is None:
            return []
        pairs = _override_pairs(r["opts"])
        own[r["variant"]] = own[r["variant"]] & pairs if r["variant"] in own else pairs
    if len(own) < 2:
        return []
    common = set.intersection(*own.values())
    return sorted(v for v, pairs in own.items() if pairs == common)


def choose_reference(meas, records, requested=None):
    """``(variant, why)`` of the reference; ``(None, why not)`` when none can be told."""
    variants = sorted({m["variant"] for m in meas.methods})
    if requested:
        if requested in variants:
            return requested, "--reference"
        labels = sorted({m["variant"] for m in meas.methods if m["label"] == requested})
        if labels:
            return labels[0], "--reference"
        raise MethodNotFound(f"--reference {requested!r} is not an ablation variant (variants: {', '.join(variants)}).")
    if "full" in variants:
        return "full", "the variant named 'full'"
    bare = variants_without_overrides(records)
    if len(bare) == 1:
        return bare[0], "the variant without overrides of its own"
    return None, (f"no variant is named 'full' or is the only one without overrides (variants: {', '.join(variants)}): "
                  "pass --reference NAME for the differences")


def build_ablation_table(meas, records, missing, reference=None):
    """Variants as rows (per dataset, then the average), with deltas against the reference variant.

    Returns ``{"protocol": "ablation", "layout": "variants", "metrics", "methods", "reference",
    "reference_rule", "rows", "seeds", "std"}``; each row is ``{"dataset", "kind", "method",
    "label", "variant", "is_reference", "cells": {metric: stat}, "deltas": {metric: paired}}``.
    """
    wide = build_table(meas, missing, std="sample")
    ref_variant, rule = choose_reference(meas, records, reference)
    deltas = {}  # method key -> row name -> metric -> paired entry
    references = {}
    for m in meas.methods:
        ref = next((r for r in meas.methods if r["variant"] == ref_variant and
                    (r["trainer"], r["config"], r["shots"]) == (m["trainer"], m["config"], m["shots"])), None)
        references[m["key"]] = ref
        if ref is not None and ref is not m:
            deltas[m["key"]] = {row["row"]: row["metrics"] for row in compare(meas, ref, m)["rows"]}
    # Per trainer and config: the reference first, then the other variants.
    order = sorted(meas.methods, key=lambda m: (m["trainer"], m["config"], m["shots"] or 0,
                                                references[m["key"]] is not m, m["variant"]))
    rows = []
    for row in wide["rows"]:
        for m in order:
            if m["key"] not in row["cells"]:
                continue
            ref = references[m["key"]]
            rows.append({"dataset": row["dataset"], "kind": row["kind"], "method": m["key"], "label": m["label"],
                         "variant": m["variant"], "is_reference": ref is m, "cells": row["cells"][m["key"]],
                         "deltas": deltas.get(m["key"], {}).get(row["dataset"], {})})
    return dict(wide, layout="variants", rows=rows, reference=ref_variant, reference_rule=rule)


def as_wide(table):
    """The variants table in the wide layout (datasets as rows, variants as columns), for plots."""
    rows, index = [], {}
    for r in table["rows"]:
        if r["dataset"] not in index:
            index[r["dataset"]] = {"dataset": r["dataset"], "kind": r["kind"], "cells": {}}
            rows.append(index[r["dataset"]])
        index[r["dataset"]]["cells"][r["method"]] = r["cells"]
    return dict(table, layout="wide", rows=rows)
