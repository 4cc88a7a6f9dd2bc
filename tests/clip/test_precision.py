"""Precision handling: CPU fallback to fp32, autocast/GradScaler choice, dtype casts of the towers."""
import warnings

import pytest
import torch

from shipclip.clip import (ImageEncoder, TextEncoder, autocast, autocast_dtype, clip_precision_for, get_tokenizer,
                           load_clip, make_grad_scaler, resolve_precision)
from shipclip_testing.models import tiny_clip, write_tiny_config

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("clip_precision")


@pytest.mark.parametrize("prec", ["fp16", "amp", "FP16"])
def test_half_precision_on_cpu_falls_back_with_one_warning(prec):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert resolve_precision(prec, "cpu") == "fp32"
    assert len(caught) == 1 and issubclass(caught[0].category, UserWarning)
    assert "fp32" in str(caught[0].message) and "CUDA" in str(caught[0].message)


def test_fp32_and_cuda_requests_are_kept_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("fp32", "cpu") == "fp32"
        assert resolve_precision("fp16", "cuda") == "fp16"
        assert resolve_precision("amp", torch.device("cuda", 0)) == "amp"


def test_invalid_precision():
    with pytest.raises(ValueError, match="bf8"):
        resolve_precision("bf8", "cpu")


def test_clip_precision_for():
    assert clip_precision_for("fp16") == "fp16"
    assert clip_precision_for("amp") == "fp32"
    assert clip_precision_for("fp32") == "fp32"
    with pytest.warns(UserWarning):
        assert clip_precision_for("fp16", device="cpu") == "fp32"


def test_autocast_and_scaler_are_off_on_cpu():
    for prec in ("fp32", "fp16", "amp"):
        assert autocast_dtype(prec, "cpu") is None
        assert make_grad_scaler(prec, "cpu") is None
        with autocast(prec, "cpu"):
            assert not torch.is_autocast_enabled("cpu")
            y = torch.ones(2, 2) @ torch.ones(2, 2)
        assert y.dtype == torch.float32


def test_fp16_request_on_cpu_runs_the_text_path_in_fp32(workdir):
    path = write_tiny_config(workdir, "vit")
    with pytest.warns(UserWarning, match="fp32"):
        prec = resolve_precision("fp16", "cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = load_clip(path, pretrained="none", precision=clip_precision_for(prec))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    enc = TextEncoder(model)
    assert enc.dtype == torch.float32
    tokens = get_tokenizer(path)(["a photo of a dog.", "a cat."])
    with torch.no_grad(), autocast(prec, "cpu"):
        out = enc(enc.embed(tokens), tokens)
        ref = model.encode_text(tokens)
    assert out.dtype == torch.float32
    assert (out - ref).abs().max().item() <= 1e-5


@pytest.mark.parametrize("kind", ["vit", "resnet"])
def test_image_encoder_casts_input_to_half_weights(workdir, kind):
    """open_clip fp16 weights (conv/linear half, class embedding fp32): fp32 images must be cast."""
    half = tiny_clip(workdir, kind, seed=7, precision="fp16")
    full = tiny_clip(workdir, kind, seed=7)
    enc = ImageEncoder(half)
    assert enc.dtype == torch.float16
    size = enc.image_size
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with pytest.raises(RuntimeError):
        half.encode_image(images)  # open_clip does not cast
    with torch.no_grad():
        out = enc(images)
        ref = full.encode_image(images)
    assert out.dtype == torch.float32 and out.shape == (2, enc.output_dim)
    assert torch.allclose(out, ref, atol=5e-2, rtol=5e-2)
