"""CLIP's frozen image tower with the dtype handling open_clip leaves to the caller."""
import torch
import torch.nn as nn

__all__ = ["ImageEncoder", "visual_dtype"]


def visual_dtype(visual):
    """Weight dtype of the image tower.

    Read from the stem convolution: ``next(visual.parameters())`` is ``class_embedding`` on a ViT,
    which stays fp32 when the rest of the tower is fp16.
    """
    conv1 = getattr(visual, "conv1", None)
    if conv1 is not None and hasattr(conv1, "weight"):
        return conv1.weight.dtype
    for p in visual.parameters():
        if p.dim() > 1:
            return p.dtype
    return torch.float32


class ImageEncoder(nn.Module):
    """``model.visual`` frozen in eval mode: images [B, 3, S, S] -> float32 features [B, D].

    open_clip's towers do not cast their input, so an fp16 tower given fp32 images raises; this
    wrapper casts to the tower's dtype and returns float32 (not normalised) features.
    ``train()`` never switches the tower to training: ResNet towers have BatchNorm layers whose
    running statistics would drift even with frozen weights.
    """

    def __init__(self, clip_model):
        super().__init__()
        self.visual = clip_model.visual
        self.visual.requires_grad_(False)
        self.visual.eval()

    @property
    def dtype(self):
        return visual_dtype(self.visual)

    @property
    def output_dim(self):
        return int(self.visual.output_dim)

    @property
    def image_size(self):
        size = self.visual.image_size
        return int(size[0]) if isinstance(size, (tuple, list)) else int(size)

    def train(self, mode=True):
        return super().train(False)

    def forward(self, images):
        return self.visual(images.to(self.dtype)).float()
