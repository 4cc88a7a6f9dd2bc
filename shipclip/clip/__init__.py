"""CLIP backbone on open_clip: loading, the frozen towers, class prompts and precision."""
from .image import ImageEncoder, visual_dtype
from .loader import (check_input_size, get_tokenizer, load_clip, load_clip_from_cfg, locate_pretrained,
                     model_dims, normalize_model_name, uses_quick_gelu)
from .precision import autocast, autocast_dtype, clip_precision_for, make_grad_scaler, resolve_precision
from .prompts import ClassPrompts, clean_classname
from .text import TextEncoder, eot_positions, text_tower

__all__ = [
    "load_clip", "load_clip_from_cfg", "normalize_model_name", "get_tokenizer", "model_dims",
    "check_input_size", "locate_pretrained", "uses_quick_gelu",
    "ImageEncoder", "visual_dtype", "TextEncoder", "text_tower", "eot_positions",
    "ClassPrompts", "clean_classname",
    "resolve_precision", "autocast", "autocast_dtype", "make_grad_scaler", "clip_precision_for",
]
