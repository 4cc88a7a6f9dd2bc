"""CLIP's frozen text tower driven by token *embeddings*, truncated to the longest EOT.

With a causal mask, position i only attends to positions <= i, so the feature read at the EOT
token never depends on tokens after it: running the tower on ``L = max(EOT index) + 1`` positions
gives the same output as the full 77 (up to float rounding) at a fraction of the cost. This is
the main speed lever of every trainer and of the SHIP generator.
"""
import torch
import torch.nn as nn

__all__ = ["TextEncoder", "text_tower", "eot_positions"]


def text_tower(model):
    """The module that owns the text attributes (``CustomTextCLIP`` keeps them under ``.text``)."""
    return getattr(model, "text", model) if not hasattr(model, "token_embedding") else model


def eot_positions(tokenized, pool_type="argmax", eos_token_id=None):
    """Index of the pooled (EOT) token per row."""
    if pool_type == "eos" and eos_token_id is not None:
        return (tokenized == eos_token_id).int().argmax(dim=-1)
    return tokenized.argmax(dim=-1)


class TextEncoder(nn.Module):
    """Frozen text transformer + final LayerNorm + projection, read at the EOT token.

    ``forward(prompts, tokenized)`` takes ``prompts`` [N, L, W] (token embeddings, possibly with
    learned vectors in place of some words) and the matching token ids [N, L'] (L' >= the EOT
    positions; only used to locate the EOT). Widths come from the model: ``width`` (W, the
    token-embedding width, CoOp's ctx_dim) and ``embed_dim`` (D, the joint embedding size).
    """

    def __init__(self, clip_model, truncate=True):
        super().__init__()
        t = text_tower(clip_model)
        self.transformer = t.transformer
        self.token_embedding = t.token_embedding
        self.positional_embedding = t.positional_embedding
        self.ln_final = t.ln_final
        self.text_projection = t.text_projection
        if t.attn_mask is not None:
            self.register_buffer("attn_mask", t.attn_mask, persistent=False)
        else:
            self.attn_mask = None  # bidirectional tower (no causal mask)
        self.pool_type = getattr(t, "text_pool_type", getattr(t, "pool_type", "argmax"))
        self.eos_token_id = getattr(t, "text_eos_id", None)
        if self.pool_type not in ("argmax", "eos"):
            raise ValueError(
                f"Text pooling '{self.pool_type}' is not supported: prompt learning needs the feature read "
                "at the EOT token (pool type 'argmax' or 'eos'). Choose a CLIP-style open_clip model."
            )
        self.context_length = int(self.positional_embedding.shape[0])
        self.width = int(self.token_embedding.weight.shape[1])
        self.embed_dim = self._infer_embed_dim()
        # Truncation is exact only with a causal mask (bidirectional towers see the padding).
        self.truncate = bool(truncate) and self.attn_mask is not None

    def _infer_embed_dim(self):
        proj = self.text_projection
        if proj is None:
            return self.width
        if isinstance(proj, nn.Linear):
            return int(proj.out_features)
        return int(proj.shape[1])

    @property
    def dtype(self):
        if hasattr(self.transformer, "get_cast_dtype"):
            return self.transformer.get_cast_dtype()
        return self.token_embedding.weight.dtype

    @torch.no_grad()
    def embed(self, tokenized):
        """Word embeddings of token ids [N, L] -> [N, L, W] (in the embedding's dtype)."""
        return self.token_embedding(tokenized.to(self.token_embedding.weight.device))

    def sequence_length(self, tokenized):
        """Number of positions actually run: longest EOT in the batch + 1 (or the full length)."""
        if not self.truncate:
            return int(tokenized.shape[1])
        return int(eot_positions(tokenized, self.pool_type, self.eos_token_id).max().item()) + 1

    def forward(self, prompts, tokenized, length=None):
        """Encode prompt embeddings; ``length`` may be passed to skip recomputing the truncation."""
        dtype = self.dtype
        eot = eot_positions(tokenized, self.pool_type, self.eos_token_id).to(prompts.device)
        if length is not None:
            L = int(length)
        else:
            L = self.sequence_length(tokenized) if self.truncate else prompts.shape[1]
        L = min(L, prompts.shape[1])
        x = prompts[:, :L].to(dtype) + self.positional_embedding[:L].to(dtype)
        mask = self.attn_mask[:L, :L] if self.attn_mask is not None else None
        x = self.transformer(x, attn_mask=mask)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot]
        proj = self.text_projection
        if isinstance(proj, nn.Linear):
            x = proj(x)
        elif proj is not None:
            x = x @ proj
        return x
