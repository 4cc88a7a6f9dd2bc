"""CoCoOp's base-to-new class split (``DATASET.SUBSAMPLE_CLASSES``: all / base / new).

The labels present in the training list are sorted; the first ``ceil(n / 2)`` are the base
classes, the rest the new ones. ``base`` or ``new`` keeps only those classes in every list and
relabels them from 0 in the same order. Few-shot sampling happens before this step, so a base
run trains on exactly the base-class part of the "all" run's K-shot set.
"""
import math

from .layout import relabel

__all__ = ["SUBSAMPLE_CHOICES", "check_subsample", "base_new_labels", "subsample_classes", "class_split"]

SUBSAMPLE_CHOICES = ("all", "base", "new")


def check_subsample(subsample):
    """Return the mode, or raise naming ``DATASET.SUBSAMPLE_CLASSES`` and the valid values."""
    mode = str(subsample).lower()
    if mode not in SUBSAMPLE_CHOICES:
        raise ValueError(
            f"DATASET.SUBSAMPLE_CLASSES is {subsample!r}; use one of {', '.join(SUBSAMPLE_CHOICES)}."
        )
    return mode


def base_new_labels(items):
    """``(base, new)``: the sorted labels of ``items`` split at ``ceil(n / 2)``."""
    labels = sorted({item.label for item in items})
    m = math.ceil(len(labels) / 2)
    return labels[:m], labels[m:]


def subsample_classes(*lists, subsample="all"):
    """Keep the base or new classes (decided by the first list) in every list, relabelled from 0.

    Returns a list with one entry per input list; ``"all"`` returns them unchanged.
    """
    mode = check_subsample(subsample)
    if mode == "all":
        return list(lists)
    base, new = base_new_labels(lists[0])
    selected = base if mode == "base" else new
    print(f"SUBSAMPLE {mode.upper()} CLASSES!")
    relabeler = {old: new_label for new_label, old in enumerate(selected)}
    output = []
    for items in lists:
        output.append([relabel(item, relabeler[item.label]) for item in items if item.label in relabeler])
    return output


def class_split(lab2cname, train):
    """``(all, base, new)`` class names, each ordered by original label.

    ``lab2cname`` covers every class of the dataset; base/new follow the rule on ``train``.
    """
    base, new = base_new_labels(train)
    return ([lab2cname[label] for label in sorted(lab2cname)], [lab2cname[label] for label in base],
            [lab2cname[label] for label in new])
