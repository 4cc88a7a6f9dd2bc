"""Split files in CoOp's format, and the two ways CoOp generates a split from raw data.

A split file (``split_zhou_<Name>.json``) is a JSON object with keys ``train``, ``val`` and
``test``, each a list of ``[relative image path, label, class name]`` triples; paths are relative
to the dataset's image folder. Generating a split draws from python's global ``random`` (as
CoOp does), so published results use the released split files, never regenerated ones.
"""
import hashlib
import os
import random
from collections import defaultdict

from shipclip.backend import listdir_nohidden, read_json, write_json

from .layout import DatasetLayoutError, docs_hint, make_datum, relative_path

__all__ = [
    "SPLIT_KEYS", "read_split", "save_split", "split_trainval", "read_and_split_data",
    "split_fingerprint", "label_names",
]

SPLIT_KEYS = ("train", "val", "test")


def read_split(filepath, path_prefix, section=""):
    """Read a CoOp split file into ``(train, val, test)`` lists of ``Datum``."""
    print(f"Reading split from {filepath}")
    try:
        split = read_json(filepath)
    except ValueError as exc:
        raise ValueError(
            f'Split file "{filepath}" is not valid JSON ({exc}). Download it again. {docs_hint(section)}'
        ) from None
    if not isinstance(split, dict) or any(key not in split for key in SPLIT_KEYS):
        found = sorted(split) if isinstance(split, dict) else type(split).__name__
        raise ValueError(
            f'Split file "{filepath}" must be a JSON object with keys {list(SPLIT_KEYS)}; found {found}.'
        )
    output = []
    for key in SPLIT_KEYS:
        items = []
        for index, entry in enumerate(split[key]):
            if not isinstance(entry, (list, tuple)) or len(entry) != 3:
                raise ValueError(
                    f'Split file "{filepath}": entry {index} of "{key}" is {entry!r}; expected '
                    "[relative image path, label, class name]."
                )
            rel, label, classname = entry
            items.append(make_datum(os.path.join(path_prefix, rel), label, classname, filepath, section))
        output.append(items)
    return tuple(output)


def _triples(items, path_prefix):
    return [[relative_path(item.impath, path_prefix), int(item.label), item.classname] for item in items]


def save_split(train, val, test, filepath, path_prefix):
    """Write ``(train, val, test)`` as a split file with paths relative to ``path_prefix``."""
    split = {"train": _triples(train, path_prefix), "val": _triples(val, path_prefix),
             "test": _triples(test, path_prefix)}
    write_json(split, filepath)
    print(f"Saved split to {filepath}")


def split_trainval(trainval, p_val=0.2):
    """Split a trainval list per label: a shuffled ``round(n * p_val)`` of each label goes to val.

    Labels are visited in first-appearance order and each label's indices are shuffled with the
    global ``random``, which is CoOp's order of draws.
    """
    print(f"Splitting trainval into {1 - p_val:.0%} train and {p_val:.0%} val")
    by_label = defaultdict(list)
    for index, item in enumerate(trainval):
        by_label[item.label].append(index)
    train, val = [], []
    for label, indices in by_label.items():
        n_val = round(len(indices) * p_val)
        if n_val < 1:
            raise ValueError(
                f"Label {label} has {len(indices)} trainval image(s): too few to hold out "
                f"{p_val:.0%} for validation."
            )
        random.shuffle(indices)
        for position, index in enumerate(indices):
            (val if position < n_val else train).append(trainval[index])
    return train, val


def read_and_split_data(image_dir, p_trn=0.5, p_val=0.2, ignored=(), new_cnames=None, section=""):
    """Split a folder-per-class tree: per class a shuffled 50% train, 20% val, rest test.

    Classes are the sorted folder names minus ``ignored`` (label = position); ``new_cnames`` renames
    some of them. Images are listed in sorted order before the shuffle so that the result depends
    only on the seed, not on the file system's listing order.
    """
    categories = sorted(c for c in listdir_nohidden(image_dir) if c not in set(ignored)
                        and os.path.isdir(os.path.join(image_dir, c)))
    if not categories:
        raise DatasetLayoutError(f'No class folders found in "{image_dir}". {docs_hint(section)}')
    new_cnames = new_cnames or {}
    train, val, test = [], [], []
    for label, category in enumerate(categories):
        category_dir = os.path.join(image_dir, category)
        images = [os.path.join(category_dir, name) for name in sorted(listdir_nohidden(category_dir))]
        random.shuffle(images)
        n_total = len(images)
        n_train = round(n_total * p_trn)
        n_val = round(n_total * p_val)
        if n_train < 1 or n_val < 1 or n_total - n_train - n_val < 1:
            raise ValueError(
                f'Class folder "{category_dir}" has {n_total} image(s): too few to split into '
                f"train/val/test ({p_trn:.0%}/{p_val:.0%}/rest)."
            )
        classname = new_cnames.get(category, category)
        for part, chunk in ((train, images[:n_train]), (val, images[n_train:n_train + n_val]),
                            (test, images[n_train + n_val:])):
            part.extend(make_datum(path, label, classname, category_dir, section) for path in chunk)
    return train, val, test


def split_fingerprint(path_prefix, *lists):
    """SHA-256 of the lists (relative paths, labels, class names, in order; None for no list).

    Keys the few-shot cache: the picks depend on exactly this content and order, and relative
    paths keep the key stable when the data root moves.
    """
    digest = hashlib.sha256()
    for items in lists:
        if items is None:
            digest.update(b"\x01none\x01")
            continue
        for item in items:
            rel = relative_path(item.impath, path_prefix)
            digest.update(f"{rel}\x00{int(item.label)}\x00{item.classname}\n".encode("utf-8"))
        digest.update(b"\x01end\x01")
    return digest.hexdigest()


def label_names(*lists, source="", allow_duplicates=False):
    """``{label: class name}`` over all lists; one label with two names means a broken split.

    Every class needs a non-empty name, distinct from the others once written as a prompt sees it
    (underscores as spaces, case ignored): two classes with the same prompt cannot be told apart.
    ``allow_duplicates`` only notes such pairs (CLIP's ImageNet names repeat two of them).
    """
    where = f' in "{source}"' if source else ""
    mapping = {}
    for items in lists:
        for item in items or ():
            name = mapping.setdefault(item.label, item.classname)
            if name != item.classname:
                raise ValueError(
                    f'Label {item.label} is named both "{name}" and "{item.classname}"{where}; '
                    "every label must have one class name."
                )
    owners = {}
    for label in sorted(mapping):
        name = mapping[label]
        key = " ".join(str(name).replace("_", " ").lower().split())
        if not key:
            raise ValueError(f"Label {label} has an empty class name ({name!r}){where}. Give every class a name: "
                             "CLIP classifies by the class names.")
        owners.setdefault(key, []).append(label)
    repeated = {key: labels for key, labels in owners.items() if len(labels) > 1}
    if repeated:
        listed = "; ".join(f'labels {", ".join(map(str, labels))} are all "{mapping[labels[0]]}"'
                           for labels in list(repeated.values())[:5])
        if not allow_duplicates:
            raise ValueError(f"Duplicated class names{where}: {listed}. Their prompts would be identical and "
                             "the classes impossible to tell apart; give each class a distinct name.")
        print(f"Note: duplicated class names{where}: {listed}; these classes share one prompt.")
    return mapping
