"""Synthesis API: seeded reproducibility, labels, unseen classes, no autograd, the feature pool."""
import open_clip
import pytest
import torch

from shipclip.ship import MLPGenerator, SHIPGenerator, SyntheticFeaturePool, make_rng, sample_for_labels, synthesize
from shipclip_testing.models import tiny_vit

NAMES = ["dog", "cat", "golden retriever", "airliner"]
SMALL = dict(enc_hidden=32, latent_dim=8, gen_hidden=32)


@pytest.fixture(scope="module")
def tokenizer():
    return open_clip.get_tokenizer("ViT-B-16")


@pytest.fixture(scope="module")
def model():
    return tiny_vit()


@pytest.fixture(scope="module", params=["prompt", "mlp"])
def gen(request, model, tokenizer):
    torch.manual_seed(0)
    cls = SHIPGenerator if request.param == "prompt" else MLPGenerator
    g = cls(model, tokenizer, NAMES, **SMALL)
    with torch.no_grad():  # make z matter more than at init, so different latents give visibly different features
        for p in g.parameters():
            p.mul_(20)
    return g


def test_same_seed_same_features_different_seed_different(gen):
    a, la = synthesize(gen, ["zebra", "dog"], 5, seed=3)
    b, lb = synthesize(gen, ["zebra", "dog"], 5, seed=3, batch_size=3)  # batching does not change the latents
    c, _ = synthesize(gen, ["zebra", "dog"], 5, seed=4)
    assert torch.allclose(a, b, atol=1e-6) and torch.equal(la, lb)
    assert (a - c).abs().max() > 1e-3
    assert (a[0] - a[1]).abs().max() > 1e-4  # different latents within a class


def test_features_are_normalised_and_labels_follow_the_class_list(gen):
    feats, labels = synthesize(gen, ["zebra", "owl", "dog"], 4, seed=0)
    assert feats.shape == (12, gen.embed_dim) and feats.dtype == torch.float32
    assert torch.allclose(feats.norm(dim=-1), torch.ones(12), atol=1e-5)
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert not feats.requires_grad
    # indices address generator.classnames and are reported as such
    f_idx, l_idx = synthesize(gen, [3, 1], 2, seed=0)
    assert l_idx.tolist() == [3, 3, 1, 1]
    f_names, _ = synthesize(gen, [NAMES[3], NAMES[1]], 2, seed=0)
    assert torch.allclose(f_idx, f_names, atol=1e-6)
    empty, none = synthesize(gen, ["zebra"], 0, seed=0)
    assert empty.shape == (0, gen.embed_dim) and none.numel() == 0


def test_synthesize_matches_a_manual_decode(gen):
    feats, labels = synthesize(gen, ["zebra", "owl"], 3, seed=11)
    rng = make_rng(11)
    z = torch.randn((6, gen.latent_dim), generator=rng)
    with torch.no_grad():
        ref = gen.decode(z, torch.tensor([0, 0, 0, 1, 1, 1]), classnames=["zebra", "owl"])
    assert torch.allclose(feats, ref, atol=1e-6)


def test_sample_for_labels_is_seeded_and_class_aware(gen):
    labels = torch.tensor([0, 2, 2, 1])
    a = sample_for_labels(gen, labels, make_rng(5))
    b = sample_for_labels(gen, labels, make_rng(5))
    assert torch.equal(a, b) and a.shape == (4, gen.embed_dim) and not a.requires_grad
    # the same latent gives a different feature under another class name
    rng = make_rng(5)
    z = torch.randn((4, gen.latent_dim), generator=rng)
    with torch.no_grad():
        swapped = gen.decode(z, torch.tensor([1, 2, 2, 1]))
    assert torch.allclose(a[1:], swapped[1:], atol=1e-6) and (a[0] - swapped[0]).abs().max() > 1e-4
    c = sample_for_labels(gen, torch.tensor([0, 1]), make_rng(5), classnames=["zebra", "owl"])
    assert c.shape == (2, gen.embed_dim)


def test_class_argument_errors(gen):
    with pytest.raises(ValueError, match="out of range for the generator's 4 classes"):
        synthesize(gen, [0, 4], 1)
    with pytest.raises(TypeError, match="not a mix"):
        synthesize(gen, ["dog", 1], 1)
    with pytest.raises(ValueError, match="empty"):
        synthesize(gen, [], 1)
    with pytest.raises(ValueError, match="out of range for a class list of 2"):
        sample_for_labels(gen, torch.tensor([2]), classnames=["zebra", "owl"])


def test_feature_pool_draws_from_presynthesized_features(gen):
    pool = SyntheticFeaturePool(gen, [2, 3], per_class=4, seed=1)
    ref, ref_labels = synthesize(gen, [2, 3], 4, seed=1)
    assert len(pool) == 8 and torch.equal(pool.features, ref) and torch.equal(pool.labels, ref_labels)
    feats, labels = pool.draw(16, make_rng(0))
    same, _ = pool.draw(16, make_rng(0))
    assert torch.equal(feats, same)
    rows = [(pool.features == f).all(dim=1).nonzero()[0, 0] for f in feats]
    assert all(pool.labels[r] == l for r, l in zip(rows, labels))
    wanted = torch.tensor([3, 2, 3, 3])
    picked = pool.for_labels(wanted, make_rng(2))
    for f, l in zip(picked, wanted):
        match = (pool.features == f).all(dim=1).nonzero()[:, 0]
        assert match.numel() >= 1 and (pool.labels[match] == l).all()
    with pytest.raises(ValueError, match=r"Labels \[0\] are not in the synthetic pool"):
        pool.for_labels(torch.tensor([0, 2]))
