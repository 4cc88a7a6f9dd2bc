"""Project config keys added on top of Dassl's defaults (CoOp's ``extend_cfg`` convention).

Every key a trainer, dataset or script of this project reads is declared here with its default,
so a YAML file or a command-line override with a typo fails with the key's name.

A lab's own ``train.py`` calls :func:`extend_cfg` inside its ``extend_cfg`` (see the README). It only
*adds* what is missing: a node or key the lab declared (``TRAINER.COOP`` with keys of its own, only one
of ``TRAINER.COOP`` / ``TRAINER.COCOOP``, another default) is never replaced or changed, whatever the
position of the call. The one value it changes is an engine default the project cannot use:
``MODEL.BACKBONE.PRETRAINED`` left at Dassl's ``True`` becomes the tag ``"openai"`` (the same weights).
"""
from yacs.config import CfgNode as CN

__all__ = ["extend_cfg", "get_cfg", "project_defaults"]

# Engine defaults the project reads differently: (key path, engine default, project value).
_ENGINE_DEFAULTS_REPLACED = (("MODEL.BACKBONE.PRETRAINED", True, "openai"),)


def extend_cfg(cfg):
    """Add every key of this project that ``cfg`` lacks (CoOp/CoCoOp, Tip-Adapter, SHIP, features); keep the rest.

    Safe at any position inside a lab's ``extend_cfg``: keys and nodes already in ``cfg`` keep their
    values (and their extra keys); missing keys of an existing node are added to it. Returns ``cfg``.
    """
    if cfg.is_frozen():
        raise RuntimeError(
            "shipclip.config.extend_cfg was given a frozen config. Call it inside your extend_cfg(cfg), "
            "before cfg.freeze() (CoOp's setup_cfg freezes at its end)."
        )
    _add_missing(cfg, project_defaults(cfg), "")
    for path, engine_value, ours in _ENGINE_DEFAULTS_REPLACED:
        node, key = _parent(cfg, path)
        if node is not None and key in node and node[key] is engine_value:
            setattr(node, key, ours)
    return cfg


def project_defaults(cfg=None):
    """A config tree holding only the keys this project declares, with their defaults.

    ``cfg`` (optional) lends its node structure, so additions to existing nodes of any config work.
    """
    tree = _skeleton(cfg) if cfg is not None else CN()
    for path in ("MODEL.BACKBONE", "TRAINER", "DATASET", "TEST"):
        node = tree
        for part in path.split("."):
            if part not in node:
                setattr(node, part, CN())
            node = node[part]
    _backbone_keys(tree)
    _coop_keys(tree)
    return _extend_project_keys(tree)


def _skeleton(cfg):
    """Empty nodes mirroring ``cfg``'s nested nodes (no values)."""
    tree = CN()
    for key, value in cfg.items():
        if isinstance(value, CN):
            setattr(tree, key, _skeleton(value))
    return tree


def _add_missing(cfg, defaults, prefix):
    for key, value in defaults.items():
        if isinstance(value, CN):
            if key not in cfg:
                if _has_leaf(value):
                    setattr(cfg, key, value.clone())
            elif isinstance(cfg[key], CN):
                _add_missing(cfg[key], value, f"{prefix}{key}.")
            else:
                print(f"shipclip: {prefix}{key} is a value in your config but a group of keys in this project; "
                      "kept yours (the project's keys under it are not added)")
        elif key not in cfg:
            setattr(cfg, key, value)


def _has_leaf(node):
    return any(not isinstance(v, CN) or _has_leaf(v) for v in node.values())


def _parent(cfg, path):
    *parents, key = path.split(".")
    node = cfg
    for part in parents:
        if part not in node or not isinstance(node[part], CN):
            return None, key
        node = node[part]
    return node, key


def _backbone_keys(cfg):
    # Backbone: CoOp name (ViT-B/16), open_clip name, or model-config JSON; weights tag or file.
    cfg.MODEL.BACKBONE.PRETRAINED = "openai"  # Dassl's default is the bool True; we need a tag/path
    cfg.MODEL.BACKBONE.CACHE_DIR = ""  # where downloaded/converted weights live ("" = open_clip default)


def _coop_keys(cfg):
    """The keys CoOp's own ``extend_cfg`` declares (a lab's values win when it declares them too)."""
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 16
    cfg.TRAINER.COOP.CSC = False
    cfg.TRAINER.COOP.CTX_INIT = ""
    cfg.TRAINER.COOP.PREC = "fp16"  # fp16 / fp32 / amp (fp16 falls back to fp32 on CPU)
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"

    cfg.TRAINER.COCOOP = CN()
    cfg.TRAINER.COCOOP.N_CTX = 16
    cfg.TRAINER.COCOOP.CTX_INIT = ""
    cfg.TRAINER.COCOOP.PREC = "fp16"
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # all / base / new (CoCoOp's base-to-new rule)
    return cfg


def _extend_project_keys(cfg):
    """Keys that only this project defines."""
    cfg.TRAINER.ZSCLIP = CN()
    cfg.TRAINER.ZSCLIP.PREC = "fp32"

    # Tip-Adapter(-F): cache of few-shot features; alpha (residual weight), beta (sharpness).
    cfg.TRAINER.TIP = CN()
    cfg.TRAINER.TIP.AUGMENT_EPOCH = 10
    cfg.TRAINER.TIP.INIT_ALPHA = 1.0
    cfg.TRAINER.TIP.INIT_BETA = 1.0
    cfg.TRAINER.TIP.SEARCH_HP = True
    cfg.TRAINER.TIP.SEARCH_SCALE = [7.0, 3.0]  # [beta, alpha]
    cfg.TRAINER.TIP.SEARCH_STEP = [200, 20]  # [beta, alpha]
    cfg.TRAINER.TIP.LR = 0.001
    cfg.TRAINER.TIP.EPS = 1e-4
    cfg.TRAINER.TIP.PREC = "fp32"
    cfg.TRAINER.TIP.TEMPLATES = "custom"  # custom (dataset template) | ensemble (ImageNet select 7)

    # SHIP: generator (stage 1) and how synthesized features enter stage 2.
    cfg.TRAINER.SHIP = CN()
    cfg.TRAINER.SHIP.GENERATOR = "prompt"  # prompt (VAE + CLIP text decoder) | mlp (non-prompt baseline)
    cfg.TRAINER.SHIP.N_CTX = 4
    cfg.TRAINER.SHIP.ENC_HIDDEN = 2048  # released: 2048 (4096 on ImageNet)
    cfg.TRAINER.SHIP.LATENT_DIM = 512
    cfg.TRAINER.SHIP.GEN_HIDDEN = 4096
    cfg.TRAINER.SHIP.ACTIVATION = "relu"  # relu | leaky_relu (released ImageNet script)
    cfg.TRAINER.SHIP.USE_BIAS = True  # False = "global context only" ablation
    cfg.TRAINER.SHIP.USE_GLOBAL_CTX = True  # False = "bias only" ablation
    cfg.TRAINER.SHIP.LAMBDA_KL = 1.0  # 0 = "no KL" ablation
    cfg.TRAINER.SHIP.EPOCHS = 50
    cfg.TRAINER.SHIP.LR = 1e-3
    cfg.TRAINER.SHIP.BATCH_SIZE = 256
    cfg.TRAINER.SHIP.GEN_VIEWS = 10  # augmented views per training image; each stage-1 step draws a fresh one per image
    # (0 = encode a fresh augmentation of every image at every step, exactly as the released code; slow)
    cfg.TRAINER.SHIP.LABEL_ONLY = "new"  # new | all-target | path to a file of class names
    cfg.TRAINER.SHIP.TARGET_DATASET = ""  # dataset YAML/name whose classes are label-only (all-target)
    cfg.TRAINER.SHIP.SYN_RATIO = 1.0  # synthetic features per real feature in a stage-2 batch
    cfg.TRAINER.SHIP.SYN_PER_CLASS = 16  # Tip-Adapter cache entries per label-only class
    cfg.TRAINER.SHIP.POOL_SIZE = 0  # >0: pre-synthesize this many features per class once
    cfg.TRAINER.SHIP.GENERATOR_DIR = ""  # reuse a trained generator from this run folder
    cfg.TRAINER.SHIP.PREC = "fp32"  # the generator's text tower (stage 1 and synthesis); released: fp32

    # Evaluation in the joint (base + label-only) label space, as in generalized zero-shot learning.
    cfg.TEST.JOINT = False

    # Frozen image-feature cache: False = every loader reads images and encodes them (as Dassl does).
    cfg.FEATURES = CN()
    cfg.FEATURES.CACHE = False
    cfg.FEATURES.DIR = ""  # "" = ~/.cache/shipclip/features (or $SHIPCLIP_CACHE/features)
    cfg.FEATURES.TRAIN_VIEWS = 10  # cached augmented views per training image (an epoch picks one per image)

    # Training loader and lr schedule options beyond Dassl's (defaults = Dassl's behaviour).
    if "DATALOADER" in cfg:  # (absent only from the partial configs some unit tests build)
        cfg.DATALOADER.TRAIN_X.KEEP_LAST = False  # True: keep the last partial batch (Dassl drops it when a full batch exists)
    if "OPTIM" not in cfg:
        return cfg
    cfg.OPTIM.ADAM_EPS = 1e-8  # eps of Adam/AdamW/RAdam (Dassl: torch's default 1e-8; released SHIP ImageNet: 1e-4)
    cfg.OPTIM.LR_STEP_UNIT = ""  # "" = the trainer's own (CoOp: epoch), "epoch" or "iter" (schedule over all iterations)
    return cfg


def get_cfg():
    """Defaults of the active engine plus the project's keys."""
    from shipclip.backend import get_cfg_default

    return extend_cfg(get_cfg_default())
