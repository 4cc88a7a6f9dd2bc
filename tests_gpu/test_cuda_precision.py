"""GPU-only checks (run on a machine with CUDA: ``python -m pytest -q tests_gpu``; CI has no GPU).

These are kept out of ``tests/`` so the CPU suite never skips anything.
"""
import torch

from shipclip.clip import (ImageEncoder, TextEncoder, autocast, autocast_dtype, clip_precision_for, get_tokenizer,
                           make_grad_scaler)
from shipclip_testing.models import tiny_clip, write_tiny_config

assert torch.cuda.is_available(), "tests_gpu needs a CUDA device"


def test_cuda_fp16_backbone_and_amp():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        model = tiny_clip(d, "vit", seed=0, device="cuda", precision=clip_precision_for("fp16"))
        ref = tiny_clip(d, "vit", seed=0, device="cuda")
        tokens = get_tokenizer(write_tiny_config(d, "vit"))(["a photo of a dog.", "a cat."]).cuda()
    text = TextEncoder(model)
    assert text.dtype == torch.float16
    images = torch.randn(2, 3, 32, 32, device="cuda")
    with torch.no_grad():
        t = text(text.embed(tokens), tokens)
        i = ImageEncoder(model)(images)
        t_ref, i_ref = ref.encode_text(tokens), ref.encode_image(images)
    assert t.dtype == torch.float16 and i.dtype == torch.float32
    assert torch.allclose(t.float(), t_ref, atol=5e-2, rtol=5e-2)
    assert torch.allclose(i, i_ref, atol=5e-2, rtol=5e-2)

    dtype = autocast_dtype("amp", "cuda")
    assert dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    with autocast("amp", "cuda"):
        assert torch.is_autocast_enabled("cuda")
        assert (torch.ones(2, 2, device="cuda") @ torch.ones(2, 2, device="cuda")).dtype == dtype
    scaler = make_grad_scaler("amp", "cuda")
    assert (scaler is None) == (dtype == torch.bfloat16)

