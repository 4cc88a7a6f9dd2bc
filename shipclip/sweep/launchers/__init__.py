"""Launchers, registry-driven: ``LAUNCHER=serial|local|slurm`` picks the module that executes a grid.

Each module provides ``options_from_env(env)`` (its settings, checked before anything runs),
``describe(grid, options, ctx)`` (the plan lines DRY_RUN=1 prints) and
``run(grid, options, ctx, reporter)`` (executes the grid, reporting every outcome), and says with
``PROGRESS_BAR`` whether run consoles are captured so a progress bar can be shown on a terminal.
"""
import importlib

from ..errors import SweepError

LAUNCHERS = {
    "serial": "shipclip.sweep.launchers.serial",
    "local": "shipclip.sweep.launchers.local",
    "slurm": "shipclip.sweep.launchers.slurm",
}
DEFAULT_LAUNCHER = "serial"


def get_launcher(name):
    """The launcher module for ``name`` (imported on demand: slurm needs the optional submitit)."""
    name = (name or DEFAULT_LAUNCHER).strip()
    if name not in LAUNCHERS:
        raise SweepError(f"LAUNCHER={name!r} is unknown; choose one of {', '.join(LAUNCHERS)}.")
    return importlib.import_module(LAUNCHERS[name])
