"""ToyWorld: an offline benchmark of rendered colour x shape scenes and a micro-CLIP pretrained on it.

``python -m shipclip.toyworld.prepare [--world NAME]`` renders a world (CoOp layout plus a held-out
``design`` split) and pretrains or reuses its micro-CLIP; ``python -m shipclip.toyworld.evaluate``
measures zero-shot accuracy and ``python -m shipclip.toyworld.diagnose`` compares a SHIP
generator's synthesized features with real ones, both on the design world's design split by
default; ``python -m shipclip.toyworld.variants`` draws robustness variants by a fixed rule.
Which images may inform which choice: ``docs/TOYWORLD.md``.
"""
from .build import DATASET_FOLDER, SPLIT_FILE, build_dataset
from .pretrain import backbone_config_path, cache_root, checkpoint_path, ensure_micro_clip
from .render import DOWNSTREAM, PRETRAIN, Style
from .world import WORLD_VERSION, World, default_world, quick_world

__all__ = [
    "DATASET_FOLDER", "SPLIT_FILE", "build_dataset", "backbone_config_path", "cache_root", "checkpoint_path",
    "ensure_micro_clip", "DOWNSTREAM", "PRETRAIN", "Style", "WORLD_VERSION", "World",
    "default_world", "quick_world",
]
