"""ImageNet-R (200 classes): ``imagenet-rendition/imagenet-r/<wnid>/``."""
from .imagenet_variants import TestOnlyImageNet
from .templates import CUSTOM_TEMPLATES

__all__ = ["ImageNetR"]


class ImageNetR(TestOnlyImageNet):
    """Label = position of the wnid folder in sorted order (README.txt and other files skipped)."""

    folder = "imagenet-rendition"
    image_subdir = "imagenet-r"
    template = CUSTOM_TEMPLATES["ImageNetR"]

    def read_data(self, classnames):
        return self.read_class_folders(self.image_dir, classnames)
