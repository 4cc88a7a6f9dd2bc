"""``DatasetWrapper``, ``build_data_loader`` and ``DataManager`` with Dassl's behaviour.

``build_data_loader`` keeps Dassl's ``drop_last = is_train and len(data) >= batch_size`` rule and
refuses an empty loader: before that rule, a K-shot set smaller than the batch gave zero
training batches and training silently did nothing.

In a multi-process run (``shipclip.infra.distributed``) each training loader reads only its
process's share of every global batch (``DistributedShardSampler``); ``batch_size`` is then per
process. Evaluation loaders stay whole: rank 0 evaluates everything.
"""
import torch
from tabulate import tabulate
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from torchvision.transforms import Compose, Normalize, Resize, ToTensor

from shipclip.infra import distributed
from ..utils import read_image
from .samplers import DistributedShardSampler, build_sampler
from .transforms import build_transform, interpolation_mode

__all__ = ["DatasetWrapper", "build_data_loader", "DataManager"]


class DatasetWrapper(TorchDataset):
    """Turns a list of ``Datum`` into dicts: ``img``, ``label``, ``domain``, ``impath``, ``index``.

    A list/tuple of transforms gives ``img``, ``img2``, ``img3``...; ``DATALOADER.K_TRANSFORMS > 1``
    (training only) makes each of them a list of K views; ``DATALOADER.RETURN_IMG0`` adds ``img0``,
    the image only resized to ``INPUT.SIZE`` (and normalised when "normalize" is chosen).
    """

    def __init__(self, cfg, data_source, transform=None, is_train=False):
        self.cfg = cfg
        self.data_source = data_source
        self.transform = transform
        self.is_train = is_train
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0
        if self.k_tfm > 1 and transform is None:
            raise ValueError(
                f"DATALOADER.K_TRANSFORMS = {self.k_tfm} asks for {self.k_tfm} augmented views, but no "
                "transform is given (INPUT.NO_TRANSFORM is set?). Set K_TRANSFORMS to 1 or give a transform."
            )
        steps = [Resize(tuple(cfg.INPUT.SIZE), interpolation=interpolation_mode(cfg.INPUT.INTERPOLATION)),
                 ToTensor()]
        if "normalize" in cfg.INPUT.TRANSFORMS:
            steps.append(Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD))
        self.to_tensor = Compose(steps)

    def __len__(self):
        return len(self.data_source)

    def __getitem__(self, idx):
        item = self.data_source[idx]
        output = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}
        img0 = read_image(item.impath)
        if self.transform is None:
            output["img"] = img0
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                output["img" if i == 0 else f"img{i + 1}"] = self._views(tfm, img0)
        else:
            output["img"] = self._views(self.transform, img0)
        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output

    def _views(self, tfm, img0):
        views = [tfm(img0) for _ in range(self.k_tfm)]
        return views[0] if len(views) == 1 else views


def build_data_loader(cfg, sampler_type="SequentialSampler", data_source=None, batch_size=64, n_domain=0,
                      n_ins=2, tfm=None, is_train=True, dataset_wrapper=None):
    """Wrap ``data_source`` in a ``DataLoader`` with Dassl's sampler, ``drop_last`` and worker settings.

    In a distributed run a training loader reads this process's share of every global batch
    (``batch_size`` per process); its sampler already keeps whole batches, so ``drop_last`` is off.
    """
    if data_source is None:
        raise ValueError("build_data_loader needs a data_source (a list of Datum).")
    sampler = build_sampler(sampler_type, cfg=cfg, data_source=data_source, batch_size=batch_size,
                            n_domain=n_domain, n_ins=n_ins)
    drop_last = is_train and len(data_source) >= batch_size
    if is_train and distributed.is_distributed():
        if hasattr(sampler, "seed"):  # one global order: every rank shuffles with rank 0's seed
            sampler.seed = int(distributed.broadcast_object(sampler.seed))
        sampler = DistributedShardSampler(sampler, batch_size, distributed.get_world_size(), distributed.get_rank())
        drop_last = False
    wrapper_cls = DatasetWrapper if dataset_wrapper is None else dataset_wrapper
    loader = DataLoader(
        wrapper_cls(cfg, data_source, transform=tfm, is_train=is_train),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available() and cfg.USE_CUDA,
    )
    if len(loader) == 0:
        split = "training" if is_train else "evaluation"
        raise AssertionError(
            f"The {split} data loader is empty: the split of dataset {cfg.DATASET.NAME!r} has "
            f"{len(data_source)} items (batch size {batch_size}). Check DATASET.ROOT, the split file and "
            "DATASET.NUM_SHOTS / DATASET.SUBSAMPLE_CLASSES."
        )
    return loader


class DataManager:
    """Builds the dataset, the transforms and the train/val/test loaders a trainer needs."""

    def __init__(self, cfg, custom_tfm_train=None, custom_tfm_test=None, dataset_wrapper=None):
        from . import build_dataset  # the package imports this module, so import lazily

        dataset = build_dataset(cfg)

        if custom_tfm_train is None:
            tfm_train = build_transform(cfg, is_train=True)
        else:
            print("* Using custom transform for training")
            tfm_train = custom_tfm_train
        if custom_tfm_test is None:
            tfm_test = build_transform(cfg, is_train=False)
        else:
            print("* Using custom transform for testing")
            tfm_test = custom_tfm_test

        loader_x = cfg.DATALOADER.TRAIN_X
        self.train_loader_x = build_data_loader(
            cfg, sampler_type=loader_x.SAMPLER, data_source=dataset.train_x, batch_size=loader_x.BATCH_SIZE,
            n_domain=loader_x.N_DOMAIN, n_ins=loader_x.N_INS, tfm=tfm_train, is_train=True,
            dataset_wrapper=dataset_wrapper)

        self.train_loader_u = None
        if dataset.train_u:
            loader_u = loader_x if cfg.DATALOADER.TRAIN_U.SAME_AS_X else cfg.DATALOADER.TRAIN_U
            self.train_loader_u = build_data_loader(
                cfg, sampler_type=loader_u.SAMPLER, data_source=dataset.train_u, batch_size=loader_u.BATCH_SIZE,
                n_domain=loader_u.N_DOMAIN, n_ins=loader_u.N_INS, tfm=tfm_train, is_train=True,
                dataset_wrapper=dataset_wrapper)

        loader_test = cfg.DATALOADER.TEST
        self.val_loader = None
        if dataset.val:
            self.val_loader = build_data_loader(
                cfg, sampler_type=loader_test.SAMPLER, data_source=dataset.val,
                batch_size=loader_test.BATCH_SIZE, tfm=tfm_test, is_train=False, dataset_wrapper=dataset_wrapper)

        self.test_loader = build_data_loader(
            cfg, sampler_type=loader_test.SAMPLER, data_source=dataset.test,
            batch_size=loader_test.BATCH_SIZE, tfm=tfm_test, is_train=False, dataset_wrapper=dataset_wrapper)

        self._dataset = dataset
        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname

        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    dataset = property(lambda self: self._dataset)
    num_classes = property(lambda self: self._num_classes)
    num_source_domains = property(lambda self: self._num_source_domains)
    lab2cname = property(lambda self: self._lab2cname)

    def show_dataset_summary(self, cfg):
        dataset = self._dataset
        table = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            table.append(["Source", list(cfg.DATASET.SOURCE_DOMAINS)])
        if cfg.DATASET.TARGET_DOMAINS:
            table.append(["Target", list(cfg.DATASET.TARGET_DOMAINS)])
        table.append(["# classes", f"{self.num_classes:,}"])
        table.append(["# train_x", f"{len(dataset.train_x):,}"])
        if dataset.train_u:
            table.append(["# train_u", f"{len(dataset.train_u):,}"])
        if dataset.val:
            table.append(["# val", f"{len(dataset.val):,}"])
        table.append(["# test", f"{len(dataset.test):,}"])
        print(tabulate(table))
