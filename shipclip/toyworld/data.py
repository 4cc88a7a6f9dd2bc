"""Read a built ToyWorld back: its manifest, class names and the images of one split.

The CoOp splits (``train``, ``val``, ``test``) come from ``split_zhou_ToyWorld.json``; the
``design`` split from ``design/split_design.json`` (see :mod:`shipclip.toyworld.build`).
"""
import json
import os

from .build import DATASET_FOLDER, DESIGN_FOLDER, DESIGN_SPLIT_FILE, MANIFEST_FILE, SPLIT_FILE, SPLITS

__all__ = ["SCORABLE_SPLITS", "dataset_dir", "read_manifest", "read_split", "classnames"]

SCORABLE_SPLITS = ("design",) + SPLITS


def dataset_dir(root):
    """``<root>/toyworld`` (``root`` is what ``prepare`` prints as TOYWORLD_ROOT)."""
    return os.path.join(os.path.abspath(os.path.expanduser(str(root))), DATASET_FOLDER)


def _load(path, what):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found ({what}). Build ToyWorld first: python -m shipclip.toyworld.prepare")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_manifest(folder):
    """The build's manifest (world, seed, counts, ...) of a dataset folder."""
    return _load(os.path.join(folder, MANIFEST_FILE), "the ToyWorld build manifest")


def read_split(folder, split):
    """``(paths, labels, classnames_of_rows)`` of one split; paths are absolute."""
    if split not in SCORABLE_SPLITS:
        raise ValueError(f"Unknown ToyWorld split {split!r}; choose one of {', '.join(SCORABLE_SPLITS)}.")
    if split == "design":
        rows = _load(os.path.join(folder, DESIGN_FOLDER, DESIGN_SPLIT_FILE), "the design split")["design"]
        image_dir = os.path.join(folder, DESIGN_FOLDER, "images")
    else:
        rows = _load(os.path.join(folder, SPLIT_FILE), "the CoOp split file")[split]
        image_dir = os.path.join(folder, "images")
    return ([os.path.join(image_dir, rel) for rel, _, _ in rows], [int(label) for _, label, _ in rows],
            [name for _, _, name in rows])


def classnames(folder):
    """Class names in label order, from the CoOp split file."""
    split = _load(os.path.join(folder, SPLIT_FILE), "the CoOp split file")
    names = {}
    for name in SPLITS:
        for _, label, classname in split[name]:
            names[int(label)] = classname
    return [names[k] for k in sorted(names)]
