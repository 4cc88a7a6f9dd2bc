"""Datasets (installed as ``shipclip.datasets``).

Dataset modules do not register themselves on import: a lab's own CoOp checkout may already have
registered "OxfordPets" and friends in Dassl's registry, and this package must coexist with it.
``DATASETS`` maps each registry name to ``"module:Class"``; ``shipclip.registration`` imports and
registers them, and ``load_dataset_class`` imports one on demand.
"""
if __name__ != "shipclip.datasets":
    raise ImportError(
        "Import the datasets as 'shipclip.datasets' (after 'pip install -e .'), not as 'datasets': "
        "a second import path would register every dataset twice, and the name 'datasets' belongs "
        "to Hugging Face's package."
    )

import importlib

__all__ = ["DATASETS", "CONFIG_KEYS", "COOP_DATASETS", "IMAGENET_VARIANTS", "GZSL_DATASETS", "load_dataset_class"]

# Registry name (DATASET.NAME) -> "module:Class", imported lazily.
DATASETS = {
    "ImageNet": "shipclip.datasets.imagenet:ImageNet",
    "Caltech101": "shipclip.datasets.caltech101:Caltech101",
    "OxfordPets": "shipclip.datasets.oxford_pets:OxfordPets",
    "StanfordCars": "shipclip.datasets.stanford_cars:StanfordCars",
    "OxfordFlowers": "shipclip.datasets.oxford_flowers:OxfordFlowers",
    "Food101": "shipclip.datasets.food101:Food101",
    "FGVCAircraft": "shipclip.datasets.fgvc_aircraft:FGVCAircraft",
    "SUN397": "shipclip.datasets.sun397:SUN397",
    "DescribableTextures": "shipclip.datasets.dtd:DescribableTextures",
    "EuroSAT": "shipclip.datasets.eurosat:EuroSAT",
    "UCF101": "shipclip.datasets.ucf101:UCF101",
    "ImageNetV2": "shipclip.datasets.imagenetv2:ImageNetV2",
    "ImageNetSketch": "shipclip.datasets.imagenet_sketch:ImageNetSketch",
    "ImageNetA": "shipclip.datasets.imagenet_a:ImageNetA",
    "ImageNetR": "shipclip.datasets.imagenet_r:ImageNetR",
    "GZSL_CUB": "shipclip.datasets.gzsl:GZSL_CUB",
    "GZSL_AWA2": "shipclip.datasets.gzsl:GZSL_AWA2",
    "GZSL_SUN": "shipclip.datasets.gzsl:GZSL_SUN",
    "ToyWorld": "shipclip.datasets.toyworld:ToyWorld",
}

# Config file stem (configs/datasets/<key>.yaml, CoOp's script keys) -> registry name.
CONFIG_KEYS = {
    "imagenet": "ImageNet",
    "caltech101": "Caltech101",
    "oxford_pets": "OxfordPets",
    "stanford_cars": "StanfordCars",
    "oxford_flowers": "OxfordFlowers",
    "food101": "Food101",
    "fgvc_aircraft": "FGVCAircraft",
    "sun397": "SUN397",
    "dtd": "DescribableTextures",
    "eurosat": "EuroSAT",
    "ucf101": "UCF101",
    "imagenetv2": "ImageNetV2",
    "imagenet_sketch": "ImageNetSketch",
    "imagenet_a": "ImageNetA",
    "imagenet_r": "ImageNetR",
    "gzsl_cub": "GZSL_CUB",
    "gzsl_awa2": "GZSL_AWA2",
    "gzsl_sun": "GZSL_SUN",
    "toyworld": "ToyWorld",
}

# Groups by protocol: the 11 base-to-new / cross-dataset benchmarks, the 4 test-only ImageNet
# variants (domain generalisation), the 3 generalized zero-shot benchmarks.
COOP_DATASETS = ("ImageNet", "Caltech101", "OxfordPets", "StanfordCars", "OxfordFlowers", "Food101",
                 "FGVCAircraft", "SUN397", "DescribableTextures", "EuroSAT", "UCF101")
IMAGENET_VARIANTS = ("ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR")
GZSL_DATASETS = ("GZSL_CUB", "GZSL_AWA2", "GZSL_SUN")


def load_dataset_class(name):
    """Import and return the class registered as ``name`` (a key of ``DATASETS``)."""
    if name not in DATASETS:
        raise KeyError(f'Unknown dataset "{name}". Known datasets: {sorted(DATASETS)}.')
    module_name, _, class_name = DATASETS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)
