"""Where a trainer's data comes from (used under both engines).

* :mod:`.loaders`: :class:`DataPath`, the one loader factory (train/val/test loaders, image loaders
  for the cache build, augmented feature views for SHIP's stage 1 and the Tip-Adapter cache);
* :mod:`.sources`: images or cached features behind a loader; a cached batch says so (``feature`` key);
* :mod:`.feature_cache`: the on-disk cache of frozen image features and its keys.
"""
from .feature_cache import FeatureCache, cache_root, data_signature, feature_identity, file_identity
from .loaders import DataPath
from .sources import FEATURE_KEY, IMAGE_KEY, CachedFeatureDataset, batch_inputs, is_feature_batch

__all__ = ["DataPath", "FeatureCache", "CachedFeatureDataset", "cache_root", "data_signature", "feature_identity",
           "file_identity", "batch_inputs", "is_feature_batch", "FEATURE_KEY", "IMAGE_KEY"]
