"""CLIP's frozen text tower driven by token *embeddings*, truncated to the longest EOT.

With a causal mask, position i only attends to positions <= i, so the feature read at the EOT
token never depends on tokens after it: running the tower on ``L = max(EOT index) + 1`` positions
gives the same output as the full 77 (up to float rounding) at a fraction of the cost. This is
the main speed lever of every trainer and of the SHIP generator.

Prompts of one batch differ in length (class names of 1 to 6 tokens), so a single truncation
length still pads the short ones to the longest. ``TextEncoder`` therefore also splits a batch into
at most ``max_groups`` groups of similar EOT position (:func:`length_groups`, the split that runs
the fewest positions) and runs each group at its own length; outputs come back in the input order.
"""
import torch
import torch.nn as nn

__all__ = ["TextEncoder", "text_tower", "eot_positions", "length_groups"]


def text_tower(model):
    """The module that owns the text attributes (``CustomTextCLIP`` keeps them under ``.text``)."""
    return getattr(model, "text", model) if not hasattr(model, "token_embedding") else model


def eot_positions(tokenized, pool_type="argmax", eos_token_id=None):
    """Index of the pooled (EOT) token per row."""
    if pool_type == "eos" and eos_token_id is not None:
        return (tokenized == eos_token_id).int().argmax(dim=-1)
    return tokenized.argmax(dim=-1)


def length_groups(lengths, max_groups=4, min_saving=0.1):
    """Split rows by sequence length so the text tower runs as few positions as possible.

    ``lengths`` [N] are the positions each row needs (EOT index + 1). Rows are grouped into at most
    ``max_groups`` ranges of sorted lengths, each run at its longest length; the split minimising
    the total number of positions run is found by dynamic programming over the distinct lengths.
    Returns a list of ``(row_indices, length)``, or a single group ``(None, max length)`` when
    grouping would save less than ``min_saving`` of the positions of one padded batch (each extra
    group is one more, smaller kernel launch, which is not free on a GPU).
    """
    lengths = torch.as_tensor(lengths).reshape(-1)
    longest = int(lengths.max())
    if max_groups <= 1 or lengths.numel() < 2:
        return [(None, longest)]
    values, counts = torch.unique(lengths, sorted=True, return_counts=True)
    values, counts = values.tolist(), counts.tolist()
    m = len(values)
    if m == 1:
        return [(None, longest)]
    k_max = min(int(max_groups), m)
    prefix = [0]
    for c in counts:
        prefix.append(prefix[-1] + c)
    inf = float("inf")
    # best[k][j]: fewest positions to cover the first j distinct lengths with k groups.
    best = [[inf] * (m + 1) for _ in range(k_max + 1)]
    cut = [[0] * (m + 1) for _ in range(k_max + 1)]
    best[0][0] = 0
    for k in range(1, k_max + 1):
        for j in range(1, m + 1):
            for i in range(k - 1, j):
                cost = best[k - 1][i] + values[j - 1] * (prefix[j] - prefix[i])
                if cost < best[k][j]:
                    best[k][j], cut[k][j] = cost, i
    k = min(range(1, k_max + 1), key=lambda n: (best[n][m], n))
    padded = longest * prefix[m]
    if padded - best[k][m] < min_saving * padded:
        return [(None, longest)]
    bounds, j = [], m
    for n in range(k, 0, -1):
        i = cut[n][j]
        bounds.append((values[i], values[j - 1]))
        j = i
    groups = []
    for lo, hi in reversed(bounds):
        rows = torch.nonzero((lengths >= lo) & (lengths <= hi)).flatten()
        groups.append((rows, int(hi)))
    return groups


class TextEncoder(nn.Module):
    """Frozen text transformer + final LayerNorm + projection, read at the EOT token.

    ``forward(prompts, tokenized)`` takes ``prompts`` [N, L, W] (token embeddings, possibly with
    learned vectors in place of some words) and the matching token ids [N, L'] (L' >= the EOT
    positions; only used to locate the EOT). Widths come from the model: ``width`` (W, the
    token-embedding width, CoOp's ctx_dim) and ``embed_dim`` (D, the joint embedding size).
    ``max_groups`` > 1 lets a batch of mixed-length prompts run as that many length groups
    (:func:`length_groups`); 1 runs one padded batch. Both are exact with a causal mask.
    """

    def __init__(self, clip_model, truncate=True, max_groups=4):
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
        self.max_groups = int(max_groups) if self.truncate else 1

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
        """Encode prompt embeddings [N, L, W] -> features [N, D].

        ``length`` forces one padded batch of that many positions (no length groups).
        """
        eot = eot_positions(tokenized, self.pool_type, self.eos_token_id).to(prompts.device)
        if length is not None or not self.truncate:
            L = int(length) if length is not None else prompts.shape[1]
            return self._encode(prompts, eot, L)
        groups = length_groups(eot + 1, self.max_groups)
        if len(groups) == 1:
            return self._encode(prompts, eot, groups[0][1])
        outputs = [self._encode(prompts[rows], eot[rows], L) for rows, L in groups]
        order = torch.cat([rows for rows, _ in groups])
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        return torch.cat(outputs)[inverse]

    def _encode(self, prompts, eot, L):
        dtype = self.dtype
        L = min(int(L), prompts.shape[1])
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
