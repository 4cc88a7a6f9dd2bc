"""Paired comparisons: per-seed differences, their mean and Student t interval, on the seeds both methods have.

Expected values are computed here from the recorded numbers with ``statistics`` and the t quantile
(``scipy.stats.t.ppf``), independently of the code under test.
"""
import math
import statistics

import pytest
from scipy.stats import t as student_t

from results_trees import add_base2new, add_gzsl, add_xd
from shipclip.results import MethodNotFound, collect, paired

# seed -> (Base, New) per dataset and method
COOP = {"dtd": {1: (80.0, 50.0), 2: (82.0, 52.0), 3: (81.0, 49.0)},
        "eurosat": {1: (90.0, 60.0), 2: (88.0, 58.0), 3: (92.0, 61.0)}}
SHIP = {"dtd": {1: (80.5, 55.0), 2: (82.0, 58.5), 3: (80.0, 54.0)},
        "eurosat": {1: (89.0, 66.0), 2: (89.5, 63.0), 3: (91.0, 65.5)}}


def h(b, n):
    return 2 * b * n / (b + n)


def expected_interval(diffs):
    """mean ± t_{0.975, n-1} · sd / √n with the sample sd."""
    n = len(diffs)
    mean = statistics.fmean(diffs)
    half = student_t.ppf(0.975, n - 1) * statistics.stdev(diffs) / math.sqrt(n)
    return mean, mean - half, mean + half


def write(root, table, trainer, seeds=(1, 2, 3)):
    for dataset, per_seed in table.items():
        for seed in seeds:
            base, new = per_seed[seed]
            add_base2new(root, dataset, trainer, seed, base=base, new=new)


def metric(report, row, name, protocol="base2new"):
    comparison = next(c for c in report["comparisons"] if c["protocol"] == protocol)
    return next(r for r in comparison["rows"] if r["row"] == row)["metrics"][name]


def test_t_quantile_is_the_textbook_value():
    # t_{0.975, 2} = 4.303 and t_{0.975, 4} = 2.776 in every t table.
    assert student_t.ppf(0.975, 2) == pytest.approx(4.303, abs=5e-4)
    assert student_t.ppf(0.975, 4) == pytest.approx(2.776, abs=5e-4)


def test_base2new_per_seed_differences_means_and_intervals(tmp_path):
    write(tmp_path, COOP, "CoOp")
    write(tmp_path, SHIP, "SHIP_CoOp")
    report = paired(collect(tmp_path), "CoOp", "SHIP_CoOp")
    (comparison,) = report["comparisons"]
    assert comparison["a"] == "CoOp" and comparison["b"] == "SHIP_CoOp"
    assert [r["row"] for r in comparison["rows"]] == ["dtd", "eurosat", "Average"]
    for dataset in ("dtd", "eurosat"):
        a, b = COOP[dataset], SHIP[dataset]
        columns = {"Base": lambda v: v[0], "New": lambda v: v[1], "H": lambda v: h(*v)}
        for name, get in columns.items():
            diffs = [get(b[s]) - get(a[s]) for s in (1, 2, 3)]
            e = metric(report, dataset, name)
            assert e["seeds"] == [1, 2, 3] and e["n"] == 3
            assert [e["differences"][str(s)] for s in (1, 2, 3)] == pytest.approx(diffs)
            mean, low, high = expected_interval(diffs)
            assert e["mean"] == pytest.approx(mean)
            assert e["low"] == pytest.approx(low) and e["high"] == pytest.approx(high)
            assert e["excludes_zero"] == (low > 0 or high < 0)
            assert e["mean_a"] == pytest.approx(statistics.fmean(get(a[s]) for s in (1, 2, 3)))
    # New on dtd: +5, +6.5, +5 -> the interval lies above 0; Base on dtd: +0.5, 0, -1 -> it covers 0.
    assert metric(report, "dtd", "New")["excludes_zero"] is True
    assert metric(report, "dtd", "Base")["excludes_zero"] is False


def test_average_row_pools_datasets_per_seed(tmp_path):
    write(tmp_path, COOP, "CoOp")
    write(tmp_path, SHIP, "SHIP_CoOp")
    report = paired(collect(tmp_path), "CoOp", "SHIP_CoOp")
    pooled = {}
    for name, table in (("a", COOP), ("b", SHIP)):
        pooled[name] = {s: tuple(statistics.fmean(table[d][s][i] for d in ("dtd", "eurosat")) for i in (0, 1))
                        for s in (1, 2, 3)}
    # H per seed of the pooled row: H of that seed's dataset-averaged Base and New.
    diffs = [h(*pooled["b"][s]) - h(*pooled["a"][s]) for s in (1, 2, 3)]
    e = metric(report, "Average", "H")
    assert e["datasets"] == ["dtd", "eurosat"]
    assert [e["differences"][str(s)] for s in (1, 2, 3)] == pytest.approx(diffs)
    mean, low, high = expected_interval(diffs)
    assert (e["mean"], e["low"], e["high"]) == pytest.approx((mean, low, high))
    base = metric(report, "Average", "Base")
    assert base["differences"]["2"] == pytest.approx(pooled["b"][2][0] - pooled["a"][2][0])


def test_mismatched_seeds_pair_only_common_ones(tmp_path):
    write(tmp_path, {"dtd": COOP["dtd"]}, "CoOp", seeds=(1, 2, 3))
    ship = {"dtd": {**SHIP["dtd"], 4: (83.0, 57.0)}}
    write(tmp_path, ship, "SHIP_CoOp", seeds=(2, 3, 4))
    report = paired(collect(tmp_path), "CoOp", "SHIP_CoOp")
    e = metric(report, "dtd", "New")
    assert e["seeds"] == [2, 3] and e["only_a"] == [1] and e["only_b"] == [4] and e["n"] == 2
    diffs = [ship["dtd"][s][1] - COOP["dtd"][s][1] for s in (2, 3)]
    mean, low, high = expected_interval(diffs)
    assert (e["mean"], e["low"], e["high"]) == pytest.approx((mean, low, high))
    notes = report["comparisons"][0]["notes"]
    assert "dtd (Base, New, H): seed 1 has CoOp but not SHIP_CoOp: not paired" in notes
    assert "dtd (Base, New, H): seed 4 has SHIP_CoOp but not CoOp: not paired" in notes


def test_one_common_seed_gives_differences_without_interval(tmp_path):
    write(tmp_path, {"dtd": COOP["dtd"]}, "CoOp", seeds=(1,))
    write(tmp_path, {"dtd": SHIP["dtd"]}, "SHIP_CoOp", seeds=(1, 2))
    e = metric(paired(collect(tmp_path), "CoOp", "SHIP_CoOp"), "dtd", "Base")
    assert e["n"] == 1 and e["differences"] == {"1": pytest.approx(0.5)} and e["mean"] == pytest.approx(0.5)
    assert e["low"] is None and e["high"] is None and e["excludes_zero"] is None and e["sd"] is None


def test_methods_named_by_label_trainer_or_config(tmp_path):
    for cfg, shift in (("ctx4", 0.0), ("ctx16", 2.0)):
        for seed in (1, 2):
            add_base2new(tmp_path, "dtd", "CoOp", seed, base=80.0 + shift + seed, new=50.0 + shift, cfg=cfg)
    records = collect(tmp_path)
    report = paired(records, "CoOp/ctx4", "CoOp/ctx16")  # configs tell the two methods apart
    assert metric(report, "dtd", "Base")["differences"] == {"1": pytest.approx(2.0), "2": pytest.approx(2.0)}
    with pytest.raises(MethodNotFound, match="'CoOp' matches 2 methods.*CoOp/ctx16, CoOp/ctx4"):
        paired(records, "CoOp", "CoOp/ctx16")
    with pytest.raises(MethodNotFound, match="No protocol has both 'CoOp/ctx4' and 'KgCoOp'.*base2new: CoOp/ctx16"):
        paired(records, "CoOp/ctx4", "KgCoOp")
    with pytest.raises(MethodNotFound, match="same method"):
        paired(records, "CoOp/ctx4", "CoOp/ctx4")


def test_gzsl_pairs_u_s_and_per_seed_h(tmp_path):
    values = {"CoOp": {1: (60.0, 30.0), 2: (62.0, 33.0), 3: (61.0, 31.0)},
              "SHIP_CoOp": {1: (59.0, 40.0), 2: (61.5, 41.0), 3: (60.0, 42.5)}}
    for trainer, per_seed in values.items():
        for seed, (seen, unseen) in per_seed.items():
            add_gzsl(tmp_path, "gzsl_cub", trainer, seed, seen=seen, unseen=unseen)
    report = paired(collect(tmp_path), "CoOp", "SHIP_CoOp")
    a, b = values["CoOp"], values["SHIP_CoOp"]
    for name, get in (("S", lambda v: v[0]), ("U", lambda v: v[1]), ("H", lambda v: h(*v))):
        diffs = [get(b[s]) - get(a[s]) for s in (1, 2, 3)]
        e = metric(report, "gzsl_cub", name, protocol="gzsl")
        mean, low, high = expected_interval(diffs)
        assert (e["mean"], e["low"], e["high"]) == pytest.approx((mean, low, high)), name
    assert metric(report, "gzsl_cub", "U", protocol="gzsl")["excludes_zero"] is True


def test_xd_pairs_targets_and_the_cross_dataset_average(tmp_path):
    acc = {"CoOp": {"dtd": [40.0, 42.0], "eurosat": [45.0, 47.0]},
           "SHIP_CoOp": {"dtd": [43.0, 44.0], "eurosat": [46.0, 50.0]}}
    for trainer, targets in acc.items():
        for target, per_seed in targets.items():
            for seed, value in enumerate(per_seed, start=1):
                add_xd(tmp_path, "test", target, trainer, seed, value)
    report = paired(collect(tmp_path), "CoOp", "SHIP_CoOp", protocols=["xd"])
    assert metric(report, "dtd", "Acc", "xd")["differences"] == {"1": pytest.approx(3.0), "2": pytest.approx(2.0)}
    e = metric(report, "Average (cross-dataset)", "Acc", "xd")
    diffs = [(43.0 + 46.0) / 2 - (40.0 + 45.0) / 2, (44.0 + 50.0) / 2 - (42.0 + 47.0) / 2]
    mean, low, high = expected_interval(diffs)
    assert (e["mean"], e["low"], e["high"]) == pytest.approx((mean, low, high))


def test_runs_of_several_roots_pool_through_symbolic_links(tmp_path):
    """Two output roots with the same dataset name become two rows once linked under distinct names."""
    for world in ("world_a", "world_b"):
        write(tmp_path / world, {"toyworld": COOP["dtd" if world == "world_a" else "eurosat"]}, "CoOp")
        write(tmp_path / world, {"toyworld": SHIP["dtd" if world == "world_a" else "eurosat"]}, "SHIP_CoOp")
    pooled = tmp_path / "pooled"
    for role in ("train_base", "test_new"):
        (pooled / "base2new" / role).mkdir(parents=True)
        for world, name in (("world_a", "dtd"), ("world_b", "eurosat")):
            (pooled / "base2new" / role / name).symlink_to(tmp_path / world / "base2new" / role / "toyworld")
    (pooled / "base2new" / "loop").symlink_to(pooled)  # a cycle is walked once, not forever
    linked = paired(collect(pooled), "CoOp", "SHIP_CoOp")
    write(tmp_path / "direct", COOP, "CoOp")
    write(tmp_path / "direct", SHIP, "SHIP_CoOp")
    direct = paired(collect(tmp_path / "direct"), "CoOp", "SHIP_CoOp")
    for row in ("dtd", "eurosat", "Average"):
        for name in ("Base", "New", "H"):
            assert metric(linked, row, name) == metric(direct, row, name)
