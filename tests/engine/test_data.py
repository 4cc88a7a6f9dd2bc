"""Built-in engine data layer: transforms, samplers, loaders, DatasetWrapper and DataManager."""
import types

import numpy as np
import pytest
import torch
from PIL import Image

from shipclip.engine.data import (DATASET_REGISTRY, DataManager, DatasetWrapper, Datum, build_data_loader,
                                  build_dataset, build_sampler, build_transform)
from shipclip.engine.data.samplers import RandomSampler, SequentialSampler
from shipclip.engine.data.transforms import AVAI_CHOICES

NO_VAL_DATASET = "ShipTestImagesNoVal"


def _stripes(height=8, width=24):
    """Left third red, middle third green, right third blue."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    third = width // 3
    pixels[:, :third, 0] = 255
    pixels[:, third:2 * third, 1] = 255
    pixels[:, 2 * third:, 2] = 255
    return Image.fromarray(pixels)


def _items(tiny_data_root, split="train"):
    from shipclip.engine.utils import read_json

    folder = tiny_data_root / "ship_test_images"
    rows = read_json(str(folder / "split_ship_test_images.json"))[split]
    return [Datum(str(folder / "images" / rel), label, classname=name) for rel, label, name in rows]


# ------------------------------------------------------------------------------------------ transforms
@pytest.mark.parametrize("choices", [
    ["random_resized_crop", "random_flip", "normalize"],
    ["random_crop", "normalize"],
    ["random_translation", "colorjitter", "randomgrayscale", "gaussian_blur", "gaussian_noise"],
    ["center_crop", "cutout", "instance_norm"],
    [],
])
def test_train_transforms_give_input_size(tiny_cfg, choices):
    tiny_cfg.INPUT.SIZE = (8, 6)
    tiny_cfg.INPUT.GB_K = 3
    tiny_cfg.INPUT.CUTOUT_LEN = 2
    tfm = build_transform(tiny_cfg, is_train=True, choices=choices)
    for img in (_stripes(10, 30), _stripes(30, 12)):
        assert tfm(img).shape == (3, 8, 6)


def test_test_transform_keeps_aspect_and_center_crops(tiny_cfg):
    tiny_cfg.INPUT.SIZE = (8, 8)
    out = build_transform(tiny_cfg, is_train=False, choices=[])(_stripes(8, 24))
    assert out.shape == (3, 8, 8)
    assert torch.allclose(out[1], torch.ones(8, 8)) and out[0].max() == 0 and out[2].max() == 0

    squashed = build_transform(tiny_cfg, is_train=True, choices=[])(_stripes(8, 24))
    assert squashed.shape == (3, 8, 8)
    assert squashed[0].max() > 0.9 and squashed[2].max() > 0.9  # plain resize keeps all three stripes

    cropped = build_transform(tiny_cfg, is_train=True, choices=["center_crop"])(_stripes(8, 24))
    assert torch.equal(cropped, out)


def test_normalize_and_instance_norm_values(tiny_cfg):
    tiny_cfg.INPUT.SIZE = (4, 4)
    img = Image.new("RGB", (4, 4), (255, 0, 51))
    out = build_transform(tiny_cfg, is_train=False, choices=["normalize"])(img)
    mean = torch.tensor(tiny_cfg.INPUT.PIXEL_MEAN).view(3, 1, 1)
    std = torch.tensor(tiny_cfg.INPUT.PIXEL_STD).view(3, 1, 1)
    expected = (torch.tensor([1.0, 0.0, 0.2]).view(3, 1, 1) - mean) / std
    torch.testing.assert_close(out, expected.expand(3, 4, 4))

    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (6, 6, 3), dtype=np.uint8))
    tiny_cfg.INPUT.SIZE = (6, 6)
    inorm = build_transform(tiny_cfg, is_train=False, choices=["instance_norm"])(noisy)
    torch.testing.assert_close(inorm.mean(dim=(1, 2)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(inorm.reshape(3, -1).std(dim=1), torch.ones(3), atol=1e-4, rtol=0)


def test_random_resized_crop_uses_scale_and_interpolation(tiny_cfg, capsys):
    tiny_cfg.INPUT.RRCROP_SCALE = (0.5, 0.5)
    tiny_cfg.INPUT.INTERPOLATION = "bicubic"
    tfm = build_transform(tiny_cfg, is_train=True, choices=["random_resized_crop", "random_flip"])
    rrc = tfm.transforms[0]
    assert rrc.scale == (0.5, 0.5) and rrc.interpolation.value == "bicubic"
    out = capsys.readouterr().out
    assert "Building transform_train" in out
    assert "+ random resized crop (size=(8, 8), scale=(0.5, 0.5))" in out
    assert "+ random flip" in out and "+ to torch tensor of range [0, 1]" in out
    assert "+ resize to" not in out  # no resize before a random crop

    build_transform(tiny_cfg, is_train=False)
    out = capsys.readouterr().out
    assert "Building transform_test" in out and "+ resize the smaller edge to 8" in out
    assert "+ 8x8 center crop" in out


def test_transform_errors_name_the_choices(tiny_cfg):
    with pytest.raises(ValueError, match="random_fllip") as info:
        build_transform(tiny_cfg, choices=["random_fllip"])
    for name in ("random_flip", "random_resized_crop", "normalize"):
        assert name in str(info.value)
    tiny_cfg.INPUT.INTERPOLATION = "lanczos"
    with pytest.raises(ValueError, match="bicubic"):
        build_transform(tiny_cfg)


def test_no_transform_returns_none(tiny_cfg):
    tiny_cfg.INPUT.NO_TRANSFORM = True
    assert build_transform(tiny_cfg, is_train=True) is None
    assert set(["normalize", "random_flip", "gaussian_blur"]) <= set(AVAI_CHOICES)


# -------------------------------------------------------------------------------------------- samplers
def test_random_sampler_order_is_a_function_of_seed_and_epoch():
    data = list(range(50))
    torch.manual_seed(3)
    first = RandomSampler(data)
    torch.manual_seed(3)
    second = RandomSampler(data)
    torch.rand(100)  # randomness consumed elsewhere must not change the order

    first.set_epoch(4)
    second.set_epoch(4)
    order = list(first)
    assert sorted(order) == data
    assert order == list(second)
    second.set_epoch(5)
    assert list(second) != order
    # Without set_epoch the next pass moves on to the next epoch.
    first.set_epoch(4)
    assert list(first) == order and list(first) != order


def test_build_sampler_choices():
    data = list(range(5))
    assert isinstance(build_sampler("RandomSampler", data_source=data), RandomSampler)
    sequential = build_sampler("SequentialSampler", data_source=data)
    assert isinstance(sequential, SequentialSampler) and list(sequential) == data
    with pytest.raises(ValueError, match="RandomSampler, SequentialSampler"):
        build_sampler("RandomDomainSampler", data_source=data)


# --------------------------------------------------------------------------------------------- loaders
@pytest.mark.parametrize("n_items,batch_size,is_train,expected_batches,last_size", [
    (18, 4, True, 4, 4),   # drop_last: 18 >= 4
    (3, 4, True, 1, 3),    # fewer items than a batch: keep them
    (18, 4, False, 5, 2),  # evaluation never drops
])
def test_drop_last_rule(tiny_cfg, tiny_data_root, n_items, batch_size, is_train, expected_batches, last_size):
    items = _items(tiny_data_root)[:n_items]
    tfm = build_transform(tiny_cfg, is_train=False)
    loader = build_data_loader(tiny_cfg, "SequentialSampler", items, batch_size=batch_size, tfm=tfm,
                               is_train=is_train)
    batches = list(loader)
    assert len(loader) == len(batches) == expected_batches
    assert batches[-1]["img"].shape == (last_size, 3, 8, 8)
    assert loader.drop_last == (is_train and n_items >= batch_size)


def test_empty_loader_is_refused(tiny_cfg):
    with pytest.raises(AssertionError, match="empty"):
        build_data_loader(tiny_cfg, "RandomSampler", [], batch_size=4, is_train=True)


def test_dataset_wrapper_items(tiny_cfg, tiny_data_root):
    items = _items(tiny_data_root)
    tfm = build_transform(tiny_cfg, is_train=True)
    out = DatasetWrapper(tiny_cfg, items, transform=tfm, is_train=True)[7]
    assert set(out) == {"img", "label", "domain", "impath", "index"}
    assert (out["label"], out["domain"], out["impath"], out["index"]) == (items[7].label, 0, items[7].impath, 7)
    assert out["img"].shape == (3, 8, 8)

    tiny_cfg.DATALOADER.K_TRANSFORMS = 3
    tiny_cfg.DATALOADER.RETURN_IMG0 = True
    views = DatasetWrapper(tiny_cfg, items, transform=[tfm, tfm], is_train=True)[0]
    assert isinstance(views["img"], list) and len(views["img"]) == 3 and len(views["img2"]) == 3
    assert views["img0"].shape == (3, 8, 8)
    assert not isinstance(DatasetWrapper(tiny_cfg, items, transform=tfm, is_train=False)[0]["img"], list)
    with pytest.raises(ValueError, match="K_TRANSFORMS"):
        DatasetWrapper(tiny_cfg, items, transform=None, is_train=True)


def test_dataset_wrapper_missing_image(tiny_cfg, tmp_path):
    missing = Datum(str(tmp_path / "gone.png"), 0, check_exists=False)
    wrapper = DatasetWrapper(tiny_cfg, [missing], transform=build_transform(tiny_cfg, is_train=False))
    with pytest.raises(FileNotFoundError, match="gone.png"):
        wrapper[0]


# ---------------------------------------------------------------------------------------- DataManager
def test_data_manager_counts(tiny_cfg, builtin_components, capsys):
    dm = DataManager(tiny_cfg)
    assert dm.num_classes == 3 and dm.num_source_domains == 0
    assert dm.lab2cname == {0: "red", 1: "green", 2: "blue"}
    assert isinstance(dm.dataset, builtin_components.dataset)
    assert len(dm.dataset.train_x) == 18 and len(dm.dataset.val) == 6 and len(dm.dataset.test) == 9
    assert len(dm.train_loader_x) == 4 and len(dm.val_loader) == 2 and len(dm.test_loader) == 2
    assert dm.train_loader_u is None
    assert isinstance(dm.train_loader_x.sampler, RandomSampler)
    assert isinstance(dm.test_loader.sampler, SequentialSampler)
    out = capsys.readouterr().out
    assert "Loading dataset: ShipTestImages" in out
    for row in ("Dataset", "# classes", "# train_x", "# val", "# test"):
        assert row in out
    assert "# train_u" not in out


def test_data_manager_without_val_and_custom_transforms(tiny_cfg, builtin_components, capsys):
    class NoVal(builtin_components.dataset):
        def __init__(self, cfg):
            super().__init__(cfg)
            self._val = None

    NoVal.__name__ = NO_VAL_DATASET
    DATASET_REGISTRY.register(NoVal, force=True)
    tiny_cfg.DATASET.NAME = NO_VAL_DATASET
    sentinel = build_transform(tiny_cfg, is_train=False, choices=[])
    dm = DataManager(tiny_cfg, custom_tfm_train=sentinel, custom_tfm_test=sentinel)
    assert dm.val_loader is None
    assert dm.train_loader_x.dataset.transform is sentinel and dm.test_loader.dataset.transform is sentinel
    out = capsys.readouterr().out
    assert "* Using custom transform for training" in out and "# val" not in out


def test_summary_uses_thousands_separators(tiny_cfg, capsys):
    dm = DataManager.__new__(DataManager)
    dm._dataset = types.SimpleNamespace(train_x=[0] * 1234, train_u=[0] * 5, val=[], test=[0] * 20000)
    dm._num_classes = 1000
    tiny_cfg.DATASET.SOURCE_DOMAINS = ["photo"]
    dm.show_dataset_summary(tiny_cfg)
    out = capsys.readouterr().out
    assert "1,000" in out and "1,234" in out and "20,000" in out and "# train_u" in out and "photo" in out


def test_build_dataset_unknown_name(tiny_cfg, builtin_components):
    tiny_cfg.DATASET.NAME = "ShipTestImage"
    with pytest.raises(ValueError, match="ShipTestImages"):
        build_dataset(tiny_cfg)
