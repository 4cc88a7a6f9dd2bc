"""Base, new (label-only) and joint classes of any Dassl dataset: this project's or a lab's own.

SHIP needs the names of the classes it synthesizes features for, and ``TEST.JOINT`` needs the
joint label space. This project's datasets expose them (``base_classnames``/``new_classnames``,
GZSL ``seen_classnames``/``unseen_classnames``). A lab's CoOp dataset class only has Dassl's
``classnames`` of the current ``DATASET.SUBSAMPLE_CLASSES``, so for such a dataset the split is
derived from the dataset itself, by the rule its own ``SUBSAMPLE_CLASSES`` applies (CoCoOp's):
the labels of the *full* training list, sorted; base = the first ``ceil(n / 2)``, new = the rest.

When the dataset was built on ``base`` or ``new``, the full class list is only known after
rebuilding it through the active engine's ``build_dataset`` with ``SUBSAMPLE_CLASSES all`` and
``NUM_SHOTS -1`` (no few-shot sampling, no few-shot file written). The rebuild's own printed lines
are held back, every random generator is left exactly as it was, and the result is cached for the
process.
"""
import contextlib
import io
import math
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from shipclip.clip.prompts import clean_classname

__all__ = ["ClassSplit", "class_split", "new_classnames", "joint_classnames", "joint_class_sets",
           "build_full_dataset", "target_dataset_classnames", "resolve_dataset_config", "clear_cache",
           "read_classname_file", "requested_label_only", "label_only_classnames"]

_FULL_DATASETS = {}  # cache key -> dataset built with SUBSAMPLE_CLASSES all, NUM_SHOTS -1


@dataclass(frozen=True)
class ClassSplit:
    """Base and new class names (each in label order) and where they came from."""

    base: tuple
    new: tuple
    source: str

    @property
    def joint(self):
        """The joint label space: base classes first, then new ones (labels of new classes follow)."""
        return self.base + self.new


def clear_cache():
    """Forget the rebuilt datasets (tests; a process that changes its data on disk)."""
    _FULL_DATASETS.clear()


def _subsample_mode(cfg):
    return str(getattr(cfg.DATASET, "SUBSAMPLE_CLASSES", "all")).lower()


def _declared_split(dataset):
    for base_attr, new_attr in (("seen_classnames", "unseen_classnames"), ("base_classnames", "new_classnames")):
        base, new = getattr(dataset, base_attr, None), getattr(dataset, new_attr, None)
        if base is not None and new is not None:
            return ClassSplit(tuple(base), tuple(new), f"as listed by the dataset ({new_attr})")
    return None


def _rule_split(dataset):
    """CoCoOp's rule on a dataset holding every class: sorted training labels split at ceil(n / 2)."""
    lab2cname = dict(dataset.lab2cname)
    labels = sorted({int(item.label) for item in dataset.train_x})
    m = math.ceil(len(labels) / 2)
    return tuple(lab2cname[label] for label in labels[:m]), tuple(lab2cname[label] for label in labels[m:])


def class_split(cfg, dataset):
    """:class:`ClassSplit` of ``dataset`` (built from ``cfg``): declared by it, else derived."""
    declared = _declared_split(dataset)
    if declared is not None:
        return declared
    name = type(dataset).__name__
    if not all(hasattr(dataset, attr) for attr in ("lab2cname", "train_x", "classnames")):
        raise AttributeError(
            f"TEST.JOINT and TRAINER.SHIP.LABEL_ONLY new need the base and new classes of dataset {name}, which lists "
            "neither base_classnames/new_classnames nor seen_classnames/unseen_classnames and is not a Dassl dataset "
            "(train_x, lab2cname) they could be derived from. Give those attributes, or the label-only classes as a "
            "file (TRAINER.SHIP.LABEL_ONLY /path/to/names.txt)."
        )
    mode = _subsample_mode(cfg)
    if mode == "all":
        base, new = _rule_split(dataset)
        return ClassSplit(base, new, f"derived from its {len(base) + len(new)} classes by CoCoOp's base/new rule")
    full = build_full_dataset(cfg)
    base, new = _rule_split(full)
    own = [clean_classname(c) for c in dataset.classnames]
    expected = [clean_classname(c) for c in (base if mode == "base" else new)]
    if own != expected:
        raise ValueError(
            f"Dataset {name} was built with DATASET.SUBSAMPLE_CLASSES {mode}, but its classes {own[:5]}... are not the "
            f"{mode} half of its full class list by CoCoOp's rule ({expected[:5]}...). Its base/new split follows "
            "another rule: give the label-only classes as a file (TRAINER.SHIP.LABEL_ONLY /path/to/names.txt, one "
            "class per line), or give the dataset new_classnames and base_classnames attributes."
        )
    return ClassSplit(base, new, f"derived from its full class list ({len(base) + len(new)} classes) by CoCoOp's "
                                 "base/new rule")


def new_classnames(cfg, dataset):
    """The new (GZSL: unseen) classes of ``dataset``: the label-only classes of ``LABEL_ONLY new``."""
    return list(class_split(cfg, dataset).new)


def joint_classnames(cfg, dataset):
    """The joint label space used with ``TEST.JOINT``: base classes, then new ones."""
    return list(class_split(cfg, dataset).joint)


def joint_class_sets(cfg, dataset):
    """``(seen, unseen)`` class names for the joint (GZSL) metrics."""
    split = class_split(cfg, dataset)
    return list(split.base), list(split.new)


# ------------------------------------------------------------------------------------------------
# Rebuilding a dataset with every class


@contextlib.contextmanager
def _untouched_random_state():
    """Restore python's, numpy's and torch's generators afterwards: a rebuild draws nothing that counts."""
    py, np_state, torch_state = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.random.set_rng_state(torch_state)


def _same_kind(exc, message):
    """``exc``'s type with ``message`` when that type takes one string, else a RuntimeError."""
    try:
        return type(exc)(message)
    except Exception:
        return RuntimeError(message)


def resolve_dataset_config(target):
    """A dataset YAML path for ``target``: a ``.yaml`` path, or a key of this repository's ``configs/datasets``.

    Returns None when ``target`` is neither (it is then taken as a registered dataset name).
    """
    target = str(target)
    if target.endswith((".yaml", ".yml")):
        if not os.path.isfile(target):
            raise FileNotFoundError(f'Dataset config "{target}" (TRAINER.SHIP.TARGET_DATASET) does not exist.')
        return target
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "configs", "datasets", f"{target}.yaml")
    return path if os.path.isfile(path) else None


def build_full_dataset(cfg, target=None):
    """``cfg``'s dataset (or ``target``: a dataset YAML, a key of configs/datasets, or a registered name)
    built with ``SUBSAMPLE_CLASSES all`` and ``NUM_SHOTS -1``; cached per process."""
    from shipclip.backend import build_dataset

    full = cfg.clone()
    full.defrost()
    if target:
        yaml_path = resolve_dataset_config(target)
        if yaml_path is not None:
            full.merge_from_file(yaml_path)
        else:
            full.DATASET.NAME = str(target)
    if "SUBSAMPLE_CLASSES" in full.DATASET:
        full.DATASET.SUBSAMPLE_CLASSES = "all"
    full.DATASET.NUM_SHOTS = -1
    key = (os.path.abspath(os.path.expanduser(str(full.DATASET.ROOT))), full.DATASET.dump())
    if key not in _FULL_DATASETS:
        held = io.StringIO()
        try:
            with _untouched_random_state(), contextlib.redirect_stdout(held):
                _FULL_DATASETS[key] = build_dataset(full)
        except Exception as exc:
            printed = held.getvalue().strip().splitlines()[-5:]
            message = (f"Could not rebuild dataset {full.DATASET.NAME} with DATASET.SUBSAMPLE_CLASSES all to read its "
                       f"full class list: {exc}" + (f" (its last lines: {' | '.join(printed)})" if printed else ""))
            raise _same_kind(exc, message) from exc
    return _FULL_DATASETS[key]


def target_dataset_classnames(cfg, target):
    """Every class of the dataset ``target`` (``LABEL_ONLY all-target``) and its registry name."""
    dataset = build_full_dataset(cfg, target)
    declared = _declared_split(dataset)
    names = list(declared.joint) if declared is not None else list(getattr(dataset, "all_classnames", None)
                                                                      or dataset.classnames)
    yaml_path = resolve_dataset_config(target)
    name = type(dataset).__name__ if yaml_path is not None or not target else str(target)
    return names, name


# ------------------------------------------------------------------------------------------------
# TRAINER.SHIP.LABEL_ONLY


def read_classname_file(path):
    """Class names from a text file: one per line, blank lines and ``#`` comments ignored."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f'TRAINER.SHIP.LABEL_ONLY names the file "{path}", which does not exist. Give "new", '
            '"all-target", or the path of a text file with one class name per line.'
        )
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip() and not line.strip().startswith("#")]
    if not names:
        raise ValueError(f'The class-name file "{path}" (TRAINER.SHIP.LABEL_ONLY) has no class names.')
    seen, duplicates = set(), []
    for name in names:
        key = clean_classname(name).lower()
        if key in seen:
            duplicates.append(name)
        seen.add(key)
    if duplicates:
        raise ValueError(f'The class-name file "{path}" lists these names more than once: {duplicates[:10]}. '
                         "Remove the duplicates.")
    return names


def requested_label_only(cfg, dataset):
    """``(names, where they come from)`` as ``TRAINER.SHIP.LABEL_ONLY`` asks, before removing training classes.

    ``new``: the dataset's new (GZSL: unseen) classes, derived for a dataset that does not list them;
    ``all-target``: every class of ``TRAINER.SHIP.TARGET_DATASET``; anything else: a class-name file.
    """
    mode = str(cfg.TRAINER.SHIP.LABEL_ONLY)
    if mode == "new":
        split = class_split(cfg, dataset)
        return list(split.new), f"the new classes of {type(dataset).__name__}, {split.source}"
    if mode == "all-target":
        target = str(cfg.TRAINER.SHIP.TARGET_DATASET)
        if not target:
            raise ValueError("TRAINER.SHIP.LABEL_ONLY all-target needs TRAINER.SHIP.TARGET_DATASET (a dataset "
                             "name such as OxfordPets, or a dataset YAML such as configs/datasets/oxford_pets.yaml).")
        names, name = target_dataset_classnames(cfg, target)
        return names, f"the classes of target dataset {name}"
    return read_classname_file(mode), f'listed in "{mode}"'


def label_only_classnames(cfg, dataset, training_classnames, log=print):
    """The label-only classes: those ``LABEL_ONLY`` names that are not training classes (one log line)."""
    requested, source = requested_label_only(cfg, dataset)
    training = {clean_classname(c).lower() for c in training_classnames}
    names = [n for n in requested if clean_classname(n).lower() not in training]
    if log is not None:
        dropped = len(requested) - len(names)
        detail = f"; {dropped} of the {len(requested)} are training classes" if dropped else ""
        log(f"SHIP: {len(names)} label-only classes ({source}{detail})")
    return names
