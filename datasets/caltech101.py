"""Caltech-101 (100 classes): ``caltech-101/101_ObjectCategories`` + ``split_zhou_Caltech101.json``."""
from .benchmark import SplitDataset
from .splits import read_and_split_data
from .templates import CUSTOM_TEMPLATES

__all__ = ["Caltech101"]

IGNORED = ("BACKGROUND_Google", "Faces_easy")
NEW_CNAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}


class Caltech101(SplitDataset):
    """Split generation: class folders minus the background and duplicate-face folders, 50/20/30."""

    folder = "caltech-101"
    image_subdir = "101_ObjectCategories"
    split_file = "split_zhou_Caltech101.json"
    raw_files = ("101_ObjectCategories",)
    template = CUSTOM_TEMPLATES["Caltech101"]

    def generate_split(self):
        return read_and_split_data(self.image_dir, ignored=IGNORED, new_cnames=NEW_CNAMES,
                                   section=self.docs_section)
