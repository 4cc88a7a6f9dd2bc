"""Describable Textures (47 textures): ``dtd/images`` + ``split_zhou_DescribableTextures.json``."""
from .benchmark import SplitDataset
from .splits import read_and_split_data
from .templates import CUSTOM_TEMPLATES

__all__ = ["DescribableTextures"]


class DescribableTextures(SplitDataset):
    """Split generation: class folders, 50/20/30."""

    folder = "dtd"
    image_subdir = "images"
    split_file = "split_zhou_DescribableTextures.json"
    raw_files = ("images",)
    template = CUSTOM_TEMPLATES["DescribableTextures"]

    def generate_split(self):
        return read_and_split_data(self.image_dir, section=self.docs_section)
