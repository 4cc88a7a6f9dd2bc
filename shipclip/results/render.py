"""Tables as text: terminal tables, Markdown, long-format CSV and JSON.

Cells are ``mean ± std`` over seeds (the header says which std), ``*`` when incomplete (missing
seeds or datasets: the ``Missing`` list says what is absent), ``-`` when absent. A paired
difference is ``mean [low, high]`` with its 95% interval, ``†`` when the interval excludes 0.
The CSV is long-format (one line per row, method and metric) and JSON keeps full precision.
"""
import csv
import io
import json

from .stats import STD_CONVENTIONS

__all__ = ["MARK", "EXCLUDES_ZERO", "TITLES", "CSV_FIELDS", "format_stat", "format_delta", "table_cells",
           "render_text", "render_csv", "render_json"]

MARK = "*"
EXCLUDES_ZERO = "†"
TITLES = {
    "base2new": "Base-to-new generalization (Base / New accuracy, H = harmonic mean of the seed-averaged Base and "
                "New; Average: H of the averaged Base and New)",
    "ablation": "Ablations under base-to-new (one row per variant; Δ = variant - reference, paired over the seeds "
                "both have)",
    "xd": "Cross-dataset transfer and domain generalization (accuracy per target)",
    "gzsl": "Generalized zero-shot learning (U / S = per-class mean accuracy on unseen / seen classes in the joint "
            "label space, H = harmonic mean of the seed-averaged U and S)",
    "fewshot": "Few-shot accuracy (per shot count; 0-shot = zero-shot)",
    "runs": "Other runs (grouped by the folder holding seed<S> folders)",
}


def format_stat(stat, decimals=2, show_std=True):
    """``mean ± std`` (std only over seeds), ``*`` when incomplete, ``-`` when absent."""
    if stat is None or stat.get("mean") is None:
        return "-"
    text = f"{stat['mean']:.{decimals}f}"
    if show_std and stat.get("std") is not None and stat.get("n", 0) > 1:
        text += f" ± {stat['std']:.{decimals}f}"
    if not stat.get("complete", False):
        text += MARK
    return text


def format_delta(entry, decimals=2, expected_n=None):
    """``+mean [low, high]`` of a paired difference; ``n=`` when fewer seeds paired than expected."""
    if not entry or not entry.get("n"):
        return "-"
    text = f"{entry['mean']:+.{decimals}f}"
    if entry["low"] is None:
        return text + f" (n={entry['n']}: no interval)"
    text += f" [{entry['low']:+.{decimals}f}, {entry['high']:+.{decimals}f}]"
    if expected_n is not None and entry["n"] != expected_n:
        text += f" n={entry['n']}"
    return text + (f" {EXCLUDES_ZERO}" if entry["excludes_zero"] else "")


def _variant_rows(table, decimals, show_std):
    headers = ["Dataset", "Variant"] + table["metrics"] + [f"Δ{m}" for m in table["metrics"]]
    rows, previous = [], None
    for r in table["rows"]:
        label = r["label"] + (" (reference)" if r["is_reference"] else "")
        line = [r["dataset"] if r["dataset"] != previous else "", label]
        line += [format_stat(r["cells"].get(m), decimals, show_std) for m in table["metrics"]]
        line += ["" if r["is_reference"] else format_delta(r["deltas"].get(m), decimals, len(table["seeds"]))
                 for m in table["metrics"]]
        rows.append(line)
        previous = r["dataset"]
    return headers, rows


def table_cells(table, decimals=2, show_std=True):
    """Headers and rows (strings) of one summary table, as printed."""
    if table["layout"] == "flat":
        headers = ["Runs", "Dataset", "Trainer", "Config", "Shots", "Classes", "Acc", "Seeds"]
        rows = [[r["group"], r["dataset"], r["trainer"], r["config"], "" if r["shots"] is None else r["shots"],
                 r["classes"] or "", format_stat(r["Acc"], decimals, show_std), r["Acc"]["n"]]
                for r in table["rows"]]
        return headers, rows
    if table["layout"] == "variants":
        return _variant_rows(table, decimals, show_std)
    first = "Target" if table["protocol"] == "xd" else "Dataset"
    headers = [first] + [f"{m['label']} {metric}" for m in table["methods"] for metric in table["metrics"]]
    rows = []
    for row in table["rows"]:
        line = [row["dataset"]]
        for m in table["methods"]:
            cell = row["cells"].get(m["key"], {})
            line.extend(format_stat(cell.get(metric), decimals, show_std) for metric in table["metrics"])
        rows.append(line)
    return headers, rows


def _legend(table, show_std):
    """What the cells mean: seeds, std convention, (ablation) H and the deltas."""
    parts = []
    if table.get("seeds"):
        parts.append(f"seeds: {', '.join(str(s) for s in table['seeds'])}")
    parts.append(table.get("std", STD_CONVENTIONS["population"]) if show_std else "means over seeds")
    if table["layout"] == "variants":
        parts.append("H: harmonic mean of the seed-averaged Base and New")
        if table["reference"] is None:
            parts.append(f"no differences: {table['reference_rule']}")
        else:
            parts.append(f"Δ: mean per-seed difference variant - {table['reference']} ({table['reference_rule']}) "
                         f"[95% Student t interval], ΔH from per-seed H; {EXCLUDES_ZERO} = interval excludes 0")
    return "; ".join(parts)


def render_text(summary, fmt="table", decimals=2, show_std=True):
    """Terminal tables (``table``) or a Markdown document (``md``)."""
    from tabulate import tabulate

    out = []
    tablefmt = "github" if fmt == "md" else "simple"
    for table in summary["tables"]:
        title = TITLES.get(table["protocol"], table["protocol"])
        legend = _legend(table, show_std)
        headers, rows = table_cells(table, decimals, show_std)
        if fmt == "md":
            out.append(f"### {title}\n")
            out.append(f"_{legend}; {MARK} = incomplete (see Missing)_\n")
        else:
            out.append(f"== {title}")
            out.append(f"   ({legend}; {MARK} = incomplete, see Missing)")
        out.append(tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True))
        out.append("")
    _lists(out, fmt, (("Notes", summary["notes"]), ("Missing", summary["missing"])))
    return "\n".join(out)


def _lists(out, fmt, named):
    for name, lines in named:
        if lines:
            out.append(f"### {name}\n" if fmt == "md" else f"{name}:")
            out.extend(f"- {line}" for line in lines)
            out.append("")


CSV_FIELDS = ["protocol", "row", "row_kind", "method", "variant", "trainer", "config", "shots", "metric", "mean",
              "std", "n", "seeds", "complete", "delta_vs", "delta_mean", "delta_low", "delta_high", "delta_n",
              "delta_seeds", "delta_excludes_zero"]


def _num(value):
    return "" if value is None else repr(value)


def render_csv(summary):
    """Long-format CSV: one line per (table row, method, metric), full precision."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n", restval="")
    writer.writeheader()

    def line(protocol, row, kind, method, metric, stat, delta=None, delta_vs=""):
        fields = {
            "protocol": protocol, "row": row, "row_kind": kind, "method": method.get("label", ""),
            "variant": method.get("variant", ""), "trainer": method.get("trainer", ""),
            "config": method.get("config", ""), "shots": "" if method.get("shots") is None else method["shots"],
            "metric": metric, "mean": _num(stat["mean"]), "std": _num(stat.get("std")),
            "n": "" if stat.get("n") is None else stat["n"],
            "seeds": " ".join(str(s) for s in stat.get("seeds", [])), "complete": stat["complete"],
        }
        if delta and delta.get("n"):
            fields.update(delta_vs=delta_vs, delta_mean=_num(delta["mean"]), delta_low=_num(delta["low"]),
                          delta_high=_num(delta["high"]), delta_n=delta["n"],
                          delta_seeds=" ".join(str(s) for s in delta["seeds"]),
                          delta_excludes_zero="" if delta["excludes_zero"] is None else delta["excludes_zero"])
        writer.writerow(fields)

    for table in summary["tables"]:
        if table["layout"] == "flat":
            for r in table["rows"]:
                method = {"label": r["trainer"], "trainer": r["trainer"], "config": r["config"], "shots": r["shots"]}
                line(table["protocol"], r["group"], "runs", method, "Acc", r["Acc"])
            continue
        if table["layout"] == "variants":
            methods = {m["key"]: m for m in table["methods"]}
            for r in table["rows"]:
                for metric in table["metrics"]:
                    if metric in r["cells"]:
                        line(table["protocol"], r["dataset"], r["kind"], methods[r["method"]], metric,
                             r["cells"][metric], r["deltas"].get(metric), table["reference"])
            continue
        for row in table["rows"]:
            for m in table["methods"]:
                cell = row["cells"].get(m["key"])
                if not cell:
                    continue
                for metric in table["metrics"]:
                    if metric in cell:
                        line(table["protocol"], row["dataset"], row["kind"], m, metric, cell[metric])
    return buf.getvalue()


def render_json(summary):
    return json.dumps(summary, indent=2) + "\n"
