"""Bad layouts fail with the expected path and a pointer to DATASETS.md."""
import json
import os
import re

import pytest

from shipclip.datasets import COOP_DATASETS, GZSL_DATASETS, IMAGENET_VARIANTS, load_dataset_class
from shipclip_testing.fake_datasets import make_fake_dataset
from shipclip.datasets.layout import DatasetLayoutError

ALL_NAMES = COOP_DATASETS + IMAGENET_VARIANTS + GZSL_DATASETS
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_missing_dataset_folder(root, name, build):
    os.makedirs(root)
    expected = os.path.join(str(root), load_dataset_class(name).folder)
    with pytest.raises(DatasetLayoutError) as info:
        build(root, name)
    message = str(info.value)
    assert f'expected the folder "{expected}"' in message
    assert f'See DATASETS.md, section "{name}"' in message


@pytest.mark.parametrize("name", ALL_NAMES)
def test_docs_have_a_section_per_dataset(name):
    with open(os.path.join(REPO, "DATASETS.md"), encoding="utf-8") as f:
        headings = [line.strip("# \n") for line in f if line.startswith("#")]
    assert name in headings


def test_empty_root_is_explained(build, tmp_path):
    with pytest.raises(DatasetLayoutError, match="DATASET.ROOT is empty"):
        build("", "OxfordPets")


def test_missing_split_and_raw_files(root, build):
    fake = make_fake_dataset("OxfordPets", root, num_classes=3, split_json=False, raw=False)
    with pytest.raises(DatasetLayoutError) as info:
        build(root, "OxfordPets")
    message = str(info.value)
    assert f'split file not found: expected "{fake.split_file}"' in message
    assert os.path.join(fake.dataset_dir, "annotations", "trainval.txt") in message
    assert 'DATASETS.md, section "OxfordPets"' in message


def test_missing_fgvc_list_is_named(root, build):
    fake = make_fake_dataset("FGVCAircraft", root, num_classes=3)
    os.remove(os.path.join(fake.dataset_dir, "images_variant_val.txt"))
    with pytest.raises(DatasetLayoutError, match=re.escape(os.path.join(fake.dataset_dir, "images_variant_val.txt"))):
        build(root, "FGVCAircraft")


def test_missing_image_in_split_names_file_and_split(root, build):
    fake = make_fake_dataset("DescribableTextures", root, num_classes=3)
    rel = fake.splits["test"][-1][0]
    os.remove(os.path.join(fake.image_dir, rel))
    with pytest.raises(DatasetLayoutError) as info:
        build(root, "DescribableTextures")
    assert f'Image not found: "{os.path.join(fake.image_dir, rel)}"' in str(info.value)
    assert f'listed in "{fake.split_file}"' in str(info.value)


def test_missing_image_folder(root, build):
    fake = make_fake_dataset("EuroSAT", root, num_classes=3)
    os.rename(fake.image_dir, fake.image_dir + "_moved")
    expected = f'image folder not found: expected the folder "{re.escape(fake.image_dir)}"'
    with pytest.raises(DatasetLayoutError, match=expected):
        build(root, "EuroSAT")


def test_malformed_split_file(root, build):
    fake = make_fake_dataset("Food101", root, num_classes=3)
    with open(fake.split_file, "w") as f:
        json.dump({"train": [], "test": []}, f)
    with pytest.raises(ValueError, match=re.escape(fake.split_file) + ".*keys"):
        build(root, "Food101")
    with open(fake.split_file, "w") as f:
        json.dump({"train": [["a.jpg", 0]], "val": [], "test": []}, f)
    with pytest.raises(ValueError, match=r'entry 0 of "train"'):
        build(root, "Food101")


def test_imagenet_flat_val_folder(root, build):
    fake = make_fake_dataset("ImageNet", root, num_classes=2)
    val_dir = os.path.join(fake.image_dir, "val")
    for wnid in os.listdir(val_dir):
        for name in os.listdir(os.path.join(val_dir, wnid)):
            os.rename(os.path.join(val_dir, wnid, name), os.path.join(val_dir, name))
        os.rmdir(os.path.join(val_dir, wnid))
    with pytest.raises(DatasetLayoutError, match="not arranged in class folders"):
        build(root, "ImageNet")


def test_imagenet_folder_missing_from_classnames(root, build):
    fake = make_fake_dataset("ImageNet", root, num_classes=2)
    os.makedirs(os.path.join(fake.image_dir, "train", "n99999999"))
    with pytest.raises(ValueError, match="n99999999.*not listed in the class-name file"):
        build(root, "ImageNet")


def test_imagenet_variant_without_classnames(root, build):
    fake = make_fake_dataset("ImageNetR", root, num_classes=2)
    os.remove(os.path.join(fake.dataset_dir, "classnames.txt"))
    with pytest.raises(DatasetLayoutError, match="class-name file not found.*imagenet-rendition"):
        build(root, "ImageNetR")


def test_invalid_subsample_mode(root, build):
    make_fake_dataset("Caltech101", root, num_classes=3)
    with pytest.raises(ValueError, match="DATASET.SUBSAMPLE_CLASSES is 'old'"):
        build(root, "Caltech101", subsample="old")
