"""Fixtures for the dataset tests: configs, registration, reading lists back as triples.

The fake datasets themselves are written by ``shipclip.datasets.fake`` (tiny, real layouts).
"""
import os
import random

import pytest

from shipclip.backend import DATASET_REGISTRY, build_dataset
from shipclip.config import get_cfg
from shipclip.datasets import load_dataset_class

COOP_NAMES = ("ImageNet", "Caltech101", "OxfordPets", "StanfordCars", "OxfordFlowers", "Food101", "FGVCAircraft",
              "SUN397", "DescribableTextures", "EuroSAT", "UCF101")
VARIANT_NAMES = ("ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR")
GZSL_NAMES = ("GZSL_CUB", "GZSL_AWA2", "GZSL_SUN")
ALL_NAMES = COOP_NAMES + VARIANT_NAMES + GZSL_NAMES
# Datasets with a split JSON that can also be generated from raw annotations.
GENERATED_NAMES = ("Caltech101", "OxfordPets", "StanfordCars", "OxfordFlowers", "Food101", "SUN397",
                   "DescribableTextures", "EuroSAT", "UCF101")


def register_if_absent(name):
    """Register dataset ``name`` in the backend registry unless it is there already."""
    if name not in DATASET_REGISTRY.registered_names():
        DATASET_REGISTRY.register(load_dataset_class(name))


def make_cfg(root, name, num_shots=-1, seed=1, subsample="all"):
    cfg = get_cfg()
    cfg.DATASET.NAME = name
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NUM_SHOTS = num_shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.SEED = seed
    cfg.VERBOSE = False
    return cfg


def build(root, name, num_shots=-1, seed=1, subsample="all", reseed=True):
    """Build through the registry as train.py does (python ``random`` seeded first, like set_random_seed)."""
    register_if_absent(name)
    if reseed and seed >= 0:
        random.seed(seed)
    return build_dataset(make_cfg(root, name, num_shots, seed, subsample))


def triples(items, image_dir):
    """``(relative path, label, class name)`` of each item, in order."""
    return [(os.path.relpath(x.impath, image_dir).replace(os.sep, "/"), x.label, x.classname) for x in items]


def coop_reference_fewshot(train, val, num_shots, seed):
    """CoOp's few-shot draw, written out independently: seed, then per label (first-appearance order)
    ``random.sample``; train with K shots, then val with min(K, 4) from the same stream."""
    random.seed(seed)

    def draw(items, k):
        groups = {}
        for item in items:
            groups.setdefault(item[1], []).append(item)
        picked = []
        for members in groups.values():
            picked.extend(random.sample(members, k) if len(members) >= k else members)
        return picked

    out_train = draw(train, num_shots)
    out_val = draw(val, min(num_shots, 4)) if val is not None else None
    return out_train, out_val


@pytest.fixture
def root(tmp_path):
    return tmp_path / "data"
