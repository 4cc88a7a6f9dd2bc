"""The released-recipe configs do what the released scripts do: values, steps per epoch, per-iteration cosine.

Every expected value here is read off the released code (mrflogs/SHIP at 492854e, ``main_coop_vae.py``,
``main_imagenet_coop_vae.py``, ``datasets/utils.py``; see docs/RELEASED_RECIPE.md for the lines) or
computed with torch's own ``DataLoader``/``CosineAnnealingLR`` exactly as those scripts build them.
"""
import math
import os
from types import SimpleNamespace

import pytest
import torch

from shipclip_testing.runs import REPO, run_main

RELEASED = "configs/trainers/SHIP_CoOp/vit_b16_released.yaml"
RELEASED_IMAGENET = "configs/trainers/SHIP_CoOp/vit_b16_released_imagenet.yaml"
SHOTS, RELEASED_BATCH = 16, 256  # coop-configs/*.yaml "shots: 16"; build_data_loader(batch_size=256) in both scripts
CLASS_COUNTS = {"ImageNet": 1000, "Caltech101": 100, "OxfordPets": 37, "StanfordCars": 196, "OxfordFlowers": 102,
                "Food101": 101, "FGVCAircraft": 100, "SUN397": 397, "DescribableTextures": 47, "EuroSAT": 10,
                "UCF101": 101}


def merged_cfg(path):
    from shipclip.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO, path))
    cfg.DATALOADER.NUM_WORKERS = 0
    return cfg


def base_training_items(num_classes):
    """The 16-shot training list of a base-to-new run: 16 items for each of the first ceil(n / 2) classes."""
    n_base = math.ceil(num_classes / 2)
    return [SimpleNamespace(impath=f"/nowhere/{label}_{shot}.jpg", label=label, domain=0, classname=f"class {label}")
            for label in range(n_base) for shot in range(SHOTS)]


def released_steps_per_epoch(n_items):
    """What the released training loader yields per epoch: torch's DataLoader, batch 256, shuffle, drop_last=False."""
    loader = torch.utils.data.DataLoader(range(n_items), batch_size=RELEASED_BATCH, shuffle=True, drop_last=False)
    return sum(1 for _ in loader)


def our_steps_per_epoch(cfg, items):
    from shipclip.data import DataPath

    return len(DataPath(cfg, SimpleNamespace(train_x=items, val=[], test=[])).train_loader())


@pytest.mark.parametrize("config", [RELEASED, RELEASED_IMAGENET])
@pytest.mark.parametrize("dataset", sorted(CLASS_COUNTS))
def test_stage2_steps_per_epoch_equal_the_released_loader(config, dataset):
    items = base_training_items(CLASS_COUNTS[dataset])
    expected = released_steps_per_epoch(len(items))
    assert expected == math.ceil(len(items) / RELEASED_BATCH)
    assert our_steps_per_epoch(merged_cfg(config), items) == expected, dataset


def test_the_steps_the_issue_names():
    """OxfordPets and DTD make 2 steps per epoch, Caltech/Flowers/Food/FGVC/UCF 4, Cars 7, SUN 13, EuroSAT 1, ImageNet 32."""
    cfg = merged_cfg(RELEASED)
    steps = {name: our_steps_per_epoch(cfg, base_training_items(n)) for name, n in CLASS_COUNTS.items()}
    assert steps == {"ImageNet": 32, "Caltech101": 4, "OxfordPets": 2, "StanfordCars": 7, "OxfordFlowers": 4,
                     "Food101": 4, "FGVCAircraft": 4, "SUN397": 13, "DescribableTextures": 2, "EuroSAT": 1,
                     "UCF101": 4}


def test_without_keep_last_the_last_partial_batch_is_dropped_as_in_dassl():
    cfg = merged_cfg(RELEASED)
    cfg.DATALOADER.TRAIN_X.KEEP_LAST = False
    for name in ("OxfordPets", "DescribableTextures", "SUN397", "EuroSAT"):
        items = base_training_items(CLASS_COUNTS[name])
        dassl = torch.utils.data.DataLoader(range(len(items)), batch_size=RELEASED_BATCH,
                                            drop_last=len(items) >= RELEASED_BATCH)
        assert our_steps_per_epoch(cfg, items) == len(dassl), name


def test_released_configs_hold_the_released_hyperparameters():
    cfg = merged_cfg(RELEASED)
    ship, optim = cfg.TRAINER.SHIP, cfg.OPTIM
    # main_coop_vae.py: Encoder 512->2048 ReLU, Generator 512->4096 ReLU ->512, 4 ctx, AdamW 1e-3, 50 epochs, batch 256
    assert (ship.ENC_HIDDEN, ship.LATENT_DIM, ship.GEN_HIDDEN, ship.ACTIVATION) == (2048, 512, 4096, "relu")
    assert (ship.N_CTX, ship.LAMBDA_KL, ship.EPOCHS, ship.LR, ship.BATCH_SIZE) == (4, 1.0, 50, 1e-3, 256)
    assert ship.PREC == "fp32" and ship.SYN_RATIO == 1.0 and ship.GEN_VIEWS in (0, ship.EPOCHS)
    # run_coop: SGD(lr=2e-3) (no momentum, no weight decay), CosineAnnealingLR over all iterations, 200 epochs
    assert (optim.NAME, optim.LR, optim.MOMENTUM, optim.WEIGHT_DECAY, optim.MAX_EPOCH) == ("sgd", 0.002, 0.0, 0.0, 200)
    assert (optim.LR_SCHEDULER, optim.LR_STEP_UNIT, optim.WARMUP_EPOCH <= 0) == ("cosine", "iter", True)
    assert cfg.TRAINER.COOP.CTX_INIT == "a photo of a" and cfg.TRAINER.COOP.PREC == "fp32"
    assert cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 256 and cfg.DATALOADER.TRAIN_X.KEEP_LAST
    assert tuple(cfg.INPUT.RRCROP_SCALE) == (0.5, 1.0) and "random_flip" in cfg.INPUT.TRANSFORMS  # train_tranform

    cfg = merged_cfg(RELEASED_IMAGENET)
    ship, optim = cfg.TRAINER.SHIP, cfg.OPTIM
    # main_imagenet_coop_vae.py: Encoder 512->4096 ReLU, Generator 512->4096 LeakyReLU(0.2), 10 generator epochs
    assert (ship.ENC_HIDDEN, ship.GEN_HIDDEN, ship.ACTIVATION, ship.EPOCHS) == (4096, 4096, "leaky_relu", 10)
    assert (ship.LR, ship.BATCH_SIZE, ship.PREC) == (1e-3, 256, "fp32") and ship.GEN_VIEWS in (0, ship.EPOCHS)
    # run_coop: AdamW(lr=1e-3, eps=1e-4) (torch's default weight decay 0.01), per-iteration cosine, 20 epochs
    assert (optim.NAME, optim.LR, optim.ADAM_EPS, optim.WEIGHT_DECAY, optim.MAX_EPOCH) == ("adamw", 1e-3, 1e-4, 0.01, 20)
    assert (optim.LR_SCHEDULER, optim.LR_STEP_UNIT, optim.WARMUP_EPOCH <= 0) == ("cosine", "iter", True)
    assert cfg.TRAINER.COOP.CTX_INIT == "a photo of a" and cfg.DATALOADER.TRAIN_X.KEEP_LAST
    assert tuple(cfg.INPUT.RRCROP_SCALE) == (0.08, 1.0)  # the released ImageNet class's own train transform


def test_released_config_steps_its_cosine_every_iteration_over_kept_last_batches(color_root, tmp_path, monkeypatch):
    """Through the trainer: per-step batch sizes and learning rates equal the released loop's on the same set."""
    from shipclip.trainers.base import ClipTrainer

    seen = []
    original = ClipTrainer.compute_loss

    def record(self, features, labels):
        seen.append((int(features.shape[0]), float(self.get_current_lr())))
        return original(self, features, labels)

    monkeypatch.setattr(ClipTrainer, "compute_loss", record)
    epochs, batch = 3, 5
    run_main("SHIP_CoOp", color_root, tmp_path / "run", config_file=RELEASED, opts=[
        "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", str(epochs), "DATALOADER.TRAIN_X.BATCH_SIZE", str(batch),
        "TRAINER.SHIP.ENC_HIDDEN", "16", "TRAINER.SHIP.LATENT_DIM", "4", "TRAINER.SHIP.GEN_HIDDEN", "16",
        "TRAINER.SHIP.EPOCHS", "1", "TRAINER.SHIP.GEN_VIEWS", "1", "DATALOADER.NUM_WORKERS", "0",
        "TRAINER.COOP.N_CTX", "2", "TRAINER.COOP.CTX_INIT", "a photo"])
    n_items = 3 * 4  # 3 base colours x 4 shots (FAST_OPTS)
    released_loader = torch.utils.data.DataLoader(range(n_items), batch_size=batch, shuffle=True, drop_last=False)
    released_sizes = [len(b) for b in released_loader] * epochs
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.002)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * len(released_loader))
    released_lrs = []
    for _ in released_sizes:  # run_coop: the step's lr, then optimizer.step(); scheduler.step()
        released_lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    # SHIP appends as many synthesized rows as real ones (SYN_RATIO 1.0, the released gen_target of target.shape[0])
    assert [rows for rows, _ in seen] == [2 * size for size in released_sizes]
    assert [lr for _, lr in seen] == pytest.approx(released_lrs, rel=1e-6, abs=1e-12)
