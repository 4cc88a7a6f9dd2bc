"""Vectorised numpy rendering of ToyWorld scenes (no fonts, no drawing library).

Each scene is one main object (a coloured shape) on a background, in one of two styles:

* ``PRETRAIN``: the "web" images the micro-CLIP learns from. Like web photos they vary: half
  have a plain light background, half a smooth colour gradient; at most one small gray/black/white
  clutter shape; the object is large-ish, roughly centred, tilted at most 45 degrees; mild colour,
  contrast and noise jitter.
* ``DOWNSTREAM``: the benchmark's images, with a real distribution shift from that: never a plain
  background, half of them striped (never seen in pretraining), one to three clutter shapes, any
  rotation, smaller objects anywhere in the frame, stronger colour and contrast jitter and noise,
  and a systematic colour shift: the downstream "camera" rotates every hue by 30 degrees (about the
  gray axis, brightness kept), as a camera with another colour response would. Nuisances alone
  leave the zero-shot classifier, which pretraining fits to exactly these class names, as good
  as anything a few shots can learn; a systematic shift is what a few labelled images can
  correct, as with real CLIP on a new domain.

Shapes are evaluated analytically on a supersampled grid and box-filtered, so edges are
anti-aliased. All randomness comes from the ``numpy.random.Generator`` passed in, so the same
seed gives the same bytes.
"""
from dataclasses import dataclass

import numpy as np

from .world import COLORS, NEUTRALS, SHAPES

__all__ = ["Style", "PRETRAIN", "DOWNSTREAM", "render", "shape_mask", "hue_rotation"]

CHUNK = 1024  # scenes rendered at once (bounds memory; part of the seed -> bytes contract)


@dataclass(frozen=True)
class Style:
    """Ranges of the random scene parameters (sizes are fractions of the half image width)."""

    name: str
    scale: tuple  # radius of the main object
    offset: float  # centre offset, as a fraction of the room left by the object (0 = centred)
    rotation: float  # max |angle| in degrees
    brightness: tuple  # multiplier of the object colour
    color_std: float  # per-channel colour jitter (0-255 units)
    plain_p: float  # probability of a plain light background (else a colour gradient)
    stripes_p: float  # probability of stripes over a gradient background
    clutter: tuple  # (min, max) number of clutter shapes
    contrast: tuple  # global contrast multiplier around mid-gray
    noise: float  # gaussian pixel noise std (0-255 units)
    hue_shift: float = 0.0  # degrees every hue of the image is rotated by (the same for all scenes)


PRETRAIN = Style(name="pretrain", scale=(0.4, 0.85), offset=0.7, rotation=45.0, brightness=(0.85, 1.1),
                 color_std=12.0, plain_p=0.5, stripes_p=0.0, clutter=(0, 1), contrast=(0.9, 1.05), noise=3.0)

DOWNSTREAM = Style(name="downstream", scale=(0.3, 0.75), offset=1.0, rotation=180.0, brightness=(0.75, 1.15),
                   color_std=18.0, plain_p=0.0, stripes_p=0.5, clutter=(1, 3), contrast=(0.75, 1.1), noise=8.0,
                   hue_shift=30.0)


def _inside_star(u, v, points=5, inner=0.42):
    """Inside test for a regular star (tip up, tip radius 1, valley radius ``inner``).

    By symmetry the angle is folded into the half-sector between a tip (angle 0) and the next
    valley (angle pi / points); there the outline is one straight edge from tip to valley.
    """
    sector = 2.0 * np.pi / points
    alpha = np.arctan2(v, u) - np.pi / 2
    psi = np.abs(np.mod(alpha + sector / 2, sector) - sector / 2)
    r = np.sqrt(u * u + v * v)
    px, py = r * np.cos(psi), r * np.sin(psi)
    vx, vy = inner * np.cos(sector / 2), inner * np.sin(sector / 2)
    return (vx - 1.0) * py - vy * (px - 1.0) >= 0.0


def shape_mask(shape, u, v):
    """Boolean mask of ``shape`` in object coordinates (radius 1, ``v`` pointing up)."""
    if shape == "circle":
        return u * u + v * v <= 0.85 ** 2
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.7
    if shape == "triangle":
        s3 = np.sqrt(3.0)
        return (v >= -0.5) & (s3 * u + v <= 1.0) & (-s3 * u + v <= 1.0)
    if shape == "star":
        return _inside_star(u, v)
    if shape == "heart":
        x, y = 1.32 * u, 1.32 * v + 0.15
        return (x * x + y * y - 1.0) ** 3 - x * x * y ** 3 <= 0.0
    if shape == "cross":
        a, b = np.abs(u), np.abs(v)
        return ((a <= 0.27) & (b <= 0.9)) | ((b <= 0.27) & (a <= 0.9))
    if shape == "ring":
        r2 = u * u + v * v
        return (r2 <= 0.9 ** 2) & (r2 >= 0.52 ** 2)
    if shape == "moon":
        return (u * u + v * v <= 0.9 ** 2) & ((u - 0.45) ** 2 + (v - 0.15) ** 2 >= 0.72 ** 2)
    raise ValueError(f"Unknown shape {shape!r}; known shapes: {list(SHAPES)}")


def _alpha(shape_ids, cx, cy, radius, angle, size, supersample):
    """Anti-aliased coverage [N, size, size] of each object (float32 in [0, 1])."""
    n = len(shape_ids)
    fine = size * supersample
    coords = (np.arange(fine, dtype=np.float32) + 0.5) / fine * 2.0 - 1.0  # pixel centres in [-1, 1]
    gx, gy = coords[None, None, :], coords[None, :, None]
    f32 = lambda a: np.asarray(a, dtype=np.float32)[:, None, None]  # noqa: E731
    cos, sin, inv_r = f32(np.cos(angle)), f32(np.sin(angle)), f32(1.0 / radius)
    dx, dy = gx - f32(cx), f32(cy) - gy  # v points up
    u = (dx * cos + dy * sin) * inv_r
    v = (dy * cos - dx * sin) * inv_r
    mask = np.zeros((n, fine, fine), dtype=np.float32)
    for shape_id in np.unique(shape_ids):
        rows = np.nonzero(shape_ids == shape_id)[0]
        mask[rows] = shape_mask(SHAPES[shape_id], u[rows], v[rows])
    return mask.reshape(n, size, supersample, size, supersample).mean(axis=(2, 4))


def _place(rng, n, scale_range, offset):
    """Random radius and centre so that the object stays inside the image."""
    radius = rng.uniform(*scale_range, size=n)
    room = np.maximum(1.0 - radius, 0.0) * offset
    cx = rng.uniform(-1.0, 1.0, size=n) * room
    cy = rng.uniform(-1.0, 1.0, size=n) * room
    return radius, cx, cy


def _background(rng, n, size, style):
    """Per scene: a plain light background (probability ``plain_p``) or a random colour gradient,
    striped with probability ``stripes_p``."""
    if style.plain_p >= 1.0:
        return _plain_background(rng, n, size), np.ones(n, dtype=bool)
    if style.plain_p <= 0.0:
        return _gradient_background(rng, n, size, style.stripes_p), np.zeros(n, dtype=bool)
    plain = rng.random(n) < style.plain_p
    img = np.empty((n, size, size, 3), dtype=np.float32)
    img[plain] = _plain_background(rng, int(plain.sum()), size)
    img[~plain] = _gradient_background(rng, int((~plain).sum()), size, style.stripes_p)
    return img, plain


def _plain_background(rng, n, size):
    level = rng.uniform(225.0, 255.0, size=(n, 1, 1, 1))
    tint = rng.uniform(-8.0, 8.0, size=(n, 1, 1, 3))
    return np.broadcast_to(level + tint, (n, size, size, 3)).astype(np.float32)


def _gradient_background(rng, n, size, stripes_p):
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    gx, gy = coords[None, None, :], coords[None, :, None]
    uniform = lambda lo, hi, shape: rng.uniform(lo, hi, size=shape).astype(np.float32)  # noqa: E731
    direction = uniform(0.0, 2 * np.pi, (n, 1, 1))
    cos, sin = np.cos(direction), np.sin(direction)
    t = (gx * cos + gy * sin + 1.5) / 3.0  # ramp in [0, 1]
    c1 = uniform(40.0, 220.0, (n, 1, 1, 3))
    c2 = uniform(40.0, 220.0, (n, 1, 1, 3))
    img = c1 + (c2 - c1) * t[..., None]
    if stripes_p <= 0.0:
        return img
    stripes = (rng.random(n) < stripes_p).astype(np.float32)
    freq = uniform(2.0, 6.0, (n, 1, 1)) * np.float32(np.pi)
    phase = uniform(0.0, 2 * np.pi, (n, 1, 1))
    amp = uniform(10.0, 35.0, (n, 1, 1)) * stripes[:, None, None]
    across = gy * cos - gx * sin
    img += (amp * np.sign(np.sin(freq * across + phase)))[..., None]
    return img


# RGB <-> YIQ: Y is luma, (I, Q) the chroma plane; rotating (I, Q) turns hues and keeps gray gray.
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def hue_rotation(degrees):
    """3 x 3 matrix M (float32) with ``rgb @ M.T`` turning every hue by ``degrees``, luma unchanged."""
    a = np.deg2rad(degrees)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])
    return (np.linalg.inv(_YIQ) @ rot @ _YIQ).astype(np.float32)


def _composite(img, alpha, rgb):
    """Paint ``rgb`` [N, 3] with coverage ``alpha`` [N, H, W] over ``img`` [N, H, W, 3]."""
    a = alpha[..., None]
    return img + (rgb[:, None, None, :] - img) * a


def render(labels_color, labels_shape, style, size, rng, supersample=2):
    """Render one scene per (colour index, shape index) pair.

    Args:
        labels_color: int array [N], indices into :data:`shipclip.toyworld.world.COLORS` order.
        labels_shape: int array [N], indices into :data:`shipclip.toyworld.world.SHAPES`.
        style: :data:`PRETRAIN`, :data:`DOWNSTREAM` or a custom :class:`Style`.
        size: output side in pixels.
        rng: ``numpy.random.Generator`` (the only source of randomness).
        supersample: anti-aliasing factor per axis.

    Returns:
        uint8 array [N, size, size, 3], plus a dict of the sampled main-object parameters
        (``radius``, ``cx``, ``cy``, ``angle``; ``radius`` is used for size words in captions)
        and ``plain`` (whether the background is plain).
    """
    labels_color = np.asarray(labels_color, dtype=np.int64)
    labels_shape = np.asarray(labels_shape, dtype=np.int64)
    if labels_color.shape != labels_shape.shape or labels_color.ndim != 1:
        raise ValueError("labels_color and labels_shape must be 1-D arrays of the same length")
    parts = [_render_chunk(labels_color[k:k + CHUNK], labels_shape[k:k + CHUNK], style, size, rng, supersample)
             for k in range(0, len(labels_color), CHUNK)]
    if not parts:
        return np.zeros((0, size, size, 3), dtype=np.uint8), {"radius": np.zeros(0)}
    images = np.concatenate([p[0] for p in parts])
    params = {key: np.concatenate([p[1][key] for p in parts]) for key in parts[0][1]}
    return images, params


def _render_chunk(labels_color, labels_shape, style, size, rng, supersample):
    n = len(labels_color)
    palette = np.asarray(list(COLORS.values()), dtype=np.float32)
    neutrals = np.asarray(list(NEUTRALS.values()), dtype=np.float32)

    img, plain = _background(rng, n, size, style)

    lo, hi = style.clutter
    if hi > 0:
        counts = rng.integers(lo, hi + 1, size=n)
        for k in range(hi):
            rows = np.nonzero(counts > k)[0]
            m = len(rows)
            radius, cx, cy = _place(rng, m, (0.12, 0.3), 1.0)
            shapes = rng.integers(0, len(SHAPES), size=m)
            angle = np.deg2rad(rng.uniform(-180.0, 180.0, size=m))
            rgb = neutrals[rng.integers(0, len(neutrals), size=m)] + rng.normal(0.0, 12.0, size=(m, 3))
            alpha = _alpha(shapes, cx, cy, radius, angle, size, supersample)
            img[rows] = _composite(img[rows], alpha, rgb.astype(np.float32))

    radius, cx, cy = _place(rng, n, style.scale, style.offset)
    angle = np.deg2rad(rng.uniform(-style.rotation, style.rotation, size=n))
    bright = rng.uniform(*style.brightness, size=(n, 1))
    rgb = palette[labels_color] * bright + rng.normal(0.0, style.color_std, size=(n, 3))
    alpha = _alpha(labels_shape, cx, cy, radius, angle, size, supersample)
    img = _composite(img, alpha, rgb.astype(np.float32))

    if style.hue_shift:
        img = img @ hue_rotation(style.hue_shift).T
    if style.contrast != (1.0, 1.0):
        c = rng.uniform(*style.contrast, size=(n, 1, 1, 1)).astype(np.float32)
        img = (img - 128.0) * c + 128.0
    if style.noise > 0:
        img += rng.standard_normal(size=img.shape, dtype=np.float32) * np.float32(style.noise)
    out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out, {"radius": radius, "cx": cx, "cy": cy, "angle": angle, "plain": plain}
