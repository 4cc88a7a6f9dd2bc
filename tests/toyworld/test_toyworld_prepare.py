"""The prepare CLI (machine-readable last lines) and the zero-shot report on its output."""
import math

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
    assert math.isclose(result["chance"]["all"], 1 / 16) and math.isclose(result["chance"]["base"], 1 / 8)
    for value in (*result["zero_shot"].values(), *result["zero_shot_attributes"].values(),
                  result["linear_probe_base"]["accuracy"]):
        assert 0.0 <= value <= 1.0


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
