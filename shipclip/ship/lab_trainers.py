"""SHIP on a lab's own CoOp-style trainers, without editing them: ``--trainer SHIP+<Name>``.

``SHIP+CoOp`` is the lab's registered ``CoOp`` class (not this project's) with SHIP added by a
subclass made on request (:func:`register_ship_for`; ``import shipclip.plugin`` does it for every
trainer of the lab registered before it, our ``train.py`` for the trainer it is asked to run):

* **label space**: while the lab's ``build_model`` runs, ``self.dm.dataset.classnames`` is the union
  *training classes + label-only classes* (label-only labels after the training ones), so the
  lab's classifier (e.g. CoOp's prompt learner) is built over the union; the dataset gets its own
  class list back afterwards.
* **stage 1** (``before_train``): the generator's frozen CLIP is the weights file the lab's model
  was built from (``MODEL.BACKBONE.NAME`` / ``PRETRAINED``, by default OpenAI's file in
  ``~/.cache/clip`` that CoOp loads), checked against the lab's ``model.image_encoder`` on a fixed
  probe; the generator is fitted on the training images encoded by that image encoder, and saved
  in ``<output>/generator/`` (reused on resume, or from ``TRAINER.SHIP.GENERATOR_DIR``).
* **stage 2**: the lab's own ``forward_backward`` runs on a batch whose ``img`` is an explicitly
  marked batch of image features (:class:`FeatureBatch`): the real images' features followed by
  ``SYN_RATIO x batch`` synthesized features of label-only classes, with their labels. The lab's
  ``image_encoder`` returns a marked batch unchanged, so the lab's loss covers both.
* **evaluation**: logits over the union are restricted to the classes evaluated (base test images
  among base classes); with ``TEST.JOINT`` the classes are the joint space and the seen/unseen/
  harmonic lines are printed. Every evaluation is also recorded in ``results.json``.

The contract a trainer must meet is in :data:`CONTRACT` (and docs/DASSL.md); a trainer that does not
meet it is refused with :class:`ShipContractError` naming the clause.
"""
import contextlib
import random

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["SHIP_PREFIX", "CONTRACT", "ShipContractError", "FeatureBatch", "mark_features", "LabShipMixin",
           "ship_variant", "register_ship_for", "register_ship_variants", "ensure_ship_variant", "is_lab_trainer",
           "ship_trainer"]

SHIP_PREFIX = "SHIP+"

CONTRACT = """\
1. It is a Dassl TrainerX (of the engine that runs) and overrides forward_backward.
2. Its build_model reads the class list from self.dm.dataset.classnames and sets self.model, whose classifier
   covers every class of that list in that order (labels index it).
3. self.model (not wrapped in nn.DataParallel: run on one GPU) has an image_encoder module: a frozen CLIP image
   encoder (no trainable parameter) that the model calls once per forward, as image_encoder(images), with no
   other input. Learned prompts inside the image encoder (MaPLe, VPT) cannot be met: a synthesized feature
   stands for an image feature, which those prompts change.
4. forward_backward(batch) takes the images and labels from batch["img"] and batch["label"], and its loss is
   computed over every row of the batch; self.model(images) in eval mode returns the logits over the class list.
5. The image encoder's output is the frozen CLIP of the weights file MODEL.BACKBONE.NAME / PRETRAINED name (by
   default OpenAI's file in ~/.cache/clip, the one CoOp loads); the generator decodes with that CLIP's text tower.
"""


class ShipContractError(TypeError):
    """The lab's trainer cannot run with SHIP; the message names the clause of the contract it breaks."""


def _refuse(trainer_name, clause, detail):
    return ShipContractError(
        f"SHIP cannot run on trainer {trainer_name}: {detail} (clause {clause} of the contract for "
        f"SHIP on your own trainers, see docs/DASSL.md):\n{CONTRACT}"
    )


class FeatureBatch(torch.Tensor):
    """A batch of image features standing in for images: the image encoder returns it unchanged.

    A ``torch.Tensor`` subclass, so it stays marked through ``.to()``/``.type()`` on its way from
    ``batch["img"]`` to ``model.image_encoder`` (no guessing from shapes).
    """


def mark_features(features):
    """``features`` [B, D] as a :class:`FeatureBatch`."""
    return features.detach().as_subclass(FeatureBatch)


# ------------------------------------------------------------------------------------------------
# Recognising and wrapping a lab's trainer


def _engine_classes():
    from shipclip.backend import SimpleTrainer, TrainerBase, TrainerX

    return TrainerBase, SimpleTrainer, TrainerX


def _is_project_trainer(cls):
    return any(c.__module__.startswith(("shipclip.", "trainers.")) and c.__name__ == "ClipTrainer" for c in cls.__mro__)


def _overrides(cls, name):
    engine = _engine_classes()
    for klass in cls.__mro__:
        if klass in engine or klass is object:
            return False
        if name in vars(klass):
            return True
    return False


def is_lab_trainer(cls):
    """A trainer SHIP+ can wrap: a TrainerX of the lab (not Dassl's own, not ours) with its own forward_backward."""
    _, _, trainer_x = _engine_classes()
    return (isinstance(cls, type) and issubclass(cls, trainer_x) and not issubclass(cls, LabShipMixin)
            and not cls.__module__.startswith(("dassl.", "shipclip.")) and not _is_project_trainer(cls)
            and _overrides(cls, "forward_backward"))


def ship_variant(base_cls):
    """A ``SHIP+<Name>`` subclass of the lab's trainer class ``base_cls`` (refused with the reason when it cannot be)."""
    name = getattr(base_cls, "__name__", repr(base_cls))
    _, _, trainer_x = _engine_classes()
    if not (isinstance(base_cls, type) and issubclass(base_cls, trainer_x)):
        raise _refuse(name, 1, f"{name} is not a Dassl TrainerX of the engine that runs")
    if _is_project_trainer(base_cls):
        raise ShipContractError(f"{name} is one of this project's trainers: use SHIP_{name} (SHIP_CoOp, SHIP_CoCoOp, "
                                "SHIP_TipAdapter, SHIP_TipAdapterF) instead of SHIP+.")
    if issubclass(base_cls, LabShipMixin):
        return base_cls
    if not _overrides(base_cls, "forward_backward"):
        raise _refuse(name, 1, f"{name} does not override forward_backward (it trains nothing SHIP could add to)")
    ship_name = SHIP_PREFIX + name
    return type(ship_name, (LabShipMixin, base_cls), {"__module__": __name__, "__qualname__": ship_name,
                                                      "SHIP_BASE": base_cls, "__doc__": f"SHIP on {name} (yours)."})


def register_ship_for(trainer, registry=None):
    """Register ``SHIP+<Name>`` for the lab's trainer ``trainer`` (a registered name or the class); return it."""
    from shipclip.backend import TRAINER_REGISTRY
    from shipclip.registration import register_class

    registry = registry or TRAINER_REGISTRY
    if isinstance(trainer, str):
        if trainer not in registry.registered_names():
            raise KeyError(f'No trainer named "{trainer}" is registered, so SHIP{"+"}{trainer} cannot be made. Import '
                           "the module that registers it first (before import shipclip.plugin).")
        trainer = registry.get(trainer)
    name = SHIP_PREFIX + trainer.__name__
    if name in registry.registered_names():
        return registry.get(name)
    cls = ship_variant(trainer)
    register_class(registry, name, cls)
    return cls


def ship_trainer(cls):
    """Decorator for a lab's trainer class (after its ``@TRAINER_REGISTRY.register()``): also registers SHIP+<Name>."""
    register_ship_for(cls)
    return cls


def register_ship_variants(registry=None):
    """``SHIP+<Name>`` for every registered trainer of the lab that :func:`is_lab_trainer` accepts; the new names."""
    from shipclip.backend import TRAINER_REGISTRY

    registry = registry or TRAINER_REGISTRY
    added = []
    for name in list(registry.registered_names()):
        cls = registry.get(name)
        if name == getattr(cls, "__name__", None) and is_lab_trainer(cls) and SHIP_PREFIX + name not in registry.registered_names():
            register_ship_for(cls, registry)
            added.append(SHIP_PREFIX + name)
    return added


def ensure_ship_variant(trainer_name, registry=None):
    """Make ``SHIP+<Name>`` available when ``trainer_name`` asks for it and ``<Name>`` is registered."""
    from shipclip.backend import TRAINER_REGISTRY

    registry = registry or TRAINER_REGISTRY
    name = str(trainer_name)
    if not name.startswith(SHIP_PREFIX) or name in registry.registered_names():
        return None
    base = name[len(SHIP_PREFIX):]
    if base not in registry.registered_names():
        raise KeyError(f'--trainer {name} asks for SHIP on your trainer "{base}", but no trainer named "{base}" is '
                       "registered. Import (or list in SHIPCLIP_EXTRA_MODULES) the module that registers it.")
    return register_ship_for(base, registry)


# ------------------------------------------------------------------------------------------------
# Random state and the image encoder


@contextlib.contextmanager
def _private_random_state(seed, device):
    """Run with generators seeded from ``seed``, then give every global generator back its state.

    Stage 1 therefore leaves the lab's own random stream (shuffling, augmentation, initialisation)
    exactly where it was.
    """
    py, np_state = random.getstate(), np.random.get_state()
    devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % (2**32))
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(np_state)


def _install_pass_through(encoder):
    """Make ``encoder`` return a :class:`FeatureBatch` unchanged (state dict keys are not touched)."""
    state = getattr(encoder, "_ship_pass_through", None)
    if state is not None:
        return state
    original = encoder.forward
    state = {"features": 0, "images": 0, "extra": None, "original": original}

    def forward(x, *args, **kwargs):
        if args or kwargs:
            state["extra"] = f"{len(args)} extra positional and {sorted(kwargs)} keyword input(s)"
        if isinstance(x, FeatureBatch):
            state["features"] += 1
            return x.as_subclass(torch.Tensor)
        state["images"] += 1
        return original(x, *args, **kwargs)

    encoder.forward = forward
    encoder._ship_pass_through = state
    return state


def _model_dtype(model, encoder):
    dtype = getattr(model, "dtype", None)
    if isinstance(dtype, torch.dtype):
        return dtype
    for p in encoder.parameters():
        return p.dtype
    return torch.float32


class LabShipMixin:
    """SHIP around a lab's CoOp-style trainer (put first in the bases; see the module docstring)."""

    SHIP_BASE = None

    # ------------------------------------------------------------------ construction
    def check_cfg(self, cfg):
        if "SHIP" not in cfg.TRAINER:
            raise KeyError(
                f"{type(self).__name__} needs the TRAINER.SHIP keys: call shipclip.config.extend_cfg(cfg) inside your "
                "train.py's extend_cfg (see the README, 'Drop-in for a lab's own Dassl/CoOp code')."
            )
        super().check_cfg(cfg)

    def build_model(self):
        """The lab's build_model over the union label space, then the contract checks and the probe."""
        cfg, dataset = self.cfg, self.dm.dataset
        from shipclip.ship.label_space import joint_classnames, label_only_classnames

        own = list(dataset.classnames)
        self.ship_label_only = label_only_classnames(cfg, dataset, own)
        self.ship_train_classnames = own + self.ship_label_only
        self.ship_eval_classnames = joint_classnames(cfg, dataset) if cfg.TEST.JOINT else own
        key = [c.lower().replace("_", " ") for c in self.ship_train_classnames]
        extra = [c for c in self.ship_eval_classnames if c.lower().replace("_", " ") not in key]
        model_classes = self.ship_train_classnames + extra
        print(f"SHIP: {type(self).__name__} builds its model over {len(model_classes)} classes "
              f"({len(own)} of the dataset + {len(model_classes) - len(own)} label-only)")
        saved = (dataset._classnames, dataset._lab2cname, dataset._num_classes)
        dataset._classnames = list(model_classes)
        dataset._lab2cname = dict(enumerate(model_classes))
        dataset._num_classes = len(model_classes)
        try:
            super().build_model()
        finally:
            dataset._classnames, dataset._lab2cname, dataset._num_classes = saved
        self.ship_model_classnames = model_classes
        index = {c.lower().replace("_", " "): i for i, c in enumerate(model_classes)}
        eval_positions = [index[c.lower().replace("_", " ")] for c in self.ship_eval_classnames]
        own_positions = {c.lower().replace("_", " "): i for i, c in enumerate(self.ship_eval_classnames)}
        self._ship_eval_index = (None if eval_positions == list(range(len(model_classes)))
                                 else torch.tensor(eval_positions, device=self.device))
        label_map = [own_positions[c.lower().replace("_", " ")] for c in own]
        self._ship_test_labels = (None if label_map == list(range(len(own)))
                                  else torch.tensor(label_map, dtype=torch.long))
        self.lab2cname = dict(enumerate(self.ship_eval_classnames))  # the evaluator's label space
        self.ship_generator = None
        self._ship_trained_epochs = None
        self._ship_check_model()

    def _ship_model(self):
        model = getattr(self, "model", None)
        name = type(self).__name__
        if model is None:
            raise _refuse(name, 2, "its build_model did not set self.model")
        if isinstance(model, torch.nn.DataParallel):
            raise _refuse(name, 3, "self.model is wrapped in nn.DataParallel (several GPUs are visible); run on one "
                                   "GPU (CUDA_VISIBLE_DEVICES=0)")
        return model

    def _ship_encoder(self):
        encoder = getattr(self._ship_model(), "image_encoder", None)
        if not isinstance(encoder, torch.nn.Module):
            raise _refuse(type(self).__name__, 3, "self.model has no image_encoder module")
        return encoder

    @torch.no_grad()
    def _ship_check_model(self):
        """Clauses 2-4 on the built model: a frozen encoder, called with images only, logits over the classes."""
        name = type(self).__name__
        model, encoder = self._ship_model(), self._ship_encoder()
        trainable = [n for n, p in encoder.named_parameters() if p.requires_grad]
        if trainable:
            raise _refuse(name, 3, f"model.image_encoder has trainable parameters ({', '.join(trainable[:4])}"
                                   f"{', ...' if len(trainable) > 4 else ''}): prompts or adapters inside the image "
                                   "encoder")
        state = _install_pass_through(encoder)
        self._ship_dtype = _model_dtype(model, encoder)
        probe = self._ship_probe_images(2)
        try:
            features = state["original"](probe.to(self.device).type(self._ship_dtype))
        except TypeError as exc:
            raise _refuse(name, 3, f"model.image_encoder(images) fails without other inputs ({exc}), as an encoder "
                                   "that MaPLe passes its vision prompts does") from exc
        if features.dim() != 2:
            raise _refuse(name, 3, f"model.image_encoder returns a tensor of shape {list(features.shape)}, not "
                                   "[batch, dim] image features")
        modes = {n: m.training for n, m in self._models.items()}
        self.set_model_mode("eval")
        before = dict(state, extra=None)
        state["extra"] = None
        try:
            logits = model(mark_features(features))
        except ShipContractError:
            raise
        except Exception as exc:
            raise _refuse(name, 4, f"self.model(images) failed on a batch of image features "
                                   f"({type(exc).__name__}: {exc})") from exc
        finally:
            for n, m in self._models.items():
                m.train(modes[n])
        if state["extra"] is not None:
            raise _refuse(name, 3, f"the model passes {state['extra']} to model.image_encoder besides the images (as "
                                   "MaPLe passes its vision prompts)")
        if state["features"] != before["features"] + 1:
            raise _refuse(name, 3, f"self.model(images) called model.image_encoder "
                                   f"{state['features'] - before['features']} time(s) on the batch, not once")
        n_classes = len(self.ship_model_classnames)
        if not torch.is_tensor(logits) or logits.dim() != 2 or logits.shape != (features.shape[0], n_classes):
            shape = list(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
            raise _refuse(name, 2, f"self.model(images) in eval mode gave {shape} instead of logits "
                                   f"[{features.shape[0]}, {n_classes}] over the {n_classes} classes it was given "
                                   "(build the classifier from self.dm.dataset.classnames)")
        self._ship_feature_dim = int(features.shape[1])

    def _ship_probe_images(self, n):
        """A fixed batch of normalised random images of INPUT.SIZE (its own generator: no global draw)."""
        size = [int(s) for s in self.cfg.INPUT.SIZE]
        rng = torch.Generator().manual_seed(20231002)
        images = torch.rand(n, 3, size[0], size[1], generator=rng)
        mean = torch.tensor(self.cfg.INPUT.PIXEL_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(self.cfg.INPUT.PIXEL_STD).view(1, 3, 1, 1)
        return (images - mean) / std

    # ------------------------------------------------------------------ stage 1
    def _ship_seed(self):
        return int(self.cfg.SEED) if int(self.cfg.SEED) >= 0 else 0

    def before_train(self):
        self.ship_prepare_generator()
        super().before_train()

    def before_epoch(self):
        super().before_epoch()
        if getattr(self, "ship_rng", None) is not None:  # draws depend on (seed, epoch): resume draws the same
            self.ship_rng.manual_seed(self._ship_seed() * 100003 + int(self.epoch) * 101)

    def after_epoch(self):
        self._ship_trained_epochs = int(self.epoch) + 1
        super().after_epoch()

    def ship_prepare_generator(self):
        """Fit (or load) the generator on the lab's frozen image encoder's features; idempotent."""
        if getattr(self, "ship_generator", None) is not None:
            return self.ship_generator
        if not self.ship_label_only:
            print("SHIP: no label-only classes outside the training classes; stage 2 equals "
                  f"{self.SHIP_BASE.__name__} as it is")
            return None
        from shipclip.ship import build_generator_from_cfg, fit_generator, make_rng
        from shipclip.ship.persistence import load_generator, save_generator, saved_generator_dir

        cfg, ship = self.cfg, self.cfg.TRAINER.SHIP
        with _private_random_state(self._ship_seed(), self.device):
            clip_model, tokenizer = self._ship_generator_clip()
            generator = build_generator_from_cfg(cfg, clip_model, tokenizer, self.ship_train_classnames).to(self.device)
            del clip_model
            n_base = len(self.ship_train_classnames) - len(self.ship_label_only)
            print(f"SHIP generator ({ship.GENERATOR}): {sum(p.numel() for p in generator.parameters() if p.requires_grad):,} "
                  f"trainable parameters; {n_base} training + {len(self.ship_label_only)} label-only classes")
            source = saved_generator_dir(cfg, self.output_dir)
            features, labels = self._ship_training_features(views=1 if source else max(int(ship.GEN_VIEWS), 1))
            self.ship_feature_norm = float(features.norm(dim=-1).mean())
            features = F.normalize(features, dim=-1)
            if source is not None:
                load_generator(generator, cfg, source)
            else:
                print(f"SHIP stage 1: fitting the generator on {features.shape[1]} images x {features.shape[0]} "
                      f"view(s) for {ship.EPOCHS} epochs")
                fit_generator(generator, features, labels, epochs=ship.EPOCHS, lr=ship.LR, batch_size=ship.BATCH_SIZE,
                              seed=self._ship_seed(), device=self.device)
                save_generator(generator, cfg, self.output_dir, type(self).__name__)
        generator.eval()
        self.ship_generator = generator
        self.ship_rng = make_rng(self._ship_seed(), "cpu")
        return generator

    def _ship_generator_clip(self):
        """The frozen CLIP whose text tower decodes prompts: the lab's weights file, checked against its encoder."""
        from shipclip.clip.loader import get_tokenizer
        from shipclip.ship.lab_clip import check_same_image_encoder, load_lab_clip

        clip_model = load_lab_clip(self.cfg, self.device)
        check_same_image_encoder(type(self).__name__, self._ship_encoder()._ship_pass_through["original"],
                                 self._ship_dtype, clip_model, self._ship_probe_images(2).to(self.device))
        return clip_model, get_tokenizer(self.cfg.MODEL.BACKBONE.NAME)

    @torch.no_grad()
    def _ship_training_features(self, views):
        """``views`` augmented passes over the training images through the lab's image encoder: [V, N, D], [N]."""
        from torch.utils.data import DataLoader

        from shipclip.backend import DatasetWrapper, build_transform
        from shipclip.progress import progress_bar

        cfg = self.cfg
        wrapper = DatasetWrapper(cfg, self.dm.dataset.train_x, transform=build_transform(cfg, is_train=True),
                                 is_train=True)
        loader = DataLoader(wrapper, batch_size=cfg.DATALOADER.TEST.BATCH_SIZE, shuffle=False,
                            num_workers=cfg.DATALOADER.NUM_WORKERS, drop_last=False)
        encode = self._ship_encoder()._ship_pass_through["original"]
        passes, labels = [], None
        for v in range(views):
            feats, labs = [], []
            for batch in progress_bar(loader, desc=f"SHIP stage 1: training features ({v + 1}/{views})", leave=False):
                images = batch["img"]
                if isinstance(images, (list, tuple)):
                    images = images[0]
                feats.append(encode(images.to(self.device).type(self._ship_dtype)).float())
                labs.append(batch["label"])
            passes.append(torch.cat(feats))
            labels = torch.cat(labs)
        return torch.stack(passes), labels.long()

    # ------------------------------------------------------------------ stage 2
    def ship_synthesize(self, n):
        """``n`` synthesized features of label-only classes (labels uniform over them), at the real features' scale."""
        from shipclip.ship import sample_for_labels

        n_train = len(self.ship_train_classnames)
        indices = torch.arange(n_train - len(self.ship_label_only), n_train)
        labels = indices[torch.randint(len(indices), (int(n),), generator=self.ship_rng)]
        if torch.device(self.device).type == "cpu":
            rng = self.ship_rng
        else:
            rng = torch.Generator(device=self.device)
            rng.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=self.ship_rng)))
        features = sample_for_labels(self.ship_generator, labels.to(self.device), generator_rng=rng)
        return features.float() * self.ship_feature_norm, labels

    def forward_backward(self, batch):
        """The lab's forward_backward on [real; synthesized] image features and [real; label-only] labels."""
        ratio = float(self.cfg.TRAINER.SHIP.SYN_RATIO)
        if self.ship_generator is None or ratio <= 0:
            return super().forward_backward(batch)
        images = batch["img"]
        if isinstance(images, (list, tuple)):
            raise _refuse(type(self).__name__, 4, "batch['img'] holds several views (DATALOADER.K_TRANSFORMS > 1)")
        with torch.no_grad():
            encode = self._ship_encoder()._ship_pass_through["original"]
            real = encode(images.to(self.device).type(self._ship_dtype))
        labels = batch["label"].to(self.device)
        n_syn = int(round(ratio * real.shape[0]))
        syn, syn_labels = self.ship_synthesize(n_syn)
        mixed = dict(batch)
        mixed["img"] = mark_features(torch.cat([real, syn.to(real.dtype)]))
        mixed["label"] = torch.cat([labels, syn_labels.to(labels.device, labels.dtype)])
        domain = batch.get("domain")
        if torch.is_tensor(domain) and domain.shape[:1] == labels.shape[:1]:
            mixed["domain"] = torch.cat([domain, domain.new_zeros(n_syn)])
        return super().forward_backward(mixed)

    # ------------------------------------------------------------------ evaluation
    def parse_batch_test(self, batch):
        images, labels = super().parse_batch_test(batch)
        if self._ship_test_labels is not None:
            labels = self._ship_test_labels.to(labels.device)[labels]
        return images, labels

    def model_inference(self, input):
        logits = super().model_inference(input)
        if self._ship_eval_index is not None:
            logits = logits.index_select(1, self._ship_eval_index.to(logits.device))
        return logits

    def test(self, split=None):
        """The engine's evaluation (same printed lines), plus joint metrics and the results.json record.

        A trainer with its own ``test`` keeps it (restricted logits still apply; ``TEST.JOINT`` is refused).
        """
        from shipclip.ship.lab_evaluation import evaluate_lab_trainer

        if _overrides(self.SHIP_BASE, "test"):
            if self.cfg.TEST.JOINT:
                raise _refuse(type(self).__name__, 4, f"{self.SHIP_BASE.__name__} has its own test(), which cannot "
                                                      "report the joint (TEST.JOINT) metrics")
            return super().test(split)
        return evaluate_lab_trainer(self, split)
