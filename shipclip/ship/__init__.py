"""SHIP stage 1 (feature generators) and the synthesis API, in plain PyTorch (no Dassl needed)."""
from .build import GENERATORS, build_generator_from_cfg
from .fit import TensorViews, fit_generator, holdout_diagnostics
from .generator import BiasMLP, SHIPGenerator
from .mlp_generator import MLPGenerator, encode_class_texts
from .synthesis import SyntheticFeaturePool, make_rng, sample_for_labels, synthesize
from .vae import FeatureEncoder, FeatureVAE, reparameterize, vae_loss

__all__ = [
    "SHIPGenerator", "MLPGenerator", "FeatureVAE", "FeatureEncoder", "BiasMLP", "GENERATORS",
    "build_generator_from_cfg", "fit_generator", "synthesize", "sample_for_labels", "SyntheticFeaturePool",
    "make_rng", "encode_class_texts", "reparameterize", "vae_loss", "holdout_diagnostics", "TensorViews",
]
