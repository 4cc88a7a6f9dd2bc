"""On-disk cache of frozen CLIP image features, so a run never encodes the same image view twice.

Every trainer here keeps CLIP's image encoder frozen, so the features of an image under a given
transform and random draw never change. An entry holds ``V`` views ``[V, N, D]`` (unnormalised) of
one image list: augmented views of the training set (each training epoch picks one view per image,
stage 1 of SHIP a fresh view per image per step, the Tip-Adapter cache their mean) or one view of
val/test with the deterministic test transform.

An entry is keyed by everything that changes the features: the backbone's identity
(:func:`feature_identity`: architecture, weights, precision), the exact list of images and labels
(dataset, split, few-shot seed and shots, class subset), the transform settings, the number of
views and the view seed. Views are drawn with a private RNG seeded by the view seed, pass after
pass, so an entry of ``V`` views and the first ``V`` views of a larger entry are the same tensors.

Entries are written to a temporary folder and renamed into place, with a ``meta.json`` holding a
checksum of the tensor file; an entry whose meta or checksum does not match is rebuilt.
"""
import hashlib
import json
import os
import shutil

import torch

from shipclip.infra.io import make_shared_dir

__all__ = ["FeatureCache", "cache_root", "data_signature", "file_identity", "transform_signature",
           "feature_identity", "FORMAT_VERSION"]

FORMAT_VERSION = 1
TRANSFORM_KEYS = ("SIZE", "INTERPOLATION", "TRANSFORMS", "PIXEL_MEAN", "PIXEL_STD", "RRCROP_SCALE", "CROP_PADDING")


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


def transform_signature(cfg):
    """The ``INPUT`` settings that shape the transforms (and so the features)."""
    return {k: cfg.INPUT[k] for k in TRANSFORM_KEYS}


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


def feature_identity(clip_model, backbone_name, pretrained, precision, dims):
    """What makes a backbone's image features what they are (the model part of a cache key).

    ``clip_model.clip_load_info`` (set by the loader) names the architecture and weights; random
    weights are identified by a hash of the drawn visual tower.
    """
    info = dict(getattr(clip_model, "clip_load_info", {}) or {})
    pretrained = str(pretrained)
    if info.get("weights", "").startswith("random"):
        digest = hashlib.sha1()
        for name, tensor in clip_model.visual.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
        weights = f"random:{digest.hexdigest()}"
    elif os.path.isfile(os.path.expanduser(pretrained)):
        weights = file_identity(os.path.expanduser(pretrained))
    else:
        weights = info.get("weights", pretrained)
    return {"backbone": info.get("open_clip_name", backbone_name), "weights": weights,
            "quick_gelu": info.get("quick_gelu"), "precision": precision, "dims": dict(dims)}


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
        tmp = make_shared_dir(self.root, ".tmp-")  # the folder mode os.makedirs would give
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
