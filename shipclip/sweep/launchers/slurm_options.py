"""Slurm settings of a sweep, from a small YAML (SWEEP_SLURM_CONFIG) and SWEEP_SLURM_* variables.

Every key of the YAML has a variable ``SWEEP_SLURM_<KEY>`` that overrides it::

    partition: gpu              # --partition
    time: "4:00:00"             # --time per array task: minutes or Slurm's [D-]HH:MM:SS
    gpus_per_task: 1            # --gpus-per-node of each array task (0 on a CPU partition)
    cpus_per_task: 8            # --cpus-per-task (default: the cluster's)
    mem: 32GB                   # --mem (default: the cluster's)
    array_parallelism: 64       # at most this many array tasks at once (%N of --array)
    job_name: ship              # default ship-<protocol>
    sbatch: {account: mylab, qos: normal}   # any other sbatch option (env: "--account=mylab --qos=normal")
    setup: ["module load cuda/12.1"]        # shell lines run before the task (env: one line)
    cluster: slurm              # submitit executor: slurm, or local / debug to try a sweep on one machine
    poll_s: 30                  # seconds between checks for finished array tasks

Kept apart from submitit so the settings can be read and checked without it.
"""
import os
import re
import shlex
from dataclasses import dataclass

from ..errors import SweepError

ENV_PREFIX = "SWEEP_SLURM_"
CONFIG_ENV = "SWEEP_SLURM_CONFIG"
CLUSTERS = ("slurm", "local", "debug")
KEYS = ("partition", "time", "gpus_per_task", "cpus_per_task", "mem", "array_parallelism", "job_name", "sbatch",
        "setup", "cluster", "poll_s")


@dataclass(frozen=True)
class SlurmOptions:
    partition: str = ""
    time_min: int = 360
    gpus_per_task: int = 1
    cpus_per_task: int = 0
    mem: str = ""
    array_parallelism: int = 256
    job_name: str = ""
    sbatch: tuple = ()       # (option, value) pairs; value True for a flag
    setup: tuple = ()
    cluster: str = "slurm"
    poll_s: float = 0.0      # 0: 30 s on Slurm, 0.5 s on the local / debug executors

    @property
    def poll_interval(self):
        return self.poll_s or (30.0 if self.cluster == "slurm" else 0.5)

    def executor_parameters(self, default_name):
        """Parameters of ``submitit.SlurmExecutor.update_parameters`` (sbatch names)."""
        params = {"job_name": self.job_name or default_name, "time": self.time_min,
                  "array_parallelism": self.array_parallelism}
        if self.partition:
            params["partition"] = self.partition
        if self.gpus_per_task:
            params["gpus_per_node"] = self.gpus_per_task
        if self.cpus_per_task:
            params["cpus_per_task"] = self.cpus_per_task
        if self.mem:
            params["mem"] = self.mem
        if self.sbatch:
            params["additional_parameters"] = dict(self.sbatch)
        if self.setup:
            params["setup"] = list(self.setup)
        return params


def parse_time(value, where):
    """Minutes from ``90``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM`` or ``D-HH:MM:SS`` (seconds round up)."""
    text = str(value).strip()
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not match:
        raise SweepError(f"{where}={text!r} is not a Slurm time: write minutes (240) or [D-]HH:MM:SS (4:00:00).")
    days, a, b, c = match.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        seconds = int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:   # HH:MM:SS
        seconds = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:   # MM:SS
        seconds = int(a) * 60 + int(b)
    else:                 # minutes
        seconds = int(a) * 60
    minutes = -(-seconds // 60)
    if minutes < 1:
        raise SweepError(f"{where}={text!r} gives no time: an array task needs at least one minute.")
    return minutes


def _int(value, where, low):
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or number < low:
        raise SweepError(f"{where}={value!r} must be a whole number >= {low}.")
    return number


def _sbatch_from_text(text, where):
    """``--account=lab --qos=high --exclusive`` -> [("account", "lab"), ("qos", "high"), ("exclusive", True)]."""
    pairs = []
    for token in shlex.split(text):
        if not token.startswith("--") or len(token) < 3:
            raise SweepError(f"{where}: {token!r} is not an sbatch long option; write --option=value or --flag.")
        key, sep, value = token[2:].partition("=")
        pairs.append((key, value if sep else True))
    return pairs


def _read_yaml(path):
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - PyYAML comes with yacs
        raise SweepError(f"reading {path} needs PyYAML: pip install pyyaml.") from exc
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
    except OSError as exc:
        raise SweepError(f"{CONFIG_ENV}={path}: cannot read it ({exc.strerror}).") from exc
    except yaml.YAMLError as exc:
        raise SweepError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise SweepError(f"{path} must hold a mapping of Slurm settings (keys: {', '.join(KEYS)}).")
    unknown = sorted(set(doc) - set(KEYS))
    if unknown:
        raise SweepError(f"{path}: unknown key(s) {', '.join(map(str, unknown))}; valid keys: {', '.join(KEYS)}.")
    return doc


def from_env(env):
    """The options of a sweep: the YAML's values, each overridden by its SWEEP_SLURM_<KEY> variable."""
    path = env.get(CONFIG_ENV, "")
    raw = {key: (value, f"{path}: {key}") for key, value in (_read_yaml(path) if path else {}).items()}
    for key in KEYS:
        value = env.get(ENV_PREFIX + key.upper(), "")
        if value != "":
            raw[key] = (value, ENV_PREFIX + key.upper())
    opts = {}
    for key, (value, where) in raw.items():
        if value is None:
            continue
        if key == "time":
            opts["time_min"] = parse_time(value, where)
        elif key in ("gpus_per_task", "cpus_per_task"):
            opts[key] = _int(value, where, 0)
        elif key == "array_parallelism":
            opts[key] = _int(value, where, 1)
        elif key == "poll_s":
            try:
                opts[key] = float(value)
            except ValueError:
                raise SweepError(f"{where}={value!r} must be a number of seconds.") from None
        elif key == "sbatch":
            if isinstance(value, dict):
                opts[key] = tuple((str(k).lstrip("-"), v) for k, v in value.items())
            elif isinstance(value, str):
                opts[key] = tuple(_sbatch_from_text(value, where))
            else:
                raise SweepError(f"{where} must be a mapping (account: mylab) or a string (--account=mylab).")
        elif key == "setup":
            lines = [value] if isinstance(value, str) else value
            if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
                raise SweepError(f"{where} must be a shell line or a list of shell lines.")
            opts[key] = tuple(lines)
        elif key == "cluster":
            if value not in CLUSTERS:
                raise SweepError(f"{where}={value!r} is unknown; choose one of {', '.join(CLUSTERS)}.")
            opts[key] = value
        else:
            opts[key] = str(value)
    return SlurmOptions(**opts)


def describe(options, env):
    """Where the settings came from, for the plan."""
    path = env.get(CONFIG_ENV, "")
    return f"Slurm settings: {'from ' + os.path.abspath(path) + ' and ' if path else ''}SWEEP_SLURM_* variables"
