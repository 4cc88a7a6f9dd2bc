"""Per-epoch learning-rate schedules with Dassl's config keys and lr trace (used under both engines).

The scheduler is written here rather than built from torch schedulers: Dassl's warmup wrappers
pass ``verbose`` to torch (a ``TypeError`` since torch 2.7) and put live scheduler objects in
their state dict (refused by ``torch.load(weights_only=True)``). ``EpochLRScheduler`` instead
computes the lr of epoch ``e`` as a pure function of its settings, the base lrs and ``e``, and
its state dict is plain Python data, so a resumed run continues the exact same trace.

The trace equals the one Dassl produces when it drives torch's ``StepLR`` / ``MultiStepLR`` /
``CosineAnnealingLR`` behind its warmup wrapper, one ``step()`` per epoch:

* warmup epochs ``e < W`` (``W = WARMUP_EPOCH > 0``): ``WARMUP_CONS_LR`` (constant), or
  ``WARMUP_MIN_LR`` at ``e = 0`` and ``base * e / W`` after (linear);
* then the main schedule runs at its own epoch ``s = s0 + (e - W)``, where ``s0`` is 0, or ``W``
  with ``WARMUP_RECOUNT=False``; at ``s = s0`` the lr is ``base`` and each later epoch applies
  torch's chained update to the previous lr (``x gamma`` at a step, the cosine ratio
  ``(1 + cos(pi s / T)) / (1 + cos(pi (s - 1) / T))``, ``T = MAX_EPOCH``).

With ``s0 = 0`` this is the familiar closed form (CoOp: ``1e-5`` at epoch 0, then
``0.002 * (1 + cos(pi (e - 1) / T)) / 2``). With ``WARMUP_RECOUNT=False`` the chained update
starts from ``base`` at ``s0 = W``, so e.g. cosine gives ``base * (1 + cos(pi s / T)) / (1 + cos(pi W / T))``
-- exactly what Dassl does, because it moves the wrapped scheduler's epoch without resetting its lr.
"""

import math

import torch

__all__ = ["AVAI_SCHEDS", "AVAI_WARMUPS", "build_lr_scheduler", "EpochLRScheduler"]

AVAI_SCHEDS = ("single_step", "multi_step", "cosine")
AVAI_WARMUPS = ("constant", "linear")


class EpochLRScheduler:
    """Dassl's epoch schedules (+ warmup) with a torch-like API and a plain-data state dict.

    ``step()`` moves to the next epoch and writes the new lr into every param group;
    construction sets epoch 0's lr. ``state_dict()`` survives ``torch.load(weights_only=True)``.
    """

    def __init__(self, optimizer, name, max_epoch, stepsize=(-1,), gamma=0.1, warmup_epoch=-1,
                 warmup_type="linear", warmup_cons_lr=1e-5, warmup_min_lr=1e-5, warmup_recount=True):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a torch.optim.Optimizer")
        self.optimizer = optimizer
        self.schedule = _check_schedule(dict(
            name=name, max_epoch=max_epoch, stepsize=stepsize, gamma=gamma, warmup_epoch=warmup_epoch,
            warmup_type=warmup_type, warmup_cons_lr=warmup_cons_lr, warmup_min_lr=warmup_min_lr,
            warmup_recount=warmup_recount,
        ))
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [float(group["initial_lr"]) for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    # -- the trace ---------------------------------------------------------------------------------

    def lr_at(self, epoch, base_lr):
        """Learning rate of ``epoch`` for a param group whose base lr is ``base_lr``."""
        sch = self.schedule
        warmup = sch["warmup_epoch"] if sch["warmup_epoch"] > 0 else 0
        if epoch < warmup:
            if sch["warmup_type"] == "constant":
                return sch["warmup_cons_lr"]
            return sch["warmup_min_lr"] if epoch == 0 else base_lr * epoch / warmup
        s0 = warmup if (warmup and not sch["warmup_recount"]) else 0
        lr = base_lr
        for s in range(s0 + 1, s0 + (epoch - warmup) + 1):
            lr = self._chained(lr, base_lr, s)
        return lr

    def _chained(self, lr, base_lr, s):
        """torch's update from the main schedule's epoch ``s - 1`` to ``s``."""
        sch = self.schedule
        if sch["name"] == "single_step":
            return lr * sch["gamma"] if s % sch["stepsize"] == 0 else lr
        if sch["name"] == "multi_step":
            hits = sch["stepsize"].count(s)
            return lr * sch["gamma"] ** hits if hits else lr
        T = float(sch["max_epoch"])
        if (s - 1 - T) % (2 * T) == 0:  # just past a minimum: torch adds instead of dividing by zero
            return lr + base_lr * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * s / T)) / (1 + math.cos(math.pi * (s - 1) / T)) * lr

    def get_lr(self):
        return [self.lr_at(self.last_epoch, base) for base in self.base_lrs]

    def _apply(self):
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    # -- torch-like API ----------------------------------------------------------------------------

    def step(self, epoch=None):
        """Advance one epoch (or jump to ``epoch``) and set the optimizer's lr."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        self._apply()

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        sch = dict(self.schedule)
        sch["stepsize"] = list(sch["stepsize"]) if isinstance(sch["stepsize"], (list, tuple)) else sch["stepsize"]
        return {
            "schedule": sch,
            "base_lrs": [float(b) for b in self.base_lrs],
            "last_epoch": int(self.last_epoch),
            "_last_lr": [float(x) for x in self._last_lr],
        }

    def load_state_dict(self, state_dict):
        """Restore a state from ``state_dict()``; also accepts a torch or Dassl scheduler's state."""
        if not isinstance(state_dict, dict) or "last_epoch" not in state_dict:
            raise ValueError(f"Not a scheduler state dict (no 'last_epoch'): {type(state_dict).__name__}")
        if "schedule" in state_dict:
            self.schedule = _check_schedule(dict(state_dict["schedule"]))
            epoch = int(state_dict["last_epoch"])
        else:
            epoch = self._epoch_from_foreign(state_dict)
        base_lrs = state_dict.get("base_lrs", self.base_lrs)
        if len(base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(
                f"Scheduler state has {len(base_lrs)} base lrs but the optimizer has "
                f"{len(self.optimizer.param_groups)} param groups; it belongs to another model or optimizer."
            )
        self.base_lrs = [float(b) for b in base_lrs]
        self.last_epoch = epoch
        self._apply()

    def _epoch_from_foreign(self, state):
        """Epoch count of a torch scheduler, or of Dassl's warmup wrapper (which stops counting at W)."""
        successor = state.get("successor")
        if successor is None:
            return int(state["last_epoch"])
        succ_last = successor["last_epoch"] if isinstance(successor, dict) else successor.last_epoch
        warmup = int(state.get("warmup_epoch", self.schedule["warmup_epoch"]))
        if state["last_epoch"] < warmup:
            return int(state["last_epoch"])
        s0 = 0 if self.schedule["warmup_recount"] else warmup
        return warmup + int(succ_last) - s0

    def __repr__(self):
        return f"EpochLRScheduler(epoch={self.last_epoch}, lr={self._last_lr}, {self.schedule})"


def _check_schedule(sch):
    """Validate and normalise the settings (single_step's step size resolved as Dassl does)."""
    name = sch["name"]
    if name not in AVAI_SCHEDS:
        raise ValueError(f'OPTIM.LR_SCHEDULER must be one of {list(AVAI_SCHEDS)}, but got "{name}".')
    sch["max_epoch"] = int(sch["max_epoch"])
    stepsize = sch["stepsize"]
    if name == "single_step":
        if isinstance(stepsize, (list, tuple)):
            if not stepsize:
                raise ValueError("OPTIM.STEPSIZE is empty; single_step needs one step size (<= 0 means MAX_EPOCH).")
            stepsize = stepsize[-1]
        if isinstance(stepsize, bool) or not isinstance(stepsize, int):
            raise TypeError(f"OPTIM.STEPSIZE for single_step must be an int, got {stepsize!r}.")
        if stepsize <= 0:
            stepsize = sch["max_epoch"]
        if stepsize <= 0:
            raise ValueError(f"single_step needs OPTIM.MAX_EPOCH > 0 when STEPSIZE <= 0, got {sch['max_epoch']}.")
        sch["stepsize"] = stepsize
    elif name == "multi_step":
        if not isinstance(stepsize, (list, tuple)) or not all(
                isinstance(m, int) and not isinstance(m, bool) for m in stepsize):
            raise TypeError(f"OPTIM.STEPSIZE for multi_step must be a list of int milestones, got {stepsize!r}.")
        sch["stepsize"] = list(stepsize)
    else:
        if sch["max_epoch"] <= 0:
            raise ValueError(f"cosine needs OPTIM.MAX_EPOCH > 0, got {sch['max_epoch']}.")
        sch["stepsize"] = list(stepsize) if isinstance(stepsize, (list, tuple)) else stepsize
    sch["gamma"] = float(sch["gamma"])
    sch["warmup_epoch"] = int(sch["warmup_epoch"])
    if sch["warmup_epoch"] > 0 and sch["warmup_type"] not in AVAI_WARMUPS:
        raise ValueError(f'OPTIM.WARMUP_TYPE must be one of {list(AVAI_WARMUPS)}, but got "{sch["warmup_type"]}".')
    sch["warmup_cons_lr"] = float(sch["warmup_cons_lr"])
    sch["warmup_min_lr"] = float(sch["warmup_min_lr"])
    sch["warmup_recount"] = bool(sch["warmup_recount"])
    return sch


def build_lr_scheduler(optimizer, optim_cfg, iters_per_epoch=None):
    """Build the scheduler described by Dassl's ``OPTIM`` node.

    By default it advances once per epoch (call ``step()`` at the end of each epoch), as in Dassl.
    With ``iters_per_epoch`` it advances once per iteration (``OPTIM.LR_STEP_UNIT iter``, as the
    released SHIP code's ``CosineAnnealingLR`` over all iterations): the same schedule with its
    epoch counts (``MAX_EPOCH``, ``STEPSIZE``, ``WARMUP_EPOCH``) multiplied by the iterations per epoch.
    """
    k = int(iters_per_epoch or 1)
    if k < 1:
        raise ValueError(f"iters_per_epoch must be >= 1, got {iters_per_epoch}.")
    stepsize = optim_cfg.STEPSIZE
    if k > 1:
        if isinstance(stepsize, (list, tuple)):
            stepsize = [int(m) * k if int(m) > 0 else int(m) for m in stepsize]
        elif int(stepsize) > 0:
            stepsize = int(stepsize) * k
    warmup = int(optim_cfg.WARMUP_EPOCH)
    return EpochLRScheduler(
        optimizer,
        name=optim_cfg.LR_SCHEDULER,
        max_epoch=int(optim_cfg.MAX_EPOCH) * k,
        stepsize=stepsize,
        gamma=optim_cfg.GAMMA,
        warmup_epoch=warmup * k if warmup > 0 else warmup,
        warmup_type=optim_cfg.WARMUP_TYPE,
        warmup_cons_lr=optim_cfg.WARMUP_CONS_LR,
        warmup_min_lr=optim_cfg.WARMUP_MIN_LR,
        warmup_recount=optim_cfg.WARMUP_RECOUNT,
    )
