"""SHIP generators: dimensions from the model, frozen CLIP, ablations, loss, state, class lists."""
import open_clip
import pytest
import torch
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from shipclip.clip.text import TextEncoder
from shipclip.config import extend_cfg
from shipclip.ship import MLPGenerator, SHIPGenerator, build_generator_from_cfg, encode_class_texts, vae_loss
from shipclip_testing.models import tiny_rn, tiny_vit

NAMES = ["dog", "cat", "golden_retriever", "airliner"]
SMALL = dict(enc_hidden=32, latent_dim=8, gen_hidden=32)


@pytest.fixture(scope="module")
def tokenizer():
    return open_clip.get_tokenizer("ViT-B-16")


@pytest.fixture(scope="module", params=["vit", "rn"])
def clip_model(request):
    return tiny_vit() if request.param == "vit" else tiny_rn()


def batch(gen, n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, gen.embed_dim, generator=g)
    y = torch.arange(n) % gen.num_classes
    return x, y


def clip_params(model):
    return list(model.parameters())


def test_dims_are_derived_from_the_model(clip_model, tokenizer):
    D = clip_model.text_projection.shape[1]
    W = clip_model.token_embedding.weight.shape[1]
    assert D != W  # the tiny configs are chosen so that mixing the two up would fail
    gen = SHIPGenerator(clip_model, tokenizer, NAMES, n_ctx=3, **SMALL)
    assert (gen.embed_dim, gen.width) == (D, W)
    assert gen.encoder.fc.in_features == D
    assert gen.encoder.mu.out_features == gen.encoder.logvar.out_features == 8
    assert gen.bias_mlp.fc1.in_features == 8 and gen.bias_mlp.fc2.out_features == W
    assert tuple(gen.ctx.shape) == (3, W)
    x, y = batch(gen)
    x_hat = gen.decode(torch.randn(8, 8), y)
    assert x_hat.shape == (8, D)
    assert torch.allclose(x_hat.norm(dim=-1), torch.ones(8), atol=1e-5)
    mlp = MLPGenerator(clip_model, tokenizer, NAMES, **SMALL)
    assert mlp.decoder[0].in_features == 8 + D and mlp.decoder[-1].out_features == D


def test_linear_init_follows_the_method(tokenizer):
    torch.manual_seed(1)
    gen = SHIPGenerator(tiny_vit(), tokenizer, NAMES, enc_hidden=512, latent_dim=64, gen_hidden=512)
    for layer in (gen.encoder.fc, gen.bias_mlp.fc1, gen.bias_mlp.fc2):
        assert torch.count_nonzero(layer.bias) == 0
        assert abs(layer.weight.std().item() - 0.02) < 0.002
    assert abs(gen.ctx.std().item() - 0.02) < 0.005


def test_decode_equals_clip_text_feature_when_context_is_a_phrase(tokenizer):
    """With v = embeddings of "a photo of a" and r = 0 the decoder is exactly CLIP's encode_text."""
    model = tiny_vit()
    gen = SHIPGenerator(model, tokenizer, NAMES, n_ctx=4, **SMALL)
    phrase = tokenizer(["a photo of a"])[0, 1:5]
    with torch.no_grad():
        gen.ctx.copy_(model.token_embedding(phrase))
        gen.bias_mlp.fc2.weight.zero_()
        gen.bias_mlp.fc2.bias.zero_()
        got = gen.decode(torch.randn(4, 8), torch.arange(4))
        ref = F.normalize(model.encode_text(tokenizer([f"a photo of a {n.replace('_', ' ')}." for n in NAMES])), dim=-1)
    assert torch.allclose(got, ref, atol=1e-5)


def test_loss_terms_match_a_reference_computation(tokenizer):
    mu, logvar = torch.randn(5, 7), torch.randn(5, 7)
    x, x_hat = F.normalize(torch.randn(5, 11), dim=-1), F.normalize(torch.randn(5, 11), dim=-1)
    terms = vae_loss(x, x_hat, mu, logvar, lambda_kl=0.5)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl_ref = torch.distributions.kl_divergence(q, p).sum(-1).mean()
    recon_ref = ((x - x_hat) ** 2).sum(-1).mean()
    assert torch.allclose(terms["kl"], kl_ref, atol=1e-5)
    assert torch.allclose(terms["recon"], recon_ref, atol=1e-6)
    assert torch.allclose(terms["loss"], recon_ref + 0.5 * kl_ref, atol=1e-5)


def test_forward_returns_named_terms_and_no_grad_reaches_clip(clip_model, tokenizer):
    for gen in (SHIPGenerator(clip_model, tokenizer, NAMES, **SMALL), MLPGenerator(clip_model, tokenizer, NAMES, **SMALL)):
        x, y = batch(gen)
        terms = gen(x, y)
        assert set(terms) == {"recon", "kl", "loss"}
        terms["loss"].backward()
        assert all(p.grad is None for p in clip_params(clip_model))
        own = gen.trainable_parameters()
        assert own and all(p.grad is not None and p.grad.abs().sum() > 0 for p in own)
        assert not {id(p) for p in own} & {id(p) for p in clip_params(clip_model)}


def test_global_context_only_ablation_gives_bias_mlp_no_gradient(tokenizer):
    gen = SHIPGenerator(tiny_vit(), tokenizer, NAMES, use_bias=False, **SMALL)
    x, y = batch(gen)
    gen(x, y)["loss"].backward()
    assert all(p.grad is None for p in gen.bias_mlp.parameters())
    assert gen.ctx.grad is not None and gen.ctx.grad.abs().sum() > 0
    assert "bias_mlp" not in [g["name"] for g in gen.param_groups()]
    # r is not added: the decoded feature does not depend on z
    z = torch.randn(4, 8)
    assert torch.allclose(gen.decode(z, torch.arange(4)), gen.decode(-z, torch.arange(4)))


def test_bias_only_ablation_has_no_context_parameter(tokenizer):
    gen = SHIPGenerator(tiny_vit(), tokenizer, NAMES, use_global_ctx=False, **SMALL)
    assert gen.ctx is None
    assert "ctx" not in dict(gen.named_parameters()) and "ctx" not in gen.state_dict()
    x, y = batch(gen)
    gen(x, y)["loss"].backward()
    assert gen.bias_mlp.fc2.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="USE_BIAS and TRAINER.SHIP.USE_GLOBAL_CTX"):
        SHIPGenerator(tiny_vit(), tokenizer, NAMES, use_bias=False, use_global_ctx=False, **SMALL)


def test_lambda_kl_zero_makes_loss_equal_recon(tokenizer):
    model = tiny_vit()
    for gen in (SHIPGenerator(model, tokenizer, NAMES, lambda_kl=0, **SMALL), MLPGenerator(model, tokenizer, NAMES, lambda_kl=0, **SMALL)):
        x, y = batch(gen)
        terms = gen(x, y, rng=torch.Generator().manual_seed(0))
        assert terms["kl"] > 0
        assert torch.equal(terms["loss"], terms["recon"])


def test_state_dict_holds_only_the_generator_and_loads_across_class_sets(tokenizer):
    model = tiny_vit()
    gen = SHIPGenerator(model, tokenizer, NAMES, **SMALL)
    keys = set(gen.state_dict())
    assert keys == {n for n, _ in gen.named_parameters()}
    assert all(k.startswith(("encoder.", "bias_mlp.", "ctx")) for k in keys)
    n_own = sum(t.numel() for t in gen.state_dict().values())
    assert n_own < 0.05 * sum(p.numel() for p in model.parameters())
    # a generator for other classes accepts the weights and then decodes identically
    with torch.no_grad():
        gen.ctx.add_(1.0)
    other = SHIPGenerator(model, tokenizer, ["tulip", "pizza"], **SMALL)
    other.load_state_dict(gen.state_dict())
    z = torch.randn(3, 8)
    names = ["zebra", "dog", "space shuttle"]
    assert torch.allclose(other.decode(z, torch.arange(3), classnames=names), gen.decode(z, torch.arange(3), classnames=names))
    mlp = MLPGenerator(model, tokenizer, NAMES, **SMALL)
    assert set(mlp.state_dict()) == {n for n, _ in mlp.named_parameters()}
    assert all(k.startswith(("encoder.", "decoder.")) for k in mlp.state_dict())


def test_unseen_class_names_are_decoded_and_cached(tokenizer):
    gen = SHIPGenerator(tiny_vit(), tokenizer, NAMES, **SMALL)
    z = torch.randn(2, 8)
    new = ["zebra", "hot air balloon"]
    out = gen.decode(z, torch.tensor([0, 1]), classnames=new)
    assert out.shape == (2, gen.embed_dim) and torch.isfinite(out).all()
    assert gen._condition(new)[0] is gen._condition(new)[0]  # tokenised and embedded once
    gen.set_classnames(NAMES + new)
    assert gen.num_classes == 6
    assert torch.allclose(gen.decode(z, torch.tensor([4, 5])), out, atol=1e-6)
    with pytest.raises(ValueError, match="out of range for a class list of 6"):
        gen.decode(z, torch.tensor([0, 6]))


def test_mlp_generator_conditions_on_frozen_class_text(tokenizer):
    model = tiny_vit()
    gen = MLPGenerator(model, tokenizer, NAMES, **SMALL)
    te = TextEncoder(model)
    tokens = tokenizer([f"a photo of a {n.replace('_', ' ')}." for n in NAMES])
    with torch.no_grad():
        ref = F.normalize(model.encode_text(tokens), dim=-1)
    assert torch.allclose(gen.class_text_features(), ref, atol=1e-5)
    assert torch.allclose(encode_class_texts(te, tokenizer, NAMES), ref, atol=1e-5)
    out = gen.decode(torch.randn(2, 8), torch.tensor([0, 1]), classnames=["zebra", "owl"])
    assert out.shape == (2, gen.embed_dim)


def test_bad_inputs_raise_clear_errors(tokenizer):
    gen = SHIPGenerator(tiny_vit(), tokenizer, NAMES, **SMALL)
    with pytest.raises(ValueError, match=r"\[N, 48\]"):
        gen(torch.randn(4, 32), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="one label per feature"):
        gen(torch.randn(4, 48), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="ACTIVATION"):
        SHIPGenerator(tiny_vit(), tokenizer, NAMES, activation="gelu", **SMALL)
    with pytest.raises(ValueError, match="LAMBDA_KL"):
        SHIPGenerator(tiny_vit(), tokenizer, NAMES, lambda_kl=-1, **SMALL)
    with pytest.raises(TypeError, match="single string"):
        gen.set_classnames("dog")


def _ship_cfg(**overrides):
    cfg = CN()
    cfg.MODEL = CN()
    cfg.MODEL.BACKBONE = CN()
    cfg.TRAINER = CN()
    cfg.DATASET = CN()
    cfg.TEST = CN()
    extend_cfg(cfg)
    cfg.TRAINER.SHIP.ENC_HIDDEN, cfg.TRAINER.SHIP.LATENT_DIM, cfg.TRAINER.SHIP.GEN_HIDDEN = 32, 8, 32
    for k, v in overrides.items():
        setattr(cfg.TRAINER.SHIP, k, v)
    return cfg


def test_build_generator_from_cfg_reads_the_ship_keys(tokenizer):
    model = tiny_vit()
    cfg = _ship_cfg(N_CTX=2, ACTIVATION="leaky_relu", USE_GLOBAL_CTX=False, LAMBDA_KL=0.25)
    gen = build_generator_from_cfg(cfg, model, tokenizer, NAMES)
    assert isinstance(gen, SHIPGenerator)
    assert (gen.n_ctx, gen.latent_dim, gen.enc_hidden, gen.gen_hidden) == (2, 8, 32, 32)
    assert gen.ctx is None and gen.use_bias and gen.lambda_kl == 0.25
    assert isinstance(gen.bias_mlp.act, torch.nn.LeakyReLU)
    mlp = build_generator_from_cfg(_ship_cfg(GENERATOR="mlp").TRAINER.SHIP, model, tokenizer, NAMES)
    assert isinstance(mlp, MLPGenerator) and mlp.decoder[0].out_features == 32
    with pytest.raises(ValueError, match="TRAINER.SHIP.GENERATOR='gan'"):
        build_generator_from_cfg(_ship_cfg(GENERATOR="gan"), model, tokenizer, NAMES)


def test_dtype_and_device_moves_reach_the_frozen_tower_and_cached_classes(tokenizer):
    model = tiny_vit()
    for gen in (SHIPGenerator(model, tokenizer, NAMES, **SMALL), MLPGenerator(model, tokenizer, NAMES, **SMALL)):
        gen.decode(torch.randn(2, 8), torch.tensor([0, 1]), classnames=["zebra", "owl"])  # cache a second list
        gen.double()
        assert gen.dtype == torch.float64 and gen.text_encoder.token_embedding.weight.dtype == torch.float64
        for names in (NAMES, ["zebra", "owl"]):
            out = gen.decode(torch.randn(2, 8), torch.tensor([0, 1]), classnames=names)
            assert out.dtype == torch.float64
        x, y = batch(gen)
        gen(x, y)["loss"].backward()
        gen.float()
    assert model.token_embedding.weight.dtype == torch.float32
