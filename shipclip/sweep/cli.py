"""``python -m shipclip.sweep PROTOCOL [ARGS]``: what every protocol script runs.

Builds the grid of the protocol from its arguments and the scripts' environment, then either
prints the plan (DRY_RUN=1) or executes it with the launcher named by LAUNCHER, prints a summary,
and, when every run finished, the results table (``scripts/results.py``). Exit status: 0 when
every run finished, 1 when some failed (or an argument is wrong), 130 when interrupted.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

from .errors import SweepError
from .execute import BLOCKED, FAILED, Context, run_is_finished, skip_message
from .grid import show_cmd
from .launchers import get_launcher
from .protocols import PROTOCOLS, build_grid
from .report import Reporter, summary

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _say(text=""):
    print(text, flush=True)


def print_plan(grid, launcher, options, ctx):
    """DRY_RUN=1: every step as the serial script shows it, then the launcher's plan and the table call."""
    for run in grid.runs:
        _say(f"== {run.title}")
        _say(skip_message(run) if run_is_finished(run, ctx) else show_cmd(run.command(ctx.cwd)))
    for line in launcher.describe(grid, options, ctx):
        _say(line)
    _say(show_cmd(grid.table_command()))


def write_plan_json(grid, path):
    """SWEEP_PLAN=FILE: the grid as JSON (runs in order, each with its command and dependency)."""
    doc = {"protocol": grid.protocol, "output": grid.settings.output, "cwd": grid.settings.cwd,
           "table": grid.table_command(), "runs": [run.to_dict() for run in grid.runs]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def execute(grid, launcher, options, ctx):
    """Run the grid; summary; the table when every run finished. Returns the exit status."""
    reporter = Reporter(len(grid.runs), bar=launcher.PROGRESS_BAR and sys.stderr.isatty())
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops the runs as Ctrl-C does
    began = time.time()
    try:
        launcher.run(grid, options, ctx, reporter)
    except KeyboardInterrupt:
        reporter.close()
        for line in summary(reporter.outcomes, len(grid.runs), time.time() - began, interrupted=True):
            _say(line)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        reporter.close()
    for line in summary(reporter.outcomes, len(grid.runs), time.time() - began):
        _say(line)
    if any(o.status in (FAILED, BLOCKED) for o in reporter.outcomes):
        _say("The table is printed once every run finished.")
        return 1
    table = grid.table_command()
    _say(show_cmd(table))
    return subprocess.call(table, cwd=ctx.cwd)


def main(argv=None, env=None):
    parser = argparse.ArgumentParser(prog="python -m shipclip.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=REPO_ROOT, help="repository root (train.py, configs/, scripts/)")
    parser.add_argument("protocol", choices=sorted(PROTOCOLS), help="the protocol script's name")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the protocol script's arguments")
    ns = parser.parse_args(argv)
    env = dict(os.environ if env is None else env)
    try:
        grid = build_grid(ns.protocol, ns.args, env, ns.repo, echo=_say)
        launcher = get_launcher(env.get("LAUNCHER", ""))
        options = launcher.options_from_env(env)
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    ctx = Context(cwd=grid.settings.cwd, sweep_dir=grid.settings.sweep_dir)
    if env.get("SWEEP_PLAN"):
        write_plan_json(grid, env["SWEEP_PLAN"])
    try:
        if grid.settings.dry_run:
            print_plan(grid, launcher, options, ctx)
            return 0
        return execute(grid, launcher, options, ctx)
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
