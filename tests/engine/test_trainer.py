"""Built-in engine trainer lifecycle: construction/hook order, checkpoints, resume, eval, printing."""
import os
import re

import pytest
import torch

from shipclip.engine import TRAINER_REGISTRY, build_trainer, set_random_seed
from shipclip.infra.checkpoint import load_checkpoint

MODEL = "linear"


class Killed(Exception):
    """Stands in for the process being killed."""


def _ckpt_dir(cfg):
    return os.path.join(cfg.OUTPUT_DIR, MODEL)


def _train(trainer_cls, cfg, seed=1):
    set_random_seed(seed)
    trainer = trainer_cls(cfg)
    trainer.train()
    return trainer


def _reference_accuracy(trainer, loader):
    correct = total = 0
    with torch.no_grad():
        for batch in loader:
            pred = trainer.model(batch["img"]).argmax(dim=1)
            correct += (pred == batch["label"]).sum().item()
            total += len(batch["label"])
    return 100.0 * correct / total


def test_construction_and_hook_order(tiny_cfg, builtin_components):
    calls = []

    class Recording(builtin_components.trainer):
        def check_cfg(self, cfg):
            calls.append(("check_cfg", hasattr(self, "cfg"), str(self.__dict__.get("device"))))

        def build_data_loader(self):
            calls.append("build_data_loader")
            super().build_data_loader()

        def build_model(self):
            calls.append(("build_model", self.train_loader_x is not None))
            super().build_model()

    for hook in ("before_train", "before_epoch", "run_epoch", "after_epoch", "after_train", "test"):
        def recorder(self, *args, _hook=hook, **kwargs):
            calls.append(_hook)
            return getattr(builtin_components.trainer, _hook)(self, *args, **kwargs)
        setattr(Recording, hook, recorder)

    tiny_cfg.OPTIM.MAX_EPOCH = 2
    trainer = Recording(tiny_cfg)
    assert calls == [("check_cfg", False, "None"), "build_data_loader", ("build_model", True)]
    assert trainer.device == torch.device("cpu") and trainer.best_result == float("-inf")
    calls.clear()
    trainer.train()
    epoch = ["before_epoch", "run_epoch", "after_epoch"]
    assert calls == ["before_train"] + epoch + epoch + ["after_train", "test"]


def test_checkpoint_layout_and_final_test(tiny_cfg, builtin_components, capsys):
    trainer = _train(builtin_components.trainer, tiny_cfg)
    out = capsys.readouterr().out
    ckpt_dir = _ckpt_dir(tiny_cfg)
    assert sorted(os.listdir(ckpt_dir)) == ["checkpoint", "model.pth.tar-3"]
    with open(os.path.join(ckpt_dir, "checkpoint")) as f:
        assert f.read().strip() == "model.pth.tar-3"
    state = load_checkpoint(os.path.join(ckpt_dir, "model.pth.tar-3"))
    assert set(state) == {"state_dict", "epoch", "optimizer", "scheduler", "val_result"}
    assert state["epoch"] == 3 and state["val_result"] is None
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(state["state_dict"][key], value)

    assert "No checkpoint found, train from scratch" in out
    lines = out.splitlines()
    finish = lines.index("Finish training")
    assert lines[finish + 1] == "Deploy the last-epoch model"
    assert "Evaluate on the *test* set" in lines[finish + 2]
    acc = float(re.search(r"\* accuracy: ([\d.]+)%", out).group(1))
    assert acc == pytest.approx(_reference_accuracy(trainer, trainer.test_loader), abs=0.051)
    assert acc > 60.0  # the coloured classes are learnable: training really ran
    assert re.search(r"^Elapsed: \d+:\d{2}:\d{2}$", out, re.M)


def test_progress_line_format_and_lr_schedule(tiny_cfg, builtin_components, capsys):
    tiny_cfg.TRAIN.PRINT_FREQ = 2
    trainer = builtin_components.trainer(tiny_cfg)
    lrs = []
    original = trainer.run_epoch

    def run_epoch():
        lrs.append(trainer.get_current_lr())
        original()

    trainer.run_epoch = run_epoch
    trainer.train()
    out = capsys.readouterr().out
    progress = [line for line in out.splitlines() if line.startswith("epoch [")]
    assert len(progress) == 3 * 2  # 4 batches per epoch, printed every 2nd
    pattern = (r"epoch \[1/3\] batch \[2/4\] time \d+\.\d{3} \(\d+\.\d{3}\) data \d+\.\d{3} \(\d+\.\d{3}\) "
               r"loss \d+\.\d{4} \(\d+\.\d{4}\) acc \d+\.\d{4} \(\d+\.\d{4}\) lr 5\.0000e-02 eta \d+:\d{2}:\d{2}")
    assert re.fullmatch(pattern, progress[0])
    # One cosine step per epoch (the trainer calls update_lr itself).
    expected = [0.05 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * e / 3))).item() for e in range(3)]
    assert lrs == pytest.approx(expected)


def test_resume_after_kill_matches_uninterrupted_run(tiny_cfg, builtin_components, tmp_path, capsys):
    tiny_cfg.TRAIN.CHECKPOINT_FREQ = 1
    tiny_cfg.TEST.NO_TEST = True
    full_cfg = tiny_cfg.clone()
    full_cfg.OUTPUT_DIR = str(tmp_path / "full")
    full = _train(builtin_components.trainer, full_cfg)

    class KilledAfterSecondEpoch(builtin_components.trainer):
        def after_epoch(self):
            super().after_epoch()
            if self.epoch == 1:
                raise Killed

    with pytest.raises(Killed):
        _train(KilledAfterSecondEpoch, tiny_cfg)
    assert sorted(os.listdir(_ckpt_dir(tiny_cfg))) == ["checkpoint", "model.pth.tar-1", "model.pth.tar-2"]
    capsys.readouterr()

    set_random_seed(1)
    resumed = builtin_components.trainer(tiny_cfg)
    epochs_seen = []
    resumed.before_epoch = lambda: epochs_seen.append(resumed.epoch)
    resumed.train()
    assert "Found checkpoint at" in capsys.readouterr().out
    assert resumed.start_epoch == 2 and epochs_seen == [2]

    for key, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    full_state = load_checkpoint(os.path.join(_ckpt_dir(full_cfg), "model.pth.tar-3"))
    resumed_state = load_checkpoint(os.path.join(_ckpt_dir(tiny_cfg), "model.pth.tar-3"))
    assert full_state["scheduler"] == resumed_state["scheduler"]
    for pid, buf in full_state["optimizer"]["state"].items():
        assert torch.equal(resumed_state["optimizer"]["state"][pid]["momentum_buffer"], buf["momentum_buffer"])
    # The third epoch changed the weights, so equality above is not trivial.
    second = load_checkpoint(os.path.join(_ckpt_dir(full_cfg), "model.pth.tar-2"))["state_dict"]
    assert not torch.equal(second["1.weight"], full_state["state_dict"]["1.weight"])


def test_resume_from_cfg_resume_and_without_pointer(tiny_cfg, builtin_components, tmp_path, capsys):
    tiny_cfg.TEST.NO_TEST = True
    tiny_cfg.OPTIM.MAX_EPOCH = 1
    _train(builtin_components.trainer, tiny_cfg)
    # A model folder without a pointer file (run killed before its first save) is not a checkpoint.
    os.makedirs(tmp_path / "empty" / MODEL)
    trainer = builtin_components.trainer(tiny_cfg)
    assert trainer.resume_model_if_exist(str(tmp_path / "empty")) == 0
    assert trainer.resume_model_if_exist(tiny_cfg.OUTPUT_DIR) == 1

    other = tiny_cfg.clone()
    other.RESUME = tiny_cfg.OUTPUT_DIR
    other.OUTPUT_DIR = str(tmp_path / "elsewhere")
    other.OPTIM.MAX_EPOCH = 2
    resumed = _train(builtin_components.trainer, other)
    assert resumed.start_epoch == 1
    assert sorted(os.listdir(os.path.join(other.OUTPUT_DIR, MODEL))) == ["checkpoint", "model.pth.tar-2"]


def test_best_val_saves_and_deploys_best(tiny_cfg, builtin_components, capsys):
    tiny_cfg.TEST.FINAL_MODEL = "best_val"
    trainer = _train(builtin_components.trainer, tiny_cfg)
    out = capsys.readouterr().out
    best = load_checkpoint(os.path.join(_ckpt_dir(tiny_cfg), "model-best.pth.tar"))
    assert best["val_result"] == trainer.best_result > 0
    assert out.count("Evaluate on the *val* set") == 3
    assert "Deploy the model with the best val performance" in out
    assert f"(epoch={best['epoch']}, val_result={best['val_result']:.1f})" in out
    for key, value in best["state_dict"].items():
        assert torch.equal(trainer.model.state_dict()[key], value)  # deployed = best

    # A resumed run keeps comparing against the saved best, not against -inf.
    resumed = builtin_components.trainer(tiny_cfg)
    resumed.before_train()
    assert resumed.start_epoch == 3 and resumed.best_result == best["val_result"]


def test_load_model_epoch_and_tolerance(tiny_cfg, builtin_components, tmp_path, capsys):
    tiny_cfg.TRAIN.CHECKPOINT_FREQ = 1
    tiny_cfg.TEST.NO_TEST = True
    _train(builtin_components.trainer, tiny_cfg)
    fresh = builtin_components.trainer(tiny_cfg)
    fresh.load_model(tiny_cfg.OUTPUT_DIR, epoch=1)
    first = load_checkpoint(os.path.join(_ckpt_dir(tiny_cfg), "model.pth.tar-1"))["state_dict"]
    for key, value in first.items():
        assert torch.equal(fresh.model.state_dict()[key], value)
    assert "(epoch=1)" in capsys.readouterr().out

    with pytest.raises(FileNotFoundError, match=r"model\.pth\.tar-7"):
        fresh.load_model(tiny_cfg.OUTPUT_DIR, epoch=7)
    fresh.load_model("")
    assert "load_model() is skipped" in capsys.readouterr().out

    # Checkpoints without a "val_result" key (pre-Aug-2022 Dassl, CoOp's released weights) load.
    legacy_dir = tmp_path / "legacy" / MODEL
    legacy_dir.mkdir(parents=True)
    torch.save({"state_dict": first, "epoch": 1}, legacy_dir / "model-best.pth.tar")
    fresh.load_model(str(tmp_path / "legacy"))
    assert "(epoch=1)" in capsys.readouterr().out


def test_test_split_and_return_value(tiny_cfg, builtin_components, capsys):
    trainer = builtin_components.trainer(tiny_cfg)
    trainer.model.train()
    acc = trainer.test(split="val")
    assert not trainer.model.training
    assert "Evaluate on the *val* set" in capsys.readouterr().out
    assert acc == pytest.approx(_reference_accuracy(trainer, trainer.val_loader))
    trainer.val_loader = None
    trainer.test(split="val")  # no val loader: falls back to the test split
    assert "Evaluate on the *test* set" in capsys.readouterr().out


def test_model_modes_and_registration(tiny_cfg, builtin_components):
    trainer = builtin_components.trainer(tiny_cfg)
    trainer.frozen = torch.nn.Linear(2, 2).train()
    trainer.set_model_mode("eval")
    assert not trainer.model.training and trainer.frozen.training  # registered models only
    trainer.set_model_mode("train")
    assert trainer.model.training
    with pytest.raises(KeyError, match="bogus"):
        trainer.set_model_mode("bogus")
    with pytest.raises(KeyError, match="already registered"):
        trainer.register_model(MODEL, trainer.model)
    assert trainer.get_model_names() == [MODEL] and trainer.get_model_names(MODEL) == [MODEL]
    with pytest.raises(KeyError, match="nope"):
        trainer.get_model_names(["nope"])


def test_nan_loss_raises_and_leaves_weights(tiny_cfg, builtin_components):
    trainer = builtin_components.trainer(tiny_cfg)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    loss = trainer.model(torch.zeros(1, 3, 8, 8)).sum() * float("nan")
    with pytest.raises(FloatingPointError, match="Loss is infinite or NaN!"):
        trainer.model_backward_and_update(loss)
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(before[key], value)


def test_sampler_epoch_follows_trainer_epoch(tiny_cfg, builtin_components):
    trainer = builtin_components.trainer(tiny_cfg)
    sampler = trainer.train_loader_x.sampler
    seen = []
    original = sampler.set_epoch
    sampler.set_epoch = lambda epoch: (seen.append(epoch), original(epoch))
    tiny_cfg.TEST.NO_TEST = True
    trainer.train()
    assert seen == [0, 1, 2]


def test_build_trainer_by_name(tiny_cfg, builtin_components, capsys):
    assert type(build_trainer(tiny_cfg)) is builtin_components.trainer
    assert "Loading trainer: ShipTestLinear" in capsys.readouterr().out
    assert "ShipTestLinear" in TRAINER_REGISTRY.registered_names()
    tiny_cfg.TRAINER.NAME = "ShipTestLinaer"
    with pytest.raises(ValueError, match='Did you mean "ShipTestLinear"'):
        build_trainer(tiny_cfg)
