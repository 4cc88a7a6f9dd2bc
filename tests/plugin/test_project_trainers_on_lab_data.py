"""This project's SHIP trainers on a lab's own dataset class (no new_classnames), with the default settings."""
import os
import stat

import pytest

from shipclip_testing.fake_datasets import COLOR_CLASSES
from shipclip_testing.lab_code import LAB_DATASET, register_lab_code
from shipclip_testing.runs import read_results, run_main

BASE, NEW = list(COLOR_CLASSES[:3]), list(COLOR_CLASSES[3:])
SMALL_SHIP = ["TRAINER.SHIP.ENC_HIDDEN", "32", "TRAINER.SHIP.LATENT_DIM", "8", "TRAINER.SHIP.GEN_HIDDEN", "32",
              "TRAINER.SHIP.EPOCHS", "1", "TRAINER.SHIP.BATCH_SIZE", "8", "TRAINER.SHIP.N_CTX", "2",
              "TRAINER.SHIP.SYN_PER_CLASS", "2", "TRAINER.SHIP.GEN_VIEWS", "1", "TRAINER.TIP.AUGMENT_EPOCH", "1",
              "TRAINER.TIP.SEARCH_STEP", "[3, 2]", "TRAINER.COOP.N_CTX", "2", "TRAINER.COCOOP.N_CTX", "2",
              "OPTIM.MAX_EPOCH", "1", "DATASET.NAME", LAB_DATASET]


def ship_run(trainer, root, out, opts=(), **kwargs):
    from shipclip.backend import TRAINER_REGISTRY
    from shipclip.registration import TRAINERS, resolve

    register_lab_code()
    for name, target in TRAINERS.items():
        if name.startswith("SHIP_") and name not in TRAINER_REGISTRY.registered_names():
            TRAINER_REGISTRY.register(resolve(target))
    return run_main(trainer, root, out, opts=SMALL_SHIP + list(opts), **kwargs)


@pytest.mark.parametrize("trainer", ["SHIP_CoOp", "SHIP_CoCoOp", "SHIP_TipAdapterF"])
def test_base_to_new_and_joint_with_default_settings(color_root, tmp_path, trainer):
    train = ship_run(trainer, color_root, tmp_path / "base", opts=["DATASET.SUBSAMPLE_CLASSES", "base"])
    assert train.get_train_classnames() == BASE + NEW  # label-only = the lab dataset's new half, derived
    assert read_results(tmp_path / "base")["evaluations"][-1]["classes"] == "base"
    new = ship_run(trainer, color_root, tmp_path / "new", opts=["DATASET.SUBSAMPLE_CLASSES", "new"], eval_only=True,
                   model_dir=tmp_path / "base")
    assert new.get_eval_classnames() == NEW
    (evaluation,) = read_results(tmp_path / "new")["evaluations"]
    assert (evaluation["classes"], evaluation["metrics"]["total"]) == ("new", 12)
    ship_run(trainer, color_root, tmp_path / "joint", opts=["DATASET.SUBSAMPLE_CLASSES", "all", "TEST.JOINT", "True"],
             eval_only=True, model_dir=tmp_path / "base")
    (joint,) = read_results(tmp_path / "joint")["evaluations"]
    assert joint["classes"] == "joint" and joint["metrics"]["total"] == 24
    assert (joint["metrics"]["num_seen_classes"], joint["metrics"]["num_unseen_classes"]) == (3, 3)
    with open(tmp_path / "joint" / "log.txt") as f:
        log = f.read()
    for keyword in ("seen", "unseen", "harmonic"):
        assert f"* {keyword}: {joint['metrics'][keyword]:.1f}%" in log


def test_target_dataset_count_names_only_label_only_classes(color_root, tmp_path, capsys):
    trainer = ship_run("SHIP_CoOp", color_root, tmp_path / "xd", opts=[
        "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SHIP.LABEL_ONLY", "all-target",
        "TRAINER.SHIP.TARGET_DATASET", LAB_DATASET])
    assert trainer.label_only_classnames() == NEW
    with open(tmp_path / "xd" / "log.txt") as f:
        lines = [line for line in f if line.startswith("SHIP: ") and "label-only classes (" in line]
    assert lines == ["SHIP: 3 label-only classes (the classes of target dataset LabColors; 3 of the 6 are training "
                     "classes)\n"]


def test_run_folder_and_feature_cache_are_readable_by_colleagues(color_root, tmp_path):
    previous = os.umask(0o022)
    try:
        ship_run("SHIP_CoOp", color_root, tmp_path / "run", opts=[
            "DATASET.SUBSAMPLE_CLASSES", "base", "FEATURES.CACHE", "True", "FEATURES.DIR", str(tmp_path / "cache"),
            "FEATURES.TRAIN_VIEWS", "1"])
    finally:
        os.umask(previous)
    for folder in (tmp_path / "run", tmp_path / "cache"):
        for parent, dirs, files in os.walk(folder):
            for name in files:
                assert stat.S_IMODE(os.stat(os.path.join(parent, name)).st_mode) == 0o644, os.path.join(parent, name)
            for name in dirs:
                assert stat.S_IMODE(os.stat(os.path.join(parent, name)).st_mode) == 0o755, os.path.join(parent, name)
    assert os.listdir(tmp_path / "cache")  # the cache was written


def test_log_holds_no_progress_bar_even_on_a_terminal(color_root, tmp_path, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    ship_run("SHIP_CoOp", color_root, tmp_path / "tty", opts=["DATASET.SUBSAMPLE_CLASSES", "base"])
    with open(tmp_path / "tty" / "log.txt") as f:
        assert "\r" not in f.read()
