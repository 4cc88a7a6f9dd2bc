"""Prompt templates: CLIP's ensembles (checked against open_clip's copy) and one per dataset."""
import pytest

from shipclip.datasets import COOP_DATASETS, GZSL_DATASETS, IMAGENET_VARIANTS, load_dataset_class
from shipclip.datasets.templates import CUSTOM_TEMPLATES, IMAGENET_TEMPLATES, IMAGENET_TEMPLATES_SELECT, template_for


def test_imagenet_templates_equal_open_clip():
    from open_clip import zero_shot_metadata

    assert list(IMAGENET_TEMPLATES) == [t("{}") for t in zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES]
    assert list(IMAGENET_TEMPLATES_SELECT) == [t("{}") for t in zero_shot_metadata.SIMPLE_IMAGENET_TEMPLATES]
    assert len(IMAGENET_TEMPLATES) == 80 and len(IMAGENET_TEMPLATES_SELECT) == 7


@pytest.mark.parametrize("name", COOP_DATASETS + IMAGENET_VARIANTS + GZSL_DATASETS)
def test_each_dataset_has_its_template(name):
    assert load_dataset_class(name).template == CUSTOM_TEMPLATES[name] == template_for(name)
    assert CUSTOM_TEMPLATES[name].count("{}") == 1


def test_coop_template_values():
    assert CUSTOM_TEMPLATES["OxfordPets"] == "a photo of a {}, a type of pet."
    assert CUSTOM_TEMPLATES["DescribableTextures"] == "{} texture."
    assert CUSTOM_TEMPLATES["EuroSAT"] == "a centered satellite photo of {}."
    assert CUSTOM_TEMPLATES["Food101"] == "a photo of {}, a type of food."
    assert CUSTOM_TEMPLATES["UCF101"] == "a photo of a person doing {}."
    assert template_for("SomethingElse") == "a photo of a {}."
