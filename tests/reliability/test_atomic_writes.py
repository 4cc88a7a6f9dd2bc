"""Files a later run reads are never half-written: damaged caches are rebuilt, damaged results reported.

Checkpoints: see test_resume.py (crash during a save, pointer written last).
"""
import json
import os
import shutil

import pytest
import torch

import shipclip_testing.fake_datasets as fake
from shipclip_testing.reliability import TRAINER_OPTS, assert_same_checkpoint, dying_torch_save, main, train_argv

CACHE_OPTS = ["FEATURES.CACHE", "True", "FEATURES.TRAIN_VIEWS", "1"]


def _results(folder):
    return (folder / "results.json").read_bytes()


def _entries(cache_dir):
    return sorted(p for p in cache_dir.iterdir())


# ------------------------------------------------------------------------------------- feature cache
@pytest.mark.parametrize("damage", ["truncated", "missing_tensor_file"])
def test_damaged_feature_cache_entry_is_detected_and_rebuilt(damage, color_root, tmp_path, restore_stdout, capsys):
    cache = tmp_path / "features"
    opts = CACHE_OPTS + ["FEATURES.DIR", str(cache)]
    main(train_argv("ZeroshotCLIP", color_root, tmp_path / "first", opts, flags=["--eval-only"]))
    entries = _entries(cache)
    assert len(entries) == 3 and not [p for p in entries if p.name.startswith(".")]  # train, val, test
    good = {e.name: (e / "features.pt").read_bytes() for e in entries}

    victim = entries[0] / "features.pt"
    if damage == "truncated":
        victim.write_bytes(good[entries[0].name][: len(good[entries[0].name]) // 2])
    else:
        victim.unlink()
    capsys.readouterr()
    main(train_argv("ZeroshotCLIP", color_root, tmp_path / "second", opts, flags=["--eval-only"]))
    out = capsys.readouterr().out
    reason = "checksum mismatch" if damage == "truncated" else "No such file or directory"
    line = next(line for line in out.splitlines() if line.startswith("Feature cache entry"))
    print(f"\n[printed] {line}")
    assert line.startswith(f"Feature cache entry {entries[0]} is unusable (") and reason in line
    assert line.endswith("; rebuilding it")
    assert _entries(cache) == entries
    assert {e.name: (e / "features.pt").read_bytes() for e in entries} == good  # rebuilt to the same tensors
    assert _results(tmp_path / "first") == _results(tmp_path / "second")


def test_crash_while_writing_a_feature_cache_entry_leaves_nothing_behind(color_root, tmp_path, restore_stdout,
                                                                          monkeypatch):
    cache = tmp_path / "features"
    opts = CACHE_OPTS + ["FEATURES.DIR", str(cache)]
    with monkeypatch.context() as patch, pytest.raises(OSError, match="No space left on device"):
        patch.setattr(torch, "save", dying_torch_save(lambda obj: True, OSError(28, "No space left on device"),
                                                      partial=b"half a tensor file"))
        main(train_argv("ZeroshotCLIP", color_root, tmp_path / "first", opts, flags=["--eval-only"]))
    assert os.listdir(cache) == []  # neither an entry nor its temporary folder

    main(train_argv("ZeroshotCLIP", color_root, tmp_path / "second", opts, flags=["--eval-only"]))
    assert len(_entries(cache)) == 3
    main(train_argv("ZeroshotCLIP", color_root, tmp_path / "plain", flags=["--eval-only"]))  # no cache at all
    evaluations = [json.loads(_results(tmp_path / run))["evaluations"] for run in ("second", "plain")]
    assert evaluations[0] == evaluations[1]  # (the run entries differ: they list the FEATURES options)


# ------------------------------------------------------------------------------------- few-shot cache
def test_damaged_few_shot_cache_is_ignored_and_the_same_shots_drawn(tmp_path, restore_stdout, capsys):
    root = tmp_path / "data"
    folder = fake.write_color_dataset(root)
    first = main(train_argv("CoOp", root, tmp_path / "first", TRAINER_OPTS["CoOp"], flags=["--no-train"]))
    cache_dir = os.path.join(folder, "split_fewshot")
    (name,) = os.listdir(cache_dir)  # written atomically: no temporary file beside it
    path = os.path.join(cache_dir, name)
    text = open(path).read()
    with open(path, "w") as f:
        f.write(text[: len(text) // 2])

    capsys.readouterr()
    second = main(train_argv("CoOp", root, tmp_path / "second", TRAINER_OPTS["CoOp"], flags=["--no-train"]))
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("Ignoring unreadable few-shot cache"))
    print(f"\n[printed] {line}")
    assert line.startswith(f"Ignoring unreadable few-shot cache {path} (") and line.endswith("; sampling again")
    picks = [[(d.impath, d.label) for d in t.dm.dataset.train_x] for t in (first, second)]
    assert picks[0] == picks[1]
    with open(path) as f:
        assert json.load(f) == json.loads(text)  # rewritten whole, with the same picks
    assert os.listdir(cache_dir) == [name]


# ---------------------------------------------------------------------------------------- results.json
def test_truncated_results_json_is_reported_and_the_run_rewrites_it(reference_run, color_root, tmp_path,
                                                                    restore_stdout, capsys):
    from shipclip.results import ResultsFormatError, is_finished, load_results, read_run

    folder = tmp_path / "run"
    shutil.copytree(reference_run("CoOp"), folder)
    good = _results(folder)
    damaged = good[: len(good) // 2]
    (folder / "results.json").write_bytes(damaged)
    path = folder / "results.json"

    with pytest.raises(ResultsFormatError) as info:
        load_results(path)
    text = str(info.value)
    print(f"\n[ResultsFormatError] {text}")
    assert text.startswith(f"{path} is not valid JSON (") and "delete it and re-run that evaluation" in text
    assert not is_finished(folder) and read_run(folder)["reason"] == text  # not skipped as finished

    capsys.readouterr()
    with pytest.warns(UserWarning, match="not valid JSON"):
        main(train_argv("CoOp", color_root, folder, TRAINER_OPTS["CoOp"]))
    out = capsys.readouterr().out
    assert "Previous epoch: 3" in out  # every epoch was saved: only the test runs again
    assert f"It was moved to {path}.bak; starting a new record." in out
    assert (folder / "results.json.bak").read_bytes() == damaged
    assert _results(folder) == good


# ----------------------------------------------------------------------------------------- checkpoints
def test_damaged_checkpoint_is_named_with_the_way_out(reference_run, color_root, tmp_path, restore_stdout):
    """Saves are atomic, so only outside damage makes a checkpoint unreadable; resuming then says what to do."""
    folder = tmp_path / "run"
    shutil.copytree(reference_run("CoOp") / "prompt_learner", folder / "prompt_learner")  # unfinished: no results
    last = folder / "prompt_learner" / "model.pth.tar-3"
    last.write_bytes(last.read_bytes()[:1000])
    argv = train_argv("CoOp", color_root, folder, TRAINER_OPTS["CoOp"])
    with pytest.raises(RuntimeError) as info:
        main(argv)
    text = str(info.value)
    print(f"\n[RuntimeError] {text}")
    pointer = folder / "prompt_learner" / "checkpoint"
    assert text.startswith(f'Checkpoint "{last}" is corrupt or truncated and cannot be loaded (')
    assert text.endswith(f'To resume from an earlier epoch instead, write one of model.pth.tar-1, model.pth.tar-2 '
                         f'into "{pointer}".')

    pointer.write_text("model.pth.tar-2\n")  # following the message
    main(argv)
    assert_same_checkpoint(reference_run("CoOp") / "prompt_learner" / "model.pth.tar-3", last)
