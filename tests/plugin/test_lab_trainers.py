"""SHIP+<Name>: SHIP on a lab's own CoOp-style trainer (written in shipclip_testing.lab_code), through train.py."""
import copy
import os

import pytest
import torch

from shipclip_testing.fake_datasets import COLOR_CLASSES
from shipclip_testing.lab_code import LAB_DATASET, register_lab_code
from shipclip_testing.models import save_tiny_checkpoint, tiny_clip
from shipclip_testing.runs import read_results, run_main

BASE, NEW = list(COLOR_CLASSES[:3]), list(COLOR_CLASSES[3:])
SMALL_SHIP = ["TRAINER.SHIP.ENC_HIDDEN", "32", "TRAINER.SHIP.LATENT_DIM", "8", "TRAINER.SHIP.GEN_HIDDEN", "32",
              "TRAINER.SHIP.EPOCHS", "2", "TRAINER.SHIP.BATCH_SIZE", "8", "TRAINER.SHIP.N_CTX", "2",
              "TRAINER.SHIP.GEN_VIEWS", "1"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The tiny backbone's weights as a file: the lab's model and SHIP's generator load the same CLIP."""
    folder = tmp_path_factory.mktemp("lab_weights")
    return save_tiny_checkpoint(tiny_clip(str(folder), "vit"), str(folder / "tiny-vit.pt"))


def lab_run(trainer, root, out, weights, opts=(), **kwargs):
    register_lab_code()
    return run_main(trainer, root, out, opts=SMALL_SHIP + ["DATASET.NAME", LAB_DATASET, "MODEL.BACKBONE.PRETRAINED",
                                                          str(weights)] + list(opts), **kwargs)


@pytest.fixture(scope="module")
def trained(color_root, weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("ship_lab_coop")
    trainer = lab_run("SHIP+LabCoOp", color_root, out, weights,
                      opts=["OPTIM.MAX_EPOCH", "2", "DATASET.SUBSAMPLE_CLASSES", "base"])
    return trainer, out


def test_lab_model_is_built_over_base_then_label_only(trained):
    t, _ = trained
    assert type(t).__name__ == "SHIP+LabCoOp" and type(t).SHIP_BASE.__name__ == "LabCoOp"
    assert t.ship_label_only == NEW
    assert t.ship_model_classnames == BASE + NEW
    assert t.model.prompt_learner.n_cls == 6 and t.model.prompt_learner.token_prefix.shape[0] == 6
    assert list(t.dm.dataset.classnames) == BASE  # the dataset got its own class list back


def test_base_test_images_are_classified_among_base_classes(trained):
    t, _ = trained
    t.set_model_mode("eval")
    images, labels = t.parse_batch_test(next(iter(t.test_loader)))
    with torch.no_grad():
        assert t.model_inference(images).shape == (images.shape[0], len(BASE))
    assert labels.max() < len(BASE)


def test_synthesized_label_only_rows_enter_the_lab_loss(trained):
    from shipclip.ship.feature_batch import FeatureBatch

    t, _ = trained
    assert t.seen_batches, "the lab's forward_backward never ran"
    for image_type, labels, _ in t.seen_batches:
        assert issubclass(image_type, FeatureBatch)
        n_real = labels.shape[0] // 2  # SYN_RATIO 1: as many synthesized rows as real ones
        assert labels[:n_real].max() < 3
        assert labels[n_real:].min() >= 3 and labels[n_real:].max() <= 5


def test_label_only_rows_are_the_generator_samples(trained):
    """The first batch of epoch 1 holds exactly what the generator draws after the epoch's reseed."""
    t, _ = trained
    _, labels, images = t.seen_batches[0]
    n_real = labels.shape[0] // 2
    t.ship_rng.manual_seed(t._ship_seed() * 100003 + 0 * 101)
    features, syn_labels = t.ship_synthesize(n_real)
    assert torch.equal(syn_labels, labels[n_real:])
    assert torch.allclose(features.cpu(), images[n_real:], atol=1e-6)


def _one_step_delta(t, step, batch):
    """The change of the context made by ``step(batch)``, with the weights and the optimizer restored after."""
    learner = t.model.prompt_learner
    saved, optim = copy.deepcopy(learner.state_dict()), copy.deepcopy(t.optim.state_dict())
    ctx = learner.ctx.detach().clone()
    t.set_model_mode("train")
    t.batch_idx, t.num_batches = 0, 2  # not the last batch: no scheduler step
    step(batch)
    delta = learner.ctx.detach() - ctx
    learner.load_state_dict(saved)
    t.optim.load_state_dict(optim)
    return delta


def test_label_only_rows_change_the_context_update(trained):
    t, _ = trained
    batch = next(iter(t.train_loader_x))
    without_ship = _one_step_delta(t, lambda b: type(t).SHIP_BASE.forward_backward(t, b), batch)
    t.ship_rng.manual_seed(0)
    with_ship = _one_step_delta(t, t.forward_backward, batch)
    assert without_ship.abs().sum() > 0 and with_ship.abs().sum() > 0
    assert not torch.allclose(without_ship, with_ship)


def test_generator_is_saved_with_the_union_classes(trained):
    from shipclip.infra.checkpoint import load_checkpoint

    _, out = trained
    saved = load_checkpoint(os.path.join(str(out), "generator", "model.pth.tar-2"))
    assert saved["ship"]["classnames"] == BASE + NEW and saved["ship"]["trainer"] == "SHIP+LabCoOp"


def test_training_records_base_accuracy_with_provenance(trained):
    _, out = trained
    results = read_results(out)
    (evaluation,) = results["evaluations"]
    assert (evaluation["classes"], evaluation["epoch"], evaluation["metrics"]["total"]) == ("base", 2, 12)
    run = results["run"]
    assert run["trainer"] == "SHIP+LabCoOp" and run["label_only"] == "new" and run["eval_only"] is False
    assert run["train_py"].endswith("train.py")


def test_eval_only_on_new_classes(trained, color_root, weights, tmp_path):
    _, model_dir = trained
    t = lab_run("SHIP+LabCoOp", color_root, tmp_path / "new", weights, opts=["DATASET.SUBSAMPLE_CLASSES", "new"],
                eval_only=True, model_dir=model_dir, load_epoch=2)
    assert t.ship_label_only == [] and t.ship_model_classnames == NEW
    (evaluation,) = read_results(tmp_path / "new")["evaluations"]
    assert evaluation["classes"] == "new" and evaluation["metrics"]["total"] == 12
    assert read_results(tmp_path / "new")["run"]["load_epoch"] == 2


def parse_test_res(log_path, keyword, end_signal):
    """CoOp's parse_test_res.py reading of one log.txt (its regex and end-signal rule, per the spec)."""
    import re

    regex = re.compile(rf"\* {keyword}: ([\.\deE+-]+)%")
    value, go = None, False
    with open(log_path) as f:
        for line in f:
            line = line.strip()
            if line == end_signal:
                go = True
            match = regex.search(line)
            if match and go:
                value = float(match.group(1))
    return value


def test_joint_evaluation_lines_parse_like_coop(trained, color_root, weights, tmp_path):
    _, model_dir = trained
    out = tmp_path / "joint"
    lab_run("SHIP+LabCoOp", color_root, out, weights, opts=["DATASET.SUBSAMPLE_CLASSES", "all", "TEST.JOINT", "True"],
            eval_only=True, model_dir=model_dir, load_epoch=2)
    (evaluation,) = read_results(out)["evaluations"]
    metrics = evaluation["metrics"]
    assert evaluation["classes"] == "joint" and metrics["total"] == 24
    assert (metrics["num_seen_classes"], metrics["num_unseen_classes"]) == (3, 3)
    for keyword, key in (("accuracy", "accuracy"), ("error", "error_rate"), ("macro_f1", "macro_f1"),
                         ("seen", "seen"), ("unseen", "unseen"), ("harmonic", "harmonic")):
        parsed = parse_test_res(out / "log.txt", keyword, "=> result")
        assert parsed == round(metrics[key], 1), keyword


@pytest.mark.parametrize("trainer, message", [
    ("SHIP+LabPromptedEncoder", r"MaPLe passes its vision prompts.*\(clause 3"),
    ("SHIP+LabTrainableEncoder", r"image_encoder has trainable parameters \(ln_post.weight\).*\(clause 3"),
])
def test_trainer_that_breaks_the_contract_is_refused(color_root, weights, tmp_path, trainer, message):
    from shipclip.ship.lab_contract import ShipContractError

    with pytest.raises(ShipContractError, match=message):
        lab_run(trainer, color_root, tmp_path / "refused", weights, opts=["DATASET.SUBSAMPLE_CLASSES", "base"])


def test_generator_clip_must_reproduce_the_lab_encoder(color_root, tmp_path):
    """Random weights drawn twice are two different CLIPs: SHIP refuses instead of synthesizing elsewhere."""
    from shipclip.ship.lab_contract import ShipContractError

    register_lab_code()
    with pytest.raises(ShipContractError, match="does not reproduce your model.image_encoder"):
        run_main("SHIP+LabCoOp", color_root, tmp_path / "other", opts=SMALL_SHIP + [
            "DATASET.NAME", LAB_DATASET, "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "1"])


def test_project_trainers_are_not_wrapped():
    from shipclip.ship.lab_contract import ShipContractError
    from shipclip.ship.lab_registry import is_lab_trainer, ship_variant
    from shipclip.trainers.coop import CoOp

    assert not is_lab_trainer(CoOp)
    with pytest.raises(ShipContractError, match="use SHIP_CoOp"):
        ship_variant(CoOp)


def test_unknown_trainer_is_named():
    from shipclip.ship.lab_registry import ensure_ship_variant

    with pytest.raises(KeyError, match='no trainer named "NoSuchTrainer" is registered'):
        ensure_ship_variant("SHIP+NoSuchTrainer")


def test_plugin_makes_ship_variants_for_lab_trainers_only():
    from shipclip.backend import TRAINER_REGISTRY
    from shipclip.ship.lab_registry import register_ship_variants
    from shipclip_testing.runs import register_components

    register_lab_code()
    register_components()
    register_ship_variants()
    names = TRAINER_REGISTRY.registered_names()
    assert {"SHIP+LabCoOp", "SHIP+LabPromptedEncoder", "SHIP+LabTrainableEncoder"} <= set(names)
    assert not any(n.startswith("SHIP+") and n[5:] in ("CoOp", "CoCoOp", "ZeroshotCLIP", "TipAdapterF") for n in names)
