"""Tiny random CLIP backbones for fast tests and benchmark smoke runs on a CPU, with no weights to download.

Every test in the project builds its CLIP from one of the open_clip model configs here, written
to a JSON file and loaded through the project's own loader (``MODEL.BACKBONE.NAME`` = that file,
``MODEL.BACKBONE.PRETRAINED`` = ``none``), so tests exercise the same code path as real runs.
The widths are deliberately all different (image width, text width, joint embedding size), so
code that mixes them up or hard-codes 512 fails loudly instead of passing by coincidence.
"""
import copy
import json
import os
import warnings

import torch

__all__ = [
    "TINY_CONFIGS", "tiny_config", "write_tiny_config", "tiny_clip", "configure_tiny_backbone",
    "save_tiny_checkpoint", "tiny_vit", "tiny_rn",
]

# open_clip model configs. Text context stays 77 so the real BPE tokenizer applies unchanged.
_TEXT = dict(context_length=77, vocab_size=49408, width=48, heads=2, layers=2)

TINY_CONFIGS = {
    # VisionTransformer: 32 px images, 4x4 patches of 8 px, 2 heads of 32.
    "vit": ("shipclip-tiny-vit", dict(
        embed_dim=40,
        vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=8, head_width=32),
        text_cfg=dict(_TEXT),
    )),
    # ModifiedResNet (RN50 family): 64 px images -> 2x2 grid before the attention pool.
    "resnet": ("shipclip-tiny-rn", dict(
        embed_dim=56,
        vision_cfg=dict(image_size=64, layers=[1, 1, 1, 1], width=8, head_width=32, patch_size=None),
        text_cfg=dict(_TEXT, width=32),
    )),
}


def tiny_config(kind="vit", **overrides):
    """The model-config dict of a tiny backbone; ``vision_cfg``/``text_cfg`` overrides are merged."""
    if kind not in TINY_CONFIGS:
        raise ValueError(f"Unknown tiny backbone kind {kind!r}; choose one of {sorted(TINY_CONFIGS)}")
    cfg = copy.deepcopy(TINY_CONFIGS[kind][1])
    for key, value in overrides.items():
        if key in ("vision_cfg", "text_cfg"):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


def write_tiny_config(directory, kind="vit", name=None, **overrides):
    """Write a tiny open_clip model config as ``<directory>/<name>.json`` and return its path.

    The file stem becomes the open_clip model name once loaded, so variants need their own
    ``name`` (open_clip keeps one global registry of model configs).
    """
    name = name or TINY_CONFIGS.get(kind, (None,))[0]
    cfg = tiny_config(kind, **overrides)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(str(directory), f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
    return path


def tiny_clip(directory, kind="vit", seed=0, name=None, overrides=None, **load_kwargs):
    """A frozen tiny CLIP with random weights drawn from ``seed`` (global RNG left untouched)."""
    from shipclip.clip.loader import load_clip

    path = write_tiny_config(directory, kind, name=name, **(overrides or {}))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return load_clip(path, pretrained="none", **load_kwargs)


def configure_tiny_backbone(cfg, directory, kind="vit"):
    """Point a project config at a tiny random backbone (name, weights and input size)."""
    path = write_tiny_config(directory, kind)
    size = tiny_config(kind)["vision_cfg"]["image_size"]
    cfg.MODEL.BACKBONE.NAME = path
    cfg.MODEL.BACKBONE.PRETRAINED = "none"
    cfg.INPUT.SIZE = (size, size)
    return cfg


def save_tiny_checkpoint(model, path, fmt=None, openai_metadata=False, dtype=None):
    """Save a model's weights the ways users hand them to the loader; returns ``path``.

    ``fmt``: ``state_dict`` (``torch.save``; default for .pt/.pth/.bin), ``safetensors`` (default
    for .safetensors) or ``jit`` (a traced TorchScript archive, the format of OpenAI's released
    ``ViT-B-16.pt``; it always carries OpenAI's metadata entries). ``openai_metadata`` adds the
    ``input_resolution``/``context_length``/``vocab_size`` entries OpenAI's state dicts hold;
    ``dtype`` casts floating tensors (OpenAI ships fp16).
    """
    path = str(path)
    if fmt is None:
        fmt = "safetensors" if path.endswith(".safetensors") else "state_dict"
    if fmt == "jit":
        return _save_jit(model, path, dtype)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if dtype is not None:
        sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    if openai_metadata:
        sd.update(_openai_metadata(model))
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in sd.items()}, path)
    elif fmt == "state_dict":
        torch.save(sd, path)
    else:
        raise ValueError(f"Unknown checkpoint format {fmt!r}; use state_dict, safetensors or jit")
    return path


def _openai_metadata(model):
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    return {
        "input_resolution": torch.tensor(int(size)),
        "context_length": torch.tensor(int(model.positional_embedding.shape[0])),
        "vocab_size": torch.tensor(int(model.token_embedding.weight.shape[0])),
    }


def _save_jit(model, path, dtype):
    """Trace ``encode_text``/``encode_image`` of a copy that carries OpenAI's metadata buffers."""
    clone = copy.deepcopy(model).cpu().eval()
    if dtype is not None:
        clone = clone.to(dtype)
    meta = _openai_metadata(clone)
    for key, value in meta.items():
        if hasattr(clone, key):
            delattr(clone, key)  # plain int attributes on open_clip's CLIP
        clone.register_buffer(key, value)
    size = int(meta["input_resolution"])
    wdtype = clone.visual.conv1.weight.dtype
    inputs = dict(
        encode_text=(torch.zeros(2, int(meta["context_length"]), dtype=torch.long),),
        encode_image=(torch.zeros(2, 3, size, size, dtype=wdtype),),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit deprecation and tracer notices
        traced = torch.jit.trace_module(clone, inputs)
        torch.jit.save(traced, path)
    return path


# Built directly with open_clip (no config file): the generator tests use text towers wide enough
# to separate a few classes, and both families (ViT and ModifiedResNet).
_GENERATOR_TEXT = dict(context_length=77, vocab_size=49408, layers=2)


def tiny_vit():
    """A tiny ViT CLIP (QuickGELU, joint width 48, text width 64), seeded, in eval mode."""
    import open_clip

    torch.manual_seed(0)
    return open_clip.create_model(
        "ViT-B-16", pretrained=None, embed_dim=48, quick_gelu=True,
        vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=16, head_width=16),
        text_cfg=dict(_GENERATOR_TEXT, width=64, heads=4),
    ).eval()


def tiny_rn():
    """A tiny ModifiedResNet CLIP (QuickGELU, joint width 40, text width 32), seeded, in eval mode."""
    import open_clip

    torch.manual_seed(0)
    return open_clip.create_model(
        "RN50", pretrained=None, embed_dim=40, quick_gelu=True,
        vision_cfg=dict(image_size=32, layers=[1, 1, 1, 1], width=8),
        text_cfg=dict(_GENERATOR_TEXT, width=32, heads=2),
    ).eval()
