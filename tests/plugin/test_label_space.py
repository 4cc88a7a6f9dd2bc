"""Label-only and joint classes for any Dassl dataset: this project's, and a lab's own without new_classnames."""
import random

import numpy as np
import pytest
import torch

from shipclip_testing.fake_datasets import COLOR_CLASSES, COLOR_DATASET_NAME
from shipclip_testing.lab_code import LAB_DATASET, register_lab_code
from shipclip_testing.runs import register_components

BASE, NEW = list(COLOR_CLASSES[:3]), list(COLOR_CLASSES[3:])  # CoCoOp's rule on 6 sorted labels


@pytest.fixture(autouse=True)
def fresh_cache():
    from shipclip.ship import label_space

    label_space.clear_cache()
    yield
    label_space.clear_cache()


def make_cfg(root, dataset=LAB_DATASET, subsample="base", shots=4, **ship):
    from shipclip.config import get_cfg

    register_lab_code()
    register_components()
    cfg = get_cfg()
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = dataset
    cfg.DATASET.NUM_SHOTS = shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.SEED = 1
    for key, value in ship.items():
        setattr(cfg.TRAINER.SHIP, key, value)
    return cfg


def build(cfg):
    from shipclip.backend import build_dataset

    return build_dataset(cfg)


def test_lab_dataset_declares_no_split(color_root):
    dataset = build(make_cfg(color_root))
    assert not any(hasattr(dataset, a) for a in ("new_classnames", "base_classnames", "all_classnames",
                                                  "unseen_classnames"))
    assert list(dataset.classnames) == BASE


@pytest.mark.parametrize("subsample", ["base", "new", "all"])
def test_split_of_lab_dataset_follows_its_own_subsample_rule(color_root, subsample):
    from shipclip.ship.label_space import class_split, joint_class_sets, joint_classnames, new_classnames

    cfg = make_cfg(color_root, subsample=subsample)
    dataset = build(cfg)
    split = class_split(cfg, dataset)
    assert (list(split.base), list(split.new)) == (BASE, NEW)
    assert new_classnames(cfg, dataset) == NEW
    assert joint_classnames(cfg, dataset) == BASE + NEW
    assert joint_class_sets(cfg, dataset) == (BASE, NEW)


def test_rebuild_happens_once_and_leaves_random_state_untouched(color_root, monkeypatch):
    from shipclip.ship.label_space import class_split

    cfg = make_cfg(color_root, subsample="base")
    dataset = build(cfg)
    lab_class = type(dataset)
    built = lab_class.constructions
    init = lab_class.__init__

    def drawing_init(self, cfg):  # a lab dataset that draws while it builds (e.g. generating its split)
        random.random(), np.random.rand(), torch.rand(1)
        init(self, cfg)

    monkeypatch.setattr(lab_class, "__init__", drawing_init)
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    states = (random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state().clone())
    class_split(cfg, dataset)
    class_split(cfg, dataset)  # cached: no second rebuild
    assert lab_class.constructions == built + 1
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.random.get_rng_state(), states[2])


def test_dataset_on_all_classes_needs_no_rebuild(color_root):
    from shipclip.ship.label_space import class_split

    cfg = make_cfg(color_root, subsample="all")
    dataset = build(cfg)
    built = type(dataset).constructions
    class_split(cfg, dataset)
    assert type(dataset).constructions == built


def test_project_dataset_lists_its_own_split(color_root):
    from shipclip.ship.label_space import class_split

    cfg = make_cfg(color_root, dataset=COLOR_DATASET_NAME, subsample="base")
    split = class_split(cfg, build(cfg))
    assert (list(split.base), list(split.new)) == (BASE, NEW)
    assert "listed by the dataset" in split.source


def test_dataset_with_another_rule_is_refused(color_root):
    from shipclip.ship.label_space import class_split

    cfg = make_cfg(color_root, subsample="base")
    dataset = build(cfg)
    dataset._classnames = list(NEW)  # its "base" half is not CoCoOp's
    with pytest.raises(ValueError, match="LABEL_ONLY /path/to/names.txt"):
        class_split(cfg, dataset)


def test_label_only_counts_only_classes_outside_training(color_root, capsys):
    from shipclip.ship.label_space import label_only_classnames

    cfg = make_cfg(color_root, subsample="base", LABEL_ONLY="all-target", TARGET_DATASET=LAB_DATASET)
    dataset = build(cfg)
    capsys.readouterr()
    names = label_only_classnames(cfg, dataset, dataset.classnames)
    assert names == NEW
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("SHIP: 3 label-only classes (the classes of target dataset LabColors")
    assert "3 of the 6 are training classes" in line


def test_label_only_new_on_lab_dataset(color_root):
    from shipclip.ship.label_space import label_only_classnames

    cfg = make_cfg(color_root, subsample="base")
    dataset = build(cfg)
    assert label_only_classnames(cfg, dataset, dataset.classnames, log=None) == NEW


def test_label_only_file(color_root, tmp_path):
    from shipclip.ship.label_space import label_only_classnames

    names = tmp_path / "names.txt"
    names.write_text("# label-only\nred\nteal\n\nolive_green\n")
    cfg = make_cfg(color_root, subsample="base", LABEL_ONLY=str(names))
    dataset = build(cfg)
    assert label_only_classnames(cfg, dataset, dataset.classnames, log=None) == ["teal", "olive_green"]
