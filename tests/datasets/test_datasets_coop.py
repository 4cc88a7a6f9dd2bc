"""The CoOp benchmarks and ImageNet variants read their real layouts back exactly."""
import importlib
import os
import sys

import pytest
import yaml

from shipclip import backend
from shipclip.datasets import (CONFIG_KEYS, COOP_DATASETS, DATASETS, GZSL_DATASETS, IMAGENET_VARIANTS,
                               load_dataset_class)
from shipclip_testing.fake_datasets import make_fake_dataset
from shipclip.datasets.templates import CUSTOM_TEMPLATES

ALL_NAMES = COOP_DATASETS + IMAGENET_VARIANTS + GZSL_DATASETS
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("name", COOP_DATASETS)
def test_split_read_back_exactly(root, name, build, as_triples):
    fake = make_fake_dataset(name, root, num_classes=5)
    ds = build(root, name)
    assert ds.image_dir == fake.image_dir
    assert as_triples(ds.train_x, fake.image_dir) == fake.splits["train"]
    if name == "ImageNet":  # all images: no validation split (a few-shot run draws one from the training images)
        assert ds.val is None
    else:
        assert as_triples(ds.val, fake.image_dir) == fake.splits["val"]
    assert as_triples(ds.test, fake.image_dir) == fake.splits["test"]
    assert ds.classnames == fake.classnames == ds.all_classnames
    assert ds.num_classes == 5
    assert ds.lab2cname == dict(enumerate(fake.classnames))
    assert ds.template == CUSTOM_TEMPLATES[name]
    assert ds.subsample == "all"
    assert all(isinstance(x, backend.Datum) for x in ds.train_x + ds.test)
    assert os.path.isdir(ds.dataset_dir) and ds.split_fewshot_dir == os.path.join(ds.dataset_dir, "split_fewshot")


@pytest.mark.parametrize("name", IMAGENET_VARIANTS)
def test_variants_are_test_only(root, name, build, as_triples):
    fake = make_fake_dataset(name, root, num_classes=4, counts=(2, 1, 1))
    ds = build(root, name, num_shots=2)  # shots do not apply to a test-only dataset
    assert as_triples(ds.test, fake.image_dir) == fake.splits["test"]
    assert ds.train_x == ds.test and ds.val is None
    assert len(ds.test) == 4 * 4
    assert ds.classnames == fake.classnames
    assert ds.template == "a photo of a {}."


def test_imagenet_labels_follow_sorted_folders_not_file_order(root, build):
    fake = make_fake_dataset("ImageNet", root, num_classes=4)
    with open(os.path.join(fake.dataset_dir, "classnames.txt")) as f:
        file_order = [line.split(" ", 1)[1].strip() for line in f][:4]
    ds = build(root, "ImageNet")
    assert ds.classnames == fake.classnames != file_order


def test_imagenetv2_labels_follow_classnames_file_order(root, build):
    fake = make_fake_dataset("ImageNetV2", root, num_classes=4)
    with open(os.path.join(fake.dataset_dir, "classnames.txt")) as f:
        file_order = [line.split(" ", 1)[1].strip() for line in f]
    assert build(root, "ImageNetV2").classnames == file_order == fake.classnames


def test_variant_falls_back_to_imagenet_classnames(root, build):
    make_fake_dataset("ImageNet", root, num_classes=3)
    fake = make_fake_dataset("ImageNetSketch", root, num_classes=3)
    os.remove(os.path.join(fake.dataset_dir, "classnames.txt"))
    assert build(root, "ImageNetSketch").classnames == fake.classnames


def test_readme_in_imagenet_a_is_not_a_class(root, build):
    fake = make_fake_dataset("ImageNetA", root, num_classes=3)
    assert os.path.isfile(os.path.join(fake.image_dir, "README.txt"))
    assert build(root, "ImageNetA").num_classes == 3


@pytest.mark.parametrize("key", sorted(k for k in CONFIG_KEYS if k != "toyworld"))
def test_dataset_yaml_names_registry_entry(key):
    with open(os.path.join(REPO, "configs", "datasets", f"{key}.yaml")) as f:
        node = yaml.safe_load(f)
    assert node == {"DATASET": {"NAME": CONFIG_KEYS[key]}}
    assert CONFIG_KEYS[key] in DATASETS


@pytest.mark.parametrize("name", ALL_NAMES)
def test_table_points_at_the_class(name, register):
    cls = load_dataset_class(name)
    assert cls.__name__ == name
    assert isinstance(cls.template, str) and cls.template.count("{}") == 1
    register(name)
    assert backend.DATASET_REGISTRY.get(name) is cls


def test_importing_dataset_modules_registers_nothing():
    saved = {k: v for k, v in sys.modules.items() if k.startswith("shipclip.datasets.")}
    before = set(backend.DATASET_REGISTRY.registered_names())
    try:
        for key in saved:
            del sys.modules[key]
        for target in DATASETS.values():
            importlib.import_module(target.split(":")[0])  # a fresh first import of every module
        assert set(backend.DATASET_REGISTRY.registered_names()) == before
    finally:
        for key in [k for k in sys.modules if k.startswith("shipclip.datasets.")]:
            del sys.modules[key]
        sys.modules.update(saved)
        for key, module in saved.items():  # the package attributes too, so every import path agrees
            setattr(sys.modules["shipclip.datasets"], key.rsplit(".", 1)[1], module)


def test_table_covers_toyworld_and_unknown_names_fail():
    assert DATASETS["ToyWorld"] == "shipclip.datasets.toyworld:ToyWorld"
    assert load_dataset_class("ToyWorld").__name__ == "ToyWorld"
    with pytest.raises(KeyError, match="OxfordPets"):
        load_dataset_class("OxfordPet")
