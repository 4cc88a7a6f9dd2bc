"""Paired comparisons as text: terminal table, Markdown, long-format CSV and JSON.

One line per row (dataset, source, average) and metric: the paired seeds, each method's mean over
them, the per-seed differences ``B - A``, their mean, the 95% Student t interval (``†`` when it
excludes 0) and n. The header states the difference, the interval and how H is taken per seed.
"""
import csv
import io
import json

from .render import EXCLUDES_ZERO

__all__ = ["PAIRED_CSV_FIELDS", "paired_cells", "render_paired_text", "render_paired_csv", "render_paired_json"]

PROTOCOL_NAMES = {"base2new": "base-to-new", "ablation": "ablations under base-to-new", "xd": "cross-dataset",
                  "gzsl": "generalized zero-shot", "fewshot": "few-shot"}


def _seeds(seeds):
    return " ".join(str(s) for s in seeds)


def _signed(value, decimals):
    return f"{value:+.{decimals}f}"


def _interval(entry, decimals):
    if entry["n"] == 0:
        return "no common seeds"
    if entry["low"] is None:
        return f"no interval (n={entry['n']})"
    text = f"[{_signed(entry['low'], decimals)}, {_signed(entry['high'], decimals)}]"
    return text + (f" {EXCLUDES_ZERO}" if entry["excludes_zero"] else "")


def _mean(value, decimals):
    return "-" if value is None else f"{value:.{decimals}f}"


def _num(value):
    return "" if value is None else repr(value)


def paired_cells(comparison, decimals=2):
    """Headers and rows (strings) of one comparison, as printed."""
    headers = ["Dataset", "Metric", "Seeds", comparison["a"], comparison["b"], "Δ per seed", "mean Δ",
               "95% interval", "n"]
    rows = []
    for row in comparison["rows"]:
        for metric, e in row["metrics"].items():
            rows.append([row["row"], metric, _seeds(e["seeds"]) or "-", _mean(e["mean_a"], decimals),
                         _mean(e["mean_b"], decimals),
                         " ".join(_signed(e["differences"][str(s)], decimals) for s in e["seeds"]) or "-",
                         "-" if e["mean"] is None else _signed(e["mean"], decimals), _interval(e, decimals),
                         str(e["n"])])
    return headers, rows


def _legend(comparison):
    parts = [f"Δ = {comparison['difference']} per seed, on the seeds both have"]
    if comparison.get("harmonic"):
        a, b, name = comparison["harmonic"]
        parts.append(f"{name} per seed = harmonic mean of that seed's {a} and {b} (average rows: of that seed's "
                     f"dataset-averaged {a} and {b})")
    parts.append(f"95% interval: Student t, mean Δ ± t(0.975, n-1) · sd / √n, sd = sample sd (n-1); "
                 f"{EXCLUDES_ZERO} = interval excludes 0")
    return "; ".join(parts)


def render_paired_text(report, fmt="table", decimals=2):
    """Terminal tables (``table``) or Markdown (``md``) of every comparison in ``report``."""
    from tabulate import tabulate

    out = []
    for c in report["comparisons"]:
        title = (f"Paired comparison, {PROTOCOL_NAMES.get(c['protocol'], c['protocol'])}: "
                 f"{c['b']} vs {c['a']}")
        headers, rows = paired_cells(c, decimals)
        if fmt == "md":
            out += [f"### {title}\n", f"_{_legend(c)}_\n"]
        else:
            out += [f"== {title}", f"   ({_legend(c)})"]
        out.append(tabulate(rows, headers=headers, tablefmt="github" if fmt == "md" else "simple",
                            disable_numparse=True))
        out.append("")
        if c["notes"]:
            out.append("### Notes\n" if fmt == "md" else "Notes:")
            out.extend(f"- {n}" for n in c["notes"])
            out.append("")
    return "\n".join(out)


PAIRED_CSV_FIELDS = ["protocol", "row", "row_kind", "metric", "a", "b", "seeds", "a_values", "b_values",
                     "differences", "mean_a", "mean_b", "mean_difference", "sd", "n", "t", "low", "high",
                     "excludes_zero", "only_a", "only_b", "datasets"]


def render_paired_csv(report):
    """Long-format CSV: one line per (comparison, row, metric), full precision."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PAIRED_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for c in report["comparisons"]:
        for row in c["rows"]:
            for metric, e in row["metrics"].items():
                writer.writerow({
                    "protocol": c["protocol"], "row": row["row"], "row_kind": row["kind"], "metric": metric,
                    "a": c["a"], "b": c["b"], "seeds": _seeds(e["seeds"]),
                    "a_values": " ".join(repr(e["a"][str(s)]) for s in e["seeds"]),
                    "b_values": " ".join(repr(e["b"][str(s)]) for s in e["seeds"]),
                    "differences": " ".join(repr(e["differences"][str(s)]) for s in e["seeds"]),
                    "mean_a": _num(e["mean_a"]), "mean_b": _num(e["mean_b"]), "mean_difference": _num(e["mean"]),
                    "sd": _num(e["sd"]), "n": e["n"], "t": _num(e["t"]), "low": _num(e["low"]), "high": _num(e["high"]),
                    "excludes_zero": "" if e["excludes_zero"] is None else e["excludes_zero"],
                    "only_a": _seeds(e["only_a"]), "only_b": _seeds(e["only_b"]),
                    "datasets": " ".join(e.get("datasets", [])),
                })
    return buf.getvalue()


def render_paired_json(report):
    return json.dumps(report, indent=2) + "\n"
