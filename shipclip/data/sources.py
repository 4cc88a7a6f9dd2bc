"""What a loader iterates: images through the engine's ``DatasetWrapper``, or cached image features.

A batch of cached features says so: its tensor is under ``"feature"`` (``[B, D]``, unnormalised),
never under ``"img"``, so a trainer never has to guess from a shape whether it holds images or
features (:func:`batch_inputs`). Both kinds keep the wrapper's other keys (``label``, ``domain``,
``impath``, ``index``), so code that reads labels or paths does not care which source ran.
"""
import torch
from torch.utils.data import Dataset

__all__ = ["FEATURE_KEY", "IMAGE_KEY", "CachedFeatureDataset", "batch_inputs", "is_feature_batch"]

FEATURE_KEY = "feature"
IMAGE_KEY = "img"


def is_feature_batch(batch):
    """True when the batch holds precomputed image features (a cached source), False for images."""
    return FEATURE_KEY in batch


def batch_inputs(batch):
    """``(kind, tensor)``: ``("feature", [B, D])`` from a cached source or ``("image", [B, 3, H, W])``."""
    if FEATURE_KEY in batch:
        return "feature", batch[FEATURE_KEY]
    if IMAGE_KEY in batch:
        return "image", batch[IMAGE_KEY]
    raise KeyError(f"A batch needs '{IMAGE_KEY}' (images) or '{FEATURE_KEY}' (cached features); got keys "
                   f"{sorted(batch)}.")


class CachedFeatureDataset(Dataset):
    """Items shaped like Dassl's wrapper, with ``feature`` = one cached view of the image.

    ``features`` is ``[V, N, D]``. ``set_epoch(e)`` picks the view of every item for epoch ``e``
    from a generator seeded by (seed, e), so an epoch's views do not depend on what ran before it.
    """

    def __init__(self, data_source, features, seed=0):
        if features.dim() != 3 or features.shape[1] != len(data_source):
            raise ValueError(f"Cached features must be [views, {len(data_source)}, D], got {tuple(features.shape)}.")
        self.data = data_source
        self.features = features
        self.seed = int(seed)
        self.set_epoch(0)

    def set_epoch(self, epoch):
        g = torch.Generator().manual_seed(self.seed * 100003 + int(epoch))
        self.view_of = torch.randint(self.features.shape[0], (len(self.data),), generator=g)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        item = self.data[i]
        return {FEATURE_KEY: self.features[self.view_of[i], i], "label": item.label, "domain": item.domain,
                "impath": item.impath, "index": i}
