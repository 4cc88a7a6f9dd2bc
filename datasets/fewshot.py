"""Few-shot sampling with CoOp's draws, cached in a portable JSON file.

Sampling: with python's ``random`` seeded by ``SEED`` (done by ``train.py`` before the dataset is
built), draw ``K`` images per class from train, then ``min(K, 4)`` per class from val, through the
engine's ``generate_fewshot_dataset``. For the same seed and shots the picks equal CoOp's.

Cache: ``<dataset_dir>/split_fewshot/shipclip_shot_<K>-seed_<S>-split_<hash>.json`` holding
``{"format", "version", "num_shots", "seed", "split_fingerprint", "train", "val"}`` with
``[relative image path, label, class name]`` triples (paths relative to the image folder). Unlike
CoOp's ``shot_<K>-seed_<S>.pkl`` it needs no engine class to read, survives moving the data
root, and its name carries a hash of the lists it was drawn from, so an edited split never
reuses stale picks. When the cache exists nothing is drawn (as in CoOp). An unseeded run
(``SEED < 0``) is never cached.
"""
import os
from collections import Counter

from shipclip.backend import mkdir_if_missing, read_json, write_json

from .layout import make_datum, relative_path
from .splits import split_fingerprint

__all__ = ["CACHE_FORMAT", "CACHE_VERSION", "VAL_SHOTS_MAX", "val_shots", "cache_path",
           "fewshot_train_val", "report_shortfall"]

CACHE_FORMAT = "shipclip-fewshot"
CACHE_VERSION = 1
VAL_SHOTS_MAX = 4


def val_shots(num_shots):
    """Validation shots for ``num_shots`` training shots (CoOp: at most 4)."""
    return min(num_shots, VAL_SHOTS_MAX)


def cache_path(cache_dir, num_shots, seed, fingerprint):
    """The cache file for ``num_shots`` and ``seed`` drawn from lists with ``fingerprint``."""
    return os.path.join(cache_dir, f"shipclip_shot_{num_shots}-seed_{seed}-split_{fingerprint[:16]}.json")


def report_shortfall(items, num_shots, part, lab2cname=None):
    """Print the classes of ``items`` with fewer than ``num_shots`` images; return them.

    Such classes keep all their images (CoOp's behaviour without ``repeat``), so the set is
    smaller than ``K`` per class; saying so avoids a silent imbalance.
    """
    counts = Counter(item.label for item in items)
    names = lab2cname or {item.label: item.classname for item in items}
    short = sorted(label for label, count in counts.items() if count < num_shots)
    if short:
        listed = ", ".join(f"{names.get(label, label)} ({counts[label]})" for label in short[:20])
        more = f", ... ({len(short) - 20} more)" if len(short) > 20 else ""
        print(
            f"Few-shot {part}: {len(short)} of {len(counts)} classes have fewer than {num_shots} "
            f"images; all their images are used: {listed}{more}"
        )
    return short


def _read_cache(path, num_shots, seed, fingerprint, image_dir, with_val):
    """The cached ``(train, val)``, or None (with a message) when the file does not fit."""
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        print(f"Ignoring unreadable few-shot cache {path} ({exc}); sampling again")
        return None
    expected = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "num_shots": num_shots, "seed": seed,
                "split_fingerprint": fingerprint}
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in expected.items()):
        print(f"Ignoring few-shot cache {path}: it was written for other settings; sampling again")
        return None
    print(f"Loading preprocessed few-shot data from {path}")

    def build(triples):
        return [make_datum(os.path.join(image_dir, rel), label, name, path) for rel, label, name in triples]

    return build(data["train"]), (build(data["val"]) if with_val else None)


def _write_cache(path, num_shots, seed, fingerprint, image_dir, train, val):
    """Write the cache atomically; a read-only data folder only costs the cache, not the run."""
    data = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "num_shots": num_shots,
        "seed": seed,
        "split_fingerprint": fingerprint,
        "train": [[relative_path(x.impath, image_dir), x.label, x.classname] for x in train],
        "val": None if val is None else [[relative_path(x.impath, image_dir), x.label, x.classname] for x in val],
    }
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        mkdir_if_missing(os.path.dirname(path))
        write_json(data, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        print(f"Could not write the few-shot cache {path} ({exc}); continuing without it")
        if os.path.exists(tmp):
            os.remove(tmp)
        return
    print(f"Saving preprocessed few-shot data to {path}")


def fewshot_train_val(train, val, *, num_shots, seed, cache_dir, image_dir, sample_fn, lab2cname=None):
    """``(train, val)`` reduced to ``num_shots`` per class (val: ``min(num_shots, 4)``), cached.

    ``val`` may be None (ImageNet samples train only). ``sample_fn`` is the dataset's
    ``generate_fewshot_dataset``. ``num_shots < 1`` returns the lists unchanged.
    """
    if num_shots < 1:
        return train, val
    report_shortfall(train, num_shots, "train", lab2cname)
    if val is not None:
        report_shortfall(val, val_shots(num_shots), "val", lab2cname)
    seed = int(seed)
    cached = seed >= 0
    if cached:
        fingerprint = split_fingerprint(image_dir, train, val)
        path = cache_path(cache_dir, num_shots, seed, fingerprint)
        if os.path.isfile(path):
            loaded = _read_cache(path, num_shots, seed, fingerprint, image_dir, val is not None)
            if loaded is not None:
                return loaded
    else:
        print(f"SEED is {seed} (unseeded): the {num_shots}-shot set is drawn at random and not cached")
    train = sample_fn(train, num_shots=num_shots)
    if val is not None:
        val = sample_fn(val, num_shots=val_shots(num_shots))
    if cached:
        _write_cache(path, num_shots, seed, fingerprint, image_dir, train, val)
    return train, val

