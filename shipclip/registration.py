"""Registers the project's trainers and datasets into the active engine's registries.

Trainer and dataset modules do not register themselves at import: a lab's own CoOp clone
already registers ``CoOp``, ``OxfordPets``... in Dassl's registries, and our SHIP trainers
subclass our baselines. Registration is therefore explicit and happens here:

* ``register_all()`` (our ``train.py``): every trainer and dataset; a name that is already
  taken by a different class raises, as Dassl does.
* ``register_plugin()`` (``import shipclip.plugin`` in a lab's ``train.py``): the same, but names
  already registered by the lab's code are kept (theirs win), and ``SHIP+<Name>`` is registered for
  each of the lab's own trainers (:mod:`shipclip.ship.lab_trainers`). One short line reports it;
  ``SHIPCLIP_REGISTRATION=full`` lists every name, ``SHIPCLIP_REGISTRATION=quiet`` prints nothing.
"""
import importlib
import os

from shipclip.backend import DATASET_REGISTRY, TRAINER_REGISTRY

__all__ = ["TRAINERS", "register_all", "register_plugin", "register_class", "resolve", "RegistrationReport",
           "REGISTRATION_ENV"]

REGISTRATION_ENV = "SHIPCLIP_REGISTRATION"

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


def _register(registry, name, cls, keep_existing, skipped, added=None):
    if name in registry.registered_names():
        existing = registry.get(name)
        if existing is cls:
            return
        if keep_existing:
            skipped.append(f"{name} (kept {existing.__module__}.{existing.__qualname__})")
            return
    register_class(registry, name, cls)
    if added is not None:
        added.append(name)


def register_class(registry, name, cls):
    """Register ``cls`` as ``name`` in a registry of either engine (Dassl's keys by ``__name__``)."""
    registry.register(cls, name=name) if _accepts_name(registry) else _register_renamed(registry, name, cls)


def _accepts_name(registry):
    import inspect

    return "name" in inspect.signature(registry.register).parameters


def _register_renamed(registry, name, cls):
    """Dassl's ``register`` keys by ``__name__``; our names equal the class names, so this is exact."""
    if cls.__name__ != name:
        raise ValueError(f"Cannot register {cls.__qualname__} as {name!r} in Dassl's registry (names differ)")
    registry.register(cls)


def _register_tables(keep_existing, trainer_names=None, dataset_names=None, added=None):
    skipped = []
    for name, target in TRAINERS.items():
        if trainer_names is None or name in trainer_names:
            _register(TRAINER_REGISTRY, name, resolve(target), keep_existing, skipped, added)
    for name, target in _dataset_table().items():
        if dataset_names is None or name in dataset_names:
            _register(DATASET_REGISTRY, name, resolve(target), keep_existing, skipped, added)
    return skipped


class RegistrationReport:
    """What ``register_plugin`` did: ``added`` (ours), ``kept`` (yours, ``"Name (kept module.Class)"``), ``ship``
    (the ``SHIP+<Name>`` made for your trainers)."""

    def __init__(self, added, kept, ship):
        self.added, self.kept, self.ship = list(added), list(kept), list(ship)

    def summary(self):
        """One line: counts, the SHIP+ names, and how to see the rest."""
        ship = f"; SHIP for your trainers: {', '.join(self.ship)}" if self.ship else ""
        hint = "" if os.environ.get(REGISTRATION_ENV, "").strip().lower() == "full" else \
            f" ({REGISTRATION_ENV}=full lists them)"
        return (f"shipclip: registered {len(self.added)} trainers/datasets{ship}; kept yours for {len(self.kept)} "
                f"names{hint}")

    def details(self):
        return [f"shipclip: added {', '.join(self.added) or '(none)'}",
                f"shipclip: kept yours: {', '.join(self.kept) or '(none)'}"]

    def __len__(self):  # the former return value was the list of kept names
        return len(self.kept)

    def __iter__(self):
        return iter(self.kept)


def register_all():
    """Register every trainer and dataset of the project (used by our ``train.py``)."""
    _register_tables(keep_existing=False)


def register_plugin(verbose=True):
    """Register next to a lab's own trainers/datasets, keeping theirs where names clash, and make
    ``SHIP+<Name>`` for each of the lab's trainers registered so far. Returns a :class:`RegistrationReport`."""
    from shipclip.ship.lab_registry import register_ship_variants

    added = []
    kept = _register_tables(keep_existing=True, added=added)
    report = RegistrationReport(added, kept, register_ship_variants(TRAINER_REGISTRY))
    mode = os.environ.get(REGISTRATION_ENV, "").strip().lower()
    if verbose and mode != "quiet":
        print(report.summary())
        if mode == "full":
            for line in report.details():
                print(line)
    return report
