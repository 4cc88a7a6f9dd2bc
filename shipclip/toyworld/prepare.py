"""Build whatever ToyWorld needs and print where it is.

    python -m shipclip.toyworld.prepare [--world NAME | --world-spec JSON] [--root DIR] [--quick] [--force]

Renders the benchmark under ``<root>/toyworld`` (if missing; with its ``design`` split) and
pretrains the micro-CLIP (if no cached checkpoint matches), then prints three machine-readable
lines, last::

    TOYWORLD_ROOT=<DATASET.ROOT>
    TOYWORLD_BACKBONE=<model-config JSON, for MODEL.BACKBONE.NAME>
    TOYWORLD_WEIGHTS=<checkpoint, for MODEL.BACKBONE.PRETRAINED>

``--world`` picks a named world (``default``, ``design``, ``variant-1`` ..., see
:mod:`shipclip.toyworld.specs` and ``docs/TOYWORLD.md``): its classes, dataset seed and
pretraining seed; ``--world-spec`` takes a spec as JSON (a file or the text itself, keys
``colors``, ``shapes``, ``dataset_seed``, ``pretrain_seed``). ``--seed`` / ``--pretrain-seed``
override the spec's seeds. ``--quick`` builds a tiny model and few images in seconds, for CI (on
the 16-class quick world unless a world is named). The default root is ``$SHIPCLIP_CACHE/data``
(``~/.cache/shipclip/data``) for the default world, ``data-<world>`` for other worlds and
``data-quick`` with ``--quick``.
"""
import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .build import DEFAULT_COUNTS, DESIGN_COUNT, QUICK_COUNTS, QUICK_DESIGN_COUNT, build_dataset, build_design_split
from .pretrain import (DEFAULT_SETTINGS, QUICK_SETTINGS, PretrainSettings, backbone_config_path, ensure_micro_clip,
                       settings_with)
from .specs import DEFAULT, QUICK, WorldSpec, named_spec

__all__ = ["default_root", "resolve_spec", "Plan", "plan", "prepare", "main"]


def default_root(quick=False, world=None):
    """``$SHIPCLIP_CACHE/data`` (default world), ``data-quick`` (quick), ``data-<world>`` (other worlds)."""
    base = os.environ.get("SHIPCLIP_CACHE") or os.path.join("~", ".cache", "shipclip")
    name = world.name if isinstance(world, WorldSpec) else world
    folder = "data-quick" if quick else "data"
    if name not in (None, QUICK.name if quick else DEFAULT.name):
        folder += f"-{name}"
    return Path(os.path.expanduser(base)).resolve() / folder


def resolve_spec(world=None, world_spec=None, quick=False):
    """The :class:`WorldSpec` to build: a named world, a JSON spec (file or text), or the default / quick one."""
    if world is not None and world_spec is not None:
        raise ValueError("Give --world or --world-spec, not both.")
    if isinstance(world, WorldSpec):
        return world
    if world is not None:
        return named_spec(world)
    if world_spec is not None:
        text = Path(world_spec).read_text(encoding="utf-8") if os.path.isfile(world_spec) else world_spec
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--world-spec is neither a JSON file nor JSON text: {exc}") from None
        return WorldSpec.from_dict(data)
    return QUICK if quick else DEFAULT


@dataclass(frozen=True)
class Plan:
    """Everything one build is made from (what :func:`prepare` renders and pretrains)."""

    spec: WorldSpec
    root: Path
    dataset_seed: int
    counts: dict
    design_count: int
    settings: PretrainSettings
    quick: bool

    @property
    def world(self):
        return self.spec.world


def plan(root=None, quick=False, seed=None, pretrain_seed=None, steps=None, world=None, world_spec=None):
    """Resolve the world, root, seeds, counts and pretraining settings of a build (nothing is written).

    ``world``: a name or :class:`WorldSpec`; ``world_spec``: JSON (file or text). ``seed`` and
    ``pretrain_seed`` override the spec's seeds.
    """
    spec = resolve_spec(world, world_spec, quick)
    root = Path(os.path.expanduser(str(root))).resolve() if root else default_root(quick, spec)
    pretrain_seed = spec.pretrain_seed if pretrain_seed is None else int(pretrain_seed)
    settings = settings_with(QUICK_SETTINGS if quick else DEFAULT_SETTINGS, seed=pretrain_seed, steps=steps)
    if settings.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {settings.steps}")
    return Plan(spec=spec, root=root, dataset_seed=spec.dataset_seed if seed is None else int(seed),
                counts=dict(QUICK_COUNTS if quick else DEFAULT_COUNTS),
                design_count=QUICK_DESIGN_COUNT if quick else DESIGN_COUNT, settings=settings, quick=bool(quick))


def prepare(root=None, quick=False, seed=None, pretrain_seed=None, steps=None, threads=2, force=False,
            progress=True, log=print, world=None, world_spec=None):
    """Build (or reuse) the dataset, its design split and the checkpoint; returns ``(root, backbone_json, weights)``.

    Arguments as in :func:`plan`.
    """
    p = plan(root, quick, seed, pretrain_seed, steps, world, world_spec)
    world = p.world
    log(f"ToyWorld {p.spec.name!r} ({p.spec.role}): {len(world.colors)} colours x {len(world.shapes)} shapes, "
        f"dataset seed {p.dataset_seed}, pretraining seed {p.settings.seed}")
    t0 = time.time()
    build_dataset(p.root, world, seed=p.dataset_seed, counts=p.counts, force=force, progress=progress, log=log)
    build_design_split(p.root, world, seed=p.dataset_seed, count=p.design_count, progress=progress, log=log)
    t1 = time.time()
    backbone = backbone_config_path(quick=p.quick)
    weights = ensure_micro_clip(backbone, world, p.settings, threads=threads, progress=progress, log=log)
    t2 = time.time()
    log(f"ToyWorld ready: dataset {t1 - t0:.1f} s, micro-CLIP {t2 - t1:.1f} s")
    return p.root, backbone, weights


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m shipclip.toyworld.prepare",
                                     description="Render ToyWorld and pretrain (or reuse) its micro-CLIP.")
    parser.add_argument("--root", default=None,
                        help="dataset root (DATASET.ROOT); default $SHIPCLIP_CACHE/data or ~/.cache/shipclip/data")
    parser.add_argument("--world", default=None,
                        help="named world: default, design, variant-1, ... (docs/TOYWORLD.md; default: default)")
    parser.add_argument("--world-spec", default=None,
                        help="world spec as JSON (file or text): colors, shapes, dataset_seed, pretrain_seed")
    parser.add_argument("--quick", action="store_true", help="tiny model and few images (seconds; for CI)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the rendered dataset (default: the world's)")
    parser.add_argument("--pretrain-seed", type=int, default=None,
                        help="seed of the micro-CLIP pretraining (default: the world's)")
    parser.add_argument("--steps", type=int, default=None, help="pretraining steps (default: 1000, quick: 20)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for pretraining (default 2)")
    parser.add_argument("--force", action="store_true", help="replace an existing dataset built with other settings")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    try:
        root, backbone, weights = prepare(args.root, quick=args.quick, seed=args.seed,
                                          pretrain_seed=args.pretrain_seed, steps=args.steps,
                                          threads=args.threads, force=args.force, progress=not args.no_progress,
                                          world=args.world, world_spec=args.world_spec)
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
