"""ImageNet-A (200 classes): ``imagenet-adversarial/imagenet-a/<wnid>/``."""
from .imagenet_variants import TestOnlyImageNet
from .templates import CUSTOM_TEMPLATES

__all__ = ["ImageNetA"]


class ImageNetA(TestOnlyImageNet):
    """Label = position of the wnid folder in sorted order (README.txt and other files skipped)."""

    folder = "imagenet-adversarial"
    image_subdir = "imagenet-a"
    template = CUSTOM_TEMPLATES["ImageNetA"]

    def read_data(self, classnames):
        return self.read_class_folders(self.image_dir, classnames)
