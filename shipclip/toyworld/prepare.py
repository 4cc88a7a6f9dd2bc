"""Build whatever ToyWorld needs and print where it is.

    python -m shipclip.toyworld.prepare [--root DIR] [--quick] [--force]

Renders the benchmark under ``<root>/toyworld`` (if missing) and pretrains the micro-CLIP (if no
cached checkpoint matches), then prints three machine-readable lines, last::

    TOYWORLD_ROOT=<DATASET.ROOT>
    TOYWORLD_BACKBONE=<model-config JSON, for MODEL.BACKBONE.NAME>
    TOYWORLD_WEIGHTS=<checkpoint, for MODEL.BACKBONE.PRETRAINED>

``--quick`` builds a reduced world (16 classes, few images) and a tiny model in seconds, for CI.
The default root is ``$SHIPCLIP_CACHE/data`` (``~/.cache/shipclip/data``; ``data-quick`` with
``--quick``).
"""
import argparse
import os
import sys
import time
from pathlib import Path

from .build import DEFAULT_COUNTS, QUICK_COUNTS, build_dataset
from .pretrain import DEFAULT_SETTINGS, QUICK_SETTINGS, backbone_config_path, ensure_micro_clip, settings_with
from .world import default_world, quick_world

__all__ = ["default_root", "prepare", "main"]


def default_root(quick=False):
    base = os.environ.get("SHIPCLIP_CACHE") or os.path.join("~", ".cache", "shipclip")
    return Path(os.path.expanduser(base)).resolve() / ("data-quick" if quick else "data")


def prepare(root=None, quick=False, seed=1, pretrain_seed=None, steps=None, threads=2, force=False,
            progress=True, log=print):
    """Build (or reuse) the dataset and the checkpoint; returns ``(root, backbone_json, weights)``."""
    root = Path(os.path.expanduser(str(root))).resolve() if root else default_root(quick)
    world = quick_world() if quick else default_world()
    counts = QUICK_COUNTS if quick else DEFAULT_COUNTS
    settings = settings_with(QUICK_SETTINGS if quick else DEFAULT_SETTINGS, seed=pretrain_seed, steps=steps)
    if settings.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {settings.steps}")

    t0 = time.time()
    build_dataset(root, world, seed=seed, counts=counts, force=force, progress=progress, log=log)
    t1 = time.time()
    backbone = backbone_config_path(quick=quick)
    weights = ensure_micro_clip(backbone, world, settings, threads=threads, progress=progress, log=log)
    t2 = time.time()
    log(f"ToyWorld ready: dataset {t1 - t0:.1f} s, micro-CLIP {t2 - t1:.1f} s")
    return root, backbone, weights


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m shipclip.toyworld.prepare",
                                     description="Render ToyWorld and pretrain (or reuse) its micro-CLIP.")
    parser.add_argument("--root", default=None,
                        help="dataset root (DATASET.ROOT); default $SHIPCLIP_CACHE/data or ~/.cache/shipclip/data")
    parser.add_argument("--quick", action="store_true", help="reduced world and tiny model (seconds; for CI)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the rendered dataset (default 1)")
    parser.add_argument("--pretrain-seed", type=int, default=None, help="seed of the micro-CLIP pretraining")
    parser.add_argument("--steps", type=int, default=None, help="pretraining steps (default: 1000, quick: 20)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for pretraining (default 2)")
    parser.add_argument("--force", action="store_true", help="replace an existing dataset built with other settings")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    try:
        root, backbone, weights = prepare(args.root, quick=args.quick, seed=args.seed,
                                          pretrain_seed=args.pretrain_seed, steps=args.steps,
                                          threads=args.threads, force=args.force, progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    print(f"TOYWORLD_ROOT={root}")
    print(f"TOYWORLD_BACKBONE={backbone}")
    print(f"TOYWORLD_WEIGHTS={weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
