"""Build a generator from the ``TRAINER.SHIP`` config group."""
from .generator import SHIPGenerator
from .mlp_generator import MLPGenerator

__all__ = ["build_generator_from_cfg", "GENERATORS"]

GENERATORS = {"prompt": SHIPGenerator, "mlp": MLPGenerator}


def build_generator_from_cfg(cfg, clip_model, tokenizer, classnames):
    """Generator described by ``TRAINER.SHIP.*`` (pass that node, or the whole config).

    Reads GENERATOR, N_CTX, ENC_HIDDEN, LATENT_DIM, GEN_HIDDEN, ACTIVATION, USE_BIAS,
    USE_GLOBAL_CTX and LAMBDA_KL; ``classnames`` is the training label space.
    """
    node = cfg.TRAINER.SHIP if hasattr(cfg, "TRAINER") else cfg
    kind = str(node.GENERATOR).lower()
    if kind not in GENERATORS:
        raise ValueError(
            f"TRAINER.SHIP.GENERATOR={node.GENERATOR!r} is not a known generator; use one of {', '.join(GENERATORS)}."
        )
    common = dict(enc_hidden=node.ENC_HIDDEN, latent_dim=node.LATENT_DIM, gen_hidden=node.GEN_HIDDEN,
                  activation=node.ACTIVATION, lambda_kl=node.LAMBDA_KL)
    if kind == "mlp":
        return MLPGenerator(clip_model, tokenizer, classnames, **common)
    return SHIPGenerator(clip_model, tokenizer, classnames, n_ctx=node.N_CTX, use_bias=node.USE_BIAS,
                         use_global_ctx=node.USE_GLOBAL_CTX, **common)
