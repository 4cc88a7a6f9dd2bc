"""The built-in default's preparation: render ToyWorld and pretrain (or reuse) its micro-CLIP.

Runs ``python -m shipclip.toyworld.prepare`` once, before the grid is built (the grid needs the
dataset root and the model files it prints). With DRY_RUN=1 the command is only printed.
"""
import subprocess
from dataclasses import dataclass

from .errors import SweepError
from .grid import show_cmd

KEYS = ("TOYWORLD_ROOT", "TOYWORLD_BACKBONE", "TOYWORLD_WEIGHTS")


@dataclass(frozen=True)
class ToyWorld:
    root: str
    backbone: str
    weights: str


def prepare_command(settings):
    cmd = [settings.python, "-m", "shipclip.toyworld.prepare"]
    if settings.data:
        cmd += ["--root", settings.data]
    return cmd + settings.env.get("TOYWORLD_ARGS", "").split()


def prepare(settings, echo=print):
    """Build whatever is missing; returns where the dataset and the micro-CLIP are."""
    cmd = prepare_command(settings)
    echo(show_cmd(cmd))
    if settings.dry_run:
        return ToyWorld(*(f"<{key}>" for key in KEYS))
    found = {}
    with subprocess.Popen(cmd, cwd=settings.cwd, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            echo(line.rstrip("\n"))
            key, sep, value = line.rstrip("\n").partition("=")
            if sep and key in KEYS:
                found[key] = value
    if proc.returncode != 0:
        raise SweepError(f"{' '.join(cmd)} failed with exit code {proc.returncode} (its output is above).")
    if not all(found.get(key) for key in KEYS):
        raise SweepError(f"{' '.join(cmd)} did not print the TOYWORLD_ROOT=, TOYWORLD_BACKBONE= and "
                         "TOYWORLD_WEIGHTS= lines.")
    return ToyWorld(*(found[key] for key in KEYS))
