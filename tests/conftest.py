"""Shared fixtures: a tiny image dataset generated on disk and a tiny trainer.

The dataset follows CoOp's layout (``<root>/<folder>/images/...`` plus a split JSON of
``[relative_path, label, classname]`` triples) so it exercises the same reading path as the real
datasets. Its images are coloured by class, so a linear model over the flattened 8x8 pixels
learns them within a few epochs.

``make_test_components(engine)`` defines the test dataset and trainer on top of an engine namespace
(``shipclip.backend`` or ``shipclip.engine``) and registers them there once. A subprocess can do
the same by loading this file by path and calling it (see tests/test_train_cli.py).
"""
import os
import types

# Tiny models on a shared 2-core machine: one intra-op thread is 30-100x faster than torch's default
# (thread start-up dominates). Set before torch is imported; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

TEST_DATASET = "ShipTestImages"
TEST_TRAINER = "ShipTestLinear"
TINY_FOLDER = "ship_test_images"
TINY_SPLIT_FILE = "split_ship_test_images.json"
TINY_CLASSES = ("red", "green", "blue")
TINY_COUNTS = {"train": 6, "val": 2, "test": 3}  # images per class
TINY_IMAGE_HW = (10, 12)  # stored size; the configs below resize to 8x8

# Config values of the tiny setup (also written as YAML for command-line runs).
TINY_CFG = {
    "DATASET": {"NAME": TEST_DATASET},
    "INPUT": {"SIZE": (8, 8), "TRANSFORMS": ["normalize"], "INTERPOLATION": "bilinear"},
    "DATALOADER": {"NUM_WORKERS": 0, "TRAIN_X": {"BATCH_SIZE": 4}, "TEST": {"BATCH_SIZE": 5}},
    "OPTIM": {"NAME": "sgd", "LR": 0.05, "MAX_EPOCH": 3, "LR_SCHEDULER": "cosine"},
    "TRAIN": {"PRINT_FREQ": 1},
    "TRAINER": {"NAME": TEST_TRAINER},
    "USE_CUDA": False,
}


def write_tiny_image_dataset(root, classes=TINY_CLASSES, counts=None, image_hw=TINY_IMAGE_HW, seed=0):
    """Write the tiny dataset under ``root`` and return its folder.

    Class ``k`` has channel ``k % 3`` bright and the others dark, plus pixel noise.
    """
    from PIL import Image

    from shipclip.infra.io import write_json

    counts = dict(TINY_COUNTS if counts is None else counts)
    rng = np.random.default_rng(seed)
    dataset_dir = os.path.join(str(root), TINY_FOLDER)
    image_dir = os.path.join(dataset_dir, "images")
    split = {}
    for split_name, per_class in counts.items():
        rows = []
        for label, classname in enumerate(classes):
            os.makedirs(os.path.join(image_dir, classname), exist_ok=True)
            for i in range(per_class):
                base = np.full((*image_hw, 3), 40.0)
                base[..., label % 3] = 200.0
                pixels = np.clip(base + rng.normal(0.0, 25.0, base.shape), 0, 255).astype(np.uint8)
                rel = f"{classname}/{split_name}_{i:03d}.png"
                Image.fromarray(pixels).save(os.path.join(image_dir, rel))
                rows.append([rel, label, classname])
        split[split_name] = rows
    write_json(split, os.path.join(dataset_dir, TINY_SPLIT_FILE))
    return dataset_dir


def apply_tiny_cfg(cfg, data_root, output_dir, seed=1):
    """Set the tiny dataset/trainer values on a project config (mutable) and return it."""
    def merge(node, values):
        for key, value in values.items():
            if isinstance(value, dict):
                merge(node[key], value)
            else:
                node[key] = value

    merge(cfg, TINY_CFG)
    cfg.DATASET.ROOT = str(data_root)
    cfg.OUTPUT_DIR = str(output_dir)
    cfg.SEED = seed
    return cfg


def tiny_cfg_yaml():
    """``TINY_CFG`` as YAML text (tuples written as lists)."""
    import yaml

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return yaml.safe_dump(plain(TINY_CFG), sort_keys=False)


_COMPONENTS = {}


def make_test_components(engine):
    """The test dataset and trainer classes for ``engine``, registered in its registries once."""
    key = (id(engine.DATASET_REGISTRY), id(engine.TRAINER_REGISTRY))
    if key in _COMPONENTS:
        return _COMPONENTS[key]

    import torch.nn.functional as F
    from torch import nn

    class ShipTestImages(engine.DatasetBase):
        """Reads the generated split JSON; ``DATASET.NUM_SHOTS`` samples K images per class."""

        dataset_dir = TINY_FOLDER

        def __init__(self, cfg):
            root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
            self.dataset_dir = os.path.join(root, TINY_FOLDER)
            image_dir = os.path.join(self.dataset_dir, "images")
            split = engine.read_json(os.path.join(self.dataset_dir, TINY_SPLIT_FILE))

            def items(rows):
                return [engine.Datum(impath=os.path.join(image_dir, rel), label=int(label), classname=cname)
                        for rel, label, cname in rows]

            train, val, test = items(split["train"]), items(split["val"]), items(split["test"])
            if cfg.DATASET.NUM_SHOTS >= 1:
                train = self.generate_fewshot_dataset(train, num_shots=cfg.DATASET.NUM_SHOTS)
                val = self.generate_fewshot_dataset(val, num_shots=min(cfg.DATASET.NUM_SHOTS, 4))
            super().__init__(train_x=train, val=val, test=test)

    class ShipTestLinear(engine.TrainerX):
        """Linear classifier on flattened pixels; one scheduler step per epoch, as CoOp does."""

        def build_model(self):
            height, width = self.cfg.INPUT.SIZE
            self.model = nn.Sequential(nn.Flatten(), nn.Linear(3 * height * width, self.num_classes))
            self.model.to(self.device)
            self.optim = engine.build_optimizer(self.model, self.cfg.OPTIM)
            self.sched = engine.build_lr_scheduler(self.optim, self.cfg.OPTIM)
            self.register_model("linear", self.model, self.optim, self.sched)

        def forward_backward(self, batch):
            image, label = self.parse_batch_train(batch)
            output = self.model(image)
            loss = F.cross_entropy(output, label)
            self.model_backward_and_update(loss)
            if self.batch_idx + 1 == self.num_batches:
                self.update_lr()
            return {"loss": loss.item(), "acc": engine.compute_accuracy(output, label)[0].item()}

        def parse_batch_train(self, batch):
            return batch["img"].to(self.device), batch["label"].to(self.device)

    for registry, cls in ((engine.DATASET_REGISTRY, ShipTestImages), (engine.TRAINER_REGISTRY, ShipTestLinear)):
        if cls.__name__ not in registry.registered_names():
            registry.register(cls)
    components = types.SimpleNamespace(
        dataset=engine.DATASET_REGISTRY.get(TEST_DATASET), trainer=engine.TRAINER_REGISTRY.get(TEST_TRAINER))
    _COMPONENTS[key] = components
    return components


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory):
    """Folder holding the generated tiny dataset (shared by the session; do not modify it)."""
    root = tmp_path_factory.mktemp("tiny_data")
    write_tiny_image_dataset(root)
    return root


@pytest.fixture
def tiny_components():
    """Test dataset/trainer classes on the active engine (``shipclip.backend``)."""
    import shipclip.backend

    return make_test_components(shipclip.backend)


@pytest.fixture
def builtin_components():
    """Test dataset/trainer classes on the built-in engine (``shipclip.engine``)."""
    import shipclip.engine

    return make_test_components(shipclip.engine)


@pytest.fixture
def tiny_cfg_file(tmp_path):
    """``TINY_CFG`` written as a trainer YAML (``--config-file``) in ``tmp_path``."""
    path = tmp_path / "tiny_cfg.yaml"
    path.write_text(tiny_cfg_yaml())
    return path


@pytest.fixture
def tiny_cfg(tiny_data_root, tmp_path):
    """A mutable project config for the tiny dataset and trainer, writing into ``tmp_path/output``."""
    from shipclip.config import get_cfg

    return apply_tiny_cfg(get_cfg(), tiny_data_root, tmp_path / "output")
