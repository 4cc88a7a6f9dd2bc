"""Oxford Flowers-102: ``oxford_flowers/jpg`` + ``split_zhou_OxfordFlowers.json``."""
import os
import random
from collections import defaultdict

from shipclip.backend import read_json

from .benchmark import SplitDataset
from .layout import make_datum
from .matfiles import load_mat, mat_int, mat_list
from .templates import CUSTOM_TEMPLATES

__all__ = ["OxfordFlowers"]


class OxfordFlowers(SplitDataset):
    """Split generation: ``imagelabels.mat`` (1-based label of ``image_%05d.jpg``) and
    ``cat_to_name.json`` (names keyed by the 1-based label); per class 50/20/30."""

    folder = "oxford_flowers"
    image_subdir = "jpg"
    split_file = "split_zhou_OxfordFlowers.json"
    raw_files = ("imagelabels.mat", "cat_to_name.json")
    template = CUSTOM_TEMPLATES["OxfordFlowers"]

    def generate_split(self, p_trn=0.5, p_val=0.2):
        label_path = os.path.join(self.dataset_dir, "imagelabels.mat")
        names = read_json(os.path.join(self.dataset_dir, "cat_to_name.json"))
        by_label = defaultdict(list)  # 1-based label -> image paths, labels in first-appearance order
        for index, label in enumerate(mat_list(load_mat(label_path)["labels"])):
            by_label[mat_int(label)].append(os.path.join(self.image_dir, f"image_{index + 1:05d}.jpg"))
        train, val, test = [], [], []
        for label, paths in by_label.items():
            random.shuffle(paths)
            n_train, n_val = round(len(paths) * p_trn), round(len(paths) * p_val)
            if n_train < 1 or n_val < 1 or len(paths) - n_train - n_val < 1:
                raise ValueError(f"Flower class {label} has {len(paths)} image(s): too few to split 50/20/30.")
            classname = names[str(label)]
            for part, chunk in ((train, paths[:n_train]), (val, paths[n_train:n_train + n_val]),
                                (test, paths[n_train + n_val:])):
                part.extend(make_datum(p, label - 1, classname, label_path, self.docs_section) for p in chunk)
        return train, val, test
