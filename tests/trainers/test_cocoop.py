"""CoCoOp: instance-conditioned prompts, batched text encoding, base-to-new checkpoints, learning."""
import pytest
import torch
import torch.nn.functional as F

from shipclip_testing.fake_datasets import COLOR_CLASSES as CLASSES
from shipclip_testing.runs import read_results, run_main

CFG = "configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml"
NEW = list(CLASSES[3:])


@pytest.fixture(scope="module")
def base_run(color_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("cocoop_base")
    t = run_main("CoCoOp", color_root, out, config_file=CFG,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "1"])
    return t, out


def test_meta_net_shapes_and_checkpoint_keys(base_run):
    t, out = base_run
    pl = t.prompt_learner
    vis, width = t.dim("vis_dim"), t.dim("text_width")
    assert (pl.meta_net.linear1.in_features, pl.meta_net.linear1.out_features) == (vis, max(vis // 16, 1))
    assert (pl.meta_net.linear2.in_features, pl.meta_net.linear2.out_features) == (max(vis // 16, 1), width)
    assert isinstance(pl.meta_net.relu, torch.nn.ReLU)
    assert set(pl.state_dict()) == {"ctx", "token_prefix", "token_suffix", "meta_net.linear1.weight",
                                    "meta_net.linear1.bias", "meta_net.linear2.weight", "meta_net.linear2.bias"}
    assert pl.ctx.shape == (4, width)  # "a photo of a"
    assert (out / "prompt_learner" / "model.pth.tar-1").is_file()
    (evaluation,) = read_results(out)["evaluations"]
    assert (evaluation["classes"], evaluation["epoch"]) == ("base", 1)


def test_base_checkpoint_evaluates_on_new_classes(base_run, color_root, tmp_path):
    trained, base_out = base_run
    out = tmp_path / "new"
    t = run_main("CoCoOp", color_root, out, config_file=CFG, eval_only=True, model_dir=base_out, load_epoch=1,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "new"])
    for key, value in trained.prompt_learner.state_dict().items():
        if key.startswith(("ctx", "meta_net")):
            assert torch.equal(t.prompt_learner.state_dict()[key], value), key
    assert t.prompt_learner.classnames == NEW
    (evaluation,) = read_results(out)["evaluations"]
    assert (evaluation["classes"], evaluation["metrics"]["total"]) == ("new", 4 * len(NEW))


def test_zero_bias_gives_clip_text_features_and_batching_is_exact(base_run):
    t = base_run[0]
    state = {k: v.clone() for k, v in t.prompt_learner.state_dict().items()}
    try:
        with torch.no_grad():
            t.prompt_learner.ctx.copy_(t.text_encoder.embed(t.tokenizer(["a photo of a"]))[0, 1:5])
            t.prompt_learner.meta_net.linear2.weight.zero_()
            t.prompt_learner.meta_net.linear2.bias.zero_()
        feats = F.normalize(torch.randn(3, t.dim("embed_dim")), dim=-1)
        names = list(CLASSES)
        with torch.no_grad():
            ref = F.normalize(t.clip_model.encode_text(t.tokenizer([f"a photo of a {c}." for c in names])).float(), dim=-1)
            logits = t.logits_from_features(feats, names)
        assert torch.allclose(logits, t.clip_model.logit_scale.exp() * feats @ ref.t(), atol=1e-4)
    finally:
        t.prompt_learner.load_state_dict(state)
    # With a real bias every image has its own prompts: one batched call == one call per image,
    # and the chunked no-grad path == the single grad-enabled pass.
    feats = F.normalize(torch.randn(5, t.dim("embed_dim")), dim=-1)
    with torch.no_grad():
        batched = t.logits_from_features(feats, names)
        single = torch.cat([t.logits_from_features(feats[i:i + 1], names) for i in range(5)])
    chunk = t.TEXT_CHUNK
    t.TEXT_CHUNK = 2 * len(names)  # two images per text-tower call
    try:
        with torch.no_grad():
            chunked = t.logits_from_features(feats, names)
    finally:
        t.TEXT_CHUNK = chunk
    grad_path = t.logits_from_features(feats, names).detach()
    for other in (single, chunked, grad_path):
        assert torch.allclose(batched, other, atol=1e-5)
    assert batched.shape == (5, len(names))


def test_forward_returns_loss_in_train_mode_and_logits_in_eval_mode(base_run):
    t = base_run[0]
    feats = F.normalize(torch.randn(4, t.dim("embed_dim")), dim=-1)
    labels = torch.tensor([0, 1, 2, 0])
    t.set_model_mode("eval")
    with torch.no_grad():
        logits = t.forward(feats)
    assert logits.shape == (4, 3)
    t.set_model_mode("train")
    loss = t.forward(feats, labels)
    assert loss.dim() == 0 and torch.allclose(loss, F.cross_entropy(logits, labels), atol=1e-5)
    t.set_model_mode("eval")


def test_loss_falls_on_clustered_features(tmp_path, color_root):
    t = run_main("CoCoOp", color_root, tmp_path / "out", no_train=True,
                 opts=["TRAINER.COCOOP.N_CTX", "4", "OPTIM.NAME", "adam", "OPTIM.LR", "0.05",
                       "OPTIM.LR_SCHEDULER", "single_step"])
    g = torch.Generator().manual_seed(0)
    n = len(CLASSES)
    centers = F.normalize(torch.randn(n, t.dim("embed_dim"), generator=g), dim=-1)
    labels = torch.arange(n).repeat(2)
    feats = F.normalize(centers[labels] + 0.1 * torch.randn(len(labels), centers.shape[1], generator=g), dim=-1)
    t.set_model_mode("train")
    losses = []
    for _ in range(15):
        loss, _ = t.compute_loss(feats, labels)
        t.model_backward_and_update(loss)
        losses.append(loss.item())
    with torch.no_grad():
        loss, logits = t.compute_loss(feats, labels)
    assert loss.item() < 0.7 * losses[0]
    assert (logits.argmax(1) == labels).float().mean().item() > 2.0 / n
