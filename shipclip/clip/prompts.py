"""Class prompts tokenised and embedded once, assembled around (learned) context vectors.

``ClassPrompts`` is shared by CoOp, CoCoOp and the SHIP generator: it tokenises
``"<placeholder ctx> <class name>."`` for every class a single time, keeps the SOS embedding
(``token_prefix``) and everything after the context slots (``token_suffix``) as buffers, and
``assemble`` puts context vectors in between. The suffix is pre-truncated to the longest EOT of
the class set, so every forward pass runs the text tower on the exact, short sequence.
"""
import torch
import torch.nn as nn

__all__ = ["ClassPrompts", "clean_classname"]


def clean_classname(name):
    """CoOp's rule: underscores become spaces."""
    return name.replace("_", " ")


class ClassPrompts(nn.Module):
    """Embedded prompts ``[SOS] [ctx x n_ctx] [class tokens] [.] [EOT]`` for a list of classes.

    Args:
        text_encoder: a :class:`shipclip.clip.text.TextEncoder`.
        tokenizer: callable ``list[str] -> LongTensor [N, context_length]`` (open_clip tokenizer).
        classnames: class names (underscores are replaced by spaces).
        n_ctx: number of context slots.
        position: ``end`` | ``middle`` | ``front`` (CoOp's CLASS_TOKEN_POSITION).
        placeholder: the words occupying the context slots when tokenising (CoOp: ``"X X X X"``
            or the CTX_INIT phrase); only their count matters for the assembled prompt.
    """

    def __init__(self, text_encoder, tokenizer, classnames, n_ctx, position="end", placeholder=None):
        super().__init__()
        if position not in ("end", "middle", "front"):
            raise ValueError(f"CLASS_TOKEN_POSITION must be end, middle or front, got {position!r}")
        names = [clean_classname(c) for c in classnames]
        if not names:
            raise ValueError("ClassPrompts needs at least one class name")
        self.classnames = names
        self.n_cls = len(names)
        self.n_ctx = int(n_ctx)
        self.position = position
        placeholder = placeholder if placeholder is not None else " ".join(["X"] * self.n_ctx)
        self.name_lens = [len(_bpe_ids(tokenizer, n)) for n in names]
        texts = [f"{placeholder} {n}." for n in names]
        tokenized = tokenizer(texts)
        self.full_length = int(tokenized.shape[1])
        L = text_encoder.sequence_length(tokenized)
        tokenized = tokenized[:, :L].contiguous()
        embedding = text_encoder.embed(tokenized)
        self.register_buffer("tokenized_prompts", tokenized, persistent=False)
        self.register_buffer("token_prefix", embedding[:, :1].detach().clone())  # SOS
        self.register_buffer("token_suffix", embedding[:, 1 + self.n_ctx:].detach().clone())  # class, ".", EOT
        self.length = L

    def assemble(self, ctx, class_index=None):
        """Build prompt embeddings.

        ``ctx`` is [n_ctx, W] (shared), [n_cls, n_ctx, W] (class-specific), or [B, n_ctx, W]
        with ``class_index`` [B] (one prompt per row, e.g. per synthesized sample).
        Returns ([rows, L, W] embeddings, [rows, L] token ids).
        """
        prefix, suffix, tokenized = self.token_prefix, self.token_suffix, self.tokenized_prompts
        if class_index is not None:
            prefix, suffix, tokenized = prefix[class_index], suffix[class_index], tokenized[class_index]
            rows = class_index.shape[0]
        else:
            rows = self.n_cls
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(rows, -1, -1)
        if ctx.shape[0] != rows:
            raise ValueError(f"context has {ctx.shape[0]} rows but {rows} prompts are requested")
        ctx = ctx.to(prefix.dtype)
        if self.position == "end":
            prompts = torch.cat([prefix, ctx, suffix], dim=1)
        else:
            lens = self.name_lens if class_index is None else [self.name_lens[i] for i in class_index.tolist()]
            pieces = []
            half = self.n_ctx // 2
            for i in range(rows):
                n = lens[i]
                cls_tok, rest = suffix[i:i + 1, :n], suffix[i:i + 1, n:]
                if self.position == "middle":
                    pieces.append(torch.cat(
                        [prefix[i:i + 1], ctx[i:i + 1, :half], cls_tok, ctx[i:i + 1, half:], rest], dim=1))
                else:  # front
                    pieces.append(torch.cat([prefix[i:i + 1], cls_tok, ctx[i:i + 1], rest], dim=1))
            prompts = torch.cat(pieces, dim=0)
        return prompts, tokenized


def _bpe_ids(tokenizer, text):
    """BPE ids of ``text`` without SOS/EOT (for the class-name length)."""
    if hasattr(tokenizer, "encode"):
        return tokenizer.encode(text)
    inner = getattr(tokenizer, "tokenizer", None)
    if inner is not None and hasattr(inner, "encode"):
        return inner.encode(text)
    ids = tokenizer([text])[0].tolist()
    return [i for i in ids[1:] if i != 0][:-1]
