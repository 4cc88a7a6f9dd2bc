"""ImageNet (1000 classes) and the folder readers its four test-only variants share.

Layout: ``imagenet/classnames.txt`` (``<wnid> <readable name>`` per line, CoOp's file: the names
change the prompts, so do not substitute another list) and ``imagenet/images/{train,val}/<wnid>/``.
Labels are positions in the sorted list of class folders; ILSVRC's validation images (50,000,
arranged in class folders) are the test set.

Validation split. CoOp sets ``val = test`` for ImageNet, so anything selected on "val" (Tip-Adapter's
alpha/beta, ``TEST.FINAL_MODEL best_val``) would be selected on the test images. Here val is drawn
from the *training* images instead, as the few-shot datasets draw theirs: after CoOp's K-shot draw
of train (unchanged, same picks as CoOp), ``min(K, 4)`` images per class are drawn from the training
images that were not picked (:class:`HeldOutValidation`, a private RNG seeded by ``SEED``, so the
draw is the same per seed and leaves python's global random stream as CoOp leaves it). Both lists
are cached together in the few-shot cache file. Train, val and test share no image. With
``NUM_SHOTS < 1`` (all training images) there is no image outside train and test to validate on
without changing CoOp's training set, so there is no val split: selection is refused with a clear
error (use ``TEST.FINAL_MODEL last_step`` and ``TRAINER.TIP.SEARCH_HP False``).

Differences from CoOp, both for speed and reproducibility: files are listed with ``os.scandir``
in sorted order (CoOp keeps the file system's order, so its ImageNet few-shot picks depend on
the machine), and listed files are not stat-ed again, which is why no ``preprocessed.pkl``
list cache is needed.
"""
import os
import random
from collections import OrderedDict

from tqdm import tqdm

from .benchmark import BenchmarkDataset
from .fewshot import fewshot_train_val, val_shots
from .layout import DatasetLayoutError, docs_hint, require_file, unchecked_datum
from .splits import label_names
from .templates import CUSTOM_TEMPLATES

__all__ = ["ImageNet", "ImageNetFolders", "HeldOutValidation", "read_classnames", "sorted_subfolders", "sorted_images"]


def read_classnames(path):
    """``OrderedDict`` wnid -> readable name from a ``classnames.txt`` (file order kept)."""
    classnames = OrderedDict()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(" ", 1)
            if len(parts) != 2 or not parts[1].strip():
                raise ValueError(f'"{path}" line {number}: expected "<wnid> <class name>", got {line!r}.')
            classnames[parts[0]] = parts[1].strip()
    return classnames


def sorted_subfolders(path):
    """Sorted names of the non-hidden sub-folders of ``path`` (files such as README.txt skipped)."""
    with os.scandir(path) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def sorted_images(path):
    """Sorted names of the non-hidden files in ``path``."""
    with os.scandir(path) as entries:
        return sorted(e.name for e in entries if e.is_file() and not e.name.startswith("."))


class ImageNetFolders(BenchmarkDataset):
    """Shared by ImageNet and its variants: ``classnames.txt`` and class-folder trees."""

    template = CUSTOM_TEMPLATES["ImageNet"]

    def classnames_path(self):
        """``classnames.txt`` in the dataset folder, else ImageNet's copy next to it."""
        own = os.path.join(self.dataset_dir, "classnames.txt")
        if os.path.isfile(own):
            return own
        shared = os.path.join(os.path.dirname(self.dataset_dir), "imagenet", "classnames.txt")
        if os.path.isfile(shared):
            return shared
        raise DatasetLayoutError(
            f'{self.name}: class-name file not found: expected "{own}" (CoOp\'s ImageNet classnames.txt; '
            f'"{shared}" is used when present). {docs_hint(self.docs_section)}'
        )

    def read_class_folders(self, split_dir, classnames, folders=None, desc=None):
        """Items of ``split_dir/<folder>/*`` with label = position in ``folders`` (default: sorted folders)."""
        folders = sorted_subfolders(split_dir) if folders is None else folders
        if not folders:
            raise DatasetLayoutError(
                f'{self.name}: no class folders in "{split_dir}". {docs_hint(self.docs_section)}')
        items = []
        for label, folder in enumerate(tqdm(folders, desc=desc or f"Listing {split_dir}", leave=False,
                                            disable=len(folders) < 200)):
            if folder not in classnames:
                raise ValueError(
                    f'{self.name}: folder "{os.path.join(split_dir, folder)}" is not listed in the class-name '
                    f"file. {docs_hint(self.docs_section)}")
            class_dir = os.path.join(split_dir, folder)
            if not os.path.isdir(class_dir):
                raise DatasetLayoutError(
                    f'{self.name}: class folder not found: "{class_dir}". {docs_hint(self.docs_section)}')
            classname = classnames[folder]
            items.extend(unchecked_datum(os.path.join(class_dir, name), label, classname)
                         for name in sorted_images(class_dir))
        return items


class HeldOutValidation:
    """The ``sample_fn`` of :func:`~.fewshot.fewshot_train_val` that gives ImageNet a validation split.

    ``fewshot_train_val(train, train, ...)`` calls it twice: first on the training list with K shots
    (delegated to ``draw_train``, CoOp's draw), then on the training list again with ``min(K, 4)``
    shots, which this draws per class (first-appearance order, all left-over images when fewer)
    from the images the first call did not pick, with ``random.Random(seed)`` (unseeded when
    ``seed < 0``, like an unseeded run's few-shot draw).
    """

    def __init__(self, draw_train, seed):
        self.draw_train = draw_train
        self.rng = random.Random(int(seed)) if int(seed) >= 0 else random.Random()
        self.picked = None

    def __call__(self, items, num_shots):
        if self.picked is None:
            picked = self.draw_train(items, num_shots=num_shots)
            self.picked = {item.impath for item in picked}
            return picked
        return self.draw_validation([item for item in items if item.impath not in self.picked], num_shots)

    def draw_validation(self, left_over, num_shots):
        groups = OrderedDict()
        for item in left_over:
            groups.setdefault(item.label, []).append(item)
        val, short = [], []
        for label, members in groups.items():
            if len(members) < num_shots:
                short.append(label)
            val.extend(self.rng.sample(members, num_shots) if len(members) >= num_shots else members)
        if short:
            print(f"ImageNet val: {len(short)} classes have fewer than {num_shots} training images left after the "
                  "few-shot draw; all of them are used")
        return val


class ImageNet(ImageNetFolders):
    """ILSVRC-2012: few-shot train, val drawn from the other training images, test = the 50,000 validation images."""

    folder = "imagenet"
    image_subdir = "images"
    template = CUSTOM_TEMPLATES["ImageNet"]

    def __init__(self, cfg):
        self.locate(cfg)
        classnames = read_classnames(require_file(os.path.join(self.dataset_dir, "classnames.txt"),
                                                  "ImageNet: class-name file", self.docs_section))
        train_dir = self.split_dir("train")
        val_dir = self.split_dir("val")
        self.check_val_layout(val_dir)
        train = self.read_class_folders(train_dir, classnames)
        test = self.read_class_folders(val_dir, classnames, folders=sorted_subfolders(train_dir))
        lab2cname = label_names(train, test, allow_duplicates=True)
        train, val = self.fewshot_with_validation(cfg, train, lab2cname)
        self.finish(cfg, train, val, test, lab2cname)

    def fewshot_with_validation(self, cfg, train, lab2cname):
        """CoOp's K-shot train and a ``min(K, 4)``-shot val from the remaining training images (cached together);
        all training images and no val when ``NUM_SHOTS < 1``."""
        num_shots = int(cfg.DATASET.NUM_SHOTS)
        if num_shots < 1:
            print("ImageNet with all training images: no validation split (nothing outside train and test to "
                  "validate on); selection on val is refused, the last epoch is used")
            return train, None
        sampler = HeldOutValidation(self.generate_fewshot_dataset, int(cfg.SEED))
        train, val = fewshot_train_val(train, train, num_shots=num_shots, seed=int(cfg.SEED),
                                       cache_dir=self.split_fewshot_dir, image_dir=self.image_dir,
                                       sample_fn=sampler, lab2cname=lab2cname)
        print(f"ImageNet val: {len(val)} training images ({val_shots(num_shots)} per class) not in the "
              f"{num_shots}-shot training set; test = the images in images/val")
        return train, val

    def split_dir(self, part):
        path = os.path.join(self.image_dir, part)
        if not os.path.isdir(path):
            raise DatasetLayoutError(f'ImageNet: folder not found: "{path}". {docs_hint(self.docs_section)}')
        return path

    def check_val_layout(self, val_dir):
        """The validation images must sit in class folders, like train (not flat as distributed)."""
        if not sorted_subfolders(val_dir) and sorted_images(val_dir):
            raise DatasetLayoutError(
                f'ImageNet: the validation images in "{val_dir}" are not arranged in class folders '
                f"(<wnid>/<image>.JPEG). Move them into class folders first. {docs_hint(self.docs_section)}")
