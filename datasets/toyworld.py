"""ToyWorld (offline, procedurally rendered): ``toyworld/images`` + ``split_zhou_ToyWorld.json``.

Classes are "<colour> <shape>" names ordered so that base and new classes share every colour
and every shape (see :mod:`shipclip.toyworld.world`). The folder is written by
``python -m shipclip.toyworld.prepare --root DIR``, never downloaded.
"""
import os

from shipclip.toyworld.build import DATASET_FOLDER, SPLIT_FILE

from .benchmark import SplitDataset
from .layout import DatasetLayoutError, dataset_root

__all__ = ["ToyWorld"]


def _prepare_hint(root):
    return f'Build it with: python -m shipclip.toyworld.prepare --root "{root}"'


class ToyWorld(SplitDataset):
    """CoOp's recipe on the rendered split; the split file is never regenerated here."""

    folder = DATASET_FOLDER
    image_subdir = "images"
    split_file = SPLIT_FILE
    template = "a photo of a {}."

    def locate(self, cfg):
        root = dataset_root(cfg)
        if not os.path.isfile(os.path.join(root, self.folder, self.split_file)):
            raise DatasetLayoutError(
                f'ToyWorld not found: expected "{os.path.join(root, self.folder, self.split_file)}" '
                f"(DATASET.ROOT={root}). {_prepare_hint(root)}"
            )
        super().locate(cfg)

    def generate_split(self):
        raise DatasetLayoutError(
            f'ToyWorld split file missing: "{self.split_path}". '
            f"{_prepare_hint(os.path.dirname(self.dataset_dir))}"
        )
