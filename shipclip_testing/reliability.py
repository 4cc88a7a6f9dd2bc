"""Helpers of the reliability suite (``tests/reliability``; its fixtures are in its conftest.py).

Runs go through ``train.py`` exactly as a user starts them: in a subprocess (so a run can be killed
with SIGKILL and restarted) or in-process through ``train.main``. They use the colour dataset and the
tiny random backbone of :mod:`shipclip_testing.runs`. Extra modules (``SHIPCLIP_EXTRA_MODULES``)
written into the test's folder register the colour dataset in a fresh process and inject faults.
"""
import io
import os
import subprocess
import sys
import textwrap

import torch

from . import runs as base
from .fake_datasets import COLOR_DATASET_NAME

TRAIN_PY = os.path.join(base.REPO, "train.py")

# Every run of the suite: tiny backbone, a few batches per epoch, checkpoints every epoch.
RUN_OPTS = ["DATALOADER.TRAIN_X.BATCH_SIZE", "4", "TRAIN.CHECKPOINT_FREQ", "1", "OPTIM.MAX_EPOCH", "3",
            "TRAINER.COOP.N_CTX", "2"]
AUGMENT_OPTS = ["INPUT.TRANSFORMS", "['random_resized_crop', 'random_flip', 'normalize']"]
SHIP_OPTS = ["DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SHIP.ENC_HIDDEN", "32", "TRAINER.SHIP.LATENT_DIM", "8",
             "TRAINER.SHIP.GEN_HIDDEN", "32", "TRAINER.SHIP.EPOCHS", "2", "TRAINER.SHIP.BATCH_SIZE", "8",
             "TRAINER.SHIP.N_CTX", "2"]
# The runs that kill-and-resume, crash and determinism tests compare against (``reference_run``).
TRAINER_OPTS = {"CoOp": RUN_OPTS + AUGMENT_OPTS, "SHIP_CoOp": RUN_OPTS + AUGMENT_OPTS + SHIP_OPTS}

# Imported by train.py in a fresh process: registers the colour dataset (and the baseline trainers).
REGISTER_MODULE = textwrap.dedent("""
    from shipclip_testing.runs import register_components

    register_components()
""")

# Imported after REGISTER_MODULE: SIGKILL in the middle of an epoch (no cleanup, no atexit, no flush).
KILL_MODULE = textwrap.dedent("""
    import os
    import signal
    import sys

    from shipclip.trainers.base import ClipTrainer

    KILL_EPOCH, KILL_BATCH = {epoch}, {batch}
    _forward_backward = ClipTrainer.forward_backward


    def forward_backward(self, batch):
        if self.epoch == KILL_EPOCH and self.batch_idx == KILL_BATCH:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return _forward_backward(self, batch)


    ClipTrainer.forward_backward = forward_backward
""")


def dying_torch_save(matches, error, partial=None):
    """A ``torch.save`` that dies half-way through the saves ``matches(obj)`` selects (a crash or a full
    disk): it writes ``partial`` bytes (default: the first half of the real file) to the target, then
    raises ``error``. Every other call saves normally. Install it with ``monkeypatch.setattr``."""
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if not matches(obj):
            return real_save(obj, f, *args, **kwargs)
        data = partial
        if data is None:
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            data = buffer.getvalue()[: len(buffer.getvalue()) // 2]
        if isinstance(f, (str, os.PathLike)):
            with open(f, "wb") as fh:
                fh.write(data)
        else:
            f.write(data)
        raise error

    return save


def train_argv(trainer, data_root, output_dir, opts=(), seed=1, flags=(), backbone_dir=None):
    """``train.py`` arguments of a run on the colour dataset with the tiny backbone.

    ``flags`` come before the ``KEY VALUE`` options; the backbone config is written to
    ``backbone_dir`` (default ``<data_root>/backbones``).
    """
    argv = ["--root", str(data_root), "--trainer", trainer, "--output-dir", str(output_dir), "--seed", str(seed)]
    argv += list(flags) + ["DATASET.NAME", COLOR_DATASET_NAME]
    argv += base.tiny_backbone_opts(str(backbone_dir or os.path.join(str(data_root), "backbones")))
    return argv + list(base.FAST_OPTS) + list(opts)


def main(argv):
    """``train.main`` in this process (stdout restored afterwards); returns the trainer (None if skipped)."""
    train = base.import_train_py()
    base.register_components()
    args = train.build_parser().parse_args([str(a) for a in argv])
    stdout = sys.stdout
    try:
        return train.main(args)
    finally:
        if sys.stdout is not stdout:  # main tees stdout into the run's log.txt
            tee, sys.stdout = sys.stdout, stdout
            tee.close()


def write_module(directory, name, text):
    path = os.path.join(str(directory), f"{name}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def run_train_py(argv, workdir, extra_modules=(), timeout=300):
    """``python train.py ARGV`` in a fresh process; returns the ``CompletedProcess`` (text output)."""
    register = write_module(workdir, "register_colors", REGISTER_MODULE)
    env = dict(os.environ, SHIPCLIP_EXTRA_MODULES=",".join([register, *map(str, extra_modules)]),
               OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, TRAIN_PY, *argv], cwd=str(workdir), env=env, capture_output=True,
                          text=True, timeout=timeout)


def kill_module(directory, epoch, batch):
    return write_module(directory, f"kill_at_{epoch}_{batch}", KILL_MODULE.format(epoch=epoch, batch=batch))


def describe(result):
    """The tail of a subprocess's output, for assertion messages."""
    return (f"exit code {result.returncode}\n--- stdout ---\n{result.stdout[-3000:]}\n"
            f"--- stderr ---\n{result.stderr[-3000:]}")


def load_state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_identical(a, b, where="checkpoint"):
    """Nested dicts/lists of tensors and plain values are equal, tensors bit for bit (``torch.equal``)."""
    if torch.is_tensor(a):
        same = torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        assert same, f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_checkpoint(a, b):
    """Two checkpoint files hold the same epoch, weights, optimizer and scheduler state, bit for bit."""
    assert_identical(load_state(a), load_state(b), where=os.path.basename(str(a)))
