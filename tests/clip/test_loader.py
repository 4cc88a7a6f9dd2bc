"""Loading CLIP backbones: names, weight sources, QuickGELU, errors, offline behaviour, sizes."""
import json
import os
import subprocess
import sys
import textwrap

import open_clip
import pytest
import torch
from yacs.config import CfgNode as CN

from shipclip.clip import (ImageEncoder, TextEncoder, check_input_size, get_tokenizer, load_clip,
                           load_clip_from_cfg, locate_pretrained, model_dims, normalize_model_name,
                           uses_quick_gelu)
from shipclip.clip.loader import describe_state_dict, read_clip_state_dict
from shipclip_testing.models import (configure_tiny_backbone, save_tiny_checkpoint, tiny_clip, tiny_config,
                              write_tiny_config)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("clip_loader")


@pytest.fixture(scope="module")
def vit(workdir):
    return tiny_clip(workdir, "vit", seed=3)


@pytest.fixture(scope="module")
def vit_json(workdir):
    return write_tiny_config(workdir, "vit")


@pytest.fixture(scope="module")
def rn_json(workdir):
    return write_tiny_config(workdir, "resnet")


def _inputs(model, n=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    size = model_dims(model)["image_size"]
    images = torch.randn(n, 3, size, size, generator=gen)
    tokens = open_clip.tokenize(["a photo of a dog.", "a cat", "an airliner in the sky."][:n])
    return images, tokens


def _features(model, images, tokens):
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(tokens)


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k].to(sa[k].dtype)) for k in sa)


# ------------------------------------------------------------------------------------------ names

@pytest.mark.parametrize("coop,expected", [
    ("ViT-B/16", "ViT-B-16"), ("ViT-B/32", "ViT-B-32"), ("RN50", "RN50"), ("RN101", "RN101"),
    ("ViT-L/14", "ViT-L-14"), ("ViT-B-16-quickgelu", "ViT-B-16-quickgelu"), ("convnext_base", "convnext_base"),
])
def test_normalize_model_name(coop, expected):
    assert normalize_model_name(coop) == expected
    assert expected in open_clip.list_models()


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="ViT-B-16"):
        normalize_model_name("ViT-B/61")


def test_json_config_is_registered_under_its_stem(tmp_path):
    path = write_tiny_config(tmp_path, "vit", name="shipclip-json-check", embed_dim=24)
    assert normalize_model_name(path) == "shipclip-json-check"
    assert open_clip.get_model_config("shipclip-json-check")["embed_dim"] == 24
    tok = get_tokenizer(path)
    ids = tok(["a photo of a dog."])
    assert ids.shape == (1, 77) and ids[0, 0].item() == 49406 and 49407 in ids[0].tolist()


def test_bad_json_configs(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        normalize_model_name(str(tmp_path / "nothere.json"))
    bad = tmp_path / "not-a-model.json"
    bad.write_text(json.dumps({"embed_dim": 8, "text_cfg": {}}))
    with pytest.raises(ValueError, match=r"not-a-model\.json.*vision_cfg"):
        normalize_model_name(str(bad))


# ---------------------------------------------------------------------------------- weights: none

@pytest.mark.parametrize("kind", ["vit", "resnet"])
def test_random_weights_are_frozen_eval_and_sized_from_config(workdir, kind):
    model = load_clip(write_tiny_config(workdir, kind), pretrained="none")
    cfg = tiny_config(kind)
    assert not any(p.requires_grad for p in model.parameters())
    assert not any(m.training for m in model.modules())
    dims = model_dims(model)
    assert dims == dict(embed_dim=cfg["embed_dim"], text_width=cfg["text_cfg"]["width"], vis_dim=cfg["embed_dim"],
                        image_size=cfg["vision_cfg"]["image_size"], context_length=77)
    assert model.clip_load_info["weights"].startswith("random")
    assert uses_quick_gelu(model) is False  # plain config, no OpenAI weights


def test_coop_name_with_random_weights_builds_openai_architecture():
    # A meta-device build is enough to check the activation choice without allocating ViT-B/16.
    from shipclip.clip.loader import skeleton

    assert uses_quick_gelu(skeleton("ViT-B-16", True, {}))
    assert not uses_quick_gelu(skeleton("ViT-B-16", None, {}))


# ---------------------------------------------------------------------------------- weights: files

@pytest.mark.parametrize("filename", ["weights.pt", "weights.bin", "weights.safetensors"])
def test_saved_state_dict_loads_identically(vit, vit_json, workdir, filename):
    path = save_tiny_checkpoint(vit, workdir / filename)
    loaded = load_clip(vit_json, pretrained=str(path))
    assert _same_weights(loaded, vit)
    images, tokens = _inputs(vit)
    for a, b in zip(_features(loaded, images, tokens), _features(vit, images, tokens)):
        assert torch.equal(a, b)
    other = tiny_clip(workdir, "vit", seed=99)  # a different random draw really differs
    assert not torch.equal(_features(other, images, tokens)[1], _features(vit, images, tokens)[1])
    assert not loaded.clip_load_info["quick_gelu"]
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training


def test_jit_archive_loads_with_quick_gelu(vit, vit_json, workdir):
    path = save_tiny_checkpoint(vit, workdir / "openai-like.pt", fmt="jit")
    loaded = load_clip(vit_json, pretrained=str(path))
    assert loaded.clip_load_info["quick_gelu"] and uses_quick_gelu(loaded)
    assert "TorchScript" in loaded.clip_load_info["weights"]
    assert _same_weights(loaded, vit)
    # Reference: the same weights in a QuickGELU build of the architecture.
    ref = load_clip(vit_json, pretrained="none", quick_gelu=True)
    ref.load_state_dict(vit.state_dict())
    images, tokens = _inputs(vit)
    for a, b in zip(_features(loaded, images, tokens), _features(ref, images, tokens)):
        assert torch.allclose(a, b, atol=1e-6)
    # ... which is not what the GELU model computes (the activation matters).
    assert not torch.allclose(_features(loaded, images, tokens)[1], _features(vit, images, tokens)[1], atol=1e-4)
    # The choice can be overridden.
    assert not uses_quick_gelu(load_clip(vit_json, pretrained=str(path), quick_gelu=False))


def test_openai_layout_fp16_state_dict(workdir):
    rn = tiny_clip(workdir, "resnet", seed=4)
    path = save_tiny_checkpoint(rn, workdir / "rn-openai.pt", openai_metadata=True, dtype=torch.float16)
    sd, info = read_clip_state_dict(path)
    assert info == {"format": "state_dict", "openai_metadata": True} and "input_resolution" not in sd
    loaded = load_clip(write_tiny_config(workdir, "resnet"), pretrained=str(path))
    assert loaded.clip_load_info["quick_gelu"]
    assert next(loaded.parameters()).dtype == torch.float32
    expected = {k: v.half().float() if v.is_floating_point() else v for k, v in rn.state_dict().items()}
    got = loaded.state_dict()
    assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_clip_layout_weights_load_into_custom_text_tower(vit, vit_json, workdir):
    path = save_tiny_checkpoint(vit, workdir / "for-custom-text.pt")
    custom = load_clip(vit_json, pretrained=str(path), force_custom_text=True)
    assert hasattr(custom, "text") and not hasattr(custom, "token_embedding")
    images, tokens = _inputs(vit)
    for a, b in zip(_features(custom, images, tokens), _features(vit, images, tokens)):
        assert torch.allclose(a, b, atol=1e-6)


def test_local_dir_backbone(vit, workdir, tmp_path):
    folder = tmp_path / "tiny-local"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": tiny_config("vit")}))
    with pytest.raises(FileNotFoundError, match="no weights"):
        load_clip(f"local-dir:{folder}")
    save_tiny_checkpoint(vit, folder / "open_clip_model.safetensors")
    loaded = load_clip(f"local-dir:{folder}")
    assert _same_weights(loaded, vit) and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    assert not _same_weights(load_clip(f"local-dir:{folder}", pretrained="none"), vit)


def test_missing_weights_file(vit_json, tmp_path):
    missing = tmp_path / "nowhere" / "ViT-B-16.pt"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_clip(vit_json, pretrained=str(missing))


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b"PK\x03\x04 truncated zip"])
def test_corrupt_weights_file(vit_json, tmp_path, content):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(content)
    with pytest.raises(RuntimeError, match="broken.pt"):
        load_clip(vit_json, pretrained=str(bad))


def test_wrong_architecture_names_backbone_keys_and_guess(vit, rn_json, workdir):
    path = save_tiny_checkpoint(vit, workdir / "vit-weights.safetensors")
    with pytest.raises(ValueError) as err:
        load_clip(rn_json, pretrained=str(path))
    msg = str(err.value)
    assert "wrong architecture" in msg and "shipclip-tiny-rn" in msg and "vit-weights.safetensors" in msg
    assert "this file looks like shipclip-tiny-vit" in msg
    assert "positional_embedding" in msg  # first mismatching key, with both shapes
    assert "(77, 48)" in msg and "(77, 32)" in msg


def test_describe_state_dict_recognises_builtin_architectures():
    with torch.device("meta"):
        sd = open_clip.create_model("ViT-B-32", device="meta").state_dict()
        rn = open_clip.create_model("RN50", device="meta").state_dict()
    assert describe_state_dict(sd).startswith("ViT-B-32 (ViT")
    assert describe_state_dict(rn).startswith("RN50 (ResNet")
    assert "no CLIP checkpoint" in describe_state_dict({"fc.weight": torch.zeros(1)})


def test_unknown_tag(vit_json):
    with pytest.raises(ValueError, match="Unknown pretrained tag 'opnai'.*openai"):
        load_clip("ViT-B/16", pretrained="opnai")


# ---------------------------------------------------------------------------- tags, caches, offline

def test_locate_pretrained_finds_hf_cache_and_clip_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    hub = tmp_path / "hub"
    assert locate_pretrained("ViT-B/16", "openai", cache_dir=str(hub))[0] is None
    # open_clip's download in a seeded Hugging Face cache.
    repo = hub / "models--timm--vit_base_patch16_clip_224.openai"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "open_clip_pytorch_model.bin").write_bytes(b"x")
    path, _ = locate_pretrained("ViT-B/16", "openai", cache_dir=str(hub))
    assert path == str(snap / "open_clip_pytorch_model.bin")
    # OpenAI's own file where CoOp keeps it wins.
    clip_dir = tmp_path / "home" / ".cache" / "clip"
    clip_dir.mkdir(parents=True)
    (clip_dir / "ViT-B-16.pt").write_bytes(b"x")
    assert locate_pretrained("ViT-B/16", "openai", cache_dir=str(hub))[0] == str(clip_dir / "ViT-B-16.pt")


def test_openai_tag_uses_clip_folder_file(vit, tmp_path, monkeypatch):
    # A file in ~/.cache/clip is what "openai" loads; a tiny archive there is refused as the wrong
    # architecture for ViT-B/16, which proves it was picked up (and that the check runs before a
    # full-size model is built).
    monkeypatch.setenv("HOME", str(tmp_path))
    clip_dir = tmp_path / ".cache" / "clip"
    clip_dir.mkdir(parents=True)
    save_tiny_checkpoint(vit, clip_dir / "ViT-B-16.pt", fmt="jit")
    with pytest.raises(ValueError, match=r"ViT-B/16.*ViT-B-16\.pt: wrong architecture.*shipclip-tiny-vit"):
        load_clip("ViT-B/16", pretrained="openai")


def test_downloads_only_when_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SHIPCLIP_ALLOW_DOWNLOAD", raising=False)
    calls = []

    def fake_download(cfg, cache_dir=None):
        calls.append((cfg["hf_hub"], cache_dir))
        raise ConnectionError("no network in tests")

    monkeypatch.setattr(open_clip.pretrained, "download_pretrained", fake_download)
    hub = str(tmp_path / "hub")
    with pytest.raises(FileNotFoundError, match="SHIPCLIP_ALLOW_DOWNLOAD=1"):
        load_clip("ViT-B/32", pretrained="openai", cache_dir=hub)
    assert calls == []
    monkeypatch.setenv("SHIPCLIP_ALLOW_DOWNLOAD", "1")
    with pytest.raises(ConnectionError):
        load_clip("ViT-B/32", pretrained="openai", cache_dir=hub)
    assert calls == [("timm/vit_base_patch32_clip_224.openai/", hub)]


def test_invalid_load_precision(vit_json):
    with pytest.raises(ValueError, match="precision.*amp"):
        load_clip(vit_json, pretrained="none", precision="amp")


OFFLINE_SCRIPT = textwrap.dedent("""
    import json, sys, time
    import huggingface_hub, open_clip  # imports are slow on a busy machine; time only the call
    from shipclip.clip import load_clip
    out = {}
    for name, tag in [("ViT-B/16", "openai"), ("ViT-B-32", "laion2b_s34b_b79k")]:
        start = time.time()
        try:
            load_clip(name, pretrained=tag)
            out[name] = {"error": None}
        except Exception as exc:
            out[name] = {"error": type(exc).__name__, "msg": str(exc), "seconds": time.time() - start}
    print(json.dumps(out))
""")


@pytest.mark.slow  # a fresh interpreter that imports open_clip
def test_offline_fails_fast_naming_the_file(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path / "home"), HF_HOME=str(tmp_path / "hf"),
               HF_HUB_CACHE=str(tmp_path / "hf" / "hub"), OMP_NUM_THREADS="1")
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("SHIPCLIP_ALLOW_DOWNLOAD", None)
    proc = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    vit16, laion = out["ViT-B/16"], out["ViT-B-32"]
    assert vit16["error"] == "FileNotFoundError" and vit16["seconds"] < 5
    assert "ViT-B-16.pt" in vit16["msg"] and os.path.join(str(tmp_path), "home", ".cache", "clip") in vit16["msg"]
    assert "MODEL.BACKBONE.PRETRAINED" in vit16["msg"]
    assert str(tmp_path / "hf" / "hub") in vit16["msg"]  # the HF cache it looked in
    assert laion["error"] == "FileNotFoundError" and laion["seconds"] < 5
    assert "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in laion["msg"] and "open_clip_pytorch_model.bin" in laion["msg"]


# ------------------------------------------------------------------------------ config and sizes

def _cfg(name, pretrained="none", size=(32, 32)):
    cfg = CN()
    cfg.MODEL = CN()
    cfg.MODEL.BACKBONE = CN()
    cfg.MODEL.BACKBONE.NAME = str(name)
    cfg.MODEL.BACKBONE.PRETRAINED = pretrained
    cfg.MODEL.BACKBONE.CACHE_DIR = ""
    cfg.INPUT = CN()
    cfg.INPUT.SIZE = size
    return cfg


def test_load_clip_from_cfg_prints_one_line(vit, vit_json, workdir, capsys):
    path = save_tiny_checkpoint(vit, workdir / "cfg-weights.pt")
    model = load_clip_from_cfg(_cfg(vit_json, str(path)))
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Backbone:")]
    assert lines == [f"Backbone: {vit_json} (open_clip shipclip-tiny-vit), weights: {path}, QuickGELU: False, "
                     "embed_dim=40, text width=48, image size=32"]
    assert _same_weights(model, vit)


def test_configure_tiny_backbone_and_input_size(workdir):
    cfg = configure_tiny_backbone(_cfg("unset", size=(224, 224)), workdir, "resnet")
    model = load_clip_from_cfg(cfg)
    assert check_input_size(cfg, model) == 64
    cfg.INPUT.SIZE = (224, 224)
    with pytest.raises(ValueError, match=r"INPUT.SIZE is \[224, 224\].*64x64.*INPUT.SIZE \(64, 64\)"):
        check_input_size(cfg, model)


def test_image_encoder_matches_encode_image(vit, workdir):
    rn = tiny_clip(workdir, "resnet", seed=5)
    for model in (vit, rn):
        enc = ImageEncoder(model)
        images, _ = _inputs(model)
        with torch.no_grad():
            out = enc(images)
            ref = model.encode_image(images)
        assert out.dtype == torch.float32 and out.shape == (3, enc.output_dim)
        assert enc.output_dim == model_dims(model)["vis_dim"] == model.visual.output_dim
        assert torch.equal(out, ref)
        enc.train()  # never puts the tower (and ResNet BatchNorm) in training mode
        assert not any(m.training for m in model.visual.modules())
        assert TextEncoder(model).embed_dim == enc.output_dim
