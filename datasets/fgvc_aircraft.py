"""FGVC-Aircraft (100 variants): the ``data/`` folder of fgvc-aircraft-2013b as ``fgvc_aircraft``."""
import os

from .benchmark import SplitDataset
from .layout import make_datum
from .templates import CUSTOM_TEMPLATES

__all__ = ["FGVCAircraft"]


class FGVCAircraft(SplitDataset):
    """The official split, read every time: classes are the lines of ``variants.txt``; each
    ``images_variant_<split>.txt`` line is ``<image id> <variant name>``; images ``images/<id>.jpg``."""

    folder = "fgvc_aircraft"
    image_subdir = "images"
    split_file = ""
    raw_files = ("variants.txt", "images_variant_train.txt", "images_variant_val.txt", "images_variant_test.txt")
    template = CUSTOM_TEMPLATES["FGVCAircraft"]

    def generate_split(self):
        with open(os.path.join(self.dataset_dir, "variants.txt"), encoding="utf-8") as f:
            classnames = [line.strip() for line in f if line.strip()]
        cname2lab = {name: label for label, name in enumerate(classnames)}
        return tuple(self.read_list(f"images_variant_{part}.txt", cname2lab) for part in ("train", "val", "test"))

    def read_list(self, name, cname2lab):
        path = os.path.join(self.dataset_dir, name)
        items = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                fields = line.strip().split(" ")
                if not fields[0]:
                    continue
                classname = " ".join(fields[1:])
                if classname not in cname2lab:
                    raise ValueError(f'"{path}": variant "{classname}" is not listed in variants.txt.')
                items.append(make_datum(os.path.join(self.image_dir, fields[0] + ".jpg"), cname2lab[classname],
                                        classname, path, self.docs_section))
        return items
