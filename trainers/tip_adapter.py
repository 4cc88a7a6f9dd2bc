"""Tip-Adapter and Tip-Adapter-F (Zhang et al., ECCV 2022) as Dassl trainers.

A cache of few-shot image features (keys) with their class names (values: one-hot over the
evaluated classes) is added to CLIP's zero-shot classifier::

    clip_logits  = 100 * f @ W^T
    cache_logits = exp(-beta * (1 - f @ K^T)) @ V
    logits       = clip_logits + alpha * cache_logits

``CacheTrainer`` holds what both share: the cache (keys: per image the mean of
``TRAINER.TIP.AUGMENT_EPOCH`` augmented views, read from the feature cache when it is on), the
zero-shot classifier, and the alpha/beta search on the validation split. Its two siblings:
``TipAdapter`` is training-free (its "training" builds the cache and searches alpha/beta);
``TipAdapterF`` also fine-tunes the keys with the usual epoch loop. Both save the cache (keys,
entry class names, alpha, beta) as the ``tip_cache`` checkpoint, so eval-only runs reuse it.

Values are built against the class names being evaluated: cache entries whose class is not in
that label space contribute nothing. On ``SUBSAMPLE_CLASSES new`` with a cache of base classes the
prediction is therefore exactly the zero-shot classifier.

Deviations from the released code, on purpose: alpha/beta are searched on validation features
and Tip-Adapter-F's epoch is chosen on validation (or the last epoch is used), never on test.
"""
import datetime
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from shipclip.clip.prompts import clean_classname
from shipclip.progress import progress_bar

from .base import ClipTrainer

__all__ = ["CacheTrainer", "TipAdapter", "TipAdapterF", "TipCache", "search_alpha_beta", "tip_logits", "search_grid",
           "one_hot_values"]

CLIP_SCALE = 100.0  # Tip-Adapter's fixed scale of the zero-shot logits (not CLIP's learned one)


def one_hot_values(entry_classnames, classnames, device=None):
    """Cache values [N, C]: row i is the one-hot of entry i's class in ``classnames`` (zeros if absent)."""
    index = {clean_classname(c): i for i, c in enumerate(classnames)}
    values = torch.zeros(len(entry_classnames), len(classnames), device=device)
    for row, name in enumerate(entry_classnames):
        col = index.get(clean_classname(name))
        if col is not None:
            values[row, col] = 1.0
    return values


def tip_logits(clip_logits, affinity, values, alpha, beta):
    """``clip_logits + alpha * exp(-beta * (1 - affinity)) @ values``."""
    cache_logits = torch.exp(-beta * (1.0 - affinity)) @ values
    return clip_logits + alpha * cache_logits


def search_grid(scale, steps):
    """Tip-Adapter's grid: ``0.1 + i * (scale - 0.1) / steps`` for i in 0..steps-1 (upper bound excluded)."""
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"TRAINER.TIP.SEARCH_STEP entries must be >= 1, got {steps}.")
    return [0.1 + i * (float(scale) - 0.1) / steps for i in range(steps)]


@torch.no_grad()
def search_alpha_beta(clip_logits, affinity, values, labels, search_scale, search_step, verbose=True):
    """Exhaustive search of (alpha, beta) maximising top-1 accuracy on the given (validation) features.

    Beta is the outer loop and alpha the inner one; the first setting with the highest accuracy
    wins (Tip-Adapter keeps a setting only when it is strictly better). ``search_scale`` and
    ``search_step`` are [beta, alpha]. Returns ``(alpha, beta, accuracy %)``.
    """
    betas = search_grid(search_scale[0], search_step[0])
    alphas = search_grid(search_scale[1], search_step[1])
    labels = labels.to(clip_logits.device)
    best = (-1, 0.0, 0.0)  # (correct, alpha, beta)
    for beta in progress_bar(betas, desc="Searching alpha/beta", leave=False):
        cache_logits = torch.exp(-beta * (1.0 - affinity)) @ values
        for alpha in alphas:
            correct = int(((clip_logits + alpha * cache_logits).argmax(dim=1) == labels).sum())
            if correct > best[0]:
                best = (correct, alpha, beta)
                if verbose:
                    acc = 100.0 * correct / max(labels.numel(), 1)
                    print(f"New best setting, beta: {beta:.2f}, alpha: {alpha:.2f}; accuracy: {acc:.2f}")
    correct, alpha, beta = best
    return alpha, beta, 100.0 * correct / max(labels.numel(), 1)


class TipCache(nn.Module):
    """The cache as a module: keys in ``adapter`` (bias-free Linear, trainable in Tip-Adapter-F),
    ``alpha``/``beta`` buffers and the class name of every entry (saved as extra state).

    Loading a state dict resizes the keys to the checkpoint's entry count in place (the Parameter
    object is kept, so an optimizer built over it stays valid).
    """

    def __init__(self, dim, keys=None, classnames=(), alpha=1.0, beta=1.0):
        super().__init__()
        self.adapter = nn.Linear(int(dim), 1, bias=False)
        self.adapter.weight.data = torch.empty(0, int(dim))  # no entries until set_entries / loading
        self.adapter.out_features = 0
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.register_buffer("beta", torch.tensor(float(beta)))
        self.classnames = []
        self.version = 0  # bumped whenever the entries change (keys the cached one-hot values)
        if keys is not None:
            self.set_entries(keys, classnames)

    @property
    def num_entries(self):
        return self.adapter.weight.shape[0]

    @property
    def keys(self):
        return self.adapter.weight

    @torch.no_grad()
    def set_entries(self, keys, classnames):
        """Replace the cache by ``keys`` [N, D] (normalised features) and their class names."""
        classnames = list(classnames)
        if keys.dim() != 2 or keys.shape[1] != self.adapter.in_features or keys.shape[0] != len(classnames):
            raise ValueError(
                f"Cache keys must be [N, {self.adapter.in_features}] with one class name per entry; got keys "
                f"{tuple(keys.shape)} and {len(classnames)} names."
            )
        weight = self.adapter.weight
        weight.data = keys.detach().to(device=weight.device, dtype=weight.dtype).clone()
        self.adapter.out_features = keys.shape[0]
        self.classnames = classnames
        self.version += 1

    def set_hparams(self, alpha, beta):
        self.alpha.fill_(float(alpha))
        self.beta.fill_(float(beta))

    def affinity(self, features):
        """Cosine similarity of (normalised) features to every cache entry: [B, N]."""
        return self.adapter(features.to(self.adapter.weight.dtype))

    def forward(self, features, values, clip_logits):
        return tip_logits(clip_logits, self.affinity(features), values, self.alpha, self.beta)

    def get_extra_state(self):
        return {"classnames": list(self.classnames)}

    def set_extra_state(self, state):
        self.classnames = list(state.get("classnames", []))
        self.version += 1

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "adapter.weight"
        if key in state_dict and tuple(state_dict[key].shape) != tuple(self.adapter.weight.shape):
            weight = self.adapter.weight
            incoming = state_dict[key]
            weight.data = torch.empty(incoming.shape, dtype=weight.dtype, device=weight.device)
            self.adapter.out_features = incoming.shape[0]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class CacheTrainer(ClipTrainer):
    """What Tip-Adapter and Tip-Adapter-F share: the cache, the classifier and the search on validation."""

    PREC_NODE = "TIP"
    MODEL_NAME = "tip_cache"
    LEARNABLE_KEYS = False

    def build_head(self):
        dim = self.text_encoder.embed_dim
        self.tip = TipCache(dim, alpha=self.cfg.TRAINER.TIP.INIT_ALPHA, beta=self.cfg.TRAINER.TIP.INIT_BETA).to(self.device)
        self.tip.adapter.weight.requires_grad_(self.LEARNABLE_KEYS)
        self._clip_weights = {}
        self._values = {}
        self.optim, self.sched = self.cache_optimizer(self.tip)
        self.register_model(self.MODEL_NAME, self.tip, self.optim, self.sched)
        print(f"Tip-Adapter templates ({self.cfg.TRAINER.TIP.TEMPLATES}): {list(self.templates())}")

    def cache_optimizer(self, module):
        """(optimizer, scheduler) of the cache: none for the training-free Tip-Adapter."""
        return None, None

    # ------------------------------------------------------------------ classifier pieces
    def templates(self):
        from shipclip.datasets.templates import IMAGENET_TEMPLATES_SELECT, template_for

        choice = self.cfg.TRAINER.TIP.TEMPLATES
        if choice == "ensemble":
            return list(IMAGENET_TEMPLATES_SELECT)
        if choice != "custom":
            raise ValueError(f"TRAINER.TIP.TEMPLATES is {choice!r}; use custom (the dataset's template) or ensemble.")
        template = getattr(self.dm.dataset, "template", None) or template_for(self.cfg.DATASET.NAME)
        return [template] if isinstance(template, str) else list(template)

    def clip_weights(self, classnames):
        """Zero-shot classifier [C, D] for ``classnames`` (computed once per label space)."""
        key = tuple(classnames)
        if key not in self._clip_weights:
            self._clip_weights[key] = self.zeroshot_weights(classnames, self.templates())
        return self._clip_weights[key]

    def cache_values(self, classnames):
        """One-hot values of the cache entries over ``classnames`` (zero rows for absent classes)."""
        key = (tuple(classnames), self.tip.version)
        if key not in self._values:
            values = one_hot_values(self.tip.classnames, classnames, device=self.device)
            used = int(values.sum())
            if used < self.tip.num_entries:
                print(f"Tip-Adapter: {used} of {self.tip.num_entries} cache entries belong to the {len(classnames)} "
                      "classes of this label space; the others contribute nothing"
                      + (" (prediction = zero-shot CLIP)" if used == 0 else ""))
            if len(self._values) >= 4:  # training and evaluation label spaces alternate; keep a few
                self._values.clear()
            self._values[key] = values
        return self._values[key]

    def logits_from_features(self, features, classnames=None):
        classnames = self.get_eval_classnames() if classnames is None else classnames
        features = features.float()
        clip_logits = CLIP_SCALE * features @ self.clip_weights(classnames).t()
        if self.tip.num_entries == 0:
            return clip_logits
        return self.tip(features, self.cache_values(classnames), clip_logits)

    # ------------------------------------------------------------------ the cache
    def cache_entries(self):
        """Keys [N, D] and the class name of each entry (SHIP appends synthesized entries here).

        Keys: per image, the mean of the features of ``AUGMENT_EPOCH`` augmented views, normalised.
        """
        views = max(int(self.cfg.TRAINER.TIP.AUGMENT_EPOCH), 1)
        print(f"Building the cache model from {views} augmented view(s) of {len(self.dm.dataset.train_x)} images")
        feats = self.data.views("train", views)
        keys = F.normalize(feats.mean(dim=0).to(self.device), dim=-1)
        lab2cname = self.dm.dataset.lab2cname
        return keys, [lab2cname[int(label)] for label in self.data.labels("train")]

    def build_cache(self):
        keys, names = self.cache_entries()
        self.tip.set_entries(keys, names)
        self.tip.set_hparams(self.cfg.TRAINER.TIP.INIT_ALPHA, self.cfg.TRAINER.TIP.INIT_BETA)
        print(f"Cache: {self.tip.num_entries} entries over {len(set(names))} classes")

    @torch.no_grad()
    def validation_features(self):
        """Normalised val features and labels in the evaluated label space (the val split must not be test)."""
        items = self.selection_split("Tip-Adapter's alpha/beta search")
        features, labels = self.split_features("val")
        mapping = self.label_map(items, self.get_eval_classnames()) if self.cfg.TEST.JOINT else None
        if mapping is not None:
            labels = mapping.to(labels.device)[labels]
        return features, labels

    @torch.no_grad()
    def search_hparams(self):
        """Report zero-shot / init accuracy on val, then search alpha/beta there (never on test)."""
        tip_cfg = self.cfg.TRAINER.TIP
        if not self.dm.dataset.val:
            print("No validation split: keeping alpha/beta at their initial values (no search on test)")
            return None
        if not tip_cfg.SEARCH_HP:
            print("TRAINER.TIP.SEARCH_HP is False: keeping alpha/beta at their initial values")
            return None
        features, labels = self.validation_features()
        classnames = self.get_eval_classnames()
        clip_logits = CLIP_SCALE * features @ self.clip_weights(classnames).t()
        affinity = self.tip.affinity(features).float()
        values = self.cache_values(classnames)
        zs_acc = _accuracy(clip_logits, labels)
        init = _accuracy(tip_logits(clip_logits, affinity, values, self.tip.alpha, self.tip.beta), labels)
        print(f"**** Zero-shot CLIP's val accuracy: {zs_acc:.2f}. ****")
        print(f"**** Tip-Adapter's val accuracy (alpha {float(self.tip.alpha):.2f}, beta {float(self.tip.beta):.2f}): "
              f"{init:.2f}. ****")
        alpha, beta, acc = search_alpha_beta(clip_logits, affinity, values, labels, tip_cfg.SEARCH_SCALE, tip_cfg.SEARCH_STEP)
        self.tip.set_hparams(alpha, beta)
        print(f"After searching, the best val accuracy: {acc:.2f} (alpha {alpha:.4f}, beta {beta:.4f})")
        return acc

    def _check_shapes(self, name, path, state_dict):
        """The entry count follows the checkpoint; only the feature width must match."""
        weight = state_dict.get("adapter.weight")
        dim = self.tip.adapter.in_features
        if weight is not None and (weight.dim() != 2 or weight.shape[1] != dim):
            raise ValueError(
                f'Checkpoint "{path}": cache keys have shape {tuple(weight.shape)} but this backbone\'s features '
                f"have {dim} dimensions. Evaluate with the backbone the cache was built with."
            )

    def _elapsed(self):
        elapsed = round(time.time() - getattr(self, "time_start", time.time()))
        print(f"Elapsed: {datetime.timedelta(seconds=elapsed)}")
        self.close_writer()


class TipAdapter(CacheTrainer):
    """Training-free Tip-Adapter (``TRAINER.TIP.*``); ``OPTIM.MAX_EPOCH`` is not used."""

    def train(self):
        """Build the cache, search alpha/beta on val, save the cache, then test."""
        self.time_start = time.time()
        self.epoch = 0
        print(f"{type(self).__name__} is training-free: OPTIM.MAX_EPOCH is not used")
        self.build_cache()
        val_acc = self.search_hparams()
        self._model_epoch = 1
        self.save_model(0, self.output_dir, val_result=val_acc)
        print("Finish training")
        if not self.cfg.TEST.NO_TEST:
            print("Deploy the cache with the alpha/beta chosen on validation")
            self.test()
        self._elapsed()


class TipAdapterF(CacheTrainer):
    """Tip-Adapter-F: keys fine-tuned with AdamW, cosine lr stepped every iteration."""

    LEARNABLE_KEYS = True
    LR_STEP = "iter"
    LR_KEY = "TRAINER.TIP.LR"

    def lr_step_unit(self):
        return "iter"  # its own cosine over all iterations (Tip-Adapter-F's schedule)

    def cache_optimizer(self, module):
        tip_cfg = self.cfg.TRAINER.TIP
        optim = torch.optim.AdamW(module.parameters(), lr=tip_cfg.LR, eps=tip_cfg.EPS)
        total = max(int(self.cfg.OPTIM.MAX_EPOCH) * len(self.train_loader_x), 1)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=total)
        return optim, sched

    def before_train(self):
        self.build_cache()  # initial keys; a resumed run then overwrites them with the trained ones
        super().before_train()

    def after_train(self):
        """Deploy the last or best-on-val keys, search alpha/beta on val, save them, then test."""
        print("Finish training")
        self.deploy_final_model()
        val_acc = self.search_hparams()
        self.save_searched(val_acc)
        if not self.cfg.TEST.NO_TEST:
            self.test()
        self._elapsed()

    def deploy_final_model(self):
        if self.cfg.TEST.FINAL_MODEL == "best_val" and not self.cfg.TEST.NO_TEST:
            print("Deploy the model with the best val performance")
            self.load_model(self.output_dir)
        else:
            print("Deploy the last-epoch model")

    def save_searched(self, val_acc):
        """Store the searched alpha/beta in the deployed checkpoint so eval-only runs reproduce the test."""
        epoch = max(self.model_epoch(), 1) - 1
        if self.cfg.TEST.FINAL_MODEL == "best_val" and not self.cfg.TEST.NO_TEST:
            self.save_model(epoch, self.output_dir, val_result=val_acc, model_name="model-best.pth.tar")
        else:
            self.save_model(epoch, self.output_dir, val_result=val_acc)


def _accuracy(logits, labels):
    return 100.0 * float((logits.argmax(dim=1) == labels).float().mean()) if labels.numel() else 0.0
