"""Ablation variants: ``name: KEY VALUE ...`` or ``KEY VALUE ...`` (named from its overrides).

Read from the arguments of ``scripts/ablation.sh``, one per argument or one per line of a file
(blank lines and ``#`` lines ignored); no argument gives the built-in variants below.
"""
import os
import re
from dataclasses import dataclass

from .errors import SweepError

BUILTIN_VARIANTS = (
    "full:",
    "no_kl: TRAINER.SHIP.LAMBDA_KL 0.0",
    "global_ctx_only: TRAINER.SHIP.USE_BIAS False",
    "bias_only: TRAINER.SHIP.USE_GLOBAL_CTX False",
    "mlp_generator: TRAINER.SHIP.GENERATOR mlp",
)


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple

    def describe(self):
        return " ".join(self.overrides) or "no overrides"


def parse_variant(text):
    """One variant from its text; the name becomes a safe folder name."""
    line = text.lstrip()
    name = ""
    first = line.split(maxsplit=1)[0] if line.split() else ""
    if first.endswith(":"):
        name = first[:-1]
        line = line[len(first):]
    tokens = tuple(line.split())
    if len(tokens) % 2:
        raise SweepError(f"variant '{text}' has an odd number of override tokens: write KEY VALUE pairs.")
    if not name:
        pairs = zip(tokens[0::2], tokens[1::2])
        name = ",".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in pairs) or "full"
    return Variant(re.sub(r"[^A-Za-z0-9._=,+-]", "_", name), tokens)


def _looks_like_file(arg):
    return not re.search(r"[\s:]", arg) and ("/" in arg or arg.endswith(".txt"))


def read_variants(args, cwd="."):
    """The variants of ``ablation.sh DATASET [ARGS]``: built-in, from a file, or one per argument."""
    if not args:
        texts = list(BUILTIN_VARIANTS)
    elif len(args) == 1 and os.path.isfile(os.path.join(cwd, args[0])):
        with open(os.path.join(cwd, args[0]), encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f if not re.match(r"^\s*(#|$)", line)]
        if not texts:
            raise SweepError(f"{args[0]} holds no variants.")
    elif len(args) == 1 and _looks_like_file(args[0]):
        raise SweepError(f"variant file {args[0]} not found.")
    else:
        texts = list(args)
    variants = []
    for text in texts:
        variant = parse_variant(text)
        if any(v.name == variant.name for v in variants):
            raise SweepError(f"two variants are named '{variant.name}': give them distinct names "
                             "(name: KEY VALUE ...).")
        variants.append(variant)
    return variants
