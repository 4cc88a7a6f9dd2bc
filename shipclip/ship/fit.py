"""Stage 1: fit a generator on frozen-encoder image features, a fresh augmented view per image per step.

The released code re-encodes a new random crop/flip of every image at every step. The image
encoder is frozen, so the same procedure is cheaper from ``V`` views encoded once (or read from
the feature cache): each step draws, for every image of its minibatch, one of the ``V`` views at
random. ``features`` may therefore be

* ``[N, D]``: one fixed view per image;
* ``[V, N, D]``: ``V`` views per image, a random one per image per step;
* a *view source* with ``len(source) == N`` and ``source.draw(index, rng) -> [b, D]`` (e.g. the
  online source of :mod:`shipclip.data`, which encodes a fresh augmentation per call, exactly as
  released).

An epoch is ``ceil(N / batch_size)`` steps over a shuffled order of the N images, the last partial
batch kept (as released), whatever ``V`` is.

``holdout=(features, labels)`` (e.g. the base classes' validation features) is scored after every
``holdout_every`` epochs and at the end, and logged: reconstruction error and cosine of the
posterior-mean reconstruction, KL, and the cosine of features synthesized from the prior
(``z ~ N(0, I)``, what stage 2 uses) to the real ones, for the same and for the other classes.
"""
import contextlib
import math

import torch
import torch.nn.functional as F
from shipclip.progress import progress_bar

from .vae import LOSS_TERMS

__all__ = ["fit_generator", "holdout_diagnostics", "TensorViews", "STAGE"]

STAGE = "SHIP generator, stage 1"


def _as_tensor(value, name, dtype):
    try:
        return torch.as_tensor(value, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{STAGE}: {name} must be a tensor or array, got {type(value).__name__} ({exc}).") from exc


class TensorViews:
    """``V`` precomputed views ``[V, N, D]`` of N images; :meth:`draw` picks one per image at random."""

    def __init__(self, features):
        if features.dim() == 2:
            features = features.unsqueeze(0)
        if features.dim() != 3 or features.shape[1] == 0:
            raise ValueError(f"{STAGE}: features must be [N, D] or [V, N, D] with N > 0, got shape "
                             f"{list(features.shape)}.")
        if not torch.isfinite(features).all():
            bad = int((~torch.isfinite(features)).any(dim=-1).any(dim=0).nonzero()[0])
            raise ValueError(f"{STAGE}: feature row {bad} contains NaN/inf; re-extract the image features.")
        self.features = features

    @property
    def num_views(self):
        return self.features.shape[0]

    def __len__(self):
        return self.features.shape[1]

    def to(self, device):
        self.features = self.features.to(device)
        return self

    def draw(self, index, rng):
        """One view of each image in ``index`` [b]: a uniform random view per image (none drawn when V = 1)."""
        index = index.to(self.features.device)
        if self.num_views == 1:
            return self.features[0, index]
        view = torch.randint(self.num_views, (index.shape[0],), generator=rng).to(self.features.device)
        return self.features[view, index]


def _views(features):
    if hasattr(features, "draw") and hasattr(features, "__len__"):
        return features
    return TensorViews(_as_tensor(features, "features", torch.float32))


def _check_inputs(n, labels, epochs, lr, batch_size):
    if labels.dim() != 1 or labels.shape[0] != n:
        raise ValueError(
            f"{STAGE}: labels must be [N] with N = {n} (one per image), got shape {list(labels.shape)}."
        )
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ValueError(f"{STAGE}: epochs and batch_size must be >= 1 (TRAINER.SHIP.EPOCHS={epochs}, BATCH_SIZE={batch_size}).")
    if not (float(lr) > 0 and math.isfinite(float(lr))):
        raise ValueError(f"{STAGE}: the learning rate must be a positive number (TRAINER.SHIP.LR={lr}).")


@torch.no_grad()
def holdout_diagnostics(generator, features, labels, seed=0):
    """How well the generator explains held-out real features of its own classes.

    Returns ``recon`` (mean squared error of the posterior-mean reconstruction, as in the loss),
    ``recon_cos`` (its mean cosine to the real feature), ``kl`` (mean KL of the posterior),
    ``prior_cos`` (mean cosine of a feature synthesized from ``z ~ N(0, I)`` for the true class to
    the real feature), ``prior_cos_other`` (the same for a different class: the class signal is the
    gap between the two) and ``prior_spread`` (mean cosine distance between two prior draws of the
    same class: near 0 when every draw of a class decodes to nearly one feature).
    """
    was_training = generator.training
    generator.eval()
    x = F.normalize(features.to(generator.device).float(), dim=-1)
    labels = labels.to(generator.device).long()
    mu, logvar = generator.encode(x)
    x_hat = generator.decode(mu, labels).float()
    kl = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).sum(dim=-1).mean()
    rng = torch.Generator(device=generator.device).manual_seed(int(seed))
    prior = generator.sample(labels, rng=rng).float()
    prior2 = generator.sample(labels, rng=rng).float()
    out = {"recon": float((x - x_hat).pow(2).sum(dim=-1).mean()), "recon_cos": float((x * x_hat).sum(-1).mean()),
           "kl": float(kl), "prior_cos": float((x * prior).sum(-1).mean()),
           "prior_spread": float(1.0 - (prior * prior2).sum(-1).mean())}
    if generator.num_classes > 1:
        other = (labels + 1 + torch.randint(generator.num_classes - 1, labels.shape, generator=rng,
                                            device=rng.device).to(labels.device)) % generator.num_classes
        out["prior_cos_other"] = float((x * generator.sample(other, rng=rng).float()).sum(-1).mean())
    generator.train(was_training)
    return out


def _format_holdout(d):
    text = (f"held-out recon {d['recon']:.4g} (cos {d['recon_cos']:.3f}) kl {d['kl']:.4g} | prior draw cos to real: "
            f"own class {d['prior_cos']:.3f}")
    if "prior_cos_other" in d:
        text += f", other class {d['prior_cos_other']:.3f}"
    return text + f", spread within class {d['prior_spread']:.4f}"


def fit_generator(generator, features, labels, epochs=50, lr=1e-3, batch_size=256, seed=None, device=None,
                  log=print, weight_decay=0.01, progress=True, holdout=None, holdout_every=10, autocast=None):
    """Train ``generator`` (encoder, bias MLP / decoder, global context) with CLIP frozen.

    Args:
        generator: a :class:`~shipclip.ship.vae.FeatureVAE` (prompt or MLP generator).
        features: image features (normalised inside the generator): ``[N, D]``, ``[V, N, D]`` or a view
            source (see the module docstring).
        labels: [N] class indices into ``generator.classnames``.
        epochs, lr, batch_size: the recipe (released: 50, 1e-3, 256); AdamW with ``lr`` for every part.
        seed: seeds the minibatch shuffling, the view draws and the reparameterisation noise (None = unseeded).
        device: where to train (None = where the generator already is).
        log: callable for one line per epoch (None = silent).
        progress: show a progress bar over all steps (on a terminal only, never in log.txt).
        holdout: optional ``(features [M, D], labels [M])`` scored with :func:`holdout_diagnostics`.
        autocast: optional context-manager factory wrapped around the forward pass (mixed precision).

    Returns:
        The history: one ``{"recon", "kl", "loss"}`` dict of sample-weighted mean losses per epoch,
        plus ``"holdout"`` (the diagnostics) on the epochs where the held-out set was scored.

    Raises:
        FloatingPointError: a loss term became NaN/inf; the message names the stage, epoch and term.
    """
    views = _views(features)
    labels = _as_tensor(labels, "labels", torch.long)
    n = len(views)
    _check_inputs(n, labels, epochs, lr, batch_size)
    epochs, batch_size = int(epochs), int(batch_size)
    if device is not None:
        generator.to(device)
    device = generator.device
    if hasattr(views, "to"):
        views.to(device)
    labels = labels.to(device)
    generator._check_labels(labels, generator.num_classes)

    groups = [{"params": g["params"], "lr": float(lr), "name": g["name"]} for g in generator.param_groups()]
    optimizer = torch.optim.AdamW(groups, lr=float(lr), weight_decay=weight_decay)
    shuffle_rng, view_rng = torch.Generator(), torch.Generator()
    noise_rng = torch.Generator(device=device)
    if seed is not None:
        shuffle_rng.manual_seed(int(seed))
        view_rng.manual_seed(int(seed) + 1)
        noise_rng.manual_seed(int(seed))
    else:
        for rng in (shuffle_rng, view_rng, noise_rng):
            rng.seed()

    steps = math.ceil(n / batch_size)
    history = []
    generator.train()
    bar = progress_bar(total=epochs * steps, desc=STAGE, disable=not progress, leave=False, dynamic_ncols=True)
    emit = bar.write if (not bar.disable and log is print) else log  # keep log lines off the bar's line
    try:
        for epoch in range(1, epochs + 1):
            order = torch.randperm(n, generator=shuffle_rng)
            sums = dict.fromkeys(LOSS_TERMS, 0.0)
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                x = views.draw(idx, view_rng)
                with autocast() if autocast is not None else contextlib.nullcontext():
                    terms = generator(x, labels[idx.to(device)], rng=noise_rng)
                values = {k: float(terms[k].detach()) for k in LOSS_TERMS}
                for k in LOSS_TERMS:
                    if not math.isfinite(values[k]):
                        raise FloatingPointError(
                            f"{STAGE}: non-finite {k} loss ({values[k]}) at epoch {epoch}/{epochs}, step "
                            f"{step + 1}/{steps}. Lower TRAINER.SHIP.LR (now {lr}), use TRAINER.SHIP.PREC fp32, "
                            "or check the input features."
                        )
                optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                optimizer.step()
                for k in LOSS_TERMS:
                    sums[k] += values[k] * idx.shape[0]
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{values['loss']:.4f}")
            means = {k: sums[k] / n for k in LOSS_TERMS}
            line = f"{STAGE}: epoch {epoch}/{epochs} loss {means['loss']:.4g} recon {means['recon']:.4g} kl {means['kl']:.4g}"
            if holdout is not None and (epoch % max(int(holdout_every), 1) == 0 or epoch == epochs):
                means["holdout"] = holdout_diagnostics(generator, holdout[0], holdout[1], seed=0 if seed is None else seed)
                line += " | " + _format_holdout(means["holdout"])
            history.append(means)
            if emit is not None:
                emit(line)
    finally:
        bar.close()
    generator.eval()
    return history
