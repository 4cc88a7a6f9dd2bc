"""The prepare CLI (machine-readable last lines) and the zero-shot report on its output."""
import json
import math
from pathlib import Path

import pytest

from shipclip.toyworld import evaluate, prepare


def _run(capsys, *args):
    code = prepare.main([*args, "--quick", "--steps", "2", "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out.strip().splitlines(), captured.err


def test_prepare_builds_then_reuses_and_prints_paths(tmp_path, cache, capsys):
    root = tmp_path / "data"
    code, out, _ = _run(capsys, "--root", str(root))
    assert code == 0
    keys = [line.split("=", 1)[0] for line in out[-3:]]
    assert keys == ["TOYWORLD_ROOT", "TOYWORLD_BACKBONE", "TOYWORLD_WEIGHTS"]
    values = dict(line.split("=", 1) for line in out[-3:])
    assert values["TOYWORLD_ROOT"] == str(root.resolve())
    assert (root / "toyworld" / "split_zhou_ToyWorld.json").is_file()
    weights = cache / values["TOYWORLD_WEIGHTS"].rsplit("/", 1)[1]
    assert weights.is_file() and values["TOYWORLD_BACKBONE"].endswith(".json")
    stamp = weights.stat().st_mtime_ns

    code, again, _ = _run(capsys, "--root", str(root))
    assert code == 0 and again[-3:] == out[-3:]
    assert any("reused" in line for line in again) and any("Reusing cached" in line for line in again)
    assert weights.stat().st_mtime_ns == stamp

    # A build with other settings in the same root is refused with a clear message.
    code, _, err = _run(capsys, "--root", str(root), "--seed", "2")
    assert code == 2 and "--force" in err and str(root.resolve()) in err

    result = evaluate.report(values["TOYWORLD_ROOT"], values["TOYWORLD_BACKBONE"], values["TOYWORLD_WEIGHTS"],
                             shots=4, progress=False)
    assert result["classes"] == 16 and result["base_classes"] == result["new_classes"] == 8
    assert result["split"] == "design" and result["role"] == "ci" and result["images"] == 6 * 16
    assert math.isclose(result["chance"]["all"], 1 / 16) and math.isclose(result["chance"]["base"], 1 / 8)
    for value in (*result["zero_shot"].values(), *result["zero_shot_attributes"].values(),
                  result["linear_probe_base"]["accuracy"]):
        assert 0.0 <= value <= 1.0
    inputs = ["--root", values["TOYWORLD_ROOT"], "--backbone", values["TOYWORLD_BACKBONE"],
              "--weights", values["TOYWORLD_WEIGHTS"], "--shots", "2", "--threads", "1"]
    assert evaluate.main([*inputs, "--split", "test"]) == 0  # the quick world is for tests: every split open
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["split"] == "test"
    assert evaluate.main(inputs[:2] + ["--split", "test"]) == 2  # --root without the model is an error


def test_default_root_follows_the_cache(cache):
    assert prepare.default_root() == cache.parent.resolve() / "data"
    assert prepare.default_root(quick=True) == cache.parent.resolve() / "data-quick"


def test_zero_shot_scores_each_half_among_its_own_classes():
    import torch

    text = torch.eye(4)
    images = torch.tensor([[1.0, 0, 0, 0], [0, 0.4, 0.6, 0], [0, 0, 0.2, 0.8], [0, 0, 1.0, 0]])
    labels = torch.tensor([0, 1, 2, 3])
    assert evaluate.zero_shot(images, labels, text, range(4))[0] == pytest.approx(0.25)  # only image 0 right
    assert evaluate.zero_shot(images, labels, text, [0, 1])[0] == pytest.approx(1.0)  # image 1 among {0, 1}
    assert evaluate.zero_shot(images, labels, text, [2, 3])[0] == pytest.approx(0.0)


def test_default_build_is_still_made_from_the_reported_inputs(cache):
    """The reported world's dataset and micro-CLIP must stay the same builds: dataset seed 1, the
    default counts and image size, 1000 default pretraining steps with seed 0 (docs/TOYWORLD.md)."""
    from shipclip.toyworld.build import DEFAULT_COUNTS, dataset_spec
    from shipclip.toyworld.pretrain import DEFAULT_SETTINGS, checkpoint_path, repo_config_path
    from shipclip.toyworld.world import default_world

    p = prepare.plan()
    assert p.spec.name == "default" and p.world == default_world()
    assert p.root == cache.parent.resolve() / "data"
    assert p.dataset_seed == 1 and p.counts == DEFAULT_COUNTS and p.settings == DEFAULT_SETTINGS
    assert DEFAULT_SETTINGS.seed == 0 and DEFAULT_SETTINGS.steps == 1000
    assert dataset_spec(p.world, p.dataset_seed, p.counts) == dataset_spec(default_world(), 1, DEFAULT_COUNTS)
    assert checkpoint_path(repo_config_path(), p.world, p.settings) == \
        checkpoint_path(repo_config_path(), default_world(), DEFAULT_SETTINGS)
    quick = prepare.plan(quick=True)
    assert quick.spec.name == "quick" and quick.dataset_seed == 1 and quick.settings.seed == 0


def test_named_worlds_get_their_own_seeds_roots_and_checkpoints(cache):
    from shipclip.toyworld.pretrain import checkpoint_path, repo_config_path
    from shipclip.toyworld.specs import DESIGN, VARIANTS

    plans = [prepare.plan(), prepare.plan(world="design"), *[prepare.plan(world=v.name) for v in VARIANTS]]
    assert plans[1].spec == DESIGN and plans[1].root.name == "data-design"
    assert plans[1].dataset_seed == DESIGN.dataset_seed and plans[1].settings.seed == DESIGN.pretrain_seed
    for p, variant in zip(plans[2:], VARIANTS):
        assert p.world == variant.world and p.root.name == f"data-{variant.name}"
        assert p.dataset_seed == variant.dataset_seed and p.settings.seed == variant.pretrain_seed
    assert len({p.root for p in plans}) == len(plans)
    assert len({checkpoint_path(repo_config_path(), p.world, p.settings) for p in plans}) == len(plans)
    # Seeds given on the command line override the world's; a JSON spec works like a named one.
    assert prepare.plan(world="design", seed=5, pretrain_seed=6).settings.seed == 6
    spec = '{"name": "mine", "colors": ["red", "blue"], "shapes": ["circle", "star"], "dataset_seed": 4, "pretrain_seed": 5}'
    mine = prepare.plan(world_spec=spec)
    assert mine.world.classnames == ["red circle", "blue star", "red star", "blue circle"]
    assert mine.dataset_seed == 4 and mine.settings.seed == 5 and mine.root.name == "data-mine"
    assert mine.spec.role == "reported"
    with pytest.raises(ValueError, match="not both"):
        prepare.plan(world="design", world_spec=spec)
    with pytest.raises(ValueError, match="Unknown ToyWorld"):
        prepare.plan(world="nowhere")


def test_prepare_builds_a_variant_with_its_design_split(tmp_path, cache, capsys):
    from shipclip.toyworld.build import DESIGN_FOLDER, DESIGN_SPLIT_FILE, MANIFEST_FILE, QUICK_COUNTS
    from shipclip.toyworld.specs import VARIANTS

    variant = VARIANTS[0]
    code, out, _ = _run(capsys, "--world", variant.name)
    assert code == 0
    values = dict(line.split("=", 1) for line in out[-3:])
    root = cache.parent.resolve() / f"data-quick-{variant.name}"
    assert values["TOYWORLD_ROOT"] == str(root)
    dataset = root / "toyworld"
    manifest = json.loads((dataset / MANIFEST_FILE).read_text())
    assert manifest["seed"] == variant.dataset_seed and manifest["world"]["colors"] == list(variant.world.colors)
    split = json.loads((dataset / "split_zhou_ToyWorld.json").read_text())
    assert {name for _, _, name in split["test"]} == set(variant.world.classnames)
    assert len(split["train"]) == QUICK_COUNTS["train"] * variant.world.num_classes
    design = json.loads((dataset / DESIGN_FOLDER / DESIGN_SPLIT_FILE).read_text())["design"]
    assert len(design) == 6 * variant.world.num_classes
    assert all((dataset / DESIGN_FOLDER / "images" / rel).is_file() for rel, _, _ in design)
    meta = json.loads(Path(values["TOYWORLD_WEIGHTS"]).with_suffix(".json").read_text())
    assert meta["settings"]["seed"] == variant.pretrain_seed and meta["world"]["shapes"] == list(variant.world.shapes)
