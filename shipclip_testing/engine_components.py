"""A tiny dataset and a linear trainer written against the Dassl API, for the engine tests.

``make_test_components(engine)`` defines the test dataset and trainer on top of an engine namespace
(``shipclip.backend`` or ``shipclip.engine``) and registers them there once; a subprocess does the
same by importing this module. The dataset (``fake_datasets.write_tiny_image_dataset``) follows
CoOp's layout, so it exercises the same reading path as the real datasets.
"""
import os
import types

from .fake_datasets import TINY_FOLDER, TINY_SPLIT_FILE

__all__ = ["TEST_DATASET", "TEST_TRAINER", "TINY_CFG", "apply_tiny_cfg", "tiny_cfg_yaml", "make_test_components"]

TEST_DATASET = "ShipTestImages"
TEST_TRAINER = "ShipTestLinear"

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
