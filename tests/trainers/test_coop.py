"""CoOp: prompts equal CLIP's own text encoding, training lowers the loss, checkpoints move across label spaces."""
import math
import os

import pytest
import torch
import torch.nn.functional as F

from shipclip_testing.fake_datasets import COLOR_CLASSES as CLASSES
from shipclip_testing.runs import read_results, run_main

BASE, NEW = list(CLASSES[:3]), list(CLASSES[3:])
CFG = "configs/trainers/CoOp/vit_b16_ctxv1.yaml"


@pytest.fixture(scope="module")
def base_run(color_root, tmp_path_factory):
    """CoOp trained 2 epochs on the base classes with CoOp's ctxv1 recipe (SGD, cosine, constant warmup)."""
    out = tmp_path_factory.mktemp("coop_base")
    t = run_main("CoOp", color_root, out, config_file=CFG,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "2"])
    return t, out


def test_training_run_writes_checkpoints_results_and_lr_trace(base_run):
    t, out = base_run
    assert t.get_model_names() == ["prompt_learner"]
    assert [n for n, p in t.prompt_learner.named_parameters()] == ["ctx"]
    assert set(t.prompt_learner.state_dict()) == {"ctx", "token_prefix", "token_suffix"}  # CoOp's keys
    assert os.path.isfile(out / "prompt_learner" / "model.pth.tar-2")
    assert (out / "prompt_learner" / "checkpoint").read_text().strip() == "model.pth.tar-2"
    # One scheduler step per epoch: epoch 0 at the warmup lr, epoch 1 at 0.002, then cosine.
    assert t.get_current_lr() == pytest.approx(0.002 * 0.5 * (1 + math.cos(math.pi * 1 / 2)))
    assert not any(p.requires_grad for p in t.clip_model.parameters())
    assert not t.clip_model.training  # the frozen CLIP is never switched to train mode
    doc = read_results(out)
    assert doc["run"]["subsample_classes"] == "base" and doc["run"]["trainer"] == "CoOp"
    (evaluation,) = doc["evaluations"]
    assert (evaluation["split"], evaluation["classes"], evaluation["epoch"]) == ("test", "base", 2)
    assert evaluation["metrics"]["total"] == 4 * len(BASE)
    log = (out / "log.txt").read_text()
    assert "Finish training" in log and "Deploy the last-epoch model" in log and "* accuracy:" in log


def test_base_checkpoint_evaluates_on_new_classes(base_run, color_root, tmp_path):
    from shipclip.clip.prompts import ClassPrompts

    trained, base_out = base_run
    out = tmp_path / "new"
    t = run_main("CoOp", color_root, out, config_file=CFG, eval_only=True, model_dir=base_out, load_epoch=2,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "new"])
    assert torch.equal(t.prompt_learner.ctx, trained.prompt_learner.ctx)  # the learned context ...
    fresh = ClassPrompts(t.text_encoder, t.tokenizer, NEW, 4, placeholder="a photo of a")
    assert torch.equal(t.prompt_learner.token_prefix, fresh.token_prefix)  # ... with the new class names
    assert torch.equal(t.prompt_learner.token_suffix, fresh.token_suffix)
    (evaluation,) = read_results(out)["evaluations"]
    assert (evaluation["classes"], evaluation["epoch"], evaluation["metrics"]["total"]) == ("new", 2, 4 * len(NEW))
    assert read_results(out)["run"]["subsample_classes"] == "new"


@pytest.mark.parametrize("position,sentence", [
    ("end", "a photo of a {}."), ("middle", "a photo {} of a."), ("front", "{} a photo of a."),
])
def test_prompts_from_ctx_init_equal_clip_text_features(tmp_path, color_root, position, sentence):
    t = run_main("CoOp", color_root, tmp_path / "out", no_train=True,
                 opts=["TRAINER.COOP.CTX_INIT", "a photo of a", "TRAINER.COOP.CLASS_TOKEN_POSITION", position])
    assert t.prompt_learner.n_ctx == 4 and t.prompt_learner.ctx.shape == (4, t.dim("text_width"))
    with torch.no_grad():
        ours = t.text_features(list(CLASSES))
        ref = F.normalize(t.clip_model.encode_text(t.tokenizer([sentence.format(c) for c in CLASSES])).float(), dim=-1)
    assert torch.allclose(ours, ref, atol=1e-5)
    feats = F.normalize(torch.randn(5, t.dim("embed_dim")), dim=-1)
    with torch.no_grad():
        logits = t.logits_from_features(feats)
    assert torch.allclose(logits, t.clip_model.logit_scale.exp() * feats @ ref.t(), atol=1e-4)


def clustered(n_cls, dim, per_class=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = F.normalize(torch.randn(n_cls, dim, generator=g), dim=-1)
    labels = torch.arange(n_cls).repeat(per_class)
    return F.normalize(centers[labels] + 0.1 * torch.randn(len(labels), dim, generator=g), dim=-1), labels


@pytest.mark.parametrize("csc", [True, False])
def test_loss_falls_and_beats_chance_on_clustered_features(tmp_path, color_root, csc):
    t = run_main("CoOp", color_root, tmp_path / "out", no_train=True,
                 opts=["TRAINER.COOP.N_CTX", "4", "TRAINER.COOP.CSC", str(csc), "OPTIM.NAME", "adam", "OPTIM.LR", "0.05",
                       "OPTIM.LR_SCHEDULER", "single_step"])
    assert t.prompt_learner.ctx.dim() == (3 if csc else 2)
    feats, labels = clustered(len(CLASSES), t.dim("embed_dim"))
    t.set_model_mode("train")
    first = None
    for _ in range(25):
        loss, logits = t.compute_loss(feats, labels)
        t.model_backward_and_update(loss)
        first = loss.item() if first is None else first
    with torch.no_grad():
        loss, logits = t.compute_loss(feats, labels)
    acc = (logits.argmax(1) == labels).float().mean().item()
    assert loss.item() < 0.7 * first
    assert acc > 2.0 / len(CLASSES)  # chance is 1/6


def test_csc_context_refuses_another_label_space(tmp_path, color_root):
    base_out = tmp_path / "csc"
    run_main("CoOp", color_root, base_out, opts=["TRAINER.COOP.CSC", "True", "TRAINER.COOP.N_CTX", "2",
                                                 "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "1"])
    with pytest.raises(ValueError, match="class-specific context"):
        run_main("CoOp", color_root, tmp_path / "all", eval_only=True, model_dir=base_out, load_epoch=1,
                 opts=["TRAINER.COOP.CSC", "True", "TRAINER.COOP.N_CTX", "2"])


def test_load_model_rejects_a_checkpoint_without_context(tmp_path, color_root):
    from shipclip.infra.checkpoint import save_checkpoint

    t = run_main("CoOp", color_root, tmp_path / "out", no_train=True, opts=["TRAINER.COOP.N_CTX", "4"])
    save_checkpoint({"state_dict": {"token_prefix": torch.zeros(1)}, "epoch": 1}, str(tmp_path / "bad" / "prompt_learner"))
    with pytest.raises(RuntimeError, match="missing keys \\['ctx'\\]"):
        t.load_model(str(tmp_path / "bad"), epoch=1)
