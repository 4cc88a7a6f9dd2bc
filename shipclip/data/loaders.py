"""``DataPath``: the one loader factory of a trainer, with the feature cache as a data source behind it.

Everything a trainer iterates comes from here: the training loader, the val/test loaders, the
image loaders that fill the feature cache, and the augmented feature views that SHIP's stage 1 and
the Tip-Adapter cache consume. Two sources stand behind them:

* **images** (always available): the engine's ``DatasetWrapper`` with the train (augmenting) or
  test transform; batches carry ``img``;
* **cached features** (``FEATURES.CACHE True``, after :meth:`DataPath.attach_encoder`): ``[V, N, D]``
  tensors from :mod:`shipclip.data.feature_cache`; batches carry ``feature``
  (:mod:`shipclip.data.sources`).

The training loader shuffles with :class:`~shipclip.infra.sampling.EpochShuffleSampler` (a pure
function of the RNG state the trainer sets per epoch) and, under torchrun, reads this process's
share of every global batch through :class:`~shipclip.infra.sampling.DistributedShardSampler` —
for images and cached features alike. Its last partial batch is dropped by Dassl's rule
(``drop_last`` when the set holds at least one batch) unless ``DATALOADER.TRAIN_X.KEEP_LAST`` is set.

Augmented views (:meth:`DataPath.views`) are drawn with a private RNG seeded by the run's seed, so
they are the same whether they were just encoded or read back from the cache; with the cache the
image tower never sees an image twice (``image_passes`` counts what it did see).
"""
import torch
from torch.utils.data import DataLoader

from shipclip.infra import distributed
from shipclip.progress import progress_bar
from shipclip.infra.sampling import DistributedShardSampler, EpochShuffleSampler

from .feature_cache import FeatureCache, cache_root, data_signature, transform_signature
from .sources import CachedFeatureDataset

__all__ = ["DataPath", "SPLITS"]

SPLITS = ("train", "val", "test")


class DataPath:
    """Loaders and feature views over one dataset (``dataset.train_x``, ``val``, ``test``)."""

    def __init__(self, cfg, dataset):
        self.cfg = cfg
        self.dataset = dataset
        self.encode = None  # images -> unnormalised features (the frozen image tower), once attached
        self.identity = None  # the backbone part of cache keys
        self.cache = None  # FeatureCache when FEATURES.CACHE is on and an encoder is attached
        self.entries = {}  # (split, views) -> cache entry folder (for the log)
        self._memory = {}  # (split, views) -> [V, N, D] tensors already loaded or encoded in this run
        self.image_passes = 0  # images sent through the image tower by this data path

    # ------------------------------------------------------------------ sources
    def items(self, split):
        """The list of ``Datum`` of ``train`` (the labelled training set), ``val`` or ``test``."""
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; use one of {', '.join(SPLITS)}.")
        return list(self.dataset.train_x if split == "train" else getattr(self.dataset, split) or [])

    def attach_encoder(self, encode, identity, use_cache):
        """Give the data path the frozen image tower; with ``use_cache`` the loaders serve cached features."""
        self.encode, self.identity = encode, identity
        self.cache = FeatureCache(cache_root(self.cfg)) if use_cache else None

    @property
    def serves_features(self):
        return self.cache is not None

    def _view_seed(self, split):
        return max(int(self.cfg.SEED), 0) if split == "train" else 0

    def _key(self, split, views):
        return {"identity": self.identity, "data": data_signature(self.items(split)), "is_train": split == "train",
                "views": int(views), "transform": transform_signature(self.cfg), "view_seed": self._view_seed(split)}

    # ------------------------------------------------------------------ loaders
    def image_loader(self, items, is_train, batch_size=None):
        """An unshuffled loader over images with the train (augmenting) or test transform."""
        from shipclip.backend import DatasetWrapper, build_transform

        cfg = self.cfg
        tfm = build_transform(cfg, is_train=is_train)
        return DataLoader(DatasetWrapper(cfg, items, transform=tfm, is_train=is_train),
                          batch_size=int(batch_size or cfg.DATALOADER.TEST.BATCH_SIZE), shuffle=False,
                          num_workers=cfg.DATALOADER.NUM_WORKERS, drop_last=False,
                          pin_memory=torch.cuda.is_available() and cfg.USE_CUDA)

    def train_loader(self):
        """The shuffled training loader (cached features when attached, else augmented images)."""
        cfg = self.cfg
        items = self.items("train")
        batch_size = int(cfg.DATALOADER.TRAIN_X.BATCH_SIZE)
        keep_last = bool(cfg.DATALOADER.TRAIN_X.KEEP_LAST)
        if self.serves_features:
            source = CachedFeatureDataset(items, self.views("train", int(cfg.FEATURES.TRAIN_VIEWS)),
                                          seed=self._view_seed("train"))
            workers = 0  # in memory already
        else:
            from shipclip.backend import DatasetWrapper, build_transform

            source = DatasetWrapper(cfg, items, transform=build_transform(cfg, is_train=True), is_train=True)
            workers = cfg.DATALOADER.NUM_WORKERS
        sampler = EpochShuffleSampler(len(source))
        drop_last = not keep_last and len(source) >= batch_size
        if distributed.is_distributed():
            if keep_last:
                raise ValueError("DATALOADER.TRAIN_X.KEEP_LAST True is not supported under torchrun: the last partial "
                                 "batch cannot be split into equal per-process shares. Run on one process or set it False.")
            sampler = DistributedShardSampler(sampler, batch_size, distributed.get_world_size(), distributed.get_rank())
            drop_last = False
        loader = DataLoader(source, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=drop_last,
                            pin_memory=torch.cuda.is_available() and cfg.USE_CUDA and not self.serves_features)
        if len(loader) == 0:
            raise ValueError(
                f"The training loader is empty: dataset {cfg.DATASET.NAME!r} has {len(items)} training images "
                f"(batch size {batch_size}). Check DATASET.ROOT, the split file and DATASET.NUM_SHOTS / SUBSAMPLE_CLASSES."
            )
        return loader

    def eval_loader(self, split):
        """An unshuffled loader over ``val`` or ``test`` (None when the split is empty)."""
        items = self.items(split)
        if not items:
            return None
        if self.serves_features:
            source = CachedFeatureDataset(items, self.views(split, 1))
            return DataLoader(source, batch_size=int(self.cfg.DATALOADER.TEST.BATCH_SIZE), shuffle=False)
        return self.image_loader(items, is_train=False)

    # ------------------------------------------------------------------ features
    def views(self, split, views):
        """Unnormalised image features ``[views, N, D]`` of a split (train: augmented; val/test: one view).

        Read from the feature cache when it is attached (built once if missing), else encoded now;
        either way kept in memory for the rest of the run.
        """
        views = int(views)
        if views < 1:
            raise ValueError(f"views must be >= 1, got {views}.")
        if split != "train" and views != 1:
            raise ValueError(f"The {split} split has one (test-transform) view; asked for {views}.")
        key = (split, views)
        if key in self._memory:
            return self._memory[key]
        if self.encode is None:
            raise RuntimeError("DataPath.views needs the image encoder: call attach_encoder(...) first.")
        tensors = None
        if self.cache is not None:
            parts = self._key(split, views)
            if distributed.is_distributed() and not distributed.is_main_process():
                distributed.barrier()  # rank 0 builds a missing entry; the others read it afterwards
                tensors = self.cache.load(parts)
            else:
                tensors = self.cache.load(parts)
                if tensors is None:
                    tensors = {"features": self._encode_views(split, views)}
                    self.cache.save(parts, tensors)
                if distributed.is_distributed():
                    distributed.barrier()
            if tensors is None:
                raise RuntimeError(f"Feature cache entry {self.cache.path(parts)} is missing after rank 0 built it: "
                                   "FEATURES.DIR must be a folder every process of the run can read.")
            self.entries[key] = self.cache.path(parts)
        else:
            tensors = {"features": self._encode_views(split, views)}
        self._memory[key] = tensors["features"]
        return self._memory[key]

    @torch.no_grad()
    def _encode_views(self, split, views):
        """``views`` passes over a split through the image tower, augmentations from a private seeded RNG."""
        items = self.items(split)
        loader = self.image_loader(items, is_train=split == "train")
        out = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._view_seed(split))
            for v in range(views):
                bar = progress_bar(loader, desc=f"Caching {split} features view {v + 1}/{views}" if self.cache is not None
                           else f"Encoding {split} features view {v + 1}/{views}", leave=False)
                feats = []
                for batch in bar:
                    feats.append(self.encode(batch["img"]).float().cpu())
                    self.image_passes += int(batch["img"].shape[0])
                out.append(torch.cat(feats))
        return torch.stack(out)

    def fresh_views(self):
        """A view source over the training images that encodes a new random augmentation at every draw.

        This is the released stage-1 procedure (``TRAINER.SHIP.GEN_VIEWS 0``): exact, and as slow as
        re-encoding every image at every step. ``draw(index, rng)`` returns normalised ``[b, D]``.
        """
        if self.encode is None:
            raise RuntimeError("DataPath.fresh_views needs the image encoder: call attach_encoder(...) first.")
        return OnlineViews(self)

    def labels(self, split):
        """Labels of a split's items, in order ``[N]``."""
        return torch.tensor([int(item.label) for item in self.items(split)], dtype=torch.long)


class OnlineViews:
    """Training images re-augmented and re-encoded at every draw (see :meth:`DataPath.fresh_views`)."""

    def __init__(self, data_path):
        from shipclip.backend import DatasetWrapper, build_transform

        self.data = data_path
        items = data_path.items("train")
        self.wrapper = DatasetWrapper(data_path.cfg, items, transform=build_transform(data_path.cfg, is_train=True),
                                      is_train=True)

    def __len__(self):
        return len(self.wrapper)

    @torch.no_grad()
    def draw(self, index, rng=None):
        """Encode a fresh augmentation of the images ``index`` (the augmentation uses the global RNG)."""
        images = torch.stack([self.wrapper[int(i)]["img"] for i in index.tolist()])
        self.data.image_passes += int(images.shape[0])
        return torch.nn.functional.normalize(self.data.encode(images).float(), dim=-1)

