"""Data layer of the built-in engine: dataset registry, transforms, samplers, loaders."""
from ..registry import Registry, check_availability
from .base import DatasetBase, Datum

DATASET_REGISTRY = Registry("DATASET")


def build_dataset(cfg):
    """Instantiate the dataset class registered under ``cfg.DATASET.NAME`` with ``cfg``."""
    check_availability(cfg.DATASET.NAME, DATASET_REGISTRY.registered_names(), "dataset (DATASET.NAME)")
    if cfg.VERBOSE:
        print(f"Loading dataset: {cfg.DATASET.NAME}")
    return DATASET_REGISTRY.get(cfg.DATASET.NAME)(cfg)


from .manager import DataManager, DatasetWrapper, build_data_loader  # noqa: E402
from .samplers import build_sampler  # noqa: E402
from .transforms import build_transform  # noqa: E402

__all__ = [
    "DATASET_REGISTRY", "build_dataset", "Datum", "DatasetBase", "DataManager", "DatasetWrapper",
    "build_data_loader", "build_transform", "build_sampler",
]
