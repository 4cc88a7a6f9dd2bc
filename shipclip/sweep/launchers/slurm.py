"""LAUNCHER=slurm: the grid as one Slurm job array, submitted and watched through submitit.

Mapping: the grid is split into chains (a run together with every run that needs it, e.g. a
base-class training step and its new-class evaluation, or a source model and its 14 target
evaluations); one array task runs one chain in order, so dependencies hold without Slurm
dependencies, and independent chains run in parallel up to ``array_parallelism``. Chains whose
runs are all finished are not submitted. An array task that reaches its time limit is requeued by
submitit (up to 3 times) and resumes: finished runs are skipped, the interrupted one restarts from
its last checkpoint. This process waits for the array and reports each chain as it ends.

Needs the optional ``submitit`` package (``pip install -e .[slurm]``), the repository and OUTPUT
on a file system the compute nodes share, and the same Python environment there.
"""
import os
import time

from ..errors import SweepError
from ..execute import DONE, FAILED, SKIPPED, outcome_of, run_is_finished, run_sequence
from . import slurm_options

try:
    import submitit
except ImportError as exc:
    raise SweepError("LAUNCHER=slurm needs the submitit package: pip install 'submitit>=1.5' "
                     "(or pip install -e '.[slurm]').") from exc

PROGRESS_BAR = True


class ChainTask(submitit.helpers.Checkpointable):
    """One array task: a chain of runs, in grid order (requeued as is after a time-out)."""

    def __init__(self, runs, ctx):
        self.runs = list(runs)
        self.ctx = ctx

    def __call__(self):
        return run_sequence(self.runs, self.ctx, capture=True,
                            on_outcome=lambda o: print(f"{o.status}: {o.output_dir}", flush=True))


class _PlanExecutor(submitit.SlurmExecutor):
    """A SlurmExecutor that only writes sbatch text, so a plan can be printed without Slurm."""

    @classmethod
    def affinity(cls):
        return 1


def options_from_env(env):
    return slurm_options.from_env(env)


def submitit_folder(ctx):
    return os.path.join(ctx.sweep_dir, "slurm")


def job_name(grid):
    return f"ship-{grid.protocol}"


def pending_chains(grid, ctx):
    """Chains holding at least one unfinished run (the array tasks to submit)."""
    return [chain for chain in grid.chains() if not all(run_is_finished(run, ctx) for run in chain)]


def sbatch_script(options, name, folder, n_tasks):
    """The sbatch file submitit writes for ``n_tasks`` chains (an array when there are several)."""
    executor = _PlanExecutor(folder)
    executor.update_parameters(**options.executor_parameters(name))
    if n_tasks > 1:
        executor.parameters["map_count"] = n_tasks  # what SlurmExecutor sets when it submits an array
    return executor._make_submission_file_text(executor._submitit_command_str, "plan")


def make_executor(options, name, folder):
    """The submitit executor of ``options.cluster`` (local / debug run the array on this machine)."""
    if options.cluster == "slurm":
        try:
            executor = submitit.SlurmExecutor(folder)
        except RuntimeError as exc:
            raise SweepError(f"{exc} LAUNCHER=slurm submits from a Slurm login node (sbatch and srun on PATH); "
                             "DRY_RUN=1 prints the plan anywhere.") from exc
        executor.update_parameters(**options.executor_parameters(name))
        return executor
    if options.cluster == "local":
        executor = submitit.LocalExecutor(folder)
        executor.update_parameters(timeout_min=options.time_min)
        return executor
    return submitit.DebugExecutor(folder)


def describe(grid, options, ctx, with_script=True):
    chains = pending_chains(grid, ctx)
    folder = submitit_folder(ctx)
    parallel = min(len(chains), options.array_parallelism)
    lines = [f"Launcher slurm (submitit executor: {options.cluster}): {len(chains)} array task(s), one per chain of "
             f"dependent runs, at most {parallel} at a time; submitit files in {folder}; run consoles in "
             f"{ctx.log_root}/<run>.log",
             slurm_options.describe(options, grid.settings.env)]
    if not chains:
        lines.append("Nothing to submit: every run is finished.")
        return lines
    for i, chain in enumerate(chains):
        lines.append(f"  task {i}: " + " -> ".join(run.name for run in chain))
    if with_script:
        lines.append("sbatch script (written by submitit; the array index picks the chain):")
        lines += ["    " + line for line in sbatch_script(options, job_name(grid), folder, len(chains)).splitlines()]
    return lines


def _chain_outcomes(job, chain, ctx):
    """The outcomes an array task returned, or, when it ended without a result, what its folders show."""
    try:
        return list(job.result())
    except Exception as exc:  # timed out beyond requeues, cancelled, node failure
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        detail = f"Slurm task {job.job_id} ended without a result: {reason}"
        log = str(job.paths.stderr)
        return [outcome_of(run, DONE) if run_is_finished(run, ctx) else outcome_of(run, FAILED, detail=detail, log=log)
                for run in chain]


def run(grid, options, ctx, reporter):
    for line in describe(grid, options, ctx, with_script=False):
        reporter.say(line)
    chains = pending_chains(grid, ctx)
    pending_names = {run.name for chain in chains for run in chain}
    for run_ in grid.runs:
        if run_.name not in pending_names:
            reporter.outcome(outcome_of(run_, SKIPPED))
    if not chains:
        return
    executor = make_executor(options, job_name(grid), submitit_folder(ctx))
    jobs = executor.submit_array([ChainTask(chain, ctx) for chain in chains])
    array_id = jobs[0].job_id.split("_")[0]
    reporter.say(f"Submitted {len(jobs)} array task(s) as job {array_id}; waiting for them (Ctrl-C stops waiting, "
                 "not the jobs).")
    waiting = list(zip(jobs, chains))
    try:
        while waiting:
            for job, chain in list(waiting):
                if job.done():
                    waiting.remove((job, chain))
                    for outcome in _chain_outcomes(job, chain, ctx):
                        reporter.outcome(outcome)
            if waiting:
                time.sleep(options.poll_interval)
    except KeyboardInterrupt:
        if options.cluster == "slurm":
            reporter.say(f"Stopped waiting; job {array_id} keeps running (scancel {array_id} stops it). Run the same "
                         "command once it ended to run what is missing and print the table.")
        else:  # the local executor's tasks are this machine's processes: stop them with the sweep
            for job, _ in waiting:
                job.cancel(check=False)
        raise
