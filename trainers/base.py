"""``ClipTrainer``: the shared base of every CLIP trainer in this project (its lifecycle and hooks).

CLIP's encoders are frozen everywhere, so a trainer is "a head on top of frozen features". The
base class loads CLIP once, keeps it in eval mode (it is never registered, so the engine never
switches it to train mode: RN50's BatchNorm statistics stay untouched), gets all of its data from
one :class:`~shipclip.data.DataPath` (images, or cached features with ``FEATURES.CACHE``) and routes
every batch the same way::

    features, labels = self.batch_features(batch)   # cached features, or images through the frozen tower
    loss, logits = self.compute_loss(features, labels)

Hooks for subclasses and mixins (the SHIP trainers are a mixin over the baselines):

* ``build_head()``: the trainable (or fixed) classifier on top of CLIP;
* ``get_train_classnames()``: the label space trained on (default: the dataset's class names;
  SHIP returns base + label-only classes). Training labels index this list;
* ``get_eval_classnames()``: the label space evaluated on (see :mod:`.evaluation`);
* ``logits_from_features(features, classnames=None)``: the classifier over ``classnames``;
* ``compute_loss(features, labels) -> (loss, logits)``: used by every trainable baseline's
  ``forward_backward``; SHIP appends synthesized features here;
* ``augmented_features(views)`` / ``split_features(split)``: frozen features of the training set
  (augmented views) or of val/test, from the data path (Tip-Adapter's cache, SHIP's stage 1).

Evaluation lives in :mod:`.evaluation`, checkpoints and resume in :mod:`.checkpointing`.
"""
import datetime
import time

import torch
import torch.nn.functional as F

from shipclip.backend import TrainerX, build_lr_scheduler, build_optimizer, compute_accuracy, engine_description
from shipclip.clip.image import ImageEncoder
from shipclip.clip.loader import check_input_size, get_tokenizer, load_clip_from_cfg, model_dims
from shipclip.clip.precision import autocast, clip_precision_for, make_grad_scaler, resolve_precision
from shipclip.clip.prompts import clean_classname
from shipclip.clip.text import TextEncoder
from shipclip.data import DataPath, batch_inputs, feature_identity
from shipclip.progress import progress_bar

from .checkpointing import GRAD_SCALER_FILE, CheckpointMixin
from .evaluation import EvaluationMixin, SelectionOnTestError, harmonic_mean, joint_accuracy

__all__ = ["ClipTrainer", "joint_accuracy", "harmonic_mean", "PRECISIONS", "GRAD_SCALER_FILE", "SelectionOnTestError",
           "epoch_seed"]

PRECISIONS = ("fp16", "fp32", "amp")


def epoch_seed(seed, epoch):
    """Seed of one epoch, derived from the run's seed (distinct epochs, distinct streams)."""
    return (int(seed) * 1000003 + int(epoch) * 7919 + 1) % (2**31 - 1)


class ClipTrainer(EvaluationMixin, CheckpointMixin, TrainerX):
    """Frozen CLIP + a trainer-specific head; see the module docstring for the hooks.

    Subclasses set ``PREC_NODE`` (the ``cfg.TRAINER.<node>.PREC`` key that selects fp16/fp32/amp)
    and implement ``build_head()`` and ``logits_from_features()``.
    """

    PREC_NODE = "COOP"
    LR_STEP = "epoch"  # "epoch": one scheduler step per epoch (CoOp); "iter": every iteration (Tip-Adapter-F)
    LR_KEY = "OPTIM.LR"  # the config key of the learning rate (named in error messages)
    TEXT_CHUNK = 1024  # prompts per text-tower call under no_grad (bounds memory on 1000-class sets)

    # ------------------------------------------------------------------ construction
    def check_cfg(self, cfg):
        prec = cfg.TRAINER[self.PREC_NODE].PREC
        if prec not in PRECISIONS:
            raise ValueError(
                f"TRAINER.{self.PREC_NODE}.PREC is {prec!r}; use one of {', '.join(PRECISIONS)} "
                "(fp16 runs in fp32 on CPU)."
            )

    def build_data_loader(self):
        """The engine's dataset (and summary), then every loader from this trainer's :class:`DataPath`."""
        super().build_data_loader()
        self.data = DataPath(self.cfg, self.dm.dataset)
        self.refresh_loaders()

    def refresh_loaders(self):
        """(Re)build the train/val/test loaders from the data path (images, or cached features once attached)."""
        self.train_loader_x = self.data.train_loader()
        self.val_loader = self.data.eval_loader("val")
        self.test_loader = self.data.eval_loader("test")

    def build_model(self):
        """Load the frozen CLIP once (never registered: the engine never switches it to train mode)."""
        cfg = self.cfg
        self.requested_precision = cfg.TRAINER[self.PREC_NODE].PREC
        self.precision = resolve_precision(self.requested_precision, self.device)
        self.clip_model = load_clip_from_cfg(cfg, self.device, precision=clip_precision_for(self.precision))
        self.clip_model.requires_grad_(False)
        self.clip_model.eval()
        check_input_size(cfg, self.clip_model)
        self.dims = model_dims(self.clip_model)
        self.tokenizer = get_tokenizer(cfg.MODEL.BACKBONE.NAME)
        self.image_encoder = ImageEncoder(self.clip_model)
        self.text_encoder = TextEncoder(self.clip_model)
        self.logit_scale = self.clip_model.logit_scale.detach().exp().float()
        self.scaler = make_grad_scaler(self.precision, self.device)  # only for fp16 autocast
        self._text_cache = None
        self.print_build_summary()
        self.attach_data_encoder()
        self.build_head()

    def attach_data_encoder(self):
        """Give the data path the frozen image tower; with ``FEATURES.CACHE`` the loaders then serve features."""
        identity = feature_identity(self.clip_model, self.cfg.MODEL.BACKBONE.NAME, self.cfg.MODEL.BACKBONE.PRETRAINED,
                                    clip_precision_for(self.precision), self.dims)
        use_cache = bool(self.cfg.FEATURES.CACHE)
        self.data.attach_encoder(lambda images: self.encode_images(images, normalize=False), identity, use_cache)
        if use_cache:
            self.refresh_loaders()
            for (split, views), path in self.data.entries.items():
                print(f"Feature cache ({split}, {views} view{'s' if views > 1 else ''}): {path}")

    def build_head(self):
        """Build (and register) the trainable part. Training-free trainers build fixed classifiers."""

    def print_build_summary(self):
        cfg = self.cfg
        shots = cfg.DATASET.NUM_SHOTS if cfg.DATASET.NUM_SHOTS >= 1 else "all"
        weights = cfg.MODEL.BACKBONE.PRETRAINED
        prec = self.precision if self.precision == self.requested_precision else (
            f"{self.precision} (requested {self.requested_precision})")
        print(
            f"{type(self).__name__} | {engine_description()} | backbone: {cfg.MODEL.BACKBONE.NAME} "
            f"(weights: {weights}) | dataset: {cfg.DATASET.NAME} | split: {cfg.DATASET.SUBSAMPLE_CLASSES} | "
            f"classes: {len(self.get_eval_classnames())} | shots: {shots} | precision: {prec} | device: {self.device}"
        )

    def dim(self, key):
        """A width of the backbone from ``model_dims`` (embed_dim, text_width, vis_dim, image_size)."""
        dims = self.dims
        return dims[key] if isinstance(dims, dict) else getattr(dims, key)

    # ------------------------------------------------------------------ label spaces
    def get_train_classnames(self):
        """The label space trained on; training labels index this list."""
        return list(self.dm.dataset.classnames)

    # ------------------------------------------------------------------ features and logits
    def _autocast(self):
        return autocast(self.precision, self.device)

    @torch.no_grad()
    def encode_images(self, images, normalize=True):
        """Frozen image features of a batch of images (float32, L2-normalised unless ``normalize=False``)."""
        with self._autocast():
            features = self.image_encoder(images.to(self.device)).float()
        return F.normalize(features, dim=-1) if normalize else features

    def batch_features(self, batch):
        """Normalised features [B, D] and labels of a batch: cached features as they are, images encoded."""
        kind, inputs = batch_inputs(batch)
        labels = batch["label"].to(self.device)
        if kind == "feature":
            return F.normalize(inputs.to(self.device).float(), dim=-1), labels
        return self.encode_images(inputs), labels

    def augmented_features(self, views):
        """``[views, N, D]`` normalised features of augmented views of the training images, and labels [N]."""
        feats = self.data.views("train", views)
        return F.normalize(feats.to(self.device), dim=-1), self.data.labels("train").to(self.device)

    def split_features(self, split):
        """Normalised features [N, D] of the val or test images (test transform) and their labels [N]."""
        feats = self.data.views(split, 1)[0]
        return F.normalize(feats.to(self.device), dim=-1), self.data.labels(split).to(self.device)

    def encode_text_prompts(self, prompts, tokenized):
        """Run the text tower on prompt embeddings; chunked when no gradient is needed."""
        if torch.is_grad_enabled() or prompts.shape[0] <= self.TEXT_CHUNK:
            return self.text_encoder(prompts, tokenized).float()
        length = self.text_encoder.sequence_length(tokenized)
        return torch.cat([self.text_encoder(prompts[i:i + self.TEXT_CHUNK], tokenized[i:i + self.TEXT_CHUNK], length).float()
                          for i in range(0, prompts.shape[0], self.TEXT_CHUNK)])

    @torch.no_grad()
    def zeroshot_weights(self, classnames, templates):
        """Zero-shot classifier [C, D]: per class, the normalised mean of the normalised template features."""
        if isinstance(templates, str):
            templates = [templates]
        if not templates:
            raise ValueError("At least one prompt template is needed for the zero-shot classifier.")
        names = [clean_classname(c) for c in classnames]
        texts = [t.format(n) for n in names for t in templates]
        tokens = self.tokenizer(texts).to(self.device)
        feats = []
        starts = range(0, tokens.shape[0], self.TEXT_CHUNK)
        for i in progress_bar(starts, desc="Encoding class prompts", leave=False, disable=len(starts) < 2):
            chunk = tokens[i:i + self.TEXT_CHUNK]
            length = self.text_encoder.sequence_length(chunk)
            chunk = chunk[:, :length]
            with self._autocast():
                feats.append(self.text_encoder(self.text_encoder.embed(chunk), chunk, length).float())
        feats = F.normalize(torch.cat(feats), dim=-1).view(len(names), len(templates), -1)
        return F.normalize(feats.mean(dim=1), dim=-1)

    def logits_from_features(self, features, classnames=None):
        raise NotImplementedError

    def compute_loss(self, features, labels):
        """Cross-entropy over ``get_train_classnames()``; returns (loss, logits)."""
        logits = self.logits_from_features(features, self.get_train_classnames())
        return F.cross_entropy(logits, labels), logits

    # ------------------------------------------------------------------ training step
    def lr_step_unit(self):
        """``epoch`` or ``iter``: when the learning-rate schedule advances (``OPTIM.LR_STEP_UNIT`` or the trainer's)."""
        unit = str(getattr(self.cfg.OPTIM, "LR_STEP_UNIT", "") or self.LR_STEP)
        if unit not in ("epoch", "iter"):
            raise ValueError(f"OPTIM.LR_STEP_UNIT is {unit!r}; use epoch or iter.")
        return unit

    def make_optimizer(self, module):
        """The engine's optimizer over ``module`` from ``OPTIM``, with ``OPTIM.ADAM_EPS`` for the Adam family."""
        optimizer = build_optimizer(module, self.cfg.OPTIM)
        eps = float(getattr(self.cfg.OPTIM, "ADAM_EPS", 1e-8))
        if str(self.cfg.OPTIM.NAME).lower() in ("adam", "adamw", "amsgrad", "radam"):
            for group in optimizer.param_groups:
                group["eps"] = eps
        return optimizer

    def build_scheduler(self, optimizer):
        """The lr schedule of ``OPTIM`` for ``optimizer``, stepped per epoch or per iteration (``lr_step_unit``)."""
        iters = len(self.train_loader_x) if self.lr_step_unit() == "iter" else None
        return build_lr_scheduler(optimizer, self.cfg.OPTIM, iters_per_epoch=iters)

    def forward_backward(self, batch):
        features, labels = self.batch_features(batch)
        with self._autocast():  # a no-op unless PREC is amp on CUDA
            loss, logits = self.compute_loss(features, labels)
        if self.scaler is not None:
            self._amp_backward_and_update(loss)
        else:
            self.model_backward_and_update(loss)  # with the engine's NaN check
        summary = {"loss": loss.item(), "acc": compute_accuracy(logits.float(), labels)[0].item()}
        if self.lr_step_unit() == "iter" or (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary

    def _amp_backward_and_update(self, loss):
        names = self.get_model_names()
        optims = [self._optims[n] for n in names if self._optims[n] is not None]
        for optim in optims:
            optim.zero_grad()
        self.scaler.scale(loss).backward()
        if hasattr(self, "sync_gradients"):  # built-in engine under torchrun: average across ranks
            self.sync_gradients(names)
        for optim in optims:
            self.scaler.step(optim)
        self.scaler.update()

    def training_stage(self):
        """How error messages name what is being trained (SHIP: its stage 2)."""
        return f"{type(self).__name__} training"

    def detect_anomaly(self, loss):
        """Stop at a NaN/inf loss, naming the stage, the loss term, the step and what to change."""
        if torch.isfinite(loss).all():
            return
        value = float(loss.detach().float().reshape(-1)[0])
        where = f"epoch {self.epoch + 1}/{self.max_epoch}"
        if getattr(self, "num_batches", None):
            where += f", batch {self.batch_idx + 1}/{self.num_batches}"
        fixes = f"lower {self.LR_KEY} (the learning rate is now {self.get_current_lr():g})"
        if self.precision != "fp32":
            fixes += f", use TRAINER.{self.PREC_NODE}.PREC fp32 (now {self.precision})"
        raise FloatingPointError(
            f"{self.training_stage()}: non-finite cross-entropy loss ({value}) at {where}. Loss is infinite or NaN: "
            f"{fixes}, or check the input images."
        )

    # ------------------------------------------------------------------ epochs
    def before_train(self):
        if self.cfg.TEST.FINAL_MODEL == "best_val":
            self.selection_split("TEST.FINAL_MODEL best_val (choosing the deployed epoch)")
        super().before_train()
        if self.start_epoch > 0:  # resumed: the weights in memory are those of start_epoch
            self._model_epoch = self.start_epoch

    def before_epoch(self):
        """Reseed every RNG from (SEED, epoch): shuffling, augmentation and worker seeds of an epoch
        then do not depend on what ran before it, so a run resumed at this epoch continues exactly
        like an uninterrupted one (under both engines)."""
        super().before_epoch()
        if int(self.cfg.SEED) >= 0:
            from shipclip.backend import set_random_seed

            set_random_seed(epoch_seed(int(self.cfg.SEED), int(self.epoch)))
        sampler = getattr(self.train_loader_x, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        dataset = getattr(self.train_loader_x, "dataset", None)
        if hasattr(dataset, "set_epoch"):  # cached features: a fresh augmented view per epoch
            dataset.set_epoch(self.epoch)

    def after_epoch(self):
        self._model_epoch = self.epoch + 1
        super().after_epoch()

    # ------------------------------------------------------------------ end of training
    def after_train(self):
        """The engine's end of training (deploy, test, elapsed time), tolerant of trainers without models."""
        print("Finish training")
        if not self.cfg.TEST.NO_TEST:
            self.deploy_final_model()
            self.test()
        elapsed = str(datetime.timedelta(seconds=round(time.time() - getattr(self, "time_start", time.time()))))
        print(f"Elapsed: {elapsed}")
        self.close_writer()

    def deploy_final_model(self):
        """Last-epoch model (``TEST.FINAL_MODEL last_step``) or the best on validation; never chosen on test."""
        if self.cfg.TEST.FINAL_MODEL == "best_val" and self._models:
            print("Deploy the model with the best val performance")
            self.load_model(self.output_dir)
        else:
            print("Deploy the last-epoch model")
