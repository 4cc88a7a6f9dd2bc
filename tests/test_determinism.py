"""Reproducibility: the same ``train.py`` command twice in one environment writes byte-identical results.

What is guaranteed (docs/TOYWORLD.md, "What is reproducible"): same machine, same thread count,
same library versions. Each run here is a fresh process with its own feature cache
(``SHIPCLIP_CACHE``), on a quick ToyWorld with a tiny CLIP saved to a file, with the ToyWorld
configs (feature cache on, several augmented views) for CoOp and SHIP_CoOp (stage 1 included).
A different thread count is not covered: it is not guaranteed to give the same bits, and the
docs say what it changed when measured.
"""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from shipclip.clip.loader import load_clip
from shipclip.toyworld.build import build_dataset
from shipclip.toyworld.world import quick_world
from shipclip_testing.models import save_tiny_checkpoint, write_tiny_config

pytestmark = pytest.mark.slow  # runs train.py twice per trainer in fresh processes

REPO = Path(__file__).resolve().parents[1]
THREADS = "1"
SHIP_SIZES = ["TRAINER.SHIP.ENC_HIDDEN", "16", "TRAINER.SHIP.LATENT_DIM", "4", "TRAINER.SHIP.GEN_HIDDEN", "16",
              "TRAINER.SHIP.N_CTX", "2", "TRAINER.SHIP.EPOCHS", "2", "TRAINER.SHIP.BATCH_SIZE", "16"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A quick ToyWorld and a tiny CLIP whose weights are a file (so every process loads the same model)."""
    tmp = tmp_path_factory.mktemp("determinism")
    build_dataset(tmp / "data", quick_world(), seed=1, counts={"train": 3, "val": 1, "test": 2}, progress=False,
                  log=lambda *a: None)
    backbone = write_tiny_config(tmp, "vit", name="determinism-tiny")
    torch.manual_seed(0)
    weights = save_tiny_checkpoint(load_clip(backbone, pretrained="none"), tmp / "tiny.pt")
    return tmp, backbone, weights


def _command(trainer, inputs, output):
    tmp, backbone, weights = inputs
    opts = ["MODEL.BACKBONE.NAME", str(backbone), "MODEL.BACKBONE.PRETRAINED", str(weights),
            "DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "2",
            "FEATURES.TRAIN_VIEWS", "2", "TRAINER.COOP.N_CTX", "2", "TRAINER.COOP.CTX_INIT", "a photo",
            "TRAIN.PRINT_FREQ", "50"]
    if trainer.startswith("SHIP_"):
        opts += SHIP_SIZES
    return [sys.executable, str(REPO / "train.py"), "--root", str(tmp / "data"), "--seed", "1", "--trainer", trainer,
            "--dataset-config-file", str(REPO / "configs" / "datasets" / "toyworld.yaml"),
            "--config-file", str(REPO / "configs" / "trainers" / trainer / "toyworld.yaml"),
            "--output-dir", str(output), *opts]


def _run(trainer, inputs, name):
    tmp = inputs[0]
    output = tmp / "runs" / name
    env = dict(os.environ, OMP_NUM_THREADS=THREADS, MKL_NUM_THREADS=THREADS, SHIPCLIP_CACHE=str(tmp / "cache" / name),
               SHIP_ENGINE=os.environ.get("SHIP_ENGINE", "builtin"), HF_HUB_OFFLINE="1")
    proc = subprocess.run(_command(trainer, inputs, output), cwd=str(tmp), env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return output


def _checkpoint_tensors(folder):
    """Every tensor of every saved model file under ``folder`` (learned prompt, SHIP generator)."""
    found = {}
    for path in sorted(folder.rglob("model.pth.tar-*")):
        state = torch.load(path, weights_only=False, map_location="cpu")["state_dict"]
        for key, value in state.items():
            found[f"{path.relative_to(folder)}:{key}"] = value
    return found


@pytest.mark.parametrize("trainer", ["CoOp", "SHIP_CoOp"])
def test_same_command_twice_gives_identical_results(inputs, trainer):
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(lambda name: _run(trainer, inputs, f"{trainer}-{name}"), ["a", "b"])
    results_a, results_b = (first / "results.json").read_bytes(), (second / "results.json").read_bytes()
    assert b'"split": "test"' in results_a  # the run finished and recorded its test evaluation
    assert results_a == results_b
    tensors_a, tensors_b = _checkpoint_tensors(first), _checkpoint_tensors(second)
    assert tensors_a and sorted(tensors_a) == sorted(tensors_b)
    if trainer.startswith("SHIP_"):
        assert any(key.startswith("generator/") for key in tensors_a)
    for key, value in tensors_a.items():
        assert torch.equal(value, tensors_b[key]), key
