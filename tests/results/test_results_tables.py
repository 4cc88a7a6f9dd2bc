"""Tables over seeds and datasets: population std, H of averages, missing seeds, every protocol."""
import math

import numpy as np
import pytest

from results_trees import LAYOUT, add_base2new, cell, evaluation, run_info
from shipclip.results import collect, harmonic_mean, mean_std, record_evaluation, summarize



def test_mean_std_is_population_std():
    mean, std = mean_std([70.0, 72.0, 77.0])
    assert mean == pytest.approx(73.0)
    assert std == pytest.approx(np.std([70.0, 72.0, 77.0]))  # ddof=0, as CoOp's parser
    assert std != pytest.approx(np.std([70.0, 72.0, 77.0], ddof=1))
    assert std == pytest.approx(math.sqrt((9 + 1 + 16) / 3))


def test_harmonic_mean_edge_cases():
    assert harmonic_mean(80.0, 60.0) == pytest.approx(2 * 80 * 60 / 140)
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert harmonic_mean(None, 50.0) is None


def test_base2new_h_of_averages_against_hand_computation(tmp_path):
    # Dataset A: Base 88/90/92 (mean 90), New 28/30/32 (mean 30) -> H = 2*90*30/120 = 45
    # Dataset B: Base 60/60/60 (mean 60), New 78/80/82 (mean 80) -> H = 2*60*80/140 = 68.5714...
    # Average row: Base (90+60)/2 = 75, New (30+80)/2 = 55, H = 2*75*55/130 = 63.4615...
    # (the mean of per-dataset H would be 56.7857..., which is NOT what is reported)
    for seed, (ba, na, bb, nb) in enumerate([(88, 28, 60, 78), (90, 30, 60, 80), (92, 32, 60, 82)], start=1):
        add_base2new(tmp_path, "dtd", "CoOp", seed, base=ba, new=na)
        add_base2new(tmp_path, "eurosat", "CoOp", seed, base=bb, new=nb)
    summary = summarize(collect(tmp_path))
    assert summary["missing"] == []
    a = cell(summary, "base2new", "dtd", "CoOp")
    assert a["Base"]["mean"] == pytest.approx(90.0)
    assert a["Base"]["std"] == pytest.approx(math.sqrt(8 / 3))
    assert a["Base"]["seeds"] == [1, 2, 3] and a["Base"]["complete"]
    assert a["New"]["mean"] == pytest.approx(30.0)
    assert a["H"]["mean"] == pytest.approx(45.0)
    b = cell(summary, "base2new", "eurosat", "CoOp")
    assert b["H"]["mean"] == pytest.approx(2 * 60 * 80 / 140)
    avg = cell(summary, "base2new", "Average", "CoOp")
    assert avg["Base"]["mean"] == pytest.approx(75.0)
    assert avg["New"]["mean"] == pytest.approx(55.0)
    assert avg["H"]["mean"] == pytest.approx(2 * 75 * 55 / 130)
    assert avg["H"]["mean"] != pytest.approx((45.0 + 2 * 60 * 80 / 140) / 2, abs=1e-3)
    assert avg["H"]["complete"]


def test_missing_seeds_and_runs_are_reported_and_marked(tmp_path):
    for seed in (1, 2, 3):
        add_base2new(tmp_path, "dtd", "CoOp", seed, base=80 + seed, new=None if seed == 2 else 60 + seed)
        if seed != 3:
            add_base2new(tmp_path, "dtd", "CoCoOp", seed, base=70.0, new=70.0)
    add_base2new(tmp_path, "eurosat", "CoOp", 1, base=90.0, new=50.0)
    add_base2new(tmp_path, "eurosat", "CoOp", 2, base=90.0, new=50.0)
    add_base2new(tmp_path, "eurosat", "CoOp", 3, base=90.0, new=50.0)
    summary = summarize(collect(tmp_path))
    missing = "\n".join(summary["missing"])
    assert "base2new dtd CoOp: seed 2 has a base run but no finished new run" in missing
    assert "base2new/test_new/dtd/shots_16/CoOp/cfg/seed2" in missing
    assert "base2new dtd CoCoOp: seed 3 has no finished runs" in missing
    assert "average for CoCoOp covers 1 of 2 datasets (missing: eurosat)" in missing
    coop = cell(summary, "base2new", "dtd", "CoOp")
    # Base has all three seeds; New only seeds 1 and 3: averaged over what exists, and marked.
    assert coop["Base"]["complete"] and coop["Base"]["mean"] == pytest.approx(82.0)
    assert not coop["New"]["complete"] and coop["New"]["missing_seeds"] == [2]
    assert coop["New"]["mean"] == pytest.approx((61 + 63) / 2) and coop["New"]["n"] == 2
    assert not coop["H"]["complete"]
    cocoop = cell(summary, "base2new", "dtd", "CoCoOp")
    assert cocoop["Base"]["missing_seeds"] == [3] and not cocoop["Base"]["complete"]
    assert not cell(summary, "base2new", "Average", "CoCoOp")["H"]["complete"]
    # explicitly expected seeds
    summary = summarize(collect(tmp_path), seeds=[1, 2, 3, 4])
    assert "base2new eurosat CoOp: seed 4 has no finished runs" in summary["missing"]


def test_unfinished_run_is_reported_not_counted(tmp_path):
    add_base2new(tmp_path, "dtd", "CoOp", 1, base=80.0, new=60.0)
    unfinished = tmp_path / LAYOUT.format(protocol="base2new", role="train_base", dataset="dtd", shots=16,
                                          trainer="CoOp", cfg="cfg", seed=2)
    record_evaluation(unfinished, run_info(seed=2), evaluation(50.0, split="val", epoch=3), log=None)
    summary = summarize(collect(tmp_path))
    unfinished_line = "unfinished run base2new/train_base/dtd/shots_16/CoOp/cfg/seed2: results.json has no test"
    assert any(m.startswith(unfinished_line) for m in summary["missing"])
    coop = cell(summary, "base2new", "dtd", "CoOp")
    assert coop["Base"]["seeds"] == [1] and coop["Base"]["missing_seeds"] == [2]


# ------------------------------------------------------------------------------ other protocols


def test_gzsl_u_s_h(tmp_path):
    for seed, (seen, unseen) in enumerate([(60.0, 40.0), (64.0, 44.0)], start=1):
        path = tmp_path / LAYOUT.format(protocol="gzsl", role="test_joint", dataset="gzsl_cub", shots=16,
                                        trainer="CoOp", cfg="cfg", seed=seed)
        record_evaluation(path, run_info(subsample="all"),
                          evaluation(50.0, classes="joint", seen=seen, unseen=unseen), log=None)
        train = tmp_path / LAYOUT.format(protocol="gzsl", role="train_seen", dataset="gzsl_cub", shots=16,
                                         trainer="CoOp", cfg="cfg", seed=seed)
        record_evaluation(train, run_info(), evaluation(70.0), log=None)
    train3 = tmp_path / LAYOUT.format(protocol="gzsl", role="train_seen", dataset="gzsl_cub", shots=16,
                                      trainer="CoOp", cfg="cfg", seed=3)
    record_evaluation(train3, run_info(seed=3), evaluation(70.0), log=None)
    summary = summarize(collect(tmp_path))
    c = cell(summary, "gzsl", "gzsl_cub", "CoOp")
    assert c["U"]["mean"] == pytest.approx(42.0) and c["S"]["mean"] == pytest.approx(62.0)
    assert c["H"]["mean"] == pytest.approx(2 * 42 * 62 / 104)
    assert ("gzsl gzsl_cub CoOp: seed 3 has no finished joint (test_joint) evaluation (its seen-class training run "
            "is finished)") in summary["missing"]


def test_xd_targets_source_and_averages(tmp_path):
    def put(role, dataset, acc, seed=1, trainer="CoOp", extra=""):
        path = tmp_path / "xd" / role / dataset / "shots_16" / trainer / "cfg" / extra / f"seed{seed}"
        record_evaluation(path, run_info(trainer, dataset, seed, "all"), evaluation(acc, classes="all"), log=None)

    put("train", "imagenet", 70.0)
    for target, acc in (("dtd", 40.0), ("eurosat", 50.0), ("imagenetv2", 60.0), ("imagenet_a", 30.0)):
        put("test", target, acc)
    # SHIP: one source model per target, evaluated on that target
    put("train", "imagenet", 69.0, trainer="SHIP_CoOp", extra="to_dtd")
    put("train", "imagenet", 71.0, trainer="SHIP_CoOp", extra="to_eurosat")
    put("test", "dtd", 44.0, trainer="SHIP_CoOp")
    put("test", "eurosat", 52.0, trainer="SHIP_CoOp")
    summary = summarize(collect(tmp_path))
    assert cell(summary, "xd", "imagenet (source)", "CoOp")["Acc"]["mean"] == pytest.approx(70.0)
    assert cell(summary, "xd", "imagenet (source)", "SHIP_CoOp")["Acc"]["mean"] == pytest.approx(70.0)
    assert cell(summary, "xd", "Average (cross-dataset)", "CoOp")["Acc"]["mean"] == pytest.approx(45.0)
    assert cell(summary, "xd", "Average (cross-dataset)", "SHIP_CoOp")["Acc"]["mean"] == pytest.approx(48.0)
    assert cell(summary, "xd", "Average (domain generalization)", "CoOp")["Acc"]["mean"] == pytest.approx(45.0)
    assert "xd imagenetv2 SHIP_CoOp: no runs on this target" in summary["missing"]
    table = summary["tables"][0]
    assert [r["dataset"] for r in table["rows"]] == ["imagenet (source)", "dtd", "eurosat", "imagenetv2", "imagenet_a",
                                                     "Average (cross-dataset)", "Average (domain generalization)"]


def test_fewshot_columns_and_zero_shot(tmp_path):
    def put(shots, seed, acc, trainer="CoOp"):
        path = tmp_path / "fewshot" / "dtd" / f"shots_{shots}" / trainer / "cfg" / f"seed{seed}"
        record_evaluation(path, run_info(trainer, "dtd", seed, "all"), evaluation(acc, classes="all"), log=None)

    for seed in (1, 2):
        put(1, seed, 40.0 + seed)
        put(4, seed, 50.0 + seed)
        put(0, seed, 44.0, trainer="ZeroshotCLIP")
    put(16, 1, 70.0)
    summary = summarize(collect(tmp_path))
    table = summary["tables"][0]
    assert table["metrics"] == ["0-shot", "1-shot", "4-shot", "16-shot"]
    coop = cell(summary, "fewshot", "dtd", "CoOp")
    assert coop["1-shot"]["mean"] == pytest.approx(41.5) and coop["4-shot"]["mean"] == pytest.approx(51.5)
    assert coop["16-shot"]["missing_seeds"] == [2]
    assert cell(summary, "fewshot", "dtd", "ZeroshotCLIP")["0-shot"]["complete"]
    assert summary["missing"] == ["fewshot dtd CoOp: 16 shots, seed 2 has no finished run"]


def test_protocol_filter_and_unknown_protocol(tmp_path):
    add_base2new(tmp_path, "dtd", "CoOp", 1, base=80.0, new=60.0)
    add_base2new(tmp_path, "dtd", "SHIP_CoOp", 1, base=80.0, new=70.0, prefix="ablation/no_kl")
    summary = summarize(collect(tmp_path), protocols=["ablation"])
    assert [t["protocol"] for t in summary["tables"]] == ["ablation"]
    assert [m["label"] for m in summary["tables"][0]["methods"]] == ["no_kl"]
    with pytest.raises(ValueError, match="Unknown protocol"):
        summarize([], protocols=["b2n"])


def test_collect_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        collect(tmp_path / "nope")
