"""Contrastive pretraining of the micro-CLIP on captioned pretraining-style ToyWorld scenes.

The micro-CLIP is an ordinary open_clip ``CLIP`` built from a small JSON config (real BPE
tokenizer, 77-token context, 49408-word vocabulary) and trained from scratch on "web" data: varied
scenes (``render.PRETRAIN``) of every colour x shape combination, each paired with a caption drawn
from several templates, as alt-texts would be. The checkpoint is a plain ``state_dict`` saved with
``torch.save``, so it loads through the standard path
``open_clip.create_model(<config name>, pretrained=<file>)`` after ``open_clip.add_model_config``.

Cost control on a 2-core CPU: the image pool is rendered once (vectorised numpy), the text tower
runs only up to the longest EOT of the batch (:class:`shipclip.clip.text.TextEncoder`), and
images are small (32 px, 8 px patches).

Checkpoints live in ``$SHIPCLIP_CACHE/toyworld/`` (default ``~/.cache/shipclip/toyworld/``),
named by a hash of everything that determines the weights (model config, world, rendering style,
captions, seed and optimisation settings), written atomically and reused when present.
"""
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from shipclip.clip.text import TextEncoder
from shipclip.progress import progress_bar

from .captions import SIZE_CAPTION_P, SIZE_TEMPLATES, SIZE_WORDS, TEMPLATES, CaptionSampler
from .render import PRETRAIN, render
from .world import WORLD_VERSION, default_world

__all__ = [
    "PRETRAIN_VERSION", "PretrainSettings", "DEFAULT_SETTINGS", "QUICK_SETTINGS",
    "QUICK_MODEL_CONFIG", "cache_root", "repo_config_path", "backbone_config_path", "read_model_config",
    "checkpoint_path", "pretrain", "ensure_micro_clip",
]

PRETRAIN_VERSION = 1  # bump when the training procedure changes in a way the settings do not capture

# Reduced model for --quick runs and tests (written next to the checkpoints as a JSON config).
QUICK_MODEL_CONFIG = {
    "embed_dim": 32,
    "quick_gelu": False,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8, "mlp_ratio": 2.0},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@dataclass(frozen=True)
class PretrainSettings:
    """Everything besides the model config and the world that determines the weights."""

    steps: int = 1000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 50
    pool_per_class: int = 600  # pre-rendered scenes per class
    eval_per_class: int = 20  # held-out pretraining-style scenes per class for the logged zero-shot check
    seed: int = 0


DEFAULT_SETTINGS = PretrainSettings()
QUICK_SETTINGS = PretrainSettings(steps=20, batch_size=64, warmup=2, pool_per_class=16, eval_per_class=4)


def cache_root():
    """``$SHIPCLIP_CACHE/toyworld`` or ``~/.cache/shipclip/toyworld``."""
    base = os.environ.get("SHIPCLIP_CACHE") or os.path.join("~", ".cache", "shipclip")
    return Path(os.path.expanduser(base)).resolve() / "toyworld"


def repo_config_path():
    """``configs/backbones/micro_clip.json`` of this repository."""
    path = Path(__file__).resolve().parents[2] / "configs" / "backbones" / "micro_clip.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the micro-CLIP config ships with the repository's configs/ folder. "
            "Run from a checkout installed with 'pip install -e .', or pass a config JSON explicitly."
        )
    return path


def backbone_config_path(quick=False, cache_dir=None):
    """The model-config JSON: the repository's ``micro_clip.json``, or the quick one (written once)."""
    if not quick:
        return repo_config_path()
    folder = Path(cache_dir) if cache_dir else cache_root()
    path = folder / "micro_clip_quick.json"
    text = json.dumps(QUICK_MODEL_CONFIG, indent=4) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return path


def read_model_config(config_path):
    """Load and check an open_clip model-config JSON."""
    config_path = Path(config_path)
    try:
        with open(config_path, encoding="utf-8") as f:
            cfg = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"Model config {config_path} not found.") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"Model config {config_path} is not valid JSON: {exc}") from None
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in cfg]
    if missing:
        raise ValueError(f"Model config {config_path} lacks {missing}; it must be an open_clip model config.")
    return cfg


def _fingerprint(model_cfg, world, settings):
    payload = {
        "model": model_cfg, "world": world.to_dict(), "world_version": WORLD_VERSION,
        "pretrain_version": PRETRAIN_VERSION, "style": asdict(PRETRAIN), "templates": list(TEMPLATES),
        "size_templates": list(SIZE_TEMPLATES), "size_words": SIZE_WORDS, "size_p": SIZE_CAPTION_P,
        "settings": asdict(settings),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def checkpoint_path(config_path, world=None, settings=DEFAULT_SETTINGS, cache_dir=None):
    """``<cache>/<config stem>-<hash>.pt`` for this config, world and settings."""
    world = world or default_world()
    folder = Path(cache_dir) if cache_dir else cache_root()
    digest = _fingerprint(read_model_config(config_path), world, settings)
    return folder / f"{Path(config_path).stem}-{digest}.pt"


def _render_pool(world, per_class, size, key, progress):
    """``per_class`` pretraining-style scenes of every class: uint8 [N, 3, H, W], labels [N], radius [N]."""
    rng = np.random.default_rng(key)
    color_ids, shape_ids = world.index_arrays()
    labels = np.repeat(np.arange(world.num_classes), per_class)
    rng.shuffle(labels)
    chunks, radii = [], []
    step = 2048
    bar = progress_bar(range(0, len(labels), step), desc="Rendering pretraining scenes", unit="chunk",
                       disable=not progress)
    for k in bar:
        part = labels[k:k + step]
        images, params = render(np.asarray(color_ids)[part], np.asarray(shape_ids)[part], PRETRAIN, size, rng)
        chunks.append(images)
        radii.append(params["radius"])
    images = torch.from_numpy(np.concatenate(chunks)).permute(0, 3, 1, 2).contiguous()
    return images, torch.from_numpy(labels), torch.from_numpy(np.concatenate(radii)).float()


def _normalizer(model):
    import open_clip

    mean = getattr(model.visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN
    std = getattr(model.visual, "image_std", None) or open_clip.OPENAI_DATASET_STD
    mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return lambda x: (x.float() / 255.0 - mean) / std


def _soft_cross_entropy(logits, targets):
    return -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


class _quiet_random_init(logging.Filter):
    """Drop open_clip's "initialized randomly" warning: random init is the point of pretraining."""

    def filter(self, record):
        return "Model initialized randomly" not in record.getMessage()

    def __enter__(self):
        logging.getLogger().addFilter(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeFilter(self)


def _register(config_path):
    import open_clip

    open_clip.add_model_config(str(config_path))
    return Path(config_path).stem


@torch.no_grad()
def _heldout_zero_shot(model, text, tokenizer, world, images, labels, normalize):
    """Top-1 of "a photo of a {}." on held-out pretraining-style scenes (a sanity check of pretraining)."""
    tokens = tokenizer([f"a photo of a {c}." for c in world.classnames])
    L = text.sequence_length(tokens)
    t = F.normalize(text(text.token_embedding(tokens[:, :L]), tokens[:, :L]), dim=-1)
    correct = 0
    for k in range(0, len(images), 512):
        f = F.normalize(model.encode_image(normalize(images[k:k + 512])), dim=-1)
        correct += int(((f @ t.t()).argmax(dim=-1) == labels[k:k + 512]).sum())
    return correct / max(len(images), 1)


def pretrain(config_path, world=None, settings=DEFAULT_SETTINGS, threads=2, progress=True, log=print):
    """Train a micro-CLIP from scratch; returns ``(state_dict, metrics)``.

    Deterministic for a given seed and thread count (CPU).
    """
    import open_clip

    world = world or default_world()
    model_cfg = read_model_config(config_path)
    name = _register(config_path)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(settings.seed)
        gen = torch.Generator().manual_seed(settings.seed)
        with _quiet_random_init():
            model = open_clip.create_model(name, pretrained=None)
        model.train()
        tokenizer = open_clip.get_tokenizer(name)
        text = TextEncoder(model)
        size = model_cfg["vision_cfg"]["image_size"]
        size = size[0] if isinstance(size, (list, tuple)) else int(size)
        normalize = _normalizer(model)
        sampler = CaptionSampler(world, tokenizer)

        t0 = time.time()
        pool, pool_labels, pool_radius = _render_pool(world, settings.pool_per_class, size,
                                                      [settings.seed, WORLD_VERSION, 101], progress)
        held_out, held_labels, _ = _render_pool(world, settings.eval_per_class, size,
                                                [settings.seed, WORLD_VERSION, 202], progress=False)
        render_s = time.time() - t0

        decay, no_decay = [], []
        for pname, p in model.named_parameters():
            (no_decay if p.ndim < 2 or "embedding" in pname else decay).append(p)
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr, betas=(0.9, 0.98),
                                eps=1e-6)
        total, warm = settings.steps, max(settings.warmup, 1)

        def lr_factor(step):  # linear warmup, then cosine to zero
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(total - warm, 1)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
        max_scale = math.log(100.0)

        t1 = time.time()
        order = torch.randperm(len(pool), generator=gen)
        cursor, losses = 0, []
        bar = progress_bar(range(total), desc="Pretraining micro-CLIP", unit="step", disable=not progress)
        every = max(total // 10, 1)  # without a terminal (a log file, CI), a line every tenth of the steps
        for step in bar:
            if cursor + settings.batch_size > len(order):
                order, cursor = torch.randperm(len(pool), generator=gen), 0
            idx = order[cursor:cursor + min(settings.batch_size, len(order))]
            cursor += len(idx)
            images = pool[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
            labels = pool_labels[idx]
            tokens = sampler.sample(labels, pool_radius[idx], gen)
            L = text.sequence_length(tokens)
            tokens = tokens[:, :L]

            img = F.normalize(model.encode_image(normalize(images)), dim=-1)
            txt = F.normalize(text(text.token_embedding(tokens), tokens), dim=-1)
            logits = model.logit_scale.exp() * img @ txt.t()
            # Captions of the same class are positives too (a batch holds many per class).
            same = (labels[:, None] == labels[None, :]).float()
            targets = same / same.sum(dim=1, keepdim=True)
            loss = 0.5 * (_soft_cross_entropy(logits, targets) + _soft_cross_entropy(logits.t(), targets))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, max_scale)
            losses.append(float(loss.detach()))
            if progress and (step % 10 == 0 or step == total - 1):
                bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
            if progress and bar.disable and (step + 1) % every == 0:
                log(f"micro-CLIP pretraining: step {step + 1}/{total}, loss {np.mean(losses[-10:]):.3f}, "
                    f"{time.time() - t1:.0f} s")
        train_s = time.time() - t1

        model.eval()
        accuracy = _heldout_zero_shot(model, text, tokenizer, world, held_out, held_labels, normalize)
        metrics = {
            "render_seconds": round(render_s, 2), "train_seconds": round(train_s, 2), "threads": threads,
            "final_loss": round(float(np.mean(losses[-20:])), 4) if losses else None,
            "heldout_zero_shot_top1": round(accuracy, 4), "classes": world.num_classes,
            "logit_scale": round(float(model.logit_scale.detach().exp()), 2),
        }
        log(f"micro-CLIP pretraining: {total} steps in {train_s:.1f} s (rendering {render_s:.1f} s), "
            f"final loss {metrics['final_loss']}, zero-shot on held-out pretraining-style scenes {100 * accuracy:.1f}%")
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return state, metrics
    finally:
        torch.set_num_threads(previous_threads)


def _save_state(state, path):
    """``torch.save`` atomically, with bytes that depend on the weights only.

    ``torch.save`` names the archive's inner folder after the file it writes, so the temporary file
    keeps the final name (inside a private temporary folder) instead of carrying the process id.
    """
    tmp_dir = path.parent / f".{path.name}.{os.getpid()}.tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    try:
        torch.save(state, tmp_dir / path.name)
        os.replace(tmp_dir / path.name, path)
    finally:
        if (tmp_dir / path.name).exists():
            (tmp_dir / path.name).unlink()
        tmp_dir.rmdir()


def ensure_micro_clip(config_path=None, world=None, settings=DEFAULT_SETTINGS, cache_dir=None, threads=2,
                      progress=True, log=print):
    """Path of the cached micro-CLIP checkpoint for these inputs, pretraining it first if missing."""
    config_path = Path(config_path) if config_path else backbone_config_path()
    world = world or default_world()
    path = checkpoint_path(config_path, world, settings, cache_dir)
    if path.is_file():
        log(f"Reusing cached micro-CLIP checkpoint {path}")
        return path
    state, metrics = pretrain(config_path, world, settings, threads=threads, progress=progress, log=log)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_state(state, path)
    info = {"config": str(config_path), "model_config": read_model_config(config_path), "world": world.to_dict(),
            "settings": asdict(settings), "metrics": metrics}
    meta = path.with_suffix(".json")
    tmp = meta.with_name(f"{meta.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info, indent=4) + "\n", encoding="utf-8")
    os.replace(tmp, meta)
    log(f"Saved micro-CLIP checkpoint {path}")
    return path


def settings_with(base=DEFAULT_SETTINGS, **overrides):
    """A copy of ``base`` with some fields changed (``None`` values are ignored)."""
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
