"""Captions of the micro-CLIP's pretraining scenes: templates as alt-texts of icon-like images would read,
and a sampler that picks one caption per image (a size word only when the object's size makes it true).

Part of the micro-CLIP's fingerprint (:mod:`shipclip.toyworld.pretrain`): changing a template changes
the cached checkpoint's name.
"""
import torch

__all__ = ["TEMPLATES", "SIZE_TEMPLATES", "SIZE_WORDS", "SIZE_CAPTION_P", "captions", "CaptionSampler"]

TEMPLATES = (
    "a photo of a {color} {shape}.",
    "a {color} {shape}",
    "{color} {shape}",
    "an image of a {color} {shape}",
    "a drawing of a {color} {shape}.",
    "a picture of a {color} {shape}.",
    "an illustration of a {color} {shape}",
    "a {color} {shape} shape",
    "clip art of a {color} {shape}.",
    "a simple {color} {shape} icon",
    "a {shape} in {color}",
    "a {color} colored {shape}.",
    "the {shape} is {color}.",
)
# Used only when the object is clearly small or large, so the size word is true.
SIZE_TEMPLATES = (
    "a {size} {color} {shape}",
    "a photo of a {size} {color} {shape}.",
    "an image of a {size} {color} {shape}",
)
SIZE_WORDS = {"small": (0.0, 0.55), "large": (0.75, 10.0)}  # radius ranges (fraction of half width)
SIZE_CAPTION_P = 0.3


def captions(world):
    """All captions of the world, with their class label and size word (``None`` for plain ones).

    Returns ``(texts, labels, sizes)``.
    """
    texts, labels, sizes = [], [], []
    for label, (color, shape) in enumerate(world.classes):
        for t in TEMPLATES:
            texts.append(t.format(color=color, shape=shape))
            labels.append(label)
            sizes.append(None)
        for size in SIZE_WORDS:
            for t in SIZE_TEMPLATES:
                texts.append(t.format(size=size, color=color, shape=shape))
                labels.append(label)
                sizes.append(size)
    return texts, labels, sizes


class CaptionSampler:
    """Draws one caption id per image: a size caption when the size is clear (sometimes), else plain."""

    def __init__(self, world, tokenizer):
        texts, labels, sizes = captions(world)
        self.tokens = tokenizer(texts)
        n_cls = world.num_classes
        plain = [[i for i, (l, s) in enumerate(zip(labels, sizes)) if l == c and s is None] for c in range(n_cls)]
        self.plain = torch.tensor(plain)
        self.sized = {w: torch.tensor([[i for i, (l, s) in enumerate(zip(labels, sizes)) if l == c and s == w]
                                       for c in range(n_cls)]) for w in SIZE_WORDS}

    def sample(self, labels, radius, gen):
        n = len(labels)
        pick = torch.randint(0, self.plain.shape[1], (n,), generator=gen)
        ids = self.plain[labels, pick]
        use_size = torch.rand(n, generator=gen) < SIZE_CAPTION_P
        for word, (lo, hi) in SIZE_WORDS.items():
            rows = use_size & (radius >= lo) & (radius < hi)
            if rows.any():
                table = self.sized[word]
                pick = torch.randint(0, table.shape[1], (int(rows.sum()),), generator=gen)
                ids[rows] = table[labels[rows], pick]
        return self.tokens[ids]
