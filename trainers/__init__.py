"""Trainers (installed as ``shipclip.trainers``)."""
if __name__ != "shipclip.trainers":
    raise ImportError(
        "Import the trainers as 'shipclip.trainers' (after 'pip install -e .'), not as 'trainers': "
        "a second import path would register every trainer twice."
    )
