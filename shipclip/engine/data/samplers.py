"""Samplers with Dassl's names; the random one is reproducible per epoch.

``RandomSampler`` draws one base seed from the global torch RNG when it is built (so
``set_random_seed`` fixes it) and shuffles epoch ``e`` with a private generator seeded by
``base_seed + e``. The order of an epoch therefore depends only on (seed, epoch), not on how much
randomness was consumed before it: a run resumed after being killed at epoch ``e`` visits the
same batches as an uninterrupted one.

``DistributedShardSampler`` cuts that global order into per-process shares for multi-process
training (see ``shipclip.engine.distributed``).
"""
import math

import torch
from torch.utils.data import Sampler
from torch.utils.data import SequentialSampler as _TorchSequentialSampler

__all__ = ["AVAI_SAMPLERS", "RandomSampler", "SequentialSampler", "DistributedShardSampler", "build_sampler"]

AVAI_SAMPLERS = ("RandomSampler", "SequentialSampler")


class RandomSampler(Sampler):
    """Permutation of ``range(len(data_source))`` that is a pure function of (base seed, epoch).

    Call ``set_epoch(e)`` before iterating epoch ``e``. Without it, each new iteration moves to
    the next epoch, so repeated passes still see different orders.
    """

    def __init__(self, data_source, seed=None):
        self.data_source = data_source
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __iter__(self):
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.data_source), generator=generator).tolist()
        self.epoch += 1
        return iter(order)

    def __len__(self):
        return len(self.data_source)


class SequentialSampler(_TorchSequentialSampler):
    """Indices in order; ``set_epoch`` is accepted and ignored so callers need not check."""

    def set_epoch(self, epoch):
        pass


class DistributedShardSampler(Sampler):
    """One process's share of every global batch of ``sampler``'s order.

    With ``num_replicas`` processes reading ``batch_size`` items each, global batch ``t`` is
    ``order[t*W*B : (t+1)*W*B]`` (``W`` processes, ``B`` items each) and rank ``r`` reads its
    ``r``-th slice of ``B`` items. Every rank computes the same ``order`` (same seed and epoch),
    so the ranks together visit exactly the batches a single process with batch ``W*B`` visits.
    The sizes follow that single process's ``drop_last`` rule:

    * ``len(order) >= W*B``: whole global batches only (the remainder is dropped), so each rank
      gets a multiple of ``B`` items;
    * fewer items (one partial global batch, e.g. 1-shot on few classes): each rank gets
      ``ceil(len / W)`` items, the end wrapped around to the start of the order so every rank
      has as many as the others. Only here can an item be seen twice in one epoch.

    The loader over this sampler must use ``drop_last=False`` (the shares are whole already).
    ``set_epoch`` is forwarded to ``sampler``; without it each new pass moves to the next epoch.
    """

    def __init__(self, sampler, batch_size, num_replicas, rank):
        num_replicas, rank, batch_size = int(num_replicas), int(rank), int(batch_size)
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be >= 1, got {num_replicas}.")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas - 1}], got {rank}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.sampler = sampler
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def _layout(self):
        """(items per rank per global batch, number of global batches)."""
        n = len(self.sampler)
        global_batch = self.num_replicas * self.batch_size
        if n >= global_batch:
            return self.batch_size, n // global_batch
        if n == 0:
            return 0, 0
        return math.ceil(n / self.num_replicas), 1

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __iter__(self):
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)
        order = list(iter(self.sampler))
        self.epoch += 1
        share, num_batches = self._layout()
        total = share * self.num_replicas * num_batches
        if len(order) < total:
            order = (order * math.ceil(total / len(order)))[:total]
        shard = []
        for t in range(num_batches):
            start = (t * self.num_replicas + self.rank) * share
            shard.extend(order[start:start + share])
        return iter(shard)

    def __len__(self):
        share, num_batches = self._layout()
        return share * num_batches


def build_sampler(sampler_type, cfg=None, data_source=None, batch_size=32, n_domain=0, n_ins=16):
    """Return the sampler named ``sampler_type`` over ``data_source``.

    ``cfg``, ``batch_size``, ``n_domain`` and ``n_ins`` are accepted for Dassl's signature; they
    matter only for Dassl's domain/class samplers, which the built-in engine does not provide.
    """
    if data_source is None:
        raise ValueError(f"build_sampler({sampler_type!r}) needs a data_source (the list of Datum).")
    if sampler_type == "RandomSampler":
        return RandomSampler(data_source)
    if sampler_type == "SequentialSampler":
        return SequentialSampler(data_source)
    raise ValueError(
        f'Unknown sampler type "{sampler_type}" (DATALOADER.*.SAMPLER). The built-in engine provides '
        f"{', '.join(AVAI_SAMPLERS)}; Dassl's RandomDomainSampler, SeqDomainSampler and "
        "RandomClassSampler need Dassl.pytorch."
    )
