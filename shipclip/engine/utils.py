"""Small helpers with Dassl.pytorch's names: logging tee, seeding, files, images, meters.

The file helpers Dassl names here (``mkdir_if_missing``, ``read_json``, ``write_json``) are the
crash-safe ones of :mod:`shipclip.infra.io`, re-exported.

In a multi-process run only rank 0 logs: ``setup_logger`` silences the other ranks' stdout
(their stderr, where tracebacks go, stays).
"""
import os
import random
import sys
import time
import warnings
from collections import defaultdict

import numpy as np
import torch

from shipclip.infra import distributed
from shipclip.infra.io import atomic_torch_save, atomic_write_bytes, mkdir_if_missing, read_json, write_json  # noqa: F401

__all__ = [
    "setup_logger", "set_random_seed", "collect_env_info",
    "mkdir_if_missing", "check_isfile", "read_json", "write_json", "listdir_nohidden", "read_image",
    "tolist_if_not", "AverageMeter", "MetricMeter", "atomic_write_bytes", "atomic_torch_save",
]


# ------------------------------------------------------------------------------------------------
# Logging


class _Silent:
    """Stands in for ``sys.stdout`` on ranks other than 0: prints go nowhere."""

    def __init__(self, console):
        self.console = console

    def write(self, msg):
        return len(msg)

    def flush(self):
        pass

    def isatty(self):
        return False

    def __getattr__(self, name):
        if name == "console":
            raise AttributeError(name)
        return getattr(self.console, name)


class _Tee:
    """Stands in for ``sys.stdout``: every write goes to the console and to the log file."""

    def __init__(self, console, fpath):
        self.console = console
        self.fpath = fpath
        self.file = open(fpath, "w", encoding="utf-8")

    def write(self, msg):
        self.console.write(msg)
        if self.file is not None and not self.file.closed:
            self.file.write(msg)
            self.file.flush()  # a killed run keeps everything printed so far

    def flush(self):
        self.console.flush()
        if self.file is not None and not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())

    def close(self):
        """Close the log file only; the console stays usable."""
        if self.file is not None and not self.file.closed:
            self.file.close()

    def isatty(self):
        return self.console.isatty()

    def __getattr__(self, name):  # encoding, fileno, ... of the real console
        if name in ("console", "file", "fpath"):
            raise AttributeError(name)
        return getattr(self.console, name)


def setup_logger(output=None):
    """Tee ``sys.stdout`` into ``<output>/log.txt`` (or into ``output`` when it ends in .txt/.log).

    An existing log is never overwritten: the new one gets a ``-YYYY-MM-DD-HH-MM-SS`` suffix.
    Returns the path written to (None when ``output`` is None). In a multi-process run, ranks
    other than 0 write no file and print nothing (returns None there).
    """
    if not distributed.is_main_process():
        console = sys.stdout
        if isinstance(console, _Tee):
            console.close()
            console = console.console
        if not isinstance(console, _Silent):
            sys.stdout = _Silent(console)
        return None
    if output is None:
        return None
    output = os.fspath(output)
    if output.endswith(".txt") or output.endswith(".log"):
        fpath = output
    else:
        fpath = os.path.join(output, "log.txt")
    if os.path.exists(fpath):
        stamped = fpath + time.strftime("-%Y-%m-%d-%H-%M-%S")
        fpath, n = stamped, 1
        while os.path.exists(fpath):  # two runs started within the same second
            fpath, n = f"{stamped}-{n}", n + 1
    parent = os.path.dirname(fpath)
    if parent:
        mkdir_if_missing(parent)
    console = sys.stdout
    if isinstance(console, _Tee):  # a second call moves the tee instead of chaining two files
        console.close()
        console = console.console
    sys.stdout = _Tee(console, fpath)
    return fpath


def set_random_seed(seed):
    """Seed python ``random``, numpy and torch (CPU and every CUDA device)."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def collect_env_info():
    """torch's environment report plus the Pillow version (works without CUDA or nvidia-smi)."""
    import PIL

    try:
        from torch.utils.collect_env import get_pretty_env_info

        env_str = get_pretty_env_info()
    except Exception as exc:  # the report shells out to tools that may be missing
        env_str = (
            f"PyTorch version: {torch.__version__}\n"
            f"CUDA available: {torch.cuda.is_available()}\n"
            f"Python version: {sys.version.split()[0]}\n"
            f"(full environment report unavailable: {type(exc).__name__}: {exc})"
        )
    env_str += f"\n        Pillow ({PIL.__version__})"
    return env_str


# ------------------------------------------------------------------------------------------------
# Files


def check_isfile(fpath):
    """True if ``fpath`` is a file; otherwise warn ``No file found at "..."`` and return False."""
    isfile = os.path.isfile(fpath)
    if not isfile:
        warnings.warn(f'No file found at "{fpath}"')
    return isfile


def listdir_nohidden(path, sort=False):
    """Entries of ``path`` without names starting with a dot."""
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    if sort:
        items.sort()
    return items


def read_image(path):
    """Open an image as RGB, decoding all of it so truncated files fail here, not in a worker.

    A missing file raises ``FileNotFoundError``; an unreadable, corrupt or truncated one raises
    ``OSError`` naming the file.
    """
    from PIL import Image

    if not os.path.isfile(path):
        raise FileNotFoundError(f'Image file not found: "{path}". Check DATASET.ROOT and the dataset layout.')
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise OSError(
            f'Cannot read image "{path}" ({type(exc).__name__}: {exc}). The file is corrupt or truncated: '
            "re-extract the dataset archive or delete the file."
        ) from exc


def tolist_if_not(x):
    """Wrap a non-list in a list."""
    if not isinstance(x, list):
        x = [x]
    return x


# ------------------------------------------------------------------------------------------------
# Meters


class AverageMeter:
    """Last value and running average (arithmetic, or exponential with ``ema=True``)."""

    def __init__(self, ema=False):
        self.ema = ema
        self.reset()

    def reset(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        if isinstance(val, torch.Tensor):
            val = val.item()
        self.val = val
        self.sum += val * n
        self.count += n
        if self.ema:
            self.avg = self.avg * 0.9 + self.val * 0.1
        else:
            self.avg = self.sum / self.count


class MetricMeter:
    """Named ``AverageMeter``s fed from a dict of losses; ``str`` gives ``name val (avg)`` pairs."""

    def __init__(self, delimiter=" "):
        self.meters = defaultdict(AverageMeter)
        self.delimiter = delimiter

    def update(self, input_dict):
        if input_dict is None:
            return
        if not isinstance(input_dict, dict):
            raise TypeError(
                f"MetricMeter.update() takes a dict of name -> value, got {type(input_dict).__name__}"
            )
        for k, v in input_dict.items():
            if isinstance(v, torch.Tensor):
                v = v.item()
            self.meters[k].update(v)

    def __str__(self):
        return self.delimiter.join(f"{name} {m.val:.4f} ({m.avg:.4f})" for name, m in self.meters.items())
