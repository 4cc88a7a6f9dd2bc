"""Kill-and-resume, crash during a save, output folders and determinism of whole runs.

The reference is an uninterrupted run (``reference_run``) with random augmentation
(random_resized_crop + random_flip), a checkpoint every epoch and 3 epochs of a few batches.
A run killed with SIGKILL in the middle of an epoch (injected through ``SHIPCLIP_EXTRA_MODULES``)
and started again with the identical command must end with the same weights, optimizer and
scheduler state, bit for bit, and the same results.json, byte for byte.
"""
import json
import os
import re

import pytest
import torch

from shipclip_testing.reliability import (TRAINER_OPTS, assert_same_checkpoint, describe, dying_torch_save, kill_module,
                                 load_state, main, run_train_py, train_argv)

pytestmark = pytest.mark.slow  # kills and resumes training processes

FINAL = os.path.join("prompt_learner", "model.pth.tar-3")


@pytest.mark.parametrize("trainer", ["CoOp", "SHIP_CoOp"])
def test_sigkill_mid_epoch_then_rerun_equals_uninterrupted_run(trainer, reference_run, color_root, tmp_path,
                                                               restore_stdout, capsys):
    reference = reference_run(trainer)
    killed = tmp_path / "run"
    argv = train_argv(trainer, color_root, killed, TRAINER_OPTS[trainer])

    # Killed at epoch index 1, batch index 1: model.pth.tar-1 is saved and epoch 2 has taken one step.
    result = run_train_py(argv, tmp_path, extra_modules=[kill_module(tmp_path, epoch=1, batch=1)])
    assert result.returncode == -9, describe(result)  # SIGKILL: no cleanup of any kind ran
    assert "epoch [2/3] batch [1/" in result.stdout and "epoch [2/3] batch [2/" not in result.stdout
    assert (killed / "prompt_learner" / "checkpoint").read_text() == "model.pth.tar-1\n"
    assert sorted(os.listdir(killed / "prompt_learner")) == ["checkpoint", "model.pth.tar-1"]
    assert not (killed / "results.json").exists()
    # Another process wrote the same epoch-1 checkpoint as the reference: runs are deterministic across processes.
    first = os.path.join("prompt_learner", "model.pth.tar-1")
    assert_same_checkpoint(reference / first, killed / first)
    checkpoint = load_state(killed / first)
    assert checkpoint["epoch"] == 1 and checkpoint["optimizer"]["state"] and checkpoint["scheduler"]["last_epoch"] == 1
    if trainer.startswith("SHIP_"):
        assert (killed / "generator" / "checkpoint").read_text() == "model.pth.tar-2\n"  # stage 1, saved before stage 2

    capsys.readouterr()
    main(argv)  # the identical command, without the injected kill
    out = capsys.readouterr().out
    assert f"Found checkpoint at {killed} (will resume training)" in out and "Previous epoch: 1" in out
    assert "epoch [1/3]" not in out and "epoch [2/3] batch [1/" in out
    if trainer.startswith("SHIP_"):
        assert "SHIP stage 1: loaded the generator from" in out and "SHIP stage 1: fitting" not in out

    assert_same_checkpoint(reference / FINAL, killed / FINAL)
    assert (reference / "results.json").read_bytes() == (killed / "results.json").read_bytes()

    # The killed run's log is kept as it was; the resumed run logs to a time-stamped file beside it.
    logs = sorted(os.listdir(killed))
    stamped = [name for name in logs if name.startswith("log.txt-")]
    assert "log.txt" in logs and len(stamped) == 1 and re.fullmatch(r"log\.txt-\d{4}(-\d\d){5}", stamped[0])
    first_log = (killed / "log.txt").read_text()
    assert "epoch [2/3] batch [1/" in first_log and "Finish training" not in first_log
    assert "Previous epoch: 1" in (killed / stamped[0]).read_text()


def test_crash_while_saving_a_checkpoint_keeps_the_previous_one(reference_run, color_root, tmp_path, restore_stdout,
                                                                monkeypatch, capsys):
    """torch.save dies half-way through epoch 2's checkpoint (disk full); the rerun resumes from epoch 1."""
    out = tmp_path / "run"
    argv = train_argv("CoOp", color_root, out, TRAINER_OPTS["CoOp"])
    with monkeypatch.context() as patch, pytest.raises(OSError, match="No space left on device"):
        patch.setattr(torch, "save", dying_torch_save(lambda obj: isinstance(obj, dict) and obj.get("epoch") == 2,
                                                      OSError(28, "No space left on device")))
        main(argv)

    folder = out / "prompt_learner"
    assert sorted(os.listdir(folder)) == ["checkpoint", "model.pth.tar-1"]  # no partial file, no temp file
    assert (folder / "checkpoint").read_text() == "model.pth.tar-1\n"
    assert load_state(folder / "model.pth.tar-1")["epoch"] == 1

    capsys.readouterr()
    main(argv)
    assert "Previous epoch: 1" in capsys.readouterr().out
    reference = reference_run("CoOp")
    assert_same_checkpoint(reference / FINAL, out / FINAL)
    assert (reference / "results.json").read_bytes() == (out / "results.json").read_bytes()


def test_crash_while_saving_the_ship_generator_refits_it(reference_run, color_root, tmp_path, restore_stdout,
                                                         monkeypatch, capsys):
    """A generator checkpoint that was never completed is not loaded: the rerun fits stage 1 again, identically."""
    out = tmp_path / "run"
    argv = train_argv("SHIP_CoOp", color_root, out, TRAINER_OPTS["SHIP_CoOp"])
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(torch, "save", dying_torch_save(lambda obj: isinstance(obj, dict) and "ship" in obj,
                                                      KeyboardInterrupt("interrupted while saving the generator"),
                                                      partial=b"\x00" * 64))
        main(argv)
    assert os.listdir(out / "generator") == []  # neither a partial file nor a pointer

    capsys.readouterr()
    main(argv)
    printed = capsys.readouterr().out
    assert "SHIP stage 1: fitting the generator" in printed and "No checkpoint found, train from scratch" in printed
    reference = reference_run("SHIP_CoOp")
    assert_same_checkpoint(reference / "generator" / "model.pth.tar-2", out / "generator" / "model.pth.tar-2")
    assert_same_checkpoint(reference / FINAL, out / FINAL)
    assert (reference / "results.json").read_bytes() == (out / "results.json").read_bytes()


def test_checkpoint_pointer_is_written_last(reference_run, color_root, tmp_path, restore_stdout, monkeypatch):
    """Every file is moved into place by os.replace; per save, the weights file comes before the pointer."""
    replaced = []
    real_replace = os.replace

    def spy(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        replaced.append(os.path.relpath(str(dst), str(tmp_path)))

    monkeypatch.setattr(os, "replace", spy)
    main(train_argv("CoOp", color_root, tmp_path / "run", TRAINER_OPTS["CoOp"]))
    monkeypatch.setattr(os, "replace", real_replace)
    saves = [p for p in replaced if p.startswith(os.path.join("run", "prompt_learner"))]
    folder = os.path.join("run", "prompt_learner")
    order = ("model.pth.tar-1", "checkpoint", "model.pth.tar-2", "checkpoint", "model.pth.tar-3", "checkpoint")
    assert saves == [os.path.join(folder, name) for name in order]
    assert os.path.join("run", "results.json") in replaced  # results.json too is renamed into place


# ----------------------------------------------------------------------------------------- determinism
def test_same_command_twice_gives_identical_results(reference_run, color_root, tmp_path, restore_stdout):
    reference = reference_run("CoOp")
    main(train_argv("CoOp", color_root, tmp_path / "again", TRAINER_OPTS["CoOp"]))
    assert (reference / "results.json").read_bytes() == (tmp_path / "again" / "results.json").read_bytes()
    for epoch in (1, 2, 3):
        name = os.path.join("prompt_learner", f"model.pth.tar-{epoch}")
        assert_same_checkpoint(reference / name, tmp_path / "again" / name)


def test_another_seed_gives_other_weights(reference_run, color_root, tmp_path, restore_stdout):
    """The equality above is not vacuous: the seed does change the run."""
    reference = reference_run("CoOp")
    main(train_argv("CoOp", color_root, tmp_path / "seed2", TRAINER_OPTS["CoOp"], seed=2))
    a, b = load_state(reference / FINAL), load_state(tmp_path / "seed2" / FINAL)
    assert not torch.equal(a["state_dict"]["ctx"], b["state_dict"]["ctx"])


@pytest.mark.parametrize("trainer", ["CoOp", "SHIP_CoOp"])
def test_results_json_holds_no_wall_clock_time(trainer, reference_run):
    text = (reference_run(trainer) / "results.json").read_text()
    doc = json.loads(text)
    assert set(doc) == {"format", "version", "run", "evaluations"}
    assert not re.search(r"\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d", text)  # no dates or clock times anywhere

    def keys(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                yield from keys(value)
        elif isinstance(node, list):
            for value in node:
                yield from keys(value)

    assert not [k for k in keys(doc) if re.search(r"time|date|elapsed|stamp|duration", k, re.I)]
    (evaluation,) = doc["evaluations"]
    assert (evaluation["split"], evaluation["epoch"]) == ("test", 3)


# -------------------------------------------------------------------------------------- output folders
def test_rerunning_a_finished_run_is_skipped_and_touches_nothing(reference_run, color_root, restore_stdout, capsys):
    reference = reference_run("CoOp")

    def snapshot():
        return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
                for d, _, files in os.walk(reference) for f in files}

    before = snapshot()
    capsys.readouterr()
    assert main(train_argv("CoOp", color_root, reference, TRAINER_OPTS["CoOp"])) is None
    out = capsys.readouterr().out
    assert f'Skipping: "{reference}" already holds a finished run' in out
    assert "Delete that folder or choose another --output-dir to run it again." in out
    assert snapshot() == before  # no new log, no checkpoint, results.json untouched
