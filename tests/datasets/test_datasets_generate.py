"""Split generation from raw annotations when CoOp's split file is missing (then saved and reused)."""
import json
import os
import random
from collections import Counter

import pytest

from shipclip.datasets import COOP_DATASETS, load_dataset_class
from shipclip.datasets.benchmark import SplitDataset
from shipclip_testing.fake_datasets import make_fake_dataset
from shipclip.datasets.splits import split_trainval

GENERATED = [n for n in COOP_DATASETS
             if issubclass(load_dataset_class(n), SplitDataset) and load_dataset_class(n).split_file]
TRAINVAL_STYLE = ("OxfordPets", "StanfordCars", "SUN397", "UCF101")  # official test list + 80/20 trainval


def test_every_split_file_dataset_can_generate():
    assert sorted(GENERATED) == sorted(["Caltech101", "OxfordPets", "StanfordCars", "OxfordFlowers", "Food101",
                                        "SUN397", "DescribableTextures", "EuroSAT", "UCF101"])


@pytest.mark.parametrize("name", GENERATED)
def test_generated_split_is_saved_and_reused(root, name, build, as_triples):
    fake = make_fake_dataset(name, root, num_classes=4, counts=(6, 3, 3), split_json=False)
    assert not os.path.exists(fake.split_file)
    ds = build(root, name, seed=11)
    assert os.path.isfile(fake.split_file)
    parts = {k: as_triples(getattr(ds, a), fake.image_dir) for k, a in
             (("train", "train_x"), ("val", "val"), ("test", "test"))}
    everything = sorted(fake.splits["train"] + fake.splits["val"] + fake.splits["test"])
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == everything
    assert ds.classnames == fake.classnames  # names built from the raw annotations as CoOp does

    if name in TRAINVAL_STYLE:  # the official test list, trainval split 80/20 per class
        assert sorted(parts["test"]) == sorted(fake.splits["test"])
        assert Counter(lab for _, lab, _ in parts["val"]) == {lab: round(9 * 0.2) for lab in range(4)}
    else:  # per class 50/20/30 of all 12 images
        assert Counter(lab for _, lab, _ in parts["train"]) == {lab: 6 for lab in range(4)}
        assert Counter(lab for _, lab, _ in parts["val"]) == {lab: round(12 * 0.2) for lab in range(4)}

    with open(fake.split_file) as f:
        saved = json.load(f)
    assert [tuple(t) for t in saved["train"]] == parts["train"]
    again = build(root, name, seed=99)  # now read from the saved file: the seed no longer matters
    assert as_triples(again.test, fake.image_dir) == parts["test"]
    assert as_triples(again.val, fake.image_dir) == parts["val"]


@pytest.mark.parametrize("name", ["DescribableTextures", "OxfordPets"])
def test_generation_depends_on_the_seed_only(tmp_path, name, build, as_triples):
    splits = {}
    for run, seed in (("a", 1), ("b", 1), ("c", 2)):
        fake = make_fake_dataset(name, tmp_path / run, num_classes=3, counts=(6, 3, 3), split_json=False)
        splits[run] = as_triples(build(tmp_path / run, name, seed=seed).val, fake.image_dir)
    assert splits["a"] == splits["b"] != splits["c"]


def test_caltech_skips_background_folders_and_renames(root, build):
    fake = make_fake_dataset("Caltech101", root, num_classes=7, counts=(3, 1, 1), split_json=False)
    assert os.path.isdir(os.path.join(fake.image_dir, "BACKGROUND_Google"))
    ds = build(root, "Caltech101")
    assert ds.classnames == ["face", "leopard", "motorbike", "accordion", "airplane", "anchor", "ant"]
    assert not any("BACKGROUND_Google" in x.impath or "Faces_easy" in x.impath for x in ds.train_x + ds.test)


def test_fgvc_aircraft_reads_official_lists(root, build, as_triples):
    fake = make_fake_dataset("FGVCAircraft", root, num_classes=5)
    ds = build(root, "FGVCAircraft")
    assert ds.classnames == ["707-320", "727-200", "A300B4", "Cessna 172", "DHC-8-100"]
    assert as_triples(ds.val, fake.image_dir) == fake.splits["val"]
    assert not any(f.endswith(".json") for f in os.listdir(fake.dataset_dir))  # nothing to save


def test_split_trainval_matches_coop_draws(tmp_path):
    from shipclip_testing.fake_datasets import write_image
    from shipclip.datasets.layout import make_datum

    items = []
    for j, label in enumerate([2, 0, 2, 1, 0, 2, 1, 0, 2, 2, 1, 0, 0]):
        path = str(tmp_path / f"{j}.jpg")
        write_image(path, label)
        items.append(make_datum(path, label, str(label)))
    random.seed(5)
    train, val = split_trainval(items)
    random.seed(5)  # reference: per label (first appearance), shuffle its indices, first round(0.2 n) -> val
    groups = {}
    for index, item in enumerate(items):
        groups.setdefault(item.label, []).append(index)
    ref_train, ref_val = [], []
    for indices in groups.values():
        random.shuffle(indices)
        cut = round(len(indices) * 0.2)
        ref_val += [items[i].impath for i in indices[:cut]]
        ref_train += [items[i].impath for i in indices[cut:]]
    assert [x.impath for x in train] == ref_train and [x.impath for x in val] == ref_val
