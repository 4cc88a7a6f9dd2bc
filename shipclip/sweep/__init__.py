"""Sweeps: the grid of ``train.py`` calls behind every protocol script, and the launchers that run it.

``scripts/<protocol>.sh`` calls ``python -m shipclip.sweep <protocol> ARGS``:
:mod:`~shipclip.sweep.protocols` builds the grid (a list of :class:`~shipclip.sweep.grid.Run`,
each with its output folder, command and dependency), and the launcher named by ``LAUNCHER``
(:mod:`~shipclip.sweep.launchers`: serial, local, slurm) runs it. See docs/SWEEPS.md.
"""
from .errors import SweepError
from .grid import Grid, Run
from .launchers import LAUNCHERS, get_launcher
from .protocols import PROTOCOLS, build_grid

__all__ = ["Grid", "Run", "SweepError", "LAUNCHERS", "PROTOCOLS", "build_grid", "get_launcher"]
