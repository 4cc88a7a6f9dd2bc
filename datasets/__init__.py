"""Datasets (installed as ``shipclip.datasets``)."""
if __name__ != "shipclip.datasets":
    raise ImportError(
        "Import the datasets as 'shipclip.datasets' (after 'pip install -e .'), not as 'datasets': "
        "a second import path would register every dataset twice, and the name 'datasets' belongs "
        "to Hugging Face's package."
    )
