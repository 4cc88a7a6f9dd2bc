"""Optimizers with Dassl's config keys (``OPTIM.NAME``, ``LR``, ``WEIGHT_DECAY``, ``STAGED_LR``, ...).

The learning-rate schedules live in :mod:`shipclip.infra.schedulers` (used under both engines);
they are re-exported here under Dassl's names.
"""

import warnings

import torch
import torch.nn as nn

from shipclip.infra.schedulers import AVAI_SCHEDS, EpochLRScheduler, build_lr_scheduler  # noqa: F401  (Dassl's names)

__all__ = ["AVAI_OPTIMS", "AVAI_SCHEDS", "build_optimizer", "build_lr_scheduler", "EpochLRScheduler"]

AVAI_OPTIMS = ("adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw")


# ------------------------------------------------------------------------------------------------
# Optimizer


def _staged_param_groups(model, lr, new_layers, base_lr_mult):
    """Children named in ``new_layers`` at ``lr``; every other child at ``lr * base_lr_mult``."""
    if not isinstance(model, nn.Module):
        raise TypeError("OPTIM.STAGED_LR=True needs an nn.Module passed to build_optimizer(), not parameters.")
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    if isinstance(new_layers, str):
        new_layers = [new_layers]
    new_layers = list(new_layers)
    children = [name for name, _ in model.named_children()]
    unknown = [n for n in new_layers if n not in children]
    if unknown or not new_layers:
        raise ValueError(
            f"OPTIM.NEW_LAYERS={new_layers} must name children of the model; unknown: {unknown}. "
            f"Children are: {children}."
        )
    base_params, new_params = [], []
    for name, module in model.named_children():
        (new_params if name in new_layers else base_params).extend(module.parameters())
    return [{"params": base_params, "lr": lr * base_lr_mult}, {"params": new_params}]


def build_optimizer(model_or_params, optim_cfg, param_groups=None):
    """Build the optimizer named by ``optim_cfg.NAME`` (Dassl's ``OPTIM`` node).

    ``model_or_params`` is an ``nn.Module`` (all its parameters are optimized, as in Dassl) or an
    iterable of parameters / param-group dicts. ``param_groups`` overrides both.
    """
    name = str(optim_cfg.NAME).lower()
    if name not in AVAI_OPTIMS:
        raise ValueError(f'OPTIM.NAME must be one of {list(AVAI_OPTIMS)}, but got "{optim_cfg.NAME}".')
    lr = optim_cfg.LR
    weight_decay = optim_cfg.WEIGHT_DECAY
    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)

    if param_groups is not None and optim_cfg.STAGED_LR:
        warnings.warn("OPTIM.STAGED_LR is ignored because explicit param_groups were given.")
    if param_groups is None:
        if optim_cfg.STAGED_LR:
            param_groups = _staged_param_groups(model_or_params, lr, optim_cfg.NEW_LAYERS, optim_cfg.BASE_LR_MULT)
        elif isinstance(model_or_params, nn.Module):
            param_groups = list(model_or_params.parameters())
        else:
            param_groups = list(model_or_params)
    else:
        param_groups = list(param_groups)
    if not param_groups:
        raise ValueError("build_optimizer() got no parameters to optimize (empty model or parameter list).")

    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(param_groups, lr=lr, weight_decay=weight_decay, betas=betas,
                                amsgrad=name == "amsgrad")
    if name == "sgd":
        return torch.optim.SGD(param_groups, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=weight_decay,
                               dampening=optim_cfg.SGD_DAMPNING, nesterov=optim_cfg.SGD_NESTEROV)
    if name == "rmsprop":
        return torch.optim.RMSprop(param_groups, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=weight_decay,
                                   alpha=optim_cfg.RMSPROP_ALPHA)
    if name == "radam":
        return torch.optim.RAdam(param_groups, lr=lr, weight_decay=weight_decay, betas=betas)
    return torch.optim.AdamW(param_groups, lr=lr, weight_decay=weight_decay, betas=betas)
