"""LAUNCHER=local WORKERS=N [GPUS="0 1 ..."]: N runs at a time on this machine.

A run starts as soon as a worker is free and the run it needs (its training step) has finished;
runs start in grid order. With GPUS, worker ``i`` runs on GPU ``GPUS[i % len(GPUS)]``
(``CUDA_VISIBLE_DEVICES``); without, the CPU cores are divided between the workers
(``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` = cores // workers, at least 1) unless
OMP_NUM_THREADS is already set. Each run's console goes to ``<OUTPUT>/.sweep/logs/<run>.log``.
"""
import os
import time
from dataclasses import dataclass

from ..errors import SweepError
from ..execute import NOT_FINISHED, SKIPPED, blocked, finish, outcome_of, resume_message, run_is_finished, start, stop

PROGRESS_BAR = True
POLL_S = 0.2


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class LocalOptions:
    workers: int
    gpus: tuple = ()
    threads: int = 0  # per-run OMP/MKL threads set by the launcher (0: left alone)
    cores: int = 1

    def slot_env(self, slot):
        """Environment of the run started on worker ``slot``."""
        if self.gpus:
            return {"CUDA_VISIBLE_DEVICES": self.gpus[slot % len(self.gpus)]}
        if self.threads:
            return {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        return {}


def options_from_env(env):
    gpus = tuple(env.get("GPUS", "").replace(",", " ").split())
    raw = env.get("WORKERS", "").strip()
    if raw:
        try:
            workers = int(raw)
        except ValueError:
            workers = 0
        if workers < 1:
            raise SweepError(f"WORKERS={raw!r} is not a positive whole number: set WORKERS to how many runs may "
                             "run at once.")
    else:
        workers = len(gpus) or 1
    cores = available_cores()
    threads = 0 if gpus or env.get("OMP_NUM_THREADS") else max(1, cores // workers)
    return LocalOptions(workers=workers, gpus=gpus, threads=threads, cores=cores)


def describe(grid, options, ctx):
    lines = [f"Launcher local: {options.workers} run(s) at a time; consoles in {ctx.log_root}/<run>.log"]
    if options.gpus:
        pinning = ", ".join(f"worker {i}: GPU {options.gpus[i % len(options.gpus)]}" for i in range(options.workers))
        lines.append(f"Each run sees one GPU through CUDA_VISIBLE_DEVICES ({pinning}).")
    elif options.threads:
        lines.append(f"No GPUS given: each run gets OMP_NUM_THREADS=MKL_NUM_THREADS={options.threads} "
                     f"({options.cores} CPU cores / {options.workers} workers).")
    else:
        lines.append("No GPUS given; OMP_NUM_THREADS is set in the environment, so every run keeps it.")
    return lines


def run(grid, options, ctx, reporter):
    for line in describe(grid, options, ctx):
        reporter.say(line)
    outcomes = {}

    def record(outcome):
        outcomes[outcome.name] = outcome
        reporter.outcome(outcome)

    pending = []
    for run_ in grid.runs:  # finished runs are reported at once
        if run_is_finished(run_, ctx):
            record(outcome_of(run_, SKIPPED))
        else:
            pending.append(run_)
    free = list(range(options.workers))
    running = {}  # slot -> Started
    try:
        while pending or running:
            for run_ in list(pending):
                dependency = outcomes.get(run_.depends_on) if run_.depends_on else None
                if dependency is not None and dependency.status in NOT_FINISHED:
                    pending.remove(run_)
                    record(blocked(run_, dependency))
                elif free and (run_.depends_on is None or dependency is not None):
                    pending.remove(run_)
                    slot = free.pop(0)
                    resume = resume_message(run_, ctx)
                    if resume:
                        reporter.say(resume)
                    running[slot] = start(run_, ctx, run_.command(ctx.cwd), options.slot_env(slot), capture=True)
            time.sleep(POLL_S)
            for slot, started in list(running.items()):
                if started.proc.poll() is not None:
                    del running[slot]
                    free.append(slot)
                    free.sort()
                    record(finish(started, ctx))
    finally:
        for started in running.values():
            stop(started)
