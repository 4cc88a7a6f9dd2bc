"""Running the runs of a grid: skip a finished run, start ``train.py``, record how it ended.

Shared by every launcher (and by the Slurm array tasks on the compute nodes), so all of them
apply the same rules: a run whose results hold the final test evaluation
(:func:`shipclip.results.is_finished`) is skipped, an unfinished one is re-run in place (train.py
resumes from its last checkpoint), and a run whose dependency did not finish is not started.
"""
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Optional

from shipclip.results import is_finished

from .errors import SweepError
from .grid import show_cmd

SKIPPED, DONE, FAILED, BLOCKED = "skipped", "done", "failed", "blocked"
NOT_FINISHED = (FAILED, BLOCKED)


@dataclass(frozen=True)
class Context:
    """Where runs execute: the calling folder, and the launcher's folder ``<OUTPUT>/.sweep``."""
    cwd: str
    sweep_dir: str

    @property
    def log_root(self):
        """Captured consoles: ``<OUTPUT>/.sweep/logs/<run>.log`` (results.py skips dot-folders)."""
        return os.path.join(self.sweep_dir, "logs")

    def path(self, path):
        return os.path.join(self.cwd, path)

    def console_log(self, run):
        return os.path.join(self.log_root, *run.name.split("/")) + ".log"


@dataclass
class Outcome:
    name: str
    title: str
    output_dir: str
    status: str
    seconds: float = 0.0
    returncode: Optional[int] = None
    log: Optional[str] = None
    detail: str = ""


def outcome_of(run, status, **kw):
    return Outcome(run.name, run.title, run.output_dir, status, **kw)


def run_is_finished(run, ctx):
    return is_finished(ctx.path(run.output_dir))


def skip_message(run):
    return f"Skip: {run.output_dir} is finished (its results hold the final test evaluation)"


def resume_message(run, ctx):
    if os.path.isdir(ctx.path(run.output_dir)):
        return f"Resume: {run.output_dir} exists but is unfinished; re-running it in place"
    return None


def blocked(run, dependency):
    return outcome_of(run, BLOCKED, detail=f"it needs {dependency.output_dir}, which did not finish")


def newest_dassl_log(output_dir):
    """The log train.py wrote last in ``output_dir`` (Dassl names later logs ``log.txt-<time>``)."""
    try:
        names = os.listdir(output_dir)
    except OSError:
        return None
    stamped = sorted(n for n in names if n.startswith("log.txt-"))
    name = stamped[-1] if stamped else ("log.txt" if "log.txt" in names else None)
    return os.path.join(output_dir, name) if name else None


@dataclass
class Started:
    run: object
    proc: subprocess.Popen
    began: float
    log_path: Optional[str] = None
    log_file: object = None
    own_session: bool = False


def start(run, ctx, cmd, env_overrides=None, capture=False):
    """Start ``cmd`` for ``run``; with ``capture`` its console goes to :meth:`Context.console_log`.

    A captured run gets its own session, so a Ctrl-C reaches the launcher only, which then stops it.
    """
    env = dict(os.environ)
    env.update(env_overrides or {})
    if not capture:
        return Started(run, _popen(cmd, cwd=ctx.cwd, env=env), time.time())
    path = ctx.console_log(run)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    log_file = open(path, "w", encoding="utf-8")
    for key, value in sorted((env_overrides or {}).items()):
        log_file.write(f"{key}={value}\n")
    log_file.write(show_cmd(cmd) + "\n")
    log_file.flush()
    env.setdefault("TQDM_MININTERVAL", "30")  # progress bars update a log file twice a minute, not 10 times a second
    try:
        proc = _popen(cmd, cwd=ctx.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                      stderr=subprocess.STDOUT, start_new_session=True)
    except BaseException:
        log_file.close()
        raise
    return Started(run, proc, time.time(), path, log_file, own_session=True)


def _popen(cmd, **kwargs):
    """Popen; an interpreter that cannot be started stops the sweep (every run uses the same one)."""
    try:
        return subprocess.Popen(cmd, **kwargs)
    except OSError as exc:
        raise SweepError(f"cannot start {cmd[0]}: {exc.strerror}. Set PYTHON to a Python interpreter with this "
                         "project installed (and TRAIN_PY to its train.py).") from exc


def finish(started, ctx):
    """The outcome of a started run whose process has exited."""
    if started.log_file is not None:
        started.log_file.close()
    run, code = started.run, started.proc.returncode
    seconds = time.time() - started.began
    if code == 0 and run_is_finished(run, ctx):
        return outcome_of(run, DONE, seconds=seconds, returncode=0, log=started.log_path)
    detail = f"exit code {code}" if code != 0 else "exit code 0, but results.json holds no test evaluation"
    log = started.log_path or newest_dassl_log(ctx.path(run.output_dir))
    return outcome_of(run, FAILED, seconds=seconds, returncode=code, log=log, detail=detail)


def stop(started, grace_s=10.0):
    """Stop a run (SIGTERM, then SIGKILL after ``grace_s``); its checkpoints let a rerun resume it."""
    proc = started.proc
    if proc.poll() is None:
        try:
            if started.own_session:
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.terminate()
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if started.log_file is not None:
        started.log_file.close()


def run_sequence(runs, ctx, capture=False, env_overrides=None, on_run=None, on_launch=None, on_outcome=None):
    """Run ``runs`` one after the other; a run whose dependency failed is blocked, not started.

    ``on_run(run)`` is called first for every run, ``on_launch(run, cmd)`` just before a run starts,
    ``on_outcome(outcome)`` when it ended. Returns the outcomes in order.
    """
    outcomes = {}
    for run in runs:
        if on_run:
            on_run(run)
        dependency = outcomes.get(run.depends_on)
        if dependency is not None and dependency.status in NOT_FINISHED:
            outcome = blocked(run, dependency)
        elif run_is_finished(run, ctx):
            outcome = outcome_of(run, SKIPPED)
        else:
            cmd = run.command(ctx.cwd)
            if on_launch:
                on_launch(run, cmd)
            started = start(run, ctx, cmd, env_overrides, capture)
            try:
                started.proc.wait()
            except BaseException:
                stop(started)
                raise
            outcome = finish(started, ctx)
        outcomes[run.name] = outcome
        if on_outcome:
            on_outcome(outcome)
    return list(outcomes.values())
