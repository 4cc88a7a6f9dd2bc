"""The design split (its own images, outside CoOp's split file) and the guard on reported worlds' val/test."""
import json

import pytest

from shipclip.toyworld.build import (DESIGN_FOLDER, DESIGN_SPLIT_FILE, SPLIT_FILE, build_dataset,
                                     build_design_split)
from shipclip.toyworld.data import read_split
from shipclip.toyworld.protocol import ReportedSplitError, check_split, world_of
from shipclip.toyworld.specs import DESIGN
from shipclip.toyworld.world import World, quick_world

QUIET = dict(progress=False, log=lambda *a: None)
COUNTS = {"train": 1, "val": 1, "test": 2}


def _build(root, world, seed, design_count=2):
    folder = build_dataset(root, world, seed=seed, counts=COUNTS, **QUIET)
    build_design_split(root, world, seed=seed, count=design_count, **QUIET)
    return folder


def test_design_split_is_deterministic_and_independent_of_the_coop_splits(tmp_path):
    world = World(colors=("red", "blue"), shapes=("circle", "star"))
    a = _build(tmp_path / "a", world, seed=3)
    b = _build(tmp_path / "b", world, seed=3)
    c = _build(tmp_path / "c", world, seed=4)
    design_a, design_b, design_c = (sorted((f / DESIGN_FOLDER / "images").rglob("*.png")) for f in (a, b, c))
    assert len(design_a) == 2 * world.num_classes
    rel = [p.relative_to(a) for p in design_a]
    assert all((a / r).read_bytes() == (b / r).read_bytes() for r in rel)
    assert not any((a / r).read_bytes() == (c / r).read_bytes() for r in rel)
    coop = {p.read_bytes() for p in (a / "images").rglob("*.png")}
    assert not coop & {p.read_bytes() for p in design_a}  # other random streams than train/val/test
    # The CoOp split file does not know the design images; the design split file lists them all.
    split = json.loads((a / SPLIT_FILE).read_text())
    assert sorted(split) == ["test", "train", "val"]
    paths, labels, names = read_split(a, "design")
    assert len(paths) == len(design_a) and sorted(labels) == sorted(list(range(world.num_classes)) * 2)
    assert all(world.classnames[label] == name for label, name in zip(labels, names))


def test_design_split_follows_a_rebuild_and_is_reused_otherwise(tmp_path):
    world = quick_world()
    folder = _build(tmp_path, world, seed=3)
    image = folder / DESIGN_FOLDER / "images" / world.folders[0] / "0.png"
    stamp, old = image.stat().st_mtime_ns, image.read_bytes()
    messages = []
    build_design_split(tmp_path, world, seed=3, count=2, progress=False, log=messages.append)
    assert any("reused" in m for m in messages) and image.stat().st_mtime_ns == stamp
    build_dataset(tmp_path, world, seed=5, counts=COUNTS, force=True, **QUIET)
    build_design_split(tmp_path, world, seed=5, count=2, **QUIET)
    assert image.read_bytes() != old
    assert len(json.loads((folder / DESIGN_FOLDER / DESIGN_SPLIT_FILE).read_text())["design"]) == 2 * world.num_classes


def test_reported_world_val_and_test_need_the_flag_and_warn(tmp_path):
    folder = _build(tmp_path, quick_world(), seed=9)  # matches no named world: counts as reported
    assert world_of(folder) == ("custom", "reported")
    assert check_split(folder, "design") == "reported"
    for split in ("val", "test"):
        with pytest.raises(ReportedSplitError, match="--allow-reported"):
            check_split(folder, split)
        warnings = []
        assert check_split(folder, split, allow_reported=True, warn=warnings.append) == "reported"
        assert len(warnings) == 1 and "do not" in warnings[0]
    with pytest.raises(ValueError, match="design"):
        check_split(folder, "holdout")


def test_design_and_quick_worlds_are_open(tmp_path):
    design = _build(tmp_path / "design", DESIGN.world, seed=DESIGN.dataset_seed, design_count=1)
    assert world_of(design) == ("design", "design")
    quick = _build(tmp_path / "quick", quick_world(), seed=1, design_count=1)
    assert world_of(quick) == ("quick", "ci")
    for folder in (design, quick):
        for split in ("design", "val", "test"):
            check_split(folder, split, warn=lambda msg: pytest.fail(f"unexpected warning {msg}"))
