"""ImageNet's validation split: drawn from the training images the few-shot set left over, never from test.

CoOp validates ImageNet on its test images; selecting anything on them is selecting on test. The
expectations below come from the fake dataset's own file lists, never from the dataset class.
"""
import glob
import json
import os
import random
from collections import Counter

from shipclip_testing.fake_datasets import make_fake_dataset

NUM_CLASSES = 4


def by_label(triples):
    return Counter(label for _, label, _ in triples)


def test_val_comes_from_training_images_outside_the_fewshot_set(root, build, as_triples):
    fake = make_fake_dataset("ImageNet", root, num_classes=NUM_CLASSES, counts=(7, 0, 2))
    ds = build(root, "ImageNet", num_shots=2, seed=7)
    train, val, test = (as_triples(x, fake.image_dir) for x in (ds.train_x, ds.val, ds.test))
    assert set(val) <= set(fake.splits["train"])  # drawn from the training images ...
    assert not set(val) & set(train)  # ... that the 2-shot set did not pick
    assert not {rel for rel, _, _ in val} & {rel for rel, _, _ in fake.splits["test"]}  # never a test image
    assert test == fake.splits["test"]
    assert by_label(val) == {label: 2 for label in range(NUM_CLASSES)}  # min(K, 4) per class
    assert len(set(val)) == len(val)


def test_val_takes_min_shots_4_per_class_or_every_left_over_image(tmp_path, build, as_triples):
    for shots, train_per_class, val_per_class in ((16, 21, 4), (4, 6, 2), (8, 8, 0)):
        root = tmp_path / f"shots{shots}"
        fake = make_fake_dataset("ImageNet", root, num_classes=NUM_CLASSES, counts=(train_per_class, 0, 1))
        ds = build(root, "ImageNet", num_shots=shots, seed=1)
        val = as_triples(ds.val, fake.image_dir)
        assert sum(by_label(val).values()) == NUM_CLASSES * val_per_class, shots
        assert set(by_label(val).values()) <= {val_per_class}, shots
        left_over = set(fake.splits["train"]) - set(as_triples(ds.train_x, fake.image_dir))
        assert set(val) <= left_over, shots
        if val_per_class < 4:  # fewer than 4 left per class: all of them
            assert set(val) == left_over, shots


def test_same_seed_same_val_other_seed_other_val(tmp_path, build, as_triples):
    picks = {}
    for run, seed in (("a", 3), ("b", 3), ("c", 4)):  # separate roots: no cache is shared
        fake = make_fake_dataset("ImageNet", tmp_path / run, num_classes=NUM_CLASSES, counts=(12, 0, 1))
        ds = build(tmp_path / run, "ImageNet", num_shots=2, seed=seed)
        picks[run] = as_triples(ds.val, fake.image_dir)
    assert picks["a"] == picks["b"]
    assert picks["a"] != picks["c"]


def test_val_is_cached_with_the_fewshot_split(root, build, as_triples, monkeypatch):
    fake = make_fake_dataset("ImageNet", root, num_classes=NUM_CLASSES, counts=(9, 0, 1))
    first = build(root, "ImageNet", num_shots=2, seed=5)
    (path,) = glob.glob(os.path.join(first.split_fewshot_dir, "*.json"))
    with open(path) as f:
        cached = json.load(f)
    assert [tuple(t) for t in cached["val"]] == as_triples(first.val, fake.image_dir)
    assert [tuple(t) for t in cached["train"]] == as_triples(first.train_x, fake.image_dir)

    from shipclip.datasets.imagenet import HeldOutValidation

    def no_draw(*args, **kwargs):
        raise AssertionError("the validation split was drawn again instead of read from the cache")

    monkeypatch.setattr(HeldOutValidation, "__call__", no_draw)
    again = build(root, "ImageNet", num_shots=2, seed=5)
    assert as_triples(again.val, fake.image_dir) == as_triples(first.val, fake.image_dir)


def test_drawing_val_leaves_coops_random_stream_as_coop_leaves_it(root, build, coop_fewshot):
    """CoOp's ImageNet draws train only; whatever consumes python's random after the dataset sees the same stream."""
    fake = make_fake_dataset("ImageNet", root, num_classes=NUM_CLASSES, counts=(6, 0, 1))
    build(root, "ImageNet", num_shots=2, seed=11)  # seeds python's random with 11, then draws (no cache yet)
    after_build = random.random()
    coop_fewshot(fake.splits["train"], None, 2, seed=11)  # CoOp: seed, draw train only
    assert after_build == random.random()


def test_all_training_images_means_no_val(root, build, as_triples):
    fake = make_fake_dataset("ImageNet", root, num_classes=NUM_CLASSES, counts=(3, 0, 2))
    ds = build(root, "ImageNet", num_shots=-1, seed=1)
    assert ds.val is None
    assert as_triples(ds.train_x, fake.image_dir) == fake.splits["train"]
    assert as_triples(ds.test, fake.image_dir) == fake.splits["test"]


def test_base_and_new_runs_validate_on_their_half_of_the_same_draw(root, build, as_triples):
    fake = make_fake_dataset("ImageNet", root, num_classes=NUM_CLASSES, counts=(8, 0, 1))
    full = as_triples(build(root, "ImageNet", num_shots=2, seed=2).val, fake.image_dir)
    for mode, labels in (("base", [0, 1]), ("new", [2, 3])):
        part = as_triples(build(root, "ImageNet", num_shots=2, seed=2, subsample=mode).val, fake.image_dir)
        relabel = {old: new for new, old in enumerate(labels)}
        assert part == [(rel, relabel[label], name) for rel, label, name in full if label in relabel], mode
