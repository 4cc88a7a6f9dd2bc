"""Bar charts of the summary tables (needs matplotlib, an optional dependency).

One figure row per protocol: bars per metric (Base/New/H, U/S/H, Acc), one group per dataset and
one bar per method with the std over seeds as error bar; few-shot tables as accuracy-vs-shots lines.
"""
import os

from .ablation import as_wide

__all__ = ["plot_summary"]


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

    tables = [as_wide(t) if t["layout"] == "variants" else t for t in summary["tables"]]
    tables = [t for t in tables if t["layout"] == "wide" and t["rows"]]
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
