"""Write the ToyWorld benchmark to disk in CoOp's layout.

``<root>/toyworld/images/<colour>_<shape>/<n>.png`` and ``<root>/toyworld/split_zhou_ToyWorld.json``
(``{"train": [[relpath, label, classname], ...], "val": ..., "test": ...}``, paths relative to
``images/``), plus ``toyworld.json``, a manifest written last: its presence marks a complete
build, and its content (world, seed, counts, image size, version) decides whether an existing
folder can be reused.

Beside CoOp's three splits, every build has a ``design`` split (``<root>/toyworld/design/``, its
own split file and manifest), outside ``split_zhou_ToyWorld.json``: images no training run reads
and no reported number uses, for the diagnosis of a world (see ``docs/TOYWORLD.md``).

Every (class, split) pair draws from its own random stream keyed by the seed and the class's
attributes, so the images of a class do not depend on which other classes the world contains.
"""
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from shipclip.progress import progress_bar

from .render import DOWNSTREAM, render
from .world import COLORS, SHAPES, WORLD_VERSION, default_world

__all__ = ["DATASET_FOLDER", "SPLIT_FILE", "MANIFEST_FILE", "SPLITS", "DEFAULT_COUNTS", "QUICK_COUNTS",
           "IMAGE_SIZE", "DESIGN_FOLDER", "DESIGN_SPLIT_FILE", "DESIGN_COUNT", "QUICK_DESIGN_COUNT", "dataset_spec",
           "design_spec", "build_dataset", "build_design_split"]

DATASET_FOLDER = "toyworld"
SPLIT_FILE = "split_zhou_ToyWorld.json"
MANIFEST_FILE = "toyworld.json"
SPLITS = ("train", "val", "test")
DEFAULT_COUNTS = {"train": 32, "val": 10, "test": 30}
QUICK_COUNTS = {"train": 10, "val": 4, "test": 6}
IMAGE_SIZE = 64  # stored size; the model's transform resizes to its own input size
DESIGN_FOLDER = "design"  # <dataset>/design/{images/, split_design.json, manifest.json}
DESIGN_SPLIT_FILE = "split_design.json"
DESIGN_COUNT = 30  # design images per class
QUICK_DESIGN_COUNT = 6
DESIGN_STREAM = len(SPLITS)  # random-stream index after train / val / test (0, 1, 2): independent images


def dataset_spec(world=None, seed=1, counts=None, image_size=IMAGE_SIZE):
    """The manifest content that identifies one build."""
    world = world or default_world()
    counts = dict(counts or DEFAULT_COUNTS)
    if sorted(counts) != sorted(SPLITS) or any(int(v) < 1 for v in counts.values()):
        raise ValueError(f"counts must give a positive number of images for each of {SPLITS}, got {counts}")
    return {"world": world.to_dict(), "seed": int(seed), "counts": {k: int(counts[k]) for k in SPLITS},
            "image_size": int(image_size), "style": DOWNSTREAM.name, "version": WORLD_VERSION}


def _class_images(seed, color, shape, stream, count, image_size):
    """``count`` scenes of one class from the stream keyed by (seed, version, colour, shape, stream)."""
    key = [int(seed), WORLD_VERSION, list(COLORS).index(color), list(SHAPES).index(shape), int(stream)]
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
    bar = progress_bar(classes, desc="Rendering ToyWorld", unit="class", disable=not progress)
    for label, ((color, shape), folder, classname) in enumerate(bar):
        class_dir = dataset_dir / "images" / folder
        class_dir.mkdir(parents=True, exist_ok=True)
        n = 0
        for name in SPLITS:
            images = _class_images(spec["seed"], color, shape, SPLITS.index(name), spec["counts"][name], image_size)
            for array in images:
                _write_png(class_dir / f"{n}.png", array)
                split[name].append([f"{folder}/{n}.png", label, classname])
                n += 1
    _write_json(dataset_dir / SPLIT_FILE, split)
    _write_json(manifest, spec)
    log(f"ToyWorld dataset written to {dataset_dir} ({world.num_classes} classes, "
        + ", ".join(f"{len(split[k])} {k}" for k in SPLITS) + " images)")
    return dataset_dir


def design_spec(world=None, seed=1, count=DESIGN_COUNT, image_size=IMAGE_SIZE):
    """The manifest content that identifies one design split."""
    world = world or default_world()
    if int(count) < 1:
        raise ValueError(f"The design split needs at least 1 image per class, got {count}")
    return {"world": world.to_dict(), "seed": int(seed), "count": int(count), "image_size": int(image_size),
            "style": DOWNSTREAM.name, "stream": DESIGN_STREAM, "version": WORLD_VERSION}


def build_design_split(root, world=None, seed=1, count=DESIGN_COUNT, image_size=IMAGE_SIZE, progress=True,
                       log=print):
    """Render the ``design`` split under ``<root>/toyworld/design`` unless an identical one is there.

    It is derived from the build's world and seed, so one made with other settings is replaced (the
    dataset build next to it already refuses to be replaced by mistake). Returns the folder.
    """
    world = world or default_world()
    spec = design_spec(world, seed, count, image_size)
    folder = Path(os.path.expanduser(str(root))).resolve() / DATASET_FOLDER / DESIGN_FOLDER
    manifest = folder / MANIFEST_FILE
    if manifest.is_file() and (folder / DESIGN_SPLIT_FILE).is_file():
        with open(manifest, encoding="utf-8") as f:
            if json.load(f) == spec:
                log(f"ToyWorld design split found at {folder} (reused)")
                return folder
    if folder.exists():
        shutil.rmtree(folder)
    rows = []
    classes = list(zip(world.classes, world.folders, world.classnames))
    bar = progress_bar(classes, desc="Rendering the design split", unit="class", disable=not progress)
    for label, ((color, shape), class_folder, classname) in enumerate(bar):
        class_dir = folder / "images" / class_folder
        class_dir.mkdir(parents=True, exist_ok=True)
        for n, array in enumerate(_class_images(spec["seed"], color, shape, DESIGN_STREAM, spec["count"], image_size)):
            _write_png(class_dir / f"{n}.png", array)
            rows.append([f"{class_folder}/{n}.png", label, classname])
    _write_json(folder / DESIGN_SPLIT_FILE, {"design": rows})
    _write_json(manifest, spec)
    log(f"ToyWorld design split written to {folder} ({len(rows)} images)")
    return folder


def _write_json(path, obj):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=4)
    os.replace(tmp, path)


def _describe(spec):
    world = spec.get("world", {})
    return (f"{len(world.get('colors', []))} colours x {len(world.get('shapes', []))} shapes, seed {spec.get('seed')}, "
            f"counts {spec.get('counts')}, {spec.get('image_size')} px, version {spec.get('version')}")
