"""Trainer precision (CoOp's PREC: fp16 / fp32 / amp) made safe on every device.

CoOp keeps OpenAI's half-precision weights by default and uses CUDA-only autocast and
GradScaler; on a CPU that crashes ("slow_conv2d_cpu" not implemented for 'Half'). Here a
half-precision request on a device without CUDA falls back to fp32 with one warning, and the
mixed-precision helpers are the device-aware ``torch.amp`` ones.
"""
import contextlib
import warnings

import torch

__all__ = ["PRECISIONS", "resolve_precision", "autocast_dtype", "autocast", "make_grad_scaler",
           "clip_precision_for"]

PRECISIONS = ("fp32", "fp16", "amp")


def _device_type(device):
    if device is None:
        return "cpu"
    return torch.device(device).type


def resolve_precision(prec, device):
    """The precision that will actually run: ``fp16``/``amp`` need CUDA, else ``fp32`` (warned once)."""
    value = str(prec).strip().lower()
    if value not in PRECISIONS:
        raise ValueError(f"Precision (TRAINER.<NAME>.PREC) must be one of {', '.join(PRECISIONS)}, got {prec!r}")
    if value != "fp32" and _device_type(device) != "cuda":
        warnings.warn(
            f"PREC={value} needs a CUDA device; running in fp32 on {_device_type(device)} instead.",
            UserWarning,
            stacklevel=2,
        )
        return "fp32"
    return value


def autocast_dtype(prec, device):
    """Autocast dtype for ``amp`` on CUDA (bf16 where supported, else fp16); None otherwise."""
    if prec != "amp" or _device_type(device) != "cuda" or not torch.cuda.is_available():
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(prec, device):
    """Context for the forward pass: ``torch.amp.autocast`` for ``amp`` on CUDA, else a no-op."""
    dtype = autocast_dtype(prec, device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.amp.autocast("cuda", dtype=dtype)


def make_grad_scaler(prec, device):
    """A loss scaler when fp16 autocast runs (bf16 has fp32's range and needs none); else None."""
    if autocast_dtype(prec, device) == torch.float16:
        return torch.amp.GradScaler("cuda")
    return None


def clip_precision_for(prec, device=None):
    """The ``precision=`` for :func:`shipclip.clip.loader.load_clip`: fp16 weights only for ``fp16``.

    With ``device`` given, ``prec`` is resolved first (so fp16 on a CPU gives fp32 weights).
    """
    value = resolve_precision(prec, device) if device is not None else str(prec).strip().lower()
    if value not in PRECISIONS:
        raise ValueError(f"Precision must be one of {', '.join(PRECISIONS)}, got {prec!r}")
    return "fp16" if value == "fp16" else "fp32"
