"""CoOp (Zhou et al., IJCV 2022): learned context vectors in front of (or around) the class name.

Only ``ctx`` is trained; CLIP stays frozen. The prompt learner keeps CoOp's checkpoint keys
(``ctx``, ``token_prefix``, ``token_suffix``) so released CoOp weights load, and the class-name
buffers are dropped on load: a context trained on one label space (e.g. base classes) is
recombined with the class names of the current dataset (new classes, another dataset).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from shipclip.backend import load_pretrained_weights
from shipclip.clip.prompts import ClassPrompts, clean_classname

from .base import ClipTrainer

__all__ = ["CoOp", "PromptLearner", "context_phrase"]

CLASS_NAME_BUFFERS = ("token_prefix", "token_suffix")


def context_phrase(tokenizer, ctx_init, n_ctx):
    """(placeholder text, number of context tokens) for ``CTX_INIT`` / ``N_CTX``.

    With an init phrase the number of context tokens is its BPE length (CoOp counts words; the
    two agree whenever each word is one token, as in "a photo of a").
    """
    phrase = clean_classname(ctx_init or "").strip()
    if phrase:
        return phrase, _bpe_len(tokenizer, phrase)
    n_ctx = int(n_ctx)
    if n_ctx < 1:
        raise ValueError(f"N_CTX must be >= 1 when CTX_INIT is empty, got {n_ctx}.")
    return " ".join(["X"] * n_ctx), n_ctx


def _bpe_len(tokenizer, text):
    if hasattr(tokenizer, "encode"):
        return len(tokenizer.encode(text))
    ids = tokenizer([text])[0].tolist()
    return len([i for i in ids[1:] if i != 0]) - 1


class PromptLearner(ClassPrompts):
    """CoOp's prompt learner: class prompts (buffers) plus the learned context ``ctx``.

    ``ctx`` is [n_ctx, W] (generic) or [n_cls, n_ctx, W] (class-specific, ``csc=True``), kept in
    float32 whatever the tower's precision (fp16 master weights are what makes CoOp's fp16 runs
    unstable). With ``ctx_init`` the context starts from the phrase's word embeddings (generic
    even when ``csc`` is set, as in CoOp).
    """

    def __init__(self, text_encoder, tokenizer, classnames, n_ctx=16, ctx_init="", csc=False, position="end"):
        placeholder, n_ctx = context_phrase(tokenizer, ctx_init, n_ctx)
        super().__init__(text_encoder, tokenizer, classnames, n_ctx, position=position, placeholder=placeholder)
        self.placeholder = placeholder
        self.csc = bool(csc)
        width = text_encoder.width
        if ctx_init:
            tokens = tokenizer([placeholder])
            ctx = text_encoder.embed(tokens)[0, 1:1 + n_ctx].detach().float().cpu()
            if self.csc:
                print("CTX_INIT is set: the context is generic (initialised from the phrase); CSC is ignored, as in CoOp")
            self.csc = False
        elif self.csc:
            print("Initializing class-specific contexts")
            ctx = torch.empty(self.n_cls, n_ctx, width).normal_(std=0.02)
        else:
            print("Initializing a generic context")
            ctx = torch.empty(n_ctx, width).normal_(std=0.02)
        print(f'Initial context: "{placeholder}"')
        print(f"Number of context words (tokens): {n_ctx}")
        self.ctx = nn.Parameter(ctx.to(self.token_prefix.device))

    def forward(self, class_prompts=None):
        """Prompt embeddings and token ids for this learner's classes or another ``ClassPrompts``."""
        target = self if class_prompts is None else class_prompts
        if self.ctx.dim() == 3 and target is not self and target.classnames != self.classnames:
            raise ValueError(
                f"Class-specific contexts were learned for {self.n_cls} classes and cannot prompt a different "
                f"set of {target.n_cls} classes. Train with TRAINER.COOP.CSC False to transfer the context."
            )
        return target.assemble(self.ctx)


class CoOp(ClipTrainer):
    """Context Optimization with CoOp's options (``TRAINER.COOP.*``) on a frozen CLIP."""

    PREC_NODE = "COOP"
    MODEL_NAME = "prompt_learner"

    def prompt_settings(self):
        c = self.cfg.TRAINER.COOP
        return dict(n_ctx=c.N_CTX, ctx_init=c.CTX_INIT, csc=c.CSC, position=c.CLASS_TOKEN_POSITION)

    def build_head(self):
        cfg = self.cfg
        classnames = self.get_train_classnames()
        print(f"Building prompt learner for {len(classnames)} classes")
        self.prompt_learner = self.make_prompt_learner(classnames).to(self.device)
        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(self.prompt_learner, cfg.MODEL.INIT_WEIGHTS)
        updated = sorted(f"{self.MODEL_NAME}.{n}" for n, p in self.prompt_learner.named_parameters() if p.requires_grad)
        print(f"Parameters to be updated: {{{', '.join(repr(n) for n in updated)}}}")
        self._class_prompts = {}
        self.optim = self.make_optimizer(self.prompt_learner)
        self.sched = self.build_scheduler(self.optim)
        self.register_model(self.MODEL_NAME, self.prompt_learner, self.optim, self.sched)

    def make_prompt_learner(self, classnames):
        """The prompt learner over ``classnames`` (CoCoOp overrides this hook to add its meta-net)."""
        return PromptLearner(self.text_encoder, self.tokenizer, classnames, **self.prompt_settings())

    # ------------------------------------------------------------------ prompts and logits
    def class_prompts_for(self, classnames):
        """The learner itself for its own label space, else cached class prompts for ``classnames``."""
        names = [clean_classname(c) for c in classnames]
        if names == self.prompt_learner.classnames:
            return None
        key = tuple(names)
        if key not in self._class_prompts:
            pl = self.prompt_learner
            self._class_prompts[key] = ClassPrompts(self.text_encoder, self.tokenizer, names, pl.n_ctx,
                                                    position=pl.position, placeholder=pl.placeholder).to(self.device)
        return self._class_prompts[key]

    def text_features(self, classnames):
        """Normalised text features [C, D] of the learned prompts for ``classnames``."""
        prompts, tokenized = self.prompt_learner(self.class_prompts_for(classnames))
        with self._autocast():
            features = self.encode_text_prompts(prompts, tokenized)
        return F.normalize(features.float(), dim=-1)

    def logits_from_features(self, features, classnames=None):
        classnames = self.get_eval_classnames() if classnames is None else classnames
        cache = self._text_cache
        if cache is not None and not torch.is_grad_enabled():
            key = tuple(classnames)
            if key not in cache:
                cache[key] = self.text_features(classnames)
            text = cache[key]
        else:
            text = self.text_features(classnames)
        return self.logit_scale * features.float() @ text.t()

    # ------------------------------------------------------------------ checkpoints
    def filter_state_dict(self, name, state_dict):
        """Class-name buffers come from the current dataset, not the checkpoint (CoOp's rule)."""
        if name != self.MODEL_NAME:
            return state_dict, ()
        for key in CLASS_NAME_BUFFERS:
            state_dict.pop(key, None)
        return state_dict, CLASS_NAME_BUFFERS

    def shape_mismatch_hint(self, name, key):
        if key == "ctx":
            pl = self.prompt_learner
            if pl.ctx.dim() == 3:
                return (f"The class-specific context (CSC) has one context per training class and the current "
                        f"dataset has {pl.n_cls} classes: CSC contexts only load on the same label space. Evaluate "
                        "on the classes it was trained on, or train with TRAINER.COOP.CSC False to transfer it.")
            return ("Set TRAINER.COOP.N_CTX / CTX_INIT / CSC as in the training run (and use the same backbone).")
        return super().shape_mismatch_hint(name, key)
