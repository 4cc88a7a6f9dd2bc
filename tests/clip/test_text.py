"""The text tower on embeddings (TextEncoder) and class prompts (ClassPrompts) against open_clip."""
import pytest
import torch
import torch.nn as nn

from shipclip.clip import ClassPrompts, TextEncoder, get_tokenizer, model_dims
from shipclip.clip.text import length_groups
from shipclip_testing.models import tiny_clip, tiny_config, write_tiny_config

ATOL = 1e-5
SENTENCES = ["a photo of a dog.", "a photo of a golden retriever, a type of dog.", "x",
             "a centered satellite photo of an annual crop land with rows of crêpe-like jack-o'-lantern plants."]
CLASSNAMES = ["dog", "golden_retriever", "crêpe", "jack-o'-lantern", "airliner_jet"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("clip_text")


@pytest.fixture(scope="module", params=["vit", "resnet"])
def backbone(request, workdir):
    """(model, tokenizer, kind) for the ViT and the ModifiedResNet tiny backbones."""
    model = tiny_clip(workdir, request.param, seed=1)
    return model, get_tokenizer(write_tiny_config(workdir, request.param)), request.param


@pytest.fixture(scope="module")
def custom_text(workdir):
    """CustomTextCLIP (text tower under ``.text``) with an ``nn.Linear`` projection."""
    model = tiny_clip(workdir, "vit", seed=2, name="shipclip-tiny-vit-customtext",
                      overrides=dict(text_cfg=dict(proj_bias=True)), force_custom_text=True)
    tok = get_tokenizer(write_tiny_config(workdir, "vit", name="shipclip-tiny-vit-customtext",
                                          text_cfg=dict(proj_bias=True)))
    return model, tok


def _encode(model, tokens, truncate):
    enc = TextEncoder(model, truncate=truncate)
    with torch.no_grad():
        return enc(enc.embed(tokens), tokens)


@pytest.mark.parametrize("truncate", [False, True])
def test_text_encoder_matches_encode_text(backbone, truncate):
    model, tok, kind = backbone
    tokens = tok(SENTENCES)
    with torch.no_grad():
        ref = model.encode_text(tokens)
    out = _encode(model, tokens, truncate)
    assert out.shape == ref.shape == (len(SENTENCES), tiny_config(kind)["embed_dim"])
    assert out.dtype == torch.float32
    assert (out - ref).abs().max().item() <= ATOL
    assert ref.abs().max().item() > 0.1  # features are not trivially zero


def test_text_encoder_sizes_come_from_the_model(backbone):
    model, _, kind = backbone
    enc = TextEncoder(model)
    cfg = tiny_config(kind)
    assert enc.width == cfg["text_cfg"]["width"] == model_dims(model)["text_width"]
    assert enc.embed_dim == cfg["embed_dim"] == model_dims(model)["embed_dim"]
    assert enc.context_length == 77 and enc.truncate


def test_truncation_on_class_prompts_of_different_lengths(backbone):
    model, tok, _ = backbone
    texts = [f"a photo of a {c.replace('_', ' ')}." for c in CLASSNAMES]
    tokens = tok(texts)
    eot = tokens.argmax(-1)
    assert len(set(eot.tolist())) > 2  # prompts really differ in length
    enc = TextEncoder(model, truncate=True)
    assert enc.sequence_length(tokens) == int(eot.max()) + 1 < 77
    with torch.no_grad():
        prompts = enc.embed(tokens)
        full = TextEncoder(model, truncate=False)(prompts, tokens)
        short = enc(prompts, tokens)
        ref = model.encode_text(tokens)
    assert (short - full).abs().max().item() <= ATOL
    assert (short - ref).abs().max().item() <= ATOL


@pytest.mark.parametrize("truncate", [False, True])
def test_custom_text_clip_with_linear_projection(custom_text, truncate):
    model, tok = custom_text
    assert not hasattr(model, "token_embedding") and isinstance(model.text.text_projection, nn.Linear)
    tokens = tok(SENTENCES)
    with torch.no_grad():
        ref = model.encode_text(tokens)
    out = _encode(model, tokens, truncate)
    assert out.shape == ref.shape == (len(SENTENCES), 40)
    assert (out - ref).abs().max().item() <= ATOL
    assert TextEncoder(model).embed_dim == model.text.text_projection.out_features


def test_gradients_flow_into_prompts_and_stop_at_eot(backbone):
    model, tok, _ = backbone
    tokens = tok(["a photo of a dog.", "a photo of a golden retriever."])
    enc = TextEncoder(model, truncate=False)
    prompts = enc.embed(tokens).clone().requires_grad_(True)
    enc(prompts, tokens).pow(2).sum().backward()
    grad = prompts.grad
    eot = tokens.argmax(-1)
    for row, e in enumerate(eot.tolist()):
        assert grad[row, : e + 1].abs().sum(-1).min().item() > 0  # every position up to the EOT is used
        assert grad[row, e + 1:].abs().max().item() == 0.0  # causal mask: nothing after it
    assert all(not p.requires_grad for p in model.parameters())  # the tower stays frozen

    # Truncated run: same gradients on the positions it keeps.
    prompts2 = prompts.detach().clone().requires_grad_(True)
    TextEncoder(model, truncate=True)(prompts2, tokens).pow(2).sum().backward()
    L = int(eot.max()) + 1
    assert torch.allclose(prompts2.grad[:, :L], grad[:, :L], rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------- length groups

def _positions_run(groups, lengths):
    return sum((lengths.numel() if rows is None else rows.numel()) * L for rows, L in groups)


def _brute_force_best(lengths, max_groups):
    """Fewest positions over every split of the sorted distinct lengths into <= max_groups ranges."""
    import itertools

    values = sorted(set(lengths.tolist()))
    best = None
    for k in range(1, min(max_groups, len(values)) + 1):
        for cuts in itertools.combinations(range(1, len(values)), k - 1):
            edges = [0, *cuts, len(values)]
            cost = 0
            for a, b in zip(edges[:-1], edges[1:]):
                lo, hi = values[a], values[b - 1]
                cost += hi * int(((lengths >= lo) & (lengths <= hi)).sum())
            best = cost if best is None else min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_groups", [2, 3, 4])
def test_length_groups_is_the_cheapest_split_and_covers_every_row_once(seed, max_groups):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(5, 30, (40,), generator=g)
    groups = length_groups(lengths, max_groups=max_groups, min_saving=0.0)
    assert 1 <= len(groups) <= max_groups
    rows = torch.cat([r for r, _ in groups])
    assert sorted(rows.tolist()) == list(range(40))  # every row exactly once
    for r, L in groups:
        assert int(lengths[r].max()) == L  # each group runs at its own longest length
    assert _positions_run(groups, lengths) == _brute_force_best(lengths, max_groups)


def test_length_groups_keeps_one_batch_when_the_saving_is_small():
    same = torch.full((10,), 12)
    assert length_groups(same) == [(None, 12)]
    nearly = torch.tensor([20] * 19 + [19])  # grouping would save 1 position of 400
    assert length_groups(nearly, min_saving=0.1) == [(None, 20)]
    assert length_groups(torch.tensor([5, 30]), max_groups=1) == [(None, 30)]
    split = length_groups(torch.tensor([5] * 10 + [30]), min_saving=0.1)
    assert [(r.tolist(), L) for r, L in split] == [(list(range(10)), 5), ([10], 30)]


def test_length_grouped_encoder_equals_one_padded_batch_values_and_gradients(backbone):
    model, tok, _ = backbone
    texts = [f"a photo of a {c.replace('_', ' ')}." for c in CLASSNAMES] + SENTENCES
    tokens = tok(texts)
    grouped, single = TextEncoder(model), TextEncoder(model, max_groups=1)
    assert len(length_groups(tokens.argmax(-1) + 1, grouped.max_groups)) > 1  # really grouped
    base = grouped.embed(tokens)
    p1 = base.clone().requires_grad_(True)
    p2 = base.clone().requires_grad_(True)
    out1, out2 = grouped(p1, tokens), single(p2, tokens)
    with torch.no_grad():
        ref = model.encode_text(tokens)
    assert (out1 - out2).abs().max().item() <= ATOL
    assert (out1 - ref).abs().max().item() <= ATOL  # rows come back in the input order
    w = torch.randn(out1.shape, generator=torch.Generator().manual_seed(0))
    (out1 * w).sum().backward()
    (out2 * w).sum().backward()
    scale = p2.grad.abs().max().item()
    assert scale > 0
    assert (p1.grad - p2.grad).abs().max().item() <= 1e-5 * scale  # float rounding only


# --------------------------------------------------------------------------------- ClassPrompts

def _ctx_init(enc, tok, phrase):
    """CoOp's CTX_INIT: embeddings of the phrase's tokens after SOS."""
    n_ctx = len(phrase.split(" "))
    with torch.no_grad():
        return enc.embed(tok([phrase]))[0, 1:1 + n_ctx], n_ctx


def test_class_prompts_with_ctx_init_reproduce_encode_text(backbone):
    model, tok, _ = backbone
    enc = TextEncoder(model)
    ctx, n_ctx = _ctx_init(enc, tok, "a photo of a")
    cp = ClassPrompts(enc, tok, CLASSNAMES, n_ctx, placeholder="a photo of a")
    tokens_ref = tok([f"a photo of a {c.replace('_', ' ')}." for c in CLASSNAMES])
    assert cp.length == int(tokens_ref.argmax(-1).max()) + 1
    assert cp.name_lens == [len(tok.encode(c.replace("_", " "))) for c in CLASSNAMES]
    prompts, tokenized = cp.assemble(ctx)
    assert prompts.shape == (len(CLASSNAMES), cp.length, enc.width)
    assert torch.equal(tokenized, tokens_ref[:, :cp.length])
    with torch.no_grad():
        out = enc(prompts, tokenized)
        ref = model.encode_text(tokens_ref)
    assert (out - ref).abs().max().item() <= ATOL


@pytest.mark.parametrize("position,template", [
    ("middle", "a photo {} of a."),  # [SOS][ctx[:2]][class][ctx[2:]][. EOT]
    ("front", "{} a photo of a."),  # [SOS][class][ctx][. EOT]
    ("end", "a photo of a {}."),
])
def test_class_token_position_matches_rearranged_sentence(backbone, position, template):
    model, tok, _ = backbone
    enc = TextEncoder(model)
    ctx, n_ctx = _ctx_init(enc, tok, "a photo of a")
    cp = ClassPrompts(enc, tok, CLASSNAMES, n_ctx, position=position)
    prompts, tokenized = cp.assemble(ctx)
    expected_tokens = tok([template.format(c.replace("_", " ")) for c in CLASSNAMES])[:, :cp.length]
    with torch.no_grad():
        expected = enc.embed(expected_tokens)
        out = enc(prompts, tokenized)
        ref = model.encode_text(tok([template.format(c.replace("_", " ")) for c in CLASSNAMES]))
    assert torch.equal(prompts, expected)
    assert torch.equal(tokenized.argmax(-1), expected_tokens.argmax(-1))  # EOT where the sentence has it
    assert (out - ref).abs().max().item() <= ATOL


@pytest.mark.parametrize("position", ["end", "middle", "front"])
def test_per_row_contexts_with_class_index(backbone, position):
    model, tok, _ = backbone
    enc = TextEncoder(model)
    cp = ClassPrompts(enc, tok, CLASSNAMES, 4, position=position)
    gen = torch.Generator().manual_seed(0)
    shared = torch.randn(4, enc.width, generator=gen)
    per_class, _ = cp.assemble(shared)
    index = torch.tensor([3, 0, 3, 1])
    rows, tokenized = cp.assemble(shared.expand(4, -1, -1), class_index=index)
    assert torch.equal(rows, per_class[index])
    assert torch.equal(tokenized, cp.tokenized_prompts[index])
    with pytest.raises(ValueError, match="rows"):
        cp.assemble(torch.zeros(3, 4, enc.width), class_index=index)


def test_class_prompts_rejects_bad_position(backbone):
    model, tok, _ = backbone
    with pytest.raises(ValueError, match="CLASS_TOKEN_POSITION"):
        ClassPrompts(TextEncoder(model), tok, CLASSNAMES, 4, position="back")
