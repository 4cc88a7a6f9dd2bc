"""Where a dataset lives on disk, and the errors that say what is missing.

Every check names the path that was expected and points to the section of ``DATASETS.md`` that
describes the layout, so a wrong ``DATASET.ROOT`` or a half-copied dataset is explained at once
instead of failing later inside a data loader.
"""
import os

from shipclip.backend import Datum

__all__ = [
    "DOCS", "DatasetLayoutError", "docs_hint", "dataset_root", "require_dir", "require_file",
    "make_datum", "unchecked_datum", "relabel", "relative_path",
]

DOCS = "DATASETS.md"


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder, split file, annotation file or image is not where DATASETS.md puts it."""


def docs_hint(section):
    """The sentence that points a user to the layout description of one dataset."""
    if section:
        return f'See {DOCS}, section "{section}", for the expected layout and where to get the files.'
    return f"See {DOCS} for the expected layout and where to get the files."


def dataset_root(cfg):
    """``DATASET.ROOT`` as an absolute path; an empty root is an error, not the working directory."""
    root = str(cfg.DATASET.ROOT).strip()
    if not root:
        raise DatasetLayoutError(
            f'DATASET.ROOT is empty. Pass --root /path/to/data (or set DATASET.ROOT) to the folder that '
            f"holds the dataset folders. {docs_hint('')}"
        )
    return os.path.abspath(os.path.expanduser(root))


def require_dir(path, what, section):
    """Return ``path`` if it is a directory, else raise naming it."""
    if not os.path.isdir(path):
        raise DatasetLayoutError(f'{what} not found: expected the folder "{path}". {docs_hint(section)}')
    return path


def require_file(path, what, section):
    """Return ``path`` if it is a file, else raise naming it."""
    if not os.path.isfile(path):
        raise DatasetLayoutError(f'{what} not found: expected the file "{path}". {docs_hint(section)}')
    return path


def make_datum(impath, label, classname, source="", section=""):
    """A backend ``Datum`` whose missing image is reported with the file and where it was listed.

    Both engines check that the image exists (Dassl with a bare ``assert``); the check is done once,
    by the ``Datum`` itself, and only its failure is translated into a readable error.
    """
    try:
        return Datum(impath=impath, label=int(label), classname=classname)
    except (AssertionError, FileNotFoundError):
        listed = f' (listed in "{source}")' if source else ""
        raise DatasetLayoutError(
            f'Image not found: "{impath}"{listed}. The dataset copy is incomplete or DATASET.ROOT points '
            f"to another copy. {docs_hint(section)}"
        ) from None


def unchecked_datum(impath, label, classname):
    """A ``Datum`` for a file already known to exist (listed by ``os.scandir`` or checked before).

    Skips the per-file ``stat`` of the constructor: ImageNet has 1.28M training images, and
    re-checking items that were validated when first read is what made CoOp cache its lists.
    """
    try:
        return Datum(impath=impath, label=int(label), classname=classname, check_exists=False)
    except TypeError:  # Dassl's Datum has no switch: build it as unpickling would.
        item = Datum.__new__(Datum)
        item.__dict__.update(_impath=impath, _label=int(label), _domain=0, _classname=classname)
        return item


def relabel(item, label):
    """A copy of ``item`` with a new label; ``domain`` goes back to 0 as in CoCoOp's subsampling."""
    return unchecked_datum(item.impath, label, item.classname)


def relative_path(impath, prefix):
    """``impath`` relative to ``prefix`` with forward slashes (the split-file convention)."""
    head = prefix.rstrip(os.sep) + os.sep
    if impath.startswith(head) and os.sep + "." not in impath[len(head) - 1:]:
        rel = impath[len(head):]  # the common case, without relpath's normalisation cost
    else:
        rel = os.path.relpath(impath, prefix)
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            raise ValueError(f'Image "{impath}" is not inside the image folder "{prefix}".')
    return rel if os.sep == "/" else rel.replace(os.sep, "/")
