"""Synthesized features belong to the classes they are labelled with.

A synthesized row labelled with label-only class c must be the decode of c's *name*: the prompt
``[SOS] (ctx + r(z)) "<c>." [EOT]`` run through CLIP's text tower. The expected features are built
here from open_clip's own modules (token embedding, transformer with its causal mask, ln_final,
text projection) and the generator's raw weights (``reference_decode``), never through the
generator's or the trainer's code. Labels index the union list base + label-only, whose order is
CoCoOp's rule on the colour classes (first three base, last three new).
"""
import pytest
import torch
import torch.nn.functional as F

from shipclip_testing.fake_datasets import COLOR_CLASSES
from shipclip_testing.runs import run_main

BASE, NEW = list(COLOR_CLASSES[:3]), list(COLOR_CLASSES[3:])
UNION = BASE + NEW
LABEL_ONLY = {3, 4, 5}


@pytest.fixture(scope="module")
def ship_coop(color_root, tmp_path_factory):
    opts = ["TRAINER.SHIP.ENC_HIDDEN", "32", "TRAINER.SHIP.LATENT_DIM", "8", "TRAINER.SHIP.GEN_HIDDEN", "32",
            "TRAINER.SHIP.EPOCHS", "2", "TRAINER.SHIP.BATCH_SIZE", "8", "TRAINER.SHIP.N_CTX", "2",
            "TRAINER.COOP.N_CTX", "2", "DATASET.SUBSAMPLE_CLASSES", "base"]
    t = run_main("SHIP_CoOp", color_root, tmp_path_factory.mktemp("ship_coop"), no_train=True, opts=opts)
    t.prepare_generator()
    with torch.no_grad():  # make the latent matter: a bias of the size of the context, not 0.02-scale noise
        t.generator.bias_mlp.fc1.weight.mul_(20)
        t.generator.bias_mlp.fc2.weight.mul_(20)
    return t


def test_label_space_is_base_then_label_only(ship_coop):
    assert ship_coop.get_train_classnames() == UNION
    assert ship_coop.generator.classnames == UNION


def test_stage2_synthetic_rows_are_decodes_of_their_label_only_names(ship_coop, latents, reference_decode):
    latents.clear()
    with torch.no_grad():
        features, labels = ship_coop.synthesize_batch(24)
        (z,) = latents  # the latents drawn for these rows
        assert set(labels.tolist()) == LABEL_ONLY  # uniform over the label-only classes: all three appear in 24
        expected = reference_decode(ship_coop.generator, ship_coop.clip_model, z, [UNION[c] for c in labels.tolist()])
        base_names = reference_decode(ship_coop.generator, ship_coop.clip_model, z, [UNION[c - 3] for c in labels.tolist()])
    assert torch.allclose(features, expected, atol=2e-5)
    assert (features - base_names).abs().max() > 1e-3  # the comparison tells names apart


def test_union_batch_keeps_real_rows_and_labels_synthetic_rows_by_their_names(ship_coop, latents, record_calls,
                                                                              reference_decode, prompt_features):
    from shipclip.trainers.base import ClipTrainer

    seen = record_calls(ClipTrainer, "compute_loss", lambda self, args, result: (args[0].clone(), args[1].clone()))
    real = F.normalize(torch.randn(6, ship_coop.dim("embed_dim"), generator=torch.Generator().manual_seed(0)), dim=-1)
    real_labels = torch.tensor([0, 1, 2, 2, 1, 0])
    latents.clear()
    with torch.no_grad():
        loss, logits = ship_coop.compute_loss(real, real_labels)
    ((rows, labels),) = seen  # what the base method's loss was given
    (z,) = latents
    assert torch.equal(rows[:6], real) and torch.equal(labels[:6], real_labels)  # base rows and labels untouched
    syn_labels = labels[6:].tolist()
    assert len(syn_labels) == 6 and set(syn_labels) <= LABEL_ONLY  # SYN_RATIO 1.0, label-only indices only
    with torch.no_grad():
        decoded = reference_decode(ship_coop.generator, ship_coop.clip_model, z, [UNION[c] for c in syn_labels])
        text = prompt_features(ship_coop.clip_model, UNION, ship_coop.prompt_learner.ctx)  # CoOp's classifier
        scale = ship_coop.clip_model.logit_scale.exp().float()
        expected_logits = scale * torch.cat([real, decoded]) @ text.T
    assert torch.allclose(rows[6:], decoded, atol=2e-5)
    assert torch.allclose(loss, F.cross_entropy(expected_logits, labels), atol=1e-4)
    assert torch.allclose(logits, expected_logits[:6], atol=1e-3)  # the logits reported are the real rows'


def test_tip_adapter_cache_entries_are_decodes_of_their_names(color_root, tmp_path, reference_decode):
    """SHIP_TipAdapter's synthesized cache entries: the entry's class name is the name its key was decoded from.

    ``synthesize`` documents its latents: one CPU draw ``torch.randn((C * n, L))`` from a generator seeded with
    the run's seed, class-major.
    """
    t = run_main("SHIP_TipAdapter", color_root, tmp_path / "tip", opts=[
        "TRAINER.SHIP.ENC_HIDDEN", "32", "TRAINER.SHIP.LATENT_DIM", "8", "TRAINER.SHIP.GEN_HIDDEN", "32",
        "TRAINER.SHIP.EPOCHS", "2", "TRAINER.SHIP.BATCH_SIZE", "8", "TRAINER.SHIP.N_CTX", "2",
        "TRAINER.SHIP.SYN_PER_CLASS", "3", "TRAINER.TIP.AUGMENT_EPOCH", "1", "TRAINER.TIP.SEARCH_STEP", "[2, 2]",
        "DATASET.SUBSAMPLE_CLASSES", "base"], seed=4)
    names = t.tip.classnames[-9:]
    assert names == [name for name in NEW for _ in range(3)]
    z = torch.randn((9, 8), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = reference_decode(t.generator, t.clip_model, z, names)
    assert torch.allclose(t.tip.keys[-9:].float(), expected, atol=2e-5)
