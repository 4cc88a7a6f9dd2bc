"""``ClipTrainer``: the shared base of every CLIP trainer in this project.

CLIP's encoders are frozen everywhere, so a trainer is "a head on top of frozen features". The
base class loads CLIP once, keeps it in eval mode (it is never registered, so the engine never
switches it to train mode: RN50's BatchNorm statistics stay untouched) and routes every batch the
same way::

    images, labels = self.parse_batch_train(batch)
    features = self.encode_images(images)          # the ONLY place images meet the image encoder
    loss, logits = self.compute_loss(features, labels)

Hooks for subclasses and mixins (the SHIP trainers are a mixin over the baselines):

* ``get_train_classnames()``: the label space trained on (default: the dataset's class names;
  SHIP returns base + label-only classes). Training labels index this list.
* ``get_eval_classnames()``: the label space evaluated on (the current dataset's class names, or
  its joint label space when ``TEST.JOINT`` is on).
* ``encode_images(images, normalize=True)``: frozen image features as float32; a [B, D] input is
  taken as precomputed features (a feature cache yields those instead of images).
* ``compute_loss(features, labels) -> (loss, logits)``: used by every trainable baseline's
  ``forward_backward``; SHIP appends synthesized features here.
* ``logits_from_features(features, classnames=None)``: classifier over ``classnames`` (default
  ``get_eval_classnames()``).
* ``extract_features(loader, views=1, average=True)``: no-grad feature extraction over a loader
  (Tip-Adapter's cache, SHIP's generator training).
* ``cache_loader()``: an unshuffled loader over the training images with the training
  augmentation (the Tip-Adapter cache is the mean over several passes of it).

``test()`` follows the engine's flow and printed lines and additionally writes every evaluation
to ``results.json`` (``shipclip.results.record_evaluation``); with ``TEST.JOINT`` it also reports
the per-class mean accuracy on seen (base) and unseen (new) classes and their harmonic mean.
"""
import datetime
import os
import os.path as osp
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from shipclip.backend import (ENGINE, DatasetWrapper, TrainerX, build_transform, compute_accuracy, engine_description,
                              load_checkpoint)
from shipclip.clip.image import ImageEncoder
from shipclip.clip.loader import check_input_size, get_tokenizer, load_clip_from_cfg, model_dims
from shipclip.clip.precision import autocast, clip_precision_for, make_grad_scaler, resolve_precision
from shipclip.clip.prompts import clean_classname
from shipclip.clip.text import TextEncoder
from shipclip.infra.distributed import is_main_process
from shipclip.infra.io import atomic_torch_save

__all__ = ["ClipTrainer", "joint_accuracy", "harmonic_mean", "PRECISIONS"]

PRECISIONS = ("fp16", "fp32", "amp")
GRAD_SCALER_FILE = "grad_scaler.pth"  # fp16 loss-scaler state, next to the model folders of a run


def epoch_seed(seed, epoch):
    """Seed of one epoch, derived from the run's seed (distinct epochs, distinct streams)."""
    return (int(seed) * 1000003 + int(epoch) * 7919 + 1) % (2**31 - 1)


def harmonic_mean(a, b):
    """2ab / (a + b), 0 when both are 0 (the base-to-new and GZSL summary)."""
    return 2.0 * a * b / (a + b) if (a + b) > 0 else 0.0


def joint_accuracy(y_true, y_pred, classnames, seen, unseen):
    """Per-class mean accuracy (%) on the seen and unseen classes of a joint label space.

    ``y_true``/``y_pred`` index ``classnames``. Classes without test samples are left out of the
    means, as in generalized zero-shot learning. Returns ``{"seen", "unseen", "harmonic",
    "num_seen_classes", "num_unseen_classes"}``.
    """
    y_true = torch.as_tensor(y_true).long().view(-1)
    y_pred = torch.as_tensor(y_pred).long().view(-1)
    seen = {clean_classname(c) for c in seen}
    unseen = {clean_classname(c) for c in unseen}
    overlap = seen & unseen
    if overlap:
        raise ValueError(f"Classes listed as both seen and unseen: {sorted(overlap)[:5]}")
    per_class = {"seen": [], "unseen": []}
    for index, name in enumerate(classnames):
        mask = y_true == index
        total = int(mask.sum())
        if total == 0:
            continue
        acc = 100.0 * float((y_pred[mask] == index).sum()) / total
        name = clean_classname(name)
        if name in seen:
            per_class["seen"].append(acc)
        elif name in unseen:
            per_class["unseen"].append(acc)
    s = sum(per_class["seen"]) / len(per_class["seen"]) if per_class["seen"] else 0.0
    u = sum(per_class["unseen"]) / len(per_class["unseen"]) if per_class["unseen"] else 0.0
    return {"seen": s, "unseen": u, "harmonic": harmonic_mean(s, u),
            "num_seen_classes": len(per_class["seen"]), "num_unseen_classes": len(per_class["unseen"])}


class ClipTrainer(TrainerX):
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
        if cfg.FEATURES.CACHE:
            self.install_feature_cache()
        self.build_head()

    def install_feature_cache(self):
        """``FEATURES.CACHE``: serve frozen image features from disk instead of images.

        The train/val/test loaders are replaced (see :mod:`shipclip.features`); their ``img`` is
        then a [B, D] feature, which ``encode_images`` passes through.
        """
        from shipclip.features import install_feature_loaders

        entries = install_feature_loaders(self, lambda images: self.encode_images(images, normalize=False),
                                          self.feature_identity())
        for split, path in entries.items():
            print(f"Feature cache ({split}): {path}")

    def feature_identity(self):
        """What makes this backbone's image features what they are (the feature-cache key)."""
        import hashlib

        from shipclip.features import file_identity

        info = dict(getattr(self.clip_model, "clip_load_info", {}) or {})
        pretrained = str(self.cfg.MODEL.BACKBONE.PRETRAINED)
        if info.get("weights", "").startswith("random"):
            digest = hashlib.sha1()  # random weights: the features follow the drawn values
            for name, tensor in self.clip_model.visual.state_dict().items():
                digest.update(name.encode())
                digest.update(tensor.detach().float().cpu().numpy().tobytes())
            weights = f"random:{digest.hexdigest()}"
        else:
            weights = file_identity(pretrained) if osp.isfile(osp.expanduser(pretrained)) else info.get("weights", pretrained)
        return {"backbone": info.get("open_clip_name", self.cfg.MODEL.BACKBONE.NAME), "weights": weights,
                "quick_gelu": info.get("quick_gelu"), "precision": clip_precision_for(self.precision),
                "dims": dict(self.dims)}

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

    # ------------------------------------------------------------------ label spaces
    def get_train_classnames(self):
        """The label space trained on; training labels index this list."""
        return list(self.dm.dataset.classnames)

    def get_eval_classnames(self):
        """The label space evaluated on: the dataset's classes, or its joint space with ``TEST.JOINT``."""
        dataset = self.dm.dataset
        if self.cfg.TEST.JOINT:
            names = getattr(dataset, "all_classnames", None)
            if names:
                return list(names)
        return list(dataset.classnames)

    def joint_class_sets(self):
        """(seen, unseen) class names of the dataset, for ``TEST.JOINT``."""
        dataset = self.dm.dataset
        for seen_attr, unseen_attr in (("seen_classnames", "unseen_classnames"), ("base_classnames", "new_classnames")):
            seen, unseen = getattr(dataset, seen_attr, None), getattr(dataset, unseen_attr, None)
            if seen is not None and unseen is not None:
                return list(seen), list(unseen)
        raise AttributeError(
            f"TEST.JOINT is True but dataset {type(dataset).__name__} exposes neither "
            "seen_classnames/unseen_classnames nor base_classnames/new_classnames. Use a dataset of this "
            "project or set TEST.JOINT False."
        )

    def label_map(self, data_source, classnames):
        """Tensor mapping a split's labels to indices of ``classnames`` (None when they coincide).

        Needed in the joint label space, where a split's own labels (relabelled by
        ``SUBSAMPLE_CLASSES``) differ from the positions in the joint class list.
        """
        if not data_source:
            return None
        index = {clean_classname(n): i for i, n in enumerate(classnames)}
        pairs = {}
        for item in data_source:
            pairs.setdefault(item.label, item.classname)
        if all(label < len(classnames) and clean_classname(classnames[label]) == clean_classname(name)
               for label, name in pairs.items()):
            return None
        missing = sorted({name for name in pairs.values() if clean_classname(name) not in index})
        if missing:
            raise ValueError(
                f"Evaluation images of classes {missing[:5]} are not in the evaluation label space "
                f"({len(classnames)} classes). Check DATASET.SUBSAMPLE_CLASSES and TEST.JOINT."
            )
        table = torch.full((max(pairs) + 1,), -1, dtype=torch.long)
        for label, name in pairs.items():
            table[label] = index[clean_classname(name)]
        return table

    # ------------------------------------------------------------------ features and logits
    def _autocast(self):
        return autocast(self.precision, self.device)

    @torch.no_grad()
    def encode_images(self, images, normalize=True):
        """Frozen image features (float32, L2-normalised unless ``normalize=False``).

        A 2-D input [B, D] is taken as precomputed image features (feature cache).
        """
        if images.dim() == 2:
            features = images.to(self.device).float()
        else:
            with self._autocast():
                features = self.image_encoder(images.to(self.device)).float()
        return F.normalize(features, dim=-1) if normalize else features

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
        for i in tqdm(starts, desc="Encoding class prompts", leave=False, disable=len(starts) < 2):
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

    @torch.no_grad()
    def model_inference(self, images):
        return self.logits_from_features(self.encode_images(images))

    # ------------------------------------------------------------------ training step
    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def parse_batch_test(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def forward_backward(self, batch):
        images, labels = self.parse_batch_train(batch)
        features = self.encode_images(images)
        with self._autocast():  # a no-op unless PREC is amp on CUDA
            loss, logits = self.compute_loss(features, labels)
        if self.scaler is not None:
            self._amp_backward_and_update(loss)
        else:
            self.model_backward_and_update(loss)  # with the engine's NaN check
        summary = {"loss": loss.item(), "acc": compute_accuracy(logits.float(), labels)[0].item()}
        if self.LR_STEP == "iter" or (self.batch_idx + 1) == self.num_batches:
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

    # ------------------------------------------------------------------ feature extraction
    def build_loader(self, data_source, is_train_transform, batch_size=None, shuffle=False):
        """A loader over ``data_source`` with the train (augmenting) or test transform."""
        cfg = self.cfg
        tfm = build_transform(cfg, is_train=is_train_transform)
        return DataLoader(
            DatasetWrapper(cfg, data_source, transform=tfm, is_train=is_train_transform),
            batch_size=batch_size or cfg.DATALOADER.TEST.BATCH_SIZE,
            shuffle=shuffle,
            num_workers=cfg.DATALOADER.NUM_WORKERS,
            drop_last=False,
            pin_memory=torch.cuda.is_available() and cfg.USE_CUDA,
        )

    def cache_loader(self):
        """Unshuffled, augmented loader over the training images (several passes get averaged)."""
        return self.build_loader(self.dm.dataset.train_x, is_train_transform=True)

    @torch.no_grad()
    def extract_features(self, loader, views=1, average=True, desc="Extracting features"):
        """Image features and labels of ``views`` passes over ``loader`` (no grad).

        ``average=True``: the per-image mean of the unnormalised features over the passes, then
        L2-normalised -> ([N, D], [N]); the loader must not shuffle. ``average=False``: every pass
        kept, each feature normalised -> ([views * N, D], [views * N]).
        """
        passes, labels = [], None
        for v in range(int(views)):
            feats, labs = [], []
            bar = tqdm(loader, desc=f"{desc} ({v + 1}/{views})" if views > 1 else desc, leave=False)
            for batch in bar:
                images, label = self.parse_batch_test(batch)
                feats.append(self.encode_images(images, normalize=False))
                labs.append(label)
            feats, labs = torch.cat(feats), torch.cat(labs)
            if labels is None:
                labels = labs
            elif average and not torch.equal(labels, labs):
                raise RuntimeError("extract_features(average=True) needs a loader that visits images in a fixed order "
                                   "(shuffle=False).")
            passes.append(feats)
        if not passes:
            raise ValueError(f"extract_features needs views >= 1, got {views}")
        if average:
            return F.normalize(torch.stack(passes).mean(dim=0), dim=-1), labels
        return F.normalize(torch.cat(passes), dim=-1), labels.repeat(len(passes))

    # ------------------------------------------------------------------ evaluation
    def split_loader(self, split):
        """(split name, loader, data source) for ``val`` or ``test``; never silently swaps val for test."""
        if split == "val":
            if self.val_loader is None:
                raise ValueError(
                    "Evaluation on the validation split was requested but the dataset has no val split. "
                    "Use TEST.FINAL_MODEL last_step (selection on the test split is not allowed)."
                )
            return "val", self.val_loader, self.dm.dataset.val
        return "test", self.test_loader, self.dm.dataset.test

    @torch.no_grad()
    def test(self, split=None):
        """Evaluate with the engine's printed lines, then record the evaluation in results.json."""
        self.set_model_mode("eval")
        self.evaluator.reset()
        split, loader, data_source = self.split_loader(split or self.cfg.TEST.SPLIT)
        classnames = self.get_eval_classnames()
        mapping = self.label_map(data_source, classnames) if self.cfg.TEST.JOINT else None
        print(f"Evaluate on the *{split}* set")
        self._text_cache = {}
        y_true, y_pred = [], []
        try:
            for batch in tqdm(loader):
                images, labels = self.parse_batch_test(batch)
                if mapping is not None:
                    labels = mapping.to(labels.device)[labels]
                output = self.model_inference(images)
                self.evaluator.process(output, labels)
                y_true.append(labels.cpu())
                y_pred.append(output.argmax(dim=1).cpu())
        finally:
            self._text_cache = None
        results = self.evaluator.evaluate()
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        y_true, y_pred = torch.cat(y_true), torch.cat(y_pred)
        metrics = {k: float(v) for k, v in results.items()}
        metrics["total"] = int(y_true.numel())
        metrics["correct"] = int((y_true == y_pred).sum())
        if self.cfg.TEST.JOINT:
            seen, unseen = self.joint_class_sets()
            joint = joint_accuracy(y_true, y_pred, classnames, seen, unseen)
            print("=> joint label space result")
            print(f"* seen (per-class mean): {joint['seen']:.1f}% over {joint['num_seen_classes']} classes")
            print(f"* unseen (per-class mean): {joint['unseen']:.1f}% over {joint['num_unseen_classes']} classes")
            print(f"* harmonic: {joint['harmonic']:.1f}%")
            metrics.update(joint)
        self.record(split, metrics)
        return list(results.values())[0]

    def model_epoch(self):
        """Epochs the evaluated weights were trained for (from training or the loaded checkpoint; 0 if none)."""
        return int(getattr(self, "_model_epoch", 0) or 0)

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

    def dim(self, key):
        """A width of the backbone from ``model_dims`` (embed_dim, text_width, vis_dim, image_size)."""
        dims = self.dims
        return dims[key] if isinstance(dims, dict) else getattr(dims, key)

    def evaluation_classes(self):
        return "joint" if self.cfg.TEST.JOINT else str(self.cfg.DATASET.SUBSAMPLE_CLASSES)

    def run_info(self):
        """The run description stored next to every evaluation (train.py may add its arguments)."""
        cfg = self.cfg
        info = {
            "trainer": cfg.TRAINER.NAME or type(self).__name__,
            "dataset": cfg.DATASET.NAME,
            "backbone": cfg.MODEL.BACKBONE.NAME,
            "weights": str(cfg.MODEL.BACKBONE.PRETRAINED),
            "num_shots": int(cfg.DATASET.NUM_SHOTS),
            "seed": int(cfg.SEED),
            "subsample_classes": str(cfg.DATASET.SUBSAMPLE_CLASSES),
            "engine": ENGINE,
        }
        info.update(getattr(self, "run_args", None) or {})
        return info

    def record(self, split, metrics):
        from shipclip.results import record_evaluation

        evaluation = {"split": split, "epoch": self.model_epoch(), "classes": self.evaluation_classes(),
                      "metrics": metrics}
        record_evaluation(self.output_dir, self.run_info(), evaluation)

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

    def before_train(self):
        if self.cfg.TEST.FINAL_MODEL == "best_val" and self.val_loader is None:
            raise ValueError(
                "TEST.FINAL_MODEL is best_val but the dataset has no val split; use last_step "
                "(models are never selected on the test split)."
            )
        super().before_train()
        if self.start_epoch > 0:  # resumed: the weights in memory are those of start_epoch
            self._model_epoch = self.start_epoch

    # ------------------------------------------------------------------ checkpoints
    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        """The engine's checkpoints, plus the fp16 loss scaler (``grad_scaler.pth``) when one runs.

        Without it a resumed fp16 run would restart the loss scale at its initial 65536 and skip
        steps until the scale has come down again.
        """
        super().save_model(epoch, directory, is_best=is_best, val_result=val_result, model_name=model_name)
        scaler = getattr(self, "scaler", None)  # set by build_model; absent on a bare trainer
        if scaler is not None and is_main_process():
            atomic_torch_save({"epoch": epoch + 1, "state_dict": scaler.state_dict()},
                              osp.join(directory, GRAD_SCALER_FILE))

    def resume_model_if_exist(self, directory):
        """Resume through the project's checkpoint reader under either engine.

        Dassl 0.6's reader calls ``torch.load`` with torch's default ``weights_only=True`` (torch >= 2.6),
        which refuses run folders written by Dassl itself (its warmup scheduler pickles a scheduler
        object); ours reads them and maps their scheduler state onto ours. The fp16 loss scaler is
        restored too when it was saved at the epoch resumed from.
        """
        from shipclip.infra.checkpoint import resume_models

        names = self.get_model_names()
        start = resume_models(directory, {n: self._models[n] for n in names}, {n: self._optims[n] for n in names},
                              {n: self._scheds[n] for n in names})
        path = osp.join(directory, GRAD_SCALER_FILE)
        scaler = getattr(self, "scaler", None)
        if start > 0 and scaler is not None and osp.isfile(path):
            saved = load_checkpoint(path)
            if saved.get("epoch") == start:
                scaler.load_state_dict(saved["state_dict"])
                print(f"Restored the fp16 loss scale ({scaler.get_scale():g}) from {path}")
            else:
                print(f"{path} is from epoch {saved.get('epoch')}, not {start}: the loss scale starts afresh")
        return start

    def filter_state_dict(self, name, state_dict):
        """Drop entries that must come from the current dataset rather than the checkpoint."""
        return state_dict, ()

    def load_model(self, directory, epoch=None):
        """Load every registered model from ``directory/<name>/``.

        ``epoch=None`` reads ``model-best.pth.tar`` and, when there is none, the checkpoint the
        ``checkpoint`` pointer file names (the last one saved). Tolerates checkpoints without
        ``val_result`` and drops entries ``filter_state_dict`` marks as dataset-specific.
        """
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        names = self.get_model_names()
        if not names:
            print(f"{type(self).__name__} has no trained weights; nothing to load from {directory}")
            return
        for name in names:
            path = self._checkpoint_path(directory, name, epoch)
            checkpoint = load_checkpoint(path)
            state_dict = checkpoint["state_dict"] if "state_dict" in checkpoint else checkpoint
            state_dict = {k[7:] if k.startswith("module.") else k: v for k, v in state_dict.items()}
            state_dict, dropped = self.filter_state_dict(name, dict(state_dict))
            self._check_shapes(name, path, state_dict)
            val = checkpoint.get("val_result")
            val = f", val_result = {val:.1f}" if isinstance(val, (int, float)) else ""
            print(f'Loading weights to {name} from "{path}" (epoch = {checkpoint.get("epoch", "?")}{val})')
            missing, unexpected = self._models[name].load_state_dict(state_dict, strict=False)
            if isinstance(checkpoint.get("epoch"), int):
                self._model_epoch = checkpoint["epoch"]
            missing = [k for k in missing if k not in set(dropped)]
            if missing or unexpected:
                raise RuntimeError(
                    f'Checkpoint "{path}" does not match {name} of {type(self).__name__}: missing keys {missing}, '
                    f"unexpected keys {list(unexpected)}. It was saved by another trainer: evaluate it with the "
                    "--trainer and --config-file of the run that saved it."
                )

    @staticmethod
    def _checkpoint_path(directory, name, epoch):
        folder = osp.join(directory, name)
        if epoch is not None:
            path = osp.join(folder, f"model.pth.tar-{epoch}")
        else:
            path = osp.join(folder, "model-best.pth.tar")
            pointer = osp.join(folder, "checkpoint")
            if not osp.exists(path) and osp.exists(pointer):
                with open(pointer) as f:
                    path = osp.join(folder, f.read().strip())
                print(f"No model-best.pth.tar in {folder}; loading the last saved checkpoint {osp.basename(path)}")
        if not osp.exists(path):
            prefix = "model.pth.tar-"
            saved = sorted(int(f[len(prefix):]) for f in (os.listdir(folder) if osp.isdir(folder) else [])
                           if f.startswith(prefix) and f[len(prefix):].isdigit())
            found = (f"saved epochs there: {', '.join(map(str, saved))}" if saved else
                     f'"{folder}" holds no saved model: give the --output-dir of a finished training run')
            raise FileNotFoundError(
                f'Model not found at "{path}". Check --model-dir and --load-epoch ({found}).'
            )
        return path

    def _check_shapes(self, name, path, state_dict):
        own = self._models[name].state_dict()
        for key, value in state_dict.items():
            if key in own and hasattr(value, "shape") and tuple(own[key].shape) != tuple(value.shape):
                raise ValueError(
                    f'Checkpoint "{path}": {name}.{key} has shape {tuple(value.shape)} but the current model '
                    f"expects {tuple(own[key].shape)}. {self.shape_mismatch_hint(name, key)}"
                )

    def shape_mismatch_hint(self, name, key):
        return "The checkpoint was trained with different settings (backbone, context length or class count)."
