"""ToyWorld's classes: colour x shape, ordered so base and new classes share every attribute.

A class is "<colour> <shape>" (e.g. "red circle"). Base-to-new evaluation keeps the first
``ceil(n / 2)`` labels as base, so the label order *is* the split. Classes are laid out on a
checkerboard over the colour x shape grid: (colour i, shape j) is a base class when ``i + j`` is
even. Every colour and every shape then occurs among both base and new classes, and no class name
of the new half is seen during base training. That is the setting where features synthesised from
a label-only class name can help: the words are known, the combination is not.

Bump :data:`WORLD_VERSION` whenever a change here or in :mod:`shipclip.toyworld.render` alters
what is drawn, so cached datasets and checkpoints are not reused by mistake.
"""
import math
from dataclasses import dataclass

__all__ = ["WORLD_VERSION", "COLORS", "SHAPES", "NEUTRALS", "World", "default_world", "quick_world"]

WORLD_VERSION = 2  # 2: downstream hue shift

# Named colours (RGB, 0-255). Hues are far apart so colour jitter never crosses a name.
COLORS = {
    "red": (210, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 210),
    "yellow": (235, 205, 40),
    "purple": (135, 60, 175),
    "orange": (240, 135, 30),
}

# Shapes drawn by :mod:`shipclip.toyworld.render`; every name is one plain word of CLIP's vocabulary.
SHAPES = ("circle", "square", "triangle", "star", "heart", "cross", "ring", "moon")

# Colours of clutter shapes in the downstream style: not class colours, so clutter never carries
# a class colour, but it does carry class shapes (binding colour to the main object matters).
NEUTRALS = {
    "gray": (128, 128, 128),
    "black": (35, 35, 35),
    "white": (245, 245, 245),
}


@dataclass(frozen=True)
class World:
    """The attribute grid and the derived, ordered class list."""

    colors: tuple = tuple(COLORS)
    shapes: tuple = SHAPES

    def __post_init__(self):
        unknown = [c for c in self.colors if c not in COLORS] + [s for s in self.shapes if s not in SHAPES]
        if unknown:
            raise ValueError(
                f"Unknown ToyWorld attribute(s) {unknown}: colours must come from {list(COLORS)} "
                f"and shapes from {list(SHAPES)}."
            )
        if len(self.colors) < 2 or len(self.shapes) < 2:
            raise ValueError(
                "A ToyWorld needs at least 2 colours and 2 shapes so base and new classes share attributes."
            )

    @property
    def classes(self):
        """``[(colour, shape), ...]`` in label order: base classes first, then new ones."""
        grid = [(i, j) for i in range(len(self.colors)) for j in range(len(self.shapes))]
        base = [(i, j) for i, j in grid if (i + j) % 2 == 0]
        new = [(i, j) for i, j in grid if (i + j) % 2 == 1]
        return [(self.colors[i], self.shapes[j]) for i, j in base + new]

    @property
    def num_classes(self):
        return len(self.colors) * len(self.shapes)

    @property
    def num_base(self):
        """CoCoOp's rule: the first ``ceil(n / 2)`` sorted labels are base."""
        return math.ceil(self.num_classes / 2)

    @property
    def classnames(self):
        return [f"{c} {s}" for c, s in self.classes]

    @property
    def folders(self):
        return [f"{c}_{s}" for c, s in self.classes]

    @property
    def base_classnames(self):
        return self.classnames[: self.num_base]

    @property
    def new_classnames(self):
        return self.classnames[self.num_base:]

    def index_arrays(self):
        """Per label: index into :data:`COLORS` order and into :data:`SHAPES` order."""
        color_keys, shape_keys = list(COLORS), list(SHAPES)
        return ([color_keys.index(c) for c, _ in self.classes], [shape_keys.index(s) for _, s in self.classes])

    def to_dict(self):
        return {"colors": list(self.colors), "shapes": list(self.shapes), "version": WORLD_VERSION}


def default_world():
    """6 colours x 8 shapes = 48 classes (24 base / 24 new)."""
    return World()


def quick_world():
    """4 colours x 4 shapes = 16 classes, for tests and CI."""
    return World(colors=("red", "green", "blue", "yellow"), shapes=("circle", "square", "triangle", "star"))
