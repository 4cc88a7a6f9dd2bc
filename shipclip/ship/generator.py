"""SHIP's generator: a VAE whose decoder is CLIP's frozen text tower fed synthesized prompts.

Decoding a latent ``z`` for class ``y``: a small MLP maps ``z`` to a bias ``r`` [W]; the prompt
``[SOS] (v_1 + r) ... (v_M + r) [tokens of "<classname>."] [EOS]`` goes through the frozen text
tower and the normalised output is the synthesized image feature. Because the class only enters
through its name's tokens, any class name can be decoded, including names never seen in training.
"""
import torch
import torch.nn as nn

from shipclip.clip.prompts import ClassPrompts

from .vae import FeatureVAE, init_linear, make_activation

__all__ = ["SHIPGenerator", "BiasMLP"]


class BiasMLP(nn.Module):
    """``r = Linear(H_g -> W)(act(Linear(L -> H_g)(z)))``: the per-sample local bias of the prompt."""

    def __init__(self, latent_dim, hidden_dim, width, activation="relu"):
        super().__init__()
        self.fc1 = nn.Linear(latent_dim, hidden_dim)
        self.act = make_activation(activation)
        self.fc2 = nn.Linear(hidden_dim, width)
        init_linear(self)

    def forward(self, z):
        return self.fc2(self.act(self.fc1(z)))


class SHIPGenerator(FeatureVAE):
    """Prompt-based feature generator (the method's stage 1).

    Args:
        clip_model: an open_clip CLIP model or a :class:`shipclip.clip.text.TextEncoder`; frozen here.
        tokenizer: the model's tokenizer (``list[str] -> LongTensor``).
        classnames: class names of the training label space (``set_classnames`` switches later).
        n_ctx: number of global context vectors M (placeholder ``"X X X X"`` when tokenising).
        enc_hidden, latent_dim, gen_hidden: H_e, L, H_g.
        activation: ``relu`` | ``leaky_relu`` inside the bias MLP.
        use_bias: False = "global context only" ablation (``r`` is not added; the MLP stays frozen).
        use_global_ctx: False = "bias only" ablation (no context parameter; the prompt holds ``r`` alone).
        lambda_kl: weight of the KL term (0 = "no KL" ablation).
    """

    kind = "prompt"

    def __init__(self, clip_model, tokenizer, classnames, n_ctx=4, enc_hidden=2048, latent_dim=512,
                 gen_hidden=4096, activation="relu", use_bias=True, use_global_ctx=True, lambda_kl=1.0):
        super().__init__(clip_model, tokenizer, classnames, enc_hidden=enc_hidden, latent_dim=latent_dim,
                         lambda_kl=lambda_kl)
        if not use_bias and not use_global_ctx:
            raise ValueError(
                "TRAINER.SHIP.USE_BIAS and TRAINER.SHIP.USE_GLOBAL_CTX are both False: the prompt would have "
                "nothing to learn. Enable at least one of them."
            )
        self.n_ctx = int(n_ctx)
        if self.n_ctx < 1:
            raise ValueError(f"TRAINER.SHIP.N_CTX must be >= 1, got {n_ctx}.")
        self.gen_hidden = int(gen_hidden)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.use_global_ctx = bool(use_global_ctx)
        self.bias_mlp = BiasMLP(self.latent_dim, self.gen_hidden, self.width, activation)
        if not self.use_bias:
            self.bias_mlp.requires_grad_(False)  # kept only so checkpoints stay interchangeable
        if self.use_global_ctx:
            self.ctx = nn.Parameter(torch.empty(self.n_ctx, self.width).normal_(std=0.02))
        else:
            self.register_parameter("ctx", None)
        self._finish_init()

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, width={self.width}, n_ctx={self.n_ctx}, latent_dim={self.latent_dim}, "
                f"use_bias={self.use_bias}, use_global_ctx={self.use_global_ctx}, lambda_kl={self.lambda_kl}, "
                f"n_cls={self.num_classes}")

    def _build_condition(self, names):
        placeholder = " ".join(["X"] * self.n_ctx)
        return ClassPrompts(self.text_encoder, self.tokenizer, names, self.n_ctx, placeholder=placeholder)

    def _apply_to_condition(self, cond, fn):
        return cond._apply(fn)

    def context(self, z):
        """Per-sample context vectors [B, M, W]: ``v + r`` (or ``v`` alone / ``r`` alone in the ablations)."""
        rows = z.shape[0]
        if self.use_bias:
            r = self.bias_mlp(z).unsqueeze(1)  # [B, 1, W], shared by the M slots
            return r.expand(rows, self.n_ctx, self.width) if self.ctx is None else self.ctx.unsqueeze(0) + r
        return self.ctx.unsqueeze(0).expand(rows, -1, -1)

    def _decode(self, z, labels, prompts):
        embeddings, tokenized = prompts.assemble(self.context(z), class_index=labels)
        return self.text_encoder(embeddings, tokenized)
