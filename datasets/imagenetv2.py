"""ImageNet-V2 (matched frequency): ``imagenetv2/imagenetv2-matched-frequency-format-val/<label>/``."""
import os

from .imagenet_variants import TestOnlyImageNet
from .layout import DatasetLayoutError, docs_hint, unchecked_datum
from .imagenet import sorted_images
from .templates import CUSTOM_TEMPLATES

__all__ = ["ImageNetV2"]


class ImageNetV2(TestOnlyImageNet):
    """Folder ``str(L)`` holds class L; its name is line L of ``classnames.txt`` (file order)."""

    folder = "imagenetv2"
    image_subdir = "imagenetv2-matched-frequency-format-val"
    template = CUSTOM_TEMPLATES["ImageNetV2"]

    def read_data(self, classnames):
        names = list(classnames.values())
        items = []
        for label, classname in enumerate(names):
            class_dir = os.path.join(self.image_dir, str(label))
            if not os.path.isdir(class_dir):
                raise DatasetLayoutError(
                    f'ImageNetV2: class folder not found: "{class_dir}" (one folder per line of the '
                    f"class-name file, named 0..{len(names) - 1}). {docs_hint(self.docs_section)}")
            items.extend(unchecked_datum(os.path.join(class_dir, name), label, classname)
                         for name in sorted_images(class_dir))
        return items
