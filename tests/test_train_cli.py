"""``train.py``: CoOp's flags, config merge order, seeds, extra modules, train and eval-only runs."""
import importlib.util
import os
import subprocess
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_PY = os.path.join(REPO, "train.py")
COOP_FLAGS = ("--root", "--output-dir", "--resume", "--seed", "--source-domains", "--target-domains",
              "--transforms", "--trainer", "--backbone", "--head", "--config-file", "--dataset-config-file",
              "--eval-only", "--model-dir", "--load-epoch", "--no-train")

# Registers the test dataset/trainer in a fresh process (imported through SHIPCLIP_EXTRA_MODULES).
EXTRA_MODULE = """
import shipclip.backend
from shipclip_testing.engine_components import make_test_components

make_test_components(shipclip.backend)
"""


@pytest.fixture(scope="module")
def train_module():
    spec = importlib.util.spec_from_file_location("shipclip_train_script", TRAIN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def restore_stdout(monkeypatch):
    """``main`` tees stdout into log.txt; put the real stdout back afterwards."""
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    yield
    close = getattr(sys.stdout, "close", None)
    if type(sys.stdout).__name__ == "_Tee" and close is not None:
        close()


def _run(args, env_extra, cwd):
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, TRAIN_PY, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_help_lists_coop_flags(tmp_path):
    result = _run(["--help"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    for flag in COOP_FLAGS:
        assert flag in result.stdout
    assert "opts" in result.stdout


def test_config_merge_order_and_seed_zero(train_module, tmp_path, tiny_cfg_file):
    dataset_yaml = tmp_path / "dataset.yaml"
    dataset_yaml.write_text("DATASET:\n  NAME: FromDatasetYaml\n  NUM_SHOTS: 4\nOPTIM:\n  LR: 0.5\n")
    trainer_yaml = tmp_path / "trainer.yaml"
    trainer_yaml.write_text("OPTIM:\n  LR: 0.25\n  MAX_EPOCH: 7\nTRAINER:\n  COOP:\n    N_CTX: 4\n")
    args = train_module.build_parser().parse_args([
        "--dataset-config-file", str(dataset_yaml), "--config-file", str(trainer_yaml), "--seed", "0",
        "--transforms", "random_flip", "normalize", "--trainer", "FromFlag",
        "OPTIM.MAX_EPOCH", "9", "DATASET.SUBSAMPLE_CLASSES", "base",
    ])
    cfg = train_module.setup_cfg(args)
    assert cfg.SEED == 0  # CoOp drops --seed 0; here it is a seed
    assert cfg.DATASET.NAME == "FromDatasetYaml" and cfg.DATASET.NUM_SHOTS == 4
    assert cfg.OPTIM.LR == 0.25  # trainer YAML after dataset YAML
    assert cfg.OPTIM.MAX_EPOCH == 9  # opts last
    assert cfg.TRAINER.NAME == "FromFlag" and list(cfg.INPUT.TRANSFORMS) == ["random_flip", "normalize"]
    assert cfg.TRAINER.COOP.N_CTX == 4 and cfg.DATASET.SUBSAMPLE_CLASSES == "base"
    assert cfg.is_frozen()
    assert train_module.setup_cfg(train_module.build_parser().parse_args([])).SEED == -1

    with pytest.raises(KeyError, match="OPTIM.LRR"):
        train_module.setup_cfg(train_module.build_parser().parse_args(["OPTIM.LRR", "0.1"]))


@pytest.mark.slow  # trains and reloads a model through train.main
def test_train_and_eval_only(train_module, tiny_data_root, tiny_cfg_file, tmp_path, restore_stdout, capsys):
    """A full run in a subprocess, then eval-only of its first epoch in-process."""
    (tmp_path / "extra_fixtures.py").write_text(EXTRA_MODULE)
    output = tmp_path / "run"
    env = {"SHIPCLIP_EXTRA_MODULES": "extra_fixtures",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    result = _run(["--root", str(tiny_data_root), "--output-dir", str(output), "--seed", "0",
                   "--config-file", str(tiny_cfg_file), "TRAIN.CHECKPOINT_FREQ", "1", "OPTIM.MAX_EPOCH", "2"],
                  env, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (output / "log.txt").read_text()
    lines = log.splitlines()
    assert lines[0].startswith("engine: ")
    assert "Setting fixed seed: 0" in lines
    assert "** Arguments **" in log and "** Config **" in log and "Loading trainer: ShipTestLinear" in log
    assert "Finish training" in lines and "Deploy the last-epoch model" in lines
    assert any(line.startswith("* accuracy: ") and line.endswith("%") for line in lines)
    ckpt = output / "linear"
    assert (ckpt / "model.pth.tar-1").is_file() and (ckpt / "model.pth.tar-2").is_file()
    assert (ckpt / "checkpoint").read_text().strip() == "model.pth.tar-2"

    # Eval-only of epoch 1 in this process, with the extra module given as a file path.
    eval_dir = tmp_path / "eval"
    args = train_module.build_parser().parse_args([
        "--root", str(tiny_data_root), "--output-dir", str(eval_dir), "--config-file", str(tiny_cfg_file),
        "--eval-only", "--model-dir", str(output), "--load-epoch", "1"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHIPCLIP_EXTRA_MODULES", str(tmp_path / "extra_fixtures.py"))
        trainer = train_module.main(args)
    out = capsys.readouterr().out
    assert "(epoch=1)" in out and "Evaluate on the *test* set" in out and "* accuracy: " in out
    first = torch.load(ckpt / "model.pth.tar-1", weights_only=True)["state_dict"]
    for key, value in first.items():
        assert torch.equal(trainer.model.state_dict()[key], value)
    assert (eval_dir / "log.txt").is_file() and not (eval_dir / "linear").exists()


def test_eval_only_errors(train_module, tiny_data_root, tiny_cfg_file, tmp_path, restore_stdout, monkeypatch):
    parse = train_module.build_parser().parse_args
    base = ["--root", str(tiny_data_root), "--output-dir", str(tmp_path / "out"), "--config-file", str(tiny_cfg_file)]
    with pytest.raises(FileNotFoundError, match="--model-dir .*does-not-exist"):
        train_module.main(parse(base + ["--eval-only", "--model-dir", str(tmp_path / "does-not-exist")]))
    with pytest.raises(ValueError, match="--load-epoch needs --model-dir"):
        train_module.main(parse(base + ["--eval-only", "--load-epoch", "2"]))
    (tmp_path / "extra_fixtures.py").write_text(EXTRA_MODULE)
    monkeypatch.setenv("SHIPCLIP_EXTRA_MODULES", str(tmp_path / "extra_fixtures.py"))
    with pytest.raises(ValueError, match="--eval-only needs --model-dir"):
        train_module.main(parse(base + ["--eval-only"]))


def test_extra_modules_errors(train_module, monkeypatch):
    monkeypatch.setenv("SHIPCLIP_EXTRA_MODULES", "no_such_module_for_shipclip")
    with pytest.raises(ModuleNotFoundError, match="PYTHONPATH"):
        train_module.register_components()
    monkeypatch.setenv("SHIPCLIP_EXTRA_MODULES", "/no/such/file.py")
    with pytest.raises(FileNotFoundError, match="/no/such/file.py"):
        train_module.register_components()
