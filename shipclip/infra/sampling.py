"""Training samplers used under both engines: one shuffle per epoch, cut into per-process shares.

``EpochShuffleSampler`` gives the permutation a shuffling ``DataLoader`` (``shuffle=True``, no
generator) would draw at the start of the epoch, but computed from the global RNG state captured
by ``set_epoch``. Trainers reseed the global RNG from (seed, epoch) and call ``set_epoch`` before
anything else consumes it, so the order of an epoch is a pure function of (seed, epoch): the same
on every process of a torchrun launch (whose streams are decorrelated later for augmentation), the
same after a resume, and the same order the project's trainers drew before this sampler existed.

``DistributedShardSampler`` cuts that global order into per-process shares, so ``N`` processes with
``B`` items each visit exactly the batches of one process with batch ``N * B``.
"""
import math

import torch
from torch.utils.data import Sampler

__all__ = ["EpochShuffleSampler", "DistributedShardSampler"]


def _draw_int64(generator=None):
    return int(torch.empty((), dtype=torch.int64).random_(generator=generator).item())


class EpochShuffleSampler(Sampler):
    """A fresh permutation of ``range(n)`` per epoch, fixed by the global RNG state at ``set_epoch``.

    A shuffling ``DataLoader`` draws two numbers from the global RNG when an epoch starts: its
    workers' base seed, then the seed of its ``RandomSampler``'s permutation. This sampler replays
    exactly that from the state captured at ``set_epoch(e)`` (skip one draw, take the next as the
    permutation seed), so it reproduces ``DataLoader(..., shuffle=True)`` in a single process while
    no longer depending on what happens to the global RNG between ``set_epoch`` and iteration.
    Without a ``set_epoch`` call for the coming pass, it draws from the global RNG like torch does.
    """

    def __init__(self, n):
        self.n = int(n)
        self._state = None

    def set_epoch(self, epoch):
        """Capture the global RNG state for the coming pass (a second call for the same pass is ignored)."""
        if self._state is None or self._state[0] != int(epoch):
            self._state = (int(epoch), torch.get_rng_state(), False)

    def _seed(self):
        if self._state is None or self._state[2]:
            return _draw_int64()
        epoch, state, _ = self._state
        self._state = (epoch, state, True)  # used: a further pass without set_epoch draws afresh
        replay = torch.Generator()
        replay.set_state(state)
        _draw_int64(replay)  # the DataLoader's base-seed draw
        return _draw_int64(replay)

    def __iter__(self):
        generator = torch.Generator()
        generator.manual_seed(self._seed())
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self):
        return self.n


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
        """Set the epoch here and in the wrapped sampler at once (it may capture RNG state now)."""
        self.epoch = int(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)

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
