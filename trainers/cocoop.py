"""CoCoOp (Zhou et al., CVPR 2022): CoOp's context plus a per-image bias from a small meta-net.

Every image gets its own prompts for every class, so the text tower runs on B x n_cls prompts.
They are assembled in one batch through ``ClassPrompts.assemble(..., class_index)`` (one
text-tower call instead of B), and under no_grad split into groups of images so that a
1000-class evaluation stays within memory.
"""
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .coop import CoOp, PromptLearner

__all__ = ["CoCoOp", "CoCoOpPromptLearner", "MetaNet"]


class MetaNet(nn.Sequential):
    """Linear(vis_dim, vis_dim // 16) - ReLU - Linear(vis_dim // 16, ctx_dim), CoCoOp's names."""

    def __init__(self, vis_dim, ctx_dim):
        hidden = max(int(vis_dim) // 16, 1)
        super().__init__(OrderedDict([
            ("linear1", nn.Linear(vis_dim, hidden)),
            ("relu", nn.ReLU(inplace=True)),
            ("linear2", nn.Linear(hidden, ctx_dim)),
        ]))


class CoCoOpPromptLearner(PromptLearner):
    """Generic context ``ctx`` [n_ctx, W] shifted per image by ``meta_net(image feature)``.

    Kept in float32 (the meta-net must not run in fp16 on CPU, and fp32 master weights are stable).
    """

    def __init__(self, text_encoder, tokenizer, classnames, vis_dim, n_ctx=16, ctx_init=""):
        super().__init__(text_encoder, tokenizer, classnames, n_ctx=n_ctx, ctx_init=ctx_init, csc=False, position="end")
        self.meta_net = MetaNet(vis_dim, text_encoder.width).to(self.ctx.device)

    def forward(self, image_features, class_prompts=None):
        """Prompts for every (image, class) pair: ([B * n_cls, L, W], [B * n_cls, L]), image-major."""
        target = self if class_prompts is None else class_prompts
        bias = self.meta_net(image_features.to(self.ctx.dtype))  # [B, W]
        ctx = self.ctx.unsqueeze(0) + bias.unsqueeze(1)  # [B, n_ctx, W]
        n_cls, batch = target.n_cls, ctx.shape[0]
        ctx = ctx.repeat_interleave(n_cls, dim=0)
        class_index = torch.arange(n_cls, device=ctx.device).repeat(batch)
        return target.assemble(ctx, class_index=class_index)


class CoCoOp(CoOp):
    """Conditional Context Optimization (``TRAINER.COCOOP.*``) on a frozen CLIP."""

    PREC_NODE = "COCOOP"

    def prompt_settings(self):
        c = self.cfg.TRAINER.COCOOP
        return dict(n_ctx=c.N_CTX, ctx_init=c.CTX_INIT)

    def make_prompt_learner(self, classnames):
        return CoCoOpPromptLearner(self.text_encoder, self.tokenizer, classnames, vis_dim=int(self.dim("vis_dim")),
                                   **self.prompt_settings())

    def logits_from_features(self, features, classnames=None):
        """Instance-conditioned logits [B, C]; the meta-net sees the normalised image feature."""
        classnames = self.get_eval_classnames() if classnames is None else classnames
        class_prompts = self.class_prompts_for(classnames)
        n_cls = len(classnames)
        features = features.float()
        group = features.shape[0] if torch.is_grad_enabled() else max(1, self.TEXT_CHUNK // n_cls)
        logits = []
        for start in range(0, features.shape[0], group):
            f = features[start:start + group]
            prompts, tokenized = self.prompt_learner(f, class_prompts)
            with self._autocast():
                text = self.encode_text_prompts(prompts, tokenized)
            text = F.normalize(text.float(), dim=-1).view(f.shape[0], n_cls, -1)
            logits.append(self.logit_scale * torch.einsum("bd,bcd->bc", f, text))
        return torch.cat(logits)

    def forward(self, features, labels=None):
        """CoCoOp's model contract: the CE loss while the prompt learner trains, else the logits."""
        if self.prompt_learner.training:
            if labels is None:
                raise ValueError("CoCoOp in train mode needs labels to return its loss.")
            return self.compute_loss(features, labels)[0]
        return self.logits_from_features(features)
