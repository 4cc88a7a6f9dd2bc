"""EuroSAT (10 land-cover classes): ``eurosat/2750`` + ``split_zhou_EuroSAT.json``."""
from .benchmark import SplitDataset
from .splits import read_and_split_data
from .templates import CUSTOM_TEMPLATES

__all__ = ["EuroSAT", "NEW_CNAMES"]

# Folder name -> the descriptive class name used in prompts.
NEW_CNAMES = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


class EuroSAT(SplitDataset):
    """Split generation: class folders with descriptive names, 50/20/30."""

    folder = "eurosat"
    image_subdir = "2750"
    split_file = "split_zhou_EuroSAT.json"
    raw_files = ("2750",)
    template = CUSTOM_TEMPLATES["EuroSAT"]

    def generate_split(self):
        return read_and_split_data(self.image_dir, new_cnames=NEW_CNAMES, section=self.docs_section)
