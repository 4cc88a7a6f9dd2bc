"""One data path: with the feature cache, stage 1 and the Tip-Adapter cache read cached views and the image
tower sees every image view exactly once, in the run that builds the cache; a second run sees none.

Image-tower passes are counted at the tower itself (``ImageEncoder.forward``), independently of the
data path's own bookkeeping.
"""
import pytest
import torch

from shipclip.clip.image import ImageEncoder
from shipclip_testing.runs import run_main

VIEWS = 2
SHIP_SMALL = ["TRAINER.SHIP.ENC_HIDDEN", "32", "TRAINER.SHIP.LATENT_DIM", "8", "TRAINER.SHIP.GEN_HIDDEN", "32",
              "TRAINER.SHIP.EPOCHS", "2", "TRAINER.SHIP.BATCH_SIZE", "8", "TRAINER.SHIP.N_CTX", "2",
              "TRAINER.SHIP.SYN_PER_CLASS", "2", "TRAINER.COOP.N_CTX", "2", "TRAINER.TIP.SEARCH_STEP", "[3, 3]"]


def register_ship():
    from shipclip.backend import TRAINER_REGISTRY
    from shipclip.registration import TRAINERS, resolve

    for name, target in TRAINERS.items():
        if name.startswith("SHIP_") and name not in TRAINER_REGISTRY.registered_names():
            TRAINER_REGISTRY.register(resolve(target))


@pytest.fixture
def counted_images(monkeypatch):
    """The number of images the frozen image tower has encoded since the fixture started."""
    seen = {"images": 0}
    forward = ImageEncoder.forward

    def counting_forward(self, images):
        seen["images"] += int(images.shape[0])
        return forward(self, images)

    monkeypatch.setattr(ImageEncoder, "forward", counting_forward)
    return seen


@pytest.mark.parametrize("trainer", ["SHIP_CoOp", "SHIP_TipAdapter", "SHIP_TipAdapterF"])
def test_stage1_and_tip_cache_read_cached_views(trainer, color_root, tmp_path, counted_images):
    register_ship()
    opts = SHIP_SMALL + ["DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "1",
                         "FEATURES.CACHE", "True", "FEATURES.DIR", str(tmp_path / "features"),
                         "FEATURES.TRAIN_VIEWS", str(VIEWS), "TRAINER.SHIP.GEN_VIEWS", str(VIEWS),
                         "TRAINER.TIP.AUGMENT_EPOCH", str(VIEWS)]
    first = run_main(trainer, color_root, tmp_path / "first", opts=opts)
    dataset = first.dm.dataset
    # The first run encodes each training image VIEWS times, each val and test image once, nothing more:
    # stage 1 and the Tip cache took their views from the same cache entry as the training loader.
    expected = VIEWS * len(dataset.train_x) + len(dataset.val) + len(dataset.test)
    assert counted_images["images"] == expected
    assert first.data.image_passes == expected
    counted_images["images"] = 0
    second = run_main(trainer, color_root, tmp_path / "second", opts=opts)
    assert counted_images["images"] == 0 and second.data.image_passes == 0
    assert second.generator is not None and len(second.label_only_classnames()) == 3


def test_without_the_cache_views_are_encoded_once_per_run(color_root, tmp_path, counted_images):
    register_ship()
    opts = SHIP_SMALL + ["DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "1", "TRAINER.SHIP.GEN_VIEWS", "3",
                         "TRAINER.TIP.AUGMENT_EPOCH", "3"]
    t = run_main("SHIP_TipAdapter", color_root, tmp_path / "run", opts=opts)
    dataset = t.dm.dataset
    # Stage 1 and the Tip cache share the 3 encoded views; val once (search); test once (evaluation).
    assert counted_images["images"] == 3 * len(dataset.train_x) + len(dataset.val) + len(dataset.test)


def test_online_stage1_encodes_a_fresh_augmentation_per_step(color_root, tmp_path, counted_images):
    register_ship()
    epochs, batch = 2, 8
    opts = SHIP_SMALL + ["DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SHIP.GEN_VIEWS", "0",
                         "TRAINER.SHIP.EPOCHS", str(epochs), "TRAINER.SHIP.BATCH_SIZE", str(batch)]
    t = run_main("SHIP_CoOp", color_root, tmp_path / "run", opts=opts, no_train=True)
    t.prepare_generator()
    n = len(t.dm.dataset.train_x)
    stage1 = counted_images["images"] - 0
    # epochs x every image re-encoded (the generator's holdout uses the val split, encoded once).
    assert stage1 == epochs * n + len(t.dm.dataset.val)


def test_cached_training_batches_say_they_hold_features(color_root, tmp_path):
    t = run_main("CoOp", color_root, tmp_path / "run", no_train=True,
                 opts=["FEATURES.CACHE", "True", "FEATURES.DIR", str(tmp_path / "features"),
                       "FEATURES.TRAIN_VIEWS", "2", "TRAINER.COOP.N_CTX", "2"])
    batch = next(iter(t.train_loader_x))
    assert "img" not in batch and batch["feature"].shape[1] == t.dim("embed_dim")
    cached = t.data.views("train", 2)
    rows = torch.stack([cached[t.train_loader_x.dataset.view_of[i], i] for i in batch["index"].tolist()])
    assert torch.equal(batch["feature"], rows)  # each item is one of its cached views
