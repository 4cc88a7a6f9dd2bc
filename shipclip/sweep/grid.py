"""The grid of a sweep: every ``train.py`` call of a protocol script, in order, with its dependency.

A :class:`Run` is one call: its output folder (which also names it), the command, and the run it
needs first (an eval-only step needs the folder its model is trained into). The order is the order
of the serial script; a dependency always comes earlier. Launchers only read this list.
"""
import os
import shlex
from dataclasses import asdict, dataclass, field
from typing import Optional

from .errors import SweepError
from .load_epoch import load_epoch_args


@dataclass(frozen=True)
class Run:
    name: str                      # output folder relative to OUTPUT: unique in a grid
    title: str                     # what the serial script prints before the step ("== <title>")
    output_dir: str                # --output-dir, as passed (relative to the calling folder or absolute)
    argv: tuple                    # the command, without --load-epoch
    tail: tuple = ()               # KEY VALUE overrides, after --load-epoch
    model_dir: Optional[str] = None  # eval-only step of a trained model: --load-epoch is read from it
    loadep: str = ""               # LOADEP (fixed epoch) when set
    depends_on: Optional[str] = None  # name of the run that trains model_dir, when it is in the grid

    def command(self, cwd="."):
        """The full command; an eval-only step's ``--load-epoch`` is read from its model now."""
        load = []
        if self.model_dir is not None:
            load = load_epoch_args(os.path.join(cwd, self.model_dir), self.loadep)
        return [*self.argv, *load, *self.tail]

    def to_dict(self):
        return asdict(self)


def show_cmd(argv):
    """A command the way a shell reads it back (the scripts' ``+ ...`` lines)."""
    return "+ " + " ".join(shlex.quote(str(a)) for a in argv)


def train_step(settings, *, out, title, seed, trainer, dataset_yaml, trainer_yaml, overrides=(),
               eval_only=False, model_dir=None, depends_on=None):
    """One ``train.py`` call with CoOp's command line (the old ``run_step`` of scripts/common.sh).

    ``eval_only`` without ``model_dir``: zero-shot evaluation; with ``model_dir``: evaluation of the
    model trained there. ``overrides`` and then OPTS go last.
    """
    argv = [settings.python, settings.train_py, "--root", settings.data, "--seed", str(seed), "--trainer", trainer,
            "--dataset-config-file", dataset_yaml, "--config-file", trainer_yaml, "--output-dir", out]
    if eval_only:
        argv.append("--eval-only")
        if model_dir is not None:
            argv += ["--model-dir", model_dir]
    elif model_dir is not None:
        raise ValueError("a training step loads no model_dir")
    name = os.path.relpath(os.path.join(settings.cwd, out), os.path.join(settings.cwd, settings.output))
    return Run(name=name.replace(os.sep, "/"), title=title, output_dir=out, argv=tuple(argv),
               tail=tuple(overrides) + tuple(settings.opts), model_dir=model_dir,
               loadep=settings.loadep if model_dir is not None else "", depends_on=depends_on)


def _identity(run):
    return run.argv, run.tail, run.model_dir, run.loadep, run.depends_on


@dataclass
class Grid:
    """The runs of one script call, and the table printed when they all finished."""
    protocol: str
    settings: object
    table_root: str
    table_args: tuple = ()
    runs: list = field(default_factory=list)

    def add(self, run):
        """Append a run; the same run twice (e.g. a target listed twice) is kept once."""
        for existing in self.runs:
            if existing.name == run.name:
                if _identity(existing) != _identity(run):
                    raise SweepError(f"two different runs write {run.output_dir}: give them distinct settings "
                                     f"(first: {shlex.join(existing.argv + existing.tail)}; "
                                     f"second: {shlex.join(run.argv + run.tail)}).")
                return existing
        if run.depends_on is not None and run.depends_on not in {r.name for r in self.runs}:
            raise ValueError(f"{run.name} depends on {run.depends_on}, which is not earlier in the grid")
        self.runs.append(run)
        return run

    def by_name(self):
        return {run.name: run for run in self.runs}

    def chains(self):
        """Runs grouped by dependency (a run with every run that needs it), in grid order.

        Chains are independent of each other: a Slurm array task runs one chain.
        """
        root_of = {}
        groups = {}
        for run in self.runs:
            root = root_of[run.depends_on] if run.depends_on is not None else run.name
            root_of[run.name] = root
            groups.setdefault(root, []).append(run)
        return list(groups.values())

    def table_command(self):
        s = self.settings
        return [s.python, s.results_py, self.table_root, *self.table_args]
