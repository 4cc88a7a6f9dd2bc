"""Oxford-IIIT Pets (37 breeds): ``oxford_pets/images`` + ``split_zhou_OxfordPets.json``."""
import os

from .benchmark import SplitDataset
from .layout import make_datum
from .splits import split_trainval
from .templates import CUSTOM_TEMPLATES

__all__ = ["OxfordPets"]


class OxfordPets(SplitDataset):
    """Split generation: ``annotations/trainval.txt`` (80/20 train/val) and ``annotations/test.txt``."""

    folder = "oxford_pets"
    image_subdir = "images"
    split_file = "split_zhou_OxfordPets.json"
    raw_files = ("annotations/trainval.txt", "annotations/test.txt")
    template = CUSTOM_TEMPLATES["OxfordPets"]

    def generate_split(self):
        trainval = self.read_annotations("trainval.txt")
        test = self.read_annotations("test.txt")
        train, val = split_trainval(trainval)
        return train, val, test

    def read_annotations(self, name):
        """Lines ``<image> <class id> <species> <breed id>``; class name = image name minus ``_<n>``."""
        path = os.path.join(self.dataset_dir, "annotations", name)
        items = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                imname, label = fields[0], int(fields[1]) - 1
                breed = "_".join(imname.split("_")[:-1]).lower()
                items.append(make_datum(os.path.join(self.image_dir, imname + ".jpg"), label, breed, path,
                                        self.docs_section))
        return items
