"""The one place that loads a CLIP backbone (open_clip underneath).

Why not call ``open_clip.create_model`` directly:

* CoOp configs name backbones OpenAI's way (``ViT-B/16``) and CoOp users keep OpenAI's JIT
  archives in ``~/.cache/clip``; open_clip neither accepts those names nor looks in that folder.
* OpenAI weights need QuickGELU. open_clip only warns for the ``openai`` tag and says nothing
  when the weights come from a file, which silently shifts every feature.
* Offline, open_clip lets huggingface_hub retry for about a minute before failing; here a
  missing file is reported at once, with the file to provide and where to put it.
* A checkpoint for another architecture should say so, not dump a ``load_state_dict`` error.

Every model leaves here frozen (``requires_grad_(False)``), in eval mode, on the asked device.
"""
import difflib
import json
import logging
import math
import os
import re
import warnings
import zipfile

import torch
import torch.nn as nn

from .text import text_tower

__all__ = [
    "COOP_NAMES", "OPENAI_FILES", "normalize_model_name", "load_clip", "load_clip_from_cfg",
    "get_tokenizer", "model_dims", "check_input_size", "locate_pretrained", "read_clip_state_dict",
    "describe_state_dict", "uses_quick_gelu",
]

logger = logging.getLogger(__name__)

# CoOp / OpenAI spelling -> open_clip model name.
COOP_NAMES = {
    "RN50": "RN50", "RN101": "RN101", "RN50x4": "RN50x4", "RN50x16": "RN50x16", "RN50x64": "RN50x64",
    "ViT-B/32": "ViT-B-32", "ViT-B/16": "ViT-B-16", "ViT-L/14": "ViT-L-14", "ViT-L/14@336px": "ViT-L-14-336",
}
# File names of OpenAI's released JIT archives (what ``clip.load`` keeps in ~/.cache/clip).
OPENAI_FILES = {
    "RN50": "RN50.pt", "RN101": "RN101.pt", "RN50x4": "RN50x4.pt", "RN50x16": "RN50x16.pt",
    "RN50x64": "RN50x64.pt", "ViT-B-32": "ViT-B-32.pt", "ViT-B-16": "ViT-B-16.pt",
    "ViT-L-14": "ViT-L-14.pt", "ViT-L-14-336": "ViT-L-14-336px.pt",
}
OPENAI_METADATA_KEYS = ("input_resolution", "context_length", "vocab_size")
NO_WEIGHTS = ("", "none", "random", "false")
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
LOAD_PRECISIONS = ("fp32", "fp16", "bf16", "pure_fp16", "pure_bf16")
ALLOW_DOWNLOAD_ENV = "SHIPCLIP_ALLOW_DOWNLOAD"
_HF_WEIGHTS = "open_clip_pytorch_model.bin"
_HF_SAFE_WEIGHTS = "open_clip_model.safetensors"


def _open_clip():
    import open_clip

    return open_clip


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

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
    known = _open_clip().list_models()
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
    open_clip = _open_clip()
    if name in open_clip.list_models() and open_clip.get_model_config(name) != cfg:
        logger.warning("Model config %s replaces the open_clip config already named %r", path, name)
    open_clip.add_model_config(path)
    return name


def _base_name(resolved):
    return resolved[: -len("-quickgelu")] if resolved.endswith("-quickgelu") else resolved


def get_tokenizer(name):
    """open_clip's tokenizer for a backbone (real BPE, context 77 for CLIP models)."""
    return _open_clip().get_tokenizer(normalize_model_name(name))


# ---------------------------------------------------------------------------------------------
# Where the weights are
# ---------------------------------------------------------------------------------------------

def _looks_like_path(value):
    return (
        os.sep in value or "/" in value or "\\" in value or value.startswith(("~", "."))
        or value.lower().endswith(WEIGHT_SUFFIXES) or os.path.exists(value)
    )


def _clip_dirs(cache_dir):
    dirs = [cache_dir] if cache_dir else []
    dirs.append(os.path.expanduser(os.path.join("~", ".cache", "clip")))
    return list(dict.fromkeys(dirs))


def _hf_hub_cache(cache_dir):
    if cache_dir:
        return cache_dir
    try:
        from huggingface_hub import constants

        return constants.HF_HUB_CACHE
    except ImportError:
        return os.path.expanduser(os.path.join("~", ".cache", "huggingface", "hub"))


def _hf_candidates(hf_hub):
    repo, filename = os.path.split(hf_hub)
    filename = filename or _HF_WEIGHTS
    names = []
    if filename == _HF_WEIGHTS:
        names.append(_HF_SAFE_WEIGHTS)
    elif filename.endswith((".bin", ".pth")):
        names.append(filename[:-4] + ".safetensors")
    return repo, names + [filename]


def locate_pretrained(name, tag, cache_dir=None):
    """Find a pretrained tag's weights on this machine without touching the network.

    Looks, in order, for OpenAI's own file (tag ``openai``) in ``cache_dir`` and ``~/.cache/clip``,
    then for open_clip's download in the Hugging Face cache and the URL download folder.
    Returns ``(path or None, searched)`` where ``searched`` lists the places looked at.
    """
    return _locate(name, normalize_model_name(name), tag, cache_dir)


def _locate(name, resolved, tag, cache_dir):
    open_clip = _open_clip()
    cfg = _tag_cfg(resolved, tag)
    if not cfg:
        tags = (open_clip.list_pretrained_tags_by_model(resolved)
                or open_clip.list_pretrained_tags_by_model(_base_name(resolved)))
        raise ValueError(
            f"Unknown pretrained tag {tag!r} for backbone {name} (open_clip {resolved}). Known tags: "
            f"{', '.join(tags) if tags else '(open_clip lists none for this backbone)'}. "
            "MODEL.BACKBONE.PRETRAINED may also be a path to a weights file, or 'none' for random weights."
        )
    searched = []
    candidates = []
    if tag == "openai" and _base_name(resolved) in OPENAI_FILES:
        candidates += [os.path.join(d, OPENAI_FILES[_base_name(resolved)]) for d in _clip_dirs(cache_dir)]
    if cfg.get("file"):
        candidates.append(cfg["file"])
    for path in candidates:
        if os.path.isfile(path):
            return path, searched
        searched.append(path)
    if cfg.get("hf_hub"):
        repo, filenames = _hf_candidates(cfg["hf_hub"])
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            try_to_load_from_cache = None
        for filename in filenames:
            hit = try_to_load_from_cache(repo, filename, cache_dir=cache_dir) if try_to_load_from_cache else None
            if isinstance(hit, str) and os.path.isfile(hit):
                return hit, searched
        searched.append(f"Hugging Face cache {_hf_hub_cache(cache_dir)}: {repo} ({' or '.join(filenames)})")
    if cfg.get("url"):
        path = os.path.join(cache_dir or os.path.expanduser(os.path.join("~", ".cache", "clip")),
                            os.path.basename(cfg["url"]))
        if os.path.isfile(path):
            return path, searched
        if path not in searched:
            searched.append(path)
    return None, searched


def _missing_weights_error(name, resolved, tag, cache_dir, searched):
    base = _base_name(resolved)
    if tag == "openai" and base in OPENAI_FILES:
        fname = OPENAI_FILES[base]
        provide = (
            f"put OpenAI's {fname} in {_clip_dirs(cache_dir)[0]}/ (the folder CoOp and OpenAI's clip use), "
            f"or set MODEL.BACKBONE.PRETRAINED /path/to/{fname}"
        )
    else:
        cfg = _tag_cfg(resolved, tag)
        if cfg.get("hf_hub"):
            repo, filenames = _hf_candidates(cfg["hf_hub"])
            provide = (
                f"download {filenames[-1]} of the Hugging Face repo {repo} into the Hugging Face cache "
                f"({_hf_hub_cache(cache_dir)}) on a machine with network access, or set "
                f"MODEL.BACKBONE.PRETRAINED /path/to/{filenames[-1]}"
            )
        else:
            provide = f"set MODEL.BACKBONE.PRETRAINED /path/to/{os.path.basename(cfg.get('url', 'weights.pt'))}"
    return FileNotFoundError(
        f"No local copy of the {tag!r} weights for backbone {name} (open_clip {resolved}), and downloads are "
        f"off. To provide them: {provide}. Looked in: {'; '.join(searched)}. To let open_clip download "
        f"them instead, set {ALLOW_DOWNLOAD_ENV}=1."
    )


def _download_allowed(allow_download):
    if allow_download is not None:
        return bool(allow_download)
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


# ---------------------------------------------------------------------------------------------
# Reading and checking a checkpoint
# ---------------------------------------------------------------------------------------------

def _is_torchscript(path):
    """TorchScript archives are zip files with a ``constants.pkl`` record (state dicts have none)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def read_clip_state_dict(path):
    """Read CLIP weights from a state dict (.pt/.bin/.pth), .safetensors or an OpenAI JIT archive.

    Returns ``(state_dict, info)`` with ``info = {"format": "jit"|"state_dict"|"safetensors",
    "openai_metadata": bool}``. OpenAI's metadata entries (``input_resolution``, ...) are removed.
    """
    path = str(path)
    fmt = "safetensors" if path.endswith(".safetensors") else ("jit" if _is_torchscript(path) else "state_dict")
    try:
        if fmt == "safetensors":
            from safetensors.torch import load_file

            obj = load_file(path, device="cpu")
        elif fmt == "jit":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notice
                obj = torch.jit.load(path, map_location="cpu").state_dict()
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        hint = ("the file pickles Python objects besides tensors; if you trust it, re-save just its state "
                "dict with torch.save(...)") if "Weights only load failed" in str(exc) else (
                "the file is damaged, incomplete, or not a PyTorch / safetensors checkpoint; download it "
                "again or point MODEL.BACKBONE.PRETRAINED to another file")
        raise RuntimeError(f"Could not read CLIP weights from {path}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''} ({hint}).") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"{path} does not hold a state dict (found {type(obj).__name__}); expected CLIP weights.")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{path} is not a plain CLIP state dict: entry {bad[0]!r} is not a tensor.")
    sd = dict(obj)
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    metadata = any(k in sd for k in OPENAI_METADATA_KEYS)
    for key in OPENAI_METADATA_KEYS:
        sd.pop(key, None)
    return sd, {"format": fmt, "openai_metadata": metadata}


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
    open_clip = _open_clip()
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


def _adapt_state_dict(model, sd):
    """open_clip's layout fixes: custom-text towers, scalar logit_scale, non-persistent buffers."""
    open_clip = _open_clip()
    if "positional_embedding" in sd and not hasattr(model, "positional_embedding") and hasattr(model, "text"):
        sd = open_clip.model.convert_to_custom_text_state_dict(sd)
    expected = model.state_dict()
    if "logit_scale" in sd and "logit_scale" in expected and sd["logit_scale"].ndim != expected["logit_scale"].ndim:
        sd["logit_scale"] = sd["logit_scale"].reshape(expected["logit_scale"].shape)
    if "logit_bias" in expected and "logit_bias" not in sd and "logit_scale" in sd:
        sd["logit_bias"] = torch.zeros_like(expected["logit_bias"])
    transient = {n for n, _ in model.named_buffers()} - set(expected)  # e.g. attn_mask in traced archives
    return {k: v for k, v in sd.items() if k not in transient}


def _check_architecture(model, sd, name, resolved, path):
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


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------

def uses_quick_gelu(model):
    """Whether the model's transformers use OpenAI's QuickGELU activation."""
    quick = _open_clip().transformer.QuickGELU
    return any(isinstance(m, quick) for m in model.modules())


class _DropRandomInitNotice(logging.Filter):
    """open_clip logs 'initialized randomly' when built without weights, even though we load them next."""

    def filter(self, record):
        return "initialized randomly" not in str(record.msg)


def _create(resolved, precision, quick_gelu, model_kwargs, device="cpu"):
    kwargs = dict(model_kwargs)
    if quick_gelu is not None:
        kwargs["quick_gelu"] = bool(quick_gelu)
    quiet = _DropRandomInitNotice()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        return _open_clip().create_model(resolved, pretrained=None, precision=precision, device=device, **kwargs)
    finally:
        root.removeFilter(quiet)


def _skeleton(resolved, quick_gelu, model_kwargs):
    """The architecture on the meta device: shapes to check a checkpoint against in milliseconds."""
    try:
        with torch.device("meta"):
            return _create(resolved, "fp32", quick_gelu, model_kwargs, device="meta")
    except Exception:  # some towers (timm, HF) cannot be built on meta; check on the real model then
        return None


def _resolve_source(name, resolved, pretrained, cache_dir, allow_download):
    """-> dict(kind=random|file, path, tag, what) without any network access unless allowed."""
    if pretrained is None or pretrained is False:
        pretrained = "none"
    if pretrained is True:  # Dassl's default value of MODEL.BACKBONE.PRETRAINED
        pretrained = "openai"
    value = str(pretrained).strip()
    if value.lower() in NO_WEIGHTS:
        return dict(kind="random", path=None, tag=None, what="random init (pretrained=none)")
    if _looks_like_path(value):
        path = os.path.abspath(os.path.expanduser(value))
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"CLIP weights file not found: {path} (MODEL.BACKBONE.PRETRAINED={value!r}). Check the path, "
                "or use an open_clip pretrained tag such as 'openai', or 'none' for random weights."
            )
        return dict(kind="file", path=path, tag=None, what=path)
    path, searched = _locate(name, resolved, value, cache_dir)
    if path is None:
        if not _download_allowed(allow_download):
            raise _missing_weights_error(name, resolved, value, cache_dir, searched)
        path = _open_clip().pretrained.download_pretrained(_tag_cfg(resolved, value), cache_dir=cache_dir)
    return dict(kind="file", path=path, tag=value, what=f"{value} ({path})")


def _tag_cfg(resolved, tag):
    open_clip = _open_clip()
    return open_clip.get_pretrained_cfg(resolved, tag) or open_clip.get_pretrained_cfg(_base_name(resolved), tag)


def load_clip(name, pretrained="openai", device="cpu", precision="fp32", cache_dir=None,
              quick_gelu=None, allow_download=None, **model_kwargs):
    """Load a frozen CLIP (open_clip model) in eval mode on ``device``.

    Args:
        name: CoOp name (``ViT-B/16``), open_clip name (``ViT-B-16``), path to an open_clip
            model-config ``.json``, or ``local-dir:/folder``.
        pretrained: open_clip pretrained tag (``openai``), path to weights (state dict
            .pt/.bin/.pth/.safetensors or OpenAI JIT archive), or ``none`` for random weights.
        precision: open_clip weight precision (fp32, fp16, bf16, pure_fp16, pure_bf16); see
            :func:`shipclip.clip.precision.clip_precision_for`.
        cache_dir: folder searched for (and receiving, if downloads are allowed) weights.
        quick_gelu: force the activation; ``None`` picks QuickGELU for OpenAI weights (tag
            ``openai``, JIT archives, OpenAI-layout state dicts, CoOp backbone names).
        allow_download: let open_clip download missing weights (default: env
            ``SHIPCLIP_ALLOW_DOWNLOAD``); otherwise a missing file fails at once.
        model_kwargs: passed to ``open_clip.create_model`` (e.g. ``force_custom_text=True``).

    The returned model has ``clip_load_info`` (name, open_clip name, weights, QuickGELU, precision).
    """
    if precision not in LOAD_PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(LOAD_PRECISIONS)}, got {precision!r} "
                         "(map a trainer PREC with shipclip.clip.precision.clip_precision_for).")
    cache_dir = os.path.expanduser(cache_dir) if cache_dir else None
    resolved = normalize_model_name(name)
    if resolved.startswith("local-dir:"):
        model, info = _load_local_dir(name, resolved, pretrained, precision, quick_gelu, model_kwargs)
    else:
        source = _resolve_source(name, resolved, pretrained, cache_dir, allow_download)
        model, info = _load_from_source(name, resolved, source, precision, quick_gelu, model_kwargs)
    model.requires_grad_(False)
    model.eval()
    model.to(device)
    model.clip_load_info = info
    return model


def _load_from_source(name, resolved, source, precision, quick_gelu, model_kwargs):
    sd, file_info, reason = None, {}, None
    if source["kind"] == "file":
        sd, file_info = read_clip_state_dict(source["path"])
    if quick_gelu is not None:
        reason = "requested"
    elif source["tag"] is not None:
        quick_gelu = bool(_tag_cfg(resolved, source["tag"]).get("quick_gelu", False))
        reason = f"pretrained tag {source['tag']!r}"
    elif file_info.get("format") == "jit":
        quick_gelu, reason = True, "OpenAI JIT archive"
    elif file_info.get("openai_metadata"):
        quick_gelu, reason = True, "OpenAI checkpoint layout"
    elif str(name).strip() in COOP_NAMES:
        quick_gelu, reason = True, f"CoOp backbone name {name} (OpenAI CLIP)"
    if sd is not None:
        skeleton = _skeleton(resolved, quick_gelu, model_kwargs)
        if skeleton is not None:
            _check_architecture(skeleton, _adapt_state_dict(skeleton, dict(sd)), name, resolved, source["path"])
    model = _create(resolved, precision, quick_gelu, model_kwargs)
    if sd is not None:
        sd = _adapt_state_dict(model, sd)
        _check_architecture(model, sd, name, resolved, source["path"])
        model.load_state_dict(sd, strict=True)
    if source["tag"] is not None:
        from open_clip.transform import merge_preprocess_dict

        pp = merge_preprocess_dict(getattr(model.visual, "preprocess_cfg", {}), _tag_cfg(resolved, source["tag"]))
        _open_clip().set_model_preprocess_cfg(model, pp)
    used = uses_quick_gelu(model)
    if reason is not None:
        logger.info("Backbone %s: QuickGELU=%s (%s)", name, used, reason)
    what = source["what"] + (" [TorchScript archive]" if file_info.get("format") == "jit" else "")
    info = dict(name=str(name), open_clip_name=resolved, weights=what, quick_gelu=used, precision=precision,
                quick_gelu_reason=reason or "model config")
    return model, info


def _load_local_dir(name, resolved, pretrained, precision, quick_gelu, model_kwargs):
    """``local-dir:`` folders (open_clip_config.json + weights) are read by open_clip itself.

    ``pretrained`` only chooses between the folder's weights (a tag such as the default
    ``openai``) and random weights (``none``); a file path cannot apply here.
    """
    folder = resolved[len("local-dir:"):]
    random_init = str(pretrained).strip().lower() in NO_WEIGHTS or pretrained is None or pretrained is False
    if not random_init and _looks_like_path(str(pretrained)):
        raise ValueError(f"Backbone {name}: a 'local-dir:' backbone loads the weights of its folder; "
                         f"MODEL.BACKBONE.PRETRAINED={pretrained!r} cannot apply (use 'none' or a tag).")
    found = sorted(f for f in os.listdir(folder) if f.endswith((".safetensors", ".bin", ".pth"))) \
        if os.path.isdir(folder) else []
    if not random_init and not found:
        raise FileNotFoundError(
            f"Backbone {name}: no weights (*.safetensors, *.bin, *.pth) in {folder}; put the checkpoint "
            "next to open_clip_config.json, or use MODEL.BACKBONE.PRETRAINED none."
        )
    model = _create(resolved, precision, quick_gelu, dict(model_kwargs, load_weights=not random_init))
    weights = "random init (pretrained=none)" if random_init else os.path.join(folder, found[0])
    info = dict(name=str(name), open_clip_name=resolved, weights=weights, quick_gelu=uses_quick_gelu(model),
                precision=precision, quick_gelu_reason="requested" if quick_gelu is not None else "model config")
    return model, info


def load_clip_from_cfg(cfg, device="cpu", precision="fp32"):
    """Load the backbone named by ``MODEL.BACKBONE.{NAME,PRETRAINED,CACHE_DIR}`` and print one line."""
    backbone = cfg.MODEL.BACKBONE
    name = backbone.NAME
    if not name:
        raise ValueError("MODEL.BACKBONE.NAME is empty; set it (e.g. ViT-B/16, RN50, or a model-config .json).")
    model = load_clip(name, pretrained=getattr(backbone, "PRETRAINED", "openai"), device=device,
                      precision=precision, cache_dir=getattr(backbone, "CACHE_DIR", "") or None)
    info, dims = model.clip_load_info, model_dims(model)
    print(f"Backbone: {name} (open_clip {info['open_clip_name']}), weights: {info['weights']}, "
          f"QuickGELU: {info['quick_gelu']}, embed_dim={dims['embed_dim']}, text width={dims['text_width']}, "
          f"image size={dims['image_size']}")
    return model


# ---------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------

def _image_size(model):
    size = model.visual.image_size
    if isinstance(size, (tuple, list)):
        if len(set(int(s) for s in size)) != 1:
            raise ValueError(
                f"Backbone image size {tuple(size)} is not square; CoOp-style pipelines need square inputs."
            )
        size = size[0]
    return int(size)


def model_dims(model):
    """Sizes read from the model: embed_dim (D), text_width (W), vis_dim, image_size, context_length."""
    t = text_tower(model)
    proj = t.text_projection
    width = int(t.token_embedding.weight.shape[1])
    if proj is None:
        embed_dim = width
    elif isinstance(proj, nn.Linear):
        embed_dim = int(proj.out_features)
    else:
        embed_dim = int(proj.shape[1])
    return dict(embed_dim=embed_dim, text_width=width, vis_dim=int(model.visual.output_dim),
                image_size=_image_size(model), context_length=int(t.positional_embedding.shape[0]))


def check_input_size(cfg, model):
    """``INPUT.SIZE`` must be the backbone's image size (CoOp asserts the same); returns the size."""
    expected = _image_size(model)
    size = tuple(int(s) for s in cfg.INPUT.SIZE)
    if size != (expected, expected):
        raise ValueError(
            f"INPUT.SIZE is {list(size)} but backbone {cfg.MODEL.BACKBONE.NAME} takes {expected}x{expected} images. "
            f"Set INPUT.SIZE ({expected}, {expected}) in the config, or pick a backbone built for {list(size)}."
        )
    return expected
