"""Running the protocol scripts on the stand-in train.py (fake_train.py) and reading what they left."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
FAKE_TRAIN = Path(__file__).resolve().with_name("fake_train.py")
CLEARED = ("LAUNCHER", "WORKERS", "GPUS", "OPTS", "LOADEP", "CONFIGS", "CFG", "TRAINERS", "TRAINER", "DRY_RUN",
           "TARGETS", "DG_TARGETS", "DATASETS", "SOURCE", "SWEEP_PLAN", "FAKE_FAIL", "FAKE_HOLD", "FAKE_PAIR",
           "CUDA_VISIBLE_DEVICES", "MKL_NUM_THREADS")


def fake_env(tmp_path, **extra):
    """The scripts' environment with the stand-in train.py; OUTPUT is relative to the calling folder."""
    env = dict(os.environ, DATA=str(tmp_path / "data"), OUTPUT="out", SEEDS="1 2", SHOTS="2", PYTHON=sys.executable,
               TRAIN_PY=str(FAKE_TRAIN), FAKE_CALLS=str(tmp_path / "calls.jsonl"),
               FAKE_RUNNING_DIR=str(tmp_path / "running"))
    for key in CLEARED:
        env.pop(key, None)
    for key in [k for k in env if k.startswith("SWEEP_SLURM_")]:
        env.pop(key)
    env.update(extra)
    return env


def run_script(script, args, env, cwd, timeout=300):
    Path(cwd).mkdir(parents=True, exist_ok=True)
    return subprocess.run(["bash", str(SCRIPTS / script), *args], env=env, cwd=str(cwd), capture_output=True,
                          text=True, timeout=timeout)


def describe(proc):
    return f"exit code {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"


def calls(path):
    """The stand-in's calls, in the order they started."""
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def results(root):
    """{run folder relative to root: bytes of its results.json}."""
    root = Path(root)
    return {p.parent.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("results.json"))}


def table_text(stdout):
    """What results.py printed: everything after the script's ``+ ... scripts/results.py`` line."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("+ ") and "scripts/results.py" in line]
    assert starts, f"no results.py call in:\n{stdout[-3000:]}"
    return "\n".join(lines[starts[-1] + 1:])
