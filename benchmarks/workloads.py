"""What the benchmarks run on: class names, a backbone with random weights, generated images in CoOp's
split-file layout, and SHIP_CoOp with the released recipe on them (see :mod:`benchmarks.common` for
the timing and printing).
"""
import json
import os
import time

from benchmarks.common import REPO, require_positive

__all__ = ["CLASSNAMES", "BENCH_DATASET", "BENCH_TRAINER", "add_ship_size_arguments", "check_ship_sizes",
           "load_backbone", "image_size", "write_image_dataset", "prepare_ship_data", "ship_coop_trainer"]

# 100 ImageNet class names (mixed categories, single- and multi-word, as CoOp prompts see them).
CLASSNAMES = [
    "tench", "goldfish", "great white shark", "hammerhead shark", "stingray", "rooster", "ostrich", "goldfinch",
    "bald eagle", "great grey owl", "fire salamander", "axolotl", "American bullfrog", "loggerhead sea turtle",
    "green iguana", "Komodo dragon", "Nile crocodile", "triceratops", "boa constrictor", "green mamba",
    "tarantula", "centipede", "peafowl", "African grey parrot", "hummingbird", "toucan", "red-breasted merganser",
    "black swan", "tusker", "echidna", "platypus", "jellyfish", "sea anemone", "snail", "Dungeness crab",
    "American lobster", "flamingo", "king penguin", "grey whale", "killer whale", "Chihuahua",
    "Japanese Chin", "Rhodesian Ridgeback", "Afghan Hound", "Bernese Mountain Dog", "Chesapeake Bay Retriever",
    "German Shorthaired Pointer", "Old English Sheepdog", "Siberian Husky", "Dalmatian", "red fox",
    "snow leopard", "lion", "tiger", "brown bear", "polar bear", "meerkat", "ladybug", "monarch butterfly",
    "dragonfly", "starfish", "sea urchin", "hamster", "porcupine", "zebra", "hippopotamus", "bighorn sheep",
    "giant panda", "orangutan", "ring-tailed lemur", "acoustic guitar", "aircraft carrier", "airliner",
    "analog clock", "backpack", "barber chair", "beer bottle", "bicycle-built-for-two", "bullet train",
    "cassette player", "cowboy hat", "electric guitar", "fire truck", "grand piano", "hourglass",
    "lighthouse", "mountain bike", "parachute", "pirate ship", "school bus", "sewing machine", "steam locomotive",
    "suspension bridge", "tractor", "umbrella", "vending machine", "cheeseburger", "pizza", "strawberry",
    "espresso",
]
assert len(CLASSNAMES) == 100 and len(set(CLASSNAMES)) == 100

BENCH_DATASET = "ShipBenchImages"
BENCH_TRAINER = "BenchSHIP_CoOp"
_DATA_FOLDER = "ship_bench_images"
_SPLIT_FILE = "split_ship_bench_images.json"
_SHIP_CONFIG = os.path.join(REPO, "configs", "trainers", "SHIP_CoOp", "vit_b16_released.yaml")


# ------------------------------------------------------------------------------------------ arguments
def add_ship_size_arguments(parser):
    """``--classes``, ``--shots`` and ``--batch-size`` of the two SHIP_CoOp benchmarks."""
    parser.add_argument("--classes", type=int, default=None,
                        help="base classes, and as many label-only classes (default 10; quick 2)")
    parser.add_argument("--shots", type=int, default=None, help="training images per class (default 4; quick 2)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="real images per step (default 32, CoOp's recipe; quick 2)")


def check_ship_sizes(args, keys):
    """``require_positive`` plus room for ``--classes`` base and as many label-only class names."""
    require_positive(args, keys)
    if 2 * args.classes > len(CLASSNAMES):
        raise SystemExit(f"--classes must be at most {len(CLASSNAMES) // 2}, got {args.classes}")


# -------------------------------------------------------------------------------------------- models
def load_backbone(args, work, seed=0):
    """(model, tokenizer, name): ViT-B-16 with random weights, or the tiny test model with ``--quick``."""
    import torch

    from shipclip.clip.loader import get_tokenizer, load_clip

    name = _backbone_name(args, work)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = load_clip(name, pretrained="none")
    return model, get_tokenizer(name), name


def _backbone_name(args, work):
    if not args.quick:
        return "ViT-B-16"
    from shipclip_testing.models import write_tiny_config

    return write_tiny_config(os.path.join(work, "backbones"), "vit")


def image_size(args):
    if not args.quick:
        return 224
    from shipclip_testing.models import tiny_config

    return int(tiny_config("vit")["vision_cfg"]["image_size"])


# ------------------------------------------------------------------------------------- data + trainer
def write_image_dataset(root, classnames, counts, size, seed=0):
    """JPEG images (a colour per class plus noise) in CoOp's split-file layout; returns the dataset folder."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder = os.path.join(root, _DATA_FOLDER)
    image_dir = os.path.join(folder, "images")
    split = {}
    for part, per_class in counts.items():
        rows = []
        for label, name in enumerate(classnames):
            sub = f"c{label:03d}"
            os.makedirs(os.path.join(image_dir, sub), exist_ok=True)
            colour = rng.integers(30, 226, size=3).astype(float)
            for i in range(per_class):
                pixels = np.clip(colour + rng.normal(0.0, 30.0, (size, size, 3)), 0, 255).astype(np.uint8)
                rel = f"{sub}/{part}_{i:03d}.jpg"
                Image.fromarray(pixels).save(os.path.join(image_dir, rel), quality=90)
                rows.append([rel, label, name])
        split[part] = rows
    with open(os.path.join(folder, _SPLIT_FILE), "w") as f:
        json.dump(split, f)
    return folder


def prepare_ship_data(args, work):
    """``2 * args.classes`` classes (base = first half, label-only = second half), ``args.shots`` train each."""
    names = CLASSNAMES[: 2 * args.classes]
    counts = {"train": args.shots, "val": 1, "test": 1}
    size = 40 if args.quick else 224  # stored size; the transforms resize to the model's input size
    write_image_dataset(os.path.join(work, "data"), names, counts, size)
    return names


def _register_bench_components():
    import torch
    import torch.nn.functional as F

    from shipclip.backend import DATASET_REGISTRY, TRAINER_REGISTRY
    from shipclip.datasets.benchmark import SplitDataset
    from shipclip.trainers.ship import SHIP_CoOp

    if BENCH_DATASET not in DATASET_REGISTRY.registered_names():
        DATASET_REGISTRY.register(type(BENCH_DATASET, (SplitDataset,), {
            "folder": _DATA_FOLDER, "image_subdir": "images", "split_file": _SPLIT_FILE,
            "template": "a photo of a {}.", "__module__": __name__,
        }))
    if BENCH_TRAINER in TRAINER_REGISTRY.registered_names():
        return

    class BenchSHIP_CoOp(SHIP_CoOp):
        """SHIP_CoOp whose stage 1 fits on random features (the generator's quality changes no timing)
        and that times the feature-cache build."""

        cache_build_s = None

        def generator_training_features(self):
            data = self.dm.dataset.train_x
            rng = torch.Generator().manual_seed(0)
            features = F.normalize(torch.randn(len(data), self.dim("embed_dim"), generator=rng), dim=-1)
            return features.to(self.device), torch.tensor([d.label for d in data], device=self.device)

        def attach_data_encoder(self):
            start = time.perf_counter()
            super().attach_data_encoder()
            self.cache_build_s = time.perf_counter() - start

    TRAINER_REGISTRY.register(BenchSHIP_CoOp)


def ship_coop_trainer(args, work, tag, opts=()):
    """SHIP_CoOp with the released recipe (configs/trainers/SHIP_CoOp/vit_b16_released.yaml) on the
    generated images, with a random backbone and the benchmark's sizes. Stage 1 is not run here."""
    from shipclip.backend import build_trainer, set_random_seed
    from shipclip.config import get_cfg

    _register_bench_components()
    size = image_size(args)
    cfg = get_cfg()
    cfg.merge_from_file(_SHIP_CONFIG)
    values = [
        "DATASET.NAME", BENCH_DATASET, "DATASET.ROOT", os.path.join(work, "data"),
        "DATASET.NUM_SHOTS", args.shots, "DATASET.SUBSAMPLE_CLASSES", "base", "SEED", 1,
        "OUTPUT_DIR", os.path.join(work, "output", tag), "USE_CUDA", False,
        "DATALOADER.NUM_WORKERS", 0, "DATALOADER.TRAIN_X.BATCH_SIZE", args.batch_size,
        "DATALOADER.TEST.BATCH_SIZE", 32, "TRAIN.PRINT_FREQ", 1,
        "MODEL.BACKBONE.NAME", _backbone_name(args, work), "MODEL.BACKBONE.PRETRAINED", "none",
        "INPUT.SIZE", (size, size), "TRAINER.NAME", BENCH_TRAINER,
        "TRAINER.SHIP.EPOCHS", 1, "TRAINER.SHIP.LABEL_ONLY", "new",
        "FEATURES.DIR", os.path.join(work, "features"),
    ]
    if args.quick:
        values += ["TRAINER.SHIP.ENC_HIDDEN", 32, "TRAINER.SHIP.LATENT_DIM", 8, "TRAINER.SHIP.GEN_HIDDEN", 32]
    values += list(opts)
    cfg.merge_from_list([v if isinstance(v, str) else repr(v) for v in values])
    cfg.freeze()
    set_random_seed(cfg.SEED)
    return build_trainer(cfg)
