"""Stage 1 fits the generator on the training images of the base classes: all of them, each once per epoch, nothing else.

Every feature the generator is trained on is traced back to the image file the image tower read
for it (``image_trace``), and the expected set comes from the colour dataset's split file, so the
test holds whatever path the features took (encoded in the run, read from the feature cache, or
re-encoded at every step).
"""
import os
from collections import Counter

import pytest
import torch

from shipclip_testing.fake_datasets import COLOR_CLASSES
from shipclip_testing.runs import run_main

BASE, NEW = list(COLOR_CLASSES[:3]), list(COLOR_CLASSES[3:])  # CoCoOp's rule on the 6 colours
GENERATOR_EPOCHS = 2  # TINY_SHIP's TRAINER.SHIP.EPOCHS
SHOTS = 4  # FAST_OPTS' DATASET.NUM_SHOTS
MODES = {
    "views-encoded-in-the-run": ["FEATURES.CACHE", "False", "TRAINER.SHIP.GEN_VIEWS", "2"],
    "views-from-the-feature-cache": ["FEATURES.CACHE", "True", "FEATURES.TRAIN_VIEWS", "2", "TRAINER.SHIP.GEN_VIEWS", "3"],
    "fresh-augmentation-every-step": ["FEATURES.CACHE", "False", "TRAINER.SHIP.GEN_VIEWS", "0"],
    "fresh-augmentation-every-step-cache-on": ["FEATURES.CACHE", "True", "TRAINER.SHIP.GEN_VIEWS", "0"],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_stage1_consumes_exactly_the_base_training_images(mode, color_root, colour_split, image_trace, record_calls,
                                                          tiny_ship, tmp_path):
    from shipclip.ship.vae import FeatureVAE

    consumed = record_calls(FeatureVAE, "forward",
                            lambda self, args, result: (args[0].detach().clone(), torch.as_tensor(args[1]).clone()))
    t = run_main("SHIP_CoOp", color_root, tmp_path / "run", no_train=True, opts=tiny_ship + MODES[mode] + [
        "DATASET.SUBSAMPLE_CLASSES", "base", "FEATURES.DIR", str(tmp_path / "features")])
    t.prepare_generator()

    rows = torch.cat([x for x, _ in consumed])
    labels = torch.cat([y for _, y in consumed]).tolist()
    paths = image_trace.identify(rows)
    base_training_images = colour_split.paths("train", BASE)
    training_set = {os.path.abspath(item.impath) for item in t.dm.dataset.train_x}
    assert len(training_set) == len(BASE) * SHOTS and training_set <= base_training_images
    assert Counter(paths) == {path: GENERATOR_EPOCHS for path in training_set}
    union = BASE + NEW  # the generator's label space: base classes, then label-only ones
    assert [union[label] for label in labels] == [colour_split.where[path][1] for path in paths]
