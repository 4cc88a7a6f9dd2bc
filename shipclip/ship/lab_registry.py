"""Recognising a lab's trainers and registering ``SHIP+<Name>`` for them (see :mod:`shipclip.ship.lab_trainers`).

``import shipclip.plugin`` registers ``SHIP+<Name>`` for every lab trainer registered before it; our
``train.py`` makes the one it is asked for; :func:`ship_trainer` is the decorator for a lab's own file.
"""
from shipclip.ship.lab_contract import ShipContractError, contract_error, engine_classes, overrides
from shipclip.ship.lab_trainers import LabShipMixin

__all__ = ["SHIP_PREFIX", "is_lab_trainer", "ship_variant", "register_ship_for", "ship_trainer",
           "register_ship_variants", "ensure_ship_variant"]

SHIP_PREFIX = "SHIP+"


def _is_project_trainer(cls):
    return any(c.__module__.startswith(("shipclip.", "trainers.")) and c.__name__ == "ClipTrainer" for c in cls.__mro__)


def is_lab_trainer(cls):
    """A trainer SHIP+ can wrap: a TrainerX of the lab (not Dassl's own, not ours) with its own forward_backward."""
    _, _, trainer_x = engine_classes()
    return (isinstance(cls, type) and issubclass(cls, trainer_x) and not issubclass(cls, LabShipMixin)
            and not cls.__module__.startswith(("dassl.", "shipclip.")) and not _is_project_trainer(cls)
            and overrides(cls, "forward_backward"))


def ship_variant(base_cls):
    """A ``SHIP+<Name>`` subclass of the lab's trainer class ``base_cls`` (refused with the reason when it cannot be)."""
    name = getattr(base_cls, "__name__", repr(base_cls))
    _, _, trainer_x = engine_classes()
    if not (isinstance(base_cls, type) and issubclass(base_cls, trainer_x)):
        raise contract_error(name, 1, f"{name} is not a Dassl TrainerX of the engine that runs")
    if _is_project_trainer(base_cls):
        raise ShipContractError(f"{name} is one of this project's trainers: use SHIP_{name} (SHIP_CoOp, SHIP_CoCoOp, "
                                "SHIP_TipAdapter, SHIP_TipAdapterF) instead of SHIP+.")
    if issubclass(base_cls, LabShipMixin):
        return base_cls
    if not overrides(base_cls, "forward_backward"):
        raise contract_error(name, 1, f"{name} does not override forward_backward (it trains nothing SHIP could add to)")
    ship_name = SHIP_PREFIX + name
    return type(ship_name, (LabShipMixin, base_cls), {"__module__": __name__, "__qualname__": ship_name,
                                                      "SHIP_BASE": base_cls, "__doc__": f"SHIP on {name} (yours)."})


def register_ship_for(trainer, registry=None):
    """Register ``SHIP+<Name>`` for the lab's trainer ``trainer`` (a registered name or the class); return it."""
    from shipclip.backend import TRAINER_REGISTRY
    from shipclip.registration import register_class

    registry = registry or TRAINER_REGISTRY
    if isinstance(trainer, str):
        if trainer not in registry.registered_names():
            raise KeyError(f'No trainer named "{trainer}" is registered, so SHIP{"+"}{trainer} cannot be made. Import '
                           "the module that registers it first (before import shipclip.plugin).")
        trainer = registry.get(trainer)
    name = SHIP_PREFIX + trainer.__name__
    if name in registry.registered_names():
        return registry.get(name)
    cls = ship_variant(trainer)
    register_class(registry, name, cls)
    return cls


def ship_trainer(cls):
    """Decorator for a lab's trainer class (after its ``@TRAINER_REGISTRY.register()``): also registers SHIP+<Name>."""
    register_ship_for(cls)
    return cls


def register_ship_variants(registry=None):
    """``SHIP+<Name>`` for every registered trainer of the lab that :func:`is_lab_trainer` accepts; the new names."""
    from shipclip.backend import TRAINER_REGISTRY

    registry = registry or TRAINER_REGISTRY
    added = []
    for name in list(registry.registered_names()):
        cls = registry.get(name)
        if name == getattr(cls, "__name__", None) and is_lab_trainer(cls) and SHIP_PREFIX + name not in registry.registered_names():
            register_ship_for(cls, registry)
            added.append(SHIP_PREFIX + name)
    return added


def ensure_ship_variant(trainer_name, registry=None):
    """Make ``SHIP+<Name>`` available when ``trainer_name`` asks for it and ``<Name>`` is registered."""
    from shipclip.backend import TRAINER_REGISTRY

    registry = registry or TRAINER_REGISTRY
    name = str(trainer_name)
    if not name.startswith(SHIP_PREFIX) or name in registry.registered_names():
        return None
    base = name[len(SHIP_PREFIX):]
    if base not in registry.registered_names():
        raise KeyError(f'--trainer {name} asks for SHIP on your trainer "{base}", but no trainer named "{base}" is '
                       "registered. Import (or list in SHIPCLIP_EXTRA_MODULES) the module that registers it.")
    return register_ship_for(base, registry)
