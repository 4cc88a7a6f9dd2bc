"""Stage 1: fit a generator on precomputed (frozen-encoder) image features.

The image encoder is frozen, so features are computed once by the caller (possibly several
augmented views per image) and fitting never touches images: an epoch is a pass of shuffled
minibatches over a feature tensor.
"""
import math

import torch
from tqdm import tqdm

from .vae import LOSS_TERMS

__all__ = ["fit_generator", "STAGE"]

STAGE = "SHIP generator, stage 1"


def _as_tensor(value, name, dtype):
    try:
        return torch.as_tensor(value, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{STAGE}: {name} must be a tensor or array, got {type(value).__name__} ({exc}).") from exc


def _check_inputs(features, labels, epochs, lr, batch_size):
    if features.dim() != 2 or features.shape[0] == 0:
        raise ValueError(f"{STAGE}: features must be a non-empty [N, D] tensor, got shape {list(features.shape)}.")
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"{STAGE}: labels must be [N] with N = {features.shape[0]} (one per feature), got shape {list(labels.shape)}."
        )
    if not torch.isfinite(features).all():
        bad = int((~torch.isfinite(features)).any(dim=1).nonzero()[0])
        raise ValueError(f"{STAGE}: feature row {bad} contains NaN/inf; re-extract the image features.")
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ValueError(f"{STAGE}: epochs and batch_size must be >= 1 (TRAINER.SHIP.EPOCHS={epochs}, BATCH_SIZE={batch_size}).")
    if not (float(lr) > 0 and math.isfinite(float(lr))):
        raise ValueError(f"{STAGE}: the learning rate must be a positive number (TRAINER.SHIP.LR={lr}).")


def fit_generator(generator, features, labels, epochs=50, lr=1e-3, batch_size=256, seed=None, device=None,
                  log=print, weight_decay=0.01, progress=True):
    """Train ``generator`` (encoder, bias MLP / decoder, global context) with CLIP frozen.

    Args:
        generator: a :class:`~shipclip.ship.vae.FeatureVAE` (prompt or MLP generator).
        features: [N, D] image features (normalised inside the generator).
        labels: [N] class indices into ``generator.classnames``.
        epochs, lr, batch_size: the recipe (released: 50, 1e-3, 256); AdamW with ``lr`` for every part.
        seed: seeds both the minibatch shuffling and the reparameterisation noise (None = unseeded).
        device: where to train (None = where the generator already is).
        log: callable for one line per epoch (None = silent).
        progress: show a tqdm bar over all steps.

    Returns:
        The history: one ``{"recon", "kl", "loss"}`` dict of sample-weighted mean losses per epoch.

    Raises:
        FloatingPointError: a loss term became NaN/inf; the message names the stage, epoch and term.
    """
    features = _as_tensor(features, "features", torch.float32)
    labels = _as_tensor(labels, "labels", torch.long)
    _check_inputs(features, labels, epochs, lr, batch_size)
    epochs, batch_size = int(epochs), int(batch_size)
    if device is not None:
        generator.to(device)
    device = generator.device
    features, labels = features.to(device), labels.to(device)
    generator._check_labels(labels, generator.num_classes)

    groups = [{"params": g["params"], "lr": float(lr), "name": g["name"]} for g in generator.param_groups()]
    optimizer = torch.optim.AdamW(groups, lr=float(lr), weight_decay=weight_decay)
    shuffle_rng = torch.Generator()
    noise_rng = torch.Generator(device=device)
    if seed is not None:
        shuffle_rng.manual_seed(int(seed))
        noise_rng.manual_seed(int(seed))
    else:
        shuffle_rng.seed()
        noise_rng.seed()

    n = features.shape[0]
    steps = math.ceil(n / batch_size)
    history = []
    generator.train()
    bar = tqdm(total=epochs * steps, desc=STAGE, disable=not progress, leave=False, dynamic_ncols=True)
    emit = bar.write if (progress and log is print) else log  # keep log lines off the bar's line
    try:
        for epoch in range(1, epochs + 1):
            order = torch.randperm(n, generator=shuffle_rng).to(device)
            sums = dict.fromkeys(LOSS_TERMS, 0.0)
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                terms = generator(features[idx], labels[idx], rng=noise_rng)
                values = {k: float(terms[k].detach()) for k in LOSS_TERMS}
                for k in LOSS_TERMS:
                    if not math.isfinite(values[k]):
                        raise FloatingPointError(
                            f"{STAGE}: non-finite {k} loss ({values[k]}) at epoch {epoch}/{epochs}, step "
                            f"{step + 1}/{steps}. Lower TRAINER.SHIP.LR (now {lr}) or check the input features."
                        )
                optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                optimizer.step()
                for k in LOSS_TERMS:
                    sums[k] += values[k] * idx.shape[0]
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{values['loss']:.4f}")
            means = {k: sums[k] / n for k in LOSS_TERMS}
            history.append(means)
            if emit is not None:
                emit(f"{STAGE}: epoch {epoch}/{epochs} loss {means['loss']:.4g} "
                     f"recon {means['recon']:.4g} kl {means['kl']:.4g}")
    finally:
        bar.close()
    generator.eval()
    return history
