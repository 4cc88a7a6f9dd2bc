"""Registers the project's trainers and datasets into the active engine's registries.

Trainer and dataset modules do not register themselves at import: a lab's own CoOp clone
already registers ``CoOp``, ``OxfordPets``... in Dassl's registries, and our SHIP trainers
subclass our baselines. Registration is therefore explicit and happens here:

* ``register_all()`` (our ``train.py``): every trainer and dataset; a name that is already
  taken by a different class raises, as Dassl does.
* ``register_plugin()`` (``import shipclip.plugin`` in a lab's ``train.py``): the same, but names
  already registered by the lab's code are kept (theirs win) and reported once.
"""
import importlib

from shipclip.backend import DATASET_REGISTRY, TRAINER_REGISTRY

__all__ = ["TRAINERS", "register_all", "register_plugin", "resolve"]

# registry name -> "module:Class". Order = order of `--help`-style listings.
TRAINERS = {
    "ZeroshotCLIP": "shipclip.trainers.zsclip:ZeroshotCLIP",
    "ZeroshotCLIP2": "shipclip.trainers.zsclip:ZeroshotCLIP2",
    "CoOp": "shipclip.trainers.coop:CoOp",
    "CoCoOp": "shipclip.trainers.cocoop:CoCoOp",
    "TipAdapter": "shipclip.trainers.tip_adapter:TipAdapter",
    "TipAdapterF": "shipclip.trainers.tip_adapter:TipAdapterF",
    "SHIP_CoOp": "shipclip.trainers.ship:SHIP_CoOp",
    "SHIP_CoCoOp": "shipclip.trainers.ship:SHIP_CoCoOp",
    "SHIP_TipAdapter": "shipclip.trainers.ship:SHIP_TipAdapter",
    "SHIP_TipAdapterF": "shipclip.trainers.ship:SHIP_TipAdapterF",
}

# Names a lab's CoOp clone already provides; the plugin does not need ours for them.
COOP_TRAINER_NAMES = ("ZeroshotCLIP", "ZeroshotCLIP2", "CoOp", "CoCoOp")


def resolve(target):
    """Import ``"module:Class"`` and return the class."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _dataset_table():
    from shipclip.datasets import DATASETS

    return DATASETS


def _register(registry, name, cls, keep_existing, skipped):
    if name in registry.registered_names():
        existing = registry.get(name)
        if existing is cls:
            return
        if keep_existing:
            skipped.append(f"{name} (kept {existing.__module__}.{existing.__qualname__})")
            return
    registry.register(cls, name=name) if _accepts_name(registry) else _register_renamed(registry, name, cls)


def _accepts_name(registry):
    import inspect

    return "name" in inspect.signature(registry.register).parameters


def _register_renamed(registry, name, cls):
    """Dassl's ``register`` keys by ``__name__``; our names equal the class names, so this is exact."""
    if cls.__name__ != name:
        raise ValueError(f"Cannot register {cls.__qualname__} as {name!r} in Dassl's registry (names differ)")
    registry.register(cls)


def _register_tables(keep_existing, trainer_names=None, dataset_names=None):
    skipped = []
    for name, target in TRAINERS.items():
        if trainer_names is None or name in trainer_names:
            _register(TRAINER_REGISTRY, name, resolve(target), keep_existing, skipped)
    for name, target in _dataset_table().items():
        if dataset_names is None or name in dataset_names:
            _register(DATASET_REGISTRY, name, resolve(target), keep_existing, skipped)
    return skipped


def register_all():
    """Register every trainer and dataset of the project (used by our ``train.py``)."""
    _register_tables(keep_existing=False)


def register_plugin(verbose=True):
    """Register next to a lab's own trainers/datasets, keeping theirs where names clash."""
    skipped = _register_tables(keep_existing=True)
    if skipped and verbose:
        print("shipclip: already registered by your code, kept yours: " + ", ".join(skipped))
    return skipped
