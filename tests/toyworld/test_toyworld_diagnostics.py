"""Diagnosis measures on planted features, checked against hand-known values and a plain-loop recomputation."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from shipclip.toyworld import diagnostics as dx
from shipclip.toyworld.diagnose import generator_terms


def _unit(rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def _random_features(seed, n, d, num_classes):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    centres = torch.randn(num_classes, d, generator=g)
    feats = F.normalize(centres[labels] + 0.8 * torch.randn(n, d, generator=g), dim=-1)
    return feats, labels


def _loop_rates(features, labels, classifier, classes):
    """Plain-python reference: argmax over the classes of the label space, per class."""
    f, w = features.numpy().astype(np.float64), classifier.numpy().astype(np.float64)
    out = {}
    for c in classes:
        hits = [max(classes, key=lambda k: float(f[i] @ w[k])) == c for i in range(len(f)) if int(labels[i]) == c]
        if hits:
            out[c] = sum(hits) / len(hits)
    return out


def test_assignment_rates_on_planted_features():
    text = torch.eye(3)
    feats = _unit([[1, 0, 0], [0.2, 0.9, 0], [0, 1, 0], [0, 0.6, 0.5], [0.1, 0, 1]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    rates = dx.assignment_rates(feats, labels, text, [0, 1, 2])
    assert rates == pytest.approx({0: 0.5, 1: 1.0, 2: 1.0})
    # Among classes {0, 2} only: row 1 (label 0) is now closest to 0; class 1 is out of the label space.
    assert dx.assignment_rates(feats, labels, text, [0, 2]) == pytest.approx({0: 1.0, 2: 1.0})


@pytest.mark.parametrize("classes", [list(range(6)), [0, 2, 3], [4, 5]])
def test_assignment_rates_match_a_loop(classes):
    feats, labels = _random_features(0, 90, 8, 6)
    classifier = F.normalize(torch.randn(6, 8, generator=torch.Generator().manual_seed(1)), dim=-1)
    assert dx.assignment_rates(feats, labels, classifier, classes) == pytest.approx(
        _loop_rates(feats, labels, classifier, classes))


def test_cosines_are_one_for_own_and_zero_for_others_on_orthogonal_classes():
    real = torch.eye(4).repeat_interleave(3, dim=0)
    real_labels = torch.arange(4).repeat_interleave(3)
    syn_right = torch.eye(4).repeat_interleave(2, dim=0)
    syn_labels = torch.arange(4).repeat_interleave(2)
    out = dx.cosine_to_classes(syn_right, syn_labels, real, real_labels, [0, 1, 2, 3])
    for c in range(4):
        assert out[c] == pytest.approx({"own": 1.0, "own_mean": 1.0, "other": 0.0, "other_mean": 0.0})
    # Every synthesized feature of c lands on class c+1: own 0, and exactly one of the 3 others matches.
    syn_wrong = torch.eye(4)[(syn_labels + 1) % 4]
    out = dx.cosine_to_classes(syn_wrong, syn_labels, real, real_labels, [0, 1, 2, 3])
    for c in range(4):
        assert out[c] == pytest.approx({"own": 0.0, "own_mean": 0.0, "other": 1 / 3, "other_mean": 1 / 3})


def test_cosines_match_a_loop():
    real, real_labels = _random_features(2, 60, 8, 4)
    syn, syn_labels = _random_features(3, 40, 8, 4)
    classes = [1, 2, 3]
    out = dx.cosine_to_classes(syn, syn_labels, real, real_labels, classes)
    s, r = syn.numpy().astype(np.float64), real.numpy().astype(np.float64)
    for c in classes:
        pairs = {k: np.mean([s[i] @ r[j] for i in range(len(s)) if syn_labels[i] == c
                             for j in range(len(r)) if real_labels[j] == k]) for k in classes}
        mean_dir = {k: r[real_labels.numpy() == k].mean(0) for k in classes}
        mean_dir = {k: v / np.linalg.norm(v) for k, v in mean_dir.items()}
        to_mean = {k: np.mean([s[i] @ mean_dir[k] for i in range(len(s)) if syn_labels[i] == c]) for k in classes}
        others = [k for k in classes if k != c]
        assert out[c]["own"] == pytest.approx(pairs[c], abs=1e-5)
        assert out[c]["other"] == pytest.approx(np.mean([pairs[k] for k in others]), abs=1e-5)
        assert out[c]["own_mean"] == pytest.approx(to_mean[c], abs=1e-5)
        assert out[c]["other_mean"] == pytest.approx(np.mean([to_mean[k] for k in others]), abs=1e-5)


def test_spread_detects_collapse():
    collapsed = _unit([[1, 2, 3]] * 5)
    orthogonal = torch.eye(3)
    feats = torch.cat([collapsed, orthogonal])
    labels = torch.tensor([0] * 5 + [1] * 3)
    out = dx.within_class_spread(feats, labels, [0, 1])
    assert out[0]["pairwise"] == pytest.approx(1.0) and out[0]["to_centroid"] == pytest.approx(1.0)
    assert out[1]["pairwise"] == pytest.approx(0.0, abs=1e-6)
    assert out[1]["to_centroid"] == pytest.approx(1 / math.sqrt(3))
    random_feats, random_labels = _random_features(4, 30, 6, 2)
    spread = dx.within_class_spread(random_feats, random_labels, [0, 1])
    for c in (0, 1):
        f = random_feats[random_labels == c].numpy().astype(np.float64)
        pairs = [f[i] @ f[j] for i in range(len(f)) for j in range(len(f)) if i != j]
        assert spread[c]["pairwise"] == pytest.approx(np.mean(pairs), abs=1e-5)


def test_cosine_to_rows_and_group_mean():
    feats = _unit([[1, 0], [0, 1], [1, 1]])
    labels = torch.tensor([0, 0, 1])
    targets = _unit([[1, 0], [0, 1]])
    out = dx.cosine_to_rows(feats, labels, targets, [0, 1])
    assert out == pytest.approx({0: 0.5, 1: 1 / math.sqrt(2)})
    assert dx.group_mean(out, [0, 1]) == pytest.approx((0.5 + 1 / math.sqrt(2)) / 2)
    assert dx.group_mean({0: {"a": 1.0}, 1: {"a": 3.0}}, [0, 1, 7], key="a") == pytest.approx(2.0)
    assert math.isnan(dx.group_mean({}, [0]))


class _PlantedGenerator:
    """Stands in for a generator: ``reconstruct`` returns fixed tensors."""

    def __init__(self, x, x_hat, mu, logvar):
        self.out = (x, x_hat, mu, logvar)

    def reconstruct(self, features, labels, rng=None):
        return self.out


def test_generator_terms_on_planted_reconstructions():
    x = _unit([[1, 0], [0, 1], [1, 1]])
    x_hat = _unit([[0, 1], [0, 1], [1, 1]])  # cosines 0, 1, 1
    mu = torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 0.0]])  # only unit 1 varies
    logvar = torch.zeros(3, 3)
    terms = generator_terms(_PlantedGenerator(x, x_hat, mu, logvar), x, torch.zeros(3, dtype=torch.long))
    # ||x - x_hat||^2 = 2 - 2 cos for unit vectors; KL = 0.5 * sum mu^2 when the variance is 1.
    assert terms["recon"] == pytest.approx((2.0 + 0.0 + 0.0) / 3)
    assert terms["cosine"] == pytest.approx(2 / 3)
    assert terms["kl"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert terms["active_units"] == 1 and terms["latent_dim"] == 3
