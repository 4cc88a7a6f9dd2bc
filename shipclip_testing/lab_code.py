"""A lab's own CoOp-style code, written for the tests from the behaviour CoOp documents (not CoOp's code).

* ``LabColors``: a dataset class of the lab for the colour dataset of the trainer tests, with
  CoCoOp's ``SUBSAMPLE_CLASSES`` rule applied by the class itself and no ``new_classnames``,
  ``base_classnames`` or ``all_classnames`` (what a lab's CoOp dataset class looks like).
* ``LabCoOp``: a Dassl ``TrainerX`` in CoOp's style: its own ``CustomCLIP`` (frozen image encoder,
  text encoder over prompt embeddings, prompt learner over ``self.dm.dataset.classnames``),
  ``forward_backward`` = cross-entropy of ``self.model(image)``, CoOp's ``load_model`` (class-name
  buffers dropped). It records every training batch it sees (``seen_batches``: image type, labels, images) for the tests.
* ``LabPromptedEncoder``: like ``LabCoOp`` but the model passes learned vision prompts to the image
  encoder (as MaPLe does); ``LabTrainableEncoder``: an image encoder with a trainable part.

``register_lab_code()`` registers them in the active engine's registries (once).
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fake_datasets import COLOR_FOLDER, COLOR_SPLIT_FILE

__all__ = ["LAB_DATASET", "register_lab_code", "lab_classes"]

LAB_DATASET = "LabColors"
_CLASSES = {}


def _subsample(lists, mode):
    """CoCoOp's rule as a lab's dataset applies it: sorted train labels, base = first ceil(n/2)."""
    if mode == "all":
        return lists
    from shipclip.backend import Datum

    labels = sorted({item.label for item in lists[0]})
    m = math.ceil(len(labels) / 2)
    keep = labels[:m] if mode == "base" else labels[m:]
    relabel = {old: new for new, old in enumerate(keep)}
    return [[Datum(impath=i.impath, label=relabel[i.label], classname=i.classname) for i in items
             if i.label in relabel] for items in lists]


def _build():
    from shipclip.backend import (DatasetBase, Datum, TrainerX, build_lr_scheduler, build_optimizer,
                                  compute_accuracy, load_checkpoint)
    from shipclip.clip.loader import get_tokenizer, load_clip_from_cfg

    class LabColors(DatasetBase):
        """The lab's dataset class (reads the split file; no new_classnames)."""

        constructions = 0

        def __init__(self, cfg):
            type(self).constructions += 1
            folder = os.path.join(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)), COLOR_FOLDER)
            image_dir = os.path.join(folder, "images")
            with open(os.path.join(folder, COLOR_SPLIT_FILE)) as f:
                split = json.load(f)

            def read(rows):
                return [Datum(impath=os.path.join(image_dir, p), label=int(y), classname=c) for p, y, c in rows]

            train, val, test = read(split["train"]), read(split["val"]), read(split["test"])
            shots = int(cfg.DATASET.NUM_SHOTS)
            if shots >= 1:
                train = self.generate_fewshot_dataset(train, num_shots=shots)
                val = self.generate_fewshot_dataset(val, num_shots=min(shots, 4))
            train, val, test = _subsample([train, val, test], cfg.DATASET.SUBSAMPLE_CLASSES)
            super().__init__(train_x=train, val=val, test=test)

    class LabTextEncoder(nn.Module):
        def __init__(self, clip_model):
            super().__init__()
            self.transformer = clip_model.transformer
            self.positional_embedding = clip_model.positional_embedding
            self.ln_final = clip_model.ln_final
            self.text_projection = clip_model.text_projection
            self.register_buffer("attn_mask", clip_model.attn_mask, persistent=False)

        def forward(self, prompts, tokenized):
            x = prompts + self.positional_embedding
            x = self.transformer(x, attn_mask=self.attn_mask)
            x = self.ln_final(x)
            return x[torch.arange(x.shape[0]), tokenized.argmax(dim=-1)] @ self.text_projection

    class LabPromptLearner(nn.Module):
        def __init__(self, classnames, clip_model, tokenizer, n_ctx=2):
            super().__init__()
            width = clip_model.ln_final.weight.shape[0]
            self.ctx = nn.Parameter(torch.randn(n_ctx, width) * 0.02)
            names = [c.replace("_", " ") for c in classnames]
            tokenized = tokenizer([" ".join(["X"] * n_ctx) + " " + n + "." for n in names])
            with torch.no_grad():
                embedding = clip_model.token_embedding(tokenized)
            self.register_buffer("token_prefix", embedding[:, :1])
            self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:])
            self.tokenized_prompts = tokenized
            self.n_cls = len(names)

        def forward(self):
            ctx = self.ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
            return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)

    class LabCustomCLIP(nn.Module):
        def __init__(self, classnames, clip_model, tokenizer):
            super().__init__()
            self.prompt_learner = LabPromptLearner(classnames, clip_model, tokenizer)
            self.tokenized_prompts = self.prompt_learner.tokenized_prompts
            self.image_encoder = clip_model.visual
            self.text_encoder = LabTextEncoder(clip_model)
            self.logit_scale = clip_model.logit_scale
            self.dtype = torch.float32

        def image_features(self, image):
            return self.image_encoder(image.type(self.dtype))

        def forward(self, image):
            image_features = F.normalize(self.image_features(image), dim=-1)
            text = self.text_encoder(self.prompt_learner(), self.tokenized_prompts.to(image_features.device))
            text = F.normalize(text, dim=-1)
            return self.logit_scale.exp() * image_features @ text.t()

    class LabCoOp(TrainerX):
        """The lab's CoOp-style trainer."""

        model_class = LabCustomCLIP

        def build_model(self):
            cfg = self.cfg
            classnames = self.dm.dataset.classnames
            clip_model = load_clip_from_cfg(cfg)
            self.model = self.model_class(classnames, clip_model, get_tokenizer(cfg.MODEL.BACKBONE.NAME))
            for name, param in self.model.named_parameters():
                if "prompt_learner" not in name:
                    param.requires_grad_(False)
            self.model.to(self.device)
            self.optim = build_optimizer(self.model.prompt_learner, cfg.OPTIM)
            self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
            self.register_model("prompt_learner", self.model.prompt_learner, self.optim, self.sched)
            self.seen_batches = []

        def forward_backward(self, batch):
            image, label = self.parse_batch_train(batch)
            self.seen_batches.append((type(image), label.detach().cpu().clone(), image.detach().cpu().clone()))
            output = self.model(image)
            loss = F.cross_entropy(output, label)
            self.model_backward_and_update(loss)
            if (self.batch_idx + 1) == self.num_batches:
                self.update_lr()
            return {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}

        def parse_batch_train(self, batch):
            return batch["img"].to(self.device), batch["label"].to(self.device)

        def load_model(self, directory, epoch=None):
            if not directory:
                return
            for name in self.get_model_names():
                fname = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
                path = os.path.join(directory, name, fname)
                if not os.path.exists(path):
                    raise FileNotFoundError(f'Model not found at "{path}"')
                state_dict = load_checkpoint(path)["state_dict"]
                state_dict.pop("token_prefix", None)
                state_dict.pop("token_suffix", None)
                print(f'Loading weights to {name} from "{path}"')
                self._models[name].load_state_dict(state_dict, strict=False)

    class LabPromptedCLIP(LabCustomCLIP):
        """Passes learned vision prompts to the image encoder, as MaPLe does."""

        def __init__(self, classnames, clip_model, tokenizer):
            super().__init__(classnames, clip_model, tokenizer)
            self.prompt_learner.vision_prompts = nn.Parameter(torch.zeros(2, 4))
            visual = self.image_encoder
            self.image_encoder = _PromptedEncoder(visual)

        def image_features(self, image):
            return self.image_encoder(image.type(self.dtype), self.prompt_learner.vision_prompts)

    class LabPromptedEncoder(LabCoOp):
        model_class = LabPromptedCLIP

    class LabTrainableEncoder(LabCoOp):
        """Keeps an adapter inside the image encoder trainable (VPT-like)."""

        def build_model(self):
            super().build_model()
            self.model.image_encoder.ln_post.weight.requires_grad_(True)

    return dict(LabColors=LabColors, LabCoOp=LabCoOp, LabPromptedEncoder=LabPromptedEncoder,
                LabTrainableEncoder=LabTrainableEncoder)


class _PromptedEncoder(nn.Module):
    def __init__(self, visual):
        super().__init__()
        self.visual = visual

    def forward(self, image, prompts=None):
        out = self.visual(image)
        return out if prompts is None else out + 0.0 * prompts.sum()


def lab_classes():
    """The lab's classes on the active engine (built once per process)."""
    if not _CLASSES:
        _CLASSES.update(_build())
    return dict(_CLASSES)


def register_lab_code():
    """Register the lab's dataset and trainers in the active registries (once); return the classes."""
    from shipclip.backend import DATASET_REGISTRY, TRAINER_REGISTRY

    classes = lab_classes()
    if LAB_DATASET not in DATASET_REGISTRY.registered_names():
        DATASET_REGISTRY.register(classes[LAB_DATASET])
    for name in ("LabCoOp", "LabPromptedEncoder", "LabTrainableEncoder"):
        if name not in TRAINER_REGISTRY.registered_names():
            TRAINER_REGISTRY.register(classes[name])
    return classes
