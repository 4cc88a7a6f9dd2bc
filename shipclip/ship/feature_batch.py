"""Image features standing in for images on their way through a lab's model (``SHIP+<Name>``, stage 2).

The lab's ``forward_backward`` puts ``batch["img"]`` through ``model.image_encoder``; a marked batch of
features passes through it unchanged, so the lab's loss covers real and synthesized rows alike.
"""
import torch

__all__ = ["FeatureBatch", "mark_features", "install_pass_through"]


class FeatureBatch(torch.Tensor):
    """A batch of image features standing in for images: the image encoder returns it unchanged.

    A ``torch.Tensor`` subclass, so it stays marked through ``.to()``/``.type()`` on its way from
    ``batch["img"]`` to ``model.image_encoder`` (no guessing from shapes).
    """


def mark_features(features):
    """``features`` [B, D] as a :class:`FeatureBatch`."""
    return features.detach().as_subclass(FeatureBatch)


def install_pass_through(encoder):
    """Make ``encoder`` return a :class:`FeatureBatch` unchanged (state dict keys are not touched)."""
    state = getattr(encoder, "_ship_pass_through", None)
    if state is not None:
        return state
    original = encoder.forward
    state = {"features": 0, "images": 0, "extra": None, "original": original}

    def forward(x, *args, **kwargs):
        if args or kwargs:
            state["extra"] = f"{len(args)} extra positional and {sorted(kwargs)} keyword input(s)"
        if isinstance(x, FeatureBatch):
            state["features"] += 1
            return x.as_subclass(torch.Tensor)
        state["images"] += 1
        return original(x, *args, **kwargs)

    encoder.forward = forward
    encoder._ship_pass_through = state
    return state
