"""Synthesis API: seeded reproducibility, labels, unseen classes, no autograd, the feature pool."""
import open_clip
import pytest
import torch
import torch.nn.functional as F

from shipclip.ship import MLPGenerator, SHIPGenerator, SyntheticFeaturePool, make_rng, sample_for_labels, synthesize
from shipclip_testing.models import tiny_vit

NAMES = ["dog", "cat", "golden retriever", "airliner"]
SMALL = dict(enc_hidden=32, latent_dim=8, gen_hidden=32)


def text_features(model, texts, context=None):
    """open_clip's text path on token ids, with ``context`` [B, M, W] in place of the M tokens after SOS."""
    tokens = open_clip.tokenize(texts)
    x = model.token_embedding(tokens)
    if context is not None:
        m = context.shape[1]
        x = torch.cat([x[:, :1], context, x[:, 1 + m:]], dim=1)
    x = model.ln_final(model.transformer(x + model.positional_embedding, attn_mask=model.attn_mask))
    return F.normalize(x[torch.arange(len(texts)), tokens.argmax(dim=-1)] @ model.text_projection, dim=-1)


def reference_decode(gen, model, z, names):
    """The generators' decode written out from their raw weights and CLIP's modules (not through ``gen``)."""
    with torch.no_grad():
        if isinstance(gen, MLPGenerator):  # [z, text feature of "a photo of a <name>."] -> MLP
            t = text_features(model, [f"a photo of a {n}." for n in names])
            first, last = gen.decoder[0], gen.decoder[2]
            out = F.linear(F.relu(F.linear(torch.cat([z, t], dim=-1), first.weight, first.bias)), last.weight, last.bias)
            return F.normalize(out, dim=-1)
        fc1, fc2 = gen.bias_mlp.fc1, gen.bias_mlp.fc2  # r = fc2(relu(fc1(z))) added to every context vector
        r = F.linear(F.relu(F.linear(z, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)
        context = gen.ctx.unsqueeze(0) + r.unsqueeze(1)
        placeholder = " ".join(["X"] * gen.n_ctx)
        return text_features(model, [f"{placeholder} {n}." for n in names], context)


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


def test_synthesize_matches_a_reference_decode(gen, model):
    """Latents: one CPU draw of [C * n, L] from a generator seeded with ``seed``, class-major (the documented rule)."""
    feats, labels = synthesize(gen, ["zebra", "owl"], 3, seed=11)
    z = torch.randn((6, gen.latent_dim), generator=torch.Generator().manual_seed(11))
    expected = reference_decode(gen, model, z, ["zebra"] * 3 + ["owl"] * 3)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.allclose(feats, expected, atol=2e-5)


def test_sample_for_labels_is_seeded_and_class_aware(gen, model):
    labels = torch.tensor([0, 2, 2, 1])
    a = sample_for_labels(gen, labels, make_rng(5))
    b = sample_for_labels(gen, labels, make_rng(5))
    assert torch.equal(a, b) and a.shape == (4, gen.embed_dim) and not a.requires_grad
    z = torch.randn((4, gen.latent_dim), generator=torch.Generator().manual_seed(5))
    assert torch.allclose(a, reference_decode(gen, model, z, [NAMES[i] for i in labels.tolist()]), atol=2e-5)
    # the same latent under another class name gives another feature
    swapped = reference_decode(gen, model, z, [NAMES[i] for i in (1, 2, 2, 1)])
    assert torch.allclose(a[1:], swapped[1:], atol=2e-5) and (a[0] - swapped[0]).abs().max() > 1e-4
    c = sample_for_labels(gen, torch.tensor([0, 1]), make_rng(5), classnames=["zebra", "owl"])
    assert torch.allclose(c, reference_decode(gen, model, z[:2], ["zebra", "owl"]), atol=2e-5)


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
