"""Measures of how synthesized features relate to real ones (pure tensor functions, no I/O).

All features are L2-normalised rows; ``labels`` are class indices; ``classes`` is the label space a
measure is taken in (e.g. the base half or the new half, as in the base-to-new protocol). Each
function returns one value per class of ``classes`` (a dict ``{class: value}``); :func:`group_mean`
averages them over a group of classes.
"""
import torch
import torch.nn.functional as F

__all__ = ["assignment_rates", "class_means", "cosine_to_classes", "within_class_spread", "cosine_to_rows",
           "group_mean"]


def _rows_of(labels, c):
    return (labels == int(c)).nonzero(as_tuple=True)[0]


def assignment_rates(features, labels, classifier, classes):
    """Per class c: how often a feature of class c is assigned to c by ``argmax_k <x, classifier[k]>``, k in ``classes``.

    ``classifier`` is [C, D] over all labels (zero-shot text features, or real class means). Classes
    without features are left out.
    """
    classes = [int(c) for c in classes]
    weights = classifier[classes]
    rates = {}
    for position, c in enumerate(classes):
        rows = _rows_of(labels, c)
        if len(rows):
            pred = (features[rows] @ weights.t()).argmax(dim=-1)
            rates[c] = float((pred == position).float().mean())
    return rates


def class_means(features, labels, num_classes):
    """Normalised mean feature per class [num_classes, D] (zeros for classes without features)."""
    means = torch.zeros(num_classes, features.shape[1], dtype=features.dtype)
    for c in range(num_classes):
        rows = _rows_of(labels, c)
        if len(rows):
            means[c] = F.normalize(features[rows].mean(dim=0), dim=0)
    return means


def cosine_to_classes(features, labels, real, real_labels, classes):
    """Per class c: mean cosine of its features to real features of c (``own``) and of the other classes (``other``).

    ``own`` averages over every (feature of c, real feature of c) pair; ``other`` averages, over the
    other classes c' of ``classes``, the same pair mean for c'. ``own_mean`` / ``other_mean`` do the
    same with the normalised real class means instead of the real features.
    """
    classes = [int(c) for c in classes]
    present = [k for k in classes if len(_rows_of(real_labels, k))]
    means = class_means(real, real_labels, max(classes) + 1)
    nan = float("nan")
    out = {}
    for c in classes:
        rows = _rows_of(labels, c)
        if not len(rows):
            continue
        feats = features[rows]
        to_real = {k: float((feats @ real[_rows_of(real_labels, k)].t()).mean()) for k in present}
        to_mean = {k: float((feats @ means[k]).mean()) for k in present}
        others = [k for k in present if k != c]
        out[c] = {
            "own": to_real.get(c, nan), "own_mean": to_mean.get(c, nan),
            "other": sum(to_real[k] for k in others) / len(others) if others else nan,
            "other_mean": sum(to_mean[k] for k in others) / len(others) if others else nan,
        }
    return out


def within_class_spread(features, labels, classes):
    """Per class: mean cosine between two different features of the class (1.0 = all identical: collapse),
    and mean cosine of a feature to the class's normalised centroid."""
    out = {}
    for c in (int(c) for c in classes):
        feats = features[_rows_of(labels, c)]
        n = feats.shape[0]
        if n < 2:
            continue
        gram = feats @ feats.t()
        pairwise = float((gram.sum() - gram.diagonal().sum()) / (n * (n - 1)))
        centroid = F.normalize(feats.mean(dim=0), dim=0)
        out[c] = {"pairwise": pairwise, "to_centroid": float((feats @ centroid).mean())}
    return out


def cosine_to_rows(features, labels, targets, classes):
    """Per class c: mean cosine of its features to ``targets[c]`` (e.g. the class's zero-shot text feature)."""
    out = {}
    for c in (int(c) for c in classes):
        rows = _rows_of(labels, c)
        if len(rows):
            out[c] = float((features[rows] @ targets[c]).mean())
    return out


def group_mean(per_class, classes, key=None):
    """Mean over ``classes`` present in ``per_class`` (of ``per_class[c][key]`` when ``key`` is given)."""
    values = [per_class[c] if key is None else per_class[c][key] for c in classes if c in per_class]
    return sum(values) / len(values) if values else float("nan")
