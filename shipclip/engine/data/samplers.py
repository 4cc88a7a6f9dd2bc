"""Samplers with Dassl's names; the random one is reproducible per epoch.

``RandomSampler`` draws one base seed from the global torch RNG when it is built (so
``set_random_seed`` fixes it) and shuffles epoch ``e`` with a private generator seeded by
``base_seed + e``. The order of an epoch therefore depends only on (seed, epoch), not on how much
randomness was consumed before it: a run resumed after being killed at epoch ``e`` visits the
same batches as an uninterrupted one.

``DistributedShardSampler`` (from :mod:`shipclip.infra.sampling`, re-exported) cuts that global order
into per-process shares for multi-process training.
"""

import torch
from torch.utils.data import Sampler
from torch.utils.data import SequentialSampler as _TorchSequentialSampler

from shipclip.infra.sampling import DistributedShardSampler

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
