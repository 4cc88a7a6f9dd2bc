#!/usr/bin/env python
"""Tables (and a bar chart) of every run under an output root.

Reads each ``results.json`` (and, for runs made with real Dassl's own trainers, ``log.txt``) below
OUTPUT_ROOT, averages seeds and prints one table per protocol with the methods side by side::

    python scripts/results.py output                       # all protocols, terminal tables
    python scripts/results.py output --protocol base2new --format md --out results.md
    python scripts/results.py output --out results.csv     # format from the extension
    python scripts/results.py output --plot results.png    # needs matplotlib

Cells are ``mean ± std`` over seeds (population std, as CoOp's parse_test_res.py). Base-to-new H
is the harmonic mean of the seed-averaged Base and New; the Average row holds the mean Base, the
mean New and H of those means. A cell marked ``*`` is incomplete (missing seeds or datasets); the
``Missing`` list says what is absent. The CSV is long-format (one line per cell and metric) and
the JSON output keeps full precision.
"""
import argparse
import csv
import io
import json
import os
import sys

try:
    import shipclip.results as results
except ImportError:  # running from a checkout that was not pip-installed
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import shipclip.results as results

FORMATS = ("table", "csv", "md", "json")
EXTENSIONS = {".csv": "csv", ".md": "md", ".markdown": "md", ".json": "json", ".txt": "table"}
TITLES = {
    "base2new": "Base-to-new generalization (Base / New accuracy, H = harmonic mean of the seed-averaged Base and "
                "New; Average: H of the averaged Base and New)",
    "ablation": "Ablations under base-to-new (one method per variant)",
    "xd": "Cross-dataset transfer and domain generalization (accuracy per target)",
    "gzsl": "Generalized zero-shot learning (U / S = per-class mean accuracy on unseen / seen classes in the joint "
            "label space, H = harmonic mean of the seed-averaged U and S)",
    "fewshot": "Few-shot accuracy (per shot count; 0-shot = zero-shot)",
    "runs": "Other runs (grouped by the folder holding seed<S> folders)",
}
MARK = "*"


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


def table_cells(table, decimals=2, show_std=True):
    """Headers and rows (strings) of one summary table, as printed."""
    if table["layout"] == "flat":
        headers = ["Runs", "Dataset", "Trainer", "Config", "Shots", "Classes", "Acc", "Seeds"]
        rows = [[r["group"], r["dataset"], r["trainer"], r["config"], "" if r["shots"] is None else r["shots"],
                 r["classes"] or "", format_stat(r["Acc"], decimals, show_std), r["Acc"]["n"]]
                for r in table["rows"]]
        return headers, rows
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


def _seeds_note(table):
    seeds = table.get("seeds")
    return f"seeds: {', '.join(str(s) for s in seeds)}" if seeds else ""


def render_text(summary, fmt="table", decimals=2, show_std=True):
    """Terminal tables (``table``) or a Markdown document (``md``)."""
    from tabulate import tabulate

    out = []
    tablefmt = "github" if fmt == "md" else "simple"
    for table in summary["tables"]:
        title = TITLES.get(table["protocol"], table["protocol"])
        note = _seeds_note(table)
        headers, rows = table_cells(table, decimals, show_std)
        if fmt == "md":
            out.append(f"### {title}\n")
            if note:
                out.append(f"_{note}; {MARK} = incomplete (see Missing)_\n")
        else:
            out.append(f"== {title}")
            if note:
                out.append(f"   ({note}; {MARK} = incomplete, see Missing)")
        out.append(tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True))
        out.append("")
    if summary["notes"]:
        out.append("### Notes\n" if fmt == "md" else "Notes:")
        out.extend(f"- {n}" for n in summary["notes"])
        out.append("")
    if summary["missing"]:
        out.append("### Missing\n" if fmt == "md" else "Missing:")
        out.extend(f"- {m}" for m in summary["missing"])
        out.append("")
    return "\n".join(out)


CSV_FIELDS = ["protocol", "row", "row_kind", "method", "variant", "trainer", "config", "shots", "metric", "mean",
              "std", "n", "seeds", "complete"]


def render_csv(summary):
    """Long-format CSV: one line per (table row, method, metric), full precision."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()

    def line(protocol, row, kind, method, metric, stat):
        writer.writerow({
            "protocol": protocol, "row": row, "row_kind": kind, "method": method.get("label", ""),
            "variant": method.get("variant", ""), "trainer": method.get("trainer", ""),
            "config": method.get("config", ""), "shots": "" if method.get("shots") is None else method["shots"],
            "metric": metric, "mean": "" if stat["mean"] is None else repr(stat["mean"]),
            "std": "" if stat.get("std") is None else repr(stat["std"]),
            "n": "" if stat.get("n") is None else stat["n"],
            "seeds": " ".join(str(s) for s in stat.get("seeds", [])), "complete": stat["complete"],
        })

    for table in summary["tables"]:
        if table["layout"] == "flat":
            for r in table["rows"]:
                method = {"label": r["trainer"], "trainer": r["trainer"], "config": r["config"], "shots": r["shots"]}
                line(table["protocol"], r["group"], "runs", method, "Acc", r["Acc"])
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


def _bar_panel(ax, table, metric):
    """Grouped bars: one group per table row (dataset), one bar per method, std as error bar."""
    methods, labels = table["methods"], [r["dataset"] for r in table["rows"]]
    width = 0.8 / max(1, len(methods))
    for i, m in enumerate(methods):
        means, errs = [], []
        for r in table["rows"]:
            stat = r["cells"].get(m["key"], {}).get(metric)
            means.append(float("nan") if not stat or stat["mean"] is None else stat["mean"])
            errs.append(stat["std"] if stat and stat.get("std") is not None else 0.0)
        xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(labels))]
        ax.bar(xs, means, width, yerr=errs, capsize=2, label=m["label"])
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right")


def _shots_panel(ax, table):
    """Few-shot: accuracy against shots per method, on the Average row (else the only dataset)."""
    row = next((r for r in table["rows"] if r["kind"] == "average"), table["rows"][0])
    for m in table["methods"]:
        cell = row["cells"].get(m["key"], {})
        points = sorted((int(k.split("-")[0]), v["mean"]) for k, v in cell.items() if v["mean"] is not None)
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=m["label"])
    ax.set_xlabel("shots per class")
    return row["dataset"]


def plot_summary(summary, path):
    """One figure row per protocol: bars per metric (Base/New/H, U/S/H, Acc); few-shot as lines."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib, which is not installed: pip install matplotlib "
                         "(or pip install -e '.[plot]'). The tables are complete without it.") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = [t for t in summary["tables"] if t["layout"] == "wide" and t["rows"]]
    if not tables:
        raise SystemExit("Nothing to plot: no base2new / ablation / xd / gzsl / fewshot table was found.")
    panels = [[None] if t["protocol"] == "fewshot" else t["metrics"] for t in tables]
    ncols = max(len(p) for p in panels)
    n_bars = max(len(t["rows"]) * max(1, len(t["methods"])) for t in tables)
    fig, axes = plt.subplots(len(tables), ncols, figsize=(ncols * max(4.0, 0.35 * n_bars + 2), 3.6 * len(tables)),
                             squeeze=False)
    for table, metrics, ax_row in zip(tables, panels, axes):
        for ax, metric in zip(ax_row, metrics):
            if metric is None:
                ax.set_title(f"{table['protocol']}: accuracy ({_shots_panel(ax, table)})")
            else:
                _bar_panel(ax, table, metric)
                ax.set_title(f"{table['protocol']}: {metric}")
            ax.set_ylabel("accuracy (%)")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize="small")
        for ax in ax_row[len(metrics):]:
            ax.axis("off")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", metavar="OUTPUT_ROOT", help="folder holding the runs (e.g. output)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default: from --out's extension, else table)")
    parser.add_argument("--out", default=None, help="write the output to this file (the table is still printed)")
    parser.add_argument("--plot", default=None, metavar="FILE.png", help="draw a bar chart (needs matplotlib)")
    parser.add_argument("--protocol", nargs="+", choices=results.PROTOCOLS, default=None,
                        help="only these protocols (default: all found)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="seeds every method should have (default: every seed found per protocol)")
    parser.add_argument("--decimals", type=int, default=2, help="decimals in table/md output (default 2)")
    parser.add_argument("--no-std", action="store_true", help="print means only")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    fmt = args.format
    if fmt is None:
        ext = os.path.splitext(args.out)[1].lower() if args.out else ""
        fmt = EXTENSIONS.get(ext, "table")
    try:
        records = results.collect(args.root)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = results.summarize(records, protocols=args.protocol, seeds=args.seeds)
    if not summary["tables"]:
        scope = f" for protocol(s) {', '.join(args.protocol)}" if args.protocol else ""
        print(f"No runs found under {args.root}{scope} (looked for results.json and log.txt files).",
              file=sys.stderr)
        return 1
    summary["root"] = os.path.abspath(args.root)

    renderers = {"table": lambda s: render_text(s, "table", args.decimals, not args.no_std),
                 "md": lambda s: render_text(s, "md", args.decimals, not args.no_std),
                 "csv": render_csv, "json": render_json}
    text = renderers[fmt](summary)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(renderers["table"](summary))
        print(f"Wrote {fmt} to {args.out}", file=sys.stderr)
    else:
        print(text, end="" if text.endswith("\n") else "\n")
        if fmt in ("csv", "json"):
            for line in summary["missing"]:
                print(f"missing: {line}", file=sys.stderr)
    if args.plot:
        print(f"Wrote plot to {plot_summary(summary, args.plot)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
