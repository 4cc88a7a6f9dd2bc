"""Food-101 (101 dishes): ``food-101/images`` + ``split_zhou_Food101.json``."""
from .benchmark import SplitDataset
from .splits import read_and_split_data
from .templates import CUSTOM_TEMPLATES

__all__ = ["Food101"]


class Food101(SplitDataset):
    """Split generation: class folders, 50/20/30."""

    folder = "food-101"
    image_subdir = "images"
    split_file = "split_zhou_Food101.json"
    raw_files = ("images",)
    template = CUSTOM_TEMPLATES["Food101"]

    def generate_split(self):
        return read_and_split_data(self.image_dir, section=self.docs_section)
