"""results.json provenance under any train.py: read from the command line CoOp's scripts give."""
import os


def ship_cfg(trainer="SHIP_CoOp"):
    from shipclip.config import get_cfg

    cfg = get_cfg()
    cfg.TRAINER.NAME = trainer
    return cfg


COOP_TEST_ARGV = [
    "/lab/CoOp/train.py", "--root", "/data", "--seed", "2", "--trainer", "SHIP_CoOp",
    "--dataset-config-file", "configs/datasets/oxford_pets.yaml",
    "--config-file", "configs/trainers/SHIP_CoOp/vit_b16_ctxv1.yaml",
    "--output-dir", "output/base2new/test_new/oxford_pets/seed2",
    "--model-dir", "output/base2new/train_base/oxford_pets/seed2", "--load-epoch", "10", "--eval-only",
    "DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "new",
]


def test_lab_command_line_fills_every_key():
    from shipclip.provenance import PROVENANCE_KEYS, run_provenance

    info = run_provenance(ship_cfg(), argv=COOP_TEST_ARGV)
    assert set(PROVENANCE_KEYS) <= set(info)
    assert info["config"] == "vit_b16_ctxv1"
    assert info["eval_only"] is True
    assert info["model_dir"] == "output/base2new/train_base/oxford_pets/seed2"
    assert info["load_epoch"] == 10
    assert info["opts"] == ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "new"]
    assert info["label_only"] == "new"
    assert info["train_py"] == os.path.abspath("/lab/CoOp/train.py")


def test_training_command_line():
    from shipclip.provenance import run_provenance

    argv = [a for a in COOP_TEST_ARGV if a not in ("--eval-only",)]
    argv = argv[:argv.index("--model-dir")] + argv[argv.index("--load-epoch") + 2:]
    info = run_provenance(ship_cfg("CoOp"), argv=argv)
    assert info["eval_only"] is False and info["model_dir"] == "" and info["load_epoch"] is None
    assert info["label_only"] is None  # not a SHIP trainer


def test_arguments_handed_over_win():
    from shipclip.provenance import run_provenance

    given = {"config": "mine", "eval_only": False, "model_dir": "", "load_epoch": None, "opts": [],
             "label_only": "new", "train_py": "/x/train.py"}
    assert run_provenance(ship_cfg(), run_args=given, argv=COOP_TEST_ARGV) == given


def test_non_script_process_names_no_train_py():
    from shipclip.provenance import run_provenance

    info = run_provenance(ship_cfg(), argv=["python"])
    assert info["train_py"] == "" and info["config"] is None


def test_project_trainer_reads_the_lab_command_line(monkeypatch):
    """Our trainers under a lab's train.py (nobody hands run_args over): results.json still has the provenance."""
    import sys
    from types import SimpleNamespace

    from shipclip.trainers.evaluation import EvaluationMixin

    monkeypatch.setattr(sys, "argv", list(COOP_TEST_ARGV))
    info = EvaluationMixin.run_info(SimpleNamespace(cfg=ship_cfg()))
    assert (info["config"], info["eval_only"], info["load_epoch"], info["label_only"]) == \
        ("vit_b16_ctxv1", True, 10, "new")
    assert info["train_py"] == os.path.abspath("/lab/CoOp/train.py")
