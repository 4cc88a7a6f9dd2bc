"""ToyWorld: an offline benchmark of rendered colour x shape scenes and a micro-CLIP pretrained on it.

``python -m shipclip.toyworld.prepare`` renders the dataset (CoOp layout) and pretrains or reuses
the micro-CLIP; ``python -m shipclip.toyworld.evaluate`` measures its zero-shot accuracy.
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
