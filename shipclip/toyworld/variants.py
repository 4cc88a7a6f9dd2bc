"""The rule that draws ToyWorld variants, fixed before any run on them.

    python -m shipclip.toyworld.variants --count 3 --seed 20261129

Robustness is judged on worlds nobody chose by hand. Variant ``k`` is drawn from one seeded
``numpy.random.default_rng(seed)`` stream, in order:

1. the number of colours, uniform in {4, 5} (of the 6), and of shapes, uniform in {5, 6, 7} (of the 8);
2. the colours: a uniform random permutation of the 6, first ones kept (so the subset *and* its
   order are random; the order decides which colour-shape pairs are base and which are new);
3. the shapes, the same way;
4. a dataset seed and a pretraining seed, uniform integers in [1000, 2**31 - 1).

A draw is rejected and drawn again when its colour set and shape set equal an earlier variant's, or
when one of its seeds equals a seed already in use (earlier variants, the default world's 1 and 0,
the design world's 901 and 902). Every variant has at least 4 x 5 = 20 classes (10 base, 10 new),
and fewer than the default world's 6 colours, so it is never the default or the design world.

The drawn variants are frozen in :data:`shipclip.toyworld.specs.VARIANTS`; tests check that this
rule still draws exactly them.
"""
import argparse
import json
import sys

import numpy as np

from .specs import DEFAULT, DESIGN, VARIANT_RULE_SEED, WorldSpec
from .world import COLORS, SHAPES, World

__all__ = ["COLOR_COUNTS", "SHAPE_COUNTS", "SEED_RANGE", "RESERVED_SEEDS", "draw_variants", "main"]

COLOR_COUNTS = (4, 5)
SHAPE_COUNTS = (5, 6, 7)
SEED_RANGE = (1000, 2**31 - 1)
RESERVED_SEEDS = frozenset({DEFAULT.dataset_seed, DEFAULT.pretrain_seed, DESIGN.dataset_seed, DESIGN.pretrain_seed})


def _draw_one(rng):
    n_colors = int(rng.choice(COLOR_COUNTS))
    n_shapes = int(rng.choice(SHAPE_COUNTS))
    color_names = list(COLORS)
    colors = tuple(color_names[i] for i in rng.permutation(len(color_names))[:n_colors])
    shapes = tuple(SHAPES[i] for i in rng.permutation(len(SHAPES))[:n_shapes])
    dataset_seed, pretrain_seed = (int(s) for s in rng.integers(*SEED_RANGE, size=2))
    return World(colors=colors, shapes=shapes), dataset_seed, pretrain_seed


def draw_variants(count, seed=VARIANT_RULE_SEED):
    """``count`` variant specs (``variant-1`` ...) drawn by the rule above from ``seed``."""
    if int(count) < 1:
        raise ValueError(f"--count must be at least 1, got {count}.")
    rng = np.random.default_rng(int(seed))
    specs, used_sets, used_seeds = [], set(), set(RESERVED_SEEDS)
    while len(specs) < int(count):
        world, dataset_seed, pretrain_seed = _draw_one(rng)
        key = (frozenset(world.colors), frozenset(world.shapes))
        if key in used_sets or {dataset_seed, pretrain_seed} & used_seeds or dataset_seed == pretrain_seed:
            continue
        used_sets.add(key)
        used_seeds |= {dataset_seed, pretrain_seed}
        specs.append(WorldSpec(f"variant-{len(specs) + 1}", world, dataset_seed, pretrain_seed, role="reported"))
    return specs


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m shipclip.toyworld.variants",
                                     description="Draw ToyWorld variant specs by the fixed rule (JSON lines).")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--seed", type=int, default=VARIANT_RULE_SEED)
    args = parser.parse_args(argv)
    try:
        specs = draw_variants(args.count, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for spec in specs:
        world = spec.world
        print(json.dumps({**spec.to_dict(), "classes": world.num_classes, "base": world.num_base,
                          "new": world.num_classes - world.num_base}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
