"""Rendering: same seed -> same bytes, other seed -> other images, shapes and colours drawn right."""
import dataclasses
import itertools

import numpy as np
import pytest

from shipclip.toyworld.build import build_dataset
from shipclip.toyworld.render import DOWNSTREAM, PRETRAIN, hue_rotation, render, shape_mask
from shipclip.toyworld.world import COLORS, SHAPES, quick_world


def _scenes(style, seed, n=24, size=32):
    rng = np.random.default_rng(seed)
    colors = np.arange(n) % len(COLORS)
    shapes = np.arange(n) % len(SHAPES)
    return render(colors, shapes, style, size, rng)[0]


@pytest.mark.parametrize("style", [PRETRAIN, DOWNSTREAM], ids=lambda s: s.name)
def test_render_is_deterministic_per_seed(style):
    a, b, c = _scenes(style, 7), _scenes(style, 7), _scenes(style, 8)
    assert a.dtype == np.uint8 and a.shape == (24, 32, 32, 3)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_chunked_rendering_matches_the_contract(monkeypatch):
    """More scenes than one chunk still render deterministically and completely."""
    import shipclip.toyworld.render as render_module

    monkeypatch.setattr(render_module, "CHUNK", 5)
    a, b = _scenes(PRETRAIN, 3, n=12), _scenes(PRETRAIN, 3, n=12)
    assert a.shape == (12, 32, 32, 3) and a.tobytes() == b.tobytes()


def test_dataset_bytes_are_deterministic_per_seed(tmp_path):
    world = quick_world()
    counts = {"train": 2, "val": 1, "test": 1}
    quiet = dict(progress=False, log=lambda *a: None)
    dirs = [build_dataset(tmp_path / name, world, seed=seed, counts=counts, **quiet)
            for name, seed in (("a", 5), ("b", 5), ("c", 6))]
    files = sorted(p.relative_to(dirs[0]) for p in dirs[0].rglob("*.png"))
    assert len(files) == world.num_classes * sum(counts.values())
    same = [(dirs[0] / f).read_bytes() == (dirs[1] / f).read_bytes() for f in files]
    other = [(dirs[0] / f).read_bytes() == (dirs[2] / f).read_bytes() for f in files]
    assert all(same)
    assert not any(other)
    assert (dirs[0] / "split_zhou_ToyWorld.json").read_bytes() == (dirs[1] / "split_zhou_ToyWorld.json").read_bytes()


def test_shapes_fit_the_unit_disk_and_differ_from_each_other():
    coords = np.linspace(-1.2, 1.2, 241, dtype=np.float32)
    u, v = np.meshgrid(coords, coords)
    masks = {s: shape_mask(s, u, v) for s in SHAPES}
    for shape, m in masks.items():
        assert m.mean() > 0.05, shape
        assert not m[u * u + v * v > 1.0].any(), f"{shape} leaves the unit disk"
    for a, b in itertools.combinations(SHAPES, 2):
        iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
        assert iou < 0.85, (a, b, iou)
    with pytest.raises(ValueError, match="hexagon"):
        shape_mask("hexagon", u, v)


@pytest.mark.parametrize("style", [PRETRAIN, DOWNSTREAM], ids=lambda s: s.name)
def test_main_object_shows_the_class_colour(style):
    n = 240
    colors = np.arange(n) % len(COLORS)
    shapes = np.zeros(n, dtype=np.int64)  # circles: the centre is always inside, on top of any clutter
    images, params = render(colors, shapes, style, 64, np.random.default_rng(0))
    palette = np.array(list(COLORS.values()), dtype=np.float32) @ hue_rotation(style.hue_shift).T
    centre = np.rint((np.stack([params["cx"], params["cy"]], axis=1) + 1) / 2 * 64 - 0.5).astype(int)
    patch = [images[i, y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(0) for i, (x, y) in enumerate(centre)]
    rgb = np.array(patch, dtype=np.float32)  # 3x3 mean: robust to pixel noise
    chroma = lambda x: x / x.sum(-1, keepdims=True)  # noqa: E731  (brightness-invariant)
    nearest = np.argmin(((chroma(rgb)[:, None, :] - chroma(palette)[None]) ** 2).sum(-1), axis=1)
    # Colour jitter may push a few objects towards a neighbouring hue, never most of them.
    assert (nearest == colors).mean() >= 0.9
    for k in range(len(COLORS)):
        assert np.bincount(nearest[colors == k], minlength=len(COLORS)).argmax() == k


def test_hue_rotation_keeps_gray_and_luma_and_composes():
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    m = hue_rotation(30.0)
    gray = np.array([[0, 0, 0], [128, 128, 128], [255, 255, 255]], dtype=np.float32)
    assert np.abs(gray @ m.T - gray).max() < 1e-3
    rgb = np.random.default_rng(0).uniform(0, 255, size=(50, 3)).astype(np.float32)
    assert np.abs((rgb @ m.T) @ luma - rgb @ luma).max() < 1e-2
    assert np.abs(rgb @ m.T @ hue_rotation(-30.0).T - rgb).max() < 1e-2
    assert np.abs(rgb @ np.linalg.matrix_power(hue_rotation(120.0), 3).T - rgb).max() < 1e-2
    assert np.abs(rgb @ m.T - rgb).max() > 20  # it does move colours
    assert np.allclose(hue_rotation(0.0), np.eye(3), atol=1e-6)


def test_downstream_colours_are_shifted_by_a_fixed_hue_rotation_pretraining_ones_are_not():
    assert PRETRAIN.hue_shift == 0.0 and DOWNSTREAM.hue_shift == 30.0
    n = 120
    colors = np.arange(n) % len(COLORS)
    flat = dataclasses.replace(DOWNSTREAM, hue_shift=0.0)
    a, _ = render(colors, np.zeros(n, int), DOWNSTREAM, 32, np.random.default_rng(3))
    b, _ = render(colors, np.zeros(n, int), flat, 32, np.random.default_rng(3))
    # Same draws: the shifted scene is the unshifted one turned by the matrix (then rounded and clipped).
    expected = np.clip(b.astype(np.float32) @ hue_rotation(30.0).T, 0, 255)
    inner = (expected > 12).all(-1) & (expected < 243).all(-1)  # away from clipping and noise at the bounds
    assert np.abs(a.astype(np.float32) - expected)[inner].mean() < 12  # noise is drawn after the rotation
    assert np.abs(a.astype(np.float32) - b.astype(np.float32)).mean() > 5


def test_pretraining_backgrounds_mix_plain_and_gradient_without_stripes():
    n = 200
    images, params = render(np.zeros(n, int), np.zeros(n, int), PRETRAIN, 32, np.random.default_rng(1))
    plain = params["plain"]
    assert 0.3 < plain.mean() < 0.7
    corners = images[:, [0, 0, -1, -1], [0, -1, 0, -1]].astype(np.float32)
    clear = (np.abs(params["cx"]) + params["radius"] < 0.95) & (np.abs(params["cy"]) + params["radius"] < 0.95)
    assert (clear & plain).any()
    # Plain backgrounds are light; corners can still hold a clutter shape, so use the brightest three.
    assert np.sort(corners[clear & plain].mean(-1), axis=1)[:, 1:].min() >= 200
    _, down = render(np.zeros(n, int), np.zeros(n, int), DOWNSTREAM, 32, np.random.default_rng(1))
    assert not down["plain"].any()


def test_downstream_scenes_are_shifted_away_from_the_pretraining_style():
    pre, down = _scenes(PRETRAIN, 0, n=96), _scenes(DOWNSTREAM, 0, n=96)
    high_freq = lambda x: np.abs(np.diff(x.astype(np.float32), axis=2)).mean()  # noqa: E731
    assert high_freq(down) > 1.5 * high_freq(pre)  # stripes, more clutter, more noise
    light = lambda x: (x.reshape(len(x), -1).mean(1) > 190).mean()  # noqa: E731  (mostly plain light scenes)
    assert light(pre) > 0.25 and light(down) == 0.0
