"""What identifies a run in ``results.json``, under this project's ``train.py`` or a lab's own.

Our ``train.py`` hands its parsed arguments over (:func:`from_args`). Under a lab's CoOp-style
``train.py`` nothing does, so :func:`run_provenance` reads the same facts from the command line
the process was started with (CoOp's flags: ``--config-file``, ``--eval-only``, ``--model-dir``,
``--load-epoch`` and the trailing ``KEY VALUE`` options) and from the config. ``train_py`` names the
script that ran, so a results file says which ``train.py`` produced it.
"""
import argparse
import os
import sys

__all__ = ["run_info", "from_args", "run_provenance", "parse_coop_argv", "script_path", "PROVENANCE_KEYS"]

PROVENANCE_KEYS = ("config", "eval_only", "model_dir", "load_epoch", "label_only", "opts", "train_py")


def script_path(argv0=None):
    """Absolute path of the ``.py`` script that runs this process ("" when it is not a script)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if not argv0 or not str(argv0).endswith(".py"):
        return ""
    return os.path.abspath(str(argv0))


def _config_stem(path):
    return os.path.splitext(os.path.basename(path))[0] if path else ""


def _is_ship(cfg):
    return str(cfg.TRAINER.NAME).startswith("SHIP")


def _label_only(cfg):
    if not _is_ship(cfg) or "SHIP" not in cfg.TRAINER:
        return None
    return str(cfg.TRAINER.SHIP.LABEL_ONLY)


def from_args(args, cfg, train_py=""):
    """Provenance from a parsed CoOp-style namespace (our ``train.py``)."""
    return {
        "config": _config_stem(getattr(args, "config_file", "")),
        "eval_only": bool(getattr(args, "eval_only", False)),
        "model_dir": getattr(args, "model_dir", "") or "",
        "load_epoch": getattr(args, "load_epoch", None),
        "label_only": _label_only(cfg),
        "opts": list(getattr(args, "opts", None) or []),
        "train_py": train_py or script_path(),
    }


def _coop_parser():
    """CoOp's ``train.py`` flags (only those that matter here; others are tolerated)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config-file", type=str, default="")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--model-dir", type=str, default="")
    parser.add_argument("--load-epoch", type=int, default=None)
    for flag in ("--root", "--output-dir", "--resume", "--seed", "--dataset-config-file", "--trainer", "--backbone",
                 "--head"):
        parser.add_argument(flag, type=str, default="")
    for flag in ("--source-domains", "--target-domains", "--transforms"):
        parser.add_argument(flag, type=str, nargs="+")
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    return parser


def parse_coop_argv(argv):
    """``argv`` (without the script) read with CoOp's flags; None when it does not parse that way."""
    try:
        args, _ = _coop_parser().parse_known_args(list(argv))
    except (SystemExit, ValueError):
        return None
    return args


def run_provenance(cfg, run_args=None, argv=None):
    """``run_args`` when our ``train.py`` set them, else what this process's command line and ``cfg`` hold.

    Keys: see :data:`PROVENANCE_KEYS`. A value the command line does not tell stays None.
    """
    if run_args:
        info = dict(run_args)
        info.setdefault("label_only", _label_only(cfg))
        info.setdefault("train_py", script_path())
        return info
    argv = sys.argv if argv is None else argv
    info = dict.fromkeys(PROVENANCE_KEYS)
    info["label_only"] = _label_only(cfg)
    info["train_py"] = script_path(argv[0] if argv else "")
    args = parse_coop_argv(argv[1:]) if info["train_py"] else None  # only a script's command line is CoOp's
    if args is not None:
        info.update(config=_config_stem(args.config_file), eval_only=bool(args.eval_only),
                    model_dir=args.model_dir or "", load_epoch=args.load_epoch, opts=list(args.opts or []))
    return info


def run_info(trainer):
    """The run description stored next to every evaluation of ``trainer`` (ours or a lab's ``SHIP+<Name>``):
    what the config says (trainer, dataset, backbone, shots, seed, class subset, engine) plus the provenance."""
    from shipclip.backend import ENGINE

    cfg = trainer.cfg
    info = {
        "trainer": cfg.TRAINER.NAME or type(trainer).__name__,
        "dataset": cfg.DATASET.NAME,
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "weights": str(cfg.MODEL.BACKBONE.PRETRAINED),
        "num_shots": int(cfg.DATASET.NUM_SHOTS),
        "seed": int(cfg.SEED),
        "subsample_classes": str(getattr(cfg.DATASET, "SUBSAMPLE_CLASSES", "all")),
        "engine": ENGINE,
    }
    info.update(run_provenance(cfg, getattr(trainer, "run_args", None)))  # our train.py's, or the command line's
    return info

