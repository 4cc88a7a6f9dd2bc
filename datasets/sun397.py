"""SUN397 (397 scenes): ``sun397/SUN397`` + ``split_zhou_SUN397.json``."""
import os

from .benchmark import SplitDataset
from .layout import make_datum
from .splits import split_trainval
from .templates import CUSTOM_TEMPLATES

__all__ = ["SUN397", "sun_classname"]


def sun_classname(category):
    """``"a/apartment_building/outdoor"`` -> ``"outdoor apartment_building"`` (letter dropped, reversed)."""
    return " ".join(category.split("/")[1:][::-1])


class SUN397(SplitDataset):
    """Split generation: classes from ``ClassName.txt`` (label = line index), ``Training_01.txt``
    (80/20 train/val) and ``Testing_01.txt`` (test), all listing ``/a/abbey/...`` paths."""

    folder = "sun397"
    image_subdir = "SUN397"
    split_file = "split_zhou_SUN397.json"
    raw_files = ("ClassName.txt", "Training_01.txt", "Testing_01.txt")
    template = CUSTOM_TEMPLATES["SUN397"]

    def generate_split(self):
        with open(os.path.join(self.dataset_dir, "ClassName.txt"), encoding="utf-8") as f:
            categories = [line.strip().lstrip("/") for line in f if line.strip()]
        cname2lab = {category: label for label, category in enumerate(categories)}
        trainval = self.read_list("Training_01.txt", cname2lab)
        test = self.read_list("Testing_01.txt", cname2lab)
        train, val = split_trainval(trainval)
        return train, val, test

    def read_list(self, name, cname2lab):
        path = os.path.join(self.dataset_dir, name)
        items = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                imname = line.strip().lstrip("/")
                if not imname:
                    continue
                category = os.path.dirname(imname)
                if category not in cname2lab:
                    raise ValueError(
                        f'"{path}" lists "{line.strip()}", whose class "{category}" is not in ClassName.txt.')
                items.append(make_datum(os.path.join(self.image_dir, imname), cname2lab[category],
                                        sun_classname(category), path, self.docs_section))
        return items
