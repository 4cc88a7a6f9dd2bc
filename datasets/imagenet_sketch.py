"""ImageNet-Sketch: ``imagenet-sketch/images/<wnid>/`` (1000 classes)."""
from .imagenet_variants import TestOnlyImageNet
from .templates import CUSTOM_TEMPLATES

__all__ = ["ImageNetSketch"]


class ImageNetSketch(TestOnlyImageNet):
    """Label = position of the wnid folder in sorted order."""

    folder = "imagenet-sketch"
    image_subdir = "images"
    template = CUSTOM_TEMPLATES["ImageNetSketch"]

    def read_data(self, classnames):
        return self.read_class_folders(self.image_dir, classnames)
