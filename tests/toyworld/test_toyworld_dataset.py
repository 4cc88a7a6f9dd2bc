"""The on-disk benchmark (CoOp's split-JSON layout) and the ``ToyWorld`` dataset class."""
import json
import os
import random

import pytest
import yaml

from shipclip.backend import DATASET_REGISTRY, build_dataset as build_from_cfg
from shipclip.config import get_cfg
from shipclip.datasets import load_dataset_class
from shipclip.datasets.layout import DatasetLayoutError
from shipclip.toyworld.build import MANIFEST_FILE, QUICK_COUNTS, SPLIT_FILE, build_dataset
from shipclip.toyworld.world import quick_world

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUIET = dict(progress=False, log=lambda *a: None)


def _load(root, shots=-1, subsample="all", seed=1):
    if "ToyWorld" not in DATASET_REGISTRY.registered_names():
        DATASET_REGISTRY.register(load_dataset_class("ToyWorld"))
    cfg = get_cfg()
    cfg.DATASET.NAME = "ToyWorld"
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NUM_SHOTS = shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.SEED = seed
    random.seed(seed)  # train.py seeds python's random before building the dataset
    return build_from_cfg(cfg)


def test_split_json_has_coop_format(quick_root):
    world = quick_world()
    dataset_dir = quick_root / "toyworld"
    with open(dataset_dir / SPLIT_FILE) as f:
        split = json.load(f)
    assert sorted(split) == ["test", "train", "val"]
    for name, rows in split.items():
        assert len(rows) == QUICK_COUNTS[name] * world.num_classes
        for rel, label, classname in rows:
            assert isinstance(rel, str) and isinstance(label, int) and isinstance(classname, str)
            folder, file = rel.split("/")
            assert folder == world.folders[label] and classname == world.classnames[label]
            assert file.endswith(".png") and file[:-4].isdigit()
            assert (dataset_dir / "images" / rel).is_file()
    paths = [rel for rows in split.values() for rel, _, _ in rows]
    assert len(paths) == len(set(paths))  # no image in two splits


def test_dataset_class_loads_all_classes_with_counts(quick_root):
    world = quick_world()
    ds = _load(quick_root)
    assert ds.num_classes == world.num_classes
    assert ds.classnames == world.classnames
    assert ds.all_classnames == world.classnames
    assert ds.base_classnames == world.base_classnames and ds.new_classnames == world.new_classnames
    assert ds.template == "a photo of a {}."
    assert len(ds.train_x) == QUICK_COUNTS["train"] * world.num_classes
    assert len(ds.val) == QUICK_COUNTS["val"] * world.num_classes
    assert len(ds.test) == QUICK_COUNTS["test"] * world.num_classes
    assert all(os.path.isfile(x.impath) for x in ds.test)


def test_few_shot_and_base_new_split(quick_root):
    world = quick_world()
    shots = 4
    full = _load(quick_root, shots=shots)
    base = _load(quick_root, shots=shots, subsample="base")
    new = _load(quick_root, shots=shots, subsample="new")
    assert len(full.train_x) == shots * world.num_classes
    assert len(full.val) == min(shots, 4) * world.num_classes
    m = world.num_base
    assert base.classnames == world.base_classnames and new.classnames == world.new_classnames
    assert sorted({x.label for x in base.test}) == list(range(m))
    assert sorted({x.label for x in new.test}) == list(range(world.num_classes - m))
    assert len(base.test) == QUICK_COUNTS["test"] * m
    # Few-shot sampling happens before subsampling: base training images are the "all" run's.
    assert {x.impath for x in base.train_x} == {x.impath for x in full.train_x if x.label < m}
    for ds in (base, new):
        for x in ds.train_x + ds.test:
            assert ds.classnames[x.label] == x.classname
    assert base.all_classnames == new.all_classnames == world.classnames


def test_missing_dataset_names_the_prepare_command(tmp_path):
    with pytest.raises(DatasetLayoutError, match="shipclip.toyworld.prepare"):
        _load(tmp_path)


def test_existing_build_is_reused_and_other_settings_refused(tmp_path):
    world = quick_world()
    counts = {"train": 2, "val": 1, "test": 1}
    dataset_dir = build_dataset(tmp_path, world, seed=3, counts=counts, **QUIET)
    image = dataset_dir / "images" / world.folders[0] / "0.png"
    stamp = (image.stat().st_mtime_ns, (dataset_dir / MANIFEST_FILE).stat().st_mtime_ns)
    messages = []
    assert build_dataset(tmp_path, world, seed=3, counts=counts, progress=False, log=messages.append) == dataset_dir
    assert any("reused" in m for m in messages)
    assert (image.stat().st_mtime_ns, (dataset_dir / MANIFEST_FILE).stat().st_mtime_ns) == stamp
    with pytest.raises(FileExistsError, match="--force"):
        build_dataset(tmp_path, world, seed=4, counts=counts, **QUIET)
    old = image.read_bytes()
    build_dataset(tmp_path, world, seed=4, counts=counts, force=True, **QUIET)
    assert image.read_bytes() != old
    assert json.loads((dataset_dir / MANIFEST_FILE).read_text())["seed"] == 4


def test_bad_counts_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="counts"):
        build_dataset(tmp_path, quick_world(), counts={"train": 2, "test": 1}, **QUIET)


def test_dataset_yaml_names_toyworld():
    with open(os.path.join(REPO, "configs", "datasets", "toyworld.yaml")) as f:
        assert yaml.safe_load(f) == {"DATASET": {"NAME": "ToyWorld"}}
