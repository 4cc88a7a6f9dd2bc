"""results.json writer/reader, Dassl log parsing, layout inference and seed/dataset aggregation."""
import json
import math
import os
import re

import numpy as np
import pytest

from shipclip import results
from shipclip.results import (ResultsFormatError, collect, harmonic_mean, is_finished, load_results, mean_std,
                              parse_layout, parse_log, record_evaluation, summarize)

LAYOUT = "{protocol}/{role}/{dataset}/shots_{shots}/{trainer}/{cfg}/seed{seed}"


def evaluation(accuracy, classes="base", split="test", epoch=10, **extra):
    metrics = {"accuracy": accuracy, "error_rate": 100.0 - accuracy, "macro_f1": accuracy - 1.0,
               "total": 200, "correct": int(round(accuracy * 2))}
    metrics.update(extra)
    return {"split": split, "epoch": epoch, "classes": classes, "metrics": metrics}


def run_info(trainer="CoOp", dataset="OxfordPets", seed=1, subsample="base", **extra):
    info = {"trainer": trainer, "dataset": dataset, "backbone": "ViT-B/16", "weights": "openai", "num_shots": 16,
            "seed": seed, "subsample_classes": subsample, "config": "vit_b16_ctxv1", "engine": "builtin",
            "eval_only": subsample == "new", "opts": ["DATASET.NUM_SHOTS", "16"]}
    info.update(extra)
    return info


def add_base2new(root, dataset, trainer, seed, base=None, new=None, cfg="cfg", prefix=""):
    """Record the base and/or new run of one seed in the layout the scripts write."""
    for role, classes, acc in (("train_base", "base", base), ("test_new", "new", new)):
        if acc is None:
            continue
        path = os.path.join(root, prefix, LAYOUT.format(protocol="base2new", role=role, dataset=dataset, shots=16,
                                                        trainer=trainer, cfg=cfg, seed=seed))
        record_evaluation(path, run_info(trainer, dataset, seed, classes), evaluation(acc, classes), log=None)


def cell(summary, protocol, dataset, label):
    table = next(t for t in summary["tables"] if t["protocol"] == protocol)
    key = next(m["key"] for m in table["methods"] if m["label"] == label)
    row = next(r for r in table["rows"] if r["dataset"] == dataset)
    return row["cells"][key]


# ------------------------------------------------------------------------------ arithmetic


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


# ------------------------------------------------------------------------------ writer / reader


def test_record_evaluation_structure_and_replacement(tmp_path):
    out = tmp_path / "run"
    path = record_evaluation(out, run_info(), evaluation(70.0, split="val", epoch=1), log=None)
    record_evaluation(out, run_info(), evaluation(75.5, epoch=10), log=None)
    record_evaluation(out, run_info(), evaluation(71.0, split="val", epoch=2), log=None)
    record_evaluation(out, run_info(), evaluation(76.25, epoch=10), log=None)  # same key: replaces
    doc = load_results(path)
    assert doc["format"] == "shipclip-results" and doc["version"] == results.VERSION
    assert list(doc["run"])[: len(results.RUN_KEYS)] == list(results.RUN_KEYS)
    assert doc["run"]["label_only"] is None and doc["run"]["opts"] == ["DATASET.NUM_SHOTS", "16"]
    keys = [(e["split"], e["epoch"], e["classes"]) for e in doc["evaluations"]]
    assert keys == [("val", 1, "base"), ("val", 2, "base"), ("test", 10, "base")]
    final = doc["evaluations"][-1]["metrics"]
    assert final["accuracy"] == 76.25 and isinstance(final["total"], int)
    assert results.final_evaluation(doc)["metrics"]["accuracy"] == 76.25


def test_full_precision_and_numpy_scalars(tmp_path):
    acc = 100 * 6110 / 8041
    ev = evaluation(np.float64(acc))
    ev["metrics"]["total"] = np.int64(8041)
    path = record_evaluation(tmp_path, run_info(seed=np.int64(3)), ev, log=None)
    doc = load_results(path)
    assert doc["evaluations"][0]["metrics"]["accuracy"] == acc  # exact round trip
    assert doc["evaluations"][0]["metrics"]["total"] == 8041 and doc["run"]["seed"] == 3


def test_identical_runs_give_identical_files_without_dates(tmp_path):
    for name in ("a", "b"):
        record_evaluation(tmp_path / name, run_info(), evaluation(70.0, split="val", epoch=1), log=None)
        record_evaluation(tmp_path / name, run_info(), evaluation(75.0), log=None)
    a = (tmp_path / "a" / "results.json").read_bytes()
    assert a == (tmp_path / "b" / "results.json").read_bytes()
    assert not re.search(rb"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}", a)


def test_record_logs_a_line(tmp_path):
    lines = []
    record_evaluation(tmp_path, run_info(), evaluation(75.0), log=lines.append)
    assert len(lines) == 1 and "results.json" in lines[0] and "75.0000%" in lines[0]


def test_crash_while_writing_keeps_previous_file(tmp_path, monkeypatch):
    path = record_evaluation(tmp_path, run_info(), evaluation(70.0), log=None)
    before = open(path, "rb").read()

    def failing_dump(obj, fh, **kwargs):
        fh.write('{"format": "shipclip-results", "evalu')  # half a file, then the serializer dies
        raise RuntimeError("serializer crashed")

    monkeypatch.setattr(results.json, "dump", failing_dump)
    with pytest.raises(RuntimeError, match="serializer crashed"):
        record_evaluation(tmp_path, run_info(), evaluation(80.0, epoch=20), log=None)
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["results.json"]  # no temporary file left behind
    monkeypatch.undo()
    assert load_results(path)["evaluations"][0]["metrics"]["accuracy"] == 70.0


def test_record_from_a_different_run_starts_a_new_record(tmp_path):
    record_evaluation(tmp_path, run_info(seed=1), evaluation(70.0), log=None)
    with pytest.warns(UserWarning, match=r"different run \(seed: 1 -> 2\)"):
        record_evaluation(tmp_path, run_info(seed=2), evaluation(71.0), log=None)
    doc = load_results(tmp_path / "results.json")
    assert doc["run"]["seed"] == 2 and len(doc["evaluations"]) == 1
    assert load_results(tmp_path / "results.json.bak")["run"]["seed"] == 1
    # opts / engine may change on a resume: the record is extended
    record_evaluation(tmp_path, run_info(seed=2, engine="dassl", opts=[]), evaluation(72.0, epoch=11), log=None)
    assert len(load_results(tmp_path / "results.json")["evaluations"]) == 2


@pytest.mark.parametrize("bad, message", [
    ({"split": "train"}, "split 'train'"),
    ({"classes": "seen"}, "classes 'seen'"),
    ({"epoch": -1}, "epoch"),
    ({"metrics": {"error_rate": 3.0}}, "at least 'accuracy'"),
    ({"metrics": {"accuracy": float("nan")}}, "finite"),
    ({"metrics": {"accuracy": "76%"}}, "must be a number"),
    ({"classes": "joint"}, "metrics.seen"),
])
def test_record_rejects_bad_evaluations(tmp_path, bad, message):
    ev = evaluation(70.0)
    ev.update(bad)
    with pytest.raises(ValueError, match=re.escape(message)):
        record_evaluation(tmp_path, run_info(), ev, log=None)
    assert not (tmp_path / "results.json").exists()


def test_joint_evaluation_gets_its_harmonic_mean(tmp_path):
    path = record_evaluation(tmp_path, run_info(subsample="all"),
                             evaluation(56.0, classes="joint", seen=60.0, unseen=50.0), log=None)
    metrics = load_results(path)["evaluations"][0]["metrics"]
    assert metrics["harmonic"] == pytest.approx(2 * 60 * 50 / 110)


def test_load_results_errors_name_the_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"format": "shipclip-results", "version": 1, "run": {}, "evaluations": [')
    with pytest.raises(ResultsFormatError, match=re.escape(str(path)) + ".*not valid JSON.*delete it"):
        load_results(path)
    path.write_text(json.dumps({"format": "other", "version": 1, "run": {}, "evaluations": []}))
    with pytest.raises(ResultsFormatError, match="'format' must be 'shipclip-results'"):
        load_results(path)
    path.write_text(json.dumps({"format": "shipclip-results", "version": 99, "run": {}, "evaluations": []}))
    with pytest.raises(ResultsFormatError, match="version 99.*upgrade shipclip"):
        load_results(path)
    path.write_text(json.dumps({"format": "shipclip-results", "version": 1, "run": {},
                                "evaluations": [{"split": "test", "epoch": 1, "classes": "base", "metrics": {}}]}))
    with pytest.raises(ResultsFormatError, match=r"evaluations\[0\]"):
        load_results(path)


def test_corrupt_file_is_moved_aside_on_record(tmp_path):
    (tmp_path / "results.json").write_text("{broken")
    with pytest.warns(UserWarning, match="not valid JSON"):
        record_evaluation(tmp_path, run_info(), evaluation(70.0), log=None)
    assert (tmp_path / "results.json.bak").read_text() == "{broken"
    assert load_results(tmp_path / "results.json")["evaluations"][0]["metrics"]["accuracy"] == 70.0


def test_is_finished(tmp_path):
    assert not is_finished(tmp_path / "absent")
    record_evaluation(tmp_path, run_info(), evaluation(60.0, split="val", epoch=1), log=None)
    assert not is_finished(tmp_path)
    record_evaluation(tmp_path, run_info(), evaluation(70.0), log=None)
    assert is_finished(tmp_path)


# ------------------------------------------------------------------------------ Dassl logs

ARGS_BLOCK = """***************
** Arguments **
***************
backbone: 
config_file: configs/trainers/CoOp/vit_b16_ep50.yaml
dataset_config_file: configs/datasets/oxford_pets.yaml
eval_only: {eval_only}
opts: ['DATASET.NUM_SHOTS', '16', 'DATASET.SUBSAMPLE_CLASSES', '{subsample}']
seed: {seed}
trainer: CoOp
************
** Config **
************
DATASET:
  NAME: OxfordPets
"""


def result_block(acc, total="3,669", correct="3,300"):
    return (f"=> result\n* total: {total}\n* correct: {correct}\n* accuracy: {acc}%\n* error: 10.0%\n"
            f"* macro_f1: 89.5%\n")


def train_log(final="89.9", seed=1, subsample="base", finished=True):
    text = ARGS_BLOCK.format(eval_only="False", seed=seed, subsample=subsample)
    text += "epoch [1/2] batch [5/5] loss 1.0\nEvaluate on the *val* set\n" + result_block("50.0")
    if finished:
        text += "Finish training\nDeploy the last-epoch model\nEvaluate on the *test* set\n" + result_block(final)
        text += "Elapsed: 0:00:10\n"
    return text


def test_parse_train_log_takes_last_accuracy_after_finish_training(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text(train_log("89.9"))
    parsed = parse_log(log)
    assert parsed["eval_only"] is False
    assert parsed["metrics"] == {"accuracy": 89.9, "total": 3669, "correct": 3300, "error_rate": 10.0,
                                 "macro_f1": 89.5}
    assert parsed["args"]["trainer"] == "CoOp" and parsed["args"]["seed"] == "1"
    log.write_text(train_log(finished=False))  # only the val result before the end signal
    assert parse_log(log) is None


def test_parse_eval_log_one_and_two_decimals(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text(ARGS_BLOCK.format(eval_only="True", seed=2, subsample="new") + "Evaluate on the *test* set\n"
                   + result_block("76.25"))
    assert parse_log(log)["metrics"]["accuracy"] == 76.25
    log.write_text(ARGS_BLOCK.format(eval_only="True", seed=2, subsample="new") + result_block("76.3"))
    parsed = parse_log(log)
    assert parsed["eval_only"] is True and parsed["metrics"]["accuracy"] == 76.3
    # No "eval_only" line (another train.py): the caller says it is an evaluation log.
    log.write_text(result_block("77.0"))
    assert parse_log(log) is None
    assert parse_log(log, eval_only=True)["metrics"]["accuracy"] == 77.0


def test_collect_counts_log_only_runs(tmp_path):
    for seed, (base, new) in enumerate([("80.0", "60.00"), ("82.0", "62.50")], start=1):
        train_dir = tmp_path / LAYOUT.format(protocol="base2new", role="train_base", dataset="oxford_pets", shots=16,
                                             trainer="CoOp", cfg="vit_b16_ctxv1", seed=seed)
        test_dir = tmp_path / LAYOUT.format(protocol="base2new", role="test_new", dataset="oxford_pets", shots=16,
                                            trainer="CoOp", cfg="vit_b16_ctxv1", seed=seed)
        train_dir.mkdir(parents=True)
        test_dir.mkdir(parents=True)
        (train_dir / "log.txt").write_text(train_log(base, seed=seed))
        # eval log without the arguments block: the test_new folder says it is an evaluation
        (test_dir / "log.txt").write_text("Evaluate on the *test* set\n" + result_block(new))
    # a resumed run: Dassl kept the old log and wrote the new one with a time stamp
    (train_dir / "log.txt").write_text(train_log(finished=False, seed=2))
    (train_dir / "log.txt-2024-05-01-10-00-00").write_text(train_log("82.0", seed=2))
    records = collect(tmp_path)
    assert {r["source"] for r in records} == {"log"} and all(r["finished"] for r in records)
    summary = summarize(records)
    coop = cell(summary, "base2new", "oxford_pets", "CoOp")
    assert coop["Base"]["mean"] == pytest.approx(81.0) and coop["New"]["mean"] == pytest.approx(61.25)
    assert coop["H"]["mean"] == pytest.approx(harmonic_mean(81.0, 61.25))
    assert summary["missing"] == [] and "log.txt" in summary["notes"][0]


def test_results_json_wins_over_log(tmp_path):
    run_dir = tmp_path / "somewhere" / "seed1"
    run_dir.mkdir(parents=True)
    (run_dir / "log.txt").write_text(train_log("10.0"))
    record_evaluation(run_dir, run_info(), evaluation(77.125), log=None)
    (record,) = collect(tmp_path)
    assert record["source"] == "json" and record["metrics"]["accuracy"] == 77.125


# ------------------------------------------------------------------------------ layout


@pytest.mark.parametrize("path, expected", [
    ("out/base2new/train_base/dtd/shots_16/CoOp/vit_b16_ctxv1/seed3",
     dict(protocol="base2new", role="train_base", dataset="dtd", shots=16, trainer="CoOp", config="vit_b16_ctxv1",
          seed=3, variant="", target="")),
    ("out/ablation/no_kl/base2new/test_new/dtd/shots_16/SHIP_CoOp/vit_b16/seed1",
     dict(protocol="ablation", role="test_new", variant="no_kl", trainer="SHIP_CoOp")),
    ("out/xd/train/imagenet/shots_16/SHIP_CoOp/vit_b16/to_dtd/seed2",
     dict(protocol="xd", role="train", dataset="imagenet", target="dtd", config="vit_b16", seed=2)),
    ("out/xd/test/imagenet_a/shots_16/CoOp/vit_b16_ep50_ctxv1/seed1",
     dict(protocol="xd", role="test", dataset="imagenet_a")),
    ("out/gzsl/test_joint/gzsl_cub/shots_16/CoOp/vit_b16/seed1", dict(protocol="gzsl", role="test_joint")),
    ("out/fewshot/eurosat/shots_4/CoOp/vit_b16/seed2", dict(protocol="fewshot", dataset="eurosat", shots=4)),
    ("out/fewshot/eurosat/shots_4/CoOp/vit_b16/nctx16/seed2", dict(protocol="fewshot", config="vit_b16/nctx16")),
])
def test_parse_layout(tmp_path, path, expected):
    info = parse_layout(tmp_path / path)
    assert info is not None
    for key, value in expected.items():
        assert info[key] == value, key


@pytest.mark.parametrize("path", ["out/oxford_pets/CoOp/rn50_16shots/nctx16_cscFalse_ctpend/seed1",
                                  "out/base2new/train_base/dtd/CoOp/cfg/seed1", "out/base2new/train_base/x"])
def test_parse_layout_rejects_other_paths(tmp_path, path):
    assert parse_layout(tmp_path / path) is None


def test_runs_outside_the_layout_are_grouped_by_parent(tmp_path):
    for seed, acc in ((1, 70.0), (2, 74.0)):
        record_evaluation(tmp_path / "oxford_pets" / "CoOp" / "rn50_16shots" / f"seed{seed}",
                          run_info(seed=seed, subsample="all"), evaluation(acc, classes="all"), log=None)
    summary = summarize(collect(tmp_path))
    (table,) = summary["tables"]
    assert table["protocol"] == "runs"
    (row,) = table["rows"]
    assert row["group"] == "oxford_pets/CoOp/rn50_16shots" and row["trainer"] == "CoOp"
    assert row["Acc"]["mean"] == pytest.approx(72.0) and row["Acc"]["std"] == pytest.approx(2.0)


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
