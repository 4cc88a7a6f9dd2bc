"""Base classes for the benchmarks: CoOp's recipe, plus the class split every trainer needs.

``SplitDataset`` is CoOp's common recipe: read ``<dataset_dir>/<split_file>`` (or generate it from
the raw annotations and save it), draw the few-shot train/val sets (cached, see ``fewshot.py``),
apply ``DATASET.SUBSAMPLE_CLASSES`` (see ``subsample.py``). A new benchmark in CoOp's format only
sets a few class attributes::

    class MyData(SplitDataset):
        folder = "my_data"                  # under DATASET.ROOT
        image_subdir = "images"             # split paths are relative to this
        split_file = "split_MyData.json"
        template = "a photo of a {}."

Every dataset object exposes, besides Dassl's ``train_x``/``val``/``test``/``classnames``:
``all_classnames`` (every class, by original label), ``base_classnames`` and ``new_classnames``
(CoCoOp's halves), ``subsample`` (the active mode) and ``template``, so that a trainer fitted on the
base classes can still name the label-only (new) classes.
"""
import os

from shipclip.backend import DatasetBase

from .fewshot import fewshot_train_val
from .layout import DatasetLayoutError, dataset_root, docs_hint, require_dir
from .splits import label_names, read_split, save_split
from .subsample import check_subsample, class_split, subsample_classes

__all__ = ["BenchmarkDataset", "SplitDataset"]


class BenchmarkDataset(DatasetBase):
    """Locates the dataset under ``DATASET.ROOT`` and sets up the label space after loading."""

    folder = ""  # dataset folder under DATASET.ROOT
    image_subdir = ""  # image folder relative to the dataset folder ("" = the dataset folder)
    template = "a photo of a {}."  # CoOp's zero-shot template for this dataset
    section = ""  # section of DATASETS.md that describes the layout ("" = the class name)

    @property
    def name(self):
        return type(self).__name__

    @property
    def docs_section(self):
        return self.section or self.name

    def locate(self, cfg):
        """Set ``dataset_dir``, ``image_dir`` and ``split_fewshot_dir`` (absolute), checking they exist."""
        root = dataset_root(cfg)
        self.dataset_dir = require_dir(
            os.path.join(root, self.folder), f"{self.name}: dataset folder (DATASET.ROOT={root})",
            self.docs_section)
        image_dir = os.path.join(self.dataset_dir, self.image_subdir) if self.image_subdir else self.dataset_dir
        self.image_dir = require_dir(image_dir, f"{self.name}: image folder", self.docs_section)
        self.split_fewshot_dir = os.path.join(self.dataset_dir, "split_fewshot")

    def fewshot(self, cfg, train, val, lab2cname):
        """CoOp's K-shot train and min(K, 4)-shot val (``val`` may be None), through the cache."""
        return fewshot_train_val(
            train, val, num_shots=int(cfg.DATASET.NUM_SHOTS), seed=int(cfg.SEED),
            cache_dir=self.split_fewshot_dir, image_dir=self.image_dir,
            sample_fn=self.generate_fewshot_dataset, lab2cname=lab2cname)

    def finish(self, cfg, train, val, test, lab2cname, val_is_test=False, test_only=False):
        """Apply ``DATASET.SUBSAMPLE_CLASSES`` and initialise ``DatasetBase``.

        ``val_is_test``: val is the test list (ImageNet). ``test_only``: ``train`` is the test list
        too (the ImageNet variants, which have no training images).
        """
        mode = check_subsample(cfg.DATASET.SUBSAMPLE_CLASSES)
        self.subsample = mode
        self.all_classnames, self.base_classnames, self.new_classnames = class_split(lab2cname, train)
        if test_only:
            (train,) = subsample_classes(train, subsample=mode)
            super().__init__(train_x=train, test=train)
        elif val_is_test or val is None:
            train, test = subsample_classes(train, test, subsample=mode)
            super().__init__(train_x=train, val=test if val_is_test else None, test=test)
        else:
            train, val, test = subsample_classes(train, val, test, subsample=mode)
            super().__init__(train_x=train, val=val, test=test)


class SplitDataset(BenchmarkDataset):
    """A benchmark defined by a CoOp split file, generated from raw annotations when missing."""

    split_file = ""  # file name in the dataset folder; "" = read the raw annotations every time
    raw_files = ()  # paths (relative to the dataset folder) that ``generate_split`` needs

    def __init__(self, cfg):
        self.locate(cfg)
        self.split_path = os.path.join(self.dataset_dir, self.split_file) if self.split_file else ""
        train, val, test = self.read_lists()
        lab2cname = label_names(train, val, test, source=self.split_path or self.dataset_dir)
        train, val = self.fewshot(cfg, train, val, lab2cname)
        self.finish(cfg, train, val, test, lab2cname)

    def read_lists(self):
        """``(train, val, test)`` from the split file, else generated (and saved) from raw files."""
        if self.split_path and os.path.isfile(self.split_path):
            return read_split(self.split_path, self.image_dir, self.docs_section)
        raw = [os.path.join(self.dataset_dir, rel) for rel in self.raw_files]
        missing = [path for path in raw if not os.path.exists(path)]
        if missing or not raw:
            raise DatasetLayoutError(self._missing_split_message(missing))
        if self.split_path:
            print(f"{self.name}: {self.split_path} not found; generating a split from the raw annotations "
                  "(draws from the seeded random generator; the released split file is needed to "
                  "compare with published numbers)")
        train, val, test = self.generate_split()
        if self.split_path:
            try:
                save_split(train, val, test, self.split_path, self.image_dir)
            except OSError as exc:
                print(f"Could not save the generated split to {self.split_path} ({exc}); continuing")
        return train, val, test

    def generate_split(self):
        """Build ``(train, val, test)`` from the raw annotation files (dataset specific)."""
        raise NotImplementedError(f"{self.name} cannot generate its split from raw annotations.")

    def _missing_split_message(self, missing):
        listed = ", ".join(f'"{path}"' for path in missing)
        if not self.split_path:
            return f"{self.name}: annotation file(s) not found: {listed}. {docs_hint(self.docs_section)}"
        text = f'{self.name}: split file not found: expected "{self.split_path}".'
        if missing:
            text += f" It can also be generated from the raw annotations, but these are missing: {listed}."
        return f"{text} {docs_hint(self.docs_section)}"
