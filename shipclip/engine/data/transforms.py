"""Image transforms built from ``cfg.INPUT`` with Dassl's names, order and printed log lines.

Training applies the chosen augmentations in a fixed order; testing always resizes the shorter
side to ``max(INPUT.SIZE)`` (keeping the aspect ratio) and centre-crops to ``INPUT.SIZE``, so
evaluation never sees distorted or randomly cropped images.
"""
import random

import torch
from torchvision.transforms import (AutoAugment, AutoAugmentPolicy, CenterCrop, ColorJitter, Compose,
                                    GaussianBlur, InterpolationMode, Normalize, RandAugment, RandomApply,
                                    RandomCrop, RandomGrayscale, RandomHorizontalFlip, RandomResizedCrop,
                                    Resize, ToTensor)

__all__ = [
    "AVAI_CHOICES", "INTERPOLATION_MODES", "build_transform", "interpolation_mode",
    "Random2DTranslation", "Cutout", "GaussianNoise", "InstanceNormalization",
]

# Every name Dassl accepts in INPUT.TRANSFORMS, so configs written for Dassl validate here too.
AVAI_CHOICES = [
    "random_flip", "random_resized_crop", "normalize", "instance_norm", "random_crop",
    "random_translation", "center_crop", "cutout", "imagenet_policy", "cifar10_policy",
    "svhn_policy", "randaugment", "randaugment_fixmatch", "randaugment2", "gaussian_noise",
    "colorjitter", "randomgrayscale", "gaussian_blur",
]

# Dassl variants with random per-op magnitudes; the built-in engine does not provide them.
_NOT_PROVIDED = ("randaugment_fixmatch", "randaugment2")

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}

_POLICIES = {
    "imagenet_policy": AutoAugmentPolicy.IMAGENET,
    "cifar10_policy": AutoAugmentPolicy.CIFAR10,
    "svhn_policy": AutoAugmentPolicy.SVHN,
}


class Random2DTranslation:
    """With probability ``p``, enlarge by 1/8 and crop a random ``height x width`` window; else resize."""

    def __init__(self, height, width, p=0.5, interpolation=InterpolationMode.BILINEAR):
        self.height, self.width, self.p = height, width, p
        self.interpolation = interpolation

    def __call__(self, img):
        if random.uniform(0, 1) > self.p:
            return Resize((self.height, self.width), interpolation=self.interpolation)(img)
        new_h, new_w = int(round(self.height * 1.125)), int(round(self.width * 1.125))
        img = Resize((new_h, new_w), interpolation=self.interpolation)(img)
        return RandomCrop((self.height, self.width))(img)

    def __repr__(self):
        return f"{type(self).__name__}(height={self.height}, width={self.width}, p={self.p})"


class Cutout:
    """Zero ``n_holes`` random ``length x length`` squares of a CHW tensor (centres may lie on edges)."""

    def __init__(self, n_holes=1, length=16):
        self.n_holes, self.length = n_holes, length

    def __call__(self, img):
        _, h, w = img.shape
        mask = torch.ones(h, w, dtype=img.dtype)
        for _ in range(self.n_holes):
            y, x = random.randrange(h), random.randrange(w)
            y1, y2 = max(0, y - self.length // 2), min(h, y + self.length // 2)
            x1, x2 = max(0, x - self.length // 2), min(w, x + self.length // 2)
            mask[y1:y2, x1:x2] = 0
        return img * mask

    def __repr__(self):
        return f"{type(self).__name__}(n_holes={self.n_holes}, length={self.length})"


class GaussianNoise:
    """With probability ``p``, add N(mean, std^2) noise to a tensor image."""

    def __init__(self, mean=0.0, std=0.15, p=0.5):
        self.mean, self.std, self.p = mean, std, p

    def __call__(self, img):
        if random.uniform(0, 1) > self.p:
            return img
        return img + torch.randn_like(img) * self.std + self.mean

    def __repr__(self):
        return f"{type(self).__name__}(mean={self.mean}, std={self.std}, p={self.p})"


class InstanceNormalization:
    """Normalise each channel of a CHW tensor by its own mean and std (epsilon-guarded)."""

    def __init__(self, eps=1e-8):
        self.eps = eps

    def __call__(self, img):
        flat = img.reshape(img.shape[0], -1)
        mean = flat.mean(dim=1).reshape(-1, 1, 1)
        std = flat.std(dim=1).reshape(-1, 1, 1)
        return (img - mean) / (std + self.eps)

    def __repr__(self):
        return f"{type(self).__name__}(eps={self.eps})"


def interpolation_mode(name):
    """Map ``INPUT.INTERPOLATION`` to torchvision's enum, failing with the allowed names."""
    if name not in INTERPOLATION_MODES:
        raise ValueError(
            f'INPUT.INTERPOLATION = "{name}" is not supported; use one of {sorted(INTERPOLATION_MODES)}.'
        )
    return INTERPOLATION_MODES[name]


def _check_choices(choices):
    for choice in choices:
        if choice not in AVAI_CHOICES:
            raise ValueError(
                f'Unknown transform "{choice}" in INPUT.TRANSFORMS (or --transforms). '
                f"Allowed transforms: {', '.join(AVAI_CHOICES)}."
            )
        if choice in _NOT_PROVIDED:
            raise NotImplementedError(
                f'Transform "{choice}" exists in Dassl.pytorch but not in the built-in engine; install '
                f"Dassl.pytorch or use one of: {', '.join(c for c in AVAI_CHOICES if c not in _NOT_PROVIDED)}."
            )


def build_transform(cfg, is_train=True, choices=None):
    """Return a ``Compose`` for training or testing (``None`` when ``INPUT.NO_TRANSFORM``).

    ``choices`` defaults to ``cfg.INPUT.TRANSFORMS``.
    """
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    choices = list(cfg.INPUT.TRANSFORMS if choices is None else choices)
    _check_choices(choices)
    interp = interpolation_mode(cfg.INPUT.INTERPOLATION)
    size = tuple(cfg.INPUT.SIZE)
    if len(size) != 2:
        raise ValueError(f"INPUT.SIZE must be (height, width), got {cfg.INPUT.SIZE!r}.")
    normalize = Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD)
    if is_train:
        return _build_train(cfg, choices, size, interp, normalize)
    return _build_test(cfg, choices, size, interp, normalize)


def _build_train(cfg, choices, size, interp, normalize):
    print("Building transform_train")
    target = f"{size[0]}x{size[1]}"
    steps = []

    random_cropping = "random_crop" in choices or "random_resized_crop" in choices
    if not random_cropping:
        if "center_crop" in choices:
            # Keep the aspect ratio, as at test time, instead of stretching to the target size.
            print(f"+ resize the smaller edge to {max(size)}")
            steps.append(Resize(max(size), interpolation=interp))
            print(f"+ {target} center crop")
            steps.append(CenterCrop(size))
        else:
            print(f"+ resize to {target}")
            steps.append(Resize(size, interpolation=interp))

    if "random_translation" in choices:
        print("+ random translation")
        steps.append(Random2DTranslation(size[0], size[1], interpolation=interp))

    if "random_crop" in choices:
        padding = cfg.INPUT.CROP_PADDING
        print(f"+ random crop (padding = {padding})")
        steps.append(RandomCrop(size, padding=padding))

    if "random_resized_crop" in choices:
        scale = tuple(cfg.INPUT.RRCROP_SCALE)
        print(f"+ random resized crop (size={size}, scale={scale})")
        steps.append(RandomResizedCrop(size, scale=scale, interpolation=interp))

    if "random_flip" in choices:
        print("+ random flip")
        steps.append(RandomHorizontalFlip())

    for name, policy in _POLICIES.items():
        if name in choices:
            print(f"+ {name.replace('_policy', '')} policy")
            steps.append(AutoAugment(policy))

    if "randaugment" in choices:
        n, m = cfg.INPUT.RANDAUGMENT_N, cfg.INPUT.RANDAUGMENT_M
        print(f"+ randaugment (n={n}, m={m})")
        # Dassl's magnitudes run 0..10; 11 bins make m mean the same strength.
        steps.append(RandAugment(num_ops=n, magnitude=m, num_magnitude_bins=11))

    if "colorjitter" in choices:
        b, c, s, h = (cfg.INPUT.COLORJITTER_B, cfg.INPUT.COLORJITTER_C,
                      cfg.INPUT.COLORJITTER_S, cfg.INPUT.COLORJITTER_H)
        print(f"+ color jitter (brightness={b}, contrast={c}, saturation={s}, hue={h})")
        steps.append(ColorJitter(brightness=b, contrast=c, saturation=s, hue=h))

    if "randomgrayscale" in choices:
        print(f"+ random gray scale (p={cfg.INPUT.RGS_P})")
        steps.append(RandomGrayscale(p=cfg.INPUT.RGS_P))

    if "gaussian_blur" in choices:
        print(f"+ gaussian blur (kernel={cfg.INPUT.GB_K})")
        steps.append(RandomApply([GaussianBlur(cfg.INPUT.GB_K)], p=cfg.INPUT.GB_P))

    print("+ to torch tensor of range [0, 1]")
    steps.append(ToTensor())

    if "cutout" in choices:
        n_holes, length = cfg.INPUT.CUTOUT_N, cfg.INPUT.CUTOUT_LEN
        print(f"+ cutout (n_holes={n_holes}, length={length})")
        steps.append(Cutout(n_holes, length))

    if "normalize" in choices:
        print(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
        steps.append(normalize)

    if "gaussian_noise" in choices:
        print(f"+ gaussian noise (mean={cfg.INPUT.GN_MEAN}, std={cfg.INPUT.GN_STD})")
        steps.append(GaussianNoise(cfg.INPUT.GN_MEAN, cfg.INPUT.GN_STD))

    if "instance_norm" in choices:
        print("+ instance normalization")
        steps.append(InstanceNormalization())

    return Compose(steps)


def _build_test(cfg, choices, size, interp, normalize):
    print("Building transform_test")
    steps = []
    print(f"+ resize the smaller edge to {max(size)}")
    steps.append(Resize(max(size), interpolation=interp))
    print(f"+ {size[0]}x{size[1]} center crop")
    steps.append(CenterCrop(size))
    print("+ to torch tensor of range [0, 1]")
    steps.append(ToTensor())
    if "normalize" in choices:
        print(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
        steps.append(normalize)
    if "instance_norm" in choices:
        print("+ instance normalization")
        steps.append(InstanceNormalization())
    return Compose(steps)
