"""Config files of a protocol: the default trainer config per protocol and YAML lookup with clear errors."""
import os

from .errors import SweepError


def is_zeroshot(trainer):
    return trainer.startswith("ZeroshotCLIP")


def is_ship(trainer):
    return trainer.startswith("SHIP_")


def default_cfg(trainer, protocol):
    """The config of CoOp's and CoCoOp's published protocols; a SHIP trainer takes its base method's."""
    if trainer in ("CoOp", "SHIP_CoOp") and protocol == "xd":
        return "vit_b16_ep50_ctxv1"
    if trainer == "SHIP_CoOp" or (trainer == "CoOp" and protocol in ("base2new", "ablation")):
        return "vit_b16_ctxv1"
    if trainer in ("CoCoOp", "SHIP_CoCoOp"):
        return "vit_b16_c4_ep10_batch1_ctxv1"
    return "vit_b16"


def yaml_stem(path):
    name = os.path.basename(path)
    return name[:-len(".yaml")] if name.endswith(".yaml") else name


def _available(folder):
    try:
        names = sorted(n[:-len(".yaml")] for n in os.listdir(folder) if n.endswith(".yaml"))
    except OSError:
        names = []
    return " ".join(names) or "none"


def trainer_yaml(settings, trainer, cfg):
    """Path of the trainer config (``cfg``: a name under CONFIGS/trainers/<trainer>/ or a .yaml path)."""
    folder = os.path.join(settings.configs, "trainers", trainer)
    path = cfg if cfg.endswith(".yaml") else os.path.join(folder, cfg + ".yaml")
    if not os.path.isfile(os.path.join(settings.cwd, path)):
        raise SweepError(f"trainer config {path} not found (configs for {trainer}: {_available(folder)}). "
                         "Pass CFG as the second argument or a YAML path.")
    return path


def dataset_yaml(settings, dataset):
    """Path of the dataset config (``dataset``: a name like oxford_pets or a .yaml path)."""
    folder = os.path.join(settings.configs, "datasets")
    path = dataset if dataset.endswith(".yaml") else os.path.join(folder, dataset + ".yaml")
    if not os.path.isfile(os.path.join(settings.cwd, path)):
        raise SweepError(f"dataset config {path} not found (available: {_available(folder)}).")
    return path
