"""Fixtures for the dataset tests: building through the registry, lists as triples, CoOp's draw.

The fake datasets themselves are written by ``shipclip_testing.fake_datasets`` (tiny, real layouts).
Helpers are fixtures (not imports) so these tests do not depend on pytest's import mode.
"""
import os
import random

import pytest

from shipclip.backend import DATASET_REGISTRY, build_dataset
from shipclip.config import get_cfg
from shipclip.datasets import load_dataset_class


def _register_if_absent(name):
    """Register dataset ``name`` in the backend registry unless it is there already."""
    if name not in DATASET_REGISTRY.registered_names():
        DATASET_REGISTRY.register(load_dataset_class(name))


def _make_cfg(root, name, num_shots=-1, seed=1, subsample="all"):
    cfg = get_cfg()
    cfg.DATASET.NAME = name
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NUM_SHOTS = num_shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.SEED = seed
    cfg.VERBOSE = False
    return cfg


def _build(root, name, num_shots=-1, seed=1, subsample="all", reseed=True):
    """Build through the registry as train.py does (python ``random`` seeded first, like set_random_seed)."""
    _register_if_absent(name)
    if reseed and seed >= 0:
        random.seed(seed)
    return build_dataset(_make_cfg(root, name, num_shots, seed, subsample))


def _triples(items, image_dir):
    """``(relative path, label, class name)`` of each item, in order."""
    return [(os.path.relpath(x.impath, image_dir).replace(os.sep, "/"), x.label, x.classname) for x in items]


def _coop_fewshot(train, val, num_shots, seed):
    """CoOp's few-shot draw on triples, written out independently: seed; per label in first-appearance
    order ``random.sample`` (all items when fewer); train with K, then val with min(K, 4), one stream."""
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


@pytest.fixture
def build():
    return _build


@pytest.fixture
def make_cfg():
    return _make_cfg


@pytest.fixture
def register():
    return _register_if_absent


@pytest.fixture
def as_triples():
    return _triples


@pytest.fixture
def coop_fewshot():
    return _coop_fewshot
