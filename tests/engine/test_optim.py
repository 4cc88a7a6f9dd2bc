"""Optimizer builder and the epoch lr schedules (exact Dassl trace, resume, plain state)."""
import bisect
import io
import math
import warnings

import pytest
import torch
from torch import nn

from shipclip.engine.config import get_cfg_default
from shipclip.engine.optim import AVAI_OPTIMS, EpochLRScheduler, build_lr_scheduler, build_optimizer

BASE_LR = 0.002
MAX_EPOCH = 10
WARMUP = 3
STEPSIZE = {"single_step": (2,), "multi_step": (2, 5, 8), "cosine": (-1,)}


def _optim_cfg(**overrides):
    cfg = get_cfg_default().OPTIM
    for k, v in overrides.items():
        cfg[k] = v
    return cfg


def _sched_cfg(name, warmup, recount):
    return _optim_cfg(
        NAME="sgd", LR=BASE_LR, LR_SCHEDULER=name, MAX_EPOCH=MAX_EPOCH, STEPSIZE=STEPSIZE[name], GAMMA=0.5,
        WARMUP_EPOCH=WARMUP if warmup else -1, WARMUP_TYPE=warmup or "linear", WARMUP_CONS_LR=1e-5,
        WARMUP_MIN_LR=2e-5, WARMUP_RECOUNT=recount,
    )


def _model():
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))


def _expected_lr(name, warmup, recount, e, base=BASE_LR):
    """Closed forms of Dassl's trace (see shipclip.engine.optim's docstring), written independently."""
    W = WARMUP if warmup else 0
    if e < W:
        if warmup == "constant":
            return 1e-5
        return 2e-5 if e == 0 else base * e / W
    s0 = W if (W and not recount) else 0
    s = s0 + (e - W)
    if name == "single_step":
        step = STEPSIZE[name][-1]
        return base * 0.5 ** (s // step - s0 // step)
    if name == "multi_step":
        ms = sorted(STEPSIZE[name])
        return base * 0.5 ** (bisect.bisect_right(ms, s) - bisect.bisect_right(ms, s0))
    T = MAX_EPOCH
    if s > T:  # past the minimum torch restarts from the unscaled curve
        return base * (1 + math.cos(math.pi * s / T)) / 2
    return base * (1 + math.cos(math.pi * s / T)) / (1 + math.cos(math.pi * s0 / T))


def _torch_reference_trace(name, warmup, recount, n_epochs):
    """Drive torch's own schedulers the way Dassl's warmup wrapper does (one step per epoch)."""
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=BASE_LR)
    if name == "single_step":
        succ = torch.optim.lr_scheduler.StepLR(opt, step_size=STEPSIZE[name][-1], gamma=0.5)
    elif name == "multi_step":
        succ = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(STEPSIZE[name]), gamma=0.5)
    else:
        succ = torch.optim.lr_scheduler.CosineAnnealingLR(opt, float(MAX_EPOCH))
    W = WARMUP if warmup else 0
    if W and not recount:
        succ.last_epoch = W
    trace = []
    for e in range(n_epochs):
        if e < W:
            lr = 1e-5 if warmup == "constant" else (2e-5 if e == 0 else BASE_LR * e / W)
            opt.param_groups[0]["lr"] = lr
        elif e == W:
            lr = succ.get_last_lr()[0]
            opt.param_groups[0]["lr"] = lr
        else:
            opt.step()
            succ.step()
            lr = succ.get_last_lr()[0]
        trace.append(lr)
    return trace


CASES = [(name, warmup, recount) for name in ("single_step", "multi_step", "cosine")
         for warmup in (None, "constant", "linear") for recount in (True, False)]


@pytest.mark.parametrize("name,warmup,recount", CASES)
def test_trace_matches_closed_form_and_torch(name, warmup, recount):
    n_epochs = MAX_EPOCH + 4  # past the end, through cosine's minimum
    model = _model()
    opt = build_optimizer(model, _sched_cfg(name, warmup, recount))
    sched = build_lr_scheduler(opt, _sched_cfg(name, warmup, recount))
    got = []
    for e in range(n_epochs):
        assert sched.last_epoch == e
        assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0]
        got.append(opt.param_groups[0]["lr"])
        sched.step()
    for e, lr in enumerate(got):
        assert lr == pytest.approx(_expected_lr(name, warmup, recount, e), rel=1e-12, abs=1e-15), e
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert got == _torch_reference_trace(name, warmup, recount, n_epochs)


def test_coop_config_trace():
    """CoOp: SGD 0.002, cosine, 1 constant warmup epoch at 1e-5."""
    cfg = _optim_cfg(NAME="sgd", LR=0.002, LR_SCHEDULER="cosine", MAX_EPOCH=50, WARMUP_EPOCH=1,
                     WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)
    opt = build_optimizer(_model(), cfg)
    sched = build_lr_scheduler(opt, cfg)
    for e in range(50):
        expected = 1e-5 if e == 0 else 0.002 * 0.5 * (1 + math.cos(math.pi * (e - 1) / 50))
        assert opt.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-12)
        sched.step()
    assert 0 < opt.param_groups[0]["lr"] < 1e-5  # the last epoch still has a small positive lr


def test_single_step_nonpositive_stepsize_means_max_epoch():
    cfg = _optim_cfg(LR=0.1, LR_SCHEDULER="single_step", STEPSIZE=(-1,), MAX_EPOCH=4, GAMMA=0.1)
    opt = build_optimizer(_model(), cfg)
    sched = build_lr_scheduler(opt, cfg)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs[:4] == [0.1] * 4 and lrs[4] == pytest.approx(0.01)


@pytest.mark.parametrize("name,warmup,recount", [("cosine", "constant", True), ("cosine", "linear", False),
                                                 ("multi_step", "linear", True), ("single_step", None, True)])
def test_resume_from_state_dict_continues_exact_trace(name, warmup, recount):
    cfg = _sched_cfg(name, warmup, recount)
    opt = build_optimizer(_model(), cfg)
    sched = build_lr_scheduler(opt, cfg)
    full = []
    for e in range(MAX_EPOCH):
        full.append(sched.get_last_lr())
        sched.step()
        if e == 4:
            buf = io.BytesIO()
            torch.save({"scheduler": sched.state_dict(), "optimizer": opt.state_dict()}, buf)

    buf.seek(0)
    saved = torch.load(buf, weights_only=True)  # plain python data only
    model2 = _model()
    # A resumed run rebuilds everything from the config first, then loads the states.
    opt2 = build_optimizer(model2, cfg)
    sched2 = build_lr_scheduler(opt2, cfg)
    opt2.load_state_dict(saved["optimizer"])
    sched2.load_state_dict(saved["scheduler"])
    assert sched2.last_epoch == 5
    resumed = []
    for _ in range(5, MAX_EPOCH):
        resumed.append(sched2.get_last_lr())
        assert opt2.param_groups[0]["lr"] == sched2.get_last_lr()[0]
        sched2.step()
    assert resumed == full[5:]


def test_state_dict_is_plain_python():
    cfg = _sched_cfg("multi_step", "linear", False)
    sched = build_lr_scheduler(build_optimizer(_model(), cfg), cfg)
    sched.step()

    def check(x):
        if isinstance(x, dict):
            for k, v in x.items():
                assert isinstance(k, str)
                check(v)
        elif isinstance(x, list):
            for v in x:
                check(v)
        else:
            assert isinstance(x, (int, float, str, bool)), type(x)

    check(sched.state_dict())


def test_staged_lr_groups_and_constant_warmup_applies_to_all_groups():
    model = _model()  # children "0" and "1"
    cfg = _optim_cfg(NAME="sgd", LR=0.1, STAGED_LR=True, NEW_LAYERS=("1",), BASE_LR_MULT=0.1,
                     LR_SCHEDULER="cosine", MAX_EPOCH=4, WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-4)
    opt = build_optimizer(model, cfg)
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2]
    assert opt.param_groups[0]["params"][0] is model[0].weight
    assert opt.param_groups[1]["params"][0] is model[1].weight
    sched = build_lr_scheduler(opt, cfg)
    assert sched.base_lrs == pytest.approx([0.01, 0.1])
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 1e-4]
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01, 0.1])
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01 * (1 + math.cos(math.pi / 4)) / 2,
                                                                 0.1 * (1 + math.cos(math.pi / 4)) / 2])


def test_staged_lr_unknown_layer_is_explained():
    cfg = _optim_cfg(STAGED_LR=True, NEW_LAYERS=("head",))
    with pytest.raises(ValueError, match="head"):
        build_optimizer(_model(), cfg)


@pytest.mark.parametrize("name", AVAI_OPTIMS)
def test_build_optimizer_each_name(name):
    cfg = _optim_cfg(NAME=name, LR=0.01, WEIGHT_DECAY=1e-3, MOMENTUM=0.8, ADAM_BETA1=0.8, ADAM_BETA2=0.9,
                     RMSPROP_ALPHA=0.9)
    model = _model()
    opt = build_optimizer(model, cfg)
    expected = {"adam": torch.optim.Adam, "amsgrad": torch.optim.Adam, "sgd": torch.optim.SGD,
                "rmsprop": torch.optim.RMSprop, "radam": torch.optim.RAdam, "adamw": torch.optim.AdamW}[name]
    assert type(opt) is expected
    group = opt.param_groups[0]
    assert group["lr"] == 0.01 and group["weight_decay"] == 1e-3
    assert len(group["params"]) == len(list(model.parameters()))
    if name in ("adam", "amsgrad", "radam", "adamw"):
        assert tuple(group["betas"]) == (0.8, 0.9)
    if name in ("adam", "amsgrad"):
        assert group["amsgrad"] is (name == "amsgrad")
    if name in ("sgd", "rmsprop"):
        assert group["momentum"] == 0.8
    if name == "rmsprop":
        assert group["alpha"] == 0.9


def test_build_optimizer_params_and_param_groups():
    model = _model()
    cfg = _optim_cfg(NAME="sgd", LR=0.5)
    opt = build_optimizer(model[1].parameters(), cfg)  # CoOp passes a sub-module's parameters
    assert len(opt.param_groups[0]["params"]) == 2
    opt = build_optimizer(model, cfg, param_groups=[{"params": model[0].parameters(), "lr": 0.1},
                                                    {"params": model[1].parameters()}])
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]


def test_unknown_names_raise_with_choices():
    with pytest.raises(ValueError, match="adamw"):
        build_optimizer(_model(), _optim_cfg(NAME="adagrad"))
    opt = build_optimizer(_model(), _optim_cfg())
    with pytest.raises(ValueError, match="cosine"):
        build_lr_scheduler(opt, _optim_cfg(LR_SCHEDULER="exponential"))
    with pytest.raises(ValueError, match="constant"):
        build_lr_scheduler(opt, _optim_cfg(WARMUP_EPOCH=2, WARMUP_TYPE="exp"))
    with pytest.raises(ValueError, match="no parameters"):
        build_optimizer([], _optim_cfg())


def test_loads_dassl_style_wrapper_state():
    """A Dassl warmup wrapper stops counting at W; its successor holds the rest of the count."""
    cfg = _sched_cfg("cosine", "constant", True)
    opt = build_optimizer(_model(), cfg)
    sched = build_lr_scheduler(opt, cfg)
    sched.load_state_dict({"last_epoch": WARMUP, "warmup_epoch": WARMUP, "base_lrs": [BASE_LR],
                           "successor": {"last_epoch": 4}})
    assert sched.last_epoch == WARMUP + 4
    assert opt.param_groups[0]["lr"] == pytest.approx(_expected_lr("cosine", "constant", True, WARMUP + 4))
    sched.load_state_dict({"last_epoch": 1, "warmup_epoch": WARMUP, "successor": {"last_epoch": 0}})
    assert sched.last_epoch == 1 and opt.param_groups[0]["lr"] == 1e-5
    with pytest.raises(ValueError, match="last_epoch"):
        sched.load_state_dict({"foo": 1})


def test_scheduler_is_standalone_and_steps_like_torch():
    cfg = _sched_cfg("cosine", None, True)
    opt = build_optimizer(_model(), cfg)
    sched = build_lr_scheduler(opt, cfg)
    assert isinstance(sched, EpochLRScheduler)
    assert opt.param_groups[0]["initial_lr"] == BASE_LR
    sched.step(7)  # jump, as torch's deprecated epoch argument
    assert sched.last_epoch == 7
    assert sched.get_last_lr()[0] == pytest.approx(_expected_lr("cosine", None, True, 7))
