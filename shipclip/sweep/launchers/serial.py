"""LAUNCHER=serial (the default): one run after the other, its output on this terminal.

What the scripts always did: ``== <title>``, then ``Skip:`` or ``Resume:``/``+ <command>`` and the
run's own output. A failed run no longer stops the sweep: the runs that need it are not started,
the others still run, and the summary lists the failures.
"""
from ..execute import resume_message, run_sequence
from ..grid import show_cmd

PROGRESS_BAR = False


def options_from_env(env):
    return None


def describe(grid, options, ctx):
    return []


def run(grid, options, ctx, reporter):
    def on_run(run):
        reporter.say(f"== {run.title}")

    def on_launch(run, cmd):
        resume = resume_message(run, ctx)
        if resume:
            reporter.say(resume)
        reporter.say(show_cmd(cmd))

    run_sequence(grid.runs, ctx, capture=False, on_run=on_run, on_launch=on_launch, on_outcome=reporter.outcome)
