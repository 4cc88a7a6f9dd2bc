"""Backbone names: CoOp's spelling (``ViT-B/16``), open_clip names and open_clip model-config JSON files.

CoOp configs name backbones OpenAI's way, which open_clip does not accept; a model-config ``.json``
is registered with open_clip under its file stem. Unknown names fail with the closest known ones.
"""
import difflib
import json
import logging
import os

__all__ = ["COOP_NAMES", "open_clip_lib", "normalize_model_name", "base_name", "get_tokenizer"]

logger = logging.getLogger(__name__)

# CoOp / OpenAI spelling -> open_clip model name.
COOP_NAMES = {
    "RN50": "RN50", "RN101": "RN101", "RN50x4": "RN50x4", "RN50x16": "RN50x16", "RN50x64": "RN50x64",
    "ViT-B/32": "ViT-B-32", "ViT-B/16": "ViT-B-16", "ViT-L/14": "ViT-L-14", "ViT-L/14@336px": "ViT-L-14-336",
}


def open_clip_lib():
    """open_clip, imported on first use: importing it takes seconds that most of shipclip does not need."""
    import open_clip

    return open_clip


def normalize_model_name(name):
    """CoOp name, open_clip name or model-config ``.json`` path -> open_clip model name."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"MODEL.BACKBONE.NAME must be a model name or a config path, got {name!r}")
    name = name.strip()
    if name.lower().endswith(".json"):
        return _register_model_config(name)
    if name.startswith("local-dir:"):
        return name
    if name.startswith("hf-hub:"):
        raise ValueError(
            f"Backbone {name!r}: 'hf-hub:' names download at load time. Download the repository once "
            "(open_clip_config.json and the weights) and use 'local-dir:/path/to/folder' instead."
        )
    if name in COOP_NAMES:
        return COOP_NAMES[name]
    known = open_clip_lib().list_models()
    for candidate in (name, name.replace("/", "-")):
        if candidate in known:
            return candidate
    close = difflib.get_close_matches(name.replace("/", "-"), known, n=5, cutoff=0.6)
    coop = difflib.get_close_matches(name, list(COOP_NAMES), n=1, cutoff=0.6) if "/" in name else []
    best = (coop or close or [None])[0]
    hint = f" Did you mean {best!r}?" if best else ""
    hint += f" (close open_clip names: {', '.join(close)})" if close else ""
    raise ValueError(
        f"Unknown CLIP backbone {name!r} (MODEL.BACKBONE.NAME). Use a CoOp name "
        f"({', '.join(sorted(COOP_NAMES))}), an open_clip model name (open_clip.list_models()), "
        f"or a path to an open_clip model-config .json file.{hint}"
    )


def _register_model_config(path):
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model config file not found: {path} (MODEL.BACKBONE.NAME). Check the path.")
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"Model config {path} is not valid JSON: {exc}") from exc
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if not isinstance(cfg, dict) or k not in cfg]
    if missing:
        raise ValueError(
            f"Model config {path} is not an open_clip model config: missing key(s) {', '.join(missing)} "
            "(an open_clip config has embed_dim, vision_cfg and text_cfg)."
        )
    name = os.path.splitext(os.path.basename(path))[0]
    open_clip = open_clip_lib()
    if name in open_clip.list_models() and open_clip.get_model_config(name) != cfg:
        logger.warning("Model config %s replaces the open_clip config already named %r", path, name)
    open_clip.add_model_config(path)
    return name


def base_name(resolved):
    return resolved[: -len("-quickgelu")] if resolved.endswith("-quickgelu") else resolved


def get_tokenizer(name):
    """open_clip's tokenizer for a backbone (real BPE, context 77 for CLIP models)."""
    return open_clip_lib().get_tokenizer(normalize_model_name(name))
