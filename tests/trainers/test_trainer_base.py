"""ClipTrainer: joint-evaluation arithmetic, features, label spaces, checkpoints, precision, results.

Also holds the helpers the other trainer tests import (``from test_trainer_base import ...``): a
small image dataset in CoOp's split-file layout whose classes are colours (so a frozen random
CLIP separates them), a tiny random backbone, and ``run_main`` which goes through ``train.py``'s
in-process ``main``.
"""
import json
import os
import sys
import warnings

import numpy as np
import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

DATASET_NAME = "TrainerTestColors"
FOLDER = "trainer_test_colors"
SPLIT_FILE = "split_trainer_test_colors.json"
CLASSES = ("red", "green", "blue", "yellow", "purple", "orange")  # base: first 3, new: last 3
RGB = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 60, 220), "yellow": (230, 220, 30),
       "purple": (140, 40, 180), "orange": (240, 140, 20)}
COUNTS = {"train": 6, "val": 3, "test": 4}
TRAINER_MODULES = {
    "ZeroshotCLIP": "shipclip.trainers.zsclip",
    "ZeroshotCLIP2": "shipclip.trainers.zsclip",
    "CoOp": "shipclip.trainers.coop",
    "CoCoOp": "shipclip.trainers.cocoop",
    "TipAdapter": "shipclip.trainers.tip_adapter",
    "TipAdapterF": "shipclip.trainers.tip_adapter",
}
FAST_OPTS = [
    "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "6", "DATALOADER.TEST.BATCH_SIZE", "8",
    "USE_CUDA", "False", "VERBOSE", "False", "TRAIN.PRINT_FREQ", "1", "DATASET.NUM_SHOTS", "4",
    "INPUT.TRANSFORMS", "['random_flip', 'normalize']",
]


# ------------------------------------------------------------------------------------ helpers
def write_color_dataset(root, size=32, seed=0):
    """Solid colour images with noise, one folder per class, plus a CoOp split file."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder = os.path.join(str(root), FOLDER)
    image_dir = os.path.join(folder, "images")
    split = {}
    for name, per_class in COUNTS.items():
        rows = []
        for label, cls in enumerate(CLASSES):
            os.makedirs(os.path.join(image_dir, cls), exist_ok=True)
            for i in range(per_class):
                pixels = np.ones((size, size, 3)) * np.array(RGB[cls], dtype=float)
                pixels = np.clip(pixels + rng.normal(0, 20, pixels.shape), 0, 255).astype(np.uint8)
                rel = f"{cls}/{name}_{i:02d}.png"
                Image.fromarray(pixels).save(os.path.join(image_dir, rel))
                rows.append([rel, label, cls])
        split[name] = rows
    with open(os.path.join(folder, SPLIT_FILE), "w") as f:
        json.dump(split, f)
    return folder


def register_components():
    """Register the test dataset and the baseline trainers in the active registries if absent."""
    import importlib

    from shipclip.backend import DATASET_REGISTRY, TRAINER_REGISTRY
    from shipclip.datasets.benchmark import SplitDataset

    if DATASET_NAME not in DATASET_REGISTRY.registered_names():
        cls = type(DATASET_NAME, (SplitDataset,), {
            "folder": FOLDER, "image_subdir": "images", "split_file": SPLIT_FILE,
            "template": "a photo of a {} thing.", "__module__": __name__,
        })
        DATASET_REGISTRY.register(cls)
    for name, module in TRAINER_MODULES.items():
        if name not in TRAINER_REGISTRY.registered_names():
            TRAINER_REGISTRY.register(getattr(importlib.import_module(module), name))


def tiny_backbone_opts(directory, kind="vit"):
    from shipclip.testing import tiny_config, write_tiny_config

    path = write_tiny_config(str(directory), kind)
    size = tiny_config(kind)["vision_cfg"]["image_size"]
    return ["MODEL.BACKBONE.NAME", path, "MODEL.BACKBONE.PRETRAINED", "none", "INPUT.SIZE", f"({size}, {size})"]


def run_main(trainer, data_root, output_dir, opts=(), config_file="", eval_only=False, model_dir="",
             load_epoch=None, no_train=False, seed=1, kind="vit"):
    """Run ``train.main`` in-process with the test dataset and a tiny random backbone; return the trainer."""
    import train

    register_components()
    argv = ["--root", str(data_root), "--trainer", trainer, "--output-dir", str(output_dir), "--seed", str(seed)]
    if config_file:
        argv += ["--config-file", os.path.join(REPO, config_file)]
    if eval_only:
        argv += ["--eval-only"]
    if no_train:
        argv += ["--no-train"]
    if model_dir:
        argv += ["--model-dir", str(model_dir)]
    if load_epoch is not None:
        argv += ["--load-epoch", str(load_epoch)]
    argv += ["DATASET.NAME", DATASET_NAME] + tiny_backbone_opts(os.path.join(str(data_root), "backbones"), kind)
    argv += FAST_OPTS + list(opts)
    args = train.build_parser().parse_args(argv)
    stdout = sys.stdout
    original = train.register_components
    train.register_components = register_components  # the project's full registration is not under test here
    try:
        return train.main(args)
    finally:
        train.register_components = original
        if sys.stdout is not stdout:  # main tees stdout into the run's log.txt
            close = getattr(sys.stdout, "close", None)
            sys.stdout = stdout
            if close is not None:
                close()


def read_results(output_dir):
    with open(os.path.join(str(output_dir), "results.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def color_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer_data")
    write_color_dataset(root)
    return root
