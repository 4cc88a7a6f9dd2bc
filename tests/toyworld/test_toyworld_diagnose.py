"""The diagnosis command end to end on a quick ToyWorld with a tiny random CLIP and a saved tiny generator."""
import json

import pytest
import torch
import torch.nn.functional as F

from shipclip.clip.loader import load_clip
from shipclip.config import get_cfg
from shipclip.infra.checkpoint import save_checkpoint
from shipclip.ship import build_generator_from_cfg, fit_generator, synthesize
from shipclip.toyworld import diagnose
from shipclip.toyworld.build import build_dataset, build_design_split
from shipclip.toyworld.data import classnames as read_classnames, read_split
from shipclip.toyworld.evaluate import encode_images, encode_texts, load_micro_clip
from shipclip.toyworld.world import quick_world
from shipclip_testing.models import save_tiny_checkpoint, write_tiny_config

QUIET = dict(progress=False, log=lambda *a: None)
SIZES = ["TRAINER.SHIP.ENC_HIDDEN", "16", "TRAINER.SHIP.LATENT_DIM", "4", "TRAINER.SHIP.GEN_HIDDEN", "16",
         "TRAINER.SHIP.N_CTX", "2"]
PER_CLASS = 6


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A quick world (design split included), a tiny CLIP saved to a file, and a SHIP run folder with a generator."""
    tmp = tmp_path_factory.mktemp("diagnose")
    world = quick_world()
    build_dataset(tmp / "data", world, seed=1, counts={"train": 3, "val": 1, "test": 1}, **QUIET)
    build_design_split(tmp / "data", world, seed=1, count=4, **QUIET)
    backbone = write_tiny_config(tmp, "vit", name="toyworld-diagnose-tiny")
    torch.manual_seed(0)
    weights = save_tiny_checkpoint(load_clip(backbone, pretrained="none"), tmp / "tiny.pt")

    model, transform, tokenizer = load_micro_clip(backbone, weights)
    cfg = get_cfg()
    cfg.merge_from_list(SIZES)
    generator = build_generator_from_cfg(cfg, model, tokenizer, world.classnames)
    paths, labels, _ = read_split(tmp / "data" / "toyworld", "train")
    feats = encode_images(model, transform, paths, progress=False)
    fit_generator(generator, feats, torch.tensor(labels), epochs=2, batch_size=16, seed=0, log=None, progress=False)
    run = tmp / "run"
    run.mkdir()
    state = {"state_dict": generator.state_dict(), "epoch": 2, "optimizer": None, "scheduler": None,
             "val_result": None, "ship": {"generator": "prompt", "classnames": world.classnames, "trainer": "SHIP_CoOp"}}
    save_checkpoint(state, run / "generator")
    # The run's own overrides, as train.py records them: diagnose must rebuild the same sizes from them.
    (run / "results.json").write_text(json.dumps({"run": {"opts": SIZES + ["OPTIM.MAX_EPOCH", "1"]}}))
    return {"root": tmp / "data", "backbone": backbone, "weights": weights, "run": run, "generator": generator,
            "model": (model, transform, tokenizer), "tmp": tmp}


def _argv(setup, *extra):
    return ["--root", str(setup["root"]), "--backbone", str(setup["backbone"]), "--weights", str(setup["weights"]),
            "--generator", str(setup["run"]), "--per-class", str(PER_CLASS), "--threads", "1", *extra]


def test_cli_prints_a_table_and_writes_consistent_json(setup, tmp_path, capsys):
    out = tmp_path / "diag.json"
    assert diagnose.main(_argv(setup, "--json", str(out))) == 0
    printed = capsys.readouterr().out
    assert "SHIP diagnosis: design split" in printed and "within-class pairwise cosine" in printed
    result = json.loads(out.read_text())
    world = quick_world()
    assert result["classes"] == world.num_classes and result["base_classes"] == world.num_base
    assert result["images"] == 4 * world.num_classes and result["role"] == "ci"
    assert result["generator"]["latent_dim"] == 4 and result["generator"]["opts"][:len(SIZES)] == SIZES
    for half in ("base", "new"):
        summary = result["summary"][half]
        for key, value in summary.items():
            assert value == value, key  # no NaN
            if key.startswith(("zero_shot", "nearest")):
                assert 0.0 <= value <= 1.0
            else:
                assert -1.0 - 1e-6 <= value <= 1.0 + 1e-6
        terms = result["generator_terms"][half]
        assert terms["recon"] == pytest.approx(2 - 2 * terms["cosine"], abs=1e-4)  # unit vectors
        assert 0 <= terms["active_units"] <= terms["latent_dim"] == 4
        # Per-class values are keyed by class name and average to the summary.
        names = world.base_classnames if half == "base" else world.new_classnames
        per_class = result["per_class"][half]["zero_shot_syn"]
        assert sorted(per_class) == sorted(names)
        assert summary["zero_shot_syn"] == pytest.approx(sum(per_class.values()) / len(per_class))


def test_rates_and_cosines_match_an_independent_computation(setup):
    """Recompute, with plain loops, the label-only half's zero-shot rates and own-class cosines."""
    result = diagnose.diagnose(setup["root"], setup["backbone"], setup["weights"], setup["run"],
                               per_class=PER_CLASS, seed=3, progress=False)
    model, transform, tokenizer = setup["model"]
    folder = setup["root"] / "toyworld"
    classnames = read_classnames(folder)
    n, n_base = len(classnames), quick_world().num_base
    new = list(range(n_base, n))
    text = encode_texts(model, tokenizer, classnames)
    syn, syn_y = synthesize(setup["generator"], list(range(n)), PER_CLASS, seed=3)
    syn = F.normalize(syn.float(), dim=-1)
    paths, labels, _ = read_split(folder, "design")
    real = encode_images(model, transform, paths, progress=False)
    real_y = torch.tensor(labels)

    rates, real_rates, own = [], [], []
    for c in new:
        rows = [i for i in range(len(syn_y)) if int(syn_y[i]) == c]
        hits = [max(new, key=lambda k: float(syn[i] @ text[k])) == c for i in rows]
        rates.append(sum(hits) / len(hits))
        real_rows = [j for j in range(len(real_y)) if int(real_y[j]) == c]
        real_hits = [max(new, key=lambda k: float(real[j] @ text[k])) == c for j in real_rows]
        real_rates.append(sum(real_hits) / len(real_hits))
        own.append(sum(float(syn[i] @ real[j]) for i in rows for j in real_rows) / (len(rows) * len(real_rows)))
    summary = result["summary"]["new"]
    assert summary["zero_shot_syn"] == pytest.approx(sum(rates) / len(rates))
    assert summary["zero_shot_real"] == pytest.approx(sum(real_rates) / len(real_rates))
    assert summary["cosine_syn.own"] == pytest.approx(sum(own) / len(own), abs=1e-5)


def test_generator_of_another_world_is_refused(setup, tmp_path):
    other = tmp_path / "other"
    world = quick_world()
    build_dataset(other, world.__class__(colors=("red", "blue"), shapes=("circle", "star", "moon")), seed=1,
                  counts={"train": 1, "val": 1, "test": 1}, **QUIET)
    build_design_split(other, world.__class__(colors=("red", "blue"), shapes=("circle", "star", "moon")), seed=1,
                       count=2, **QUIET)
    with pytest.raises(ValueError, match="fitted on 16 classes"):
        diagnose.diagnose(other, setup["backbone"], setup["weights"], setup["run"], per_class=2, progress=False)


def test_reported_test_split_needs_the_explicit_flag(setup, tmp_path, capsys):
    # Same classes, another dataset seed: matches no named world, so it counts as reported.
    root = tmp_path / "reported"
    build_dataset(root, quick_world(), seed=77, counts={"train": 1, "val": 1, "test": 2}, **QUIET)
    build_design_split(root, quick_world(), seed=77, count=2, **QUIET)
    argv = ["--root", str(root), "--backbone", str(setup["backbone"]), "--weights", str(setup["weights"]),
            "--generator", str(setup["run"]), "--per-class", "2", "--threads", "1"]
    assert diagnose.main(argv + ["--split", "test"]) == 2
    assert "reported world" in capsys.readouterr().err
    assert diagnose.main(argv + ["--split", "test", "--allow-reported"]) == 0
    assert "WARNING" in capsys.readouterr().err
    assert diagnose.main(argv) == 0  # its design split is always open


def test_missing_generator_names_the_expected_files(setup, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        diagnose.generator_folder(tmp_path)
    assert diagnose.generator_folder(setup["run"]) == setup["run"] / "generator"
    assert diagnose.generator_folder(setup["run"] / "generator") == setup["run"] / "generator"
