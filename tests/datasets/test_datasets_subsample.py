"""CoCoOp's base/new rule: sorted train labels, base = first ceil(n/2), each half relabelled from 0."""
import math
import os

import pytest

from shipclip.datasets import COOP_DATASETS, IMAGENET_VARIANTS
from shipclip_testing.fake_datasets import make_fake_dataset, write_image
from shipclip.datasets.layout import make_datum
from shipclip.datasets.subsample import base_new_labels, check_subsample, subsample_classes


def expected_part(items, labels):
    """Reference: keep ``labels`` (in this order) and relabel by position."""
    relabel = {old: new for new, old in enumerate(labels)}
    return [(rel, relabel[label], name) for rel, label, name in items if label in relabel]


@pytest.mark.parametrize("name", COOP_DATASETS)
@pytest.mark.parametrize("num_classes", [4, 5])
def test_base_and_new_on_even_and_odd_class_counts(root, name, num_classes, build, as_triples):
    fake = make_fake_dataset(name, root, num_classes=num_classes, counts=(2, 1, 1))
    m = math.ceil(num_classes / 2)
    base_labels, new_labels = list(range(m)), list(range(m, num_classes))
    for mode, labels in (("base", base_labels), ("new", new_labels)):
        ds = build(root, name, subsample=mode)
        assert ds.subsample == mode
        assert ds.all_classnames == fake.classnames
        assert ds.base_classnames == fake.classnames[:m] and ds.new_classnames == fake.classnames[m:]
        assert ds.classnames == [fake.classnames[i] for i in labels] and ds.num_classes == len(labels)
        assert as_triples(ds.train_x, fake.image_dir) == expected_part(fake.splits["train"], labels)
        assert as_triples(ds.test, fake.image_dir) == expected_part(fake.splits["test"], labels)
        if name != "ImageNet":
            assert as_triples(ds.val, fake.image_dir) == expected_part(fake.splits["val"], labels)
        else:  # all images: ImageNet has no validation split (see test_datasets_imagenet_val.py)
            assert ds.val is None
        assert {x.domain for x in ds.train_x} == {0}


@pytest.mark.parametrize("name", IMAGENET_VARIANTS)
def test_variants_follow_the_rule_on_their_own_labels(root, name, build, as_triples):
    fake = make_fake_dataset(name, root, num_classes=5, counts=(1, 0, 0))
    ds = build(root, name, subsample="new")
    assert ds.classnames == fake.classnames[3:] == ds.new_classnames
    assert as_triples(ds.test, fake.image_dir) == expected_part(fake.splits["test"], [3, 4])


def test_few_shot_happens_before_subsampling(root, build, as_triples):
    """A base run trains on the base part of the all-class run's K-shot set (same cache)."""
    fake = make_fake_dataset("OxfordPets", root, num_classes=5)
    full = build(root, "OxfordPets", num_shots=2, seed=1)
    base = build(root, "OxfordPets", num_shots=2, seed=1, subsample="base")
    assert as_triples(base.train_x, fake.image_dir) == expected_part(as_triples(full.train_x, fake.image_dir),
                                                                    [0, 1, 2])
    assert len(os.listdir(full.split_fewshot_dir)) == 1


def test_rule_uses_sorted_labels_of_the_first_list(tmp_path):
    """Labels appear out of order and sparse: base is still the smallest ceil(n/2) labels."""
    items = []
    for label in (7, 2, 9, 4, 2, 7, 11):
        path = str(tmp_path / f"{label}_{len(items)}.jpg")
        write_image(path, label)
        items.append(make_datum(path, label, f"c{label}"))
    assert base_new_labels(items) == ([2, 4, 7], [9, 11])
    other = [x for x in items if x.label in (4, 11)]
    base, other_base = subsample_classes(items, other, subsample="base")
    assert [(x.label, x.classname) for x in base] == [
        (2, "c7"), (0, "c2"), (1, "c4"), (0, "c2"), (2, "c7")]
    assert [(x.label, x.classname) for x in other_base] == [(1, "c4")]
    new, other_new = subsample_classes(items, other, subsample="new")
    assert [(x.label, x.classname) for x in new] == [(0, "c9"), (1, "c11")]
    assert [(x.label, x.classname) for x in other_new] == [(1, "c11")]
    assert subsample_classes(items, other, subsample="all") == [items, other]


def test_invalid_mode_names_the_key():
    assert check_subsample("BASE") == "base"
    with pytest.raises(ValueError, match="DATASET.SUBSAMPLE_CLASSES is 'half'; use one of all, base, new"):
        check_subsample("half")
