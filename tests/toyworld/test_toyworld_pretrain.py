"""Micro-CLIP pretraining: loads through open_clip's standard path, cached by hash, reused, deterministic."""
import json
import os

import open_clip
import pytest
import torch

import shipclip.toyworld.pretrain as pretrain_module
from shipclip.toyworld.captions import SIZE_WORDS, CaptionSampler, captions
from shipclip.toyworld.pretrain import (backbone_config_path, checkpoint_path, ensure_micro_clip, pretrain,
                                        repo_config_path, settings_with)
from shipclip.toyworld.world import quick_world


def test_repository_config_is_a_small_clip_with_the_real_text_interface():
    with open(repo_config_path()) as f:
        cfg = json.load(f)
    assert cfg["text_cfg"]["context_length"] == 77 and cfg["text_cfg"]["vocab_size"] == 49408
    open_clip.add_model_config(str(repo_config_path()))
    model = open_clip.create_model("micro_clip", pretrained=None)
    assert tuple(model.visual.image_size) == (cfg["vision_cfg"]["image_size"],) * 2
    assert model.text_projection.shape[1] == cfg["embed_dim"] == model.visual.output_dim
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params < 20e6


def test_checkpoint_loads_through_open_clip_and_is_reused(cache, tiny_settings, monkeypatch):
    world = quick_world()
    config = backbone_config_path(quick=True)
    assert config.parent == cache
    messages = []
    path = ensure_micro_clip(config, world, tiny_settings, progress=False, log=messages.append)
    assert path == checkpoint_path(config, world, tiny_settings) and path.parent == cache
    assert path.name.startswith("micro_clip_quick-") and path.suffix == ".pt"
    assert not [p for p in cache.iterdir() if ".tmp" in p.name]  # atomic write left nothing behind
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["settings"]["steps"] == tiny_settings.steps and 0.0 <= meta["metrics"]["heldout_zero_shot_top1"] <= 1.0

    # The standard open_clip path: register the JSON, create the model with pretrained=<file>.
    open_clip.add_model_config(str(config))
    model = open_clip.create_model(config.stem, pretrained=str(path))
    saved = torch.load(path, weights_only=True)
    loaded = model.state_dict()
    assert set(saved) == set(loaded)
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    tokens = open_clip.get_tokenizer(config.stem)(["a photo of a red circle."])
    with torch.no_grad():
        assert model.encode_text(tokens).shape == (1, 32)
        assert model.encode_image(torch.zeros(1, 3, 32, 32)).shape == (1, 32)

    # Second call: the cached file is reused, not retrained.
    stamp = path.stat().st_mtime_ns

    def refuse(*args, **kwargs):
        raise AssertionError("pretraining ran although a cached checkpoint exists")

    monkeypatch.setattr(pretrain_module, "pretrain", refuse)
    again = ensure_micro_clip(config, world, tiny_settings, progress=False, log=messages.append)
    assert again == path and path.stat().st_mtime_ns == stamp
    assert any(m.startswith("Reusing cached micro-CLIP checkpoint") for m in messages)


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPCLIP_CACHE", str(tmp_path / "elsewhere"))
    assert pretrain_module.cache_root() == (tmp_path / "elsewhere" / "toyworld").resolve()
    monkeypatch.delenv("SHIPCLIP_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pretrain_module.cache_root() == (tmp_path / "home" / ".cache" / "shipclip" / "toyworld").resolve()


def test_checkpoint_name_depends_on_everything_that_shapes_the_weights(cache, tiny_settings):
    world = quick_world()
    config = backbone_config_path(quick=True)
    base = checkpoint_path(config, world, tiny_settings)
    assert checkpoint_path(config, world, tiny_settings) == base
    others = {
        checkpoint_path(config, world, settings_with(tiny_settings, steps=3)),
        checkpoint_path(config, world, settings_with(tiny_settings, seed=1)),
        checkpoint_path(config, world.__class__(colors=("red", "blue"), shapes=("circle", "star")), tiny_settings),
        checkpoint_path(repo_config_path(), world, tiny_settings),
    }
    assert base not in others and len(others) == 4


def test_pretraining_is_deterministic_per_seed(cache, tiny_settings):
    world = quick_world()
    config = backbone_config_path(quick=True)
    quiet = dict(progress=False, log=lambda *a: None)
    threads = torch.get_num_threads()
    a, _ = pretrain(config, world, tiny_settings, **quiet)
    b, _ = pretrain(config, world, tiny_settings, **quiet)
    c, _ = pretrain(config, world, settings_with(tiny_settings, seed=1), **quiet)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert torch.get_num_threads() == threads  # the caller's thread count is restored


def test_captions_name_the_class_and_size_words_are_true():
    world = quick_world()
    texts, labels, sizes = captions(world)
    for text, label, size in zip(texts, labels, sizes):
        color, shape = world.classes[label]
        assert color in text.split(" ") or color + "." in text
        assert shape in text.replace(".", "").split(" ")
        assert (size is None) == all(w not in text for w in SIZE_WORDS)
    sampler = CaptionSampler(world, open_clip.get_tokenizer("ViT-B-16"))
    tok = open_clip.get_tokenizer("ViT-B-16")
    gen = torch.Generator().manual_seed(0)
    n = 400
    labels = torch.arange(n) % world.num_classes
    radius = torch.linspace(0.3, 0.95, n)
    tokens = sampler.sample(labels, radius, gen)
    small, large = tok.encode("small")[0], tok.encode("large")[0]
    has_small = (tokens == small).any(dim=1)
    has_large = (tokens == large).any(dim=1)
    assert has_small.any() and has_large.any()
    lo, hi = SIZE_WORDS["small"][1], SIZE_WORDS["large"][0]
    assert (radius[has_small] < lo).all() and (radius[has_large] >= hi).all()
    for row, label in zip(tokens, labels):
        color, shape = world.classes[int(label)]
        assert tok.encode(color)[0] in row and tok.encode(shape)[0] in row


def test_bad_model_config_names_the_file(tmp_path, tiny_settings):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        checkpoint_path(bad, quick_world(), tiny_settings)
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"embed_dim": 8}))
    with pytest.raises(ValueError, match="vision_cfg"):
        checkpoint_path(incomplete, quick_world(), tiny_settings)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        checkpoint_path(tmp_path / "missing.json", quick_world(), tiny_settings)
    assert os.path.isfile(repo_config_path())


def test_checkpoint_file_bytes_depend_on_the_weights_only(tmp_path, tiny_settings, monkeypatch):
    """Two builds in two caches, as if by two processes, write byte-identical checkpoint files."""
    world = quick_world()
    config = backbone_config_path(quick=True, cache_dir=tmp_path / "config")
    quiet = dict(progress=False, log=lambda *a: None)
    paths = []
    for pid, folder in ((1111, "a"), (22222, "b")):
        monkeypatch.setattr(pretrain_module.os, "getpid", lambda pid=pid: pid)
        paths.append(ensure_micro_clip(config, world, tiny_settings, cache_dir=tmp_path / folder, **quiet))
    assert paths[0].name == paths[1].name
    assert paths[0].read_bytes() == paths[1].read_bytes()
    for path in paths:
        assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, path.with_suffix(".json").name])


def test_without_a_terminal_progress_is_a_few_log_lines(cache, tiny_settings, capsys):
    """Under a pipe or in CI the bar is off; a line per tenth of the steps says how far pretraining is."""
    lines = []
    settings = settings_with(tiny_settings, steps=20)
    pretrain(backbone_config_path(quick=True), quick_world(), settings, progress=True, log=lines.append)
    steps = [line for line in lines if "micro-CLIP pretraining: step" in line]
    assert [line.split("step ")[1].split(",")[0] for line in steps] == [f"{k}/20" for k in range(2, 21, 2)]
    captured = capsys.readouterr()
    assert "\r" not in captured.out + captured.err  # no bar redrawn into the captured streams
