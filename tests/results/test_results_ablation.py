"""The ablation table: variants as rows, mean ± sample std, and paired deltas against the reference variant.

Trees follow scripts/ablation.sh's layout (``ablation/<variant>/base2new/...``); expected numbers are
computed here with ``statistics`` and ``scipy.stats.t.ppf``.
"""
import math
import statistics

import pytest
from scipy.stats import t as student_t

from results_trees import add_base2new
from shipclip.results import MethodNotFound, collect, summarize

# variant -> dataset -> [(Base, New) for seeds 1, 2, 3]
VARIANTS = {
    "full": {"dtd": [(81.0, 56.0), (82.0, 58.0), (80.5, 57.0)], "eurosat": [(90.0, 70.0), (91.0, 72.0), (89.0, 71.0)]},
    "no_kl": {"dtd": [(81.5, 53.0), (82.0, 55.5), (80.0, 54.0)], "eurosat": [(90.5, 66.0), (90.0, 69.0), (89.5, 67.0)]},
    "bias_only": {"dtd": [(79.0, 55.0), (80.5, 57.5), (79.5, 56.0)],
                  "eurosat": [(89.0, 70.5), (91.5, 71.0), (88.0, 72.5)]},
}
OVERRIDES = {"full": [], "no_kl": ["TRAINER.SHIP.LAMBDA_KL", "0.0"],
             "bias_only": ["TRAINER.SHIP.USE_GLOBAL_CTX", "False"]}


def h(b, n):
    return 2 * b * n / (b + n)


def interval(diffs):
    mean = statistics.fmean(diffs)
    half = student_t.ppf(0.975, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return mean, mean - half, mean + half


def write(root, variants=VARIANTS, names=None, seeds=(1, 2, 3), with_opts=True):
    for variant, datasets in variants.items():
        for dataset, per_seed in datasets.items():
            for seed in seeds:
                base, new = per_seed[seed - 1]
                add_base2new(root, dataset, "SHIP_CoOp", seed, base=base, new=new, prefix=f"ablation/{variant}",
                             opts=OVERRIDES[(names or {}).get(variant, variant)] if with_opts else None)


def ablation_table(root, **kwargs):
    summary = summarize(collect(root), protocols=["ablation"], **kwargs)
    (table,) = summary["tables"]
    return table, summary


def row(table, dataset, variant):
    return next(r for r in table["rows"] if r["dataset"] == dataset and r["variant"] == variant)


def test_variants_as_rows_with_sample_std_and_h_of_means(tmp_path):
    write(tmp_path)
    table, summary = ablation_table(tmp_path)
    assert table["layout"] == "variants" and table["reference"] == "full"
    assert table["std"] == "mean ± sample std (n-1) over seeds"
    assert [(r["dataset"], r["variant"]) for r in table["rows"]] == [
        ("dtd", "full"), ("dtd", "bias_only"), ("dtd", "no_kl"),
        ("eurosat", "full"), ("eurosat", "bias_only"), ("eurosat", "no_kl"),
        ("Average", "full"), ("Average", "bias_only"), ("Average", "no_kl")]
    for variant, datasets in VARIANTS.items():
        for dataset, per_seed in datasets.items():
            r = row(table, dataset, variant)
            bases, news = [b for b, _ in per_seed], [n for _, n in per_seed]
            assert r["cells"]["Base"]["mean"] == pytest.approx(statistics.fmean(bases))
            assert r["cells"]["Base"]["std"] == pytest.approx(statistics.stdev(bases))  # n-1
            assert r["cells"]["New"]["std"] == pytest.approx(statistics.stdev(news))
            assert r["cells"]["H"]["mean"] == pytest.approx(h(statistics.fmean(bases), statistics.fmean(news)))
        avg = row(table, "Average", variant)
        mean_base = statistics.fmean(statistics.fmean(b for b, _ in d) for d in datasets.values())
        mean_new = statistics.fmean(statistics.fmean(n for _, n in d) for d in datasets.values())
        assert avg["cells"]["H"]["mean"] == pytest.approx(h(mean_base, mean_new))
    assert summary["missing"] == []


def test_deltas_are_paired_against_the_full_method(tmp_path):
    write(tmp_path)
    table, _ = ablation_table(tmp_path)
    full = row(table, "dtd", "full")
    assert full["is_reference"] and full["deltas"] == {}
    for variant in ("no_kl", "bias_only"):
        for dataset in ("dtd", "eurosat"):
            ref, var = VARIANTS["full"][dataset], VARIANTS[variant][dataset]
            deltas = row(table, dataset, variant)["deltas"]
            for metric, get in (("Base", lambda v: v[0]), ("New", lambda v: v[1]), ("H", lambda v: h(*v))):
                mean, low, high = interval([get(var[i]) - get(ref[i]) for i in range(3)])
                d = deltas[metric]
                assert (d["mean"], d["low"], d["high"]) == pytest.approx((mean, low, high)), (variant, dataset, metric)
                assert d["excludes_zero"] == (low > 0 or high < 0)
    # no_kl loses new-class accuracy on dtd on every seed (-3, -2.5, -3): the interval excludes 0.
    assert row(table, "dtd", "no_kl")["deltas"]["New"]["excludes_zero"] is True
    assert row(table, "dtd", "no_kl")["deltas"]["Base"]["excludes_zero"] is False
    # Average row: per seed, the mean over datasets, then the difference.
    pooled = {v: [statistics.fmean(VARIANTS[v][d][i][1] for d in ("dtd", "eurosat")) for i in range(3)]
              for v in ("full", "no_kl")}
    mean, low, high = interval([pooled["no_kl"][i] - pooled["full"][i] for i in range(3)])
    d = row(table, "Average", "no_kl")["deltas"]["New"]
    assert (d["mean"], d["low"], d["high"]) == pytest.approx((mean, low, high))


def test_reference_flag_and_the_variant_without_overrides(tmp_path):
    # No variant is named "full": the one whose runs recorded no overrides of their own is the reference.
    write(tmp_path, {"baseline": VARIANTS["full"], "no_kl": VARIANTS["no_kl"]}, names={"baseline": "full"})
    table, _ = ablation_table(tmp_path)
    assert table["reference"] == "baseline" and "without overrides" in table["reference_rule"]
    table, _ = ablation_table(tmp_path, reference="no_kl")
    assert table["reference"] == "no_kl" and row(table, "dtd", "no_kl")["is_reference"]
    diff = [VARIANTS["full"]["dtd"][i][0] - VARIANTS["no_kl"]["dtd"][i][0] for i in range(3)]
    assert row(table, "dtd", "baseline")["deltas"]["Base"]["mean"] == pytest.approx(statistics.fmean(diff))
    with pytest.raises(MethodNotFound, match="--reference 'nope' is not an ablation variant.*baseline, no_kl"):
        ablation_table(tmp_path, reference="nope")


def test_no_reference_when_it_cannot_be_told(tmp_path):
    write(tmp_path, {"a": VARIANTS["no_kl"], "b": VARIANTS["bias_only"]}, with_opts=False)
    table, _ = ablation_table(tmp_path)
    assert table["reference"] is None and "--reference NAME" in table["reference_rule"]
    assert all(r["deltas"] == {} and not r["is_reference"] for r in table["rows"])


def test_one_seed_and_missing_seeds(tmp_path):
    write(tmp_path, {"full": VARIANTS["full"]}, seeds=(1, 2, 3))
    write(tmp_path, {"no_kl": VARIANTS["no_kl"]}, seeds=(1, 2))
    write(tmp_path, {"bias_only": VARIANTS["bias_only"]}, seeds=(3,))
    table, summary = ablation_table(tmp_path)
    d = row(table, "dtd", "no_kl")["deltas"]["New"]
    assert d["seeds"] == [1, 2] and d["only_a"] == [3] and d["n"] == 2
    mean, low, high = interval([VARIANTS["no_kl"]["dtd"][i][1] - VARIANTS["full"]["dtd"][i][1] for i in range(2)])
    assert (d["mean"], d["low"], d["high"]) == pytest.approx((mean, low, high))
    one = row(table, "dtd", "bias_only")["deltas"]["Base"]
    assert one["n"] == 1 and one["low"] is None and one["mean"] == pytest.approx(79.5 - 80.5)
    assert row(table, "dtd", "bias_only")["cells"]["Base"]["std"] is None  # no sample std of one seed
    assert "ablation/no_kl dtd no_kl: seed 3 has no finished runs" in summary["missing"]
