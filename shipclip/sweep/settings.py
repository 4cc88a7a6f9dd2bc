"""The protocol scripts' environment, read once (DATA, OUTPUT, SEEDS, SHOTS, OPTS, PYTHON, ...).

The scripts pass their environment through unchanged; this module is the one place that knows
the variables and their defaults, so every protocol and launcher reads the same values.
"""
import os
from dataclasses import dataclass, field

from .errors import SweepError


def env_default(env, key, default):
    """``${KEY:-default}``: the default when the variable is unset or empty."""
    value = env.get(key, "")
    return value if value != "" else default


@dataclass(frozen=True)
class Settings:
    repo: str            # repository root (train.py, configs/, scripts/results.py)
    cwd: str             # folder the script was called from; relative paths are relative to it
    data: str            # DATA ("" when unset)
    output: str          # OUTPUT
    seeds: tuple         # SEEDS, split on spaces
    shots: str           # SHOTS as given ("1 2 4 8 16" for fewshot.sh)
    opts: tuple          # OPTS, split on spaces, appended to every train.py call
    python: str          # PYTHON
    loadep: str          # LOADEP ("" when unset)
    train_py: str        # TRAIN_PY
    configs: str         # CONFIGS
    dry_run: bool        # DRY_RUN=1
    env: dict = field(default_factory=dict, repr=False)  # the whole environment (protocol variables)

    @classmethod
    def from_env(cls, env, repo, cwd=None, seeds="1 2 3", shots="16"):
        """Read the scripts' variables; ``seeds`` and ``shots`` are the protocol's defaults."""
        repo = os.path.abspath(repo)
        return cls(
            repo=repo,
            cwd=os.path.abspath(cwd or os.getcwd()),
            data=env.get("DATA", ""),
            output=env_default(env, "OUTPUT", "output"),
            seeds=tuple(env_default(env, "SEEDS", seeds).split()),
            shots=env_default(env, "SHOTS", shots),
            opts=tuple(env.get("OPTS", "").split()),
            python=env_default(env, "PYTHON", "python"),
            loadep=env.get("LOADEP", ""),
            train_py=env_default(env, "TRAIN_PY", os.path.join(repo, "train.py")),
            configs=env_default(env, "CONFIGS", os.path.join(repo, "configs")),
            dry_run=env_default(env, "DRY_RUN", "0") == "1",
            env=dict(env),
        )

    def require_data(self):
        if not self.data:
            raise SweepError("DATA is not set: export DATA=/path/to/datasets (the folder holding the dataset folders).")

    def single_shots(self, protocol):
        """SHOTS as one number (every protocol but fewshot)."""
        if len(self.shots.split()) != 1:
            raise SweepError(f"SHOTS must be one number for {protocol} (got {self.shots!r}); only fewshot.sh "
                             "takes a list of shot counts.")
        return self.shots.strip()

    @property
    def results_py(self):
        return os.path.join(self.repo, "scripts", "results.py")

    @property
    def sweep_dir(self):
        """``<OUTPUT>/.sweep``: launcher logs and Slurm files (results.py skips dot-folders)."""
        return os.path.join(self.cwd, self.output, ".sweep")
