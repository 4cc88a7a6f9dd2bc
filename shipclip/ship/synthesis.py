"""Synthesis API: image features for class names from a fitted generator (``z ~ N(0, I)``).

Everything runs under ``torch.no_grad()``. Randomness comes from a ``torch.Generator`` so the same
seed gives the same features. Two ways to address classes:

* a list of **names** (any names, also ones the generator never saw): labels are positions in
  that list;
* a list of **indices** into ``generator.classnames``: labels are those indices, so they live in
  the generator's current label space (e.g. the base + label-only union).
"""
import numbers

import torch

__all__ = ["synthesize", "sample_for_labels", "SyntheticFeaturePool", "make_rng"]


def make_rng(seed, device="cpu"):
    """A seeded ``torch.Generator`` (``seed=None``: seeded from the OS, not reproducible)."""
    rng = torch.Generator(device=device)
    if seed is None:
        rng.seed()
    else:
        rng.manual_seed(int(seed))
    return rng


def _resolve_classes(generator, classnames_or_indices):
    """``(class list or None, positions [C] into it, labels [C] to report)``."""
    items = classnames_or_indices
    if isinstance(items, str):
        raise TypeError(f"Pass a list of class names, not the single string {items!r}.")
    if isinstance(items, torch.Tensor):
        items = items.reshape(-1).tolist()
    items = list(items)
    if not items:
        raise ValueError("No classes to synthesize: the class list is empty.")
    if all(isinstance(c, str) for c in items):
        positions = torch.arange(len(items))
        return items, positions, positions.clone()
    if all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in items):
        idx = torch.tensor([int(c) for c in items], dtype=torch.long)
        n = generator.num_classes
        if int(idx.min()) < 0 or int(idx.max()) >= n:
            raise ValueError(
                f"Class index {int(idx.max()) if int(idx.max()) >= n else int(idx.min())} is out of range for the "
                f"generator's {n} classes; call generator.set_classnames(...) first or pass class names."
            )
        return None, idx, idx.clone()
    raise TypeError("classnames_or_indices must be all class names (str) or all class indices (int), not a mix.")


@torch.no_grad()
def sample_for_labels(generator, labels, generator_rng=None, classnames=None):
    """One synthesized, L2-normalised feature per label (labels drawn by the caller).

    ``labels`` index into ``classnames`` when given, else into ``generator.classnames``. Returns
    [B, D] float features on the generator's device.
    """
    return generator.sample(labels, classnames=classnames, rng=generator_rng)


@torch.no_grad()
def synthesize(generator, classnames_or_indices, n_per_class, seed=None, batch_size=256):
    """``n_per_class`` features per class, class-major order.

    Returns ``(features [C * n, D] L2-normalised, labels [C * n])`` on the generator's device.
    The latents are drawn once for all rows from a CPU generator seeded with ``seed``, so results
    depend neither on ``batch_size`` nor on the device (up to float rounding).
    """
    n_per_class = int(n_per_class)
    if n_per_class < 0:
        raise ValueError(f"n_per_class must be >= 0, got {n_per_class}.")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    names, positions, reported = _resolve_classes(generator, classnames_or_indices)
    device = generator.device
    rows = positions.repeat_interleave(n_per_class)
    labels = reported.repeat_interleave(n_per_class).to(device)
    rng = make_rng(seed)  # latents drawn on the CPU: the same seed gives the same latents on any device
    z = torch.randn((rows.shape[0], generator.latent_dim), generator=rng).to(device)
    feats = [generator.decode(z[s:s + batch_size], rows[s:s + batch_size], classnames=names)
             for s in range(0, rows.shape[0], int(batch_size))]
    feats = torch.cat(feats) if feats else torch.empty(0, generator.embed_dim, device=device)
    return feats, labels


class SyntheticFeaturePool:
    """Synthesize ``per_class`` features per class once, then draw stage-2 batches from them.

    Cheaper than decoding through the text tower at every step, at the price of a finite set of
    synthetic features. Draws use the pool's own seeded ``torch.Generator``.
    """

    def __init__(self, generator, classnames_or_indices, per_class, seed=None, batch_size=256):
        if int(per_class) < 1:
            raise ValueError(f"A feature pool needs per_class >= 1 (TRAINER.SHIP.POOL_SIZE), got {per_class}.")
        self.per_class = int(per_class)
        self.features, self.labels = synthesize(generator, classnames_or_indices, self.per_class, seed=seed,
                                                batch_size=batch_size)
        self.classes = self.labels[::self.per_class].cpu()
        self._block = torch.full((int(self.classes.max()) + 1,), -1, dtype=torch.long)
        self._block[self.classes] = torch.arange(len(self.classes))
        self.rng = make_rng(None if seed is None else int(seed) + 1)

    def __len__(self):
        return self.features.shape[0]

    def draw(self, n, rng=None):
        """``n`` pool entries uniformly at random: ``(features [n, D], labels [n])``."""
        rng = self.rng if rng is None else rng
        idx = torch.randint(len(self), (int(n),), generator=rng, device=rng.device).to(self.features.device)
        return self.features[idx], self.labels[idx]

    def for_labels(self, labels, rng=None):
        """One random pool feature of each requested label: [B, D]."""
        rng = self.rng if rng is None else rng
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1).cpu()
        known = (labels >= 0) & (labels < len(self._block))
        block = torch.full_like(labels, -1)
        block[known] = self._block[labels[known]]
        if (block < 0).any():
            missing = sorted(set(labels[block < 0].tolist()))
            raise ValueError(f"Labels {missing[:5]} are not in the synthetic pool (its classes: {self.classes.tolist()[:10]}...).")
        offset = torch.randint(self.per_class, (labels.shape[0],), generator=rng, device=rng.device).cpu()
        return self.features[(block * self.per_class + offset).to(self.features.device)]
