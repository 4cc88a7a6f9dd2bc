"""Command-line pieces shared by ``evaluate`` and ``diagnose``: which world, which split, which model."""
from .data import SCORABLE_SPLITS

__all__ = ["add_world_arguments", "resolve_inputs"]


def resolve_inputs(args, log=print):
    """``(root, backbone, weights)`` from ``--root/--backbone/--weights``, else from ``prepare`` of ``--world``."""
    given = [args.root, args.backbone, args.weights]
    if all(given):
        return args.root, args.backbone, args.weights
    if any(given):
        raise ValueError("Give all of --root, --backbone and --weights (what prepare prints), or none of them.")
    from .prepare import prepare

    log(f"Preparing ToyWorld {args.world!r} (built once, then reused)")
    return prepare(world=args.world, threads=args.threads, progress=False, log=log)


def add_world_arguments(parser):
    """The world / split options shared by ``evaluate`` and ``diagnose``."""
    parser.add_argument("--world", default="design",
                        help="named world to prepare when --root/--backbone/--weights are not given (default design)")
    parser.add_argument("--root", default=None, help="dataset root (TOYWORLD_ROOT)")
    parser.add_argument("--backbone", default=None, help="model-config JSON (TOYWORLD_BACKBONE)")
    parser.add_argument("--weights", default=None, help="checkpoint (TOYWORLD_WEIGHTS)")
    parser.add_argument("--split", default="design", choices=SCORABLE_SPLITS,
                        help="images to score (default: design, which no reported number uses)")
    parser.add_argument("--allow-reported", action="store_true",
                        help="allow a reported world's val/test split (to report a number, never to choose)")
    parser.add_argument("--threads", type=int, default=2)
