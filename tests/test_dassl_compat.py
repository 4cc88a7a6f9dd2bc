"""The workarounds that let the project run on real Dassl.pytorch 0.6.x with current PyTorch.

CI has no Dassl, so each test pins one workaround without it (docs/DASSL.md lists them and the
end-to-end runs made on a real Dassl install):

* the engine switch: ``SHIP_ENGINE=dassl`` without Dassl fails loudly; with a Dassl package the
  engine names come from it while the checkpoint readers and the lr scheduler stay ours;
* our scheduler state survives ``torch.load(weights_only=True)`` (torch >= 2.6), which Dassl's
  resume path uses, and Dassl-era checkpoints (a pickled scheduler object) still load;
* ``ClipTrainer`` (its checkpoint mixin) defines ``load_model`` (Dassl's crashes on ``val_result=None``) and
  ``resume_model_if_exist`` (Dassl's reads with ``weights_only=True``);
* registration works with Dassl's ``Registry.register(self, obj=None, force=False)``.
"""
import json
import os
import pickle
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Every module and name shipclip.backend imports from Dassl; the loaders and the scheduler
# builder raise, so a test fails if the backend ever hands out Dassl's versions.
FAKE_DASSL = {
    "dassl/__init__.py": '__version__ = "0.6.3-fake"\n',
    "dassl/config/__init__.py": "def get_cfg_default():\n    return 'fake-cfg'\n",
    "dassl/data/__init__.py": "class DataManager: pass\nclass DatasetWrapper: pass\n",
    "dassl/data/datasets/__init__.py": ("DATASET_REGISTRY = object()\nclass DatasetBase: pass\nclass Datum: pass\n"
                                        "def build_dataset(cfg): pass\n"),
    "dassl/data/transforms/__init__.py": "def build_transform(cfg, is_train=True, choices=None): pass\n",
    "dassl/engine/__init__.py": ("TRAINER_REGISTRY = object()\nclass TrainerBase: pass\n"
                                 "class SimpleTrainer(TrainerBase): pass\nclass TrainerX(SimpleTrainer): pass\n"
                                 "def build_trainer(cfg): pass\n"),
    "dassl/evaluation/__init__.py": "EVALUATOR_REGISTRY = object()\ndef build_evaluator(cfg, **kwargs): pass\n",
    "dassl/metrics/__init__.py": "def compute_accuracy(output, target, topk=(1,)): pass\n",
    "dassl/optim/__init__.py": ("def build_optimizer(model, optim_cfg, param_groups=None): pass\n"
                                "def build_lr_scheduler(optimizer, optim_cfg):\n"
                                "    raise TypeError('fake Dassl warmup passes verbose')\n"),
    "dassl/utils/__init__.py": (
        "def _refuse(*args, **kwargs):\n    raise RuntimeError('fake Dassl loader used')\n"
        "load_checkpoint = load_pretrained_weights = resume_from_checkpoint = _refuse\n"
        "def check_isfile(p): pass\ndef collect_env_info(): pass\ndef listdir_nohidden(p, sort=False): pass\n"
        "def mkdir_if_missing(p): pass\ndef read_image(p): pass\ndef read_json(p): pass\n"
        "def set_random_seed(s): pass\ndef setup_logger(o): pass\ndef write_json(o, p): pass\n"),
}

PROBE = """
import json
import dassl.engine, dassl.utils
import shipclip.backend as b
from shipclip.infra import checkpoint, schedulers as optim
print(json.dumps({
    "engine": b.ENGINE,
    "description": b.engine_description(),
    "trainer_x_from_dassl": b.TrainerX is dassl.engine.TrainerX,
    "set_random_seed_from_dassl": b.set_random_seed is dassl.utils.set_random_seed,
    "load_checkpoint_ours": b.load_checkpoint is checkpoint.load_checkpoint,
    "load_pretrained_weights_ours": b.load_pretrained_weights is checkpoint.load_pretrained_weights,
    "build_lr_scheduler_ours": b.build_lr_scheduler is optim.build_lr_scheduler,
}))
"""


def _write_tree(root, files):
    for rel, text in files.items():
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return str(root)


# Runs first in a subprocess: "dassl" resolves only to ``root`` (None: does not exist), even where a
# real Dassl is installed (an editable install's finder would otherwise win over PYTHONPATH).
DASSL_FINDER = """
import importlib.machinery, sys
class _DasslOnlyFrom:
    def find_spec(self, name, path=None, target=None):
        if name == "dassl" or name.startswith("dassl."):
            if {root!r} is None:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return importlib.machinery.PathFinder.find_spec(name, path or [{root!r}])
sys.meta_path.insert(0, _DasslOnlyFrom())
"""


def _python(code, engine, dassl_root=None):
    env = dict(os.environ, SHIP_ENGINE=engine, OMP_NUM_THREADS="1")
    code = DASSL_FINDER.format(root=dassl_root) + code
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


# ------------------------------------------------------------------------------ engine switch
def test_ship_engine_dassl_without_dassl_fails_loudly(tmp_path):
    out = tmp_path / "run"
    run_train = (f"import runpy; sys.argv = ['train.py', '--trainer', 'CoOp', '--output-dir', {str(out)!r}]\n"
                 "runpy.run_path('train.py', run_name='__main__')\n")
    cli = _python(run_train, "dassl")
    assert cli.returncode != 0
    assert "SHIP_ENGINE=dassl but Dassl.pytorch does not import (dassl.engine" in cli.stderr
    assert not out.exists()  # nothing ran, nothing was written


def test_engine_choice_without_dassl(monkeypatch):
    import types

    import shipclip.backend as backend

    for name in [n for n in sys.modules if n.startswith("dassl.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dassl", types.ModuleType("dassl"))  # a "dassl" without its submodules
    monkeypatch.setenv("SHIP_ENGINE", "dassl")
    with pytest.raises(ImportError, match="SHIP_ENGINE=dassl but Dassl.pytorch does not import"):
        backend._select_engine()
    monkeypatch.setenv("SHIP_ENGINE", "auto")
    assert backend._select_engine()[0] == "builtin"
    monkeypatch.setenv("SHIP_ENGINE", "dasl")
    with pytest.raises(ValueError, match="'dasl' is not valid"):
        backend._select_engine()


def test_dassl_engine_keeps_our_loaders_and_scheduler(tmp_path):
    fake = _write_tree(tmp_path, FAKE_DASSL)
    proc = _python(PROBE, "dassl", dassl_root=fake)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info.pop("engine") == "dassl"
    assert "Dassl.pytorch 0.6.3-fake" in info.pop("description")
    assert all(info.values()), info


# ------------------------------------------------------------------- checkpoints and schedules
def _coop_optim_cfg(max_epoch=5):
    from shipclip.engine.config import get_cfg_default

    cfg = get_cfg_default()
    o = cfg.OPTIM
    o.NAME, o.LR, o.MAX_EPOCH, o.LR_SCHEDULER = "sgd", 0.002, max_epoch, "cosine"
    o.WARMUP_EPOCH, o.WARMUP_TYPE, o.WARMUP_CONS_LR = 1, "constant", 1e-5
    return o


class _Learner(nn.Module):
    """CoOp's checkpoint keys: a learned ``ctx`` plus class-name buffers."""

    def __init__(self, n_cls=3, n_ctx=2, width=6):
        super().__init__()
        self.ctx = nn.Parameter(torch.randn(n_ctx, width))
        self.register_buffer("token_prefix", torch.randn(n_cls, 1, width))
        self.register_buffer("token_suffix", torch.randn(n_cls, 5, width))


def _trainer_with(model, optim=None, sched=None):
    """A CoOp trainer object holding just its registered model (no data, no CLIP)."""
    from shipclip.trainers.coop import CoOp

    trainer = CoOp.__new__(CoOp)
    trainer._models = OrderedDict(prompt_learner=model)
    trainer._optims = OrderedDict(prompt_learner=optim)
    trainer._scheds = OrderedDict(prompt_learner=sched)
    return trainer


def _dassl_era_scheduler_state(optimizer, epochs, max_epoch):
    """What Dassl's constant-warmup wrapper stored after ``epochs`` steps: its own counter (which
    stops at the warmup length) and the live successor scheduler object."""
    successor = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epoch)
    for _ in range(max(epochs - 1, 0)):
        optimizer.step()
        successor.step()
    return {"successor": successor, "warmup_epoch": 1, "cons_lr": 1e-5, "last_epoch": min(epochs, 1),
            "base_lrs": [0.002], "_last_lr": successor.get_last_lr(), "_step_count": epochs + 1}


def _write_run(folder, state, epoch):
    os.makedirs(folder, exist_ok=True)
    torch.save(state, os.path.join(folder, f"model.pth.tar-{epoch}"))
    with open(os.path.join(folder, "checkpoint"), "w") as f:
        f.write(f"model.pth.tar-{epoch}\n")


def test_scheduler_state_survives_weights_only_load(tmp_path):
    from shipclip.backend import build_lr_scheduler, build_optimizer

    model = _Learner()
    optim = build_optimizer(model, _coop_optim_cfg())
    sched = build_lr_scheduler(optim, _coop_optim_cfg())
    for _ in range(3):
        optim.step()
        sched.step()
    # The checkpoint Dassl's save_model writes around our objects.
    state = {"state_dict": model.state_dict(), "epoch": 3, "optimizer": optim.state_dict(),
             "scheduler": sched.state_dict(), "val_result": None}
    torch.save(state, tmp_path / "model.pth.tar-3")
    loaded = torch.load(tmp_path / "model.pth.tar-3", map_location="cpu", weights_only=True)

    fresh = _Learner()
    optim2 = build_optimizer(fresh, _coop_optim_cfg())
    sched2 = build_lr_scheduler(optim2, _coop_optim_cfg())
    sched2.load_state_dict(loaded["scheduler"])
    assert sched2.last_epoch == 3
    assert sched2.get_last_lr() == pytest.approx(sched.get_last_lr())
    assert optim2.param_groups[0]["lr"] == pytest.approx(0.002 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * 2 / 5)).item()))

    # The premise: a Dassl-era scheduler state (a pickled scheduler object) is refused.
    legacy = dict(state, scheduler=_dassl_era_scheduler_state(torch.optim.SGD(fresh.parameters(), lr=0.002), 3, 5))
    torch.save(legacy, tmp_path / "legacy.pth.tar")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "legacy.pth.tar", map_location="cpu", weights_only=True)


def test_load_pretrained_weights_reads_dassl_era_checkpoints(tmp_path):
    from shipclip.backend import load_pretrained_weights

    source = _Learner()
    state = {"state_dict": OrderedDict(("module." + k, v) for k, v in source.state_dict().items()), "epoch": 2,
             "optimizer": None, "scheduler": _dassl_era_scheduler_state(torch.optim.SGD(source.parameters(), lr=0.1), 2, 5)}
    path = tmp_path / "model.pth.tar-2"
    torch.save(state, path)
    target = _Learner(n_cls=4)  # other class count: only ctx matches by name and shape
    load_pretrained_weights(target, str(path))
    assert torch.equal(target.ctx, source.ctx)
    assert not torch.equal(target.token_prefix[:3], source.token_prefix)


@pytest.mark.parametrize("val_result", [None, "missing", 87.5])
def test_load_model_tolerates_missing_val_result(tmp_path, capsys, val_result):
    from shipclip.trainers.base import ClipTrainer

    from shipclip.trainers.checkpointing import CheckpointMixin

    assert ClipTrainer.load_model is CheckpointMixin.load_model  # never the engine's (Dassl's crashes on None)
    trained = _Learner(n_cls=3)
    state = {"state_dict": trained.state_dict(), "epoch": 4, "optimizer": None, "scheduler": None}
    if val_result != "missing":
        state["val_result"] = val_result
    _write_run(tmp_path / "prompt_learner", state, 4)

    model = _Learner(n_cls=5)  # evaluated on another label space: class-name buffers are not loaded
    trainer = _trainer_with(model)
    trainer.load_model(str(tmp_path))  # no model-best: follows the pointer file
    out = capsys.readouterr().out
    assert torch.equal(model.ctx, trained.ctx)
    assert model.token_prefix.shape[0] == 5
    assert "(epoch = 4" in out and (("val_result = 87.5" in out) == (val_result == 87.5))
    assert trainer.model_epoch() == 4
    trainer.load_model(str(tmp_path), epoch=4)
    with pytest.raises(FileNotFoundError, match="model.pth.tar-9"):
        trainer.load_model(str(tmp_path), epoch=9)


def test_resume_reads_dassl_era_run_folder(tmp_path, capsys):
    from shipclip.backend import build_lr_scheduler, build_optimizer
    from shipclip.trainers.base import ClipTrainer

    from shipclip.trainers.checkpointing import CheckpointMixin

    assert ClipTrainer.resume_model_if_exist is CheckpointMixin.resume_model_if_exist  # never Dassl's reader
    max_epoch = 5
    trained = _Learner()
    old_optim = torch.optim.SGD(trained.parameters(), lr=0.002, momentum=0.9)
    trained.ctx.grad = torch.ones_like(trained.ctx)
    old_optim.step()
    state = {"state_dict": trained.state_dict(), "epoch": 2, "optimizer": old_optim.state_dict(),
             "scheduler": _dassl_era_scheduler_state(old_optim, 2, max_epoch), "val_result": None}
    _write_run(tmp_path / "prompt_learner", state, 2)

    model = _Learner()
    optim = build_optimizer(model, _coop_optim_cfg(max_epoch))
    sched = build_lr_scheduler(optim, _coop_optim_cfg(max_epoch))
    start = _trainer_with(model, optim, sched).resume_model_if_exist(str(tmp_path))
    assert start == 2
    assert torch.equal(model.ctx, trained.ctx)
    assert torch.equal(optim.state_dict()["state"][0]["momentum_buffer"], old_optim.state_dict()["state"][0]["momentum_buffer"])
    reference = build_lr_scheduler(torch.optim.SGD(_Learner().parameters(), lr=0.002), _coop_optim_cfg(max_epoch))
    reference.step()
    reference.step()
    assert sched.last_epoch == 2 and optim.param_groups[0]["lr"] == pytest.approx(reference.get_last_lr()[0])
    assert "Previous epoch: 2" in capsys.readouterr().out

    empty = _trainer_with(_Learner(), None, None)
    assert empty.resume_model_if_exist(str(tmp_path / "elsewhere")) == 0


# -------------------------------------------------------------------------------- registration
class DasslStyleRegistry:
    """Dassl's registry contract: keyed by ``__name__``, ``register(obj=None, force=False)`` usable as
    a call or a decorator, a second registration of a name raises ``KeyError``."""

    def __init__(self, name):
        self._name = name
        self._obj_map = {}

    def _add(self, obj, force):
        key = obj.__name__
        if key in self._obj_map and not force:
            raise KeyError(f'An object named "{key}" was already registered in "{self._name}" registry')
        self._obj_map[key] = obj

    def register(self, obj=None, force=False):
        if obj is None:
            def decorator(fn):
                self._add(fn, force)
                return fn
            return decorator
        self._add(obj, force)

    def get(self, name):
        if name not in self._obj_map:
            raise KeyError(f'Object name "{name}" does not exist in "{self._name}" registry')
        return self._obj_map[name]

    def registered_names(self):
        return list(self._obj_map.keys())


@pytest.fixture
def dassl_registries(monkeypatch):
    import shipclip.registration as registration

    trainers, datasets = DasslStyleRegistry("TRAINER"), DasslStyleRegistry("DATASET")
    monkeypatch.setattr(registration, "TRAINER_REGISTRY", trainers)
    monkeypatch.setattr(registration, "DATASET_REGISTRY", datasets)
    return registration, trainers, datasets


def test_register_all_into_dassl_style_registries(dassl_registries):
    from shipclip.datasets import DATASETS

    registration, trainers, datasets = dassl_registries
    registration.register_all()
    assert trainers.registered_names() == list(registration.TRAINERS)
    assert sorted(datasets.registered_names()) == sorted(DATASETS)
    for name, target in registration.TRAINERS.items():
        assert trainers.get(name) is registration.resolve(target)
    registration.register_all()  # the same classes again: nothing to do, no KeyError


def test_plugin_keeps_lab_classes_in_dassl_style_registries(dassl_registries, capsys):
    registration, trainers, datasets = dassl_registries

    @trainers.register()
    class CoOp:  # a lab's own CoOp, registered first (decorator form, as CoOp's code does)
        pass

    skipped = registration.register_plugin()
    assert trainers.get("CoOp") is CoOp
    assert any(s.startswith("CoOp (kept") for s in skipped)
    assert "SHIP_CoOp" in trainers.registered_names() and "OxfordPets" in datasets.registered_names()
    assert "kept yours" in capsys.readouterr().out
    with pytest.raises(KeyError, match="already registered"):
        registration.register_all()  # our train.py: a clash with a different class is an error
