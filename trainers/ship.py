"""SHIP trainers: a shared mixin over the baselines (SHIP_CoOp, SHIP_CoCoOp, SHIP_TipAdapter(F)).

Stage 1 (``prepare_generator``, before training): fit the generator -- a VAE whose decoder is
CLIP's frozen text tower fed synthesized prompts -- on the labelled training features, or load a
saved one (``TRAINER.SHIP.GENERATOR_DIR``, or this run's own ``generator/`` folder on resume).

Stage 2: the base method runs unchanged over the union label space *base + label-only*; the mixin
only changes what it sees:

* ``get_train_classnames()`` returns base + label-only classes (label-only labels come after the
  base labels, so they never collide);
* ``compute_loss(features, labels)`` appends ``SYN_RATIO x batch`` synthesized features of
  label-only classes (labels drawn uniformly) to every real batch (CoOp, CoCoOp, Tip-Adapter-F);
* ``cache_entries()`` appends ``SYN_PER_CLASS`` synthesized features per label-only class to the
  Tip-Adapter cache.

Evaluation is the base method's: base test among base classes after training, new test among new
classes in the ``--eval-only`` run on ``SUBSAMPLE_CLASSES new``, the joint space with ``TEST.JOINT``.

Which classes are label-only (``TRAINER.SHIP.LABEL_ONLY``): ``new`` (the other half of the same
dataset in base-to-new; the unseen classes of a GZSL benchmark), ``all-target`` (every class of
``TRAINER.SHIP.TARGET_DATASET``, for cross-dataset transfer), or the path of a text file with one
class name per line.
"""
import copy

import torch

from shipclip.clip.prompts import clean_classname
from shipclip.ship.label_space import read_classname_file  # noqa: F401  (kept importable from here)
from shipclip.ship.persistence import load_generator, save_generator, saved_generator_dir

from .cocoop import CoCoOp
from .coop import CoOp
from .tip_adapter import TipAdapter, TipAdapterF

__all__ = ["ShipMixin", "SHIP_CoOp", "SHIP_CoCoOp", "SHIP_TipAdapter", "SHIP_TipAdapterF",
           "read_classname_file"]

def _rank():
    """Process rank under torchrun (0 otherwise): each rank draws its own synthetic features."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class ShipMixin:
    """SHIP on top of a :class:`trainers.base.ClipTrainer` subclass (put it first in the bases)."""

    # ------------------------------------------------------------------ label spaces
    def label_only_classnames(self):
        """Label-only class names (not already among the base classes), computed once."""
        if getattr(self, "_label_only", None) is None:
            from shipclip.ship.label_space import label_only_classnames

            self._label_only = label_only_classnames(self.cfg, self.dm.dataset, super().get_train_classnames())
        return list(self._label_only)

    def _requested_label_only(self):
        """``LABEL_ONLY`` as asked (new: derived for a dataset that does not list them; all-target; a file)."""
        from shipclip.ship.label_space import requested_label_only

        return requested_label_only(self.cfg, self.dm.dataset)[0]

    def _target_dataset_classnames(self):
        from shipclip.ship.label_space import target_dataset_classnames

        return target_dataset_classnames(self.cfg, str(self.cfg.TRAINER.SHIP.TARGET_DATASET))[0]

    def get_train_classnames(self):
        return list(super().get_train_classnames()) + self.label_only_classnames()

    def label_only_indices(self):
        """Positions of the label-only classes in the training label space (after the base ones)."""
        n_base = len(super().get_train_classnames())
        return torch.arange(n_base, n_base + len(self.label_only_classnames()))

    # ------------------------------------------------------------------ stage 1
    def before_train(self):
        self.prepare_generator()
        super().before_train()

    def before_epoch(self):
        super().before_epoch()
        # Synthetic draws depend only on (seed, epoch): a resumed run draws the same samples.
        if getattr(self, "syn_rng", None) is not None:
            self.syn_rng.manual_seed(self._ship_seed() * 100003 + int(self.epoch) * 101 + _rank())

    def _ship_seed(self):
        return int(self.cfg.SEED) if int(self.cfg.SEED) >= 0 else 0

    def prepare_generator(self):
        """Build the generator over the training label space, then load or fit it (idempotent)."""
        if getattr(self, "generator", None) is not None:
            return self.generator
        from shipclip.ship import SyntheticFeaturePool, build_generator_from_cfg, fit_generator, make_rng

        cfg, ship = self.cfg, self.cfg.TRAINER.SHIP
        classnames = self.get_train_classnames()
        generator = build_generator_from_cfg(cfg, self.generator_text_encoder(), self.tokenizer, classnames).to(self.device)
        print(f"SHIP generator ({ship.GENERATOR}): {sum(p.numel() for p in generator.parameters() if p.requires_grad):,} "
              f"trainable parameters; {len(classnames) - len(self.label_only_classnames())} base + "
              f"{len(self.label_only_classnames())} label-only classes")
        if not self.label_only_classnames():
            print("SHIP: no label-only classes outside the training classes; stage 2 equals the base method")
        source = saved_generator_dir(cfg, self.output_dir)
        if source is not None:
            load_generator(generator, cfg, source)
        else:
            features, labels = self.generator_training_features()
            fit_generator(generator, features, labels, epochs=ship.EPOCHS, lr=ship.LR, batch_size=ship.BATCH_SIZE,
                          seed=self._ship_seed(), device=self.device, holdout=self.generator_holdout(),
                          autocast=self._generator_autocast())
            save_generator(generator, cfg, self.output_dir, type(self).__name__)
        generator.eval()
        self.generator = generator
        self.syn_rng = make_rng(self._ship_seed(), "cpu")
        self.syn_pool = None
        if int(ship.POOL_SIZE) > 0 and len(self.label_only_classnames()):
            indices = self.label_only_indices().tolist()
            self.syn_pool = SyntheticFeaturePool(generator, indices, int(ship.POOL_SIZE), seed=self._ship_seed())
            print(f"SHIP: pre-synthesized a pool of {int(ship.POOL_SIZE)} features per label-only class")
        return generator

    def generator_training_features(self):
        """Stage 1's data: the labelled training images as ``GEN_VIEWS`` augmented views (a fresh one per image
        per step, read from the feature cache when it is on), or re-encoded at every step with ``GEN_VIEWS 0``."""
        views = int(self.cfg.TRAINER.SHIP.GEN_VIEWS)
        epochs = int(self.cfg.TRAINER.SHIP.EPOCHS)
        n = len(self.dm.dataset.train_x)
        if views < 0:
            raise ValueError(f"TRAINER.SHIP.GEN_VIEWS must be >= 0 (0 = a fresh augmentation encoded at every step), "
                             f"got {views}.")
        if views == 0:
            print(f"SHIP stage 1: fitting the generator on {n} training images, a fresh augmentation encoded at every "
                  f"step, {epochs} epochs")
            return self.data.fresh_views(), self.data.labels("train").to(self.device)
        print(f"SHIP stage 1: fitting the generator on {n} training images x {views} augmented view(s), a random view "
              f"per image per step, {epochs} epochs")
        return self.augmented_features(views)

    def generator_holdout(self):
        """Validation features of the training (base) classes, for stage 1's held-out diagnostics (or None).

        Only logged, never used to choose anything; skipped when the validation split is missing or
        shares images with the test split.
        """
        from .evaluation import shared_images

        dataset = self.dm.dataset
        if not dataset.val or shared_images(dataset.val, dataset.test):
            return None
        base = [clean_classname(c) for c in super().get_train_classnames()]
        keep = [i for i, item in enumerate(dataset.val)
                if item.label < len(base) and clean_classname(item.classname) == base[item.label]]
        if not keep:
            return None
        features, labels = self.split_features("val")
        keep = torch.tensor(keep, device=features.device)
        return features[keep], labels[keep]

    def generator_text_encoder(self):
        """The frozen text tower the generator decodes with, in ``TRAINER.SHIP.PREC`` (released: fp32).

        When the trainer's CLIP runs in another precision (fp16 weights on CUDA), the generator gets its
        own fp32 copy of the text tower (the image tower is not copied).
        """
        from shipclip.clip.precision import resolve_precision

        prec = resolve_precision(self.cfg.TRAINER.SHIP.PREC, self.device)
        want = torch.float16 if prec == "fp16" else torch.float32
        text_encoder = self.text_encoder
        if text_encoder.dtype != want:
            text_encoder = copy.deepcopy(text_encoder).to(want)
            print(f"SHIP generator: its own {prec} copy of the text tower (the trainer's CLIP runs in {self.precision})")
        return text_encoder

    def _generator_autocast(self):
        from shipclip.clip.precision import autocast, resolve_precision

        prec = resolve_precision(self.cfg.TRAINER.SHIP.PREC, self.device)
        return (lambda: autocast("amp", self.device)) if prec == "amp" else None

    # ------------------------------------------------------------------ stage 2
    def training_stage(self):
        """Error messages name the stage and the base method (stage 1 names itself in ``fit_generator``)."""
        base = next(c.__name__ for c in type(self).__mro__ if not issubclass(c, ShipMixin))
        return f"SHIP stage 2 ({base} on real + synthesized features)"

    def synthesize_batch(self, n):
        """``n`` synthesized features of label-only classes (labels uniform over them)."""
        from shipclip.ship import sample_for_labels

        indices = self.label_only_indices()
        pick = torch.randint(len(indices), (int(n),), generator=self.syn_rng)
        labels = indices[pick]
        if self.syn_pool is not None:
            features = self.syn_pool.for_labels(labels, rng=self.syn_rng)
        else:
            features = sample_for_labels(self.generator, labels.to(self.device), generator_rng=self._device_rng())
        return features.float().to(self.device), labels.to(self.device)

    def _device_rng(self):
        if torch.device(self.device).type == "cpu":
            return self.syn_rng
        if getattr(self, "_cuda_rng", None) is None:
            self._cuda_rng = torch.Generator(device=self.device)
        self._cuda_rng.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=self.syn_rng)))
        return self._cuda_rng

    def compute_loss(self, features, labels):
        """The base method's loss on real + synthesized features; logits of the real rows are returned."""
        n_syn = int(round(float(self.cfg.TRAINER.SHIP.SYN_RATIO) * features.shape[0]))
        if getattr(self, "generator", None) is None or n_syn <= 0 or not self.label_only_classnames():
            return super().compute_loss(features, labels)
        syn_features, syn_labels = self.synthesize_batch(n_syn)
        loss, logits = super().compute_loss(torch.cat([features.float(), syn_features]),
                                            torch.cat([labels, syn_labels]))
        return loss, logits[: features.shape[0]]

    def cache_entries(self):
        """Tip-Adapter's cache plus ``SYN_PER_CLASS`` synthesized entries per label-only class."""
        from shipclip.ship import synthesize

        keys, names = super().cache_entries()
        per_class = int(self.cfg.TRAINER.SHIP.SYN_PER_CLASS)
        label_only = self.label_only_classnames()
        if per_class <= 0 or not label_only:
            return keys, names
        self.prepare_generator()
        indices = self.label_only_indices().tolist()
        syn, syn_labels = synthesize(self.generator, indices, per_class, seed=self._ship_seed())
        union = self.get_train_classnames()
        print(f"SHIP: added {syn.shape[0]} synthesized cache entries ({per_class} per label-only class)")
        return torch.cat([keys.float(), syn.float().to(keys.device)]), list(names) + [union[i] for i in syn_labels.tolist()]


class SHIP_CoOp(ShipMixin, CoOp):
    """CoOp trained on real base features + synthesized label-only features over the union."""


class SHIP_CoCoOp(ShipMixin, CoCoOp):
    """CoCoOp whose meta-net is fed real or synthesized features, prompts for every union class."""


class SHIP_TipAdapter(ShipMixin, TipAdapter):
    """Training-free Tip-Adapter whose cache also holds synthesized label-only entries."""

    def build_cache(self):
        self.prepare_generator()
        super().build_cache()


class SHIP_TipAdapterF(ShipMixin, TipAdapterF):
    """Tip-Adapter-F with synthesized cache entries, fine-tuned on real + synthesized features."""
