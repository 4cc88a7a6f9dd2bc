"""Sizes read from a loaded model, and the check that the configured input size fits the backbone."""
import torch.nn as nn

from ..text import text_tower

__all__ = ["model_dims", "check_input_size"]


def _image_size(model):
    size = model.visual.image_size
    if isinstance(size, (tuple, list)):
        if len(set(int(s) for s in size)) != 1:
            raise ValueError(
                f"Backbone image size {tuple(size)} is not square; CoOp-style pipelines need square inputs."
            )
        size = size[0]
    return int(size)


def model_dims(model):
    """Sizes read from the model: embed_dim (D), text_width (W), vis_dim, image_size, context_length."""
    t = text_tower(model)
    proj = t.text_projection
    width = int(t.token_embedding.weight.shape[1])
    if proj is None:
        embed_dim = width
    elif isinstance(proj, nn.Linear):
        embed_dim = int(proj.out_features)
    else:
        embed_dim = int(proj.shape[1])
    return dict(embed_dim=embed_dim, text_width=width, vis_dim=int(model.visual.output_dim),
                image_size=_image_size(model), context_length=int(t.positional_embedding.shape[0]))


def check_input_size(cfg, model):
    """``INPUT.SIZE`` must be the backbone's image size (CoOp asserts the same); returns the size."""
    expected = _image_size(model)
    size = tuple(int(s) for s in cfg.INPUT.SIZE)
    if size != (expected, expected):
        raise ValueError(
            f"INPUT.SIZE is {list(size)} but backbone {cfg.MODEL.BACKBONE.NAME} takes {expected}x{expected} images. "
            f"Set INPUT.SIZE ({expected}, {expected}) in the config, or pick a backbone built for {list(size)}."
        )
    return expected
