"""Write the ToyWorld benchmark to disk in CoOp's layout.

``<root>/toyworld/images/<colour>_<shape>/<n>.png`` and ``<root>/toyworld/split_zhou_ToyWorld.json``
(``{"train": [[relpath, label, classname], ...], "val": ..., "test": ...}``, paths relative to
``images/``), plus ``toyworld.json``, a manifest written last: its presence marks a complete
build, and its content (world, seed, counts, image size, version) decides whether an existing
folder can be reused.

Every (class, split) pair draws from its own random stream keyed by the seed and the class's
attributes, so the images of a class do not depend on which other classes the world contains.
"""
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .render import DOWNSTREAM, render
from .world import COLORS, SHAPES, WORLD_VERSION, default_world

__all__ = ["DATASET_FOLDER", "SPLIT_FILE", "MANIFEST_FILE", "SPLITS", "DEFAULT_COUNTS", "QUICK_COUNTS",
           "IMAGE_SIZE", "dataset_spec", "build_dataset"]

DATASET_FOLDER = "toyworld"
SPLIT_FILE = "split_zhou_ToyWorld.json"
MANIFEST_FILE = "toyworld.json"
SPLITS = ("train", "val", "test")
DEFAULT_COUNTS = {"train": 32, "val": 10, "test": 30}
QUICK_COUNTS = {"train": 10, "val": 4, "test": 6}
IMAGE_SIZE = 64  # stored size; the model's transform resizes to its own input size


def dataset_spec(world=None, seed=1, counts=None, image_size=IMAGE_SIZE):
    """The manifest content that identifies one build."""
    world = world or default_world()
    counts = dict(counts or DEFAULT_COUNTS)
    if sorted(counts) != sorted(SPLITS) or any(int(v) < 1 for v in counts.values()):
        raise ValueError(f"counts must give a positive number of images for each of {SPLITS}, got {counts}")
    return {"world": world.to_dict(), "seed": int(seed), "counts": {k: int(counts[k]) for k in SPLITS},
            "image_size": int(image_size), "style": DOWNSTREAM.name, "version": WORLD_VERSION}


def _class_images(seed, color, shape, split, count, image_size):
    key = [int(seed), WORLD_VERSION, list(COLORS).index(color), list(SHAPES).index(shape), SPLITS.index(split)]
    rng = np.random.default_rng(key)
    c = np.full(count, list(COLORS).index(color))
    s = np.full(count, list(SHAPES).index(shape))
    images, _ = render(c, s, DOWNSTREAM, image_size, rng)
    return images


def _write_png(path, array):
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)


def build_dataset(root, world=None, seed=1, counts=None, image_size=IMAGE_SIZE, force=False, progress=True,
                  log=print):
    """Render ToyWorld under ``<root>/toyworld`` unless an identical build is already there.

    Returns the dataset folder. An existing complete build made with other settings raises
    ``FileExistsError`` (pass ``force=True`` to replace it, or use another root).
    """
    world = world or default_world()
    spec = dataset_spec(world, seed, counts, image_size)
    dataset_dir = Path(os.path.expanduser(str(root))).resolve() / DATASET_FOLDER
    manifest = dataset_dir / MANIFEST_FILE
    if manifest.is_file() and (dataset_dir / SPLIT_FILE).is_file() and not force:
        with open(manifest, encoding="utf-8") as f:
            found = json.load(f)
        if found == spec:
            log(f"ToyWorld dataset found at {dataset_dir} (reused)")
            return dataset_dir
        raise FileExistsError(
            f"{manifest} describes another ToyWorld build ({_describe(found)}) than the one requested "
            f"({_describe(spec)}). Use another --root, or pass --force to replace it."
        )
    if (dataset_dir / "images").exists():
        shutil.rmtree(dataset_dir / "images")  # incomplete or replaced build
    for stale in (manifest, dataset_dir / SPLIT_FILE, dataset_dir / "split_fewshot"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()

    split = {name: [] for name in SPLITS}
    classes = list(zip(world.classes, world.folders, world.classnames))
    bar = tqdm(classes, desc="Rendering ToyWorld", unit="class", disable=not progress)
    for label, ((color, shape), folder, classname) in enumerate(bar):
        class_dir = dataset_dir / "images" / folder
        class_dir.mkdir(parents=True, exist_ok=True)
        n = 0
        for name in SPLITS:
            images = _class_images(spec["seed"], color, shape, name, spec["counts"][name], image_size)
            for array in images:
                _write_png(class_dir / f"{n}.png", array)
                split[name].append([f"{folder}/{n}.png", label, classname])
                n += 1
    _write_json(dataset_dir / SPLIT_FILE, split)
    _write_json(manifest, spec)
    log(f"ToyWorld dataset written to {dataset_dir} ({world.num_classes} classes, "
        + ", ".join(f"{len(split[k])} {k}" for k in SPLITS) + " images)")
    return dataset_dir


def _write_json(path, obj):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=4)
    os.replace(tmp, path)


def _describe(spec):
    world = spec.get("world", {})
    return (f"{len(world.get('colors', []))} colours x {len(world.get('shapes', []))} shapes, seed {spec.get('seed')}, "
            f"counts {spec.get('counts')}, {spec.get('image_size')} px, version {spec.get('version')}")
