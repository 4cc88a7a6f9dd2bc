"""Stage-1 fitting: the loss falls, a small learnable problem is learned, failures are named."""
import open_clip
import pytest
import torch
import torch.nn.functional as F

from shipclip.ship import MLPGenerator, SHIPGenerator, encode_class_texts, fit_generator, synthesize
from shipclip_testing.models import tiny_rn, tiny_vit

NAMES = ["dog", "cat", "golden retriever", "airliner", "tulip", "pizza"]
SMALL = dict(enc_hidden=64, latent_dim=16, gen_hidden=64)


@pytest.fixture(scope="module")
def tokenizer():
    return open_clip.get_tokenizer("ViT-B-16")


def noisy(centers, per_class=20, spread=0.25, seed=0):
    """Features scattered around one centre per class (noise a fraction of the closest centre gap)."""
    gap = torch.cdist(centers, centers).fill_diagonal_(float("inf")).min()
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(centers.shape[0]).repeat_interleave(per_class)
    eps = torch.randn(len(y), centers.shape[1], generator=g) * spread * gap / centers.shape[1] ** 0.5
    return F.normalize(centers[y] + eps, dim=-1), y


def class_similarity(gen, x, y, seed=1):
    """[C, C]: mean cosine of class-i synthesized features to class-j real features."""
    C = gen.num_classes
    feats, labels = synthesize(gen, list(range(C)), 10, seed=seed)
    real = torch.stack([x[y == c] for c in range(C)])  # [C, n, D]
    return torch.stack([torch.einsum("sd,cnd->c", feats[labels == c], real) / (10 * real.shape[1]) for c in range(C)])


@pytest.mark.parametrize("build", [tiny_vit, tiny_rn], ids=["vit", "rn"])
def test_prompt_generator_learns_class_conditional_features(build, tokenizer):
    """Targets near CLIP's own text features of each class: reachable through the text tower."""
    torch.manual_seed(0)
    gen = SHIPGenerator(build(), tokenizer, NAMES, **SMALL)
    centers = encode_class_texts(gen.text_encoder, tokenizer, NAMES)
    assert (centers @ centers.T).fill_diagonal_(0).max() < 0.97, "the tiny model no longer separates the classes"
    x, y = noisy(centers)
    lines = []
    hist = fit_generator(gen, x, y, epochs=15, lr=1e-2, batch_size=32, seed=0, log=lines.append, progress=False)
    assert len(hist) == 15 and len(lines) == 15
    assert lines[-1].startswith("SHIP generator, stage 1: epoch 15/15 loss")
    assert hist[-1]["loss"] < 0.5 * hist[0]["loss"]
    sim = class_similarity(gen, x, y)
    own, other = sim.diag(), sim.masked_fill(torch.eye(len(NAMES), dtype=torch.bool), float("-inf"))
    assert (own > other.max(dim=1).values).all()  # every class is closest to its own real features


def test_mlp_generator_learns_clustered_features(tokenizer):
    torch.manual_seed(0)
    gen = MLPGenerator(tiny_vit(), tokenizer, NAMES, **SMALL)
    x, y = noisy(F.normalize(torch.randn(len(NAMES), gen.embed_dim, generator=torch.Generator().manual_seed(3)), dim=-1))
    hist = fit_generator(gen, x, y, epochs=15, lr=1e-2, batch_size=32, seed=0, log=None, progress=False)
    assert hist[-1]["loss"] < 0.5 * hist[0]["loss"]
    sim = class_similarity(gen, x, y)
    assert (sim.argmax(dim=1) == torch.arange(len(NAMES))).all()
    assert sim.diag().mean() > 0.8


def test_loss_falls_and_seeded_fits_are_identical(tokenizer):
    model = tiny_vit()
    x, y = noisy(F.normalize(torch.randn(4, 48, generator=torch.Generator().manual_seed(5)), dim=-1), per_class=8)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        gen = SHIPGenerator(model, tokenizer, NAMES[:4], **SMALL)
        runs.append((fit_generator(gen, x, y, epochs=4, lr=1e-2, batch_size=8, seed=7, log=None, progress=False), gen))
    (h1, g1), (h2, g2) = runs
    assert h1 == h2
    assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(), g2.state_dict().values()))
    assert h1[-1]["loss"] < h1[0]["loss"]
    assert all(p.grad is None for p in model.parameters())  # CLIP stayed frozen
    assert not g1.training


def test_non_finite_loss_names_stage_epoch_and_term(tokenizer):
    gen = SHIPGenerator(tiny_vit(), tokenizer, NAMES[:2], use_bias=False, **SMALL)
    with torch.no_grad():
        gen.encoder.logvar.bias.fill_(1e4)  # exp(logvar) overflows: only the KL term blows up
    x, y = noisy(torch.eye(2, 48), per_class=4)
    with pytest.raises(FloatingPointError, match=r"SHIP generator, stage 1: non-finite kl loss .* epoch 1/3"):
        fit_generator(gen, x, y, epochs=3, lr=1e-3, batch_size=4, seed=0, log=None, progress=False)


def test_bad_inputs_are_rejected_before_training(tokenizer):
    gen = SHIPGenerator(tiny_vit(), tokenizer, NAMES[:2], **SMALL)
    x, y = noisy(torch.eye(2, 48), per_class=4)
    bad = x.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(ValueError, match="feature row 3 contains NaN"):
        fit_generator(gen, bad, y, epochs=1, log=None, progress=False)
    with pytest.raises(ValueError, match="one per image"):
        fit_generator(gen, x, y[:-1], epochs=1, log=None, progress=False)
    with pytest.raises(ValueError, match="out of range"):
        fit_generator(gen, x, y + 1, epochs=1, log=None, progress=False)
    with pytest.raises(ValueError, match="TRAINER.SHIP.LR"):
        fit_generator(gen, x, y, epochs=1, lr=0, log=None, progress=False)
