"""Generalized zero-shot benchmarks on Xian et al.'s "proposed splits" (xlsa17): CUB, AWA2, SUN.

Inputs under ``DATASET.ROOT``: ``xlsa17/data/<CUB|AWA2|SUN>/res101.mat`` (``image_files``,
``labels`` 1-based into ``allclasses_names``) and ``att_splits.mat`` (``allclasses_names``,
``trainval_loc``, ``test_seen_loc``, ``test_unseen_loc``: 1-based rows of res101). The stored
image paths are absolute paths of the authors' machines; each is mapped onto the local image
folder by the part after its last anchor folder (``images`` for CUB and SUN, ``JPEGImages``
for AWA2).

Class order (deterministic): seen classes = the classes of ``trainval_loc``, unseen = those of
``test_unseen_loc``, each sorted by their index in ``allclasses_names``. Joint labels: seen
0..S-1, then unseen S..S+U-1.

Train/val: per seen class, the trainval images sorted by the SHA-1 of their relative path form a
fixed order; the first ``round(0.2 n)`` (at least 1, at most n-1) are the held-out val pool, the
rest the train pool. Then, as for every benchmark, ``NUM_SHOTS`` K draws K train images and
``min(K, 4)`` val images per class with the seeded ``random`` (cached in
``<dataset folder>/split_fewshot``). The pools do not depend on the seed or the Python version.

``DATASET.SUBSAMPLE_CLASSES`` picks the test set and the label space (``classnames``):
``base`` -> test_seen over the S seen classes; ``new`` -> test_unseen over the U unseen classes
(labels 0..U-1); ``all`` -> test_seen + test_unseen over the joint S+U classes (GZSL).
``test_seen`` / ``test_unseen`` are always available in the joint labelling. ``train_x`` and
``val`` always hold seen-class images with seen labels 0..S-1 (there are no labelled unseen
images; in ``new`` mode they are not in the label space and the mode is meant for evaluation).
"""
import hashlib
import os
import re
from collections import defaultdict

from shipclip.backend import DatasetBase

from .benchmark import BenchmarkDataset
from .layout import docs_hint, make_datum, relabel, relative_path, require_dir, require_file
from .matfiles import load_mat, mat_int, mat_list, mat_str
from .subsample import check_subsample
from .templates import CUSTOM_TEMPLATES

__all__ = ["GZSLDataset", "GZSL_CUB", "GZSL_AWA2", "GZSL_SUN", "gzsl_classname", "map_image_path",
           "holdout_split", "VAL_FRACTION"]

VAL_FRACTION = 0.2


def gzsl_classname(raw):
    """Readable name: ``"001.Black_footed_Albatross"`` -> ``"black footed albatross"``,
    ``"german+shepherd"`` -> ``"german shepherd"``, ``"airplane_cabin"`` -> ``"airplane cabin"``."""
    name = re.sub(r"^\d+\.", "", raw.strip())
    return " ".join(re.split(r"[_+\s]+", name)).strip().lower()


def map_image_path(stored, anchor, image_dir):
    """Map a foreign absolute path onto ``image_dir`` by what follows its last ``anchor`` folder."""
    parts = [p for p in stored.replace("\\", "/").split("/") if p]
    positions = [i for i, part in enumerate(parts[:-1]) if part == anchor]
    if not positions:
        raise ValueError(f'Stored image path "{stored}" has no "{anchor}/" folder to map onto "{image_dir}".')
    return os.path.join(image_dir, *parts[positions[-1] + 1:])


def holdout_split(items, image_dir, fraction=VAL_FRACTION):
    """``(train, val)`` pools: per label, the items with the smallest SHA-1 of relative path go to val.

    Order inside each pool follows ``items``; labels with a single image stay in train.
    """
    by_label = defaultdict(list)
    for index, item in enumerate(items):
        by_label[item.label].append(index)
    held = set()
    for indices in by_label.values():
        n = len(indices)
        n_val = min(max(round(n * fraction), 1), n - 1)
        key = {i: hashlib.sha1(relative_path(items[i].impath, image_dir).encode("utf-8")).hexdigest()
               for i in indices}
        held.update(sorted(indices, key=lambda i: key[i])[:n_val])
    train = [item for i, item in enumerate(items) if i not in held]
    val = [item for i, item in enumerate(items) if i in held]
    return train, val


class GZSLDataset(BenchmarkDataset):
    """Shared loader; subclasses set the xlsa17 name, folders, anchor and template."""

    xlsa_name = ""  # folder in xlsa17/data
    anchor = "images"  # last folder of the stored paths before the class folders

    def __init__(self, cfg):
        self.locate(cfg)
        mode = check_subsample(cfg.DATASET.SUBSAMPLE_CLASSES)
        split_dir = require_dir(os.path.join(os.path.dirname(self.dataset_dir), "xlsa17", "data", self.xlsa_name),
                                f"{self.name}: xlsa17 split folder", self.docs_section)
        res_path = require_file(os.path.join(split_dir, "res101.mat"), f"{self.name}: res101.mat", self.docs_section)
        att_path = require_file(os.path.join(split_dir, "att_splits.mat"), f"{self.name}: att_splits.mat",
                                self.docs_section)
        res = load_mat(res_path, variable_names=["image_files", "labels"])
        att = load_mat(att_path, variable_names=["allclasses_names", "trainval_loc", "test_seen_loc",
                                                 "test_unseen_loc"])
        for path, mat, keys in ((res_path, res, ("image_files", "labels")),
                                (att_path, att, ("allclasses_names", "trainval_loc", "test_seen_loc",
                                                 "test_unseen_loc"))):
            absent = [k for k in keys if k not in mat]
            if absent:
                raise ValueError(f'"{path}" lacks the variable(s) {absent}. {docs_hint(self.docs_section)}')

        files = [mat_str(x) for x in mat_list(res["image_files"])]
        labels = [mat_int(x) for x in mat_list(res["labels"])]  # 1-based class index
        names = [gzsl_classname(mat_str(x)) for x in mat_list(att["allclasses_names"])]
        if len(files) != len(labels):
            raise ValueError(f'"{res_path}": {len(files)} image_files but {len(labels)} labels.')
        if labels and not 1 <= min(labels) <= max(labels) <= len(names):
            raise ValueError(f'"{res_path}": labels must be 1-based indices into the {len(names)} '
                             f'allclasses_names of "{att_path}" (found {min(labels)}..{max(labels)}).')
        locs = {key: [mat_int(x) for x in mat_list(att[key])]
                for key in ("trainval_loc", "test_seen_loc", "test_unseen_loc")}
        for key, rows in locs.items():
            bad = [r for r in rows if not 1 <= r <= len(files)]
            if bad:
                raise ValueError(f'"{att_path}": {key} has rows outside 1..{len(files)} (e.g. {bad[0]}).')

        seen = sorted({labels[r - 1] for r in locs["trainval_loc"]})
        unseen = sorted({labels[r - 1] for r in locs["test_unseen_loc"]})
        overlap = set(seen) & set(unseen)
        stray = {labels[r - 1] for r in locs["test_seen_loc"]} - set(seen)
        if overlap or stray:
            raise ValueError(
                f'"{att_path}": inconsistent seen/unseen split (classes in both: {sorted(overlap)[:5]}, '
                f"test_seen classes without training images: {sorted(stray)[:5]}).")
        joint = {cls: label for label, cls in enumerate(seen + unseen)}

        def build(key):
            return [make_datum(map_image_path(files[r - 1], self.anchor, self.image_dir), joint[labels[r - 1]],
                               names[labels[r - 1] - 1], res_path, self.docs_section) for r in locs[key]]

        trainval, test_seen, test_unseen = build("trainval_loc"), build("test_seen_loc"), build("test_unseen_loc")
        n_seen = len(seen)
        self.seen_classnames = [names[c - 1] for c in seen]
        self.unseen_classnames = [names[c - 1] for c in unseen]
        self.all_classnames = self.seen_classnames + self.unseen_classnames
        self.base_classnames, self.new_classnames = self.seen_classnames, self.unseen_classnames
        self.test_seen, self.test_unseen = test_seen, test_unseen
        self.subsample = mode

        seen_lab2cname = dict(enumerate(self.seen_classnames))
        train, val = holdout_split(trainval, self.image_dir)
        train, val = self.fewshot(cfg, train, val, seen_lab2cname)

        if mode == "base":
            test, space = test_seen, self.seen_classnames
        elif mode == "new":
            test, space = [relabel(x, x.label - n_seen) for x in test_unseen], self.unseen_classnames
        else:
            test, space = test_seen + test_unseen, self.all_classnames
        DatasetBase.__init__(self, train_x=train, val=val, test=test)
        # The label space is that of the test list (train_x alone would give the seen classes only).
        self._lab2cname = dict(enumerate(space))
        self._classnames = list(space)
        self._num_classes = len(space)
        print(f"{self.name}: {len(self.seen_classnames)} seen + {len(self.unseen_classnames)} unseen classes; "
              f"SUBSAMPLE_CLASSES={mode}: test = {len(test)} images over {len(space)} classes")


class GZSL_CUB(GZSLDataset):
    """CUB-200-2011 birds: 150 seen / 50 unseen; images ``CUB/CUB_200_2011/images``."""

    xlsa_name = "CUB"
    folder = "CUB"
    image_subdir = "CUB_200_2011/images"
    anchor = "images"
    template = CUSTOM_TEMPLATES["GZSL_CUB"]


class GZSL_AWA2(GZSLDataset):
    """Animals with Attributes 2: 40 seen / 10 unseen; images ``AWA2/Animals_with_Attributes2/JPEGImages``."""

    xlsa_name = "AWA2"
    folder = "AWA2"
    image_subdir = "Animals_with_Attributes2/JPEGImages"
    anchor = "JPEGImages"
    template = CUSTOM_TEMPLATES["GZSL_AWA2"]


class GZSL_SUN(GZSLDataset):
    """SUN attribute scenes: 645 seen / 72 unseen; images ``SUN/images``."""

    xlsa_name = "SUN"
    folder = "SUN"
    image_subdir = "images"
    anchor = "images"
    template = CUSTOM_TEMPLATES["GZSL_SUN"]
