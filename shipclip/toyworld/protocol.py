"""The design protocol as code: which splits of which world a scoring tool may look at.

Choices are made on the design world (any split). A reported world's ``val`` and ``test`` images
are scored only to report results, so the scoring tools refuse them unless the caller says so
explicitly (``--allow-reported``), and then print a warning. Every world's ``design`` split is
open: no reported number uses it. A build that matches no named world counts as reported.
"""
import sys

from .data import SCORABLE_SPLITS, read_manifest
from .specs import identify, role_of_manifest

__all__ = ["ReportedSplitError", "world_of", "check_split"]


class ReportedSplitError(PermissionError):
    """A reported world's val/test split was requested without ``allow_reported``."""


def world_of(folder):
    """``(name, role)`` of the build in a dataset folder (``custom`` when it matches no named world)."""
    manifest = read_manifest(folder)
    spec = identify(manifest.get("world", {}), manifest.get("seed", -1))
    return (spec.name if spec is not None else "custom"), role_of_manifest(manifest)


def check_split(folder, split, allow_reported=False, warn=None):
    """Raise :class:`ReportedSplitError` when ``split`` of this build may not be looked at; returns the role."""
    if split not in SCORABLE_SPLITS:
        raise ValueError(f"Unknown ToyWorld split {split!r}; choose one of {', '.join(SCORABLE_SPLITS)}.")
    name, role = world_of(folder)
    if role != "reported" or split == "design":
        return role
    if not allow_reported:
        raise ReportedSplitError(
            f"The {split!r} split of ToyWorld {name!r} ({folder}) belongs to a reported world: its numbers are "
            "results, and no choice may be made on them (docs/TOYWORLD.md). Use the design world "
            "(--world design) or this world's 'design' split; pass --allow-reported only to report a number."
        )
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    warn(f"WARNING: scoring the {split!r} split of reported ToyWorld {name!r}. Report this number; do not "
         "choose anything (world, model, recipe, method) on it.")
    return role
