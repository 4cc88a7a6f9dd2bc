"""Nothing is selected on test: Tip-Adapter's alpha/beta search and ``TEST.FINAL_MODEL best_val`` consume validation
images only, and a validation split that shares images with the test split is refused by every selection path.

Which images a selection consumed is read off the features themselves (traced back to the files the
image tower read, ``image_trace``); the expected sets come from the datasets' own split files.
"""
import json
import os

import pytest
import torch

from shipclip_testing.fake_datasets import COLOR_CLASSES, COLOR_FOLDER, COLOR_SPLIT_FILE, make_fake_dataset
from shipclip_testing.runs import run_main

BASE = list(COLOR_CLASSES[:3])
BEST_VAL = ["TEST.FINAL_MODEL", "best_val"]
SELECTING_RUNS = {  # trainer, options: every way a run selects something on the validation split
    "TipAdapter-search": ("TipAdapter", []),
    "SHIP_TipAdapter-search": ("SHIP_TipAdapter", []),
    "TipAdapterF-best_val-and-search": ("TipAdapterF", BEST_VAL),
    "CoOp-best_val": ("CoOp", BEST_VAL),
    "SHIP_CoOp-best_val": ("SHIP_CoOp", BEST_VAL),
}
SHARED = r"validation split of {} shares \d+ of its \d+ images with the test split"


def consumed_paths(trace, records, phase):
    rows = [features for where, features in records if where == phase]
    return trace.identify(torch.cat(rows)) if rows else []


@pytest.mark.parametrize("cache", ["False", "True"])
@pytest.mark.parametrize("run", list(SELECTING_RUNS))
def test_selection_consumes_validation_images_and_no_test_image(run, cache, color_root, colour_split, image_trace,
                                                                monkeypatch, record_calls, tiny_ship, tmp_path):
    from shipclip.trainers.base import ClipTrainer
    from shipclip.trainers.evaluation import EvaluationMixin

    phase = {"now": "training and selection"}
    test = EvaluationMixin.test

    def tagged_test(self, split=None):
        before = phase["now"]
        if (split or self.cfg.TEST.SPLIT) == "test":
            phase["now"] = "final test"
        try:
            return test(self, split)
        finally:
            phase["now"] = before

    monkeypatch.setattr(EvaluationMixin, "test", tagged_test)
    keep = lambda self, args, result: (phase["now"], result[0].detach().clone())  # noqa: E731
    batches = record_calls(ClipTrainer, "batch_features", keep)
    splits = record_calls(ClipTrainer, "split_features", keep)
    trainer, opts = SELECTING_RUNS[run]
    run_main(trainer, color_root, tmp_path / "run", opts=tiny_ship + opts + [
        "DATASET.SUBSAMPLE_CLASSES", "base", "FEATURES.CACHE", cache, "FEATURES.DIR", str(tmp_path / "features")])

    records = batches + splits
    selected = set(consumed_paths(image_trace, records, "training and selection"))
    tested = set(consumed_paths(image_trace, records, "final test"))
    test_images, val_images = colour_split.paths("test", BASE), colour_split.paths("val", BASE)
    assert not selected & colour_split.paths("test", COLOR_CLASSES)  # no test image before the final test
    assert selected & colour_split.paths("val", COLOR_CLASSES) == val_images  # the selection saw the whole val split
    assert selected <= val_images | colour_split.paths("train", BASE)
    assert tested == test_images


@pytest.fixture
def val_is_test_root(color_root, tmp_path):
    """The colour dataset with a split file whose val list is its test list (as CoOp's ImageNet)."""
    root = tmp_path / "val_is_test"
    folder = root / COLOR_FOLDER
    folder.mkdir(parents=True)
    os.symlink(os.path.join(str(color_root), COLOR_FOLDER, "images"), folder / "images")
    with open(os.path.join(str(color_root), COLOR_FOLDER, COLOR_SPLIT_FILE)) as f:
        split = json.load(f)
    split["val"] = list(split["test"])
    (folder / COLOR_SPLIT_FILE).write_text(json.dumps(split))
    return root


@pytest.mark.parametrize("run", list(SELECTING_RUNS))
def test_every_selection_path_refuses_a_validation_split_that_shares_test_images(run, val_is_test_root, tiny_ship,
                                                                                 tmp_path):
    from shipclip.trainers.evaluation import SelectionOnTestError

    trainer, opts = SELECTING_RUNS[run]
    with pytest.raises(SelectionOnTestError, match=SHARED.format("TrainerTestColors")):
        run_main(trainer, val_is_test_root, tmp_path / "run", opts=tiny_ship + opts + ["DATASET.SUBSAMPLE_CLASSES", "base"])


def test_evaluating_on_a_validation_split_that_shares_test_images_is_refused(val_is_test_root, tiny_ship, tmp_path):
    from shipclip.trainers.evaluation import SelectionOnTestError

    t = run_main("CoOp", val_is_test_root, tmp_path / "run", no_train=True, opts=tiny_ship)
    with pytest.raises(SelectionOnTestError, match=SHARED.format("TrainerTestColors")):
        t.test(split="val")


@pytest.fixture
def imagenet_root(tmp_path):
    from shipclip.backend import DATASET_REGISTRY
    from shipclip.datasets import load_dataset_class

    if "ImageNet" not in DATASET_REGISTRY.registered_names():
        DATASET_REGISTRY.register(load_dataset_class("ImageNet"))
    root = tmp_path / "data"
    return root, make_fake_dataset("ImageNet", root, num_classes=4, counts=(8, 0, 3))


def test_tip_adapter_searches_imagenet_on_training_images_outside_its_shots(imagenet_root, image_trace, monkeypatch,
                                                                           tiny_ship, tmp_path):
    """The fake ImageNet's images of a class are identical, so the searched images are the files the image tower
    read while the search fetched its features (no feature cache: nothing is encoded before it is needed)."""
    from shipclip.trainers.base import ClipTrainer

    root, fake = imagenet_root
    read_for = {}
    split_features = ClipTrainer.split_features

    def traced(self, split):
        start = len(image_trace.paths)
        result = split_features(self, split)
        read_for.setdefault(split, []).extend(image_trace.paths[start:])
        return result

    monkeypatch.setattr(ClipTrainer, "split_features", traced)
    t = run_main("TipAdapter", root, tmp_path / "run", opts=tiny_ship + [
        "DATASET.NAME", "ImageNet", "DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "base",
        "FEATURES.CACHE", "False"])
    images = lambda part, labels: {os.path.join(fake.image_dir, rel) for rel, label, _ in fake.splits[part]  # noqa: E731
                                   if label in labels}
    assert set(read_for) == {"val"}, "Tip-Adapter's alpha/beta search fetched features of another split"
    searched = set(read_for["val"])
    shots = {os.path.abspath(item.impath) for item in t.dm.dataset.train_x}
    assert len(searched) == len(read_for["val"]) == 2 * 2  # min(2, 4) images for each of the 2 base classes
    assert searched <= images("train", {0, 1}) - shots
    assert not searched & images("test", {0, 1, 2, 3})


def test_imagenet_with_all_training_images_has_nothing_to_select_on(imagenet_root, tiny_ship, tmp_path):
    root, _ = imagenet_root
    with pytest.raises(ValueError, match="needs a validation split, but dataset ImageNet has none"):
        run_main("CoOp", root, tmp_path / "run", opts=tiny_ship + BEST_VAL + [
            "DATASET.NAME", "ImageNet", "DATASET.NUM_SHOTS", "-1", "DATASET.SUBSAMPLE_CLASSES", "base"])
