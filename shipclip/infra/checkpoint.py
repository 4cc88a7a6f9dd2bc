"""Checkpoints in Dassl's layout: ``<dir>/model.pth.tar-<epoch>`` plus a ``checkpoint`` pointer file.

Saving is crash-safe: the weights file is written atomically first and the pointer last, so a
run killed mid-save leaves the previous pointer aimed at a complete file.

In a multi-process run only rank 0 writes (``save_checkpoint`` returns the path on every rank);
loading maps tensors onto the process's own GPU.

Loading tries ``torch.load(weights_only=True)`` first (what torch >= 2.6 does by default) and only
falls back to full unpickling for trusted local files that store Python objects, such as a real
Dassl checkpoint whose warmup scheduler state pickles the wrapped scheduler.
"""
import os
import pickle
import shutil
import warnings
from collections import OrderedDict

import torch

from . import distributed
from .io import atomic_write, atomic_torch_save, atomic_write_bytes, mkdir_if_missing

__all__ = ["save_checkpoint", "load_checkpoint", "resume_from_checkpoint", "resume_models", "load_pretrained_weights"]

POINTER_FILE = "checkpoint"
BEST_NAME = "model-best.pth.tar"

_unsafe_load_noted = set()  # files already reported as needing full unpickling


def _strip_module(state_dict):
    """Drop the ``module.`` prefix that ``nn.DataParallel`` adds, keeping order and metadata."""
    out = OrderedDict()
    for k, v in state_dict.items():
        out[k[len("module."):] if k.startswith("module.") else k] = v
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        out._metadata = OrderedDict(
            (k[len("module."):] if k.startswith("module.") else ("" if k == "module" else k), v)
            for k, v in metadata.items()
        )
    return out


def save_checkpoint(state, save_dir, is_best=False, remove_module_from_keys=True, model_name=""):
    """Write ``state`` to ``save_dir/<model_name or model.pth.tar-<state['epoch']>>``.

    Prints ``Checkpoint saved to <path>`` and returns the path. ``is_best`` also copies the file
    to ``model-best.pth.tar``. The ``checkpoint`` pointer (the file's basename) is written last.
    In a multi-process run, ranks other than 0 write nothing and only return the path.
    """
    save_dir = os.fspath(save_dir)
    state = dict(state)
    if not model_name:
        if "epoch" not in state:
            raise KeyError(
                'save_checkpoint() needs state["epoch"] to name the file model.pth.tar-<epoch>, '
                "or an explicit model_name."
            )
        model_name = f"model.pth.tar-{state['epoch']}"
    fpath = os.path.join(save_dir, model_name)
    if not distributed.is_main_process():
        return fpath
    mkdir_if_missing(save_dir)
    if remove_module_from_keys and isinstance(state.get("state_dict"), dict):
        state["state_dict"] = _strip_module(state["state_dict"])
    atomic_torch_save(state, fpath)
    print(f"Checkpoint saved to {fpath}")

    if is_best:
        best = os.path.join(save_dir, BEST_NAME)
        if os.path.abspath(best) != os.path.abspath(fpath):
            with open(fpath, "rb") as src:
                atomic_write(best, lambda dst: shutil.copyfileobj(src, dst))

    atomic_write_bytes(os.path.join(save_dir, POINTER_FILE), os.path.basename(fpath) + "\n")
    return fpath


def _is_weights_only_refusal(exc):
    return isinstance(exc, pickle.UnpicklingError) and "weights only load failed" in str(exc).lower()


def _load(fpath, map_location, **pickle_args):
    """Safe load; full unpickling only when the safe loader refuses Python objects."""
    try:
        return torch.load(fpath, map_location=map_location, weights_only=True, **pickle_args)
    except pickle.UnpicklingError as exc:
        if not _is_weights_only_refusal(exc):
            raise
    checkpoint = torch.load(fpath, map_location=map_location, weights_only=False, **pickle_args)
    if fpath not in _unsafe_load_noted:
        _unsafe_load_noted.add(fpath)
        print(
            f'Note: "{fpath}" stores Python objects (e.g. a scheduler saved by Dassl), so it was loaded '
            "with weights_only=False. Only load checkpoints you trust."
        )
    return checkpoint


def load_checkpoint(fpath):
    """Load a checkpoint onto CPU when CUDA is absent (else where it was saved).

    Missing file -> ``FileNotFoundError``; unreadable (corrupt, truncated) file -> ``RuntimeError``
    saying so. Python-2 era pickles are retried with latin-1 decoding.
    """
    if fpath is None:
        raise ValueError("load_checkpoint() got None instead of a checkpoint path.")
    fpath = os.fspath(fpath)
    if not os.path.isfile(fpath):
        raise FileNotFoundError(f'Checkpoint file not found: "{fpath}".')
    map_location = None if torch.cuda.is_available() else "cpu"
    if map_location is None and distributed.is_distributed():
        map_location = distributed.comm_device()  # this process's GPU, not rank 0's where it was saved
    try:
        try:
            return _load(fpath, map_location)
        except UnicodeDecodeError:
            return _load(fpath, map_location, encoding="latin1")
    except MemoryError:
        raise
    except Exception as exc:
        raise RuntimeError(
            f'Checkpoint "{fpath}" is corrupt or truncated and cannot be loaded '
            f"({type(exc).__name__}: {exc}). Delete it (and its run's \"checkpoint\" pointer if it names "
            "this file) and rerun."
        ) from exc


def resume_from_checkpoint(fdir, model, optimizer=None, scheduler=None):
    """Load the checkpoint named by ``fdir/checkpoint`` into model/optimizer/scheduler.

    Returns the stored ``epoch`` (the epoch to start from).
    """
    fdir = os.fspath(fdir)
    pointer = os.path.join(fdir, POINTER_FILE)
    if not os.path.isfile(pointer):
        raise FileNotFoundError(f'No "{POINTER_FILE}" pointer file in "{fdir}"; nothing to resume from.')
    with open(pointer, "r") as f:
        fname = f.readline().strip()
    if not fname:
        raise RuntimeError(f'Pointer file "{pointer}" is empty. Delete it to train from scratch.')
    fpath = os.path.join(fdir, fname)
    print(f'Loading checkpoint from "{fpath}"')
    try:
        checkpoint = load_checkpoint(fpath)
    except RuntimeError as exc:  # damaged from outside (saves are atomic): offer the earlier epochs
        earlier = sorted((f for f in os.listdir(fdir) if f.startswith("model.pth.tar-") and f != fname),
                         key=lambda f: int(f.rsplit("-", 1)[1]) if f.rsplit("-", 1)[1].isdigit() else -1)
        if not earlier:
            raise
        raise RuntimeError(
            f'{exc} To resume from an earlier epoch instead, write one of {", ".join(earlier)} into "{pointer}".'
        ) from exc
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as exc:  # torch lists every key; the first problem is enough to see the cause
        problem = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise RuntimeError(
            f'Cannot resume from "{fpath}": it does not fit the current {type(model).__name__} ({problem}). '
            "The folder holds a run of another trainer or of other settings (class set, backbone, context "
            "length). Use a new --output-dir for this run, or delete that folder to start it from scratch."
        ) from None
    print("Loaded model weights")
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        print("Loaded optimizer")
    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
        print("Loaded scheduler")
    start_epoch = checkpoint["epoch"]
    print(f"Previous epoch: {start_epoch}")
    return start_epoch


def resume_models(directory, models, optims=None, scheds=None):
    """Resume every model of a run from ``directory/<name>/checkpoint``; return the epoch to start at.

    ``models`` maps names to modules (``optims``/``scheds`` to their optimizers and schedulers, or
    None). Returns 0 when a model has no checkpoint yet (train from scratch). Used by the built-in
    engine and, under real Dassl too, by this project's trainers (Dassl 0.6's reader fails on torch >= 2.6).
    """
    optims, scheds = optims or {}, scheds or {}
    names = list(models)
    pointers = [os.path.join(directory, name, POINTER_FILE) for name in names]
    if not names or not all(os.path.isfile(p) for p in pointers):
        print("No checkpoint found, train from scratch")
        return 0
    print(f"Found checkpoint at {directory} (will resume training)")
    epochs = {name: resume_from_checkpoint(os.path.join(directory, name), models[name], optims.get(name),
                                           scheds.get(name)) for name in names}
    if len(set(epochs.values())) > 1:
        raise RuntimeError(
            f"The checkpoints in {directory} are from different epochs {epochs} (a run was probably "
            "stopped while saving). Delete the newer files or resume from another directory."
        )
    return next(iter(epochs.values()))


def load_pretrained_weights(model, weight_path):
    """Copy the entries of a checkpoint whose name and shape match ``model``; report the rest."""
    checkpoint = load_checkpoint(weight_path)
    state_dict = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    if not isinstance(state_dict, dict):
        raise ValueError(
            f'"{weight_path}" holds {type(state_dict).__name__}, not a state dict (or a dict with "state_dict").'
        )
    model_dict = model.state_dict()
    matched, discarded = OrderedDict(), []
    for k, v in state_dict.items():
        if k.startswith("module."):
            k = k[len("module."):]
        if k in model_dict and torch.is_tensor(v) and v.shape == model_dict[k].shape:
            matched[k] = v
        else:
            discarded.append(k)
    if not matched:
        warnings.warn(
            f'No entry of "{weight_path}" matches the model by name and shape; nothing was loaded. '
            "Check the key names manually."
        )
        return model
    model_dict.update(matched)
    model.load_state_dict(model_dict)
    print(f'Successfully loaded pretrained weights from "{weight_path}"')
    if discarded:
        print(f"** The following layers are discarded due to unmatched keys or layer size: {discarded}")
    return model
