"""SHIP trainers: stage 1 fits/loads the generator, stage 2 mixes synthesized label-only features."""
import os

import pytest
import torch

from shipclip_testing.fake_datasets import COLOR_CLASSES as CLASSES
from shipclip_testing.runs import read_results, run_main

BASE, NEW = list(CLASSES[:3]), list(CLASSES[3:])
SMALL_SHIP = ["TRAINER.SHIP.ENC_HIDDEN", "32", "TRAINER.SHIP.LATENT_DIM", "8", "TRAINER.SHIP.GEN_HIDDEN", "32",
              "TRAINER.SHIP.EPOCHS", "2", "TRAINER.SHIP.BATCH_SIZE", "8", "TRAINER.SHIP.N_CTX", "2",
              "TRAINER.SHIP.SYN_PER_CLASS", "3", "TRAINER.TIP.AUGMENT_EPOCH", "1",
              "TRAINER.TIP.SEARCH_STEP", "[4, 3]", "TRAINER.COOP.N_CTX", "2", "TRAINER.COCOOP.N_CTX", "2"]


def register_ship():
    from shipclip.backend import TRAINER_REGISTRY
    from shipclip.registration import TRAINERS, resolve

    for name, target in TRAINERS.items():
        if name.startswith("SHIP_") and name not in TRAINER_REGISTRY.registered_names():
            TRAINER_REGISTRY.register(resolve(target))


def ship_run(trainer, root, out, opts=(), **kwargs):
    register_ship()
    return run_main(trainer, root, out, opts=SMALL_SHIP + ["OPTIM.MAX_EPOCH", "1"] + list(opts), **kwargs)


@pytest.fixture(scope="module")
def coop_base(color_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("ship_coop")
    return ship_run("SHIP_CoOp", color_root, out, opts=["DATASET.SUBSAMPLE_CLASSES", "base"]), out


def test_label_space_is_base_then_label_only(coop_base):
    t, _ = coop_base
    assert t.get_train_classnames() == BASE + NEW
    assert t.label_only_indices().tolist() == [3, 4, 5]
    assert t.prompt_learner.n_cls == len(BASE) + len(NEW)
    assert t.generator.classnames == BASE + NEW


def test_compute_loss_appends_synthetic_label_only_rows(coop_base, monkeypatch):
    """The base method's loss receives the real rows untouched plus as many label-only rows, and the loss is the
    cross-entropy of CoOp's classifier over base + label-only names, computed here with open_clip's own modules."""
    import open_clip
    import torch.nn.functional as F

    from shipclip.trainers.base import ClipTrainer

    t, _ = coop_base
    received = []
    base_loss = ClipTrainer.compute_loss

    def record(self, features, labels):
        received.append((features.clone(), labels.clone()))
        return base_loss(self, features, labels)

    monkeypatch.setattr(ClipTrainer, "compute_loss", record)
    feats = F.normalize(torch.randn(5, t.dim("embed_dim"), generator=torch.Generator().manual_seed(0)), dim=-1)
    labels = torch.tensor([0, 1, 2, 0, 1])
    with torch.no_grad():
        loss, logits = t.compute_loss(feats, labels)
    ((rows, all_labels),) = received
    assert torch.equal(rows[:5], feats) and torch.equal(all_labels[:5], labels)
    assert all_labels.shape == (10,) and set(all_labels[5:].tolist()) <= {3, 4, 5}  # SYN_RATIO 1.0, label-only only
    model, ctx = t.clip_model, t.prompt_learner.ctx.detach()
    names = BASE + NEW
    tokens = open_clip.tokenize([" ".join(["X"] * ctx.shape[0]) + f" {name}." for name in names])
    with torch.no_grad():
        embedded = model.token_embedding(tokens)
        x = torch.cat([embedded[:, :1], ctx.expand(len(names), -1, -1), embedded[:, 1 + ctx.shape[0]:]], dim=1)
        x = model.ln_final(model.transformer(x + model.positional_embedding, attn_mask=model.attn_mask))
        text = F.normalize(x[torch.arange(len(names)), tokens.argmax(dim=-1)] @ model.text_projection, dim=-1)
        ref_logits = model.logit_scale.exp() * rows @ text.T
    assert torch.allclose(loss, F.cross_entropy(ref_logits, all_labels), atol=1e-4)
    assert logits.shape == (5, 6) and torch.allclose(logits, ref_logits[:5], atol=1e-3)


def test_training_writes_generator_checkpoint_and_base_results(coop_base):
    t, out = coop_base
    assert (out / "generator" / "checkpoint").read_text().strip() == "model.pth.tar-2"
    state = torch.load(out / "generator" / "model.pth.tar-2", weights_only=True)["state_dict"]
    assert all(not k.startswith(("_frozen", "text")) for k in state)  # never CLIP's weights
    (evaluation,) = read_results(out)["evaluations"]
    assert (evaluation["split"], evaluation["classes"], evaluation["metrics"]["total"]) == ("test", "base", 4 * 3)


def test_eval_only_on_new_classes(coop_base, color_root, tmp_path):
    trained, base_out = coop_base
    t = ship_run("SHIP_CoOp", color_root, tmp_path / "new", eval_only=True, model_dir=base_out, load_epoch=1,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "new"])
    assert torch.equal(t.prompt_learner.ctx, trained.prompt_learner.ctx)
    (evaluation,) = read_results(tmp_path / "new")["evaluations"]
    assert (evaluation["classes"], evaluation["metrics"]["total"]) == ("new", 4 * 3)
    assert getattr(t, "generator", None) is None  # evaluation never needs the generator


def test_same_seed_same_synthesis_and_generator_reuse(coop_base, color_root, tmp_path):
    from shipclip.ship import synthesize

    trained, base_out = coop_base
    t = ship_run("SHIP_CoOp", color_root, tmp_path / "reuse", no_train=True,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SHIP.GENERATOR_DIR", str(base_out)])
    t.prepare_generator()
    for key, value in trained.generator.state_dict().items():
        assert torch.equal(value, t.generator.state_dict()[key]), key
    a, la = synthesize(t.generator, [3, 4, 5], 4, seed=7)
    b, lb = synthesize(trained.generator, [3, 4, 5], 4, seed=7)
    c, _ = synthesize(trained.generator, [3, 4, 5], 4, seed=8)
    assert torch.allclose(a, b, atol=1e-6) and torch.equal(la, lb) and not torch.allclose(a, c)
    assert not (tmp_path / "reuse" / "generator").exists()  # nothing fitted, nothing saved


def test_generator_dir_without_generator_is_a_clear_error(color_root, tmp_path):
    t = ship_run("SHIP_CoOp", color_root, tmp_path / "x", no_train=True,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SHIP.GENERATOR_DIR", str(tmp_path / "nothing")])
    with pytest.raises(FileNotFoundError, match="no saved generator"):
        t.prepare_generator()


def test_label_only_from_file(color_root, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("# label-only classes\npurple\n\ncyan\nred\n")
    t = ship_run("SHIP_CoOp", color_root, tmp_path / "x", no_train=True,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SHIP.LABEL_ONLY", str(names)])
    assert t.get_train_classnames() == BASE + ["purple", "cyan"]  # "red" is a base class: not label-only
    dup = tmp_path / "dup.txt"
    dup.write_text("cyan\nCyan\n")
    with pytest.raises(ValueError, match="more than once"):
        ship_run("SHIP_CoOp", color_root, tmp_path / "y", no_train=True,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SHIP.LABEL_ONLY", str(dup)])


def test_ship_tip_adapter_cache_holds_synthesized_new_entries(color_root, tmp_path):
    t = ship_run("SHIP_TipAdapter", color_root, tmp_path / "tip", opts=["DATASET.SUBSAMPLE_CLASSES", "base"])
    names = t.tip.classnames
    assert names.count("purple") == 3 and names.count("yellow") == 3 and names.count("orange") == 3
    assert sum(n in BASE for n in names) == 4 * 3  # 4 shots x 3 base classes
    out = tmp_path / "tip_new"
    e = ship_run("SHIP_TipAdapter", color_root, out, eval_only=True, model_dir=tmp_path / "tip",
                 opts=["DATASET.SUBSAMPLE_CLASSES", "new"])
    assert e.tip.classnames == names
    values = e.cache_values(NEW)
    assert int(values.sum()) == 9  # the synthesized entries contribute to new-class logits
    (evaluation,) = read_results(out)["evaluations"]
    assert evaluation["classes"] == "new"


@pytest.mark.parametrize("trainer", ["SHIP_CoCoOp", "SHIP_TipAdapterF"])
def test_other_ship_trainers_train_and_evaluate_new(trainer, color_root, tmp_path):
    base_out = tmp_path / "base"
    t = ship_run(trainer, color_root, base_out, opts=["DATASET.SUBSAMPLE_CLASSES", "base"])
    assert t.get_train_classnames() == BASE + NEW
    assert os.path.isfile(base_out / "generator" / "checkpoint")
    ship_run(trainer, color_root, tmp_path / "new", eval_only=True, model_dir=base_out,
             opts=["DATASET.SUBSAMPLE_CLASSES", "new"])
    (evaluation,) = read_results(tmp_path / "new")["evaluations"]
    assert evaluation["classes"] == "new" and evaluation["metrics"]["total"] == 12


def test_global_only_ablation_gives_bias_no_gradient(color_root, tmp_path):
    t = ship_run("SHIP_CoOp", color_root, tmp_path / "x", no_train=True,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SHIP.USE_BIAS", "False"])
    from shipclip.ship import build_generator_from_cfg

    gen = build_generator_from_cfg(t.cfg, t.clip_model, t.tokenizer, t.get_train_classnames())
    feats = torch.nn.functional.normalize(torch.randn(4, t.dim("embed_dim")), dim=-1)
    gen(feats, torch.tensor([0, 1, 2, 0]))["loss"].backward()
    assert all(p.grad is None or not p.grad.abs().any() for p in gen.bias_mlp.parameters())
    assert gen.ctx.grad is not None and gen.ctx.grad.abs().sum() > 0
