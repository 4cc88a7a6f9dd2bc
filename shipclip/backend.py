"""The one switch between real Dassl.pytorch and the built-in engine.

Every trainer, dataset and script imports engine names from here and nowhere else.

``SHIP_ENGINE`` selects the engine: ``auto`` (default) uses Dassl when all of ``dassl.engine``,
``dassl.config``, ``dassl.data.datasets``, ``dassl.utils``, ``dassl.optim`` and ``dassl.metrics``
import, else the built-in engine; ``dassl`` requires Dassl and fails loudly; ``builtin`` never
touches Dassl.

A few names are always ours, whatever the engine, because Dassl 0.6.x breaks on current PyTorch:
``build_lr_scheduler`` (Dassl's warmup passes ``verbose``, a TypeError on torch >= 2.7, and pickles
scheduler objects into checkpoints), ``load_checkpoint`` and ``load_pretrained_weights`` (Dassl's
call ``torch.load`` with torch's default ``weights_only=True`` since torch 2.6, which refuses
checkpoints that Dassl itself wrote, e.g. CoOp weights used as ``MODEL.INIT_WEIGHTS``).
"""
import importlib
import os

__all__ = [
    "ENGINE", "engine_description",
    "TRAINER_REGISTRY", "TrainerBase", "SimpleTrainer", "TrainerX", "build_trainer",
    "DATASET_REGISTRY", "Datum", "DatasetBase", "build_dataset",
    "DataManager", "DatasetWrapper", "build_transform",
    "EVALUATOR_REGISTRY", "build_evaluator",
    "get_cfg_default",
    "setup_logger", "set_random_seed", "collect_env_info",
    "read_json", "write_json", "mkdir_if_missing", "listdir_nohidden", "check_isfile", "read_image",
    "load_pretrained_weights",
    "compute_accuracy", "build_optimizer",
    "build_lr_scheduler", "load_checkpoint",
]

_DASSL_MODULES = ("dassl.engine", "dassl.config", "dassl.data.datasets", "dassl.utils", "dassl.optim", "dassl.metrics")
_CHOICES = ("auto", "dassl", "builtin")


def _dassl_import_error():
    """Return None when every Dassl module imports, else a short description of the failure."""
    for name in _DASSL_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # any failure (missing wilds, tensorboard, ...) means "no Dassl"
            return f"{name}: {type(exc).__name__}: {exc}"
    return None


def _select_engine():
    choice = os.environ.get("SHIP_ENGINE", "auto").strip().lower() or "auto"
    if choice not in _CHOICES:
        raise ValueError(f"SHIP_ENGINE={choice!r} is not valid; use one of {', '.join(_CHOICES)}.")
    if choice == "builtin":
        return "builtin", "forced by SHIP_ENGINE=builtin"
    error = _dassl_import_error()
    if choice == "dassl":
        if error is not None:
            raise ImportError(
                f"SHIP_ENGINE=dassl but Dassl.pytorch does not import ({error}). Install Dassl.pytorch "
                "(and its requirements) in this environment, or unset SHIP_ENGINE to use the built-in engine."
            )
        return "dassl", "forced by SHIP_ENGINE=dassl"
    if error is None:
        return "dassl", "Dassl.pytorch imports"
    return "builtin", f"Dassl.pytorch not importable ({error})"


ENGINE, _REASON = _select_engine()

if ENGINE == "dassl":
    from dassl.config import get_cfg_default
    from dassl.data import DataManager, DatasetWrapper
    from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum, build_dataset
    from dassl.data.transforms import build_transform
    from dassl.engine import TRAINER_REGISTRY, SimpleTrainer, TrainerBase, TrainerX, build_trainer
    from dassl.evaluation import EVALUATOR_REGISTRY, build_evaluator
    from dassl.metrics import compute_accuracy
    from dassl.optim import build_optimizer
    from dassl.utils import (check_isfile, collect_env_info, listdir_nohidden, mkdir_if_missing, read_image,
                             read_json, set_random_seed, setup_logger, write_json)
else:
    from shipclip.engine import (DATASET_REGISTRY, EVALUATOR_REGISTRY, TRAINER_REGISTRY, DataManager,
                                 DatasetBase, DatasetWrapper, Datum, SimpleTrainer, TrainerBase, TrainerX,
                                 build_dataset, build_evaluator, build_optimizer, build_trainer,
                                 build_transform, check_isfile, collect_env_info, compute_accuracy,
                                 get_cfg_default, listdir_nohidden, mkdir_if_missing, read_image,
                                 read_json, set_random_seed, setup_logger, write_json)

# Always ours: engine-agnostic and safe on current PyTorch (see the module docstring).
from shipclip.infra.schedulers import build_lr_scheduler  # noqa: E402
from shipclip.infra.checkpoint import load_checkpoint, load_pretrained_weights  # noqa: E402


def engine_description():
    """One line for the log: which engine runs and why."""
    if ENGINE == "dassl":
        import dassl
        version = getattr(dassl, "__version__", "unknown version")
        return f"engine: Dassl.pytorch {version} ({_REASON})"
    return f"engine: built-in Dassl-compatible engine ({_REASON})"
