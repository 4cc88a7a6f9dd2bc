"""Stanford Cars (196 models): ``stanford_cars/{cars_train,cars_test}`` + ``split_zhou_StanfordCars.json``."""
import os

from .benchmark import SplitDataset
from .layout import make_datum
from .matfiles import load_mat, mat_int, mat_list, mat_str
from .splits import split_trainval
from .templates import CUSTOM_TEMPLATES

__all__ = ["StanfordCars", "car_classname"]


def car_classname(meta_name):
    """Move the trailing year to the front: ``"Tesla Model S Sedan 2012"`` -> ``"2012 Tesla Model S Sedan"``."""
    words = meta_name.split(" ")
    return " ".join([words[-1]] + words[:-1])


class StanfordCars(SplitDataset):
    """Split paths start with ``cars_train/`` or ``cars_test/`` (relative to the dataset folder).

    Split generation: ``devkit/cars_train_annos.mat`` (80/20 train/val),
    ``cars_test_annos_withlabels.mat`` (test), names from ``devkit/cars_meta.mat``.
    """

    folder = "stanford_cars"
    image_subdir = ""
    split_file = "split_zhou_StanfordCars.json"
    raw_files = ("devkit/cars_train_annos.mat", "cars_test_annos_withlabels.mat", "devkit/cars_meta.mat")
    template = CUSTOM_TEMPLATES["StanfordCars"]

    def generate_split(self):
        meta = os.path.join(self.dataset_dir, "devkit", "cars_meta.mat")
        train_annos = os.path.join(self.dataset_dir, "devkit", "cars_train_annos.mat")
        test_annos = os.path.join(self.dataset_dir, "cars_test_annos_withlabels.mat")
        trainval = self.read_annotations("cars_train", train_annos, meta)
        test = self.read_annotations("cars_test", test_annos, meta)
        train, val = split_trainval(trainval)
        return train, val, test

    def read_annotations(self, image_folder, anno_path, meta_path):
        """One item per annotation record: ``fname`` in ``image_folder``, 1-based ``class``."""
        names = [car_classname(mat_str(n)) for n in mat_list(load_mat(meta_path)["class_names"])]
        items = []
        for record in mat_list(load_mat(anno_path)["annotations"]):
            label = mat_int(record["class"]) - 1
            impath = os.path.join(self.dataset_dir, image_folder, mat_str(record["fname"]))
            items.append(make_datum(impath, label, names[label], anno_path, self.docs_section))
        return items
