"""Named ToyWorld builds: which world, which seeds, and what their numbers may be used for.

A *world spec* fixes everything that makes one ToyWorld: the colour and shape lists (their order
decides which colour-shape pairs are base and which are new), the seed of the rendered dataset and
the seed of the micro-CLIP pretraining. Each spec has a *role* (see ``docs/TOYWORLD.md``):

* ``design``: the one world on which choices about the world, the micro-CLIP and the recipes are
  made. All of its images may be looked at; none of its numbers is reported as a result.
* ``reported``: the default world and the variants drawn by :mod:`shipclip.toyworld.variants`.
  Their test images are scored only to report results, never to decide anything.
* ``ci``: the quick world of the tests.

The variants below were drawn once by ``python -m shipclip.toyworld.variants --count 3 --seed
20261129`` and frozen here (and in ``docs/TOYWORLD.md``) before anything was run on them; a test
checks that the rule still draws exactly these.
"""
from dataclasses import dataclass

from .world import World, default_world, quick_world

__all__ = ["ROLES", "WorldSpec", "DEFAULT", "DESIGN", "QUICK", "VARIANT_RULE_SEED", "VARIANTS", "named_spec",
           "spec_names", "known_specs", "identify", "role_of_manifest"]

ROLES = ("design", "reported", "ci")


@dataclass(frozen=True)
class WorldSpec:
    """One ToyWorld build: world, dataset seed, pretraining seed, role."""

    name: str
    world: World
    dataset_seed: int
    pretrain_seed: int
    role: str = "reported"

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"World spec {self.name!r}: role must be one of {ROLES}, got {self.role!r}.")

    def to_dict(self):
        return {"name": self.name, "colors": list(self.world.colors), "shapes": list(self.world.shapes),
                "dataset_seed": int(self.dataset_seed), "pretrain_seed": int(self.pretrain_seed), "role": self.role}

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`to_dict`; ``role`` defaults to ``reported`` (the safe side)."""
        missing = [k for k in ("colors", "shapes", "dataset_seed", "pretrain_seed") if k not in data]
        if missing:
            raise ValueError(f"A ToyWorld spec needs {missing} (got keys {sorted(data)}).")
        return cls(name=str(data.get("name", "custom")),
                   world=World(colors=tuple(data["colors"]), shapes=tuple(data["shapes"])),
                   dataset_seed=int(data["dataset_seed"]), pretrain_seed=int(data["pretrain_seed"]),
                   role=str(data.get("role", "reported")))


# The README's world: 6 colours x 8 shapes, dataset seed 1, pretraining seed 0 (unchanged since WORLD_VERSION 2).
DEFAULT = WorldSpec("default", default_world(), dataset_seed=1, pretrain_seed=0, role="reported")

# The design world: the same 6 colours x 8 shapes in another order (so other pairs are base and new; drawn
# once with numpy.random.default_rng(901).permutation), its own dataset and pretraining seeds.
DESIGN = WorldSpec(
    "design",
    World(colors=("red", "orange", "blue", "purple", "yellow", "green"),
          shapes=("ring", "circle", "moon", "heart", "star", "triangle", "square", "cross")),
    dataset_seed=901, pretrain_seed=902, role="design",
)

QUICK = WorldSpec("quick", quick_world(), dataset_seed=1, pretrain_seed=0, role="ci")

VARIANT_RULE_SEED = 20261129

# Drawn by shipclip.toyworld.variants.draw_variants(3, VARIANT_RULE_SEED); frozen before any run on them.
VARIANTS = (
    WorldSpec("variant-1", World(colors=("orange", "green", "red", "purple", "yellow"),
                                 shapes=("square", "cross", "star", "triangle", "ring")),
              dataset_seed=82993284, pretrain_seed=2001854236, role="reported"),
    WorldSpec("variant-2", World(colors=("purple", "blue", "green", "yellow", "red"),
                                 shapes=("square", "triangle", "heart", "circle", "star")),
              dataset_seed=770464041, pretrain_seed=167639214, role="reported"),
    WorldSpec("variant-3", World(colors=("orange", "purple", "green", "blue", "red"),
                                 shapes=("square", "heart", "star", "triangle", "circle", "ring")),
              dataset_seed=1118039698, pretrain_seed=184916263, role="reported"),
)


def known_specs():
    """Every named spec: default, design, quick and the frozen variants."""
    return (DEFAULT, DESIGN, QUICK) + VARIANTS


def spec_names():
    return [s.name for s in known_specs()]


def named_spec(name):
    """The spec called ``name`` (``default``, ``design``, ``quick``, ``variant-<k>``)."""
    for spec in known_specs():
        if spec.name == name:
            return spec
    raise ValueError(f"Unknown ToyWorld {name!r}; known worlds: {', '.join(spec_names())}.")


def identify(world_dict, dataset_seed):
    """The named spec a dataset manifest's world and seed belong to, or ``None``."""
    colors, shapes = list(world_dict.get("colors", [])), list(world_dict.get("shapes", []))
    for spec in known_specs():
        if list(spec.world.colors) == colors and list(spec.world.shapes) == shapes and \
                spec.dataset_seed == int(dataset_seed):
            return spec
    return None


def role_of_manifest(manifest):
    """Role of a built dataset from its manifest: a known spec's role, else ``reported`` (the safe side)."""
    spec = identify(manifest.get("world", {}), manifest.get("seed", -1))
    return spec.role if spec is not None else "reported"
