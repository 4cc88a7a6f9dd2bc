"""Few-shot sets: CoOp's picks per seed, and the portable JSON cache."""
import glob
import json
import os
import random
import shutil

import pytest

from shipclip.datasets import COOP_DATASETS, GZSL_DATASETS
from shipclip_testing.fake_datasets import make_fake_dataset
from shipclip.datasets.fewshot import CACHE_FORMAT


def cache_files(ds):
    return sorted(glob.glob(os.path.join(ds.split_fewshot_dir, "*")))


@pytest.mark.parametrize("name", [n for n in COOP_DATASETS if n != "ImageNet"])
@pytest.mark.parametrize("shots", [2, 4])
def test_picks_equal_coop_reference(root, name, shots, build, as_triples, coop_fewshot):
    fake = make_fake_dataset(name, root, num_classes=4, counts=(6, 5, 2))
    ref_train, ref_val = coop_fewshot(fake.splits["train"], fake.splits["val"], shots, seed=3)
    ds = build(root, name, num_shots=shots, seed=3)
    assert as_triples(ds.train_x, fake.image_dir) == ref_train
    assert as_triples(ds.val, fake.image_dir) == ref_val
    assert as_triples(ds.test, fake.image_dir) == fake.splits["test"]  # test is never sampled
    assert len(ds.train_x) == 4 * shots and len(ds.val) == 4 * min(shots, 4)


def test_imagenet_train_picks_equal_coop_reference(root, build, as_triples, coop_fewshot):
    """ImageNet's K-shot train is CoOp's draw (val comes from a private generator: see test_datasets_imagenet_val.py)."""
    fake = make_fake_dataset("ImageNet", root, num_classes=4, counts=(5, 0, 2))
    ref_train, _ = coop_fewshot(fake.splits["train"], None, 2, seed=7)
    ds = build(root, "ImageNet", num_shots=2, seed=7)
    assert as_triples(ds.train_x, fake.image_dir) == ref_train
    assert as_triples(ds.test, fake.image_dir) == fake.splits["test"]


def test_same_seed_same_picks_other_seed_other_picks(tmp_path, build, as_triples):
    picks = {}
    for run, seed in (("a", 1), ("b", 1), ("c", 2)):  # separate roots: no cache is shared
        fake = make_fake_dataset("DescribableTextures", tmp_path / run, num_classes=5, counts=(8, 4, 2))
        ds = build(tmp_path / run, "DescribableTextures", num_shots=2, seed=seed)
        picks[run] = as_triples(ds.train_x, fake.image_dir) + as_triples(ds.val, fake.image_dir)
    assert picks["a"] == picks["b"]
    assert picks["a"] != picks["c"]


def test_cache_round_trip_draws_nothing(root, build, as_triples):
    fake = make_fake_dataset("OxfordPets", root, num_classes=3)
    first = build(root, "OxfordPets", num_shots=2, seed=5)
    (path,) = cache_files(first)
    assert os.path.basename(path).startswith("shipclip_shot_2-seed_5-split_") and path.endswith(".json")
    assert not glob.glob(os.path.join(first.split_fewshot_dir, "*.pkl"))  # never CoOp's pickle name
    with open(path) as f:
        data = json.load(f)
    assert data["format"] == CACHE_FORMAT and data["num_shots"] == 2 and data["seed"] == 5
    assert [tuple(t) for t in data["train"]] == as_triples(first.train_x, fake.image_dir)  # relative paths
    assert not any(os.path.isabs(t[0]) for t in data["train"] + data["val"])

    random.seed(123)
    state = random.getstate()
    second = build(root, "OxfordPets", num_shots=2, seed=5, reseed=False)
    assert random.getstate() == state  # loading the cache consumes no random numbers (as in CoOp)
    assert as_triples(second.train_x, fake.image_dir) == as_triples(first.train_x, fake.image_dir)
    assert as_triples(second.val, fake.image_dir) == as_triples(first.val, fake.image_dir)


def test_cache_survives_moving_the_data_root(tmp_path, build, as_triples):
    fake = make_fake_dataset("EuroSAT", tmp_path / "old", num_classes=3)
    first = as_triples(build(tmp_path / "old", "EuroSAT", num_shots=2, seed=1).train_x, fake.image_dir)
    shutil.move(str(tmp_path / "old"), str(tmp_path / "new"))
    random.seed(99)
    state = random.getstate()
    moved = build(tmp_path / "new", "EuroSAT", num_shots=2, seed=1, reseed=False)
    assert random.getstate() == state  # read from the moved cache, not drawn again
    assert moved.train_x[0].impath.startswith(str(tmp_path / "new"))
    assert as_triples(moved.train_x, moved.image_dir) == first


def test_changed_split_means_new_cache(root, build, as_triples, coop_fewshot):
    fake = make_fake_dataset("Food101", root, num_classes=3)
    first = build(root, "Food101", num_shots=2, seed=1)
    old_cache = cache_files(first)
    with open(fake.split_file) as f:
        split = json.load(f)
    split["train"] = split["train"][1:]  # an edited split file
    with open(fake.split_file, "w") as f:
        json.dump(split, f)
    second = build(root, "Food101", num_shots=2, seed=1)
    new_cache = [p for p in cache_files(second) if p not in old_cache]
    assert len(new_cache) == 1 and len(cache_files(second)) == 2
    ref_train, ref_val = coop_fewshot([tuple(t) for t in split["train"]], [tuple(t) for t in split["val"]], 2, 1)
    assert as_triples(second.train_x, fake.image_dir) == ref_train
    assert as_triples(second.val, fake.image_dir) == ref_val


def test_unseeded_run_is_not_cached_but_seed_zero_is(root, build):
    make_fake_dataset("Caltech101", root, num_classes=3)
    ds = build(root, "Caltech101", num_shots=2, seed=-1)
    assert len(ds.train_x) == 6 and cache_files(ds) == []
    ds = build(root, "Caltech101", num_shots=2, seed=0)
    names = [os.path.basename(p) for p in cache_files(ds)]
    assert len(names) == 1 and names[0].startswith("shipclip_shot_2-seed_0-split_")


def test_no_shots_keeps_full_lists_and_writes_nothing(root, build):
    fake = make_fake_dataset("SUN397", root, num_classes=3)
    ds = build(root, "SUN397", num_shots=0, seed=1)
    assert len(ds.train_x) == len(fake.splits["train"]) and len(ds.val) == len(fake.splits["val"])
    assert not os.path.exists(ds.split_fewshot_dir)


def test_short_classes_are_reported_and_kept_whole(root, build, as_triples, capsys):
    fake = make_fake_dataset("OxfordPets", root, num_classes=3, counts=(6, 3, 1))
    ds = build(root, "OxfordPets", num_shots=8, seed=1)
    out = capsys.readouterr().out
    assert "Few-shot train: 3 of 3 classes have fewer than 8 images; all their images are used" in out
    assert "abyssinian (6)" in out
    assert "Few-shot val: 3 of 3 classes have fewer than 4 images" in out
    assert sorted(as_triples(ds.train_x, fake.image_dir)) == sorted(fake.splits["train"])
    assert sorted(as_triples(ds.val, fake.image_dir)) == sorted(fake.splits["val"])


def test_unreadable_cache_is_replaced(root, build, as_triples, coop_fewshot, capsys):
    fake = make_fake_dataset("UCF101", root, num_classes=3)
    (path,) = cache_files(build(root, "UCF101", num_shots=2, seed=4))
    with open(path, "w") as f:
        f.write("{ not json")
    ds = build(root, "UCF101", num_shots=2, seed=4)
    assert "Ignoring unreadable few-shot cache" in capsys.readouterr().out
    assert as_triples(ds.train_x, fake.image_dir) == coop_fewshot(fake.splits["train"], fake.splits["val"], 2, 4)[0]
    with open(path) as f:
        assert json.load(f)["format"] == CACHE_FORMAT


def test_unwritable_cache_folder_costs_only_the_cache(root, build, capsys):
    fake = make_fake_dataset("OxfordFlowers", root, num_classes=3)
    with open(os.path.join(fake.dataset_dir, "split_fewshot"), "w") as f:  # a file where the folder should be
        f.write("")
    ds = build(root, "OxfordFlowers", num_shots=2, seed=1)
    assert "Could not write the few-shot cache" in capsys.readouterr().out
    assert len(ds.train_x) == 6


def test_missing_cached_image_is_named(root, build):
    make_fake_dataset("StanfordCars", root, num_classes=3)
    ds = build(root, "StanfordCars", num_shots=2, seed=1)
    victim = ds.train_x[0].impath
    os.remove(victim)
    with pytest.raises(FileNotFoundError, match=r"Image not found: .*" + os.path.basename(victim)):
        build(root, "StanfordCars", num_shots=2, seed=1)


@pytest.mark.parametrize("name", GZSL_DATASETS)
def test_gzsl_uses_the_same_mechanism(root, name, build, as_triples):
    fake = make_fake_dataset(name, root, num_classes=5, counts=(6, 2, 2))
    ds = build(root, name, num_shots=3, seed=2)
    again = build(root, name, num_shots=3, seed=2)
    other = build(root, name, num_shots=3, seed=9)
    assert len(cache_files(ds)) == 2  # seeds 2 and 9
    assert as_triples(ds.train_x, fake.image_dir) == as_triples(again.train_x, fake.image_dir)
    assert as_triples(ds.train_x, fake.image_dir) != as_triples(other.train_x, fake.image_dir)
    assert len(ds.train_x) == 3 * 3 and len(ds.val) == 3 * 2  # val pool has round(0.2 * 8) = 2 per class
