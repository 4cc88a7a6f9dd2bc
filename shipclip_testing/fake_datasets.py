"""Tiny stand-ins of every benchmark in its real on-disk layout (for tests and dry runs).

``make_fake_dataset(name, root)`` writes a few classes with a handful of small JPEG images each,
exactly where the real dataset keeps them, together with the real annotation formats: CoOp's
split JSON, the raw annotation files a split is generated from (text lists, ``.mat`` files),
ImageNet's ``classnames.txt`` and folder trees, and xlsa17's ``res101.mat``/``att_splits.mat``
with foreign absolute paths. It returns a ``FakeDataset`` describing what a correct loader
must read back (lists in file order, class names by label), so tests compare against it.

Nothing is downloaded; the images are solid colours (one per class).

One module on purpose (over the usual size): one small writer per supported on-disk layout, side
by side, so that every layout DATASETS.md describes has its miniature in one place.
"""
import io
import json
import os
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FAKE_NAMES", "FakeDataset", "make_fake_dataset", "write_image", "write_color_dataset", "COLOR_CLASSES",
           "COLOR_DATASET_NAME", "COLOR_FOLDER", "COLOR_SPLIT_FILE", "COLOR_COUNTS", "write_tiny_image_dataset",
           "TINY_FOLDER", "TINY_SPLIT_FILE", "TINY_CLASSES", "TINY_COUNTS", "TINY_IMAGE_HW"]

_SPLITS = ("train", "val", "test")


@dataclass
class FakeDataset:
    """What was written, and what the loader should return (``splits`` in file order)."""

    name: str
    root: str
    dataset_dir: str
    image_dir: str
    classnames: list  # every class, ordered by label
    splits: dict  # "train"/"val"/"test" -> [(relative path, label, class name)] (GZSL: "trainval",
    # "test_seen", "test_unseen" in the joint labelling; test-only variants: "val" is None)
    split_file: str = ""  # absolute path of the split JSON ("" when the dataset has none)
    raw_files: list = field(default_factory=list)  # annotation files for split generation
    extra: dict = field(default_factory=dict)  # dataset specific (GZSL: seen/unseen names, ...)


_JPEG_CACHE = {}


def _jpeg_bytes(label):
    if label not in _JPEG_CACHE:
        from PIL import Image

        rng = np.random.default_rng(label)
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), colour).save(buffer, format="JPEG")
        _JPEG_CACHE[label] = buffer.getvalue()
    return _JPEG_CACHE[label]


def write_image(path, label=0):
    """Write a small solid-colour JPEG (colour chosen by ``label``)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(_jpeg_bytes(label))


def _write_text(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def _write_split_json(path, splits):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({k: [list(t) for t in splits[k]] for k in _SPLITS}, f, indent=4)


def _cell(strings, shape):
    array = np.empty(shape, dtype=object)
    for i, s in enumerate(strings):
        array.flat[i] = s
    return array


def _savemat(path, variables):
    from scipy.io import savemat

    os.makedirs(os.path.dirname(path), exist_ok=True)
    savemat(path, variables)


def _per_class(counts):
    """(train, val, test) images per class from an int triple."""
    return dict(zip(_SPLITS, counts))


def _split_dataset(name, root, folder, image_subdir, split_file, classes, counts, image_path, with_json, raw_writer):
    """Common writer: ``classes`` = [(raw id, class name)], ``image_path(c, raw, j)`` -> relative path."""
    dataset_dir = os.path.join(root, folder)
    image_dir = os.path.join(dataset_dir, image_subdir) if image_subdir else dataset_dir
    per_class = _per_class(counts)
    splits = {k: [] for k in _SPLITS}
    j = 0
    for part in _SPLITS:
        for label, (raw, cname) in enumerate(classes):
            for _ in range(per_class[part]):
                rel = image_path(label, raw, j)
                j += 1
                write_image(os.path.join(image_dir, rel), label)
                splits[part].append((rel, label, cname))
    split_path = os.path.join(dataset_dir, split_file) if split_file else ""
    if split_path and with_json:
        _write_split_json(split_path, splits)
    raw_files = raw_writer(dataset_dir, image_dir, splits) if raw_writer else []
    return FakeDataset(name, root, dataset_dir, image_dir, [c for _, c in classes], splits, split_path, raw_files)


def _pets(root, n, counts, with_json, raw):
    breeds = ["Abyssinian", "american_bulldog", "Bengal", "beagle", "Birman", "boxer", "British_Shorthair"][:n]
    classes = [(b, b.lower()) for b in breeds]

    def image_path(label, breed, j):
        return f"{breed}_{j + 1}.jpg"

    def raw_writer(dataset_dir, image_dir, splits):
        def lines(items):
            return [f"{rel[:-4]} {label + 1} {1 if breeds[label][0].isupper() else 2} {label + 1}"
                    for rel, label, _ in items]
        trainval = os.path.join(dataset_dir, "annotations", "trainval.txt")
        test = os.path.join(dataset_dir, "annotations", "test.txt")
        _write_text(trainval, lines(splits["train"] + splits["val"]))
        _write_text(test, lines(splits["test"]))
        return [trainval, test]

    return _split_dataset("OxfordPets", root, "oxford_pets", "images", "split_zhou_OxfordPets.json", classes,
                          counts, image_path, with_json, raw_writer if raw else None)


def _folder_dataset(name, folder, image_subdir, split_file, raw_classes, renames=None, ignored=()):
    """Datasets whose raw form is a folder per class (Caltech101, Food101, DTD, EuroSAT)."""
    renames = renames or {}

    def build(root, n, counts, with_json, raw):
        kept = sorted(raw_classes[:n])  # labels follow the sorted folder names
        classes = [(c, renames.get(c, c)) for c in kept]

        def image_path(label, category, j):
            return f"{category}/image_{j + 1:04d}.jpg"

        def raw_writer(dataset_dir, image_dir, splits):
            for k, category in enumerate(ignored):  # folders the generator must skip
                for j in range(3):
                    write_image(os.path.join(image_dir, category, f"image_{j + 1:04d}.jpg"), 100 + k)
            return [image_dir]

        return _split_dataset(name, root, folder, image_subdir, split_file, classes, counts, image_path, with_json,
                              raw_writer if raw else None)

    return build


def _cars(root, n, counts, with_json, raw):
    meta = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Audi R8 Coupe 2012", "BMW M3 Coupe 2012",
            "Tesla Model S Sedan 2012", "Volvo 240 Sedan 1993", "smart fortwo Convertible 2012"][:n]
    classes = [(m, " ".join([m.split(" ")[-1]] + m.split(" ")[:-1])) for m in meta]

    def image_path(label, _, j):
        # train and val come from cars_train, test from cars_test (as in CoOp's split file)
        part = "cars_test" if j >= _test_start[0] else "cars_train"
        return f"{part}/{j + 1:05d}.jpg"

    per_class = _per_class(counts)
    _test_start = [(per_class["train"] + per_class["val"]) * len(meta)]

    def raw_writer(dataset_dir, image_dir, splits):
        def annos(items):
            array = np.zeros((1, len(items)), dtype=[("fname", object), ("class", object)])
            for i, (rel, label, _) in enumerate(items):
                array[0, i]["fname"] = rel.split("/", 1)[1]
                array[0, i]["class"] = np.array([[label + 1]], dtype=np.uint8)
            return {"annotations": array}
        files = [os.path.join(dataset_dir, "devkit", "cars_train_annos.mat"),
                 os.path.join(dataset_dir, "cars_test_annos_withlabels.mat"),
                 os.path.join(dataset_dir, "devkit", "cars_meta.mat")]
        _savemat(files[0], annos(splits["train"] + splits["val"]))
        _savemat(files[1], annos(splits["test"]))
        _savemat(files[2], {"class_names": _cell(meta, (1, len(meta)))})
        return files

    return _split_dataset("StanfordCars", root, "stanford_cars", "", "split_zhou_StanfordCars.json", classes, counts,
                          image_path, with_json, raw_writer if raw else None)


def _flowers(root, n, counts, with_json, raw):
    names = ["pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea", "english marigold",
             "tiger lily", "moon orchid"][:n]
    classes = [(str(i + 1), name) for i, name in enumerate(names)]

    def image_path(label, _, j):
        return f"image_{j + 1:05d}.jpg"

    def raw_writer(dataset_dir, image_dir, splits):
        items = sorted(splits["train"] + splits["val"] + splits["test"])  # image_00001.jpg, ...
        labels = np.array([[label + 1 for _, label, _ in items]], dtype=np.uint8)
        files = [os.path.join(dataset_dir, "imagelabels.mat"), os.path.join(dataset_dir, "cat_to_name.json")]
        _savemat(files[0], {"labels": labels})
        with open(files[1], "w", encoding="utf-8") as f:
            json.dump({raw: name for raw, name in classes}, f)
        return files

    return _split_dataset("OxfordFlowers", root, "oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json", classes,
                          counts, image_path, with_json, raw_writer if raw else None)


def _sun397(root, n, counts, with_json, raw):
    categories = ["a/abbey", "a/apartment_building/outdoor", "b/bakery/shop", "b/bedroom", "c/campsite",
                  "d/dining_room", "e/elevator/door"][:n]
    classes = [(c, " ".join(c.split("/")[1:][::-1])) for c in categories]

    def image_path(label, category, j):
        return f"{category}/sun_{j:06d}.jpg"

    def raw_writer(dataset_dir, image_dir, splits):
        files = [os.path.join(dataset_dir, name) for name in ("ClassName.txt", "Training_01.txt", "Testing_01.txt")]
        _write_text(files[0], ["/" + c for c in categories])
        _write_text(files[1], ["/" + rel for rel, _, _ in splits["train"] + splits["val"]])
        _write_text(files[2], ["/" + rel for rel, _, _ in splits["test"]])
        return files

    return _split_dataset("SUN397", root, "sun397", "SUN397", "split_zhou_SUN397.json", classes, counts, image_path,
                          with_json, raw_writer if raw else None)


def _ucf101(root, n, counts, with_json, raw):
    actions = ["ApplyEyeMakeup", "ApplyLipstick", "Archery", "BabyCrawling", "BalanceBeam", "YoYo", "PlayingDaf"][:n]
    renamed = {"ApplyEyeMakeup": "Apply_Eye_Makeup", "ApplyLipstick": "Apply_Lipstick", "Archery": "Archery",
               "BabyCrawling": "Baby_Crawling", "BalanceBeam": "Balance_Beam", "YoYo": "Yo_Yo",
               "PlayingDaf": "Playing_Daf"}
    classes = [(a, renamed[a]) for a in actions]

    def image_path(label, action, j):
        return f"{renamed[action]}/v_{action}_g{j:02d}_c01.jpg"

    def raw_writer(dataset_dir, image_dir, splits):
        def video(rel, label):
            return f"{actions[label]}/{os.path.basename(rel)[:-4]}.avi"
        base = os.path.join(dataset_dir, "ucfTrainTestlist")
        files = [os.path.join(base, name) for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt")]
        _write_text(files[0], [f"{i + 1} {a}" for i, a in enumerate(actions)])
        _write_text(files[1], [f"{video(rel, label)} {label + 1}" for rel, label, _ in splits["train"] + splits["val"]])
        _write_text(files[2], [video(rel, label) for rel, label, _ in splits["test"]])
        return files

    return _split_dataset("UCF101", root, "ucf101", "UCF-101-midframes", "split_zhou_UCF101.json", classes, counts,
                          image_path, with_json, raw_writer if raw else None)


def _aircraft(root, n, counts, with_json, raw):
    variants = ["707-320", "727-200", "A300B4", "Cessna 172", "DHC-8-100", "F-16A/B", "Tu-154"][:n]
    classes = [(v, v) for v in variants]

    def image_path(label, _, j):
        return f"{1000000 + j:07d}.jpg"

    def raw_writer(dataset_dir, image_dir, splits):
        files = [os.path.join(dataset_dir, "variants.txt")]
        _write_text(files[0], variants)
        for part in _SPLITS:
            files.append(os.path.join(dataset_dir, f"images_variant_{part}.txt"))
            _write_text(files[-1], [f"{rel[:-4]} {cname}" for rel, _, cname in splits[part]])
        return files

    return _split_dataset("FGVCAircraft", root, "fgvc_aircraft", "images", "", classes, counts, image_path, False,
                          raw_writer)


# ImageNet: wnids listed in classnames.txt in an order that is not sorted, so label = sorted position is tested.
_WNIDS = [("n01443537", "goldfish"), ("n01440764", "tench"), ("n01491361", "tiger shark"),
          ("n01484850", "great white shark"), ("n01496331", "electric ray"), ("n01498041", "stingray"),
          ("n01514668", "rooster")]


def _write_classnames(path, pairs):
    _write_text(path, [f"{w} {name}" for w, name in pairs])


def _imagenet(root, n, counts, with_json, raw):
    pairs = _WNIDS[:n]
    dataset_dir = os.path.join(root, "imagenet")
    image_dir = os.path.join(dataset_dir, "images")
    _write_classnames(os.path.join(dataset_dir, "classnames.txt"), _WNIDS)  # more names than folders is fine
    ordered = sorted(pairs)
    splits = {"train": [], "val": [], "test": []}
    per_class = _per_class(counts)
    for label, (wnid, cname) in enumerate(ordered):
        for j in range(per_class["train"]):
            rel = f"train/{wnid}/{wnid}_{j:04d}.JPEG"
            write_image(os.path.join(image_dir, rel), label)
            splits["train"].append((rel, label, cname))
        for j in range(per_class["test"]):
            rel = f"val/{wnid}/ILSVRC2012_val_{label * 100 + j:08d}.JPEG"
            write_image(os.path.join(image_dir, rel), label)
            splits["test"].append((rel, label, cname))
    splits["val"] = list(splits["test"])
    return FakeDataset("ImageNet", root, dataset_dir, image_dir, [c for _, c in ordered], splits)


def _variant(name, folder, image_subdir, numbered=False, readme=False):
    def build(root, n, counts, with_json, raw):
        pairs = _WNIDS[:n]
        dataset_dir = os.path.join(root, folder)
        image_dir = os.path.join(dataset_dir, image_subdir)
        _write_classnames(os.path.join(dataset_dir, "classnames.txt"), pairs if numbered else _WNIDS)
        ordered = pairs if numbered else sorted(pairs)
        per_class = sum(counts)
        items = []
        for label, (wnid, cname) in enumerate(ordered):
            sub = str(label) if numbered else wnid
            for j in range(per_class):
                rel = f"{sub}/img_{j:04d}.jpeg"
                write_image(os.path.join(image_dir, rel), label)
                items.append((rel, label, cname))
        if readme:
            _write_text(os.path.join(image_dir, "README.txt"), ["not a class"])
        return FakeDataset(name, root, dataset_dir, image_dir, [c for _, c in ordered],
                           {"train": list(items), "val": None, "test": list(items)})
    return build


# GZSL: (xlsa17 name, dataset folder, image subdir, foreign path prefix up to the anchor, raw class names)
_GZSL = {
    "GZSL_CUB": ("CUB", "CUB", "CUB_200_2011/images", "/BS/xian/work/data/CUB_200_2011/CUB_200_2011/images/",
                 ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross",
                  "004.Groove_billed_Ani", "005.Crested_Auklet", "006.Least_Auklet", "007.Parakeet_Auklet"]),
    "GZSL_AWA2": ("AWA2", "AWA2", "Animals_with_Attributes2/JPEGImages",
                  "/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/",
                  ["antelope", "grizzly+bear", "killer+whale", "beaver", "dalmatian", "persian+cat", "horse"]),
    "GZSL_SUN": ("SUN", "SUN", "images", "/BS/xian/work/data/SUN/images/",
                 ["abbey", "airplane_cabin", "airport_terminal", "alley", "amphitheater", "amusement_arcade",
                  "amusement_park"]),
}


def _readable(raw):
    import re

    return " ".join(re.split(r"[_+]+", re.sub(r"^\d+\.", "", raw))).lower()


def _gzsl(name):
    xlsa, folder, image_subdir, prefix, raw_names = _GZSL[name]

    def build(root, n, counts, with_json, raw):
        names = raw_names[:n]
        unseen = {2, 4} if n >= 5 else {n - 1}  # 0-based class indices, interleaved with the seen ones
        seen = [c for c in range(n) if c not in unseen]
        n_trainval, n_test_seen, n_test_unseen = counts[0] + counts[1], counts[2], counts[2]
        image_dir = os.path.join(root, folder, image_subdir)
        files, labels, locs = [], [], {"trainval_loc": [], "test_seen_loc": [], "test_unseen_loc": []}
        for c in range(n):
            sub = names[c] if name != "GZSL_SUN" else f"{names[c][0]}/{names[c]}"
            amounts = [("test_unseen_loc", n_test_unseen)] if c in unseen else [
                ("trainval_loc", n_trainval), ("test_seen_loc", n_test_seen)]
            for key, amount in amounts:
                for _ in range(amount):
                    rel = f"{sub}/{names[c].split('.')[-1].lower()}_{len(files):05d}.jpg"
                    write_image(os.path.join(image_dir, rel), c)
                    files.append(prefix + rel)
                    labels.append(c + 1)
                    locs[key].append(len(files))  # 1-based row
        order = np.random.default_rng(0).permutation(len(files))  # rows of res101 in a mixed order
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        files = [files[i] for i in order]
        labels = [labels[i] for i in order]
        locs = {k: [int(inverse[r - 1]) + 1 for r in v] for k, v in locs.items()}
        split_dir = os.path.join(root, "xlsa17", "data", xlsa)
        _savemat(os.path.join(split_dir, "res101.mat"), {
            "image_files": _cell(files, (len(files), 1)),
            "labels": np.array(labels, dtype=float).reshape(-1, 1),
            "features": np.zeros((4, len(files))),
        })
        _savemat(os.path.join(split_dir, "att_splits.mat"), {
            "allclasses_names": _cell(names, (n, 1)),
            **{k: np.array(v, dtype=float).reshape(-1, 1) for k, v in locs.items()},
            "att": np.zeros((8, n)),
        })

        def triples(key):
            joint = {c: i for i, c in enumerate(seen + sorted(unseen))}
            return [(os.path.relpath(map_local(files[r - 1]), image_dir), joint[labels[r - 1] - 1],
                     _readable(names[labels[r - 1] - 1])) for r in locs[key]]

        def map_local(stored):
            return os.path.join(image_dir, stored[len(prefix):])

        seen_names = [_readable(names[c]) for c in seen]
        unseen_names = [_readable(names[c]) for c in sorted(unseen)]
        return FakeDataset(name, root, os.path.join(root, folder), image_dir, seen_names + unseen_names,
                           {"trainval": triples("trainval_loc"), "test_seen": triples("test_seen_loc"),
                            "test_unseen": triples("test_unseen_loc")},
                           extra={"seen": seen_names, "unseen": unseen_names, "split_dir": split_dir,
                                  "foreign_paths": files})
    return build


_BUILDERS = {
    "ImageNet": _imagenet,
    "Caltech101": _folder_dataset("Caltech101", "caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json",
                                  ["accordion", "airplanes", "Faces", "Leopards", "anchor", "Motorbikes", "ant"],
                                  renames={"airplanes": "airplane", "Faces": "face", "Leopards": "leopard",
                                           "Motorbikes": "motorbike"},
                                  ignored=("BACKGROUND_Google", "Faces_easy")),
    "OxfordPets": _pets,
    "StanfordCars": _cars,
    "OxfordFlowers": _flowers,
    "Food101": _folder_dataset("Food101", "food-101", "images", "split_zhou_Food101.json",
                               ["apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beignets", "bibimbap",
                                "churros"]),
    "FGVCAircraft": _aircraft,
    "SUN397": _sun397,
    "DescribableTextures": _folder_dataset("DescribableTextures", "dtd", "images",
                                           "split_zhou_DescribableTextures.json",
                                           ["banded", "blotchy", "braided", "bubbly", "bumpy", "chequered",
                                            "cobwebbed"]),
    "EuroSAT": _folder_dataset("EuroSAT", "eurosat", "2750", "split_zhou_EuroSAT.json",
                               ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
                                "PermanentCrop"],
                               renames={"AnnualCrop": "Annual Crop Land", "Forest": "Forest",
                                        "HerbaceousVegetation": "Herbaceous Vegetation Land",
                                        "Highway": "Highway or Road", "Industrial": "Industrial Buildings",
                                        "Pasture": "Pasture Land", "PermanentCrop": "Permanent Crop Land"}),
    "UCF101": _ucf101,
    "ImageNetV2": _variant("ImageNetV2", "imagenetv2", "imagenetv2-matched-frequency-format-val", numbered=True),
    "ImageNetSketch": _variant("ImageNetSketch", "imagenet-sketch", "images"),
    "ImageNetA": _variant("ImageNetA", "imagenet-adversarial", "imagenet-a", readme=True),
    "ImageNetR": _variant("ImageNetR", "imagenet-rendition", "imagenet-r", readme=True),
    "GZSL_CUB": _gzsl("GZSL_CUB"),
    "GZSL_AWA2": _gzsl("GZSL_AWA2"),
    "GZSL_SUN": _gzsl("GZSL_SUN"),
}

FAKE_NAMES = tuple(_BUILDERS)


def make_fake_dataset(name, root, num_classes=5, counts=(6, 3, 3), split_json=True, raw=True):
    """Write a tiny ``name`` dataset under ``root`` and describe it.

    ``num_classes`` (2..7) classes; ``counts`` = images per class in (train, val, test) (ImageNet:
    val is its test set; the test-only variants put the sum in each class folder; GZSL: trainval =
    train + val per seen class, test = ``counts[2]`` per class; classes 2 and 4 are unseen, or the
    last one with fewer than 5 classes). ``split_json``/``raw``: write CoOp's split JSON and/or
    the raw annotation files a split can be generated from (where the dataset has them).
    """
    if name not in _BUILDERS:
        raise KeyError(f'No fake layout for "{name}"; known: {sorted(_BUILDERS)}.')
    if not 2 <= num_classes <= 7:
        raise ValueError(f"num_classes must be in 2..7, got {num_classes}.")
    return _BUILDERS[name](os.path.abspath(root), num_classes, tuple(counts), split_json, raw)


# ------------------------------------------------------------------------------------------------
# The colour dataset: solid colours with noise, so that even a frozen *random* CLIP separates the
# classes and a few epochs of CoOp learn something. CoOp's split-file layout; the trainer tests run on it.

COLOR_DATASET_NAME = "TrainerTestColors"
COLOR_FOLDER = "trainer_test_colors"
COLOR_SPLIT_FILE = "split_trainer_test_colors.json"
COLOR_CLASSES = ("red", "green", "blue", "yellow", "purple", "orange")  # base: first 3, new: last 3
COLOR_RGB = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 60, 220), "yellow": (230, 220, 30),
             "purple": (140, 40, 180), "orange": (240, 140, 20)}
COLOR_COUNTS = {"train": 6, "val": 3, "test": 4}


def _write_class_images(folder, split_file, classes, counts, pixels_of, digits):
    """PNG images ``images/<class>/<split>_<i>.png`` from ``pixels_of(label)`` and a CoOp split JSON of them."""
    from PIL import Image

    image_dir = os.path.join(folder, "images")
    split = {}
    for split_name, per_class in counts.items():
        rows = []
        for label, cls in enumerate(classes):
            os.makedirs(os.path.join(image_dir, cls), exist_ok=True)
            for i in range(per_class):
                rel = f"{cls}/{split_name}_{i:0{digits}d}.png"
                Image.fromarray(pixels_of(label)).save(os.path.join(image_dir, rel))
                rows.append([rel, label, cls])
        split[split_name] = rows
    with open(os.path.join(folder, split_file), "w") as f:
        json.dump(split, f)
    return folder


def write_color_dataset(root, size=32, seed=0):
    """Solid colour images with noise, one folder per class, plus a CoOp split file; returns the folder."""
    rng = np.random.default_rng(seed)

    def pixels_of(label):
        pixels = np.ones((size, size, 3)) * np.array(COLOR_RGB[COLOR_CLASSES[label]], dtype=float)
        return np.clip(pixels + rng.normal(0, 20, pixels.shape), 0, 255).astype(np.uint8)

    return _write_class_images(os.path.join(str(root), COLOR_FOLDER), COLOR_SPLIT_FILE, COLOR_CLASSES, COLOR_COUNTS,
                               pixels_of, digits=2)


# ------------------------------------------------------------------------------------------------
# The tiny image dataset of the engine tests: 3 classes, 10x12 images, one bright channel per class,
# so a linear model over the flattened pixels learns them within a few epochs.

TINY_FOLDER = "ship_test_images"
TINY_SPLIT_FILE = "split_ship_test_images.json"
TINY_CLASSES = ("red", "green", "blue")
TINY_COUNTS = {"train": 6, "val": 2, "test": 3}  # images per class
TINY_IMAGE_HW = (10, 12)  # stored size; the engine-test configs resize to 8x8


def write_tiny_image_dataset(root, classes=TINY_CLASSES, counts=None, image_hw=TINY_IMAGE_HW, seed=0):
    """Write the tiny dataset under ``root`` and return its folder.

    Class ``k`` has channel ``k % 3`` bright and the others dark, plus pixel noise.
    """
    rng = np.random.default_rng(seed)

    def pixels_of(label):
        base = np.full((*image_hw, 3), 40.0)
        base[..., label % 3] = 200.0
        return np.clip(base + rng.normal(0.0, 25.0, base.shape), 0, 255).astype(np.uint8)

    return _write_class_images(os.path.join(str(root), TINY_FOLDER), TINY_SPLIT_FILE, classes,
                               dict(TINY_COUNTS if counts is None else counts), pixels_of, digits=3)
