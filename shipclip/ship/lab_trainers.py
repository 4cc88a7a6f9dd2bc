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
meet it is refused with :class:`ShipContractError` naming the clause. The registry of ``SHIP+<Name>``
classes is :mod:`shipclip.ship.lab_registry`; the contract :mod:`shipclip.ship.lab_contract`; the marked
feature batch :mod:`shipclip.ship.feature_batch`.
"""
import contextlib
import random

import numpy as np
import torch
import torch.nn.functional as F

from shipclip.ship.feature_batch import install_pass_through, mark_features
from shipclip.ship.lab_contract import ShipContractError, contract_error, overrides

__all__ = ["LabShipMixin"]


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
            raise contract_error(name, 2, "its build_model did not set self.model")
        if isinstance(model, torch.nn.DataParallel):
            raise contract_error(name, 3, "self.model is wrapped in nn.DataParallel (several GPUs are visible); run on one "
                                   "GPU (CUDA_VISIBLE_DEVICES=0)")
        return model

    def _ship_encoder(self):
        encoder = getattr(self._ship_model(), "image_encoder", None)
        if not isinstance(encoder, torch.nn.Module):
            raise contract_error(type(self).__name__, 3, "self.model has no image_encoder module")
        return encoder

    @torch.no_grad()
    def _ship_check_model(self):
        """Clauses 2-4 on the built model: a frozen encoder, called with images only, logits over the classes."""
        name = type(self).__name__
        model, encoder = self._ship_model(), self._ship_encoder()
        trainable = [n for n, p in encoder.named_parameters() if p.requires_grad]
        if trainable:
            raise contract_error(name, 3, f"model.image_encoder has trainable parameters ({', '.join(trainable[:4])}"
                                   f"{', ...' if len(trainable) > 4 else ''}): prompts or adapters inside the image "
                                   "encoder")
        state = install_pass_through(encoder)
        self._ship_dtype = _model_dtype(model, encoder)
        probe = self._ship_probe_images(2)
        try:
            features = state["original"](probe.to(self.device).type(self._ship_dtype))
        except TypeError as exc:
            raise contract_error(name, 3, f"model.image_encoder(images) fails without other inputs ({exc}), as an encoder "
                                   "that MaPLe passes its vision prompts does") from exc
        if features.dim() != 2:
            raise contract_error(name, 3, f"model.image_encoder returns a tensor of shape {list(features.shape)}, not "
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
            raise contract_error(name, 4, f"self.model(images) failed on a batch of image features "
                                   f"({type(exc).__name__}: {exc})") from exc
        finally:
            for n, m in self._models.items():
                m.train(modes[n])
        if state["extra"] is not None:
            raise contract_error(name, 3, f"the model passes {state['extra']} to model.image_encoder besides the images (as "
                                   "MaPLe passes its vision prompts)")
        if state["features"] != before["features"] + 1:
            raise contract_error(name, 3, f"self.model(images) called model.image_encoder "
                                   f"{state['features'] - before['features']} time(s) on the batch, not once")
        n_classes = len(self.ship_model_classnames)
        if not torch.is_tensor(logits) or logits.dim() != 2 or logits.shape != (features.shape[0], n_classes):
            shape = list(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
            raise contract_error(name, 2, f"self.model(images) in eval mode gave {shape} instead of logits "
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
            raise contract_error(type(self).__name__, 4, "batch['img'] holds several views (DATALOADER.K_TRANSFORMS > 1)")
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

        if overrides(self.SHIP_BASE, "test"):
            if self.cfg.TEST.JOINT:
                raise contract_error(type(self).__name__, 4, f"{self.SHIP_BASE.__name__} has its own test(), which cannot "
                                                      "report the joint (TEST.JOINT) metrics")
            return super().test(split)
        return evaluate_lab_trainer(self, split)
