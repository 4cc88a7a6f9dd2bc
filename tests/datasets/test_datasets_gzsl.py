"""GZSL benchmarks on xlsa17 splits: path mapping, class order, seen/unseen label spaces."""
import os

import pytest

from shipclip.datasets import GZSL_DATASETS
from shipclip_testing.fake_datasets import make_fake_dataset
from shipclip.datasets.gzsl import VAL_FRACTION, gzsl_classname, holdout_split, map_image_path
from shipclip.datasets.layout import DatasetLayoutError
from shipclip.datasets.templates import CUSTOM_TEMPLATES


@pytest.mark.parametrize("raw, readable", [
    ("001.Black_footed_Albatross", "black footed albatross"),
    ("200.Common_Yellowthroat", "common yellowthroat"),
    ("german+shepherd", "german shepherd"),
    ("killer+whale", "killer whale"),
    ("airplane_cabin", "airplane cabin"),
    ("abbey", "abbey"),
])
def test_readable_class_names(raw, readable):
    assert gzsl_classname(raw) == readable


@pytest.mark.parametrize("stored, anchor, rel", [
    ("/BS/xian/work/data/CUB_200_2011/CUB_200_2011/images/001.Black_footed_Albatross/a_1.jpg", "images",
     "001.Black_footed_Albatross/a_1.jpg"),
    ("/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/antelope/antelope_10001.jpg", "JPEGImages",
     "antelope/antelope_10001.jpg"),
    ("/BS/xian/work/data/SUN/images/a/abbey/sun_aaa.jpg", "images", "a/abbey/sun_aaa.jpg"),
    ("C:\\data\\images\\x\\y.jpg", "images", "x/y.jpg"),
])
def test_foreign_paths_map_onto_the_local_image_folder(stored, anchor, rel):
    assert map_image_path(stored, anchor, "/local/img") == os.path.join("/local/img", *rel.split("/"))


def test_path_without_anchor_is_an_error():
    with pytest.raises(ValueError, match='has no "JPEGImages/" folder'):
        map_image_path("/somewhere/else/x.jpg", "JPEGImages", "/local")


@pytest.mark.parametrize("name", GZSL_DATASETS)
def test_joint_label_space_and_modes(root, name, build, as_triples):
    fake = make_fake_dataset(name, root, num_classes=7, counts=(4, 1, 2))
    seen, unseen = fake.extra["seen"], fake.extra["unseen"]
    assert len(seen) == 5 and len(unseen) == 2
    assert any("//" in p for p in fake.extra["foreign_paths"]) == (name == "GZSL_AWA2")

    ds = build(root, name, subsample="all")
    assert ds.template == CUSTOM_TEMPLATES[name]
    assert ds.seen_classnames == seen == ds.base_classnames
    assert ds.unseen_classnames == unseen == ds.new_classnames
    assert ds.all_classnames == seen + unseen == ds.classnames and ds.num_classes == 7
    assert as_triples(ds.test_seen, fake.image_dir) == fake.splits["test_seen"]
    assert as_triples(ds.test_unseen, fake.image_dir) == fake.splits["test_unseen"]
    assert {x.label for x in ds.test_seen} == set(range(5)) and {x.label for x in ds.test_unseen} == {5, 6}
    assert as_triples(ds.test, fake.image_dir) == fake.splits["test_seen"] + fake.splits["test_unseen"]
    pools = as_triples(ds.train_x, fake.image_dir) + as_triples(ds.val, fake.image_dir)
    assert sorted(pools) == sorted(fake.splits["trainval"])  # no shots: train + val pools = trainval
    assert {x.label for x in ds.train_x} == {x.label for x in ds.val} == set(range(5))

    base = build(root, name, subsample="base")
    assert base.classnames == seen and base.num_classes == 5
    assert as_triples(base.test, fake.image_dir) == fake.splits["test_seen"]

    new = build(root, name, subsample="new")
    assert new.classnames == unseen and new.num_classes == 2
    assert as_triples(new.test, fake.image_dir) == [(r, lab - 5, n) for r, lab, n in fake.splits["test_unseen"]]
    assert new.lab2cname == {0: unseen[0], 1: unseen[1]}
    assert as_triples(new.test_unseen, fake.image_dir) == fake.splits["test_unseen"]  # joint labels kept
    # train_x never holds test images: only the seen training pool, in every mode
    assert as_triples(new.train_x, fake.image_dir) == as_triples(ds.train_x, fake.image_dir)


def test_val_pool_rule_is_fixed_and_independent_of_the_seed(root, build, as_triples):
    fake = make_fake_dataset("GZSL_CUB", root, num_classes=5, counts=(8, 2, 1))  # 10 trainval per seen class
    a = build(root, "GZSL_CUB", seed=1)
    b = build(root, "GZSL_CUB", seed=2)
    assert as_triples(a.val, fake.image_dir) == as_triples(b.val, fake.image_dir)
    per_class = {}
    for x in a.val:
        per_class[x.label] = per_class.get(x.label, 0) + 1
    assert per_class == {label: round(10 * VAL_FRACTION) for label in range(3)}
    assert not set(as_triples(a.val, fake.image_dir)) & set(as_triples(a.train_x, fake.image_dir))


def test_holdout_keeps_single_image_classes_in_train(tmp_path):
    from shipclip_testing.fake_datasets import write_image
    from shipclip.datasets.layout import make_datum

    items = []
    for label, count in ((0, 1), (1, 2), (2, 7)):
        for j in range(count):
            path = str(tmp_path / f"{label}_{j}.jpg")
            write_image(path, label)
            items.append(make_datum(path, label, str(label)))
    train, val = holdout_split(items, str(tmp_path))
    assert sorted(x.label for x in val) == [1, 2]  # 1 -> none held out, 2 -> 1, 7 -> round(1.4) = 1
    assert len(train) + len(val) == len(items)
    assert [x.impath for x in train] == [x.impath for x in items if x not in val]  # order kept


def test_missing_split_file_names_path_and_docs(root, build):
    fake = make_fake_dataset("GZSL_SUN", root, num_classes=4)
    os.remove(os.path.join(fake.extra["split_dir"], "att_splits.mat"))
    with pytest.raises(DatasetLayoutError, match=r'att_splits\.mat.*DATASETS\.md, section "GZSL_SUN"'):
        build(root, "GZSL_SUN")


def test_missing_image_names_the_file(root, build):
    fake = make_fake_dataset("GZSL_AWA2", root, num_classes=4)
    rel = fake.splits["test_unseen"][0][0]
    os.remove(os.path.join(fake.image_dir, rel))
    with pytest.raises(DatasetLayoutError, match=r"Image not found: .*" + os.path.basename(rel) + ".*res101.mat"):
        build(root, "GZSL_AWA2")


@pytest.mark.parametrize("mode, num_classes", [("all", 5), ("base", 3), ("new", 2)])
def test_data_manager_uses_the_label_space_of_test(root, mode, num_classes, make_cfg, register):
    from shipclip.backend import DataManager

    fake = make_fake_dataset("GZSL_CUB", root, num_classes=5, counts=(2, 1, 1))
    register("GZSL_CUB")
    cfg = make_cfg(root, "GZSL_CUB", num_shots=1, seed=1, subsample=mode)
    cfg.INPUT.SIZE = (8, 8)
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.USE_CUDA = False
    dm = DataManager(cfg)
    expected = {"all": fake.classnames, "base": fake.extra["seen"], "new": fake.extra["unseen"]}[mode]
    assert dm.num_classes == num_classes and dm.lab2cname == dict(enumerate(expected))
    labels = [int(label) for batch in dm.test_loader for label in batch["label"]]
    assert sorted(set(labels)) == list(range(num_classes))
