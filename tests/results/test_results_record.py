"""The results.json format: writing, replacing, reading back, and what counts as finished."""
import json
import os
import re

import numpy as np
import pytest

from results_trees import evaluation, run_info
from shipclip import results
from shipclip.results import ResultsFormatError, is_finished, load_results, record, record_evaluation



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

    monkeypatch.setattr(record.json, "dump", failing_dump)
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
