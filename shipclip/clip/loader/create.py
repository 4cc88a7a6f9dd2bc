"""Building an open_clip model without weights, quietly, and reading its activation.

open_clip logs "initialized randomly" for every model built without weights, even though the
loader fills them right after; that notice is dropped here. QuickGELU (OpenAI's activation) is
read from the built modules, so the log and ``clip_load_info`` say what the model really uses.
"""
import logging

from .names import open_clip_lib

__all__ = ["create_model", "uses_quick_gelu"]


def uses_quick_gelu(model):
    """Whether the model's transformers use OpenAI's QuickGELU activation."""
    quick = open_clip_lib().transformer.QuickGELU
    return any(isinstance(m, quick) for m in model.modules())


class _DropRandomInitNotice(logging.Filter):
    """open_clip logs 'initialized randomly' when built without weights, even though we load them next."""

    def filter(self, record):
        return "initialized randomly" not in str(record.msg)


def create_model(resolved, precision, quick_gelu, model_kwargs, device="cpu"):
    kwargs = dict(model_kwargs)
    if quick_gelu is not None:
        kwargs["quick_gelu"] = bool(quick_gelu)
    quiet = _DropRandomInitNotice()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        return open_clip_lib().create_model(resolved, pretrained=None, precision=precision, device=device, **kwargs)
    finally:
        root.removeFilter(quiet)
