"""Checkpoint layout, crash safety, safe/unsafe loading and resume."""
import collections
import os

import pytest
import torch
from torch import nn

from shipclip.infra import checkpoint as ckpt_mod
from shipclip.infra.checkpoint import load_checkpoint, load_pretrained_weights, resume_from_checkpoint, save_checkpoint
from shipclip.engine.config import get_cfg_default
from shipclip.engine.optim import build_optimizer
from shipclip.infra.schedulers import build_lr_scheduler


class PickledThing:
    """Stands for the Python objects a real Dassl checkpoint pickles (its scheduler)."""

    def __init__(self, value):
        self.value = value


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _training_state(seed=0, epoch=3):
    model = _model(seed)
    cfg = get_cfg_default().OPTIM
    cfg.NAME, cfg.LR, cfg.LR_SCHEDULER, cfg.MAX_EPOCH = "sgd", 0.1, "cosine", 10
    cfg.WARMUP_EPOCH, cfg.WARMUP_TYPE = 1, "constant"
    optim = build_optimizer(model, cfg)
    sched = build_lr_scheduler(optim, cfg)
    model(torch.randn(5, 3)).sum().backward()
    optim.step()
    for _ in range(epoch):
        sched.step()
    state = {"state_dict": model.state_dict(), "epoch": epoch, "optimizer": optim.state_dict(),
             "scheduler": sched.state_dict(), "val_result": None}
    return model, optim, sched, cfg, state


def test_save_layout_pointer_and_module_prefix(tmp_path, capsys):
    model = _model()
    sd = collections.OrderedDict(("module." + k, v) for k, v in model.state_dict().items())
    path = save_checkpoint({"state_dict": sd, "epoch": 7}, str(tmp_path))
    assert path == str(tmp_path / "model.pth.tar-7")
    assert f"Checkpoint saved to {path}" in capsys.readouterr().out
    assert (tmp_path / "checkpoint").read_text() == "model.pth.tar-7\n"
    loaded = load_checkpoint(path)
    assert list(loaded["state_dict"]) == list(model.state_dict())
    assert "module.0.weight" in sd  # the caller's dict is left alone

    save_checkpoint({"state_dict": model.state_dict(), "epoch": 8}, str(tmp_path), is_best=True)
    assert (tmp_path / "checkpoint").read_text() == "model.pth.tar-8\n"
    assert (tmp_path / "model-best.pth.tar").read_bytes() == (tmp_path / "model.pth.tar-8").read_bytes()

    save_checkpoint({"state_dict": model.state_dict(), "epoch": 9}, str(tmp_path), model_name="model-best.pth.tar")
    assert (tmp_path / "checkpoint").read_text() == "model-best.pth.tar\n"
    assert load_checkpoint(str(tmp_path / "model-best.pth.tar"))["epoch"] == 9
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "model-best.pth.tar", "model.pth.tar-7", "model.pth.tar-8"]

    with pytest.raises(KeyError, match="epoch"):
        save_checkpoint({"state_dict": {}}, str(tmp_path))


def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model, _, _, _, state = _training_state(epoch=1)
    save_checkpoint(state, str(tmp_path))
    good = (tmp_path / "model.pth.tar-1").read_bytes()

    real_save = torch.save

    def dying_save(obj, f, *args, **kwargs):
        f.write(b"partial bytes")
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(dict(state, epoch=2), str(tmp_path), is_best=True)
    monkeypatch.setattr(torch, "save", real_save)

    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "model.pth.tar-1"]  # no partial or temp file
    assert (tmp_path / "checkpoint").read_text() == "model.pth.tar-1\n"
    assert (tmp_path / "model.pth.tar-1").read_bytes() == good
    assert resume_from_checkpoint(str(tmp_path), _model(1)) == 1


def test_round_trip_is_weights_only_safe(tmp_path, capsys):
    model, optim, sched, _, state = _training_state(epoch=3)
    path = save_checkpoint(state, str(tmp_path))
    capsys.readouterr()
    raw = torch.load(path, weights_only=True)  # what torch >= 2.6 (and real Dassl) does by default
    assert raw["epoch"] == 3 and raw["scheduler"] == sched.state_dict()
    loaded = load_checkpoint(path)
    assert "weights_only=False" not in capsys.readouterr().out
    for k, v in model.state_dict().items():
        assert torch.equal(loaded["state_dict"][k], v)


def test_resume_restores_model_optimizer_scheduler(tmp_path, capsys):
    model, optim, sched, cfg, state = _training_state(epoch=4)
    save_checkpoint(state, str(tmp_path))
    model2 = _model(seed=1)
    optim2 = build_optimizer(model2, cfg)
    sched2 = build_lr_scheduler(optim2, cfg)
    assert resume_from_checkpoint(str(tmp_path), model2, optim2, sched2) == 4
    out = capsys.readouterr().out
    assert "Loaded model weights" in out and "Previous epoch: 4" in out
    for k, v in model.state_dict().items():
        assert torch.equal(model2.state_dict()[k], v)
    assert optim2.state_dict()["state"][0]["momentum_buffer"].equal(optim.state_dict()["state"][0]["momentum_buffer"])
    assert sched2.last_epoch == 4 and sched2.get_last_lr() == sched.get_last_lr()
    assert optim2.param_groups[0]["lr"] == optim.param_groups[0]["lr"]

    with pytest.raises(FileNotFoundError, match="checkpoint"):
        resume_from_checkpoint(str(tmp_path / "empty"), model2)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        load_checkpoint(str(tmp_path / "nothing.pth"))
    _, _, _, _, state = _training_state()
    path = save_checkpoint(state, str(tmp_path))
    data = open(path, "rb").read()
    for name, content in (("trunc.pth.tar", data[: len(data) // 2]), ("junk.pth.tar", b"\x80\x02garbage"),
                          ("empty.pth.tar", b"")):
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(RuntimeError) as info:
            load_checkpoint(str(bad))
        assert name in str(info.value) and "corrupt" in str(info.value)


def test_pickled_objects_load_with_one_note(tmp_path, capsys):
    path = str(tmp_path / "dassl.pth.tar")
    torch.save({"state_dict": {}, "epoch": 2, "scheduler": {"successor": PickledThing(5)}}, path)
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)
    ckpt_mod._unsafe_load_noted.discard(path)
    first = load_checkpoint(path)
    assert first["scheduler"]["successor"].value == 5
    second = load_checkpoint(path)
    assert second["epoch"] == 2
    assert capsys.readouterr().out.count("weights_only=False") == 1


def test_load_pretrained_weights_matches_names_and_shapes(tmp_path, capsys):
    src = _model(seed=3)
    sd = collections.OrderedDict(("module." + k, v) for k, v in src.state_dict().items())
    sd["module.2.weight"] = torch.zeros(7, 4)  # wrong shape
    sd["extra.bias"] = torch.zeros(2)
    path = str(tmp_path / "w.pth")
    torch.save({"state_dict": sd}, path)

    dst = _model(seed=4)
    before = dst[2].weight.detach().clone()
    load_pretrained_weights(dst, path)
    assert torch.equal(dst[0].weight, src[0].weight) and torch.equal(dst[2].bias, src[2].bias)
    assert torch.equal(dst[2].weight, before)
    out = capsys.readouterr().out
    assert "'2.weight'" in out and "'extra.bias'" in out and "'0.weight'" not in out

    torch.save({"other": torch.zeros(1)}, path)
    with pytest.warns(UserWarning, match="nothing was loaded"):
        load_pretrained_weights(dst, path)
