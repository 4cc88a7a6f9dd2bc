"""Loading a frozen CLIP: the name, the weights, the activation and the checks, in one call.

QuickGELU is chosen for OpenAI weights (the ``openai`` tag, JIT archives, OpenAI-layout state
dicts, CoOp backbone names): open_clip only warns for the tag and says nothing when the weights
come from a file, which silently shifts every feature. Every model leaves here frozen
(``requires_grad_(False)``), in eval mode, on the asked device.
"""
import logging
import os

from .architecture import adapt_state_dict, check_architecture, skeleton
from .create import create_model, uses_quick_gelu
from .formats import read_clip_state_dict
from .names import COOP_NAMES, normalize_model_name, open_clip_lib
from .sizes import model_dims
from .weights import NO_WEIGHTS, looks_like_path, resolve_source, tag_cfg

__all__ = ["LOAD_PRECISIONS", "load_clip", "load_clip_from_cfg"]

logger = logging.getLogger(__name__)

LOAD_PRECISIONS = ("fp32", "fp16", "bf16", "pure_fp16", "pure_bf16")


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
        source = resolve_source(name, resolved, pretrained, cache_dir, allow_download)
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
        quick_gelu = bool(tag_cfg(resolved, source["tag"]).get("quick_gelu", False))
        reason = f"pretrained tag {source['tag']!r}"
    elif file_info.get("format") == "jit":
        quick_gelu, reason = True, "OpenAI JIT archive"
    elif file_info.get("openai_metadata"):
        quick_gelu, reason = True, "OpenAI checkpoint layout"
    elif str(name).strip() in COOP_NAMES:
        quick_gelu, reason = True, f"CoOp backbone name {name} (OpenAI CLIP)"
    if sd is not None:
        meta_model = skeleton(resolved, quick_gelu, model_kwargs)
        if meta_model is not None:
            check_architecture(meta_model, adapt_state_dict(meta_model, dict(sd)), name, resolved, source["path"])
    model = create_model(resolved, precision, quick_gelu, model_kwargs)
    if sd is not None:
        sd = adapt_state_dict(model, sd)
        check_architecture(model, sd, name, resolved, source["path"])
        model.load_state_dict(sd, strict=True)
    if source["tag"] is not None:
        from open_clip.transform import merge_preprocess_dict

        pp = merge_preprocess_dict(getattr(model.visual, "preprocess_cfg", {}), tag_cfg(resolved, source["tag"]))
        open_clip_lib().set_model_preprocess_cfg(model, pp)
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
    if not random_init and looks_like_path(str(pretrained)):
        raise ValueError(f"Backbone {name}: a 'local-dir:' backbone loads the weights of its folder; "
                         f"MODEL.BACKBONE.PRETRAINED={pretrained!r} cannot apply (use 'none' or a tag).")
    found = sorted(f for f in os.listdir(folder) if f.endswith((".safetensors", ".bin", ".pth"))) \
        if os.path.isdir(folder) else []
    if not random_init and not found:
        raise FileNotFoundError(
            f"Backbone {name}: no weights (*.safetensors, *.bin, *.pth) in {folder}; put the checkpoint "
            "next to open_clip_config.json, or use MODEL.BACKBONE.PRETRAINED none."
        )
    model = create_model(resolved, precision, quick_gelu, dict(model_kwargs, load_weights=not random_init))
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
