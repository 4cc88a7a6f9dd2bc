#!/usr/bin/env python
"""Tables (and a bar chart) of every run under an output root, and paired comparisons of two methods.

Reads each ``results.json`` (and, for runs made with real Dassl's own trainers, ``log.txt``) below
OUTPUT_ROOT, averages seeds and prints one table per protocol with the methods side by side::

    python scripts/results.py output                       # all protocols, terminal tables
    python scripts/results.py output --protocol base2new --format md --out results.md
    python scripts/results.py output --out results.csv     # format from the extension
    python scripts/results.py output --plot results.png    # needs matplotlib
    python scripts/results.py output --paired CoOp SHIP_CoOp          # per-seed differences SHIP_CoOp - CoOp
    python scripts/results.py output --protocol ablation --reference full

Cells are ``mean ± std`` over seeds: the population std (as CoOp's parse_test_res.py) in the
protocol tables, the sample std (n-1) in the ablation table; each header says which. Base-to-new
H is the harmonic mean of the seed-averaged Base and New; the Average row holds the mean Base, the
mean New and H of those means. A cell marked ``*`` is incomplete (missing seeds or datasets); the
``Missing`` list says what is absent. The ablation table lists variants as rows with their paired
difference to the reference variant (Student t 95% interval, ``†`` when it excludes 0).

``--paired A B`` prints, instead of the tables, the per-seed differences B - A of every metric
(Base, New and per-seed H; U, S, H; accuracy per target or shot count) on the seeds both methods
have, with their mean, the Student t 95% interval and n, per dataset and pooled over datasets.
A and B are the labels the tables print (or a trainer, trainer/config, or ablation variant).
The CSV is long-format (one line per cell and metric) and the JSON output keeps full precision.
"""
import argparse
import os
import sys

try:
    import shipclip.results as results
except ImportError:  # running from a checkout that was not pip-installed
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import shipclip.results as results
from shipclip.results.plot import plot_summary  # noqa: E402
from shipclip.results.render import (CSV_FIELDS, MARK, TITLES, format_stat, render_csv, render_json,  # noqa: E402
                                     render_text, table_cells)
from shipclip.results.render_paired import render_paired_csv, render_paired_json, render_paired_text  # noqa: E402

__all__ = ["CSV_FIELDS", "MARK", "TITLES", "format_stat", "table_cells", "render_text", "render_csv",
           "render_json", "plot_summary", "build_parser", "main"]

FORMATS = ("table", "csv", "md", "json")
EXTENSIONS = {".csv": "csv", ".md": "md", ".markdown": "md", ".json": "json", ".txt": "table"}


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
    parser.add_argument("--paired", nargs=2, metavar=("A", "B"), default=None,
                        help="print per-seed differences B - A with their Student t 95%% interval instead of the "
                             "tables (A, B: labels as the tables print them, or trainer, trainer/config, variant)")
    parser.add_argument("--reference", default=None, metavar="NAME",
                        help="ablation variant the others are compared with (default: the one named 'full', else "
                             "the one without overrides of its own)")
    parser.add_argument("--decimals", type=int, default=2, help="decimals in table/md output (default 2)")
    parser.add_argument("--no-std", action="store_true", help="print means only")
    return parser


def _emit(text, table_text, fmt, out, notes):
    """Print (or write to ``out`` and print the terminal table); CSV/JSON on stdout keep notes on stderr."""
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(table_text())
        print(f"Wrote {fmt} to {out}", file=sys.stderr)
    else:
        print(text, end="" if text.endswith("\n") else "\n")
        if fmt in ("csv", "json"):
            for line in notes:
                print(line, file=sys.stderr)


def _paired(args, records, fmt):
    try:
        report = results.paired(records, *args.paired, protocols=args.protocol, seeds=args.seeds)
    except results.MethodNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["root"] = os.path.abspath(args.root)
    renderers = {"table": lambda r: render_paired_text(r, "table", args.decimals),
                 "md": lambda r: render_paired_text(r, "md", args.decimals),
                 "csv": render_paired_csv, "json": render_paired_json}
    notes = [f"note: {n}" for c in report["comparisons"] for n in c["notes"]]
    _emit(renderers[fmt](report), lambda: renderers["table"](report), fmt, args.out, notes)
    return 0


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
    if args.paired:
        return _paired(args, records, fmt)
    try:
        summary = results.summarize(records, protocols=args.protocol, seeds=args.seeds, reference=args.reference)
    except results.MethodNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not summary["tables"]:
        scope = f" for protocol(s) {', '.join(args.protocol)}" if args.protocol else ""
        print(f"No runs found under {args.root}{scope} (looked for results.json and log.txt files).",
              file=sys.stderr)
        return 1
    summary["root"] = os.path.abspath(args.root)

    renderers = {"table": lambda s: render_text(s, "table", args.decimals, not args.no_std),
                 "md": lambda s: render_text(s, "md", args.decimals, not args.no_std),
                 "csv": render_csv, "json": render_json}
    _emit(renderers[fmt](summary), lambda: renderers["table"](summary), fmt, args.out,
          [f"missing: {line}" for line in summary["missing"]])
    if args.plot:
        print(f"Wrote plot to {plot_summary(summary, args.plot)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
