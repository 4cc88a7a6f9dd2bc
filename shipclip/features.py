"""On-disk cache of frozen CLIP image features, so training never re-encodes an image.

Every trainer here keeps CLIP's image encoder frozen, so the features of an image under a given
transform never change. With ``FEATURES.CACHE True`` the training set is encoded once for
``FEATURES.TRAIN_VIEWS`` augmented views (each epoch then draws one view per image, like a fresh
augmentation) and val/test once with the deterministic test transform; the loaders then yield
features instead of images (batch key ``img`` holds a [B, D] tensor).

An entry is keyed by everything that changes the features: backbone and weights, the exact list of
images and labels (dataset, split, few-shot seed and shots, class subset), the transform settings,
the number of views and the view seed. A different key is a different entry. Entries are written to a
temporary folder and renamed into place, with a ``meta.json`` holding a checksum of the tensor file;
an entry whose meta or checksum does not match is rebuilt.
"""
import hashlib
import json
import os
import shutil
import tempfile

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

__all__ = ["FeatureCache", "CachedFeatureDataset", "cache_root", "data_signature", "file_identity",
           "encode_views", "install_feature_loaders"]

FORMAT_VERSION = 1


def cache_root(cfg=None):
    """``FEATURES.DIR`` or ``$SHIPCLIP_CACHE/features`` or ``~/.cache/shipclip/features``."""
    if cfg is not None and cfg.FEATURES.DIR:
        return os.path.abspath(os.path.expanduser(cfg.FEATURES.DIR))
    base = os.environ.get("SHIPCLIP_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "shipclip")
    return os.path.join(base, "features")


def data_signature(data_source):
    """Hash of the exact (image path, label) list: covers dataset, split, shots, seed and subset."""
    h = hashlib.sha1()
    for item in data_source:
        h.update(f"{os.path.abspath(item.impath)}\t{item.label}\n".encode())
    return h.hexdigest()


def file_identity(path):
    """Cheap identity of a weights file: size plus hashes of its first and last MiB."""
    if not path or not os.path.isfile(path):
        return str(path)
    size = os.path.getsize(path)
    h = hashlib.sha1(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > (2 << 20):
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read(1 << 20))
    return f"{os.path.basename(path)}:{h.hexdigest()}"


def _sha1_file(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


class FeatureCache:
    """A folder of entries ``<root>/<key>/{features.pt, meta.json}``."""

    def __init__(self, root):
        self.root = root

    @staticmethod
    def key(parts):
        blob = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:20]

    def path(self, parts):
        return os.path.join(self.root, self.key(parts))

    def load(self, parts):
        """The cached tensors, or None when the entry is missing, partial or corrupt."""
        entry = self.path(parts)
        if not os.path.isdir(entry):
            return None
        meta_path, data_path = os.path.join(entry, "meta.json"), os.path.join(entry, "features.pt")
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            if meta.get("version") != FORMAT_VERSION or meta.get("sha1") != _sha1_file(data_path):
                raise ValueError("checksum mismatch")
            return torch.load(data_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # partial (a file missing) or corrupt: rebuild
            print(f"Feature cache entry {entry} is unusable ({exc}); rebuilding it")
            shutil.rmtree(entry, ignore_errors=True)
            return None

    def save(self, parts, tensors):
        """Write into a temp folder, then rename: readers never see a half-written entry."""
        os.makedirs(self.root, exist_ok=True)
        entry = self.path(parts)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=self.root)
        try:
            data_path = os.path.join(tmp, "features.pt")
            torch.save(tensors, data_path)
            meta = {"version": FORMAT_VERSION, "key": parts, "sha1": _sha1_file(data_path)}
            with open(os.path.join(tmp, "meta.json"), "w") as f:
                json.dump(meta, f, indent=2, sort_keys=True, default=str)
                f.flush()
                os.fsync(f.fileno())
            shutil.rmtree(entry, ignore_errors=True)
            os.replace(tmp, entry)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return entry


class _ImageList(Dataset):
    def __init__(self, data_source, transform, read_image):
        self.data, self.transform, self.read_image = data_source, transform, read_image

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.transform(self.read_image(self.data[i].impath))


@torch.no_grad()
def encode_views(data_source, transform, encode, views, seed, batch_size=64, num_workers=0, desc="features"):
    """Encode ``views`` passes of ``data_source`` -> float32 [views, N, D] (unnormalised).

    Augmentation randomness comes from a private RNG state seeded with ``seed``, so the same key
    always gives the same views and the caller's global RNG is left untouched.
    """
    from shipclip.backend import read_image

    loader = DataLoader(_ImageList(data_source, transform, read_image), batch_size=batch_size,
                        shuffle=False, num_workers=num_workers)
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for v in range(views):
            feats = [encode(images).float().cpu() for images in tqdm(loader, desc=f"{desc} view {v + 1}/{views}", leave=False)]
            out.append(torch.cat(feats))
    return torch.stack(out)


class CachedFeatureDataset(Dataset):
    """Items shaped like Dassl's wrapper (``img``, ``label``, ``domain``, ``impath``, ``index``) but
    ``img`` is a feature vector; in training each epoch picks one cached view per item."""

    def __init__(self, data_source, features, seed=0):
        self.data = data_source
        self.features = features  # [V, N, D]
        self.seed = int(seed)
        self.set_epoch(0)

    def set_epoch(self, epoch):
        g = torch.Generator().manual_seed(self.seed * 100003 + int(epoch))
        self.view_of = torch.randint(self.features.shape[0], (len(self.data),), generator=g)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        item = self.data[i]
        return {"img": self.features[self.view_of[i], i], "label": item.label, "domain": item.domain,
                "impath": item.impath, "index": i}


def install_feature_loaders(trainer, encode, identity):
    """Replace the trainer's train/val/test loaders by loaders over cached features.

    ``encode(images) -> features`` is the frozen image encoder; ``identity`` (dict) names the
    backbone and weights. Returns the dict of cache entry paths (for the log).
    """
    from shipclip.backend import build_transform

    cfg = trainer.cfg
    dataset = trainer.dm.dataset
    cache = FeatureCache(cache_root(cfg))
    tfm_keys = {k: cfg.INPUT[k] for k in ("SIZE", "INTERPOLATION", "TRANSFORMS", "PIXEL_MEAN", "PIXEL_STD", "RRCROP_SCALE", "CROP_PADDING")}
    seed = max(int(cfg.SEED), 0)
    splits = {"train": (dataset.train_x, True, int(cfg.FEATURES.TRAIN_VIEWS)),
              "val": (dataset.val, False, 1), "test": (dataset.test, False, 1)}
    entries = {}
    for split, (data, is_train, views) in splits.items():
        if not data:
            continue
        parts = {"identity": identity, "data": data_signature(data), "is_train": is_train, "views": views,
                 "transform": tfm_keys, "view_seed": seed if is_train else 0}
        tensors = cache.load(parts)
        if tensors is None:
            tfm = build_transform(cfg, is_train=is_train)
            feats = encode_views(data, tfm, encode, views, parts["view_seed"], batch_size=cfg.DATALOADER.TEST.BATCH_SIZE,
                                 num_workers=cfg.DATALOADER.NUM_WORKERS, desc=f"Caching {split} features")
            tensors = {"features": feats}
            cache.save(parts, tensors)
        entries[split] = cache.path(parts)
        ds = CachedFeatureDataset(data, tensors["features"], seed=seed)
        if is_train:
            bs = cfg.DATALOADER.TRAIN_X.BATCH_SIZE
            # Shuffled from the global RNG, which the trainers reseed from (SEED, epoch) every epoch.
            loader = DataLoader(ds, batch_size=bs, shuffle=True, drop_last=len(ds) >= bs)
            trainer.train_loader_x = loader
        else:
            loader = DataLoader(ds, batch_size=cfg.DATALOADER.TEST.BATCH_SIZE, shuffle=False)
            setattr(trainer, f"{split}_loader", loader)
    return entries
