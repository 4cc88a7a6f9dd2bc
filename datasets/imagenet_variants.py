"""Shared reader of the four test-only ImageNet variants (no training images).

Like CoOp, the data list is both ``train_x`` and ``test`` (there is no val) and
``DATASET.NUM_SHOTS`` does not apply. ``DATASET.SUBSAMPLE_CLASSES`` follows the usual rule on the
variant's own label indexing (ImageNet-A/-R index their 200 classes 0..199).
"""
from .imagenet import ImageNetFolders, read_classnames
from .splits import label_names

__all__ = ["TestOnlyImageNet"]


class TestOnlyImageNet(ImageNetFolders):
    """Base class: subclasses implement ``read_data(classnames)``."""

    def __init__(self, cfg):
        self.locate(cfg)
        classnames = read_classnames(self.classnames_path())
        data = self.read_data(classnames)
        if int(cfg.DATASET.NUM_SHOTS) > 0:
            print(f"{self.name} is a test-only dataset: DATASET.NUM_SHOTS={cfg.DATASET.NUM_SHOTS} is ignored")
        self.finish(cfg, data, None, data, label_names(data, allow_duplicates=True), test_only=True)

    def read_data(self, classnames):
        raise NotImplementedError
