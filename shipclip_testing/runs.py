"""Run ``train.py`` the way a user does, on the colour dataset with a tiny random backbone.

``run_main`` goes through ``train.main`` in this process (so tests can inspect the returned
trainer); :mod:`shipclip_testing.reliability` runs it in a subprocess instead.
"""
import json
import os
import sys

from .fake_datasets import COLOR_DATASET_NAME, COLOR_FOLDER, COLOR_SPLIT_FILE
from .models import tiny_config, write_tiny_config

__all__ = ["REPO", "FAST_OPTS", "TRAINER_MODULES", "register_components", "tiny_backbone_opts", "run_main",
           "read_results", "import_train_py"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    "INPUT.TRANSFORMS", "['random_flip', 'normalize']", "TRAINER.COOP.PREC", "fp32", "TRAINER.COCOOP.PREC", "fp32",
]


def import_train_py():
    """The repository's ``train.py`` as a module (it is a script at the repository root, not a package)."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    import train

    return train


def register_components():
    """Register the colour dataset and the baseline trainers in the active registries if absent."""
    import importlib

    from shipclip.backend import DATASET_REGISTRY, TRAINER_REGISTRY
    from shipclip.datasets.benchmark import SplitDataset

    if COLOR_DATASET_NAME not in DATASET_REGISTRY.registered_names():
        cls = type(COLOR_DATASET_NAME, (SplitDataset,), {
            "folder": COLOR_FOLDER, "image_subdir": "images", "split_file": COLOR_SPLIT_FILE,
            "template": "a photo of a {} thing.", "__module__": __name__,
        })
        DATASET_REGISTRY.register(cls)
    for name, module in TRAINER_MODULES.items():
        if name not in TRAINER_REGISTRY.registered_names():
            TRAINER_REGISTRY.register(getattr(importlib.import_module(module), name))


def tiny_backbone_opts(directory, kind="vit"):
    """``KEY VALUE`` options selecting a tiny random backbone whose config is written to ``directory``."""
    path = write_tiny_config(str(directory), kind)
    size = tiny_config(kind)["vision_cfg"]["image_size"]
    return ["MODEL.BACKBONE.NAME", path, "MODEL.BACKBONE.PRETRAINED", "none", "INPUT.SIZE", f"({size}, {size})"]


def run_main(trainer, data_root, output_dir, opts=(), config_file="", eval_only=False, model_dir="",
             load_epoch=None, no_train=False, seed=1, kind="vit"):
    """Run ``train.main`` in-process with the colour dataset and a tiny random backbone; return the trainer."""
    train = import_train_py()
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
    argv += ["DATASET.NAME", COLOR_DATASET_NAME] + tiny_backbone_opts(os.path.join(str(data_root), "backbones"), kind)
    argv += FAST_OPTS + list(opts)
    args = train.build_parser().parse_args(argv)
    stdout = sys.stdout
    try:
        return train.main(args)
    finally:
        if sys.stdout is not stdout:  # main tees stdout into the run's log.txt
            tee = sys.stdout
            sys.stdout = stdout
            log_file = getattr(tee, "file", None)  # close only the log file: Dassl's logger would close the console too
            if log_file is not None and hasattr(log_file, "close"):
                log_file.close()
            elif hasattr(tee, "close"):
                tee.close()


def read_results(output_dir):
    with open(os.path.join(str(output_dir), "results.json")) as f:
        return json.load(f)
