"""The parts every SHIP feature generator shares: image-feature encoder, reparameterisation, loss.

A generator is a conditional VAE over L2-normalised CLIP image features. Only the decoder differs
between the prompt generator (CLIP's frozen text tower fed synthesized prompts) and the MLP
baseline, so the encoder, the loss, the frozen-CLIP bookkeeping and the class-list cache live in
:class:`FeatureVAE`.

Frozen CLIP is held *outside* the module tree on purpose: ``state_dict()``, ``parameters()`` and
``named_modules()`` then only see the generator's own trainable tensors, so a saved generator is
small, independent of the class list, and can be reused with another class set or stage-2 run.
``.to()``/``.cuda()``/``.half()`` still reach the frozen tower and the cached class tensors
through :meth:`FeatureVAE._apply`.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from shipclip.clip.text import TextEncoder

__all__ = ["FeatureVAE", "FeatureEncoder", "init_linear", "make_activation", "reparameterize", "vae_loss", "LOSS_TERMS"]

LOSS_TERMS = ("recon", "kl", "loss")
_ACTIVATIONS = ("relu", "leaky_relu")


def init_linear(module, std=0.02):
    """The method's initialisation for every Linear layer: weights N(0, std), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def make_activation(name):
    """``relu`` (released default) or ``leaky_relu`` (slope 0.2, released ImageNet script)."""
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    raise ValueError(f"Unknown generator activation {name!r} (TRAINER.SHIP.ACTIVATION); use one of {', '.join(_ACTIVATIONS)}.")


class FeatureEncoder(nn.Module):
    """``h = ReLU(Linear(D->H_e)(x))``, ``mu = Linear(H_e->L)(h)``, ``logvar = Linear(H_e->L)(h)``.

    It sees only the image feature (no class conditioning), as in the method.
    """

    def __init__(self, in_dim, hidden_dim, latent_dim):
        super().__init__()
        self.fc = nn.Linear(in_dim, hidden_dim)
        self.act = nn.ReLU()
        self.mu = nn.Linear(hidden_dim, latent_dim)
        self.logvar = nn.Linear(hidden_dim, latent_dim)
        init_linear(self)

    def forward(self, x):
        h = self.act(self.fc(x))
        return self.mu(h), self.logvar(h)


def standard_normal(shape, device, rng=None):
    """N(0, I) samples on ``device``; drawn on ``rng``'s own device so any seeded generator works."""
    if rng is None:
        return torch.randn(shape, device=device)
    return torch.randn(shape, generator=rng, device=rng.device).to(device)


def reparameterize(mu, logvar, rng=None):
    """``z = mu + exp(0.5 * logvar) * eps`` with ``eps ~ N(0, I)`` (from ``rng`` when given)."""
    eps = standard_normal(mu.shape, mu.device, rng).to(mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def vae_loss(x, x_hat, mu, logvar, lambda_kl):
    """Batch loss terms: ``recon`` = mean_i sum_d (x - x_hat)^2, ``kl`` = mean_i KL(N(mu, sigma) || N(0, I)).

    With ``lambda_kl == 0`` the total is exactly ``recon`` (no ``0 * inf`` surprises).
    """
    recon = (x - x_hat).pow(2).sum(dim=-1).mean()
    kl = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).sum(dim=-1).mean()
    loss = recon if lambda_kl == 0 else recon + lambda_kl * kl
    return {"recon": recon, "kl": kl, "loss": loss}


class _Frozen:
    """Plain holder for modules the generator uses but must never own (kept out of the module tree)."""

    def __init__(self, text_encoder):
        self.text_encoder = text_encoder


def as_text_encoder(clip_or_text_encoder):
    """Accept a CLIP model or a ready :class:`TextEncoder`; freeze it (no gradient ever reaches CLIP)."""
    te = clip_or_text_encoder if isinstance(clip_or_text_encoder, TextEncoder) else TextEncoder(clip_or_text_encoder)
    for p in te.parameters():
        p.requires_grad_(False)
    return te.eval()


class FeatureVAE(nn.Module):
    """Base class: encoder + loss + class-list handling; subclasses implement the decoder.

    Subclasses provide ``_build_condition(names)`` (the per-class tensors the decoder needs, built
    once per class list and cached), ``_apply_to_condition(cond, fn)`` and
    ``_decode(z, class_index, cond)`` returning un-normalised features [B, D].
    """

    kind = None

    def __init__(self, clip_model, tokenizer, classnames, enc_hidden=2048, latent_dim=512, lambda_kl=1.0):
        super().__init__()
        te = as_text_encoder(clip_model)
        self._frozen = _Frozen(te)
        self.tokenizer = tokenizer
        self.embed_dim = te.embed_dim  # D: CLIP's joint embedding (image-feature) size
        self.width = te.width  # W: token-embedding width of the text tower
        self.latent_dim = int(latent_dim)
        self.enc_hidden = int(enc_hidden)
        if self.latent_dim < 1 or self.enc_hidden < 1:
            raise ValueError(
                f"Generator sizes must be positive: LATENT_DIM={latent_dim}, ENC_HIDDEN={enc_hidden} (TRAINER.SHIP)."
            )
        lambda_kl = float(lambda_kl)
        if not math.isfinite(lambda_kl) or lambda_kl < 0:
            raise ValueError(f"TRAINER.SHIP.LAMBDA_KL must be a finite value >= 0, got {lambda_kl}.")
        self.lambda_kl = lambda_kl
        self.encoder = FeatureEncoder(self.embed_dim, self.enc_hidden, self.latent_dim)
        self._cache = {}
        self._classnames = None
        self._pending_classnames = list(classnames)

    def _finish_init(self):
        """Move the generator's own tensors next to CLIP, then build the training class list."""
        device = self.text_encoder.token_embedding.weight.device
        super()._apply(lambda t: t.to(device))
        self.set_classnames(self._pending_classnames)
        del self._pending_classnames

    # ------------------------------------------------------------------ frozen CLIP + device
    @property
    def text_encoder(self):
        """The frozen CLIP text tower (not a submodule: never in ``state_dict`` or ``parameters``)."""
        return self._frozen.text_encoder

    @property
    def device(self):
        return self.encoder.fc.weight.device

    @property
    def dtype(self):
        """dtype of the generator's own layers (CLIP's tower casts for itself)."""
        return self.encoder.fc.weight.dtype

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        self.text_encoder._apply(fn)
        for key, cond in list(self._cache.items()):
            self._cache[key] = self._apply_to_condition(cond, fn)
        return self

    def train(self, mode=True):
        super().train(mode)
        self.text_encoder.eval()  # frozen: always in inference mode
        return self

    # ------------------------------------------------------------------ class lists
    @property
    def classnames(self):
        """The current label space (labels passed without ``classnames=`` index into it)."""
        return list(self._classnames)

    @property
    def num_classes(self):
        return len(self._classnames)

    def set_classnames(self, classnames):
        """Switch the default label space (e.g. to base + label-only classes before synthesis)."""
        names = _check_names(classnames)
        self._condition(names)
        self._classnames = names
        return self

    def _condition(self, classnames=None):
        """Per-class decoder inputs for a class list, built once and cached by the tuple of names."""
        names = self._classnames if classnames is None else _check_names(classnames)
        key = tuple(names)
        if key not in self._cache:
            self._cache[key] = self._build_condition(names)
        return self._cache[key], len(names)

    def clear_cache(self):
        """Drop cached class tensors of lists other than the current one."""
        keep = tuple(self._classnames)
        self._cache = {k: v for k, v in self._cache.items() if k == keep}

    # ------------------------------------------------------------------ parameters
    def param_groups(self):
        """Trainable parameters per part (``[{"name", "params"}]``), for one optimizer setting per part."""
        groups = []
        for name, module in self.named_children():
            params = [p for p in module.parameters() if p.requires_grad]
            if params:
                groups.append({"name": name, "params": params})
        loose = [p for n, p in self.named_parameters(recurse=False) if p.requires_grad]
        if loose:
            groups.append({"name": "ctx", "params": loose})
        return groups

    def trainable_parameters(self):
        return [p for g in self.param_groups() for p in g["params"]]

    # ------------------------------------------------------------------ VAE
    def _prepare_features(self, x):
        if x.dim() != 2 or x.shape[-1] != self.embed_dim:
            raise ValueError(
                f"Generator input features must be [N, {self.embed_dim}] (the CLIP model's embed dim), got "
                f"{list(x.shape)}. Encode images with the same CLIP model the generator was built on."
            )
        return F.normalize(x.to(self.device, self.dtype), dim=-1)

    def _check_labels(self, labels, n_cls, rows=None):
        labels = torch.as_tensor(labels, dtype=torch.long, device=self.device).reshape(-1)
        if rows is not None and labels.shape[0] != rows:
            raise ValueError(f"Got {labels.shape[0]} labels for {rows} features; pass one label per feature.")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_cls):
            bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
            raise ValueError(
                f"Label {bad} is out of range for a class list of {n_cls} classes; labels must index the "
                "generator's class names (or the classnames= list passed alongside)."
            )
        return labels

    def encode(self, x):
        """``(mu, logvar)`` of the approximate posterior for (normalised) image features ``x``."""
        return self.encoder(self._prepare_features(x))

    def decode(self, z, labels, classnames=None):
        """L2-normalised features [B, D] for latents ``z`` [B, L] and labels into the class list."""
        cond, n_cls = self._condition(classnames)
        labels = self._check_labels(labels, n_cls, rows=z.shape[0])
        out = self._decode(z.to(self.device, self.dtype), labels, cond)
        return F.normalize(out.to(self.dtype), dim=-1)

    def sample(self, labels, classnames=None, rng=None):
        """Synthesize one feature per label: ``z ~ N(0, I)`` (from ``rng``), then decode. Encoder unused."""
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        z = standard_normal((labels.shape[0], self.latent_dim), self.device, rng)
        return self.decode(z, labels, classnames)

    def reconstruct(self, x, labels, rng=None):
        """``(x, x_hat, mu, logvar)``: encode, reparameterise, decode with the true labels."""
        x = self._prepare_features(x)
        mu, logvar = self.encoder(x)
        z = reparameterize(mu, logvar, rng)
        return x, self.decode(z, labels), mu, logvar

    def forward(self, x, labels, rng=None):
        """Loss terms ``{"recon", "kl", "loss"}`` for a batch of image features and their labels."""
        x, x_hat, mu, logvar = self.reconstruct(x, labels, rng)
        return vae_loss(x, x_hat, mu, logvar, self.lambda_kl)

    # ------------------------------------------------------------------ subclass hooks
    def _build_condition(self, names):
        raise NotImplementedError

    def _apply_to_condition(self, cond, fn):
        raise NotImplementedError

    def _decode(self, z, labels, cond):
        raise NotImplementedError


def _check_names(classnames):
    if isinstance(classnames, str):
        raise TypeError(f"Class names must be a list of strings, got the single string {classnames!r}.")
    names = list(classnames)
    if not names:
        raise ValueError("The generator needs at least one class name.")
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise ValueError(f"Class names must be non-empty strings; got {bad[:3]!r}.")
    return names
