"""Does a checkpoint fit the architecture? A meta-device build and a readable answer when it does not.

The model is first built on the meta device (shapes only, milliseconds even for ViT-L), so a
checkpoint for another architecture is refused before a full-size model is allocated. The error
names the backbone, the file, the first mismatching keys with both shapes, and which open_clip
architecture the file looks like.
"""
import math
import re

import torch

from .create import create_model
from .names import open_clip_lib

__all__ = ["describe_state_dict", "adapt_state_dict", "check_architecture", "skeleton"]


def _block_count(sd, prefix):
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m.group(1) for k in sd for m in [pattern.match(k)] if m})


def _architecture(sd):
    """Sizes of a CLIP checkpoint in open_clip config terms (None where it is not CLIP-like)."""
    t = "" if "token_embedding.weight" in sd else ("text." if "text.token_embedding.weight" in sd else None)
    if t is None or f"{t}ln_final.weight" not in sd:
        return None
    arch = dict(
        text_width=int(sd[f"{t}ln_final.weight"].shape[0]),
        text_layers=_block_count(sd, f"{t}transformer.resblocks."),
        context_length=int(sd[f"{t}positional_embedding"].shape[0]) if f"{t}positional_embedding" in sd else None,
    )
    proj = sd.get(f"{t}text_projection", sd.get(f"{t}text_projection.weight"))
    if proj is not None:
        arch["embed_dim"] = int(proj.shape[1] if f"{t}text_projection" in sd else proj.shape[0])
    if "visual.conv1.weight" in sd and "visual.positional_embedding" in sd:
        conv = sd["visual.conv1.weight"]
        grid = int(round(math.sqrt(sd["visual.positional_embedding"].shape[0] - 1)))
        arch.update(vision="ViT", vision_width=int(conv.shape[0]), patch_size=int(conv.shape[-1]),
                    vision_layers=_block_count(sd, "visual.transformer.resblocks."),
                    image_size=int(conv.shape[-1]) * grid)
    elif "visual.layer1.0.conv1.weight" in sd:
        pos = sd.get("visual.attnpool.positional_embedding")
        grid = int(round(math.sqrt(pos.shape[0] - 1))) if pos is not None else None
        arch.update(vision="ResNet", vision_width=int(sd["visual.layer1.0.conv1.weight"].shape[0]),
                    vision_layers=[_block_count(sd, f"visual.layer{i}.") for i in (1, 2, 3, 4)],
                    image_size=grid * 32 if grid else None)
    else:
        arch["vision"] = "other"
    return arch


def _config_architecture(cfg):
    v, t = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    if "timm_model_name" in v or "hf_model_name" in t:
        return None
    layers = v.get("layers", 12)
    size = v.get("image_size", 224)
    size = size[0] if isinstance(size, (list, tuple)) else size
    arch = dict(text_width=t.get("width", 512), text_layers=t.get("layers", 12),
                context_length=t.get("context_length", 77), embed_dim=cfg.get("embed_dim"),
                vision_width=v.get("width", 768), image_size=size)
    if isinstance(layers, (list, tuple)):
        arch.update(vision="ResNet", vision_layers=list(layers))
    else:
        arch.update(vision="ViT", vision_layers=layers, patch_size=v.get("patch_size", 16))
    return arch


def describe_state_dict(sd):
    """A short human description of what architecture a checkpoint holds (for error messages)."""
    arch = _architecture(sd)
    if arch is None:
        return f"no CLIP checkpoint (first keys: {', '.join(list(sd)[:3])})"
    parts = [f"{arch['vision']} image tower"]
    if arch["vision"] == "ViT":
        parts[0] += (f" (width {arch['vision_width']}, {arch['vision_layers']} layers, patch {arch['patch_size']}, "
                     f"{arch['image_size']} px)")
    elif arch["vision"] == "ResNet":
        parts[0] += f" (width {arch['vision_width']}, layers {arch['vision_layers']}, {arch['image_size']} px)"
    parts.append(f"text width {arch['text_width']} x {arch['text_layers']} layers")
    if "embed_dim" in arch:
        parts.append(f"embed_dim {arch['embed_dim']}")
    summary = ", ".join(parts)
    open_clip = open_clip_lib()
    matches = []
    for candidate in open_clip.list_models():
        if candidate.endswith("-quickgelu"):
            continue
        expected = _config_architecture(open_clip.get_model_config(candidate) or {})
        if expected and all(expected.get(k) == arch.get(k) for k in expected if k in arch):
            matches.append(candidate)
    if matches:
        return f"{sorted(matches, key=len)[0]} ({summary})"
    return f"an architecture with no open_clip config ({summary})"


def adapt_state_dict(model, sd):
    """open_clip's layout fixes: custom-text towers, scalar logit_scale, non-persistent buffers."""
    open_clip = open_clip_lib()
    if "positional_embedding" in sd and not hasattr(model, "positional_embedding") and hasattr(model, "text"):
        sd = open_clip.model.convert_to_custom_text_state_dict(sd)
    expected = model.state_dict()
    if "logit_scale" in sd and "logit_scale" in expected and sd["logit_scale"].ndim != expected["logit_scale"].ndim:
        sd["logit_scale"] = sd["logit_scale"].reshape(expected["logit_scale"].shape)
    if "logit_bias" in expected and "logit_bias" not in sd and "logit_scale" in sd:
        sd["logit_bias"] = torch.zeros_like(expected["logit_bias"])
    transient = {n for n, _ in model.named_buffers()} - set(expected)  # e.g. attn_mask in traced archives
    return {k: v for k, v in sd.items() if k not in transient}


def check_architecture(model, sd, name, resolved, path):
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    wrong = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(expected[k].shape)}"
             for k in expected if k in sd and sd[k].shape != expected[k].shape]
    if not (missing or unexpected or wrong):
        return
    problems = wrong[:3] + [f"missing {k}" for k in missing[:2]] + [f"unexpected {k}" for k in unexpected[:2]]
    raise ValueError(
        f"Backbone {name} (open_clip {resolved}) cannot take the weights in {path}: wrong architecture: "
        f"this file looks like {describe_state_dict(sd)}. First mismatching keys: {'; '.join(problems)}. "
        "Set MODEL.BACKBONE.NAME to the architecture of the file, or MODEL.BACKBONE.PRETRAINED to weights "
        f"for {name}."
    )


def skeleton(resolved, quick_gelu, model_kwargs):
    """The architecture on the meta device: shapes to check a checkpoint against in milliseconds."""
    try:
        with torch.device("meta"):
            return create_model(resolved, "fp32", quick_gelu, model_kwargs, device="meta")
    except Exception:  # some towers (timm, HF) cannot be built on meta; check on the real model then
        return None
